//! Who runs the migration files, and so how each file meets the database: the hazards of a
//! statement (does it run inside a transaction block? does anything bound its wait for a lock?)
//! and the fix that works (how to run a statement outside a transaction) depend on it.
//!
//! What each tool does, as its documentation or source says:
//! - cutover: a file in one transaction, with `lock_timeout` and `statement_timeout` set and
//!   retries; a file made only of statements that refuse a transaction block, or marked
//!   `-- cutover:no-transaction`, statement by statement outside one.
//! - golang-migrate, Prisma: the file sent as one multi-statement query, which PostgreSQL runs as
//!   one implicit transaction block (golang-migrate's postgres driver documents it for
//!   `x-multi-statement`; prisma/prisma#22922 shows one transaction id for a file's statements,
//!   and a lone `CREATE INDEX CONCURRENTLY` succeeding). Neither has a per-file switch.
//! - sqlx, dbmate, diesel, ory popx: each file in a transaction of its own; their switch (sqlx's
//!   first-line `-- no-transaction`, dbmate's `-- migrate:up transaction:false`, diesel's
//!   `run_in_transaction = false`, popx's `.autocommit.` file name) sends the file as one query
//!   instead, so a statement that refuses a transaction block still fails beside others
//!   (amacneil/dbmate#126 and #182: one index alone works, two fail; diesel's
//!   `run_sql_from_file` is one `batch_execute`; sqlx runs a `no_tx` file with one `execute`).
//! - goose: each file in a transaction; `-- +goose NO TRANSACTION` runs its statements one by
//!   one outside any (`runSQLMigration`).
//! - Flyway (PostgreSQL): each file in a transaction, except that its parser marks `CREATE/DROP
//!   INDEX CONCURRENTLY`, `ALTER TYPE ... ADD VALUE`, `VACUUM` and a few others
//!   non-transactional and runs a script made only of them outside one; a script mixing them
//!   with others is refused unless `mixed` is set; `executeInTransaction=false` in the script's
//!   `.sql.conf` runs it outside one.
//! - Liquibase: each changeset in a transaction of its own, its statements sent one by one over
//!   JDBC; `runInTransaction:false` on the `--changeset` line runs them one by one outside one
//!   (autocommit), so a lone `CREATE INDEX CONCURRENTLY` works there and fails in the default.
//! - Atlas: each file in a transaction of its own (`--tx-mode file`), its statements one by one;
//!   a file headed `-- atlas:txmode none` runs them one by one outside one.
//! - Knex, Alembic: migrations are code, each in a transaction (Alembic's default: all of a run
//!   in one); `exports.config = { transaction: false }` and `op.get_context().autocommit_block()`
//!   are their switches.

use cutover_migration::{Layout, NoTransactionMarker};

/// Who runs the migration files (`--assume-runner`, `[lint] assume_runner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runner {
    /// cutover's own runner: `up` runs what it lints.
    #[default]
    Cutover,
    /// The tool whose layout the folder is in (`cutover lint`'s default): a Liquibase folder is
    /// judged as Liquibase runs it; a folder in cutover's own layout, or loose files, as cutover
    /// runs them. Resolved by [`Runner::for_layout`]; a linter given it unresolved judges as
    /// cutover does.
    Folder,
    /// A tool that sends each file as one multi-statement query (PostgreSQL runs several
    /// statements sent so as one implicit transaction block) and sets no timeouts.
    Script(Option<Tool>),
    /// A tool that wraps each file in a transaction of its own and sets no timeouts.
    Transaction(Option<Tool>),
}

/// A migration tool whose way of running a file (and of running one outside a transaction)
/// cutover knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Redgate Flyway.
    Flyway,
    /// golang-migrate (`migrate`).
    GolangMigrate,
    /// sqlx-cli / `sqlx::migrate!`.
    Sqlx,
    /// dbmate.
    Dbmate,
    /// pressly/goose.
    Goose,
    /// diesel's migrations.
    Diesel,
    /// Prisma Migrate.
    Prisma,
    /// gobuffalo pop / ory popx.
    Pop,
    /// Knex.js.
    Knex,
    /// Alembic.
    Alembic,
    /// Liquibase (formatted SQL changelogs).
    Liquibase,
    /// Atlas (versioned migrations).
    Atlas,
}

/// How one file meets the database under a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileRun {
    /// In one transaction the runner opens.
    #[default]
    OneTransaction,
    /// As one query: several statements are one implicit transaction block, one alone runs
    /// outside a block.
    OneScript,
    /// Statement by statement, each committing on its own.
    EachStatement,
}

impl Tool {
    /// Every tool, for messages.
    pub const ALL: [Tool; 12] = [
        Tool::Flyway,
        Tool::GolangMigrate,
        Tool::Sqlx,
        Tool::Dbmate,
        Tool::Goose,
        Tool::Diesel,
        Tool::Prisma,
        Tool::Pop,
        Tool::Knex,
        Tool::Alembic,
        Tool::Liquibase,
        Tool::Atlas,
    ];

    /// Its name, as `--assume-runner` takes it.
    pub fn id(self) -> &'static str {
        match self {
            Tool::Flyway => "flyway",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Sqlx => "sqlx",
            Tool::Dbmate => "dbmate",
            Tool::Goose => "goose",
            Tool::Diesel => "diesel",
            Tool::Prisma => "prisma",
            Tool::Pop => "pop",
            Tool::Knex => "knex",
            Tool::Alembic => "alembic",
            Tool::Liquibase => "liquibase",
            Tool::Atlas => "atlas",
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Flyway => "Flyway",
            Tool::Prisma => "Prisma",
            Tool::Knex => "Knex",
            Tool::Alembic => "Alembic",
            Tool::Liquibase => "Liquibase",
            Tool::Atlas => "Atlas",
            Tool::Pop => "popx",
            other => other.id(),
        }
    }

    /// The tool whose files a layout cutover reads holds (none for cutover's own).
    pub fn of_layout(layout: Layout) -> Option<Tool> {
        match layout {
            Layout::Native => None,
            Layout::Flyway => Some(Tool::Flyway),
            Layout::GolangMigrate => Some(Tool::GolangMigrate),
            Layout::Sqlx => Some(Tool::Sqlx),
            Layout::Dbmate => Some(Tool::Dbmate),
            Layout::Goose => Some(Tool::Goose),
            Layout::Diesel => Some(Tool::Diesel),
            Layout::Prisma => Some(Tool::Prisma),
            Layout::Pop => Some(Tool::Pop),
            Layout::Liquibase => Some(Tool::Liquibase),
            Layout::Atlas => Some(Tool::Atlas),
            // psql runs its scripts, which hold their own BEGIN/COMMIT: as cutover runs them.
            Layout::Sqitch => None,
            // Their own runners (Authelia's, temporal-sql-tool) are named by no switch a file
            // carries: judged as cutover runs them.
            Layout::Authelia | Layout::Temporal => None,
        }
    }

    /// How it runs a file by default.
    fn runner(self) -> Runner {
        match self {
            Tool::GolangMigrate | Tool::Prisma => Runner::Script(Some(self)),
            _ => Runner::Transaction(Some(self)),
        }
    }

    /// The directive in a SQL file that switches its transaction off, if the tool reads one
    /// there (Knex's and Alembic's are in the migration's code).
    pub(crate) fn marker(self) -> Option<NoTransactionMarker> {
        match self {
            Tool::Flyway => Some(NoTransactionMarker::Flyway),
            Tool::Sqlx => Some(NoTransactionMarker::Sqlx),
            Tool::Dbmate => Some(NoTransactionMarker::Dbmate),
            Tool::Goose => Some(NoTransactionMarker::Goose),
            Tool::Diesel => Some(NoTransactionMarker::Diesel),
            Tool::Pop => Some(NoTransactionMarker::Pop),
            Tool::Liquibase => Some(NoTransactionMarker::Liquibase),
            Tool::Atlas => Some(NoTransactionMarker::Atlas),
            Tool::GolangMigrate | Tool::Prisma | Tool::Knex | Tool::Alembic => None,
        }
    }

    /// How it runs a file its switch took out of the transaction.
    fn runs_opted_out(self) -> FileRun {
        match self {
            // One `Exec`/`batch_execute`/`execute` of the whole file.
            Tool::Sqlx | Tool::Dbmate | Tool::Diesel | Tool::Pop => FileRun::OneScript,
            _ => FileRun::EachStatement,
        }
    }

    /// Where a statement that refuses a transaction block goes so that the tool runs it outside
    /// one, as "run it {where}" (`known`: whether the tool knows the statement refuses one, as
    /// Flyway's parser may not); `None` for the tools that run no file in a transaction.
    fn outside_a_transaction(self, known: bool) -> Option<&'static str> {
        Some(match self {
            Tool::Flyway if !known => "alone in a migration file of its own with `executeInTransaction=false` in its `.sql.conf` (Flyway's parser does not know it refuses a transaction)",
            Tool::Sqlx => "alone in a migration file of its own whose first line is `-- no-transaction` (sqlx then sends the file as one query, which runs as one transaction block when it holds several statements)",
            Tool::Dbmate => "alone in a migration file of its own whose up section is marked `-- migrate:up transaction:false` (dbmate then sends the section as one query, which runs as one transaction block when it holds several statements)",
            Tool::Diesel => "alone in a migration of its own with `run_in_transaction = false` in its metadata.toml (diesel then sends up.sql as one query, which runs as one transaction block when it holds several statements)",
            Tool::Pop => "alone in a migration file of its own named `<version>_<name>.postgres.autocommit.up.sql` (popx runs `.autocommit.` files outside a transaction; one statement a file)",
            Tool::Goose => "in a migration file of its own marked `-- +goose NO TRANSACTION`",
            Tool::Flyway => "in a migration file of its own: Flyway runs a script made only of such statements outside a transaction (beside others, it refuses the script unless `mixed` is set)",
            Tool::Knex => "in a migration of its own that exports `config = { transaction: false }`",
            Tool::Alembic => "inside `with op.get_context().autocommit_block():` in the migration",
            Tool::Liquibase => "in a changeset of its own marked `runInTransaction:false` on its `--changeset` line",
            Tool::Atlas => "in a migration file of its own whose header is `-- atlas:txmode none` (then a blank line)",
            Tool::GolangMigrate | Tool::Prisma => return None,
        })
    }
}

/// Whether Flyway's PostgreSQL parser marks `sql` non-transactional (the patterns of its
/// `PostgreSQLParser.detectCanExecuteInTransaction`): a script made only of such statements runs
/// outside a transaction, one mixing them with others is refused unless `mixed` is set.
pub(crate) fn flyway_detects(sql: &str) -> bool {
    let words = cutover_migration::leading_keywords(sql, 4);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"] | ["CREATE" | "DROP", "INDEX", "CONCURRENTLY", ..] => true,
        ["REINDEX", "VERBOSE", "SCHEMA" | "DATABASE" | "SYSTEM", ..]
        | ["REINDEX", "SCHEMA" | "DATABASE" | "SYSTEM", ..] => true,
        ["VACUUM", ..] | ["DISCARD", "ALL", ..] | ["ALTER", "SYSTEM", ..] => true,
        ["CREATE" | "DROP", "DATABASE" | "TABLESPACE" | "SUBSCRIPTION", ..] => true,
        ["ALTER", "TYPE", ..] => {
            let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
            collapsed.contains(" ADD VALUE")
        }
        _ => false,
    }
}

impl std::str::FromStr for Runner {
    type Err = String;

    /// `cutover`, `script`, `transaction` or a tool's name; `external` is an older name for
    /// `script`.
    fn from_str(text: &str) -> Result<Runner, String> {
        match text {
            "cutover" => Ok(Runner::Cutover),
            "folder" => Ok(Runner::Folder),
            "script" | "external" => Ok(Runner::Script(None)),
            "transaction" => Ok(Runner::Transaction(None)),
            "popx" => Ok(Tool::Pop.runner()),
            other => Tool::ALL.iter().find(|tool| tool.id() == other).map(|tool| tool.runner()).ok_or_else(|| {
                let tools: Vec<&str> = Tool::ALL.iter().map(|t| t.id()).collect();
                format!(
                    "`{other}` is not a runner: use folder (the tool whose layout the folder is in), cutover, script (a tool that sends each file as one query), transaction (a tool that runs each file in a transaction) or a tool: {}",
                    tools.join(", ")
                )
            }),
        }
    }
}

impl Runner {
    /// The runner for a folder in `layout`: a kind of runner given without a tool is that
    /// layout's tool, when the tool runs files that way.
    pub fn for_layout(self, layout: Layout) -> Runner {
        let Some(tool) = Tool::of_layout(layout) else {
            return if self == Runner::Folder { Runner::Cutover } else { self };
        };
        match self {
            Runner::Folder => tool.runner(),
            Runner::Script(None) | Runner::Transaction(None) if tool.runner().same_kind(self) => tool.runner(),
            other => other,
        }
    }

    fn same_kind(self, other: Runner) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }

    /// The tool, when one is known.
    pub fn tool(self) -> Option<Tool> {
        match self {
            Runner::Cutover | Runner::Folder => None,
            Runner::Script(tool) | Runner::Transaction(tool) => tool,
        }
    }

    /// How a file runs: `cutover_in_transaction` is cutover's decision from its directives,
    /// `marker` the directive that switched its transaction off, `all_detected` whether the
    /// runner itself takes every statement out of a transaction ([`Runner::detects`]).
    pub(crate) fn file_run(
        self,
        cutover_in_transaction: bool,
        marker: Option<NoTransactionMarker>,
        all_detected: bool,
    ) -> FileRun {
        match self {
            Runner::Cutover | Runner::Folder if cutover_in_transaction => FileRun::OneTransaction,
            Runner::Cutover | Runner::Folder => FileRun::EachStatement,
            Runner::Script(_) => FileRun::OneScript,
            Runner::Transaction(Some(tool)) if marker.is_some() && marker == tool.marker() => tool.runs_opted_out(),
            Runner::Transaction(Some(Tool::Flyway)) if all_detected => FileRun::EachStatement,
            Runner::Transaction(_) => FileRun::OneTransaction,
        }
    }

    /// Whether the runner itself runs `sql` outside a transaction, as a statement that refuses
    /// one (`refuses`: cutover's list, which its runner follows); Flyway has a list of its own.
    pub(crate) fn detects(self, sql: &str, refuses: bool) -> bool {
        match self {
            Runner::Cutover | Runner::Folder => refuses,
            Runner::Transaction(Some(Tool::Flyway)) => flyway_detects(sql),
            Runner::Script(_) | Runner::Transaction(_) => false,
        }
    }

    /// What the runner runs as one unit, in messages: a Liquibase changeset, else a file.
    pub(crate) fn unit(self) -> &'static str {
        match self.tool() {
            Some(Tool::Liquibase) => "changeset",
            _ => "migration file",
        }
    }

    /// Where a `SET` that should come first goes, in help: `{begin} with SET ...`.
    pub(crate) fn begin(self) -> &'static str {
        match self.tool() {
            Some(Tool::Liquibase) => "begin the changeset",
            Some(Tool::Atlas) => "begin the file (after its `-- atlas:` header and its blank line)",
            _ => "begin the file",
        }
    }

    /// What running a failed migration again takes in this tool, after "run it again", in
    /// messages (empty where running it again is all).
    pub(crate) fn run_again(self) -> &'static str {
        match self.tool() {
            Some(Tool::Prisma) => {
                " (Prisma records the failure: `prisma migrate resolve --rolled-back <migration>` first)"
            }
            Some(Tool::GolangMigrate) => {
                " (golang-migrate marks the database dirty: `migrate force <previous version>` first)"
            }
            _ => "",
        }
    }

    /// Who runs the files, in messages.
    pub(crate) fn who(self) -> &'static str {
        match self {
            Runner::Cutover | Runner::Folder => "cutover",
            Runner::Script(Some(tool)) | Runner::Transaction(Some(tool)) => tool.name(),
            Runner::Script(None) | Runner::Transaction(None) => "your migration tool",
        }
    }

    /// Where a statement that refuses a transaction block goes so that this runner runs it
    /// outside one (`known`: whether the runner knows the statement refuses one, see
    /// [`Runner::detects`]).
    pub(crate) fn place(self, known: bool) -> String {
        match self {
            Runner::Cutover | Runner::Folder => {
                "in a migration file of its own (alone, it runs outside a transaction)".to_string()
            }
            Runner::Script(_) => format!(
                "alone in a migration file of its own ({} sends a file as one query: beside other statements it runs in one transaction block, alone outside any)",
                self.who()
            ),
            Runner::Transaction(tool) => tool
                .and_then(|tool| tool.outside_a_transaction(known))
                .unwrap_or("in a migration of its own that your tool runs outside a transaction (its per-migration switch), or by hand outside the tool")
                .to_string(),
        }
    }

    /// Help to use `statement` (one that refuses a transaction block) where this runner runs it
    /// outside one: `{what}, ...` (`what`: "build it with CREATE INDEX CONCURRENTLY").
    pub(crate) fn alone(self, what: &str, statement: &str) -> String {
        let place = self.place(self.detects(statement, true));
        match self {
            Runner::Cutover | Runner::Folder | Runner::Script(_) => format!("{what}, {place}"),
            Runner::Transaction(_) => {
                format!(
                    "{what}, which cannot run inside the transaction {} wraps every migration in: run it {place}",
                    self.who()
                )
            }
        }
    }

    /// How to make a file's statements commit one by one, where the runner can (for help that
    /// offers it besides a later migration).
    pub(crate) fn each_statement_on_its_own(self) -> Option<&'static str> {
        match self {
            Runner::Cutover | Runner::Folder => Some("make this migration `-- cutover:no-transaction`"),
            Runner::Transaction(Some(Tool::Goose)) => Some("mark this migration `-- +goose NO TRANSACTION`"),
            Runner::Transaction(Some(Tool::Flyway)) => {
                Some("set `executeInTransaction=false` in this script's `.sql.conf`")
            }
            Runner::Transaction(Some(Tool::Liquibase)) => Some("mark this changeset `runInTransaction:false`"),
            Runner::Transaction(Some(Tool::Atlas)) => Some("give this file the header `-- atlas:txmode none`"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        assert_eq!("cutover".parse(), Ok(Runner::Cutover));
        assert_eq!("external".parse(), Ok(Runner::Script(None)), "the older name");
        assert_eq!("script".parse(), Ok(Runner::Script(None)));
        assert_eq!("transaction".parse(), Ok(Runner::Transaction(None)));
        assert_eq!("prisma".parse(), Ok(Runner::Script(Some(Tool::Prisma))));
        assert_eq!("golang-migrate".parse(), Ok(Runner::Script(Some(Tool::GolangMigrate))));
        assert_eq!("popx".parse(), Ok(Runner::Transaction(Some(Tool::Pop))));
        for tool in Tool::ALL {
            assert_eq!(tool.id().parse::<Runner>().map(Runner::tool), Ok(Some(tool)));
        }
        assert_eq!("liquibase".parse(), Ok(Runner::Transaction(Some(Tool::Liquibase))));
        let err = "atlas2".parse::<Runner>().unwrap_err();
        assert!(err.contains("dbmate") && err.contains("transaction"), "{err}");
    }

    /// Flyway's parser lists `CREATE/DROP INDEX CONCURRENTLY` and `ADD VALUE`, not `REINDEX
    /// TABLE CONCURRENTLY` or `DETACH PARTITION ... CONCURRENTLY`.
    #[test]
    fn what_flyway_runs_outside_a_transaction() {
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "create unique index concurrently if not exists i on t (a)",
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            "ALTER TYPE mood ADD VALUE 'meh'",
            "VACUUM t",
            "REINDEX SCHEMA CONCURRENTLY public",
        ] {
            assert!(flyway_detects(sql), "{sql}");
        }
        for sql in
            ["REINDEX TABLE CONCURRENTLY t", "ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "CREATE INDEX i ON t (a)"]
        {
            assert!(!flyway_detects(sql), "{sql}");
        }
        let flyway = Runner::Transaction(Some(Tool::Flyway));
        assert!(flyway.alone("use it", "REINDEX TABLE CONCURRENTLY").contains("executeInTransaction=false"));
        assert!(flyway.alone("use it", "CREATE INDEX CONCURRENTLY").contains("made only of such statements"));
    }

    #[test]
    fn the_folders_own_tool() {
        assert_eq!(Runner::Folder.for_layout(Layout::Liquibase), Runner::Transaction(Some(Tool::Liquibase)));
        assert_eq!(Runner::Folder.for_layout(Layout::GolangMigrate), Runner::Script(Some(Tool::GolangMigrate)));
        assert_eq!(Runner::Folder.for_layout(Layout::Native), Runner::Cutover);
        assert_eq!(Runner::Folder.for_layout(Layout::Sqitch), Runner::Cutover, "psql runs what cutover runs");
        assert_eq!("folder".parse(), Ok(Runner::Folder));
    }

    #[test]
    fn a_folder_names_the_tool_of_its_kind() {
        assert_eq!(Runner::Transaction(None).for_layout(Layout::Goose), Runner::Transaction(Some(Tool::Goose)));
        assert_eq!(Runner::Script(None).for_layout(Layout::GolangMigrate), Runner::Script(Some(Tool::GolangMigrate)));
        // A tool that runs files otherwise than the runner given is not named.
        assert_eq!(Runner::Script(None).for_layout(Layout::Sqlx), Runner::Script(None));
        assert_eq!(Runner::Cutover.for_layout(Layout::Diesel), Runner::Cutover, "cutover runs what it reads");
        assert_eq!(Runner::Transaction(Some(Tool::Pop)).for_layout(Layout::Sqlx), Runner::Transaction(Some(Tool::Pop)));
    }

    #[test]
    fn only_the_tools_own_switch_takes_a_file_out_of_its_transaction() {
        let sqlx = Runner::Transaction(Some(Tool::Sqlx));
        assert_eq!(sqlx.file_run(false, Some(NoTransactionMarker::Sqlx), true), FileRun::OneScript);
        assert_eq!(sqlx.file_run(false, Some(NoTransactionMarker::Cutover), true), FileRun::OneTransaction);
        assert_eq!(sqlx.file_run(false, None, true), FileRun::OneTransaction, "sqlx does not look at the statements");
        let goose = Runner::Transaction(Some(Tool::Goose));
        assert_eq!(goose.file_run(false, Some(NoTransactionMarker::Goose), false), FileRun::EachStatement);
        let flyway = Runner::Transaction(Some(Tool::Flyway));
        assert_eq!(flyway.file_run(false, None, true), FileRun::EachStatement, "Flyway detects them");
        assert_eq!(flyway.file_run(true, None, false), FileRun::OneTransaction);
        assert_eq!(
            Runner::Transaction(None).file_run(false, Some(NoTransactionMarker::Cutover), true),
            FileRun::OneTransaction
        );
        assert_eq!(Runner::Script(None).file_run(false, Some(NoTransactionMarker::Cutover), true), FileRun::OneScript);
        assert_eq!(Runner::Cutover.file_run(false, None, true), FileRun::EachStatement);
    }
}
