"""rkt rm [--uuid-file=FILE] UUID…: remove pods that are not running, at once."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.errors import PodError

FLAGS = [Flag("uuid-file", str, "", "read pod UUID from file instead of argument")]


def run(ctx: Context) -> int:
    from rktfast.cli.common import open_store
    from rktfast.cli.stop import uuids_from
    from rktfast.pod import gc, pods

    uuids, ret = uuids_from(ctx)
    rep = gc.Reporter(out=lambda line: ctx.out(line + "\n"), err=ctx.warn)
    store = trees = None
    for u in uuids:
        try:
            pod = pods.pod_from_uuid(ctx.globals.dir, u)
        except PodError as e:
            ret = 254
            ctx.warn(f"cannot get pod: {e.chain()[-1]}")
            continue
        with pod:
            if store is None:
                store, trees = open_store(ctx)
            sg = gc.StageGC(trees=trees, debug=ctx.globals.debug,
                            local_config=ctx.globals.local_config)
            if gc.remove_pod(pod, rep, sg):
                ctx.out(f'"{pod.uuid}"\n')
            else:
                ret = 254
    if store is not None:
        store.close()
    if ret == 254:
        ctx.warn("failed to remove one or more pods")
    return ret


COMMAND = Command(name="rm", summary="Remove all files and resources associated with an "
                  "exited pod", usage="rkt rm --uuid-file=FILE | UUID ...", run=run,
                  flags=FLAGS, needs_root=True)
