"""Docker registries and images for the docker:// tests, all local on 127.0.0.1.

    reg = DockerRegistry(tmp_path)                  # Debian's docker-registry, plain http
    reg = DockerRegistry(tmp_path, users={"u": "p"}, ca=TestCA(tmp_path))   # https + htpasswd
    layout = OCILayout(tmp_path / "oci")            # an OCI image layout made with umoci
    layout.build("multi", base_layers() + [...], config=ConfigSpec(...))
    reg.push(layout, "multi", "test/multi:1.0")     # skopeo copy oci:… docker://…
    fake = FakeRegistry()                           # a Python registry that can misbehave

Images are built from busybox-static: layer tars are written with ``tarfile`` (so that the
tests choose exactly which whiteouts, opaque directories, hardlinks and symlinks a layer
holds), appended with ``umoci raw add-layer`` and configured with ``umoci config``; skopeo
pushes them. ``FakeRegistry`` speaks enough of the v2 API (bearer-token challenge
included) to serve hand-made manifests and blobs, and can answer 500 or stall.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "echo", "id", "true", "false", "test", "stat", "readlink", "env",
           "sleep", "mkdir", "touch", "wc")
MTIME = 1_700_000_000


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (.ci/run installs them)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- layers ---------------------------------------------------------------------------------

@dataclass
class Entry:
    """One tar entry of a hand-made layer."""

    path: str
    kind: str = "file"  # file, dir, symlink, hardlink
    data: bytes = b""
    target: str = ""  # symlink or hardlink target
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed layer tar holding ``entries`` in the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            ti = tarfile.TarInfo(e.path)
            ti.mtime, ti.uid, ti.gid, ti.mode = MTIME, e.uid, e.gid, e.mode
            if e.kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = e.mode if e.mode != 0o644 else 0o755
                tar.addfile(ti)
            elif e.kind == "symlink":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, e.target, 0o777
                tar.addfile(ti)
            elif e.kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e.target
                tar.addfile(ti)
            else:
                ti.size = len(e.data)
                tar.addfile(ti, io.BytesIO(e.data))
    return buf.getvalue()


def busybox_layer() -> list[Entry]:
    """The base layer: busybox, its applets as symlinks, users, a few files to white out."""
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    out = [Entry("bin", "dir"), Entry("bin/busybox", data=bb, mode=0o755)]
    out += [Entry(f"bin/{a}", "symlink", target="busybox") for a in APPLETS]
    out += [
        Entry("etc", "dir"),
        Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
                                 b"app:x:1000:1000:app:/home/app:/bin/sh\n"),
        Entry("etc/group", data=b"root:x:0:\napp:x:1000:\n"),
        Entry("etc/motd", data=b"welcome\n"),
        Entry("etc/old", "dir"),
        Entry("etc/old/a", data=b"a\n"),
        Entry("etc/old/b", data=b"b\n"),
        Entry("tmp", "dir", mode=0o1777),
        Entry("home", "dir"),
        Entry("home/app", "dir", mode=0o750, uid=1000, gid=1000),
        Entry("data", "dir"),
        Entry("data/seed", data=b"seed-v1\n"),
    ]
    return out


def second_layer() -> list[Entry]:
    """Whiteout, opaque directory, hardlink, absolute symlink."""
    return [
        Entry("etc", "dir"),
        Entry("etc/.wh.motd"),
        Entry("etc/old", "dir"),
        Entry("etc/old/.wh..wh..opq"),
        Entry("etc/old/c", data=b"c\n"),
        Entry("opt", "dir"),
        Entry("opt/tool", data=b"#!/bin/sh\necho tool\n", mode=0o755),
        Entry("opt/tool-link", "hardlink", target="opt/tool"),
        Entry("usr", "dir"),
        Entry("usr/bin", "dir"),
        Entry("usr/bin/env", "symlink", target="/bin/busybox"),
    ]


def top_layer(version: str = "3") -> list[Entry]:
    return [
        Entry("etc", "dir"),
        Entry("etc/version", data=version.encode() + b"\n"),
        Entry("data", "dir"),
        Entry("data/seed", data=b"seed-v2\n"),
    ]


@dataclass
class ConfigSpec:
    entrypoint: list[str] | None = field(default_factory=lambda: ["/bin/sh", "-c"])
    cmd: list[str] | None = field(default_factory=lambda: ["echo hello from docker"])
    user: str = "1000:1000"
    env: list[str] = field(default_factory=lambda: ["PATH=/bin:/usr/bin", "GREETING=hi there"])
    workingdir: str = "/home/app"
    volumes: list[str] = field(default_factory=lambda: ["/data"])
    ports: list[str] = field(default_factory=lambda: ["8080/tcp"])
    architecture: str = "amd64"
    author: str = "rktfast tests"


class OCILayout:
    """An OCI image layout directory, written by umoci."""

    def __init__(self, path: str | os.PathLike):
        need_tools("umoci")
        self.path = os.fspath(path)
        if not os.path.exists(os.path.join(self.path, "oci-layout")):
            _run("umoci", "init", "--layout", self.path)

    def ref(self, tag: str) -> str:
        return f"{self.path}:{tag}"

    def build(self, tag: str, layers: list[list[Entry] | bytes], config: ConfigSpec) -> None:
        """A new image ``tag``: the layers (entry lists or raw tars) in order, then config."""
        _run("umoci", "new", "--image", self.ref(tag))
        for i, layer in enumerate(layers):
            raw = layer if isinstance(layer, bytes) else layer_tar(layer)
            tar_path = os.path.join(self.path, f"..layer-{tag}-{i}.tar")
            with open(tar_path, "wb") as f:
                f.write(raw)
            try:
                _run("umoci", "raw", "add-layer", "--image", self.ref(tag), tar_path)
            finally:
                os.unlink(tar_path)
        args = ["umoci", "config", "--image", self.ref(tag), "--author", config.author,
                "--created", "2024-01-02T03:04:05Z", "--architecture", config.architecture,
                "--os", "linux"]
        if config.entrypoint is not None:
            args += [f"--config.entrypoint={x}" for x in config.entrypoint]
        if config.cmd is not None:
            args += [f"--config.cmd={x}" for x in config.cmd]
        if config.user:
            args += ["--config.user", config.user]
        for e in config.env:
            args += ["--config.env", e]
        if config.workingdir:
            args += ["--config.workingdir", config.workingdir]
        for v in config.volumes:
            args += ["--config.volume", v]
        for p in config.ports:
            args += ["--config.exposedports", p]
        _run(*args)

    # raw access, for the multi-arch index -------------------------------------------------
    def index(self) -> dict:
        with open(os.path.join(self.path, "index.json")) as f:
            return json.load(f)

    def descriptor(self, tag: str) -> dict:
        for d in self.index()["manifests"]:
            if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
                return d
        raise KeyError(tag)

    def put_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        p = os.path.join(self.path, "blobs", "sha256", digest[7:])
        with open(p, "wb") as f:
            f.write(data)
        return digest

    def blob(self, digest: str) -> bytes:
        with open(os.path.join(self.path, "blobs", "sha256", digest[7:]), "rb") as f:
            return f.read()

    def tag_index(self, tag: str, platforms: dict[str, str]) -> str:
        """Tag ``tag`` as an image index of already built tags: {tag: "os/arch[/variant]"}."""
        manifests = []
        for t, plat in platforms.items():
            d = dict(self.descriptor(t))
            d.pop("annotations", None)
            os_, arch, *variant = plat.split("/")
            d["platform"] = {"architecture": arch, "os": os_}
            if variant:
                d["platform"]["variant"] = variant[0]
            manifests.append(d)
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": manifests}
        raw = json.dumps(doc).encode()
        digest = self.put_blob(raw)
        idx = self.index()
        idx["manifests"] = [d for d in idx["manifests"] if (d.get("annotations") or {}).get(
            "org.opencontainers.image.ref.name") != tag]
        idx["manifests"].append({"mediaType": doc["mediaType"], "digest": digest,
                                 "size": len(raw),
                                 "annotations": {"org.opencontainers.image.ref.name": tag}})
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(idx, f)
        return digest


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r


def standard_image(layout: OCILayout, tag: str = "multi", version: str = "3") -> None:
    """busybox + (whiteout, opaque dir, hardlink, symlink) + a top layer; volume /data,
    port 8080/tcp, user 1000:1000."""
    layout.build(tag, [busybox_layer(), second_layer(), top_layer(version)], ConfigSpec())


# -- the real registry ----------------------------------------------------------------------

class DockerRegistry:
    """Debian's docker-registry on 127.0.0.1:<free port>, storage in a temp dir.

    With ``users`` it requires htpasswd basic auth; with ``ca`` (a httpfixtures.TestCA) it
    serves https with a certificate for 127.0.0.1 signed by that CA."""

    def __init__(self, tmp: str | os.PathLike, *, users: dict[str, str] | None = None,
                 ca=None, name: str = "registry"):
        need_tools("docker-registry", "skopeo")
        self.dir = os.path.join(os.fspath(tmp), name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.users = users or {}
        self.tls = ca is not None
        self.ca = ca
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.dir}/data",
                 "  delete:", "    enabled: true", "http:", f"  addr: {self.host}"]
        if ca is not None:
            crt, key = ca.server_cert(["localhost"], tag=f"{name}-server")
            lines += ["  tls:", f"    certificate: {crt}", f"    key: {key}"]
        if users:
            need_tools("htpasswd")
            pw = os.path.join(self.dir, "htpasswd")
            for i, (u, p) in enumerate(users.items()):
                _run("htpasswd", "-B", "-b" + ("c" if i == 0 else ""), pw, u, p)
            lines += ["auth:", "  htpasswd:", "    realm: rktfast-test", f"    path: {pw}"]
        conf = os.path.join(self.dir, "config.yml")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir, "registry.log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._wait()

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def _wait(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def read_log(self) -> str:
        with open(os.path.join(self.dir, "registry.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def push(self, layout: OCILayout, tag: str, dest: str, *, fmt: str | None = None,
             all_images: bool = False) -> None:
        """skopeo copy oci:LAYOUT:TAG docker://HOST/DEST (``fmt``: v2s2 or oci)."""
        args = ["skopeo", "copy", "--quiet"]
        if self.tls:
            args += ["--dest-cert-dir", self._cert_dir()]
        else:
            args += ["--dest-tls-verify=false"]
        if self.users:
            u, p = next(iter(self.users.items()))
            args += ["--dest-creds", f"{u}:{p}"]
        if fmt:
            args += ["--format", fmt]
        if all_images:
            args += ["--all"]
        args += [f"oci:{layout.ref(tag)}", f"docker://{self.host}/{dest}"]
        _run(*args)

    def _cert_dir(self) -> str:
        d = os.path.join(self.dir, "certs.d")
        os.makedirs(d, exist_ok=True)
        shutil.copy(self.ca.cert, os.path.join(d, "ca.crt"))
        return d

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# -- a registry that misbehaves on purpose ---------------------------------------------------

MT_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass
class Served:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stall_after: int | None = None  # send this many body bytes, then stay silent


class FakeRegistry:
    """A v2 registry in this process on 127.0.0.1 (plain http). ``add_image`` publishes a
    schema-2 image built from layer tars; ``routes`` can be changed to misbehave. With
    ``token`` set, every /v2/ request needs ``Authorization: Bearer <token>``, obtained from
    ``/token`` with the basic credentials ``creds``."""

    def __init__(self, *, token: str | None = None, creds: tuple[str, str] | None = None):
        self.routes: dict[str, Served | Callable[[], Served]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.token = token
        self.creds = creds
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                owner._serve(self)

            do_HEAD = do_GET

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that hang up on purpose

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.routes["/v2/"] = Served(body=b"{}")

    def _serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        self.requests.append((h.path, headers))
        path = h.path
        if path.startswith("/token"):
            want = "Basic " + base64.b64encode(":".join(self.creds).encode()).decode() \
                if self.creds else None
            if want and headers.get("authorization") != want:
                return self._send(h, Served(401, b'{"errors":[]}'))
            return self._send(h, Served(body=json.dumps({"token": self.token}).encode()))
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            scope = ""
            if "/manifests/" in path or "/blobs/" in path:
                repo = path[len("/v2/"):].split("/manifests/")[0].split("/blobs/")[0]
                scope = f',scope="repository:{repo}:pull"'
            return self._send(h, Served(401, b'{"errors":[]}', {
                "WWW-Authenticate": f'Bearer realm="http://{self.host}/token",'
                                    f'service="fake-registry"{scope}'}))
        reply = self.routes.get(path.split("?", 1)[0])
        if reply is None:
            return self._send(h, Served(404, b'{"errors":[{"code":"NOT_FOUND"}]}'))
        self._send(h, reply() if callable(reply) else reply)

    @staticmethod
    def _send(h, s: Served) -> None:
        try:
            h.send_response(s.status)
            h.send_header("Docker-Distribution-API-Version", "registry/2.0")
            h.send_header("Content-Length", str(len(s.body)))
            for k, v in s.headers.items():
                h.send_header(k, v)
            h.end_headers()
            if h.command == "HEAD":
                return
            if s.stall_after is not None:
                h.wfile.write(s.body[:s.stall_after])
                h.wfile.flush()
                time.sleep(30)
                return
            h.wfile.write(s.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.routes[f"/v2/{repo}/blobs/{digest}"] = Served(body=data)
        return digest

    def manifest(self, repo: str, ref: str, raw: bytes, media_type: str = MT_MANIFEST) -> str:
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        served = Served(body=raw, headers={"Content-Type": media_type,
                                           "Docker-Content-Digest": digest})
        self.routes[f"/v2/{repo}/manifests/{ref}"] = served
        self.routes[f"/v2/{repo}/manifests/{digest}"] = served
        return digest

    def add_image(self, repo: str, tag: str, layers: list[bytes],
                  config: dict | None = None) -> dict:
        """Publish a schema-2 image of uncompressed layer tars (gzipped here); returns the
        manifest document."""
        gz = [gzip.compress(t, mtime=0) for t in layers]
        cfg = config or {"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"]}}
        cfg = dict(cfg, rootfs={"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(t).hexdigest() for t in layers]})
        cfg_raw = json.dumps(cfg).encode()
        doc = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
               "config": {"mediaType": MT_CONFIG, "size": len(cfg_raw),
                          "digest": self.blob(repo, cfg_raw)},
               "layers": [{"mediaType": MT_LAYER, "size": len(g), "digest": self.blob(repo, g)}
                          for g in gz]}
        self.manifest(repo, tag, json.dumps(doc).encode())
        return doc

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- running rkt -----------------------------------------------------------------------------

def rkt_docker(rkt, *args: str, env: dict | None = None, timeout: float = 120,
               ) -> subprocess.CompletedProcess:
    """``rkt *args`` with the conftest ``rkt`` fixture's directories and extra ``env``."""
    from conftest import package_env

    full_env = dict(package_env(), **(env or {}))
    return subprocess.run(rkt.argv(*args), capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def docker_auth(rkt, registry: str, user: str, password: str) -> None:
    """An auth.d dockerAuth file in the local config for ``registry``."""
    d = os.path.join(rkt.local_config, "auth.d")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "docker.json"), "w") as f:
        json.dump({"rktKind": "dockerAuth", "rktVersion": "v1", "registries": [registry],
                   "credentials": {"user": user, "password": password}}, f)
