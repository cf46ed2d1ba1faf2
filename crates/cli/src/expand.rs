//! `cutover start`, `complete` and `rollback`: settings to options, signals to a stop flag,
//! events to lines on stderr.

use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;
use cutover_any::AnyTarget;
use cutover_engine::{DatabaseUrl, Engine};
use cutover_expand::{Error, Event, Options, Reporter, Summary};
use cutover_runner::Settings;

use crate::{Exit, ExitStatus};

pub fn start(
    settings: &Settings,
    batch_time: Duration,
    max_rows_per_second: Option<u64>,
    max_replica_lag: Duration,
) -> anyhow::Result<ExitStatus> {
    let set = crate::read_migrations(settings)?;
    let url = crate::database_url(settings)?;
    let mut any = crate::connect_any(&url, settings)?;
    if let Some(target) = any.sqlite() {
        let summary = cutover_expand::start_sqlite(target, &set, &options(settings, false), &mut Lines::default())
            .map_err(|e| failure(&url, e))?;
        writeln!(
            anstream::stdout(),
            "applied {} in {:.1} s, whole, in one transaction (SQLite runs one version at a time: nothing to complete)",
            summary.migration,
            summary.duration.as_secs_f64()
        )?;
        return Ok(ExitStatus::Success);
    }
    let target = any.expand().map_err(|e| crate::unsupported(&url, &e))?;
    let mut options = options(settings, false);
    options.backfill.batch_time = batch_time;
    options.backfill.max_rows_per_second = max_rows_per_second;
    options.backfill.max_replica_lag = max_replica_lag;
    let stop = crate::backfill::stop_on_signals()?;
    let summary = cutover_expand::start(target, &set, &options, &mut Lines::default(), &stop).map_err(|e| {
        // Past the planning, the migration is recorded as starting: say both ways out.
        let recorded =
            !matches!(
                e,
                Error::Refused(_)
                    | Error::Plan { .. }
                    | Error::Declaration(_)
                    | Error::DataRefused { .. }
                    | Error::StepRefused { .. }
                    | Error::NothingChanged(_)
            );
        let hint = recorded.then_some("the migration is recorded as starting: `cutover start` goes on from where it stopped once the cause is fixed (in the database; a fix to the file needs `cutover rollback` first, as its plan is recorded), `cutover rollback` undoes what it made");
        failure_with(&url, e, hint)
    })?;
    let mut out = anstream::stdout();
    if summary.already_started {
        // One expand/contract migration is active at a time: each `complete` must know which
        // version is old, and a second set of views beside the first would leave applications
        // three versions to choose from. The next one waits, and is named.
        // The folder is in version order: the next declarative one after the active one.
        let next = set
            .migrations
            .iter()
            // `summary.migration` is `<version> <name>` of the active one.
            .skip_while(|m| m.version.as_ref().is_none_or(|v| format!("{v} {}", m.name) != summary.migration))
            .skip(1)
            .find(|m| m.kind == cutover_migration::MigrationKind::Declarative);
        let waiting = next
            .map(|m| {
                format!(
                    "; {} starts after it is completed (one expand/contract migration is active at a time)",
                    m.label()
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "{} is already started: the old version is `{}`, the new one `{}`; `cutover complete` once no old code runs{waiting}",
            summary.migration, summary.old_schema, summary.version_schema
        )?;
        return Ok(ExitStatus::Success);
    }
    if summary.interrupted {
        writeln!(
            out,
            "start of {} stopped during its backfill after {} rows; progress is saved: `cutover start` resumes, `cutover rollback` undoes",
            summary.migration, summary.rows_backfilled
        )?;
        return Ok(ExitStatus::Interrupted);
    }
    writeln!(
        out,
        "started {} in {:.1} s ({} rows backfilled{}): the old version is `{}`, the new one `{}` (search_path={},{}); `cutover complete` once no old code runs",
        summary.migration,
        summary.duration.as_secs_f64(),
        summary.rows_backfilled,
        if summary.rows_copied > 0 { format!(", {} copied by online rewrites", summary.rows_copied) } else { String::new() },
        summary.old_schema,
        summary.version_schema,
        summary.version_schema,
        summary.base_schema
    )?;
    Ok(ExitStatus::Success)
}

pub fn complete(settings: &Settings, force: bool, wait: Duration) -> anyhow::Result<ExitStatus> {
    let set = crate::read_migrations(settings)?;
    let (url, mut any) = open(settings)?;
    let target = any.expand().map_err(|e| crate::unsupported(&url, &e))?;
    let options = Options { wait, ..options(settings, force) };
    let summary =
        cutover_expand::complete(target, &set, &options, &mut Lines::default()).map_err(|e| failure(&url, e))?;
    finished(&summary, "completed", &format!("the version `{}` is the only one", summary.version_schema))
}

pub fn rollback(settings: &Settings) -> anyhow::Result<ExitStatus> {
    let (url, mut any) = open(settings)?;
    let target = any.expand().map_err(|e| crate::unsupported(&url, &e))?;
    let summary = cutover_expand::rollback(target, &options(settings, false), &mut Lines::default())
        .map_err(|e| failure(&url, e))?;
    finished(&summary, "rolled back", &format!("the version `{}` is the only one", summary.old_schema))
}

/// The active declarative migration, for `cutover status` (PostgreSQL only; `None` elsewhere).
/// A state that cannot be read is an error: status would otherwise hide an active migration.
pub fn active(settings: &Settings, url: &DatabaseUrl) -> anyhow::Result<Option<cutover_expand::ActiveMigration>> {
    if url.engine() != Engine::Postgres {
        return Ok(None);
    }
    let mut any = crate::connect_any(url, settings)?;
    let target = any.expand().map_err(|e| crate::unsupported(url, &e))?;
    cutover_expand::status(target).map_err(|e| failure(url, e))
}

/// Every recorded expand/contract migration with the phases it went through, newest first, for
/// `cutover history` (PostgreSQL only; none elsewhere).
pub fn states(settings: &Settings, url: &DatabaseUrl) -> anyhow::Result<Vec<cutover_engine::ExpandState>> {
    if url.engine() != Engine::Postgres {
        return Ok(Vec::new());
    }
    let mut any = crate::connect_any(url, settings)?;
    let target = any.expand().map_err(|e| crate::unsupported(url, &e))?;
    target.expand_states().map_err(|e| anyhow!("cannot read the expand/contract phases: {}", url.scrub(&e.to_string())))
}

fn finished(summary: &Summary, verb: &str, state: &str) -> anyhow::Result<ExitStatus> {
    writeln!(anstream::stdout(), "{verb} {} in {:.1} s: {state}", summary.migration, summary.duration.as_secs_f64())?;
    Ok(ExitStatus::Success)
}

fn open(settings: &Settings) -> anyhow::Result<(DatabaseUrl, AnyTarget)> {
    let url = crate::database_url(settings)?;
    let target = crate::connect_any(&url, settings)?;
    Ok((url, target))
}

fn options(settings: &Settings, force: bool) -> Options {
    let runner = format!("cutover {} {}", env!("CARGO_PKG_VERSION"), cutover_runner::runner_identity());
    Options {
        timeouts: cutover_engine::Timeouts {
            lock_timeout: settings.lock_timeout,
            statement_timeout: settings.statement_timeout,
        },
        lock_retries: settings.lock_retries,
        retry_backoff: settings.retry_backoff,
        runner_lock_wait: settings.runner_lock_wait,
        backfill: cutover_backfill::Options {
            lock_timeout: settings.lock_timeout,
            lock_retries: settings.lock_retries,
            retry_backoff: settings.retry_backoff,
            lock_wait: settings.runner_lock_wait,
            runner: runner.clone(),
            ..cutover_backfill::Options::default()
        },
        force,
        wait: Duration::ZERO,
        history_table: settings.history_table.clone(),
        runner,
    }
}

fn failure(url: &DatabaseUrl, error: Error) -> anyhow::Error {
    failure_with(url, error, None)
}

/// `failure`, with a last sentence on what to do next.
fn failure_with(url: &DatabaseUrl, error: Error, hint: Option<&str>) -> anyhow::Error {
    let status = match error {
        Error::Refused(_) | Error::Plan { .. } | Error::Declaration(_) => ExitStatus::Failure,
        _ => ExitStatus::Error,
    };
    let mut message = url.scrub(&error.to_string());
    if let Some(hint) = hint {
        message.push_str("; ");
        message.push_str(hint);
    }
    anyhow!(Exit { status, message })
}

/// Events as lines on stderr.
#[derive(Default)]
struct Lines {
    /// When "waiting for the migration lock" was last said: once each 10 s.
    waiting_said: Option<std::time::Instant>,
}

impl Reporter for Lines {
    fn report(&mut self, event: Event<'_>) {
        let mut err = anstream::stderr();
        let _ = match event {
            Event::WaitingForLock { holder } => {
                if self.waiting_said.is_some_and(|at| at.elapsed() < Duration::from_secs(10)) {
                    return;
                }
                self.waiting_said = Some(std::time::Instant::now());
                writeln!(err, "waiting for the migration lock held by {}", holder.description)
            }
            Event::Resuming { phase } => writeln!(err, "resuming: the migration was left {}", phase.words()),
            Event::Step { what, statements } => {
                writeln!(err, "{what} ({})", cutover_engine::count(statements, "statement", "statements"))
            }
            Event::Retrying { attempt, error } => {
                writeln!(err, "try {attempt} did not get its locks ({error}); trying again")
            }
            Event::Backfill(cutover_backfill::Event::Started { name, total, .. }) => match total {
                Some(total) => writeln!(err, "backfill {name}: {} to walk", total.describe()),
                None => writeln!(err, "backfill {name}"),
            },
            Event::Backfill(cutover_backfill::Event::Throttled { reason }) => {
                writeln!(err, "backfill paused: {reason}")
            }
            Event::Backfill(_) => Ok(()),
            Event::Rewrite(cutover_rewrite::Event::Started { plan, resumed }) => writeln!(
                err,
                "{} the online rewrite of {} into {}",
                if resumed { "resuming" } else { "started" },
                plan.state.table,
                plan.copy.table
            ),
            Event::Rewrite(cutover_rewrite::Event::Verified { rows, took }) => writeln!(
                err,
                "rewrite verified: the copy equals the table ({rows} rows, {:.1} s)",
                took.as_secs_f64()
            ),
            Event::Rewrite(cutover_rewrite::Event::Retrying { what, attempt, tries, error }) => {
                writeln!(err, "{what}: locks not granted (try {attempt} of {tries}): {}; retrying", error.message)
            }
            Event::Rewrite(cutover_rewrite::Event::LeftNotValid { constraint }) => writeln!(
                err,
                "warning: the foreign key {constraint} is left NOT VALID (it holds for new rows): fix the rows and VALIDATE it, or drop it"
            ),
            Event::Rewrite(cutover_rewrite::Event::WaitingForLock { holder }) => {
                writeln!(err, "waiting for another cutover running a command on the rewrite: {}", holder.description)
            }
            Event::Rewrite(_) => Ok(()),
            Event::Rewritten { table, what, swap } => match swap {
                Some(swap) => writeln!(
                    err,
                    "rewrite of {table}: {what} (the swap waited {} ms for its locks and held them {} ms)",
                    swap.lock_wait.as_millis(),
                    swap.held.as_millis()
                ),
                None => writeln!(err, "rewrite of {table}: {what}"),
            },
            Event::WaitingForOldSessions { old, left } => {
                let mut text = format!(
                    "waiting for {} on an old version ({} left):",
                    cutover_engine::count(old.len(), "session", "sessions"),
                    humantime::format_duration(Duration::from_secs(left.as_secs()))
                );
                for line in cutover_engine::at_most(old, 10) {
                    text.push_str(&format!("\n  {line}"));
                }
                writeln!(err, "{text}")
            }
            Event::TriggersFire { table } => writeln!(
                err,
                "note: the backfill of {table} fires its own UPDATE triggers for each row (an `updated_at` trigger moves every row's time): keeping them out takes `GRANT SET ON PARAMETER session_replication_role TO <this role>` (PostgreSQL 15+) or a superuser"
            ),
            Event::Unplaced { sessions } => {
                writeln!(
                    err,
                    "note: nothing shows which schema version {} of this database {} (no lock on a table or view, no `<app>@<schema>` application_name): {}; completing without them",
                    cutover_engine::count(sessions.len(), "session", "sessions"),
                    if sessions.len() == 1 { "uses" } else { "use" },
                    cutover_engine::at_most(sessions, 3).join("; ")
                )
            }
            _ => Ok(()),
        };
    }
}
