"""The metadata service for real: a running `rkt metadata-service`, registration over its unix
socket, and the queries, signatures and refusals an app sees over HTTP."""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid as uuidlib

import pytest
from conftest import rkt_command

POD_UUID = str(uuidlib.uuid4())
TOKEN = os.urandom(16).hex()
POD_MANIFEST = {"acVersion": "1.30.0", "acKind": "PodManifest",
                "apps": [{"name": "web", "image": {"name": "example.com/web",
                                                    "id": "sha512-" + "a" * 64},
                          "annotations": [{"name": "who", "value": "pod"}]}],
                "volumes": None, "isolators": None,
                "annotations": [{"name": "coreos.com/rkt/stage1/mutable", "value": "false"}],
                "ports": None}
IMAGE_MANIFEST = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/web",
                  "annotations": [{"name": "who", "value": "image"},
                                  {"name": "only-image", "value": "x"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mds(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the metadata service needs root (CI runs as root)")
    sock = str(tmp_path_factory.mktemp("mds") / "mds.sock")
    port = free_port()
    env = dict(os.environ, RKTFAST_MDS_SOCKET=sock)
    proc = subprocess.Popen(rkt_command() + ["metadata-service", f"--listen-port={port}"],
                            env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    os.environ["RKTFAST_MDS_SOCKET"] = sock
    from rktfast.mds.client import register_pod
    register_pod(POD_UUID, TOKEN, json.dumps(POD_MANIFEST).encode(),
                 {"web": json.dumps(IMAGE_MANIFEST).encode()})
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    del os.environ["RKTFAST_MDS_SOCKET"]


def get(base, path, token=TOKEN, data=None, flavor=True):
    req = urllib.request.Request(f"{base}/{token}/acMetadata/v1{path}",
                                 data=urllib.parse.urlencode(data).encode() if data else None)
    if flavor:
        req.add_header("Metadata-Flavor", "AppContainer")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def test_pod_uuid_and_manifest(mds):
    assert get(mds, "/pod/uuid") == (200, "text/plain; charset=us-ascii", POD_UUID)
    status, ctype, body = get(mds, "/pod/manifest")
    assert status == 200 and ctype == "application/json"
    assert json.loads(body)["apps"][0]["name"] == "web"


def test_pod_annotations_list_and_single(mds):
    status, ctype, body = get(mds, "/pod/annotations")
    assert ctype == "application/json" and json.loads(body) == POD_MANIFEST["annotations"]
    assert get(mds, "/pod/annotations/coreos.com/rkt/stage1/mutable")[2] == "false"


def test_app_annotations_merge_image_and_pod_with_pod_winning(mds):
    body = json.loads(get(mds, "/apps/web/annotations")[2])
    assert {a["name"]: a["value"] for a in body} == {"who": "pod", "only-image": "x"}
    assert get(mds, "/apps/web/annotations/who")[2] == "pod"


def test_app_image_id_and_manifest(mds):
    assert get(mds, "/apps/web/image/id")[2] == "sha512-" + "a" * 64
    assert json.loads(get(mds, "/apps/web/image/manifest")[2])["name"] == "example.com/web"
    assert get(mds, "/apps/nope/image/id")[0] == 404


def test_hmac_sign_then_verify(mds):
    status, ctype, sig = get(mds, "/pod/hmac/sign", data={"content": "Old MacDonald"})
    assert status == 200 and ctype == "text/plain; charset=us-ascii"
    ok = get(mds, "/pod/hmac/verify",
             data={"content": "Old MacDonald", "uuid": POD_UUID, "signature": sig})
    assert ok[0] == 200
    bad = get(mds, "/pod/hmac/verify",
              data={"content": "Old MacDonalds", "uuid": POD_UUID, "signature": sig})
    assert bad[0] == 403
    assert get(mds, "/pod/hmac/verify", data={"content": "x", "uuid": POD_UUID})[0] == 400


def test_wrong_token_missing_flavor_and_huge_body_are_refused(mds):
    assert get(mds, "/pod/uuid", token="0" * 32)[0] == 401
    assert get(mds, "/pod/uuid", flavor=False)[0] == 400
    # A body announced as 2 MiB is refused before it is read.
    host, port = mds.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as c:
        c.sendall(f"POST /{TOKEN}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nHost: x\r\n"
                  "Metadata-Flavor: AppContainer\r\nContent-Length: 2097152\r\n\r\n".encode())
        assert c.recv(100).startswith(b"HTTP/1.1 413")


def test_unregistered_pod_is_gone(mds):
    from rktfast.mds.client import register_pod, unregister_pod
    other, tok = str(uuidlib.uuid4()), os.urandom(16).hex()
    register_pod(other, tok, json.dumps(POD_MANIFEST).encode(), {})
    assert get(mds, "/pod/uuid", token=tok)[2] == other
    unregister_pod(other)
    assert get(mds, "/pod/uuid", token=tok)[0] == 401


def raw_exchange(base: str, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes on one connection; everything the service answers until it closes."""
    host, port = base.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


def post_head(token: str, path: str, *headers: str) -> bytes:
    return (f"POST /{token}/acMetadata/v1{path} HTTP/1.1\r\nHost: mds\r\n"
            "Metadata-Flavor: AppContainer\r\n" + "".join(h + "\r\n" for h in headers) +
            "\r\n").encode()


def test_refused_body_never_becomes_the_next_request(mds):
    # a wrong token is refused before the body is read: what is left of it must not be
    # parsed as a request, and the connection closes
    body = b"content=GET /x HTTP/1.1"
    get_uuid = f"GET /{TOKEN}/acMetadata/v1/pod/uuid HTTP/1.1\r\nHost: mds\r\n" \
        "Metadata-Flavor: AppContainer\r\n\r\n".encode()
    out = raw_exchange(mds, post_head("0" * 32, "/pod/hmac/sign",
                                      f"Content-Length: {len(body)}") + body + get_uuid)
    assert out.startswith(b"HTTP/1.1 401 ") and b"Connection: close" in out
    assert out.count(b"HTTP/1.1 ") == 1
    # a request whose body was read keeps the connection for the next one
    body = b"content=hello"
    out = raw_exchange(mds, post_head(TOKEN, "/pod/hmac/sign", f"Content-Length: {len(body)}")
                       + body + get_uuid.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert out.count(b"HTTP/1.1 200 ") == 2 and out.endswith(POD_UUID.encode())


def test_huge_or_chunked_bodies_are_refused_without_reading(mds):
    start = time.monotonic()
    out = raw_exchange(mds, post_head(TOKEN, "/pod/hmac/sign", "Content-Length: 1000000000000"))
    assert out.startswith(b"HTTP/1.1 413 ") and time.monotonic() - start < 2
    out = raw_exchange(mds, post_head(TOKEN, "/pod/hmac/sign", "Transfer-Encoding: chunked")
                       + b"7\r\ncontent\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 411 ") and out.count(b"HTTP/1.1 ") == 1
    out = raw_exchange(mds, post_head(TOKEN, "/pod/hmac/sign", "Content-Length: -5"))
    assert out.startswith(b"HTTP/1.1 400 ")


def test_registration_refuses_a_huge_manifest(mds):
    other, tok = str(uuidlib.uuid4()), os.urandom(16).hex()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(os.environ["RKTFAST_MDS_SOCKET"])
        # the answer comes from the headers alone: the 4 MiB are never read
        s.sendall(f"PUT /pods/{other}?token={tok} HTTP/1.1\r\nHost: mds\r\n"
                  f"Content-Length: {4 << 20}\r\n\r\n".encode() + b"{" * 1024)
        out = s.recv(65536)
    assert out.startswith(b"HTTP/1.1 413 ")
    assert get(mds, "/pod/uuid", token=tok)[0] == 401  # not registered
