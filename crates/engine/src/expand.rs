//! The primitives expand/contract migrations need from a database.
//!
//! The algorithm (which phase runs which step, what is recorded when, how a crash resumes)
//! lives in `cutover-expand`; an engine reads table shapes, keeps the state of the active
//! expand/contract migration, and says which sessions still use a schema version.

use crate::{DbError, Inspect, MigrationTarget, RewriteTarget};

/// What to do instead of a declarative migration on MySQL/MariaDB, where `cutover start`
/// refuses them: said the same by `start`, `up` (which stops before one) and `lint`.
pub const EXPAND_ON_MYSQL: &str = "declarative (expand/contract) migrations run on PostgreSQL and SQLite, not on MySQL/MariaDB (no transactional DDL, no views that stand in for a table's writes): write the change as SQL migrations (expand, `cutover backfill`, contract), or, where it must copy the table, run it with `cutover rewrite`";

/// One column of a table, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnShape {
    /// The column's name.
    pub name: String,
    /// Its type, as the database formats it (`character varying(20)`, `numeric(12,2)`).
    pub type_name: String,
    /// Whether it is declared NOT NULL.
    pub not_null: bool,
    /// Its default expression, if any.
    pub default: Option<String>,
    /// Whether a constraint (other than NOT NULL), an identity, a sequence, or an index that is
    /// not in its table's `indexes` depends on it: such a column cannot be swapped for a shadow
    /// column.
    pub has_dependents: bool,
    /// The views (and materialized views) of the user's that read it, qualified: `complete`
    /// cannot drop it while they do (cutover's own version views are not among them).
    pub views: Vec<String>,
}

/// An index a column swap can build again on the shadow column: keys that are plain columns,
/// the default operator classes, no predicate, no INCLUDE columns, no constraint behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexShape {
    /// The index's name.
    pub name: String,
    /// Whether it is UNIQUE.
    pub unique: bool,
    /// Its access method (`btree`, `hash`, ...).
    pub method: String,
    /// Its key columns, in order, each with its ordering options (`DESC`, `NULLS FIRST`, or
    /// empty).
    pub keys: Vec<(String, String)>,
}

/// One table of the schema an expand/contract migration changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// The table's name, unqualified.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<ColumnShape>,
    /// Its indexes that a column swap can rebuild (see `IndexShape`).
    pub indexes: Vec<IndexShape>,
    /// Whether it has a key a backfill can walk: a primary key, or a unique index on NOT NULL
    /// columns (without one, an operation that backfills it cannot start).
    pub has_key: bool,
    /// Whether it is partitioned: PostgreSQL builds no index on it `CONCURRENTLY`.
    pub partitioned: bool,
}

stored_names! {
    /// Where an expand/contract migration is. Each phase is recorded before its first
    /// statement runs, so a phase cut short is found on the next run.
    pub enum ExpandPhase ("expand/contract phase") {
        /// `start` is under way: run it again to finish, or roll back.
        Starting = "starting",
        /// Both versions are live: complete or roll back.
        Started = "started",
        /// `complete` is under way (its history row tells whether the contract committed).
        Completing = "completing",
        /// Only the new version is left.
        Completed = "completed",
        /// `rollback` is under way: run it again to finish.
        RollingBack = "rolling_back",
        /// Only the old version is left; the migration may start again.
        RolledBack = "rolled_back",
    }
}

impl ExpandPhase {
    /// Whether the migration is under way: no other one may start, and SQL migrations leave
    /// its versions' views alone.
    pub fn is_active(self) -> bool {
        match self {
            ExpandPhase::Starting | ExpandPhase::Started | ExpandPhase::Completing | ExpandPhase::RollingBack => true,
            ExpandPhase::Completed | ExpandPhase::RolledBack => false,
        }
    }

    /// The phase in words, for people (`rolling back`).
    pub fn words(self) -> &'static str {
        match self {
            ExpandPhase::Starting => "starting",
            ExpandPhase::Started => "started",
            ExpandPhase::Completing => "completing",
            ExpandPhase::Completed => "completed",
            ExpandPhase::RollingBack => "rolling back",
            ExpandPhase::RolledBack => "rolled back",
        }
    }
}

/// The recorded state of one expand/contract migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandState {
    /// The migration's version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// Where it is.
    pub phase: ExpandPhase,
    /// The schema its new version's views are published in (`public_v3`): what SQL migrations
    /// after it keep in step once it is completed.
    pub version_schema: String,
    /// The plan computed when it started (JSON), so that `complete` and `rollback` run what
    /// `start` planned, whatever the catalog says since.
    pub plan: String,
    /// Who last moved it on.
    pub runner: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When its phase last changed (RFC 3339).
    pub updated_at: String,
    /// Every phase it entered, oldest first, across rollbacks and new starts (empty in a
    /// state table an earlier cutover made, until it is saved again).
    pub log: Vec<PhaseEntry>,
}

/// One phase an expand/contract migration entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseEntry {
    /// The phase.
    pub phase: ExpandPhase,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Which runner.
    pub by: String,
}

/// What the database says about one other session, for telling which schema version it uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
    /// Its process id.
    pub pid: i64,
    /// Who, from where, in which state, for messages (`billing@10.0.0.7, idle in transaction`).
    pub description: String,
    /// Its `application_name`, where a deployment may name its version (`billing@public_v3`).
    pub application: String,
    /// The schemas of the views it holds a lock on (a view is only locked by a query that
    /// uses it, until the end of that query's transaction).
    pub view_schemas: Vec<String>,
    /// The tables of the base schema it holds a lock on.
    pub base_tables: Vec<String>,
    /// The `search_path` its role is set to (`ALTER ROLE ... SET search_path`), for this
    /// database or for all, if any: a role per version is a way to choose one.
    pub role_search_path: Option<String>,
}

/// A database expand/contract migrations run against.
pub trait ExpandTarget: MigrationTarget + RewriteTarget + Inspect {
    /// The schema unqualified names resolve to (PostgreSQL's `current_schema()`).
    fn current_schema(&mut self) -> Result<String, DbError>;

    /// Every ordinary table of `schema` with its columns.
    fn tables(&mut self, schema: &str) -> Result<Vec<TableShape>, DbError>;

    /// Creates the state table if it does not exist, and brings one an earlier cutover made up
    /// to date; called before a state is saved.
    fn ensure_expand_state(&mut self) -> Result<(), DbError>;

    /// Every recorded expand/contract migration, newest first. A row whose phase this version
    /// does not know is an error that names it (the row is never passed over).
    fn expand_states(&mut self) -> Result<Vec<ExpandState>, DbError>;

    /// Records a migration's state (inserted, or its phase and time updated).
    fn save_expand_state(&mut self, state: &ExpandState) -> Result<(), DbError>;

    /// Every other client session on this database with what the database says about which
    /// schema version it uses (cutover's own sessions left out). Which version that makes it is
    /// decided by `cutover-expand`, once for every engine.
    fn sessions(&mut self, base_schema: &str) -> Result<Vec<SessionFacts>, DbError>;

    /// Sets a session variable on this connection (the dual-write triggers stand aside for
    /// cutover's own backfill, which sets `cutover.backfill`).
    fn set_session_variable(&mut self, name: &str, value: &str) -> Result<(), DbError>;
}
