//! Rule `mysql-blocking-ddl`: its documentation is `DOC`, printed by `cutover explain mysql-blocking-ddl`.

use crate::rules::{Context, Finding};
use crate::{Algorithm, Effect, LockMode};

pub(crate) const RULE: &str = "mysql-blocking-ddl";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A DDL statement on an existing table that MySQL/MariaDB runs in place but without concurrent writes (`LOCK=NONE` impossible): a `FULLTEXT` or `SPATIAL` index, an `AUTO_INCREMENT` column, or an explicit `LOCK=SHARED`/`LOCK=EXCLUSIVE`.\n\
\n\
## Why is this bad?\n\
Writes to the table wait for the whole operation; and while the statement waits for its metadata lock, every later query on the table queues behind it.\n\
\n\
## Instead\n\
Build such indexes when the table is created or small, or through an online schema change tool; never ask for `LOCK=SHARED`/`EXCLUSIVE` on a live table, and write `LOCK=NONE` so the server refuses what it cannot do online.\n\
\n\
```sql\n\
CREATE TABLE posts_v2 (id bigint PRIMARY KEY, body text, FULLTEXT INDEX posts_body (body));\n\
-- then move the data over, and the code\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE FULLTEXT INDEX posts_body ON posts (body);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Some(ddl) = &effect.mysql else { return Vec::new() };
    let Some((table, _)) = effect.locks.first() else { return Vec::new() };
    if ddl.concurrent_dml || ddl.algorithm == Some(Algorithm::Copy) || ctx.is_new(table) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("writes to `{table}` wait for the whole statement: {}", ddl.reason),
        "build it when the table is new or small, or with an online schema change tool; write LOCK=NONE on live tables",
    )
    .on(table, LockMode::Share)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_mysql;

    fn lint(sql: &str, server: &str) -> String {
        run_mysql(sql, RULE, server)
    }

    #[test]
    fn fires_on_ddl_without_concurrent_writes() {
        assert!(lint("CREATE FULLTEXT INDEX i ON posts (body);", "mariadb-10.11").contains("FULLTEXT"));
        assert!(lint("ALTER TABLE posts ADD COLUMN n int, LOCK=EXCLUSIVE;", "mariadb-10.11").contains("LOCK=EXCLUSIVE"));
    }

    #[test]
    fn a_table_with_a_fulltext_index_is_rebuilt_with_writes_blocked() {
        // Observed on MariaDB 10.11: ADD/DROP COLUMN and NOT NULL take INPLACE with LOCK=SHARED
        // on such a table (INSTANT and LOCK=NONE refused), a plain index is still online.
        let config = crate::rules::test_utils::mysql_config("mariadb-10.11");
        let lint = |created: &str, sql: &str| {
            crate::rules::test_utils::run_with(&[(created, false), (sql, false)], RULE, config.clone())
        };
        let inline = "CREATE TABLE posts (id int PRIMARY KEY, body text, n int, FULLTEXT KEY posts_body (body));";
        for sql in ["ALTER TABLE posts ADD COLUMN c int;", "ALTER TABLE posts DROP COLUMN n;"] {
            assert!(lint(inline, sql).contains("has a FULLTEXT index"), "{sql}");
        }
        let later = "CREATE TABLE posts (id int PRIMARY KEY, body text, n int);\nCREATE FULLTEXT INDEX posts_body ON posts (body);";
        assert!(lint(later, "ALTER TABLE posts ADD COLUMN c int;").contains("has a FULLTEXT index"));
        assert_eq!(lint(inline, "CREATE INDEX posts_n ON posts (n);"), "");
        assert_eq!(lint(inline, "ALTER TABLE posts RENAME COLUMN n TO m;"), "");
        assert_eq!(lint("CREATE TABLE posts (id int PRIMARY KEY, n int);", "ALTER TABLE posts ADD COLUMN c int;"), "");
        // From the tester: a FULLTEXT index dropped, by then or by the statement itself, blocks
        // nothing more; its hidden FTS_DOC_ID column stays and rules out INSTANT (observed:
        // INPLACE with writes going on).
        for (created, sql) in [
            (format!("{inline}\nDROP INDEX posts_body ON posts;"), "ALTER TABLE posts ADD COLUMN c int;"),
            (format!("{inline}\nALTER TABLE posts DROP INDEX posts_body;"), "ALTER TABLE posts ADD COLUMN c int;"),
            (later.to_string(), "ALTER TABLE posts ADD COLUMN c int, DROP INDEX posts_body;"),
        ] {
            assert_eq!(lint(&created, sql), "", "{created} {sql}");
            let advice = crate::rules::test_utils::run_with(
                &[(&created, false), (sql, false)],
                "mysql-missing-algorithm",
                config.clone(),
            );
            assert!(advice.contains("can run INPLACE"), "{sql}: {advice}");
        }
    }

    #[test]
    fn does_not_fire_on_online_ddl() {
        assert_eq!(lint("CREATE INDEX i ON posts (author_id);", "mariadb-10.11"), "");
        assert_eq!(lint("ALTER TABLE posts ADD COLUMN n int, ALGORITHM=INSTANT, LOCK=NONE;", "mariadb-10.11"), "");
    }
}
