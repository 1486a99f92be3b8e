"""rkt image rm IMAGEID…: remove images from the store."""

from __future__ import annotations

from rktfast.cli.command import Command, Context
from rktfast.cli.common import open_store, resolve_image
from rktfast.errors import RktError, UsageError


def run(ctx: Context) -> int:
    if not ctx.args:
        raise UsageError("at least one image ID must be given")
    done = failed = 0
    store, _ = open_store(ctx)
    with store:
        for arg in ctx.args:
            try:
                key = resolve_image(store, arg)
                store.remove(key)
            except RktError as e:
                ctx.warn(f"{e.message}" + (f": {e.chain()[-1]}" if e.cause else ""))
                failed += 1
                continue
            ctx.out(f'successfully removed aci for image: "{key}"\n')
            done += 1
    if done:
        ctx.warn(f"{done} image(s) successfully removed")
    if failed:
        ctx.warn(f"{failed} image(s) cannot be removed")
        return 254
    return 0


COMMAND = Command(name="rm", summary="Remove one or more images with the given IDs or image "
                  "names from the local store", usage="rkt image rm IMAGEID...", run=run)
