"""The pod-describing command-line values of run/prepare (SPEC §1.3, §1.5): volumes, mounts,
ports, environment files and the per-app overrides, each parsed into the JSON shape the pod
manifest carries, with rkt's error messages.
"""

from __future__ import annotations

import os

from rktfast.errors import RktError


def _query(value: str, prefix: str = "") -> list[tuple[str, str]]:
    """``k=v,k2=v2`` as rkt reads it (``,`` -> ``&``, then a URL query), keys in order."""
    from rktfast.appc.querystring import make_query_string, parse_query

    values = parse_query(make_query_string(prefix + value))
    out = []
    for key, vals in values.items():
        if len(vals) > 1:
            quoted = " ".join('"' + v + '"' for v in vals)
            raise ValueError(f"label {key} with multiple values [{quoted}]")
        out.append((key, vals[0]))
    return out


def _parse_bool(v: str) -> bool:
    if v in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if v in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{v}": invalid syntax')


def _parse_int(v: str) -> int:
    try:
        return int(v, 10)
    except ValueError:
        raise ValueError(f'strconv.Atoi: parsing "{v}": invalid syntax') from None


def parse_volume(text: str) -> dict:
    """``NAME,kind=host,source=/x[,readOnly=b][,recursive=b]`` or ``NAME,kind=empty[,mode=…]``
    -> a pod-manifest volume (defaults filled in for empty volumes)."""
    from rktfast.appc.types import check_ac_name

    try:
        fields: dict = {}
        for key, val in _query(text, "name="):
            if key == "name":
                fields["name"] = check_ac_name(val)
            elif key == "kind":
                fields["kind"] = val
            elif key == "source":
                fields["source"] = val
            elif key in ("readOnly", "recursive"):
                fields[key] = _parse_bool(val)
            elif key == "mode":
                fields["mode"] = val
            elif key in ("uid", "gid"):
                fields[key] = _parse_int(val)
            else:
                raise ValueError(f'unknown volume parameter "{key}"')
        kind = fields.get("kind", "")
        if kind == "empty":
            fields.setdefault("mode", "0755")
            fields.setdefault("uid", 0)
            fields.setdefault("gid", 0)
            if fields.get("source"):
                raise ValueError("source for empty volume must be empty")
        elif kind == "host":
            src = fields.get("source", "")
            if not src:
                raise ValueError("source for host volume cannot be empty")
            if not os.path.isabs(src):
                raise ValueError("source for host volume must be absolute path")
            for k in ("mode", "uid", "gid"):
                if k in fields:
                    raise ValueError(f"{k} for host volume cannot be set")
        else:
            raise ValueError('unrecognized volume type: should be one of "empty", "host"')
    except ValueError as e:
        raise RktError(f'invalid value in --volume flag "{text}": {e}') from None
    order = ("name", "kind", "source", "readOnly", "recursive", "mode", "uid", "gid")
    return {k: fields[k] for k in order if k in fields}


def parse_mount(text: str) -> dict:
    """``volume=V,target=P`` -> ``{"volume": V, "path": P}``."""
    from rktfast.appc.querystring import parse_query
    from rktfast.appc.types import check_ac_name

    try:
        mount = {}
        for key, vals in parse_query(text.replace(",", "&")).items():
            if len(vals) > 1:
                quoted = " ".join('"' + v + '"' for v in vals)
                raise ValueError(f"label {key} with multiple values [{quoted}]")
            if key == "volume":
                mount["volume"] = check_ac_name(vals[0])
            elif key == "target":
                mount["path"] = vals[0]
            else:
                raise ValueError(f'unknown mount parameter "{key}"')
        if "volume" not in mount or "path" not in mount:
            raise ValueError("volume and target are required")
    except ValueError as e:
        raise RktError(f'invalid value in --mount flag "{text}": {e}') from None
    return {"volume": mount["volume"], "path": mount["path"]}


def parse_port(text: str) -> dict:
    """``NAME:[IP:]HOSTPORT`` -> a pod-manifest exposed port."""
    from rktfast.appc.types import canonical_ip, is_ac_name

    parts = text.split(":", 2)
    if len(parts) < 2:
        raise RktError(f'invalid argument "{text}" for "--port" flag: "{text}" is not in '
                         "name:[ip:]port format")
    if not is_ac_name(parts[0]):
        raise RktError(f'invalid argument "{text}" for "--port" flag: "{parts[0]}" is not a '
                         "valid port name")
    port = {"name": parts[0]}
    port_str = parts[1]
    ip = None
    if len(parts) == 3:
        port_str = parts[2]
        try:
            ip = canonical_ip(parts[1])  # as Go prints it: an IPv4-mapped address as IPv4
        except ValueError:
            raise RktError(f'invalid argument "{text}" for "--port" flag: "{parts[1]}" is not '
                             "a valid IP") from None
    if not (port_str.isascii() and port_str.isdigit()) or int(port_str) > 65535:
        raise RktError(f'invalid argument "{text}" for "--port" flag: "{parts[1]}" is not a '
                         "valid port number")
    port["hostPort"] = int(port_str)
    if ip is not None:
        port["hostIP"] = ip
    return port


def parse_set_env(values: list[str]) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for v in values:
        key, eq, val = v.partition("=")
        if not eq:
            raise RktError(f'invalid argument "{v}" for "--set-env" flag: must be specified as '
                             "key=value")
        if key in out:
            raise RktError(f'invalid argument "{v}" for "--set-env" flag: key "{key}" already '
                             "set")
        out[key] = val
    return list(out.items())


def parse_env_files(paths: list[str]) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise RktError(f'invalid argument "{path}" for "--set-env-file" flag: '
                             f"{e.strerror.lower() if e.strerror else e}: {path}") from None
        for line in lines:
            if not line or line.startswith(("#", ";")):
                continue
            key, eq, val = line.partition("=")
            if not eq or not key:
                raise RktError(f'invalid argument "{path}" for "--set-env-file" flag: '
                                 f'environment variable must be specified as name=value (file '
                                 f'"{path}")')
            if key in out:
                raise RktError(f'invalid argument "{path}" for "--set-env-file" flag: '
                                 f'environment variable "{key}" already set (file "{path}")')
            out[key] = val
    return list(out.items())


def parse_kv_list(values: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, eq, val = v.partition("=")
        if not eq or not key:
            raise RktError(f'invalid argument "{v}" for "--{flag}" flag: must be specified as '
                             "key=value")
        out.append((key, val))
    return out


def parse_net(values: str) -> str:
    """Validate ``--net`` (``n1[:ARGS],n2``) and return it as stage1 gets it."""
    names = []
    for item in values.split(","):
        if not item:
            continue
        name, colon, args = item.partition(":")
        if name in names:
            raise RktError(f'invalid argument "{values}" for "--net" flag: found duplicate '
                             f'network name: "{name}"')
        if colon and name in ("host", "all", "none"):
            raise RktError(f'invalid argument "{values}" for "--net" flag: no args allowed for '
                             f'the network "{name}"')
        names.append(name)
    if not names:
        return "default"
    if ("host" in names or "none" in names) and len(names) > 1:
        raise RktError(f'invalid argument "{values}" for "--net" flag: "host" and "none" '
                         "networks cannot be combined with other networks")
    return ",".join(i for i in values.split(",") if i)


def net_names(net: str) -> list[str]:
    return [i.partition(":")[0] for i in net.split(",") if i]
