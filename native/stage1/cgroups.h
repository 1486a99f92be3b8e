/* Pod and app cgroups on every mounted hierarchy (v1 controllers and v2). */
#ifndef S1_CGROUPS_H
#define S1_CGROUPS_H

#include "podmanifest.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CG_MAX_HIER 16
#define CG_RECORD_FILE "cgroups"

struct cg_hier {
    char *mountpoint; /* e.g. /sys/fs/cgroup/memory */
    bool v2;
    bool memory, cpu, devices;
    char *pod_path;   /* absolute directory of the pod cgroup */
    char *pod_rel;    /* the same, relative to the hierarchy root */
    int root_fd;      /* O_PATH fd of the hierarchy root (usable from any namespace) */
};

struct cgroups {
    size_t n;
    struct cg_hier h[CG_MAX_HIER];
    char *subcgroup; /* pod cgroup relative to the hierarchy root */
    char **app_names;
    /* The v2 cgroups opened for clone3(CLONE_INTO_CGROUP), -1 without a v2 hierarchy:
     * a process born in its cgroup skips the migration and its RCU grace period. */
    int v2_init_fd;  /* <pod>/init.scope */
    int *v2_app_fds; /* <pod>/system.slice/<app>.service, one per app */
};

/* Outer side, before the pod's namespaces exist: find the hierarchies and
 * decide the paths (cheap; nothing is created yet). */
int cgroups_plan(struct cgroups *cg, const char *uuid, const struct pod_manifest *pm);
/* Outer side, before the pod's PID 1 exists: record the paths in <pod>/cgroups
 * for gc, create the pod cgroup and one sub-cgroup per app on each hierarchy,
 * apply the resource isolators and open the v2 fds. */
int cgroups_create(struct cgroups *cg, const struct pod_manifest *pm, int podfd);
/* clone3 with `flags` (namespaces), the child born in the v2 cgroup `cgfd` when
 * there is one and the kernel can (5.7+); *in_v2 tells whether it was. */
pid_t cgroups_clone_into(uint64_t flags, int cgfd, bool *in_v2);
/* In the pod's PID 1: join the pod cgroup (v1) and init.scope (v2, unless born there). */
int cgroups_join_pod(const struct cgroups *cg, bool in_v2);
/* In an app's process: join its cgroups (v2 unless born there). */
int cgroups_join_app(const struct cgroups *cg, size_t app, bool in_v2);
/* Remove the pod cgroups of a plan (after the pod is gone). */
int cgroups_remove(const struct cgroups *cg);
/* Kill what is left in the recorded pod cgroups and remove them (gc). */
int cgroups_remove_recorded(int podfd);

#endif
