"""Named CNI networks from ``<local-config>/net.d/*.conf`` end to end (SPEC §9): ptp, bridge
and macvlan networks, several networks per pod in load order, ``default-restricted``, a local
``default`` overriding the built-in one, the 0.5 ``--private-net`` spelling, CNI args and the
plugin environment, an IP conflict, and bad configurations that must leave nothing behind on
the host (no veth, no iptables rule, no host-local lease, no netns mount).

Every network here uses a 10.254.x.0/24 subnet (or the built-in ones); bridges, dummy
interfaces and lease directories the tests create are removed by the fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/ptp"),
    reason="needs root and Debian's containernetworking-plugins (CI has both)")

LEASES = "/var/lib/cni/networks"


def leases(net: str) -> list[str]:
    d = os.path.join(LEASES, net)
    return sorted(n for n in os.listdir(d) if n[0].isdigit()) if os.path.isdir(d) else []


def owned_leases(uuid: str) -> list[str]:
    """host-local leases (any network) held for this container id."""
    found = []
    for net in os.listdir(LEASES) if os.path.isdir(LEASES) else []:
        for ip in leases(net):
            try:
                with open(os.path.join(LEASES, net, ip)) as f:
                    if uuid in f.read():
                        found.append(f"{net}/{ip}")
            except OSError:
                pass
    return found


def netns_mounts(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln for ln in f if root in ln and "netns" in ln]


def pods_on_disk(rkt) -> dict[str, list[str]]:
    """uuid -> the IPs its net-info.json records (pods in any state)."""
    out = {}
    pods = os.path.join(rkt.data, "pods")
    for state in os.listdir(pods) if os.path.isdir(pods) else []:
        for uuid in os.listdir(os.path.join(pods, state)):
            try:
                with open(os.path.join(pods, state, uuid, "net-info.json")) as f:
                    out[uuid] = [n["ip"] for n in json.load(f) if n.get("ip")]
            except (OSError, ValueError):
                out[uuid] = []
    return out


def leftovers(rkt, pods: dict[str, list[str]]) -> list[str]:
    """What the host still holds for these pods: leases, iptables rules naming them, host
    routes to their addresses (each ptp/bridge veth carries one), netns mounts. Checked per
    pod so that other pods on the machine do not matter."""
    found = []
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                            text=True).stdout.splitlines()
    for uuid, ips in pods.items():
        found += [f"lease {x}" for x in owned_leases(uuid)]
        found += [f"iptables {ln}" for ln in rules.splitlines()
                  if uuid in ln or f"PFWD-DNAT-{uuid[:8]}" in ln or f"PFWD-SNAT-{uuid[:8]}" in ln]
        found += [f"route {r}" for r in routes for ip in ips if r.split()[:1] == [ip]]
    found += [f"mount {m}" for m in netns_mounts(rkt.root) if any(u in m for u in pods)]
    return found


class Nets:
    """Writes network configs for one test and undoes everything the test put on the host."""

    def __init__(self, rkt):
        self.rkt = rkt
        self.dir = os.path.join(rkt.local_config, "net.d")
        os.makedirs(self.dir, exist_ok=True)
        self.names: list[str] = []
        self.links: list[str] = []

    def conf(self, filename: str, conf: dict | str) -> None:
        with open(os.path.join(self.dir, filename), "w") as f:
            f.write(conf if isinstance(conf, str) else json.dumps(conf))
        if isinstance(conf, dict) and conf.get("name") not in (None, "default"):
            self.names.append(conf["name"])

    def ptp(self, filename: str, name: str, subnet: str, **extra) -> None:
        self.conf(filename, {"cniVersion": "0.3.1", "name": name, "type": "ptp",
                             "ipMasq": True, "ipam": {"type": "host-local", "subnet": subnet,
                                                      "routes": [{"dst": "0.0.0.0/0"}]},
                             **extra})

    def link(self, *ip_link_add: str) -> str:
        name = ip_link_add[0]
        subprocess.run(["ip", "link", "add", *ip_link_add], check=True)
        self.links.append(name)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        return name

    def run(self, *args: str, timeout: float = 120):
        return self.rkt("--insecure-options=image", "run", *args, timeout=timeout)

    def cleanup(self) -> None:
        for name in self.names:
            assert leases(name) == [], f"leases left in {name}"
            shutil.rmtree(os.path.join(LEASES, name), ignore_errors=True)
        for link in self.links:
            if link.startswith("rkttestbr"):  # no pod's veth may still hang on the bridge
                slaves = subprocess.run(["ip", "-o", "link", "show", "master", link],
                                        capture_output=True, text=True).stdout
                assert slaves.strip() == "", f"veths left on {link}: {slaves}"
            subprocess.run(["ip", "link", "del", link], capture_output=True)


def gc_and_check(rkt) -> None:
    """gc twice; nothing of this test's pods may be left on the host or on disk."""
    pods = pods_on_disk(rkt)
    rkt("gc", "--grace-period=0s")
    rkt("gc", "--grace-period=0s")
    assert leftovers(rkt, pods) == []
    assert netns_mounts(rkt.root) == []
    root = os.path.join(rkt.data, "pods")
    assert [p for d in os.listdir(root) for p in os.listdir(os.path.join(root, d))] == []


@pytest.fixture
def nets(rkt):
    n = Nets(rkt)
    try:
        yield n
        gc_and_check(rkt)
    finally:
        rkt("gc", "--grace-period=0s")
        rkt("gc", "--grace-period=0s")
        n.cleanup()


def pod_uuids(rkt) -> list[str]:
    out = rkt.ok("list", "--no-legend", "--full").stdout
    return [line.split("\t")[0] for line in out.splitlines() if line.split("\t")[0]]


def status(rkt, uuid) -> dict:
    return json.loads(rkt.ok("status", "--format=json", uuid).stdout)


def addr_of(text: str, ifname: str) -> str:
    for line in text.splitlines():
        if f" {ifname} " in line and " inet " in line:
            return line.split(" inet ")[1].split("/")[0]
    raise AssertionError(f"no address for {ifname} in {text!r}")


SHOW = "ip -4 -o addr; ip route"


def test_custom_ptp_network(nets, busybox_aci):
    nets.ptp("10-ptp.conf", "rkttest-ptp", "10.254.10.0/24")
    r = nets.run("--net=rkttest-ptp", busybox_aci, "--exec", "/bin/sh", "--", "-c",
                 SHOW + "; ping -c1 -W2 10.254.10.1 >/dev/null && echo gw-ok")
    assert r.returncode == 0, r.stderr
    assert addr_of(r.stdout, "eth0").startswith("10.254.10.")
    assert "default via 10.254.10.1" in r.stdout and "gw-ok" in r.stdout
    (uuid,) = pod_uuids(nets.rkt)
    (info,) = status(nets.rkt, uuid)["networks"]
    assert info["netName"] == "rkttest-ptp" and info["pluginPath"] == "/usr/lib/cni/ptp"
    assert info["netConf"].endswith(f"/{uuid}/net/rkttest-ptp.conf")
    assert os.path.isfile(info["netConf"])


def test_custom_bridge_network(nets, busybox_aci):
    nets.links.append("rkttestbr0")  # made by the bridge plugin; removed after the test
    nets.conf("10-bridge.conf", {"cniVersion": "0.3.1", "name": "rkttest-bridge",
                                 "type": "bridge", "bridge": "rkttestbr0", "isGateway": True,
                                 "ipam": {"type": "host-local", "subnet": "10.254.11.0/24"}})
    server = subprocess.Popen(nets.rkt.argv("--insecure-options=image", "run",
                                            "--net=rkttest-bridge", busybox_aci, "--exec",
                                            "/bin/sh", "--", "-c",
                                            "ping -c1 -W2 10.254.11.1 >/dev/null && echo gw-ok;"
                                            "echo bridged | nc -l -p 5010"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ip = wait_for_ip(nets.rkt, server, "rkttest-bridge")
        assert ip.startswith("10.254.11.")
        # host -> pod over the bridge
        got = nc_get(ip, 5010)
        assert got == b"bridged\n"
        out, err = server.communicate(timeout=30)
        assert "gw-ok" in out, err
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_custom_macvlan_network(nets, busybox_aci):
    # the master: one end of a veth pair (made and removed here; no dummy module needed)
    master = nets.link("rkttestv0", "type", "veth", "peer", "name", "rkttestv1")
    subprocess.run(["ip", "link", "set", "rkttestv1", "up"], check=True)
    # a macvlan of the same master on the host side, in bridge mode, to talk to the pod
    host_side = nets.link("rkttestmv0", "link", master, "type", "macvlan", "mode", "bridge")
    subprocess.run(["ip", "addr", "add", "10.254.12.250/24", "dev", host_side], check=True)
    nets.conf("10-macvlan.conf", {"cniVersion": "0.3.1", "name": "rkttest-macvlan",
                                  "type": "macvlan", "master": master, "mode": "bridge",
                                  "ipam": {"type": "host-local", "subnet": "10.254.12.0/24",
                                           "rangeStart": "10.254.12.10",
                                           "rangeEnd": "10.254.12.20"}})
    r = nets.run("--net=rkttest-macvlan", busybox_aci, "--exec", "/bin/sh", "--", "-c",
                 "ip -o link show eth0; " + SHOW +
                 "; ping -c1 -W2 10.254.12.250 >/dev/null && echo host-ok")
    assert r.returncode == 0, r.stderr
    assert "macvlan" in r.stdout or "@" in r.stdout.split("\n")[0]
    ip = addr_of(r.stdout, "eth0")
    assert 10 <= int(ip.rsplit(".", 1)[1]) <= 20 and ip.startswith("10.254.12.")
    assert "host-ok" in r.stdout


def test_several_networks_follow_load_order(nets, busybox_aci):
    # files load in lexical order: eth0 is "zeta" (10-…) even though --net names it last
    nets.ptp("10-zeta.conf", "rkttest-zeta", "10.254.13.0/24")
    nets.ptp("20-alpha.conf", "rkttest-alpha", "10.254.14.0/24",
             ipam={"type": "host-local", "subnet": "10.254.14.0/24"})
    r = nets.run("--net=rkttest-alpha,rkttest-zeta", busybox_aci, "--exec", "/bin/sh", "--",
                 "-c", SHOW)
    assert r.returncode == 0, r.stderr
    assert addr_of(r.stdout, "eth0").startswith("10.254.13.")
    assert addr_of(r.stdout, "eth1").startswith("10.254.14.")
    (uuid,) = pod_uuids(nets.rkt)
    got = [(n["netName"], n["ifName"]) for n in status(nets.rkt, uuid)["networks"]]
    assert got == [("rkttest-zeta", "eth0"), ("rkttest-alpha", "eth1")]
    line = nets.rkt.ok("list", "--no-legend").stdout.splitlines()[0]
    assert line.split("\t")[-1].startswith("rkttest-zeta:ip4=10.254.13.")
    assert ", rkttest-alpha:ip4=10.254.14." in line


def test_default_restricted_has_no_route_out_and_no_masquerade(nets, busybox_aci):
    r = nets.run("--net=default-restricted", busybox_aci, "--exec", "/bin/sh", "--", "-c",
                 SHOW)
    assert r.returncode == 0, r.stderr
    ip = addr_of(r.stdout, "eth0")
    assert ip.startswith("172.31.")
    assert "default via" not in r.stdout
    nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert ip not in nat  # ipMasq false: no masquerade rule for this pod
    (uuid,) = pod_uuids(nets.rkt)
    assert owned_leases(uuid) == [f"default-restricted/{ip}"]  # held until gc


def test_net_all_loads_every_network_but_default_restricted(nets, busybox_aci):
    nets.ptp("10-extra.conf", "rkttest-extra", "10.254.17.0/24")
    r = nets.run("--net=all", busybox_aci, "--exec", "/bin/true")
    assert r.returncode == 0, r.stderr
    (uuid,) = pod_uuids(nets.rkt)
    assert [n["netName"] for n in status(nets.rkt, uuid)["networks"]] == \
        ["default", "rkttest-extra"]


def test_local_default_overrides_the_builtin_one(nets, busybox_aci):
    nets.ptp("50-mydefault.conf", "default", "10.254.15.0/24")
    r = nets.run("--net=default", busybox_aci, "--exec", "/bin/sh", "--", "-c", SHOW)
    assert r.returncode == 0, r.stderr
    ip = addr_of(r.stdout, "eth0")
    assert ip.startswith("10.254.15.")
    (uuid,) = pod_uuids(nets.rkt)
    (info,) = status(nets.rkt, uuid)["networks"]
    with open(info["netConf"]) as f:
        assert json.load(f)["ipam"]["subnet"] == "10.254.15.0/24"
    assert owned_leases(uuid) == [f"default/{ip}"]
    assert "rkttest" not in json.dumps(status(nets.rkt, uuid))


def test_legacy_private_net_spelling(nets, busybox_aci):
    nets.ptp("10-legacy.conf", "rkttest-legacy", "10.254.18.0/24")
    r = nets.run("--private-net", busybox_aci, "--exec", "/bin/sh", "--", "-c", SHOW)
    assert r.returncode == 0, r.stderr
    assert addr_of(r.stdout, "eth0").startswith("172.16.28.")
    r = nets.run("--private-net=rkttest-legacy", busybox_aci, "--exec", "/bin/sh", "--", "-c",
                 SHOW)
    assert r.returncode == 0, r.stderr
    assert addr_of(r.stdout, "eth0").startswith("10.254.18.")
    # 0.5's -flag spelling, value attached
    r = nets.run("-private-net=rkttest-legacy", busybox_aci, "--exec", "/bin/sh", "--", "-c",
                 SHOW)
    assert r.returncode == 0, r.stderr
    assert addr_of(r.stdout, "eth0").startswith("10.254.18.")


ENV_PLUGIN = """#!/bin/sh
# records the CNI environment of every call, then hands the call to the real ptp plugin
env | grep '^CNI_' | sort > "$(dirname "$0")/env-$CNI_COMMAND"
exec /usr/lib/cni/ptp
"""


def test_cni_env_and_args_reach_the_plugin(nets, busybox_aci):
    plugin = os.path.join(nets.dir, "rkttest-envdump")
    with open(plugin, "w") as f:
        f.write(ENV_PLUGIN)
    os.chmod(plugin, stat.S_IRWXU)
    nets.conf("10-env.conf", {"cniVersion": "0.3.1", "name": "rkttest-env",
                              "type": "rkttest-envdump",
                              "ipam": {"type": "host-local", "subnet": "10.254.16.0/24"}})
    args = "IgnoreUnknown=1;IP=10.254.16.42;FOO=bar"
    r = nets.run(f"--net=rkttest-env:{args}", busybox_aci, "--exec", "/bin/sh", "--", "-c",
                 SHOW)
    assert r.returncode == 0, r.stderr
    assert addr_of(r.stdout, "eth0") == "10.254.16.42"
    (uuid,) = pod_uuids(nets.rkt)
    with open(os.path.join(nets.dir, "env-ADD")) as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f)
    pod_dir = os.path.join(nets.rkt.data, "pods", "run", uuid)
    assert env["CNI_COMMAND"] == "ADD" and env["CNI_CONTAINERID"] == uuid
    assert env["CNI_NETNS"] == os.path.join(pod_dir, "netns")
    assert env["CNI_IFNAME"] == "eth0" and env["CNI_ARGS"] == args
    assert nets.dir in env["CNI_PATH"].split(":") and "/usr/lib/cni" in env["CNI_PATH"]
    (info,) = status(nets.rkt, uuid)["networks"]
    assert info["args"] == args
    nets.rkt.ok("gc", "--grace-period=0s")
    nets.rkt.ok("gc", "--grace-period=0s")
    with open(os.path.join(nets.dir, "env-DEL")) as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f)
    assert env["CNI_COMMAND"] == "DEL" and env["CNI_ARGS"] == args
    assert leases("rkttest-env") == []


def wait_for_ip(rkt, proc, net: str, timeout=30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for line in rkt.ok("list", "--no-legend", "--full").stdout.splitlines():
            cells = line.split("\t")
            if cells[4] == "running" and cells[-1].startswith(f"{net}:ip4="):
                return cells[-1].split("=", 1)[1].split(",")[0]
        time.sleep(0.1)
    raise AssertionError("pod never got an address")


def nc_get(ip: str, port: int) -> bytes:
    import socket

    for _ in range(50):
        try:
            with socket.create_connection((ip, port), timeout=3) as c:
                got = c.recv(100)
            if got:
                return got
        except OSError:
            pass
        time.sleep(0.2)
    return b""


def test_ip_conflict_fails_cleanly_while_the_owner_runs(nets, busybox_aci):
    owner = subprocess.Popen(nets.rkt.argv("--insecure-options=image", "run",
                                           "--net=default:IP=172.16.28.201", busybox_aci,
                                           "--exec", "/bin/sh", "--", "-c",
                                           "trap 'exit 0' TERM; while true; do sleep 1 & wait; "
                                           "done"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_ip(nets.rkt, owner, "default") == "172.16.28.201"
        owner_uuid = pod_uuids(nets.rkt)[0]
        saved = os.path.join(nets.rkt.root, "uuid")
        r = nets.run("--net=default:IP=172.16.28.201", f"--uuid-file-save={saved}",
                     busybox_aci, "--exec", "/bin/true")
        assert r.returncode == 254
        assert "stage1: failed to setup network" in r.stderr and "Traceback" not in r.stderr
        assert "172.16.28.201" in r.stderr
        with open(saved) as f:
            loser = f.read()
        assert leftovers(nets.rkt, {loser: []}) == []
        assert len(netns_mounts(nets.rkt.root)) == 1  # the owner's
        assert owned_leases(owner_uuid) == ["default/172.16.28.201"]
    finally:
        owner.send_signal(signal.SIGTERM)
        owner.communicate(timeout=30)


BAD = {
    "not-json": (lambda n: n.conf("10-bad.conf", '{"name": "rkttest-bad", "type": "ptp",'),
                 "error loading network config \""),
    "unknown-plugin": (lambda n: n.conf("10-bad.conf", {"cniVersion": "0.3.1",
                                                        "name": "rkttest-bad",
                                                        "type": "rkttest-nosuchplugin"}),
                       'could not find CNI plugin "rkttest-nosuchplugin"'),
    "no-ipam": (lambda n: n.conf("10-bad.conf", {"cniVersion": "0.3.1", "name": "rkttest-bad",
                                                 "type": "ptp"}),
                'network "rkttest-bad" (eth1): CNI plugin ptp ADD failed: '),
    "bad-subnet": (lambda n: n.conf("10-bad.conf", {
        "cniVersion": "0.3.1", "name": "rkttest-bad", "type": "bridge", "bridge": "rkttestbr1",
        "isGateway": True, "ipMasq": True,
        "ipam": {"type": "host-local", "subnet": "10.254.300.0/24"}}),
                   'network "rkttest-bad" (eth1): CNI plugin bridge ADD failed: invalid CIDR'),
    "exhausted-range": (lambda n: n.conf("10-bad.conf", {
        "cniVersion": "0.3.1", "name": "rkttest-bad", "type": "ptp", "ipMasq": True,
        "ipam": {"type": "host-local", "subnet": "10.254.19.0/24",
                 "rangeStart": "10.254.19.9", "rangeEnd": "10.254.19.9"}}),
                        "CNI plugin ptp ADD failed: failed to allocate for range 0: no IP "
                        "addresses available"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_network_config_leaves_nothing_behind(nets, busybox_aci, web_aci_port, case):
    make, message = BAD[case]
    nets.links.append("rkttestbr1")
    # "default" sorts first (built in), so eth0 is set up before the broken eth1 fails
    make(nets)
    if case == "exhausted-range":  # the only address goes to a first pod
        r = nets.run("--net=rkttest-bad", busybox_aci, "--exec", "/bin/true")
        assert r.returncode == 0, r.stderr
    before_leases = leases("rkttest-bad")
    saved = os.path.join(nets.rkt.root, "uuid")
    r = nets.run("--net=default,rkttest-bad", "--port=http:18301", f"--uuid-file-save={saved}",
                 web_aci_port, "--exec", "/bin/true")
    assert r.returncode == 254, r.stderr
    assert "stage1: failed to setup network" in r.stderr and "Traceback" not in r.stderr
    assert message in r.stderr
    with open(saved) as f:
        uuid = f.read()
    pods = pods_on_disk(nets.rkt)
    # eth0 (default) was set up before eth1 failed: its address, veth and rules are gone
    assert leftovers(nets.rkt, {uuid: pods[uuid]}) == []
    assert leases("rkttest-bad") == before_leases
    assert not os.path.exists(os.path.join(nets.rkt.data, "pods", "run", uuid, "netns"))


def test_missing_network_is_an_error(nets, busybox_aci):
    r = nets.run("--net=default,rkttest-missing", busybox_aci, "--exec", "/bin/true")
    assert r.returncode == 254
    assert "stage1: failed to setup network" in r.stderr
    assert "networks not found: rkttest-missing" in r.stderr


@pytest.fixture(scope="module")
def web_aci_port(tmp_path_factory, busybox_aci) -> str:
    from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest

    out = tmp_path_factory.mktemp("netweb")
    subprocess.run(["tar", "-xzf", busybox_aci, "-C", str(out)], check=True)
    manifest = image_manifest("example.com/netweb", "1", ["/bin/true"],
                              ports=[{"name": "http", "protocol": "tcp", "port": 8080}])
    return build_aci_from_dir(str(out / "rootfs"), manifest, str(out / "web.aci"))


# --- DNS and hosts (SPEC §9: flags > CNI result > volume on /etc/resolv.conf > image) ------

CNI_DNS = {"nameservers": ["198.51.100.7"], "search": ["cni.example"], "options": ["ndots:3"],
           "domain": "cni.local"}
CNI_RESOLV = ("# Generated by rkt run\n\nsearch cni.example\nnameserver 198.51.100.7\n"
              "options ndots:3\ndomain cni.local\n")


@pytest.fixture(scope="module")
def resolv_aci(tmp_path_factory, busybox_aci) -> str:
    """busybox whose image carries its own /etc/resolv.conf."""
    from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest

    out = tmp_path_factory.mktemp("resolv")
    subprocess.run(["tar", "-xzf", busybox_aci, "-C", str(out)], check=True)
    (out / "rootfs" / "etc" / "resolv.conf").write_text("nameserver 198.51.100.77\n")
    manifest = image_manifest("example.com/resolv", "1", ["/bin/cat", "/etc/resolv.conf"])
    return build_aci_from_dir(str(out / "rootfs"), manifest, str(out / "resolv.aci"))


def test_dns_precedence_flags_cni_volume_image(nets, resolv_aci, tmp_path):
    nets.ptp("10-dns.conf", "rkttest-dns", "10.254.20.0/24", dns=CNI_DNS)
    vol = tmp_path / "vol-resolv.conf"
    vol.write_text("nameserver 198.51.100.99\n")
    volume = [f"--volume=rc,kind=host,source={vol}", resolv_aci,
              "--mount=volume=rc,target=/etc/resolv.conf"]

    def resolv(*args):
        r = nets.run(*args)
        assert r.returncode == 0, r.stderr
        return r.stdout

    # the CNI result's DNS, all four parts, in rkt's file format
    assert resolv("--net=rkttest-dns", resolv_aci) == CNI_RESOLV
    # flags win over the CNI result
    assert resolv("--net=rkttest-dns", "--dns=198.51.100.8", "--dns-search=flag.example",
                  resolv_aci) == \
        "# Generated by rkt run\n\nsearch flag.example\nnameserver 198.51.100.8\n"
    # the CNI result wins over a volume on /etc/resolv.conf, which wins over the image
    assert resolv("--net=rkttest-dns", *volume) == CNI_RESOLV
    assert resolv("--net=default", *volume) == "nameserver 198.51.100.99\n"
    assert resolv("--net=default", resolv_aci) == "nameserver 198.51.100.77\n"
    # --dns=none ignores the CNI DNS: the image's own file stays
    assert resolv("--net=rkttest-dns", "--dns=none", resolv_aci) == \
        "nameserver 198.51.100.77\n"


def test_dns_host_binds_the_host_file_read_only(nets, busybox_aci):
    r = nets.run("--dns=host", busybox_aci, "--exec", "/bin/sh", "--", "-c",
                 "cat /etc/resolv.conf; (echo '#x' >> /etc/resolv.conf) 2>/dev/null && echo WRITABLE;"
                 "true")
    assert r.returncode == 0, r.stderr
    with open("/etc/resolv.conf") as f:
        assert r.stdout == f.read()


def test_hosts_entries_and_host_hosts(nets, busybox_aci):
    r = nets.run("--hosts-entry=198.51.100.9=db.example,198.51.100.10=cache",
                 "--hosts-entry=198.51.100.9=db2", busybox_aci, "--exec", "/bin/cat", "--",
                 "/etc/hosts")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "stage1", "rootfs", "etc", "hosts-fallback")) as f:
        fallback = f.read()
    assert r.stdout == fallback + ("\n\n# Added by rkt run --hosts-entry\n"
                                   "198.51.100.9 db.example db2\n198.51.100.10 cache\n")
    r = nets.run("--hosts-entry=host", busybox_aci, "--exec", "/bin/cat", "--", "/etc/hosts")
    assert r.returncode == 0, r.stderr
    with open("/etc/hosts") as f:
        assert r.stdout == f.read()


@pytest.mark.parametrize("flags,message", [
    (["--dns=bogus"], "Invalid IP passed to --dns: bogus"),
    (["--dns=198.51.100.1,nope"], "Invalid IP passed to --dns: nope"),
    (["--dns=host", "--dns=198.51.100.1"],
     "no other --dns options allowed when --dns=host is passed"),
    (["--dns=host", "--dns-search=x.example"],
     "Cannot call --dns-opt, --dns-search, or --dns-domain with --dns=host"),
    (["--dns=none", "--dns-opt=ndots:1"],
     "Cannot call --dns-opt, --dns-search, or --dns-domain with --dns=none"),
    (["--hosts-entry=host", "--hosts-entry=198.51.100.1=a"],
     "cannot pass --hosts-entry=host with multiple hosts-entries"),
    (["--hosts-entry=nope=a"], "Invalid IP passed to --hosts-entry: nope"),
    (["--hosts-entry=198.51.100.1"], "Did not understand --hosts-entry 198.51.100.1"),
    (["--net=host", "--port=http:18302"], "--port flag does not work with 'host' networking"),
    (["--net=none", "--mds-register"], "--mds-register flag does not work with --net=none"),
])
def test_malformed_dns_and_network_flags_make_no_pod(nets, busybox_aci, flags, message):
    r = nets.run(*flags, busybox_aci, "--exec", "/bin/true")
    assert r.returncode == 254
    assert message in r.stderr and "Traceback" not in r.stderr
    assert pods_on_disk(nets.rkt) == {}
