"""appc meta discovery (appc/spec 0.8.11 ``discovery``; SPEC §6 "Discovery").

For a name ``a/b/c`` the pages ``https://a/b/c?ac-discovery=1``, ``https://a/b?…`` and
``https://a?…`` are tried in that order (plain http only when allowed, after https failed)
until one carries a matching tag::

    <meta name="ac-discovery" content="PREFIX URL-TEMPLATE">
    <meta name="ac-discovery-pubkeys" content="PREFIX KEY-URL">

PREFIX must be a string prefix of the name. Templates get ``{name}``, ``{version}`` (default
``latest``), ``{os}``, ``{arch}`` and any other requested label, then ``{ext}`` = ``aci`` or
``aci.asc``; an endpoint whose template still holds a ``{…}`` is dropped. A page is read up
to PAGE_LIMIT bytes and at most MAX_META tags are considered, so a hostile page costs a
bounded amount of time and memory.
"""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from rktfast.errors import ImageError, RktError, TrustError
from rktfast.fetch.http import HTTPError, HTTPOptions, request

PAGE_LIMIT = 1 << 20
MAX_META = 1000
PAGE_DEADLINE = 60.0  # seconds for one discovery page, body included
DEFAULT_VERSION = "latest"

_TEMPLATE_VAR = re.compile(r"\{[^{}]*\}")
# uname -m -> appc arch label (appc types.ToAppcOSArch for the common Linux machines)
_APPC_ARCH = {"x86_64": "amd64", "aarch64": "aarch64", "arm64": "aarch64", "i386": "i386",
              "i686": "i386", "armv7l": "armv7l", "armv6l": "armv6l", "ppc64le": "ppc64le",
              "s390x": "s390x"}


@dataclass
class Endpoint:
    """Where an image and its signature are: ``aci`` and ``asc`` URLs."""

    aci: str
    asc: str


@dataclass
class Meta:
    name: str    # ac-discovery or ac-discovery-pubkeys
    prefix: str
    uri: str


@dataclass
class FailedAttempt:
    prefix: str
    error: RktError


def host_labels() -> dict[str, str]:
    """The ``os`` and ``arch`` labels of this machine, as discovery fills them in."""
    machine = platform.machine()
    return {"os": platform.system().lower(), "arch": _APPC_ARCH.get(machine, machine)}


def discovery_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels discovery and the manifest checks use: the requested ones, plus this
    machine's ``os`` and ``arch`` when they were not requested (rkt's newDiscoveryApp)."""
    out = dict(labels)
    for k, v in host_labels().items():
        out.setdefault(k, v)
    return out


class _MetaParser(HTMLParser):
    """Collects ac-discovery meta tags from the head of an HTML page (like Go's
    html.Tokenizer loop in appc: stops at ``<body>`` or ``</head>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.metas: list[Meta] = []
        self.seen = 0
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "body":
            self.done = True
            return
        if tag != "meta":
            return
        self.seen += 1
        if self.seen > MAX_META:
            self.done = True
            return
        a = {k: (v or "") for k, v in attrs}
        name = a.get("name", "")
        if name not in ("ac-discovery", "ac-discovery-pubkeys"):
            return
        fields = a.get("content", "").split()
        if len(fields) != 2:
            return
        self.metas.append(Meta(name, fields[0], fields[1]))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.done = True


def extract_meta(page: bytes) -> list[Meta]:
    """The discovery meta tags of an HTML page."""
    parser = _MetaParser()
    text = page.decode("utf-8", errors="replace")
    # feed in pieces so that a page that ends its head early is not parsed further
    for i in range(0, len(text), 1 << 14):
        parser.feed(text[i:i + (1 << 14)])
        if parser.done:
            break
    return parser.metas


def render_template(template: str, values: dict[str, str]) -> str | None:
    """Substitute ``{key}`` for each value; None if a ``{…}`` is left."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return None if _TEMPLATE_VAR.search(out) else out


def fetch_page(prefix: str, options: HTTPOptions) -> bytes:
    """GET ``https://<prefix>?ac-discovery=1`` (then http, if allowed); non-200 fails."""
    def get(scheme: str) -> bytes:
        url = f"{scheme}://{prefix}?ac-discovery=1"
        with request(url, options, deadline=time.monotonic() + PAGE_DEADLINE) as resp:
            if resp.status != 200:
                raise HTTPError(f"expected a 200 OK got {resp.status}", status=resp.status)
            return resp.read_all(PAGE_LIMIT)

    try:
        return get("https")
    except HTTPError:
        if not options.allow_http:
            raise
    return get("http")


def _walk(name: str, options: HTTPOptions, want: Callable[[list[Meta]], bool],
          tag: str, debug: Callable[[str], None] | None) -> None:
    """Try the discovery pages of ``name`` and its parents until ``want`` accepts the
    matching tags of one; ImageError ``discovery failed`` if none does. With ``debug``,
    the pages that did not help are reported (rkt prints them with --debug)."""
    parts = name.split("/")
    attempts: list[FailedAttempt] = []
    try:
        for end in range(len(parts), 0, -1):
            prefix = "/".join(parts[:end])
            try:
                page = fetch_page(prefix, options)
            except RktError as e:
                attempts.append(FailedAttempt(prefix, e))
                continue
            metas = [m for m in extract_meta(page) if name.startswith(m.prefix)]
            if want(metas):
                return
            attempts.append(FailedAttempt(prefix, ImageError("no matching meta tags")))
        raise ImageError("discovery failed")
    finally:
        if debug is not None:
            for a in attempts:
                debug(f"meta tag '{tag}' not found on {a.prefix}: {a.error.chain()[-1]}")


def endpoints_from(metas: list[Meta], name: str, labels: dict[str, str]) -> list[Endpoint]:
    """The image endpoints the ``ac-discovery`` tags give for ``name`` and ``labels``."""
    values = {"name": name, **labels}
    values.setdefault("version", DEFAULT_VERSION)
    out = []
    for m in metas:
        if m.name != "ac-discovery":
            continue
        aci = render_template(m.uri.replace("{ext}", "aci"), values)
        asc = render_template(m.uri.replace("{ext}", "aci.asc"), values)
        if aci is not None and asc is not None:
            out.append(Endpoint(aci, asc))
    return out


def discover_endpoints(name: str, labels: dict[str, str], options: HTTPOptions, *,
                       debug: Callable[[str], None] | None = None) -> list[Endpoint]:
    """The ACI endpoints of ``name`` (first one first). ``labels`` should already include
    os/arch (see ``discovery_labels``). Raises ImageError ``discovery failed``."""
    found: list[Endpoint] = []

    def want(metas: list[Meta]) -> bool:
        found[:] = endpoints_from(metas, name, labels)
        return bool(found)

    _walk(name, options, want, "ac-discovery", debug)
    return found


def discover_pubkeys(prefix: str, *, allow_http: bool = False, skip_tls: bool = False,
                     auth: dict | None = None,
                     debug: Callable[[str], None] | None = None) -> list[str]:
    """Key URLs announced by ``ac-discovery-pubkeys`` for ``prefix`` (``rkt trust --prefix P``
    without a key, and fetch when no key is trusted for the name).

    Errors are TrustErrors shaped like rkt's ``GetPubKeyLocations``:
    ``prefix meta discovery error: discovery failed`` and
    ``meta discovery on P resulted in no keys``."""
    if prefix == "":
        raise TrustError("empty prefix")
    options = HTTPOptions(insecure_tls=skip_tls, allow_http=allow_http, auth=auth or {})
    name = prefix.split(",", 1)[0].split(":", 1)[0]  # labels play no part in key discovery
    keys: list[str] = []

    def want(metas: list[Meta]) -> bool:
        keys[:] = [m.uri for m in metas if m.name == "ac-discovery-pubkeys"]
        return bool(keys)

    try:
        _walk(name, options, want, "ac-discovery-pubkeys", debug)
    except RktError as e:
        # one message: the CLI prints only the outermost and innermost of a chain
        raise TrustError(f"prefix meta discovery error: {e.chain()[-1]}") from e
    if not keys:
        raise TrustError(f"meta discovery on {prefix} resulted in no keys")
    return keys
