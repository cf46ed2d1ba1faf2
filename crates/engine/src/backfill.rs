//! The primitives the backfill engine needs from a database.
//!
//! The algorithm (batch sizing, throttling, checkpoints, signals) lives in `cutover-backfill`;
//! an engine only knows how to find a table's key, run one keyset batch in one short
//! transaction together with its checkpoint, and read the signals that throttle a backfill.

use std::time::Duration;

use crate::{AppWaits, DbError, LockGuard, LockHolder, Timeouts};

/// A unique, not-null key that orders a table's rows for keyset batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableKey {
    /// The table as the database names it, quoted where needed (`public."Users"`).
    pub table: String,
    /// The key's columns, in index order.
    pub columns: Vec<KeyColumn>,
    /// Where the key comes from: `primary key` or `unique index <name>`.
    pub source: String,
}

/// One column of a [`TableKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    /// The column's name.
    pub name: String,
    /// Its SQL type, as the database formats it (`bigint`, `character varying(20)`).
    pub type_name: String,
}

/// What to update: `UPDATE table SET set WHERE condition`, in batches.
#[derive(Debug, Clone)]
pub struct BackfillJob {
    /// The table's key, which also names the table.
    pub key: TableKey,
    /// The assignments, e.g. `full_name = first_name || ' ' || last_name`.
    pub set: String,
    /// The rows still to do, e.g. `full_name IS NULL`; `None` means every row.
    pub condition: Option<String>,
    /// Instead of updating the rows, copy them into another table (an online rewrite's
    /// shadow); `set` then only describes the copy, for its checkpoint.
    pub copy_into: Option<CopyInto>,
}

/// A batch that copies its key range into another table instead of updating it: `INSERT INTO
/// table (columns) SELECT values FROM <job's table> AS alias WHERE <key range>`, reading the
/// rows with a share lock (a row deleted meanwhile is not copied after the delete's change
/// capture ran) and leaving a row already there (written by the change capture, newer) as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInto {
    /// The destination, quoted and qualified.
    pub table: String,
    /// The destination's columns, quoted.
    pub columns: Vec<String>,
    /// The value of each column, an expression over the source row (its columns, or `alias.c`).
    pub values: Vec<String>,
    /// The source's alias in the values, quoted (the source table's own name).
    pub alias: String,
}

/// What one batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Rows the batch selected by key (and condition).
    pub rows_scanned: u64,
    /// Rows it updated.
    pub rows_updated: u64,
    /// The largest key of the batch, as text, one value per key column; `None` when the batch
    /// was empty, which means the backfill has walked the whole key range.
    pub last_key: Option<Vec<String>>,
    /// The application's sessions that waited on the batch's locks, watched from its start to
    /// its commit.
    pub app_waits: AppWaits,
}

/// The first and last key of one batch, as text, one value per key column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The batch's first key.
    pub first: Vec<String>,
    /// Its last key.
    pub last: Vec<String>,
}

stored_names! {
    /// Where a backfill is.
    pub enum CheckpointState ("backfill state") {
        /// A runner is on it, or was when it died: running it again resumes.
        Running = "running",
        /// A stop request paused it; running it again resumes.
        Paused = "paused",
        /// The whole key range is done; done is final.
        Done = "done",
        /// An error stopped it (`error` says which); running it again resumes.
        Failed = "failed",
    }
}

/// How fast a backfill goes and why, saved with its checkpoint so that `--status` can say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    /// What each batch aims to take now.
    pub batch_time: Duration,
    /// The application's sessions that waited on the batch that set it.
    pub sessions_waited: u64,
    /// The longest of their waits.
    pub longest_wait: Duration,
    /// Why, in words (`3 app sessions waited on our locks, longest 12 ms`).
    pub reason: String,
}

/// A backfill's saved progress: enough to resume it exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The backfill's name.
    pub name: String,
    /// The table, as the key names it.
    pub table: String,
    /// The assignments.
    pub set: String,
    /// The condition, if any.
    pub condition: Option<String>,
    /// The key's column names.
    pub key_columns: Vec<String>,
    /// The last key done; `None` before the first batch.
    pub last_key: Option<Vec<String>>,
    /// Always 1: a backfill is one pass over the key range (kept for the state tables of
    /// versions that made more passes, and resumed as it is).
    pub pass: i32,
    /// Rows selected so far.
    pub rows_scanned: i64,
    /// Rows updated so far.
    pub rows_updated: i64,
    /// Batches committed so far.
    pub batches: i64,
    /// The batch size in use.
    pub batch_size: i64,
    /// Where it is.
    pub state: CheckpointState,
    /// The error that stopped it, if it failed.
    pub error: Option<String>,
    /// Who runs or ran it.
    pub runner: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Its pace when it last saved progress; `None` before its first batch, and in checkpoints
    /// saved by versions that did not pace.
    pub pace: Option<Pace>,
    /// When it last saved progress (RFC 3339).
    pub updated_at: String,
}

/// What the database says of one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    /// Its name (`application_name`) and address.
    pub name: String,
    /// Its replication state (`streaming`, `catchup`, ...).
    pub state: String,
    /// The WAL position it has replayed, `None` when it cannot be read (no privilege).
    pub replay_position: Option<u64>,
    /// The replay lag the server measured, `None` when it reports none.
    pub replay_lag: Option<Duration>,
}

/// A database a backfill runs against.
pub trait BackfillTarget {
    /// The table's key: its primary key, else its narrowest unique index on not-null columns
    /// (valid, not partial, no expressions). `Ok(None)` when it has neither.
    fn table_key(&mut self, table: &str) -> Result<Option<TableKey>, DbError>;

    /// Creates the checkpoint table if it does not exist.
    fn ensure_backfill_state(&mut self) -> Result<(), DbError>;

    /// The checkpoint of the backfill named `name`, if there is one.
    fn load_checkpoint(&mut self, name: &str) -> Result<Option<Checkpoint>, DbError>;

    /// Every checkpoint, newest first.
    fn list_checkpoints(&mut self) -> Result<Vec<Checkpoint>, DbError>;

    /// Saves a checkpoint on its own (at the start, on a pause, at the end).
    fn save_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), DbError>;

    /// Runs one batch of at most `limit` rows after `after` (from the start when `None`) in one
    /// transaction with `timeouts`, and saves the checkpoint `checkpoint` computes from the
    /// outcome in the same transaction: a batch is never done without its checkpoint. While the
    /// batch runs, the engine watches for the application's sessions that wait on its locks
    /// (`BatchOutcome::app_waits`, known once it committed), from a connection of its own.
    fn run_batch(
        &mut self,
        job: &BackfillJob,
        after: Option<&[String]>,
        limit: u64,
        timeouts: Timeouts,
        checkpoint: &mut dyn FnMut(&BatchOutcome) -> Checkpoint,
    ) -> Result<BatchOutcome, DbError>;

    /// The rows of the job's table (with `matching`, only those its condition selects), counted
    /// exactly, in a read-only statement that gives up after `timeouts.statement_timeout`
    /// (`DbErrorKind::StatementTimeout`) and waits at most `timeouts.lock_timeout` for a lock.
    fn count_rows(&mut self, job: &BackfillJob, matching: bool, timeouts: Timeouts) -> Result<u64, DbError>;

    /// The planner's estimate of the rows of the job's table (with `matching`, of those its
    /// condition selects), for a table too big to count.
    fn estimate_rows(&mut self, job: &BackfillJob, matching: bool) -> Result<Option<u64>, DbError>;

    /// The statement a batch runs, for `--dry-run` (`first`: the first batch, with no lower key).
    fn batch_statement(&self, job: &BackfillJob, first: bool, limit: u64) -> String;

    /// The key ranges of the first `n` batches of `limit` rows, read without writing.
    fn batch_boundaries(&mut self, job: &BackfillJob, limit: u64, n: usize) -> Result<Vec<KeyRange>, DbError>;

    /// The current WAL position, to measure replicas against.
    fn wal_position(&mut self) -> Result<u64, DbError>;

    /// The replicas streaming from this database.
    fn replicas(&mut self) -> Result<Vec<ReplicaState>, DbError>;

    /// Runs a user-supplied health check with `timeouts`: `true` means go on, `false` pause.
    /// A check that cannot answer so (no row, several rows or columns, a value that is not a
    /// boolean, NULL) is an error whose message says what it returned (`it returned NULL`).
    fn health_check(&mut self, sql: &str, timeouts: Timeouts) -> Result<bool, DbError>;

    /// Takes the lock that lets one process at a time run the backfill `name`.
    fn acquire_backfill_lock(
        &mut self,
        name: &str,
        owner: &str,
        wait: Duration,
        on_wait: &mut dyn FnMut(&LockHolder),
    ) -> Result<LockGuard, DbError>;
}
