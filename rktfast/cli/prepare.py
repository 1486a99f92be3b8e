"""rkt prepare [flags] IMAGE [-- args…]…: prepare a pod and print its UUID.

Also holds what run shares with prepare: the flag set and turning the parsed command line
into a pod request.
"""

from __future__ import annotations

from rktfast.cli.command import Command, Context, Flag
from rktfast.errors import PodError, RktError, UsageError

STAGE1_FLAGS = [
    Flag("stage1-url", str, "", "URL to an image to use as stage1"),
    Flag("stage1-path", str, "", "absolute or relative path to an image to use as stage1"),
    Flag("stage1-name", str, "", "name of an image to use as stage1"),
    Flag("stage1-hash", str, "", "hash of an image to use as stage1"),
    Flag("stage1-from-dir", str, "",
         "filename of an image in stage1 images directory to use as stage1"),
    Flag("stage1-image", str, "", hidden=True),
]

APP_FLAGS = [
    Flag("signature", str, "", "local signature file to use in validating the preceding image",
         per_app=True),
    Flag("exec", str, "", "override the exec command for the preceding image", per_app=True),
    Flag("working-dir", str, "", "override the working directory of the preceding image",
         per_app=True),
    Flag("readonly-rootfs", bool, False,
         "if set, the app's rootfs will be mounted read-only", per_app=True),
    Flag("user", str, "", "user override for the preceding image (example: '--user=user')",
         per_app=True),
    Flag("group", str, "", "group override for the preceding image (example: '--group=group')",
         per_app=True),
    Flag("supplementary-gids", "csv", None, "supplementary group IDs override for the "
         "preceding image (examples: '--supplementary-gids=1024,2048'", per_app=True),
    Flag("name", str, "", "set the name of the app (example: '--name=foo'). If not set, then "
         "the app name default to the image's name", per_app=True),
    Flag("user-annotation", "list", None,
         "set the app's annotations (example: '--user-annotation=foo=bar')", per_app=True),
    Flag("user-label", "list", None, "set the app's labels (example: '--user-label=foo=bar')",
         per_app=True),
    Flag("environment", "list", None,
         "set the app's environment variables (example: '--environment=foo=bar')",
         per_app=True),
    Flag("memory", str, "", "memory limit for the preceding image (example: '--memory=16Mi', "
         "'--memory=50M', '--memory=1G')", per_app=True),
    Flag("cpu", str, "", "cpu limit for the preceding image (example: '--cpu=500m')",
         per_app=True),
    Flag("cpu-shares", str, "", "cpu-shares assigns the specified CPU time share weight "
         "(example: '--cpu-shares=2048')", per_app=True),
    Flag("caps-retain", "csv", None,
         "capability to retain (example: '--caps-retain=CAP_SYS_ADMIN')", per_app=True,
         aliases=("cap-retain",)),
    Flag("caps-remove", "csv", None,
         "capability to remove (example: '--caps-remove=CAP_MKNOD')", per_app=True,
         aliases=("cap-remove",)),
    Flag("seccomp", str, "", "seccomp filter override (example: '--seccomp "
         "mode=retain,errno=EPERM,chmod,chown')", per_app=True),
    Flag("oom-score-adj", str, "", "oom-score-adj isolator override", per_app=True),
]

POD_FLAGS = [
    # --mount before any image applies to every app; after an image, to that app only.
    Flag("mount", "list", None, "mount point binding a volume to a path within an app"),
    Flag("volume", "list", None, "volumes to make available in the pod"),
    Flag("port", "list", None, "ports to expose on the host (requires contained network). "
         "Syntax: --port=NAME:[HOSTIP:]HOSTPORT"),
    Flag("inherit-env", bool, False, "inherit all environment variables not set by apps"),
    Flag("no-overlay", bool, False, "disable overlay filesystem"),
    Flag("private-users", bool, False, "run within user namespaces."),
    Flag("set-env", "list", None, "environment variable to set for all the apps in the form "
         "key=value, this will be overriden by --environment"),
    Flag("set-env-file", "list", None, "path to an environment variables file"),
    Flag("pull-policy", str, "new", "when to pull an image"),
    Flag("store-only", bool, False, hidden=True),
    Flag("no-store", bool, False, hidden=True),
    Flag("local", bool, False, hidden=True),
    Flag("pod-manifest", str, "", "the path to the pod manifest. If it's non-empty, then only "
         "'--net', '--no-overlay' and '--interactive' will have effect"),
    *STAGE1_FLAGS,
]

PREPARE_FLAGS = [*POD_FLAGS, Flag("quiet", bool, False, "suppress superfluous output on "
                                  "stdout, print only the UUID on success"), *APP_FLAGS]


def parse_command_line(ctx: Context):
    """Parse the per-image grammar of run/prepare; returns the list of ImageArg."""
    from rktfast.cli.flags import FlagSet, parse_image_args
    from rktfast.cli.main import make_globals

    if ctx.args:  # "--" came before any image
        raise RktError("error parsing app image arguments",
                       RktError("an image is required before any app arguments"))
    per_app_mount = FlagSet([Flag("mount", "list", None, per_app=True)])
    global_mounts = list(ctx.flags.get("mount") or [])
    try:
        images = parse_image_args([per_app_mount, ctx.flagset, ctx.global_flagset],
                                  ctx.argv_rest)
    except UsageError as e:
        raise RktError("error parsing app image arguments", e) from None
    ctx.flags["mount"] = global_mounts  # mounts after images went to their image
    ctx.globals = make_globals(ctx.global_flagset)
    return images


def build_request(ctx: Context, images):
    """The PodRequest for the command line (flags already parsed), with rkt's checks."""
    from rktfast.pod import cliargs
    from rktfast.pod.manifest import AppRequest, PodRequest

    f = ctx.flags
    if f.get("pod-manifest"):
        from rktfast.cli.common import pull_policy

        policy = pull_policy(ctx, "new")
        if images or f.get("volume") or f.get("mount") or f.get("port") or \
                policy in ("never", "update") or f.get("inherit-env") or f.get("set-env") or \
                f.get("set-env-file"):
            raise RktError("conflicting flags set with --pod-manifest (see --help)")
        return None
    if not images:
        raise RktError("must provide at least one image or specify the pod manifest")
    volumes = [cliargs.parse_volume(v) for v in f.get("volume") or []]
    names = [v["name"] for v in volumes]
    for n in names:
        if names.count(n) > 1:
            raise RktError(f'invalid value in --volume flag: duplicate volume name "{n}"')
    return PodRequest(
        apps=[AppRequest(image=im.image, flags=im.flags, args=im.args) for im in images],
        volumes=volumes,
        mounts=[cliargs.parse_mount(m) for m in f.get("mount") or []],
        ports=[cliargs.parse_port(p) for p in f.get("port") or []],
        inherit_env=bool(f.get("inherit-env")),
        env_from_files=cliargs.parse_env_files(f.get("set-env-file") or []),
        explicit_env=cliargs.parse_set_env(f.get("set-env") or []),
    )


def private_users(ctx: Context) -> str:
    if not ctx.flags.get("private-users"):
        return ""
    import os

    if not os.path.exists("/proc/self/ns/user"):
        raise RktError("--private-users is not supported, kernel compiled without user "
                       "namespace support")
    from rktfast.stage1.stage0 import random_uid_range

    return random_uid_range()


def use_overlay(ctx: Context) -> bool:
    from rktfast.stage1.stage0 import overlay_supported

    if ctx.flags.get("no-overlay"):
        return False
    why = overlay_supported()
    if why:
        ctx.warn(f'disabling overlay support: "{why}"')
        return False
    return True


def stored_by_name(ctx: Context, store, arg: str, policy: str) -> str | None:
    """The common case of ``rkt run NAME``: an appc name already in the store, with a pull
    policy that takes it from there. Answered without the Finder (whose imports cost more
    than the lookup); None sends everything else (files, URLs, hashes, docker and OCI
    sources, names with a colon before any slash, misses) to the Finder, which does the
    same lookup first and then fetches."""
    if policy not in ("never", "new") or arg.startswith("sha512-"):
        return None
    colon, slash = arg.find(":"), arg.find("/")
    if colon >= 0 and (slash < 0 or colon < slash):  # file:, http:, docker:, oci:, …
        return None
    import os

    if arg.startswith("/") or "./" in arg or arg.endswith(".aci") or os.path.isfile(arg):
        return None
    from rktfast.appc.types import parse_image_name

    try:
        name, labels = parse_image_name(arg)
    except Exception:
        return None  # the Finder reports it
    key = store.find_by_name(name, labels)
    if key:
        ctx.debug(f"using image from local store for image name {arg}", "image")
    return key


def prepare_common(ctx: Context, images, req, store, trees):
    """Find stage1 and images, then create and prepare the pod (left preparing, locked)."""
    from rktfast.cli.common import make_finder, pull_policy
    from rktfast.stage1.choose import find_stage1
    from rktfast.stage1.stage0 import PrepareConfig, prepare_pod

    priv = private_users(ctx)
    s1key = find_stage1(ctx, store, trees, ctx.flags)
    if req is not None:
        policy = pull_policy(ctx, "new")
        finder = None
        for app in req.apps:
            key = stored_by_name(ctx, store, app.image, policy)
            if key is None:
                if finder is None:
                    finder = make_finder(ctx, store, trees, policy)
                key = finder.find(app.image, app.flags.get("signature") or None)
            app.key = key
            store.index.touch(app.key)
    overlay = use_overlay(ctx)
    cfg = PrepareConfig(data_dir=ctx.globals.dir, stage1_key=s1key, use_overlay=overlay,
                        private_users=priv, request=req,
                        pod_manifest=ctx.flags.get("pod-manifest") or "",
                        uuid_file_save=ctx.flags.get("uuid-file-save") or "",
                        warn=ctx.warn)
    return prepare_pod(cfg, store, trees), overlay


def run(ctx: Context) -> int:
    from rktfast.cli.common import open_store

    images = parse_command_line(ctx)
    req = build_request(ctx, images)
    store, trees = open_store(ctx)
    with store:
        pod, _ = prepare_common(ctx, images, req, store, trees)
    try:
        pod.sync()
        pod.to_prepared()
    except PodError as e:
        raise PodError("error transitioning to prepared", e) from e
    finally:
        pod.close()
    ctx.out(pod.uuid + "\n")
    return 0


COMMAND = Command(
    name="prepare", summary="Prepare to run image(s) in a pod in rkt",
    usage="rkt prepare [--volume=name,kind=host,...] [--mount volume=VOL,target=PATH] "
          "[--quiet] IMAGE [-- image-args...[---]]...",
    run=run, flags=PREPARE_FLAGS, needs_root=True, interspersed=False)
