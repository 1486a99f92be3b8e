/* Types shared by the pieces of the default stage1's init. */
#ifndef S1_STAGE1_H
#define S1_STAGE1_H

#include "podmanifest.h"
#include "util.h"

#include <stdbool.h>
#include <sys/types.h>

#define S1_EXIT_FAILURE 254

struct init_opts {
    char *net;            /* --net value: "host", "none", or a network list */
    bool interactive;
    char *private_users;  /* "shift:count" */
    /* --private-users: host uid/gid of the apps' root, the size of the range, and the
     * user namespace (made by the outer init) that apps and hooks join before exec */
    unsigned long pu_shift, pu_count;
    int userns_fd;        /* -1 without --private-users */
    char *mds_token;
    char *local_config;
    char *hostname;
    char *dns_resolv;     /* --dns-conf-mode resolv=… (default|host|stage0|none) */
    char *dns_hosts;      /* hosts=… (default|host|stage0) */
    bool disable_caps;
    bool disable_paths;
    bool disable_seccomp;
    bool mutable;
    char *ipc;            /* auto|private|parent */
    char *uuid;
};

/* What the pod's PID 1 knows about one app once its rootfs is ready. */
struct app_runtime {
    struct app *app;
    int rootfd;           /* O_PATH fd of the app rootfs (in the pod mount ns) */
    uid_t uid;
    gid_t gid;
    char **envp;          /* final environment, NULL-terminated */
    char *cwd;
    pid_t pid;            /* running main process, 0 when not running */
    bool started, exited, stopped_by_pod;
    int status;           /* exit code, as written to rkt/status/<app> */
};

#endif
