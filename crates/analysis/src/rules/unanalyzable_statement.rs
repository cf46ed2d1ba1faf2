//! Rule `unanalyzable-statement`: its documentation is `DOC`, printed by `cutover explain unanalyzable-statement`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "unanalyzable-statement";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement whose effect cutover cannot see: a `DO` block, a procedure `CALL`, an `EXECUTE` of a prepared statement.\n\
\n\
## Why is this bad?\n\
The code inside may take any lock, rewrite any table or loop over every row; none of the other rules can check it, so the migration's safety rests on a reader.\n\
\n\
## Instead\n\
Write the DDL as plain statements where possible; where the block is needed, review what it locks and ignore this rule with the reason: `-- cutover:ignore unanalyzable-statement reason=\"...\"`.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN x int;\n\
```\n\
\n\
## Example\n\
```sql\n\
DO $$ BEGIN EXECUTE 'ALTER TABLE ' || tbl || ' ADD COLUMN x int'; END $$;\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    let Action::Opaque { what } = &effect.action else { return Vec::new() };
    let message = if what == "DO block" {
        // Its statements are read (their locks and rows are reported): what is not known is
        // which of them run, and what their DDL leaves (tester 17 read "cannot see" as false).
        "cutover reads the statements of this DO block, not which of them run (its conditions and loops), and does not follow the schema changes they make".to_string()
    } else {
        format!("cutover cannot see what this {what} locks or rewrites")
    };
    vec![Finding::new(RULE, message, "write it as plain statements, or review it and ignore this rule with the reason")]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_opaque_code() {
        assert!(lint_errors("DO $$ BEGIN PERFORM 1; END $$", RULE).contains("DO block"));
        assert!(lint_errors("CALL migrate_data()", RULE).contains("CALL"));
    }

    /// A SELECT calling the user's own volatile function runs code cutover cannot see (a
    /// backfill inside the function, say); PostgreSQL's functions and non-volatile ones (which
    /// PostgreSQL forbids to write) are plain SQL.
    #[test]
    fn fires_on_a_call_of_the_users_volatile_function() {
        let declared = "CREATE FUNCTION fill_users() RETURNS void LANGUAGE sql AS 'UPDATE users SET status = 1';
CREATE FUNCTION pure(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1';\n";
        let found = lint_errors(&format!("{declared}SELECT fill_users();"), RULE);
        assert!(found.contains("call of `fill_users`"), "{found}");
        let found = lint_errors(&format!("{declared}SELECT count(*) FROM public.fill_users();"), RULE);
        assert!(found.contains("call of `fill_users`"), "{found}");
        lint_ok(&format!("{declared}SELECT pure(1);"), RULE);
        lint_ok("SELECT now(), pg_advisory_lock(1);", RULE);
    }

    /// A function the live database has (not the migrations) counts the same.
    #[test]
    fn a_live_function_counts_too() {
        let mut schema = crate::Schema::default();
        schema.insert_function("fill_users", true);
        let mut linter = crate::Linter::with_schema(
            crate::LintConfig { only_rule: Some(RULE.to_string()), ..crate::LintConfig::default() },
            schema,
        );
        let sql = "SELECT fill_users();";
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script = crate::Script {
            text: sql,
            statements: &statements,
            in_transaction: true,
            no_transaction_by: None,
            has_down: None,
        };
        let found = linter.lint(&script).diagnostics;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("call of `fill_users`"), "{found:?}");
    }

    #[test]
    fn does_not_fire_on_plain_sql() {
        lint_ok("SELECT 1", RULE);
        lint_ok("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", RULE);
    }
}
