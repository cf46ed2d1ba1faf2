//! The commands, written once for every engine: lock, ensure the history, refuse on a tampered
//! or damaged history, pass the approval gate, apply or revert in order through the executor.

use std::time::{Duration, Instant, SystemTime};

use cutover_engine::{Direction, Engine, HistoryRecord, RecordKind, State};
use cutover_migration::{Migration, MigrationSet, ScriptSettings, Version};

use crate::context::{acquire_lock, read_history_if_any, timeouts, Context};
use crate::error::Refusal;
use crate::executor::run_script;
use crate::identity::{now_rfc3339, relative_path, runner_identity, TOOL_VERSION};
use crate::select::{
    check_version_exists, next_declarative, plan_up, plural, tamper_problems, DownTarget, UpOptions, TAMPER_ADVICE,
};
use crate::status::{compute_status, migration_of, resume_point, stopped_part_way, MigrationState, MigrationStatus};
use crate::{Error, Event};

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
    let invalid = ctx.target.invalid_indexes().map_err(|e| Error::database("cannot look for INVALID indexes", e))?;
    problems.extend(invalid.iter().map(|index| {
        format!(
            "index {index} is INVALID (a concurrent build or drop stopped part-way, or one runs now): queries do not use it; run again the migration that builds or drops it, or `REINDEX INDEX CONCURRENTLY {index}`"
        )
    }));
    for status in &statuses {
        let label = status.label();
        match status.state {
            // A down script's attempt is finished by `down` (tester 21: `up`, named here,
            // refuses it).
            MigrationState::Failed => {
                let error = status.latest.as_ref().and_then(|r| r.error_message.clone()).unwrap_or_default();
                let location = status.latest.as_ref().and_then(|r| r.error_location.clone()).unwrap_or_default();
                match status.latest.as_ref().filter(|r| r.direction == Direction::Down) {
                    Some(r) => problems.push(format!(
                        "{label}'s down script failed at {location} after {} of its statements: {error}; fix it and run `cutover down` to finish reverting it",
                        r.statements_done
                    )),
                    None => problems.push(format!("{label} failed at {location}: {error}")),
                }
            }
            MigrationState::Running => {
                let (done, down) =
                    status.latest.as_ref().map_or((0, false), |r| (r.statements_done, r.direction == Direction::Down));
                problems.push(match down {
                    true => format!("{label}'s down script was interrupted (or is running now) after {done} of its statements; `cutover down` finishes reverting it"),
                    false => format!("{label} was interrupted (or is running now) after {done} of its statements; `cutover up` resumes it"),
                })
            }
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
    let resolved;
    let options = match &options.to {
        Some(to) => {
            resolved = UpOptions { to: Some(check_version_exists(set, to, "up --to")?), ..options.clone() };
            &resolved
        }
        None => options,
    };
    if options.dry_run {
        let history = read_history_if_any(ctx)?;
        refuse_damaged(ctx, set, &history)?;
        let statuses = compute_status(set, &history);
        let plan = plan_up(set, &statuses, options)?;
        refuse_unexplained(ctx, set, &history, &plan)?;
        refuse_mixed(plan.iter().map(|(m, _)| &m.up))?;
        refuse_templates(&plan)?;
        // A dry run records no approval: nothing runs.
        approval_gate(ctx, set, &plan, options)?;
        let mut summary = RunSummary::default();
        for (migration, latest) in plan {
            let resume_at = resume_point(latest, Direction::Up).map_or(0, |r| r.statements_done as usize);
            let transactional = migration.up.settings.transaction && ctx.target.transactional_ddl();
            crate::executor::refuse_rerun_in_a_transaction(
                migration,
                &migration.up,
                latest,
                Direction::Up,
                transactional,
            )?;
            ctx.reporter.report(Event::WouldRun {
                migration,
                direction: Direction::Up,
                script: &migration.up,
                resume_at,
                transactional,
            });
            summary.migrations.push(migration.label());
        }
        summary.stopped_at_declarative = next_declarative(set, &statuses, options).map(|m| m.label());
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
    refuse_unexplained(ctx, set, &history, &plan)?;
    refuse_mixed(plan.iter().map(|(m, _)| &m.up))?;
    refuse_templates(&plan)?;
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
    summary.stopped_at_declarative = next_declarative(set, &statuses, options).map(|m| m.label());
    summary.duration = started.elapsed();
    Ok(summary)
}

/// Refuses, before anything runs, a script that mixes statements PostgreSQL refuses in a
/// transaction block with others: it would fail half-way either way it ran.
fn refuse_mixed<'a>(scripts: impl Iterator<Item = &'a cutover_migration::Script>) -> Result<(), Error> {
    for script in scripts {
        if let Some(err) = cutover_migration::mixed_transaction(script) {
            return Err(Error::Migrations(err));
        }
    }
    Ok(())
}

/// Refuses to apply an up script that is still the template `cutover new` wrote (tester 18:
/// applied and recorded as it was, the change written into it afterwards was refused as an
/// edit of an applied migration).
fn refuse_templates(plan: &[crate::select::PlanStep<'_>]) -> Result<(), Error> {
    let problems: Vec<String> = plan
        .iter()
        .filter(|(migration, _)| cutover_migration::is_untouched_template(&migration.up))
        .map(|(migration, _)| {
            format!(
                "{} ({}) is still the template `cutover new` wrote: it holds no statement",
                migration.label(),
                migration.up.path.display()
            )
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Refused(Refusal {
        problems,
        advice: "nothing was applied: write the change into it (or delete it if the migration is not wanted), then run `cutover up` again".to_string(),
    }))
}

/// Refuses to apply the first migrations onto a database that already has what they create
/// while the history is empty: the history was lost (dropped with its guard, or the database
/// restored without it), or the database was migrated by other means. Applying would run
/// everything again.
fn refuse_unexplained(
    ctx: &mut Context<'_>,
    set: &MigrationSet,
    history: &[HistoryRecord],
    plan: &[crate::select::PlanStep<'_>],
) -> Result<(), Error> {
    if !history.is_empty() {
        return Ok(());
    }
    let config = cutover_analysis::LintConfig { dialect: crate::dialect_of(ctx.target.engine()), ..Default::default() };
    // The tables each migration to apply creates: any of them there already says the database
    // was migrated before, not only the first migration's (tester 18: a database made by hand
    // with the second migration's table had the first applied, then a failure on the second
    // that told the user to fix the script).
    let creates: Vec<(&Migration, Vec<String>)> = plan
        .iter()
        .map(|(migration, _)| {
            if let Some(reviewed) = &ctx.settings.reviewed {
                return (*migration, reviewed.creates(migration).unwrap_or_default().to_vec());
            }
            let analyzed = cutover_analysis::analyze(&migration.up.statements, &config);
            (*migration, tables_made(analyzed.effects().flatten()))
        })
        .collect();
    let all: Vec<String> = creates.iter().flat_map(|(_, created)| created.iter().cloned()).collect();
    if all.is_empty() {
        return Ok(());
    }
    let present_anywhere =
        ctx.target.tables_present(&all).map_err(|e| Error::database("cannot look for existing tables", e))?;
    // The first migration (in the order they would run) whose tables are there.
    let Some((migration, present)) = creates.iter().find_map(|(migration, created)| {
        let present: Vec<&String> = created.iter().filter(|t| present_anywhere.contains(t)).collect();
        (!present.is_empty()).then_some((*migration, present))
    }) else {
        return Ok(());
    };
    let newest =
        set.migrations.iter().rev().find_map(|m| m.version.as_ref()).map_or("V".to_string(), |v| v.to_string());
    Err(Error::Refused(Refusal {
        problems: vec![format!(
            "the history `{}` is empty, but the database already has {}, which {} makes: it was migrated before, and its history is gone",
            ctx.settings.history_table,
            present.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
            migration.label()
        )],
        advice: match crate::adopt::Tool::of_layout(set.layout) {
            // The folder's own tool keeps a history cutover can check: better than a version.
            Some(tool) => format!(
                "if {tool} migrated it, take over its history with `cutover adopt --from {tool}` (it checks what {tool} recorded against the files); else restore the history table from a backup, or adopt the database as it is with `cutover baseline VERSION` (`{newest}` is the newest in the folder)"
            ),
            None => format!(
                "restore the history table from a backup, or adopt the database as it is with `cutover baseline VERSION` (the newest migration it already has; `{newest}` is the newest in the folder)"
            ),
        },
    }))
}

/// The tables a migration makes that a database it never ran on cannot have: made
/// ([`cutover_analysis::Action::table_made`]) under a name no earlier statement of it vacated
/// (renamed away or dropped: what had that name is the database's own, tester 21's `events`
/// renamed to `events_old` and made again was taken for a lost history).
pub(crate) fn tables_made<'a>(effects: impl IntoIterator<Item = &'a cutover_analysis::Effect>) -> Vec<String> {
    let mut vacated: Vec<&str> = Vec::new();
    let mut made = Vec::new();
    for effect in effects {
        match &effect.action {
            cutover_analysis::Action::DropTable { tables, .. } => vacated.extend(tables.iter().map(String::as_str)),
            cutover_analysis::Action::Rename { object: "table", table, .. } => vacated.push(table),
            _ => {}
        }
        if let Some(table) = effect.action.table_made().filter(|t| !vacated.contains(&t.as_str())) {
            made.push(table);
        }
    }
    made
}

/// Refuses to baseline a database that has none of the tables the migrations up to `version`
/// leave: it was not migrated to that version (tester 18: a mistyped SQLite path made an empty
/// file, baselined as if it had the schema). Some present, some not, is drift for `cutover
/// drift` to show, not a reason to refuse.
fn refuse_baseline_of_an_unmigrated_database(
    ctx: &mut Context<'_>,
    set: &MigrationSet,
    version: &Version,
) -> Result<(), Error> {
    let config = cutover_analysis::LintConfig { dialect: crate::dialect_of(ctx.target.engine()), ..Default::default() };
    let mut tables: Vec<String> = Vec::new();
    for migration in set.migrations.iter().filter(|m| m.version.as_ref().is_some_and(|v| v <= version)) {
        let analyzed = cutover_analysis::analyze(&migration.up.statements, &config);
        for effect in analyzed.effects().flatten() {
            match &effect.action {
                cutover_analysis::Action::DropTable { tables: dropped, .. } => tables.retain(|t| !dropped.contains(t)),
                cutover_analysis::Action::Rename { object: "table", table, .. } => tables.retain(|t| t != table),
                _ => {}
            }
            if let Some(table) = effect.action.table_made().filter(|t| !tables.contains(t)) {
                tables.push(table);
            }
        }
    }
    if tables.is_empty() {
        return Ok(());
    }
    let present =
        ctx.target.tables_present(&tables).map_err(|e| Error::database("cannot look for existing tables", e))?;
    if !present.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = tables.iter().take(5).map(|t| format!("`{t}`")).collect();
    let more = if tables.len() > 5 { format!(" and {} more", tables.len() - 5) } else { String::new() };
    Err(Error::Refused(Refusal {
        problems: vec![format!(
            "the database has none of the tables the migrations up to {version} leave ({}{more}): it was not migrated to {version}",
            shown.join(", ")
        )],
        advice: format!(
            "nothing was recorded: check that the database URL names the database meant; an empty database is migrated with `cutover up` (`cutover up --to {version}` for those migrations)"
        ),
    }))
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
    ctx: &mut Context<'_>,
    set: &MigrationSet,
    plan: &[(&Migration, Option<&HistoryRecord>)],
    options: &UpOptions,
) -> Result<GateOutcome, Error> {
    if plan.is_empty() {
        return Ok(GateOutcome::default());
    }
    // cutover runs them, whoever `[lint] assume_runner` says runs them for `cutover lint`.
    let mut config = crate::lint::run_by_cutover(&ctx.settings.lint);
    // The live server is the truth about which dialect and version's behaviour apply. SQLite,
    // the embedded default for local work, is not gated on findings; its maintenance windows,
    // when configured, hold as anywhere.
    let server = ctx.target.server_version();
    let engine = ctx.target.engine();
    if engine == Engine::Sqlite && ctx.settings.windows.is_empty() {
        return Ok(GateOutcome::default());
    }
    let gated = engine != Engine::Sqlite;
    crate::lint::judge_as_server(&mut config, engine, &server);
    let pending: Vec<&Migration> = plan.iter().map(|(migration, _)| *migration).collect();
    let mut review = match &ctx.settings.reviewed {
        // Judged ahead, where the analysis is built: only for these files, this dialect and
        // server.
        Some(reviewed) => {
            if let Err(problem) = reviewed.check(set, config.dialect, &server) {
                return Err(Error::Refused(Refusal {
                    problems: vec![problem],
                    advice: "nothing was applied; the review must be of the migrations that run".to_string(),
                }));
            }
            reviewed.gate_review(&pending, options.allow_unsafe)
        }
        None => {
            // The pending migrations are judged on the schema they are about to change, where
            // the engine can read it: tables made outside the folder are known, with their
            // sizes.
            let live = match ctx.target.catalog() {
                Some(catalog) if gated => {
                    Some(catalog.live_schema().map_err(|e| Error::database("cannot read the live schema", e))?)
                }
                _ => None,
            };
            crate::gate::review(set, &pending, &config, live.as_ref(), options.allow_unsafe)
        }
    };
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
                        how: cutover_engine::ApprovalKind::OutsideWindow,
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
    // A statement the database refuses (it does not parse, or cannot run where it stands) fails
    // whatever is accepted: offering --allow-unsafe for it helps nobody.
    let fails = |finding: &String| {
        cutover_analysis::rules::FAILS_ON_THE_DATABASE.iter().any(|rule| finding.contains(&format!("error[{rule}]")))
    };
    let failing = review.unsafe_findings.iter().filter(|f| fails(f)).count();
    let advice = if failing == review.unsafe_findings.len() {
        "fix the SQL at the line shown as its finding says: the database would refuse it as it stands, so accepting it would only make the migration fail".to_string()
    } else {
        let also = if failing > 0 { "; fix the statements the database would refuse as they stand" } else { "" };
        format!("make each statement safe (`cutover explain RULE` says how), or accept it with `-- cutover:ignore RULE reason=\"...\"` on the line before it, or run with --allow-unsafe{also}")
    };
    Err(Error::Refused(Refusal { problems: review.unsafe_findings, advice }))
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
    let resolved;
    let target = match target {
        DownTarget::To(to) => {
            resolved = DownTarget::To(check_version_exists(set, to, "down --to")?);
            &resolved
        }
        other => other,
    };
    match target {
        DownTarget::To(_) => {}
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
        // Nothing applied, nothing to revert: not a mistake, whatever the count.
        DownTarget::Steps(_) if revertible.is_empty() => Vec::new(),
        DownTarget::Steps(n) if *n > revertible.len() => {
            // A part-way migration above them says so first: "use --steps N" would be refused
            // too (tester 19).
            refuse_below_partly_applied(set, &statuses, &revertible, target)?;
            return Err(Error::BadTarget(format!(
                "`down --steps {n}`: only {} applied to revert; nothing was reverted. Use `--steps {}`, or `--all` to revert every applied migration",
                plural(revertible.len(), "migration is", "migrations are"),
                revertible.len(),
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
    refuse_below_partly_applied(set, &statuses, &selected, target)?;
    // Check every down script exists before reverting anything.
    let mut plan = Vec::new();
    let mut problems = Vec::new();
    let mut scripts_missing = false;
    for status in selected {
        let Some(migration) = migration_of(set, status) else {
            continue;
        };
        match &migration.down {
            // Reverted by nothing, it would be recorded reverted with its changes in place
            // (tester 19).
            Some(script) if cutover_migration::is_untouched_template(script) => {
                scripts_missing = true;
                problems.push(format!(
                    "{}: its down script ({}) is still the template `cutover new` wrote: it holds no statement",
                    migration.label(),
                    script.path.display()
                ))
            }
            Some(script) => plan.push((migration, script, status.latest.as_ref())),
            // No script can undo it: the advice for missing scripts would mislead.
            None if migration.kind == cutover_migration::MigrationKind::Declarative => problems.push(format!(
                "{} is declarative (expand/contract) and completed: the old version's columns and views are gone, so no script can bring them back in place; write the reverse as a new declarative migration (the opposite operations: `rename_column` back, `drop_column` of an added one, `change_type` with `up` and `down` swapped) and run it with `cutover start` and `cutover complete`",
                migration.label()
            )),
            None => {
                scripts_missing = true;
                problems.push(format!("{} has no down script", migration.label()));
            }
        }
    }
    refuse_mixed(plan.iter().map(|(_, script, _)| *script))?;
    if !problems.is_empty() {
        let advice = if !scripts_missing {
            "revert fewer migrations with --steps or --to (a declarative migration not yet completed is undone by `cutover rollback`)".to_string()
        } else {
            format!(
                "write the missing down scripts ({} layout), or revert fewer migrations with --steps or --to; nothing was reverted",
                set.layout
            )
        };
        return Err(Error::Refused(Refusal { problems, advice }));
    }
    let mut summary = RunSummary::default();
    for (migration, script, latest) in plan {
        if dry_run {
            let resume_at = resume_point(latest, Direction::Down).map_or(0, |r| r.statements_done as usize);
            let transactional = script.settings.transaction && ctx.target.transactional_ddl();
            crate::executor::refuse_rerun_in_a_transaction(migration, script, latest, Direction::Down, transactional)?;
            ctx.reporter.report(Event::WouldRun {
                migration,
                direction: Direction::Down,
                script,
                resume_at,
                transactional,
            });
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

/// Refuses a `down` that would revert migrations below one that stopped part-way up (a run
/// outside a transaction that failed or was killed after some statements): its down script
/// undoes the whole of it, not the part that ran, and what ran would be left on a schema it was
/// not made for (tester 18: the table under it dropped with its rows, then made again without
/// the column the part made, and the history saying all was applied).
fn refuse_below_partly_applied(
    set: &MigrationSet,
    statuses: &[MigrationStatus],
    selected: &[&MigrationStatus],
    target: &DownTarget,
) -> Result<(), Error> {
    let lowest = selected.iter().filter_map(|s| s.version.as_ref()).min();
    let problems: Vec<String> = statuses
        .iter()
        .filter_map(|s| {
            let latest = stopped_part_way(s.latest.as_ref(), Direction::Up)?;
            let version = s.version.as_ref()?;
            let above = match (lowest, target) {
                (Some(lowest), _) => version > lowest,
                (None, DownTarget::To(to)) => version > to,
                (None, _) => true,
            };
            if !above {
                return None;
            }
            let label = migration_of(set, s).map_or_else(|| format!("{version} {}", s.name), |m| m.label());
            let total = migration_of(set, s).map(|m| format!(" of {}", m.up.statements.len())).unwrap_or_default();
            let how = if latest.state == State::Running { "was stopped" } else { "failed" };
            Some(format!(
                "{label} {how} part-way up: {} statement(s){total} ran outside a transaction and are in the database",
                latest.statements_done
            ))
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Refused(Refusal {
        problems,
        advice: "nothing was reverted: its down script undoes the whole migration, not the part that ran, and reverting the migrations below it would leave that part on a schema it was not made for. Finish it first (fix the statement that failed; the ones that ran may not change) with `cutover up`, which resumes where it stopped; `cutover down` then reverts it whole, before the ones below".to_string(),
    }))
}

/// Adopts a database that was migrated before cutover: every migration up to `version`
/// counts as applied. Refused when cutover has already applied migrations here.
/// The version recorded is returned as the migration spells it (`020240102000000` given).
pub fn baseline(ctx: &mut Context<'_>, set: &MigrationSet, version: &Version) -> Result<Version, Error> {
    ctx.settings.check()?;
    let version = &check_version_exists(set, version, "baseline")?;
    let _lock = acquire_lock(ctx)?;
    ctx.target.ensure_history().map_err(|e| Error::database("cannot create the history table", e))?;
    let history = ctx.target.read_history().map_err(|e| Error::database("cannot read the history", e))?;
    let damage = guard_damage(ctx, set, &history)?;
    // Migrations, not rows (a migration applied, reverted and applied again is one); any
    // migration cutover ever applied here makes the database managed.
    let in_use = history
        .iter()
        .filter(|r| matches!(r.state, State::Applied | State::Baselined | State::Running))
        .map(|r| (r.version.clone(), r.name.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if in_use > 0 {
        if let Some(damage) = &damage {
            // Rows lost from a history that still records applied migrations: only a backup
            // tells what the rest said.
            return Err(Error::Refused(crate::integrity::refusal(damage, &ctx.settings.history_table)));
        }
        return Err(Error::Refused(Refusal {
            problems: vec![format!(
                "the history already records {}",
                cutover_engine::count(in_use, "applied or baselined migration", "applied or baselined migrations")
            )],
            advice: "baseline adopts a database that cutover has never migrated; this one is already managed: use `cutover up`".to_string(),
        }));
    }
    if let Some(damage) = &damage {
        // The way back from an emptied history: the person who runs it says what the schema
        // has, and the guard trusts the history from this baseline on (see `integrity`).
        ctx.reporter.report(Event::BaselineOverLostHistory { lost: damage.lost.len() + damage.changed.len() });
    } else {
        refuse_baseline_of_an_unmigrated_database(ctx, set, version)?;
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
        .map_err(|e| Error::database("cannot record the baseline", e))?;
    Ok(version.clone())
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
