//! The backfill engine's primitives on PostgreSQL.
//!
//! A batch is one short transaction: the keyset statements of `cutover_engine::keyset` (the
//! batch's last key, then the update of its key range) and the checkpoint row, committed
//! together. Key values travel as text and are cast back to the column's type.

use std::time::Duration;

use cutover_engine::{
    keyset::{self, Dialect, KeysetQueries, CHECKPOINT_TABLE},
    BackfillJob, BackfillTarget, BatchOutcome, Checkpoint, CheckpointState, DbError, DbErrorKind, KeyColumn, KeyRange,
    LockGuard, LockHolder, Pace, ReplicaState, TableKey, Timeouts,
};
use postgres::types::ToSql;

use crate::connect::PgTarget;
use crate::error::{create_racing, db_error};
use crate::migrate::{begin_sql, lock_key};

const DIALECT: Dialect = Dialect::Postgres;

fn to_params(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// `0/16B3748` to a byte position.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

impl BackfillTarget for PgTarget {
    fn table_key(&mut self, table: &str) -> Result<Option<TableKey>, DbError> {
        let row =
            self.client.query_opt("SELECT to_regclass($1)::oid, to_regclass($1)::text", &[&table]).map_err(db_error)?;
        let oid: Option<u32> = row.as_ref().and_then(|r| r.get(0));
        let (Some(oid), Some(row)) = (oid, row) else {
            return Err(DbError::new(
                DbErrorKind::Other,
                format!("table `{table}` does not exist (or is not on the search_path); check the name, or qualify it as schema.table"),
            ));
        };
        let name: String = row.get(1);
        // The primary key first, then the narrowest usable unique index.
        let rows = self
            .client
            .query(
                "SELECT i.indexrelid::regclass::text, i.indisprimary, \
                        array_agg(a.attname::text ORDER BY k.ord), \
                        array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord), \
                        bool_and(a.attnotnull) \
                 FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL \
                   AND i.indexprs IS NULL AND NOT (0 = ANY (i.indkey::int2[])) \
                 GROUP BY i.indexrelid, i.indisprimary \
                 ORDER BY i.indisprimary DESC, count(*), i.indexrelid",
                &[&oid],
            )
            .map_err(db_error)?;
        for row in rows {
            let (index, primary, names, types, not_null): (String, bool, Vec<String>, Vec<String>, bool) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            if !not_null {
                continue;
            }
            let columns = names.into_iter().zip(types).map(|(name, type_name)| KeyColumn { name, type_name }).collect();
            let source = if primary { "primary key".to_string() } else { format!("unique index {index}") };
            return Ok(Some(TableKey { table: name, columns, source }));
        }
        Ok(None)
    }

    fn ensure_backfill_state(&mut self) -> Result<(), DbError> {
        let state_table = self.beside_history(CHECKPOINT_TABLE);
        // Two first backfills at once race to create it.
        create_racing(&mut self.client, &keyset::checkpoint_table_sql(DIALECT, &state_table))?;
        // A table an earlier version made gains the columns added since.
        for column in self.missing_checkpoint_columns()? {
            let Some(sql) = keyset::add_checkpoint_column_sql(DIALECT, &state_table, &column) else { continue };
            match self.client.batch_execute(&sql).map_err(db_error) {
                // Two backfills at once race to add it.
                Err(err) if err.code.as_deref() != Some("42701") => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }

    fn load_checkpoint(&mut self, name: &str) -> Result<Option<Checkpoint>, DbError> {
        Ok(self.select_checkpoints(Some(name))?.into_iter().next())
    }

    fn list_checkpoints(&mut self) -> Result<Vec<Checkpoint>, DbError> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.beside_history(CHECKPOINT_TABLE)])
            .map_err(db_error)?
            .get(0);
        if !exists {
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
        // A batch commits with its checkpoint, so it need not wait for its own WAL flush: after
        // a crash both are lost or both kept, and the resume redoes what was lost. Not waiting
        // keeps the backfill's fsyncs out of the way of the application's commits.
        let begin = begin_sql(timeouts, "SET LOCAL synchronous_commit = off; ");
        // Watched from its BEGIN to its COMMIT: the row locks it takes are held until then.
        let (res, app_waits) = self.watched(|target| {
            let res = (|| {
                target.client.batch_execute(&begin).map_err(db_error)?;
                let outcome = keyset::run_batch(DIALECT, target, job, after, limit)?;
                target.upsert(&checkpoint(&outcome))?;
                target.client.batch_execute("COMMIT").map_err(db_error)?;
                Ok(outcome)
            })();
            if res.is_err() {
                let _ = target.client.batch_execute("ROLLBACK");
            }
            res
        });
        res.map(|outcome| BatchOutcome { app_waits, ..outcome })
    }

    fn count_rows(&mut self, job: &BackfillJob, matching: bool, timeouts: Timeouts) -> Result<u64, DbError> {
        let condition = job.condition.as_deref().filter(|_| matching).unwrap_or("true");
        let res = (|| {
            self.client.batch_execute(&begin_sql(timeouts, "SET TRANSACTION READ ONLY; ")).map_err(db_error)?;
            let sql = format!("SELECT count(*) FROM {} WHERE ({condition})", job.key.table);
            let row = self.client.query_one(&sql, &[]).map_err(db_error)?;
            self.client.batch_execute("COMMIT").map_err(db_error)?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })();
        if res.is_err() {
            let _ = self.client.batch_execute("ROLLBACK");
        }
        res
    }

    fn estimate_rows(&mut self, job: &BackfillJob, matching: bool) -> Result<Option<u64>, DbError> {
        // The planner scales the table's last-analysed row count by its current size, so a
        // table that grew since its last ANALYZE is not taken for its old self.
        let condition = job.condition.as_deref().filter(|_| matching).unwrap_or("true");
        let sql = format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE ({condition})", job.key.table);
        // The simple protocol returns the plan as text, whatever its type.
        let messages = self.client.simple_query(&sql).map_err(db_error)?;
        let plan = messages.iter().find_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        });
        let Some(plan) = plan else { return Ok(None) };
        // `"Plan Rows": 1234` of the top node: no JSON parser needed for one number.
        let rows = plan
            .split("\"Plan Rows\":")
            .nth(1)
            .and_then(|rest| rest.trim_start().split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok());
        Ok(rows)
    }

    fn batch_statement(&self, job: &BackfillJob, first: bool, limit: u64) -> String {
        keyset::batch_sql(DIALECT, job, first, limit)
    }

    fn batch_boundaries(&mut self, job: &BackfillJob, limit: u64, n: usize) -> Result<Vec<KeyRange>, DbError> {
        keyset::boundaries(DIALECT, self, job, limit, n)
    }

    fn wal_position(&mut self) -> Result<u64, DbError> {
        let row = self.client.query_one("SELECT pg_current_wal_lsn()::text", &[]).map_err(db_error)?;
        let text: String = row.get(0);
        parse_lsn(&text).ok_or_else(|| DbError::new(DbErrorKind::Other, format!("cannot read WAL position `{text}`")))
    }

    fn replicas(&mut self) -> Result<Vec<ReplicaState>, DbError> {
        // A base backup being taken (pg_basebackup) streams WAL too, but replays nothing and
        // serves no reads: it is no replica to wait for.
        let rows = self
            .client
            .query(
                "SELECT coalesce(application_name, '') || ' (' || coalesce(host(client_addr), 'local') || ')', \
                        coalesce(state, 'unknown'), replay_lsn::text, \
                        (extract(epoch FROM replay_lag) * 1000)::bigint \
                 FROM pg_stat_replication WHERE state IS DISTINCT FROM 'backup' ORDER BY pid",
                &[],
            )
            .map_err(db_error)?;
        Ok(rows
            .iter()
            .map(|row| ReplicaState {
                name: row.get(0),
                state: row.get(1),
                replay_position: row.get::<_, Option<String>>(2).as_deref().and_then(parse_lsn),
                replay_lag: row.get::<_, Option<i64>>(3).map(|ms| Duration::from_millis(ms.max(0) as u64)),
            })
            .collect())
    }

    fn health_check(&mut self, sql: &str, timeouts: Timeouts) -> Result<bool, DbError> {
        // In a transaction of its own, for `SET LOCAL` timeouts: a check that waits on a lock
        // or runs on would hold the backfill without ever answering. Read only, and rolled
        // back: a check is asked, it changes nothing (a writing one is refused by the server).
        let res = (|| {
            self.client.batch_execute(&begin_sql(timeouts, "SET TRANSACTION READ ONLY; ")).map_err(db_error)?;
            self.client.query(sql, &[]).map_err(db_error)
        })();
        let _ = self.client.batch_execute("ROLLBACK");
        health_answer(&res?)
    }

    fn acquire_backfill_lock(
        &mut self,
        name: &str,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError> {
        let key = lock_key(&format!("cutover-backfill:{name}"));
        // A rewrite's lock (`rewrite <table>`) is named as it is; a backfill's says so.
        let what = if name.starts_with("rewrite ") { name.to_string() } else { format!("backfill {name}") };
        self.advisory_lock(key, &what, owner, wait, on_wait)
    }
}

/// The answer of a health check's rows: one row, one boolean column, not NULL.
fn health_answer(rows: &[postgres::Row]) -> Result<bool, DbError> {
    let problem = |text: String| Err(DbError::new(DbErrorKind::Other, text));
    let row = match rows {
        [] => return problem("it returned no row".to_string()),
        [row] => row,
        _ => return problem(format!("it returned {} rows", rows.len())),
    };
    if row.len() != 1 {
        return problem(format!("it returned {} columns", row.len()));
    }
    let column_type = row.columns()[0].type_();
    if *column_type != postgres::types::Type::BOOL {
        return problem(format!("it returned a value of type {}, not a boolean", column_type.name()));
    }
    match row.get::<_, Option<bool>>(0) {
        Some(go_on) => Ok(go_on),
        None => problem("it returned NULL, neither true nor false (coalesce it to the answer you want)".to_string()),
    }
}

/// A checkpoint's pace as its four columns: batch time and longest wait in ms, sessions, reason.
type PaceColumns = (Option<i64>, Option<i64>, Option<i64>, Option<String>);

fn pace_columns(pace: Option<&Pace>) -> PaceColumns {
    match pace {
        Some(p) => (
            Some(p.batch_time.as_millis() as i64),
            Some(p.sessions_waited as i64),
            Some(p.longest_wait.as_millis() as i64),
            Some(p.reason.clone()),
        ),
        None => (None, None, None, None),
    }
}

fn pace_of(row: &postgres::Row, first: usize) -> Option<Pace> {
    let batch_time_ms: Option<i64> = row.get(first);
    Some(Pace {
        batch_time: Duration::from_millis(batch_time_ms?.max(0) as u64),
        sessions_waited: row.get::<_, Option<i64>>(first + 1).unwrap_or(0).max(0) as u64,
        longest_wait: Duration::from_millis(row.get::<_, Option<i64>>(first + 2).unwrap_or(0).max(0) as u64),
        reason: row.get::<_, Option<String>>(first + 3).unwrap_or_default(),
    })
}

/// The checkpoint's values for the upsert, `state` its state's name.
fn upsert_params<'a>(c: &'a Checkpoint, state: &'a &'static str, pace: &'a PaceColumns) -> Vec<&'a (dyn ToSql + Sync)> {
    vec![
        &c.name,
        &c.table,
        &c.set,
        &c.condition,
        &c.key_columns,
        &c.last_key,
        &c.pass,
        &c.rows_scanned,
        &c.rows_updated,
        &c.batches,
        &c.batch_size,
        state,
        &c.error,
        &c.runner,
        &c.started_at,
        &pace.0,
        &pace.1,
        &pace.2,
        &pace.3,
    ]
}

impl KeysetQueries for PgTarget {
    fn bound_row(&mut self, sql: &str, params: &[String]) -> Result<Option<(u64, Vec<String>)>, DbError> {
        let row = self.client.query_opt(sql, &to_params(params)).map_err(db_error)?;
        Ok(row.map(|row| (row.get::<_, i64>(0) as u64, (1..row.len()).map(|idx| row.get(idx)).collect())))
    }

    fn update(&mut self, sql: &str, params: &[String]) -> Result<u64, DbError> {
        self.client.execute(sql, &to_params(params)).map_err(db_error)
    }

    fn key_rows(&mut self, sql: &str, params: &[String]) -> Result<Vec<Vec<String>>, DbError> {
        let rows = self.client.query(sql, &to_params(params)).map_err(db_error)?;
        Ok(rows.iter().map(|row| (0..row.len()).map(|idx| row.get(idx)).collect()).collect())
    }
}

impl PgTarget {
    fn upsert(&mut self, checkpoint: &Checkpoint) -> Result<(), DbError> {
        let sql = keyset::upsert_checkpoint_sql(DIALECT, &self.beside_history(CHECKPOINT_TABLE));
        let state = checkpoint.state.name();
        let pace = pace_columns(checkpoint.pace.as_ref());
        self.client.execute(&sql, &upsert_params(checkpoint, &state, &pace)).map(|_| ()).map_err(db_error)
    }

    /// The columns added to the checkpoint table since the first version that its table lacks.
    fn missing_checkpoint_columns(&mut self) -> Result<Vec<String>, DbError> {
        let added: Vec<String> = keyset::added_checkpoint_columns().into_iter().map(str::to_string).collect();
        let rows = self
            .client
            .query(
                "SELECT c FROM unnest($1::text[]) c WHERE NOT EXISTS \
                 (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($2) AND attname = c AND NOT attisdropped)",
                &[&added, &self.beside_history(CHECKPOINT_TABLE)],
            )
            .map_err(db_error)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn select_checkpoints(&mut self, name: Option<&str>) -> Result<Vec<Checkpoint>, DbError> {
        let missing = self.missing_checkpoint_columns()?;
        let sql =
            keyset::select_checkpoints_sql(DIALECT, &self.beside_history(CHECKPOINT_TABLE), name.is_some(), &missing);
        let rows = match name {
            Some(name) => self.client.query(&sql, &[&name]),
            None => self.client.query(&sql, &[]),
        }
        .map_err(db_error)?;
        let place = format!("the backfill state table `{}`", self.beside_history(CHECKPOINT_TABLE));
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    name: row.get(0),
                    table: row.get(1),
                    set: row.get(2),
                    condition: row.get(3),
                    key_columns: row.get(4),
                    last_key: row.get(5),
                    pass: row.get(6),
                    rows_scanned: row.get(7),
                    rows_updated: row.get(8),
                    batches: row.get(9),
                    batch_size: row.get(10),
                    state: CheckpointState::parse(row.get(11)).map_err(|e| e.in_table(&place))?,
                    error: row.get(12),
                    runner: row.get(13),
                    started_at: row.get(14),
                    pace: pace_of(row, 15),
                    updated_at: row.get(19),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_positions() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B3748));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("bad"), None);
    }
}
