#!/usr/bin/env bash
# The whole test suite: starts the databases, then runs every test against them.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -- NAME    # only tests whose name contains NAME
# CUTOVER_CORPUS=../shared/corpus adds the check over real migration files from public projects.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

export CUTOVER_TEST_PG_URL=${CUTOVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export CUTOVER_TEST_PG_PASSWORD_USER=${CUTOVER_TEST_PG_PASSWORD_USER:-cutover_pw}
export CUTOVER_TEST_MYSQL_URL=${CUTOVER_TEST_MYSQL_URL:-mysql://cutover:cutover-test@127.0.0.1:3306/mysql}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "cutover: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
