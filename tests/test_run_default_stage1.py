"""Real pods with the project's own stage1 (built by stage1/build.py): exit codes, several
apps, status while running, enter, stop, and gc after a crash leaving nothing mounted."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.usefixtures("as_root")


def built_stage1() -> str | None:
    for p in (os.path.join(REPO, "rktfast", "stage1_images", "stage1-coreos.aci"),
              os.path.join(REPO, "stage1", "out", "stage1-coreos.aci")):
        if os.path.isfile(p):
            return p
    return None


@pytest.fixture
def pods(rkt, busybox_aci):
    s1 = built_stage1()
    if s1 is None:
        pytest.skip("the default stage1 is not built (python stage1/build.py --out ...)")
    rkt.ok("--insecure-options=image", "fetch", busybox_aci)
    rkt.stage1 = f"--stage1-path={s1}"
    yield rkt
    rkt("gc", "--grace-period=0s", input="")
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if rkt.data in line]


def run(rkt, *args):
    return rkt("--insecure-options=image", "run", rkt.stage1, *args, input="", timeout=60)


def test_exit_code_of_one_app(pods):
    r = run(pods, "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
            "echo hi; exit 3")
    assert r.returncode == 3, r.stderr
    assert "hi" in r.stdout


def test_exit_codes_of_several_apps(pods):
    r = run(pods, "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
            "exit 0", "---", "example.com/busybox", "--name=b", "--exec", "/bin/sh", "--",
            "-c", "sleep 0.2; exit 5", "---", "example.com/busybox", "--name=c", "--exec",
            "/bin/true")
    assert r.returncode == 5, r.stderr
    uuid = os.listdir(os.path.join(pods.data, "pods", "run"))[0]
    st = pods.ok("status", uuid).stdout
    assert "app-b=5" in st and "app-busybox=0" in st


def test_running_pod_status_enter_and_stop(pods):
    proc = subprocess.Popen(pods.argv("--insecure-options=image", "run", pods.stage1,
                                      "--net=host", "example.com/busybox", "--exec", "/bin/sh",
                                      "--", "-c", "sleep 60"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        uuid = None
        for _ in range(200):
            run_dir = os.path.join(pods.data, "pods", "run")
            if os.path.isdir(run_dir) and os.listdir(run_dir):
                uuid = os.listdir(run_dir)[0]
                if "state=running" in pods("status", uuid).stdout:
                    break
            time.sleep(0.05)
        st = pods.ok("status", uuid).stdout
        assert "state=running" in st and f"pid={proc.pid}" in st
        r = pods("enter", uuid, "/bin/sh", "-c", "echo inside; exit 4", input="")
        assert r.returncode == 4, r.stderr
        assert "inside" in r.stdout
        r = pods("stop", uuid)
        assert r.returncode == 0, r.stderr
        proc.wait(timeout=30)
        assert "state=exited" in pods.ok("status", uuid).stdout
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_gc_after_the_stage1_was_killed(pods):
    proc = subprocess.Popen(pods.argv("--insecure-options=image", "run", pods.stage1,
                                      "--net=host", "example.com/busybox", "--exec", "/bin/sh",
                                      "--", "-c", "sleep 60"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    run_dir = os.path.join(pods.data, "pods", "run")
    for _ in range(200):
        if os.path.isdir(run_dir) and os.listdir(run_dir) and \
                "state=running" in pods("status", os.listdir(run_dir)[0]).stdout:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    uuid = os.listdir(run_dir)[0]
    for _ in range(100):
        if "state=exited" in pods("status", uuid).stdout:
            break
        time.sleep(0.1)
    pods.ok("gc", "--grace-period=0s")
    assert os.listdir(os.path.join(pods.data, "pods", "exited-garbage")) == []
