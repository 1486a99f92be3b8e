#include "users.h"
#include "mounts.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool parse_id(const char *s, unsigned long *out)
{
    char *end;
    if (!*s || *s == '-')
        return false;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return !*end && !errno && *out < 0xffffffffUL;
}

static int owner_of(int rootfd, const char *path, struct stat *st)
{
    int fd = open_in_root(rootfd, path, O_PATH, 0, 0);
    if (fd < 0)
        return s1_error(errno, "stat %s in the app rootfs", path);
    int r = fstat(fd, st);
    int e = errno;
    close(fd);
    return r < 0 ? s1_error(e, "stat %s", path) : 0;
}

/* Field 3 (id) of the line whose field 1 is name, in a passwd/group file. */
static int lookup_db(int rootfd, const char *file, const char *name, unsigned long *id)
{
    int fd = open_in_root(rootfd, file, O_RDONLY, 0, 0);
    if (fd < 0)
        return s1_error(errno, "open %s in the app rootfs", file);
    size_t cap = 8192, n = 0;
    char *data = xmalloc(cap + 1);
    for (;;) {
        if (n == cap)
            data = realloc(data, (cap *= 2) + 1);
        ssize_t k = read(fd, data + n, cap - n);
        if (k <= 0)
            break;
        n += k;
    }
    data[n] = 0;
    close(fd);
    size_t nl = strlen(name);
    int ret = -1;
    for (char *line = data; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            char *f = strchr(line + nl + 1, ':'); /* after password */
            if (f) {
                char *end = strchr(f + 1, ':');
                if (end)
                    *end = 0;
                if (parse_id(f + 1, id)) {
                    ret = 0;
                    break;
                }
            }
        }
        line = next;
    }
    free(data);
    return ret;
}

int resolve_user(int rootfd, const char *user, uid_t *uid)
{
    unsigned long id;
    struct stat st;
    if (parse_id(user, &id)) {
        *uid = (uid_t) id;
        return 0;
    }
    if (user[0] == '/') {
        if (owner_of(rootfd, user, &st) < 0)
            return s1_error_wrap("user %s", user);
        *uid = st.st_uid;
        return 0;
    }
    if (lookup_db(rootfd, "/etc/passwd", user, &id) < 0)
        return s1_error(0, "unknown user \"%s\"", user);
    *uid = (uid_t) id;
    return 0;
}

int resolve_group(int rootfd, const char *group, gid_t *gid)
{
    unsigned long id;
    struct stat st;
    if (parse_id(group, &id)) {
        *gid = (gid_t) id;
        return 0;
    }
    if (group[0] == '/') {
        if (owner_of(rootfd, group, &st) < 0)
            return s1_error_wrap("group %s", group);
        *gid = st.st_gid;
        return 0;
    }
    if (lookup_db(rootfd, "/etc/group", group, &id) < 0)
        return s1_error(0, "unknown group \"%s\"", group);
    *gid = (gid_t) id;
    return 0;
}
