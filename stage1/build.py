#!/usr/bin/env python3
"""Build the stage1 images: compile native/stage1 and pack two ACIs.

    python stage1/build.py --out DIR      -> DIR/stage1-coreos.aci, DIR/stage1-fly.aci

The C programs are compiled by native/stage1/Makefile into stage1/out/bin
(static binaries).  Each ACI is an uncompressed tar with a top-level
``manifest`` and ``rootfs/``: the default flavor holds /init /enter /gc /stop,
the fly flavor /run /enter /gc /stop, plus the skeleton in stage1/rootfs/.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NATIVE = os.path.join(REPO, "native", "stage1")
BIN = os.path.join(HERE, "out", "bin")
SKELETON = os.path.join(HERE, "rootfs")

# rootfs path -> built program, per flavor
PROGRAMS = {
    "coreos": {"init": "init", "enter": "enter", "gc": "gc", "stop": "stop"},
    "fly": {"run": "fly-run", "enter": "fly-enter", "gc": "gc", "stop": "stop"},
}
# directories every stage1 rootfs has (mount points and state written by init)
DIRS = ["dev", "proc", "sys", "tmp", "etc", "opt", "opt/stage2", "rkt", "rkt/status", "rkt/env",
        "rkt/enter"]
MTIME = 1500000000  # fixed, so that rebuilding gives the same image bytes


def compile_programs(jobs: int) -> None:
    """Run make in native/stage1, writing binaries to stage1/out/bin."""
    subprocess.check_call(["make", "-s", "-C", NATIVE, f"-j{jobs}", f"OUT={BIN}"])


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = MTIME
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = MTIME
    tar.addfile(info, io.BytesIO(data))


def build_version() -> str:
    """rkt's version plus a digest of our programs: a rebuilt stage1 gets a new version, so
    a store that holds an older build by name never shadows the one this install ships."""
    h = hashlib.sha256()
    for flavor in sorted(PROGRAMS):
        for dest, prog in sorted(PROGRAMS[flavor].items()):
            with open(os.path.join(BIN, prog), "rb") as f:
                h.update(dest.encode() + b"\0" + f.read())
    return f"1.30.0-rktfast.{h.hexdigest()[:12]}"


def build_aci(flavor: str, out_path: str, version: str) -> None:
    """Write the ACI of one flavor to out_path (atomically)."""
    with open(os.path.join(HERE, f"manifest-{flavor}.json"), "rb") as f:
        doc = json.load(f)
    for label in doc["labels"]:
        if label["name"] == "version":
            label["value"] = version
    manifest = json.dumps(doc, indent=4).encode() + b"\n"
    tmp = out_path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_file(tar, "manifest", manifest, 0o644)
        _add_dir(tar, "rootfs")
        for d in DIRS:
            _add_dir(tar, f"rootfs/{d}", 0o1777 if d == "tmp" else 0o755)
        for root, dirs, files in os.walk(SKELETON):
            rel = os.path.relpath(root, SKELETON)
            for d in sorted(dirs):
                name = os.path.normpath(os.path.join("rootfs", rel, d))
                if os.path.relpath(name, "rootfs") not in DIRS:
                    _add_dir(tar, name)
            for fn in sorted(files):
                with open(os.path.join(root, fn), "rb") as f:
                    _add_file(tar, os.path.normpath(os.path.join("rootfs", rel, fn)), f.read(), 0o644)
        for dest, prog in PROGRAMS[flavor].items():
            with open(os.path.join(BIN, prog), "rb") as f:
                _add_file(tar, f"rootfs/{dest}", f.read(), 0o755)
    os.replace(tmp, out_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "out"), help="where to write the ACIs")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    compile_programs(args.jobs)
    os.makedirs(args.out, exist_ok=True)
    version = build_version()
    for flavor in PROGRAMS:
        build_aci(flavor, os.path.join(args.out, f"stage1-{flavor}.aci"), version)
    with open(os.path.join(args.out, "VERSION"), "w") as f:
        f.write(version + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
