//! The migration model: what a migration is, whatever layout it was read from.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{Checksum, ScriptSettings, Statement, Version};

/// A directory layout cutover reads as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `<version>_<name>.up.sql` with an optional `<version>_<name>.down.sql`.
    Native,
    /// golang-migrate: the same file names as [`Layout::Native`].
    GolangMigrate,
    /// sqlx: `<version>_<name>.up.sql`/`.down.sql`, or a single `<version>_<name>.sql`.
    Sqlx,
    /// Flyway: `V<ver>__<desc>.sql`, `U<ver>__<desc>.sql`, `R__<desc>.sql`, in subfolders too.
    Flyway,
    /// dbmate: one `<version>_<name>.sql` with `-- migrate:up` and `-- migrate:down` sections.
    Dbmate,
    /// goose: one `<version>_<name>.sql` with `-- +goose Up` and `-- +goose Down` sections.
    Goose,
    /// diesel: a folder `<version>_<name>/` holding `up.sql` and `down.sql`.
    Diesel,
    /// Prisma Migrate: a folder `<timestamp>_<name>/` holding `migration.sql`.
    Prisma,
    /// pop/popx: `<version>_<name>[.<engine>][.autocommit].up.sql`, a variant per engine.
    Pop,
    /// Sqitch: `sqitch.plan` and `deploy/`, `revert/`, `verify/` scripts per change.
    Sqitch,
    /// Liquibase formatted SQL: changelogs of `--changeset author:id` sections.
    Liquibase,
    /// Atlas: `<version>_<name>.sql` beside `atlas.sum`, the folder's integrity file.
    Atlas,
    /// Authelia's storage migrations: `V<version>.<Name>.up.sql`, a folder per engine.
    Authelia,
    /// Temporal's `temporal-sql-tool`: `v<major>.<minor>/manifest.json` and the files it lists.
    Temporal,
}

impl Layout {
    /// Every layout, in the order `--help` lists them.
    pub const ALL: [Layout; 14] = [
        Layout::Native,
        Layout::Flyway,
        Layout::GolangMigrate,
        Layout::Sqlx,
        Layout::Dbmate,
        Layout::Goose,
        Layout::Diesel,
        Layout::Prisma,
        Layout::Pop,
        Layout::Sqitch,
        Layout::Liquibase,
        Layout::Atlas,
        Layout::Authelia,
        Layout::Temporal,
    ];

    /// The layout's name, as `--layout` takes it.
    pub fn name(self) -> &'static str {
        crate::layouts::rules(self).name()
    }

    /// The file names the layout expects, for error messages.
    pub fn expected_names(self) -> &'static str {
        crate::layouts::rules(self).expected_names()
    }

    /// The migration version `version`, named on the command line, stands for when no
    /// migration has it (a temporal-sql-tool version of several files: its last file's).
    pub fn stands_for(self, dir: &std::path::Path, version: &Version, versions: &[&Version]) -> Option<Version> {
        crate::layouts::rules(self).stands_for(dir, version, versions)
    }

    /// Whether the layout's migrations are known by name and file, their version only a place
    /// in the order (Liquibase's changesets): the history is matched so.
    pub fn identifies_by_name(self) -> bool {
        crate::layouts::rules(self).identifies_by_name()
    }

    /// A version as the layout reads it (in a file name, or recorded in the history): most
    /// compare numerically, diesel's as text.
    pub fn parse_version(self, text: &str) -> Option<Version> {
        crate::layouts::rules(self).parse_version(text)
    }
}

/// The SQL dialect of the migrations, the engine they are read for. The analysis parses each
/// dialect its own way; and where a folder keeps a variant of a migration per engine (pop's
/// `<version>_<name>.postgres.up.sql`), the dialect's own is read, else the generic file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// PostgreSQL (libpg_query).
    #[default]
    Postgres,
    /// MySQL or MariaDB (sqlparser's MySQL dialect).
    Mysql,
    /// SQLite (sqlparser's SQLite dialect).
    Sqlite,
}

impl std::str::FromStr for Dialect {
    type Err = String;

    fn from_str(text: &str) -> Result<Dialect, String> {
        match text.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::Mysql),
            "sqlite" | "sqlite3" => Ok(Dialect::Sqlite),
            other => Err(format!("unknown dialect `{other}` (use postgres, mysql or sqlite)")),
        }
    }
}

impl Dialect {
    /// `postgres`, `mysql`, `sqlite`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The name pop gives the engine in file names.
    pub fn pop_name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite3",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = String;

    fn from_str(text: &str) -> Result<Layout, String> {
        Layout::ALL.into_iter().find(|layout| layout.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Layout::ALL.iter().map(|layout| layout.name()).collect();
            format!("unknown layout `{text}`; known layouts: {}", names.join(", "))
        })
    }
}

/// Versioned migrations run once, in version order; repeatable ones run again whenever their
/// checksum changes, after all versioned ones (Flyway's `R__`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MigrationKind {
    /// Has a version; applied once.
    Versioned,
    /// Has no version; re-applied when edited.
    Repeatable,
    /// Expand/contract operations declared in `<version>_<name>.toml`: applied in phases by
    /// `cutover start` and `cutover complete`, never by `up`. Its `up` script has no
    /// statements; its `path` is the declaration.
    Declarative,
}

/// One script of a migration (its up or its down), ready to run.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file that holds the script.
    pub path: PathBuf,
    /// The normalized text of that whole file (both sections of a dbmate or goose file), as
    /// discovery read it: statement lines refer to it, and `cutover:ignore` comments are read
    /// from it, so nothing reads the file again.
    pub text: String,
    /// The statements to run, with their lines in `path`.
    ///
    /// A `BEGIN`/`COMMIT` pair wrapping a transactional script is already removed: cutover's
    /// own transaction replaces it.
    pub statements: Vec<Statement>,
    /// How the script runs.
    pub settings: ScriptSettings,
}

impl Script {
    /// `path:line` of a statement, for messages.
    pub fn location(&self, statement: &Statement) -> String {
        format!("{}:{}", self.path.display(), statement.line)
    }
}

/// A migration, whatever layout it was read from.
#[derive(Debug, Clone)]
pub struct Migration {
    /// `None` for repeatable migrations.
    pub version: Option<Version>,
    /// The description, as in the file name.
    pub name: String,
    /// Versioned or repeatable.
    pub kind: MigrationKind,
    /// The layout it was read from.
    pub layout: Layout,
    /// Checksum of the normalized text of the file that holds the up script.
    pub checksum: Checksum,
    /// What applies the migration.
    pub up: Script,
    /// What reverts it, if anything does.
    pub down: Option<Script>,
}

impl Migration {
    /// The change this migration is a part of, where its layout splits one change into files
    /// that ship together: popx numbers a change's parts by six digits after its 14-digit
    /// timestamp (ory-kratos: `20200830154602000000_..`, `20200830154602000001_..`); a diesel
    /// release's migrations renumbered as a counter after midnight of one day (lemmy's 1.0:
    /// `2025-08-01-000000_..` to `2025-08-01-000068_..`, where 00:00:66 is no time) ship as one
    /// release. `None` for a migration that is a change of its own.
    pub fn change(&self) -> Option<&str> {
        let version = self.version.as_ref()?.as_str();
        let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
        match self.layout {
            Layout::Pop => (version.len() == 20 && digits(version)).then(|| &version[..14]),
            // The version is the folder's digits: `20250801000017`.
            Layout::Diesel => {
                (version.len() == 14 && digits(version) && &version[8..12] == "0000" && &version[..8] != "00000000")
                    .then(|| &version[..8])
            }
            _ => None,
        }
    }

    /// How messages name the migration: `<version> <name>`, or `R <name>` when repeatable.
    pub fn label(&self) -> String {
        match &self.version {
            // A version that is the whole name (Prisma's folders) is not repeated.
            Some(version) if version.as_str().strip_suffix(self.name.as_str()).is_some_and(|v| v.ends_with('_')) => {
                version.to_string()
            }
            // Atlas's `<version>.sql` has no name.
            Some(version) if self.name.is_empty() => version.to_string(),
            Some(version) => format!("{version} {}", self.name),
            None => format!("R {}", self.name),
        }
    }
}

/// The migrations of one directory, versioned ones in version order, then repeatable ones
/// by name.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    /// The directory they were read from.
    pub dir: PathBuf,
    /// The directory's layout.
    pub layout: Layout,
    /// The migrations, in the order they apply.
    pub migrations: Vec<Migration>,
    /// Files passed over on purpose, for the caller to mention: a layout's loose files,
    /// migrations written in code that cutover cannot run, copies and other files named like
    /// migrations that are not read, and links to folders already read (a loop).
    pub ignored: Vec<Ignored>,
}

/// A file that looks like part of the migrations but is passed over, and why.
#[derive(Debug, Clone)]
pub struct Ignored {
    /// The file.
    pub path: PathBuf,
    /// Why it is passed over, and what to do about it.
    pub reason: String,
    /// Whether `cutover up` refuses the folder while the file is there (a near miss of a
    /// migration's name, a `.sql` file the layout does not read): only `cutover lint` passes
    /// over it, and reports it as an error so that CI fails before a deploy would.
    pub refused_by_up: bool,
}
