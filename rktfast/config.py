"""rkt's configuration directories: paths.d, stage1.d, auth.d (SPEC §3 "Config").

Layers are read in order system (``/usr/lib/rkt``) < local (``/etc/rkt``) < user; a later layer
overrides an earlier one field by field (paths, stage1) or domain by domain (auth). Only the
top-level ``*.json`` files of each ``<layer>/<kind>.d/`` are read, in lexical order; each needs
``rktKind`` and ``rktVersion: "v1"``.
"""

from __future__ import annotations

import os

from rktfast import fastjson
from rktfast.errors import RktError


class Config:
    """The merged configuration of every layer."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}
        self.stage1: dict[str, str] = {}
        # domain -> ("basic"|"oauth"|"aws", credentials dict)
        self.auth: dict[str, tuple[str, dict]] = {}
        # registry host -> credentials dict {"user","password"}
        self.docker_auth: dict[str, dict] = {}


def layers(g) -> list[str]:
    """The config directories of ``g`` (GlobalOptions) from lowest to highest precedence."""
    out = [g.system_config, g.local_config]
    if g.user_config:
        out.append(g.user_config)
    return out


def _json_files(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise RktError(f"failed to read configuration directory {directory!r}", e) from e
    return [os.path.join(directory, n) for n in names
            if n.endswith(".json") and os.path.isfile(os.path.join(directory, n))]


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError) as e:
        raise RktError(f"failed to parse config file {path!r}", e) from e
    if not isinstance(doc, dict):
        raise RktError(f"failed to parse config file {path!r}: not a JSON object")
    lowered = {k.lower(): v for k, v in doc.items()}
    if "rktkind" not in lowered or "rktversion" not in lowered:
        raise RktError(f"the configuration file {path!r} has no rktKind or rktVersion field")
    if lowered["rktversion"] != "v1":
        raise RktError(f"configuration file {path!r}: unsupported rktVersion "
                       f"{lowered['rktversion']!r}")
    return lowered


def load(g, kinds: tuple[str, ...] = ("paths", "stage1", "auth")) -> Config:
    """Read the requested kinds from every layer of ``g``."""
    cfg = Config()
    for layer in layers(g):
        if "paths" in kinds:
            for p in _json_files(os.path.join(layer, "paths.d")):
                doc = _read(p)
                for key in ("data", "stage1-images"):
                    if doc.get(key):
                        cfg.paths[key] = doc[key]
        if "stage1" in kinds:
            for p in _json_files(os.path.join(layer, "stage1.d")):
                doc = _read(p)
                for key in ("name", "version", "location"):
                    if doc.get(key):
                        cfg.stage1[key] = doc[key]
        if "auth" in kinds:
            seen_domains: set[str] = set()
            seen_registries: set[str] = set()
            for p in _json_files(os.path.join(layer, "auth.d")):
                doc = _read(p)
                creds = {k.lower(): v for k, v in (doc.get("credentials") or {}).items()}
                kind = str(doc["rktkind"]).lower()
                if kind == "auth":
                    for d in doc.get("domains") or []:
                        if d in seen_domains:
                            raise RktError(f"domain {d!r} configured twice in {layer}/auth.d")
                        seen_domains.add(d)
                        cfg.auth[d] = (doc.get("type", ""), creds)
                elif kind == "dockerauth":
                    for r in doc.get("registries") or []:
                        if r in seen_registries:
                            raise RktError(f"registry {r!r} configured twice in {layer}/auth.d")
                        seen_registries.add(r)
                        cfg.docker_auth[r] = creds
    return cfg


def data_dir_from_paths_d(g) -> str | None:
    """The ``data`` path from paths.d, used when --dir was not given."""
    try:
        return load(g, ("paths",)).paths.get("data")
    except RktError:
        return None
