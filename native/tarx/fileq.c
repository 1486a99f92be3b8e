/*
 * Regular files are filled and finished on a second thread.
 *
 * Writing content is most of the extractor's kernel time (copying into fresh page-cache
 * pages), and on two cores it can overlap with the next entries' creation. The split keeps
 * the security boundary where it was: the extracting thread alone resolves paths and
 * creates, replaces or links names, in archive order; the worker only ever touches the
 * fds it is handed (write, fchown, fchmod, fsetxattr, futimens, close), in the order the
 * files came. Owner and mode go after the content, as before: a write drops
 * security.capability and, without CAP_FSETID, setuid bits.
 *
 * Memory and fds stay bounded: content waits in one ring of QUEUE_BYTES allocated once
 * (so its pages stay hot), in pieces of at most PIECE bytes, and at most QUEUE_JOBS
 * pieces (each holding its file's fd) are queued. The extractor blocks when either is full.
 * A file's content is gathered into one piece when it fits, so a small file straddling two
 * input chunks still costs one write(2).
 *
 * With content_digests the worker also hashes each file's content while it is still in the
 * ring, and records it by inode number once the file is complete: the tree digest taken
 * right after extraction then need not read the files back. The record of an inode is
 * always the last file written with it, since files are finished in order and an inode
 * number is only reused once its file is closed and gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tarx_internal.h"

#define QUEUE_BYTES (4u << 20)
#define QUEUE_JOBS 256
#define PIECE (1u << 20)
/* Handing over one file at a time cost two or three futex calls per file, about as much
   CPU as writing a small file: the extractor wakes the worker only once WAKE_JOBS pieces
   or a quarter of the ring wait (or before it waits itself), and the worker wakes the
   extractor only once half the queue is free. */
#define WAKE_JOBS 16

struct job {
    int fd;
    int first;             /* the file's first piece */
    int last;              /* finish and close the file after this piece */
    size_t off, len;       /* content in the ring */
    size_t held;           /* ring bytes to release afterwards (content and skipped tail) */
    int do_chown, do_chmod;
    uint32_t uid, gid, mode;
    struct timespec mtime;
    char *meta;            /* last piece: path, then nxattrs of (name, u32 length, value) */
    size_t nxattrs;
};

struct tarx_fileq {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, space;
    char *ring;
    size_t head, used;     /* producer's next offset; bytes held by unfinished pieces */
    struct job jobs[QUEUE_JOBS];
    unsigned first, count; /* published pieces, FIFO */
    int idle, waiting, stop, discard, failed;
    char err[TARX_ERRLEN];
    struct job cur;        /* the piece being gathered (fd < 0: none) */
    size_t cur_cap;
    EVP_MD_CTX *md;        /* the worker's, when content digests are wanted */
    struct digest_rec *digests; /* the worker's until drained */
    size_t ndigests, capdigests;
};

struct digest_rec {
    struct tarx_file_digest d;
    size_t seq;            /* order of completion: the last one of an inode wins */
};

static void q_fail(struct tarx_fileq *q, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void q_fail(struct tarx_fileq *q, int err, const char *fmt, ...)
{
    char msg[TARX_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - n, ": %s", strerror(err));
    pthread_mutex_lock(&q->mu);
    if (!q->failed) {
        memcpy(q->err, msg, sizeof msg);
        __atomic_store_n(&q->failed, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&q->mu);
}

static void finish_file(struct tarx_fileq *q, const struct job *j)
{
    const char *path = j->meta;
    if (j->do_chown && fchown(j->fd, j->uid, j->gid) < 0)
        return q_fail(q, errno, "%s: fchown %u:%u", path, j->uid, j->gid);
    if (j->do_chmod && fchmod(j->fd, j->mode) < 0)
        return q_fail(q, errno, "%s: fchmod %o", path, j->mode);
    const char *x = path + strlen(path) + 1;
    for (size_t i = 0; i < j->nxattrs; i++) {
        const char *name = x;
        uint32_t len;
        x += strlen(name) + 1;
        memcpy(&len, x, sizeof len);
        x += sizeof len;
        if (fsetxattr(j->fd, name, x, len, 0) < 0 && errno != ENOTSUP)
            return q_fail(q, errno, "%s: setting xattr %s", path, name);
        x += len;
    }
    struct timespec ts[2] = {{0, UTIME_OMIT}, j->mtime};
    if (futimens(j->fd, ts) < 0)
        return q_fail(q, errno, "%s: setting mtime", path);
}

/* Lost records only cost a read of those files later. */
static void record_digest(struct tarx_fileq *q, int fd)
{
    struct stat st;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len;
    EVP_DigestFinal_ex(q->md, md, &len);
    if (fstat(fd, &st) < 0 || len != 32)
        return;
    if (q->ndigests == q->capdigests) {
        size_t cap = q->capdigests ? q->capdigests * 2 : 1024;
        struct digest_rec *d = realloc(q->digests, cap * sizeof *d);
        if (!d)
            return;
        q->digests = d;
        q->capdigests = cap;
    }
    struct digest_rec *r = &q->digests[q->ndigests];
    r->d.ino = st.st_ino;
    r->d.size = (uint64_t)st.st_size;
    memcpy(r->d.sha256, md, 32);
    r->seq = q->ndigests++;
}

static void run_job(struct tarx_fileq *q, struct job *j, int skip)
{
    const char *path = j->meta;
    const char *p = q->ring + j->off;
    size_t n = j->len;
    while (n && !skip) {
        ssize_t w = write(j->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            q_fail(q, errno, "%s: write", path);
            skip = 1;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    if (q->md && !skip) {
        if (j->first)
            EVP_DigestInit_ex(q->md, EVP_sha256(), NULL);
        EVP_DigestUpdate(q->md, q->ring + j->off, j->len);
    }
    if (!j->last)
        return;
    if (!skip)
        finish_file(q, j);
    if (q->md && !skip && !__atomic_load_n(&q->failed, __ATOMIC_ACQUIRE))
        record_digest(q, j->fd);
    if (close(j->fd) < 0 && !skip)
        q_fail(q, errno, "%s: close", path);
    free(j->meta);
}

static void *worker(void *arg)
{
    struct tarx_fileq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->count && !q->stop) {
            q->idle = 1;
            pthread_cond_wait(&q->work, &q->mu);
        }
        q->idle = 0;
        if (!q->count)
            break;
        struct job j = q->jobs[q->first];
        /* after a failure the rest is only closed: the extraction is failing anyway */
        int skip = q->discard || q->failed;
        pthread_mutex_unlock(&q->mu);
        run_job(q, &j, skip);
        pthread_mutex_lock(&q->mu);
        q->first = (q->first + 1) % QUEUE_JOBS;
        q->count--;
        q->used -= j.held;
        if (q->waiting && (!q->count || (q->count <= QUEUE_JOBS / 2 &&
                                         q->used <= QUEUE_BYTES / 2)))
            pthread_cond_signal(&q->space);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* The worker's first error becomes the extraction's. */
static int check(struct tarx_ctx *ctx, struct tarx_fileq *q)
{
    if (!__atomic_load_n(&q->failed, __ATOMIC_ACQUIRE))
        return 0;
    pthread_mutex_lock(&q->mu);
    tarx_fail(ctx, "%s", q->err);
    pthread_mutex_unlock(&q->mu);
    return -1;
}

/* Called with the lock held: the worker may be asleep on fewer than WAKE_JOBS pieces. */
static void wait_for_room(struct tarx_fileq *q)
{
    if (q->idle)
        pthread_cond_signal(&q->work);
    q->waiting = 1;
    pthread_cond_wait(&q->space, &q->mu);
}

static void publish(struct tarx_fileq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == QUEUE_JOBS)
        wait_for_room(q);
    q->waiting = 0;
    q->jobs[(q->first + q->count) % QUEUE_JOBS] = q->cur;
    q->count++;
    if (q->idle && (q->count >= WAKE_JOBS || q->used >= QUEUE_BYTES / 4))
        pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    q->cur.fd = -1;
}

/* Room for n contiguous bytes in the ring for the current piece. */
static void reserve(struct tarx_fileq *q, size_t n)
{
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (!q->used)
            q->head = 0;
        int wrap = q->head + n > QUEUE_BYTES; /* the piece starts over at 0 ... */
        size_t skip = wrap ? QUEUE_BYTES - q->head : 0; /* ... and holds the tail till then */
        if (q->used + skip + n <= QUEUE_BYTES) {
            if (wrap)
                q->head = 0;
            q->cur.off = q->head;
            q->cur.held = skip + n;
            q->head += n;
            q->used += skip + n;
            break;
        }
        wait_for_room(q);
    }
    q->waiting = 0;
    pthread_mutex_unlock(&q->mu);
    q->cur.len = 0;
    q->cur_cap = n;
}

struct tarx_fileq *tarx_fileq_start(int digests)
{
    struct tarx_fileq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->ring = malloc(QUEUE_BYTES);
    q->cur.fd = -1;
    if (digests && !(q->md = EVP_MD_CTX_new()))
        goto fail;
    if (!q->ring || pthread_mutex_init(&q->mu, NULL) || pthread_cond_init(&q->work, NULL) ||
        pthread_cond_init(&q->space, NULL))
        goto fail;
    if (pthread_create(&q->thread, NULL, worker, q))
        goto fail;
    return q;
fail:
    EVP_MD_CTX_free(q->md);
    free(q->ring);
    free(q);
    return NULL;
}

/* Takes over `fd`, a new regular file for entry `e`. */
int tarx_fileq_begin(struct tarx_ctx *ctx, struct tarx_fileq *q, int fd,
                     const struct tarx_entry *e, int do_chown, int do_chmod)
{
    if (check(ctx, q) < 0) {
        close(fd);
        return -1;
    }
    size_t plen = strlen(e->path) + 1, mlen = plen;
    for (size_t i = 0; i < e->nxattrs; i++)
        mlen += strlen(e->xattrs[i].name) + 1 + sizeof(uint32_t) + e->xattrs[i].len;
    char *meta = malloc(mlen);
    if (!meta) {
        close(fd);
        return tarx_fail(ctx, "out of memory");
    }
    char *m = meta;
    memcpy(m, e->path, plen);
    m += plen;
    for (size_t i = 0; i < e->nxattrs; i++) {
        size_t nl = strlen(e->xattrs[i].name) + 1;
        uint32_t vl = (uint32_t)e->xattrs[i].len;
        memcpy(m, e->xattrs[i].name, nl);
        m += nl;
        memcpy(m, &vl, sizeof vl);
        m += sizeof vl;
        memcpy(m, e->xattrs[i].value, vl);
        m += vl;
    }
    q->cur = (struct job){.fd = fd, .first = 1, .meta = meta, .nxattrs = e->nxattrs,
                          .do_chown = do_chown, .do_chmod = do_chmod, .uid = e->uid,
                          .gid = e->gid, .mode = e->mode, .mtime = e->mtime};
    q->cur_cap = 0;
    return 0;
}

/* `remaining`: the file's content not yet queued, p[0..n) included. */
int tarx_fileq_write(struct tarx_ctx *ctx, struct tarx_fileq *q, const char *p, size_t n,
                     uint64_t remaining)
{
    while (n) {
        if (q->cur.len == q->cur_cap) {
            if (q->cur_cap) {
                if (check(ctx, q) < 0)
                    return -1;
                struct job next = q->cur;
                publish(q);
                q->cur = next;
                q->cur.first = 0;
            }
            reserve(q, remaining < PIECE ? (size_t)remaining : PIECE);
        }
        size_t k = q->cur_cap - q->cur.len;
        if (k > n)
            k = n;
        memcpy(q->ring + q->cur.off + q->cur.len, p, k);
        q->cur.len += k;
        p += k;
        n -= k;
        remaining -= k;
    }
    return 0;
}

int tarx_fileq_end(struct tarx_ctx *ctx, struct tarx_fileq *q)
{
    q->cur.last = 1;
    publish(q);
    return check(ctx, q);
}

/* Waits until every queued file is written and closed. */
int tarx_fileq_drain(struct tarx_ctx *ctx, struct tarx_fileq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->count)
        wait_for_room(q);
    q->waiting = 0;
    pthread_mutex_unlock(&q->mu);
    return check(ctx, q);
}

/* Stops the worker; whatever is still queued is closed unwritten. */
void tarx_fileq_stop(struct tarx_fileq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    q->discard = 1;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    if (q->cur.fd >= 0) { /* a file that failed half-way */
        close(q->cur.fd);
        free(q->cur.meta);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->space);
    EVP_MD_CTX_free(q->md);
    free(q->digests);
    free(q->ring);
    free(q);
}

static int by_inode_then_order(const void *a, const void *b)
{
    const struct digest_rec *x = a, *y = b;
    if (x->d.ino != y->d.ino)
        return x->d.ino < y->d.ino ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* After a drain: the records sorted by inode, the last of each inode kept, compacted into
   `out` (which must hold ndigests records). Returns their number. */
size_t tarx_fileq_digests(struct tarx_fileq *q, struct tarx_file_digest *out)
{
    if (!q->ndigests)
        return 0;
    qsort(q->digests, q->ndigests, sizeof *q->digests, by_inode_then_order);
    size_t n = 0;
    for (size_t i = 0; i < q->ndigests; i++) {
        if (i + 1 < q->ndigests && q->digests[i + 1].d.ino == q->digests[i].d.ino)
            continue;
        out[n++] = q->digests[i].d;
    }
    return n;
}

size_t tarx_fileq_ndigests(struct tarx_fileq *q)
{
    return q->ndigests;
}
