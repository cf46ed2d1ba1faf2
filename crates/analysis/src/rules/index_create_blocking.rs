//! Rule `index-create-blocking`: its documentation is `DOC`, printed by `cutover explain index-create-blocking`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "index-create-blocking";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Creating an index without `CONCURRENTLY` on an existing table.\n\
\n\
## Why is this bad?\n\
`CREATE INDEX` holds a SHARE lock on the table for the whole build: every INSERT, UPDATE and DELETE waits, for minutes on a large table.\n\
\n\
## Instead\n\
`CREATE INDEX CONCURRENTLY ...` in a migration file of its own (cutover runs a file made only of such statements outside a transaction, with no directive); it takes SHARE UPDATE EXCLUSIVE, which lets reads and writes go on.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE INDEX i ON users (email);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    // `ON ONLY` a partitioned table builds nothing: the index stays invalid until partitions attach.
    let Action::CreateIndex { table, concurrently: false, only: false, .. } = &effect.action else { return Vec::new() };
    if ctx.is_empty(table) {
        return Vec::new();
    }
    let (scope, help) = if ctx.schema.is_partitioned(table) {
        (
            " and every partition",
            "CREATE INDEX ... ON ONLY the parent, CREATE INDEX CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION each",
        )
    } else {
        ("", "build it with CREATE INDEX CONCURRENTLY, in a migration file of its own (alone, it runs outside a transaction)")
    };
    vec![Finding::new(
        RULE,
        format!(
            "CREATE INDEX without CONCURRENTLY locks `{table}`{scope} in SHARE mode, which blocks writes for the whole build"
        ),
        help,
    )
    .on(table, LockMode::Share)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"CREATE INDEX i ON users (email)", RULE);
        assert!(rendered.contains("index-create-blocking"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"CREATE INDEX CONCURRENTLY i ON users (email)", RULE);
    }
    #[test]
    fn does_not_fire_2() {
        lint_ok(
            r"CREATE TABLE users (email text);
CREATE INDEX i ON users (email)",
            RULE,
        );
    }
}
