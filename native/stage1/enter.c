/* The enter entrypoint: run a command inside a running app.
 *   enter --pid=<pid> --appname=<app> -- CMD [ARG…]     (cwd = the pod dir)
 * Joins the namespaces of <pid> (the pod's PID 1) through a pidfd, chroots
 * into the app rootfs, takes the app's environment (rkt/env/<app>), user,
 * groups and working directory (rkt/enter/<app>) and execs CMD in a child so
 * that it lands in the pod's pid namespace.  Exits with CMD's status. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL 254

struct enter_opts {
    pid_t pid;
    char *app;
};

static const struct s1_flag flags[] = {{"pid", true}, {"appname", true}, {"debug", false}, {NULL, false}};

static int on_flag(void *ctx, const char *name, const char *value)
{
    struct enter_opts *o = ctx;
    if (strcmp(name, "pid") == 0)
        o->pid = (pid_t) atoi(value);
    else if (strcmp(name, "appname") == 0)
        o->app = xstrdup(value);
    else if (strcmp(name, "debug") == 0)
        s1_debug = true;
    return 0;
}

static char **load_env(const char *path)
{
    char *data;
    if (read_file_at(AT_FDCWD, path, &data, NULL) < 0)
        return NULL;
    size_t n = 0, cap = 16;
    char **env = xcalloc(cap, sizeof(char *));
    char *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!strchr(l, '='))
            continue;
        if (n + 2 > cap)
            env = realloc(env, (cap *= 2) * sizeof(char *));
        env[n++] = l;
    }
    env[n] = NULL;
    return env;
}

static const char *field(char *info, const char *key)
{
    size_t k = strlen(key);
    for (char *l = info; l && *l;) {
        if (strncmp(l, key, k) == 0 && l[k] == '=')
            return l + k + 1;
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return NULL;
}

static char *field_dup(char *info, const char *key)
{
    const char *v = field(info, key);
    if (!v)
        return NULL;
    size_t n = strcspn(v, "\n");
    char *s = xmalloc(n + 1);
    memcpy(s, v, n);
    s[n] = 0;
    return s;
}

int main(int argc, char **argv)
{
    struct enter_opts o = {0};
    int first = parse_go_flags(argc, argv, flags, on_flag, &o);
    if (first < 0)
        s1_die(FAIL);
    if (o.pid <= 0 || !o.app || strchr(o.app, '/')) {
        s1_error(0, "usage: enter --pid=<pid> --appname=<app> -- CMD [ARG…]");
        s1_die(FAIL);
    }
    if (first >= argc) {
        s1_error(0, "enter: no command given");
        s1_die(FAIL);
    }
#ifdef S1_FLY
    char cwdbuf[4096];
    if (!getcwd(cwdbuf, sizeof cwdbuf)) {
        s1_error(errno, "getcwd");
        s1_die(FAIL);
    }
    char *root = xasprintf("%s/stage1/rootfs/opt/stage2/%s/rootfs", cwdbuf, o.app);
    char *envpath = xasprintf("%s/stage1/rootfs/rkt/env/%s", cwdbuf, o.app);
    char *infopath = xasprintf("%s/stage1/rootfs/rkt/enter/%s", cwdbuf, o.app);
    int nsflags = CLONE_NEWNS;
#else
    char *root = xasprintf("/opt/stage2/%s/rootfs", o.app);
    char *envpath = xasprintf("/rkt/env/%s", o.app);
    char *infopath = xasprintf("/rkt/enter/%s", o.app);
    int nsflags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP;
#endif
    int pidfd = (int) syscall(SYS_pidfd_open, o.pid, 0);
    if (pidfd < 0) {
        s1_error(errno, "open pid %d", (int) o.pid);
        s1_die(FAIL);
    }
    if (setns(pidfd, nsflags) < 0) {
        s1_error(errno, "join the namespaces of pid %d", (int) o.pid);
        s1_die(FAIL);
    }
    close(pidfd);
    int userns = -1;
#ifndef S1_FLY
    /* --private-users: the pod's user namespace, bound there by the pod's PID 1 */
    userns = open("/rkt/userns", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (userns < 0 && errno != ENOENT) {
        s1_error(errno, "open /rkt/userns");
        s1_die(FAIL);
    }
#endif
    char **env = load_env(envpath);
    if (!env) {
        s1_error_wrap("app %s", o.app);
        s1_die(FAIL);
    }
    char *info = NULL;
    if (read_file_at(AT_FDCWD, infopath, &info, NULL) < 0)
        info = xstrdup("");
    char *uid_s = field_dup(info, "uid"), *gid_s = field_dup(info, "gid");
    char *gids_s = field_dup(info, "gids"), *cwd = field_dup(info, "cwd");

    pid_t child = fork();
    if (child < 0) {
        s1_error(errno, "fork");
        s1_die(FAIL);
    }
    if (child == 0) {
        if (chroot(root) < 0) {
            s1_error(errno, "chroot %s", root);
            s1_die(FAIL);
        }
        if (chdir(cwd && *cwd ? cwd : "/") < 0 && chdir("/") < 0) {
            s1_error(errno, "chdir");
            s1_die(FAIL);
        }
        if (userns >= 0 && setns(userns, CLONE_NEWUSER) < 0) {
            s1_error(errno, "join the pod's user namespace");
            s1_die(FAIL);
        }
        gid_t groups[64];
        size_t ng = 0;
        for (char *p = gids_s; p && *p && ng < 64;) {
            groups[ng++] = (gid_t) strtoul(p, &p, 10);
            if (*p == ',')
                p++;
        }
        gid_t gid = gid_s ? (gid_t) strtoul(gid_s, NULL, 10) : 0;
        uid_t uid = uid_s ? (uid_t) strtoul(uid_s, NULL, 10) : 0;
        if (setgroups(ng, groups) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
            s1_error(errno, "switch to uid %u gid %u", (unsigned) uid, (unsigned) gid);
            s1_die(FAIL);
        }
        /* execvpe searches the app's PATH */
        for (char **e = env; *e; e++)
            if (strncmp(*e, "PATH=", 5) == 0)
                setenv("PATH", *e + 5, 1);
        execvpe(argv[first], argv + first, env);
        s1_error(errno, "exec %s", argv[first]);
        s1_die(FAIL);
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int ws;
    while (waitpid(child, &ws, 0) < 0)
        if (errno != EINTR)
            return FAIL;
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    return 128 + WTERMSIG(ws);
}
