/*
 * Applying entries to the tree. The security boundary lives here and in fsutil.c:
 *  - an entry's parent directory is always resolved with openat2(RESOLVE_IN_ROOT), so
 *    symlinks created by the archive (absolute, relative, through "..") stay inside;
 *  - the final component is created or changed only with calls that do not follow it
 *    (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat, symlinkat, mknodat, linkat without FOLLOW,
 *    AT_SYMLINK_NOFOLLOW), relative to that parent fd;
 *  - hardlink targets are resolved the same way, so they can only name files in the tree.
 * The parent fd of the last entry is cached: archives list a directory's entries together,
 * so most regular files cost one openat here; write, futimens, close (and fchown when
 * needed) happen on the fd alone, on the worker of fileq.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tarx_internal.h"

void tarx_close_parent(struct tarx_ctx *ctx)
{
    if (ctx->parent_fd >= 0)
        close(ctx->parent_fd);
    ctx->parent_fd = -1;
    if (ctx->parent_path)
        ctx->parent_path[0] = 0;
}

static int set_parent(struct tarx_ctx *ctx, const char *dir, size_t len, int fd, gid_t gid)
{
    if (len + 1 > ctx->parent_cap) {
        char *p = realloc(ctx->parent_path, len + 1);
        if (!p) {
            close(fd);
            return tarx_fail(ctx, "out of memory");
        }
        ctx->parent_path = p;
        ctx->parent_cap = len + 1;
    }
    if (ctx->parent_fd >= 0)
        close(ctx->parent_fd);
    memcpy(ctx->parent_path, dir, len);
    ctx->parent_path[len] = 0;
    ctx->parent_fd = fd;
    ctx->parent_gid = gid;
    return fd;
}

/* Removing `path` may delete the cached parent or one of its ancestors. */
static void forget_under(struct tarx_ctx *ctx, const char *path)
{
    if (ctx->parent_fd < 0)
        return;
    size_t l = strlen(path);
    if (!strncmp(ctx->parent_path, path, l) &&
        (ctx->parent_path[l] == 0 || ctx->parent_path[l] == '/'))
        tarx_close_parent(ctx);
}

/* mkdir -p inside the root for parents the archive did not list (mode 0755, root). */
static int make_dirs(struct tarx_ctx *ctx, char *path)
{
    char *slash = strrchr(path, '/');
    const char *name = path;
    int pfd;
    if (slash) {
        *slash = 0;
        pfd = tarx_open_dir_in_root(ctx->tree_fd, path, O_PATH);
        if (pfd < 0 && errno == ENOENT) {
            if (make_dirs(ctx, path) < 0) {
                *slash = '/';
                return -1;
            }
            pfd = tarx_open_dir_in_root(ctx->tree_fd, path, O_PATH);
        }
        *slash = '/';
        name = slash + 1;
    } else {
        pfd = dup(ctx->tree_fd);
    }
    if (pfd < 0)
        return tarx_fail_errno(ctx, errno, "%s: cannot open parent directory", path);
    int r = mkdirat(pfd, name, 0755);
    int saved = errno;
    close(pfd);
    if (r < 0 && saved != EEXIST)
        return tarx_fail_errno(ctx, saved, "%s: mkdir", path);
    return 0;
}

/* The fd of directory `dir` (len bytes of it), from the cache or resolved in the root. */
static int get_parent(struct tarx_ctx *ctx, const char *dir, size_t len)
{
    if (ctx->parent_fd >= 0 && strlen(ctx->parent_path) == len &&
        !memcmp(ctx->parent_path, dir, len))
        return ctx->parent_fd;
    char *d = strndup(dir, len);
    if (!d)
        return tarx_fail(ctx, "out of memory");
    int fd = tarx_open_dir_in_root(ctx->tree_fd, d, O_PATH);
    if (fd < 0 && errno == ENOENT && len) {
        if (make_dirs(ctx, d) < 0) {
            free(d);
            return -1;
        }
        fd = tarx_open_dir_in_root(ctx->tree_fd, d, O_PATH);
    }
    if (fd < 0) {
        int saved = errno;
        tarx_fail_errno(ctx, saved, "%s: cannot open parent directory \"%s\"",
                        ctx->entry.path, d);
        free(d);
        return -1;
    }
    free(d);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return tarx_fail_errno(ctx, errno, "%s: fstat parent", ctx->entry.path);
    }
    /* files created in a setgid directory inherit its group */
    return set_parent(ctx, dir, len, fd, (st.st_mode & S_ISGID) ? st.st_gid : ctx->egid);
}

/* Makes room for a new entry at pfd/name. Returns 1 when an existing directory should be
   kept (a directory entry over a directory), 0 when the name is free. */
static int clear_slot(struct tarx_ctx *ctx, int pfd, const char *name, const char *path,
                      int keep_dir)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return tarx_fail_errno(ctx, errno, "%s: stat existing entry", path);
    }
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir)
            return 1;
        if (!ctx->opts.overwrite)
            return tarx_fail(ctx, "%s: cannot replace a directory with a non-directory", path);
        forget_under(ctx, path);
        if (tarx_remove_at(pfd, name) < 0)
            return tarx_fail_errno(ctx, errno, "%s: removing directory to replace it", path);
        return 0;
    }
    /* the cached parent may have been reached through this name (a symlink) */
    forget_under(ctx, path);
    if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
        return tarx_fail_errno(ctx, errno, "%s: removing existing entry", path);
    return 0;
}

static int need_chown(struct tarx_ctx *ctx, const struct tarx_entry *e)
{
    return ctx->apply_owner && (e->uid != ctx->euid || e->gid != ctx->parent_gid);
}

/* The mode a create call with (mode & 0777) produces; anything else needs a chmod. */
static int need_chmod(struct tarx_ctx *ctx, mode_t mode)
{
    return (mode & 07777) != (mode & 0777 & ~ctx->umask);
}

/* xattrs on names that have no usable fd (symlinks, devices): through the parent fd's
   /proc path, which the kernel resolves to that very directory, then the name unfollowed */
static int set_xattrs_at(struct tarx_ctx *ctx, int pfd, const char *name,
                         const struct tarx_entry *e, int is_symlink)
{
    char p[64 + 4096];
    for (size_t i = 0; i < e->nxattrs; i++) {
        const struct tarx_xattr *x = &e->xattrs[i];
        if (is_symlink && !strncmp(x->name, "user.", 5))
            continue; /* the kernel refuses user.* on symlinks */
        snprintf(p, sizeof p, "/proc/self/fd/%d/%s", pfd, name);
        if (lsetxattr(p, x->name, x->value, x->len, 0) < 0 && errno != ENOTSUP)
            return tarx_fail_errno(ctx, errno, "%s: setting xattr %s", e->path, x->name);
    }
    return 0;
}

static int set_xattrs_fd(struct tarx_ctx *ctx, int fd, const struct tarx_entry *e)
{
    for (size_t i = 0; i < e->nxattrs; i++) {
        const struct tarx_xattr *x = &e->xattrs[i];
        if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0 && errno != ENOTSUP)
            return tarx_fail_errno(ctx, errno, "%s: setting xattr %s", e->path, x->name);
    }
    return 0;
}

/* Owner first: chown clears setuid/setgid bits and security.capability. */
static int finish_fd(struct tarx_ctx *ctx, int fd, const struct tarx_entry *e, int chmod_now)
{
    if (need_chown(ctx, e) && fchown(fd, e->uid, e->gid) < 0)
        return tarx_fail_errno(ctx, errno, "%s: fchown %u:%u", e->path, e->uid, e->gid);
    if (chmod_now > 0 && (chmod_now == 2 || need_chmod(ctx, e->mode)) && fchmod(fd, e->mode) < 0)
        return tarx_fail_errno(ctx, errno, "%s: fchmod %o", e->path, e->mode);
    return set_xattrs_fd(ctx, fd, e);
}

static int finish_at(struct tarx_ctx *ctx, int pfd, const char *name, const struct tarx_entry *e,
                     int is_symlink)
{
    if (need_chown(ctx, e) && fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return tarx_fail_errno(ctx, errno, "%s: lchown %u:%u", e->path, e->uid, e->gid);
    /* fchmodat follows symlinks; the node was created by us an instant ago */
    if (!is_symlink && need_chmod(ctx, e->mode) && fchmodat(pfd, name, e->mode, 0) < 0)
        return tarx_fail_errno(ctx, errno, "%s: chmod %o", e->path, e->mode);
    if (e->nxattrs && set_xattrs_at(ctx, pfd, name, e, is_symlink) < 0)
        return -1;
    struct timespec ts[2] = {{0, UTIME_OMIT}, e->mtime};
    if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return tarx_fail_errno(ctx, errno, "%s: setting mtime", e->path);
    return 0;
}

static int create_file(struct tarx_ctx *ctx, int pfd, const char *name, struct tarx_entry *e)
{
    int flags = O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(pfd, name, flags, e->mode & 0777);
    if (fd < 0 && errno == EEXIST) {
        if (clear_slot(ctx, pfd, name, e->path, 0) < 0)
            return -1;
        fd = openat(pfd, name, flags, e->mode & 0777);
    }
    if (fd < 0)
        return tarx_fail_errno(ctx, errno, "%s: create", e->path);
    if (!ctx->fileq_tried) {
        ctx->fileq_tried = 1;
        /* NULL: files are written on this thread */
        ctx->fileq = tarx_fileq_start(ctx->opts.content_digests);
    }
    if (ctx->fileq &&
        tarx_fileq_begin(ctx, ctx->fileq, fd, e, need_chown(ctx, e), need_chmod(ctx, e->mode)) < 0)
        return -1;
    ctx->out_fd = ctx->fileq ? -1 : fd;
    ctx->sink = SINK_FILE;
    return 0;
}

int tarx_write_data(struct tarx_ctx *ctx, const char *p, size_t n)
{
    if (ctx->fileq) {
        ctx->stats.file_bytes += n;
        return tarx_fileq_write(ctx, ctx->fileq, p, n, ctx->remaining);
    }
    while (n) {
        ssize_t w = write(ctx->out_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return tarx_fail_errno(ctx, errno, "%s: write", ctx->entry.path);
        }
        p += w;
        n -= (size_t)w;
        ctx->stats.file_bytes += (uint64_t)w;
    }
    return 0;
}

int tarx_end_file(struct tarx_ctx *ctx)
{
    if (ctx->sink != SINK_FILE)
        return 0;
    struct tarx_entry *e = &ctx->entry;
    ctx->sink = SINK_SKIP;
    if (ctx->fileq) {
        ctx->stats.files++;
        return tarx_fileq_end(ctx, ctx->fileq);
    }
    int fd = ctx->out_fd;
    ctx->out_fd = -1;
    struct timespec ts[2] = {{0, UTIME_OMIT}, e->mtime};
    if (finish_fd(ctx, fd, e, 1) < 0 || futimens(fd, ts) < 0) {
        if (!ctx->failed)
            tarx_fail_errno(ctx, errno, "%s: setting mtime", e->path);
        close(fd);
        return -1;
    }
    if (close(fd) < 0)
        return tarx_fail_errno(ctx, errno, "%s: close", e->path);
    ctx->stats.files++;
    return 0;
}

static int add_dirtime(struct tarx_ctx *ctx, const char *path, struct timespec mtime, int fix)
{
    if (ctx->ndirtimes == ctx->capdirtimes) {
        size_t cap = ctx->capdirtimes ? ctx->capdirtimes * 2 : 256;
        struct tarx_dirtime *d = realloc(ctx->dirtimes, cap * sizeof *d);
        if (!d)
            return tarx_fail(ctx, "out of memory");
        ctx->dirtimes = d;
        ctx->capdirtimes = cap;
    }
    char *p = strdup(path);
    if (!p)
        return tarx_fail(ctx, "out of memory");
    ctx->dirtimes[ctx->ndirtimes++] = (struct tarx_dirtime){p, mtime, fix};
    return 0;
}

static int create_dir(struct tarx_ctx *ctx, int pfd, const char *name, struct tarx_entry *e)
{
    /* without CAP_DAC_OVERRIDE a 0555 directory could not be filled: apply such modes last */
    int defer = ctx->euid != 0 && (e->mode & 0700) != 0700;
    mode_t cmode = (e->mode & 0777) | (defer ? 0700 : 0);
    /* a kept directory has its old mode; mkdir in a setgid directory adds S_ISGID */
    int force = ctx->parent_gid != ctx->egid;
    if (mkdirat(pfd, name, cmode) < 0) {
        if (errno != EEXIST)
            return tarx_fail_errno(ctx, errno, "%s: mkdir", e->path);
        int r = clear_slot(ctx, pfd, name, e->path, 1);
        if (r < 0)
            return -1;
        if (r == 0 && mkdirat(pfd, name, cmode) < 0)
            return tarx_fail_errno(ctx, errno, "%s: mkdir", e->path);
        force |= r == 1;
    }
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return tarx_fail_errno(ctx, errno, "%s: open directory", e->path);
    if (finish_fd(ctx, fd, e, defer ? 0 : force ? 2 : 1) < 0) {
        close(fd);
        return -1;
    }
    if (add_dirtime(ctx, e->path, e->mtime, defer ? (int)e->mode : -1) < 0) {
        close(fd);
        return -1;
    }
    /* the next entries are most likely inside this directory */
    gid_t g = (e->mode & S_ISGID) ? e->gid : ctx->egid;
    return set_parent(ctx, e->path, strlen(e->path), fd, g) < 0 ? -1 : 0;
}

static int create_symlink(struct tarx_ctx *ctx, int pfd, const char *name, struct tarx_entry *e)
{
    if (symlinkat(e->link, pfd, name) < 0) {
        if (errno != EEXIST)
            return tarx_fail_errno(ctx, errno, "%s: symlink", e->path);
        if (clear_slot(ctx, pfd, name, e->path, 0) < 0)
            return -1;
        if (symlinkat(e->link, pfd, name) < 0)
            return tarx_fail_errno(ctx, errno, "%s: symlink", e->path);
    }
    return finish_at(ctx, pfd, name, e, 1);
}

static int is_safe_device(const struct tarx_entry *e)
{
    static const unsigned safe[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9},
                                       {5, 0}, {5, 1}, {5, 2}};
    if (e->type != '3')
        return 0; /* no block device is safe */
    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (e->devmajor == safe[i][0] && e->devminor == safe[i][1])
            return 1;
    return 0;
}

static int create_node(struct tarx_ctx *ctx, int pfd, const char *name, struct tarx_entry *e)
{
    mode_t kind = e->type == '6' ? S_IFIFO : e->type == '3' ? S_IFCHR : S_IFBLK;
    if (kind != S_IFIFO && !is_safe_device(e)) {
        ctx->stats.skipped_devices++;
        return 0;
    }
    dev_t dev = makedev(e->devmajor, e->devminor);
    if (mknodat(pfd, name, kind | (e->mode & 0777), dev) < 0) {
        if (errno == EPERM && kind != S_IFIFO) {
            ctx->stats.skipped_devices++; /* unprivileged: cannot create any device */
            return 0;
        }
        if (errno != EEXIST)
            return tarx_fail_errno(ctx, errno, "%s: mknod", e->path);
        if (clear_slot(ctx, pfd, name, e->path, 0) < 0)
            return -1;
        if (mknodat(pfd, name, kind | (e->mode & 0777), dev) < 0)
            return tarx_fail_errno(ctx, errno, "%s: mknod", e->path);
    }
    return finish_at(ctx, pfd, name, e, 0);
}

static int create_hardlink(struct tarx_ctx *ctx, int pfd, const char *name, struct tarx_entry *e,
                           const char *target)
{
    if (!strcmp(target, e->path))
        return 0;
    const char *slash = strrchr(target, '/');
    const char *tname = slash ? slash + 1 : target;
    int tfd;
    if (slash) {
        char *tdir = strndup(target, slash - target);
        if (!tdir)
            return tarx_fail(ctx, "out of memory");
        tfd = tarx_open_dir_in_root(ctx->tree_fd, tdir, O_PATH);
        free(tdir);
    } else {
        tfd = dup(ctx->tree_fd);
    }
    if (tfd < 0) {
        if (errno == ENOENT && ctx->nwhitelist)
            return 0; /* the target was not whitelisted */
        return tarx_fail_errno(ctx, errno, "%s: hardlink target \"%s\"", e->path, target);
    }
    /* flags 0: a target that is a symlink is linked itself, never followed */
    int r = linkat(tfd, tname, pfd, name, 0);
    if (r < 0 && errno == EEXIST) {
        struct stat a, b;
        if (fstatat(tfd, tname, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
            fstatat(pfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            close(tfd);
            return 0;
        }
        if (clear_slot(ctx, pfd, name, e->path, 0) < 0) {
            close(tfd);
            return -1;
        }
        r = linkat(tfd, tname, pfd, name, 0);
    }
    int saved = errno;
    close(tfd);
    if (r < 0) {
        if (saved == ENOENT && ctx->nwhitelist)
            return 0;
        return tarx_fail_errno(ctx, saved, "%s: hardlink to \"%s\"", e->path, target);
    }
    return 0;
}

/* ".wh.NAME" deletes NAME from the tree; ".wh..wh..opq" empties its directory. Removal
   never follows symlinks, and pfd (the parent) survives: only its children go. */
static int apply_whiteout(struct tarx_ctx *ctx, int pfd, const char *name, const char *path)
{
    const char *victim = name + 4;
    if (!strcmp(victim, ".wh..opq")) {
        int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return tarx_fail_errno(ctx, errno, "%s: opening directory for opaque whiteout",
                                   path);
        int r = tarx_empty_dir(fd);
        int saved = errno;
        close(fd);
        if (r < 0)
            return tarx_fail_errno(ctx, saved, "%s: applying opaque whiteout", path);
        return 0;
    }
    if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
        return tarx_fail(ctx, "%s: invalid whiteout", path);
    size_t dl = name - path;
    char *vpath = malloc(dl + strlen(victim) + 1);
    if (!vpath)
        return tarx_fail(ctx, "out of memory");
    memcpy(vpath, path, dl);
    strcpy(vpath + dl, victim);
    forget_under(ctx, vpath);
    free(vpath);
    if (tarx_remove_at(pfd, victim) < 0)
        return tarx_fail_errno(ctx, errno, "%s: applying whiteout", path);
    return 0;
}

/* The path of an archive entry relative to the tree: NULL when it lies outside
   keep_prefix, "" for the prefix directory itself. */
static const char *tree_rel(struct tarx_ctx *ctx, const char *path)
{
    size_t pl = ctx->keep_prefix_len;
    if (!pl)
        return path;
    if (strncmp(path, ctx->keep_prefix, pl) || (path[pl] && path[pl] != '/'))
        return NULL;
    return path[pl] ? path + pl + 1 : path + pl;
}

/* Creates and opens root/keep_prefix (unstripped mode), the "/" of every later entry, so
   an absolute symlink in rootfs/ means rootfs/ and not the directory around it. `e` is the
   prefix directory's own entry, or NULL when an entry below it comes first. */
static int open_tree(struct tarx_ctx *ctx, const struct tarx_entry *e)
{
    const char *pre = ctx->keep_prefix;
    if (ctx->tree_fd < 0) {
        if (mkdirat(ctx->root_fd, pre, e ? (e->mode & 0777) : 0755) < 0 && errno != EEXIST)
            return tarx_fail_errno(ctx, errno, "%s: mkdir", pre);
        ctx->tree_fd = openat(ctx->root_fd, pre, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ctx->tree_fd < 0)
            return tarx_fail_errno(ctx, errno, "%s: open", pre);
    }
    if (!e || ctx->tree_fd == ctx->root_fd)
        return 0;
    if (ctx->apply_owner && fchown(ctx->tree_fd, e->uid, e->gid) < 0)
        return tarx_fail_errno(ctx, errno, "%s: fchown", pre);
    if (fchmod(ctx->tree_fd, e->mode) < 0)
        return tarx_fail_errno(ctx, errno, "%s: fchmod", pre);
    return add_dirtime(ctx, "", e->mtime, -1);
}

int tarx_begin_entry(struct tarx_ctx *ctx, struct tarx_entry *e)
{
    ctx->sink = SINK_SKIP;
    if (ctx->opts.aci && !strcmp(e->path, "manifest")) {
        if (e->type != '0')
            return tarx_fail(ctx, "manifest: not a regular file");
        if (ctx->have_manifest)
            return tarx_fail(ctx, "manifest: duplicate entry in the image");
        if (e->size > ctx->opts.manifest_max)
            return tarx_fail(ctx, "manifest: larger than %zu bytes", ctx->opts.manifest_max);
        ctx->have_manifest = 1;
        ctx->manifest.len = 0;
        ctx->sink = SINK_MANIFEST;
        return 0;
    }
    const char *rel = tree_rel(ctx, e->path);
    if (!rel) {
        ctx->stats.ignored++; /* outside rootfs/: not part of the image's tree */
        return 0;
    }
    int is_dir = e->type == '5' || e->type == 'D';
    /* rootfs/ is there once anything is: image builders do not all write its own entry,
       and tar itself creates missing parents */
    ctx->seen_prefix_dir = 1;
    if (ctx->opts.uid_shift || ctx->opts.gid_shift) {
        if ((uint64_t)e->uid + ctx->opts.uid_shift > UINT32_MAX - 1 ||
            (uint64_t)e->gid + ctx->opts.gid_shift > UINT32_MAX - 1)
            return tarx_fail(ctx, "%s: owner out of range after shift", e->path);
        e->uid += ctx->opts.uid_shift;
        e->gid += ctx->opts.gid_shift;
    }
    if (!*rel) {
        if (ctx->keep_prefix_len) {
            if (!is_dir)
                return tarx_fail(ctx, "%s: not a directory", e->path);
            if (!ctx->opts.list_only)
                return open_tree(ctx, e);
        }
        return 0; /* the root directory itself keeps the caller's metadata */
    }
    if (ctx->opts.list_only)
        return 0;
    if (ctx->tree_fd < 0 && open_tree(ctx, NULL) < 0)
        return -1;
    if (!tarx_whitelisted(ctx, rel, is_dir)) {
        ctx->stats.ignored++;
        return 0;
    }
    const char *target = NULL;
    if (e->type == '1') {
        target = tree_rel(ctx, e->link);
        if (!target || !*target)
            return tarx_fail(ctx, "%s: hardlink target \"%s\" is outside the extracted tree",
                             e->path, e->link);
    }
    /* from here on e->path is relative to the tree, for messages and the directory list */
    if (rel != e->path)
        memmove(e->path, rel, strlen(rel) + 1);

    const char *slash = strrchr(e->path, '/');
    const char *name = slash ? slash + 1 : e->path;
    size_t dirlen = slash ? (size_t)(slash - e->path) : 0;
    int pfd = get_parent(ctx, e->path, dirlen);
    if (pfd < 0)
        return -1;

    if (ctx->opts.whiteouts && !strncmp(name, ".wh.", 4))
        return apply_whiteout(ctx, pfd, name, e->path);

    switch (e->type) {
    case '0':
        return create_file(ctx, pfd, name, e);
    case '5':
    case 'D':
        return create_dir(ctx, pfd, name, e);
    case '2':
        return create_symlink(ctx, pfd, name, e);
    case '1':
        return create_hardlink(ctx, pfd, name, e, target);
    case '3':
    case '4':
    case '6':
        return create_node(ctx, pfd, name, e);
    default:
        return tarx_fail(ctx, "%s: unsupported entry type '%c'", e->path, e->type);
    }
}

int tarx_finish_dirs(struct tarx_ctx *ctx)
{
    if (ctx->fileq && tarx_fileq_drain(ctx, ctx->fileq) < 0)
        return -1;
    tarx_close_parent(ctx);
    for (size_t i = 0; i < ctx->ndirtimes; i++) {
        struct tarx_dirtime *d = &ctx->dirtimes[i];
        int fd = tarx_open_dir_in_root(ctx->tree_fd, d->path, O_RDONLY | O_NOFOLLOW);
        if (fd < 0) {
            /* replaced or whited out by a later entry */
            if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
                continue;
            return tarx_fail_errno(ctx, errno, "%s: open directory", d->path);
        }
        struct timespec ts[2] = {{0, UTIME_OMIT}, d->mtime};
        int r = 0;
        if (d->fix_mode >= 0)
            r = fchmod(fd, (mode_t)d->fix_mode);
        if (r == 0)
            r = futimens(fd, ts);
        int saved = errno;
        close(fd);
        if (r < 0)
            return tarx_fail_errno(ctx, saved, "%s: setting directory mode/mtime", d->path);
    }
    return 0;
}
