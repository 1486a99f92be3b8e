#!/usr/bin/env bash
# Install rktfast and everything it needs on Debian 12, from scratch (run as root).
#   - Debian packages: build tools, libraries the native code links, the tools tests use;
#   - a virtualenv in $RKTFAST_PREFIX (default /opt/rktfast) with rktfast built from this tree;
#   - /usr/local/bin/rkt and /usr/local/bin/rktfast pointing into it.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${RKTFAST_PREFIX:-/opt/rktfast}
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential python3 python3-dev python3-venv pkg-config
  libcap-dev libseccomp-dev libjansson-dev libsqlite3-dev
  busybox-static gnupg gpgv sqv appc-spec
  libarchive-tools umoci crun runc systemd-container
  zstd xz-utils bzip2 iproute2 iptables iputils-ping containernetworking-plugins util-linux
  golang-go golang-github-appc-spec-dev docker-registry skopeo apache2-utils openssl curl
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x "$PREFIX/bin/python" ]; then
  "$PY" -m venv "$PREFIX"
fi
"$PREFIX/bin/pip" install -q --upgrade pip
"$PREFIX/bin/pip" install -q ".[test]"
ln -sf "$PREFIX/bin/rkt" /usr/local/bin/rkt
ln -sf "$PREFIX/bin/rktfast" /usr/local/bin/rktfast
echo "rktfast installed in $PREFIX; rkt is $(command -v rkt)"
