"""The image store: blobs by SHA-512, cached manifests and the index (SPEC §3, §4).

Layout under ``<dir>/cas``::

    blob/sha512/<h[0:2]>/sha512-<64 hex>           the uncompressed image tar
    imageManifest/sha512/<h[0:2]>/sha512-<64 hex>  its manifest
    db/index.sqlite3                               the index (rows written last)
    imagelocks/<key>                               per-image locks
    tmp/                                           ingest temp files (``.tmp-<pid>-…``)

Every writer puts data in place with write-to-temp + fsync + rename, and adds the index row
last: a kill at any moment leaves at most unreferenced files, never a row that lies.
"""

from __future__ import annotations

import os

from rktfast import fastjson
from rktfast.errors import StoreError
from rktfast.store.index import ImageInfo, Index, now_ns
from rktfast.store.locks import FdLock, key_lock


def _ci(obj: dict, name: str):
    """``obj[name]`` matched case-insensitively, the last match winning: how Go's JSON
    decoder fills a struct field from an object."""
    found = None
    for k, v in obj.items():
        if k.lower() == name:
            found = v
    return found


def manifest_labels(raw: bytes) -> dict[str, str]:
    """The labels of a stored image manifest as {name: value}.

    Manifests enter the store only after full validation (fetch), so a name lookup needs no
    second validation: a plain JSON read spares ``rkt run`` the appc parser (its import and
    its regexes). Raises ValueError on a document that is not a manifest at all.
    """
    doc = fastjson.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("the image manifest is not a JSON object")
    out: dict[str, str] = {}
    for lb in _ci(doc, "labels") or []:
        if not isinstance(lb, dict):
            raise ValueError("bad label")
        n, v = _ci(lb, "name"), _ci(lb, "value")
        if not isinstance(n, str) or not isinstance(v, str):
            raise ValueError("bad label")
        out[n] = v
    return out


def manifest_dependencies(raw: bytes) -> list | None:
    """The ``dependencies`` of a stored image manifest (None or [] when it has none)."""
    doc = fastjson.loads(raw)
    return _ci(doc, "dependencies") if isinstance(doc, dict) else None


def short_id(key: str, length: int = 19) -> str:
    """The ID as rkt shows it: 19 chars in tables, 39 from fetch, 71 (full) with --full."""
    return key[:length]


class ImageStore:
    """Access to ``<dir>/cas``. Holds a shared lock on ``cas/`` while open."""

    def __init__(self, data_dir: str, *, create: bool = True):
        self.data_dir = data_dir
        self.cas = os.path.join(data_dir, "cas")
        if create:
            for sub in ("blob/sha512", "imageManifest/sha512", "db", "imagelocks", "tmp",
                        "tree", "treestorelocks"):
                os.makedirs(os.path.join(self.cas, sub), mode=0o750, exist_ok=True)
        elif not os.path.isdir(self.cas):
            raise StoreError(f"cannot open store: {self.cas!r} does not exist")
        self._cas_lock = FdLock(self.cas, directory=True).shared()
        self.index = Index(os.path.join(self.cas, "db"))
        self.tmp_dir = os.path.join(self.cas, "tmp")

    def close(self) -> None:
        self.index.close()
        self._cas_lock.close()

    def close_for_exec(self) -> None:
        """Just before stage0 execs the stage1: release the store lock but leave the index
        connection for the exec to drop (its fds are close-on-exec). Closing the last
        connection would checkpoint the WAL into the database with fsyncs — milliseconds,
        more under I/O load — housekeeping that the next store user does anyway; to SQLite
        an exec is a process exit, which WAL mode is made for. If the exec fails, close()
        still closes everything."""
        self.index.leave_open_for_exec()
        self._cas_lock.close()

    def __enter__(self) -> ImageStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # paths ---------------------------------------------------------------
    def _sharded(self, kind: str, key: str) -> str:
        return os.path.join(self.cas, kind, "sha512", key[7:9], key)

    def blob_path(self, key: str) -> str:
        return self._sharded("blob", key)

    def manifest_path(self, key: str) -> str:
        return self._sharded("imageManifest", key)

    def lock(self, key: str) -> FdLock:
        return key_lock(os.path.join(self.cas, "imagelocks"), key)

    # lookups -------------------------------------------------------------
    def resolve_key(self, prefix: str) -> str:
        """A full image key from an ID prefix, with rkt's errors."""
        if not prefix.startswith("sha512-"):
            raise StoreError(f"wrong key prefix: {prefix!r}")
        if len(prefix) - len("sha512-") < 2:
            raise StoreError("image ID too short")
        prefix = prefix[:71].lower()
        keys = self.index.keys_with_prefix(prefix)
        if not keys:
            raise StoreError("no image IDs found")
        if len(keys) > 1:
            raise StoreError(f'ambiguous image ID: "{prefix}"')
        return keys[0]

    def get(self, key: str) -> ImageInfo:
        info = self.index.get(key)
        if info is None:
            raise StoreError(f"no image with ID {key!r} in the store")
        return info

    def read_manifest_bytes(self, key: str) -> bytes:
        try:
            with open(self.manifest_path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise StoreError(f"cannot find the image manifest of {key}") from None

    def find_by_name(self, name: str, labels: dict[str, str]) -> str | None:
        """The best stored image for ``name`` carrying all ``labels`` (SPEC §3 name lookup):
        without a requested version prefer ``latest``, then the newest import."""
        candidates = []
        for info in self.index.by_name(name):
            try:
                have = manifest_labels(self.read_manifest_bytes(info.key))
            except Exception:
                continue
            if all(have.get(k) == v for k, v in labels.items()):
                candidates.append(info)
        if not candidates:
            return None
        if "version" not in labels:
            latest = [c for c in candidates if c.latest]
            if latest:
                candidates = latest
        candidates.sort(key=lambda c: c.import_time, reverse=True)
        return candidates[0].key

    # writes --------------------------------------------------------------
    def commit_image(self, key: str, blob_tmp: str, manifest: bytes, name: str, size: int,
                     *, latest: bool = False) -> ImageInfo:
        """Move an ingested blob into place and record it. Safe against parallel commits of
        the same image: the second one finds the blob there and drops its own copy."""
        blob = self.blob_path(key)
        with self.lock(key).exclusive():
            os.makedirs(os.path.dirname(blob), mode=0o750, exist_ok=True)
            if os.path.exists(blob):
                os.unlink(blob_tmp)
            else:
                os.rename(blob_tmp, blob)
            _write_atomic(self.manifest_path(key), manifest, self.tmp_dir)
            _fsync_dir(os.path.dirname(blob))
            t = now_ns()
            info = ImageInfo(key, name, t, t, latest, size, 0)
            self.index.put(info)
            return self.index.get(key) or info

    def remove(self, key: str) -> None:
        """Remove one image: its row first (so nothing trusts it), then its files."""
        with self.lock(key).exclusive():
            self.index.remove(key)
            for p in (self.blob_path(key), self.manifest_path(key)):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def clean_tmp(self) -> None:
        """Delete temp files left by processes that are gone (kill -9 during ingest)."""
        import re

        for name in os.listdir(self.tmp_dir):
            m = re.match(r"^\.tmp-(\d+)-", name)
            if not m or _pid_alive(int(m.group(1))):
                continue
            p = os.path.join(self.tmp_dir, name)
            if os.path.isdir(p) and not os.path.islink(p):
                import shutil

                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: str, data: bytes, tmp_dir: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    tmp = os.path.join(tmp_dir, f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
