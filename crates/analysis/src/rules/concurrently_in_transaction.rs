//! Rule `concurrently-in-transaction`: its documentation is `DOC`, printed by `cutover explain concurrently-in-transaction`.

use crate::rules::{Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "concurrently-in-transaction";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement that PostgreSQL refuses to run inside a transaction block, in a migration that runs in one.\n\
\n\
## Why is this bad?\n\
`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `VACUUM` and a few others fail with 'cannot run inside a transaction block': the migration fails at deploy time.\n\
\n\
## Instead\n\
Mark the migration `-- cutover:no-transaction` (cutover then runs and records it statement by statement), and keep other statements out of it.\n\
\n\
## Example\n\
```sql\n\
CREATE INDEX CONCURRENTLY i ON users (email);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    if !effect.requires_no_transaction || !ctx.in_transaction {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        "this statement cannot run inside a transaction block, and this migration runs in one".to_string(),
        "add `-- cutover:no-transaction` at the top of the file",
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"CREATE INDEX CONCURRENTLY i ON users (email)", RULE);
        assert!(rendered.contains("concurrently-in-transaction"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(r"CREATE INDEX i ON users (email)", RULE);
    }
}
