"""The native stage1 run entrypoint, driven directly on hand-built pod dirs (root only)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from stage1_pods import PodFactory, app, memory_isolator

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="stage1 needs root")]


@pytest.fixture
def pods(tmp_path):
    f = PodFactory(str(tmp_path))
    yield f
    f.cleanup()


def assert_nothing_left(pod):
    """No mounts below the pod dir, and (soon) no cgroups: after the pod's exit
    status is reported the stage1 removes its cgroups from a detached child."""
    assert pod.mounts_below() == []
    for _ in range(100):
        if not pod.cgroup_dirs():
            break
        time.sleep(0.02)
    assert pod.cgroup_dirs() == []


def test_single_app_exit_code_is_the_pod_exit_code(pods):
    pod = pods.new([app("hello", ["/bin/sh", "-c", "echo hi; exit 3"])])
    r = pod.run()
    assert r.returncode == 3, r.stderr
    assert r.stdout == "hi\n"
    assert pod.app_status("hello") == "3"
    assert int(open(os.path.join(pod.path, "ppid")).read()) > 0
    assert "machine-rkt\\x2d" + pod.uuid in open(os.path.join(pod.path, "subcgroup")).read()
    assert_nothing_left(pod)


def test_zero_exit(pods):
    pod = pods.new([app("t", ["/bin/true"])])
    assert pod.run().returncode == 0
    assert pod.app_status("t") == "0"


def test_first_failing_app_status_wins_and_stops_the_others(pods):
    pod = pods.new([
        app("first", ["/bin/sh", "-c", "sleep 0.2; exit 0"]),
        app("second", ["/bin/sh", "-c", "sleep 0.6; exit 5"]),
        app("third", ["/bin/sleep", "30"]),
    ])
    t = time.monotonic()
    r = pod.run()
    assert r.returncode == 5, r.stderr
    assert time.monotonic() - t < 10
    assert [pod.app_status(a) for a in ("first", "second", "third")] == ["0", "5", "0"]
    assert_nothing_left(pod)


def test_app_runs_as_child_of_the_pods_pid1_in_a_pid_namespace(pods):
    pod = pods.new([app("p", ["/bin/sh", "-c", "echo $$ $PPID; ls /proc | grep -c '^[0-9]'"])])
    r = pod.run()
    assert r.returncode == 0, r.stderr
    pid, ppid = r.stdout.split()[:2]
    assert ppid == "1" and int(pid) > 1
    assert int(r.stdout.split()[2]) <= 4  # init, sh, ls, grep


def test_environment_defaults_and_precedence_seen_through_enter(pods):
    pod = pods.new([app("env", ["/bin/sleep", "30"],
                        env={"FOO": "bar", "HOME": "/home/x", "AC_APP_NAME": "spoofed"})])
    pod.start()
    try:
        r = pod.enter("env", "/bin/env")
        assert r.returncode == 0, r.stderr
        env = dict(line.split("=", 1) for line in r.stdout.splitlines())
        assert env["FOO"] == "bar"
        assert env["HOME"] == "/home/x"  # image/user value beats the default
        assert env["AC_APP_NAME"] == "env"
        assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        assert env["SHELL"] == "/bin/sh" and env["USER"] == "root" and env["LOGNAME"] == "root"
        r = pod.enter("env", "/bin/sh", "-c", "exit 7")
        assert r.returncode == 7
        r = pod.enter("env", "/bin/sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '")
        assert r.stdout.splitlines()[0] == f"rkt-{pod.uuid}"
    finally:
        pod.stop()
        assert pod.proc.wait(timeout=20) == 0
    assert pod.app_status("env") == "0"


def test_hostname_and_etc_files(pods):
    pod = pods.new([app("h", ["/bin/sh", "-c", "hostname; cat /etc/hostname; cat /etc/hosts"])])
    r = pod.run()
    lines = r.stdout.splitlines()
    assert lines[0] == lines[1] == f"rkt-{pod.uuid}"
    assert "localhost" in r.stdout
    pod = pods.new([app("h", ["/bin/hostname"])])
    assert pod.run("--hostname=custom").stdout == "custom\n"


def test_image_etc_hosts_is_kept_and_rkt_hosts_wins(pods):
    pod = pods.new([app("h", ["/bin/cat", "/etc/hosts"])])
    with open(os.path.join(pod.app_root("h"), "etc", "hosts"), "w") as f:
        f.write("10.0.0.1 image-host\n")
    assert pod.run().stdout == "10.0.0.1 image-host\n"
    pod = pods.new([app("h", ["/bin/cat", "/etc/hosts", "/etc/resolv.conf"])])
    with open(os.path.join(pod.stage1_root, "etc", "rkt-hosts"), "w") as f:
        f.write("1.2.3.4 from-stage0\n")
    with open(os.path.join(pod.stage1_root, "etc", "rkt-resolv.conf"), "w") as f:
        f.write("nameserver 9.9.9.9\n")
    r = pod.run("--dns-conf-mode=resolv=stage0,hosts=stage0")
    assert r.stdout == "1.2.3.4 from-stage0\nnameserver 9.9.9.9\n", r.stderr


def test_users_and_groups_by_number_name_and_path(pods):
    pod = pods.new([
        app("byname", ["/bin/id"], user="user", group="staff", supplementary_gids=[100, 1000]),
        app("bynum", ["/bin/id"], user="4242", group="4343"),
        app("bypath", ["/bin/id", "-u"], user="/etc/passwd", group="/etc/passwd"),
    ])
    os.chown(os.path.join(pod.app_root("bypath"), "etc", "passwd"), 77, 88)
    r = pod.run()
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "uid=1000(user) gid=50(staff) groups=100(users),1000(user)" in out
    assert "uid=4242 gid=4343" in out
    assert "77\n" in out


def test_unknown_user_is_a_clear_error(pods):
    pod = pods.new([app("u", ["/bin/true"], user="nosuchuser")])
    r = pod.run()
    assert r.returncode != 0
    assert 'unknown user "nosuchuser"' in r.stderr
    assert_nothing_left(pod)


def test_missing_exec_diagnostic(pods):
    pod = pods.new([app("m", ["/nonexistent"])])
    r = pod.run()
    assert r.returncode != 0
    assert 'Error: Unable to open "/nonexistent": No such file or directory' in r.stderr


def test_working_directory_and_read_only_rootfs(pods):
    pod = pods.new([app("w", ["/bin/sh", "-c", "pwd; touch /x 2>/dev/null && echo rw || echo ro"],
                        working_dir="/tmp", read_only_rootfs=True)])
    assert pod.run().stdout == "/tmp\nro\n"


def test_empty_volume_shared_between_two_apps_and_host_volume(pods, tmp_path):
    host = tmp_path / "hostvol"
    host.mkdir()
    (host / "data").write_text("from host\n")
    vols = [{"name": "shared", "kind": "empty", "mode": "0770", "uid": 1000, "gid": 1000},
            {"name": "hv", "kind": "host", "source": str(host), "readOnly": True}]
    pod = pods.new([
        app("writer", ["/bin/sh", "-c", "echo hello > /shared/.msg && mv /shared/.msg /shared/msg"],
            mounts=[{"volume": "shared", "path": "/shared"}]),
        app("reader", ["/bin/sh", "-c",
                       "for i in $(seq 50); do [ -f /shared/msg ] && break; sleep 0.1; done; "
                       "cat /shared/msg; stat -c '%a %u %g' /shared; cat /hv/data; "
                       "touch /hv/x 2>/dev/null && echo writable || echo readonly"],
            mounts=[{"volume": "shared", "path": "/shared"}, {"volume": "hv", "path": "/hv"}]),
    ], volumes=vols)
    r = pod.run()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello\n770 1000 1000\nfrom host\nreadonly\n"
    assert (tmp_path / "pods" / "run" / pod.uuid / "sharedVolumes" / "shared" / "msg").exists()
    assert not (host / "x").exists()
    assert_nothing_left(pod)


def test_memory_limit_kills_an_app_that_exceeds_it(pods):
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"
    pod = pods.new([app("hog", ["/bin/sh", "-c", hog], isolators=[memory_isolator("32M")])])
    r = pod.run(timeout=120)
    assert r.returncode == 137, (r.returncode, r.stdout, r.stderr)
    assert "survived" not in r.stdout
    assert pod.app_status("hog") == "137"
    assert_nothing_left(pod)


def test_resource_isolators_reach_the_app_cgroup(pods):
    iso = [memory_isolator("64Mi"), {"name": "resource/cpu", "value": {"limit": "500m"}},
           {"name": "os/linux/cpu-shares", "value": 512},
           {"name": "os/linux/oom-score-adj", "value": 123}]
    pod = pods.new([app("c", ["/bin/sh", "-c", "cat /proc/self/oom_score_adj; sleep 30"],
                        isolators=iso)])
    pod.start()
    try:
        assert pod.proc.stdout.readline().decode().strip() == "123"
        dirs = pod.cgroup_dirs()
        assert dirs
        mem = [d for d in dirs if d.startswith("/sys/fs/cgroup/memory/")]
        cpu = [d for d in dirs if d.startswith("/sys/fs/cgroup/cpu/")]
        if mem:
            v = open(os.path.join(mem[0], "system.slice/c.service/memory.limit_in_bytes")).read()
            assert int(v) == 64 * 1024 * 1024
        if cpu:
            app_cg = os.path.join(cpu[0], "system.slice/c.service")
            assert open(os.path.join(app_cg, "cpu.cfs_quota_us")).read().strip() == "50000"
            assert open(os.path.join(app_cg, "cpu.shares")).read().strip() == "512"
    finally:
        pod.stop()
        pod.proc.communicate(timeout=20)
    assert_nothing_left(pod)


def test_a_hierarchy_mounted_elsewhere_is_found_in_mountinfo(pods, tmp_path):
    """The stage1 looks for each hierarchy at /sys/fs/cgroup/<controllers> first and reads
    mountinfo only when one is not there. Here, in a private mount namespace, the pids
    hierarchy is mounted at another path only: the app still gets its pids cgroup."""
    if not os.path.ismount("/sys/fs/cgroup/pids"):
        pytest.skip("this host has no v1 pids hierarchy at /sys/fs/cgroup/pids to move")
    alt = tmp_path / "pids-elsewhere"
    alt.mkdir()
    pod = pods.new([app("c", ["/bin/sleep", "30"])])
    lock = pod._lock()
    try:  # unshare and sh exec: the stage1 keeps the PID, as stage0 would
        pod.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'umount -l /sys/fs/cgroup/pids && mount -t cgroup -o pids cgroup "$0" && '
             'exec "$@"', str(alt), pod.entrypoint("init"), "--net=host", pod.uuid],
            cwd=pod.path, env=dict(os.environ, RKT_LOCK_FD=str(lock)), pass_fds=[lock],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        os.close(lock)
    try:
        pid1 = pod.pod_pid1()
        for _ in range(100):
            with open(f"/proc/{pid1}/task/{pid1}/children") as f:
                apps = [int(x) for x in f.read().split()]
            if apps:
                break
            time.sleep(0.02)
        scope = f"machine-rkt\\x2d{pod.uuid}.scope"
        assert _cgroups_of(pid1)["pids"].endswith(scope)
        assert _cgroups_of(apps[0])["pids"].endswith(f"{scope}/system.slice/c.service")
    finally:
        pod.stop()
        out, err = pod.proc.communicate(timeout=20)
    assert pod.proc.returncode == 0, err
    assert_nothing_left(pod)


def _cgroups_of(pid: int) -> dict[str, str]:
    """/proc/PID/cgroup as {hierarchy: path}, "" for the v2 one (read from the host);
    without cpuset, which the stage1 leaves alone (no isolator uses it)."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls != "cpuset":
                out[ctrls] = path
    return out


def test_pid1_and_apps_are_in_their_cgroups_on_every_hierarchy(pods):
    """Every process is born in, or joins by itself, its cgroup (the fast ways): still,
    on each v1 hierarchy and on v2, PID 1 is in the pod cgroup (v2: init.scope) and each
    app's process in system.slice/<app>.service, with no thread left behind."""
    pod = pods.new([app("a", ["/bin/sleep", "30"]), app("b", ["/bin/sleep", "30"])])
    pod.start()
    try:
        pid1 = pod.pod_pid1()
        scope = f"machine-rkt\\x2d{pod.uuid}.scope"
        for _ in range(100):
            with open(f"/proc/{pid1}/task/{pid1}/children") as f:
                apps = [int(x) for x in f.read().split()]
            if len(apps) == 2:
                break
            time.sleep(0.02)
        assert len(apps) == 2
        hierarchies = _cgroups_of(pid1)
        assert len(hierarchies) > 1
        for ctrls, path in hierarchies.items():
            want = f"{scope}/init.scope" if ctrls == "" else scope
            assert path.endswith(want), (ctrls, path)
        names = set()
        for pid in apps:
            cgs = _cgroups_of(pid)
            assert cgs.keys() == hierarchies.keys()
            services = {path.rsplit("/", 1)[-1] for path in cgs.values()}
            assert len(services) == 1, cgs
            service = services.pop()
            for path in cgs.values():
                assert path.endswith(f"{scope}/system.slice/{service}"), cgs
            names.add(service)
        assert names == {"a.service", "b.service"}
    finally:
        pod.stop()
        pod.proc.communicate(timeout=20)
    assert_nothing_left(pod)


def test_masked_and_read_only_paths(pods):
    script = ("wc -c < /proc/kallsyms; ls /sys/firmware | wc -l; "
              "echo core > /proc/sys/kernel/core_pattern 2>/dev/null && echo w1 || echo ro1; "
              "touch /sys/x 2>/dev/null && echo w2 || echo ro2; ls /dev | tr '\\n' ' '")
    pod = pods.new([app("m", ["/bin/sh", "-c", script])])
    r = pod.run()
    lines = r.stdout.splitlines()
    assert lines[:4] == ["0", "0", "ro1", "ro2"], r.stdout + r.stderr
    devs = set(lines[4].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
            "fd", "stdin", "stdout", "stderr"} <= devs
    assert not {"sda", "vda", "mem", "kmsg"} & devs


def test_disable_paths_shows_them(pods):
    pod = pods.new([app("m", ["/bin/sh", "-c", "ls /sys/firmware >/dev/null && echo visible"])])
    assert pod.run("--disable-paths").stdout == "visible\n"


def test_default_capabilities_and_isolators(pods):
    def capeff(isolators=None, user="0", flags=()):
        pod = pods.new([app("c", ["/bin/sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status"],
                            isolators=isolators, user=user)])
        r = pod.run(*flags)
        assert r.returncode == 0, r.stderr
        return {ln.split()[0][:-1]: int(ln.split()[1], 16) for ln in r.stdout.splitlines()}

    default = capeff()
    assert default["CapEff"] == default["CapBnd"] == 0xa80425fb
    retain = capeff([{"name": "os/linux/capabilities-retain-set",
                      "value": {"set": ["CAP_NET_ADMIN", "CAP_CHOWN"]}}])
    assert retain["CapEff"] == (1 << 12) | 1
    remove = capeff([{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_CHOWN"]}}])
    assert remove["CapEff"] == 0xa80425fb & ~1
    nonroot = capeff(user="1000")
    assert nonroot["CapEff"] == 0 and nonroot["CapBnd"] == 0xa80425fb
    assert capeff(flags=("--disable-capabilities-restriction",))["CapEff"] > 0xa80425fb


def test_seccomp_remove_set_with_errno_and_no_new_privs(pods):
    iso = [{"name": "os/linux/seccomp-remove-set",
            "value": {"set": ["fchmodat", "chmod"], "errno": "EACCES"}},
           {"name": "os/linux/no-new-privileges", "value": True}]
    pod = pods.new([app("s", ["/bin/sh", "-c", "touch /tmp/f; chmod 600 /tmp/f; echo rc=$?; "
                                               "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"],
                        isolators=iso)])
    r = pod.run()
    assert "rc=1" in r.stdout and "Permission denied" in r.stderr
    assert "NoNewPrivs:\t1" in r.stdout and "Seccomp:\t2" in r.stdout


def test_default_seccomp_filter_is_on_and_can_be_disabled(pods):
    pod = pods.new([app("s", ["/bin/grep", "^Seccomp:", "/proc/self/status"])])
    assert pod.run().stdout == "Seccomp:\t2\n"
    pod = pods.new([app("s", ["/bin/grep", "^Seccomp:", "/proc/self/status"])])
    assert pod.run("--disable-seccomp").stdout == "Seccomp:\t0\n"


def test_pre_start_as_root_and_post_stop(pods):
    vols = [{"name": "out", "kind": "empty"}]
    pod = pods.new([app("h", ["/bin/sh", "-c", "cat /tmp/pre; id -u"], user="1000", group="1000",
                        pre_start=["/bin/sh", "-c", "id -u > /tmp/pre"],
                        post_stop=["/bin/sh", "-c", "echo stopped > /out/post"],
                        mounts=[{"volume": "out", "path": "/out"}])], volumes=vols)
    r = pod.run()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0\n1000\n"
    assert open(os.path.join(pod.path, "sharedVolumes", "out", "post")).read() == "stopped\n"


def test_net_none_has_only_loopback_and_default_net_is_refused(pods):
    pod = pods.new([app("n", ["/bin/sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/operstate"])])
    r = pod.run(net="none")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "lo" and len(r.stdout.split()) == 2
    pod = pods.new([app("n", ["/bin/true"])])
    r = pod.run(net="default")
    assert r.returncode != 0
    assert "stage1: failed to setup network" in r.stderr
    assert_nothing_left(pod)


def test_stop_is_orderly_and_force_kills(pods):
    pod = pods.new([app("s", ["/bin/sleep", "60"]), app("t", ["/bin/sleep", "60"])])
    pod.start()
    pod.wait_for_file("ppid")
    assert pod.is_locked()
    assert pod.stop().returncode == 0
    assert pod.proc.wait(timeout=20) == 0
    assert pod.app_status("s") == "0" and pod.app_status("t") == "0"
    assert not pod.is_locked()
    assert_nothing_left(pod)

    pod = pods.new([app("s", ["/bin/sleep", "60"])])
    pod.start()
    pod.wait_for_file("ppid")
    pid1 = pod.pod_pid1()
    assert pod.stop(force=True).returncode == 0
    assert pod.proc.wait(timeout=20) == -signal.SIGKILL
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid1}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid1}")


def test_stop_right_after_start_stops_the_pod(pods):
    """The stage1 writes ppid once its apps are started, and they can run before that: a
    stop in that window waits for ppid instead of returning having stopped nothing."""
    for _ in range(5):
        pod = pods.new([app("s", ["/bin/sleep", "30"])])
        pod.start()
        r = pod.stop()
        assert r.returncode == 0, r.stderr
        pod.proc.communicate(timeout=15)
        assert_nothing_left(pod)


def test_gc_after_kill_9_leaves_no_mounts_or_cgroups(pods):
    vols = [{"name": "v", "kind": "empty"}]
    pod = pods.new([app("s", ["/bin/sleep", "60"], mounts=[{"volume": "v", "path": "/v"}])],
                   volumes=vols)
    pod.start()
    pod.wait_for_file("ppid")
    assert pod.cgroup_dirs()
    os.kill(pod.proc.pid, signal.SIGKILL)
    pod.proc.wait()
    r = pod.gc()
    assert r.returncode == 0, r.stderr
    assert_nothing_left(pod)
    assert not pod.is_locked()


def test_hostile_symlink_at_proc_is_refused(pods, tmp_path):
    pod = pods.new([app("h", ["/bin/true"])])
    os.symlink("/", os.path.join(pod.app_root("h"), "proc"))
    r = pod.run()
    assert r.returncode != 0
    assert "/proc" in r.stderr and "symlink" in r.stderr
    assert_nothing_left(pod)


def test_hostile_symlinks_at_etc_hosts_and_volume_targets_stay_inside(pods, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    vols = [{"name": "v", "kind": "empty"}]
    pod = pods.new([app("h", ["/bin/sh", "-c", "cat /etc/hosts >/dev/null; echo ok > /vol/f"],
                        mounts=[{"volume": "v", "path": "/vol"}])], volumes=vols)
    root = pod.app_root("h")
    depth = "../" * 20
    os.symlink(f"{depth}{str(outside)[1:]}/hosts", os.path.join(root, "etc", "hosts"))
    os.symlink(f"/{depth}{str(outside)[1:]}", os.path.join(root, "vol"))
    os.symlink(f"{depth}{str(outside)[1:]}/hostname", os.path.join(root, "etc", "hostname"))
    r = pod.run()
    assert r.returncode == 0, r.stderr
    assert list(outside.iterdir()) == []
    # the links were resolved inside the app rootfs, where /vol's target is the volume
    assert not os.path.islink(os.path.join(root, str(outside)[1:]))
    assert os.path.isdir(os.path.join(root, str(outside)[1:]))
    shared = os.path.join(pod.path, "sharedVolumes", "v")
    assert sorted(os.listdir(shared)) == ["f", "hostname", "hosts"]
    assert_nothing_left(pod)


def test_invalid_pod_manifest_is_a_clear_error(pods):
    pod = pods.new([app("x", ["/bin/true"])])
    with open(os.path.join(pod.path, "pod"), "w") as f:
        f.write("{not json")
    r = pod.run()
    assert r.returncode == 254
    assert r.stderr.startswith("stage1: ") and "pod manifest" in r.stderr
    assert_nothing_left(pod)


def test_lock_fd_is_held_while_running(pods):
    pod = pods.new([app("s", ["/bin/sleep", "60"])])
    pod.start()
    pod.wait_for_file("ppid")
    assert pod.is_locked()
    os.kill(pod.proc.pid, signal.SIGTERM)  # what rkt stop / Nomad do
    assert pod.proc.wait(timeout=20) == 0
    assert not pod.is_locked()
