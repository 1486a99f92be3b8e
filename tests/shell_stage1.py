"""A stage1 image made of shell scripts, to prove that stage0 drives any conforming stage1.

Its entrypoints record how stage0 called them (argv, environment, working directory, what
``RKT_LOCK_FD`` points at) in the pod directory, and, when ``RKTFAST_TEST_LOG`` is set, in
``$RKTFAST_TEST_LOG/<uuid>.<entrypoint>`` too (the pod directory is gone after gc). ``init``
runs the apps one after the other with ``chroot`` (host tools; /usr/bin/python3 only reads the
pod manifest), writes ``rkt/status/<app>`` and exits with the first failing app's status.

    python3 tests/shell_stage1.py --out shell-stage1.aci
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

NAME = "example.com/rktfast/stage1-shell"

RECORD = r'''
record() {  # record <entrypoint> <args...>
    ep=$1; shift
    uuid=$(basename "$(pwd)")
    {
        echo "argv:"; for a in "$@"; do printf '  %s\n' "$a"; done
        echo "cwd: $(pwd)"
        echo "pid: $$"
        if [ -n "$RKT_LOCK_FD" ]; then
            echo "lockfd: $RKT_LOCK_FD -> $(readlink /proc/self/fd/$RKT_LOCK_FD)"
        fi
        echo "env:"; env | sort | sed 's/^/  /'
    } > "stage1-$ep.log" 2>/dev/null
    if [ -n "$RKTFAST_TEST_LOG" ]; then
        cp "stage1-$ep.log" "$RKTFAST_TEST_LOG/$uuid.$ep" 2>/dev/null || true
    fi
}
'''

INIT = r'''#!/bin/sh
# stage1 "run" entrypoint: exec'd by stage0 in place, cwd = the pod directory.
''' + RECORD + r'''
record init "$@"
echo $$ > pid
net=default
for a in "$@"; do
    case "$a" in --net=*) net=${a#--net=} ;; esac
done
case "$net" in
    host|none) ;;
    *) echo "stage1: failed to setup network" >&2; exit 254 ;;
esac
[ -n "$RKTFAST_TEST_HOLD" ] && sleep "$RKTFAST_TEST_HOLD"
ln -sf ready stage1/rootfs/rkt/supervisor-status
/usr/bin/python3 - > stage1-cmds <<'EOF'
import json, shlex
pm = json.load(open("pod"))
for ra in pm["apps"]:
    app = ra.get("app") or {}
    env = ["%s=%s" % (e["name"], e["value"]) for e in app.get("environment") or []]
    env.append("AC_APP_NAME=" + ra["name"])
    root = "stage1/rootfs/opt/stage2/%s/rootfs" % ra["name"]
    cmd = ["env", "-i"] + env + ["/usr/sbin/chroot", root] + list(app.get("exec") or [])
    print(shlex.quote(ra["name"]) + " " + " ".join(shlex.quote(c) for c in cmd))
EOF
rc=0
while read -r name cmd; do
    eval "$cmd" </dev/null
    code=$?
    echo $code > "stage1/rootfs/rkt/status/$name"
    if [ $code -ne 0 ] && [ $rc -eq 0 ]; then rc=$code; fi
done < stage1-cmds
exit $rc
'''

ENTER = r'''#!/bin/sh
# stage1 "enter" entrypoint: --pid=P --appname=A -- CMD...
''' + RECORD + r'''
record enter "$@"
app=
while [ $# -gt 0 ]; do
    case "$1" in
        --appname=*) app=${1#--appname=} ;;
        --) shift; break ;;
    esac
    shift
done
exec chroot "stage1/rootfs/opt/stage2/$app/rootfs" "$@"
'''

GC = r'''#!/bin/sh
# stage1 "gc" entrypoint: [--debug] [--local-config DIR] UUID, cwd = the pod directory.
''' + RECORD + r'''
record gc "$@"
exit 0
'''

STOP = r'''#!/bin/sh
# stage1 "stop" entrypoint: [--force] UUID
''' + RECORD + r'''
record stop "$@"
sig=TERM
[ "$1" = "--force" ] && sig=KILL
pid=$(cat pid)
for c in $(cat /proc/$pid/task/$pid/children 2>/dev/null); do kill -$sig $c 2>/dev/null; done
kill -$sig $pid 2>/dev/null
exit 0
'''


def build(out: str, version: str = "0.1.0", interface_version: str | None = "5",
          name: str = NAME) -> str:
    from rktfast.appc.aci_builder import build_aci, dir_entry, file_entry

    annotations = [
        {"name": "coreos.com/rkt/stage1/run", "value": "/init"},
        {"name": "coreos.com/rkt/stage1/enter", "value": "/enter"},
        {"name": "coreos.com/rkt/stage1/gc", "value": "/gc"},
        {"name": "coreos.com/rkt/stage1/stop", "value": "/stop"},
    ]
    if interface_version is not None:
        annotations.append({"name": "coreos.com/rkt/stage1/interface-version",
                            "value": interface_version})
    manifest = {
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
        "labels": [{"name": "version", "value": version}, {"name": "os", "value": "linux"},
                   {"name": "arch", "value": "amd64"}],
        "annotations": annotations,
    }
    entries = [dir_entry("rootfs"), dir_entry("rootfs/rkt"), dir_entry("rootfs/rkt/status"),
               dir_entry("rootfs/etc"), dir_entry("rootfs/opt"),
               file_entry("rootfs/etc/hosts-fallback",
                          b"127.0.0.1 localhost\n::1 localhost\n"),
               file_entry("rootfs/init", INIT.encode(), 0o755),
               file_entry("rootfs/enter", ENTER.encode(), 0o755),
               file_entry("rootfs/gc", GC.encode(), 0o755),
               file_entry("rootfs/stop", STOP.encode(), 0o755)]
    return build_aci(entries, json.dumps(manifest).encode(), out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="shell-stage1.aci")
    ap.add_argument("--interface-version", default="5")
    a = ap.parse_args()
    print(build(a.out, interface_version=a.interface_version))


if __name__ == "__main__":
    main()
