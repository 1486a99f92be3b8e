#!/usr/bin/env bash
# Run the whole test suite against the installed rktfast (see scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${RKTFAST_PREFIX:-/opt/rktfast}
# pytest (not python -m pytest): the tests import the installed rktfast, not the source tree.
exec "$PREFIX/bin/pytest" -q -p no:cacheprovider tests "$@"
