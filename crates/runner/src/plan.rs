//! `cutover plan`: what each pending migration would do to *this* database. The analysis says
//! which locks each statement takes and whether it scans or rewrites; the live catalog says how
//! large each relation is, what depends on what is dropped or renamed, and which recorded
//! queries still name it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cutover_analysis::{Action, AlterCommand, Diagnostic, Effect, LintConfig, LockMode};
use cutover_engine::{Dependent, LiveDatabase, LockHolder, QueryUse, RelationFacts};
use cutover_migration::MigrationSet;

use crate::context::{read_history_if_any, Context};
use crate::select::plan_up;
use crate::status::compute_status;
use crate::{Error, Settings, UpOptions};

/// Thresholds of `plan`.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// From how many rows a table counts as large (`large-table-blocking-op`).
    pub large_table_rows: i64,
    /// Below how many rows an error-level finding is only a warning: the lock is brief there.
    pub small_table_rows: i64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { large_table_rows: 1_000_000, small_table_rows: 10_000 }
    }
}

/// The plan of every pending migration.
#[derive(Debug)]
pub struct Plan {
    /// In the order `up` would apply them.
    pub migrations: Vec<MigrationPlan>,
    /// The sequential read rate measured on this database (bytes/s), when a table was large
    /// enough to measure; estimates use a default otherwise.
    pub measured_scan_rate: Option<f64>,
    /// The declarative (expand/contract) migration `up` stops before, if one is pending:
    /// `<version> <name>` and its file. `cutover start` applies it, in phases.
    pub stops_before: Option<(String, PathBuf)>,
    /// Whether the engine saw who holds the locks (`waits_for`); `false`: the sessions named
    /// are those that may hold one (MySQL without a view of metadata locks).
    pub lock_holders_exact: bool,
    /// When not exact: the server's other open transactions, any of which may hold a table.
    pub unseen_transactions: Option<cutover_engine::UnseenTransactions>,
}

/// One pending migration.
#[derive(Debug)]
pub struct MigrationPlan {
    /// `<version> <name>`.
    pub label: String,
    /// Its up script.
    pub path: PathBuf,
    /// Each statement.
    pub statements: Vec<StatementPlan>,
    /// The findings, their severity scaled by the sizes of the tables they concern.
    pub diagnostics: Vec<Diagnostic>,
    /// When it blocks or rewrites existing tables and no maintenance window is open: when the
    /// next one opens (RFC 3339), or empty when none will.
    pub waits_for_window: Option<String>,
}

/// One statement of a pending migration, on this database.
#[derive(Debug)]
pub struct StatementPlan {
    /// 1-based line in the script.
    pub line: usize,
    /// Its text.
    pub sql: String,
    /// What the analysis says it does (`None` when it does not parse).
    pub effect: Option<Effect>,
    /// The relations it locks, as the catalog knows them (those that exist).
    pub relations: Vec<RelationFacts>,
    /// How long its scan or rewrite should take here, from the sizes and the read rate.
    pub estimate: Option<Duration>,
    /// What depends on what it drops, renames or retypes: the thing, and the dependent.
    pub dependents: Vec<(String, Dependent)>,
    /// Recorded queries that name what it drops or renames; `None` without `pg_stat_statements`.
    pub queries: Option<Vec<(String, QueryUse)>>,
    /// The sessions its locks would wait for if it ran now: the relation, and the session (one
    /// an earlier statement of the migration already waits for is not repeated).
    pub waits_for: Vec<(String, LockHolder)>,
}

/// Plans the pending migrations of `set` against `target`.
pub fn plan(
    target: &mut dyn LiveDatabase,
    settings: &Settings,
    set: &MigrationSet,
    options: &PlanOptions,
) -> Result<Plan, Error> {
    let history = {
        let mut silent = crate::Silent;
        let mut ctx = Context { target: &mut *target, settings, reporter: &mut silent };
        read_history_if_any(&mut ctx)?
    };
    let statuses = compute_status(set, &history);
    let steps = plan_up(set, &statuses, &UpOptions { allow_out_of_order: true, ..UpOptions::default() })?;

    // Which relations the pending statements touch, to ask the catalog once: named as the
    // analysis of them on this database names them (`public.t` is not `t` on every path).
    let live = target.live_schema().map_err(|e| Error::database("cannot read the live schema", e))?;
    let (engine, server) = (target.engine(), target.server_version());
    let mut named =
        LintConfig { live_names: crate::lint::live_names(&live), ..crate::lint::run_by_cutover(&settings.lint) };
    crate::lint::judge_as_server(&mut named, engine, &server);
    // With the live schema, as below: a dropped table's foreign keys lock the tables they
    // reference, which only the catalog knows.
    let pending_migrations: Vec<&cutover_migration::Migration> = steps.iter().map(|(m, _)| *m).collect();
    let mut names: Vec<String> = Vec::new();
    // The live tables they are, through the renames of the migrations before (tester 20: a
    // table renamed onto another's name was shown with that one's size).
    let mut moves = cutover_analysis::TableMoves::default();
    for linted in crate::lint::lint_pending(set, &pending_migrations, &named, Some(&live)) {
        for effect in linted.effects.iter().flatten() {
            names.extend(effect.locks.iter().filter_map(|(name, _)| moves.live_table(name)).map(str::to_string));
            moves.record(effect);
        }
    }
    names.sort();
    names.dedup();
    names.retain(|name| !name.is_empty());
    let facts = target.relation_facts(&names).map_err(|e| Error::database("cannot read the catalog", e))?;
    let facts: BTreeMap<String, RelationFacts> = facts.into_iter().map(|f| (f.name.clone(), f)).collect();

    // `up` would run them: cutover's runner.
    let mut config = crate::lint::run_by_cutover(&settings.lint);
    crate::lint::judge_as_server(&mut config, engine, &server);
    config.time_zone = Some(target.time_zone().map_err(|e| Error::database("cannot read the time zone", e))?);
    config.live_rows = facts.iter().map(|(name, f)| (name.clone(), f.rows)).collect();
    config.large_table_rows = options.large_table_rows;
    config.small_table_rows = options.small_table_rows;

    // The read rate, measured on the largest relation that a pending statement scans.
    let largest = facts.values().filter(|f| f.kind.contains("table")).max_by_key(|f| f.bytes);
    let measured_scan_rate = match largest {
        Some(f) => target.measure_scan_rate(&f.name).map_err(|e| Error::database("cannot measure the read rate", e))?,
        None => None,
    };
    let rate = measured_scan_rate.unwrap_or(crate::estimate::DEFAULT_SCAN_RATE);

    let now = settings.now.unwrap_or_else(std::time::SystemTime::now);
    let (window_open, next_window) = crate::policy::window_state(&settings.windows, now);
    let window_closed = !settings.windows.is_empty() && !window_open;
    let mut migrations = Vec::new();
    let mut lock_holders_exact = true;
    let mut moves = cutover_analysis::TableMoves::default();
    for linted in crate::lint::lint_pending(set, &pending_migrations, &config, Some(&live)) {
        let migration = linted.migration;
        let mut diagnostics = linted.diagnostics;
        let waits_for_window = (window_closed && linted.needs_window)
            .then(|| next_window.map(|t| humantime::format_rfc3339(t).to_string()).unwrap_or_default());
        // The facts of each statement's tables by the names it uses, as they are when it runs.
        let here: Vec<(usize, BTreeMap<String, RelationFacts>)> = migration
            .up
            .statements
            .iter()
            .zip(&linted.effects)
            .map(|(statement, effect)| {
                let named: BTreeMap<String, RelationFacts> = effect
                    .iter()
                    .flat_map(|e| e.locks.iter())
                    .filter_map(|(name, _)| Some((name.clone(), facts.get(moves.live_table(name)?)?.clone())))
                    .collect();
                if let Some(effect) = effect {
                    moves.record(effect);
                }
                (statement.line, named)
            })
            .collect();
        for d in &mut diagnostics {
            if let Some((_, named)) = here.iter().rev().find(|(line, _)| *line <= d.line) {
                scale_by_size(d, named);
            }
        }
        let mut statements = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        for ((statement, effect), (_, named)) in migration.up.statements.iter().zip(linted.effects).zip(&here) {
            // Shown under the names the statement uses, with the sizes of the tables they are.
            let relations: Vec<RelationFacts> = effect
                .iter()
                .flat_map(|e| e.locks.iter())
                .filter_map(|(name, _)| Some(RelationFacts { name: name.clone(), ..named.get(name)?.clone() }))
                .collect();
            let estimate = effect.as_ref().and_then(|e| crate::estimate::estimate(e, named, rate));
            let mut dependents = Vec::new();
            let mut queries: Option<Vec<(String, QueryUse)>> = Some(Vec::new());
            for (relation, column) in effect.as_ref().map(removed_names).unwrap_or_default() {
                let subject = column.as_ref().map_or_else(|| relation.clone(), |c| format!("{relation}.{c}"));
                let relation = named.get(&relation).map_or(relation, |f| f.name.clone());
                let found = target
                    .dependents(&relation, column.as_deref())
                    .map_err(|e| Error::database("cannot read the catalog", e))?;
                dependents.extend(found.into_iter().map(|d| (subject.clone(), d)));
                match target
                    .statements_naming(&relation, column.as_deref())
                    .map_err(|e| Error::database("cannot read pg_stat_statements", e))?
                {
                    Some(uses) => {
                        if let Some(queries) = &mut queries {
                            queries.extend(uses.into_iter().map(|u| (subject.clone(), u)));
                        }
                    }
                    None => queries = None,
                }
            }
            // PostgreSQL refuses to change the type of a column a view or rule reads (tester 20:
            // `plan` estimated the rewrite of a change that could only fail): its dependents.
            for (relation, column) in effect.as_ref().map(retyped_columns).unwrap_or_default() {
                let subject = format!("{relation}.{column}");
                let relation = named.get(&relation).map_or(relation, |f| f.name.clone());
                let found = target
                    .dependents(&relation, Some(&column))
                    .map_err(|e| Error::database("cannot read the catalog", e))?;
                dependents.extend(found.into_iter().map(|d| (subject.clone(), d)));
            }
            // (what a session is named under, where it is shown, the session)
            let mut found: Vec<(String, String, LockHolder)> = Vec::new();
            // A concurrent index build waits for the table's writers and then for every
            // transaction with a snapshot; a concurrent drop, for everyone using the table.
            let (waits_as, snapshots) = match effect.as_ref().map(|e| &e.action) {
                Some(Action::CreateIndex { concurrently: true, .. } | Action::Reindex { concurrently: true, .. }) => {
                    (Some(LockMode::Share), true)
                }
                Some(Action::DropIndex { concurrently: true, .. }) => (Some(LockMode::AccessExclusive), false),
                _ => (None, false),
            };
            if snapshots {
                let sessions =
                    target.snapshot_holders().map_err(|e| Error::database("cannot read who holds snapshots now", e))?;
                let on = effect.iter().flat_map(|e| e.locks.iter()).map(|(r, _)| r.clone()).next().unwrap_or_default();
                found.extend(sessions.into_iter().map(|session| (String::new(), on.clone(), session)));
            }
            for (relation, mode) in effect.iter().flat_map(|e| e.locks.iter()) {
                // Sessions hold locks on the live table, by its live name.
                let Some(relation) = named.get(relation).map(|f| &f.name) else { continue };
                let mode = waits_as.unwrap_or(*mode);
                let conflicting =
                    conflicting_modes(mode, effect.as_ref().and_then(|e| e.mysql.as_ref()).is_some_and(|d| d.ddl));
                let holders = target
                    .current_holders(relation, &conflicting)
                    .map_err(|e| Error::database("cannot read who holds locks now", e))?;
                lock_holders_exact &= holders.exact;
                found.extend(holders.sessions.into_iter().map(|session| (relation.clone(), relation.clone(), session)));
            }
            // A session once per relation (a snapshot's once for all), over the whole plan.
            let mut waits_for = Vec::new();
            for (named_under, on, session) in found {
                let key = (named_under, session.description.clone());
                if !seen.contains(&key) {
                    seen.push(key);
                    waits_for.push((on, session));
                }
            }
            statements.push(StatementPlan {
                line: statement.line,
                sql: statement.sql.clone(),
                effect,
                relations,
                estimate,
                dependents,
                queries,
                waits_for,
            });
        }
        migrations.push(MigrationPlan {
            label: migration.label(),
            path: migration.up.path.clone(),
            statements,
            diagnostics,
            waits_for_window,
        });
    }
    let stops_before =
        crate::select::next_declarative(set, &statuses, &UpOptions::default()).map(|m| (m.label(), m.up.path.clone()));
    let unseen_transactions = match lock_holders_exact {
        true => None,
        false => target.unseen_transactions().map_err(|e| Error::database("cannot read the open transactions", e))?,
    };
    Ok(Plan { migrations, measured_scan_rate, stops_before, lock_holders_exact, unseen_transactions })
}

/// The lock modes (as `pg_locks` names them) a request for `mode` waits for; every mode for
/// MySQL's DDL, which takes the table's exclusive metadata lock whatever it does after.
fn conflicting_modes(mode: LockMode, mysql_ddl: bool) -> Vec<&'static str> {
    LockMode::ALL
        .into_iter()
        .filter(|other| mysql_ddl || mode.conflicts_with(*other))
        .map(LockMode::pg_locks_name)
        .collect()
}

/// The message says the table's size. The level is the analysis's, judged on the same live
/// facts as the gate of `up` (which lowers a full-table write on a small table, not a blocking
/// DDL), so that `plan` never calls brief what `up` refuses.
fn scale_by_size(d: &mut Diagnostic, facts: &BTreeMap<String, RelationFacts>) {
    let Some(f) = d.table.as_ref().and_then(|t| facts.get(t)) else { return };
    // A finding judged on the live size already says it.
    if d.message.contains(" rows here") || d.message.contains(" rows by the catalog") {
        return;
    }
    let size =
        format!("{} rows, {}", if f.rows < 0 { "?".to_string() } else { f.rows.to_string() }, human_bytes(f.bytes));
    d.message = format!("{} (here `{}` has {size})", d.message, f.name);
}

/// What the statement drops or renames: (relation, column).
fn removed_names(effect: &Effect) -> Vec<(String, Option<String>)> {
    // MySQL's `CHANGE old new type` and a `RENAME COLUMN` beside other changes.
    let mut renamed: Vec<(String, Option<String>)> = match (&effect.mysql, effect.locks.first()) {
        (Some(ddl), Some((table, _))) => {
            ddl.renamed_columns.iter().map(|(old, _)| (table.clone(), Some(old.clone()))).collect()
        }
        _ => Vec::new(),
    };
    renamed.extend(match &effect.action {
        Action::DropTable { tables, .. } => tables.iter().map(|t| (t.clone(), None)).collect(),
        Action::DropView { views } => views.iter().map(|v| (v.clone(), None)).collect(),
        Action::Rename { object: "column", table, name, .. } => {
            vec![(table.clone(), name.rsplit('.').next().map(str::to_string))]
        }
        Action::Rename { object: "table" | "view" | "materialized view", table, .. } => vec![(table.clone(), None)],
        Action::AlterTable { table, commands } => commands
            .iter()
            .filter_map(|c| match c {
                AlterCommand::DropColumn { column, .. } => Some((table.clone(), Some(column.clone()))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    });
    renamed
}

/// The columns whose type the statement changes: (relation, column).
fn retyped_columns(effect: &Effect) -> Vec<(String, String)> {
    match &effect.action {
        Action::AlterTable { table, commands } => commands
            .iter()
            .filter_map(|c| match c {
                AlterCommand::AlterColumnType { column, .. } => Some((table.clone(), column.clone())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `1.2 GB`, `340 kB`.
pub fn human_bytes(bytes: i64) -> String {
    if bytes < 0 {
        return "? bytes".to_string();
    }
    let units = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
