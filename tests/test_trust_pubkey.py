"""Reading public keys, printing fingerprints and getting keys from files and URLs."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading

import pytest

from rktfast.errors import TrustError
from rktfast.trust import pubkey

try:
    from tests.gpgkeys import make_key
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from gpgkeys import make_key


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    k = make_key(tmp_path_factory.mktemp("key"), "Key Owner <owner@example.com>")
    k.add_signing_subkey()
    yield k
    k.close()


def test_format_fingerprint_like_rkt():
    assert pubkey.format_fingerprint("8b86de38890ddb7291867b025210bd8888182190") == \
        "8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190"


def test_parse_armored_and_binary_key(key):
    for data in (key.armored_public.encode(), key.binary_public):
        cert = pubkey.parse_public_key(data)
        assert cert.fingerprint == key.fingerprint
        assert pubkey.identities(cert) == ["Key Owner <owner@example.com>"]
        assert pubkey.subkey_fingerprints(cert) == key.subkey_fingerprints


def test_key_ids_cover_primary_and_subkeys(key):
    ids = pubkey.key_ids(pubkey.parse_public_key(key.binary_public))
    assert key.fingerprint in ids and key.fingerprint[-16:] in ids
    assert key.subkey_fingerprints[0][-16:] in ids


def test_parse_several_keys_in_one_file(tmp_path, key):
    other = make_key(tmp_path, "Other <other@example.com>")
    try:
        certs = pubkey.parse_public_keys((key.armored_public + other.armored_public).encode())
        assert [c.fingerprint for c in certs] == [key.fingerprint, other.fingerprint]
    finally:
        other.close()


@pytest.mark.parametrize("data,message", [
    (b"", "openpgp: invalid argument: no armored data found"),
    (b"just some text\n", "openpgp: invalid argument: no armored data found"),
    (b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n",
     "openpgp: invalid argument: expected public or private key block, got: PGP SIGNATURE"),
    (b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nzzzz\n-----END PGP PUBLIC KEY BLOCK-----\n",
     "openpgp: invalid data: "),
])
def test_not_a_key(data, message):
    with pytest.raises(TrustError) as e:
        pubkey.parse_public_keys(data)
    assert e.value.message.startswith(message)


def test_armored_key_keeps_armored_input_and_armors_binary(key):
    cert = pubkey.parse_public_key(key.binary_public)
    assert pubkey.armored_key(key.armored_public.encode(), cert) == key.armored_public.encode()
    assert pubkey.armored_key(key.binary_public, cert).startswith(
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----")


def test_fetch_key_from_path_and_file_url(key):
    assert pubkey.fetch_key(key.public_path) == key.armored_public.encode()
    assert pubkey.fetch_key("file://" + key.public_path) == key.armored_public.encode()


def test_fetch_key_missing_file(tmp_path):
    with pytest.raises(TrustError) as e:
        pubkey.fetch_key(str(tmp_path / "nope.asc"))
    assert e.value.message == f"open {tmp_path}/nope.asc: no such file or directory"


def test_fetch_key_refuses_plain_http_without_flag():
    with pytest.raises(TrustError, match="--insecure-allow-http required for http URLs"):
        pubkey.fetch_key("http://127.0.0.1:1/key.asc")


def test_fetch_key_unsupported_scheme():
    with pytest.raises(TrustError, match="only local files and http or https URLs supported"):
        pubkey.fetch_key("ftp://example.com/key.asc")


class _KeyHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        if self.path == "/key.asc":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.body)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.plain_port}/key.asc")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(key):
    _KeyHandler.body = key.armored_public.encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeyHandler)
    server.plain_port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_fetch_key_over_http_with_flag(http_server, key):
    url = f"http://127.0.0.1:{http_server.server_address[1]}"
    assert pubkey.fetch_key(url + "/key.asc", allow_http=True) == key.armored_public.encode()
    with pytest.raises(TrustError, match="bad HTTP status code: 404"):
        pubkey.fetch_key(url + "/missing.asc", allow_http=True)


@pytest.fixture
def https_server(tmp_path, key, http_server):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, pem_key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(pem_key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeyHandler)
    server.plain_port = http_server.server_address[1]
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, pem_key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_key_over_https_checks_certificates(https_server, key):
    with pytest.raises(TrustError) as e:
        pubkey.fetch_key(https_server + "/key.asc")
    assert e.value.message == "error getting key"
    assert "CERTIFICATE_VERIFY_FAILED" in e.value.chain()[-1]
    assert pubkey.fetch_key(https_server + "/key.asc", skip_tls=True) == \
        key.armored_public.encode()


def test_https_redirect_to_http_needs_allow_http(https_server, key):
    with pytest.raises(TrustError, match="refusing redirect"):
        pubkey.fetch_key(https_server + "/moved", skip_tls=True)
    assert pubkey.fetch_key(https_server + "/moved", skip_tls=True, allow_http=True) == \
        key.armored_public.encode()


def test_go_quote_matches_go_percent_q():
    from rktfast.trust.gostrings import go_quote

    assert go_quote('example.com/foo') == '"example.com/foo"'
    assert go_quote('a"b\\c\td\x01é') == '"a\\"b\\\\c\\td\\x01é"'


def test_ask_to_trust_reads_exact_lines_and_fails_at_eof():
    import io

    from rktfast.trust.review import ask_to_trust

    out = io.StringIO()
    assert ask_to_trust(io.BytesIO(b"Yes\nno\n"), out) is False
    assert out.getvalue() == ("Are you sure you want to trust this key (yes/no)?\n"
                              "Please enter 'yes' or 'no'\n"
                              "Are you sure you want to trust this key (yes/no)?\n")
    with pytest.raises(TrustError) as e:
        ask_to_trust(io.BytesIO(b"maybe\nyes"), io.StringIO())
    assert e.value.chain() == ["error reading input", "EOF"]
