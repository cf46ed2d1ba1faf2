//! Rule `rename-column`: its documentation is `DOC`, printed by `cutover explain rename-column`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "rename-column";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Renaming a column of an existing table (not one added earlier in the same migration, such as a copy renamed to the name of the column it replaces: `drop-column` judges that swap). Column renames used to be `rename-relation` findings: ignores and levels that name `rename-relation` still apply to them.\n\
\n\
## Why is this bad?\n\
Running code still reads and writes the old name and fails the moment the migration commits; in a rolling deploy the old release keeps running for minutes. An ORM that selects every column by name fails on every query of the table.\n\
\n\
## Instead\n\
Expand and contract: add the new column, keep both in step with a trigger, fill it, move the code over, then drop the old one.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN full_name text;\n\
-- next migration\n\
CREATE FUNCTION users_full_name() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.full_name := coalesce(NEW.full_name, NEW.name); NEW.name := coalesce(NEW.name, NEW.full_name); RETURN NEW; END $$;\n\
CREATE TRIGGER users_full_name BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_full_name();\n\
-- fill it with `cutover backfill`, move the code to full_name; then:\n\
-- next migration\n\
DROP TRIGGER users_full_name ON users;\n\
-- cutover:ignore drop-column reason=\"no release uses users.name since the move\"\n\
ALTER TABLE users DROP COLUMN name;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users RENAME COLUMN name TO full_name;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    // MySQL's `CHANGE old new type` renames inside an ALTER of its own kind.
    if let (Some(ddl), Some((table, _))) = (&effect.mysql, effect.locks.first()) {
        if !ddl.renamed_columns.is_empty() {
            return ddl
                .renamed_columns
                .iter()
                .flat_map(|(old, new)| {
                    let rename = Effect {
                        action: Action::Rename {
                            object: "column",
                            table: table.clone(),
                            name: format!("{table}.{old}"),
                            new_name: new.clone(),
                        },
                        mysql: None,
                        ..effect.clone()
                    };
                    check(&rename, ctx)
                })
                .collect();
        }
    }
    let Action::Rename { object: "column", table, name, new_name } = &effect.action else { return Vec::new() };
    let column = name.rsplit('.').next().unwrap_or(name);
    // No running code knows a column this migration added, nor a table by the name this
    // migration gave it (the table's rename is the finding).
    if ctx.is_new(table)
        || ctx.renamed_here.contains(table)
        || ctx.added_columns.contains(&(table.clone(), column.to_string()))
    {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("renaming column `{name}` to `{new_name}` breaks every running query that names `{column}` (an ORM that selects every column included)"),
        "expand and contract: add the new column, keep both in step with a trigger, move the code, then drop the old one",
    )
    .on(table, LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_a_column_rename() {
        let rendered = lint_errors(r"ALTER TABLE users RENAME COLUMN name TO full_name", RULE);
        assert!(rendered.contains("renaming column `users.name` to `full_name`"), "{rendered}");
        lint_ok(r"ALTER TABLE users RENAME TO people", RULE);
    }

    /// MySQL's `CHANGE old new type` renames as well as (maybe) retyping; a change of case
    /// alone renames nothing MySQL tells apart, and a column added in the same migration is
    /// no running code's.
    #[test]
    fn fires_on_a_mysql_change_that_renames() {
        use crate::rules::test_utils::run_mysql;
        let found = run_mysql("ALTER TABLE users CHANGE name full_name varchar(100);", RULE, "mariadb-10.11");
        assert!(found.contains("renaming column `users.name` to `full_name`"), "{found}");
        for sql in [
            "ALTER TABLE users CHANGE name name varchar(200);",
            "ALTER TABLE users CHANGE name Name varchar(100);",
            "ALTER TABLE users MODIFY name varchar(200);",
            "ALTER TABLE users ADD COLUMN nick text;\nALTER TABLE users CHANGE nick nickname text;",
        ] {
            assert_eq!(run_mysql(sql, RULE, "mariadb-10.11"), "", "{sql}");
        }
    }

    #[test]
    fn does_not_fire_on_columns_no_running_code_knows() {
        lint_ok("CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b", RULE);
        // lemmy: the table was renamed first; old code lost it then (`rename-relation` says so).
        lint_ok(
            "ALTER TABLE community_user_ban RENAME TO community_person_ban;\nALTER TABLE community_person_ban RENAME COLUMN user_id TO person_id;",
            RULE,
        );
        // The copy of a copy-then-swap takes the old column's name: `drop-column` reports it.
        lint_ok(
            "ALTER TABLE users ADD COLUMN name_json jsonb;
UPDATE users SET name_json = to_jsonb(name);
ALTER TABLE users DROP COLUMN name;
ALTER TABLE users RENAME COLUMN name_json TO name;",
            RULE,
        );
    }

    /// An ignore written when column renames were `rename-relation` findings still applies.
    #[test]
    fn an_ignore_of_the_former_id_still_applies() {
        lint_ok(
            "-- cutover:ignore rename-relation reason=\"no release reads users.name\"\nALTER TABLE users RENAME COLUMN name TO full_name;",
            RULE,
        );
    }
}
