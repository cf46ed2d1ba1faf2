//! Rule `large-table-blocking-op`: its documentation is `DOC`, printed by `cutover explain large-table-blocking-op`.

use crate::rules::{Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "large-table-blocking-op";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement that holds a lock blocking writes while it scans, rewrites or indexes a table that is large on the live database (the row estimates of the catalog; one million rows by default, `cutover plan --large-table-rows`). Static linting cannot know table sizes, so this rule fires only where a database is at hand: `cutover plan`, the gate of `up`, `cutover lint --database-url`.\n\
\n\
## Why is this bad?\n\
The lock is held for as long as the work takes, and the work grows with the table: seconds on a thousand rows are an outage on two hundred million.\n\
\n\
## Instead\n\
The non-blocking form of the operation: `CREATE INDEX CONCURRENTLY`, constraints `NOT VALID` then `VALIDATE`, expand/contract instead of a rewrite, `cutover backfill` instead of a mass `UPDATE`.\n\
\n\
```sql\n\
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;\n\
-- next migration\n\
ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;\n\
```\n\
\n\
## Example\n\
```sql\n\
-- orders has 200 million rows\n\
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let long = effect.scans || effect.rewrites || matches!(effect.action, crate::Action::WriteRows { .. });
    if !long || ctx.live_rows.is_empty() {
        return Vec::new();
    }
    // The table it works on (its first lock) holds no row here: the work is done at once.
    if effect.locks.first().is_some_and(|(table, _)| ctx.is_empty(table)) {
        return Vec::new();
    }
    effect
        .locks
        .iter()
        .filter(|(table, mode)| mode.blocks_writes() && !ctx.is_new(table))
        .filter_map(|(table, mode)| {
            let rows = ctx.live_rows_of(table)?;
            (rows >= ctx.large_table_rows).then(|| {
                Finding::new(
                    RULE,
                    format!("`{table}` has about {rows} rows: this statement holds {mode} on it ({}) for the whole {}", mode.blocks(), if effect.rewrites { "rewrite" } else { "scan" }),
                    "use the non-blocking form (CONCURRENTLY, NOT VALID then VALIDATE, expand/contract, cutover backfill)",
                )
                .on(table, *mode)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::{LintConfig, Linter, Script};

    fn plan(sql: &str, rows: i64) -> usize {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let mut linter = Linter::new(LintConfig {
            only_rule: Some(RULE.into()),
            live_rows: [("orders".to_string(), rows)].into_iter().collect(),
            large_table_rows: 1_000_000,
            ..LintConfig::default()
        });
        linter
            .lint(&Script {
                text: sql,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None,
            })
            .diagnostics
            .len()
    }

    #[test]
    fn fires_on_blocking_work_on_a_large_table() {
        assert_eq!(plan("ALTER TABLE orders ADD CONSTRAINT c CHECK (total >= 0);", 200_000_000), 1);
        assert_eq!(plan("CREATE INDEX i ON orders (total);", 5_000_000), 1);
    }

    #[test]
    fn does_not_fire_on_small_tables_quick_statements_or_without_live_facts() {
        assert_eq!(plan("ALTER TABLE orders ADD CONSTRAINT c CHECK (total >= 0);", 12), 0);
        assert_eq!(plan("ALTER TABLE orders ADD COLUMN note text;", 200_000_000), 0);
        assert_eq!(plan("CREATE INDEX CONCURRENTLY i ON orders (total);", 200_000_000), 0);
        let sql = "CREATE INDEX i ON orders (total);";
        let statements = cutover_migration::split_statements(sql).unwrap();
        let mut linter = Linter::new(LintConfig { only_rule: Some(RULE.into()), ..LintConfig::default() });
        assert!(linter
            .lint(&Script {
                text: sql,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None
            })
            .diagnostics
            .is_empty());
    }
}
