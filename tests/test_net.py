"""Pod networking with the real CNI plugins: a namespace per pod, the default ptp network,
CNI args, port forwards, and a teardown that leaves nothing behind."""

import json
import os
import socket
import subprocess
import threading
import uuid as uuidlib

import pytest

from rktfast.errors import RktError
from rktfast.net import podnet
from rktfast.net.netconf import NetRequest, load_networks, parse_net_flag
from rktfast.net.portfwd import Forward

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/ptp"),
    reason="needs root and Debian's containernetworking-plugins (CI has both)")


@pytest.fixture
def pod(tmp_path):
    pod_dir = tmp_path / "pod"
    (pod_dir / "stage1" / "rootfs").mkdir(parents=True)
    uuid = str(uuidlib.uuid4())
    env = dict(pod=str(pod_dir), uuid=uuid, rootfs=str(pod_dir / "stage1" / "rootfs"),
               local=str(tmp_path / "etc"), data=str(tmp_path / "data"))
    yield env
    podnet.teardown(env["pod"], uuid, env["rootfs"], env["local"])


def in_netns(pod, *cmd):
    return subprocess.run(["nsenter", f"--net={podnet.netns_path(pod['pod'])}", *cmd],
                          capture_output=True, text=True, timeout=30)


def host_links():
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_parse_net_flag():
    assert parse_net_flag([]) == [NetRequest("default")]
    assert parse_net_flag(["default:IP=172.16.28.9,other"]) == [
        NetRequest("default", "IP=172.16.28.9"), NetRequest("other")]
    with pytest.raises(RktError):
        parse_net_flag(["host:x=y"])
    with pytest.raises(RktError):
        parse_net_flag(["a,a"])


def test_missing_network_is_reported(pod):
    with pytest.raises(RktError, match="networks not found: nope"):
        load_networks([NetRequest("nope")], pod["rootfs"], pod["local"])


def test_default_network_gives_reachable_pod_and_clean_teardown(pod):
    nets = load_networks([NetRequest("default")], pod["rootfs"], pod["local"])
    infos = podnet.setup(pod["pod"], pod["uuid"], nets, pod["rootfs"], pod["local"],
                         pod["data"])
    ip = infos[0]["ip"]
    assert ip.startswith("172.16.28.") and infos[0]["mask"] == "255.255.255.0"
    assert infos[0]["ifName"] == "eth0"
    with open(os.path.join(pod["pod"], "net-info.json")) as f:
        assert json.load(f)[0]["ip"] == ip
    assert "inet " + ip in in_netns(pod, "ip", "-4", "addr").stdout
    assert "127.0.0.1" in in_netns(pod, "ip", "-4", "addr", "show", "lo").stdout
    # host -> pod and pod -> host
    assert subprocess.run(["ping", "-c1", "-W2", ip], capture_output=True).returncode == 0
    gw = infos[0]["gateway"] or "172.16.28.1"
    assert in_netns(pod, "ping", "-c1", "-W2", gw).returncode == 0
    leases = "/var/lib/cni/networks/default"  # host-local default, shared by all rkt dirs
    assert ip in os.listdir(leases)

    podnet.teardown(pod["pod"], pod["uuid"], pod["rootfs"], pod["local"])
    assert not os.path.exists(podnet.netns_path(pod["pod"]))
    assert ip not in os.listdir(leases)
    assert pod["uuid"][:8] not in subprocess.run(["iptables-save", "-t", "nat"],
                                                 capture_output=True, text=True).stdout


def test_requested_ip_and_conflict(pod, tmp_path):
    nets = load_networks([NetRequest("default", "IP=172.16.28.123")], pod["rootfs"],
                         pod["local"])
    infos = podnet.setup(pod["pod"], pod["uuid"], nets, pod["rootfs"], pod["local"],
                         pod["data"])
    assert infos[0]["ip"] == "172.16.28.123"
    other = tmp_path / "other"
    (other / "stage1" / "rootfs").mkdir(parents=True)
    with pytest.raises(RktError):
        podnet.setup(str(other), str(uuidlib.uuid4()), nets, str(other / "stage1/rootfs"),
                     pod["local"], pod["data"])
    assert not os.path.exists(podnet.netns_path(str(other)))  # the failed pod left nothing


def test_port_forward_reaches_pod_from_localhost(pod):
    nets = load_networks([NetRequest("default")], pod["rootfs"], pod["local"])
    infos = podnet.setup(pod["pod"], pod["uuid"], nets, pod["rootfs"], pod["local"],
                         pod["data"])
    server = subprocess.Popen(["nsenter", f"--net={podnet.netns_path(pod['pod'])}",
                               "python3", "-c",
                               "import socket;s=socket.socket();"
                               "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                               "s.bind(('0.0.0.0',8080));s.listen();c,_=s.accept();"
                               "c.sendall(b'hello from pod');c.close()"])
    try:
        podnet.forward_ports(pod["uuid"], infos, [Forward("tcp", "", 18080, "", 8080)])
        got = b""
        for _ in range(50):
            try:
                with socket.create_connection(("127.0.0.1", 18080), timeout=2) as c:
                    got = c.recv(100)
                break
            except OSError:
                threading.Event().wait(0.1)
        assert got == b"hello from pod"
    finally:
        server.kill()
        server.wait()
    podnet.teardown(pod["pod"], pod["uuid"], pod["rootfs"], pod["local"])
    assert f"RKT-PFWD-DNAT-{pod['uuid'][:8]}" not in subprocess.run(
        ["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout


def test_port_forward_teardown_of_half_made_or_absent_rules():
    from rktfast.net import portfwd

    uuid = str(uuidlib.uuid4())
    portfwd.teardown(uuid)  # nothing was ever made: a no-op
    # a crash between the two chain deletions leaves the SNAT chain alone: still removed
    snat = f"RKT-PFWD-SNAT-{uuid[:8]}"
    subprocess.run(["iptables", "-w", "-t", "nat", "-N", snat], check=True)
    subprocess.run(["iptables", "-w", "-t", "nat", "-A", snat, "-p", "tcp", "-s", "127.0.0.1",
                    "-d", "172.16.28.250", "--dport", "1", "-j", "MASQUERADE"], check=True)
    try:
        portfwd.teardown(uuid)
        assert uuid[:8] not in subprocess.run(["iptables-save", "-t", "nat"],
                                              capture_output=True, text=True).stdout
    finally:
        subprocess.run(["iptables", "-w", "-t", "nat", "-F", snat], capture_output=True)
        subprocess.run(["iptables", "-w", "-t", "nat", "-X", snat], capture_output=True)


def test_failed_setup_keeps_the_add_error_and_undoes_the_rest(pod):
    os.makedirs(os.path.join(pod["local"], "net.d"))
    with open(os.path.join(pod["local"], "net.d", "10-noipam.conf"), "w") as f:
        json.dump({"cniVersion": "0.3.1", "name": "rkttest-noipam", "type": "ptp"}, f)
    nets = load_networks([NetRequest("default"), NetRequest("rkttest-noipam")], pod["rootfs"],
                         pod["local"])
    with pytest.raises(RktError) as e:
        podnet.setup(pod["pod"], pod["uuid"], nets, pod["rootfs"], pod["local"], pod["data"])
    assert "ptp ADD failed" in str(e.value.chain()[-1])  # not the DEL that followed
    assert not os.path.exists(podnet.netns_path(pod["pod"]))
    assert not os.path.exists(os.path.join(pod["pod"], "net-info.json"))
    leases = "/var/lib/cni/networks/default"
    for name in os.listdir(leases):
        with open(os.path.join(leases, name)) as f:
            assert pod["uuid"] not in f.read()


def test_network_setup_imports_no_json_or_dataclasses():
    """rkt run on the default network loads podnet: json (re, enum) and dataclasses
    (inspect) cost it tens of ms on every run; subprocess stays, it runs the plugins."""
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def imports(code: str) -> set[str]:
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=repo,
                             capture_output=True, text=True, check=True).stderr
        return {line.rsplit("|", 1)[1].strip() for line in out.splitlines()
                if line.startswith("import time:") and "|" in line}

    # what the interpreter's own start-up loads (site, .pth files) is not ours
    imported = imports("import rktfast.net.podnet") - imports("pass")
    assert "rktfast.net.podnet" in imported
    assert not {"json", "dataclasses", "inspect", "typing"} & imported
