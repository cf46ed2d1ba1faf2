//! Rule `backfill-in-migration`: its documentation is `DOC`, printed by `cutover explain backfill-in-migration`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "backfill-in-migration";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
An `UPDATE` or `DELETE` of an existing table inside a migration.\n\
\n\
## Why is this bad?\n\
One statement over a large table holds a lock on every row it touches until the migration commits, bloats the table and the WAL at once, and leaves replicas behind; inside the DDL transaction it also keeps the DDL's locks for as long.\n\
\n\
## Instead\n\
Change the schema in the migration, and the data with `cutover backfill` (keyset batches, each its own short transaction, throttled on replica lag).\n\
\n\
## Example\n\
```sql\n\
UPDATE users SET active = true;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::WriteRows { command, table, filtered } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) || (*filtered && !ctx.in_transaction) {
        return Vec::new();
    }
    let scope = if *filtered { "rows" } else { "every row" };
    vec![Finding::new(
        RULE,
        format!("{command} of {scope} of `{table}` in the migration holds their row locks until it commits"),
        "change the data with `cutover backfill` (small batches, each its own transaction) instead",
    )
    .on(table, LockMode::RowExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"UPDATE users SET active = true", RULE);
        assert!(rendered.contains("backfill-in-migration"), "{rendered}");
    }
    #[test]
    fn fires_1() {
        let rendered = lint_errors(r"DELETE FROM sessions WHERE expired", RULE);
        assert!(rendered.contains("backfill-in-migration"), "{rendered}");
    }
    #[test]
    fn does_not_fire_2() {
        lint_ok(
            r"CREATE TABLE t (a int);
UPDATE t SET a = 1",
            RULE,
        );
    }
}
