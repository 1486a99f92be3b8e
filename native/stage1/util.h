/* Shared helpers of the stage1 programs: errors, files, small strings. */
#ifndef S1_UTIL_H
#define S1_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Every failing function returns -1 after s1_error() recorded one line;
 * callers add context with s1_error_wrap() and main prints "stage1: <line>". */
int s1_error(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int s1_error_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *s1_last_error(void);
void s1_die(int status) __attribute__((noreturn));
void s1_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool s1_debug;
void s1_debugf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whole-file I/O relative to a directory fd (AT_FDCWD for cwd). */
int read_file_at(int dirfd, const char *path, char **out, size_t *len);
int write_file_at(int dirfd, const char *path, const char *data, size_t len, mode_t mode);
/* Atomic write: temp file + rename, so readers never see a partial file. */
int write_file_atomic_at(int dirfd, const char *path, const char *data, size_t len, mode_t mode);
int write_all(int fd, const void *buf, size_t len);

/* mkdir -p below dirfd (trusted paths only: the pod dir, cgroupfs). */
int mkdir_p_at(int dirfd, const char *path, mode_t mode);

/* Parse Go-flag style options: -x, --x, --x=v, --x v.  Returns the index of
 * the first positional argument; calls opt_cb(name, value or NULL, &used_next). */
struct s1_flag {
    const char *name;
    bool takes_value; /* false: boolean flag, value only as --x=v */
};
typedef int (*s1_flag_cb)(void *ctx, const char *name, const char *value);
int parse_go_flags(int argc, char **argv, const struct s1_flag *flags, s1_flag_cb cb, void *ctx);
extern const struct s1_flag s1_run_flags[];
bool parse_bool(const char *v, bool *out);

#endif
