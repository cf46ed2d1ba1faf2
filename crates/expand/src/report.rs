//! What each phase of a declarative migration locks, for `cutover lint`: the plan's
//! statements read by the same analysis as SQL migrations. Pure: no I/O.

use cutover_analysis::{Linter, LockMode, Schema, Script};
use cutover_engine::{ColumnShape, IndexShape, TableShape};
use cutover_migration::Statement;

use crate::ops::Declaration;
use crate::plan::{Plan, PlanInput};
use crate::sql::unguarded;

/// One phase: a name and what its statements do.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// `start`, `complete` or `rollback`, with the part of it (`start: expand`).
    pub name: String,
    /// How its statements run.
    pub how: &'static str,
    /// Its statements.
    pub steps: Vec<StepReport>,
}

/// One statement of a phase.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The statement's first line, shortened.
    pub summary: String,
    /// The whole statement (a backfill: what it sets, batch by batch).
    pub statement: String,
    /// Each relation it locks, with the lock mode.
    pub locks: Vec<(String, LockMode)>,
    /// Whether it reads or rewrites a whole table under its lock.
    pub scans: bool,
    /// Whether it rewrites a table.
    pub rewrites: bool,
    /// What it blocks, when the lock modes do not tell (a batched backfill).
    pub note: Option<String>,
}

impl StepReport {
    /// What it blocks while it holds its strongest lock, and for how long.
    pub fn blocking(&self) -> String {
        if let Some(note) = &self.note {
            return note.clone();
        }
        let Some(strongest) = self.locks.iter().map(|(_, mode)| *mode).max() else {
            return "takes no table lock".to_string();
        };
        let duration = if self.rewrites {
            "for a rewrite of the table"
        } else if self.scans && strongest.blocks_writes() {
            "for a scan of the table"
        } else if self.scans {
            "during a scan, but reads and writes go on"
        } else {
            "briefly (catalog only)"
        };
        format!("{} ({}) {duration}", strongest.name(), strongest.blocks())
    }
}

/// What a backfill sets, as one UPDATE (it runs in keyset batches).
fn update(backfill: &crate::plan::PlannedBackfill) -> String {
    format!(
        "UPDATE {} SET {}{}",
        backfill.table,
        backfill.set,
        backfill.condition.as_ref().map(|c| format!(" WHERE {c}")).unwrap_or_default()
    )
}

/// Planned statements as the analysis reads them: a guarded `DO` block as the statement it
/// runs, a line each.
pub fn analysable<'a>(statements: impl IntoIterator<Item = &'a String>) -> Vec<Statement> {
    statements
        .into_iter()
        .map(|s| unguarded(s).unwrap_or_else(|| s.clone()))
        .enumerate()
        .map(|(idx, sql)| Statement { span: 0..sql.len(), sql, line: idx + 1 })
        .collect()
}

fn backfills(plan: &Plan) -> PhaseReport {
    let steps = plan
        .backfills
        .iter()
        .map(|backfill| StepReport {
            summary: update(backfill),
            statement: update(backfill),
            locks: Vec::new(),
            scans: false,
            rewrites: false,
            note: Some(format!(
                "ROW EXCLUSIVE: row locks of one batch at a time (aimed at {} ms, shorter while the application waits on them), throttled on replica lag",
                cutover_backfill::Options::default().batch_time.as_millis()
            )),
        })
        .collect();
    PhaseReport { name: "start: backfill".to_string(), how: "keyset batches, checkpointed, resumable", steps }
}

/// The online rewrites at each phase: run by `cutover rewrite`'s driver, not as statements, so
/// their locks are said here (measured with `pg_locks` on the PostgreSQL engine).
fn rewrites(plan: &Plan, phase: &str) -> PhaseReport {
    let (name, how, modes, what): (&str, &'static str, &[LockMode], &str) = match phase {
        "start" => (
            "start: rewrite",
            "online: copied in batches, kept in step, verified, swapped in one short transaction",
            &[LockMode::AccessShare, LockMode::ShareRowExclusive, LockMode::RowShare, LockMode::AccessExclusive],
            "SHARE ROW EXCLUSIVE briefly for the change capture, ROW SHARE on one batch's rows at a time, ACCESS EXCLUSIVE for the swap (one short transaction under the lock timeout, retried)",
        ),
        "complete" => (
            "complete: rewrite",
            "after the contract",
            &[LockMode::AccessExclusive],
            "ACCESS EXCLUSIVE briefly: the reverse trigger and the old table dropped",
        ),
        _ => (
            "rollback: rewrite",
            "before the revert: verified, then swapped back in one short transaction",
            &[LockMode::AccessExclusive],
            "ACCESS EXCLUSIVE for the swap back (one short transaction under the lock timeout, retried), then the copy dropped",
        ),
    };
    let steps = plan
        .rewrites
        .iter()
        .map(|rewrite| {
            let one_way = !cutover_rewrite::one_way(&rewrite.using).is_empty();
            let what = if phase == "rollback" && one_way {
                "refused: a `using` that is not a cast of its column makes the rewrite one way (the old table is kept in step by casting the new values back); `complete` keeps it"
            } else {
                what
            };
            let change = rewrite.alter.as_deref().unwrap_or("compaction (no change)");
            let statement = format!("cutover rewrite --table {} --alter {change:?}", rewrite.table);
            StepReport {
                summary: format!("rewrite {} online: {change}", rewrite.table),
                statement,
                locks: modes.iter().map(|mode| (rewrite.table.clone(), *mode)).collect(),
                scans: false,
                rewrites: false,
                note: Some(what.to_string()),
            }
        })
        .collect();
    PhaseReport { name: name.to_string(), how, steps }
}

/// The tables of a replayed schema, as the planner wants them (NOT NULL is not tracked by the
/// schema model: columns count as nullable; indexed and key columns as having dependents).
pub fn shapes_from_schema(schema: &Schema) -> Vec<TableShape> {
    let mut tables: Vec<TableShape> = schema
        .tables()
        .map(|(name, table)| TableShape {
            name: name.to_string(),
            columns: table
                .columns
                .iter()
                .map(|(column, column_type)| ColumnShape {
                    name: column.clone(),
                    type_name: column_type.to_string(),
                    not_null: table.primary_key.contains(column),
                    default: None,
                    // Named indexes are rebuilt on a shadow; the unnamed ones are the table's
                    // own unique keys, constraints.
                    has_dependents: table.primary_key.contains(column)
                        || table.indexes.iter().any(|(name, columns)| name.is_empty() && columns.contains(column))
                        || table.foreign_keys.iter().any(|fk| fk.columns.contains(column)),
                    views: Vec::new(),
                })
                .collect(),
            indexes: table
                .indexes
                .iter()
                .filter(|(name, _)| !name.is_empty())
                .map(|(name, columns)| IndexShape {
                    name: name.clone(),
                    unique: false,
                    method: "btree".to_string(),
                    keys: columns.iter().map(|c| (c.clone(), String::new())).collect(),
                })
                .collect(),
            // The model does not know which indexes are unique: a table with no primary key
            // and no index at all is the one known to have no key.
            has_key: !table.primary_key.is_empty() || !table.indexes.is_empty(),
            partitioned: false,
        })
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    tables
}

/// Each phase of `plan`, its statements analysed against `schema_linter` (a linter that has
/// replayed the migrations before this one).
pub fn phases(plan: &Plan, schema_linter: &mut Linter) -> Vec<PhaseReport> {
    let groups: [(&str, &'static str, &[String]); 8] = [
        ("start: expand", "one transaction", &plan.expand),
        ("start: indexes", "each on its own, outside a transaction", &plan.concurrent),
        ("start: validate", "each in its own transaction", &plan.validate),
        ("start: publish", "one transaction", &plan.publish),
        ("complete", "one transaction, with the history row", &plan.contract),
        ("complete: indexes", "each on its own, outside a transaction", &plan.contract_concurrent),
        ("rollback", "one transaction", &plan.revert),
        ("rollback: indexes", "each on its own, outside a transaction", &plan.revert_concurrent),
    ];
    let mut reports = Vec::new();
    for (name, how, statements) in groups {
        // Placed as they run: after the backfills, after the contract, before the revert.
        match name {
            "start: validate" => reports.push(rewrites(plan, "start")),
            "rollback" => {
                reports.push(rewrites(plan, "complete"));
                reports.push(rewrites(plan, "rollback"));
            }
            _ => {}
        }
        if statements.is_empty() {
            continue;
        }
        let parsed = analysable(statements);
        let text = parsed.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>().join(";\n");
        let script = Script {
            text: &text,
            statements: &parsed,
            in_transaction: how.starts_with("one"),
            no_transaction_by: None,
            has_down: None,
        };
        // The findings are about the generated SQL, which cutover wrote safe on purpose; only
        // the effects are reported.
        let effects = schema_linter.lint(&script).effects;
        let steps = parsed
            .iter()
            .map(|statement| &statement.sql)
            .zip(effects)
            .map(|(sql, effect)| {
                let first_line = sql.lines().next().unwrap_or_default();
                let summary: String = first_line.chars().take(110).collect();
                let summary = if summary.len() < sql.len() { format!("{summary} …") } else { summary };
                let statement = sql.clone();
                match effect {
                    Some(effect) => StepReport {
                        summary,
                        statement,
                        locks: effect.locks,
                        scans: effect.scans,
                        rewrites: effect.rewrites,
                        note: None,
                    },
                    None => {
                        StepReport { summary, statement, locks: Vec::new(), scans: false, rewrites: false, note: None }
                    }
                }
            })
            .collect();
        reports.push(PhaseReport { name: name.to_string(), how, steps });
        if name == "start: indexes" || (name == "start: expand" && plan.concurrent.is_empty()) {
            reports.push(backfills(plan));
        }
    }
    reports.retain(|phase| !phase.steps.is_empty());
    reports
}

/// What `lint` and `plan` say of a declarative migration before it runs.
#[derive(Debug)]
pub enum Preview {
    /// What each phase runs and locks.
    Phases(Vec<PhaseReport>),
    /// It cannot be planned: a mistake in the file, or one that does not fit the schema (an
    /// error: `start` would refuse it too).
    Unplannable(String),
    /// Not previewed, and why: tables the migrations before it do not create (they came before
    /// the folder, and only the live database knows them), or it is applied already. A note,
    /// not an error: the file may well be right.
    Note(String),
}

/// Plans `declaration` against `tables` and reports what each phase locks, analysed by
/// `linter` (whose schema the tables come from). `schema_is_whole`: the tables are the live
/// database's, so a table missing is a mistake; otherwise they are what the folder builds, and
/// a table missing may predate the folder.
pub fn preview(
    declaration: &Declaration,
    input: &PlanInput<'_>,
    linter: &mut Linter,
    schema_is_whole: bool,
) -> Preview {
    if !schema_is_whole {
        let mut known: Vec<&str> = input.tables.iter().map(|t| t.name.as_str()).collect();
        let mut missing = Vec::new();
        for operation in &declaration.operations {
            for table in operation.needs_tables() {
                if !known.contains(&table) && !missing.contains(&table) {
                    missing.push(table);
                }
            }
            known.extend(operation.creates_table());
        }
        if !missing.is_empty() {
            // What the file alone shows is still said.
            if let Err(err) = crate::plan::check_declaration(&declaration.operations) {
                return Preview::Unplannable(format!("{}: {err}", declaration.path.display()));
            }
            let names: Vec<String> = missing.iter().map(|t| format!("`{t}`")).collect();
            return Preview::Note(format!(
                "not previewed: the migrations before it do not create {}; if {} came before the folder, `cutover --database-url URL lint` plans it against the live database",
                names.join(", "),
                if missing.len() == 1 { "it" } else { "they" }
            ));
        }
    }
    match crate::plan::plan(input, &declaration.operations) {
        // `linter` ends past the rollback too: it serves this preview only.
        Ok(plan) => Preview::Phases(phases(&plan, linter)),
        Err(err) => Preview::Unplannable(format!("{}: {err}", declaration.path.display())),
    }
}

/// Brings `linter`'s schema past a declarative migration, as `start` then `complete` leave it,
/// for the migrations after it. One that cannot be planned leaves the schema as it is.
pub fn replay(declaration: &Declaration, input: &PlanInput<'_>, linter: &mut Linter) {
    let Ok(plan) = crate::plan::plan(input, &declaration.operations) else {
        return;
    };
    // The rewrites' changes, as the statements they amount to, after the backfills.
    let rewritten: Vec<String> = plan.rewrites.iter().filter_map(|rewrite| rewrite.statement()).collect();
    let parsed = analysable(
        [
            &plan.expand,
            &plan.concurrent,
            &rewritten,
            &plan.validate,
            &plan.publish,
            &plan.contract,
            &plan.contract_concurrent,
        ]
        .into_iter()
        .flatten(),
    );
    let text = parsed.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>().join(";\n");
    let _ = linter.lint(&Script {
        text: &text,
        statements: &parsed,
        in_transaction: true,
        no_transaction_by: None,
        has_down: None,
    });
}
