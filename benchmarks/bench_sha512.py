"""SHA-512 of a blob: hashlib (as ingest uses it) vs sha512sum.

    python benchmarks/bench_sha512.py [--size-mb 1024]

The blob is random data cached under /var/tmp/rktfast-bench and read from the page cache
by both (one warm-up read first).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks._peers import CACHE, REPEAT, Table, run_timed  # noqa: E402


def blob(size_mb: int) -> str:
    path = os.path.join(CACHE, f"blob-{size_mb}.bin")
    if not os.path.exists(path):
        os.makedirs(CACHE, exist_ok=True)
        with open(path + ".tmp", "wb") as f:
            for _ in range(size_mb):
                f.write(os.urandom(1 << 20))
        os.rename(path + ".tmp", path)
    return path


def ours(path: str) -> str:
    h = hashlib.sha512()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    args = ap.parse_args()
    path = blob(args.size_mb)
    ours(path)  # warm the page cache
    walls, peer = [], []
    for _ in range(REPEAT):  # interleaved rounds
        t0 = time.perf_counter()
        ours(path)
        walls.append(time.perf_counter() - t0)
        peer.append(run_timed(["sha512sum", path])[0])
    t = Table(f"SHA-512 of a {args.size_mb} MiB blob", "hashlib.sha512")
    t.add("hashlib.sha512", walls)
    t.add("sha512sum", peer)
    t.print()
    mine = sorted(walls)[1]
    print(f"  throughput: ours {args.size_mb / mine:.0f} MiB/s, "
          f"sha512sum {args.size_mb / sorted(peer)[1]:.0f} MiB/s; target >= 1.3x")


if __name__ == "__main__":
    main()
