//! Rule `unanalyzable-statement`: its documentation is `DOC`, printed by `cutover explain unanalyzable-statement`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "unanalyzable-statement";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement whose effect cutover cannot see: a `DO` block, a procedure `CALL`, an `EXECUTE` of a prepared statement.\n\
\n\
## Why is this bad?\n\
The code inside may take any lock, rewrite any table or loop over every row; none of the other rules can check it, so the migration's safety rests on a reader.\n\
\n\
## Instead\n\
Write the DDL as plain statements where possible; where the block is needed, review what it locks and ignore this rule with the reason: `-- cutover:ignore unanalyzable-statement reason=\"...\"`.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN x int;\n\
```\n\
\n\
## Example\n\
```sql\n\
DO $$ BEGIN EXECUTE 'ALTER TABLE ' || tbl || ' ADD COLUMN x int'; END $$;\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    let Action::Opaque { what } = &effect.action else { return Vec::new() };
    vec![Finding::new(
        RULE,
        format!("cutover cannot see what this {what} locks or rewrites"),
        "write it as plain statements, or review it and ignore this rule with the reason",
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_opaque_code() {
        assert!(lint_errors("DO $$ BEGIN PERFORM 1; END $$", RULE).contains("DO block"));
        assert!(lint_errors("CALL migrate_data()", RULE).contains("CALL"));
    }

    #[test]
    fn does_not_fire_on_plain_sql() {
        lint_ok("SELECT 1", RULE);
        lint_ok("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", RULE);
    }
}
