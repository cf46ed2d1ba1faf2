//! Online table rewrites: a change that must copy the table, made without blocking it.
//!
//! `ALTER TABLE users ALTER COLUMN id TYPE bigint` rewrites every row under an `ACCESS
//! EXCLUSIVE` lock; on MySQL an `ALGORITHM=COPY` change blocks writes for the whole copy.
//! [`run`] makes the same change on a shadow table instead (an empty copy with the change
//! applied), keeps the shadow in step with every write from then on (change capture in the
//! database), copies the rows through the backfill engine (keyset batches, paced, throttled,
//! checkpointed, resumable), verifies the copy chunk by chunk against the table in one
//! snapshot, and swaps the two in one short transaction under the lock timeout, retried with
//! backoff. The old table is kept and kept in step after the swap, so that [`revert`] swaps back
//! with nothing lost; [`cleanup`] drops what is left.
//!
//! Every phase is recorded (`RewritePhase`): a killed run resumes where it stopped when run
//! again. The algorithm sees the database only through `cutover_engine::RewriteTarget`.
#![deny(missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cutover_backfill::BackfillSpec;
use cutover_engine::{
    retry, DbError, LockGuard, LockHolder, RetryPolicy, RewritePhase, RewritePlan, RewriteRequest, RewriteState,
    RewriteTarget, SwapReport, Timeouts,
};

/// Rows per verification chunk at most unless told: each chunk read in one snapshot, in well
/// under a second.
pub const DEFAULT_VERIFY_CHUNK: u64 = 100_000;

/// What one verification chunk aims to take. Its rows are read in one snapshot: wide rows
/// (a tester's 300 rows of 600 KB took 5 s) would hold it for long at a fixed row count.
const VERIFY_CHUNK_TIME: Duration = Duration::from_millis(500);

/// The first chunk's rows (at most `--verify-chunk`): small, as nothing is known of the rows'
/// width yet; doubled while chunks come in under [`VERIFY_CHUNK_TIME`].
const FIRST_VERIFY_CHUNK: u64 = 1_000;

/// The next chunk's rows after one of `rows` took `took`: scaled to the aimed time when over
/// it, doubled (up to `max`) when well under it, at least one row.
fn next_verify_chunk(rows: u64, took: Duration, max: u64) -> u64 {
    let max = max.max(1);
    if took > VERIFY_CHUNK_TIME {
        let scaled = rows as f64 * VERIFY_CHUNK_TIME.as_secs_f64() / took.as_secs_f64();
        (scaled as u64).clamp(1, max)
    } else if took * 2 <= VERIFY_CHUNK_TIME {
        rows.saturating_mul(2).min(max)
    } else {
        rows.min(max)
    }
}

/// How a rewrite runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How the copy runs: its pace, throttles and lock timeouts.
    pub copy: cutover_backfill::Options,
    /// Rows per verification chunk at most (chunks are sized by time below it). Each costs a
    /// snapshot and a bound of its own: on 2M rows, chunks of 10,000 took 7.9 s to verify, of
    /// 50,000 4.0 s, of 200,000 2.3 s.
    pub verify_chunk: u64,
    /// Stop when the copy is verified, before the swap (`--defer-swap`); the same command
    /// swaps later.
    pub defer_swap: bool,
    /// The making of the shadow and the swap: how long each may wait for its locks.
    pub timeouts: Timeouts,
    /// Tries of the swap (and of the making of the change capture) when its locks are not granted.
    pub retry: RetryPolicy,
}

/// Something that happened during a rewrite.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The shadow and its change capture are made (`resumed`: they were already).
    Started {
        /// The copy.
        plan: &'a RewritePlan,
        /// Made by an earlier run.
        resumed: bool,
    },
    /// A verification chunk matched.
    Verifying {
        /// Rows compared so far.
        rows: u64,
        /// Chunks compared so far.
        chunks: u64,
    },
    /// The copy equals the table.
    Verified {
        /// Rows compared.
        rows: u64,
        /// How long it took.
        took: Duration,
    },
    /// A foreign key the swap made again that rows break: left `NOT VALID` (checked for new
    /// rows only). A key the old table had, restored by a revert, that rows written since break.
    LeftNotValid {
        /// The table, the constraint and why.
        constraint: &'a str,
    },
    /// The swap (or the making of the change capture) did not get its locks in time; it will
    /// be tried again.
    Retrying {
        /// What is tried.
        what: &'static str,
        /// The try that failed.
        attempt: u32,
        /// Tries in all.
        tries: u32,
        /// The error.
        error: &'a DbError,
    },
    /// Another process runs a command on the same rewrite; this one waits for it.
    WaitingForLock {
        /// Who holds it.
        holder: &'a LockHolder,
    },
}

/// Receives the events of a rewrite.
pub trait Reporter {
    /// Called for each event.
    fn report(&mut self, event: Event<'_>);
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Stopped on request during the copy; the same command resumes.
    Interrupted,
    /// Verified and ready; the swap waits for the operator (`--defer-swap`).
    Deferred(RewriteState),
    /// It was swapped by an earlier run.
    AlreadySwapped(RewriteState),
    /// Swapped: the rewritten table has the table's name.
    Swapped {
        /// The state after the swap.
        state: RewriteState,
        /// What the swap did.
        report: SwapReport,
        /// Rows copied by this run.
        rows_copied: i64,
        /// Rows verified.
        rows_verified: u64,
    },
}

/// Why a rewrite could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused or failed.
    #[error("{context}: {source}")]
    Database {
        /// What was under way.
        context: String,
        /// The error.
        source: DbError,
    },
    /// The copy failed or was refused; its progress is saved.
    #[error(transparent)]
    Copy(#[from] cutover_backfill::Error),
    /// A rewrite of the table with another change is under way.
    #[error("a rewrite of {table} with another change is under way ({existing}, {phase}); {}", next_step(*.phase, .table))]
    Mismatch {
        /// The table.
        table: String,
        /// The change under way.
        existing: String,
        /// Its phase.
        phase: RewritePhase,
    },
    /// The rewrite is past the point this command acts on.
    #[error("{0}")]
    Phase(String),
    /// The copy met a row the new definition refuses; the rewrite was dropped.
    #[error("the copy of {table} met a row the new definition refuses: {source}; {}", match .dropped {
        None => "the copy and the change capture were dropped, so that the application's writes of such rows are not refused meanwhile (the table is as it was): fix the change (or the rows), then start again".to_string(),
        Some(why) => format!("dropping the copy and the change capture failed too ({why}); while the capture stays, the application's writes of such rows are refused: drop it with `cutover rewrite --cleanup --table {}`", shell_word(.table)),
    })]
    CopyRefused {
        /// The table.
        table: String,
        /// What the database said.
        source: Box<DbError>,
        /// Why dropping the rewrite failed, if it did.
        dropped: Option<String>,
    },
    /// The copy differs from the table: the swap is refused.
    #[error("the copy of {table} differs from the table in {chunks} chunk(s) of its key range ({rows} rows compared); first differing keys: {keys}; nothing was swapped. Causes: a `--using` expression that is not the same each time it runs (random(), clock_timestamp(), UUID()), a unique constraint the change adds that rows of the table break (the copy keeps the first of them), or a write that bypassed the change capture; drop the copy with `cutover rewrite --cleanup --table {}`, fix the cause and start again", shell_word(.table))]
    Differs {
        /// The table.
        table: String,
        /// Chunks that differ.
        chunks: u64,
        /// Rows compared.
        rows: u64,
        /// The first differing keys.
        keys: String,
    },
    /// Before a revert: the old table differs from the swapped one.
    #[error("the old table {old} differs from {table} in {chunks} chunk(s) of its key range ({rows} rows compared); first differing keys: {keys}; {}, and a revert would lose them: nothing was swapped back; keep the rewritten table (`cutover rewrite --cleanup --table {}` drops the old one)", if *.using { "the old table is kept in step by casting the new values back, which undoes no `--using` expression that changes values (such a rewrite is one way), or writes since the swap did not all reach it" } else { "writes since the swap did not all reach it (its change capture was stopped or a write bypassed it)" }, shell_word(.table))]
    RevertDiffers {
        /// The table.
        table: String,
        /// The old table.
        old: String,
        /// Chunks that differ.
        chunks: u64,
        /// Rows compared.
        rows: u64,
        /// The first differing keys.
        keys: String,
        /// The rewrite gave values by `--using` expressions, which the way back does not undo.
        using: bool,
    },
}

fn database(context: impl Into<String>) -> impl FnOnce(DbError) -> Error {
    let context = context.into();
    move |source| Error::Database { context, source }
}

fn describe(request_alter: Option<&str>, using: &[(String, String)]) -> String {
    let mut text = request_alter.map(str::to_string).unwrap_or_else(|| "no change (a compaction)".to_string());
    for (column, expression) in using {
        text.push_str(&format!(", {column} = {expression}"));
    }
    text
}

/// `text` as one word of a shell command to copy: as it is when nothing in it means something
/// to a shell (a MySQL name's backticks would run a command), else in single quotes.
pub fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Whether `expression` gives `column` its new value by a cast of the column alone (`n`,
/// `n::bigint`, `CAST(n AS bigint)`, `CONVERT(n, SIGNED)`): the way back casts the new values
/// back, which undoes a cast and nothing else (`n * 100`, `round(n, 2)`).
pub fn is_cast_of(column: &str, expression: &str) -> bool {
    let text: String = expression
        .to_lowercase()
        .replace(['"', '`'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ::", "::")
        .replace(":: ", "::");
    let column = column.to_lowercase();
    let type_words = |rest: &str| rest.chars().all(|c| c.is_ascii_alphanumeric() || " _(),:".contains(c));
    if text == column {
        return true;
    }
    if let Some(rest) = text.strip_prefix(&format!("{column}::")) {
        return type_words(rest);
    }
    let inner = |prefix: &str| text.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(')')).map(str::trim);
    if let Some(rest) = inner("cast(").and_then(|inner| inner.strip_prefix(&format!("{column} as "))) {
        return type_words(rest);
    }
    if let Some(rest) = inner("convert(").and_then(|inner| inner.strip_prefix(&format!("{column},"))) {
        return type_words(rest);
    }
    false
}

/// The `--using` pairs of `using` that are not casts of their column: they make a rewrite one
/// way (see [`is_cast_of`]).
pub fn one_way(using: &[(String, String)]) -> Vec<&(String, String)> {
    using.iter().filter(|(column, expression)| !is_cast_of(column, expression)).collect()
}

/// The lock that lets one process at a time act on the rewrite of `table` (as recorded,
/// `RewriteTarget::rewrite_name`), among the backfills' locks.
pub fn lock_name(table: &str) -> String {
    format!("rewrite {table}")
}

/// The name of a rewrite's copy among the backfills (its checkpoint): one per rewrite started.
pub fn copy_name(state: &RewriteState) -> String {
    format!("rewrite {} {}", state.table, state.started_at)
}

/// Runs (or resumes) the rewrite `request` until it is swapped, deferred, stopped or failed.
pub fn run(
    target: &mut dyn RewriteTarget,
    request: &RewriteRequest,
    options: &Options,
    reporter: &mut dyn Reporter,
    copy_reporter: &mut dyn cutover_backfill::Reporter,
    stop: &AtomicBool,
) -> Result<Outcome, Error> {
    options.copy.check().map_err(cutover_backfill::Error::BadOptions)?;
    // Before anything is made: a check that cannot answer is refused with nothing to undo.
    if let Some(check) = &options.copy.health_check {
        cutover_backfill::validate_health_check(target, check, &options.copy)?;
    }
    let _lock = lock(target, &request.table, options, reporter, &mut false)?;
    let existing = target.load_rewrite(&request.table).map_err(database("cannot read the rewrite's state"))?;
    let (state, resumed) = match existing {
        Some(state) if state.phase != RewritePhase::Done => {
            let normal = |text: Option<&str>| text.map(cutover_backfill::normalize_sql);
            if normal(state.alter.as_deref()) != normal(request.alter.as_deref()) || state.using != request.using {
                return Err(Error::Mismatch {
                    table: state.table.clone(),
                    existing: describe(state.alter.as_deref(), &state.using),
                    phase: state.phase,
                });
            }
            if matches!(state.phase, RewritePhase::Swapped | RewritePhase::Reverted) {
                validate(target, &state.table, options.timeouts, reporter)?;
            }
            match state.phase {
                // The same command again after the swap (a run killed after it): done.
                RewritePhase::Swapped => return Ok(Outcome::AlreadySwapped(state)),
                RewritePhase::Reverted => {
                    return Err(Error::Phase(format!(
                        "the rewrite of {} was reverted; `cutover rewrite --cleanup --table {}` drops the rewritten copy, then the rewrite can start again",
                        state.table, shell_word(&state.table)
                    )))
                }
                _ => (state, true),
            }
        }
        _ => {
            let policy = options.retry;
            let state = retry(
                policy,
                DbError::is_lock_contention,
                |attempt, _, error| {
                    reporter.report(Event::Retrying {
                        what: "the change capture",
                        attempt,
                        tries: policy.tries.get(),
                        error,
                    })
                },
                |_| target.start_rewrite(request, options.timeouts),
            )
            .map_err(|exhausted| exhausted.error)
            .map_err(database(format!("cannot start the rewrite of {}", request.table)))?;
            (state, false)
        }
    };
    let plan = target.rewrite_plan(&state).map_err(database("cannot read the rewrite's tables"))?;
    reporter.report(Event::Started { plan: &plan, resumed });

    let mut rows_copied = 0;
    let mut rows_verified = 0;
    if state.phase == RewritePhase::Copying {
        let spec = BackfillSpec {
            name: copy_name(&state),
            table: plan.key.table.clone(),
            set: format!(
                "copy into {} ({}) values ({})",
                plan.copy.table,
                plan.copy.columns.join(", "),
                plan.copy.values.join(", ")
            ),
            condition: None,
            legacy_name: None,
            copy_into: Some(plan.copy.clone()),
        };
        let summary = match cutover_backfill::run(target, &spec, &options.copy, copy_reporter, stop) {
            Ok(summary) => summary,
            // A row the new definition refuses (a CHECK old rows break, a value the new type
            // cannot hold): the change capture would refuse the application's writes of such
            // rows too, in its own transactions. Left in place until an operator came, it would
            // fail them for nothing, so the rewrite is dropped before saying so.
            Err(cutover_backfill::Error::BatchFailed { source, .. }) if source.is_data_refused() => {
                let dropped = target.finish_rewrite(&state, options.timeouts);
                return Err(Error::CopyRefused {
                    table: state.table.clone(),
                    source,
                    dropped: dropped.err().map(|e| e.to_string()),
                });
            }
            Err(err) => return Err(err.into()),
        };
        if summary.interrupted {
            return Ok(Outcome::Interrupted);
        }
        rows_copied = summary.checkpoint.rows_updated;
        refuse_if_redefined(target, &state)?;
        rows_verified = verify(target, &plan, options, reporter, stop)?;
        if stop.load(Ordering::SeqCst) {
            return Ok(Outcome::Interrupted);
        }
        target.set_rewrite_phase(&state, RewritePhase::Ready).map_err(database("cannot record the verified copy"))?;
    } else if !options.defer_swap {
        // Verified by an earlier run that deferred the swap: compared again, as what happened
        // meanwhile (a write that bypassed the triggers) would go live with the swap.
        refuse_if_redefined(target, &state)?;
        rows_verified = match verify(target, &plan, options, reporter, stop) {
            // No longer a verified copy: `--status` must not go on calling it ready, and the
            // next run verifies it again whether or not it defers the swap.
            Err(differs @ Error::Differs { .. }) => {
                target
                    .set_rewrite_phase(&state, RewritePhase::Copying)
                    .map_err(database("cannot record that the copy differs"))?;
                return Err(differs);
            }
            verified => verified?,
        };
        if stop.load(Ordering::SeqCst) {
            return Ok(Outcome::Interrupted);
        }
    }
    let state = RewriteState { phase: RewritePhase::Ready, ..state };
    if options.defer_swap {
        return Ok(Outcome::Deferred(state));
    }
    let plan = RewritePlan { state: state.clone(), ..plan };
    let report = swap(target, options, reporter, "the swap", |target| target.swap(&plan, options.timeouts))?;
    validate(target, &state.table, options.timeouts, reporter)?;
    let state =
        target.load_rewrite(&state.table).map_err(database("cannot read the rewrite's state"))?.unwrap_or(state);
    Ok(Outcome::Swapped { state, report, rows_copied, rows_verified })
}

/// Compares the copy with the table chunk by chunk; the rows compared, or where they differ.
fn verify(
    target: &mut dyn RewriteTarget,
    plan: &RewritePlan,
    options: &Options,
    reporter: &mut dyn Reporter,
    stop: &AtomicBool,
) -> Result<u64, Error> {
    verify_as(target, plan, options, reporter, stop, false)
}

/// Refused when the table's definition changed since the rewrite recorded it: the rows would
/// differ for that reason, and the verification would blame a lost write.
fn refuse_if_redefined(target: &mut dyn RewriteTarget, state: &RewriteState) -> Result<(), Error> {
    match target.changed_since_recorded(state).map_err(database("cannot read the table's definition"))? {
        Some(refusal) => Err(Error::Phase(refusal)),
        None => Ok(()),
    }
}

/// `verify`; with `revert`, the copy compared is the old table before a swap back.
fn verify_as(
    target: &mut dyn RewriteTarget,
    plan: &RewritePlan,
    options: &Options,
    reporter: &mut dyn Reporter,
    stop: &AtomicBool,
    revert: bool,
) -> Result<u64, Error> {
    let started = Instant::now();
    let (mut after, mut rows, mut chunks) = (None::<Vec<String>>, 0u64, 0u64);
    let (mut differing_chunks, mut keys) = (0u64, Vec::new());
    let timeouts =
        Timeouts { statement_timeout: options.copy.statement_timeout, lock_timeout: options.copy.lock_timeout };
    let mut limit = FIRST_VERIFY_CHUNK.min(options.verify_chunk.max(1));
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(rows);
        }
        let began = Instant::now();
        let mut check =
            target.verify_chunk(plan, after.as_deref(), limit, timeouts).map_err(database("cannot verify the copy"))?;
        let took = began.elapsed();
        if !check.differing.is_empty() {
            // Compared again once: a chunk is read in one snapshot, so a difference is real,
            // but it costs little to be sure before refusing the swap.
            check = target
                .verify_chunk(plan, after.as_deref(), limit, timeouts)
                .map_err(database("cannot verify the copy"))?;
            if !check.differing.is_empty() {
                differing_chunks += 1;
                keys.extend(check.differing.iter().cloned());
            }
        }
        rows += check.source_rows.max(check.shadow_rows);
        chunks += 1;
        limit = next_verify_chunk(limit, took, options.verify_chunk);
        reporter.report(Event::Verifying { rows, chunks });
        match check.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    if differing_chunks > 0 {
        keys.truncate(5);
        if revert {
            return Err(Error::RevertDiffers {
                using: !plan.state.using.is_empty(),
                table: plan.state.table.clone(),
                old: plan.state.old.clone(),
                chunks: differing_chunks,
                rows,
                keys: keys.join("; "),
            });
        }
        return Err(Error::Differs {
            table: plan.state.table.clone(),
            chunks: differing_chunks,
            rows,
            keys: keys.join("; "),
        });
    }
    reporter.report(Event::Verified { rows, took: started.elapsed() });
    Ok(rows)
}

fn swap(
    target: &mut dyn RewriteTarget,
    options: &Options,
    reporter: &mut dyn Reporter,
    what: &'static str,
    mut attempt: impl FnMut(&mut dyn RewriteTarget) -> Result<SwapReport, DbError>,
) -> Result<SwapReport, Error> {
    let policy = options.retry;
    // A try that times out waiting for its lock queued the application's queries on the table
    // for that long too: the report counts them, not only the try that got through.
    let mut failed = (0u32, Duration::ZERO);
    retry(
        policy,
        DbError::is_lock_contention,
        |attempt, _, error| reporter.report(Event::Retrying { what, attempt, tries: policy.tries.get(), error }),
        |_| {
            let started = Instant::now();
            let result = attempt(target);
            if result.is_err() {
                failed = (failed.0 + 1, failed.1 + started.elapsed());
            }
            result
        },
    )
    .map(|report| SwapReport { failed_tries: failed.0, failed_tries_took: failed.1, ..report })
    .map_err(|exhausted| {
        let source = exhausted.error;
        let context = if source.is_lock_contention() {
            format!("{what} did not get its locks in {} tries (nothing changed; the tables are kept in step: run again when the table is quieter, or with a longer lock timeout)", policy.tries)
        } else {
            format!("{what} did not happen")
        };
        Error::Database { context, source }
    })
}

/// Swaps a swapped rewrite back: the original table takes its name again, with every write
/// made since (it was kept in step). No report when it was swapped back already (a run killed
/// after its swap, or the same command again).
pub fn revert(
    target: &mut dyn RewriteTarget,
    table: &str,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<(RewriteState, Option<SwapReport>), Error> {
    let _lock = lock_as_seen(target, table, options, reporter, "--revert")?;
    let state = recorded(target, table)?;
    validate(target, &state.table, options.timeouts, reporter)?;
    // Run again after a revert that was killed once it had swapped back: done already.
    if state.phase == RewritePhase::Reverted {
        return Ok((state, None));
    }
    if state.phase != RewritePhase::Swapped {
        return Err(Error::Phase(format!(
            "the rewrite of {} is {}: only a swapped rewrite can be reverted{}",
            state.table,
            state.phase,
            match state.phase {
                RewritePhase::Copying | RewritePhase::Ready =>
                    " (the table is still the original: `--cleanup` drops the copy)",
                _ => "",
            }
        )));
    }
    if let Some(reason) = &state.out_of_step {
        return Err(Error::Phase(format!(
            "the old table {} stopped being kept in step ({reason}): a revert would lose the writes since; keep the rewritten table (`--cleanup` drops the old one)",
            state.old
        )));
    }
    let one_way = one_way(&state.using);
    if !one_way.is_empty() {
        let given: Vec<String> =
            one_way.iter().map(|(column, expression)| format!("{column} = {expression}")).collect();
        return Err(Error::Phase(format!(
            "the rewrite of {} is one way: `--using {}` is not a cast of the column, and the old table is kept in step by casting the new values back, which does not undo it; nothing was swapped back: keep the rewritten table (`--cleanup` drops the old one)",
            state.table,
            given.join("`, `--using ")
        )));
    }
    // The old table is compared with the swapped one first, as the copy was before the swap:
    // a write that bypassed the reverse trigger would be lost with the revert.
    refuse_if_redefined(target, &state)?;
    let plan = target.revert_plan(&state).map_err(database("cannot read the rewrite's tables"))?;
    verify_as(target, &plan, options, reporter, &AtomicBool::new(false), true)?;
    let report = swap(target, options, reporter, "the revert", |target| target.swap_back(&state, options.timeouts))?;
    validate(target, &state.table, options.timeouts, reporter)?;
    let state = recorded(target, table)?;
    Ok((state, Some(report)))
}

/// Drops what a rewrite left (the copy not swapped in, or the old table after a swap) and
/// records it done.
pub fn cleanup(
    target: &mut dyn RewriteTarget,
    table: &str,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<RewriteState, Error> {
    let timeouts = options.timeouts;
    let _lock = lock_as_seen(target, table, options, reporter, "--cleanup")?;
    let state = recorded(target, table)?;
    if state.phase == RewritePhase::Done {
        return Ok(state);
    }
    validate(target, &state.table, timeouts, reporter)?;
    let policy =
        RetryPolicy { tries: std::num::NonZeroU32::new(5).expect("5 is not zero"), backoff: Duration::from_secs(1) };
    let what = "the cleanup";
    let cleaned = retry(
        policy,
        DbError::is_lock_contention,
        |attempt, _, error| reporter.report(Event::Retrying { what, attempt, tries: policy.tries.get(), error }),
        |_| target.finish_rewrite(&state, timeouts),
    )
    .map_err(|exhausted| exhausted.error);
    if let Err(error) = cleaned {
        // Whom to wait out or stop: the cleanup's DDL waits for everyone using the table.
        let mut context = format!("cannot clean up the rewrite of {}", state.table);
        if error.is_lock_contention() {
            let holders = target.rewrite_lock_holders(&state.table);
            if !holders.is_empty() {
                let holders: Vec<&str> = holders.iter().map(|h| h.description.as_str()).collect();
                context.push_str(&format!(" (its locks wait for: {})", holders.join("; ")));
            }
        }
        return Err(database(context)(error));
    }
    recorded(target, table)
}

/// Validates the foreign keys the last swap left `NOT VALID` (they hold for new rows already).
fn validate(
    target: &mut dyn RewriteTarget,
    table: &str,
    timeouts: Timeouts,
    reporter: &mut dyn Reporter,
) -> Result<(), Error> {
    let left = target.validate_foreign_keys(table, timeouts).map_err(database(
        "swapped; but the foreign keys pointed at the swapped table are not validated yet (they hold for new rows already): run the same command again to validate them",
    ))?;
    for constraint in &left {
        reporter.report(Event::LeftNotValid { constraint });
    }
    Ok(())
}

/// What to do with a rewrite under way before another change of its table can start.
fn next_step(phase: RewritePhase, table: &str) -> String {
    let cleanup = format!("`cutover rewrite --cleanup --table {}`", shell_word(table));
    match phase {
        RewritePhase::Reverted => format!("it was reverted: {cleanup} drops its copy, then the new change can start"),
        RewritePhase::Swapped => {
            format!("it is swapped in: {cleanup} drops the old table (or `--revert` swaps it back), then the new change can start")
        }
        _ => format!("finish it (run it without changes to its arguments), or drop it with {cleanup}"),
    }
}

/// One process at a time acts on a rewrite. Without it a second command (an operator's
/// `--cleanup` during the copy, a deploy retried beside the first) would drop what the first
/// is making, or take a capture the first is exchanging under its lock as one a killed run
/// left incomplete.
/// With `waited` set when another command held it first.
fn lock(
    target: &mut dyn RewriteTarget,
    table: &str,
    options: &Options,
    reporter: &mut dyn Reporter,
    waited: &mut bool,
) -> Result<LockGuard, Error> {
    let name = target.rewrite_name(table).map_err(database("cannot read the table"))?;
    let taken =
        target.acquire_backfill_lock(&lock_name(&name), &options.copy.runner, options.copy.lock_wait, &mut |holder| {
            *waited = true;
            reporter.report(Event::WaitingForLock { holder })
        });
    // Only a lock held by another is "another cutover" (a tester saw the server's
    // `max_prepared_stmt_count` reached reported so).
    match taken {
        Err(source) if !source.is_lock_contention() => {
            Err(Error::Database { context: format!("cannot take the lock of the rewrite of {name}"), source })
        }
        taken => taken.map_err(database(format!(
            "another cutover is running a command on the rewrite of {name}; let it finish, or stop it (Ctrl-C saves its progress) and run this again"
        ))),
    }
}

/// [`lock`] for an operator's `--revert` or `--cleanup`, meant for the phase they saw: refused
/// when the command it waited for moved the rewrite on meanwhile (tester 15: a cleanup during
/// the copy applied the swap made meanwhile for good; tester 16: a cleanup behind a revert
/// made the revert final, a revert during the copy undid the swap at once).
fn lock_as_seen(
    target: &mut dyn RewriteTarget,
    table: &str,
    options: &Options,
    reporter: &mut dyn Reporter,
    what: &str,
) -> Result<LockGuard, Error> {
    let seen = phase_now(target, table);
    let mut waited = false;
    let guard = lock(target, table, options, reporter, &mut waited)?;
    if !waited {
        // Nobody ran it meanwhile: the phase read is the phase now (on MySQL a listing reads
        // every rewrite's tables and triggers, not worth doing twice).
        return Ok(guard);
    }
    match (seen, phase_now(target, table)) {
        (Some(seen), Some(now)) if seen != now => Err(Error::Phase(format!(
            "the rewrite of {table} went from {seen} to {now} while this waited for the command running it: nothing was done (run `cutover rewrite {what} --table {}` again if it is still meant)",
            shell_word(table)
        ))),
        _ => Ok(guard),
    }
}

/// The phase of the rewrite of `table` as the listing reads it, without acting on it (no lock
/// taken, nothing a killed run left repaired); `None` when it cannot be read.
fn phase_now(target: &mut dyn RewriteTarget, table: &str) -> Option<RewritePhase> {
    let name = target.rewrite_name(table).ok()?;
    target.list_rewrites().ok()?.into_iter().find(|state| state.table == name).map(|state| state.phase)
}

fn recorded(target: &mut dyn RewriteTarget, table: &str) -> Result<RewriteState, Error> {
    target.load_rewrite(table).map_err(database("cannot read the rewrite's state"))?.ok_or_else(|| {
        Error::Phase(format!("no rewrite of `{table}` is recorded (`cutover rewrite --status` lists them)"))
    })
}

#[cfg(test)]
mod tests {
    use super::{next_verify_chunk, shell_word, VERIFY_CHUNK_TIME};
    use std::time::Duration;

    #[test]
    fn a_cast_of_the_column_alone_is_undone_by_the_way_back_anything_else_is_one_way() {
        use super::is_cast_of;
        for cast in
            ["n", "n::bigint", " N :: numeric(14, 2) ", "\"n\"::text::int", "CAST(n AS bigint)", "convert(`n`, SIGNED)"]
        {
            assert!(is_cast_of("n", cast), "{cast}");
        }
        for one_way in
            ["n * 100", "round(n::numeric, 2)", "n::bigint + 1", "m::bigint", "cast(n * 2 as int)", "coalesce(n, 0)"]
        {
            assert!(!is_cast_of("n", one_way), "{one_way}");
        }
    }

    #[test]
    fn verification_chunks_grow_while_quick_and_shrink_to_the_aimed_time_when_rows_are_wide() {
        // Narrow rows: from 1,000 to the most allowed in a few chunks.
        let mut rows = 1_000;
        for _ in 0..10 {
            rows = next_verify_chunk(rows, Duration::from_millis(20), 100_000);
        }
        assert_eq!(rows, 100_000);
        // Wide rows: 300 rows took 5 s, the next chunk aims at the chunk time.
        assert_eq!(next_verify_chunk(300, Duration::from_secs(5), 100_000), 30);
        assert_eq!(next_verify_chunk(1, Duration::from_secs(60), 100_000), 1);
        // Near the aim: kept; never above what the operator allowed.
        assert_eq!(next_verify_chunk(5_000, VERIFY_CHUNK_TIME * 3 / 4, 100_000), 5_000);
        assert_eq!(next_verify_chunk(5_000, Duration::from_millis(1), 3_000), 3_000);
    }

    #[test]
    fn a_table_in_a_suggested_command_is_one_shell_word() {
        assert_eq!(shell_word("public.users"), "public.users");
        assert_eq!(shell_word("`shop`.`users`"), "'`shop`.`users`'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
