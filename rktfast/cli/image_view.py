"""How images appear in listings: display names and the rows of ``image list``."""

from __future__ import annotations

from rktfast.store.imagestore import ImageStore
from rktfast.store.index import ImageInfo


def display_name(store: ImageStore, info: ImageInfo) -> str:
    """``name:version`` when the image has a version label, else the name."""
    from rktfast.appc.image_manifest import ImageManifest

    try:
        m = ImageManifest.parse(store.read_manifest_bytes(info.key))
    except Exception:
        return info.name
    version = m.label("version")
    return f"{info.name}:{version}" if version else info.name
