//! The application's waits on a backfill batch's locks, seen from a second connection.
//!
//! While a batch runs, a connection of its own samples InnoDB's lock waits every few
//! milliseconds: on MariaDB `information_schema.INNODB_LOCK_WAITS` joined with `INNODB_TRX`
//! (whose `trx_mysql_thread_id` is the connection id), on MySQL 8 (which dropped that table)
//! `performance_schema.data_lock_waits` joined with `performance_schema.threads`. A session
//! waiting on the batch's connection, directly or queued behind one that does, waited on the
//! backfill. InnoDB keeps when a wait started only to the second (`trx_wait_started`); on
//! MariaDB the waiting statement's running time (`PROCESSLIST.TIME_MS`) stands for the wait,
//! on MySQL the wait is measured across samples. InnoDB refreshes what MariaDB's tables show
//! only after 0.1 s unread (see `MARIADB_CADENCE`), so there a wait much shorter than that can be
//! missed: the pacing reacts to the waits that matter most.

use std::time::Duration;

use cutover_engine::{AppWaits, Cadence, DbError, LockWatcher, WaitingSession};
use mysql::prelude::Queryable;
use mysql::{Conn, Row};

use crate::backfill::text;
use crate::connect::{open, MysqlTarget};
use crate::error::db_error;

/// How often a batch is sampled on MariaDB. InnoDB refreshes what `INNODB_TRX` and
/// `INNODB_LOCK_WAITS` show only when nobody read them for 0.1 s (its `information_schema`
/// cache): sampled more often, they would show the same moment for ever. So a sample every
/// 0.11 s, the first 20 ms into a batch; a batch shorter than that is seen by some samples and
/// not others, which the pacing's halving and slow growth absorb.
const MARIADB_CADENCE: Cadence =
    Cadence { interval: Duration::from_millis(110), first_after: Duration::from_millis(20) };

/// On MySQL 8, `performance_schema.data_lock_waits` is read live: as on PostgreSQL.
const MYSQL_CADENCE: Cadence = Cadence { interval: Duration::from_millis(5), first_after: Duration::ZERO };

struct Monitor {
    conn: Conn,
    /// The query of the lock waits: waiting connection, connection it waits for, and how long
    /// the waiting statement has run, in ms (MariaDB; NULL on MySQL).
    query: &'static str,
}

/// `INNODB_TRX` joined twice in one query finds nothing on MariaDB 10.11 (both read one
/// cache); a scalar subquery for the blocker does. `PROCESSLIST.TIME_MS` is how long the
/// waiting statement has run: for an application's single-row write, its wait.
const MARIADB_WAITS: &str = "SELECT r.trx_mysql_thread_id, \
       (SELECT b.trx_mysql_thread_id FROM information_schema.INNODB_TRX b WHERE b.trx_id = w.blocking_trx_id), \
       (SELECT p.TIME_MS FROM information_schema.PROCESSLIST p WHERE p.ID = r.trx_mysql_thread_id) \
     FROM information_schema.INNODB_LOCK_WAITS w \
     JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id";

const MYSQL_WAITS: &str = "SELECT r.PROCESSLIST_ID, b.PROCESSLIST_ID, NULL \
     FROM performance_schema.data_lock_waits w \
     JOIN performance_schema.threads r ON r.THREAD_ID = w.REQUESTING_THREAD_ID \
     JOIN performance_schema.threads b ON b.THREAD_ID = w.BLOCKING_THREAD_ID";

impl MysqlTarget {
    /// Runs `batch` on this target's connection while the monitor connection watches it.
    pub(crate) fn watched<T>(
        &mut self,
        batch: impl FnOnce(&mut MysqlTarget) -> Result<T, DbError>,
    ) -> (Result<T, DbError>, AppWaits) {
        cutover_engine::watched(self, |target| &mut target.lock_watch, MysqlTarget::start_watcher, batch)
    }

    fn start_watcher(&mut self) -> Result<LockWatcher, String> {
        let ours: Option<u64> = self
            .conn
            .query_first("SELECT CONNECTION_ID()")
            .map_err(|e| format!("cannot read the batches' connection: {e}"))?;
        let ours = ours.ok_or("cannot read the batches' connection")?;
        let conn = open(&self.opts, self.tls_preferred)
            .map_err(|e| format!("cannot open a connection to watch lock waits: {e}"))?;
        let (query, cadence) =
            if self.mariadb { (MARIADB_WAITS, MARIADB_CADENCE) } else { (MYSQL_WAITS, MYSQL_CADENCE) };
        let mut monitor = Monitor { conn, query };
        // Once now, so that a missing privilege (PROCESS; on MySQL, performance_schema) is
        // said once, not found at every batch.
        sample(&mut monitor).map_err(|e| format!("cannot read the lock waits: {e}"))?;
        // No probe commit: InnoDB flushes its log for a transaction that changed rows only, and
        // the watcher has no table of its own to change.
        Ok(LockWatcher::start(monitor, ours, cadence, sample, None))
    }
}

/// The sessions waiting for a lock now, each with who it waits for.
fn sample(monitor: &mut Monitor) -> Result<Vec<WaitingSession>, DbError> {
    let rows: Vec<Row> = monitor.conn.query(monitor.query).map_err(db_error)?;
    let mut waiting: Vec<WaitingSession> = Vec::new();
    for row in &rows {
        let id = |idx| text(row, idx).and_then(|t| t.parse::<u64>().ok());
        let (Some(id), Some(blocker)) = (id(0), id(1)) else { continue };
        let waited =
            text(row, 2).and_then(|ms| ms.parse::<f64>().ok()).map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        match waiting.iter_mut().find(|w| w.id == id) {
            Some(session) => session.blocked_by.push(blocker),
            None => waiting.push(WaitingSession { id, blocked_by: vec![blocker], waited }),
        }
    }
    Ok(waiting)
}
