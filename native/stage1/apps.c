/* App processes.  The pod's PID 1 prepares everything it can before forking
 * (identity, environment); the child only does what must happen in its own
 * process: cgroups, chroot, credentials, capabilities, seccomp, exec. */
#include "apps.h"
#include "network.h"
#include "mounts.h"
#include "security.h"
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static void env_set(char ***envp, size_t *n, const char *name, const char *value, bool replace)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < *n; i++) {
        if (strncmp((*envp)[i], name, nl) == 0 && (*envp)[i][nl] == '=') {
            if (replace) {
                free((*envp)[i]);
                (*envp)[i] = xasprintf("%s=%s", name, value);
            }
            return;
        }
    }
    *envp = realloc(*envp, (*n + 2) * sizeof(char *));
    (*envp)[(*n)++] = xasprintf("%s=%s", name, value);
    (*envp)[*n] = NULL;
}

int app_prepare(struct app_runtime *rt, const struct init_opts *o)
{
    struct app *a = rt->app;
    if (resolve_user(rt->rootfd, a->user, &rt->uid) < 0 ||
        resolve_group(rt->rootfd, a->group, &rt->gid) < 0)
        return s1_error_wrap("app %s", a->name);
    rt->cwd = xstrdup(a->working_dir && a->working_dir[0] ? a->working_dir : "/");
    if (o->pu_count) {
        /* the owner of a path is a host id: the app knows it shifted back into its range */
        if (a->user[0] == '/' && rt->uid >= o->pu_shift && rt->uid - o->pu_shift < o->pu_count)
            rt->uid -= (uid_t) o->pu_shift;
        if (a->group[0] == '/' && rt->gid >= o->pu_shift && rt->gid - o->pu_shift < o->pu_count)
            rt->gid -= (gid_t) o->pu_shift;
    }

    size_t n = 0;
    rt->envp = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < a->n_env; i++)
        env_set(&rt->envp, &n, a->env[i].name, a->env[i].value, true);
    env_set(&rt->envp, &n, "AC_APP_NAME", a->name, true);
    if (network_mds_url)
        env_set(&rt->envp, &n, "AC_METADATA_URL", network_mds_url, true);
    env_set(&rt->envp, &n, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", false);
    env_set(&rt->envp, &n, "SHELL", "/bin/sh", false);
    env_set(&rt->envp, &n, "USER", "root", false);
    env_set(&rt->envp, &n, "LOGNAME", "root", false);
    env_set(&rt->envp, &n, "HOME", "/root", false);

    return 0;
}

int app_record(const struct app_runtime *rt, int s1root)
{
    const struct app *a = rt->app;
    size_t len = 0, n = 0;
    for (; rt->envp[n]; n++)
        len += strlen(rt->envp[n]) + 1;
    char *buf = xmalloc(len + 1), *p = buf;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\n", rt->envp[i]);
    char *path = xasprintf("rkt/env/%s", a->name);
    int r = write_file_at(s1root, path, buf, len, 0640);
    free(path);
    free(buf);
    if (r < 0)
        return s1_error_wrap("app %s", a->name);

    char gids[1024] = "";
    for (size_t i = 0; i < a->n_supp_gids; i++)
        snprintf(gids + strlen(gids), sizeof gids - strlen(gids), "%s%u", i ? "," : "",
                 (unsigned) a->supp_gids[i]);
    char *info = xasprintf("uid=%u\ngid=%u\ngids=%s\ncwd=%s\n", (unsigned) rt->uid,
                           (unsigned) rt->gid, gids, rt->cwd);
    path = xasprintf("rkt/enter/%s", a->name);
    r = write_file_at(s1root, path, info, strlen(info), 0640);
    free(path);
    free(info);
    return r < 0 ? s1_error_wrap("app %s", a->name) : 0;
}

int app_write_status(const char *app, int status)
{
    char v[16];
    int n = snprintf(v, sizeof v, "%d", status);
    char *path = xasprintf("/rkt/status/%s", app);
    int r = write_file_atomic_at(AT_FDCWD, path, v, (size_t) n, 0640);
    free(path);
    return r;
}

int status_code(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return S1_EXIT_FAILURE;
}

/* The executable for argv[0], searched in the app's PATH when it has no '/'. */
static char *find_exec(const char *name, char **envp, const char *cwd)
{
    if (strchr(name, '/')) {
        if (name[0] != '/')
            return xasprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, name);
        return xstrdup(name);
    }
    const char *path = env_get(envp, "PATH");
    char *copy = xstrdup(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *full = xasprintf("%s/%s", d, name);
        if (access(full, X_OK) == 0) {
            free(copy);
            return full;
        }
        free(full);
    }
    free(copy);
    return xasprintf("/%s", name);
}

static void child_fail(const char *app) __attribute__((noreturn));
static void child_fail(const char *app)
{
    fprintf(stderr, "stage1: app %s: %s\n", app, s1_last_error());
    _exit(S1_EXIT_FAILURE);
}

static void child_setup_io(const struct app *a, const struct spawn_io *io)
{
    setsid();
    if (io->console >= 0) {
        if (ioctl(io->console, TIOCSCTTY, 0) < 0)
            s1_warn("app %s: cannot make the console its controlling terminal", a->name);
        dup2(io->console, 0);
        dup2(io->console, 1);
        dup2(io->console, 2);
    } else if (io->stdin_fd >= 0) {
        dup2(io->stdin_fd, 0);
    }
}

static void child_join_cgroups(const struct app *a, const struct cgroups *cg, size_t idx, bool in_v2)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    if (cgroups_join_app(cg, idx, in_v2) < 0)
        child_fail(a->name);
    if (unshare(CLONE_NEWCGROUP) < 0) {
        s1_error(errno, "unshare cgroup namespace");
        child_fail(a->name);
    }
}

/* Everything after the cgroups: root, identity, privileges, exec. */
static void child_exec(const struct app_runtime *rt, const struct init_opts *o, char **argv,
                       bool hook, const struct sock_fprog *prebuilt)
{
    const struct app *a = rt->app;
    if (fchdir(rt->rootfd) < 0 || chroot(".") < 0) {
        s1_error(errno, "chroot into /opt/stage2/%s/rootfs", a->name);
        child_fail(a->name);
    }
    if (a->iso.has_oom_score_adj) {
        char v[16];
        int n = snprintf(v, sizeof v, "%d", a->iso.oom_score_adj);
        if (write_file_at(AT_FDCWD, "/proc/self/oom_score_adj", v, (size_t) n, 0644) < 0)
            child_fail(a->name);
    }
    if (chdir(rt->cwd) < 0) {
        s1_error(errno, "working directory %s", rt->cwd);
        child_fail(a->name);
    }
    char *exe = find_exec(argv[0], rt->envp, rt->cwd);
    if (access(exe, F_OK) < 0) {
        fprintf(stderr, "Error: Unable to open \"%s\": No such file or directory\n", exe);
        _exit(S1_EXIT_FAILURE);
    }

    uid_t uid = hook ? 0 : rt->uid;
    gid_t gid = hook ? 0 : rt->gid;
    /* --private-users: from here on ids are those of the pod's user namespace (root is
     * the shift on the host) and capabilities only count inside it */
    if (o->userns_fd >= 0 && setns(o->userns_fd, CLONE_NEWUSER) < 0) {
        s1_error(errno, "join the pod's user namespace");
        child_fail(a->name);
    }
    uint64_t caps = caps_for_app(&a->iso, o->disable_caps);
    struct sock_fprog prog;
    if (prebuilt)
        prog = *prebuilt;
    else if (seccomp_build(&a->iso, o->disable_seccomp, &prog) < 0)
        child_fail(a->name);
    bool want_seccomp = prog.len > 0;
    bool nnp = a->iso.no_new_privs || (uid != 0 && want_seccomp);
    if (caps_drop_bounding(caps) < 0 ||
        switch_user(uid, gid, hook ? NULL : a->supp_gids, hook ? 0 : a->n_supp_gids) < 0)
        child_fail(a->name);
    uint64_t final = uid == 0 ? caps : 0;
    if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        s1_error(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
        child_fail(a->name);
    }
    if (want_seccomp) {
        if (nnp) {
            if (caps_set(final, final) < 0 || seccomp_install(&prog) < 0)
                child_fail(a->name);
        } else {
            /* loading a filter without no_new_privs needs CAP_SYS_ADMIN */
            if (caps_set(final | (1ULL << CAP_SYS_ADMIN), final) < 0 ||
                seccomp_install(&prog) < 0 || caps_set(final, final) < 0)
                child_fail(a->name);
        }
    } else if (caps_set(final, final) < 0) {
        child_fail(a->name);
    }
    execve(exe, argv, rt->envp);
    if (errno == ENOENT)
        fprintf(stderr, "Error: Unable to open \"%s\": No such file or directory\n", exe);
    else
        fprintf(stderr, "stage1: app %s: exec %s: %s\n", a->name, exe, strerror(errno));
    _exit(S1_EXIT_FAILURE);
}

pid_t app_spawn(const struct app_runtime *rt, const struct init_opts *o, const struct cgroups *cg,
                size_t idx, char **argv, bool hook, const struct spawn_io *io)
{
    bool in_v2;
    pid_t pid = cgroups_clone_into(0, cg->v2_app_fds[idx], &in_v2);
    if (pid < 0)
        return s1_error(errno, "app %s: fork", rt->app->name);
    if (pid == 0) {
        child_join_cgroups(rt->app, cg, idx, in_v2);
        child_setup_io(rt->app, io);
        child_exec(rt, o, argv, hook, NULL);
    }
    return pid;
}

/* The release message: "uid gid\n" cwd NUL env… NUL NUL. */
static char *read_release(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t) r;
    }
    *len = n;
    return buf;
}

pid_t app_fork_early(struct app_runtime *rt, const struct init_opts *o, const struct cgroups *cg,
                     size_t idx, const struct spawn_io *io, int *go_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return s1_error(errno, "app %s: pipe", rt->app->name);
    bool in_v2;
    pid_t pid = cgroups_clone_into(0, cg->v2_app_fds[idx], &in_v2);
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return s1_error(errno, "app %s: fork", rt->app->name);
    }
    if (pid > 0) {
        close(p[0]);
        *go_fd = p[1];
        return pid;
    }
    close(p[1]);
    child_join_cgroups(rt->app, cg, idx, in_v2);
    /* generate the filter while the pod's PID 1 still assembles the rootfs */
    struct sock_fprog prog;
    if (seccomp_build(&rt->app->iso, o->disable_seccomp, &prog) < 0)
        child_fail(rt->app->name);
    size_t len;
    char *msg = read_release(p[0], &len);
    close(p[0]);
    if (len == 0)
        _exit(0); /* the pod gave up before starting us */
    unsigned uid, gid;
    if (sscanf(msg, "%u %u", &uid, &gid) != 2)
        _exit(S1_EXIT_FAILURE);
    rt->uid = uid;
    rt->gid = gid;
    char *p2 = strchr(msg, '\n') + 1, *end = msg + len;
    rt->cwd = p2;
    p2 += strlen(p2) + 1;
    size_t n = 0;
    for (char *q = p2; q < end && *q; q += strlen(q) + 1)
        n++;
    rt->envp = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        rt->envp[i] = p2;
        p2 += strlen(p2) + 1;
    }
    char *root = xasprintf("/opt/stage2/%s/rootfs", rt->app->name);
    rt->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (rt->rootfd < 0) {
        s1_error(errno, "open %s", root);
        child_fail(rt->app->name);
    }
    child_setup_io(rt->app, io);
    child_exec(rt, o, rt->app->exec, false, &prog);
    _exit(S1_EXIT_FAILURE);
}

int app_release(const struct app_runtime *rt, int go_fd)
{
    size_t len = 64 + strlen(rt->cwd) + 2;
    for (char **e = rt->envp; *e; e++)
        len += strlen(*e) + 1;
    char *buf = xmalloc(len), *p = buf;
    p += sprintf(p, "%u %u\n", (unsigned) rt->uid, (unsigned) rt->gid);
    p = stpcpy(p, rt->cwd) + 1;
    for (char **e = rt->envp; *e; e++)
        p = stpcpy(p, *e) + 1;
    *p++ = 0;
    int r = write_all(go_fd, buf, (size_t) (p - buf));
    free(buf);
    close(go_fd);
    return r < 0 ? s1_error(errno, "app %s: release", rt->app->name) : 0;
}
