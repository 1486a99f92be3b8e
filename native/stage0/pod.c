/* Create the pod and exec its stage1: the steps of prepare_pod, Pod.to_run and launch in
 * rktfast/stage1/stage0.py and podfs.py, in the same order and with the same modes, so the
 * pod directory is the one the Python stage0 makes (SPEC §3 "Pod directory", §4, §5). */
#include "stage0.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static const char *const POD_DIRS[] = {"embryo", "prepare", "prepared", "run", "exited-garbage",
                                       "garbage", NULL};

/* os.makedirs(path, mode, exist_ok=True): missing parents get 0777, the leaf `mode` (both
 * minus the umask).  Pod paths only: they are ours, or the trusted stage1's. */
static int makedirs(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0)
        return 0;
    if (errno == EEXIST) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : (errno = EEXIST, -1);
    }
    if (errno != ENOENT)
        return -1;
    char *parent = xstrdup(path), *slash = strrchr(parent, '/');
    int rc = -1;
    if (slash && slash != parent) {
        *slash = '\0';
        if (makedirs(parent, 0777) == 0)
            rc = mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
    }
    free(parent);
    return rc;
}

static void new_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        fail(errno, "error creating new pod");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* pods.new_pod: embryo/<uuid>, locked, renamed to prepare/ (not fsynced: either place is
 * garbage after a power loss).  Returns the locked directory fd. */
static int new_pod(const char *data_dir, char uuid[37])
{
    for (int i = 0; POD_DIRS[i]; i++) {
        char *d = xasprintf("%s/pods/%s", data_dir, POD_DIRS[i]);
        if (makedirs(d, 0750) < 0)
            fail(errno, "error creating new pod: %s", d);
        free(d);
    }
    new_uuid(uuid);
    char *embryo = xasprintf("%s/pods/embryo/%s", data_dir, uuid);
    char *prepare = xasprintf("%s/pods/prepare/%s", data_dir, uuid);
    if (mkdir(embryo, 0750) < 0)
        fail(errno, "error creating new pod");
    int fd = open(embryo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX) < 0 || rename(embryo, prepare) < 0) {
        int e = errno;
        rmdir(embryo);
        fail(e, "error creating new pod");
    }
    free(embryo);
    free(prepare);
    return fd;
}

/* pods.write_uuid_file: the UUID alone, mode 0644 (following a symlink, as Python's
 * open() does: the path is the user's own choice). */
static void save_uuid(const char *path, const char *uuid)
{
    size_t n = strlen(uuid);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || write(fd, uuid, n) != (ssize_t)n || close(fd) < 0 || chmod(path, 0644) < 0)
        fail(errno, "error saving pod UUID to file");
}

static void put(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
    char *path = xasprintf("%s/%s", dir, name);
    if (write_file(path, data, len, mode) < 0)
        fail(errno, "error setting up stage0: open %s", path);
    free(path);
}

/* prepare_pod for one app with overlays: the manifests and tree IDs, then the markers.
 * Under a shared prepareLock, so image gc does not remove a tree in between. */
static void prepare(const struct plan *p, const char *pod)
{
    const struct pod_app *app = &p->pod_app;
    char *locks = xasprintf("%s/locks", p->start.req->data_dir);
    char *lock_path = xasprintf("%s/prepareLock", locks);
    int lock = -1;
    if (makedirs(locks, 0750) < 0 ||
        (lock = open(lock_path, O_RDONLY | O_CREAT | O_CLOEXEC, 0640)) < 0 ||
        flock(lock, LOCK_SH) < 0)
        fail(errno, "error setting up stage0: cannot open lock %s", lock_path);
    char *appsinfo = xasprintf("%s/appsinfo", pod), *stage1 = xasprintf("%s/stage1", pod);
    char *info = xasprintf("%s/%s", appsinfo, app->name);
    if (makedirs(appsinfo, 0750) < 0 || makedirs(stage1, 0750) < 0)
        fail(errno, "error setting up stage0");
    put(stage1, "manifest", p->stage1->raw, p->stage1->raw_len, 0640);
    put(pod, "stage1TreeStoreID", p->stage1->tree_id, TREE_ID_LEN, 0640);
    if (makedirs(info, 0750) < 0)
        fail(errno, "error setting up stage0");
    put(info, "treeStoreID", app->tree_id, TREE_ID_LEN, 0640);
    put(info, "manifest", app->manifest, app->manifest_len, 0640);
    put(pod, "pod.lck", "", 0, 0600);
    put(pod, "pod", p->pod_manifest.p, p->pod_manifest.len, 0640);
    put(pod, "pod-created", "", 0, 0640);
    put(pod, "overlay-prepared", "", 0, 0640);
    close(lock);
    free(locks), free(lock_path), free(appsinfo), free(stage1), free(info);
}

/* mounts.mount_overlay: volatile (no syncs, cheap unmount) when the kernel has it. */
static int mount_overlay(const char *lower, const char *upper, const char *work,
                         const char *target)
{
    static int volatile_ok = -1;
    char *opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    char *vopts = xasprintf("%s,volatile", opts);
    int rc = -1;
    if (volatile_ok != 0) {
        rc = mount("overlay", target, "overlay", 0, vopts);
        volatile_ok = rc == 0;
    }
    if (rc < 0)
        rc = mount("overlay", target, "overlay", 0, opts);
    free(opts), free(vopts);
    return rc;
}

/* podfs._overlay: upper and work in <pod>/overlay/<tree id>/ (per app below them), the
 * mount point and upper with the mode of the rendered rootfs. */
static void overlay(const char *pod, const char *data_dir, const char *tree_id,
                    const char *target, const char *app)
{
    char *lower = xasprintf("%s/cas/tree/%s/rootfs", data_dir, tree_id);
    char *dir = xasprintf("%s/overlay", pod);
    char *upper = app ? xasprintf("%s/%s/upper/%s", dir, tree_id, app)
                      : xasprintf("%s/%s/upper", dir, tree_id);
    char *work = app ? xasprintf("%s/%s/work/%s", dir, tree_id, app)
                     : xasprintf("%s/%s/work", dir, tree_id);
    struct stat st;
    if (stat(lower, &st) < 0)
        fail(errno, "error setting up stage1: stat %s", lower);
    mode_t mode = st.st_mode & 07777;
    if (makedirs(target, mode) < 0 || makedirs(dir, 0750) < 0 || makedirs(upper, 0777) < 0 ||
        chmod(upper, mode) < 0 || makedirs(work, 0750) < 0)
        fail(errno, "error setting up stage1");
    if (mount_overlay(lower, upper, work, target) < 0)
        fail(errno, "error setting up stage1: problem mounting overlay filesystem: mount %s",
             target);
    free(lower), free(dir), free(upper), free(work);
}

/* podfs.ensure_mtab: etc/mtab -> ../proc/self/mounts when the image has a real /etc
 * without one (never through a symlinked etc). */
static void ensure_mtab(const char *rootfs)
{
    char *etc = xasprintf("%s/etc", rootfs), *mtab = xasprintf("%s/etc/mtab", rootfs);
    struct stat st;
    if (lstat(etc, &st) == 0 && S_ISDIR(st.st_mode) && lstat(mtab, &st) < 0 &&
        errno == ENOENT && symlink("../proc/self/mounts", mtab) < 0)
        fail(errno, "error setting up stage1: symlink %s", mtab);
    free(etc), free(mtab);
}

/* podfs.setup_stage1 and setup_app: mount the overlays in the host mount namespace, where
 * they stay until gc or rm. */
static void setup(const struct start *s, const char *pod)
{
    const char *data = s->req->data_dir;
    char *rootfs = xasprintf("%s/stage1/rootfs", pod);
    overlay(pod, data, s->stage1_tree_id, rootfs, NULL);
    char *rkt = xasprintf("%s/rkt", rootfs), *status = xasprintf("%s/rkt/status", rootfs);
    struct stat st;
    if (stat(status, &st) < 0 || !S_ISDIR(st.st_mode) || lstat(rkt, &st) < 0 ||
        S_ISLNK(st.st_mode)) {
        if (makedirs(status, 0755) < 0)
            fail(errno, "error setting up stage1");
    }
    for (size_t i = 0; i < s->n_apps; i++) {
        const struct pod_app *app = &s->apps[i];
        char *ad = xasprintf("%s/opt/stage2/%s", rootfs, app->name);
        char *app_rootfs = xasprintf("%s/rootfs", ad);
        if (makedirs(ad, 0750) < 0)
            fail(errno, "error setting up stage1");
        put(ad, "manifest", app->manifest, app->manifest_len, 0640);
        overlay(pod, data, app->tree_id, app_rootfs, app->name);
        ensure_mtab(app_rootfs);
        free(ad), free(app_rootfs);
    }
    free(rootfs), free(rkt), free(status);
}

/* launch.run_args for what the native path supports. */
static char **run_args(const struct start *p, const char *pod, const char *uuid)
{
    const struct request *r = p->req;
    char **argv = xmalloc(12 * sizeof *argv);
    int n = 0;
    const char *ep = p->run_entrypoint;
    while (*ep == '/')
        ep++;
    argv[n++] = xasprintf("%s/stage1/rootfs/%s", pod, ep);
    argv[n++] = xasprintf("--net=%s", r->net);
    argv[n++] = xasprintf("--local-config=%s", r->local_config);
    if (r->hostname)
        argv[n++] = xasprintf("--hostname=%s", r->hostname);
    if (p->interface_version >= 3) {
        if (r->insecure_capabilities)
            argv[n++] = "--disable-capabilities-restriction";
        if (r->insecure_paths)
            argv[n++] = "--disable-paths";
        if (r->insecure_seccomp)
            argv[n++] = "--disable-seccomp";
    }
    argv[n++] = (char *)uuid;
    argv[n] = NULL;
    return argv;
}

/* launch.exec_run: the inherited environment plus RKT_LOCK_FD (the pod dir, locked, kept
 * open across the exec) and empty SELinux contexts unless set. */
static char **run_env(int lock_fd)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xmalloc((n + 4) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "RKT_LOCK_FD=", 12))
            env[k++] = environ[i];
    env[k++] = xasprintf("RKT_LOCK_FD=%d", lock_fd);
    if (!getenv("RKT_SELINUX_CONTEXT"))
        env[k++] = "RKT_SELINUX_CONTEXT=";
    if (!getenv("RKT_SELINUX_MOUNT_CONTEXT"))
        env[k++] = "RKT_SELINUX_MOUNT_CONTEXT=";
    env[k] = NULL;
    return env;
}

/* A well-formed tree store ID (it names a directory under cas/tree). */
int tree_id_ok(const char *s)
{
    return strlen(s) == TREE_ID_LEN && !strncmp(s, "deps-sha512-", 12) &&
           strspn(s + 12, "0123456789abcdef") == 64;
}

void start_pod(const struct start *s, const char *pod, const char *uuid, int lock_fd)
{
    setup(s, pod);
    char **argv = run_args(s, pod, uuid);
    char **env = run_env(lock_fd);
    store_close_for_exec(s->store);
    if (fcntl(lock_fd, F_SETFD, 0) < 0 || chdir(pod) < 0)
        fail(errno, "error execing init");
    fflush(NULL);
    execve(argv[0], argv, env);
    fail(errno, "error execing init");
}

void launch(struct plan *p)
{
    const char *data = p->start.req->data_dir;
    char uuid[37];
    int fd = new_pod(data, uuid);
    char *preparing = xasprintf("%s/pods/prepare/%s", data, uuid);
    if (p->start.req->uuid_file_save)
        save_uuid(p->start.req->uuid_file_save, uuid);
    prepare(p, preparing);

    /* Pod.to_run: still holding the lock; not fsynced (the pod of `rkt run` is gone with a
     * power loss wherever its directory ends up) */
    char *pod = xasprintf("%s/pods/run/%s", data, uuid);
    if (rename(preparing, pod) < 0)
        fail(errno, "unable to transition to run: cannot move pod %s to run", uuid);
    start_pod(&p->start, pod, uuid, fd);
}
