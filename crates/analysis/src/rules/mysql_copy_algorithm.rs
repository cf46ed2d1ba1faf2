//! Rule `mysql-copy-algorithm`: its documentation is `DOC`, printed by `cutover explain mysql-copy-algorithm`.

use crate::rules::{Context, Finding};
use crate::{Algorithm, Effect, LockMode};

pub(crate) const RULE: &str = "mysql-copy-algorithm";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
An `ALTER TABLE` of an existing table that MySQL/MariaDB carries out with `ALGORITHM=COPY`: a new column type (`MODIFY`/`CHANGE COLUMN`), a STORED generated column, a foreign key with `foreign_key_checks` on, a `CHECK` constraint, dropping the primary key. The algorithm is worked out per operation and per server (`--server-version mariadb-10.11`, `mysql-8.0.36`).\n\
\n\
## Why is this bad?\n\
The server copies the table row by row into a new one and blocks every write for the whole copy (reads too at the final swap); on a large table that is minutes to hours of failed writes, and twice the disk space meanwhile.\n\
\n\
## Instead\n\
Make the change on a copy kept in step and swapped in: `cutover rewrite --table orders --alter \"ALTER TABLE orders MODIFY COLUMN total DECIMAL(12,2) NOT NULL\"` (InnoDB tables without foreign keys or triggers of their own; with a revert window), pt-online-schema-change or gh-ost. Or expand and contract: add a new column (INSTANT), backfill it in batches (`cutover backfill`), switch the code, drop the old one. For foreign keys, add them when the table is created.\n\
\n\
```sql\n\
ALTER TABLE orders ADD COLUMN total_v2 DECIMAL(12,2), ALGORITHM=INSTANT;\n\
-- then fill it with `cutover backfill`, switch the code, and drop the old column\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE orders MODIFY COLUMN total DECIMAL(12,2) NOT NULL;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Some(ddl) = &effect.mysql else { return Vec::new() };
    let Some((table, _)) = effect.locks.first() else { return Vec::new() };
    if ddl.algorithm != Some(Algorithm::Copy) || ctx.is_new(table) {
        return Vec::new();
    }
    let help = match &ddl.engine_without_online_ddl {
        // Tester 20: a foreign key was told to go through a new column.
        None if ddl.adds_foreign_key => format!(
            "add it with `SET foreign_key_checks = 0` before the ALTER in the same session (in place, writes go on; the rows already there are not checked, so look for orphans first with a LEFT JOIN), then `SET foreign_key_checks = 1`; or through `cutover rewrite --table {table} --alter \"...\"`"
        ),
        // Expand and contract would copy it too: every new column does.
        Some(engine) => format!(
            "convert `{table}` from {engine} to InnoDB once (`ALTER TABLE {table} ENGINE=InnoDB`: a copy with writes blocked, in a maintenance window or with pt-online-schema-change); then this change runs online"
        ),
        None => format!(
            "make it online on a copy with `cutover rewrite --table {table} --alter \"...\"` (or pt-online-schema-change, gh-ost), or expand and contract: add a new column (INSTANT), backfill it in batches, switch the code, drop the old one"
        ),
    };
    vec![Finding::new(
        RULE,
        format!("this ALTER copies all of `{table}` (ALGORITHM=COPY) and blocks its writes until done: {}", ddl.reason),
        &help,
    )
    .on(table, LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_mysql;

    fn lint(sql: &str, server: &str) -> String {
        run_mysql(sql, RULE, server)
    }

    #[test]
    fn fires_on_copying_alters() {
        assert!(lint("ALTER TABLE orders MODIFY COLUMN total bigint;", "mariadb-10.11").contains("ALGORITHM=COPY"));
        assert!(lint("ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);", "mysql-8.0.36")
            .contains("FOREIGN KEY"));
        assert!(lint("ALTER TABLE orders ADD COLUMN n int, ALGORITHM=COPY;", "mysql-8.0.36").contains("COPY"));
    }

    /// Tester 20: the help for a foreign key spoke of a new column; it says how a foreign key
    /// is added without the copy.
    #[test]
    fn a_foreign_key_is_told_how_to_go_without_the_copy() {
        let config = crate::rules::test_utils::mysql_config("mariadb-10.11");
        let mut linter = crate::Linter::new(crate::LintConfig { only_rule: Some(RULE.to_string()), ..config });
        let found = crate::rules::test_utils::lint_next(
            &mut linter,
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);",
            false,
        );
        assert!(
            found[0].help.contains("SET foreign_key_checks = 0") && !found[0].help.contains("new column"),
            "{}",
            found[0].help
        );
    }

    /// Tester 10: `RENAME TABLE users TO tmp, accounts TO users, tmp TO accounts` swaps a table
    /// a migration still to run made with a live one in one statement: the live rows are
    /// under `accounts` after it, which is new no more.
    #[test]
    fn a_swap_in_one_rename_statement_leaves_no_table_new() {
        let config = crate::rules::test_utils::mysql_config("mariadb-10.11");
        let mut linter = crate::Linter::new(crate::LintConfig { only_rule: Some(RULE.to_string()), ..config });
        let mut last = Vec::new();
        for (sql, to_run) in [
            ("CREATE TABLE users (id int PRIMARY KEY, email varchar(100));", false),
            ("CREATE TABLE accounts (id int PRIMARY KEY, email varchar(100));", true),
            ("RENAME TABLE users TO tmp, accounts TO users, tmp TO accounts;", true),
            ("ALTER TABLE accounts MODIFY email varchar(20);", true),
        ] {
            linter.still_to_run(to_run);
            last = crate::rules::test_utils::lint_next(&mut linter, sql, false);
        }
        assert_eq!(last.len(), 1, "{last:?}");
    }

    #[test]
    fn does_not_fire_on_online_alters_or_new_tables() {
        assert_eq!(lint("ALTER TABLE orders ADD COLUMN note text;", "mariadb-10.11"), "");
        assert_eq!(lint("CREATE TABLE t (id int);\nALTER TABLE t MODIFY COLUMN id bigint;", "mariadb-10.11"), "");
        // The replay knows `n` is int already: only its nullability changes, in place.
        let migrations = [
            ("CREATE TABLE orders (id int PRIMARY KEY, n int);", false),
            ("ALTER TABLE orders MODIFY COLUMN n int NOT NULL;", false),
        ];
        let config = crate::rules::test_utils::mysql_config("mariadb-10.11");
        assert_eq!(crate::rules::test_utils::run_with(&migrations, RULE, config.clone()), "");
        // A `CHANGE` that renames and keeps the type: instant (MariaDB 10.4+), not a copy.
        let renamed = [
            ("CREATE TABLE users (id int PRIMARY KEY, name varchar(100));", false),
            ("ALTER TABLE users CHANGE name full_name varchar(100);", false),
        ];
        assert_eq!(crate::rules::test_utils::run_with(&renamed, RULE, config.clone()), "");
        // Dropping an indexed column drops its index: in place, not instant.
        let dropped = [
            ("CREATE TABLE users (id int PRIMARY KEY, name varchar(100), note text, KEY users_name (name));", false),
            ("ALTER TABLE users DROP COLUMN name;\nALTER TABLE users DROP COLUMN note;", false),
        ];
        let missing = crate::rules::test_utils::run_with(&dropped, "mysql-missing-algorithm", config.clone());
        assert!(
            missing.contains("can run INPLACE") && missing.contains("can run INSTANT"),
            "the indexed column in place, the other instant: {missing}"
        );
        let retyped = [renamed[0], ("ALTER TABLE users CHANGE name full_name varchar(300);", false)];
        assert!(crate::rules::test_utils::run_with(&retyped, RULE, config).contains("ALGORITHM=COPY"));
    }

    /// Found by the rehearsal oracle on the corpus (Kratos, Authelia), checked on MariaDB 10.11.
    #[test]
    fn column_changes_the_server_makes_without_a_copy() {
        let config = crate::rules::test_utils::mysql_config("mariadb-10.11");
        let created = "CREATE TABLE users (id int PRIMARY KEY, email varchar(20) NOT NULL, name varchar(60), note char(36) NOT NULL) DEFAULT CHARSET=utf8mb4;";
        let lint = |sql: &str, rule: &str| {
            crate::rules::test_utils::run_with(&[(created, false), (sql, false)], rule, config.clone())
        };
        for sql in [
            "ALTER TABLE users MODIFY email varchar(60) NOT NULL;",
            "ALTER TABLE users MODIFY note char(36) NOT NULL DEFAULT 'x';",
            "ALTER TABLE users CHANGE note remark char(36) NOT NULL;",
            "ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4;",
        ] {
            assert_eq!(lint(sql, RULE), "", "{sql}");
            assert!(lint(sql, "mysql-missing-algorithm").contains("can run INSTANT"), "{sql}");
        }
        // Across the length byte (240 to 280 bytes), shorter, or nullability anew: not instant.
        assert!(lint("ALTER TABLE users MODIFY name varchar(70);", RULE).contains("ALGORITHM=COPY"));
        assert!(lint("ALTER TABLE users MODIFY email varchar(10) NOT NULL;", RULE).contains("ALGORITHM=COPY"));
        assert!(lint("ALTER TABLE users MODIFY note char(36);", "mysql-missing-algorithm").contains("can run INPLACE"));
        assert!(lint("ALTER TABLE users CONVERT TO CHARACTER SET latin1;", RULE).contains("ALGORITHM=COPY"));
        // The name and nullability a CHANGE gives are the schema's from then on.
        let renamed = [
            (created, false),
            ("ALTER TABLE users CHANGE note remark char(36) NULL;", false),
            ("ALTER TABLE users MODIFY remark char(36) NULL;", false),
        ];
        let found = crate::rules::test_utils::run_with(&renamed, "mysql-missing-algorithm", config.clone());
        assert!(found.contains("can run INSTANT"), "{found}");
    }

    #[test]
    fn a_table_of_another_engine_is_copied_for_all_but_the_dictionary() {
        // Observed on MariaDB 10.11: MyISAM and Aria take ALGORITHM=COPY, LOCK=SHARED for a new
        // column, index or NOT NULL; a rename or a default is instant.
        let config = crate::rules::test_utils::mysql_config("mariadb-10.11");
        for engine in ["MyISAM", "ENGINE = Aria", "engine=`MEMORY`"] {
            let created = if engine.contains('=') {
                format!("CREATE TABLE logs (id int PRIMARY KEY, n int) {engine};")
            } else {
                format!("CREATE TABLE logs (id int PRIMARY KEY, n int) ENGINE={engine};")
            };
            let lint = |sql: &str| {
                crate::rules::test_utils::run_with(&[(&created, false), (sql, false)], RULE, config.clone())
            };
            for sql in [
                "ALTER TABLE logs ADD COLUMN c int;",
                "CREATE INDEX logs_n ON logs (n);",
                "ALTER TABLE logs DROP COLUMN n;",
            ] {
                let found = lint(sql);
                assert!(
                    found.contains("table: MyISAM has no online") || found.contains("has no online ALTER"),
                    "{engine} {sql}: {found}"
                );
            }
            assert_eq!(lint("ALTER TABLE logs RENAME COLUMN n TO m;"), "", "{engine}");
            assert_eq!(lint("ALTER TABLE logs ALTER COLUMN n SET DEFAULT 1;"), "", "{engine}");
        }
        // An engine set by a migration is the table's from then on, either way.
        let converted = [
            ("CREATE TABLE logs (id int PRIMARY KEY) ENGINE=InnoDB;", false),
            ("ALTER TABLE logs ENGINE=MyISAM;", false),
            ("ALTER TABLE logs ADD COLUMN c int;", false),
        ];
        let found = crate::rules::test_utils::run_with(&converted, RULE, config.clone());
        assert!(found.contains("`logs` is a MyISAM table"), "{found}");
        let back = [
            ("CREATE TABLE logs (id int PRIMARY KEY) ENGINE=MyISAM;", false),
            ("ALTER TABLE logs ENGINE=InnoDB;", false),
            ("ALTER TABLE logs ADD COLUMN c int;", false),
        ];
        let found = crate::rules::test_utils::run_with(&back, RULE, config.clone());
        assert_eq!(found, "", "InnoDB after the conversion: {found}");
        // From the tester: a table made LIKE a MyISAM table is MyISAM.
        let like = [
            ("CREATE TABLE logs (id int PRIMARY KEY) ENGINE=MyISAM;\nCREATE TABLE logs2 LIKE logs;", false),
            ("ALTER TABLE logs2 ADD COLUMN c int;", false),
        ];
        let found = crate::rules::test_utils::run_with(&like, RULE, config.clone());
        assert!(found.contains("`logs2` is a MyISAM table"), "{found}");
        let optimized = [
            ("CREATE TABLE t (id int PRIMARY KEY);\nCREATE TABLE m (id int PRIMARY KEY) ENGINE=Aria;", false),
            ("OPTIMIZE TABLE t, m;", false),
        ];
        let found = crate::rules::test_utils::run_with(&optimized, RULE, config.clone());
        assert!(found.contains("`m` is an Aria table"), "each table OPTIMIZE names: {found}");
        let innodb = [
            ("CREATE TABLE logs (id int PRIMARY KEY) ENGINE=InnoDB;", false),
            ("ALTER TABLE logs ADD COLUMN c int;", false),
        ];
        assert_eq!(crate::rules::test_utils::run_with(&innodb, RULE, config), "");
    }
}
