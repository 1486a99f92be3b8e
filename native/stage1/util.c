/* Errors, file helpers and Go-style flag parsing shared by every stage1 program. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool s1_debug;
static char errbuf[2048];

int s1_error(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    if (errnum && n >= 0 && (size_t) n < sizeof errbuf)
        snprintf(errbuf + n, sizeof errbuf - n, ": %s", strerror(errnum));
    return -1;
}

int s1_error_wrap(const char *fmt, ...)
{
    char prefix[1024], old[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    snprintf(errbuf, sizeof errbuf, "%s: %s", prefix, old);
    return -1;
}

const char *s1_last_error(void) { return errbuf; }

void s1_die(int status)
{
    fprintf(stderr, "stage1: %s\n", errbuf);
    _exit(status);
}

void s1_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("stage1: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void s1_debugf(const char *fmt, ...)
{
    if (!s1_debug)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stage1[%d %ld.%06ld]: ", (int) getpid(), (long) ts.tv_sec % 1000, ts.tv_nsec / 1000);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("stage1: out of memory\n", stderr);
        _exit(254);
    }
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) {
        fputs("stage1: out of memory\n", stderr);
        _exit(254);
    }
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("stage1: out of memory\n", stderr);
        _exit(254);
    }
    return s;
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

int read_file_at(int dirfd, const char *path, char **out, size_t *len)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return s1_error(errno, "open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (!buf) {
                close(fd);
                return s1_error(ENOMEM, "read %s", path);
            }
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            free(buf);
            return s1_error(e, "read %s", path);
        }
        if (r == 0)
            break;
        n += r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int write_file_at(int dirfd, const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return s1_error(errno, "open %s", path);
    if (write_all(fd, data, len) < 0) {
        int e = errno;
        close(fd);
        return s1_error(e, "write %s", path);
    }
    if (close(fd) < 0)
        return s1_error(errno, "close %s", path);
    return 0;
}

int write_file_atomic_at(int dirfd, const char *path, const char *data, size_t len, mode_t mode)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int) getpid());
    if (write_file_at(dirfd, tmp, data, len, mode) < 0)
        return -1;
    if (renameat(dirfd, tmp, dirfd, path) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return s1_error(e, "rename %s", path);
    }
    return 0;
}

int mkdir_p_at(int dirfd, const char *path, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return s1_error(ENAMETOOLONG, "mkdir %s", path);
    /* the usual case, one syscall: only the last component is missing */
    if (mkdirat(dirfd, path, mode) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return s1_error(errno, "mkdir %s", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdirat(dirfd, buf, mode) < 0 && errno != EEXIST)
                return s1_error(errno, "mkdir %s", buf);
            *p = c;
            if (c == 0)
                break;
        }
    }
    return 0;
}

bool parse_bool(const char *v, bool *out)
{
    static const char *t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(v, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(v, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

int parse_go_flags(int argc, char **argv, const struct s1_flag *flags, s1_flag_cb cb, void *ctx)
{
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0)
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        const char *name = a + 1 + (a[1] == '-');
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t) (eq - name) : strlen(name);
        const struct s1_flag *f = NULL;
        for (const struct s1_flag *g = flags; g->name; g++)
            if (strlen(g->name) == nlen && strncmp(g->name, name, nlen) == 0)
                f = g;
        if (!f)
            return s1_error(0, "flag provided but not defined: -%.*s", (int) nlen, name);
        char fname[64];
        snprintf(fname, sizeof fname, "%.*s", (int) nlen, name);
        const char *value = eq ? eq + 1 : NULL;
        if (f->takes_value && !value) {
            if (i + 1 >= argc)
                return s1_error(0, "flag needs an argument: -%s", fname);
            value = argv[++i];
        }
        if (!f->takes_value && value) {
            bool b;
            if (!parse_bool(value, &b))
                return s1_error(0, "invalid boolean value \"%s\" for -%s", value, fname);
            if (!b) {
                i++;
                continue;
            }
            value = NULL;
        }
        if (cb(ctx, fname, value) < 0)
            return -1;
        i++;
    }
    return i;
}

/* The options stage0 passes to a stage1 `run` entrypoint (SPEC §5), for init and fly. */
const struct s1_flag s1_run_flags[] = {
    {"debug", false},         {"net", true},          {"interactive", false},
    {"private-users", true},  {"mds-token", true},    {"local-config", true},
    {"hostname", true},       {"dns-conf-mode", true}, {"disable-capabilities-restriction", false},
    {"disable-paths", false}, {"disable-seccomp", false}, {"mutable", false},
    {"ipc", true},            {NULL, false},
};
