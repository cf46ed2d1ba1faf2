//! `cutover drift`: the live database's schema against the schema its applied migrations
//! build, replayed on a scratch database as `cutover rehearse` replays them. What differs was
//! changed outside the migrations (a hand-made index, a column altered by hand), or by a
//! migration that did not run as its file says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cutover_engine::{HistoryRecord, ObjectKind, Rehearsal, SchemaObject, SchemaSnapshot, Session, State, Timeouts};
use cutover_migration::{MigrationKind, MigrationSet, Script};

use crate::status::{compute_status, MigrationState};
use crate::Error;

/// What `cutover drift` found.
#[derive(Debug)]
pub struct DriftReport {
    /// How many applied migrations were replayed to build the schema they make.
    pub replayed: usize,
    /// Applied migrations the replay cannot reproduce as they ran, each with why: what they
    /// did differently shows among the differences.
    pub notes: Vec<String>,
    /// Repeatable migrations edited since they were applied, with the differences that are
    /// theirs: not drift, `up` re-applies them.
    pub changed_repeatables: Vec<ChangedRepeatable>,
    /// Every difference, by object, in the order of [`ObjectKind`] then name.
    pub differences: Vec<Difference>,
}

/// A repeatable migration whose file was edited since it was applied: the database has the
/// objects its earlier text made, and `cutover up` (where it is pending) re-applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRepeatable {
    /// `R <name>`.
    pub label: String,
    /// Its file's name (`R__views.sql`).
    pub script: String,
    /// The objects its text as it is now makes or changes that the database has otherwise.
    pub differences: Vec<Difference>,
}

impl ChangedRepeatable {
    /// One line: `repeatable migration R__views.sql changed since it was applied; ...`.
    pub fn summary(&self) -> String {
        let objects: Vec<String> = self.differences.iter().map(|d| format!("{} {}", d.kind, d.name)).collect();
        let objects = if objects.is_empty() { String::new() } else { format!(" ({})", objects.join(", ")) };
        format!(
            "repeatable migration {} changed since it was applied; `cutover up` re-applies it{objects}",
            self.script
        )
    }
}

impl DriftReport {
    /// Whether the database differs from what its migrations build.
    pub fn drifted(&self) -> bool {
        !self.differences.is_empty()
    }
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// What it is.
    pub kind: ObjectKind,
    /// Its name (`users.email` for a column).
    pub name: String,
    /// How it differs.
    pub change: Change,
    /// The objects of an added or dropped table that came or went with it (its columns,
    /// constraints, indexes, triggers, policies, sequences), as `kind name`.
    pub with: Vec<String>,
}

/// How an object differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// In the database, made by no applied migration.
    Added {
        /// Its definition in the database.
        database: String,
    },
    /// Made by the applied migrations, not in the database.
    Dropped {
        /// Its definition as the migrations make it.
        migrations: String,
    },
    /// In both, defined differently.
    Changed {
        /// As the migrations make it.
        migrations: String,
        /// As the database has it.
        database: String,
    },
}

impl Change {
    /// `added`, `dropped` or `changed` (outside the migrations).
    pub fn name(&self) -> &'static str {
        match self {
            Change::Added { .. } => "added",
            Change::Dropped { .. } => "dropped",
            Change::Changed { .. } => "changed",
        }
    }
}

impl Difference {
    /// One line: `index users_email_idx: added outside the migrations`.
    pub fn summary(&self) -> String {
        let with = if self.with.is_empty() { String::new() } else { format!(" (with {})", self.with.join(", ")) };
        let what = match self.change {
            Change::Added { .. } => "added outside the migrations",
            Change::Dropped { .. } => "dropped outside the migrations",
            Change::Changed { .. } => "changed outside the migrations",
        };
        format!("{} {}: {what}{with}", self.kind, self.name)
    }
}

/// Builds, on `scratch` (a fresh, empty database), the schema the migrations of `set` that
/// `history` records as applied make, and compares it with the schema of `live`.
pub fn drift(
    scratch: &mut dyn Rehearsal,
    live: &mut dyn SchemaSnapshot,
    set: &MigrationSet,
    history: &[HistoryRecord],
) -> Result<DriftReport, Error> {
    let mut notes = Vec::new();
    let mut replayed = 0;
    // Each edited repeatable migration with the objects its replay made or changed.
    let mut repeatables: Vec<(ChangedRepeatable, BTreeSet<(ObjectKind, String)>)> = Vec::new();
    for status in compute_status(set, history) {
        let Some(migration) = status.migration_idx.and_then(|idx| set.migrations.get(idx)) else {
            if status.state == MigrationState::Missing {
                notes.push(format!(
                    "{} {}: applied, but its file is gone, so it was not replayed",
                    status.version.as_ref().map_or_else(|| "R".to_string(), ToString::to_string),
                    status.name
                ));
            }
            continue;
        };
        let label = migration.label();
        let applied_before = status.latest.as_ref().is_some_and(|r| r.state == State::Applied);
        // A repeatable migration edited since it ran: the database has what its earlier text
        // made. The history keeps that text's checksum, not the text, so it cannot be replayed;
        // the file as it is now is (a later repeatable may build on it), and the objects that
        // replay makes or changes are set apart from the drift: where the database differs on
        // them, it has the earlier text's, which `up` replaces by applying the pending file.
        // Until then a hand's change to one of those objects is not told apart, and an object
        // only the earlier text made shows as added.
        let changed_repeatable =
            status.state == MigrationState::Pending && migration.kind == MigrationKind::Repeatable && applied_before;
        let wanted = match status.state {
            MigrationState::Applied | MigrationState::Baselined => true,
            MigrationState::Modified => {
                notes.push(format!("{label}: edited since it was applied; replayed as the file is now"));
                true
            }
            MigrationState::Pending if changed_repeatable => true,
            MigrationState::Running | MigrationState::Failed => {
                if status.latest.as_ref().is_some_and(|r| !r.transactional && r.statements_done > 0) {
                    notes.push(format!("{label}: its last run stopped part-way, so it was not replayed"));
                }
                false
            }
            MigrationState::Pending | MigrationState::Reverted | MigrationState::Missing => false,
        };
        if !wanted {
            continue;
        }
        if migration.kind == MigrationKind::Declarative {
            notes
                .push(format!("{label}: declarative (expand/contract), applied by its phases, which are not replayed"));
            continue;
        }
        let before = if changed_repeatable { Some(snapshot_of_scratch(scratch)?) } else { None };
        replay(scratch, &migration.up).map_err(|message| {
            Error::Replay(format!(
                "replaying applied migration {label} on an empty scratch database failed: {message}; drift compares \
                 the database with what its applied migrations build from nothing, so they must build every object \
                 they use (a database baselined onto tables made before the folder needs a first migration that \
                 makes them, e.g. from `pg_dump --schema-only`)"
            ))
        })?;
        replayed += 1;
        if let Some(before) = before {
            let after = snapshot_of_scratch(scratch)?;
            let script = migration
                .up
                .path
                .file_name()
                .map_or_else(|| migration.up.path.display().to_string(), |name| name.to_string_lossy().into_owned());
            repeatables.push((ChangedRepeatable { label, script, differences: Vec::new() }, touched(&before, &after)));
        }
    }
    let expected = snapshot_of_scratch(scratch)?;
    let actual = live.schema_objects().map_err(|e| Error::database("cannot read the schema of the database", e))?;
    let mut differences = differences(&expected, &actual);
    let mut changed_repeatables = Vec::new();
    for (mut repeatable, objects) in repeatables {
        let (theirs, rest) = differences.into_iter().partition(|d| objects.contains(&(d.kind, d.name.clone())));
        repeatable.differences = theirs;
        differences = rest;
        changed_repeatables.push(repeatable);
    }
    Ok(DriftReport { replayed, notes, changed_repeatables, differences })
}

fn snapshot_of_scratch(scratch: &mut dyn Rehearsal) -> Result<Vec<SchemaObject>, Error> {
    scratch.schema_objects().map_err(|e| Error::database("cannot read the schema of the scratch database", e))
}

/// The objects (kind, name) that differ between `before` and `after`: made, changed or dropped.
fn touched(before: &[SchemaObject], after: &[SchemaObject]) -> BTreeSet<(ObjectKind, String)> {
    let before: BTreeSet<&SchemaObject> = before.iter().collect();
    let after: BTreeSet<&SchemaObject> = after.iter().collect();
    before.symmetric_difference(&after).map(|o| (o.kind, o.name.clone())).collect()
}

/// Runs an applied up script on the scratch database as `up` ran it, in one transaction or
/// statement by statement; unobserved, so that a long folder replays as fast as it applies.
fn replay(scratch: &mut dyn Rehearsal, script: &Script) -> Result<(), String> {
    let timeouts = Timeouts { lock_timeout: Duration::ZERO, statement_timeout: Duration::ZERO };
    let mut line = None;
    let mut body = |session: &mut dyn Session| {
        for statement in &script.statements {
            line = Some(statement.line);
            session.execute(&statement.sql)?;
        }
        Ok(())
    };
    let result = if script.settings.transaction {
        scratch.transaction(timeouts, &mut body)
    } else {
        scratch.autocommit(timeouts, &mut body)
    };
    result.map_err(|err| format!("{}:{}: {err}", script.path.display(), line.unwrap_or(1)))
}

/// The objects of `expected` (built by the migrations) and `actual` (the database) that differ,
/// by kind and name; objects of an added or dropped table are folded into it.
pub fn differences(expected: &[SchemaObject], actual: &[SchemaObject]) -> Vec<Difference> {
    type Key<'a> = (ObjectKind, &'a str);
    fn by_key(objects: &[SchemaObject]) -> BTreeMap<Key<'_>, &SchemaObject> {
        objects.iter().map(|o| ((o.kind, o.name.as_str()), o)).collect()
    }
    let (expected, actual) = (by_key(expected), by_key(actual));
    let mut found: Vec<(Difference, Option<String>)> = Vec::new();
    for (key, object) in &expected {
        match actual.get(key) {
            None => found.push((
                Difference {
                    kind: key.0,
                    name: key.1.to_string(),
                    change: Change::Dropped { migrations: object.definition.clone() },
                    with: Vec::new(),
                },
                object.table.clone(),
            )),
            Some(live) if live.definition != object.definition => found.push((
                Difference {
                    kind: key.0,
                    name: key.1.to_string(),
                    change: Change::Changed {
                        migrations: object.definition.clone(),
                        database: live.definition.clone(),
                    },
                    with: Vec::new(),
                },
                live.table.clone(),
            )),
            Some(_) => {}
        }
    }
    for (key, object) in &actual {
        if !expected.contains_key(key) {
            found.push((
                Difference {
                    kind: key.0,
                    name: key.1.to_string(),
                    change: Change::Added { database: object.definition.clone() },
                    with: Vec::new(),
                },
                object.table.clone(),
            ));
        }
    }
    // A table added or dropped whole: its parts go with it, not each on its own line.
    let whole = |change: &Change, table: &str| {
        found.iter().position(|(d, _)| {
            d.name == table
                && std::mem::discriminant(&d.change) == std::mem::discriminant(change)
                && !matches!(d.change, Change::Changed { .. })
                && matches!(
                    d.kind,
                    ObjectKind::Table | ObjectKind::View | ObjectKind::MaterializedView | ObjectKind::Type
                )
        })
    };
    let mut folded: Vec<(usize, String)> = Vec::new();
    let mut keep = vec![true; found.len()];
    for (idx, (difference, table)) in found.iter().enumerate() {
        if let Some(parent) = table.as_deref().and_then(|t| whole(&difference.change, t)) {
            if parent != idx {
                folded.push((parent, format!("{} {}", difference.kind, difference.name)));
                keep[idx] = false;
            }
        }
    }
    for (parent, part) in folded {
        found[parent].0.with.push(part);
    }
    let mut differences: Vec<Difference> =
        found.into_iter().zip(keep).filter(|(_, keep)| *keep).map(|((d, _), _)| d).collect();
    differences.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: ObjectKind, name: &str, table: Option<&str>, definition: &str) -> SchemaObject {
        SchemaObject { kind, name: name.into(), table: table.map(Into::into), definition: definition.into() }
    }

    fn check(expected: &[SchemaObject], actual: &[SchemaObject], want: &[&str]) {
        let got: Vec<String> = differences(expected, actual).iter().map(Difference::summary).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn each_object_is_added_dropped_or_changed() {
        let users = object(ObjectKind::Table, "users", None, "");
        let email = object(ObjectKind::Column, "users.email", Some("users"), "text");
        check(&[users.clone(), email.clone()], &[users.clone(), email.clone()], &[]);
        let wider = object(ObjectKind::Column, "users.email", Some("users"), "character varying(200)");
        check(
            &[users.clone(), email.clone()],
            &[users.clone(), wider],
            &["column users.email: changed outside the migrations"],
        );
        let index = object(ObjectKind::Index, "users_email_idx", Some("users"), "CREATE INDEX ...");
        check(
            &[users.clone(), email.clone()],
            &[users.clone(), email.clone(), index.clone()],
            &["index users_email_idx: added outside the migrations"],
        );
        check(
            &[users.clone(), email.clone(), index],
            &[users.clone(), email.clone()],
            &["index users_email_idx: dropped outside the migrations"],
        );
    }

    #[test]
    fn the_parts_of_a_table_added_or_dropped_go_with_it() {
        let audit = object(ObjectKind::Table, "audit", None, "");
        let at = object(ObjectKind::Column, "audit.at", Some("audit"), "timestamptz");
        let seq = object(ObjectKind::Sequence, "audit_id_seq", Some("audit"), "bigint");
        let users = object(ObjectKind::Table, "users", None, "");
        let nick = object(ObjectKind::Column, "users.nick", Some("users"), "text");
        check(
            std::slice::from_ref(&users),
            &[users.clone(), audit.clone(), at.clone(), seq, nick],
            &[
                "table audit: added outside the migrations (with column audit.at, sequence audit_id_seq)",
                "column users.nick: added outside the migrations",
            ],
        );
        check(
            &[audit, at, users.clone()],
            &[users],
            &["table audit: dropped outside the migrations (with column audit.at)"],
        );
    }

    #[test]
    fn what_a_replay_touched_is_what_it_made_changed_or_dropped() {
        let view = object(ObjectKind::View, "v", None, "SELECT email");
        let wider = object(ObjectKind::View, "v", None, "SELECT id, email");
        let id = object(ObjectKind::Column, "v.id", Some("v"), "integer");
        let old = object(ObjectKind::Function, "old()", None, "body 1");
        let kept = object(ObjectKind::Table, "t", None, "");
        let touched = touched(&[view, old, kept.clone()], &[wider, id, kept]);
        let names: Vec<String> = touched.iter().map(|(kind, name)| format!("{kind} {name}")).collect();
        assert_eq!(names, ["column v.id", "view v", "function old()"]);
    }

    #[test]
    fn a_changed_table_keeps_its_parts_apart() {
        let logged = object(ObjectKind::Table, "t", None, "");
        let unlogged = object(ObjectKind::Table, "t", None, "unlogged");
        let a = object(ObjectKind::Column, "t.a", Some("t"), "int");
        check(
            &[logged, a.clone()],
            &[unlogged],
            &["table t: changed outside the migrations", "column t.a: dropped outside the migrations"],
        );
    }
}
