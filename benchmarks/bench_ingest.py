"""Fetch+render of a large gzip ACI: rktfast ingest vs tar -xzf, bsdtar, umoci unpack.

    python benchmarks/bench_ingest.py [--size-mb 500] [--work DIR]

The ACI is built once from real trees of this machine (/usr/...) and cached under
/var/tmp/rktfast-bench. Each run extracts into a fresh directory; targets are removed at the
end. Our figure covers decompress + SHA-512 + blob (fsynced) + render, peers only extract.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks._peers import CACHE, REPEAT, Table, fresh_dir, have, run_timed  # noqa: E402

SOURCES = ["/usr/include", "/usr/lib/python3.11", "/usr/share/doc", "/usr/share/man",
           "/usr/share/locale", "/usr/share/perl", "/usr/bin", "/usr/lib/x86_64-linux-gnu",
           "/usr/share"]
MANIFEST = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/bench",
            "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]}


def du_mb(path: str) -> int:
    out = subprocess.run(["du", "-sm", path], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def build_tree(tree: str, size_mb: int) -> None:
    os.makedirs(tree)
    for src in SOURCES:
        if not os.path.isdir(src):
            continue
        dest = os.path.join(tree, src.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        subprocess.run(["cp", "-a", "--no-clobber", src, os.path.dirname(dest)], check=False)
        if du_mb(tree) >= size_mb:
            break


def build_aci(size_mb: int) -> tuple[str, str]:
    """Returns (gzip ACI path, source tree path), built once per size."""
    from rktfast.fetch.extract import write_tree_tar

    base = os.path.join(CACHE, f"ingest-v2-{size_mb}")
    aci = os.path.join(base, "image.aci")
    tree = os.path.join(base, "tree")
    if os.path.exists(aci):
        return aci, tree
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    print(f"building a ~{size_mb} MB tree in {tree} ...", flush=True)
    build_tree(tree, size_mb)
    tar = os.path.join(base, "image.tar")
    with open(tar, "wb") as f:
        write_tree_tar(tree, f.fileno(), prefix="rootfs",
                       manifest=json.dumps(MANIFEST).encode())
    print("compressing (gzip -6) ...", flush=True)
    with open(aci + ".tmp", "wb") as out:
        subprocess.run(["gzip", "-6", "-c", tar], stdout=out, check=True)
    os.rename(aci + ".tmp", aci)
    return aci, tree


def build_oci_layout(base: str, tree: str) -> str | None:
    """An OCI layout holding the same tree, made with umoci's own commands."""
    layout = os.path.join(base, "oci")
    if os.path.exists(os.path.join(layout, "index.json")) and os.path.exists(layout + ".ok"):
        return layout
    shutil.rmtree(layout, ignore_errors=True)
    bundle = os.path.join(base, "oci-bundle")
    shutil.rmtree(bundle, ignore_errors=True)
    print("building the OCI layout for umoci ...", flush=True)
    subprocess.run(["umoci", "init", "--layout", layout], check=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:bench"], check=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:bench", bundle], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cp", "-a", f"{tree}/.", os.path.join(bundle, "rootfs")], check=True)
    subprocess.run(["umoci", "repack", "--image", f"{layout}:bench", bundle], check=True)
    shutil.rmtree(bundle)
    open(layout + ".ok", "w").close()
    return layout


OURS = """
import sys
from rktfast.fetch.ingest import ingest_aci
with open(sys.argv[1], "rb") as f:
    r = ingest_aci(f, blob_dir=sys.argv[2], tree_dir=sys.argv[2])
print(r.image_key, r.size, r.tree_size)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--work", metavar="DIR",
                    help="where the tools write (default: beside the image, on its disk); a "
                         "tmpfs here takes the disk out and compares the engines alone. On "
                         "an ext4 without a journal, files made beside a tree deleted in the "
                         "last minutes are much slower to create: after deleting big trees "
                         "(this benchmark deletes its own at the end), pass a new top-level "
                         "directory")
    args = ap.parse_args()
    aci, tree = build_aci(args.size_mb)
    base = os.path.dirname(aci)
    nfiles = sum(len(f) for _, _, f in os.walk(tree))
    print(f"image: {aci} ({os.path.getsize(aci) >> 20} MiB gzip, {nfiles} files)")
    layout = build_oci_layout(base, tree) if have("umoci") else None
    work = os.path.join(args.work or base, "runs")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo)
    tools = {
        "rktfast ingest": lambda d: [sys.executable, "-c", OURS, aci, d],
        # the whole command: ingest, manifest checks, commit, tree digest, index row
        "rkt fetch": lambda d: [sys.executable, "-m", "rktfast", f"--dir={d}",
                                "--insecure-options=image", "fetch", aci],
        "tar -xzf": lambda d: ["tar", "-xzf", aci, "-C", d],
        "bsdtar -xf": lambda d: ["bsdtar", "-xf", aci, "-C", d],
    }
    if layout:
        tools["umoci unpack"] = lambda d: ["umoci", "unpack", "--image", f"{layout}:bench",
                                           os.path.join(d, "bundle")]
    results: dict[str, tuple[list, list]] = {t: ([], []) for t in tools}
    for _ in range(REPEAT):
        for tool, argv in tools.items():
            if tool.startswith("bsdtar") and not have("bsdtar"):
                continue
            d = fresh_dir(work, tool.split()[0])
            wall, rss = run_timed(argv(d), env=env)
            results[tool][0].append(wall)
            results[tool][1].append(rss)
    table = Table(f"fetch+render of {os.path.getsize(aci) >> 20} MiB gzip ACI", "rkt fetch")
    for tool, (walls, rsss) in results.items():
        if walls:
            table.add(tool, walls, rsss)
    table.print()
    print("  target: rkt fetch / tar -xzf <= 0.70; peak RSS <= 64 MiB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
