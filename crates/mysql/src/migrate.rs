//! The runner's primitives on MySQL/MariaDB: history, runner lock, timeouts.
//!
//! Quirks handled here:
//! - DDL commits implicitly: `transactional_ddl` is false, so the runner records progress
//!   statement by statement; DML still runs in a transaction with its progress row.
//! - `GET_LOCK` is server-wide, so the lock's name carries the history table's database and
//!   name, resolved (`cutover_history` and `app.cutover_history` are one table, so one lock);
//!   it is taken on a connection of its own and polled with a zero timeout, so a waiting runner
//!   never sits in a server-side wait that could block the running one.
//! - `TRUNCATE` fires no trigger: the append-only triggers cannot stop it. A guard table beside
//!   the history (`<history>_guard`) references it by foreign key, so InnoDB refuses to
//!   truncate or drop the history (error 1701, 1451); an `AFTER INSERT` trigger writes a guard
//!   row for every history row, so a history emptied anyway (`foreign_key_checks = 0`) is
//!   noticed when it is read.
//! - A statement whose client died runs on to its end: a runner killed during a long `ALTER
//!   TABLE` leaves it to the server, and the rerun finds it in `PROCESSLIST`
//!   (`still_running`) and waits for it rather than for its locks.
//! - Timeouts are whole seconds (`lock_wait_timeout`, `innodb_lock_wait_timeout`); the
//!   statement timeout is MariaDB's `max_statement_time` (MySQL has none for DDL).

use std::thread;
use std::time::{Duration, Instant};

use cutover_engine::{
    jitter, Approval, ApprovalKind, DbError, DbErrorKind, Direction, GuardRow, HistoryRecord, LockGuard, LockHolder,
    MigrationTarget, RecordKind, Session, State, StillRunning, Timeouts,
};
use mysql::prelude::Queryable;
use mysql::{params, Conn, Row};

use crate::backfill::text;
use crate::connect::{open, MysqlTarget, TableName};
use crate::error::db_error;

const COLUMNS: &str = "version, name, kind, direction, state, script, checksum, transactional, statements_total, \
     statements_done, prefix_checksum, started_at, finished_at, duration_ms, error_message, error_sqlstate, \
     error_statement, error_location, installed_by, runner, tool_version";

struct MysqlSession<'a> {
    conn: &'a mut Conn,
    /// The history table, quoted.
    table: String,
}

impl Session for MysqlSession<'_> {
    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.query_drop(sql).map_err(db_error)
    }

    fn append_history(&mut self, r: &HistoryRecord) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {} ({COLUMNS}) VALUES (:version, :name, :kind, :direction, :state, :script, :checksum, \
             :transactional, :statements_total, :statements_done, :prefix_checksum, :started_at, :finished_at, \
             :duration_ms, :error_message, :error_sqlstate, :error_statement, :error_location, CURRENT_USER(), \
             :runner, :tool_version)",
            self.table
        );
        self.conn
            .exec_drop(
                sql,
                params! {
                    "version" => &r.version,
                    "name" => &r.name,
                    "kind" => r.kind.name(),
                    "direction" => r.direction.name(),
                    "state" => r.state.name(),
                    "script" => &r.script,
                    "checksum" => &r.checksum,
                    "transactional" => r.transactional,
                    "statements_total" => r.statements_total,
                    "statements_done" => r.statements_done,
                    "prefix_checksum" => &r.prefix_checksum,
                    "started_at" => &r.started_at,
                    "finished_at" => &r.finished_at,
                    "duration_ms" => r.duration_ms,
                    "error_message" => &r.error_message,
                    "error_sqlstate" => &r.error_sqlstate,
                    "error_statement" => &r.error_statement,
                    "error_location" => &r.error_location,
                    "runner" => &r.runner,
                    "tool_version" => &r.tool_version,
                },
            )
            .map_err(db_error)
    }
}

impl MysqlTarget {
    /// Applies the timeouts to the session. MySQL counts them in whole seconds: a lock timeout
    /// under a second becomes one.
    pub(crate) fn set_session_timeouts(&mut self, timeouts: Timeouts) -> Result<(), DbError> {
        let lock = timeouts.lock_timeout.as_secs_f64().ceil().max(1.0) as u64;
        let mut sql = format!("SET SESSION lock_wait_timeout = {lock}, SESSION innodb_lock_wait_timeout = {lock}");
        if self.mariadb {
            sql.push_str(&format!(", SESSION max_statement_time = {}", timeouts.statement_timeout.as_secs_f64()));
        }
        self.conn.query_drop(sql).map_err(db_error)
    }

    /// Makes the session strict (`STRICT_ALL_TABLES` added to its `sql_mode`) for what an online
    /// rewrite writes: its copy, and its triggers, which keep the `sql_mode` they were made
    /// under. A server whose mode is not strict would otherwise cut a value the new (or, after
    /// the swap, the old) column cannot hold without a word, and the checksums, taken in the
    /// destination's types, would agree; strict, the copy is refused and the reverse capture
    /// notes a miss, as on PostgreSQL.
    /// Once per connection: a copy's batches each ask for it.
    pub(crate) fn strict_session(&mut self) -> Result<(), DbError> {
        if !self.strict {
            self.conn
                .query_drop(
                    "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')",
                )
                .map_err(db_error)?;
            self.strict = true;
        }
        Ok(())
    }

    /// Takes the server-wide `GET_LOCK(name)` on a connection of its own, polling with a zero
    /// timeout, and holds it until the returned guard is dropped.
    pub(crate) fn server_lock(
        &mut self,
        name: &str,
        _owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError> {
        // GET_LOCK names are at most 64 characters.
        let name = if name.len() <= 64 { name.to_string() } else { format!("cutover:{:016x}", fnv1a(name.as_bytes())) };
        let mut conn = open(&self.opts, self.tls_preferred)?;
        let started = Instant::now();
        loop {
            let got: Option<Option<i64>> = conn.exec_first("SELECT GET_LOCK(?, 0)", (&name,)).map_err(db_error)?;
            if got.flatten() == Some(1) {
                return Ok(Box::new(ServerLock { conn, name }));
            }
            let holder = lock_holder(&mut conn, &name)?;
            if started.elapsed() >= wait {
                return Err(DbError::new(
                    DbErrorKind::LockTimeout,
                    format!(
                        "another cutover still holds the lock `{name}` after {:.1}s ({}); wait for it to finish, or stop it",
                        wait.as_secs_f64(),
                        holder.description
                    ),
                ));
            }
            on_wait(&holder);
            thread::sleep(jitter(Duration::from_millis(100)));
        }
    }

    /// The runner lock's name: server-wide, so it names the history table's database and name
    /// as resolved, case folded where the server folds them: every spelling of one history
    /// table takes one lock. `GET_LOCK` names are at most 64 characters.
    fn lock_name(&self) -> String {
        runner_lock_name(&self.history, self.names_fold_case)
    }

    fn table_exists_in(&mut self, table: &TableName) -> Result<bool, DbError> {
        let n: Option<i64> = self
            .conn
            .exec_first(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                (&table.database, &table.name),
            )
            .map_err(db_error)?;
        Ok(n.unwrap_or(0) > 0)
    }

    fn trigger_exists(&mut self, trigger: &TableName) -> Result<bool, DbError> {
        // `TRIGGERS` compares without case, whatever the server does with database names: a
        // database named as this one but for case is another (found by the MariaDB tester).
        let sql = format!(
            "SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA {} AND TRIGGER_NAME = ?",
            crate::connect::schema_equals(self.names_fold_case)
        );
        let n: Option<i64> = self.conn.exec_first(sql, (&trigger.database, &trigger.name)).map_err(db_error)?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// Creates `trigger` with `definition` (what follows `CREATE TRIGGER name`) unless it exists:
    /// each piece of the history is made on its own (DDL commits implicitly), so a run killed
    /// half-way leaves the rest to the next.
    fn ensure_trigger(&mut self, trigger: &TableName, definition: &str) -> Result<(), DbError> {
        if self.trigger_exists(trigger)? {
            return Ok(());
        }
        self.conn.query_drop(format!("CREATE TRIGGER {} {definition}", trigger.quoted())).map_err(db_error)
    }

    /// `BEFORE UPDATE` and `BEFORE DELETE` triggers that refuse, with `message`.
    fn ensure_append_only(&mut self, table: &TableName, message: &str) -> Result<(), DbError> {
        for (suffix, event) in [("_no_update", "UPDATE"), ("_no_delete", "DELETE")] {
            let definition = format!(
                "BEFORE {event} ON {} FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'",
                table.quoted()
            );
            self.ensure_trigger(&table.with_suffix(suffix), &definition)?;
        }
        Ok(())
    }
}

/// `cutover:<database>:<table>`: what older cutovers named it for an unqualified history table.
fn runner_lock_name(history: &TableName, fold_case: bool) -> String {
    let name = format!("cutover:{}:{}", history.database, history.name);
    if fold_case {
        name.to_lowercase()
    } else {
        name
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Holds `GET_LOCK` on its own connection; releasing is closing it (or `RELEASE_LOCK`).
struct ServerLock {
    conn: Conn,
    name: String,
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        let _ = self.conn.exec_drop("SELECT RELEASE_LOCK(?)", (&self.name,));
    }
}

/// The name of the guard's foreign key: InnoDB keeps foreign key names per database but
/// compares them without case, so `Shop`'s unnamed `..._ibfk_1` would collide with `shop`'s
/// (errno 121, found by the MariaDB tester). The name carries a hash of the exact database
/// and table names.
fn guard_key_name(guard: &TableName) -> String {
    // FNV-1a, 32 bits: stable across versions and platforms.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in guard.database.bytes().chain([b'.']).chain(guard.name.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("cutover_guard_fk_{hash:08x}")
}

impl MigrationTarget for MysqlTarget {
    fn engine(&self) -> cutover_engine::Engine {
        cutover_engine::Engine::Mysql
    }

    /// `up`'s gate judges pending migrations on the live tables (sizes, indexes, keys), as
    /// `plan` does: tables made before the folder are known.
    fn catalog(&mut self) -> Option<&mut dyn cutover_engine::Catalog> {
        Some(self)
    }

    fn server_version(&self) -> String {
        self.server_version.clone()
    }

    fn history_exists(&mut self) -> Result<bool, DbError> {
        let history = self.history.clone();
        self.table_exists_in(&history)
    }

    fn ensure_history(&mut self) -> Result<(), DbError> {
        let history = self.history.clone();
        let guard = history.with_suffix("_guard");
        let guard_row = history.with_suffix("_guard_row");
        // The guard's trigger is made last: when it exists, so does everything before it.
        if self.trigger_exists(&guard_row)? {
            return Ok(());
        }
        let table = history.quoted();
        self.conn.query_drop("SET SESSION lock_wait_timeout = 30").map_err(db_error)?;
        self.conn
            .query_drop(format!(
                "CREATE TABLE IF NOT EXISTS {table} (
    id               BIGINT AUTO_INCREMENT PRIMARY KEY,
    version          VARCHAR(255),
    name             VARCHAR(1024) NOT NULL,
    kind             VARCHAR(16) NOT NULL CHECK (kind IN ('versioned', 'repeatable', 'baseline')),
    direction        VARCHAR(8) NOT NULL CHECK (direction IN ('up', 'down')),
    state            VARCHAR(16) NOT NULL CHECK (state IN ('running', 'applied', 'failed', 'reverted', 'baselined')),
    script           VARCHAR(2048) NOT NULL,
    checksum         VARCHAR(128) NOT NULL,
    transactional    BOOLEAN NOT NULL,
    statements_total BIGINT NOT NULL,
    statements_done  BIGINT NOT NULL,
    prefix_checksum  VARCHAR(128),
    started_at       VARCHAR(40) NOT NULL,
    finished_at      VARCHAR(40),
    duration_ms      BIGINT,
    error_message    TEXT,
    error_sqlstate   VARCHAR(32),
    error_statement  TEXT,
    error_location   VARCHAR(2048),
    installed_by     VARCHAR(255) NOT NULL,
    runner           VARCHAR(1024) NOT NULL,
    tool_version     VARCHAR(64) NOT NULL,
    INDEX (version, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
            ))
            .map_err(db_error)?;
        self.ensure_append_only(
            &history,
            "the cutover history is append-only: cutover records every change as a new row",
        )?;
        // The foreign key makes InnoDB refuse TRUNCATE and DROP of the history (no trigger
        // fires on them); the guard's rows witness the history's, for when that is bypassed.
        self.conn
            .query_drop(format!(
                "CREATE TABLE IF NOT EXISTS {} (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    history_id BIGINT NOT NULL,
    version    VARCHAR(255),
    state      VARCHAR(16) NOT NULL,
    checksum   VARCHAR(128) NOT NULL,
    CONSTRAINT {constraint} FOREIGN KEY (history_id) REFERENCES {table} (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
                guard.quoted(),
                constraint = crate::connect::quote_ident(&guard_key_name(&guard))
            ))
            .map_err(db_error)?;
        self.ensure_append_only(&guard, "the cutover history guard is append-only")?;
        // A history from before the guard: its rows are witnessed as they are now.
        self.conn
            .query_drop(format!(
                "INSERT INTO {guard} (history_id, version, state, checksum) \
                 SELECT h.id, h.version, h.state, h.checksum FROM {table} h \
                 WHERE NOT EXISTS (SELECT 1 FROM {guard} g WHERE g.history_id = h.id) ORDER BY h.id",
                guard = guard.quoted()
            ))
            .map_err(db_error)?;
        let definition = format!(
            "AFTER INSERT ON {table} FOR EACH ROW INSERT INTO {} (history_id, version, state, checksum) \
             VALUES (NEW.id, NEW.version, NEW.state, NEW.checksum)",
            guard.quoted()
        );
        self.ensure_trigger(&guard_row, &definition)
    }

    fn read_history_guard(&mut self) -> Result<Option<Vec<GuardRow>>, DbError> {
        let guard = self.history.with_suffix("_guard");
        let sql = format!("SELECT history_id, version, state, checksum FROM {} ORDER BY id", guard.quoted());
        let rows: Vec<(i64, Option<String>, String, String)> = match self.conn.query(sql) {
            Ok(rows) => rows,
            // ER_NO_SUCH_TABLE: no guard yet (`status` before the first `up` of this version).
            Err(mysql::Error::MySqlError(e)) if e.code == 1146 => return Ok(None),
            Err(err) => return Err(db_error(err)),
        };
        Ok(Some(
            rows.into_iter()
                .map(|(history_id, version, state, checksum)| GuardRow { history_id, version, state, checksum })
                .collect(),
        ))
    }

    fn append_approvals(&mut self, approvals: &[Approval]) -> Result<(), DbError> {
        let approvals_table = self.history.with_suffix("_approvals");
        let table = approvals_table.quoted();
        if !self.table_exists_in(&approvals_table)? {
            self.conn
                .query_drop(format!(
                    "CREATE TABLE IF NOT EXISTS {table} (
                        id          BIGINT AUTO_INCREMENT PRIMARY KEY,
                        version     VARCHAR(255),
                        name        VARCHAR(1024) NOT NULL,
                        rule        VARCHAR(128) NOT NULL,
                        how         VARCHAR(16) NOT NULL CHECK (how IN ({kinds})),
                        reason      TEXT NOT NULL,
                        location    VARCHAR(2048) NOT NULL,
                        message     TEXT NOT NULL,
                        approved_by VARCHAR(1024) NOT NULL,
                        db_user     VARCHAR(255) NOT NULL,
                        approved_at VARCHAR(40) NOT NULL
                    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
                    kinds = ApprovalKind::quoted_list()
                ))
                .map_err(db_error)?;
        }
        self.ensure_append_only(&approvals_table, "the cutover approvals are append-only")?;
        let sql = format!(
            "INSERT INTO {table} (version, name, rule, how, reason, location, message, approved_by, db_user, approved_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, CURRENT_USER(), ?)"
        );
        for a in approvals {
            self.conn
                .exec_drop(
                    &sql,
                    (
                        &a.version,
                        &a.name,
                        &a.rule,
                        a.how.name(),
                        &a.reason,
                        &a.location,
                        &a.message,
                        &a.approved_by,
                        &a.approved_at,
                    ),
                )
                .map_err(db_error)?;
        }
        Ok(())
    }

    fn read_approvals(&mut self) -> Result<Vec<Approval>, DbError> {
        let approvals_table = self.history.with_suffix("_approvals");
        if !self.table_exists_in(&approvals_table)? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .conn
            .query(format!(
                "SELECT id, version, name, rule, how, reason, location, message, approved_by, approved_at FROM {} ORDER BY id",
                approvals_table.quoted()
            ))
            .map_err(db_error)?;
        let place = format!("the approvals table {}", approvals_table.quoted());
        rows.iter()
            .map(|row| {
                let text = |idx: usize| row.get::<Option<String>, _>(idx).flatten();
                Ok(Approval {
                    id: row.get::<Option<i64>, _>(0).flatten().unwrap_or_default(),
                    version: text(1),
                    name: text(2).unwrap_or_default(),
                    rule: text(3).unwrap_or_default(),
                    how: ApprovalKind::parse(&text(4).unwrap_or_default()).map_err(|e| e.in_table(&place))?,
                    reason: text(5).unwrap_or_default(),
                    location: text(6).unwrap_or_default(),
                    message: text(7).unwrap_or_default(),
                    approved_by: text(8).unwrap_or_default(),
                    approved_at: text(9).unwrap_or_default(),
                })
            })
            .collect()
    }

    fn read_history(&mut self) -> Result<Vec<HistoryRecord>, DbError> {
        let sql = format!("SELECT id, {COLUMNS} FROM {} ORDER BY id", self.history.quoted());
        let rows: Vec<Row> = self.conn.query(sql).map_err(db_error)?;
        let place = format!("the history table {}", self.history.quoted());
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let text = |idx: usize| -> Option<String> { row.get::<Option<String>, _>(idx).flatten() };
            let int = |idx: usize| -> Option<i64> { row.get::<Option<i64>, _>(idx).flatten() };
            records.push(HistoryRecord {
                id: int(0).unwrap_or_default(),
                version: text(1),
                name: text(2).unwrap_or_default(),
                kind: RecordKind::parse(&text(3).unwrap_or_default()).map_err(|e| e.in_table(&place))?,
                direction: Direction::parse(&text(4).unwrap_or_default()).map_err(|e| e.in_table(&place))?,
                state: State::parse(&text(5).unwrap_or_default()).map_err(|e| e.in_table(&place))?,
                script: text(6).unwrap_or_default(),
                checksum: text(7).unwrap_or_default(),
                transactional: int(8).unwrap_or_default() != 0,
                statements_total: int(9).unwrap_or_default(),
                statements_done: int(10).unwrap_or_default(),
                prefix_checksum: text(11),
                started_at: text(12).unwrap_or_default(),
                finished_at: text(13),
                duration_ms: int(14),
                error_message: text(15),
                error_sqlstate: text(16),
                error_statement: text(17),
                error_location: text(18),
                installed_by: text(19).unwrap_or_default(),
                runner: text(20).unwrap_or_default(),
                tool_version: text(21).unwrap_or_default(),
            });
        }
        Ok(records)
    }

    fn acquire_runner_lock(
        &mut self,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError> {
        let name = self.lock_name();
        self.server_lock(&name, owner, wait, on_wait)
    }

    fn reset_session(&mut self) -> Result<(), DbError> {
        // COM_RESET_CONNECTION: session variables back to the server's, user variables and
        // temporary tables gone; the default database is put back by hand (a `USE`). The
        // runner's GET_LOCK is held by a connection of its own.
        self.conn.reset().map_err(db_error)?;
        self.strict = false;
        self.conn.query_drop(format!("USE {}", crate::connect::quote_ident(&self.database))).map_err(db_error)
    }

    fn transaction(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        self.set_session_timeouts(timeouts)?;
        self.conn.query_drop("START TRANSACTION").map_err(db_error)?;
        let res = body(&mut MysqlSession { conn: &mut self.conn, table: self.history.quoted() });
        match res {
            Ok(()) => self.conn.query_drop("COMMIT").map_err(|err| {
                let _ = self.conn.query_drop("ROLLBACK");
                db_error(err)
            }),
            Err(err) => {
                let _ = self.conn.query_drop("ROLLBACK");
                Err(err)
            }
        }
    }

    fn autocommit(
        &mut self,
        timeouts: Timeouts,
        body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        self.set_session_timeouts(timeouts)?;
        body(&mut MysqlSession { conn: &mut self.conn, table: self.history.quoted() })?;
        // A migration's `SET autocommit = 0` leaves what ran since open: its history row
        // among it, lost when the session is reset (tester 21). Done is done: committed.
        self.conn.query_drop("COMMIT").map_err(db_error)
    }

    fn clear_leftovers(&mut self, _sql: &str) -> Result<Option<String>, DbError> {
        // A failed ALTER TABLE is rolled back by the server (atomic DDL on MySQL 8 and MariaDB
        // 10.6+); nothing is left behind to clear.
        Ok(None)
    }

    fn still_running(&mut self, sql: &str) -> Result<Option<StillRunning>, DbError> {
        // The killed runner's connection, on the URL's database, sent the statement as written.
        // Without the PROCESS privilege only the user's own sessions are seen: a runner killed
        // under another user goes unseen, and the rerun waits for its locks instead.
        let row: Option<ProcessRow> = self
            .conn
            .exec_first(
                "SELECT ID, USER, HOST, TIME FROM information_schema.PROCESSLIST \
                 WHERE ID <> CONNECTION_ID() AND COMMAND = 'Query' AND DB = ? AND INFO = ? ORDER BY TIME DESC LIMIT 1",
                (&self.database, sql),
            )
            .map_err(db_error)?;
        Ok(row.and_then(|(id, user, host, time)| {
            let id = id?;
            Some(StillRunning {
                description: format!("connection {id} of {}@{}", user.unwrap_or_default(), host.unwrap_or_default()),
                running_for: Duration::from_secs(time.unwrap_or_default().max(0) as u64),
                stop_with: format!("KILL {id}"),
            })
        }))
    }

    fn tables_present(&mut self, tables: &[String]) -> Result<Vec<String>, DbError> {
        let mut present = Vec::new();
        for table in tables {
            let exists = match table.split_once('.') {
                Some((database, name)) => {
                    self.table_exists_in(&TableName { database: database.to_string(), name: name.to_string() })?
                }
                None => cutover_engine::Inspect::table_exists(self, table)?,
            };
            if exists {
                present.push(table.clone());
            }
        }
        Ok(present)
    }

    fn lock_holders(&mut self, _relations: &[String]) -> Result<Vec<LockHolder>, DbError> {
        // Which session holds a metadata lock is not shown without performance_schema or a
        // plugin; the sessions of this database in an open transaction are those that can,
        // oldest first (LOCK TABLES holders are not among them: the advice names where to look).
        open_transactions(&mut self.conn)
    }

    fn lock_wait_advice(&self) -> String {
        let holders = if !self.mariadb {
            "performance_schema.metadata_locks and sys.schema_table_lock_waits name metadata-lock holders, information_schema.INNODB_TRX row-lock holders"
        } else if self.metadata_lock_info {
            "information_schema.METADATA_LOCK_INFO names metadata-lock holders, information_schema.INNODB_TRX row-lock holders"
        } else {
            "information_schema.INNODB_TRX names row-lock holders; for metadata locks, `INSTALL SONAME 'metadata_lock_info'` adds information_schema.METADATA_LOCK_INFO"
        };
        format!("find it with SHOW FULL PROCESSLIST (a session in a long transaction, or running a statement on the table; {holders})")
    }

    fn allowed_in_transaction(&self, sql: &str) -> bool {
        !causes_implicit_commit(sql)
    }

    fn transactional_ddl(&self) -> bool {
        false
    }
}

/// The other sessions in an open transaction on the connection's database, oldest first, at
/// most five: those that may hold a metadata lock where the server does not say who does.
pub(crate) fn open_transactions(conn: &mut Conn) -> Result<Vec<LockHolder>, DbError> {
    let rows: Vec<Row> = conn
        .query(
            "SELECT p.ID, p.USER, p.HOST, TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), \
               LEFT(COALESCE(p.INFO, t.trx_query, ''), 2000), \
               DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) SECOND, '%Y-%m-%dT%H:%i:%sZ') \
             FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
             WHERE p.ID <> CONNECTION_ID() AND p.DB = DATABASE() ORDER BY t.trx_started LIMIT 5",
        )
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|row| {
            let field = |idx| text(row, idx).unwrap_or_default();
            LockHolder {
                description: format!(
                    "session {} ({}@{}, in a transaction on this database for {} s, {})",
                    field(0),
                    field(1),
                    field(2),
                    field(3),
                    doing(&field(4))
                ),
                since: Some(field(5)),
            }
        })
        .collect())
}

/// What a session runs, for a message: another session's statement may hold a password or
/// personal data, so only its shape is shown.
pub(crate) fn doing(query: &str) -> String {
    let query = cutover_engine::query_for_display(query, true, 120);
    if query.is_empty() {
        "idle".to_string()
    } else {
        format!("running: {query}")
    }
}

/// Whether MySQL commits the open transaction before (and after) running `sql`: DDL and a few
/// administrative statements do, so they cannot share a transaction with their progress row.
pub(crate) fn causes_implicit_commit(sql: &str) -> bool {
    let first = sql
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("--") && !line.starts_with('#'))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or("")
        .to_ascii_uppercase();
    !matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "SELECT" | "SET" | "DO" | "WITH" | "CALL")
}

/// A row of `information_schema.PROCESSLIST`: id, user, host, seconds connected.
type ProcessRow = (Option<u64>, Option<String>, Option<String>, Option<i64>);

/// Who holds the lock: its connection, user, host and how long it has been connected.
fn lock_holder(conn: &mut Conn, name: &str) -> Result<LockHolder, DbError> {
    let row: Option<ProcessRow> = conn
        .exec_first(
            "SELECT p.ID, p.USER, p.HOST, p.TIME FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK(?)",
            (name,),
        )
        .map_err(db_error)?;
    Ok(match row {
        Some((Some(id), user, host, time)) => LockHolder {
            description: format!(
                "connection {id} of {}@{}, connected for {}s",
                user.unwrap_or_default(),
                host.unwrap_or_default(),
                time.unwrap_or_default()
            ),
            since: None,
        },
        _ => LockHolder { description: "another session".to_string(), since: None },
    })
}

impl cutover_engine::Inspect for MysqlTarget {
    fn table_exists(&mut self, name: &str) -> Result<bool, DbError> {
        // `database.table` (Atlas keeps its revisions in a database of their own).
        let (database, table) = match name.split_once('.') {
            Some((database, table)) => (Some(database), table),
            None => (None, name),
        };
        let n: Option<i64> = self
            .conn
            .exec_first(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
                (database, table),
            )
            .map_err(db_error)?;
        Ok(n.unwrap_or(0) > 0)
    }

    fn select_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let rows: Vec<Row> = self.conn.query(sql).map_err(db_error)?;
        Ok(rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|idx| match row.as_ref(idx) {
                        None | Some(mysql::Value::NULL) => None,
                        Some(mysql::Value::Bytes(bytes)) => Some(match std::str::from_utf8(bytes) {
                            Ok(text) => text.to_string(),
                            Err(_) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
                        }),
                        Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
                    })
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{causes_implicit_commit, runner_lock_name};
    use crate::connect::TableName;

    #[test]
    fn every_spelling_of_one_history_table_is_one_table_and_one_lock() {
        let bare = TableName::resolve("cutover_history", "app");
        let qualified = TableName::resolve("app.cutover_history", "app");
        assert_eq!(bare, qualified);
        assert_eq!(qualified.quoted(), "`app`.`cutover_history`");
        assert_eq!(runner_lock_name(&bare, false), "cutover:app:cutover_history", "as older cutovers named it");
        let other = TableName::resolve("ops.cutover_history", "app");
        assert_eq!(other.with_suffix("_guard").quoted(), "`ops`.`cutover_history_guard`");
        assert_ne!(runner_lock_name(&other, false), runner_lock_name(&bare, false));
        let shouted = TableName::resolve("APP.Cutover_History", "app");
        assert_eq!(runner_lock_name(&shouted, true), runner_lock_name(&bare, true), "lower_case_table_names");
    }

    #[test]
    fn ddl_commits_implicitly() {
        assert!(causes_implicit_commit("ALTER TABLE t ADD COLUMN c int"));
        assert!(causes_implicit_commit("-- comment\nCREATE INDEX i ON t (c)"));
        assert!(causes_implicit_commit("RENAME TABLE a TO b"));
        assert!(!causes_implicit_commit("INSERT INTO t VALUES (1)"));
        assert!(!causes_implicit_commit("update t set c = 1"));
    }
}
