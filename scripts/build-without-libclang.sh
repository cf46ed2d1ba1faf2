#!/usr/bin/env bash
# Builds the example application (examples/embedded-app) for one engine at a time, from a cold
# target folder, on this machine with libclang made unreachable: what an application's CI image
# without LLVM sees. Proves that embedding cutover needs Rust and a C compiler, nothing more, and
# prints each build's time and dependency count.
#
#   scripts/build-without-libclang.sh [FEATURE...]
#
# FEATURE is one of the example's engine features: sqlite, postgres, mysql (driver and grammar)
# or sqlite-driver, postgres-driver, mysql-driver (driver only: the migrations are judged by the
# cutover-review.<dialect>.json checked in beside them). Default: sqlite-driver postgres.
#
# libclang is hidden in a private mount namespace (root, `unshare -m`): an empty tmpfs over
# /usr/lib/llvm-*, /dev/null bound over every libclang*.so*. As a control, bindgen must then
# fail to load it (the vendored pg_query's bindings check, with CUTOVER_REQUIRE_LIBCLANG=1).
# A SQLite build is also run once against a fresh database file (it applies its two safe
# migrations and leaves the third, a column drop, pending) and once with a PostgreSQL URL
# (refused, with the feature to turn on).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--inside" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    echo "build-without-libclang: needs root and unshare (util-linux) to hide libclang" >&2
    exit 2
  fi
  exec unshare -m bash "$0" --inside "$@"
fi
shift
engines=("$@")
[ ${#engines[@]} -gt 0 ] || engines=(sqlite-driver postgres)

hidden=0
for dir in /usr/lib/llvm-*; do
  [ -d "$dir" ] && mount -t tmpfs none "$dir" && hidden=$((hidden + 1))
done
while IFS= read -r lib; do
  mount --bind /dev/null "$lib" && hidden=$((hidden + 1))
done < <(find /usr/lib /usr/local/lib /lib -type f -name 'libclang*.so*' 2>/dev/null)
echo "build-without-libclang: hid $hidden LLVM folders and libclang files"

# The control: with libclang hidden, bindgen cannot run.
if CUTOVER_REQUIRE_LIBCLANG=1 cargo test --locked -q -p cutover-bindings-check >/dev/null 2>&1; then
  echo "build-without-libclang: bindgen still found libclang; the check would prove nothing" >&2
  exit 1
fi
echo "build-without-libclang: control: bindgen cannot load libclang here"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for engine in "${engines[@]}"; do
  target="$work/target-$engine"
  deps=$(cargo tree --locked -p cutover-example-embedded-app --no-default-features --features "$engine" \
    -e normal,build --prefix none 2>/dev/null | sed 's/ (\*)//; s/ (proc-macro)//' | sort -u | wc -l)
  if cargo tree --locked -p cutover-example-embedded-app --no-default-features --features "$engine" \
    -e normal,build --prefix none 2>/dev/null | grep -qE '^(bindgen|clang-sys) '; then
    echo "build-without-libclang: the $engine build depends on bindgen" >&2
    exit 1
  fi
  start=$(date +%s)
  CARGO_TARGET_DIR="$target" cargo build --locked -q --release -p cutover-example-embedded-app \
    --no-default-features --features "$engine"
  seconds=$(($(date +%s) - start))
  echo "build-without-libclang: $engine: built cold in ${seconds} s, $deps crates (normal and build)"
  if [ "$engine" = sqlite ] || [ "$engine" = sqlite-driver ]; then
    report=$(DATABASE_URL="sqlite://$work/app-$engine.db" "$target/release/cutover-example-embedded-app" 2>&1)
    echo "$report" | sed 's/^/    /'
    grep -q "applied 2 migrations" <<<"$report" || { echo "build-without-libclang: the app did not migrate" >&2; exit 1; }
    # An engine left out is refused with the feature to turn on, not a panic.
    if refused=$(DATABASE_URL="postgres://app:secret@127.0.0.1:1/app" "$target/release/cutover-example-embedded-app" 2>&1); then
      echo "build-without-libclang: the SQLite build accepted a PostgreSQL URL" >&2
      exit 1
    fi
    echo "$refused" | sed 's/^/    /'
    grep -q "enable cutover-embed's \`postgres\` feature" <<<"$refused" || { echo "build-without-libclang: unclear refusal" >&2; exit 1; }
    ! grep -q secret <<<"$refused" || { echo "build-without-libclang: the password was printed" >&2; exit 1; }
  fi
done
