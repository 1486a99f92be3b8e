"""Set up and tear down a pod's networks: netns, CNI ADD/DEL, net-info.json, ports.

Stage0 does this for the native stage1 before exec'ing it: the network namespace is
bind-mounted at ``<pod>/netns`` and the stage1 joins it. ``<pod>/net/`` keeps copies of the
configurations used, and ``net-info.json`` the results, so gc can undo exactly what was done
even after a crash.
"""

from __future__ import annotations

import os
import subprocess

from rktfast import fastjson
from rktfast.errors import RktError
from rktfast.net import cni, portfwd
from rktfast.net.netconf import Network
from rktfast.output import gojson


def netns_path(pod_dir: str) -> str:
    return os.path.join(pod_dir, "netns")


CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def _netns_thread(path: str, result: list) -> None:
    """In a thread of its own (namespaces are per thread): a new network namespace, bind-
    mounted at ``path``, with its loopback up. What ``unshare --net=path`` and the CNI
    loopback plugin did, without two execs."""
    import fcntl
    import socket
    import struct
    import threading

    from rktfast import _syscalls

    try:
        _syscalls.unshare(CLONE_NEWNET)
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net"
        _syscalls.mount(src, path, None, MS_BIND, None)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # in the new netns
            req = struct.pack("16sH22x", b"lo", 0)
            flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
    except BaseException as e:  # reported by the caller
        result.append(e)


def create_netns(pod_dir: str) -> str:
    import threading

    path = netns_path(pod_dir)
    open(path, "w").close()
    result: list = []
    t = threading.Thread(target=_netns_thread, args=(path, result))
    t.start()
    t.join()
    if result:
        remove_netns(pod_dir)
        raise RktError("cannot create the pod's network namespace", RktError(str(result[0])))
    return path


def remove_netns(pod_dir: str) -> None:
    path = netns_path(pod_dir)
    if os.path.exists(path):
        from rktfast import _syscalls

        try:
            _syscalls.umount2(path, MNT_DETACH)
        except OSError:
            subprocess.run(["umount", "-l", path], capture_output=True)
        try:
            os.unlink(path)
        except OSError:
            pass


def setup(pod_dir: str, uuid: str, networks: list[Network], stage1_rootfs: str,
          local_config: str, data_dir: str) -> list[dict]:
    """Create the netns and attach every network; returns the net-info entries."""
    dirs = cni.plugin_dirs(stage1_rootfs, local_config)
    netns = create_netns(pod_dir)
    infos: list[dict] = []
    conf_dir = os.path.join(pod_dir, "net")
    os.makedirs(conf_dir, mode=0o700, exist_ok=True)
    try:
        for i, net in enumerate(networks):
            conf = dict(net.conf)
            conf.setdefault("cniVersion", "0.1.0")
            # host-local keeps its leases in its default /var/lib/cni/networks, shared by every
            # rkt data dir on the host: two stores must never hand out the same address.
            conf_copy = os.path.join(conf_dir, f"{net.name}.conf")
            with open(conf_copy, "w") as f:
                f.write(gojson.dumps(conf))
            plugin = cni.find_plugin(net.plugin, dirs)
            ifname = f"eth{i}"
            info = {"netName": net.name, "netConf": conf_copy, "pluginPath": plugin,
                    "ifName": ifname, "ip": "", "args": net.args, "mask": ""}
            infos.append(info)  # recorded before ADD so a failure is still undone
            _write_net_info(pod_dir, infos)
            res = cni.parse_result(cni.invoke("ADD", plugin, conf, container_id=uuid,
                                              netns=netns, ifname=ifname, args=net.args,
                                              dirs=dirs))
            info.update(ip=res.ip, mask=res.mask, gateway=res.gateway, dns=res.dns,
                        ipMasq=bool(conf.get("ipMasq")))
            _write_net_info(pod_dir, infos)
    except BaseException:
        undo(pod_dir, uuid, stage1_rootfs, local_config)
        raise
    return infos


def undo(pod_dir: str, uuid: str, stage1_rootfs: str, local_config: str) -> None:
    """Tear down a half-made pod network after a failed setup, keeping the setup error.

    The DEL of the network whose ADD failed may fail too (the plugin cleaned up after itself
    or never got that far): that is no reason to keep it. Networks that did get an address
    and could not be deleted stay in net-info.json for gc to try again."""
    failed = _delete_all(pod_dir, uuid, stage1_rootfs, local_config)
    keep = [info for info, _ in failed if info.get("ip")]
    if keep:
        _write_net_info(pod_dir, keep)
    else:
        try:
            os.unlink(os.path.join(pod_dir, "net-info.json"))
        except OSError:
            pass


def forward_ports(uuid: str, infos: list[dict], forwards: list[portfwd.Forward]) -> None:
    """Install port forwards to the pod IP of the first ipMasq network, else the last."""
    if not forwards or not infos:
        return
    target = next((i for i in infos if i.get("ipMasq")), infos[-1])
    for f in forwards:
        f.pod_ip = target["ip"]
    portfwd.setup(uuid, forwards)


def read_net_info(pod_dir: str) -> list[dict]:
    try:
        with open(os.path.join(pod_dir, "net-info.json")) as f:
            data = fastjson.loads(f.read())
        return data if isinstance(data, list) else []
    except (OSError, ValueError):
        return []


def teardown(pod_dir: str, uuid: str, stage1_rootfs: str, local_config: str) -> None:
    """CNI DEL in reverse order, remove port forwards and the netns. Idempotent."""
    failed = _delete_all(pod_dir, uuid, stage1_rootfs, local_config)
    if failed:
        raise RktError("error tearing down the pod network", failed[0][1])


def _delete_all(pod_dir: str, uuid: str, stage1_rootfs: str,
                local_config: str) -> list[tuple[dict, Exception]]:
    """Port forwards, CNI DEL of every network (reverse order), the netns; returns the
    networks whose DEL failed, with the error."""
    portfwd.teardown(uuid)
    netns = netns_path(pod_dir)
    dirs = cni.plugin_dirs(stage1_rootfs, local_config)
    errors = []
    for info in reversed(read_net_info(pod_dir)):
        try:
            # The pod dir moves (run/ -> exited-garbage/): find the copy under its new path.
            with open(os.path.join(pod_dir, "net", os.path.basename(info["netConf"]))) as f:
                conf = fastjson.loads(f.read())
            cni.invoke("DEL", info["pluginPath"], conf, container_id=uuid,
                       netns=netns if os.path.exists(netns) else "", ifname=info["ifName"],
                       args=info.get("args", ""), dirs=dirs)
        except (RktError, OSError, ValueError, KeyError) as e:
            errors.append((info, e))
    remove_netns(pod_dir)
    return errors


def _write_net_info(pod_dir: str, infos: list[dict]) -> None:
    tmp = os.path.join(pod_dir, ".net-info.json.tmp")
    with open(tmp, "w") as f:
        f.write(gojson.dumps(infos))
    os.rename(tmp, os.path.join(pod_dir, "net-info.json"))


def is_native_stage1(pod_dir: str) -> bool:
    """Only our own stage1 expects stage0 to have prepared its network namespace; another
    stage1 (rkt's own) does its networking itself."""
    from rktfast.stage1.launch import stage1_annotations

    return stage1_annotations(pod_dir).get("rktfast.io/stage1-flavor") == "native"


def port_forwards(pod_manifest: dict) -> list[portfwd.Forward]:
    """The pod's --port requests joined with the app ports they name."""
    app_ports = {}
    for app in pod_manifest.get("apps") or []:
        for p in (app.get("app") or {}).get("ports") or []:
            app_ports[p.get("name")] = p
    out = []
    for p in pod_manifest.get("ports") or []:
        ap = app_ports.get(p.get("name"))
        if ap is None:
            raise RktError(f'port name "{p.get("name")}" could not be found in any apps')
        out.append(portfwd.Forward(ap.get("protocol", "tcp"), p.get("hostIP") or "",
                                   int(p["hostPort"]), "", int(p.get("podPort") or ap["port"])))
    return out


def setup_for_pod(pod_dir: str, uuid: str, net_flag: str, pod_manifest: dict,
                  local_config: str, data_dir: str) -> list[dict]:
    """Everything a CNI pod needs before its stage1 runs; errors read as rkt's
    ``stage1: failed to setup network: …``."""
    from rktfast.net.netconf import load_networks, parse_net_flag

    stage1_rootfs = os.path.join(pod_dir, "stage1", "rootfs")
    try:
        networks = load_networks(parse_net_flag([net_flag]), stage1_rootfs, local_config)
        forwards = port_forwards(pod_manifest)
        infos = setup(pod_dir, uuid, networks, stage1_rootfs, local_config, data_dir)
        try:
            forward_ports(uuid, infos, forwards)
        except BaseException:
            undo(pod_dir, uuid, stage1_rootfs, local_config)
            raise
    except RktError as e:
        raise RktError("failed to setup network", e, prefix="stage1") from e
    return infos


def cni_dns(infos: list[dict]) -> dict:
    """DNS settings from the first CNI result that has any (used when no --dns flag)."""
    for info in infos:
        dns = info.get("dns") or {}
        if dns.get("nameservers"):
            return {"nameservers": dns.get("nameservers") or [],
                    "search": dns.get("search") or [], "options": dns.get("options") or [],
                    "domain": dns.get("domain") or ""}
    return {}
