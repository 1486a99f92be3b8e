"""Public keys: reading them, naming them, and getting them from a file or URL.

A key file holds one or more OpenPGP certificates, armored (what ``rkt trust`` has always
taken) or binary (accepted here too).  When a key is stored, only the first certificate
names the file, as in rkt.  Messages follow Go's ``openpgp`` package, which rkt printed.
"""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit

import pysequoia
from pysequoia import packet

from rktfast.errors import TrustError
from rktfast.trust.gostrings import go_os_error

# Keys are small; a bigger file is almost certainly not a key (an image given by mistake).
MAX_KEY_BYTES = 16 << 20
HTTP_TIMEOUT_SECONDS = 120  # rkt: keys are small, 2 minutes covers connect + TLS + body.

_ARMOR_TYPE = re.compile(rb"-----BEGIN (PGP [A-Z ,/0-9]+?)-----")
_KEY_BLOCKS = (b"PGP PUBLIC KEY BLOCK", b"PGP PRIVATE KEY BLOCK")


def _first_line(err: BaseException) -> str:
    # pysequoia appends a Rust backtrace when RUST_BACKTRACE is set.
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def armor_type(data: bytes) -> bytes | None:
    """The armor block type (``PGP SIGNATURE`` …) if ``data`` is ASCII-armored, else None."""
    m = _ARMOR_TYPE.search(data[:4096])
    return m.group(1) if m else None


def parse_public_keys(data: bytes) -> list[pysequoia.Cert]:
    """All certificates in key file contents (armored or binary); TrustError if there are none."""
    kind = armor_type(data)
    if kind is not None and kind not in _KEY_BLOCKS:
        raise TrustError("openpgp: invalid argument: expected public or private key block, "
                         f"got: {kind.decode()}")
    if not data.strip():
        raise TrustError("openpgp: invalid argument: no armored data found")
    try:
        certs = pysequoia.Cert.split_bytes(data)
    except Exception as e:  # pysequoia raises RuntimeError/ValueError with a Rust message
        if kind is None:
            raise TrustError("openpgp: invalid argument: no armored data found") from e
        raise TrustError(f"openpgp: invalid data: {_first_line(e)}") from e
    if not certs:
        raise TrustError("missing opengpg entity")  # sic, rkt's spelling
    return certs


def parse_public_key(data: bytes) -> pysequoia.Cert:
    """The first certificate of a key file: the one whose fingerprint names a stored key."""
    return parse_public_keys(data)[0]


def armored_key(data: bytes, cert: pysequoia.Cert) -> bytes:
    """What to store for a key file: armored public keys as given (rkt stores the bytes it
    read), anything else (binary, a secret key block) as the armored public ``cert``."""
    if armor_type(data) == b"PGP PUBLIC KEY BLOCK":
        return data
    return str(cert).encode()


def format_fingerprint(fingerprint: str) -> str:
    """``8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190``: 4-digit groups, two spaces mid."""
    fp = fingerprint.replace(" ", "").upper()
    groups = [fp[i:i + 4] for i in range(0, len(fp), 4)]
    half = len(groups) // 2
    return " ".join(groups[:half]) + "  " + " ".join(groups[half:])


def subkey_fingerprints(cert: pysequoia.Cert) -> list[str]:
    """Fingerprints (lowercase hex) of the certificate's subkeys, in file order."""
    subkey_tags = (packet.Tag.PublicSubkey, packet.Tag.SecretSubkey)
    return [p.fingerprint for p in packet.PacketPile.from_bytes(bytes(cert))
            if p.tag in subkey_tags and p.fingerprint]


def key_ids(cert: pysequoia.Cert) -> set[str]:
    """Fingerprints and 16-hex key ids of the primary key and all subkeys (lowercase)."""
    ids: set[str] = set()
    for fp in [cert.fingerprint, *subkey_fingerprints(cert)]:
        ids.add(fp)
        ids.add(fp[-16:] if len(fp) == 40 else fp[:16])  # v4 ids are the tail, v6 the head
    return ids


def identities(cert: pysequoia.Cert) -> list[str]:
    """The certificate's user IDs (``Name <email>``), as rkt prints them."""
    return [str(uid) for uid in cert.user_ids]


def fetch_key(location: str, *, allow_http: bool = False, skip_tls: bool = False) -> bytes:
    """The contents of the key at ``location``: a path, ``file://``, ``https://`` or ``http://``.

    Plain HTTP needs ``allow_http`` (``--insecure-allow-http``); ``skip_tls`` accepts any
    certificate (``--insecure-options=tls``).  Errors are TrustError with rkt's wording.
    """
    u = urlsplit(location)
    scheme = u.scheme.lower()
    if scheme == "":
        # rkt opens the URL's path: "key.asc?x" names key.asc, as with rkt.
        return read_key_file(unquote(u.path))
    if scheme == "file":
        return read_key_file(unquote(u.path))
    if scheme == "http" and not allow_http:
        raise TrustError("--insecure-allow-http required for http URLs")
    if scheme in ("http", "https"):
        return download_key(location, allow_http=allow_http, skip_tls=skip_tls)
    raise TrustError("only local files and http or https URLs supported")


def read_key_file(path: str) -> bytes:
    """Read a local key file (at most MAX_KEY_BYTES)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as e:
        raise TrustError(go_os_error("open" if not isinstance(e, IsADirectoryError) else "read",
                                     path, e)) from e
    if len(data) > MAX_KEY_BYTES:
        raise TrustError(f"{path}: too large to be a public key")
    return data


class _NoDowngradeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but not from https to plain http unless HTTP is allowed."""

    def __init__(self, allow_http: bool):
        self.allow_http = allow_http

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not self.allow_http and urlsplit(newurl).scheme.lower() != "https":
            raise TrustError(f"refusing redirect to {newurl}: "
                             "--insecure-allow-http required for http URLs")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download_key(url: str, *, allow_http: bool = False, skip_tls: bool = False) -> bytes:
    """GET a key over HTTP(S), honouring the proxy environment like Go's default client."""
    tls = ssl.create_default_context()
    if skip_tls:
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls),
                                         _NoDowngradeRedirects(allow_http))
    request = urllib.request.Request(url, headers={"User-Agent": "rkt"})
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT_SECONDS) as resp:
            if resp.status != 200:
                raise TrustError(f"bad HTTP status code: {resp.status}")
            data = resp.read(MAX_KEY_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise TrustError(f"bad HTTP status code: {e.code}") from e
    except urllib.error.URLError as e:
        reason = e.reason if isinstance(e.reason, BaseException) else TrustError(str(e.reason))
        raise TrustError("error getting key", cause=reason) from e
    except (OSError, ValueError) as e:  # timeouts, resets, malformed URLs
        raise TrustError("error getting key", cause=e) from e
    if len(data) > MAX_KEY_BYTES:
        raise TrustError(f"{url}: too large to be a public key")
    return data


def is_https(location: str) -> bool:
    """True for an ``https://`` key location (``--trust-keys-from-https`` applies)."""
    return urlsplit(location).scheme.lower() == "https"

