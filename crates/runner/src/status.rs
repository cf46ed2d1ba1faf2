//! What state each migration is in: the files compared with the history. Pure: no I/O.

use crate::identity::relative_path;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use cutover_engine::{Direction, HistoryRecord, RecordKind, State};
use cutover_migration::{Migration, MigrationKind, MigrationSet, Version};

/// The state of one migration, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationState {
    /// Never applied (or, for a repeatable migration, edited since it was last applied).
    Pending,
    /// Applied, and its file is unchanged.
    Applied,
    /// The last attempt failed.
    Failed,
    /// Applied, but its file was edited since.
    Modified,
    /// Applied, but its file is gone.
    Missing,
    /// Covered by a baseline: the database had it before cutover managed it.
    Baselined,
    /// Applied, then reverted by its down script.
    Reverted,
    /// An attempt is under way, or was interrupted (a killed process): `up` resumes it.
    Running,
}

impl MigrationState {
    /// Whether `up` would apply it: never applied, failed, interrupted or reverted.
    pub fn is_to_apply(self) -> bool {
        matches!(
            self,
            MigrationState::Pending | MigrationState::Failed | MigrationState::Running | MigrationState::Reverted
        )
    }

    /// The name `status` prints.
    pub fn name(self) -> &'static str {
        match self {
            MigrationState::Pending => "pending",
            MigrationState::Applied => "applied",
            MigrationState::Failed => "failed",
            MigrationState::Modified => "modified",
            MigrationState::Missing => "missing",
            MigrationState::Baselined => "baselined",
            MigrationState::Reverted => "reverted",
            MigrationState::Running => "running",
        }
    }
}

impl fmt::Display for MigrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of `status`.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    /// The version; `None` for repeatable migrations.
    pub version: Option<Version>,
    /// The name.
    pub name: String,
    /// Versioned or repeatable.
    pub kind: MigrationKind,
    /// The state.
    pub state: MigrationState,
    /// When it was applied (or baselined), for applied, modified and missing migrations.
    pub applied_at: Option<String>,
    /// The file's checksum, or the recorded one when the file is gone.
    pub checksum: String,
    /// Index of the migration in the set, when its file exists.
    pub migration_idx: Option<usize>,
    /// The latest history row about it.
    pub latest: Option<HistoryRecord>,
    /// Pending, but older than the newest applied migration.
    pub out_of_order: bool,
}

impl MigrationStatus {
    /// How messages name it: `<version> <name>`, or `R <name>` when repeatable, as
    /// `Migration::label` does for migrations whose files exist.
    pub fn label(&self) -> String {
        match &self.version {
            Some(version) if self.name.is_empty() => version.to_string(),
            Some(version) => format!("{version} {}", self.name),
            None => format!("R {}", self.name),
        }
    }

    /// The attempt that stopped part-way outside a transaction, when the latest row about a
    /// missing migration says one did: its file is gone, but it was never applied whole
    /// (tester 19: shown as "applied at" the time it failed).
    pub fn part_way(&self) -> Option<&HistoryRecord> {
        let record = self.latest.as_ref().filter(|_| self.state == MigrationState::Missing)?;
        (matches!(record.state, State::Running | State::Failed) && !record.transactional).then_some(record)
    }

    /// What [`Self::part_way`] says, in words: "stopped part-way up at T: 1 of 2 statements
    /// applied".
    pub fn part_way_words(&self) -> Option<String> {
        self.part_way().map(|r| {
            format!(
                "stopped part-way {} at {}: {} of {} statements applied",
                r.direction.name(),
                r.started_at,
                r.statements_done,
                r.statements_total
            )
        })
    }
}

/// Compares the migrations with the history.
pub fn compute_status(set: &MigrationSet, history: &[HistoryRecord]) -> Vec<MigrationStatus> {
    // Recorded versions compare the way the directory's layout compares its own.
    let parse_recorded = |text: &str| set.layout.parse_version(text);
    let baseline = history
        .iter()
        .rev()
        .find(|r| r.kind == RecordKind::Baseline && r.state == State::Baselined)
        .and_then(|r| Some((parse_recorded(r.version.as_deref()?)?, r.finished_at.clone())));
    // The latest row per version and per repeatable name, in one pass over the history:
    // `status` must stay fast on thousands of migrations.
    let mut latest_by_version: BTreeMap<Version, &HistoryRecord> = BTreeMap::new();
    let mut latest_by_name: HashMap<&str, &HistoryRecord> = HashMap::new();
    // A revert that changed nothing leaves the migration as it was: applied (tester 20: a down
    // rolled back was taken for a failed up, and the next `up` applied the migration again).
    // An attempt is several rows (its progress is appended): all of its rows go.
    let no_op_reverts: BTreeSet<(&Option<String>, &str, &str)> = history
        .iter()
        .filter(|r| reverted_nothing(r))
        .map(|r| (&r.version, r.name.as_str(), r.started_at.as_str()))
        .collect();
    let history: Vec<&HistoryRecord> = history
        .iter()
        .filter(|r| {
            r.direction != Direction::Down
                || !no_op_reverts.contains(&(&r.version, r.name.as_str(), r.started_at.as_str()))
        })
        .collect();
    for &record in &history {
        match record.kind {
            RecordKind::Versioned => {
                if let Some(version) = record.version.as_deref().and_then(parse_recorded) {
                    latest_by_version.insert(version, record);
                }
            }
            RecordKind::Repeatable => {
                latest_by_name.insert(record.name.as_str(), record);
            }
            RecordKind::Baseline => {}
        }
    }
    let latest_versioned = |version: &Version| latest_by_version.get(version).copied();
    // Liquibase's changesets are known by name and changelog: their version is a place in the
    // order, which moves when a changeset is added above one.
    let by_name = set.layout.identifies_by_name();
    let mut latest_by_identity: HashMap<(&str, &str), &HistoryRecord> = HashMap::new();
    if by_name {
        for &record in history.iter().filter(|r| r.kind == RecordKind::Versioned) {
            latest_by_identity.insert((record.name.as_str(), record.script.as_str()), record);
        }
    }
    let scripts: Vec<String> = match by_name {
        true => set.migrations.iter().map(|m| relative_path(set, &m.up.path)).collect(),
        false => Vec::new(),
    };

    let mut statuses = Vec::new();
    for (idx, migration) in set.migrations.iter().enumerate() {
        let latest = match &migration.version {
            Some(_) if by_name => latest_by_identity.get(&(migration.name.as_str(), scripts[idx].as_str())).copied(),
            Some(version) => latest_versioned(version),
            None => latest_by_name.get(migration.name.as_str()).copied(),
        };
        let checksum = migration.checksum.as_str();
        let (state, applied_at) = match latest {
            None => match (&migration.version, &baseline) {
                (Some(version), Some((base, at))) if version <= base => (MigrationState::Baselined, at.clone()),
                _ => (MigrationState::Pending, None),
            },
            Some(record) => match record.state {
                State::Applied if record.checksum == checksum => (MigrationState::Applied, record.finished_at.clone()),
                State::Applied if migration.kind == MigrationKind::Repeatable => (MigrationState::Pending, None),
                State::Applied => (MigrationState::Modified, record.finished_at.clone()),
                State::Failed => (MigrationState::Failed, None),
                State::Running => (MigrationState::Running, None),
                State::Reverted => (MigrationState::Reverted, None),
                // Adopted from another tool: checked against that tool's checksum then, so an
                // edit since is an edit of an applied migration.
                State::Baselined if !record.checksum.is_empty() && record.checksum != checksum => {
                    (MigrationState::Modified, record.finished_at.clone())
                }
                State::Baselined => (MigrationState::Baselined, record.finished_at.clone()),
            },
        };
        statuses.push(MigrationStatus {
            version: migration.version.clone(),
            name: migration.name.clone(),
            kind: migration.kind,
            state,
            applied_at,
            checksum: checksum.to_string(),
            migration_idx: Some(idx),
            latest: latest.cloned(),
            out_of_order: false,
        });
    }

    // Applied versions whose files are gone.
    let file_versions: BTreeSet<&Version> = set.migrations.iter().filter_map(|m| m.version.as_ref()).collect();
    let mut missing: Vec<(Version, &HistoryRecord)> = Vec::new();
    let recorded: Vec<(Version, &HistoryRecord)> = if by_name {
        let identities: BTreeSet<(&str, &str)> =
            set.migrations.iter().zip(&scripts).map(|(m, script)| (m.name.as_str(), script.as_str())).collect();
        latest_by_identity
            .iter()
            .filter(|(identity, _)| !identities.contains(*identity))
            .filter_map(|(_, &r)| Some((parse_recorded(r.version.as_deref()?)?, r)))
            .collect()
    } else {
        latest_by_version
            .iter()
            .filter(|(version, _)| !file_versions.contains(version))
            .map(|(version, &r)| (version.clone(), r))
            .collect()
    };
    for (version, latest) in recorded {
        let partly_applied = match latest.state {
            State::Applied | State::Running => true,
            State::Failed => !latest.transactional && latest.statements_done > 0,
            _ => false,
        };
        if partly_applied {
            missing.push((version, latest));
        }
    }
    for (version, record) in missing {
        statuses.push(MigrationStatus {
            version: Some(version),
            name: record.name.clone(),
            kind: MigrationKind::Versioned,
            state: MigrationState::Missing,
            // Not applied whole when it stopped part-way (`MigrationStatus::part_way`).
            applied_at: (record.state == State::Applied).then(|| record.finished_at.clone()).flatten(),
            checksum: record.checksum.clone(),
            migration_idx: None,
            latest: Some(record.clone()),
            out_of_order: false,
        });
    }

    let newest_applied = statuses
        .iter()
        // Baselined ones too: a gap below a migration another tool applied is out of order.
        .filter(|s| {
            matches!(
                s.state,
                MigrationState::Applied
                    | MigrationState::Modified
                    | MigrationState::Missing
                    | MigrationState::Baselined
            )
        })
        .filter_map(|s| s.version.clone())
        .max();
    // Liquibase runs every changeset not yet run, wherever it stands: none is out of order.
    if let Some(newest) = newest_applied.filter(|_| !by_name) {
        for status in statuses.iter_mut().filter(|s| s.state == MigrationState::Pending) {
            if let Some(version) = &status.version {
                status.out_of_order = *version < newest;
            }
        }
    }

    statuses.sort_by(|a, b| {
        let key = |s: &MigrationStatus| (s.version.is_none(), s.version.clone(), s.name.clone());
        key(a).cmp(&key(b))
    });
    statuses
}

/// The migration a status line is about, when its file exists.
pub fn migration_of<'a>(set: &'a MigrationSet, status: &MigrationStatus) -> Option<&'a Migration> {
    status.migration_idx.map(|idx| &set.migrations[idx])
}

/// Whether a history row is a down script's attempt that changed nothing: it failed in a
/// transaction (rolled back), or outside one before any statement was done, or was killed
/// inside a transaction. The migration stays what the rows before it say.
fn reverted_nothing(record: &HistoryRecord) -> bool {
    record.direction == Direction::Down
        && match record.state {
            State::Failed => record.transactional || record.statements_done == 0,
            State::Running => record.transactional,
            _ => false,
        }
}

/// The latest row about a migration when it says an attempt in `direction` stopped part-way
/// outside a transaction: statements done, or one under way when the runner was killed (which
/// may have taken effect though not recorded). Its script cannot then be run whole, nor the
/// other direction's script undo it (see `run::down` and `executor::run_script`).
pub fn stopped_part_way(latest: Option<&HistoryRecord>, direction: Direction) -> Option<&HistoryRecord> {
    let record = latest?;
    let stopped = record.state == State::Running || (record.state == State::Failed && record.statements_done > 0);
    (stopped && record.direction == direction && !record.transactional).then_some(record)
}

/// Where a non-transactional script should resume, from the latest row about it in the same
/// direction: the number of statements known to be applied.
pub fn resume_point(latest: Option<&HistoryRecord>, direction: Direction) -> Option<&HistoryRecord> {
    let record = latest?;
    let interrupted = matches!(record.state, State::Running | State::Failed);
    (interrupted && record.direction == direction && !record.transactional && record.statements_done > 0)
        .then_some(record)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use cutover_migration::{Checksum, Layout, Script, ScriptSettings};

    use super::*;

    fn migration(version: &str, text: &str) -> Migration {
        Migration {
            version: Some(Version::parse(version).unwrap()),
            name: format!("m{version}"),
            kind: MigrationKind::Versioned,
            layout: Layout::Native,
            checksum: Checksum::of_normalized(text),
            up: Script {
                path: PathBuf::from(format!("{version}.up.sql")),
                text: text.to_string(),
                statements: vec![],
                settings: ScriptSettings::default(),
            },
            down: None,
        }
    }

    fn record(version: &str, state: State, text: &str) -> HistoryRecord {
        HistoryRecord {
            id: 0,
            version: Some(version.to_string()),
            name: format!("m{version}"),
            kind: RecordKind::Versioned,
            direction: Direction::Up,
            state,
            script: String::new(),
            checksum: Checksum::of_normalized(text).as_str().to_string(),
            transactional: true,
            statements_total: 1,
            statements_done: 1,
            prefix_checksum: None,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            finished_at: Some("2026-01-01T00:00:01.000Z".into()),
            duration_ms: Some(1),
            error_message: None,
            error_sqlstate: None,
            error_statement: None,
            error_location: None,
            installed_by: "me".into(),
            runner: "me@host".into(),
            tool_version: "0".into(),
        }
    }

    fn check(migrations: Vec<Migration>, history: Vec<HistoryRecord>, expected: &[&str]) {
        let set = MigrationSet { dir: PathBuf::new(), layout: Layout::Native, migrations, ignored: vec![] };
        let actual: Vec<String> = compute_status(&set, &history)
            .iter()
            .map(|s| {
                format!(
                    "{} {}{}",
                    s.version.as_ref().map_or("R", Version::as_str),
                    s.state,
                    if s.out_of_order { " out-of-order" } else { "" }
                )
            })
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn every_state() {
        check(
            vec![
                migration("1", "a"),
                migration("2", "b"),
                migration("3", "c"),
                migration("4", "d"),
                migration("6", "f"),
            ],
            vec![
                record("1", State::Applied, "a"),
                record("2", State::Applied, "b-old"),
                record("3", State::Failed, "c"),
                record("5", State::Applied, "e"),
                record("6", State::Applied, "f"),
                record("6", State::Reverted, "f"),
            ],
            &["1 applied", "2 modified", "3 failed", "4 pending out-of-order", "5 missing", "6 reverted"],
        );
    }

    #[test]
    fn baseline_covers_older_versions() {
        let mut base = record("2", State::Baselined, "");
        base.kind = RecordKind::Baseline;
        check(
            vec![migration("1", "a"), migration("2", "b"), migration("3", "c")],
            vec![base],
            &["1 baselined", "2 baselined", "3 pending"],
        );
    }

    #[test]
    fn crlf_checkout_is_still_applied() {
        let text = cutover_migration::normalize("SELECT 1;\r\n");
        check(vec![migration("1", &text)], vec![record("1", State::Applied, "SELECT 1;\n")], &["1 applied"]);
    }

    #[test]
    fn latest_row_wins_and_reapplied_versions_are_applied() {
        check(
            vec![migration("1", "a")],
            vec![
                record("1", State::Failed, "a"),
                record("1", State::Applied, "a"),
                record("1", State::Reverted, "a"),
                record("1", State::Applied, "a"),
            ],
            &["1 applied"],
        );
    }
}
