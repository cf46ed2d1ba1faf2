//! Rule `validate-same-transaction`: its documentation is `DOC`, printed by `cutover explain validate-same-transaction`.

use crate::rules::{Context, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "validate-same-transaction";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`VALIDATE CONSTRAINT` in the same transaction as the `ADD CONSTRAINT ... NOT VALID` it validates, or in one `ALTER TABLE` with sub-commands that lock the table harder (the `ADD` itself, a `SET NOT NULL`, an `ADD COLUMN`): PostgreSQL runs the validation last, under the statement's strongest lock.\n\
\n\
## Why is this bad?\n\
NOT VALID exists so that the validation scan runs under the weak SHARE UPDATE EXCLUSIVE lock; in the same transaction the ADD's strong lock is still held, and in the same statement the other sub-commands' lock is taken, so the scan blocks writes (or everything) after all.\n\
\n\
## Instead\n\
Validate in an `ALTER TABLE` of its own, in a later migration, or (under cutover) mark the migration `-- cutover:no-transaction` so that each statement commits on its own (goose's `NO TRANSACTION` and Flyway's `executeInTransaction=false` do the same; the switches of sqlx, dbmate, diesel and popx send the file as one query, which keeps both statements in one transaction block).\n\
\n\
```sql\n\
ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n\
-- next migration\n\
ALTER TABLE orders VALIDATE CONSTRAINT positive;\n\
```\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n\
ALTER TABLE orders VALIDATE CONSTRAINT positive;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n\
ALTER TABLE orders VALIDATE CONSTRAINT positive;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AlterTable { table, commands } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) {
        return Vec::new();
    }
    // Alone, VALIDATE takes SHARE UPDATE EXCLUSIVE; beside other sub-commands the statement takes
    // the strongest lock they need, and PostgreSQL validates last, under it.
    let lock = effect.locks.iter().find(|(t, _)| t == table).map_or(LockMode::AccessExclusive, |(_, mode)| *mode);
    commands
        .iter()
        .filter_map(|command| match command {
            AlterCommand::ValidateConstraint { name } if ctx.in_transaction && ctx.added_not_valid(name) => Some(
                Finding::new(
                    RULE,
                    format!("`{name}` is validated in the transaction that added it NOT VALID: the ADD's lock on `{table}` is still held during the scan"),
                    &match ctx.runner.each_statement_on_its_own() {
                        Some(how) => format!("validate it in a later migration, or {how} so that each statement commits on its own"),
                        None => "validate it in a later migration".to_string(),
                    },
                )
                .on(table, LockMode::AccessExclusive),
            ),
            AlterCommand::ValidateConstraint { name } if lock > LockMode::ShareUpdateExclusive => Some(
                Finding::new(
                    RULE,
                    format!("`{name}` is validated in an ALTER TABLE whose other sub-commands take {} on `{table}`: PostgreSQL validates last, so the scan runs under it, which {}", lock.with_article(), lock.blocks()),
                    "validate it in an ALTER TABLE of its own (SHARE UPDATE EXCLUSIVE: reads and writes go on), in a later migration if it was added in this one",
                )
                .on(table, lock),
            ),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_file};

    /// Offered only where the runner's switch makes each statement commit on its own: sqlx's
    /// sends the file as one query, which keeps both in one block.
    #[test]
    fn each_statement_on_its_own_where_the_runner_can() {
        let sql = "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT positive;";
        assert!(run_file(sql, RULE, "cutover", None).contains("`-- cutover:no-transaction`"));
        assert!(run_file(sql, RULE, "goose", None).contains("`-- +goose NO TRANSACTION`"));
        let sqlx = run_file(sql, RULE, "sqlx", None);
        assert!(sqlx.contains("help: validate it in a later migration\n"), "{sqlx}");
        let prisma = run_file(sql, RULE, "prisma", None);
        assert!(prisma.contains("help: validate it in a later migration\n"), "{prisma}");
        // Sent with sqlx's switch, the two statements are still one transaction block.
        assert_ne!(run_file(&format!("-- no-transaction\n{sql}"), RULE, "sqlx", None), "");
    }

    /// In one ALTER TABLE with other sub-commands, PostgreSQL validates last, under the
    /// statement's lock (observed on PostgreSQL 15: a SET NOT NULL beside the VALIDATE of the
    /// CHECK that would prove it scans, and `ADD ... NOT VALID, VALIDATE` scans at once).
    #[test]
    fn fires_on_a_validation_beside_stronger_sub_commands() {
        for sql in [
            "-- cutover:no-transaction\nALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID, VALIDATE CONSTRAINT positive",
            "ALTER TABLE users VALIDATE CONSTRAINT email_nn, ALTER COLUMN email SET NOT NULL",
            "ALTER TABLE users ADD COLUMN bio text, VALIDATE CONSTRAINT email_nn",
        ] {
            assert!(lint_errors(sql, RULE).contains("validates last"), "{sql}");
        }
        lint_ok("ALTER TABLE users VALIDATE CONSTRAINT a, VALIDATE CONSTRAINT b", RULE);
        lint_ok(
            "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID, VALIDATE CONSTRAINT c",
            RULE,
        );
    }

    #[test]
    fn fires_0() {
        let rendered = lint_errors(
            r"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT positive",
            RULE,
        );
        assert!(rendered.contains("validate-same-transaction"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE orders VALIDATE CONSTRAINT positive", RULE);
    }
}
