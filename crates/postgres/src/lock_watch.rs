//! The application's waits on a backfill batch's locks, seen from a second connection.
//!
//! While a batch runs, a connection of its own samples `pg_locks` every few milliseconds for
//! sessions whose lock is not granted, and `pg_blocking_pids()` of those (only of those: it is
//! the costly part, and most samples find nobody waiting). A session waiting on the batch's
//! backend, directly or queued behind one that does, waited on the backfill. `pg_locks` is
//! readable by every role, unlike other roles' `pg_stat_activity` rows; on PostgreSQL 14+ its
//! `waitstart` says how long each has waited. The same connection times a probe commit while a
//! batch runs (see `cutover_engine::CommitLatency`).

use std::time::Duration;

use cutover_engine::{AppWaits, Cadence, DbError, LockWatcher, WaitingSession};
use postgres::Client;

use crate::connect::PgTarget;
use crate::error::db_error;

/// How often a batch is sampled. A sample costs about 0.15 ms of one server backend (measured
/// on PostgreSQL 15 with pgbench: 7,000 samples/s on one connection), so every 5 ms is about 3%
/// of a core while a batch runs, nothing between batches; a wait shorter than that is missed,
/// and does no harm worth pacing for.
const CADENCE: Cadence = Cadence { interval: Duration::from_millis(5), first_after: Duration::ZERO };

struct Monitor {
    client: Client,
    /// `pg_locks.waitstart` exists (PostgreSQL 14+).
    waitstart: bool,
}

impl PgTarget {
    /// Runs `batch` on this target's connection while the monitor connection watches it.
    pub(crate) fn watched<T>(
        &mut self,
        batch: impl FnOnce(&mut PgTarget) -> Result<T, DbError>,
    ) -> (Result<T, DbError>, AppWaits) {
        cutover_engine::watched(self, |target| &mut target.lock_watch, PgTarget::start_watcher, batch)
    }

    fn start_watcher(&mut self) -> Result<LockWatcher, String> {
        let ours: i32 = self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(|e| format!("cannot read the batches' backend: {e}"))?
            .get(0);
        let mut config = self.config.clone();
        config.application_name("cutover backfill lock watch");
        let mut client = self
            .connector
            .connect(&config)
            .map_err(|e| format!("cannot open a connection to watch lock waits: {e}"))?;
        // A sample never waits for a lock, but one stuck on a busy server must not hold the
        // batch's end, which waits for the sample under way.
        client
            .batch_execute("SET statement_timeout = '1s'")
            .map_err(|e| format!("cannot set up the lock-wait connection: {e}"))?;
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .map_err(|e| format!("cannot set up the lock-wait connection: {e}"))?
            .get(0);
        let monitor = Monitor { client, waitstart: version >= 140_000 };
        Ok(LockWatcher::start(monitor, ours as u64, CADENCE, sample, Some(probe_commit)))
    }
}

/// A commit that waits for its log flush, as the application's do: `txid_current()` gives the
/// transaction an id, so its commit writes a commit record and flushes the WAL up to it (unless
/// `synchronous_commit` is off for this role, where the application's commits wait for no flush
/// either). One id per probe: fifty a second, nothing beside an application's.
fn probe_commit(monitor: &mut Monitor) -> Result<(), DbError> {
    monitor.client.batch_execute("SELECT txid_current()").map_err(db_error)
}

/// The sessions waiting for a lock now, each with who it waits for.
fn sample(monitor: &mut Monitor) -> Result<Vec<WaitingSession>, DbError> {
    // The waiting sessions first (a grouped subquery is not flattened), so that
    // `pg_blocking_pids` runs for them only.
    let waited = if monitor.waitstart {
        "(extract(epoch FROM clock_timestamp() - min(waitstart)) * 1000000)::bigint"
    } else {
        "NULL::bigint"
    };
    let sql = format!(
        "SELECT pid, pg_blocking_pids(pid), waited_us \
         FROM (SELECT pid, {waited} AS waited_us FROM pg_locks WHERE NOT granted AND pid IS NOT NULL GROUP BY pid) waiting"
    );
    let rows = monitor.client.query(&sql, &[]).map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|row| WaitingSession {
            id: row.get::<_, i32>(0) as u64,
            blocked_by: row.get::<_, Vec<i32>>(1).into_iter().map(|pid| pid as u64).collect(),
            waited: row.get::<_, Option<i64>>(2).map(|us| Duration::from_micros(us.max(0) as u64)),
        })
        .collect())
}
