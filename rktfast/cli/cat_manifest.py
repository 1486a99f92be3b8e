"""rkt cat-manifest [--pretty-print] UUID: print a pod's manifest."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.status import usage_error
from rktfast.errors import PodError, RktError

FLAGS = [
    Flag("pretty-print", bool, True, "apply indent to format the output"),
    Flag("uuid-file", str, "", "read pod UUID from file instead of argument"),
]


def run(ctx: Context) -> int:
    from rktfast.output.gojson import compact, indent
    from rktfast.pod import pods

    args = list(ctx.args)
    if ctx.flags.get("uuid-file"):
        try:
            args = [pods.read_uuid_file(ctx.flags["uuid-file"])]
        except OSError as e:
            raise RktError("unable to read UUID from file", e) from e
    if len(args) != 1:
        raise usage_error(ctx, "cat-manifest requires exactly one UUID argument")
    try:
        pod = pods.pod_from_uuid(ctx.globals.dir, args[0])
    except PodError as e:
        raise PodError("problem retrieving pod", e) from e
    with pod:
        raw = pod.manifest_bytes().decode()
    text = compact(raw)
    if ctx.flags["pretty-print"]:
        text = indent(text)
    ctx.out(text + "\n")
    return 0


COMMAND = Command(name="cat-manifest", summary="Inspect and print the pod manifest",
                  usage="rkt cat-manifest [--pretty-print] UUID", run=run, flags=FLAGS)
