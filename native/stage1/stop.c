/* The stop entrypoint:  stop [--force] <uuid>   (cwd = the pod dir)
 * SIGTERM asks the pod's init for an orderly stop; --force sends SIGKILL, and
 * the pod's PID 1 dies with it (PR_SET_PDEATHSIG). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

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

/* Is the pod dir (our cwd) exclusively locked, as it is for the life of its stage1? */
static bool pod_dir_locked(void)
{
    int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool locked = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd); /* drops our shared lock, if we got it */
    return locked;
}

int main(int argc, char **argv)
{
    if (parse_go_flags(argc, argv, flags, on_flag, NULL) < 0)
        s1_die(254);
    char *data = NULL;
    /* The stage1 writes ppid once its apps are started; the apps may already be running
     * (and a caller may already have seen them) before that. While the pod dir is locked
     * its stage1 is alive: wait for ppid rather than report a stop that did nothing. */
    for (int waited_ms = 0;
         read_file_at(AT_FDCWD, "ppid", &data, NULL) < 0 && read_file_at(AT_FDCWD, "pid", &data, NULL) < 0;
         waited_ms += 10) {
        if (!pod_dir_locked())
            return 0; /* never started, or already gone: nothing to stop */
        if (waited_ms >= 30000) {
            s1_error(0, "the pod is locked but wrote no ppid or pid file in 30 s");
            s1_die(254);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pid_t pid = (pid_t) atoi(data);
    if (pid > 0 && kill(pid, force ? SIGKILL : SIGTERM) < 0 && errno != ESRCH) {
        s1_error(errno, "signal pid %d", (int) pid);
        s1_die(254);
    }
    return 0;
}
