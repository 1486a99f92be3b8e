/* The default stage1's run entrypoint (/init).
 *
 * stage0 execs us in the pod directory with the pod lock in RKT_LOCK_FD.  We
 * (the "outer" init, whose PID is written to <pod>/ppid) create the cgroups,
 * then clone the pod's PID 1 into new namespaces.  PID 1 pivots into the
 * stage1 rootfs, assembles each app's rootfs, runs the apps and reaps them;
 * the outer init relays signals (and the console with --interactive) and
 * exits with the pod's status. */
#include "apps.h"
#include "cgroups.h"
#include "console.h"
#include "mounts.h"
#include "network.h"
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_TIMEOUT_MS 10000

static int on_flag(void *ctx, const char *name, const char *value)
{
    struct init_opts *o = ctx;
    if (strcmp(name, "debug") == 0)
        s1_debug = true;
    else if (strcmp(name, "net") == 0)
        o->net = xstrdup(value);
    else if (strcmp(name, "interactive") == 0)
        o->interactive = true;
    else if (strcmp(name, "private-users") == 0)
        o->private_users = xstrdup(value);
    else if (strcmp(name, "mds-token") == 0)
        o->mds_token = xstrdup(value);
    else if (strcmp(name, "local-config") == 0)
        o->local_config = xstrdup(value);
    else if (strcmp(name, "hostname") == 0)
        o->hostname = xstrdup(value);
    else if (strcmp(name, "dns-conf-mode") == 0) {
        char *copy = xstrdup(value), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (strncmp(t, "resolv=", 7) == 0)
                o->dns_resolv = xstrdup(t + 7);
            else if (strncmp(t, "hosts=", 6) == 0)
                o->dns_hosts = xstrdup(t + 6);
            else
                return s1_error(0, "invalid --dns-conf-mode entry \"%s\"", t);
        }
        free(copy);
    } else if (strcmp(name, "disable-capabilities-restriction") == 0)
        o->disable_caps = true;
    else if (strcmp(name, "disable-paths") == 0)
        o->disable_paths = true;
    else if (strcmp(name, "disable-seccomp") == 0)
        o->disable_seccomp = true;
    else if (strcmp(name, "mutable") == 0)
        o->mutable = true;
    else if (strcmp(name, "ipc") == 0)
        o->ipc = xstrdup(value);
    return 0;
}

/* True when fd is our controlling terminal and another process group is in its
 * foreground: reading it or changing its modes would stop us. */
static bool tty_in_background(int fd)
{
    pid_t fg = tcgetpgrp(fd);
    return fg > 0 && fg != getpgrp();
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- the pod's PID 1 ---------------------------------------------------- */

struct pod {
    struct init_opts *o;
    struct pod_manifest *pm;
    struct cgroups *cg;
    struct app_runtime *rt;
    struct spawn_io io;
    int *go_fds;
    bool in_v2; /* PID 1 was born in its v2 cgroup */
    const char *console_path;
    bool pass_stdin; /* --interactive without a usable terminal: the app reads our stdin */
    bool stopping;
    long long deadline;
    int status;
    bool failed;
};

static void noop_handler(int sig) { (void) sig; }

static int wait_for(pid_t pid)
{
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return S1_EXIT_FAILURE;
    return status_code(ws);
}

static int run_hook(struct pod *p, size_t i, char **argv, const char *what)
{
    pid_t pid = app_spawn(&p->rt[i], p->o, p->cg, i, argv, true, &p->io);
    if (pid < 0) {
        fprintf(stderr, "stage1: %s\n", s1_last_error());
        return S1_EXIT_FAILURE;
    }
    int code = wait_for(pid);
    if (code != 0)
        fprintf(stderr, "stage1: app %s: %s handler exited with status %d\n", p->rt[i].app->name,
                what, code);
    return code;
}

static void begin_stop(struct pod *p)
{
    if (p->stopping)
        return;
    p->stopping = true;
    p->deadline = now_ms() + STOP_TIMEOUT_MS;
    for (size_t i = 0; i < p->pm->n_apps; i++)
        if (p->rt[i].pid > 0) {
            p->rt[i].stopped_by_pod = true;
            kill(p->rt[i].pid, SIGTERM);
        }
}

static void app_exited(struct pod *p, size_t i, int code)
{
    struct app_runtime *rt = &p->rt[i];
    rt->pid = 0;
    rt->exited = true;
    rt->status = rt->stopped_by_pod ? 0 : code;
    if (code != 0 && !rt->stopped_by_pod && !p->failed) {
        p->failed = true;
        p->status = code;
        begin_stop(p);
    }
    if (rt->app->post_stop)
        run_hook(p, i, rt->app->post_stop, "post-stop");
    if (app_write_status(rt->app->name, rt->status) < 0)
        fprintf(stderr, "stage1: %s\n", s1_last_error());
}

static size_t running(struct pod *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->pm->n_apps; i++)
        n += p->rt[i].pid > 0;
    return n;
}

static void reap(struct pod *p)
{
    int ws;
    pid_t pid;
    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0)
        for (size_t i = 0; i < p->pm->n_apps; i++)
            if (p->rt[i].pid == pid) {
                if (p->rt[i].started)
                    app_exited(p, i, status_code(ws));
                else
                    p->rt[i].pid = 0; /* never released */
            }
}

static void start_apps(struct pod *p)
{
    for (size_t i = 0; i < p->pm->n_apps; i++) {
        struct app_runtime *rt = &p->rt[i];
        if (p->stopping)
            break;
        if (rt->app->pre_start) {
            int code = run_hook(p, i, rt->app->pre_start, "pre-start");
            if (code != 0) {
                rt->exited = true;
                rt->status = code;
                app_write_status(rt->app->name, code);
                if (!p->failed) {
                    p->failed = true;
                    p->status = code;
                }
                begin_stop(p);
                break;
            }
        }
        rt->started = true;
        if (app_release(rt, p->go_fds[i]) < 0) {
            fprintf(stderr, "stage1: %s\n", s1_last_error());
            kill(rt->pid, SIGKILL);
            waitpid(rt->pid, NULL, 0);
            app_exited(p, i, S1_EXIT_FAILURE);
        }
        p->go_fds[i] = -1;
    }
    /* apps not started (the pod is stopping) exit when their go pipe closes */
    for (size_t i = 0; i < p->pm->n_apps; i++)
        if (p->go_fds[i] >= 0) {
            close(p->go_fds[i]);
            p->go_fds[i] = -1;
        }
}

static void supervise(struct pod *p, const sigset_t *set)
{
    for (;;) {
        reap(p);
        if (running(p) == 0)
            break;
        struct timespec ts, *tsp = NULL;
        if (p->stopping) {
            long long left = p->deadline - now_ms();
            if (left <= 0) {
                kill(-1, SIGKILL);
                left = 100;
            }
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (left % 1000) * 1000000;
            tsp = &ts;
        }
        siginfo_t info;
        int sig = sigtimedwait(set, &info, tsp);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            begin_stop(p);
    }
    /* nothing of the pod may outlive it */
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
}

/* Bind the pod's user namespace on /rkt/userns (in the stage1 root): enter joins it, so a
 * command entered into an app runs with the app's shifted ids, never as host root. */
static int publish_userns(int userns_fd)
{
    int tree = open_tree(userns_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0)
        return s1_error(errno, "bind the pod's user namespace");
    int target = open("/rkt/userns", O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (target < 0)
        return s1_error(errno, "create /rkt/userns");
    int r = mount_attach(tree, target, "/rkt/userns");
    close(target);
    close(tree);
    return r;
}

/* rkt/supervisor-status -> ready (a symlink, as rkt's systemd-based stage1 makes it),
 * created under a temporary name and renamed so readers never see a partial state. */
static int write_supervisor_ready(void)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/rkt/supervisor-status.tmp%d", (int) getpid());
    unlink(tmp);
    if (symlink("ready", tmp) < 0)
        return s1_error(errno, "create %s", tmp);
    if (rename(tmp, "/rkt/supervisor-status") < 0) {
        int e = errno;
        unlink(tmp);
        return s1_error(e, "rename /rkt/supervisor-status");
    }
    return 0;
}

static void pod_main(struct pod *p, int podfd, int ready_fd, const sigset_t *set) __attribute__((noreturn));
static void pod_main(struct pod *p, int podfd, int ready_fd, const sigset_t *set)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction sa = {.sa_handler = noop_handler};
    /* PID 1 only receives signals it handles; they stay blocked for sigtimedwait */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    umask(0);

    struct pod_trees trees;
    int devnull;
    if (cgroups_join_pod(p->cg, p->in_v2) < 0)
        goto fail;
    /* fds opened before clone point into the parent's mount namespace, where
     * open_tree/move_mount refuse to work: reopen the pod dir (cwd) here */
    close(podfd);
    podfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (podfd < 0) {
        s1_error(errno, "open the pod directory");
        goto fail;
    }
    if (p->console_path) {
        int c = open(p->console_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (c < 0) {
            s1_error(errno, "open %s", p->console_path);
            goto fail;
        }
        close(p->io.console);
        p->io.console = c;
    }
    if (sethostname(p->o->hostname, strlen(p->o->hostname)) < 0) {
        s1_error(errno, "set hostname %s", p->o->hostname);
        goto fail;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
        s1_error(errno, "make / a slave mount");
        goto fail;
    }
    if (network_setup_in_pod(p->o) < 0)
        goto fail;
    if (open_volume_trees(podfd, p->pm, p->o, true, &trees) < 0)
        goto fail;
    trees.console = -1;
    if (p->io.console >= 0) {
        /* clone it now: after pivot_root the host devpts is no longer reachable */
        trees.console = open_tree(p->io.console, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (trees.console < 0) {
            s1_error(errno, "bind the console");
            goto fail;
        }
    }
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        s1_error(errno, "open /dev/null");
        goto fail;
    }
    p->io.stdin_fd = devnull;
    if (p->pass_stdin) {
        int in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        if (in >= 0)
            p->io.stdin_fd = in;
    }
    signal(SIGPIPE, SIG_IGN);
    /* fork the apps now: their cgroup migration overlaps the rootfs setup */
    p->go_fds = xcalloc(p->pm->n_apps, sizeof(int));
    for (size_t i = 0; i < p->pm->n_apps; i++) {
        p->rt[i].app = &p->pm->apps[i];
        p->rt[i].pid = app_fork_early(&p->rt[i], p->o, p->cg, i, &p->io, &p->go_fds[i]);
        if (p->rt[i].pid < 0)
            goto fail;
    }
    s1_debugf("apps forked");
    s1_debugf("volumes opened");
    if (pivot_into_stage1(podfd) < 0)
        goto fail;
    s1_debugf("pivoted");
    close(podfd);
    mkdir("/rkt", 0755);
    mkdir("/rkt/status", 0755);
    mkdir("/rkt/env", 0755);
    mkdir("/rkt/enter", 0755);
    if (p->o->userns_fd >= 0 && publish_userns(p->o->userns_fd) < 0)
        goto fail;
    for (size_t i = 0; i < p->pm->n_apps; i++) {
        if (setup_app_rootfs(&p->rt[i], p->o, &trees, i) < 0 || app_prepare(&p->rt[i], p->o) < 0)
            goto fail;
    }
    s1_debugf("apps prepared");
    start_apps(p);
    s1_debugf("apps started");
    /* what enter needs, then tell the outer init (which writes ppid) */
    for (size_t i = 0; i < p->pm->n_apps; i++)
        if (app_record(&p->rt[i], AT_FDCWD) < 0)
            fprintf(stderr, "stage1: %s\n", s1_last_error());
    /* every app has been started: `rkt status --wait-ready` waits for this link */
    if (!p->stopping && write_supervisor_ready() < 0)
        fprintf(stderr, "stage1: %s\n", s1_last_error());
    if (write(ready_fd, "R", 1) < 0)
        fprintf(stderr, "stage1: tell the outer init we are ready: %s\n", strerror(errno));
    close(ready_fd);
    supervise(p, set);
    s1_debugf("apps done");
    _exit(p->status);
fail:
    fprintf(stderr, "stage1: %s\n", s1_last_error());
    _exit(S1_EXIT_FAILURE);
}

/* ---- the outer init -------------------------------------------------------- */

/* --private-users=SHIFT:COUNT (stage0 picks SHIFT, a multiple of 65536, and chowns the
 * --no-overlay copies of the trees by it). */
static int parse_private_users(const char *v, unsigned long *shift, unsigned long *count)
{
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (errno || end == v || *end != ':')
        return s1_error(0, "invalid --private-users value \"%s\" (want SHIFT:COUNT)", v);
    const char *c = end + 1;
    unsigned long long n = strtoull(c, &end, 10);
    if (errno || end == c || *end || n == 0 || s == 0 || s + n > 0xFFFFFFFFULL)
        return s1_error(0, "invalid --private-users value \"%s\" (want SHIFT:COUNT)", v);
    *shift = (unsigned long) s;
    *count = (unsigned long) n;
    return 0;
}

/* The pods' user namespace for --private-users: ids 0..COUNT-1 inside are SHIFT.. on the
 * host.  A short-lived child unshares it; we (host root) write its maps and keep an fd,
 * which the pod's PID 1 inherits: apps and hooks setns() into it just before exec, after
 * everything that needs host root (cgroups, mounts, devices) has been done for them. */
static int make_userns(unsigned long shift, unsigned long count)
{
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC) < 0)
        return s1_error(errno, "pipe");
    pid_t pid = fork();
    if (pid < 0)
        return s1_error(errno, "fork");
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        char b = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'e';
        if (write(up[1], &b, 1) != 1)
            _exit(1);
        while (read(down[0], &b, 1) > 0 || errno == EINTR)
            ;
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    char b = 0;
    ssize_t n;
    do
        n = read(up[0], &b, 1);
    while (n < 0 && errno == EINTR);
    close(up[0]);
    int fd = -1;
    if (n != 1 || b != 'u') {
        s1_error(0, "--private-users: cannot create a user namespace");
        goto out;
    }
    char map[64], path[64];
    int len = snprintf(map, sizeof map, "0 %lu %lu\n", shift, count);
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int) pid);
    if (write_file_at(AT_FDCWD, path, map, (size_t) len, 0) < 0)
        goto out;
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int) pid);
    if (write_file_at(AT_FDCWD, path, map, (size_t) len, 0) < 0)
        goto out;
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        s1_error(errno, "open %s", path);
out:
    close(down[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return fd;
}

static int write_pid_files(int podfd, const struct cgroups *cg)
{
    char *sub = xasprintf("%s\n", cg->subcgroup);
    int r = write_file_atomic_at(podfd, "subcgroup", sub, strlen(sub), 0640);
    free(sub);
    if (r < 0)
        return -1;
    char v[32];
    int n = snprintf(v, sizeof v, "%d", (int) getpid());
    return write_file_atomic_at(podfd, "ppid", v, (size_t) n, 0640);
}

static int outer_wait(pid_t child, struct console *con, int *status)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGWINCH);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        return s1_error(errno, "signalfd");
    bool child_done = false, pty_open = con != NULL, stdin_open = con != NULL;
    for (;;) {
        int ws;
        pid_t r = waitpid(child, &ws, WNOHANG);
        if (r == child) {
            *status = status_code(ws);
            child_done = true;
        }
        if (child_done && !pty_open)
            break;
        struct pollfd fds[3] = {{sfd, POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
        if (pty_open)
            fds[1].fd = con->master;
        if (stdin_open && !child_done)
            fds[2].fd = STDIN_FILENO;
        if (poll(fds, 3, child_done ? 200 : -1) <= 0) {
            if (child_done)
                break; /* pty drained */
            continue;
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP)
                    kill(child, SIGTERM);
                else if (si.ssi_signo == SIGWINCH && con)
                    console_resize(con);
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
            if (console_to_user(con) < 0)
                pty_open = false;
        if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            int e = console_from_user(con);
            if (e == 1) {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
                console_restore(con);
                fputs("\r\nstage1: pod killed by the escape sequence (^]^]^])\n", stderr);
                *status = 1;
                break;
            }
            if (e < 0)
                stdin_open = false;
        }
    }
    close(sfd);
    return 0;
}

int main(int argc, char **argv)
{
    struct init_opts o = {0};
    int first = parse_go_flags(argc, argv, s1_run_flags, on_flag, &o);
    if (first < 0)
        s1_die(S1_EXIT_FAILURE);
    if (argc - first != 1) {
        s1_error(0, "usage: init [flags] <pod uuid>");
        s1_die(S1_EXIT_FAILURE);
    }
    o.uuid = argv[first];
    if (!o.hostname || !o.hostname[0])
        o.hostname = xasprintf("rkt-%s", o.uuid);
    o.userns_fd = -1;
    if (o.private_users && parse_private_users(o.private_users, &o.pu_shift, &o.pu_count) < 0)
        s1_die(S1_EXIT_FAILURE);

    int podfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (podfd < 0) {
        s1_error(errno, "open the pod directory");
        s1_die(S1_EXIT_FAILURE);
    }
    const char *lock = getenv("RKT_LOCK_FD");
    if (lock) {
        /* keep the lock for the pod's life, but out of the apps */
        int lfd = atoi(lock);
        fcntl(lfd, F_SETFD, FD_CLOEXEC);
    }

    s1_debugf("init start");
    struct pod_manifest pm;
    if (pod_manifest_load(podfd, "pod", &pm) < 0)
        s1_die(S1_EXIT_FAILURE);
    if (o.interactive && pm.n_apps != 1) {
        s1_error(0, "--interactive needs exactly one app, the pod has %zu", pm.n_apps);
        s1_die(S1_EXIT_FAILURE);
    }
    int netflags;
    if (network_prepare(&o, podfd, &netflags) < 0)
        s1_die(S1_EXIT_FAILURE);
    struct cgroups cg;
    if (cgroups_plan(&cg, o.uuid, &pm) < 0)
        s1_die(S1_EXIT_FAILURE);

    struct console con, *conp = NULL;
    bool pass_stdin = false;
    if (o.interactive) {
        if (!isatty(STDIN_FILENO)) {
            /* a pipe, a socket or a file: the app reads it directly (never a directory:
             * with stdin closed, fd 0 may be the pod lock, and a directory fd would let
             * the app out of its root) */
            struct stat st;
            pass_stdin = fstat(STDIN_FILENO, &st) == 0 &&
                         (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode) ||
                          S_ISCHR(st.st_mode));
            if (lock && atoi(lock) == STDIN_FILENO)
                pass_stdin = false;
        } else if (tty_in_background(STDIN_FILENO)) {
            /* a background job of a shell with job control: touching the terminal would
             * stop us (SIGTTOU/SIGTTIN) until `fg`; run without a console instead */
            s1_debugf("stdin is a terminal we do not own (background job): no console");
        } else {
            if (console_open(&con) < 0)
                s1_die(S1_EXIT_FAILURE);
            conp = &con;
        }
    }
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) {
        s1_error(errno, "pipe");
        s1_die(S1_EXIT_FAILURE);
    }
    if (o.pu_count && (o.userns_fd = make_userns(o.pu_shift, o.pu_count)) < 0)
        s1_die(S1_EXIT_FAILURE);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, NULL);

    uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | (uint64_t) netflags;
    if (!o.ipc || strcmp(o.ipc, "parent") != 0)
        flags |= CLONE_NEWIPC;
    /* The cgroups come first: every process is then born in (or joins by
     * itself) its cgroup, never moved by another -- the cheap way (cgroups.c). */
    if (cgroups_create(&cg, &pm, podfd) < 0) {
        fprintf(stderr, "stage1: %s\n", s1_last_error());
        cgroups_remove_recorded(podfd);
        _exit(S1_EXIT_FAILURE);
    }
    s1_debugf("cgroups ready");
    bool in_v2;
    pid_t child = cgroups_clone_into(flags, cg.v2_init_fd, &in_v2);
    if (child < 0) {
        s1_error(errno, "clone the pod's namespaces");
        cgroups_remove_recorded(podfd);
        s1_die(S1_EXIT_FAILURE);
    }
    if (child == 0) {
        close(ready[0]);
        struct pod p = {.o = &o, .pm = &pm, .cg = &cg, .in_v2 = in_v2};
        p.rt = xcalloc(pm.n_apps, sizeof *p.rt);
        p.io.console = conp ? conp->slave : -1;
        p.console_path = conp ? conp->slave_path : NULL;
        p.pass_stdin = pass_stdin;
        pod_main(&p, podfd, ready[1], &set);
    }
    close(ready[1]);
    if (conp) {
        close(conp->slave);
        conp->slave = -1;
    }
    char byte;
    ssize_t n;
    do
        n = read(ready[0], &byte, 1);
    while (n < 0 && errno == EINTR);
    close(ready[0]);
    if (n == 1 && write_pid_files(podfd, &cg) < 0)
        s1_warn("%s", s1_last_error());
    s1_debugf("ppid written");

    int status = S1_EXIT_FAILURE;
    if (outer_wait(child, conp, &status) < 0) {
        fprintf(stderr, "stage1: %s\n", s1_last_error());
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    s1_debugf("pod exited with %d", status);
    if (conp)
        console_restore(conp);
    /* Removing the cgroups takes a few ms (rmdir on every hierarchy): do it
     * in a detached child so the pod's status reaches stage0 at once.  It no
     * longer holds the pod lock; gc removes whatever it has not.  Nothing is
     * written after this point: let go of stdio first, so that a caller reading
     * our output (a pipe) sees its end now, not when the cleaner is done. */
    if (lock)
        close(atoi(lock));
    fflush(NULL);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
    pid_t cleaner = fork();
    if (cleaner == 0) {
        setsid(); /* its own session: no terminal signal of ours reaches it */
        if (cgroups_remove(&cg) == 0)
            unlinkat(podfd, CG_RECORD_FILE, 0);
        _exit(0);
    }
    if (cleaner < 0 && cgroups_remove(&cg) == 0)
        unlinkat(podfd, CG_RECORD_FILE, 0);
    return status;
}
