#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "console.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define ESCAPE_CHAR 0x1d /* ^] */

int console_open(struct console *c)
{
    c->escapes = 0;
    c->raw = false;
    c->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (c->master < 0)
        return s1_error(errno, "open /dev/ptmx");
    if (grantpt(c->master) < 0 || unlockpt(c->master) < 0)
        return s1_error(errno, "unlock pty");
    char *name = ptsname(c->master);
    if (!name)
        return s1_error(errno, "ptsname");
    c->slave_path = xstrdup(name);
    c->slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (c->slave < 0)
        return s1_error(errno, "open %s", name);
    if (tcgetattr(STDIN_FILENO, &c->saved) == 0) {
        /* the pty starts with the user's settings, the user's tty goes raw */
        tcsetattr(c->slave, TCSANOW, &c->saved);
        struct termios raw = c->saved;
        cfmakeraw(&raw);
        raw.c_oflag = c->saved.c_oflag; /* keep output post-processing for our own messages */
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
            c->raw = true;
    }
    console_resize(c);
    return 0;
}

void console_restore(struct console *c)
{
    if (c->raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
        c->raw = false;
    }
}

void console_resize(struct console *c)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        ioctl(c->master, TIOCSWINSZ, &ws);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int console_from_user(struct console *c)
{
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return -1;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == ESCAPE_CHAR) {
            long long t = now_ms();
            if (c->escapes == 0 || t - c->first_escape_ms > 1000) {
                c->escapes = 0;
                c->first_escape_ms = t;
            }
            if (++c->escapes == 3)
                return 1;
        } else {
            c->escapes = 0;
        }
    }
    write_all(c->master, buf, (size_t) n);
    return 0;
}

int console_to_user(struct console *c)
{
    char buf[8192];
    ssize_t n = read(c->master, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return -1;
    write_all(STDOUT_FILENO, buf, (size_t) n);
    return 0;
}
