#!/usr/bin/env bash
# Makes sure PostgreSQL and MariaDB are installed, configured for cutover's tests, and running,
# and that the build's system dependencies (libssl, libclang) are there.
# Idempotent: on a machine where they already run, it only checks and configures.
#
# What the tests need beyond a running server:
# - PostgreSQL: a role `cutover_pw` that must log in with a password over TCP (the wrong-password
#   test; the machine's default is trust auth), reachable at 127.0.0.1:5432 as `postgres`, and
#   replication connections from 127.0.0.1 (the replica-lag test starts a streaming replica).
# - MariaDB: reachable as root over the socket / 127.0.0.1:3306.
# - PgBouncer installed (not running: each pooler test starts its own, in transaction mode).
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql postgresql-contrib)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
# The build needs no libclang (pg_query's bindings are kept in vendor/pg_query); the test that
# regenerates them with bindgen and compares does.
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need_apt+=(clang libclang-dev)
# The adoption tests run Alembic and Knex themselves (installed from PyPI and npm below).
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
# The pooler tests start their own PgBouncer (transaction mode) in front of the server.
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need_apt+=(pgbouncer)
# The rewrite benchmark runs pg_repack beside `cutover rewrite`, for the server's version.
# ... and pt-online-schema-change beside it on MariaDB.
command -v pt-online-schema-change >/dev/null 2>&1 || need_apt+=(percona-toolkit)
command -v pg_repack >/dev/null 2>&1 || need_apt+=("postgresql-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)-repack")
# The Sqitch adoption test runs Sqitch itself (with its PostgreSQL driver).
command -v sqitch >/dev/null 2>&1 || need_apt+=(sqitch libdbd-pg-perl)
# The rehearsal report test opens the HTML report in headless Chromium and reads its screenshot.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# TLS tests make their own certificate authority.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- PostgreSQL -------------------------------------------------------------------------------
pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
if [ -z "$pg_version" ]; then
  log "no PostgreSQL cluster found; creating one"
  pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  pg_createcluster "$pg_version" main >/dev/null
fi
hba="/etc/postgresql/$pg_version/main/pg_hba.conf"
marker="# cutover tests: password login"
if ! grep -qF "$marker" "$hba"; then
  log "adding a password-only rule for role cutover_pw to $hba"
  tmp=$(mktemp)
  { echo "$marker"; echo "host all cutover_pw 127.0.0.1/32 scram-sha-256"; echo "host all cutover_pw ::1/128 scram-sha-256"; cat "$hba"; } >"$tmp"
  cat "$tmp" >"$hba"
  rm -f "$tmp"
fi
# The tests connect as `postgres` over TCP without a password: keep that possible where the
# machine was set up with password auth for local TCP.
if ! grep -Eq '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
  log "allowing trust auth for 127.0.0.1 in $hba (test machine only)"
  echo "host all all 127.0.0.1/32 trust" >>"$hba"
fi
# The replica-lag test streams a replica from this server over loopback.
if ! grep -Eq '^host\s+replication\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
  log "allowing replication connections from 127.0.0.1 in $hba (test machine only)"
  echo "host replication all 127.0.0.1/32 trust" >>"$hba"
fi
if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
  log "starting PostgreSQL $pg_version"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
else
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload >/dev/null 2>&1 || true
fi
for _ in $(seq 1 60); do
  if su postgres -c "psql -h 127.0.0.1 -Atqc 'select 1'" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
su postgres -c "psql -h 127.0.0.1 -Atqc 'select 1'" >/dev/null || { log "PostgreSQL does not answer on 127.0.0.1:5432"; exit 1; }
# `cutover plan` reports the recorded queries that still name what a migration drops; its tests
# need pg_stat_statements, which must be preloaded (a restart, once).
if ! su postgres -c "psql -h 127.0.0.1 -Atqc 'show shared_preload_libraries'" | grep -q pg_stat_statements; then
  log "preloading pg_stat_statements (restarts PostgreSQL $pg_version once)"
  su postgres -c "psql -h 127.0.0.1 -Atqc \"ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'\"" >/dev/null
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main restart
  for _ in $(seq 1 60); do
    if su postgres -c "psql -h 127.0.0.1 -Atqc 'select 1'" >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
fi
su postgres -c "psql -h 127.0.0.1 -qAt" >/dev/null <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cutover_pw') THEN
    CREATE ROLE cutover_pw LOGIN PASSWORD 'right-password';
  END IF;
END
$$;
SQL

# --- MariaDB ----------------------------------------------------------------------------------
if ! mariadb -uroot -e 'select 1' >/dev/null 2>&1; then
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do
    if mariadb -uroot -e 'select 1' >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
fi
mariadb -uroot -e 'select 1' >/dev/null || { log "MariaDB does not answer"; exit 1; }
# The tests connect over TCP as `cutover` (with a password, so that its redaction is tested too)
# and create a database each.
mariadb -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'cutover'@'127.0.0.1' IDENTIFIED BY 'cutover-test';
CREATE USER IF NOT EXISTS 'cutover'@'localhost' IDENTIFIED BY 'cutover-test';
GRANT ALL PRIVILEGES ON *.* TO 'cutover'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'cutover'@'localhost' WITH GRANT OPTION;
SQL

# Migration tools the adoption tests run themselves, under .tools/ (ignored by git).
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$root/.tools/alembic/bin/alembic" ]; then
  log "installing alembic from PyPI into .tools/alembic"
  rm -rf "$root/.tools/alembic"
  python3 -m venv "$root/.tools/alembic"
  "$root/.tools/alembic/bin/pip" install -q alembic psycopg2-binary
fi
if [ ! -x "$root/.tools/knex/node_modules/.bin/knex" ]; then
  log "installing knex from npm into .tools/knex"
  npm install --silent --no-audit --no-fund --prefix "$root/.tools/knex" knex pg >/dev/null
fi
# sqlx-cli and refinery_cli come from crates.io: built once (a few minutes on 2 cores).
if [ ! -x "$root/.tools/sqlx/bin/sqlx" ]; then
  log "building sqlx-cli from crates.io into .tools/sqlx (once)"
  cargo install -q sqlx-cli --version 0.9.0 --locked --no-default-features --features postgres,native-tls \
    --root "$root/.tools/sqlx"
fi
if [ ! -x "$root/.tools/refinery/bin/refinery" ]; then
  log "building refinery_cli from crates.io into .tools/refinery (once)"
  cargo install -q refinery_cli --version 0.10.0 --locked --no-default-features --features postgresql \
    --root "$root/.tools/refinery"
fi
# Liquibase's npm package carries its whole distribution (with the PostgreSQL driver); it runs
# on the machine's Java.
if [ ! -x "$root/.tools/liquibase/node_modules/liquibase/dist/liquibase/liquibase" ]; then
  log "installing liquibase from npm into .tools/liquibase"
  npm install --silent --no-audit --no-fund --prefix "$root/.tools/liquibase" liquibase@4.28.1 >/dev/null
fi
if [ ! -x "$root/.tools/dbmate/node_modules/.bin/dbmate" ]; then
  log "installing dbmate from npm into .tools/dbmate"
  npm install --silent --no-audit --no-fund --prefix "$root/.tools/dbmate" dbmate >/dev/null
fi

log "PostgreSQL $pg_version and MariaDB are running"
