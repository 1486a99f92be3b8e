"""rkt export [--app=NAME] [--overwrite] UUID OUTPUT.aci: an exited pod's app as an ACI."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.errors import PodError, RktError, UsageError

FLAGS = [
    Flag("app", str, "", "name of the app to export within the specified pod"),
    Flag("overwrite", bool, False, "overwrite output ACI"),
]


def run(ctx: Context) -> int:
    import os

    from rktfast.cli.common import open_store
    from rktfast.pod import export, pods

    if len(ctx.args) != 2:
        e = UsageError("export requires a UUID and an output file")
        e.usage_of = ctx.command  # type: ignore[attr-defined]
        raise e
    out = ctx.args[1]
    if os.path.splitext(out)[1] != ".aci":
        raise RktError(f"extension must be .aci (given {out})")
    try:
        pod = pods.pod_from_uuid(ctx.globals.dir, ctx.args[0])
    except PodError as e:
        raise PodError("problem retrieving pod", e) from e
    with pod:
        if pod.state not in (pods.EXITED, pods.EXITED_GARBAGE):
            raise PodError("pod is not exited. Only exited pods can be exported")
        names = pod.app_names()
        app = ctx.flags.get("app")
        if app:
            if app not in names:
                raise PodError("unable to find app", PodError(f"app {app} is not present in pod"))
        elif len(names) == 1:
            app = names[0]
        elif not names:
            raise PodError("unable to find app", PodError("pod contains zero apps"))
        else:
            ctx.warn("pod contains multiple apps:")
            for n in names:
                ctx.warn(f"\t{n}")
            raise PodError("unable to find app",
                           PodError('specify app using "rkt export --app= ..."'))
        store, trees = open_store(ctx)
        with store:
            export.export_app(pod, app, trees, out, ctx.flags["overwrite"],
                              os.path.join(ctx.globals.dir, "tmp"))
    return 0


COMMAND = Command(name="export", summary="Export an app from an exited pod to an ACI file",
                  usage="rkt export [--app=APPNAME] UUID OUTPUT_ACI_FILE", run=run, flags=FLAGS)
