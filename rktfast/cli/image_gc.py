"""rkt image gc: remove unused trees and images older than the grace period."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.common import open_store
from rktfast.errors import UsageError


def run(ctx: Context) -> int:
    from rktfast.store.gc import collect
    from rktfast.units import parse_duration

    try:
        grace = parse_duration(ctx.flags["grace-period"])
    except ValueError as e:
        raise UsageError(f'invalid argument "{ctx.flags["grace-period"]}" for "--grace-period" '
                         f"flag: {e}") from None
    store, trees = open_store(ctx)
    with store:
        removed, failed = collect(
            store, trees, grace,
            on_tree=lambda tid: ctx.warn(f'removed treestore "{tid}"'),
            on_image=lambda key: ctx.out(f'successfully removed aci for image: "{key}"\n'),
            on_error=lambda key, e: ctx.warn(f'error removing aci for image "{key}": {e}'))
    if removed:
        ctx.warn(f"{removed} image(s) successfully removed")
    if failed:
        ctx.warn(f"{failed} image(s) cannot be removed")
        return 254
    return 0


COMMAND = Command(name="gc", summary="Garbage collect local store",
                  usage="rkt image gc [--grace-period=duration]", run=run,
                  flags=[Flag("grace-period", str, "24h0m0s", "duration to wait since an "
                              "image was last used before removing it")])
