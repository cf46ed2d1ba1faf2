//! Configuration in three layers: `cutover.toml`, then `CUTOVER_*` environment variables, then
//! flags. [`ConfigFile`] is the file's schema, [`Overrides`] carries flags, and [`Settings`] is
//! the resolved form everything else reads.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;
use std::time::SystemTime;

use cutover_analysis::{Dialect, LintConfig, Runner, Severity};
use cutover_migration::{parse_duration, parse_lock_timeout, parse_statement_timeout, Layout};

use crate::policy::Window;
use serde::Deserialize;

/// `[pop]`: the options the application gives pop, which its migration templates render.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopSection {
    /// `options = { Namespace = "auth" }`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// The schema of `cutover.toml`. Unknown keys are errors, so that a typo is not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The migrations directory, relative to the config file.
    pub dir: Option<PathBuf>,
    /// Forces a layout instead of detecting it.
    pub layout: Option<String>,
    /// The database URL. Prefer `database_url_env` so that no password sits in a file.
    pub database_url: Option<String>,
    /// The environment variable that holds the database URL.
    pub database_url_env: Option<String>,
    /// The history table, optionally schema-qualified.
    pub history_table: Option<String>,
    /// How long a statement may wait for a lock (default 2s).
    pub lock_timeout: Option<String>,
    /// How long a statement may run (default 0: no limit).
    pub statement_timeout: Option<String>,
    /// How many times a migration is tried when it cannot get its locks (default 5).
    pub lock_retries: Option<u32>,
    /// The first pause between tries; it doubles each try, with jitter (default 1s).
    pub retry_backoff: Option<String>,
    /// How long to wait for another cutover to finish (default 10m).
    pub runner_lock_wait: Option<String>,
    /// How `cutover lint` and the approval gate of `up` judge migrations.
    pub lint: Option<LintSection>,
    /// What pop's templates render (a pop folder's files may hold `{{ index .Options "KEY" }}`).
    pub pop: Option<PopSection>,
    /// When heavy migrations may run.
    pub policy: Option<PolicySection>,
    /// Whether `up` first compares the database with what its applied migrations build
    /// (`cutover drift`) and warns of differences (PostgreSQL; default false: it builds a
    /// scratch database, which takes time and the CREATEDB privilege).
    pub check_drift: Option<bool>,
}

/// `[policy]` in `cutover.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Maintenance windows, e.g. `["Sat 02:00-05:00 UTC"]`: migrations that block or rewrite
    /// existing tables run only inside one.
    #[serde(default)]
    pub windows: Vec<String>,
}

/// `[lint]` in `cutover.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintSection {
    /// The PostgreSQL major version the migrations are for (default 15).
    pub pg_version: Option<u32>,
    /// Who runs the migrations, for `cutover lint`: `cutover` (default), `script`, `transaction`
    /// or a tool's name (`external`: an older name for `script`).
    pub assume_runner: Option<String>,
    /// Rules switched off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Rules re-levelled: rule id to `error`, `warning` or `info`.
    #[serde(default)]
    pub levels: BTreeMap<String, String>,
    /// `postgres`, `mysql` or `sqlite` (default: from the database URL, else postgres).
    pub dialect: Option<String>,
    /// For MySQL: `mariadb-10.11`, `mysql-8.0.36`, ... (default `mysql-8.0`).
    pub server_version: Option<String>,
}

/// Values given on the command line; they win over the environment and the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--dir`.
    pub dir: Option<PathBuf>,
    /// `--layout`.
    pub layout: Option<Layout>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--lock-timeout`.
    pub lock_timeout: Option<Duration>,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The migrations directory.
    pub dir: PathBuf,
    /// A forced layout, or `None` to detect it.
    pub layout: Option<Layout>,
    /// The database URL, if any layer gave one (checked when connecting).
    pub database_url: Option<String>,
    /// Set when `database_url_env` names a variable that is unset (or empty) and no flag or
    /// `CUTOVER_DATABASE_URL` gave a URL: connecting is then an error
    /// ([`Settings::checked_database_url`]), never a fallback to `DATABASE_URL`, which may name
    /// another database. Commands that connect to none (`lint`, `new`) run on.
    pub unset_url_variable: Option<UnsetVariable>,
    /// The history table.
    pub history_table: String,
    /// How long a statement may wait for a lock.
    pub lock_timeout: Duration,
    /// How long a statement may run; zero for no limit.
    pub statement_timeout: Duration,
    /// Tries per migration when locks are not granted (at least one, by its type).
    pub lock_retries: NonZeroU32,
    /// First pause between tries.
    pub retry_backoff: Duration,
    /// How long to wait for another runner.
    pub runner_lock_wait: Duration,
    /// How migrations are linted (`[lint]`).
    pub lint: LintConfig,
    /// Maintenance windows (`[policy] windows`); none: any time.
    pub windows: Vec<Window>,
    /// Whether `up` warns of drift first (`check_drift`, `CUTOVER_CHECK_DRIFT`, `--check-drift`).
    pub check_drift: bool,
    /// The time to take as now (`CUTOVER_NOW`, RFC 3339): for rehearsing a window policy, and
    /// for tests. `None`: the clock.
    pub now: Option<SystemTime>,
    /// What pop's templates render (`[pop] options`).
    pub pop_options: BTreeMap<String, String>,
    /// The gate's judgement computed ahead (`cutover-review.<dialect>.json`), read instead of analysing
    /// the migrations: set by an application that embeds cutover without a grammar; `None`
    /// (analyse them) everywhere else.
    pub reviewed: Option<crate::ReviewFile>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dir: PathBuf::from("migrations"),
            layout: None,
            database_url: None,
            unset_url_variable: None,
            history_table: "cutover_history".to_string(),
            lock_timeout: Duration::from_secs(2),
            statement_timeout: Duration::ZERO,
            lock_retries: NonZeroU32::new(5).expect("5 is not zero"),
            retry_backoff: Duration::from_secs(1),
            runner_lock_wait: Duration::from_secs(600),
            // `cutover lint` judges a folder as its own tool runs it; what cutover runs is
            // judged as cutover runs it whatever this says (`run_by_cutover`).
            lint: LintConfig { runner: Runner::Folder, ..LintConfig::default() },
            windows: Vec::new(),
            pop_options: BTreeMap::new(),
            reviewed: None,
            check_drift: false,
            now: None,
        }
    }
}

impl Settings {
    /// How the migrations folder is read for `dialect`: with pop's options.
    pub fn read_options(&self, dialect: Option<Dialect>) -> cutover_migration::ReadOptions {
        cutover_migration::ReadOptions { dialect, pop_options: self.pop_options.clone() }
    }

    /// How migrations are retried when their locks are not granted.
    pub fn retry_policy(&self) -> cutover_engine::RetryPolicy {
        cutover_engine::RetryPolicy { tries: self.lock_retries, backoff: self.retry_backoff }
    }

    /// Checks the values a library user may have set directly (the file, the environment and
    /// flags are checked as they are read): a timeout out of the servers' range would mean
    /// "no limit" or fail only at run time.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::BadValue { origin: format!("`Settings::{key}`"), message };
        cutover_migration::check_lock_timeout(self.lock_timeout).map_err(|m| bad("lock_timeout", m))?;
        cutover_migration::check_statement_timeout(self.statement_timeout).map_err(|m| bad("statement_timeout", m))?;
        parse_table(&self.history_table, "`Settings::history_table`")?;
        Ok(())
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file `{}`: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for cutover.
    #[error("config file `{}` is invalid: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// `database_url_env` names a variable that holds nothing.
    #[error("{origin} names the environment variable {name}, which is not set (or empty); set it to the database URL, or pass --database-url (DATABASE_URL is not used in its place: it may name another database)")]
    UnsetVariable {
        /// Where `database_url_env` was set.
        origin: String,
        /// The variable.
        name: String,
    },
    /// A value has the wrong form.
    #[error("{origin}: {message}")]
    BadValue {
        /// Where the value came from: a key of the file or an environment variable.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// An environment variable that the config file names for the database URL, and that holds
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVariable {
    /// Where it was named: "`database_url_env` in cutover.toml".
    pub origin: String,
    /// The variable.
    pub name: String,
}

/// Reads a config file.
pub fn read_config_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { path: path.to_path_buf(), source })?;
    toml::from_str(&text)
        .map_err(|err| ConfigError::Invalid { path: path.to_path_buf(), message: err.to_string().trim().to_string() })
}

impl Settings {
    /// Merges the layers: defaults, then the file (`file` with the path it came from), then
    /// the environment (read through `env`), then `overrides`.
    ///
    /// The database URL comes from, in order: `--database-url`, `CUTOVER_DATABASE_URL`, the
    /// file (`database_url`, or the variable `database_url_env` names), then `DATABASE_URL`.
    pub fn resolve(
        file: Option<(&Path, ConfigFile)>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: Overrides,
    ) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        let mut file_url = None;
        let mut unset_url_variable = None;
        let mut dialect_given = false;
        if let Some((path, file)) = file {
            let origin = |key: &str| format!("`{key}` in {}", path.display());
            let base = path.parent().unwrap_or(Path::new(""));
            if let Some(dir) = file.dir {
                settings.dir = base.join(dir);
            }
            if let Some(layout) = file.layout {
                settings.layout = Some(parse_layout(&layout, &origin("layout"))?);
            }
            file_url = match (file.database_url, file.database_url_env) {
                // Paths in the file are relative to the file, a SQLite database's too.
                (Some(url), _) => Some(sqlite_relative_to(base, &url)),
                (None, Some(name)) => {
                    let url = env(&name);
                    if url.is_none() {
                        unset_url_variable = Some(UnsetVariable { origin: origin("database_url_env"), name });
                    }
                    url
                }
                (None, None) => None,
            };
            if let Some(table) = file.history_table {
                settings.history_table = parse_table(&table, &origin("history_table"))?;
            }
            apply_durations(&mut settings, &origin, |key| match key {
                "lock_timeout" => file.lock_timeout.clone(),
                "statement_timeout" => file.statement_timeout.clone(),
                "retry_backoff" => file.retry_backoff.clone(),
                "runner_lock_wait" => file.runner_lock_wait.clone(),
                _ => None,
            })?;
            if let Some(retries) = file.lock_retries {
                settings.lock_retries = check_retries(retries, &origin("lock_retries"))?;
            }
            if let Some(lint) = file.lint {
                dialect_given = lint.dialect.is_some();
                settings.lint = lint_config(lint, &origin)?;
            }
            if let Some(pop) = file.pop {
                settings.pop_options = pop.options;
            }
            if let Some(check) = file.check_drift {
                settings.check_drift = check;
            }
            if let Some(policy) = file.policy {
                settings.windows = policy
                    .windows
                    .iter()
                    .map(|w| Window::parse(w))
                    .collect::<Result<_, _>>()
                    .map_err(|message| ConfigError::BadValue { origin: origin("policy.windows"), message })?;
            }
        }

        let env_origin = |key: &str| format!("environment variable CUTOVER_{}", key.to_ascii_uppercase());
        if let Some(now) = env("CUTOVER_NOW") {
            settings.now = Some(humantime::parse_rfc3339_weak(&now).map_err(|err| ConfigError::BadValue {
                origin: env_origin("now"),
                message: format!("`{now}` is not a time such as 2026-11-28T03:00:00Z: {err}"),
            })?);
        }
        if let Some(dir) = env("CUTOVER_DIR") {
            settings.dir = PathBuf::from(dir);
        }
        if let Some(layout) = env("CUTOVER_LAYOUT") {
            // Checked even when `--layout` wins: a wrong value left in an environment is found
            // now, not on the day the flag is dropped (the same holds for every setting).
            let origin = match overrides.layout {
                Some(_) => format!("{} (overridden by --layout, but still wrong)", env_origin("layout")),
                None => env_origin("layout"),
            };
            settings.layout = Some(parse_layout(&layout, &origin)?);
        }
        if let Some(table) = env("CUTOVER_HISTORY_TABLE") {
            settings.history_table = parse_table(&table, &env_origin("history_table"))?;
        }
        apply_durations(&mut settings, &env_origin, |key| env(&format!("CUTOVER_{}", key.to_ascii_uppercase())))?;
        if let Some(retries) = env("CUTOVER_LOCK_RETRIES") {
            let origin = env_origin("lock_retries");
            let retries = retries.trim().parse().map_err(|_| ConfigError::BadValue {
                origin: origin.clone(),
                message: format!("`{retries}` is not a whole number"),
            })?;
            settings.lock_retries = check_retries(retries, &origin)?;
        }

        if let Some(check) = env("CUTOVER_CHECK_DRIFT") {
            settings.check_drift = match check.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                other => {
                    return Err(ConfigError::BadValue {
                        origin: env_origin("check_drift"),
                        message: format!("`{other}` is not `true` or `false`"),
                    })
                }
            };
        }

        settings.database_url = overrides.database_url.or_else(|| env("CUTOVER_DATABASE_URL")).or(file_url);
        if settings.database_url.is_none() {
            // The file names where the URL is; an empty place is not a reason to take another.
            match unset_url_variable {
                Some(unset) => settings.unset_url_variable = Some(unset),
                None => settings.database_url = env("DATABASE_URL"),
            }
        }
        if let Some(dir) = overrides.dir {
            settings.dir = dir;
        }
        if let Some(layout) = overrides.layout {
            settings.layout = Some(layout);
        }
        if let Some(lock_timeout) = overrides.lock_timeout {
            settings.lock_timeout = cutover_migration::check_lock_timeout(lock_timeout)
                .map_err(|message| ConfigError::BadValue { origin: "--lock-timeout".to_string(), message })?;
        }
        // The migrations are written for the database they run on.
        if !dialect_given {
            let engine = settings.database_url.as_deref().and_then(cutover_engine::Engine::of_url);
            settings.lint.dialect = engine.map_or(Dialect::Postgres, crate::dialect_of);
        }
        Ok(settings)
    }
}

impl Settings {
    /// The database URL, `None` when no layer gave one; an error when `database_url_env` names
    /// a variable that is unset.
    pub fn checked_database_url(&self) -> Result<Option<&str>, ConfigError> {
        match (&self.database_url, &self.unset_url_variable) {
            (None, Some(unset)) => {
                Err(ConfigError::UnsetVariable { origin: unset.origin.clone(), name: unset.name.clone() })
            }
            (url, _) => Ok(url.as_deref()),
        }
    }
}

/// A `sqlite:` URL with a relative path, made relative to `base` (the config file's folder);
/// any other URL as it is.
fn sqlite_relative_to(base: &Path, url: &str) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_string();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" || Path::new(path).is_absolute() || base.as_os_str().is_empty() {
        return url.to_string();
    }
    let joined = base.join(path);
    match query {
        Some(query) => format!("sqlite://{}?{query}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

fn lint_config(section: LintSection, origin: &dyn Fn(&str) -> String) -> Result<LintConfig, ConfigError> {
    let mut config = LintConfig { runner: Runner::Folder, ..LintConfig::default() };
    if let Some(version) = section.pg_version {
        config.pg_version = check_pg_version(version)
            .map_err(|message| ConfigError::BadValue { origin: origin("lint.pg_version"), message })?;
    }
    if let Some(dialect) = section.dialect {
        config.dialect =
            dialect.parse().map_err(|message| ConfigError::BadValue { origin: origin("lint.dialect"), message })?;
    }
    if let Some(server) = section.server_version {
        config.mysql_server = server
            .parse()
            .map_err(|message| ConfigError::BadValue { origin: origin("lint.server_version"), message })?;
    }
    if let Some(runner) = section.assume_runner {
        config.runner = parse_assume_runner(&runner)
            .map_err(|message| ConfigError::BadValue { origin: origin("lint.assume_runner"), message })?;
    }
    let known = |id: &str, key: &str| match cutover_analysis::rules::find(id) {
        Some(_) => Ok(()),
        None => Err(ConfigError::BadValue {
            origin: origin(key),
            message: format!("no rule `{id}` (`cutover explain` lists none by that name; see docs/rules)"),
        }),
    };
    for id in section.disable {
        known(&id, "lint.disable")?;
        config.levels.insert(id, None);
    }
    for (id, level) in section.levels {
        known(&id, "lint.levels")?;
        let severity = level
            .parse::<Severity>()
            .map_err(|message| ConfigError::BadValue { origin: origin(&format!("lint.levels.{id}")), message })?;
        config.levels.insert(id, Some(severity));
    }
    Ok(config)
}

/// Checks a PostgreSQL major version for the analysis.
pub fn check_pg_version(version: u32) -> Result<u32, String> {
    if (9..=18).contains(&version) {
        Ok(version)
    } else {
        Err(format!("PostgreSQL {version} is not a version cutover knows; give a major version from 9 to 18"))
    }
}

/// Who runs the migrations: `cutover`, `script` (`external`), `transaction` or a tool's name.
pub fn parse_assume_runner(text: &str) -> Result<Runner, String> {
    text.parse()
}

fn apply_durations(
    settings: &mut Settings,
    origin: &dyn Fn(&str) -> String,
    value: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let read_with = |key: &str, parse: fn(&str) -> Result<Duration, String>| -> Result<Option<Duration>, ConfigError> {
        value(key)
            .map(|text| parse(&text).map_err(|message| ConfigError::BadValue { origin: origin(key), message }))
            .transpose()
    };
    let read = |key: &str| read_with(key, parse_duration);
    if let Some(d) = read_with("lock_timeout", parse_lock_timeout)? {
        settings.lock_timeout = d;
    }
    if let Some(d) = read_with("statement_timeout", parse_statement_timeout)? {
        settings.statement_timeout = d;
    }
    if let Some(d) = read("retry_backoff")? {
        settings.retry_backoff = d;
    }
    if let Some(d) = read("runner_lock_wait")? {
        settings.runner_lock_wait = d;
    }
    Ok(())
}

fn parse_layout(text: &str, origin: &str) -> Result<Layout, ConfigError> {
    text.parse().map_err(|message| ConfigError::BadValue { origin: origin.to_string(), message })
}

fn parse_table(text: &str, origin: &str) -> Result<String, ConfigError> {
    let valid = !text.is_empty()
        && text.split('.').count() <= 2
        && text.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if !valid {
        return Err(ConfigError::BadValue {
            origin: origin.to_string(),
            message: format!("`{text}` is not a table name; use letters, digits and `_`, optionally `schema.table`"),
        });
    }
    // A temporary schema vanishes with the session, and the history with it: every run would
    // apply everything again. The system schemas are not the project's to write.
    if let Some((schema, _)) = text.split_once('.') {
        let schema = schema.to_lowercase();
        if schema.starts_with("pg_temp") || schema == "temp" || schema == "pg_catalog" || schema == "information_schema"
        {
            return Err(ConfigError::BadValue {
                origin: origin.to_string(),
                message: format!(
                    "`{text}` would keep the history in `{schema}`, which is temporary or the system's: it would be lost or refused; name a schema of your own (or none)"
                ),
            });
        }
    }
    // Engines disagree on the case of names (PostgreSQL folds unquoted ones, MySQL on Linux
    // keeps them, SQLite ignores it): `Cutover_History` could be another table than
    // `cutover_history` on one and the same on another. One spelling per history keeps one
    // history, so that nothing is applied twice.
    // Not `char::is_uppercase`: a titlecase letter (`ǅ`) is neither, yet has a lower case.
    if text != text.to_lowercase() {
        return Err(ConfigError::BadValue {
            origin: origin.to_string(),
            message: format!(
                "`{text}` has upper-case letters; write it in lower case (`{}`) so that every engine and every spelling names one table",
                text.to_lowercase()
            ),
        });
    }
    Ok(text.to_string())
}

fn check_retries(retries: u32, origin: &str) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(retries).ok_or_else(|| ConfigError::BadValue {
        origin: origin.to_string(),
        message: "must be at least 1 (one try)".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    }

    fn file(text: &str) -> ConfigFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn layers_in_order_file_env_flags() {
        let config =
            file("dir = \"db/migrations\"\nlock_timeout = \"5s\"\nlock_retries = 3\ndatabase_url_env = \"APP_DB\"\n");
        let env = env_of(&[
            ("CUTOVER_LOCK_TIMEOUT", "3s"),
            ("APP_DB", "sqlite://app.db"),
            ("DATABASE_URL", "postgres://x/y"),
        ]);
        let settings =
            Settings::resolve(Some((Path::new("proj/cutover.toml"), config)), &env, Overrides::default()).unwrap();
        assert_eq!(settings.dir, PathBuf::from("proj/db/migrations"));
        assert_eq!(settings.lock_timeout, Duration::from_secs(3));
        assert_eq!(settings.lock_retries.get(), 3);
        assert_eq!(settings.database_url.as_deref(), Some("sqlite://app.db"));

        let overrides = Overrides {
            lock_timeout: Some(Duration::from_millis(100)),
            database_url: Some("sqlite::memory:".into()),
            ..Overrides::default()
        };
        let settings = Settings::resolve(None, &env, overrides).unwrap();
        assert_eq!(settings.lock_timeout, Duration::from_millis(100));
        assert_eq!(settings.database_url.as_deref(), Some("sqlite::memory:"));

        let settings = Settings::resolve(None, &env, Overrides::default()).unwrap();
        assert_eq!(settings.database_url.as_deref(), Some("postgres://x/y"), "DATABASE_URL is the last fallback");
    }

    #[test]
    fn assume_runner_names_a_kind_of_runner_or_a_tool() {
        let resolve = |runner: &str| {
            let config = file(&format!("[lint]\nassume_runner = \"{runner}\"\n"));
            Settings::resolve(Some((Path::new("cutover.toml"), config)), &env_of(&[]), Overrides::default())
                .map(|settings| settings.lint.runner)
        };
        assert_eq!(resolve("external").unwrap(), Runner::Script(None), "the older name of script");
        assert_eq!(resolve("goose").unwrap(), Runner::Transaction(Some(cutover_analysis::Tool::Goose)));
        assert_eq!(resolve("liquibase").unwrap(), Runner::Transaction(Some(cutover_analysis::Tool::Liquibase)));
        let err = resolve("liquibse").unwrap_err().to_string();
        assert!(err.contains("lint.assume_runner") && err.contains("golang-migrate"), "{err}");
    }

    #[test]
    fn a_sqlite_path_in_the_file_is_relative_to_the_file() {
        let resolve = |url: &str| {
            let config = file(&format!("database_url = \"{url}\""));
            Settings::resolve(Some((Path::new("proj/cutover.toml"), config)), &env_of(&[]), Overrides::default())
                .unwrap()
                .database_url
                .unwrap()
        };
        assert_eq!(resolve("sqlite://app.db"), "sqlite://proj/app.db");
        assert_eq!(resolve("sqlite:data/app.db?mode=rwc"), "sqlite://proj/data/app.db?mode=rwc");
        assert_eq!(resolve("sqlite:///var/app.db"), "sqlite:///var/app.db");
        assert_eq!(resolve("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(resolve("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn an_unset_database_url_env_is_an_error_not_database_url() {
        let config = || Some((Path::new("proj/cutover.toml"), file("database_url_env = \"APP_DB\"\n")));
        let env = env_of(&[("DATABASE_URL", "postgres://other/db")]);
        let settings = Settings::resolve(config(), &env, Overrides::default()).unwrap();
        assert_eq!(settings.database_url, None, "DATABASE_URL may name another database");
        let err = settings.checked_database_url().unwrap_err().to_string();
        assert!(
            err.starts_with(
                "`database_url_env` in proj/cutover.toml names the environment variable APP_DB, which is not set"
            ) && err.contains("--database-url"),
            "{err}"
        );
        // A flag or CUTOVER_DATABASE_URL still wins over the file.
        let flag = Overrides { database_url: Some("sqlite::memory:".into()), ..Overrides::default() };
        let settings = Settings::resolve(config(), &env, flag).unwrap();
        assert_eq!(settings.checked_database_url().unwrap(), Some("sqlite::memory:"));
        let env = env_of(&[("DATABASE_URL", "postgres://other/db"), ("CUTOVER_DATABASE_URL", "sqlite://a.db")]);
        let settings = Settings::resolve(config(), &env, Overrides::default()).unwrap();
        assert_eq!(settings.checked_database_url().unwrap(), Some("sqlite://a.db"));
        // Without `database_url_env`, DATABASE_URL is the fallback it always was.
        let settings = Settings::resolve(None, &env_of(&[("DATABASE_URL", "sqlite://b.db")]), Overrides::default());
        assert_eq!(settings.unwrap().checked_database_url().unwrap(), Some("sqlite://b.db"));
    }

    #[test]
    fn bad_values_say_where_they_came_from() {
        let err = Settings::resolve(
            Some((Path::new("cutover.toml"), file("lock_timeout = \"soon\""))),
            &env_of(&[]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("`lock_timeout` in cutover.toml:"), "{err}");
        let err =
            Settings::resolve(None, &env_of(&[("CUTOVER_LOCK_RETRIES", "many")]), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("CUTOVER_LOCK_RETRIES"), "{err}");
        let err =
            Settings::resolve(None, &env_of(&[("CUTOVER_HISTORY_TABLE", "x; drop table y")]), Overrides::default())
                .unwrap_err();
        assert!(err.to_string().contains("is not a table name"), "{err}");
        assert!(toml::from_str::<ConfigFile>("lock_timout = \"1s\"").is_err(), "unknown keys are errors");
    }

    #[test]
    fn the_drift_check_is_off_unless_the_file_or_the_environment_turns_it_on() {
        let none = Settings::resolve(None, &env_of(&[]), Overrides::default()).unwrap();
        assert!(!none.check_drift, "it builds a scratch database: opt-in");
        let on = Some((Path::new("c.toml"), file("check_drift = true")));
        assert!(Settings::resolve(on, &env_of(&[]), Overrides::default()).unwrap().check_drift);
        let on = Some((Path::new("c.toml"), file("check_drift = true")));
        let off = env_of(&[("CUTOVER_CHECK_DRIFT", "false")]);
        assert!(!Settings::resolve(on, &off, Overrides::default()).unwrap().check_drift, "the environment wins");
        let err = Settings::resolve(None, &env_of(&[("CUTOVER_CHECK_DRIFT", "yes")]), Overrides::default());
        assert!(err.unwrap_err().to_string().contains("CUTOVER_CHECK_DRIFT"));
    }

    #[test]
    fn timeouts_out_of_the_servers_range_are_refused_from_every_source() {
        for bad in ["0", "500us", "1ns", "30d"] {
            let text = format!("lock_timeout = \"{bad}\"");
            let from_file =
                Settings::resolve(Some((Path::new("c.toml"), file(&text))), &env_of(&[]), Overrides::default());
            assert!(from_file.unwrap_err().to_string().starts_with("`lock_timeout` in c.toml"), "{bad}");
            let text = format!("statement_timeout = \"{bad}\"");
            let from_file =
                Settings::resolve(Some((Path::new("c.toml"), file(&text))), &env_of(&[]), Overrides::default());
            assert_eq!(from_file.is_err(), bad != "0", "statement_timeout {bad}: 0 means no limit, by design");
        }
        for bad in [
            &[("CUTOVER_LOCK_TIMEOUT", "0")][..],
            &[("CUTOVER_LOCK_TIMEOUT", "500us")],
            &[("CUTOVER_STATEMENT_TIMEOUT", "30d")],
        ] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(bad.to_vec().into_boxed_slice());
            let err = Settings::resolve(None, &env_of(pairs), Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("environment variable CUTOVER_"), "{err}");
        }
        let overrides = Overrides { lock_timeout: Some(Duration::from_micros(500)), ..Overrides::default() };
        let err = Settings::resolve(None, &env_of(&[]), overrides).unwrap_err();
        assert!(err.to_string().starts_with("--lock-timeout"), "{err}");

        // A library user who builds Settings by hand is checked when a command runs.
        let settings = Settings { lock_timeout: Duration::ZERO, ..Settings::default() };
        assert!(settings.check().unwrap_err().to_string().contains("Settings::lock_timeout"));
        let settings = Settings { history_table: "Cutover_History".into(), ..Settings::default() };
        assert!(settings.check().is_err());
        // Found by the settings fuzz target: titlecase is not upper case, but has a lower case.
        let settings = Settings { history_table: "ǅ".into(), ..Settings::default() };
        assert!(settings.check().is_err());
        assert!(Settings::default().check().is_ok());
    }
}
