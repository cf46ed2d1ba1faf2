//! `cutover plan` and `cutover rehearse`: call the library, render for people or as JSON.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use cutover_analysis::Severity;
use cutover_engine::{count, DatabaseUrl};
use cutover_migration::MigrationSet;
use cutover_runner::{human_bytes, Plan, RehearsalReport, RoundTrip, Settings};
use serde_json::{json, Value};

use crate::args::{Format, PlanFormat};
use crate::{usage_error, with_url, ExitStatus};
use anyhow::Context as _;

/// A statement on one line for listings: comment lines dropped, white space (line breaks
/// included) run together, shortened to 90 characters with `...` when cut.
pub(crate) fn head(sql: &str) -> String {
    let code = sql.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--"));
    // ASCII white space only: a no-break space in a name is the name's, shown (escaped) as such.
    let line = code.flat_map(|l| l.split([' ', '\t']).filter(|w| !w.is_empty())).collect::<Vec<_>>().join(" ");
    if line.chars().count() > 90 {
        format!("{}...", line.chars().take(87).collect::<String>())
    } else {
        line
    }
}

pub(crate) fn duration_text(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.1} s")
    } else {
        format!("{:.1} min", secs / 60.0)
    }
}

/// What a MySQL/MariaDB statement costs, in the server's own terms: the algorithm it runs with
/// (its metadata lock is exclusive only briefly, at start and end, unless writes wait).
pub(crate) fn mysql_cost(ddl: &cutover_analysis::MysqlDdl) -> (String, &'static str) {
    use cutover_analysis::Algorithm;
    if !ddl.ddl {
        return ("row locks".to_string(), "the rows it writes, until it commits");
    }
    // No algorithm (DROP TABLE, TRUNCATE, DROP INDEX ... ON, what the tables of online DDL do
    // not list): the exclusive metadata lock, for as long as it runs.
    let Some(algorithm) = ddl.algorithm else {
        return ("exclusive metadata lock".to_string(), "reads and writes of it wait while it runs");
    };
    let what = match (Some(algorithm), ddl.concurrent_dml) {
        (Some(Algorithm::Copy), _) => "copies the table; writes wait until done",
        (Some(Algorithm::Instant), true) => "metadata only; a brief exclusive metadata lock",
        (_, true) => "reads and writes go on; a brief exclusive metadata lock at start and end",
        (_, false) => "writes wait until done",
    };
    (format!("ALGORITHM={}", algorithm.name()), what)
}

pub fn render_plan(
    plan: &Plan,
    phases: &[(String, crate::lint::Preview)],
    format: PlanFormat,
) -> anyhow::Result<ExitStatus> {
    let mut errors =
        plan.migrations.iter().flat_map(|m| &m.diagnostics).filter(|d| d.severity == Severity::Error).count();
    errors += phases.iter().filter(|(_, p)| matches!(p, crate::lint::Preview::Unplannable(_))).count();
    let stops_before = plan.stops_before.as_ref().map(|(label, path)| {
        format!(
            "{} {label} ({}): declarative (expand/contract), which `up` stops before: `cutover start` runs its expand phase, `cutover complete` its contract once no old code runs",
            if plan.migrations.is_empty() { "next:" } else { "then" },
            path.display()
        )
    });
    let mut out = anstream::stdout();
    if format == PlanFormat::Markdown {
        out.write_all(crate::report::markdown::plan(plan).as_bytes())?;
        if let Some(line) = &stops_before {
            writeln!(out, "{line}.\n\n```text")?;
            let mut rendered = Vec::new();
            crate::lint::render_phases(&mut rendered, phases)?;
            out.write_all(&rendered)?;
            writeln!(out, "```")?;
        }
    } else if format == PlanFormat::Json {
        let migrations: Vec<Value> = plan
            .migrations
            .iter()
            .map(|m| {
                json!({
                    "migration": m.label,
                    "path": m.path.display().to_string(),
                    "statements": m.statements.iter().map(|s| json!({
                        "line": s.line,
                        "sql": s.sql,
                        "locks": s.effect.iter().flat_map(|e| e.locks.iter()).map(|(rel, mode)| {
                            let facts = s.relations.iter().find(|f| &f.name == rel);
                            json!({
                                "relation": rel,
                                "mode": mode.name(),
                                "blocks": mode.blocks(),
                                "rows": facts.map(|f| f.rows),
                                "bytes": facts.and_then(|f| (f.bytes >= 0).then_some(f.bytes)),
                            })
                        }).collect::<Vec<_>>(),
                        "mysql_algorithm": s.effect.as_ref().and_then(|e| e.mysql.as_ref()).and_then(|d| d.algorithm).map(|a| a.name()),
                        "mysql_concurrent_writes": s.effect.as_ref().and_then(|e| e.mysql.as_ref()).map(|d| d.concurrent_dml),
                        "rewrites": s.effect.as_ref().is_some_and(|e| e.rewrites),
                        "scans": s.effect.as_ref().is_some_and(|e| e.scans),
                        "estimated_seconds": s.estimate.map(|d| d.as_secs_f64()),
                        "dependents": s.dependents.iter().map(|(on, d)| json!({"on": on, "kind": d.kind, "name": d.name})).collect::<Vec<_>>(),
                        "queries": s.queries.as_ref().map(|qs| qs.iter().map(|(on, q)| json!({"on": on, "query": q.query, "calls": q.calls})).collect::<Vec<_>>()),
                        "waits_for": s.waits_for.iter().map(|(on, h)| json!({"relation": on, "session": h.description, "since": h.since})).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "waits_for_window": m.waits_for_window,
                    "diagnostics": m.diagnostics.iter().map(|d| json!({
                        "rule": d.rule, "severity": d.severity.name(), "line": d.line,
                        "message": d.message, "help": d.help, "table": d.table, "lock": d.lock.map(|l| l.name()),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let stops_before = plan.stops_before.as_ref().map(|(label, path)| {
            let preview = phases.first().map(|(path, preview)| crate::lint::preview_json(path, preview));
            json!({"migration": label, "path": path.display().to_string(), "preview": preview})
        });
        let report = json!({
            "migrations": migrations,
            "measured_scan_rate_bytes_per_second": plan.measured_scan_rate,
            "lock_holders_exact": plan.lock_holders_exact,
            "other_databases_open_transactions": plan.unseen_transactions.map(|u| json!({"count": u.count, "oldest_seconds": u.oldest_seconds})),
            "stops_before_declarative": stops_before,
        });
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let bold = Style::new().bold();
        let dim = AnsiColor::BrightBlack.on_default();
        if plan.migrations.is_empty() && plan.stops_before.is_none() {
            writeln!(out, "nothing is pending")?;
        }
        for m in &plan.migrations {
            writeln!(out, "{bold}{}{bold:#}  ({})", m.label, m.path.display())?;
            if let Some(next) = &m.waits_for_window {
                writeln!(out, "  waits for a maintenance window (next opens {next})")?;
            }
            for s in &m.statements {
                writeln!(out, "  {dim}{:>4}{dim:#}  {}", s.line, head(&s.sql))?;
                for (rel, mode) in s.effect.iter().flat_map(|e| e.locks.iter()) {
                    let size = s.relations.iter().find(|f| &f.name == rel).map_or_else(
                        || "not in the database yet".to_string(),
                        |f| match f.kind.as_str() {
                            // A view stores nothing to count.
                            "view" => "a view".to_string(),
                            _ => format!(
                                "{} rows, {}",
                                if f.rows < 0 { "?".to_string() } else { f.rows.to_string() },
                                human_bytes(f.bytes)
                            ),
                        },
                    );
                    match s.effect.as_ref().and_then(|e| e.mysql.as_ref()) {
                        Some(ddl) => {
                            let (how, what) = mysql_cost(ddl);
                            writeln!(out, "        {how} on {rel} ({what}; {size})")?;
                        }
                        None => writeln!(out, "        {mode} on {rel} ({}; {size})", mode.blocks())?,
                    }
                }
                if let Some(effect) = &s.effect {
                    let mysql = effect.mysql.as_ref().filter(|d| d.ddl);
                    let work = match (mysql.and_then(|d| d.algorithm), effect.rewrites, effect.scans) {
                        (Some(cutover_analysis::Algorithm::Copy), ..) => Some("copies the table"),
                        (Some(cutover_analysis::Algorithm::Inplace), ..) => {
                            s.estimate.map(|_| "works through the table in place")
                        }
                        (Some(_), ..) => None,
                        (None, true, _) => Some("rewrites the table"),
                        (None, false, true) => Some("scans the table"),
                        _ => None,
                    };
                    if let Some(work) = work {
                        let estimate =
                            s.estimate.map(|d| format!(", about {} here", duration_text(d))).unwrap_or_default();
                        writeln!(out, "        {work}{estimate}")?;
                    }
                }
                for (on, d) in &s.dependents {
                    writeln!(out, "        {on} is used by {} {}", d.kind, d.name)?;
                }
                match &s.queries {
                    Some(queries) if !queries.is_empty() => {
                        let calls: i64 = queries.iter().map(|(_, q)| q.calls).sum();
                        writeln!(
                            out,
                            "        still read by {} recorded statements ({calls} calls), e.g. {}",
                            queries.len(),
                            queries[0].1.query
                        )?;
                    }
                    _ => {}
                }
                // Who it would wait for now: what to wait out, or stop, before running it.
                let waits = if plan.lock_holders_exact { "would wait now for" } else { "may wait now for" };
                for (_, session) in &s.waits_for {
                    writeln!(out, "        {waits} {}", session.description)?;
                }
                if !plan.lock_holders_exact && !s.waits_for.is_empty() {
                    writeln!(out, "        (a guess: this server does not say who holds a metadata lock; MariaDB's `INSTALL SONAME 'metadata_lock_info'` makes it exact)")?;
                }
            }
            for d in &m.diagnostics {
                let style = match d.severity {
                    Severity::Error => AnsiColor::Red.on_default().bold(),
                    Severity::Warning => AnsiColor::Yellow.on_default().bold(),
                    Severity::Info => AnsiColor::Cyan.on_default().bold(),
                };
                writeln!(out, "  {style}{}[{}]{style:#} line {}: {}", d.severity.name(), d.rule, d.line, d.message)?;
                writeln!(out, "      help: {}", d.help)?;
            }
            writeln!(out)?;
        }
        if let Some(line) = &stops_before {
            writeln!(out, "{bold}{line}{bold:#}")?;
            let mut rendered = Vec::new();
            crate::lint::render_phases(&mut rendered, phases)?;
            out.write_all(&rendered)?;
            writeln!(out)?;
        }
        if let Some(unseen) = &plan.unseen_transactions {
            writeln!(out, "{dim}{}{dim:#}", unseen.sentence())?;
        }
        let rate = plan.measured_scan_rate.map_or_else(
            || "estimates assume 200 MB/s".to_string(),
            |r| format!("read rate measured here: {}/s", human_bytes(r as i64)),
        );
        let declarative = if plan.stops_before.is_some() { " (then a declarative one)" } else { "" };
        writeln!(
            out,
            "{}{declarative}, {}; {rate}",
            count(plan.migrations.len(), "pending SQL migration", "pending SQL migrations"),
            count(errors, "error", "errors")
        )?;
    }
    Ok(if errors > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}

/// How `rehearse` builds its scratch database.
pub struct ScratchKind {
    /// A copy (`CREATE DATABASE ... TEMPLATE`) rather than a replay into an empty one.
    pub template: bool,
    /// Rows of each table to copy into a replayed scratch database.
    pub sample_rows: u64,
}

/// The server `rehearse` makes its scratch database on.
pub enum RehearseOn {
    /// PostgreSQL, the target already connected.
    Postgres(Box<cutover_postgres::PgTarget>),
    /// MySQL/MariaDB: a database beside the target's on its server.
    Mysql,
}

/// A scratch database of either engine.
enum Scratch {
    Postgres(Box<cutover_postgres::ScratchDatabase>),
    Mysql(Box<cutover_mysql::MysqlScratch>),
}

impl Scratch {
    fn target(&mut self) -> &mut dyn cutover_engine::Rehearsal {
        match self {
            Scratch::Postgres(s) => &mut s.target,
            Scratch::Mysql(s) => &mut s.target,
        }
    }

    fn copied(&self) -> bool {
        match self {
            Scratch::Postgres(s) => s.from_template,
            Scratch::Mysql(s) => s.from_copy,
        }
    }

    fn name(&self) -> String {
        match self {
            Scratch::Postgres(s) => s.name().to_string(),
            Scratch::Mysql(s) => s.name().to_string(),
        }
    }

    fn drop_database(self) -> Result<(), cutover_engine::DbError> {
        match self {
            Scratch::Postgres(s) => (*s).drop_database(),
            Scratch::Mysql(s) => (*s).drop_database(),
        }
    }
}

pub fn rehearse(
    settings: &Settings,
    set: &MigrationSet,
    url: &DatabaseUrl,
    on: RehearseOn,
    kind: ScratchKind,
    format: Format,
    report_file: Option<std::path::PathBuf>,
) -> anyhow::Result<ExitStatus> {
    let ScratchKind { template, sample_rows } = kind;
    // Said before a rehearsal that may take minutes, not after it.
    if let Some(file) = report_file.as_deref() {
        if let Some(folder) = missing_folder(file) {
            return Err(usage_error(format!(
                "cannot write the report to {}: the folder {} does not exist; create the folder or name another file",
                file.display(),
                folder.display()
            )));
        }
        if file.is_dir() {
            return Err(usage_error(format!(
                "cannot write the report to {}: it is a folder; name a file in it, such as {}",
                file.display(),
                file.join("rehearsal.html").display()
            )));
        }
        // A migration (or anything in the migrations folder) is never overwritten by a report.
        let in_migrations = std::fs::canonicalize(
            file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")),
        )
        .ok()
        .zip(std::fs::canonicalize(&settings.dir).ok())
        .is_some_and(|(folder, migrations)| folder.starts_with(migrations));
        if in_migrations {
            return Err(usage_error(format!(
                "cannot write the report to {}: it would go among the migrations; name an .html file elsewhere",
                file.display()
            )));
        }
        if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("sql")) {
            return Err(usage_error(format!(
                "cannot write the report to {}: a .sql file is a script, not a report; name an .html file",
                file.display()
            )));
        }
        // Writable, found out now: opened to append (nothing is truncated), or made and removed.
        let existed = file.exists();
        let opened = std::fs::OpenOptions::new().append(true).create(true).open(file);
        if let Err(err) = opened {
            return Err(usage_error(format!("cannot write the report to {}: {err}", file.display())));
        }
        if !existed {
            let _ = std::fs::remove_file(file);
        }
    }
    let cannot_create = |err: cutover_engine::DbError| {
        usage_error(format!("cannot create a scratch database beside {url}: {}", url.scrub(&err.to_string())))
    };
    let (history, mut scratch) = match on {
        RehearseOn::Postgres(mut live) => {
            let history = with_url(url, cutover_runner::read_history(&mut *live, settings))?;
            // A copy needs the database to itself: this session goes before it is made.
            drop(live);
            let options = cutover_postgres::ConnectOptions {
                history_table: settings.history_table.clone(),
                application_name: format!("cutover {} rehearse", env!("CARGO_PKG_VERSION")),
            };
            let scratch = cutover_postgres::ScratchDatabase::create(url, &options, template).map_err(cannot_create)?;
            for leftover in &scratch.dropped_leftovers {
                writeln!(
                    anstream::stderr(),
                    "note: dropped {leftover}, a scratch database an interrupted run left behind"
                )?;
            }
            (history, Scratch::Postgres(Box::new(scratch)))
        }
        RehearseOn::Mysql => {
            let mut live = crate::connect_any(url, settings)?;
            let history = with_url(url, cutover_runner::read_history(live.migration(), settings))?;
            drop(live);
            let scratch =
                cutover_mysql::MysqlScratch::create(url, &settings.history_table, template).map_err(cannot_create)?;
            for leftover in &scratch.dropped_leftovers {
                writeln!(
                    anstream::stderr(),
                    "note: dropped {leftover}, a scratch database an interrupted run left behind"
                )?;
            }
            for left_out in &scratch.left_out {
                writeln!(anstream::stderr(), "note: not copied into the scratch database: {left_out}")?;
            }
            (history, Scratch::Mysql(Box::new(scratch)))
        }
    };
    let copied = scratch.copied();
    let report = cutover_runner::rehearse(scratch.target(), settings, set, &history, copied, sample_rows);
    let name = scratch.name();
    // The scratch database goes whatever happened.
    let dropped = scratch.drop_database();
    let report = with_url(url, report)?;
    if let Err(err) = dropped {
        writeln!(anstream::stderr(), "warning: could not drop the scratch database {name}: {err}")?;
    }
    // The rehearsal is printed whatever happens to the file.
    let status = render_rehearsal(&report, copied, &name, format)?;
    if let Some(file) = report_file {
        let generated_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let how = format!("{} ({name}, dropped)", scratch_description(&report, copied));
        let page = crate::report::html::rehearsal(&report, &how, &generated_at);
        std::fs::write(&file, page).with_context(|| format!("cannot write the report to {}", file.display()))?;
        writeln!(anstream::stderr(), "wrote the report to {}", file.display())?;
    }
    Ok(status)
}

/// The folder `file` would be written in, when it does not exist.
fn missing_folder(file: &std::path::Path) -> Option<&std::path::Path> {
    file.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists())
}

/// What the scratch database was: "a copy of the database", or "an empty database with 3
/// applied migrations replayed and a sample of ...".
fn scratch_description(report: &RehearsalReport, copied: bool) -> String {
    let sample = report.sampled.as_ref().map_or_else(String::new, |s| {
        let skipped = if s.skipped.is_empty() { String::new() } else { format!(" ({} left empty)", s.skipped.len()) };
        format!(" and a sample of {} in {}{skipped}", count(s.rows, "row", "rows"), count(s.tables, "table", "tables"))
    });
    if copied && report.mysql {
        return format!("a copy of the database's tables{sample}");
    }
    if copied {
        return "a copy of the database".to_string();
    }
    format!(
        "an empty database with {} replayed{sample}",
        count(report.replayed, "applied migration", "applied migrations")
    )
}

fn render_rehearsal(
    report: &RehearsalReport,
    copied: bool,
    scratch: &str,
    format: Format,
) -> anyhow::Result<ExitStatus> {
    let mut out = anstream::stdout();
    let problems = report.problems();
    if format == Format::Json {
        let migrations: Vec<Value> = report
            .migrations
            .iter()
            .map(|m| {
                let (round_trip, after_down, after_reapply, down_error) = match &m.round_trip {
                    RoundTrip::NoDown => ("no down script", vec![], vec![], None),
                    RoundTrip::NotTried => ("not tried", vec![], vec![], None),
                    RoundTrip::Reverses => ("reverses", vec![], vec![], None),
                    RoundTrip::DownFailed(e) => ("down failed", vec![], vec![], Some(e.clone())),
                    RoundTrip::Differs { after_down, after_reapply } => ("differs", after_down.clone(), after_reapply.clone(), None),
                };
                json!({
                    "migration": m.label,
                    "path": m.path.display().to_string(),
                    "seconds": m.duration.as_secs_f64(),
                    "failure": m.failure,
                    "round_trip": round_trip,
                    "down_error": down_error,
                    "schema_after_down": after_down,
                    "schema_after_reapply": after_reapply,
                    "statements": m.statements.iter().map(|s| json!({
                        "line": s.line,
                        "sql": s.sql,
                        // PostgreSQL's lock modes; MySQL/MariaDB's statements have algorithms instead.
                        "predicted_locks": (!report.mysql).then(|| s.predicted_locks.iter().map(|(r, m)| json!({"relation": r, "mode": m.name()})).collect::<Vec<_>>()),
                        "observed_locks": if s.observed.locks_observed {
                            Some(s.observed.locks.iter().map(|l| json!({"relation": l.relation, "kind": l.kind, "mode": l.mode})).collect::<Vec<_>>())
                        } else { None },
                        "predicted_rewrite": s.predicted_rewrite,
                        "predicted_algorithm": s.predicted_algorithm,
                        "observed_algorithm": s.observed.mysql_algorithm,
                        "predicted_concurrent_writes": s.predicted_concurrent_writes,
                        "observed_concurrent_writes": s.observed.mysql_concurrent_writes,
                        "rewritten": s.observed.rewritten,
                        "seconds": s.observed.duration.as_secs_f64(),
                        "disagreements": s.disagreements,
                        "failed": s.failed,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let json = json!({
            "scratch": if copied { "copy" } else { "replay" },
            "scratch_database": scratch,
            "replayed": report.replayed,
            "sampled": report.sampled.as_ref().map(|s| json!({"tables": s.tables, "rows": s.rows, "skipped": s.skipped})),
            "migrations": migrations,
            "not_rehearsed": report.not_rehearsed,
            "problems": problems,
        });
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else {
        let bold = Style::new().bold();
        let red = AnsiColor::Red.on_default().bold();
        let green = AnsiColor::Green.on_default();
        let how = scratch_description(report, copied);
        writeln!(out, "rehearsed on {how} ({scratch}, dropped)")?;
        for m in &report.migrations {
            writeln!(out, "{bold}{}{bold:#}  ({}, {})", m.label, m.path.display(), duration_text(m.duration))?;
            for s in &m.statements {
                if s.disagreements.is_empty() {
                    continue;
                }
                writeln!(out, "  line {}: {}", s.line, head(&s.sql))?;
                for d in &s.disagreements {
                    writeln!(out, "    {red}disagreement{red:#}: {d}")?;
                }
            }
            // Only statements whose locks were seen count as checked.
            let observed = m.statements.iter().filter(|s| s.observed.locks_observed).count();
            let agreed =
                m.statements.iter().filter(|s| s.observed.locks_observed && s.disagreements.is_empty()).count();
            let unobservable = m.statements.iter().filter(|s| !s.observed.locks_observed && !s.failed).count();
            // MySQL/MariaDB: each DDL statement's algorithm and lock, as the server accepted them.
            let checked = m.statements.iter().filter(|s| s.observed.mysql_concurrent_writes.is_some()).count();
            let unobservable = if report.mysql { unobservable - checked } else { unobservable };
            if checked > 0 {
                let agreed = m
                    .statements
                    .iter()
                    .filter(|s| s.observed.mysql_concurrent_writes.is_some() && s.disagreements.is_empty())
                    .count();
                writeln!(
                    out,
                    "  {agreed} of {} ran with the algorithm and lock predicted",
                    count(checked, "DDL statement", "DDL statements")
                )?;
            }
            if report.mysql && unobservable > 0 {
                writeln!(
                    out,
                    "  {} not checked: data changes, CREATE/DROP, or DDL that writes its own ALGORITHM=/LOCK=",
                    count(unobservable, "statement", "statements")
                )?;
            }
            if observed > 0 {
                writeln!(
                    out,
                    "  {agreed} of {} behaved as predicted",
                    count(observed, "observed statement", "observed statements")
                )?;
            }
            if !report.mysql && unobservable > 0 {
                writeln!(
                    out,
                    "  {} outside a transaction: locks not observable",
                    count(unobservable, "statement", "statements")
                )?;
            }
            if let Some(failure) = &m.failure {
                writeln!(out, "  {red}failed{red:#}: {failure}")?;
            }
            match &m.round_trip {
                RoundTrip::Reverses => writeln!(out, "  {green}down reverses up{green:#}, and up applies again")?,
                RoundTrip::NoDown => writeln!(out, "  no down script: no way back was tested")?,
                RoundTrip::NotTried => {}
                RoundTrip::DownFailed(e) => writeln!(out, "  {red}down failed{red:#}: {e}")?,
                RoundTrip::Differs { after_down, after_reapply } => {
                    if !after_down.is_empty() {
                        writeln!(out, "  {red}down does not reverse up{red:#} (- before up, + after down):")?;
                        for line in after_down {
                            writeln!(out, "    {line}")?;
                        }
                    }
                    if !after_reapply.is_empty() {
                        writeln!(out, "  {red}up after down gives another schema{red:#} (- first up, + again):")?;
                        for line in after_reapply {
                            writeln!(out, "    {line}")?;
                        }
                    }
                }
            }
        }
        if !report.not_rehearsed.is_empty() {
            writeln!(out, "not rehearsed, as an earlier migration failed: {}", report.not_rehearsed.join(", "))?;
        }
        writeln!(
            out,
            "{} rehearsed, {}",
            count(report.migrations.len(), "migration", "migrations"),
            count(problems, "problem", "problems")
        )?;
    }
    Ok(if problems > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}
