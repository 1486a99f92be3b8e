"""Shared by the pod-start benchmarks: the OCI peers (crun, runc, systemd-nspawn) set up on
one rootfs, and how each start is timed.

- ``oci_config(rootfs, net)``: an OCI runtime config with the namespaces the native stage1
  makes (pid, mount, uts, ipc, cgroup; network with ``net``), /proc /dev /sys and a few
  masked paths, running ``/bin/true``;
- ``make_bundle(base, rootfs)``: bundle dirs (without and with a network namespace) on the
  given rootfs;
- ``peers(bundle)``: {name: run(i) -> seconds} for each peer installed on this machine;
- ``timed(argv)``: wall time of one run (stdout discarded, stderr kept for errors);
- ``idle_memory(pids)``: (VmRSS KiB, Pss KiB) summed over processes;
- ``metadata_latency(dir)``: mean time of one mkdir in ``dir`` (the filesystem of the pods).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import time


def oci_config(rootfs: str, net: bool, args: list[str] | None = None) -> dict:
    ns = [{"type": t} for t in ("pid", "mount", "uts", "ipc", "cgroup")]
    if net:
        ns.append({"type": "network"})
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
                    "args": args or ["/bin/true"],
                    "env": ["PATH=/bin"], "cwd": "/",
                    "capabilities": {k: ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]
                                     for k in ("bounding", "effective", "permitted")},
                    "noNewPrivileges": True},
        "root": {"path": rootfs, "readonly": False},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {"namespaces": ns,
                  "maskedPaths": ["/proc/kcore", "/proc/sched_debug", "/sys/firmware"],
                  "readonlyPaths": ["/proc/bus", "/proc/sysrq-trigger"]},
    }


def make_bundle(base: str, rootfs: str) -> tuple[str, str]:
    """Two OCI bundles on ``rootfs``: host network and a new network namespace."""
    for d in ("proc", "sys", "dev", "etc"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    release = os.path.join(rootfs, "etc", "os-release")  # systemd-nspawn wants one
    if not os.path.lexists(release):
        open(release, "w").close()
    out = []
    for name, net in (("bundle", False), ("bundle-net", True)):
        b = os.path.join(base, name)
        os.makedirs(b, exist_ok=True)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(oci_config(rootfs, net), f)
        out.append(b)
    return out[0], out[1]


def hide_unified_cgroup() -> None:
    """preexec_fn: private mount namespace without the cgroup2 mount."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        raise OSError(ctypes.get_errno(), "unshare")
    libc.mount(None, b"/", None, 0x4000 | 0x40000, None)  # MS_REC | MS_PRIVATE
    libc.umount2(b"/sys/fs/cgroup/unified", 2)  # MNT_DETACH


def metadata_latency(parent: str, n: int = 50) -> float:
    """Mean seconds per mkdir in a new directory under ``parent``. A pod start creates ~40
    files and directories in the pod dir (rkt's layout), while crun and runc keep their state
    on a tmpfs: on a disk whose metadata writes slow down at times (this VM's ext4 goes from
    ~0.03 to ~0.9 ms per create), that alone moves ``rkt run`` by tens of ms."""
    d = os.path.join(parent, f".mdprobe-{os.getpid()}")
    os.mkdir(d)
    try:
        t = time.perf_counter()
        for i in range(n):
            os.mkdir(os.path.join(d, str(i)))
        return (time.perf_counter() - t) / n
    finally:
        shutil.rmtree(d, ignore_errors=True)


def timed(argv: list[str], **kw) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, **kw)
    el = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return el


def peers(bundle: str, rootfs: str, tag: str = "bench") -> dict:
    """{name: run(i) -> seconds} for crun, runc and systemd-nspawn, when installed."""
    out = {}
    if shutil.which("crun"):
        crun_kw: dict = {}
        probe = subprocess.run(["crun", "run", "-b", bundle, f"{tag}-crun-probe-{os.getpid()}"],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if "hybrid mode not supported" in probe.stderr:
            # crun refuses a cgroup2 mount with controllers beside v1: hide it from crun
            crun_kw["preexec_fn"] = hide_unified_cgroup
            print("note: crun runs with /sys/fs/cgroup/unified unmounted in a private mount "
                  "namespace (it refuses hybrid cgroups); it still uses the v1 hierarchies")
        out["crun"] = lambda i: timed(["crun", "run", "-b", bundle,
                                       f"{tag}-crun-{os.getpid()}-{i}"], **crun_kw)
    if shutil.which("runc"):
        out["runc"] = lambda i: timed(["runc", "run", "-b", bundle,
                                       f"{tag}-runc-{os.getpid()}-{i}"])
    if shutil.which("systemd-nspawn"):
        out["systemd-nspawn"] = lambda i: timed(
            ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", rootfs, "/bin/true"])
    return out


def idle_memory(pids: list[int]) -> tuple[int, int]:
    """(VmRSS, Pss) in KiB, summed over ``pids``."""
    rss = pss = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss, pss


def default_rkt() -> list[str]:
    """The rkt under test: $RKT, else the one beside this Python, else ``python -m``."""
    import shlex

    if os.environ.get("RKT"):
        return shlex.split(os.environ["RKT"])
    beside = os.path.join(os.path.dirname(sys.executable), "rkt")
    if os.path.exists(beside):
        return [beside]
    return [sys.executable, "-m", "rktfast"]
