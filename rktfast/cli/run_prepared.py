"""rkt run-prepared UUID: run a prepared pod, exec'ing its stage1 in this process."""

from __future__ import annotations

from rktfast.cli.command import Command, Context
from rktfast.cli.run import RUN_ONLY_FLAGS
from rktfast.cli.status import usage_error
from rktfast.errors import PodError, RktError

FLAGS = [f for f in RUN_ONLY_FLAGS if f.name != "uuid-file-save"]


def run(ctx: Context) -> int:
    from rktfast.cli.common import open_store
    from rktfast.cli.run import launch_config, net_flag
    from rktfast.pod import pods
    from rktfast.stage1.stage0 import launch, overlay_supported

    if len(ctx.args) != 1:
        raise usage_error(ctx, "run-prepared requires exactly one UUID argument")
    try:
        pod = pods.pod_from_uuid(ctx.globals.dir, ctx.args[0])
    except PodError as e:
        raise PodError("problem retrieving pod", e) from e
    net = net_flag(ctx)
    if pod.state != pods.PREPARED:
        raise PodError(f'pod "{pod.uuid}" is not prepared')
    if ctx.flags.get("interactive") and len(pod.app_names()) > 1:
        raise RktError("interactive option only supports pods with one app")
    lcfg = launch_config(ctx, net, True)
    if lcfg.mds_register:
        import os

        from rktfast.mds.client import socket_path
        if not os.path.exists(socket_path()):
            raise RktError("metadata service is not available")
    try:
        pod.to_run()
    except PodError as e:
        raise PodError("cannot transition to run", e) from e
    why = overlay_supported()
    used = pod.uses_overlay()
    if used and why:
        raise RktError("unable to run prepared overlay-enabled pod: overlay not supported")
    lcfg.use_overlay = used
    store, trees = open_store(ctx)
    try:
        launch(pod, trees, lcfg, close_before_exec=(store.close_for_exec,))
    finally:
        store.close()
    return 254


COMMAND = Command(name="run-prepared", summary="Run a prepared application pod in rkt",
                  usage="rkt run-prepared UUID", run=run, flags=FLAGS, needs_root=True)
