//! The live database: catalog questions for `cutover plan`, and the scratch database that
//! `cutover rehearse` applies migrations to while it watches `pg_locks` and `pg_class`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use cutover_engine::{
    Catalog, CurrentHolders, DatabaseUrl, DbError, DbErrorKind, Dependent, LiveCheck, LiveColumn, LiveForeignKey,
    LiveIndex, LiveSchema, LiveTable, LiveView, LockHolder, Observation, ObservedLock, QueryUse, Rehearsal,
    RelationFacts, SampleReport,
};
use postgres::Client;

use crate::connect::{connect, quote_ident, ConnectOptions, Connector, PgTarget};
use crate::error::db_error;
use crate::migrate::{describe_session, session_columns};

/// The sessions of this database with a snapshot, oldest first, at most five: a concurrent
/// index build waits for each to end (what `plan` shows and `up` names after a wait in vain).
pub(crate) fn snapshot_holders(client: &mut Client) -> Result<Vec<LockHolder>, DbError> {
    let rows = client
        .query(
            &format!(
                "SELECT {}, to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
                   AND a.backend_xmin IS NOT NULL AND a.xact_start IS NOT NULL AND a.backend_type = 'client backend' \
                 ORDER BY a.xact_start LIMIT 5",
                session_columns("a.xact_start")
            ),
            &[],
        )
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|row| LockHolder {
            description: format!(
                "{} holds a snapshot, which a concurrent index build waits out",
                describe_session(row)
            ),
            since: Some(row.get(6)),
        })
        .collect())
}

/// `name` as the analysis writes it (`users`, `app.users`) resolved to an oid, or NULL.
const RESOLVE: &str = "to_regclass(CASE WHEN strpos(w.name, '.') > 0 \
     THEN quote_ident(split_part(w.name, '.', 1)) || '.' || quote_ident(split_part(w.name, '.', 2)) \
     ELSE quote_ident(w.name) END)";

/// A relation's name as the analysis writes it: no `public.`.
/// A relation's name as an unqualified name in a migration reaches it: its own name when the
/// session's `search_path` (the database's and role's settings included) finds it first, else
/// qualified. The analysis reads `public.t` as `t`: a `public` table is named bare unless
/// another of its name comes first on the `search_path`.
const REL_NAME: &str = "CASE WHEN pg_table_is_visible(c.oid) THEN c.relname \
     WHEN n.nspname = 'public' AND to_regclass(quote_ident(c.relname)) IS NULL THEN c.relname \
     ELSE n.nspname || '.' || c.relname END";

/// Schemas that are PostgreSQL's own.
const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
     AND n.nspname NOT LIKE 'pg_temp%'";

fn relkind_name(kind: &str) -> &'static str {
    match kind {
        "r" => "table",
        "p" => "partitioned table",
        "m" => "materialized view",
        "v" => "view",
        "i" | "I" => "index",
        "S" => "sequence",
        "f" => "foreign table",
        _ => "relation",
    }
}

/// A word of a query, for a case-insensitive regular expression with word boundaries.
fn word_pattern(word: &str) -> String {
    let escaped: String = word
        .chars()
        .flat_map(|c| if c.is_ascii_alphanumeric() || c == '_' { vec![c] } else { vec!['\\', c] })
        .collect();
    format!("\\m{escaped}\\M")
}

impl Catalog for PgTarget {
    fn relation_facts(&mut self, names: &[String]) -> Result<Vec<RelationFacts>, DbError> {
        // A relation's rows and bytes are its own and its descendants': a partitioned table's
        // partitions', an inheritance parent's children's (a statement without ONLY reaches them).
        // Catalog only here: a size function waits for the table's lock, behind a DDL queued
        // on it (what `plan` is asked about), so sizes are read with bounded waits after.
        let sql = format!(
            "SELECT w.name, c.relkind::text, l.oid, current_setting('block_size')::int8, \
               l.reltuples::float8, l.relpages::int8, pg_stat_get_live_tuples(l.oid) \
             FROM unnest($1::text[]) AS w(name) JOIN pg_class c ON c.oid = {RESOLVE} \
             LEFT JOIN LATERAL (WITH RECURSIVE tree(relid) AS (SELECT c.oid UNION ALL \
                                  SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid) \
                                SELECT relid FROM tree) leaf ON true \
             LEFT JOIN pg_class l ON l.oid = leaf.relid AND l.relkind <> 'p' ORDER BY 1"
        );
        let rows = self.client.query(&sql, &[&names]).map_err(db_error)?;
        let leaves: Vec<u32> = rows.iter().filter_map(|row| row.get::<_, Option<u32>>(2)).collect();
        let sizes = measure_sizes(&mut self.client, &leaves)?;
        let mut facts: Vec<RelationFacts> = Vec::new();
        for row in &rows {
            let name: String = row.get(0);
            let kind: String = row.get(1);
            let leaf: Option<u32> = row.get(2);
            let block_size: i64 = row.get(3);
            // A size not read (its table locked) is the catalog's pages, unknown without them.
            let pages = row.get::<_, Option<i64>>(5).unwrap_or(0);
            let estimated = if pages > 0 { pages * block_size } else { -1 };
            let measured = leaf.map(|oid| sizes.get(&oid));
            let size = measured.map_or(0, |sizes| sizes.map_or(estimated, |s| s.own));
            let total = measured.map_or(0, |sizes| sizes.map_or(size, |s| s.total));
            let leaf_rows = match row.get::<_, Option<f64>>(4) {
                None => 0, // a partitioned table without partitions
                // A view or a foreign table has no storage to scale by: what the catalog says.
                Some(tuples) if matches!(kind.as_str(), "v" | "f") => {
                    if tuples < 0.0 {
                        -1
                    } else {
                        tuples as i64
                    }
                }
                Some(tuples) => {
                    let (pages, live): (i64, i64) = (row.get(5), row.get(6));
                    match current_rows(tuples, pages, (size >= 0).then_some(size), live, block_size) {
                        RowEstimate::Planner(rows) => rows,
                        // An empty file holds no rows; otherwise the bound is no estimate.
                        RowEstimate::AtMost(_) if size == 0 => 0,
                        RowEstimate::AtMost(_) | RowEstimate::Unknown => -1,
                    }
                }
            };
            let bytes = total;
            match facts.last_mut().filter(|f| f.name == name) {
                Some(f) => {
                    f.rows = if f.rows < 0 || leaf_rows < 0 { -1 } else { f.rows + leaf_rows };
                    f.bytes = if f.bytes < 0 || bytes < 0 { -1 } else { f.bytes + bytes };
                }
                None => {
                    facts.push(RelationFacts { name, kind: relkind_name(&kind).to_string(), rows: leaf_rows, bytes })
                }
            }
        }
        Ok(facts)
    }

    fn dependents(&mut self, relation: &str, column: Option<&str>) -> Result<Vec<Dependent>, DbError> {
        let sql = format!(
            "WITH w AS (SELECT $1::text AS name), t AS (SELECT {RESOLVE} AS oid FROM w), \
             col AS (SELECT a.attnum FROM pg_attribute a, t WHERE a.attrelid = t.oid AND a.attname = $2::text) \
             SELECT DISTINCT CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, v.oid::regclass::text \
               FROM t JOIN pg_depend d ON d.refobjid = t.oid AND d.classid = 'pg_rewrite'::regclass \
               JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
              WHERE v.oid <> t.oid AND ($2::text IS NULL OR d.refobjsubid IN (SELECT attnum FROM col)) \
             UNION ALL \
             SELECT 'foreign key', con.conrelid::regclass::text || '.' || con.conname \
               FROM t JOIN pg_constraint con ON con.confrelid = t.oid AND con.contype = 'f' \
              WHERE $2::text IS NULL OR con.confkey && ARRAY(SELECT attnum FROM col) \
             UNION ALL \
             SELECT 'foreign key', con.conrelid::regclass::text || '.' || con.conname \
               FROM t JOIN pg_constraint con ON con.conrelid = t.oid AND con.contype = 'f' \
              WHERE $2::text IS NOT NULL AND con.conkey && ARRAY(SELECT attnum FROM col) \
             UNION ALL \
             SELECT 'index', i.indexrelid::regclass::text \
               FROM t JOIN pg_index i ON i.indrelid = t.oid \
              WHERE $2::text IS NOT NULL AND (SELECT attnum FROM col) = ANY(i.indkey) \
             UNION ALL \
             SELECT 'trigger', tg.tgname FROM t JOIN pg_trigger tg ON tg.tgrelid = t.oid AND NOT tg.tgisinternal \
             UNION ALL \
             SELECT 'function', p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prosrc ~* $3 \
                AND ($4::text IS NULL OR p.prosrc ~* $4) \
             ORDER BY 1, 2"
        );
        let name = relation.rsplit('.').next().unwrap_or(relation);
        let table_pattern = word_pattern(name);
        let column_pattern = column.map(word_pattern);
        let rows = self.client.query(&sql, &[&relation, &column, &table_pattern, &column_pattern]).map_err(db_error)?;
        Ok(rows.iter().map(|row| Dependent { kind: row.get(0), name: row.get(1) }).collect())
    }

    /// The application's statements that name `relation` (and `column`): not cutover's own reads
    /// (marked [`OWN_QUERY`]), nor DDL and other utility statements (migrations' own).
    fn statements_naming(&mut self, relation: &str, column: Option<&str>) -> Result<Option<Vec<QueryUse>>, DbError> {
        let installed = self
            .client
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'", &[])
            .map_err(db_error)?
            .is_some();
        if !installed {
            return Ok(None);
        }
        let name = relation.rsplit('.').next().unwrap_or(relation);
        let rows = self
            .client
            .query(
                "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 200), calls FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND query ~* $1 AND ($2::text IS NULL OR query ~* $2) \
                   AND query !~* 'pg_stat_statements|cutover_history|cutover_key_' AND strpos(query, $3) = 0 \
                   AND query !~* '^\\s*(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|TRUNCATE|VACUUM|ANALYZE|REINDEX|CLUSTER|REFRESH|DO|SET|SHOW|BEGIN|COMMIT|ROLLBACK|LOCK|EXPLAIN)\\M' \
                 ORDER BY calls DESC LIMIT 20",
                &[&word_pattern(name), &column.map(word_pattern), &OWN_QUERY],
            )
            // Loaded without `shared_preload_libraries`, the view cannot be read.
            .map_err(db_error);
        match rows {
            Ok(rows) => Ok(Some(rows.iter().map(|row| QueryUse { query: row.get(0), calls: row.get(1) }).collect())),
            Err(err) if err.code.as_deref() == Some("55000") => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn time_zone(&mut self) -> Result<String, DbError> {
        let row = self.client.query_one("SELECT current_setting('TimeZone')", &[]).map_err(db_error)?;
        Ok(row.get(0))
    }

    fn live_schema(&mut self) -> Result<LiveSchema, DbError> {
        read_live_schema(&mut self.client)
    }

    fn current_holders(&mut self, relation: &str, conflicting: &[&str]) -> Result<CurrentHolders, DbError> {
        // Queued requests count: a request waits behind a conflicting one queued before it.
        let sessions = match conflicting.is_empty() {
            true => Vec::new(),
            false => crate::migrate::sessions_locking(&mut self.client, &[relation.to_string()], conflicting, true)?,
        };
        Ok(CurrentHolders { sessions, exact: true })
    }

    fn snapshot_holders(&mut self) -> Result<Vec<LockHolder>, DbError> {
        snapshot_holders(&mut self.client)
    }

    fn measure_scan_rate(&mut self, relation: &str) -> Result<Option<f64>, DbError> {
        // A sample of at most 64 MB of the table, read in a read-only transaction that gives
        // up after 10 s: cheap enough for production.
        let sql = format!("SELECT c.oid FROM (SELECT $1::text AS name) w JOIN pg_class c ON c.oid = {RESOLVE}");
        let Some(row) = self.client.query_opt(&sql, &[&relation]).map_err(db_error)? else { return Ok(None) };
        let Some(Sizes { own: bytes, .. }) = measure_sizes(&mut self.client, &[row.get(0)])?.into_values().next()
        else {
            return Ok(None);
        };
        if bytes < 8 * 1024 * 1024 {
            return Ok(None);
        }
        let percent = (64.0 * 1024.0 * 1024.0 / bytes as f64 * 100.0).min(100.0);
        let quoted = relation.split('.').map(quote_ident).collect::<Vec<_>>().join(".");
        let mut tx = self.client.transaction().map_err(db_error)?;
        tx.batch_execute(
            "SET TRANSACTION READ ONLY; SET LOCAL lock_timeout = '1s'; SET LOCAL statement_timeout = '10s'",
        )
        .map_err(db_error)?;
        // Its lock first, so that a wait (a DDL queued on the table) is not counted as reading.
        match tx.batch_execute(&format!("LOCK TABLE {quoted} IN ACCESS SHARE MODE")) {
            Ok(()) => {}
            // Locked by another session: no measure, the default rate.
            Err(err) if err.code().is_some_and(|c| c.code() == "55P03") => return Ok(None),
            Err(err) => return Err(db_error(err)),
        }
        let started = Instant::now();
        tx.query_one(&format!("SELECT {OWN_QUERY} count(*) FROM {quoted} TABLESAMPLE SYSTEM ({percent})"), &[])
            .map_err(db_error)?;
        let elapsed = started.elapsed().as_secs_f64().max(1e-6);
        tx.rollback().map_err(db_error)?;
        Ok(Some(bytes as f64 * percent / 100.0 / elapsed))
    }
}

/// The user's tables, `relkind` plain or partitioned, joined as `c` with their schema `n`.
const USER_TABLES: &str = "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace";

/// The column a CHECK proves NOT NULL by one of its top-level conjuncts, as PostgreSQL 12+
/// uses it to skip `SET NOT NULL`'s scan: `(c IS NOT NULL)`, `((c IS NOT NULL) AND (c <> ''))`,
/// `(NOT (c IS NULL))`, as `pg_get_expr` prints them. Never a conjunct under an `OR`.
fn not_null_conjunct(expression: &str) -> Option<String> {
    /// `text` without one pair of parentheses around all of it.
    fn unwrap(text: &str) -> &str {
        let text = text.trim();
        let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) else { return text };
        // Only when the first `(` closes at the very end: `(a) AND (b)` is not wrapped.
        let mut depth = 0i32;
        for (idx, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 && idx != text.len() - 1 {
                        return text;
                    }
                }
                _ => {}
            }
        }
        inner
    }
    let body = unwrap(expression);
    let mut conjuncts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    let bytes = body.as_bytes();
    let mut idx = 0;
    while idx < bytes.len() {
        let quoted = quote.is_some();
        match bytes[idx] {
            // A doubled quote closes and reopens: the state comes out the same.
            c @ (b'"' | b'\'') if quote.is_none_or(|q| q == c) => quote = if quoted { None } else { Some(c) },
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 => {
                if body[idx..].starts_with(" OR ") {
                    return None; // a disjunction proves nothing of its parts
                }
                if body[idx..].starts_with(" AND ") {
                    conjuncts.push(&body[start..idx]);
                    start = idx + 5;
                    idx += 5;
                    continue;
                }
            }
            _ => {}
        }
        idx += 1;
    }
    conjuncts.push(&body[start..]);
    conjuncts.into_iter().find_map(|conjunct| {
        let conjunct = unwrap(conjunct);
        let column = conjunct.strip_suffix(" IS NOT NULL").or_else(|| {
            let inner = unwrap(conjunct.strip_prefix("NOT ")?);
            inner.strip_suffix(" IS NULL")
        })?;
        match column.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
            Some(quoted) => Some(quoted.replace("\"\"", "\"")),
            None if column.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => Some(column.to_string()),
            None => None,
        }
    })
}

/// See `Catalog::live_schema`: catalog queries in one read-only snapshot, whatever the number
/// of tables, then the storage size of every table, which scales its statistics to its size now
/// (`current_rows`).
fn read_live_schema(client: &mut Client) -> Result<LiveSchema, DbError> {
    let tables_sql = format!(
        "SELECT c.oid, {REL_NAME}, c.relkind = 'p', c.reltuples::float8, c.relpages::int8, \
           current_setting('block_size')::int8, \
           (SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid ORDER BY i.inhseqno LIMIT 1), \
           pg_stat_get_live_tuples(c.oid), n.nspname::text, c.relname::text \
         FROM {USER_TABLES} \
         WHERE {USER_SCHEMAS} AND c.relkind IN ('r', 'p')"
    );
    let columns_sql = format!(
        "SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull \
         FROM pg_attribute a JOIN {USER_TABLES} ON c.oid = a.attrelid \
         WHERE {USER_SCHEMAS} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum"
    );
    let indexes_sql = format!(
        "SELECT x.indrelid, CASE WHEN n.nspname = 'public' THEN ic.relname ELSE n.nspname || '.' || ic.relname END, \
           x.indkey::int2[], x.indnkeyatts::int4, x.indisunique, x.indpred IS NOT NULL, x.indisvalid \
         FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace \
         JOIN pg_class c ON c.oid = x.indrelid \
         WHERE {USER_SCHEMAS} AND c.relkind IN ('r', 'p')"
    );
    // A CHECK that is exactly `col IS NOT NULL` is what lets SET NOT NULL skip its scan.
    let constraints_sql = format!(
        "SELECT k.conrelid, k.conname, k.contype::text, k.convalidated, k.conkey::int2[], \
           CASE WHEN k.contype = 'c' THEN pg_get_expr(k.conbin, k.conrelid) END, \
           CASE WHEN k.contype = 'c' AND cardinality(k.conkey) = 1 \
                 AND pg_get_expr(k.conbin, k.conrelid) = '(' || quote_ident(a.attname) || ' IS NOT NULL)' \
                THEN a.attname::text END, \
           k.confrelid, k.confkey::int2[] \
         FROM pg_constraint k JOIN {USER_TABLES} ON c.oid = k.conrelid \
         LEFT JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
         WHERE {USER_SCHEMAS} AND c.relkind IN ('r', 'p') AND k.contype IN ('c', 'f', 'p') \
         ORDER BY k.conrelid, k.conname"
    );
    // The relations a view's rule reads: one, for a view that shows one table's rows.
    let views_sql = format!(
        "SELECT {REL_NAME}, n.nspname::text, c.relname::text, \
           ARRAY(SELECT DISTINCT d.refobjid FROM pg_rewrite r JOIN pg_depend d \
                   ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> c.oid \
                 WHERE r.ev_class = c.oid)::oid[], c.oid \
         FROM {USER_TABLES} WHERE {USER_SCHEMAS} AND c.relkind = 'v'"
    );
    let domains_sql = "SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype = 'd' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND (t.typnotnull OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.contypid = t.oid)) ORDER BY 1";

    // Plain functions only (no aggregates or procedures); an overloaded name is volatile if
    // any of its forms is.
    let functions_sql = format!(
        "SELECT p.proname::text, bool_or(p.provolatile = 'v') FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind = 'f' AND {USER_SCHEMAS} GROUP BY 1 ORDER BY 1"
    );

    let mut tx = client.transaction().map_err(db_error)?;
    // The catalog alone: no table is locked, and no read may hang a command on a busy server.
    tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL statement_timeout = '60s'")
        .map_err(db_error)?;
    let table_rows = tx.query(&tables_sql, &[]).map_err(db_error)?;
    let column_rows = tx.query(&columns_sql, &[]).map_err(db_error)?;
    let index_rows = tx.query(&indexes_sql, &[]).map_err(db_error)?;
    let constraint_rows = tx.query(&constraints_sql, &[]).map_err(db_error)?;
    let domain_rows = tx.query(domains_sql, &[]).map_err(db_error)?;
    let view_rows = tx.query(&views_sql, &[]).map_err(db_error)?;
    let function_rows = tx.query(&functions_sql, &[]).map_err(db_error)?;
    tx.commit().map_err(db_error)?;

    let mut tables: BTreeMap<u32, LiveTable> = BTreeMap::new();
    let mut parents: BTreeMap<u32, u32> = BTreeMap::new();
    let mut statistics: BTreeMap<u32, (f64, i64, i64)> = BTreeMap::new();
    let mut block_size = 8192_i64;
    for row in &table_rows {
        let oid: u32 = row.get(0);
        block_size = row.get(5);
        if let Some(parent) = row.get::<_, Option<u32>>(6) {
            parents.insert(oid, parent);
        }
        let partitioned: bool = row.get(2);
        if !partitioned {
            statistics.insert(oid, (row.get(3), row.get(4), row.get(7)));
        }
        tables.insert(
            oid,
            LiveTable {
                name: row.get(1),
                schema: row.get(8),
                relname: row.get(9),
                partitioned,
                rows: -1,
                bytes: -1,
                ..LiveTable::default()
            },
        );
    }
    let oids: Vec<u32> = statistics.keys().copied().collect();
    let sizes = measure_sizes(client, &oids)?;
    for (oid, (tuples, pages, live)) in statistics {
        let Some(table) = tables.get_mut(&oid) else { continue };
        let bytes = sizes.get(&oid).map(|s| s.own);
        table.bytes = bytes.unwrap_or(-1);
        (table.rows, table.analysed) = match current_rows(tuples, pages, bytes, live, block_size) {
            RowEstimate::Planner(rows) => (rows, true),
            RowEstimate::AtMost(rows) => (rows, false),
            RowEstimate::Unknown => (-1, false),
        };
    }
    let mut attnames: BTreeMap<(u32, i16), String> = BTreeMap::new();
    for row in &column_rows {
        let (oid, attnum, name): (u32, i16, String) = (row.get(0), row.get(1), row.get(2));
        attnames.insert((oid, attnum), name.clone());
        if let Some(table) = tables.get_mut(&oid) {
            table.columns.push(LiveColumn { name, type_text: row.get(3), not_null: row.get(4) });
        }
    }
    let names_of = |oid: u32, attnums: &[i16]| -> Vec<String> {
        attnums.iter().map_while(|attnum| attnames.get(&(oid, *attnum)).cloned()).collect()
    };
    for row in &index_rows {
        let oid: u32 = row.get(0);
        let key: Vec<i16> = row.get(2);
        let key_columns = usize::try_from(row.get::<_, i32>(3)).unwrap_or(0).min(key.len());
        // 0 is an expression: the plain columns are those before the first one.
        let plain: Vec<i16> = key[..key_columns].iter().copied().take_while(|attnum| *attnum > 0).collect();
        let index = LiveIndex {
            name: row.get(1),
            columns: names_of(oid, &plain),
            unique: row.get(4),
            plain: plain.len() == key_columns,
            partial: row.get(5),
            valid: row.get(6),
        };
        if let Some(table) = tables.get_mut(&oid) {
            table.indexes.push(index);
        }
    }
    let table_names: BTreeMap<u32, String> = tables.iter().map(|(oid, t)| (*oid, t.name.clone())).collect();
    for row in &constraint_rows {
        let oid: u32 = row.get(0);
        let name: String = row.get(1);
        let kind: String = row.get(2);
        let validated: bool = row.get(3);
        let key: Vec<i16> = row.get::<_, Option<Vec<i16>>>(4).unwrap_or_default();
        let Some(table) = tables.get_mut(&oid) else { continue };
        match kind.as_str() {
            "c" => {
                let expression = row.get::<_, Option<String>>(5).unwrap_or_default();
                let not_null_column = row.get::<_, Option<String>>(6).or_else(|| not_null_conjunct(&expression));
                table.checks.push(LiveCheck { name, expression, validated, not_null_column })
            }
            "p" => table.primary_key = names_of(oid, &key),
            _ => {
                let referenced: u32 = row.get(7);
                let referenced_key: Vec<i16> = row.get::<_, Option<Vec<i16>>>(8).unwrap_or_default();
                // A key to a table outside the user's schemas is named by nothing here.
                let Some(referenced_table) = table_names.get(&referenced).cloned() else { continue };
                table.foreign_keys.push(LiveForeignKey {
                    name,
                    columns: names_of(oid, &key),
                    referenced_table,
                    referenced_columns: names_of(referenced, &referenced_key),
                    validated,
                });
            }
        }
    }
    partition_totals(&mut tables, &parents);
    let mut relation_names: BTreeMap<u32, String> = tables.iter().map(|(oid, t)| (*oid, t.name.clone())).collect();
    for (oid, table) in tables.iter_mut() {
        table.parent = parents.get(oid).and_then(|parent| relation_names.get(parent)).cloned();
    }
    relation_names.extend(view_rows.iter().map(|row| (row.get::<_, u32>(4), row.get::<_, String>(0))));
    let views = view_rows
        .iter()
        .map(|row| {
            let read: Vec<u32> = row.get(3);
            LiveView {
                name: row.get(0),
                schema: row.get(1),
                relname: row.get(2),
                base: match read.as_slice() {
                    [one] => relation_names.get(one).cloned(),
                    _ => None,
                },
            }
        })
        .collect();
    Ok(LiveSchema {
        tables: tables.into_values().collect(),
        constrained_domains: domain_rows.iter().map(|row| row.get(0)).collect(),
        views,
        functions: function_rows.iter().map(|row| (row.get(0), row.get(1))).collect(),
    })
}

/// What is known of the rows a table holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowEstimate {
    /// The planner's estimate.
    Planner(i64),
    /// No estimate, only the most rows its storage can hold.
    AtMost(i64),
    /// Its size could not be read.
    Unknown,
}

/// The rows a table holds now, as PostgreSQL's planner counts them (`estimate_rel_size`): not
/// `reltuples` as the last ANALYZE or VACUUM left it, but its density (`reltuples / relpages`)
/// times the pages the table has now (`bytes`), so a table that grew since is sized as it is;
/// and at least the live rows the statistics counted since (`live`), which also sees rows
/// written into free space that did not grow the file. Without a density (never analysed:
/// `reltuples` -1, or 0 with no pages before PostgreSQL 14; or analysed empty) there is no
/// estimate, only a bound: the pages there are, each full of the smallest rows (a page header
/// of 24 bytes, then a 4-byte line pointer and a 24-byte tuple header each), so that such a
/// table counts as small only when it surely is.
fn current_rows(tuples: f64, pages: i64, bytes: Option<i64>, live: i64, block_size: i64) -> RowEstimate {
    let Some(bytes) = bytes else { return RowEstimate::Unknown };
    let current_pages = (bytes + block_size - 1) / block_size;
    if tuples > 0.0 && pages > 0 {
        let scaled = (tuples / pages as f64 * current_pages as f64).round() as i64;
        return RowEstimate::Planner(scaled.max(live));
    }
    let per_page = ((block_size - 24) / 28).max(1);
    RowEstimate::AtMost((current_pages * per_page).max(live))
}

/// The storage size of each of `oids` in bytes: its own (`pg_relation_size`) and with its
/// indexes and TOAST (`pg_total_relation_size`); a table whose size cannot be read now is
/// left out. Reading a table's size waits for its lock, so every wait is bounded: all sizes in
/// one query, and when a table is locked by another session, each on its own, the locked
/// ones left out.
fn measure_sizes(client: &mut Client, oids: &[u32]) -> Result<BTreeMap<u32, Sizes>, DbError> {
    let sizes_sql =
        "SELECT w.oid, pg_relation_size(w.oid), pg_total_relation_size(w.oid) FROM unnest($1::oid[]) AS w(oid)";
    let sizes_of = |row: &postgres::Row| (row.get::<_, u32>(0), Sizes { own: row.get(1), total: row.get(2) });
    // A table locked by another session (55P03), or a slow disk (57014).
    let busy = |err: &postgres::Error| matches!(err.code().map(|c| c.code()), Some("55P03" | "57014"));
    let mut sizes = BTreeMap::new();
    if oids.is_empty() {
        return Ok(sizes);
    }
    let mut tx = client.transaction().map_err(db_error)?;
    tx.batch_execute("SET TRANSACTION READ ONLY; SET LOCAL lock_timeout = '1s'; SET LOCAL statement_timeout = '10s'")
        .map_err(db_error)?;
    match tx.query(sizes_sql, &[&oids]) {
        Ok(rows) => {
            sizes.extend(rows.iter().map(sizes_of));
            tx.commit().map_err(db_error)?;
            return Ok(sizes);
        }
        Err(err) if busy(&err) => {}
        Err(err) => return Err(db_error(err)),
    }
    tx.rollback().map_err(db_error)?;
    let mut tx = client.transaction().map_err(db_error)?;
    tx.batch_execute("SET TRANSACTION READ ONLY; SET LOCAL lock_timeout = '50ms'; SET LOCAL statement_timeout = '10s'")
        .map_err(db_error)?;
    for oid in oids {
        let mut one = tx.savepoint("size").map_err(db_error)?;
        match one.query(sizes_sql, &[&vec![*oid]]) {
            Ok(rows) => {
                sizes.extend(rows.iter().map(sizes_of));
                one.commit().map_err(db_error)?;
            }
            Err(err) if busy(&err) => one.rollback().map_err(db_error)?,
            Err(err) => return Err(db_error(err)),
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(sizes)
}

/// A relation's size in bytes, alone and with its indexes and TOAST.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    own: i64,
    total: i64,
}

/// A parent's rows and bytes include its children's: a partitioned table's are its partitions'
/// (their partitions' in turn), an inheritance parent's are its own and its children's (an
/// UPDATE or ALTER of the parent without ONLY reaches them all, TimescaleDB's and pg_partman's
/// older layouts among them); unknown when any of them is.
fn partition_totals(tables: &mut BTreeMap<u32, LiveTable>, parents: &BTreeMap<u32, u32>) {
    let own: Vec<(u32, i64, i64, bool)> =
        tables.iter().filter(|(_, t)| !t.partitioned).map(|(oid, t)| (*oid, t.rows, t.bytes, t.analysed)).collect();
    let add = |a: i64, b: i64| if a < 0 || b < 0 { -1 } else { a + b };
    let mut below: BTreeMap<u32, (i64, i64, bool)> = BTreeMap::new();
    for (table, rows, bytes, analysed) in own {
        let mut at = table;
        // Inheritance nests, but never in a cycle; the bound only guards against a broken catalog.
        for _ in 0..64 {
            let Some(parent) = parents.get(&at) else { break };
            let total = below.entry(*parent).or_insert((0, 0, true));
            total.0 = add(total.0, rows);
            total.1 = add(total.1, bytes);
            total.2 &= analysed;
            at = *parent;
        }
    }
    for (oid, table) in tables.iter_mut() {
        let (rows, bytes, analysed) = below.get(oid).copied().unwrap_or((0, 0, true));
        if table.partitioned {
            (table.rows, table.bytes, table.analysed) = (rows, bytes, analysed);
        } else if below.contains_key(oid) {
            table.rows = add(table.rows, rows);
            table.bytes = add(table.bytes, bytes);
            table.analysed &= analysed;
        }
    }
}

/// Tables (with their storage file) and the other relations of the user's schemas, by oid.
fn relations(client: &mut Client) -> Result<BTreeMap<u32, (String, String, u32)>, DbError> {
    let sql = format!(
        "SELECT c.oid, {REL_NAME}, c.relkind::text, c.relfilenode FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS} AND c.relkind IN ('r','p','m','i','I','S','v','f')"
    );
    let rows = client.query(&sql, &[]).map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|row| {
            (row.get::<_, u32>(0), (row.get(1), relkind_name(row.get::<_, String>(2).as_str()).to_string(), row.get(3)))
        })
        .collect())
}

/// The relation locks this session holds: (oid, mode).
fn held_locks(client: &mut Client) -> Result<BTreeSet<(u32, String)>, DbError> {
    let rows = client
        .query(
            "SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted",
            &[],
        )
        .map_err(db_error)?;
    Ok(rows.iter().map(|row| (row.get::<_, u32>(0), row.get::<_, String>(1))).collect())
}

impl Rehearsal for PgTarget {
    fn begin(&mut self) -> Result<(), DbError> {
        self.client.batch_execute("BEGIN").map_err(db_error)
    }

    fn execute_observed(&mut self, sql: &str, in_transaction: bool) -> Result<Observation, DbError> {
        // `SET TRANSACTION` must come before the transaction's first query, and observing is
        // one: it runs unobserved (it takes no lock), as `up` runs it first.
        if cutover_migration::sets_the_transaction(sql) {
            let started = Instant::now();
            self.client.batch_execute(sql).map_err(db_error)?;
            return Ok(Observation {
                duration: started.elapsed(),
                locks_observed: in_transaction,
                ..Observation::default()
            });
        }
        let before = relations(&mut self.client)?;
        let locks_before = if in_transaction { held_locks(&mut self.client)? } else { BTreeSet::new() };
        let started = Instant::now();
        self.client.batch_execute(sql).map_err(db_error)?;
        let duration = started.elapsed();
        let after = relations(&mut self.client)?;
        let mut observation = Observation { duration, locks_observed: in_transaction, ..Observation::default() };
        if in_transaction {
            for (oid, mode) in held_locks(&mut self.client)?.difference(&locks_before) {
                // Locks on what the statement itself created say nothing about the live database.
                if let Some((name, kind, _)) = before.get(oid) {
                    observation.locks.push(ObservedLock {
                        relation: name.clone(),
                        kind: kind.clone(),
                        mode: mode.clone(),
                    });
                }
            }
            observation.locks.sort();
        }
        for (oid, (name, kind, file)) in &before {
            let replaced = after.get(oid).is_some_and(|(_, _, new_file)| new_file != file);
            if replaced && kind != "index" && kind != "sequence" {
                observation.rewritten.push(name.clone());
            }
        }
        Ok(observation)
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.client.batch_execute("COMMIT").map_err(db_error)
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.client.batch_execute("ROLLBACK").map_err(db_error)
    }

    fn copy_sample(&mut self, rows_per_table: u64) -> Result<SampleReport, DbError> {
        let Some((config, connector)) = self.sample_source.clone() else {
            return Err(DbError::new(DbErrorKind::Other, "this database is not a scratch copy of another"));
        };
        let mut source = connector.connect(&config)?;
        source.batch_execute("SET default_transaction_read_only = on").map_err(db_error)?;
        let own = self.own_relations()?;
        copy_sample(&mut self.client, &mut source, &own, rows_per_table)
    }
}

/// A database made for one rehearsal and dropped after it.
pub struct ScratchDatabase {
    /// The scratch database, to migrate and observe.
    pub target: PgTarget,
    /// Whether it was copied from the target (`CREATE DATABASE ... TEMPLATE`); otherwise it is
    /// empty and the applied migrations must be replayed into it first.
    pub from_template: bool,
    /// Scratch databases an interrupted run left behind (killed before it could drop them),
    /// dropped before this one was made.
    pub dropped_leftovers: Vec<String>,
    name: String,
    admin: Client,
}

/// A mark inside the statements cutover runs on the live database to read it (samples, the read
/// rate), kept in `pg_stat_statements`' text, so that `plan` does not take them for the
/// application's.
pub(crate) const OWN_QUERY: &str = "/* cutover */";

/// How long a scratch database with no session must have existed to count as left behind: a
/// run holds a session on its own from a moment after it makes it until it drops it.
const LEFTOVER_AGE_SECS: u64 = 600;

/// Drops the scratch databases of runs killed before they dropped theirs: named
/// `cutover_rehearsal_<unix seconds>_<pid>_<n>`, older than [`LEFTOVER_AGE_SECS`], and with no
/// session on them. Best effort: one that cannot be dropped is left for the next run.
fn drop_leftovers(admin: &mut Client, now_secs: u64) -> Vec<String> {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database d WHERE datname ~ '^cutover_rehearsal_[0-9]+_[0-9]+_[0-9]+$' \
             AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            &[],
        )
        .unwrap_or_default();
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let made: Option<u64> = name.split('_').nth(2).and_then(|t| t.parse().ok());
        if made.is_some_and(|made| now_secs.saturating_sub(made) > LEFTOVER_AGE_SECS)
            && admin.batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name))).is_ok()
        {
            dropped.push(name);
        }
    }
    dropped
}

impl ScratchDatabase {
    /// Creates a scratch database beside the one `url` names: a copy of it when `template` and
    /// nobody else is connected to it, else an empty one. Made through the server's maintenance
    /// database (`postgres`), so that no connection to the original stands in the way.
    pub fn create(url: &DatabaseUrl, options: &ConnectOptions, template: bool) -> Result<ScratchDatabase, DbError> {
        let (config, connector) = crate::connect::parse_url(url)?;
        // libpq's default: the database named as the user, when the URL names none.
        let origin = config.get_dbname().or(config.get_user()).unwrap_or("postgres").to_string();
        let mut admin_config = config.clone();
        // The session that creates the copy must not be in the database it copies.
        admin_config.dbname(if origin == "postgres" { "template1" } else { "postgres" });
        admin_config.application_name("cutover rehearse");
        let mut admin = Connector::connect(&connector, &admin_config)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let dropped_leftovers = drop_leftovers(&mut admin, now.as_secs());
        // When it was made, so that a later run can tell it was left behind.
        let name = format!("cutover_rehearsal_{}_{}_{}", now.as_secs(), std::process::id(), now.subsec_nanos());
        let mut from_template = false;
        if template {
            let sql = format!("CREATE DATABASE {} TEMPLATE {}", quote_ident(&name), quote_ident(&origin));
            // 55006: the original has other sessions, and a copy needs it to itself. Asked for a
            // copy, replaying instead would rehearse on something else: say who is connected.
            match admin.batch_execute(&sql).map_err(db_error) {
                Ok(()) => from_template = true,
                Err(mut err) if err.code.as_deref() == Some("55006") => {
                    let sessions = admin
                        .query(
                            "SELECT format('pid %s (%s%s, %s since %s)', pid, usename, \
                                    CASE WHEN application_name <> '' THEN ', ' || application_name ELSE '' END, \
                                    coalesce(state, 'connected'), date_trunc('second', backend_start)) \
                             FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 5",
                            &[&origin],
                        )
                        .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>())
                        .unwrap_or_default();
                    err.message = format!(
                        "cannot copy database {origin} for --template: other sessions are connected to it ({}); a copy needs the database to itself: close them, or rehearse without --template (the applied migrations are replayed into an empty database, with --sample-rows for data)",
                        if sessions.is_empty() { "they left before they could be listed".to_string() } else { sessions.join("; ") }
                    );
                    return Err(err);
                }
                Err(err) => return Err(err),
            }
        }
        if !from_template {
            admin.batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name))).map_err(db_error)?;
        }
        let scratch_url = url.with_database(&name);
        let prepared = connect(&scratch_url, options).and_then(|mut target| {
            crate::schema::follow_database_settings(&mut admin, &origin, &mut target.client)?;
            if from_template {
                // The views of completed expand/contract versions are cutover's own, kept in step
                // by `up` around each migration (`version_views`): the rehearsal observes the
                // migrations alone, their locks and their schema changes.
                for schema in target.completed_versions()? {
                    target
                        .client
                        .batch_execute(&format!("DROP SCHEMA {} CASCADE", quote_ident(&schema)))
                        .map_err(db_error)?;
                }
                target.completed_versions = None;
            }
            target.sample_source = Some((config.clone(), connector.clone()));
            Ok(target)
        });
        let target = match prepared {
            Ok(target) => target,
            Err(err) => {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)));
                return Err(err);
            }
        };
        Ok(ScratchDatabase { target, from_template, dropped_leftovers, name, admin })
    }

    /// The scratch database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the scratch database.
    pub fn drop_database(self) -> Result<(), DbError> {
        let ScratchDatabase { target, name, mut admin, .. } = self;
        drop(target);
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name))).map_err(db_error)
    }
}

/// The tables of the scratch database a sample goes into: its user tables (partitioned ones
/// whole, through their parent) that the source has too, but cutover's own (`$1`, by their
/// configured names: a user's `cutover_notes` is sampled like any other table).
const SAMPLED_TABLES: &str = "SELECT format('%I.%I', n.nspname, c.relname), c.oid \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.oid <> ALL($1::oid[]) \
       AND USER_SCHEMAS_HERE ORDER BY 1";

/// See `Rehearsal::copy_sample`. Foreign keys are lifted while the rows go in (a sample keeps
/// children whose parents it left out), and user triggers are off (they would act on the
/// copy); both come back, the keys validated where the sample allows it, else NOT VALID.
fn copy_sample(
    scratch: &mut Client,
    source: &mut Client,
    own: &[u32],
    rows_per_table: u64,
) -> Result<SampleReport, DbError> {
    let mut report = SampleReport::default();
    let tables =
        scratch.query(&SAMPLED_TABLES.replace("USER_SCHEMAS_HERE", USER_SCHEMAS), &[&own]).map_err(db_error)?;
    let keys = scratch
        .query(
            &format!(
                "SELECT format('%I.%I', n.nspname, c.relname), quote_ident(k.conname), pg_get_constraintdef(k.oid) \
                 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE k.contype = 'f' AND {USER_SCHEMAS} AND NOT c.relispartition ORDER BY 1, 2"
            ),
            &[],
        )
        .map_err(db_error)?;
    let keys: Vec<(String, String, String)> = keys.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    for (table, name, _) in &keys {
        scratch.batch_execute(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}")).map_err(db_error)?;
    }
    for row in &tables {
        let (table, oid): (String, u32) = (row.get(0), row.get(1));
        match copy_table(scratch, source, &table, oid, rows_per_table) {
            Ok(0) => {}
            Ok(rows) => {
                report.tables += 1;
                report.rows += rows;
            }
            Err(reason) => report.skipped.push(format!("{table}: {reason}")),
        }
    }
    for (table, name, definition) in &keys {
        scratch
            .batch_execute(&format!("ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID"))
            .map_err(db_error)?;
        // A sample that breaks the key leaves it NOT VALID; the rehearsal goes on.
        let _ = scratch.batch_execute(&format!("ALTER TABLE {table} VALIDATE CONSTRAINT {name}"));
    }
    Ok(report)
}

/// Copies up to `limit` rows of `table` (its columns both sides have, generated ones left to
/// the scratch) from `source`; returns how many.
fn copy_table(scratch: &mut Client, source: &mut Client, table: &str, oid: u32, limit: u64) -> Result<u64, String> {
    let columns: Vec<String> = scratch
        .query(
            "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 \
             AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            &[&oid],
        )
        .map_err(why)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The source's columns of that name; a table or column it lacks is left out.
    let present = source
        .query(
            "SELECT quote_ident(a.attname), c.reltuples::float8 FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.oid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&table],
        )
        .map_err(why)?;
    if present.is_empty() {
        return Err("not in the database it stands for".to_string());
    }
    let estimate: f64 = present[0].get(1);
    let source_columns: Vec<String> = present.iter().map(|r| r.get(0)).collect();
    let columns: Vec<String> = columns.into_iter().filter(|c| source_columns.contains(c)).collect();
    if columns.is_empty() {
        return Ok(0);
    }
    let list = columns.join(", ");
    // A few pages at random when the table is large (TABLESAMPLE SYSTEM reads only them), the
    // first rows otherwise: never a scan of a large table.
    let sample = if estimate > (limit * 4) as f64 {
        format!(" TABLESAMPLE SYSTEM ({:.6})", (400.0 * limit as f64 / estimate).min(100.0))
    } else {
        String::new()
    };
    let mut copy = |sample: &str| -> Result<Vec<u8>, String> {
        let query = format!("COPY (SELECT {OWN_QUERY} {list} FROM {table}{sample} LIMIT {limit}) TO STDOUT");
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut source.copy_out(query.as_str()).map_err(why)?, &mut data)
            .map_err(|e| e.to_string())?;
        Ok(data)
    };
    let mut data = copy(&sample)?;
    if data.is_empty() && !sample.is_empty() {
        // The random pages happened to be empty (each page is drawn on its own): the first rows
        // then, which reads as few pages, rather than no sample of a table that has rows.
        data = copy("")?;
    }
    let rows = data.iter().filter(|b| **b == b'\n').count() as u64;
    if rows == 0 {
        return Ok(0);
    }
    let mut transaction = scratch.transaction().map_err(why)?;
    transaction.batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).map_err(why)?;
    let mut writer = transaction.copy_in(format!("COPY {table} ({list}) FROM STDIN").as_str()).map_err(why)?;
    std::io::Write::write_all(&mut writer, &data).map_err(|e| e.to_string())?;
    writer.finish().map_err(why)?;
    transaction.batch_execute(&format!("ALTER TABLE {table} ENABLE TRIGGER USER")).map_err(why)?;
    transaction.commit().map_err(why)?;
    Ok(rows)
}

fn why(err: postgres::Error) -> String {
    db_error(err).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_are_scaled_to_the_size_now_as_the_planner_does() {
        use super::{current_rows, RowEstimate};
        let page = 8192;
        // Analysed at 100 rows on one page; 1,000 pages now: the density times the pages.
        assert_eq!(current_rows(100.0, 1, Some(1_000 * page), 0, page), RowEstimate::Planner(100_000));
        // The live rows the statistics counted since, when more (rows written into free space).
        assert_eq!(current_rows(100.0, 10, Some(10 * page), 250_000, page), RowEstimate::Planner(250_000));
        // Analysed empty, or never: only a bound (291 of the smallest rows a page).
        assert_eq!(current_rows(0.0, 0, Some(1_000 * page), 0, page), RowEstimate::AtMost(291_000));
        assert_eq!(current_rows(-1.0, 0, Some(2 * page), 0, page), RowEstimate::AtMost(582));
        assert_eq!(current_rows(-1.0, 0, Some(0), 0, page), RowEstimate::AtMost(0));
        assert_eq!(current_rows(5_000.0, 50, None, 0, page), RowEstimate::Unknown, "a locked table's size");
    }

    #[test]
    fn checks_that_prove_not_null_by_a_conjunct() {
        use super::not_null_conjunct as proof;
        assert_eq!(proof("(st IS NOT NULL)").as_deref(), Some("st"));
        assert_eq!(proof("((st IS NOT NULL) AND (st <> ''::text))").as_deref(), Some("st"));
        assert_eq!(proof("((st <> ''::text) AND (st IS NOT NULL))").as_deref(), Some("st"));
        assert_eq!(proof("(NOT (st3 IS NULL))").as_deref(), Some("st3"));
        assert_eq!(proof("(\"Mixed Case\" IS NOT NULL)").as_deref(), Some("Mixed Case"));
        assert_eq!(proof("((st IS NOT NULL) OR (other IS NOT NULL))"), None);
        assert_eq!(proof("((a > 0) AND ((st IS NOT NULL) OR (b > 0)))"), None);
        assert_eq!(proof("(st <> ''::text)"), None);
        assert_eq!(proof("(lower(st) IS NOT NULL)"), None);
        assert_eq!(proof("((st <> 'x AND y IS NOT NULL'::text) AND (st IS NOT NULL))").as_deref(), Some("st"));
        assert_eq!(proof("((st <> 'a\" OR b'::text) AND (st IS NOT NULL))").as_deref(), Some("st"));
    }
}
