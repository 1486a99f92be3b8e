/* Filesystem primitives that stay inside the root: openat2 resolution and tree removal. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tarx_internal.h"

/* Opens directory `path` (relative, may be "") as if root_fd were "/": symlinks in the
   archive, absolute or full of "..", can never lead outside. Returns an fd or -1/errno. */
int tarx_open_dir_in_root(int root_fd, const char *path, int flags)
{
    if (!*path)
        path = ".";
    struct open_how how = {
        .flags = (uint64_t)(flags | O_DIRECTORY | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do
        fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    while (fd < 0 && errno == EAGAIN);
    return (int)fd;
}

/* Empties the directory open as fd, never following symlinks. */
int tarx_empty_dir(int fd)
{
    int dfd = dup(fd);
    if (dfd < 0)
        return -1;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    struct dirent *de;
    int ret = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (tarx_remove_at(fd, de->d_name) < 0) {
            ret = -1;
            break;
        }
    }
    int saved = errno;
    closedir(d);
    errno = saved;
    return ret;
}

/* rm -rf of one name inside dirfd; a symlink is removed, not followed. */
int tarx_remove_at(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = tarx_empty_dir(fd);
    int saved = errno;
    close(fd);
    if (r < 0) {
        errno = saved;
        return -1;
    }
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -1;
    return 0;
}
