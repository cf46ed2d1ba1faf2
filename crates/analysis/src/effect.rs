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
    /// The rows of tables it reads or writes as data (`UPDATE`, `DELETE`, `MERGE`, `INSERT`,
    /// and the sources they copy from, a data-changing `WITH` included), each with which rows:
    /// how long it runs grows with them.
    pub rows: Vec<RowAccess>,
    /// Whether it destroys data.
    pub destructive: bool,
    /// Whether code running against the old schema breaks.
    pub backward_incompatible: bool,
    /// Whether PostgreSQL refuses to run it inside a transaction block: read from the same
    /// list (`cutover_migration::refuses_transaction`) that decides how discovery runs a
    /// script, so that the rules and the runner agree.
    pub requires_no_transaction: bool,
    /// Identifiers longer than PostgreSQL's 63 bytes, which it silently truncates.
    pub long_identifiers: Vec<String>,
    /// The string literals it contains (to see a new enum value used); filled by the linter
    /// only while a rule needs them ([`crate::postgres::string_literals`]).
    pub string_literals: Vec<String>,
    /// For a statement that creates or drops something: whether it says `IF [NOT] EXISTS`, so
    /// that running it twice is harmless. `None` for other statements.
    pub idempotent: Option<bool>,
    /// MySQL/MariaDB: how the server carries out the `ALTER TABLE` (or index build).
    pub mysql: Option<MysqlDdl>,
    /// SQLite: why SQLite cannot run the statement, when it cannot (most `ALTER TABLE` forms).
    pub unsupported: Option<String>,
}

/// The algorithm MySQL/MariaDB uses for a DDL statement, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    /// Only the data dictionary changes.
    Instant,
    /// Done in place (possibly rebuilding the table), usually with concurrent reads and writes.
    Inplace,
    /// The table is copied row by row; writes wait for the whole copy.
    Copy,
}

impl Algorithm {
    /// `INSTANT`, `INPLACE`, `COPY`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Instant => "INSTANT",
            Algorithm::Inplace => "INPLACE",
            Algorithm::Copy => "COPY",
        }
    }
}

impl MysqlDdl {
    /// A DDL statement's cost: its algorithm, whether writes go on, how deep it reaches; nothing
    /// written, nothing else known yet.
    pub fn ddl(algorithm: Option<Algorithm>, concurrent_dml: bool, touches: MysqlTouches) -> MysqlDdl {
        MysqlDdl {
            algorithm,
            concurrent_dml,
            explicit_algorithm: None,
            explicit_lock: None,
            reason: String::new(),
            ddl: true,
            copy_if_type_changes: false,
            renamed_columns: Vec::new(),
            touches,
            builds_fulltext: Vec::new(),
            drops_indexes: Vec::new(),
            engine_without_online_ddl: None,
            sets_engine: None,
            modified_not_null: Vec::new(),
            collated_columns: Vec::new(),
            instant_varchar_growth: false,
            algorithm_without_column_changes: None,
            converts_to: None,
            adds_foreign_key: false,
        }
    }
}

/// What a MySQL/MariaDB `CREATE TABLE` says of its storage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableStorage {
    /// Its storage engine, when `ENGINE=` is written (`None`: the server's default, InnoDB).
    pub engine: Option<String>,
    /// Its FULLTEXT indexes, by name (a nameless one by its first column's).
    pub fulltext_indexes: Vec<String>,
    /// `CREATE TABLE t LIKE source`: the table whose definition it copies (columns, indexes,
    /// storage engine, character set).
    pub like: Option<String>,
    /// Its default character set, lower-case, when written.
    pub charset: Option<String>,
    /// Its default collation, lower-case, when written.
    pub collation: Option<String>,
    /// Its `ROW_FORMAT`, lower-case, when written.
    pub row_format: Option<String>,
}

/// What a MySQL/MariaDB DDL statement costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlDdl {
    /// The algorithm the server picks (the most expensive of the statement's operations), or
    /// `None` when not known.
    pub algorithm: Option<Algorithm>,
    /// Whether reads and writes go on while it runs (`LOCK=NONE` possible).
    pub concurrent_dml: bool,
    /// `ALGORITHM=` as written, if written.
    pub explicit_algorithm: Option<String>,
    /// `LOCK=` as written, if written.
    pub explicit_lock: Option<String>,
    /// What makes it expensive, for messages (e.g. `MODIFY COLUMN changes the type`).
    pub reason: String,
    /// Whether it commits implicitly (DDL), rather than being DML.
    pub ddl: bool,
    /// Whether the COPY comes only from `MODIFY`/`CHANGE COLUMN` taken for a type change: when
    /// the schema model shows the type unchanged (nullability, default, name only), the server
    /// works in place with concurrent writes instead.
    pub copy_if_type_changes: bool,
    /// Columns a `CHANGE old new ...` renames, as (old, new): the running release still names
    /// the old one. Case alone is no rename (MySQL's column names ignore case).
    pub renamed_columns: Vec<(String, String)>,
    /// The most its operations change of the table: what decides its cost on a table whose
    /// storage rules out InnoDB's online paths (another engine, a FULLTEXT index).
    pub touches: MysqlTouches,
    /// The FULLTEXT indexes it builds, by name (a nameless one by its first column's).
    pub builds_fulltext: Vec<String>,
    /// The indexes it drops, by name.
    pub drops_indexes: Vec<String>,
    /// The table's storage engine, when that engine (not InnoDB) is what makes it copy.
    pub engine_without_online_ddl: Option<String>,
    /// The storage engine an `ENGINE=` moves the table to.
    pub sets_engine: Option<String>,
    /// The columns a `MODIFY`/`CHANGE` rewrites, each with whether it says `NOT NULL`: a longer
    /// VARCHAR is instant only when its nullability stays.
    pub modified_not_null: Vec<(String, bool)>,
    /// The columns a `MODIFY`/`CHANGE` gives a `COLLATE`: an index on one is rebuilt.
    pub collated_columns: Vec<String>,
    /// Whether this server lengthens a VARCHAR instantly (MariaDB 10.4+) rather than in place
    /// without a rebuild (MySQL 5.7+), when the length bytes stay the same; and converts a
    /// character set without a copy where the bytes allow (utf8mb3 to utf8mb4).
    pub instant_varchar_growth: bool,
    /// With `copy_if_type_changes`: the algorithm of the statement's other operations alone.
    pub algorithm_without_column_changes: Option<Algorithm>,
    /// `CONVERT TO CHARACTER SET cs [COLLATE c]`: what it converts to, and the algorithm the
    /// statement's other options take on their own (the conversion's own cost depends on the
    /// table's character set, known to the schema model).
    pub converts_to: Option<ConvertTo>,
    /// Whether it adds a FOREIGN KEY (copied unless `foreign_key_checks` is off).
    pub adds_foreign_key: bool,
}

/// What a `CONVERT TO CHARACTER SET` converts a table to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertTo {
    /// The character set, lower-case.
    pub charset: String,
    /// The collation, lower-case, when written.
    pub collation: Option<String>,
    /// The algorithm of the statement's other table options alone (INSTANT when none).
    pub others: Algorithm,
}

/// How deep a MySQL/MariaDB DDL statement reaches into its table, from the dictionary alone to
/// every row. Observed on MariaDB 10.11: MyISAM and Aria tables are copied, with writes
/// blocked, for anything past the dictionary (a new index included); an InnoDB table with a
/// FULLTEXT index is rebuilt with writes blocked where one without is changed instantly or
/// online (`ADD COLUMN`, `DROP COLUMN`, `NOT NULL`), but gets a plain index online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum MysqlTouches {
    /// The dictionary only: a column or table renamed, a default set or dropped.
    Dictionary,
    /// Its indexes (and foreign keys): one added or dropped.
    Indexes,
    /// Its rows: a column added, dropped or changed, a rebuild (and anything not known).
    #[default]
    Rows,
}

/// A column type as written, resolved to PostgreSQL's internal name (`int4`, `varchar`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnType {
    /// Schema-less base name: `int4`, `varchar`, `numeric`, `timestamptz`, `serial`, a domain.
    pub name: String,
    /// Type modifiers: `varchar(200)` has `[200]`, `numeric(10,2)` has `[10, 2]`.
    pub modifiers: Vec<i64>,
    /// Whether it is an array of `name`.
    pub array: bool,
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if !self.modifiers.is_empty() {
            let mods: Vec<String> = self.modifiers.iter().map(i64::to_string).collect();
            write!(f, "({})", mods.join(","))?;
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// A foreign key: the referencing columns and the referenced table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint's name (PostgreSQL's default, `<table>_<columns>_fkey`, when not given).
    pub name: String,
    /// The referencing columns, in order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub referenced_table: String,
    /// The referenced columns; empty for the referenced table's primary key.
    pub referenced_columns: Vec<String>,
}

/// `BEGIN`, `COMMIT` or `ROLLBACK` written in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionControl {
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
}

/// The name a table renamed to `new_name` goes by: in its schema, unless `new_name` names
/// one (`SET SCHEMA`, MySQL's `RENAME TABLE t TO other_db.t`).
pub fn renamed_table(table: &str, new_name: &str) -> String {
    match table.rsplit_once('.') {
        Some((schema, _)) if !new_name.contains('.') => format!("{schema}.{new_name}"),
        _ => new_name.to_string(),
    }
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
        /// The column lists of its `PRIMARY KEY` and `UNIQUE` constraints, which build indexes.
        unique_keys: Vec<Vec<String>>,
        /// Its foreign keys, inline or as table constraints.
        foreign_keys: Vec<ForeignKey>,
        /// Whether it is `PARTITION BY ...` (a partitioned table).
        partitioned: bool,
        /// The plain columns of its `PARTITION BY` key (an expression in the key is left out).
        partition_key: Vec<String>,
        /// The parent, for `CREATE TABLE ... PARTITION OF parent`.
        partition_of: Option<String>,
        /// MySQL/MariaDB: what it says of its storage (empty elsewhere).
        storage: Box<TableStorage>,
        /// `CREATE TEMPORARY TABLE`: it lives as long as the session, in no schema of the
        /// database's.
        temporary: bool,
    },
    /// A statement that changes rows of a table: `UPDATE`, `DELETE`, `MERGE`, `INSERT ...
    /// SELECT`, or a query whose `WITH` does one of them. Which rows it reaches, and what else it
    /// reads, are in [`Effect::rows`].
    WriteRows {
        /// `UPDATE`, `DELETE`, `MERGE` or `INSERT` (the first data-changing command).
        command: &'static str,
        /// The table it changes (the first, when a `WITH` changes several).
        table: String,
    },
    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY]`.
    CreateIndex {
        /// The index's name (empty when PostgreSQL picks it).
        name: String,
        /// The indexed table.
        table: String,
        /// The leading plain columns of the key (up to the first expression).
        columns: Vec<String>,
        /// Whether `CONCURRENTLY` is given.
        concurrently: bool,
        /// Whether `ON ONLY` is given (the parent of a partitioned table only).
        only: bool,
        /// Whether a `WHERE` clause makes it partial (it then covers only some rows).
        partial: bool,
        /// Whether it is `UNIQUE` with plain columns only (`columns` is then its whole key).
        unique: bool,
    },
    /// `DROP INDEX [CONCURRENTLY]`.
    DropIndex {
        /// The indexes.
        names: Vec<String>,
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
        /// Whether `CASCADE` is given: the views over them and the foreign keys that reference
        /// them go too (PostgreSQL; MySQL accepts the word and does nothing).
        cascade: bool,
    },
    /// `ALTER ... RENAME`, `ALTER TABLE .. SET SCHEMA`, MySQL's `RENAME TABLE`.
    Rename {
        /// What is renamed: `table`, `column`, `schema`, ...
        object: &'static str,
        /// The table it is or belongs to (empty for a schema).
        table: String,
        /// Its name (for a column: `table.column`).
        name: String,
        /// The new name: unqualified, it keeps the schema (see [`renamed_table`]).
        new_name: String,
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
        /// `BEFORE 'x'` or `AFTER 'x'`, when given (the sort order of existing values changes).
        placement: Option<String>,
    },
    /// `ALTER TYPE ... RENAME VALUE`.
    RenameEnumValue {
        /// The type.
        type_name: String,
        /// The old value.
        old: String,
        /// The new value.
        new: String,
    },
    /// `CREATE [OR REPLACE] FUNCTION`.
    CreateFunction {
        /// The function, without schema.
        name: String,
        /// Declared `VOLATILE` (the default), not `STABLE` or `IMMUTABLE`.
        volatile: bool,
    },
    /// `CREATE TABLE ... AS`, `SELECT ... INTO`: a new table whose columns the model does not know.
    CreateTableAs {
        /// The table.
        table: String,
        /// `CREATE MATERIALIZED VIEW ... AS`: filled as a table is, but no batches can fill it.
        materialized: bool,
    },
    /// `DROP FUNCTION`.
    DropFunction {
        /// The functions, without schema.
        names: Vec<String>,
        /// Whether `CASCADE` is given (triggers calling them go too).
        cascade: bool,
    },
    /// `DROP VIEW`, `DROP MATERIALIZED VIEW`.
    DropView {
        /// The views.
        views: Vec<String>,
    },
    /// `CREATE DOMAIN`.
    CreateDomain {
        /// The domain.
        name: String,
        /// Whether it has a `CHECK` or `NOT NULL` constraint (a column of it is checked row by row).
        constrained: bool,
    },
    /// `ALTER DOMAIN` adding a constraint or `SET NOT NULL`: every column of the domain is checked.
    ConstrainDomain {
        /// The domain.
        name: String,
        /// `ADD CONSTRAINT` or `SET NOT NULL`.
        command: &'static str,
        /// Whether `NOT VALID` is given (existing values are not checked).
        not_valid: bool,
    },
    /// `REFRESH MATERIALIZED VIEW`.
    RefreshMaterializedView {
        /// The view.
        name: String,
        /// Whether `CONCURRENTLY` is given.
        concurrently: bool,
    },
    /// `CREATE TRIGGER`, `DROP TRIGGER`.
    TriggerDdl {
        /// `CREATE TRIGGER` or `DROP TRIGGER`.
        command: &'static str,
        /// The table.
        table: String,
        /// For `CREATE TRIGGER`: the function it calls, without schema.
        function: Option<String>,
    },
    /// SQL cutover cannot see into: a `DO` block, a procedure `CALL`, `EXECUTE`, a `SELECT`
    /// calling a volatile function of the user's.
    Opaque {
        /// What it is: `DO block`, `CALL`, `EXECUTE`, ``call of `f` ``.
        what: String,
    },
    /// `ALTER FUNCTION f() RENAME TO g` (or `ALTER ROUTINE`): names without schema.
    RenameFunction {
        /// The old name.
        name: String,
        /// The new name.
        new_name: String,
    },
    /// `CREATE [OR REPLACE] VIEW`: data changed through a view of one table is that table's.
    CreateView {
        /// The view.
        view: String,
        /// The one relation it reads, when it reads exactly one.
        base: Option<String>,
    },
    /// A `SELECT` that calls functions (named without schema): whether one is the user's own
    /// volatile code, which may write anything ([`Action::Opaque`] then), is the schema's to say.
    Select {
        /// The functions it calls.
        calls: Vec<String>,
    },
    /// `BEGIN`, `COMMIT`, `ROLLBACK` in the script.
    Transaction(TransactionControl),
    /// `SET [LOCAL] search_path`, `RESET search_path`, `set_config('search_path', ...)`: where
    /// unqualified names resolve from here on.
    SetSearchPath {
        /// The schemas, in order (unquoted); `None` for the session's default (`RESET`,
        /// `DEFAULT`), or for a value that cannot be read (a `set_config` of an expression).
        schemas: Option<Vec<String>>,
        /// Whether it lasts only until the transaction ends (`SET LOCAL`).
        local: bool,
    },
    /// `SET [LOCAL] name = value` (and `RESET name`, with an empty value).
    Set {
        /// The setting, lower case.
        name: String,
        /// Its value as written.
        value: String,
        /// Whether `LOCAL` is given.
        local: bool,
    },
    /// Anything else.
    Other,
}

impl Action {
    /// The table this statement makes appear under a name it did not have: created (from a
    /// query too, a materialized view included) or renamed into it. Whoever asks whether a
    /// database already holds what a migration makes (the runner's empty-history guard,
    /// `baseline`, the CI scope of `lint`) asks this, so that each counts the same tables.
    pub fn table_made(&self) -> Option<String> {
        match self {
            // A temporary table is gone with the session (tester 21: it was taken for a sign that
            // the database had been migrated).
            Action::CreateTable { temporary: true, .. } => None,
            Action::CreateTable { table, .. } | Action::CreateTableAs { table, .. } => Some(table.clone()),
            Action::Rename { object: "table", table, new_name, .. } => Some(renamed_table(table, new_name)),
            _ => None,
        }
    }
}

/// Rows of one table that a statement reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowAccess {
    /// The table (a view until the schema model resolves it to its table).
    pub table: String,
    /// Whether the statement writes them, rather than only reading them.
    pub write: bool,
    /// Which of them.
    pub rows: RowScope,
}

/// Which rows of a table a statement reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowScope {
    /// Every row: no condition, or one that cannot narrow it (a join, `MERGE`'s).
    All,
    /// The rows a `WHERE` clause selects: each alternative (branch of an `OR`) with the columns
    /// it pins to given values (`id = 5`, `id IN (1, 2)`, `id = ANY('{1,2}')`, under `AND`s).
    /// An alternative that pins no unique key may reach every row (`id > 0`, `s IS NULL`,
    /// `id IN (SELECT ...)`).
    Where(Vec<Vec<String>>),
    /// The rows the statement lists itself (`INSERT ... VALUES`): as many as it writes out.
    Listed,
}

impl RowScope {
    /// Whether it may reach every row of a table whose unique keys (primary key included) are
    /// `unique_keys`, `None` when they are unknown: then pinning any column is taken as
    /// narrowing it, as nothing proves otherwise.
    pub fn may_reach_every_row(&self, unique_keys: Option<&[Vec<String>]>) -> bool {
        match self {
            RowScope::All => true,
            RowScope::Listed => false,
            RowScope::Where(alternatives) => alternatives.iter().any(|pinned| match unique_keys {
                Some(keys) => !keys.iter().any(|key| !key.is_empty() && key.iter().all(|c| pinned.contains(c))),
                None => pinned.is_empty(),
            }),
        }
    }
}

/// One `ALTER TABLE` sub-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterCommand {
    /// `ADD COLUMN`.
    AddColumn {
        /// The column.
        column: String,
        /// Its type.
        column_type: ColumnType,
        /// Declared `NOT NULL`.
        not_null: bool,
        /// Its default, if any.
        default: Option<DefaultValue>,
        /// What fills every existing row with a new value, when the column has one: `serial`,
        /// `identity`, `a stored generated expression`.
        filled_per_row: Option<&'static str>,
        /// An inline `REFERENCES` constraint.
        references: Option<ForeignKey>,
        /// Whether `IF NOT EXISTS` is given: a column already there is left as it is.
        if_not_exists: bool,
    },
    /// `ALTER COLUMN ... TYPE`.
    AlterColumnType {
        /// The column.
        column: String,
        /// The new type.
        new_type: ColumnType,
        /// Whether a `USING` expression is given (computed per row: always a rewrite).
        using: bool,
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
        /// Whether `CASCADE` is given: the views that read it and the foreign keys that
        /// reference it go too (PostgreSQL).
        cascade: bool,
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
        /// Its key columns (for `PRIMARY KEY`, `UNIQUE`, `FOREIGN KEY`); for a `CHECK`, the
        /// columns its expression reads.
        columns: Vec<String>,
        /// For a `FOREIGN KEY`: the referenced table.
        references: Option<String>,
        /// For a `FOREIGN KEY`: the referenced columns (empty: the primary key).
        referenced_columns: Vec<String>,
        /// For `CHECK (col IS NOT NULL)`: the column it proves has no NULL once validated.
        not_null_column: Option<String>,
    },
    /// `DROP CONSTRAINT`.
    DropConstraint {
        /// The constraint.
        name: String,
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
    /// `DETACH PARTITION [CONCURRENTLY | FINALIZE]`.
    DetachPartition {
        /// The partition.
        partition: String,
        /// Whether `CONCURRENTLY` is given, or `FINALIZE` (which ends an interrupted
        /// concurrent detach, outside a transaction block like it).
        concurrently: bool,
        /// `FINALIZE`: the parent as concurrently, but the partition under ACCESS EXCLUSIVE.
        finalize: bool,
    },
    /// `ENABLE TRIGGER`, `DISABLE TRIGGER` (and their `ALL`/`USER` forms).
    Trigger {
        /// The sub-command, e.g. `DISABLE TRIGGER`.
        command: &'static str,
    },
    /// A setting the planner or `CLUSTER` reads (`SET STATISTICS`, a column's `SET (n_distinct
    /// ..)` or `RESET`, `CLUSTER ON`, `SET WITHOUT CLUSTER`): SHARE UPDATE EXCLUSIVE only.
    PlannerSetting {
        /// The command.
        command: &'static str,
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
    /// Its full type.
    pub column_type: ColumnType,
    /// Declared `GENERATED ... AS IDENTITY`.
    pub identity: bool,
    /// Declared `NOT NULL` (or `PRIMARY KEY`).
    pub not_null: bool,
}

/// A column default, as far as its cost is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultValue {
    /// A constant (or a stable expression): stored in the catalog since PostgreSQL 11, no rewrite.
    Constant,
    /// Calls functions that are not PostgreSQL's well-known volatile ones: volatile or not
    /// depends on how they were declared (`CREATE FUNCTION` defaults to VOLATILE), which the
    /// schema model settles when the migrations declare them.
    Calls {
        /// The functions, without schema.
        functions: Vec<String>,
    },
    /// A volatile expression: every row gets its own value, so the table is rewritten.
    Volatile {
        /// The volatile function, e.g. `random`.
        function: String,
    },
}

/// How a relation's name as written (its schema when qualified, and its name) becomes the name
/// the analysis gives it: `postgres::written_name` without more to go on; the linter's resolver on a
/// live schema, or after a `SET search_path`.
pub type Resolve<'a> = &'a dyn Fn(Option<&str>, &str) -> String;

/// Why a statement could not be parsed: the grammar's message and the 1-based character offset
/// within the statement, when it gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The grammar's message.
    pub message: String,
    /// 1-based character offset in the statement.
    pub position: Option<usize>,
}

/// The effect of a statement no rule reads: it locks, rewrites and scans nothing.
#[cfg_attr(not(any(feature = "postgres", feature = "sqlparser")), allow(dead_code))]
pub(crate) fn other() -> Effect {
    Effect {
        action: Action::Other,
        locks: Vec::new(),
        rewrites: false,
        scans: false,
        rows: Vec::new(),
        destructive: false,
        backward_incompatible: false,
        requires_no_transaction: false,
        long_identifiers: Vec::new(),
        string_literals: Vec::new(),
        idempotent: None,
        mysql: None,
        unsupported: None,
    }
}
