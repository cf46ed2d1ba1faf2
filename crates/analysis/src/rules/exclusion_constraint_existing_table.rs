//! Rule `exclusion-constraint-existing-table`: its documentation is `DOC`, printed by `cutover explain exclusion-constraint-existing-table`.

use crate::rules::{alter_cost_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "exclusion-constraint-existing-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Adding an EXCLUDE constraint to an existing table.\n\
\n\
## Why is this bad?\n\
The exclusion index is built and every row checked under an ACCESS EXCLUSIVE lock, and unlike UNIQUE there is no `USING INDEX` shortcut.\n\
\n\
## Instead\n\
Create the constraint with the table, or build a new table with it and move the data over (expand/contract).\n\
\n\
```sql\n\
CREATE TABLE room_bookings (room int, during tsrange, EXCLUDE USING gist (room WITH =, during WITH &&));\n\
-- then move the data over, and the code\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE rooms ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_cost_findings(effect, ctx, |table, command| {
        match command {
            AlterCommand::AddConstraint { kind: "EXCLUDE", .. } => Some(
                Finding::new(
                    RULE,
                    format!("adding an EXCLUDE constraint to `{table}` builds its index and checks every row under an ACCESS EXCLUSIVE lock"),
                    "define it when the table is created, or move the data to a new table that has it",
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
    use crate::rules::test_utils::lint_errors;

    #[test]
    fn fires_0() {
        let rendered = lint_errors(
            r"ALTER TABLE rooms ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&)",
            RULE,
        );
        assert!(rendered.contains("exclusion-constraint-existing-table"), "{rendered}");
    }
}
