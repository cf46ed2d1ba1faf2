#!/usr/bin/env bash
# The long fault-injection run: SIGKILL at seeded random points of `up` (transactional and
# not), `backfill`, `start`, `complete` and `rollback` on PostgreSQL and MariaDB, each trial
# checked against an undisturbed reference run (schema, data checksums, history, leftovers);
# plus the expand/contract kill trials. CI runs a short version of the same tests.
#
#   scripts/fault-injection.sh [TRIALS_PER_SCENARIO (40)] [SEED (random, printed)]
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-40}"
seed="${2:-$RANDOM$RANDOM}"
bash scripts/services.sh
echo "fault injection: $trials trials per scenario, seed $seed (rerun with: $0 $trials $seed)"
CUTOVER_FAULT_TRIALS="$trials" CUTOVER_FAULT_SEED="$seed" \
CUTOVER_EXPAND_TRIALS="$trials" CUTOVER_EXPAND_SEED="$seed" \
  cargo test -p cutover --test it -- --nocapture --test-threads 1 \
    reliability::sigkill expand::sigkill 2>&1 | grep -E "fault injection|SIGKILL trials|reference:|^test |panicked|test result"
