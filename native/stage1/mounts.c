/* App rootfs assembly.  See mounts.h for the safety rule. */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

int open_in_root(int rootfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
    struct open_how how = {.flags = (uint64_t) flags | O_CLOEXEC, .mode = mode,
                           .resolve = resolve | IN_ROOT};
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    int fd;
    do
        fd = (int) syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    while (fd < 0 && errno == EAGAIN);
    return fd;
}

/* The path a symlink named `name` in directory `dir` (both root-relative) points to. */
static int link_target(int parentfd, const char *dir, const char *name, char *out, size_t n)
{
    char t[4096];
    ssize_t len = readlinkat(parentfd, name, t, sizeof t - 1);
    if (len < 0)
        return -1;
    t[len] = 0;
    if (t[0] == '/')
        snprintf(out, n, "%s", t);
    else
        snprintf(out, n, "%s/%s", dir, t);
    return 0;
}

static int ensure_dir_depth(int rootfd, const char *path, uint64_t resolve, int depth);

/* Create the missing component `name` of `buf` below parent; a dangling
 * symlink there is followed (inside the root) and its target created. */
static int create_component(int rootfd, const char *buf, uint64_t resolve, int depth)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", buf);
    char *base = strrchr(dir, '/');
    const char *name;
    if (base) {
        *base = 0;
        name = base + 1;
    } else {
        name = dir;
    }
    int parent = open_in_root(rootfd, base && dir[0] ? dir : "/", O_PATH | O_DIRECTORY, 0, resolve);
    if (parent < 0)
        return s1_error(errno, "open parent of %s", buf);
    int ret = 0;
    if (mkdirat(parent, name, 0755) < 0 && errno == EEXIST) {
        char target[4096];
        if (link_target(parent, base ? dir : "", name, target, sizeof target) == 0) {
            int fd = ensure_dir_depth(rootfd, target, resolve, depth + 1);
            if (fd < 0)
                ret = -1;
            else
                close(fd);
        }
    } else if (errno != 0 && errno != EEXIST) {
        ret = s1_error(errno, "mkdir %s", buf);
    }
    close(parent);
    return ret;
}

static int ensure_dir_depth(int rootfd, const char *path, uint64_t resolve, int depth)
{
    if (depth > 40)
        return s1_error(ELOOP, "open %s", path);
    int fd = open_in_root(rootfd, path, O_PATH | O_DIRECTORY, 0, resolve);
    if (fd >= 0 || errno != ENOENT)
        return fd >= 0 ? fd : s1_error(errno, "open %s", path);
    char buf[4096];
    const char *p = path;
    while (*p == '/')
        p++;
    snprintf(buf, sizeof buf, "%s", p);
    for (char *c = buf;;) {
        char *slash = strchr(c, '/');
        if (slash)
            *slash = 0;
        fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0, resolve);
        if (fd < 0 && errno == ENOENT) {
            errno = 0;
            if (create_component(rootfd, buf, resolve, depth) < 0)
                return -1;
            fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0, resolve);
        }
        if (fd < 0)
            return s1_error(errno, "open %s", buf);
        if (!slash)
            return fd;
        close(fd);
        *slash = '/';
        c = slash + 1;
    }
}

int ensure_dir_in_root(int rootfd, const char *path, uint64_t resolve)
{
    return ensure_dir_depth(rootfd, path, resolve, 0);
}

/* When path's last component is a dangling symlink, create its target's
 * parent directories (inside the root) so that O_CREAT through it works. */
static void prepare_dangling_file(int rootfd, const char *path)
{
    char buf[4096], target[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (int depth = 0; depth < 40; depth++) {
        char *slash = strrchr(buf, '/');
        const char *name = slash ? slash + 1 : buf;
        if (slash)
            *slash = 0;
        int parent = open_in_root(rootfd, slash && buf[0] ? buf : "/", O_PATH | O_DIRECTORY, 0, 0);
        if (parent < 0)
            return;
        int r = link_target(parent, slash ? buf : "", name, target, sizeof target);
        close(parent);
        if (r < 0)
            return;
        char *tslash = strrchr(target, '/');
        if (tslash && tslash != target) {
            *tslash = 0;
            int fd = ensure_dir_in_root(rootfd, target, 0);
            if (fd >= 0)
                close(fd);
            *tslash = '/';
        }
        snprintf(buf, sizeof buf, "%s", target);
    }
}

static int split_parent(int rootfd, const char *path, uint64_t resolve, char *base, size_t n)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    const char *name = slash ? slash + 1 : buf;
    snprintf(base, n, "%s", name);
    if (slash)
        *slash = 0;
    return ensure_dir_in_root(rootfd, slash && buf[0] ? buf : "/", resolve);
}

int ensure_file_in_root(int rootfd, const char *path, uint64_t resolve)
{
    int fd = open_in_root(rootfd, path, O_PATH, 0, resolve);
    if (fd >= 0 || errno != ENOENT)
        return fd >= 0 ? fd : s1_error(errno, "open %s", path);
    char base[256];
    int parent = split_parent(rootfd, path, resolve, base, sizeof base);
    if (parent < 0)
        return -1;
    int w = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (w < 0 && errno == EEXIST) {
        /* a dangling symlink: create what it points to, inside the root */
        close(parent);
        prepare_dangling_file(rootfd, path);
        w = open_in_root(rootfd, path, O_WRONLY | O_CREAT, 0644, resolve);
        if (w < 0)
            return s1_error(errno, "create %s", path);
        close(w);
        fd = open_in_root(rootfd, path, O_PATH, 0, resolve);
        return fd >= 0 ? fd : s1_error(errno, "open %s", path);
    }
    if (w < 0) {
        int e = errno;
        close(parent);
        return s1_error(e, "create %s", path);
    }
    if (w >= 0)
        close(w);
    close(parent);
    fd = open_in_root(rootfd, path, O_PATH, 0, resolve);
    return fd >= 0 ? fd : s1_error(errno, "open %s", path);
}

int write_file_in_root(int rootfd, const char *path, const char *data, size_t len, mode_t mode)
{
    char base[256];
    int parent = split_parent(rootfd, path, 0, base, sizeof base);
    if (parent < 0)
        return -1;
    close(parent);
    int fd = open_in_root(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC, mode, 0);
    if (fd < 0 && errno == ENOENT) {
        prepare_dangling_file(rootfd, path);
        fd = open_in_root(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC, mode, 0);
    }
    if (fd < 0)
        return s1_error(errno, "open %s", path);
    if (write_all(fd, data, len) < 0) {
        int e = errno;
        close(fd);
        return s1_error(e, "write %s", path);
    }
    fchmod(fd, mode);
    close(fd);
    return 0;
}

/* A new detached filesystem: kv = key, value (NULL value: flag), …, NULL. */
int mount_new_fs(const char *type, const char *const *kv, unsigned attr)
{
    int fsfd = fsopen(type, FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return s1_error(errno, "fsopen %s", type);
    for (; kv && kv[0]; kv += 2) {
        int r = kv[1] ? fsconfig(fsfd, FSCONFIG_SET_STRING, kv[0], kv[1], 0)
                      : fsconfig(fsfd, FSCONFIG_SET_FLAG, kv[0], NULL, 0);
        if (r < 0) {
            int e = errno;
            close(fsfd);
            return s1_error(e, "%s option %s", type, kv[0]);
        }
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        int e = errno;
        close(fsfd);
        return s1_error(e, "create %s", type);
    }
    int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attr);
    int e = errno;
    close(fsfd);
    return mfd >= 0 ? mfd : s1_error(e, "fsmount %s", type);
}

int mount_attach(int tree, int target, const char *what)
{
    if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return s1_error(errno, "mount %s", what);
    return 0;
}

int mount_set_ro(int tree, bool recursive, const char *what)
{
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0)
        return s1_error(errno, "make %s read-only", what);
    return 0;
}

/* Bind a path of an already mounted tree over itself, read-only. */
static int ro_in_place(int dirfd, const char *rel, const char *what)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    int target = (int) syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (target < 0)
        return errno == ENOENT ? 0 : s1_error(errno, "open %s", what);
    int tree = open_tree(target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    int ret = tree < 0 ? s1_error(errno, "clone %s", what)
                       : mount_set_ro(tree, true, what) < 0 ? -1 : mount_attach(tree, target, what);
    if (tree >= 0)
        close(tree);
    close(target);
    return ret;
}

/* Hide a path: /dev/null over files, an empty read-only tmpfs over dirs. */
static int mask_path(int dirfd, const char *rel, int devfd, const char *what)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    int target = (int) syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (target < 0)
        return errno == ENOENT ? 0 : s1_error(errno, "open %s", what);
    struct stat st;
    fstat(target, &st);
    int tree;
    if (S_ISDIR(st.st_mode)) {
        static const char *const kv[] = {"mode", "0555", "size", "4k", NULL};
        tree = mount_new_fs("tmpfs", kv, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                   MOUNT_ATTR_NOEXEC);
    } else {
        tree = open_tree(devfd, "null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
            s1_error(errno, "clone /dev/null");
    }
    int ret = tree < 0 ? -1 : mount_attach(tree, target, what);
    if (tree >= 0)
        close(tree);
    close(target);
    return ret;
}

static int system_dir(int rootfd, const char *path, const char *app)
{
    /* /proc, /sys and /dev must be real directories: a symlink there is hostile */
    int fd = ensure_dir_in_root(rootfd, path, RESOLVE_NO_SYMLINKS);
    if (fd < 0)
        return s1_error_wrap("app %s: mount target %s (must be a directory, not a symlink)", app, path);
    return fd;
}

static int setup_proc(int rootfd, const struct init_opts *o, int devfd, const char *app)
{
    int target = system_dir(rootfd, "/proc", app);
    if (target < 0)
        return -1;
    int tree = mount_new_fs("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (tree < 0 || mount_attach(tree, target, "/proc") < 0) {
        close(target);
        return s1_error_wrap("app %s", app);
    }
    close(target);
    int ret = 0;
    if (!o->disable_paths) {
        static const char *ro[] = {"bus", "sys/kernel/core_pattern", "sys/kernel/modprobe",
                                   "sys/vm/panic_on_oom", "sysrq-trigger", NULL};
        static const char *hidden[] = {"config.gz", "kallsyms", "sched_debug", "kcore", "kmem",
                                       "mem", NULL};
        for (int i = 0; ret == 0 && ro[i]; i++)
            ret = ro_in_place(tree, ro[i], ro[i]);
        for (int i = 0; ret == 0 && hidden[i]; i++)
            ret = mask_path(tree, hidden[i], devfd, hidden[i]);
    }
    close(tree);
    return ret < 0 ? s1_error_wrap("app %s: /proc", app) : 0;
}

static int setup_sys(int rootfd, const struct init_opts *o, int devfd, const char *app)
{
    int target = system_dir(rootfd, "/sys", app);
    if (target < 0)
        return -1;
    unsigned attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if (!o->disable_paths)
        attr |= MOUNT_ATTR_RDONLY;
    int tree = mount_new_fs("sysfs", NULL, attr);
    if (tree < 0 || mount_attach(tree, target, "/sys") < 0) {
        close(target);
        return s1_error_wrap("app %s", app);
    }
    close(target);
    int ret = 0;
    if (!o->disable_paths) {
        static const char *hidden[] = {"firmware", "fs", "hypervisor", "module", "power", NULL};
        for (int i = 0; ret == 0 && hidden[i]; i++)
            ret = mask_path(tree, hidden[i], devfd, hidden[i]);
    }
    close(tree);
    return ret < 0 ? s1_error_wrap("app %s: /sys", app) : 0;
}

/* A fresh tmpfs /dev holding only the safe nodes; returns the mounted tree fd. */
static int setup_dev(int rootfd, const struct pod_trees *t, const char *app)
{
    static const struct { const char *name; unsigned maj, min; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9},
        {"tty", 5, 0},
    };
    static const struct { const char *name, *target; } links[] = {
        {"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"},
    };
    static const char *const devkv[] = {"mode", "0755", "size", "65536k", NULL};
    int target = system_dir(rootfd, "/dev", app);
    if (target < 0)
        return -1;
    int dev = mount_new_fs("tmpfs", devkv, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_STRICTATIME);
    if (dev < 0)
        goto fail;
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0) {
            s1_error(errno, "mknod /dev/%s", nodes[i].name);
            goto fail;
        }
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlinkat(links[i].target, dev, links[i].name) < 0) {
            s1_error(errno, "symlink /dev/%s", links[i].name);
            goto fail;
        }
    if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 ||
        mkdirat(dev, "mqueue", 0755) < 0) {
        s1_error(errno, "mkdir in /dev");
        goto fail;
    }
    if (t->console >= 0) {
        int c = openat(dev, "console", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (c < 0) {
            s1_error(errno, "create /dev/console");
            goto fail;
        }
        close(c);
    }
    if (mount_attach(dev, target, "/dev") < 0)
        goto fail;
    close(target);
    target = -1;

    static const char *const ptskv[] = {"newinstance", NULL, "ptmxmode", "0666", "mode", "0620",
                                        "gid", "5", NULL};
    int pts = mount_new_fs("devpts", ptskv, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    if (pts < 0 || move_mount(pts, "", dev, "pts", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        if (pts >= 0)
            s1_error(errno, "mount /dev/pts");
        goto fail;
    }
    close(pts);
    static const char *const shmkv[] = {"mode", "1777", "size", "65536k", NULL};
    int shm = mount_new_fs("tmpfs", shmkv, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (shm < 0 || move_mount(shm, "", dev, "shm", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        if (shm >= 0)
            s1_error(errno, "mount /dev/shm");
        goto fail;
    }
    close(shm);
    int mq = mount_new_fs("mqueue", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (mq >= 0) {
        move_mount(mq, "", dev, "mqueue", MOVE_MOUNT_F_EMPTY_PATH);
        close(mq);
    }
    if (t->console >= 0 && move_mount(t->console, "", dev, "console", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        s1_error(errno, "bind the console to /dev/console");
        goto fail;
    }
    return dev;
fail:
    if (target >= 0)
        close(target);
    return s1_error_wrap("app %s: /dev", app);
}

int mount_volumes(struct app_runtime *rt, const struct app_trees *at)
{
    struct app *a = rt->app;
    for (size_t i = 0; i < a->n_mounts; i++) {
        struct app_mount *m = &a->mounts[i];
        int tree = at->mounts[i];
        struct stat st;
        if (fstat(tree, &st) < 0)
            return s1_error(errno, "app %s: volume %s", a->name, m->volume);
        int target = S_ISDIR(st.st_mode) ? ensure_dir_in_root(rt->rootfd, m->path, 0)
                                         : ensure_file_in_root(rt->rootfd, m->path, 0);
        if (target < 0)
            return s1_error_wrap("app %s: mount target of volume %s", a->name, m->volume);
        if ((m->read_only && mount_set_ro(tree, true, m->path) < 0) || mount_attach(tree, target, m->path) < 0) {
            close(target);
            return s1_error_wrap("app %s: volume %s", a->name, m->volume);
        }
        close(target);
    }
    return 0;
}

static int bind_file_over(int rootfd, int tree, const char *path, const char *app)
{
    int target = ensure_file_in_root(rootfd, path, 0);
    if (target < 0)
        return s1_error_wrap("app %s", app);
    int clone = open_tree(tree, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    int ret = clone < 0 ? s1_error(errno, "clone tree for %s", path)
                        : (mount_set_ro(clone, false, path) < 0 ? -1 : mount_attach(clone, target, path));
    if (clone >= 0)
        close(clone);
    close(target);
    return ret < 0 ? s1_error_wrap("app %s", app) : 0;
}

static int setup_etc(struct app_runtime *rt, const struct init_opts *o, const struct pod_trees *t)
{
    const char *app = rt->app->name;
    char hn[300];
    int n = snprintf(hn, sizeof hn, "%s\n", o->hostname);
    if (write_file_in_root(rt->rootfd, "/etc/hostname", hn, (size_t) n, 0644) < 0)
        return s1_error_wrap("app %s", app);

    /* /etc/hosts: host file, stage0's rkt-hosts, or the fallback when the image has none */
    if (t->host_hosts >= 0) {
        if (bind_file_over(rt->rootfd, t->host_hosts, "/etc/hosts", app) < 0)
            return -1;
    } else if (faccessat(AT_FDCWD, "/etc/rkt-hosts", F_OK, 0) == 0) {
        int src = open("/etc/rkt-hosts", O_PATH | O_CLOEXEC | O_NOFOLLOW);
        int r = src < 0 ? s1_error(errno, "open /etc/rkt-hosts")
                        : bind_file_over(rt->rootfd, src, "/etc/hosts", app);
        if (src >= 0)
            close(src);
        if (r < 0)
            return -1;
    } else {
        int fd = open_in_root(rt->rootfd, "/etc/hosts", O_PATH, 0, 0);
        if (fd >= 0) {
            close(fd);
        } else {
            char *data;
            size_t len;
            if (read_file_at(AT_FDCWD, "/etc/hosts-fallback", &data, &len) < 0)
                return s1_error_wrap("app %s: /etc/hosts", app);
            int r = write_file_in_root(rt->rootfd, "/etc/hosts", data, len, 0644);
            free(data);
            if (r < 0)
                return s1_error_wrap("app %s", app);
        }
    }

    const char *rm = o->dns_resolv ? o->dns_resolv : "default";
    if (t->host_resolv >= 0) {
        if (bind_file_over(rt->rootfd, t->host_resolv, "/etc/resolv.conf", app) < 0)
            return -1;
    } else if (strcmp(rm, "none") != 0 && strcmp(rm, "host") != 0 &&
               faccessat(AT_FDCWD, "/etc/rkt-resolv.conf", F_OK, 0) == 0) {
        int src = open("/etc/rkt-resolv.conf", O_PATH | O_CLOEXEC | O_NOFOLLOW);
        int r = src < 0 ? s1_error(errno, "open /etc/rkt-resolv.conf")
                        : bind_file_over(rt->rootfd, src, "/etc/resolv.conf", app);
        if (src >= 0)
            close(src);
        if (r < 0)
            return -1;
    }
    return 0;
}

int open_volume_trees(int podfd, const struct pod_manifest *pm, const struct init_opts *o,
                      bool default_recursive, struct pod_trees *t)
{
    t->apps = xcalloc(pm->n_apps, sizeof *t->apps);
    t->host_hosts = t->host_resolv = -1;
    bool made_shared = false;
    for (size_t a = 0; a < pm->n_apps; a++) {
        const struct app *app = &pm->apps[a];
        t->apps[a].mounts = xcalloc(app->n_mounts, sizeof(int));
        for (size_t i = 0; i < app->n_mounts; i++) {
            const struct volume *v = pod_find_volume(pm, app->mounts[i].volume);
            int tree;
            if (strcmp(v->kind, "host") == 0) {
                bool rec = v->recursive_set ? v->recursive : default_recursive;
                tree = open_tree(AT_FDCWD, v->source,
                                 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec ? AT_RECURSIVE : 0));
                if (tree < 0)
                    return s1_error(errno, "volume %s: source %s", v->name, v->source);
            } else {
                if (!made_shared) {
                    if (mkdirat(podfd, "sharedVolumes", 0755) < 0 && errno != EEXIST)
                        return s1_error(errno, "mkdir sharedVolumes");
                    made_shared = true;
                }
                char *rel = xasprintf("sharedVolumes/%s", v->name);
                if (mkdirat(podfd, rel, v->mode) == 0) {
                    /* with --private-users the ids are the pod's: shift them to the host */
                    if (fchownat(podfd, rel, (uid_t) (v->uid + o->pu_shift),
                                 (gid_t) (v->gid + o->pu_shift), AT_SYMLINK_NOFOLLOW) < 0 ||
                        fchmodat(podfd, rel, v->mode, 0) < 0)
                        return s1_error(errno, "volume %s: set owner and mode of %s", v->name, rel);
                } else if (errno != EEXIST) {
                    return s1_error(errno, "volume %s: mkdir %s", v->name, rel);
                }
                tree = open_tree(podfd, rel, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
                if (tree < 0)
                    return s1_error(errno, "volume %s: bind %s", v->name, rel);
                free(rel);
            }
            t->apps[a].mounts[i] = tree;
        }
    }
    if (o->dns_hosts && strcmp(o->dns_hosts, "host") == 0) {
        t->host_hosts = open_tree(AT_FDCWD, "/etc/hosts", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (t->host_hosts < 0)
            return s1_error(errno, "bind host /etc/hosts");
    }
    if (o->dns_resolv && strcmp(o->dns_resolv, "host") == 0) {
        t->host_resolv = open_tree(AT_FDCWD, "/etc/resolv.conf", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (t->host_resolv < 0)
            return s1_error(errno, "bind host /etc/resolv.conf");
    }
    return 0;
}

int pivot_into_stage1(int podfd)
{
    int tree = open_tree(podfd, "stage1/rootfs", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
        return s1_error(errno, "bind stage1/rootfs");
    int target = openat(podfd, "stage1/rootfs", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (target < 0 || mount_attach(tree, target, "stage1/rootfs") < 0)
        return target < 0 ? s1_error(errno, "open stage1/rootfs") : -1;
    close(target);
    if (fchdir(tree) < 0)
        return s1_error(errno, "chdir stage1/rootfs");
    close(tree);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return s1_error(errno, "pivot_root into stage1/rootfs");
    if (umount2(".", MNT_DETACH) < 0)
        return s1_error(errno, "detach the old root");
    if (chdir("/") < 0)
        return s1_error(errno, "chdir /");
    return 0;
}

int setup_app_rootfs(struct app_runtime *rt, const struct init_opts *o, const struct pod_trees *t,
                     size_t app_index)
{
    const char *app = rt->app->name;
    char *path = xasprintf("/opt/stage2/%s/rootfs", app);
    rt->rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (rt->rootfd < 0)
        return s1_error(errno, "app %s: open rootfs %s", app, path);
    int dev = setup_dev(rt->rootfd, t, app);
    if (dev < 0)
        return -1;
    s1_debugf("app %s: /dev ready", app);
    if (setup_proc(rt->rootfd, o, dev, app) < 0)
        goto fail;
    s1_debugf("app %s: /proc ready", app);
    if (setup_sys(rt->rootfd, o, dev, app) < 0)
        goto fail;
    s1_debugf("app %s: /sys ready", app);
    if (mount_volumes(rt, &t->apps[app_index]) < 0 || setup_etc(rt, o, t) < 0)
        goto fail;
    s1_debugf("app %s: volumes and /etc ready", app);
    close(dev);
    if (rt->app->read_only_rootfs) {
        int tree = open_tree(rt->rootfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree < 0 || mount_set_ro(tree, false, path) < 0 || mount_attach(tree, rt->rootfd, path) < 0)
            return s1_error_wrap("app %s: read-only rootfs", app);
        close(tree);
        close(rt->rootfd);
        rt->rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rt->rootfd < 0)
            return s1_error(errno, "app %s: reopen rootfs %s", app, path);
    }
    free(path);
    return 0;
fail:
    close(dev);
    return -1;
}
