//! Rule `index-drop-blocking`: its documentation is `DOC`, printed by `cutover explain index-drop-blocking`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode, Severity};

pub(crate) const RULE: &str = "index-drop-blocking";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Dropping an index without `CONCURRENTLY`.\n\
\n\
## Why is this bad?\n\
`DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table: reads and writes wait, and the lock request queues behind any long transaction.\n\
\n\
## Instead\n\
`DROP INDEX CONCURRENTLY ...` in a migration file of its own (cutover runs a file made only of such statements outside a transaction, with no directive).\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
DROP INDEX CONCURRENTLY IF EXISTS i;\n\
```\n\
\n\
## Example\n\
```sql\n\
DROP INDEX i;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::DropIndex { names, concurrently: false } = &effect.action else { return Vec::new() };
    // One that drops nothing (the schema model knows it is skipped) locks nothing.
    if effect.locks.is_empty() {
        return Vec::new();
    }
    let index = names.first().cloned().unwrap_or_default();
    // The schema replay puts the index's table first among the locks, when it knows it.
    let table = effect.locks.first().map(|(name, _)| name.clone()).filter(|first| !names.contains(first));
    let (on, message) = match table {
        Some(table) => {
            let message = format!("DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on `{table}` (the table of `{index}`), which blocks reads and writes");
            (table, message)
        }
        None => (index.clone(), format!("DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table of index `{index}`, which blocks reads and writes")),
    };
    let finding = Finding::new(
        RULE,
        message,
        &ctx.runner.alone("drop it with DROP INDEX CONCURRENTLY", "DROP INDEX CONCURRENTLY"),
    )
    .on(&on, LockMode::AccessExclusive);
    // The same lock held since an earlier statement of the transaction: this drop blocks
    // nothing more. The outage is that statement's (reported there when it is a plain drop
    // too: only dropping them all concurrently removes it).
    let held = ctx.held_locks.iter().find(|(table, mode, _)| *table == on && *mode == LockMode::AccessExclusive);
    match held {
        Some((_, _, line)) => {
            let mut finding = finding.at(Severity::Warning);
            finding.message.push_str(&if ctx.index_drops.contains(line) {
                format!("; the plain drop at line {line} holds that lock already (the outage is reported there): drop them all CONCURRENTLY")
            } else {
                format!("; the transaction holds that lock since line {line}, which needs it anyway, so this drop blocks nothing more")
            });
            vec![finding]
        }
        None => vec![finding],
    }
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with, severities_with};
    use crate::{LintConfig, Severity};

    /// authelia V0007: a key an older release may have made is dropped as a constraint and as
    /// an index, after the transaction took the table's ACCESS EXCLUSIVE lock anyway.
    #[test]
    fn an_index_named_as_a_constraint_the_transaction_dropped_is_of_that_table() {
        let created = "CREATE TABLE totp (id int, username text);";
        let fix =
            "ALTER TABLE totp DROP CONSTRAINT IF EXISTS totp_username_key1;\nDROP INDEX IF EXISTS totp_username_key1;";
        let found = run_with(&[(created, true), (fix, true)], RULE, LintConfig::default());
        assert!(found.contains("on `public.totp`") || found.contains("on `totp`"), "{found}");
        assert_eq!(severities_with(&[(created, true), (fix, true)], RULE), [Severity::Warning], "{found}");
        // Unknown, and no constraint of that name dropped: still an error on the index's table.
        assert_eq!(
            severities_with(&[(created, true), ("DROP INDEX IF EXISTS other_key;", true)], RULE),
            [Severity::Error]
        );
        // A table made before the folder (tester 17): the same, on that table, whatever the
        // spelling; the index is not taken for a table.
        for fix in [
            "ALTER TABLE legacy DROP CONSTRAINT legacy_email_key;\nDROP INDEX IF EXISTS legacy_email_key;",
            "ALTER TABLE \"Legacy\" DROP CONSTRAINT IF EXISTS \"Legacy_email_key\";\nDROP INDEX IF EXISTS \"Legacy_email_key\";",
            "ALTER TABLE app.legacy DROP CONSTRAINT legacy_pkey;\nDROP INDEX IF EXISTS app.legacy_pkey, other_idx;",
        ] {
            let found = run_with(&[(fix, true)], RULE, LintConfig::default());
            assert!(found.to_lowercase().contains("legacy") && found.contains("(the table of `"), "{fix}: {found}");
            assert!(found.contains("holds that lock since line 1"), "{fix}: {found}");
        }
        assert_eq!(
            severities_with(
                &[(
                    "ALTER TABLE legacy DROP CONSTRAINT legacy_email_key;\nDROP INDEX IF EXISTS legacy_email_key;",
                    true
                )],
                RULE
            ),
            [Severity::Warning]
        );
    }

    /// kratos: `session_devices.unique_session_device` names a schema to PostgreSQL, which does
    /// not exist: with IF EXISTS the drop is skipped with a notice, and locks nothing.
    #[test]
    fn a_drop_qualified_by_a_table_name_drops_nothing() {
        let created = "CREATE TABLE session_devices (id int);\nCREATE UNIQUE INDEX unique_session_device ON session_devices (id);";
        let drop = "DROP INDEX IF EXISTS session_devices.unique_session_device;";
        assert_eq!(run_with(&[(created, true), (drop, true)], RULE, LintConfig::default()), "");
        // Without IF EXISTS it fails (the schema does not exist); a schema that holds tables is one.
        assert_ne!(
            run_with(
                &[(created, true), ("DROP INDEX session_devices.unique_session_device;", true)],
                RULE,
                LintConfig::default()
            ),
            ""
        );
        let in_schema = "CREATE SCHEMA auth;\nCREATE TABLE auth.users (id int);\nCREATE TABLE users (id int);\nCREATE INDEX users_id ON auth.users (id);";
        assert_ne!(
            run_with(&[(in_schema, true), ("DROP INDEX IF EXISTS auth.users_id;", true)], RULE, LintConfig::default()),
            ""
        );
    }

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"DROP INDEX i", RULE);
        assert!(rendered.contains("index-drop-blocking"), "{rendered}");
    }
    #[test]
    fn names_the_table_when_the_replay_knows_it() {
        let rendered = run_with(
            &[("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);", true), ("DROP INDEX i;", true)],
            RULE,
            LintConfig::default(),
        );
        assert!(rendered.contains("lock on `t` (the table of `i`)"), "{rendered}");
        let rendered = lint_errors("DROP INDEX i", RULE);
        assert!(rendered.contains("lock on the table of index `i`"), "{rendered}");
    }
    /// lemmy, documenso, kratos (reviews 3 and 4): a drop under the ACCESS EXCLUSIVE lock an
    /// earlier statement of the transaction holds blocks nothing more: a warning that says where
    /// the outage is (the first plain drop of a series stays an error).
    #[test]
    fn a_drop_under_a_lock_held_since_an_earlier_statement_is_a_warning_naming_it() {
        let schema = "CREATE TABLE t (a int, b int);\nCREATE INDEX i ON t (a);\nCREATE INDEX j ON t (b);";
        let after_alter = [(schema, true), ("ALTER TABLE t ADD COLUMN c int;\nDROP INDEX i;", true)];
        assert_eq!(severities_with(&after_alter, RULE), [Severity::Warning]);
        let rendered = run_with(&after_alter, RULE, LintConfig::default());
        assert!(rendered.contains("holds that lock since line 1, which needs it anyway"), "{rendered}");
        let drops = [(schema, true), ("DROP INDEX i;\nDROP INDEX j;", true)];
        assert_eq!(severities_with(&drops, RULE), [Severity::Error, Severity::Warning]);
        let rendered = run_with(&drops, RULE, LintConfig::default());
        assert!(rendered.contains("the plain drop at line 1 holds that lock already"), "{rendered}");
        // Outside a transaction each statement commits alone: nothing is held.
        let alone = [(schema, true), ("ALTER TABLE t ADD COLUMN c int;\nDROP INDEX i;", false)];
        assert_eq!(severities_with(&alone, RULE), [Severity::Error]);
    }

    #[test]
    fn does_not_fire_1() {
        lint_ok(r"DROP INDEX CONCURRENTLY i", RULE);
    }
}
