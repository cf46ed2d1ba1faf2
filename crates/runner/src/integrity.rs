//! The history checked against its guard. Pure: no I/O.
//!
//! An engine that keeps a guard writes one guard row for every history row, in the same
//! statement (a trigger), and keeps it where an emptied history does not reach (MySQL's
//! `TRUNCATE` fires no trigger; a dropped or disabled trigger lets `DELETE` through). A row the
//! guard recorded that the history no longer has, or has otherwise, means the history was
//! emptied or rewritten behind cutover's back: every migration would look pending again, and
//! `up` would apply them all a second time.

use std::collections::{BTreeMap, HashMap};

use cutover_engine::{GuardRow, HistoryRecord, State};
use cutover_migration::{Layout, Version};

use crate::Refusal;

/// What the history lost, as its guard tells.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Ids of rows the history no longer has.
    pub lost: Vec<i64>,
    /// Ids of rows whose version, state or checksum is not what was written.
    pub changed: Vec<i64>,
    /// The newest version the guard saw applied or baselined (still so at its last row).
    pub newest_applied: Option<String>,
}

/// Compares the guard with the history. Only the guard rows from the last baseline that is
/// still in the history count: `cutover baseline`, which runs only on a history with nothing
/// applied, is how a database whose history was lost is adopted again.
pub(crate) fn damage(guard: &[GuardRow], history: &[HistoryRecord], layout: Layout) -> Option<Damage> {
    let by_id: HashMap<i64, &HistoryRecord> = history.iter().map(|r| (r.id, r)).collect();
    let same = |g: &GuardRow| {
        by_id
            .get(&g.history_id)
            .is_some_and(|r| r.version == g.version && r.state.name() == g.state && r.checksum == g.checksum)
    };
    let from = guard.iter().rposition(|g| g.state == State::Baselined.name() && same(g)).unwrap_or(0);
    let mut lost = Vec::new();
    let mut changed = Vec::new();
    for g in &guard[from..] {
        if !by_id.contains_key(&g.history_id) {
            lost.push(g.history_id);
        } else if !same(g) {
            changed.push(g.history_id);
        }
    }
    if lost.is_empty() && changed.is_empty() {
        return None;
    }
    // An id can come back: InnoDB restarts AUTO_INCREMENT after a TRUNCATE.
    for ids in [&mut lost, &mut changed] {
        ids.sort_unstable();
        ids.dedup();
    }
    Some(Damage { lost, changed, newest_applied: newest_applied(guard, layout) })
}

/// The newest version whose last guard row says applied or baselined.
fn newest_applied(guard: &[GuardRow], layout: Layout) -> Option<String> {
    let parse = |text: &str| layout.parse_version(text);
    let mut latest: BTreeMap<Version, &str> = BTreeMap::new();
    for g in guard {
        if let Some(version) = g.version.as_deref().and_then(parse) {
            latest.insert(version, g.state.as_str());
        }
    }
    latest
        .into_iter()
        .rev()
        .find(|(_, state)| *state == State::Applied.name() || *state == State::Baselined.name())
        .map(|(version, _)| version.as_str().to_string())
}

/// `1, 2, 5 to 9`: ids, runs of consecutive ones shortened.
fn id_list(ids: &[i64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut idx = 0;
    while idx < ids.len() {
        let mut end = idx;
        while end + 1 < ids.len() && ids[end + 1] == ids[end] + 1 {
            end += 1;
        }
        parts.push(if end > idx { format!("{} to {}", ids[idx], ids[end]) } else { ids[idx].to_string() });
        idx = end + 1;
    }
    if parts.len() > 8 {
        let more = parts.len() - 8;
        parts.truncate(8);
        parts.push(format!("{more} more"));
    }
    parts.join(", ")
}

/// The refusal of a run on a damaged history: what was lost, and the two ways back.
pub(crate) fn refusal(damage: &Damage, table: &str) -> Refusal {
    let mut problems = Vec::new();
    if !damage.lost.is_empty() {
        problems.push(format!(
            "the history table `{table}` has lost {} cutover wrote to it (ids {}): it was emptied (TRUNCATE), dropped or rewritten outside cutover",
            cutover_engine::count(damage.lost.len(), "row", "rows"),
            id_list(&damage.lost)
        ));
    }
    if !damage.changed.is_empty() {
        problems.push(format!(
            "{} of the history table `{table}` not what cutover wrote (ids {}): rewritten outside cutover",
            cutover_engine::count(damage.changed.len(), "row is", "rows are"),
            id_list(&damage.changed)
        ));
    }
    let adopt = match &damage.newest_applied {
        Some(version) => format!(
            "or, if the schema is known to be at migration {version} (the newest the history recorded as applied), adopt the database again with `cutover baseline {version}`"
        ),
        None => "or, if you know which migration the schema is at, adopt the database again with `cutover baseline VERSION`".to_string(),
    };
    Refusal {
        problems,
        advice: format!(
            "the history no longer says what this database has, so every migration could run twice: restore `{table}` from a backup taken before it was changed, {adopt}; `{table}_guard` keeps what was lost"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, version: &str, state: State) -> HistoryRecord {
        HistoryRecord {
            id,
            version: Some(version.to_string()),
            name: format!("m{version}"),
            kind: if state == State::Baselined {
                cutover_engine::RecordKind::Baseline
            } else {
                cutover_engine::RecordKind::Versioned
            },
            direction: cutover_engine::Direction::Up,
            state,
            script: String::new(),
            checksum: format!("c{version}"),
            transactional: false,
            statements_total: 1,
            statements_done: 1,
            prefix_checksum: None,
            started_at: String::new(),
            finished_at: None,
            duration_ms: None,
            error_message: None,
            error_sqlstate: None,
            error_statement: None,
            error_location: None,
            installed_by: String::new(),
            runner: String::new(),
            tool_version: String::new(),
        }
    }

    fn witness(r: &HistoryRecord) -> GuardRow {
        GuardRow {
            history_id: r.id,
            version: r.version.clone(),
            state: r.state.name().to_string(),
            checksum: r.checksum.clone(),
        }
    }

    /// `(lost, changed, newest applied)`, or `None` when the history is whole.
    fn check(guard: &[GuardRow], history: &[HistoryRecord]) -> Option<(String, String, Option<String>)> {
        damage(guard, history, Layout::Native).map(|d| (id_list(&d.lost), id_list(&d.changed), d.newest_applied))
    }

    #[test]
    fn a_whole_history_passes_and_a_lost_or_rewritten_one_does_not() {
        let history = vec![
            row(1, "1", State::Running),
            row(2, "1", State::Applied),
            row(3, "2", State::Applied),
            row(4, "10", State::Applied),
        ];
        let guard: Vec<GuardRow> = history.iter().map(witness).collect();
        assert_eq!(check(&guard, &history), None);
        assert_eq!(check(&[], &history), None, "no guard rows (yet): nothing to compare");
        // Emptied: every row lost; the newest applied version compares as a version.
        assert_eq!(check(&guard, &[]), Some(("1 to 4".into(), String::new(), Some("10".into()))));
        // Emptied and refilled from id 1 (InnoDB restarts AUTO_INCREMENT after TRUNCATE).
        assert_eq!(
            check(&guard, &[row(1, "7", State::Running)]),
            Some(("2 to 4".into(), "1".into(), Some("10".into())))
        );
        // One row rewritten.
        let mut rewritten = history.clone();
        rewritten[2].state = State::Failed;
        assert_eq!(check(&guard, &rewritten), Some((String::new(), "3".into(), Some("10".into()))));
        // Reverted last: the newest applied is the one before.
        let mut reverted = guard.clone();
        reverted.push(GuardRow { history_id: 5, state: "reverted".into(), ..witness(&history[3]) });
        assert_eq!(check(&reverted, &[]).unwrap().2, Some("2".into()));
    }

    #[test]
    fn a_baseline_still_in_the_history_starts_the_guard_over() {
        let old = [row(1, "1", State::Applied), row(2, "2", State::Applied)];
        let mut guard: Vec<GuardRow> = old.iter().map(witness).collect();
        // Emptied, then adopted again: the baseline got id 1 again.
        let history = vec![row(1, "2", State::Baselined), row(2, "3", State::Applied)];
        guard.extend(history.iter().map(witness));
        assert_eq!(check(&guard, &history), None);
        // The baseline lost too: everything counts again.
        assert_eq!(check(&guard, &history[1..]).map(|d| (d.0, d.1)), Some(("1".into(), "2".into())));
    }

    #[test]
    fn long_id_lists_are_shortened() {
        assert_eq!(id_list(&[1, 2, 3, 5, 7, 8]), "1 to 3, 5, 7 to 8");
        let scattered: Vec<i64> = (0..20).map(|i| i * 2).collect();
        assert!(id_list(&scattered).ends_with("12 more"), "{}", id_list(&scattered));
    }
}
