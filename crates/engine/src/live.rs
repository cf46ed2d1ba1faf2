//! The live database, read and rehearsed on: what `cutover plan` asks the catalog, and what
//! `cutover rehearse` observes while it applies migrations to a scratch copy.

use std::time::Duration;

use crate::{DbError, MigrationTarget};

/// What the catalog says about one relation.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationFacts {
    /// The name, as the analysis writes it (no `public.`).
    pub name: String,
    /// `table`, `partitioned table`, `materialized view`, `index`, `view`, ...
    pub kind: String,
    /// The planner's row estimate (`reltuples`; 0 when never analysed and empty).
    pub rows: i64,
    /// Heap, indexes and TOAST together (`pg_total_relation_size`).
    pub bytes: i64,
}

/// Something in the database that depends on a relation or column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    /// `view`, `materialized view`, `foreign key`, `trigger`, `function`, `index`.
    pub kind: String,
    /// Its name (for a foreign key: `table.constraint`).
    pub name: String,
}

/// A statement recorded by `pg_stat_statements` that names a relation or column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryUse {
    /// The normalized query text, shortened.
    pub query: String,
    /// How many times it ran.
    pub calls: i64,
}

/// Read-only questions to the live catalog.
pub trait Catalog {
    /// Facts about the relations that exist among `names` (the others are left out).
    fn relation_facts(&mut self, names: &[String]) -> Result<Vec<RelationFacts>, DbError>;

    /// What depends on `relation` (or on its `column`): views, foreign keys, triggers,
    /// functions whose body names it.
    fn dependents(&mut self, relation: &str, column: Option<&str>) -> Result<Vec<Dependent>, DbError>;

    /// The recorded statements of this database that name `relation` (and `column`, when
    /// given), most called first; `None` when `pg_stat_statements` is not installed.
    fn statements_naming(&mut self, relation: &str, column: Option<&str>) -> Result<Option<Vec<QueryUse>>, DbError>;

    /// The session's `TimeZone` (it decides whether `timestamp` to `timestamptz` rewrites).
    fn time_zone(&mut self) -> Result<String, DbError>;

    /// Bytes per second a sequential read of `relation` reaches here, measured on a sample of it;
    /// `None` when the relation is too small to tell.
    fn measure_scan_rate(&mut self, relation: &str) -> Result<Option<f64>, DbError>;
}

/// A lock held by the rehearsing session, as `pg_locks` shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObservedLock {
    /// The relation (no `public.`).
    pub relation: String,
    /// `table`, `index`, `sequence`, ...
    pub kind: String,
    /// PostgreSQL's name of the mode, e.g. `AccessExclusiveLock`.
    pub mode: String,
}

/// What one statement did on the scratch database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Locks it took on relations that existed before it, beyond those already held.
    /// Empty for a statement run outside a transaction (its locks end with it).
    pub locks: Vec<ObservedLock>,
    /// Whether locks could be observed (inside a transaction).
    pub locks_observed: bool,
    /// Tables whose storage was replaced (a new relfilenode): rewritten or truncated.
    pub rewritten: Vec<String>,
    /// How long it ran.
    pub duration: Duration,
}

/// A scratch database that migrations are rehearsed on, statement by statement.
pub trait Rehearsal: MigrationTarget + Catalog {
    /// Starts a transaction.
    fn begin(&mut self) -> Result<(), DbError>;

    /// Runs one statement (inside the transaction when `in_transaction`) and observes it.
    fn execute_observed(&mut self, sql: &str, in_transaction: bool) -> Result<Observation, DbError>;

    /// Commits the transaction.
    fn commit(&mut self) -> Result<(), DbError>;

    /// Rolls the transaction back (after a failure).
    fn rollback(&mut self) -> Result<(), DbError>;

    /// The schema, normalized to sorted lines (tables, columns and types, defaults,
    /// constraints, indexes, views, functions, triggers, sequences, enum types), leaving out
    /// cutover's own tables. Two equal snapshots mean equal schemas.
    fn schema_snapshot(&mut self) -> Result<Vec<String>, DbError>;

    /// Copies up to `rows_per_table` rows of each table from the database the scratch stands
    /// for into the scratch's table of the same name (a sample, read cheaply), so that
    /// migrations meet real data. Foreign keys come back NOT VALID where the sample breaks
    /// them.
    fn copy_sample(&mut self, rows_per_table: u64) -> Result<SampleReport, DbError>;
}

/// What [`Rehearsal::copy_sample`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleReport {
    /// Tables that received rows.
    pub tables: usize,
    /// Rows copied in all.
    pub rows: u64,
    /// Tables left empty, each with the reason.
    pub skipped: Vec<String>,
}

/// A database that can both be migrated and asked about its catalog (`cutover plan`).
pub trait LiveDatabase: MigrationTarget + Catalog {}

impl<T: MigrationTarget + Catalog> LiveDatabase for T {}
