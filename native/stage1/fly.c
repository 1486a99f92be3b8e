/* The fly stage1's run entrypoint (/run): one app, chroot only.
 *
 * In a private mount namespace the app rootfs gets the host's /dev, /proc and
 * /sys bound in, a tmpfs /tmp and its volumes (not recursive by default);
 * then we write pid and pgid, chroot, switch user and exec the app in place,
 * keeping the pod lock fd open for its life.  Host network, IPC and pid
 * namespace; no cgroup, capability or seccomp isolation. */
#include "apps.h"
#include "mounts.h"
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int on_flag(void *ctx, const char *name, const char *value)
{
    struct init_opts *o = ctx;
    if (strcmp(name, "debug") == 0)
        s1_debug = true;
    else if (strcmp(name, "net") == 0)
        o->net = xstrdup(value);
    return 0;
}

static int bind_host(int rootfd, const char *path)
{
    int target = ensure_dir_in_root(rootfd, path, RESOLVE_NO_SYMLINKS);
    if (target < 0)
        return s1_error_wrap("mount target %s (must be a directory, not a symlink)", path);
    int tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
        return s1_error(errno, "bind host %s", path);
    int r = mount_attach(tree, target, path);
    close(tree);
    close(target);
    return r;
}

static int write_pid_files(int podfd)
{
    char v[32];
    int n = snprintf(v, sizeof v, "%d", (int) getpgid(0));
    if (write_file_atomic_at(podfd, "pgid", v, (size_t) n, 0640) < 0)
        return -1;
    n = snprintf(v, sizeof v, "%d", (int) getpid());
    return write_file_atomic_at(podfd, "pid", v, (size_t) n, 0640);
}

int main(int argc, char **argv)
{
    struct init_opts o = {0};
    o.userns_fd = -1;
    int first = parse_go_flags(argc, argv, s1_run_flags, on_flag, &o);
    if (first < 0)
        s1_die(S1_EXIT_FAILURE);
    if (argc - first != 1) {
        s1_error(0, "usage: run [flags] <pod uuid>");
        s1_die(S1_EXIT_FAILURE);
    }
    o.uuid = argv[first];
    if (o.net && strcmp(o.net, "host") != 0 && strcmp(o.net, "default") != 0) {
        s1_error(0, "failed to setup network: the fly stage1 only supports host networking");
        s1_die(S1_EXIT_FAILURE);
    }
    int podfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (podfd < 0) {
        s1_error(errno, "open the pod directory");
        s1_die(S1_EXIT_FAILURE);
    }
    const char *lock = getenv("RKT_LOCK_FD");
    if (lock) {
        /* the app replaces us: it must keep the pod lock */
        int lfd = atoi(lock);
        fcntl(lfd, F_SETFD, 0);
    }
    struct pod_manifest pm;
    if (pod_manifest_load(podfd, "pod", &pm) < 0)
        s1_die(S1_EXIT_FAILURE);
    if (pm.n_apps != 1) {
        s1_error(0, "the fly stage1 runs exactly one app, the pod has %zu", pm.n_apps);
        s1_die(S1_EXIT_FAILURE);
    }
    struct app_runtime rt = {.app = &pm.apps[0]};
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
        s1_error(errno, "private mount namespace");
        s1_die(S1_EXIT_FAILURE);
    }
    /* reopen: the old fd points into the parent mount namespace */
    close(podfd);
    podfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    char *root = xasprintf("stage1/rootfs/opt/stage2/%s/rootfs", rt.app->name);
    rt.rootfd = openat(podfd, root, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int s1root = openat(podfd, "stage1/rootfs", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (rt.rootfd < 0 || s1root < 0) {
        s1_error(errno, "open %s", root);
        s1_die(S1_EXIT_FAILURE);
    }
    struct pod_trees trees;
    if (open_volume_trees(podfd, &pm, &o, false, &trees) < 0)
        s1_die(S1_EXIT_FAILURE);
    if (bind_host(rt.rootfd, "/dev") < 0 || bind_host(rt.rootfd, "/proc") < 0 ||
        bind_host(rt.rootfd, "/sys") < 0)
        s1_die(S1_EXIT_FAILURE);
    static const char *const tmpkv[] = {"mode", "1777", NULL};
    int tmp = mount_new_fs("tmpfs", tmpkv, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    int tmpdir = tmp < 0 ? -1 : ensure_dir_in_root(rt.rootfd, "/tmp", 0);
    if (tmp < 0 || tmpdir < 0 || mount_attach(tmp, tmpdir, "/tmp") < 0)
        s1_die(S1_EXIT_FAILURE);
    if (mount_volumes(&rt, &trees.apps[0]) < 0)
        s1_die(S1_EXIT_FAILURE);
    mkdirat(s1root, "rkt", 0755);
    mkdirat(s1root, "rkt/env", 0755);
    mkdirat(s1root, "rkt/enter", 0755);
    if (app_prepare(&rt, &o) < 0 || app_record(&rt, s1root) < 0)
        s1_die(S1_EXIT_FAILURE);
    if (write_pid_files(podfd) < 0)
        s1_die(S1_EXIT_FAILURE);
    if (fchdir(rt.rootfd) < 0 || chroot(".") < 0 || chdir(rt.cwd) < 0) {
        s1_error(errno, "chroot into %s", root);
        s1_die(S1_EXIT_FAILURE);
    }
    if (setgroups(rt.app->n_supp_gids, rt.app->supp_gids) < 0 ||
        setresgid(rt.gid, rt.gid, rt.gid) < 0 || setresuid(rt.uid, rt.uid, rt.uid) < 0) {
        s1_error(errno, "switch to uid %u gid %u", (unsigned) rt.uid, (unsigned) rt.gid);
        s1_die(S1_EXIT_FAILURE);
    }
    for (char **e = rt.envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            setenv("PATH", *e + 5, 1);
    execvpe(rt.app->exec[0], rt.app->exec, rt.envp);
    if (errno == ENOENT)
        fprintf(stderr, "Error: Unable to open \"%s\": No such file or directory\n", rt.app->exec[0]);
    else
        fprintf(stderr, "stage1: exec %s: %s\n", rt.app->exec[0], strerror(errno));
    return S1_EXIT_FAILURE;
}
