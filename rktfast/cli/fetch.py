"""rkt fetch IMAGE…: put images in the store and print their IDs."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.common import make_finder, open_store, pull_policy
from rktfast.cli.flags import parse_image_args
from rktfast.errors import UsageError


def run(ctx: Context) -> int:
    images = parse_image_args([ctx.flagset, ctx.global_flagset], ctx.argv_rest)
    if any(im.args is not None for im in images):
        raise UsageError("app arguments unsupported")
    if not images:
        raise UsageError("must provide at least one image")
    from rktfast.cli.main import make_globals
    ctx.globals = make_globals(ctx.global_flagset)
    policy = pull_policy(ctx, "update")
    store, trees = open_store(ctx)
    with store:
        finder = make_finder(ctx, store, trees, policy)
        for im in images:
            key = finder.find(im.image, im.flags.get("signature"))
            store.index.touch(key)
            ctx.out((key if ctx.flags["full"] else key[:39]) + "\n")
    return 0


FLAGS = [
    Flag("signature", str, "", "local signature file to use in validating the preceding image",
         per_app=True),
    Flag("pull-policy", str, "update",
         "when to pull an image: never (only the local store), new (only if not in the store), "
         "update (always check for a newer image)"),
    Flag("store-only", bool, False, hidden=True),
    Flag("no-store", bool, False, hidden=True),
    Flag("local", bool, False, hidden=True),
    Flag("full", bool, False, "print the full image hash after fetching"),
]

COMMAND = Command(name="fetch", summary="Fetch image(s) and store them in the local store",
                  usage="rkt fetch IMAGE_URL...", run=run, flags=FLAGS, interspersed=False)
