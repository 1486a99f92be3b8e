#!/usr/bin/env python3
"""Pod start: the native stage1 vs crun, runc and systemd-nspawn.

Each tool starts /bin/true in a busybox rootfs and we time, from the parent's
point of view, exec to exit (median of N runs, peers interleaved so that
machine noise hits all of them alike):

- stage1:  <pod>/stage1/rootfs/init --net=host <uuid>  on a pod dir built by
           tests/stage1_pods.py (pid/mnt/uts/ipc/cgroup namespaces, pivot_root,
           /proc /sys /dev, cgroups on every hierarchy, caps, seccomp)
- stage1 --net=none (adds a network namespace)
- crun run / runc run:  OCI bundle on the same rootfs, same namespaces
- systemd-nspawn -D rootfs --register=no

Prints the medians and the ratios stage1 / peer (below 1 = faster).  Also
prints the idle RSS of a running pod's stage1 processes (outer init + PID 1).

    python benchmarks/bench_pod_start.py [-n 30]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from stage1_pods import PodFactory, app  # noqa: E402


def oci_config(rootfs: str, net: bool) -> dict:
    ns = [{"type": t} for t in ("pid", "mount", "uts", "ipc", "cgroup")]
    if net:
        ns.append({"type": "network"})
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
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


def hide_unified_cgroup() -> None:
    """preexec_fn: private mount namespace without the cgroup2 mount."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        raise OSError(ctypes.get_errno(), "unshare")
    libc.mount(None, b"/", None, 0x4000 | 0x40000, None)  # MS_REC | MS_PRIVATE
    libc.umount2(b"/sys/fs/cgroup/unified", 2)  # MNT_DETACH


def timed(argv: list[str], **kw) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    el = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return el


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30, help="runs per tool")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="bench-pod-")
    pods = PodFactory(base)
    try:
        bundle = os.path.join(base, "bundle")
        pods.busybox_rootfs(os.path.join(bundle, "rootfs"))
        for d in ("proc", "sys", "dev"):
            os.makedirs(os.path.join(bundle, "rootfs", d), exist_ok=True)
        open(os.path.join(bundle, "rootfs", "etc", "os-release"), "w").close()  # for nspawn
        bundle_net = os.path.join(base, "bundle-net")
        os.makedirs(bundle_net)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(oci_config(os.path.join(bundle, "rootfs"), False), f)
        with open(os.path.join(bundle_net, "config.json"), "w") as f:
            json.dump(oci_config(os.path.join(bundle, "rootfs"), True), f)

        peers = {}
        if shutil.which("crun"):
            crun_kw: dict = {}
            probe = subprocess.run(["crun", "run", "-b", bundle, "bench-crun-probe"],
                                   capture_output=True, text=True)
            if "hybrid mode not supported" in probe.stderr:
                # crun refuses a cgroup2 mount with controllers beside v1: hide it from crun
                crun_kw["preexec_fn"] = hide_unified_cgroup
                print("note: crun runs with /sys/fs/cgroup/unified unmounted in a private mount "
                      "namespace (it refuses hybrid cgroups); it still uses the v1 hierarchies")
            peers["crun"] = lambda i: timed(["crun", "run", "-b", bundle, f"bench-crun-{i}"],
                                            **crun_kw)
        if shutil.which("runc"):
            peers["runc"] = lambda i: timed(["runc", "run", "-b", bundle, f"bench-runc-{i}"])
        if shutil.which("systemd-nspawn"):
            peers["systemd-nspawn"] = lambda i: timed(
                ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", os.path.join(bundle, "rootfs"),
                 "/bin/true"])

        def stage1(net: str):
            def run(i: int) -> float:
                pod = pods.new([app("bench", ["/bin/true"])])
                lock = pod._lock()
                try:
                    return timed([pod.entrypoint("init"), f"--net={net}", pod.uuid], cwd=pod.path,
                                 env=dict(os.environ, RKT_LOCK_FD=str(lock)), pass_fds=[lock])
                finally:
                    os.close(lock)
                    shutil.rmtree(pod.path, ignore_errors=True)
            return run

        tools = {"stage1 --net=host": stage1("host"), "stage1 --net=none": stage1("none"), **peers}
        times: dict[str, list[float]] = {k: [] for k in tools}
        for fn in tools.values():  # warm up page cache and binaries
            fn(-1)
        for i in range(args.n):
            for name, fn in tools.items():
                times[name].append(fn(i))
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"pod start, /bin/true in busybox, median of {args.n} runs:")
        for k, v in med.items():
            print(f"  {k:20s} {v:7.2f} ms")
        ours = med["stage1 --net=host"]
        for k in peers:
            print(f"  ratio stage1 / {k:15s} {ours / med[k]:5.2f}")
        print(f"  ratio stage1(none) / crun     {med['stage1 --net=none'] / med.get('crun', 1):5.2f}"
              if "crun" in med else "")

        # idle overhead: RSS of the outer init and the pod's PID 1
        pod = pods.new([app("idle", ["/bin/sleep", "30"])])
        p = pod.start()
        pid1 = pod.pod_pid1()
        time.sleep(0.3)
        rss = pss = 0
        for pid in (p.pid, pid1):
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        print(f"idle pod overhead (outer init + pod PID 1): {rss} KiB RSS, {pss} KiB PSS")
        pod.stop()
        p.wait(timeout=30)
    finally:
        pods.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
