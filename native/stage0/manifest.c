/* Image manifests in, the pod manifest out: rktfast/pod/manifest.py for one app with
 * --exec and "--" arguments, nothing else.
 *
 * Go (and the Python stage0) match JSON keys case-insensitively, with Unicode folding.
 * This reader takes only exact keys, so a document with a key that Go would match in
 * another spelling, or any non-ASCII key, is left to Python (BAIL).  So are the app
 * fields whose values need more than copying (event handlers, isolators, mount points,
 * ports, annotations and labels of the app, supplementary GIDs) when they are not empty. */
#include "stage0.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every key of obj is ASCII, and a key equal to one of `fields` ignoring case is exact. */
static int check_keys(json_t *obj, const char *const fields[])
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return BAIL;
    json_object_foreach(obj, key, v) {
        for (const unsigned char *c = (const unsigned char *)key; *c; c++)
            if (*c >= 0x80)
                return BAIL;
        for (int i = 0; fields[i]; i++)
            if (!strcasecmp(key, fields[i]) && strcmp(key, fields[i]))
                return BAIL;
    }
    return 0;
}

static const char *const NAME_VALUE[] = {"name", "value", NULL};

/* An array of {"name": string, "value": string} (labels, environment, annotations). */
static int check_name_values(json_t *arr)
{
    size_t i;
    json_t *item;
    if (!json_is_array(arr))
        return BAIL;
    json_array_foreach(arr, i, item) {
        if (check_keys(item, NAME_VALUE) || !json_is_string(json_object_get(item, "name")) ||
            !json_is_string(json_object_get(item, "value")))
            return BAIL;
    }
    return 0;
}

static json_t *parse(const char *raw, size_t len)
{
    json_t *doc = json_loadb(raw, len, 0, NULL);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

int manifest_read_labels(const char *raw, size_t len, json_t **doc, json_t **labels)
{
    static const char *const fields[] = {"labels", NULL};
    *doc = parse(raw, len);
    if (!*doc)
        return BAIL;
    *labels = json_object_get(*doc, "labels");
    if (json_is_null(*labels))
        *labels = NULL; /* no labels */
    if (check_keys(*doc, fields) || (*labels && check_name_values(*labels))) {
        json_decref(*doc);
        *doc = NULL;
        return BAIL;
    }
    return 0;
}

int image_load(struct image *im, const char *data_dir, const char *key)
{
    static const char *const fields[] = {"name", "labels", "app", "dependencies",
                                         "annotations", NULL};
    memset(im, 0, sizeof *im);
    memcpy(im->key, key, KEY_LEN + 1);
    tree_id_of(key, im->tree_id);
    char *path = manifest_path(data_dir, key);
    int r = read_file(path, &im->raw, &im->raw_len);
    free(path);
    if (r < 0 || manifest_read_labels(im->raw, im->raw_len, &im->doc, &im->labels))
        return BAIL;
    if (check_keys(im->doc, fields))
        return BAIL;
    json_t *deps = json_object_get(im->doc, "dependencies");
    if (deps && !json_is_null(deps) && !(json_is_array(deps) && json_array_size(deps) == 0))
        return BAIL; /* a render chain: Python's */
    im->name = json_string_value(json_object_get(im->doc, "name"));
    if (!im->name || !*im->name)
        return BAIL;
    im->app = json_object_get(im->doc, "app");
    if (json_is_null(im->app))
        im->app = NULL;
    return 0;
}

const char *image_label(const struct image *im, const char *label)
{
    const char *found = NULL;
    size_t i;
    json_t *lb;
    if (!im->labels)
        return NULL;
    json_array_foreach(im->labels, i, lb) {
        if (!strcmp(json_string_value(json_object_get(lb, "name")), label))
            found = json_string_value(json_object_get(lb, "value"));
    }
    return found;
}

/* stage0's _check_os_arch, and an app section to run. */
int image_check_runnable(const struct image *im)
{
    static const char *const arches[] = {"amd64", "i386", "aarch64", "aarch64_be", "armv6l",
                                         "armv7l", "armv7b", "ppc64le", NULL};
    const char *os = image_label(im, "os"), *arch = image_label(im, "arch");
    if (!os || !arch || strcmp(os, "linux") || !im->app)
        return BAIL;
    for (int i = 0; arches[i]; i++)
        if (!strcmp(arch, arches[i]))
            return 0;
    return BAIL;
}

/* appc SanitizeACName of the image name's last path segment. */
int app_name_for(const struct image *im, char **out)
{
    const char *seg = strrchr(im->name, '/');
    seg = seg ? seg + 1 : im->name;
    char *s = xstrdup(seg);
    for (unsigned char *c = (unsigned char *)s; *c; c++) {
        if (*c >= 0x80) {
            free(s);
            return BAIL;
        }
        if (*c >= 'A' && *c <= 'Z')
            *c = (unsigned char)(*c - 'A' + 'a');
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            *c = '-';
    }
    char *start = s + strspn(s, "-");
    size_t n = strlen(start);
    while (n && start[n - 1] == '-')
        n--;
    if (!n) {
        free(s);
        return BAIL;
    }
    *out = strndup(start, n);
    free(s);
    return 0;
}

int stage1_entrypoint(const struct image *s1, const char **run, int *interface_version)
{
    json_t *ann = json_object_get(s1->doc, "annotations");
    size_t i;
    json_t *a;
    *run = NULL;
    *interface_version = 1;
    if (!ann || check_name_values(ann))
        return BAIL;
    json_array_foreach(ann, i, a) {
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *value = json_string_value(json_object_get(a, "value"));
        if (!strcmp(name, "coreos.com/rkt/stage1/run")) {
            *run = value;
        } else if (!strcmp(name, "coreos.com/rkt/stage1/interface-version")) {
            if (!*value || strspn(value, "0123456789") != strlen(value) || strlen(value) > 6)
                return BAIL;
            *interface_version = atoi(value);
        }
    }
    return *run && **run ? 0 : BAIL;
}

/* A field Go drops with omitempty: absent, null, "", false, or an empty array/object. */
static bool empty(json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_string(v) && !*json_string_value(v)) ||
           (json_is_array(v) && !json_array_size(v)) ||
           (json_is_object(v) && !json_object_size(v));
}

static void add_string_array(struct buf *b, json_t *arr, char **more)
{
    size_t i;
    json_t *v;
    buf_adds(b, "[");
    json_array_foreach(arr, i, v) {
        if (i)
            buf_adds(b, ",");
        buf_json_string(b, json_string_value(v));
    }
    for (size_t j = 0; more && more[j]; j++) {
        if (j || json_array_size(arr))
            buf_adds(b, ",");
        buf_json_string(b, more[j]);
    }
    buf_adds(b, "]");
}

/* The app's environment as generate() leaves it: the image's, then each --environment
 * and then each --set-env pair set in turn (the first entry of a name takes the value,
 * else the pair is appended). */
struct env {
    const char **names, **values;
    size_t n;
};

static void env_set(struct env *e, const char *name, const char *value)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name)) {
            e->values[i] = value;
            return;
        }
    e->names[e->n] = name;
    e->values[e->n++] = value;
}

static void env_set_pairs(struct env *e, const char **pairs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(pairs[i], '=');
        env_set(e, strndup(pairs[i], (size_t)(eq - pairs[i])), eq + 1);
    }
}

static void add_env(struct buf *b, const struct env *e)
{
    buf_adds(b, "[");
    for (size_t i = 0; i < e->n; i++) {
        buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
        buf_json_string(b, e->names[i]);
        buf_adds(b, ",\"value\":");
        buf_json_string(b, e->values[i]);
        buf_adds(b, "}");
    }
    buf_adds(b, "]");
}

static void add_name_values(struct buf *b, json_t *arr)
{
    size_t i;
    json_t *v;
    buf_adds(b, "[");
    json_array_foreach(arr, i, v) {
        buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
        buf_json_string(b, json_string_value(json_object_get(v, "name")));
        buf_adds(b, ",\"value\":");
        buf_json_string(b, json_string_value(json_object_get(v, "value")));
        buf_adds(b, "}");
    }
    buf_adds(b, "]");
}

/* "user"/"group": the flag if given; no omitempty, so absent is "" and null stays null. */
static int add_user_field(struct buf *b, json_t *app, const char *name, const char *flag)
{
    json_t *v = json_object_get(app, name);
    buf_adds(b, ",");
    buf_json_string(b, name);
    buf_adds(b, ":");
    if (flag)
        buf_json_string(b, flag);
    else if (!v)
        buf_adds(b, "\"\"");
    else if (json_is_null(v))
        buf_adds(b, "null");
    else if (json_is_string(v))
        buf_json_string(b, json_string_value(v));
    else
        return BAIL;
    return 0;
}

/* generateRuntimeApp's "app": the image's app in Go's field order, with --exec, the "--"
 * arguments, --user, --group and --working-dir applied. */
static int runtime_app(const struct request *r, json_t *app, struct buf *b)
{
    static const char *const fields[] = {"exec", "eventHandlers", "user", "group",
                                         "supplementaryGIDs", "workingDirectory",
                                         "environment", "isolators", "mountPoints", "ports",
                                         "userAnnotations", "userLabels", NULL};
    static const char *const must_be_empty[] = {"eventHandlers", "supplementaryGIDs",
                                                "isolators", "mountPoints", "ports",
                                                "userAnnotations", "userLabels", NULL};
    if (check_keys(app, fields))
        return BAIL;
    for (int i = 0; must_be_empty[i]; i++)
        if (!empty(json_object_get(app, must_be_empty[i])))
            return BAIL;
    json_t *exec = json_object_get(app, "exec");
    if (exec && !json_is_null(exec)) {
        size_t i;
        json_t *v;
        if (!json_is_array(exec))
            return BAIL;
        json_array_foreach(exec, i, v) {
            if (!json_is_string(v))
                return BAIL;
        }
    } else {
        exec = NULL;
    }
    json_t *wd = json_object_get(app, "workingDirectory");
    if (!empty(wd) && !json_is_string(wd))
        return BAIL;
    json_t *env = json_object_get(app, "environment");
    if (!empty(env) && check_name_values(env))
        return BAIL;

    json_t *flag_exec = NULL;
    if (r->exec) {
        flag_exec = json_array();
        json_array_append_new(flag_exec, json_string(r->exec));
        exec = flag_exec;
    }
    buf_adds(b, "{\"exec\":");
    if (exec || r->args) {
        json_t *none = json_array();
        add_string_array(b, exec ? exec : none, r->args);
        json_decref(none);
    } else {
        buf_adds(b, "null");
    }
    json_decref(flag_exec);
    if (add_user_field(b, app, "user", r->user) || add_user_field(b, app, "group", r->group))
        return BAIL;
    if (r->working_dir) {
        buf_adds(b, ",\"workingDirectory\":");
        buf_json_string(b, r->working_dir);
    } else if (!empty(wd)) {
        buf_adds(b, ",\"workingDirectory\":");
        buf_json_string(b, json_string_value(wd));
    }
    size_t max = (empty(env) ? 0 : json_array_size(env)) + r->n_environment + r->n_set_env;
    struct env e = {xmalloc(max * sizeof *e.names), xmalloc(max * sizeof *e.values), 0};
    if (!empty(env)) {
        size_t i;
        json_t *v;
        json_array_foreach(env, i, v) { /* kept as they are, duplicates included */
            e.names[e.n] = json_string_value(json_object_get(v, "name"));
            e.values[e.n++] = json_string_value(json_object_get(v, "value"));
        }
    }
    env_set_pairs(&e, r->environment, r->n_environment);
    env_set_pairs(&e, r->set_env, r->n_set_env);
    if (e.n) {
        buf_adds(b, ",\"environment\":");
        add_env(b, &e);
    }
    free(e.names), free(e.values);
    buf_adds(b, "}");
    return 0;
}

int pod_manifest(const struct request *r, const struct image *im, const char *app_name,
                 struct buf *out)
{
    buf_adds(out, "{\"acVersion\":\"1.30.0\",\"acKind\":\"PodManifest\",\"apps\":[{\"name\":");
    buf_json_string(out, app_name);
    buf_adds(out, ",\"image\":{\"name\":");
    buf_json_string(out, im->name);
    buf_adds(out, ",\"id\":");
    buf_json_string(out, im->key);
    if (im->labels && json_array_size(im->labels)) {
        buf_adds(out, ",\"labels\":");
        add_name_values(out, im->labels);
    }
    buf_adds(out, "},\"app\":");
    if (runtime_app(r, im->app, out))
        return BAIL;
    buf_adds(out, "}],\"volumes\":null,\"isolators\":null,\"annotations\":[{\"name\":"
                  "\"coreos.com/rkt/stage1/mutable\",\"value\":\"false\"}],\"ports\":null}");
    return 0;
}
