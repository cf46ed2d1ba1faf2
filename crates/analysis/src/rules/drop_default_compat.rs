//! Rule `drop-default-compat`: its documentation is `DOC`, printed by `cutover explain drop-default-compat`.

use crate::rules::{alter_findings, Context, Finding};
use crate::{AlterCommand, Effect};

pub(crate) const RULE: &str = "drop-default-compat";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER COLUMN ... DROP DEFAULT` on an existing table.\n\
\n\
## Why is this bad?\n\
Code still running that inserts without the column relied on the default: its inserts now write NULL, or fail on a NOT NULL column.\n\
\n\
## Instead\n\
Deploy code that always sets the column, then drop the default.\n\
\n\
```sql\n\
-- once every running release sets users.plan itself:\n\
-- cutover:ignore drop-default-compat reason=\"release 42 always sets plan\"\n\
ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_findings(effect, ctx, |table, command| match command {
        AlterCommand::DropDefault { column } => Some(Finding::new(
            RULE,
            format!("inserts that leave out `{table}.{column}` relied on its default"),
            "deploy code that always sets the column, then drop the default",
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users ALTER COLUMN plan DROP DEFAULT", RULE);
        assert!(rendered.contains("drop-default-compat"), "{rendered}");
    }
    #[test]
    fn does_not_fire_on_new_tables() {
        lint_ok(r"CREATE TABLE users (email text, plan text);", RULE);
    }
}
