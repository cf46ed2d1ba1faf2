//! The traits an engine implements for the runner.

use std::any::Any;
use std::time::Duration;

use crate::{Approval, DbError, HistoryRecord};

/// Timeouts that protect live traffic from a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a statement may wait for a lock before giving up. A DDL statement waiting for
    /// its lock blocks every query queued behind it, so this is short (2 s by default).
    pub lock_timeout: Duration,
    /// How long a statement may run; `Duration::ZERO` means no limit.
    pub statement_timeout: Duration,
}

/// Who holds the runner lock, as far as the database can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockHolder {
    /// What the holder says of itself: host and process id of the other cutover, or its
    /// database backend pid.
    pub description: String,
    /// Since when it holds the lock or its connection (RFC 3339), when known.
    pub since: Option<String>,
}

/// A statement still running on the server in another session: the one a killed runner was
/// running, which the server finishes (or rolls back) on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StillRunning {
    /// Which session runs it and as whom, e.g. `connection 42 of app@10.0.0.5`.
    pub description: String,
    /// How long it has been running.
    pub running_for: Duration,
    /// The statement that stops it, e.g. `KILL 42`.
    pub stop_with: String,
}

/// What the history's guard recorded of one history row when the row was written: a witness
/// kept beside the history, so that rows emptied or rewritten behind cutover's back (a
/// `TRUNCATE`, triggers disabled or dropped) are noticed when the history is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardRow {
    /// The history row's id.
    pub history_id: i64,
    /// Its version.
    pub version: Option<String>,
    /// Its state's name (`State::name`).
    pub state: String,
    /// Its checksum.
    pub checksum: String,
}

/// Holds the runner lock until dropped. Dropping releases it on every path, early returns and
/// panics included; a killed process releases it with its connection or file handle.
pub type LockGuard = Box<dyn Any>;

/// What the runner runs statements and bookkeeping through.
pub trait Session {
    /// Runs one statement.
    fn execute(&mut self, sql: &str) -> Result<(), DbError>;
    /// Appends a row to the history table.
    fn append_history(&mut self, record: &HistoryRecord) -> Result<(), DbError>;
    /// Takes, in the order given, each `(relation, lock mode)` that the transaction's
    /// statements will take, waiting at most `within` for all of them together; relations that
    /// do not exist (yet) or cannot be locked as tables are passed over. Afterwards each
    /// statement's own lock timeout is `within` again. Engines whose statements hold no lock
    /// beyond themselves have nothing to do.
    fn lock_up_front(&mut self, locks: &[(String, &'static str)], within: std::time::Duration) -> Result<(), DbError> {
        let _ = (locks, within);
        Ok(())
    }
}

/// Reading another tool's tables, as text: what `cutover adopt` needs to take over a history.
pub trait Inspect {
    /// Whether a table of that (unqualified) name exists where the database looks first.
    fn table_exists(&mut self, name: &str) -> Result<bool, DbError>;

    /// Runs a query and returns every value as text (`None` for NULL), row by row.
    fn select_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError>;
}

/// A database that can be migrated and read as text (`cutover adopt`).
pub trait AdoptTarget: MigrationTarget + Inspect {}

impl<T: MigrationTarget + Inspect> AdoptTarget for T {}

/// A database that migrations run against: one connection, plus whatever the runner lock needs.
pub trait MigrationTarget {
    /// Which engine this is.
    fn engine(&self) -> crate::Engine;

    /// The server's version, for messages.
    fn server_version(&self) -> String;

    /// Whether the history table exists (without creating it).
    fn history_exists(&mut self) -> Result<bool, DbError>;

    /// Creates the history table if it does not exist. Call only while holding the runner lock.
    fn ensure_history(&mut self) -> Result<(), DbError>;

    /// Every history row, in insertion order.
    fn read_history(&mut self) -> Result<Vec<HistoryRecord>, DbError>;

    /// What the history's guard recorded, one row per history row written, in insertion order;
    /// `None` when the engine keeps no guard or it does not exist yet. The runner compares it
    /// with `read_history` and refuses to run on a history that lost rows.
    fn read_history_guard(&mut self) -> Result<Option<Vec<GuardRow>>, DbError> {
        Ok(None)
    }

    /// Appends approvals to the approvals table beside the history (`<history>_approvals`,
    /// append-only like it), creating it if needed. Call only while holding the runner lock.
    fn append_approvals(&mut self, approvals: &[Approval]) -> Result<(), DbError>;

    /// Every approval, in insertion order (none when the table does not exist yet).
    fn read_approvals(&mut self) -> Result<Vec<Approval>, DbError>;

    /// Takes the lock that lets one runner at a time change the schema, waiting at most `wait`
    /// and calling `on_wait` now and then with whoever holds it. `owner` describes this runner
    /// (tool version, host, pid, start time) to the runners that wait for it.
    fn acquire_runner_lock(
        &mut self,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError>;

    /// Puts the session back as it was when it connected, before each migration: what one
    /// migration set for the session (`SET search_path`, `SET ROLE`, MySQL's `USE` or
    /// `foreign_key_checks`) must not reach the next, which is linted, and runs in another
    /// `up`, without it (tester 20: a `SET search_path` in one file sent the next file's ALTER
    /// and UPDATE to a 600k-row table in another schema when both ran in one `up`).
    fn reset_session(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Runs `body` in one transaction with `timeouts`: committed when it returns `Ok`, rolled
    /// back when it returns `Err` (whose error is returned).
    fn transaction(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError>;

    /// Runs `body` outside any transaction: each statement commits on its own.
    fn autocommit(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError>;

    /// Removes what an earlier, failed run of `sql` outside a transaction may have left behind,
    /// so that it can run again: PostgreSQL leaves an INVALID index behind a failed
    /// `CREATE INDEX CONCURRENTLY`, and running it again fails with "already exists".
    /// Returns a description of what was removed, if anything.
    fn clear_leftovers(&mut self, sql: &str) -> Result<Option<String>, DbError>;

    /// After `sql` ran outside a transaction and reported success: checks that its work is
    /// really done (a concurrent index build must leave a valid, ready index; `IF NOT EXISTS`
    /// passes over an INVALID one), before the runner records it. Returns a description of
    /// what it tidied (an earlier try's INVALID twin), if anything.
    fn check_done(&mut self, sql: &str) -> Result<Option<String>, DbError> {
        let _ = sql;
        Ok(None)
    }

    /// The statement `sql`, still running in another session of this database: a runner killed
    /// while it ran left it to the server, which finishes it (MySQL does not notice a client
    /// gone until the statement ends). `None` when no such statement runs, or the engine cannot
    /// tell.
    fn still_running(&mut self, _sql: &str) -> Result<Option<StillRunning>, DbError> {
        Ok(None)
    }

    /// Where to look for the session that holds a lock a statement waited for in vain: the
    /// engine's own views and commands, for the error that reports a lock timeout.
    fn lock_wait_advice(&self) -> String {
        "find the session that holds it".to_string()
    }

    /// The sessions that hold a lock on one of `relations` (as a migration names them,
    /// optionally schema-qualified), read just after a lock wait gave up: who to wait for or
    /// stop. Engines that cannot tell which session holds what return the sessions likely to
    /// (MySQL: those in an open transaction), or none.
    fn lock_holders(&mut self, relations: &[String]) -> Result<Vec<LockHolder>, DbError> {
        let _ = relations;
        Ok(Vec::new())
    }

    /// The indexes of the database that queries do not use because a concurrent build or drop
    /// stopped part-way (PostgreSQL's INVALID indexes), `schema.name`: `validate` names them
    /// (tester 21: a `DROP INDEX CONCURRENTLY` that gave up left one, and nothing said so).
    /// None on engines that leave none.
    fn invalid_indexes(&mut self) -> Result<Vec<String>, DbError> {
        Ok(Vec::new())
    }

    /// The sessions `sql` waited for in vain besides lock holders: those whose snapshot a
    /// PostgreSQL concurrent index build waits out (tester 20: `up` named no one where `plan`
    /// named the session). None for other statements and engines.
    fn snapshot_holders_for(&mut self, sql: &str) -> Result<Vec<LockHolder>, DbError> {
        let _ = sql;
        Ok(Vec::new())
    }

    /// Which of `tables` (as a migration names them, optionally schema-qualified) exist: a
    /// database whose history is empty yet holds the tables the first migration creates was
    /// migrated before, and its history lost. Engines that cannot tell return none.
    fn tables_present(&mut self, tables: &[String]) -> Result<Vec<String>, DbError> {
        let _ = tables;
        Ok(Vec::new())
    }

    /// Whether a statement may run inside a transaction block (PostgreSQL refuses
    /// `CREATE INDEX CONCURRENTLY`, `VACUUM`, ... there).
    fn allowed_in_transaction(&self, sql: &str) -> bool;

    /// The live catalog of this database, where the engine can read it (PostgreSQL): the gate
    /// of `up` then judges pending migrations on the live schema rather than on an empty one.
    fn catalog(&mut self) -> Option<&mut dyn crate::Catalog> {
        None
    }

    /// Whether DDL is transactional, so that a whole migration can commit (or roll back) with
    /// its history row. MySQL commits implicitly around every DDL statement: there the runner
    /// applies every migration statement by statement, recording its progress.
    fn transactional_ddl(&self) -> bool {
        true
    }
}
