//! How many rows a backfill walks: what its progress is measured against.
//!
//! A keyset backfill reads every row of its key range, whatever its condition selects, so the
//! total is the table's rows. The planner's estimate of the rows a condition selects is no total:
//! on a column just added it has no statistics, and PostgreSQL guesses half a percent of the
//! table (2,500 of 500,000), which made the bar sit at 100% for most of the run.

use std::time::Duration;

use cutover_engine::{BackfillJob, BackfillTarget, DbErrorKind, Timeouts};

/// A number of rows, counted or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowTotal {
    /// The rows.
    pub rows: u64,
    /// Counted (`count(*)`), rather than the planner's estimate.
    pub exact: bool,
}

impl RowTotal {
    /// `500,000 rows` when counted, `about 500,000 rows (estimate)` otherwise.
    pub fn describe(&self) -> String {
        let rows = cutover_engine::count(self.rows, "row", "rows");
        if self.exact {
            rows
        } else {
            format!("about {rows} (estimate)")
        }
    }
}

/// How long an exact count may take before the estimate stands in for it: a count reads the
/// whole table (or an index), which is cheap up to a few million rows and not beyond.
pub const COUNT_LIMIT: Duration = Duration::from_secs(2);

/// The rows of the job's table (with `matching`, those its condition selects now): counted when
/// that takes at most [`COUNT_LIMIT`], else the planner's estimate; `None` when neither answers.
pub fn row_total(target: &mut dyn BackfillTarget, job: &BackfillJob, matching: bool) -> Option<RowTotal> {
    // A count never waits on a lock: the table's readers are not to queue behind it.
    let timeouts = Timeouts { lock_timeout: Duration::from_millis(100), statement_timeout: COUNT_LIMIT };
    match target.count_rows(job, matching, timeouts) {
        Ok(rows) => Some(RowTotal { rows, exact: true }),
        Err(err) if err.kind == DbErrorKind::Connection => None,
        Err(_) => target.estimate_rows(job, matching).ok().flatten().map(|rows| RowTotal { rows, exact: false }),
    }
}
