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

/// The statement a [`guarded`] block runs, for analysis (`None` for anything else).
pub fn unguarded(statement: &str) -> Option<String> {
    let rest = statement.strip_prefix("DO $cutover$ BEGIN IF ")?;
    let start = rest.find(" THEN EXECUTE '")? + " THEN EXECUTE '".len();
    let end = rest.rfind("'; END IF; END $cutover$")?;
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
