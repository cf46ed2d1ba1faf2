//! Rule `table-already-exists`: its documentation is `DOC`, printed by `cutover explain table-already-exists`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "table-already-exists";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
With a database at hand (`--database-url`, and the gate of `up`): `CREATE TABLE` without `IF NOT EXISTS` of a table the database already has, and that no migration before it to apply drops or renames away.\n\
\n\
## Why is this bad?\n\
The statement fails on this database (`relation already exists`): the migration stops there, at the deploy, where the lint could have said so in review. The table there may be one made by hand, or by a migration whose history was lost, and its rows are not what the migration expects.\n\
\n\
## Instead\n\
Find out where the table came from. If it is the one the migration makes, adopt the database (`cutover baseline`) or take the history over from the tool that made it (`cutover adopt`); if it is another table under the same name, rename one of them.\n\
\n\
```sql\n\
-- the database's own `audit_log` is kept as it is:\n\
CREATE TABLE audit_events (id bigint PRIMARY KEY, at timestamptz NOT NULL);\n\
```\n\
\n\
## Example\n\
```sql\n\
-- on a database that has audit_log already\n\
CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz NOT NULL);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::CreateTable { table, temporary: false, .. } = &effect.action else { return Vec::new() };
    // An applied migration made the table the database has: only those still to run count.
    if effect.idempotent != Some(false) || ctx.is_new(table) || (ctx.live && !ctx.to_run) {
        return Vec::new();
    }
    // Only what the live database says (its catalog's tables, followed through the renames
    // and drops of the migrations before this one): a folder alone cannot know what a
    // database holds.
    let live = ctx.table_moves.live_table(table).is_some_and(|live| ctx.live_rows.contains_key(live));
    if !live {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("the database already has a table `{table}`: this CREATE TABLE fails here (relation already exists)"),
        "find out where it came from: the migration's own (`cutover baseline` or `cutover adopt` records it as applied) or another table of the same name (rename one)",
    )
    .on(table, crate::LockMode::AccessExclusive)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::{LintConfig, Linter, Schema};

    fn live_linter() -> Linter {
        let mut schema = Schema::default();
        schema.insert_table("audit_log", crate::schema::Table::default());
        let config = LintConfig {
            only_rule: Some(RULE.into()),
            // Never analysed: the catalog knows the table, not its size.
            live_rows: [("audit_log".to_string(), -1)].into_iter().collect(),
            ..LintConfig::default()
        };
        Linter::with_schema(config, schema)
    }

    /// Tester 20: `lint --database-url` said nothing of a `CREATE TABLE` of a table the database
    /// had, and `up` failed on it.
    #[test]
    fn a_table_the_database_has_is_told_and_one_it_loses_first_is_not() {
        let found = crate::rules::test_utils::lint_next(&mut live_linter(), "CREATE TABLE audit_log (id int);", true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("already has a table `audit_log`"), "{}", found[0].message);
        for fine in [
            "CREATE TABLE IF NOT EXISTS audit_log (id int);",
            "CREATE TABLE other (id int);",
            "ALTER TABLE audit_log RENAME TO audit_log_old;\nCREATE TABLE audit_log (id int);",
            "DROP TABLE audit_log;\nCREATE TABLE audit_log (id int);",
            "CREATE TEMP TABLE audit_log (id int);",
        ] {
            let found = crate::rules::test_utils::lint_next(&mut live_linter(), fine, true);
            assert!(found.is_empty(), "{fine}: {found:?}");
        }
        // Without a database, nothing is known of what it has.
        let found = crate::rules::test_utils::lint_next(
            &mut Linter::new(LintConfig { only_rule: Some(RULE.into()), ..LintConfig::default() }),
            "CREATE TABLE audit_log (id int);\nCREATE TABLE audit_log (id int);",
            true,
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
