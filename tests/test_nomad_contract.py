"""Nomad's rkt driver contract (SPEC §10), replayed command line by command line.

Every argv below is spelled the way the driver builds it (flag forms, order, values: volume
names ``<alloc id>-<task>-alloc``, ``--memory`` in bytes, ``--cpu`` in shares read as cores,
``--port=<name>:<host port>``, app args after ``--``), only preceded by this test's private
``--dir``/``--local-config``/``--system-config``. What the driver takes from each answer is
parsed the way the driver parses it: by a small Go program built here against Debian's appc
spec (``appcschema.PodManifest`` with its validation, a ``Pod`` whose ``ip``/``mask`` are
``net.IP``), or by an equivalent Python reading when Go is not installed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid as uuidlib

import pytest
from conftest import rkt_command
from test_net_named import gc_and_check

from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/ptp"),
    reason="needs root and Debian's containernetworking-plugins (CI has both)")

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
APPC_SRC = "/usr/share/gocode/src/github.com/appc/spec/schema"

# The driver's parsing, in Go (written for this test; mirrors rkt's api/v1 Pod and NetInfo).
PARSER_GO = r'''
package main

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"regexp"

	appcschema "github.com/appc/spec/schema"
)

type NetInfo struct {
	NetName    string `json:"netName"`
	ConfPath   string `json:"netConf"`
	PluginPath string `json:"pluginPath"`
	IfName     string `json:"ifName"`
	IP         net.IP `json:"ip"`
	Args       string `json:"args"`
	Mask       net.IP `json:"mask"`
}

type Mount struct {
	Name          string `json:"name"`
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path"`
	ReadOnly      bool   `json:"read_only"`
}

type App struct {
	Name            string            `json:"name"`
	State           string            `json:"state"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	FinishedAt      *int64            `json:"finished_at,omitempty"`
	ExitCode        *int32            `json:"exit_code,omitempty"`
	ImageID         string            `json:"image_id"`
	Mounts          []*Mount          `json:"mounts,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
}

type Pod struct {
	UUID            string            `json:"name"`
	State           string            `json:"state"`
	Networks        []NetInfo         `json:"networks,omitempty"`
	AppNames        []string          `json:"app_names,omitempty"`
	Apps            []*App            `json:"apps,omitempty"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

func main() {
	in, err := ioutil.ReadAll(os.Stdin)
	if err != nil {
		fail("%v", err)
	}
	res := map[string]interface{}{}
	switch os.Args[1] {
	case "version":
		rkt := regexp.MustCompile(`rkt [vV]ersion[:]? (\d[.\d]+)`).FindStringSubmatch(string(in))
		appc := regexp.MustCompile(`appc [vV]ersion[:]? (\d[.\d]+)`).FindStringSubmatch(string(in))
		if len(rkt) != 2 || len(appc) != 2 {
			fail("Unable to parse rkt version string")
		}
		res["rkt"], res["appc"] = rkt[1], appc[1]
	case "status":
		var pod Pod
		if err := json.Unmarshal(in, &pod); err != nil {
			fail("status JSON: %v", err)
		}
		res["name"], res["state"], res["networks"] = pod.UUID, pod.State, len(pod.Networks)
		for _, n := range pod.Networks {
			if n.IP.IsGlobalUnicast() {
				res["ip"] = pod.Networks[0].IP.String()
				break
			}
		}
	case "manifest":
		var m appcschema.PodManifest
		if err := json.Unmarshal(in, &m); err != nil {
			fail("pod manifest: %v", err)
		}
		if len(m.Apps) != 1 {
			fail("manifest has %d apps", len(m.Apps))
		}
		if m.Apps[0].App == nil {
			fail("specified app has no App object")
		}
		var portMap map[string]string
		if err := json.Unmarshal([]byte(os.Args[2]), &portMap); err != nil {
			fail("port map: %v", err)
		}
		ports := map[string]int{}
		for svc, name := range portMap {
			for _, p := range m.Apps[0].App.Ports {
				if p.Name.String() == name {
					ports[svc] = int(p.Port)
				}
			}
		}
		res["ports"] = ports
	default:
		fail("unknown mode %s", os.Args[1])
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
'''


class DriverParser:
    """What the driver reads from rkt's answers; raises AssertionError where it would fail."""

    def __init__(self, binary: str | None):
        self.binary = binary

    def _go(self, mode: str, text: str, *args: str) -> dict:
        r = subprocess.run([self.binary, mode, *args], input=text, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, f"the driver cannot parse this {mode} answer: {r.stderr}" \
                                  f"\n{text[:2000]}"
        return json.loads(r.stdout)

    def version(self, text: str) -> dict:
        if self.binary:
            return self._go("version", text)
        rkt = re.search(r"rkt [vV]ersion[:]? (\d[.\d]+)", text)
        appc = re.search(r"appc [vV]ersion[:]? (\d[.\d]+)", text)
        assert rkt and appc, "Unable to parse rkt version string"
        return {"rkt": rkt.group(1), "appc": appc.group(1)}

    def status(self, text: str) -> dict:
        if self.binary:
            return self._go("status", text)
        pod = json.loads(text)
        res = {"name": pod["name"], "state": pod["state"],
               "networks": len(pod.get("networks") or [])}
        for n in pod.get("networks") or []:
            ip = ipaddress.ip_address(n["ip"]) if n.get("ip") else None
            if ip and not (ip.is_loopback or ip.is_multicast or ip.is_link_local
                           or ip.is_unspecified or str(ip) == "255.255.255.255"):
                res["ip"] = pod["networks"][0]["ip"]
                break
        return res

    def manifest(self, text: str, port_map: dict[str, str]) -> dict:
        if self.binary:
            return self._go("manifest", text, json.dumps(port_map))
        m = json.loads(text)
        assert m["acKind"] == "PodManifest" and len(m["apps"]) == 1
        ports = m["apps"][0]["app"].get("ports") or []
        return {"ports": {svc: p["port"] for svc, name in port_map.items() for p in ports
                          if p["name"] == name}}


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> DriverParser:
    if shutil.which("go") is None or not os.path.isdir(APPC_SRC):
        return DriverParser(None)  # Python reading of the same fields
    work = tmp_path_factory.mktemp("nomadparse")
    src = work / "src" / "nomadparse"
    src.mkdir(parents=True)
    (src / "main.go").write_text(PARSER_GO)
    env = dict(os.environ, GO111MODULE="off", CGO_ENABLED="0", GOFLAGS="",
               GOPATH=f"{work}:/usr/share/gocode", GOCACHE=str(work / "cache"))
    binary = str(work / "nomadparse")
    subprocess.run(["go", "build", "-o", binary, "nomadparse"], env=env, check=True,
                   capture_output=True, timeout=600)
    return DriverParser(binary)


@pytest.fixture(scope="module")
def web_aci(tmp_path_factory, busybox_aci) -> str:
    """busybox with a declared port "http" (8080/tcp), running /bin/sh."""
    out = tmp_path_factory.mktemp("nomadweb")
    subprocess.run(["tar", "-xzf", busybox_aci, "-C", str(out)], check=True)
    os.chmod(out / "rootfs", 0o755)  # the example image's rootfs is 0700: no way in for uid 1000
    manifest = image_manifest("example.com/web", "1", ["/bin/sh"],
                              ports=[{"name": "http", "protocol": "tcp", "port": 8080}])
    return build_aci_from_dir(str(out / "rootfs"), manifest, str(out / "web.aci"))


@pytest.fixture
def clean_host(rkt):
    yield
    gc_and_check(rkt)  # no lease, rule, route or netns mount of these pods left


class Task:
    """A Nomad task: alloc id, name and its task directories."""

    def __init__(self, root, name="web_task"):
        self.alloc_id = str(uuidlib.uuid4())
        self.name = name
        self.dirs = {}
        for d in ("alloc", "local", "secrets", "data"):
            p = os.path.join(root, "task", d)
            os.makedirs(p, exist_ok=True)
            os.chmod(p, 0o777)
            self.dirs[d] = p

    def vol(self, suffix: str) -> str:
        return f"{self.alloc_id}-{self.name.replace('_', '-')}-{suffix}"


def prepare_argv(task: Task, image: str, *, insecure: str | None = "image,tls,ondisk",
                 debug=False, no_overlay=True, env=(), command="", memory=268435456, cpu=100,
                 ports=(), user="", group="", args=()) -> list[str]:
    """The driver's prepare command line, in its order."""
    argv = []
    if insecure:
        argv.append(f"--insecure-options={insecure}")
    argv += [f"--debug={'true' if debug else 'false'}", "prepare"]
    if no_overlay:
        argv.append("--no-overlay=true")
    for d, target in (("alloc", "/alloc"), ("local", "/local"), ("secrets", "/secrets")):
        argv += [f"--volume={task.vol(d)},kind=host,source={task.dirs[d]}",
                 f"--mount=volume={task.vol(d)},target={target}"]
    # a job volume ("/host:/container:readOnly") and a task mount, as the driver spells them
    argv += [f"--volume={task.vol('0')},kind=host,source={task.dirs['data']},readOnly=true",
             f"--mount=volume={task.vol('0')},target=/data",
             f"--volume={task.vol('taskmounts-0')},kind=host,source={task.dirs['data']},"
             "readOnly=false",
             f"--mount=volume={task.vol('taskmounts-0')},target=/rw"]
    argv += [f"--set-env={k}={v}" for k, v in env]
    argv.append(image)
    if command:
        argv.append(f"--exec={command}")
    argv += [f"--memory={memory}", f"--cpu={cpu}"]
    argv += [f"--port={name}:{hostport}" for name, hostport in ports]
    if user:
        argv.append(f"--user={user}")
    if group:
        argv.append(f"--group={group}")
    if args:
        argv += ["--", *args]
    return argv


def run_prepared_argv(uuid: str, *, insecure="image,tls,ondisk", dns=(), dns_search=(),
                      net="") -> list[str]:
    argv = [f"--insecure-options={insecure}"] if insecure else []
    argv += ["--debug=false", "run-prepared"]
    if len(dns) == 1 and dns[0] in ("host", "none"):
        argv.append(f"--dns={dns[0]}")
    else:
        argv += [f"--dns={ip}" for ip in dns]
    argv += [f"--dns-search={d}" for d in dns_search]
    if net:
        argv.append(f"--net={net}")
    return argv + [uuid]


def prepare(rkt, argv) -> str:
    r = rkt(*argv)
    assert r.returncode == 0, r.stderr
    uuid = r.stdout.strip()  # the driver's strings.TrimSpace(stdout)
    assert UUID_RE.match(uuid), r.stdout
    return uuid


class StatusPoller:
    """Polls ``rkt status --format=json UUID`` the whole time, as the driver may."""

    def __init__(self, rkt, uuid, driver):
        self.rkt, self.uuid, self.driver = rkt, uuid, driver
        self.answers: list[tuple[int, str, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.is_set():
            r = self.rkt("status", "--format=json", self.uuid, timeout=60)
            self.answers.append((r.returncode, r.stdout, r.stderr))

    def close(self) -> list[dict]:
        self.stop.set()
        self.thread.join(60)
        parsed = []
        for code, out, err in self.answers:
            assert code == 0, f"status failed while polled: {err}"
            parsed.append(self.driver.status(out))
        return parsed


def driver_network(rkt, uuid, driver, port_map, timeout=60.0) -> dict:
    """rktGetDriverNetwork: poll status until a global unicast IP, then cat-manifest."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = rkt("status", "--format=json", uuid)
        if r.returncode == 0:
            st = driver.status(r.stdout)
            if st.get("ip"):
                m = rkt("cat-manifest", uuid)
                assert m.returncode == 0, m.stderr
                return {"ip": st["ip"], "ports": driver.manifest(m.stdout, port_map)["ports"]}
        time.sleep(0.2)
    raise AssertionError("the driver never got the pod's network")


def connect(port: int, host="127.0.0.1", tries=50) -> bytes:
    for _ in range(tries):
        try:
            with socket.create_connection((host, port), timeout=3) as c:
                got = c.recv(100)
            if got:
                return got
        except OSError:
            pass
        time.sleep(0.2)
    return b""


def test_fingerprint_parses_version(driver):
    r = subprocess.run(rkt_command() + ["version"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    v = driver.version(r.stdout.strip())
    assert v == {"rkt": "1.30.0", "appc": "0.8.11"}
    assert tuple(int(x) for x in v["rkt"].split(".")) >= (1, 27, 0)


def test_trust_prefix_with_key_file(rkt, tmp_path):
    from gpgkeys import make_key

    key = make_key(tmp_path, "Nomad Signer <nomad@example.com>")
    try:
        r = rkt("trust", "--skip-fingerprint-review=true", "--prefix=example.com/web",
                "--debug=false", key.public_path)
        assert r.returncode == 0, r.stderr
        stored = os.path.join(rkt.local_config, "trustedkeys", "prefix.d", "example.com", "web",
                              key.fingerprint)
        assert os.path.isfile(stored)
        assert 'Added key for prefix "example.com/web"' in r.stdout + r.stderr
    finally:
        key.close()


def test_task_lifecycle_on_the_default_network(rkt, web_aci, driver, tmp_path, clean_host):
    task = Task(str(tmp_path))
    with open(os.path.join(task.dirs["data"], "ro.txt"), "w") as f:
        f.write("read-only data\n")
    script = ("id -u > /alloc/uid; id -g > /alloc/gid; echo \"$NOMAD_TASK_NAME $FOO\" > "
              "/alloc/env; trap 'echo got-term; exit 0' TERM; "
              "(while true; do echo hello-nomad | nc -l -p 8080; done) & "
              "while true; do sleep 1 & wait $!; done")
    uuid = prepare(rkt, prepare_argv(
        task, web_aci, env=[("NOMAD_TASK_NAME", "web_task"), ("FOO", "bar baz")],
        command="/bin/sh", ports=[("http", 18190)], user="user", group="user",
        args=["-c", script]))
    prepared = driver.status(rkt.ok("status", "--format=json", uuid).stdout)
    assert prepared == {"name": uuid, "state": "prepared", "networks": 0}

    poller = StatusPoller(rkt, uuid, driver)
    argv = run_prepared_argv(uuid, dns=["198.51.100.53", "198.51.100.54"],
                             dns_search=["service.consul"])
    proc = subprocess.Popen(rkt.argv(*argv),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = driver_network(rkt, uuid, driver, {"web": "http"})
        assert ipaddress.ip_address(got["ip"]) in ipaddress.ip_network("172.16.28.0/24")
        assert got["ports"] == {"web": 8080}
        assert proc.poll() is None  # still in the foreground

        # the port the driver announced reaches the app, from the host's loopback
        assert connect(18190) == b"hello-nomad\n"

        # exec: rkt enter UUID CMD ARGS -> stdout and exit code
        r = rkt("enter", uuid, "/bin/sh", "-c",
                "cat /alloc/uid /alloc/gid /alloc/env; cat /etc/resolv.conf; "
                "cat /data/ro.txt; touch /data/x 2>/dev/null && echo data-rw; "
                "touch /rw/y && echo rw-ok; exit 7")
        assert r.returncode == 7, r.stderr
        lines = r.stdout.splitlines()
        assert lines[:3] == ["1000", "1000", "web_task bar baz"]
        assert "nameserver 198.51.100.53" in lines and "nameserver 198.51.100.54" in lines
        assert "search service.consul" in lines
        assert "read-only data" in lines and "data-rw" not in lines and "rw-ok" in lines
        assert rkt("enter", uuid, "/bin/true").returncode == 0
        assert rkt("enter", uuid, "/bin/false").returncode == 1

        # StopTask: SIGTERM to the process the driver started
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    answers = poller.close()
    assert "got-term" in out, (out, err)
    assert proc.returncode >= 0, "run-prepared died of the signal instead of stopping the pod"
    final = json.loads(rkt.ok("status", "--format=json", uuid).stdout)
    assert final["state"] == "exited"
    assert final["apps"][0]["exit_code"] == proc.returncode
    states = [a["state"] for a in answers]
    assert "running" in states and all(s in ("prepared", "running", "exited") for s in states)
    assert any(a.get("ip") == got["ip"] for a in answers)
    assert driver.status(json.dumps(final)).get("ip") == got["ip"]


def test_app_exit_status_is_the_exit_status(rkt, web_aci, driver, tmp_path, clean_host):
    task = Task(str(tmp_path))
    uuid = prepare(rkt, prepare_argv(task, web_aci, insecure="all", no_overlay=False,
                                     memory=67108864, cpu=500,
                                     args=["-c", "echo out-of-pod; exit 5"]))
    manifest = json.loads(rkt.ok("cat-manifest", uuid).stdout)
    iso = {i["name"]: i["value"] for i in manifest["apps"][0]["app"]["isolators"]}
    assert iso["resource/memory"]["limit"] == "67108864"
    assert iso["resource/cpu"]["limit"] == "500"
    assert driver.manifest(rkt.ok("cat-manifest", uuid).stdout, {"web": "http"})["ports"] == \
        {"web": 8080}
    r = rkt(*run_prepared_argv(uuid, insecure="all", net="default"), timeout=120)
    assert r.returncode == 5, r.stderr
    assert "out-of-pod" in r.stdout
    st = rkt.ok("status", uuid).stdout
    assert "app-web=5" in st and "state=exited" in st
    assert driver.status(rkt.ok("status", "--format=json", uuid).stdout)["state"] == "exited"
    # a pod that has exited is not prepared any more
    again = rkt(*run_prepared_argv(uuid))
    assert again.returncode == 254 and "is not prepared" in again.stderr


def test_host_network_and_host_dns(rkt, web_aci, tmp_path, clean_host):
    task = Task(str(tmp_path))
    uuid = prepare(rkt, prepare_argv(task, web_aci, args=["-c", "cat /etc/resolv.conf; exit 3"]))
    r = rkt(*run_prepared_argv(uuid, dns=["host"], net="host"), timeout=120)
    assert r.returncode == 3, r.stderr
    with open("/etc/resolv.conf") as f:
        assert f.read() in r.stdout
    pod = json.loads(rkt.ok("status", "--format=json", uuid).stdout)
    assert "networks" not in pod


def test_dns_none_and_several_networks(rkt, web_aci, tmp_path, clean_host):
    netd = os.path.join(rkt.local_config, "net.d")
    os.makedirs(netd)
    with open(os.path.join(netd, "10-nomadnet.conf"), "w") as f:
        json.dump({"cniVersion": "0.3.1", "name": "nomadnet", "type": "bridge",
                   "bridge": "rktnomad0", "isGateway": True,
                   "ipam": {"type": "host-local", "subnet": "10.254.77.0/24"}}, f)
    task = Task(str(tmp_path))
    uuid = prepare(rkt, prepare_argv(task, web_aci, args=[
        "-c", "ip -4 -o addr show eth0; ip -4 -o addr show eth1; cat /etc/resolv.conf; exit 0"]))
    try:
        r = rkt(*run_prepared_argv(uuid, dns=["none"], net="default,nomadnet"), timeout=120)
        assert r.returncode == 0, r.stderr
        assert "inet 172.16.28." in r.stdout and "inet 10.254.77." in r.stdout
        assert "nameserver" not in r.stdout
        pod = json.loads(rkt.ok("status", "--format=json", uuid).stdout)
        assert [n["netName"] for n in pod["networks"]] == ["default", "nomadnet"]
        assert [n["ifName"] for n in pod["networks"]] == ["eth0", "eth1"]
        assert set(pod["networks"][0]) == {"netName", "netConf", "pluginPath", "ifName", "ip",
                                           "args", "mask"}
    finally:
        rkt("gc", "--grace-period=0s")
        rkt("gc", "--grace-period=0s")
        subprocess.run(["ip", "link", "del", "rktnomad0"], capture_output=True)
        leases = "/var/lib/cni/networks/nomadnet"
        assert not [n for n in os.listdir(leases) if n[0].isdigit()]
        shutil.rmtree(leases)


def test_trust_discovery_then_signed_prepare(rkt, web_aci, driver, tmp_path, clean_host):
    """With ``trust_prefix`` the driver runs trust without a key (meta discovery) and then
    prepares with no --insecure-options at all: the image must verify."""
    for tool in ("unshare", "nsenter", "openssl", "gpg"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    from gpgkeys import make_key
    from httpfixtures import PrivateNet, TestCA

    key = make_key(tmp_path, "Nomad Signer <nomad@example.com>")
    net = PrivateNet(tmp_path, TestCA(tmp_path), ["example.com", "images.example.com"])
    try:
        with open(web_aci, "rb") as f:
            data = f.read()
        with open(key.sign(web_aci), "rb") as f:
            sig = f.read()
        net.site.discovery("example.com/web", [
            ("ac-discovery", "example.com", "https://images.example.com/{name}-{version}.{ext}"),
            ("ac-discovery-pubkeys", "example.com", "https://images.example.com/pubkeys.gpg")])
        net.site.file("images.example.com", "/example.com/web-1.aci", data)
        net.site.file("images.example.com", "/example.com/web-1.aci.asc", sig)
        net.site.file("images.example.com", "/pubkeys.gpg", key.armored_public.encode())
        r = net.rkt(rkt, "trust", "--skip-fingerprint-review=true", "--prefix=example.com/web",
                    "--debug=false")
        assert r.returncode == 0, r.stderr
        task = Task(str(tmp_path))
        r = net.rkt(rkt, *prepare_argv(task, "example.com/web:1", insecure=None,
                                       args=["-c", "exit 0"]))
        assert r.returncode == 0, r.stderr
        uuid = r.stdout.strip()
        assert UUID_RE.match(uuid)
        assert "signature verified" in r.stderr
    finally:
        net.close()
        key.close()
    r = rkt(*run_prepared_argv(uuid, insecure=None), timeout=120)
    assert r.returncode == 0, r.stderr


def test_sigint_is_an_orderly_stop_too(rkt, web_aci, tmp_path, clean_host):
    """Nomad's default kill_signal is SIGINT: the same orderly stop as SIGTERM."""
    task = Task(str(tmp_path))
    uuid = prepare(rkt, prepare_argv(task, web_aci, args=[
        "-c", "trap 'echo got-stop; exit 0' TERM INT; touch /alloc/up; "
              "while true; do sleep 1 & wait $!; done"]))
    proc = subprocess.Popen(rkt.argv(*run_prepared_argv(uuid)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(task.dirs["alloc"], "up")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "got-stop" in out, err
    assert proc.returncode >= 0
    assert f"app-web={proc.returncode}" in rkt.ok("status", uuid).stdout
