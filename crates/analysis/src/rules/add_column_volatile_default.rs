//! Rule `add-column-volatile-default`: its documentation is `DOC`, printed by `cutover explain add-column-volatile-default`.

use crate::rules::{alter_cost_findings, Context, Finding};
use crate::{AlterCommand, DefaultValue, Effect, LockMode};

pub(crate) const RULE: &str = "add-column-volatile-default";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Adding a column whose default calls a volatile function (`random()`, `gen_random_uuid()`, `clock_timestamp()`, `nextval()`).\n\
\n\
## Why is this bad?\n\
Since PostgreSQL 11 a constant default is stored once in the catalog; a volatile one must be computed for every row, so the table is rewritten under an ACCESS EXCLUSIVE lock.\n\
\n\
## Instead\n\
Add the column without a default (or with a constant one), set the volatile default afterwards for new rows, and backfill the existing rows in batches.\n\
\n\
```sql\n\
-- one statement: the existing rows stay NULL, new rows get a value\n\
ALTER TABLE users ADD COLUMN token uuid, ALTER COLUMN token SET DEFAULT gen_random_uuid();\n\
-- then fill the existing rows with `cutover backfill`\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_cost_findings(effect, ctx, |table, command| {
        match command {
            AlterCommand::AddColumn { column, default: Some(DefaultValue::Volatile { function }), .. } => Some(
                Finding::new(
                    RULE,
                    format!("column `{column}` gets the volatile default {function}(): `{table}` is rewritten under an ACCESS EXCLUSIVE lock, which blocks reads and writes"),
                    "add the column without a default, then SET DEFAULT for new rows, then backfill existing rows in batches",
                )
                .on(table, LockMode::AccessExclusive),
            ),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()", RULE);
        assert!(rendered.contains("add-column-volatile-default"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE users ADD COLUMN created timestamptz DEFAULT now()", RULE);
    }

    /// Found by a tester: `ALTER FUNCTION ... VOLATILE` (or IMMUTABLE) declares it anew.
    #[test]
    fn alter_function_changes_the_volatility_judged() {
        let stable = "CREATE FUNCTION code() RETURNS text STABLE LANGUAGE sql AS $$ SELECT 'x' $$;\n";
        lint_ok(&format!("{stable}ALTER TABLE users ADD COLUMN c text DEFAULT code();"), RULE);
        let found = lint_errors(
            &format!("{stable}ALTER FUNCTION code() VOLATILE;\nALTER TABLE users ADD COLUMN c text DEFAULT code();"),
            RULE,
        );
        assert!(found.contains("code"), "{found}");
        let found = lint_errors(
            &format!("{stable}ALTER ROUTINE code() VOLATILE;\nALTER TABLE users ADD COLUMN c text DEFAULT code();"),
            RULE,
        );
        assert!(found.contains("code"), "{found}");
        let volatile = "CREATE FUNCTION code() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;\n";
        // Renamed, it is as volatile under its new name.
        let found = lint_errors(
            &format!(
                "{volatile}ALTER FUNCTION code() RENAME TO calm;\nALTER TABLE users ADD COLUMN c text DEFAULT calm();"
            ),
            RULE,
        );
        assert!(found.contains("calm"), "{found}");
        lint_ok(
            &format!("{volatile}ALTER FUNCTION public.code() IMMUTABLE;\nALTER TABLE users ADD COLUMN c text DEFAULT code();"),
            RULE,
        );
    }

    /// Found by rehearsing crates.io: a default calling a function the migrations declared
    /// (VOLATILE by default) rewrote the table.
    #[test]
    fn functions_declared_in_the_migrations_are_judged_by_their_volatility() {
        let declare =
            "CREATE FUNCTION random_string(int4) RETURNS text AS $$ SELECT md5(random()::text) $$ LANGUAGE sql;\n";
        let found = lint_errors(
            &format!("{declare}ALTER TABLE emails ADD COLUMN token text NOT NULL DEFAULT random_string(26);"),
            RULE,
        );
        assert!(found.contains("random_string"), "{found}");
        let immutable = "CREATE FUNCTION slug(text) RETURNS text IMMUTABLE AS $$ SELECT lower($1) $$ LANGUAGE sql;\n";
        lint_ok(&format!("{immutable}ALTER TABLE emails ADD COLUMN s text DEFAULT slug('x');"), RULE);
        // Not declared in the migrations: taken for one of PostgreSQL's own, which a default rarely makes volatile.
        lint_ok("ALTER TABLE emails ADD COLUMN s text DEFAULT to_char(now(), 'YYYY');", RULE);
    }
}
