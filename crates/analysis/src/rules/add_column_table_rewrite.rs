//! Rule `add-column-table-rewrite`: its documentation is `DOC`, printed by `cutover explain add-column-table-rewrite`.

use crate::rules::{alter_cost_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "add-column-table-rewrite";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ADD COLUMN` to an existing table of a column that gives every existing row its own value: `serial`/`bigserial`, `GENERATED ... AS IDENTITY`, `GENERATED ALWAYS AS (...) STORED`, or a domain with a constraint (every row is checked); and before PostgreSQL 11, any column with a default.\n\
\n\
## Why is this bad?\n\
PostgreSQL rewrites the whole table (and rebuilds its indexes) under an ACCESS EXCLUSIVE lock to store the values: reads and writes wait for the whole rewrite.\n\
\n\
## Instead\n\
`cutover rewrite --table users --alter \"ALTER TABLE users ADD COLUMN ...\"` adds it on a copy kept in step and swaps the copy in within the lock timeout (PostgreSQL). Or add a plain nullable column; set its default for new rows; fill existing rows with `cutover backfill`; then add the identity, sequence default or constraint (NOT VALID, then VALIDATE). For a computed column, a view or a trigger-maintained column avoids the rewrite.\n\
\n\
```sql\n\
ALTER TABLE orders ADD COLUMN seq bigint;\n\
-- next migration\n\
CREATE SEQUENCE orders_seq_seq;\n\
ALTER TABLE orders ALTER COLUMN seq SET DEFAULT nextval('orders_seq_seq');\n\
-- then fill the existing rows with `cutover backfill`\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE orders ADD COLUMN seq bigserial;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_cost_findings(effect, ctx, |table, command| {
        let AlterCommand::AddColumn { column, column_type, default, filled_per_row, .. } = command else { return None };
        let why = match filled_per_row {
            Some(what) => format!("a {what} column gives every existing row a value"),
            None if ctx.schema.is_constrained_domain(&column_type.name) => {
                format!("its domain `{}` has a constraint that every existing row must pass", column_type.name)
            }
            None if ctx.pg_version < 11 && default.is_some() => {
                format!("before PostgreSQL 11 a default is written into every row (target: {})", ctx.pg_version)
            }
            None => return None,
        };
        Some(
            Finding::new(
                RULE,
                format!("adding `{column}` rewrites all of `{table}` under an ACCESS EXCLUSIVE lock: {why}"),
                "add it online with `cutover rewrite --table T --alter \"...\"`, or add a plain nullable column, backfill it in batches, then add the default/identity/constraint",
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

    #[test]
    fn fires_on_columns_filled_per_row() {
        assert!(lint_errors("ALTER TABLE orders ADD COLUMN seq bigserial", RULE).contains("a serial column"));
        assert!(lint_errors("ALTER TABLE orders ADD COLUMN id2 bigint GENERATED ALWAYS AS IDENTITY", RULE)
            .contains("identity"));
        let found =
            lint_errors("ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) STORED", RULE);
        assert!(found.contains("stored generated"), "{found}");
    }

    #[test]
    fn fires_on_a_constrained_domain_and_on_defaults_before_11() {
        let migrations = [
            ("CREATE DOMAIN positive AS int CHECK (VALUE > 0);", true),
            ("ALTER TABLE t ADD COLUMN n positive;", true),
        ];
        assert!(run_with(&migrations, RULE, LintConfig::default()).contains("domain `positive`"));
        let old = LintConfig { pg_version: 10, ..LintConfig::default() };
        assert!(run_with(&[("ALTER TABLE t ADD COLUMN n int DEFAULT 0;", true)], RULE, old)
            .contains("before PostgreSQL 11"));
    }

    #[test]
    fn does_not_fire_on_plain_columns_virtual_columns_or_new_tables() {
        lint_ok("ALTER TABLE orders ADD COLUMN note text DEFAULT 'x'", RULE);
        lint_ok("ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) VIRTUAL", RULE);
        lint_ok("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN seq bigserial;", RULE);
    }
}
