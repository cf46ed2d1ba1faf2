//! How long a statement holds its table, from its effect and the table's size: for `plan`,
//! and for the start-up review's time limit.

use std::collections::BTreeMap;
use std::time::Duration;

use cutover_analysis::{Action, Effect};
use cutover_engine::RelationFacts;

/// Assumed sequential read rate when none could be measured: a modest disk.
pub(crate) const DEFAULT_SCAN_RATE: f64 = 200.0 * 1024.0 * 1024.0;

/// How long the statement's scan, rewrite or mass update of its table should take at `rate`
/// bytes/s.
pub(crate) fn estimate(effect: &Effect, facts: &BTreeMap<String, RelationFacts>, rate: f64) -> Option<Duration> {
    let (table, factor) = work(effect)?;
    estimate_work(&table, factor, facts, rate)
}

/// The table a statement reads or writes whole, and how many times its size that costs: what
/// an estimate needs of the statement, and all that a review computed ahead keeps of it.
pub(crate) fn work(effect: &Effect) -> Option<(String, f64)> {
    // MySQL/MariaDB: by the algorithm; a copy or an in-place rebuild writes the table and its
    // indexes again (and the binary log), an index build reads and sorts, INSTANT is the
    // dictionary's.
    if let Some(ddl) = &effect.mysql {
        let (table, _) = effect.locks.first()?;
        let factor = match (ddl.algorithm?, ddl.touches) {
            (cutover_analysis::Algorithm::Instant, _) => return None,
            (_, cutover_analysis::MysqlTouches::Dictionary) => return None,
            (cutover_analysis::Algorithm::Copy, _) | (_, cutover_analysis::MysqlTouches::Rows) => 4.0,
            (_, cutover_analysis::MysqlTouches::Indexes) => 2.0,
        };
        if ddl.ddl {
            return Some((table.clone(), factor));
        }
    }
    let writes_rows = matches!(effect.action, Action::WriteRows { .. });
    if !(effect.scans || effect.rewrites || writes_rows) {
        return None;
    }
    let (table, _) = effect.locks.first()?;
    // A rewrite writes the heap, every index and the WAL for all of it; an index build reads
    // and sorts. Rough factors, stated in the README.
    let factor = if effect.rewrites || writes_rows {
        4.0
    } else if matches!(effect.action, Action::CreateIndex { .. }) {
        2.0
    } else {
        1.0
    };
    Some((table.clone(), factor))
}

/// How long `factor` times `table`'s size takes at `rate` bytes/s; `None` when its size is unknown.
pub(crate) fn estimate_work(
    table: &str,
    factor: f64,
    facts: &BTreeMap<String, RelationFacts>,
    rate: f64,
) -> Option<Duration> {
    let bytes = facts.get(table)?.bytes as f64;
    Some(Duration::from_secs_f64(bytes * factor / rate))
}
