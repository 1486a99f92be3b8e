"""Remote images under the global flags and auth.d: --insecure-options=http/tls,
--trust-keys-from-https, the key review dialogue during fetch, auth headers, and key
discovery for ``rkt trust --prefix``.

These need the CLI to hand its GlobalOptions to the Finder (``FetchOptions.globals``) and
``rkt trust`` to call ``rktfast.fetch.discovery.discover_pubkeys``; they are skipped until
that wiring is in place.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

try:
    from tests.httpfixtures import Reply
    from tests.test_remote import (  # noqa: F401  (fixtures)
        assert_nothing_stored,
        image_ids,
        key,
        make_aci,
        net,
        serve_app,
        signed,
        trust,
    )
except ImportError:
    from httpfixtures import Reply
    from test_remote import (  # noqa: F401
        assert_nothing_stored,
        image_ids,
        key,
        make_aci,
        net,
        serve_app,
        signed,
        trust,
    )

pytestmark = [pytest.mark.root]


def test_discovery_falls_back_to_http_only_when_allowed(net, rkt, key, tmp_path):
    aci = make_aci(tmp_path / "h.aci", "example.com/app", "1.0")
    data, sig = signed(key, aci)
    page = (b'<html><head><meta name="ac-discovery" content="example.com '
            b'http://images.example.com/app.{ext}"></head></html>')
    net.site.add("example.com", "/app?ac-discovery=1",
                 lambda req: Reply(body=page) if req.scheme == "http" else Reply(status=404))
    net.site.file("images.example.com", "/app.aci", data)
    net.site.file("images.example.com", "/app.aci.asc", sig)
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 254
    assert "discovery failed" in r.stderr
    r = net.rkt(rkt, "--insecure-options=http", "fetch", "example.com/app:1.0")
    assert r.returncode == 0, r.stderr
    schemes = {(q.host, q.scheme) for q in net.site.requests}
    assert ("example.com", "http") in schemes and ("images.example.com", "http") in schemes


def test_insecure_tls_accepts_an_unknown_certificate(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path)
    trust(net, rkt, key, "example.com/app")
    env = net.env()
    env.pop("SSL_CERT_FILE")
    env["SSL_CERT_DIR"] = str(tmp_path)
    r = net.rkt(rkt, "--debug", "fetch", "example.com/app:1.0", env=env)
    assert r.returncode == 254 and "discovery failed" in r.stderr
    assert "meta tag 'ac-discovery' not found on example.com/app: GET " \
           "https://example.com/app?ac-discovery=1: certificate verify failed" in r.stderr
    r = net.rkt(rkt, "--insecure-options=tls", "fetch", "example.com/app:1.0", env=env)
    assert r.returncode == 0, r.stderr
    assert "image: warning: TLS verification has been disabled" in r.stderr
    assert "image: signature verified:" in r.stderr


def test_auth_headers_go_only_to_their_domain(net, rkt, key, tmp_path):
    data, sig = serve_app(net, key, tmp_path, pubkeys=False)
    base = "/example.com/app-1.0-linux-amd64"
    # the image host wants basic auth and redirects the blob to another host
    basic = "Basic Ym9iOnNlY3JldA=="  # bob:secret

    def guarded(target):
        def reply(req):
            if req.headers.get("authorization") != basic:
                return Reply(status=401)
            return Reply(status=302, headers={"Location": target})
        return reply

    net.site.add("images.example.com", base + ".aci",
                 guarded("https://other.example.net/blob.aci"))
    net.site.add("images.example.com", base + ".aci.asc",
                 guarded("https://other.example.net/blob.aci.asc"))
    net.site.file("other.example.net", "/blob.aci", data)
    net.site.file("other.example.net", "/blob.aci.asc", sig)
    auth_d = os.path.join(rkt.local_config, "auth.d")
    os.makedirs(auth_d)
    with open(os.path.join(auth_d, "basic.json"), "w") as f:
        json.dump({"rktKind": "auth", "rktVersion": "v1", "domains": ["images.example.com"],
                   "type": "basic", "credentials": {"user": "bob", "password": "secret"}}, f)
    with open(os.path.join(auth_d, "oauth.json"), "w") as f:
        json.dump({"rktKind": "auth", "rktVersion": "v1", "domains": ["keys.example.org"],
                   "type": "oauth", "credentials": {"token": "sometoken"}}, f)
    trust(net, rkt, key, "example.com/app")
    r = net.rkt(rkt, "fetch", "example.com/app:1.0")
    assert r.returncode == 0, r.stderr
    by_host: dict[str, set] = {}
    for q in net.site.requests:
        by_host.setdefault(q.host, set()).add(q.headers.get("authorization"))
    assert by_host["images.example.com"] == {basic}
    assert by_host["example.com"] == {None}
    assert by_host["other.example.net"] == {None}
    assert "keys.example.org" not in by_host


def test_fetch_trusts_discovered_keys_from_https(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path)
    r = net.rkt(rkt, "--trust-keys-from-https", "fetch", "example.com/app:1.0")
    assert r.returncode == 0, r.stderr
    assert 'pubkey: prefix: "example.com/app"\nkey: "https://keys.example.org/pubkeys.gpg"' \
        in r.stderr
    assert 'Trusting "https://keys.example.org/pubkeys.gpg" for prefix "example.com/app" ' \
           "without fingerprint review." in r.stdout
    stored = os.path.join(rkt.local_config, "trustedkeys", "prefix.d", "example.com", "app",
                          key.fingerprint)
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o644
    assert "image: signature verified:" in r.stderr
    assert r.stdout.splitlines()[-1].startswith("sha512-")
    # the next fetch finds the key
    r = net.rkt(rkt, "fetch", "--pull-policy=update", "example.com/app:1.0")
    assert 'keys already exist for prefix "example.com/app", not fetching again' in r.stderr


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_fetch_asks_to_review_a_discovered_key(net, rkt, key, tmp_path, answer):
    serve_app(net, key, tmp_path)
    code, tty, out = net.rkt_pty(rkt, "fetch", "example.com/app:1.0", answer=answer)
    assert "gpg key fingerprint is: " in out
    assert "Are you sure you want to trust this key (yes/no)?" in out
    if answer == "yes":
        assert code == 0, tty
        assert "Trusting \"https://keys.example.org/pubkeys.gpg\" for prefix " \
               "\"example.com/app\" after fingerprint review." in out
        assert len(image_ids(net, rkt)) == 1
    else:
        assert code == 254
        assert 'pubkey: not trusting "https://keys.example.org/pubkeys.gpg"' in tty
        assert "openpgp: signature made by unknown entity" in tty
        assert_nothing_stored(net, rkt)


def test_discovered_key_that_is_not_a_key(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path)
    net.site.file("keys.example.org", "/pubkeys.gpg", b"<html>moved</html>\n")
    r = net.rkt(rkt, "--trust-keys-from-https", "fetch", "example.com/app:1.0")
    assert r.returncode == 254
    assert "image: error adding keys: " in r.stderr
    assert "openpgp: signature made by unknown entity" in r.stderr
    assert not os.path.exists(os.path.join(rkt.local_config, "trustedkeys"))
    assert_nothing_stored(net, rkt)


def test_trust_prefix_discovers_the_key(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path, "example.com/team/app", discovery_at="example.com/team")
    r = net.rkt(rkt, "trust", "--prefix=example.com/team/app", "--skip-fingerprint-review")
    assert r.returncode == 0, r.stderr
    assert f'Added key for prefix "example.com/team/app" at "{rkt.local_config}/trustedkeys/' \
           f'prefix.d/example.com/team/app/{key.fingerprint}"' in r.stdout


def test_trust_prefix_without_keys_on_the_page(net, rkt):
    net.site.discovery("example.com/app", [
        ("ac-discovery", "example.com", "https://images.example.com/{name}.{ext}")])
    r = net.rkt(rkt, "trust", "--prefix=example.com/app", "--skip-fingerprint-review")
    assert r.returncode == 254
    assert "error determining key location: prefix meta discovery error: discovery failed" \
        in r.stderr


def test_trust_prefix_http_key_needs_insecure_allow_http(net, rkt, key, tmp_path):
    serve_app(net, key, tmp_path)
    net.site.discovery("example.com/app", [
        ("ac-discovery-pubkeys", "example.com", "http://keys.example.org/pubkeys.gpg")])
    r = net.rkt(rkt, "trust", "--prefix=example.com/app", "--skip-fingerprint-review")
    assert r.returncode == 254
    assert "--insecure-allow-http required for http URLs" in r.stderr
    r = net.rkt(rkt, "trust", "--prefix=example.com/app", "--skip-fingerprint-review",
                "--insecure-allow-http")
    assert r.returncode == 0, r.stderr
