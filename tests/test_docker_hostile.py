"""Bad registries and bad images: one clear error line, bounded time, nothing stored.

A Python registry (tests/registry.py ``FakeRegistry``) serves hand-made manifests and blobs;
it also checks the bearer-token flow.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time

import pytest
from registry import (
    MT_INDEX,
    MT_MANIFEST,
    Entry,
    FakeRegistry,
    Served,
    docker_auth,
    layer_tar,
    rkt_docker,
)
from test_docker_fetch import assert_nothing_stored, fetched_key

pytestmark = [pytest.mark.root]
INSECURE = "--insecure-options=image,http"
BASE = [Entry("bin", "dir"), Entry("bin/hello", data=b"hello\n", mode=0o755)]


@pytest.fixture
def fake():
    reg = FakeRegistry()
    yield reg
    reg.close()


def fetch(rkt, host: str, image: str, env: dict | None = None):
    return rkt_docker(rkt, INSECURE, "fetch", f"docker://{host}/{image}", env=env)


def one_error(r, *needles: str) -> str:
    assert r.returncode == 254, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines()
             if "warning:" not in ln and not ln.startswith("Downloading ")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_good_image_from_fake_registry(rkt, fake):
    fake.add_image("t/ok", "1", [layer_tar(BASE)])
    fetched_key(fetch(rkt, fake.host, "t/ok:1"))


def test_bearer_token_flow_with_docker_auth(rkt):
    reg = FakeRegistry(token="tok-123", creds=("bob", "pw"))
    try:
        reg.add_image("t/private", "1", [layer_tar(BASE)])
        r = fetch(rkt, reg.host, "t/private:1")
        one_error(r, "getting a token", "credentials were refused")
        docker_auth(rkt, reg.host, "bob", "pw")
        fetched_key(fetch(rkt, reg.host, "t/private:1"))
        tokens = [h for p, h in reg.requests if p.startswith("/token")]
        assert "scope=repository%3At%2Fprivate%3Apull" in \
            [p for p, _ in reg.requests if p.startswith("/token")][-1]
        assert tokens[-1]["authorization"].startswith("Basic ")
        blobs = [h for p, h in reg.requests if "/blobs/" in p]
        assert blobs and all(h.get("authorization") == "Bearer tok-123" for h in blobs)
    finally:
        reg.close()


def test_manifest_digest_mismatch(rkt, fake):
    fake.add_image("t/m", "1", [layer_tar(BASE)])
    served = fake.routes["/v2/t/m/manifests/1"]
    served.headers["Docker-Content-Digest"] = "sha256:" + "0" * 64
    one_error(fetch(rkt, fake.host, "t/m:1"), "digest mismatch")
    assert_nothing_stored(rkt)


def test_manifest_by_digest_must_match(rkt, fake):
    fake.add_image("t/m", "1", [layer_tar(BASE)])
    raw = fake.routes["/v2/t/m/manifests/1"].body
    wrong = "sha256:" + hashlib.sha256(raw + b" ").hexdigest()
    fake.routes[f"/v2/t/m/manifests/{wrong}"] = Served(body=raw)
    one_error(fetch(rkt, fake.host, f"t/m@{wrong}"), "digest mismatch")
    assert_nothing_stored(rkt)


def test_layer_digest_mismatch(rkt, fake):
    doc = fake.add_image("t/l", "1", [layer_tar(BASE)])
    digest = doc["layers"][0]["digest"]
    good = fake.routes[f"/v2/t/l/blobs/{digest}"].body
    evil = gzip.compress(layer_tar(BASE + [Entry("bin/evil", data=b"x")]), mtime=0)
    evil = evil[:len(good)].ljust(len(good), b"\0")
    fake.routes[f"/v2/t/l/blobs/{digest}"] = Served(body=evil)
    one_error(fetch(rkt, fake.host, "t/l:1"), digest)
    assert_nothing_stored(rkt)
    assert not os.path.isdir(os.path.join(rkt.data, "cas", "layers")) or not any(
        files for _d, _s, files in os.walk(os.path.join(rkt.data, "cas", "layers")))


def test_layer_with_dotdot_path_is_refused(rkt, fake, tmp_path):
    fake.add_image("t/dd", "1", [layer_tar(BASE + [Entry("../../../../escaped", data=b"x")])])
    one_error(fetch(rkt, fake.host, "t/dd:1"), "layer 1")
    assert_nothing_stored(rkt)
    assert not os.path.exists(os.path.join(rkt.data, "cas", "escaped"))


def test_whiteout_pointing_outside_is_refused(rkt, fake):
    outside = os.path.join(rkt.root, "victim")
    os.makedirs(outside)
    fake.add_image("t/wh", "1", [layer_tar(BASE), layer_tar([
        Entry("bin/../../../../../../" + outside.lstrip("/") + "/.wh.keep")])])
    with open(os.path.join(outside, "keep"), "w") as f:
        f.write("x")
    one_error(fetch(rkt, fake.host, "t/wh:1"), "layer 2")
    assert os.path.exists(os.path.join(outside, "keep"))
    assert_nothing_stored(rkt)


def test_symlinked_parent_whiteout_stays_inside_the_image(rkt, fake):
    outside = os.path.join(rkt.root, "victim2")
    os.makedirs(outside)
    with open(os.path.join(outside, "keep"), "w") as f:
        f.write("x")
    fake.add_image("t/sl", "1", [layer_tar(BASE + [Entry("escape", "symlink", target=outside)]),
                                 layer_tar([Entry("escape/.wh.keep")])])
    fetch(rkt, fake.host, "t/sl:1")
    assert os.path.exists(os.path.join(outside, "keep"))


def test_index_without_amd64(rkt, fake):
    fake.add_image("t/arm", "arm", [layer_tar(BASE)])
    arm = fake.routes["/v2/t/arm/manifests/arm"]
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {"mediaType": MT_MANIFEST, "digest": arm.headers["Docker-Content-Digest"],
         "size": len(arm.body), "platform": {"os": "linux", "architecture": "s390x"}}]}
    fake.manifest("t/arm", "1", json.dumps(index).encode(), MT_INDEX)
    one_error(fetch(rkt, fake.host, "t/arm:1"), "no image for linux/amd64")
    assert_nothing_stored(rkt)


def test_registry_answering_500(rkt, fake):
    fake.add_image("t/e", "1", [layer_tar(BASE)])
    fake.routes["/v2/t/e/manifests/1"] = Served(500, b"oops")
    one_error(fetch(rkt, fake.host, "t/e:1"), "bad HTTP status code: 500")
    assert_nothing_stored(rkt)


def test_registry_500_on_a_layer(rkt, fake):
    doc = fake.add_image("t/e2", "1", [layer_tar(BASE), layer_tar([Entry("x", data=b"1")])])
    fake.routes[f"/v2/t/e2/blobs/{doc['layers'][1]['digest']}"] = Served(500, b"oops")
    one_error(fetch(rkt, fake.host, "t/e2:1"), "bad HTTP status code: 500")
    assert_nothing_stored(rkt)


def test_stalling_layer_download_times_out(rkt, fake):
    doc = fake.add_image("t/s", "1", [layer_tar(BASE)])
    path = f"/v2/t/s/blobs/{doc['layers'][0]['digest']}"
    fake.routes[path] = Served(body=fake.routes[path].body, stall_after=10)
    t0 = time.monotonic()
    r = fetch(rkt, fake.host, "t/s:1", env={"RKTFAST_HTTP_TIMEOUT": "2"})
    assert time.monotonic() - t0 < 20
    one_error(r, "timeout")
    assert_nothing_stored(rkt)


def test_stalling_manifest_times_out(rkt, fake):
    fake.add_image("t/s2", "1", [layer_tar(BASE)])
    body = fake.routes["/v2/t/s2/manifests/1"].body
    fake.routes["/v2/t/s2/manifests/1"] = Served(body=body, stall_after=5,
                                                 headers={"Content-Type": MT_MANIFEST})
    t0 = time.monotonic()
    r = fetch(rkt, fake.host, "t/s2:1", env={"RKTFAST_HTTP_TIMEOUT": "2"})
    assert time.monotonic() - t0 < 20
    one_error(r, "timeout")


def test_huge_manifest_is_refused(rkt, fake):
    fake.routes["/v2/t/big/manifests/1"] = Served(body=b" " * (5 << 20))
    one_error(fetch(rkt, fake.host, "t/big:1"), "larger than")


def test_layer_larger_than_declared(rkt, fake):
    doc = fake.add_image("t/big2", "1", [layer_tar(BASE)])
    digest = doc["layers"][0]["digest"]
    body = fake.routes[f"/v2/t/big2/blobs/{digest}"].body
    fake.routes[f"/v2/t/big2/blobs/{digest}"] = Served(body=body + b"\0" * 100)
    one_error(fetch(rkt, fake.host, "t/big2:1"), digest)
    assert_nothing_stored(rkt)
