/* Mounts made safely inside an app rootfs: every target is resolved with
 * openat2(RESOLVE_IN_ROOT) from the app root fd and every mount is attached
 * with the new mount API through fds, so no path is followed outside the pod. */
#ifndef S1_MOUNTS_H
#define S1_MOUNTS_H

#include "stage1.h"
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/mount.h>

/* Trees opened before pivot_root (their sources live outside the stage1 root). */
struct app_trees {
    int *mounts;       /* per app mount: detached tree fd */
};
struct pod_trees {
    struct app_trees *apps;
    int host_hosts;    /* host /etc/hosts, -1 if unused */
    int host_resolv;   /* host /etc/resolv.conf, -1 if unused */
    int console;       /* detached bind of the pty slave for /dev/console, -1 if none */
};

int open_in_root(int rootfd, const char *path, int flags, mode_t mode, uint64_t resolve);
int ensure_dir_in_root(int rootfd, const char *path, uint64_t resolve);
int ensure_file_in_root(int rootfd, const char *path, uint64_t resolve);
int write_file_in_root(int rootfd, const char *path, const char *data, size_t len, mode_t mode);

/* Before pivot_root, with cwd-relative pod dir access through podfd. */
int open_volume_trees(int podfd, const struct pod_manifest *pm, const struct init_opts *o,
                      bool default_recursive, struct pod_trees *t);
/* Attach an app's volume trees at their targets in rt->rootfd. */
int mount_volumes(struct app_runtime *rt, const struct app_trees *at);
/* New-mount-API helpers: a detached filesystem (kv = key, value|NULL, …, NULL),
 * attaching a tree onto a target fd, making a tree read-only. */
int mount_new_fs(const char *type, const char *const *kv, unsigned attr);
int mount_attach(int tree, int target, const char *what);
int mount_set_ro(int tree, bool recursive, const char *what);
/* Make the stage1 rootfs the root of this mount namespace. */
int pivot_into_stage1(int podfd);
/* Inside the stage1 root: /proc /sys /dev, masked paths, volumes, etc files. */
int setup_app_rootfs(struct app_runtime *rt, const struct init_opts *o, const struct pod_trees *t,
                     size_t app_index);

#endif
