//! Rule `rename-relation`: its documentation is `DOC`, printed by `cutover explain rename-relation`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "rename-relation";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Renaming a table, column, view or schema.\n\
\n\
## Why is this bad?\n\
Running code still uses the old name and fails the moment the migration commits; in a rolling deploy the old version keeps running for minutes.\n\
\n\
## Instead\n\
Expand and contract: add the new column (or a view with the new name), keep both in step, move the code over, then remove the old one.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN full_name text;\n\
-- next migration\n\
CREATE FUNCTION users_full_name() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.full_name := coalesce(NEW.full_name, NEW.name); NEW.name := coalesce(NEW.name, NEW.full_name); RETURN NEW; END $$;\n\
CREATE TRIGGER users_full_name BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_full_name();\n\
-- fill it with `cutover backfill`, move the code to full_name; then:\n\
-- next migration\n\
DROP TRIGGER users_full_name ON users;\n\
-- cutover:ignore drop-column reason=\"no release uses users.name since the move\"\n\
ALTER TABLE users DROP COLUMN name;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users RENAME COLUMN name TO full_name;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::Rename { object, table, name, .. } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("renaming {object} `{name}` breaks every running query that uses the old name"),
        "expand and contract: add the new name alongside the old one, keep both in step, move the code, then drop the old",
    )
    .on(if table.is_empty() { name } else { table }, LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users RENAME COLUMN name TO full_name", RULE);
        assert!(rendered.contains("rename-relation"), "{rendered}");
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
ALTER TABLE t RENAME COLUMN a TO b",
            RULE,
        );
    }
}
