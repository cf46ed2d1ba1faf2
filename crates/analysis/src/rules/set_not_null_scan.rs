//! Rule `set-not-null-scan`: its documentation is `DOC`, printed by `cutover explain set-not-null-scan`.

use crate::rules::{alter_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "set-not-null-scan";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER COLUMN ... SET NOT NULL` on an existing table.\n\
\n\
## Why is this bad?\n\
PostgreSQL scans the whole table to check for NULLs while holding an ACCESS EXCLUSIVE lock: reads and writes wait for the scan.\n\
\n\
## Instead\n\
`ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`, then `VALIDATE CONSTRAINT c` (a weaker lock), then `SET NOT NULL` (PostgreSQL 12+ uses the validated CHECK and skips the scan), then drop the CHECK.\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_findings(effect, ctx, |table, command| {
        match command {
            AlterCommand::SetNotNull { column } => Some(
                Finding::new(
                    RULE,
                    format!("SET NOT NULL on `{column}` scans all of `{table}` under an ACCESS EXCLUSIVE lock, which blocks reads and writes"),
                    "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (no scan from PostgreSQL 12), then drop the CHECK",
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
        let rendered = lint_errors(r"ALTER TABLE users ALTER COLUMN email SET NOT NULL", RULE);
        assert!(rendered.contains("set-not-null-scan"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(
            r"CREATE TABLE t (a int);
ALTER TABLE t ALTER COLUMN a SET NOT NULL",
            RULE,
        );
    }
}
