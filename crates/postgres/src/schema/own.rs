//! Which objects of a database are cutover's own, known by the names cutover gives them: the
//! configured history table and the tables it makes beside it, the history's trigger
//! functions, and the dual-write triggers and functions of the expand/contract versions its
//! state table records. Never by a prefix: a user's `cutover_history_archive` table or
//! `cutover_cleanup()` function is the user's, and `cutover drift` must see it.

use postgres::Client;

use cutover_engine::keyset::CHECKPOINT_TABLE;
use cutover_engine::DbError;

use crate::connect::PgTarget;
use crate::error::db_error;
use crate::expand::{state_columns, StateColumns, STATE_TABLE};

/// cutover's own objects in one database, as SQL array literals the snapshot's queries use.
pub(super) struct Own {
    /// `ARRAY[...]::oid[]` of cutover's tables that exist: the history, its guard and approvals,
    /// the expand state and the backfill checkpoints. Their columns, indexes, constraints,
    /// triggers and sequences go with them.
    pub(super) relations: String,
    /// `ARRAY[...]::oid[]` of the history's trigger functions (`<history>_append_only()`,
    /// `<history>_guard_row()`).
    pub(super) functions: String,
    /// `ARRAY[...]::text[]` of the versions the expand state table records.
    versions: String,
    /// `ARRAY[...]::text[]` of those versions' schemas of views, left out whole.
    pub(super) version_schemas: String,
    /// The history table's schema, left out as a schema line (its other objects are the
    /// user's), unless it is `public`; empty when the history is unqualified.
    pub(super) history_schema: String,
}

impl Own {
    /// A user schema (alias `n` of `pg_namespace` by default): not the system's, not a version's.
    pub(super) fn user_schema(&self, n: &str) -> String {
        format!(
            "{n}.nspname NOT LIKE 'pg\\_%' AND {n}.nspname <> 'information_schema' AND {n}.nspname <> ALL({})",
            self.version_schemas
        )
    }

    /// Whether the name `name` (SQL) is one an expand/contract migration of a recorded version
    /// gives its dual-write trigger or function: `zz_cutover_<version>_<n>` (`_cutover_...`
    /// before they were named to fire last), and for the update trigger `..._u`
    /// (cutover-expand's `trigger_name`).
    pub(super) fn dual_write(&self, name: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM unnest({versions}) AS v(version), unnest(ARRAY['_cutover_', 'zz_cutover_']) AS own_prefix(prefix) \
                     WHERE left({name}::text, length(own_prefix.prefix || v.version || '_')) = own_prefix.prefix || v.version || '_' \
                       AND substr({name}::text, length(own_prefix.prefix || v.version || '_') + 1) ~ '^[0-9]+(_u)?$')",
            versions = self.versions
        )
    }
}

/// A SQL text literal.
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn oid_array(oids: &[u32]) -> String {
    format!("ARRAY[{}]::oid[]", oids.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
}

fn text_array(texts: &[String]) -> String {
    format!("ARRAY[{}]::text[]", texts.iter().map(|t| literal(t)).collect::<Vec<_>>().join(", "))
}

impl PgTarget {
    /// cutover's own tables in this database, by the configured history table's name (resolved
    /// as cutover resolves it, through the session's `search_path` when unqualified).
    pub(crate) fn own_relations(&mut self) -> Result<Vec<u32>, DbError> {
        let names = [
            self.history_table.quoted(),
            self.history_table.quoted_with_suffix("_guard"),
            self.history_table.quoted_with_suffix("_approvals"),
            self.beside_history(STATE_TABLE),
            self.beside_history(CHECKPOINT_TABLE),
            self.beside_history(crate::rewrite::STATE_TABLE),
            self.beside_history(crate::rewrite::MISSES_TABLE),
        ];
        let rows = self
            .client
            .query(
                "SELECT r::oid FROM unnest(ARRAY[to_regclass($1), to_regclass($2), to_regclass($3), \
                 to_regclass($4), to_regclass($5), to_regclass($6), to_regclass($7)]) AS r WHERE r IS NOT NULL",
                &[&names[0], &names[1], &names[2], &names[3], &names[4], &names[5], &names[6]],
            )
            .map_err(db_error)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// What the snapshot leaves out of this database.
    pub(super) fn own(&mut self) -> Result<Own, DbError> {
        let relations = self.own_relations()?;
        let functions = [
            format!("{}()", self.history_table.quoted_with_suffix("_append_only")),
            format!("{}()", self.history_table.quoted_with_suffix("_guard_row")),
        ];
        let functions: Vec<u32> = self
            .client
            .query(
                "SELECT f::oid FROM unnest(ARRAY[to_regprocedure($1), to_regprocedure($2)]) AS f WHERE f IS NOT NULL",
                &[&functions[0], &functions[1]],
            )
            .map_err(db_error)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let state_table = self.beside_history(STATE_TABLE);
        let (versions, version_schemas) = expand_versions(&mut self.client, &state_table)?;
        let history_schema = match &self.history_table.schema {
            Some(schema) if schema != "public" => schema.clone(),
            _ => String::new(),
        };
        Ok(Own {
            relations: oid_array(&relations),
            functions: oid_array(&functions),
            versions: text_array(&versions),
            version_schemas: text_array(&version_schemas),
            history_schema,
        })
    }
}

/// Every version an expand/contract migration recorded (completed, active or rolled back), and
/// every schema it made for one: their views, triggers and functions are cutover's, kept by
/// `up` and the phases.
fn expand_versions(client: &mut Client, state_table: &str) -> Result<(Vec<String>, Vec<String>), DbError> {
    let Some(StateColumns { version_schema: column, .. }) = state_columns(client, state_table)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let rows = client.query(&format!("SELECT version, {column} FROM {state_table}"), &[]).map_err(db_error)?;
    let versions = rows.iter().map(|row| row.get(0)).collect();
    let mut schemas: Vec<String> = rows.iter().filter_map(|row| row.get::<_, Option<String>>(1)).collect();
    schemas.sort();
    schemas.dedup();
    Ok((versions, schemas))
}
