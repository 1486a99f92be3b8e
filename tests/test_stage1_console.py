"""--interactive: the app gets a terminal; three ^] in a row kill the pod (exit 1)."""

from __future__ import annotations

import os
import pty
import select
import time

import pytest
from stage1_pods import PodFactory, app

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="stage1 needs root")]


@pytest.fixture
def pods(tmp_path):
    f = PodFactory(str(tmp_path))
    yield f
    f.cleanup()


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    end = time.monotonic() + timeout
    while needle not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen in {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def start_on_pty(pod, *flags):
    master, slave = pty.openpty()
    proc = pod.start("--interactive", *flags, stdin=slave, stdout=slave, stderr=slave,
                     start_new_session=True)
    os.close(slave)
    return proc, master


def test_interactive_app_talks_to_the_terminal(pods):
    pod = pods.new([app("i", ["/bin/sh", "-c", "tty; echo ready; read x; echo got:$x; exit 4"])])
    proc, master = start_on_pty(pod)
    try:
        out = read_until(master, b"ready")
        assert b"/dev/console" in out or b"/dev/pts/" in out
        os.write(master, b"hello\r")
        assert b"got:hello" in read_until(master, b"got:hello")
        assert proc.wait(timeout=20) == 4
    finally:
        os.close(master)
    assert pod.app_status("i") == "4"


def test_three_ctrl_close_bracket_kill_the_pod_with_status_1(pods):
    pod = pods.new([app("i", ["/bin/sh", "-c", "echo ready; sleep 60"])])
    proc, master = start_on_pty(pod)
    try:
        read_until(master, b"ready")
        os.write(master, b"\x1d\x1d\x1d")
        assert proc.wait(timeout=20) == 1
    finally:
        os.close(master)
    r = pod.gc()
    assert r.returncode == 0, r.stderr
    assert pod.mounts_below() == [] and pod.cgroup_dirs() == []


def test_two_escapes_then_other_input_do_not_kill(pods):
    pod = pods.new([app("i", ["/bin/sh", "-c", "echo ready; read x; echo done:$x"])])
    proc, master = start_on_pty(pod)
    try:
        read_until(master, b"ready")
        os.write(master, b"\x1d\x1dok\r")
        read_until(master, b"done:")
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(master)
