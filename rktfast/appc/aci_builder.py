"""Build ACI files from a directory or from in-memory entries (like ``actool build``).

Used by the example image, the tests and the benchmarks; not on any hot path.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable

COMPRESSORS = {"none": "w", "gzip": "w:gz", "bzip2": "w:bz2", "xz": "w:xz"}


def build_aci_from_dir(rootfs: str, manifest: dict | bytes, out: str,
                       compression: str = "gzip") -> str:
    """Write ``out`` holding ``manifest`` and ``rootfs/`` copied from the ``rootfs`` dir."""
    raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest, indent=2).encode()
    tmp = f"{out}.tmp-{os.getpid()}"
    with _open(tmp, compression) as tar:
        _add_bytes(tar, "manifest", raw, 0o644)
        tar.add(rootfs, arcname="rootfs", recursive=True, filter=_normalise)
    os.rename(tmp, out)
    return out


def build_aci(entries: Iterable[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]],
              manifest: dict | bytes | None, out: str, compression: str = "gzip") -> str:
    """Write an ACI from explicit tar entries (``rootfs/…`` names); the manifest goes first."""
    tmp = f"{out}.tmp-{os.getpid()}"
    with _open(tmp, compression) as tar:
        if manifest is not None:
            raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            _add_bytes(tar, "manifest", raw, 0o644)
        for e in entries:
            info, data = (e, None) if isinstance(e, tarfile.TarInfo) else e
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    os.rename(tmp, out)
    return out


def file_entry(name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, 1700000000
    return info, data


def dir_entry(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 1700000000
    return info


def link_entry(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname, info.mode, info.mtime = target, 0o777, 1700000000
    return info


def image_manifest(name: str, version: str | None = None, exec_: list[str] | None = None,
                   **app) -> dict:
    """A minimal valid ImageManifest dict for linux/amd64."""
    labels = [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]
    if version:
        labels.insert(0, {"name": "version", "value": version})
    m: dict = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name, "labels": labels}
    if exec_ is not None:
        m["app"] = {"exec": exec_, "user": "0", "group": "0", **app}
    return m


def _open(path: str, compression: str) -> tarfile.TarFile:
    return tarfile.open(path, COMPRESSORS[compression], format=tarfile.PAX_FORMAT)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info, data = file_entry(name, data, mode)
    tar.addfile(info, io.BytesIO(data))


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""
    return info
