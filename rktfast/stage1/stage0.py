"""stage0: prepare a pod from images and flags, then hand it to its stage1 (SPEC §4, §5).

``prepare_pod`` creates the pod (embryo -> preparing, locked), renders the stage1 and app
trees, writes the pod manifest and the markers, all under a shared ``prepareLock`` so image
gc cannot take a tree away mid-way. ``launch`` mounts the overlays, writes the DNS files and
execs the stage1's ``run`` entrypoint in this process with the pod lock in ``RKT_LOCK_FD``.
"""

from __future__ import annotations

import os

from rktfast import fastjson
from rktfast.errors import PodError
from rktfast.pod import pods
from rktfast.stage1 import podfs


class PrepareConfig:
    """What prepare_pod needs (a plain class: a dataclass costs a millisecond to define,
    and this module is on the path of every ``rkt run``)."""

    def __init__(self, data_dir: str, stage1_key: str, use_overlay: bool = True,
                 private_users: str = "", request: object = None, pod_manifest: str = "",
                 uuid_file_save: str = "", warn: object = None):
        self.data_dir = data_dir
        self.stage1_key = stage1_key
        self.use_overlay = use_overlay
        self.private_users = private_users  # "shift:count"
        self.request = request  # rktfast.pod.manifest.PodRequest, or None with pod_manifest
        self.pod_manifest = pod_manifest
        self.uuid_file_save = uuid_file_save
        self.warn = warn

    def __repr__(self) -> str:
        return f"PrepareConfig({self.__dict__!r})"


def overlay_supported() -> str | None:
    """None if overlayfs can be used, else the reason rkt prints."""
    try:
        with open("/proc/filesystems") as f:
            if any(line.split()[-1:] == ["overlay"] for line in f):
                return None
    except OSError as e:
        return str(e)
    return "overlay entry not present in /proc/filesystems"


def random_uid_range(count: int = 65536) -> str:
    """A random ``shift:count`` for --private-users (a multiple of 65536, like rkt)."""
    n = int.from_bytes(os.urandom(2), "little") % 0x7FFE + 1
    return f"{n * 65536}:{count}"


def prepare_pod(cfg: PrepareConfig, store, trees) -> pods.Pod:
    """Create and prepare a pod; returned in state preparing, still exclusively locked.

    On failure the pod stays behind as an aborted prepare (as in rkt), for gc to collect.
    """
    from rktfast.pod import manifest as pm_mod
    from rktfast.store.locks import prepare_lock

    pod = pods.new_pod(cfg.data_dir)
    if cfg.uuid_file_save:
        try:
            pods.write_uuid_file(cfg.uuid_file_save, pod.uuid)
        except OSError as e:
            pod.close()
            raise PodError("error saving pod UUID to file", e) from e
    shift = int(cfg.private_users.split(":")[0]) if cfg.private_users else 0
    if shift and cfg.use_overlay:
        pod.close()
        raise PodError("error setting up stage0", PodError(
            "cannot use both overlay and user namespace: not implemented yet. (Try --no-overlay)"))
    lock = prepare_lock(cfg.data_dir).shared()
    try:
        d = pod.path
        os.makedirs(os.path.join(d, "appsinfo"), mode=0o750, exist_ok=True)
        podfs.prepare_stage1(d, store, trees, cfg.stage1_key, cfg.use_overlay, shift)
        if cfg.pod_manifest:
            raw, doc = pm_mod.read_user_manifest(cfg.pod_manifest)
            has_apps = _has_apps(raw)
            for ra in doc.get("apps") or []:
                ral = {k.lower(): v for k, v in ra.items()}
                img = {k.lower(): v for k, v in (ral.get("image") or {}).items()}
                key = store.resolve_key(img["id"])
                manifest = pm_mod.load_image_manifest(store, key)
                _check_os_arch(manifest)
                podfs.prepare_app(d, store, trees, ral["name"], key, cfg.use_overlay, shift)
                if ral.get("app") is None and pm_mod._get(manifest, "app") is None:
                    raise PodError("no app section in the pod manifest or the image manifest")
        else:
            req = cfg.request
            manifests, names = {}, []
            for app in req.apps:
                manifest = manifests.get(app.key)
                if manifest is None:
                    manifest = manifests[app.key] = pm_mod.load_image_manifest(store, app.key)
                name = pm_mod.app_name_for(app, manifest)
                _check_os_arch(manifest)
                podfs.prepare_app(d, store, trees, name, app.key, cfg.use_overlay, shift)
                if name in names:
                    raise PodError(f"error: multiple apps with name {name}")
                names.append(name)
            raw = pm_mod.encode(pm_mod.generate(req, manifests, names))
            has_apps = bool(names)  # what we generated: no need to parse it back
        if not has_apps:
            raise PodError("pod must contain at least one application")
        podfs._write(os.path.join(d, "pod.lck"), b"", 0o600)
        podfs._write(os.path.join(d, "pod"), raw, 0o640)
        podfs._write(os.path.join(d, "pod-created"), b"", 0o640)
        if cfg.use_overlay:
            podfs._write(os.path.join(d, "overlay-prepared"), b"", 0o640)
        if shift:
            podfs._write(os.path.join(d, "private-users-prepared"), cfg.private_users, 0o640)
    except PodError as e:
        pod.close()
        raise PodError("error setting up stage0", e) from e
    except Exception as e:
        pod.close()
        raise PodError("error setting up stage0", e) from e
    finally:
        lock.close()
    return pod


def _has_apps(raw: bytes) -> bool:
    doc = fastjson.loads(raw)
    low = {k.lower(): v for k, v in doc.items()}
    return bool(low.get("apps"))


def _check_os_arch(manifest) -> None:
    from rktfast.pod.manifest import _get

    labels = {(_get(lb, "name")): _get(lb, "value") for lb in (_get(manifest, "labels") or [])}
    if "os" not in labels:
        raise PodError("missing os label in the image manifest")
    if "arch" not in labels:
        raise PodError("missing arch label in the image manifest")
    from rktfast.appc.types import check_valid_os_arch

    try:
        check_valid_os_arch(labels, {"linux": ("amd64", "i386", "aarch64", "aarch64_be",
                                               "armv6l", "armv7l", "armv7b", "ppc64le")})
    except ValueError as e:
        raise PodError(str(e)) from e


class LaunchConfig:
    def __init__(self, use_overlay: bool, run: object, resolv: dict | None = None,
                 hosts: list | None = None, mds_register: bool = False,
                 local_config: str = "/etc/rkt", data_dir: str = "/var/lib/rkt"):
        self.use_overlay = use_overlay
        self.run = run  # rktfast.stage1.launch.RunOptions
        self.resolv = {} if resolv is None else resolv  # nameservers/search/options/domain
        self.hosts = [] if hosts is None else hosts
        self.mds_register = mds_register
        self.local_config = local_config
        self.data_dir = data_dir

    def __repr__(self) -> str:
        return f"LaunchConfig({self.__dict__!r})"


def podnet_native(pod_dir: str) -> bool:
    from rktfast.net.podnet import is_native_stage1

    return is_native_stage1(pod_dir)


def register_with_mds(pod: pods.Pod) -> str:
    """Register the pod and its apps with the metadata service; returns the token."""
    from rktfast.mds.client import register_pod

    token = os.urandom(16).hex()
    apps = {}
    for name in pod.app_names():
        with open(os.path.join(pod.path, "appsinfo", name, "manifest"), "rb") as f:
            apps[name] = f.read()
    try:
        register_pod(pod.uuid, token, pod.manifest_bytes(), apps)
    except Exception as e:
        raise PodError("failed to register the pod", e) from e
    podfs._write(os.path.join(pod.path, "mds-registered"), b"", 0o640)
    return token


def launch(pod: pods.Pod, trees, cfg: LaunchConfig, close_before_exec=()) -> None:
    """Mount, write DNS files and exec the stage1 ``run`` entrypoint (does not return)."""
    from rktfast.stage1 import launch as l1

    d = pod.path
    try:
        private = pod.read_text("private-users-prepared").strip()
    except OSError:
        private = ""
    cfg.run.private_users = private
    try:
        podfs.setup_stage1(d, trees, cfg.use_overlay)
        for name in pod.app_names():
            podfs.setup_app(d, trees, name, cfg.use_overlay)
    except PodError as e:
        raise PodError("error setting up stage1", e) from e
    except OSError as e:
        raise PodError("error setting up stage1", e) from e
    net = cfg.run.net
    if net.split(":")[0] not in ("host", "none") and podnet_native(d):
        from rktfast.net import podnet

        infos = podnet.setup_for_pod(d, pod.uuid, net, fastjson.loads(pod.manifest_bytes()),
                                     cfg.local_config, cfg.data_dir)
        dns = podnet.cni_dns(infos)
        if dns and cfg.run.dns_resolv == "default":
            cfg.run.dns_resolv, cfg.resolv = "stage0", dns
    if cfg.run.dns_resolv == "stage0":
        podfs.write_resolv_conf(d, cfg.resolv.get("nameservers", []),
                                cfg.resolv.get("search", []), cfg.resolv.get("options", []),
                                cfg.resolv.get("domain", ""))
    if cfg.run.dns_hosts == "stage0":
        podfs.write_hosts(d, cfg.hosts)
    if cfg.mds_register:
        cfg.run.mds_token = register_with_mds(pod)
    args = l1.run_args(d, pod.uuid, cfg.run)
    for c in close_before_exec:
        try:
            c()
        except Exception:
            pass
    l1.exec_run(d, args, pod.lock_fd_for_stage1(), cfg.run.extra_env)
