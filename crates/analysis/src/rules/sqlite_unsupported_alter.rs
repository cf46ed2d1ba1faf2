//! Rule `sqlite-unsupported-alter`: its documentation is `DOC`, printed by `cutover explain sqlite-unsupported-alter`.

use crate::rules::{Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "sqlite-unsupported-alter";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
An `ALTER TABLE` form that SQLite does not have: changing a column's type, nullability or default, adding or dropping a constraint, adding a `PRIMARY KEY`/`UNIQUE` column. SQLite's `ALTER TABLE` only renames tables and columns, adds plain columns and drops columns.\n\
\n\
## Why is this bad?\n\
SQLite refuses the statement (a syntax error), so the migration fails; the usual workaround written by hand - create a new table, copy, drop, rename - goes wrong easily (foreign keys, triggers, indexes and views on the old table).\n\
\n\
## Instead\n\
SQLite's documented 12-step rebuild, in one transaction: `PRAGMA foreign_keys=OFF`; create the new table with the wanted definition; `INSERT INTO new SELECT ... FROM old`; drop the old table; rename the new one; recreate its indexes, triggers and views; `PRAGMA foreign_key_check`; commit; `PRAGMA foreign_keys=ON`. Or write the change as a declarative migration (`<version>_<name>.toml`, e.g. `op = \"change_type\"`): `cutover start` does the rebuild for you.\n\
\n\
```sql\n\
CREATE TABLE users_new (id integer PRIMARY KEY, email text NOT NULL, name text);\n\
INSERT INTO users_new (id, email, name) SELECT id, email, name FROM users;\n\
DROP TABLE users;\n\
ALTER TABLE users_new RENAME TO users;\n\
CREATE INDEX users_email ON users (email);\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    let Some(what) = &effect.unsupported else { return Vec::new() };
    vec![Finding::new(
        RULE,
        format!("SQLite has no {what}: it refuses this statement"),
        "rebuild the table (SQLite's 12-step procedure: new table, copy, drop, rename, indexes and triggers, PRAGMA foreign_key_check) in one transaction, or declare the change in a `.toml` migration and let `cutover start` rebuild it",
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::{Dialect, LintConfig};

    fn lint(sql: &str) -> String {
        run_with(&[(sql, true)], RULE, LintConfig { dialect: Dialect::Sqlite, ..LintConfig::default() })
    }

    #[test]
    fn fires_on_alters_sqlite_lacks() {
        assert!(lint("ALTER TABLE users ALTER COLUMN email SET NOT NULL;").contains("SET NOT NULL"));
        assert!(lint("ALTER TABLE users ADD CONSTRAINT c CHECK (id > 0);").contains("ADD CONSTRAINT"));
    }

    #[test]
    fn does_not_fire_on_what_sqlite_has() {
        assert_eq!(lint("ALTER TABLE users ADD COLUMN bio text;\nALTER TABLE users RENAME COLUMN bio TO about;\nALTER TABLE users DROP COLUMN about;"), "");
    }
}
