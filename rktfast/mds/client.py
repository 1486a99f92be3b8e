"""Stage0's side of the metadata service: register and unregister pods over its unix socket."""

from __future__ import annotations

import http.client
import os
import socket

DEFAULT_SOCKET = "/run/rkt/metadata-svc.sock"


def socket_path() -> str:
    """The registration socket; RKTFAST_MDS_SOCKET moves it (tests run private services)."""
    return os.environ.get("RKTFAST_MDS_SOCKET", DEFAULT_SOCKET)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def _request(method: str, path: str, body: bytes | None = None) -> int:
    conn = _UnixConnection(socket_path())
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def register_pod(uuid: str, token: str, pod_manifest: bytes,
                 apps: dict[str, bytes]) -> None:
    """Register a pod and its apps' image manifests; raises OSError/RuntimeError on failure."""
    status = _request("PUT", f"/pods/{uuid}?token={token}", pod_manifest)
    if status != 200:
        raise RuntimeError(f"metadata service refused the pod registration ({status})")
    for app, manifest in apps.items():
        status = _request("PUT", f"/pods/{uuid}/{app}", manifest)
        if status != 200:
            raise RuntimeError(f"metadata service refused app {app} ({status})")


def unregister_pod(uuid: str) -> None:
    try:
        _request("DELETE", f"/pods/{uuid}")
    except OSError:
        pass  # no service running: nothing to unregister
