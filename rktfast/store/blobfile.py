"""Writing a new blob file sequentially, around the page cache.

A blob is written once and rarely read again soon (export, a later render), but a buffered
write copies every byte into fresh page-cache pages first, and on a VM the first touch of
a page is costly: it was most of the kernel time of a fetch, paid twice since the tree is
written too. With O_DIRECT the disk reads our one reused staging buffer instead, and the
final fsync has almost nothing left to flush.

O_DIRECT wants the buffer, the offset and the length aligned: data is gathered into a
page-aligned anonymous mapping and written in whole buffers; only the unaligned tail goes
through the page cache. Filesystems that refuse O_DIRECT get plain buffered writes.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os

STAGING = 4 << 20  # bytes per direct write; a multiple of any logical block size
_ALIGN = 4096


class BlobFile:
    """A new file at ``path`` (O_EXCL), filled by ``write`` and completed by ``finish``.
    The caller removes the file when it gives up (``discard``)."""

    def __init__(self, path: str, mode: int = 0o644):
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            self.fd = os.open(path, flags | os.O_DIRECT, mode)
            self.direct = True
        except OSError as e:
            if e.errno != errno.EINVAL:  # this filesystem has no O_DIRECT
                raise
            self.fd = os.open(path, flags, mode)
            self.direct = False
        self.size = 0
        self._buf = mmap.mmap(-1, STAGING) if self.direct else None
        self._fill = 0

    def write(self, data: bytes) -> None:
        if not self.direct:
            self._write_all(memoryview(data))
            self.size += len(data)
            return
        view = memoryview(data)
        while view:
            n = min(len(view), STAGING - self._fill)
            self._buf[self._fill:self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == STAGING:
                self._flush_staging()
        self.size += len(data)

    def finish(self, sync: bool = True) -> None:
        """Writes what is staged, then fsyncs when ``sync``; the file stays open."""
        if self._fill:
            staged = memoryview(self._buf)[:self._fill]
            aligned = self._fill - self._fill % _ALIGN if self.direct else 0
            self._write_all(staged[:aligned])
            self._buffered()
            self._write_all(staged[aligned:])
            staged.release()
            self._fill = 0
        if sync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._buf is not None:
            try:
                self._buf.close()
            except BufferError:  # a view still held by a traceback: unmapped when freed
                pass
            self._buf = None

    def discard(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _flush_staging(self) -> None:
        self._write_all(memoryview(self._buf)[:self._fill])
        self._fill = 0

    def _buffered(self) -> None:
        if self.direct:
            flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
            self.direct = False

    def _write_all(self, view: memoryview) -> None:
        while view:
            try:
                n = os.write(self.fd, view)
            except OSError as e:
                if e.errno != errno.EINVAL or not self.direct:
                    raise
                self._buffered()  # a device wanting more than 4 KiB alignment
                continue
            view = view[n:]
            if view and n % _ALIGN:
                self._buffered()  # a short direct write left an unaligned offset
