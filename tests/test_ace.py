"""The appc conformance test (ACE validator) under rktfast: both apps in one pod with the
default stage1, the default CNI network, an empty volume and the metadata service."""

import os
import subprocess
import time

import ace_images
import pytest
from conftest import rkt_command

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs real pods: needs root (CI is root)")


@pytest.fixture(scope="module")
def ace(tmp_path_factory):
    why = ace_images.available()
    if why:
        pytest.skip(why)
    return ace_images.build(str(tmp_path_factory.mktemp("ace")))


@pytest.fixture
def metadata_service(tmp_path):
    sock = str(tmp_path / "mds.sock")
    env = dict(os.environ, RKTFAST_MDS_SOCKET=sock)
    # The stage1 gives apps http://<host side>:18112/<token>: the service must use that port.
    proc = subprocess.Popen(rkt_command() + ["metadata-service", "--listen-port=18112"],
                            env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    yield env
    proc.terminate()
    proc.wait(10)


def test_ace_validator_passes(rkt, ace, metadata_service):
    main, sidekick = ace
    r = rkt("--insecure-options=image", "run", "--mds-register",
            "--volume", "database,kind=empty", main, sidekick,
            env=metadata_service, timeout=300)
    out = r.stdout + r.stderr
    for stage in ("prestart", "main", "sidekick", "poststop"):
        assert f"{stage} OK" in out, out
    assert r.returncode == 0, out
    rkt.ok("gc", "--grace-period=0s")
    rkt.ok("gc", "--grace-period=0s")
    assert not os.listdir(os.path.join(rkt.data, "pods", "exited-garbage"))
