"""Which stage1 image a pod gets (SPEC §5 "Stage1 choice").

A ``--stage1-{url,path,name,hash,from-dir}`` flag wins and is fetched through the normal
finder (signature required unless the file is the bundled default or lies in the default
stage1 images directory). Without a flag: the ``stage1.d`` name and version (default
``coreos.com/rkt/stage1-coreos:1.30.0``) from the store only, then the configured location,
then ``stage1-coreos.aci`` beside the rkt executable or in the package's ``stage1_images/``.
"""

from __future__ import annotations

import os
import sys

from rktfast.errors import RktError

DEFAULT_NAME = "coreos.com/rkt/stage1-coreos"
RKT_VERSION = "1.30.0"
DEFAULT_FILE = "stage1-coreos.aci"
DEFAULT_IMAGES_DIR = "/usr/lib/rkt/stage1-images"
KINDS = ("url", "path", "name", "hash", "from-dir")


def package_images_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "stage1_images")


def default_version() -> str:
    """The version label of the bundled stage1 (``1.30.0-rktfast.<build digest>``, written
    by stage1/build.py beside the images), else rkt's own default."""
    try:
        with open(os.path.join(package_images_dir(), "VERSION")) as f:
            return f.read().strip() or RKT_VERSION
    except OSError:
        return RKT_VERSION


def default_image_path(filename: str = DEFAULT_FILE) -> str:
    """The bundled stage1 file: beside the rkt executable, else in the package directory."""
    exe = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    candidates = []
    if exe and not exe.endswith(".py"):
        candidates.append(os.path.join(os.path.dirname(exe), filename))
    candidates.append(os.path.join(package_images_dir(), filename))
    for c in candidates:
        if os.path.isfile(c):
            return c
    return candidates[-1]


def stage1_flag(flags: dict) -> tuple[str, str] | None:
    """The one ``--stage1-*`` flag given (kind, value), with the 0.5 ``--stage1-image``."""
    given = [(k, flags[f"stage1-{k}"]) for k in KINDS if flags.get(f"stage1-{k}")]
    legacy = flags.get("stage1-image")
    if legacy:
        if "://" in legacy:
            kind = "url"
        elif legacy.startswith("sha512-"):
            kind = "hash"
        elif legacy.startswith(("/", "./", "../")) or os.path.exists(legacy) or \
                legacy.endswith(".aci"):
            kind = "path"
        else:
            kind = "name"
        given.append((kind, legacy))
    if len(given) > 1:
        raise RktError(f"flags --stage1-{given[1][0]} and --stage1-{given[0][0]} are mutually "
                         "exclusive")
    return given[0] if given else None


def _finder(ctx, store, trees, with_keystore: bool, policy: str = "new"):
    from rktfast.cli.common import make_finder

    finder = make_finder(ctx, store, trees, policy, with_keystore)
    # No warning for a stage1 that needs no signature; with --insecure-options=image the
    # apps' finder prints it once.
    finder._warned_insecure = True
    return finder


def _images_dir(ctx) -> str:
    try:
        from rktfast.config import load

        return load(ctx.globals, ("paths",)).paths.get("stage1-images") or DEFAULT_IMAGES_DIR
    except RktError:
        return DEFAULT_IMAGES_DIR


def _trusted(location: str) -> bool:
    if "://" in location:
        return False
    absloc = os.path.abspath(location)
    return (absloc == os.path.abspath(default_image_path())
            or absloc.startswith(os.path.join(DEFAULT_IMAGES_DIR, ""))
            or absloc.startswith(os.path.join(package_images_dir(), "")))


def find_stage1(ctx, store, trees, flags: dict) -> str:
    """The store key of the stage1 image for this pod, fetching it if needed."""
    chosen = stage1_flag(flags)
    if chosen is not None:
        kind, location = chosen
        if kind == "from-dir":
            location = os.path.join(_images_dir(ctx), location)
        if kind == "hash":
            return store.resolve_key(location)
        with_keys = not (kind in ("url", "path", "from-dir") and _trusted(location))
        finder = _finder(ctx, store, trees, with_keys)
        if kind == "path" and "://" not in location:
            location = os.path.abspath(location)
        return finder.find(location)

    from rktfast.config import load

    cfg = load(ctx.globals, ("stage1",)).stage1
    name, version = cfg.get("name"), cfg.get("version")
    if not name or not version:
        name, version = DEFAULT_NAME, default_version()
    location = cfg.get("location") or ""
    if not version.endswith("-dirty"):
        from rktfast.appc.types import parse_image_name

        n, labels = parse_image_name(f"{name}:{version}")
        key = store.find_by_name(n, labels)
        if key:
            ctx.debug(f"using image from local store for image name {name}:{version}", "image")
            return key
    if location:
        if not os.path.isabs(location):
            if "://" not in location:
                raise RktError("default stage1 image location is either a relative path or a "
                               "URL without scheme")
            return _finder(ctx, store, trees, True).find(location)
        finder = _finder(ctx, store, trees, not _trusted(location))
        try:
            return finder.find(location)
        except RktError as fetch_err:
            fallback = default_image_path(os.path.basename(location))
            if not os.path.isfile(fallback):
                raise RktError("failed to fetch stage1 image", fetch_err) from fetch_err
            return _finder(ctx, store, trees, False).find(fallback)
    path = default_image_path()
    try:
        return _finder(ctx, store, trees, False).find(path)
    except RktError as e:
        raise RktError("failed to fall back to stage1 image in rkt directory", e) from e
