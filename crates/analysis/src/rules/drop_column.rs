//! Rule `drop-column`: its documentation is `DOC`, printed by `cutover explain drop-column`.

use crate::rules::{alter_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "drop-column";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Dropping a column.\n\
\n\
## Why is this bad?\n\
The data is gone, and running code that still names the column fails (an ORM that selects every column breaks at once).\n\
\n\
## Instead\n\
Deploy code that no longer reads or writes the column (tell the ORM to ignore it), then drop it in a later migration.\n\
\n\
```sql\n\
-- once no running release reads or writes users.name:\n\
-- cutover:ignore drop-column reason=\"release 42 stopped using users.name\"\n\
ALTER TABLE users DROP COLUMN name;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users DROP COLUMN name;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_findings(effect, ctx, |table, command| match command {
        AlterCommand::DropColumn { column } => Some(
            Finding::new(
                RULE,
                format!("dropping `{table}.{column}` destroys its data, and code that still names it fails"),
                "first deploy code that ignores the column, then drop it in a later migration",
            )
            .on(table, LockMode::AccessExclusive),
        ),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users DROP COLUMN name", RULE);
        assert!(rendered.contains("drop-column"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(
            r"CREATE TABLE t (a int, b int);
ALTER TABLE t DROP COLUMN b",
            RULE,
        );
    }
}
