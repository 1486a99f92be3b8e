/*
 * The push parser: turns a byte stream fed in arbitrary chunks into entries.
 * Headers are parsed in place when a whole block is available in the caller's buffer and
 * copied otherwise; entry content goes straight from the caller's buffer to its sink.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tarx_internal.h"

int tarx_fail(struct tarx_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
        ctx->failed = 1;
    }
    return -1;
}

int tarx_fail_errno(struct tarx_ctx *ctx, int err, const char *fmt, ...)
{
    if (!ctx->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof ctx->err)
            snprintf(ctx->err + n, sizeof ctx->err - n, ": %s", strerror(err));
        ctx->failed = 1;
    }
    return -1;
}

int tarx_buf_append(struct tarx_buf *b, const char *p, size_t n, size_t max)
{
    if (b->len + n > max)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

/* Numeric header fields: octal (NUL/space padded) or GNU base-256 (high bit set). */
static int parse_number(const unsigned char *f, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len && (f[0] & 0x80)) {
        if (f[0] & 0x40)
            return -1; /* negative */
        v = f[0] & 0x3f;
        for (size_t i = 1; i < len; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ')
        i++;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 61)
            return -1;
        v = (v << 3) | (uint64_t)(f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != 0)
            return -1;
    *out = v;
    return 0;
}

static int is_zero_block(const unsigned char *b)
{
    for (size_t i = 0; i < TARX_BLOCK; i++)
        if (b[i])
            return 0;
    return 1;
}

static int checksum_ok(const unsigned char *h)
{
    uint64_t want;
    if (parse_number(h + 148, 8, &want) < 0)
        return 0;
    unsigned long usum = 0;
    long ssum = 0;
    for (size_t i = 0; i < TARX_BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        usum += c;
        ssum += (signed char)c;
    }
    /* some old tars summed signed chars */
    return want == usum || (long)want == ssum;
}

static size_t field_len(const unsigned char *f, size_t max)
{
    size_t n = 0;
    while (n < max && f[n])
        n++;
    return n;
}

/* pax "mtime" values: decimal seconds with an optional fraction. */
static int parse_pax_time(const char *s, struct timespec *ts)
{
    char *end;
    errno = 0;
    long long sec = strtoll(s, &end, 10);
    if (errno || end == s)
        return -1;
    long nsec = 0;
    if (*end == '.') {
        long scale = 100000000;
        for (end++; *end >= '0' && *end <= '9'; end++) {
            nsec += (*end - '0') * scale;
            scale /= 10;
        }
    }
    if (*end)
        return -1;
    if (sec < 0 && nsec) { /* -1.25 means 1.25 s before the epoch */
        sec -= 1;
        nsec = 1000000000 - nsec;
    }
    ts->tv_sec = sec;
    ts->tv_nsec = nsec;
    return 0;
}

static int parse_pax_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

/* Records are "LEN KEY=VALUE\n"; values are NUL-terminated in place so entries can point
   into the buffer until the next pax header arrives. */
static int parse_pax(struct tarx_ctx *ctx, char *p, size_t len, int global)
{
    struct tarx_pending *pd = &ctx->pending;
    char *end = p + len;
    while (p < end) {
        if (*p == 0)
            break; /* NUL padding after the last record */
        char *sp = memchr(p, ' ', end - p);
        if (!sp)
            return tarx_fail(ctx, "malformed pax header at offset %llu",
                             (unsigned long long)ctx->offset);
        uint64_t rlen;
        *sp = 0;
        if (parse_pax_u64(p, &rlen) < 0 || rlen <= (uint64_t)(sp - p) + 1 ||
            rlen > (uint64_t)(end - p) || p[rlen - 1] != '\n')
            return tarx_fail(ctx, "malformed pax record at offset %llu",
                             (unsigned long long)ctx->offset);
        char *key = sp + 1, *rend = p + rlen - 1;
        char *eq = memchr(key, '=', rend - key);
        if (!eq)
            return tarx_fail(ctx, "malformed pax record at offset %llu",
                             (unsigned long long)ctx->offset);
        *eq = 0;
        *rend = 0;
        char *val = eq + 1;
        size_t vlen = rend - val;
        p += rlen;
        if (global)
            continue; /* global headers (e.g. git's comment) carry nothing we apply */
        if (!strcmp(key, "path")) {
            pd->path = val;
            pd->has_path = 1;
        } else if (!strcmp(key, "linkpath")) {
            pd->link = val;
            pd->has_link = 1;
        } else if (!strcmp(key, "size")) {
            if (parse_pax_u64(val, &pd->size) < 0)
                return tarx_fail(ctx, "bad pax size \"%s\"", val);
            pd->has_size = 1;
        } else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
            uint64_t v;
            if (parse_pax_u64(val, &v) < 0 || v > UINT32_MAX)
                return tarx_fail(ctx, "bad pax %s \"%s\"", key, val);
            if (key[0] == 'u') {
                pd->uid = v;
                pd->has_uid = 1;
            } else {
                pd->gid = v;
                pd->has_gid = 1;
            }
        } else if (!strcmp(key, "mtime")) {
            if (parse_pax_time(val, &pd->mtime) < 0)
                return tarx_fail(ctx, "bad pax mtime \"%s\"", val);
            pd->has_mtime = 1;
        } else if (!strncmp(key, "SCHILY.xattr.", 13)) {
            if (pd->nxattrs >= TARX_XATTR_MAX)
                return tarx_fail(ctx, "too many xattrs in pax header at offset %llu",
                                 (unsigned long long)ctx->offset);
            pd->xattrs[pd->nxattrs].name = key + 13;
            pd->xattrs[pd->nxattrs].value = val;
            pd->xattrs[pd->nxattrs].len = vlen;
            pd->nxattrs++;
        } else if (!strncmp(key, "GNU.sparse.", 11)) {
            return tarx_fail(ctx, "sparse files are not supported (pax %s)", key);
        }
        /* atime, ctime, uname, gname, comment, charset...: not applied */
    }
    return 0;
}

/* Builds ctx->entry from a header block and the pending overrides, then hands it to the
   extractor, which chooses the sink for its data. */
static int start_entry(struct tarx_ctx *ctx, const unsigned char *h, uint64_t size)
{
    struct tarx_entry *e = &ctx->entry;
    struct tarx_pending *pd = &ctx->pending;
    char type = h[156] ? (char)h[156] : '0';
    const char *raw;

    if (pd->has_path) {
        raw = pd->path;
    } else {
        size_t nlen = field_len(h, 100);
        size_t plen = 0;
        /* POSIX ustar has a prefix field; GNU's "ustar  " uses those bytes otherwise */
        if (!memcmp(h + 257, "ustar\0", 6))
            plen = field_len(h + 345, 155);
        char *o = ctx->namebuf;
        if (plen) {
            memcpy(o, h + 345, plen);
            o[plen++] = '/';
        }
        memcpy(o + plen, h, nlen);
        o[plen + nlen] = 0;
        raw = o;
    }
    size_t rawlen = strlen(raw);
    if (type == '0' && rawlen && raw[rawlen - 1] == '/')
        type = '5'; /* pre-POSIX directories */
    if (type == '7')
        type = '0'; /* contiguous files are regular files */

    const char *rawlink;
    if (pd->has_link) {
        rawlink = pd->link;
    } else {
        size_t llen = field_len(h + 157, 100);
        memcpy(ctx->linkbuf, h + 157, llen);
        ctx->linkbuf[llen] = 0;
        rawlink = ctx->linkbuf;
    }

    uint64_t v;
    e->type = type;
    e->size = size;
    if (parse_number(h + 100, 8, &v) < 0)
        return tarx_fail(ctx, "%s: bad mode field", raw);
    e->mode = v & 07777;
    if (pd->has_uid)
        e->uid = pd->uid;
    else if (parse_number(h + 108, 8, &v) < 0 || v > UINT32_MAX)
        return tarx_fail(ctx, "%s: bad uid field", raw);
    else
        e->uid = v;
    if (pd->has_gid)
        e->gid = pd->gid;
    else if (parse_number(h + 116, 8, &v) < 0 || v > UINT32_MAX)
        return tarx_fail(ctx, "%s: bad gid field", raw);
    else
        e->gid = v;
    if (pd->has_mtime) {
        e->mtime = pd->mtime;
    } else {
        if (parse_number(h + 136, 12, &v) < 0)
            return tarx_fail(ctx, "%s: bad mtime field", raw);
        e->mtime.tv_sec = (time_t)v;
        e->mtime.tv_nsec = 0;
    }
    e->devmajor = e->devminor = 0;
    if (type == '3' || type == '4') {
        uint64_t ma, mi;
        if (parse_number(h + 329, 8, &ma) < 0 || parse_number(h + 337, 8, &mi) < 0 ||
            ma > UINT32_MAX || mi > UINT32_MAX)
            return tarx_fail(ctx, "%s: bad device numbers", raw);
        e->devmajor = ma;
        e->devminor = mi;
    }
    e->nxattrs = pd->nxattrs;
    memcpy(e->xattrs, pd->xattrs, pd->nxattrs * sizeof pd->xattrs[0]);

    /* normalised copies; the buffers live in the ctx until the next entry */
    static const size_t cap = TARX_NAME_MAX + TARX_BLOCK;
    if (!e->path && !(e->path = malloc(cap)))
        return tarx_fail(ctx, "out of memory");
    if (!e->link && !(e->link = malloc(cap)))
        return tarx_fail(ctx, "out of memory");
    int r = tarx_normalize(raw, e->path, cap);
    if (r == -2)
        return tarx_fail(ctx, "%s: path escapes the root with \"..\"", raw);
    if (r < 0)
        return tarx_fail(ctx, "%s: path too long", raw);
    if (type == '1') {
        r = tarx_normalize(rawlink, e->link, cap);
        if (r == -2)
            return tarx_fail(ctx, "%s: hardlink target \"%s\" escapes the root", raw, rawlink);
        if (r < 0)
            return tarx_fail(ctx, "%s: hardlink target too long", raw);
    } else {
        size_t l = strlen(rawlink);
        if (l >= cap)
            return tarx_fail(ctx, "%s: link target too long", raw);
        memcpy(e->link, rawlink, l + 1);
    }
    memset(pd, 0, sizeof *pd);
    return tarx_begin_entry(ctx, e);
}

static int meta_done(struct tarx_ctx *ctx);

/* A complete header block: meta headers set up a buffer sink, real ones start an entry. */
static int on_header(struct tarx_ctx *ctx, const unsigned char *h)
{
    if (is_zero_block(h)) {
        if (++ctx->zero_blocks >= 2)
            ctx->state = ST_END;
        return 0;
    }
    ctx->zero_blocks = 0; /* a lone zero block is tolerated, as GNU tar does */
    if (!checksum_ok(h))
        return tarx_fail(ctx, "corrupt tar header at offset %llu: checksum mismatch",
                         (unsigned long long)ctx->offset);
    uint64_t size;
    if (parse_number(h + 124, 12, &size) < 0)
        return tarx_fail(ctx, "corrupt tar header at offset %llu: bad size field",
                         (unsigned long long)ctx->offset);
    char type = (char)h[156];
    if (ctx->pending.has_size && type != 'x' && type != 'g' && type != 'L' && type != 'K')
        size = ctx->pending.size;

    ctx->sink = SINK_SKIP;
    switch (type) {
    case 'x':
    case 'g':
        if (size > TARX_PAX_MAX)
            return tarx_fail(ctx, "pax header at offset %llu too large (%llu bytes)",
                             (unsigned long long)ctx->offset, (unsigned long long)size);
        ctx->sink = type == 'x' ? SINK_PAX : SINK_GLOBAL;
        ctx->pax.len = 0;
        break;
    case 'L':
    case 'K':
        if (size > TARX_NAME_MAX)
            return tarx_fail(ctx, "GNU long name at offset %llu too large",
                             (unsigned long long)ctx->offset);
        ctx->sink = type == 'L' ? SINK_LONGNAME : SINK_LONGLINK;
        (type == 'L' ? &ctx->longname : &ctx->longlink)->len = 0;
        break;
    case 'S':
        return tarx_fail(ctx, "sparse files are not supported (entry at offset %llu)",
                         (unsigned long long)ctx->offset);
    case 'M':
        return tarx_fail(ctx, "multi-volume archives are not supported");
    case 'V':
        break; /* volume label */
    default:
        /* like Go's archive/tar (rkt), header-only types have no data whatever the size
           field says */
        if (strchr("123456", type) && type)
            size = 0;
        ctx->stats.entries++;
        if (start_entry(ctx, h, size) < 0)
            return -1;
        /* links, dirs and devices carry no data even if a size is declared, except
           what the header says must be skipped */
        break;
    }
    ctx->remaining = size;
    ctx->pad = (TARX_BLOCK - size % TARX_BLOCK) % TARX_BLOCK;
    ctx->state = size ? ST_DATA : ST_HEADER;
    return size ? 0 : meta_done(ctx);
}

static int meta_done(struct tarx_ctx *ctx)
{
    struct tarx_pending *pd = &ctx->pending;
    switch (ctx->sink) {
    case SINK_PAX:
        return parse_pax(ctx, ctx->pax.data, ctx->pax.len, 0);
    case SINK_GLOBAL:
        return parse_pax(ctx, ctx->pax.data, ctx->pax.len, 1);
    case SINK_LONGNAME:
        pd->path = ctx->longname.data;
        pd->has_path = 1;
        return 0;
    case SINK_LONGLINK:
        pd->link = ctx->longlink.data;
        pd->has_link = 1;
        return 0;
    case SINK_FILE:
    case SINK_MANIFEST:
        return tarx_end_file(ctx);
    default:
        return 0;
    }
}

static int sink_data(struct tarx_ctx *ctx, const char *p, size_t n)
{
    switch (ctx->sink) {
    case SINK_FILE:
        return tarx_write_data(ctx, p, n);
    case SINK_PAX:
    case SINK_GLOBAL:
        if (tarx_buf_append(&ctx->pax, p, n, TARX_PAX_MAX) < 0)
            return tarx_fail(ctx, "out of memory reading pax header");
        return 0;
    case SINK_LONGNAME:
    case SINK_LONGLINK:
        if (tarx_buf_append(ctx->sink == SINK_LONGNAME ? &ctx->longname : &ctx->longlink, p,
                            n, TARX_NAME_MAX) < 0)
            return tarx_fail(ctx, "out of memory reading GNU long name");
        return 0;
    case SINK_MANIFEST:
        if (tarx_buf_append(&ctx->manifest, p, n, ctx->opts.manifest_max) < 0)
            return tarx_fail(ctx, "manifest: larger than %zu bytes", ctx->opts.manifest_max);
        return 0;
    default:
        return 0;
    }
}

int tarx_feed(tarx_ctx *ctx, const char *buf, size_t len)
{
    if (ctx->failed)
        return -1;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        size_t avail = end - p;
        switch (ctx->state) {
        case ST_HEADER:
            if (ctx->hdr_fill == 0 && avail >= TARX_BLOCK) {
                if (on_header(ctx, (const unsigned char *)p) < 0)
                    return -1;
                p += TARX_BLOCK;
                ctx->offset += TARX_BLOCK;
            } else {
                size_t n = TARX_BLOCK - ctx->hdr_fill;
                if (n > avail)
                    n = avail;
                memcpy(ctx->hdr + ctx->hdr_fill, p, n);
                ctx->hdr_fill += n;
                p += n;
                if (ctx->hdr_fill == TARX_BLOCK) {
                    ctx->hdr_fill = 0;
                    if (on_header(ctx, ctx->hdr) < 0)
                        return -1;
                    ctx->offset += TARX_BLOCK;
                }
            }
            break;
        case ST_DATA: {
            size_t n = ctx->remaining < avail ? (size_t)ctx->remaining : avail;
            if (sink_data(ctx, p, n) < 0)
                return -1;
            p += n;
            ctx->offset += n;
            ctx->remaining -= n;
            if (!ctx->remaining) {
                if (meta_done(ctx) < 0)
                    return -1;
                ctx->state = ctx->pad ? ST_PAD : ST_HEADER;
            }
            break;
        }
        case ST_PAD: {
            size_t n = ctx->pad < avail ? (size_t)ctx->pad : avail;
            p += n;
            ctx->offset += n;
            ctx->pad -= n;
            if (!ctx->pad)
                ctx->state = ST_HEADER;
            break;
        }
        case ST_END:
            p = end; /* whatever follows the end-of-archive marker is ignored */
            break;
        }
    }
    ctx->stats.archive_bytes += len;
    return 0;
}

int tarx_finish(tarx_ctx *ctx)
{
    if (ctx->failed)
        return -1;
    /* A stream that stops on a block boundary without the end marker is accepted, as Go's
       archive/tar (rkt) and GNU tar do; stopping inside a header or data is not. */
    if (ctx->state == ST_DATA || ctx->state == ST_PAD || ctx->hdr_fill) {
        const char *what = ctx->entry.path ? ctx->entry.path : "";
        if (ctx->state == ST_HEADER)
            return tarx_fail(ctx, "truncated archive: incomplete header at offset %llu",
                             (unsigned long long)ctx->offset);
        return tarx_fail(ctx, "%s: truncated archive: %llu bytes of entry data missing", what,
                         (unsigned long long)(ctx->remaining + ctx->pad));
    }
    if (ctx->pending.has_path || ctx->pending.has_link || ctx->pending.has_size)
        return tarx_fail(ctx, "truncated archive: extended header without its entry");
    if (ctx->opts.aci && !ctx->seen_prefix_dir)
        return tarx_fail(ctx, "invalid image: missing %s/ directory",
                         ctx->keep_prefix ? ctx->keep_prefix : "rootfs");
    if (ctx->opts.aci && !ctx->have_manifest)
        return tarx_fail(ctx, "invalid image: missing manifest");
    if (tarx_finish_dirs(ctx) < 0)
        return -1;
    ctx->finished = 1;
    return 0;
}
