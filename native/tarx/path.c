/* Lexical path handling: normalising entry names and matching the appc pathWhitelist. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tarx_internal.h"

/* Makes a tar entry name relative and clean: leading "/" and "./" go, "//" and "."
   collapse, ".." pops a component. Returns the length, -1 if out is too small, -2 if ".."
   climbs above the root: such an entry is rejected rather than silently re-rooted, because
   an archive that needs it is broken or hostile. "" names the root itself. */
int tarx_normalize(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = p - s;
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (o == 0)
                return -2;
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the separator */
            continue;
        }
        if (o + (o ? 1 : 0) + n + 1 > outlen)
            return -1;
        if (o)
            out[o++] = '/';
        memcpy(out + o, s, n);
        o += n;
    }
    if (outlen == 0)
        return -1;
    out[o] = 0;
    return (int)o;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Stores every whitelisted path and each of its ancestors in one sorted array, so an entry
   is a binary search away from knowing whether it is listed or on the way to a listed one. */
int tarx_whitelist_init(struct tarx_ctx *ctx, const char *list, size_t len)
{
    size_t cap = 0, n = 0;
    char **v = NULL;
    char tmp[4096];
    const char *p = list, *end = list + len;
    while (p < end) {
        size_t l = strnlen(p, end - p);
        if (l && l < sizeof tmp) {
            char norm[4096];
            if (tarx_normalize(p, norm, sizeof norm) > 0) {
                /* the path itself, then each ancestor (marked by a trailing '\x01') */
                size_t nl = strlen(norm);
                for (size_t cut = nl;; ) {
                    if (n + 1 > cap) {
                        cap = cap ? cap * 2 : 64;
                        char **nv = realloc(v, cap * sizeof *v);
                        if (!nv)
                            goto oom;
                        v = nv;
                    }
                    memcpy(tmp, norm, cut);
                    tmp[cut] = cut == nl ? 0 : '\x01';
                    tmp[cut + 1] = 0;
                    if (!(v[n++] = strdup(tmp)))
                        goto oom;
                    while (cut > 0 && norm[cut - 1] != '/')
                        cut--;
                    if (cut == 0)
                        break;
                    cut--; /* drop the '/' */
                }
            }
        }
        p += l + 1;
    }
    qsort(v, n, sizeof *v, cmp_str);
    ctx->whitelist = v;
    ctx->nwhitelist = n;
    return 0;
oom:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return tarx_fail(ctx, "out of memory building the path whitelist");
}

static int wl_find(struct tarx_ctx *ctx, const char *key)
{
    return bsearch(&key, ctx->whitelist, ctx->nwhitelist, sizeof(char *), cmp_str) != NULL;
}

/* A listed path passes; a directory also passes when something listed lies below it. */
int tarx_whitelisted(struct tarx_ctx *ctx, const char *path, int is_dir)
{
    if (!ctx->nwhitelist)
        return 1;
    if (wl_find(ctx, path))
        return 1;
    if (!is_dir)
        return 0;
    char key[4096];
    size_t l = strlen(path);
    if (l + 2 > sizeof key)
        return 0;
    memcpy(key, path, l);
    key[l] = '\x01';
    key[l + 1] = 0;
    return wl_find(ctx, key);
}
