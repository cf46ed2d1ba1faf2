//! The backfill loop: throttle, run one batch with its checkpoint, learn, repeat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use cutover_engine::{
    retry, AppWaits, BackfillJob, BackfillTarget, BatchOutcome, Checkpoint, CheckpointState, DbError, DbErrorKind,
    LockHolder, Pace, RetryPolicy, TableKey, Timeouts,
};

use crate::batch_size::BatchSizer;
use crate::lag::{replica_throttle, LagEstimator, Throttle};
use crate::pace::Pacer;
use crate::spec::normalize_sql;
use crate::total::{row_total, RowTotal};
use crate::BackfillSpec;

/// How a backfill runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// What each batch aims to take while the application does not wait on its locks (default
    /// [`DEFAULT_BATCH_TIME`]).
    pub batch_time: Duration,
    /// The least a batch aims to take while the application waits on its locks (default
    /// [`DEFAULT_MIN_BATCH_TIME`]; at most `batch_time`).
    pub min_batch_time: Duration,
    /// The smallest batch (default 10 rows).
    pub min_batch: u64,
    /// The largest batch (default 10,000 rows: cheap rows rarely gain from more, and the
    /// application's writes that touch a batch's rows wait for it to commit).
    pub max_batch: u64,
    /// The first batch of a new backfill (default 1,000 rows).
    pub initial_batch: u64,
    /// Pause while any replica is further behind than this (default 1 s).
    pub max_replica_lag: Duration,
    /// How many replicas must be connected; fewer pauses the backfill (default 0).
    pub expected_replicas: usize,
    /// At most this many rows per second, if set.
    pub max_rows_per_second: Option<u64>,
    /// A pause after every batch (default none).
    pub pause: Duration,
    /// A query returning one boolean; the backfill pauses while it returns false.
    pub health_check: Option<String>,
    /// How long the backfill stays paused on a throttle it cannot read (a failing health
    /// check, a replica lag that cannot be read) before it stops, progress saved (default
    /// 10 min). A pause asked for (a check that answers false, a replica known to be behind)
    /// is not bounded.
    pub max_blind_pause: Duration,
    /// How long a batch may wait for a row lock.
    pub lock_timeout: Duration,
    /// How long a batch may run before it is cancelled and the batch size cut.
    pub statement_timeout: Duration,
    /// Tries per batch when locks are not granted.
    pub lock_retries: std::num::NonZeroU32,
    /// First pause between tries.
    pub retry_backoff: Duration,
    /// How long to wait for another process running the same backfill.
    pub lock_wait: Duration,
    /// Who runs it, for the checkpoint and for waiting processes.
    pub runner: String,
}

/// The batch time while the application does not wait on the batches' locks.
///
/// An application write to a row of a batch waits up to the batch's length, and under a steady
/// load the client that waited starts its next transactions late too; the chance that a batch
/// meets a write grows with its length as well. A user measured (2M rows, pgbench at 200 tx/s of
/// a point UPDATE and SELECT on random rows, PostgreSQL 15): 200 ms batches took the load's p99
/// from 5.9 ms to 85.5 ms, 30 ms batches to 13.4 ms, at the same rows/s. The rows/s hardly
/// depend on it above 20 ms, as a batch's fixed cost (four round trips, the checkpoint, the
/// commit, 1 to 2.5 ms) is amortized by then: on this project's 2-core machine, 1M rows without
/// load, 20 ms batches ran at 90k rows/s, 50 ms at 85k, 200 ms at 105k (plain UPDATE 117k); under
/// 1,000 tx/s of random writes, 25 ms (paced) kept the load's p99 at 51 ms against 47 ms without
/// a backfill, 50 ms (paced) let it reach 174 ms against 61 ms, 200 ms (unpaced) 397 ms against
/// 107 ms (a loaded machine: compare within a run). The pacing halves the time when someone
/// waits, but the first wait of each climb back is paid at this time, so it is kept short.
pub const DEFAULT_BATCH_TIME: Duration = Duration::from_millis(25);

/// The floor of the pacing. Below it a batch's fixed cost eats the backfill: in the measurement
/// above, 10 ms batches ran at 75k rows/s, 5 ms ones at 46k (half of each batch was its fixed
/// cost).
pub const DEFAULT_MIN_BATCH_TIME: Duration = Duration::from_millis(10);

impl Default for Options {
    fn default() -> Self {
        Options {
            batch_time: DEFAULT_BATCH_TIME,
            min_batch_time: DEFAULT_MIN_BATCH_TIME,
            min_batch: 10,
            max_batch: 10_000,
            initial_batch: 1000,
            max_replica_lag: Duration::from_secs(1),
            expected_replicas: 0,
            max_rows_per_second: None,
            pause: Duration::ZERO,
            health_check: None,
            // Long enough to ride out a failover, a replica's restart or a monitoring hiccup;
            // short enough that a check broken for good is seen within the same session, not
            // after hours of a backfill (and the deploy waiting on it) silently going nowhere.
            max_blind_pause: Duration::from_secs(600),
            lock_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(30),
            lock_retries: std::num::NonZeroU32::new(5).expect("5 is not zero"),
            retry_backoff: Duration::from_secs(1),
            lock_wait: Duration::from_secs(600),
            runner: String::new(),
        }
    }
}

impl Options {
    /// Checks the values that would make a backfill do nothing, stall, or batch nonsense:
    /// each problem names its flag.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.batch_time < Duration::from_millis(1) {
            problems.push("--batch-time must be at least 1ms (each batch aims at that time)".to_string());
        }
        if self.min_batch_time < Duration::from_millis(1) {
            problems.push(
                "--min-batch-time must be at least 1ms (batches aim at no less while the application waits on them)"
                    .to_string(),
            );
        }
        if self.min_batch == 0 || self.max_batch == 0 || self.initial_batch == 0 {
            problems.push("--min-batch, --max-batch and --initial-batch must be at least 1 row".to_string());
        }
        if self.min_batch > self.max_batch {
            problems.push(format!(
                "--min-batch {} is larger than --max-batch {}: give a smallest batch no larger than the largest",
                self.min_batch, self.max_batch
            ));
        }
        if self.max_rows_per_second == Some(0) {
            problems.push("--max-rows-per-second 0 would never update a row; leave it out for no limit".to_string());
        }
        if self.max_replica_lag.is_zero() {
            problems.push(
                "--max-replica-lag 0 pauses on any lag at all, which every replica has; give a limit such as 1s"
                    .to_string(),
            );
        }
        if self.max_blind_pause.is_zero() {
            problems.push(
                "--max-blind-pause 0 stops at the first signal that cannot be read; give a bound such as 10m"
                    .to_string(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Something that happened during a backfill.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Another process runs this backfill; this one waits.
    WaitingForLock {
        /// Who holds it.
        holder: &'a LockHolder,
    },
    /// The backfill starts or resumes.
    Started {
        /// Its name.
        name: &'a str,
        /// The key it walks.
        key: &'a TableKey,
        /// The rows of its table: what it walks, and what its progress is measured against
        /// (`Checkpoint::rows_scanned`).
        total: Option<RowTotal>,
        /// The checkpoint it resumes from.
        resumed: Option<&'a Checkpoint>,
    },
    /// A batch committed.
    Batch {
        /// Progress so far, as saved.
        checkpoint: &'a Checkpoint,
        /// Rows this batch selected.
        rows: u64,
        /// How long it took.
        took: Duration,
        /// The size of the next batch.
        next_size: u64,
        /// The application's sessions that waited on this batch's locks.
        app_waits: &'a AppWaits,
        /// The pace of the next batches, and why.
        pace: &'a Pace,
        /// How long the backfill steps aside before the next batch, for the application.
        stepping_aside: Duration,
    },
    /// The backfill waits; `reason` says why. Sent when a pause starts and every few seconds.
    Throttled {
        /// Why.
        reason: &'a str,
    },
    /// The pause is over.
    Resumed,
    /// A batch did not get its locks and will be tried again.
    Retrying {
        /// The try that failed.
        attempt: u32,
        /// Tries in all.
        tries: u32,
        /// Pause before the next.
        delay: Duration,
        /// The error.
        error: &'a DbError,
    },
}

/// Receives the events of a backfill.
pub trait Reporter {
    /// Called for each event.
    fn report(&mut self, event: Event<'_>);
}

/// How a backfill ended.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The final checkpoint.
    pub checkpoint: Checkpoint,
    /// Stopped on request (SIGINT/SIGTERM) before the end; a rerun resumes.
    pub interrupted: bool,
    /// It was already done before this run.
    pub already_done: bool,
    /// How long this run took.
    pub duration: Duration,
}

/// Why a backfill could not run or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Options that would make the backfill do nothing, stall, or batch nonsense.
    #[error("{0}")]
    BadOptions(String),
    /// The assignments change the key the batches walk.
    #[error("`--set` assigns `{column}`, a column of the key the batches of `{table}` walk: a row whose key moves ahead is met again by a later batch, and updated again; change the key in a migration, or backfill over another table")]
    KeyAssigned {
        /// The table.
        table: String,
        /// The key column.
        column: String,
    },
    /// The table has no key to batch over.
    #[error("table `{table}` has no primary key and no unique index on NOT NULL columns: cutover backfills in keyset batches over such a key, so that every batch costs the same and no row is done twice; add one (a primary key, or a unique index on NOT NULL columns; on PostgreSQL, CREATE UNIQUE INDEX CONCURRENTLY builds it without blocking writes) and run again")]
    NoKey {
        /// The table.
        table: String,
    },
    /// A checkpoint with this name belongs to another definition.
    #[error("a backfill named `{name}` already exists with another definition ({existing}); pick another name with --name, or finish that one first")]
    Mismatch {
        /// The name.
        name: String,
        /// What the existing one does.
        existing: String,
    },
    /// The database failed outside a batch.
    #[error("{context}: {source}")]
    Database {
        /// What was under way.
        context: String,
        /// The error.
        source: DbError,
    },
    /// The health check cannot tell the backfill whether to go on: found before the first
    /// batch, nothing written.
    #[error("the health check `{check}` cannot tell the backfill whether to go on: {problem}; a health check is a query that returns one row with one boolean column, true to go on and false to pause: fix it and run again")]
    BadHealthCheck {
        /// The check.
        check: String,
        /// What it did instead.
        problem: String,
    },
    /// A throttle could not be read for longer than `max_blind_pause`.
    #[error("backfill `{name}` stopped after {rows_updated} rows updated: paused {} on a throttle it cannot read: {reason}; it pauses rather than guess, but not forever (--max-blind-pause {}); progress is saved: fix the cause and run it again to resume", humantime::format_duration(Duration::from_secs(waited.as_secs())), humantime::format_duration(*bound))]
    Blind {
        /// The backfill.
        name: String,
        /// Rows done before it stopped.
        rows_updated: i64,
        /// How long it waited.
        waited: Duration,
        /// The bound.
        bound: Duration,
        /// The last reason the throttle gave.
        reason: String,
    },
    /// A batch failed; progress up to the previous batch is saved.
    #[error("backfill `{name}` failed after {rows_updated} rows updated, in the batch of the rows {batch}: {source}; progress is saved: fix the cause and run it again to resume")]
    BatchFailed {
        /// The backfill.
        name: String,
        /// Rows done before the failure.
        rows_updated: i64,
        /// Where the failed batch begins: `after (id) = (2000)`, or `from the first key`
        /// (a value the database refuses is in it; the database names the value, not the row).
        batch: String,
        /// The error.
        source: Box<DbError>,
    },
}

fn database(context: &str) -> impl FnOnce(DbError) -> Error + '_ {
    move |source| Error::Database { context: context.to_string(), source }
}

/// The job a spec describes on this database: its key found, or why there is none.
pub fn prepare(target: &mut dyn BackfillTarget, spec: &BackfillSpec) -> Result<BackfillJob, Error> {
    let key = target
        .table_key(&spec.table)
        .map_err(database("cannot read the table's keys"))?
        .ok_or_else(|| Error::NoKey { table: spec.table.clone() })?;
    if spec.copy_into.is_some() {
        return Ok(BackfillJob { key, set: spec.set.clone(), condition: None, copy_into: spec.copy_into.clone() });
    }
    // The batches walk the key: a row whose key the update moves ahead is met again, and again.
    let assigned = crate::spec::assigned_columns(&spec.set);
    if let Some(column) = key.columns.iter().find(|c| assigned.iter().any(|a| a.eq_ignore_ascii_case(&c.name))) {
        return Err(Error::KeyAssigned { table: spec.table.clone(), column: column.name.clone() });
    }
    Ok(BackfillJob { key, set: spec.set.clone(), condition: spec.condition.clone(), copy_into: None })
}

/// Runs (or resumes) a backfill until it is done, fails, or `stop` is set between batches.
pub fn run(
    target: &mut dyn BackfillTarget,
    spec: &BackfillSpec,
    options: &Options,
    reporter: &mut dyn Reporter,
    stop: &AtomicBool,
) -> Result<Summary, Error> {
    let started = Instant::now();
    options.check().map_err(Error::BadOptions)?;
    let job = prepare(target, spec)?;
    if let Some(check) = &options.health_check {
        validate_health_check(target, check, options)?;
    }
    target.ensure_backfill_state().map_err(database("cannot create the backfill state table"))?;
    // A backfill an older cutover started under the name it derived goes on under that name.
    let mut spec = spec.clone();
    if let Some(legacy) = spec.legacy_name.take() {
        let has = |name: &str, target: &mut dyn BackfillTarget| {
            target.load_checkpoint(name).map(|c| c.is_some()).map_err(database("cannot read the checkpoint"))
        };
        if !has(&spec.name, target)? && has(&legacy, target)? {
            spec.name = legacy;
        }
    }
    let spec = &spec;
    let _lock = target
        .acquire_backfill_lock(&spec.name, &options.runner, options.lock_wait, &mut |holder| {
            reporter.report(Event::WaitingForLock { holder })
        })
        .map_err(database("cannot take the backfill's lock"))?;

    let previous = target.load_checkpoint(&spec.name).map_err(database("cannot read the checkpoint"))?;
    let mut checkpoint = match &previous {
        Some(previous) => {
            // The same backfill however it was spelled (its name is derived from the normal form).
            let same = previous.table == job.key.table
                && normalize_sql(&previous.set) == normalize_sql(&job.set)
                && previous.condition.as_deref().map(normalize_sql) == job.condition.as_deref().map(normalize_sql);
            if !same {
                return Err(Error::Mismatch {
                    name: spec.name.clone(),
                    existing: format!(
                        "UPDATE {} SET {} WHERE {}",
                        previous.table,
                        previous.set,
                        previous.condition.as_deref().unwrap_or("true")
                    ),
                });
            }
            // Done is final: every row was done once, and the condition cannot tell a row
            // still to do from one whose update left it matching (`n = n + 1 WHERE n < 100`).
            if previous.state == CheckpointState::Done {
                return Ok(Summary {
                    checkpoint: previous.clone(),
                    interrupted: false,
                    already_done: true,
                    duration: started.elapsed(),
                });
            }
            let mut resumed = previous.clone();
            resumed.state = CheckpointState::Running;
            resumed.error = None;
            resumed.runner = options.runner.clone();
            resumed
        }
        None => Checkpoint {
            name: spec.name.clone(),
            table: job.key.table.clone(),
            set: job.set.clone(),
            condition: job.condition.clone(),
            key_columns: job.key.columns.iter().map(|c| c.name.clone()).collect(),
            last_key: None,
            pass: 1,
            rows_scanned: 0,
            rows_updated: 0,
            batches: 0,
            batch_size: options.initial_batch as i64,
            state: CheckpointState::Running,
            error: None,
            runner: options.runner.clone(),
            started_at: now_rfc3339(),
            pace: None,
            updated_at: String::new(),
        },
    };
    target.save_checkpoint(&checkpoint).map_err(database("cannot save the checkpoint"))?;
    let total = row_total(target, &job, false);
    let resumed_from = previous.as_ref().filter(|p| p.state != CheckpointState::Done);
    reporter.report(Event::Started { name: &spec.name, key: &job.key, total, resumed: resumed_from });

    let mut pacer =
        Pacer::new(options.batch_time, options.min_batch_time, checkpoint.pace.as_ref().map(|p| p.batch_time));
    let mut sizer =
        BatchSizer::new(checkpoint.batch_size.max(1) as u64, options.min_batch, options.max_batch, pacer.batch_time());
    let mut lag = LagEstimator::default();
    // (start, rows since) of the rate limit's window.
    let mut rate_window = (Instant::now(), 0u64);
    loop {
        if stop.load(Ordering::SeqCst) {
            return finish_interrupted(target, checkpoint, started);
        }
        match wait_while_throttled(target, options, &mut lag, reporter, stop)? {
            Throttled::Stopped => return finish_interrupted(target, checkpoint, started),
            // Time spent waiting is not made up with a burst once the wait is over.
            Throttled::Waited => rate_window = (Instant::now(), 0),
            Throttled::No => {}
            Throttled::Blind { reason, waited } => {
                checkpoint.state = CheckpointState::Failed;
                checkpoint.error = Some(reason.clone());
                target.save_checkpoint(&checkpoint).map_err(database("cannot save the checkpoint"))?;
                return Err(Error::Blind {
                    name: spec.name.clone(),
                    rows_updated: checkpoint.rows_updated,
                    waited,
                    bound: options.max_blind_pause,
                    reason,
                });
            }
        }

        let pace = pacer.pace();
        let (outcome, took) =
            match run_batch_with_retries(target, &job, &checkpoint, &pace, &mut sizer, options, reporter) {
                Ok(done) => done,
                Err(source) => {
                    checkpoint.state = CheckpointState::Failed;
                    checkpoint.error = Some(source.to_string());
                    let _ = target.save_checkpoint(&checkpoint);
                    return Err(Error::BatchFailed {
                        name: spec.name.clone(),
                        rows_updated: checkpoint.rows_updated,
                        batch: batch_start(&job.key, checkpoint.last_key.as_deref()),
                        source: Box::new(source),
                    });
                }
            };
        checkpoint = advance(&checkpoint, &outcome, sizer.size());
        checkpoint.pace = Some(pace);
        let Some(_) = outcome.last_key else {
            // The whole key range is done, each row at most once. No second pass over rows
            // that still match: the assignments may keep them matching, and a row done twice
            // is wrong whenever they are not idempotent (`n = n + 1`).
            checkpoint.state = CheckpointState::Done;
            target.save_checkpoint(&checkpoint).map_err(database("cannot save the checkpoint"))?;
            return Ok(Summary { checkpoint, interrupted: false, already_done: false, duration: started.elapsed() });
        };
        // The application's waits set the time the next batches aim at; the sizer fits the
        // rows to it at once.
        let decision = pacer.observe(&outcome.app_waits, outcome.rows_updated > 0);
        sizer.set_target(decision.batch_time);
        let next_size = sizer.observe(outcome.rows_scanned, took);
        checkpoint.batch_size = next_size as i64;
        let pace = pacer.pace();
        checkpoint.pace = Some(pace.clone());
        reporter.report(Event::Batch {
            checkpoint: &checkpoint,
            rows: outcome.rows_scanned,
            took,
            next_size,
            app_waits: &outcome.app_waits,
            pace: &pace,
            stepping_aside: decision.pause,
        });

        let mut pause = options.pause.max(decision.pause);
        if let Some(max_rate) = options.max_rows_per_second.filter(|r| *r > 0) {
            // Sleep off any lead over the allowed rate within a window that restarts every
            // 10 s, so that time lost to throttling is never made up with a burst.
            rate_window.1 += outcome.rows_updated;
            let due = Duration::from_secs_f64(rate_window.1 as f64 / max_rate as f64);
            pause = pause.max(due.saturating_sub(rate_window.0.elapsed()));
            if rate_window.0.elapsed() >= Duration::from_secs(10) {
                rate_window = (Instant::now() + pause, 0);
            }
        }
        sleep_unless_stopped(pause, stop);
    }
}

/// Where a batch after `last_key` begins, in words: `after (tenant, id) = (3, 2000)`.
fn batch_start(key: &TableKey, last_key: Option<&[String]>) -> String {
    match last_key {
        None => "from the first key".to_string(),
        Some(values) => {
            let columns: Vec<&str> = key.columns.iter().map(|c| c.name.as_str()).collect();
            format!("after ({}) = ({})", columns.join(", "), values.join(", "))
        }
    }
}

/// The checkpoint after a batch.
fn advance(checkpoint: &Checkpoint, outcome: &BatchOutcome, batch_size: u64) -> Checkpoint {
    let mut next = checkpoint.clone();
    next.rows_scanned += outcome.rows_scanned as i64;
    next.rows_updated += outcome.rows_updated as i64;
    if outcome.last_key.is_some() {
        next.batches += 1;
        next.last_key = outcome.last_key.clone();
    }
    next.batch_size = batch_size as i64;
    next
}

fn run_batch_with_retries(
    target: &mut dyn BackfillTarget,
    job: &BackfillJob,
    checkpoint: &Checkpoint,
    pace: &Pace,
    sizer: &mut BatchSizer,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<(BatchOutcome, Duration), DbError> {
    let timeouts = Timeouts { lock_timeout: options.lock_timeout, statement_timeout: options.statement_timeout };
    let policy = RetryPolicy { tries: options.lock_retries, backoff: options.retry_backoff };
    let tries = policy.tries.get();
    // The sizer is read by each try and cut by a statement timeout between tries.
    let sizer = std::cell::RefCell::new(sizer);
    retry(
        policy,
        |error| error.is_lock_contention() || error.kind == DbErrorKind::StatementTimeout,
        |attempt, delay, error| {
            if error.kind == DbErrorKind::StatementTimeout {
                // Far too big for the table as it is now: cut hard, then let it grow back.
                sizer.borrow_mut().shrink_hard();
            }
            reporter.report(Event::Retrying { attempt, tries, delay, error });
        },
        |_| {
            let limit = sizer.borrow().size();
            let batch_started = Instant::now();
            let outcome = target.run_batch(job, checkpoint.last_key.as_deref(), limit, timeouts, &mut |outcome| {
                let mut saved = advance(checkpoint, outcome, limit);
                saved.state = CheckpointState::Running;
                // The pace this batch runs at, for `--status`: what it sees next is known only
                // once it committed.
                saved.pace = Some(pace.clone());
                saved
            })?;
            Ok((outcome, batch_started.elapsed()))
        },
    )
    .map_err(|exhausted| exhausted.error)
}

/// What `wait_while_throttled` did.
enum Throttled {
    /// Nothing held the backfill back.
    No,
    /// It waited for a throttle, which has let go.
    Waited,
    /// A stop was requested while it waited.
    Stopped,
    /// A throttle could not be read for `max_blind_pause`: the backfill stops.
    Blind {
        /// The throttle's last reason.
        reason: String,
        /// How long it could not be read.
        waited: Duration,
    },
}

/// Runs the health check once before anything is written: a check that cannot answer would
/// otherwise pause the backfill until `max_blind_pause`, for a mistake that is there at once.
pub fn validate_health_check(target: &mut dyn BackfillTarget, check: &str, options: &Options) -> Result<(), Error> {
    let timeouts = Timeouts { lock_timeout: options.lock_timeout, statement_timeout: options.statement_timeout };
    match target.health_check(check, timeouts) {
        // False is an answer: the loop pauses until it turns true.
        Ok(_) => Ok(()),
        Err(err) if err.kind == DbErrorKind::Connection => Err(database("cannot run the health check")(err)),
        Err(err) => Err(Error::BadHealthCheck { check: check.to_string(), problem: err.to_string() }),
    }
}

/// Waits while a throttle says so.
fn wait_while_throttled(
    target: &mut dyn BackfillTarget,
    options: &Options,
    lag: &mut LagEstimator,
    reporter: &mut dyn Reporter,
    stop: &AtomicBool,
) -> Result<Throttled, Error> {
    let mut throttled_since: Option<Instant> = None;
    // Since when no throttle could be read; any reading that works starts the bound again.
    let mut blind_since: Option<Instant> = None;
    let mut last_report = Instant::now();
    loop {
        let Some(throttle) = throttle_reason(target, options, lag)? else {
            if throttled_since.is_some() {
                reporter.report(Event::Resumed);
                return Ok(Throttled::Waited);
            }
            return Ok(Throttled::No);
        };
        let mut reason = throttle.reason;
        if throttle.blind {
            let since = *blind_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= options.max_blind_pause {
                return Ok(Throttled::Blind { reason, waited: since.elapsed() });
            }
            // Whole seconds: a countdown, not a measurement.
            let left = options.max_blind_pause.saturating_sub(since.elapsed());
            let left = humantime::format_duration(Duration::from_secs(left.as_secs_f64().ceil() as u64));
            reason = format!("{reason} (stopping in {left} unless it can be read)");
        } else {
            blind_since = None;
        }
        if throttled_since.is_none() || last_report.elapsed() >= Duration::from_secs(5) {
            reporter.report(Event::Throttled { reason: &reason });
            last_report = Instant::now();
        }
        throttled_since.get_or_insert_with(Instant::now);
        if sleep_unless_stopped(Duration::from_millis(250), stop) {
            return Ok(Throttled::Stopped);
        }
    }
}

fn throttle_reason(
    target: &mut dyn BackfillTarget,
    options: &Options,
    lag: &mut LagEstimator,
) -> Result<Option<Throttle>, Error> {
    let replicas = match target.replicas() {
        Ok(replicas) => replicas,
        // A lost connection is not an unknown lag: waiting would wait forever.
        Err(err) if err.kind == cutover_engine::DbErrorKind::Connection => {
            return Err(database(
                "lost the connection to the database (progress is saved: run the same command again to resume)",
            )(err))
        }
        // Fail closed: a lag that cannot be read is not taken to be small.
        Err(err) => return Ok(Some(Throttle::blind(format!("replica lag cannot be read: {err}")))),
    };
    if !replicas.is_empty() || options.expected_replicas > 0 {
        let position = target.wal_position().map_err(database("cannot read the WAL position"))?;
        let now = Instant::now();
        lag.record(now, position);
        if let Some(throttle) =
            replica_throttle(lag, now, &replicas, options.expected_replicas, options.max_replica_lag)
        {
            return Ok(Some(throttle));
        }
    }
    if let Some(check) = &options.health_check {
        let timeouts = Timeouts { lock_timeout: options.lock_timeout, statement_timeout: options.statement_timeout };
        match target.health_check(check, timeouts) {
            Ok(true) => {}
            Ok(false) => return Ok(Some(Throttle::asked(format!("health check `{check}` returned false")))),
            Err(err) if err.kind == cutover_engine::DbErrorKind::Connection => {
                return Err(database(
                    "lost the connection to the database (progress is saved: run the same command again to resume)",
                )(err))
            }
            // Fail closed, as for the lag; `max_blind_pause` bounds it.
            Err(err) => return Ok(Some(Throttle::blind(format!("health check `{check}` failed: {err}")))),
        }
    }
    Ok(None)
}

fn finish_interrupted(
    target: &mut dyn BackfillTarget,
    mut checkpoint: Checkpoint,
    started: Instant,
) -> Result<Summary, Error> {
    checkpoint.state = CheckpointState::Paused;
    target.save_checkpoint(&checkpoint).map_err(database("cannot save the checkpoint"))?;
    Ok(Summary { checkpoint, interrupted: true, already_done: false, duration: started.elapsed() })
}

/// Sleeps up to `duration`, waking early when `stop` is set; returns whether it was.
fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    stop.load(Ordering::SeqCst)
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
