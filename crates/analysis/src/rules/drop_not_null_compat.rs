//! Rule `drop-not-null-compat`: its documentation is `DOC`, printed by `cutover explain drop-not-null-compat`.

use crate::rules::{alter_findings, Context, Finding};
use crate::{AlterCommand, Effect};

pub(crate) const RULE: &str = "drop-not-null-compat";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER COLUMN ... DROP NOT NULL` on an existing table.\n\
\n\
## Why is this bad?\n\
New code may now write NULLs that the old version, still running during the deploy, does not expect.\n\
\n\
## Instead\n\
Make sure every running version handles NULL in the column before dropping the constraint.\n\
\n\
```sql\n\
-- once every running release handles NULL in users.email:\n\
-- cutover:ignore drop-not-null-compat reason=\"release 42 handles users without an email\"\n\
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_findings(effect, ctx, |table, command| match command {
        AlterCommand::DropNotNull { column } => Some(Finding::new(
            RULE,
            format!("`{table}.{column}` may hold NULL from now on, which code still running may not expect"),
            "deploy code that handles NULL in the column first",
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
        let rendered = lint_errors(r"ALTER TABLE users ALTER COLUMN email DROP NOT NULL", RULE);
        assert!(rendered.contains("drop-not-null-compat"), "{rendered}");
    }
    #[test]
    fn does_not_fire_on_new_tables() {
        lint_ok(r"CREATE TABLE users (email text, plan text);", RULE);
    }
}
