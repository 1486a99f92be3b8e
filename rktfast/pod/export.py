"""Export an app of an exited pod as an ACI (rkt export): the app's rootfs as the app left it
(overlay upper over the rendered tree, mounted again in a temp dir) with its image manifest."""

from __future__ import annotations

import os
import tarfile
import tempfile

from rktfast.errors import PodError
from rktfast.pod import pods


def export_app(pod: pods.Pod, app: str, trees, out: str, overwrite: bool, tmp_root: str) -> None:
    """Write ``out`` (gzip ACI) from the app ``app`` of the exited pod ``pod``."""
    from rktfast.pod.mounts import mount_overlay, mounts_under, umount

    manifest_path = os.path.join(pod.path, "appsinfo", app, "manifest")
    shift = 0
    try:
        shift = int(pod.read_text("private-users-prepared").split(":")[0])
    except (OSError, ValueError):
        pass
    mnt_parent = None
    root = os.path.join(pod.path, "stage1", "rootfs", "opt", "stage2", app, "rootfs")
    try:
        mounted = mounts_under(root)
        if any(m != os.path.realpath(root) for m in mounted):
            raise PodError("pod has remaining mountpoints. Only pods using overlayfs or with "
                           "no mountpoints can be exported")
        if mounted:
            pass  # the app's overlay is still mounted (until gc): it is the merged view
        elif pod.uses_overlay():
            os.makedirs(tmp_root, mode=0o750, exist_ok=True)
            mnt_parent = tempfile.mkdtemp(prefix=f"rkt-export-{pod.uuid}", dir=tmp_root)
            root = os.path.join(mnt_parent, "rootfs")
            os.mkdir(root, 0o750)
            tid = pod.read_text(f"appsinfo/{app}/treeStoreID").strip()
            img = os.path.join(pod.path, "overlay", tid)
            try:
                mount_overlay(trees.rootfs(tid), os.path.join(img, "upper", app),
                              os.path.join(img, "work", app), root)
            except Exception as e:
                raise PodError(f"couldn't mount directory at {root}", e) from e
        build_aci(root, manifest_path, out, overwrite, shift)
    finally:
        if mnt_parent is not None:
            try:
                umount(root)
            except OSError:
                pass
            import shutil

            shutil.rmtree(mnt_parent, ignore_errors=True)


def build_aci(root: str, manifest_path: str, out: str, overwrite: bool, shift: int) -> None:
    flags = os.O_CREAT | os.O_WRONLY | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(out, flags, 0o644)
    except FileExistsError:
        raise PodError("error building aci", PodError("target file exists (try --overwrite)")) \
            from None
    except OSError as e:
        raise PodError("error building aci", PodError(f"unable to open target {out}", e)) \
            from e
    try:
        with open(manifest_path, "rb") as f:
            manifest = f.read()

        def unshift(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            if shift:
                ti.uid = max(ti.uid - shift, 0)
                ti.gid = max(ti.gid - shift, 0)
            ti.uname = ti.gname = ""
            return ti

        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz",
                                                     format=tarfile.PAX_FORMAT) as tar:
            import io

            ti = tarfile.TarInfo("manifest")
            ti.size, ti.mode = len(manifest), 0o644
            tar.addfile(ti, io.BytesIO(manifest))
            tar.add(root, arcname="rootfs", recursive=True, filter=unshift)
    except BaseException as e:
        try:
            os.unlink(out)
        except OSError:
            pass
        if isinstance(e, PodError):
            raise
        if isinstance(e, Exception):
            raise PodError("error building aci", e) from e
        raise
