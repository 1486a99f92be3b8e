/* cgroup setup and teardown.  Layout on each hierarchy, below the cgroup the
 * stage1 was started in:  machine.slice/machine-rkt\x2d<uuid>.scope/  (the pod)
 *   ├─ init.scope/                   (v2 only: the pod's PID 1, leaf rule)
 *   └─ system.slice/<app>.service/   (one per app, limits applied here)
 * On v1 the pod's PID 1 lives in the pod cgroup itself. */
#include "cgroups.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static bool want_v1(const char *opts, struct cg_hier *h)
{
    /* cpuset needs cpus/mems copied into every new cgroup; no isolator uses it. */
    static const char *wanted[] = {"memory", "cpu", "cpuacct", "pids", "devices", "freezer",
                                   "blkio", "name=systemd", NULL};
    bool any = false;
    char *copy = xstrdup(opts), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "cpuset") == 0) {
            free(copy);
            return false;
        }
        for (int i = 0; wanted[i]; i++)
            if (strcmp(t, wanted[i]) == 0)
                any = true;
        if (strcmp(t, "memory") == 0)
            h->memory = true;
        if (strcmp(t, "cpu") == 0)
            h->cpu = true;
        if (strcmp(t, "devices") == 0)
            h->devices = true;
    }
    free(copy);
    return any;
}

/* Our own cgroup in the hierarchy whose v1 options (or "" for v2) are given. */
static char *own_cgroup(const char *procself, const char *opts, bool v2)
{
    char *line = (char *) procself;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t) (nl - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int) len, line);
        char *c1 = strchr(buf, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2) {
            *c2 = 0;
            const char *ctrls = c1 + 1;
            if (v2 ? ctrls[0] == 0 && strncmp(buf, "0", 1) == 0 : ctrls[0] && strcmp(ctrls, opts) == 0)
                return xstrdup(c2 + 1);
        }
        line = nl ? nl + 1 : NULL;
    }
    return xstrdup("/");
}

/* Add the hierarchy mounted at `mnt` (v1 controllers `ctrls`, or v2) to the plan. */
static void add_hierarchy(struct cgroups *cg, const char *self, const char *mnt,
                          const char *ctrls, bool v2, struct cg_hier h)
{
    char *base = own_cgroup(self, ctrls, v2);
    if (v2) {
        char *ctl = NULL, *p = xasprintf("%s%s/cgroup.controllers", mnt, base);
        if (read_file_at(AT_FDCWD, p, &ctl, NULL) == 0) {
            h.memory = strstr(ctl, "memory") != NULL;
            h.cpu = strstr(ctl, "cpu") != NULL;
            free(ctl);
        }
        free(p);
    }
    h.v2 = v2;
    h.mountpoint = xstrdup(mnt);
    h.pod_path = xasprintf("%s%s", mnt, strcmp(base, "/") == 0 ? "" : base);
    free(base);
    cg->h[cg->n++] = h;
}

static bool is_fs(const char *path, unsigned long magic)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (unsigned long) sf.f_type == magic;
}

static bool exists_at(const char *dir, const char *rel)
{
    char *p = xasprintf("%s/%s", dir, rel);
    bool ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

/* The usual layout, found without /proc/self/mountinfo, whose text grows with every
 * mount on the host (each running pod adds overlay mounts with long options) and took
 * ~3 ms to produce with 150 mounts.  Every hierarchy of /proc/self/cgroup must be at
 * /sys/fs/cgroup/<controllers> (v1; "name=systemd" at .../systemd) or at
 * /sys/fs/cgroup/unified or /sys/fs/cgroup (v2): a cgroup filesystem of that version
 * holding our own cgroup, and for the controllers isolators use, their files.
 * Returns -1 for anything else; the caller then reads mountinfo. */
static int find_hierarchies_usual(struct cgroups *cg, const char *self)
{
    static const struct { const char *ctrl, *file; } files[] = {
        {"memory", "memory.limit_in_bytes"}, {"cpu", "cpu.shares"},
        {"cpuacct", "cpuacct.usage"}, {"devices", "devices.allow"}, {NULL, NULL}};
    char *copy = xstrdup(self), *save = NULL;
    int ret = 0;
    for (char *line = strtok_r(copy, "\n", &save); line && ret == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || cg->n >= CG_MAX_HIER) {
            ret = -1;
            break;
        }
        *c2 = 0;
        const char *ctrls = c1 + 1, *path = c2 + 1;
        bool v2 = ctrls[0] == 0;
        struct cg_hier h = {0};
        if (!v2 && !want_v1(ctrls, &h))
            continue;
        char *mnt = NULL;
        if (v2) {
            static const char *places[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup", NULL};
            for (int i = 0; places[i] && !mnt; i++)
                if (is_fs(places[i], 0x63677270 /* CGROUP2_SUPER_MAGIC */))
                    mnt = xstrdup(places[i]);
        } else {
            const char *name = strncmp(ctrls, "name=", 5) == 0 ? ctrls + 5 : ctrls;
            mnt = xasprintf("/sys/fs/cgroup/%s", name);
            if (!is_fs(mnt, 0x27e0eb /* CGROUP_SUPER_MAGIC */)) {
                free(mnt);
                mnt = NULL;
            }
        }
        bool ok = mnt && (strcmp(path, "/") == 0 || exists_at(mnt, path + 1));
        for (int i = 0; ok && !v2 && files[i].ctrl; i++) {
            char *list = xasprintf(",%s,", ctrls), *want = xasprintf(",%s,", files[i].ctrl);
            if (strstr(list, want) && !exists_at(mnt, files[i].file))
                ok = false;
            free(list);
            free(want);
        }
        if (ok)
            add_hierarchy(cg, self, mnt, v2 ? "" : ctrls, v2, h);
        else
            ret = -1;
        free(mnt);
    }
    free(copy);
    if (ret < 0) {
        for (size_t i = 0; i < cg->n; i++) {
            free(cg->h[i].mountpoint);
            free(cg->h[i].pod_path);
        }
        cg->n = 0;
    }
    return ret;
}

static int find_hierarchies(struct cgroups *cg)
{
    char *mi, *self;
    if (read_file_at(AT_FDCWD, "/proc/self/cgroup", &self, NULL) < 0)
        return -1;
    if (find_hierarchies_usual(cg, self) == 0) {
        free(self);
        return 0;
    }
    s1_debugf("cgroups: not the usual layout, reading mountinfo");
    if (read_file_at(AT_FDCWD, "/proc/self/mountinfo", &mi, NULL) < 0) {
        free(self);
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(mi, "\n", &save); line && cg->n < CG_MAX_HIER;
         line = strtok_r(NULL, "\n", &save)) {
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char fstype[32], source[256], super[512] = "";
        if (sscanf(sep + 3, "%31s %255s %511s", fstype, source, super) < 2)
            continue;
        bool v2 = strcmp(fstype, "cgroup2") == 0;
        if (!v2 && strcmp(fstype, "cgroup") != 0)
            continue;
        /* field 4 is the root inside the fs, field 5 the mount point */
        char root[1024], mnt[1024];
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) != 2 || strcmp(root, "/") != 0)
            continue;
        struct cg_hier h = {0};
        char ctrls[512] = "";
        if (!v2) {
            /* super options: rw,memory  or  rw,name=systemd */
            char *opts = strchr(super, ',') ? strchr(super, ',') + 1 : super;
            char *copy = xstrdup(opts), *s2 = NULL;
            for (char *t = strtok_r(copy, ",", &s2); t; t = strtok_r(NULL, ",", &s2)) {
                if (strcmp(t, "rw") == 0 || strcmp(t, "ro") == 0 || strncmp(t, "release_agent", 13) == 0 ||
                    strcmp(t, "clone_children") == 0 || strcmp(t, "noprefix") == 0 ||
                    strcmp(t, "xattr") == 0 || strcmp(t, "cpuset_v2_mode") == 0)
                    continue;
                if (ctrls[0])
                    strncat(ctrls, ",", sizeof ctrls - strlen(ctrls) - 1);
                strncat(ctrls, t, sizeof ctrls - strlen(ctrls) - 1);
            }
            free(copy);
            if (!want_v1(ctrls, &h))
                continue;
        }
        add_hierarchy(cg, self, mnt, ctrls, v2, h);
    }
    free(mi);
    free(self);
    return 0;
}

static int cg_write(int dirfd, const char *dirpath, const char *file, const char *value)
{
    int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return s1_error(errno, "open %s/%s", dirpath, file);
    ssize_t n = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    if (n < 0)
        return s1_error(e, "write \"%s\" to %s/%s", value, dirpath, file);
    return 0;
}

static int apply_devices(int fd, const char *path)
{
    /* Only the device nodes stage1 creates in /dev; ptmx usable but not mknod-able. */
    static const char *allow[] = {"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                                  "c 5:0 rwm", "c 5:1 rw",  "c 5:2 rw",  "c 136:* rw", "c 10:200 rwm",
                                  NULL};
    if (cg_write(fd, path, "devices.deny", "a") < 0)
        return -1;
    for (int i = 0; allow[i]; i++)
        if (cg_write(fd, path, "devices.allow", allow[i]) < 0)
            return -1;
    return 0;
}

static int apply_app_limits(struct cg_hier *h, int fd, const char *path, const struct isolators *iso)
{
    char v[64];
    if (h->memory && iso->memory_limit >= 0) {
        snprintf(v, sizeof v, "%lld", (long long) iso->memory_limit);
        if (cg_write(fd, path, h->v2 ? "memory.max" : "memory.limit_in_bytes", v) < 0)
            return -1;
        /* without this a limit only pushes the app into swap */
        if (h->v2)
            cg_write(fd, path, "memory.swap.max", "0");
        else
            cg_write(fd, path, "memory.memsw.limit_in_bytes", v);
    }
    if (h->cpu && iso->cpu_millicores >= 0) {
        long long quota = (long long) iso->cpu_millicores * 100; /* period 100 ms */
        if (quota < 1000)
            quota = 1000;
        if (h->v2)
            snprintf(v, sizeof v, "%lld 100000", quota);
        else
            snprintf(v, sizeof v, "%lld", quota);
        if (cg_write(fd, path, h->v2 ? "cpu.max" : "cpu.cfs_quota_us", v) < 0)
            return -1;
    }
    if (h->cpu && iso->cpu_shares >= 0) {
        long long s = iso->cpu_shares;
        if (h->v2) {
            long long w = s < 2 ? 1 : 1 + ((s - 2) * 9999) / 262142;
            snprintf(v, sizeof v, "%lld", w > 10000 ? 10000 : w);
        } else {
            snprintf(v, sizeof v, "%lld", s < 2 ? 2 : s);
        }
        if (cg_write(fd, path, h->v2 ? "cpu.weight" : "cpu.shares", v) < 0)
            return -1;
    }
    return 0;
}

static int open_dir(const char *path)
{
    int fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return s1_error(errno, "open cgroup %s", path);
    return fd;
}

int cgroups_plan(struct cgroups *cg, const char *uuid, const struct pod_manifest *pm)
{
    memset(cg, 0, sizeof *cg);
    if (find_hierarchies(cg) < 0)
        return s1_error_wrap("finding cgroup hierarchies");
    cg->subcgroup = xasprintf("machine.slice/machine-rkt\\x2d%s.scope", uuid);
    cg->app_names = xcalloc(pm->n_apps + 1, sizeof(char *));
    cg->v2_init_fd = -1;
    cg->v2_app_fds = xcalloc(pm->n_apps + 1, sizeof(int));
    for (size_t a = 0; a < pm->n_apps; a++) {
        cg->app_names[a] = pm->apps[a].name;
        cg->v2_app_fds[a] = -1;
    }
    for (size_t i = 0; i < cg->n; i++) {
        struct cg_hier *h = &cg->h[i];
        char *full = xasprintf("%s/%s", h->pod_path, cg->subcgroup);
        free(h->pod_path);
        h->pod_path = full;
        h->pod_rel = xstrdup(full + strlen(h->mountpoint) + 1);
        h->root_fd = open(h->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (h->root_fd < 0)
            return s1_error(errno, "open cgroup hierarchy %s", h->mountpoint);
    }
    return 0;
}

int cgroups_create(struct cgroups *cg, const struct pod_manifest *pm, int podfd)
{
    /* record first: gc must find the cgroups even if we die half-way */
    size_t cap = 256, len = 0;
    char *rec = xmalloc(cap);
    rec[0] = 0;
    for (size_t i = 0; i < cg->n; i++) {
        size_t need = strlen(cg->h[i].pod_path) + 2;
        if (len + need >= cap) {
            cap = (len + need) * 2;
            rec = realloc(rec, cap);
        }
        len += (size_t) sprintf(rec + len, "%s\n", cg->h[i].pod_path);
    }
    if (write_file_atomic_at(podfd, CG_RECORD_FILE, rec, len, 0640) < 0) {
        free(rec);
        return s1_error_wrap("recording cgroups");
    }
    free(rec);

    bool want_mem = false;
    for (size_t a = 0; a < pm->n_apps; a++)
        want_mem |= pm->apps[a].iso.memory_limit >= 0;
    bool have_mem = false;

    for (size_t i = 0; i < cg->n; i++) {
        struct cg_hier *h = &cg->h[i];
        if (mkdir_p_at(AT_FDCWD, h->pod_path, 0755) < 0)
            return s1_error_wrap("creating pod cgroup");
        int pfd = open_dir(h->pod_path);
        if (pfd < 0)
            return -1;
        if (h->devices && apply_devices(pfd, h->pod_path) < 0) {
            close(pfd);
            return s1_error_wrap("restricting devices");
        }
        if (h->v2) {
            char ctl[64] = "";
            if (h->memory)
                strcat(ctl, "+memory ");
            if (h->cpu)
                strcat(ctl, "+cpu ");
            if (ctl[0]) {
                /* best effort: a parent holding processes refuses (EBUSY) */
                if (cg_write(pfd, h->pod_path, "cgroup.subtree_control", ctl) < 0) {
                    s1_debugf("%s", s1_last_error());
                    h->memory = h->cpu = false;
                }
            }
            if (mkdirat(pfd, "init.scope", 0755) < 0 && errno != EEXIST) {
                close(pfd);
                return s1_error(errno, "mkdir %s/init.scope", h->pod_path);
            }
            if (cg->v2_init_fd < 0)
                cg->v2_init_fd = openat(pfd, "init.scope", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        }
        if (mkdirat(pfd, "system.slice", 0755) < 0 && errno != EEXIST) {
            close(pfd);
            return s1_error(errno, "mkdir %s/system.slice", h->pod_path);
        }
        if (h->v2 && (h->memory || h->cpu)) {
            int sfd = openat(pfd, "system.slice", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
            if (sfd >= 0) {
                cg_write(sfd, h->pod_path, "cgroup.subtree_control",
                         h->memory && h->cpu ? "+memory +cpu" : h->memory ? "+memory" : "+cpu");
                close(sfd);
            }
        }
        have_mem |= h->memory;
        for (size_t a = 0; a < pm->n_apps; a++) {
            char *rel = xasprintf("system.slice/%s.service", pm->apps[a].name);
            char *abs = xasprintf("%s/%s", h->pod_path, rel);
            if (mkdirat(pfd, rel, 0755) < 0 && errno != EEXIST) {
                close(pfd);
                return s1_error(errno, "mkdir %s", abs);
            }
            int afd = openat(pfd, rel, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
            if (afd < 0) {
                close(pfd);
                return s1_error(errno, "open %s", abs);
            }
            int r = apply_app_limits(h, afd, abs, &pm->apps[a].iso);
            if (h->v2 && cg->v2_app_fds[a] < 0)
                cg->v2_app_fds[a] = afd;
            else
                close(afd);
            if (r < 0) {
                close(pfd);
                return s1_error_wrap("app %s", pm->apps[a].name);
            }
            free(rel);
            free(abs);
        }
        close(pfd);
    }
    if (want_mem && !have_mem)
        return s1_error(0, "resource/memory isolator: no cgroup hierarchy with the memory controller");
    return 0;
}

/* Move the calling process into <pod>/<rel> of one hierarchy.  On v1 it writes "0"
 * to `tasks`: moving only the caller (single-threaded here) skips the global
 * threadgroup lock, whose RCU grace period costs 7-15 ms per pod start, while a
 * write to cgroup.procs takes it.  v2 has no such door for domain cgroups: there
 * clone3(CLONE_INTO_CGROUP) is the fast way, and cgroup.procs the fallback. */
static int join_self(const struct cg_hier *h, const char *rel)
{
    char *path = xasprintf("%s/%s%s", h->pod_rel, rel, h->v2 ? "cgroup.procs" : "tasks");
    int fd = openat(h->root_fd, path, O_WRONLY | O_CLOEXEC);
    int ret = 0;
    if (fd < 0 || write(fd, "0", 1) < 0)
        ret = s1_error(errno, "join cgroup %s/%s%s", h->mountpoint, h->pod_rel, rel);
    if (fd >= 0)
        close(fd);
    free(path);
    return ret;
}

static int join_all(const struct cgroups *cg, const char *rel_v1, const char *rel_v2, bool in_v2)
{
    for (size_t i = 0; i < cg->n; i++) {
        const struct cg_hier *h = &cg->h[i];
        if (h->v2 && in_v2)
            continue;
        if (join_self(h, h->v2 ? rel_v2 : rel_v1) < 0)
            return -1;
    }
    return 0;
}

int cgroups_join_pod(const struct cgroups *cg, bool in_v2)
{
    return join_all(cg, "", "init.scope/", in_v2);
}

int cgroups_join_app(const struct cgroups *cg, size_t app, bool in_v2)
{
    char rel[512];
    snprintf(rel, sizeof rel, "system.slice/%s.service/", cg->app_names[app]);
    return join_all(cg, rel, rel, in_v2);
}

pid_t cgroups_clone_into(uint64_t flags, int cgfd, bool *in_v2)
{
    struct clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
    if (cgfd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t) cgfd;
        pid_t pid = (pid_t) syscall(SYS_clone3, &args, sizeof args);
        if (pid >= 0 || (errno != EINVAL && errno != E2BIG && errno != ENOSYS)) {
            *in_v2 = true;
            return pid;
        }
        args.flags = flags; /* an older kernel: join by writing instead */
        args.cgroup = 0;
    }
    *in_v2 = false;
    return (pid_t) syscall(SYS_clone3, &args, sizeof args);
}

/* Depth-first: kill what is inside, then rmdir the children and the dir. */
static int kill_and_remove(int parentfd, const char *name, const char *path)
{
    int fd = openat(parentfd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : s1_error(errno, "open cgroup %s", path);
    int dfd = dup(fd);
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int ret = 0;
    while (d && (e = readdir(d))) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *sub = xasprintf("%s/%s", path, e->d_name);
        if (kill_and_remove(fd, e->d_name, sub) < 0)
            ret = -1;
        free(sub);
    }
    if (d)
        closedir(d);
    for (int attempt = 0; attempt < 200; attempt++) {
        char *procs = NULL;
        int pfd = openat(fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
        if (pfd >= 0) {
            close(pfd);
            if (read_file_at(fd, "cgroup.procs", &procs, NULL) == 0) {
                for (char *p = procs; *p;) {
                    long pid = strtol(p, &p, 10);
                    if (pid > 0)
                        kill((pid_t) pid, SIGKILL);
                    while (*p == '\n')
                        p++;
                }
                free(procs);
            }
        }
        if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
            close(fd);
            return ret;
        }
        if (errno != EBUSY) {
            int err = errno;
            close(fd);
            return s1_error(err, "rmdir %s", path);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return s1_error(EBUSY, "rmdir %s", path);
}

int cgroups_remove(const struct cgroups *cg)
{
    int ret = 0;
    for (size_t i = 0; i < cg->n; i++)
        if (kill_and_remove(AT_FDCWD, cg->h[i].pod_path, cg->h[i].pod_path) < 0)
            ret = -1;
    return ret;
}

int cgroups_remove_recorded(int podfd)
{
    char *rec;
    if (faccessat(podfd, CG_RECORD_FILE, F_OK, 0) < 0 && errno == ENOENT)
        return 0;
    if (read_file_at(podfd, CG_RECORD_FILE, &rec, NULL) < 0)
        return -1;
    int ret = 0;
    char *save = NULL;
    for (char *line = strtok_r(rec, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] != '/' || !strstr(line, "/machine-rkt\\x2d"))
            continue; /* only ever remove what looks like ours */
        if (kill_and_remove(AT_FDCWD, line, line) < 0) {
            s1_warn("%s", s1_last_error());
            ret = -1;
        }
    }
    free(rec);
    return ret;
}
