"""Lay out a pod's files for its stage1 (SPEC §3 "Pod directory", §5).

``prepare_*`` run under the pod's preparing lock and only write files: the stage1 and app
manifests, tree IDs, and with ``--no-overlay`` full copies of the rendered trees.
``setup_*`` run just before the stage1 is exec'd: they mount one overlay per image over its
rendered tree (upper and work in ``<pod>/overlay/<treeid>/``) in the host mount namespace,
where they stay until gc or rm takes the pod apart.
"""

from __future__ import annotations

import os

from rktfast.errors import PodError

STAGE1_ROOTFS = "stage1/rootfs"


def app_dir(pod_dir: str, app: str) -> str:
    return os.path.join(pod_dir, STAGE1_ROOTFS, "opt", "stage2", app)


def _write(path: str, data: bytes | str, mode: int = 0o640) -> None:
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def copy_tree(src: str, dst: str, shift: int = 0) -> None:
    """Copy a rendered tree (owners, modes, links, devices, xattrs): ``--no-overlay``."""
    import subprocess

    os.makedirs(dst, exist_ok=True)
    r = subprocess.run(["cp", "-a", "--reflink=auto", "-T", src, dst], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise PodError("error rendering ACI", PodError(r.stderr.strip() or "cp failed"))
    if shift:
        shift_owners(dst, shift)


def shift_owners(root: str, shift: int) -> None:
    """Add ``shift`` to every owner under ``root`` (``--private-users`` with copies)."""
    import stat

    def shift_one(p: str) -> None:
        st = os.lstat(p)
        os.lchown(p, st.st_uid + shift, st.st_gid + shift)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(p, st.st_mode & 0o7777)  # chown clears setuid bits

    shift_one(root)
    # every entry once: a directory is shifted as an entry of its parent, not again when
    # the walk enters it
    for dirpath, dirnames, filenames in os.walk(root):
        for n in (*dirnames, *filenames):
            shift_one(os.path.join(dirpath, n))


def render(store, trees, key: str) -> str:
    """The tree ID of ``key``, rendering it only if the tree store does not have it yet
    (the common case costs a few manifest reads, not the extractor)."""
    from rktfast.store.render import render_chain, render_image
    from rktfast.store.treestore import tree_id

    tid = tree_id(render_chain(store, key))
    if trees.is_rendered(tid):
        return tid
    return render_image(store, trees, key)


def prepare_stage1(pod_dir: str, store, trees, key: str, use_overlay: bool,
                   shift: int = 0) -> str:
    """Render the stage1 tree; write ``stage1/manifest`` and ``stage1TreeStoreID``."""
    s1 = os.path.join(pod_dir, "stage1")
    os.makedirs(s1, mode=0o750, exist_ok=True)
    try:
        tid = render(store, trees, key)
    except Exception as e:
        raise PodError("error preparing stage1", PodError("error rendering tree image", e)) from e
    _write(os.path.join(s1, "manifest"), store.read_manifest_bytes(key))
    if not use_overlay:
        copy_tree(trees.rootfs(tid), os.path.join(s1, "rootfs"), shift)
    _write(os.path.join(pod_dir, "stage1TreeStoreID"), tid)
    return tid


def prepare_app(pod_dir: str, store, trees, app: str, key: str, use_overlay: bool,
                shift: int = 0) -> str:
    """Render an app's image; write ``appsinfo/<app>/{manifest,treeStoreID}`` (copy the tree
    to ``stage1/rootfs/opt/stage2/<app>/rootfs`` with ``--no-overlay``)."""
    info = os.path.join(pod_dir, "appsinfo", app)
    os.makedirs(info, mode=0o750, exist_ok=True)
    try:
        tid = render(store, trees, key)
    except Exception as e:
        raise PodError(f"error preparing image {key}",
                       PodError("error rendering tree image", e)) from e
    if use_overlay:
        _write(os.path.join(info, "treeStoreID"), tid)
    else:
        ad = app_dir(pod_dir, app)
        os.makedirs(ad, mode=0o750, exist_ok=True)
        copy_tree(trees.rootfs(tid), os.path.join(ad, "rootfs"), shift)
        _write(os.path.join(ad, "manifest"), store.read_manifest_bytes(key))
    _write(os.path.join(info, "manifest"), store.read_manifest_bytes(key))
    return tid


def _overlay(pod_dir: str, lower: str, tid: str, target: str, app: str) -> None:
    from rktfast.pod.mounts import mount_overlay

    st = os.stat(lower)
    os.makedirs(target, mode=st.st_mode & 0o7777, exist_ok=True)
    overlay = os.path.join(pod_dir, "overlay")
    os.makedirs(overlay, mode=0o750, exist_ok=True)
    img = os.path.join(overlay, tid)
    upper = os.path.join(img, "upper", app) if app else os.path.join(img, "upper")
    work = os.path.join(img, "work", app) if app else os.path.join(img, "work")
    os.makedirs(upper, exist_ok=True)
    os.chmod(upper, st.st_mode & 0o7777)
    os.makedirs(work, mode=0o750, exist_ok=True)
    mount_overlay(lower, upper, work, target)


def setup_stage1(pod_dir: str, trees, use_overlay: bool) -> None:
    """Mount the stage1 overlay on ``stage1/rootfs`` and make sure ``rkt/status`` exists."""
    rootfs = os.path.join(pod_dir, STAGE1_ROOTFS)
    if use_overlay:
        with open(os.path.join(pod_dir, "stage1TreeStoreID")) as f:
            tid = f.read().strip()
        from rktfast.pod.mounts import is_mountpoint

        if not is_mountpoint(rootfs):
            _overlay(pod_dir, trees.rootfs(tid), tid, rootfs, "")
    status = os.path.join(rootfs, "rkt", "status")
    if not os.path.isdir(status) or os.path.islink(os.path.join(rootfs, "rkt")):
        os.makedirs(status, mode=0o755, exist_ok=True)


def setup_app(pod_dir: str, trees, app: str, use_overlay: bool) -> None:
    ad = app_dir(pod_dir, app)
    if use_overlay:
        os.makedirs(ad, mode=0o750, exist_ok=True)
        with open(os.path.join(pod_dir, "appsinfo", app, "treeStoreID")) as f:
            tid = f.read().strip()
        with open(os.path.join(pod_dir, "appsinfo", app, "manifest"), "rb") as f:
            _write(os.path.join(ad, "manifest"), f.read())
        _overlay(pod_dir, trees.rootfs(tid), tid, os.path.join(ad, "rootfs"), app)
    ensure_mtab(os.path.join(ad, "rootfs"))


def ensure_mtab(rootfs: str) -> None:
    """``etc/mtab -> ../proc/self/mounts`` if the image has a real ``/etc`` and no mtab.
    Never follows a symlinked ``etc`` (it could point out of the pod)."""
    etc = os.path.join(rootfs, "etc")
    try:
        st = os.lstat(etc)
    except FileNotFoundError:
        return
    import stat as _stat

    if not _stat.S_ISDIR(st.st_mode):
        return
    mtab = os.path.join(etc, "mtab")
    if os.path.lexists(mtab):
        return
    os.symlink("../proc/self/mounts", mtab)


def write_resolv_conf(pod_dir: str, nameservers: list[str], search: list[str],
                      options: list[str], domain: str) -> None:
    """``stage1/rootfs/etc/rkt-resolv.conf`` from the --dns* flags (rkt's MakeResolvConf)."""
    lines = ["# Generated by rkt run", ""]
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {ns}" for ns in nameservers]
    if options:
        lines.append("options " + " ".join(options))
    if domain:
        lines.append(f"domain {domain}")
    etc = os.path.join(pod_dir, STAGE1_ROOTFS, "etc")
    os.makedirs(etc, mode=0o755, exist_ok=True)
    _write(os.path.join(etc, "rkt-resolv.conf"), "\n".join(lines) + "\n", 0o644)


def write_hosts(pod_dir: str, entries: list[tuple[str, list[str]]]) -> None:
    """``stage1/rootfs/etc/rkt-hosts``: the stage1's hosts-fallback plus --hosts-entry lines."""
    etc = os.path.join(pod_dir, STAGE1_ROOTFS, "etc")
    try:
        with open(os.path.join(etc, "hosts-fallback")) as f:
            text = f.read()
    except OSError:
        text = "#created by rkt stage0\n127.0.0.1 localhost localhost.localdomain\n"
    text += "\n\n# Added by rkt run --hosts-entry\n"
    for ip, names in entries:
        text += f"{ip} {' '.join(names)}\n"
    os.makedirs(etc, mode=0o755, exist_ok=True)
    _write(os.path.join(etc, "rkt-hosts"), text, 0o644)
