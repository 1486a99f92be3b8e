"""The HTTP(S) client of image fetching: discovery pages, signatures, images (SPEC §6, §8).

Built on ``http.client`` so that the body can be streamed chunk by chunk into the ingest
engine while it arrives. What it guarantees, whatever the server does:

- TLS is verified (system CAs, or ``SSL_CERT_FILE``) unless ``insecure_tls``
  (``--insecure-options=tls``); plain ``http://`` is refused unless ``allow_http``
  (``--insecure-options=http``), also as a redirect target;
- at most ``MAX_REDIRECTS`` redirects (Go's limit), so a redirect loop ends with an error;
- a connection that stays silent for ``timeout`` seconds fails, and the status line and
  headers must arrive within ``HEADER_DEADLINE`` seconds (a server cannot trickle headers
  forever); http.client caps a header line at 64 KiB and the number of headers at 100;
- a body is read up to its ``Content-Length``, a short body is an error
  (``DownloadInterrupted``, which a resumable download continues later) and callers cap
  bodies of unknown length;
- ``auth.d`` credentials (``basic``, ``oauth``) go only to the exact host they are configured
  for, only over https, and are recomputed for every redirect target.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from rktfast.errors import ImageError

MAX_REDIRECTS = 10
HEADER_DEADLINE = 120.0
USER_AGENT = "rkt/1.30.0 (rktfast)"
_REDIRECTS = (301, 302, 303, 307, 308)
_FILL = 1 << 16  # bytes a body read tries to return at least


def default_timeout() -> float:
    """Seconds of silence after which a connection fails (``RKTFAST_HTTP_TIMEOUT``, 60)."""
    try:
        return max(float(os.environ.get("RKTFAST_HTTP_TIMEOUT", "60")), 0.1)
    except ValueError:
        return 60.0


class HTTPError(ImageError):
    """A request failed: no connection, a TLS failure, a refused scheme, a bad status."""

    def __init__(self, message: str, cause: BaseException | None = None,
                 status: int | None = None):
        super().__init__(message, cause)
        self.status = status


class DownloadInterrupted(HTTPError):
    """The body stopped before its end (connection cut, silence): the download may resume."""


@dataclass
class HTTPOptions:
    """How requests may be made; built from the global flags and ``auth.d``."""

    insecure_tls: bool = False
    allow_http: bool = False
    # host ("example.com", "example.com:8443") -> (type, credentials) from auth.d
    auth: Mapping[str, tuple[str, dict]] = field(default_factory=dict)
    timeout: float = field(default_factory=default_timeout)


def auth_header(host: str, options: HTTPOptions) -> str | None:
    """The ``Authorization`` value ``auth.d`` configures for ``host``, if any."""
    entry = options.auth.get(host)
    if entry is None:
        return None
    kind, creds = entry
    kind = (kind or "").lower()
    if kind == "basic":
        raw = f"{creds.get('user', '')}:{creds.get('password', '')}".encode()
        return "Basic " + base64.b64encode(raw).decode()
    if kind == "oauth":
        return f"Bearer {creds.get('token', '')}"
    raise HTTPError(f"auth.d: authentication type {kind!r} configured for {host!r} "
                    "is not supported by this build")


_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def tls_context(insecure: bool) -> ssl.SSLContext:
    """The TLS settings: verified against the system CAs (or ``SSL_CERT_FILE``), or none."""
    ctx = _CONTEXTS.get(insecure)
    if ctx is None:
        cafile = os.environ.get("SSL_CERT_FILE") or None
        ctx = ssl.create_default_context(cafile=cafile)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _CONTEXTS[insecure] = ctx
    return ctx


class _Watchdog:
    """Shuts a connection's socket down when a deadline passes, which makes any blocked read
    fail at once. Used for the header phase and for callers' overall deadlines."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float):
        self.fired = False
        self._conn = conn
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


def _reason(e: BaseException) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {e.verify_message}"
    if isinstance(e, TimeoutError | socket.timeout):
        return "i/o timeout"
    if isinstance(e, http.client.IncompleteRead):
        return "unexpected EOF"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror[0].lower() + e.strerror[1:]
    return str(e) or type(e).__name__


class Response:
    """A response whose body has not been read yet. ``read(n)`` returns up to ``n`` bytes
    (b"" at the end); network failures raise DownloadInterrupted."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 url: str, deadline: float | None):
        self._conn = conn
        self._resp = resp
        self.url = url
        self.status = resp.status
        self.reason = resp.reason
        self.headers = resp.msg
        self.received = 0
        self._expected = self.content_length
        self._watchdog = _Watchdog(conn, deadline - time.monotonic()) \
            if deadline is not None else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def content_length(self) -> int | None:
        """The body size the server announced, or None (chunked, close-delimited, HEAD)."""
        if self._resp.chunked:
            return None
        value = self.headers.get("Content-Length")
        try:
            n = int(value) if value is not None else -1
        except ValueError:
            return None
        return n if n >= 0 else None

    def read(self, n: int = 1 << 18) -> bytes:
        try:
            data = self._resp.read1(n)
            if data and len(data) < min(n, _FILL):
                # TLS hands out 16 KiB records: gather a few so that the consumer (the
                # ingest pipeline) handles fewer, larger chunks
                parts = [data]
                got = len(data)
                while got < min(n, _FILL) and (more := self._resp.read1(n - got)):
                    parts.append(more)
                    got += len(more)
                data = b"".join(parts)
        except (OSError, ValueError, http.client.HTTPException) as e:
            why = "deadline exceeded" if self._watchdog and self._watchdog.fired else _reason(e)
            raise DownloadInterrupted(f"error reading {self.url}: {why}") from e
        if not data and self._expected is not None and self.received < self._expected:
            # http.client's read1 reports a connection closed early as a plain end
            why = "deadline exceeded" if self._watchdog and self._watchdog.fired else \
                f"unexpected EOF after {self.received} of {self._expected} bytes"
            raise DownloadInterrupted(f"error reading {self.url}: {why}")
        self.received += len(data)
        return data

    def read_all(self, limit: int) -> bytes:
        """The whole body, which must not exceed ``limit`` bytes."""
        parts: list[bytes] = []
        total = 0
        while chunk := self.read(min(1 << 16, limit + 1 - total)):
            total += len(chunk)
            if total > limit:
                raise HTTPError(f"response from {self.url} is larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        try:
            self._conn.close()
        except OSError:
            pass

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """The proxy from ``<scheme>_proxy``/``no_proxy`` as Go's ProxyFromEnvironment reads them."""
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None
    import urllib.request

    if urllib.request.proxy_bypass_environment(host):
        return None
    proxy = urllib.request.getproxies_environment().get(scheme)
    if not proxy:
        return None
    u = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    if not u.hostname:
        return None
    return u.hostname, u.port or 80


def _connect(u, options: HTTPOptions) -> tuple[http.client.HTTPConnection, str]:
    """A connection for URL parts ``u`` and the request target to send on it."""
    host = u.hostname or ""
    port = u.port or (443 if u.scheme == "https" else 80)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    proxy = _proxy_for(u.scheme, host)
    if u.scheme == "https":
        if proxy:
            conn = http.client.HTTPSConnection(proxy[0], proxy[1], timeout=options.timeout,
                                               context=tls_context(options.insecure_tls))
            conn.set_tunnel(host, port)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=options.timeout,
                                               context=tls_context(options.insecure_tls))
        return conn, path
    if proxy:
        return http.client.HTTPConnection(proxy[0], proxy[1], timeout=options.timeout), \
            f"http://{u.netloc}{path}"
    return http.client.HTTPConnection(host, port, timeout=options.timeout), path


def _check_scheme(url: str, options: HTTPOptions):
    u = urlsplit(url)
    scheme = u.scheme.lower()
    if scheme == "http" and not options.allow_http:
        raise HTTPError(f"refusing plain http for {url} (use --insecure-options=http to "
                        "allow it)")
    if scheme not in ("http", "https") or not u.hostname:
        raise HTTPError(f"unsupported URL {url!r}")
    return u._replace(scheme=scheme)


def request(url: str, options: HTTPOptions, *, method: str = "GET",
            headers: Mapping[str, str] | None = None,
            deadline: float | None = None) -> Response:
    """Send ``method url`` and return the response once its headers are in, following
    redirects. ``deadline`` (a ``time.monotonic()`` value) bounds the whole exchange,
    body included; without it only the header phase is bounded and the body's reads are
    bounded by ``options.timeout`` each. Non-2xx statuses are returned, not raised."""
    for _ in range(MAX_REDIRECTS + 1):
        u = _check_scheme(url, options)
        conn, target = _connect(u, options)
        send = {"User-Agent": USER_AGENT, **(headers or {})}
        if u.scheme == "https":
            auth = auth_header(u.netloc.lower(), options)
            if auth is not None:
                send["Authorization"] = auth
        header_limit = HEADER_DEADLINE if deadline is None else \
            min(HEADER_DEADLINE, deadline - time.monotonic())
        watchdog = _Watchdog(conn, header_limit)
        try:
            conn.request(method, target, headers=send)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            watchdog.cancel()
            conn.close()
            why = "deadline exceeded" if watchdog.fired else _reason(e)
            if isinstance(e, http.client.LineTooLong):
                why = "response header too long"
            elif isinstance(e, http.client.HTTPException) and "headers" in str(e):
                why = "too many response headers"
            raise HTTPError(f"{method} {url}: {why}") from e
        watchdog.cancel()
        location = resp.getheader("Location")
        if resp.status in _REDIRECTS and location:
            conn.close()
            url = urljoin(url, location.strip())
            if method not in ("GET", "HEAD"):
                method = "GET"
            continue
        return Response(conn, resp, url, deadline)
    raise HTTPError(f"{method} {url}: stopped after {MAX_REDIRECTS} redirects")


def max_age(cache_control: str | None) -> int:
    """Seconds a response may be reused from ``Cache-Control`` (0: revalidate every time)."""
    if not cache_control:
        return 0
    age = 0
    for part in cache_control.replace(",", " ").split():
        attr, _, value = part.partition("=")
        attr = attr.strip().lower()
        if attr in ("no-store", "no-cache"):
            return 0
        if attr == "max-age":
            value = value.strip().strip('"')
            if value.isdigit():
                age = min(int(value), 1 << 31)
    return age
