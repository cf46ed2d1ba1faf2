//! Rule `mysql-implicit-commit`: its documentation is `DOC`, printed by `cutover explain mysql-implicit-commit`.

use crate::rules::{Context, Finding};

pub(crate) const RULE: &str = "mysql-implicit-commit";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A MySQL/MariaDB migration that mixes DDL (`CREATE`, `ALTER`, `DROP`, ...) with statements that change data (`INSERT`, `UPDATE`, `DELETE`).\n\
\n\
## Why is this bad?\n\
MySQL commits implicitly before and after every DDL statement, so the migration is never one transaction: when a later statement fails, the earlier ones stay applied. cutover records progress per statement and resumes at the failing one, but a half-applied migration is still live until it is fixed, and a data change that was meant to go with the DDL may already have run.\n\
\n\
## Instead\n\
One kind of change per migration: the DDL in one, the data change in the next (or, for large tables, `cutover backfill`).\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN plan varchar(20), ALGORITHM=INSTANT;\n\
-- next migration\n\
UPDATE users SET plan = 'free' WHERE plan IS NULL;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN plan varchar(20);\n\
UPDATE users SET plan = 'free';\n\
```";

pub(crate) fn check_migration(ctx: &Context) -> Vec<(usize, Finding)> {
    let (Some(ddl), Some(dml)) = (ctx.mysql_first_ddl, ctx.mysql_first_dml) else { return Vec::new() };
    let finding = Finding::new(
        RULE,
        format!("this migration mixes DDL (line {ddl}) with data changes (line {dml}): MySQL commits each DDL statement on its own, so a failure leaves it half applied"),
        "put the DDL and the data change in separate migrations",
    );
    vec![(ddl.max(dml), finding)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_mysql;

    fn lint(sql: &str, server: &str) -> String {
        run_mysql(sql, RULE, server)
    }

    #[test]
    fn fires_when_ddl_and_dml_are_mixed() {
        let found =
            lint("ALTER TABLE users ADD COLUMN plan varchar(20);\nUPDATE users SET plan = 'free';", "mariadb-10.11");
        assert!(found.contains("line 1") && found.contains("line 2"), "{found}");
    }

    #[test]
    fn does_not_fire_on_ddl_only_or_dml_only() {
        assert_eq!(
            lint("ALTER TABLE users ADD COLUMN plan varchar(20);\nCREATE INDEX i ON users (plan);", "mariadb-10.11"),
            ""
        );
        assert_eq!(
            lint("INSERT INTO plans VALUES ('free');\nUPDATE users SET plan = 'free' WHERE id = 1;", "mariadb-10.11"),
            ""
        );
    }
}
