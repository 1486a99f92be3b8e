"""Remote images end to end: discovery, signatures, downloads, caching (issue 3).

Every server is real (HTTPS with a CA made here by openssl) and lives in a private network
namespace with the rkt under test; see tests/httpfixtures.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from rktfast.appc.aci_builder import build_aci, dir_entry, file_entry, image_manifest

try:
    from tests.gpgkeys import make_key
    from tests.httpfixtures import PrivateNet, Reply, TestCA
except ImportError:  # tests/ on sys.path (pytest's rootdir-less import mode)
    from gpgkeys import make_key
    from httpfixtures import PrivateNet, Reply, TestCA

pytestmark = [pytest.mark.root]

HOSTS = ["example.com", "images.example.com", "keys.example.org", "other.example.net"]


@pytest.fixture
def net(tmp_path, as_root):
    for tool in ("unshare", "nsenter", "openssl", "gpg", "ip"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            pytest.skip(f"{tool} is not installed")
    n = PrivateNet(tmp_path, TestCA(tmp_path), HOSTS)
    yield n
    n.close()


@pytest.fixture
def key(tmp_path):
    k = make_key(tmp_path, "Example Signer <signer@example.com>")
    yield k
    k.close()


def make_aci(path, name: str, version: str | None = "1.0", *, payload: bytes = b"hello\n",
             labels: dict[str, str] | None = None) -> str:
    """A small gzip ACI named ``name`` whose rootfs holds ``/hello`` with ``payload``."""
    m = image_manifest(name, version, exec_=["/hello"])
    for k, v in (labels or {}).items():
        m["labels"] = [lb for lb in m["labels"] if lb["name"] != k] + [{"name": k, "value": v}]
    entries = [dir_entry("rootfs"), file_entry("rootfs/hello", payload, 0o755)]
    return build_aci(entries, m, os.fspath(path))


def signed(key, aci: str) -> tuple[bytes, bytes]:
    """(image bytes, armored signature bytes)."""
    asc = key.sign(aci)
    with open(aci, "rb") as f, open(asc, "rb") as g:
        return f.read(), g.read()


def serve_app(net, key, tmp_path, name="example.com/app", version="1.0", *,
              discovery_at="example.com/app", template=None, pubkeys=True, **aci_kw):
    """Discovery page + signed image + key for ``name:version``; returns (data, sig)."""
    aci = make_aci(tmp_path / f"{name.replace('/', '_')}-{version}.aci", name, version,
                   **aci_kw)
    data, sig = signed(key, aci)
    template = template or "https://images.example.com/{name}-{version}-{os}-{arch}.{ext}"
    metas = [("ac-discovery", name.split("/")[0], template)]
    if pubkeys:
        metas.append(("ac-discovery-pubkeys", name.split("/")[0],
                      "https://keys.example.org/pubkeys.gpg"))
    net.site.discovery(discovery_at, metas)
    base = f"/{name}-{version}-linux-amd64"
    net.site.file("images.example.com", base + ".aci", data, etag='"img-v1"')
    net.site.file("images.example.com", base + ".aci.asc", sig)
    net.site.file("keys.example.org", "/pubkeys.gpg", key.armored_public.encode())
    return data, sig


def trust(net, rkt, key, prefix: str):
    r = net.rkt(rkt, "trust", f"--prefix={prefix}", "--skip-fingerprint-review",
                key.public_path)
    assert r.returncode == 0, r.stderr


def image_ids(net, rkt) -> list[str]:
    r = net.rkt(rkt, "image", "list", "--no-legend", "--fields=id", "--full")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def assert_nothing_stored(net, rkt, *, partial_ok: bool = False):
    """No image row, blob, tree or temporary (a resumable partial download if allowed)."""
    assert image_ids(net, rkt) == []
    cas = os.path.join(rkt.data, "cas")
    blobs = [f for _, _, fs in os.walk(os.path.join(cas, "blob")) for f in fs]
    assert blobs == []
    assert os.listdir(os.path.join(cas, "tree")) == []
    left = os.listdir(os.path.join(cas, "tmp"))
    if partial_ok:
        left = [n for n in left if not n.startswith("partial-")]
    assert left == []


def image_requests(net, suffix=".aci"):
    return [r for r in net.site.seen("images.example.com") if r.path.endswith(suffix)]


# --- discovery and verification --------------------------------------------------------


def test_fetch_name_discovered_two_levels_up(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path, "example.com/team/app", "1.0", discovery_at="example.com")
    trust(net, rkt, key, "example.com/team/app")
    r = net.rkt(rkt, "fetch", "example.com/team/app:1.0")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"sha512-[0-9a-f]{32}\n", r.stdout)
    assert "image: signature verified:\nimage:   Example Signer <signer@example.com>\n" \
        in r.stderr
    # without a terminal, the progress is one final line per file
    assert "Downloading ACI: " in r.stderr and "\r" not in r.stderr
    assert image_ids(net, rkt)[0].startswith(r.stdout.strip())
    # the walk went name, parent, grandparent
    pages = [req.path for req in net.site.seen("example.com")]
    assert pages == ["/team/app?ac-discovery=1", "/team?ac-discovery=1", "/?ac-discovery=1"]


def test_fetch_name_then_store_with_policy_new(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path)
    trust(net, rkt, key, "example.com/app")
    first = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert first.returncode == 0, first.stderr
    before = len(net.site.requests)
    again = net.rkt(rkt, "--debug", "fetch", "--pull-policy=new", "example.com/app:1.0")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert "using image from local store for image name example.com/app:1.0" in again.stderr
    assert len(net.site.requests) == before


def test_fetch_label_mismatch_is_refused(net, rkt, key, tmp_path):
    # the server answers the 2.0 URL with an image labelled 1.2.0
    aci = make_aci(tmp_path / "old.aci", "example.com/app", "1.2.0")
    data, sig = signed(key, aci)
    net.site.discovery("example.com/app", [
        ("ac-discovery", "example.com/app", "https://images.example.com/app-{version}.{ext}")])
    net.site.file("images.example.com", "/app-2.0.aci", data)
    net.site.file("images.example.com", "/app-2.0.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "fetch", "example.com/app:2.0")
    assert r.returncode == 254
    assert 'requested value for label "version": "2.0" differs from fetched aci label ' \
           'value: "1.2.0"' in r.stderr
    assert_nothing_stored(net, rkt)


def test_fetch_name_mismatch_is_refused(net, rkt, key, tmp_path):
    aci = make_aci(tmp_path / "other.aci", "example.com/other", "1.0")
    data, sig = signed(key, aci)
    net.site.discovery("example.com/app", [
        ("ac-discovery", "example.com", "https://images.example.com/x.{ext}")])
    net.site.file("images.example.com", "/x.aci", data)
    net.site.file("images.example.com", "/x.aci.asc", sig)
    trust(net, rkt, key, "example.com")
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 254
    assert 'error when reading the app name: "example.com/app" expected but ' \
           '"example.com/other" found' in r.stderr
    assert_nothing_stored(net, rkt)


def test_fetch_missing_requested_label(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path,
              template="https://images.example.com/{name}-{version}-{os}-{arch}.{ext}?c={channel}")
    net.site.routes = {(h, p.split("?")[0] if p.endswith(("aci", "asc")) else p): v
                       for (h, p), v in net.site.routes.items()}
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "fetch", "example.com/app:1.0,channel=beta")
    assert r.returncode == 254
    assert 'requested label "channel" not provided by the image manifest' in r.stderr
    assert_nothing_stored(net, rkt)


def test_key_for_another_prefix_does_not_verify(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path, pubkeys=False)
    trust(net, rkt, key, "example.com/other")
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 254
    assert "openpgp: signature made by unknown entity" in r.stderr
    assert "image: If you expected the signing key to change, try running:\n" \
           "image:     rkt trust --prefix example.com/app\n" in r.stderr
    # the signer was checked before the image was downloaded
    assert image_requests(net) == []
    assert_nothing_stored(net, rkt)


def test_unknown_signer_without_terminal(net, rkt, key, tmp_path):
    """No key for the name: discovery offers one, but without a terminal it cannot be
    reviewed; the signature check then fails with rkt's hint."""
    serve_app(net, key, tmp_path)
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 254
    assert "pubkey: prefix: \"example.com/app\"" in r.stderr
    assert "unable to ask user to review fingerprint due to lack of tty" in r.stderr
    assert "openpgp: signature made by unknown entity" in r.stderr
    assert "image:     rkt trust --prefix example.com/app" in r.stderr
    assert_nothing_stored(net, rkt)


def test_signer_not_trusted_for_name(net, rkt, key, tmp_path):
    other = make_key(tmp_path / "..", "Someone Else <else@example.com>")
    try:
        serve_app(net, key, tmp_path, pubkeys=False)
        trust(net, rkt, other, "example.com/app")
        r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    finally:
        other.close()
    assert r.returncode == 254
    assert 'keys already exist for prefix "example.com/app", not fetching again' in r.stderr
    assert "openpgp: signature made by unknown entity" in r.stderr
    assert_nothing_stored(net, rkt)


def test_tampered_image_is_refused(net, rkt, key, tmp_path):
    data, sig = serve_app(net, key, tmp_path)
    bad = make_aci(tmp_path / "evil.aci", "example.com/app", "1.0", payload=b"evil\n")
    with open(bad, "rb") as f:
        net.site.file("images.example.com", "/example.com/app-1.0-linux-amd64.aci", f.read())
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 254
    assert "openpgp: invalid signature" in r.stderr
    assert_nothing_stored(net, rkt)


def test_fetch_url_verifies_with_manifest_name(net, rkt, key, tmp_path):
    aci = make_aci(tmp_path / "u.aci", "example.com/app", "1.0")
    data, sig = signed(key, aci)
    net.site.file("images.example.com", "/u.aci", data)
    net.site.file("images.example.com", "/u.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "--debug", "fetch", "https://images.example.com/u.aci")
    assert r.returncode == 0, r.stderr
    assert "image: fetching image from https://images.example.com/u.aci" in r.stderr
    assert "image: signature verified:" in r.stderr
    assert len(r.stdout.strip()) == 39


def test_fetch_url_with_local_signature_flag(net, rkt, key, tmp_path):
    aci = make_aci(tmp_path / "u.aci", "example.com/app", "1.0")
    data, sig = signed(key, aci)
    net.site.file("images.example.com", "/u.aci", data)
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "fetch", "https://images.example.com/u.aci", f"--signature={aci}.asc")
    assert r.returncode == 0, r.stderr
    assert not image_requests(net, ".asc")


def test_unsigned_url_fails_and_insecure_image_fetches(net, rkt, tmp_path):
    aci = make_aci(tmp_path / "u.aci", "example.com/app", "1.0")
    with open(aci, "rb") as f:
        net.site.file("images.example.com", "/u.aci", f.read())
    r = net.rkt(rkt, "--debug", "fetch", "https://images.example.com/u.aci")
    assert r.returncode == 254
    assert "error downloading the signature file\n    └─bad HTTP status code: 404" in r.stderr
    assert_nothing_stored(net, rkt)
    r = net.rkt(rkt, "--insecure-options=image", "fetch", "https://images.example.com/u.aci")
    assert r.returncode == 0, r.stderr
    assert "image: warning: image signature verification has been disabled" in r.stderr


def test_deferred_signature_download(net, rkt, key, tmp_path):
    data, sig = serve_app(net, key, tmp_path)
    calls = []

    def signature(req):
        calls.append(req)
        return Reply(status=202) if len(calls) == 1 else Reply(body=sig)

    net.site.add("images.example.com", "/example.com/app-1.0-linux-amd64.aci.asc", signature)
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 0, r.stderr
    assert "image: server requested deferring the signature download" in r.stderr
    assert len(calls) == 2
    # the second signature request came after the image
    order = [q.path for q in net.site.seen("images.example.com")]
    assert order[-2].endswith(".aci") and order[-1].endswith(".aci.asc")


def test_discovery_failure_message(net, rkt, key, tmp_path):
    r = net.rkt(rkt, "fetch", "example.com/nothing/here:1.0")
    assert r.returncode == 254
    assert r.stderr.startswith("fetch: unable to fetch image from image name "
                               "example.com/nothing/here:1.0: discovery failed")
    r = net.rkt(rkt, "--debug", "fetch", "example.com/nothing:1.0")
    assert "meta tag 'ac-discovery' not found on example.com/nothing: expected a 200 OK " \
           "got 404" in r.stderr


# --- downloads: resume, cache, policies ---------------------------------------------------


def big_aci(tmp_path, name="example.com/app", version="1.0", size=3 << 20) -> str:
    """An image whose compressed size is about ``size`` (incompressible payload)."""
    return make_aci(tmp_path / f"big-{version}.aci", name, version, payload=os.urandom(size))


def test_cut_download_resumes(net, rkt, key, tmp_path):
    data, sig = signed(key, big_aci(tmp_path))
    url = "/big.aci"
    net.site.file("images.example.com", url + ".asc", sig)
    net.site.file("images.example.com", url, data, etag='"big-1"', cut_after=len(data) // 2)
    trust(net, rkt, key, "example.com/app")
    full = "https://images.example.com" + url
    r = net.rkt(rkt, "fetch", full)
    assert r.returncode == 254
    assert "unexpected EOF after" in r.stderr
    assert_nothing_stored(net, rkt, partial_ok=True)
    partials = [n for n in os.listdir(os.path.join(rkt.data, "cas", "tmp"))
                if n.startswith("partial-") and not n.endswith(".json")]
    assert len(partials) == 1
    have = os.path.getsize(os.path.join(rkt.data, "cas", "tmp", partials[0]))
    assert 0 < have <= len(data) // 2

    net.site.file("images.example.com", url, data, etag='"big-1"')
    r = net.rkt(rkt, "fetch", full)
    assert r.returncode == 0, r.stderr
    last = image_requests(net)[-1]
    assert last.headers["range"] == f"bytes={have}-"
    assert last.headers["if-range"] == '"big-1"'
    assert "image: signature verified:" in r.stderr
    assert os.listdir(os.path.join(rkt.data, "cas", "tmp")) == []
    # the same image as an uninterrupted fetch
    r2 = net.rkt(rkt, "--insecure-options=image", "fetch", "--pull-policy=update",
                 f"{tmp_path}/big-1.0.aci")
    assert r2.stdout == r.stdout


def test_image_gc_removes_partial_downloads_nobody_resumed(net, rkt, key, tmp_path):
    data, sig = signed(key, big_aci(tmp_path))
    net.site.file("images.example.com", "/big.aci.asc", sig)
    net.site.file("images.example.com", "/big.aci", data, etag='"big-1"',
                  cut_after=len(data) // 2)
    trust(net, rkt, key, "example.com/app")
    assert net.rkt(rkt, "fetch", "https://images.example.com/big.aci").returncode == 254
    tmp = os.path.join(rkt.data, "cas", "tmp")
    [partial] = [n for n in os.listdir(tmp) if n.startswith("partial-")
                 and not n.endswith(".json")]
    assert sorted(os.listdir(tmp)) == [partial, partial + ".json"]
    rkt.ok("image", "gc")  # younger than the grace period: kept for a resume
    assert sorted(os.listdir(tmp)) == [partial, partial + ".json"]
    import fcntl

    with open(os.path.join(tmp, partial), "rb") as f:  # a fetch resuming it holds its lock
        fcntl.flock(f, fcntl.LOCK_EX)
        rkt.ok("image", "gc", "--grace-period=0s")
        assert partial in os.listdir(tmp)
    rkt.ok("image", "gc", "--grace-period=0s")
    assert os.listdir(tmp) == []


def test_resume_against_a_changed_image_starts_over(net, rkt, key, tmp_path):
    old, _ = signed(key, big_aci(tmp_path, version="1.0"))
    new, new_sig = signed(key, big_aci(tmp_path, version="2.0"))
    net.site.file("images.example.com", "/app.aci", old, etag='"v1"', cut_after=len(old) // 3)
    net.site.file("images.example.com", "/app.aci.asc", new_sig)
    trust(net, rkt, key, "example.com/app")
    url = "https://images.example.com/app.aci"
    assert net.rkt(rkt, "fetch", url).returncode == 254
    net.site.file("images.example.com", "/app.aci", new, etag='"v2"')
    r = net.rkt(rkt, "fetch", url)
    assert r.returncode == 0, r.stderr
    last = image_requests(net)[-1]
    assert last.headers["if-range"] == '"v1"'  # asked to resume, got the whole new image
    r = net.rkt(rkt, "image", "list", "--no-legend")
    assert "example.com/app:2.0" in r.stdout


def test_etag_revalidation_uses_304(net, rkt, key, tmp_path):
    data, sig = signed(key, make_aci(tmp_path / "e.aci", "example.com/app", "1.0"))
    net.site.file("images.example.com", "/e.aci", data, etag='"e1"')
    net.site.file("images.example.com", "/e.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    url = "https://images.example.com/e.aci"
    first = net.rkt(rkt, "fetch", url)
    assert first.returncode == 0, first.stderr
    again = net.rkt(rkt, "fetch", url)  # fetch's default policy is update
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    reqs = image_requests(net)
    assert len(reqs) == 2 and reqs[1].headers["if-none-match"] == '"e1"'
    assert "Downloading ACI" not in again.stderr


def test_cache_control_max_age_skips_the_network(net, rkt, key, tmp_path):
    data, sig = signed(key, make_aci(tmp_path / "m.aci", "example.com/app", "1.0"))
    net.site.file("images.example.com", "/m.aci", data,
                  headers={"Cache-Control": "public, max-age=3600"})
    net.site.file("images.example.com", "/m.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    url = "https://images.example.com/m.aci"
    first = net.rkt(rkt, "fetch", url)
    assert first.returncode == 0, first.stderr
    n = len(net.site.requests)
    again = net.rkt(rkt, "--debug", "fetch", url)
    assert again.returncode == 0, again.stderr
    assert f"image: image for {url} isn't expired, not fetching." in again.stderr
    assert len(net.site.requests) == n


def test_url_pull_policies(net, rkt, key, tmp_path):
    url = "https://images.example.com/p.aci"
    r = net.rkt(rkt, "fetch", "--pull-policy=never", url)
    assert r.returncode == 254
    assert f'unable to fetch image from URL "{url}": image not found in the local store' \
        in r.stderr
    data, sig = signed(key, make_aci(tmp_path / "p.aci", "example.com/app", "1.0"))
    net.site.file("images.example.com", "/p.aci", data)
    net.site.file("images.example.com", "/p.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    first = net.rkt(rkt, "fetch", "--pull-policy=new", url)
    assert first.returncode == 0, first.stderr
    n = len(net.site.requests)
    for policy in ("new", "never"):
        r = net.rkt(rkt, "--debug", "fetch", f"--pull-policy={policy}", url)
        assert r.returncode == 0 and r.stdout == first.stdout
        assert f"image: using image from local store for url {url}" in r.stderr
    assert len(net.site.requests) == n


def test_progress_bar_on_a_terminal(net, rkt, key, tmp_path):
    data, sig = signed(key, big_aci(tmp_path, size=2 << 20))
    # ~2.5 s: 40 chunks of ~52 KiB, 60 ms apart
    net.site.file("images.example.com", "/slow.aci", data, chunk=len(data) // 40 + 1,
                  delay=0.06)
    net.site.file("images.example.com", "/slow.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    code, tty, out = net.rkt_pty(rkt, "fetch", "https://images.example.com/slow.aci")
    assert code == 0, tty
    assert re.fullmatch(r"sha512-[0-9a-f]{32}\n", out)
    draws = re.findall(r"Downloading ACI: \[([=> ]*)\] ([0-9.]+ [KM]?B)/([0-9.]+ MB)", tty)
    assert 2 <= len(draws) <= 6, tty  # at most one redraw a second, plus the final one
    total = draws[-1][2]
    assert draws[-1][1] == total and set(draws[-1][0]) == {"="}
    assert len(draws[-1][0]) == 80 - len("Downloading ACI") - 18 - 2
    assert any(">" in d[0] for d in draws[:-1])
    assert "Downloading signature: [" in tty
    # the last draw is ended by a newline (the pty turns "\n" into "\r\n")
    last = tty.rindex("Downloading ACI")
    assert re.match(r"Downloading ACI: \[=+\] [0-9.]+ MB/[0-9.]+ MB *\r\r\n", tty[last:])


# --- hostile servers ---------------------------------------------------------------------


def hostile_fetch(net, rkt, reply: Reply, *, env_extra=None, timeout=60):
    net.site.add("images.example.com", "/h.aci", reply)
    net.site.file("images.example.com", "/h.aci.asc", b"not used")
    env = net.env(**(env_extra or {}))
    start = time.monotonic()
    r = net.rkt(rkt, "--insecure-options=image", "fetch", "https://images.example.com/h.aci",
                env=env, timeout=timeout)
    return r, time.monotonic() - start


def test_hostile_short_content_length(net, rkt, tmp_path):
    with open(make_aci(tmp_path / "s.aci", "example.com/app"), "rb") as f:
        data = f.read()
    r, _ = hostile_fetch(net, rkt, Reply(body=data, content_length=len(data) // 2))
    assert r.returncode == 254
    assert "error decompressing image" in r.stderr or "error importing image" in r.stderr
    assert_nothing_stored(net, rkt)


def test_hostile_long_content_length_times_out(net, rkt, tmp_path):
    """The server announces twice the bytes it sends, then keeps the connection silent."""
    with open(make_aci(tmp_path / "s.aci", "example.com/app"), "rb") as f:
        data = f.read()
    r, took = hostile_fetch(net, rkt, Reply(body=data * 2, cut_after=len(data), stall=True),
                            env_extra={"RKTFAST_HTTP_TIMEOUT": "2"})
    assert r.returncode == 254
    assert "i/o timeout" in r.stderr
    assert took < 30
    assert_nothing_stored(net, rkt, partial_ok=True)


def test_hostile_endless_random_body(net, rkt):
    r, took = hostile_fetch(net, rkt, Reply(endless=os.urandom(1 << 16)))
    assert r.returncode == 254
    assert took < 30
    assert_nothing_stored(net, rkt)


def test_hostile_endless_valid_stream_is_capped(net, rkt, tmp_path):
    # a plain tar that never ends: zero blocks forever
    r, took = hostile_fetch(net, rkt, Reply(endless=b"\0" * (1 << 16)),
                            env_extra={"RKTFAST_MAX_DOWNLOAD_BYTES": str(8 << 20)})
    assert r.returncode == 254
    assert "image larger than 8388608 bytes" in r.stderr
    assert took < 30
    assert_nothing_stored(net, rkt)


def test_hostile_stalled_body_times_out(net, rkt, tmp_path):
    r, took = hostile_fetch(net, rkt, Reply(body=b"x" * 1000, cut_after=0, stall=True),
                            env_extra={"RKTFAST_HTTP_TIMEOUT": "2"})
    assert r.returncode == 254
    assert "i/o timeout" in r.stderr
    assert took < 30
    assert_nothing_stored(net, rkt, partial_ok=True)


def test_hostile_redirect_loop(net, rkt):
    net.site.add("images.example.com", "/loop",
                 Reply(status=302, headers={"Location": "/h.aci"}))
    r, took = hostile_fetch(net, rkt, Reply(status=302, headers={"Location": "/loop"}))
    assert r.returncode == 254
    assert "stopped after 10 redirects" in r.stderr
    assert took < 30
    assert_nothing_stored(net, rkt)


def test_hostile_redirect_to_plain_http_is_refused(net, rkt):
    r, _ = hostile_fetch(net, rkt, Reply(status=301, headers={
        "Location": "http://images.example.com/h.aci"}))
    assert r.returncode == 254
    assert "refusing plain http" in r.stderr


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 17) + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(5000)) + b"\r\n",
], ids=["long-header-line", "many-headers"])
def test_hostile_huge_headers(net, rkt, head):
    r, took = hostile_fetch(net, rkt, Reply(raw_head=head))
    assert r.returncode == 254
    assert re.search("response header too long|too many response headers", r.stderr)
    assert took < 30
    assert_nothing_stored(net, rkt)


def test_hostile_discovery_page_with_many_meta_tags(net, rkt):
    junk = "".join(f'<meta name="ac-discovery" content="example.com/x{i} https://x/{i}">\n'
                   for i in range(5000))
    net.site.discovery("example.com/app", [], extra=junk)
    start = time.monotonic()
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 254
    assert "discovery failed" in r.stderr
    assert time.monotonic() - start < 30


def test_plain_http_is_refused_by_default(net, rkt):
    r = net.rkt(rkt, "--insecure-options=image", "fetch", "http://images.example.com/x.aci")
    assert r.returncode == 254
    assert "refusing plain http for http://images.example.com/x.aci" in r.stderr


def test_untrusted_certificate_is_refused(net, rkt, tmp_path):
    env = net.env()
    env.pop("SSL_CERT_FILE")
    env["SSL_CERT_DIR"] = str(tmp_path)  # an empty CA store
    r = net.rkt(rkt, "--insecure-options=image", "fetch", "https://images.example.com/x.aci",
                env=env)
    assert r.returncode == 254
    assert "certificate verify failed" in r.stderr


def test_discover_pubkeys_for_trust(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path, "example.com/team/app", discovery_at="example.com/team")
    code = ("from rktfast.fetch.discovery import discover_pubkeys;"
            "print(discover_pubkeys('example.com/team/app'))")
    r = subprocess.run(net.wrap([sys.executable, "-c", code]), capture_output=True, text=True,
                       env=net.env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['https://keys.example.org/pubkeys.gpg']"
    code = ("from rktfast.fetch.discovery import discover_pubkeys\n"
            "try:\n  discover_pubkeys('example.com/none')\n"
            "except Exception as e:\n  print(': '.join(e.chain()))")
    net.site.routes.clear()
    r = subprocess.run(net.wrap([sys.executable, "-c", code]), capture_output=True, text=True,
                       env=net.env(), timeout=60)
    assert r.stdout.strip() == "prefix meta discovery error: discovery failed"


def test_same_url_downloads_wait_for_each_other(net, rkt, key, tmp_path):
    data, sig = signed(key, big_aci(tmp_path, size=1 << 20))
    net.site.file("images.example.com", "/w.aci", data, chunk=len(data) // 20 + 1, delay=0.1)
    net.site.file("images.example.com", "/w.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    argv = net.wrap(rkt.argv("fetch", "https://images.example.com/w.aci"))
    first = subprocess.Popen(argv, env=net.env(), cwd=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not image_requests(net):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    second = net.rkt(rkt, "fetch", "https://images.example.com/w.aci")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    assert "image: another rkt instance is downloading this file, waiting..." in second.stderr
    assert second.stdout == out
    assert len(image_requests(net)) == 1
