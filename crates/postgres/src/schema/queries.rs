//! The snapshot's queries, one per kind of object, each giving (kind, table, name, definition).
//! A definition holds everything a migration (or a hand) can change about its object, written
//! the same way whatever order or spelling built it, and nothing that differs between two
//! databases of the same schema (OIDs, owners, grants, comments, statistics, the creation
//! order). Defaults are left out (`storage` only when it is not the type's), so that a plain
//! object's line stays short.
//!
//! Left out on purpose: comments (they change no behaviour, and tools write them by hand);
//! owners and grants; subscriptions (replication set-up, and replaying one would connect to
//! its publisher); base and shell types, text search parsers and templates, conversions and
//! transforms (C functions and superuser; rare in migrations).

use super::own::Own;

/// `ns.name` as the analysis writes it: no `public.`.
fn qualified(schema: &str, name: &str) -> String {
    format!("CASE WHEN {schema} = 'public' THEN {name} ELSE {schema} || '.' || {name} END")
}

/// Not a member of an extension (the extension stands for its objects).
fn not_in_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '{catalog}'::regclass AND x.objid = {oid} \
         AND x.deptype = 'e')"
    )
}

/// Not made by PostgreSQL as a part of another object (a range type's constructor functions,
/// its multirange's and their cast): that object stands for it.
fn not_part_of(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '{catalog}'::regclass AND x.objid = {oid} \
         AND x.deptype = 'i')"
    )
}

/// Made by a user, not by `initdb`: objects without a schema (casts, access methods) are the
/// system's below `FirstNormalObjectId`.
fn user_made(oid: &str) -> String {
    format!("{oid} >= 16384")
}

/// ` tablespace <name>` when the relation `oid` is not in its database's default one
/// (`reltablespace` is then 0); else empty.
fn tablespace_of(oid: &str) -> String {
    format!(
        "coalesce((SELECT ' tablespace ' || quote_ident(ts.spcname) FROM pg_class tc \
                   JOIN pg_tablespace ts ON ts.oid = tc.reltablespace WHERE tc.oid = {oid}), '')"
    )
}

/// The queries of the snapshot of a server of version `version` (`server_version_num`).
pub(super) fn queries(own: &Own, version: i32) -> Vec<String> {
    let user = own.user_schema("n");
    let rel = qualified("n.nspname", "c.relname");
    let ext_class = not_in_extension("pg_class", "c.oid");
    let own_relations = &own.relations;
    let user_table = format!("{user} AND c.oid <> ALL({own_relations}) AND {ext_class}");
    vec![
        schemas(own),
        extensions(),
        relations(own, &rel),
        columns(&rel, &user_table, version),
        constraints(&rel, &user_table),
        indexes(&rel, &user_table),
        functions(own, version),
        triggers(own, &rel, &user_table),
        enum_types(&user),
        domain_types(&user),
        range_types(&user),
        policies(&rel, &user_table),
        rules(&rel, &user_table),
        statistics(&rel, &user_table, version),
        operators(&user),
        operator_classes(&user),
        operator_families(&user),
        collations(&user),
        casts(),
        text_search_configurations(&user),
        text_search_dictionaries(&user),
        publications(own, &rel, version),
        event_triggers(),
        access_methods(),
        foreign_data_wrappers(),
        foreign_servers(),
        user_mappings(),
    ]
}

/// Where unqualified names go and what `DROP SCHEMA ... CASCADE` takes.
fn schemas(own: &Own) -> String {
    format!(
        "SELECT 'schema', NULL, n.nspname, '' FROM pg_namespace n WHERE {} AND n.nspname <> {} AND {}",
        own.user_schema("n"),
        super::own::literal(&own.history_schema),
        not_in_extension("pg_namespace", "n.oid")
    )
}

/// An extension stands for every object it makes; its version is the package's, not the
/// schema's.
fn extensions() -> String {
    "SELECT 'extension', NULL, e.extname, 'schema ' || n.nspname FROM pg_extension e \
     JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'"
        .to_string()
}

/// Tables, views, sequences and composite types. A sequence belongs to the column that owns
/// it (serial, identity). A table's access method, tablespace and replica identity decide how
/// it is stored and what logical replication sends; its clustering index what `CLUSTER` does.
fn relations(own: &Own, rel: &str) -> String {
    let user = own.user_schema("n");
    let owned = &own.relations;
    let owner_table = qualified("tn.nspname", "t.relname");
    let ext_class = not_in_extension("pg_class", "c.oid");
    format!(
        "SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' \
                WHEN 'c' THEN 'type' ELSE 'table' END, \
                {owner_table}, {rel}, \
                CASE WHEN c.relkind IN ('r', 'p', 'f') THEN concat_ws(' ', \
                    CASE c.relkind WHEN 'p' THEN 'partitioned by ' || pg_get_partkeydef(c.oid) WHEN 'f' THEN 'foreign' END, \
                    CASE WHEN c.relpersistence = 'u' THEN 'unlogged' END, \
                    CASE WHEN c.reloftype <> 0 THEN 'of type ' || c.reloftype::regtype::text END, \
                    (SELECT CASE WHEN c.relispartition THEN 'partition of ' ELSE 'inherits ' END \
                            || string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) \
                       FROM pg_inherits i WHERE i.inhrelid = c.oid), \
                    CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END, \
                    (SELECT 'server ' || quote_ident(s.srvname) || coalesce(' options (' || array_to_string(ft.ftoptions, ', ') || ')', '') \
                       FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid), \
                    CASE WHEN am.amname <> 'heap' THEN 'using ' || quote_ident(am.amname) END, \
                    'tablespace ' || quote_ident(ts.spcname), \
                    CASE WHEN c.relrowsecurity THEN 'row level security' END, \
                    CASE WHEN c.relforcerowsecurity THEN 'forced' END, \
                    CASE c.relreplident WHEN 'n' THEN 'replica identity nothing' WHEN 'f' THEN 'replica identity full' \
                         WHEN 'i' THEN 'replica identity using index ' || (SELECT quote_ident(ri.relname) FROM pg_index i \
                              JOIN pg_class ri ON ri.oid = i.indexrelid WHERE i.indrelid = c.oid AND i.indisreplident) END, \
                    'clustered on ' || (SELECT quote_ident(ci.relname) FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid \
                                        WHERE i.indrelid = c.oid AND i.indisclustered), \
                    'with (' || array_to_string(c.reloptions, ', ') || ')') \
                WHEN c.relkind IN ('v', 'm') THEN concat_ws(' ', \
                    CASE WHEN am.amname <> 'heap' THEN 'using ' || quote_ident(am.amname) END, \
                    'tablespace ' || quote_ident(ts.spcname), \
                    'clustered on ' || (SELECT quote_ident(ci.relname) FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid \
                                        WHERE i.indrelid = c.oid AND i.indisclustered), \
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
         LEFT JOIN pg_am am ON am.oid = c.relam LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace \
         LEFT JOIN pg_depend d ON c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid \
              AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i') \
         LEFT JOIN pg_class t ON t.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace \
         LEFT JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid \
         WHERE {user} AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'c') AND c.oid <> ALL({owned}) \
           AND (d.refobjid IS NULL OR d.refobjid <> ALL({owned})) AND {ext_class}"
    )
}

/// A column's storage, statistics target, compression and options decide how its values are
/// kept and how the planner estimates them; each is set by `ALTER COLUMN` alone. Of its
/// options, those `ALTER COLUMN ... SET (...)` takes: a server may keep stamps of its own there
/// (one seen stamps every new column with `pg_attver`, a time), which are no schema.
fn columns(rel: &str, user_table: &str, version: i32) -> String {
    // Compression per column is PostgreSQL 14's.
    let compression = if version >= 140_000 {
        "|| CASE a.attcompression WHEN 'p' THEN ' compression pglz' WHEN 'l' THEN ' compression lz4' ELSE '' END"
    } else {
        ""
    };
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
           || CASE WHEN a.attstorage <> ty.typstorage THEN ' storage ' || CASE a.attstorage WHEN 'p' THEN 'plain' \
                   WHEN 'e' THEN 'external' WHEN 'm' THEN 'main' ELSE 'extended' END ELSE '' END \
           || CASE WHEN a.attstattarget >= 0 THEN ' statistics ' || a.attstattarget ELSE '' END \
           {compression} \
           || coalesce((SELECT ' with (' || string_agg(o, ', ' ORDER BY o) || ')' FROM unnest(a.attoptions) AS o \
                        WHERE split_part(o, '=', 1) IN ('n_distinct', 'n_distinct_inherited')), '') \
           || coalesce(' options (' || array_to_string(a.attfdwoptions, ', ') || ')', '') \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_type ty ON ty.oid = a.atttypid \
         LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND {user_table}"
    )
}

/// Keys, checks and foreign keys decide which rows a table takes; the index behind a key may
/// be moved to another tablespace on its own.
fn constraints(rel: &str, user_table: &str) -> String {
    format!(
        "SELECT 'constraint', {rel}, {rel} || '.' || con.conname, pg_get_constraintdef(con.oid) \
           || CASE WHEN con.contype IN ('p', 'u', 'x') THEN {} ELSE '' END \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {user_table}",
        tablespace_of("con.conindid")
    )
}

/// An index behind a primary key, unique or exclusion constraint is its constraint's.
fn indexes(rel: &str, user_table: &str) -> String {
    format!(
        "SELECT 'index', {rel}, {}, pg_get_indexdef(i.indexrelid) || {} \
           || CASE WHEN NOT i.indisvalid THEN ' (invalid)' ELSE '' END \
         FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace ni ON ni.oid = ci.relnamespace \
         JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {user_table} \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid \
                           AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))",
        qualified("ni.nspname", "ci.relname"),
        tablespace_of("i.indexrelid")
    )
}

/// Settings (`SET search_path ...`), volatility and security are part of a function: a down
/// script that loses them does not reverse its up. cutover's own are its history's trigger
/// functions and the dual-write functions of expand/contract versions.
fn functions(own: &Own, version: i32) -> String {
    let body = if version >= 140_000 { "coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)" } else { "p.prosrc" };
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
         WHERE {} AND p.oid <> ALL({}) \
           AND NOT (p.prorettype = 'trigger'::regtype AND p.pronargs = 0 AND {}) AND {} AND {}",
        qualified("n.nspname", "p.proname"),
        own.user_schema("n"),
        own.functions,
        own.dual_write("p.proname"),
        not_in_extension("pg_proc", "p.oid"),
        not_part_of("pg_proc", "p.oid")
    )
}

/// A trigger, and whether it fires (`DISABLE TRIGGER` is a hand's favourite). The dual-write
/// triggers of an expand/contract migration are its own.
fn triggers(own: &Own, rel: &str, user_table: &str) -> String {
    format!(
        "SELECT 'trigger', {rel}, {rel} || '.' || tg.tgname, pg_get_triggerdef(tg.oid) \
           || CASE tg.tgenabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled on replicas only)' \
              WHEN 'A' THEN ' (enabled always)' ELSE '' END \
         FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT tg.tgisinternal AND {user_table} AND NOT {}",
        own.dual_write("tg.tgname")
    )
}

/// An enum's values, in order: `ADD VALUE` is never rolled back by a down script.
fn enum_types(user: &str) -> String {
    format!(
        "SELECT 'type', NULL, {}, 'enum (' || string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) || ')' \
         FROM pg_type ty JOIN pg_enum e ON e.enumtypid = ty.oid JOIN pg_namespace n ON n.oid = ty.typnamespace \
         WHERE {user} AND {} GROUP BY n.nspname, ty.typname",
        qualified("n.nspname", "ty.typname"),
        not_in_extension("pg_type", "ty.oid")
    )
}

/// A domain's base type, default and checks decide what its columns take.
fn domain_types(user: &str) -> String {
    format!(
        "SELECT 'type', NULL, {}, concat_ws(' ', 'domain ' || format_type(ty.typbasetype, ty.typtypmod), \
            CASE WHEN ty.typnotnull THEN 'not null' END, 'default ' || ty.typdefault, \
            (SELECT string_agg('constraint ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), ' ' \
                    ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = ty.oid)) \
         FROM pg_type ty JOIN pg_namespace n ON n.oid = ty.typnamespace \
         WHERE ty.typtype = 'd' AND {user} AND {}",
        qualified("n.nspname", "ty.typname"),
        not_in_extension("pg_type", "ty.oid")
    )
}

/// A range type: its subtype, ordering, collation and functions decide which ranges are equal.
/// Its multirange (PostgreSQL 14+) comes with it, named here; the snapshot does not list it
/// apart.
fn range_types(user: &str) -> String {
    format!(
        "SELECT 'type', NULL, {}, concat_ws(' ', 'range of ' || format_type(r.rngsubtype, NULL), \
            'opclass ' || (SELECT {} FROM pg_opclass oc JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace \
                           WHERE oc.oid = r.rngsubopc), \
            'collate ' || (SELECT quote_ident(co.collname) FROM pg_collation co WHERE co.oid = r.rngcollation), \
            CASE WHEN r.rngcanonical::oid <> 0 THEN 'canonical ' || r.rngcanonical::oid::regprocedure::text END, \
            CASE WHEN r.rngsubdiff::oid <> 0 THEN 'subtype_diff ' || r.rngsubdiff::oid::regprocedure::text END, \
            'multirange ' || (to_jsonb(r) ->> 'rngmultitypid')::oid::regtype::text) \
         FROM pg_range r JOIN pg_type ty ON ty.oid = r.rngtypid JOIN pg_namespace n ON n.oid = ty.typnamespace \
         WHERE {user} AND {}",
        qualified("n.nspname", "ty.typname"),
        qualified("ocn.nspname", "oc.opcname"),
        not_in_extension("pg_type", "ty.oid")
    )
}

/// Row-level security: which rows each role sees and writes.
fn policies(rel: &str, user_table: &str) -> String {
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
         WHERE {user_table}"
    )
}

/// A rule rewrites every statement on its table (`DO INSTEAD NOTHING` silently drops writes).
/// A view's own `_RETURN` rule is the view, listed with it.
fn rules(rel: &str, user_table: &str) -> String {
    format!(
        "SELECT 'rule', {rel}, {rel} || '.' || r.rulename, regexp_replace(pg_get_ruledef(r.oid), '\\s+', ' ', 'g') \
           || CASE r.ev_enabled WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled on replicas only)' \
              WHEN 'A' THEN ' (enabled always)' ELSE '' END \
         FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE r.rulename <> '_RETURN' AND {user_table}"
    )
}

/// Extended statistics change the planner's estimates, so its plans; `ALTER STATISTICS ... SET
/// STATISTICS` (PostgreSQL 13+) how much `ANALYZE` samples for them.
fn statistics(rel: &str, user_table: &str, version: i32) -> String {
    let target = if version >= 130_000 {
        "|| CASE WHEN s.stxstattarget >= 0 THEN ' statistics ' || s.stxstattarget ELSE '' END"
    } else {
        ""
    };
    format!(
        "SELECT 'statistics', {rel}, {}, pg_get_statisticsobjdef(s.oid) {target} \
         FROM pg_statistic_ext s JOIN pg_namespace sn ON sn.oid = s.stxnamespace \
         JOIN pg_class c ON c.oid = s.stxrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {user_table}",
        qualified("sn.nspname", "s.stxname")
    )
}

/// An operator is resolved by its argument types; its function, commutator and estimators
/// decide what queries mean and which indexes they use.
fn operators(user: &str) -> String {
    format!(
        "SELECT 'operator', NULL, {} || '(' || CASE WHEN o.oprleft = 0 THEN 'none' ELSE format_type(o.oprleft, NULL) END \
                || ', ' || format_type(o.oprright, NULL) || ')', concat_ws(' ', \
            CASE WHEN o.oprcode::oid <> 0 THEN 'function ' || o.oprcode::oid::regprocedure::text END, \
            'returns ' || format_type(o.oprresult, NULL), \
            CASE WHEN o.oprcom <> 0 THEN 'commutator ' || o.oprcom::regoperator::text END, \
            CASE WHEN o.oprnegate <> 0 THEN 'negator ' || o.oprnegate::regoperator::text END, \
            CASE WHEN o.oprrest::oid <> 0 THEN 'restrict ' || o.oprrest::oid::regprocedure::text END, \
            CASE WHEN o.oprjoin::oid <> 0 THEN 'join ' || o.oprjoin::oid::regprocedure::text END, \
            CASE WHEN o.oprcanhash THEN 'hashes' END, CASE WHEN o.oprcanmerge THEN 'merges' END) \
         FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace \
         WHERE {user} AND {}",
        qualified("n.nspname", "o.oprname"),
        not_in_extension("pg_operator", "o.oid")
    )
}

/// An operator class is how an index of its access method orders or hashes a type; the default
/// one is what `CREATE INDEX` takes unasked.
fn operator_classes(user: &str) -> String {
    format!(
        "SELECT 'operator class', NULL, {} || ' using ' || am.amname, concat_ws(' ', \
            'for type ' || format_type(oc.opcintype, NULL), CASE WHEN oc.opcdefault THEN 'default' END, \
            'family ' || {}, \
            CASE WHEN oc.opckeytype <> 0 THEN 'storage ' || format_type(oc.opckeytype, NULL) END) \
         FROM pg_opclass oc JOIN pg_namespace n ON n.oid = oc.opcnamespace JOIN pg_am am ON am.oid = oc.opcmethod \
         JOIN pg_opfamily f ON f.oid = oc.opcfamily JOIN pg_namespace fn ON fn.oid = f.opfnamespace \
         WHERE {user} AND {}",
        qualified("n.nspname", "oc.opcname"),
        qualified("fn.nspname", "f.opfname"),
        not_in_extension("pg_opclass", "oc.oid")
    )
}

/// An operator family holds the operators and support functions of its classes, and those
/// added later (`ALTER OPERATOR FAMILY ... ADD`): which comparisons an index can answer.
fn operator_families(user: &str) -> String {
    format!(
        "SELECT 'operator family', NULL, {} || ' using ' || am.amname, concat_ws(' ', \
            'operators ' || (SELECT string_agg(ao.amopstrategy || ' ' || ao.amopopr::regoperator::text \
                    || CASE WHEN ao.amoppurpose = 'o' THEN ' for order by ' || (SELECT sf.opfname FROM pg_opfamily sf \
                                                              WHERE sf.oid = ao.amopsortfamily) ELSE '' END, \
                    ', ' ORDER BY ao.amopstrategy, ao.amoplefttype, ao.amoprighttype) \
                FROM pg_amop ao WHERE ao.amopfamily = f.oid), \
            'functions ' || (SELECT string_agg(ap.amprocnum || ' (' || format_type(ap.amproclefttype, NULL) || ', ' \
                    || format_type(ap.amprocrighttype, NULL) || ') ' || ap.amproc::oid::regprocedure::text, \
                    ', ' ORDER BY ap.amprocnum, ap.amproclefttype, ap.amprocrighttype) \
                FROM pg_amproc ap WHERE ap.amprocfamily = f.oid)) \
         FROM pg_opfamily f JOIN pg_namespace n ON n.oid = f.opfnamespace JOIN pg_am am ON am.oid = f.opfmethod \
         WHERE {user} AND {}",
        qualified("n.nspname", "f.opfname"),
        not_in_extension("pg_opfamily", "f.oid")
    )
}

/// A collation decides how text sorts and compares (and, nondeterministic, what is equal).
/// Its library version is the server's, and its encoding the database's: neither is the schema.
/// The locale's column differs between versions, so it is read by name from the row.
fn collations(user: &str) -> String {
    format!(
        "SELECT 'collation', NULL, {}, concat_ws(' ', \
            'provider ' || CASE co.collprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' \
                           ELSE 'default' END, \
            'locale ' || coalesce(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale'), \
            'lc_collate ' || co.collcollate, 'lc_ctype ' || co.collctype, \
            'rules ' || (to_jsonb(co) ->> 'collicurules'), \
            CASE WHEN NOT co.collisdeterministic THEN 'nondeterministic' END) \
         FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace \
         WHERE {user} AND {}",
        qualified("n.nspname", "co.collname"),
        not_in_extension("pg_collation", "co.oid")
    )
}

/// A user's cast changes what an expression or an assignment converts silently.
fn casts() -> String {
    format!(
        "SELECT 'cast', NULL, '(' || format_type(ca.castsource, NULL) || ' as ' || format_type(ca.casttarget, NULL) || ')', \
            concat_ws(' ', CASE ca.castmethod WHEN 'f' THEN 'with function ' || ca.castfunc::regprocedure::text \
                                WHEN 'i' THEN 'with inout' ELSE 'without function' END, \
                      CASE ca.castcontext WHEN 'i' THEN 'as implicit' WHEN 'a' THEN 'as assignment' END) \
         FROM pg_cast ca WHERE {} AND {} AND {}",
        user_made("ca.oid"),
        not_in_extension("pg_cast", "ca.oid"),
        not_part_of("pg_cast", "ca.oid")
    )
}

/// A text search configuration turns text into the lexemes full-text indexes hold: its parser
/// and, for each token type, its dictionaries.
fn text_search_configurations(user: &str) -> String {
    format!(
        "SELECT 'text search configuration', NULL, {}, concat_ws(' ', 'parser ' || {}, \
            'mapping ' || (SELECT string_agg(tt.alias || ' with ' || m.dictionaries, '; ' ORDER BY tt.tokid) \
                FROM ts_token_type(cfg.cfgparser) tt \
                CROSS JOIN LATERAL (SELECT string_agg(cm.mapdict::regdictionary::text, ', ' ORDER BY cm.mapseqno) \
                    FROM pg_ts_config_map cm WHERE cm.mapcfg = cfg.oid AND cm.maptokentype = tt.tokid) AS m(dictionaries) \
                WHERE m.dictionaries IS NOT NULL)) \
         FROM pg_ts_config cfg JOIN pg_namespace n ON n.oid = cfg.cfgnamespace \
         JOIN pg_ts_parser prs ON prs.oid = cfg.cfgparser JOIN pg_namespace pn ON pn.oid = prs.prsnamespace \
         WHERE {user} AND {}",
        qualified("n.nspname", "cfg.cfgname"),
        qualified("pn.nspname", "prs.prsname"),
        not_in_extension("pg_ts_config", "cfg.oid")
    )
}

/// A text search dictionary: its template and options (stop words, synonyms).
fn text_search_dictionaries(user: &str) -> String {
    format!(
        "SELECT 'text search dictionary', NULL, {}, concat_ws(' ', 'template ' || {}, 'options ' || d.dictinitoption) \
         FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace \
         JOIN pg_ts_template t ON t.oid = d.dicttemplate JOIN pg_namespace tn ON tn.oid = t.tmplnamespace \
         WHERE {user} AND {}",
        qualified("n.nspname", "d.dictname"),
        qualified("tn.nspname", "t.tmplname"),
        not_in_extension("pg_ts_dict", "d.oid")
    )
}

/// A publication decides what logical replication sends: its operations, its tables (with
/// their column lists and row filters, PostgreSQL 15+) and schemas. cutover's own tables in
/// one are left out with them.
fn publications(own: &Own, rel: &str, version: i32) -> String {
    let (columns_and_filter, schemas) = if version >= 150_000 {
        (
            "|| coalesce(' (' || (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a \
                 WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs::int2[])) || ')', '') \
             || coalesce(' where ' || pg_get_expr(pr.prqual, pr.prrelid), '')",
            "'tables in schema ' || (SELECT string_agg(quote_ident(sn.nspname), ', ' ORDER BY sn.nspname) \
                 FROM pg_publication_namespace ps JOIN pg_namespace sn ON sn.oid = ps.pnnspid WHERE ps.pnpubid = p.oid)",
        )
    } else {
        ("", "NULL")
    };
    format!(
        "SELECT 'publication', NULL, p.pubname, concat_ws(' ', \
            CASE WHEN p.puballtables THEN 'for all tables' END, \
            'tables ' || (SELECT string_agg({rel} {columns_and_filter}, ', ' ORDER BY {rel}) \
                FROM pg_publication_rel pr JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                WHERE pr.prpubid = p.oid AND c.oid <> ALL({})), \
            {schemas}, \
            'publish ' || concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END, CASE WHEN p.pubupdate THEN 'update' END, \
                CASE WHEN p.pubdelete THEN 'delete' END, CASE WHEN p.pubtruncate THEN 'truncate' END), \
            CASE WHEN (to_jsonb(p) ->> 'pubviaroot')::boolean THEN 'via partition root' END) \
         FROM pg_publication p WHERE {}",
        own.relations,
        not_in_extension("pg_publication", "p.oid")
    )
}

/// An event trigger runs on every DDL statement of the database, migrations included.
fn event_triggers() -> String {
    format!(
        "SELECT 'event trigger', NULL, e.evtname, concat_ws(' ', 'on ' || e.evtevent, \
            'when tag in (' || array_to_string(e.evttags, ', ') || ')', \
            'execute function ' || e.evtfoid::regprocedure::text, \
            CASE e.evtenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'enabled on replicas only' \
                 WHEN 'A' THEN 'enabled always' END) \
         FROM pg_event_trigger e WHERE {}",
        not_in_extension("pg_event_trigger", "e.oid")
    )
}

/// An access method a user made is where tables or indexes of it store their data.
fn access_methods() -> String {
    format!(
        "SELECT 'access method', NULL, am.amname, concat_ws(' ', 'type ' || CASE am.amtype WHEN 't' THEN 'table' \
            ELSE 'index' END, 'handler ' || am.amhandler::oid::regprocedure::text) \
         FROM pg_am am WHERE {} AND {}",
        user_made("am.oid"),
        not_in_extension("pg_am", "am.oid")
    )
}

/// A foreign-data wrapper is how foreign tables reach their data (`postgres_fdw`'s is its
/// extension's).
fn foreign_data_wrappers() -> String {
    format!(
        "SELECT 'foreign data wrapper', NULL, w.fdwname, concat_ws(' ', \
            CASE WHEN w.fdwhandler <> 0 THEN 'handler ' || w.fdwhandler::regprocedure::text END, \
            CASE WHEN w.fdwvalidator <> 0 THEN 'validator ' || w.fdwvalidator::regprocedure::text END, \
            'options (' || array_to_string(w.fdwoptions, ', ') || ')') \
         FROM pg_foreign_data_wrapper w WHERE {}",
        not_in_extension("pg_foreign_data_wrapper", "w.oid")
    )
}

/// A foreign server is where foreign tables read from (its host, port, database).
fn foreign_servers() -> String {
    format!(
        "SELECT 'foreign server', NULL, s.srvname, concat_ws(' ', 'foreign data wrapper ' || quote_ident(w.fdwname), \
            'type ' || quote_literal(s.srvtype), 'version ' || quote_literal(s.srvversion), \
            'options (' || array_to_string(s.srvoptions, ', ') || ')') \
         FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw WHERE {}",
        not_in_extension("pg_foreign_server", "s.oid")
    )
}

/// A user mapping lets a role reach a foreign server. Only that it exists: its options hold
/// passwords, and whether a role may read them differs between the database and the scratch
/// copy (the server's owner may).
fn user_mappings() -> String {
    "SELECT 'user mapping', NULL, 'for ' || um.usename || ' server ' || um.srvname, '' FROM pg_user_mappings um"
        .to_string()
}
