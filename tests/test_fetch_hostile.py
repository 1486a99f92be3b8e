"""Hostile and broken images through `rkt fetch`: a one-line error, exit 254, no traceback,
and the store exactly as it was (the extractor-level containment proofs are in
test_tarx.py/test_ingest.py)."""

import gzip
import io
import json
import os
import tarfile

import hostile_images as H
import pytest
from test_fetch_local import store_snapshot


def write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / f"{name}.aci"
    path.write_bytes(data)
    return str(path)


def assert_rejected_cleanly(rkt, r, before):
    assert r.returncode == 254, r.stderr
    lines = [line for line in r.stderr.splitlines()
             if not line.startswith("image: warning: image signature verification")]
    assert len(lines) == 1 and lines[0].startswith("fetch: "), r.stderr
    assert "Traceback" not in r.stderr
    assert store_snapshot(rkt) == before


@pytest.mark.parametrize("name", sorted(H.CORPUS))
def test_hostile_corpus(rkt, tmp_path, name):
    build, outcome = H.CORPUS[name]
    data = build()
    if outcome == "reject" and not data.startswith(b"\x1f\x8b"):
        data = gzip.compress(data)
    path = write(tmp_path, name, data)
    before = store_snapshot(rkt)
    r = rkt("--insecure-options=image", "fetch", "--full", path)
    if outcome == "reject":
        assert_rejected_cleanly(rkt, r, before)
    else:  # contained: accepted or refused, but never a traceback, and a consistent store
        assert "Traceback" not in r.stderr
        if r.returncode == 0:
            rkt.ok("image", "verify", r.stdout.strip())
        else:
            assert store_snapshot(rkt) == before


def aci_with_manifest(raw: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("manifest")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
        d = tarfile.TarInfo("rootfs")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
    return buf.getvalue()


def manifest(**over) -> bytes:
    m = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/x",
         "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]}
    m.update(over)
    return json.dumps(m).encode()


@pytest.mark.parametrize("raw,message", [
    (b"{not json", "not valid JSON"),
    (manifest(name="Not A Name"), "ACIdentifier"),
    (manifest(acKind="PodManifest"), "ACKind"),
    (manifest(labels=[{"name": "os", "value": "freebsd"}, {"name": "arch", "value": "amd64"}]),
     'bad os "freebsd"'),
    (manifest(labels=[{"name": "os", "value": "linux"}]), "missing arch label"),
    (manifest(labels=[{"name": "os", "value": "linux"}, {"name": "arch", "value": "s390x"}]),
     'bad arch "s390x"'),
], ids=["not-json", "bad-name", "bad-kind", "bad-os", "no-arch", "bad-arch"])
def test_bad_manifests_are_rejected(rkt, tmp_path, raw, message):
    path = write(tmp_path, "bad", aci_with_manifest(raw))
    before = store_snapshot(rkt)
    r = rkt("--insecure-options=image", "fetch", path)
    assert_rejected_cleanly(rkt, r, before)
    assert message in r.stderr


def test_nonexistent_and_directory_inputs(rkt, tmp_path):
    before = store_snapshot(rkt)
    for arg in (str(tmp_path / "nope.aci"), str(tmp_path)):
        r = rkt("--insecure-options=image", "fetch", arg)
        assert_rejected_cleanly(rkt, r, before)
    assert os.path.isdir(tmp_path)
