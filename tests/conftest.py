"""Shared fixtures: a private rkt environment per test and the example images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def rkt_command() -> list[str]:
    """The rkt under test: $RKT, else the one installed beside this Python, else `python -m`."""
    if os.environ.get("RKT"):
        return [os.environ["RKT"]]
    beside = os.path.join(os.path.dirname(sys.executable), "rkt")
    if os.path.exists(beside):
        return [beside]
    return [sys.executable, "-m", "rktfast"]


@dataclass
class Rkt:
    """Runs rkt with --dir/--local-config/--system-config in a temp dir."""

    root: str

    @property
    def data(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def local_config(self) -> str:
        return os.path.join(self.root, "etc")

    @property
    def system_config(self) -> str:
        return os.path.join(self.root, "usr-lib")

    def argv(self, *args: str) -> list[str]:
        return rkt_command() + [f"--dir={self.data}", f"--local-config={self.local_config}",
                                f"--system-config={self.system_config}", *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120,
                 env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), input=input, capture_output=True, text=True,
                              timeout=timeout, env=env)

    def ok(self, *args: str, **kw) -> subprocess.CompletedProcess:
        r = self(*args, **kw)
        assert r.returncode == 0, f"rkt {' '.join(args)} failed ({r.returncode}):\n{r.stderr}"
        return r


@pytest.fixture
def rkt(tmp_path) -> Rkt:
    return Rkt(str(tmp_path))


@pytest.fixture(scope="session")
def busybox_aci(tmp_path_factory) -> str:
    """The example image example.com/busybox:1.35.0, built from busybox-static."""
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed (scripts/install.sh installs it)")
    out = str(tmp_path_factory.mktemp("images") / "busybox.aci")
    subprocess.run([sys.executable, os.path.join(REPO, "examples", "build_busybox_aci.py"),
                    "--out", out], check=True, capture_output=True, env=package_env())
    return out


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (CI runs as root)")


def package_env() -> dict:
    """The environment for helper scripts: they import the same rktfast as the tests."""
    import rktfast

    return dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(rktfast.__file__)))


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def wait_with_gc_beside(procs, gc) -> tuple[list[int], list]:
    """Wait for ``procs`` (Popen) while ``gc()`` runs again and again on a thread: their exit
    codes (sorted) and every gc result."""
    stop = threading.Event()
    results: list = []

    def loop():
        while not stop.is_set():
            results.append(gc())

    t = threading.Thread(target=loop)
    t.start()
    try:
        codes = sorted(p.wait(timeout=300) for p in procs)
    finally:
        stop.set()
        t.join()
    return codes, results
