//! Backfills on a real PostgreSQL: exact results, exactly once under concurrent writes and
//! after SIGKILL, throttling on a real streaming replica and on a health check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{output_text, PgDb, Project, Replica};

/// Replica lag is cluster-wide: while the replica test holds replay paused, every backfill on
/// the server rightly pauses. So backfill tests share this lock, and the replica test takes it
/// alone.
static REPLICA: RwLock<()> = RwLock::new(());

pub(crate) fn shared() -> RwLockReadGuard<'static, ()> {
    REPLICA.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn backfill_status(project: &Project, db: &PgDb) -> Value {
    let output = project.cutover(&db.url).args(["backfill", "--status", "--format", "json"]).output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Waits until the backfill's checkpoint reports at least `rows` rows.
fn wait_for_rows(db: &PgDb, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: i64 = db
            .try_query("SELECT coalesce(max(rows_scanned), 0) FROM cutover_backfills")
            .map_or(0, |v| v.parse().unwrap());
        if done >= rows {
            return;
        }
        assert!(Instant::now() < deadline, "the backfill never reached {rows} rows");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn single_key_with_nulls_gives_exact_results() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE items (id bigint PRIMARY KEY, a int, label text); INSERT INTO items SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE g END, NULL FROM generate_series(1, 5000) g; UPDATE items SET label = 'kept' WHERE id % 11 = 0");
    let project = Project::new();
    let output = project
        .cutover(&db.url)
        .args([
            "backfill",
            "--table",
            "items",
            "--set",
            "label = coalesce(a::text, 'none')",
            "--where",
            "label IS NULL",
            "--initial-batch",
            "100",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    let expected_updates = db.query("SELECT count(*) FROM generate_series(1, 5000) g WHERE g % 11 <> 0");
    assert!(stdout.contains(&format!("done: {expected_updates} rows updated")), "{stdout}");
    assert_eq!(
        db.query("SELECT count(*) FROM items WHERE label IS DISTINCT FROM (CASE WHEN id % 11 = 0 THEN 'kept' WHEN id % 7 = 0 THEN 'none' ELSE id::text END)"),
        "0"
    );
    let status = backfill_status(&project, &db);
    assert_eq!(status["backfills"][0]["state"], "done");
    assert_eq!(status["backfills"][0]["rows_updated"].to_string(), expected_updates);
}

#[test]
fn composite_and_text_keys_are_walked_in_order() {
    let _shared = shared();
    let db = PgDb::new();
    db.query(
        "CREATE TABLE lines (tenant int, id int, v int, w int, PRIMARY KEY (tenant, id)); \
         INSERT INTO lines SELECT t, i, t * 1000 + i, NULL FROM generate_series(1, 5) t, generate_series(1, 400) i; \
         CREATE TABLE codes (code text NOT NULL UNIQUE, n int, m int); \
         INSERT INTO codes SELECT 'c' || g, g, NULL FROM generate_series(1, 999) g",
    );
    let project = Project::new();
    // Small batches, so that many of them cross from one tenant to the next.
    let args = ["--initial-batch", "37", "--min-batch", "10", "--max-batch", "90"];
    project.cutover(&db.url).args(["backfill", "--table", "lines", "--set", "w = v * 2"]).args(args).assert().success();
    assert_eq!(db.query("SELECT count(*), count(*) FILTER (WHERE w = v * 2) FROM lines"), "2000\t2000");
    // No primary key: the unique index on a NOT NULL text column is the key, in text order.
    let output = project
        .cutover(&db.url)
        .args(["backfill", "--table", "codes", "--set", "m = n + 1"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert!(
        output_text(&output).1.contains("over its unique index codes_code_key (code)"),
        "{}",
        output_text(&output).1
    );
    assert_eq!(db.query("SELECT count(*) FILTER (WHERE m = n + 1) FROM codes"), "999");
}

#[test]
fn a_table_without_a_key_is_refused() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE loose (a int, b text); CREATE UNIQUE INDEX loose_a ON loose (a); INSERT INTO loose VALUES (1, NULL)");
    let project = Project::new();
    let output = project.cutover(&db.url).args(["backfill", "--table", "loose", "--set", "b = 'x'"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("table `loose` has no primary key and no unique index on NOT NULL columns"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM loose WHERE b IS NULL"), "1", "nothing written");
}

#[test]
fn concurrent_writes_lose_nothing_and_no_row_is_done_twice() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE counters (id bigserial PRIMARY KEY, n int NOT NULL DEFAULT 0, v int NOT NULL DEFAULT 0); INSERT INTO counters (n) SELECT 0 FROM generate_series(1, 20000)");
    let project = Project::new();
    let running = Arc::new(AtomicBool::new(true));
    let updates: Arc<Mutex<HashMap<i64, i32>>> = Arc::default();
    let deleted: Arc<Mutex<Vec<i64>>> = Arc::default();
    let writer = {
        let (url, running, updates, deleted) = (db.url.clone(), running.clone(), updates.clone(), deleted.clone());
        thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut step: i64 = 0;
            while running.load(Ordering::SeqCst) {
                step += 1;
                let id = (step * 7919) % 20000 + 1;
                match step % 3 {
                    0 => {
                        client.execute("INSERT INTO counters DEFAULT VALUES", &[]).unwrap();
                    }
                    1 => {
                        if client.execute("UPDATE counters SET v = v + 1 WHERE id = $1", &[&id]).unwrap() == 1 {
                            *updates.lock().unwrap().entry(id).or_default() += 1;
                        }
                    }
                    _ => {
                        if step % 30 == 2
                            && client.execute("DELETE FROM counters WHERE id = $1", &[&(id + 1)]).unwrap() == 1
                        {
                            deleted.lock().unwrap().push(id + 1);
                        }
                    }
                }
            }
        })
    };
    let output = project
        .cutover(&db.url)
        .args(["backfill", "--table", "counters", "--set", "n = n + 1", "--max-batch", "400", "--batch-time", "20ms"])
        .output()
        .unwrap();
    running.store(false, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);

    // Every row that existed when the backfill started, and still exists, was done once.
    assert_eq!(db.query("SELECT count(*) FROM counters WHERE id <= 20000 AND n <> 1"), "0");
    assert_eq!(db.query("SELECT count(*) FROM counters WHERE n NOT IN (0, 1)"), "0", "none done twice");
    let expected_deleted = deleted.lock().unwrap().len();
    assert_eq!(db.query("SELECT count(*) FROM counters WHERE id <= 20000"), (20000 - expected_deleted).to_string());
    // No update of the application was lost.
    let mut client = db.client();
    for (id, count) in updates.lock().unwrap().iter() {
        let rows = client.query("SELECT v FROM counters WHERE id = $1", &[id]).unwrap();
        if let Some(row) = rows.first() {
            assert_eq!(row.get::<_, i32>(0), *count, "row {id}");
        }
    }
}

#[test]
fn sigkill_mid_way_then_resume_does_every_row_exactly_once() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE ledger (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO ledger SELECT g, 0 FROM generate_series(1, 30000) g");
    let project = Project::new();
    let args = ["backfill", "--table", "ledger", "--set", "n = n + 1", "--max-batch", "300", "--pause", "20ms"];
    let mut child = project.cutover_std(&db.url).args(args).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for_rows(&db, 3000);
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before: i64 = db.query("SELECT rows_scanned FROM cutover_backfills").parse().unwrap();
    assert!(done_before < 30000, "killed mid-way");
    assert_eq!(
        db.query("SELECT count(*) FROM ledger WHERE n = 1").parse::<i64>().unwrap(),
        done_before,
        "checkpoint and rows agree"
    );
    // `--status` tells a killed run from a running one (the checkpoint still says `running`);
    // the server lets the killed session's lock go once it sees the connection gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let output = project.cutover(&db.url).args(["backfill", "--status"]).output().unwrap();
        let (stdout, _) = output_text(&output);
        if stdout.contains(" stopped ") || std::time::Instant::now() > deadline {
            break stdout;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.contains("no cutover runs it") && status.contains("the same command resumes it"), "{status}");
    let output = project.cutover(&db.url).args(["backfill", "--status", "--format", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["backfills"][0]["state"], "running", "as recorded");
    assert_eq!(json["backfills"][0]["state_now"], "stopped", "as it stands");
    assert_eq!(json["backfills"][0]["running_now"], false);

    let output = project.cutover(&db.url).args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming backfill"), "{stderr}");
    assert!(stdout.contains("done: 30000 rows updated"), "{stdout}");
    assert_eq!(
        db.query("SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1) FROM ledger"),
        "30000\t0"
    );
}

#[test]
fn sigint_finishes_the_batch_and_saves_progress() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE ledger (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO ledger SELECT g, 0 FROM generate_series(1, 30000) g");
    let project = Project::new();
    let args = ["backfill", "--table", "ledger", "--set", "n = n + 1", "--max-batch", "300", "--pause", "20ms"];
    let child = project
        .cutover_std(&db.url)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_rows(&db, 3000);
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&output.stdout).contains("progress is saved: run the same command again to resume"));
    assert_eq!(db.query("SELECT state FROM cutover_backfills"), "paused");
    project.cutover(&db.url).args(args).assert().success();
    assert_eq!(db.query("SELECT count(*) FILTER (WHERE n = 1) FROM ledger"), "30000");
}

#[test]
fn declared_backfill_runs_by_name_and_once() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE people (id int PRIMARY KEY, first text, last text, full_name text); INSERT INTO people SELECT g, 'f' || g, 'l' || g, NULL FROM generate_series(1, 1000) g");
    let project = Project::new();
    project.migration(
        "20250101000000_full_name.toml",
        "[[backfill]]\nname = \"people_full_name\"\ntable = \"people\"\nset = \"full_name = first || ' ' || last\"\nwhere = \"full_name IS NULL\"\n",
    );
    project.cutover(&db.url).args(["backfill", "people_full_name"]).assert().success();
    assert_eq!(db.query("SELECT count(*) FROM people WHERE full_name = first || ' ' || last"), "1000");
    // Rows written since by code that does not fill the column match the condition again, but
    // so would rows whose update left them matching: done is final, and says how to go on.
    db.query("INSERT INTO people VALUES (1001, 'a', 'b', NULL)");
    let output = project.cutover(&db.url).args(["backfill", "people_full_name"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("was already done: 1000 rows updated"), "{stdout}");
    assert!(stdout.contains("run it under another name"), "{stdout}");
    assert_eq!(db.query("SELECT full_name FROM people WHERE id = 1001"), "NULL");
    project.migration(
        "20250102000000_full_name_again.toml",
        "[[backfill]]\nname = \"people_full_name_2\"\ntable = \"people\"\nset = \"full_name = first || ' ' || last\"\nwhere = \"full_name IS NULL\"\n",
    );
    let output = project.cutover(&db.url).args(["backfill", "people_full_name_2"]).output().unwrap();
    assert!(output_text(&output).0.contains("done: 1 row updated"), "{}", output_text(&output).0);
    assert_eq!(db.query("SELECT full_name FROM people WHERE id = 1001"), "a b");
    let output = project.cutover(&db.url).args(["backfill", "nope"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("no backfill named `nope`"));
}

#[test]
fn dry_run_shows_statements_and_boundaries_without_writing() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 25) g");
    let project = Project::new();
    let output = project
        .cutover(&db.url)
        .args(["backfill", "--table", "t", "--set", "x = id", "--dry-run", "--initial-batch", "10"])
        .output()
        .unwrap();
    let (stdout, _) = output_text(&output);
    assert!(output.status.success());
    assert!(stdout.contains("1: (1) .. (10)\n  2: (11) .. (20)\n  3: (21) .. (25)"), "{stdout}");
    assert!(
        stdout.contains("UPDATE t SET x = id WHERE (\"id\") > ($1::text::integer) AND (\"id\") <= ($2::text::integer)"),
        "{stdout}"
    );
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x IS NOT NULL"), "0");
    assert_eq!(db.tables(), "t", "not even the state table");
}

/// The seed's case: a column just added has no statistics, so the planner's estimate of the rows
/// its condition selects is a guess (0.5% of the table); the total a backfill reports is what it
/// walks, counted.
#[test]
fn totals_are_the_rows_walked_counted_not_the_planners_guess() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE users (id bigint PRIMARY KEY, name text); INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 60000) g; ANALYZE users; ALTER TABLE users ADD COLUMN status text");
    let project = Project::new();
    let args = ["backfill", "--table", "users", "--set", "status = 'active'", "--where", "status IS NULL"];
    let output = project.cutover(&db.url).args(args).arg("--dry-run").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("60000 rows to walk; 60000 rows match the condition now"), "{stdout}");

    let output = project.cutover(&db.url).args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(" on users over its primary key (id): 60000 rows to walk\n"), "{stderr}");
    assert!(stdout.contains("done: 60000 rows updated"), "{stdout}");

    // A count that would take longer than its limit gives way to the planner's estimate, said as one.
    let output = project
        .cutover(&db.url)
        .args([
            "backfill",
            "--table",
            "users",
            "--set",
            "name = name",
            "--where",
            "pg_sleep(0.0001) IS NOT NULL",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("60000 rows to walk; about "), "{stdout}");
    assert!(stdout.contains(" (estimate) match the condition now"), "{stdout}");
}

#[test]
fn a_failing_health_check_pauses_the_backfill() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 2000) g; CREATE TABLE hold (on_hold boolean); INSERT INTO hold VALUES (true)");
    let project = Project::new();
    let child = project
        .cutover_std(&db.url)
        .args(["backfill", "--table", "t", "--set", "x = id", "--health-check", "SELECT NOT on_hold FROM hold"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(800));
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x IS NOT NULL"), "0", "paused while the check fails");
    db.query("UPDATE hold SET on_hold = false");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("paused: health check `SELECT NOT on_hold FROM hold` returned false"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), "2000");
}

#[test]
fn replica_lag_pauses_the_backfill_until_replay_resumes() {
    let _alone = REPLICA.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let db = PgDb::new();
    db.query(
        "CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 20000) g",
    );
    let replica = Replica::start();
    replica.execute("SELECT pg_wal_replay_pause()");
    let project = Project::new();
    let child = project
        .cutover_std(&db.url)
        // Capped so that the run outlasts the lag limit on a fast machine (it took 0.7 s uncapped).
        .args(["backfill", "--table", "t", "--set", "x = id", "--max-batch", "200", "--max-replica-lag", "300ms"])
        .args(["--max-rows-per-second", "5000"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It runs until the replica is 300 ms behind, then waits: perhaps before its first batch,
    // when other tests' writes put the paused replica behind first. Its checkpoint, saved as it
    // starts, tells a backfill that waits from one not started yet.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = -1;
    loop {
        thread::sleep(Duration::from_millis(700));
        let now: i64 = db
            .try_query("SELECT coalesce(max(rows_scanned), -1) FROM cutover_backfills")
            .map_or(-1, |v| v.parse().unwrap());
        if now == last && now >= 0 {
            break;
        }
        last = now;
        assert!(Instant::now() < deadline, "the backfill never paused for the replica");
    }
    assert!(last < 20000, "paused before the end: {last}");
    replica.execute("SELECT pg_wal_replay_resume()");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("paused: replica") && stderr.contains("behind (limit 0.3s)"), "{stderr}");
    assert!(stderr.contains("resumed"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), "20000");
}

#[test]
fn progress_lines_never_show_the_password() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 100) g; CREATE TABLE hold (note text); INSERT INTO hold VALUES ('S3cr3t-pw')");
    // The test server trusts local connections, so any password is accepted; the paused line
    // quotes the health check, which happens to contain it.
    let url = db.url.replacen("postgres@", "postgres:S3cr3t-pw@", 1);
    assert_ne!(url, db.url);
    let project = Project::new();
    let child = project
        .cutover_std(&url)
        .args(["backfill", "--table", "t", "--set", "x = id"])
        .args(["--health-check", "SELECT NOT EXISTS (SELECT 1 FROM hold WHERE note = 'S3cr3t-pw')"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(600));
    db.query("DELETE FROM hold");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("paused: health check") && stderr.contains("note = '***'"), "{stderr}");
    assert!(!stderr.contains("S3cr3t-pw"), "{stderr}");
}
