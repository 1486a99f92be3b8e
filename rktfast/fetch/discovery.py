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

import html
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

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


_RAW_TEXT = ("script", "style", "title", "textarea")
_SPACE = " \t\n\r\f"


def _name_end(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] not in _SPACE and text[i] not in "/>=":
        i += 1
    return i


def _tag_attrs(text: str, i: int) -> tuple[dict[str, str], int]:
    """Attributes of the tag whose name ends at ``i``; returns them and the index after
    the tag's ``>`` (-1 when the page ends inside the tag)."""
    n = len(text)
    attrs: dict[str, str] = {}
    while True:
        while i < n and (text[i] in _SPACE or text[i] == "/"):
            i += 1
        if i >= n:
            return attrs, -1
        if text[i] == ">":
            return attrs, i + 1
        end = _name_end(text, i + 1)
        name = text[i:end].lower()
        i = end
        while i < n and text[i] in _SPACE:
            i += 1
        value = ""
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i] in _SPACE:
                i += 1
            if i < n and text[i] in "\"'":
                close = text.find(text[i], i + 1)
                if close < 0:
                    return attrs, -1
                value = text[i + 1:close]
                i = close + 1
            else:
                start = i
                while i < n and text[i] not in _SPACE and text[i] != ">":
                    i += 1
                value = text[start:i]
        attrs.setdefault(name, html.unescape(value))


def extract_meta(page: bytes) -> list[Meta]:
    """The discovery meta tags in the head of an HTML page, like appc's loop over Go's
    html.Tokenizer: comments and raw-text elements are skipped, ``<body>`` or ``</head>``
    ends the search. One linear pass, whatever the page holds."""
    text = page.decode("utf-8", errors="replace")
    lower = text.lower()
    metas: list[Meta] = []
    seen = 0
    i = 0
    n = len(text)
    while (i := text.find("<", i)) >= 0:
        if text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                break
            i = end + 3
            continue
        closing = text.startswith("</", i)
        start = i + (2 if closing else 1)
        if start >= n or not text[start].isalpha():
            end = text.find(">", i + 1)  # <!DOCTYPE …>, <?…>, a stray "<"
            if end < 0:
                break
            i = end + 1
            continue
        name_end = _name_end(text, start)
        tag = lower[start:name_end]
        if closing:
            if tag == "head":
                break
            end = text.find(">", name_end)
            if end < 0:
                break
            i = end + 1
            continue
        if tag == "body":
            break
        attrs, i = _tag_attrs(text, name_end)
        if i < 0:
            break
        if tag in _RAW_TEXT:
            end = lower.find("</" + tag, i)
            if end < 0:
                break
            i = end
            continue
        if tag != "meta":
            continue
        seen += 1
        if seen > MAX_META:
            break
        if attrs.get("name") not in ("ac-discovery", "ac-discovery-pubkeys"):
            continue
        fields = attrs.get("content", "").split()
        if len(fields) == 2:
            metas.append(Meta(attrs["name"], fields[0], fields[1]))
    return metas


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
