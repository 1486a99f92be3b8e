"""Squashing stored layers into an ACI and its rendered tree (SPEC §8).

The layers' tars are applied in order to one ``rootfs/`` by the native extractor with
whiteouts (``.wh.x``, opaque ``.wh..wh..opq``) and overwriting on, every path resolved
inside the tree. Then the ``/dev`` links docker2aci adds, and the ACI is written from the
tree by the native tar writer, hashed (SHA-512: the image ID) and stored in the same pass.
The tree is kept: it becomes the image's rendered tree, so it is not rendered twice.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from rktfast.errors import ImageError
from rktfast.fetch.extract import TarExtractor, write_tree_tar
from rktfast.fetch.ingest import temp_name
from rktfast.store.blobfile import BlobFile

CHUNK = 1 << 20
DEV_LINKS = (("stdin", "/proc/self/fd/0"), ("stdout", "/dev/console"),
             ("stderr", "/dev/console"), ("fd", "/proc/self/fd"))


@dataclass
class SquashedImage:
    key: str  # sha512-<64 hex>
    blob_tmp: str
    tree_tmp: str  # contains rootfs/
    size: int  # bytes of the ACI tar
    tree_size: int  # bytes of regular-file content rendered


class LayerFeed:
    """Applies layer tars, in order, to ``<tree>/rootfs``."""

    def __init__(self, rootfs: str):
        self.rootfs = rootfs
        self.file_bytes = 0

    def apply(self, layer_path: str, what: str) -> None:
        try:
            f = open(layer_path, "rb")
        except OSError as e:
            raise ImageError(f"{what}: cannot open the stored layer", e) from e
        with f, TarExtractor(self.rootfs, whiteouts=True, overwrite=True) as ex:
            try:
                while chunk := f.read(CHUNK):
                    ex.feed(chunk)
                ex.finish()
            except ImageError as e:
                raise ImageError(f"{what}: {e.message}", e.cause) from None
            self.file_bytes += ex.stats.file_bytes


def add_dev_links(rootfs: str, mtime: int) -> None:
    """``/dev`` must be a directory; add docker2aci's std links where absent."""
    dev = os.path.join(rootfs, "dev")
    try:
        st = os.lstat(dev)
    except FileNotFoundError:
        os.mkdir(dev, 0o755)
        st = os.lstat(dev)
        old_times = (mtime, mtime)
    else:
        if not stat.S_ISDIR(st.st_mode):
            raise ImageError("invalid image: /dev is not a directory")
        old_times = (st.st_atime, st.st_mtime)
    for name, target in DEV_LINKS:
        p = os.path.join(dev, name)
        if not os.path.lexists(p):
            os.symlink(target, p)
            os.utime(p, (mtime, mtime), follow_symlinks=False)
    os.utime(dev, old_times)


def write_aci(tree_tmp: str, manifest: bytes, blob_dir: str, manifest_mtime: int,
              ) -> tuple[str, str, int]:
    """Write the ACI of ``tree_tmp/rootfs`` + ``manifest`` into a temp file in ``blob_dir``
    while hashing it. Returns (image key, temp path, size)."""
    blob = BlobFile(os.path.join(blob_dir, temp_name()))
    rfd, wfd = os.pipe()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            write_tree_tar(os.path.join(tree_tmp, "rootfs"), wfd, prefix="rootfs",
                           manifest=manifest, manifest_mtime=manifest_mtime)
        except BaseException as e:  # noqa: BLE001 - reported by the caller's thread
            failure.append(e)
        finally:
            os.close(wfd)

    t = threading.Thread(target=writer, name="rktfast-aci-writer", daemon=True)
    sha = hashlib.sha512()
    ok = False
    try:
        t.start()
        while data := os.read(rfd, CHUNK):
            sha.update(data)
            blob.write(data)
        t.join()
        if failure:
            raise failure[0]
        blob.finish()
        ok = True
    finally:
        os.close(rfd)  # a writer still running gets EPIPE and ends
        t.join()
        if ok:
            blob.close()
        else:
            blob.discard()
    return "sha512-" + sha.hexdigest()[:64], blob.path, blob.size


def squash(layers: Iterable[tuple[str, str]], manifest: bytes, tmp_dir: str, *,
           mtime: int = 0) -> SquashedImage:
    """Render the layers (``(path, description)`` pairs, lowest first; a generator may
    yield each one as soon as it is stored) and write the ACI. Temporaries are removed on
    failure."""
    import shutil

    tree_tmp = os.path.join(tmp_dir, temp_name())
    os.mkdir(tree_tmp, 0o755)
    try:
        rootfs = os.path.join(tree_tmp, "rootfs")
        os.mkdir(rootfs, 0o755)
        feed = LayerFeed(rootfs)
        for path, what in layers:
            feed.apply(path, what)
        add_dev_links(rootfs, mtime)
        os.utime(rootfs, (mtime, mtime))
        key, blob_tmp, size = write_aci(tree_tmp, manifest, tmp_dir, mtime)
    except BaseException:
        shutil.rmtree(tree_tmp, ignore_errors=True)
        raise
    return SquashedImage(key, blob_tmp, tree_tmp, size, feed.file_bytes)
