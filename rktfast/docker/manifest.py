"""Image manifests, indexes and configs of Docker schema 2 and OCI (SPEC §8).

Everything that arrives is checked before use: digests have a known algorithm and the right
length (they become file names), every document's bytes hash to the digest that named them,
an index resolves to exactly one linux/<host arch> entry, layers have a tar media type.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from dataclasses import dataclass

from rktfast.docker.registry import (
    MT_DOCKER_LIST,
    MT_DOCKER_MANIFEST,
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
)
from rktfast.errors import ImageError

DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
MAX_LAYERS = 256
LAYER_TYPES = (
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "",  # docker-archive layers carry no media type
)
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
         "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


def host_arch() -> str:
    """The host's architecture in Go's spelling (``amd64``, ``arm64`` …)."""
    m = platform.machine()
    return _ARCH.get(m, m)


def check_digest(digest: object, what: str) -> str:
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ImageError(f"{what}: invalid digest {str(digest)[:80]!r}")
    return digest


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify_bytes(data: bytes, digest: str, what: str) -> None:
    """``data`` must hash to ``digest``."""
    got = digest_of(data, digest.split(":", 1)[0])
    if got != digest:
        raise ImageError(f"{what}: digest mismatch: expected {digest}, got {got}")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict | None = None

    @classmethod
    def parse(cls, doc: object, what: str) -> Descriptor:
        if not isinstance(doc, dict):
            raise ImageError(f"{what}: not a descriptor")
        size = doc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ImageError(f"{what}: invalid size {size!r}")
        media = doc.get("mediaType") or ""
        if not isinstance(media, str):
            raise ImageError(f"{what}: invalid media type")
        plat = doc.get("platform")
        return cls(media, check_digest(doc.get("digest"), what), size,
                   plat if isinstance(plat, dict) else None)


@dataclass
class ImageDocs:
    """A resolved image: its manifest, config and layers, all verified."""

    manifest: bytes
    manifest_digest: str
    config: dict
    config_digest: str
    layers: list[Descriptor]
    diff_ids: list[str] | None  # from the config, when it names one per layer


def load_json(raw: bytes, what: str) -> dict:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{what} is not a JSON object")
    return doc


def media_type(raw_doc: dict, header_type: str) -> str:
    """The manifest's kind: its ``mediaType`` field, else the Content-Type it came with,
    else guessed from its shape."""
    mt = raw_doc.get("mediaType") or ""
    if mt:
        return mt
    if header_type in (MT_DOCKER_MANIFEST, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_OCI_INDEX):
        return header_type
    if "manifests" in raw_doc:
        return MT_OCI_INDEX
    if "layers" in raw_doc and "config" in raw_doc:
        return MT_OCI_MANIFEST
    if raw_doc.get("schemaVersion") == 1:
        return "schema1"
    return header_type or "unknown"


def is_index(mt: str) -> bool:
    return mt in (MT_DOCKER_LIST, MT_OCI_INDEX)


def select_platform(doc: dict, what: str) -> Descriptor:
    """The entry of an index for linux and the host architecture."""
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise ImageError(f"{what}: invalid image index")
    arch = host_arch()
    seen = []
    for i, e in enumerate(entries):
        d = Descriptor.parse(e, f"{what} entry {i}")
        plat = d.platform or {}
        os_, a = plat.get("os", ""), plat.get("architecture", "")
        seen.append(f"{os_}/{a}" + (f"/{plat['variant']}" if plat.get("variant") else ""))
        if os_ == "linux" and a == arch and not is_index(d.media_type):
            return d
    raise ImageError(f"{what}: no image for linux/{arch} in the index (it has: "
                     f"{', '.join(seen) or 'nothing'})")


def parse_image_manifest(raw: bytes, mt: str, what: str) -> tuple[Descriptor, list[Descriptor]]:
    """(config, layers) of a schema-2 or OCI image manifest."""
    doc = load_json(raw, what)
    if mt == "schema1" or doc.get("schemaVersion") == 1:
        raise ImageError(f"{what}: Docker schema 1 manifests are not supported")
    if mt not in (MT_DOCKER_MANIFEST, MT_OCI_MANIFEST):
        raise ImageError(f"{what}: unsupported manifest media type {mt!r}")
    config = Descriptor.parse(doc.get("config"), f"{what} config")
    layers_doc = doc.get("layers")
    if not isinstance(layers_doc, list):
        raise ImageError(f"{what}: no layers")
    if len(layers_doc) > MAX_LAYERS:
        raise ImageError(f"{what}: too many layers ({len(layers_doc)})")
    layers = [Descriptor.parse(x, f"{what} layer {i}") for i, x in enumerate(layers_doc)]
    for i, layer in enumerate(layers):
        if layer.media_type not in LAYER_TYPES:
            raise ImageError(f"{what} layer {i}: unsupported media type {layer.media_type!r}")
    return config, layers


def parse_config(raw: bytes, n_layers: int, what: str) -> tuple[dict, list[str] | None]:
    """The config document and its diff IDs (None when they do not match the layers)."""
    doc = load_json(raw, what)
    rootfs = doc.get("rootfs") if isinstance(doc.get("rootfs"), dict) else {}
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != n_layers:
        return doc, None
    return doc, [check_digest(d, f"{what} diff_id") for d in diff_ids]
