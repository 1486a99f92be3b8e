/* Running apps inside the pod: environment, identity, processes, status. */
#ifndef S1_APPS_H
#define S1_APPS_H
#include "cgroups.h"
#include "stage1.h"

/* Resolve user/group, working directory and the final environment. */
int app_prepare(struct app_runtime *rt, const struct init_opts *o);
/* Write rkt/env/<app> and rkt/enter/<app> (read by enter) below s1root. */
int app_record(const struct app_runtime *rt, int s1root);

struct spawn_io {
    int stdin_fd;  /* used when no console */
    int console;   /* pty slave, -1 if none */
};

/* Fork a process in the app's context (cgroups, root, cwd, user, caps,
 * seccomp) executing argv.  Hooks run as root.  Returns the pid or -1. */
pid_t app_spawn(const struct app_runtime *rt, const struct init_opts *o, const struct cgroups *cg,
                size_t idx, char **argv, bool hook, const struct spawn_io *io);
/* Fork an app's main process ahead of time, born in (or joining) its cgroups: it
 * builds its seccomp filter while the pod's PID 1 assembles the rootfs, then
 * waits; app_release() hands it its identity and environment and lets it exec.
 * Closing go_fd instead makes it exit(0). */
pid_t app_fork_early(struct app_runtime *rt, const struct init_opts *o, const struct cgroups *cg,
                     size_t idx, const struct spawn_io *io, int *go_fd);
int app_release(const struct app_runtime *rt, int go_fd);
int app_write_status(const char *app, int status);
/* exit code for a wait status: code, or 128+signal */
int status_code(int wstatus);
#endif
