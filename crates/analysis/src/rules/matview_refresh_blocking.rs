//! Rule `matview-refresh-blocking`: its documentation is `DOC`, printed by `cutover explain matview-refresh-blocking`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "matview-refresh-blocking";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`REFRESH MATERIALIZED VIEW` without `CONCURRENTLY` on an existing view.\n\
\n\
## Why is this bad?\n\
The refresh takes an ACCESS EXCLUSIVE lock on the view for the whole recomputation: every query reading it waits.\n\
\n\
## Instead\n\
`REFRESH MATERIALIZED VIEW CONCURRENTLY` (needs a unique index on the view), which lets reads go on; or refresh outside the migration, on a schedule.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS daily_sales_n ON daily_sales (n);\n\
-- next migration\n\
REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales;\n\
```\n\
\n\
## Example\n\
```sql\n\
REFRESH MATERIALIZED VIEW daily_sales;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::RefreshMaterializedView { name, concurrently: false } = &effect.action else { return Vec::new() };
    if ctx.is_new(name) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("refreshing `{name}` locks it ACCESS EXCLUSIVE for the whole recomputation: reads wait"),
        "REFRESH MATERIALIZED VIEW CONCURRENTLY (with a unique index on the view)",
    )
    .on(name, LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_a_blocking_refresh() {
        assert!(lint_errors("REFRESH MATERIALIZED VIEW daily_sales", RULE).contains("`daily_sales`"));
    }

    #[test]
    fn does_not_fire_when_concurrent() {
        lint_ok("REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales", RULE);
    }
}
