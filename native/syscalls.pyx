# cython: language_level=3
"""mount(2), umount2(2), syncfs(2), unshare(2) and statx(2) for stage0.

A few lines of Cython rather than ctypes: ``rkt run`` mounts an overlay per app, and
importing ctypes (with libffi) costs more than the whole mount.
"""

from libc.errno cimport errno
from libc.string cimport strerror


cdef extern from "<sys/mount.h>" nogil:
    int c_mount "mount"(const char *source, const char *target, const char *fstype,
                        unsigned long flags, const void *data)
    int c_umount2 "umount2"(const char *target, int flags)

cdef extern from "<unistd.h>" nogil:
    int c_syncfs "syncfs"(int fd)


cdef _fail(str what):
    cdef int e = errno
    raise OSError(e, f"{what}: {strerror(e).decode()}")


def mount(source, target, fstype, unsigned long flags, data):
    """mount(2); str or None arguments; OSError("mount TARGET: reason") on failure."""
    cdef bytes b_source = source.encode() if source is not None else None
    cdef bytes b_target = target.encode()
    cdef bytes b_fstype = fstype.encode() if fstype is not None else None
    cdef bytes b_data = data.encode() if data is not None else None
    cdef const char *c_source = <const char *> b_source if b_source is not None else NULL
    cdef const char *c_fstype = <const char *> b_fstype if b_fstype is not None else NULL
    cdef const char *c_data = <const char *> b_data if b_data is not None else NULL
    cdef const char *c_target = b_target
    cdef int r
    with nogil:
        r = c_mount(c_source, c_target, c_fstype, flags, c_data)
    if r != 0:
        _fail(f"mount {target}")


def umount2(target, int flags):
    cdef bytes b_target = target.encode()
    cdef const char *c_target = b_target
    cdef int r
    with nogil:
        r = c_umount2(c_target, flags)
    if r != 0:
        _fail(f"umount {target}")


def syncfs(int fd):
    cdef int r
    with nogil:
        r = c_syncfs(fd)
    if r != 0:
        _fail("syncfs")


cdef extern from "<sys/stat.h>" nogil:
    struct statx:
        unsigned long long stx_attributes
        unsigned long long stx_attributes_mask
    int c_statx "statx"(int dirfd, const char *path, int flags, unsigned int mask,
                        statx *buf)

cdef extern from "<fcntl.h>" nogil:
    int AT_FDCWD
    int AT_SYMLINK_NOFOLLOW

cdef unsigned long long STATX_ATTR_MOUNT_ROOT = 0x2000  # <linux/stat.h>


def is_mount_root(path):
    """True/False: is ``path`` (not followed if a symlink) the root of a mount, from
    statx(2) -- no /proc/self/mountinfo scan; None where the kernel cannot tell (< 5.8)."""
    cdef bytes b_path = path.encode()
    cdef const char *c_path = b_path
    cdef statx st
    cdef int r
    with nogil:
        r = c_statx(AT_FDCWD, c_path, AT_SYMLINK_NOFOLLOW, 0, &st)
    if r != 0:
        _fail(f"statx {path}")
    if not (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT):
        return None
    return bool(st.stx_attributes & STATX_ATTR_MOUNT_ROOT)


cdef extern from "<sched.h>" nogil:
    int c_unshare "unshare"(int flags)


def unshare(int flags):
    """unshare(2) for the calling thread (namespaces such as the network one are per
    thread until a process execs)."""
    cdef int r
    with nogil:
        r = c_unshare(flags)
    if r != 0:
        _fail("unshare")
