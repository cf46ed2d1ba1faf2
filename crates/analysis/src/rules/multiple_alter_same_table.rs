//! Rule `multiple-alter-same-table`: its documentation is `DOC`, printed by `cutover explain multiple-alter-same-table`.

use crate::alter::not_null_proof;
use crate::rules::{Context, EarlierAlters, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "multiple-alter-same-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Several `ALTER TABLE` statements on the same existing table in one migration, when one statement could do them all as cheaply. It does not fire when it could not: when one of them validates a constraint or attaches a partition (alone they take a lock that lets writes go on; in one statement with the others their scan runs under ACCESS EXCLUSIVE), when one statement would drop (or validate only after) the CHECK that spares a `SET NOT NULL` its scan (PostgreSQL runs an `ALTER TABLE`'s drops first and its validations last, whatever the written order), or when a statement between them writes the table's rows.\n\
\n\
## Why is this bad?\n\
Each statement queues for the ACCESS EXCLUSIVE lock again (and in one transaction holds it across them all); every wait in the lock queue stalls the queries behind it.\n\
\n\
## Instead\n\
Combine the changes into one `ALTER TABLE` with several comma-separated actions.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN a int, ADD COLUMN b int;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN a int;\n\
ALTER TABLE users ADD COLUMN b int;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AlterTable { table, commands } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) {
        return Vec::new();
    }
    let Some(earlier) = ctx.altered_before(table) else { return Vec::new() };
    if !combines_safely(table, earlier, commands, ctx) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("`{table}` is altered again: each ALTER TABLE waits in the lock queue for ACCESS EXCLUSIVE once more"),
        "combine the changes into one ALTER TABLE with comma-separated actions",
    )
    .on(table, LockMode::AccessExclusive)]
}

/// Whether one `ALTER TABLE` with the earlier statements' sub-commands and `commands` would do
/// what they do apart, at no greater cost: this rule's advice must not make another rule fire.
fn combines_safely(table: &str, earlier: &EarlierAlters, commands: &[AlterCommand], ctx: &Context) -> bool {
    // The later statement may count on the rows written in between (a backfill before SET NOT NULL).
    if earlier.rows_written_since {
        return false;
    }
    let combined: Vec<AlterCommand> = earlier.commands.iter().chain(commands).cloned().collect();
    // Alone they take SHARE UPDATE EXCLUSIVE (writes go on); beside anything else their scan runs
    // under ACCESS EXCLUSIVE. A concurrent detach cannot share its statement at all.
    let alone = |c: &AlterCommand| {
        matches!(
            c,
            AlterCommand::ValidateConstraint { .. }
                | AlterCommand::AttachPartition { .. }
                | AlterCommand::DetachPartition { concurrently: true, .. }
        )
    };
    if combined.iter().any(alone) {
        return false;
    }
    // A SET NOT NULL that a CHECK spares its scan apart must be spared in the combined statement
    // too: PostgreSQL runs the combined statement's drops before it, and validations after it.
    let proven_apart = |column: &str| {
        earlier.proven_not_null.iter().any(|c| c == column)
            || not_null_proof(ctx.schema.table(table), commands, column, ctx.pg_version).is_ok()
    };
    combined.iter().all(|c| match c {
        AlterCommand::SetNotNull { column } => {
            !proven_apart(column) || not_null_proof(earlier.before.as_ref(), &combined, column, ctx.pg_version).is_ok()
        }
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::LintConfig;

    #[test]
    fn fires_0() {
        let rendered = lint_errors(
            r"ALTER TABLE users ADD COLUMN a int;
ALTER TABLE users ADD COLUMN b int",
            RULE,
        );
        assert!(rendered.contains("multiple-alter-same-table"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE users ADD COLUMN a int, ADD COLUMN b int", RULE);
    }

    /// Its advice must not lead to a statement that scans: combined, the DROP CONSTRAINT would run
    /// before the SET NOT NULL that the CHECK spares (observed on PostgreSQL 15).
    #[test]
    fn does_not_advise_dropping_the_check_with_the_set_not_null() {
        let create = ("CREATE TABLE users (id bigint, email text);", true);
        let check = ("ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;", true);
        let validate = ("ALTER TABLE users VALIDATE CONSTRAINT email_nn;", true);
        let both =
            ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT email_nn;", true);
        assert_eq!(run_with(&[create, check, validate, both], RULE, LintConfig::default()), "");
        // Without the CHECK's help the SET NOT NULL scans either way: combining costs nothing more.
        let unproven =
            ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT email_nn;", true);
        assert_ne!(run_with(&[create, check, unproven], RULE, LintConfig::default()), "");
    }

    /// Nor to a validation under ACCESS EXCLUSIVE (in one ALTER TABLE with an ADD or a SET NOT
    /// NULL, PostgreSQL validates last, under the strongest lock of the statement).
    #[test]
    fn does_not_advise_combining_a_validation() {
        lint_ok(
            "-- cutover:no-transaction\nALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT positive;",
            RULE,
        );
        lint_ok(
            "ALTER TABLE users VALIDATE CONSTRAINT email_nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
            RULE,
        );
    }

    /// Nor when a statement between them writes the rows the later one counts on.
    #[test]
    fn does_not_advise_moving_an_alter_across_a_backfill() {
        lint_ok(
            "ALTER TABLE users ADD COLUMN status text;\nUPDATE users SET status = 'active';\nALTER TABLE users ALTER COLUMN status SET NOT NULL;",
            RULE,
        );
    }
}
