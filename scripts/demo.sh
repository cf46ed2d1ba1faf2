#!/usr/bin/env bash
# cutover's main job on the embedded SQLite default, on a fresh machine: installs what the
# build needs (libclang for PostgreSQL's own parser, which the analysis uses), then applies the
# example shop's migrations to examples/shop/shop.db and shows their state.
#   bash scripts/demo.sh            # up, then status
#   bash scripts/demo.sh down --steps 3   # any cutover command, with the example's settings
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
  echo "demo: installing clang and libclang (the PostgreSQL parser's build needs them)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang libclang-dev >/dev/null
fi
if [ $# -eq 0 ]; then
  cargo run --quiet -- --config examples/shop/cutover.toml up
  cargo run --quiet -- --config examples/shop/cutover.toml status
else
  cargo run --quiet -- --config examples/shop/cutover.toml "$@"
fi
