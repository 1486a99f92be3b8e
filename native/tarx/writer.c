/*
 * The tar writer: a directory tree to a ustar stream, with pax extended headers only where
 * ustar cannot say it (long names, big numbers, xattrs). Names are sorted bytewise so the
 * same tree gives the same bytes. Owners are numeric only: container trees name users of
 * their own /etc/passwd, not the host's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tarx.h"

#define BLOCK 512
#define OUTBUF (1u << 20)

struct link_slot {
    dev_t dev;
    ino_t ino;
    char *path;
};

struct writer {
    int out_fd;
    char *buf;
    size_t len;
    struct link_slot *links;
    size_t nlinks, caplinks;
    char *pax;
    size_t paxlen, paxcap;
    char err[1024];
    int failed;
};

static int wfail(struct writer *w, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wfail(struct writer *w, int err, const char *fmt, ...)
{
    if (w->failed)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    if (err && n >= 0 && (size_t)n < sizeof w->err)
        snprintf(w->err + n, sizeof w->err - n, ": %s", strerror(err));
    w->failed = 1;
    return -1;
}

static int flush_out(struct writer *w)
{
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = write(w->out_fd, w->buf + off, w->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return wfail(w, errno, "writing the archive");
        }
        off += (size_t)n;
    }
    w->len = 0;
    return 0;
}

static int put(struct writer *w, const void *p, size_t n)
{
    while (n) {
        size_t room = OUTBUF - w->len;
        size_t k = n < room ? n : room;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p = (const char *)p + k;
        n -= k;
        if (w->len == OUTBUF && flush_out(w) < 0)
            return -1;
    }
    return 0;
}

static int pad_to_block(struct writer *w, uint64_t size)
{
    static const char zeros[BLOCK];
    size_t pad = (BLOCK - size % BLOCK) % BLOCK;
    return pad ? put(w, zeros, pad) : 0;
}

/* octal into a field of width n (n-1 digits + NUL); 0 if it does not fit */
static int octal(char *f, size_t n, uint64_t v)
{
    if (n < 12 && v >> (3 * (n - 1)))
        return 0;
    if (n >= 12 && v > 077777777777ULL)
        return 0;
    snprintf(f, n, "%0*llo", (int)(n - 1), (unsigned long long)v);
    return 1;
}

static int pax_add(struct writer *w, const char *key, const char *val, size_t vlen)
{
    /* the record length counts its own digits: find the fixed point */
    size_t base = strlen(key) + vlen + 3; /* ' ', '=', '\n' */
    size_t len = base + 1;
    for (;;) {
        char d[24];
        size_t nd = (size_t)snprintf(d, sizeof d, "%zu", len);
        if (base + nd == len)
            break;
        len = base + nd;
    }
    if (w->paxlen + len > w->paxcap) {
        size_t cap = w->paxcap ? w->paxcap : 4096;
        while (cap < w->paxlen + len)
            cap *= 2;
        char *p = realloc(w->pax, cap);
        if (!p)
            return wfail(w, 0, "out of memory");
        w->pax = p;
        w->paxcap = cap;
    }
    char *o = w->pax + w->paxlen;
    int h = sprintf(o, "%zu %s=", len, key);
    memcpy(o + h, val, vlen);
    o[h + vlen] = '\n';
    w->paxlen += len;
    return 0;
}

static void checksum(char *h)
{
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

/* Splits name into ustar prefix/name fields; 0 if it cannot. */
static int split_name(char *h, const char *name)
{
    size_t l = strlen(name);
    if (l <= 100) {
        memcpy(h, name, l);
        return 1;
    }
    for (size_t i = l > 101 ? l - 101 : 0; i < l && i <= 155; i++) {
        if (name[i] == '/' && l - i - 1 <= 100 && l - i - 1 > 0) {
            memcpy(h + 345, name, i);
            memcpy(h, name + i + 1, l - i - 1);
            return 1;
        }
    }
    return 0;
}

struct xattr_list {
    char names[65536];
    ssize_t len;
};

static int emit_header(struct writer *w, const char *name, const struct stat *st, char type,
                       const char *link, int xfd, const char *xpath)
{
    char h[BLOCK];
    memset(h, 0, sizeof h);
    w->paxlen = 0;
    uint64_t size = type == '0' ? (uint64_t)st->st_size : 0;
    if (!split_name(h, name) && pax_add(w, "path", name, strlen(name)) < 0)
        return -1;
    if (link) {
        size_t ll = strlen(link);
        if (ll <= 100)
            memcpy(h + 157, link, ll);
        else if (pax_add(w, "linkpath", link, ll) < 0)
            return -1;
    }
    char num[32];
    octal(h + 100, 8, st->st_mode & 07777);
    if (!octal(h + 108, 8, st->st_uid)) {
        snprintf(num, sizeof num, "%u", st->st_uid);
        if (pax_add(w, "uid", num, strlen(num)) < 0)
            return -1;
    }
    if (!octal(h + 116, 8, st->st_gid)) {
        snprintf(num, sizeof num, "%u", st->st_gid);
        if (pax_add(w, "gid", num, strlen(num)) < 0)
            return -1;
    }
    if (!octal(h + 124, 12, size)) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)size);
        if (pax_add(w, "size", num, strlen(num)) < 0)
            return -1;
    }
    if (st->st_mtim.tv_sec < 0 || !octal(h + 136, 12, (uint64_t)st->st_mtim.tv_sec)) {
        snprintf(num, sizeof num, "%lld", (long long)st->st_mtim.tv_sec);
        if (pax_add(w, "mtime", num, strlen(num)) < 0)
            return -1;
    }
    h[156] = type;
    memcpy(h + 257, "ustar\0" "00", 8);
    if (type == '3' || type == '4') {
        octal(h + 329, 8, major(st->st_rdev));
        octal(h + 337, 8, minor(st->st_rdev));
    }
    /* xattrs, sorted by name */
    static __thread struct xattr_list xl;
    xl.len = xfd >= 0 ? flistxattr(xfd, xl.names, sizeof xl.names)
                      : xpath ? llistxattr(xpath, xl.names, sizeof xl.names) : 0;
    if (xl.len < 0 && errno != ENOTSUP)
        return wfail(w, errno, "%s: listing xattrs", name);
    if (xl.len > 0) {
        const char *ptrs[4096];
        size_t n = 0;
        for (char *p = xl.names; p < xl.names + xl.len && n < 4096; p += strlen(p) + 1)
            ptrs[n++] = p;
        for (size_t i = 1; i < n; i++) /* insertion sort: there are few */
            for (size_t j = i; j > 0 && strcmp(ptrs[j - 1], ptrs[j]) > 0; j--) {
                const char *t = ptrs[j];
                ptrs[j] = ptrs[j - 1];
                ptrs[j - 1] = t;
            }
        for (size_t i = 0; i < n; i++) {
            char val[65536], key[300];
            ssize_t vl = xfd >= 0 ? fgetxattr(xfd, ptrs[i], val, sizeof val)
                                  : lgetxattr(xpath, ptrs[i], val, sizeof val);
            if (vl < 0)
                return wfail(w, errno, "%s: reading xattr %s", name, ptrs[i]);
            snprintf(key, sizeof key, "SCHILY.xattr.%s", ptrs[i]);
            if (pax_add(w, key, val, (size_t)vl) < 0)
                return -1;
        }
    }
    if (w->paxlen) {
        char ph[BLOCK];
        memset(ph, 0, sizeof ph);
        memcpy(ph, "././@PaxHeader", 14);
        octal(ph + 100, 8, 0644);
        octal(ph + 108, 8, 0);
        octal(ph + 116, 8, 0);
        octal(ph + 124, 12, w->paxlen);
        memcpy(ph + 136, h + 136, 12);
        if (!ph[136])
            octal(ph + 136, 12, 0);
        ph[156] = 'x';
        memcpy(ph + 257, "ustar\0" "00", 8);
        checksum(ph);
        if (put(w, ph, BLOCK) < 0 || put(w, w->pax, w->paxlen) < 0 ||
            pad_to_block(w, w->paxlen) < 0)
            return -1;
        if (!h[0]) /* name went to pax: keep a truncated hint for old readers */
            memcpy(h, name, 100);
    }
    if (!h[136])
        octal(h + 136, 12, 0);
    checksum(h);
    return put(w, h, BLOCK);
}

static struct link_slot *link_find(struct writer *w, dev_t dev, ino_t ino)
{
    for (size_t i = (size_t)(ino * 2654435761u) % w->caplinks;; i = (i + 1) % w->caplinks) {
        struct link_slot *s = &w->links[i];
        if (!s->path || (s->dev == dev && s->ino == ino))
            return s;
    }
}

/* Returns the earlier path of this inode, or records name as its first path. */
static const char *link_seen(struct writer *w, const struct stat *st, const char *name)
{
    if (w->nlinks * 2 >= w->caplinks) {
        size_t cap = w->caplinks ? w->caplinks * 2 : 1024;
        struct link_slot *old = w->links;
        size_t oldcap = w->caplinks;
        w->links = calloc(cap, sizeof *w->links);
        if (!w->links) {
            w->links = old;
            wfail(w, 0, "out of memory");
            return NULL;
        }
        w->caplinks = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].path)
                *link_find(w, old[i].dev, old[i].ino) = old[i];
        free(old);
    }
    struct link_slot *s = link_find(w, st->st_dev, st->st_ino);
    if (s->path)
        return s->path;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->path = strdup(name);
    w->nlinks++;
    return "";
}

static int copy_content(struct writer *w, int fd, const char *name, uint64_t size)
{
    uint64_t left = size;
    while (left) {
        if (w->len == OUTBUF && flush_out(w) < 0)
            return -1;
        size_t room = OUTBUF - w->len;
        size_t want = left < room ? (size_t)left : room;
        ssize_t n = read(fd, w->buf + w->len, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return wfail(w, errno, "%s: read", name);
        }
        if (n == 0)
            return wfail(w, 0, "%s: file shrank while being archived", name);
        w->len += (size_t)n;
        left -= (uint64_t)n;
    }
    return pad_to_block(w, size);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int write_dir(struct writer *w, int dfd, const char *rel);

static int write_entry(struct writer *w, int dfd, const char *dname, const char *name)
{
    struct stat st;
    if (fstatat(dfd, dname, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return wfail(w, errno, "%s: stat", name);
    char xpath[64 + 256];
    snprintf(xpath, sizeof xpath, "/proc/self/fd/%d/%s", dfd, dname);
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return wfail(w, errno, "%s: open", name);
        size_t l = strlen(name);
        char *dn = malloc(l + 2);
        if (!dn) {
            close(fd);
            return wfail(w, 0, "out of memory");
        }
        memcpy(dn, name, l);
        dn[l] = '/';
        dn[l + 1] = 0;
        int r = emit_header(w, dn, &st, '5', NULL, fd, NULL);
        free(dn);
        if (r == 0)
            r = write_dir(w, fd, name);
        close(fd);
        return r;
    }
    if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1) {
            const char *first = link_seen(w, &st, name);
            if (!first)
                return -1;
            if (*first)
                return emit_header(w, name, &st, '1', first, -1, NULL);
        }
        int fd = openat(dfd, dname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return wfail(w, errno, "%s: open", name);
        int r = emit_header(w, name, &st, '0', NULL, fd, NULL);
        if (r == 0)
            r = copy_content(w, fd, name, (uint64_t)st.st_size);
        close(fd);
        return r;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[4097];
        ssize_t n = readlinkat(dfd, dname, target, sizeof target - 1);
        if (n < 0)
            return wfail(w, errno, "%s: readlink", name);
        target[n] = 0;
        return emit_header(w, name, &st, '2', target, -1, xpath);
    }
    char type = S_ISCHR(st.st_mode) ? '3' : S_ISBLK(st.st_mode) ? '4' : S_ISFIFO(st.st_mode) ? '6' : 0;
    if (!type)
        return 0; /* sockets have no tar form */
    return emit_header(w, name, &st, type, NULL, -1, xpath);
}

static int write_dir(struct writer *w, int dfd, const char *rel)
{
    int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        if (lfd >= 0)
            close(lfd);
        return wfail(w, errno, "%s: opendir", *rel ? rel : ".");
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                r = wfail(w, 0, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            r = wfail(w, 0, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (r == 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && r == 0; i++) {
        size_t l = strlen(rel) + strlen(names[i]) + 2;
        char *child = malloc(l);
        if (!child) {
            r = wfail(w, 0, "out of memory");
            break;
        }
        snprintf(child, l, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        r = write_entry(w, dfd, names[i], child);
        free(child);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

int tarx_write_tree(int dir_fd, int out_fd, const char *prefix, const char *manifest,
                    size_t manifest_len, int64_t manifest_mtime, char *err, size_t errlen)
{
    struct writer w = {.out_fd = out_fd};
    int r = -1;
    if (!(w.buf = malloc(OUTBUF))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (manifest) {
        struct stat st = {0};
        st.st_mode = S_IFREG | 0644;
        st.st_size = (off_t)manifest_len;
        st.st_mtim.tv_sec = manifest_mtime;
        if (emit_header(&w, "manifest", &st, '0', NULL, -1, NULL) < 0 ||
            put(&w, manifest, manifest_len) < 0 || pad_to_block(&w, manifest_len) < 0)
            goto out;
    }
    const char *rel = prefix ? prefix : "";
    if (*rel) {
        struct stat st;
        if (fstat(dir_fd, &st) < 0) {
            wfail(&w, errno, "stat of the tree root");
            goto out;
        }
        char dn[4096];
        snprintf(dn, sizeof dn, "%s/", rel);
        if (emit_header(&w, dn, &st, '5', NULL, dir_fd, NULL) < 0)
            goto out;
    }
    if (write_dir(&w, dir_fd, rel) < 0)
        goto out;
    static const char zeros[2 * BLOCK];
    if (put(&w, zeros, sizeof zeros) < 0 || flush_out(&w) < 0)
        goto out;
    r = 0;
out:
    if (r < 0)
        snprintf(err, errlen, "%s", w.err);
    for (size_t i = 0; i < w.caplinks; i++)
        free(w.links[i].path);
    free(w.links);
    free(w.pax);
    free(w.buf);
    return r;
}
