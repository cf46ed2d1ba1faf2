//! Rule `set-not-null-scan`: its documentation is `DOC`, printed by `cutover explain set-not-null-scan`.

use crate::alter::{not_null_proof, NoProof};
use crate::rules::{alter_cost_findings, Context, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "set-not-null-scan";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER COLUMN ... SET NOT NULL` on an existing table, unless a validated `CHECK (col IS NOT NULL)` is there when it runs (PostgreSQL 12+ then skips the scan). Within one `ALTER TABLE` PostgreSQL runs the drops first and the validations last, whatever the written order: `SET NOT NULL, DROP CONSTRAINT c` scans, and so does `VALIDATE CONSTRAINT c, SET NOT NULL`.\n\
\n\
Not when the schema proves the column has no NULL: it is `NOT NULL` already, or (PostgreSQL 12+) a validated `CHECK (col IS NOT NULL)` says so, made by the migrations or found on the live database (`up`, `plan`, `rehearse`, `lint --database-url`).\n\
\n\
## Why is this bad?\n\
PostgreSQL scans the whole table to check for NULLs while holding an ACCESS EXCLUSIVE lock: reads and writes wait for the scan.\n\
\n\
## Instead\n\
`ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`, then `VALIDATE CONSTRAINT c` (a weaker lock), then `SET NOT NULL` (PostgreSQL 12+ uses the validated CHECK and skips the scan), then drop the CHECK.\n\
\n\
```sql\n\
ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n\
-- next migration\n\
ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;\n\
-- next migration\n\
ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
-- a statement of its own: in the same ALTER TABLE the drop would run first, and SET NOT NULL would scan\n\
ALTER TABLE users DROP CONSTRAINT users_email_not_null;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AlterTable { commands, .. } = &effect.action else { return Vec::new() };
    alter_cost_findings(effect, ctx, |table, command| {
        let AlterCommand::SetNotNull { column } = command else { return None };
        // Already NOT NULL (the live schema says so): PostgreSQL has nothing to check.
        if ctx.schema.is_not_null(table, column) {
            return None;
        }
        // A validated CHECK (col IS NOT NULL), still there when the SET NOT NULL runs, lets
        // PostgreSQL 12+ skip the scan.
        let why = not_null_proof(ctx.schema.table(table), commands, column, ctx.pg_version).err()?;
        let mut message = format!(
            "SET NOT NULL on `{column}` scans all of `{table}` under an ACCESS EXCLUSIVE lock, which blocks reads and writes"
        );
        let help = match (&why, ctx.pg_version) {
            (NoProof::DroppedHere(_), _) => {
                "SET NOT NULL in this statement, and drop the CHECK in a later one (a later migration is best)"
            }
            (NoProof::ValidatedHere(_), _) => {
                "VALIDATE the CHECK in an earlier migration (SHARE UPDATE EXCLUSIVE: writes go on), then SET NOT NULL (no scan)"
            }
            (_, ..12) => {
                "before PostgreSQL 12 SET NOT NULL always scans: keep a validated CHECK (col IS NOT NULL) instead of NOT NULL"
            }
            (NoProof::NotValidated(_), 12..18) => {
                "VALIDATE the CHECK in an earlier migration (SHARE UPDATE EXCLUSIVE: writes go on), then SET NOT NULL (no scan)"
            }
            (_, 12..18) => {
                "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL (no scan), then drop the CHECK"
            }
            _ => "add CONSTRAINT c NOT NULL col NOT VALID, then VALIDATE CONSTRAINT c in a later migration (PostgreSQL 18)",
        };
        if let Some(cause) = why.in_this_statement() {
            message = format!("{message}: {cause}");
        } else if let NoProof::NotValidated(check) = &why {
            message = format!("{message}: the CHECK {check} is NOT VALID, so it proves nothing yet");
        }
        Some(Finding::new(RULE, message, help).on(table, LockMode::AccessExclusive).after_whole_write(ctx, table))
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::{ColumnType, LintConfig, Linter, Schema, Script, Table};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users ALTER COLUMN email SET NOT NULL", RULE);
        assert!(rendered.contains("set-not-null-scan"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(
            r"CREATE TABLE t (a int);
ALTER TABLE t ALTER COLUMN a SET NOT NULL",
            RULE,
        );
    }

    /// The safe recipe across three migrations: the CHECK added NOT VALID, validated, then SET
    /// NOT NULL, which PostgreSQL 12+ does without a scan.
    #[test]
    fn does_not_fire_after_a_validated_not_null_check() {
        let create = ("CREATE TABLE users (id bigint, email text);", true);
        let check = ("ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;", true);
        let validate = ("ALTER TABLE users VALIDATE CONSTRAINT email_nn;", true);
        let set = ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", true);
        assert_eq!(run_with(&[create, check, validate, set], RULE, LintConfig::default()), "");
        assert_ne!(run_with(&[create, check, set], RULE, LintConfig::default()), "", "not validated yet");
        let pg11 = LintConfig { pg_version: 11, ..LintConfig::default() };
        assert_ne!(run_with(&[create, check, validate, set], RULE, pg11), "", "before 12 it always scans");
    }

    /// What the live database says decides: a column NOT NULL there, or a CHECK validated there.
    #[test]
    fn does_not_fire_when_the_live_schema_proves_no_null() {
        let lint = |table: Table, sql: &str| {
            let mut schema = Schema::default();
            schema.insert_table("users", table);
            let mut linter =
                Linter::with_schema(LintConfig { only_rule: Some(RULE.into()), ..LintConfig::default() }, schema);
            let statements = cutover_migration::split_statements(sql).unwrap();
            let script = Script {
                text: sql,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None,
            };
            let linted = linter.lint(&script);
            (linted.diagnostics.len(), linted.effects[0].as_ref().unwrap().scans)
        };
        let set = "ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        let nullable = Table { columns: vec![("email".into(), ColumnType::default())], ..Table::default() };
        assert_eq!(lint(nullable.clone(), set), (1, true));
        let not_null = Table { not_null_columns: vec!["email".into()], ..nullable.clone() };
        assert_eq!(lint(not_null, set), (0, false));
        let checked = Table { not_null_checks: vec![("email_nn".into(), "email".into(), true)], ..nullable.clone() };
        assert_eq!(lint(checked.clone(), set), (0, false));
        let not_valid = Table { not_null_checks: vec![("email_nn".into(), "email".into(), false)], ..nullable };
        assert_eq!(lint(not_valid, set), (1, true));
        // The CHECK dropped by the same statement goes before SET NOT NULL checks the rows.
        let combined = "ALTER TABLE users ALTER COLUMN email SET NOT NULL, DROP CONSTRAINT email_nn;";
        assert!(lint(checked, combined).1, "scans");
    }

    /// One ALTER TABLE as PostgreSQL runs it (observed on PostgreSQL 15, 1M rows): its drops run
    /// before SET NOT NULL and its validations after, whatever the written order, so the CHECK
    /// proves nothing to a SET NOT NULL beside its DROP or its VALIDATE. As two statements, in
    /// this order, nothing scans.
    #[test]
    fn a_check_dropped_or_validated_in_the_same_alter_proves_nothing() {
        let create = ("CREATE TABLE users (id bigint, email text);", true);
        let check = ("ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;", true);
        let validate = ("ALTER TABLE users VALIDATE CONSTRAINT email_nn;", true);
        let run = |migrations: &[(&str, bool)]| run_with(migrations, RULE, LintConfig::default());
        for combined in [
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL, DROP CONSTRAINT email_nn;",
            "ALTER TABLE users DROP CONSTRAINT email_nn, ALTER COLUMN email SET NOT NULL;",
        ] {
            let found = run(&[create, check, validate, (combined, true)]);
            assert!(
                found.contains("DROP CONSTRAINT email_nn in the same ALTER TABLE runs first"),
                "{combined}: {found}"
            );
        }
        let apart = "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT email_nn;";
        assert_eq!(run(&[create, check, validate, (apart, true)]), "");
        for combined in [
            "ALTER TABLE users VALIDATE CONSTRAINT email_nn, ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL, VALIDATE CONSTRAINT email_nn;",
        ] {
            let found = run(&[create, check, (combined, true)]);
            assert!(found.contains("runs after SET NOT NULL"), "{combined}: {found}");
        }
    }

    /// A CHECK dropped by an earlier statement or migration proves nothing any more.
    #[test]
    fn a_dropped_check_proves_nothing_to_later_migrations() {
        let create = ("CREATE TABLE users (id bigint, email text);", true);
        let check = ("ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;", true);
        let validate = ("ALTER TABLE users VALIDATE CONSTRAINT email_nn;", true);
        let drop = ("ALTER TABLE users DROP CONSTRAINT email_nn;", true);
        let set = ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", true);
        let found = run_with(&[create, check, validate, drop, set], RULE, LintConfig::default());
        assert!(found.contains("scans all of `users`"), "{found}");
    }
}
