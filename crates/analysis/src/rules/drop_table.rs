//! Rule `drop-table`: its documentation is `DOC`, printed by `cutover explain drop-table`.

use crate::rules::{Context, Finding};
use crate::{Dialect, LockMode};

pub(crate) const RULE: &str = "drop-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Dropping a table (but not SQLite's rebuild of one: a table created in the same transaction, filled from it, and renamed to its name).\n\
\n\
## Why is this bad?\n\
The data is gone, and running code that still reads or writes the table fails.\n\
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

/// Reported once the migration is read: a table dropped and replaced in the same SQLite
/// transaction (its rebuild) keeps its data.
pub(crate) fn check_migration(ctx: &Context) -> Vec<(usize, Finding)> {
    ctx.tables_dropped
        .iter()
        .filter(|(_, table, in_transaction)| !rebuilt(ctx, table, *in_transaction))
        .map(|(line, table, _)| {
            let finding = Finding::new(
                RULE,
                format!("dropping `{table}` destroys its data, and code that still uses it fails"),
                "first deploy code that no longer uses the table, then drop it in a later migration (keep a copy if you may need it back)",
            )
            .on(table, LockMode::AccessExclusive);
            (*line, finding)
        })
        .collect()
}

/// Whether the dropped `table` is SQLite's rebuild of it: a table created in the same transaction
/// (filled from the old one) takes its name. SQLite has one writer, so no write can slip in between
/// the copy and the drop; on a server, concurrent writes made after the copy would be lost.
fn rebuilt(ctx: &Context, table: &str, in_transaction: bool) -> bool {
    ctx.dialect == Dialect::Sqlite && in_transaction && ctx.renamed_new_tables.contains(table)
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::{Dialect, LintConfig};

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
