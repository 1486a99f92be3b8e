"""Docker image config -> appc ImageManifest, with docker2aci's rules (SPEC §8)."""

from __future__ import annotations

import hashlib
import json
import re

from rktfast.appc.image_manifest import ImageManifest
from rktfast.docker.reference import DockerRef

ARCH = {"amd64": "amd64", "386": "i386", "arm64": "aarch64", "ppc64le": "ppc64le",
        "s390x": "s390x"}


def appc_arch(arch: str, variant: str = "") -> str:
    if arch == "arm":
        return "armv6l" if variant == "v6" else "armv7l"
    return ARCH.get(arch, arch)


def _user_group(user: str) -> tuple[str, str]:
    if not user:
        return "0", "0"
    if ":" in user:
        u, g = user.split(":", 1)
        return u or "0", g or "0"
    return user, user


def _ports(exposed: dict | None) -> list[dict]:
    out = []
    for spec in exposed or {}:
        port, _, proto = spec.partition("/")
        proto = proto or "tcp"
        try:
            number = int(port)
        except ValueError:
            continue
        out.append({"name": f"{number}-{proto}", "protocol": proto, "port": number})
    return sorted(out, key=lambda p: p["name"])


def _mount_points(volumes: dict | None) -> list[dict]:
    out, seen = [], {}
    for path in sorted(volumes or {}):
        base = "volume-" + (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root")
        n = seen.get(base, 0)
        seen[base] = n + 1
        name = base if n == 0 else f"{base}-{n}"
        out.append({"name": name, "path": path, "readOnly": False})
    return sorted(out, key=lambda m: m["name"])


def image_manifest(ref: DockerRef, config: dict, manifest_bytes: bytes,
                   config_digest: str) -> ImageManifest:
    """The appc manifest of a converted Docker image."""
    cc = config.get("config") or config.get("container_config") or {}
    labels = []
    if ref.tag and not ref.digest:
        labels.append({"name": "version", "value": ref.tag})
    labels.append({"name": "os", "value": config.get("os") or "linux"})
    labels.append({"name": "arch",
                   "value": appc_arch(config.get("architecture") or "amd64",
                                      config.get("variant") or "")})
    entrypoint, cmd = cc.get("Entrypoint") or [], cc.get("Cmd") or []
    user, group = _user_group(cc.get("User") or "")
    app: dict = {"exec": list(entrypoint) + list(cmd), "user": user, "group": group}
    env = []
    for item in cc.get("Env") or []:
        name, _, value = item.partition("=")
        if name:
            env.append({"name": name, "value": value})
    if env:
        app["environment"] = env
    if cc.get("WorkingDir"):
        app["workingDirectory"] = cc["WorkingDir"]
    if ports := _ports(cc.get("ExposedPorts")):
        app["ports"] = ports
    if mps := _mount_points(cc.get("Volumes")):
        app["mountPoints"] = mps
    annotations = [
        {"name": "appc.io/docker/originalname", "value": ref.original.split("://", 1)[-1]},
        {"name": "appc.io/docker/registryurl", "value": ref.registry},
        {"name": "appc.io/docker/repository", "value": ref.repository},
        {"name": "appc.io/docker/imageid", "value": config_digest},
        {"name": "appc.io/docker/manifesthash",
         "value": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()},
        {"name": "appc.io/docker/entrypoint", "value": json.dumps(list(entrypoint))},
        {"name": "appc.io/docker/cmd", "value": json.dumps(list(cmd))},
    ]
    if config.get("created"):
        annotations.append({"name": "created", "value": config["created"]})
    if config.get("author"):
        annotations.append({"name": "authors", "value": config["author"]})
    doc = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": ref.appc_name,
           "labels": labels, "app": app if app["exec"] else None, "annotations": annotations}
    if doc["app"] is None:
        del doc["app"]
    return ImageManifest.parse(json.dumps(doc).encode())
