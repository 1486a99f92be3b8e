"""rkt enter [--app=NAME] UUID [CMD [ARGS…]]: run a command inside a running pod's app."""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.status import usage_error
from rktfast.errors import PodError

DEFAULT_CMD = "/bin/bash"

FLAGS = [
    Flag("app", str, "", "name of the app to enter within the specified pod"),
    Flag("imageid", str, "", hidden=True),  # 0.5: pick the app by image ID prefix
]


def app_name(ctx: Context, pod) -> str:
    apps = pod.manifest().get("apps") or []
    if ctx.flags.get("app"):
        return ctx.flags["app"]
    if ctx.flags.get("imageid"):
        want = ctx.flags["imageid"]
        hits = [a["name"] for a in apps if (a.get("image") or {}).get("id", "").startswith(want)]
        if len(hits) != 1:
            raise PodError("unable to determine app name",
                           PodError(f'no single app with image ID "{want}" in the pod'))
        return hits[0]
    if not apps:
        raise PodError("unable to determine app name", PodError("pod contains zero apps"))
    if len(apps) == 1:
        return apps[0]["name"]
    ctx.warn("pod contains multiple apps:")
    for a in apps:
        ctx.warn(f"\t{a['name']}")
    raise PodError("unable to determine app name",
                   PodError('specify app using "rkt enter --app= ..."'))


def run(ctx: Context) -> int:
    import os

    from rktfast.pod import pods
    from rktfast.stage1.launch import exec_enter

    words = list(ctx.args) + list(ctx.argv_rest)
    if not words:
        raise usage_error(ctx, "enter requires a UUID argument")
    try:
        pod = pods.pod_from_uuid(ctx.globals.dir, words[0])
    except PodError as e:
        raise PodError("problem retrieving pod", e) from e
    if pod.state != pods.RUNNING:
        raise PodError(f'pod "{pod.uuid}" isn\'t currently running')
    try:
        pid = pod.container_pid1()
    except PodError as e:
        raise PodError(f'unable to determine the pid for pod "{pod.uuid}"', e) from e
    app = app_name(ctx, pod)
    cmd = words[1:]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        ctx.warn(f'no command specified, assuming "{DEFAULT_CMD}"')
        cmd = [DEFAULT_CMD]
    tid = pod.stage1_tree_id()
    stage1_rootfs = os.path.join(ctx.globals.dir, "cas", "tree", tid, "rootfs")
    try:
        exec_enter(pod.path, stage1_rootfs, pid, app, cmd)
    except PodError as e:
        raise PodError("enter failed", e) from e
    return 254


COMMAND = Command(name="enter", summary="Enter the namespaces of an app within a rkt pod",
                  usage="rkt enter [--app=APPNAME] UUID [CMD [ARGS ...]]", run=run,
                  flags=FLAGS, needs_root=True, interspersed=False, takes_dashdash=False)
