//! The migration algorithm, written once for every engine: lock, ensure the history, refuse on
//! a tampered history, apply in order, record every attempt.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use cutover_engine::{
    jitter, retry, DbError, DbErrorKind, Direction, Engine, Exhausted, HistoryRecord, MigrationTarget, RecordKind,
    State, Timeouts,
};
use cutover_migration::{Checksum, Migration, MigrationSet, Script, ScriptSettings, Statement, Version};

use crate::error::{MigrationFailure, Refusal};
use crate::status::{compute_status, migration_of, resume_point, MigrationState, MigrationStatus};
use crate::{Error, Event, Reporter, Settings};

/// What a run needs: the database, the settings, and where to report progress.
pub struct Context<'a> {
    /// The database.
    pub target: &'a mut dyn MigrationTarget,
    /// The resolved settings.
    pub settings: &'a Settings,
    /// Receives progress events.
    pub reporter: &'a mut dyn Reporter,
}

/// Options of `up`.
#[derive(Debug, Default, Clone)]
pub struct UpOptions {
    /// Apply up to and including this version only.
    pub to: Option<Version>,
    /// Report what would run, change nothing.
    pub dry_run: bool,
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Apply migrations with error-level findings that no `cutover:ignore` accepts.
    pub allow_unsafe: bool,
    /// Apply migrations that wait for a maintenance window now, for this reason (recorded).
    pub outside_window: Option<String>,
}

/// Options of `down`.
#[derive(Debug, Clone)]
pub enum DownTarget {
    /// Revert the newest `n` applied migrations; refused when fewer are applied.
    Steps(usize),
    /// Revert every applied migration newer than this version, which must be applied itself.
    To(Version),
    /// Revert every applied migration.
    All,
}

/// What a run did (or, with `--dry-run`, would do).
#[derive(Debug, Default)]
pub struct RunSummary {
    /// `<version> <name>` of each migration applied or reverted, in order.
    pub migrations: Vec<String>,
    /// How long the run took.
    pub duration: Duration,
    /// The pending declarative (expand/contract) migration `up` stopped before: it is applied
    /// in phases by `cutover start` and `cutover complete`.
    pub stopped_at_declarative: Option<String>,
}

/// The state of every migration. Takes no lock and creates nothing.
pub fn status(ctx: &mut Context<'_>, set: &MigrationSet) -> Result<Vec<MigrationStatus>, Error> {
    ctx.settings.check()?;
    let history = read_history_if_any(ctx)?;
    Ok(compute_status(set, &history))
}

/// Every problem that would make `up` refuse, or that needs attention: edited, missing,
/// failed, interrupted and out-of-order migrations. Empty when all is well.
pub fn validate(ctx: &mut Context<'_>, set: &MigrationSet) -> Result<Vec<String>, Error> {
    let history = read_history_if_any(ctx)?;
    let statuses = compute_status(set, &history);
    let mut problems = Vec::new();
    if let Some(damage) = guard_damage(ctx, set, &history)? {
        let refusal = crate::integrity::refusal(&damage, &ctx.settings.history_table);
        problems.extend(refusal.problems);
        if let Some(last) = problems.last_mut() {
            last.push_str(&format!("; {}", refusal.advice));
        }
    }
    problems.extend(tamper_problems(set, &statuses));
    for status in &statuses {
        let label = status.label();
        match status.state {
            MigrationState::Failed => {
                let error = status.latest.as_ref().and_then(|r| r.error_message.clone()).unwrap_or_default();
                let location = status.latest.as_ref().and_then(|r| r.error_location.clone()).unwrap_or_default();
                problems.push(format!("{label} failed at {location}: {error}"));
            }
            MigrationState::Running => problems.push(format!(
                "{label} was interrupted (or is running now) after {} of its statements; `cutover up` resumes it",
                status.latest.as_ref().map_or(0, |r| r.statements_done)
            )),
            MigrationState::Pending if status.out_of_order => problems.push(format!(
                "{label} is older than the newest applied migration but was never applied (out of order)"
            )),
            _ => {}
        }
    }
    Ok(problems)
}

/// Applies pending migrations in order.
pub fn up(ctx: &mut Context<'_>, set: &MigrationSet, options: &UpOptions) -> Result<RunSummary, Error> {
    let started = Instant::now();
    ctx.settings.check()?;
    if let Some(to) = &options.to {
        check_version_exists(set, to, "up --to")?;
    }
    if options.dry_run {
        let history = read_history_if_any(ctx)?;
        refuse_damaged(ctx, set, &history)?;
        let statuses = compute_status(set, &history);
        let plan = plan_up(set, &statuses, options)?;
        // A dry run records no approval: nothing runs.
        approval_gate(ctx, set, &plan, options)?;
        let mut summary = RunSummary::default();
        for (migration, latest) in plan {
            let resume_at = resume_point(latest, Direction::Up).map_or(0, |r| r.statements_done as usize);
            ctx.reporter.report(Event::WouldRun {
                migration,
                direction: Direction::Up,
                script: &migration.up,
                resume_at,
            });
            summary.migrations.push(migration.label());
        }
        summary.stopped_at_declarative = next_declarative(set, &statuses, options);
        summary.duration = started.elapsed();
        return Ok(summary);
    }

    let _lock = acquire_lock(ctx)?;
    ctx.target.ensure_history().map_err(|e| Error::database("cannot create the history table", e))?;
    // Read the history only now, under the lock, so that a runner that waited sees the work of
    // the one it waited for.
    let history = ctx.target.read_history().map_err(|e| Error::database("cannot read the history", e))?;
    refuse_damaged(ctx, set, &history)?;
    let statuses = compute_status(set, &history);
    let plan = plan_up(set, &statuses, options)?;
    let GateOutcome { approvals, up_front_locks } = approval_gate(ctx, set, &plan, options)?;
    if !approvals.is_empty() {
        // Recorded before anything runs: every risky change in the history has its justification.
        ctx.target.append_approvals(&approvals).map_err(|e| Error::database("cannot record the approvals", e))?;
        ctx.reporter.report(Event::Approved { approvals: &approvals });
    }
    let mut summary = RunSummary::default();
    for (migration, latest) in plan {
        let locks = up_front_locks.get(&migration.label()).map_or(&[][..], Vec::as_slice);
        run_script(ctx, set, migration, Direction::Up, latest, locks)?;
        summary.migrations.push(migration.label());
    }
    summary.stopped_at_declarative = next_declarative(set, &statuses, options);
    summary.duration = started.elapsed();
    Ok(summary)
}

/// The first pending declarative migration within `--to`, which `up` stops before.
fn next_declarative(set: &MigrationSet, statuses: &[MigrationStatus], options: &UpOptions) -> Option<String> {
    statuses.iter().find_map(|status| {
        let migration = migration_of(set, status)?;
        let within = match (&migration.version, &options.to) {
            (Some(version), Some(to)) => version <= to,
            _ => true,
        };
        let pending = matches!(status.state, MigrationState::Pending | MigrationState::Failed);
        (migration.kind == cutover_migration::MigrationKind::Declarative && within && pending)
            .then(|| migration.label())
    })
}

/// What the approval gate lets through.
#[derive(Default)]
struct GateOutcome {
    /// The accepted findings, to be recorded as approvals when the run goes ahead.
    approvals: Vec<cutover_engine::Approval>,
    /// The locks to take up front, by migration label (see `gate::Review::up_front_locks`).
    up_front_locks: std::collections::BTreeMap<String, Vec<(String, &'static str)>>,
}

/// Refuses the plan when a pending migration has an error-level finding that no ignore with a
/// reason accepts, unless `--allow-unsafe`. The analysis knows PostgreSQL; other engines pass.
fn approval_gate(
    ctx: &Context<'_>,
    set: &MigrationSet,
    plan: &[(&Migration, Option<&HistoryRecord>)],
    options: &UpOptions,
) -> Result<GateOutcome, Error> {
    if plan.is_empty() {
        return Ok(GateOutcome::default());
    }
    let mut config = ctx.settings.lint.clone();
    // The live server is the truth about which dialect and version's behaviour apply. SQLite,
    // the embedded default for local work, is not gated on findings; its maintenance windows,
    // when configured, hold as anywhere.
    let server = ctx.target.server_version();
    let mut gated = true;
    match ctx.target.engine() {
        Engine::Postgres => {
            config.dialect = cutover_analysis::Dialect::Postgres;
            if let Some(major) = crate::gate::major_version(&server) {
                config.pg_version = major;
            }
        }
        Engine::Mysql => {
            config.dialect = cutover_analysis::Dialect::Mysql;
            if let Some(version) = cutover_analysis::MysqlServer::from_server_version(&server) {
                config.mysql_server = version;
            }
        }
        Engine::Sqlite if !ctx.settings.windows.is_empty() => {
            config.dialect = cutover_analysis::Dialect::Sqlite;
            gated = false;
        }
        _ => return Ok(GateOutcome::default()),
    }
    let pending: Vec<&Migration> = plan.iter().map(|(migration, _)| *migration).collect();
    let mut review = crate::gate::review(set, &pending, &config, options.allow_unsafe);
    if !gated {
        // Findings neither refuse nor need approving here; windows (below) still hold.
        review.unsafe_findings.clear();
        review.approvals.clear();
    }
    if !ctx.settings.windows.is_empty() && !review.need_window.is_empty() {
        let now = ctx.settings.now.unwrap_or_else(SystemTime::now);
        let (open, next) = crate::policy::window_state(&ctx.settings.windows, now);
        match (&options.outside_window, open) {
            (_, true) => {}
            (Some(reason), false) => {
                for label in &review.need_window {
                    let Some(migration) = pending.iter().find(|m| &m.label() == label) else { continue };
                    review.approvals.push(cutover_engine::Approval {
                        id: 0,
                        version: migration.version.as_ref().map(|v| v.as_str().to_string()),
                        name: migration.name.clone(),
                        rule: "maintenance-window".to_string(),
                        how: "outside-window".to_string(),
                        reason: reason.clone(),
                        location: migration.up.path.display().to_string(),
                        message: "blocks or rewrites existing tables outside every maintenance window".to_string(),
                        approved_by: String::new(),
                        approved_at: String::new(),
                    });
                }
            }
            (None, false) => {
                let next = next.map_or_else(String::new, |t| format!(" (next opens {})", humantime::format_rfc3339(t)));
                let windows: Vec<String> = ctx.settings.windows.iter().map(ToString::to_string).collect();
                return Err(Error::Refused(Refusal {
                    problems: review
                        .need_window
                        .iter()
                        .map(|label| {
                            format!("{label} blocks or rewrites existing tables: it waits for a maintenance window{next}")
                        })
                        .collect(),
                    advice: format!(
                        "run it inside a window ({}), or now with --outside-window \"REASON\" (recorded in `cutover history`)",
                        windows.join(", ")
                    ),
                }));
            }
        }
    }
    if review.unsafe_findings.is_empty() || options.allow_unsafe {
        let approved_by = runner_identity();
        let approved_at = now_rfc3339();
        let approvals = review
            .approvals
            .into_iter()
            .map(|a| cutover_engine::Approval {
                approved_by: approved_by.clone(),
                approved_at: approved_at.clone(),
                ..a
            })
            .collect();
        return Ok(GateOutcome { approvals, up_front_locks: review.up_front_locks });
    }
    Err(Error::Refused(Refusal {
        problems: review.unsafe_findings,
        advice: "make each statement safe (`cutover explain RULE` says how), or accept it with `-- cutover:ignore RULE reason=\"...\"` on the line before it, or run with --allow-unsafe".to_string(),
    }))
}

/// Reverts applied migrations, newest first, with their down scripts.
pub fn down(
    ctx: &mut Context<'_>,
    set: &MigrationSet,
    target: &DownTarget,
    dry_run: bool,
) -> Result<RunSummary, Error> {
    let started = Instant::now();
    ctx.settings.check()?;
    match target {
        DownTarget::To(to) => check_version_exists(set, to, "down --to")?,
        DownTarget::Steps(0) => return Err(Error::BadTarget(
            "`down --steps 0`: nothing was reverted; give the number of migrations to revert (1 or more), or `--all`"
                .to_string(),
        )),
        DownTarget::Steps(_) | DownTarget::All => {}
    }
    let _lock = if dry_run { None } else { Some(acquire_lock(ctx)?) };
    let history = if dry_run {
        read_history_if_any(ctx)?
    } else {
        ctx.target.ensure_history().map_err(|e| Error::database("cannot create the history table", e))?;
        ctx.target.read_history().map_err(|e| Error::database("cannot read the history", e))?
    };
    refuse_damaged(ctx, set, &history)?;
    let statuses = compute_status(set, &history);
    let problems = tamper_problems(set, &statuses);
    if !problems.is_empty() {
        return Err(Error::Refused(Refusal { problems, advice: TAMPER_ADVICE.to_string() }));
    }

    // Applied migrations, and any whose revert was interrupted, newest first.
    let mut revertible: Vec<&MigrationStatus> = statuses
        .iter()
        .filter(|s| s.version.is_some())
        .filter(|s| {
            s.state == MigrationState::Applied
                || matches!((s.state, &s.latest), (MigrationState::Failed | MigrationState::Running, Some(r)) if r.direction == Direction::Down)
        })
        .collect();
    revertible.reverse();
    let selected: Vec<&MigrationStatus> = match target {
        DownTarget::Steps(n) if *n > revertible.len() => {
            return Err(Error::BadTarget(format!(
                "`down --steps {n}`: only {} applied to revert; nothing was reverted. Use `--steps {}`, or `--all` to revert every applied migration",
                plural(revertible.len(), "migration is", "migrations are"),
                revertible.len().max(1),
            )));
        }
        DownTarget::Steps(n) => revertible.into_iter().take(*n).collect(),
        DownTarget::To(to) => {
            // The version a user reverts *to* stays applied, so it must be applied now: a typo
            // (`2024010` for `20240101`) would otherwise be older than everything and revert it all.
            let applied = statuses.iter().any(|s| {
                s.version.as_ref() == Some(to) && matches!(s.state, MigrationState::Applied | MigrationState::Baselined)
            });
            if !applied {
                let state =
                    statuses.iter().find(|s| s.version.as_ref() == Some(to)).map_or("unknown", |s| s.state.name());
                return Err(Error::BadTarget(format!(
                    "`down --to {to}`: migration {to} is {state}, not applied, so there is nothing to revert to; nothing was reverted. Give the version of an applied migration (`cutover status` lists them), or use `--all` to revert every applied migration"
                )));
            }
            revertible.into_iter().filter(|s| s.version.as_ref().is_some_and(|v| v > to)).collect()
        }
        DownTarget::All => revertible,
    };
    // Check every down script exists before reverting anything.
    let mut plan = Vec::new();
    let mut problems = Vec::new();
    for status in selected {
        let Some(migration) = migration_of(set, status) else {
            continue;
        };
        match &migration.down {
            Some(script) => plan.push((migration, script, status.latest.as_ref())),
            None => problems.push(format!("{} has no down script", migration.label())),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Refused(Refusal {
            problems,
            advice: format!(
                "write the missing down scripts ({} layout), or revert fewer migrations with --steps or --to",
                set.layout
            ),
        }));
    }
    let mut summary = RunSummary::default();
    for (migration, script, latest) in plan {
        if dry_run {
            let resume_at = resume_point(latest, Direction::Down).map_or(0, |r| r.statements_done as usize);
            ctx.reporter.report(Event::WouldRun { migration, direction: Direction::Down, script, resume_at });
        } else {
            let locks = match ctx.target.engine() {
                Engine::Postgres if script.settings.transaction => {
                    crate::gate::postgres_script_locks(&script.statements)
                }
                _ => Vec::new(),
            };
            run_script(ctx, set, migration, Direction::Down, latest, &locks)?;
        }
        summary.migrations.push(migration.label());
    }
    summary.duration = started.elapsed();
    Ok(summary)
}

/// Adopts a database that was migrated before cutover: every migration up to `version`
/// counts as applied. Refused when cutover has already applied migrations here.
pub fn baseline(ctx: &mut Context<'_>, set: &MigrationSet, version: &Version) -> Result<(), Error> {
    ctx.settings.check()?;
    check_version_exists(set, version, "baseline")?;
    let _lock = acquire_lock(ctx)?;
    ctx.target.ensure_history().map_err(|e| Error::database("cannot create the history table", e))?;
    let history = ctx.target.read_history().map_err(|e| Error::database("cannot read the history", e))?;
    let damage = guard_damage(ctx, set, &history)?;
    let in_use =
        history.iter().filter(|r| matches!(r.state, State::Applied | State::Baselined | State::Running)).count();
    if in_use > 0 {
        if let Some(damage) = &damage {
            // Rows lost from a history that still records applied migrations: only a backup
            // tells what the rest said.
            return Err(Error::Refused(crate::integrity::refusal(damage, &ctx.settings.history_table)));
        }
        return Err(Error::Refused(Refusal {
            problems: vec![format!("the history already records {in_use} applied or baselined migrations")],
            advice: "baseline adopts a database that cutover has never migrated; this one is already managed: use `cutover up`".to_string(),
        }));
    }
    if let Some(damage) = &damage {
        // The way back from an emptied history: the person who runs it says what the schema
        // has, and the guard trusts the history from this baseline on (see `integrity`).
        ctx.reporter.report(Event::BaselineOverLostHistory { lost: damage.lost.len() + damage.changed.len() });
    }
    let migration = set.migrations.iter().find(|m| m.version.as_ref() == Some(version));
    let now = now_rfc3339();
    let record = HistoryRecord {
        id: 0,
        version: Some(version.as_str().to_string()),
        name: migration.map_or_else(|| "baseline".to_string(), |m| m.name.clone()),
        kind: RecordKind::Baseline,
        direction: Direction::Up,
        state: State::Baselined,
        script: migration.map_or_else(String::new, |m| relative_path(set, &m.up.path)),
        checksum: migration.map_or_else(String::new, |m| m.checksum.as_str().to_string()),
        transactional: true,
        statements_total: 0,
        statements_done: 0,
        prefix_checksum: None,
        started_at: now.clone(),
        finished_at: Some(now),
        duration_ms: Some(0),
        error_message: None,
        error_sqlstate: None,
        error_statement: None,
        error_location: None,
        installed_by: String::new(),
        runner: runner_identity(),
        tool_version: TOOL_VERSION.to_string(),
    };
    let timeouts = timeouts(ctx.settings, &ScriptSettings::default());
    ctx.target
        .transaction(timeouts, &mut |session| session.append_history(&record))
        .map_err(|e| Error::database("cannot record the baseline", e))
}

/// A version a command names must be a migration's: a typo must not select "everything older"
/// or "everything newer". The error names the nearest versions there are.
fn check_version_exists(set: &MigrationSet, version: &Version, command: &str) -> Result<(), Error> {
    let versions: Vec<&Version> = set.migrations.iter().filter_map(|m| m.version.as_ref()).collect();
    if versions.contains(&version) {
        return Ok(());
    }
    let below = versions.iter().filter(|v| **v < version).max();
    let above = versions.iter().filter(|v| **v > version).min();
    let nearest = match (below, above) {
        (Some(b), Some(a)) => format!("the nearest are {b} and {a}"),
        (Some(v), None) | (None, Some(v)) => format!("the nearest is {v}"),
        (None, None) => "the folder has no versioned migrations".to_string(),
    };
    Err(Error::BadTarget(format!(
        "`{command} {version}`: no migration has version {version} ({nearest}); nothing was done. `cutover status` lists the versions"
    )))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

const TAMPER_ADVICE: &str = "an applied migration is history: restore its file exactly as it was applied and put the change in a new migration; `cutover validate` lists every difference";

pub(crate) fn read_history_if_any(ctx: &mut Context<'_>) -> Result<Vec<HistoryRecord>, Error> {
    let exists = ctx.target.history_exists().map_err(|e| Error::database("cannot read the history", e))?;
    if !exists {
        return Ok(Vec::new());
    }
    ctx.target.read_history().map_err(|e| Error::database("cannot read the history", e))
}

/// What the history lost or had rewritten behind cutover's back, as the engine's guard tells.
fn guard_damage(
    ctx: &mut Context<'_>,
    set: &MigrationSet,
    history: &[HistoryRecord],
) -> Result<Option<crate::integrity::Damage>, Error> {
    let guard = ctx.target.read_history_guard().map_err(|e| Error::database("cannot read the history's guard", e))?;
    Ok(guard.and_then(|guard| crate::integrity::damage(&guard, history, set.layout)))
}

/// Refuses to run on a history that lost rows: every migration would look pending again.
fn refuse_damaged(ctx: &mut Context<'_>, set: &MigrationSet, history: &[HistoryRecord]) -> Result<(), Error> {
    match guard_damage(ctx, set, history)? {
        Some(damage) => Err(Error::Refused(crate::integrity::refusal(&damage, &ctx.settings.history_table))),
        None => Ok(()),
    }
}

pub(crate) fn acquire_lock(ctx: &mut Context<'_>) -> Result<cutover_engine::LockGuard, Error> {
    let started = Instant::now();
    let owner = format!("cutover {TOOL_VERSION} {} since {}", runner_identity(), now_rfc3339());
    let reporter = &mut *ctx.reporter;
    ctx.target
        .acquire_runner_lock(&owner, ctx.settings.runner_lock_wait, &mut |holder| {
            reporter.report(Event::WaitingForLock { holder, waited: started.elapsed() });
        })
        .map_err(|e| Error::database("cannot take the migration lock", e))
}

fn tamper_problems(set: &MigrationSet, statuses: &[MigrationStatus]) -> Vec<String> {
    let mut problems = Vec::new();
    for status in statuses {
        let label = status.label();
        let applied_at = status.applied_at.as_deref().unwrap_or("an unknown time");
        match status.state {
            MigrationState::Modified => {
                let path = migration_of(set, status).map(|m| m.up.path.display().to_string()).unwrap_or_default();
                let recorded = status.latest.as_ref().map_or("", |r| r.checksum.as_str());
                problems.push(format!(
                    "`{path}` ({label}) was edited after it was applied at {applied_at}: checksum {} now, {} when applied",
                    short(&status.checksum),
                    short(recorded)
                ));
            }
            MigrationState::Missing => {
                let script = status.latest.as_ref().map_or("", |r| r.script.as_str());
                problems.push(format!("{label} was applied at {applied_at}, but its file `{script}` is gone"));
            }
            _ => {}
        }
    }
    problems
}

fn short(checksum: &str) -> &str {
    &checksum[..checksum.len().min(12)]
}

pub(crate) type PlanStep<'a> = (&'a Migration, Option<&'a HistoryRecord>);

/// The migrations `up` applies, in order, or why it refuses.
pub(crate) fn plan_up<'a>(
    set: &'a MigrationSet,
    statuses: &'a [MigrationStatus],
    options: &UpOptions,
) -> Result<Vec<PlanStep<'a>>, Error> {
    let mut problems = tamper_problems(set, statuses);
    let mut advice = vec![];
    if !problems.is_empty() {
        advice.push(TAMPER_ADVICE.to_string());
    }
    let out_of_order: Vec<String> = statuses
        .iter()
        .filter(|s| s.state == MigrationState::Pending && s.out_of_order)
        .map(|s| {
            format!("{} is older than the newest applied migration and was never applied (out of order)", s.label())
        })
        .collect();
    if !out_of_order.is_empty() && !options.allow_out_of_order {
        problems.extend(out_of_order);
        advice.push("check that they do not depend on newer migrations, then apply them with `cutover up --allow-out-of-order` (or give them newer versions)".to_string());
    }
    for status in statuses {
        let half_reverted = matches!(
            (status.state, &status.latest),
            (MigrationState::Failed | MigrationState::Running, Some(r)) if r.direction == Direction::Down && !r.transactional && r.statements_done > 0
        );
        if half_reverted {
            problems.push(format!("{} stopped half-way through its down script", status.label()));
            advice.push("finish reverting it with `cutover down` before applying anything".to_string());
        }
    }
    if !problems.is_empty() {
        return Err(Error::Refused(Refusal { problems, advice: advice.join("; ") }));
    }

    let mut plan = Vec::new();
    for status in statuses {
        let Some(migration) = migration_of(set, status) else {
            continue;
        };
        let wanted = match (&migration.version, &options.to) {
            (Some(version), Some(to)) => version <= to,
            (Some(_), None) => true,
            // Repeatable migrations run after all versioned ones, so not with --to.
            (None, to) => to.is_none(),
        };
        let pending = matches!(
            status.state,
            MigrationState::Pending | MigrationState::Failed | MigrationState::Reverted | MigrationState::Running
        );
        if wanted && pending {
            plan.push((migration, status.latest.as_ref()));
        }
    }
    // A declarative migration is applied in phases, with old and new code running between
    // them: `up` applies what comes before the first one and stops there.
    if let Some(at) = plan.iter().position(|(m, _)| m.kind == cutover_migration::MigrationKind::Declarative) {
        plan.truncate(at);
    }
    Ok(plan)
}

pub(crate) fn timeouts(settings: &Settings, script: &ScriptSettings) -> Timeouts {
    Timeouts {
        lock_timeout: script.lock_timeout.unwrap_or(settings.lock_timeout),
        statement_timeout: script.statement_timeout.unwrap_or(settings.statement_timeout),
    }
}

/// The attempt at one script, and the history rows it writes.
struct Attempt<'a> {
    script: &'a Script,
    started: Instant,
    base: HistoryRecord,
}

impl Attempt<'_> {
    fn record(&self, state: State, statements_done: usize) -> HistoryRecord {
        let mut record = self.base.clone();
        record.state = state;
        record.statements_done = statements_done as i64;
        record.prefix_checksum = (statements_done > 0).then(|| {
            Checksum::of_statements(self.script.statements[..statements_done].iter().map(|s| s.sql.as_str()))
                .as_str()
                .to_string()
        });
        if state != State::Running {
            record.finished_at = Some(now_rfc3339());
            record.duration_ms = Some(self.started.elapsed().as_millis() as i64);
        }
        record
    }

    fn failed_record(&self, statements_done: usize, error: &DbError, failed: Option<&Statement>) -> HistoryRecord {
        let mut record = self.record(State::Failed, statements_done);
        record.error_message = Some(error.to_string());
        record.error_sqlstate = error.code.clone();
        record.error_statement = failed.map(|s| s.sql.clone());
        record.error_location = failed.map(|s| error_location(self.script, s, error));
        record
    }
}

/// `file:line` of the error: the statement's line, moved down to the error's position when
/// the database reports one.
fn error_location(script: &Script, statement: &Statement, error: &DbError) -> String {
    let mut line = statement.line;
    if let Some(position) = error.position {
        line += statement.sql.chars().take(position.saturating_sub(1)).filter(|&c| c == '\n').count();
    }
    format!("{}:{line}", script.path.display())
}

fn run_script(
    ctx: &mut Context<'_>,
    set: &MigrationSet,
    migration: &Migration,
    direction: Direction,
    latest: Option<&HistoryRecord>,
    up_front_locks: &[(String, &'static str)],
) -> Result<(), Error> {
    let script = match direction {
        Direction::Up => &migration.up,
        Direction::Down => migration.down.as_ref().expect("down scripts are checked before running"),
    };
    let started_at = now_rfc3339();
    let attempt = Attempt {
        script,
        started: Instant::now(),
        base: HistoryRecord {
            id: 0,
            version: migration.version.as_ref().map(|v| v.as_str().to_string()),
            name: migration.name.clone(),
            kind: match migration.kind {
                cutover_migration::MigrationKind::Versioned | cutover_migration::MigrationKind::Declarative => {
                    RecordKind::Versioned
                }
                cutover_migration::MigrationKind::Repeatable => RecordKind::Repeatable,
            },
            direction,
            state: State::Running,
            script: relative_path(set, &script.path),
            checksum: migration.checksum.as_str().to_string(),
            transactional: script.settings.transaction && ctx.target.transactional_ddl(),
            statements_total: script.statements.len() as i64,
            statements_done: 0,
            prefix_checksum: None,
            started_at,
            finished_at: None,
            duration_ms: None,
            error_message: None,
            error_sqlstate: None,
            error_statement: None,
            error_location: None,
            installed_by: String::new(),
            runner: runner_identity(),
            tool_version: TOOL_VERSION.to_string(),
        },
    };
    let res = if script.settings.transaction && ctx.target.transactional_ddl() {
        ctx.reporter.report(Event::Starting { migration, direction, resume_at: 0 });
        run_in_transaction(ctx, migration, &attempt, up_front_locks)
    } else {
        run_statement_by_statement(ctx, migration, &attempt, latest)
    };
    res?;
    ctx.reporter.report(Event::Finished { migration, direction, duration: attempt.started.elapsed() });
    Ok(())
}

fn final_state(direction: Direction) -> State {
    match direction {
        Direction::Up => State::Applied,
        Direction::Down => State::Reverted,
    }
}

/// The whole script and its history row in one transaction, retried on lock timeouts. With
/// `up_front_locks`, every lock the script takes is taken first, all within one lock timeout.
fn run_in_transaction(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    up_front_locks: &[(String, &'static str)],
) -> Result<(), Error> {
    let script = attempt.script;
    let timeouts = timeouts(ctx.settings, &script.settings);
    let n_statements = script.statements.len();
    let done = attempt.record(final_state(attempt.base.direction), n_statements);
    let policy = ctx.settings.retry_policy();
    let tries = policy.tries.get();
    let mut failed_idx = None;
    let target = &mut *ctx.target;
    let reporter = &mut *ctx.reporter;
    let res = retry(
        policy,
        DbError::is_lock_contention,
        |attempt_no, delay, error| {
            reporter.report(Event::Retrying { migration, attempt: attempt_no, tries, delay, error })
        },
        |_| {
            failed_idx = None;
            target.transaction(timeouts, &mut |session| {
                if !up_front_locks.is_empty() {
                    session.lock_up_front(up_front_locks, timeouts.lock_timeout)?;
                }
                for (idx, statement) in script.statements.iter().enumerate() {
                    session.execute(&statement.sql).inspect_err(|_| failed_idx = Some(idx))?;
                }
                session.append_history(&done)
            })
        },
    );
    res.map_err(|Exhausted { error, tries }| {
        let failed = failed_idx.map(|idx| &script.statements[idx]);
        record_failure(ctx, migration, attempt, 0, error, failed, tries)
    })
}

/// A no-transaction script: each statement runs on its own and its progress is recorded, so a
/// rerun resumes at the first statement not recorded as done.
fn run_statement_by_statement(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    latest: Option<&HistoryRecord>,
) -> Result<(), Error> {
    let script = attempt.script;
    let direction = attempt.base.direction;
    let timeouts = timeouts(ctx.settings, &script.settings);
    let mut start_idx = 0;
    // The last runner died (its row says running, not failed) while running the statement
    // after the last one recorded, which may have finished: see below.
    let died_mid_statement = latest.is_some_and(|r| r.state == State::Running && r.direction == direction);
    if let Some(previous) = resume_point(latest, direction) {
        let done = previous.statements_done as usize;
        let unchanged = done <= script.statements.len()
            && previous.prefix_checksum.as_deref()
                == Some(Checksum::of_statements(script.statements[..done].iter().map(|s| s.sql.as_str())).as_str());
        if !unchanged {
            return Err(Error::Refused(Refusal {
                problems: vec![format!(
                    "{}: statements 1 to {done} were applied by an earlier attempt, and have been edited since",
                    migration.label()
                )],
                advice: format!(
                    "restore the first {done} statements of `{}` as they were applied, and change only the statements after them",
                    script.path.display()
                ),
            }));
        }
        start_idx = done;
    }
    ctx.reporter.report(Event::Starting { migration, direction, resume_at: start_idx });
    if let Some(statement) = script.statements.get(start_idx).filter(|_| died_mid_statement) {
        wait_for_killed_runners_statement(ctx, migration, attempt, start_idx, statement)?;
    }
    let running = attempt.record(State::Running, start_idx);
    ctx.target
        .autocommit(timeouts, &mut |session| session.append_history(&running))
        .map_err(|e| Error::database(format!("cannot record the start of {}", migration.label()), e))?;

    let policy = ctx.settings.retry_policy();
    let tries = policy.tries.get();
    for (idx, statement) in script.statements.iter().enumerate().skip(start_idx) {
        let progress = attempt.record(State::Running, idx + 1);
        let in_transaction = ctx.target.allowed_in_transaction(&statement.sql);
        // A DDL statement commits before its progress row can (outside a transaction, or on
        // MySQL at all): a runner killed between the two left it done but unrecorded. Run
        // again, it says what it creates exists (or what it drops is gone): the state it was
        // to reach holds, so it counts as done. Only for that one statement, and only after a
        // runner died: a recorded failure is never skipped.
        let unrecorded_window = !in_transaction || !ctx.target.transactional_ddl();
        let may_be_done = died_mid_statement && idx == start_idx && unrecorded_window;
        let target = &mut *ctx.target;
        // Both the retry notice and the attempt report events.
        let reporter = std::cell::RefCell::new(&mut *ctx.reporter);
        let res = retry(
            policy,
            DbError::is_lock_contention,
            |attempt_no, delay, error| {
                reporter.borrow_mut().report(Event::Retrying { migration, attempt: attempt_no, tries, delay, error });
            },
            |_| {
                if !in_transaction {
                    if let Some(what) = target.clear_leftovers(&statement.sql)? {
                        reporter.borrow_mut().report(Event::Cleared { migration, what: &what });
                    }
                }
                let res = if in_transaction {
                    // The statement and its progress row commit together: exactly once, even
                    // if the process dies right after.
                    target.transaction(timeouts, &mut |session| {
                        session.execute(&statement.sql)?;
                        session.append_history(&progress)
                    })
                } else {
                    target.autocommit(timeouts, &mut |session| session.execute(&statement.sql)).and_then(|()| {
                        // Done means verified: a concurrent build that "succeeded" may have built nothing.
                        if let Some(what) = target.check_done(&statement.sql)? {
                            reporter.borrow_mut().report(Event::Cleared { migration, what: &what });
                        }
                        target.autocommit(timeouts, &mut |session| session.append_history(&progress))
                    })
                };
                match res {
                    Err(error) if error.kind == DbErrorKind::AlreadyDone && may_be_done => {
                        reporter.borrow_mut().report(Event::AlreadyDone {
                            migration,
                            statement: idx + 1,
                            error: &error,
                        });
                        target.autocommit(timeouts, &mut |session| session.append_history(&progress))
                    }
                    other => other,
                }
            },
        );
        if let Err(Exhausted { error, tries }) = res {
            // Waiting for a lock (or losing the connection) says nothing about whether the
            // killed runner's run of this statement finished: a `failed` row would make the
            // next run treat "already exists" as a failure for good. The row stays `running`.
            let undecided = error.is_lock_contention() || error.kind == DbErrorKind::Connection;
            if may_be_done && undecided {
                return Err(record_undecided(ctx, migration, attempt, idx, error, statement, tries));
            }
            return Err(record_failure(ctx, migration, attempt, idx, error, Some(statement), tries));
        }
    }
    let done = attempt.record(final_state(direction), script.statements.len());
    ctx.target
        .autocommit(timeouts, &mut |session| session.append_history(&done))
        .map_err(|e| Error::database(format!("cannot record the end of {}", migration.label()), e))
}

/// Waits while the statement a killed runner was running still runs on the server (MySQL
/// finishes a statement whose client died): run again now, it would wait for that one's locks
/// and fail. Once it has ended, running it again tells whether its work is there
/// (`DbErrorKind::AlreadyDone`). Waits at most the runner lock wait, then refuses, recording
/// nothing.
fn wait_for_killed_runners_statement(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    idx: usize,
    statement: &Statement,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let running = ctx
            .target
            .still_running(&statement.sql)
            .map_err(|e| Error::database("cannot look for the statement the killed runner was running", e))?;
        let Some(running) = running else { return Ok(()) };
        let waited = started.elapsed();
        if waited >= ctx.settings.runner_lock_wait {
            return Err(Error::Refused(Refusal {
                problems: vec![format!(
                    "{}: statement {} ({}), which an earlier runner was running when it was killed, still runs on the server after {}s: {}, running for {}s",
                    migration.label(),
                    idx + 1,
                    attempt.script.location(statement),
                    waited.as_secs(),
                    running.description,
                    running.running_for.as_secs()
                )],
                advice: format!(
                    "nothing was recorded as failed: wait for it to end and run `cutover {}` again (its work then counts as done), or stop it with `{}` (the server rolls it back and the rerun runs it again); a longer runner_lock_wait waits for it",
                    attempt.base.direction.name(),
                    running.stop_with
                ),
            }));
        }
        ctx.reporter.report(Event::StillRunning { migration, statement: idx + 1, running: &running, waited });
        std::thread::sleep(Duration::from_millis(250) + jitter(Duration::from_millis(250)));
    }
}

/// Appends a `running` row (the statement's outcome is unknown) with the error, and builds it.
fn record_undecided(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    statements_done: usize,
    error: DbError,
    statement: &Statement,
    attempts: u32,
) -> Error {
    let mut record = attempt.failed_record(statements_done, &error, Some(statement));
    record.state = State::Running;
    let timeouts = timeouts(ctx.settings, &attempt.script.settings);
    let record_error = ctx.target.autocommit(timeouts, &mut |session| session.append_history(&record)).err();
    Error::MigrationFailed(Box::new(MigrationFailure {
        label: migration.label(),
        direction: attempt.base.direction,
        location: record.error_location.clone(),
        statement: record.error_statement.clone(),
        error,
        attempts,
        transactional: false,
        statements_done,
        statements_total: attempt.script.statements.len(),
        record_error,
        maybe_done: true,
        lock_advice: ctx.target.lock_wait_advice(),
    }))
}

/// Appends the failed row (in its own transaction: the migration's was rolled back) and builds
/// the error.
fn record_failure(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    statements_done: usize,
    error: DbError,
    failed: Option<&Statement>,
    attempts: u32,
) -> Error {
    let record = attempt.failed_record(statements_done, &error, failed);
    let timeouts = timeouts(ctx.settings, &attempt.script.settings);
    let record_error = ctx.target.autocommit(timeouts, &mut |session| session.append_history(&record)).err();
    Error::MigrationFailed(Box::new(MigrationFailure {
        label: migration.label(),
        direction: attempt.base.direction,
        location: record.error_location.clone(),
        statement: record.error_statement.clone(),
        error,
        attempts,
        transactional: attempt.base.transactional,
        statements_done,
        statements_total: attempt.script.statements.len(),
        record_error,
        maybe_done: false,
        lock_advice: ctx.target.lock_wait_advice(),
    }))
}

pub(crate) fn relative_path(set: &MigrationSet, path: &Path) -> String {
    path.strip_prefix(&set.dir).unwrap_or(path).display().to_string()
}

/// `user@host pid N`: who ran a migration, for the history and the lock holder.
pub fn runner_identity() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
        .or_else(user_of_process)
        .unwrap_or_else(|| "unknown".to_string());
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{user}@{host} pid {}", std::process::id())
}

/// The login name of this process's user, from `/etc/passwd`, where the environment does not
/// say (cron, CI and containers often leave `$USER` unset).
fn user_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid_field = fields.nth(1)?;
        (uid_field.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// The current time, RFC 3339 in UTC with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
