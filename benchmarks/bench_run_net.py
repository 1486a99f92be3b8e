#!/usr/bin/env python3
"""What a CNI network costs a pod start: ``rkt run --net=default`` vs ``--net=host`` and
``--net=none``, and the CNI setup + teardown alone.

1. Whole command, as a user waits for it (image already in the store):
       rkt run --net=default|host|none IMAGE --exec /bin/true
   interleaved (one of each per round, N rounds) so machine noise hits them alike; exited
   pods are garbage-collected between rounds, outside the timings. Prints medians and the
   ratios default / host and default / none.
2. ``rktfast.net.podnet.setup`` + ``teardown`` of the default network (ptp + host-local +
   masquerade) on a bare pod directory, in process: medians of setup, teardown and both,
   and where the time goes: every program they exec (CNI plugins, iptables, unshare, umount)
   is timed and summed per program (per setup+teardown cycle).

    python benchmarks/bench_run_net.py [-n 20] [--rkt "CMD"]

``--rkt`` is the rkt command line (default: $RKT, else ``rkt`` beside this Python, else
``<python> -m rktfast``). Needs root and Debian's containernetworking-plugins.
"""

from __future__ import annotations

import argparse
import collections
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "examples"))
from _pods import default_rkt  # noqa: E402


def build_image(base: str) -> str:
    from build_busybox_aci import make_rootfs

    from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest

    rootfs = os.path.join(base, "rootfs")
    os.makedirs(rootfs)
    make_rootfs(rootfs, "/bin/busybox")
    return build_aci_from_dir(rootfs, image_manifest("example.com/busybox", "1.35.0",
                                                     ["/bin/true"]),
                              os.path.join(base, "busybox.aci"), compression="none")


def bench_run(rkt: list[str], base: str, n: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=REPO)
    glob = [f"--dir={base}/data", f"--local-config={base}/etc", f"--system-config={base}/usr"]
    image = build_image(base)
    subprocess.run(rkt + glob + ["--insecure-options=image", "fetch", image], env=env,
                   check=True, capture_output=True)

    def run(net: str) -> float:
        argv = rkt + glob + ["--insecure-options=image", "run", f"--net={net}", image,
                             "--exec", "/bin/true"]
        start = time.perf_counter()
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
        took = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"rkt run --net={net} failed: {r.stderr}")
        return took

    def gc() -> None:
        for _ in range(2):
            subprocess.run(rkt + glob + ["gc", "--grace-period=0s"], env=env,
                           capture_output=True)

    nets = ["default", "host", "none"]
    times: dict[str, list[float]] = {k: [] for k in nets}
    for net in nets:  # warm-up
        run(net)
    gc()
    for _ in range(n):
        for net in nets:
            times[net].append(run(net))
        gc()
    return times


class ExecTimer:
    """Wraps subprocess.run to sum the wall time of every program by its name."""

    def __init__(self):
        self.total: dict[str, float] = collections.defaultdict(float)
        self.count: dict[str, int] = collections.defaultdict(int)
        self._real = subprocess.run

    def __enter__(self):
        def timed_run(argv, *a, **kw):
            start = time.perf_counter()
            try:
                return self._real(argv, *a, **kw)
            finally:
                name = os.path.basename(argv[0] if isinstance(argv, (list, tuple)) else argv)
                self.total[name] += time.perf_counter() - start
                self.count[name] += 1
        subprocess.run = timed_run
        return self

    def __exit__(self, *exc):
        subprocess.run = self._real


def bench_cni(base: str, n: int) -> tuple[dict[str, list[float]], ExecTimer]:
    from rktfast.net import podnet
    from rktfast.net.netconf import NetRequest, load_networks

    local = os.path.join(base, "etc")
    times: dict[str, list[float]] = {"setup": [], "teardown": [], "both": []}
    timer = ExecTimer()

    def cycle(record: bool) -> None:
        pod = os.path.join(base, "pod-" + uuidlib.uuid4().hex[:8])
        rootfs = os.path.join(pod, "stage1", "rootfs")
        os.makedirs(rootfs)
        uuid = str(uuidlib.uuid4())
        nets = load_networks([NetRequest("default")], rootfs, local)
        t0 = time.perf_counter()
        podnet.setup(pod, uuid, nets, rootfs, local, base)
        t1 = time.perf_counter()
        podnet.teardown(pod, uuid, rootfs, local)
        t2 = time.perf_counter()
        shutil.rmtree(pod)
        if record:
            times["setup"].append(t1 - t0)
            times["teardown"].append(t2 - t1)
            times["both"].append(t2 - t0)

    cycle(False)
    with timer:
        for _ in range(n):
            cycle(True)
    return times, timer


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20, help="rounds")
    ap.add_argument("--rkt", default="", help="rkt command line")
    args = ap.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/ptp"):
        print("needs root and /usr/lib/cni (containernetworking-plugins)", file=sys.stderr)
        return 1
    rkt = shlex.split(args.rkt) if args.rkt else default_rkt()
    base = tempfile.mkdtemp(prefix="bench-run-net-")
    try:
        times = bench_run(rkt, base, args.n)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"rkt run IMAGE --exec /bin/true, median of {args.n} interleaved rounds:")
        for k, v in med.items():
            print(f"  --net={k:8s} {v:8.1f} ms")
        print(f"  ratio default / host  {med['default'] / med['host']:5.2f}  "
              f"(+{med['default'] - med['host']:.1f} ms)")
        print(f"  ratio default / none  {med['default'] / med['none']:5.2f}  "
              f"(+{med['default'] - med['none']:.1f} ms)")

        ctimes, timer = bench_cni(base, args.n)
        cmed = {k: statistics.median(v) * 1000 for k, v in ctimes.items()}
        print(f"CNI default network alone (podnet.setup + teardown), median of {args.n}:")
        for k, v in cmed.items():
            print(f"  {k:9s} {v:8.1f} ms")
        print("  where the time goes, per setup+teardown cycle (execs from stage0):")
        for name, total in sorted(timer.total.items(), key=lambda kv: -kv[1]):
            print(f"    {name:10s} {timer.count[name] / args.n:4.1f} x  "
                  f"{total / args.n * 1000:7.1f} ms")
        inproc = cmed["both"] - sum(timer.total.values()) / args.n * 1000
        print(f"    {'(python)':10s}         {inproc:7.1f} ms")
    finally:
        subprocess.run(rkt + [f"--dir={base}/data", "gc", "--grace-period=0s"],
                       capture_output=True, env=dict(os.environ, PYTHONPATH=REPO))
        subprocess.run(["umount", "-R", "-l", base], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
