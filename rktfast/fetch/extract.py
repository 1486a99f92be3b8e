"""Rendering image tars into trees with the native extractor (``rktfast._tarx``).

The extractor is the security boundary of image rendering: every entry is resolved inside
the target root with openat2(RESOLVE_IN_ROOT), so names with ``..``, absolute names,
symlinks and hardlinks in an image can never create or change anything outside it.
Paths that climb above the root with ``..`` are rejected, absolute paths are made relative,
device nodes other than the harmless ones (null, zero, full, random, urandom, tty, console,
ptmx) are skipped and counted.

Owners are applied when running as root. Directory mtimes are set at the end. Nothing is
fsynced here: callers that promise durability syncfs() the tree before renaming it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rktfast._tarx import ffi, lib  # noqa: I001  (native module, built by setup.py)
from rktfast.errors import ImageError

CHUNK = 1 << 20
MANIFEST_MAX = 16 << 20


@dataclass
class ExtractStats:
    """What an extraction produced."""

    entries: int
    files: int
    file_bytes: int
    archive_bytes: int
    skipped_devices: int
    ignored: int


class TarExtractor:
    """A push-fed tar extractor writing below ``root`` (a directory path or fd).

    ``keep_prefix`` limits extraction to entries under that top-level directory
    (``"rootfs"``), ``strip_prefix`` drops it from the written paths, ``aci`` captures the
    top-level ``manifest`` and checks the ACI layout, ``whitelist`` is the appc
    pathWhitelist (paths relative to the prefix), ``whiteouts`` applies Docker ``.wh.``
    files, ``overwrite`` lets a non-directory replace a directory (layered rendering).
    ``list_only`` parses and validates without writing anything (``root`` may be None).
    ``content_digests`` hashes file contents as they are written, for ``content_digests``.
    Use as a context manager or call close(); feed() and finish() raise ImageError.
    """

    def __init__(
        self,
        root: str | int | None,
        *,
        keep_prefix: str | None = None,
        strip_prefix: bool = False,
        aci: bool = False,
        whitelist: list[str] | None = None,
        whiteouts: bool = False,
        overwrite: bool = False,
        uid_shift: int = 0,
        gid_shift: int = 0,
        same_owner: bool | None = None,
        manifest_max: int = MANIFEST_MAX,
        list_only: bool = False,
        content_digests: bool = False,
    ):
        self._ctx = ffi.NULL
        opts = ffi.new("struct tarx_options *")
        # cffi keeps these alive only as long as we reference them
        self._keep = []
        if keep_prefix:
            self._keep.append(ffi.new("char[]", keep_prefix.strip("/").encode()))
            opts.keep_prefix = self._keep[-1]
        opts.strip_prefix = int(strip_prefix)
        opts.aci = int(aci)
        opts.manifest_max = manifest_max
        if whitelist:
            blob = b"\0".join(p.encode() for p in whitelist) + b"\0"
            self._keep.append(ffi.new("char[]", blob))
            opts.whitelist = self._keep[-1]
            opts.whitelist_len = len(blob)
        opts.whiteouts = int(whiteouts)
        opts.overwrite = int(overwrite)
        opts.uid_shift = uid_shift
        opts.gid_shift = gid_shift
        opts.same_owner = -1 if same_owner is None else int(same_owner)
        opts.list_only = int(list_only)
        opts.content_digests = int(content_digests)
        err = ffi.new("char[]", 1024)
        if root is None or isinstance(root, int):
            root = -1 if root is None else root
            self._ctx = lib.tarx_new(root, opts, err, 1024)
        else:
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self._ctx = lib.tarx_new(fd, opts, err, 1024)
            finally:
                os.close(fd)
        if self._ctx == ffi.NULL:
            raise ImageError(f"error extracting image: {ffi.string(err).decode(errors='replace')}")

    def _raise(self) -> None:
        msg = ffi.string(lib.tarx_error(self._ctx)).decode(errors="replace")
        raise ImageError(f"error extracting image: {msg}")

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Extracts what ``data`` completes; any chunking of the stream works."""
        if lib.tarx_feed(self._ctx, ffi.from_buffer(data), len(data)) < 0:
            self._raise()

    def finish(self) -> None:
        """Checks the archive ended cleanly and sets directory times."""
        if lib.tarx_finish(self._ctx) < 0:
            self._raise()

    @property
    def manifest(self) -> bytes | None:
        """The top-level ``manifest`` entry (ACI mode), or None when there was none."""
        n = ffi.new("size_t *")
        p = lib.tarx_manifest(self._ctx, n)
        return None if p == ffi.NULL else ffi.unpack(p, n[0])

    @property
    def content_digests(self) -> bytes:
        """After finish(), with ``content_digests=True``: the SHA-256 of the files written,
        as packed records (inode, size, digest) sorted by inode, for ``tree_digest``."""
        out = ffi.new("const struct tarx_file_digest **")
        n = lib.tarx_content_digests(self._ctx, out)
        return bytes(ffi.buffer(out[0], n * ffi.sizeof("struct tarx_file_digest"))) if n else b""

    @property
    def stats(self) -> ExtractStats:
        s = ffi.new("struct tarx_stats *")
        lib.tarx_get_stats(self._ctx, s)
        return ExtractStats(
            s.entries, s.files, s.file_bytes, s.archive_bytes, s.skipped_devices, s.ignored
        )

    def close(self) -> None:
        if self._ctx != ffi.NULL:
            lib.tarx_free(self._ctx)
            self._ctx = ffi.NULL

    def __enter__(self) -> TarExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _extract_file(path: str, ex: TarExtractor) -> None:
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ImageError(f"error opening image blob {path}", e) from e
    with f:
        while chunk := f.read(CHUNK):
            ex.feed(chunk)
    ex.finish()


def render_blobs(blob_paths: list[str], tree_dir: str, whitelist: list[str] | None = None) -> int:
    """Renders the rootfs of several uncompressed ACI blobs, in order, into
    ``tree_dir/rootfs`` (later images win: an entry replaces what an earlier image put at
    its path, a symlinked directory is replaced, not followed). ``whitelist`` is the
    appc pathWhitelist of the top image (``/bin/sh`` style). Returns the bytes of
    regular-file content written."""
    os.makedirs(os.path.join(tree_dir, "rootfs"), exist_ok=True)
    total = 0
    wl = [p.lstrip("/") for p in whitelist] if whitelist else None
    for blob in blob_paths:
        with TarExtractor(tree_dir, keep_prefix="rootfs", aci=True, whitelist=wl,
                          overwrite=True) as ex:
            _extract_file(blob, ex)
            total += ex.stats.file_bytes
    return total


def extract_rootfs(blob_path: str, out_dir: str, rootfs_only: bool) -> None:
    """``rkt image extract``: with ``rootfs_only`` the contents of rootfs/ go to out_dir,
    else out_dir receives ``manifest`` and ``rootfs/``."""
    os.makedirs(out_dir, exist_ok=True)
    with TarExtractor(out_dir, keep_prefix="rootfs", strip_prefix=rootfs_only, aci=True) as ex:
        _extract_file(blob_path, ex)
        manifest = ex.manifest
    if not rootfs_only and manifest is not None:
        fd = os.open(os.path.join(out_dir, "manifest"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(manifest)


def write_tree_tar(
    tree_dir: str,
    out_fd: int,
    *,
    prefix: str | None = None,
    manifest: bytes | None = None,
    manifest_mtime: int = 0,
) -> None:
    """Writes the tree under ``tree_dir`` as a tar stream to ``out_fd`` (names sorted,
    numeric owners, hardlinks by inode, xattrs as pax SCHILY.xattr). ``prefix``
    ("rootfs") puts the tree under that directory; ``manifest`` is written first as the
    top-level ``manifest`` file — together they make an ACI."""
    err = ffi.new("char[]", 1024)
    dfd = os.open(tree_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        pre = ffi.new("char[]", prefix.strip("/").encode()) if prefix else ffi.NULL
        mbuf = ffi.from_buffer(manifest) if manifest is not None else ffi.NULL
        mlen = len(manifest) if manifest is not None else 0
        if lib.tarx_write_tree(dfd, out_fd, pre, mbuf, mlen, manifest_mtime, err, 1024) < 0:
            raise ImageError(f"error writing tar of {tree_dir}: "
                             f"{ffi.string(err).decode(errors='replace')}")
    finally:
        os.close(dfd)
