"""Decompressing image streams, detected by magic: gzip (isal), bzip2, xz, zstd, or plain.

``DecompressingReader(src).read()`` returns bounded chunks of the decompressed stream, so a
small compressed input that inflates enormously (a compression bomb) never needs more than
one chunk of memory. Truncated or corrupt input raises ImageError with a message such as
``error decompressing image: unexpected end of gzip stream``.

zstd (not an appc format; accepted as an extension) goes through zstandard's bounded
stream reader, which does not report a stream cut inside a frame: such a cut shows up as a
truncated tar (when it falls inside an entry) or as a different image ID.
"""

from __future__ import annotations

import bz2
import lzma
from collections.abc import Callable
from typing import BinaryIO

from isal import igzip_lib

from rktfast.errors import ImageError

CHUNK = 1 << 20
IN_CHUNK = 256 << 10

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def detect_format(head: bytes) -> str:
    """``gzip``, ``bzip2``, ``xz``, ``zstd`` or ``tar`` from the first bytes of a stream."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "tar"


def _new_decompressor(fmt: str):
    if fmt == "gzip":
        return igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
    if fmt == "bzip2":
        return bz2.BZ2Decompressor()
    if fmt == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    raise AssertionError(fmt)


def _fail(fmt: str, what: str, cause: BaseException | None = None) -> ImageError:
    return ImageError(f"error decompressing image: {what} {fmt} stream".strip(), cause)


class DecompressingReader:
    """Reads a possibly compressed stream; ``read()`` returns up to CHUNK decompressed
    bytes, b"" at the end. ``consumed`` counts compressed bytes read from ``src``;
    ``progress(n)`` is called with each compressed read's size."""

    def __init__(self, src: BinaryIO, progress: Callable[[int], None] | None = None):
        self._src = src
        self._progress = progress
        self.consumed = 0
        head = self._read_src(IN_CHUNK)
        self.format = detect_format(head)
        self._pending = head  # compressed input not yet given to the decompressor
        self._dec = None
        self._zreader = None
        self._done = False
        if self.format == "zstd":
            import zstandard  # only zstd images pay for the import

            self._zreader = zstandard.ZstdDecompressor().stream_reader(
                _Prepend(head, self), read_size=IN_CHUNK, read_across_frames=True
            )
        elif self.format != "tar":
            self._dec = _new_decompressor(self.format)

    def _read_src(self, n: int) -> bytes:
        try:
            data = self._src.read(n)
        except OSError as e:
            raise ImageError("error reading image", e) from e
        if data:
            self.consumed += len(data)
            if self._progress:
                self._progress(len(data))
        return data or b""

    def read(self) -> bytes:
        if self._done:
            return b""
        if self.format == "tar":
            data = self._pending or self._read_src(CHUNK)
            self._pending = b""
            if not data:
                self._done = True
            return data
        if self._zreader is not None:
            try:
                data = self._zreader.read(CHUNK)
            except Exception as e:  # zstandard.ZstdError
                raise _fail("zstd", "corrupt", e) from e
            if not data:
                self._done = True
            return data
        return self._read_stream()

    def _read_stream(self) -> bytes:
        dec = self._dec
        while True:
            if dec.eof:
                # concatenated members (pigz, bgzip) continue after the first one
                rest = dec.unused_data or self._read_src(IN_CHUNK)
                if not rest.strip(b"\0"):
                    self._done = True  # end, or NUL padding after the last member
                    return b""
                self._dec = dec = _new_decompressor(self.format)
                self._pending = rest
            if dec.needs_input:
                data = self._pending or self._read_src(IN_CHUNK)
                self._pending = b""
                if not data:
                    raise _fail(self.format, "unexpected end of")
            else:
                data = b""
            try:
                out = dec.decompress(data, CHUNK)
            except (OSError, EOFError, ValueError, lzma.LZMAError) as e:
                raise _fail(self.format, "corrupt", e) from e
            except Exception as e:  # isal.IsalError and friends
                raise _fail(self.format, "corrupt", e) from e
            if out:
                return out


class _Prepend:
    """A file-like giving ``head`` then the rest of the reader's source (for zstandard)."""

    def __init__(self, head: bytes, reader: DecompressingReader):
        self._head = head
        self._reader = reader

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._reader._read_src(n if n > 0 else IN_CHUNK)
