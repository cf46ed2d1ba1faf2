//! The live database, read and rehearsed on: what `cutover plan` asks the catalog, and what
//! `cutover rehearse` observes while it applies migrations to a scratch copy.

use std::time::Duration;

use crate::{DbError, MigrationTarget, SchemaSnapshot};

/// What the catalog says about one relation.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationFacts {
    /// The name, as the analysis writes it (no `public.`).
    pub name: String,
    /// `table`, `partitioned table`, `materialized view`, `index`, `view`, ...
    pub kind: String,
    /// The planner's row estimate now: the density the last ANALYZE saw times the current size,
    /// at least the live rows counted since (a partitioned table's, its partitions'); 0 for an
    /// empty file, -1 when unknown (never analysed).
    pub rows: i64,
    /// Heap, indexes and TOAST together (`pg_total_relation_size`); -1 when unknown (the
    /// table was locked by another session, and the catalog has no estimate).
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

/// The live schema as the catalog describes it: what the analysis starts from when a database
/// is at hand, instead of an empty schema, so that the tables the migration folder never
/// created are known (their columns, indexes, constraints and sizes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSchema {
    /// The tables (plain and partitioned) of the user's schemas.
    pub tables: Vec<LiveTable>,
    /// Domains with a `CHECK` or `NOT NULL` constraint, by name (no schema).
    pub constrained_domains: Vec<String>,
    /// The views of the user's schemas.
    pub views: Vec<LiveView>,
    /// The functions of the user's schemas (extensions' included), by name (no schema), and
    /// whether each is VOLATILE: a column default calling one gives each row its own value
    /// (a rewrite), and a call of one in a migration may write anything.
    pub functions: Vec<(String, bool)>,
}

/// A view of the [`LiveSchema`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveView {
    /// The name, as the analysis writes it (no `public.`).
    pub name: String,
    /// Its schema.
    pub schema: String,
    /// Its name in its schema.
    pub relname: String,
    /// The one relation (a table or another view) whose rows it shows, as the analysis writes
    /// it, when it reads exactly one (as an automatically updatable view does): data changed
    /// through the view is that relation's.
    pub base: Option<String>,
}

/// One table of the [`LiveSchema`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveTable {
    /// The name, as the analysis writes it (no `public.`).
    pub name: String,
    /// Its schema.
    pub schema: String,
    /// Its name in its schema.
    pub relname: String,
    /// Whether it is partitioned (its rows are its partitions').
    pub partitioned: bool,
    /// The table it is a partition or an inheritance child of, as the analysis writes it: a
    /// lock on the parent (without `ONLY`) is one on it too, and the parent's rows are its.
    pub parent: Option<String>,
    /// Estimated rows: the planner's estimate scaled to the table's size now (the statistics
    /// may be older than its last growth), or, for a table without a density to scale (never
    /// analysed, or analysed empty), the most rows its storage can hold now; -1 when neither
    /// can be told (its size could not be read).
    pub rows: i64,
    /// Whether `rows` is the planner's estimate rather than a bound.
    pub analysed: bool,
    /// The size of its rows' storage (without indexes), in bytes, when known (-1 otherwise).
    pub bytes: i64,
    /// Its columns, in order.
    pub columns: Vec<LiveColumn>,
    /// Its indexes.
    pub indexes: Vec<LiveIndex>,
    /// Its `CHECK` constraints.
    pub checks: Vec<LiveCheck>,
    /// The columns of its primary key (empty when it has none).
    pub primary_key: Vec<String>,
    /// Its foreign keys (it is the referencing table).
    pub foreign_keys: Vec<LiveForeignKey>,
    /// MySQL/MariaDB: its storage engine (`InnoDB`, `MyISAM`, `Aria`); `None` elsewhere.
    pub storage_engine: Option<String>,
    /// MySQL/MariaDB: its FULLTEXT indexes, by name.
    pub fulltext_indexes: Vec<String>,
    /// MySQL/MariaDB: its default character set and collation (`utf8mb4`,
    /// `utf8mb4_unicode_ci`); `None` elsewhere.
    pub charset: Option<String>,
    /// See `charset`.
    pub collation: Option<String>,
    /// MySQL/MariaDB: its row format (`Dynamic`, `Compressed`); `None` elsewhere.
    pub row_format: Option<String>,
}

/// A column of a [`LiveTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    /// Its name.
    pub name: String,
    /// Its type as SQL would write it (`character varying(200)`, `integer[]`).
    pub type_text: String,
    /// Whether it is `NOT NULL`.
    pub not_null: bool,
}

/// An index of a [`LiveTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveIndex {
    /// Its name, as the analysis writes it (no `public.`).
    pub name: String,
    /// The leading plain columns of its key (up to the first expression).
    pub columns: Vec<String>,
    /// Whether it is unique.
    pub unique: bool,
    /// Whether every column of its key is a plain column (no expression): `columns` is then
    /// its whole key.
    pub plain: bool,
    /// Whether it is partial (a `WHERE` clause): it covers only some rows.
    pub partial: bool,
    /// Whether it is valid: a failed concurrent build leaves an INVALID index that no query uses.
    pub valid: bool,
}

/// A `CHECK` constraint of a [`LiveTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCheck {
    /// Its name.
    pub name: String,
    /// Its expression, as the database prints it.
    pub expression: String,
    /// Whether every row was checked against it (`NOT VALID` until `VALIDATE CONSTRAINT`).
    pub validated: bool,
    /// For a check that is exactly `column IS NOT NULL`: that column.
    pub not_null_column: Option<String>,
}

/// A foreign key of a [`LiveTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveForeignKey {
    /// Its name.
    pub name: String,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table, as the analysis writes it.
    pub referenced_table: String,
    /// The referenced columns.
    pub referenced_columns: Vec<String>,
    /// Whether every row was checked against it.
    pub validated: bool,
}

/// The sessions a lock requested now would wait for, as far as the engine can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentHolders {
    /// Each session: who, since when, what it runs, and the locks it holds or waits for.
    pub sessions: Vec<crate::LockHolder>,
    /// Whether the engine saw the locks themselves. `false`: the sessions are those that may
    /// hold one (MySQL without a view of metadata locks: its open transactions on this
    /// database), or none are known.
    pub exact: bool,
}

/// Transactions open on the server that the engine cannot tie to a table or rule out: on
/// MySQL without a view of metadata locks, those of sessions in other databases, any of which
/// holds a table of this one that it used by a qualified name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnseenTransactions {
    /// How many.
    pub count: u64,
    /// How long the oldest has been open, in seconds.
    pub oldest_seconds: u64,
}

impl UnseenTransactions {
    /// What they mean for the plan, as one sentence.
    pub fn sentence(&self) -> String {
        format!(
            "{} open on other databases of this server (the oldest for {} s): one that used these tables by a qualified name holds them, and this server does not say which (MariaDB's `INSTALL SONAME 'metadata_lock_info'` does)",
            crate::count(self.count, "transaction is", "transactions are"),
            self.oldest_seconds
        )
    }
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

    /// The tables of the user's schemas with their columns, indexes, constraints and sizes, read
    /// from the catalog (never a table's rows); a table never analysed is sized from its
    /// storage, which waits at most briefly for its lock (else its size stays unknown).
    fn live_schema(&mut self) -> Result<LiveSchema, DbError>;

    /// Bytes per second a sequential read of `relation` reaches here, measured on a sample of it;
    /// `None` when the relation is too small to tell.
    fn measure_scan_rate(&mut self, relation: &str) -> Result<Option<f64>, DbError>;

    /// The other sessions a lock on `relation` (as a migration names it) would wait for if
    /// requested now: those holding, or queued for, a lock in one of the `conflicting` modes
    /// (named as `pg_locks` names them). An engine with one kind of table lock for DDL (MySQL's
    /// metadata lock) reads `AccessShareLock` among them as "every holder". Engines that cannot
    /// tell return none.
    fn current_holders(&mut self, relation: &str, conflicting: &[&str]) -> Result<CurrentHolders, DbError> {
        let _ = (relation, conflicting);
        Ok(CurrentHolders::default())
    }

    /// The other sessions of this database whose transaction holds a snapshot now: a
    /// `CREATE INDEX CONCURRENTLY` waits for every one of them to end, whatever it reads.
    /// Engines without such a wait return none.
    fn snapshot_holders(&mut self) -> Result<Vec<crate::LockHolder>, DbError> {
        Ok(Vec::new())
    }

    /// The open transactions `current_holders` could neither name nor rule out (`None` when
    /// it saw every holder, or there are none).
    fn unseen_transactions(&mut self) -> Result<Option<UnseenTransactions>, DbError> {
        Ok(None)
    }
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
    /// MySQL/MariaDB: the cheapest `ALGORITHM=` the server accepted for it (`INSTANT`,
    /// `INPLACE`, `COPY`), when it is a statement that takes one and did not write its own.
    pub mysql_algorithm: Option<String>,
    /// MySQL/MariaDB: whether the server accepted `LOCK=NONE` (writes go on while it runs).
    pub mysql_concurrent_writes: Option<bool>,
}

/// A scratch database that migrations are rehearsed on, statement by statement; its schema
/// snapshots ([`SchemaSnapshot`]) tell whether a down script reverses its up.
pub trait Rehearsal: MigrationTarget + Catalog + SchemaSnapshot {
    /// Starts a transaction.
    fn begin(&mut self) -> Result<(), DbError>;

    /// Runs one statement (inside the transaction when `in_transaction`) and observes it.
    fn execute_observed(&mut self, sql: &str, in_transaction: bool) -> Result<Observation, DbError>;

    /// Commits the transaction.
    fn commit(&mut self) -> Result<(), DbError>;

    /// Rolls the transaction back (after a failure).
    fn rollback(&mut self) -> Result<(), DbError>;

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
