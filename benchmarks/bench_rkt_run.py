#!/usr/bin/env python3
"""Whole-command pod start: ``rkt run`` vs ``crun run``, ``runc run`` and systemd-nspawn.

Everything a user waits for is timed, from the parent's point of view: for rkt the Python
stage0 (flags, store lookups, pod creation, overlay mounts) and the native stage1 it execs;
for the peers their own CLI on an OCI bundle made of the *same rootfs* as the image.

- ``rkt run --net=host IMAGE --exec /bin/true``   (image already fetched)
- ``rkt run --net=none …``                        (adds a network namespace)
- the same ``--net=host`` run of a ~1 GB image     (many small files and large ones: the
  overlay makes start cost independent of image size; target within 10 % of the small one)
- ``rkt run-prepared --net=host UUID``              (a pod prepared just before, untimed)
- ``rkt version``                                  (the Python floor, for reference)
- ``rkt-python run --net=host …``                  (when the rkt under test is the native
  front end, native/stage0: the same run through the Python stage0 it hands other command
  lines to)
- with ``--compare CMD``: another rkt's ``run --net=host`` in the same rounds (before/after)
- ``crun run`` / ``runc run`` / ``systemd-nspawn`` on the small image's rootfs

Runs are interleaved (one of each tool per round, N rounds, the order rotated every round)
so machine noise and what one run leaves for the next hit them alike; medians, fastest runs
and ratios (the median over the rounds of rkt time ÷ peer time in that round; below 1 is
faster) are printed. Exited pods are garbage-collected between rounds, outside the
timings. Last, the memory of an idle pod outside its app: VmRSS and Pss of the processes
that live as long as the pod (the stage1's outer init, which is the ``rkt run`` process
itself after the exec, and the pod's PID 1).

    python benchmarks/bench_rkt_run.py [-n 20] [--big-mb 1024] [--rkt "CMD"] [--keep DIR]

``--keep /dev/shm/DIR`` puts the store and the pods on a tmpfs, where crun and runc keep
their state: the engines without the disk. Each run prints how long one mkdir takes beside the
pods (in pods/run), before and after the rounds, to tell a slow-disk phase of the host apart.

``--rkt`` is the rkt command line (default: $RKT, else ``rkt`` beside this Python, else
``<python> -m rktfast``). Needs root. Targets (DESIGN.md): faster than runc, within
2 × crun, 1 GB within 10 % of busybox, idle overhead ≤ 2 MiB.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "examples"))
from _pods import default_rkt, idle_memory, make_bundle, metadata_latency, timed  # noqa: E402
from _pods import peers as make_peers  # noqa: E402


def build_images(base: str, big_mb: int) -> tuple[str, str, str]:
    """(busybox.aci, big.aci, small rootfs dir) — uncompressed ACIs built in ``base``."""
    from build_busybox_aci import make_rootfs

    try:
        from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest
    except ImportError:
        sys.path.insert(0, REPO)
        from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest

    small_root = os.path.join(base, "rootfs-small")
    make_rootfs(small_root, "/bin/busybox")
    small = os.path.join(base, "busybox.aci")
    build_aci_from_dir(small_root, image_manifest("example.com/busybox", "1.35.0", ["/bin/sh"]),
                       small, compression="none")

    big_root = os.path.join(base, "rootfs-big")
    make_rootfs(big_root, "/bin/busybox")
    # about 3/4 of the size in 8 MiB files, the rest in 20k files of 8-24 KiB in 200 dirs
    block = os.urandom(1 << 20)
    large = (big_mb * 3 // 4) // 8
    os.makedirs(os.path.join(big_root, "data", "large"))
    for i in range(large):
        with open(os.path.join(big_root, "data", "large", f"blob{i:04d}"), "wb") as f:
            for j in range(8):
                f.write(block[j:] + block[:j])
    small_bytes = (big_mb << 20) - large * (8 << 20)
    n_small = 20000
    per = max(1, small_bytes // n_small)
    for d in range(200):
        sub = os.path.join(big_root, "data", "small", f"d{d:03d}")
        os.makedirs(sub)
        for k in range(n_small // 200):
            with open(os.path.join(sub, f"f{k:03d}"), "wb") as f:
                f.write(block[(d * 131 + k) % 4096:][:per])
    big = os.path.join(base, "big.aci")
    build_aci_from_dir(big_root, image_manifest("example.com/big", "1.0.0", ["/bin/sh"]), big,
                       compression="none")
    shutil.rmtree(big_root)
    return small, big, small_root


def python_stage0(rkt_cmd: list[str]) -> str:
    """The Python rkt beside a native front end (scripts/launchers.sh installs both)."""
    if len(rkt_cmd) != 1:
        return ""
    exe = shutil.which(rkt_cmd[0]) or rkt_cmd[0]
    with open(exe, "rb") as f:
        native = f.read(4) == b"\x7fELF"
    beside = os.path.join(os.path.dirname(os.path.realpath(exe)), "rkt-python")
    return beside if native and os.path.exists(beside) else ""


class Rkt:
    def __init__(self, cmd: list[str], base: str):
        self.cmd = cmd
        self.data = os.path.join(base, "rkt-data")
        self.base = base

    def argv(self, *args: str) -> list[str]:
        return [*self.cmd, f"--dir={self.data}", f"--local-config={self.base}/etc",
                f"--system-config={self.base}/usr-lib", *args]

    def ok(self, *args: str, **kw) -> subprocess.CompletedProcess:
        r = subprocess.run(self.argv(*args), capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, **kw)
        if r.returncode != 0:
            raise RuntimeError(f"rkt {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def run(self, image: str, net: str):
        argv = self.argv("--insecure-options=image", "run", f"--net={net}", image, "--exec",
                         "/bin/true")
        return lambda i: timed(argv)

    def run_prepared(self, image: str):
        """``rkt run-prepared --net=host`` of a pod prepared (untimed) just before: the
        start step of schedulers such as Nomad."""
        def start(i: int) -> float:
            uuid = self.ok("--insecure-options=image", "prepare", "--quiet", image, "--exec",
                           "/bin/true").stdout.strip()
            return timed(self.argv("run-prepared", "--net=host", uuid))
        return start

    def gc(self) -> None:
        for _ in range(2):
            subprocess.run(self.argv("gc", "--grace-period=0s"), capture_output=True,
                           stdin=subprocess.DEVNULL)


def idle_pod(rkt: Rkt) -> tuple[int, int, int, int]:
    """Start a pod running sleep; (rss, pss) of the outer init + pod PID 1, and of the app."""
    proc = subprocess.Popen(rkt.argv("--insecure-options=image", "run", "--net=host",
                                     "example.com/busybox", "--exec", "/bin/sleep", "--", "60"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        pid1 = app = None
        for _ in range(400):
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                with open(f"/proc/{proc.pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                kids, comm = [], ""
            if comm == "init" and len(kids) == 1:
                with open(f"/proc/{kids[0]}/task/{kids[0]}/children") as f:
                    apps = [int(x) for x in f.read().split()]
                if apps:
                    with open(f"/proc/{apps[0]}/comm") as f:
                        if f.read().strip() == "sleep":
                            pid1, app = kids[0], apps[0]
                            break
            time.sleep(0.05)
        if pid1 is None:
            raise RuntimeError("the idle pod did not start")
        time.sleep(0.3)
        rss, pss = idle_memory([proc.pid, pid1])
        arss, apss = idle_memory([app])
        return rss, pss, arss, apss
    finally:
        proc.terminate()  # the stage1 stops the pod on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="rounds (one run of each tool per round)")
    ap.add_argument("--big-mb", type=int, default=1024, help="size of the big image in MiB")
    ap.add_argument("--rkt", default="", help="rkt command line (default: see --help)")
    ap.add_argument("--compare", default="", help="another rkt command line (e.g. an older "
                    "install) whose `run --net=host` is timed in the same rounds, same store")
    ap.add_argument("--keep", default="", help="work in this dir and keep it (images are "
                    "reused from it on the next run)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    rkt_cmd = shlex.split(args.rkt) if args.rkt else default_rkt()
    base = args.keep or tempfile.mkdtemp(prefix="bench-rkt-run-", dir="/var/tmp")
    os.makedirs(base, exist_ok=True)
    rkt = Rkt(rkt_cmd, base)
    try:
        small, big = os.path.join(base, "busybox.aci"), os.path.join(base, "big.aci")
        small_root = os.path.join(base, "rootfs-small")
        if not (os.path.exists(small) and os.path.exists(big) and os.path.isdir(small_root)):
            t = time.perf_counter()
            small, big, small_root = build_images(base, args.big_mb)
            print(f"built the images in {time.perf_counter() - t:.1f} s "
                  f"(big: {os.path.getsize(big) / 2**20:.0f} MiB)")
        t = time.perf_counter()
        rkt.ok("--insecure-options=image", "fetch", small)
        rkt.ok("--insecure-options=image", "fetch", big)
        print(f"fetched both images in {time.perf_counter() - t:.1f} s")
        print(f"rkt: {shlex.join(rkt_cmd)}")
        if args.compare:
            print(f"other rkt: {args.compare}")

        bundle, _ = make_bundle(base, small_root)
        peers = make_peers(bundle, small_root)
        version = rkt.argv("version")
        python_rkt = python_stage0(rkt_cmd)
        tools = {
            "rkt run --net=host": rkt.run("example.com/busybox", "host"),
            "rkt run --net=none": rkt.run("example.com/busybox", "none"),
            "rkt run --net=host (1 GB)": rkt.run("example.com/big", "host"),
            "rkt run-prepared --net=host": rkt.run_prepared("example.com/busybox"),
            "rkt version": lambda i: timed(version),
            **({"other rkt run --net=host": Rkt(shlex.split(args.compare), base).run(
                "example.com/busybox", "host")} if args.compare else {}),
            **({"rkt-python run --net=host": Rkt([python_rkt], base).run(
                "example.com/busybox", "host")} if python_rkt else {}),
            **peers,
        }
        for fn in tools.values():  # warm up: page cache, first-run renders, stage1 import
            fn(-1)
        rkt.gc()
        pods_dir = os.path.join(rkt.data, "pods", "run")  # where each pod's files go
        md_before = metadata_latency(pods_dir)
        times: dict[str, list[float]] = {k: [] for k in tools}
        names = list(tools)
        for i in range(args.n):
            # rotate the order: a run pays for what the previous one left behind (dirty
            # pages, a cgroup cleaner still running), so no tool may always go first
            for name in names[i % len(names):] + names[:i % len(names)]:
                times[name].append(tools[name](i))
            rkt.gc()
        md_after = metadata_latency(pods_dir)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        best = {k: min(v) * 1000 for k, v in times.items()}
        print(f"\nwhole-command pod start, /bin/true, median (and fastest) of {args.n} "
              "interleaved rounds:")
        for k, v in med.items():
            print(f"  {k:28s} {v:8.1f} ms  ({best[k]:6.1f})")
        def ratio(a: str, b: str) -> float:
            """Median over the rounds of a's time / b's time in the same round: both ran
            seconds apart, so a slow phase of the host weighs on both sides of each ratio."""
            return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

        host, none = "rkt run --net=host", "rkt run --net=none"
        print("ratios (rkt ÷ peer, median of the per-round ratios; below 1 = faster):")
        for k in peers:
            print(f"  rkt run --net=host / {k:15s} {ratio(host, k):5.2f}   "
                  f"--net=none / {k:15s} {ratio(none, k):5.2f}")
        # each tool's fastest run: the least interference from a noisy host
        for k in peers:
            print(f"  fastest runs: rkt run --net=host / {k:15s} "
                  f"{best[host] / best[k]:5.2f}")
        bigr = ratio("rkt run --net=host (1 GB)", host)
        print(f"  1 GB image / busybox image             {bigr:5.2f}  (target ≤ 1.10)")
        if "runc" in med:
            print(f"  target faster than runc: {'yes' if ratio(host, 'runc') < 1 else 'no'}")
        if "crun" in med:
            print(f"  target within 2 × crun:  {'yes' if ratio(host, 'crun') <= 2 else 'no'}")
        print(f"  one mkdir beside the pods ({pods_dir}): {md_before * 1e3:.3f} ms before "
              f"the rounds, {md_after * 1e3:.3f} ms after (a pod start makes ~40 such "
              "metadata writes; crun and runc keep their state on a tmpfs)")

        rss, pss, arss, apss = idle_pod(rkt)
        print(f"\nidle pod, outside its app (stage1 outer init + pod PID 1): "
              f"VmRSS {rss} KiB ({rss / 1024:.2f} MiB), Pss {pss} KiB (target ≤ 2 MiB)")
        print(f"  (the app itself, busybox sleep: VmRSS {arss} KiB, Pss {apss} KiB)")
        rkt.gc()
    finally:
        if not args.keep:
            rkt.gc()
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
