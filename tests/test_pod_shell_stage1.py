"""Pods driven through a stage1 made of shell scripts (tests/shell_stage1.py): the stage0 side
of the stage1 interface, the pod lifecycle and its locks, and the pod commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shell_stage1  # noqa: E402
from conftest import wait_with_gc_beside  # noqa: E402

pytestmark = pytest.mark.usefixtures("as_root")


@pytest.fixture(scope="session")
def stage1_aci(tmp_path_factory) -> str:
    return shell_stage1.build(str(tmp_path_factory.mktemp("stage1") / "shell-stage1.aci"))


@pytest.fixture
def pod_env(rkt, busybox_aci, stage1_aci, tmp_path):
    """rkt with the busybox image fetched; ``run``/``prepare`` use the shell stage1."""
    rkt.ok("--insecure-options=image", "fetch", busybox_aci)
    log = tmp_path / "stage1-log"
    log.mkdir()
    rkt.log = str(log)
    rkt.stage1 = f"--stage1-path={stage1_aci}"
    rkt.env = dict(os.environ, RKTFAST_TEST_LOG=str(log))
    yield rkt
    subprocess.run(rkt.argv("gc", "--grace-period=0s"), capture_output=True,
                   env=rkt.env, timeout=120)
    assert not mounts_under(rkt.data)


def mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def run(rkt, *args, env=None, **kw):
    return rkt("--insecure-options=image", "run", rkt.stage1, *args, env=env or rkt.env, **kw)


def prepare(rkt, *args):
    r = rkt("--insecure-options=image", "prepare", rkt.stage1, *args, env=rkt.env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def status(rkt, uuid: str) -> dict:
    r = rkt.ok("status", uuid)
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


def pod_dirs(rkt, state: str) -> list[str]:
    d = os.path.join(rkt.data, "pods", state)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def record(rkt, uuid: str, ep: str) -> dict:
    """What the shell stage1's entrypoint recorded about its invocation."""
    text = open(os.path.join(rkt.log, f"{uuid}.{ep}")).read()
    out: dict = {"argv": [], "env": {}}
    section = None
    for line in text.splitlines():
        if line in ("argv:", "env:"):
            section = line[:-1]
        elif line.startswith("  ") and section == "argv":
            out["argv"].append(line[2:])
        elif line.startswith("  ") and section == "env":
            k, _, v = line[2:].partition("=")
            out["env"][k] = v
        else:
            section = None
            k, _, v = line.partition(": ")
            out[k] = v
    return out


def only_pod(rkt) -> str:
    pods = pod_dirs(rkt, "run")
    assert len(pods) == 1, pods
    return pods[0]


# --- run and the stage1 interface -------------------------------------------------------------

def test_run_returns_the_app_exit_code(pod_env):
    r = run(pod_env, "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
            "echo hi; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "hi\n"
    uuid = only_pod(pod_env)
    st = status(pod_env, uuid)
    assert st["state"] == "exited" and st["exited"] == "true" and st["app-busybox"] == "3"


def test_stage1_is_execd_in_place_with_the_lock_and_rkt_arguments(pod_env):
    r = run(pod_env, "--net=host", "--hostname=myhost", "example.com/busybox", "--exec",
            "/bin/true")
    assert r.returncode == 0, r.stderr
    uuid = only_pod(pod_env)
    rec = record(pod_env, uuid, "init")
    pod_dir = os.path.join(pod_env.data, "pods", "run", uuid)
    assert rec["argv"] == ["--net=host", f"--local-config={pod_env.local_config}",
                           "--hostname=myhost", uuid]
    assert rec["cwd"] == pod_dir
    fd, _, target = rec["lockfd"].partition(" -> ")
    assert target == pod_dir and rec["env"]["RKT_LOCK_FD"] == fd
    assert "RKT_SELINUX_CONTEXT" in rec["env"]
    # same PID as rkt itself: the pid file the stage1 wrote is the rkt process
    st = status(pod_env, uuid)
    assert st["pid"] == rec["pid"]


def test_options_above_the_stage1_interface_version_are_dropped(pod_env, tmp_path):
    old = str(tmp_path / "v1.aci")
    shell_stage1.build(old, version="0.0.1", interface_version=None)
    pod_env.stage1 = f"--stage1-path={old}"
    r = run(pod_env, "--net=host", "--hostname=x", "example.com/busybox", "--exec", "/bin/true")
    assert r.returncode == 0, r.stderr
    assert "warning: --hostname option is not supported by stage1" in r.stderr
    assert "--hostname=x" not in record(pod_env, only_pod(pod_env), "init")["argv"]


def test_debug_and_insecure_options_reach_the_stage1(pod_env):
    r = pod_env("--debug", "--insecure-options=image,paths,seccomp", "run", pod_env.stage1,
                "--net=none", "example.com/busybox", "--exec", "/bin/true", env=pod_env.env)
    assert r.returncode == 0, r.stderr
    argv = record(pod_env, only_pod(pod_env), "init")["argv"]
    assert argv[:2] == ["--debug", "--net=none"]
    assert "--disable-paths" in argv and "--disable-seccomp" in argv
    assert "--disable-capabilities-restriction" not in argv


def test_other_networks_fail_in_the_stage1(pod_env):
    r = run(pod_env, "--net=notavalidnetwork", "example.com/busybox", "--exec", "/bin/true")
    assert r.returncode == 254
    assert "stage1: failed to setup network" in r.stderr
    assert status(pod_env, only_pod(pod_env))["state"] == "exited"


def test_several_apps_and_the_first_failure(pod_env):
    r = run(pod_env, "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
            "exit 0", "---", "example.com/busybox", "--name=second", "--exec", "/bin/sh", "--",
            "-c", "exit 5", "---", "example.com/busybox", "--name=third", "--exec", "/bin/true")
    assert r.returncode == 5, r.stderr
    st = status(pod_env, only_pod(pod_env))
    assert (st["app-busybox"], st["app-second"], st["app-third"]) == ("0", "5", "0")
    r = pod_env.ok("list", "--no-legend")
    lines = [line.split("\t") for line in r.stdout.splitlines()]
    assert [cells[0] != "" for cells in lines] == [True, False, False]


def test_environment_precedence(pod_env, tmp_path):
    envfile = tmp_path / "env"
    envfile.write_text("# comment\n; other\n\nFROMFILE=file\nBOTH=file\n")
    r = run(pod_env, "--net=host", "--set-env=BOTH=setenv", f"--set-env-file={envfile}",
            "--set-env=ONLY=setenv", "example.com/busybox", "--environment=BOTH=app",
            "--environment=APPONLY=app", "--exec", "/bin/sh", "--", "-c",
            "echo $BOTH $ONLY $APPONLY $FROMFILE $AC_APP_NAME")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["setenv", "setenv", "app", "file", "busybox"]


def test_uuid_file_save_and_status_wait(pod_env, tmp_path):
    uuid_file = tmp_path / "uuid"
    env = dict(pod_env.env, RKTFAST_TEST_HOLD="2")
    proc = subprocess.Popen(pod_env.argv("--insecure-options=image", "run", pod_env.stage1,
                                         "--net=host", f"--uuid-file-save={uuid_file}",
                                         "example.com/busybox", "--exec", "/bin/true"),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if uuid_file.exists() and uuid_file.read_text():
                break
            time.sleep(0.05)
        uuid = uuid_file.read_text()
        assert "\n" not in uuid
        for _ in range(100):
            st = status(pod_env, uuid)
            if st["state"] == "running":
                break
            time.sleep(0.05)
        assert st["state"] == "running" and st["exited"] == "false"
        assert st["pid"] == str(proc.pid)
        r = pod_env("status", "--wait-ready=100ms", uuid)
        assert r.returncode == 254
        assert "error waiting for pod readiness: context deadline exceeded" in r.stderr
        pod_env.ok("status", "--wait-ready", uuid)
        r = pod_env.ok("status", "--wait", uuid)
        assert "state=exited" in r.stdout and "app-busybox=0" in r.stdout
        r = pod_env("status", "--wait=100ms", f"--uuid-file={uuid_file}")
        assert r.returncode == 0
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_stop_goes_through_the_stage1(pod_env):
    proc = start_held_pod(pod_env, 30)
    try:
        uuid = wait_running(pod_env)
        r = pod_env("stop", "--force", uuid[:8], env=pod_env.env)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f'"{uuid}"\n'
        assert record(pod_env, uuid, "stop")["argv"] == ["--force", uuid]
        proc.wait(timeout=30)
        r = pod_env("stop", uuid)
        assert r.stdout == f'pod "{uuid}" is already stopped\n'
    finally:
        kill_pod(proc)


def start_held_pod(rkt, hold: int, *image_args):
    """``rkt run`` in the background, its stage1 sleeping ``hold`` seconds before the apps."""
    env = dict(rkt.env, RKTFAST_TEST_HOLD=str(hold))
    args = image_args or ("example.com/busybox", "--exec", "/bin/true")
    return subprocess.Popen(rkt.argv("--insecure-options=image", "run", rkt.stage1,
                                     "--net=host", *args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def kill_pod(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_running(rkt) -> str:
    for _ in range(200):
        pods = pod_dirs(rkt, "run")
        if pods and status(rkt, pods[0])["state"] == "running":
            return pods[0]
        time.sleep(0.05)
    raise AssertionError("pod never ran")


def test_enter_uses_the_stage1_enter_entrypoint(pod_env):
    proc = start_held_pod(pod_env, 30)
    try:
        uuid = wait_running(pod_env)
        r = pod_env("enter", uuid, "/bin/sh", "-c", "echo entered; exit 4", env=pod_env.env)
        assert r.returncode == 4, r.stderr
        assert r.stdout == "entered\n"
        rec = record(pod_env, uuid, "enter")
        assert rec["argv"] == [f"--pid={proc.pid}", "--appname=busybox", "--", "/bin/sh", "-c",
                               "echo entered; exit 4"]
        r = pod_env("enter", uuid, env=pod_env.env)
        assert 'no command specified, assuming "/bin/bash"' in r.stderr
    finally:
        kill_pod(proc)


# --- lifecycle, gc and rm -----------------------------------------------------------------------

def test_prepare_run_prepared_and_gc(pod_env):
    uuid = prepare(pod_env, "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "exit 7")
    assert pod_dirs(pod_env, "prepared") == [uuid]
    assert status(pod_env, uuid) == {"state": "prepared", "created": status(pod_env, uuid)[
        "created"]}
    r = pod_env("run-prepared", "--net=host", uuid, env=pod_env.env)
    assert r.returncode == 7, r.stderr
    r = pod_env("run-prepared", "--net=host", uuid, env=pod_env.env)
    assert r.returncode == 254 and f'pod "{uuid}" is not prepared' in r.stderr
    assert mounts_under(pod_env.data)  # overlays stay until gc, as in rkt
    r = pod_env.ok("gc", "--mark-only")
    assert f'moving pod "{uuid}" to garbage' in r.stderr
    assert status(pod_env, uuid)["state"] == "exited garbage"
    r = pod_env.ok("gc")
    assert "still within grace period (30m0s)" in r.stderr
    r = pod_env("gc", "--grace-period=0s", env=pod_env.env)
    assert r.stdout == f'Garbage collecting pod "{uuid}"\n'
    assert record(pod_env, uuid, "gc")["argv"] == ["--local-config", pod_env.local_config, uuid]
    assert not mounts_under(pod_env.data)
    for d in ("prepare", "prepared", "run", "exited-garbage", "garbage"):
        assert pod_dirs(pod_env, d) == []


def test_gc_expires_prepared_pods_and_collects_aborted_ones(pod_env):
    uuid = prepare(pod_env, "example.com/busybox")
    r = pod_env("--insecure-options=image", "prepare", pod_env.stage1, "example.com/busybox",
                "example.com/busybox")
    assert r.returncode == 254 and "multiple apps with name busybox" in r.stderr
    aborted = pod_dirs(pod_env, "prepare")
    assert len(aborted) == 1
    r = pod_env.ok("gc", "--expire-prepared=0s")
    assert f'moving failed prepare "{aborted[0]}" to garbage' in r.stderr
    assert f'moving expired prepared pod "{uuid}" to garbage' in r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(
        f'Garbage collecting pod "{u}"' for u in (uuid, aborted[0]))


def test_gc_collects_abandoned_embryos_and_leaves_young_ones(pod_env):
    """An embryo (a pod directory not yet locked and moved to prepare/) left by a killed
    rkt goes once it is a minute old; a young one may be a pod being created right now."""
    embryo = os.path.join(pod_env.data, "pods", "embryo")
    os.makedirs(embryo, exist_ok=True)
    abandoned, young = "0b8a3a71-8b5e-4d43-9d8f-5e0a1a9c2f11", "7f6b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
    for u in (abandoned, young):
        os.mkdir(os.path.join(embryo, u), 0o750)
    old = time.time() - 61
    os.utime(os.path.join(embryo, abandoned), (old, old))
    r = pod_env.ok("gc", "--grace-period=0s")
    assert f'moving failed prepare "{abandoned}" to garbage' in r.stderr
    assert young not in r.stderr
    assert os.listdir(embryo) == [young]
    assert pod_dirs(pod_env, "garbage") == []


def test_rm(pod_env):
    r = run(pod_env, "--net=host", "example.com/busybox", "--exec", "/bin/true")
    assert r.returncode == 0
    exited = only_pod(pod_env)
    prepared = prepare(pod_env, "example.com/busybox")
    r = pod_env("rm", exited, prepared, env=pod_env.env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f'"{exited}"\n"{prepared}"\n'
    assert not mounts_under(pod_env.data)
    r = pod_env("rm", exited)
    assert r.returncode == 254
    assert f'no matches found for "{exited}"' in r.stderr
    assert "failed to remove one or more pods" in r.stderr
    r = pod_env("rm", "")
    assert "UUID cannot be empty" in r.stderr


def test_gc_after_the_stage1_was_killed(pod_env):
    proc = start_held_pod(pod_env, 60, "example.com/busybox")
    uuid = wait_running(pod_env)
    kill_pod(proc)
    assert status(pod_env, uuid)["state"] == "exited"
    assert mounts_under(pod_env.data)
    pod_env.ok("gc", "--grace-period=0s")
    assert not mounts_under(pod_env.data)
    assert pod_dirs(pod_env, "exited-garbage") == []


def test_run_after_image_rm(pod_env):
    uuid = prepare(pod_env, "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "exit 2")
    image_id = json.loads(pod_env.ok("cat-manifest", uuid).stdout)["apps"][0]["image"]["id"]
    r = pod_env.ok("image", "rm", image_id)
    assert "1 image(s) successfully removed" in r.stderr
    r = pod_env("run-prepared", "--net=host", uuid, env=pod_env.env)
    assert r.returncode == 2, r.stderr
    r = pod_env.ok("list", "--full", "--no-legend")
    assert "example.com/busybox:1.35.0" in r.stdout and image_id[:19] in r.stdout


def test_twenty_pods_in_parallel_with_gc_beside_them(pod_env):
    procs = [subprocess.Popen(pod_env.argv("--insecure-options=image", "run", pod_env.stage1,
                                           "--net=host", "example.com/busybox", "--exec",
                                           "/bin/sh", "--", "-c", f"exit {i % 3}"),
                              env=pod_env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(20)]
    codes, gc_results = wait_with_gc_beside(
        procs, lambda: pod_env("gc", "--grace-period=0s", env=pod_env.env))
    assert codes == sorted(i % 3 for i in range(20)), [p.stderr.read() for p in procs]
    assert all(r.returncode == 0 for r in gc_results), [r.stderr for r in gc_results]
    pod_env.ok("gc", "--grace-period=0s")
    pod_env.ok("gc", "--grace-period=0s")
    for d in ("prepare", "run", "exited-garbage", "garbage"):
        assert pod_dirs(pod_env, d) == []
    assert not mounts_under(pod_env.data)


# --- manifests and bad input --------------------------------------------------------------------

def test_cat_manifest_of_a_generated_pod(pod_env, tmp_path):
    src = tmp_path / "shared"
    src.mkdir()
    uuid = prepare(pod_env, f"--volume=data,kind=host,source={src},readOnly=true",
                   "--volume=scratch,kind=empty", "--mount=volume=data,target=/data",
                   "--set-env=A=1", "example.com/busybox", "--exec=/bin/echo",
                   "--mount=volume=scratch,target=/scratch", "--user=1000", "--group=1000",
                   "--memory=64Mi", "--cpu=500m", "--working-dir=/tmp", "--", "x", "y")
    pm = json.loads(pod_env.ok("cat-manifest", "--pretty-print=false", uuid).stdout)
    assert pm["acKind"] == "PodManifest" and pm["acVersion"] == "1.30.0"
    ra = pm["apps"][0]
    assert ra["name"] == "busybox"
    assert ra["image"]["name"] == "example.com/busybox"
    app = ra["app"]
    assert app["exec"] == ["/bin/echo", "x", "y"]
    assert (app["user"], app["group"], app["workingDirectory"]) == ("1000", "1000", "/tmp")
    assert {"name": "A", "value": "1"} in app["environment"]
    assert {"name": "resource/memory", "value": {"request": "64Mi", "limit": "64Mi"}} in \
        app["isolators"]
    assert {"name": "resource/cpu", "value": {"request": "500m", "limit": "500m"}} in \
        app["isolators"]
    assert ra["mounts"] == [{"volume": "scratch", "path": "/scratch"},
                            {"volume": "data", "path": "/data"}]
    assert pm["volumes"] == [
        {"name": "data", "kind": "host", "source": str(src), "readOnly": True},
        {"name": "scratch", "kind": "empty", "mode": "0755", "uid": 0, "gid": 0}]
    assert pm["annotations"] == [{"name": "coreos.com/rkt/stage1/mutable", "value": "false"}]
    pretty = pod_env.ok("cat-manifest", uuid).stdout
    assert pretty.startswith('{\n\t"acVersion": "1.30.0",\n\t"acKind": "PodManifest",')
    js = json.loads(pod_env.ok("status", "--format=json", uuid).stdout)
    assert js["name"] == uuid and js["state"] == "prepared" and js["app_names"] == ["busybox"]
    assert js["apps"][0]["state"] == "created"
    assert js["apps"][0]["mounts"][1] == {"name": "data", "container_path": "/data",
                                          "host_path": str(src), "read_only": True}


def test_pod_manifest_flag(pod_env, tmp_path):
    uuid = prepare(pod_env, "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "exit 6")
    pm = json.loads(pod_env.ok("cat-manifest", uuid).stdout)
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(pm))
    r = run(pod_env, "--net=host", f"--pod-manifest={path}")
    assert r.returncode == 6, r.stderr
    path.write_text(json.dumps(dict(pm, apps=[])))
    r = run(pod_env, "--net=host", f"--pod-manifest={path}")
    assert r.returncode == 254
    assert "pod must contain at least one application" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--pod-manifest=/x", "example.com/busybox"], "conflicting flags set with --pod-manifest"),
    (["--pod-manifest=/x", "--set-env=A=B"], "conflicting flags set with --pod-manifest"),
    (["--volume=foo,kind=bar", "example.com/busybox"], 'invalid value in --volume flag'),
    (["--volume=foo,kind=host,source=rel", "example.com/busybox"], "absolute path"),
    (["--mount=volume=foo,target=/x", "example.com/busybox"],
     'dangling mount point "/x": volume "foo" not found'),
    (["--mount=volume=foo,bogus=1", "example.com/busybox"], 'unknown mount parameter "bogus"'),
    (["--exec=/bin/true", "example.com/busybox"], "--exec must follow an image"),
    (["example.com/busybox", "--exec=/a", "--exec=/b"], "specified multiple times"),
    (["--set-env=A=1", "--set-env=A=2", "example.com/busybox"], 'key "A" already set'),
    (["--port=http:80", "example.com/busybox"], "--port flag does not work with 'host'"),
    (["--stage1-name=a", "--stage1-hash=sha512-aa", "example.com/busybox"],
     "are mutually exclusive"),
    ([], "must provide at least one image or specify the pod manifest"),
    (["--", "x"], "an image is required before any app arguments"),
    (["example.com/nosuchimage", "--pull-policy=never"], "example.com/nosuchimage"),
    (["example.com/busybox", "--memory=1"], "memory"),
    (["--pod-manifest=/nonexistent"], "open /nonexistent: no such file or directory"),
])
def test_bad_input_is_one_line_and_254(pod_env, args, message):
    r = run(pod_env, "--net=host", *args)
    assert r.returncode == 254, r.stderr
    assert message in r.stderr
    first = [line for line in r.stderr.splitlines() if line.startswith("run: ")]
    assert first, r.stderr
    assert not mounts_under(pod_env.data)
    assert pod_dirs(pod_env, "run") == []


def test_invalid_pod_manifest(pod_env, tmp_path):
    path = tmp_path / "pod.json"
    path.write_text("{not json")
    r = run(pod_env, "--net=host", f"--pod-manifest={path}")
    assert r.returncode == 254
    assert "run: error setting up stage0: pod manifest is not valid JSON" in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.startswith("run:")]) == 1


def test_list_formats(pod_env):
    uuid = prepare(pod_env, "example.com/busybox")
    r = pod_env.ok("list")
    header, line = r.stdout.splitlines()
    assert header.split("\t")[0] == "UUID"
    cells = [c for c in line.split("\t") if c]
    assert cells[:4] == [uuid[:8], "busybox", "example.com/busybox:1.35.0", "prepared"]
    js = json.loads(pod_env.ok("list", "--format=json").stdout)
    assert [p["name"] for p in js] == [uuid]
    pod_env.ok("rm", uuid)
    assert pod_env.ok("list", "--format=json").stdout == "null\n"


def test_export_an_exited_pod(pod_env, tmp_path):
    import tarfile

    r = run(pod_env, "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
            "echo exported > /hello")
    assert r.returncode == 0, r.stderr
    uuid = only_pod(pod_env)
    out = tmp_path / "out.aci"
    pod_env.ok("export", uuid, str(out))
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert names[0] == "manifest" and "rootfs/bin/busybox" in names
        assert tar.extractfile("rootfs/hello").read() == b"exported\n"
        assert json.loads(tar.extractfile("manifest").read())["name"] == "example.com/busybox"
    r = pod_env("export", uuid, str(out))
    assert r.returncode == 254 and "target file exists (try --overwrite)" in r.stderr
    pod_env.ok("export", "--overwrite", uuid, str(out))
    assert len(mounts_under(pod_env.data)) == 2  # the pod's own stage1 and app overlays
    # with the pod's overlays gone (a reboot), export mounts the app overlay for itself
    from rktfast.pod.mounts import unmount_tree

    unmount_tree(os.path.join(pod_env.data, "pods", "run", uuid))
    out.unlink()
    pod_env.ok("export", uuid, str(out))
    with tarfile.open(out) as tar:
        assert tar.extractfile("rootfs/hello").read() == b"exported\n"
    assert not mounts_under(pod_env.data)
    r = pod_env("export", uuid, str(tmp_path / "x.tar"))
    assert "extension must be .aci" in r.stderr


def test_no_overlay_copies_and_private_users_shift_owners(pod_env):
    r = run(pod_env, "--net=host", "--no-overlay", "--private-users", "example.com/busybox",
            "--exec", "/bin/true")
    assert r.returncode == 0, r.stderr
    uuid = only_pod(pod_env)
    pod_dir = os.path.join(pod_env.data, "pods", "run", uuid)
    assert not mounts_under(pod_env.data)
    assert not os.path.exists(os.path.join(pod_dir, "overlay-prepared"))
    shift, count = open(os.path.join(pod_dir, "private-users-prepared")).read().split(":")
    assert int(shift) % 65536 == 0 and int(shift) > 0 and count == "65536"
    busybox = os.path.join(pod_dir, "stage1/rootfs/opt/stage2/busybox/rootfs/bin/busybox")
    assert os.stat(busybox).st_uid == int(shift)
    assert f"--private-users={shift}:{count}" in record(pod_env, uuid, "init")["argv"]
    r = run(pod_env, "--net=host", "--private-users", "example.com/busybox")
    assert r.returncode == 254 and "(Try --no-overlay)" in r.stderr


def test_legacy_spellings(pod_env, stage1_aci):
    r = pod_env("--insecure-options=image", "run", f"--stage1-image={stage1_aci}",
                "--private-net=none", "--local", "example.com/busybox", "--exec", "/bin/true",
                env=pod_env.env)
    assert r.returncode == 0, r.stderr
    assert "--net=none" in record(pod_env, only_pod(pod_env), "init")["argv"]


def test_run_prepared_race_has_one_winner(pod_env):
    uuid = prepare(pod_env, "example.com/busybox", "--exec", "/bin/true")
    env = dict(pod_env.env, RKTFAST_TEST_HOLD="3")
    first = subprocess.Popen(pod_env.argv("run-prepared", "--net=host", uuid), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        wait_running(pod_env)
        r = pod_env("run-prepared", "--net=host", uuid, env=pod_env.env, timeout=10)
        assert r.returncode == 254
        assert f'pod "{uuid}" is not prepared' in r.stderr
        assert first.wait(timeout=30) == 0
    finally:
        kill_pod(first)


def test_the_run_path_imports_only_what_it_needs(pod_env):
    """DESIGN hot path 3: preparing a pod from stored images loads no trust, network or
    archive machinery (the same code path as ``rkt run`` up to the exec)."""
    prepare(pod_env, "example.com/busybox")  # puts the shell stage1 in the store
    env = dict(pod_env.env, PYTHONPROFILEIMPORTTIME="1")
    r = pod_env("prepare", f"--stage1-name={shell_stage1.NAME}:0.1.0", "example.com/busybox",
                env=env)
    assert r.returncode == 0, r.stderr
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    for heavy in ("rktfast.trust.keystore", "urllib.request", "http.client", "tarfile",
                  "subprocess", "rktfast.fetch.extract"):
        assert heavy not in imported, heavy


def test_dns_flags_write_files_for_the_stage1(pod_env):
    r = run(pod_env, "--net=host", "--dns=8.8.8.8,1.1.1.1", "--dns-search=a.example",
            "--dns-opt=ndots:2", "--dns-domain=example", "--hosts-entry=10.0.0.1=foo",
            "--hosts-entry=10.0.0.1=bar", "example.com/busybox", "--exec", "/bin/true")
    assert r.returncode == 0, r.stderr
    uuid = only_pod(pod_env)
    etc = os.path.join(pod_env.data, "pods", "run", uuid, "stage1", "rootfs", "etc")
    assert open(os.path.join(etc, "rkt-resolv.conf")).read() == (
        "# Generated by rkt run\n\nsearch a.example\nnameserver 8.8.8.8\nnameserver 1.1.1.1\n"
        "options ndots:2\ndomain example\n")
    assert open(os.path.join(etc, "rkt-hosts")).read().endswith(
        "\n\n# Added by rkt run --hosts-entry\n10.0.0.1 foo bar\n")
    argv = record(pod_env, uuid, "init")["argv"]
    assert "--dns-conf-mode=resolv=stage0,hosts=stage0" in argv
    r = run(pod_env, "--net=host", "--dns=host", "--dns-search=x", "example.com/busybox")
    assert r.returncode == 254
    assert "Cannot call --dns-opt, --dns-search, or --dns-domain with --dns=host" in r.stderr
    r = run(pod_env, "--net=host", "--dns=notanip", "example.com/busybox")
    assert "Invalid IP passed to --dns: notanip" in r.stderr
