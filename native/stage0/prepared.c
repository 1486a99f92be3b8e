/* `rkt run-prepared UUID`: a pod that `rkt prepare` made, started as
 * rktfast/cli/run_prepared.py starts it (Pod.to_run, then stage0.launch).
 *
 * Everything is read and checked, and the pod locked, before it moves to run/: a pod
 * without overlays (--no-overlay), with --private-users, a pod manifest or tree ID out of
 * the ordinary, a tree no longer rendered, or a pod another process holds all go to
 * Python untouched, which reports them as rkt does. */
#include "stage0.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char *read_in(const char *dir, const char *name, size_t *len)
{
    char *path = xasprintf("%s/%s", dir, name), *data;
    size_t n;
    int r = read_file(path, &data, &n);
    free(path);
    if (r < 0)
        return NULL;
    if (len)
        *len = n;
    return data;
}

static bool exists_in(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    bool ok = access(path, F_OK) == 0;
    free(path);
    return ok;
}

/* A tree ID file (read and stripped as Pod.read_text(...).strip() does), naming a
 * rendered tree; NULL otherwise. */
static char *read_tree_id(const char *data_dir, const char *dir, const char *name)
{
    char *s = read_in(dir, name, NULL);
    if (!s)
        return NULL;
    char *start = s + strspn(s, " \t\r\n");
    size_t n = strlen(start);
    while (n && strchr(" \t\r\n", start[n - 1]))
        n--;
    start[n] = '\0';
    char *id = tree_id_ok(start) && tree_rendered(data_dir, start) ? xstrdup(start) : NULL;
    free(s);
    return id;
}

/* Pod.app_names: the "name" of each entry of the pod manifest's "apps" (exact keys, as
 * the Python reads them), each an ACName since it names directories. */
static int app_names(const char *pod, struct start *st)
{
    size_t len;
    char *raw = read_in(pod, "pod", &len);
    json_t *doc = raw ? json_loadb(raw, len, 0, NULL) : NULL;
    free(raw);
    json_t *apps = json_object_get(doc, "apps");
    size_t i;
    json_t *a;
    if (!json_is_array(apps) || !json_array_size(apps))
        return BAIL;
    st->n_apps = json_array_size(apps);
    st->apps = xmalloc(st->n_apps * sizeof *st->apps);
    json_array_foreach(apps, i, a) {
        const char *name = json_string_value(json_object_get(a, "name"));
        if (!name || !ac_name(name))
            return BAIL;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(st->apps[j].name, name))
                return BAIL;
        st->apps[i].name = xstrdup(name);
    }
    json_decref(doc);
    return 0;
}

int plan_prepared(struct request *r, struct store *s, struct prepared *p)
{
    struct start *st = &p->start;
    memset(p, 0, sizeof *p);
    p->fd = -1;
    st->req = r;
    st->store = s;
    const char *data = r->data_dir;
    p->path = xasprintf("%s/pods/prepared/%s", data, r->uuid);
    if (!exists_in(p->path, "overlay-prepared") || exists_in(p->path, "private-users-prepared"))
        return BAIL;
    if (app_names(p->path, st))
        return BAIL;
    if (!(st->stage1_tree_id = read_tree_id(data, p->path, "stage1TreeStoreID")))
        return BAIL;
    struct image stage1 = {0};
    char *s1dir = xasprintf("%s/stage1", p->path);
    stage1.raw = read_in(s1dir, "manifest", &stage1.raw_len);
    free(s1dir);
    if (!stage1.raw || manifest_read_labels(stage1.raw, stage1.raw_len, &stage1.doc,
                                            &stage1.labels) ||
        stage1_entrypoint(&stage1, &st->run_entrypoint, &st->interface_version))
        return BAIL;
    if (r->hostname && st->interface_version < 2)
        return BAIL;
    for (size_t i = 0; i < st->n_apps; i++) {
        struct pod_app *app = &st->apps[i];
        char *info = xasprintf("%s/appsinfo/%s", p->path, app->name);
        app->tree_id = read_tree_id(data, info, "treeStoreID");
        app->manifest = read_in(info, "manifest", &app->manifest_len);
        free(info);
        if (!app->tree_id || !app->manifest)
            return BAIL;
    }
    if (store_open(s, data))
        return BAIL;
    /* Pod.to_run of a prepared pod: nobody may hold it, and it must still be there */
    p->fd = open(p->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->fd < 0 || flock(p->fd, LOCK_EX | LOCK_NB) < 0)
        return BAIL;
    struct stat st_dir;
    if (stat(p->path, &st_dir) < 0 || !S_ISDIR(st_dir.st_mode))
        return BAIL;
    return 0;
}

void launch_prepared(struct prepared *p)
{
    const struct request *r = p->start.req;
    char *run_dir = xasprintf("%s/pods/run", r->data_dir);
    char *pod = xasprintf("%s/%s", run_dir, r->uuid);
    if (rename(p->path, pod) < 0)
        fail(errno, "cannot transition to run: cannot move pod %s to run", r->uuid);
    /* durable: a prepared pod must not come back as prepared once it ran */
    int dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        fail(errno, "cannot transition to run: fsync %s", run_dir);
    close(dfd);
    start_pod(&p->start, pod, r->uuid, p->fd);
}
