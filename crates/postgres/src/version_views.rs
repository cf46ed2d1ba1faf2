//! Keeps the schema versions that expand/contract migrations published in step with the plain
//! SQL migrations applied after them.
//!
//! After `complete`, the new version's schema (`public_v<version>`) stays: the new application
//! reads and writes through its views. A view pins the columns it names, so a later SQL
//! migration that drops or retypes such a column would fail ("other objects depend on it"),
//! and a column it adds would stay invisible to that application. So, inside the migration's
//! own transaction:
//! - the views that stand in the way are lifted: the server names them in its error, the
//!   transaction is rolled back and tried again with those views dropped first;
//! - before the commit, every view of a completed version is brought in step with its table:
//!   its columns kept in their order, the ones gone from the table removed, new ones appended,
//!   its grants restored.
//!
//! This relies on what `complete` leaves: a completed version's views show their table's
//! columns under the columns' own names. Views of a version still being expanded are never
//! touched; cutover's shadow columns (`_cutover...`) are never shown.

use cutover_engine::DbError;
use postgres::types::Oid;
use postgres::Client;

use crate::connect::quote_ident;
use crate::error::db_error;

/// One view of a completed schema version, as the catalog has it now.
#[derive(Debug, Clone)]
pub(crate) struct VersionView {
    schema: String,
    name: String,
    table: Oid,
    columns: Vec<String>,
    /// The table's columns now, in their order (cutover's shadow columns left out).
    table_columns: Vec<String>,
    /// `GRANT` statements that give the view's privileges back after it is recreated.
    grants: Vec<String>,
}

impl VersionView {
    fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The columns the view should show: its own, in their order, while the table still has
    /// them, then the table's new ones.
    fn wanted_columns(&self) -> Vec<String> {
        let mut wanted: Vec<String> = self.columns.iter().filter(|c| self.table_columns.contains(c)).cloned().collect();
        wanted.extend(self.table_columns.iter().filter(|c| !self.columns.contains(c)).cloned());
        wanted
    }

    /// Whether the server's error detail names this view ("view public_v2.users depends on
    /// column name of table users"). The server quotes each part only where it must, so every
    /// spelling is tried.
    fn named_in(&self, detail: &str) -> bool {
        let spellings = |part: &str| {
            let mut out = vec![quote_ident(part)];
            if part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$') {
                out.push(part.to_string());
            }
            out
        };
        spellings(&self.schema)
            .iter()
            .any(|schema| spellings(&self.name).iter().any(|name| detail.contains(&format!("view {schema}.{name} "))))
    }
}

/// The views of `schemas` that show one table each.
pub(crate) fn version_views(client: &mut Client, schemas: &[String]) -> Result<Vec<VersionView>, DbError> {
    let rows = client
        .query(
            "SELECT n.nspname::text, v.relname::text, t.table_oid, \
                    ARRAY(SELECT a.attname::text FROM pg_attribute a \
                          WHERE a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum), \
                    ARRAY(SELECT a.attname::text FROM pg_attribute a \
                          WHERE a.attrelid = t.table_oid AND a.attnum > 0 AND NOT a.attisdropped \
                            AND a.attname NOT LIKE '\\_cutover%' ORDER BY a.attnum), \
                    ARRAY(SELECT format('GRANT %s ON %I.%I TO %s', g.privilege_type, n.nspname, v.relname, \
                                        CASE WHEN g.grantee = 0 THEN 'PUBLIC' \
                                             ELSE quote_ident(pg_get_userbyid(g.grantee)) END) \
                                 || CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END \
                          FROM aclexplode(v.relacl) g WHERE g.grantee <> v.relowner) \
             FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace \
             CROSS JOIN LATERAL ( \
                 SELECT min(d.refobjid) AS table_oid FROM pg_rewrite r \
                 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid \
                 WHERE r.ev_class = v.oid \
                 HAVING count(DISTINCT d.refobjid) = 1) t \
             WHERE v.relkind = 'v' AND n.nspname = ANY($1) \
             ORDER BY n.nspname, v.relname",
            &[&schemas],
        )
        .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|row| VersionView {
            schema: row.get(0),
            name: row.get(1),
            table: row.get(2),
            columns: row.get(3),
            table_columns: row.get(4),
            grants: row.get(5),
        })
        .collect())
}

/// Whether `err` is the server refusing to drop or change what a view depends on.
pub(crate) fn is_dependency_error(err: &DbError) -> bool {
    matches!(err.code.as_deref(), Some("2BP01" | "0A000")) && err.detail.as_deref().is_some_and(|d| d.contains("view "))
}

/// The views of `schemas` that the server's error names, and that are not lifted yet.
pub(crate) fn views_in_the_way(
    client: &mut Client,
    schemas: &[String],
    err: &DbError,
    lifted: &[(String, String)],
) -> Result<Vec<(String, String)>, DbError> {
    let Some(detail) = err.detail.as_deref() else {
        return Ok(Vec::new());
    };
    Ok(version_views(client, schemas)?
        .into_iter()
        .filter(|v| v.named_in(detail))
        .map(|v| (v.schema, v.name))
        .filter(|key| !lifted.contains(key))
        .collect())
}

/// Drops the views `lifted` names, inside the current transaction, and returns them as they
/// were so that `bring_in_step` can recreate them.
pub(crate) fn lift(
    client: &mut Client,
    schemas: &[String],
    lifted: &[(String, String)],
) -> Result<Vec<VersionView>, DbError> {
    if lifted.is_empty() {
        return Ok(Vec::new());
    }
    let views: Vec<VersionView> = version_views(client, schemas)?
        .into_iter()
        .filter(|v| lifted.contains(&(v.schema.clone(), v.name.clone())))
        .collect();
    for view in &views {
        client.batch_execute(&format!("DROP VIEW {}", view.qualified())).map_err(db_error)?;
    }
    Ok(views)
}

/// Recreates the lifted views, and every other view of `schemas` whose table's columns
/// changed, with the columns `wanted_columns` gives. Returns how many views changed.
pub(crate) fn bring_in_step(
    client: &mut Client,
    schemas: &[String],
    lifted: Vec<VersionView>,
) -> Result<usize, DbError> {
    let mut changed = 0;
    for view in version_views(client, schemas)? {
        if view.wanted_columns() != view.columns {
            client.batch_execute(&format!("DROP VIEW {}", view.qualified())).map_err(db_error)?;
            changed += recreate(client, &view)?;
        }
    }
    for mut view in lifted {
        // The table may have gone with the migration, or its schema version with it.
        let row = client
            .query_one(
                "SELECT to_regnamespace(quote_ident($2)) IS NOT NULL, \
                        ARRAY(SELECT a.attname::text FROM pg_attribute a \
                              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
                                AND a.attname NOT LIKE '\\_cutover%' ORDER BY a.attnum)",
                &[&view.table, &view.schema],
            )
            .map_err(db_error)?;
        let schema_exists: bool = row.get(0);
        view.table_columns = row.get(1);
        if schema_exists {
            changed += recreate(client, &view)?;
        }
    }
    Ok(changed)
}

fn recreate(client: &mut Client, view: &VersionView) -> Result<usize, DbError> {
    let columns = view.wanted_columns();
    if columns.is_empty() {
        return Ok(0);
    }
    let table: String = client.query_one("SELECT $1::oid::regclass::text", &[&view.table]).map_err(db_error)?.get(0);
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let mut sql = format!("CREATE VIEW {} AS SELECT {} FROM {table}", view.qualified(), list.join(", "));
    for grant in &view.grants {
        sql.push_str("; ");
        sql.push_str(grant);
    }
    client.batch_execute(&sql).map_err(db_error)?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(columns: &[&str], table_columns: &[&str]) -> VersionView {
        VersionView {
            schema: "public_v2".to_string(),
            name: "users".to_string(),
            table: 1,
            columns: columns.iter().map(ToString::to_string).collect(),
            table_columns: table_columns.iter().map(ToString::to_string).collect(),
            grants: Vec::new(),
        }
    }

    #[test]
    fn columns_keep_their_order_lose_dropped_ones_and_gain_new_ones() {
        let v = view(&["id", "full_name", "amount"], &["id", "full_name", "phone", "amount"]);
        assert_eq!(v.wanted_columns(), ["id", "full_name", "amount", "phone"]);
        let v = view(&["id", "full_name", "amount"], &["id", "amount"]);
        assert_eq!(v.wanted_columns(), ["id", "amount"]);
        let v = view(&["id", "amount"], &["id", "amount"]);
        assert_eq!(v.wanted_columns(), v.columns);
    }

    #[test]
    fn the_servers_detail_names_a_view_however_it_quotes_it() {
        let v = view(&["id"], &["id"]);
        assert!(v.named_in("view public_v2.users depends on column name of table users"));
        assert!(v.named_in("rule _RETURN on view public_v2.users depends on column \"amount\""));
        assert!(!v.named_in("view public_v2.users_archive depends on column name of table users"));
        let odd = VersionView { name: "user".to_string(), ..v.clone() };
        assert!(odd.named_in("view public_v2.\"user\" depends on table \"user\""));
        let upper = VersionView { name: "Users".to_string(), ..v };
        assert!(upper.named_in("view public_v2.\"Users\" depends on table \"Users\""));
        assert!(!upper.named_in("view public_v2.Users depends on table Users"));
    }
}
