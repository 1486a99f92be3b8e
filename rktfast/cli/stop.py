"""rkt stop [--force] [--uuid-file=FILE] UUID…: ask the stage1 to stop pods."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.status import usage_error
from rktfast.errors import PodError, RktError

FLAGS = [
    Flag("force", bool, False, "forced stopping"),
    Flag("uuid-file", str, "", "read pod UUID from file instead of argument"),
]


def uuids_from(ctx: Context) -> tuple[list[str], int]:
    """The UUID arguments or the one in --uuid-file (not both); (uuids, exit code so far)."""
    from rktfast.pod import pods

    if ctx.args and not ctx.flags.get("uuid-file"):
        return list(ctx.args), 0
    if not ctx.args and ctx.flags.get("uuid-file"):
        try:
            return [pods.read_uuid_file(ctx.flags["uuid-file"])], 0
        except OSError as e:
            ctx.warn(f"unable to resolve UUID from file: {e}")
            return [], 254
    raise usage_error(ctx, f"{ctx.command.name} needs UUID arguments or --uuid-file")


def run(ctx: Context) -> int:
    from rktfast.pod import pods
    from rktfast.stage1.launch import run_stop

    uuids, ret = uuids_from(ctx)
    errors = 0
    for u in uuids:
        try:
            pod = pods.pod_from_uuid(ctx.globals.dir, u)
        except PodError as e:
            errors += 1
            ctx.warn(f"cannot get pod: {e.chain()[-1]}")
            continue
        with pod:
            if pod.is_after_run():
                ctx.out(f'pod "{pod.uuid}" is already stopped\n')
                continue
            if pod.state != pods.RUNNING:
                ctx.warn(f'pod "{pod.uuid}" is not running')
                errors += 1
                continue
            try:
                run_stop(pod.path, pod.uuid, ctx.flags["force"])
                ctx.out(f'"{pod.uuid}"\n')
            except PodError as e:
                ctx.warn(f'error stopping "{pod.uuid}": {e.chain()[-1]}')
                errors += 1
    if errors:
        raise RktError(f"failed to stop {errors} pod(s)")
    return ret


COMMAND = Command(name="stop", summary="Stop a pod", usage="rkt stop --uuid-file=FILE | UUID ...",
                  run=run, flags=FLAGS)
