//! Rule `backfill-in-migration`: its documentation is `DOC`, printed by `cutover explain backfill-in-migration`.

use crate::rules::{Context, Finding};
use crate::{Action, Dialect, Effect, LockMode, Severity};

pub(crate) const RULE: &str = "backfill-in-migration";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
An `UPDATE` or `DELETE` of an existing table inside a migration.\n\
\n\
A warning, and an error on PostgreSQL when it reaches every row of a table (no `WHERE`, or one that reads only columns the migration just added, which hold one value in every row) while the same transaction already holds a lock that blocks writes to that table (`ALTER TABLE ... ADD COLUMN` before it takes ACCESS EXCLUSIVE), unless the live database (`up`, `plan`, `rehearse`, `lint --database-url`) says the table is small (under 10,000 rows; `plan --small-table-rows`). Without a database, a table the migrations do not create may be large.\n\
\n\
## Why is this bad?\n\
One statement over a large table holds a lock on every row it touches until the migration commits, bloats the table and the WAL at once, and leaves replicas behind; inside the DDL transaction it also keeps the DDL's locks for as long. After `ADD COLUMN` that lock is ACCESS EXCLUSIVE: every read and write of the table waits for the whole `UPDATE`, seconds on a few hundred thousand rows, minutes on a real table.\n\
\n\
## Instead\n\
Change the schema in the migration, and the data with `cutover backfill` (keyset batches, each its own short transaction, throttled on replica lag), declared in a `.toml` file beside the migration (`[[backfill]]` with `name`, `table`, `set`, `where`) so that it is reviewed with it. Or, at the least, move the data change into a migration of its own after the schema change, so that no DDL lock is held while it runs.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN score int;\n\
-- and the data, in batches: cutover backfill --table users --set \"score = 0\" --where \"score IS NULL\"\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN status text;\n\
UPDATE users SET status = 'active' WHERE status IS NULL;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::WriteRows { command, table, filtered, where_columns } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) || (*filtered && !ctx.in_transaction) {
        return Vec::new();
    }
    if let Some(finding) = under_held_lock(command, table, where_columns.as_deref(), ctx) {
        return vec![finding];
    }
    let scope = if *filtered { "rows" } else { "every row" };
    vec![Finding::new(
        RULE,
        format!("{command} of {scope} of `{table}` in the migration holds their row locks until it commits"),
        "change the data with `cutover backfill` (small batches, each its own transaction) instead",
    )
    .on(table, LockMode::RowExclusive)]
}

/// The finding for a statement that reaches every row of `table` while the transaction holds a
/// lock blocking writes to it (the strongest, if several): an error unless the table is known
/// to be small.
fn under_held_lock(command: &str, table: &str, where_columns: Option<&[String]>, ctx: &Context) -> Option<Finding> {
    // MySQL commits before and after each DDL statement: no DDL lock outlives its statement.
    if ctx.dialect != Dialect::Postgres || !ctx.in_transaction {
        return None;
    }
    // Columns added by this migration hold one value in every row: a condition on them alone
    // matches every row or none, and reads them all either way.
    let every_row = where_columns?.iter().all(|c| ctx.added_columns.contains(&(table.to_string(), c.clone())));
    if !every_row {
        return None;
    }
    let (_, mode, line) = ctx.held_locks.iter().filter(|(t, _, _)| t == table).max_by_key(|(_, mode, _)| *mode)?;
    let rows = ctx.rows_of(table);
    let small = rows.is_some_and(|rows| rows < ctx.small_table_rows);
    let size = match rows {
        Some(rows) if ctx.live && ctx.created_by_linted.contains(table) => {
            format!("`{table}` is created by an earlier pending migration ({rows} rows before it)")
        }
        Some(rows) if small => format!("`{table}` is small here ({rows} rows by the catalog): the lock is brief"),
        Some(rows) => format!("`{table}` has about {rows} rows here"),
        None if ctx.live => format!("`{table}` has no row estimate here (not analysed yet): it may be large"),
        None => format!("without a database, `{table}` may be large"),
    };
    Some(
        Finding::new(
            RULE,
            format!(
                "{command} of every row of `{table}` runs under the {mode} lock taken at line {line}, held until the migration commits ({}); {size}",
                mode.blocks()
            ),
            &if command == "UPDATE" {
                format!(
                    "declare the UPDATE as a `cutover backfill` in a .toml file beside the migration ([[backfill]] with name, table = \"{table}\", set, where) and run `cutover backfill NAME` after this migration, or move the UPDATE into a migration of its own after this one"
                )
            } else {
                "move the DELETE into a migration of its own after this one (or delete in small batches outside migrations)"
                    .to_string()
            },
        )
        .on(table, *mode)
        .at(if small { Severity::Warning } else { Severity::Error }),
    )
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};
    use crate::{LintConfig, Linter, Schema, Script, Severity};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"UPDATE users SET active = true", RULE);
        assert!(rendered.contains("backfill-in-migration"), "{rendered}");
    }
    #[test]
    fn fires_1() {
        let rendered = lint_errors(r"DELETE FROM sessions WHERE expired", RULE);
        assert!(rendered.contains("backfill-in-migration"), "{rendered}");
    }
    #[test]
    fn does_not_fire_2() {
        lint_ok(
            r"CREATE TABLE t (a int);
UPDATE t SET a = 1",
            RULE,
        );
    }

    /// The severities of this rule's findings in `sql`, linted with `linter`.
    fn severities(linter: &mut Linter, sql: &str) -> Vec<Severity> {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script = Script { text: sql, statements: &statements, in_transaction: true, has_down: None };
        linter.lint(&script).diagnostics.iter().filter(|d| d.rule == RULE).map(|d| d.severity).collect()
    }

    fn static_linter() -> Linter {
        Linter::new(LintConfig { only_rule: Some(RULE.into()), ..LintConfig::default() })
    }

    /// A linter on a live schema where `users` has `rows` rows.
    fn live_linter(rows: i64) -> Linter {
        let mut schema = Schema::default();
        schema.insert_table("users", crate::schema::Table::default());
        let config = LintConfig {
            only_rule: Some(RULE.into()),
            live_rows: [("users".to_string(), rows)].into_iter().collect(),
            ..LintConfig::default()
        };
        Linter::with_schema(config, schema)
    }

    const FLYWAY_V2: &str =
        "ALTER TABLE users ADD COLUMN status text;\nUPDATE users SET status = 'active' WHERE status IS NULL;";

    #[test]
    fn every_row_under_a_held_lock_is_an_error_unless_the_table_is_small() {
        assert_eq!(severities(&mut static_linter(), FLYWAY_V2), [Severity::Error], "size unknown");
        assert_eq!(severities(&mut live_linter(400_000), FLYWAY_V2), [Severity::Error]);
        assert_eq!(severities(&mut live_linter(100), FLYWAY_V2), [Severity::Warning], "a small table");
        let unfiltered = "ALTER TABLE users ADD COLUMN n int;\nUPDATE users SET n = 0;";
        assert_eq!(severities(&mut static_linter(), unfiltered), [Severity::Error]);
        let index_then_delete = "CREATE INDEX users_n ON users (n);\nDELETE FROM users;";
        assert_eq!(severities(&mut static_linter(), index_then_delete), [Severity::Error], "SHARE blocks writes");
    }

    #[test]
    fn found_errors_name_the_lock_and_the_fix() {
        let statements = cutover_migration::split_statements(FLYWAY_V2).unwrap();
        let script = Script { text: FLYWAY_V2, statements: &statements, in_transaction: true, has_down: None };
        let linted = live_linter(400_000).lint(&script);
        let d = &linted.diagnostics[0];
        assert!(
            d.message.contains("ACCESS EXCLUSIVE lock taken at line 1") && d.message.contains("400000 rows"),
            "{}",
            d.message
        );
        assert!(d.help.contains("cutover backfill") && d.help.contains("migration of its own"), "{}", d.help);
    }

    #[test]
    fn stays_a_warning_when_the_rows_or_the_lock_are_not_the_whole_story() {
        // A condition on an existing column may select a few rows.
        let selective = "ALTER TABLE users ADD COLUMN status text;\nUPDATE users SET status = 'a' WHERE id = 42;";
        assert_eq!(severities(&mut static_linter(), selective), [Severity::Warning]);
        let subquery =
            "ALTER TABLE users ADD COLUMN s text;\nUPDATE users SET s = 'a' WHERE s IS NULL AND id IN (SELECT 1);";
        assert_eq!(severities(&mut static_linter(), subquery), [Severity::Warning]);
        // No lock held on the table before it, or on another table only.
        assert_eq!(severities(&mut static_linter(), "UPDATE users SET n = 0;"), [Severity::Warning]);
        let other_table = "ALTER TABLE orders ADD COLUMN n int;\nUPDATE users SET n = 0;";
        assert_eq!(severities(&mut static_linter(), other_table), [Severity::Warning]);
        // The lock is released first.
        let sql = "BEGIN;\nALTER TABLE users ADD COLUMN n int;\nCOMMIT;\nUPDATE users SET n = 0;";
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script = Script { text: sql, statements: &statements, in_transaction: false, has_down: None };
        let found: Vec<Severity> = static_linter().lint(&script).diagnostics.iter().map(|d| d.severity).collect();
        assert_eq!(found, [Severity::Warning]);
    }

    #[test]
    fn a_table_created_by_an_earlier_pending_migration_is_new_on_the_live_database() {
        let mut linter = live_linter(400_000);
        assert!(severities(&mut linter, "CREATE TABLE events (id int);").is_empty());
        let backfill = "ALTER TABLE events ADD COLUMN n int;\nUPDATE events SET n = 0;";
        assert_eq!(severities(&mut linter, backfill), [Severity::Warning]);
        // Without a database the same table may have grown since it was created.
        let mut linter = static_linter();
        assert!(severities(&mut linter, "CREATE TABLE events (id int);").is_empty());
        assert_eq!(severities(&mut linter, backfill), [Severity::Error]);
    }

    #[test]
    fn a_configured_level_still_wins() {
        let config = LintConfig {
            levels: [(RULE.to_string(), Some(Severity::Warning))].into_iter().collect(),
            ..LintConfig::default()
        };
        assert_eq!(severities(&mut Linter::new(config), FLYWAY_V2), [Severity::Warning]);
    }
}
