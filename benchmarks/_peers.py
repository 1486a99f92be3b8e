"""Shared helpers for the whole-command benchmarks: timing peers, medians, ratios.

Peers run under GNU time (/usr/bin/time) so their peak RSS is their own: Linux carries
ru_maxrss across execve, so measuring a child of this (large) Python process directly
would report our size, not theirs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get("RKTFAST_BENCH_CACHE", "/var/tmp/rktfast-bench")
REPEAT = 3


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def run_timed(argv: list[str], *, cwd: str | None = None, env: dict | None = None
              ) -> tuple[float, int]:
    """Runs argv once; returns (wall seconds, peak RSS in KiB)."""
    subprocess.run(["sync"], check=True)  # writeback of the last run is not this run's cost
    with tempfile.NamedTemporaryFile("r") as out:
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv], check=True,
                       cwd=cwd, env=env, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        rss = int(out.read().split()[-1])
    return wall, rss


def fresh_dir(base: str, name: str) -> str:
    """A new empty directory; old ones are deleted at the end of the run, not here
    (extracting right after a big rm -rf is much slower on ext4)."""
    path = tempfile.mkdtemp(prefix=f"{name}-", dir=base)
    return path


class Table:
    """Collects times per tool and prints medians with ratios against ours.

    When the tools ran interleaved (round i of every tool back to back), the ratio is the
    median of the per-round ratios, with their range: a disk that drifts between a fast
    and a slow phase during the run then moves both sides of a ratio together."""

    def __init__(self, title: str, ours: str):
        self.title = title
        self.ours = ours
        self.rows: dict[str, tuple[list[float], int | None]] = {}

    def add(self, tool: str, walls: list[float], rsss: list[int] | None = None) -> None:
        self.rows[tool] = (walls, max(rsss) if rsss else None)

    def ratio(self, tool: str) -> str:
        mine, theirs = self.rows[self.ours][0], self.rows[tool][0]
        if len(mine) != len(theirs):
            return f"{statistics.median(mine) / statistics.median(theirs):.2f}"
        per_round = sorted(m / t for m, t in zip(mine, theirs, strict=True))
        mid = statistics.median(per_round)
        if len(per_round) == 1:
            return f"{mid:.2f}"
        return f"{mid:.2f} (rounds {per_round[0]:.2f}-{per_round[-1]:.2f})"

    def print(self) -> None:
        print(f"\n== {self.title} (median of {REPEAT}) ==")
        for tool, (walls, rss) in self.rows.items():
            ratio = "" if tool == self.ours else f"  rktfast/peer = {self.ratio(tool)}"
            mem = f"  peak RSS {rss / 1024:.1f} MiB" if rss else ""
            print(f"  {tool:28s} {statistics.median(walls):8.3f} s{mem}{ratio}")
        sys.stdout.flush()
