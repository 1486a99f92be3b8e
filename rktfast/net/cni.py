"""Running CNI plugins (the real ones from containernetworking-plugins) for a pod."""

from __future__ import annotations

import ipaddress
import os
import subprocess

from rktfast import fastjson
from rktfast.errors import RktError
from rktfast.output import gojson
from rktfast.record import Record

PLUGIN_TIMEOUT = 60


def plugin_dirs(stage1_rootfs: str, local_config: str) -> list[str]:
    """Where plugins are looked up, rkt's order first, then Debian's and the CNI default."""
    return [os.path.join(stage1_rootfs, "usr/lib/rkt/plugins/net"), "/usr/lib/rkt/plugins/net",
            os.path.join(local_config, "net.d"), "/usr/lib/cni", "/opt/cni/bin"]


def find_plugin(name: str, dirs: list[str]) -> str:
    if "/" in name or name in ("", ".", ".."):
        raise RktError(f"invalid CNI plugin name {name!r}")
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise RktError(f'could not find CNI plugin "{name}" in {":".join(dirs)}')


class CniResult(Record):
    __slots__ = ("ip", "mask", "gateway", "dns", "raw")


def invoke(command: str, plugin_path: str, conf: dict, *, container_id: str, netns: str,
           ifname: str, args: str, dirs: list[str]) -> dict:
    """Run one plugin; return its parsed JSON result (ADD) or {} (DEL)."""
    env = {
        "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
        "CNI_IFNAME": ifname, "CNI_ARGS": args, "CNI_PATH": ":".join(dirs),
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    try:
        proc = subprocess.run([plugin_path], input=gojson.dumps(conf).encode(), env=env,
                              capture_output=True, timeout=PLUGIN_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RktError(f"CNI plugin {plugin_path} {command} failed", e) from e
    if proc.returncode != 0:
        detail = proc.stdout.decode(errors="replace").strip() or \
            proc.stderr.decode(errors="replace").strip()
        try:
            detail = fastjson.loads(detail).get("msg", detail)
        except (ValueError, AttributeError):
            pass
        # One message with its context: without --debug only the innermost error is shown.
        raise RktError(f'network "{conf.get("name", "")}" ({ifname}): CNI plugin '
                       f"{os.path.basename(plugin_path)} {command} failed: "
                       f"{detail or f'exit status {proc.returncode}'}")
    if command != "ADD" or not proc.stdout.strip():
        return {}
    try:
        return fastjson.loads(proc.stdout)
    except ValueError as e:
        raise RktError(f"CNI plugin {plugin_path} returned invalid JSON", e) from e


def parse_result(result: dict) -> CniResult:
    """The pod's address from a CNI result of any version (0.1.0's ip4, 0.3+'s ips)."""
    cidr = gw = ""
    if isinstance(result.get("ip4"), dict):
        cidr = result["ip4"].get("ip", "")
        gw = result["ip4"].get("gateway", "")
    else:
        for ip in result.get("ips") or []:
            if ip.get("version", "4") == "4" or ":" not in ip.get("address", ":"):
                cidr, gw = ip.get("address", ""), ip.get("gateway", "")
                break
    if not cidr:
        raise RktError("CNI result carries no IPv4 address")
    iface = ipaddress.ip_interface(cidr)
    return CniResult(str(iface.ip), str(iface.network.netmask), gw or "",
                     result.get("dns") or {}, result)
