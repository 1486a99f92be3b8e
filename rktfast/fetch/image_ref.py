"""What an IMAGE argument names (SPEC §1.5 resolution order)."""

from __future__ import annotations

import os

from rktfast.record import Record


class ImageRef(Record):
    __slots__ = ("kind", "value")  # kind: "hash", "file", "url", "docker" or "name"


def classify(arg: str) -> ImageRef:
    """Classify an IMAGE argument: store hash, local file, archive URL, docker, appc name."""
    if arg.startswith("sha512-"):
        return ImageRef("hash", arg)
    if arg.startswith("file://"):
        return ImageRef("file", arg[len("file://"):])
    if arg.startswith(("http://", "https://")):
        return ImageRef("url", arg)
    if arg.startswith(("docker://", "docker:")):
        return ImageRef("docker", arg)
    if arg.startswith(("oci:", "docker-archive:")):  # oci:DIR[:TAG], docker-archive:FILE
        from rktfast.docker.reference import is_local_source  # (beyond rkt)

        if is_local_source(arg):
            return ImageRef("docker", arg)
    if (os.path.isfile(arg) or arg.startswith("/") or "./" in arg or arg.endswith(".aci")):
        return ImageRef("file", arg)
    return ImageRef("name", arg)
