/* The one command-line shape the native stage0 runs (see stage0.h); BAIL for any other.
 *
 * Only the spellings below are recognised, and each is read the way the Python CLI reads
 * it: a flag it does not know, a second image, "---", a help flag or a value it would
 * reject all go to Python, which gives rkt's answer (or rkt's error). */
#include "stage0.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* rkt's --insecure-options words; only the run-time ones change what stage0 does. */
static int insecure_options(struct request *r, const char *list)
{
    static const char *const known[] = {"none", "image", "tls", "ondisk", "http", "pubkey",
                                        "all-fetch", NULL};
    char *copy = xstrdup(list), *save = NULL;
    int rc = 0;
    for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        bool all = !strcmp(w, "all") || !strcmp(w, "all-run");
        if (all || !strcmp(w, "capabilities"))
            r->insecure_capabilities = true;
        if (all || !strcmp(w, "paths"))
            r->insecure_paths = true;
        if (all || !strcmp(w, "seccomp"))
            r->insecure_seccomp = true;
        bool ok = all || !strcmp(w, "capabilities") || !strcmp(w, "paths") ||
                  !strcmp(w, "seccomp");
        for (int i = 0; !ok && known[i]; i++)
            ok = !strcmp(w, known[i]);
        if (!ok)
            rc = BAIL;
    }
    /* "a,,b" or a trailing comma: let Python judge the empty word */
    if (!*list || strstr(list, ",,") || list[0] == ',' || list[strlen(list) - 1] == ',')
        rc = BAIL;
    free(copy);
    return rc;
}

/* The value of flag `name` at argv[i], spelled --name=value or --name value: the words
 * used (1 or 2), or 0 when argv[i] is not that flag. */
static int flag_value(char **argv, int i, int argc, const char *name, const char **value)
{
    const char *w = argv[i];
    size_t n = strlen(name);
    if (strncmp(w, "--", 2) || strncmp(w + 2, name, n))
        return 0;
    if (w[2 + n] == '=') {
        *value = w + 3 + n;
        return 1;
    }
    if (w[2 + n] == '\0' && i + 1 < argc) {
        *value = argv[i + 1];
        return 2;
    }
    return 0;
}

/* A string flag among `names` into its slot in `slots`.  Returns the words used, or 0
 * (not one of them, repeated -- csv flags accumulate, string flags must not be given twice
 * per image -- or empty). */
static int string_flag(char **argv, int i, int argc, const char *const names[],
                       const char **slots[])
{
    for (int k = 0; names[k]; k++) {
        const char *value;
        int used = flag_value(argv, i, argc, names[k], &value);
        if (!used)
            continue;
        if (*slots[k] || !*value)
            return 0;
        *slots[k] = value;
        return used;
    }
    return 0;
}

/* A repeatable KEY=VALUE flag (--set-env, --environment), appended to `list`.  Returns
 * the words used, or 0.  An empty key or no "=" is Python's error to report. */
static int env_flag(char **argv, int i, int argc, const char *name, const char ***list,
                    size_t *n)
{
    const char *value;
    int used = flag_value(argv, i, argc, name, &value);
    if (!used || value[0] == '=' || !strchr(value, '='))
        return 0;
    if (!*list)
        *list = xmalloc((size_t)argc * sizeof **list);
    (*list)[(*n)++] = value;
    return used;
}

/* parse_set_env refuses a key given twice. */
static bool distinct_keys(const char **list, size_t n)
{
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < a; b++) {
            size_t ka = strcspn(list[a], "="), kb = strcspn(list[b], "=");
            if (ka == kb && !strncmp(list[a], list[b], ka))
                return false;
        }
    return true;
}

/* parse_image_name + check_ac_identifier for the plain form NAME[:VERSION]. */
static int image_argument(struct request *r, const char *arg)
{
    static const char id_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-._~/";
    const char *colon = strchr(arg, ':'), *slash = strchr(arg, '/');
    struct stat st;
    if (!strncmp(arg, "sha512-", 7) || arg[0] == '/' || strstr(arg, "./"))
        return BAIL;
    size_t len = strlen(arg);
    if (len >= 4 && !strcmp(arg + len - 4, ".aci"))
        return BAIL;
    if (colon && (!slash || colon < slash)) /* a URL, file:, docker:, oci: ... */
        return BAIL;
    if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) /* a file in the cwd is fetched */
        return BAIL;
    size_t name_len = colon ? (size_t)(colon - arg) : len;
    if (!name_len || strspn(arg, id_chars) != name_len)
        return BAIL;
    if (strchr("-._~/", arg[0]) || strchr("-._~/", arg[name_len - 1]))
        return BAIL;
    r->image_name = strndup(arg, name_len);
    if (colon) {
        static const char version_chars[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/";
        const char *v = colon + 1;
        if (!*v || strspn(v, version_chars) != strlen(v))
            return BAIL;
        r->image_version = xstrdup(v);
    }
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF).  Python reads
 * other bytes in argv as lone surrogates and writes them as U+FFFD: its case. */
static bool valid_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (n < 0 || (n == 1 && c < 0xc2))
            return false;
        unsigned cp = c & (0x3f >> n);
        for (int k = 1; k <= n; k++) {
            if ((s[k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        s += n + 1;
    }
    return true;
}

/* check_ac_name: lower-case alphanumerics and "-", not at either end. */
bool ac_name(const char *s)
{
    size_t n = strlen(s);
    return n && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n && s[0] != '-' &&
           s[n - 1] != '-';
}

/* A path a file can be written to: its directory exists, and it is a regular file (a
 * symlink to one included) or nothing yet. */
static bool plain_file_target(const char *path)
{
    struct stat st;
    char *dir = xstrdup(path), *slash = strrchr(dir, '/'); /* path is not empty */
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    bool ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    free(dir);
    if (stat(path, &st) == 0)
        ok = ok && S_ISREG(st.st_mode);
    else
        ok = ok && errno == ENOENT;
    return ok;
}

/* A config layer's <kind>.d holds no *.json file (else Python reads the config). */
static int no_config(const char *layer, const char *kind)
{
    char *path = xasprintf("%s/%s.d", layer, kind);
    DIR *d = opendir(path);
    free(path);
    if (!d)
        return errno == ENOENT ? 0 : BAIL;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n >= 5 && !strcmp(e->d_name + n - 5, ".json"))
            rc = BAIL;
    }
    closedir(d);
    return rc;
}

static char *absolute(const char *p)
{
    /* os.path.abspath: cwd-joined and normalised, without resolving symlinks */
    char *joined;
    if (!strncmp(p, "//", 2) && p[2] != '/')
        return NULL; /* POSIX keeps a leading "//"; rare enough to leave to Python */
    if (p[0] == '/') {
        joined = xstrdup(p);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        joined = xasprintf("%s/%s", cwd, p);
    }
    char *out = xmalloc(strlen(joined) + 2), *o = out;
    for (char *s = joined; *s;) {
        while (*s == '/')
            s++;
        char *end = strchrnul(s, '/');
        size_t n = (size_t)(end - s);
        if (n == 0 || (n == 1 && s[0] == '.')) {
            /* skip */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (o > out && *--o != '/')
                ;
        } else {
            *o++ = '/';
            memcpy(o, s, n);
            o += n;
        }
        s = end;
    }
    if (o == out)
        *o++ = '/';
    *o = '\0';
    free(joined);
    return out;
}

/* --net=host or --net=none (only with "=": a bare --net means the default network). */
static bool net_flag(struct request *r, const char *w)
{
    if (r->net || (strcmp(w, "--net=host") && strcmp(w, "--net=none")))
        return false;
    r->net = w + 6;
    return true;
}

static bool is_uuid(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !strchr(hex, s[i]))
            return false;
    return true;
}

int parse_request(int argc, char **argv, struct request *r)
{
    const char *dir = NULL, *local = NULL, *system = NULL, *insecure = NULL;
    memset(r, 0, sizeof *r);
    /* global flags, before or after the command; then the pod flags of run */
    static const char *const globals[] = {"dir", "local-config", "system-config",
                                          "insecure-options", NULL};
    const char **global_slots[] = {&dir, &local, &system, &insecure};
    static const char *const pod_flags[] = {"dir", "local-config", "system-config",
                                            "insecure-options", "hostname", "uuid-file-save",
                                            NULL};
    const char **pod_slots[] = {&dir, &local, &system, &insecure, &r->hostname,
                                &r->uuid_file_save};
    static const char *const app_flags[] = {"exec", "user", "group", "name", "working-dir",
                                            NULL};
    const char **app_slots[] = {&r->exec, &r->user, &r->group, &r->name, &r->working_dir};
    int i = 1, used;
    while (i < argc && (used = string_flag(argv, i, argc, globals, global_slots)))
        i += used;
    if (i < argc && !strcmp(argv[i], "run-prepared")) {
        /* run-prepared [--net=host|none] [--hostname=H] UUID, flags on either side */
        r->command = RUN_PREPARED;
        for (i++; i < argc; i += used) {
            const char *w = argv[i];
            used = 1;
            if (w[0] != '-' && !r->uuid && is_uuid(w))
                r->uuid = w;
            else if (!(used = string_flag(argv, i, argc, pod_flags, pod_slots)) &&
                     !(used = net_flag(r, w)))
                return BAIL;
        }
        if (!r->uuid || !r->net || r->uuid_file_save)
            return BAIL;
    } else {
        if (i >= argc || strcmp(argv[i], "run"))
            return BAIL;
        r->command = RUN;
        for (i++; i < argc && argv[i][0] == '-'; i += used) {
            used = string_flag(argv, i, argc, pod_flags, pod_slots);
            if (!used)
                used = env_flag(argv, i, argc, "set-env", &r->set_env, &r->n_set_env);
            if (!used && !(used = net_flag(r, argv[i])))
                return BAIL;
        }
        if (!distinct_keys(r->set_env, r->n_set_env))
            return BAIL;
        if (!r->net || i >= argc || image_argument(r, argv[i]))
            return BAIL; /* no --net means the default CNI network: Python's */
        for (i++; i < argc; i += used) {
            if (!strcmp(argv[i], "--")) {
                r->args = argv + i + 1;
                for (int j = i + 1; j < argc; j++)
                    if (!strcmp(argv[j], "---"))
                        return BAIL;
                break;
            }
            used = string_flag(argv, i, argc, app_flags, app_slots);
            if (!used)
                used = env_flag(argv, i, argc, "environment", &r->environment,
                                &r->n_environment);
            if (!used)
                return BAIL; /* another image, a pod flag after the image, ... */
        }
    }
    if (r->name && !ac_name(r->name))
        return BAIL;
    if (insecure && insecure_options(r, insecure))
        return BAIL;
    const char *texts[] = {r->exec, r->user, r->group, r->working_dir, r->hostname};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++)
        if (texts[k] && !valid_utf8(texts[k]))
            return BAIL;
    for (char **a = r->args; a && *a; a++)
        if (!valid_utf8(*a))
            return BAIL;
    for (size_t k = 0; k < r->n_set_env; k++)
        if (!valid_utf8(r->set_env[k]))
            return BAIL;
    for (size_t k = 0; k < r->n_environment; k++)
        if (!valid_utf8(r->environment[k]))
            return BAIL;
    if (r->uuid_file_save && !plain_file_target(r->uuid_file_save))
        return BAIL; /* Python reports it, as rkt does, after creating the pod */
    r->local_config = absolute(local ? local : "/etc/rkt");
    r->system_config = absolute(system ? system : "/usr/lib/rkt");
    r->data_dir = absolute(dir ? dir : "/var/lib/rkt");
    if (!r->local_config || !r->system_config || !r->data_dir)
        return BAIL;
    /* paths.d can move the data dir (only without --dir); stage1.d picks the stage1 */
    if (!dir && (no_config(r->system_config, "paths") || no_config(r->local_config, "paths")))
        return BAIL;
    if (r->command == RUN &&
        (no_config(r->system_config, "stage1") || no_config(r->local_config, "stage1")))
        return BAIL;
    char resolved[PATH_MAX];
    struct stat st;
    if (lstat(r->data_dir, &st) == 0) {
        if (!realpath(r->data_dir, resolved))
            return BAIL;
        free(r->data_dir);
        r->data_dir = xstrdup(resolved);
    }
    return 0;
}
