//! Rule `drop-table`: its documentation is `DOC`, printed by `cutover explain drop-table`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "drop-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Dropping a table.\n\
\n\
## Why is this bad?\n\
The data is gone, and running code that still reads or writes the table fails.\n\
\n\
## Instead\n\
Stop all code from using the table first (deploy that), keep a backup or rename it aside for a while, then drop it in a later migration.\n\
\n\
## Example\n\
```sql\n\
DROP TABLE users;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::DropTable { tables } = &effect.action else { return Vec::new() };
    tables
        .iter()
        .filter(|table| !ctx.is_new(table))
        .map(|table| {
            Finding::new(
                RULE,
                format!("dropping `{table}` destroys its data, and code that still uses it fails"),
                "first deploy code that no longer uses the table, then drop it in a later migration (rename it aside first if you may need it back)",
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
        let rendered = lint_errors(r"DROP TABLE users", RULE);
        assert!(rendered.contains("drop-table"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(
            r"CREATE TABLE tmp (id int);
DROP TABLE tmp",
            RULE,
        );
    }
}
