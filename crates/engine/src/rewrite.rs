//! The primitives an online table rewrite needs from a database.
//!
//! The algorithm (which phase comes next, the copy through the backfill engine, the chunked
//! verification, retries of the swap) lives in `cutover-rewrite`; an engine knows how to make
//! the shadow table and its change capture, compare one chunk of both tables, and swap them.

use std::time::Duration;

use crate::{BackfillTarget, CopyInto, DbError, TableKey, Timeouts};

/// The table that records each rewrite's state, beside the history table.
pub const REWRITE_STATE_TABLE: &str = "cutover_rewrites";

/// Where the reverse capture notes a write the old table could not take after a swap: appended
/// to, never updated, so that application transactions never wait on one another for it.
pub const REWRITE_MISSES_TABLE: &str = "cutover_rewrite_misses";

stored_names! {
    /// Where a rewrite is.
    pub enum RewritePhase ("rewrite phase") {
        /// The shadow table exists and the change capture keeps it in step; rows are being
        /// copied (the copy's checkpoint says how far).
        Copying = "copying",
        /// Every row is copied and the copy verified; the swap waits for the operator
        /// (`--defer-swap`).
        Ready = "ready",
        /// The rewritten table has the table's name; the old one is kept in step for a revert.
        Swapped = "swapped",
        /// Swapped back: the table is the original again; the rewritten copy is stale.
        Reverted = "reverted",
        /// What the rewrite left is dropped; done is final.
        Done = "done",
    }
}

/// What to rewrite: `--table`, `--alter`, `--using`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteRequest {
    /// The table as the user wrote it.
    pub table: String,
    /// The change: an `ALTER TABLE` statement of the table, or its actions alone; `None`
    /// rewrites the table as it is (an online `VACUUM FULL`).
    pub alter: Option<String>,
    /// A column's value in the rewritten table, as an expression over the old row, for each
    /// column the plain conversion does not fill.
    pub using: Vec<(String, String)>,
}

/// A rewrite's stored state: enough to resume, swap, revert or clean it up from any process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteState {
    /// The table, qualified and quoted as the database prints it; also the rewrite's name.
    pub table: String,
    /// The change, as given.
    pub alter: Option<String>,
    /// The `--using` expressions, as given.
    pub using: Vec<(String, String)>,
    /// The rewritten copy's name (qualified, quoted): the shadow until the swap, then the
    /// name the old table goes by after a revert.
    pub shadow: String,
    /// The name the original table goes by after the swap (qualified, quoted).
    pub old: String,
    /// Where it is.
    pub phase: RewritePhase,
    /// For a rewrite `done`, the phase it was cleaned up from: `swapped` when its change took
    /// effect; `copying` or `ready` when it was given up before the swap, and `reverted` after
    /// a swap back, both leaving the table as it was. `None` otherwise (and for one an older
    /// version finished).
    pub ended_from: Option<RewritePhase>,
    /// Why the old table stopped being kept in step after the swap (a value it cannot hold);
    /// a revert would lose that write, so it is refused.
    pub out_of_step: Option<String>,
    /// Before the swap, what of the change capture into the copy is missing (a cut-over whose
    /// rename failed after exchanging the triggers, a killed start): the copy lags the table,
    /// and the next run makes the capture again and copies again. Read, never recorded.
    pub capture_incomplete: Option<String>,
    /// Foreign keys (table, constraint) the last swap pointed at the table `NOT VALID` and
    /// that are not validated yet (a run killed between the swap and their validation).
    pub unvalidated: Vec<(String, String)>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When its phase last changed (RFC 3339).
    pub updated_at: String,
}

impl RewriteState {
    /// How a rewrite `done` ended: `applied` (swapped, its change in effect), `abandoned`
    /// (cleaned up before the swap) or `reverted` (swapped back): the last two left the table
    /// as it was. `None` before it is done, or when an older version finished it.
    pub fn outcome(&self) -> Option<&'static str> {
        match (self.phase, self.ended_from?) {
            (RewritePhase::Done, RewritePhase::Swapped) => Some("applied"),
            (RewritePhase::Done, RewritePhase::Copying | RewritePhase::Ready) => Some("abandoned"),
            (RewritePhase::Done, RewritePhase::Reverted) => Some("reverted"),
            _ => None,
        }
    }
}

/// The copy of a rewrite: its key, the statement a batch runs, and what it cannot fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewritePlan {
    /// The state it was made from.
    pub state: RewriteState,
    /// The source's key, which the copy walks and the verification compares by.
    pub key: TableKey,
    /// The copy of a batch's key range into the shadow.
    pub copy: CopyInto,
    /// The shadow's column types (as the database formats them), in the order of `copy.columns`.
    pub types: Vec<String>,
    /// Columns of the rewritten table that nothing fills: they take their default.
    pub defaulted: Vec<String>,
    /// Columns of the table that the rewritten one does not have.
    pub dropped: Vec<String>,
}

/// One chunk of the verification: the same key range read from both tables in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkCheck {
    /// The chunk's last key (`None`: the chunk reached the end of the key range).
    pub last: Option<Vec<String>>,
    /// Rows of the table in the chunk.
    pub source_rows: u64,
    /// Rows of the shadow in the chunk.
    pub shadow_rows: u64,
    /// Keys (as text) of rows that differ, at most a few; empty when the checksums match.
    pub differing: Vec<String>,
}

/// What a swap (or a swap back) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapReport {
    /// How long it waited for its locks, the try that succeeded.
    pub lock_wait: Duration,
    /// How long it held them.
    pub held: Duration,
    /// It went through but its answer was lost (its connection ended as it finished): how long
    /// it waited and held its locks is not known, and the durations say nothing.
    pub timing_unknown: bool,
    /// The tries before it that failed (their lock not granted in time).
    pub failed_tries: u32,
    /// How long those took in all: the application's queries on the table queued behind each
    /// while it waited.
    pub failed_tries_took: Duration,
    /// Views made again on the swapped table.
    pub views: Vec<String>,
    /// Foreign keys of other tables pointed at the swapped table (`NOT VALID`, validated after).
    pub foreign_keys: Vec<(String, String)>,
    /// Triggers moved to the swapped table.
    pub triggers: Vec<String>,
}

/// A database an online rewrite runs against.
pub trait RewriteTarget: BackfillTarget {
    /// The name the rewrite of `table` is recorded under: the table's qualified name as the
    /// database resolves it, or `table` as given when nothing resolves (a killed swap may leave
    /// the name missing for a moment).
    fn rewrite_name(&mut self, table: &str) -> Result<String, DbError>;

    /// The state of the rewrite of `table` (resolved as the database resolves it), if there is one.
    fn load_rewrite(&mut self, table: &str) -> Result<Option<RewriteState>, DbError>;

    /// Every rewrite's state, newest first.
    fn list_rewrites(&mut self) -> Result<Vec<RewriteState>, DbError>;

    /// Makes the shadow (an empty copy of the table with the change applied: columns,
    /// defaults, constraints, indexes, grants, comments) and the change capture that keeps it
    /// in step, in one transaction, and records the rewrite in phase `Copying`. A table the
    /// engine cannot rewrite online is refused with the reason, nothing made.
    fn start_rewrite(&mut self, request: &RewriteRequest, timeouts: Timeouts) -> Result<RewriteState, DbError>;

    /// The copy of a started rewrite, read from the catalog.
    fn rewrite_plan(&mut self, state: &RewriteState) -> Result<RewritePlan, DbError>;

    /// The same for the way back, in a swapped rewrite: the swapped table is the source, the
    /// old table the copy (compared in the old table's types), for the verification before a
    /// revert.
    fn revert_plan(&mut self, state: &RewriteState) -> Result<RewritePlan, DbError>;

    /// Compares the `limit` keys after `after` (from the start when `None`; the last chunk
    /// reaches the end) in both tables, in one snapshot, by checksums of the rows in the
    /// shadow's types.
    fn verify_chunk(
        &mut self,
        plan: &RewritePlan,
        after: Option<&[String]>,
        limit: u64,
        timeouts: Timeouts,
    ) -> Result<ChunkCheck, DbError>;

    /// Why the table cannot take the swap (or, swapped, the revert) because its definition
    /// changed since the rewrite recorded it, naming what changed; asked before a
    /// verification, whose row differences such a change would explain wrongly (a type change
    /// since is no lost write). `None` when it did not change, or when the engine only tells
    /// under the swap's lock.
    fn changed_since_recorded(&mut self, state: &RewriteState) -> Result<Option<String>, DbError> {
        let _ = state;
        Ok(None)
    }

    /// Sessions that hold (PostgreSQL) or may hold (MySQL without a view of metadata locks)
    /// a lock on `table` now, for the message of a step whose lock waits gave up; empty where
    /// the engine cannot tell.
    fn rewrite_lock_holders(&mut self, table: &str) -> Vec<crate::LockHolder> {
        let _ = table;
        Vec::new()
    }

    /// Sets the phase.
    fn set_rewrite_phase(&mut self, state: &RewriteState, phase: RewritePhase) -> Result<(), DbError>;

    /// In one short transaction within `timeouts.lock_timeout`: the shadow takes the table's
    /// name, the table the old name, with its dependents (views, foreign keys pointing at it,
    /// triggers, sequences) moved over, and the old table is kept in step from then on
    /// (phase `Swapped`). A lock not granted in time changes nothing.
    fn swap(&mut self, plan: &RewritePlan, timeouts: Timeouts) -> Result<SwapReport, DbError>;

    /// The swap undone: the old table takes the name back, with its dependents (phase
    /// `Reverted`).
    fn swap_back(&mut self, state: &RewriteState, timeouts: Timeouts) -> Result<SwapReport, DbError>;

    /// Validates the foreign keys the last swap pointed at the table `NOT VALID`
    /// (`RewriteState::unvalidated`, read again), without blocking writes, and records them
    /// done. Returns those that rows break, left `NOT VALID` (with the reason).
    fn validate_foreign_keys(&mut self, table: &str, timeouts: Timeouts) -> Result<Vec<String>, DbError>;

    /// Drops what the rewrite left (the change capture, and the table not in use: the shadow
    /// before a swap or after a revert, the old table after a swap) and records it done.
    fn finish_rewrite(&mut self, state: &RewriteState, timeouts: Timeouts) -> Result<(), DbError>;
}
