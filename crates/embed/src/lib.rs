//! cutover inside an application: migrations compiled into the binary
//! ([`embed_migrations!`]) and applied at start-up by [`migrate_on_startup`], with the same
//! runner, history and locks as the `cutover` command.
//!
//! A [`Policy`] decides what may run while the application serves traffic. By default only
//! migrations that are safe for live traffic run: no error-level finding that no ignore accepts,
//! nothing that blocks or rewrites an existing table for a time that grows with it, nothing that
//! destroys data or breaks code still on the old schema. The first migration that is not is left
//! pending, with every one after it (migrations apply in order), and reported in the returned
//! [`StartupReport`] (for a log line and a health endpoint); nothing is ever half-run. Many
//! replicas starting at once: one takes the runner lock and migrates; the others wait at most
//! [`StartupOptions::lock_wait`] and then go on serving, reporting that another instance migrates.
//!
//! ```ignore
//! let report = cutover_embed::migrate_on_startup(
//!     &std::env::var("DATABASE_URL")?,
//!     &cutover_embed::embed_migrations!("migrations"),
//!     &cutover_embed::StartupOptions::default(),
//! )?;
//! eprintln!("{report}");
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use cutover_engine::{DatabaseUrl, DbError, DbErrorKind, MigrationTarget};
use cutover_migration::{discover, Migration};
use cutover_runner::{Context, Settings, Silent, UpOptions};

pub use cutover_embed_macros::embed_migrations;

/// A migrations folder compiled into the binary: each file's path (relative to the folder) and
/// text. Made by [`embed_migrations!`].
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// `(relative path, contents)`, sorted by path.
    pub files: &'static [(&'static str, &'static str)],
}

/// What may run at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Only migrations safe for live traffic (see the crate documentation).
    #[default]
    SafeOnly,
    /// Every pending migration, as `cutover up --allow-unsafe` would.
    All,
}

/// How to migrate at start-up.
#[derive(Debug, Clone)]
pub struct StartupOptions {
    /// What may run.
    pub policy: Policy,
    /// How long to wait for another instance that is migrating (then go on serving).
    pub lock_wait: Duration,
    /// The history table.
    pub history_table: String,
    /// The longest a migration may take at start-up, estimated from the live tables' sizes
    /// (PostgreSQL; elsewhere sizes are unknown and only the other checks apply).
    pub max_duration: Duration,
}

impl Default for StartupOptions {
    fn default() -> Self {
        StartupOptions {
            policy: Policy::SafeOnly,
            lock_wait: Duration::from_secs(10),
            history_table: "cutover_history".to_string(),
            max_duration: Duration::from_secs(5),
        }
    }
}

/// What start-up migration did, for a log line (`Display`) and a health endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupReport {
    /// The migrations applied by this instance.
    pub applied: Vec<String>,
    /// The migrations left pending, each with why (empty reasons: it waits behind an earlier one).
    pub pending: Vec<(String, Vec<String>)>,
    /// Another instance held the runner lock for longer than the wait: it migrates, this one serves.
    pub another_instance_migrates: bool,
}

impl StartupReport {
    /// Whether every migration is applied.
    pub fn up_to_date(&self) -> bool {
        self.pending.is_empty() && !self.another_instance_migrates
    }
}

impl fmt::Display for StartupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.another_instance_migrates {
            return write!(f, "cutover: another instance is migrating; serving meanwhile");
        }
        write!(f, "cutover: applied {}", cutover_engine::count(self.applied.len(), "migration", "migrations"))?;
        if self.pending.is_empty() {
            return write!(f, "; up to date");
        }
        write!(f, "; {} left pending for a reviewed deploy:", self.pending.len())?;
        for (label, reasons) in &self.pending {
            if reasons.is_empty() {
                write!(f, " [{label}: waits behind the one before]")?;
            } else {
                write!(f, " [{label}: {}]", reasons.join("; "))?;
            }
        }
        Ok(())
    }
}

/// Why start-up migration could not run at all.
#[derive(Debug)]
pub struct StartupError(String);

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

/// Connects to the database a URL names (PostgreSQL, MySQL/MariaDB or SQLite), through
/// `cutover-any`'s one dispatch.
pub fn connect(url: &DatabaseUrl, history_table: &str) -> Result<Box<dyn MigrationTarget>, DbError> {
    cutover_any::AnyTarget::connect(url, &cutover_any::ConnectOptions::new(history_table))
        .map(cutover_any::AnyTarget::into_migration)
}

/// Applies the embedded migrations that `options.policy` allows, in order, and reports the rest.
pub fn migrate_on_startup(
    database_url: &str,
    migrations: &Embedded,
    options: &StartupOptions,
) -> Result<StartupReport, StartupError> {
    let url = DatabaseUrl::parse(database_url).map_err(|e| StartupError(e.to_string()))?;
    // The runner reads migrations from a folder: the embedded files are written to a private
    // one for the duration of the call. Messages name the files as the application's folder
    // does, not by that folder's path.
    let dir =
        Unpacked::new(migrations).map_err(|e| StartupError(format!("cannot unpack the embedded migrations: {e}")))?;
    let unpacked_prefix = format!("{}{}", dir.path.display(), std::path::MAIN_SEPARATOR);
    let relative = |text: &str| text.replace(&unpacked_prefix, "");
    let scrub = |text: String| StartupError(url.scrub(&relative(&text)));
    let set = discover(&dir.path, None).map_err(|e| scrub(e.to_string()))?;
    let mut target =
        connect(&url, &options.history_table).map_err(|e| scrub(format!("cannot connect to {url}: {e}")))?;
    let mut settings =
        Settings { dir: dir.path.clone(), history_table: options.history_table.clone(), ..Settings::default() };
    settings.runner_lock_wait = options.lock_wait;
    settings.lint.dialect = cutover_runner::dialect_of(url.engine());
    // Without the grammar (a `*-driver` feature alone), the review computed ahead judges; when
    // there is none that holds, nothing pending may run (it is only needed when something is).
    let review =
        if cutover_runner::grammar_built(settings.lint.dialect) {
            None
        } else {
            Some(embedded_review(migrations, url.engine()).and_then(|review| {
                review.check(&set, settings.lint.dialect, &target.server_version()).map(|()| review)
            }))
        };
    if let Some(Ok(review)) = &review {
        settings.reviewed = Some(review.clone());
    }

    let history = cutover_runner::read_history(&mut *target, &settings).map_err(|e| scrub(e.to_string()))?;
    let statuses = cutover_runner::compute_status(&set, &history);
    let pending: Vec<&Migration> = statuses
        .iter()
        .filter(|s| s.state == cutover_runner::MigrationState::Pending && s.version.is_some())
        .filter_map(|s| s.migration_idx.map(|idx| &set.migrations[idx]))
        .collect();
    let mut report = StartupReport::default();
    let reviews = match (options.policy, &review) {
        (Policy::SafeOnly, None) => {
            let facts = table_sizes(&url, options, &cutover_runner::startup_relations(&set, &pending, &settings.lint));
            let limit = facts.as_ref().map(|facts| cutover_runner::StartupLimit { facts, max: options.max_duration });
            cutover_runner::startup_review(&set, &pending, &settings.lint, limit.as_ref())
        }
        (Policy::SafeOnly, Some(Ok(reviewed))) => {
            let facts = table_sizes(&url, options, &reviewed.startup_relations(&pending));
            let limit = facts.as_ref().map(|facts| cutover_runner::StartupLimit { facts, max: options.max_duration });
            reviewed.startup_review(&pending, limit.as_ref())
        }
        // No review that holds judges nothing: the first pending migration says why.
        (Policy::SafeOnly, Some(Err(problem))) => pending
            .iter()
            .enumerate()
            .map(|(i, m)| (m.label(), if i == 0 { vec![problem.clone()] } else { Vec::new() }))
            .collect(),
        (Policy::All, _) => pending.iter().map(|m| (m.label(), Vec::new())).collect(),
    };
    // Migrations apply in order: everything from the first unsafe one on stays pending.
    let first_unsafe = reviews.iter().position(|(_, reasons)| !reasons.is_empty()).unwrap_or(reviews.len());
    let runnable = &pending[..first_unsafe];
    for (idx, (label, reasons)) in reviews.into_iter().enumerate().skip(first_unsafe) {
        let reasons = if idx == first_unsafe { reasons.iter().map(|r| relative(r)).collect() } else { Vec::new() };
        report.pending.push((label, reasons));
    }
    let Some(last) = runnable.last() else { return Ok(report) };
    let up = UpOptions {
        to: last.version.clone(),
        allow_unsafe: options.policy == Policy::All,
        allow_out_of_order: false,
        dry_run: false,
        outside_window: None,
    };
    let mut silent = Silent;
    match cutover_runner::up(
        &mut Context { target: &mut *target, settings: &settings, reporter: &mut silent },
        &set,
        &up,
    ) {
        Ok(summary) => report.applied = summary.migrations,
        Err(cutover_runner::Error::Database { source, .. }) if source.kind == DbErrorKind::LockTimeout => {
            report.another_instance_migrates = true;
        }
        Err(err) => return Err(scrub(err.to_string())),
    }
    Ok(report)
}

/// The live sizes of `names` on PostgreSQL (a catalog read on a connection of its own); `None`
/// elsewhere, or when the catalog cannot be read (the estimate is then skipped, not guessed).
#[cfg(feature = "postgres-driver")]
fn table_sizes(
    url: &DatabaseUrl,
    options: &StartupOptions,
    names: &[String],
) -> Option<std::collections::BTreeMap<String, cutover_engine::RelationFacts>> {
    use cutover_engine::Catalog;
    if url.engine() != cutover_engine::Engine::Postgres || names.is_empty() {
        return None;
    }
    let connect_options = cutover_any::ConnectOptions {
        application_name: format!("cutover {} start-up", env!("CARGO_PKG_VERSION")),
        ..cutover_any::ConnectOptions::new(&options.history_table)
    };
    let target = cutover_any::AnyTarget::connect(url, &connect_options).ok()?;
    let mut catalog = target.into_postgres("a start-up estimate").ok()?;
    let facts = catalog.relation_facts(names).ok()?;
    Some(facts.into_iter().map(|f| (f.name.clone(), f)).collect())
}

/// Without PostgreSQL in this build there is no catalog to read.
#[cfg(not(feature = "postgres-driver"))]
fn table_sizes(
    _: &DatabaseUrl,
    _: &StartupOptions,
    _: &[String],
) -> Option<std::collections::BTreeMap<String, cutover_engine::RelationFacts>> {
    None
}

/// The review computed ahead, from the embedded folder: what judges the migrations where this
/// build has no grammar for `engine`; why there is none that can, if there is none.
fn embedded_review(
    migrations: &Embedded,
    engine: cutover_engine::Engine,
) -> Result<cutover_runner::ReviewFile, String> {
    let dialect = cutover_runner::dialect_of(engine);
    let name = cutover_runner::review_file_name(dialect);
    let Some((_, text)) = migrations.files.iter().find(|(path, _)| *path == name) else {
        return Err(format!(
            "this build has no {} grammar to judge the migrations with, and they have no {name}: write it with `cutover review --write --dialect {}` on the migrations folder (--dir), commit it and rebuild (or enable cutover-embed's `{}` feature)",
            engine,
            dialect.name(),
            dialect.name()
        ));
    };
    cutover_runner::ReviewFile::parse(text).map_err(|problem| format!("{name}: {problem}"))
}

/// The embedded files written to a private temporary folder, removed when dropped.
struct Unpacked {
    path: PathBuf,
}

impl Unpacked {
    fn new(migrations: &Embedded) -> std::io::Result<Unpacked> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("cutover-embedded-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        for (relative, text) in migrations.files {
            let file = path.join(relative);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, text)?;
        }
        Ok(Unpacked { path })
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
