#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10; CI's short run). Needs a nightly
# toolchain and cargo-fuzz; installs cargo-fuzz when it is missing. Crashes are saved under
# fuzz/artifacts/<target>/ and make the script fail: turn each into a regression test.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-10}"
shift || true
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  # Seed the SQL targets with the repository's own migrations and rule examples.
  case "$target" in
    split_statements|analyze_postgres|analyze_mysql)
      find ../crates ../examples -name '*.sql' -size -16k 2>/dev/null | head -200 | while read -r f; do
        cp "$f" "corpus/$target/$(basename "$f")-$(cksum <"$f" | cut -d' ' -f1)"
      done ;;
  esac
  echo "fuzz: $target for ${seconds}s"
  # FUZZ_SEED makes a run repeatable (CI's short run): the same inputs, in the same order.
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096 \
    ${FUZZ_SEED:+-seed="$FUZZ_SEED"} 2>&1 \
    | grep -E "^(#[0-9]+\s+DONE|==[0-9]+==|SUMMARY|Done)|panicked|artifact" || true
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz: $target crashed: $(ls "artifacts/$target"/crash-*)" >&2
    exit 1
  fi
done
