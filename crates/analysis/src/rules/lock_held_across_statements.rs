//! Rule `lock-held-across-statements`: its documentation is `DOC`, printed by `cutover explain lock-held-across-statements`.

use crate::rules::{is_long_on_existing, Context, Finding};
use crate::{Effect, LockMode};

pub(crate) const RULE: &str = "lock-held-across-statements";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement that does long work (scans or rewrites an existing table, writes its rows, runs opaque code) in a transaction that already holds a lock blocking writes on an existing table, taken by an earlier statement.\n\
\n\
## Why is this bad?\n\
PostgreSQL keeps every lock until the transaction ends. A quick `ALTER TABLE` followed by a slow statement keeps the table locked for the slow statement's whole duration, and holding one table's lock while waiting for another's is how migrations deadlock with the application.\n\
\n\
## Instead\n\
Split the migration: one migration (one transaction) per lock-taking step, slow work in its own migration or outside the DDL transaction (`CREATE INDEX CONCURRENTLY`, `cutover backfill`).\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN score int;\n\
-- and the data, outside the migration's transaction: cutover backfill --table users --set \"score = 0\" --where \"score IS NULL\"\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN score int;\n\
UPDATE users SET score = 0;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    if !ctx.in_transaction || !is_long_on_existing(effect, ctx) {
        return Vec::new();
    }
    // A lock this statement takes anyway, as strong or stronger, is not held any longer for it.
    let retaken = |table: &str, held: LockMode| effect.locks.iter().any(|(t, mode)| t == table && *mode >= held);
    // The strongest lock, and of those the first taken: a statement's table comes before the
    // indexes it locks with it (DROP INDEX), and the table is what the application waits on.
    let Some((_, (table, lock, line))) = ctx
        .held_locks
        .iter()
        .enumerate()
        .filter(|(_, (table, mode, _))| !retaken(table, *mode))
        .max_by_key(|(idx, (_, mode, line))| (*mode, std::cmp::Reverse(*line), std::cmp::Reverse(*idx)))
    else {
        return Vec::new();
    };
    vec![Finding::new(
        RULE,
        format!("the {lock} lock on `{table}` taken at line {line} is held while this statement runs, until the transaction commits"),
        "split the migration so that slow work does not run while another statement's lock is held",
    )
    .on(table, *lock)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::LintConfig;

    #[test]
    fn fires_on_slow_work_after_a_lock() {
        let found = lint_errors("ALTER TABLE users ADD COLUMN score int;\nUPDATE users SET score = 0;", RULE);
        assert!(found.contains("ACCESS EXCLUSIVE lock on `users` taken at line 1"), "{found}");
    }

    #[test]
    fn names_the_first_table_locked_rather_than_an_index() {
        // The first migration makes `p` and its indexes; the second one finds them existing.
        let found = run_with(
            &[
                ("CREATE TABLE p (a int);\nCREATE INDEX i1 ON p (a);\nCREATE INDEX i2 ON p (a);", true),
                ("DROP INDEX i1;\nDROP INDEX i2;\nUPDATE p SET a = 1;", true),
            ],
            RULE,
            LintConfig::default(),
        );
        assert!(found.contains("ACCESS EXCLUSIVE lock on `p` taken at line 1"), "{found}");
    }

    #[test]
    fn does_not_fire_on_quick_statements_new_tables_or_outside_a_transaction() {
        lint_ok("ALTER TABLE users ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int;", RULE);
        lint_ok("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN a int;\nUPDATE t SET a = 1;", RULE);
        // The key's scan reads the new table; the existing one is only locked.
        lint_ok("CREATE TABLE c (u int);\nALTER TABLE users ADD COLUMN x int;\nALTER TABLE c ADD FOREIGN KEY (u) REFERENCES users;", RULE);
        let own_transaction =
            "BEGIN;\nALTER TABLE users ADD COLUMN score int;\nCOMMIT;\nUPDATE users SET score = 0 WHERE id < 10;";
        assert_eq!(run_with(&[(own_transaction, false)], RULE, LintConfig::default()), "");
    }
}
