"""Small pieces several commands share: opening the store, building a Finder."""

from __future__ import annotations

from rktfast.cli.command import Context


def open_store(ctx: Context, create: bool = True):
    from rktfast.store.imagestore import ImageStore
    from rktfast.store.treestore import TreeStore

    store = ImageStore(ctx.globals.dir, create=create)
    return store, TreeStore(store.cas)


def keystore(ctx: Context):
    from rktfast.trust.keystore import Keystore

    g = ctx.globals
    return Keystore(g.system_config, g.local_config, g.user_config or None)


class LazyKeystore:
    """The trust keystore, opened only when a signature has to be checked: ``rkt run`` of
    an image already in the store never needs it (and it imports the OpenPGP machinery)."""

    def __init__(self, ctx: Context):
        self._ctx = ctx
        self._ks = None

    def __getattr__(self, name):
        if self._ks is None:
            self._ks = keystore(self._ctx)
        return getattr(self._ks, name)


def make_finder(ctx: Context, store, trees, policy: str, with_keystore: bool = True):
    """A Finder honouring the global flags; ``with_keystore=False`` skips signature checks
    (the bundled stage1 needs none)."""
    from rktfast.fetch.finder import FetchOptions, Finder

    insecure = ctx.globals.insecure("image") or not with_keystore
    opts = FetchOptions(policy=policy, insecure_image=insecure, globals=ctx.globals,
                        keystore=None if insecure else LazyKeystore(ctx))
    return Finder(store, trees, opts,
                  log=lambda line: ctx.warn(line, "image"),
                  debug=lambda line: ctx.debug(line, "image"))


def pull_policy(ctx: Context, default: str) -> str:
    """--pull-policy with the deprecated spellings of SPEC §1.3/§1.6."""
    from rktfast.errors import UsageError

    f = ctx.flags
    policy = f.get("pull-policy") or default
    if policy not in ("never", "new", "update"):
        raise UsageError(f'invalid argument "{policy}" for "--pull-policy" flag: must be one of '
                         '"never", "new" or "update"')
    legacy = [n for n in ("store-only", "no-store", "local") if f.get(n)]
    if len(legacy) > 1 or (legacy and "pull-policy" in ctx.set_flags):
        raise UsageError("--pull-policy, --store-only, --no-store and --local are mutually "
                         "exclusive")
    if f.get("store-only") or f.get("local"):
        return "never"
    if f.get("no-store"):
        return "update"
    return policy


def resolve_image(store, arg: str) -> str:
    """An image ID prefix or an appc name (with labels) -> a key in the store."""
    from rktfast.errors import StoreError

    if arg.startswith("sha512-"):
        return store.resolve_key(arg)
    from rktfast.appc.types import parse_image_name

    name, labels = parse_image_name(arg)
    key = store.find_by_name(name, labels)
    if key is None:
        raise StoreError(f'no image named "{arg}" found in the store')
    return key


def check_output_path(path: str, overwrite: bool) -> None:
    import os

    from rktfast.errors import RktError

    if os.path.lexists(path) and not overwrite:
        raise RktError(f'output path "{path}" already exists (use --overwrite)')
