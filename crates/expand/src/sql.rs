//! Quoting, and the guarded statements that make every step safe to run twice.
//!
//! Every identifier cutover writes into SQL goes through [`ident`]; every text value through
//! [`literal`]. A step that a crash may interrupt runs again on the next command, so each one
//! is idempotent: `IF [NOT] EXISTS` where PostgreSQL has it, a catalog check in a `DO` block
//! where it has not.

/// An identifier, quoted: wrapped in `"`, inner `"` doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// A string literal: wrapped in `'`, inner `'` doubled (standard_conforming_strings is on
/// since PostgreSQL 9.1, so backslashes are plain characters).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Runs `action` (one statement) only when `condition` (an SQL boolean) holds.
pub fn guarded(condition: &str, action: &str) -> String {
    format!("DO $cutover$ BEGIN IF {condition} THEN EXECUTE {}; END IF; END $cutover$", literal(action))
}

/// Drops a version schema: its views (each of the shape every view a version has: one table of
/// `base` read, every column a plain column of it, so updatable), each without `CASCADE`, then
/// the schema without it. PostgreSQL refuses either while anything else would go with them (a
/// view, function or column of the user's built on the views or their row types; a type,
/// domain, collation, table or other view put in the schema), and its detail names every such
/// object; what it would drop silently (triggers and rules on the views, a publication's or the
/// default privileges' hold on the schema) is refused first. All or nothing: a refusal drops
/// nothing.
pub fn drop_version_schema(base: &str, schema: &str) -> String {
    let reads = "FROM pg_rewrite r JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass \
                 AND d.refclassid = 'pg_class'::regclass WHERE r.ev_class = c.oid AND d.refobjid <> c.oid";
    let views = format!(
        "SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = {s} AND c.relkind = 'v' \
           AND (SELECT count(DISTINCT d.refobjid) {reads}) = 1 \
           AND EXISTS (SELECT {reads} AND d.refobjid IN (SELECT t.oid FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace \
                                                        WHERE tn.nspname = {b} AND t.relkind IN ('r', 'p'))) \
           AND NOT EXISTS (SELECT FROM information_schema.columns ic WHERE ic.table_schema = {s} AND ic.table_name = c.relname AND ic.is_updatable = 'NO')",
        s = literal(schema),
        b = literal(base)
    );
    let name = literal(schema);
    let message =
        literal(&format!("cutover: the version schema {schema} is dropped at this step, and this would go with it: "));
    let hint = literal(&format!(
        "drop them or make them read the tables instead of {schema}'s views, then run the command again"
    ));
    format!(
        "DO $cutover$ DECLARE own regclass[] := ARRAY({views}); v regclass; found text; BEGIN \
         SELECT string_agg(what, '; ') INTO found FROM ( \
           SELECT format('trigger %I on view %s', t.tgname, t.tgrelid::regclass) AS what FROM pg_trigger t WHERE t.tgrelid = ANY (own) AND NOT t.tgisinternal \
           UNION ALL SELECT format('rule %I on view %s', r.rulename, r.ev_class::regclass) FROM pg_rewrite r WHERE r.ev_class = ANY (own) AND r.rulename <> '_RETURN' \
           UNION ALL SELECT format('default privileges of role %s in it', pg_get_userbyid(a.defaclrole)) FROM pg_default_acl a \
             WHERE a.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = {name})) x; \
         IF found IS NULL AND to_regclass('pg_catalog.pg_publication_namespace') IS NOT NULL THEN \
           EXECUTE 'SELECT string_agg(format(''publication %I'', p.pubname), ''; '') FROM pg_publication_namespace pn \
             JOIN pg_publication p ON p.oid = pn.pnpubid JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE n.nspname = $1' INTO found USING {name}; \
         END IF; \
         IF found IS NOT NULL THEN RAISE EXCEPTION USING MESSAGE = {message} || found, HINT = {hint}; END IF; \
         FOREACH v IN ARRAY own LOOP EXECUTE format('DROP VIEW %s', v); END LOOP; \
         EXECUTE {}; \
         EXCEPTION WHEN dependent_objects_still_exist THEN GET STACKED DIAGNOSTICS found = PG_EXCEPTION_DETAIL; \
         RAISE EXCEPTION USING MESSAGE = {message} || replace(found, E'\\n', '; '), HINT = {hint}; END $cutover$",
        literal(&format!("DROP SCHEMA IF EXISTS {}", ident(schema)))
    )
}

/// The statement a [`guarded`] block runs (or the schema drop of [`drop_version_schema`]'s),
/// for analysis (`None` for anything else).
pub fn unguarded(statement: &str) -> Option<String> {
    let rest = statement.strip_prefix("DO $cutover$ ")?;
    let opening = if rest.starts_with("BEGIN IF ") { " THEN EXECUTE '" } else { "EXECUTE 'DROP SCHEMA " };
    // The literal's first character: after the quote in `opening`.
    let start = rest.find(opening)? + opening.find('\'')? + 1;
    // To the literal's closing quote (a doubled one is a quote inside it).
    let bytes = rest.as_bytes();
    let mut end = start;
    loop {
        match bytes.get(end)? {
            b'\'' if bytes.get(end + 1) == Some(&b'\'') => end += 2,
            b'\'' => break,
            _ => end += 1,
        }
    }
    Some(rest.get(start..end)?.replace("''", "'"))
}

/// Whether the table exists.
pub fn table_exists(schema: &str, table: &str) -> String {
    format!("to_regclass({}) IS NOT NULL", literal(&qualified(schema, table)))
}

/// Whether the table has the column.
pub fn column_exists(schema: &str, table: &str, column: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass({}) AND attname = {} AND attnum > 0 AND NOT attisdropped)",
        literal(&qualified(schema, table)),
        literal(column)
    )
}

/// Whether an index (or any relation) of that name exists in the schema.
pub fn index_exists(schema: &str, index: &str) -> String {
    table_exists(schema, index)
}

/// Whether the table has a constraint of that name.
pub fn constraint_exists(schema: &str, table: &str, name: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass({}) AND conname = {})",
        literal(&qualified(schema, table)),
        literal(name)
    )
}

/// The words of an SQL expression that may name columns: unquoted words folded to lower
/// case, quoted identifiers as written. Over-inclusive on purpose (a word in a string literal
/// counts): it only decides which columns a trigger copies into variables.
pub fn referenced_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            let mut name = String::new();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        name.push('"');
                        continue;
                    }
                    break;
                }
                name.push(c);
            }
            names.push(name);
        } else if c.is_alphabetic() || c == '_' {
            let mut word = c.to_lowercase().to_string();
            while let Some(&next) = chars.peek() {
                if next.is_alphanumeric() || next == '_' || next == '$' {
                    word.extend(next.to_lowercase());
                    chars.next();
                } else {
                    break;
                }
            }
            names.push(word);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_names() {
        assert_eq!(ident(r#"a"; DROP TABLE x; --"#), r#""a""; DROP TABLE x; --""#);
        assert_eq!(literal("it's $$ \\"), "'it''s $$ \\'");
        assert_eq!(qualified("my schema", "Ünïcode\"t"), "\"my schema\".\"Ünïcode\"\"t\"");
        let guard = guarded(&table_exists("public", "o'brien"), "DROP TABLE \"o'brien\"");
        assert_eq!(unguarded(&guard).as_deref(), Some("DROP TABLE \"o'brien\""));
        assert_eq!(
            guard,
            "DO $cutover$ BEGIN IF to_regclass('\"public\".\"o''brien\"') IS NOT NULL THEN EXECUTE 'DROP TABLE \"o''brien\"'; END IF; END $cutover$"
        );
    }

    #[test]
    fn names_an_expression_uses() {
        assert_eq!(referenced_names(r#"first_name || ' ' || "Last""Name""#), ["first_name", "Last\"Name"]);
        assert_eq!(referenced_names("Amount::numeric(12,2)"), ["amount", "numeric"]);
    }

    #[test]
    fn unguarded_reads_the_statement_a_block_runs() {
        assert_eq!(unguarded(&guarded("true", "DROP INDEX \"it's\"")).as_deref(), Some("DROP INDEX \"it's\""));
        assert_eq!(
            unguarded(&drop_version_schema("public", "public_v'2")).as_deref(),
            Some("DROP SCHEMA IF EXISTS \"public_v'2\"")
        );
        assert_eq!(unguarded("DROP TABLE t"), None);
    }
}
