#!/usr/bin/env bash
# Write rktfast's own rkt and rktfast launchers into $PREFIX/bin (over pip's console scripts)
# and link them from /usr/local/bin. install.sh runs this; run it again after a bare
# `$PREFIX/bin/pip install .`, which puts pip's back.
#
# pip's launchers run site.py, which lists site-packages and executes its .pth files, on
# every rkt command (~3 ms). Ours run Python with -I (no PYTHON* variables and no current
# directory on sys.path: rkt runs as root) and -S, and put only the venv's site-packages on
# sys.path.
set -euo pipefail
PREFIX=${RKTFAST_PREFIX:-/opt/rktfast}
site=$("$PREFIX/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
for name in rkt rktfast; do
  cat > "$PREFIX/bin/.$name.new" <<EOF
#!$PREFIX/bin/python3 -IS
import sys
sys.path.append("$site")
from rktfast.cli.main import main
sys.exit(main())
EOF
  chmod 755 "$PREFIX/bin/.$name.new"
  mv -f "$PREFIX/bin/.$name.new" "$PREFIX/bin/$name"
  ln -sf "$PREFIX/bin/$name" "/usr/local/bin/$name"
done
