//! The `cutover` command: parse arguments, resolve settings, call the library, render.
//!
//! Everything here is glue. The algorithm lives in `cutover-runner`, the files in
//! `cutover-migration`, the databases in the engine crates, reached through `cutover-any`.

mod args;
mod backfill;
mod drift;
mod expand;
mod lint;
mod live;
mod render;
mod report;
mod review;
mod rewrite;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context as _};
use cutover_any::{AnyTarget, ConnectOptions};
use cutover_engine::{BackfillTarget, DatabaseUrl, DbError, DbErrorKind, MigrationTarget};
use cutover_migration::{create_migration, discover_with, MigrationSet};
use cutover_runner::{Context, DownTarget, Overrides, Settings, UpOptions};

pub use args::Args;
use args::{Command, Format};
use render::TerminalReporter;

/// How a run ended, as an exit code: 0 done, 1 refused or problems found, 2 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for was done.
    Success,
    /// Nothing was wrong with cutover, but the run was refused or found problems.
    Failure,
    /// cutover could not do its job.
    Error,
    /// Stopped by SIGINT or SIGTERM, cleanly; a rerun resumes.
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        match status {
            ExitStatus::Success => ExitCode::from(0),
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
            ExitStatus::Interrupted => ExitCode::from(130),
        }
    }
}

/// An error that carries its exit status (a refusal exits 1, everything else 2).
#[derive(Debug)]
pub struct Exit {
    /// The status to exit with.
    pub status: ExitStatus,
    /// What to print.
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Runs one command.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    // Completions and the manual come from the command line's own definition: a broken
    // cutover.toml must not stop them.
    let settings = match args.command {
        Command::Completions { .. } | Command::Man => Settings::default(),
        _ => resolve_settings(&args)?,
    };
    match args.command {
        Command::Completions { shell } => {
            let mut command = <Args as clap::CommandFactory>::command();
            // Into memory first: the generator panics on a write error (`| head` closing the pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "cutover", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(ExitStatus::Success)
        }
        Command::Man => {
            clap_mangen::Man::new(<Args as clap::CommandFactory>::command()).render(&mut std::io::stdout())?;
            Ok(ExitStatus::Success)
        }
        Command::New { name } => new_migration(&settings, &name),
        Command::Backfill(backfill_args) => backfill::run(&settings, *backfill_args),
        Command::Rewrite(rewrite_args) => rewrite::run(&settings, *rewrite_args),
        Command::Start { batch_time, max_rows_per_second, max_replica_lag } => {
            expand::start(&settings, batch_time, max_rows_per_second, max_replica_lag)
        }
        Command::Complete { force, wait } => expand::complete(&settings, force, wait),
        Command::Rollback => expand::rollback(&settings),
        Command::Lint { paths, format, pg_version, assume_runner, dialect, server_version, changed_since, pending } => {
            let mut settings = settings;
            judge_as(&mut settings, dialect, server_version, pg_version)?;
            if let Some(runner) = assume_runner {
                settings.lint.runner = runner;
            }
            // Only a URL given for this run: a DATABASE_URL set for the application must not
            // make a CI lint reach for a database.
            let live = match &args.global.database_url {
                Some(_) => lint::read_live(&settings)?,
                None => None,
            };
            // The live MySQL/MariaDB server runs the DDL as its version does, unless told
            // otherwise.
            let live_mysql = live
                .as_ref()
                .filter(|_| server_version.is_none() && settings.lint.dialect == cutover_analysis::Dialect::Mysql)
                .and_then(|live| cutover_analysis::MysqlServer::from_server_version(&live.server));
            if let Some(server) = live_mysql {
                settings.lint.mysql_server = server;
            }
            lint::run(&settings, &paths, format, &lint::Only { changed_since, pending }, live.as_ref())
        }
        Command::Explain { name } => lint::explain(name.as_deref()),
        Command::Review { write, dialect, pg_version, server_version } => {
            let mut settings = settings;
            judge_as(&mut settings, dialect, server_version, pg_version)?;
            review::run(&settings, write)
        }
        Command::Adopt { tool } => {
            let set = read_migrations(&settings)?;
            let url = database_url(&settings)?;
            let mut target = connect_any(&url, &settings)?;
            let summary = cutover_runner::adopt(target.adopt(), &settings, &set, tool);
            let summary = with_url(&url, summary)?;
            if summary.adopted.is_empty() {
                writeln!(
                    anstream::stdout(),
                    "adopted no migration from {tool}: its history records none of these applied; `cutover up` applies them all"
                )?;
            } else {
                writeln!(
                    anstream::stdout(),
                    "adopted {} from {tool}: {}; `cutover up` continues from here",
                    cutover_engine::count(summary.adopted.len(), "migration", "migrations"),
                    summary.adopted.join(", ")
                )?;
            }
            Ok(ExitStatus::Success)
        }
        Command::History { format } => {
            let (url, mut target) = open_to_read(&settings)?;
            let unreadable =
                |e: DbError| usage_error(format!("cannot read the history: {}", url.scrub(&e.to_string())));
            let records = if target.history_exists().map_err(unreadable)? {
                target.read_history().map_err(unreadable)?
            } else {
                Vec::new()
            };
            let approvals = target.read_approvals().map_err(unreadable)?;
            let expand = expand::states(&settings, &url)?;
            render::history(&mut anstream::stdout(), &records, &approvals, &expand, format == Format::Json)?;
            Ok(ExitStatus::Success)
        }
        Command::Plan { format, large_table_rows, small_table_rows } => {
            let set = read_migrations(&settings)?;
            let url = database_url(&settings)?;
            let mut target =
                connect_any(&url, &settings)?.into_live("`cutover plan`").map_err(|e| unsupported(&url, &e))?;
            let options = cutover_runner::PlanOptions { large_table_rows, small_table_rows };
            let plan = with_url(&url, cutover_runner::plan(&mut *target, &settings, &set, &options))?;
            // The declarative migration `up` stops before, planned on the live tables as
            // `cutover start` will plan it.
            let phases = match &plan.stops_before {
                Some((_, path)) => match lint::read_live(&settings)? {
                    Some(live) => lint::declarative_phases(
                        &set,
                        &settings.lint,
                        &|_, m| &m.up.path == path,
                        Some(&live),
                        &settings.history_table,
                    ),
                    None => Vec::new(),
                },
                None => Vec::new(),
            };
            live::render_plan(&plan, &phases, format)
        }
        Command::Rehearse { format, template, sample_rows, report } => {
            let set = read_migrations(&settings)?;
            let url = database_url(&settings)?;
            let on = match url.engine() {
                cutover_engine::Engine::Mysql => live::RehearseOn::Mysql,
                _ => live::RehearseOn::Postgres(Box::new(open_postgres(&settings, &url, "`cutover rehearse`")?)),
            };
            live::rehearse(&settings, &set, &url, on, live::ScratchKind { template, sample_rows }, format, report)
        }
        Command::Status { format } => {
            let set = read_migrations(&settings)?;
            let (url, mut target) = open_to_read(&settings)?;
            let statuses = with_url(
                &url,
                cutover_runner::status(&mut context(&mut *target, &settings, &mut TerminalReporter::new(&url)), &set),
            )?;
            // Read before anything is printed: a state that cannot be read fails the command.
            let active = expand::active(&settings, &url)?;
            let mut out = anstream::stdout();
            match format {
                Format::Json => render::status_json(&mut out, &statuses, active.as_ref())?,
                Format::Human => {
                    render::status_human(
                        &mut out,
                        &statuses,
                        active.as_ref(),
                        set.layout.name(),
                        &format!("{} on {url}", settings.dir.display()),
                    )?;
                    let (waiting, next) = cutover_runner::waiting_for_window(&set, &statuses, &settings);
                    if !waiting.is_empty() {
                        let next = next
                            .map_or_else(String::new, |t| format!(" (next opens {})", humantime::format_rfc3339(t)));
                        writeln!(out, "waiting for a maintenance window{next}: {}", waiting.join(", "))?;
                    }
                    if let Some(active) = active {
                        writeln!(
                            out,
                            "expand/contract: {} is {} since {} (old version `{}`, new version `{}`)",
                            active.migration,
                            active.phase.words(),
                            active.since,
                            active.old_schema,
                            active.version_schema
                        )?;
                    }
                }
            }
            Ok(ExitStatus::Success)
        }
        Command::Validate { format } => {
            let set = read_migrations(&settings)?;
            let (url, mut target) = open_to_read(&settings)?;
            let problems = with_url(
                &url,
                cutover_runner::validate(&mut context(&mut *target, &settings, &mut TerminalReporter::new(&url)), &set),
            )?;
            render::problems(&mut anstream::stdout(), &problems, format == Format::Json)?;
            Ok(if problems.is_empty() { ExitStatus::Success } else { ExitStatus::Failure })
        }
        Command::Drift { format } => drift::run(&settings, format),
        Command::Up { to, dry_run, allow_out_of_order, allow_unsafe, outside_window, check_drift } => {
            let set = read_migrations(&settings)?;
            let (url, mut target) = if dry_run { open_to_read(&settings)? } else { open(&settings)? };
            if check_drift || settings.check_drift {
                drift::warn_before_up(&settings, &set, &url)?;
            }
            let nothing = match &to {
                Some(to) => format!("nothing to apply: every migration up to {to} is applied"),
                None => "nothing to do: the database is up to date".to_string(),
            };
            let options = UpOptions { to, dry_run, allow_out_of_order, allow_unsafe, outside_window };
            let mut reporter = TerminalReporter::new(&url);
            let summary = with_url(
                &url,
                cutover_runner::up(&mut context(&mut *target, &settings, &mut reporter), &set, &options),
            )?;
            let verb = if dry_run { "would apply" } else { "applied" };
            // Stopped before a declarative migration with nothing applied: that line says it all.
            if !(summary.migrations.is_empty() && summary.stopped_at_declarative.is_some()) {
                render::summary(&mut anstream::stdout(), verb, &summary.migrations, summary.duration, &nothing)?;
            }
            if let Some(declarative) = &summary.stopped_at_declarative {
                let next = match url.engine() {
                    // `start` refuses them there (tester 22 was sent to it).
                    cutover_engine::Engine::Mysql => cutover_engine::EXPAND_ON_MYSQL,
                    _ => "run `cutover start`, then `cutover complete` once no old code runs",
                };
                println!("stopped before {declarative}: it is declarative (expand/contract); {next}");
            }
            Ok(ExitStatus::Success)
        }
        Command::Down { steps, to, all, dry_run } => {
            let set = read_migrations(&settings)?;
            // Where no database is, nothing is applied to revert: no file is made for it.
            let (url, mut target) = open_to_read(&settings)?;
            let nothing = match &to {
                Some(to) => format!("nothing to revert: no migration newer than {to} is applied"),
                None => "nothing to revert: no migration is applied".to_string(),
            };
            let down_target = match (to, all) {
                (_, true) => DownTarget::All,
                (Some(version), false) => DownTarget::To(version),
                (None, false) => DownTarget::Steps(steps.unwrap_or(1)),
            };
            let mut reporter = TerminalReporter::new(&url);
            let summary = with_url(
                &url,
                cutover_runner::down(&mut context(&mut *target, &settings, &mut reporter), &set, &down_target, dry_run),
            )?;
            let verb = if dry_run { "would revert" } else { "reverted" };
            render::summary(&mut anstream::stdout(), verb, &summary.migrations, summary.duration, &nothing)?;
            Ok(ExitStatus::Success)
        }
        Command::Baseline { baseline_version: version } => {
            let set = read_migrations(&settings)?;
            if let Some(path) = missing_sqlite_file(&database_url(&settings)?) {
                return Err(usage_error(format!(
                    "there is no SQLite database at `{path}`: baseline adopts a database that exists; check the path (`cutover up` makes a new one)"
                )));
            }
            let (url, mut target) = open(&settings)?;
            let version = with_url(
                &url,
                cutover_runner::baseline(
                    &mut context(&mut *target, &settings, &mut TerminalReporter::new(&url)),
                    &set,
                    &version,
                ),
            )?;
            writeln!(anstream::stdout(), "baselined at version {version}: migrations up to it count as applied")?;
            Ok(ExitStatus::Success)
        }
    }
}

fn context<'a>(
    target: &'a mut dyn MigrationTarget,
    settings: &'a Settings,
    reporter: &'a mut TerminalReporter,
) -> Context<'a> {
    Context { target, settings, reporter }
}

fn resolve_settings(args: &Args) -> anyhow::Result<Settings> {
    let config_path = match &args.global.config {
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from("cutover.toml")).filter(|p| p.exists()),
    };
    let file = match &config_path {
        Some(path) => Some((path.as_path(), cutover_runner::read_config_file(path).map_err(usage_error)?)),
        None => None,
    };
    let overrides = Overrides {
        dir: args.global.dir.clone(),
        layout: args.global.layout,
        database_url: args.global.database_url.clone(),
        lock_timeout: args.global.lock_timeout,
    };
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    Settings::resolve(file, &env, overrides).map_err(usage_error)
}

pub(crate) fn usage_error(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(Exit { status: ExitStatus::Error, message: err.to_string() })
}

/// `--dialect`, `--server-version` and `--pg-version` of `lint` and `review`: what the
/// migrations are judged as. `--server-version` names a MySQL/MariaDB server: with `--dialect`
/// other than mysql, the two disagree, and neither is taken over the other.
fn judge_as(
    settings: &mut Settings,
    dialect: Option<cutover_analysis::Dialect>,
    server_version: Option<cutover_analysis::MysqlServer>,
    pg_version: Option<u32>,
) -> anyhow::Result<()> {
    if let Some(dialect) = dialect {
        settings.lint.dialect = dialect;
    }
    if let Some(server) = server_version {
        if let Some(dialect) = dialect.filter(|d| *d != cutover_analysis::Dialect::Mysql) {
            return Err(usage_error(anyhow!(
                "--server-version names a MySQL/MariaDB server, and --dialect says {}: drop one of them",
                dialect.name()
            )));
        }
        settings.lint.dialect = cutover_analysis::Dialect::Mysql;
        settings.lint.mysql_server = server;
    }
    if let Some(version) = pg_version {
        settings.lint.pg_version = version;
    }
    Ok(())
}

pub(crate) fn read_migrations(settings: &Settings) -> anyhow::Result<MigrationSet> {
    // The engine the URL names picks a folder's per-engine files (pop's); none given, the
    // analysis's dialect.
    let dialect = match settings.checked_database_url().ok().flatten().and_then(|url| DatabaseUrl::parse(url).ok()) {
        Some(url) => match url.engine() {
            cutover_engine::Engine::Postgres => cutover_migration::Dialect::Postgres,
            cutover_engine::Engine::Mysql => cutover_migration::Dialect::Mysql,
            cutover_engine::Engine::Sqlite => cutover_migration::Dialect::Sqlite,
        },
        None => settings.lint.dialect,
    };
    let set =
        discover_with(&settings.dir, settings.layout, &settings.read_options(Some(dialect))).map_err(usage_error)?;
    let mut err = anstream::stderr();
    for ignored in &set.ignored {
        writeln!(err, "note: ignoring `{}`: {}", ignored.path.display(), ignored.reason)?;
    }
    Ok(set)
}

fn new_migration(settings: &Settings, name: &str) -> anyhow::Result<ExitStatus> {
    let dir = &settings.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create migrations directory `{}`", dir.display()))?;
    let files = create_migration(dir, settings.layout, &utc_version_now(), name).map_err(usage_error)?;
    let mut out = anstream::stdout();
    for file in files {
        writeln!(out, "created {}", file.display())?;
    }
    Ok(ExitStatus::Success)
}

/// `YYYYMMDDHHMMSS` in UTC.
fn utc_version_now() -> String {
    let stamp = cutover_runner::now_rfc3339();
    stamp.chars().filter(char::is_ascii_digit).take(14).collect()
}

/// Connects to the database the settings name.
pub(crate) fn open(settings: &Settings) -> anyhow::Result<(DatabaseUrl, Box<dyn MigrationTarget>)> {
    let url = database_url(settings)?;
    let target = connect_any(&url, settings)?.into_migration();
    Ok((url, target))
}

/// [`open`] for a command that changes nothing where no database is: a SQLite file that is not
/// there is not made (tester
/// 18: `status` on a mistyped path made an empty file and said every migration was pending);
/// it is read as the empty database it would be, and said so.
pub(crate) fn open_to_read(settings: &Settings) -> anyhow::Result<(DatabaseUrl, Box<dyn MigrationTarget>)> {
    let url = database_url(settings)?;
    if let Some(path) = missing_sqlite_file(&url) {
        writeln!(
            anstream::stderr(),
            "note: there is no SQLite database at `{path}` (nothing is applied there; `cutover up` makes it): check the path if one was meant"
        )?;
        let memory = DatabaseUrl::parse("sqlite::memory:").map_err(usage_error)?;
        let target = connect_any(&memory, settings)?.into_migration();
        return Ok((url, target));
    }
    open(settings)
}

/// The file a SQLite URL names, when no file is there.
fn missing_sqlite_file(url: &DatabaseUrl) -> Option<&str> {
    url.sqlite_path().filter(|path| !std::path::Path::new(path).exists())
}

/// Connects to the database `url` names: the one dispatch, `cutover-any`.
pub(crate) fn connect_any(url: &DatabaseUrl, settings: &Settings) -> anyhow::Result<AnyTarget> {
    AnyTarget::connect(url, &ConnectOptions::new(&settings.history_table)).map_err(|err| connect_error(url, &err))
}

/// The database URL the settings name, checked (a missing or unknown one is a usage error).
pub(crate) fn database_url(settings: &Settings) -> anyhow::Result<DatabaseUrl> {
    let url = settings.checked_database_url().map_err(usage_error)?;
    DatabaseUrl::parse(url.unwrap_or("")).map_err(usage_error)
}

/// Connects to the database for a backfill.
fn open_backfill(
    settings: &Settings,
    replica_urls: &[String],
) -> anyhow::Result<(DatabaseUrl, Box<dyn BackfillTarget>)> {
    let url = database_url(settings)?;
    let replicas =
        replica_urls.iter().map(|u| DatabaseUrl::parse(u).map_err(usage_error)).collect::<anyhow::Result<Vec<_>>>()?;
    let target = connect_any(&url, settings)?.into_backfill(replicas).map_err(|e| unsupported(&url, &e))?;
    Ok((url, target))
}

/// Connects for `plan`, `rehearse` and `drift`, which read PostgreSQL's catalog.
fn open_postgres(
    settings: &Settings,
    url: &DatabaseUrl,
    command: &'static str,
) -> anyhow::Result<cutover_postgres::PgTarget> {
    connect_any(url, settings)?.into_postgres(command).map_err(|e| unsupported(url, &e))
}

/// What the engine of `url` cannot do: a usage error naming the database.
pub(crate) fn unsupported(url: &DatabaseUrl, err: &cutover_any::Unsupported) -> anyhow::Error {
    usage_error(format!("{err} ({url})"))
}

pub(crate) fn connect_error(url: &DatabaseUrl, err: &DbError) -> anyhow::Error {
    let hint = match (url.engine(), err.kind) {
        // SQLite's errors name the file and what to do; there is no server to check.
        (cutover_engine::Engine::Sqlite, _) => "",
        (_, DbErrorKind::Authentication) => "; check the user name and password in the URL",
        (_, DbErrorKind::Connection) => "; check that the server runs and that host, port and database name are right",
        _ => "; check the URL",
    };
    usage_error(format!("cannot connect to {url}: {}{hint}", url.scrub(&err.to_string())))
}

/// Connects to the engine the URL names (the same dispatch an embedding application uses).
pub fn connect(url: &DatabaseUrl, history_table: &str) -> Result<Box<dyn MigrationTarget>, DbError> {
    AnyTarget::connect(url, &ConnectOptions::new(history_table)).map(AnyTarget::into_migration)
}

/// Turns a runner error into an exit error, with every trace of the URL's password removed.
pub(crate) fn with_url<T>(url: &DatabaseUrl, res: Result<T, cutover_runner::Error>) -> anyhow::Result<T> {
    res.map_err(|err| {
        let status = match err {
            cutover_runner::Error::Refused(_) => ExitStatus::Failure,
            _ => ExitStatus::Error,
        };
        anyhow!(Exit { status, message: url.scrub(&err.to_string()) })
    })
}
