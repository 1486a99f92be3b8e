"""rkt run on CNI networks, end to end: addresses, pod-to-pod and host-to-pod traffic, port
forwards, DNS flags, bad networks, and a gc that leaves nothing behind on the host."""

import json
import os
import socket
import subprocess
import time

import pytest

from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/ptp"),
    reason="needs root and Debian's containernetworking-plugins (CI has both)")


def leftovers(uuids: list[str], data_dir: str) -> list[str]:
    """What the host still holds for these pods: CNI leases, iptables rules, netns mounts."""
    found = []
    lease_dir = "/var/lib/cni/networks/default"
    for name in os.listdir(lease_dir) if os.path.isdir(lease_dir) else []:
        try:
            with open(os.path.join(lease_dir, name)) as f:
                owner = f.read()
        except OSError:
            continue
        found += [f"lease {name}" for u in uuids if u in owner]
    nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    found += [f"iptables {u}" for u in uuids if u in nat or f"PFWD-DNAT-{u[:8]}" in nat]
    with open("/proc/self/mountinfo") as f:
        found += [line for line in f if data_dir in line]
    return found


@pytest.fixture
def clean_host(rkt):
    yield
    pods = os.path.join(rkt.data, "pods")
    uuids = [u for state in os.listdir(pods) for u in os.listdir(os.path.join(pods, state))] \
        if os.path.isdir(pods) else []
    rkt("gc", "--grace-period=0s")
    rkt("gc", "--grace-period=0s")
    assert leftovers(uuids, rkt.data) == []


@pytest.fixture(scope="module")
def web_aci(tmp_path_factory, busybox_aci):
    """busybox with a declared port "http" (8080/tcp)."""
    out = tmp_path_factory.mktemp("web")
    rootfs = out / "rootfs"
    subprocess.run(["tar", "-xzf", busybox_aci, "-C", str(out)], check=True)
    manifest = image_manifest("example.com/web", "1", ["/bin/sh"],
                              ports=[{"name": "http", "protocol": "tcp", "port": 8080}])
    return build_aci_from_dir(str(rootfs), manifest, str(out / "web.aci"))


def start(rkt, *args):
    return subprocess.Popen(rkt.argv("--insecure-options=image", "run", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ip(rkt, proc, timeout=30) -> tuple[str, str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        for line in rkt.ok("list", "--no-legend", "--full").stdout.splitlines():
            cells = line.split("\t")
            if cells[-1].startswith("default:ip4=") and cells[4] == "running":
                return cells[0], cells[-1].split("=", 1)[1]
        time.sleep(0.1)
    raise AssertionError("pod never got an address")


def test_default_network_address_list_status_and_gc(rkt, busybox_aci, clean_host):
    r = rkt.ok("--insecure-options=image", "run", busybox_aci, "--exec", "/bin/sh", "--",
               "-c", "ip -4 -o addr show eth0")
    ip = r.stdout.split("inet ")[1].split("/")[0]
    assert ip.startswith("172.16.28.")
    lines = rkt.ok("list", "--no-legend").stdout.splitlines()
    assert lines[0].split("\t")[-1] == f"default:ip4={ip}"
    uuid = rkt.ok("list", "--no-legend", "--full").stdout.split("\t")[0]
    pod = json.loads(rkt.ok("status", "--format=json", uuid).stdout)
    assert pod["networks"][0]["netName"] == "default" and pod["networks"][0]["ip"] == ip


def test_unknown_network_fails_cleanly(rkt, busybox_aci, clean_host):
    r = rkt("--insecure-options=image", "run", "--net=notavalidnetwork", busybox_aci,
            "--exec", "/bin/true")
    assert r.returncode != 0
    assert "stage1: failed to setup network" in r.stderr and "Traceback" not in r.stderr


def test_requested_ip(rkt, busybox_aci, clean_host):
    r = rkt.ok("--insecure-options=image", "run", "--net=default:IP=172.16.28.123", busybox_aci,
               "--exec", "/bin/sh", "--", "-c", "ip -4 -o addr show eth0")
    assert "inet 172.16.28.123/24" in r.stdout


def test_two_pods_reach_each_other_and_the_host_reaches_them(rkt, busybox_aci, clean_host):
    server = start(rkt, busybox_aci, "--exec", "/bin/sh", "--", "-c",
                   "nc -l -p 5000 -e /bin/echo pong; echo served")
    try:
        _, ip = wait_ip(rkt, server)
        client = rkt.ok("--insecure-options=image", "run", busybox_aci, "--exec", "/bin/sh",
                        "--", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do nc {ip} 5000 </dev/null && exit; "
                        "sleep 0.3; done; exit 1")
        assert "pong" in client.stdout
        out, _ = server.communicate(timeout=30)
        assert "served" in out
    finally:
        server.kill()
    host_server = start(rkt, busybox_aci, "--exec", "/bin/sh", "--", "-c",
                        "nc -l -p 5001 -e /bin/echo hello-host")
    try:
        _, ip = wait_ip(rkt, host_server)
        got = b""
        for _ in range(30):
            try:
                with socket.create_connection((ip, 5001), timeout=3) as c:
                    got = c.recv(100)
                break
            except OSError:
                time.sleep(0.2)
        assert got == b"hello-host\n"
    finally:
        host_server.communicate(timeout=30)


def test_port_forward_from_localhost(rkt, web_aci, clean_host):
    server = start(rkt, "--port=http:18087", web_aci, "--exec", "/bin/sh", "--", "-c",
                   "nc -l -p 8080 -e /bin/echo via-port")
    try:
        wait_ip(rkt, server)
        got = b""
        for _ in range(30):
            try:
                with socket.create_connection(("127.0.0.1", 18087), timeout=3) as c:
                    got = c.recv(100)
                if got:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert got == b"via-port\n"
    finally:
        server.communicate(timeout=30)


def test_port_name_must_exist(rkt, busybox_aci, clean_host):
    r = rkt("--insecure-options=image", "run", "--port=nope:18088", busybox_aci)
    assert r.returncode == 254
    assert 'port name "nope" could not be found in any apps' in r.stderr


def test_dns_flags_write_resolv_conf(rkt, busybox_aci, clean_host):
    r = rkt.ok("--insecure-options=image", "run", "--dns=8.8.4.4", "--dns-search=example.com",
               "--dns-opt=ndots:2", busybox_aci, "--exec", "/bin/cat", "--", "/etc/resolv.conf")
    assert "nameserver 8.8.4.4" in r.stdout and "search example.com" in r.stdout
    assert "options ndots:2" in r.stdout
