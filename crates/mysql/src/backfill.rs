//! The backfill engine's primitives on MySQL/MariaDB.
//!
//! As on PostgreSQL, a batch is one short transaction: the keyset statements of
//! `cutover_engine::keyset` (the batch's last key, then the update of its key range) and the
//! checkpoint row, committed together. Key values travel as text (a binary key's as hex); MySQL
//! compares them with the key columns in the columns' own type and collation.
//!
//! The primary cannot see its replicas' lag: it is read on each replica given with
//! `--replica-url` (`SHOW REPLICA STATUS`, `Seconds_Behind_Master`). `Seconds_Behind_Master`
//! is only updated while the replica executes an event: a replica that waits (a delayed
//! replica, parallel replication between events) shows a stale small figure. So, as on
//! PostgreSQL, positions are sampled too: the GTIDs the primary has written and the replica
//! has applied (see `gtid_position`), and a replica that has not applied what the primary had
//! written at time t is at least `now - t` behind.

use std::time::Duration;

use cutover_engine::{
    keyset::{self, Dialect, KeysetQueries, CHECKPOINT_TABLE},
    BackfillJob, BackfillTarget, BatchOutcome, Checkpoint, CheckpointState, DatabaseUrl, DbError, DbErrorKind,
    KeyColumn, KeyRange, LockGuard, LockHolder, Pace, ReplicaState, TableKey, Timeouts,
};
use mysql::prelude::Queryable;
use mysql::{Row, Value};

use crate::connect::{quote_ident, MysqlTarget};
use crate::error::db_error;

const DIALECT: Dialect = Dialect::Mysql;

/// Key values in one text column: each as `<length>:<value>`, so any text survives.
pub(crate) fn encode_key(values: &[String]) -> String {
    values.iter().map(|v| format!("{}:{v}", v.len())).collect()
}

pub(crate) fn decode_key(text: &str) -> Option<Vec<String>> {
    let mut values = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        values.push(tail.get(..len)?.to_string());
        rest = &tail[len..];
    }
    Some(values)
}

pub(crate) fn text(row: &Row, idx: usize) -> Option<String> {
    match row.as_ref(idx)? {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn int(row: &Row, idx: usize) -> i64 {
    text(row, idx).and_then(|t| t.parse().ok()).unwrap_or_default()
}

impl KeysetQueries for MysqlTarget {
    fn bound_row(&mut self, sql: &str, params: &[String]) -> Result<Option<(u64, Vec<String>)>, DbError> {
        let row: Option<Row> = self.conn.exec_first(sql, params.to_vec()).map_err(db_error)?;
        Ok(row
            .map(|row| (int(&row, 0) as u64, (1..row.len()).map(|idx| text(&row, idx).unwrap_or_default()).collect())))
    }

    fn update(&mut self, sql: &str, params: &[String]) -> Result<u64, DbError> {
        self.conn.exec_drop(sql, params.to_vec()).map_err(db_error)?;
        Ok(self.conn.affected_rows())
    }

    fn key_rows(&mut self, sql: &str, params: &[String]) -> Result<Vec<Vec<String>>, DbError> {
        let rows: Vec<Row> = self.conn.exec(sql, params.to_vec()).map_err(db_error)?;
        Ok(rows.iter().map(|row| (0..row.len()).map(|idx| text(row, idx).unwrap_or_default()).collect()).collect())
    }
}

impl MysqlTarget {
    /// The columns added to the checkpoint table since the first version that its table lacks.
    fn missing_checkpoint_columns(&mut self) -> Result<Vec<String>, DbError> {
        let present: Vec<String> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (CHECKPOINT_TABLE,),
            )
            .map_err(db_error)?;
        Ok(keyset::added_checkpoint_columns()
            .into_iter()
            .filter(|added| !present.iter().any(|p| p.eq_ignore_ascii_case(added)))
            .map(str::to_string)
            .collect())
    }

    fn select_checkpoints(&mut self, name: Option<&str>) -> Result<Vec<Checkpoint>, DbError> {
        let missing = self.missing_checkpoint_columns()?;
        let sql = keyset::select_checkpoints_sql(DIALECT, CHECKPOINT_TABLE, name.is_some(), &missing);
        let rows: Vec<Row> = match name {
            Some(name) => self.conn.exec(sql, (name,)),
            None => self.conn.query(sql),
        }
        .map_err(db_error)?;
        let place = format!("the backfill state table {}", quote_ident(CHECKPOINT_TABLE));
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    name: text(row, 0).unwrap_or_default(),
                    table: text(row, 1).unwrap_or_default(),
                    set: text(row, 2).unwrap_or_default(),
                    condition: text(row, 3),
                    key_columns: text(row, 4).and_then(|t| decode_key(&t)).unwrap_or_default(),
                    last_key: text(row, 5).and_then(|t| decode_key(&t)),
                    pass: int(row, 6) as i32,
                    rows_scanned: int(row, 7),
                    rows_updated: int(row, 8),
                    batches: int(row, 9),
                    batch_size: int(row, 10),
                    state: CheckpointState::parse(&text(row, 11).unwrap_or_default())
                        .map_err(|e| e.in_table(&place))?,
                    error: text(row, 12),
                    runner: text(row, 13).unwrap_or_default(),
                    started_at: text(row, 14).unwrap_or_default(),
                    pace: text(row, 15).and_then(|ms| ms.parse::<u64>().ok()).map(|ms| Pace {
                        batch_time: Duration::from_millis(ms),
                        sessions_waited: int(row, 16).max(0) as u64,
                        longest_wait: Duration::from_millis(int(row, 17).max(0) as u64),
                        reason: text(row, 18).unwrap_or_default(),
                    }),
                    updated_at: text(row, 19).unwrap_or_default(),
                })
            })
            .collect()
    }

    fn upsert(&mut self, c: &Checkpoint) -> Result<(), DbError> {
        let sql = keyset::upsert_checkpoint_sql(DIALECT, CHECKPOINT_TABLE);
        let params: Vec<Value> = vec![
            c.name.clone().into(),
            c.table.clone().into(),
            c.set.clone().into(),
            c.condition.clone().into(),
            encode_key(&c.key_columns).into(),
            c.last_key.as_deref().map(encode_key).into(),
            c.pass.into(),
            c.rows_scanned.into(),
            c.rows_updated.into(),
            c.batches.into(),
            c.batch_size.into(),
            c.state.name().into(),
            c.error.clone().into(),
            c.runner.clone().into(),
            c.started_at.clone().into(),
            c.pace.as_ref().map(|p| p.batch_time.as_millis() as i64).into(),
            c.pace.as_ref().map(|p| p.sessions_waited as i64).into(),
            c.pace.as_ref().map(|p| p.longest_wait.as_millis() as i64).into(),
            c.pace.as_ref().map(|p| p.reason.clone()).into(),
        ];
        self.conn.exec_drop(sql, params).map_err(db_error)
    }
}

impl BackfillTarget for MysqlTarget {
    fn table_key(&mut self, table: &str) -> Result<Option<TableKey>, DbError> {
        let Some(parsed) = crate::connect::TableName::parse(table, "") else {
            return Err(DbError::new(
                DbErrorKind::Other,
                format!("`{table}` is not a table name (write it as table or database.table, quoting with backticks a name that needs it)"),
            ));
        };
        let schema = Some(parsed.database).filter(|d| !d.is_empty());
        let name = parsed.name;
        // As the server compares names: exactly, unless it folds case.
        let same = if self.names_fold_case { "=" } else { "= BINARY" };
        let exists: Option<i64> = self
            .conn
            .exec_first(
                format!("SELECT count(*) FROM information_schema.tables WHERE table_schema {same} COALESCE(?, DATABASE()) AND table_name {same} ?"),
                (&schema, &name),
            )
            .map_err(db_error)?;
        if exists.unwrap_or(0) == 0 {
            return Err(DbError::new(
                DbErrorKind::Other,
                format!(
                    "table `{table}` does not exist in this database; check the name, or qualify it as database.table"
                ),
            ));
        }
        // The primary key first, then the narrowest unique index whose columns are all NOT NULL.
        let rows: Vec<Row> = self
            .conn
            .exec(
                format!("SELECT s.INDEX_NAME, GROUP_CONCAT(s.COLUMN_NAME ORDER BY s.SEQ_IN_INDEX SEPARATOR '\\n'), \
                        GROUP_CONCAT(c.COLUMN_TYPE ORDER BY s.SEQ_IN_INDEX SEPARATOR '\\n'), \
                        SUM(c.IS_NULLABLE = 'YES'), COUNT(*) \
                 FROM information_schema.STATISTICS s \
                 JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA {same} s.TABLE_SCHEMA AND c.TABLE_NAME {same} s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
                 WHERE s.TABLE_SCHEMA {same} COALESCE(?, DATABASE()) AND s.TABLE_NAME {same} ? AND s.NON_UNIQUE = 0 AND s.SUB_PART IS NULL \
                 GROUP BY s.INDEX_NAME ORDER BY s.INDEX_NAME = 'PRIMARY' DESC, COUNT(*), s.INDEX_NAME"),
                (&schema, &name),
            )
            .map_err(db_error)?;
        let mut inexact = None;
        for row in rows {
            if int(&row, 3) > 0 {
                continue;
            }
            let index = text(&row, 0).unwrap_or_default();
            let names = text(&row, 1).unwrap_or_default();
            let types = text(&row, 2).unwrap_or_default();
            // A FLOAT's text is rounded to 6 digits (`2.71828` for 2.7182817): a checkpoint
            // would name another key, and the batches never pass the row (a tester's ran on).
            if let Some((column, _)) = names
                .split('\n')
                .zip(types.split('\n'))
                .find(|(_, type_name)| type_name.to_ascii_lowercase().starts_with("float"))
            {
                inexact.get_or_insert_with(|| (index.clone(), column.to_string()));
                continue;
            }
            let columns = names
                .split('\n')
                .zip(types.split('\n'))
                .map(|(name, type_name)| KeyColumn { name: name.to_string(), type_name: type_name.to_string() })
                .collect();
            let qualified = match &schema {
                Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&name)),
                None => quote_ident(&name),
            };
            let source = if index == "PRIMARY" { "primary key".to_string() } else { format!("unique index {index}") };
            return Ok(Some(TableKey { table: qualified, columns, source }));
        }
        if let Some((index, column)) = inexact {
            let index = if index == "PRIMARY" { "primary key".to_string() } else { format!("unique index {index}") };
            return Err(DbError::new(
                DbErrorKind::Other,
                format!(
                    "`{table}` has no key a backfill can walk exactly: its {index} has the FLOAT column `{column}`, whose values do not survive as text (the server writes 2.7182817 as `2.71828`); add a unique index on NOT NULL columns of exact types (an integer, a DECIMAL, a string), or make `{column}` DOUBLE"
                ),
            ));
        }
        Ok(None)
    }

    fn ensure_backfill_state(&mut self) -> Result<(), DbError> {
        self.conn.query_drop(keyset::checkpoint_table_sql(DIALECT, CHECKPOINT_TABLE)).map_err(db_error)?;
        // A table an earlier version made gains the columns added since.
        for column in self.missing_checkpoint_columns()? {
            let Some(sql) = keyset::add_checkpoint_column_sql(DIALECT, CHECKPOINT_TABLE, &column) else { continue };
            match self.conn.query_drop(sql).map_err(db_error) {
                // Two backfills at once race to add it (ER_DUP_FIELDNAME, SQLSTATE 42S21).
                Err(err) if err.code.as_deref() != Some("42S21") => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }

    fn load_checkpoint(&mut self, name: &str) -> Result<Option<Checkpoint>, DbError> {
        Ok(self.select_checkpoints(Some(name))?.into_iter().next())
    }

    fn list_checkpoints(&mut self) -> Result<Vec<Checkpoint>, DbError> {
        let exists: Option<i64> = self
            .conn
            .exec_first(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
                (CHECKPOINT_TABLE,),
            )
            .map_err(db_error)?;
        if exists.unwrap_or(0) == 0 {
            return Ok(Vec::new());
        }
        self.select_checkpoints(None)
    }

    fn save_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), DbError> {
        self.upsert(checkpoint)
    }

    fn run_batch(
        &mut self,
        job: &BackfillJob,
        after: Option<&[String]>,
        limit: u64,
        timeouts: Timeouts,
        checkpoint: &mut dyn FnMut(&BatchOutcome) -> Checkpoint,
    ) -> Result<BatchOutcome, DbError> {
        self.set_session_timeouts(timeouts)?;
        if job.copy_into.is_some() {
            self.strict_session()?;
        }
        // Watched from its start to its COMMIT: the row locks it takes are held until then.
        let (res, app_waits) = self.watched(|target| {
            let res = (|| {
                target.conn.query_drop("START TRANSACTION").map_err(db_error)?;
                let outcome = keyset::run_batch(DIALECT, target, job, after, limit)?;
                target.upsert(&checkpoint(&outcome))?;
                target.conn.query_drop("COMMIT").map_err(db_error)?;
                Ok(outcome)
            })();
            if res.is_err() {
                let _ = target.conn.query_drop("ROLLBACK");
            }
            res
        });
        res.map(|outcome| BatchOutcome { app_waits, ..outcome })
    }

    fn count_rows(&mut self, job: &BackfillJob, matching: bool, timeouts: Timeouts) -> Result<u64, DbError> {
        let condition = job.condition.as_deref().filter(|_| matching).unwrap_or("1 = 1");
        let count = format!("SELECT COUNT(*) FROM {} WHERE ({condition})", job.key.table);
        // A consistent read takes no row locks; the time bound is the flavour's own.
        let ms = timeouts.statement_timeout.as_millis().max(1);
        let sql = if self.mariadb {
            format!("SET STATEMENT max_statement_time = {:.3} FOR {count}", ms as f64 / 1000.0)
        } else {
            count.replacen("SELECT", &format!("SELECT /*+ MAX_EXECUTION_TIME({ms}) */"), 1)
        };
        let row: Option<Row> = self.conn.query_first(sql).map_err(db_error)?;
        Ok(row.and_then(|row| text(&row, 0)).and_then(|n| n.parse().ok()).unwrap_or(0))
    }

    fn estimate_rows(&mut self, job: &BackfillJob, matching: bool) -> Result<Option<u64>, DbError> {
        let condition = job.condition.as_deref().filter(|_| matching).unwrap_or("1 = 1");
        let rows: Vec<Row> = self
            .conn
            .query(format!("EXPLAIN SELECT 1 FROM {} WHERE ({condition})", job.key.table))
            .map_err(db_error)?;
        // The `rows` column of the plan's first line.
        Ok(rows.first().and_then(|row| {
            let columns = row.columns_ref();
            let idx = columns.iter().position(|c| c.name_str().eq_ignore_ascii_case("rows"))?;
            text(row, idx)?.parse().ok()
        }))
    }

    fn batch_statement(&self, job: &BackfillJob, first: bool, limit: u64) -> String {
        keyset::batch_sql(DIALECT, job, first, limit)
    }

    fn batch_boundaries(&mut self, job: &BackfillJob, limit: u64, n: usize) -> Result<Vec<KeyRange>, DbError> {
        keyset::boundaries(DIALECT, self, job, limit, n)
    }

    fn wal_position(&mut self) -> Result<u64, DbError> {
        Ok(self.primary_gtids()?.values().sum())
    }

    fn replicas(&mut self) -> Result<Vec<ReplicaState>, DbError> {
        let urls = self.replica_urls.clone();
        if urls.is_empty() {
            return Ok(Vec::new());
        }
        let primary = self.primary_gtids()?;
        let mut states = Vec::new();
        for url in &urls {
            states.push(replica_state(url, self.mariadb, &primary));
        }
        Ok(states)
    }

    fn health_check(&mut self, sql: &str, timeouts: Timeouts) -> Result<bool, DbError> {
        // The batches' timeouts: a check that waits on a lock or runs on would hold the
        // backfill without ever answering (the statement limit is MariaDB's only).
        self.set_session_timeouts(timeouts)?;
        // Read only, and rolled back: a check is asked, it changes nothing (a writing one is
        // refused by the server).
        self.conn.query_drop("START TRANSACTION READ ONLY").map_err(db_error)?;
        let rows: Result<Vec<Row>, DbError> = self.conn.query(sql).map_err(db_error);
        let _ = self.conn.query_drop("ROLLBACK");
        health_answer(&rows?)
    }

    fn acquire_backfill_lock(
        &mut self,
        name: &str,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError> {
        let lock = format!("cutover-backfill:{}:{name}", self.database);
        self.server_lock(&lock, owner, wait, on_wait)
    }
}

/// The answer of a health check's rows: one row, one column, 1 or 0 (MySQL's booleans are
/// integers; a `BIT(1)` column counts too).
fn health_answer(rows: &[Row]) -> Result<bool, DbError> {
    let problem = |text: String| Err(DbError::new(DbErrorKind::Other, text));
    let row = match rows {
        [] => return problem("it returned no row".to_string()),
        [row] => row,
        _ => return problem(format!("it returned {} rows", rows.len())),
    };
    if row.len() != 1 {
        return problem(format!("it returned {} columns", row.len()));
    }
    let bit = row.columns_ref()[0].column_type() == mysql::consts::ColumnType::MYSQL_TYPE_BIT;
    match row.as_ref(0) {
        Some(Value::Bytes(bytes)) if bit && bytes.len() == 1 && bytes[0] <= 1 => return Ok(bytes[0] == 1),
        Some(Value::NULL) | None => {
            return problem("it returned NULL, neither true nor false (COALESCE it to the answer you want)".to_string())
        }
        _ => {}
    }
    match text(row, 0).as_deref() {
        Some("1") => Ok(true),
        Some("0") => Ok(false),
        other => problem(format!(
            "it returned `{}`, not a boolean (1 to go on, 0 to pause: a comparison such as `SELECT x < 10` returns one)",
            other.unwrap_or_default()
        )),
    }
}

/// The variable that holds a server's GTIDs: on a primary, those it wrote; on a replica, those
/// it applied.
fn gtid_variable(mariadb: bool, replica: bool) -> &'static str {
    match (mariadb, replica) {
        (true, false) => "SELECT @@GLOBAL.gtid_binlog_pos",
        (true, true) => "SELECT @@GLOBAL.gtid_slave_pos",
        (false, _) => "SELECT @@GLOBAL.gtid_executed",
    }
}

/// A GTID set as a count per stream: per replication domain the last sequence number
/// (MariaDB, `0-1-123,1-2-5`), per source the number of transactions in its ranges (MySQL,
/// `3e11fa47-...:1-100:105-110`). Each count only grows, so their sum orders positions.
/// `None` when the text is not a GTID set.
pub(crate) fn gtid_position(text: &str, mariadb: bool) -> Option<std::collections::BTreeMap<String, u64>> {
    let mut streams = std::collections::BTreeMap::new();
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for item in compact.split(',').filter(|item| !item.is_empty()) {
        if mariadb {
            let mut parts = item.split('-');
            let (domain, _server, sequence) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            domain.parse::<u32>().ok()?;
            *streams.entry(domain.to_string()).or_insert(0) += sequence.parse::<u64>().ok()?;
        } else {
            let (source, ranges) = item.split_once(':')?;
            let mut count = 0;
            for range in ranges.split(':') {
                // MySQL 8.3 tags (`uuid:tag:1-5`) are words, not ranges.
                if range.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    continue;
                }
                let (first, last) = range.split_once('-').unwrap_or((range, range));
                let (first, last) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
                count += last.checked_sub(first)? + 1;
            }
            *streams.entry(source.to_ascii_lowercase()).or_insert(0) += count;
        }
    }
    Some(streams)
}

impl MysqlTarget {
    /// The primary's GTIDs; none when it keeps no GTIDs (no binary log, GTIDs off, an old
    /// server), and then only `Seconds_Behind_Master` tells the lag.
    fn primary_gtids(&mut self) -> Result<std::collections::BTreeMap<String, u64>, DbError> {
        let row: Option<Row> = match self.conn.query_first(gtid_variable(self.mariadb, false)) {
            Ok(row) => row,
            Err(_) => return Ok(Default::default()),
        };
        let text = row.as_ref().and_then(|row| text(row, 0)).unwrap_or_default();
        Ok(gtid_position(&text, self.mariadb).unwrap_or_default())
    }
}

/// A replica's position in the primary's terms: per stream of the primary, what the replica
/// applied of it. A stream the replica has never applied anything of (a domain it does not
/// replicate) counts as caught up, so that it cannot hold the backfill back forever.
fn replica_position(
    primary: &std::collections::BTreeMap<String, u64>,
    replica: &std::collections::BTreeMap<String, u64>,
) -> u64 {
    primary.iter().map(|(stream, now)| replica.get(stream).copied().unwrap_or(*now)).sum()
}

/// One replica's state, read on the replica: streaming when both replication threads run;
/// its lag is `Seconds_Behind_Master` (`Seconds_Behind_Source` on MySQL 8.0.22+), and its
/// position what it applied of the primary's GTIDs (`primary`, read just before).
fn replica_state(url: &DatabaseUrl, mariadb: bool, primary: &std::collections::BTreeMap<String, u64>) -> ReplicaState {
    let name = url.redacted();
    let unreadable = |state: &str| ReplicaState {
        name: name.clone(),
        state: state.to_string(),
        replay_position: None,
        replay_lag: None,
    };
    let Ok(mut target) = crate::connect(url, "cutover_history") else { return unreadable("unreachable") };
    let query = if mariadb { "SHOW SLAVE STATUS" } else { "SHOW REPLICA STATUS" };
    let Ok(Some(row)) = target.conn.query_first::<Row, _>(query) else { return unreadable("not a replica") };
    let field = |names: &[&str]| {
        let columns = row.columns_ref();
        names
            .iter()
            .find_map(|n| columns.iter().position(|c| c.name_str().eq_ignore_ascii_case(n)))
            .and_then(|idx| text(&row, idx))
    };
    let io = field(&["Slave_IO_Running", "Replica_IO_Running"]);
    let sql = field(&["Slave_SQL_Running", "Replica_SQL_Running"]);
    let running = io.as_deref() == Some("Yes") && sql.as_deref() == Some("Yes");
    let lag = field(&["Seconds_Behind_Master", "Seconds_Behind_Source"]).and_then(|s| s.parse::<u64>().ok());
    let applied = if primary.is_empty() {
        None
    } else {
        target
            .conn
            .query_first::<Row, _>(gtid_variable(mariadb, true))
            .ok()
            .flatten()
            .and_then(|row| text(&row, 0))
            .and_then(|text| gtid_position(&text, mariadb))
    };
    ReplicaState {
        name,
        state: if running { "streaming".to_string() } else { "stopped".to_string() },
        replay_position: applied.map(|applied| replica_position(primary, &applied)),
        replay_lag: lag.map(Duration::from_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_sets_count_per_stream() {
        let mariadb = gtid_position("0-1-123,1-2-5", true).unwrap();
        assert_eq!(mariadb.values().sum::<u64>(), 128);
        assert_eq!(gtid_position("", true).unwrap().len(), 0);
        assert!(gtid_position("0-1", true).is_none());
        let mysql = gtid_position(
            "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-100:105-110,\n4a11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
            false,
        )
        .unwrap();
        assert_eq!(mysql["3e11fa47-71ca-11e1-9e33-c80aa9429562"], 106);
        assert_eq!(mysql.values().sum::<u64>(), 111);
        let tagged = gtid_position("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10:batch:1-3", false).unwrap();
        assert_eq!(tagged.values().sum::<u64>(), 13);
        assert!(gtid_position("3e11fa47:5-1", false).is_none());
    }

    #[test]
    fn a_replica_is_measured_on_the_primarys_streams_only() {
        let primary = gtid_position("0-1-100,1-1-50", true).unwrap();
        // Behind in domain 0; domain 1 is not replicated there; domain 9 is its own.
        let replica = gtid_position("0-1-90,9-2-7", true).unwrap();
        assert_eq!(replica_position(&primary, &replica), 140);
        assert!(replica_position(&primary, &replica) < primary.values().sum::<u64>());
        let caught_up = gtid_position("0-1-100", true).unwrap();
        assert_eq!(replica_position(&primary, &caught_up), primary.values().sum::<u64>());
    }

    #[test]
    fn keys_survive_encoding() {
        let values = vec!["a:b".to_string(), String::new(), "10".to_string(), "日本".to_string()];
        assert_eq!(decode_key(&encode_key(&values)), Some(values));
        assert_eq!(decode_key("3:ab"), None);
    }
}
