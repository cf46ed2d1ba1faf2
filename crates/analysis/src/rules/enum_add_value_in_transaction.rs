//! Rule `enum-add-value-in-transaction`: its documentation is `DOC`, printed by `cutover explain enum-add-value-in-transaction`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "enum-add-value-in-transaction";

/// What it does, why it is bad, and what to do instead.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER TYPE ... ADD VALUE` in a migration that runs in a transaction.\n\
\n\
## Why is this bad?\n\
Before PostgreSQL 12 it is refused inside a transaction block; from 12 on, the new value cannot be used until the transaction commits, so a later statement of the same migration that uses it fails.\n\
\n\
## Instead\n\
Put `ADD VALUE` in its own migration marked `-- cutover:no-transaction`.";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AddEnumValue { type_name } = &effect.action else { return Vec::new() };
    if !ctx.in_transaction {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("a value added to `{type_name}` cannot be used before the transaction commits (and PostgreSQL before 12 refuses ADD VALUE in a transaction)"),
        "put ADD VALUE in its own migration marked `-- cutover:no-transaction`",
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TYPE mood ADD VALUE 'meh'", RULE);
        assert!(rendered.contains("enum-add-value-in-transaction"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'", RULE);
    }
}
