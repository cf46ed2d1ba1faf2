//! Rule `drop-column`: its documentation is `DOC`, printed by `cutover explain drop-column`.

use crate::changes::{Change, DroppedColumn, Replacement};
use crate::rules::{Context, Finding};
use crate::{Dialect, LockMode, Severity};

pub(crate) const RULE: &str = "drop-column";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Dropping a column of an existing table. A column dropped and added again under the same (or a case-changed) name in the same migration is reported as what it is, a rename or a type change written as a drop and an add that loses the data; a column replaced by a copy (added, filled, the old one dropped, the copy renamed to its name) as losing the writes made between the copy and the drop. Not reported: a column the same migration added, and a column re-created under the same name while its table is provably empty (PostgreSQL refuses to add a NOT NULL column without a default to a table with rows, so once that succeeded in the transaction, there was no row to lose).\n\
\n\
## Why is this bad?\n\
The data is gone, and running code that still names the column fails (an ORM that selects every column breaks at once); during a rolling deploy the old release still runs. With `CASCADE`, PostgreSQL also drops the views that read the column and the foreign keys that reference it.\n\
\n\
## Instead\n\
Deploy code that no longer reads or writes the column (tell the ORM to ignore it), then drop it in a later migration. A drop counts as deliberate (a warning) when an earlier migration renamed the column to a name that marks it deprecated (`name_deprecated`, `old_name`): code reading it had to stop then. To rename a column or change its type, do not drop it: `RENAME COLUMN` (with expand and contract for running code), or `ALTER COLUMN ... TYPE ... USING`; a copy swapped in must be kept in step with the original (a trigger) until the drop.\n\
\n\
```sql\n\
-- once no running release reads or writes users.name:\n\
-- cutover:ignore drop-column reason=\"release 42 stopped using users.name\"\n\
ALTER TABLE users DROP COLUMN name;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users DROP COLUMN name;\n\
```";

/// Reported once the migration is read: what comes after a drop (the column added again, a
/// copy renamed to its name) and what proves its table empty can follow it.
pub(crate) fn check_migration(ctx: &Context) -> Vec<(usize, Finding)> {
    ctx.changes
        .0
        .iter()
        .filter_map(|(at, change)| match change {
            Change::DropColumn(dropped) => {
                let empty = ctx.dialect == Dialect::Postgres && ctx.changes.empty_at(&dropped.table, *at);
                let finding = finding(dropped, ctx.changes.column_replacement(*at, dropped, ctx.row_writes), empty)?;
                Some((at.line, finding.on(&dropped.table, LockMode::AccessExclusive)))
            }
            _ => None,
        })
        .collect()
}

fn finding(dropped: &DroppedColumn, replacement: Replacement, empty: bool) -> Option<Finding> {
    let DroppedColumn { table, column, .. } = dropped;
    let cascade = cascade_note(dropped);
    let help_rename = "to rename it, RENAME COLUMN (expand and contract for running code); to change its type, ALTER COLUMN ... TYPE ... USING; or copy the data into the new column before the drop";
    // Severities, as a DBA would sign them: whatever loses data that no one chose to lose, or
    // breaks the release still running, is an error; what only the lock's length or the new
    // column's type can still hurt is a warning.
    let finding = match (replacement, empty) {
        // A type change of an empty table's column: nothing is lost, and the name is kept.
        (Replacement::Recreated { name, .. } | Replacement::Swapped { name, .. }, true) if name == *column => {
            return None;
        }
        (Replacement::Recreated { name, .. } | Replacement::Swapped { name, .. }, true) => Finding::new(
            RULE,
            format!("`{table}.{column}` is dropped and re-created as `{name}`: no data is lost (`{table}` holds no row here: a statement of this transaction succeeds only on an empty table), but code that names `{column}` fails{cascade}"),
            help_rename,
        ),
        (Replacement::None, true) => Finding::new(
            RULE,
            format!("dropping `{table}.{column}` loses no data (`{table}` holds no row here: a statement of this transaction succeeds only on an empty table), but code that still names it fails{cascade}: verify that no running release reads or writes it"),
            "deploy code that no longer uses the column first, then drop it in a later migration",
        ),
        // Filled again from other data by a later statement: whether anything is lost depends
        // on what that statement computes, which a reviewer has to read: a warning.
        (Replacement::Recreated { name, refilled: true }, false) => {
            let renamed = if name == *column { String::new() } else { format!(" as `{name}`") };
            Finding::new(
                RULE,
                format!("`{table}.{column}` is dropped and re-created{renamed} in the same migration, then written again by a later statement: the old values survive only if it rebuilds them from other data (verify that it does){cascade}"),
                help_rename,
            )
            .at(Severity::Warning)
        }
        // Every value of the column is lost, certainly: an error.
        (Replacement::Recreated { name, refilled: false }, false) => {
            let renamed = if name == *column { String::new() } else { format!(" as `{name}`") };
            Finding::new(
                RULE,
                format!("`{table}.{column}` is dropped and re-created{renamed} in the same migration: the data is lost (nothing copies it into the new column){cascade}"),
                help_rename,
            )
        }
        // The writes that reach the old column after the copy are lost, silently, under any
        // write traffic: an error.
        (Replacement::Swapped { copy, name, locked_throughout: false }, false) => Finding::new(
            RULE,
            format!("`{table}.{column}` is replaced by a copy (`{copy}`{}): writes made between the copy and the drop are lost unless kept in step (a trigger, or expand and contract){cascade}", renamed_to(&copy, &name)),
            "keep the copy in step with a trigger from before the copy until the drop, or expand and contract over several releases",
        ),
        // No write can slip in (the table stays locked), so no data is lost; what is left is
        // the lock held for the whole copy (its own findings) and code that writes the old
        // column's type: a warning, unless the name changes under running code.
        (Replacement::Swapped { copy, name, locked_throughout: true }, false) => {
            let severity = if name == *column { Severity::Warning } else { Severity::Error };
            let renamed =
                if name == *column { String::new() } else { format!(", and code that names `{column}` fails") };
            Finding::new(
                RULE,
                format!("`{table}.{column}` is replaced by a copy (`{copy}`{}) in one transaction: no write is lost (`{table}` stays locked from adding the copy to the drop), but running code must accept the new column's type{renamed}{cascade}", renamed_to(&copy, &name)),
                "check that the release still running can write the new column; the lock is held for the whole copy",
            )
            .at(severity)
        }
        // A deliberate final drop: code was made to stop reading the column when an earlier
        // migration renamed it, so what is left is the data, which its name said was going.
        (Replacement::None, false) if dropped.deprecated_earlier => Finding::new(
            RULE,
            format!("dropping `{table}.{column}` destroys its data; an earlier migration renamed it to mark it deprecated, so code stopped reading it under its old name then{cascade}: verify that no running release uses `{column}` itself"),
            "keep a copy of the data if it may be needed again",
        )
        .at(Severity::Warning),
        (Replacement::None, false) => Finding::new(
            RULE,
            format!("dropping `{table}.{column}` destroys its data, and code that still names it fails (during a rolling deploy the old release still runs){cascade}: verify that no running release reads or writes it (an ORM model that selects every column included) and that the data is not needed"),
            "first deploy code that ignores the column, then drop it in a later migration (an ignore comment saying which release stopped using it)",
        ),
    };
    Some(finding)
}

/// `` , renamed `name` `` when the copy takes the name by a rename.
fn renamed_to(copy: &str, name: &str) -> String {
    if copy == name {
        String::new()
    } else {
        format!(", renamed `{name}`")
    }
}

/// What `CASCADE` takes with the column, for the message.
fn cascade_note(dropped: &DroppedColumn) -> String {
    if !dropped.cascade {
        return String::new();
    }
    let keys = match dropped.referenced_by.as_slice() {
        [] => String::new(),
        tables => format!(
            ", and the foreign keys of {} that reference it (their rows stay, unchecked)",
            tables.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    format!("; CASCADE also drops the views that read it (code that reads them fails too){keys}")
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::LintConfig;

    fn run(migrations: &[(&str, bool)]) -> String {
        run_with(migrations, RULE, LintConfig::default())
    }

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE users DROP COLUMN name", RULE);
        assert!(rendered.contains("drop-column"), "{rendered}");
        assert!(rendered.contains("verify that no running release reads or writes it"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(
            r"CREATE TABLE t (a int, b int);
ALTER TABLE t DROP COLUMN b",
            RULE,
        );
        // A column this migration added holds nothing older than it.
        lint_ok("ALTER TABLE users ADD COLUMN tmp int;\nALTER TABLE users DROP COLUMN tmp;", RULE);
    }

    /// Prisma's "changed the type, no cast exists": drop and add in one statement, the new
    /// column NOT NULL without a default. PostgreSQL refuses that on a table with rows, so when
    /// it runs the table is empty: no data lost, the name kept.
    #[test]
    fn a_column_re_created_on_a_provably_empty_table_is_harmless() {
        let prisma = r#"ALTER TABLE "JobRun" DROP COLUMN "workflowRunId",
ADD COLUMN     "workflowRunId" UUID NOT NULL;"#;
        assert_eq!(run(&[(prisma, false)]), "", "one statement: no transaction needed");
        // The same as two statements: the later one proves the table was empty at the drop too,
        // in one transaction with nothing written between them.
        let split = "ALTER TABLE t DROP COLUMN c;\nALTER TABLE t ADD COLUMN c uuid NOT NULL;";
        assert_eq!(run(&[(split, true)]), "");
        let found = run(&[(split, false)]);
        assert!(found.contains("dropped and re-created in the same migration: the data is lost"), "{found}");
        // Something that may write rows between them: no proof.
        let refilled = "ALTER TABLE t DROP COLUMN c;\nDELETE FROM t;\nALTER TABLE t ADD COLUMN c uuid NOT NULL;";
        assert!(run(&[(refilled, true)]).contains("the data is lost"));
        // Emptiness spares the data, not the code that names the old column.
        let renamed = r#"ALTER TABLE "User" DROP COLUMN "userid", ADD COLUMN "userId" TEXT NOT NULL;"#;
        let found = run(&[(renamed, true)]);
        assert!(found.contains("re-created as `userId`: no data is lost"), "{found}");
        assert!(found.contains("code that names `userid` fails"), "{found}");
        let dropped = "ALTER TABLE t ADD COLUMN n int NOT NULL;\nALTER TABLE t DROP COLUMN old;";
        let found = run(&[(dropped, true)]);
        assert!(found.contains("loses no data"), "{found}");
        assert!(run(&[(dropped, false)]).contains("destroys its data"), "no transaction: no proof across statements");
    }

    /// A rename written as a drop and an add (a case change included) is reported as that.
    #[test]
    fn a_column_dropped_and_re_created_is_a_lost_rename() {
        let same = "ALTER TABLE users DROP COLUMN name;\nALTER TABLE users ADD COLUMN name varchar(200);";
        let found = run(&[(same, true)]);
        assert!(
            found.contains("`users.name` is dropped and re-created in the same migration: the data is lost"),
            "{found}"
        );
        let case = r#"ALTER TABLE "Post" DROP COLUMN "authorid", ADD COLUMN "authorId" TEXT;"#;
        let found = run(&[(case, true)]);
        assert!(found.contains("re-created as `authorId` in the same migration: the data is lost"), "{found}");
        // A rename to the old name of a column added after the drop copies nothing either.
        let via_rename =
            "ALTER TABLE users DROP COLUMN name;\nALTER TABLE users ADD COLUMN name2 text;\nALTER TABLE users RENAME COLUMN name2 TO name;";
        assert!(run(&[(via_rename, true)]).contains("the data is lost"));
        // Written again after: whether the values survive depends on that statement.
        let refilled = "ALTER TABLE orders DROP COLUMN total;
ALTER TABLE orders ADD COLUMN total numeric;
UPDATE orders SET total = (SELECT sum(price) FROM order_lines WHERE order_id = orders.id);";
        let found = run(&[(refilled, true)]);
        assert!(found.contains("then written again by a later statement"), "{found}");
    }

    /// Copy, drop, rename: writes between the copy and the drop are what is at risk, and only
    /// when nothing keeps them out.
    #[test]
    fn a_copy_swapped_in_loses_the_writes_made_during_the_copy() {
        let swap = "ALTER TABLE users ADD COLUMN name_json jsonb;
UPDATE users SET name_json = to_jsonb(name);
ALTER TABLE users DROP COLUMN name;
ALTER TABLE users RENAME COLUMN name_json TO name;";
        let outside = run(&[(swap, false)]);
        assert!(
            outside.contains("is replaced by a copy (`name_json`, renamed `name`): writes made between the copy and the drop are lost unless kept in step"),
            "{outside}"
        );
        assert!(!outside.contains("destroys"), "{outside}");
        // In one transaction, the ADD COLUMN's lock keeps every write out until the commit.
        let inside = run(&[(swap, true)]);
        assert!(inside.contains("in one transaction: no write is lost"), "{inside}");
        let levels = {
            let mut linter =
                crate::Linter::new(LintConfig { only_rule: Some(RULE.to_string()), ..LintConfig::default() });
            let statements = cutover_migration::split_statements(swap).unwrap();
            let script = crate::Script {
                text: swap,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None,
            };
            linter.lint(&script).diagnostics.iter().map(|d| d.severity).collect::<Vec<_>>()
        };
        assert_eq!(levels, [crate::Severity::Warning]);
        // Added, not filled, dropped, renamed: a drop and an add.
        let unfilled = "ALTER TABLE users ADD COLUMN name2 text;
ALTER TABLE users DROP COLUMN name;
ALTER TABLE users RENAME COLUMN name2 TO name;";
        assert!(run(&[(unfilled, true)]).contains("dropped and re-created in the same migration"));
    }

    /// A column that an earlier migration renamed as deprecated is a deliberate final drop.
    #[test]
    fn a_drop_after_a_deprecating_rename_is_a_warning() {
        let deprecate = ("ALTER TABLE users RENAME COLUMN nickname TO nickname_deprecated;", true);
        let drop = ("ALTER TABLE users DROP COLUMN nickname_deprecated;", true);
        let found = run(&[deprecate, drop]);
        assert!(found.contains("renamed it to mark it deprecated"), "{found}");
        // In the same migration, the release still running had no time to stop reading it.
        let both = "ALTER TABLE users RENAME COLUMN nickname TO nickname_deprecated;
ALTER TABLE users DROP COLUMN nickname_deprecated;";
        assert!(run(&[(both, true)]).contains("code that still names it fails"));
    }

    /// CASCADE says what else goes: the views that read the column, the keys that reference it.
    #[test]
    fn cascade_says_what_goes_with_the_column() {
        let setup = (
            "CREATE TABLE accounts (id bigint PRIMARY KEY, code text UNIQUE);
CREATE TABLE invoices (id bigint PRIMARY KEY, account_code text REFERENCES accounts (code));",
            true,
        );
        let found = run(&[setup, ("ALTER TABLE accounts DROP COLUMN code CASCADE;", true)]);
        assert!(found.contains("CASCADE also drops the views that read it"), "{found}");
        assert!(found.contains("the foreign keys of `invoices` that reference it"), "{found}");
        let found = run(&[setup, ("ALTER TABLE accounts DROP COLUMN code;", true)]);
        assert!(!found.contains("CASCADE"), "{found}");
    }
}
