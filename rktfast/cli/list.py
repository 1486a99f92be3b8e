"""rkt list [--no-legend] [--full] [--format=json|json-pretty]: a line per app of each pod."""

from __future__ import annotations

import time

from rktfast.cli.command import Command, Context, Flag

FLAGS = [
    Flag("no-legend", bool, False, "suppress a legend with the list"),
    Flag("full", bool, False, "use long output format"),
    Flag("format", str, "", "choose the output format, allowed format includes 'json', "
         "'json-pretty'. If empty, then the result is printed as key value pairs"),
]


def run(ctx: Context) -> int:
    from rktfast.cli.status import check_format
    from rktfast.pod import info, pods

    f = ctx.flags
    fmt = check_format(f.get("format") or "")
    full = f["full"]
    errors: list[str] = []
    rows: list[list[str]] = []
    v1: list = []
    now = time.time()
    if not fmt and not f["no-legend"]:
        rows.append(["UUID", "APP", "IMAGE NAME", *(["IMAGE ID"] if full else []), "STATE",
                     "CREATED", "STARTED", "NETWORKS"])
    for pod in pods.walk_pods(ctx.globals.dir, pods.MOST_DIRS):
        if fmt:
            try:
                v1.append(info.pod_v1(pod))
            except Exception as e:
                errors.append(str(e))
            continue
        apps = []
        if pod.manifest_available():
            try:
                apps = pod.manifest().get("apps") or []
            except Exception as e:
                errors.append(f"Unable to read pod {pod.uuid} manifest:\n  {e}")
                continue
        from rktfast.output.timefmt import go_time, relative_time

        def when(t):
            if t is None:
                return ""
            return go_time(t) if full else relative_time(t / 1e9, now)

        created = pod.creation_time()
        if full:
            created_s = go_time(created)
        else:
            created_s = relative_time(-62135596800 if created is None else created / 1e9, now)
        head = [pod.uuid if full else pod.uuid[:8], pod.state, created_s,
                when(pod.start_time()), info.fmt_nets(pod.nets())]
        if not apps:
            rows.append([head[0], "-", "-", *(["-"] if full else []), *head[1:]])
            continue
        for app in apps:
            name = app.get("name", "")
            try:
                img = info.image_name(pod, name)
            except Exception as e:
                errors.append(f"pod {pod.uuid} ImageManifest could not be loaded: {e}")
                img = "--"
            img_id = ((app.get("image") or {}).get("id") or "")[:19]
            rows.append([head[0], name, img, *([img_id] if full else []), *head[1:]])
            head = ["", "", "", "", ""]
    if fmt:
        from rktfast.output.gojson import dumps

        ctx.out(dumps(v1 or None, pretty=fmt == "json-pretty") + "\n")
    else:
        from rktfast.output.tabwriter import format_table

        ctx.out(format_table(rows))
    if errors:
        ctx.warn(f"{len(errors)} error(s) encountered when listing pods:")
        ctx.warn("----------------------------------------")
        for e in errors:
            for line in e.splitlines():
                ctx.warn(line)
            ctx.warn("----------------------------------------")
        ctx.warn("misc:")
        ctx.warn("  rkt's appc version: 0.8.11")
    return 0


COMMAND = Command(name="list", summary="List pods", usage="rkt list", run=run, flags=FLAGS)
