#!/usr/bin/env python3
"""Build the example image example.com/busybox from Debian's busybox-static.

    python3 examples/build_busybox_aci.py [--out busybox.aci] [--busybox /bin/busybox]

The rootfs holds /bin/busybox with a symlink per applet, a minimal /etc, and runs /bin/sh.
Every entry gets busybox's own mtime, so the same busybox always makes the same image ID and
building again does not add an image to a store that has it.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

try:
    from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest
except ImportError:  # run from a source checkout without an installed rktfast
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest


def make_rootfs(root: str, busybox: str) -> None:
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "proc", "sys", "dev"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(root, "bin/busybox"))
    applets = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for path in applets:
        link = os.path.join(root, path)
        if not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/bin/busybox", link)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
                      "user:x:1000:1000:user:/tmp:/bin/sh\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n",
    }
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)


def same_mtimes(root: str, mtime_ns: int) -> None:
    for dirpath, dirs, files in os.walk(root, topdown=False):
        for name in dirs + files:
            os.utime(os.path.join(dirpath, name), ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    os.utime(root, ns=(mtime_ns, mtime_ns))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="busybox.aci")
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--name", default="example.com/busybox")
    ap.add_argument("--version", default="1.35.0")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the image's / : mkdtemp makes it 0700, unusable for non-root
        make_rootfs(tmp, a.busybox)
        same_mtimes(tmp, os.stat(a.busybox).st_mtime_ns)
        manifest = image_manifest(a.name, a.version, ["/bin/sh"])
        build_aci_from_dir(tmp, manifest, a.out)
    print(a.out)


if __name__ == "__main__":
    main()
