//! `cutover rewrite`: arguments to a request, signals to a stop flag, events to lines.

use std::io::Write;
use std::time::Duration;

use cutover_engine::{
    count, Checkpoint, DatabaseUrl, RewritePhase, RewriteRequest, RewriteState, RewriteTarget, SwapReport, Timeouts,
};
use cutover_rewrite::{Event, Options, Outcome, Reporter};
use cutover_runner::Settings;
use serde::Serialize;

use crate::args::{Format, RewriteArgs};
use crate::{usage_error, ExitStatus};

pub fn run(settings: &Settings, args: RewriteArgs) -> anyhow::Result<ExitStatus> {
    let url = crate::database_url(settings)?;
    let replicas = args
        .replica_urls
        .iter()
        .map(|u| DatabaseUrl::parse(u).map_err(usage_error))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut any = crate::connect_any(&url, settings)?;
    let scrub = |err: &dyn std::fmt::Display| usage_error(url.scrub(&err.to_string()));
    // A rewrite a declarative migration made is that migration's: `rollback` reverts it and
    // `complete` drops what it kept, each with the rest of the migration's state.
    if let (Some(table), false, Ok(expand)) = (&args.table, args.status, any.expand()) {
        if let Some(owner) = cutover_expand::rewrite_owner(expand, table).map_err(|e| scrub(&e))? {
            return Err(usage_error(format!(
                "the rewrite of {table} belongs to the expand/contract migration {owner}, which is active: `cutover start` finishes it, `cutover rollback` swaps it back (or drops its copy), `cutover complete` drops the old table (by hand, the migration would be recorded as made where the table does not have its change)"
            )));
        }
    }
    let mut target: Box<dyn RewriteTarget> = any.into_rewrite(replicas).map_err(|e| crate::unsupported(&url, &e))?;
    if args.status {
        let list = target.list_rewrites().map_err(|e| scrub(&e))?;
        let mut copies = Vec::new();
        let mut running = Vec::new();
        for state in &list {
            let copy = match state.phase {
                RewritePhase::Copying => {
                    target.load_checkpoint(&cutover_rewrite::copy_name(state)).map_err(|e| scrub(&e))?
                }
                _ => None,
            };
            // Asked only of a copy that says it runs.
            let runs = match &copy {
                Some(c) if c.state == cutover_engine::CheckpointState::Running => {
                    let lock = cutover_rewrite::lock_name(&target.rewrite_name(&state.table).map_err(|e| scrub(&e))?);
                    cutover_backfill::running_now(&mut *target, &lock).map_err(|e| scrub(&e))?
                }
                _ => false,
            };
            copies.push(copy);
            running.push(runs);
        }
        render_status(&list, &copies, &running, args.format)?;
        return Ok(ExitStatus::Success);
    }
    if args.format == Format::Json {
        return Err(usage_error("--format json is for --status; the other forms print lines"));
    }
    let Some(table) = args.table.clone() else {
        return Err(usage_error(
            "say which table: `cutover rewrite --table T --alter \"ALTER TABLE T ...\"` (or without --alter, to compact it)",
        ));
    };
    let options = options_of(settings, &args);
    let mut out = anstream::stdout();
    let mut reporter = Lines { url: url.clone(), waiting_since: None };
    if args.cleanup {
        let state = cutover_rewrite::cleanup(&mut *target, &table, &options, &mut reporter).map_err(|e| scrub(&e))?;
        let what = match state.outcome() {
            Some("applied") => "its change is in effect; the old table and the change capture are dropped",
            Some("abandoned") => "the copy and the change capture are dropped; the table is unchanged",
            Some("reverted") => "the rewritten copy and the change capture are dropped; the table is as it was",
            _ => "the table not in use and the change capture are dropped",
        };
        writeln!(out, "rewrite of {} cleaned up: {what}", state.table)?;
        return Ok(ExitStatus::Success);
    }
    if args.revert {
        let (state, report) =
            cutover_rewrite::revert(&mut *target, &table, &options, &mut reporter).map_err(|e| scrub(&e))?;
        match report {
            Some(report) => writeln!(
                out,
                "reverted: {} is the original table again, with every write made since the swap; {}",
                state.table,
                describe_swap("swap back", &report)
            )?,
            None => writeln!(out, "{} was reverted already (at {}): nothing to do", state.table, state.updated_at)?,
        }
        writeln!(
            out,
            "the rewritten copy is kept as {}: `cutover rewrite --cleanup --table {}` drops it",
            state.shadow,
            cutover_rewrite::shell_word(&table)
        )?;
        return Ok(ExitStatus::Success);
    }
    let using = args
        .using
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(column, expression)| (column.trim().to_string(), expression.trim().to_string()))
                .filter(|(column, expression)| !column.is_empty() && !expression.is_empty())
                .ok_or_else(|| {
                    usage_error(format!(
                        "--using `{item}`: give it as COLUMN=EXPRESSION, e.g. --using \"id=id::bigint\""
                    ))
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // A column named as in SQL: folded to lower case unless double-quoted.
    let using: Vec<(String, String)> = using
        .into_iter()
        .map(|(column, expression)| {
            let column = match column.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => column.to_lowercase(),
            };
            (column, expression)
        })
        .collect();
    if let Some((column, _)) = using.iter().enumerate().find_map(|(i, a)| using[..i].iter().find(|b| b.0 == a.0)) {
        return Err(usage_error(format!("--using gives `{column}` twice: give each column's value once")));
    }
    if args.alter.as_deref().is_some_and(|alter| cutover_migration::split_statements(alter).is_ok_and(|s| s.is_empty()))
    {
        return Err(usage_error(
            "--alter holds no statement (blank, or comments only): leave it out for a compaction (the table copied as it is)",
        ));
    }
    let request = RewriteRequest { table, alter: args.alter.clone(), using };

    let stop = crate::backfill::stop_on_signals()?;
    let mut copy_reporter = crate::backfill::ProgressReporter::new(&format!("copy of {}", request.table), &url);
    let result = cutover_rewrite::run(&mut *target, &request, &options, &mut reporter, &mut copy_reporter, &stop);
    copy_reporter.finish();
    match result.map_err(|e| scrub(&e))? {
        Outcome::Interrupted => {
            writeln!(
                out,
                "rewrite of {} stopped; progress is saved: run the same command again to resume",
                request.table
            )?;
            Ok(ExitStatus::Interrupted)
        }
        Outcome::AlreadySwapped(state) => {
            writeln!(
                out,
                "{} was rewritten and swapped already (at {}); the old table is kept in step as {}: `--revert` swaps back, `--cleanup` drops it",
                state.table, state.updated_at, state.old
            )?;
            Ok(ExitStatus::Success)
        }
        Outcome::Deferred(state) => {
            writeln!(
                out,
                "{} is copied and verified; the copy is kept in step. Run the same command without --defer-swap to swap",
                state.table
            )?;
            Ok(ExitStatus::Success)
        }
        Outcome::Swapped { state, report, rows_copied, rows_verified } => {
            writeln!(
                out,
                "swapped: {} is the rewritten table ({} copied, {} verified); {}",
                state.table,
                count(rows_copied, "row", "rows"),
                rows_verified,
                describe_swap("swap", &report)
            )?;
            writeln!(
                out,
                "the old table is kept in step as {}: `cutover rewrite --revert --table {}` swaps back{}, `--cleanup` drops it",
                state.old,
                cutover_rewrite::shell_word(&request.table),
                if cutover_rewrite::one_way(&request.using).is_empty() {
                    ""
                } else {
                    " (not this one: a --using that is not a cast of its column makes it one way)"
                }
            )?;
            Ok(ExitStatus::Success)
        }
    }
}

fn options_of(settings: &Settings, args: &RewriteArgs) -> Options {
    let copy = cutover_backfill::Options {
        batch_time: args.batch_time,
        max_rows_per_second: args.max_rows_per_second,
        max_replica_lag: args.max_replica_lag,
        pause: args.pause.unwrap_or(Duration::ZERO),
        health_check: args.health_check.clone(),
        ..crate::backfill::batch_options(settings)
    };
    Options {
        copy,
        verify_chunk: args.verify_chunk,
        defer_swap: args.defer_swap,
        timeouts: Timeouts { lock_timeout: settings.lock_timeout, statement_timeout: settings.statement_timeout },
        retry: settings.retry_policy(),
    }
}

/// `what` the report is of: the swap, or the swap back.
fn describe_swap(what: &str, report: &SwapReport) -> String {
    let mut text = if report.timing_unknown {
        format!(
            "the {what} went through, but its connection ended as it finished: how long it waited for and held its locks is not known"
        )
    } else {
        format!(
            "the {what} waited {} ms for its locks and held them {} ms",
            report.lock_wait.as_millis(),
            report.held.as_millis()
        )
    };
    if report.failed_tries > 0 {
        text.push_str(&format!(
            " after {} that timed out waiting, {} ms in all (the application's queries on the table queued behind each)",
            count(u64::from(report.failed_tries), "try", "tries"),
            report.failed_tries_took.as_millis()
        ));
    }
    if !report.views.is_empty() {
        text.push_str(&format!("; views made again: {}", report.views.join(", ")));
    }
    if !report.foreign_keys.is_empty() {
        let keys: Vec<String> = report.foreign_keys.iter().map(|(t, n)| format!("{t}.{n}")).collect();
        text.push_str(&format!("; foreign keys pointed at it and validated: {}", keys.join(", ")));
    }
    if !report.triggers.is_empty() {
        text.push_str(&format!("; triggers moved: {}", report.triggers.join(", ")));
    }
    text
}

/// The rewrite's own events, one line each on stderr.
struct Lines {
    url: DatabaseUrl,
    /// When the last "waiting for another cutover" line was written: one each 10 s.
    waiting_since: Option<std::time::Instant>,
}

impl Reporter for Lines {
    fn report(&mut self, event: Event<'_>) {
        let line = match event {
            Event::Started { plan, resumed } => {
                let mut line = format!(
                    "{} rewrite of {} into {} over its {}",
                    if resumed { "resuming the" } else { "started the" },
                    plan.state.table,
                    plan.copy.table,
                    plan.key.source
                );
                if !plan.defaulted.is_empty() {
                    line.push_str(&format!("; columns left to their default: {}", plan.defaulted.join(", ")));
                }
                if !plan.dropped.is_empty() {
                    line.push_str(&format!("; columns not copied: {}", plan.dropped.join(", ")));
                }
                line
            }
            Event::Verifying { rows, chunks } if chunks % 5 == 0 => format!("verifying: {rows} rows compared"),
            Event::Verifying { .. } => return,
            Event::Verified { rows, took } => {
                format!("verified: the copy equals the table ({rows} rows, {:.1} s)", took.as_secs_f64())
            }
            Event::LeftNotValid { constraint } => {
                format!("warning: the foreign key {constraint} is left NOT VALID (it holds for new rows): fix the rows and VALIDATE it, or drop it")
            }
            Event::Retrying { what, attempt, tries, error } => {
                format!("{what}: locks not granted (try {attempt} of {tries}): {}; retrying", error.message)
            }
            Event::WaitingForLock { holder } => {
                if self.waiting_since.is_some_and(|at| at.elapsed() < Duration::from_secs(10)) {
                    return;
                }
                self.waiting_since = Some(std::time::Instant::now());
                format!("waiting for another cutover running a command on this rewrite: {}", holder.description)
            }
            _ => return,
        };
        let mut err = anstream::stderr();
        let _ = writeln!(err, "{}", self.url.scrub(&line));
    }
}

#[derive(Serialize)]
struct StateJson<'a> {
    table: &'a str,
    phase: &'a str,
    /// For a rewrite `done`: `applied`, `abandoned` (before the swap) or `reverted`.
    outcome: Option<&'static str>,
    alter: Option<&'a str>,
    using: Vec<String>,
    /// The `--using` values that are not casts of their column: a revert is refused.
    one_way: Vec<String>,
    shadow: &'a str,
    old: &'a str,
    out_of_step: Option<&'a str>,
    capture_incomplete: Option<&'a str>,
    started_at: &'a str,
    updated_at: &'a str,
    /// The copy's progress while it copies: `null` in the other phases.
    copy: Option<crate::backfill::CheckpointJson<'a>>,
    /// Whether a cutover acts on it now (holds its lock): a copy `running` without one was
    /// stopped or killed, and the same command resumes it.
    running_now: bool,
}

fn render_status(
    list: &[RewriteState],
    copies: &[Option<Checkpoint>],
    running: &[bool],
    format: Format,
) -> anyhow::Result<()> {
    let mut out = anstream::stdout();
    if format == Format::Json {
        let list: Vec<StateJson> = list
            .iter()
            .zip(copies)
            .zip(running)
            .map(|((s, copy), running)| StateJson {
                table: &s.table,
                phase: s.phase.name(),
                outcome: s.outcome(),
                alter: s.alter.as_deref(),
                using: s.using.iter().map(|(c, e)| format!("{c}={e}")).collect(),
                one_way: cutover_rewrite::one_way(&s.using).iter().map(|(c, e)| format!("{c}={e}")).collect(),
                shadow: &s.shadow,
                old: &s.old,
                out_of_step: s.out_of_step.as_deref(),
                capture_incomplete: s.capture_incomplete.as_deref(),
                started_at: &s.started_at,
                updated_at: &s.updated_at,
                copy: copy.as_ref().map(|copy| crate::backfill::CheckpointJson::of(copy, *running)),
                running_now: *running,
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "rewrites": list }))?;
        writeln!(out)?;
        return Ok(());
    }
    if list.is_empty() {
        writeln!(out, "no rewrites")?;
    }
    for ((state, copy), running) in list.iter().zip(copies).zip(running) {
        let change = state.alter.as_deref().unwrap_or("(compaction)");
        // A rewrite given up or swapped back is done too: say the change is not in effect.
        let phase = match state.outcome() {
            Some("abandoned") => format!("{} (abandoned before the swap: the table is unchanged)", state.phase),
            Some("reverted") => format!("{} (reverted: the table is as it was)", state.phase),
            Some(outcome) => format!("{} ({outcome})", state.phase),
            None => state.phase.to_string(),
        };
        writeln!(out, "{}  {phase}  {change}  since {}", state.table, state.updated_at)?;
        if let Some(copy) = copy {
            let pace = copy.pace.as_ref().map(|p| format!("; {}", p.reason)).unwrap_or_default();
            let error = copy.error.as_ref().map(|e| format!("; stopped: {e}")).unwrap_or_default();
            let (copy_state, why) = crate::backfill::state_now(copy.state, *running);
            writeln!(
                out,
                "  copy {copy_state}: {} walked, {} copied, {} (at {}){pace}{error}",
                cutover_engine::count(copy.rows_scanned, "row", "rows"),
                copy.rows_updated,
                cutover_engine::count(copy.batches, "batch", "batches"),
                copy.updated_at
            )?;
            if let Some(why) = why {
                writeln!(out, "  {why}")?;
            }
        }
        if let Some(reason) = &state.out_of_step {
            writeln!(out, "  the old table is out of step ({reason}): a revert is refused")?;
        }
        let one_way = cutover_rewrite::one_way(&state.using);
        if !one_way.is_empty() && state.phase != RewritePhase::Done {
            let given: Vec<String> = one_way.iter().map(|(c, e)| format!("--using \"{c}={e}\"")).collect();
            writeln!(
                out,
                "  one way: {} is not a cast of its column, so the swap cannot be reverted",
                given.join(", ")
            )?;
        }
        if let Some(missing) = &state.capture_incomplete {
            writeln!(
                out,
                "  the change capture into the copy is not whole ({missing}): the copy lags the table; the same `cutover rewrite` command makes the capture again and copies again"
            )?;
        }
    }
    Ok(())
}
