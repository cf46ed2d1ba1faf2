#!/usr/bin/env bash
# The whole test suite: starts the databases, then runs every test against them.
#   scripts/test.sh            # everything
#   scripts/test.sh -- NAME    # only tests whose name contains NAME
# CUTOVER_CORPUS=../shared/corpus adds the check over real migration files from public projects.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

export CUTOVER_TEST_PG_URL=${CUTOVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export CUTOVER_TEST_PG_PASSWORD_USER=${CUTOVER_TEST_PG_PASSWORD_USER:-cutover_pw}

cargo test --workspace --locked "$@"
