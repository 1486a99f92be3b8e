#!/usr/bin/env bash
# The main job: build the example busybox image, fetch it, run a real pod from it, list it.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${RKTFAST_PREFIX:-/opt/rktfast}
WORK=${RKTFAST_DEMO_DIR:-/var/tmp/rktfast-demo}
mkdir -p "$WORK"
"$PREFIX/bin/python" examples/build_busybox_aci.py --out "$WORK/busybox.aci" >/dev/null
RKT=(rkt --dir="$WORK/data" --local-config="$WORK/etc")
set -x
"${RKT[@]}" --insecure-options=image fetch "$WORK/busybox.aci"
"${RKT[@]}" image list
"${RKT[@]}" run --net=none example.com/busybox --exec /bin/sh -- \
    -c 'echo "hello from pod $(hostname), pid $$, user $(id -u)"; exit 3' || echo "pod exited $?"
"${RKT[@]}" list
"${RKT[@]}" gc --grace-period=0s >/dev/null
