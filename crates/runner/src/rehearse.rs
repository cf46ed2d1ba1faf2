//! `cutover rehearse`: apply every pending migration to a scratch database, statement by
//! statement, and check the analysis against what the server really did (PostgreSQL: locks from
//! `pg_locks`, rewrites from changed relfilenodes; MySQL/MariaDB: the cheapest `ALGORITHM=` and
//! `LOCK=` the server accepted for each DDL statement); then run each down script and the up
//! again, and compare schema snapshots to prove that down reverses up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use cutover_analysis::{Action, Effect, LintConfig, LockMode};
use cutover_engine::{HistoryRecord, Observation, Rehearsal};
use cutover_migration::{Migration, MigrationSet};

use crate::context::{read_history_if_any, Context};
use crate::select::plan_up;
use crate::status::compute_status;
use crate::{Error, Settings, Silent, UpOptions};

/// What the rehearsal found.
#[derive(Debug)]
pub struct RehearsalReport {
    /// How many applied migrations were replayed to build the scratch database (0 when it was
    /// copied from the target).
    pub replayed: usize,
    /// The rows copied into the replayed scratch database, when a sample was asked for.
    pub sampled: Option<cutover_engine::SampleReport>,
    /// Each pending migration, in order, up to the first that failed.
    pub migrations: Vec<MigrationRehearsal>,
    /// The pending migrations after one that failed, not rehearsed (`<version> <name>`).
    pub not_rehearsed: Vec<String>,
    /// Rehearsed on MySQL/MariaDB: algorithms and locks checked, not `pg_locks`.
    pub mysql: bool,
}

impl RehearsalReport {
    /// Every disagreement between prediction and observation, and every failed round trip.
    pub fn problems(&self) -> usize {
        self.migrations
            .iter()
            .map(|m| {
                m.statements.iter().map(|s| s.disagreements.len()).sum::<usize>()
                    + usize::from(m.failure.is_some())
                    + usize::from(matches!(m.round_trip, RoundTrip::Differs { .. } | RoundTrip::DownFailed(_)))
            })
            .sum()
    }
}

/// One pending migration, rehearsed.
#[derive(Debug)]
pub struct MigrationRehearsal {
    /// `<version> <name>`.
    pub label: String,
    /// Its up script.
    pub path: PathBuf,
    /// Whether the up script ran in one transaction (its locks held until the commit), else
    /// statement by statement (each statement's locks end with it).
    pub in_transaction: bool,
    /// Its statements, up to the one that failed.
    pub statements: Vec<StatementRehearsal>,
    /// Why the up script failed on the scratch database, if it did: the last statement then
    /// is the one that failed ([`StatementRehearsal::failed`]).
    pub failure: Option<String>,
    /// Whether the down script reverses it.
    pub round_trip: RoundTrip,
    /// How long the up script took.
    pub duration: Duration,
}

/// One statement: predicted and observed.
#[derive(Debug)]
pub struct StatementRehearsal {
    /// 1-based line in the script.
    pub line: usize,
    /// Its text.
    pub sql: String,
    /// The locks the analysis predicts.
    pub predicted_locks: Vec<(String, LockMode)>,
    /// Whether the analysis predicts a rewrite.
    pub predicted_rewrite: bool,
    /// Whether the analysis predicts a read of every row (a scan under its locks).
    pub predicted_scan: bool,
    /// Whether the analysis predicts writes to rows a condition selects (an `UPDATE`, a
    /// `DELETE`), rather than only to rows the statement lists.
    pub predicted_writes: bool,
    /// MySQL/MariaDB: the algorithm the analysis predicts (`INSTANT`, `INPLACE`, `COPY`).
    pub predicted_algorithm: Option<String>,
    /// MySQL/MariaDB: whether the analysis predicts that writes go on meanwhile.
    pub predicted_concurrent_writes: Option<bool>,
    /// What happened.
    pub observed: Observation,
    /// Where they differ: each a bug in the analysis (or in what it can know).
    pub disagreements: Vec<String>,
    /// The statement failed (its transaction was rolled back): `observed` holds only how
    /// long it ran until it failed.
    pub failed: bool,
}

/// Whether down reverses up.
#[derive(Debug, PartialEq, Eq)]
pub enum RoundTrip {
    /// There is no down script.
    NoDown,
    /// Not tried: the up script failed.
    NotTried,
    /// The schema after down equals the schema before up, and up applies again to the same.
    Reverses,
    /// The down script failed.
    DownFailed(String),
    /// The schemas differ: lines only before up (`-`), only after down (`+`); or, after up
    /// again, lines that differ from the first up.
    Differs {
        /// `- line` / `+ line`, before up against after down.
        after_down: Vec<String>,
        /// The same, first up against up again.
        after_reapply: Vec<String>,
    },
}

/// The history of `target` (empty when it has none yet).
pub fn read_history(
    target: &mut dyn cutover_engine::MigrationTarget,
    settings: &Settings,
) -> Result<Vec<HistoryRecord>, Error> {
    read_history_if_any(&mut Context { target, settings, reporter: &mut Silent })
}

/// Rehearses the pending migrations of `set` (pending on the live database, whose history is
/// `history`) on `scratch`, a fresh database (`copied`: already holding the target's schema and
/// history; else the applied migrations are replayed into it first).
pub fn rehearse(
    scratch: &mut dyn Rehearsal,
    settings: &Settings,
    set: &MigrationSet,
    history: &[HistoryRecord],
    copied: bool,
    sample_rows: u64,
) -> Result<RehearsalReport, Error> {
    let statuses = compute_status(set, history);
    let steps = plan_up(set, &statuses, &UpOptions { allow_out_of_order: true, ..UpOptions::default() })?;
    let pending: Vec<&Migration> = steps.iter().map(|(m, _)| *m).collect();

    // The scratch database gets the target's schema: replay what the target has applied.
    let mut replayed = 0;
    if !copied {
        let applied: Vec<&Migration> =
            set.migrations.iter().filter(|m| !pending.iter().any(|p| std::ptr::eq(*p, *m))).collect();
        for migration in &applied {
            run_unobserved(scratch, &migration.up).map_err(|message| replay_failed(migration, &message))?;
            replayed += 1;
        }
    }
    // An empty scratch cannot show what data does to a migration (a CHECK the rows break, a
    // unique index they violate): a sample of the target's rows can.
    // MySQL/MariaDB's copy holds the tables' definitions, not their rows.
    let rows_copied = copied && scratch.engine() != cutover_engine::Engine::Mysql;
    let sampled = if !rows_copied && sample_rows > 0 {
        Some(scratch.copy_sample(sample_rows).map_err(db("cannot copy a sample of the rows"))?)
    } else {
        None
    };

    // The analysis, replayed over every migration in order; pending ones are compared.
    // `up` would run them: cutover's runner.
    let mut config: LintConfig = crate::lint::run_by_cutover(&settings.lint);
    let engine = scratch.engine();
    crate::lint::judge_as_server(&mut config, engine, &scratch.server_version());
    config.time_zone = Some(scratch.time_zone().map_err(db("cannot read the time zone"))?);
    // Predicted on the scratch database's schema, which the applied migrations (or the copy) built.
    let live = scratch.live_schema().map_err(db("cannot read the scratch schema"))?;
    let mut predictions: BTreeMap<usize, Vec<Option<Effect>>> =
        crate::lint::lint_pending(set, &pending, &config, Some(&live))
            .into_iter()
            .map(|l| (set.migrations.iter().position(|m| std::ptr::eq(m, l.migration)).unwrap_or(0), l.effects))
            .collect();

    let mut migrations = Vec::new();
    let mut not_rehearsed = Vec::new();
    let mut broken = false;
    for migration in pending {
        if broken {
            not_rehearsed.push(migration.label());
            continue;
        }
        let idx = set.migrations.iter().position(|m| std::ptr::eq(m, migration)).unwrap_or(0);
        let effects = predictions.remove(&idx).unwrap_or_default();
        let mut rehearsal = rehearse_one(scratch, migration, &effects)?;
        broken = rehearsal.failure.is_some();
        // A replayed scratch holds what the applied migrations build, no more: a table made
        // before the folder is missing there, and a copy of the target is what shows it.
        let missing = |f: &String| f.contains("does not exist") || f.contains("doesn't exist");
        if let Some(failure) = rehearsal.failure.as_mut().filter(|f| !copied && missing(f)) {
            failure.push_str(
                " (the scratch database holds only what the applied migrations build; if the database has tables made before the migration folder, rehearse on a copy of it with --template)",
            );
        }
        migrations.push(rehearsal);
    }
    let mysql = engine == cutover_engine::Engine::Mysql;
    Ok(RehearsalReport { replayed, sampled, migrations, not_rehearsed, mysql })
}

fn replay_failed(migration: &Migration, message: &str) -> Error {
    Error::Refused(crate::Refusal {
        problems: vec![format!("replaying applied migration {} on the scratch database failed: {message}", migration.label())],
        advice: "the applied migrations must build the schema from an empty database; rehearse with --template to copy the target instead".to_string(),
    })
}

fn db(context: &str) -> impl Fn(cutover_engine::DbError) -> Error + '_ {
    move |e| Error::database(context.to_string(), e)
}

fn rehearse_one(
    scratch: &mut dyn Rehearsal,
    migration: &Migration,
    effects: &[Option<Effect>],
) -> Result<MigrationRehearsal, Error> {
    let before_up = scratch.schema_snapshot().map_err(db("cannot read the scratch schema"))?;
    let started = std::time::Instant::now();
    let (statements, failure) = run_observed(scratch, migration, effects)?;
    let duration = started.elapsed();
    let round_trip = if failure.is_some() {
        RoundTrip::NotTried
    } else if let Some(down) = &migration.down {
        let after_up = scratch.schema_snapshot().map_err(db("cannot read the scratch schema"))?;
        match run_unobserved(scratch, down) {
            Err(message) => RoundTrip::DownFailed(message),
            Ok(()) => {
                let after_down = scratch.schema_snapshot().map_err(db("cannot read the scratch schema"))?;
                let mut after_reapply = Vec::new();
                if let Err(message) = run_unobserved(scratch, &migration.up) {
                    after_reapply.push(format!("! up failed after down: {message}"));
                } else {
                    let again = scratch.schema_snapshot().map_err(db("cannot read the scratch schema"))?;
                    after_reapply = difference(&after_up, &again);
                }
                let after_down = difference(&before_up, &after_down);
                if after_down.is_empty() && after_reapply.is_empty() {
                    RoundTrip::Reverses
                } else {
                    RoundTrip::Differs { after_down, after_reapply }
                }
            }
        }
    } else {
        RoundTrip::NoDown
    };
    Ok(MigrationRehearsal {
        label: migration.label(),
        path: migration.up.path.clone(),
        in_transaction: migration.up.settings.transaction,
        statements,
        failure,
        round_trip,
        duration,
    })
}

/// `- line` for lines only in `before`, `+ line` for lines only in `after`.
fn difference(before: &[String], after: &[String]) -> Vec<String> {
    let before_set: BTreeSet<&String> = before.iter().collect();
    let after_set: BTreeSet<&String> = after.iter().collect();
    let mut lines: Vec<String> = before_set.difference(&after_set).map(|l| format!("- {l}")).collect();
    lines.extend(after_set.difference(&before_set).map(|l| format!("+ {l}")));
    lines
}

/// Runs a script without watching it (replays, down scripts): in one transaction when it runs
/// in one, else statement by statement.
fn run_unobserved(scratch: &mut dyn Rehearsal, script: &cutover_migration::Script) -> Result<(), String> {
    let in_transaction = script.settings.transaction;
    if in_transaction {
        scratch.begin().map_err(|e| e.to_string())?;
    }
    for statement in &script.statements {
        if let Err(err) = scratch.execute_observed(&statement.sql, in_transaction) {
            if in_transaction {
                let _ = scratch.rollback();
            }
            return Err(format!("{}:{}: {err}", script.path.display(), statement.line));
        }
    }
    if in_transaction {
        scratch.commit().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs the up script statement by statement, observing each. A script that runs outside a
/// transaction still gets a transaction per statement where PostgreSQL allows one, so that its
/// locks can be seen.
fn run_observed(
    scratch: &mut dyn Rehearsal,
    migration: &Migration,
    effects: &[Option<Effect>],
) -> Result<(Vec<StatementRehearsal>, Option<String>), Error> {
    let script = &migration.up;
    let whole = script.settings.transaction;
    if whole {
        scratch.begin().map_err(db("cannot begin on the scratch database"))?;
    }
    let mut statements = Vec::new();
    // Locks the transaction already holds, and relations made by this migration: neither can
    // be seen again, so neither counts as missing.
    let mut held: BTreeMap<String, LockMode> = BTreeMap::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mysql = scratch.engine() == cutover_engine::Engine::Mysql;
    for (idx, statement) in script.statements.iter().enumerate() {
        let effect = effects.get(idx).cloned().flatten();
        // MySQL/MariaDB: the scratch database shares its server with every other database; a
        // table named in another would be that real table.
        let elsewhere = effect.as_ref().filter(|_| mysql).and_then(|e| e.locks.iter().find(|(n, _)| n.contains('.')));
        if let Some((name, _)) = elsewhere {
            let failure = format!(
                "{}:{}: names `{name}`, a table of another database: run on the scratch database's server it would change that real table; rehearse only what the migration's own database holds",
                script.path.display(),
                statement.line
            );
            statements.push(StatementRehearsal {
                failed: true,
                ..rehearsed(statement, effect.as_ref(), Observation::default(), Vec::new())
            });
            if whole {
                let _ = scratch.rollback();
            }
            return Ok((statements, Some(failure)));
        }
        let own = !whole && !effect.as_ref().is_some_and(|e| e.requires_no_transaction);
        if own {
            scratch.begin().map_err(db("cannot begin on the scratch database"))?;
        }
        let started = std::time::Instant::now();
        let observed = match scratch.execute_observed(&statement.sql, whole || own) {
            Ok(observed) => observed,
            Err(err) => {
                // How long it ran before it failed: its locks were held that long.
                let duration = started.elapsed();
                if whole || own {
                    let _ = scratch.rollback();
                }
                let failure = format!("{}:{}: {err}", script.path.display(), statement.line);
                let observed = Observation { duration, ..Observation::default() };
                statements.push(StatementRehearsal {
                    failed: true,
                    ..rehearsed(statement, effect.as_ref(), observed, Vec::new())
                });
                return Ok((statements, Some(failure)));
            }
        };
        if own {
            scratch.commit().map_err(db("cannot commit on the scratch database"))?;
        }
        let disagreements = effect.as_ref().map_or_else(Vec::new, |e| compare(e, &observed, &held, &created));
        if let Some(e) = &effect {
            match &e.action {
                Action::CreateTable { table, .. } | Action::CreateTableAs { table, .. } => {
                    created.insert(table.clone());
                }
                Action::CreateIndex { name, .. } => {
                    created.insert(name.clone());
                }
                // The lock stays with the table under its new name.
                Action::Rename { object: "table", table, new_name, .. } if whole => {
                    let renamed = match table.rsplit_once('.') {
                        Some((schema, _)) => format!("{schema}.{new_name}"),
                        None => new_name.clone(),
                    };
                    held.insert(renamed.clone(), LockMode::AccessExclusive);
                    if created.contains(table) {
                        created.insert(renamed);
                    }
                }
                _ => {}
            }
        }
        if whole {
            for lock in &observed.locks {
                if let Some(mode) = LockMode::from_pg_locks(&lock.mode) {
                    let entry = held.entry(lock.relation.clone()).or_insert(mode);
                    *entry = (*entry).max(mode);
                }
            }
            for (name, mode) in effect.iter().flat_map(|e| e.locks.iter()) {
                let entry = held.entry(name.clone()).or_insert(*mode);
                *entry = (*entry).max(*mode);
            }
        }
        statements.push(rehearsed(statement, effect.as_ref(), observed, disagreements));
    }
    if whole {
        scratch.commit().map_err(db("cannot commit on the scratch database"))?;
    }
    Ok((statements, None))
}

/// One statement's prediction beside what was observed of it.
fn rehearsed(
    statement: &cutover_migration::Statement,
    effect: Option<&Effect>,
    observed: Observation,
    disagreements: Vec<String>,
) -> StatementRehearsal {
    StatementRehearsal {
        line: statement.line,
        sql: statement.sql.clone(),
        predicted_locks: effect.map(|e| e.locks.clone()).unwrap_or_default(),
        predicted_rewrite: effect.is_some_and(predicts_rewrite),
        predicted_scan: effect.is_some_and(|e| e.scans),
        predicted_writes: effect
            .is_some_and(|e| e.rows.iter().any(|r| r.write && r.rows != cutover_analysis::RowScope::Listed)),
        predicted_algorithm: effect.and_then(|e| e.mysql.as_ref()?.algorithm).map(|a| a.name().to_string()),
        predicted_concurrent_writes: effect.and_then(|e| e.mysql.as_ref()).map(|d| d.concurrent_dml),
        observed,
        disagreements,
        failed: false,
    }
}

/// A new storage file for the table: rewritten, truncated or clustered.
fn predicts_rewrite(effect: &Effect) -> bool {
    effect.rewrites || matches!(effect.action, Action::Truncate { .. })
}

/// Where prediction and observation differ, one line each.
fn compare(
    effect: &Effect,
    observed: &Observation,
    held: &BTreeMap<String, LockMode>,
    created: &BTreeSet<String>,
) -> Vec<String> {
    let mut disagreements = Vec::new();
    if observed.locks_observed {
        let mut strongest: BTreeMap<&str, (LockMode, &str)> = BTreeMap::new();
        for lock in &observed.locks {
            if let Some(mode) = LockMode::from_pg_locks(&lock.mode) {
                let entry = strongest.entry(lock.relation.as_str()).or_insert((mode, lock.kind.as_str()));
                entry.0 = entry.0.max(mode);
            }
        }
        for (name, mode) in &effect.locks {
            if name.is_empty() || created.contains(name) {
                continue;
            }
            // Already held as strongly by an earlier statement: not visible again.
            if held.get(name).is_some_and(|h| h >= mode) {
                continue;
            }
            // A `DO` block's locks are those of the statements its body may run: a branch not
            // taken or a loop over no row takes less.
            let may_take = matches!(effect.action, Action::Opaque { .. });
            match strongest.get(name.as_str()) {
                Some((seen, _)) if seen == mode => {}
                Some((seen, _)) if may_take && seen < mode => {}
                None if may_take => {}
                Some((seen, _)) => disagreements.push(format!("predicted {mode} on `{name}`, observed {seen}")),
                // `IF EXISTS` of something that does not exist takes no lock.
                None if effect.idempotent == Some(true) => {}
                None => disagreements.push(format!("predicted {mode} on `{name}`, not taken")),
            }
        }
        for (name, (mode, kind)) in &strongest {
            let predicted = effect.locks.iter().any(|(n, _)| n == name) || held.get(*name).is_some_and(|h| h >= mode);
            // The analysis models the locks that block writes; lighter ones are not its concern.
            if !predicted && mode.blocks_writes() && !kind.contains("index") && !kind.contains("sequence") {
                disagreements.push(format!("{mode} on `{name}` ({kind}) was taken, not predicted"));
            }
        }
    }
    if let Some(ddl) = &effect.mysql {
        // MySQL/MariaDB: what the server accepted is what it would pick; a rebuild is not seen.
        if let (Some(seen), Some(predicted)) = (&observed.mysql_algorithm, ddl.algorithm) {
            if seen != predicted.name() {
                disagreements.push(format!("predicted ALGORITHM={}, the server accepted {seen}", predicted.name()));
            }
        }
        if let Some(concurrent) = observed.mysql_concurrent_writes {
            if concurrent != ddl.concurrent_dml {
                let said = |c: bool| if c { "writes go on (LOCK=NONE)" } else { "writes wait" };
                disagreements.push(format!("predicted {}, the server: {}", said(ddl.concurrent_dml), said(concurrent)));
            }
        }
        return disagreements;
    }
    let rewrite_predicted = predicts_rewrite(effect);
    let rewritten = observed.rewritten.iter().any(|t| !created.contains(t));
    if rewrite_predicted && !rewritten && !effect.locks.iter().all(|(n, _)| created.contains(n)) {
        disagreements.push("predicted a rewrite, none happened".to_string());
    }
    if rewritten && !rewrite_predicted {
        disagreements.push(format!("rewrote {}, not predicted", observed.rewritten.join(", ")));
    }
    disagreements
}
