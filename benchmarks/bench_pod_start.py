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

    python benchmarks/bench_pod_start.py [-n 30] [--compare OTHER_INIT]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from stage1_pods import PodFactory, app  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pods import idle_memory, make_bundle, timed  # noqa: E402
from _pods import peers as make_peers  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30, help="runs per tool")
    ap.add_argument("--compare", metavar="INIT",
                    help="another stage1 init binary (e.g. a build of the previous commit), "
                         "run in the same rounds: before/after on equal noise")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="bench-pod-")
    pods = PodFactory(base)
    try:
        rootfs = os.path.join(base, "rootfs")
        pods.busybox_rootfs(rootfs)
        bundle, _ = make_bundle(base, rootfs)
        peers = make_peers(bundle, rootfs)

        def stage1(net: str, init: str | None = None):
            def run(i: int) -> float:
                pod = pods.new([app("bench", ["/bin/true"])])
                if init:
                    shutil.copy2(init, pod.entrypoint("init"))
                lock = pod._lock()
                try:
                    return timed([pod.entrypoint("init"), f"--net={net}", pod.uuid], cwd=pod.path,
                                 env=dict(os.environ, RKT_LOCK_FD=str(lock)), pass_fds=[lock])
                finally:
                    os.close(lock)
                    shutil.rmtree(pod.path, ignore_errors=True)
            return run

        tools = {"stage1 --net=host": stage1("host"), "stage1 --net=none": stage1("none")}
        if args.compare:
            tools["compared --net=host"] = stage1("host", args.compare)
        tools.update(peers)
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
        if args.compare:
            print(f"  ratio stage1 / compared       {ours / med['compared --net=host']:5.2f}")

        # idle overhead: RSS of the outer init and the pod's PID 1
        pod = pods.new([app("idle", ["/bin/sleep", "30"])])
        p = pod.start()
        pid1 = pod.pod_pid1()
        time.sleep(0.3)
        rss, pss = idle_memory([p.pid, pid1])
        print(f"idle pod overhead (outer init + pod PID 1): {rss} KiB RSS, {pss} KiB PSS")
        pod.stop()
        p.wait(timeout=30)
    finally:
        pods.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
