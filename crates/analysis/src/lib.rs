//! Static safety analysis of migrations: what each statement locks, rewrites and scans, and
//! the rules that read it.
//!
//! SQL is parsed with PostgreSQL's own grammar ([`postgres`] front end) into an [`Effect`] per
//! statement; rules ([`rules::RULES`]) are small predicates over effects and their [`Context`]
//! (tables created earlier in the migration, whether it runs in a transaction).
//!
//! Analysis is pure: no database, no files, no network. It never fails on bad SQL: a statement
//! that does not parse is a `syntax-error` diagnostic, and the others are still analysed.
#![deny(missing_docs)]

mod alter;
mod changes;
mod dialect;
mod effect;
mod empty;
mod ignore;
mod lock;
mod mysql_refine;
mod names;
/// Without the `postgres` feature, PostgreSQL statements are not parsed (each is a
/// `syntax-error` that says so): an application that embeds cutover for another engine does not
/// build libpg_query.
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod rules;
mod runner;
mod schema;
/// MySQL's and SQLite's statements, read with sqlparser (the `mysql` and `sqlite` features).
#[cfg(feature = "sqlparser")]
pub mod sqlparse;

use std::collections::BTreeMap;

use cutover_migration::Statement;

pub use dialect::{Dialect, MysqlServer};
pub use effect::{
    renamed_table, Action, Algorithm, AlterCommand, ColumnInfo, ColumnType, ConvertTo, DefaultValue, Effect,
    ForeignKey, MysqlDdl, MysqlTouches, RowAccess, RowScope, TableStorage, TransactionControl,
};
pub use ignore::{apply_ignores, parse_ignores, partition_ignores, Ignore};
pub use lock::LockMode;
pub use names::{LiveNames, TableMoves};
pub use rules::{Context, Finding};
pub use runner::{Runner, Tool};
pub use schema::{Schema, Table, TypeChange};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Risky; review it.
    Warning,
    /// Unsafe on a live database: `up` should not run it unreviewed.
    Error,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Severity, String> {
        match text {
            "error" => Ok(Severity::Error),
            "warning" => Ok(Severity::Warning),
            "info" => Ok(Severity::Info),
            other => Err(format!("unknown severity `{other}` (use error, warning or info)")),
        }
    }
}

/// A finding at a place in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The rule's id.
    pub rule: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// 1-based first line of the statement (or of the syntax error).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Last line of the statement.
    pub end_line: usize,
    /// 1-based column just past the statement's last character, on `end_line`.
    pub end_column: usize,
    /// What happens.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// The table concerned, if any.
    pub table: Option<String>,
    /// The lock taken, if any.
    pub lock: Option<LockMode>,
}

/// How to lint: the target and the rules' levels. The same for every file of a run.
#[derive(Debug, Clone)]
pub struct LintConfig {
    /// The PostgreSQL major version the migrations are for (default 15).
    pub pg_version: u32,
    /// Who runs the migrations: cutover (the default), or another tool, which sets no
    /// `lock_timeout` or `statement_timeout`, clears no failed index build's leftovers, and runs
    /// a file in a transaction or as one query as it does.
    pub runner: Runner,
    /// Per-rule levels that replace the defaults; `None` switches a rule off.
    pub levels: BTreeMap<String, Option<Severity>>,
    /// Run only this rule (tests).
    pub only_rule: Option<String>,
    /// The session `TimeZone` the migrations run with, when known (from the live server):
    /// with UTC, PostgreSQL 12+ converts `timestamp` to `timestamptz` without a rewrite.
    pub time_zone: Option<String>,
    /// The SQL dialect of the migrations.
    pub dialect: Dialect,
    /// For MySQL: the server flavour and version (default `mysql-8.0`).
    pub mysql_server: MysqlServer,
    /// Estimated rows of the live database's tables, by name, when known (`cutover plan`):
    /// `large-table-blocking-op` fires only with them. Empty otherwise.
    pub live_rows: BTreeMap<String, i64>,
    /// From how many rows a table of `live_rows` counts as large (default 1,000,000).
    pub large_table_rows: i64,
    /// Below how many rows a table of `live_rows` counts as small (default 10,000): a
    /// full-table `UPDATE` under a lock on it is then brief, and a warning rather than an error.
    pub small_table_rows: i64,
    /// Where the live database's relations are, and the names the analysis gives them (so that
    /// `public.t`, `app.t` and a `SET search_path` find the table the server will). Empty
    /// without a database.
    pub live_names: LiveNames,
}

impl Default for LintConfig {
    fn default() -> Self {
        LintConfig {
            pg_version: 15,
            runner: Runner::Cutover,
            levels: BTreeMap::new(),
            only_rule: None,
            time_zone: None,
            dialect: Dialect::Postgres,
            mysql_server: MysqlServer::default(),
            live_rows: BTreeMap::new(),
            large_table_rows: 1_000_000,
            small_table_rows: 10_000,
            live_names: LiveNames::default(),
        }
    }
}

impl LintConfig {
    /// The severity `rule` reports at, or `None` when it is switched off (or another rule is
    /// the only one wanted).
    pub fn level(&self, rule: &str, default: Severity) -> Option<Severity> {
        if self.only_rule.as_deref().is_some_and(|only| only != rule) {
            return None;
        }
        self.configured(rule).unwrap_or(Some(default))
    }

    /// The level configured for `rule`, or for the id its findings had before (`None`: none is).
    fn configured(&self, rule: &str) -> Option<Option<Severity>> {
        let former = rules::former_id(rule).and_then(|former| self.levels.get(former));
        self.levels.get(rule).or(former).copied()
    }

    /// Whether `rule` runs at all. `only_rule` does not stop the others from running: their
    /// findings decide whether an ignore comment is used.
    fn runs(&self, rule: &str) -> bool {
        self.configured(rule) != Some(None)
    }
}

/// One migration file to lint.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    /// Its text (for `cutover:ignore` comments).
    pub text: &'a str,
    /// Its statements.
    pub statements: &'a [Statement],
    /// Whether cutover's runner wraps it in one transaction (its settings' `transaction`).
    pub in_transaction: bool,
    /// The directive that switched its transaction off, if one did: another tool honours only
    /// its own (its settings' `no_transaction_by`).
    pub no_transaction_by: Option<cutover_migration::NoTransactionMarker>,
    /// Whether it has a down script, when its layout can have one (`None`: not applicable).
    pub has_down: Option<bool>,
}

/// What linting one script found, and what its statements do.
#[derive(Debug, Clone, Default)]
pub struct LintedScript {
    /// The findings that stand, at their configured levels.
    pub diagnostics: Vec<Diagnostic>,
    /// The findings a `cutover:ignore` comment with a reason accepted, each with that reason
    /// (the runner records them as approvals).
    pub accepted: Vec<(Diagnostic, String)>,
    /// Each statement's effect, in order (`None` where one does not parse), as the schema model
    /// completed it: what `plan` and `rehearse` compare with the database.
    pub effects: Vec<Option<Effect>>,
    /// Whether the script blocks writes to, or rewrites, an existing table for a time that grows
    /// with the table: such migrations wait for a maintenance window when there are windows.
    pub needs_window: bool,
}

impl LintedScript {
    /// Whether a statement destroys data or breaks code that still uses the old schema.
    pub fn breaks_old_code(&self) -> bool {
        self.effects.iter().flatten().any(|e| e.destructive || e.backward_incompatible)
    }
}

/// Lints migrations in order, replaying each into a schema model so that later ones are judged
/// against what earlier ones built (column types, indexes, which tables exist).
#[derive(Debug)]
pub struct Linter {
    config: LintConfig,
    ctx: Context,
    /// For each entry of [`rules::RULES`], whether it runs (worked out once, not per statement).
    runs: Vec<bool>,
}

impl Linter {
    /// A linter that has seen no migration yet, on an empty schema.
    pub fn new(config: LintConfig) -> Linter {
        Linter::on(config, Schema::default(), false)
    }

    /// A linter for the migrations still to run on a live database whose schema is `schema`
    /// (see [`Schema::insert_table`]): its tables are known, and the tables the linted
    /// migrations create are new there (their rows, those the migrations add).
    pub fn with_schema(config: LintConfig, schema: Schema) -> Linter {
        Linter::on(config, schema, true)
    }

    fn on(config: LintConfig, schema: Schema, live: bool) -> Linter {
        let utc = config.pg_version >= 12 && config.time_zone.as_deref().is_some_and(rules::is_utc);
        let ctx = Context {
            schema,
            live,
            // On a live schema every linted migration is one still to run.
            to_run: live,
            dialect: config.dialect,
            pg_version: config.pg_version,
            // Unresolved (no folder to take a tool from): as cutover runs it.
            runner: if config.runner == Runner::Folder { Runner::Cutover } else { config.runner },
            utc,
            database_utc: utc,
            live_rows: config.live_rows.clone(),
            large_table_rows: config.large_table_rows,
            small_table_rows: config.small_table_rows,
            ..Context::default()
        };
        let runs =
            rules::RULES.iter().map(|rule| config.runs(rule.id) && rule.dialects.contains(&config.dialect)).collect();
        Linter { config, ctx, runs }
    }

    /// Whether the migrations linted next are still to run, after the earlier ones that are
    /// (without a live schema, the files a pull request adds): the tables those create are new
    /// for them, with no released code using them and no rows but their own. On a live schema
    /// ([`Linter::with_schema`]) every one is.
    pub fn still_to_run(&mut self, to_run: bool) {
        self.ctx.to_run = to_run || self.ctx.live;
    }

    /// Whether the next migration is a later part of the same change as the last one linted
    /// (files that ship together, [`cutover_migration::Migration::change`]): the tables the
    /// earlier parts made are new for it.
    pub fn continues_change(&mut self, continues: bool) {
        self.ctx.continues_change = continues;
    }

    /// Tables released though no migration linted makes them (those a branch's deleted or moved
    /// migrations made): a migration still to run that creates one does not make it new.
    pub fn released_tables(&mut self, tables: impl IntoIterator<Item = String>) {
        self.ctx.released.extend(tables);
    }

    /// The schema model as the migrations linted so far built it.
    pub fn schema(&self) -> &Schema {
        &self.ctx.schema
    }

    /// Lints the next migration file: its statements, then its `cutover:ignore` comments.
    pub fn lint(&mut self, script: &Script<'_>) -> LintedScript {
        self.lint_analyzed(script, analyze(script.statements, &self.config))
    }

    /// [`Linter::lint`] with the statements already parsed by [`analyze`] (or [`analyze_all`],
    /// which parses many files at once).
    pub fn lint_analyzed(&mut self, script: &Script<'_>, analyzed: Analyzed) -> LintedScript {
        let (diagnostics, effects, needs_window) = self.lint_statements(script, analyzed);
        let (mut kept, mut accepted) = partition_ignores(diagnostics, &parse_ignores(script.text), script.statements);
        let config = &self.config;
        let relevel = |d: &mut Diagnostic| match config.level(d.rule, d.severity) {
            Some(severity) => {
                d.severity = severity;
                true
            }
            None => false,
        };
        kept.retain_mut(relevel);
        accepted.retain_mut(|(d, _)| relevel(d));
        LintedScript { diagnostics: kept, accepted, effects, needs_window }
    }

    /// The findings of the script's statements and of the migration as a whole (before its
    /// ignores), each statement's completed effect, and whether it needs a window.
    fn lint_statements(
        &mut self,
        script: &Script<'_>,
        analyzed: Analyzed,
    ) -> (Vec<Diagnostic>, Vec<Option<Effect>>, bool) {
        let runner = self.config.runner;
        // The statements the runner itself runs outside a transaction.
        let detected: Vec<bool> = script
            .statements
            .iter()
            .zip(&analyzed.effects)
            .map(|(statement, effect)| {
                runner.detects(&statement.sql, matches!(effect, Ok(effect) if effect.requires_no_transaction))
            })
            .collect();
        let first_transactional_line =
            script.statements.iter().zip(&detected).find(|(_, detected)| !**detected).map(|(s, _)| s.line);
        let all_detected = !script.statements.is_empty() && first_transactional_line.is_none();
        let file_run = runner.file_run(script.in_transaction, script.no_transaction_by, all_detected);
        self.ctx.start_migration(file_run, script.statements.len(), script.has_down);
        self.ctx.first_transactional_line = first_transactional_line;
        let runs = &self.runs;
        let wanted = |idx: usize| runs[idx];
        let dialect = self.config.dialect;
        let severity_of = |id: &str| rules::find(id).map_or(Severity::Error, |rule| rule.severity);
        let span = |line: usize| {
            // Statements are in line order.
            let statement =
                script.statements.binary_search_by_key(&line, |s| s.line).ok().map(|i| &script.statements[i]);
            let sql = statement.map_or("", |s| s.sql.as_str());
            let end_line = line + sql.matches('\n').count();
            // Statements start at column 1 in practice; the splitter does not track columns.
            let end_column = sql.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (end_line, end_column)
        };
        let diagnostic = |line: usize, finding: Finding| {
            let (end_line, end_column) = span(line);
            Diagnostic {
                rule: finding.rule,
                severity: finding.severity.unwrap_or_else(|| severity_of(finding.rule)),
                line,
                column: 1,
                end_line,
                end_column,
                message: finding.message,
                help: finding.help,
                table: finding.table,
                // PostgreSQL's lock modes mean nothing on the other engines.
                lock: finding.lock.filter(|_| dialect == Dialect::Postgres),
            }
        };
        let mut diagnostics = Vec::new();
        let mut effects = Vec::with_capacity(script.statements.len());
        let mut needs_window = false;
        assert_eq!(analyzed.effects.len(), script.statements.len(), "analyzed from other statements");
        for ((statement, effect), detected) in script.statements.iter().zip(analyzed.effects).zip(detected) {
            self.ctx.line = statement.line;
            self.ctx.runner_takes_it_out = detected;
            let mut effect = match effect {
                Ok(effect) => effect,
                Err(err) => {
                    let help = match dialect {
                        Dialect::Postgres => "fix the statement; PostgreSQL would refuse it",
                        Dialect::Mysql => "fix the statement; MySQL would refuse it",
                        Dialect::Sqlite => "fix the statement; SQLite would refuse it",
                    };
                    diagnostics.push(diagnostic(statement.line, Finding::new("syntax-error", err.message, help)));
                    effects.push(None);
                    continue;
                }
            };
            // After a `SET search_path`, unqualified names are found on it (the parse before
            // could not know the path).
            if let (Some(path), Dialect::Postgres) = (self.ctx.search_path(), dialect) {
                let schema = &self.ctx.schema;
                let known = |name: &str| schema.table(name).is_some() || schema.is_view(name);
                let resolve = |qualifier: Option<&str>, name: &str| {
                    names::resolve(&self.config.live_names, Some(path), known, qualifier, name)
                };
                if let Ok(resolved) = analyze_postgres(&statement.sql, &resolve) {
                    effect = resolved;
                }
            }
            refine(&mut effect, &self.ctx.schema, self.ctx.utc, self.ctx.pg_version);
            self.ctx.empty_if_it_succeeds = match dialect {
                Dialect::Postgres => empty::proven_by(&effect, &self.ctx.schema),
                // MySQL gives the rows the type's implicit default; SQLite refuses such a column.
                Dialect::Mysql | Dialect::Sqlite => None,
            };
            if !self.ctx.enum_values_added.is_empty() {
                #[cfg(feature = "postgres")]
                {
                    effect.string_literals = postgres::string_literals(&statement.sql);
                }
            }
            for finding in rules::check_statement(&effect, &self.ctx, wanted) {
                diagnostics.push(diagnostic(statement.line, finding));
            }
            needs_window |= rules::needs_window(&effect, &self.ctx);
            let writes_rows = empty::may_write_rows(&statement.sql, &effect);
            let elsewhere = !empty::adds_rows_to_no_other_table(&statement.sql, &effect, &self.ctx);
            self.ctx.record_changes(&effect, writes_rows, elsewhere);
            self.ctx.record(&effect);
            effects.push(Some(effect));
        }
        // A finding on the whole migration points at its first line, unless that line is not
        // the migration's (a Liquibase changeset's script is its changelog with the other lines
        // emptied): then at its first statement.
        let first_line_blank = script.text.lines().next().is_none_or(|l| l.trim().is_empty());
        let start = script.statements.first().map_or(1, |s| s.line);
        for (line, finding) in rules::check_migration(&self.ctx, wanted) {
            let line = if line == 1 && first_line_blank { start } else { line };
            diagnostics.push(diagnostic(line, finding));
        }
        diagnostics.sort_by_key(|d| d.line);
        (diagnostics, effects, needs_window)
    }
}

/// The parsed statements of one script: each one's effect, or why it does not parse. Parsing
/// needs no context, so it can run ahead of the (sequential) linting, on several threads.
#[derive(Debug)]
pub struct Analyzed {
    effects: Vec<Result<Effect, effect::ParseError>>,
}

impl Analyzed {
    /// Each statement's effect, `None` where it does not parse (before the schema model
    /// completes it: see [`LintedScript::effects`]).
    pub fn effects(&self) -> impl Iterator<Item = Option<&Effect>> {
        self.effects.iter().map(|e| e.as_ref().ok())
    }
}

/// Parses the statements of one script, in the dialect `config` names.
pub fn analyze(statements: &[Statement], config: &LintConfig) -> Analyzed {
    let effects = statements
        .iter()
        .map(|s| match config.dialect {
            Dialect::Postgres => analyze_postgres(&s.sql, &|schema, name| match schema {
                Some(schema) => names::qualified(&config.live_names, schema, name),
                None => name.to_string(),
            }),
            #[cfg(feature = "sqlparser")]
            Dialect::Mysql => sqlparse::analyze_mysql_in(&s.sql, config.mysql_server, config.live_names.only_schema()),
            #[cfg(feature = "sqlparser")]
            Dialect::Sqlite => sqlparse::analyze_sqlite(&s.sql),
            #[cfg(not(feature = "sqlparser"))]
            Dialect::Mysql | Dialect::Sqlite => Err(not_built(config.dialect)),
        })
        .collect();
    Analyzed { effects }
}

/// One PostgreSQL statement's effect, or why it does not parse (or cannot be parsed: this build
/// has no PostgreSQL grammar).
fn analyze_postgres(sql: &str, resolve: effect::Resolve<'_>) -> Result<Effect, effect::ParseError> {
    #[cfg(feature = "postgres")]
    return postgres::analyze_statement_with(sql, resolve);
    #[cfg(not(feature = "postgres"))]
    {
        let _ = (sql, resolve);
        Err(not_built(Dialect::Postgres))
    }
}

/// Why a statement of a dialect this build left out cannot be parsed: every one of them is a
/// `syntax-error`, so the gate refuses rather than passes what it cannot read.
#[allow(dead_code)] // Unused when every grammar is built.
fn not_built(dialect: Dialect) -> effect::ParseError {
    let (grammar, feature) = match dialect {
        Dialect::Postgres => ("PostgreSQL", "postgres"),
        Dialect::Mysql => ("MySQL", "mysql"),
        Dialect::Sqlite => ("SQLite", "sqlite"),
    };
    effect::ParseError {
        message: format!(
            "this build has no {grammar} grammar: enable the `{feature}` feature of cutover-embed \
             (or cutover-analysis)"
        ),
        position: None,
    }
}

/// Parses many scripts, spread over the machine's cores; the results are in the same order.
pub fn analyze_all(scripts: &[&[Statement]], config: &LintConfig) -> Vec<Analyzed> {
    in_parallel(scripts, |statements| analyze(statements, config))
}

/// `work` on every item, spread over the machine's cores; the results are in the items' order.
/// Analysis is pure, so files can be read and parsed side by side before they are linted in order.
/// (Linting each file as soon as it is parsed was measured slower on two cores: the linting
/// thread takes a core from the parsers.)
pub fn in_parallel<T: Sync, U: Send>(items: &[T], work: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return items.iter().map(work).collect();
    }
    // Workers take the next item as they finish one: file sizes differ by orders of magnitude.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, U)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let idx = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(idx) else { break mine };
                        mine.push((idx, work(item)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("analysis does not panic")).collect()
    });
    done.sort_unstable_by_key(|(idx, _)| *idx);
    done.into_iter().map(|(_, result)| result).collect()
}

/// `work` on every item, spread over the machine's cores, and `consume` on each result in the
/// items' order, on the calling thread, as soon as it and all before it are done. While the next
/// result in order is not ready, the calling thread does `work` on the next item itself rather than
/// wait: linting (in order, one thread) then overlaps parsing instead of following it, and a
/// result is dropped once consumed instead of all being held to the end.
pub fn in_order<T: Sync, U: Send>(items: &[T], work: impl Fn(&T) -> U + Sync, mut consume: impl FnMut(U)) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};
    let helpers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len()).saturating_sub(1);
    if helpers == 0 {
        items.iter().map(work).for_each(consume);
        return;
    }
    let next = AtomicUsize::new(0);
    // A helper's panic is carried to the calling thread, which would otherwise wait forever
    // for the result it was to store.
    let done: Mutex<Vec<Option<std::thread::Result<U>>>> = Mutex::new(items.iter().map(|_| None).collect());
    let ready = Condvar::new();
    let store = |idx: usize, result: std::thread::Result<U>| {
        done.lock().expect("no panic while held")[idx] = Some(result);
        ready.notify_all();
    };
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|| loop {
                let idx = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(idx) else { break };
                store(idx, std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(item))));
            });
        }
        for wanted in 0..items.len() {
            let result = loop {
                let mut slots = done.lock().expect("no panic while held");
                if let Some(result) = slots[wanted].take() {
                    break result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                }
                // Not ready: help with the next unclaimed item, or wait for the one in progress.
                let idx = next.fetch_add(1, Ordering::Relaxed);
                match items.get(idx) {
                    Some(item) => {
                        drop(slots);
                        let result = work(item);
                        if idx == wanted {
                            break result;
                        }
                        store(idx, Ok(result));
                    }
                    None => drop(ready.wait(slots).expect("no panic while held")),
                }
            };
            consume(result);
        }
    });
}

#[cfg(test)]
mod in_order_tests {
    use super::in_order;

    #[test]
    fn results_are_consumed_in_order_and_a_panic_reaches_the_caller() {
        let items: Vec<u32> = (0..200).collect();
        let mut seen = Vec::new();
        in_order(&items, |i| i * 2, |doubled| seen.push(doubled));
        assert_eq!(seen, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        // Whichever thread works on the bad item, the call panics instead of waiting forever.
        let outcome = std::panic::catch_unwind(|| {
            in_order(&items, |i| if *i == 150 { panic!("bad item") } else { *i }, |_| {});
        });
        assert!(outcome.is_err());
    }
}

/// What the schema model adds to a statement's effect: whether a column type change or a
/// default calling a declared function rewrites, and the other tables a statement locks through
/// indexes and foreign keys it does not name, and whether an `ALTER TABLE`'s `SET NOT NULL` scans.
fn refine(effect: &mut Effect, schema: &Schema, utc: bool, pg_version: u32) {
    through_views(effect, schema);
    if let Action::CreateView { view, .. } = &effect.action {
        // `CREATE OR REPLACE VIEW` of a view not there makes it: no one waits for a lock on it
        // (rehearsal on lemmy's folder: predicted, not taken).
        if !schema.knows_view(view) {
            let view = view.clone();
            effect.locks.retain(|(locked, _)| *locked != view);
        }
        return;
    }
    // An index, or `OPTIMIZE TABLE` (of each table it names).
    if let (Action::CreateIndex { .. } | Action::RewriteTable { .. }, Some(ddl)) =
        (&effect.action, effect.mysql.as_mut())
    {
        for (table, _) in &effect.locks {
            if let Some(t) = schema.table(table) {
                mysql_refine::storage_costs(ddl, t, table);
            }
        }
    }
    if let Action::Select { calls } = &effect.action {
        // A volatile function of the user's may write or lock anything: code cutover cannot see.
        if let Some(function) = calls.iter().find(|f| schema.function_is_volatile(f) == Some(true)) {
            effect.action = Action::Opaque { what: format!("call of `{function}`") };
        }
        return;
    }
    if let Action::Reindex { name, concurrently: false } = &effect.action {
        if let Some(table) = schema.table_of_index(name) {
            effect.locks.insert(0, (table.to_string(), LockMode::Share));
        }
        return;
    }
    if let Action::DropIndex { names, .. } = &effect.action {
        // PostgreSQL reads `t.i` as schema `t`: with IF EXISTS and no such schema, it says so
        // and drops nothing, taking no lock (kratos drops `session_devices.unique_session_device`).
        if effect.idempotent == Some(true) && names.iter().all(|n| schema.qualified_by_a_table_not_a_schema(n)) {
            effect.locks.clear();
            return;
        }
        let mut tables = Vec::new();
        for (name, mode) in &effect.locks {
            if let Some(table) = schema.table_of_index(name) {
                tables.push((table.to_string(), *mode));
            }
        }
        effect.locks.splice(0..0, tables);
        return;
    }
    if let Action::DropFunction { names, cascade: true } = &effect.action {
        // CASCADE drops the triggers that call them, which locks their tables.
        let tables: Vec<String> = names.iter().flat_map(|f| schema.tables_triggering(f)).collect();
        add_locks(effect, tables);
        return;
    }
    if let Action::DropTable { tables, cascade } = &effect.action {
        // Dropping a table drops its foreign keys' triggers on the referenced tables; with
        // CASCADE, the foreign keys of other tables that reference it go too, each an ALTER of
        // its table.
        let mut locked: Vec<String> = tables
            .iter()
            .filter_map(|t| schema.table(t))
            .flat_map(|t| t.foreign_keys.iter().map(|fk| fk.referenced_table.clone()))
            .collect();
        if *cascade {
            locked.extend(
                schema
                    .tables()
                    .filter(|(_, other)| other.foreign_keys.iter().any(|fk| tables.contains(&fk.referenced_table)))
                    .map(|(name, _)| name.to_string()),
            );
        }
        locked.retain(|t| !tables.contains(t));
        locked.sort();
        locked.dedup();
        add_locks(effect, locked);
        return;
    }
    let Action::AlterTable { table, commands } = &mut effect.action else { return };
    // MySQL: dropping a column an index covers drops or rebuilds that index, which is not
    // instant (checked on MariaDB 10.11: "Reason: DROP INDEX. Try ALGORITHM=NOCOPY").
    if let Some(ddl) = effect.mysql.as_mut().filter(|d| d.algorithm == Some(Algorithm::Instant)) {
        let indexed = |column: &String| {
            schema.table(table).is_some_and(|t| t.indexes.iter().any(|(_, columns)| columns.contains(column)))
        };
        if commands.iter().any(|c| matches!(c, AlterCommand::DropColumn { column, .. } if indexed(column))) {
            ddl.algorithm = Some(Algorithm::Inplace);
        }
    }
    // MySQL: a MODIFY/CHANGE COLUMN that keeps the type is in place, with concurrent writes.
    if let Some(ddl) = effect.mysql.as_mut().filter(|d| d.copy_if_type_changes) {
        // Each column change alone: in place when the type stays; instant (MariaDB 10.4+) or in
        // place without a rebuild (MySQL) for a longer VARCHAR whose length bytes and
        // nullability stay; a copy otherwise.
        let stored = schema.table(table);
        let column_cost = |column: &String, new_type: &ColumnType| -> Option<Algorithm> {
            let old = schema.column_type(table, column)?;
            let was_not_null = stored.is_some_and(|t| t.not_null_columns.contains(column));
            let keeps_null = ddl.modified_not_null.iter().any(|(c, not_null)| c == column && *not_null == was_not_null);
            // The same type: the dictionary alone (MariaDB 10.4+: a rename, a default, a new
            // place), unless NULL is allowed or refused anew (in place, writes going on).
            // A new collation rebuilds the indexes on the column (observed: INPLACE), or copies
            // the table for a TEXT column's prefix index.
            let indexed = stored.is_some_and(|t| t.indexes.iter().any(|(_, columns)| columns.contains(column)));
            let recollated = indexed && ddl.collated_columns.contains(column);
            if recollated && stored.is_some_and(|t| mysql_refine::recollation_copies(t, column)) {
                return None;
            }
            if old.name == new_type.name && old.modifiers == new_type.modifiers {
                let instant = keeps_null && ddl.instant_varchar_growth && !recollated;
                return Some(if instant { Algorithm::Instant } else { Algorithm::Inplace });
            }
            let charset = stored.and_then(|t| t.charset.as_deref());
            let grows = keeps_null
                && (mysql_refine::varchar_keeps_length_bytes(old, new_type, charset)
                    || mysql_refine::appends_members(old, new_type));
            grows.then_some(if ddl.instant_varchar_growth && !recollated {
                Algorithm::Instant
            } else {
                Algorithm::Inplace
            })
        };
        let costs: Option<Vec<Algorithm>> = commands
            .iter()
            .filter_map(|c| match c {
                AlterCommand::AlterColumnType { column, new_type, .. } => Some(column_cost(column, new_type)),
                _ => None,
            })
            .collect();
        if let Some(costs) = costs {
            let columns = costs.into_iter().max().unwrap_or(Algorithm::Inplace);
            // The other operations' own algorithm, without the column changes taken for copies.
            let others = ddl.algorithm_without_column_changes.unwrap_or(Algorithm::Instant);
            ddl.algorithm = Some(columns.max(others));
            ddl.concurrent_dml = true;
            ddl.reason.clear();
        }
        if let Some(t) = schema.table(table) {
            mysql_refine::storage_costs(ddl, t, table);
        }
        return;
    }
    if let (Some(ddl), Some(t)) = (effect.mysql.as_mut(), schema.table(table)) {
        let converted =
            ddl.converts_to.as_ref().and_then(|to| mysql_refine::convert_cost(to, t, ddl.instant_varchar_growth));
        if let Some(algorithm) = converted {
            ddl.algorithm = Some(algorithm);
            ddl.concurrent_dml = true;
            ddl.reason.clear();
            effect.rewrites = algorithm != Algorithm::Instant;
        }
        mysql_refine::storage_costs(ddl, t, table);
    }
    // A SET NOT NULL that a validated CHECK proves (when it runs) reads nothing, nor does an
    // ATTACH PARTITION whose bound a validated CHECK of the partition matches.
    let provable =
        |c: &AlterCommand| matches!(c, AlterCommand::SetNotNull { .. } | AlterCommand::AttachPartition { .. });
    if effect.scans && effect.mysql.is_none() && commands.iter().any(provable) {
        effect.scans = alter::statement_scans(schema, table, commands, pg_version);
    }
    let mut also_locked = Vec::new();
    let mut rewrites = false;
    for command in commands.iter_mut() {
        match command {
            AlterCommand::AlterColumnType { column, new_type, using } => {
                match schema::type_change(schema.column_type(table, column), new_type, *using, utc) {
                    TypeChange::Rewrite | TypeChange::Unknown => rewrites = true,
                    TypeChange::CatalogOnly => {}
                }
                also_locked.extend(schema.tables_joined_on(table, column));
            }
            // A function the migrations declare VOLATILE (the default) gives each row its own value.
            AlterCommand::AddColumn { default: Some(default @ DefaultValue::Calls { .. }), .. } => {
                let DefaultValue::Calls { functions } = &*default else { continue };
                match functions.iter().find(|f| schema.function_is_volatile(f) == Some(true)) {
                    Some(function) => {
                        *default = DefaultValue::Volatile { function: function.clone() };
                        rewrites = true;
                    }
                    None => *default = DefaultValue::Constant,
                }
            }
            // Dropping a foreign key (or the column it is on) drops its triggers on the
            // referenced table.
            AlterCommand::DropConstraint { name } => {
                also_locked.extend(schema.foreign_key_target(table, name).map(str::to_string));
            }
            AlterCommand::DropColumn { column, .. } => {
                if let Some(t) = schema.table(table) {
                    also_locked.extend(
                        t.foreign_keys
                            .iter()
                            .filter(|fk| fk.columns.contains(column))
                            .map(|fk| fk.referenced_table.clone()),
                    );
                }
            }
            _ => {}
        }
    }
    effect.rewrites |= rewrites;
    add_locks(effect, also_locked);
}

/// Rows changed or read through a view are its table's: the statement locks that table too
/// (first: it is the table it works on). Which of them a condition on the view's columns
/// reaches is not known (a view may rename its columns), so it may reach every row.
fn through_views(effect: &mut Effect, schema: &Schema) {
    let mut bases = Vec::new();
    for access in &mut effect.rows {
        let Some(base) = schema.view_base(&access.table) else { continue };
        access.table = base.to_string();
        if let RowScope::Where(_) = access.rows {
            access.rows = RowScope::Where(vec![Vec::new()]);
        }
        if access.write && !bases.contains(&access.table) {
            bases.push(access.table.clone());
        }
    }
    if let Action::WriteRows { table, .. } = &mut effect.action {
        if let Some(base) = schema.view_base(table) {
            *table = base.to_string();
        }
    }
    for base in bases.into_iter().rev() {
        if !effect.locks.iter().any(|(t, _)| *t == base) {
            effect.locks.insert(0, (base, LockMode::RowExclusive));
        }
    }
}

/// Raises (or adds) an ACCESS EXCLUSIVE lock on each of `tables`.
fn add_locks(effect: &mut Effect, tables: Vec<String>) {
    for table in tables {
        match effect.locks.iter_mut().find(|(t, _)| *t == table) {
            Some((_, mode)) => *mode = LockMode::AccessExclusive,
            None => effect.locks.push((table, LockMode::AccessExclusive)),
        }
    }
}

/// Lints one file on its own (no earlier migrations), with the default configuration.
pub fn lint_file(text: &str, statements: &[Statement], in_transaction: bool) -> Vec<Diagnostic> {
    let script = Script { text, statements, in_transaction, no_transaction_by: None, has_down: None };
    Linter::new(LintConfig::default()).lint(&script).diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(sql: &str) -> Vec<String> {
        let statements = cutover_migration::split_statements(sql).unwrap();
        lint_file(sql, &statements, true)
            .iter()
            .filter(|d| d.severity > Severity::Info)
            .map(|d| format!("{}:{} {}", d.line, d.rule, d.lock.map_or("", |l| l.name())))
            .collect()
    }

    /// `DROP TABLE ... CASCADE` drops the foreign keys of the tables that reference it: each an
    /// ACCESS EXCLUSIVE lock on its table (observed by rehearse on PostgreSQL 15).
    #[test]
    fn drop_table_cascade_locks_the_tables_whose_foreign_keys_it_drops() {
        let first =
            "CREATE TABLE parent (id int PRIMARY KEY);\nCREATE TABLE child (id int, p int REFERENCES parent (id));";
        for (sql, child_locked) in [("DROP TABLE parent CASCADE", true), ("DROP TABLE parent", false)] {
            let mut linter = Linter::new(LintConfig::default());
            let statements = cutover_migration::split_statements(first).unwrap();
            linter.lint(&Script {
                text: first,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None,
            });
            let statements = cutover_migration::split_statements(sql).unwrap();
            let linted = linter.lint(&Script {
                text: sql,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down: None,
            });
            let locks = linted.effects[0].as_ref().unwrap().locks.clone();
            assert_eq!(
                locks.iter().any(|(t, m)| t == "child" && *m == LockMode::AccessExclusive),
                child_locked,
                "{sql}: {locks:?}"
            );
        }
    }

    #[test]
    fn a_classic_unsafe_migration() {
        assert_eq!(
            lint("ALTER TABLE users ADD COLUMN age int;\nCREATE INDEX users_age ON users (age);\nALTER TABLE users RENAME COLUMN name TO full_name;"),
            [
                "2:index-create-blocking SHARE",
                "2:lock-held-across-statements ACCESS EXCLUSIVE",
                "3:rename-column ACCESS EXCLUSIVE"
            ]
        );
        // A NOT NULL column without a default fails on a table with rows; once it succeeded,
        // the table holds none for the rest of the transaction, and the index builds at once.
        assert_eq!(
            lint("ALTER TABLE users ADD COLUMN age int NOT NULL;\nCREATE INDEX users_age ON users (age);\nALTER TABLE users RENAME COLUMN name TO full_name;"),
            ["1:add-column-required ACCESS EXCLUSIVE", "3:rename-column ACCESS EXCLUSIVE"]
        );
    }

    #[test]
    fn syntax_errors_do_not_stop_the_rest() {
        assert_eq!(
            lint("SELECT 1;\nALTER TABLE users ADD COLUMN;\nDROP TABLE users;"),
            ["2:syntax-error ", "3:drop-table ACCESS EXCLUSIVE"]
        );
    }

    #[test]
    fn tables_created_in_the_migration_are_new() {
        assert!(lint("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN x int NOT NULL;\nCREATE INDEX i ON t (x);")
            .is_empty());
    }

    /// The findings of each of `migrations` (sql, whether it is still to run), linted in order
    /// by a linter for another runner than cutover: rule and table.
    fn lint_batch(migrations: &[(&str, bool)]) -> Vec<Vec<String>> {
        let config = LintConfig { runner: Runner::Script(None), ..LintConfig::default() };
        let mut linter = Linter::new(config);
        migrations
            .iter()
            .map(|(sql, to_run)| {
                linter.still_to_run(*to_run);
                crate::rules::test_utils::lint_next(&mut linter, sql, true)
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(|d| format!("{} {}", d.rule, d.table.as_deref().unwrap_or_default()))
                    .collect()
            })
            .collect()
    }

    /// A pull request that adds a table in one migration and indexes it, adds its keys and
    /// tightens it in the next: the table does not exist on the live database before the
    /// batch, so nothing queues behind those locks (review 4's #6, #23). The table of the
    /// released migrations the key points at is still live.
    #[test]
    fn a_table_made_by_a_migration_still_to_run_is_new_for_the_ones_after_it() {
        let released = "CREATE TABLE users (id bigint PRIMARY KEY);\nCREATE TABLE orgs (id bigint PRIMARY KEY);";
        let adds = "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint, title text);";
        let later = "CREATE INDEX posts_user ON posts (user_id);\nALTER TABLE posts ADD CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\nALTER TABLE posts ALTER COLUMN title SET NOT NULL;\nCREATE INDEX orgs_id ON orgs (id);";
        let batch = lint_batch(&[(released, false), (adds, true), (later, true)]);
        let found = batch[2].join("\n");
        assert!(!found.contains(" posts"), "{found}");
        assert!(found.contains("index-create-blocking orgs"), "{found}");
        // Released with the table (the whole history linted, or a changed old file), it is live.
        for to_run in [false, true] {
            let batch = lint_batch(&[(released, false), (adds, false), (later, to_run)]);
            let found = batch[2].join("\n");
            assert!(found.contains("index-create-blocking posts"), "{found}");
            assert!(found.contains("set-not-null-scan posts"), "{found}");
        }
        // A table the released migrations made stays live when a new one says IF NOT EXISTS.
        let again = "CREATE TABLE IF NOT EXISTS orgs (id bigint PRIMARY KEY);";
        let batch = lint_batch(&[(released, false), (again, true), ("CREATE INDEX orgs_id ON orgs (id);", true)]);
        assert!(batch[2].join("\n").contains("index-create-blocking orgs"), "{batch:?}");
        // Renamed in the batch, it is new under its new name.
        let renamed = "ALTER TABLE posts RENAME TO articles;";
        let batch = lint_batch(&[
            (released, false),
            (adds, true),
            (renamed, true),
            ("CREATE INDEX a_t ON articles (title);", true),
        ]);
        assert!(batch[3].is_empty(), "{batch:?}");
        // A live table renamed onto a name a new one had (made and dropped) stays live
        // (tester 9): in the batch, and within one migration.
        let onto = "DROP TABLE posts;\nALTER TABLE users RENAME TO posts;";
        let batch =
            lint_batch(&[(released, false), (adds, true), (onto, true), ("CREATE INDEX p_u ON posts (id);", true)]);
        assert!(batch[3].join("\n").contains("index-create-blocking posts"), "{batch:?}");
        let dance = "ALTER TABLE users RENAME TO users_old;\nCREATE TABLE users (id bigint);\nDROP TABLE users;\nALTER TABLE users_old RENAME TO users;\nCREATE INDEX u_id ON users (id);";
        let batch = lint_batch(&[(released, false), (dance, true)]);
        assert!(batch[1].join("\n").contains("index-create-blocking users"), "{batch:?}");
        // The name a new table was renamed from names nothing new any more.
        let away = "CREATE TABLE drafts (id bigint);\nALTER TABLE drafts RENAME TO notes;\nALTER TABLE orgs RENAME TO drafts;\nCREATE INDEX d_id ON drafts (id);";
        let batch = lint_batch(&[(released, false), (away, true)]);
        assert!(batch[1].join("\n").contains("index-create-blocking drafts"), "{batch:?}");
        // Tester 10's: `CREATE TABLE IF NOT EXISTS` of a released table does nothing, here and
        // out of order before the migration that made it; a new parent with the live table
        // attached; a copy swapped in under the live name.
        let again = "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY);\nCREATE INDEX u_id2 ON users (id);";
        let batch = lint_batch(&[(released, false), (again, true)]);
        assert!(batch[1].join("\n").contains("index-create-blocking users"), "{batch:?}");
        let early = "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY);";
        let batch = lint_batch(&[(early, true), (released, false), ("CREATE INDEX u_id3 ON users (id);", true)]);
        assert!(batch[2].join("\n").contains("index-create-blocking users"), "{batch:?}");
        let parent = "CREATE TABLE p (id bigint NOT NULL) PARTITION BY RANGE (id);\nALTER TABLE p ATTACH PARTITION users FOR VALUES FROM (0) TO (1000000);";
        let batch = lint_batch(&[(released, false), (parent, true), ("CREATE INDEX p_id ON p (id);", true)]);
        assert!(batch[2].join("\n").contains("index-create-blocking"), "{batch:?}");
        let swap = "CREATE TABLE users_new AS SELECT * FROM users;\nALTER TABLE users RENAME TO users_old;\nALTER TABLE users_new RENAME TO users;";
        let batch = lint_batch(&[(released, false), (swap, true), ("CREATE INDEX u_id4 ON users (id);", true)]);
        assert!(batch[2].join("\n").contains("index-create-blocking users"), "{batch:?}");
        // Dropped and made again under its name, the table is the application's at once.
        let remade = "DROP TABLE orgs;\nCREATE TABLE orgs (id bigint PRIMARY KEY);";
        let batch = lint_batch(&[(released, false), (remade, true), ("CREATE INDEX o_id ON orgs (id);", true)]);
        assert!(batch[2].join("\n").contains("index-create-blocking orgs"), "{batch:?}");
        // A table a branch's deleted migrations made (a baseline made again) is released.
        let mut linter = Linter::new(LintConfig { runner: Runner::Script(None), ..LintConfig::default() });
        linter.released_tables(["posts".to_string()]);
        linter.still_to_run(true);
        let sql = "CREATE TABLE IF NOT EXISTS posts (id bigint PRIMARY KEY, user_id bigint);\nCREATE INDEX p_user ON posts (user_id);";
        let blocking = |found: Vec<Diagnostic>| found.iter().any(|d| d.rule == "index-create-blocking");
        assert!(blocking(crate::rules::test_utils::lint_next(&mut linter, sql, true)));
        let sql = "CREATE INDEX p_user2 ON posts (user_id);";
        assert!(blocking(crate::rules::test_utils::lint_next(&mut linter, sql, true)));
    }
}
