"""Garbage collection of the image store (SPEC §4 "image gc").

Trees no pod references are removed, then images unused for the grace period, then whatever
a crash left behind: temp files of dead processes, interrupted downloads left for a resume
that did not come within the grace period, and blobs that no index row names.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from rktfast.store.imagestore import ImageStore
from rktfast.store.index import now_ns
from rktfast.store.locks import prepare_lock
from rktfast.store.treestore import TreeStore


def _glob(pattern: str) -> list[str]:
    import glob

    return glob.glob(pattern)


POD_STATES_USING_TREES = ("prepare", "prepared", "run", "exited-garbage")


def referenced_trees(data_dir: str) -> set[str]:
    """Tree IDs named by pods that may still mount them."""
    refs: set[str] = set()
    for state in POD_STATES_USING_TREES:
        pattern = os.path.join(data_dir, "pods", state, "*")
        for pod in _glob(pattern):
            for p in [os.path.join(pod, "stage1TreeStoreID")] + \
                    _glob(os.path.join(pod, "appsinfo", "*", "treeStoreID")):
                try:
                    with open(p) as f:
                        refs.add(f.read().strip())
                except OSError:
                    pass
    return refs


def images_of_running_pods(data_dir: str) -> set[str]:
    keys: set[str] = set()
    for manifest in _glob(os.path.join(data_dir, "pods", "run", "*", "pod")):
        try:
            import json
            with open(manifest) as f:
                doc = json.load(f)
            for app in doc.get("apps") or []:
                keys.add((app.get("image") or {}).get("id", ""))
        except (OSError, ValueError):
            pass
    return keys


def collect(store: ImageStore, trees: TreeStore, grace_ns: int,
            on_tree: Callable[[str], None], on_image: Callable[[str], None],
            on_error: Callable[[str, Exception], None]) -> tuple[int, int]:
    """Run image gc; returns (images removed, images that could not be removed)."""
    data_dir = store.data_dir
    with prepare_lock(data_dir).exclusive():
        used = referenced_trees(data_dir)
        for tid in trees.list_ids():
            if tid not in used:
                trees.remove(tid)
                on_tree(tid)
    removed = failed = 0
    in_use = images_of_running_pods(data_dir)
    cutoff = now_ns() - grace_ns
    for info in store.index.all_images():
        if info.last_used >= cutoff or info.key in in_use:
            continue
        try:
            store.remove(info.key)
        except Exception as e:
            on_error(info.key, e)
            failed += 1
            continue
        on_image(info.key)
        removed += 1
    store.clean_tmp()
    from rktfast.fetch.remote import remove_stale_partials

    remove_stale_partials(store.tmp_dir, cutoff)  # interrupted downloads nobody resumed
    _remove_orphan_blobs(store)
    from rktfast.docker.layers import LayerStore

    LayerStore(store.cas, store.index, store.tmp_dir).gc(grace_ns)
    return removed, failed


def _remove_orphan_blobs(store: ImageStore) -> None:
    """Blobs whose index row was never written (a crash between rename and commit)."""
    known = {i.key for i in store.index.all_images()}
    for kind in ("blob", "imageManifest"):
        for path in _glob(os.path.join(store.cas, kind, "sha512", "*", "sha512-*")):
            key = os.path.basename(path)
            if key in known:
                continue
            with store.lock(key).exclusive():
                if store.index.get(key) is None:
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
