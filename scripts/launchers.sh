#!/usr/bin/env bash
# Write rktfast's own launchers into $PREFIX/bin (over pip's console scripts) and link rkt
# and rktfast from /usr/local/bin. install.sh runs this; run it again after a bare
# `$PREFIX/bin/pip install .`, which puts pip's back.
#
#   rkt, rktfast   the native front end (native/stage0): the common `rkt run` without the
#                  Python interpreter; it hands every other command line to rkt-python.
#   rkt-python     the Python rkt. pip's launchers run site.py, which lists site-packages
#                  and executes its .pth files, on every rkt command (~3 ms); this one runs
#                  Python with -I (no PYTHON* variables and no current directory on
#                  sys.path: rkt runs as root) and -S, with only the venv's site-packages
#                  on sys.path.
set -euo pipefail
PREFIX=${RKTFAST_PREFIX:-/opt/rktfast}
SRC=$(cd "$(dirname "$0")/../native/stage0" && pwd)
site=$("$PREFIX/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')

cat > "$PREFIX/bin/.rkt-python.new" <<EOF
#!$PREFIX/bin/python3 -IS
import sys
sys.path.append("$site")
from rktfast.cli.main import main
sys.exit(main())
EOF
chmod 755 "$PREFIX/bin/.rkt-python.new"
mv -f "$PREFIX/bin/.rkt-python.new" "$PREFIX/bin/rkt-python"

make -s -C "$SRC" OUT="$PREFIX/bin/.rkt.new" PYTHON_LAUNCHER="$PREFIX/bin/rkt-python" \
  PACKAGE_DIR="$site/rktfast"
for name in rkt rktfast; do
  cp -f "$PREFIX/bin/.rkt.new" "$PREFIX/bin/.$name.tmp"
  mv -f "$PREFIX/bin/.$name.tmp" "$PREFIX/bin/$name"
  ln -sf "$PREFIX/bin/$name" "/usr/local/bin/$name"
done
rm -f "$PREFIX/bin/.rkt.new"
