//! `cutover drift`, and the warning `up --check-drift` gives before it applies anything.

use std::io::Write;
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use cutover_engine::{count, DatabaseUrl};
use cutover_migration::MigrationSet;
use cutover_runner::{Change, Difference, DriftReport, Settings};
use serde_json::{json, Value};

use crate::args::Format;
use crate::{database_url, open_postgres, read_migrations, usage_error, with_url, ExitStatus};

/// Up to this many differences, `up` names each; beyond, it counts them.
const LISTED_BEFORE_UP: usize = 10;

/// What was compared, and how long it took.
struct Checked {
    report: DriftReport,
    scratch: String,
    duration: Duration,
}

/// `cutover drift`: exit 1 when the database differs from what its applied migrations build.
pub fn run(settings: &Settings, format: Format) -> anyhow::Result<ExitStatus> {
    let set = read_migrations(settings)?;
    let url = database_url(settings)?;
    let checked = check(settings, &set, &url, "`cutover drift`")?;
    render(&checked, format)?;
    Ok(if checked.report.drifted() { ExitStatus::Failure } else { ExitStatus::Success })
}

/// Before `up`: a warning on stderr when the database has drifted. The check only warns, so
/// when it cannot be made (no CREATEDB, migrations that do not replay) that is a warning too.
pub fn warn_before_up(settings: &Settings, set: &MigrationSet, url: &DatabaseUrl) -> anyhow::Result<()> {
    if url.engine() != cutover_engine::Engine::Postgres {
        return Err(usage_error(format!(
            "the drift check (`--check-drift`, `check_drift`) needs PostgreSQL; {url} is not a PostgreSQL database"
        )));
    }
    let mut err = anstream::stderr();
    let style = AnsiColor::Yellow.on_default().bold();
    let checked = match check(settings, set, url, "`cutover up --check-drift`") {
        Ok(checked) => checked,
        Err(e) => {
            writeln!(err, "{style}warning:{style:#} cannot check for drift: {e:#}")?;
            return Ok(());
        }
    };
    let differences = &checked.report.differences;
    if differences.is_empty() {
        return Ok(());
    }
    let what = "the database has drifted from what its applied migrations build";
    if differences.len() > LISTED_BEFORE_UP {
        writeln!(
            err,
            "{style}warning:{style:#} {what}: {}; run `cutover drift` to list them",
            count(differences.len(), "difference", "differences")
        )?;
    } else {
        writeln!(err, "{style}warning:{style:#} {what}:")?;
        for difference in differences {
            writeln!(err, "  {}", difference.summary())?;
        }
        writeln!(err, "  `cutover drift` shows each in full")?;
    }
    Ok(())
}

/// Builds what the applied migrations make on a scratch database beside `url`'s, compares it
/// with the database, and drops the scratch database.
fn check(settings: &Settings, set: &MigrationSet, url: &DatabaseUrl, command: &'static str) -> anyhow::Result<Checked> {
    let started = Instant::now();
    let mut live = open_postgres(settings, url, command)?;
    let history = with_url(url, cutover_runner::read_history(&mut live, settings))?;
    let options = cutover_postgres::ConnectOptions {
        history_table: settings.history_table.clone(),
        application_name: format!("cutover {} drift", env!("CARGO_PKG_VERSION")),
    };
    let mut scratch = cutover_postgres::ScratchDatabase::create(url, &options, false).map_err(|err| {
        usage_error(format!(
            "cannot create a scratch database beside {url}: {}; drift builds there what the applied migrations make (the role needs CREATEDB)",
            url.scrub(&err.to_string())
        ))
    })?;
    for leftover in &scratch.dropped_leftovers {
        writeln!(anstream::stderr(), "note: dropped {leftover}, a scratch database an interrupted run left behind")?;
    }
    let report = cutover_runner::drift(&mut scratch.target, &mut live, set, &history);
    let name = scratch.name().to_string();
    // The scratch database goes whatever happened.
    let dropped = scratch.drop_database();
    let report = with_url(url, report)?;
    if let Err(err) = dropped {
        writeln!(anstream::stderr(), "warning: could not drop the scratch database {name}: {err}")?;
    }
    Ok(Checked { report, scratch: name, duration: started.elapsed() })
}

fn render(checked: &Checked, format: Format) -> anyhow::Result<()> {
    let Checked { report, scratch, duration } = checked;
    let mut out = anstream::stdout();
    if format == Format::Json {
        let repeatables: Vec<Value> = report
            .changed_repeatables
            .iter()
            .map(|r| {
                json!({
                    "migration": r.label,
                    "script": r.script,
                    "differences": r.differences.iter().map(difference_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        let json = json!({
            "drifted": report.drifted(),
            "replayed": report.replayed,
            "scratch_database": scratch,
            "seconds": duration.as_secs_f64(),
            "notes": report.notes,
            "changed_repeatables": repeatables,
            "differences": report.differences.iter().map(difference_json).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
        return Ok(());
    }
    let bold = Style::new().bold();
    let dim = AnsiColor::BrightBlack.on_default();
    let applied = count(report.replayed, "applied migration", "applied migrations");
    writeln!(
        out,
        "compared with what {applied} build, replayed on a scratch database ({scratch}, dropped; {:.1} s)",
        duration.as_secs_f64()
    )?;
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    for repeatable in &report.changed_repeatables {
        writeln!(out, "{}", repeatable.summary())?;
    }
    for d in &report.differences {
        writeln!(out, "{bold}{}{bold:#}", d.summary())?;
        let (migrations, database) = sides(&d.change);
        for (side, definition) in [("migrations", migrations), ("database", database)] {
            if let Some(definition) = definition.filter(|d| !d.is_empty()) {
                writeln!(out, "    {dim}{side:<10}{dim:#}  {definition}")?;
            }
        }
    }
    if report.drifted() {
        let style = AnsiColor::Red.on_default().bold();
        writeln!(
            out,
            "{style}{}{style:#}: the database has drifted from what its migrations build; make the change a migration, or undo it",
            count(report.differences.len(), "difference", "differences")
        )?;
    } else {
        writeln!(out, "no drift: the database has the schema its {applied} build")?;
    }
    Ok(())
}

/// (as the migrations make it, as the database has it).
fn sides(change: &Change) -> (Option<&String>, Option<&String>) {
    match change {
        Change::Added { database } => (None, Some(database)),
        Change::Dropped { migrations } => (Some(migrations), None),
        Change::Changed { migrations, database } => (Some(migrations), Some(database)),
    }
}

fn difference_json(d: &Difference) -> Value {
    let (migrations, database) = sides(&d.change);
    json!({
        "kind": d.kind.name(),
        "name": d.name,
        "change": d.change.name(),
        "migrations": migrations,
        "database": database,
        "with": d.with,
    })
}
