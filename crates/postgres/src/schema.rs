//! The schema as [`SchemaObject`]s, read from the catalog: what `cutover rehearse` compares
//! before up and after down, and `cutover drift` between the live database and a scratch one.

use cutover_engine::{DbError, ObjectKind, SchemaObject, SchemaSnapshot};
use postgres::Client;

use crate::connect::PgTarget;
use crate::error::db_error;

/// `ns.name` as the analysis writes it: no `public.`.
fn qualified(schema: &str, name: &str) -> String {
    format!("CASE WHEN {schema} = 'public' THEN {name} ELSE {schema} || '.' || {name} END")
}

/// A SQL text literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Not a member of an extension (the extension stands for its objects).
fn not_in_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '{catalog}'::regclass AND x.objid = {oid} \
         AND x.deptype = 'e')"
    )
}

/// What the snapshot leaves out: cutover's own relations and schemas.
struct Hidden {
    /// `ARRAY[...]::oid[]` of cutover's tables and views (its history, approvals, guard, state
    /// tables): their columns, indexes, constraints, triggers, sequences and functions go too.
    relations: String,
    /// `ARRAY[...]::text[]` of the schemas of expand/contract versions, left out whole.
    schemas: String,
    /// The history table's schema, left out as a schema line (its other objects are the
    /// user's), unless it is `public`.
    history_schema: String,
}

impl Hidden {
    /// A user schema (alias `n` of `pg_namespace` by default) that is not a version's.
    fn user(&self, n: &str) -> String {
        format!(
            "{n}.nspname NOT LIKE 'pg\\_%' AND {n}.nspname <> 'information_schema' AND {n}.nspname <> ALL({})",
            self.schemas
        )
    }
}

/// The queries of the snapshot, each giving (kind, table, name, definition).
fn queries(hidden: &Hidden, sql_body: bool) -> Vec<String> {
    let user = hidden.user("n");
    let own = &hidden.relations;
    let rel = qualified("n.nspname", "c.relname");
    let owner_table = qualified("tn.nspname", "t.relname");
    let ext_class = not_in_extension("pg_class", "c.oid");
    let body = if sql_body { "coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)" } else { "p.prosrc" };
    vec![
        format!(
            "SELECT 'schema', NULL, n.nspname, '' FROM pg_namespace n WHERE {user} \
             AND n.nspname <> {} AND {}",
            literal(&hidden.history_schema),
            not_in_extension("pg_namespace", "n.oid")
        ),
        "SELECT 'extension', NULL, e.extname, 'schema ' || n.nspname FROM pg_extension e \
         JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'"
            .to_string(),
        // Tables, views, sequences and composite types. A sequence belongs to the column that
        // owns it (serial, identity).
        format!(
            "SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' \
                    WHEN 'c' THEN 'type' ELSE 'table' END, \
                    {owner_table}, {rel}, \
                    CASE WHEN c.relkind IN ('r', 'p', 'f') THEN concat_ws(' ', \
                        CASE c.relkind WHEN 'p' THEN 'partitioned by ' || pg_get_partkeydef(c.oid) WHEN 'f' THEN 'foreign' END, \
                        CASE WHEN c.relpersistence = 'u' THEN 'unlogged' END, \
                        (SELECT CASE WHEN c.relispartition THEN 'partition of ' ELSE 'inherits ' END \
                                || string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) \
                           FROM pg_inherits i WHERE i.inhrelid = c.oid), \
                        CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END, \
                        CASE WHEN c.relrowsecurity THEN 'row level security' END, \
                        CASE WHEN c.relforcerowsecurity THEN 'forced' END, \
                        'with (' || array_to_string(c.reloptions, ', ') || ')') \
                    WHEN c.relkind IN ('v', 'm') THEN concat_ws(' ', \
                        'with (' || array_to_string(c.reloptions, ', ') || ')', \
                        regexp_replace(pg_get_viewdef(c.oid), '\\s+', ' ', 'g')) \
                    WHEN c.relkind = 'S' THEN (SELECT format('%s start %s increment %s min %s max %s cache %s', \
                            format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache) \
                            || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END \
                           FROM pg_sequence s WHERE s.seqrelid = c.oid) \
                        || coalesce(' owned by ' || {owner_table} || '.' || quote_ident(oa.attname), '') \
                    ELSE 'composite (' || (SELECT string_agg(quote_ident(a.attname) || ' ' \
                            || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) \
                           FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) || ')' \
                    END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_depend d ON c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i') \
             LEFT JOIN pg_class t ON t.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             LEFT JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid \
             WHERE {user} AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'c') AND c.oid <> ALL({own}) \
               AND (d.refobjid IS NULL OR d.refobjid <> ALL({own})) AND {ext_class}"
        ),
        format!(
            "SELECT 'column', {rel}, {rel} || '.' || a.attname, format_type(a.atttypid, a.atttypmod) \
               || CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation \
                       THEN ' collate ' || (SELECT quote_ident(co.collname) FROM pg_collation co WHERE co.oid = a.attcollation) \
                       ELSE '' END \
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
               || CASE WHEN a.attgenerated = 's' \
                       THEN coalesce(' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored', '') \
                       ELSE coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '') END \
               || CASE a.attidentity WHEN 'a' THEN ' generated always as identity' \
                       WHEN 'd' THEN ' generated by default as identity' ELSE '' END \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type ty ON ty.oid = a.atttypid \
             LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
             WHERE {user} AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'v', 'm') \
               AND c.oid <> ALL({own}) AND {ext_class}"
        ),
        format!(
            "SELECT 'constraint', {rel}, {rel} || '.' || con.conname, pg_get_constraintdef(con.oid) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {user} AND c.oid <> ALL({own}) AND {ext_class}"
        ),
        // An index behind a primary key, unique or exclusion constraint is its constraint's.
        format!(
            "SELECT 'index', {rel}, {}, pg_get_indexdef(i.indexrelid) \
               || CASE WHEN NOT i.indisvalid THEN ' (invalid)' ELSE '' END \
             FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace ni ON ni.oid = ci.relnamespace \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {user} AND c.oid <> ALL({own}) AND {ext_class} \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid \
                               AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))",
            qualified("ni.nspname", "ci.relname")
        ),
        // Settings (`SET search_path ...`), volatility and security are part of a function:
        // a down script that loses them does not reverse its up.
        format!(
            "SELECT 'function', NULL, {} || '(' || pg_get_function_identity_arguments(p.oid) || ')', concat_ws(' ', \
                CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window' END, \
                'returns ' || pg_get_function_result(p.oid), \
                'language ' || l.lanname, \
                CASE WHEN p.prokind <> 'p' THEN CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' \
                     ELSE 'volatile' END END, \
                CASE WHEN p.proisstrict THEN 'strict' END, \
                CASE WHEN p.prosecdef THEN 'security definer' END, \
                CASE WHEN p.proleakproof THEN 'leakproof' END, \
                CASE p.proparallel WHEN 's' THEN 'parallel safe' WHEN 'r' THEN 'parallel restricted' END, \
                'set ' || array_to_string(p.proconfig, ', '), \
                (SELECT format('sfunc %s stype %s', g.aggtransfn, format_type(g.aggtranstype, NULL)) \
                   FROM pg_aggregate g WHERE g.aggfnoid = p.oid), \
                'body ' || md5({body})) \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang \
             WHERE {user} AND p.proname NOT LIKE 'cutover\\_%' AND p.proname NOT LIKE '\\_cutover\\_%' \
               AND p.oid NOT IN (SELECT tg.tgfoid FROM pg_trigger tg WHERE tg.tgrelid = ANY({own})) AND {}",
            qualified("n.nspname", "p.proname"),
            not_in_extension("pg_proc", "p.oid")
        ),
        // The dual-write triggers of an expand/contract migration are its own.
        format!(
            "SELECT 'trigger', {rel}, {rel} || '.' || tg.tgname, pg_get_triggerdef(tg.oid) \
               || CASE tg.tgenabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled on replicas only)' \
                  WHEN 'A' THEN ' (enabled always)' ELSE '' END \
             FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT tg.tgisinternal AND {user} AND c.oid <> ALL({own}) AND tg.tgname NOT LIKE '\\_cutover\\_%' \
               AND {ext_class}"
        ),
        format!(
            "SELECT 'type', NULL, {}, 'enum (' || string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) || ')' \
             FROM pg_type ty JOIN pg_enum e ON e.enumtypid = ty.oid JOIN pg_namespace n ON n.oid = ty.typnamespace \
             WHERE {user} AND {} GROUP BY n.nspname, ty.typname",
            qualified("n.nspname", "ty.typname"),
            not_in_extension("pg_type", "ty.oid")
        ),
        format!(
            "SELECT 'type', NULL, {}, concat_ws(' ', 'domain ' || format_type(ty.typbasetype, ty.typtypmod), \
                CASE WHEN ty.typnotnull THEN 'not null' END, 'default ' || ty.typdefault, \
                (SELECT string_agg('constraint ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), ' ' \
                        ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = ty.oid)) \
             FROM pg_type ty JOIN pg_namespace n ON n.oid = ty.typnamespace \
             WHERE ty.typtype = 'd' AND {user} AND {}",
            qualified("n.nspname", "ty.typname"),
            not_in_extension("pg_type", "ty.oid")
        ),
        format!(
            "SELECT 'policy', {rel}, {rel} || '.' || pol.polname, concat_ws(' ', \
                CASE WHEN pol.polpermissive THEN 'permissive' ELSE 'restrictive' END, \
                'for ' || CASE pol.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' \
                          WHEN 'd' THEN 'delete' ELSE 'all' END, \
                'to ' || (SELECT string_agg(r.name, ', ' ORDER BY r.name) FROM (SELECT CASE WHEN role = 0 THEN 'public' \
                          ELSE quote_ident(pg_get_userbyid(role)) END AS name FROM unnest(pol.polroles) AS role) r), \
                'using (' || pg_get_expr(pol.polqual, pol.polrelid) || ')', \
                'with check (' || pg_get_expr(pol.polwithcheck, pol.polrelid) || ')') \
             FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {user} AND c.oid <> ALL({own})"
        ),
    ]
}

fn kind_of(name: &str) -> Result<ObjectKind, DbError> {
    Ok(match name {
        "schema" => ObjectKind::Schema,
        "extension" => ObjectKind::Extension,
        "type" => ObjectKind::Type,
        "table" => ObjectKind::Table,
        "column" => ObjectKind::Column,
        "constraint" => ObjectKind::Constraint,
        "index" => ObjectKind::Index,
        "view" => ObjectKind::View,
        "materialized view" => ObjectKind::MaterializedView,
        "sequence" => ObjectKind::Sequence,
        "function" => ObjectKind::Function,
        "trigger" => ObjectKind::Trigger,
        "policy" => ObjectKind::Policy,
        other => {
            return Err(DbError::new(
                cutover_engine::DbErrorKind::Other,
                format!("unknown schema object kind `{other}`"),
            ))
        }
    })
}

impl PgTarget {
    /// What the snapshot leaves out of this database.
    fn hidden(&mut self) -> Result<Hidden, DbError> {
        let tables = [
            self.history_table.quoted(),
            self.history_table.quoted_with_suffix("_guard"),
            self.history_table.quoted_with_suffix("_approvals"),
        ];
        let oids: Vec<u32> = self
            .client
            .query(
                "SELECT c.oid FROM pg_class c WHERE (c.relname LIKE 'cutover\\_%' AND c.relkind IN ('r', 'p', 'v', 'm')) \
                 OR c.oid IN (to_regclass($1), to_regclass($2), to_regclass($3))",
                &[&tables[0], &tables[1], &tables[2]],
            )
            .map_err(db_error)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let relations = format!("ARRAY[{}]::oid[]", oids.iter().map(u32::to_string).collect::<Vec<_>>().join(", "));
        let state_table = self.beside_history(crate::expand::STATE_TABLE);
        let versions = version_schemas(&mut self.client, &state_table)?;
        let schemas = format!("ARRAY[{}]::text[]", versions.iter().map(|s| literal(s)).collect::<Vec<_>>().join(", "));
        let history_schema = match &self.history_table.schema {
            Some(schema) if schema != "public" => schema.clone(),
            _ => String::new(),
        };
        Ok(Hidden { relations, schemas, history_schema })
    }
}

/// Every schema an expand/contract migration made for a version (completed, active or rolled
/// back): its views are cutover's, kept by `up` and the phases.
fn version_schemas(client: &mut Client, state_table: &str) -> Result<Vec<String>, DbError> {
    let Some(column) = crate::expand::version_schema_column(client, state_table)? else {
        return Ok(Vec::new());
    };
    let rows = client
        .query(&format!("SELECT DISTINCT {column} FROM {state_table} WHERE {column} IS NOT NULL"), &[])
        .map_err(db_error)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

impl SchemaSnapshot for PgTarget {
    fn schema_objects(&mut self) -> Result<Vec<SchemaObject>, DbError> {
        let hidden = self.hidden()?;
        let version: i32 =
            self.client.query_one("SELECT current_setting('server_version_num')::int", &[]).map_err(db_error)?.get(0);
        let mut objects = Vec::new();
        for sql in queries(&hidden, version >= 140_000) {
            for row in self.client.query(&sql, &[]).map_err(db_error)? {
                objects.push(SchemaObject {
                    kind: kind_of(row.get(0))?,
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
