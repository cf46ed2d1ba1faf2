//! `ExpandTarget` for PostgreSQL: table shapes from the catalog, the state table of
//! expand/contract migrations, and the sessions still on a schema version.

use cutover_engine::{
    ColumnShape, DbError, ExpandPhase, ExpandState, ExpandTarget, IndexShape, PhaseEntry, SessionFacts, TableShape,
};
use postgres::Client;

use crate::connect::PgTarget;
use crate::error::{create_racing, db_error};

/// An index (alias `i`, of `pg_index`) a column swap can build again on the shadow column: plain
/// column keys, default operator classes, no predicate, no INCLUDE columns, valid, and no
/// constraint behind it.
const REBUILDABLE_INDEX: &str = "(i.indexprs IS NULL AND i.indpred IS NULL AND i.indisvalid \
     AND i.indnatts = i.indnkeyatts \
     AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
     AND NOT EXISTS (SELECT 1 FROM unnest(i.indclass::oid[]) AS cls(oid) \
                     JOIN pg_opclass o ON o.oid = cls.oid WHERE NOT o.opcdefault))";

/// Beside the backfill checkpoints, in the schema unqualified names resolve to.
pub(crate) const STATE_TABLE: &str = "cutover_expand";

/// Where a state table made before the `version_schema` column holds a version's schema: in
/// the plan, as the cutover versions that wrote those rows spelled it. Only such tables are
/// read this way, and `ensure_expand_state` moves them to the column.
const BEFORE_VERSION_SCHEMA: &str = "plan->>'version_schema'";

/// How to read the columns an earlier cutover's state table may lack, in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateColumns {
    /// A row's version schema: its column, or `BEFORE_VERSION_SCHEMA` in a table made before it.
    pub(crate) version_schema: &'static str,
    /// A row's phase log: its column, or an empty one in a table made before it.
    pub(crate) log: &'static str,
}

/// The columns of `state_table` (quoted), from one catalog query; `None` when there is no table.
pub(crate) fn state_columns(client: &mut Client, state_table: &str) -> Result<Option<StateColumns>, DbError> {
    let row = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL, \
                    EXISTS (SELECT 1 FROM pg_attribute \
                            WHERE attrelid = to_regclass($1) AND attname = 'version_schema' AND NOT attisdropped), \
                    EXISTS (SELECT 1 FROM pg_attribute \
                            WHERE attrelid = to_regclass($1) AND attname = 'log' AND NOT attisdropped)",
            &[&state_table],
        )
        .map_err(db_error)?;
    let (exists, version_schema, log): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
    Ok(exists.then_some(StateColumns {
        version_schema: if version_schema { "version_schema" } else { BEFORE_VERSION_SCHEMA },
        log: if log { "log" } else { "'[]'::jsonb" },
    }))
}

fn parse_phase(state_table: &str, version: &str, phase: &str) -> Result<ExpandPhase, DbError> {
    ExpandPhase::parse(phase)
        .map_err(|e| e.in_table(&format!("the expand state table {state_table} (the row of version {version})")))
}

/// The schemas of completed versions that still exist, none while an expand/contract migration
/// is active (its phases manage the views themselves). `state_table` (quoted) does not exist
/// unless an expand/contract migration ran.
pub(crate) fn completed_versions(client: &mut Client, state_table: &str) -> Result<Vec<String>, DbError> {
    let Some(StateColumns { version_schema, .. }) = state_columns(client, state_table)? else {
        return Ok(Vec::new());
    };
    let rows = client
        .query(
            &format!(
                "SELECT version, phase, {version_schema}, to_regnamespace(quote_ident({version_schema})) IS NOT NULL \
                 FROM {state_table} ORDER BY started_at, version"
            ),
            &[],
        )
        .map_err(db_error)?;
    let mut completed = Vec::new();
    for row in rows {
        let phase = parse_phase(state_table, row.get(0), row.get(1))?;
        if phase.is_active() {
            return Ok(Vec::new());
        }
        let (schema, exists): (Option<String>, Option<bool>) = (row.get(2), row.get(3));
        if phase == ExpandPhase::Completed && exists == Some(true) {
            completed.extend(schema);
        }
    }
    Ok(completed)
}

impl ExpandTarget for PgTarget {
    fn current_schema(&mut self) -> Result<String, DbError> {
        let row = self.client.query_one("SELECT current_schema()::text", &[]).map_err(db_error)?;
        let schema: Option<String> = row.get(0);
        schema.ok_or_else(|| DbError::new(cutover_engine::DbErrorKind::Other, "no schema is on the search_path"))
    }

    fn tables(&mut self, schema: &str) -> Result<Vec<TableShape>, DbError> {
        // A column has dependents when a constraint other than NOT NULL or an index that
        // cannot be rebuilt on a shadow names it, or a sequence is owned by it (serial,
        // identity).
        let rows = self
            .client
            .query(
                &format!("SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                        pg_get_expr(d.adbin, d.adrelid), \
                        a.attidentity <> '' OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid \
                              AND (a.attnum = ANY (i.indkey) OR i.indexprs IS NOT NULL OR i.indpred IS NOT NULL) \
                              AND NOT {REBUILDABLE_INDEX}) \
                          OR EXISTS (SELECT 1 FROM pg_constraint k WHERE (k.conrelid = c.oid AND a.attnum = ANY (k.conkey)) \
                              OR (k.confrelid = c.oid AND a.attnum = ANY (k.confkey))) \
                          OR EXISTS (SELECT 1 FROM pg_depend dep JOIN pg_class seq ON seq.oid = dep.objid AND seq.relkind = 'S' \
                              WHERE dep.refobjid = c.oid AND dep.refobjsubid = a.attnum \
                              AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')), \
                        c.relkind = 'p' \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
                 ORDER BY c.relname, a.attnum"),
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
                views: Vec::new(),
            };
            match tables.last_mut() {
                Some(last) if last.name == table => last.columns.push(column),
                _ => tables.push(TableShape {
                    name: table,
                    columns: vec![column],
                    indexes: Vec::new(),
                    has_key: false,
                    partitioned: row.get(6),
                }),
            }
        }
        // indoption: bit 1 is DESC, bit 2 NULLS FIRST (the default for DESC).
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT t.relname::text, ic.relname::text, i.indisunique, am.amname::text, \
                            ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), \
                            ARRAY(SELECT concat_ws(' ', CASE WHEN o & 1 = 1 THEN 'DESC' END, \
                                                   CASE WHEN o & 2 = 2 AND o & 1 = 0 THEN 'NULLS FIRST' \
                                                        WHEN o & 2 = 0 AND o & 1 = 1 THEN 'NULLS LAST' END) \
                                  FROM unnest(i.indoption::int2[]) WITH ORDINALITY AS opt(o, ord) ORDER BY opt.ord) \
                     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = ic.relam \
                     WHERE n.nspname = $1 AND {REBUILDABLE_INDEX} ORDER BY t.relname, ic.relname"
                ),
                &[&schema],
            )
            .map_err(db_error)?;
        for row in rows {
            let table: String = row.get(0);
            let columns: Vec<String> = row.get(4);
            let options: Vec<String> = row.get(5);
            let index = IndexShape {
                name: row.get(1),
                unique: row.get(2),
                method: row.get(3),
                keys: columns.into_iter().zip(options).collect(),
            };
            if let Some(shape) = tables.iter_mut().find(|t| t.name == table) {
                shape.indexes.push(index);
            }
        }
        // The views that read each column, but cutover's own (the versions' views).
        let versions: Vec<String> = self.expand_states()?.into_iter().map(|state| state.version_schema).collect();
        let readers = self
            .client
            .query(
                "SELECT DISTINCT c.relname::text, a.attname::text, vn.nspname::text, format('%I.%I', vn.nspname, v.relname) \
                 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
                 JOIN pg_namespace vn ON vn.oid = v.relnamespace \
                 JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
                   AND n.nspname = $1 AND v.oid <> c.oid AND v.relkind IN ('v', 'm') ORDER BY 4",
                &[&schema],
            )
            .map_err(db_error)?;
        for row in readers {
            let (table, column, view_schema, view): (String, String, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if versions.contains(&view_schema) {
                continue;
            }
            let shape = tables.iter_mut().find(|t| t.name == table);
            if let Some(column) = shape.and_then(|t| t.columns.iter_mut().find(|c| c.name == column)) {
                column.views.push(view);
            }
        }
        // The keys `table_key` walks a backfill by.
        let keyed = self
            .client
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique \
                     AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL AND NOT (0 = ANY (i.indkey::int2[])) \
                     AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                         AND a.attnum = ANY (i.indkey::int2[]) AND NOT a.attnotnull))",
                &[&schema],
            )
            .map_err(db_error)?;
        for row in keyed {
            let table: String = row.get(0);
            if let Some(shape) = tables.iter_mut().find(|t| t.name == table) {
                shape.has_key = true;
            }
        }
        Ok(tables)
    }

    fn ensure_expand_state(&mut self) -> Result<(), DbError> {
        let state_table = self.beside_history(STATE_TABLE);
        // Two first runners race to create it; the runner lock makes this rare.
        create_racing(
            &mut self.client,
            &format!(
                "CREATE TABLE IF NOT EXISTS {state_table} (
                    version        text PRIMARY KEY,
                    name           text NOT NULL,
                    phase          text NOT NULL CHECK (phase IN ({phases})),
                    version_schema text NOT NULL,
                    plan           jsonb NOT NULL,
                    runner         text NOT NULL,
                    started_at     timestamptz NOT NULL,
                    updated_at     timestamptz NOT NULL,
                    log            jsonb NOT NULL DEFAULT '[]'
                )",
                phases = ExpandPhase::quoted_list()
            ),
        )?;
        let columns = state_columns(&mut self.client, &state_table)?;
        if columns.is_some_and(|c| c.version_schema == BEFORE_VERSION_SCHEMA) {
            // A table an earlier cutover made: its rows get the column, filled from their plans.
            self.client
                .batch_execute(&format!(
                    "BEGIN; \
                     ALTER TABLE {state_table} ADD COLUMN IF NOT EXISTS version_schema text; \
                     UPDATE {state_table} SET version_schema = {BEFORE_VERSION_SCHEMA} WHERE version_schema IS NULL; \
                     ALTER TABLE {state_table} ALTER COLUMN version_schema SET NOT NULL; \
                     COMMIT"
                ))
                .map_err(|err| {
                    let _ = self.client.batch_execute("ROLLBACK");
                    db_error(err)
                })?;
        }
        if columns.is_some_and(|c| c.log != "log") {
            // Racing runners: the loser's ADD COLUMN IF NOT EXISTS finds it and does nothing.
            self.client
                .batch_execute(&format!(
                    "ALTER TABLE {state_table} ADD COLUMN IF NOT EXISTS log jsonb NOT NULL DEFAULT '[]'"
                ))
                .map_err(db_error)?;
        }
        Ok(())
    }

    fn expand_states(&mut self) -> Result<Vec<ExpandState>, DbError> {
        let state_table = self.beside_history(STATE_TABLE);
        let Some(StateColumns { version_schema, log }) = state_columns(&mut self.client, &state_table)? else {
            return Ok(Vec::new());
        };
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT version, name, phase, {version_schema}, plan::text, runner, \
                            to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                            to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                            ARRAY(SELECT e->>'phase' FROM jsonb_array_elements({log}) WITH ORDINALITY AS l(e, n) ORDER BY n), \
                            ARRAY(SELECT e->>'at' FROM jsonb_array_elements({log}) WITH ORDINALITY AS l(e, n) ORDER BY n), \
                            ARRAY(SELECT e->>'by' FROM jsonb_array_elements({log}) WITH ORDINALITY AS l(e, n) ORDER BY n) \
                     FROM {state_table} ORDER BY started_at DESC, version DESC"
                ),
                &[],
            )
            .map_err(db_error)?;
        rows.into_iter()
            .map(|row| {
                let version: String = row.get(0);
                let (phases, ats, bys): (Vec<String>, Vec<String>, Vec<String>) = (row.get(8), row.get(9), row.get(10));
                let log = phases
                    .iter()
                    .zip(ats)
                    .zip(bys)
                    .map(|((phase, at), by)| {
                        Ok(PhaseEntry { phase: parse_phase(&state_table, &version, phase)?, at, by })
                    })
                    .collect::<Result<Vec<_>, DbError>>()?;
                Ok(ExpandState {
                    log,
                    phase: parse_phase(&state_table, &version, row.get(2))?,
                    name: row.get(1),
                    version_schema: row.get::<_, Option<String>>(3).unwrap_or_default(),
                    plan: row.get(4),
                    runner: row.get(5),
                    started_at: row.get(6),
                    updated_at: row.get(7),
                    version,
                })
            })
            .collect()
    }

    fn save_expand_state(&mut self, state: &ExpandState) -> Result<(), DbError> {
        self.completed_versions = None;
        let state_table = self.beside_history(STATE_TABLE);
        // A rolled-back migration may start again: its row starts over.
        self.client
            .execute(
                &format!(
                    "INSERT INTO {state_table} (version, name, phase, version_schema, plan, runner, started_at, updated_at, log) \
                     VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, now(), now(), jsonb_build_array({entry})) \
                     ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, phase = EXCLUDED.phase, \
                        version_schema = EXCLUDED.version_schema, plan = EXCLUDED.plan, runner = EXCLUDED.runner, \
                        updated_at = now(), log = {state_table}.log || jsonb_build_array({entry}), \
                        started_at = CASE WHEN EXCLUDED.phase = '{starting}' AND {state_table}.phase = '{rolled_back}' \
                                          THEN now() ELSE {state_table}.started_at END",
                    starting = ExpandPhase::Starting,
                    rolled_back = ExpandPhase::RolledBack,
                    entry = "jsonb_build_object('phase', $3::text, 'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'by', $6::text)",
                ),
                &[&state.version, &state.name, &state.phase.name(), &state.version_schema, &state.plan, &state.runner],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    fn sessions(&mut self, base_schema: &str) -> Result<Vec<SessionFacts>, DbError> {
        // Client backends only: autovacuum and other workers lock tables too. Another role's
        // session shows a NULL backend_type and state to a role without pg_read_all_stats,
        // but its user, application_name and locks: it counts.
        let rows = self
            .client
            .query(
                "SELECT a.pid, coalesce(a.usename::text, ''), coalesce(a.application_name, ''), \
                        coalesce(host(a.client_addr), CASE WHEN a.state IS NULL THEN 'host not shown' ELSE 'local' END), \
                        coalesce(a.state, 'state not shown to this role'), \
                        coalesce((SELECT array_agg(DISTINCT n.nspname::text ORDER BY n.nspname::text) \
                                  FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                                  JOIN pg_namespace n ON n.oid = c.relnamespace \
                                  WHERE l.pid = a.pid AND c.relkind = 'v'), '{}'), \
                        coalesce((SELECT array_agg(DISTINCT c.relname::text ORDER BY c.relname::text) \
                                  FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                                  JOIN pg_namespace n ON n.oid = c.relnamespace \
                                  WHERE l.pid = a.pid AND c.relkind IN ('r', 'p') AND n.nspname = $1), '{}'), \
                        (SELECT substr(cfg, length('search_path=') + 1) \
                         FROM pg_db_role_setting s, unnest(s.setconfig) cfg \
                         WHERE s.setrole = a.usesysid AND cfg LIKE 'search_path=%' \
                           AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) \
                         ORDER BY s.setdatabase DESC LIMIT 1) \
                 FROM pg_stat_activity a \
                 WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() \
                   AND (a.backend_type = 'client backend' \
                        OR (a.backend_type IS NULL AND a.usesysid IS NOT NULL)) \
                   AND coalesce(a.application_name, '') NOT LIKE 'cutover %' \
                 ORDER BY a.pid",
                &[&base_schema],
            )
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (pid, user, application, addr, state): (i32, String, String, String, String) =
                    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                let description = if application.is_empty() {
                    format!("pid {pid} ({user}@{addr}, {state})")
                } else {
                    format!("pid {pid} ({user}@{addr}, application `{application}`, {state})")
                };
                SessionFacts {
                    pid: i64::from(pid),
                    description,
                    application,
                    view_schemas: row.get(5),
                    base_tables: row.get(6),
                    role_search_path: row.get(7),
                }
            })
            .collect())
    }

    fn set_session_variable(&mut self, name: &str, value: &str) -> Result<(), DbError> {
        self.client.execute("SELECT set_config($1, $2, false)", &[&name, &value]).map(|_| ()).map_err(db_error)
    }
}
