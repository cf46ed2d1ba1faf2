//! Rule `add-column-required`: its documentation is `DOC`, printed by `cutover explain add-column-required`.

use crate::rules::{alter_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "add-column-required";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Adding a NOT NULL column without a default to an existing table.\n\
\n\
## Why is this bad?\n\
It fails on any table with rows; and old application code, which does not know the column, fails to insert.\n\
\n\
## Instead\n\
Add the column nullable or with a default; backfill it in batches (`cutover backfill`); then set NOT NULL with a validated CHECK.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN age int;\n\
-- fill it with `cutover backfill`, then:\n\
-- next migration\n\
ALTER TABLE users ADD CONSTRAINT users_age_not_null CHECK (age IS NOT NULL) NOT VALID;\n\
-- next migration\n\
ALTER TABLE users VALIDATE CONSTRAINT users_age_not_null;\n\
-- next migration\n\
ALTER TABLE users ALTER COLUMN age SET NOT NULL;\n\
ALTER TABLE users DROP CONSTRAINT users_age_not_null;\n\
```\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN age int NOT NULL;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_findings(effect, ctx, |table, command| {
        match command {
            AlterCommand::AddColumn { column, not_null: true, default: None, .. } => Some(
                Finding::new(
                    RULE,
                    format!("column `{column}` is added NOT NULL without a default: existing rows have no value, and old code cannot insert"),
                    "add it with a default (or nullable), backfill in batches, then add NOT NULL through a validated CHECK",
                )
                .on(table, LockMode::AccessExclusive),
            ),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users ADD COLUMN age int NOT NULL", RULE);
        assert!(rendered.contains("add-column-required"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0", RULE);
    }
}
