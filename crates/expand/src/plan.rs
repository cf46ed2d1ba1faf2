//! From operations and the live table shapes to the SQL of every phase. Pure: no I/O.
//!
//! `start` runs, in order: `expand` (one transaction: new and shadow columns, NOT VALID
//! constraints, dual-write triggers, new tables), `concurrent` (index builds, each on its
//! own), `backfills`, `rewrites` (online, to the swap), `validate` (each its own
//! transaction), and `publish` (one transaction: the new version's schema of views).
//! `complete` runs `contract` in one transaction, with the history row, then
//! `contract_concurrent`, then drops what the rewrites kept. `rollback` swaps the rewrites
//! back, runs `revert` in one transaction, then `revert_concurrent`. Every statement is idempotent, so a phase that a crash cut
//! short runs again from its first statement.

use std::collections::BTreeSet;

#[cfg(test)]
use cutover_engine::IndexShape;
use cutover_engine::{ColumnShape, TableShape};
use serde::{Deserialize, Serialize};

use crate::ops::{NewColumn, Operation, SqlPhase};
use crate::sql::{
    column_exists, constraint_exists, drop_version_schema, guarded, ident, index_exists, literal, qualified,
    referenced_names, table_exists, unguarded,
};

/// PostgreSQL truncates longer identifiers silently; cutover refuses them instead.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A batched update the `start` phase runs through the backfill engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedBackfill {
    /// Names the checkpoint (unique per start, so a start after a rollback begins afresh).
    pub name: String,
    /// The table, schema-qualified and quoted.
    pub table: String,
    /// The assignments.
    pub set: String,
    /// The rows to do; `None`: every row, once.
    pub condition: Option<String>,
    /// It writes a column the old version does not see (a new column, a shadow): the table's
    /// own triggers are kept out of its batches where the connection may (an `updated_at`
    /// trigger would move every row's time, an audit trigger log every row, for no change an
    /// application made; tester 23). Absent from plans recorded before it: false.
    #[serde(default)]
    pub hidden: bool,
}

/// A table the `start` phase rewrites online (`cutover rewrite`), to the swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRewrite {
    /// The table, schema-qualified and quoted.
    pub table: String,
    /// The change; `None`: a compaction.
    pub alter: Option<String>,
    /// (column, expression) for columns whose new value is not a cast of the old one.
    pub using: Vec<(String, String)>,
}

impl PlannedRewrite {
    /// The change as one `ALTER TABLE` (its actions alone are given the table), for the
    /// analysis to follow it; `None` for a compaction.
    pub fn statement(&self) -> Option<String> {
        Some(as_alter_table(&self.table, self.alter.as_deref()?))
    }
}

/// A column a user's view reads cannot be dropped: said when the migration is planned (by
/// `lint` and `plan` with the database, and by `start` before anything runs), not by a failed
/// `complete` (tester 22).
/// `subject` names the column (`` `t.c` ``) or the table (`` table `t` ``); a dropped table's
/// views are not made again on it.
fn refuse_read_by_views(subject: &str, views: &[String], why: &str, made_again: bool) -> Result<(), String> {
    if views.is_empty() {
        return Ok(());
    }
    let one = views.len() == 1;
    let again = if !made_again {
        ""
    } else if one {
        ", and make it again after `complete` where still wanted"
    } else {
        ", and make them again after `complete` where still wanted"
    };
    Err(format!(
        "{subject} is read by the view{} {}: {why}, which PostgreSQL refuses while a view reads it; drop the view{} in a SQL migration before this one{again}",
        if one { "" } else { "s" },
        views.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "),
        if one { "" } else { "s" },
    ))
}

/// A rewrite's `alter` as one `ALTER TABLE` statement: as written, or its actions after
/// `ALTER TABLE table_sql`.
fn as_alter_table(table_sql: &str, alter: &str) -> String {
    let alter = alter.trim().trim_end_matches(';').trim();
    let mut words = alter.split_whitespace();
    let whole = words.next().is_some_and(|word| word.eq_ignore_ascii_case("alter"))
        && words.next().is_some_and(|word| word.eq_ignore_ascii_case("table"));
    if whole {
        alter.to_string()
    } else {
        format!("ALTER TABLE {table_sql} {alter}")
    }
}

/// Everything an expand/contract migration runs, decided once at `start` and kept in the
/// state table, so that `complete` and `rollback` do what `start` planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The migration's version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// The schema of the real tables.
    pub base_schema: String,
    /// The new version's schema of views.
    pub version_schema: String,
    /// The old version's schema, when an earlier expand/contract migration left one; `None`
    /// when the old version is the base schema itself.
    pub previous_schema: Option<String>,
    /// `start`, one transaction.
    pub expand: Vec<String>,
    /// `start`, each statement on its own, outside a transaction.
    pub concurrent: Vec<String>,
    /// `start`: the backfills.
    pub backfills: Vec<PlannedBackfill>,
    /// `start`, after the backfills: the online rewrites, to the swap (dropped what they keep
    /// at `complete`, swapped back at `rollback`). Absent from plans older cutovers recorded.
    #[serde(default)]
    pub rewrites: Vec<PlannedRewrite>,
    /// The operations it was planned from: a `start` that resumes refuses a file changed
    /// since. Empty in plans older cutovers recorded.
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// `start`, each statement in its own transaction.
    pub validate: Vec<String>,
    /// `start`, one transaction: the new version published.
    pub publish: Vec<String>,
    /// `complete`, one transaction with the history row.
    pub contract: Vec<String>,
    /// `complete`, each statement on its own, outside a transaction.
    pub contract_concurrent: Vec<String>,
    /// `rollback`, one transaction.
    pub revert: Vec<String>,
    /// `rollback`, each statement on its own, outside a transaction.
    pub revert_concurrent: Vec<String>,
}

/// An operation that cannot be planned against this database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {index} ({kind}): {message}")]
pub struct PlanError {
    /// 1-based position in the file.
    pub index: usize,
    /// The operation's name.
    pub kind: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// What the planner needs to know besides the operations.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The migration's version.
    pub version: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The schema of the real tables.
    pub base_schema: &'a str,
    /// The tables of the base schema, cutover's own excluded.
    pub tables: &'a [TableShape],
    /// The old version's schema of views, if there is one.
    pub previous_schema: Option<&'a str>,
    /// Makes backfill names unique to this start.
    pub nonce: &'a str,
}

/// One table as the new version sees it.
#[derive(Debug, Clone)]
struct VersionTable {
    /// The view's name.
    view: String,
    /// The real table's name.
    table: String,
    /// (view column, real column), in order.
    columns: Vec<(String, String)>,
    /// (view column, default) for the new version's inserts that leave a column out, where the
    /// table cannot carry the default yet (see `add_column` with `up`).
    defaults: Vec<(String, String)>,
}

/// The schema of views a migration publishes for its new version.
pub fn version_schema_name(base_schema: &str, version: &str) -> String {
    format!("{base_schema}_v{version}")
}

/// The shadow column that holds a changed column's new value until `complete`.
pub fn shadow_column(column: &str) -> String {
    format!("_cutover_{column}")
}

/// The mistakes the file alone shows, whatever the tables: an expression that is not one SQL
/// expression (or would close cutover's own quoting), a NOT NULL column with no value.
pub fn check_declaration(operations: &[Operation]) -> Result<(), PlanError> {
    for (idx, operation) in operations.iter().enumerate() {
        let fail = |message: String| PlanError { index: idx + 1, kind: operation.kind(), message };
        for text in expressions(operation) {
            if text.contains("$cutover$") {
                return Err(fail(
                    "an expression contains `$cutover$`, which cutover's generated SQL uses as a quote".into(),
                ));
            }
            // `sql` holds statements; every other field one expression, put inside cutover's SQL.
            if !matches!(operation, Operation::Sql { .. }) {
                cutover_analysis::postgres::check_expression(text).map_err(fail)?;
            }
        }
        if let Operation::AddColumn { column, nullable: false, default: None, up: None, .. } = operation {
            return Err(fail(format!(
                "`{column}` is NOT NULL with neither `default` nor `up`: the old version's inserts, and existing rows, would have no value; give one"
            )));
        }
    }
    Ok(())
}

/// Plans a migration.
pub fn plan(input: &PlanInput<'_>, operations: &[Operation]) -> Result<Plan, PlanError> {
    check_declaration(operations)?;
    let base = input.base_schema;
    let mut planner = Planner {
        input,
        plan: Plan {
            version: input.version.to_string(),
            name: input.name.to_string(),
            base_schema: base.to_string(),
            version_schema: version_schema_name(base, input.version),
            previous_schema: input.previous_schema.map(str::to_string),
            expand: Vec::new(),
            concurrent: Vec::new(),
            backfills: Vec::new(),
            rewrites: Vec::new(),
            operations: operations.to_vec(),
            validate: Vec::new(),
            publish: Vec::new(),
            contract: Vec::new(),
            contract_concurrent: Vec::new(),
            revert: Vec::new(),
            revert_concurrent: Vec::new(),
        },
        views: input
            .tables
            .iter()
            .map(|t| VersionTable {
                view: t.name.clone(),
                table: t.name.clone(),
                columns: t.columns.iter().map(|c| (c.name.clone(), c.name.clone())).collect(),
                defaults: Vec::new(),
            })
            .collect(),
        touched: BTreeSet::new(),
        triggers: Vec::new(),
    };
    check_identifier(&planner.plan.version_schema).map_err(|message| PlanError {
        index: 0,
        kind: "migration",
        message,
    })?;
    // A rewrite copies the table as it is: another operation's columns, triggers or name on
    // the same table would be copied half made, or renamed under the copy.
    for (idx, operation) in operations.iter().enumerate() {
        let Operation::Rewrite { table, .. } = operation else { continue };
        let other = operations.iter().enumerate().find(|(other, op)| {
            *other != idx && (op.needs_tables().contains(&table.as_str()) || op.creates_table() == Some(table))
        });
        if let Some((other, op)) = other {
            return Err(PlanError {
                index: idx + 1,
                kind: operation.kind(),
                message: format!(
                    "operation {} ({}) also changes `{table}`: a rewrite must be the only operation on its table in a migration; put the other in the next migration",
                    other + 1,
                    op.kind()
                ),
            });
        }
    }
    if let Some(previous) = input.previous_schema {
        // The old version's views go first at `complete`: they name the old columns.
        planner.plan.contract.push(drop_version_schema(input.base_schema, previous));
    }
    for (idx, operation) in operations.iter().enumerate() {
        planner.operation(idx + 1, operation).map_err(|message| PlanError {
            index: idx + 1,
            kind: operation.kind(),
            message,
        })?;
    }
    planner.finish();
    Ok(planner.plan)
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    plan: Plan,
    views: Vec<VersionTable>,
    /// (table, column) pairs an operation changed: one change per column per migration.
    touched: BTreeSet<(String, String)>,
    /// (table, trigger name) of every dual-write trigger.
    triggers: Vec<(String, String)>,
}

impl Planner<'_> {
    fn base(&self) -> &str {
        self.input.base_schema
    }

    fn table(&self, name: &str) -> Result<&TableShape, String> {
        self.input.tables.iter().find(|t| t.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.input.tables.iter().map(|t| t.name.as_str()).collect();
            format!("table `{name}` does not exist in schema `{}` (tables: {})", self.base(), known.join(", "))
        })
    }

    fn column(&self, table: &str, column: &str) -> Result<&ColumnShape, String> {
        let shape = self.table(table)?;
        shape.columns.iter().find(|c| c.name == column).ok_or_else(|| {
            let known: Vec<&str> = shape.columns.iter().map(|c| c.name.as_str()).collect();
            format!("table `{table}` has no column `{column}` (columns: {})", known.join(", "))
        })
    }

    fn touch(&mut self, table: &str, column: &str) -> Result<(), String> {
        if !self.touched.insert((table.to_string(), column.to_string())) {
            return Err(format!(
                "`{table}.{column}` is changed by an earlier operation of this migration; change it in the next migration"
            ));
        }
        Ok(())
    }

    fn view_mut(&mut self, table: &str) -> Result<&mut VersionTable, String> {
        self.views
            .iter_mut()
            .find(|v| v.table == table)
            .ok_or_else(|| format!("table `{table}` is dropped by an earlier operation of this migration"))
    }

    fn qualified(&self, table: &str) -> String {
        qualified(self.base(), table)
    }

    fn operation(&mut self, idx: usize, operation: &Operation) -> Result<(), String> {
        let base = self.base().to_string();
        match operation {
            Operation::AddColumn { table, column, type_name, nullable, default, up } => {
                check_identifier(column)?;
                self.table(table)?;
                if self.column(table, column).is_ok() {
                    return Err(format!("table `{table}` already has a column `{column}`"));
                }
                self.touch(table, column)?;
                let t = self.qualified(table);
                let c = ident(column);
                // A constant default is stored once in the catalog (PostgreSQL 11+): no rewrite,
                // no backfill. Anything else (now(), gen_random_uuid()) is set for new rows and
                // backfilled for existing ones.
                let constant_default = default.as_deref().filter(|d| is_constant(d));
                // With `up`, the old version's inserts (which never name the column) must reach
                // the trigger with the column NULL: the table gets no default until `complete`,
                // and the new version's inserts get it from their view.
                let table_default = if up.is_some() { None } else { constant_default };
                match table_default {
                    Some(d) => self
                        .plan
                        .expand
                        .push(format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {type_name} DEFAULT {d}")),
                    None => {
                        self.plan.expand.push(format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {type_name}"));
                        match (default, up) {
                            (Some(d), Some(_)) => {
                                self.view_mut(table)?.defaults.push((column.clone(), d.clone()));
                                self.plan.contract.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"));
                            }
                            (Some(d), None) => {
                                self.plan.expand.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"))
                            }
                            // The new version's insert that leaves the column out gets what it
                            // gets after `complete`, NULL (refused by NOT NULL's CHECK), not
                            // `up`'s value: else an app that never writes the column works
                            // until `complete`, and fails from then on (tester 23).
                            // A NULL constant would be no default at all (PostgreSQL stores none,
                            // and the view falls back on the table's): one it cannot fold.
                            (None, Some(_)) => self.view_mut(table)?.defaults.push((
                                column.clone(),
                                format!("(NULLIF(current_schema(), current_schema()))::{type_name}"),
                            )),
                            (None, None) => {}
                        }
                    }
                }
                // Where `up` gives NULL (its source column is NULL), the default.
                let fill = match (up, default) {
                    (Some(up), Some(d)) => Some(format!("COALESCE(({up}), ({d}))")),
                    (Some(up), None) => Some(up.clone()),
                    (None, _) => default.clone().filter(|_| constant_default.is_none()),
                };
                if let Some(fill) = &fill {
                    if up.is_some() {
                        let trigger = self.trigger_name(idx);
                        let shape = self.table(table)?.clone();
                        let sources: Vec<&ColumnShape> = referenced(&shape, fill);
                        let changed: Vec<String> = sources
                            .iter()
                            .map(|s| format!("NEW.{0} IS DISTINCT FROM OLD.{0}", ident(&s.name)))
                            .collect();
                        let follow = if changed.is_empty() { "false".to_string() } else { changed.join(" OR ") };
                        let assign = assignment(&shape, None, &format!("NEW.{c}"), fill);
                        // An insert of the new version that writes NULL keeps it (tester 22's
                        // finding on change_type, the same here); at `complete` the column
                        // takes its own default, or none.
                        let (not_given, reset) = self.not_given_default(&t, column, type_name, &trigger);
                        if default.is_none() {
                            self.plan.contract.push(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"));
                        }
                        let body = format!(
                            "IF TG_OP = 'INSERT' THEN\n    IF {not_given} THEN {assign} END IF;\n    {reset}\n  \
                             ELSIF NEW.{c} IS NOT DISTINCT FROM OLD.{c} AND ({follow}) THEN {assign}\n  END IF;"
                        );
                        let mut watched: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
                        watched.push(column.clone());
                        self.trigger(table, &trigger, &body, &watched);
                    }
                    self.backfill(idx, table, format!("{c} = ({fill})"), None, true)?;
                }
                if !nullable {
                    let check = not_null_check(column);
                    self.add_not_null_check(table, column);
                    self.plan.contract.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"));
                    self.plan.contract.push(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", ident(&check)));
                }
                self.plan.revert.push(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {c}"));
                self.view_mut(table)?.columns.push((column.clone(), column.clone()));
            }
            Operation::DropColumn { table, column, down } => {
                let shape = self.column(table, column)?.clone();
                refuse_read_by_views(&format!("`{table}.{column}`"), &shape.views, "`complete` drops it", true)?;
                self.touch(table, column)?;
                if shape.not_null && shape.default.is_none() && down.is_none() {
                    return Err(format!(
                        "`{table}.{column}` is NOT NULL without a default: the new version's inserts would fail while the old version needs it; give `down` (its value for those rows)"
                    ));
                }
                let t = self.qualified(table);
                let c = ident(column);
                if let Some(down) = down {
                    let trigger = self.trigger_name(idx);
                    let table_shape = self.table(table)?.clone();
                    let assign = assignment(&table_shape, None, &format!("NEW.{c}"), down);
                    let body = format!("IF TG_OP = 'INSERT' AND NEW.{c} IS NULL THEN {assign} END IF;");
                    self.trigger(table, &trigger, &body, &[]);
                }
                self.plan.contract.push(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {c}"));
                self.view_mut(table)?.columns.retain(|(_, real)| real != column);
            }
            Operation::RenameColumn { table, from, to } => {
                check_identifier(to)?;
                self.column(table, from)?;
                if self.column(table, to).is_ok() {
                    return Err(format!("table `{table}` already has a column `{to}`"));
                }
                self.touch(table, from)?;
                let rename =
                    format!("ALTER TABLE {} RENAME COLUMN {} TO {}", self.qualified(table), ident(from), ident(to));
                let condition =
                    format!("{} AND NOT {}", column_exists(&base, table, from), column_exists(&base, table, to));
                self.plan.contract.push(guarded(&condition, &rename));
                for (view_column, real) in &mut self.view_mut(table)?.columns {
                    if real == from {
                        *view_column = to.clone();
                    }
                }
            }
            Operation::ChangeType { table, column, type_name, up, down } => {
                let shape = self.column(table, column)?.clone();
                let why = "`complete` drops it for the shadow of the new type";
                refuse_read_by_views(&format!("`{table}.{column}`"), &shape.views, why, true)?;
                if shape.has_dependents {
                    return Err(format!(
                        "`{table}.{column}` has a constraint, a sequence, or an index on an expression, with a predicate or with an operator class of its own, that depends on it; the shadow column cannot take them over yet: change its type with a reviewed SQL migration"
                    ));
                }
                self.touch(table, column)?;
                let shadow = shadow_column(column);
                check_identifier(&shadow)?;
                let t = self.qualified(table);
                let (c, s) = (ident(column), ident(&shadow));
                self.plan.expand.push(format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {s} {type_name}"));
                let table_shape = self.table(table)?.clone();
                let trigger = self.trigger_name(idx);
                let up_assign = assignment(&table_shape, None, &format!("NEW.{s}"), up);
                let down_assign =
                    assignment(&table_shape, Some((column, type_name, &shadow)), &format!("NEW.{c}"), down);
                // Which version wrote is read from what changed: no session state, so it
                // works behind transaction-pooling poolers. An insert that leaves the shadow NULL
                // is the old version's (it never names it), unless the column has a default:
                // then an insert of the new version, through its view, gives the old column that
                // default too, and one that writes NULL would read as the old version's write
                // of the default (tester 22). There the shadow's default notes, for this row
                // only (a transaction-local setting its trigger resets), that it was not given.
                let insert = if shape.default.is_some() {
                    let (not_given, reset) = self.not_given_default(&t, &shadow, type_name, &trigger);
                    format!("IF {not_given} THEN {up_assign} ELSE {down_assign} END IF;\n    {reset}")
                } else {
                    format!("IF NEW.{s} IS NULL THEN {up_assign} ELSE {down_assign} END IF;")
                };
                // `up` may read other columns (`CASE WHEN unit = 'cents' ...`): an update of one
                // of them alone is converted again, as `add_column`'s `up` is (tester 23: a unit
                // changed by the old version left the new column's price a hundredth off).
                let others: Vec<String> =
                    referenced(&table_shape, up).iter().map(|o| o.name.clone()).filter(|o| o != column).collect();
                let follow = if others.is_empty() {
                    String::new()
                } else {
                    let changed: Vec<String> =
                        others.iter().map(|o| format!("NEW.{0} IS DISTINCT FROM OLD.{0}", ident(o))).collect();
                    format!("\n  ELSIF {} THEN {up_assign}", changed.join(" OR "))
                };
                // The shadow first: only the new version writes it (the old one does not see it,
                // and the backfill's batches pass by), while the column may also have been
                // changed by the table's own triggers, which fire before this one (tester 24:
                // an `upper(code)` trigger made the new version's write read as the old one's,
                // and the new value was lost).
                let body = format!(
                    "IF TG_OP = 'INSERT' THEN\n    {insert}\n  \
                     ELSIF NEW.{s} IS DISTINCT FROM OLD.{s} THEN {down_assign}\n  \
                     ELSIF NEW.{c} IS DISTINCT FROM OLD.{c} THEN {up_assign}{follow}\n  END IF;"
                );
                let mut watched = vec![column.clone(), shadow.clone()];
                watched.extend(others);
                self.trigger(table, &trigger, &body, &watched);
                self.backfill(idx, table, format!("{s} = ({up})"), None, true)?;
                if shape.not_null {
                    self.add_not_null_check(table, &shadow);
                }
                // Swapped in at `complete`: the old column goes, the shadow takes its name.
                self.plan.contract.push(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {c}"));
                let rename = format!("ALTER TABLE {t} RENAME COLUMN {s} TO {c}");
                self.plan.contract.push(guarded(&column_exists(&base, table, &shadow), &rename));
                if shape.not_null {
                    self.plan.contract.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"));
                    self.plan
                        .contract
                        .push(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", ident(&not_null_check(&shadow))));
                }
                if let Some(default) = &shape.default {
                    let converted = format!("({default})::{type_name}");
                    self.plan.contract.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {converted}"));
                    // The new version's `DEFAULT` (an `UPDATE ... SET c = DEFAULT` too) is the
                    // one the column has after `complete` (tester 23: NULL, or a NOT NULL error).
                    self.view_mut(table)?.defaults.push((column.clone(), converted));
                }
                // The column's indexes, built again on the shadow (concurrently, during
                // `start`); the old ones go with the old column, and the new ones take their
                // names. Rolling back drops them with the shadow.
                for index in table_shape.indexes.iter().filter(|i| i.keys.iter().any(|(k, _)| k == column)) {
                    let shadow_index = shadow_index(&index.name);
                    check_identifier(&shadow_index)?;
                    if self.plan.concurrent.iter().any(|sql| sql.contains(&format!(" {} ON ", ident(&shadow_index)))) {
                        return Err(format!(
                            "the indexes of `{table}` have names too long to tell apart once prefixed (`{shadow_index}`): rename them first"
                        ));
                    }
                    let keys: Vec<String> = index
                        .keys
                        .iter()
                        .map(|(key, options)| {
                            let key = if key == column { s.clone() } else { ident(key) };
                            if options.is_empty() {
                                key
                            } else {
                                format!("{key} {options}")
                            }
                        })
                        .collect();
                    self.concurrent_build(
                        table,
                        format!(
                            "CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {t} USING {} ({})",
                            if index.unique { "UNIQUE " } else { "" },
                            ident(&shadow_index),
                            ident(&index.method),
                            keys.join(", ")
                        ),
                    )?;
                    let rename =
                        format!("ALTER INDEX {} RENAME TO {}", qualified(&base, &shadow_index), ident(&index.name));
                    self.plan.contract.push(guarded(&index_exists(&base, &shadow_index), &rename));
                }
                self.plan.revert.push(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {s}"));
                for (view_column, real) in &mut self.view_mut(table)?.columns {
                    if view_column == column {
                        *real = shadow.clone();
                    }
                }
            }
            Operation::SetNotNull { table, column, up } => {
                let shape = self.column(table, column)?.clone();
                if shape.not_null {
                    return Err(format!("`{table}.{column}` is already NOT NULL"));
                }
                self.touch(table, column)?;
                let t = self.qualified(table);
                let c = ident(column);
                if let Some(up) = up {
                    let table_shape = self.table(table)?.clone();
                    let trigger = self.trigger_name(idx);
                    let assign = assignment(&table_shape, None, &format!("NEW.{c}"), up);
                    self.trigger(
                        table,
                        &trigger,
                        &format!("IF NEW.{c} IS NULL THEN {assign} END IF;"),
                        std::slice::from_ref(column),
                    );
                    self.backfill(idx, table, format!("{c} = ({up})"), Some(format!("{c} IS NULL")), false)?;
                }
                let check = not_null_check(column);
                self.add_not_null_check(table, column);
                // With a validated CHECK, SET NOT NULL skips its scan (PostgreSQL 12+).
                self.plan.contract.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"));
                self.plan.contract.push(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", ident(&check)));
            }
            Operation::DropNotNull { table, column } => {
                let shape = self.column(table, column)?.clone();
                if !shape.not_null {
                    return Err(format!("`{table}.{column}` is not NOT NULL"));
                }
                self.touch(table, column)?;
                let t = self.qualified(table);
                let c = ident(column);
                self.plan.expand.push(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL"));
                // Back to NOT NULL on rollback: a scan, and refused if the new version wrote NULLs.
                self.plan.revert.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"));
            }
            Operation::SetDefault { table, column, default } => {
                let shape = self.column(table, column)?.clone();
                self.touch(table, column)?;
                let t = self.qualified(table);
                let c = ident(column);
                self.plan.expand.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}"));
                self.plan.revert.push(restore_default(&t, &c, shape.default.as_deref()));
            }
            Operation::DropDefault { table, column } => {
                let shape = self.column(table, column)?.clone();
                self.touch(table, column)?;
                let t = self.qualified(table);
                let c = ident(column);
                self.plan.expand.push(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"));
                self.plan.revert.push(restore_default(&t, &c, shape.default.as_deref()));
            }
            Operation::AddCheck { table, name, check } => {
                check_identifier(name)?;
                self.table(table)?;
                self.add_not_valid_check(table, name, check);
            }
            Operation::AddForeignKey { table, name, columns, references, references_columns, on_delete } => {
                check_identifier(name)?;
                some_columns(columns)?;
                if references_columns.len() != columns.len() {
                    return Err(format!(
                        "{} reference {}: a foreign key pairs each column with one referenced column",
                        cutover_engine::count(columns.len(), "column", "columns"),
                        cutover_engine::count(references_columns.len(), "column", "columns")
                    ));
                }
                for column in columns {
                    self.column(table, column)?;
                }
                for column in references_columns {
                    self.column(references, column)?;
                }
                let on_delete = match on_delete.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("no action") => String::new(),
                    Some(action @ ("cascade" | "restrict" | "set null" | "set default")) => {
                        format!(" ON DELETE {}", action.to_ascii_uppercase())
                    }
                    Some(other) => {
                        return Err(format!(
                            "on_delete `{other}` is not one of cascade, restrict, set null, set default, no action"
                        ))
                    }
                };
                let definition = format!(
                    "FOREIGN KEY ({}) REFERENCES {} ({}){on_delete}",
                    idents(columns),
                    self.qualified(references),
                    idents(references_columns)
                );
                self.add_not_valid_constraint(table, name, &definition);
            }
            Operation::AddUnique { table, name, columns } => {
                check_identifier(name)?;
                some_columns(columns)?;
                for column in columns {
                    self.column(table, column)?;
                }
                let t = self.qualified(table);
                self.concurrent_build(
                    table,
                    format!(
                        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {t} ({})",
                        ident(name),
                        idents(columns)
                    ),
                )?;
                let attach = format!("ALTER TABLE {t} ADD CONSTRAINT {0} UNIQUE USING INDEX {0}", ident(name));
                self.plan.contract.push(guarded(&format!("NOT {}", constraint_exists(&base, table, name)), &attach));
                self.plan
                    .revert_concurrent
                    .push(format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qualified(&base, name)));
            }
            Operation::CreateIndex { table, name, columns, unique, method, condition } => {
                check_identifier(name)?;
                some_columns(columns)?;
                for column in columns {
                    self.column(table, column)?;
                }
                let using =
                    method.as_ref().map(|m| format!(" USING {}", ident(&m.to_ascii_lowercase()))).unwrap_or_default();
                let partial = condition.as_ref().map(|c| format!(" WHERE {c}")).unwrap_or_default();
                self.concurrent_build(
                    table,
                    format!(
                        "CREATE {}INDEX CONCURRENTLY IF NOT EXISTS {} ON {}{using} ({}){partial}",
                        if *unique { "UNIQUE " } else { "" },
                        ident(name),
                        self.qualified(table),
                        idents(columns)
                    ),
                )?;
                self.plan
                    .revert_concurrent
                    .push(format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qualified(&base, name)));
            }
            Operation::DropIndex { name } => {
                self.plan
                    .contract_concurrent
                    .push(format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qualified(&base, name)));
            }
            Operation::CreateTable { table, columns, primary_key } => {
                check_identifier(table)?;
                if self.table(table).is_ok() || self.views.iter().any(|v| &v.view == table) {
                    return Err(format!("table `{table}` already exists"));
                }
                if columns.is_empty() {
                    return Err("a table needs at least one column".into());
                }
                if let Some(missing) = primary_key.iter().find(|key| !columns.iter().any(|c| &c.name == *key)) {
                    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                    return Err(format!(
                        "the primary key names `{missing}`, which is not one of its columns ({})",
                        names.join(", ")
                    ));
                }
                let mut definitions: Vec<String> = columns.iter().map(column_definition).collect();
                if !primary_key.is_empty() {
                    definitions.push(format!("PRIMARY KEY ({})", idents(primary_key)));
                }
                let t = self.qualified(table);
                self.plan.expand.push(format!("CREATE TABLE IF NOT EXISTS {t} ({})", definitions.join(", ")));
                self.plan.revert.push(format!("DROP TABLE IF EXISTS {t}"));
                self.views.push(VersionTable {
                    view: table.clone(),
                    table: table.clone(),
                    columns: columns.iter().map(|c| (c.name.clone(), c.name.clone())).collect(),
                    defaults: Vec::new(),
                });
            }
            Operation::DropTable { table } => {
                // Tester 24: refused for a column, a view over the whole table failed `complete`.
                let mut views: Vec<String> =
                    self.table(table)?.columns.iter().flat_map(|c| c.views.iter().cloned()).collect();
                views.sort();
                views.dedup();
                refuse_read_by_views(&format!("table `{table}`"), &views, "`complete` drops it", false)?;
                self.plan.contract.push(format!("DROP TABLE IF EXISTS {}", self.qualified(table)));
                self.views.retain(|v| &v.table != table);
            }
            Operation::RenameTable { from, to } => {
                check_identifier(to)?;
                self.table(from)?;
                if self.table(to).is_ok() {
                    return Err(format!("table `{to}` already exists"));
                }
                let rename = format!("ALTER TABLE {} RENAME TO {}", self.qualified(from), ident(to));
                let condition = format!("{} AND NOT {}", table_exists(&base, from), table_exists(&base, to));
                self.plan.contract.push(guarded(&condition, &rename));
                self.view_mut(from)?.view = to.clone();
            }
            Operation::Rewrite { table, alter, using } => {
                let shape = self.table(table)?;
                if let Some(alter) = alter {
                    check_rewrite_alter(self.base(), table, alter)?;
                }
                for column in using.keys() {
                    if !shape.columns.iter().any(|c| &c.name == column) {
                        let known: Vec<&str> = shape.columns.iter().map(|c| c.name.as_str()).collect();
                        return Err(format!(
                            "`using` names `{column}`, which `{table}` does not have (columns: {})",
                            known.join(", ")
                        ));
                    }
                }
                let table = self.qualified(table);
                self.plan.rewrites.push(PlannedRewrite {
                    table,
                    alter: alter.clone(),
                    using: using.iter().map(|(c, e)| (c.clone(), e.clone())).collect(),
                });
            }
            Operation::Sql { up, down, phase } => match phase {
                SqlPhase::Start => {
                    self.plan.expand.push(up.clone());
                    if let Some(down) = down {
                        self.plan.revert.push(down.clone());
                    }
                }
                SqlPhase::Complete => {
                    if down.is_some() {
                        return Err("`down` runs on rollback, which never follows `complete`; remove it".into());
                    }
                    self.plan.contract.push(up.clone());
                }
            },
        }
        Ok(())
    }

    /// A default for `column` (of `type_name`, on table `t`, quoted) that notes, for the row
    /// being inserted only, that the insert did not give the column: the old version never
    /// names a column the migration adds, and the new version may write NULL to it on purpose;
    /// both leave it NULL, and the trigger tells them apart by this note (a transaction-local
    /// setting, which works behind transaction-pooling poolers). The trigger's condition that the
    /// column was not given, and its statement that resets the note, are returned.
    fn not_given_default(&mut self, t: &str, column: &str, type_name: &str, trigger: &str) -> (String, String) {
        let note = format!("cutover.unset{trigger}");
        let c = ident(column);
        self.plan.expand.push(format!(
            "ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT (CASE WHEN set_config('{note}', 'on', true) IS NULL THEN NULL END)::{type_name}"
        ));
        (
            format!("NEW.{c} IS NULL AND current_setting('{note}', true) = 'on'"),
            format!("PERFORM set_config('{note}', 'off', true);"),
        )
    }

    /// The name of operation `idx`'s dual-write trigger (and its function). PostgreSQL fires a
    /// table's BEFORE triggers in the order of their names: this one sorts after the names
    /// people give theirs (`set_updated_at`, `trim_name`), so that it converts the values those
    /// leave, not the ones they replace (tester 23: a trimmed name was kept untrimmed in the new
    /// column); and the operations' own in the order written (`_0002` before `_0010`).
    /// An index built during `start` (`CREATE INDEX CONCURRENTLY`), on a table that can have
    /// one so built: said when the migration is planned, not by a `start` stopped after its
    /// triggers were in place (tester 23).
    fn concurrent_build(&mut self, table: &str, sql: String) -> Result<(), String> {
        if self.table(table)?.partitioned {
            return Err(format!(
                "table `{table}` is partitioned, and PostgreSQL builds no index on a partitioned table CONCURRENTLY: build it with a reviewed SQL migration (an index on each partition CONCURRENTLY, then the parent's `ON ONLY` and `ATTACH PARTITION` of each)"
            ));
        }
        self.plan.concurrent.push(sql);
        Ok(())
    }

    fn trigger_name(&self, idx: usize) -> String {
        format!("zz_cutover_{}_{idx:04}", self.input.version)
    }

    /// Triggers that keep the two versions' columns in step: one BEFORE INSERT, and, when
    /// `watched` names columns, one BEFORE UPDATE that fires only when one of them changes (a
    /// WHEN clause costs far less than a PL/pgSQL call, and most updates touch other columns).
    /// The function stands aside for cutover's own backfill, which writes the new column itself.
    fn trigger(&mut self, table: &str, name: &str, body: &str, watched: &[String]) {
        let function = qualified(self.base(), name);
        let t = self.qualified(table);
        self.plan.expand.push(format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $cutover$\nBEGIN\n  \
             IF TG_OP = 'UPDATE' THEN\n    IF current_setting('cutover.backfill', true) = 'on' THEN RETURN NEW; END IF;\n  END IF;\n  \
             {body}\n  RETURN NEW;\nEND\n$cutover$"
        ));
        let update_trigger = format!("{name}_u");
        self.plan.expand.push(format!("DROP TRIGGER IF EXISTS {} ON {t}", ident(name)));
        self.plan.expand.push(format!("DROP TRIGGER IF EXISTS {} ON {t}", ident(&update_trigger)));
        self.plan.expand.push(format!(
            "CREATE TRIGGER {} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {function}()",
            ident(name)
        ));
        self.triggers.push((table.to_string(), name.to_string()));
        if !watched.is_empty() {
            let changed: Vec<String> =
                watched.iter().map(|c| format!("OLD.{0} IS DISTINCT FROM NEW.{0}", ident(c))).collect();
            self.plan.expand.push(format!(
                "CREATE TRIGGER {} BEFORE UPDATE ON {t} FOR EACH ROW WHEN ({}) EXECUTE FUNCTION {function}()",
                ident(&update_trigger),
                changed.join(" OR ")
            ));
            self.triggers.push((table.to_string(), update_trigger));
        }
    }

    fn backfill(
        &mut self,
        idx: usize,
        table: &str,
        set: String,
        condition: Option<String>,
        hidden: bool,
    ) -> Result<(), String> {
        // Said here, before anything runs (tester 22: `start` stopped on it after other
        // tables' triggers and backfills were in place, and `plan` and `lint` said nothing).
        if !self.table(table)?.has_key {
            return Err(format!(
                "table `{table}` has no primary key and no unique index on NOT NULL columns, which its backfill walks it by; add one in a SQL migration before this one (CREATE UNIQUE INDEX CONCURRENTLY builds it without blocking writes)"
            ));
        }
        self.plan.backfills.push(PlannedBackfill {
            name: format!("expand_{}_{idx}_{}", self.input.version, self.input.nonce),
            table: self.qualified(table),
            set,
            condition,
            hidden,
        });
        Ok(())
    }

    fn add_not_valid_check(&mut self, table: &str, name: &str, condition: &str) {
        self.add_not_valid_constraint(table, name, &format!("CHECK ({condition})"));
    }

    /// The CHECK that stands for a NOT NULL column until `complete`. It is added only once the
    /// backfills are done: a NOT VALID constraint still holds for every row written, and
    /// before its backfill a row's column is NULL, so any update of that row, by the old
    /// application or by another column's backfill, would fail.
    fn add_not_null_check(&mut self, table: &str, column: &str) {
        let base = self.base().to_string();
        let t = self.qualified(table);
        let name = not_null_check(column);
        let add =
            format!("ALTER TABLE {t} ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID", ident(&name), ident(column));
        self.plan.validate.push(guarded(&format!("NOT {}", constraint_exists(&base, table, &name)), &add));
        self.plan.validate.push(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", ident(&name)));
        self.plan.revert.push(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", ident(&name)));
    }

    /// Added NOT VALID (a brief lock, no scan), validated in a transaction of its own (a scan
    /// that lets reads and writes go on).
    fn add_not_valid_constraint(&mut self, table: &str, name: &str, definition: &str) {
        let base = self.base().to_string();
        let t = self.qualified(table);
        let add = format!("ALTER TABLE {t} ADD CONSTRAINT {} {definition} NOT VALID", ident(name));
        self.plan.expand.push(guarded(&format!("NOT {}", constraint_exists(&base, table, name)), &add));
        self.plan.validate.push(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", ident(name)));
        self.plan.revert.push(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", ident(name)));
    }

    fn finish(&mut self) {
        let base = self.base().to_string();
        let schema = ident(&self.plan.version_schema);
        let mut publish =
            vec![drop_version_schema(&base, &self.plan.version_schema), format!("CREATE SCHEMA {schema}")];
        for view in &self.views {
            let columns: Vec<String> = view
                .columns
                .iter()
                .map(
                    |(name, real)| {
                        if name == real {
                            ident(name)
                        } else {
                            format!("{} AS {}", ident(real), ident(name))
                        }
                    },
                )
                .collect();
            publish.push(format!(
                "CREATE VIEW {schema}.{} AS SELECT {} FROM {}",
                ident(&view.view),
                columns.join(", "),
                qualified(&base, &view.table)
            ));
            for (column, default) in &view.defaults {
                publish.push(format!(
                    "ALTER VIEW {schema}.{} ALTER COLUMN {} SET DEFAULT {default}",
                    ident(&view.view),
                    ident(column)
                ));
            }
        }
        if !self.views.is_empty() {
            publish.push(grants_like_the_tables(&base, &self.plan.version_schema, &self.views));
        }
        self.plan.publish = publish;
        // The triggers go first on rollback and at complete: the columns they name go next.
        let mut drops = Vec::new();
        for (table, name) in &self.triggers {
            let t = qualified(&base, table);
            drops.push(guarded(&table_exists(&base, table), &format!("DROP TRIGGER IF EXISTS {} ON {t}", ident(name))));
        }
        for (_, name) in self.triggers.iter().filter(|(_, name)| !name.ends_with("_u")) {
            drops.push(format!("DROP FUNCTION IF EXISTS {}()", qualified(&base, name)));
        }
        let mut revert = vec![drop_version_schema(&base, &self.plan.version_schema)];
        revert.extend(drops.iter().cloned());
        // Undo in reverse order of doing.
        revert.extend(self.plan.revert.drain(..).rev());
        self.plan.revert = revert;
        let mut contract = Vec::new();
        let previous =
            self.plan.contract.iter().position(|s| unguarded(s).is_some_and(|s| s.starts_with("DROP SCHEMA")));
        if let Some(at) = previous {
            contract.push(self.plan.contract.remove(at));
        }
        contract.extend(drops);
        contract.append(&mut self.plan.contract);
        self.plan.contract = contract;
    }
}

/// The SQL expressions an operation carries.
fn expressions(operation: &Operation) -> Vec<&str> {
    match operation {
        Operation::AddColumn { default, up, .. } => default.iter().chain(up.iter()).map(String::as_str).collect(),
        Operation::DropColumn { down, .. } => down.iter().map(String::as_str).collect(),
        Operation::ChangeType { up, down, .. } => vec![up, down],
        Operation::SetNotNull { up, .. } => up.iter().map(String::as_str).collect(),
        Operation::SetDefault { default, .. } => vec![default],
        Operation::AddCheck { check, .. } => vec![check],
        Operation::CreateIndex { condition, .. } => condition.iter().map(String::as_str).collect(),
        Operation::Sql { up, down, .. } => std::iter::once(up).chain(down.iter()).map(String::as_str).collect(),
        Operation::Rewrite { using, .. } => using.values().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A rewrite's `alter`: one `ALTER TABLE` of `table` (or its actions alone) that keeps the
/// columns' names and number, which the version views list.
fn check_rewrite_alter(base: &str, table: &str, alter: &str) -> Result<(), String> {
    use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, Statement};
    // Blank, or comments only (`--`, `/* */`): no statement in it.
    if cutover_migration::split_statements(alter).is_ok_and(|statements| statements.is_empty()) {
        return Err("`alter` is empty: leave it out for a compaction (the table copied as it is)".into());
    }
    let whole = as_alter_table(&ident(table), alter);
    let statements = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &whole)
        .map_err(|err| format!("cutover cannot read `alter` as one ALTER TABLE statement ({err}): give it as `ALTER TABLE {table} ...` with the changes a rewrite can make"))?;
    let [Statement::AlterTable(alter_table)] = statements.as_slice() else {
        return Err(format!(
            "`alter` must be one `ALTER TABLE {table} ...` statement (or its actions alone); it holds {}",
            cutover_engine::count(statements.len(), "statement", "statements")
        ));
    };
    // Named as PostgreSQL reads names: unquoted ones fold to lower case.
    let parts: Vec<Option<String>> = alter_table
        .name
        .0
        .iter()
        .map(|part| {
            part.as_ident().map(|ident| match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_lowercase(),
            })
        })
        .collect();
    let (schema, named) = match parts.as_slice() {
        [name] => (None, name.clone()),
        [schema, name] => (schema.clone(), name.clone()),
        _ => (None, None),
    };
    if named.as_deref() != Some(table) || schema.as_deref().is_some_and(|schema| schema != base) {
        let folded = match (&schema, &named) {
            (Some(schema), Some(name)) => format!("{schema}.{name}"),
            (None, Some(name)) => name.clone(),
            _ => alter_table.name.to_string(),
        };
        return Err(format!(
            "`alter` changes `{folded}` (as PostgreSQL reads the name: unquoted, it folds to lower case), not `{table}` of schema `{base}`: name the operation's table"
        ));
    }
    for operation in &alter_table.operations {
        if let AlterTableOperation::AlterColumn {
            column_name,
            op: AlterColumnOperation::SetDataType { using: Some(_), .. },
        } = operation
        {
            return Err(format!(
                "`alter` converts `{}` with USING: give the conversion as `using = {{ {} = \"...\" }}` (the copy and the change capture compute it for each row)",
                column_name.value, column_name.value
            ));
        }
        let refused = match operation {
            AlterTableOperation::AddColumn { .. } => {
                Some("adds a column (the `add_column` operation does that online, with both versions working)")
            }
            AlterTableOperation::DropColumn { .. } => {
                Some("drops a column (the `drop_column` operation hides it from the new version first)")
            }
            AlterTableOperation::RenameColumn { .. } => {
                Some("renames a column (the `rename_column` operation keeps both names working)")
            }
            AlterTableOperation::RenameTable { .. } => {
                Some("renames the table (the `rename_table` operation keeps both names working)")
            }
            _ => None,
        };
        if let Some(why) = refused {
            return Err(format!("`alter` {why}; a rewrite keeps the columns the versions' views list"));
        }
    }
    Ok(())
}

/// The privileges of the base schema and tables, given on the version's schema and views: a
/// role that may use `public` and read `public.users` may use `public_v3` and read its
/// `users` (a view reads its table with its owner's rights, so the view's are all it needs).
/// Without them an application role's `search_path` would pass over the version's schema, and
/// the new application would run on the old columns without an error.
fn grants_like_the_tables(base: &str, version_schema: &str, views: &[VersionTable]) -> String {
    let pairs: Vec<String> =
        views.iter().map(|v| format!("({}, {})", literal(&v.view), literal(&qualified(base, &v.table)))).collect();
    let grantee = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END";
    // What default privileges (`ALTER DEFAULT PRIVILEGES`) gave the new schema and views is
    // taken back first: a role must get on a view what it has on the table, and no more.
    format!(
        "DO $cutover$ DECLARE g record; BEGIN \
         FOR g IN SELECT DISTINCT {grantee} AS grantee FROM pg_namespace n, aclexplode(n.nspacl) a \
                  WHERE n.nspname = {version_name} AND a.grantee <> n.nspowner LOOP \
           EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %s', {version_name}, g.grantee); \
         END LOOP; \
         FOR g IN SELECT DISTINCT v.view, {grantee} AS grantee \
                  FROM (VALUES {pairs}) v(view, tbl) \
                  JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', {version_name}, v.view)), aclexplode(c.relacl) a \
                  WHERE a.grantee <> c.relowner LOOP \
           EXECUTE format('REVOKE ALL ON %I.%I FROM %s', {version_name}, g.view, g.grantee); \
         END LOOP; \
         FOR g IN SELECT {grantee} AS grantee FROM pg_namespace n, aclexplode(n.nspacl) a \
                  WHERE n.nspname = {base_name} AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner LOOP \
           EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', {version_name}, g.grantee); \
         END LOOP; \
         FOR g IN SELECT v.view, a.privilege_type, {grantee} AS grantee, a.is_grantable \
                  FROM (VALUES {pairs}) v(view, tbl) JOIN pg_class c ON c.oid = to_regclass(v.tbl), aclexplode(c.relacl) a \
                  WHERE a.grantee <> c.relowner LOOP \
           EXECUTE format('GRANT %s ON %I.%I TO %s', g.privilege_type, {version_name}, g.view, g.grantee) \
                   || CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END; \
         END LOOP; END $cutover$",
        base_name = literal(base),
        version_name = literal(version_schema),
        pairs = pairs.join(", ")
    )
}

/// An index or key needs columns: with none, the SQL would fail halfway through `start`.
fn some_columns(columns: &[String]) -> Result<(), String> {
    if columns.is_empty() {
        return Err("`columns` is empty: name at least one column".into());
    }
    Ok(())
}

fn check_identifier(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an empty name".into());
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "`{name}` is {} bytes long; PostgreSQL would cut it to {MAX_IDENTIFIER_BYTES}: choose a shorter name",
            name.len()
        ));
    }
    Ok(())
}

fn idents(names: &[String]) -> String {
    names.iter().map(|n| ident(n)).collect::<Vec<_>>().join(", ")
}

/// The name of an index built again on a shadow column until `complete` renames it.
fn shadow_index(index: &str) -> String {
    let name = format!("_cutover_idx_{index}");
    name.chars().take(MAX_IDENTIFIER_BYTES).collect::<String>()
}

fn not_null_check(column: &str) -> String {
    let name = format!("_cutover_nn_{column}");
    name.chars().take(MAX_IDENTIFIER_BYTES).collect::<String>()
}

fn restore_default(table: &str, column: &str, previous: Option<&str>) -> String {
    match previous {
        Some(default) => format!("ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}"),
        None => format!("ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT"),
    }
}

fn column_definition(column: &NewColumn) -> String {
    let mut definition = format!("{} {}", ident(&column.name), column.type_name);
    if let Some(default) = &column.default {
        definition.push_str(&format!(" DEFAULT {default}"));
    }
    if !column.nullable {
        definition.push_str(" NOT NULL");
    }
    definition
}

/// A literal (number, string, boolean, NULL), with an optional cast: stored once in the
/// catalog by `ADD COLUMN ... DEFAULT`, no rewrite.
fn is_constant(expression: &str) -> bool {
    let text = expression.trim();
    let value = text.split("::").next().unwrap_or(text).trim();
    let lower = value.to_ascii_lowercase();
    matches!(lower.as_str(), "true" | "false" | "null")
        || value.parse::<f64>().is_ok()
        || (value.len() >= 2
            && value.starts_with('\'')
            && value.ends_with('\'')
            && !value[1..value.len() - 1].contains('\''))
}

/// The table's columns an expression names.
fn referenced<'a>(table: &'a TableShape, expression: &str) -> Vec<&'a ColumnShape> {
    let names = referenced_names(expression);
    table.columns.iter().filter(|c| names.iter().any(|n| n == &c.name)).collect()
}

/// `target := (expression)` in a block that declares, for each column the expression names,
/// a variable of that name holding the row's value, so that expressions name columns as
/// they would in an UPDATE. `changed`: (column, new type, shadow) whose name means the new
/// value (a `down` expression).
fn assignment(table: &TableShape, changed: Option<(&str, &str, &str)>, target: &str, expression: &str) -> String {
    let mut declarations = Vec::new();
    for column in referenced(table, expression) {
        match changed {
            Some((name, new_type, shadow)) if name == column.name => {
                declarations.push(format!("{} {new_type} := NEW.{};", ident(name), ident(shadow)));
            }
            _ => declarations.push(format!(
                "{} {} := NEW.{};",
                ident(&column.name),
                column.type_name,
                ident(&column.name)
            )),
        }
    }
    if declarations.is_empty() {
        format!("{target} := ({expression});")
    } else {
        format!("DECLARE {} BEGIN {target} := ({expression}); END;", declarations.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, type_name: &str, not_null: bool) -> ColumnShape {
        ColumnShape {
            name: name.into(),
            type_name: type_name.into(),
            not_null,
            default: None,
            has_dependents: false,
            views: Vec::new(),
        }
    }

    fn users() -> Vec<TableShape> {
        vec![TableShape {
            name: "users".into(),
            columns: vec![
                ColumnShape { has_dependents: true, ..column("id", "bigint", true) },
                column("name", "text", true),
                column("amount", "text", false),
            ],
            has_key: true,
            partitioned: false,
            indexes: vec![
                IndexShape {
                    name: "users_amount".into(),
                    unique: false,
                    method: "btree".into(),
                    keys: vec![("amount".into(), "DESC".into()), ("id".into(), String::new())],
                },
                IndexShape {
                    name: "users_name".into(),
                    unique: true,
                    method: "btree".into(),
                    keys: vec![("name".into(), String::new())],
                },
            ],
        }]
    }

    fn input(tables: &[TableShape]) -> PlanInput<'_> {
        PlanInput { version: "2", name: "x", base_schema: "public", tables, previous_schema: None, nonce: "n" }
    }

    fn rewrite(alter: Option<&str>, using: &[(&str, &str)]) -> Operation {
        Operation::Rewrite {
            table: "users".into(),
            alter: alter.map(str::to_string),
            using: using.iter().map(|(c, e)| (c.to_string(), e.to_string())).collect(),
        }
    }

    #[test]
    fn a_rewrite_is_planned_for_start_with_the_table_qualified() {
        let tables = users();
        for alter in [
            Some("ALTER TABLE users ALTER COLUMN id TYPE bigint;"),
            Some("alter column id type bigint"),
            Some("ALTER TABLE public.Users ALTER COLUMN id TYPE bigint"),
            None,
        ] {
            let plan = plan(&input(&tables), &[rewrite(alter, &[("id", "id::bigint")])]).unwrap();
            assert_eq!(
                plan.rewrites,
                [PlannedRewrite {
                    table: "\"public\".\"users\"".into(),
                    alter: alter.map(str::to_string),
                    using: vec![("id".into(), "id::bigint".into())],
                }]
            );
            // The views of both versions are made as for any table; nothing else runs.
            assert!(plan.expand.is_empty() && plan.backfills.is_empty() && plan.contract.is_empty());
        }
    }

    #[test]
    fn a_rewrite_that_would_change_the_columns_or_share_its_table_is_refused_saying_what_to_use() {
        let tables = users();
        for (alter, expected) in [
            ("ALTER TABLE users ADD COLUMN note text", "`add_column`"),
            ("ALTER TABLE users DROP COLUMN amount", "`drop_column`"),
            ("ALTER TABLE users RENAME COLUMN amount TO total", "`rename_column`"),
            ("ALTER TABLE users RENAME TO people", "`rename_table`"),
            ("ALTER TABLE orders ALTER COLUMN id TYPE bigint", "not `users`"),
            ("ALTER TABLE users ALTER COLUMN id TYPE bigint; DROP TABLE users", "2 statements"),
            ("ALTER TABLE users ALTER COLUMN id TYPO bigint", "cannot read `alter` as one ALTER TABLE"),
            ("ALTER TABLE users ALTER COLUMN id TYPE bigint USING id * 2", "give the conversion as `using = { id"),
            ("ALTER TABLE app.users ALTER COLUMN id TYPE bigint", "changes `app.users`"),
            ("ALTER TABLE \"Users\" ALTER COLUMN id TYPE bigint", "changes `Users` (as PostgreSQL reads"),
            ("  ;", "`alter` is empty"),
            ("-- nothing yet", "`alter` is empty"),
            ("/* later */ ;", "`alter` is empty"),
        ] {
            let err = plan(&input(&tables), &[rewrite(Some(alter), &[])]).unwrap_err();
            assert!(err.message.contains(expected), "{alter}: {err}");
        }
        let err = plan(&input(&tables), &[rewrite(None, &[("total", "1")])]).unwrap_err();
        assert!(err.message.contains("`using` names `total`"), "{err}");
        let err = plan(&input(&tables), &[rewrite(None, &[("id", "id::bigint) FROM x --")])]).unwrap_err();
        assert_eq!(err.index, 1, "{err}");
        let ops = [
            Operation::DropDefault { table: "users".into(), column: "amount".into() },
            rewrite(Some("ALTER TABLE users ALTER COLUMN id TYPE bigint"), &[]),
        ];
        let err = plan(&input(&tables), &ops).unwrap_err();
        assert!(err.message.contains("operation 1 (drop_default) also changes `users`"), "{err}");
        assert_eq!(err.index, 2);
    }

    #[test]
    fn rename_column_is_a_view_alias_until_complete() {
        let tables = users();
        let ops = [Operation::RenameColumn { table: "users".into(), from: "name".into(), to: "full_name".into() }];
        let plan = plan(&input(&tables), &ops).unwrap();
        assert!(plan.expand.is_empty() && plan.backfills.is_empty());
        assert_eq!(
            plan.publish[2],
            "CREATE VIEW \"public_v2\".\"users\" AS SELECT \"id\", \"name\" AS \"full_name\", \"amount\" FROM \"public\".\"users\""
        );
        assert!(plan.contract[0].contains("RENAME COLUMN \"name\" TO \"full_name\""), "{:?}", plan.contract);
        let revert: Vec<_> = plan.revert.iter().map(|s| unguarded(s).unwrap_or_else(|| s.clone())).collect();
        assert_eq!(revert, ["DROP SCHEMA IF EXISTS \"public_v2\""]);
    }

    #[test]
    fn change_type_adds_a_shadow_with_triggers_and_a_backfill() {
        let tables = users();
        let ops = [Operation::ChangeType {
            table: "users".into(),
            column: "amount".into(),
            type_name: "numeric(12,2)".into(),
            up: "amount::numeric(12,2)".into(),
            down: "amount::text".into(),
        }];
        let plan = plan(&input(&tables), &ops).unwrap();
        assert_eq!(
            plan.expand[0],
            "ALTER TABLE \"public\".\"users\" ADD COLUMN IF NOT EXISTS \"_cutover_amount\" numeric(12,2)"
        );
        assert!(plan.expand[1].contains("DECLARE \"amount\" text := NEW.\"amount\"; BEGIN NEW.\"_cutover_amount\" := (amount::numeric(12,2)); END;"), "{}", plan.expand[1]);
        assert!(plan.expand[1].contains("DECLARE \"amount\" numeric(12,2) := NEW.\"_cutover_amount\"; BEGIN NEW.\"amount\" := (amount::text); END;"), "{}", plan.expand[1]);
        assert_eq!(plan.backfills[0].set, "\"_cutover_amount\" = (amount::numeric(12,2))");
        assert!(plan.publish[2].contains("\"_cutover_amount\" AS \"amount\""));
        // Complete: triggers off, old column out, shadow renamed.
        assert!(plan.contract[0].contains("DROP TRIGGER IF EXISTS"));
        assert_eq!(plan.contract[3], "ALTER TABLE \"public\".\"users\" DROP COLUMN IF EXISTS \"amount\"");
        assert!(plan.contract[4].contains("RENAME COLUMN \"_cutover_amount\" TO \"amount\""));
        assert_eq!(
            plan.revert.last().unwrap(),
            "ALTER TABLE \"public\".\"users\" DROP COLUMN IF EXISTS \"_cutover_amount\""
        );
        // The column's index is built again on the shadow, with its options, and takes the old
        // one's name at complete; the other index is left alone.
        assert_eq!(
            plan.concurrent,
            ["CREATE INDEX CONCURRENTLY IF NOT EXISTS \"_cutover_idx_users_amount\" ON \"public\".\"users\" USING \"btree\" (\"_cutover_amount\" DESC, \"id\")"]
        );
        let rename = plan.contract.iter().position(|s| s.contains("RENAME TO \"users_amount\"")).unwrap();
        let drop = plan.contract.iter().position(|s| s.contains("DROP COLUMN IF EXISTS \"amount\"")).unwrap();
        assert!(drop < rename, "{:?}", plan.contract);
    }

    #[test]
    fn refusals_say_why() {
        let tables = users();
        let err = |op: Operation| plan(&input(&tables), &[op]).unwrap_err().to_string();
        assert!(err(Operation::ChangeType {
            table: "users".into(),
            column: "id".into(),
            type_name: "int".into(),
            up: "id".into(),
            down: "id".into()
        })
        .contains("depends on it"));
        assert!(err(Operation::DropColumn { table: "users".into(), column: "name".into(), down: None })
            .contains("give `down`"));
        // Inputs whose SQL would fail halfway through `start` are refused before it.
        assert!(err(Operation::AddUnique { table: "users".into(), name: "u".into(), columns: vec![] })
            .contains("`columns` is empty"));
        assert!(err(Operation::AddForeignKey {
            table: "users".into(),
            name: "fk".into(),
            columns: vec!["id".into()],
            references: "users".into(),
            references_columns: vec!["id".into(), "name".into()],
            on_delete: None
        })
        .contains("1 column reference 2 columns"));
        assert!(err(Operation::CreateTable {
            table: "t".into(),
            columns: vec![crate::ops::NewColumn {
                name: "a".into(),
                type_name: "int".into(),
                nullable: true,
                default: None
            }],
            primary_key: vec!["id".into()]
        })
        .contains("the primary key names `id`, which is not one of its columns (a)"));
        assert!(err(Operation::RenameColumn { table: "user".into(), from: "a".into(), to: "b".into() })
            .contains("table `user` does not exist in schema `public` (tables: users)"));
        assert!(err(Operation::AddColumn {
            table: "users".into(),
            column: "x".into(),
            type_name: "int".into(),
            nullable: false,
            default: None,
            up: None
        })
        .contains("neither `default` nor `up`"));
        let twice = [
            Operation::RenameColumn { table: "users".into(), from: "name".into(), to: "n".into() },
            Operation::DropColumn { table: "users".into(), column: "name".into(), down: Some("'x'".into()) },
        ];
        assert!(plan(&input(&tables), &twice)
            .unwrap_err()
            .to_string()
            .starts_with("operation 2 (drop_column): `users.name` is changed by an earlier operation"));
    }

    #[test]
    fn constant_defaults_need_no_backfill() {
        assert!(is_constant("0") && is_constant("'abc'::text") && is_constant("true") && is_constant("-1.5"));
        assert!(!is_constant("now()") && !is_constant("gen_random_uuid()") && !is_constant("'a' || 'b'"));
    }
}
