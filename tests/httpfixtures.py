"""Real HTTP(S) servers for remote-image tests, in a private network namespace.

    ca = TestCA(tmp_path)                          # a CA made with openssl for this test
    net = PrivateNet(tmp_path, ca, ["example.com", "keys.example.org"])
    net.site.file("example.com", "/app.aci", data, etag='"v1"')
    net.site.discovery("example.com", [("ac-discovery", "example.com", "https://…")])
    r = net.rkt(rkt, "fetch", "example.com/app")  # rkt runs inside the namespace

``PrivateNet`` starts ``unshare --net`` (a new network namespace with only a loopback), binds
HTTPS on 127.0.0.1:443 and HTTP on :80 *inside* it from a thread that joins the namespace
with setns(2), and serves every test host name from one threaded server (virtual hosts by
the Host header). The rkt under test runs through ``nsenter --net`` + ``unshare -m`` with a
hosts file bind-mounted on /etc/hosts in its private mount namespace and ``SSL_CERT_FILE``
pointing at the test CA: the machine's own /etc/hosts, ports and CA store are never touched.

Replies can misbehave on purpose (cut bodies, wrong lengths, endless bodies, slow bodies,
redirect loops, huge headers) for the hostile-server tests.
"""

from __future__ import annotations

import ctypes
import http.server
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from conftest import package_env

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLONE_NEWNET = 0x40000000


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class TestCA:
    """A certificate authority and server certificates, made by ``openssl`` in ``directory``."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: str | os.PathLike):
        self.dir = os.path.join(os.fspath(directory), "ca")
        os.makedirs(self.dir, exist_ok=True)
        self.cert = os.path.join(self.dir, "ca.crt")
        self.key = os.path.join(self.dir, "ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
                 "-subj", "/CN=rktfast test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)

    def server_cert(self, names: list[str], tag: str = "server") -> tuple[str, str]:
        """(cert, key) paths of a server certificate for ``names`` (and 127.0.0.1)."""
        key = os.path.join(self.dir, f"{tag}.key")
        csr = os.path.join(self.dir, f"{tag}.csr")
        crt = os.path.join(self.dir, f"{tag}.crt")
        ext = os.path.join(self.dir, f"{tag}.ext")
        sans = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"])
        with open(ext, "w") as f:
            f.write(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={names[0]}", cwd=self.dir)
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext, cwd=self.dir)
        return crt, key


@dataclass
class Reply:
    """What the server sends for one request. The fields after ``headers`` misbehave."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    ranges: bool = True  # honour Range/If-Range
    cut_after: int | None = None  # close the connection after this many body bytes
    content_length: int | None = None  # announce this length instead of the real one
    no_length: bool = False  # no Content-Length: the body ends when the connection closes
    endless: bytes | None = None  # after body, send this forever
    delay: float = 0.0  # seconds between chunks
    chunk: int = 1 << 16
    raw_head: bytes | None = None  # send these bytes instead of a status line and headers
    stall: bool = False  # after the (cut) body, keep the connection open and silent


@dataclass
class Request:
    host: str
    path: str  # with the query
    headers: dict[str, str]  # names in lower case
    scheme: str = "https"


class Site:
    """The content of every virtual host; records each request it receives."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Reply | Callable[[Request], Reply]] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    def add(self, host: str, path: str, reply: Reply | Callable[[Request], Reply]) -> None:
        """Serve ``reply`` for ``https?://host/path`` (``path`` may carry a query)."""
        self.routes[(host, path)] = reply

    def file(self, host: str, path: str, data: bytes, **kw) -> Reply:
        reply = Reply(body=data, **kw)
        self.add(host, path, reply)
        return reply

    def discovery(self, host_path: str, metas: list[tuple[str, str, str]],
                  extra: str = "") -> None:
        """A discovery page at ``https://<host_path>?ac-discovery=1``."""
        host, _, path = host_path.partition("/")
        tags = "".join(f'<meta name="{n}" content="{p} {u}">\n' for n, p, u in metas)
        page = f"<html><head>\n{tags}{extra}</head><body>rkt</body></html>\n".encode()
        self.add(host, "/" + path + "?ac-discovery=1", Reply(body=page))

    def seen(self, host: str | None = None, path_prefix: str = "") -> list[Request]:
        with self.lock:
            return [r for r in self.requests if (host is None or r.host == host)
                    and r.path.startswith(path_prefix)]

    def lookup(self, req: Request) -> Reply:
        with self.lock:
            self.requests.append(req)
        reply = self.routes.get((req.host, req.path)) or \
            self.routes.get((req.host, req.path.split("?", 1)[0]))
        if reply is None:
            return Reply(status=404, body=b"not found\n")
        return reply(req) if callable(reply) else reply


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        req = Request(host, self.path, {k.lower(): v for k, v in self.headers.items()},
                      "https" if self.server.tls is not None else "http")  # type: ignore[attr-defined]
        reply = self.server.site.lookup(req)  # type: ignore[attr-defined]
        try:
            self._send(req, reply, head)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        self.close_connection = True

    def _send(self, req: Request, reply: Reply, head: bool) -> None:
        if reply.raw_head is not None:
            self.wfile.write(reply.raw_head)
            self.wfile.flush()
            return
        body, status = reply.body, reply.status
        headers = dict(reply.headers)
        if reply.etag:
            headers["ETag"] = reply.etag
            if req.headers.get("if-none-match") == reply.etag:
                self.send_response(304)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Connection", "close")
                self.end_headers()
                return
        rng = req.headers.get("range")
        if rng and reply.ranges and status == 200 and rng.startswith("bytes="):
            if_range = req.headers.get("if-range")
            if if_range is None or if_range == reply.etag:
                start = int(rng[6:].split("-")[0])
                if start >= len(body):
                    status, body = 416, b""
                    headers["Content-Range"] = f"bytes */{len(reply.body)}"
                else:
                    headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                    status, body = 206, body[start:]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if reply.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if not reply.no_length and reply.endless is None:
            n = reply.content_length if reply.content_length is not None else len(body)
            self.send_header("Content-Length", str(n))
        self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        limit = len(body) if reply.cut_after is None else min(reply.cut_after, len(body))
        sent = 0
        while sent < limit:
            piece = body[sent:min(sent + reply.chunk, limit)]
            self.wfile.write(piece)
            self.wfile.flush()
            sent += len(piece)
            if reply.delay:
                time.sleep(reply.delay)
        if reply.stall:
            time.sleep(3600)
        if reply.endless is not None:
            while True:
                self.wfile.write(reply.endless)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, site: Site, tls: ssl.SSLContext | None):
        super().__init__(sock.getsockname(), _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.site = site
        self.tls = tls

    def finish_request(self, request, client_address) -> None:
        if self.tls is not None:
            request.settimeout(10)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            request.settimeout(None)
        self.RequestHandlerClass(request, client_address, self)


def _netns_of(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _listen_in(ns_path: str, ports: list[int]) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1:<port> inside the network namespace ``ns_path``,
    made by a thread that joins it (setns changes only the calling thread's namespace)."""
    out: list[socket.socket] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(ns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            for port in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.listen(64)
                out.append(s)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return out


class PrivateNet:
    """A network namespace with HTTPS (443) and HTTP (80) servers for ``names``."""

    def __init__(self, tmp: str | os.PathLike, ca: TestCA, names: list[str]):
        self.ca = ca
        self.names = names
        self.site = Site()
        self.hosts = os.path.join(os.fspath(tmp), "hosts")
        with open(self.hosts, "w") as f:
            f.write("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {n}\n" for n in names))
        self.holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"])
        deadline = time.monotonic() + 10
        while _netns_of(self.holder.pid) == _netns_of("self"):
            if time.monotonic() > deadline:
                raise RuntimeError("unshare --net did not start")
            time.sleep(0.01)
        self.ns = f"/proc/{self.holder.pid}/ns/net"
        subprocess.run(["nsenter", f"--net={self.ns}", "ip", "link", "set", "lo", "up"],
                       check=True)
        https_sock, http_sock = _listen_in(self.ns, [443, 80])
        cert, key = ca.server_cert(names)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        self.servers = [_Server(https_sock, self.site, tls), _Server(http_sock, self.site, None)]
        for s in self.servers:
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True).start()

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace, with the test hosts file."""
        return ["nsenter", f"--net={self.ns}", "--", "unshare", "-m", "--", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts, *argv]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(package_env(), SSL_CERT_FILE=self.ca.cert, LC_ALL="C.UTF-8")
        env.pop("RUST_BACKTRACE", None)
        env.update(extra)
        return env

    def rkt(self, rkt, *args: str, input: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``rkt *args`` (the conftest ``rkt`` fixture) inside the namespace."""
        return subprocess.run(self.wrap(rkt.argv(*args)), input=input, capture_output=True,
                              text=True, timeout=timeout, env=env or self.env())

    def rkt_pty(self, rkt, *args: str, answer: str | None = None, timeout: float = 120,
                env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Run rkt with stdin and stderr on a pseudo-terminal (stdout on a pipe): returns
        (exit code, terminal output, stdout). ``answer`` is typed when asked."""
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen(self.wrap(rkt.argv(*args)), stdin=slave, stderr=slave,
                                stdout=subprocess.PIPE, env=env or self.env())
        os.close(slave)
        chunks: list[bytes] = []
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        answered = False
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError("rkt did not finish")
            import select

            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
            if answer is not None and not answered and out == [] and proc.poll() is None:
                # the question is on stdout (a pipe): answer once the key was shown
                if b"key:" in b"".join(chunks):
                    time.sleep(0.3)
                    os.write(master, answer.encode() + b"\n")
                    answered = True
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        reader.join(5)
        os.close(master)
        return code, b"".join(chunks).decode(errors="replace"), (out[0] if out else b"").decode()

    def close(self) -> None:
        for s in self.servers:
            s.shutdown()
            s.server_close()
        self.holder.kill()
        self.holder.wait()
