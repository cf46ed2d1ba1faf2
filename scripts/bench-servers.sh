#!/usr/bin/env bash
# Sizes the local PostgreSQL and MariaDB for the backfill benchmark as a production server is
# sized, or puts back the packages' defaults (`--reset`).
#
# Debian's defaults are made for a laptop: PostgreSQL's shared_buffers is 128 MB and max_wal_size
# 1 GB, MariaDB's buffer pool 128 MB and redo log 96 MB. The benchmark's table (2,000,000 rows) is
# larger than either cache, and one pass over it writes more log than either limit: the server
# then checkpoints every few seconds, every page touched after a checkpoint is written to the log
# whole again, and every backend that needs a buffer writes out someone's dirty page first. What
# the load feels is that storm, whatever writes the rows: on this machine a rate-capped backfill
# at a quarter of a plain UPDATE's speed still gave the load a p99 14x its baseline. A server that
# holds a 200M-row table is not sized so; these settings are modest for the machine (24 GiB).
#
# Usage: scripts/bench-servers.sh [--reset]   (as the servers' owner or root, on this machine)
set -euo pipefail

PG_URL=${CUTOVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
MYSQL=(mysql -uroot)

if [[ ${1:-} == --reset ]]; then
    psql "$PG_URL" -qc "ALTER SYSTEM RESET shared_buffers" -c "ALTER SYSTEM RESET max_wal_size"
    "${MYSQL[@]}" -e "SET GLOBAL innodb_buffer_pool_size = 134217728; SET GLOBAL innodb_log_file_size = 100663296"
else
    psql "$PG_URL" -qc "ALTER SYSTEM SET shared_buffers = '2GB'" -c "ALTER SYSTEM SET max_wal_size = '8GB'"
    # Both are dynamic on MariaDB 10.11 (the redo log is resized in place).
    "${MYSQL[@]}" -e "SET GLOBAL innodb_buffer_pool_size = 2147483648; SET GLOBAL innodb_log_file_size = 1073741824"
fi
# shared_buffers is read at start only.
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main restart
for _ in $(seq 1 30); do
    pg_isready -q -d "$PG_URL" && break
    sleep 1
done
psql "$PG_URL" -Atc "SELECT 'PostgreSQL: shared_buffers ' || current_setting('shared_buffers') || ', max_wal_size ' || current_setting('max_wal_size')"
"${MYSQL[@]}" -Ne "SELECT CONCAT('MariaDB: innodb_buffer_pool_size ', @@innodb_buffer_pool_size DIV 1048576, ' MB, innodb_log_file_size ', @@innodb_log_file_size DIV 1048576, ' MB')"
