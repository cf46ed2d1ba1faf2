//! The command line, as clap parses it. Validation only: no I/O here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use cutover_migration::{parse_duration, parse_lock_timeout, Layout, Version};

/// Zero-downtime schema migrations for PostgreSQL, MySQL/MariaDB and SQLite.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about, propagate_version = true)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after the subcommand.
#[derive(Debug, ClapArgs)]
pub struct GlobalArgs {
    /// Database URL: postgres://user@host/db, mysql://user@host/db, sqlite://file.db or sqlite::memory:.
    /// Defaults to CUTOVER_DATABASE_URL, then cutover.toml, then DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Migrations directory [default: migrations].
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Config file [default: cutover.toml, if present].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Read the migrations in this layout instead of detecting it.
    #[arg(long, global = true, value_parser = parse_layout)]
    pub layout: Option<Layout>,
    /// How long a statement may wait for a lock before the try is rolled back [default: 2s].
    #[arg(long, global = true, value_parser = parse_lock_timeout, value_name = "DURATION")]
    pub lock_timeout: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script: `cutover completions bash > /etc/bash_completion.d/cutover`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print cutover's manual page (roff): `cutover man > /usr/local/share/man/man1/cutover.1`.
    Man,
    /// Write the files of a new migration, versioned with the current UTC time.
    New {
        /// What the migration does, e.g. "add users email".
        name: String,
    },
    /// Show the state of every migration.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Apply pending migrations.
    Up {
        /// Apply up to and including this version.
        #[arg(long, value_parser = parse_version, value_name = "VERSION")]
        to: Option<Version>,
        /// Print what would run; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply pending migrations older than the newest applied one.
        #[arg(long)]
        allow_out_of_order: bool,
        /// Apply migrations with error-level findings (see `cutover lint`) that no ignore accepts.
        #[arg(long)]
        allow_unsafe: bool,
        /// Apply migrations that wait for a maintenance window now; the reason is recorded.
        #[arg(long, value_name = "REASON")]
        outside_window: Option<String>,
        /// First compare the database with what its applied migrations build (`cutover drift`,
        /// PostgreSQL) and warn of differences [default: `check_drift` in cutover.toml].
        #[arg(long)]
        check_drift: bool,
    },
    /// Revert applied migrations with their down scripts, newest first.
    ///
    /// Refused below a migration that stopped part-way up outside a transaction (its down
    /// script undoes all of it, not the part that ran): `cutover up` finishes it first.
    Down {
        /// How many migrations to revert [default: 1]; refused when fewer are applied.
        #[arg(long, conflicts_with_all = ["to", "all"])]
        steps: Option<usize>,
        /// Revert every migration newer than this version, which must be applied.
        #[arg(long, value_parser = parse_version, value_name = "VERSION", conflicts_with = "all")]
        to: Option<Version>,
        /// Revert every applied migration.
        #[arg(long)]
        all: bool,
        /// Print what would run; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check applied migrations against their files; exit 1 on any problem.
    Validate {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Check migrations for statements that are unsafe on a live database; exit 1 on an error.
    ///
    /// With `--database-url` on the command line (PostgreSQL, MySQL/MariaDB), the migrations that
    /// database has not applied, and the files named, are judged on its live schema and table
    /// sizes (and, for MySQL/MariaDB, as its server version runs DDL).
    Lint {
        /// Files and folders to check ("-" reads stdin) [default: the migrations directory].
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = LintFormat::Human)]
        format: LintFormat,
        /// The PostgreSQL major version the migrations are for [default: 15, or `[lint]`].
        #[arg(long, value_parser = parse_pg_version, value_name = "MAJOR")]
        pg_version: Option<u32>,
        /// Who runs the migrations [default: folder, or `[lint]`]: `folder` (the tool whose layout
        /// the folder is in, e.g. Liquibase for a Liquibase folder; cutover for cutover's own
        /// layout and loose files), `cutover` (one transaction a file, timeouts, retries), `script` (a tool that sends each file as one query; `external`
        /// is its older name), `transaction` (a tool that runs each file in a transaction), or the
        /// tool: flyway, golang-migrate, sqlx, dbmate, goose, diesel, prisma, pop, knex, alembic,
        /// liquibase, atlas.
        /// A folder in a tool's layout names the tool of `script` or `transaction`.
        #[arg(long, value_parser = parse_assume_runner, value_name = "RUNNER")]
        assume_runner: Option<cutover_analysis::Runner>,
        /// The SQL dialect: postgres, mysql or sqlite [default: from the database URL or `[lint]`].
        #[arg(long, value_name = "DIALECT")]
        dialect: Option<cutover_analysis::Dialect>,
        /// For MySQL: the server and version, e.g. mariadb-10.11 or mysql-8.0.36 [default: mysql-8.0].
        #[arg(long, value_name = "SERVER")]
        server_version: Option<cutover_analysis::MysqlServer>,
        /// Report only the migrations (and files) added or changed since this git revision (from
        /// where the branch left it, as a pull request's diff; untracked files too); each is
        /// still judged against the schema the migrations before it build.
        #[arg(long, value_name = "REV")]
        changed_since: Option<String>,
        /// Report only the migrations not applied to the database (by its history), such as
        /// those a pull request adds, and fail on an applied one edited or removed since (`up`
        /// refuses it); needs a database URL, and folders rather than files.
        #[arg(long)]
        pending: bool,
    },
    /// What each pending migration would do to this database: locks, sizes, dependents, queries.
    Plan {
        /// `markdown` makes a pull request comment: a table per migration, findings as a list.
        #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
        format: PlanFormat,
        /// From how many rows a table counts as large (`large-table-blocking-op`).
        #[arg(long, default_value_t = 1_000_000, value_name = "ROWS")]
        large_table_rows: i64,
        /// Below how many rows an error-level finding is only a warning (its lock is brief).
        #[arg(long, default_value_t = 10_000, value_name = "ROWS")]
        small_table_rows: i64,
    },
    /// Apply the pending migrations to a scratch copy: check the predicted locks and rewrites
    /// against what PostgreSQL does (on MySQL/MariaDB: the algorithm and lock the server
    /// accepts for each DDL statement, tried from INSTANT down), and that each down script
    /// reverses its up.
    Rehearse {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Copy the database (PostgreSQL: CREATE DATABASE ... TEMPLATE, which needs it to have no
        /// other sessions; MySQL/MariaDB: its tables' and views' definitions, beside it) instead
        /// of replaying the applied migrations into an empty one.
        #[arg(long)]
        template: bool,
        /// Copy up to this many rows of each table from the database (a cheap sample) so that
        /// migrations meet real data: when replaying, and into a MySQL/MariaDB copy.
        #[arg(long, value_name = "ROWS", default_value_t = 0)]
        sample_rows: u64,
        /// Also write the rehearsal as one HTML page (no script, no network): a lock timeline
        /// per migration, each statement's predicted and observed locks, the round trip.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Compare the database's schema with what its applied migrations build (replayed on a
    /// scratch database): list every object changed outside them; exit 1 when there is one.
    Drift {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Every attempt in the history, and every approved finding (who, when, why).
    History {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Judge every migration as `up`'s gate would, and keep the judgement beside them in
    /// cutover-review.<dialect>.json: what an application embedding cutover without a grammar
    /// (cutover-embed's `*-driver` features) runs by. Exit 1 when the file is missing or out of
    /// date (a CI check); `--write` writes it.
    Review {
        /// Write (or rewrite) the file.
        #[arg(long)]
        write: bool,
        /// The SQL dialect: postgres, mysql or sqlite [default: from the database URL or `[lint]`].
        #[arg(long, value_name = "DIALECT")]
        dialect: Option<cutover_analysis::Dialect>,
        /// The oldest PostgreSQL major version the judgement must hold for [default: 15, or `[lint]`].
        #[arg(long, value_parser = parse_pg_version, value_name = "MAJOR")]
        pg_version: Option<u32>,
        /// For MySQL: the server and version, e.g. mariadb-10.11 [default: mysql-8.0, or `[lint]`].
        #[arg(long, value_name = "SERVER")]
        server_version: Option<cutover_analysis::MysqlServer>,
    },
    /// Print what a rule checks, why, and what to do instead; or what a declarative operation
    /// does, its fields and its phases.
    Explain {
        /// A rule's id (index-create-blocking) or an operation's name (add_column) [default: list them all].
        name: Option<String>,
    },
    /// Update a table in small, throttled, resumable batches.
    // Boxed: its many flags would make every other command as large.
    Backfill(Box<BackfillArgs>),
    /// Rewrite a table online: a change that copies the table (a column's type, a compaction)
    /// made on a shadow copy kept in step, verified, and swapped in within the lock timeout.
    // Boxed: its many flags would make every other command as large.
    Rewrite(Box<RewriteArgs>),
    /// Expand: run the next declarative migration's first phase (PostgreSQL) and publish its
    /// new schema version beside the old one. Run again to resume after an interruption.
    Start {
        /// Aim of each backfill batch while the application does not wait on its locks.
        #[arg(long, default_value = "25ms", value_parser = humantime::parse_duration, value_name = "DURATION")]
        batch_time: std::time::Duration,
        /// At most this many backfilled rows per second.
        #[arg(long, value_name = "ROWS")]
        max_rows_per_second: Option<u64>,
        /// Pause backfills while a replica is further behind.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
        max_replica_lag: std::time::Duration,
    },
    /// Contract: remove the old schema version of the active declarative migration and record it.
    Complete {
        /// Complete even while sessions still use the old version (they will fail).
        #[arg(long)]
        force: bool,
        /// Wait this long for the old version's sessions to go (`10m`); without it, refuse at once.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
        wait: std::time::Duration,
    },
    /// Undo the active declarative migration's expand phase, at any point, data intact.
    Rollback,
    /// Take over another tool's history: record every migration it applied as baselined.
    Adopt {
        /// flyway, liquibase, atlas, alembic, knex, prisma, sqitch, pop, sqlx, golang-migrate, dbmate,
        /// goose, diesel or refinery.
        #[arg(long = "from", value_name = "TOOL")]
        tool: cutover_runner::Tool,
    },
    /// Adopt an existing database: count every migration up to VERSION as applied.
    ///
    /// Refused on a database cutover already manages, and on one that has none of the tables
    /// those migrations leave (it was not migrated to VERSION: a mistyped URL, say).
    Baseline {
        /// The newest version the database already has.
        #[arg(value_parser = parse_version, value_name = "VERSION")]
        baseline_version: Version,
    },
}

/// `cutover backfill`.
#[derive(Debug, ClapArgs)]
pub struct BackfillArgs {
    /// A backfill declared in a .toml file of the migrations directory.
    #[arg(value_name = "NAME")]
    pub declared: Option<String>,
    /// The table to update (ad hoc backfill).
    #[arg(long, requires = "set")]
    pub table: Option<String>,
    /// The assignments, e.g. "full_name = first_name || ' ' || last_name".
    #[arg(long, requires = "table", value_name = "ASSIGNMENTS")]
    pub set: Option<String>,
    /// The rows still to do, e.g. "full_name IS NULL" [default: every row].
    #[arg(long = "where", requires = "table", value_name = "CONDITION")]
    pub condition: Option<String>,
    /// Names an ad hoc backfill's checkpoint [default: derived from table, set and where].
    #[arg(long, requires = "table")]
    pub name: Option<String>,
    /// The time each batch aims to take while the application does not wait on its locks.
    #[arg(long, value_parser = parse_duration, default_value = "25ms", value_name = "DURATION")]
    pub batch_time: Duration,
    /// The least time a batch aims to take while the application waits on its locks (each wait
    /// halves the batch time down to this; quiet batches grow it back to --batch-time).
    #[arg(long, value_parser = parse_duration, default_value = "10ms", value_name = "DURATION")]
    pub min_batch_time: Duration,
    /// The smallest batch, in rows.
    #[arg(long, default_value_t = 10)]
    pub min_batch: u64,
    /// The largest batch, in rows.
    #[arg(long, default_value_t = 10_000)]
    pub max_batch: u64,
    /// The first batch of a new backfill, in rows.
    #[arg(long, default_value_t = 1000)]
    pub initial_batch: u64,
    /// Pause while a replica is further behind than this.
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub max_replica_lag: Duration,
    /// Replicas that must be connected; with fewer the backfill pauses.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub replicas: usize,
    /// MySQL/MariaDB: a replica to read the lag of (the primary cannot see it); repeatable.
    #[arg(long = "replica-url", value_name = "URL")]
    pub replica_urls: Vec<String>,
    /// Update at most this many rows per second.
    #[arg(long, value_name = "N")]
    pub max_rows_per_second: Option<u64>,
    /// Pause this long after every batch.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub pause: Option<Duration>,
    /// A query returning one boolean; the backfill pauses while it returns false.
    #[arg(long, value_name = "SQL")]
    pub health_check: Option<String>,
    /// How long to stay paused while the health check fails or a replica's lag cannot be read;
    /// then the backfill stops, progress saved.
    #[arg(long, value_parser = parse_duration, default_value = "10m", value_name = "DURATION")]
    pub max_blind_pause: Duration,
    /// Print the statements and the first batches' keys; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// List running and finished backfills.
    #[arg(long, conflicts_with_all = ["declared", "table", "dry_run"])]
    pub status: bool,
    /// Output format of --status.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// `cutover rewrite`.
#[derive(Debug, ClapArgs)]
pub struct RewriteArgs {
    /// The table to rewrite.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// The change, e.g. "ALTER TABLE users ALTER COLUMN id TYPE bigint" (or its actions alone)
    /// [default: none, the table is compacted like VACUUM FULL].
    #[arg(long, value_name = "SQL")]
    pub alter: Option<String>,
    /// A column's value in the rewritten table, as an expression over the old row
    /// (COLUMN=EXPRESSION); repeatable.
    #[arg(long, value_name = "COLUMN=EXPRESSION")]
    pub using: Vec<String>,
    /// Stop when the copy is verified; the same command without it swaps (the copy is kept in step meanwhile).
    #[arg(long)]
    pub defer_swap: bool,
    /// Swap a swapped rewrite back: the original table, kept in step, takes its name again.
    #[arg(long, requires = "table", conflicts_with_all = ["alter", "using", "defer_swap", "cleanup"])]
    pub revert: bool,
    /// Drop what a rewrite left: the copy (not swapped, or reverted) or the old table (swapped).
    #[arg(long, requires = "table", conflicts_with_all = ["alter", "using", "defer_swap"])]
    pub cleanup: bool,
    /// List the rewrites and their phases.
    #[arg(long, conflicts_with_all = ["table", "revert", "cleanup"])]
    pub status: bool,
    /// Output format of --status.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Rows compared per verification chunk at most (each read in one snapshot; chunks start at
    /// 1,000 rows and are sized to take about half a second, so wide rows make smaller ones).
    #[arg(long, default_value_t = cutover_rewrite::DEFAULT_VERIFY_CHUNK, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub verify_chunk: u64,
    /// The time each copy batch aims to take while the application does not wait on its locks.
    #[arg(long, value_parser = parse_duration, default_value = "25ms", value_name = "DURATION")]
    pub batch_time: Duration,
    /// Copy at most this many rows per second.
    #[arg(long, value_name = "N")]
    pub max_rows_per_second: Option<u64>,
    /// MySQL/MariaDB: a replica to read the lag of (the primary cannot see it); repeatable.
    #[arg(long = "replica-url", value_name = "URL")]
    pub replica_urls: Vec<String>,
    /// Pause the copy while a replica is further behind than this.
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub max_replica_lag: Duration,
    /// Pause this long after every copy batch.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub pause: Option<Duration>,
    /// A query returning one boolean; the copy pauses while it returns false.
    #[arg(long, value_name = "SQL")]
    pub health_check: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
    /// For a pull request comment.
    Markdown,
}

/// Output formats of `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// Snippets with spans, for people.
    Human,
    /// One JSON document.
    Json,
    /// GitHub Actions workflow annotations.
    Github,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

fn parse_pg_version(text: &str) -> Result<u32, String> {
    let version = text.parse().map_err(|_| format!("`{text}` is not a major version such as 15"))?;
    cutover_runner::check_pg_version(version)
}

fn parse_assume_runner(text: &str) -> Result<cutover_analysis::Runner, String> {
    cutover_runner::parse_assume_runner(text)
}

fn parse_layout(text: &str) -> Result<Layout, String> {
    text.parse()
}

fn parse_version(text: &str) -> Result<Version, String> {
    Version::parse(text).or_else(|| Version::parse_named(text)).ok_or_else(|| {
        format!("`{text}` is not a version (digits, optionally separated by `.` or `_`; or a Prisma migration's folder name)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let before = Args::try_parse_from(["cutover", "--dir", "m", "up", "--dry-run"]).unwrap();
        let after = Args::try_parse_from(["cutover", "up", "--dry-run", "--dir", "m"]).unwrap();
        assert_eq!(before.global.dir, after.global.dir);
        assert!(Args::try_parse_from(["cutover", "down", "--steps", "1", "--to", "3"]).is_err());
        assert!(Args::try_parse_from(["cutover", "up", "--to", "v3"]).is_err());
    }

    #[test]
    fn backfill_pacing_defaults_are_the_librarys() {
        let args = Args::try_parse_from(["cutover", "backfill", "--table", "t", "--set", "x = 1"]).unwrap();
        let Command::Backfill(backfill) = args.command else { panic!("a backfill") };
        assert_eq!(backfill.batch_time, cutover_backfill::DEFAULT_BATCH_TIME);
        assert_eq!(backfill.min_batch_time, cutover_backfill::DEFAULT_MIN_BATCH_TIME);
        let Command::Start { batch_time, .. } = Args::try_parse_from(["cutover", "start"]).unwrap().command else {
            panic!("a start")
        };
        assert_eq!(batch_time, cutover_backfill::DEFAULT_BATCH_TIME);
    }

    /// `docs/commands/` is generated from the command line's definition: run with
    /// `CUTOVER_UPDATE_DOCS=1` to write it after changing a command.
    #[test]
    fn command_pages_are_current() {
        use clap::CommandFactory;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/commands");
        let update = std::env::var_os("CUTOVER_UPDATE_DOCS").is_some();
        let mut root = Args::command().term_width(100);
        root.build();
        let mut index = String::from(
            "# Commands\n\nGenerated from the command line's definition (`crates/cli/src/args.rs`); \
             `cutover help COMMAND` prints the same. Global flags go before or after the command.\n\n\
             | command | what it does |\n|---|---|\n",
        );
        let mut pages = vec![("cutover.md".to_string(), {
            let help = root.render_long_help().to_string();
            format!("# cutover\n\n```text\n{}\n```\n", help.trim_end())
        })];
        index.push_str("| [cutover](cutover.md) | the global flags, and the list of commands |\n");
        for command in root.get_subcommands_mut() {
            let name = command.get_name().to_string();
            if name == "help" {
                continue;
            }
            let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
            let help = command.render_long_help().to_string();
            let first = about.lines().next().unwrap_or("").replace('|', "\\|");
            index.push_str(&format!("| [{name}]({name}.md) | {first} |\n"));
            pages.push((format!("{name}.md"), format!("# cutover {name}\n\n```text\n{}\n```\n", help.trim_end())));
        }
        pages.push(("README.md".to_string(), index));
        for (name, text) in pages {
            let path = dir.join(&name);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else {
                let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    on_disk == text,
                    "docs/commands/{name} is stale: run `CUTOVER_UPDATE_DOCS=1 cargo test -p cutover --lib command_pages`"
                );
            }
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
