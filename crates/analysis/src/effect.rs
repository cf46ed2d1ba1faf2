//! What a statement does to a live database: the model every rule reads.
//!
//! The PostgreSQL front end turns each statement into an [`Effect`]; nothing downstream sees the
//! parser's types.

use crate::LockMode;

/// What one statement is, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// What the statement is.
    pub action: Action,
    /// Each relation it locks, with the lock mode.
    pub locks: Vec<(String, LockMode)>,
    /// Whether it rewrites a whole table (and its indexes).
    pub rewrites: bool,
    /// Whether it reads a whole table under its lock (to check a constraint, say).
    pub scans: bool,
    /// Whether it destroys data.
    pub destructive: bool,
    /// Whether code running against the old schema breaks.
    pub backward_incompatible: bool,
    /// Whether PostgreSQL refuses to run it inside a transaction block.
    pub requires_no_transaction: bool,
    /// Identifiers longer than PostgreSQL's 63 bytes, which it silently truncates.
    pub long_identifiers: Vec<String>,
    /// The string literals it contains (to see a new enum value used).
    pub string_literals: Vec<String>,
}

/// The statement kinds the rules care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `CREATE TABLE`.
    CreateTable {
        /// The table.
        table: String,
        /// Its columns.
        columns: Vec<ColumnInfo>,
        /// The columns of its primary key.
        primary_key: Vec<String>,
    },
    /// `CREATE INDEX` is [`Action::CreateIndex`]; this is `UPDATE` or `DELETE`.
    WriteRows {
        /// `UPDATE` or `DELETE`.
        command: &'static str,
        /// The table.
        table: String,
        /// Whether it has a `WHERE` clause.
        filtered: bool,
    },
    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY]`.
    CreateIndex {
        /// The indexed table.
        table: String,
        /// Whether `CONCURRENTLY` is given.
        concurrently: bool,
    },
    /// `DROP INDEX [CONCURRENTLY]`.
    DropIndex {
        /// Whether `CONCURRENTLY` is given.
        concurrently: bool,
    },
    /// `ALTER TABLE` with its sub-commands.
    AlterTable {
        /// The table.
        table: String,
        /// The sub-commands.
        commands: Vec<AlterCommand>,
    },
    /// `DROP TABLE`.
    DropTable {
        /// The tables.
        tables: Vec<String>,
    },
    /// `ALTER ... RENAME`.
    Rename {
        /// What is renamed: `table`, `column`, `schema`, ...
        object: &'static str,
        /// Its name (for a column: `table.column`).
        name: String,
    },
    /// `TRUNCATE`.
    Truncate {
        /// The tables.
        tables: Vec<String>,
    },
    /// `REINDEX [CONCURRENTLY]`.
    Reindex {
        /// What is reindexed.
        name: String,
        /// Whether `CONCURRENTLY` is given.
        concurrently: bool,
    },
    /// A command that rewrites a whole table under an ACCESS EXCLUSIVE lock: `VACUUM FULL`,
    /// `CLUSTER`.
    RewriteTable {
        /// The command.
        command: &'static str,
        /// The table, or empty for every table.
        table: String,
    },
    /// `ALTER TYPE ... ADD VALUE`.
    AddEnumValue {
        /// The type.
        type_name: String,
        /// The new value.
        value: String,
    },
    /// Anything else.
    Other,
}

/// One `ALTER TABLE` sub-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterCommand {
    /// `ADD COLUMN`.
    AddColumn {
        /// The column.
        column: String,
        /// Declared `NOT NULL`.
        not_null: bool,
        /// Its default, if any.
        default: Option<DefaultValue>,
    },
    /// `ALTER COLUMN ... DROP NOT NULL`.
    DropNotNull {
        /// The column.
        column: String,
    },
    /// `ALTER COLUMN ... DROP DEFAULT`.
    DropDefault {
        /// The column.
        column: String,
    },
    /// `DROP COLUMN`.
    DropColumn {
        /// The column.
        column: String,
    },
    /// `ALTER COLUMN ... SET NOT NULL`.
    SetNotNull {
        /// The column.
        column: String,
    },
    /// `ADD CONSTRAINT` (or an inline one).
    AddConstraint {
        /// `CHECK`, `FOREIGN KEY`, `UNIQUE`, `PRIMARY KEY`, `EXCLUDE`.
        kind: &'static str,
        /// Its name, if given.
        name: String,
        /// Whether `NOT VALID` is given.
        not_valid: bool,
        /// Whether it takes over an existing index (`USING INDEX`).
        using_index: bool,
    },
    /// `VALIDATE CONSTRAINT`.
    ValidateConstraint {
        /// The constraint.
        name: String,
    },
    /// `SET TABLESPACE`, `SET LOGGED`, `SET UNLOGGED`, `SET ACCESS METHOD`: a full rewrite.
    Rewrite {
        /// The sub-command.
        command: &'static str,
    },
    /// `ATTACH PARTITION`.
    AttachPartition {
        /// The partition.
        partition: String,
    },
    /// `DETACH PARTITION [CONCURRENTLY]`.
    DetachPartition {
        /// The partition.
        partition: String,
        /// Whether `CONCURRENTLY` is given.
        concurrently: bool,
    },
    /// Anything else.
    Other,
}

/// A column of a `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// Its type's base name as PostgreSQL resolves it (`int4`, `varchar`, `timestamp`, `serial`).
    pub type_name: String,
    /// Declared `GENERATED ... AS IDENTITY`.
    pub identity: bool,
}

/// A column default, as far as its cost is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultValue {
    /// A constant (or a stable expression): stored in the catalog since PostgreSQL 11, no rewrite.
    Constant,
    /// A volatile expression: every row gets its own value, so the table is rewritten.
    Volatile {
        /// The volatile function, e.g. `random`.
        function: String,
    },
}
