/* `rkt`: run the common `rkt run` natively, hand everything else to the Python rkt.
 *
 * RKT_PYTHON_LAUNCHER (the Python rkt script) and RKT_PACKAGE_DIR (the installed rktfast
 * package, for the bundled stage1's version) are fixed when scripts/launchers.sh builds
 * this program for an install. */
#include "stage0.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RKT_PYTHON_LAUNCHER
#error "build with -DRKT_PYTHON_LAUNCHER=\"/path/to/the/python/rkt\""
#endif
#ifndef RKT_PACKAGE_DIR
#error "build with -DRKT_PACKAGE_DIR=\"/path/to/site-packages/rktfast\""
#endif

#define DEFAULT_STAGE1_NAME "coreos.com/rkt/stage1-coreos"

/* choose.default_version: the label the bundled stage1 carries. */
static char *stage1_version(void)
{
    char *raw;
    size_t len;
    if (read_file(RKT_PACKAGE_DIR "/stage1_images/VERSION", &raw, &len) < 0)
        return xstrdup("1.30.0");
    while (len && strchr(" \t\r\n", raw[len - 1]))
        raw[--len] = '\0';
    char *start = raw + strspn(raw, " \t\r\n");
    char *v = xstrdup(*start ? start : "1.30.0");
    free(raw);
    return v;
}

static bool overlay_supported(void)
{
    char *raw;
    size_t len;
    bool ok = false;
    if (read_file("/proc/filesystems", &raw, &len) < 0)
        return false;
    for (char *line = strtok(raw, "\n"); line; line = strtok(NULL, "\n")) {
        char *last = strrchr(line, '\t');
        if (!strcmp(last ? last + 1 : line, "overlay"))
            ok = true;
    }
    free(raw);
    return ok;
}

/* Everything `rkt run` decides before it writes: BAIL leaves the command to Python. */
static int plan(struct plan *p, struct request *r, struct store *s, struct image *stage1,
                struct image *app)
{
    char key[KEY_LEN + 1];
    struct start *st = &p->start;
    memset(p, 0, sizeof *p);
    st->req = r;
    st->store = s;
    p->stage1 = stage1;
    p->app = app;
    char *version = stage1_version();
    size_t vlen = strlen(version);
    if (vlen >= 6 && !strcmp(version + vlen - 6, "-dirty"))
        return BAIL;
    if (store_open(s, r->data_dir))
        return BAIL;
    /* the stage1 first, as find_stage1 does */
    if (store_find(s, DEFAULT_STAGE1_NAME, version, key) || image_load(stage1, r->data_dir, key) ||
        stage1_entrypoint(stage1, &st->run_entrypoint, &st->interface_version))
        return BAIL;
    if (r->hostname && st->interface_version < 2)
        return BAIL; /* Python warns that this stage1 has no --hostname */
    if (store_find(s, r->image_name, r->image_version, key) ||
        image_load(app, r->data_dir, key) || image_check_runnable(app))
        return BAIL;
    char *name = NULL;
    if (r->name)
        name = xstrdup(r->name);
    else if (app_name_for(app, &name))
        return BAIL;
    if (pod_manifest(r, app, name, &p->pod_manifest))
        return BAIL;
    if (!tree_rendered(r->data_dir, stage1->tree_id) || !tree_rendered(r->data_dir, app->tree_id))
        return BAIL; /* Python renders it */
    if (store_touch(s, app->key))
        return BAIL;
    p->pod_app = (struct pod_app){name, app->tree_id, app->raw, app->raw_len};
    st->stage1_tree_id = stage1->tree_id;
    st->apps = &p->pod_app;
    st->n_apps = 1;
    free(version);
    return 0;
}

int main(int argc, char **argv)
{
    struct request req;
    struct store store = {.cas_fd = -1};
    if (parse_request(argc, argv, &req) == 0 && geteuid() == 0 && overlay_supported()) {
        if (req.command == RUN) {
            struct image stage1, app;
            struct plan p;
            if (plan(&p, &req, &store, &stage1, &app) == 0)
                launch(&p); /* does not return */
        } else {
            struct prepared p;
            if (plan_prepared(&req, &store, &p) == 0)
                launch_prepared(&p); /* does not return */
        }
    }
    store_close(&store);
    argv[0] = RKT_PYTHON_LAUNCHER;
    execv(RKT_PYTHON_LAUNCHER, argv);
    fprintf(stderr, "rkt: cannot run %s: %s\n", RKT_PYTHON_LAUNCHER, strerror(errno));
    return 254;
}
