//! Rule `enum-add-value-in-transaction`: its documentation is `DOC`, printed by `cutover explain enum-add-value-in-transaction`.

use crate::rules::{Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "enum-add-value-in-transaction";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A value added with `ALTER TYPE ... ADD VALUE` that a later statement of the same transactional \
migration uses.\n\
\n\
## Why is this bad?\n\
A new enum value cannot be used before the transaction that added it commits: the later \
statement fails with `unsafe use of new value` (55P04), and the whole migration with it. \
(PostgreSQL before 12 refuses `ADD VALUE` inside a transaction block at all.)\n\
\n\
## Instead\n\
Put `ADD VALUE` in a migration of its own (it commits before the next one starts; before \
PostgreSQL 12, mark it `-- cutover:no-transaction`), and use the value from a later migration.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';\n\
-- next migration\n\
UPDATE people SET mood = 'meh' WHERE id = 1;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TYPE mood ADD VALUE 'meh';\n\
UPDATE people SET mood = 'meh' WHERE id = 1;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    // Another `ADD VALUE` names its own new label (the same word may be added to another type)
    // or a neighbour: neither uses a value in the data.
    if !ctx.in_transaction || matches!(effect.action, crate::Action::AddEnumValue { .. }) {
        return Vec::new();
    }
    // Before PostgreSQL 12 `ADD VALUE` refuses a transaction block: the runner must run it outside one.
    let help = if ctx.pg_version < 12 {
        format!(
            "{}, and use the value from a later migration",
            ctx.runner.alone("add the value with ALTER TYPE ... ADD VALUE", "ALTER TYPE t ADD VALUE 'v'")
        )
    } else {
        "add the value in a migration of its own, and use it from a later one".to_string()
    };
    ctx.enum_values_added
        .iter()
        .filter(|(_, value)| effect.string_literals.iter().any(|literal| literal == value))
        .map(|(type_name, value)| {
            Finding::new(
                RULE,
                format!("'{value}' was added to `{type_name}` earlier in this transaction and cannot be used before it commits"),
                &help,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};
    use crate::LintConfig;

    /// langfuse adds one label to two types in one migration: PostgreSQL accepts it.
    #[test]
    fn the_same_label_added_to_another_type_is_no_use_of_it() {
        lint_ok(
            "ALTER TYPE \"DashboardWidgetViews\" ADD VALUE 'SCORES_BOOLEAN';\nALTER TYPE \"MonitorView\" ADD VALUE 'SCORES_BOOLEAN';",
            RULE,
        );
        lint_ok("ALTER TYPE mood ADD VALUE 'b';\nALTER TYPE mood ADD VALUE 'c' AFTER 'b';", RULE);
    }

    /// Before PostgreSQL 12 `ADD VALUE` must run outside a transaction: the runner's way.
    #[test]
    fn before_12_the_help_says_how_the_runner_runs_it_outside_a_transaction() {
        let sql = "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE id = 1;";
        let help = |runner: &str| {
            let config = LintConfig { pg_version: 11, runner: runner.parse().unwrap(), ..LintConfig::default() };
            let statements = cutover_migration::split_statements(sql).unwrap();
            let script = crate::Script {
                text: sql,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None,
            };
            let linted = crate::Linter::new(LintConfig { only_rule: Some(RULE.to_string()), ..config }).lint(&script);
            linted.diagnostics.iter().map(|d| d.help.clone()).collect::<String>()
        };
        assert!(help("cutover").contains("in a migration file of its own"), "{}", help("cutover"));
        assert!(help("dbmate").contains("`-- migrate:up transaction:false`"), "{}", help("dbmate"));
        assert!(help("flyway").contains("Flyway runs a script made only of such statements"), "{}", help("flyway"));
        assert!(!help("prisma").contains("cutover:no-transaction"));
    }

    #[test]
    fn fires_when_the_new_value_is_used_in_the_same_transaction() {
        let rendered =
            lint_errors("ALTER TYPE mood ADD VALUE 'meh';\nUPDATE people SET mood = 'meh' WHERE id = 1;", RULE);
        assert!(rendered.contains("'meh' was added to `mood`"), "{rendered}");
    }

    #[test]
    fn adding_values_alone_is_fine_since_postgres_12() {
        lint_ok("ALTER TYPE mood ADD VALUE 'meh';\nALTER TYPE mood ADD VALUE 'ok';", RULE);
    }
}
