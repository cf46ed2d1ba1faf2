//! Rule `drop-table`: its documentation is `DOC`, printed by `cutover explain drop-table`.

use crate::changes::{Change, CopiedInto, DroppedTable, Replacement};
use crate::rules::{Context, Finding};
use crate::{Dialect, LockMode, Severity};

pub(crate) const RULE: &str = "drop-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Dropping a table (but not SQLite's rebuild of one: a table created in the same transaction, filled from it, and renamed to its name). A table dropped and created again under its name (or a case change of it) is reported as losing its rows, a warning when the migration fills the new one again from other data (a cache rebuilt from a view); a copy renamed to its name as losing the writes made after the copy, a warning when the same transaction locked the table against writes before the copy; a table whose rows were all copied into another (a merge of tables) as losing the writes made after the copy and breaking the code that uses it.\n\
\n\
## Why is this bad?\n\
The data is gone, and running code that still reads or writes the table fails. With `CASCADE`, PostgreSQL also drops the views over it and the foreign keys of other tables that reference it (their rows stay, no longer checked).\n\
\n\
## Instead\n\
Stop all code from using the table first (deploy that), keep a copy of it (`pg_dump --table`, a backup), then drop it in a later migration, saying why in an ignore. (Renaming it aside breaks code as a drop does, and `rename-relation` flags it.)\n\
\n\
```sql\n\
-- once no running release uses people, and with a copy kept (pg_dump --table people):\n\
-- cutover:ignore drop-table reason=\"unused since release 42; dumped before the drop\"\n\
DROP TABLE people;\n\
```\n\
\n\
## Example\n\
```sql\n\
DROP TABLE users;\n\
```";

/// Reported once the migration is read: a table created after the drop under its name, or a
/// copy renamed to it, can follow the drop.
pub(crate) fn check_migration(ctx: &Context) -> Vec<(usize, Finding)> {
    ctx.changes
        .0
        .iter()
        .filter_map(|(at, change)| {
            let Change::DropTable(dropped) = change else { return None };
            let replacement = ctx.changes.table_replacement(*at, dropped, ctx.row_writes);
            if rebuilt(ctx, &replacement, at.transaction.is_some()) {
                return None;
            }
            let copied = ctx.changes.copied_into(*at, dropped);
            Some((at.line, finding(dropped, replacement, copied).on(&dropped.table, LockMode::AccessExclusive)))
        })
        .collect()
}

fn finding(dropped: &DroppedTable, replacement: Replacement, copied: Option<CopiedInto>) -> Finding {
    let table = &dropped.table;
    let cascade = cascade_note(dropped);
    // Severities as for `drop-column`: lost rows and broken running code are errors; a swap
    // that no write can slip past is a warning (what is left is its lock and the views and
    // keys that do not follow the copy).
    match (replacement, copied) {
        // Filled again from other data (a cache rebuilt from a view, say): whether rows are
        // lost depends on what the refill computes, which a reviewer has to read.
        (Replacement::Recreated { name, refilled: true }, _) => {
            let renamed = if name == *table { String::new() } else { format!(" as `{name}`") };
            Finding::new(
                RULE,
                format!("`{table}` is dropped and re-created{renamed} in the same migration, then filled again (CREATE TABLE ... AS, or a later statement): rows the refill does not rebuild from other data are lost; verify that it holds derived data only (a cache){cascade}"),
                "to keep its rows, ALTER it instead, or copy them aside first and keep the copy in step until the swap",
            )
            .at(Severity::Warning)
        }
        (Replacement::Recreated { name, refilled: false }, _) => {
            let renamed = if name == *table { String::new() } else { format!(" as `{name}`") };
            Finding::new(
                RULE,
                format!("`{table}` is dropped and re-created{renamed} in the same migration: its rows are lost (nothing fills the new table){cascade}"),
                "to rename it, ALTER TABLE ... RENAME (expand and contract for running code); to change it, ALTER TABLE; or copy the rows into the new table before the drop",
            )
        }
        (Replacement::Swapped { copy, locked_throughout: false, .. }, _) => Finding::new(
            RULE,
            format!("`{table}` is replaced by a copy (`{copy}`): writes made between the copy and the drop are lost unless kept in step (a trigger, or expand and contract){cascade}"),
            "lock the table against writes (LOCK TABLE ... IN EXCLUSIVE MODE) in the same transaction before the copy, or keep the copy in step with a trigger until the drop",
        ),
        (Replacement::Swapped { copy, locked_throughout: true, .. }, _) => Finding::new(
            RULE,
            format!("`{table}` is replaced by a copy (`{copy}`) in one transaction that locked it against writes before the copy: no write is lost, but the views and foreign keys on `{table}` do not follow the copy{cascade}"),
            "re-create the views, foreign keys and grants of the old table on the copy; the lock is held for the whole copy",
        )
        .at(Severity::Warning),
        // Its rows live on in the other table (review 7: lemmy's merge of its modlog tables
        // was told "destroys its data"); what is lost is what the copy did not see, and what
        // breaks is the code that still uses the table.
        (Replacement::None, Some(CopiedInto { into, line, locked_throughout: false })) => Finding::new(
            RULE,
            format!("`{table}` is dropped after its rows were copied into `{into}` (line {line}): writes made to it between the copy and the drop are lost, and code that still uses `{table}` fails{cascade}"),
            "lock it against writes (LOCK TABLE ... IN EXCLUSIVE MODE) in the same transaction before the copy, and first deploy code that writes to the new table instead",
        ),
        (Replacement::None, Some(CopiedInto { into, line, locked_throughout: true })) => Finding::new(
            RULE,
            format!("`{table}` is dropped after its rows were copied into `{into}` (line {line}) under a lock that kept writes out: no row is lost, but code that still uses `{table}` fails{cascade}"),
            "first deploy code that reads and writes the new table instead, then drop it in a later migration",
        ),
        (Replacement::None, None) => Finding::new(
            RULE,
            format!("dropping `{table}` destroys its data, and code that still uses it fails{cascade}"),
            "first deploy code that no longer uses the table, then drop it in a later migration (keep a copy if you may need it back)",
        ),
    }
}

/// What `CASCADE` takes with the table, for the message.
fn cascade_note(dropped: &DroppedTable) -> String {
    if !dropped.cascade {
        return String::new();
    }
    let keys = match dropped.referenced_by.as_slice() {
        [] => "the foreign keys of other tables that reference it".to_string(),
        tables => format!(
            "the foreign keys of {} that reference it",
            tables.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    format!("; CASCADE also drops the views over it (code that reads them fails too) and {keys} (their rows stay, unchecked)")
}

/// Whether the dropped table is SQLite's rebuild of it: a table created in the same transaction
/// (filled from the old one) takes its name. SQLite has one writer, so no write can slip in between
/// the copy and the drop; on a server, concurrent writes made after the copy would be lost.
fn rebuilt(ctx: &Context, replacement: &Replacement, in_transaction: bool) -> bool {
    ctx.dialect == Dialect::Sqlite && in_transaction && matches!(replacement, Replacement::Swapped { .. })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with, severities_with};
    use crate::{Dialect, LintConfig};

    /// On a live schema, `DROP TABLE IF EXISTS` of a table not there loses nothing (tester 9:
    /// a scratch table dropped before it is made again was reported as rows lost).
    #[test]
    fn a_drop_if_exists_of_a_table_the_live_database_lacks_loses_nothing() {
        let sql = "DROP TABLE IF EXISTS orders_tmp;\nCREATE TABLE orders_tmp (id int);";
        let lint = |mut linter: crate::Linter| {
            crate::rules::test_utils::lint_next(&mut linter, sql, true).iter().filter(|d| d.rule == RULE).count()
        };
        let config = LintConfig { only_rule: Some(RULE.to_string()), ..LintConfig::default() };
        assert_eq!(lint(crate::Linter::with_schema(config.clone(), crate::Schema::default())), 0);
        // Without a database the table may be there.
        assert_eq!(lint(crate::Linter::new(config)), 1);
    }

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"DROP TABLE users", RULE);
        assert!(rendered.contains("drop-table"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(
            r"CREATE TABLE tmp (id int);
DROP TABLE tmp",
            RULE,
        );
    }

    /// A table dropped and created again under its name (or a case change of it) lost its
    /// rows; a copy renamed to its name lost the writes made after the copy, unless the table
    /// was locked against writes from before the copy.
    #[test]
    fn re_creations_and_swaps_are_told_apart() {
        let pg = LintConfig::default();
        let recreated = "DROP TABLE users;\nCREATE TABLE users (id bigint PRIMARY KEY, email text);";
        let found = run_with(&[(recreated, true)], RULE, pg.clone());
        assert!(
            found.contains("`users` is dropped and re-created in the same migration: its rows are lost"),
            "{found}"
        );
        // A cache rebuilt from a view: what is lost depends on the query, a warning to read.
        let rebuilt = "DROP TABLE post_aggregates_fast;\nCREATE TABLE post_aggregates_fast AS SELECT * FROM post_aggregates_view;";
        let found = run_with(&[(rebuilt, true)], RULE, pg.clone());
        assert!(found.contains("then filled again"), "{found}");
        let case = "DROP TABLE users;\nCREATE TABLE \"Users\" (id bigint PRIMARY KEY);";
        assert!(run_with(&[(case, true)], RULE, pg.clone()).contains("re-created as `Users`"));
        let swap = "CREATE TABLE users_new (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO users_new SELECT id, email FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;";
        let found = run_with(&[(swap, true)], RULE, pg.clone());
        assert!(
            found.contains("replaced by a copy (`users_new`): writes made between the copy and the drop are lost unless kept in step"),
            "{found}"
        );
        let locked = format!("LOCK TABLE users IN EXCLUSIVE MODE;\n{swap}");
        let found = run_with(&[(&locked, true)], RULE, pg.clone());
        assert!(found.contains("no write is lost"), "{found}");
        assert!(run_with(&[(&locked, false)], RULE, pg).contains("are lost unless kept in step"), "no transaction");
    }

    /// Review 7 (lemmy's merge of its modlog tables): a table whose rows were copied into
    /// another that stays does not lose them; the writes after the copy are lost unless a lock
    /// kept them out, and the code that uses it breaks either way (an error still).
    #[test]
    fn a_table_merged_into_another_is_told_what_it_loses() {
        let pg = LintConfig::default();
        let setup = ("CREATE TABLE modlog (kind text, mod_id int);\nCREATE TABLE admin_add (mod_person_id int, removed bool);\nCREATE TABLE person (id int, instance_id int);", false);
        let merged = "INSERT INTO modlog (kind, mod_id)\nSELECT 'AdminAdd', mod_person_id FROM admin_add a JOIN person p ON p.id = a.mod_person_id;\nDROP TABLE admin_add;";
        let found = run_with(&[setup, (merged, true)], RULE, pg.clone());
        assert!(
            found.contains("`admin_add` is dropped after its rows were copied into `modlog` (line 1): writes made to it between the copy and the drop are lost"),
            "{found}"
        );
        assert_eq!(
            severities_with(&[setup, (merged, true)], RULE),
            [crate::Severity::Error],
            "code that uses it breaks"
        );
        let locked = format!("LOCK TABLE admin_add IN EXCLUSIVE MODE;\n{merged}");
        let found = run_with(&[setup, (&locked, true)], RULE, pg.clone());
        assert!(found.contains("under a lock that kept writes out: no row is lost"), "{found}");
        // A copy of some rows only, or after the drop, is no copy of the table.
        let some = "INSERT INTO modlog (kind, mod_id) SELECT 'AdminAdd', mod_person_id FROM admin_add WHERE removed;\nDROP TABLE admin_add;";
        assert!(run_with(&[setup, (some, true)], RULE, pg).contains("destroys its data"));
    }

    /// CASCADE names what goes with the table: the views over it, the keys that reference it.
    #[test]
    fn cascade_says_what_goes_with_the_table() {
        let pg = LintConfig::default();
        let setup = (
            "CREATE TABLE accounts (id bigint PRIMARY KEY);
CREATE TABLE invoices (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts);",
            true,
        );
        let found = run_with(&[setup, ("DROP TABLE accounts CASCADE;", true)], RULE, pg.clone());
        assert!(found.contains("CASCADE also drops the views over it"), "{found}");
        assert!(found.contains("the foreign keys of `invoices` that reference it"), "{found}");
        assert!(!run_with(&[setup, ("DROP TABLE accounts;", true)], RULE, pg).contains("CASCADE"));
        // MySQL accepts CASCADE and does nothing with it.
        let mysql = crate::rules::test_utils::run_mysql("DROP TABLE accounts CASCADE", RULE, "mysql-8.0");
        assert!(!mysql.contains("CASCADE also"), "{mysql}");
    }

    /// SQLite's rebuild (create, copy, drop, rename, in the migration's transaction) keeps the
    /// data; the same on a server, or outside a transaction, may lose writes.
    #[test]
    fn a_sqlite_rebuild_keeps_the_data() {
        let rebuild = "CREATE TABLE users_new (id integer PRIMARY KEY, email text NOT NULL);
INSERT INTO users_new (id, email) SELECT id, email FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;";
        let sqlite = LintConfig { dialect: Dialect::Sqlite, ..LintConfig::default() };
        assert_eq!(run_with(&[(rebuild, true)], RULE, sqlite.clone()), "");
        assert_ne!(run_with(&[(rebuild, false)], RULE, sqlite.clone()), "", "outside a transaction");
        assert_ne!(run_with(&[(rebuild, true)], RULE, LintConfig::default()), "", "PostgreSQL");
        let dropped_only = "CREATE TABLE users_new (id integer PRIMARY KEY);\nDROP TABLE users;";
        assert_ne!(run_with(&[(dropped_only, true)], RULE, sqlite), "", "not replaced");
    }
}
