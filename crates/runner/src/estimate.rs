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
    // Data changes, and DDL of no known algorithm, are costed below as on PostgreSQL.
    let known = effect.mysql.as_ref().filter(|ddl| ddl.ddl).and_then(|ddl| Some((ddl.algorithm?, ddl.touches)));
    if let Some((algorithm, touches)) = known {
        let (table, _) = effect.locks.first()?;
        let factor = match (algorithm, touches) {
            (cutover_analysis::Algorithm::Instant, _) => return None,
            (_, cutover_analysis::MysqlTouches::Dictionary) => return None,
            (cutover_analysis::Algorithm::Copy, _) | (_, cutover_analysis::MysqlTouches::Rows) => 4.0,
            (_, cutover_analysis::MysqlTouches::Indexes) => 2.0,
        };
        return Some((table.clone(), factor));
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
    let bytes = facts.get(table)?.bytes;
    (bytes >= 0).then(|| Duration::from_secs_f64(bytes as f64 * factor / rate))
}

#[cfg(test)]
mod tests {
    use super::work;

    fn effect(sql: &str) -> cutover_analysis::Effect {
        cutover_analysis::sqlparse::analyze_mysql(sql, "mariadb-10.11".parse().unwrap()).unwrap()
    }

    /// A MySQL statement is costed by its algorithm when it is DDL, by the rows it writes when
    /// it changes data (an `UPDATE` carries no algorithm and is costed as on PostgreSQL).
    #[test]
    fn mysql_work_by_algorithm_and_data_changes_by_rows() {
        assert_eq!(work(&effect("ALTER TABLE t MODIFY n bigint")), Some(("t".to_string(), 4.0)));
        assert_eq!(work(&effect("CREATE INDEX i ON t (n)")), Some(("t".to_string(), 2.0)));
        assert_eq!(work(&effect("ALTER TABLE t ADD COLUMN c int")), None, "INSTANT");
        assert_eq!(work(&effect("UPDATE t SET n = 1")), Some(("t".to_string(), 4.0)));
    }
}
