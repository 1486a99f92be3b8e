"""The native `rkt` front end (native/stage0): the common `rkt run` without Python.

Its promise has two halves, and each is tested against a build whose Python hand-over is a
probe script (it records its argv and exits 99), so a silent hand-over cannot pass:

- for the command lines it runs, the pod is the one the Python stage0 makes: the same
  files, modes, manifests and tree IDs, the same exit code and output;
- everything else reaches the Python rkt untouched, before anything is written.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from conftest import REPO, package_env, wait_with_gc_beside

pytestmark = pytest.mark.usefixtures("as_root")

HAND_OVER = 99


@pytest.fixture(scope="session")
def probe(tmp_path_factory) -> str:
    """The front end built with a probe as its Python rkt."""
    if not (shutil.which("make") and shutil.which("cc")):
        pytest.skip("needs make and a C compiler (scripts/install.sh installs build-essential)")
    import rktfast

    d = tmp_path_factory.mktemp("native")
    hand_over = d / "python-rkt"
    hand_over.write_text('#!/bin/sh\nprintf "%s\\n" "$0" "$@" > "$(dirname "$0")/argv"\n'
                         f"exit {HAND_OVER}\n")
    hand_over.chmod(0o755)
    out = d / "rkt"
    # STAGE0_CFLAGS="-O1 -g -fsanitize=address,undefined" runs these tests under sanitizers
    cflags = [f"CFLAGS={os.environ['STAGE0_CFLAGS']}"] if os.environ.get("STAGE0_CFLAGS") else []
    subprocess.run(["make", "-s", "-C", os.path.join(REPO, "native", "stage0"), f"OUT={out}",
                    f"PYTHON_LAUNCHER={hand_over}",
                    f"PACKAGE_DIR={os.path.dirname(rktfast.__file__)}", *cflags],
                   check=True, capture_output=True)
    return str(out)


def python_rkt() -> list[str]:
    beside = os.path.join(os.path.dirname(sys.executable), "rkt-python")
    return [beside] if os.path.exists(beside) else [sys.executable, "-m", "rktfast"]


def build_image(base: str, name: str, app: dict) -> str:
    """A busybox image named ``name`` whose manifest has the ``app`` section given."""
    sys.path.insert(0, os.path.join(REPO, "examples"))
    from build_busybox_aci import make_rootfs

    from rktfast.appc.aci_builder import build_aci_from_dir, image_manifest

    root = os.path.join(base, name.replace("/", "_"))
    make_rootfs(root, "/bin/busybox")
    manifest = image_manifest(name, "1.0.0")
    manifest["app"] = app
    out = root + ".aci"
    build_aci_from_dir(root, manifest, out, compression="none")
    return out


class Store:
    """An rkt environment (the ``rkt`` fixture's dirs) with images fetched and the bundled
    stage1 imported, and both rkts to run pods in it."""

    def __init__(self, rkt, probe: str):
        self.rkt = rkt
        self.probe = probe

    def argv(self, rkt: list[str], args: tuple[str, ...]) -> list[str]:
        return [*rkt, f"--dir={self.rkt.data}", f"--local-config={self.rkt.local_config}",
                f"--system-config={self.rkt.system_config}", *args]

    def native(self, *args: str, **kw) -> subprocess.CompletedProcess:
        try:
            os.unlink(os.path.join(os.path.dirname(self.probe), "argv"))
        except FileNotFoundError:
            pass
        return subprocess.run(self.argv([self.probe], args), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60, **kw)

    def handed_over(self) -> list[str] | None:
        """The argv the probe got from the last native run, if it got one."""
        try:
            with open(os.path.join(os.path.dirname(self.probe), "argv"),
                      errors="surrogateescape") as f:
                return f.read().splitlines()[1:]
        except FileNotFoundError:
            return None

    def python(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(python_rkt(), args), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)

    def pods(self) -> set[str]:
        d = os.path.join(self.rkt.data, "pods", "run")
        return set(os.listdir(d)) if os.path.isdir(d) else set()

    def newest_pod(self, before: set[str]) -> str:
        (uuid,) = self.pods() - before
        return uuid


@pytest.fixture
def store(rkt, probe, busybox_aci, tmp_path):
    odd = build_image(str(tmp_path), "example.com/odd-app", {
        "exec": ["/bin/sh", "-c", "echo \"$GREETING\" in $(pwd); exit 4"],
        "user": "0", "group": "0", "workingDirectory": "/tmp",
        "environment": [{"name": "GREETING", "value": "a<b>&c \u2028 é \"q\" \\"},
                        {"name": "EMPTY", "value": ""}],
        "eventHandlers": [], "isolators": None, "userLabels": {},
    })
    for aci in (busybox_aci, odd):
        rkt.ok("--insecure-options=image", "fetch", aci)
    s = Store(rkt, probe)
    r = s.python("run", "--net=host", "example.com/busybox", "--exec", "/bin/true")
    assert r.returncode == 0, r.stderr  # imports and renders the bundled stage1
    yield s
    for _ in range(2):
        rkt("gc", "--grace-period=0s")
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if rkt.data in line]


def pod_tree(path: str, uuid: str) -> dict[str, tuple]:
    """Every entry below a pod dir (mounted overlays included): type, mode, and content or
    link target, with the UUID blanked. ``ppid`` holds a PID and is left out."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, path)
            if rel == "ppid":
                continue
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", mode, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", mode, f.read().replace(uuid.encode(), b"UUID"))
    return out


SAME_AS_PYTHON = [
    ("--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
     "echo out; echo err >&2; exit 7"),
    ("--net=none", "example.com/busybox:1.35.0", "--exec=/bin/true"),
    ("--net=host", "example.com/busybox", "--", "-c", "exit 0"),
    ("--net=host", "example.com/odd-app"),
    ("--net=host", "example.com/odd-app", "--exec", "/bin/sh", "--"),
    ("--net=host", "example.com/busybox", "--exec", "/bin/echo", "--",
     "é \u2028 \x01 <&> \x7f \"\\"),
    ("--net=host", "--hostname=pod-host", "example.com/busybox", "--name=web-1", "--user=1000",
     "--group=1000", "--working-dir=/tmp", "--exec", "/bin/sh", "--", "-c",
     "hostname; id -u; id -g; pwd"),
    ("--net=none", "example.com/odd-app", "--user", "0", "--working-dir", "/", "--group", "0"),
    ("--net=host", "--set-env=GREETING=from-set-env", "--set-env", "NEW=1",
     "example.com/odd-app", "--environment=EMPTY=filled", "--environment",
     "GREETING=from-environment"),
    ("--net=host", "--set-env=A=1=x", "example.com/busybox", "--environment=B=", "--exec",
     "/bin/sh", "--", "-c", "echo \"$A|$B\""),
]


@pytest.mark.parametrize("args", SAME_AS_PYTHON, ids=lambda a: " ".join(a)[:50])
def test_same_pod_as_the_python_stage0(store, args):
    base = ("--insecure-options=image,all-run", "run")
    before = store.pods()
    n = store.native(*base, *args)
    assert store.handed_over() is None, n.stderr
    native_uuid = store.newest_pod(before)
    before = store.pods()
    p = store.python(*base, *args)
    python_uuid = store.newest_pod(before)
    assert (n.returncode, n.stdout, n.stderr) == (p.returncode, p.stdout, p.stderr)
    run = os.path.join(store.rkt.data, "pods", "run")
    native_tree = pod_tree(os.path.join(run, native_uuid), native_uuid)
    python_tree = pod_tree(os.path.join(run, python_uuid), python_uuid)
    assert native_tree == python_tree
    assert "pod" in native_tree and "stage1/rootfs/opt/stage2" in "\n".join(native_tree)


def test_exit_code_output_and_environment_of_the_image(store):
    r = store.native("run", "--net=host", "example.com/odd-app")
    assert store.handed_over() is None
    assert r.returncode == 4, r.stderr
    assert r.stdout == "a<b>&c \u2028 é \"q\" \\ in /tmp\n"


def test_the_pod_is_listed_and_collected_like_any_other(store):
    before = store.pods()
    assert store.native("run", "--net=host", "example.com/busybox", "--exec",
                        "/bin/true").returncode == 0
    uuid = store.newest_pod(before)
    listed = store.rkt.ok("list", "--no-legend", "--full").stdout
    assert uuid in listed and "exited" in listed
    assert "exited" in store.rkt.ok("status", uuid).stdout
    store.rkt.ok("rm", uuid)
    assert uuid not in store.pods()


def test_pods_in_parallel_with_gc_beside_them(store):
    try:
        os.unlink(os.path.join(os.path.dirname(store.probe), "argv"))
    except FileNotFoundError:
        pass
    procs = [subprocess.Popen(store.argv([store.probe], (
        "run", "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
        f"exit {i % 3}")), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE) for i in range(12)]
    codes, gcs = wait_with_gc_beside(procs, lambda: store.python("gc", "--grace-period=0s"))
    assert codes == sorted(i % 3 for i in range(12)), [p.stderr.read() for p in procs]
    assert store.handed_over() is None
    assert all(r.returncode == 0 for r in gcs), [r.stderr for r in gcs]
    for _ in range(2):
        store.python("gc", "--grace-period=0s")
    for d in ("embryo", "prepare", "run", "exited-garbage", "garbage"):
        assert os.listdir(os.path.join(store.rkt.data, "pods", d)) == []


def test_uuid_file_save(store, tmp_path):
    target = tmp_path / "pod.uuid"
    before = store.pods()
    r = store.native("run", "--net=host", f"--uuid-file-save={target}", "example.com/busybox",
                     "--exec", "/bin/true")
    assert store.handed_over() is None
    assert r.returncode == 0, r.stderr
    assert target.read_text() == store.newest_pod(before)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_failure_after_the_pod_exists_is_reported_and_collected(store):
    """The rendered tree vanishes between the plan and the mount: one line, exit 254, and
    a pod that gc takes apart like any exited one."""
    from rktfast.store.treestore import tree_id

    with sqlite3.connect(os.path.join(store.rkt.data, "cas", "db", "index.sqlite3")) as c:
        (key,) = c.execute("SELECT blobkey FROM aciinfo WHERE name = ?",
                           ("example.com/busybox",)).fetchone()
    rootfs = os.path.join(store.rkt.data, "cas", "tree", tree_id([key]), "rootfs")
    os.rename(rootfs, rootfs + ".away")
    try:
        r = store.native("run", "--net=host", "example.com/busybox", "--exec", "/bin/true")
    finally:
        os.rename(rootfs + ".away", rootfs)
    assert store.handed_over() is None
    assert r.returncode == 254
    assert r.stderr.startswith("run: error setting up stage1: stat ") and \
        r.stderr.endswith(": No such file or directory\n") and r.stderr.count("\n") == 1
    for _ in range(2):
        store.python("gc", "--grace-period=0s")
    for d in ("prepare", "run", "exited-garbage", "garbage"):
        assert os.listdir(os.path.join(store.rkt.data, "pods", d)) == []


def test_killed_at_any_moment_leaves_what_gc_collects(store):
    """SIGKILL at 0-12 ms into a native run: whatever was left (an embryo, an aborted
    prepare, an exited pod, mounts) goes with two gc runs (embryos once a minute old)."""
    for i in range(24):
        p = subprocess.Popen(store.argv([store.probe], (
            "run", "--net=host", "example.com/busybox", "--exec", "/bin/true")),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(i * 0.0005)
        p.kill()
        p.wait()
    assert store.handed_over() is None
    # killed between mkdir and rename: an embryo, abandoned once it is a minute old
    embryo = os.path.join(store.rkt.data, "pods", "embryo")
    old = time.time() - 120
    for uuid in os.listdir(embryo):
        os.utime(os.path.join(embryo, uuid), (old, old))
    for _ in range(2):
        r = store.python("gc", "--grace-period=0s")
        assert r.returncode == 0, r.stderr
    for d in ("embryo", "prepare", "run", "exited-garbage", "garbage"):
        assert (d, os.listdir(os.path.join(store.rkt.data, "pods", d))) == (d, [])
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if store.rkt.data in line]
    r = store.native("run", "--net=host", "example.com/busybox", "--exec", "/bin/true")
    assert r.returncode == 0 and store.handed_over() is None, r.stderr


def test_last_used_time_of_the_image_is_bumped(store):
    db = os.path.join(store.rkt.data, "cas", "db", "index.sqlite3")

    def last_used():
        with sqlite3.connect(db) as c:
            return c.execute("SELECT lastused FROM aciinfo WHERE name = ?",
                             ("example.com/busybox",)).fetchone()[0]

    before = last_used()
    assert store.native("run", "--net=host", "example.com/busybox", "--exec",
                        "/bin/true").returncode == 0
    assert store.handed_over() is None
    assert last_used() > before


HANDED_OVER = [
    ("version",),
    ("run", "example.com/busybox"),  # the default network
    ("run", "--net=default", "example.com/busybox"),
    ("--debug", "run", "--net=host", "example.com/busybox"),
    ("run", "--net=host", "--stage1-path=/nonexistent.aci", "example.com/busybox"),
    ("run", "--net=host", "example.com/busybox", "--caps-retain=CAP_CHOWN"),
    ("run", "--net=host", "example.com/busybox", "example.com/odd-app"),
    ("run", "--net=host", "example.com/busybox", "--", "-c", "true", "---",
     "example.com/odd-app"),
    ("run", "--net=host", "example.com/busybox", "--exec", "/bin/true", "--exec", "/bin/id"),
    ("run", "--net=host", "example.com/missing"),
    ("run", "--net=host", "example.com/busybox:9.9"),
    ("run", "--net=host", "Example.com/busybox"),
    ("run", "--net=host", "docker://busybox"),
    ("run", "--net=host", "./busybox.aci"),
    ("run", "--net=host", "sha512-0123456789abcdef"),
    ("run", "--net=host", "--insecure-options=bogus", "example.com/busybox"),
    ("run", "--net=host", "--", "example.com/busybox"),
    ("run", "--net=host", "example.com/busybox", "--exec"),
    ("run", "--help"),
    ("ru", "--net=host", "example.com/busybox"),
    ("run", "--net=host", "example.com/busybox", "--exec", "/bin/echo", "--", "\udcff"),
    ("run", "--net=host", "example.com/busybox", "--name=Bad_Name"),
    ("run", "--net=host", "example.com/busybox", "--user=1", "--user=2"),
    ("run", "--net=host", "example.com/busybox", "--hostname=after-the-image"),
    ("run", "--net=host", "--uuid-file-save=/nonexistent/dir/uuid", "example.com/busybox"),
    ("run", "--net=host", "example.com/busybox", "--exec=/bin/true", "--interactive"),
    ("run", "--net=host", "--set-env=A=1", "--set-env=A=2", "example.com/busybox"),
    ("run", "--net=host", "--set-env==1", "example.com/busybox"),
    ("run", "--net=host", "example.com/busybox", "--environment=novalue"),
    ("run", "--net=host", "example.com/busybox", "--set-env=A=1"),
]


@pytest.mark.parametrize("args", HANDED_OVER, ids=lambda a: " ".join(a)[:50])
def test_everything_else_goes_to_python_untouched(store, args):
    before = set(os.listdir(os.path.join(store.rkt.data, "pods", "prepare"))) | store.pods()
    r = store.native(*args)
    assert r.returncode == HAND_OVER, r.stderr
    assert store.handed_over() == store.argv([], args)
    after = set(os.listdir(os.path.join(store.rkt.data, "pods", "prepare"))) | store.pods()
    assert after == before


# --- run-prepared --------------------------------------------------------------------------

def prepare(store, *args: str) -> str:
    r = store.python("--insecure-options=image", "prepare", "--quiet", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


RUN_PREPARED_SAME_AS_PYTHON = [
    (("example.com/busybox", "--exec", "/bin/sh", "--", "-c", "echo hi; exit 6"),
     ("--net=host",)),
    (("--volume=scratch,kind=empty", "example.com/busybox", "--exec", "/bin/sh",
      "--mount=volume=scratch,target=/scratch", "--", "-c", "touch /scratch/x; hostname",
      "---", "example.com/busybox", "--name=second", "--exec", "/bin/true"),
     ("--net=none", "--hostname=prepared-host")),
]


@pytest.mark.parametrize("prepare_args,run_args", RUN_PREPARED_SAME_AS_PYTHON,
                         ids=["one-app", "two-apps-volume-hostname"])
def test_run_prepared_same_pod_as_the_python_stage0(store, prepare_args, run_args):
    native_uuid, python_uuid = prepare(store, *prepare_args), prepare(store, *prepare_args)
    n = store.native("run-prepared", *run_args, native_uuid)
    assert store.handed_over() is None, n.stderr
    p = store.python("run-prepared", *run_args, python_uuid)
    assert (n.returncode, n.stdout, n.stderr) == (p.returncode, p.stdout, p.stderr)
    run = os.path.join(store.rkt.data, "pods", "run")
    assert pod_tree(os.path.join(run, native_uuid), native_uuid) == \
        pod_tree(os.path.join(run, python_uuid), python_uuid)
    assert "state=exited" in store.rkt.ok("status", native_uuid).stdout


def test_run_prepared_hands_over_what_it_does_not_run(store):
    uuid = prepare(store, "example.com/busybox", "--exec", "/bin/true")
    no_overlay = prepare(store, "--no-overlay", "example.com/busybox", "--exec", "/bin/true")
    prepared = os.path.join(store.rkt.data, "pods", "prepared")
    for args in (("run-prepared", uuid),  # the default network
                 ("run-prepared", "--net=default", uuid),
                 ("run-prepared", "--net=host", uuid[:8]),  # a prefix
                 ("run-prepared", "--net=host", "--dns=host", uuid),
                 ("run-prepared", "--net=host", "--interactive", uuid),
                 ("run-prepared", "--net=host", no_overlay),
                 ("run-prepared", "--net=host", uuid, uuid)):
        r = store.native(*args)
        assert r.returncode == HAND_OVER, (args, r.stderr)
        assert store.handed_over() == store.argv([], args)
        assert sorted(os.listdir(prepared)) == sorted([uuid, no_overlay])
    # a pod another process holds is not taken from it
    fd = os.open(os.path.join(prepared, uuid), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert store.native("run-prepared", "--net=host", uuid).returncode == HAND_OVER
        assert uuid in os.listdir(prepared)
    finally:
        os.close(fd)
    r = store.native("run-prepared", "--net=host", uuid)
    assert r.returncode == 0 and store.handed_over() is None, r.stderr
    assert uuid not in os.listdir(prepared)


def test_config_that_could_change_the_pod_goes_to_python(store):
    d = os.path.join(store.rkt.local_config, "stage1.d")
    os.makedirs(d)
    with open(os.path.join(d, "stage1.json"), "w") as f:
        f.write('{"rktKind": "stage1", "rktVersion": "v1"}')
    store.native("run", "--net=host", "example.com/busybox", "--exec", "/bin/true")
    assert store.handed_over() is not None
    shutil.rmtree(d)
    store.native("run", "--net=host", "example.com/busybox", "--exec", "/bin/true")
    assert store.handed_over() is None


@pytest.mark.parametrize("app", [
    {"exec": ["/bin/true"], "user": "0", "group": "0",
     "isolators": [{"name": "resource/memory", "value": {"limit": "64M"}}]},
    {"Exec": ["/bin/true"], "user": "0", "group": "0"},
    {"exec": ["/bin/true"], "user": "0", "group": "0",
     "environment": [{"Name": "A", "value": "b"}]},
], ids=["isolators", "key-case", "env-key-case"])
def test_manifests_it_does_not_fully_read_go_to_python(rkt, probe, tmp_path, busybox_aci, app):
    image = build_image(str(tmp_path), "example.com/other", app)
    rkt.ok("--insecure-options=image", "fetch", busybox_aci)
    rkt.ok("--insecure-options=image", "fetch", image)
    s = Store(rkt, probe)
    assert s.python("run", "--net=host", "example.com/busybox", "--exec",
                    "/bin/true").returncode == 0
    s.native("run", "--net=host", "example.com/other")
    assert s.handed_over() is not None
    for _ in range(2):
        rkt("gc", "--grace-period=0s")


def test_a_tree_not_rendered_goes_to_python(store):
    from rktfast.store.treestore import tree_id

    with sqlite3.connect(os.path.join(store.rkt.data, "cas", "db", "index.sqlite3")) as c:
        (key,) = c.execute("SELECT blobkey FROM aciinfo WHERE name = ?",
                           ("example.com/busybox",)).fetchone()
    os.unlink(os.path.join(store.rkt.data, "cas", "tree", tree_id([key]), "rendered"))
    store.native("run", "--net=host", "example.com/busybox", "--exec", "/bin/true")
    assert store.handed_over() is not None


def test_installed_rkt_is_the_native_front_end():
    beside = os.path.join(os.path.dirname(sys.executable), "rkt")
    if not os.path.exists(beside):
        pytest.skip("rktfast is not installed with scripts/install.sh")
    with open(beside, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    env = package_env()
    r = subprocess.run([beside, "version"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "rkt Version: 1.30.0" in r.stdout
