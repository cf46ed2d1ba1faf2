//! Executing a plan: `start`, `complete`, `rollback`, each under the runner lock, each phase
//! recorded in the state table before its first statement runs.
//!
//! Phases and what a crash leaves:
//! - `starting`: some of `start` ran. `start` again finishes it (every statement is
//!   idempotent, backfills resume from their checkpoints); `rollback` undoes it.
//! - `started`: both versions live. `complete` or `rollback`.
//! - `completing`: `complete`'s transaction (with the history row) either committed or not;
//!   `complete` again finishes (the history says which), `rollback` is refused once the
//!   history has the row.
//! - `rolling_back`: `rollback` again finishes it.

use std::cell::RefCell;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use cutover_engine::{
    DbError, Direction, ExpandPhase, ExpandState, ExpandTarget, HistoryRecord, RecordKind, RetryPolicy, RewritePhase,
    RewriteRequest, RewriteState, State, Timeouts,
};
use cutover_migration::{Migration, MigrationKind, MigrationSet};
use cutover_runner::{compute_status, MigrationState};

use crate::ops::read_declaration;
use crate::plan::{plan, Plan, PlanInput, PlannedRewrite};
use crate::sessions::{Census, OldSession, Versions};

/// How `start`, `complete` and `rollback` run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Lock and statement timeouts for every step.
    pub timeouts: Timeouts,
    /// Tries per step when its locks are not granted (or it is chosen as a deadlock victim).
    pub lock_retries: std::num::NonZeroU32,
    /// First pause between tries.
    pub retry_backoff: Duration,
    /// How long to wait for another runner.
    pub runner_lock_wait: Duration,
    /// How the backfills run.
    pub backfill: cutover_backfill::Options,
    /// `complete` even while sessions use the old version.
    pub force: bool,
    /// How long `complete` waits for the old version's sessions to go (none: it refuses at once).
    pub wait: Duration,
    /// The history table's name (left out of the version schemas, like cutover's other tables).
    pub history_table: String,
    /// Who runs it.
    pub runner: String,
}

/// Something that happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Another runner holds the lock.
    WaitingForLock {
        /// Who.
        holder: &'a cutover_engine::LockHolder,
    },
    /// A phase resumes after a crash or an interruption.
    Resuming {
        /// The recorded phase.
        phase: ExpandPhase,
    },
    /// A group of statements runs.
    Step {
        /// What it does.
        what: &'a str,
        /// How many statements.
        statements: usize,
    },
    /// A statement's locks were not granted; it will be tried again.
    Retrying {
        /// The try that failed.
        attempt: u32,
        /// The error.
        error: &'a DbError,
    },
    /// A backfill event.
    Backfill(cutover_backfill::Event<'a>),
    /// `complete` waits for sessions on an old version to go.
    WaitingForOldSessions {
        /// Who is still there.
        old: &'a [OldSession],
        /// How much longer it waits.
        left: Duration,
    },
    /// Sessions nothing places on a version (idle, no lock, no version in their name):
    /// `complete` goes ahead without them.
    Unplaced {
        /// Who they are.
        sessions: &'a [String],
    },
    /// A backfill of a column the old version does not see fires the table's own triggers:
    /// the connection may not keep them out (`session_replication_role`).
    TriggersFire {
        /// The table.
        table: &'a str,
    },
    /// An online rewrite's event (its copy's come as [`Event::Backfill`]).
    Rewrite(cutover_rewrite::Event<'a>),
    /// What an online rewrite did: swapped in (`start`), swapped back (`rollback`), or what
    /// it kept dropped (`complete`, `rollback`).
    Rewritten {
        /// The table.
        table: &'a str,
        /// What was done.
        what: &'static str,
        /// The swap's report, when it swapped.
        swap: Option<&'a cutover_engine::SwapReport>,
    },
}

/// Receives [`Event`]s.
pub trait Reporter {
    /// Called for each event.
    fn report(&mut self, event: Event<'_>);
}

/// What a command did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// `<version> <name>`.
    pub migration: String,
    /// The new version's schema.
    pub version_schema: String,
    /// The old version's schema (the base schema when no earlier version exists).
    pub old_schema: String,
    /// The schema of the real tables: the new version's `search_path` is its schema, then this
    /// one (for what has no view: functions, types, tables made by later SQL migrations).
    pub base_schema: String,
    /// Rows the backfills updated.
    pub rows_backfilled: i64,
    /// Rows the online rewrites copied (this run).
    pub rows_copied: i64,
    /// Whether a stop request interrupted `start` (run it again to resume).
    pub interrupted: bool,
    /// `start` found the migration already started: nothing was done.
    pub already_started: bool,
    /// How long it took.
    pub duration: Duration,
}

/// The active expand/contract migration, for `status`.
#[derive(Debug, Clone)]
pub struct ActiveMigration {
    /// `<version> <name>`.
    pub migration: String,
    /// Its phase.
    pub phase: ExpandPhase,
    /// The new version's schema.
    pub version_schema: String,
    /// The old version's schema.
    pub old_schema: String,
    /// Since when.
    pub since: String,
}

/// Why a command did nothing, or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Refused, nothing done.
    #[error("{0}")]
    Refused(String),
    /// The declaration cannot be read.
    #[error(transparent)]
    Declaration(#[from] crate::DeclarationError),
    /// The operations do not fit this database.
    #[error("{}: {source}", path.display())]
    Plan {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        source: crate::PlanError,
    },
    /// The database failed.
    #[error("{context}: {source}")]
    Database {
        /// What was under way.
        context: String,
        /// The error.
        source: DbError,
    },
    /// A backfill failed (its progress is saved).
    #[error(transparent)]
    Backfill(#[from] cutover_backfill::Error),
    /// A backfill met a row its expression cannot convert (a value the new type cannot hold, a
    /// constraint it breaks). The triggers that keep the versions in step run the same
    /// expression for the old version's writes, which failed too while they were in place, so
    /// `start` rolled the migration back.
    #[error(
        "backfill `{backfill}` stopped after {rows_updated} rows updated, at a row its expression cannot convert in the batch of the rows {batch}: {source}; {}",
        after_refusal(.rollback_failed.as_deref())
    )]
    DataRefused {
        /// The backfill.
        backfill: String,
        /// Rows it updated before.
        rows_updated: i64,
        /// Where the failed batch begins (see `cutover_backfill::Error::BatchFailed`).
        batch: String,
        /// What the database said.
        source: Box<DbError>,
        /// Why the rollback failed, if it did.
        rollback_failed: Option<String>,
    },
    /// An online rewrite failed or was refused (what it made is recorded; the same command
    /// goes on from there).
    #[error("rewrite of {table}: {}", in_operation_terms(&source.to_string()))]
    Rewrite {
        /// The table.
        table: String,
        /// Why.
        source: Box<cutover_rewrite::Error>,
    },
    /// A step of `start` failed on the table's rows (duplicates under a unique index, rows a
    /// constraint refuses); `start` rolled the migration back.
    #[error("{step}: {source}; the rows refuse it, {}", rolled_back(.rollback_failed.as_deref(), "fix the rows"))]
    StepRefused {
        /// The step.
        step: String,
        /// What the database said.
        source: Box<DbError>,
        /// Why the rollback failed, if it did.
        rollback_failed: Option<String>,
    },
    /// `start`'s first transaction failed and was rolled back whole: nothing of the migration
    /// is in the database, and a fixed file starts afresh.
    #[error("{0}; nothing was changed (the expand transaction rolled back whole): fix the cause and run `cutover start` again")]
    NothingChanged(Box<Error>),
    /// A step of `complete` after its contract committed failed: the migration is applied (the
    /// history says so), and running `complete` again finishes what is left.
    #[error(
        "the contract is committed (the history records the migration as applied), and a step after it failed: {0}; `cutover complete` again finishes it"
    )]
    AfterContract(Box<Error>),
}

/// A message of `cutover rewrite`'s in the words of the `rewrite` operation: its `alter`,
/// `using` and `table` fields where the command has flags.
fn in_operation_terms(message: &str) -> String {
    [
        ("`--using COLUMN=EXPRESSION`", "`using = { COLUMN = \"EXPRESSION\" }`"),
        ("`--alter`", "`alter`"),
        ("`--using`", "`using`"),
        ("`--table`", "`table`"),
        ("`--alter ", "`alter: "),
        ("`--using ", "`using: "),
        ("`--table ", "`table: "),
    ]
    .iter()
    .fold(keep_by_completing(message), |text, (flag, field)| text.replace(flag, field))
}

/// "keep the rewritten table (`... --cleanup ...` drops the old one)": in a migration, its
/// `complete` does that (a `--cleanup` by hand is refused while it is active).
fn keep_by_completing(message: &str) -> String {
    const KEEP: &str = "keep the rewritten table (";
    let mut text = message.to_string();
    if let Some(at) = text.find(KEEP) {
        let open = at + KEEP.len();
        if let Some(close) = text[open..].find(')') {
            text.replace_range(open..open + close, "`cutover complete` does, and drops the old one");
        }
    }
    text
}

fn after_refusal(rollback_failed: Option<&str>) -> String {
    format!(
        "the triggers that keep both versions in step convert the old version's writes the same way, and failed them too, {}",
        rolled_back(rollback_failed, "fix the expression (or the rows)")
    )
}

/// How a `start` that the rows refused ended: rolled back, or (`rollback_failed`) not.
fn rolled_back(rollback_failed: Option<&str>, fix: &str) -> String {
    match rollback_failed {
        None => format!(
            "so `start` rolled the migration back (the tables are as they were): {fix} and run `cutover start` again"
        ),
        Some(err) => format!("and rolling the migration back failed ({err}): run `cutover rollback` now"),
    }
}

fn database(context: impl Into<String>) -> impl FnOnce(DbError) -> Error {
    let context = context.into();
    move |source| Error::Database { context, source }
}

/// Runs (or resumes) the expand phase of the next declarative migration.
pub fn start(
    target: &mut dyn ExpandTarget,
    set: &MigrationSet,
    options: &Options,
    reporter: &mut dyn Reporter,
    stop: &AtomicBool,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let _lock = lock(target, options, reporter)?;
    target.ensure_history().map_err(database("cannot create the history table"))?;
    target.ensure_expand_state().map_err(database("cannot create the expand state table"))?;
    let (plan, resuming) = match active(target)? {
        Some(state) if state.phase == ExpandPhase::Starting => {
            let plan = read_plan(&state)?;
            refuse_if_changed(set, &plan)?;
            reporter.report(Event::Resuming { phase: state.phase });
            (plan, true)
        }
        // Starting what is started is done: deploy scripts may run `start` twice.
        Some(state)
            if state.phase == ExpandPhase::Started
                && next_declarative(target, set)
                    .is_ok_and(|m| m.version.as_ref().is_some_and(|v| v.as_str() == state.version)) =>
        {
            let plan = read_plan(&state)?;
            refuse_if_changed(set, &plan)?;
            return Ok(Summary {
                migration: format!("{} {}", plan.version, plan.name),
                old_schema: plan.previous_schema.clone().unwrap_or_else(|| plan.base_schema.clone()),
                base_schema: plan.base_schema.clone(),
                version_schema: plan.version_schema,
                already_started: true,
                duration: started.elapsed(),
                ..Summary::default()
            });
        }
        Some(state) => return Err(Error::Refused(busy_message(&state, "start"))),
        None => {
            let migration = next_declarative(target, set)?;
            (new_plan(target, set, migration, options)?, false)
        }
    };
    if !resuming {
        save(target, &plan, ExpandPhase::Starting, options)?;
    }
    let expanded = run_in_transaction(
        target,
        options,
        reporter,
        "expand: adding columns, constraints NOT VALID, triggers",
        &plan.expand,
    );
    if let Err(err) = expanded {
        if resuming {
            return Err(err);
        }
        // One transaction, rolled back whole: nothing of the migration is in the database, so
        // it is not left `starting` for a `rollback` to undo nothing (tester 22: a type that
        // does not exist).
        save(target, &plan, ExpandPhase::RolledBack, options)?;
        return Err(Error::NothingChanged(Box::new(err)));
    }
    let built = run_each_alone(target, options, reporter, "building indexes concurrently", &plan.concurrent);
    refused_rolls_back(target, options, reporter, built)?;
    let mut rows_backfilled = 0;
    let mut rows_copied = 0;
    let mut told: Vec<String> = Vec::new();
    for backfill in &plan.backfills {
        let spec = cutover_backfill::BackfillSpec::new(
            Some(backfill.name.clone()),
            &backfill.table,
            &backfill.set,
            backfill.condition.as_deref(),
        );
        // The dual-write triggers stand aside for this connection's own batches.
        target.set_session_variable("cutover.backfill", "on").map_err(database("cannot mark the backfill session"))?;
        // The table's own triggers too, for a column the old version does not see: as a
        // replica applies changes (superusers, or roles granted SET on the parameter).
        let quiet = backfill.hidden && target.set_session_variable("session_replication_role", "replica").is_ok();
        // Said once per table (tester 24: once per backfill, the same line three times).
        if backfill.hidden && !quiet && !told.contains(&backfill.table) {
            reporter.report(Event::TriggersFire { table: &backfill.table });
            told.push(backfill.table.clone());
        }
        let result = cutover_backfill::run(target, &spec, &options.backfill, &mut ForwardBackfill(reporter), stop);
        if quiet {
            let _ = target.set_session_variable("session_replication_role", "origin");
        }
        let _ = target.set_session_variable("cutover.backfill", "off");
        let summary = match result {
            Ok(summary) => summary,
            // Left in place, the triggers would fail the running application's writes of such
            // values until someone ran `rollback` (tester 22); nothing of the new version is
            // published yet, so rolling back loses nothing.
            Err(cutover_backfill::Error::BatchFailed { name, rows_updated, batch, source })
                if source.is_data_refused() =>
            {
                let rollback_failed =
                    rollback_locked(target, options, reporter, Instant::now()).err().map(|err| err.to_string());
                return Err(Error::DataRefused { backfill: name, rows_updated, batch, source, rollback_failed });
            }
            Err(err) => return Err(err.into()),
        };
        rows_backfilled += summary.checkpoint.rows_updated;
        if summary.interrupted {
            return Ok(start_summary(&plan, rows_backfilled, 0, true, started));
        }
    }
    for planned in &plan.rewrites {
        let request =
            RewriteRequest { table: planned.table.clone(), alter: planned.alter.clone(), using: planned.using.clone() };
        let forward = RefCell::new(&mut *reporter);
        let outcome = cutover_rewrite::run(
            &mut *target,
            &request,
            &rewrite_options(options),
            &mut Forward(&forward),
            &mut Forward(&forward),
            stop,
        )
        .map_err(|source| Error::Rewrite { table: planned.table.clone(), source: Box::new(source) })?;
        match outcome {
            cutover_rewrite::Outcome::Swapped { state, report, rows_copied: copied, .. } => {
                rows_copied += copied;
                reporter.report(Event::Rewritten {
                    table: &state.table,
                    what: "swapped in, the old table kept in step until `complete`",
                    swap: Some(&report),
                })
            }
            cutover_rewrite::Outcome::AlreadySwapped(_) => {}
            cutover_rewrite::Outcome::Interrupted | cutover_rewrite::Outcome::Deferred(_) => {
                return Ok(start_summary(&plan, rows_backfilled, rows_copied, true, started))
            }
        }
    }
    for statement in &plan.validate {
        let validated =
            run_in_transaction(target, options, reporter, "validating a constraint", std::slice::from_ref(statement));
        refused_rolls_back(target, options, reporter, validated)?;
    }
    run_in_transaction(target, options, reporter, "publishing the new version's views", &plan.publish)?;
    save(target, &plan, ExpandPhase::Started, options)?;
    Ok(start_summary(&plan, rows_backfilled, rows_copied, false, started))
}

/// What a `start` that ran (to its end, or until stopped) did.
fn start_summary(plan: &Plan, rows_backfilled: i64, rows_copied: i64, interrupted: bool, started: Instant) -> Summary {
    Summary {
        migration: format!("{} {}", plan.version, plan.name),
        version_schema: plan.version_schema.clone(),
        old_schema: plan.previous_schema.clone().unwrap_or_else(|| plan.base_schema.clone()),
        base_schema: plan.base_schema.clone(),
        rows_backfilled,
        rows_copied,
        interrupted,
        already_started: false,
        duration: started.elapsed(),
    }
}

/// Runs the contract phase of the active migration, with its history row.
pub fn complete(
    target: &mut dyn ExpandTarget,
    set: &MigrationSet,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let _lock = lock(target, options, reporter)?;
    // A state table an earlier cutover made gets what this one records.
    target.ensure_expand_state().map_err(database("cannot update the expand state table"))?;
    let Some(state) = active(target)? else {
        return Err(Error::Refused("no expand/contract migration is active; `cutover start` begins one".into()));
    };
    match state.phase {
        ExpandPhase::Started => {}
        ExpandPhase::Completing => reporter.report(Event::Resuming { phase: state.phase }),
        ExpandPhase::Starting => {
            return Err(Error::Refused(format!(
                "{} {} did not finish starting; run `cutover start` again to finish it (or `cutover rollback`), then complete it",
                state.version, state.name
            )))
        }
        ExpandPhase::RollingBack | ExpandPhase::Completed | ExpandPhase::RolledBack => {
            return Err(Error::Refused(busy_message(&state, "complete")))
        }
    }
    let plan = read_plan(&state)?;
    let old_schema = plan.previous_schema.clone().unwrap_or_else(|| plan.base_schema.clone());
    let migration =
        set.migrations.iter().find(|m| m.version.as_ref().is_some_and(|v| v.as_str() == plan.version)).ok_or_else(
            || {
                Error::Refused(format!(
                    "the file of the active migration {} {} is gone; restore it, then complete",
                    plan.version, plan.name
                ))
            },
        )?;
    let history = target.read_history().map_err(database("cannot read the history"))?;
    let recorded =
        history.iter().any(|r| r.version.as_deref() == Some(plan.version.as_str()) && r.state == State::Applied);
    // Every run that has the contract still to commit looks for old sessions, a run that
    // resumes one cut short (a lock timeout, a crash) included: they may have come back.
    if !recorded {
        refuse_if_changed(set, &plan)?;
        // Completing keeps what the rewrites swapped in: refused when one is not swapped in (a
        // `cutover rewrite --revert` or `--cleanup` by hand), which would record the change
        // as made where the table does not have it.
        for planned in &plan.rewrites {
            let state = target.load_rewrite(&planned.table).map_err(database("cannot read the rewrite's state"))?;
            let phase = state.as_ref().map(|s| s.phase);
            if phase != Some(RewritePhase::Swapped) {
                return Err(Error::Refused(format!(
                    "cannot complete: the rewrite of {} is {} since `start` swapped it in (a `cutover rewrite --revert` or `--cleanup` by hand?), so the table does not have the migration's change; `cutover rollback` undoes the rest of the migration, then `cutover start` makes it again",
                    state.as_ref().map_or(planned.table.as_str(), |s| s.table.as_str()),
                    phase.map_or("gone", |p| p.name())
                )));
            }
        }
    }
    if !options.force && !recorded {
        wait_for_old_sessions(target, &plan, options, reporter)?;
    }
    save(target, &plan, ExpandPhase::Completing, options)?;
    if !recorded {
        let record = history_record(set, migration, options);
        let what = "contract: removing the old version's objects, swapping shadows in";
        reporter.report(Event::Step { what, statements: plan.contract.len() });
        let result = with_retries(options, reporter, || {
            target.transaction(options.timeouts, &mut |session| {
                for statement in &plan.contract {
                    session.execute(statement)?;
                }
                session.append_history(&record)
            })
        });
        if let Err(error) = result {
            // Nothing of the contract committed: the migration goes back to `started`, as it
            // is (a crash here leaves `completing`, which the next run resumes the same way).
            let back = save(target, &plan, ExpandPhase::Started, options);
            let context = if back.is_ok() {
                "cannot complete (nothing of the contract committed, and the migration stays started: `cutover complete` again, or `cutover rollback`)"
            } else {
                "cannot complete (nothing of the contract committed: `cutover complete` again, or `cutover rollback`)"
            };
            return Err(locked_out(target, &plan.contract, context, error));
        }
    }
    run_each_alone(target, options, reporter, "dropping indexes concurrently", &plan.contract_concurrent)
        .map_err(contracted)?;
    for planned in &plan.rewrites {
        if ours(target, planned)?.is_some() {
            let forward = RefCell::new(&mut *reporter);
            let state = cutover_rewrite::cleanup(
                &mut *target,
                &planned.table,
                &rewrite_options(options),
                &mut Forward(&forward),
            )
            .map_err(|source| contracted(Error::Rewrite { table: planned.table.clone(), source: Box::new(source) }))?;
            reporter.report(Event::Rewritten { table: &state.table, what: "the old table dropped", swap: None });
        }
    }
    save(target, &plan, ExpandPhase::Completed, options)?;
    Ok(Summary {
        migration: format!("{} {}", plan.version, plan.name),
        version_schema: plan.version_schema,
        old_schema,
        duration: started.elapsed(),
        ..Summary::default()
    })
}

fn contracted(error: Error) -> Error {
    Error::AfterContract(Box::new(error))
}

/// The error of a step that failed: after a lock wait gave up, it names the sessions that hold
/// locks on what the step locks (as the analysis reads it), who to wait for or stop.
fn locked_out(target: &mut dyn ExpandTarget, statements: &[String], context: &str, error: DbError) -> Error {
    let mut context = context.to_string();
    if error.is_lock_contention() {
        let relations = cutover_runner::locked_relations(&crate::report::analysable(statements));
        let holders = target.lock_holders(&relations).unwrap_or_default();
        if !holders.is_empty() {
            let holders: Vec<&str> = holders.iter().map(|h| h.description.as_str()).collect();
            context.push_str(&format!("; locks held by: {}", holders.join("; ")));
        }
    }
    Error::Database { context, source: error }
}

/// How many more times the sessions nothing places are looked at, 50 ms apart, before
/// `complete` goes ahead without them.
const UNPLACED_SAMPLES: usize = 20;

fn take_census(target: &mut dyn ExpandTarget, plan: &Plan, versions: Versions<'_>) -> Result<Census, Error> {
    let sessions = target.sessions(&plan.base_schema).map_err(database("cannot list the sessions"))?;
    Ok(Census::take(&sessions, versions))
}

/// Waits until no session uses an old version (the previous version's views or the base
/// tables directly), for at most `options.wait`; refuses, naming them, if some remain.
fn wait_for_old_sessions(
    target: &mut dyn ExpandTarget,
    plan: &Plan,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<(), Error> {
    let versions = Versions { base: &plan.base_schema, new: &plan.version_schema };
    let deadline = Instant::now() + options.wait;
    let mut last_report: Option<(Instant, Vec<i64>)> = None;
    loop {
        let mut census = take_census(target, plan, versions)?;
        // A session between two short transactions holds no lock, and nothing places it: looked
        // at again over a second, a busy one is seen holding its locks (tester 24: old writers
        // at 1,300 tx/s were completed without, and failed from then on).
        for _ in 0..UNPLACED_SAMPLES {
            if !census.old.is_empty() || census.unknown.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            let again = take_census(target, plan, versions)?;
            census = Census { unknown: census.unknown, ..again };
        }
        if census.old.is_empty() {
            if !census.unknown.is_empty() {
                reporter.report(Event::Unplaced { sessions: &census.unknown });
            }
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            let waited = if options.wait.is_zero() {
                String::new()
            } else {
                format!(
                    " after waiting {}",
                    humantime::format_duration(Duration::from_millis(options.wait.as_millis() as u64))
                )
            };
            let list = cutover_engine::at_most(&census.old, 10);
            return Err(Error::Refused(format!(
                "{} still on an old version{waited}: {}; complete once the old code is gone (`--wait 10m` waits for it; --force breaks them)",
                cutover_engine::count(census.old.len(), "session is", "sessions are"),
                list.join("; ")
            )));
        }
        // Said when who is there changes, and every 10 s.
        let pids: Vec<i64> = census.old.iter().map(|s| s.pid).collect();
        let due = last_report
            .as_ref()
            .is_none_or(|(at, before)| *before != pids || now.duration_since(*at) >= Duration::from_secs(10));
        if due {
            reporter.report(Event::WaitingForOldSessions { old: &census.old, left: deadline - now });
            last_report = Some((now, pids));
        }
        std::thread::sleep(Duration::from_millis(500).min(deadline - now));
    }
}

/// Undoes the active migration's `start`, whatever point it reached.
pub fn rollback(
    target: &mut dyn ExpandTarget,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let _lock = lock(target, options, reporter)?;
    rollback_locked(target, options, reporter, started)
}

/// A step of `start` the data refuses (a unique index over duplicate rows, a constraint rows
/// break) fails again on every rerun: what `start` made is rolled back, rather than left
/// `starting` with an INVALID index or a NOT VALID constraint in place (tester 23).
fn refused_rolls_back(
    target: &mut dyn ExpandTarget,
    options: &Options,
    reporter: &mut dyn Reporter,
    result: Result<(), Error>,
) -> Result<(), Error> {
    match result {
        Err(Error::Database { context, source }) if source.is_data_refused() => {
            let rollback_failed =
                rollback_locked(target, options, reporter, Instant::now()).err().map(|err| err.to_string());
            Err(Error::StepRefused { step: context, source: Box::new(source), rollback_failed })
        }
        other => other,
    }
}

/// [`rollback`], the migration lock held.
fn rollback_locked(
    target: &mut dyn ExpandTarget,
    options: &Options,
    reporter: &mut dyn Reporter,
    started: Instant,
) -> Result<Summary, Error> {
    // A state table an earlier cutover made gets what this one records.
    target.ensure_expand_state().map_err(database("cannot update the expand state table"))?;
    let Some(state) = active(target)? else {
        return Err(Error::Refused("no expand/contract migration is active: nothing to roll back".into()));
    };
    let plan = read_plan(&state)?;
    if state.phase == ExpandPhase::Completing {
        let history = target.read_history().map_err(database("cannot read the history"))?;
        if history.iter().any(|r| r.version.as_deref() == Some(plan.version.as_str()) && r.state == State::Applied) {
            return Err(Error::Refused(format!(
                "{} {} is already contracted (the history records it); run `cutover complete` to finish",
                plan.version, plan.name
            )));
        }
    }
    // The phase to go back to when a rewrite cannot be swapped back before anything is undone:
    // the one before rolling back (a rollback that resumes reads it from the log).
    let phase_before = match state.phase {
        ExpandPhase::RollingBack => {
            state.log.iter().rev().map(|entry| entry.phase).find(|phase| *phase != ExpandPhase::RollingBack)
        }
        phase => Some(phase),
    };
    if state.phase == ExpandPhase::RollingBack {
        reporter.report(Event::Resuming { phase: state.phase });
    } else {
        save(target, &plan, ExpandPhase::RollingBack, options)?;
    }
    // Swapped back first: the views `revert` drops are made again by the swap otherwise.
    let mut undone = false;
    for planned in plan.rewrites.iter().rev() {
        let Some(mut state) = ours(target, planned)? else { continue };
        let rewrite_options = rewrite_options(options);
        let failed = |source| Error::Rewrite { table: planned.table.clone(), source: Box::new(source) };
        if state.phase == RewritePhase::Swapped {
            let forward = RefCell::new(&mut *reporter);
            let reverted =
                cutover_rewrite::revert(&mut *target, &planned.table, &rewrite_options, &mut Forward(&forward));
            let (reverted, swap) = match reverted {
                Ok(reverted) => reverted,
                Err(err) => {
                    // Not swapped back (refused: writes since would be lost, the table changed
                    // since, its locks not granted) and nothing undone before it: the
                    // migration goes back to its phase, so that `complete` stays open to it.
                    let still_swapped = ours(target, planned)?.is_some_and(|s| s.phase == RewritePhase::Swapped);
                    match phase_before {
                        Some(phase) if !undone && still_swapped => {
                            save(target, &plan, phase, options)?;
                            let next = if phase == ExpandPhase::Starting {
                                "`cutover start` finishes starting it, then `cutover complete` keeps the rewritten table"
                            } else {
                                "`cutover complete` keeps the rewritten table; or fix the cause and run `cutover rollback` again"
                            };
                            return Err(Error::Refused(format!(
                                "cannot roll back {} {}: the rewrite of {}: {}; nothing was undone and the migration stays {}: {next}",
                                plan.version,
                                plan.name,
                                state.table,
                                in_operation_terms(&err.to_string()),
                                phase.words()
                            )));
                        }
                        _ => return Err(failed(err)),
                    }
                }
            };
            state = reverted;
            reporter.report(Event::Rewritten {
                table: &state.table,
                what: "swapped back, with every write made since",
                swap: swap.as_ref(),
            });
        }
        let undone_before = undone;
        undone = true;
        let forward = RefCell::new(&mut *reporter);
        let cleaned = cutover_rewrite::cleanup(&mut *target, &planned.table, &rewrite_options, &mut Forward(&forward));
        if let Err(err) = cleaned {
            // A copy not swapped in whose dropping failed (its locks not granted behind a long
            // reader): nothing undone, so the migration goes back to its phase as above.
            let unchanged = ours(target, planned)?.is_some_and(|s| s.phase == state.phase);
            return match phase_before {
                Some(phase) if !undone_before && unchanged && state.phase != RewritePhase::Reverted => {
                    save(target, &plan, phase, options)?;
                    Err(Error::Refused(format!(
                        "cannot roll back {} {}: the copy of {} could not be dropped: {}; nothing was undone and the migration stays {}: run `cutover rollback` again once that is resolved",
                        plan.version,
                        plan.name,
                        state.table,
                        in_operation_terms(&err.to_string()),
                        phase.words()
                    )))
                }
                _ => Err(failed(err)),
            };
        }
        reporter.report(Event::Rewritten { table: &state.table, what: "the rewritten copy dropped", swap: None });
    }
    let reverted = run_in_transaction(
        target,
        options,
        reporter,
        "revert: removing views, triggers, shadows and constraints",
        &plan.revert,
    );
    if let Err(err) = reverted {
        // One transaction, rolled back whole (the version's schema refused to go, say): with no
        // rewrite swapped back before it, nothing was undone, and the migration goes back to
        // its phase, so that `complete` stays open to it as well as another `rollback`.
        return match phase_before {
            Some(phase) if !undone => {
                save(target, &plan, phase, options)?;
                let next = if phase == ExpandPhase::Starting {
                    "run `cutover rollback` again once that is resolved, or `cutover start` to finish starting it"
                } else {
                    "run `cutover rollback` again once that is resolved, or `cutover complete`"
                };
                Err(Error::Refused(format!(
                    "cannot roll back {} {}: {err}; nothing was undone and the migration stays {}: {next}",
                    plan.version,
                    plan.name,
                    phase.words()
                )))
            }
            _ => Err(err),
        };
    }
    run_each_alone(target, options, reporter, "dropping indexes concurrently", &plan.revert_concurrent)?;
    save(target, &plan, ExpandPhase::RolledBack, options)?;
    Ok(Summary {
        migration: format!("{} {}", plan.version, plan.name),
        old_schema: plan.previous_schema.clone().unwrap_or_else(|| plan.base_schema.clone()),
        version_schema: plan.version_schema,
        duration: started.elapsed(),
        ..Summary::default()
    })
}

/// The active migration, if any (no lock taken, nothing created).
pub fn status(target: &mut dyn ExpandTarget) -> Result<Option<ActiveMigration>, Error> {
    let Some(state) = active(target)? else {
        return Ok(None);
    };
    let plan = read_plan(&state)?;
    Ok(Some(ActiveMigration {
        migration: format!("{} {}", state.version, state.name),
        phase: state.phase,
        old_schema: plan.previous_schema.clone().unwrap_or_else(|| plan.base_schema.clone()),
        version_schema: plan.version_schema,
        since: phase_since(&state),
    }))
}

/// Since when the migration is in its phase: a `complete` or `rollback` refused with nothing
/// done records the phase again, which is not when it began (`started` since the start
/// finished, not since the refused `complete`).
fn phase_since(state: &ExpandState) -> String {
    let attempts = [ExpandPhase::Completing, ExpandPhase::RollingBack];
    state
        .log
        .iter()
        .rev()
        .take_while(|entry| entry.phase == state.phase || attempts.contains(&entry.phase))
        .filter(|entry| entry.phase == state.phase)
        .last()
        .map_or_else(|| state.updated_at.clone(), |entry| entry.at.clone())
}

fn lock(
    target: &mut dyn ExpandTarget,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<cutover_engine::LockGuard, Error> {
    let owner = format!(
        "cutover {} {} since {}",
        env!("CARGO_PKG_VERSION"),
        cutover_runner::runner_identity(),
        cutover_runner::now_rfc3339()
    );
    target
        .acquire_runner_lock(&owner, options.runner_lock_wait, &mut |holder| {
            reporter.report(Event::WaitingForLock { holder })
        })
        .map_err(database("cannot take the migration lock"))
}

fn active(target: &mut dyn ExpandTarget) -> Result<Option<ExpandState>, Error> {
    let states = target.expand_states().map_err(database(
        "cannot read the expand state, so whether an expand/contract migration is active is unknown",
    ))?;
    Ok(states.into_iter().find(|s| s.phase.is_active()))
}

/// A `start` that resumes goes on with what the first one planned: refused when the file says
/// something else now (a fix after a refused start), which it would silently not do.
fn refuse_if_changed(set: &MigrationSet, plan: &Plan) -> Result<(), Error> {
    let Some(migration) =
        set.migrations.iter().find(|m| m.version.as_ref().is_some_and(|v| v.as_str() == plan.version))
    else {
        return Ok(());
    };
    if plan.operations.is_empty() {
        return Ok(());
    }
    let now = read_declaration(&migration.up.path)?;
    if now.operations != plan.operations {
        return Err(Error::Refused(format!(
            "{} changed since `cutover start` planned it: `start` and `complete` go on with what was planned, and the history would record the file as it is now; `cutover rollback` undoes what that start made, then `cutover start` plans the file as it is; or put the file back as it was",
            migration.up.path.display()
        )));
    }
    Ok(())
}

fn busy_message(state: &ExpandState, wanted: &str) -> String {
    let next = match state.phase {
        ExpandPhase::Starting => "`cutover start` to finish starting it, or `cutover rollback`",
        ExpandPhase::Started => "`cutover complete` once no old code runs, or `cutover rollback`",
        ExpandPhase::Completing => "`cutover complete` to finish it",
        ExpandPhase::RollingBack => "`cutover rollback` to finish rolling it back",
        // Not active (`active` never returns these): nothing waits on it.
        ExpandPhase::Completed | ExpandPhase::RolledBack => "`cutover status` to see where it is",
    };
    format!(
        "cannot {wanted}: {} {} is {} (since {}); one expand/contract migration runs at a time: run {next}",
        state.version,
        state.name,
        state.phase.words(),
        state.updated_at
    )
}

fn read_plan(state: &ExpandState) -> Result<Plan, Error> {
    serde_json::from_str(&state.plan).map_err(|err| {
        Error::Refused(format!(
            "the recorded plan of {} {} cannot be read ({err}); it was written by another cutover version: finish it with that version",
            state.version, state.name
        ))
    })
}

/// Applies the next declarative migration on SQLite, whole, in one transaction with its history
/// row (see [`crate::sqlite`]): an embedded database runs one application version at a time.
pub fn start_sqlite(
    target: &mut dyn cutover_engine::AdoptTarget,
    set: &MigrationSet,
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let owner = format!("cutover {} {}", env!("CARGO_PKG_VERSION"), cutover_runner::runner_identity());
    let _lock = target
        .acquire_runner_lock(&owner, options.runner_lock_wait, &mut |holder| {
            reporter.report(Event::WaitingForLock { holder })
        })
        .map_err(database("cannot take the migration lock"))?;
    target.ensure_history().map_err(database("cannot create the history table"))?;
    let migration = next_declarative(target, set)?;
    let declaration = read_declaration(&migration.up.path)?;
    let history_name = options.history_table.rsplit('.').next().unwrap_or(&options.history_table).to_string();
    // The whole file planned first: a mistake in any operation is refused before anything runs.
    let statements = crate::sqlite::plan_sqlite(&sqlite_schema(target, &history_name)?, &declaration.operations)
        .map_err(|source| Error::Plan { path: declaration.path.clone(), source })?;
    let foreign_keys = target
        .select_text("PRAGMA foreign_keys")
        .map_err(database("cannot read PRAGMA foreign_keys"))?
        .first()
        .and_then(|row| row.first().cloned().flatten())
        .unwrap_or_else(|| "0".to_string());
    // The rebuild drops tables that others reference: enforcement is off (it cannot change
    // inside a transaction) and the whole database is checked before the commit instead.
    target
        .autocommit(options.timeouts, &mut |session| session.execute("PRAGMA foreign_keys = OFF"))
        .map_err(database("cannot switch foreign keys off for the rebuild"))?;
    let record = history_record(set, migration, options);
    let what = format!("applying {} in one transaction", migration.label());
    reporter.report(Event::Step { what: &what, statements: statements.len() });
    let applied = apply_sqlite(target, options, &declaration, &history_name, &record);
    if applied.is_err() {
        // Some errors end the transaction themselves; a ROLLBACK then fails, harmlessly.
        let _ = target.autocommit(options.timeouts, &mut |session| session.execute("ROLLBACK"));
    }
    let restore = format!("PRAGMA foreign_keys = {}", if foreign_keys == "1" { "ON" } else { "OFF" });
    let _ = target.autocommit(options.timeouts, &mut |session| session.execute(&restore));
    applied.map_err(|err| match err {
        Error::Database { context, source } if context.is_empty() => {
            database(format!("cannot apply {}", migration.label()))(source)
        }
        err => err,
    })?;
    Ok(Summary {
        migration: migration.label(),
        version_schema: "main".to_string(),
        old_schema: "main".to_string(),
        duration: started.elapsed(),
        ..Summary::default()
    })
}

/// The schema of a SQLite database as its planner reads it, cutover's own tables left out.
fn sqlite_schema(
    target: &mut dyn cutover_engine::AdoptTarget,
    history_name: &str,
) -> Result<Vec<crate::sqlite::SchemaObject>, Error> {
    let rows = target.select_text(crate::sqlite::SCHEMA_QUERY).map_err(database("cannot read the schema"))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let mut row = row.into_iter();
            Some(crate::sqlite::SchemaObject {
                kind: row.next()??,
                name: row.next()??,
                table: row.next()??,
                sql: row.next()?,
            })
        })
        .filter(|o| o.table != history_name && o.table != format!("{history_name}_approvals"))
        .collect())
}

/// Applies a declarative migration to SQLite in one transaction with its history row, each
/// operation planned on the schema the ones before it left: SQLite's own `RENAME COLUMN`
/// rewrites the views, CHECKs, indexes and triggers that name the column, and a rebuild after it
/// recreates them from that text (tester 22: from the text before it, `"select"` named no
/// column any more, and SQLite read it as a string).
fn apply_sqlite(
    target: &mut dyn cutover_engine::AdoptTarget,
    options: &Options,
    declaration: &crate::Declaration,
    history_name: &str,
    record: &HistoryRecord,
) -> Result<(), Error> {
    let run = |target: &mut dyn cutover_engine::AdoptTarget, sql: &str| {
        target.autocommit(options.timeouts, &mut |session| session.execute(sql)).map_err(database(""))
    };
    run(target, "BEGIN IMMEDIATE")?;
    for (idx, operation) in crate::sqlite::in_sqlite_order(&declaration.operations) {
        let schema = sqlite_schema(target, history_name)?;
        let statements = crate::sqlite::plan_sqlite(&schema, std::slice::from_ref(operation)).map_err(|source| {
            Error::Plan { path: declaration.path.clone(), source: crate::PlanError { index: idx + 1, ..source } }
        })?;
        for statement in &statements {
            run(target, statement)?;
        }
    }
    for statement in crate::sqlite::foreign_key_check() {
        target
            .autocommit(options.timeouts, &mut |session| session.execute(&statement))
            .map_err(|mut err| {
                err.message =
                    "foreign keys are violated after the change (PRAGMA foreign_key_check); nothing was applied"
                        .to_string();
                err
            })
            .map_err(database(""))?;
    }
    target.autocommit(options.timeouts, &mut |session| session.append_history(record)).map_err(database(""))?;
    run(target, "COMMIT")
}

/// The first pending migration, which must be declarative, with every SQL migration before it applied.
fn next_declarative<'a>(
    target: &mut dyn cutover_engine::MigrationTarget,
    set: &'a MigrationSet,
) -> Result<&'a Migration, Error> {
    let history = target.read_history().map_err(database("cannot read the history"))?;
    let statuses = compute_status(set, &history);
    let problems: Vec<String> = statuses
        .iter()
        .filter(|s| matches!(s.state, MigrationState::Modified | MigrationState::Missing))
        .map(|s| format!("{} is {:?}", s.label(), s.state).to_lowercase())
        .collect();
    if !problems.is_empty() {
        return Err(Error::Refused(format!("{}; `cutover validate` explains, fix that first", problems.join("; "))));
    }
    let next = statuses.iter().find(|s| s.state.is_to_apply());
    let Some(next) = next else {
        return Err(Error::Refused("no migration is pending: nothing to start".into()));
    };
    let migration = next
        .migration_idx
        .map(|idx| &set.migrations[idx])
        .ok_or_else(|| Error::Refused(format!("{} is pending but its file is gone", next.label())))?;
    if migration.kind != MigrationKind::Declarative {
        return Err(Error::Refused(format!(
            "the next pending migration, {}, is SQL: apply it with `cutover up` first (start runs declarative migrations, `<version>_<name>.toml`)",
            migration.label()
        )));
    }
    Ok(migration)
}

fn new_plan(
    target: &mut dyn ExpandTarget,
    set: &MigrationSet,
    migration: &Migration,
    options: &Options,
) -> Result<Plan, Error> {
    let declaration = read_declaration(&migration.up.path)?;
    let base = target.current_schema().map_err(database("cannot read the current schema"))?;
    let tables: Vec<_> = target
        .tables(&base)
        .map_err(database("cannot read the tables"))?
        .into_iter()
        .filter(|t| !is_own_table(&t.name, &options.history_table))
        .collect();
    // The old version is the schema the last completed migration published, while it exists.
    let states = target.expand_states().map_err(database("cannot read the expand state"))?;
    let mut previous = None;
    if let Some(last) = states.iter().find(|s| s.phase == ExpandPhase::Completed) {
        let last_plan = read_plan(last)?;
        let exists = target
            .select_text(&format!(
                "SELECT 1 FROM pg_namespace WHERE nspname = {}",
                crate::sql::literal(&last_plan.version_schema)
            ))
            .map_err(database("cannot look for the previous version's schema"))?;
        if !exists.is_empty() {
            previous = Some(last_plan.version_schema);
        }
    }
    let version = migration.version.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default();
    let nonce = cutover_runner::now_rfc3339().chars().filter(char::is_ascii_digit).collect::<String>();
    let input = PlanInput {
        version: &version,
        name: &migration.name,
        base_schema: &base,
        tables: &tables,
        previous_schema: previous.as_deref(),
        nonce: &nonce,
    };
    let _ = set;
    plan(&input, &declaration.operations).map_err(|source| Error::Plan { path: declaration.path.clone(), source })
}

fn save(target: &mut dyn ExpandTarget, plan: &Plan, phase: ExpandPhase, options: &Options) -> Result<(), Error> {
    let state = recorded(plan, phase, &options.runner);
    target.save_expand_state(&state).map_err(database(format!("cannot record phase `{phase}`")))
}

/// The state recorded for `plan` in `phase`: what other crates read (the version's schema) in
/// fields of its own, the plan whole for `complete` and `rollback`.
fn recorded(plan: &Plan, phase: ExpandPhase, runner: &str) -> ExpandState {
    ExpandState {
        version: plan.version.clone(),
        name: plan.name.clone(),
        phase,
        version_schema: plan.version_schema.clone(),
        plan: serde_json::to_string(plan).expect("a plan serializes"),
        runner: runner.to_string(),
        started_at: String::new(),
        updated_at: String::new(),
        log: Vec::new(),
    }
}

fn history_record(set: &MigrationSet, migration: &Migration, options: &Options) -> HistoryRecord {
    let script =
        migration.up.path.strip_prefix(&set.dir).unwrap_or(&migration.up.path).to_string_lossy().replace('\\', "/");
    HistoryRecord {
        id: 0,
        version: migration.version.as_ref().map(|v| v.as_str().to_string()),
        name: migration.name.clone(),
        kind: RecordKind::Versioned,
        direction: Direction::Up,
        state: State::Applied,
        script,
        checksum: migration.checksum.as_str().to_string(),
        transactional: true,
        statements_total: 0,
        statements_done: 0,
        prefix_checksum: None,
        started_at: cutover_runner::now_rfc3339(),
        finished_at: Some(cutover_runner::now_rfc3339()),
        duration_ms: Some(0),
        error_message: None,
        error_sqlstate: None,
        error_statement: None,
        error_location: None,
        installed_by: String::new(),
        runner: options.runner.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

fn with_retries(
    options: &Options,
    reporter: &mut dyn Reporter,
    mut attempt: impl FnMut() -> Result<(), DbError>,
) -> Result<(), DbError> {
    let policy = cutover_engine::RetryPolicy { tries: options.lock_retries, backoff: options.retry_backoff };
    cutover_engine::retry(
        policy,
        DbError::is_lock_contention,
        |tries, _, error| reporter.report(Event::Retrying { attempt: tries, error }),
        |_| attempt(),
    )
    .map_err(|exhausted| exhausted.error)
}

fn run_in_transaction(
    target: &mut dyn ExpandTarget,
    options: &Options,
    reporter: &mut dyn Reporter,
    what: &str,
    statements: &[String],
) -> Result<(), Error> {
    if statements.is_empty() {
        return Ok(());
    }
    reporter.report(Event::Step { what, statements: statements.len() });
    let result = with_retries(options, reporter, || {
        target.transaction(options.timeouts, &mut |session| {
            for statement in statements {
                session.execute(statement)?;
            }
            Ok(())
        })
    });
    result.map_err(|error| locked_out(target, statements, what, error))
}

fn run_each_alone(
    target: &mut dyn ExpandTarget,
    options: &Options,
    reporter: &mut dyn Reporter,
    what: &str,
    statements: &[String],
) -> Result<(), Error> {
    for statement in statements {
        reporter.report(Event::Step { what, statements: 1 });
        // A build killed half-way leaves an INVALID index that IF NOT EXISTS would keep.
        target.clear_leftovers(statement).map_err(database(what))?;
        let timeouts = Timeouts { statement_timeout: Duration::ZERO, ..options.timeouts };
        let result =
            with_retries(options, reporter, || target.autocommit(timeouts, &mut |session| session.execute(statement)));
        result.map_err(|error| locked_out(target, std::slice::from_ref(statement), what, error))?;
    }
    Ok(())
}

struct ForwardBackfill<'a>(&'a mut dyn Reporter);

impl cutover_backfill::Reporter for ForwardBackfill<'_> {
    fn report(&mut self, event: cutover_backfill::Event<'_>) {
        self.0.report(Event::Backfill(event))
    }
}

/// The active expand/contract migration (`<version> <name>`) whose plan rewrites `table`, if
/// any: the rewrite is that migration's to revert (`rollback`) or clean up (`complete`), not a
/// hand's (a revert by hand left a migration recorded as applied on a table without its change).
pub fn rewrite_owner(target: &mut dyn ExpandTarget, table: &str) -> Result<Option<String>, Error> {
    let Some(state) = active(target)? else { return Ok(None) };
    let plan = read_plan(&state)?;
    let name = target.rewrite_name(table).map_err(database("cannot read the table"))?;
    for planned in &plan.rewrites {
        if target.rewrite_name(&planned.table).map_err(database("cannot read the table"))? != name {
            continue;
        }
        // A rewrite of the table with another change, under way before the migration's: not
        // the migration's (its `start` refuses until that one is finished or dropped by hand).
        // One read of the state, not two.
        let recorded = target.load_rewrite(table).map_err(database("cannot read the rewrite's state"))?;
        let foreign = recorded.is_some_and(|state| state.phase != RewritePhase::Done && !same_change(&state, planned));
        if !foreign {
            return Ok(Some(format!("{} {}", plan.version, plan.name)));
        }
    }
    Ok(None)
}

/// How the migration's online rewrites run: as its backfills, with its lock timeouts and retries.
fn rewrite_options(options: &Options) -> cutover_rewrite::Options {
    cutover_rewrite::Options {
        copy: options.backfill.clone(),
        verify_chunk: cutover_rewrite::DEFAULT_VERIFY_CHUNK,
        defer_swap: false,
        timeouts: options.timeouts,
        retry: RetryPolicy { tries: options.lock_retries, backoff: options.retry_backoff },
    }
}

/// The rewrite of `planned`'s table, when it is this migration's and not done: one started by
/// hand with another change (or finished) is not this migration's to revert or clean up.
fn ours(target: &mut dyn ExpandTarget, planned: &PlannedRewrite) -> Result<Option<RewriteState>, Error> {
    let state = target.load_rewrite(&planned.table).map_err(database("cannot read the rewrite's state"))?;
    Ok(state.filter(|state| state.phase != RewritePhase::Done && same_change(state, planned)))
}

/// Whether the recorded rewrite `state` makes `planned`'s change (however its SQL is spaced).
fn same_change(state: &RewriteState, planned: &PlannedRewrite) -> bool {
    let normal = |text: Option<&str>| text.map(cutover_backfill::normalize_sql);
    normal(state.alter.as_deref()) == normal(planned.alter.as_deref()) && state.using == planned.using
}

/// One reporter of this crate's events behind the rewrite's two (its own and its copy's).
struct Forward<'a, 'r, 'o>(&'a RefCell<&'r mut (dyn Reporter + 'o)>);

impl cutover_rewrite::Reporter for Forward<'_, '_, '_> {
    fn report(&mut self, event: cutover_rewrite::Event<'_>) {
        self.0.borrow_mut().report(Event::Rewrite(event))
    }
}

impl cutover_backfill::Reporter for Forward<'_, '_, '_> {
    fn report(&mut self, event: cutover_backfill::Event<'_>) {
        self.0.borrow_mut().report(Event::Backfill(event))
    }
}

/// Whether `name` is one of the tables cutover makes beside the history table `history` (its
/// guard and approvals, the expand state, the backfill checkpoints). By exact name, never by
/// prefix: a user's `cutover_reports` table is the user's to change. `history` may be
/// schema-qualified.
pub fn is_own_table(name: &str, history: &str) -> bool {
    let history = history.rsplit('.').next().unwrap_or(history);
    name == history
        || name.strip_prefix(history).is_some_and(|suffix| suffix == "_approvals" || suffix == "_guard")
        || name == "cutover_expand"
        || name == cutover_engine::keyset::CHECKPOINT_TABLE
        || name == cutover_engine::REWRITE_STATE_TABLE
        || name == cutover_engine::REWRITE_MISSES_TABLE
        // An online rewrite's copy or kept old table (PostgreSQL names them by the table's oid).
        || ["_cutover_new_", "_cutover_old_"].iter().any(|prefix| {
            name.strip_prefix(prefix).is_some_and(|oid| !oid.is_empty() && oid.bytes().all(|b| b.is_ascii_digit()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrites_message_names_the_operations_fields_not_the_commands_flags() {
        assert_eq!(
            in_operation_terms("`--alter` converts a column `USING` an expression: give the conversion as `--using COLUMN=EXPRESSION`"),
            "`alter` converts a column `USING` an expression: give the conversion as `using = { COLUMN = \"EXPRESSION\" }`"
        );
        assert_eq!(in_operation_terms("`--using id=...` changes the key"), "`using: id=...` changes the key");
    }

    #[test]
    fn keeping_the_rewritten_table_is_completes_in_a_migration() {
        assert_eq!(
            keep_by_completing("a revert would lose the writes since; keep the rewritten table (`cutover rewrite --cleanup --table public.users` drops the old one)"),
            "a revert would lose the writes since; keep the rewritten table (`cutover complete` does, and drops the old one)"
        );
        assert_eq!(keep_by_completing("nothing to keep"), "nothing to keep");
    }

    #[test]
    fn own_tables_are_known_by_name_not_by_prefix() {
        for own in [
            "cutover_history",
            "cutover_history_guard",
            "cutover_history_approvals",
            "cutover_expand",
            "cutover_backfills",
        ] {
            assert!(is_own_table(own, "cutover_history"), "{own}");
        }
        assert!(is_own_table("ops_history_guard", "ops_history"));
        for users in ["cutover_reports", "cutover_history_archive", "cutover_historyx", "users"] {
            assert!(!is_own_table(users, "cutover_history"), "{users}");
        }
    }

    #[test]
    fn a_recorded_state_names_the_version_schema_and_gives_its_plan_back() {
        let plan = Plan {
            version: "3".into(),
            name: "rename".into(),
            base_schema: "public".into(),
            version_schema: "public_v3".into(),
            previous_schema: Some("public_v2".into()),
            expand: vec!["ALTER TABLE users ADD COLUMN IF NOT EXISTS full_name text".into()],
            concurrent: Vec::new(),
            backfills: Vec::new(),
            validate: Vec::new(),
            publish: vec!["CREATE SCHEMA IF NOT EXISTS public_v3".into()],
            contract: Vec::new(),
            contract_concurrent: Vec::new(),
            revert: Vec::new(),
            revert_concurrent: Vec::new(),
            rewrites: Vec::new(),
            operations: Vec::new(),
        };
        let state = recorded(&plan, ExpandPhase::Started, "me");
        assert_eq!((state.version.as_str(), state.phase), ("3", ExpandPhase::Started));
        assert_eq!(state.version_schema, plan.version_schema, "SQL migrations keep this schema's views in step");
        assert_eq!(read_plan(&state).unwrap(), plan);
    }
}
