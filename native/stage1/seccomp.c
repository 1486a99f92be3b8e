/* Seccomp filters from the appc retain/remove isolators (libseccomp).
 * Without an isolator an app gets the default whitelist, as rkt did; syscalls
 * outside a retain set kill the process unless an errno is given. */
#include "security.h"
#include "util.h"

#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Everything an ordinary program needs; left out: kernel modules, kexec, key
 * management, clock setting, swap, reboot, mount/namespace changes, bpf,
 * perf, ptrace-like process access, quotactl, accounting, raw I/O ports. */
static const char *const default_whitelist[] = {
    "_llseek", "_newselect", "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "chroot", "clock_getres",
    "clock_gettime", "clock_nanosleep", "clone", "clone3", "close", "close_range", "connect",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "execve",
    "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "fdatasync",
    "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstatfs",
    "fsync", "ftruncate", "futex", "futex_waitv", "futimesat", "get_robust_list", "get_thread_area",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname",
    "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
    "io_getevents", "io_pgetevents", "io_setup", "io_submit", "io_uring_enter",
    "io_uring_register", "io_uring_setup", "ioctl", "ioprio_get", "ioprio_set", "kill", "lchown",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "madvise", "membarrier", "memfd_create", "mincore", "mkdir", "mkdirat",
    "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "msgctl",
    "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep",
    "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
    "pidfd_getfd", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "send", "sendfile", "sendmmsg", "sendmsg", "sendto",
    "set_robust_list", "set_thread_area", "set_tid_address", "setdomainname", "setfsgid",
    "setfsuid", "setgid", "setgroups", "sethostname", "setitimer", "setpgid", "setpriority",
    "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setsid", "setsockopt",
    "setuid", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "socket", "socketpair", "splice", "stat", "statfs", "statx",
    "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill",
    "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime",
    "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate",
    "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "wait4",
    "waitid", "write", "writev", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self", NULL,
};

/* Obviously dangerous calls, for "remove" style filters. */
static const char *const default_blacklist[] = {
    "_sysctl", "acct", "add_key", "adjtimex", "bpf", "clock_adjtime", "clock_settime",
    "create_module", "delete_module", "fanotify_init", "finit_module", "get_kernel_syms",
    "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load",
    "keyctl", "lookup_dcookie", "mbind", "mount", "move_pages", "name_to_handle_at",
    "nfsservctl", "open_by_handle_at", "perf_event_open", "personality", "pivot_root",
    "process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot",
    "request_key", "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon",
    "sysfs", "syslog", "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat",
    "vhangup", "vm86", "vm86old", "fsopen", "fsmount", "fsconfig", "move_mount", "open_tree",
    "mount_setattr", NULL,
};

static int errno_from_name(const char *name)
{
    static const struct { const char *n; int v; } tab[] = {
        {"EPERM", EPERM}, {"ENOENT", ENOENT}, {"ESRCH", ESRCH}, {"EINTR", EINTR}, {"EIO", EIO},
        {"ENXIO", ENXIO}, {"E2BIG", E2BIG}, {"ENOEXEC", ENOEXEC}, {"EBADF", EBADF},
        {"ECHILD", ECHILD}, {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES},
        {"EFAULT", EFAULT}, {"EBUSY", EBUSY}, {"EEXIST", EEXIST}, {"ENODEV", ENODEV},
        {"EINVAL", EINVAL}, {"ENOSYS", ENOSYS}, {"ENOTSUP", ENOTSUP}, {"EROFS", EROFS},
    };
    if (!name || !*name)
        return -1;
    char *end;
    long v = strtol(name, &end, 10);
    if (!*end && v > 0 && v < 4096)
        return (int) v;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcasecmp(tab[i].n, name) == 0)
            return tab[i].v;
    return -2;
}

enum set_flag { SET_PLAIN, SET_ALL, SET_EMPTY };

static enum set_flag set_flag_of(char **set)
{
    for (char **s = set; s && *s; s++) {
        if (strcmp(*s, "@appc.io/all") == 0)
            return SET_ALL;
        if (strcmp(*s, "@appc.io/empty") == 0)
            return SET_EMPTY;
    }
    return SET_PLAIN;
}

bool seccomp_wanted(const struct isolators *iso, bool disabled)
{
    if (disabled)
        return false;
    return !(iso->seccomp == SECCOMP_RETAIN && set_flag_of(iso->seccomp_set) == SET_ALL);
}

static int add_names(scmp_filter_ctx ctx, uint32_t action, const char *const *names, bool strict)
{
    for (; *names; names++) {
        int nr = seccomp_syscall_resolve_name(*names);
        if (nr == __NR_SCMP_ERROR) {
            if (strict)
                return s1_error(0, "seccomp: unknown syscall \"%s\"", *names);
            continue;
        }
        int r = seccomp_rule_add(ctx, action, nr, 0);
        if (r < 0 && r != -EEXIST)
            return s1_error(-r, "seccomp: add rule for %s", *names);
    }
    return 0;
}

static int add_set(scmp_filter_ctx ctx, uint32_t action, char **set)
{
    for (char **s = set; *s; s++) {
        const char *n = *s;
        if (n[0] != '@') {
            const char *one[] = {n, NULL};
            if (add_names(ctx, action, one, true) < 0)
                return -1;
        } else if (strcmp(n, "@rkt/default-whitelist") == 0 ||
                   strcmp(n, "@docker/default-whitelist") == 0 ||
                   strcmp(n, "@systemd/default-whitelist") == 0) {
            if (add_names(ctx, action, default_whitelist, false) < 0)
                return -1;
        } else if (strcmp(n, "@rkt/default-blacklist") == 0 ||
                   strcmp(n, "@docker/default-blacklist") == 0) {
            if (add_names(ctx, action, default_blacklist, false) < 0)
                return -1;
        } else if (strncmp(n, "@appc.io/", 9) != 0) {
            return s1_error(0, "seccomp: unsupported wildcard \"%s\"", n);
        }
    }
    return 0;
}

/* Build the app's filter now (the expensive part: BPF generation by
 * libseccomp) into *prog; prog->len == 0 when no filter applies. */
int seccomp_build(const struct isolators *iso, bool disabled, struct sock_fprog *prog)
{
    prog->len = 0;
    prog->filter = NULL;
    if (!seccomp_wanted(iso, disabled))
        return 0;
    int err = errno_from_name(iso->seccomp_errno);
    if (err == -2)
        return s1_error(0, "seccomp: unknown errno \"%s\"", iso->seccomp_errno);
    uint32_t deny = err > 0 ? SCMP_ACT_ERRNO((uint32_t) err) : SCMP_ACT_KILL_PROCESS;
    enum set_flag flag = set_flag_of(iso->seccomp_set);
    bool whitelist = iso->seccomp == SECCOMP_NONE || iso->seccomp == SECCOMP_RETAIN ||
                     (iso->seccomp == SECCOMP_REMOVE && flag == SET_EMPTY);
    bool default_list = iso->seccomp == SECCOMP_NONE || flag == SET_EMPTY ||
                        !iso->seccomp_set || !iso->seccomp_set[0];

    scmp_filter_ctx ctx = seccomp_init(whitelist ? deny : SCMP_ACT_ALLOW);
    if (!ctx)
        return s1_error(0, "seccomp: init failed");
    int ret;
    if (whitelist) {
        ret = default_list ? add_names(ctx, SCMP_ACT_ALLOW, default_whitelist, false)
                           : add_set(ctx, SCMP_ACT_ALLOW, iso->seccomp_set);
        /* stage1 itself still has to set the final capabilities and exec the app */
        static const char *const needed[] = {"execve", "exit_group", "capset", NULL};
        if (ret == 0)
            ret = add_names(ctx, SCMP_ACT_ALLOW, needed, false);
    } else {
        ret = add_set(ctx, deny, iso->seccomp_set);
    }
    if (ret == 0) {
        /* libseccomp 2.5 exports to an fd only */
        int mfd = memfd_create("seccomp", MFD_CLOEXEC);
        int r = mfd < 0 ? -errno : seccomp_export_bpf(ctx, mfd);
        off_t size = r == 0 ? lseek(mfd, 0, SEEK_END) : -1;
        if (r < 0 || size <= 0) {
            ret = s1_error(r < 0 ? -r : EIO, "seccomp: export filter");
        } else {
            prog->filter = xmalloc((size_t) size);
            if (pread(mfd, prog->filter, (size_t) size, 0) != size)
                ret = s1_error(errno, "seccomp: read filter");
            prog->len = (unsigned short) ((size_t) size / sizeof(struct sock_filter));
        }
        if (mfd >= 0)
            close(mfd);
    }
    seccomp_release(ctx);
    return ret;
}

int seccomp_install(const struct sock_fprog *prog)
{
    if (prog->len == 0)
        return 0;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
        return s1_error(errno, "seccomp: load filter");
    return 0;
}
