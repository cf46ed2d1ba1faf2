//! Rule `backfill-in-migration`: its documentation is `DOC`, printed by `cutover explain backfill-in-migration`.

use crate::rules::{Context, Finding};
use crate::{Action, Dialect, Effect, LockMode, RowAccess, RowScope, Runner, Severity};

pub(crate) const RULE: &str = "backfill-in-migration";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement that changes rows of an existing table inside a migration: `UPDATE`, `DELETE`, `MERGE`, `INSERT ... SELECT` from an existing table, or any of them in a `WITH`.\n\
\n\
A warning, and an error on PostgreSQL when it may reach every row of a table (no `WHERE`, or one that does not pin a unique key or the primary key to given values: `id > 0`, `status IS NULL`, `id IN (SELECT ...)`; any `MERGE`; a copy from a whole table; any change through a view) while the same transaction already holds a lock, taken by an earlier statement, that blocks writes to a table it works on (`ALTER TABLE ... ADD COLUMN` before it takes ACCESS EXCLUSIVE), unless the live database (`up`, `plan`, `rehearse`, `lint --database-url`) says every table it may read through is small (under 10,000 rows; `plan --small-table-rows`). `WHERE id = 5`, `WHERE id IN (1, 2)` on a unique key reach a row or a few. Without a database, a table the migrations do not create may be large, and its keys are unknown (a condition pinning any column to a value counts as narrowing it). Tables are found as the server finds them: a `SET search_path` in the file applies to the rest of it, and a view to the table it shows.\n\
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
    if let Some(finding) = under_held_lock(effect, ctx) {
        return vec![finding];
    }
    let command = match &effect.action {
        Action::WriteRows { command, .. } => command.to_string(),
        Action::Opaque { what } => format!("the {what}"),
        _ => return Vec::new(),
    };
    // Rows of an existing table it writes: all or some of them, or, for an INSERT, those it
    // copies from an existing table.
    let copies = effect.rows.iter().any(|a| !a.write && !ctx.is_new(&a.table));
    let Some(written) =
        effect.rows.iter().find(|a| a.write && !ctx.is_new(&a.table) && (a.rows != RowScope::Listed || copies))
    else {
        return Vec::new();
    };
    let every_row = written.rows == RowScope::All;
    if !every_row && !ctx.in_transaction {
        return Vec::new();
    }
    let scope = if every_row { "every row" } else { "rows" };
    vec![Finding::new(
        RULE,
        match &effect.action {
            Action::Opaque { .. } => format!(
                "{command} writes {scope} of `{}` and holds their row locks until the migration commits",
                written.table
            ),
            _ => format!(
                "{command} of {scope} of `{}` in the migration holds their row locks until it commits",
                written.table
            ),
        },
        "change the data with `cutover backfill` (small batches, each its own transaction) instead",
    )
    .on(&written.table, LockMode::RowExclusive)]
}

/// The finding for a statement that may reach every row of a table (written, or read to copy
/// from) while the transaction holds a lock, taken by an earlier statement, that blocks writes
/// to a table the statement works on: everyone waiting on that lock waits for all of it. An
/// error unless every table it may read through is known to be small.
fn under_held_lock(effect: &Effect, ctx: &Context) -> Option<Finding> {
    // MySQL commits before and after each DDL statement: no DDL lock outlives its statement.
    if ctx.dialect != Dialect::Postgres || !ctx.in_transaction {
        return None;
    }
    let every_row: Vec<&RowAccess> = effect
        .rows
        .iter()
        .filter(|a| !a.table.is_empty() && !ctx.is_new(&a.table))
        .filter(|a| a.rows.may_reach_every_row(ctx.schema.unique_keys(&a.table).as_deref()))
        .collect();
    // The largest of them (one of unknown size first): the one the time grows with.
    let (reached, rows) =
        every_row.iter().map(|a| (*a, ctx.rows_of(&a.table))).max_by_key(|(_, rows)| rows.map_or(i64::MAX, |r| r))?;
    // A lock on a parent reaches its partitions and children, and a write of the parent their
    // rows: a lock on one and a write of the other meet.
    let related = |locked: &str, accessed: &str| {
        locked == accessed || ctx.schema.is_ancestor(locked, accessed) || ctx.schema.is_ancestor(accessed, locked)
    };
    let touched = |table: &str| effect.rows.iter().any(|a| related(table, &a.table));
    // A DO block's own statements may take the lock the write then runs under (an ALTER
    // before the UPDATE in one block): its locks that block writes count as held.
    let own: Vec<(String, LockMode, usize)> = match &effect.action {
        Action::Opaque { .. } => effect
            .locks
            .iter()
            .filter(|(_, mode)| mode.blocks_writes())
            .map(|(table, mode)| (table.clone(), *mode, ctx.line))
            .collect(),
        _ => Vec::new(),
    };
    let (locked, mode, line) = ctx
        .held_locks
        .iter()
        .chain(&own)
        .filter(|(table, _, _)| touched(table))
        .max_by_key(|(table, mode, _)| (*mode, *table == reached.table))?;
    let command = match &effect.action {
        Action::WriteRows { command, .. } => command.to_string(),
        Action::CreateTableAs { materialized: true, .. } => "CREATE MATERIALIZED VIEW".to_string(),
        Action::CreateTableAs { .. } => "CREATE TABLE AS".to_string(),
        Action::Opaque { what } => format!("the {what}"),
        _ => "the statement".to_string(),
    };
    let table = &reached.table;
    let opaque = matches!(effect.action, Action::Opaque { .. });
    let what = match (&reached.rows, reached.write) {
        (RowScope::All, true) if opaque => format!("{command}, which writes every row of `{table}`,"),
        (RowScope::All, true) => format!("{command} of every row of `{table}`"),
        (_, true) if opaque => {
            format!(
                "{command}, which writes rows of `{table}` by a condition that pins no unique key (every row, maybe),"
            )
        }
        (_, true) => format!("{command} that may reach every row of `{table}` (its condition pins no unique key)"),
        (_, false) if opaque => format!("{command}, which reads every row of `{table}`,"),
        (_, false) => format!("{command} that reads every row of `{table}`"),
    };
    let on = if locked == table { String::new() } else { format!(" on `{locked}`") };
    let small = rows.is_some_and(|rows| rows < ctx.small_table_rows);
    let size = match rows {
        Some(rows) if small => format!("`{table}` is small here ({rows} rows by the catalog): the lock is brief"),
        Some(rows) => format!("`{table}` has about {rows} rows here"),
        None if ctx.live => {
            format!(
                "`{table}` has no row estimate here (never analysed, or its size could not be read): it may be large"
            )
        }
        None => format!("without a database, `{table}` may be large"),
    };
    // Where later statements of the file need the write's result (a `SET NOT NULL` of what it
    // fills, a drop of what it reads: review 4's #5, #30, #43), moving it alone would fail.
    let along = "with the statements after it that need its result or drop what it reads";
    // A copy into a table this migration makes (a rebuild: the old one renamed away, a new one
    // made, filled, the old dropped): moved to a later migration, the new table would be
    // empty meanwhile (review 6's #11 and #30).
    let fills_new = matches!(effect.action, Action::CreateTableAs { .. })
        || effect.rows.iter().filter(|a| a.write).all(|a| ctx.is_new(&a.table)) && effect.rows.iter().any(|a| a.write);
    let help = match command.as_str() {
        // A materialized view is filled by its one statement: no batches, no `cutover rewrite`
        // (review 7's #30).
        _ if matches!(effect.action, Action::CreateTableAs { materialized: true, .. }) => "a materialized view is filled by the statement that makes it: make it under another name in a migration of its own before this one (nothing reads it yet, and its build takes no lock the application waits for), then here drop the old one and rename the new one into its place (a brief lock)".to_string(),
        _ if fills_new => "it fills a table this migration makes, which a later migration would leave empty meanwhile: for a large table, make the new table under another name and fill it in batches before it takes the old one's place, or change the table online with `cutover rewrite` (a copy kept in step, then a swap)".to_string(),
        // A `.toml` beside the migration is read by cutover's runner only; the command itself
        // runs beside any tool.
        "UPDATE" if reached.write && matches!(ctx.runner, Runner::Cutover | Runner::Folder) => format!(
            "declare the UPDATE as a `cutover backfill` in a .toml file beside the migration ([[backfill]] with name, table = \"{table}\", set, where) and run `cutover backfill NAME` after this migration, or move the UPDATE into a migration of its own after this one ({along})"
        ),
        "UPDATE" if reached.write => format!(
            "run the UPDATE after this migration is applied, in small batches outside migrations (`cutover backfill --table {table} --set ... --where ...` works beside any migration tool), or move it into a migration of its own after this one ({along})"
        ),
        "DELETE" => format!(
            "move the DELETE into a migration of its own after this one, {along} (or delete in small batches outside migrations)"
        ),
        _ if opaque => format!(
            "move the write out of {command} into a migration of its own after this one, {along} (or change the data in small batches outside migrations, `cutover backfill`)"
        ),
        _ => format!(
            "move the {command} into a migration of its own after this one, {along} (or change the data in small batches outside migrations, `cutover backfill`)"
        ),
    };
    Some(
        Finding::new(
            RULE,
            format!(
                "{what} runs under the {mode} lock taken at line {line}{on}, held until the migration commits ({}); {size}",
                mode.blocks()
            ),
            &help,
        )
        .on(locked, *mode)
        .at(if small { Severity::Warning } else { Severity::Error }),
    )
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};
    use crate::{LintConfig, Linter, Schema, Script, Severity};

    /// authelia V0003: a table rebuilt in one transaction (renamed away, made again, filled
    /// from the old one): the copy cannot move to a later migration.
    #[test]
    fn a_copy_into_a_table_the_migration_makes_is_not_told_to_move() {
        let created = "CREATE TABLE devices (id int PRIMARY KEY, kid varchar(100));";
        let rebuild = "ALTER TABLE devices RENAME TO _bkp_devices;\nCREATE TABLE devices (id int PRIMARY KEY, kid varchar(512));\nINSERT INTO devices (id, kid) SELECT id, kid FROM _bkp_devices;\nDROP TABLE _bkp_devices;";
        let mut linter = Linter::new(LintConfig { only_rule: Some(RULE.to_string()), ..LintConfig::default() });
        crate::rules::test_utils::lint_next(&mut linter, created, true);
        let found = crate::rules::test_utils::lint_next(&mut linter, rebuild, true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].help.starts_with("it fills a table this migration makes"), "{found:?}");
        // A copy into a live table keeps its help.
        let copy = "CREATE TABLE archive (id int);";
        crate::rules::test_utils::lint_next(&mut linter, copy, true);
        let found = crate::rules::test_utils::lint_next(
            &mut linter,
            "ALTER TABLE archive ADD COLUMN kid text;\nINSERT INTO archive (id, kid) SELECT id, kid FROM devices;",
            true,
        );
        assert!(!found.is_empty() && found.iter().all(|d| !d.help.contains("fills a table")), "{found:?}");
    }

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
    /// What the rule finds in `sql`, a transactional migration.
    fn findings(linter: &mut Linter, sql: &str) -> Vec<crate::Diagnostic> {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script = Script {
            text: sql,
            statements: &statements,
            in_transaction: true,
            no_transaction_by: None,
            has_down: None,
        };
        linter.lint(&script).diagnostics.into_iter().filter(|d| d.rule == RULE).collect()
    }

    fn severities(linter: &mut Linter, sql: &str) -> Vec<Severity> {
        findings(linter, sql).iter().map(|d| d.severity).collect()
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

    /// Tester 20: `orders` (1.2M rows) renamed onto the name of an empty table was judged by
    /// that table's 0 rows; sizes follow the tables through renames and drops in the
    /// migrations still to run.
    #[test]
    fn live_sizes_follow_a_table_through_renames() {
        let live = || {
            let mut schema = Schema::default();
            schema.insert_table("orders", crate::schema::Table::default());
            schema.insert_table("empty_t", crate::schema::Table::default());
            let config = LintConfig {
                only_rule: Some(RULE.into()),
                live_rows: [("orders".to_string(), 1_200_000), ("empty_t".to_string(), 0)].into_iter().collect(),
                ..LintConfig::default()
            };
            Linter::with_schema(config, schema)
        };
        let swap = "ALTER TABLE empty_t RENAME TO empty_old;\nALTER TABLE orders RENAME TO empty_t;\nALTER TABLE empty_t ADD COLUMN f int;\nUPDATE empty_t SET f = 1;";
        let found = findings(&mut live(), swap);
        assert_eq!(found.iter().map(|d| d.severity).collect::<Vec<_>>(), [Severity::Error], "{found:?}");
        assert!(found[0].message.contains("1200000 rows"), "{}", found[0].message);
        // The new `orders` made after the live one was renamed away is empty; the renamed one
        // is not.
        let moved = "ALTER TABLE orders RENAME TO orders_v2;\nCREATE TABLE orders (id int, f int);\nALTER TABLE orders_v2 ADD COLUMN f int;\nUPDATE orders_v2 SET f = 1;\nALTER TABLE orders ADD COLUMN g int;\nUPDATE orders SET g = 1;";
        let found = findings(&mut live(), moved);
        assert_eq!(found.iter().map(|d| (d.line, d.severity)).collect::<Vec<_>>(), [(4, Severity::Error)], "{found:?}");
        // A live table dropped, and another renamed onto its name: no size is known for it.
        let dropped = "DROP TABLE empty_t;\nALTER TABLE orders RENAME TO empty_t;\nALTER TABLE empty_t ADD COLUMN f int;\nUPDATE empty_t SET f = 1;";
        let found = findings(&mut live(), dropped);
        assert!(found.iter().any(|d| d.severity == Severity::Error && d.message.contains("1200000 rows")), "{found:?}");
    }

    #[test]
    fn found_errors_name_the_lock_and_the_fix() {
        let statements = cutover_migration::split_statements(FLYWAY_V2).unwrap();
        let script = Script {
            text: FLYWAY_V2,
            statements: &statements,
            in_transaction: true,
            no_transaction_by: None,
            has_down: None,
        };
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
        // Without a database the keys are unknown: a condition pinning a column to a value may
        // select a few rows.
        let selective = "ALTER TABLE users ADD COLUMN status text;\nUPDATE users SET status = 'a' WHERE id = 42;";
        assert_eq!(severities(&mut static_linter(), selective), [Severity::Warning]);
        // No lock held on the table before it, or on another table only.
        assert_eq!(severities(&mut static_linter(), "UPDATE users SET n = 0;"), [Severity::Warning]);
        let other_table = "ALTER TABLE orders ADD COLUMN n int;\nUPDATE users SET n = 0;";
        assert_eq!(severities(&mut static_linter(), other_table), [Severity::Warning]);
        // The lock is released first.
        let sql = "BEGIN;\nALTER TABLE users ADD COLUMN n int;\nCOMMIT;\nUPDATE users SET n = 0;";
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script = Script {
            text: sql,
            statements: &statements,
            in_transaction: false,
            no_transaction_by: None,
            has_down: None,
        };
        let found: Vec<Severity> = static_linter().lint(&script).diagnostics.iter().map(|d| d.severity).collect();
        assert_eq!(found, [Severity::Warning]);
    }

    /// A linter on a live schema: `users` (primary key `id`, unique `email`, `name` not
    /// unique, and a view `active_users` of it) with `rows` rows, and `archive` and
    /// `app.users` with 400,000 each.
    fn keyed_linter(rows: i64) -> Linter {
        let mut schema = Schema::default();
        let users = crate::schema::Table {
            primary_key: vec!["id".into()],
            unique_keys: vec![
                ("users_pkey".into(), vec!["id".into()]),
                ("users_email_key".into(), vec!["email".into()]),
            ],
            ..crate::schema::Table::default()
        };
        schema.insert_table("users", users);
        schema.insert_table("archive", crate::schema::Table::default());
        schema.insert_table("app.users", crate::schema::Table::default());
        schema.insert_view("active_users", "users");
        schema.insert_table("events", crate::schema::Table { partitioned: true, ..crate::schema::Table::default() });
        schema.insert_table(
            "events_1",
            crate::schema::Table { parent: Some("events".into()), ..crate::schema::Table::default() },
        );
        let mut live_names = crate::LiveNames::default();
        for (schema_name, name, analysis) in [
            ("public", "users", "users"),
            ("public", "archive", "archive"),
            ("app", "users", "app.users"),
            ("public", "events", "events"),
            ("public", "events_1", "events_1"),
        ] {
            live_names.insert(schema_name, name, analysis);
        }
        let config = LintConfig {
            only_rule: Some(RULE.into()),
            live_rows: [
                ("users".to_string(), rows),
                ("archive".into(), 400_000),
                ("app.users".into(), 400_000),
                ("events".into(), 400_000),
                ("events_1".into(), 400_000),
            ]
            .into_iter()
            .collect(),
            live_names,
            ..LintConfig::default()
        };
        Linter::with_schema(config, schema)
    }

    /// Found by the third tester: the full-table write spelled otherwise than `UPDATE t SET ...`
    /// with no WHERE, under ADD COLUMN's ACCESS EXCLUSIVE lock.
    #[test]
    fn every_spelling_of_a_full_table_write_under_a_held_lock_is_an_error() {
        const ADD: &str = "ALTER TABLE users ADD COLUMN n int;\n";
        for dml in [
            "UPDATE users SET n = 1 WHERE id > 0;",
            "UPDATE users SET n = 1 WHERE n IS NULL OR id = 3;",
            "UPDATE users u SET n = 1 WHERE u.name = 'x';",
            "UPDATE users SET n = 1 WHERE id IN (SELECT id FROM archive);",
            "UPDATE users SET n = 1 WHERE id = random();",
            "UPDATE users SET n = a.n FROM archive a WHERE a.id = users.id;",
            "DELETE FROM users WHERE id > 0;",
            "DELETE FROM users WHERE email LIKE '%@example.com';",
            "MERGE INTO users u USING archive a ON u.id = a.id WHEN MATCHED THEN UPDATE SET n = 1;",
            "WITH x AS (UPDATE users SET n = 1 RETURNING *) SELECT count(*) FROM x;",
            "WITH x AS (DELETE FROM users WHERE id > 5 RETURNING id) INSERT INTO archive (id) SELECT id FROM x;",
            "INSERT INTO archive SELECT * FROM users;",
            "INSERT INTO users (id) SELECT id + 1000000 FROM archive;",
            "CREATE TABLE users_copy AS SELECT * FROM users;",
            "SELECT * INTO users_copy FROM users;",
            "UPDATE active_users SET n = 1 WHERE id = 5;",
            "UPDATE public.users SET n = 1;",
            "DO $$ BEGIN UPDATE users SET n = 1; END $$;",
            "DO $$ BEGIN IF true THEN UPDATE users SET n = 1 WHERE n IS NULL; END IF; END $$;",
            "DO $$ BEGIN EXECUTE 'UPDATE users SET n = 1'; END $$;",
            "CREATE MATERIALIZED VIEW users_mv AS SELECT * FROM users;",
        ] {
            let sql = format!("{ADD}{dml}");
            assert_eq!(severities(&mut keyed_linter(400_000), &sql), [Severity::Error], "{dml}");
        }
    }

    /// Found by a tester: a view the migrations create (not only a live one) is its table
    /// when data is changed through it, views of views included.
    #[test]
    fn a_write_through_a_view_made_by_a_migration_is_its_tables() {
        let sql = "CREATE VIEW users_v AS SELECT * FROM users WHERE id > 0;
CREATE OR REPLACE VIEW users_vv AS SELECT id, n FROM users_v;
ALTER TABLE users ADD COLUMN m int;
UPDATE users_vv SET n = 1 WHERE n IS NULL;";
        assert_eq!(severities(&mut keyed_linter(400_000), sql), [Severity::Error]);
        // A view of two tables is no one table's: nothing is written through it.
        let joined = "CREATE VIEW both_v AS SELECT * FROM users JOIN archive USING (id);
ALTER TABLE users ADD COLUMN m int;
UPDATE both_v SET n = 1;";
        assert_ne!(severities(&mut keyed_linter(400_000), joined), [Severity::Error]);
    }

    /// Found by a tester: a lock on a partitioned (or inheritance) parent is one on its
    /// partitions, and a write of the parent writes theirs.
    #[test]
    fn a_lock_and_a_write_meet_across_a_parent_and_its_partitions() {
        for sql in [
            "ALTER TABLE events ADD COLUMN s int;\nUPDATE events_1 SET s = 0;",
            "ALTER TABLE events_1 ALTER COLUMN payload SET DEFAULT 'z';\nUPDATE events SET payload = 'z';",
        ] {
            assert_eq!(severities(&mut keyed_linter(400_000), sql), [Severity::Error], "{sql}");
        }
    }

    /// Found by a tester: the lock and the write inside one DO block.
    #[test]
    fn a_do_block_that_locks_and_writes_every_row_is_an_error() {
        for block in [
            "DO $$ BEGIN ALTER TABLE users ADD COLUMN m int; UPDATE users SET m = 1; END $$;",
            "DO $$ BEGIN LOCK TABLE users; DELETE FROM users WHERE id > 0; END $$;",
        ] {
            assert_eq!(severities(&mut keyed_linter(400_000), block), [Severity::Error], "{block}");
        }
        let sql = "DO $$ BEGIN ALTER TABLE users ADD COLUMN m int; UPDATE users SET m = 1; END $$;";
        let found = findings(&mut keyed_linter(400_000), sql).remove(0);
        assert!(
            found
                .message
                .starts_with("the DO block, which writes every row of `users`, runs under the ACCESS EXCLUSIVE lock"),
            "{}",
            found.message
        );
        assert!(found.help.starts_with("move the write out of the DO block into a migration"), "{}", found.help);
        // A block that only writes takes no lock that blocks writes: the usual warning.
        assert_eq!(
            severities(&mut keyed_linter(400_000), "DO $$ BEGIN UPDATE users SET n = 1; END $$;"),
            [Severity::Warning]
        );
    }

    #[test]
    fn a_write_pinned_to_a_unique_key_or_on_a_small_table_stays_a_warning() {
        const ADD: &str = "ALTER TABLE users ADD COLUMN n int;\n";
        for dml in [
            "UPDATE users SET n = 1 WHERE id = 5;",
            "UPDATE users SET n = 1 WHERE id IN (1, 2, 3) AND n IS NULL;",
            "UPDATE users SET n = 1 WHERE id = 1 OR email = 'a@example.com';",
            "UPDATE users SET n = 1 WHERE id = ANY('{1,2}'::bigint[]);",
            "DELETE FROM users WHERE (id, email) IN ((1, 'a'), (2, 'b'));",
            "WITH x AS (UPDATE users SET n = 1 WHERE id = 7 RETURNING *) SELECT * FROM x;",
            "INSERT INTO archive SELECT * FROM users WHERE id = 9;",
        ] {
            let sql = format!("{ADD}{dml}");
            assert_eq!(severities(&mut keyed_linter(400_000), &sql), [Severity::Warning], "{dml}");
        }
        // Not unique: may be every row.
        let by_name = format!("{ADD}UPDATE users SET n = 1 WHERE name = 'x';");
        assert_eq!(severities(&mut keyed_linter(400_000), &by_name), [Severity::Error]);
        // On a small table every spelling is brief.
        for dml in [
            "UPDATE users SET n = 1 WHERE id > 0;",
            "MERGE INTO users u USING (VALUES (1)) v(id) ON u.id = v.id WHEN MATCHED THEN DELETE;",
        ] {
            let sql = format!("{ADD}{dml}");
            assert_eq!(severities(&mut keyed_linter(100), &sql), [Severity::Warning], "{dml}");
        }
        // Copying a large table into a small locked one takes as long as the large one.
        let into_small = format!("{ADD}INSERT INTO users (id) SELECT id FROM archive;");
        assert_eq!(severities(&mut keyed_linter(100), &into_small), [Severity::Error]);
        // Rows the statement lists itself are no backfill.
        assert!(severities(&mut keyed_linter(400_000), &format!("{ADD}INSERT INTO users (id) VALUES (1);")).is_empty());
    }

    /// Found by the third tester: `SET search_path` in the file decides what later unqualified
    /// names are, for the rest of the file.
    #[test]
    fn names_after_set_search_path_are_found_on_it() {
        for set in [
            "SET search_path = app;",
            "SET search_path TO app, public;",
            "SET LOCAL search_path = app;",
            "SELECT set_config('search_path', 'app', false);",
            "SELECT pg_catalog.set_config('search_path', '\"app\", public', true);",
        ] {
            let sql = format!("{set}\nALTER TABLE users ADD COLUMN x int;\nUPDATE users SET x = 1;");
            let statements = cutover_migration::split_statements(&sql).unwrap();
            let script = Script {
                text: &sql,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None,
            };
            let linted = keyed_linter(100).lint(&script);
            let found: Vec<(Severity, Option<&str>)> =
                linted.diagnostics.iter().map(|d| (d.severity, d.table.as_deref())).collect();
            assert_eq!(found, [(Severity::Error, Some("app.users"))], "{set}");
        }
        // Back to the session's own path: `users` is public's, small here.
        let reset =
            "SET search_path = app;\nRESET search_path;\nALTER TABLE users ADD COLUMN x int;\nUPDATE users SET x = 1;";
        assert_eq!(severities(&mut keyed_linter(100), reset), [Severity::Warning]);
        // SET LOCAL ends with its transaction.
        let local = "BEGIN;\nSET LOCAL search_path = app;\nCOMMIT;\nALTER TABLE users ADD COLUMN x int;\nUPDATE users SET x = 1;";
        assert_eq!(severities(&mut keyed_linter(100), local), [Severity::Warning]);
        // Without a database, the path still decides which table it is.
        let sql = "SET search_path = app;\nALTER TABLE users ADD COLUMN x int;\nUPDATE users SET x = 1;";
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script = Script {
            text: sql,
            statements: &statements,
            in_transaction: true,
            no_transaction_by: None,
            has_down: None,
        };
        let linted = static_linter().lint(&script);
        assert_eq!(linted.diagnostics[0].table.as_deref(), Some("app.users"));
        // Only for the rest of its file.
        let mut linter = keyed_linter(100);
        assert_eq!(severities(&mut linter, "SET search_path = app;\nSELECT 1;"), []);
        assert_eq!(
            severities(&mut linter, "ALTER TABLE users ADD COLUMN x int;\nUPDATE users SET x = 1;"),
            [Severity::Warning]
        );
    }

    /// Review 7's #30 (lemmy): a materialized view made while the views it replaces are
    /// locked cannot be filled in batches: the help makes it under another name first.
    #[test]
    fn a_materialized_view_filled_under_a_lock_is_told_to_be_made_first_under_another_name() {
        let sql = "ALTER TABLE posts ADD COLUMN newest timestamptz;\nCREATE MATERIALIZED VIEW post_mview AS SELECT * FROM posts;";
        let mut linter = Linter::new(LintConfig { only_rule: Some(RULE.to_string()), ..LintConfig::default() });
        crate::rules::test_utils::lint_next(
            &mut linter,
            "CREATE TABLE posts (id int);\nCREATE VIEW post_view AS SELECT * FROM posts;",
            true,
        );
        let found = crate::rules::test_utils::lint_next(&mut linter, sql, true);
        let finding = found.iter().find(|d| d.rule == RULE).expect("the fill under the lock is reported");
        assert!(finding.message.starts_with("CREATE MATERIALIZED VIEW"), "{}", finding.message);
        assert!(
            finding.help.starts_with("a materialized view is filled by the statement that makes it"),
            "{}",
            finding.help
        );
        assert!(
            !finding.help.contains("cutover rewrite") && !finding.help.contains("batches before"),
            "{}",
            finding.help
        );
    }

    /// A `.toml` beside the migration is cutover's runner's; under another tool the help names
    /// the command, which runs beside any.
    #[test]
    fn the_help_fits_the_tool_that_runs_the_file() {
        let sql = "ALTER TABLE users ADD COLUMN score int;\nUPDATE users SET score = 0;";
        let diesel = crate::rules::test_utils::run_file(sql, RULE, "diesel", None);
        assert!(!diesel.contains(".toml") && diesel.contains("cutover backfill --table users"), "{diesel}");
        let cutover = crate::rules::test_utils::run_file(sql, RULE, "cutover", None);
        assert!(cutover.contains(".toml file beside the migration"), "{cutover}");
        // Moved alone, a write that later statements need (lemmy, documenso: a SET NOT NULL of
        // what it fills, a drop of what it reads) breaks them: the help says what goes with it.
        for help in [&diesel, &cutover] {
            assert!(help.contains("with the statements after it that need its result or drop what it reads"), "{help}");
        }
    }

    #[test]
    fn a_table_created_by_an_earlier_pending_migration_is_new_on_the_live_database() {
        let mut linter = live_linter(400_000);
        assert!(severities(&mut linter, "CREATE TABLE events (id int);").is_empty());
        let backfill = "ALTER TABLE events ADD COLUMN n int;\nUPDATE events SET n = 0;";
        // It holds only the rows the migrations still to run wrote, and nothing running uses it.
        assert_eq!(severities(&mut linter, backfill), []);
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
