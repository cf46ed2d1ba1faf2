//! Rule `truncate-table`: its documentation is `DOC`, printed by `cutover explain truncate-table`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "truncate-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Truncating a table in a migration.\n\
\n\
## Why is this bad?\n\
Every row is deleted at once (on PostgreSQL under an ACCESS EXCLUSIVE lock; MySQL drops and recreates the table), and the data is not recoverable from the migration.\n\
\n\
## Instead\n\
Delete what must go in batches, or drop the table after its code is gone; never clear production data as a side effect of a deploy.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
-- a batch a statement, each committed on its own\n\
DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < '2024-01-01' ORDER BY id LIMIT 10000);\n\
DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < '2024-01-01' ORDER BY id LIMIT 10000);\n\
```\n\
\n\
```sql\n\
-- once no running release uses audit_log:\n\
-- cutover:ignore drop-table reason=\"unused since release 42\"\n\
DROP TABLE audit_log;\n\
```\n\
\n\
## Example\n\
```sql\n\
TRUNCATE audit_log;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::Truncate { tables } = &effect.action else { return Vec::new() };
    tables
        .iter()
        .filter(|table| !ctx.is_new(table))
        .map(|table| {
            Finding::new(
                RULE,
                // The lock is reported with the finding, on PostgreSQL only: its name means nothing elsewhere.
                format!("TRUNCATE deletes every row of `{table}` at once"),
                "delete the rows that must go in batches, or drop the table once no code uses it",
            )
            .on(table, LockMode::AccessExclusive)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"TRUNCATE audit_log", RULE);
        assert!(rendered.contains("truncate-table"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(
            r"CREATE TABLE t (a int);
TRUNCATE t",
            RULE,
        );
    }
}
