//! Rule `mysql-missing-algorithm`: its documentation is `DOC`, printed by `cutover explain mysql-missing-algorithm`.

use crate::rules::{Context, Finding};
use crate::{Action, Algorithm, Effect};

pub(crate) const RULE: &str = "mysql-missing-algorithm";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
An `ALTER TABLE` of an existing table that MySQL/MariaDB can do online (INSTANT or INPLACE with concurrent writes) but that does not say `ALGORITHM=` and `LOCK=`.\n\
\n\
## Why is this bad?\n\
Without them the server silently falls back to the most expensive algorithm it needs, so a small change in the statement (or a server version without INSTANT for it) turns an online change into a blocking table copy that nobody saw coming.\n\
\n\
## Instead\n\
Write the algorithm cutover predicts: `ALGORITHM=INSTANT` alone (MySQL refuses any `LOCK=` but `DEFAULT` beside it), or `ALGORITHM=INPLACE, LOCK=NONE`. The server then refuses the statement instead of copying the table when it cannot do it online.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN nickname varchar(50), ALGORITHM=INSTANT;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN nickname varchar(50);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Some(ddl) = &effect.mysql else { return Vec::new() };
    let altering = matches!(effect.action, Action::AlterTable { .. } | Action::Rename { object: "column", .. });
    let Some((table, _)) = effect.locks.first() else { return Vec::new() };
    let Some(algorithm) = ddl.algorithm.filter(|a| *a != Algorithm::Copy) else { return Vec::new() };
    // `LOCK=NONE` (or MariaDB's `ALTER ONLINE`) makes the server refuse rather than block too.
    let refuses = ddl.explicit_algorithm.is_some() || ddl.explicit_lock.as_deref() == Some("NONE");
    if !altering || ctx.is_new(table) || refuses || !ddl.concurrent_dml {
        return Vec::new();
    }
    let name = algorithm.name();
    // MySQL refuses `ALGORITHM=INSTANT` with any `LOCK=` but DEFAULT.
    let clause = match algorithm {
        Algorithm::Instant => "ALGORITHM=INSTANT".to_string(),
        _ => format!("ALGORITHM={name}, LOCK=NONE"),
    };
    vec![Finding::new(
        RULE,
        format!("this ALTER of `{table}` can run {name} with concurrent writes, but does not say so: the server would copy the table instead if it could not"),
        &format!("append `, {clause}` so the server refuses rather than blocks"),
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_mysql;

    fn lint(sql: &str, server: &str) -> String {
        run_mysql(sql, RULE, server)
    }

    /// The help of the findings on `sql`, a MySQL migration on `server`.
    fn run_mysql_help(sql: &str, server: &str) -> String {
        let config = crate::LintConfig {
            dialect: crate::Dialect::Mysql,
            mysql_server: server.parse().expect("a server version"),
            only_rule: Some(RULE.to_string()),
            ..crate::LintConfig::default()
        };
        crate::rules::test_utils::diagnostics(sql, config).iter().map(|d| d.help.clone()).collect()
    }

    #[test]
    fn fires_on_online_alters_without_algorithm() {
        assert!(lint("ALTER TABLE users ADD COLUMN n int;", "mariadb-10.11").contains("INSTANT"));
        assert!(lint("ALTER TABLE users ADD COLUMN n int FIRST;", "mysql-8.0.20").contains("INPLACE"));
        // Advice MySQL 8.0 accepts: "Incorrect usage of ALGORITHM=INSTANT and LOCK=NONE/SHARED/EXCLUSIVE".
        let instant = run_mysql_help("ALTER TABLE users ADD COLUMN n int;", "mysql-8.0.30");
        assert!(instant.contains("`, ALGORITHM=INSTANT`"), "{instant}");
        let inplace = run_mysql_help("ALTER TABLE users ADD COLUMN n int FIRST;", "mysql-8.0.20");
        assert!(inplace.contains("`, ALGORITHM=INPLACE, LOCK=NONE`"), "{inplace}");
    }

    #[test]
    fn does_not_fire_when_explicit_copying_or_new() {
        assert_eq!(lint("ALTER TABLE users ADD COLUMN n int, ALGORITHM=INSTANT, LOCK=NONE;", "mariadb-10.11"), "");
        assert_eq!(lint("ALTER TABLE users MODIFY COLUMN n bigint;", "mariadb-10.11"), "");
        assert_eq!(lint("CREATE TABLE users (id int);\nALTER TABLE users ADD COLUMN n int;", "mariadb-10.11"), "");
        // `LOCK=NONE` makes the server refuse rather than block too; OPTIMIZE takes no ALGORITHM.
        assert_eq!(lint("ALTER TABLE users ADD COLUMN n int, LOCK=NONE;", "mariadb-10.11"), "");
        assert_eq!(lint("ALTER ONLINE TABLE users ADD COLUMN n int;", "mariadb-10.11"), "");
        assert_eq!(lint("OPTIMIZE TABLE users;", "mariadb-10.11"), "");
    }
}
