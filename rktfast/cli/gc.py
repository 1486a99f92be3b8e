"""rkt gc [--grace-period=30m0s] [--expire-prepared=24h0m0s] [--mark-only]."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.status import usage_error

FLAGS = [
    Flag("grace-period", str, "30m0s",
         "duration to wait before discarding inactive pods from garbage"),
    Flag("expire-prepared", str, "24h0m0s", "duration to wait before expiring prepared pods"),
    Flag("mark-only", bool, False, "if set to true, then the exited/aborted pods will be moved "
         "to the garbage directories without actually deleting them, this is useful for "
         "marking the exit time of a pod"),
]


def _duration(ctx: Context, flag: str) -> int:
    from rktfast.units import parse_duration

    v = ctx.flags[flag]
    try:
        return parse_duration(v)
    except Exception as e:
        raise usage_error(ctx, f'invalid argument "{v}" for "--{flag}" flag: {e}') from None


def run(ctx: Context) -> int:
    from rktfast.cli.common import open_store
    from rktfast.pod import gc

    grace = _duration(ctx, "grace-period")
    expire = _duration(ctx, "expire-prepared")
    data = ctx.globals.dir
    rep = gc.Reporter(out=lambda line: ctx.out(line + "\n"), err=ctx.warn)
    gc.mark_exited(data, rep)
    gc.mark_aborted(data, rep)
    gc.mark_abandoned_embryos(data, rep)
    if ctx.flags["mark-only"]:
        return 0
    gc.mark_expired(data, expire, rep)
    store, trees = open_store(ctx)
    with store:
        sg = gc.StageGC(trees=trees, debug=ctx.globals.debug,
                        local_config=ctx.globals.local_config)
        gc.sweep_exited_garbage(data, grace, rep, sg)
        gc.sweep_garbage(data, rep, sg)
    return 0


COMMAND = Command(name="gc", summary="Garbage collect rkt pods no longer in use",
                  usage="rkt gc [--grace-period=duration] [--expire-prepared=duration]",
                  run=run, flags=FLAGS, needs_root=True)
