"""rkt fetch docker://… of a multi-layer image from a local registry vs skopeo + umoci.

    python benchmarks/bench_docker_fetch.py

A local docker-registry (plain http on 127.0.0.1) serves two images built from real trees of
this machine, pushed once with skopeo:

    bench/app:1      python3.11 stdlib | /usr/share/doc + man | /usr/include | a small top layer
    bench/sibling:1  the same first two layers | /usr/share/locale | a small top layer

One run each (cold: fresh store / fresh OCI layout):

    rktfast  rkt fetch docker://HOST/bench/app:1   (download, verify, decompress, layer cache,
                                                     squash, ACI blob + SHA-512, rendered tree)
    peer     skopeo copy docker://… oci:DIR:app  then  umoci unpack --image DIR:app BUNDLE

then the sibling image into the same store / layout: rktfast downloads and decompresses only
its new layers (layer cache); skopeo reuses the blobs already in the layout but umoci unpacks
every layer again. Ratios are rktfast time / peer time (below 1 is faster).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from benchmarks._peers import CACHE, have  # noqa: E402

LAYERS = {
    "python": ["usr/lib/python3.11"],
    "docs": ["usr/share/doc", "usr/share/man"],
    "include": ["usr/include"],
    "locale": ["usr/share/locale"],
}


def layer_tar(name: str, out_dir: str) -> str:
    path = os.path.join(out_dir, f"{name}.tar")
    if not os.path.exists(path):
        parts = [p for p in LAYERS[name] if os.path.isdir("/" + p)]
        subprocess.run(["tar", "-C", "/", "-cf", path + ".tmp", "--sort=name", *parts],
                       check=True)
        os.rename(path + ".tmp", path)
    return path


def build_layout(base: str) -> str:
    """The OCI layout with both images (built once, cached)."""
    from registry import ConfigSpec, OCILayout, busybox_layer, top_layer
    from registry import layer_tar as entries_tar

    layout_dir = os.path.join(base, "layout")
    if os.path.exists(os.path.join(layout_dir, "done")):
        return layout_dir
    shutil.rmtree(layout_dir, ignore_errors=True)
    os.makedirs(base, exist_ok=True)
    print("building the benchmark images ...", flush=True)
    layout = OCILayout(layout_dir)

    def read(name: str) -> bytes:
        with open(layer_tar(name, base), "rb") as f:
            return f.read()

    bb = entries_tar(busybox_layer())
    layout.build("app", [read("python"), read("docs"), read("include"), bb,
                         entries_tar(top_layer("app"))], ConfigSpec())
    layout.build("sibling", [read("python"), read("docs"), read("locale"), bb,
                             entries_tar(top_layer("sibling"))], ConfigSpec())
    open(os.path.join(layout_dir, "done"), "w").close()
    return layout_dir


def timed(argv: list[str], env: dict | None = None) -> float:
    subprocess.run(["sync"], check=True)
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} … failed:\n{r.stderr}")
    return wall


def rkt_argv(data: str, *args: str) -> list[str]:
    """rkt with the global flags wired to the docker fetcher (see tests/registry.py)."""
    import inspect

    from registry import _WIRING

    from rktfast.cli import common

    base = [f"--dir={data}", f"--local-config={data}-etc", f"--system-config={data}-usr"]
    if "globals=" in inspect.getsource(common.make_finder):
        return [sys.executable, "-m", "rktfast", *base, *args]
    return [sys.executable, "-c", _WIRING, *base, *args]


def main() -> None:
    for tool in ("docker-registry", "skopeo", "umoci"):
        if not have(tool):
            raise SystemExit(f"{tool} is not installed")
    from registry import DockerRegistry, OCILayout

    base = os.path.join(CACHE, "docker-fetch")
    layout_dir = build_layout(base)
    work = tempfile.mkdtemp(prefix="bench-docker-", dir=CACHE)
    reg = DockerRegistry(work)
    try:
        layout = OCILayout(layout_dir)
        for tag in ("app", "sibling"):
            reg.push(layout, tag, f"bench/{tag}:1")
        size = sum(os.path.getsize(os.path.join(base, f"{n}.tar")) for n in LAYERS)
        print(f"registry {reg.host}; layer tars {size / 1e6:.0f} MB (both images)")
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
        data = os.path.join(work, "rkt")
        oci = os.path.join(work, "oci")
        results = {}
        for tag in ("app", "sibling"):
            url = f"docker://{reg.host}/bench/{tag}:1"
            ours = timed(rkt_argv(data, "--insecure-options=image,http", "fetch", url), env)
            copy = timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false", url,
                          f"oci:{oci}:{tag}"])
            unpack = timed(["umoci", "unpack", "--image", f"{oci}:{tag}",
                            os.path.join(work, f"bundle-{tag}")])
            results[tag] = (ours, copy, unpack)
        print("\n== docker fetch from a local registry (one run each) ==")
        for tag, label in (("app", "first image (cold)"),
                           ("sibling", "second image sharing 2 base layers")):
            ours, copy, unpack = results[tag]
            peer = copy + unpack
            print(f"  {label}:")
            print(f"    rkt fetch (rktfast)          {ours:8.3f} s")
            print(f"    skopeo copy + umoci unpack   {peer:8.3f} s  "
                  f"(copy {copy:.3f} s, unpack {unpack:.3f} s)")
            print(f"    rktfast/peer = {ours / peer:.2f}  ({peer / ours:.1f} x faster)")
        print(f"  layer cache: the second fetch took {results['sibling'][0] / results['app'][0]:.2f}"
              " of the first")
    finally:
        reg.close()
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    main()
