"""A Docker Registry v2 client: probe, authentication, manifests and blobs (SPEC §8).

One ``RegistryClient`` talks to one repository of one registry:

- ``GET /v2/`` first, over https; plain http only when ``--insecure-options=http`` allows it
  (then https is still tried first and http used when the https connection fails);
- a ``401`` with ``WWW-Authenticate: Bearer realm=…,service=…[,scope=…]`` is answered by
  asking the realm for a token (with the ``dockerAuth`` basic credentials of this registry,
  if any) and retrying with ``Authorization: Bearer``; a ``Basic`` challenge is answered with
  the credentials directly. Credentials go only to the registry they are configured for and
  to the token realm it names; redirects to another host (blob storage) carry none;
- every response body is bounded: manifests and configs by size, token answers too, blobs by
  their descriptor's size, and a silent connection fails after the HTTP timeout.

Redirects are followed here rather than in ``fetch.http.request`` so that the
``Authorization`` header can be dropped when a redirect leaves the registry's host.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

from rktfast.errors import ImageError
from rktfast.fetch.http import (
    HEADER_DEADLINE,
    USER_AGENT,
    HTTPError,
    HTTPOptions,
    Response,
    _check_scheme,
    _connect,
    _reason,
    _Watchdog,
)

MAX_REDIRECTS = 10
MANIFEST_LIMIT = 4 << 20
CONFIG_LIMIT = 16 << 20
TOKEN_LIMIT = 1 << 20
SMALL_DEADLINE = 120.0  # seconds for a probe, token, manifest or config exchange

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_ACCEPT = ", ".join((MT_DOCKER_MANIFEST, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_OCI_INDEX))

DOCKER_HUB_ALIASES = ("registry-1.docker.io", "index.docker.io", "docker.io",
                      "https://index.docker.io/v1/")


@dataclass
class RegistrySettings:
    """Network options (from the global flags) and the ``dockerAuth`` credentials."""

    http: HTTPOptions = field(default_factory=HTTPOptions)
    credentials: Mapping[str, dict] = field(default_factory=dict)  # registry -> {user,password}

    @classmethod
    def from_globals(cls, g) -> RegistrySettings:
        if g is None:
            return cls()
        from rktfast.config import load

        return cls(http=HTTPOptions(insecure_tls=g.insecure("tls"),
                                    allow_http=g.insecure("http")),
                   credentials=load(g, ("auth",)).docker_auth)

    def credentials_for(self, registry: str) -> dict | None:
        creds = self.credentials.get(registry)
        if creds is None and registry in DOCKER_HUB_ALIASES:
            for alias in DOCKER_HUB_ALIASES:
                creds = creds or self.credentials.get(alias)
        return creds


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` -> ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = value.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


class RegistryClient:
    """Requests to ``registry`` for ``repository``; see the module doc."""

    def __init__(self, registry: str, repository: str, settings: RegistrySettings,
                 debug=lambda line: None):
        self.registry = registry
        self.repository = repository
        self.settings = settings
        self.debug = debug
        self.base: str | None = None  # "https://host" once probed
        self._auth: str | None = None  # the Authorization value in use
        self._challenge: tuple[str, dict[str, str]] | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, url: str, headers: dict[str, str], deadline: float | None,
              method: str = "GET") -> Response:
        """One request, redirects followed; Authorization only to the registry's host."""
        origin = urlsplit(url).netloc.lower()
        opts = self.settings.http
        for _ in range(MAX_REDIRECTS + 1):
            u = _check_scheme(url, opts)
            conn, target = _connect(u, opts)
            send = {"User-Agent": USER_AGENT, **headers}
            if u.netloc.lower() != origin:
                send.pop("Authorization", None)
            limit = HEADER_DEADLINE if deadline is None else \
                min(HEADER_DEADLINE, deadline - time.monotonic())
            watchdog = _Watchdog(conn, limit)
            try:
                conn.request(method, target, headers=send)
                resp = conn.getresponse()
            except Exception as e:  # OSError, ssl errors, http.client errors
                watchdog.cancel()
                conn.close()
                why = "deadline exceeded" if watchdog.fired else _reason(e)
                raise HTTPError(f"{method} {url}: {why}") from e
            watchdog.cancel()
            location = resp.getheader("Location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                conn.close()
                url = urljoin(url, location.strip())
                continue
            return Response(conn, resp, url, deadline)
        raise HTTPError(f"{method} {url}: stopped after {MAX_REDIRECTS} redirects")

    def _basic(self) -> str | None:
        creds = self.settings.credentials_for(self.registry)
        if not creds:
            return None
        raw = f"{creds.get('user', '')}:{creds.get('password', '')}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def probe(self) -> None:
        """``GET /v2/``: choose the scheme and learn the authentication challenge."""
        if self.base is not None:
            return
        schemes = ["https"] + (["http"] if self.settings.http.allow_http else [])
        last: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.registry}/v2/"
            try:
                resp = self._send(url, {}, time.monotonic() + SMALL_DEADLINE)
            except HTTPError as e:
                last = e
                self.debug(f"registry probe {url} failed: {e.chain()[-1]}")
                continue
            with resp:
                if resp.status == 401:
                    self._challenge = parse_challenge(resp.header("WWW-Authenticate") or "")
                elif resp.status != 200:
                    raise HTTPError(f"GET {url}: bad HTTP status code: {resp.status} (not a "
                                    "Docker Registry v2)", status=resp.status)
            self.base = f"{scheme}://{self.registry}"
            return
        assert last is not None
        if not self.settings.http.allow_http:
            raise HTTPError(f"{last.message} (a plain http registry needs "
                            "--insecure-options=http)") from last
        raise last

    def _authorize(self, challenge: tuple[str, dict[str, str]] | None) -> None:
        """Set ``self._auth`` for a challenge (from the probe or a 401)."""
        if challenge is None:
            return
        scheme, params = challenge
        if scheme == "basic":
            self._auth = self._basic()
            if self._auth is None:
                raise ImageError(f"registry {self.registry} requires authentication and no "
                                 "dockerAuth credentials are configured for it")
            return
        if scheme != "bearer" or not params.get("realm"):
            raise ImageError(f"registry {self.registry}: unsupported authentication "
                             f"challenge {scheme!r}")
        query = {}
        if params.get("service"):
            query["service"] = params["service"]
        query["scope"] = params.get("scope") or f"repository:{self.repository}:pull"
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers = {}
        basic = self._basic()
        if basic is not None:
            headers["Authorization"] = basic
        with self._send(url, headers, time.monotonic() + SMALL_DEADLINE) as resp:
            if resp.status != 200:
                what = "credentials were refused" if resp.status in (401, 403) else \
                    f"bad HTTP status code: {resp.status}"
                raise HTTPError(f"getting a token from {realm}: {what}", status=resp.status)
            body = resp.read_all(TOKEN_LIMIT)
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ImageError(f"getting a token from {realm}: no token in the answer")
        self._auth = "Bearer " + token

    def get(self, path: str, *, accept: str | None = None,
            deadline: float | None = None) -> Response:
        """``GET <base>/v2/<path>`` with authentication; a 401 is answered once. Non-2xx
        statuses are returned."""
        self.probe()
        if self._auth is None and self._challenge is not None:
            self._authorize(self._challenge)
        url = f"{self.base}/v2/{path}"
        headers = {"Accept": accept} if accept else {}
        for attempt in range(2):
            if self._auth:
                headers["Authorization"] = self._auth
            resp = self._send(url, headers, deadline)
            if resp.status != 401 or attempt:
                return resp
            value = resp.header("WWW-Authenticate") or ""
            resp.close()
            if not value:
                return self._send(url, headers, deadline)
            self._authorize(parse_challenge(value))
        raise AssertionError("unreachable")

    # -- the API ----------------------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[bytes, str, str | None]:
        """(raw bytes, media type, Docker-Content-Digest) of a manifest or index."""
        path = f"{self.repository}/manifests/{reference}"
        with self.get(path, accept=MANIFEST_ACCEPT,
                      deadline=time.monotonic() + SMALL_DEADLINE) as resp:
            if resp.status == 404:
                raise ImageError(f"manifest {reference!r} of {self.registry}/{self.repository} "
                                 "not found in the registry")
            self._check(resp)
            raw = resp.read_all(MANIFEST_LIMIT)
            media = (resp.header("Content-Type") or "").split(";", 1)[0].strip()
            return raw, media, resp.header("Docker-Content-Digest")

    def small_blob(self, digest: str, limit: int = CONFIG_LIMIT) -> bytes:
        """A small blob (an image config) read whole."""
        with self.blob(digest, deadline=time.monotonic() + SMALL_DEADLINE) as resp:
            return resp.read_all(limit)

    def blob(self, digest: str, *, deadline: float | None = None) -> Response:
        """An open 200 response for a blob; the caller reads and closes it."""
        resp = self.get(f"{self.repository}/blobs/{digest}", deadline=deadline)
        if resp.status == 404:
            resp.close()
            raise ImageError(f"blob {digest} not found in {self.registry}/{self.repository}")
        try:
            self._check(resp)
        except BaseException:
            resp.close()
            raise
        return resp

    @staticmethod
    def _check(resp: Response) -> None:
        if resp.status == 200:
            return
        if resp.status in (401, 403):
            raise HTTPError(f"GET {resp.url}: access denied (HTTP {resp.status}); check the "
                            "dockerAuth credentials", status=resp.status)
        raise HTTPError(f"GET {resp.url}: bad HTTP status code: {resp.status}",
                        status=resp.status)
