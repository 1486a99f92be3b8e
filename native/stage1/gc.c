/* The gc entrypoint:  gc [--debug] [--local-config DIR] <uuid>   (cwd = the pod dir)
 * Cleans up whatever a pod left, even after its stage1 was killed: processes
 * and directories in the recorded cgroups, mounts below the pod directory,
 * and (later) network resources. */
#include "cgroups.h"
#include "network.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static const struct s1_flag flags[] = {{"debug", false}, {"local-config", true}, {NULL, false}};

static int on_flag(void *ctx, const char *name, const char *value)
{
    (void) ctx;
    (void) value;
    if (strcmp(name, "debug") == 0)
        s1_debug = true;
    return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
            *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

static int cmp_len_desc(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *) a), lb = strlen(*(char *const *) b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

static int unmount_below(const char *dir)
{
    int ret = 0;
    for (int round = 0; round < 8; round++) {
        char *mi;
        if (read_file_at(AT_FDCWD, "/proc/self/mountinfo", &mi, NULL) < 0)
            return -1;
        size_t n = 0, cap = 16;
        char **targets = xcalloc(cap, sizeof(char *));
        size_t dl = strlen(dir);
        char *save = NULL;
        for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char mnt[PATH_MAX];
            if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
                continue;
            unescape(mnt);
            if (strncmp(mnt, dir, dl) != 0 || (mnt[dl] != '/' && mnt[dl] != 0))
                continue;
            if (n + 1 >= cap)
                targets = realloc(targets, (cap *= 2) * sizeof(char *));
            targets[n++] = xstrdup(mnt);
        }
        free(mi);
        if (n == 0) {
            free(targets);
            return ret;
        }
        qsort(targets, n, sizeof(char *), cmp_len_desc);
        for (size_t i = 0; i < n; i++) {
            s1_debugf("unmounting %s", targets[i]);
            if (umount2(targets[i], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT) {
                s1_warn("unmount %s: %s", targets[i], strerror(errno));
                ret = -1;
            }
            free(targets[i]);
        }
        free(targets);
    }
    return ret;
}

int main(int argc, char **argv)
{
    if (parse_go_flags(argc, argv, flags, on_flag, NULL) < 0)
        s1_die(254);
    char dir[PATH_MAX];
    if (!getcwd(dir, sizeof dir)) {
        s1_error(errno, "getcwd");
        s1_die(254);
    }
    int podfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (podfd < 0) {
        s1_error(errno, "open the pod directory");
        s1_die(254);
    }
    int ret = 0;
    if (cgroups_remove_recorded(podfd) < 0)
        ret = 1;
    else
        unlinkat(podfd, CG_RECORD_FILE, 0);
    if (network_teardown(podfd) < 0) {
        fprintf(stderr, "stage1: %s\n", s1_last_error());
        ret = 1;
    }
    if (unmount_below(dir) < 0)
        ret = 1;
    return ret;
}
