//! Rule `validate-same-transaction`: its documentation is `DOC`, printed by `cutover explain validate-same-transaction`.

use crate::rules::{Context, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "validate-same-transaction";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`VALIDATE CONSTRAINT` in the same transaction as the `ADD CONSTRAINT ... NOT VALID` it validates.\n\
\n\
## Why is this bad?\n\
NOT VALID exists so that the validation scan runs under the weak SHARE UPDATE EXCLUSIVE lock; in the same transaction the ADD's strong lock is still held, so the scan blocks writes (or everything) after all.\n\
\n\
## Instead\n\
Validate in a later migration, or (under cutover) mark the migration `-- cutover:no-transaction` so that each statement commits on its own.\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n\
ALTER TABLE orders VALIDATE CONSTRAINT positive;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AlterTable { table, commands } = &effect.action else { return Vec::new() };
    if !ctx.in_transaction {
        return Vec::new();
    }
    commands
        .iter()
        .filter_map(|command| match command {
            AlterCommand::ValidateConstraint { name } if ctx.added_not_valid(name) => Some(
                Finding::new(
                    RULE,
                    format!("`{name}` is validated in the transaction that added it NOT VALID: the ADD's lock on `{table}` is still held during the scan"),
                    if ctx.external_runner {
                        "validate it in a later migration"
                    } else {
                        "validate it in a later migration, or make this migration `-- cutover:no-transaction`"
                    },
                )
                .on(table, LockMode::AccessExclusive),
            ),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(
            r"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT positive",
            RULE,
        );
        assert!(rendered.contains("validate-same-transaction"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE orders VALIDATE CONSTRAINT positive", RULE);
    }
}
