"""Call the stage1's entrypoints (SPEC §5): ``run`` and ``enter`` by execve in place, ``gc``
and ``stop`` as children. The entrypoints are named by annotations of the stage1 manifest
the pod keeps in ``stage1/manifest``.
"""

from __future__ import annotations

import os
import sys

from rktfast import fastjson
from rktfast.errors import PodError

RUN = "coreos.com/rkt/stage1/run"
ENTER = "coreos.com/rkt/stage1/enter"
GC = "coreos.com/rkt/stage1/gc"
STOP = "coreos.com/rkt/stage1/stop"
INTERFACE_VERSION = "coreos.com/rkt/stage1/interface-version"


def stage1_annotations(pod_dir: str) -> dict[str, str]:
    try:
        with open(os.path.join(pod_dir, "stage1", "manifest"), "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError) as e:
        raise PodError("error reading the stage1 manifest", e) from e
    low = {k.lower(): v for k, v in doc.items()} if isinstance(doc, dict) else {}
    out = {}
    for a in low.get("annotations") or []:
        if isinstance(a, dict):
            al = {k.lower(): v for k, v in a.items()}
            out[str(al.get("name"))] = str(al.get("value", ""))
    return out


def entrypoint(pod_dir: str, name: str, annotations: dict | None = None) -> str:
    ann = stage1_annotations(pod_dir) if annotations is None else annotations
    ep = ann.get(name)
    if not ep:
        raise PodError(f'entrypoint "{name}" not found')
    return ep


def interface_version(annotations: dict) -> int:
    v = annotations.get(INTERFACE_VERSION)
    if v is None:
        return 1
    try:
        return int(v)
    except ValueError:
        raise PodError(f"error determining stage1 interface version: invalid value {v!r}") \
            from None


class RunOptions:
    """The options stage0 passes to the stage1 ``run`` entrypoint (a plain class, not a
    dataclass: this module is imported by every ``rkt run``)."""

    def __init__(self, net: str = "default", debug: bool = False, interactive: bool = False,
                 private_users: str = "", mds_token: str = "", local_config: str = "",
                 hostname: str = "", dns_resolv: str = "default", dns_hosts: str = "default",
                 insecure_capabilities: bool = False, insecure_paths: bool = False,
                 insecure_seccomp: bool = False, mutable: bool = False, ipc: str = "",
                 warn: object = None, extra_env: dict | None = None):
        self.net = net
        self.debug = debug
        self.interactive = interactive
        self.private_users = private_users
        self.mds_token = mds_token
        self.local_config = local_config
        self.hostname = hostname
        self.dns_resolv = dns_resolv
        self.dns_hosts = dns_hosts
        self.insecure_capabilities = insecure_capabilities
        self.insecure_paths = insecure_paths
        self.insecure_seccomp = insecure_seccomp
        self.mutable = mutable
        self.ipc = ipc
        self.warn = warn  # callable(line) for stage0's warnings
        self.extra_env = {} if extra_env is None else extra_env

    def __repr__(self) -> str:
        return f"RunOptions({self.__dict__!r})"


def run_args(pod_dir: str, uuid: str, o: RunOptions) -> list[str]:
    """argv for the stage1 ``run`` entrypoint, options above its interface version dropped."""
    ann = stage1_annotations(pod_dir)
    ep = entrypoint(pod_dir, RUN, ann)
    version = interface_version(ann)
    warn = o.warn or (lambda line: sys.stderr.write(line + "\n"))
    args = [os.path.join(pod_dir, "stage1", "rootfs", ep.lstrip("/"))]
    if o.debug:
        args.append("--debug")
    args.append("--net=" + o.net)
    if o.interactive:
        args.append("--interactive")
    if o.private_users:
        args.append("--private-users=" + o.private_users)
    if o.mds_token:
        args.append("--mds-token=" + o.mds_token)
    if o.local_config:
        args.append("--local-config=" + o.local_config)
    if o.hostname:
        if version >= 2:
            args.append("--hostname=" + o.hostname)
        else:
            warn("warning: --hostname option is not supported by stage1")
    if o.dns_resolv != "default" or o.dns_hosts != "default":
        if version >= 4:
            args.append(f"--dns-conf-mode=resolv={o.dns_resolv},hosts={o.dns_hosts}")
        else:
            warn("warning: --dns-conf-mode option not supported by stage1")
    if version >= 3:
        if o.insecure_capabilities:
            args.append("--disable-capabilities-restriction")
        if o.insecure_paths:
            args.append("--disable-paths")
        if o.insecure_seccomp:
            args.append("--disable-seccomp")
    if o.mutable:
        args.append("--mutable")
    if o.ipc:
        if version >= 6:
            args.append("--ipc=" + o.ipc)
        else:
            warn("warning: --ipc option is not supported by stage1")
    args.append(uuid)
    return args


def exec_run(pod_dir: str, args: list[str], lock_fd: int, extra_env: dict | None = None):
    """chdir into the pod and execve the stage1 in this very process (same PID)."""
    env = dict(os.environ)
    env["RKT_LOCK_FD"] = str(lock_fd)
    env.setdefault("RKT_SELINUX_CONTEXT", "")
    env.setdefault("RKT_SELINUX_MOUNT_CONTEXT", "")
    if extra_env:
        env.update(extra_env)
    os.set_inheritable(lock_fd, True)
    os.chdir(pod_dir)
    _flush()
    try:
        os.execve(args[0], args, env)
    except OSError as e:
        raise PodError("error execing init", e) from e


def exec_enter(pod_dir: str, stage1_rootfs: str, pid: int, app: str, cmd: list[str]):
    ep = entrypoint(pod_dir, ENTER)
    argv = [os.path.join(stage1_rootfs, ep.lstrip("/")), f"--pid={pid}", f"--appname={app}",
            "--", *cmd]
    os.chdir(pod_dir)
    _flush()
    try:
        os.execv(argv[0], argv)
    except OSError as e:
        raise PodError("error execing enter", e) from e


def run_gc(pod_dir: str, uuid: str, debug: bool, local_config: str) -> None:
    """Fork and wait for the stage1 ``gc`` entrypoint (cwd = pod dir, stderr passed through)."""
    import subprocess

    ann = stage1_annotations(pod_dir)
    ep = entrypoint(pod_dir, GC, ann)
    args = [os.path.join(pod_dir, "stage1", "rootfs", ep.lstrip("/"))]
    if debug:
        args.append("--debug")
    if interface_version(ann) >= 5 and local_config:
        args += ["--local-config", local_config]
    args.append(uuid)
    _flush()
    r = subprocess.run(args, cwd=pod_dir, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, close_fds=True)
    if r.returncode != 0:
        raise PodError(f"exit status {r.returncode}")


def run_stop(pod_dir: str, uuid: str, force: bool) -> None:
    import subprocess

    try:
        ep = entrypoint(pod_dir, STOP)
    except PodError as e:
        raise PodError("rkt stop not implemented for pod's stage1", e) from e
    args = [os.path.join(pod_dir, "stage1", "rootfs", ep.lstrip("/"))]
    if force:
        args.append("--force")
    args.append(uuid)
    _flush()
    r = subprocess.run(args, cwd=pod_dir, close_fds=True)
    if r.returncode != 0:
        raise PodError(f"exit status {r.returncode}")


def _flush() -> None:
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
