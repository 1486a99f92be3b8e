"""rkt image extract / render IMAGE OUTPUT_DIR: unpack an image's files.

``extract`` unpacks the image alone; ``render`` merges its dependencies and applies the
pathWhitelist, as a pod would see it.
"""

from __future__ import annotations

import os
import shutil

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.common import check_output_path, open_store, resolve_image
from rktfast.errors import UsageError


def unpack(ctx: Context, render: bool) -> int:
    from rktfast.fetch.extract import extract_rootfs, render_blobs

    if len(ctx.args) != 2:
        raise UsageError("an image and an output directory must be given")
    image, out = ctx.args
    check_output_path(out, ctx.flags["overwrite"])
    if os.path.lexists(out):
        shutil.rmtree(out) if os.path.isdir(out) and not os.path.islink(out) else os.unlink(out)
    rootfs_only = ctx.flags["rootfs-only"]
    store, _ = open_store(ctx)
    with store:
        key = resolve_image(store, image)
        if not render:
            extract_rootfs(store.blob_path(key), out, rootfs_only=rootfs_only)
            return 0
        from rktfast.appc.image_manifest import ImageManifest
        from rktfast.store.render import render_chain

        chain = render_chain(store, key)
        manifest = store.read_manifest_bytes(key)
        whitelist = ImageManifest.parse(manifest).path_whitelist or None
        os.makedirs(out, mode=0o755)
        render_blobs([store.blob_path(k) for k in chain], out, whitelist=whitelist)
        if rootfs_only:
            _hoist_rootfs(out)
        else:
            with open(os.path.join(out, "manifest"), "wb") as f:
                f.write(manifest)
    return 0


def _hoist_rootfs(out: str) -> None:
    """Make ``out/rootfs/*`` the contents of ``out``."""
    inner = os.path.join(out, "rootfs")
    moved = f"{out}.rootfs-{os.getpid()}"
    os.rename(inner, moved)
    os.rmdir(out)
    os.rename(moved, out)


FLAGS = [Flag("rootfs-only", bool, False, "extract rootfs only"),
         Flag("overwrite", bool, False, "overwrite output directory")]

COMMAND = Command(name="extract", summary="Extract a stored image to a directory",
                  usage="rkt image extract IMAGE OUTPUT_DIR", flags=FLAGS,
                  run=lambda ctx: unpack(ctx, render=False))
