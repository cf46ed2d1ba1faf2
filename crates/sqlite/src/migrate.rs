//! The runner's primitives on SQLite: history, runner lock, transactions.
//!
//! Quirks handled here:
//! - DDL is transactional, so a migration and its history row commit together.
//! - There are no advisory locks: the runner lock is a file lock beside the database.
//! - `VACUUM` cannot run inside a transaction.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use cutover_engine::{
    Approval, ApprovalKind, DbError, DbErrorKind, Direction, GuardRow, HistoryRecord, LockGuard, LockHolder,
    MigrationTarget, RecordKind, Session, State, Timeouts,
};
use rusqlite::{params, Connection};

use crate::connect::{quote_ident, SqliteTarget};
use crate::error::db_error;

const COLUMNS: &str = "version, name, kind, direction, state, script, checksum, transactional, statements_total, \
     statements_done, prefix_checksum, started_at, finished_at, duration_ms, error_message, error_sqlstate, \
     error_statement, error_location, installed_by, runner, tool_version";

struct SqliteSession<'a> {
    conn: &'a Connection,
    table: &'a str,
}

impl Session for SqliteSession<'_> {
    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(db_error)
    }

    fn append_history(&mut self, r: &HistoryRecord) -> Result<(), DbError> {
        // SQLite has no database users: the OS user who runs cutover stands in, taken from the
        // record's `runner` (`user@host pid N`), which already knows it.
        let installed_by = r.runner.split('@').next().unwrap_or_default();
        let sql = format!(
            "INSERT INTO {} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            quote_ident(self.table)
        );
        self.conn
            .execute(
                &sql,
                params![
                    r.version,
                    r.name,
                    r.kind.name(),
                    r.direction.name(),
                    r.state.name(),
                    r.script,
                    r.checksum,
                    r.transactional,
                    r.statements_total,
                    r.statements_done,
                    r.prefix_checksum,
                    r.started_at,
                    r.finished_at,
                    r.duration_ms,
                    r.error_message,
                    r.error_sqlstate,
                    r.error_statement,
                    r.error_location,
                    installed_by,
                    r.runner,
                    r.tool_version,
                ],
            )
            .map(|_| ())
            .map_err(db_error)
    }
}

impl SqliteTarget {
    /// Applies the timeouts: the busy timeout waits for locks; the progress handler interrupts
    /// a statement that runs past the statement timeout.
    fn set_timeouts(&self, timeouts: Timeouts) -> Result<(), DbError> {
        self.conn.busy_timeout(timeouts.lock_timeout).map_err(db_error)?;
        if timeouts.statement_timeout.is_zero() {
            self.conn.progress_handler(0, None::<fn() -> bool>);
        } else {
            let deadline = Instant::now() + timeouts.statement_timeout;
            self.conn.progress_handler(10_000, Some(move || Instant::now() > deadline));
        }
        Ok(())
    }
}

/// Holds the OS lock on the lock file until dropped.
struct FileLock {
    /// The database file itself, flock'ed: one lock per file, whatever path reached it.
    database: File,
    /// Beside it, who holds the lock, for a waiting runner to say.
    owner: File,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.owner.set_len(0);
        let _ = self.database.unlock();
    }
}

impl MigrationTarget for SqliteTarget {
    fn engine(&self) -> cutover_engine::Engine {
        cutover_engine::Engine::Sqlite
    }

    fn reset_session(&mut self) -> Result<(), DbError> {
        // A fresh connection to the file: no temporary table of the last migration (tester 21:
        // one took the next migration's INSERT), no PRAGMA it set. The runner's lock is a lock
        // of the file, not of the connection. An in-memory database lives in its connection:
        // only its temporary objects go.
        match &self.path {
            Some(path) => {
                self.conn = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE,
                )
                .map_err(db_error)?;
            }
            None => {
                let temporary: Vec<(String, String)> = self
                    .conn
                    .prepare("SELECT type, name FROM temp.sqlite_master WHERE type IN ('table', 'view')")
                    .and_then(|mut statement| statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
                    .map_err(db_error)?;
                for (kind, name) in temporary {
                    let kind = if kind == "view" { "VIEW" } else { "TABLE" };
                    self.conn
                        .execute_batch(&format!("DROP {kind} temp.{}", crate::connect::quote_ident(&name)))
                        .map_err(db_error)?;
                }
            }
        }
        Ok(())
    }

    fn server_version(&self) -> String {
        format!("SQLite {}", rusqlite::version())
    }

    fn history_exists(&mut self) -> Result<bool, DbError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [&self.history_table],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(db_error)
    }

    fn ensure_history(&mut self) -> Result<(), DbError> {
        let table = quote_ident(&self.history_table);
        let no_update = quote_ident(&format!("{}_no_update", self.history_table));
        let no_delete = quote_ident(&format!("{}_no_delete", self.history_table));
        let index = quote_ident(&format!("{}_version_idx", self.history_table));
        let message = "the cutover history is append-only; cutover records every change as a new row";
        // The guard: a row for every history row, written by a trigger, kept when the history
        // is emptied anyway (its triggers dropped); the runner compares the two. A history from
        // before the guard gets one, its rows witnessed as they are now (before the trigger
        // that marks the upgrade done exists).
        let guard = quote_ident(&format!("{}_guard", self.history_table));
        let guard_no_update = quote_ident(&format!("{}_guard_no_update", self.history_table));
        let guard_no_delete = quote_ident(&format!("{}_guard_no_delete", self.history_table));
        let guard_row_name = format!("{}_guard_row", self.history_table);
        let guard_row = quote_ident(&guard_row_name);
        let guard_row_literal = format!("'{}'", guard_row_name.replace('\'', "''"));
        let guard_message = "the cutover history guard is append-only";
        // Everything is made in one transaction, the guard's trigger last: when it exists, no
        // write lock is needed (another writer may hold it for a while).
        let done: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                [&guard_row_name],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        if done > 0 {
            return Ok(());
        }
        let ddl = format!(
            r#"
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS {table} (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    version          TEXT,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('versioned', 'repeatable', 'baseline')),
    direction        TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    state            TEXT NOT NULL CHECK (state IN ('running', 'applied', 'failed', 'reverted', 'baselined')),
    script           TEXT NOT NULL,
    checksum         TEXT NOT NULL,
    transactional    INTEGER NOT NULL,
    statements_total INTEGER NOT NULL,
    statements_done  INTEGER NOT NULL,
    prefix_checksum  TEXT,
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    duration_ms      INTEGER,
    error_message    TEXT,
    error_sqlstate   TEXT,
    error_statement  TEXT,
    error_location   TEXT,
    installed_by     TEXT NOT NULL,
    runner           TEXT NOT NULL,
    tool_version     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {index} ON {table} (version, id);
CREATE TRIGGER IF NOT EXISTS {no_update} BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END;
CREATE TRIGGER IF NOT EXISTS {no_delete} BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END;
CREATE TABLE IF NOT EXISTS {guard} (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    history_id INTEGER NOT NULL,
    version    TEXT,
    state      TEXT NOT NULL,
    checksum   TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS {guard_no_update} BEFORE UPDATE ON {guard} BEGIN SELECT RAISE(ABORT, '{guard_message}'); END;
CREATE TRIGGER IF NOT EXISTS {guard_no_delete} BEFORE DELETE ON {guard} BEGIN SELECT RAISE(ABORT, '{guard_message}'); END;
INSERT INTO {guard} (history_id, version, state, checksum)
    SELECT h.id, h.version, h.state, h.checksum FROM {table} h
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = {guard_row_literal})
      AND NOT EXISTS (SELECT 1 FROM {guard} g WHERE g.history_id = h.id)
    ORDER BY h.id;
CREATE TRIGGER IF NOT EXISTS {guard_row} AFTER INSERT ON {table} BEGIN
    INSERT INTO {guard} (history_id, version, state, checksum) VALUES (NEW.id, NEW.version, NEW.state, NEW.checksum);
END;
COMMIT;
"#
        );
        self.conn.busy_timeout(Duration::from_secs(30)).map_err(db_error)?;
        self.conn.execute_batch(&ddl).map_err(|err| {
            let _ = self.conn.execute_batch("ROLLBACK");
            db_error(err)
        })
    }

    fn read_history_guard(&mut self) -> Result<Option<Vec<GuardRow>>, DbError> {
        let name = format!("{}_guard", self.history_table);
        let exists: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [&name], |row| {
                row.get(0)
            })
            .map_err(db_error)?;
        if exists == 0 {
            return Ok(None);
        }
        let mut statement = self
            .conn
            .prepare(&format!("SELECT history_id, version, state, checksum FROM {} ORDER BY id", quote_ident(&name)))
            .map_err(db_error)?;
        let rows = statement
            .query_map([], |row| {
                Ok(GuardRow {
                    history_id: row.get(0)?,
                    version: row.get(1)?,
                    state: row.get(2)?,
                    checksum: row.get(3)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map(Some).map_err(db_error)
    }

    fn tables_present(&mut self, tables: &[String]) -> Result<Vec<String>, DbError> {
        let mut present = Vec::new();
        for table in tables {
            let name = table.strip_prefix("main.").unwrap_or(table);
            if cutover_engine::Inspect::table_exists(self, name)? {
                present.push(table.clone());
            }
        }
        Ok(present)
    }

    fn lock_wait_advice(&self) -> String {
        "another connection holds the database's write lock (an open transaction, in this or another process); end it"
            .to_string()
    }

    fn append_approvals(&mut self, approvals: &[Approval]) -> Result<(), DbError> {
        let table = quote_ident(&format!("{}_approvals", self.history_table));
        let no_update = quote_ident(&format!("{}_approvals_no_update", self.history_table));
        let no_delete = quote_ident(&format!("{}_approvals_no_delete", self.history_table));
        let message = "the cutover approvals are append-only";
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                    id          INTEGER PRIMARY KEY AUTOINCREMENT,
                    version     TEXT,
                    name        TEXT NOT NULL,
                    rule        TEXT NOT NULL,
                    how         TEXT NOT NULL CHECK (how IN ({kinds})),
                    reason      TEXT NOT NULL,
                    location    TEXT NOT NULL,
                    message     TEXT NOT NULL,
                    approved_by TEXT NOT NULL,
                    approved_at TEXT NOT NULL
                );
                CREATE TRIGGER IF NOT EXISTS {no_update} BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END;
                CREATE TRIGGER IF NOT EXISTS {no_delete} BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END;",
                kinds = ApprovalKind::quoted_list()
            ))
            .map_err(db_error)?;
        let sql = format!(
            "INSERT INTO {table} (version, name, rule, how, reason, location, message, approved_by, approved_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        );
        for a in approvals {
            self.conn
                .execute(
                    &sql,
                    params![
                        a.version,
                        a.name,
                        a.rule,
                        a.how.name(),
                        a.reason,
                        a.location,
                        a.message,
                        a.approved_by,
                        a.approved_at
                    ],
                )
                .map_err(db_error)?;
        }
        Ok(())
    }

    fn read_approvals(&mut self) -> Result<Vec<Approval>, DbError> {
        let name = format!("{}_approvals", self.history_table);
        let exists: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [&name], |row| {
                row.get(0)
            })
            .map_err(db_error)?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, version, name, rule, how, reason, location, message, approved_by, approved_at FROM {} ORDER BY id",
            quote_ident(&name)
        );
        let mut statement = self.conn.prepare(&sql).map_err(db_error)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(4)?,
                    Approval {
                        id: row.get(0)?,
                        version: row.get(1)?,
                        name: row.get(2)?,
                        rule: row.get(3)?,
                        how: ApprovalKind::Ignore,
                        reason: row.get(5)?,
                        location: row.get(6)?,
                        message: row.get(7)?,
                        approved_by: row.get(8)?,
                        approved_at: row.get(9)?,
                    },
                ))
            })
            .map_err(db_error)?;
        let place = format!("the approvals table {}", quote_ident(&name));
        let mut approvals = Vec::new();
        for row in rows {
            let (how, mut approval) = row.map_err(db_error)?;
            approval.how = ApprovalKind::parse(&how).map_err(|e| e.in_table(&place))?;
            approvals.push(approval);
        }
        Ok(approvals)
    }

    fn read_history(&mut self) -> Result<Vec<HistoryRecord>, DbError> {
        let sql = format!("SELECT id, {COLUMNS} FROM {} ORDER BY id", quote_ident(&self.history_table));
        let mut statement = self.conn.prepare(&sql).map_err(db_error)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    HistoryRecord {
                        id: row.get(0)?,
                        version: row.get(1)?,
                        name: row.get(2)?,
                        kind: RecordKind::Versioned,
                        direction: Direction::Up,
                        state: State::Applied,
                        script: row.get(6)?,
                        checksum: row.get(7)?,
                        transactional: row.get(8)?,
                        statements_total: row.get(9)?,
                        statements_done: row.get(10)?,
                        prefix_checksum: row.get(11)?,
                        started_at: row.get(12)?,
                        finished_at: row.get(13)?,
                        duration_ms: row.get(14)?,
                        error_message: row.get(15)?,
                        error_sqlstate: row.get(16)?,
                        error_statement: row.get(17)?,
                        error_location: row.get(18)?,
                        installed_by: row.get(19)?,
                        runner: row.get(20)?,
                        tool_version: row.get(21)?,
                    },
                ))
            })
            .map_err(db_error)?;
        let place = format!("the history table {}", quote_ident(&self.history_table));
        let mut records = Vec::new();
        for row in rows {
            let (kind, direction, state, mut record) = row.map_err(db_error)?;
            record.kind = RecordKind::parse(&kind).map_err(|e| e.in_table(&place))?;
            record.direction = Direction::parse(&direction).map_err(|e| e.in_table(&place))?;
            record.state = State::parse(&state).map_err(|e| e.in_table(&place))?;
            records.push(record);
        }
        Ok(records)
    }

    fn acquire_runner_lock(
        &mut self,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError> {
        let Some(path) = &self.path else {
            // An in-memory database belongs to this process alone.
            return Ok(Box::new(()));
        };
        // The lock is an flock on the database file: it belongs to the file (its inode), so a
        // symlink, a hard link or another spelling of the path takes the same lock. SQLite's own
        // locks are POSIX record locks, which flock does not touch.
        let database = File::open(path).map_err(|err| {
            DbError::new(DbErrorKind::Connection, format!("cannot open `{}` to lock it: {err}", path.display()))
        })?;
        // Who holds it is written beside the file its real path names.
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        let mut lock_path = real.as_os_str().to_owned();
        lock_path.push(".cutover-lock");
        let lock_path = Path::new(&lock_path);
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(lock_path).map_err(|err| {
                DbError::new(DbErrorKind::Connection, format!("cannot open lock file `{}`: {err}", lock_path.display()))
            })?;
        let started = Instant::now();
        loop {
            match database.try_lock() {
                Ok(()) => {
                    let _ = file.set_len(0);
                    let _ = file.rewind();
                    let _ = writeln!(file, "{owner}");
                    let _ = file.flush();
                    return Ok(Box::new(FileLock { database, owner: file }));
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(err)) => {
                    return Err(DbError::new(DbErrorKind::Other, format!("cannot lock `{}`: {err}", path.display())))
                }
            }
            let holder = read_holder(&mut file);
            if started.elapsed() >= wait {
                return Err(DbError::new(
                    DbErrorKind::LockTimeout,
                    format!(
                        "another cutover still holds the migration lock after {:.1}s ({}); wait for it to finish, or stop it",
                        wait.as_secs_f64(),
                        holder.description
                    ),
                ));
            }
            on_wait(&holder);
            thread::sleep(Duration::from_millis(50 + u64::from(std::process::id() % 50)));
        }
    }

    fn transaction(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        self.set_timeouts(timeouts)?;
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(db_error)?;
        let res = body(&mut SqliteSession { conn: &self.conn, table: &self.history_table });
        match res {
            Ok(()) => self.conn.execute_batch("COMMIT").map_err(|err| {
                let _ = self.conn.execute_batch("ROLLBACK");
                db_error(err)
            }),
            Err(err) => {
                // Some errors end the transaction themselves; then there is nothing to roll back.
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Err(err)
            }
        }
    }

    fn autocommit(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        self.set_timeouts(timeouts)?;
        body(&mut SqliteSession { conn: &self.conn, table: &self.history_table })
    }

    fn clear_leftovers(&mut self, _sql: &str) -> Result<Option<String>, DbError> {
        // Every SQLite statement is atomic; nothing is left behind.
        Ok(None)
    }

    fn allowed_in_transaction(&self, sql: &str) -> bool {
        let first = sql.split_whitespace().next().unwrap_or("");
        !first.eq_ignore_ascii_case("VACUUM")
    }
}

fn read_holder(file: &mut File) -> LockHolder {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    let mut lines = text.lines();
    match lines.next() {
        Some(owner) if !owner.is_empty() => LockHolder { description: owner.to_string(), since: None },
        _ => LockHolder { description: "another process".to_string(), since: None },
    }
}

impl cutover_engine::Inspect for SqliteTarget {
    fn table_exists(&mut self, name: &str) -> Result<bool, DbError> {
        self.conn
            // SQLite's names ignore ASCII case: `USERS` is `users` (tester 19).
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                [name],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(db_error)
    }

    fn select_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        use rusqlite::types::ValueRef;
        let mut statement = self.conn.prepare(sql).map_err(db_error)?;
        let n = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                (0..n)
                    .map(|idx| {
                        Ok(match row.get_ref(idx)? {
                            ValueRef::Null => None,
                            ValueRef::Integer(i) => Some(i.to_string()),
                            ValueRef::Real(f) => Some(f.to_string()),
                            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Some(b.iter().map(|byte| format!("{byte:02x}")).collect()),
                        })
                    })
                    .collect::<Result<Vec<_>, rusqlite::Error>>()
            })
            .map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
    }
}
