//! The runner's primitives on PostgreSQL: history, runner lock, transactions.
//!
//! Quirks handled here:
//! - DDL is transactional, so a migration and its history row commit together.
//! - `CREATE INDEX CONCURRENTLY`, `VACUUM` and a few others refuse to run inside a transaction
//!   block; see `allowed_in_transaction` (and `cutover_migration::refuses_transaction`, the list).
//! - The runner lock lives on its own connection and is polled (see the crate docs).

use std::thread;
use std::time::{Duration, Instant};

use cutover_engine::{
    jitter, Approval, ApprovalKind, DbError, DbErrorKind, Direction, GuardRow, HistoryRecord, LockGuard, LockHolder,
    MigrationTarget, RecordKind, Session, State, Timeouts,
};
use postgres::{Client, Statement};

use crate::concurrent::{self, Build};
use crate::connect::{quote_ident, PgTarget};
use crate::error::db_error;
use crate::version_views;

const TIMESTAMP_FORMAT: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

impl PgTarget {
    fn history_columns() -> &'static str {
        "version, name, kind, direction, state, script, checksum, transactional, statements_total, \
         statements_done, prefix_checksum, started_at, finished_at, duration_ms, error_message, \
         error_sqlstate, error_statement, error_location, runner, tool_version"
    }

    /// Takes the session advisory lock `key` on a connection of its own, polling.
    pub(crate) fn advisory_lock(
        &mut self,
        key: i64,
        what: &str,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError> {
        let mut config = self.config.clone();
        // application_name is at most 63 bytes; waiters read it from pg_stat_activity.
        let mut name = owner.to_string();
        while name.len() > 63 {
            name.pop();
        }
        config.application_name(&name);
        let mut client = self.connector.connect(&config)?;
        let started = Instant::now();
        let mut poll = Duration::from_millis(50);
        loop {
            let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).map_err(db_error)?;
            if row.get::<_, bool>(0) {
                return Ok(Box::new(PgLock { client, key }));
            }
            let holder = lock_holder(&mut client, key)?;
            if started.elapsed() >= wait {
                return Err(DbError::new(
                    DbErrorKind::LockTimeout,
                    format!(
                        "another cutover still holds {what} after {:.1}s ({}); wait for it to finish, or stop it",
                        wait.as_secs_f64(),
                        describe_holder(&holder)
                    ),
                ));
            }
            on_wait(&holder);
            // Short polls, each its own brief transaction, so that a running
            // `CREATE INDEX CONCURRENTLY` never waits for us.
            // Jitter, so that waiting runners do not poll in lockstep.
            thread::sleep(poll + jitter(poll / 2));
            poll = (poll * 2).min(Duration::from_millis(500));
        }
    }
}

/// `BEGIN` and the timeouts (plus `extra` settings, each `SET LOCAL ...;`) as one string: one
/// round trip, and `SET LOCAL` ends with the transaction.
pub(crate) fn begin_sql(timeouts: Timeouts, extra: &str) -> String {
    format!(
        "BEGIN; {extra}SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{}ms'",
        timeouts.lock_timeout.as_millis(),
        timeouts.statement_timeout.as_millis()
    )
}

/// An advisory lock key: a stable 64-bit hash of `name` (FNV-1a), so that locks of different
/// history tables and backfills in one database do not exclude each other.
pub(crate) fn lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

struct PgSession<'a> {
    client: &'a mut Client,
    insert_sql: &'a str,
    // The history insert, prepared once per connection: one round trip per row, not two.
    insert: &'a mut Option<Statement>,
    /// Inside the migration's transaction (else each statement commits on its own).
    in_transaction: bool,
}

impl Session for PgSession<'_> {
    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).map_err(db_error)
    }

    fn lock_up_front(&mut self, locks: &[(String, &'static str)], within: Duration) -> Result<(), DbError> {
        // `lock_timeout` bounds each lock wait on its own; one deadline for all of them bounds
        // how long the locks already taken are held while the next one is waited for.
        let deadline = Instant::now() + within;
        for (relation, mode) in locks {
            // The analysis names relations as written, unquoted and without `public.`:
            // quoted part by part for `to_regclass`, which resolves them as the statements will.
            let quoted = relation.split('.').map(quote_ident).collect::<Vec<_>>().join(".");
            // LOCK takes tables, partitioned tables and views only (a materialized view or a
            // foreign table is "not a table or view"): the others are locked by their statements.
            let row = self
                .client
                .query_opt(
                    "SELECT c.oid::regclass::text FROM pg_class c \
                     WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'v')",
                    &[&quoted],
                )
                .map_err(db_error)?;
            let Some(row) = row else {
                continue; // created later in the migration, or an index: its table is in the list
            };
            let name: String = row.get(0);
            let remaining = deadline.saturating_duration_since(Instant::now()).as_millis().max(1);
            self.client
                .batch_execute(&format!("SET LOCAL lock_timeout = '{remaining}ms'; LOCK TABLE {name} IN {mode} MODE"))
                .map_err(db_error)?;
        }
        self.client.batch_execute(&format!("SET LOCAL lock_timeout = '{}ms'", within.as_millis())).map_err(db_error)
    }

    fn append_history(&mut self, r: &HistoryRecord) -> Result<(), DbError> {
        let insert = match self.insert {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(self.insert_sql).map_err(db_error)?;
                self.insert.insert(statement).clone()
            }
        };
        // The history is written as the user cutover connected as, whatever role the migration
        // took (tester 21: after `SET ROLE app_owner` the insert was denied, and the migration
        // told to "fix the script"); for that row only.
        const AS_CONNECTED: &str = "SET LOCAL ROLE NONE; SET LOCAL SESSION AUTHORIZATION DEFAULT";
        if self.in_transaction {
            self.client.batch_execute(AS_CONNECTED).map_err(db_error)?;
        } else {
            self.client.batch_execute(&format!("BEGIN; {AS_CONNECTED}")).map_err(db_error)?;
        }
        let inserted = self
            .client
            .execute(
                &insert,
                &[
                    &r.version,
                    &r.name,
                    &r.kind.name(),
                    &r.direction.name(),
                    &r.state.name(),
                    &r.script,
                    &r.checksum,
                    &r.transactional,
                    &r.statements_total,
                    &r.statements_done,
                    &r.prefix_checksum,
                    &r.started_at,
                    &r.finished_at,
                    &r.duration_ms,
                    &r.error_message,
                    &r.error_sqlstate,
                    &r.error_statement,
                    &r.error_location,
                    &r.runner,
                    &r.tool_version,
                ],
            )
            .map(|_| ())
            .map_err(db_error);
        if !self.in_transaction {
            let end = if inserted.is_ok() { "COMMIT" } else { "ROLLBACK" };
            self.client.batch_execute(end).map_err(db_error)?;
        }
        inserted
    }
}

impl PgTarget {
    fn insert_sql(&self) -> String {
        format!(
            "INSERT INTO {} ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::timestamptz, \
             $13::text::timestamptz, $14, $15, $16, $17, $18, $19, $20)",
            self.history_table.quoted(),
            Self::history_columns()
        )
    }
}

/// Releases the advisory lock when dropped; closing the connection would release it too.
struct PgLock {
    client: Client,
    key: i64,
}

impl Drop for PgLock {
    fn drop(&mut self) {
        let _ = self.client.execute("SELECT pg_advisory_unlock($1)", &[&self.key]);
    }
}

impl PgTarget {
    /// BEGIN, the lifted views dropped, `body`, the completed versions brought in step; the
    /// caller commits or rolls back.
    fn transaction_once(
        &mut self,
        timeouts: Timeouts,
        versions: &[String],
        lifted: &[(String, String)],
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let insert_sql = self.insert_sql();
        self.client.batch_execute(&begin_sql(timeouts, "")).map_err(db_error)?;
        let lifted = version_views::lift(&mut self.client, versions, lifted)?;
        body(&mut PgSession {
            client: &mut self.client,
            insert_sql: &insert_sql,
            insert: &mut self.insert,
            in_transaction: true,
        })?;
        if !versions.is_empty() {
            version_views::bring_in_step(&mut self.client, versions, lifted)?;
        }
        Ok(())
    }

    /// The schemas of completed expand/contract versions, none while one is being expanded,
    /// completed or rolled back (its phases manage the views themselves).
    pub(crate) fn completed_versions(&mut self) -> Result<Vec<String>, DbError> {
        if let Some(versions) = &self.completed_versions {
            return Ok(versions.clone());
        }
        let state_table = self.beside_history(crate::expand::STATE_TABLE);
        let versions = crate::expand::completed_versions(&mut self.client, &state_table)?;
        self.completed_versions = Some(versions.clone());
        Ok(versions)
    }
}

impl PgTarget {
    /// The history table, its index, and the append-only trigger (`TRUNCATE` included).
    fn history_ddl(&self) -> String {
        let table = self.history_table.quoted();
        let function = self.history_table.quoted_with_suffix("_append_only");
        let trigger = quote_ident(&format!("{}_append_only", self.history_table.name));
        let index = quote_ident(&format!("{}_version_idx", self.history_table.name));
        format!(
            r#"
CREATE TABLE {table} (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version          text,
    name             text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('versioned', 'repeatable', 'baseline')),
    direction        text NOT NULL CHECK (direction IN ('up', 'down')),
    state            text NOT NULL CHECK (state IN ('running', 'applied', 'failed', 'reverted', 'baselined')),
    script           text NOT NULL,
    checksum         text NOT NULL,
    transactional    boolean NOT NULL,
    statements_total bigint NOT NULL,
    statements_done  bigint NOT NULL,
    prefix_checksum  text,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    duration_ms      bigint,
    error_message    text,
    error_sqlstate   text,
    error_statement  text,
    error_location   text,
    installed_by     text NOT NULL DEFAULT current_user,
    runner           text NOT NULL,
    tool_version     text NOT NULL
);
CREATE INDEX {index} ON {table} (version, id);
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $cutover$
BEGIN
    RAISE EXCEPTION 'the cutover history is append-only: % is not allowed', TG_OP
        USING HINT = 'cutover records every change as a new row; nothing needs to be edited by hand';
END
$cutover$;
CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE PROCEDURE {function}();
"#
        )
    }

    /// The guard beside the history: a row for every history row, written by an `AFTER
    /// INSERT` trigger, append-only like the history. The `BEFORE TRUNCATE` trigger keeps the
    /// history whole; the guard notices when that was bypassed (triggers disabled). No foreign
    /// key: `TRUNCATE ... CASCADE` would empty the guard with the history. Idempotent: it also
    /// upgrades a history from before the guard, whose rows are witnessed as they are now.
    fn guard_ddl(&self) -> String {
        let table = self.history_table.quoted();
        let guard = self.history_table.quoted_with_suffix("_guard");
        let append_only = self.history_table.quoted_with_suffix("_append_only");
        let guard_append_only = quote_ident(&format!("{}_guard_append_only", self.history_table.name));
        let function = self.history_table.quoted_with_suffix("_guard_row");
        let trigger = quote_ident(&format!("{}_guard_row", self.history_table.name));
        format!(
            r#"
CREATE TABLE IF NOT EXISTS {guard} (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    history_id bigint NOT NULL,
    version    text,
    state      text NOT NULL,
    checksum   text NOT NULL
);
DROP TRIGGER IF EXISTS {guard_append_only} ON {guard};
CREATE TRIGGER {guard_append_only} BEFORE UPDATE OR DELETE OR TRUNCATE ON {guard}
    FOR EACH STATEMENT EXECUTE PROCEDURE {append_only}();
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $cutover$
BEGIN
    -- The guard beside the table the trigger fires on, whatever the search_path.
    EXECUTE format('INSERT INTO %I.%I (history_id, version, state, checksum) VALUES ($1, $2, $3, $4)',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME || '_guard')
        USING NEW.id, NEW.version, NEW.state, NEW.checksum;
    RETURN NULL;
END
$cutover$;
INSERT INTO {guard} (history_id, version, state, checksum)
    SELECT h.id, h.version, h.state, h.checksum FROM {table} h
    WHERE NOT EXISTS (SELECT 1 FROM {guard} g WHERE g.history_id = h.id) ORDER BY h.id;
DROP TRIGGER IF EXISTS {trigger} ON {table};
CREATE TRIGGER {trigger} AFTER INSERT ON {table} FOR EACH ROW EXECUTE PROCEDURE {function}();
"#
        )
    }
}

impl MigrationTarget for PgTarget {
    fn engine(&self) -> cutover_engine::Engine {
        cutover_engine::Engine::Postgres
    }

    fn catalog(&mut self) -> Option<&mut dyn cutover_engine::Catalog> {
        Some(self)
    }

    fn server_version(&self) -> String {
        format!("PostgreSQL {}", self.server_version)
    }

    fn history_exists(&mut self) -> Result<bool, DbError> {
        let row = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.history_table.quoted()])
            .map_err(db_error)?;
        Ok(row.get(0))
    }

    fn ensure_history(&mut self) -> Result<(), DbError> {
        let guard_row = format!("{}_guard_row", self.history_table.name);
        // The guard's trigger is made last (in the same transaction): when it exists, so does
        // everything else; a history from before the guard gets one here.
        let row = self
            .client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL, \
                 EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)",
                &[&self.history_table.quoted(), &guard_row],
            )
            .map_err(db_error)?;
        let (exists, guarded): (bool, bool) = (row.get(0), row.get(1));
        if guarded {
            return Ok(());
        }
        let history_ddl = if exists { String::new() } else { self.history_ddl() };
        let guard_ddl = self.guard_ddl();
        let mut tx = self.client.transaction().map_err(db_error)?;
        tx.batch_execute(&format!("{history_ddl}{guard_ddl}")).map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    fn read_history_guard(&mut self) -> Result<Option<Vec<GuardRow>>, DbError> {
        let guard = self.history_table.quoted_with_suffix("_guard");
        let exists: bool =
            self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&guard]).map_err(db_error)?.get(0);
        if !exists {
            return Ok(None);
        }
        let rows = self
            .client
            .query(&format!("SELECT history_id, version, state, checksum FROM {guard} ORDER BY id"), &[])
            .map_err(db_error)?;
        Ok(Some(
            rows.iter()
                .map(|row| GuardRow {
                    history_id: row.get(0),
                    version: row.get(1),
                    state: row.get(2),
                    checksum: row.get(3),
                })
                .collect(),
        ))
    }

    fn tables_present(&mut self, tables: &[String]) -> Result<Vec<String>, DbError> {
        let mut present = Vec::new();
        for table in tables {
            let quoted = table.split('.').map(quote_ident).collect::<Vec<_>>().join(".");
            let row = self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted]).map_err(db_error)?;
            if row.get(0) {
                present.push(table.clone());
            }
        }
        Ok(present)
    }

    fn lock_holders(&mut self, relations: &[String]) -> Result<Vec<LockHolder>, DbError> {
        sessions_locking(&mut self.client, relations, &[], false)
    }

    fn invalid_indexes(&mut self) -> Result<Vec<String>, DbError> {
        let rows = self
            .client
            .query(
                "SELECT n.nspname || '.' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE NOT (i.indisvalid AND i.indisready) AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1",
                &[],
            )
            .map_err(db_error)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn snapshot_holders_for(&mut self, sql: &str) -> Result<Vec<LockHolder>, DbError> {
        match Build::parse(sql) {
            Some(_) => crate::live::snapshot_holders(&mut self.client),
            None => Ok(Vec::new()),
        }
    }

    fn lock_wait_advice(&self) -> String {
        "find it in pg_stat_activity (pg_blocking_pids(pid) names who blocks whom) and pg_locks".to_string()
    }

    fn append_approvals(&mut self, approvals: &[Approval]) -> Result<(), DbError> {
        let table = self.history_table.quoted_with_suffix("_approvals");
        let function = self.history_table.quoted_with_suffix("_append_only");
        let trigger = quote_ident(&format!("{}_approvals_append_only", self.history_table.name));
        let mut tx = self.client.transaction().map_err(db_error)?;
        let exists: bool = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).map_err(db_error)?.get(0);
        if !exists {
            // The history's append-only function guards this table too.
            tx.batch_execute(&format!(
                "CREATE TABLE {table} (
                    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    version     text,
                    name        text NOT NULL,
                    rule        text NOT NULL,
                    how         text NOT NULL CHECK (how IN ({kinds})),
                    reason      text NOT NULL,
                    location    text NOT NULL,
                    message     text NOT NULL,
                    approved_by text NOT NULL,
                    db_user     text NOT NULL DEFAULT current_user,
                    approved_at timestamptz NOT NULL
                );
                CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE PROCEDURE {function}();",
                kinds = ApprovalKind::quoted_list()
            ))
            .map_err(db_error)?;
        }
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {table} (version, name, rule, how, reason, location, message, approved_by, approved_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::timestamptz)"
            ))
            .map_err(db_error)?;
        for a in approvals {
            tx.execute(
                &insert,
                &[
                    &a.version,
                    &a.name,
                    &a.rule,
                    &a.how.name(),
                    &a.reason,
                    &a.location,
                    &a.message,
                    &a.approved_by,
                    &a.approved_at,
                ],
            )
            .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)
    }

    fn read_approvals(&mut self) -> Result<Vec<Approval>, DbError> {
        let table = self.history_table.quoted_with_suffix("_approvals");
        let exists: bool =
            self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).map_err(db_error)?.get(0);
        if !exists {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT id, version, name, rule, how, reason, location, message, approved_by, \
                     to_char(approved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM {table} ORDER BY id"
                ),
                &[],
            )
            .map_err(db_error)?;
        let place = format!("the approvals table `{}_approvals`", self.history_table.plain());
        rows.iter()
            .map(|row| {
                Ok(Approval {
                    id: row.get(0),
                    version: row.get(1),
                    name: row.get(2),
                    rule: row.get(3),
                    how: ApprovalKind::parse(row.get(4)).map_err(|e| e.in_table(&place))?,
                    reason: row.get(5),
                    location: row.get(6),
                    message: row.get(7),
                    approved_by: row.get(8),
                    approved_at: row.get(9),
                })
            })
            .collect()
    }

    fn read_history(&mut self) -> Result<Vec<HistoryRecord>, DbError> {
        let sql = format!(
            "SELECT id, version, name, kind, direction, state, script, checksum, transactional, \
             statements_total, statements_done, prefix_checksum, \
             to_char(started_at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}), \
             to_char(finished_at AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}), duration_ms, error_message, \
             error_sqlstate, error_statement, error_location, installed_by, runner, tool_version \
             FROM {} ORDER BY id",
            self.history_table.quoted()
        );
        let rows = self.client.query(&sql, &[]).map_err(db_error)?;
        let place = format!("the history table `{}`", self.history_table.plain());
        rows.iter()
            .map(|row| {
                Ok(HistoryRecord {
                    id: row.get(0),
                    version: row.get(1),
                    name: row.get(2),
                    kind: RecordKind::parse(row.get(3)).map_err(|e| e.in_table(&place))?,
                    direction: Direction::parse(row.get(4)).map_err(|e| e.in_table(&place))?,
                    state: State::parse(row.get(5)).map_err(|e| e.in_table(&place))?,
                    script: row.get(6),
                    checksum: row.get(7),
                    transactional: row.get(8),
                    statements_total: row.get(9),
                    statements_done: row.get(10),
                    prefix_checksum: row.get(11),
                    started_at: row.get(12),
                    finished_at: row.get(13),
                    duration_ms: row.get(14),
                    error_message: row.get(15),
                    error_sqlstate: row.get(16),
                    error_statement: row.get(17),
                    error_location: row.get(18),
                    installed_by: row.get(19),
                    runner: row.get(20),
                    tool_version: row.get(21),
                })
            })
            .collect()
    }

    fn acquire_runner_lock(
        &mut self,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError> {
        // One table, one lock: `public.cutover_history` is `cutover_history` where `public` is
        // the current schema, and takes the key the bare name (and older cutovers) take.
        let name = match &self.history_table.schema {
            Some(schema) => {
                let current: Option<String> =
                    self.client.query_one("SELECT current_schema()", &[]).map_err(db_error)?.get(0);
                if current.as_deref() == Some(schema.as_str()) {
                    self.history_table.name.clone()
                } else {
                    self.history_table.plain()
                }
            }
            None => self.history_table.plain(),
        };
        let key = lock_key(&format!("cutover:{name}"));
        self.advisory_lock(key, "the migration lock", owner, wait, on_wait)
    }

    fn reset_session(&mut self) -> Result<(), DbError> {
        // Back to the connection's settings (the URL's `options` included); `RESET ALL` leaves
        // the role and the session user alone. What `connect` set is set again.
        // Temporary tables too (tester 21: a temporary `t` of one migration took the next
        // one's INSERT, lost with the session). `DISCARD ALL` would also drop the prepared
        // history insert and the runner's advisory lock.
        let settings = crate::connect::session_settings(&self.server_version);
        self.client
            .batch_execute(&format!("RESET ALL; RESET ROLE; RESET SESSION AUTHORIZATION; DISCARD TEMP; {settings}"))
            .map_err(db_error)
    }

    fn transaction(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let versions = self.completed_versions()?;
        // Views of a completed version that stand in the way of this transaction's DDL:
        // dropped at its start and recreated before its commit (see `version_views`).
        let mut lifted = Vec::new();
        loop {
            let res = self.transaction_once(timeouts, &versions, &lifted, body);
            let Err(err) = res else {
                return self.client.batch_execute("COMMIT").map_err(db_error);
            };
            // The error is what matters; a failed ROLLBACK means the connection is gone.
            let _ = self.client.batch_execute("ROLLBACK");
            if !versions.is_empty() && version_views::is_dependency_error(&err) {
                // Should that query fail too, the migration's own error is the one to report.
                let in_the_way =
                    version_views::views_in_the_way(&mut self.client, &versions, &err, &lifted).unwrap_or_default();
                if !in_the_way.is_empty() {
                    lifted.extend(in_the_way);
                    continue;
                }
            }
            return Err(err);
        }
    }

    fn autocommit(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let insert_sql = self.insert_sql();
        self.client
            .batch_execute(&format!(
                "SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'",
                timeouts.lock_timeout.as_millis(),
                timeouts.statement_timeout.as_millis()
            ))
            .map_err(db_error)?;
        body(&mut PgSession {
            client: &mut self.client,
            insert_sql: &insert_sql,
            insert: &mut self.insert,
            in_transaction: false,
        })
    }

    fn clear_leftovers(&mut self, sql: &str) -> Result<Option<String>, DbError> {
        let Some(build) = Build::parse(sql) else {
            return Ok(None);
        };
        let dropped = concurrent::clear_leftovers(&mut self.client, &build)?;
        self.indexes_before = concurrent::indexes_before(&mut self.client, &build)?;
        Ok((!dropped.is_empty()).then(|| {
            format!("dropped INVALID index {} left by an earlier failed concurrent build", dropped.join(", "))
        }))
    }

    fn check_done(&mut self, sql: &str) -> Result<Option<String>, DbError> {
        let Some(build) = Build::parse(sql) else {
            return Ok(None);
        };
        let dropped = concurrent::check_built(&mut self.client, &build, &self.indexes_before)?;
        Ok((!dropped.is_empty()).then(|| {
            format!(
                "dropped INVALID index {} left by an interrupted earlier build of the same index",
                dropped.join(", ")
            )
        }))
    }

    fn allowed_in_transaction(&self, sql: &str) -> bool {
        // The list discovery reads too: a script of such statements runs statement by
        // statement, and here each of them runs outside a transaction.
        cutover_migration::refuses_transaction(sql).is_none()
    }
}

/// The other sessions of this database with a lock on one of `relations` (as a migration names
/// them), on their partitions and inheritance children (a statement on the parent locks them
/// too) or, for an index, on its table (a `DROP INDEX` names the index alone): granted ones, and with `queued` those waiting for one too; in one of `modes`
/// (`pg_locks` names), or in any when `modes` is empty. Oldest transaction first, at most
/// five, and then a line that says how many more.
pub(crate) fn sessions_locking(
    client: &mut Client,
    relations: &[String],
    modes: &[&str],
    queued: bool,
) -> Result<Vec<LockHolder>, DbError> {
    // The analysis names relations as written: quoted part by part for `to_regclass`.
    let quoted: Vec<String> =
        relations.iter().map(|r| r.split('.').map(quote_ident).collect::<Vec<_>>().join(".")).collect();
    let modes: Vec<&str> = modes.to_vec();
    let rows = client
        .query(
            &format!("SELECT {}, \
               string_agg(DISTINCT l.mode || ' on ' || l.relation::regclass::text, ', ') FILTER (WHERE l.granted), \
               string_agg(DISTINCT l.mode || ' on ' || l.relation::regclass::text, ', ') FILTER (WHERE NOT l.granted), \
               to_char(coalesce(a.xact_start, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
               count(*) OVER () \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE (l.granted OR $3) AND l.locktype = 'relation' AND l.pid <> pg_backend_pid() \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND l.relation IN (WITH RECURSIVE named(oid) AS (SELECT to_regclass(r) FROM unnest($1::text[]) AS r), \
                   tree(oid) AS ( \
                     SELECT oid FROM named UNION SELECT x.indrelid FROM pg_index x JOIN named ON x.indexrelid = named.oid \
                     UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid) SELECT oid FROM tree) \
               AND (cardinality($2::text[]) = 0 OR l.mode = ANY ($2)) \
             GROUP BY a.pid, a.application_name, a.usename, a.state, a.xact_start, a.query_start, a.backend_start, a.query \
             ORDER BY coalesce(a.xact_start, a.query_start) LIMIT 5",
                session_columns("coalesce(a.xact_start, a.query_start, a.backend_start)")
            ),
            &[&quoted, &modes, &queued],
        )
        .map_err(db_error)?;
    let all: i64 = rows.first().map_or(0, |row| row.get(9));
    let mut sessions: Vec<LockHolder> = rows
        .iter()
        .map(|row| {
            let (held, waiting): (Option<String>, Option<String>) = (row.get(6), row.get(7));
            let locks = match (held, waiting) {
                (Some(held), Some(waiting)) => format!("holds {held}, waits for {waiting}"),
                (Some(held), None) => format!("holds {held}"),
                (None, Some(waiting)) => format!("waits for {waiting}"),
                (None, None) => String::new(),
            };
            LockHolder { description: format!("{} {locks}", describe_session(row)), since: Some(row.get(8)) }
        })
        .collect();
    if all > sessions.len() as i64 {
        let more = all - sessions.len() as i64;
        let sessions_word = if more == 1 { "session" } else { "sessions" };
        sessions.push(LockHolder {
            description: format!("and {more} more {sessions_word} (pg_locks lists them all)"),
            since: None,
        });
    }
    Ok(sessions)
}

/// The columns [`describe_session`] reads, first in a query over `pg_stat_activity a`; `start`
/// is when the time the session is said to be in its state counts from.
pub(crate) fn session_columns(start: &str) -> String {
    format!(
        "a.pid, coalesce(nullif(a.application_name, ''), 'no application name'), coalesce(a.usename::text, '?'), \
         coalesce(a.state, '?'), extract(epoch FROM now() - {start})::int8, left(coalesce(a.query, ''), 2000)"
    )
}

/// Another session, for people: `pid 42 (billing, user app, idle in transaction for 30 s, last
/// ran: SELECT ..)`, from a row that starts with [`session_columns`].
pub(crate) fn describe_session(row: &postgres::Row) -> String {
    let (pid, application, user, state): (i32, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let (seconds, query): (i64, String) = (row.get(4), row.get(5));
    // Another session's statement may hold a password or personal data.
    let query = cutover_engine::query_for_display(&query, false, 120);
    let what = if state == "active" { "running" } else { "last ran" };
    format!("pid {pid} ({application}, user {user}, {state} for {seconds} s, {what}: {query})")
}

/// Who holds the advisory lock, from `pg_locks` and `pg_stat_activity`.
fn lock_holder(client: &mut Client, key: i64) -> Result<LockHolder, DbError> {
    let sql = format!(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
         to_char(a.backend_start AT TIME ZONE 'UTC', {TIMESTAMP_FORMAT}) \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.objsubid = 1 \
           AND l.classid::bigint = (($1::bigint >> 32) & 4294967295) AND l.objid::bigint = ($1::bigint & 4294967295)"
    );
    let rows = client.query(&sql, &[&key]).map_err(db_error)?;
    let Some(row) = rows.first() else {
        return Ok(LockHolder { description: "a session that has just released it".to_string(), since: None });
    };
    let pid: i32 = row.get(0);
    let application: String = row.get(1);
    let client_addr: String = row.get(2);
    let description = if application.is_empty() {
        format!("backend pid {pid} from {client_addr}")
    } else {
        format!("{application}, backend pid {pid} from {client_addr}")
    };
    Ok(LockHolder { description, since: row.get(3) })
}

fn describe_holder(holder: &LockHolder) -> String {
    match &holder.since {
        Some(since) => format!("held by {}, connected since {since}", holder.description),
        None => format!("held by {}", holder.description),
    }
}

impl cutover_engine::Inspect for PgTarget {
    fn table_exists(&mut self, name: &str) -> Result<bool, DbError> {
        let row =
            // `schema.table` (Sqitch's `sqitch.changes`) is quoted part by part.
            self.client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL",
                    &[&name.split('.').map(quote_ident).collect::<Vec<_>>().join(".")],
                )
                .map_err(db_error)?;
        Ok(row.get(0))
    }

    fn select_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        // The simple protocol returns every value as text, whatever its type.
        let messages = self.client.simple_query(sql).map_err(db_error)?;
        Ok(messages
            .iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|idx| row.get(idx).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect())
    }
}
