# cython: language_level=3, boundscheck=False, wraparound=False
# distutils: libraries = crypto
# distutils: extra_compile_args = -pthread
"""Digest of a rendered tree, for `rkt image verify` and tamper checks.

tree_digest(path) walks the tree in bytewise-sorted order (no Python object per file) and
hashes, for every entry, its relative path, type, mode, uid, gid, size, symlink target,
device numbers, xattrs and, for regular files, a digest of its content. mtimes are left out:
copying a tree (--no-overlay) must not change its digest.

Algorithm: SHA-256 (OpenSSL, SHA-NI where the CPU has it). BLAKE3 would be faster still,
but no C library of it is packaged here (the pip blake3 is Rust with no C API). File
contents are hashed by a few threads in parallel; the records are then hashed in order,
so the result does not depend on scheduling. The result is prefixed "sha256-" so the
algorithm can change later without ambiguity.

Content reads refuse symlinks anywhere on the way (openat2 RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS): a tree tampered into pointing outside fails instead of hashing the
host.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport strcmp, strlen, memcpy, strdup
from libc.stdio cimport snprintf
from libc.errno cimport errno
from posix.types cimport mode_t, off_t, dev_t
from posix.stat cimport struct_stat, S_ISDIR, S_ISREG, S_ISLNK, S_ISCHR, S_ISBLK, S_ISFIFO
from posix.unistd cimport close, read, dup, sysconf

cdef extern from "<fcntl.h>" nogil:
    enum: O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, AT_SYMLINK_NOFOLLOW
    int openat(int dirfd, const char *path, int flags, ...)

cdef extern from "<sys/stat.h>" nogil:
    int fstatat(int dirfd, const char *path, struct_stat *st, int flags)

cdef extern from "<unistd.h>" nogil:
    ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t len)
    enum: _SC_NPROCESSORS_ONLN

cdef extern from "<sys/sysmacros.h>" nogil:
    unsigned major(dev_t)
    unsigned minor(dev_t)

cdef extern from "<dirent.h>" nogil:
    ctypedef struct DIR
    struct dirent:
        char d_name[256]
    DIR *fdopendir(int fd)
    dirent *readdir(DIR *d)
    int closedir(DIR *d)

cdef extern from "<sys/xattr.h>" nogil:
    ssize_t llistxattr(const char *path, char *names, size_t size)
    ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)

cdef extern from "<sys/syscall.h>" nogil:
    long SYS_openat2

cdef extern from "<linux/openat2.h>" nogil:
    struct open_how:
        uint64_t flags
        uint64_t mode
        uint64_t resolve
    enum: RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS

cdef extern from "<unistd.h>" nogil:
    long syscall(long number, ...)

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_create(pthread_t *t, void *attr, void *(*fn)(void *) noexcept nogil, void *arg)
    int pthread_join(pthread_t t, void **ret)
    int pthread_mutex_init(pthread_mutex_t *m, void *attr)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    int pthread_mutex_destroy(pthread_mutex_t *m)

cdef extern from "<openssl/evp.h>" nogil:
    ctypedef struct EVP_MD_CTX
    ctypedef struct EVP_MD
    const EVP_MD *EVP_sha256()
    EVP_MD_CTX *EVP_MD_CTX_new()
    void EVP_MD_CTX_free(EVP_MD_CTX *c)
    int EVP_DigestInit_ex(EVP_MD_CTX *c, const EVP_MD *md, void *engine)
    int EVP_DigestUpdate(EVP_MD_CTX *c, const void *d, size_t n)
    int EVP_DigestFinal_ex(EVP_MD_CTX *c, unsigned char *md, unsigned int *n)

DEF READ_BUF = 262144
DEF XATTR_BUF = 65536
DEF MAX_THREADS = 4


cdef struct Entry:
    char *path        # relative to the root, "" for the root itself
    char kind         # f d l c b p s
    uint32_t mode, uid, gid
    uint64_t size
    uint32_t dmajor, dminor
    char *link        # symlink target
    char *xattrs      # serialized: name NUL, 4-byte length, value; names sorted
    size_t xattrs_len
    int failed_errno  # content read error (reported after the threads end)
    unsigned char content[32]


cdef struct Walk:
    int root_fd
    Entry *entries
    size_t n, cap
    size_t next_file  # work queue for the content threads
    pthread_mutex_t lock
    int err           # errno of the first walk failure
    char errpath[4096]


cdef int cmp_names(const void *a, const void *b) noexcept nogil:
    return strcmp((<char **>a)[0], (<char **>b)[0])


cdef int fail(Walk *w, const char *path, int err) noexcept nogil:
    if not w.err:
        w.err = err if err else 5  # EIO
        snprintf(w.errpath, sizeof(w.errpath), "%s", path)
    return -1


cdef char *join(const char *rel, const char *name) noexcept nogil:
    cdef size_t a = strlen(rel), b = strlen(name)
    cdef char *p = <char *>malloc(a + b + 2)
    if p == NULL:
        return NULL
    if a:
        memcpy(p, rel, a)
        p[a] = b'/'
        a += 1
    memcpy(p + a, name, b + 1)
    return p


cdef Entry *add_entry(Walk *w) noexcept nogil:
    cdef Entry *e
    if w.n == w.cap:
        w.cap = w.cap * 2 if w.cap else 1024
        e = <Entry *>realloc(w.entries, w.cap * sizeof(Entry))
        if e == NULL:
            return NULL
        w.entries = e
    e = &w.entries[w.n]
    w.n += 1
    e.path = NULL
    e.link = NULL
    e.xattrs = NULL
    e.xattrs_len = 0
    e.failed_errno = 0
    return e


cdef int read_xattrs(Walk *w, Entry *e, int dfd, const char *name) noexcept nogil:
    """Reads xattrs through /proc/self/fd/<dfd>/<name>, which never follows the name."""
    cdef char proc[320]
    cdef char names[XATTR_BUF]
    cdef char *val
    cdef char *ptrs[1024]
    cdef ssize_t nl, vl
    cdef size_t n = 0, i, off = 0, need, kl
    cdef char *p
    cdef uint32_t l32
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dfd, name)
    nl = llistxattr(proc, names, sizeof(names))
    if nl <= 0:
        return 0
    p = names
    while p < names + nl and n < 1024:
        ptrs[n] = p
        n += 1
        p += strlen(p) + 1
    qsort(ptrs, n, sizeof(char *), cmp_names)
    val = <char *>malloc(XATTR_BUF)
    if val == NULL:
        return fail(w, e.path, 12)
    for i in range(n):
        vl = lgetxattr(proc, ptrs[i], val, XATTR_BUF)
        if vl < 0:
            free(val)
            return fail(w, e.path, errno)
        kl = strlen(ptrs[i]) + 1
        need = off + kl + 4 + <size_t>vl
        p = <char *>realloc(e.xattrs, need)
        if p == NULL:
            free(val)
            return fail(w, e.path, 12)
        e.xattrs = p
        memcpy(p + off, ptrs[i], kl)
        l32 = <uint32_t>vl
        memcpy(p + off + kl, &l32, 4)
        memcpy(p + off + kl + 4, val, vl)
        off = need
    e.xattrs_len = off
    free(val)
    return 0


cdef int walk_dir(Walk *w, int dfd, const char *rel) noexcept nogil:
    cdef int lfd = dup(dfd)
    cdef DIR *d
    cdef dirent *de
    cdef char **names = NULL
    cdef char **nn
    cdef size_t n = 0, cap = 0, i
    cdef int r = 0
    if lfd < 0:
        return fail(w, rel, errno)
    d = fdopendir(lfd)
    if d == NULL:
        close(lfd)
        return fail(w, rel, errno)
    while True:
        de = readdir(d)
        if de == NULL:
            break
        if strcmp(de.d_name, ".") == 0 or strcmp(de.d_name, "..") == 0:
            continue
        if n == cap:
            cap = cap * 2 if cap else 64
            nn = <char **>realloc(names, cap * sizeof(char *))
            if nn == NULL:
                r = fail(w, rel, 12)
                break
            names = nn
        names[n] = strdup(de.d_name)
        if names[n] == NULL:
            r = fail(w, rel, 12)
            break
        n += 1
    closedir(d)
    if r == 0:
        qsort(names, n, sizeof(char *), cmp_names)
    for i in range(n):
        if r == 0:
            r = walk_entry(w, dfd, names[i], rel)
        free(names[i])
    free(names)
    return r


cdef int walk_entry(Walk *w, int dfd, const char *name, const char *rel) noexcept nogil:
    cdef struct_stat st
    cdef Entry *e
    cdef char *path = join(rel, name)
    cdef char target[4097]
    cdef ssize_t tl
    cdef int fd, r
    if path == NULL:
        return fail(w, rel, 12)
    if fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0:
        r = fail(w, path, errno)
        free(path)
        return r
    e = add_entry(w)
    if e == NULL:
        free(path)
        return fail(w, rel, 12)
    e.path = path
    e.mode = st.st_mode & 0o7777
    e.uid = st.st_uid
    e.gid = st.st_gid
    e.size = 0
    e.dmajor = 0
    e.dminor = 0
    if S_ISREG(st.st_mode):
        e.kind = b'f'
        e.size = st.st_size
    elif S_ISDIR(st.st_mode):
        e.kind = b'd'
    elif S_ISLNK(st.st_mode):
        e.kind = b'l'
        tl = readlinkat(dfd, name, target, 4096)
        if tl < 0:
            return fail(w, path, errno)
        target[tl] = 0
        e.link = strdup(target)
        e.size = tl
    elif S_ISCHR(st.st_mode) or S_ISBLK(st.st_mode):
        e.kind = b'c' if S_ISCHR(st.st_mode) else b'b'
        e.dmajor = major(st.st_rdev)
        e.dminor = minor(st.st_rdev)
    elif S_ISFIFO(st.st_mode):
        e.kind = b'p'
    else:
        e.kind = b's'
    if read_xattrs(w, e, dfd, name) < 0:
        return -1
    if e.kind == b'd':
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0:
            return fail(w, path, errno)
        # e may move when entries grow: keep only the path (owned by the entry)
        r = walk_dir(w, fd, path)
        close(fd)
        return r
    return 0


cdef void *content_worker(void *arg) noexcept nogil:
    cdef Walk *w = <Walk *>arg
    cdef size_t i
    cdef Entry *e
    cdef unsigned char *buf = <unsigned char *>malloc(READ_BUF)
    cdef EVP_MD_CTX *md = EVP_MD_CTX_new()
    cdef open_how how
    cdef int fd
    cdef ssize_t n
    cdef unsigned int dl
    if buf == NULL or md == NULL:
        free(buf)
        EVP_MD_CTX_free(md)
        return NULL
    while True:
        pthread_mutex_lock(&w.lock)
        while w.next_file < w.n and w.entries[w.next_file].kind != b'f':
            w.next_file += 1
        i = w.next_file
        w.next_file += 1
        pthread_mutex_unlock(&w.lock)
        if i >= w.n:
            break
        e = &w.entries[i]
        how.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC
        how.mode = 0
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
        fd = <int>syscall(SYS_openat2, w.root_fd, e.path, &how, sizeof(how))
        if fd < 0:
            e.failed_errno = errno
            continue
        EVP_DigestInit_ex(md, EVP_sha256(), NULL)
        while True:
            n = read(fd, buf, READ_BUF)
            if n < 0 and errno == 4:  # EINTR
                continue
            if n <= 0:
                break
            EVP_DigestUpdate(md, buf, n)
        if n < 0:
            e.failed_errno = errno
        EVP_DigestFinal_ex(md, e.content, &dl)
        close(fd)
    free(buf)
    EVP_MD_CTX_free(md)
    return NULL


cdef void hash_record(EVP_MD_CTX *md, Entry *e) noexcept nogil:
    cdef uint32_t hdr[5]
    cdef uint64_t size = e.size
    EVP_DigestUpdate(md, e.path, strlen(e.path) + 1)
    EVP_DigestUpdate(md, &e.kind, 1)
    hdr[0] = e.mode
    hdr[1] = e.uid
    hdr[2] = e.gid
    hdr[3] = e.dmajor
    hdr[4] = e.dminor
    EVP_DigestUpdate(md, hdr, sizeof(hdr))
    EVP_DigestUpdate(md, &size, 8)
    if e.link != NULL:
        EVP_DigestUpdate(md, e.link, strlen(e.link) + 1)
    size = e.xattrs_len
    EVP_DigestUpdate(md, &size, 8)
    if e.xattrs_len:
        EVP_DigestUpdate(md, e.xattrs, e.xattrs_len)
    if e.kind == b'f':
        EVP_DigestUpdate(md, e.content, 32)


cdef int digest_tree(Walk *w, unsigned char *out) noexcept nogil:
    cdef pthread_t threads[MAX_THREADS]
    cdef int nthreads = <int>sysconf(_SC_NPROCESSORS_ONLN)
    cdef int t, started = 0
    cdef size_t i
    cdef Entry *root
    cdef EVP_MD_CTX *md
    cdef unsigned int dl
    cdef struct_stat st
    root = add_entry(w)
    if root == NULL:
        return fail(w, "", 12)
    root.path = strdup("")
    root.kind = b'd'
    if fstatat(w.root_fd, "", &st, 0x1000) < 0:  # AT_EMPTY_PATH
        return fail(w, "", errno)
    root.mode = st.st_mode & 0o7777
    root.uid = st.st_uid
    root.gid = st.st_gid
    root.size = 0
    root.dmajor = 0
    root.dminor = 0
    if walk_dir(w, w.root_fd, "") < 0:
        return -1
    nthreads = 1 if nthreads < 1 else (MAX_THREADS if nthreads > MAX_THREADS else nthreads)
    for t in range(nthreads):
        if pthread_create(&threads[t], NULL, content_worker, w) != 0:
            break
        started += 1
    if started == 0:
        content_worker(w)
    for t in range(started):
        pthread_join(threads[t], NULL)
    for i in range(w.n):
        if w.entries[i].failed_errno:
            return fail(w, w.entries[i].path, w.entries[i].failed_errno)
    md = EVP_MD_CTX_new()
    if md == NULL:
        return fail(w, "", 12)
    EVP_DigestInit_ex(md, EVP_sha256(), NULL)
    EVP_DigestUpdate(md, b"rktfast-tree-v1\0", 16)
    for i in range(w.n):
        hash_record(md, &w.entries[i])
    EVP_DigestFinal_ex(md, out, &dl)
    EVP_MD_CTX_free(md)
    return 0


def tree_digest(path: str) -> str:
    """The digest of the tree at ``path``: ``"sha256-" + 64 hex``. Raises OSError when an
    entry cannot be read (including a symlink where a regular file's path should be)."""
    import os

    cdef Walk w
    cdef unsigned char out[32]
    cdef int r
    cdef size_t i
    w.entries = NULL
    w.n = 0
    w.cap = 0
    w.next_file = 0
    w.err = 0
    w.errpath[0] = 0
    w.root_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    pthread_mutex_init(&w.lock, NULL)
    try:
        with nogil:
            r = digest_tree(&w, out)
        if r < 0:
            rel = w.errpath.decode(errors="replace")
            raise OSError(w.err, os.strerror(w.err), os.path.join(path, rel))
        return "sha256-" + (<bytes>out[:32]).hex()
    finally:
        for i in range(w.n):
            free(w.entries[i].path)
            free(w.entries[i].link)
            free(w.entries[i].xattrs)
        free(w.entries)
        pthread_mutex_destroy(&w.lock)
        os.close(w.root_fd)
