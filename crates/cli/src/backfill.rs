//! `cutover backfill`: arguments to a spec, signals to a stop flag, events to a progress bar.

use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cutover_backfill::{BackfillSpec, Event, Options, Reporter, RowTotal};
use cutover_engine::{count, BackfillTarget, Checkpoint, DatabaseUrl, Pace};
use cutover_runner::Settings;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::args::{BackfillArgs, Format};
use crate::{usage_error, ExitStatus};

pub fn run(settings: &Settings, args: BackfillArgs) -> anyhow::Result<ExitStatus> {
    let (url, mut target) = crate::open_backfill(settings, &args.replica_urls)?;
    if args.status {
        let cannot =
            |e: cutover_engine::DbError| usage_error(format!("cannot read backfills: {}", url.scrub(&e.to_string())));
        let checkpoints = target.list_checkpoints().map_err(cannot)?;
        let mut running = Vec::new();
        for checkpoint in &checkpoints {
            // Asked only of one that says it runs (a rewrite's copy holds a lock of its
            // checkpoint's name too, while it copies).
            let runs = checkpoint.state == cutover_engine::CheckpointState::Running
                && cutover_backfill::running_now(&mut *target, &checkpoint.name).map_err(cannot)?;
            running.push(runs);
        }
        render_status(&checkpoints, &running, args.format)?;
        return Ok(ExitStatus::Success);
    }
    let spec = spec_of(settings, &args)?;
    let options = Options {
        batch_time: args.batch_time,
        min_batch_time: args.min_batch_time,
        // `--max-batch 7` alone means batches of at most 7: the default smallest (10) follows it.
        min_batch: if args.min_batch == DEFAULT_MIN_BATCH {
            args.min_batch.min(args.max_batch)
        } else {
            args.min_batch
        },
        max_batch: args.max_batch,
        initial_batch: args.initial_batch,
        max_replica_lag: args.max_replica_lag,
        expected_replicas: args.replicas,
        max_rows_per_second: args.max_rows_per_second,
        pause: args.pause.unwrap_or(Duration::ZERO),
        health_check: args.health_check.clone(),
        max_blind_pause: args.max_blind_pause,
        ..batch_options(settings)
    };
    if args.dry_run {
        return dry_run(&mut *target, &spec, &options);
    }

    let stop = stop_on_signals()?;
    let mut reporter = ProgressReporter::new(&spec.name, &url);
    let res = cutover_backfill::run(&mut *target, &spec, &options, &mut reporter, &stop);
    reporter.finish();
    let summary = res.map_err(|err| usage_error(url.scrub(&err.to_string())))?;
    let checkpoint = &summary.checkpoint;
    let mut out = anstream::stdout();
    if summary.already_done {
        write!(
            out,
            "backfill {} was already done: {} in {}",
            checkpoint.name,
            count(checkpoint.rows_updated, "row updated", "rows updated"),
            count(checkpoint.batches, "batch", "batches")
        )?;
        if checkpoint.condition.is_some() {
            // Rows that match the condition now may be rows it did whose update left them
            // matching: running it again would do them twice. Doing them again is a new
            // backfill, asked for by name.
            write!(
                out,
                "; it does not run again, as it would do rows twice. To update the rows that match its condition now, run it under another name (--name for an ad hoc backfill, a new `name` for a declared one)"
            )?;
        }
        writeln!(out)?;
        return Ok(ExitStatus::Success);
    }
    let seconds = summary.duration.as_secs_f64().max(0.001);
    if summary.interrupted {
        writeln!(
            out,
            "backfill {} stopped after {} walked ({} updated, {}); progress is saved: run the same command again to resume",
            checkpoint.name,
            count(checkpoint.rows_scanned, "row", "rows"),
            checkpoint.rows_updated,
            count(checkpoint.batches, "batch", "batches")
        )?;
        return Ok(ExitStatus::Interrupted);
    }
    writeln!(
        out,
        "backfill {} done: {} ({} walked) in {}, {:.1} s",
        checkpoint.name,
        count(checkpoint.rows_updated, "row updated", "rows updated"),
        checkpoint.rows_scanned,
        count(checkpoint.batches, "batch", "batches"),
        seconds
    )?;
    Ok(ExitStatus::Success)
}

/// What the settings say of batches (timeouts, retries, who runs them); the defaults for the rest.
pub(crate) fn batch_options(settings: &Settings) -> Options {
    Options {
        lock_timeout: settings.lock_timeout,
        // A batch is never unbounded: 30 s unless the settings give a limit.
        statement_timeout: if settings.statement_timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            settings.statement_timeout
        },
        lock_retries: settings.lock_retries,
        retry_backoff: settings.retry_backoff,
        lock_wait: settings.runner_lock_wait,
        runner: format!("cutover {} {}", env!("CARGO_PKG_VERSION"), cutover_runner::runner_identity()),
        ..Options::default()
    }
}

/// A flag the first SIGINT or SIGTERM sets, for a loop to stop after its batch; a second one
/// exits at once (130).
pub(crate) fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .context("cannot watch for signals")?;
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("cannot watch for signals")?;
    }
    Ok(stop)
}

fn spec_of(settings: &Settings, args: &BackfillArgs) -> anyhow::Result<BackfillSpec> {
    match (&args.declared, &args.table, &args.set) {
        (Some(name), None, None) => cutover_backfill::find_declared(&settings.dir, name).map_err(usage_error),
        (None, Some(table), Some(set)) => Ok(BackfillSpec::new(args.name.clone(), table, set, args.condition.as_deref())),
        (Some(_), _, _) => Err(usage_error("give either the name of a declared backfill or --table and --set, not both")),
        _ => Err(usage_error(
            "say what to backfill: `cutover backfill NAME` for one declared in a .toml file of the migrations directory, or `cutover backfill --table T --set \"col = expr\" [--where \"cond\"]`",
        )),
    }
}

fn dry_run(target: &mut dyn BackfillTarget, spec: &BackfillSpec, options: &Options) -> anyhow::Result<ExitStatus> {
    options.check().map_err(usage_error)?;
    let job = cutover_backfill::prepare(target, spec).map_err(usage_error)?;
    if let Some(check) = &options.health_check {
        cutover_backfill::validate_health_check(target, check, options).map_err(usage_error)?;
    }
    let mut out = anstream::stdout();
    let key: Vec<&str> = job.key.columns.iter().map(|c| c.name.as_str()).collect();
    writeln!(
        out,
        "backfill {} on {} in batches over its {} ({})",
        spec.name,
        job.key.table,
        job.key.source,
        key.join(", ")
    )?;
    // What it walks (every row of the key range) and what it changes (the rows its condition
    // selects now), each counted when that is cheap.
    if let Some(total) = cutover_backfill::row_total(target, &job, false) {
        let matching = match job.condition {
            Some(_) => cutover_backfill::row_total(target, &job, true)
                .map(|m| format!("; {} match the condition now", m.describe())),
            None => None,
        };
        writeln!(out, "{} to walk{}", total.describe(), matching.unwrap_or_default())?;
    }
    writeln!(
        out,
        "\nfirst batch, {} rows:\n{}",
        options.initial_batch,
        target.batch_statement(&job, true, options.initial_batch)
    )?;
    writeln!(
        out,
        "\nlater batches ($1.. = the last key done):\n{}",
        target.batch_statement(&job, false, options.initial_batch)
    )?;
    let boundaries = target.batch_boundaries(&job, options.initial_batch, 3).map_err(|e| usage_error(e.to_string()))?;
    writeln!(out, "\nfirst batches (keys, at {} rows each):", options.initial_batch)?;
    if boundaries.is_empty() {
        writeln!(out, "  none: no row matches")?;
    }
    for (idx, range) in boundaries.iter().enumerate() {
        writeln!(out, "  {}: ({}) .. ({})", idx + 1, range.first.join(", "), range.last.join(", "))?;
    }
    writeln!(out, "\nnothing was written")?;
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
pub(crate) struct CheckpointJson<'a> {
    name: &'a str,
    table: &'a str,
    set: &'a str,
    condition: Option<&'a str>,
    state: &'a str,
    state_now: &'a str,
    pass: i32,
    rows_updated: i64,
    rows_scanned: i64,
    batches: i64,
    batch_size: i64,
    last_key: Option<&'a [String]>,
    error: Option<&'a str>,
    runner: &'a str,
    started_at: &'a str,
    updated_at: &'a str,
    /// The pace when it last saved progress: `null` before its first batch.
    pace: Option<PaceJson<'a>>,
}

/// A checkpoint's state as it stands, and why when that is not what it recorded: `running`
/// with nobody running it is a run that was stopped or killed.
pub(crate) fn state_now(state: cutover_engine::CheckpointState, running: bool) -> (&'static str, Option<&'static str>) {
    match (state, running) {
        (cutover_engine::CheckpointState::Running, false) => (
            "stopped",
            Some("no cutover runs it: a run was stopped or killed before it finished; the same command resumes it"),
        ),
        (state, _) => (state.name(), None),
    }
}

impl<'a> CheckpointJson<'a> {
    /// A checkpoint as `--status --format json` shows it (a rewrite's copy too): its state as
    /// recorded, and as it stands (`running` recorded with nobody running it is `stopped`).
    pub(crate) fn of(c: &'a Checkpoint, running: bool) -> CheckpointJson<'a> {
        CheckpointJson {
            name: &c.name,
            table: &c.table,
            set: &c.set,
            condition: c.condition.as_deref(),
            state: c.state.name(),
            state_now: state_now(c.state, running).0,
            pass: c.pass,
            rows_updated: c.rows_updated,
            rows_scanned: c.rows_scanned,
            batches: c.batches,
            batch_size: c.batch_size,
            last_key: c.last_key.as_deref(),
            error: c.error.as_deref(),
            runner: &c.runner,
            started_at: &c.started_at,
            updated_at: &c.updated_at,
            pace: c.pace.as_ref().map(|p| PaceJson {
                batch_time_ms: p.batch_time.as_millis(),
                app_sessions_waited: p.sessions_waited,
                longest_wait_ms: p.longest_wait.as_millis(),
                reason: &p.reason,
            }),
        }
    }
}

#[derive(Serialize)]
struct PaceJson<'a> {
    batch_time_ms: u128,
    app_sessions_waited: u64,
    longest_wait_ms: u128,
    reason: &'a str,
}

/// `batch 40 ms: 3 app sessions waited on our locks, longest 12 ms`.
fn describe_pace(pace: &Pace) -> String {
    format!("batch {} ms: {}", pace.batch_time.as_millis(), pace.reason)
}

fn render_status(checkpoints: &[Checkpoint], running: &[bool], format: Format) -> anyhow::Result<()> {
    let mut out = anstream::stdout();
    if format == Format::Json {
        let list: Vec<serde_json::Value> = checkpoints
            .iter()
            .zip(running)
            .map(|(c, running)| {
                let mut json = serde_json::to_value(CheckpointJson::of(c, *running)).unwrap_or_default();
                json["running_now"] = serde_json::Value::Bool(*running);
                json
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "backfills": list }))?;
        writeln!(out)?;
        return Ok(());
    }
    if checkpoints.is_empty() {
        writeln!(out, "no backfills yet")?;
        return Ok(());
    }
    for (c, running) in checkpoints.iter().zip(running) {
        let last = c.last_key.as_ref().map(|k| format!(", last key ({})", k.join(", "))).unwrap_or_default();
        let (state, why) = state_now(c.state, *running);
        writeln!(
            out,
            "{:<28} {:<8} {} walked, {} updated, {}, batch size {}{last}, updated {}",
            c.name,
            state,
            cutover_engine::count(c.rows_scanned, "row", "rows"),
            c.rows_updated,
            cutover_engine::count(c.batches, "batch", "batches"),
            c.batch_size,
            c.updated_at
        )?;
        if let Some(why) = why {
            writeln!(out, "{:<28} {why}", "")?;
        }
        if let Some(pace) = c.pace.as_ref().filter(|_| c.state != cutover_engine::CheckpointState::Done) {
            writeln!(out, "{:<28} pace: {}", "", describe_pace(pace))?;
        }
        if let Some(error) = &c.error {
            writeln!(out, "{:<28} error: {error}", "")?;
        }
    }
    Ok(())
}

/// A progress bar on a terminal; a log line every few seconds elsewhere.
pub(crate) struct ProgressReporter {
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
    rows_at_start: i64,
    total: Option<RowTotal>,
    last_line: Option<Instant>,
    // Every line loses this URL's password, whatever text a database error carries into it.
    url: DatabaseUrl,
}

impl ProgressReporter {
    pub(crate) fn new(name: &str, url: &DatabaseUrl) -> ProgressReporter {
        ProgressReporter {
            name: name.to_string(),
            bar: None,
            started: Instant::now(),
            rows_at_start: 0,
            total: None,
            last_line: None,
            url: url.clone(),
        }
    }

    fn line(&self, text: &str) {
        let text = self.url.scrub(text);
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(anstream::stderr(), "{text}");
            }
        }
    }

    /// Rows per second of this run (rows done by an earlier run do not count), and the time
    /// left at that rate.
    fn rate_and_eta(&self, rows_scanned: i64) -> (f64, String) {
        let done_now = (rows_scanned - self.rows_at_start).max(0) as f64;
        let rate = done_now / self.started.elapsed().as_secs_f64().max(0.001);
        let eta = match self.total {
            Some(total) if rate > 0.0 => {
                let left = (total.rows as f64 - rows_scanned as f64).max(0.0);
                format!("{:.0}s", left / rate)
            }
            _ => "?".to_string(),
        };
        (rate, eta)
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for ProgressReporter {
    fn report(&mut self, event: Event<'_>) {
        match event {
            Event::WaitingForLock { holder }
                if self.last_line.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) =>
            {
                self.last_line = Some(Instant::now());
                self.line(&format!(
                    "waiting for another process running backfill {}: {}",
                    self.name, holder.description
                ));
            }
            Event::Started { name, key, total, resumed } => {
                self.total = total;
                let columns: Vec<&str> = key.columns.iter().map(|c| c.name.as_str()).collect();
                let how = match resumed {
                    Some(c) => format!("resuming backfill {name} after {} rows", c.rows_scanned),
                    None => format!("backfill {name}"),
                };
                self.rows_at_start = resumed.map_or(0, |c| c.rows_scanned);
                if std::io::stderr().is_terminal() {
                    let bar = match total {
                        Some(total) => ProgressBar::new(total.rows.max(self.rows_at_start as u64)),
                        None => ProgressBar::new_spinner(),
                    };
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {bar:30} {human_pos}/{human_len} rows  {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_position(self.rows_at_start as u64);
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.bar = Some(bar);
                }
                let walks = total.map(|t| format!(": {} to walk", t.describe())).unwrap_or_default();
                self.line(&format!("{how} on {} over its {} ({}){walks}", key.table, key.source, columns.join(", ")));
            }
            Event::Batch { checkpoint, next_size, pace, .. } => {
                if let Some(bar) = &self.bar {
                    if bar.length().is_some_and(|len| checkpoint.rows_scanned as u64 > len) {
                        bar.set_length(checkpoint.rows_scanned as u64);
                    }
                    bar.set_position(checkpoint.rows_scanned as u64);
                    let (rate, eta) = self.rate_and_eta(checkpoint.rows_scanned);
                    bar.set_message(self.url.scrub(&format!(
                        "{rate:.0} rows/s, ETA {eta}, {next_size} rows a batch; {}",
                        describe_pace(pace)
                    )));
                    return;
                }
                if self.last_line.is_some_and(|at| at.elapsed() < Duration::from_secs(2)) {
                    return;
                }
                self.last_line = Some(Instant::now());
                let (rate, eta) = self.rate_and_eta(checkpoint.rows_scanned);
                let percent = match self.total {
                    Some(total) if total.rows > 0 => {
                        format!(" ({:.0}%)", (100.0 * checkpoint.rows_scanned as f64 / total.rows as f64).min(100.0))
                    }
                    _ => String::new(),
                };
                self.line(&format!(
                    "backfill {}: {} rows{percent}, {rate:.0} rows/s, ETA {eta}, {next_size} rows a batch; {}",
                    self.name,
                    checkpoint.rows_scanned,
                    describe_pace(pace)
                ));
            }
            Event::Throttled { reason } => match &self.bar {
                Some(bar) => bar.set_message(self.url.scrub(&format!("paused: {reason}"))),
                None => self.line(&format!("backfill {} paused: {reason}", self.name)),
            },
            Event::Resumed => match &self.bar {
                Some(bar) => bar.set_message(""),
                None => self.line(&format!("backfill {} resumed", self.name)),
            },
            Event::Retrying { attempt, tries, delay, error } => self.line(&format!(
                "backfill {}: batch not granted its locks (try {attempt} of {tries}): {}; retrying in {} ms",
                self.name,
                error.message,
                delay.as_millis()
            )),
            _ => {}
        }
    }
}

/// `--min-batch`'s default, which gives way to a smaller `--max-batch`.
const DEFAULT_MIN_BATCH: u64 = 10;
