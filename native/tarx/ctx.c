/* Creating and freeing an extraction context. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tarx_internal.h"

/* The umask decides which created modes need a chmod. umask(2) would change it for every
   thread of the process for an instant, so read it from /proc instead. */
static mode_t current_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    mode_t m = 022;
    if (!f)
        return m;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned v;
        if (sscanf(line, "Umask: %o", &v) == 1) {
            m = v;
            break;
        }
    }
    fclose(f);
    return m;
}

tarx_ctx *tarx_new(int root_fd, const struct tarx_options *opts, char *err, size_t errlen)
{
    struct tarx_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->opts = *opts;
    ctx->opts.keep_prefix = NULL;
    ctx->opts.whitelist = NULL;
    ctx->out_fd = -1;
    ctx->parent_fd = -1;
    ctx->tree_fd = -1;
    ctx->root_fd = opts->list_only && root_fd < 0 ? -1 : fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
    if (ctx->root_fd < 0 && !opts->list_only) {
        snprintf(err, errlen, "dup root directory fd: %s", strerror(errno));
        free(ctx);
        return NULL;
    }
    if (opts->keep_prefix && *opts->keep_prefix) {
        ctx->keep_prefix = strdup(opts->keep_prefix);
        if (!ctx->keep_prefix)
            goto oom;
        ctx->keep_prefix_len = strlen(ctx->keep_prefix);
    }
    if (!ctx->opts.manifest_max)
        ctx->opts.manifest_max = 16u << 20;
    if (opts->whitelist && opts->whitelist_len &&
        tarx_whitelist_init(ctx, opts->whitelist, opts->whitelist_len) < 0)
        goto fail;
    ctx->euid = geteuid();
    ctx->egid = getegid();
    ctx->apply_owner = opts->same_owner < 0 ? ctx->euid == 0 : opts->same_owner;
    ctx->umask = current_umask();
    if (!ctx->keep_prefix_len || opts->strip_prefix)
        ctx->tree_fd = ctx->root_fd;
    return ctx;
oom:
    snprintf(ctx->err, sizeof ctx->err, "out of memory");
fail:
    snprintf(err, errlen, "%s", ctx->err);
    tarx_free(ctx);
    return NULL;
}

const char *tarx_error(tarx_ctx *ctx)
{
    return ctx->err;
}

const char *tarx_manifest(tarx_ctx *ctx, size_t *len)
{
    *len = ctx->manifest.len;
    if (!ctx->have_manifest)
        return NULL;
    return ctx->manifest.data ? ctx->manifest.data : "";
}

void tarx_get_stats(tarx_ctx *ctx, struct tarx_stats *out)
{
    *out = ctx->stats;
}

size_t tarx_content_digests(tarx_ctx *ctx, const struct tarx_file_digest **out)
{
    *out = NULL;
    /* only a finished extraction has drained its worker */
    if (!ctx->fileq || ctx->failed || !ctx->finished)
        return 0;
    if (!ctx->digests_made) {
        ctx->digests_made = 1;
        size_t n = tarx_fileq_ndigests(ctx->fileq);
        ctx->digests = n ? malloc(n * sizeof *ctx->digests) : NULL;
        if (ctx->digests)
            ctx->ndigests = tarx_fileq_digests(ctx->fileq, ctx->digests);
    }
    *out = ctx->digests;
    return ctx->ndigests;
}

void tarx_free(tarx_ctx *ctx)
{
    if (!ctx)
        return;
    tarx_fileq_stop(ctx->fileq);
    if (ctx->out_fd >= 0)
        close(ctx->out_fd);
    tarx_close_parent(ctx);
    if (ctx->tree_fd >= 0 && ctx->tree_fd != ctx->root_fd)
        close(ctx->tree_fd);
    if (ctx->root_fd >= 0)
        close(ctx->root_fd);
    for (size_t i = 0; i < ctx->nwhitelist; i++)
        free(ctx->whitelist[i]);
    free(ctx->whitelist);
    for (size_t i = 0; i < ctx->ndirtimes; i++)
        free(ctx->dirtimes[i].path);
    free(ctx->dirtimes);
    free(ctx->keep_prefix);
    free(ctx->pax.data);
    free(ctx->longname.data);
    free(ctx->longlink.data);
    free(ctx->manifest.data);
    free(ctx->parent_path);
    free(ctx->digests);
    free(ctx->entry.path);
    free(ctx->entry.link);
    free(ctx);
}
