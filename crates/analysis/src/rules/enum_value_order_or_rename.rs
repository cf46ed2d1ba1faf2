//! Rule `enum-value-order-or-rename`: its documentation is `DOC`, printed by `cutover explain enum-value-order-or-rename`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "enum-value-order-or-rename";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER TYPE ... RENAME VALUE`, or `ADD VALUE ... BEFORE/AFTER` (a value placed among the existing ones).\n\
\n\
## Why is this bad?\n\
A renamed value breaks running code that still writes or compares the old one. A value placed before or after another changes the sort order and the results of `<`, `>` and `ORDER BY` on the enum, which old code may rely on.\n\
\n\
## Instead\n\
Add the new value at the end (`ADD VALUE` alone), move the code and the data to it, and stop using the old one rather than renaming it.\n\
\n\
```sql\n\
ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'dispatched';\n\
-- then move the code and the data (`cutover backfill`) to 'dispatched', and stop using 'shipped'\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TYPE order_status RENAME VALUE 'shipped' TO 'dispatched';\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    let message = match &effect.action {
        Action::RenameEnumValue { type_name, old, new } => {
            format!("renaming '{old}' to '{new}' in `{type_name}` breaks running code that uses '{old}'")
        }
        Action::AddEnumValue { type_name, value, placement: Some(placement) } => {
            format!("adding '{value}' {placement} changes how `{type_name}` values sort and compare")
        }
        _ => return Vec::new(),
    };
    vec![Finding::new(RULE, message, "add new values at the end, move code and data to them, retire the old value")]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_renames_and_placed_values() {
        assert!(lint_errors("ALTER TYPE s RENAME VALUE 'a' TO 'b'", RULE).contains("breaks running code"));
        assert!(lint_errors("ALTER TYPE s ADD VALUE 'x' BEFORE 'a'", RULE).contains("BEFORE 'a'"));
    }

    #[test]
    fn does_not_fire_on_values_added_at_the_end() {
        lint_ok("ALTER TYPE s ADD VALUE 'x'", RULE);
    }
}
