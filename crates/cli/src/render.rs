//! How results look: colour for people, JSON for machines. Only this module knows formats.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use cutover_engine::{DatabaseUrl, Direction};
use cutover_runner::{Event, MigrationState, MigrationStatus, Reporter};
use serde::Serialize;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default();

fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

fn state_style(state: MigrationState) -> Style {
    match state {
        MigrationState::Applied | MigrationState::Baselined => GREEN,
        MigrationState::Pending | MigrationState::Reverted | MigrationState::Running => YELLOW,
        MigrationState::Failed | MigrationState::Modified | MigrationState::Missing => RED,
    }
}

/// The JSON form of one status line; the field set is a promise to scripts.
#[derive(Serialize)]
struct StatusJson<'a> {
    version: Option<&'a str>,
    name: &'a str,
    state: &'a str,
    applied_at: Option<&'a str>,
    checksum: &'a str,
    /// A missing migration that stopped part-way: its statements done and in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    statements_done: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statements_total: Option<i64>,
}

/// The active expand/contract migration, in `status --format json`.
#[derive(Serialize)]
struct ExpandJson<'a> {
    migration: &'a str,
    phase: &'a str,
    since: &'a str,
    old_version: &'a str,
    new_version: &'a str,
}

#[derive(Serialize)]
struct StatusListJson<'a> {
    migrations: Vec<StatusJson<'a>>,
    /// Left out when none is active (or the engine has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    expand: Option<ExpandJson<'a>>,
}

pub fn status_json(
    out: &mut dyn Write,
    statuses: &[MigrationStatus],
    active: Option<&cutover_expand::ActiveMigration>,
) -> io::Result<()> {
    let list = StatusListJson {
        expand: active.map(|a| ExpandJson {
            migration: &a.migration,
            phase: a.phase.name(),
            since: &a.since,
            old_version: &a.old_schema,
            new_version: &a.version_schema,
        }),
        migrations: statuses
            .iter()
            .map(|s| StatusJson {
                version: s.version.as_ref().map(|v| v.as_str()),
                name: &s.name,
                state: s.state.name(),
                applied_at: s.applied_at.as_deref(),
                checksum: &s.checksum,
                statements_done: s.part_way().map(|r| r.statements_done),
                statements_total: s.part_way().map(|r| r.statements_total),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &list)?;
    writeln!(out)
}

pub fn status_human(
    out: &mut dyn Write,
    statuses: &[MigrationStatus],
    active: Option<&cutover_expand::ActiveMigration>,
    layout: &str,
    target: &str,
) -> io::Result<()> {
    writeln!(out, "{} {target} ({layout} layout)", paint(BOLD, "Migrations in"))?;
    if statuses.is_empty() {
        return writeln!(out, "  no migrations yet: `cutover new <name>` writes the first one");
    }
    let version_width =
        statuses.iter().map(|s| s.version.as_ref().map_or("R", |v| v.as_str()).len()).max().unwrap_or(1);
    let name_width = statuses.iter().map(|s| s.name.chars().count()).max().unwrap_or(1).min(48);
    for status in statuses {
        let state = format!("{:<9}", status.state.name());
        let mut note = status.applied_at.clone().unwrap_or_default();
        if status.out_of_order {
            note = "out of order: older than the newest applied migration".to_string();
        }
        if let Some(part_way) = status.part_way_words() {
            note = format!("{part_way}; its file is gone");
        }
        let label = format!("{} {}", status.version.as_ref().map_or("R", |v| v.as_str()), status.name);
        if let Some(active) = active.filter(|a| a.migration == label) {
            // Pending in the history until `complete` records it; its phase says where it is.
            note = format!(
                "expand/contract {} since {}: old version `{}`, new `{}`",
                active.phase.words(),
                active.since,
                active.old_schema,
                active.version_schema
            );
        }
        if let Some(latest) = status.latest.as_ref().filter(|_| status.state == MigrationState::Failed) {
            note = format!(
                "{}: {}",
                latest.error_location.as_deref().unwrap_or(""),
                latest.error_message.as_deref().unwrap_or("")
            );
        }
        writeln!(
            out,
            "  {:<version_width$}  {:<name_width$}  {}  {}",
            status.version.as_ref().map_or("R", |v| v.as_str()),
            status.name,
            paint(state_style(status.state), state),
            paint(DIM, note)
        )?;
    }
    let count = |state: MigrationState| statuses.iter().filter(|s| s.state == state).count();
    let mut parts = Vec::new();
    for state in [
        MigrationState::Applied,
        MigrationState::Baselined,
        MigrationState::Pending,
        MigrationState::Reverted,
        MigrationState::Running,
        MigrationState::Failed,
        MigrationState::Modified,
        MigrationState::Missing,
    ] {
        let n = count(state);
        if n > 0 {
            parts.push(format!("{n} {}", state.name()));
        }
    }
    writeln!(out, "{}", parts.join(", "))
}

#[derive(Serialize)]
struct ProblemsJson<'a> {
    ok: bool,
    problems: &'a [String],
}

pub fn problems(out: &mut dyn Write, problems: &[String], json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &ProblemsJson { ok: problems.is_empty(), problems })?;
        return writeln!(out);
    }
    if problems.is_empty() {
        return writeln!(out, "{} every applied migration matches its file", paint(GREEN, "ok:"));
    }
    for problem in problems {
        writeln!(out, "{} {problem}", paint(RED, "problem:"))?;
    }
    Ok(())
}

pub fn summary(
    out: &mut dyn Write,
    verb: &str,
    migrations: &[String],
    duration: Duration,
    nothing: &str,
) -> io::Result<()> {
    match migrations.len() {
        0 => writeln!(out, "{nothing}"),
        n => writeln!(
            out,
            "{} {n} migration{} in {}",
            paint(GREEN, verb),
            if n == 1 { "" } else { "s" },
            human_duration(duration)
        ),
    }
}

fn human_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// Prints run events to stderr for people: one line per step, never chatty while waiting.
pub struct TerminalReporter {
    last_wait_message: Option<Instant>,
    dry_run_out: Box<dyn Write>,
    url: DatabaseUrl,
}

impl TerminalReporter {
    /// A reporter whose every line has `url`'s password removed, whatever text a database
    /// error carries into it.
    pub fn new(url: &DatabaseUrl) -> TerminalReporter {
        TerminalReporter { last_wait_message: None, dry_run_out: Box::new(anstream::stdout()), url: url.clone() }
    }
}

impl Reporter for TerminalReporter {
    fn report(&mut self, event: Event<'_>) {
        // Each line goes out in one write, not one per formatted piece.
        let mut err: Vec<u8> = Vec::new();
        let _ = match event {
            Event::WaitingForLock { holder, waited } => {
                let due = self.last_wait_message.is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
                if !due {
                    return;
                }
                self.last_wait_message = Some(Instant::now());
                let since = holder.since.as_deref().map(|s| format!(", connected since {s}")).unwrap_or_default();
                writeln!(
                    err,
                    "{} for another cutover to finish: {}{since} (waited {}s)",
                    paint(YELLOW, "waiting"),
                    holder.description,
                    waited.as_secs()
                )
            }
            Event::Starting { migration, direction, resume_at } => {
                let verb = match direction {
                    Direction::Up => "applying",
                    Direction::Down => "reverting",
                };
                if resume_at > 0 {
                    writeln!(err, "{} {} at statement {}", paint(CYAN, "resuming"), migration.label(), resume_at + 1)
                } else {
                    writeln!(err, "{} {}", paint(CYAN, verb), migration.label())
                }
            }
            Event::Retrying { migration, attempt, tries, delay, error, holders } => {
                let held_by: String = holders.iter().map(|h| format!("\n  held by {}", h.description)).collect();
                writeln!(
                    err,
                    "{} {} (try {attempt} of {tries}): {}; retrying in {}{held_by}",
                    paint(YELLOW, "lock not granted for"),
                    migration.label(),
                    error.message,
                    human_duration(delay)
                )
            }
            Event::Approved { approvals } => {
                let mut text = String::new();
                for a in approvals {
                    // The finding itself: which table, which lock (tester 20: two approvals of
                    // one rule at one line read the same).
                    text.push_str(&format!(
                        "{} error[{}] at {} ({}: {})\n  {}\n",
                        paint(YELLOW, "approved"),
                        a.rule,
                        a.location,
                        a.how,
                        a.reason,
                        paint(DIM, &a.message)
                    ));
                }
                err.write_all(text.as_bytes())
            }
            Event::Cleared { migration, what } => {
                writeln!(err, "{} {}: {what}", paint(YELLOW, "cleaned up for"), migration.label())
            }
            Event::AlreadyDone { migration, statement, error } => writeln!(
                err,
                "{} {}: statement {statement}, which the last runner was running when it died, had finished ({}); counted as done",
                paint(YELLOW, "resumed"),
                migration.label(),
                self.url.scrub(&error.message)
            ),
            Event::StillRunning { migration, statement, running, waited } => {
                let due = self.last_wait_message.is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
                if !due {
                    return;
                }
                self.last_wait_message = Some(Instant::now());
                writeln!(
                    err,
                    "{} for {}: statement {statement}, which the killed runner was running, still runs on the server ({}, running for {}s; waited {}s); once it ends it counts as done, or stop it with `{}`",
                    paint(YELLOW, "waiting"),
                    migration.label(),
                    running.description,
                    running.running_for.as_secs(),
                    waited.as_secs(),
                    running.stop_with
                )
            }
            Event::BaselineOverLostHistory { lost } => writeln!(
                err,
                "{} the history had lost {} behind cutover's back; it is trusted again from this baseline on (its guard keeps what was lost)",
                paint(YELLOW, "note:"),
                cutover_engine::count(lost, "row", "rows")
            ),
            Event::Finished { migration, direction, duration } => {
                let verb = match direction {
                    Direction::Up => "applied",
                    Direction::Down => "reverted",
                };
                writeln!(err, "{} {} {}", paint(GREEN, verb), migration.label(), paint(DIM, human_duration(duration)))
            }
            Event::WouldRun { migration, direction, script, resume_at, transactional } => {
                let out = &mut self.dry_run_out;
                let verb = match direction {
                    Direction::Up => "would apply",
                    Direction::Down => "would revert",
                };
                let mode = match (transactional, script.settings.transaction) {
                    (true, _) => "in one transaction",
                    (false, true) => "statement by statement: this database commits around every DDL statement",
                    (false, false) => "statement by statement, no transaction",
                };
                let _ = writeln!(out, "{} {} ({mode})", paint(BOLD, verb), migration.label());
                for statement in script.statements.iter().skip(resume_at) {
                    let _ = writeln!(out, "  {}", paint(DIM, script.location(statement)));
                    for line in statement.sql.lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        };
        if !err.is_empty() {
            let _ = anstream::stderr().write_all(self.url.scrub(&String::from_utf8_lossy(&err)).as_bytes());
        }
    }
}

/// `cutover history`: every attempt, then every approval.
pub fn history(
    out: &mut dyn Write,
    records: &[cutover_engine::HistoryRecord],
    approvals: &[cutover_engine::Approval],
    expand: &[cutover_engine::ExpandState],
    json: bool,
) -> std::io::Result<()> {
    if json {
        let report = serde_json::json!({
            "expand": expand.iter().map(|state| serde_json::json!({
                "version": state.version,
                "name": state.name,
                "phase": state.phase.name(),
                "version_schema": state.version_schema,
                "phases": state.log.iter().map(|entry| serde_json::json!({
                    "phase": entry.phase.name(), "at": entry.at, "by": entry.by,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "history": records.iter().map(|r| serde_json::json!({
                "id": r.id,
                "version": r.version,
                "name": r.name,
                "kind": r.kind.name(),
                "direction": r.direction.name(),
                "state": r.state.name(),
                "statements_done": r.statements_done,
                "statements_total": r.statements_total,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "installed_by": r.installed_by,
                "runner": r.runner,
                "error": r.error_message,
            })).collect::<Vec<_>>(),
            "approvals": approvals.iter().map(|a| serde_json::json!({
                "version": a.version,
                "name": a.name,
                "rule": a.rule,
                "how": a.how.name(),
                "reason": a.reason,
                "location": a.location,
                "message": a.message,
                "approved_by": a.approved_by,
                "approved_at": a.approved_at,
            })).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &report)?;
        return writeln!(out);
    }
    for r in records {
        let version = r.version.as_deref().unwrap_or("R");
        // A declarative migration's row is its contract; its phases are listed below.
        let work = if r.script.ends_with(".toml") {
            "expand/contract".to_string()
        } else {
            format!("{}/{} statements", r.statements_done, r.statements_total)
        };
        writeln!(
            out,
            "{:>5}  {} {:<9} {:<10} {version} {}  {work}  by {}  {}",
            r.id,
            r.started_at,
            r.direction.name(),
            r.state.name(),
            r.name,
            r.runner,
            r.error_message.as_deref().unwrap_or("")
        )?;
    }
    if !expand.is_empty() {
        writeln!(out, "\nexpand/contract phases:")?;
        // Oldest first, like the rows above.
        for state in expand.iter().rev() {
            for entry in &state.log {
                writeln!(
                    out,
                    "  {} {:<12} {} {}  by {}",
                    entry.at,
                    entry.phase.name(),
                    state.version,
                    state.name,
                    entry.by
                )?;
            }
            if state.log.is_empty() {
                writeln!(
                    out,
                    "  {} {:<12} {} {}  by {}",
                    state.updated_at,
                    state.phase.name(),
                    state.version,
                    state.name,
                    state.runner
                )?;
            }
        }
    }
    if !approvals.is_empty() {
        writeln!(out, "\napproved findings:")?;
        for a in approvals {
            let version = a.version.as_deref().unwrap_or("R");
            writeln!(
                out,
                "  {} {version} {}: {}[{}] at {} by {}: {}\n    {}",
                a.approved_at,
                a.name,
                a.how,
                a.rule,
                a.location,
                a.approved_by,
                a.reason,
                paint(DIM, &a.message)
            )?;
        }
    }
    Ok(())
}
