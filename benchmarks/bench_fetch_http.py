"""Remote fetch of a large gzip ACI over HTTPS: ``rkt fetch URL`` vs ``curl -o`` + ``tar -xzf``.

    python benchmarks/bench_fetch_http.py [--size-mb 500]

Both sides get the same file from the same local HTTPS server (127.0.0.1, a CA made here
with openssl, sendfile-free TLS on the server side for both). Ours covers download +
decompress + SHA-512 + blob (fsynced) + render + commit, once unsigned
(``--insecure-options=image``) and once with the signature verified; the peer downloads to a
file and extracts it. The image is the one bench_ingest.py builds (cached under
/var/tmp/rktfast-bench).
"""

from __future__ import annotations

import argparse
import http.server
import io
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)
sys.path.insert(1, os.path.join(REPO, "tests"))  # the fixtures import their conftest

from benchmarks._peers import REPEAT, Table, fresh_dir, run_timed  # noqa: E402
from benchmarks.bench_ingest import build_aci  # noqa: E402
from tests.httpfixtures import TestCA  # noqa: E402


class _FileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    files: dict[str, str] = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = self.files.get(self.path)
        if path is None:
            self.send_error(404)
            return
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                self.wfile.write(chunk)


def serve(files: dict[str, str], ca: TestCA) -> tuple[http.server.ThreadingHTTPServer, int]:
    _FileHandler.files = files
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FileHandler)
    cert, key = ca.server_cert(["localhost"], "bench")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


MANIFEST = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/bench",
            "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]}


def fetchable_aci(size_mb: int) -> str:
    """bench_ingest's image with os/arch labels (fetch checks them), built once."""
    import json
    import tarfile

    src, _ = build_aci(size_mb)
    base = os.path.join(os.path.dirname(os.path.dirname(src)), f"fetch-http-{size_mb}")
    aci = os.path.join(base, "image.aci")
    if os.path.exists(aci):
        return aci
    os.makedirs(base, exist_ok=True)
    print("relabelling the image for fetch ...", flush=True)
    tar = os.path.join(base, "image.tar")
    raw = json.dumps(MANIFEST).encode()
    with tarfile.open(os.path.join(os.path.dirname(src), "image.tar")) as tin, \
            tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as tout:
        for member in tin:
            if member.name == "manifest":
                member.size = len(raw)
                tout.addfile(member, io.BytesIO(raw))
            else:
                tout.addfile(member, tin.extractfile(member) if member.isfile() else None)
    with open(aci + ".tmp", "wb") as out:
        subprocess.run(["gzip", "-6", "-c", tar], stdout=out, check=True)
    os.unlink(tar)
    os.rename(aci + ".tmp", aci)
    return aci


def signature_for(aci: str, work: str) -> tuple[str, str]:
    """(armored public key, detached signature) for the image, made once and cached."""
    asc = aci + ".asc"
    pub = aci + ".pub.asc"
    if os.path.exists(asc) and os.path.exists(pub):
        return pub, asc
    from tests.gpgkeys import make_key

    key = make_key(work, "rktfast bench <bench@example.com>")
    try:
        print("signing the image ...", flush=True)
        key.sign(aci, output=asc + ".tmp")
        shutil.copy(key.public_path, pub)
        os.rename(asc + ".tmp", asc)
    finally:
        key.close()
    return pub, asc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=500)
    args = ap.parse_args()
    aci = fetchable_aci(args.size_mb)
    base = os.path.dirname(aci)
    work = tempfile.mkdtemp(prefix="fetch-http-", dir=base)
    try:
        run(aci, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


INGEST = """
import sys
from rktfast.fetch.ingest import ingest_aci
with open(sys.argv[1], "rb") as f:
    ingest_aci(f, blob_dir=sys.argv[2], tree_dir=sys.argv[2])
"""


def run(aci: str, work: str) -> None:
    ca = TestCA(work)
    pub, asc = signature_for(aci, work)
    server, port = serve({"/image.aci": aci, "/image.aci.asc": asc}, ca)
    url = f"https://127.0.0.1:{port}/image.aci"
    env = dict(os.environ, PYTHONPATH=REPO, SSL_CERT_FILE=ca.cert)
    rkt = [sys.executable, "-m", "rktfast"]
    config = os.path.join(work, "etc")
    subprocess.run(rkt + [f"--local-config={config}", "trust", "--root", "--skip-fingerprint-review", pub], check=True,
                   env=env, capture_output=True)

    def ours(insecure: bool):
        def argv(d: str) -> list[str]:
            flags = ["--insecure-options=image"] if insecure else []
            return rkt + [f"--dir={d}", f"--local-config={config}",
                          f"--system-config={d}/none", *flags, "fetch", url]
        return argv

    def peer(d: str) -> list[str]:
        out = os.path.join(d, "image.aci")
        return ["sh", "-c", f'curl -sSf --cacert "{ca.cert}" -o "{out}" "{url}" && '
                            f'tar -xzf "{out}" -C "{d}"']

    def local(d: str) -> list[str]:
        # the same image ingested from the local file, no network: the engine's own share
        return [sys.executable, "-c", INGEST, aci, d]

    tools = {"rkt fetch (verified)": ours(False), "rkt fetch (unsigned)": ours(True),
             "ingest of the local file": local, "curl -o + tar -xzf": peer}
    results: dict[str, list[float]] = {t: [] for t in tools}
    rss: dict[str, list[int]] = {t: [] for t in tools}
    for _ in range(REPEAT):
        for tool, argv in tools.items():
            d = fresh_dir(work, tool.split()[0])
            wall, peak = run_timed(argv(d), env=env, cwd=REPO)
            results[tool].append(wall)
            rss[tool].append(peak)
    server.shutdown()
    table = Table(f"https fetch of {os.path.getsize(aci) >> 20} MiB gzip ACI",
                  "rkt fetch (verified)")
    for tool in tools:
        table.add(tool, results[tool], rss[tool])
    table.print()
    print("  target: rkt fetch (verified) / (curl + tar -xzf) <= 1.0")


if __name__ == "__main__":
    main()
