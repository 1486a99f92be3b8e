/* The pod manifest as stage1 needs it: apps, volumes, isolators. */
#ifndef S1_PODMANIFEST_H
#define S1_PODMANIFEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct kv {
    char *name;
    char *value;
};

struct volume {
    char *name;
    char *kind;   /* "host" or "empty" */
    char *source; /* host only */
    bool read_only;
    bool recursive;
    bool recursive_set;
    mode_t mode;
    uid_t uid;
    gid_t gid;
};

struct app_mount {
    char *volume;
    char *path;
    bool read_only; /* volume or mount point read-only */
};

enum seccomp_mode { SECCOMP_NONE, SECCOMP_RETAIN, SECCOMP_REMOVE };

struct isolators {
    int64_t memory_limit;   /* bytes, -1 = none */
    int64_t cpu_millicores; /* -1 = none */
    int64_t cpu_shares;     /* -1 = none */
    bool has_oom_score_adj;
    int oom_score_adj;
    bool no_new_privs;
    bool has_caps_retain, has_caps_remove;
    uint64_t caps_retain, caps_remove;
    enum seccomp_mode seccomp;
    char **seccomp_set; /* NULL-terminated syscall / wildcard names */
    char *seccomp_errno;
};

struct app {
    char *name;
    char **exec;      /* NULL-terminated */
    char **pre_start; /* NULL-terminated or NULL */
    char **post_stop;
    char *user, *group;
    gid_t *supp_gids;
    size_t n_supp_gids;
    char *working_dir;
    struct kv *env;
    size_t n_env;
    struct app_mount *mounts;
    size_t n_mounts;
    bool read_only_rootfs;
    struct isolators iso;
};

struct pod_manifest {
    struct app *apps;
    size_t n_apps;
    struct volume *volumes;
    size_t n_volumes;
};

/* Parse <path>; on failure -1 with the reason naming the field. */
int pod_manifest_load(int dirfd, const char *path, struct pod_manifest *pm);
const struct volume *pod_find_volume(const struct pod_manifest *pm, const char *name);
/* Quantity like "512M", "1Gi", "500m", "1.5" -> value * scale (scale 1000 for
 * milli-units of cpu). */
int parse_quantity(const char *s, int64_t scale, int64_t *out);
int cap_from_name(const char *name);
const char *cap_name(int cap);
#define CAP_LAST_KNOWN 40

#endif
