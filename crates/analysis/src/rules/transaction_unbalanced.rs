//! Rule `transaction-unbalanced`: its documentation is `DOC`, printed by `cutover explain transaction-unbalanced`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, TransactionControl};

pub(crate) const RULE: &str = "transaction-unbalanced";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`BEGIN` without a matching `COMMIT` (or `ROLLBACK`) in the file, or `COMMIT`/`ROLLBACK` without a `BEGIN`.\n\
\n\
## Why is this bad?\n\
A `COMMIT` inside a migration that the runner wraps in a transaction commits the runner's transaction early: half the migration is applied while the history says it is not. An open `BEGIN` leaves the rest of the session, and every lock taken, in a transaction that never ends.\n\
\n\
## Instead\n\
Let the runner manage the transaction: no `BEGIN`/`COMMIT` in the file (cutover accepts one pair wrapping the whole file); statements that cannot run in a transaction go in a migration file of their own (cutover runs such a file outside a transaction).\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```\n\
\n\
```sql\n\
BEGIN;\n\
ALTER TABLE users ADD COLUMN bio text;\n\
COMMIT;\n\
```\n\
\n\
## Example\n\
```sql\n\
BEGIN;\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::Transaction(control) = &effect.action else { return Vec::new() };
    let message = match (control, ctx.open_begin) {
        (TransactionControl::Begin, Some(line)) => {
            format!("BEGIN while the transaction begun at line {line} is still open")
        }
        (TransactionControl::Commit | TransactionControl::Rollback, None) if ctx.runner_transaction => {
            format!("{} ends the runner's transaction early: what follows runs outside it", name(*control))
        }
        (TransactionControl::Commit | TransactionControl::Rollback, None) => {
            format!("{} without a BEGIN in this file", name(*control))
        }
        _ => return Vec::new(),
    };
    vec![Finding::new(RULE, message, &help(ctx))]
}

pub(crate) fn check_migration(ctx: &Context) -> Vec<(usize, Finding)> {
    match ctx.open_begin {
        Some(line) => {
            vec![(line, Finding::new(RULE, "this BEGIN is never committed or rolled back".to_string(), &help(ctx)))]
        }
        None => Vec::new(),
    }
}

fn help(ctx: &Context) -> String {
    format!(
        "leave the transaction to the runner (one BEGIN/COMMIT pair around the whole file at most); a statement that cannot run in a transaction goes {}",
        ctx.runner.place(true)
    )
}

fn name(control: TransactionControl) -> &'static str {
    match control {
        TransactionControl::Begin => "BEGIN",
        TransactionControl::Commit => "COMMIT",
        TransactionControl::Rollback => "ROLLBACK",
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::LintConfig;

    fn lint(sql: &str, in_transaction: bool) -> String {
        run_with(&[(sql, in_transaction)], RULE, LintConfig::default())
    }

    #[test]
    fn fires_on_unmatched_control() {
        assert!(lint("BEGIN;\nALTER TABLE t ADD COLUMN c int;", false).contains("never committed"));
        assert!(lint("ALTER TABLE t ADD COLUMN c int;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (c);", true)
            .contains("ends the runner's transaction early"));
        assert!(lint("BEGIN;\nBEGIN;\nCOMMIT;", false).contains("still open"));
    }

    #[test]
    fn does_not_fire_on_balanced_files() {
        assert_eq!(lint("BEGIN;\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;", false), "");
        assert_eq!(lint("BEGIN;\nSELECT 1;\nROLLBACK;\nBEGIN;\nSELECT 2;\nCOMMIT;", false), "");
    }
}
