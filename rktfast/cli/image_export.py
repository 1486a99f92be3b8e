"""rkt image export IMAGE OUTPUT_ACI_FILE: write the stored (uncompressed) image."""

from __future__ import annotations

import os
import shutil

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.common import check_output_path, open_store, resolve_image
from rktfast.errors import RktError, UsageError


def run(ctx: Context) -> int:
    if len(ctx.args) != 2:
        raise UsageError("an image and an output file must be given")
    image, out = ctx.args
    check_output_path(out, ctx.flags["overwrite"])
    store, _ = open_store(ctx)
    with store:
        key = resolve_image(store, image)
        with store.lock(key).shared():
            tmp = f"{out}.tmp-{os.getpid()}"
            try:
                with open(store.blob_path(key), "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.rename(tmp, out)
            except OSError as e:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise RktError(f"unable to export image {key} to {out!r}", e) from e
    return 0


COMMAND = Command(name="export", summary="Export a stored image to an ACI file",
                  usage="rkt image export IMAGE OUTPUT_ACI_FILE", run=run,
                  flags=[Flag("overwrite", bool, False, "overwrite output ACI")])
