//! The schema as [`SchemaObject`]s, read from the catalog: what `cutover rehearse` compares
//! before up and after down, and `cutover drift` between the live database and a scratch one.

mod own;
mod queries;

use cutover_engine::{DbError, DbErrorKind, ObjectKind, SchemaObject, SchemaSnapshot};
use postgres::Client;

use crate::connect::PgTarget;
use crate::error::db_error;

impl SchemaSnapshot for PgTarget {
    fn schema_objects(&mut self) -> Result<Vec<SchemaObject>, DbError> {
        let own = self.own()?;
        let version: i32 =
            self.client.query_one("SELECT current_setting('server_version_num')::int", &[]).map_err(db_error)?.get(0);
        let mut objects = Vec::new();
        for sql in queries::queries(&own, version) {
            for row in self.client.query(&sql, &[]).map_err(db_error)? {
                let kind: &str = row.get(0);
                let kind = ObjectKind::from_name(kind)
                    .ok_or_else(|| DbError::new(DbErrorKind::Other, format!("unknown schema object kind `{kind}`")))?;
                objects.push(SchemaObject {
                    kind,
                    table: row.get(1),
                    name: row.get(2),
                    definition: row.get::<_, Option<String>>(3).unwrap_or_default(),
                });
            }
        }
        objects.sort();
        Ok(objects)
    }
}

/// Applies the settings the database `origin` gives its sessions (`ALTER DATABASE ... SET`,
/// and `ALTER ROLE ... IN DATABASE ... SET` for this role), read through `admin`, to the
/// session `scratch`: a scratch database stands for `origin`, and where unqualified names go
/// (`search_path`) decides what its migrations build. A setting this role may not set is left.
pub(crate) fn follow_database_settings(admin: &mut Client, origin: &str, scratch: &mut Client) -> Result<(), DbError> {
    let rows = admin
        .query(
            "SELECT split_part(s.setting, '=', 1), substr(s.setting, strpos(s.setting, '=') + 1) \
             FROM pg_db_role_setting r, unnest(r.setconfig) WITH ORDINALITY AS s(setting, position) \
             WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = $1) \
               AND r.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
             ORDER BY r.setrole, s.position",
            &[&origin],
        )
        .map_err(db_error)?;
    for row in rows {
        let (name, value): (String, String) = (row.get(0), row.get(1));
        let _ = scratch.execute("SELECT set_config($1, $2, false)", &[&name, &value]);
    }
    Ok(())
}
