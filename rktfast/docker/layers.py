"""The layer cache: each Docker/OCI layer stored once, uncompressed (beyond rkt).

Layout under ``<dir>/cas``::

    layers/sha256/<h[0:2]>/sha256-<64 hex>   the uncompressed layer tar, named by its
                                             diff ID (the SHA-256 of exactly these bytes)
    layerlocks/<diffid>                      SH while a squash reads it, EX to add/remove
    db/index.sqlite3, table ``layers``       blob digest as distributed -> diff ID, sizes,
                                             import and last-use times

A layer is downloaded, its compressed digest and size checked, decompressed and its diff ID
computed in one pass (one thread per layer, the GIL released by hashing, decompression and
the socket), written to ``cas/tmp`` and renamed into place only when every check passed; the
row comes last, once a syncfs() made the file durable (``record``). A layer already stored (found by its blob digest, or by the diff ID the
image config names) is neither downloaded nor decompressed again.

Images never point into this cache: a converted image is a complete ACI blob of its own,
so layers can be removed at any time (``gc``) and only cost a download when needed again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from rktfast.docker.manifest import Descriptor
from rktfast.errors import ImageError
from rktfast.fetch.decompress import DecompressingReader
from rktfast.fetch.http import HTTPError
from rktfast.fetch.ingest import temp_name
from rktfast.store import index as idx
from rktfast.store.index import LayerInfo, now_ns
from rktfast.store.locks import FdLock, key_lock

READ = 1 << 18


class Cancelled(ImageError):
    """Another part of the fetch failed: this download stopped."""


@dataclass
class StoredLayer:
    diff_id: str
    path: str
    size: int
    downloaded: bool  # False when it came from the cache
    row: LayerInfo | None = None  # the index row to record (see LayerStore.record)


class _CheckedStream:
    """The compressed stream of a layer: hashed, counted and capped at its declared size."""

    def __init__(self, src, desc: Descriptor, progress: Callable[[int], None] | None,
                 stop: threading.Event | None):
        self._src = src
        self._desc = desc
        self._hash = hashlib.new(desc.digest.split(":", 1)[0])
        self._progress = progress
        self._stop = stop
        self.count = 0

    def read(self, n: int = READ) -> bytes:
        if self._stop is not None and self._stop.is_set():
            raise Cancelled("layer download cancelled")
        data = self._src.read(min(n if n and n > 0 else READ, READ))
        if data:
            self.count += len(data)
            if self.count > self._desc.size:
                raise ImageError(f"layer {self._desc.digest}: larger than the "
                                 f"{self._desc.size} bytes its descriptor declares")
            self._hash.update(data)
            if self._progress:
                self._progress(len(data))
        return data

    def drain(self) -> None:
        while self.read(READ):
            pass

    def check(self) -> None:
        if self.count != self._desc.size:
            raise ImageError(f"layer {self._desc.digest}: got {self.count} bytes, its "
                             f"descriptor declares {self._desc.size}")
        got = f"{self._desc.digest.split(':', 1)[0]}:{self._hash.hexdigest()}"
        if got != self._desc.digest:
            raise ImageError(f"layer {self._desc.digest}: digest mismatch: got {got}")


class LayerStore:
    """The cache in ``<cas>/layers`` (see the module doc); ``index`` is the store's Index."""

    def __init__(self, cas: str, index, tmp_dir: str):
        self.root = os.path.join(cas, "layers")
        self.locks = os.path.join(cas, "layerlocks")
        self.index = index
        self.tmp_dir = tmp_dir

    def path(self, diff_id: str) -> str:
        algo, hexd = diff_id.split(":", 1)
        return os.path.join(self.root, algo, hexd[:2], f"{algo}-{hexd}")

    def lock(self, diff_id: str) -> FdLock:
        return key_lock(self.locks, diff_id.replace(":", "-"))

    def lookup(self, desc: Descriptor, diff_id: str | None) -> StoredLayer | None:
        """The stored layer for a blob digest, or for the diff ID the config names."""
        candidates = []
        row = idx.get_layer(self.index, desc.digest)
        if row is not None:
            candidates.append(row.diff_id)
        if diff_id is not None and diff_id not in candidates:
            candidates.append(diff_id)
        for d in candidates:
            p = self.path(d)
            try:
                size = os.stat(p).st_size
            except FileNotFoundError:
                continue
            if idx.layers_with_diff_id(self.index, d):
                return StoredLayer(d, p, size, downloaded=False)
        return None

    def ingest(self, src, desc: Descriptor, diff_id: str | None, *,
               progress: Callable[[int], None] | None = None,
               stop: threading.Event | None = None) -> StoredLayer:
        """Read a layer blob from ``src`` (``.read(n)``), check it against ``desc`` (size and
        digest) and ``diff_id`` (when known), store it uncompressed. Nothing is stored when
        a check fails."""
        stream = _CheckedStream(src, desc, progress, stop)
        tmp = os.path.join(self.tmp_dir, temp_name())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        done = False
        try:
            diff = hashlib.sha256()
            size = 0
            try:
                reader = DecompressingReader(stream)
                while chunk := reader.read():
                    if stop is not None and stop.is_set():
                        raise Cancelled("layer download cancelled")
                    diff.update(chunk)
                    size += len(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
            except (Cancelled, HTTPError):
                raise
            except ImageError as e:
                # corrupt content: a digest mismatch (bounded by the declared size) is the
                # better explanation when there is one
                stream.drain()
                stream.check()
                raise ImageError(f"layer {desc.digest}: {e.message}", e.cause) from None
            stream.drain()  # trailing bytes after the compressed stream count for the digest
            stream.check()
            got = "sha256:" + diff.hexdigest()
            if diff_id is not None and diff_id.startswith("sha256:") and got != diff_id:
                raise ImageError(f"layer {desc.digest}: uncompressed content does not match "
                                 f"the diff ID {diff_id} of the image config (got {got})")
            # no fsync per layer: on ext4 each one would wait for the writeback of every
            # dirty page of the filesystem (the tree being rendered). The caller syncfs()es
            # once and only then records the rows (``record``); a file without its row is
            # never used and gc removes it.
            os.close(fd)
            fd = -1
            final = self.path(got)
            with self.lock(got).exclusive():
                os.makedirs(os.path.dirname(final), mode=0o750, exist_ok=True)
                if os.path.exists(final):
                    os.unlink(tmp)
                else:
                    os.rename(tmp, final)
            done = True
            t = now_ns()
            return StoredLayer(got, final, size, downloaded=True,
                               row=LayerInfo(desc.digest, got, size, desc.size, t, t))
        finally:
            if fd >= 0:
                os.close(fd)
            if not done:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

    def record(self, stored: StoredLayer) -> None:
        """Write the index row of a layer ``ingest`` stored. Called from the thread that
        owns the index connection (SQLite connections stay in their thread)."""
        if stored.row is not None:
            idx.put_layer(self.index, stored.row)
            stored.row = None

    def touch(self, diff_ids: list[str]) -> None:
        idx.touch_layers(self.index, diff_ids)

    def gc(self, grace_ns: int, on_remove: Callable[[str], None] = lambda d: None) -> int:
        """Remove layers not used for ``grace_ns`` (and files no row names). Safe at any
        time: no image depends on a cached layer. Returns the number removed."""
        cutoff = now_ns() - grace_ns
        last: dict[str, int] = {}
        for row in idx.all_layers(self.index):
            last[row.diff_id] = max(last.get(row.diff_id, 0), row.last_used)
        removed = 0
        for diff_id, used in last.items():
            if used >= cutoff:
                continue
            lk = self.lock(diff_id)
            try:
                lk.exclusive(blocking=False)
            except Exception:
                continue  # a squash is reading it
            try:
                idx.remove_layers(self.index, diff_id)
                try:
                    os.unlink(self.path(diff_id))
                except FileNotFoundError:
                    pass
            finally:
                lk.close()
            on_remove(diff_id)
            removed += 1
        # files whose row was never written (a crash between rename and row)
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                algo, _, hexd = name.partition("-")
                diff_id = f"{algo}:{hexd}"
                if diff_id not in last:
                    lk = self.lock(diff_id)
                    try:
                        lk.exclusive(blocking=False)
                        if not idx.layers_with_diff_id(self.index, diff_id):
                            os.unlink(os.path.join(dirpath, name))
                    except Exception:
                        pass
                    finally:
                        lk.close()
        return removed


def syncfs(path: str) -> None:
    """syncfs(2) on the filesystem holding ``path``: one flush for many files."""
    from rktfast import _syscalls

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _syscalls.syncfs(fd)
    finally:
        os.close(fd)
