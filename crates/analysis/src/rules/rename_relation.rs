//! Rule `rename-relation`: its documentation is `DOC`, printed by `cutover explain rename-relation`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "rename-relation";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Renaming a table, view, materialized view or schema that existed before the migration (a column's rename is `rename-column`).\n\
\n\
## Why is this bad?\n\
Running code still uses the old name and fails the moment the migration commits; in a rolling deploy the old version keeps running for minutes.\n\
\n\
## Instead\n\
Give the table its new name as a view first (a simple view over one table takes inserts, updates and deletes), move the code to it, then swap the names in one transaction once no release uses the old one.\n\
\n\
```sql\n\
CREATE VIEW sessions AS SELECT * FROM legacy_sessions;\n\
-- move the code to `sessions`; once no running release uses legacy_sessions:\n\
-- next migration\n\
DROP VIEW sessions;\n\
-- cutover:ignore rename-relation reason=\"no release uses legacy_sessions since the move to the view\"\n\
ALTER TABLE legacy_sessions RENAME TO sessions;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users RENAME TO people;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::Rename { object, table, name, new_name } = &effect.action else { return Vec::new() };
    if *object == "column" || ctx.is_new(table) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("renaming {object} `{name}` to `{new_name}` breaks every running query that uses the old name"),
        "give it the new name as a view first, move the code, then swap the names once no release uses the old one",
    )
    .on(if table.is_empty() { name } else { table }, LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn a_column_rename_is_rename_column() {
        lint_ok(r"ALTER TABLE users RENAME COLUMN name TO full_name", RULE);
    }
    /// Tester 11: a table moved to another schema is lost by every query naming it as before.
    #[test]
    fn a_table_moved_to_another_schema_is_renamed() {
        let rendered = lint_errors("ALTER TABLE users SET SCHEMA app", RULE);
        assert!(rendered.contains("renaming table `users` to `app.users`"), "{rendered}");
        lint_ok("CREATE TABLE t (id int);\nALTER TABLE t SET SCHEMA app;", RULE);
    }

    #[test]
    fn fires_1() {
        let rendered = lint_errors(r"ALTER TABLE users RENAME TO people", RULE);
        assert!(rendered.contains("rename-relation"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(
            r"CREATE TABLE t (a int);
ALTER TABLE t RENAME TO u",
            RULE,
        );
    }
}
