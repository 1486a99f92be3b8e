/* Pod manifest parsing (jansson).  Keys match case-insensitively, like Go's
 * encoding/json that rkt used, so "supplementaryGids" works too. */
#include "podmanifest.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *cap_names[CAP_LAST_KNOWN + 1] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

int cap_from_name(const char *name)
{
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (int i = 0; i <= CAP_LAST_KNOWN; i++)
        if (strcasecmp(name, cap_names[i]) == 0)
            return i;
    return -1;
}

const char *cap_name(int cap) { return cap >= 0 && cap <= CAP_LAST_KNOWN ? cap_names[cap] : "?"; }

static json_t *jget(json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (v)
        return v;
    const char *k;
    json_object_foreach(obj, k, v)
        if (strcasecmp(k, key) == 0)
            return v;
    return NULL;
}

static char *jstr(json_t *obj, const char *key)
{
    json_t *v = jget(obj, key);
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static bool jbool(json_t *obj, const char *key, bool *set)
{
    json_t *v = jget(obj, key);
    if (set)
        *set = json_is_boolean(v);
    return json_is_true(v);
}

static int jstrarray(json_t *arr, const char *what, char ***out)
{
    if (!arr || json_is_null(arr)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_array(arr))
        return s1_error(0, "%s: not an array", what);
    size_t n = json_array_size(arr);
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return s1_error(0, "%s[%zu]: not a string", what, i);
        v[i] = xstrdup(json_string_value(s));
    }
    *out = v;
    return 0;
}

int parse_quantity(const char *s, int64_t scale, int64_t *out)
{
    char *end;
    errno = 0;
    long double v = strtold(s, &end);
    if (end == s || errno)
        return s1_error(0, "invalid quantity \"%s\"", s);
    static const struct { const char *suf; long double mul; } sufs[] = {
        {"", 1}, {"m", 1e-3}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
        {"P", 1e15}, {"E", 1e18}, {"Ki", 1024.0L}, {"Mi", 1048576.0L},
        {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L}, {"Pi", 1125899906842624.0L},
        {"Ei", 1152921504606846976.0L},
    };
    for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++) {
        if (strcmp(end, sufs[i].suf) == 0) {
            long double x = v * sufs[i].mul * scale, r = roundl(x);
            if (fabsl(x - r) > 1e-6L)
                r = ceill(x); /* round fractions of a unit up */
            if (r < 0 || r > 9.2e18L)
                return s1_error(0, "quantity \"%s\" out of range", s);
            *out = (int64_t) r;
            return 0;
        }
    }
    return s1_error(0, "invalid quantity suffix in \"%s\"", s);
}

static int json_quantity(json_t *v, int64_t scale, const char *what, int64_t *out)
{
    if (json_is_string(v))
        return parse_quantity(json_string_value(v), scale, out) < 0 ? s1_error_wrap("%s", what) : 0;
    if (json_is_number(v)) {
        *out = (int64_t) ceil(json_number_value(v) * (double) scale);
        return 0;
    }
    return s1_error(0, "%s: missing or invalid limit", what);
}

static int parse_caps(json_t *value, const char *what, uint64_t *out)
{
    json_t *set = jget(value, "set");
    if (!json_is_array(set))
        return s1_error(0, "isolator %s: \"set\" must be an array", what);
    uint64_t m = 0;
    size_t i;
    json_t *c;
    json_array_foreach(set, i, c) {
        int n = json_is_string(c) ? cap_from_name(json_string_value(c)) : -1;
        if (n < 0)
            return s1_error(0, "isolator %s: unknown capability %s", what,
                            json_is_string(c) ? json_string_value(c) : "(not a string)");
        m |= 1ULL << n;
    }
    *out = m;
    return 0;
}

static int parse_isolators(json_t *arr, struct isolators *iso, const char *app)
{
    iso->memory_limit = iso->cpu_millicores = iso->cpu_shares = -1;
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return s1_error(0, "app %s: isolators: not an array", app);
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        char *name = jstr(it, "name");
        json_t *value = jget(it, "value");
        if (!name)
            return s1_error(0, "app %s: isolator without a name", app);
        if (strcmp(name, "resource/memory") == 0) {
            if (json_quantity(jget(value, "limit"), 1, "isolator resource/memory",
                              &iso->memory_limit) < 0)
                return -1;
        } else if (strcmp(name, "resource/cpu") == 0) {
            if (json_quantity(jget(value, "limit"), 1000, "isolator resource/cpu",
                              &iso->cpu_millicores) < 0)
                return -1;
        } else if (strcmp(name, "os/linux/cpu-shares") == 0) {
            if (!json_is_integer(value))
                return s1_error(0, "isolator %s: value must be an integer", name);
            iso->cpu_shares = json_integer_value(value);
        } else if (strcmp(name, "os/linux/oom-score-adj") == 0) {
            if (!json_is_integer(value))
                return s1_error(0, "isolator %s: value must be an integer", name);
            iso->has_oom_score_adj = true;
            iso->oom_score_adj = (int) json_integer_value(value);
        } else if (strcmp(name, "os/linux/no-new-privileges") == 0) {
            iso->no_new_privs = json_is_true(value);
        } else if (strcmp(name, "os/linux/capabilities-retain-set") == 0) {
            if (parse_caps(value, name, &iso->caps_retain) < 0)
                return -1;
            iso->has_caps_retain = true;
        } else if (strcmp(name, "os/linux/capabilities-remove-set") == 0) {
            if (parse_caps(value, name, &iso->caps_remove) < 0)
                return -1;
            iso->has_caps_remove = true;
        } else if (strcmp(name, "os/linux/seccomp-retain-set") == 0 ||
                   strcmp(name, "os/linux/seccomp-remove-set") == 0) {
            if (iso->seccomp != SECCOMP_NONE)
                return s1_error(0, "app %s: only one seccomp isolator allowed", app);
            iso->seccomp = strstr(name, "retain") ? SECCOMP_RETAIN : SECCOMP_REMOVE;
            if (jstrarray(jget(value, "set"), name, &iso->seccomp_set) < 0)
                return -1;
            if (!iso->seccomp_set)
                iso->seccomp_set = xcalloc(1, sizeof(char *));
            iso->seccomp_errno = jstr(value, "errno");
        } else {
            s1_debugf("app %s: ignoring isolator %s", app, name);
        }
        free(name);
    }
    if (iso->has_caps_retain && iso->has_caps_remove)
        return s1_error(0, "app %s: capabilities retain and remove sets are exclusive", app);
    return 0;
}

static int parse_handlers(json_t *arr, struct app *a)
{
    size_t i;
    json_t *h;
    if (!json_is_array(arr))
        return 0;
    json_array_foreach(arr, i, h) {
        char *name = jstr(h, "name");
        char ***dst = NULL;
        if (name && strcmp(name, "pre-start") == 0)
            dst = &a->pre_start;
        else if (name && strcmp(name, "post-stop") == 0)
            dst = &a->post_stop;
        else
            return s1_error(0, "app %s: unknown event handler \"%s\"", a->name, name ? name : "");
        if (jstrarray(jget(h, "exec"), "eventHandlers.exec", dst) < 0)
            return -1;
        if (!*dst || !(*dst)[0])
            return s1_error(0, "app %s: event handler %s has an empty exec", a->name, name);
        free(name);
    }
    return 0;
}

static int parse_app(json_t *ra, struct app *a, const struct pod_manifest *pm)
{
    a->name = jstr(ra, "name");
    if (!a->name || !a->name[0] || strchr(a->name, '/') || strcmp(a->name, ".") == 0 ||
        strcmp(a->name, "..") == 0)
        return s1_error(0, "app without a valid name");
    json_t *app = jget(ra, "app");
    if (!json_is_object(app))
        return s1_error(0, "app %s: no app section in the pod manifest", a->name);
    if (jstrarray(jget(app, "exec"), "exec", &a->exec) < 0)
        return s1_error_wrap("app %s", a->name);
    if (!a->exec || !a->exec[0])
        return s1_error(0, "app %s: exec is empty", a->name);
    a->user = jstr(app, "user");
    a->group = jstr(app, "group");
    if (!a->user)
        a->user = xstrdup("0");
    if (!a->group)
        a->group = xstrdup("0");
    a->working_dir = jstr(app, "workingDirectory");
    json_t *g = jget(app, "supplementaryGIDs");
    if (json_is_array(g)) {
        a->supp_gids = xcalloc(json_array_size(g), sizeof(gid_t));
        size_t i;
        json_t *x;
        json_array_foreach(g, i, x) {
            if (!json_is_integer(x) || json_integer_value(x) < 0)
                return s1_error(0, "app %s: supplementaryGIDs must be integers", a->name);
            a->supp_gids[a->n_supp_gids++] = (gid_t) json_integer_value(x);
        }
    }
    json_t *env = jget(app, "environment");
    if (json_is_array(env)) {
        a->env = xcalloc(json_array_size(env), sizeof(struct kv));
        size_t i;
        json_t *x;
        json_array_foreach(env, i, x) {
            char *n = jstr(x, "name"), *v = jstr(x, "value");
            if (!n)
                return s1_error(0, "app %s: environment entry without a name", a->name);
            a->env[a->n_env].name = n;
            a->env[a->n_env++].value = v ? v : xstrdup("");
        }
    }
    if (parse_handlers(jget(app, "eventHandlers"), a) < 0)
        return -1;
    if (parse_isolators(jget(app, "isolators"), &a->iso, a->name) < 0)
        return -1;
    a->read_only_rootfs = jbool(ra, "readOnlyRootFS", NULL);

    json_t *mps = jget(app, "mountPoints");
    json_t *mounts = jget(ra, "mounts");
    if (json_is_array(mounts)) {
        a->mounts = xcalloc(json_array_size(mounts), sizeof(struct app_mount));
        size_t i;
        json_t *m;
        json_array_foreach(mounts, i, m) {
            struct app_mount *am = &a->mounts[a->n_mounts];
            am->volume = jstr(m, "volume");
            am->path = jstr(m, "path");
            if (!am->volume || !am->path)
                return s1_error(0, "app %s: mount without volume or path", a->name);
            const struct volume *v = pod_find_volume(pm, am->volume);
            if (!v)
                return s1_error(0, "app %s: mount of unknown volume \"%s\"", a->name, am->volume);
            am->read_only = v->read_only;
            size_t j;
            json_t *mp;
            json_array_foreach(mps, j, mp) {
                char *mn = jstr(mp, "name"), *mpath = jstr(mp, "path");
                if ((mn && strcmp(mn, am->volume) == 0) || (mpath && strcmp(mpath, am->path) == 0))
                    am->read_only |= jbool(mp, "readOnly", NULL);
                free(mn);
                free(mpath);
            }
            a->n_mounts++;
        }
    }
    /* appc: a mount point with no explicit mount takes the pod volume of the same name. */
    size_t j;
    json_t *mp;
    json_array_foreach(mps, j, mp) {
        char *mn = jstr(mp, "name"), *mpath = jstr(mp, "path");
        const struct volume *v = mn ? pod_find_volume(pm, mn) : NULL;
        bool covered = false;
        for (size_t k = 0; k < a->n_mounts && mpath; k++)
            covered |= strcmp(a->mounts[k].path, mpath) == 0;
        if (!v || !mpath || covered) {
            free(mn);
            free(mpath);
            continue;
        }
        a->mounts = realloc(a->mounts, (a->n_mounts + 1) * sizeof(struct app_mount));
        struct app_mount *am = &a->mounts[a->n_mounts++];
        memset(am, 0, sizeof *am);
        am->volume = mn;
        am->path = mpath;
        am->read_only = v->read_only || jbool(mp, "readOnly", NULL);
    }
    return 0;
}

static int parse_mode(const char *s, mode_t *out)
{
    char *end;
    errno = 0;
    unsigned long m = strtoul(s, &end, 8);
    if (errno || *end || end == s || m > 07777)
        return s1_error(0, "invalid volume mode \"%s\"", s);
    *out = (mode_t) m;
    return 0;
}

static int parse_volume(json_t *jv, struct volume *v)
{
    v->name = jstr(jv, "name");
    v->kind = jstr(jv, "kind");
    if (!v->name || !v->kind || strchr(v->name, '/'))
        return s1_error(0, "volume without a valid name or kind");
    v->source = jstr(jv, "source");
    v->read_only = jbool(jv, "readOnly", NULL);
    v->recursive = jbool(jv, "recursive", &v->recursive_set);
    v->mode = 0755;
    char *mode = jstr(jv, "mode");
    if (mode && parse_mode(mode, &v->mode) < 0)
        return s1_error_wrap("volume %s", v->name);
    free(mode);
    json_t *u = jget(jv, "uid"), *g = jget(jv, "gid");
    v->uid = json_is_integer(u) ? (uid_t) json_integer_value(u) : 0;
    v->gid = json_is_integer(g) ? (gid_t) json_integer_value(g) : 0;
    if (strcmp(v->kind, "host") == 0) {
        if (!v->source || v->source[0] != '/')
            return s1_error(0, "volume %s: host volume needs an absolute source", v->name);
    } else if (strcmp(v->kind, "empty") != 0) {
        return s1_error(0, "volume %s: unknown kind \"%s\"", v->name, v->kind);
    }
    return 0;
}

const struct volume *pod_find_volume(const struct pod_manifest *pm, const char *name)
{
    for (size_t i = 0; i < pm->n_volumes; i++)
        if (strcmp(pm->volumes[i].name, name) == 0)
            return &pm->volumes[i];
    return NULL;
}

int pod_manifest_load(int dirfd, const char *path, struct pod_manifest *pm)
{
    char *data;
    size_t len;
    if (read_file_at(dirfd, path, &data, &len) < 0)
        return s1_error_wrap("reading pod manifest");
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!root)
        return s1_error(0, "invalid pod manifest %s: line %d: %s", path, jerr.line, jerr.text);
    memset(pm, 0, sizeof *pm);
    int ret = -1;
    json_t *vols = jget(root, "volumes");
    if (json_is_array(vols)) {
        pm->volumes = xcalloc(json_array_size(vols), sizeof(struct volume));
        size_t i;
        json_t *v;
        json_array_foreach(vols, i, v) {
            if (parse_volume(v, &pm->volumes[pm->n_volumes]) < 0)
                goto out;
            pm->n_volumes++;
        }
    }
    json_t *apps = jget(root, "apps");
    if (!json_is_array(apps) || json_array_size(apps) == 0) {
        s1_error(0, "pod manifest %s: pod must contain at least one application", path);
        goto out;
    }
    pm->apps = xcalloc(json_array_size(apps), sizeof(struct app));
    size_t i;
    json_t *a;
    json_array_foreach(apps, i, a) {
        if (parse_app(a, &pm->apps[pm->n_apps], pm) < 0)
            goto out;
        for (size_t j = 0; j < pm->n_apps; j++)
            if (strcmp(pm->apps[j].name, pm->apps[pm->n_apps].name) == 0) {
                s1_error(0, "pod manifest: duplicate app name %s", pm->apps[j].name);
                goto out;
            }
        pm->n_apps++;
    }
    ret = 0;
out:
    json_decref(root);
    if (ret < 0)
        s1_error_wrap("pod manifest %s", path);
    return ret;
}
