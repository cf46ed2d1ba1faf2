//! Rule `add-column-required`: its documentation is `DOC`, printed by `cutover explain add-column-required`.

use crate::rules::{Context, Finding};
use crate::{Action, AlterCommand, Dialect, Effect, LockMode};

pub(crate) const RULE: &str = "add-column-required";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Adding a NOT NULL column without a default (nor a value computed for every row: identity, serial, a stored generated expression) to an existing table. Not reported where the table holds no row: created earlier in the migration, or proven empty earlier in the same transaction (an earlier such column, a `TRUNCATE`).\n\
\n\
## Why is this bad?\n\
PostgreSQL refuses it on a table with any row (`column contains null values`): the migration fails in production, where the table is not empty, though it passed on an empty development database. MySQL gives the existing rows the type's implicit default (0, '', a zero date that strict mode refuses) rather than a chosen value; SQLite refuses it on any table. And the release still running, which does not know the column, fails to insert.\n\
\n\
## Instead\n\
Add the column nullable or with a default; backfill it in batches (`cutover backfill`); then set NOT NULL with a validated CHECK.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN age int;\n\
-- fill it with `cutover backfill`, then:\n\
-- next migration\n\
ALTER TABLE users ADD CONSTRAINT users_age_not_null CHECK (age IS NOT NULL) NOT VALID;\n\
-- next migration\n\
ALTER TABLE users VALIDATE CONSTRAINT users_age_not_null;\n\
-- next migration\n\
ALTER TABLE users ALTER COLUMN age SET NOT NULL;\n\
ALTER TABLE users DROP CONSTRAINT users_age_not_null;\n\
```\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN age int NOT NULL;\n\
```";

/// One finding for the statement, naming every such column: the statement fails (or fills the
/// rows) once, whatever the number of columns.
pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AlterTable { table, commands } = &effect.action else { return Vec::new() };
    // A table that held no row before the statement: it succeeds, and no old code uses the
    // columns' absence for a new table. (The statement's own proof does not count: it is what
    // fails when the table has rows.)
    if ctx.empty_before(table) || ctx.rows_deleted.contains(table) {
        return Vec::new();
    }
    let columns: Vec<String> = commands
        .iter()
        .filter_map(|command| match command {
            AlterCommand::AddColumn { column, not_null: true, default: None, filled_per_row: None, .. } => {
                Some(format!("`{column}`"))
            }
            _ => None,
        })
        .collect();
    if columns.is_empty() {
        return Vec::new();
    }
    let (what, them) = match columns.as_slice() {
        [one] => (format!("column {one} is"), "it"),
        many => (format!("columns {} are", many.join(", ")), "them"),
    };
    let consequence = match ctx.dialect {
        Dialect::Postgres => format!("PostgreSQL refuses this on a table with any row, so the ALTER fails unless `{table}` is empty"),
        Dialect::Mysql => "existing rows get the type's implicit default (0, '', a zero date that strict mode refuses), not a value you chose".to_string(),
        Dialect::Sqlite => "SQLite refuses this on any table (Cannot add a NOT NULL column with default value NULL)".to_string(),
    };
    // Each engine's own way to NOT NULL (tester 20: MySQL was told PostgreSQL's CHECK).
    let help = match ctx.dialect {
        Dialect::Postgres => "add it with a default (or nullable), backfill in batches, then add NOT NULL through a validated CHECK",
        Dialect::Mysql => "add it with a default (INSTANT: existing rows and the running release's inserts get it), or nullable, backfilled in batches (`cutover backfill`), then made NOT NULL (`MODIFY ... NOT NULL, ALGORITHM=INPLACE, LOCK=NONE`: an online rebuild)",
        Dialect::Sqlite => "add it with a non-NULL default (SQLite then accepts NOT NULL), or nullable",
    };
    vec![Finding::new(
        RULE,
        format!("{what} added NOT NULL without a default: {consequence}; and the release still running, which does not know {them}, cannot insert"),
        help,
    )
    .on(table, LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_mysql, run_with};
    use crate::LintConfig;

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users ADD COLUMN age int NOT NULL", RULE);
        assert!(rendered.contains("add-column-required"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0", RULE);
    }

    /// The message says what PostgreSQL does: the ALTER fails on a table with rows (it does
    /// not leave rows empty).
    #[test]
    fn says_that_the_alter_fails_on_a_table_with_rows() {
        let found = lint_errors("ALTER TABLE users ADD COLUMN age int NOT NULL", RULE);
        assert!(found.contains("the ALTER fails unless `users` is empty"), "{found}");
        assert!(!found.contains("existing rows have no value"), "{found}");
        let mysql = run_mysql("ALTER TABLE users ADD COLUMN age int NOT NULL", RULE, "mysql-8.0");
        assert!(mysql.contains("implicit default"), "{mysql}");
        // Tester 20: MySQL was told PostgreSQL's validated CHECK.
        let config = crate::rules::test_utils::mysql_config("mariadb-10.11");
        let mut linter = crate::Linter::new(crate::LintConfig { only_rule: Some(RULE.to_string()), ..config });
        let found =
            crate::rules::test_utils::lint_next(&mut linter, "ALTER TABLE users ADD COLUMN age int NOT NULL;", false);
        assert!(found[0].help.contains("INSTANT") && !found[0].help.contains("CHECK"), "{}", found[0].help);
    }

    /// Prisma's shape: several required columns in one statement, then more on the same table.
    /// The first statement fails on a table with rows; once it ran, the table is empty for the
    /// rest of the transaction, and the later ones are fine.
    #[test]
    fn one_finding_until_the_table_is_proven_empty() {
        let sql = r#"ALTER TABLE "Session" ADD COLUMN "expiresAt" TIMESTAMP(3) NOT NULL,
ADD COLUMN "updatedAt" TIMESTAMP(3) NOT NULL;
ALTER TABLE "Session" ADD COLUMN "sessionToken" TEXT NOT NULL;"#;
        let found = run_with(&[(sql, true)], RULE, LintConfig::default());
        assert_eq!(found.lines().count(), 1, "{found}");
        assert!(found.contains("columns `expiresAt`, `updatedAt` are added"), "{found}");
        // Outside a transaction the first statement's lock is gone before the second.
        let found = run_with(&[(sql, false)], RULE, LintConfig::default());
        assert_eq!(found.lines().count(), 2, "{found}");
        // A statement that may add rows between them ends the proof.
        let refilled = "ALTER TABLE t ADD COLUMN a int NOT NULL;\nINSERT INTO t (a) VALUES (1);\nALTER TABLE t ADD COLUMN b int NOT NULL;";
        assert_eq!(run_with(&[(refilled, true)], RULE, LintConfig::default()).lines().count(), 2);
        // TRUNCATE in the transaction empties the table first.
        lint_ok("TRUNCATE users;\nALTER TABLE users ADD COLUMN age int NOT NULL;", RULE);
    }
}
