"""The appc metadata service (SPEC §6): registration on a unix socket, queries over HTTP.

Registration (root only, unix socket ``/run/rkt/metadata-svc.sock``):
    PUT /pods/<uuid>?token=<hex>   body: pod manifest
    PUT /pods/<uuid>/<app>         body: image manifest
    DELETE /pods/<uuid>
Queries (TCP, default port 18112), all under ``/<token>/acMetadata/v1``:
    GET pod/manifest, pod/uuid, pod/annotations[/<name>],
        apps/<app>/image/manifest, apps/<app>/image/id, apps/<app>/annotations[/<name>]
    POST pod/hmac/sign (content), pod/hmac/verify (content, uuid, signature)
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from rktfast.mds.registry import Registry

MAX_BODY = 1 << 20  # manifests and form posts are small; refuse anything bigger
JSON = "application/json"
TEXT = "text/plain; charset=us-ascii"


class _Handler(BaseHTTPRequestHandler):
    registry: Registry
    server_version = "rkt-metadata"
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args) -> None:  # rkt logs "METHOD URI - status"
        pass

    def parse_request(self) -> bool:
        self._body_read = False
        return super().parse_request()

    def _unread_body(self) -> bool:
        """Whether the request announced a body that was not read (refused early)."""
        if getattr(self, "_body_read", True) or self.headers is None:
            return False
        length = (self.headers.get("Content-Length") or "0").strip()
        return bool(self.headers.get("Transfer-Encoding")) or length != "0"

    def _reply(self, status: int, body: bytes = b"", ctype: str = TEXT) -> None:
        self.send_response_only(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self._unread_body():
            # What is left of the refused body must never be read as the next request.
            self.close_connection = True
            self.send_header("Connection", "close")
        # Headers and body leave in one write: apps give the service little time (the ACE
        # validator waits 100 ms per request).
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()
        sys.stderr.write(f"{self.command} {self.path} - {status}\n")
        sys.stderr.flush()

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self._reply(411, b"a Content-Length is required\n")
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._reply(413 if length > MAX_BODY else 400, b"bad request body\n")
            return None
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return None
        self._body_read = True
        return body


class RegistrationHandler(_Handler):
    def address_string(self) -> str:  # unix sockets have no host/port
        return "unix"

    def do_PUT(self) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        body = self._body()
        if body is None:
            return
        try:
            if len(parts) == 2 and parts[0] == "pods":
                token = (parse_qs(url.query).get("token") or [""])[0]
                if not token:
                    return self._reply(400, b"token missing\n")
                self.registry.register_pod(parts[1], token, body)
                return self._reply(200)
            if len(parts) == 3 and parts[0] == "pods":
                if self.registry.register_app(parts[1], parts[2], body):
                    return self._reply(200)
                return self._reply(404, b"pod not registered\n")
        except ValueError as e:
            return self._reply(400, f"{e}\n".encode())
        self._reply(404)

    def do_DELETE(self) -> None:
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if len(parts) == 2 and parts[0] == "pods":
            return self._reply(200 if self.registry.unregister_pod(parts[1]) else 404)
        self._reply(404)


class QueryHandler(_Handler):
    disable_nagle_algorithm = True  # TCP only; see _reply
    def _route(self):
        """(pod, rest-of-path parts) or None after replying with an error."""
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if len(parts) < 3 or parts[1:3] != ["acMetadata", "v1"]:
            self._reply(404)
            return None
        if self.headers.get("Metadata-Flavor") != "AppContainer":
            self._reply(400, b"Metadata-Flavor header missing or invalid\n")
            return None
        pod = self.registry.by_token(parts[0])
        if pod is None:
            self._reply(401, b"invalid token\n")
            return None
        return pod, parts[3:]

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        pod, p = routed
        if p == ["pod", "manifest"]:
            return self._reply(200, pod.manifest, JSON)
        if p == ["pod", "uuid"]:
            return self._reply(200, pod.uuid.encode())
        if p[:2] == ["pod", "annotations"]:
            return self._annotations(pod.pod_manifest().get("annotations") or [], p[2:])
        if len(p) >= 3 and p[0] == "apps":
            app, rest = p[1], p[2:]
            pod_app = pod.pod_app(app)
            image = pod.apps.get(app)
            if pod_app is None or image is None:
                return self._reply(404, b"app not found\n")
            if rest == ["image", "manifest"]:
                return self._reply(200, image, JSON)
            if rest == ["image", "id"]:
                return self._reply(200, ((pod_app.get("image") or {}).get("id") or "").encode())
            if rest[:1] == ["annotations"]:
                merged = {a["name"]: a["value"]
                          for a in (json.loads(image).get("annotations") or [])}
                merged.update({a["name"]: a["value"] for a in pod_app.get("annotations") or []})
                return self._annotations([{"name": k, "value": v} for k, v in merged.items()],
                                         rest[1:])
        self._reply(404)

    def _annotations(self, annotations: list, rest: list) -> None:
        if not rest:
            return self._reply(200, json.dumps(annotations).encode(), JSON)
        for a in annotations:
            if a.get("name") == "/".join(rest):
                return self._reply(200, str(a.get("value", "")).encode())
        self._reply(404, b"annotation not found\n")

    def do_POST(self) -> None:
        routed = self._route()
        if routed is None:
            return
        pod, p = routed
        body = self._body()
        if body is None:
            return
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if p == ["pod", "hmac", "sign"]:
            if "content" not in form:
                return self._reply(400, b"content field missing\n")
            return self._reply(200, self.registry.sign(pod, form["content"][0].encode()).encode())
        if p == ["pod", "hmac", "verify"]:
            missing = [k for k in ("content", "uuid", "signature") if k not in form]
            if missing:
                return self._reply(400, f"{missing[0]} field missing\n".encode())
            ok = self.registry.verify(form["uuid"][0], form["content"][0].encode(),
                                      form["signature"][0])
            return self._reply(200 if ok else 403)
        self._reply(404)


def _log_error(request, client_address) -> None:
    """One line per failed connection instead of socketserver's traceback."""
    e = sys.exc_info()[1]
    sys.stderr.write(f"metadata-service: connection error: {type(e).__name__}: {e}\n")


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        _log_error(request, client_address)


class TCPHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        _log_error(request, client_address)


def serve(registry: Registry, socket_path: str, port: int,
          listen_fds: list[int] | None = None) -> None:
    """Serve registration on ``socket_path`` (or inherited fds) and queries on ``port``."""
    reg_handler = type("Reg", (RegistrationHandler,), {"registry": registry})
    query_handler = type("Query", (QueryHandler,), {"registry": registry})
    if listen_fds:
        reg = UnixHTTPServer(socket_path, reg_handler, bind_and_activate=False)
        reg.socket = socket.socket(fileno=listen_fds[0])
    else:
        os.makedirs(os.path.dirname(socket_path), mode=0o755, exist_ok=True)
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        reg = UnixHTTPServer(socket_path, reg_handler)
        os.chmod(socket_path, 0o600)  # registration is for root only
    http = TCPHTTPServer(("0.0.0.0", port), query_handler)
    import threading
    threading.Thread(target=reg.serve_forever, daemon=True).start()
    try:
        http.serve_forever()
    finally:
        reg.server_close()
        http.server_close()
