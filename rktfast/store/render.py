"""Render an image and its dependencies into the tree store (appc rendering rules, SPEC §6).

Dependencies are found in the store by imageName + labels (imageID must match when given) and
rendered depth-first, lowest first, later images overwriting earlier ones: for A -> [B, C] and
C -> [D] the order is B, D, C, A. The top image's ``pathWhitelist`` filters the merged tree.
"""

from __future__ import annotations

import os

from rktfast.errors import StoreError
from rktfast.store.treestore import tree_id

TYPE_CHECKING = False  # typing is not imported at run time
if TYPE_CHECKING:
    from rktfast.store.imagestore import ImageStore
    from rktfast.store.treestore import TreeStore

MAX_DEPTH = 64


def render_chain(store: ImageStore, key: str) -> list[str]:
    """Image keys in render order (dependencies first, ``key`` last)."""
    from rktfast.store.imagestore import manifest_dependencies

    order: list[str] = []

    def visit(k: str, depth: int, path: tuple[str, ...]) -> None:
        if depth > MAX_DEPTH or k in path:
            raise StoreError(f"image dependency loop or chain too deep at {k}")
        raw = store.read_manifest_bytes(k)
        try:
            if not manifest_dependencies(raw):  # the common case: no appc parser needed
                order.append(k)
                return
        except ValueError:
            pass  # let the full parser report it
        from rktfast.appc.image_manifest import ImageManifest

        m = ImageManifest.parse(raw)
        for dep in m.dependencies:
            labels = {lb.name: lb.value for lb in dep.labels}
            if dep.image_id:
                try:
                    dk = store.resolve_key(dep.image_id)
                except StoreError as e:
                    raise StoreError(f"dependency {dep.image_name} ({dep.image_id}) of "
                                     f"{m.name} is not in the store", e) from e
            else:
                dk = store.find_by_name(dep.image_name, labels)
                if dk is None:
                    raise StoreError(f"dependency {dep.image_name} of {m.name} is not in the "
                                     "store")
            visit(dk, depth + 1, path + (k,))
        order.append(k)

    visit(key, 0, ())
    return order


def render_image(store: ImageStore, trees: TreeStore, key: str) -> str:
    """Make sure the tree for ``key`` is rendered; return its tree ID."""
    from rktfast.appc.image_manifest import ImageManifest
    from rktfast.fetch.extract import render_blobs

    chain = render_chain(store, key)
    tid = tree_id(chain)
    if trees.is_rendered(tid):
        return tid
    whitelist = ImageManifest.parse(store.read_manifest_bytes(key)).path_whitelist or None
    tmp = os.path.join(trees.tmp_dir, f".tmp-{os.getpid()}-tree-{os.urandom(6).hex()}")
    os.makedirs(tmp, mode=0o700)
    try:
        render_blobs([store.blob_path(k) for k in chain], tmp, whitelist=whitelist)
        trees.adopt(tid, tmp, key)
    except BaseException:
        trees.discard(tmp)
        raise
    store.index.set_tree_size(key, trees.size(tid))
    return tid
