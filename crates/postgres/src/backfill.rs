//! The backfill engine's primitives on PostgreSQL.
//!
//! A batch is one statement in one short transaction: a CTE picks the next `limit` keys after
//! the last one done (keyset, never OFFSET: each batch costs the same however far along it
//! is), an `UPDATE ... FROM` that CTE applies the assignments, and the checkpoint row is
//! written before the transaction commits. Key values travel as text and are cast back to the
//! column's type, so any orderable key type, composite keys included, works the same way.

use std::time::Duration;

use cutover_engine::{
    BackfillJob, BackfillTarget, BatchOutcome, Checkpoint, CheckpointState, DbError, DbErrorKind, KeyColumn, KeyRange,
    LockGuard, LockHolder, ReplicaState, TableKey, Timeouts,
};
use postgres::types::ToSql;

use crate::connect::{quote_ident, PgTarget};
use crate::error::db_error;
use crate::migrate::{begin_sql, lock_key};

const STATE_TABLE: &str = "cutover_backfills";
const TIMESTAMP: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

/// `(k1, k2)` with each key column quoted, optionally qualified.
fn key_tuple(key: &TableKey, qualifier: Option<&str>) -> String {
    let columns: Vec<String> = key
        .columns
        .iter()
        .map(|c| match qualifier {
            Some(q) => format!("{q}.{}", quote_ident(&c.name)),
            None => quote_ident(&c.name),
        })
        .collect();
    format!("({})", columns.join(", "))
}

/// `($1::text::bigint, $2::text::text)`: the last key, cast back from text.
fn key_params(key: &TableKey, first_param: usize) -> String {
    let params: Vec<String> = key
        .columns
        .iter()
        .enumerate()
        .map(|(idx, c)| format!("${}::text::{}", first_param + idx, c.type_name))
        .collect();
    format!("({})", params.join(", "))
}

/// Names for the key columns' text copies, so that ORDER BY always means the table's columns
/// (an output column named like a table column would win, and sort `10` before `9`).
fn batch_alias(idx: usize) -> String {
    format!("cutover_key_{idx}")
}

/// The first statement of a batch: the last key of the next `limit` rows (after `$1..`), as
/// text, and how many rows that is. An index-only scan of at most `limit` entries.
fn bound_sql(job: &BackfillJob, first: bool, limit: u64) -> String {
    let key = &job.key;
    let order: Vec<String> = key.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let mut filters = Vec::new();
    if !first {
        filters.push(format!("{} > {}", key_tuple(key, None), key_params(key, 1)));
    }
    if let Some(condition) = &job.condition {
        filters.push(format!("({condition})"));
    }
    let where_clause = if filters.is_empty() { String::new() } else { format!(" WHERE {}", filters.join(" AND ")) };
    let texts: Vec<String> =
        order.iter().enumerate().map(|(idx, column)| format!("b.{column}::text AS {}", batch_alias(idx))).collect();
    let descending: Vec<String> = order.iter().map(|column| format!("b.{column} DESC")).collect();
    format!(
        "SELECT count(*) OVER (), {texts} FROM (\n    SELECT {columns} FROM {table}{where_clause}\n    ORDER BY {columns} LIMIT {limit}\n) b\nORDER BY {descending} LIMIT 1",
        texts = texts.join(", "),
        columns = order.join(", "),
        table = key.table,
        descending = descending.join(", "),
    )
}

/// The second statement: the update of the rows between the last key done (`$1..`, none on
/// the first batch) and the batch's last key. A range, so the index is scanned once, from the
/// batch's first key: no join, and no cost for the rows already done.
fn update_sql(job: &BackfillJob, first: bool) -> String {
    let key = &job.key;
    let n_columns = key.columns.len();
    let mut filters = Vec::new();
    if !first {
        filters.push(format!("{} > {}", key_tuple(key, None), key_params(key, 1)));
    }
    let upper_first = if first { 1 } else { n_columns + 1 };
    filters.push(format!("{} <= {}", key_tuple(key, None), key_params(key, upper_first)));
    // The condition is checked again here: a row the application changed since the first
    // statement is re-evaluated on its newest version.
    if let Some(condition) = &job.condition {
        filters.push(format!("({condition})"));
    }
    format!("UPDATE {} SET {} WHERE {}", key.table, job.set, filters.join(" AND "))
}

fn batch_sql(job: &BackfillJob, first: bool, limit: u64) -> String {
    format!("{};\n{}", bound_sql(job, first, limit), update_sql(job, first))
}

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
        let state_table = self.beside_history(STATE_TABLE);
        self.client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {state_table} (
                    name          text PRIMARY KEY,
                    table_name    text NOT NULL,
                    set_expr      text NOT NULL,
                    condition     text,
                    key_columns   text[] NOT NULL,
                    last_key      text[],
                    pass          integer NOT NULL,
                    rows_scanned  bigint NOT NULL,
                    rows_updated  bigint NOT NULL,
                    batches       bigint NOT NULL,
                    batch_size    bigint NOT NULL,
                    state         text NOT NULL CHECK (state IN ({states})),
                    error         text,
                    runner        text NOT NULL,
                    started_at    timestamptz NOT NULL,
                    updated_at    timestamptz NOT NULL
                )",
                states = CheckpointState::quoted_list()
            ))
            .map_err(db_error)
            .or_else(|err| match err.code.as_deref() {
                // Two first backfills at once race to create it: the loser finds it made.
                Some("23505" | "42P07") => Ok(()),
                _ => Err(err),
            })
    }

    fn load_checkpoint(&mut self, name: &str) -> Result<Option<Checkpoint>, DbError> {
        Ok(self.select_checkpoints(Some(name))?.into_iter().next())
    }

    fn list_checkpoints(&mut self) -> Result<Vec<Checkpoint>, DbError> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.beside_history(STATE_TABLE)])
            .map_err(db_error)?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        self.select_checkpoints(None)
    }

    fn save_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), DbError> {
        let sql = upsert_sql(&self.beside_history(STATE_TABLE));
        let state = checkpoint.state.name();
        let params = upsert_params(checkpoint, &state);
        self.client.execute(&sql, &params).map(|_| ()).map_err(db_error)
    }

    fn run_batch(
        &mut self,
        job: &BackfillJob,
        after: Option<&[String]>,
        limit: u64,
        timeouts: Timeouts,
        checkpoint: &mut dyn FnMut(&BatchOutcome) -> Checkpoint,
    ) -> Result<BatchOutcome, DbError> {
        let first = after.is_none();
        // A batch commits with its checkpoint, so it need not wait for its own WAL flush: after
        // a crash both are lost or both kept, and the resume redoes what was lost. Not waiting
        // keeps the backfill's fsyncs out of the way of the application's commits.
        let begin = begin_sql(timeouts, "SET LOCAL synchronous_commit = off; ");
        let res = (|| {
            self.client.batch_execute(&begin).map_err(db_error)?;
            let lower = after.unwrap_or_default();
            let bound = self.client.query_opt(&bound_sql(job, first, limit), &to_params(lower)).map_err(db_error)?;
            let outcome = match bound {
                None => BatchOutcome { rows_scanned: 0, rows_updated: 0, last_key: None },
                Some(row) => {
                    let scanned: i64 = row.get(0);
                    let upper: Vec<String> =
                        (0..job.key.columns.len()).map(|idx| row.get::<_, String>(1 + idx)).collect();
                    let bounds: Vec<String> = lower.iter().chain(upper.iter()).cloned().collect();
                    let updated =
                        self.client.execute(&update_sql(job, first), &to_params(&bounds)).map_err(db_error)?;
                    BatchOutcome { rows_scanned: scanned as u64, rows_updated: updated, last_key: Some(upper) }
                }
            };
            let saved = checkpoint(&outcome);
            let state = saved.state.name();
            self.client
                .execute(&upsert_sql(&self.beside_history(STATE_TABLE)), &upsert_params(&saved, &state))
                .map_err(db_error)?;
            self.client.batch_execute("COMMIT").map_err(db_error)?;
            Ok(outcome)
        })();
        if res.is_err() {
            let _ = self.client.batch_execute("ROLLBACK");
        }
        res
    }

    fn estimate_rows(&mut self, job: &BackfillJob) -> Result<Option<u64>, DbError> {
        let condition = job.condition.as_deref().unwrap_or("true");
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
        batch_sql(job, first, limit)
    }

    fn batch_boundaries(&mut self, job: &BackfillJob, limit: u64, n: usize) -> Result<Vec<KeyRange>, DbError> {
        let key = &job.key;
        // Aliased, so that ORDER BY names the table's columns and not these text copies (which
        // would sort 10 before 9).
        let columns: Vec<String> = key
            .columns
            .iter()
            .enumerate()
            .map(|(idx, c)| format!("{}::text AS {}", quote_ident(&c.name), batch_alias(idx)))
            .collect();
        let order: Vec<String> = key.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let mut boundaries = Vec::new();
        let mut after: Option<Vec<String>> = None;
        for _ in 0..n {
            let mut filters = Vec::new();
            if after.is_some() {
                filters.push(format!("{} > {}", key_tuple(key, None), key_params(key, 1)));
            }
            if let Some(condition) = &job.condition {
                filters.push(format!("({condition})"));
            }
            let where_clause =
                if filters.is_empty() { String::new() } else { format!(" WHERE {}", filters.join(" AND ")) };
            let sql = format!(
                "SELECT {} FROM {}{where_clause} ORDER BY {} LIMIT {limit}",
                columns.join(", "),
                key.table,
                order.join(", ")
            );
            let params = after.as_deref().map(to_params).unwrap_or_default();
            let rows = self.client.query(&sql, &params).map_err(db_error)?;
            let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                break;
            };
            let values =
                |row: &postgres::Row| (0..key.columns.len()).map(|idx| row.get::<_, String>(idx)).collect::<Vec<_>>();
            let range = KeyRange { first: values(first), last: values(last) };
            after = Some(range.last.clone());
            boundaries.push(range);
        }
        Ok(boundaries)
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
        // or runs on would hold the backfill without ever answering.
        let res = (|| {
            self.client.batch_execute(&begin_sql(timeouts, "")).map_err(db_error)?;
            let rows = self.client.query(sql, &[]).map_err(db_error)?;
            self.client.batch_execute("COMMIT").map_err(db_error)?;
            Ok(rows)
        })();
        if res.is_err() {
            let _ = self.client.batch_execute("ROLLBACK");
        }
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
        self.advisory_lock(key, &format!("backfill {name}"), owner, wait, on_wait)
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

fn upsert_sql(state_table: &str) -> String {
    format!(
        "INSERT INTO {state_table} (name, table_name, set_expr, condition, key_columns, last_key, pass, rows_scanned, \
         rows_updated, batches, batch_size, state, error, runner, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::text::timestamptz, now()) \
         ON CONFLICT (name) DO UPDATE SET table_name = EXCLUDED.table_name, set_expr = EXCLUDED.set_expr, \
         condition = EXCLUDED.condition, key_columns = EXCLUDED.key_columns, last_key = EXCLUDED.last_key, \
         pass = EXCLUDED.pass, rows_scanned = EXCLUDED.rows_scanned, rows_updated = EXCLUDED.rows_updated, \
         batches = EXCLUDED.batches, batch_size = EXCLUDED.batch_size, state = EXCLUDED.state, \
         error = EXCLUDED.error, runner = EXCLUDED.runner, started_at = EXCLUDED.started_at, updated_at = now()"
    )
}

/// The checkpoint's values for `upsert_sql`, `state` its state's name.
fn upsert_params<'a>(c: &'a Checkpoint, state: &'a &'static str) -> Vec<&'a (dyn ToSql + Sync)> {
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
    ]
}

impl PgTarget {
    fn select_checkpoints(&mut self, name: Option<&str>) -> Result<Vec<Checkpoint>, DbError> {
        let filter = if name.is_some() { "WHERE name = $1" } else { "" };
        let sql = format!(
            "SELECT name, table_name, set_expr, condition, key_columns, last_key, pass, rows_scanned, rows_updated, \
             batches, batch_size, state, error, runner, to_char(started_at AT TIME ZONE 'UTC', {TIMESTAMP}), \
             to_char(updated_at AT TIME ZONE 'UTC', {TIMESTAMP}) FROM {state_table} {filter} ORDER BY updated_at DESC",
            state_table = self.beside_history(STATE_TABLE)
        );
        let rows = match name {
            Some(name) => self.client.query(&sql, &[&name]),
            None => self.client.query(&sql, &[]),
        }
        .map_err(db_error)?;
        let place = format!("the backfill state table `{}`", self.beside_history(STATE_TABLE));
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
                    updated_at: row.get(15),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(columns: &[(&str, &str)], condition: Option<&str>) -> BackfillJob {
        BackfillJob {
            key: TableKey {
                table: "public.\"Orders\"".to_string(),
                columns: columns
                    .iter()
                    .map(|(n, t)| KeyColumn { name: n.to_string(), type_name: t.to_string() })
                    .collect(),
                source: "primary key".to_string(),
            },
            set: "total = price * quantity".to_string(),
            condition: condition.map(str::to_string),
        }
    }

    #[test]
    fn batch_statements_for_a_composite_key_after_the_first_batch() {
        let job = job(&[("tenant", "integer"), ("id", "bigint")], Some("total IS NULL"));
        assert_eq!(
            bound_sql(&job, false, 500),
            "SELECT count(*) OVER (), b.\"tenant\"::text AS cutover_key_0, b.\"id\"::text AS cutover_key_1 FROM (\n    SELECT \"tenant\", \"id\" FROM public.\"Orders\" WHERE (\"tenant\", \"id\") > ($1::text::integer, $2::text::bigint) AND (total IS NULL)\n    ORDER BY \"tenant\", \"id\" LIMIT 500\n) b\nORDER BY b.\"tenant\" DESC, b.\"id\" DESC LIMIT 1"
        );
        assert_eq!(
            update_sql(&job, false),
            "UPDATE public.\"Orders\" SET total = price * quantity WHERE (\"tenant\", \"id\") > ($1::text::integer, $2::text::bigint) AND (\"tenant\", \"id\") <= ($3::text::integer, $4::text::bigint) AND (total IS NULL)"
        );
    }

    #[test]
    fn first_batch_has_no_lower_bound() {
        let job = job(&[("id", "bigint")], None);
        assert!(bound_sql(&job, true, 10).contains("FROM public.\"Orders\"\n    ORDER BY \"id\" LIMIT 10"));
        assert_eq!(
            update_sql(&job, true),
            "UPDATE public.\"Orders\" SET total = price * quantity WHERE (\"id\") <= ($1::text::bigint)"
        );
    }

    #[test]
    fn lsn_positions() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B3748));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("bad"), None);
    }
}
