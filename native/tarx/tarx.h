/*
 * tarx: a streaming tar extractor and writer for rendering container images.
 *
 * The extractor is push-driven: the caller feeds the raw (uncompressed) tar stream in
 * chunks of any size; no per-entry callback or allocation reaches the caller. Every path
 * is resolved inside the root directory given at creation (openat2 RESOLVE_IN_ROOT), so
 * no entry can create or modify anything outside it, whatever its name, links or order.
 *
 * All functions return 0 on success and -1 on error; the error text (naming the entry
 * path and what failed) is available from tarx_error().
 *
 * This header is also the cffi cdef: keep it free of preprocessor directives other than
 * the include guard and plain declarations.
 */
#ifndef TARX_H
#define TARX_H

#include <stddef.h>
#include <stdint.h>

struct tarx_options {
    /* Only entries equal to or below this directory name (no slashes at either end, e.g.
       "rootfs") are extracted; others are ignored. NULL or "" extracts everything. */
    const char *keep_prefix;
    /* Remove keep_prefix from the extracted paths (rootfs/bin/sh -> bin/sh). */
    int strip_prefix;
    /* ACI mode: capture the top-level "manifest" regular file in memory (error if
       duplicated or larger than manifest_max), and fail at the end when nothing at or below
       keep_prefix was seen (an ACI without rootfs/). */
    int aci;
    size_t manifest_max;
    /* appc pathWhitelist: NUL-separated paths relative to keep_prefix (e.g. "bin/sh" or
       "/bin/sh" for rootfs/bin/sh); when non-empty, only listed non-directories and the
       directories listed or on the way to a listed path are extracted. */
    const char *whitelist;
    size_t whitelist_len;
    /* Docker/OCI whiteouts: ".wh.NAME" removes NAME, ".wh..wh..opq" empties the dir. */
    int whiteouts;
    /* Layered rendering: an entry that is not a directory replaces an existing directory
       (whose tree is removed) instead of failing. */
    int overwrite;
    /* Added to every uid/gid (user namespace shift for --private-users). */
    uint32_t uid_shift;
    uint32_t gid_shift;
    /* Apply owners: -1 = when running as root, 0 = never, 1 = always. */
    int same_owner;
    /* Parse and validate only (manifest capture, ACI checks); root_fd may be -1. */
    int list_only;
    /* Hash each regular file's content (SHA-256) as it is written: tarx_content_digests. */
    int content_digests;
};

/* The content digest of a regular file written by this extraction, by inode number. */
struct tarx_file_digest {
    uint64_t ino;
    uint64_t size;
    unsigned char sha256[32];
};

struct tarx_stats {
    uint64_t entries;         /* headers of real entries seen (not pax/GNU meta headers) */
    uint64_t files;           /* regular files created */
    uint64_t file_bytes;      /* bytes of regular file content written */
    uint64_t archive_bytes;   /* bytes of tar stream consumed */
    uint64_t skipped_devices; /* device nodes outside the safe set, not created */
    uint64_t ignored;         /* entries outside keep_prefix or the whitelist */
};

typedef struct tarx_ctx tarx_ctx;

/* root_fd is duplicated; the caller may close its copy. NULL on error (message in err). */
tarx_ctx *tarx_new(int root_fd, const struct tarx_options *opts, char *err, size_t errlen);
int tarx_feed(tarx_ctx *ctx, const char *buf, size_t len);
/* Checks the archive ended cleanly, sets directory times; call once after the last feed. */
int tarx_finish(tarx_ctx *ctx);
const char *tarx_error(tarx_ctx *ctx);
/* The captured manifest (ACI mode); NULL when there was none. Valid until tarx_free. */
const char *tarx_manifest(tarx_ctx *ctx, size_t *len);
void tarx_get_stats(tarx_ctx *ctx, struct tarx_stats *out);
/* After tarx_finish, with content_digests: the digests of the files written, sorted by inode
   number, one per inode (the last file written with it). Some files may be missing (their
   content was written without the worker). Valid until tarx_free. */
size_t tarx_content_digests(tarx_ctx *ctx, const struct tarx_file_digest **out);
void tarx_free(tarx_ctx *ctx);

/* Writes the tree below dir_fd as a pax/ustar stream to out_fd, names sorted bytewise.
   prefix ("rootfs" or NULL) is prepended to every name and emitted as a directory entry
   for dir_fd itself; manifest (if not NULL) is emitted first as a regular file named
   "manifest" (mode 0644, mtime manifest_mtime). Ends with the two zero blocks. */
int tarx_write_tree(int dir_fd, int out_fd, const char *prefix, const char *manifest,
                    size_t manifest_len, int64_t manifest_mtime, char *err, size_t errlen);

#endif
