"""rkt image verify IMAGE…: check stored blobs (and their rendered trees) against their IDs."""

from __future__ import annotations

import hashlib

from rktfast.cli.command import Command, Context
from rktfast.cli.common import open_store, resolve_image
from rktfast.errors import RktError, StoreError, UsageError


def verify_blob(store, key: str) -> None:
    h = hashlib.sha512()
    with store.lock(key).shared(), open(store.blob_path(key), "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if "sha512-" + h.hexdigest()[:64] != key:
        raise StoreError(f"image {key} is corrupt: its content does not match its ID")


def run(ctx: Context) -> int:
    from rktfast.store.treestore import tree_id

    if not ctx.args:
        raise UsageError("at least one image must be given")
    failed = 0
    store, trees = open_store(ctx)
    with store:
        for arg in ctx.args:
            try:
                key = resolve_image(store, arg)
                verify_blob(store, key)
                tid = tree_id([key])
                if trees.is_rendered(tid):
                    trees.verify(tid)
            except (RktError, OSError) as e:
                ctx.warn(f'error verifying image "{arg}": {e}')
                failed += 1
                continue
            ctx.out(f'successfully verified checksum for image: "{arg}" ("{key}")\n')
    return 254 if failed else 0


COMMAND = Command(name="verify", summary="Verify one or more rendered images in the local "
                  "store", usage="rkt image verify IMAGE...", run=run)
