//! What a `DO` block does, read from its PL/pgSQL body: the statements it runs are analysed as
//! statements, so that an `UPDATE` of every row inside a block under a held lock is the outage it
//! is. The block stays [`Action::Opaque`]: conditions, loops and dynamic SQL decide what runs,
//! and the schema model does not follow DDL inside it.

use crate::postgres::{analyze_statement_with, Resolve};
use crate::{Action, Effect, LockMode};

/// Completes the effect of a `DO` block (`sql`) with the locks and rows of the statements its
/// body runs. A body that does not parse as PL/pgSQL (another language) adds nothing.
pub(crate) fn complete_do_block(sql: &str, effect: &mut Effect, resolve: Resolve<'_>) {
    let Ok(functions) = pg_query::parse_plpgsql(sql) else { return };
    let mut queries = Vec::new();
    let mut dynamic = false;
    collect(&functions, &mut queries, &mut dynamic);
    for query in queries {
        let Ok(inner) = analyze_statement_with(&query, resolve) else { continue };
        for (table, mode) in inner.locks {
            add_lock(effect, table, mode);
        }
        effect.rows.extend(inner.rows);
        effect.destructive |= inner.destructive;
        effect.backward_incompatible |= inner.backward_incompatible;
    }
    if dynamic {
        effect.action = Action::Opaque { what: "DO block with dynamic SQL".into() };
    }
}

/// The SQL of every statement the body runs (`PLpgSQL_stmt_execsql`, `PERFORM`, the query of a
/// `FOR ... IN query` loop), wherever it is nested; whether any runs SQL built at run time.
fn collect(value: &serde_json::Value, queries: &mut Vec<String>, dynamic: &mut bool) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, inner) in object {
                match key.as_str() {
                    "PLpgSQL_stmt_execsql" => push_query(inner.get("sqlstmt"), queries),
                    "PLpgSQL_stmt_perform" => push_query(inner.get("expr"), queries),
                    "PLpgSQL_stmt_fors" => push_query(inner.get("query"), queries),
                    // `EXECUTE 'constant SQL'` runs what it says; SQL built at run time cannot be read.
                    "PLpgSQL_stmt_dynexecute" | "PLpgSQL_stmt_dynfors" => {
                        match query_text(inner.get("query")).and_then(constant_string) {
                            // A constant may hold several statements, as a script does.
                            Some(sql) => match cutover_migration::split_statements(&sql) {
                                Ok(parts) => queries.extend(parts.into_iter().map(|part| part.sql)),
                                Err(_) => queries.push(sql),
                            },
                            None => *dynamic = true,
                        }
                    }
                    "PLpgSQL_stmt_call" => *dynamic = true,
                    _ => {}
                }
                collect(inner, queries, dynamic);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect(item, queries, dynamic)),
        _ => {}
    }
}

fn push_query(expr: Option<&serde_json::Value>, queries: &mut Vec<String>) {
    if let Some(query) = query_text(expr) {
        queries.push(query.to_string());
    }
}

fn query_text(expr: Option<&serde_json::Value>) -> Option<&str> {
    expr?.get("PLpgSQL_expr")?.get("query")?.as_str()
}

/// The text of a string constant (`'UPDATE t SET a = 1'` with `''` for a quote, `E'...'`,
/// `$q$...$q$`, in parentheses or not), or `None` for any other expression (`'a' || b`).
fn constant_string(expr: &str) -> Option<String> {
    let mut expr = expr.trim();
    while let Some(inner) = expr.strip_prefix('(').and_then(|e| e.strip_suffix(')')) {
        expr = inner.trim();
    }
    if let Some(rest) = expr.strip_prefix('$') {
        let tag_len = rest.find('$')?;
        let tag = &expr[..tag_len + 2];
        let body = expr.strip_prefix(tag)?.strip_suffix(tag)?;
        return (!body.contains(tag)).then(|| body.to_string());
    }
    let (escapes, quoted) = match expr.strip_prefix(['E', 'e']) {
        Some(rest) => (true, rest),
        None => (false, expr),
    };
    let inner = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if escapes => match chars.next()? {
                'n' => text.push('\n'),
                't' => text.push('\t'),
                other => text.push(other),
            },
            // Every quote inside comes doubled; a lone one ends the string early (`'a' || 'b'`).
            '\'' if chars.next_if_eq(&'\'').is_some() => text.push('\''),
            '\'' => return None,
            c => text.push(c),
        }
    }
    Some(text)
}

/// Adds `mode` on `table` to the effect's locks, keeping the strongest per table.
fn add_lock(effect: &mut Effect, table: String, mode: LockMode) {
    match effect.locks.iter_mut().find(|(t, _)| *t == table) {
        Some((_, held)) => *held = (*held).max(mode),
        None => effect.locks.push((table, mode)),
    }
}

#[cfg(test)]
mod tests {
    use crate::postgres::analyze_statement;
    use crate::{Action, LockMode};

    #[test]
    fn a_do_block_locks_and_writes_what_its_statements_do() {
        let effect = analyze_statement(
            "DO $$
DECLARE r record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN
    ALTER TABLE orders ADD COLUMN mood text;
  END IF;
  UPDATE users SET status = 'x' WHERE status IS NULL;
  FOR r IN SELECT id FROM accounts LOOP
    INSERT INTO logs VALUES (r.id);
  END LOOP;
END $$",
        )
        .unwrap();
        assert_eq!(effect.action, Action::Opaque { what: "DO block".into() });
        assert!(effect.locks.contains(&("orders".to_string(), LockMode::AccessExclusive)), "{:?}", effect.locks);
        assert!(effect.locks.contains(&("users".to_string(), LockMode::RowExclusive)), "{:?}", effect.locks);
        let users = effect.rows.iter().find(|a| a.table == "users").expect("users written");
        assert!(users.write && users.rows.may_reach_every_row(None));
    }

    #[test]
    fn dynamic_sql_is_named_and_other_languages_add_nothing() {
        let effect = analyze_statement("DO $$ BEGIN EXECUTE 'UPDATE users SET a = ''x'''; END $$").unwrap();
        assert_eq!(effect.action, Action::Opaque { what: "DO block".into() }, "a constant is read");
        assert!(effect.rows.iter().any(|a| a.table == "users" && a.write));
        for constant in [
            "$q$UPDATE users SET a = 1$q$",
            "E'UPDATE users SET a = \\'x\\''",
            "('UPDATE users SET a = 1')",
            "'SELECT 1; UPDATE users SET a = 1'",
        ] {
            let effect = analyze_statement(&format!("DO $$ BEGIN EXECUTE {constant}; END $$")).unwrap();
            assert_eq!(effect.action, Action::Opaque { what: "DO block".into() }, "{constant}");
            assert!(effect.rows.iter().any(|a| a.table == "users" && a.write), "{constant}");
        }
        let effect = analyze_statement("DO $$ BEGIN EXECUTE 'UPDATE ' || 'users SET a = 1'; END $$").unwrap();
        assert_eq!(effect.action, Action::Opaque { what: "DO block with dynamic SQL".into() });
        let effect = analyze_statement("DO LANGUAGE plperl $$ print 1 $$").unwrap();
        assert!(effect.locks.is_empty() && effect.rows.is_empty());
    }
}
