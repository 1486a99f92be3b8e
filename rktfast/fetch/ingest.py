"""One-pass ingest of an ACI: decompress, hash, store the blob and render the tree.

Every byte of the source is read once. Four threads share the work, connected by small
bounded queues of ~1 MiB chunks (a few MiB in flight whatever the image size):

    reader:   src -> decompress (isal/bz2/lzma/zstd release the GIL)  --+--> hasher
    hasher:   SHA-512 (hashlib releases the GIL) + write the blob temp file |
    caller's thread: native tar extractor (cffi releases the GIL)  <--------+
    the extractor's own worker: fills and finishes the regular files it creates

The blob bypasses the page cache (store.blobfile): it is not read back soon, and filling
fresh cache pages was the largest kernel cost of a fetch.

Nothing is made visible here: the blob and the tree are left under temporary names and the
caller (the store) renames them into place and records the index row. Temporary names are
``.tmp-<pid>-<16 hex>`` directly inside ``blob_dir`` and ``tree_dir``; whatever carries
that prefix and whose pid is not alive is a leftover of a killed process, which gc may
delete. On any failure (bad input, exception, Ctrl-C) the temporaries are removed and every
thread has finished before the exception leaves ingest_aci: an ImageError, or the
KeyboardInterrupt itself.

The blob is fsynced; the tree is not (callers that need it durable syncfs() before the
rename, once for the whole tree). The tree's digest is computed here, on this thread,
while the hasher thread finishes the blob.
"""

from __future__ import annotations

import hashlib
import os
import queue
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from rktfast.errors import ImageError
from rktfast.fetch.decompress import DecompressingReader
from rktfast.fetch.extract import TarExtractor
from rktfast.store.blobfile import BlobFile

TMP_PREFIX = ".tmp-"
QUEUE_CHUNKS = 4  # per consumer; each chunk is at most 1 MiB
_POLL = 0.1  # seconds between checks of the stop flag while a queue is full or empty
_END = None


@dataclass
class IngestResult:
    """What ingest_aci produced; temporaries are the caller's to rename or delete."""

    image_key: str  # "sha512-" + first 64 hex of SHA-512 of the decompressed tar
    digest_hex: str  # all 128 hex
    blob_tmp: str  # the uncompressed tar, written and fsynced, temp name inside blob_dir
    tree_tmp: str | None  # temp directory containing rootfs/ (None when tree_dir was None)
    manifest: bytes  # raw bytes of the top-level `manifest` entry
    size: int  # uncompressed tar size in bytes
    tree_size: int  # bytes of regular-file content rendered
    skipped_devices: int
    tree_digest: str | None = None  # of tree_tmp/rootfs, for TreeStore.adopt


def temp_name() -> str:
    """A recognisable temporary name: ``.tmp-<pid>-<random>``."""
    return f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"


class _Stopped(Exception):
    """Another stage failed: this one just ends."""


class _Pipeline:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def fail(self, e: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = e
        self.stop.set()

    def put(self, q: queue.Queue, item) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue):
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue


def _read_stage(p: _Pipeline, src, progress, outs: list[queue.Queue], totals: dict) -> None:
    try:
        reader = DecompressingReader(src, progress)
        size = 0
        while chunk := reader.read():
            size += len(chunk)
            for q in outs:
                p.put(q, chunk)
        totals["size"] = size
        for q in outs:
            p.put(q, _END)
    except _Stopped:
        pass
    except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
        p.fail(e)


def _hash_stage(p: _Pipeline, q: queue.Queue, blob: BlobFile, sha) -> None:
    try:
        while (chunk := p.get(q)) is not _END:
            sha.update(chunk)
            blob.write(chunk)
        blob.finish()
    except _Stopped:
        pass
    except OSError as e:
        p.fail(ImageError("error writing image blob", e))
    except BaseException as e:  # noqa: BLE001
        p.fail(e)


def _remove_quietly(blob: BlobFile, tree_tmp: str | None) -> None:
    blob.discard()
    if tree_tmp is not None:
        shutil.rmtree(tree_tmp, ignore_errors=True)


def ingest_aci(
    src: BinaryIO,
    *,
    blob_dir: str,
    tree_dir: str | None,
    whitelist: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Reads an ACI (gzip, bzip2, xz, zstd or plain tar) from ``src`` once: computes its
    image key, writes the uncompressed blob to a temp file in ``blob_dir`` and, when
    ``tree_dir`` is given, renders ``rootfs/`` into a temp directory inside it (honouring
    the appc ``whitelist``, ``/bin/sh``-style paths). ``progress(n)`` is called from the
    reader thread with each count of compressed bytes consumed.

    Raises ImageError for a broken or hostile image or an I/O failure; temporaries are
    removed first."""
    blob_tmp = os.path.join(blob_dir, temp_name())
    tree_tmp = os.path.join(tree_dir, temp_name()) if tree_dir is not None else None
    try:
        blob = BlobFile(blob_tmp)
    except OSError as e:
        raise ImageError(f"error creating image blob in {blob_dir}", e) from e
    threads: list[threading.Thread] = []
    p = _Pipeline()
    ex = None
    try:
        if tree_tmp is not None:
            os.mkdir(tree_tmp, 0o755)
        wl = [w.lstrip("/") for w in whitelist] if whitelist else None
        ex = TarExtractor(tree_tmp, keep_prefix="rootfs", aci=True, whitelist=wl,
                          list_only=tree_tmp is None, content_digests=tree_tmp is not None)
        sha = hashlib.sha512()
        q_hash: queue.Queue = queue.Queue(QUEUE_CHUNKS)
        q_tar: queue.Queue = queue.Queue(QUEUE_CHUNKS)
        totals: dict = {}
        threads = [
            threading.Thread(target=_read_stage, args=(p, src, progress, [q_hash, q_tar], totals),
                             name="rktfast-ingest-read", daemon=True),
            threading.Thread(target=_hash_stage, args=(p, q_hash, blob, sha),
                             name="rktfast-ingest-hash", daemon=True),
        ]
        for t in threads:
            t.start()
        tree_digest = None
        try:
            while (chunk := p.get(q_tar)) is not _END:
                ex.feed(chunk)
            ex.finish()
            rootfs = os.path.join(tree_tmp, "rootfs") if tree_tmp is not None else None
            if rootfs is not None and os.path.isdir(rootfs) and not p.stop.is_set():
                from rktfast.store.treestore import tree_digest as digest_of

                tree_digest = digest_of(rootfs, ex.content_digests)
        except _Stopped:
            pass
        except BaseException as e:
            p.fail(e)
        for t in threads:
            t.join()
        if p.error is not None:
            raise p.error
        manifest = ex.manifest
        stats = ex.stats
        digest = sha.hexdigest()
        result = IngestResult(
            image_key="sha512-" + digest[:64],
            digest_hex=digest,
            blob_tmp=blob_tmp,
            tree_tmp=tree_tmp,
            manifest=manifest if manifest is not None else b"",
            size=totals["size"],
            tree_size=stats.file_bytes,
            skipped_devices=stats.skipped_devices,
            tree_digest=tree_digest,
        )
    except BaseException as e:
        p.stop.set()
        for t in threads:
            t.join()
        if ex is not None:
            ex.close()
        _remove_quietly(blob, tree_tmp)
        if isinstance(e, (ImageError, KeyboardInterrupt)):
            raise
        if isinstance(e, OSError):
            raise ImageError("error importing image", e) from e
        raise ImageError(f"error importing image: {e}", e) from e
    finally:
        blob.close()
        if ex is not None:
            ex.close()
    return result
