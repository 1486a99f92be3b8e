"""flock(2)-based locks, as rkt takes them (SPEC §4).

Locks are held on a file or directory descriptor for as long as the object lives; they vanish
with the process, so a crash never leaves a lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os

from rktfast.errors import RktError


class LockBusy(RktError):
    """A non-blocking lock attempt found the lock held by someone else."""


class FdLock:
    """A flock on a path (file created if missing, or a directory)."""

    def __init__(self, path: str, *, directory: bool = False, create: bool = True):
        self.path = path
        if directory:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        else:
            flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            self.fd = os.open(path, flags, 0o640)
        except OSError as e:
            raise RktError(f"cannot open lock {path!r}", e) from e

    def _flock(self, op: int, blocking: bool) -> None:
        try:
            fcntl.flock(self.fd, op | (0 if blocking else fcntl.LOCK_NB))
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LockBusy(f"lock {self.path!r} is held by another process") from None
            raise RktError(f"cannot lock {self.path!r}", e) from e

    def exclusive(self, blocking: bool = True) -> FdLock:
        self._flock(fcntl.LOCK_EX, blocking)
        return self

    def shared(self, blocking: bool = True) -> FdLock:
        self._flock(fcntl.LOCK_SH, blocking)
        return self

    def unlock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> FdLock:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def key_lock(lock_dir: str, key: str) -> FdLock:
    """The lock file for one store key (image or tree) under ``lock_dir``."""
    os.makedirs(lock_dir, exist_ok=True)
    return FdLock(os.path.join(lock_dir, key))


def prepare_lock(data_dir: str) -> FdLock:
    """``<dir>/locks/prepareLock``: shared while a pod is prepared, exclusive for image gc,
    so gc never takes away a tree a pod is about to mount."""
    os.makedirs(os.path.join(data_dir, "locks"), mode=0o750, exist_ok=True)
    return FdLock(os.path.join(data_dir, "locks", "prepareLock"))
