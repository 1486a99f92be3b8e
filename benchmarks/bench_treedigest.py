"""Tree digest of a rendered image vs sha512sum over the same files.

    python benchmarks/bench_treedigest.py [--tree DIR]

Defaults to the tree bench_ingest.py builds (/var/tmp/rktfast-bench/ingest-v2-500/tree).
Both read from the page cache (one warm-up pass first).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks._peers import CACHE, REPEAT, Table, run_timed  # noqa: E402


def main() -> None:
    from rktfast._treedigest import tree_digest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", default=os.path.join(CACHE, "ingest-v2-500", "tree"))
    args = ap.parse_args()
    if not os.path.isdir(args.tree):
        sys.exit(f"{args.tree} missing: run benchmarks/bench_ingest.py first or pass --tree")
    peer_cmd = ["sh", "-c", "find . -type f -print0 | xargs -0 sha512sum > /dev/null"]
    print("digest:", tree_digest(args.tree))  # warm-up
    run_timed(peer_cmd, cwd=args.tree)
    walls, peer = [], []
    for _ in range(REPEAT):  # interleaved rounds
        t0 = time.perf_counter()
        tree_digest(args.tree)
        walls.append(time.perf_counter() - t0)
        peer.append(run_timed(peer_cmd, cwd=args.tree)[0])
    t = Table(f"tree digest of {args.tree}", "tree_digest")
    t.add("tree_digest", walls)
    t.add("find | xargs sha512sum", peer)
    t.print()
    print("  target: >= 3x faster (rktfast/peer <= 0.33)")


if __name__ == "__main__":
    main()
