"""How images appear in listings: display names and the rows of ``image list``."""

from __future__ import annotations

from rktfast.store.imagestore import ImageStore, manifest_labels
from rktfast.store.index import ImageInfo


def display_name(store: ImageStore, info: ImageInfo) -> str:
    """``name:version`` when the image has a version label, else the name. (Stored
    manifests were validated when fetched: a plain JSON read of the labels is enough.)"""
    try:
        version = manifest_labels(store.read_manifest_bytes(info.key)).get("version")
    except Exception:
        return info.name
    return f"{info.name}:{version}" if version else info.name
