#!/usr/bin/env bash
# Run the whole test suite against the installed rktfast (see scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${RKTFAST_PREFIX:-/opt/rktfast}
exec "$PREFIX/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
