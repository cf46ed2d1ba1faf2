//! What a migration did to tables and columns, in order, each with where the migration had got
//! ([`Moment`]): enough to tell, once the migration is read, a plain drop from a rename written
//! as a drop and an add (the data is lost), or from a copy swapped in under the old name (the
//! writes made between the copy and the drop are lost, unless a lock kept them out), and
//! whether the table was empty when it lost the column.

use crate::effect::TransactionControl;
use crate::rules::Context;
use crate::{Action, AlterCommand, Dialect, Effect, RowScope};

/// Where the migration had got at a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moment {
    /// The statement's line.
    pub(crate) line: usize,
    /// How many statements of the migration that may write rows came before it, or are it.
    pub(crate) row_writes: usize,
    /// The transaction it runs in (numbered within the migration), `None` outside one.
    pub(crate) transaction: Option<usize>,
}

impl Moment {
    /// Whether `self` and `other` run in the same transaction with no statement that may
    /// write rows between them.
    fn same_transaction_no_writes(self, other: Moment) -> bool {
        self.transaction.is_some() && self.transaction == other.transaction && self.row_writes == other.row_writes
    }
}

/// One change of the migration to a table or a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A column added.
    AddColumn { table: String, column: String },
    /// A column of a table that existed before the migration dropped.
    DropColumn(DroppedColumn),
    /// A column renamed.
    RenameColumn { table: String, from: String, to: String },
    /// A table created (`as_copy`: by `CREATE TABLE ... AS`, which fills it).
    CreateTable { table: String, as_copy: bool },
    /// A table that existed before the migration dropped.
    DropTable(DroppedTable),
    /// A table renamed.
    RenameTable { from: String, to: String },
    /// A statement that succeeds only on an empty table, or empties it (PostgreSQL).
    ProvenEmpty { table: String },
    /// An `INSERT ... SELECT` that copies rows of `from` into another table, `into`.
    CopyRows { from: String, into: String },
}

/// A dropped column, with what was known of it when it was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DroppedColumn {
    pub(crate) table: String,
    pub(crate) column: String,
    /// `DROP COLUMN ... CASCADE`.
    pub(crate) cascade: bool,
    /// The tables whose foreign keys reference the column (the schema model's).
    pub(crate) referenced_by: Vec<String>,
    /// Whether an earlier migration renamed it to a name that marks it deprecated.
    pub(crate) deprecated_earlier: bool,
}

/// A dropped table, with what was known of it when it was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DroppedTable {
    pub(crate) table: String,
    /// `DROP TABLE ... CASCADE`.
    pub(crate) cascade: bool,
    /// The other tables whose foreign keys reference it (the schema model's).
    pub(crate) referenced_by: Vec<String>,
    /// The line where the current transaction took a lock on it that blocks writes, if it did.
    pub(crate) locked_since: Option<usize>,
}

/// How a dropped column or table was replaced within the migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Replacement {
    /// Nothing took its place.
    None,
    /// Created again under the same (or a case-changed) name, with nothing copied into it
    /// from the old one: a rename written as a drop and an add. `refilled`: the new one is
    /// filled by the migration after the drop (`CREATE TABLE ... AS`, or a later statement
    /// that may write rows), from other data.
    Recreated { name: String, refilled: bool },
    /// A copy made before the drop (something that may write rows ran between the two) took
    /// its name. `locked_throughout`: a lock that blocks writes was held on it from before the
    /// copy to the drop, so no write was left out of the copy.
    Swapped { copy: String, name: String, locked_throughout: bool },
}

/// A dropped table's rows copied into another table that stays (`INSERT INTO other SELECT ...
/// FROM it`: a merge of tables), before the drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopiedInto {
    /// The table they went to.
    pub(crate) into: String,
    /// The line of the copy (the last one before the drop).
    pub(crate) line: usize,
    /// As for [`Replacement::Swapped`]: writes were kept out from before the copy to the drop.
    pub(crate) locked_throughout: bool,
}

/// Names that differ at most in case: quoting `"userId"` after `userid` (or the reverse) names
/// another column for PostgreSQL, but it is the same one to whoever wrote it.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The changes of the migration, in order, each with its moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes(pub(crate) Vec<(Moment, Change)>);

impl Changes {
    /// The name `column` of `table`, added at `added`, ends the migration with: its last
    /// rename after `after`, if any.
    fn final_column_name<'a>(&'a self, table: &str, column: &'a str, after: usize) -> &'a str {
        let mut name = column;
        for (at, change) in &self.0 {
            if let Change::RenameColumn { table: t, from, to } = change {
                if at.line >= after && t == table && from == name {
                    name = to;
                }
            }
        }
        name
    }

    /// How the column dropped at `dropped` was replaced; `writes_at_end`: how many statements
    /// of the whole migration may write rows.
    pub(crate) fn column_replacement(
        &self,
        dropped: Moment,
        column: &DroppedColumn,
        writes_at_end: usize,
    ) -> Replacement {
        let (table, name) = (&column.table, &column.column);
        // Candidates: columns of the table added in the migration whose final name is the
        // dropped one's (or a case change of it), other than the dropped column itself.
        for (added, change) in &self.0 {
            let Change::AddColumn { table: t, column: new } = change else { continue };
            if t != table || (added.line < dropped.line && new == name) {
                continue;
            }
            let last = self.final_column_name(table, new, added.line);
            if !same_name(last, name) {
                continue;
            }
            // Added in the same statement as the drop (drops run first) or after it: there was
            // nothing left to copy.
            if added.line >= dropped.line || added.row_writes == dropped.row_writes {
                let since = added.row_writes.max(dropped.row_writes);
                return Replacement::Recreated { name: last.to_string(), refilled: writes_at_end > since };
            }
            return Replacement::Swapped {
                copy: new.clone(),
                name: last.to_string(),
                // Adding the column took ACCESS EXCLUSIVE on the table, held to the end of its
                // transaction.
                locked_throughout: added.transaction.is_some() && added.transaction == dropped.transaction,
            };
        }
        Replacement::None
    }

    /// How the table dropped at `dropped` was replaced; `writes_at_end`: how many statements
    /// of the whole migration may write rows.
    pub(crate) fn table_replacement(&self, dropped: Moment, table: &DroppedTable, writes_at_end: usize) -> Replacement {
        let name = &table.table;
        for (created, change) in &self.0 {
            let Change::CreateTable { table: new, as_copy } = change else { continue };
            if created.line < dropped.line && new == name {
                continue;
            }
            let mut last = new.as_str();
            for (at, change) in &self.0 {
                if let Change::RenameTable { from, to } = change {
                    if at.line > created.line && from == last {
                        last = to;
                    }
                }
            }
            if !same_name(unqualified(last), unqualified(name)) || schema_of(last) != schema_of(name) {
                continue;
            }
            if created.line > dropped.line {
                let refilled = *as_copy || writes_at_end > created.row_writes;
                return Replacement::Recreated { name: last.to_string(), refilled };
            }
            if !*as_copy && created.row_writes == dropped.row_writes {
                return Replacement::Recreated { name: last.to_string(), refilled: writes_at_end > dropped.row_writes };
            }
            let locked_throughout = created.transaction.is_some()
                && created.transaction == dropped.transaction
                && table.locked_since.is_some_and(|line| line < created.line);
            return Replacement::Swapped { copy: new.clone(), name: last.to_string(), locked_throughout };
        }
        Replacement::None
    }

    /// Where the rows of a table dropped at `dropped` were copied before the drop, into a
    /// table that stays: the last such copy.
    pub(crate) fn copied_into(&self, dropped: Moment, table: &DroppedTable) -> Option<CopiedInto> {
        self.0.iter().rev().find_map(|(at, change)| match change {
            Change::CopyRows { from, into } if *from == table.table && at.line <= dropped.line => Some(CopiedInto {
                into: into.clone(),
                line: at.line,
                locked_throughout: at.transaction.is_some()
                    && at.transaction == dropped.transaction
                    && table.locked_since.is_some_and(|line| line <= at.line),
            }),
            _ => None,
        })
    }

    /// Whether `table` is proven empty at `at`: by a statement that succeeds only on an empty
    /// table (or empties it) in the same statement, or in the same transaction with no
    /// statement that may write rows between the two (in either order: the transaction's lock
    /// kept other sessions out).
    pub(crate) fn empty_at(&self, table: &str, at: Moment) -> bool {
        self.0.iter().any(|(proof, change)| {
            matches!(change, Change::ProvenEmpty { table: t } if t == table)
                && (proof.line == at.line || proof.same_transaction_no_writes(at))
        })
    }
}

fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn schema_of(name: &str) -> Option<&str> {
    name.rsplit_once('.').map(|(schema, _)| schema)
}

impl Context {
    /// Records what a checked statement did to tables and columns (`changes`), what it proves
    /// empty, and where the migration has got: before [`Context::record`], which changes the
    /// transaction state. `writes_rows`: whether it may write rows (`empty::may_write_rows`);
    /// `elsewhere`: whether they may be rows of other tables than the one it changes
    /// (`empty::adds_rows_to_no_other_table`), which ends every proof of emptiness.
    pub(crate) fn record_changes(&mut self, effect: &Effect, writes_rows: bool, elsewhere: bool) {
        if writes_rows {
            self.row_writes += 1;
        }
        if writes_rows && elsewhere {
            self.proven_empty.clear();
            self.rows_deleted.clear();
        }
        let at = self.moment();
        let mut changes = Vec::new();
        if let Some(table) = self.empty_if_it_succeeds.take() {
            changes.push(Change::ProvenEmpty { table });
        }
        match &effect.action {
            Action::AlterTable { table, commands } if !self.is_new(table) => {
                for command in crate::alter::in_pass_order(commands) {
                    match command {
                        AlterCommand::AddColumn { column, .. } => {
                            changes.push(Change::AddColumn { table: table.clone(), column: column.clone() })
                        }
                        // A column this migration added holds nothing older than it.
                        AlterCommand::DropColumn { column, cascade }
                            if !self.added_columns.contains(&(table.clone(), column.clone())) =>
                        {
                            let key = self.schema.table(table).map(|t| t.primary_key.clone()).unwrap_or_default();
                            let referenced_by = self
                                .schema
                                .tables()
                                .filter(|(name, other)| {
                                    name != table
                                        && other.foreign_keys.iter().any(|fk| {
                                            &fk.referenced_table == table
                                                && (fk.referenced_columns.contains(column)
                                                    || fk.referenced_columns.is_empty() && key.contains(column))
                                        })
                                })
                                .map(|(name, _)| name.to_string())
                                .collect();
                            let dropped = (table.clone(), column.clone());
                            changes.push(Change::DropColumn(DroppedColumn {
                                table: table.clone(),
                                column: column.clone(),
                                cascade: *cascade,
                                referenced_by,
                                deprecated_earlier: self.deprecated_columns.contains(&dropped),
                            }));
                        }
                        _ => {}
                    }
                }
            }
            Action::Rename { object: "column", table, name, new_name } => {
                let from = name.rsplit('.').next().unwrap_or(name).to_string();
                if marks_deprecated(new_name) && !self.is_new(table) {
                    self.deprecated_here.push((table.clone(), new_name.clone()));
                }
                changes.push(Change::RenameColumn { table: table.clone(), from, to: new_name.clone() });
            }
            Action::Rename { object: "table", table, new_name, .. } => {
                let to = crate::effect::renamed_table(table, new_name);
                changes.push(Change::RenameTable { from: table.clone(), to });
            }
            Action::CreateTable { table, .. } => {
                changes.push(Change::CreateTable { table: table.clone(), as_copy: false });
            }
            Action::CreateTableAs { table, .. } => {
                changes.push(Change::CreateTable { table: table.clone(), as_copy: true });
            }
            Action::DropTable { tables, cascade } => {
                // On a live schema, `DROP TABLE IF EXISTS` of a table not there drops nothing.
                let absent = |t: &str| self.live && effect.idempotent == Some(true) && self.schema.table(t).is_none();
                for table in tables.iter().filter(|t| !self.is_new(t) && !absent(t)) {
                    let referenced_by = self
                        .schema
                        .tables()
                        .filter(|(name, other)| {
                            !tables.iter().any(|t| t == name)
                                && other.foreign_keys.iter().any(|fk| &fk.referenced_table == table)
                        })
                        .map(|(name, _)| name.to_string())
                        .collect();
                    let locked_since = self
                        .held_locks
                        .iter()
                        .filter(|(t, mode, _)| t == table && mode.blocks_writes())
                        .map(|(_, _, line)| *line)
                        .min();
                    changes.push(Change::DropTable(DroppedTable {
                        table: table.clone(),
                        cascade: *cascade,
                        referenced_by,
                        locked_since,
                    }));
                }
            }
            // TRUNCATE empties the tables; its ACCESS EXCLUSIVE lock keeps them so until the
            // transaction ends.
            Action::Truncate { tables } if self.dialect == Dialect::Postgres && at.transaction.is_some() => {
                changes.extend(tables.iter().map(|table| Change::ProvenEmpty { table: table.clone() }));
            }
            // A DELETE of every row (no condition, no join) leaves no live row, though every
            // page stays (see `rows_deleted`). Its ROW EXCLUSIVE lock lets other sessions insert
            // afterwards: a required column added later then fails the migration (rolled back),
            // not the application.
            Action::WriteRows { command: "DELETE", table }
                if self.dialect == Dialect::Postgres
                    && at.transaction.is_some()
                    && matches!(effect.rows.as_slice(), [access] if access.write && access.rows == RowScope::All) =>
            {
                self.rows_deleted.insert(table.clone());
            }
            // Rows of other tables copied in: a table merged into this one (the copy of a
            // table dropped later).
            Action::WriteRows { command: "INSERT", table: into } => {
                for access in effect.rows.iter().filter(|a| !a.write && a.table != *into && a.rows == RowScope::All) {
                    changes.push(Change::CopyRows { from: access.table.clone(), into: into.clone() });
                }
            }
            _ => {}
        }
        for change in changes {
            if let (Change::ProvenEmpty { table }, Some(_)) = (&change, at.transaction) {
                self.proven_empty.insert(table.clone());
            }
            self.changes.0.push((at, change));
        }
        // A transaction ends with COMMIT or ROLLBACK, and a statement outside one is one.
        let ends = match &effect.action {
            Action::Transaction(TransactionControl::Commit | TransactionControl::Rollback) => true,
            Action::Transaction(TransactionControl::Begin) => false,
            _ => at.transaction.is_none(),
        };
        if ends {
            self.transactions_ended += 1;
            self.proven_empty.clear();
            self.rows_deleted.clear();
        }
    }
}

/// Whether a column's new name marks it as on its way out (`email_deprecated`, `old_email`,
/// `email_unused`): code was moved off it when it was renamed so.
fn marks_deprecated(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["deprecated", "obsolete", "unused", "to_drop", "todrop"].iter().any(|marker| name.contains(marker))
        || ["_old", "_legacy", "_bak"].iter().any(|suffix| name.ends_with(suffix))
        || ["old_", "legacy_"].iter().any(|prefix| name.starts_with(prefix))
}
