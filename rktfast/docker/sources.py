"""Where a Docker/OCI image comes from: a registry, an OCI layout, a docker-archive tarball.

Each source resolves to verified ``ImageDocs`` (manifest, config, layer descriptors) and
opens layer blobs as streams; the rest of the fetch (layer cache, conversion, squash) is
the same for all three:

- ``docker://[HOST[:PORT]/]NAME[:TAG|@DIGEST]`` and ``docker:…`` — a Docker Registry v2;
- ``oci:DIR[:TAG]`` — an OCI image layout (as ``skopeo copy``/``umoci`` write it);
- ``docker-archive:FILE[:NAME:TAG]`` — a ``docker save`` tarball (beyond rkt).
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from dataclasses import dataclass

from rktfast.docker import reference
from rktfast.docker.manifest import (
    Descriptor,
    ImageDocs,
    check_digest,
    digest_of,
    is_index,
    load_json,
    media_type,
    parse_config,
    parse_image_manifest,
    select_platform,
    verify_bytes,
)
from rktfast.docker.reference import DockerRef, split_archive, split_oci
from rktfast.docker.registry import CONFIG_LIMIT, MANIFEST_LIMIT, RegistryClient, RegistrySettings
from rktfast.errors import ImageError

OCI_REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class Opened:
    """A layer blob being read: ``read(n)``, ``close()``; ``size`` when known up front."""

    stream: object
    size: int | None

    def read(self, n: int) -> bytes:
        return self.stream.read(n)

    def close(self) -> None:
        self.stream.close()


class RegistrySource:
    """An image in a Docker Registry v2."""

    kind = "registry"

    def __init__(self, arg: str, settings: RegistrySettings, debug=lambda line: None):
        self.ref = reference.parse(arg)
        rest = arg.split(":", 1)[1]
        self.remote_key = "docker://" + (rest[2:] if rest.startswith("//") else rest)
        self.client = RegistryClient(self.ref.registry, self.ref.repository, settings, debug)
        self.debug = debug

    def _manifest(self, reference_: str, expect: str | None) -> tuple[bytes, str, str]:
        raw, header_type, header_digest = self.client.manifest(reference_)
        what = f"manifest {reference_}"
        if expect is not None:
            verify_bytes(raw, expect, what)
            digest = expect
        elif header_digest:
            check_digest(header_digest, f"{what} (Docker-Content-Digest)")
            verify_bytes(raw, header_digest, what)
            digest = header_digest
        else:
            digest = digest_of(raw)
        return raw, header_type, digest

    def resolve(self) -> ImageDocs:
        raw, header_type, digest = self._manifest(self.ref.reference, self.ref.digest)
        mt = media_type(load_json(raw, "manifest"), header_type)
        if is_index(mt):
            entry = select_platform(load_json(raw, "image index"),
                                    f"image index of {self.ref.registry}/{self.ref.repository}")
            self.debug(f"image index: using {entry.digest} for "
                       f"{entry.platform.get('os')}/{entry.platform.get('architecture')}")
            raw, header_type, digest = self._manifest(entry.digest, entry.digest)
            mt = media_type(load_json(raw, "manifest"), header_type or entry.media_type)
        config, layers = parse_image_manifest(raw, mt, f"manifest {digest}")
        cfg_raw = self.client.small_blob(config.digest)
        verify_bytes(cfg_raw, config.digest, "image config")
        cfg, diff_ids = parse_config(cfg_raw, len(layers), "image config")
        return ImageDocs(raw, digest, cfg, config.digest, layers, diff_ids)

    def open_layer(self, desc: Descriptor) -> Opened:
        resp = self.client.blob(desc.digest)
        length = resp.content_length
        if length is not None and length != desc.size:
            resp.close()
            raise ImageError(f"layer {desc.digest}: the registry sends {length} bytes, its "
                             f"descriptor declares {desc.size}")
        return Opened(resp, desc.size)

    def close(self) -> None:
        pass


def _read_capped(path: str, limit: int, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ImageError(f"cannot read {what}", e) from e
    if len(data) > limit:
        raise ImageError(f"{what} is larger than {limit} bytes")
    return data


class OCILayoutSource:
    """An image of an OCI image layout directory: ``oci:DIR[:TAG]``."""

    kind = "oci"

    def __init__(self, arg: str):
        split = split_oci(arg[4:])
        if split is None:
            raise ImageError(f"{arg!r}: not an OCI image layout directory")
        self.dir, self.tag = os.path.abspath(split[0]), split[1]
        if not os.path.isfile(os.path.join(self.dir, "oci-layout")):
            raise ImageError(f"{self.dir}: not an OCI image layout (no oci-layout file)")
        name = os.path.basename(self.dir.rstrip("/")) or "image"
        self.ref = DockerRef("", _repository_name(name), self.tag or "latest", None, arg)
        self.remote_key = f"oci:{self.dir}:{self.tag or ''}"

    def _blob_path(self, digest: str) -> str:
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.dir, "blobs", algo, hexd)

    def _small(self, desc: Descriptor, limit: int, what: str) -> bytes:
        data = _read_capped(self._blob_path(desc.digest), limit, what)
        verify_bytes(data, desc.digest, what)
        return data

    def resolve(self) -> ImageDocs:
        index = load_json(_read_capped(os.path.join(self.dir, "index.json"), MANIFEST_LIMIT,
                                       "index.json"), "index.json")
        entries = index.get("manifests")
        if not isinstance(entries, list):
            raise ImageError(f"{self.dir}/index.json: no manifests")
        chosen = None
        tags = []
        for i, e in enumerate(entries):
            d = Descriptor.parse(e, f"index.json entry {i}")
            tag = ((e.get("annotations") or {}) if isinstance(e, dict) else {}).get(OCI_REF_NAME)
            tags.append(str(tag))
            if self.tag is None and len(entries) == 1 or tag == self.tag:
                chosen = d
        if chosen is None:
            want = f"tag {self.tag!r}" if self.tag else "a tag (the layout holds several images)"
            raise ImageError(f"{self.dir}: no image for {want}; tags: {', '.join(tags)}")
        raw = self._small(chosen, MANIFEST_LIMIT, "manifest")
        mt = media_type(load_json(raw, "manifest"), chosen.media_type)
        if is_index(mt):
            entry = select_platform(load_json(raw, "image index"), f"image index of {self.dir}")
            chosen = entry
            raw = self._small(entry, MANIFEST_LIMIT, "manifest")
            mt = media_type(load_json(raw, "manifest"), entry.media_type)
        config, layers = parse_image_manifest(raw, mt, f"manifest {chosen.digest}")
        cfg_raw = self._small(config, CONFIG_LIMIT, "image config")
        cfg, diff_ids = parse_config(cfg_raw, len(layers), "image config")
        return ImageDocs(raw, chosen.digest, cfg, config.digest, layers, diff_ids)

    def open_layer(self, desc: Descriptor) -> Opened:
        try:
            return Opened(open(self._blob_path(desc.digest), "rb"), desc.size)
        except OSError as e:
            raise ImageError(f"layer {desc.digest}: missing from {self.dir}", e) from e

    def close(self) -> None:
        pass


def _repository_name(name: str) -> str:
    clean = re.sub(r"[^a-z0-9._/-]+", "-", name.lower()).strip("-._/")
    return clean or "image"


class _Slice:
    """A read-only window of a file."""

    def __init__(self, path: str, offset: int, size: int):
        self._f = open(path, "rb")
        self._f.seek(offset)
        self._left = size

    def read(self, n: int) -> bytes:
        data = self._f.read(min(n, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._f.close()


class DockerArchiveSource:
    """An image of a ``docker save`` tarball: ``docker-archive:FILE[:NAME:TAG]``."""

    kind = "docker-archive"

    def __init__(self, arg: str):
        split = split_archive(arg[len("docker-archive:"):])
        if split is None:
            raise ImageError(f"{arg!r}: no such docker archive")
        self.file, self.want = os.path.abspath(split[0]), split[1]
        self.remote_key = f"docker-archive:{self.file}:{self.want or ''}"
        try:
            with tarfile.open(self.file, "r:") as tar:
                self.members = {m.name.removeprefix("./"): m
                                for m in tar.getmembers() if m.isfile()}
        except (OSError, tarfile.TarError) as e:
            raise ImageError(f"{self.file}: not a readable (uncompressed) docker archive",
                             e) from e
        self.ref = DockerRef("", "image", "latest", None, arg)

    def _member(self, name: str, limit: int | None = None) -> tuple[int, int]:
        m = self.members.get(name)
        if m is None:
            raise ImageError(f"{self.file}: {name!r} missing from the archive")
        if limit is not None and m.size > limit:
            raise ImageError(f"{self.file}: {name!r} is larger than {limit} bytes")
        return m.offset_data, m.size

    def _read(self, name: str, limit: int) -> bytes:
        off, size = self._member(name, limit)
        s = _Slice(self.file, off, size)
        try:
            return s.read(size)
        finally:
            s.close()

    def resolve(self) -> ImageDocs:
        raw = self._read("manifest.json", MANIFEST_LIMIT)
        try:
            items = json.loads(raw)
        except ValueError as e:
            raise ImageError(f"{self.file}: manifest.json is not valid JSON: {e}") from None
        if not isinstance(items, list) or not items:
            raise ImageError(f"{self.file}: manifest.json lists no image")
        item = None
        for it in items:
            tags = (it.get("RepoTags") or []) if isinstance(it, dict) else []
            if self.want is None or self.want in tags:
                item = it
                break
        if not isinstance(item, dict):
            raise ImageError(f"{self.file}: no image tagged {self.want!r}")
        tags = item.get("RepoTags") or []
        if tags and isinstance(tags[0], str):
            try:
                self.ref = reference.parse("docker://" + (self.want or tags[0]))
                self.ref = DockerRef(self.ref.registry, self.ref.repository, self.ref.tag,
                                     None, f"docker-archive:{self.file}")
            except ImageError:
                pass
        else:
            base = os.path.basename(self.file).rsplit(".", 1)[0]
            self.ref = DockerRef("", _repository_name(base), "latest", None,
                                 f"docker-archive:{self.file}")
        cfg_name = item.get("Config")
        if not isinstance(cfg_name, str):
            raise ImageError(f"{self.file}: manifest.json names no config")
        cfg_raw = self._read(cfg_name, CONFIG_LIMIT)
        layer_names = item.get("Layers")
        if not isinstance(layer_names, list) or not all(isinstance(x, str) for x in layer_names):
            raise ImageError(f"{self.file}: manifest.json names no layers")
        cfg, diff_ids = parse_config(cfg_raw, len(layer_names), "image config")
        layers = []
        self.layer_members = {}
        for i, name in enumerate(layer_names):
            _off, size = self._member(name)
            m = re.match(r"^blobs/(sha256)/([0-9a-f]{64})$", name)
            if m:
                digest = f"{m.group(1)}:{m.group(2)}"
            elif diff_ids is not None:
                digest = diff_ids[i]  # docker save writes layers uncompressed
            else:
                raise ImageError(f"{self.file}: the config has no diff IDs for its layers")
            d = Descriptor("", digest, size)
            layers.append(d)
            self.layer_members[digest] = name
        return ImageDocs(json.dumps(item, separators=(",", ":")).encode(),
                         digest_of(cfg_raw), cfg, digest_of(cfg_raw), layers, diff_ids)

    def open_layer(self, desc: Descriptor) -> Opened:
        off, size = self._member(self.layer_members[desc.digest])
        return Opened(_Slice(self.file, off, size), size)

    def close(self) -> None:
        pass


def open_source(arg: str, settings: RegistrySettings, debug=lambda line: None):
    """The source an IMAGE argument names."""
    if arg.startswith("oci:"):
        return OCILayoutSource(arg)
    if arg.startswith("docker-archive:"):
        return DockerArchiveSource(arg)
    return RegistrySource(arg, settings, debug)
