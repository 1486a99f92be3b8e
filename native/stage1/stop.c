/* The stop entrypoint:  stop [--force] <uuid>   (cwd = the pod dir)
 * SIGTERM asks the pod's init for an orderly stop; --force sends SIGKILL, and
 * the pod's PID 1 dies with it (PR_SET_PDEATHSIG). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static bool force;
static const struct s1_flag flags[] = {{"force", false}, {"debug", false}, {NULL, false}};

static int on_flag(void *ctx, const char *name, const char *value)
{
    (void) ctx;
    (void) value;
    if (strcmp(name, "force") == 0)
        force = true;
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_go_flags(argc, argv, flags, on_flag, NULL) < 0)
        s1_die(254);
    char *data = NULL;
    if (read_file_at(AT_FDCWD, "ppid", &data, NULL) < 0 && read_file_at(AT_FDCWD, "pid", &data, NULL) < 0)
        return 0; /* never started: nothing to stop */
    pid_t pid = (pid_t) atoi(data);
    if (pid > 0 && kill(pid, force ? SIGKILL : SIGTERM) < 0 && errno != ESRCH) {
        s1_error(errno, "signal pid %d", (int) pid);
        s1_die(254);
    }
    return 0;
}
