"""The fly stage1: one app, chroot only, host namespaces, pid/pgid files."""

from __future__ import annotations

import json
import os
import tarfile

import pytest
from stage1_pods import PodFactory, app, build_stage1

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="stage1 needs root")]


@pytest.fixture
def pods(tmp_path):
    f = PodFactory(str(tmp_path))
    yield f
    f.cleanup()


def test_images_carry_the_stage1_interface_annotations():
    out = build_stage1()
    for flavor, run, version in (("coreos", "/init", "6"), ("fly", "/run", "5")):
        with tarfile.open(os.path.join(out, f"stage1-{flavor}.aci")) as t:
            names = t.getnames()
            m = json.load(t.extractfile("manifest"))
        assert names[0] == "manifest" and "rootfs" in names
        assert m["name"] == f"coreos.com/rkt/stage1-{flavor}"
        ann = {a["name"]: a["value"] for a in m["annotations"]}
        assert ann["coreos.com/rkt/stage1/run"] == run
        assert ann["coreos.com/rkt/stage1/enter"] == "/enter"
        assert ann["coreos.com/rkt/stage1/gc"] == "/gc"
        assert ann["coreos.com/rkt/stage1/stop"] == "/stop"
        assert ann["coreos.com/rkt/stage1/interface-version"] == version
        labels = {lb["name"]: lb["value"] for lb in m["labels"]}
        assert labels.pop("version").startswith("1.30.0-rktfast.")  # rkt's + a build digest
        assert labels == {"os": "linux", "arch": "amd64"}
        for ep in ann.values():
            if ep.startswith("/"):
                assert "rootfs" + ep in names


def test_fly_runs_the_app_in_place_in_its_chroot(pods, tmp_path):
    host = tmp_path / "hv"
    host.mkdir()
    host.chmod(0o777)
    pod = pods.new([app("f", ["/bin/sh", "-c",
                              "echo $$; ls /bin/busybox; echo $AC_APP_NAME; id -u; "
                              "echo x > /hv/written; ls /proc/1 >/dev/null && echo proc; exit 6"],
                        user="1000", mounts=[{"volume": "hv", "path": "/hv"}])],
                   volumes=[{"name": "hv", "kind": "host", "source": str(host)}], flavor="fly")
    r = pod.run()
    assert r.returncode == 6, r.stderr
    lines = r.stdout.splitlines()
    assert int(lines[0]) == pod.proc.pid  # the app replaced the stage1 process
    assert lines[1:] == ["/bin/busybox", "f", "1000", "proc"]
    assert open(os.path.join(pod.path, "pid")).read() == str(pod.proc.pid)
    assert os.path.exists(os.path.join(pod.path, "pgid"))
    assert (host / "written").read_text() == "x\n"
    assert pod.mounts_below() == []


def test_fly_enter_and_stop(pods):
    pod = pods.new([app("f", ["/bin/sleep", "60"], env={"K": "v"})], flavor="fly")
    pod.start()
    pod.wait_for_file("pid")
    assert pod.is_locked()
    r = pod.enter("f", "/bin/sh", "-c", "echo $K; ls /bin/busybox")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "v\n/bin/busybox\n"
    assert pod.stop().returncode == 0
    pod.proc.wait(timeout=20)
    assert not pod.is_locked()
    assert pod.gc().returncode == 0
