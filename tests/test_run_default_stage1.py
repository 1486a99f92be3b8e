"""Real pods with the project's own stage1 (built by stage1/build.py): exit codes, several
apps, status while running, enter, stop, and gc after a crash leaving nothing mounted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.usefixtures("as_root")


def built_stage1() -> str | None:
    import rktfast

    installed = os.path.join(os.path.dirname(rktfast.__file__), "stage1_images")
    for p in (os.path.join(installed, "stage1-coreos.aci"),
              os.path.join(REPO, "stage1", "out", "stage1-coreos.aci")):
        if os.path.isfile(p):
            return p
    return None


@pytest.fixture
def pods(rkt, busybox_aci):
    s1 = built_stage1()
    if s1 is None:
        pytest.skip("the default stage1 is not built (python stage1/build.py --out ...)")
    rkt.ok("--insecure-options=image", "fetch", busybox_aci)
    rkt.stage1 = f"--stage1-path={s1}"
    yield rkt
    rkt("gc", "--grace-period=0s", input="")
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if rkt.data in line]


def run(rkt, *args):
    return rkt("--insecure-options=image", "run", rkt.stage1, *args, input="", timeout=60)


def test_exit_code_of_one_app(pods):
    r = run(pods, "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
            "echo hi; exit 3")
    assert r.returncode == 3, r.stderr
    assert "hi" in r.stdout


def test_exit_codes_of_several_apps(pods):
    r = run(pods, "--net=host", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
            "exit 0", "---", "example.com/busybox", "--name=b", "--exec", "/bin/sh", "--",
            "-c", "sleep 0.2; exit 5", "---", "example.com/busybox", "--name=c", "--exec",
            "/bin/true")
    assert r.returncode == 5, r.stderr
    uuid = os.listdir(os.path.join(pods.data, "pods", "run"))[0]
    st = pods.ok("status", uuid).stdout
    assert "app-b=5" in st and "app-busybox=0" in st


def test_running_pod_status_enter_and_stop(pods):
    proc = subprocess.Popen(pods.argv("--insecure-options=image", "run", pods.stage1,
                                      "--net=host", "example.com/busybox", "--exec", "/bin/sh",
                                      "--", "-c", "sleep 60"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        uuid = None
        for _ in range(200):
            run_dir = os.path.join(pods.data, "pods", "run")
            if os.path.isdir(run_dir) and os.listdir(run_dir):
                uuid = os.listdir(run_dir)[0]
                if "state=running" in pods("status", uuid).stdout:
                    break
            time.sleep(0.05)
        st = pods.ok("status", uuid).stdout
        assert "state=running" in st and f"pid={proc.pid}" in st
        r = pods("enter", uuid, "/bin/sh", "-c", "echo inside; exit 4", input="")
        assert r.returncode == 4, r.stderr
        assert "inside" in r.stdout
        r = pods("stop", uuid)
        assert r.returncode == 0, r.stderr
        proc.wait(timeout=30)
        assert "state=exited" in pods.ok("status", uuid).stdout
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_gc_after_the_stage1_was_killed(pods):
    proc = subprocess.Popen(pods.argv("--insecure-options=image", "run", pods.stage1,
                                      "--net=host", "example.com/busybox", "--exec", "/bin/sh",
                                      "--", "-c", "sleep 60"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    run_dir = os.path.join(pods.data, "pods", "run")
    for _ in range(200):
        if os.path.isdir(run_dir) and os.listdir(run_dir) and \
                "state=running" in pods("status", os.listdir(run_dir)[0]).stdout:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    uuid = os.listdir(run_dir)[0]
    for _ in range(100):
        if "state=exited" in pods("status", uuid).stdout:
            break
        time.sleep(0.1)
    pods.ok("gc", "--grace-period=0s")
    assert os.listdir(os.path.join(pods.data, "pods", "exited-garbage")) == []


def wait_running(pods, timeout: float = 20) -> str:
    run_dir = os.path.join(pods.data, "pods", "run")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.isdir(run_dir) and os.listdir(run_dir):
            uuid = os.listdir(run_dir)[0]
            if "state=running" in pods("status", uuid).stdout:
                return uuid
        time.sleep(0.05)
    raise AssertionError("the pod never ran")


def test_status_wait_ready_once_the_apps_are_started(pods):
    proc = subprocess.Popen(pods.argv("--insecure-options=image", "run", pods.stage1,
                                      "--net=host", "example.com/busybox", "--exec", "/bin/sh",
                                      "--", "-c", "sleep 60"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        uuid = wait_running(pods)
        r = pods("status", "--wait-ready=10s", uuid, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "state=running" in r.stdout
        pod_dir = os.path.join(pods.data, "pods", "run", uuid)
        link = os.path.join(pod_dir, "stage1", "rootfs", "rkt", "supervisor-status")
        assert os.readlink(link) == "ready"
        pods.ok("stop", uuid)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_stdin_a_pipe_nobody_writes(pods):
    """`rkt run … &` from a script, or a supervisor that leaves stdin an open pipe: the
    pod runs and exits; nothing waits for that stdin."""
    r_fd, w_fd = os.pipe()
    try:
        proc = subprocess.Popen(pods.argv("--insecure-options=image", "run", pods.stage1,
                                          "--net=host", "example.com/busybox", "--exec",
                                          "/bin/sh", "--", "-c", "echo ran; exit 6"),
                                stdin=r_fd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(r_fd)
        os.close(w_fd)
    assert proc.returncode == 6, err
    assert b"ran" in out


def test_interactive_with_a_pipe_gives_the_app_that_stdin(pods):
    r = pods("--insecure-options=image", "run", pods.stage1, "--net=host", "--interactive",
             "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "read x; echo got:$x",
             input="hello\n", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "got:hello" in r.stdout


def test_interactive_background_job_on_a_terminal_is_not_stopped(pods):
    """`rkt run --interactive … &` from a shell with job control: stdin is the terminal,
    but another process group owns it; the stage1 must not take it (SIGTTOU would stop
    the pod until `fg`)."""
    import pty
    import select

    argv = pods.argv("--insecure-options=image", "run", pods.stage1, "--net=host",
                     "--interactive", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
                     "echo bg-ok; exit 7")
    pid, master = pty.fork()
    if pid == 0:  # session leader owning the terminal, like an interactive shell
        code = 0
        try:
            child = os.fork()
            if child == 0:
                os.setpgid(0, 0)  # a background process group of the terminal
                os.execvp(argv[0], argv)
            try:
                os.setpgid(child, child)
            except OSError:
                pass
            _, ws = os.waitpid(child, os.WUNTRACED)
            if os.WIFSTOPPED(ws):
                os.write(1, b"\nSTOPPED\n")
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
            else:
                os.write(1, f"\nEXIT={os.waitstatus_to_exitcode(ws)}\n".encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    out = b""
    end = time.monotonic() + 60
    try:
        while b"EXIT=" not in out and b"STOPPED" not in out and time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        os.close(master)
        os.waitpid(pid, 0)
    assert b"STOPPED" not in out, out
    assert b"EXIT=7" in out and b"bg-ok" in out, out


def test_private_users_maps_the_apps_root_to_the_shift(pods):
    r = run(pods, "--net=host", "--no-overlay", "--private-users", "--volume=v,kind=empty",
            "--mount", "volume=v,target=/vol", "example.com/busybox", "--exec", "/bin/sh",
            "--", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
            "touch /vol/f /tmp/f && echo writes-ok; exit 4")
    assert r.returncode == 4, r.stderr
    maps = [line.split() for line in r.stdout.splitlines() if len(line.split()) == 3]
    assert len(maps) == 2 and maps[0] == maps[1], r.stdout
    inside, shift, count = (int(x) for x in maps[0])
    assert inside == 0 and shift > 0 and shift % 65536 == 0 and count == 65536
    assert "writes-ok" in r.stdout
    uuid = os.listdir(os.path.join(pods.data, "pods", "run"))[0]
    pod_dir = os.path.join(pods.data, "pods", "run", uuid)
    with open(os.path.join(pod_dir, "private-users-prepared")) as f:
        assert f.read().strip() == f"{shift}:{count}"
    # every entry of the copied trees shifted exactly once (directories too)
    rootfs = os.path.join(pod_dir, "stage1", "rootfs", "opt", "stage2", "busybox", "rootfs")
    for rel in ("", "bin", "etc", "bin/busybox"):
        assert os.lstat(os.path.join(rootfs, rel)).st_uid == shift, rel
    assert os.lstat(os.path.join(pod_dir, "stage1", "rootfs", "rkt")).st_uid == shift
    vol = os.path.join(pod_dir, "sharedVolumes", "v")
    assert os.stat(vol).st_uid == shift and os.stat(os.path.join(vol, "f")).st_uid == shift


def test_private_users_enter_joins_the_pods_user_namespace(pods):
    proc = subprocess.Popen(pods.argv("--insecure-options=image", "run", pods.stage1,
                                      "--net=host", "--no-overlay", "--private-users",
                                      "example.com/busybox", "--exec", "/bin/sleep", "--",
                                      "60"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        uuid = wait_running(pods)
        pod_dir = os.path.join(pods.data, "pods", "run", uuid)
        with open(os.path.join(pod_dir, "private-users-prepared")) as f:
            shift = int(f.read().split(":")[0])
        r = pods("enter", uuid, "/bin/sh", "-c", "cat /proc/self/uid_map; id -u", input="")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[:3] == ["0", str(shift), "65536"], r.stdout
        assert r.stdout.split()[-1] == "0"
        # the app's processes are the shifted uid on the host, never host root
        ppid = int(open(os.path.join(pod_dir, "ppid")).read())
        with open(f"/proc/{ppid}/task/{ppid}/children") as f:
            pid1 = int(f.read().split()[0])
        with open(f"/proc/{pid1}/task/{pid1}/children") as f:
            app_pid = int(f.read().split()[0])
        with open(f"/proc/{app_pid}/status") as f:
            uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
        assert uids == [str(shift)] * 4
        pods.ok("stop", uuid)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# What the stage0 of `rkt run` may not import (DESIGN: "imports only what that command
# needs"): each costs milliseconds on every pod start, and the run path has fast ways
# around them (rktfast.fastjson, string tests, rktfast._sqlite, rktfast._syscalls).
HEAVY_MODULES = {"json", "re", "enum", "ctypes", "datetime", "sqlite3", "_sqlite3", "functools",
                 "collections", "hashlib", "platform", "importlib.util", "typing", "dataclasses",
                 "subprocess", "tempfile", "shutil",
                 # a plain image name needs no query-string parsing (appc.types)
                 "rktfast.appc.querystring"}


def test_run_imports_no_heavy_module(pods):
    from conftest import rkt_command

    # the default stage1 (the one installed with rktfast): the first run imports it into
    # the store, the second is the common case that is measured
    cmd = rkt_command()
    args = pods.argv("--insecure-options=image", "run", "--net=host",
                     "example.com/busybox", "--exec", "/bin/true")[len(cmd):]
    first = pods(*args[3:], input="", timeout=60)
    assert first.returncode == 0, first.stderr
    if len(cmd) == 1:  # an installed rkt: run its Python script under its own interpreter
        script = cmd[0]
        with open(script, "rb") as f:
            if f.read(4) == b"\x7fELF":  # the native front end hands Python's part to this
                script = os.path.join(os.path.dirname(script), "rkt-python")
        with open(script) as f:
            shebang = f.readline()
        # the interpreter and its flags (install.sh's launchers use -IS)
        python = shebang[2:].split() if shebang.startswith("#!") else [sys.executable]
        launcher, cwd = [*python, "-X", "importtime", script], None
    else:  # `python -m rktfast` from a checkout: the same without runpy's own imports
        python = [cmd[0]]
        launcher = [*python, "-X", "importtime", "-c",
                    "import sys\nfrom rktfast.cli.main import main\n"
                    "sys.argv = ['rkt'] + sys.argv[1:]\nsys.exit(main())\n"]
        cwd = REPO

    def imports(*argv: str) -> set[str]:
        r = subprocess.run([*argv], capture_output=True, text=True, timeout=60, input="",
                           cwd=cwd)
        assert r.returncode == 0, r.stderr
        return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}

    # what the interpreter's own start-up loads (site, .pth files) is not rkt's doing
    startup = imports(*python, "-X", "importtime", "-c", "pass")
    imported = imports(*launcher, *args) - startup
    assert "rktfast.stage1.stage0" in imported  # the measurement saw the run path
    assert not HEAVY_MODULES & imported, sorted(HEAVY_MODULES & imported)
    # nor do the commands that tools and schedulers poll or run periodically
    uuid = pods.ok("list", "--no-legend", "--full").stdout.split()[0]
    for module, command in (("list", ["list"]), ("list", ["list", "--format=json"]),
                            ("status", ["status", uuid]), ("image_list", ["image", "list"]),
                            ("cat_manifest", ["cat-manifest", uuid]),
                            ("gc", ["gc"])):  # last: it marks the pod as garbage
        imported = imports(*launcher, *args[:3], *command) - startup
        assert f"rktfast.cli.{module}" in imported
        assert not HEAVY_MODULES & imported, (command, sorted(HEAVY_MODULES & imported))


def test_inherit_env_passes_the_users_environment_unchanged(pods):
    """Started without any locale variable (cron, CI, a service), Python would add
    LC_CTYPE=C.UTF-8 to its own environment; apps that inherit it must not see it."""
    base = {"PATH": os.environ["PATH"], "MARKER": "m1"}
    for extra, want in (({}, None), ({"LC_CTYPE": "C.UTF-8"}, "C.UTF-8"),
                        ({"LANG": "C"}, None)):
        r = pods("--insecure-options=image", "run", pods.stage1, "--inherit-env", "--net=host",
                 "example.com/busybox", "--exec", "/bin/sh", "--", "-c", "env",
                 input="", timeout=60, env={**base, **extra})
        assert r.returncode == 0, r.stderr
        env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        assert env.get("MARKER") == "m1"
        assert env.get("LC_CTYPE") == want, (extra, env)
        assert env.get("LANG") == extra.get("LANG")
