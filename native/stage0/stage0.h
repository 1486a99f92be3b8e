/* The native stage0 of `rkt run`: the common case without the Python interpreter.
 *
 * `rkt` is this program.  It recognises the command lines that scripts, schedulers and
 * benchmarks repeat:
 *
 *     rkt [--dir=D] [--local-config=D] [--system-config=D] [--insecure-options=L]
 *         run --net=host|none [--hostname=H] [--uuid-file-save=F] [--set-env=K=V]...
 *         [--insecure-options=L] NAME[:VERSION] [--exec=CMD] [--user=U] [--group=G]
 *         [--name=N] [--working-dir=D] [--environment=K=V]... [-- ARGS...]
 *     rkt [--dir=D] ... run-prepared --net=host|none [--hostname=H] UUID
 *
 * with the image and the default stage1 already in the store and rendered (for
 * run-prepared: a pod `rkt prepare` made with overlays), and no config files that could
 * change the outcome.  For those it does what the Python stage0 does, file for file
 * (tests/test_native_stage0.py compares the two pods).  Everything else -- every other
 * command, flag, image source, a manifest it does not fully understand, a miss in the
 * store -- it hands, untouched, to the Python rkt (RKT_PYTHON_LAUNCHER), which has the
 * whole of rkt's behaviour and error messages.
 *
 * The hand-over is only possible before the first write.  So the work is in two phases:
 * "plan" reads flags, config dirs, the index and manifests and may say BAIL at any point;
 * "launch" creates (or, for run-prepared, moves) the pod and execs the stage1, and a
 * failure there is reported like the Python stage0 reports it (one line, exit 254),
 * leaving a pod for gc.
 */
#ifndef S0_STAGE0_H
#define S0_STAGE0_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define BAIL 1 /* plan functions: not a case for the native path; nothing was written */

#define KEY_LEN 71 /* "sha512-" + 64 hex */
#define TREE_ID_LEN 76 /* "deps-sha512-" + 64 hex */

/* --- a growable byte buffer (util.c) --- */
struct buf {
    char *p;
    size_t len, cap;
};
void buf_add(struct buf *b, const char *s, size_t n);
void buf_adds(struct buf *b, const char *s);
/* A JSON string literal as Go's encoding/json writes it (HTML-safe escapes). */
void buf_json_string(struct buf *b, const char *s);

void *xmalloc(size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int read_file(const char *path, char **out, size_t *len);
/* O_CREAT|O_TRUNC|O_NOFOLLOW write of a whole file (mode subject to the umask). */
int write_file(const char *path, const char *data, size_t len, mode_t mode);
/* Print "run: <what>: <strerror(errnum)>" and exit 254, like the Python stage0's errors. */
void fail(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* --- the command line (cmdline.c) --- */
enum command { RUN, RUN_PREPARED };

struct request {
    enum command command;
    char *data_dir;      /* absolute, symlinks resolved when it exists */
    char *local_config;  /* absolute */
    char *system_config; /* absolute */
    bool insecure_capabilities, insecure_paths, insecure_seccomp;
    const char *net;            /* "host" or "none" */
    const char *hostname;       /* --hostname, or NULL */
    const char *uuid_file_save; /* --uuid-file-save, or NULL */
    char *image_name;           /* the ACIdentifier */
    char *image_version;        /* NULL: no version asked for */
    /* the per-app flags that may follow the image, NULL when not given */
    const char *exec, *user, *group, *name, *working_dir;
    /* --set-env (before the image) and --environment (after it): "KEY=VALUE" each */
    const char **set_env, **environment;
    size_t n_set_env, n_environment;
    char **args; /* after "--" (NULL-terminated), or NULL without "--" */
    const char *uuid; /* run-prepared: the pod */
};
int parse_request(int argc, char **argv, struct request *r);

/* --- image manifests (manifest.c) --- */
struct image {
    char key[KEY_LEN + 1];
    char tree_id[TREE_ID_LEN + 1];
    char *raw; /* the stored manifest bytes, copied into the pod unchanged */
    size_t raw_len;
    json_t *doc;
    const char *name;
    json_t *labels; /* array of {"name","value"}, or NULL */
    json_t *app;    /* object, or NULL */
};
int image_load(struct image *im, const char *data_dir, const char *key);
/* The value of `label` ("version", "os", ...), or NULL. */
const char *image_label(const struct image *im, const char *label);
int image_check_runnable(const struct image *im);
/* rkt's default app name: the last path segment of the image name, sanitized. */
int app_name_for(const struct image *im, char **out);
/* The stage1's `run` entrypoint and interface version (annotations). */
int stage1_entrypoint(const struct image *s1, const char **run, int *interface_version);
/* The pod manifest rkt writes for one app from `im` with the per-app flags applied. */
int pod_manifest(const struct request *r, const struct image *im, const char *app_name,
                 struct buf *out);
/* `manifest_labels`-style check used by the name lookup: 0 and the label set, or BAIL. */
int manifest_read_labels(const char *raw, size_t len, json_t **doc, json_t **labels);

/* --- the image index (store.c) --- */
struct store {
    int cas_fd; /* shared lock on cas/, released just before the exec */
    sqlite3 *db;
    char *db_path;
    const char *data_dir;
};
int store_open(struct store *s, const char *data_dir);
int store_find(struct store *s, const char *name, const char *version, char key[KEY_LEN + 1]);
int store_touch(struct store *s, const char *key);
void store_close_for_exec(struct store *s);
void store_close(struct store *s);
char *manifest_path(const char *data_dir, const char *key);
void tree_id_of(const char *key, char out[TREE_ID_LEN + 1]);
bool tree_rendered(const char *data_dir, const char *tree_id);

/* --- the pod (pod.c, prepared.c) --- */
struct pod_app {
    const char *name, *tree_id;
    const char *manifest; /* appsinfo/<name>/manifest, copied beside the app's rootfs */
    size_t manifest_len;
};

/* What starting a pod needs, however it was made. */
struct start {
    const struct request *req;
    struct store *store;
    const char *stage1_tree_id;
    const char *run_entrypoint;
    int interface_version;
    struct pod_app *apps;
    size_t n_apps;
};

/* `rkt run`: the pod made from these images. */
struct plan {
    struct start start;
    struct image *stage1, *app;
    struct pod_app pod_app;
    struct buf pod_manifest;
};
void launch(struct plan *p) __attribute__((noreturn));
/* Mount the overlays of a pod in run/ (locked: lock_fd) and exec its stage1. */
void start_pod(const struct start *s, const char *pod, const char *uuid, int lock_fd)
    __attribute__((noreturn));
int tree_id_ok(const char *s);
bool ac_name(const char *s);

/* `rkt run-prepared`: plan (BAIL, nothing changed) and launch (noreturn). */
struct prepared {
    struct start start;
    int fd;
    char *path;
};
int plan_prepared(struct request *r, struct store *s, struct prepared *p);
void launch_prepared(struct prepared *p) __attribute__((noreturn));

#endif
