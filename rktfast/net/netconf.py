"""Which CNI networks a pod joins and with what configuration (SPEC §9).

Configurations come from the stage1's ``etc/rkt/net.d/*.conf`` (the built-in ``default`` and
``default-restricted`` when the stage1 ships none), overridden by ``<local-config>/net.d/*.conf``
with the same ``name``; files are read in lexical order and only the requested networks load.
"""

from __future__ import annotations

import os

from rktfast import fastjson
from rktfast.errors import RktError
from rktfast.record import Record

DEFAULT_NET = {"cniVersion": "0.1.0", "name": "default", "type": "ptp", "ipMasq": True,
               "ipam": {"type": "host-local", "subnet": "172.16.28.0/24",
                        "routes": [{"dst": "0.0.0.0/0"}]}}
DEFAULT_RESTRICTED_NET = {"cniVersion": "0.1.0", "name": "default-restricted", "type": "ptp",
                          "ipMasq": False,
                          "ipam": {"type": "host-local", "subnet": "172.31.0.0/16"}}
BUILTIN = {"default": DEFAULT_NET, "default-restricted": DEFAULT_RESTRICTED_NET}


class NetRequest(Record):
    """One entry of ``--net``: a network name and its CNI_ARGS (``default:IP=1.2.3.4``)."""

    __slots__ = ("name", "args")
    _defaults = {"args": ""}


class Network(Record):
    # conf_path: where conf was read from
    __slots__ = ("name", "conf", "conf_path", "args", "extra")
    _defaults = {"args": "", "extra": dict}

    @property
    def plugin(self) -> str:
        return self.conf.get("type", "")


def parse_net_flag(values: list[str]) -> list[NetRequest]:
    """``--net`` values (repeatable, comma lists) -> requests; validates names and args."""
    out: list[NetRequest] = []
    seen: set[str] = set()
    for value in values:
        for item in value.split(","):
            if not item:
                continue
            name, _, args = item.partition(":")
            if name in seen:
                raise RktError(f"network {name!r} given more than once in --net")
            if name in ("host", "none", "all") and args:
                raise RktError(f"network {name!r} takes no arguments")
            seen.add(name)
            out.append(NetRequest(name, args))
    if not out:
        out.append(NetRequest("default"))
    special = {r.name for r in out} & {"host", "none"}
    if special and len(out) > 1:
        raise RktError(f"--net={special.pop()} cannot be combined with other networks")
    return out


def _read_dir(directory: str) -> list[tuple[str, dict]]:
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".conf"))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        path = os.path.join(directory, n)
        try:
            with open(path, "rb") as f:
                conf = fastjson.loads(f.read(1 << 20))
        except (OSError, ValueError) as e:
            raise RktError(f'error loading network config "{path}": {e}') from e
        if not isinstance(conf, dict) or not conf.get("name") or not conf.get("type"):
            raise RktError(f'network config "{path}" needs a name and a type')
        out.append((path, conf))
    return out


def load_networks(requests: list[NetRequest], stage1_rootfs: str,
                  local_config: str) -> list[Network]:
    """The networks to set up, in load order, or ``networks not found: …``."""
    confs: dict[str, tuple[str, dict]] = {}
    order: list[str] = []
    stage1_dir = os.path.join(stage1_rootfs, "etc", "rkt", "net.d")
    found = _read_dir(stage1_dir) or [(f"<builtin>/{n}.conf", c) for n, c in BUILTIN.items()]
    for path, conf in found + _read_dir(os.path.join(local_config, "net.d")):
        if conf["name"] not in confs:
            order.append(conf["name"])
        confs[conf["name"]] = (path, conf)
    wanted = {r.name: r for r in requests}
    if "all" in wanted:
        names = [n for n in order if n != "default-restricted" or "default-restricted" in wanted]
    else:
        missing = [n for n in wanted if n not in confs]
        if missing:
            raise RktError(f"networks not found: {', '.join(missing)}")
        names = [n for n in order if n in wanted]  # interfaces follow load order
    return [Network(n, confs[n][1], confs[n][0], wanted.get(n, NetRequest(n)).args)
            for n in names]
