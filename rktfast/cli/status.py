"""rkt status [--wait[=bool|duration]] [--wait-ready[=…]] [--format=json] UUID."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.errors import PodError, RktError, UsageError

FLAGS = [
    Flag("wait", str, "false", "toggles waiting for the pod to finish. Use the output to "
         "determine the actual terminal state.", implicit="true"),
    Flag("wait-ready", str, "false", "toggles waiting until the pod is ready.",
         implicit="true"),
    Flag("format", str, "", "choose the output format. Allowed format includes 'json', "
         "'json-pretty'. If empty, then the result is printed as key value pairs"),
    Flag("uuid-file", str, "", "read pod UUID from file instead of argument"),
]


def usage_error(ctx: Context, message: str) -> UsageError:
    """A UsageError that the dispatcher prints as ``<cmd>: message`` followed by the usage."""
    e = UsageError(message)
    e.usage_of = ctx.command  # type: ignore[attr-defined]
    return e


def parse_wait(value: str) -> float | None | bool:
    """rkt's parseDuration: true/""/negative -> forever (None), false/0 -> no wait (False)."""
    if value == "" or value in ("1", "t", "T", "true", "TRUE", "True"):
        return None
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    from rktfast.units import parse_duration

    ns = parse_duration(value)
    if ns < 0:
        return None
    if ns == 0:
        return False
    return ns / 1e9


def check_format(value: str) -> str:
    if value not in ("", "json", "json-pretty"):
        raise UsageError(f'invalid argument "{value}" for "--format" flag: unknown format '
                         f'"{value}"')
    return value


def run(ctx: Context) -> int:
    from rktfast.pod import info, pods

    f = ctx.flags
    fmt = check_format(f.get("format") or "")
    args = list(ctx.args)
    if f.get("uuid-file"):
        if args:
            raise usage_error(ctx, "--uuid-file and a UUID argument are mutually exclusive")
        try:
            args = [pods.read_uuid_file(f["uuid-file"])]
        except OSError as e:
            raise RktError("unable to read UUID from file", e, exit_code=1) from e
    if len(args) != 1:
        raise usage_error(ctx, "status requires exactly one UUID argument")
    try:
        wait = parse_wait(f.get("wait") or "false")
        ready = parse_wait(f.get("wait-ready") or "false")
    except Exception as e:
        raise usage_error(ctx, f"invalid wait value: {e}") from None
    try:
        pod = pods.pod_from_uuid(ctx.globals.dir, args[0])
    except PodError as e:
        raise PodError("problem retrieving pod", e) from e
    with pod:
        if ready is not False:
            try:
                pods.wait_ready(pod, ready)
            except PodError as e:
                raise PodError("error waiting for pod readiness", e) from e
        if wait is not False:
            try:
                pods.wait_finished(pod, wait)
            except PodError as e:
                raise PodError("error waiting for pod to finish", e) from e
        try:
            if fmt:
                from rktfast.output.gojson import dumps

                ctx.out(dumps(info.pod_v1(pod), pretty=fmt == "json-pretty") + "\n")
            else:
                ctx.out("".join(line + "\n" for line in info.status_lines(pod)))
        except (PodError, OSError, ValueError) as e:
            raise PodError("unable to print status", e) from e
    return 0


COMMAND = Command(name="status", summary="Check the status of a rkt pod",
                  usage="rkt status [--wait=bool|timeout] [--wait-ready=bool|timeout] UUID",
                  run=run, flags=FLAGS)
