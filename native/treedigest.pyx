# cython: language_level=3, boundscheck=False, wraparound=False
# distutils: libraries = crypto
# distutils: extra_compile_args = -pthread
"""Digest of a rendered tree, for `rkt image verify` and tamper checks.

tree_digest(path) hashes, for every entry of the tree in bytewise-sorted pre-order (no
Python object per file), its relative path, type, mode, uid, gid, size, symlink target,
device numbers, xattrs and, for regular files, a digest of its content. mtimes are left out:
copying a tree (--no-overlay) must not change its digest.

Algorithm: SHA-256 (OpenSSL, SHA-NI where the CPU has it). BLAKE3 would be faster still,
but no C library of it is packaged here (the pip blake3 is Rust with no C API). One
thread per core takes directories from a shared stack: it lists one, stats and hashes
its entries (contents included) and pushes its subdirectories, so walking and hashing
overlap on every core. The records are then hashed in tree order, so the result does not
depend on scheduling. The result is prefixed "sha256-" so the
algorithm can change later without ambiguity.

Right after an extraction, the extractor's own SHA-256 of each file it wrote can stand in
for reading that file back (``known``, keyed by inode number and checked against the size).

Directories are opened with openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS and files by one
name with O_NOFOLLOW below them: a tree tampered into pointing outside fails instead of
hashing the host.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport strcmp, strlen, memcpy, memset, strdup
from libc.stdio cimport snprintf
from libc.errno cimport errno
from posix.types cimport mode_t, off_t, dev_t
from posix.stat cimport struct_stat, S_ISDIR, S_ISREG, S_ISLNK, S_ISCHR, S_ISBLK, S_ISFIFO
from posix.unistd cimport close, read, dup, sysconf

cdef extern from "<fcntl.h>" nogil:
    enum: O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_NONBLOCK, AT_SYMLINK_NOFOLLOW
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
    ssize_t flistxattr(int fd, char *names, size_t size)
    ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)

cdef extern from "<sys/syscall.h>" nogil:
    long SYS_openat2

DEF SYS_LISTXATTRAT = 465  # x86-64, Linux 6.13; older kernels: ENOSYS, then /proc
DEF AT_SYMLINK_NOFOLLOW = 0x100
cdef bint no_listxattrat = False  # set once ENOSYS was seen

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
    ctypedef struct pthread_cond_t:
        pass
    int pthread_cond_init(pthread_cond_t *c, void *attr)
    int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
    int pthread_cond_broadcast(pthread_cond_t *c)
    int pthread_cond_signal(pthread_cond_t *c)
    int pthread_cond_destroy(pthread_cond_t *c)
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


cdef struct Dir


cdef struct Entry:
    char *path        # relative to the root, "" for the root itself
    char kind         # f d l c b p s
    uint32_t mode, uid, gid
    uint64_t size
    uint32_t dmajor, dminor
    char *link        # symlink target
    char *xattrs      # serialized: name NUL, 4-byte length, value; names sorted
    size_t xattrs_len
    Dir *sub          # for a directory: its own listing (filled by whichever thread)
    unsigned char content[32]


cdef struct Dir:
    char *path        # relative path ("" for the root)
    Entry *self       # its entry in the parent's listing (NULL for the root)
    Entry *entries    # its children, sorted; allocated once, so pointers stay valid
    size_t n


cdef struct Known:    # tarx's struct tarx_file_digest
    uint64_t ino
    uint64_t size
    unsigned char sha256[32]


cdef struct Walk:
    int root_fd
    const Known *known  # content digests by inode from the extractor, sorted; may be NULL
    size_t nknown
    Dir **stack       # directories waiting to be listed
    size_t depth, cap
    size_t pending    # directories pushed and not finished
    pthread_mutex_t lock
    pthread_cond_t more
    int err           # errno of the first failure
    char errpath[4096]


cdef int cmp_names(const void *a, const void *b) noexcept nogil:
    return strcmp((<char **>a)[0], (<char **>b)[0])


cdef int fail(Walk *w, const char *path, int err) noexcept nogil:
    pthread_mutex_lock(&w.lock)
    if not w.err:
        w.err = err if err else 5  # EIO
        snprintf(w.errpath, sizeof(w.errpath), "%s", path)
    pthread_cond_broadcast(&w.more)
    pthread_mutex_unlock(&w.lock)
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


cdef int read_xattrs(Walk *w, Entry *e, int dfd, const char *name, int fd) noexcept nogil:
    """The xattrs of ``fd`` if it is open (>= 0), else of <dfd>/<name> read through
    /proc/self/fd/<dfd>/<name>, which never follows the name."""
    cdef char proc[320]
    cdef char names[XATTR_BUF]
    cdef char *val
    cdef char *ptrs[1024]
    cdef ssize_t nl, vl
    cdef size_t n = 0, i, off = 0, need, kl
    cdef char *p
    cdef uint32_t l32
    global no_listxattrat
    if fd < 0:
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dfd, name)
        nl = -1
        if not no_listxattrat:
            # listxattrat walks one name; the /proc path costs a walk through procfs
            nl = <ssize_t>syscall(SYS_LISTXATTRAT, dfd, name, AT_SYMLINK_NOFOLLOW, names,
                                  sizeof(names))
            if nl < 0 and errno == 38:  # ENOSYS
                no_listxattrat = True
        if no_listxattrat:
            nl = llistxattr(proc, names, sizeof(names))
    else:
        nl = flistxattr(fd, names, sizeof(names))
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
        vl = lgetxattr(proc, ptrs[i], val, XATTR_BUF) if fd < 0 else fgetxattr(fd, ptrs[i], val, XATTR_BUF)
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


cdef char **list_names(Walk *w, int dfd, const char *rel, size_t *count) noexcept nogil:
    """The names in the directory, sorted bytewise; NULL with *count 0 on failure."""
    cdef int lfd = dup(dfd)
    cdef DIR *d
    cdef dirent *de
    cdef char **names = NULL
    cdef char **nn
    cdef size_t n = 0, cap = 0
    count[0] = 0
    if lfd < 0:
        fail(w, rel, errno)
        return NULL
    d = fdopendir(lfd)
    if d == NULL:
        close(lfd)
        fail(w, rel, errno)
        return NULL
    while True:
        de = readdir(d)
        if de == NULL:
            break
        if strcmp(de.d_name, ".") == 0 or strcmp(de.d_name, "..") == 0:
            continue
        if n == cap:
            cap = cap * 2 if cap else 64
            nn = <char **>realloc(names, (cap + 1) * sizeof(char *))
            if nn == NULL:
                break
            names = nn
        names[n] = strdup(de.d_name)
        if names[n] == NULL:
            break
        n += 1
    closedir(d)
    if de != NULL:  # stopped early: out of memory
        for cap in range(n):
            free(names[cap])
        free(names)
        fail(w, rel, 12)
        return NULL
    qsort(names, n, sizeof(char *), cmp_names)
    count[0] = n
    return names if names != NULL else <char **>malloc(sizeof(char *))


cdef int hash_content(Walk *w, Entry *e, int fd, unsigned char *buf, EVP_MD_CTX *md) noexcept nogil:
    cdef ssize_t n
    cdef unsigned int dl
    EVP_DigestInit_ex(md, EVP_sha256(), NULL)
    while True:
        n = read(fd, buf, READ_BUF)
        if n < 0 and errno == 4:  # EINTR
            continue
        if n <= 0:
            break
        EVP_DigestUpdate(md, buf, n)
    EVP_DigestFinal_ex(md, e.content, &dl)
    return fail(w, e.path, errno) if n < 0 else 0


cdef bint known_content(Walk *w, Entry *e, struct_stat *st) noexcept nogil:
    """Takes the content digest from w.known when that inode is there with this size."""
    cdef size_t lo = 0, hi = w.nknown, mid
    cdef uint64_t ino = st.st_ino
    while lo < hi:
        mid = (lo + hi) // 2
        if w.known[mid].ino < ino:
            lo = mid + 1
        else:
            hi = mid
    if lo == w.nknown or w.known[lo].ino != ino or w.known[lo].size != <uint64_t>st.st_size:
        return False
    memcpy(e.content, w.known[lo].sha256, 32)
    return True


cdef int push(Walk *w, Dir *d) noexcept nogil:
    cdef Dir **grown
    pthread_mutex_lock(&w.lock)
    if w.depth == w.cap:
        w.cap = w.cap * 2 if w.cap else 256
        grown = <Dir **>realloc(w.stack, w.cap * sizeof(Dir *))
        if grown == NULL:
            pthread_mutex_unlock(&w.lock)
            return fail(w, d.path, 12)
        w.stack = grown
    w.stack[w.depth] = d
    w.depth += 1
    w.pending += 1
    pthread_cond_signal(&w.more)
    pthread_mutex_unlock(&w.lock)
    return 0


cdef int list_dir(Walk *w, Dir *dir, unsigned char *buf, EVP_MD_CTX *md) noexcept nogil:
    """Open ``dir`` (no symlink on the way), read its own xattrs into its entry, then
    stat, read and hash every child, and push the child directories."""
    cdef open_how how
    cdef struct_stat st
    cdef char **names
    cdef size_t n, i
    cdef Entry *e
    cdef Dir *sub
    cdef char target[4097]
    cdef ssize_t tl
    cdef int dfd, fd, r = 0
    cdef const char *where = <const char *>dir.path if dir.path[0] else <const char *>"."
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC
    how.mode = 0
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
    dfd = <int>syscall(SYS_openat2, w.root_fd, where, &how, sizeof(how))
    if dfd < 0:
        return fail(w, dir.path, errno)
    if dir.self != NULL and read_xattrs(w, dir.self, -1, NULL, dfd) < 0:
        close(dfd)
        return -1
    names = list_names(w, dfd, dir.path, &n)
    if names == NULL:
        close(dfd)
        return -1
    dir.entries = <Entry *>calloc(n + 1, sizeof(Entry))
    if dir.entries == NULL:
        r = fail(w, dir.path, 12)
    for i in range(n):
        if r < 0 or w.err:
            r = -1
            free(names[i])
            continue
        e = &dir.entries[i]
        dir.n = i + 1
        e.path = join(dir.path, names[i])
        if e.path == NULL:
            r = fail(w, dir.path, 12)
            free(names[i])
            continue
        if fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0:
            r = fail(w, e.path, errno)
            free(names[i])
            continue
        e.mode = st.st_mode & 0o7777
        e.uid = st.st_uid
        e.gid = st.st_gid
        if S_ISREG(st.st_mode):
            e.kind = b'f'
            e.size = st.st_size
            if known_content(w, e, &st):
                r = read_xattrs(w, e, dfd, names[i], -1)
                free(names[i])
                continue
            # O_NONBLOCK: a file swapped for a fifo meanwhile must not hang us
            fd = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            if fd < 0:
                r = fail(w, e.path, errno)
            else:
                r = read_xattrs(w, e, -1, NULL, fd)
                if r == 0:
                    r = hash_content(w, e, fd, buf, md)
                close(fd)
        elif S_ISDIR(st.st_mode):
            e.kind = b'd'
            sub = <Dir *>calloc(1, sizeof(Dir))
            if sub == NULL:
                r = fail(w, e.path, 12)
            else:
                sub.path = e.path
                sub.self = e
                e.sub = sub
                r = push(w, sub)
        else:
            if S_ISLNK(st.st_mode):
                e.kind = b'l'
                tl = readlinkat(dfd, names[i], target, 4096)
                if tl < 0:
                    r = fail(w, e.path, errno)
                else:
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
            if r == 0:
                r = read_xattrs(w, e, dfd, names[i], -1)
        free(names[i])
    free(names)
    close(dfd)
    return r


cdef void *worker(void *arg) noexcept nogil:
    cdef Walk *w = <Walk *>arg
    cdef Dir *dir
    cdef unsigned char *buf = <unsigned char *>malloc(READ_BUF)
    cdef EVP_MD_CTX *md = EVP_MD_CTX_new()
    if buf == NULL or md == NULL:
        fail(w, "", 12)
    while True:
        pthread_mutex_lock(&w.lock)
        while w.depth == 0 and w.pending > 0 and not w.err:
            pthread_cond_wait(&w.more, &w.lock)
        if w.depth == 0 or w.err:
            pthread_cond_broadcast(&w.more)
            pthread_mutex_unlock(&w.lock)
            break
        w.depth -= 1
        dir = w.stack[w.depth]
        pthread_mutex_unlock(&w.lock)
        list_dir(w, dir, buf, md)
        pthread_mutex_lock(&w.lock)
        w.pending -= 1
        if w.pending == 0:
            pthread_cond_broadcast(&w.more)
        pthread_mutex_unlock(&w.lock)
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


cdef void hash_dir(EVP_MD_CTX *md, Dir *dir) noexcept nogil:
    """The records of the listing, each directory followed by its own (pre-order)."""
    cdef size_t i
    for i in range(dir.n):
        hash_record(md, &dir.entries[i])
        if dir.entries[i].sub != NULL:
            hash_dir(md, dir.entries[i].sub)


cdef void free_dir(Dir *dir) noexcept nogil:
    cdef size_t i
    cdef Entry *e
    if dir.entries != NULL:
        for i in range(dir.n):
            e = &dir.entries[i]
            if e.sub != NULL:
                free_dir(e.sub)
            free(e.path)
            free(e.link)
            free(e.xattrs)
        free(dir.entries)
    free(dir)


cdef int digest_tree(Walk *w, Dir *top, unsigned char *out) noexcept nogil:
    cdef pthread_t threads[MAX_THREADS]
    cdef int nthreads = <int>sysconf(_SC_NPROCESSORS_ONLN)
    cdef int t, started = 0
    cdef Entry root
    cdef EVP_MD_CTX *md
    cdef unsigned int dl
    cdef struct_stat st
    memset(&root, 0, sizeof(root))
    root.path = ""
    root.kind = b'd'
    if fstatat(w.root_fd, "", &st, 0x1000) < 0:  # AT_EMPTY_PATH
        return fail(w, "", errno)
    root.mode = st.st_mode & 0o7777
    root.uid = st.st_uid
    root.gid = st.st_gid
    if push(w, top) < 0:
        return -1
    nthreads = 1 if nthreads < 1 else (MAX_THREADS if nthreads > MAX_THREADS else nthreads)
    for t in range(nthreads - 1):  # and this thread
        if pthread_create(&threads[t], NULL, worker, w) != 0:
            break
        started += 1
    worker(w)
    for t in range(started):
        pthread_join(threads[t], NULL)
    if w.err:
        return -1
    md = EVP_MD_CTX_new()
    if md == NULL:
        return fail(w, "", 12)
    EVP_DigestInit_ex(md, EVP_sha256(), NULL)
    EVP_DigestUpdate(md, b"rktfast-tree-v1\0", 16)
    hash_record(md, &root)
    hash_dir(md, top)
    EVP_DigestFinal_ex(md, out, &dl)
    EVP_MD_CTX_free(md)
    return 0


def tree_digest(path: str, const unsigned char[:] known=b"") -> str:
    """The digest of the tree at ``path``: ``"sha256-" + 64 hex``. Raises OSError when an
    entry cannot be read (including a symlink where a regular file's path should be).

    ``known``: content digests of files of this tree by inode number, packed as tarx's
    struct tarx_file_digest and sorted, from the extractor that has just written it; a
    regular file found there with the same size is not read. Anything else would be a lie
    about the tree: pass it only straight from that extraction."""
    import os

    cdef Walk w
    cdef unsigned char out[32]
    cdef int r
    cdef Dir *top = <Dir *>calloc(1, sizeof(Dir))
    if top == NULL:
        raise MemoryError()
    top.path = ""
    memset(&w, 0, sizeof(w))
    if len(known) % sizeof(Known):
        raise ValueError("known: not a whole number of records")
    w.nknown = len(known) // sizeof(Known)
    w.known = <const Known *>&known[0] if w.nknown else NULL
    w.root_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    pthread_mutex_init(&w.lock, NULL)
    pthread_cond_init(&w.more, NULL)
    try:
        with nogil:
            r = digest_tree(&w, top, out)
        if r < 0:
            rel = w.errpath.decode(errors="replace")
            raise OSError(w.err, os.strerror(w.err), os.path.join(path, rel))
        return "sha256-" + (<bytes>out[:32]).hex()
    finally:
        top.path = NULL  # a literal, not ours to free
        free_dir(top)
        free(w.stack)
        pthread_cond_destroy(&w.more)
        pthread_mutex_destroy(&w.lock)
        os.close(w.root_fd)
