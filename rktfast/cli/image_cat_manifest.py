"""rkt image cat-manifest IMAGE: print an image's manifest."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.common import open_store, resolve_image
from rktfast.errors import UsageError


def run(ctx: Context) -> int:
    from rktfast.appc.image_manifest import ImageManifest

    if len(ctx.args) != 1:
        raise UsageError("exactly one image must be given")
    store, _ = open_store(ctx)
    with store:
        key = resolve_image(store, ctx.args[0])
        manifest = ImageManifest.parse(store.read_manifest_bytes(key))
    ctx.out(manifest.to_json(pretty=ctx.flags["pretty-print"]) + "\n")
    return 0


COMMAND = Command(name="cat-manifest", summary="Inspect and print the image manifest",
                  usage="rkt image cat-manifest IMAGE", run=run,
                  flags=[Flag("pretty-print", bool, True, "apply indent to format the output")])
