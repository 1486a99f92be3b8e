"""Build pod directories by hand and drive the native stage1 directly.

A test gets a ``PodFactory`` (see the ``pods`` fixture in the stage1 tests):
``pods.new([app(...)])`` lays out ``<base>/pods/run/<uuid>/`` the way stage0
would — a pod manifest, the stage1 rootfs of the built image, and a busybox
rootfs per app — then ``pod.run()`` / ``pod.start()`` exec the stage1 ``init``
with the pod lock held in ``RKT_LOCK_FD``, exactly as the stage1 contract says.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid as uuidlib
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE1_OUT = os.path.join(REPO, "stage1", "out")
BUSYBOX = "/bin/busybox"


def build_stage1() -> str:
    """Compile and pack the stage1 images (once per process); return the out dir."""
    if not getattr(build_stage1, "done", False):
        subprocess.check_call(["python3", os.path.join(REPO, "stage1", "build.py"), "--out", STAGE1_OUT])
        build_stage1.done = True
    return STAGE1_OUT


def app(name: str, exec: list[str], *, user: str = "0", group: str = "0",
        env: dict[str, str] | None = None, isolators: list[dict] | None = None,
        mounts: list[dict] | None = None, working_dir: str | None = None,
        pre_start: list[str] | None = None, post_stop: list[str] | None = None,
        supplementary_gids: list[int] | None = None, read_only_rootfs: bool = False) -> dict:
    """A pod manifest app entry (with the resolved app section stage0 writes)."""
    a: dict = {"exec": exec, "user": user, "group": group}
    if env:
        a["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    if isolators:
        a["isolators"] = isolators
    if working_dir:
        a["workingDirectory"] = working_dir
    handlers = []
    if pre_start:
        handlers.append({"name": "pre-start", "exec": pre_start})
    if post_stop:
        handlers.append({"name": "post-stop", "exec": post_stop})
    if handlers:
        a["eventHandlers"] = handlers
    if supplementary_gids:
        a["supplementaryGIDs"] = supplementary_gids
    entry = {"name": name, "image": {"name": "example.com/busybox", "id": "sha512-" + "0" * 64},
             "app": a, "mounts": mounts or []}
    if read_only_rootfs:
        entry["readOnlyRootFS"] = True
    return entry


def memory_isolator(limit: str) -> dict:
    return {"name": "resource/memory", "value": {"limit": limit}}


@dataclass
class Pod:
    """One pod directory plus the processes of its stage1."""

    path: str
    uuid: str
    flavor: str
    lock_fd: int = -1
    proc: subprocess.Popen | None = None
    extra_files: list[str] = field(default_factory=list)

    @property
    def stage1_root(self) -> str:
        return os.path.join(self.path, "stage1", "rootfs")

    def app_root(self, name: str) -> str:
        return os.path.join(self.stage1_root, "opt", "stage2", name, "rootfs")

    def entrypoint(self, name: str) -> str:
        return os.path.join(self.stage1_root, name)

    def _lock(self) -> int:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.set_inheritable(fd, True)
        return fd

    def start(self, *flags: str, net: str = "host", stdin=subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw) -> subprocess.Popen:
        """exec the run entrypoint the way stage0 does (cwd = pod, RKT_LOCK_FD)."""
        self.lock_fd = self._lock()
        env = dict(os.environ, RKT_LOCK_FD=str(self.lock_fd))
        ep = "run" if self.flavor == "fly" else "init"
        argv = [self.entrypoint(ep), f"--net={net}", *flags, self.uuid]
        self.proc = subprocess.Popen(argv, cwd=self.path, env=env, pass_fds=[self.lock_fd],
                                     stdin=stdin, stdout=stdout, stderr=stderr, **kw)
        os.close(self.lock_fd)
        return self.proc

    def run(self, *flags: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        p = self.start(*flags, **kw)
        out, err = p.communicate(timeout=timeout)
        return subprocess.CompletedProcess(p.args, p.returncode, _text(out), _text(err))

    def is_locked(self) -> bool:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def app_status(self, name: str) -> str | None:
        try:
            with open(os.path.join(self.stage1_root, "rkt", "status", name)) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def wait_for_file(self, name: str, timeout: float = 10) -> str:
        p = os.path.join(self.path, name)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(p):
                with open(p) as f:
                    return f.read()
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"stage1 exited ({self.proc.returncode}) before writing {name}")
            time.sleep(0.01)
        raise AssertionError(f"{name} not written within {timeout}s")

    def pod_pid1(self, timeout: float = 10) -> int:
        """The PID to enter: the only child of ppid (or pid for fly)."""
        if self.flavor == "fly":
            return int(self.wait_for_file("pid"))
        ppid = int(self.wait_for_file("ppid", timeout))
        with open(f"/proc/{ppid}/task/{ppid}/children") as f:
            children = f.read().split()
        assert len(children) == 1, children
        return int(children[0])

    def enter(self, app_name: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        pid = self.pod_pid1()
        return subprocess.run([self.entrypoint("enter"), f"--pid={pid}", f"--appname={app_name}",
                               "--", *cmd], cwd=self.path, capture_output=True, text=True,
                              timeout=timeout)

    def stop(self, force: bool = False) -> subprocess.CompletedProcess:
        argv = [self.entrypoint("stop")] + (["--force"] if force else []) + [self.uuid]
        return subprocess.run(argv, cwd=self.path, capture_output=True, text=True, timeout=30)

    def gc(self) -> subprocess.CompletedProcess:
        return subprocess.run([self.entrypoint("gc"), self.uuid], cwd=self.path,
                              capture_output=True, text=True, timeout=60)

    def mounts_below(self) -> list[str]:
        """Mount points in our mount namespace at or below the pod dir."""
        out = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == self.path or mp.startswith(self.path + "/"):
                    out.append(mp)
        return out

    def cgroup_dirs(self) -> list[str]:
        """Cgroup directories named after this pod, on every hierarchy."""
        name = f"machine-rkt\\x2d{self.uuid}.scope"
        found = []
        for root, dirs, _ in os.walk("/sys/fs/cgroup"):
            if name in dirs:
                found.append(os.path.join(root, name))
            # pod cgroups live in machine.slice below our own cgroup; do not descend others
            dirs[:] = [d for d in dirs if d != name and not d.startswith("machine-rkt")]
        return found

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _text(b) -> str:
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


class PodFactory:
    """Creates pods below base; cleans up (stage1 gc + rm) at the end."""

    def __init__(self, base: str):
        self.base = base
        self.pods: list[Pod] = []
        out = build_stage1()
        self.cache = os.path.join(base, "cache")
        os.makedirs(self.cache, exist_ok=True)
        self.stage1 = {}
        for flavor in ("coreos", "fly"):
            dest = os.path.join(self.cache, f"stage1-{flavor}")
            with tarfile.open(os.path.join(out, f"stage1-{flavor}.aci")) as t:
                t.extractall(dest)
            self.stage1[flavor] = os.path.join(dest, "rootfs")
        self.busybox = os.path.join(self.cache, "busybox")
        shutil.copy2(BUSYBOX, self.busybox)
        self.applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                                      check=True).stdout.split()

    def busybox_rootfs(self, dest: str, passwd: str | None = None, group: str | None = None) -> None:
        """A minimal app rootfs: busybox + applet links + passwd/group."""
        os.makedirs(os.path.join(dest, "bin"))
        os.link(self.busybox, os.path.join(dest, "bin", "busybox"))
        for a in self.applets:
            if a != "busybox":
                os.symlink("busybox", os.path.join(dest, "bin", a))
        os.makedirs(os.path.join(dest, "etc"))
        for d in ("tmp", "root", "usr"):
            os.makedirs(os.path.join(dest, d))
        os.chmod(os.path.join(dest, "tmp"), 0o1777)
        with open(os.path.join(dest, "etc", "passwd"), "w") as f:
            f.write(passwd or "root:x:0:0:root:/root:/bin/sh\n"
                              "user:x:1000:1000:user:/home/user:/bin/sh\n"
                              "nobody:x:65534:65534:nobody:/:/bin/false\n")
        with open(os.path.join(dest, "etc", "group"), "w") as f:
            f.write(group or "root:x:0:\nusers:x:100:\nstaff:x:50:\nuser:x:1000:\n"
                             "nogroup:x:65534:\n")

    def new(self, apps: list[dict], volumes: list[dict] | None = None, flavor: str = "coreos",
            manifest: dict | None = None) -> Pod:
        uid = str(uuidlib.uuid4())
        path = os.path.join(self.base, "pods", "run", uid)
        os.makedirs(path, mode=0o750)
        shutil.copytree(self.stage1[flavor], os.path.join(path, "stage1", "rootfs"),
                        symlinks=True, copy_function=os.link)
        pm = manifest or {"acVersion": "1.30.0", "acKind": "PodManifest", "apps": apps,
                          "volumes": volumes or [], "isolators": None,
                          "annotations": [{"name": "coreos.com/rkt/stage1/mutable", "value": "false"}],
                          "ports": None}
        for a in apps:
            root = os.path.join(path, "stage1", "rootfs", "opt", "stage2", a["name"], "rootfs")
            self.busybox_rootfs(root)
            with open(os.path.join(os.path.dirname(root), "manifest"), "w") as f:
                json.dump({"acKind": "ImageManifest", "acVersion": "0.8.11",
                           "name": "example.com/busybox"}, f)
        with open(os.path.join(path, "pod"), "w") as f:
            json.dump(pm, f)
        pod = Pod(path=path, uuid=uid, flavor=flavor)
        self.pods.append(pod)
        return pod

    def cleanup(self) -> None:
        for pod in self.pods:
            pod.kill()
            if os.path.exists(pod.entrypoint("gc")):
                pod.gc()
        shutil.rmtree(self.base, ignore_errors=True)
