//! Batched backfills that never hurt production.
//!
//! `UPDATE users SET full_name = ...` over a large table in one statement holds a lock on every
//! row it touches until it commits, bloats the table and the WAL at once, and leaves replicas
//! minutes behind. [`run`] does the same update in keyset batches over a unique key, each one
//! short transaction that also saves the checkpoint, sized to take a target time
//! ([`BatchSizer`]) that shrinks while the application waits on the batches' locks and grows
//! back when it does not ([`Pacer`]), paused while replicas lag ([`LagEstimator`]), a health
//! check fails or a rate limit is reached, and stopped cleanly between batches on request. A rerun resumes from the
//! checkpoint, and no row is ever updated twice by one backfill: it is one pass over the key
//! range, whatever the assignments do to the condition.
//!
//! The algorithm sees the database only through `cutover_engine::BackfillTarget`.
#![deny(missing_docs)]

mod batch_size;
mod lag;
mod pace;
mod run;
mod spec;
mod total;

pub use batch_size::BatchSizer;
pub use lag::{replica_throttle, LagEstimator, Throttle};
pub use pace::{PaceDecision, Pacer, MAX_PAUSE};
pub use run::{
    prepare, run, validate_health_check, Error, Event, Options, Reporter, Summary, DEFAULT_BATCH_TIME,
    DEFAULT_MIN_BATCH_TIME,
};
/// Whether a process runs, now, the backfill (or the rewrite) whose lock is `lock` (a
/// backfill's name, `cutover_rewrite`'s lock name for a rewrite's copy). A checkpoint that says
/// `running` with nobody holding its lock was left by a run stopped or killed: the same command
/// resumes it. The lock is taken and let go at once when free.
pub fn running_now(
    target: &mut dyn cutover_engine::BackfillTarget,
    lock: &str,
) -> Result<bool, cutover_engine::DbError> {
    match target.acquire_backfill_lock(lock, "cutover --status", std::time::Duration::ZERO, &mut |_| {}) {
        Ok(_free) => Ok(false),
        Err(err) if err.kind == cutover_engine::DbErrorKind::LockTimeout => Ok(true),
        Err(err) => Err(err),
    }
}

pub use spec::{declared_backfills, find_declared, normalize_sql, BackfillSpec, SpecError};
pub use total::{row_total, RowTotal, COUNT_LIMIT};
