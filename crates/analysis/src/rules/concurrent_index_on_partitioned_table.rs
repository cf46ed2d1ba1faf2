//! Rule `concurrent-index-on-partitioned-table`: its documentation is `DOC`, printed by `cutover explain concurrent-index-on-partitioned-table`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "concurrent-index-on-partitioned-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`CREATE INDEX CONCURRENTLY` on a partitioned table.\n\
\n\
## Why is this bad?\n\
PostgreSQL refuses it (`cannot create index on partitioned table concurrently`), and the plain `CREATE INDEX` that people fall back to locks every partition against writes for the whole build.\n\
\n\
## Instead\n\
Create the index on the parent alone with `CREATE INDEX ... ON ONLY parent` (instant, left invalid), build it on each partition with `CREATE INDEX CONCURRENTLY`, then `ALTER INDEX parent_idx ATTACH PARTITION partition_idx` for each; the parent's index becomes valid when all are attached.\n\
\n\
```sql\n\
CREATE INDEX IF NOT EXISTS events_user ON ONLY events (user_id);\n\
-- next migration\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2020_user ON events_2020 (user_id);\n\
-- next migration\n\
ALTER INDEX events_user ATTACH PARTITION events_2020_user;\n\
```\n\
\n\
## Example\n\
```sql\n\
-- events was created PARTITION BY RANGE (created_at) in an earlier migration\n\
CREATE INDEX CONCURRENTLY events_user ON events (user_id);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::CreateIndex { table, concurrently: true, only: false, .. } = &effect.action else { return Vec::new() };
    if !ctx.schema.is_partitioned(table) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("`{table}` is partitioned: PostgreSQL refuses CREATE INDEX CONCURRENTLY on it"),
        &format!(
            "CREATE INDEX ... ON ONLY the parent, then ALTER INDEX ... ATTACH PARTITION the index of each partition, {}",
            ctx.runner.alone("built with CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY")
        ),
    )
    .on(table, LockMode::ShareUpdateExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    const PARTITIONED: &str = "CREATE TABLE events (id bigint, at timestamptz) PARTITION BY RANGE (at);\n";

    #[test]
    fn fires_on_a_partitioned_table() {
        let sql = format!("{PARTITIONED}CREATE INDEX CONCURRENTLY events_at ON events (at);");
        assert!(lint_errors(&sql, RULE).contains("`events` is partitioned"));
    }

    #[test]
    fn does_not_fire_on_only_or_plain_tables() {
        lint_ok(&format!("{PARTITIONED}CREATE INDEX events_at ON ONLY events (at);"), RULE);
        lint_ok("CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_id ON t (id);", RULE);
    }
}
