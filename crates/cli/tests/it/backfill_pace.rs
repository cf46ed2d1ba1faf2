//! Backfills that yield to the application, on a real PostgreSQL and MariaDB: a writer that
//! updates the rows the backfill is walking waits on its batches, the backfill sees it and
//! shortens them; once the writer stops they grow back; every row is still done once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use serde_json::Value;

use crate::backfill::shared;
use crate::util::{output_text, MyDb, PgDb, Project};

/// The backfill's pace as its checkpoint saved it: batch time (ms), sessions that waited, why.
struct SavedPace {
    batch_time_ms: i64,
    sessions_waited: i64,
    reason: String,
    rows_scanned: i64,
}

/// The pace columns and `rows_scanned` of a checkpoint row on MariaDB.
type PaceRow = (Option<i64>, Option<i64>, Option<String>, i64);

/// Runs `writer` (one update of a row just ahead of the backfill) in a loop on a thread until
/// the returned flag is cleared; counts the updates it made.
fn keep_writing(
    mut writer: impl FnMut() -> bool + Send + 'static,
) -> (Arc<AtomicBool>, Arc<AtomicU64>, thread::JoinHandle<()>) {
    let running = Arc::new(AtomicBool::new(true));
    let writes = Arc::new(AtomicU64::new(0));
    let handle = {
        let (running, writes) = (running.clone(), writes.clone());
        thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                if writer() {
                    writes.fetch_add(1, Ordering::SeqCst);
                }
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    (running, writes, handle)
}

/// Polls `read` until `done` holds of what it saved, at most 60 s; returns that pace.
fn wait_for_pace(
    what: &str,
    mut read: impl FnMut() -> Option<SavedPace>,
    done: impl Fn(&SavedPace) -> bool,
) -> SavedPace {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        if let Some(pace) = read() {
            if done(&pace) {
                return pace;
            }
            last = format!("batch {} ms, {} waited: {}", pace.batch_time_ms, pace.sessions_waited, pace.reason);
        }
        assert!(Instant::now() < deadline, "never saw {what}; last pace: {last}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Rows whose update sleeps: batches long enough to be met, and enough of them for the batch
/// time to fall and grow back (20 quiet batches). PostgreSQL's `pg_sleep` sleeps at least 1 ms;
/// MariaDB's `SLEEP(0.0001)` costs about 0.25 ms a row.
const PG_ROWS: i64 = 10_000;
const MARIADB_ROWS: i64 = 40_000;
const ARGS: [&str; 4] = ["--batch-time", "100ms", "--min-batch-time", "10ms"];

fn check_the_pace_followed_the_writer(
    read: &mut dyn FnMut() -> Option<SavedPace>,
    stop_writer: impl FnOnce() -> u64,
) -> (SavedPace, SavedPace) {
    // Waits seen: the batch time falls from the configured 100 ms.
    let shrunk = wait_for_pace("the batch time shrink after the writer waited", &mut *read, |p| {
        p.sessions_waited > 0 && p.batch_time_ms <= 25
    });
    assert!(shrunk.reason.contains("waited on our locks, longest"), "{}", shrunk.reason);
    let writes = stop_writer();
    assert!(writes > 0, "the writer wrote");
    // Nobody waits any more: back to the configured time, and it says so.
    let grown = wait_for_pace("the batch time grow back once nobody waited", &mut *read, |p| {
        p.batch_time_ms == 100 && p.reason.starts_with("no app session waited")
    });
    assert!(grown.rows_scanned > shrunk.rows_scanned);
    (shrunk, grown)
}

#[test]
fn postgres_batches_shrink_while_the_application_waits_on_them_and_grow_back() {
    let _shared = shared();
    let db = PgDb::new();
    db.query(&format!(
        "CREATE TABLE t (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0, v int NOT NULL DEFAULT 0); \
         INSERT INTO t (id) SELECT g FROM generate_series(1, {PG_ROWS}) g"
    ));
    let project = Project::new();
    let backfill = project
        .cutover_std(&db.url)
        .args(["backfill", "--table", "t", "--set", "n = n + 1 + 0 * length(pg_sleep(0.0005)::text)"])
        .args(ARGS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // The application: single-row updates of the rows just after the last batch done, which
    // the batch under way holds.
    let (running, writes, writer) = {
        let mut client = db.client();
        let mut step = 0i64;
        keep_writing(move || {
            step += 1;
            let last: i64 = client
                .query_opt("SELECT last_key[1]::bigint FROM cutover_backfills", &[])
                .ok()
                .flatten()
                .and_then(|row| row.get::<_, Option<i64>>(0))
                .unwrap_or(0);
            let id = last + 1 + step % 100;
            client.execute("UPDATE t SET v = v + 1 WHERE id = $1", &[&id]).unwrap() == 1
        })
    };
    let mut client = db.client();
    let mut read = || {
        let row = client
            .query_opt(
                "SELECT pace_batch_time_ms, pace_sessions_waited, pace_reason, rows_scanned FROM cutover_backfills \
                 WHERE pace_batch_time_ms IS NOT NULL",
                &[],
            )
            .ok()
            .flatten()?;
        Some(SavedPace {
            batch_time_ms: row.get(0),
            sessions_waited: row.get(1),
            reason: row.get(2),
            rows_scanned: row.get(3),
        })
    };
    let (shrunk, _) = check_the_pace_followed_the_writer(&mut read, || {
        // `--status` says the pace and why, while it runs.
        let status = project.cutover(&db.url).args(["backfill", "--status"]).output().unwrap();
        let (stdout, _) = output_text(&status);
        assert!(stdout.contains(" running ") && stdout.contains("pace: batch "), "{stdout}");
        running.store(false, Ordering::SeqCst);
        writer.join().unwrap();
        writes.load(Ordering::SeqCst)
    });
    assert!(shrunk.batch_time_ms >= 10, "never below --min-batch-time: {}", shrunk.batch_time_ms);
    let output = backfill.wait_with_output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("done: {PG_ROWS} rows updated")), "{stdout}");
    assert!(stderr.contains("rows a batch; batch "), "progress lines say the pace: {stderr}");

    // Every row once; every update of the application kept.
    assert_eq!(
        db.query("SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1) FROM t"),
        format!("{PG_ROWS}\t0")
    );
    assert_eq!(db.query("SELECT sum(v) FROM t"), writes.load(Ordering::SeqCst).to_string());
    let json = project.cutover(&db.url).args(["backfill", "--status", "--format", "json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    let pace = &json["backfills"][0]["pace"];
    assert!(pace["batch_time_ms"].as_u64().is_some_and(|ms| (10..=100).contains(&ms)), "{pace}");
    assert!(pace["reason"].as_str().is_some_and(|r| !r.is_empty()), "{pace}");
    assert!(pace["app_sessions_waited"].is_u64() && pace["longest_wait_ms"].is_u64(), "{pace}");
}

#[test]
fn mariadb_batches_shrink_while_the_application_waits_on_them_and_grow_back() {
    let db = MyDb::new();
    db.query(&format!(
        "CREATE TABLE t (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0, v int NOT NULL DEFAULT 0); \
         INSERT INTO t (id) SELECT seq FROM seq_1_to_{MARIADB_ROWS}; SELECT 1"
    ));
    let project = Project::new();
    let backfill = project
        .cutover_std(&db.url)
        .args(["backfill", "--table", "t", "--set", "n = n + 1 + 0 * SLEEP(0.0001)"])
        .args(ARGS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (running, writes, writer) = {
        let mut conn = db.conn();
        let mut step = 0i64;
        keep_writing(move || {
            step += 1;
            // The last key as the checkpoint keeps it: `<length>:<value>`.
            let last: Option<Option<String>> =
                conn.query_first("SELECT last_key FROM cutover_backfills").ok().flatten();
            let last: i64 =
                last.flatten().and_then(|key| key.split_once(':').and_then(|(_, v)| v.parse().ok())).unwrap_or(0);
            conn.exec_drop("UPDATE t SET v = v + 1 WHERE id = ?", (last + 1 + step % 100,)).unwrap();
            conn.affected_rows() == 1
        })
    };
    let mut conn = db.conn();
    let mut read = || {
        let row: Option<PaceRow> = conn
            .query_first(
                "SELECT pace_batch_time_ms, pace_sessions_waited, pace_reason, rows_scanned FROM cutover_backfills",
            )
            .ok()
            .flatten();
        let (Some(batch_time_ms), Some(sessions_waited), Some(reason), rows_scanned) = row? else { return None };
        Some(SavedPace { batch_time_ms, sessions_waited, reason, rows_scanned })
    };
    check_the_pace_followed_the_writer(&mut read, || {
        running.store(false, Ordering::SeqCst);
        writer.join().unwrap();
        writes.load(Ordering::SeqCst)
    });
    let output = backfill.wait_with_output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("done: {MARIADB_ROWS} rows updated")), "{stdout}");
    assert_eq!(db.query("SELECT concat(sum(n = 1), ' ', sum(n <> 1)) FROM t"), format!("{MARIADB_ROWS} 0"));
    assert_eq!(db.query("SELECT sum(v) FROM t"), writes.load(Ordering::SeqCst).to_string());
}

/// A checkpoint table made before the pace was saved: `--status` reads it as it is, and the
/// next backfill adds the columns and resumes.
#[test]
fn postgres_a_checkpoint_table_of_an_earlier_version_is_read_then_upgraded() {
    let _shared = shared();
    let db = PgDb::new();
    db.query(
        "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO t (id) SELECT g FROM generate_series(1, 900) g; \
         CREATE TABLE cutover_backfills (name text PRIMARY KEY, table_name text NOT NULL, set_expr text NOT NULL, \
           condition text, key_columns text[] NOT NULL, last_key text[], pass integer NOT NULL, rows_scanned bigint NOT NULL, \
           rows_updated bigint NOT NULL, batches bigint NOT NULL, batch_size bigint NOT NULL, \
           state text NOT NULL CHECK (state IN ('running', 'paused', 'done', 'failed')), error text, runner text NOT NULL, \
           started_at timestamptz NOT NULL, updated_at timestamptz NOT NULL); \
         UPDATE t SET n = 1 WHERE id <= 500; \
         INSERT INTO cutover_backfills VALUES ('old', 't', 'n = n + 1', NULL, '{id}', '{500}', 1, 500, 500, 5, 100, 'paused', \
           NULL, 'older', now(), now())",
    );
    let project = Project::new();
    let status = project.cutover(&db.url).args(["backfill", "--status", "--format", "json"]).output().unwrap();
    assert!(status.status.success(), "{}", output_text(&status).1);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["backfills"][0]["state"], "paused");
    assert!(json["backfills"][0]["pace"].is_null(), "{json}");

    let output = project
        .cutover(&db.url)
        .args(["backfill", "--name", "old", "--table", "t", "--set", "n = n + 1", "--max-batch", "100"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 900 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1) FROM t"), "900\t0");
    assert_eq!(db.query("SELECT pace_batch_time_ms IS NOT NULL FROM cutover_backfills"), "t");
}

/// A role that may not read InnoDB's lock waits (no PROCESS privilege): the backfill runs, its
/// batch time stays where it is, and the pace says why.
#[test]
fn mariadb_lock_waits_that_cannot_be_read_hold_the_batch_time_and_say_why() {
    let db = MyDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO t (id) SELECT seq FROM seq_1_to_3000; SELECT 1");
    let user = format!("{}_np", db.name);
    let mut admin = db.conn();
    admin.query_drop(format!("CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'np-secret'")).unwrap();
    admin.query_drop(format!("GRANT ALL ON {}.* TO '{user}'@'127.0.0.1'", db.name)).unwrap();
    let url = format!("mysql://{user}:np-secret@{}", db.url.split_once('@').unwrap().1);
    let project = Project::new();
    let output = project
        .cutover(&url)
        .args(["backfill", "--table", "t", "--set", "n = n + 1", "--max-batch", "500", "--batch-time", "40ms"])
        .output()
        .unwrap();
    admin.query_drop(format!("DROP USER '{user}'@'127.0.0.1'")).unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 3000 rows updated"), "{stdout}");
    let (batch_time_ms, reason): (Option<i64>, Option<String>) =
        admin.query_first("SELECT pace_batch_time_ms, pace_reason FROM cutover_backfills").unwrap().unwrap();
    assert_eq!(batch_time_ms, Some(40), "held at --batch-time");
    let reason = reason.unwrap_or_default();
    assert!(reason.starts_with("application lock waits not seen") && reason.contains("PROCESS"), "{reason}");
}
