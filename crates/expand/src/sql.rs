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

/// Drops a version schema (its views), refused while anything that is not one of those views
/// would go with it: a view or function of the user's built on them (elsewhere or in it), a
/// trigger on them, a table or function put in it. `CASCADE` alone dropped those without a word.
pub fn drop_version_schema(schema: &str) -> String {
    let name = literal(schema);
    let found = format!(
        "WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = {name}), \
         rels AS (SELECT c.oid FROM pg_class c JOIN s ON c.relnamespace = s.oid) \
         SELECT string_agg(DISTINCT what, ', ') FROM ( \
           SELECT c.oid::regclass::text AS what FROM pg_class c JOIN s ON c.relnamespace = s.oid WHERE c.relkind <> 'v' \
           UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p JOIN s ON p.pronamespace = s.oid \
           UNION ALL SELECT format('trigger %I on %s', t.tgname, t.tgrelid::regclass) FROM pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM rels) AND NOT t.tgisinternal \
           UNION ALL SELECT coalesce((SELECT CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END || c.oid::regclass \
               FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid AND r.rulename = '_RETURN'), \
               pg_describe_object(d.classid, d.objid, d.objsubid)) FROM pg_depend d \
             WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid IN (SELECT oid FROM rels) AND d.deptype = 'n' \
               AND NOT (d.classid = 'pg_rewrite'::regclass AND EXISTS (SELECT FROM pg_rewrite r WHERE r.oid = d.objid AND r.ev_class IN (SELECT oid FROM rels)))) x"
    );
    let message =
        literal(&format!("cutover: the version schema {schema} is dropped at this step, and these would go with it: "));
    let hint = literal(&format!(
        "drop them or make them read the tables instead of {schema}'s views, then run the command again; nothing was dropped"
    ));
    format!(
        "DO $cutover$ DECLARE found text; BEGIN {found} INTO found; IF found IS NOT NULL THEN \
         RAISE EXCEPTION USING MESSAGE = {message} || found, HINT = {hint}; END IF; EXECUTE {}; END $cutover$",
        literal(&format!("DROP SCHEMA IF EXISTS {} CASCADE", ident(schema)))
    )
}

/// The statement a [`guarded`] block (or [`drop_version_schema`]'s) runs, for analysis
/// (`None` for anything else).
pub fn unguarded(statement: &str) -> Option<String> {
    let rest = statement.strip_prefix("DO $cutover$ ")?;
    let (opening, closing) = match rest.starts_with("BEGIN IF ") {
        true => (" THEN EXECUTE '", "'; END IF; END $cutover$"),
        false => ("; END IF; EXECUTE '", "'; END $cutover$"),
    };
    let start = rest.find(opening)? + opening.len();
    let end = rest.rfind(closing)?;
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
}
