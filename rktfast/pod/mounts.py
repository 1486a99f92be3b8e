"""mount(2), umount2(2) and syncfs(2) for stage0, and the clean-up of a pod's leftover mounts.

Overlay mounts made by stage0 live in the host mount namespace until the pod is garbage
collected or removed (as in rkt); ``unmount_tree`` is what gc and rm use to take down
everything under a pod directory.
"""

from __future__ import annotations

import os

from rktfast import _syscalls
from rktfast.errors import PodError

MS_RDONLY = 1
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _syscalls.mount(source, target, fstype, flags, data)


def umount(target: str, flags: int = 0) -> None:
    _syscalls.umount2(target, flags)


def syncfs(fd: int) -> None:
    _syscalls.syncfs(fd)


_volatile_ok: bool | None = None


def mount_overlay(lower: str, upper: str, work: str, target: str) -> None:
    """Mount an overlay; ``volatile`` (no syncs, cheap umount) when the kernel has it."""
    global _volatile_ok
    # A volatile mount leaves work/work/incompat/volatile behind and the kernel refuses to
    # mount that upper again until it is gone: remounting (gc, export) must drop it.
    marker = os.path.join(work, "work", "incompat", "volatile")
    if os.path.isdir(marker):
        import shutil

        shutil.rmtree(marker, ignore_errors=True)
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if _volatile_ok is not False:
        try:
            mount("overlay", target, "overlay", 0, opts + ",volatile")
            _volatile_ok = True
            return
        except OSError:
            _volatile_ok = False
    try:
        mount("overlay", target, "overlay", 0, opts)
    except OSError as e:
        raise PodError("problem mounting overlay filesystem", e) from e


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path``, in the order they appear in mountinfo."""
    path = os.path.realpath(path).rstrip("/")
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = _unescape(line.split(" ", 5)[4])
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def is_mountpoint(path: str) -> bool:
    try:
        answer = _syscalls.is_mount_root(os.path.realpath(path))
    except FileNotFoundError:
        return False
    if answer is not None:
        return answer
    return os.path.realpath(path) in mounts_under(path)  # kernels before 5.8


def unmount_tree(path: str) -> None:
    """Unmount every mount at or below ``path``, deepest and newest first.

    Mounts are made private first so that an unmount never propagates to (or is held back
    by) a peer, then detached: a busy mount disappears from the tree at once.
    """
    mps = mounts_under(path)
    errors = []
    for mp in reversed(mps):
        try:
            mount(None, mp, None, MS_PRIVATE | MS_REC)
        except OSError:
            pass
        try:
            umount(mp, MNT_DETACH)
        except OSError as e:
            if e.errno not in (22, 2):  # EINVAL: already gone with a parent; ENOENT
                errors.append(e)
    if errors:
        raise PodError(f"error cleaning mounts under {path}", errors[0])
