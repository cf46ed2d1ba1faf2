//! Rule `multiple-alter-same-table`: its documentation is `DOC`, printed by `cutover explain multiple-alter-same-table`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "multiple-alter-same-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Several `ALTER TABLE` statements on the same existing table in one migration.\n\
\n\
## Why is this bad?\n\
Each statement queues for the ACCESS EXCLUSIVE lock again (and in one transaction holds it across them all); every wait in the lock queue stalls the queries behind it.\n\
\n\
## Instead\n\
Combine the changes into one `ALTER TABLE` with several comma-separated actions.\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN a int;\n\
ALTER TABLE users ADD COLUMN b int;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AlterTable { table, .. } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) || !ctx.altered_before(table) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("`{table}` is altered again: each ALTER TABLE waits in the lock queue for ACCESS EXCLUSIVE once more"),
        "combine the changes into one ALTER TABLE with comma-separated actions",
    )
    .on(table, LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(
            r"ALTER TABLE users ADD COLUMN a int;
ALTER TABLE users ADD COLUMN b int",
            RULE,
        );
        assert!(rendered.contains("multiple-alter-same-table"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE users ADD COLUMN a int, ADD COLUMN b int", RULE);
    }
}
