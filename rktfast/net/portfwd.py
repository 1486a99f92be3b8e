"""Port forwarding from the host into a pod with iptables, as rkt did it (SPEC §9).

Per pod, two nat chains ``RKT-PFWD-DNAT-<uuid[:8]>`` and ``RKT-PFWD-SNAT-<uuid[:8]>``; jumps to
them are inserted first in PREROUTING and OUTPUT (local destinations) and POSTROUTING
(connections from 127.0.0.1), so forwarded ports work from the host's addresses and from
localhost. Teardown removes exactly those rules and chains.
"""

from __future__ import annotations

import subprocess

from rktfast.errors import RktError
from rktfast.record import Record


class Forward(Record):
    __slots__ = ("proto", "host_ip", "host_port", "pod_ip", "pod_port")  # host_ip "": any


def _chains(uuid: str) -> tuple[str, str]:
    return f"RKT-PFWD-DNAT-{uuid[:8]}", f"RKT-PFWD-SNAT-{uuid[:8]}"


def _jumps(uuid: str) -> list[list[str]]:
    dnat, snat = _chains(uuid)
    return [["PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat],
            ["OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat],
            ["POSTROUTING", "-s", "127.0.0.1", "!", "-d", "127.0.0.1", "-j", snat]]


def _ipt(*args: str, check: bool = True) -> bool:
    proc = subprocess.run(["iptables", "-w", "-t", "nat", *args], capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0 and check:
        raise RktError(f"iptables {' '.join(args)} failed", RktError(proc.stderr.strip()))
    return proc.returncode == 0


def setup(uuid: str, forwards: list[Forward]) -> None:
    if not forwards:
        return
    dnat, snat = _chains(uuid)
    _set_sysctl("/proc/sys/net/ipv4/conf/all/route_localnet", "1")
    _set_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    for chain in (dnat, snat):
        _ipt("-N", chain)
    for f in forwards:
        _ipt("-A", dnat, "-d", f.host_ip or "0.0.0.0/0", "-p", f.proto, "--dport",
             str(f.host_port), "-j", "DNAT", "--to-destination", f"{f.pod_ip}:{f.pod_port}")
        _ipt("-A", snat, "-p", f.proto, "-s", "127.0.0.1", "-d", f.pod_ip, "--dport",
             str(f.pod_port), "-j", "MASQUERADE")
    for jump in _jumps(uuid):
        _ipt("-I", jump[0], "1", *jump[1:])


def _present(uuid: str) -> bool | None:
    """Whether any of the pod's chains exists (one iptables-save instead of five deletes
    that fail for the many pods without port forwards); None if that cannot be told."""
    try:
        proc = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return any(chain in proc.stdout for chain in _chains(uuid))


def teardown(uuid: str) -> None:
    """Remove the pod's rules; safe to call when they were never made or are half made."""
    if _present(uuid) is False:
        return
    for jump in _jumps(uuid):
        while _ipt("-D", *jump, check=False):
            pass
    for chain in _chains(uuid):
        if _ipt("-F", chain, check=False):
            _ipt("-X", chain, check=False)


def _set_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise RktError(f"cannot set {path}", e) from e
