//! The seam between cutover's algorithms and the databases they run on.
//!
//! The runner (and later the backfill engine and expand/contract operations) is written once
//! against the traits here; `cutover-postgres` and `cutover-sqlite` implement them. The traits
//! are deliberately narrow primitives, in the spirit of sqlx's `Migrate`: the algorithm (which
//! migration runs, how failures are recorded, when to retry) lives in the runner, never in an
//! engine.
//!
//! This crate has no I/O and no dependency on any driver.
#![deny(missing_docs)]

#[macro_use]
mod names;
mod backfill;
mod engine;
mod error;
mod expand;
mod history;
pub mod keyset;
mod live;
mod lock_waits;
mod retry;
mod rewrite;
mod schema;
mod shown_query;
mod target;
mod url;

pub use backfill::{
    BackfillJob, BackfillTarget, BatchOutcome, Checkpoint, CheckpointState, CopyInto, KeyColumn, KeyRange, Pace,
    ReplicaState, TableKey,
};
pub use engine::{at_most, count, Engine};
pub use error::{DbError, DbErrorKind};
pub use expand::{
    ColumnShape, ExpandPhase, ExpandState, ExpandTarget, IndexShape, PhaseEntry, SessionFacts, TableShape,
    EXPAND_ON_MYSQL,
};
pub use history::{Approval, ApprovalKind, Direction, HistoryRecord, RecordKind, State};
pub use live::{
    Catalog, CurrentHolders, Dependent, LiveCheck, LiveColumn, LiveDatabase, LiveForeignKey, LiveIndex, LiveSchema,
    LiveTable, LiveView, Observation, ObservedLock, QueryUse, Rehearsal, RelationFacts, SampleReport,
    UnseenTransactions,
};
pub use lock_waits::{
    watched, AppWaits, Cadence, CommitLatency, LockWaits, LockWatcher, ProbeCommit, WaitTally, WaitingSession,
    WatchSlot, PROBE_EVERY,
};
pub use names::UnknownName;
pub use retry::{backoff, jitter, retry, Exhausted, RetryPolicy};
pub use rewrite::{
    ChunkCheck, RewritePhase, RewritePlan, RewriteRequest, RewriteState, RewriteTarget, SwapReport,
    REWRITE_MISSES_TABLE, REWRITE_STATE_TABLE,
};
pub use schema::{ObjectKind, SchemaObject, SchemaSnapshot};
pub use shown_query::{query_for_display, statement_head};
pub use target::{
    AdoptTarget, GuardRow, Inspect, LockGuard, LockHolder, MigrationTarget, Session, StillRunning, Timeouts,
};
pub use url::{redact_secrets, DatabaseUrl, UrlError};
