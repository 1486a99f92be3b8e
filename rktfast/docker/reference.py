"""Docker image references as rkt took them (SPEC §8): ``docker://[HOST[:PORT]/]NAME[:TAG|@DIGEST]``.

Docker's normalisation applies: ``redis`` is ``registry-1.docker.io/library/redis:latest``;
the first path segment is a registry host only if it holds a ``.`` or ``:`` or is
``localhost``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from rktfast.errors import ImageError

DEFAULT_REGISTRY = "registry-1.docker.io"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
SYNTAX = ('expected syntax is "docker://[REGISTRY_HOST[:REGISTRY_PORT]/]IMAGE_NAME[:TAG]"')


@dataclass(frozen=True)
class DockerRef:
    registry: str  # host[:port]
    repository: str  # e.g. library/redis
    tag: str | None  # None when a digest is given
    digest: str | None
    original: str  # as typed, e.g. docker://redis

    @property
    def reference(self) -> str:
        """What goes into /v2/<repo>/manifests/<reference>."""
        return self.digest or self.tag or "latest"

    @property
    def appc_name(self) -> str:
        """The converted image's name: ``<registry>/<repository>``, sanitised to an
        ACIdentifier (``127.0.0.1:5000`` becomes ``127.0.0.1_5000``)."""
        from rktfast.appc.types import sanitize_ac_identifier

        return sanitize_ac_identifier(f"{self.registry}/{self.repository}")


def parse(url: str) -> DockerRef:
    """Parse ``docker://…`` or ``docker:…`` into a normalised reference."""
    if url.startswith("docker://"):
        rest = url[len("docker://"):]
    elif url.startswith("docker:"):
        rest = url[len("docker:"):]
    else:
        rest = url
    bad = ImageError(f"invalid docker URL {url!r}; {SYNTAX}")
    if not rest or rest != rest.strip():
        raise bad
    digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise bad
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.match(tag):
            raise bad
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, parts = parts[0], parts[1:]
    else:
        registry = DEFAULT_REGISTRY
    if registry in ("docker.io", "index.docker.io"):
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and len(parts) == 1:
        parts = ["library"] + parts
    if not parts or not all(_COMPONENT.match(p) for p in parts):
        raise bad
    if tag is None and digest is None:
        tag = "latest"
    return DockerRef(registry, "/".join(parts), tag, digest, url)


def is_local_source(arg: str) -> bool:
    """``oci:DIR[:TAG]`` naming an existing directory, or ``docker-archive:FILE[…]`` naming an
    existing file (an appc name like ``oci:1.0`` is left alone)."""
    if arg.startswith("oci:"):
        return split_oci(arg[4:]) is not None
    if arg.startswith("docker-archive:"):
        return split_archive(arg[len("docker-archive:"):]) is not None
    return False


def split_oci(rest: str) -> tuple[str, str | None] | None:
    if os.path.isdir(rest):
        return rest, None
    path, _, tag = rest.rpartition(":")
    if path and _TAG.match(tag) and os.path.isdir(path):
        return path, tag
    return None


def split_archive(rest: str) -> tuple[str, str | None] | None:
    if os.path.isfile(rest):
        return rest, None
    i = rest.find(":")
    while i > 0:
        if os.path.isfile(rest[:i]):
            return rest[:i], rest[i + 1:] or None
        i = rest.find(":", i + 1)
    return None
