/* Shared state of the extractor; see tarx.h for the public contract. */
#ifndef TARX_INTERNAL_H
#define TARX_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "tarx.h"

#define TARX_BLOCK 512
#define TARX_ERRLEN 1024
#define TARX_PAX_MAX (1u << 20)  /* a pax header larger than this is hostile */
#define TARX_NAME_MAX (1u << 16) /* GNU long names / links */
#define TARX_XATTR_MAX 128

enum tarx_state {
    ST_HEADER,  /* collecting a 512-byte header block */
    ST_DATA,    /* entry content: written, buffered or skipped according to sink */
    ST_PAD,     /* padding to the next block boundary */
    ST_END,     /* end-of-archive seen: trailing bytes are ignored */
};

enum tarx_sink {
    SINK_SKIP,     /* discard */
    SINK_FILE,     /* write to out_fd */
    SINK_PAX,      /* pax extended header ('x') */
    SINK_GLOBAL,   /* pax global header ('g'): read and ignored */
    SINK_LONGNAME, /* GNU 'L' */
    SINK_LONGLINK, /* GNU 'K' */
    SINK_MANIFEST, /* ACI manifest */
};

struct tarx_buf {
    char *data;
    size_t len, cap;
};

struct tarx_xattr {
    const char *name; /* NUL-terminated, inside ctx->pax */
    const char *value;
    size_t len;
};

/* One archive entry with the pax/GNU overrides applied. */
struct tarx_entry {
    char type;           /* tar typeflag, normalised ('0' for regular) */
    char *path;          /* normalised relative path, "" for the root */
    char *link;          /* raw link target (symlink) / normalised path (hardlink) */
    uint64_t size;
    uint32_t mode, uid, gid;
    uint32_t devmajor, devminor;
    struct timespec mtime;
    size_t nxattrs;
    struct tarx_xattr xattrs[TARX_XATTR_MAX];
};

/* Overrides carried from a pax 'x' or GNU 'L'/'K' header to the next real entry. */
struct tarx_pending {
    int has_path, has_link, has_size, has_uid, has_gid, has_mtime;
    uint64_t size;
    uint32_t uid, gid;
    struct timespec mtime;
    size_t nxattrs;
    struct tarx_xattr xattrs[TARX_XATTR_MAX];
    char *path; /* inside pax or longname buffers */
    char *link;
};

/* Directory times (and modes we could not apply yet) are set once all entries are in,
   since creating an entry inside a directory changes its mtime. */
struct tarx_dirtime {
    char *path;
    struct timespec mtime;
    int fix_mode; /* -1 or the mode to apply at the end */
};

struct tarx_ctx {
    struct tarx_options opts;
    char *keep_prefix; /* owned copy */
    size_t keep_prefix_len;
    char **whitelist;  /* sorted; entries are whitelisted paths and their ancestors */
    unsigned char *wl_exact;
    size_t nwhitelist;

    int root_fd;
    int tree_fd; /* where entries land: root_fd, or root_fd/keep_prefix when not stripped;
                    every path is resolved with this as "/" */
    int apply_owner;
    uid_t euid;
    gid_t egid;
    mode_t umask;

    /* parser */
    enum tarx_state state;
    enum tarx_sink sink;
    unsigned char hdr[TARX_BLOCK];
    size_t hdr_fill;
    int zero_blocks;
    uint64_t remaining; /* of the current entry's data */
    uint64_t pad;       /* bytes of padding left */
    uint64_t offset;    /* of the stream, for messages */
    struct tarx_buf pax, longname, longlink, manifest;
    int have_manifest, seen_prefix_dir;
    struct tarx_pending pending;
    struct tarx_entry entry;
    char namebuf[TARX_BLOCK + 2]; /* ustar prefix + "/" + name */
    char linkbuf[TARX_BLOCK];

    /* extraction */
    int out_fd;         /* regular file being written here (no fileq) */
    struct tarx_fileq *fileq; /* or the worker that writes it; started on the first file */
    int fileq_tried;
    struct tarx_file_digest *digests; /* tarx_content_digests, made once */
    size_t ndigests;
    int digests_made;
    int finished;       /* tarx_finish succeeded: every file is complete */
    char *cur_path;     /* its path, for messages */
    char *parent_path;  /* cached parent directory (capacity parent_cap) ... */
    size_t parent_cap;
    int parent_fd;      /* ... and its fd (-1 when none) */
    gid_t parent_gid;   /* gid new files get in it (setgid dirs pass theirs on) */
    struct tarx_dirtime *dirtimes;
    size_t ndirtimes, capdirtimes;

    struct tarx_stats stats;
    int failed;
    char err[TARX_ERRLEN];
};

/* reader.c */
int tarx_fail(struct tarx_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tarx_fail_errno(struct tarx_ctx *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tarx_buf_append(struct tarx_buf *b, const char *p, size_t n, size_t max);

/* path.c */
int tarx_normalize(const char *in, char *out, size_t outlen);
int tarx_whitelist_init(struct tarx_ctx *ctx, const char *list, size_t len);
int tarx_whitelisted(struct tarx_ctx *ctx, const char *path, int is_dir);

/* extract.c: called by the reader for each entry; data arrives via tarx_write_data */
int tarx_begin_entry(struct tarx_ctx *ctx, struct tarx_entry *e);
int tarx_write_data(struct tarx_ctx *ctx, const char *p, size_t n);
int tarx_end_file(struct tarx_ctx *ctx);
int tarx_finish_dirs(struct tarx_ctx *ctx);
void tarx_close_parent(struct tarx_ctx *ctx);

/* fileq.c: regular files written and finished on a second thread */
struct tarx_fileq;
struct tarx_fileq *tarx_fileq_start(int digests);
int tarx_fileq_begin(struct tarx_ctx *ctx, struct tarx_fileq *q, int fd,
                     const struct tarx_entry *e, int do_chown, int do_chmod);
int tarx_fileq_write(struct tarx_ctx *ctx, struct tarx_fileq *q, const char *p, size_t n,
                     uint64_t remaining);
int tarx_fileq_end(struct tarx_ctx *ctx, struct tarx_fileq *q);
int tarx_fileq_drain(struct tarx_ctx *ctx, struct tarx_fileq *q);
void tarx_fileq_stop(struct tarx_fileq *q);
size_t tarx_fileq_ndigests(struct tarx_fileq *q);
size_t tarx_fileq_digests(struct tarx_fileq *q, struct tarx_file_digest *out);

/* fsutil.c */
int tarx_open_dir_in_root(int root_fd, const char *path, int flags);
int tarx_remove_at(int dirfd, const char *name);
int tarx_empty_dir(int fd);

#endif
