//! One `ALTER TABLE` as PostgreSQL runs it.
//!
//! PostgreSQL does not run the sub-commands of an `ALTER TABLE` in the order written: it sorts
//! them into passes (`AlterTablePass` in `tablecmds.c`) and runs drops first, then type changes,
//! added columns, column attributes (`SET NOT NULL`), added constraints, and the rest
//! (`VALIDATE CONSTRAINT`, `ATTACH PARTITION`) last. What one sub-command costs can depend on
//! what another one did before it: `SET NOT NULL` skips its scan only when a validated
//! `CHECK (col IS NOT NULL)` is still there when it runs, so
//! `ALTER COLUMN c SET NOT NULL, DROP CONSTRAINT c_nn` scans (the drop ran first), whichever way
//! it is written, while the same two as separate statements do not.

use crate::schema::{Schema, Table};
use crate::AlterCommand;

/// When PostgreSQL (12 to 17) runs `command` within its `ALTER TABLE`: sub-commands of a lower
/// pass run first, and those of one pass in the order written.
pub fn pass(command: &AlterCommand) -> u8 {
    match command {
        // AT_PASS_DROP (`DROP DEFAULT` is `SET DEFAULT` without an expression, run as a drop).
        AlterCommand::DropColumn { .. }
        | AlterCommand::DropConstraint { .. }
        | AlterCommand::DropNotNull { .. }
        | AlterCommand::DropDefault { .. } => 0,
        // AT_PASS_ALTER_TYPE.
        AlterCommand::AlterColumnType { .. } => 1,
        // AT_PASS_ADD_COL.
        AlterCommand::AddColumn { .. } => 2,
        // AT_PASS_COL_ATTRS.
        AlterCommand::SetNotNull { .. } => 3,
        // AT_PASS_ADD_INDEXCONSTR, AT_PASS_ADD_INDEX, AT_PASS_ADD_(OTHER)CONSTR.
        AlterCommand::AddConstraint { .. } => 4,
        // AT_PASS_MISC.
        AlterCommand::ValidateConstraint { .. }
        | AlterCommand::Rewrite { .. }
        | AlterCommand::AttachPartition { .. }
        | AlterCommand::DetachPartition { .. }
        | AlterCommand::Trigger { .. }
        | AlterCommand::PlannerSetting { .. }
        | AlterCommand::Other => 5,
    }
}

/// The sub-commands in the order PostgreSQL runs them.
pub fn in_pass_order(commands: &[AlterCommand]) -> Vec<&AlterCommand> {
    let mut ordered: Vec<&AlterCommand> = commands.iter().collect();
    // A stable sort: one pass keeps the written order.
    ordered.sort_by_key(|command| pass(command));
    ordered
}

/// Whether `command` reads the whole table to check it, whatever else the statement does
/// (`SET NOT NULL` and `ATTACH PARTITION` aside: whether they do depends on constraints, see
/// [`statement_scans`]).
pub(crate) fn scans_table(command: &AlterCommand) -> bool {
    match command {
        AlterCommand::SetNotNull { .. }
        | AlterCommand::AttachPartition { .. }
        | AlterCommand::ValidateConstraint { .. } => true,
        // An index-backed constraint `USING INDEX` takes over a built index; a PRIMARY KEY still
        // checks its columns for NULL (an implicit SET NOT NULL).
        AlterCommand::AddConstraint { kind: "UNIQUE", using_index: true, .. } => false,
        AlterCommand::AddConstraint { not_valid: false, kind, .. } => *kind != "NOT NULL",
        _ => false,
    }
}

/// Why a `SET NOT NULL` has to scan the table for NULLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoProof {
    /// Before PostgreSQL 12, `SET NOT NULL` always scans.
    BeforePg12,
    /// No `CHECK (col IS NOT NULL)` on the column.
    NoCheck,
    /// The CHECK is there but `NOT VALID`.
    NotValidated(String),
    /// The same `ALTER TABLE` drops the CHECK, and drops run before `SET NOT NULL`.
    DroppedHere(String),
    /// The same `ALTER TABLE` validates the CHECK, which runs after `SET NOT NULL`.
    ValidatedHere(String),
    /// The same `ALTER TABLE` adds the CHECK, which is checked after `SET NOT NULL`.
    AddedHere(String),
}

impl NoProof {
    /// Why, for a message, or `None` when nothing in the statement is to blame.
    pub fn in_this_statement(&self) -> Option<String> {
        match self {
            NoProof::DroppedHere(check) => Some(format!(
                "DROP CONSTRAINT {check} in the same ALTER TABLE runs first (PostgreSQL runs drops before SET NOT NULL), so the CHECK no longer proves the column has no NULL"
            )),
            NoProof::ValidatedHere(check) => Some(format!(
                "VALIDATE CONSTRAINT {check} in the same ALTER TABLE runs after SET NOT NULL, too late to spare its scan"
            )),
            NoProof::AddedHere(check) => Some(format!(
                "the CHECK {check} added in the same ALTER TABLE is only checked after SET NOT NULL"
            )),
            NoProof::BeforePg12 | NoProof::NoCheck | NoProof::NotValidated(_) => None,
        }
    }
}

/// Whether `SET NOT NULL` on `column`, one of the sub-commands `commands` of an `ALTER TABLE`
/// of `table` (as it was before the statement; `None` when unknown), skips its scan: the name
/// of the validated CHECK that proves the column has no NULL (PostgreSQL 12+), or why there is
/// none when it runs.
pub fn not_null_proof(
    table: Option<&Table>,
    commands: &[AlterCommand],
    column: &str,
    pg_version: u32,
) -> Result<String, NoProof> {
    if pg_version < 12 {
        return Err(NoProof::BeforePg12);
    }
    let checks: Vec<(&str, bool)> = table
        .map(|t| {
            t.not_null_checks
                .iter()
                .filter(|(_, checked, _)| checked == column)
                .map(|(name, _, valid)| (name.as_str(), *valid))
                .collect()
        })
        .unwrap_or_default();
    // Drops run before SET NOT NULL.
    let dropped =
        |check: &str| commands.iter().any(|c| matches!(c, AlterCommand::DropConstraint { name } if name == check));
    if let Some((check, _)) = checks.iter().find(|(check, valid)| *valid && !dropped(check)) {
        return Ok((*check).to_string());
    }
    if let Some((check, _)) = checks.iter().find(|(check, valid)| *valid && dropped(check)) {
        return Err(NoProof::DroppedHere((*check).to_string()));
    }
    // VALIDATE runs after SET NOT NULL.
    let validated =
        |check: &str| commands.iter().any(|c| matches!(c, AlterCommand::ValidateConstraint { name } if name == check));
    if let Some((check, _)) = checks.iter().find(|(check, _)| validated(check)) {
        return Err(NoProof::ValidatedHere((*check).to_string()));
    }
    let added = commands.iter().find_map(|c| match c {
        AlterCommand::AddConstraint { name, not_null_column: Some(checked), .. } if checked == column => {
            Some(name.clone())
        }
        _ => None,
    });
    if let Some(check) = added {
        return Err(NoProof::AddedHere(check));
    }
    match checks.first() {
        Some((check, _)) => Err(NoProof::NotValidated((*check).to_string())),
        None => Err(NoProof::NoCheck),
    }
}

/// Whether the `ALTER TABLE` of `table` (in `schema` as it was before the statement) reads a
/// whole table to check it: a validation, a constraint added valid, a `SET NOT NULL` that
/// nothing proves, or an attach whose bound no validated CHECK of the partition matches.
pub(crate) fn statement_scans(schema: &Schema, table: &str, commands: &[AlterCommand], pg_version: u32) -> bool {
    commands.iter().any(|command| match command {
        // A column NOT NULL already (as the live schema says): PostgreSQL has nothing to check.
        AlterCommand::SetNotNull { column } => {
            !schema.is_not_null(table, column)
                && not_null_proof(schema.table(table), commands, column, pg_version).is_err()
        }
        AlterCommand::AttachPartition { partition } => schema.bound_check(partition, table).is_none(),
        other => scans_table(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::analyze_statement;
    use crate::Action;

    /// The schema after `setup`, and the sub-commands of `alter`.
    fn replay(setup: &[&str], alter: &str) -> (Schema, Vec<AlterCommand>) {
        let mut schema = Schema::default();
        for sql in setup {
            schema.apply(&analyze_statement(sql).unwrap());
        }
        let Action::AlterTable { commands, .. } = analyze_statement(alter).unwrap().action else { panic!("{alter}") };
        (schema, commands)
    }

    const VALIDATED: &[&str] = &[
        "CREATE TABLE t (id bigint, c int)",
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID",
        "ALTER TABLE t VALIDATE CONSTRAINT c_nn",
    ];

    fn proof(setup: &[&str], alter: &str) -> Result<String, NoProof> {
        let (schema, commands) = replay(setup, alter);
        not_null_proof(schema.table("t"), &commands, "c", 15)
    }

    /// Observed on PostgreSQL 15 with `client_min_messages = debug1`: only the SET NOT NULL that
    /// runs while the validated CHECK exists logs "existing constraints on column "t.c" are
    /// sufficient to prove that it does not contain nulls"; the others log "verifying table".
    #[test]
    fn a_drop_in_the_same_alter_runs_first_whichever_way_it_is_written() {
        assert_eq!(proof(VALIDATED, "ALTER TABLE t ALTER COLUMN c SET NOT NULL"), Ok("c_nn".to_string()));
        for alter in [
            "ALTER TABLE t ALTER COLUMN c SET NOT NULL, DROP CONSTRAINT c_nn",
            "ALTER TABLE t DROP CONSTRAINT c_nn, ALTER COLUMN c SET NOT NULL",
            "ALTER TABLE t DROP CONSTRAINT IF EXISTS c_nn, ALTER COLUMN c SET NOT NULL",
        ] {
            assert_eq!(proof(VALIDATED, alter), Err(NoProof::DroppedHere("c_nn".into())), "{alter}");
        }
        // Dropping another constraint changes nothing.
        let other = [VALIDATED, &["ALTER TABLE t ADD CONSTRAINT other CHECK (id > 0) NOT VALID"]].concat();
        assert_eq!(
            proof(&other, "ALTER TABLE t ALTER COLUMN c SET NOT NULL, DROP CONSTRAINT other"),
            Ok("c_nn".into())
        );
    }

    #[test]
    fn a_check_validated_or_added_in_the_same_alter_comes_too_late() {
        let not_valid = &VALIDATED[..2];
        assert_eq!(
            proof(not_valid, "ALTER TABLE t ALTER COLUMN c SET NOT NULL"),
            Err(NoProof::NotValidated("c_nn".into()))
        );
        for alter in [
            "ALTER TABLE t VALIDATE CONSTRAINT c_nn, ALTER COLUMN c SET NOT NULL",
            "ALTER TABLE t ALTER COLUMN c SET NOT NULL, VALIDATE CONSTRAINT c_nn",
        ] {
            assert_eq!(proof(not_valid, alter), Err(NoProof::ValidatedHere("c_nn".into())), "{alter}");
        }
        assert_eq!(
            proof(
                &VALIDATED[..1],
                "ALTER TABLE t ADD CONSTRAINT c2 CHECK (c IS NOT NULL), ALTER COLUMN c SET NOT NULL"
            ),
            Err(NoProof::AddedHere("c2".into()))
        );
        assert_eq!(proof(&VALIDATED[..1], "ALTER TABLE t ALTER COLUMN c SET NOT NULL"), Err(NoProof::NoCheck));
        let (schema, commands) = replay(VALIDATED, "ALTER TABLE t ALTER COLUMN c SET NOT NULL");
        assert_eq!(not_null_proof(schema.table("t"), &commands, "c", 11), Err(NoProof::BeforePg12));
    }

    /// The schema replay: a CHECK dropped (by name, PostgreSQL's default name included, or with
    /// its column) no longer proves anything to a later statement.
    #[test]
    fn a_dropped_check_proves_nothing_to_later_statements() {
        let set = "ALTER TABLE t ALTER COLUMN c SET NOT NULL";
        let dropped = [VALIDATED, &["ALTER TABLE t DROP CONSTRAINT c_nn"]].concat();
        assert_eq!(proof(&dropped, set), Err(NoProof::NoCheck));
        let unnamed = [
            "CREATE TABLE t (id bigint, c int)",
            "ALTER TABLE t ADD CHECK (c IS NOT NULL) NOT VALID",
            "ALTER TABLE t VALIDATE CONSTRAINT t_c_check",
        ];
        assert_eq!(proof(&unnamed, set), Ok("t_c_check".into()));
        let dropped = [&unnamed[..], &["ALTER TABLE t DROP CONSTRAINT t_c_check"]].concat();
        assert_eq!(proof(&dropped, set), Err(NoProof::NoCheck));
        // Replaced in one statement: the drop runs first, whatever the written order.
        let replaced =
            [VALIDATED, &["ALTER TABLE t ADD CONSTRAINT c_nn2 CHECK (c IS NOT NULL), DROP CONSTRAINT c_nn"]].concat();
        assert_eq!(proof(&replaced, set), Ok("c_nn2".into()));
        let renamed = [VALIDATED, &["ALTER TABLE t RENAME COLUMN c TO d"]].concat();
        let (schema, commands) = replay(&renamed, "ALTER TABLE t ALTER COLUMN d SET NOT NULL");
        assert_eq!(not_null_proof(schema.table("t"), &commands, "d", 15), Ok("c_nn".into()));
    }

    #[test]
    fn passes_put_drops_first_and_validation_last() {
        let (_, commands) = replay(
            &[],
            "ALTER TABLE t VALIDATE CONSTRAINT k, ALTER COLUMN c SET NOT NULL, ADD COLUMN d int, DROP CONSTRAINT c_nn",
        );
        let ordered: Vec<u8> = in_pass_order(&commands).into_iter().map(pass).collect();
        assert_eq!(ordered, [0, 2, 3, 5]);
    }
}
