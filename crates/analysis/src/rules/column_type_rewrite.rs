//! Rule `column-type-rewrite`: its documentation is `DOC`, printed by `cutover explain column-type-rewrite`.

use crate::rules::{alter_cost_findings, Context, Finding};
use crate::schema::{type_change, TypeChange};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "column-type-rewrite";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER COLUMN ... TYPE` on an existing table, when the conversion rewrites the table: a narrower or different type, a `USING` expression. Conversions PostgreSQL does in the catalog alone (`varchar(n)` to `text` or to a longer `varchar`, `numeric(p,s)` to a wider precision, `cidr` to `inet`) pass: cutover replays the earlier migrations to know the column's current type.\n\
\n\
## Why is this bad?\n\
A rewrite copies every row and rebuilds every index of the table under an ACCESS EXCLUSIVE lock: no reads, no writes, for minutes on a large table. Old application code may also break on the new type.\n\
\n\
## Instead\n\
On PostgreSQL, `cutover rewrite --table users --alter \"ALTER TABLE users ALTER COLUMN id TYPE bigint\"` makes the change on a copy kept in step by a trigger, copied in batches, verified, and swapped in within the lock timeout, with a revert window; it also changes a primary key that foreign keys and views point at (in a declarative migration, `op = \"rewrite\"` does the same at `cutover start`). Or expand and contract: add a column of the new type, keep it in step (a trigger or dual writes), backfill it in batches with `cutover backfill`, move reads, then drop the old column. For a length limit, widen (rewrite-free) or use a `CHECK (length(col) <= n) NOT VALID` constraint and validate it.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN email_short varchar(50);\n\
-- next migration\n\
CREATE FUNCTION users_email_short() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.email_short := NEW.email; RETURN NEW; END $$;\n\
CREATE TRIGGER users_email_short BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_email_short();\n\
-- fill it with `cutover backfill`, move the reads, deploy code that no longer uses email; then:\n\
-- next migration\n\
DROP TRIGGER users_email_short ON users;\n\
-- cutover:ignore drop-column reason=\"no release reads users.email since the move\"\n\
ALTER TABLE users DROP COLUMN email;\n\
```\n\
\n\
```sql\n\
-- a length limit without a rewrite\n\
ALTER TABLE users ADD CONSTRAINT users_email_length CHECK (length(email) <= 50) NOT VALID;\n\
-- next migration\n\
ALTER TABLE users VALIDATE CONSTRAINT users_email_length;\n\
```\n\
\n\
```sql\n\
-- users.nickname is varchar(20): widening it rewrites nothing\n\
ALTER TABLE users ALTER COLUMN nickname TYPE varchar(40);\n\
```\n\
\n\
## Example\n\
```sql\n\
-- users.email was created as text in an earlier migration\n\
ALTER TABLE users ALTER COLUMN email TYPE varchar(50);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_cost_findings(effect, ctx, |table, command| {
        let AlterCommand::AlterColumnType { column, new_type, using } = command else { return None };
        let old = ctx.schema.column_type(table, column);
        let message = match type_change(old, new_type, *using, ctx.utc) {
            TypeChange::CatalogOnly => return None,
            TypeChange::Rewrite if *using => {
                format!("changing `{column}` to {new_type} USING an expression rewrites all of `{table}` under an ACCESS EXCLUSIVE lock")
            }
            TypeChange::Rewrite => {
                let old = old.map(ToString::to_string).unwrap_or_default();
                let utc = if (old == "timestamp" || old == "timestamptz") && ctx.pg_version >= 12 {
                    " (unless the session time zone is UTC, PostgreSQL 12+)"
                } else {
                    ""
                };
                format!("changing `{column}` from {old} to {new_type} rewrites all of `{table}` and its indexes under an ACCESS EXCLUSIVE lock{utc}")
            }
            TypeChange::Unknown => format!(
                "changing `{column}` to {new_type}: its current type is not in the linted migrations, and most type changes rewrite all of `{table}` under an ACCESS EXCLUSIVE lock"
            ),
        };
        Some(
            Finding::new(
                RULE,
                message,
                "make the change online with `cutover rewrite --table T --alter \"...\"` (a copy kept in step and swapped in), or add a column of the new type, keep it in step, backfill it in batches, move reads, then drop the old one",
            )
            .on(table, LockMode::AccessExclusive),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::rules::test_utils::{lint_errors, lint_ok};
    use crate::LintConfig;

    fn directory(migrations: &[&str]) -> String {
        let migrations: Vec<(&str, bool)> = migrations.iter().map(|sql| (*sql, true)).collect();
        run_with(&migrations, RULE, LintConfig::default())
    }

    #[test]
    fn the_directory_case() {
        let create = "CREATE TABLE users (id bigint PRIMARY KEY, bio varchar(200), email text);";
        assert_eq!(directory(&[create, "ALTER TABLE users ALTER COLUMN bio TYPE text;"]), "");
        let found = directory(&[
            create,
            "ALTER TABLE users ALTER COLUMN bio TYPE text;",
            "ALTER TABLE users ALTER COLUMN email TYPE varchar(50);",
        ]);
        assert!(found.contains("from text to varchar(50) rewrites all of `users`"), "{found}");
    }

    /// lemmy sets the session's time zone at the top of the file: from there, timestamp to
    /// timestamptz is a catalog change (PostgreSQL 12+); not in the next file.
    #[test]
    fn a_time_zone_set_to_utc_in_the_file_spares_the_rewrite() {
        let create = "CREATE TABLE posts (id bigint PRIMARY KEY, published timestamp);";
        let change = "ALTER TABLE posts ALTER COLUMN published TYPE timestamptz;";
        for set in ["SET timezone = 'UTC';", "SET TIME ZONE 'UTC';", "SET LOCAL timezone TO 'Etc/UTC';"] {
            assert_eq!(directory(&[create, &format!("{set}\n{change}")]), "", "{set}");
        }
        let found = directory(&[
            create,
            "SET TIME ZONE 'Europe/Paris';\nALTER TABLE posts ALTER COLUMN published TYPE timestamptz;",
        ]);
        assert!(found.contains("rewrites all of `posts`"), "{found}");
        let found = directory(&[create, "SET TIME ZONE 'UTC';", change]);
        assert!(found.contains("rewrites all of `posts`"), "the next file is a new session: {found}");
    }

    #[test]
    fn fires_on_rewrites_and_unknown_types() {
        let found = lint_errors("ALTER TABLE users ALTER COLUMN id TYPE bigint", RULE);
        assert!(found.contains("current type is not in the linted migrations"), "{found}");
        let found = lint_errors("ALTER TABLE users ALTER COLUMN n TYPE int USING trim(n)::int", RULE);
        assert!(found.contains("USING"), "{found}");
        let found = directory(&["CREATE TABLE t (at timestamp);", "ALTER TABLE t ALTER COLUMN at TYPE timestamptz;"]);
        assert!(found.contains("UTC"), "{found}");
        let plain_using =
            directory(&["CREATE TABLE t (s varchar(9));", "ALTER TABLE t ALTER COLUMN s TYPE text USING s;"]);
        assert_eq!(plain_using, "", "USING the column itself is the plain conversion");
        let computed =
            directory(&["CREATE TABLE t (s varchar(9));", "ALTER TABLE t ALTER COLUMN s TYPE text USING lower(s);"]);
        assert!(computed.contains("USING"), "{computed}");
    }

    #[test]
    fn does_not_fire_on_catalog_only_changes_or_new_tables() {
        lint_ok("CREATE TABLE t (n int);\nALTER TABLE t ALTER COLUMN n TYPE bigint;", RULE);
        assert_eq!(
            directory(&["CREATE TABLE t (p numeric(10,2));", "ALTER TABLE t ALTER COLUMN p TYPE numeric(14,2);"]),
            ""
        );
        assert_eq!(
            directory(&["CREATE TABLE t (s varchar(20));", "ALTER TABLE t ALTER COLUMN s TYPE varchar(40);"]),
            ""
        );
    }
}
