//! Rule `unique-constraint-builds-index`: its documentation is `DOC`, printed by `cutover explain unique-constraint-builds-index`.

use crate::rules::{alter_cost_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "unique-constraint-builds-index";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Adding a UNIQUE or PRIMARY KEY constraint to an existing table without `USING INDEX`.\n\
\n\
## Why is this bad?\n\
PostgreSQL builds the constraint's index while holding an ACCESS EXCLUSIVE lock on the table: reads and writes wait for the whole build.\n\
\n\
## Instead\n\
`CREATE UNIQUE INDEX CONCURRENTLY i ON t (...)`, then `ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX i` (instant). For a PRIMARY KEY, make its columns NOT NULL first (the recipe of `set-not-null-scan`): `ADD PRIMARY KEY USING INDEX` otherwise checks them for NULL, scanning the table under ACCESS EXCLUSIVE (observed on PostgreSQL 15).\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);\n\
-- next migration\n\
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_cost_findings(effect, ctx, |table, command| {
        match command {
            AlterCommand::AddConstraint { kind: kind @ ("UNIQUE" | "PRIMARY KEY"), using_index: false, .. } => Some(
                Finding::new(
                    RULE,
                    format!("adding a {kind} constraint builds its index on `{table}` under an ACCESS EXCLUSIVE lock, which blocks reads and writes"),
                    &format!(
                        "{}; then ADD CONSTRAINT ... USING INDEX in a later migration",
                        ctx.runner.alone("first build the index with CREATE UNIQUE INDEX CONCURRENTLY", "CREATE UNIQUE INDEX CONCURRENTLY")
                    ),
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
        let rendered = lint_errors(r"ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)", RULE);
        assert!(rendered.contains("unique-constraint-builds-index"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx", RULE);
    }
}
