"""Rendered image trees: ``cas/tree/deps-sha512-<64 hex>/{rootfs/,hash,rendered,image}``.

A tree ID names the dependency chain it was rendered from (SPEC §3): ``deps-`` + the key of
SHA-512 over the comma-joined image keys in render order. A tree is trusted only once its
``rendered`` marker exists; trees are built in ``cas/tmp`` and renamed into place whole.
``hash`` holds the digest of the tree that ``image verify`` recomputes.
"""

from __future__ import annotations

import os

from rktfast.errors import StoreError
from rktfast.store.locks import FdLock, key_lock

RENDERED = "rendered"


def tree_id(chain: list[str]) -> str:
    """The treestore ID of a render chain (image keys, lowest dependency first)."""
    try:  # the builtin SHA-512: importing hashlib loads OpenSSL, a few ms on every run
        from _sha512 import sha512
    except ImportError:
        from hashlib import sha512
    return "deps-sha512-" + sha512(",".join(chain).encode()).hexdigest()[:64]


def tree_digest(rootfs: str, known: bytes = b"") -> str:
    """``known``: content digests from the extractor that has just written this tree
    (TarExtractor.content_digests); files found there are not read again."""
    from rktfast._treedigest import tree_digest as native_digest
    return native_digest(rootfs, known)


class TreeStore:
    def __init__(self, cas_dir: str):
        self.root = os.path.join(cas_dir, "tree")
        self.locks = os.path.join(cas_dir, "treestorelocks")
        self.tmp_dir = os.path.join(cas_dir, "tmp")
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def path(self, tid: str) -> str:
        return os.path.join(self.root, tid)

    def rootfs(self, tid: str) -> str:
        return os.path.join(self.root, tid, "rootfs")

    def lock(self, tid: str) -> FdLock:
        return key_lock(self.locks, tid)

    def is_rendered(self, tid: str) -> bool:
        return os.path.exists(os.path.join(self.root, tid, RENDERED))

    def adopt(self, tid: str, tmp_tree: str, image_key: str, digest: str | None = None) -> str:
        """Finish a tree rendered in ``tmp_tree`` (digest, markers) and move it into place.
        If a complete tree with that ID exists already, the new one is discarded.
        ``digest``: the tree's digest if the caller computed it already (ingest does)."""
        if digest is None:
            digest = tree_digest(os.path.join(tmp_tree, "rootfs"))
        for name, text in (("image", image_key), ("hash", digest)):
            with open(os.path.join(tmp_tree, name), "w") as f:
                f.write(text)
        marker = os.path.join(tmp_tree, RENDERED)
        with open(marker, "w") as f:
            f.flush()
            os.fsync(f.fileno())
        final = self.path(tid)
        with self.lock(tid).exclusive():
            if self.is_rendered(tid):
                self.discard(tmp_tree)
                return final
            if os.path.lexists(final):  # an incomplete tree from a killed render
                self.discard(final)
            os.rename(tmp_tree, final)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return final

    def discard(self, path: str) -> None:
        """Move a tree aside and delete it. The rename makes it invisible at once; the
        ``.tmp-<pid>-`` name lets a later clean-up finish the job after a crash."""
        trash = os.path.join(self.tmp_dir, f".tmp-{os.getpid()}-trash-{os.urandom(6).hex()}")
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        import shutil

        shutil.rmtree(trash, ignore_errors=True)

    def remove(self, tid: str) -> None:
        with self.lock(tid).exclusive():
            self.discard(self.path(tid))

    def verify(self, tid: str) -> None:
        """Recompute the digest of a rendered tree and compare it with the stored one."""
        with self.lock(tid).shared():
            if not self.is_rendered(tid):
                raise StoreError(f"tree {tid} is not completely rendered")
            try:
                with open(os.path.join(self.path(tid), "hash")) as f:
                    want = f.read().strip()
            except OSError as e:
                raise StoreError(f"cannot read the digest of tree {tid}", e) from e
            got = tree_digest(self.rootfs(tid))
            if got != want:
                raise StoreError(f"tree {tid} has been modified: digest {got} != {want}")

    def list_ids(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.root) if n.startswith("deps-"))
        except FileNotFoundError:
            return []

    def image_of(self, tid: str) -> str | None:
        try:
            with open(os.path.join(self.path(tid), "image")) as f:
                return f.read().strip()
        except OSError:
            return None

    def size(self, tid: str) -> int:
        total = 0
        for dirpath, dirnames, filenames in os.walk(self.path(tid)):
            for n in filenames + dirnames:
                try:
                    total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
                except OSError:
                    pass
        return total
