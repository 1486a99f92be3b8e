"""The pod manifest stage0 writes (SPEC §6 "PodManifest"): generated from the images and the
command line, or read from ``--pod-manifest`` and checked.

Everything is plain JSON data in Go's field order, written with Go's encoder rules: what rkt
wrote is what we write, so an upstream stage1 reads it unchanged.
"""

from __future__ import annotations

import os

from rktfast.errors import PodError
from rktfast.record import Record

RKT_VERSION = "1.30.0"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Go field order of appc's types.App and friends: (json name, omitempty).
_APP_FIELDS = (("exec", False), ("eventHandlers", True), ("user", False), ("group", False),
               ("supplementaryGIDs", True), ("workingDirectory", True), ("environment", True),
               ("isolators", True), ("mountPoints", True), ("ports", True),
               ("userAnnotations", True), ("userLabels", True))
_SUB_FIELDS = {
    "eventHandlers": (("name", False), ("exec", False)),
    "environment": (("name", False), ("value", False)),
    "isolators": (("name", False), ("value", False)),
    "mountPoints": (("name", False), ("path", False), ("readOnly", True)),
    "ports": (("name", False), ("protocol", False), ("port", False), ("count", False),
              ("socketActivated", False)),
}
# What Go writes for an absent field that has no omitempty: its zero value (appc's Port
# decoder makes a zero count 1). Slices, maps and raw JSON stay null.
_ZERO = {"user": "", "group": "", "name": "", "protocol": "", "port": 0, "count": 1,
         "socketActivated": False}


class AppRequest(Record):
    """One app of the command line: its image key and the per-app flags that followed it."""

    __slots__ = ("image", "key", "flags", "args")
    _defaults = {"key": "", "flags": dict, "args": None}


class PodRequest(Record):
    """The pod the command line asks for; ``mounts`` given before any image apply to all."""

    __slots__ = ("apps", "volumes", "mounts", "ports", "inherit_env", "env_from_files",
                 "explicit_env", "mutable")
    _defaults = {"volumes": list, "mounts": list, "ports": list, "inherit_env": False,
                 "env_from_files": list, "explicit_env": list, "mutable": False}


def _norm_obj(obj, fields) -> dict:
    """A JSON object (any key case, as Go decodes) rebuilt with canonical keys in Go order."""
    from rktfast.output.gojson import JsonObject, fold_key

    if isinstance(obj, JsonObject):
        pairs = list(obj)
    elif isinstance(obj, dict):
        pairs = list(obj.items())
    else:
        return obj
    by_key = {}
    for k, v in pairs:
        by_key[fold_key(k)] = v
    out = {}
    for name, omitempty in fields:
        v = by_key.get(name.lower())
        if v is None and name.lower() not in by_key:
            if not omitempty:
                out[name] = _ZERO.get(name)
            continue
        if name == "count" and v == 0:
            v = 1
        if omitempty and (v is None or v == "" or v == [] or v is False
                          or (hasattr(v, "__len__") and not isinstance(v, str) and len(v) == 0)):
            continue
        sub = _SUB_FIELDS.get(name)
        if sub is not None and isinstance(v, list):
            v = [_norm_obj(x, sub) for x in v]
        out[name] = v
    return out


def norm_app(app) -> dict | None:
    """An image's ``app`` section in Go's field order (None stays None)."""
    if app is None:
        return None
    return _norm_obj(app, _APP_FIELDS)


def load_image_manifest(store, key: str):
    """The stored image manifest of ``key`` as a JsonObject (Go-style decoding)."""
    from rktfast.output.gojson import loads

    return loads(store.read_manifest_bytes(key))


def _get(obj, name, default=None):
    """A field of a decoded JSON object (JsonObject pairs or a plain dict), Go-style
    case-insensitive."""
    from rktfast.output.gojson import get_ci

    if isinstance(obj, dict):
        obj = obj.items()
    return get_ci(obj, name, default)


def image_labels(manifest) -> list[dict]:
    out = []
    for lb in _get(manifest, "labels") or []:
        out.append({"name": _get(lb, "name"), "value": _get(lb, "value")})
    return out


def env_set(env: list[dict], name: str, value: str) -> None:
    for e in env:
        if e["name"] == name:
            e["value"] = value
            return
    env.append({"name": name, "value": value})


def _merge_env(env: list[dict], pairs, override: bool) -> None:
    have = {e["name"] for e in env}
    for k, v in pairs:
        if override or k not in have:
            env_set(env, k, v)
            have.add(k)


def _replace_isolators(isolators: list, iso: dict, names: tuple[str, ...]) -> list:
    out = [i for i in isolators if _get(i, "name") not in names]
    out.append(iso)
    return out


def _quantity(value: str, flag: str) -> str:
    from rktfast.units import parse_quantity

    try:
        return str(parse_quantity(value))
    except Exception as e:
        raise PodError(f'invalid argument "{value}" for "--{flag}" flag: {e}') from None


def apply_isolator_flags(app: dict, flags: dict) -> None:
    """rkt's prepareIsolators: --memory, --cpu, --cpu-shares, --oom-score-adj, --caps-*,
    --seccomp override or add isolators of the app."""
    isolators = list(app.get("isolators") or [])
    if "memory" in flags:
        q = _quantity(flags["memory"], "memory")
        from rktfast.units import quantity_bytes

        if quantity_bytes(q) < 4096:
            raise PodError(f'invalid argument "{flags["memory"]}" for "--memory" flag: memory '
                           "limit must be at least 4096 bytes")
        isolators.append({"name": "resource/memory", "value": {"request": q, "limit": q}})
    if "cpu" in flags:
        q = _quantity(flags["cpu"], "cpu")
        isolators.append({"name": "resource/cpu", "value": {"request": q, "limit": q}})
    if "cpu-shares" in flags:
        try:
            n = int(flags["cpu-shares"])
        except ValueError:
            raise PodError(f'invalid argument "{flags["cpu-shares"]}" for "--cpu-shares" '
                           "flag") from None
        isolators = _replace_isolators(isolators, {"name": "os/linux/cpu-shares", "value": n},
                                       ("os/linux/cpu-shares",))
    if "oom-score-adj" in flags:
        try:
            n = int(flags["oom-score-adj"])
        except ValueError:
            raise PodError(f'invalid argument "{flags["oom-score-adj"]}" for "--oom-score-adj" '
                           "flag") from None
        if not -1000 <= n <= 1000:
            raise PodError(f'invalid argument "{n}" for "--oom-score-adj" flag: oom-score-adj '
                           "must be between -1000 and 1000")
        isolators = _replace_isolators(isolators, {"name": "os/linux/oom-score-adj",
                                                   "value": n}, ("os/linux/oom-score-adj",))
    retain, remove = flags.get("caps-retain"), flags.get("caps-remove")
    if retain is not None and remove is not None:
        raise PodError("error: cannot use both --caps-retain and --caps-remove on the same image")
    if retain is not None or remove is not None:
        caps_names = ("os/linux/capabilities-retain-set", "os/linux/capabilities-remove-set")
        isolators = [i for i in isolators if _get(i, "name") not in caps_names]
        name = caps_names[0] if retain is not None else caps_names[1]
        caps = [c for c in (retain if retain is not None else remove) if c]
        isolators.append({"name": name, "value": {"set": caps}})
    if flags.get("seccomp"):
        mode, errno, syscalls = "", "", []
        for item in flags["seccomp"].split(","):
            kv = item.split("=")
            if len(kv) == 1:
                syscalls.append(kv[0])
            elif len(kv) == 2 and kv[0] == "mode":
                mode = kv[1]
            elif len(kv) == 2 and kv[0] == "errno":
                errno = kv[1]
            else:
                raise PodError(f'invalid seccomp filter "{flags["seccomp"]}"')
        if mode not in ("retain", "remove"):
            raise PodError("invalid seccomp mode")
        value: dict = {"set": syscalls}
        if errno:
            value["errno"] = errno
        names = ("os/linux/seccomp-remove-set", "os/linux/seccomp-retain-set")
        isolators = _replace_isolators(
            isolators, {"name": f"os/linux/seccomp-{mode}-set", "value": value}, names)
    if isolators:
        app["isolators"] = isolators
    else:
        app.pop("isolators", None)


def runtime_app(req: AppRequest, manifest, name: str, global_mounts: list[dict],
                volumes: list[dict]) -> dict:
    """rkt's generateRuntimeApp: the image's app with the command-line overrides applied."""
    f = req.flags
    image_app = _get(manifest, "app")
    exec_flag = f.get("exec")
    if image_app is None and not exec_flag:
        raise PodError(f"error: image {req.key} has no app section and --exec argument is not "
                       "provided")
    app = norm_app(image_app) if image_app is not None else {
        "exec": None, "user": str(os.getuid()), "group": str(os.getgid())}
    if exec_flag:
        app["exec"] = [exec_flag]
    if req.args is not None:
        app["exec"] = list(app.get("exec") or []) + list(req.args)
    if f.get("working-dir"):
        app["workingDirectory"] = f["working-dir"]
    apply_isolator_flags(app, f)
    if f.get("user"):
        app["user"] = f["user"]
    if f.get("group"):
        app["group"] = f["group"]
    if f.get("supplementary-gids"):
        try:
            app["supplementaryGIDs"] = [int(g) for g in f["supplementary-gids"]]
        except ValueError:
            raise PodError(f'invalid argument "{",".join(f["supplementary-gids"])}" for '
                           '"--supplementary-gids" flag') from None
    from rktfast.pod.cliargs import parse_kv_list

    for flag, key in (("user-annotation", "userAnnotations"), ("user-label", "userLabels")):
        if f.get(flag):
            from rktfast.output.gojson import GoMap

            m = GoMap(dict(app.get(key) or {}))
            m.update(parse_kv_list(f[flag], flag))
            app[key] = m
    env = [dict(e) for e in (app.get("environment") or [])]
    if f.get("environment"):
        _merge_env(env, parse_kv_list(f["environment"], "environment"), True)
    app["environment"] = env
    app = norm_app(app)

    # mounts: per-app first, then the global ones, first wins per (cleaned) path
    mounts, seen = [], set()
    for m in [*(parse_mounts(f.get("mount") or [])), *global_mounts]:
        path = os.path.normpath(m["path"])
        if path in seen:
            continue
        seen.add(path)
        if not any(v["name"] == m["volume"] for v in volumes):
            raise PodError(f'dangling mount point "{m["path"]}": volume "{m["volume"]}" not '
                           "found")
        mounts.append(m)

    image = {"name": _get(manifest, "name"), "id": req.key}
    labels = image_labels(manifest)
    if labels:
        image["labels"] = labels
    ra = {"name": name, "image": image, "app": app}
    if f.get("readonly-rootfs"):
        ra["readOnlyRootFS"] = True
    if mounts:
        ra["mounts"] = mounts
    return ra


def parse_mounts(values: list[str]) -> list[dict]:
    from rktfast.pod.cliargs import parse_mount

    return [parse_mount(v) for v in values]


def app_name_for(req: AppRequest, manifest) -> str:
    from rktfast.appc.types import check_ac_name, image_app_name

    if req.flags.get("name"):
        try:
            return check_ac_name(req.flags["name"])
        except ValueError as e:
            raise PodError("invalid app name format", e) from e
    try:
        return image_app_name(_get(manifest, "name") or "")
    except ValueError as e:
        raise PodError("error converting image name to app name", e) from e


def generate(req: PodRequest, manifests: dict, names: list[str]) -> dict:
    """The pod manifest for ``req`` (``manifests``: key -> image manifest; ``names``: the app
    names in order, already checked unique)."""
    apps = []
    for app_req, name in zip(req.apps, names, strict=True):
        ra = runtime_app(app_req, manifests[app_req.key], name, req.mounts, req.volumes)
        env = ra["app"].setdefault("environment", [])
        if req.inherit_env:
            _merge_env(env, [(k, v) for k, v in os.environ.items()], False)
        _merge_env(env, req.env_from_files, True)
        _merge_env(env, req.explicit_env, True)
        if not env:
            del ra["app"]["environment"]
        else:
            ra["app"] = norm_app(ra["app"])
        apps.append(ra)
    check_ports(apps, req.ports)
    return {
        "acVersion": RKT_VERSION,
        "acKind": "PodManifest",
        "apps": apps,
        "volumes": req.volumes or None,
        "isolators": None,
        "annotations": [{"name": "coreos.com/rkt/stage1/mutable",
                         "value": "true" if req.mutable else "false"}],
        "ports": req.ports or None,
    }


def check_ports(apps: list[dict], ports: list[dict]) -> None:
    for p in ports:
        found = 0
        for ra in apps:
            for ap in (ra.get("app") or {}).get("ports") or []:
                if _get(ap, "name") == p["name"]:
                    found += 1
        if found == 0:
            raise PodError(f'port name "{p["name"]}" could not be found in any apps')
        if found > 1:
            raise PodError(f'port name "{p["name"]}" defined multiple apps')


def encode(pm: dict) -> bytes:
    from rktfast.output.gojson import dumps

    return dumps(pm).encode()


def read_user_manifest(path: str) -> tuple[bytes, dict]:
    """``--pod-manifest``: the file's bytes and its decoded apps, checked as rkt checks them."""
    import json

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise PodError("error reading pod manifest",
                       PodError(f"open {path}: {(e.strerror or str(e)).lower()}")) from None
    from rktfast.appc.pod_manifest import PodManifest

    try:
        PodManifest.parse(raw)
    except PodError as e:
        raise PodError("error unmarshaling pod manifest", e) from None
    doc = json.loads(raw)
    low = {k.lower(): v for k, v in doc.items()}
    apps = low.get("apps") or []
    if not isinstance(apps, list):
        raise PodError("error unmarshaling pod manifest",
                       PodError("json: cannot unmarshal apps"))
    from rktfast.appc.types import is_ac_name

    seen = set()
    for ra in apps:
        if not isinstance(ra, dict):
            raise PodError("error unmarshaling pod manifest", PodError("bad app entry"))
        ral = {k.lower(): v for k, v in ra.items()}
        name = ral.get("name") or ""
        if not is_ac_name(name):
            raise PodError("error unmarshaling pod manifest",
                           PodError(f"ACName must contain only lower case alphanumeric "
                                    f"characters plus \"-\" (got {name!r})"))
        img = {k.lower(): v for k, v in (ral.get("image") or {}).items()}
        if not img.get("id"):
            raise PodError(f'no image ID for app "{name}"')
        if name in seen:
            raise PodError(f"multiple apps with same name {name}")
        seen.add(name)
    return raw, doc
