//! `ExpandTarget` for PostgreSQL: table shapes from the catalog, the state table of
//! expand/contract migrations, and the sessions still on a schema version.

use cutover_engine::{ColumnShape, DbError, ExpandState, ExpandTarget, TableShape};

use crate::connect::PgTarget;
use crate::error::db_error;

/// Beside the backfill checkpoints, in the schema unqualified names resolve to.
pub(crate) const STATE_TABLE: &str = "cutover_expand";

impl ExpandTarget for PgTarget {
    fn current_schema(&mut self) -> Result<String, DbError> {
        let row = self.client.query_one("SELECT current_schema()::text", &[]).map_err(db_error)?;
        let schema: Option<String> = row.get(0);
        schema.ok_or_else(|| DbError::new(cutover_engine::DbErrorKind::Other, "no schema is on the search_path"))
    }

    fn tables(&mut self, schema: &str) -> Result<Vec<TableShape>, DbError> {
        // A column has dependents when an index or a constraint other than NOT NULL names
        // it, or a sequence is owned by it (serial, identity).
        let rows = self
            .client
            .query(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                        pg_get_expr(d.adbin, d.adrelid), \
                        a.attidentity <> '' OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid \
                              AND (a.attnum = ANY (i.indkey) OR i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)) \
                          OR EXISTS (SELECT 1 FROM pg_constraint k WHERE (k.conrelid = c.oid AND a.attnum = ANY (k.conkey)) \
                              OR (k.confrelid = c.oid AND a.attnum = ANY (k.confkey))) \
                          OR EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.refobjid = c.oid AND dep.refobjsubid = a.attnum \
                              AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
                 ORDER BY c.relname, a.attnum",
                &[&schema],
            )
            .map_err(db_error)?;
        let mut tables: Vec<TableShape> = Vec::new();
        for row in rows {
            let table: String = row.get(0);
            let column = ColumnShape {
                name: row.get(1),
                type_name: row.get(2),
                not_null: row.get(3),
                default: row.get(4),
                has_dependents: row.get::<_, Option<bool>>(5).unwrap_or(true),
            };
            match tables.last_mut() {
                Some(last) if last.name == table => last.columns.push(column),
                _ => tables.push(TableShape { name: table, columns: vec![column] }),
            }
        }
        Ok(tables)
    }

    fn ensure_expand_state(&mut self) -> Result<(), DbError> {
        let state_table = self.beside_history(STATE_TABLE);
        self.client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {state_table} (
                    version     text PRIMARY KEY,
                    name        text NOT NULL,
                    phase       text NOT NULL CHECK (phase IN ('starting', 'started', 'completing', 'completed', 'rolling_back', 'rolled_back')),
                    plan        jsonb NOT NULL,
                    runner      text NOT NULL,
                    started_at  timestamptz NOT NULL,
                    updated_at  timestamptz NOT NULL
                )"
            ))
            .map_err(db_error)
            .or_else(|err| match err.code.as_deref() {
                // Two first runners race to create it; the runner lock makes this rare.
                Some("23505" | "42P07") => Ok(()),
                _ => Err(err),
            })
    }

    fn expand_states(&mut self) -> Result<Vec<ExpandState>, DbError> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.beside_history(STATE_TABLE)])
            .map_err(db_error)?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT version, name, phase, plan::text, runner, \
                            to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                            to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                     FROM {} ORDER BY started_at DESC, version DESC",
                    self.beside_history(STATE_TABLE)
                ),
                &[],
            )
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| ExpandState {
                version: row.get(0),
                name: row.get(1),
                phase: row.get(2),
                plan: row.get(3),
                runner: row.get(4),
                started_at: row.get(5),
                updated_at: row.get(6),
            })
            .collect())
    }

    fn save_expand_state(&mut self, state: &ExpandState) -> Result<(), DbError> {
        self.completed_versions = None;
        let state_table = self.beside_history(STATE_TABLE);
        // A rolled-back migration may start again: its row starts over.
        self.client
            .execute(
                &format!(
                    "INSERT INTO {state_table} (version, name, phase, plan, runner, started_at, updated_at) \
                     VALUES ($1, $2, $3, $4::text::jsonb, $5, now(), now()) \
                     ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, phase = EXCLUDED.phase, \
                        plan = EXCLUDED.plan, runner = EXCLUDED.runner, updated_at = now(), \
                        started_at = CASE WHEN EXCLUDED.phase = 'starting' AND {state_table}.phase = 'rolled_back' \
                                          THEN now() ELSE {state_table}.started_at END"
                ),
                &[&state.version, &state.name, &state.phase, &state.plan, &state.runner],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    fn sessions_on_version(&mut self, schema: &str) -> Result<Vec<String>, DbError> {
        let rows = self
            .client
            .query(
                "SELECT a.pid, coalesce(a.usename::text, ''), coalesce(a.application_name, ''), \
                        coalesce(a.client_addr::text, 'local'), a.state \
                 FROM pg_stat_activity a \
                 WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() \
                   AND (a.application_name LIKE '%@' || $1 \
                        OR EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                                   WHERE l.pid = a.pid AND n.nspname = $1 AND c.relkind = 'v')) \
                 ORDER BY a.pid",
                &[&schema],
            )
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (pid, user, app, addr, state): (i32, String, String, String, Option<String>) =
                    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                format!("pid {pid} ({user}@{addr}, application `{app}`, {})", state.unwrap_or_default())
            })
            .collect())
    }

    fn set_session_variable(&mut self, name: &str, value: &str) -> Result<(), DbError> {
        self.client.execute("SELECT set_config($1, $2, false)", &[&name, &value]).map(|_| ()).map_err(db_error)
    }
}
