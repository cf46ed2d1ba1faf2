#!/usr/bin/env bash
# cutover's main job on the embedded SQLite default, on a fresh machine: installs what the
# build needs beyond Rust and a C compiler (OpenSSL's headers and pkg-config, for TLS to
# servers), then applies the example shop's migrations to examples/shop/shop.db and shows their
# state.
#   bash scripts/demo.sh            # up, then status
#   bash scripts/demo.sh down --steps 3   # any cutover command, with the example's settings
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pkg-config >/dev/null 2>&1 || ! [ -f /usr/include/openssl/ssl.h ]; then
  echo "demo: installing pkg-config and libssl-dev (TLS to database servers)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pkg-config libssl-dev >/dev/null
fi
if [ $# -eq 0 ]; then
  cargo run --quiet -- --config examples/shop/cutover.toml up
  cargo run --quiet -- --config examples/shop/cutover.toml status
else
  cargo run --quiet -- --config examples/shop/cutover.toml "$@"
fi
