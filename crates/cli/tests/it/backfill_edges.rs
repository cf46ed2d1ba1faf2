//! Backfills at the edges, on PostgreSQL and MariaDB: one pass over the key range whatever the
//! assignments do to the condition, across kills and interrupts; a health check that cannot
//! answer refused before the first batch, and a check or a replica lag that stops answering
//! mid-run stops the backfill after `--max-blind-pause`, progress saved, instead of pausing
//! forever.

use std::process::{Child, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::backfill::shared;
use crate::util::{output_text, MyDb, PgDb, Project};

/// Waits for `child` to exit, at most `limit`: a backfill still running after that is paused
/// for good, which is the failure these tests look for.
fn wait_at_most(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?} (paused for good?): {}", output_text(&output).1);
        }
        thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Waits until `rows_scanned()` reports at least `rows`.
fn wait_for(rows: i64, rows_scanned: impl Fn() -> i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows_scanned() < rows {
        assert!(Instant::now() < deadline, "the backfill never reached {rows} rows");
        thread::sleep(Duration::from_millis(20));
    }
}

fn pg_rows_scanned(db: &PgDb) -> i64 {
    db.try_query("SELECT coalesce(max(rows_scanned), 0) FROM cutover_backfills").map_or(0, |v| v.parse().unwrap())
}

fn my_rows_scanned(db: &MyDb) -> i64 {
    use mysql::prelude::Queryable;
    // The state table appears with the backfill's start.
    db.conn()
        .query_first::<Option<i64>, _>("SELECT MAX(rows_scanned) FROM cutover_backfills")
        .ok()
        .flatten()
        .flatten()
        .unwrap_or(0)
}

fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// A condition the planner's statistics misjudge (`status IS NULL` on a table analysed before
/// the column was emptied, as autovacuum leaves it halfway through a backfill) does not make
/// each batch read the whole table: the batch's range is found on the key alone, so its cost
/// stays the rows it walks. Before, every batch of such a backfill was a sequential scan, and
/// a backfill of a large table took time in the square of its size. Nor does an index on the
/// condition's column (a tester's: each batch read its every NULL entry).
#[test]
fn a_condition_the_statistics_misjudge_does_not_make_each_batch_scan_the_table() {
    let _shared = shared();
    let db = PgDb::new();
    db.query(
        "CREATE TABLE users (id bigint PRIMARY KEY, status text) WITH (autovacuum_enabled = false); \
         INSERT INTO users SELECT g, 'active' FROM generate_series(1, 50000) g; \
         CREATE INDEX users_status ON users (status); ANALYZE users; \
         UPDATE users SET status = NULL",
    );
    let seq_scans =
        || -> i64 { db.query("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'users'").parse().unwrap() };
    // The setup's own scan reaches the statistics when its session ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    while seq_scans() == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let status_scans = || -> i64 {
        db.query("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'users_status'").parse().unwrap()
    };
    let (before, status_before) = (seq_scans(), status_scans());
    let project = Project::new();
    let output = project
        .cutover(&db.url)
        .args(["backfill", "--table", "users", "--set", "status = 'done'", "--where", "status IS NULL"])
        .args(["--initial-batch", "500", "--max-batch", "1000"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 50000 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FROM users WHERE status IS DISTINCT FROM 'done'"), "0");
    thread::sleep(Duration::from_millis(500));
    // The start's two counts (the rows to walk, and those that match) are the only ones; a
    // count is given up after 2 s for the planner's estimate.
    let scans = seq_scans() - before;
    assert!(scans <= 2, "{scans} sequential scans of `users` in at least 50 batches");
    let scans = status_scans() - status_before;
    assert!(scans <= 2, "{scans} scans of the index on `status` in at least 50 batches");
}

/// `n = n + 1 WHERE n < 100` keeps matching after its update: one pass does each row once, and
/// neither the end of the pass nor a rerun of the finished backfill goes over them again.
#[test]
fn a_set_that_keeps_its_condition_true_updates_each_row_once() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters SELECT g, 0 FROM generate_series(1, 3000) g");
    let project = Project::new();
    let args = ["backfill", "--table", "counters", "--set", "n = n + 1", "--where", "n < 100"];
    let small = ["--initial-batch", "100", "--max-batch", "200"];
    let output = project.cutover(&db.url).args(args).args(small).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 3000 rows updated (3000 walked)"), "{stdout}");
    assert_eq!(
        db.query("SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1) FROM counters"),
        "3000\t0"
    );

    let output = project.cutover(&db.url).args(args).args(small).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("was already done: 3000 rows updated"), "{stdout}");
    assert!(stdout.contains("another name"), "says how to run it again on purpose: {stdout}");
    assert_eq!(db.query("SELECT count(*) FILTER (WHERE n = 1) FROM counters"), "3000", "the rerun did nothing");
}

/// Killed, then interrupted, then finished: still each row once, though every row still
/// matches the condition after its update.
#[test]
fn a_killed_and_an_interrupted_run_resume_and_do_each_row_once() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters SELECT g, 0 FROM generate_series(1, 4000) g");
    let project = Project::new();
    let args = ["backfill", "--table", "counters", "--set", "n = n + 1", "--where", "n < 100"];
    let slow = ["--initial-batch", "50", "--max-batch", "50", "--pause", "20ms"];

    let mut child = project.cutover_std(&db.url).args(args).args(slow).stderr(Stdio::null()).spawn().unwrap();
    wait_for(800, || pg_rows_scanned(&db));
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = pg_rows_scanned(&db);
    assert!(killed_at < 4000, "killed mid-way");
    assert_eq!(db.query("SELECT count(*) FROM counters WHERE n = 1"), killed_at.to_string());

    let child = project
        .cutover_std(&db.url)
        .args(args)
        .args(slow)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(killed_at + 800, || pg_rows_scanned(&db));
    interrupt(&child);
    let output = wait_at_most(child, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(130), "{}", output_text(&output).0);
    let interrupted_at = pg_rows_scanned(&db);
    assert!(interrupted_at < 4000, "interrupted mid-way");
    assert_eq!(db.query("SELECT count(*) FROM counters WHERE n = 1"), interrupted_at.to_string());

    let output = project.cutover(&db.url).args(args).args(["--max-batch", "200"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming backfill"), "{stderr}");
    assert!(stdout.contains("done: 4000 rows updated"), "{stdout}");
    assert_eq!(
        db.query("SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1) FROM counters"),
        "4000\t0"
    );
}

/// Each check that cannot answer "go on or pause" is refused up front, with what it returned
/// and what a check must be; nothing is written, not even the state table.
#[test]
fn a_health_check_that_cannot_answer_is_refused_before_the_first_batch() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 100) g");
    let project = Project::new();
    let cases = [
        ("SELEC true", "syntax error"),
        ("SELECT ok FROM no_such_table", "relation \"no_such_table\" does not exist"),
        ("SELECT true WHERE false", "returned no row"),
        ("SELECT true FROM generate_series(1, 2)", "returned 2 rows"),
        ("SELECT true, true", "returned 2 columns"),
        ("SELECT 1", "returned a value of type int4, not a boolean"),
        ("SELECT 'yes'", "not a boolean"),
        ("SELECT NULL::boolean", "returned NULL"),
    ];
    for (check, problem) in cases {
        let child = project
            .cutover_std(&db.url)
            .args(["backfill", "--table", "t", "--set", "x = id", "--health-check", check])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = wait_at_most(child, Duration::from_secs(20));
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{check}: {stderr}");
        assert!(stderr.contains(&format!("the health check `{check}`")), "{check}: {stderr}");
        assert!(stderr.contains(problem), "{check}: {stderr}");
        assert!(stderr.contains("one row with one boolean column"), "says what a check must be: {stderr}");
        assert_eq!(db.tables(), "t", "{check}: nothing written, not even the state table");
    }
    // A dry run checks it too.
    let output = project
        .cutover(&db.url)
        .args(["backfill", "--table", "t", "--set", "x = id", "--dry-run", "--health-check", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("not a boolean"), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x IS NOT NULL"), "0");
}

/// A check that worked, then fails (its table dropped), pauses the backfill, fail closed, for
/// `--max-blind-pause`; then the backfill stops with its progress saved and the check's error,
/// and a rerun, once the check works again, resumes.
#[test]
fn a_health_check_that_fails_mid_run_stops_the_backfill_after_the_bound() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 3000) g; CREATE TABLE gate (ok boolean); INSERT INTO gate VALUES (true)");
    let project = Project::new();
    let args = ["backfill", "--table", "t", "--set", "x = id", "--health-check", "SELECT ok FROM gate"];
    let child = project
        .cutover_std(&db.url)
        .args(args)
        .args(["--initial-batch", "50", "--max-batch", "50", "--pause", "20ms", "--max-blind-pause", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(500, || pg_rows_scanned(&db));
    db.query("DROP TABLE gate");
    let dropped = Instant::now();
    let output = wait_at_most(child, Duration::from_secs(30));
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(dropped.elapsed() >= Duration::from_secs(1), "paused for the bound first");
    assert!(stderr.contains("paused: health check `SELECT ok FROM gate` failed"), "paused first: {stderr}");
    assert!(stderr.contains("(stopping in 1s unless it can be read)"), "{stderr}");
    assert!(stderr.contains("relation \"gate\" does not exist"), "names the check's error: {stderr}");
    assert!(stderr.contains("--max-blind-pause"), "{stderr}");
    assert!(stderr.contains("progress is saved"), "{stderr}");
    let done = pg_rows_scanned(&db);
    assert!((500..3000).contains(&done), "{done}");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), done.to_string(), "checkpoint and rows agree");
    assert_eq!(db.query("SELECT state FROM cutover_backfills"), "failed");
    let error = db.query("SELECT error FROM cutover_backfills");
    assert!(error.contains("does not exist"), "the checkpoint names the check's last error: {error}");

    db.query("CREATE TABLE gate (ok boolean); INSERT INTO gate VALUES (true)");
    let output = project.cutover(&db.url).args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming backfill"), "{stderr}");
    assert!(stdout.contains("done: 3000 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), "3000");
}

/// A check that answers false is a pause asked for, not a failure: it is not bounded.
#[test]
fn a_health_check_that_answers_false_pauses_past_the_bound() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 500) g; CREATE TABLE hold (on_hold boolean); INSERT INTO hold VALUES (true)");
    let project = Project::new();
    let child = project
        .cutover_std(&db.url)
        .args(["backfill", "--table", "t", "--set", "x = id", "--health-check", "SELECT NOT on_hold FROM hold"])
        .args(["--max-blind-pause", "200ms"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x IS NOT NULL"), "0", "paused");
    db.query("UPDATE hold SET on_hold = false");
    let output = wait_at_most(child, Duration::from_secs(30));
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), "500");
}

/// Replicas expected but not connected: their lag cannot be read, so the backfill pauses, and
/// after `--max-blind-pause` it stops with its progress saved.
#[test]
fn replica_lag_that_cannot_be_read_stops_the_backfill_after_the_bound() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT g, NULL FROM generate_series(1, 500) g");
    let project = Project::new();
    let args = ["backfill", "--table", "t", "--set", "x = id"];
    let started = Instant::now();
    let child = project
        .cutover_std(&db.url)
        .args(args)
        .args(["--replicas", "9", "--max-blind-pause", "700ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_at_most(child, Duration::from_secs(30));
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(started.elapsed() >= Duration::from_millis(700), "paused for the bound first");
    assert!(stderr.contains("of 9 expected replicas are connected: their lag cannot be read"), "{stderr}");
    assert!(stderr.contains("--max-blind-pause"), "{stderr}");
    assert!(stderr.contains("progress is saved"), "{stderr}");
    assert_eq!(db.query("SELECT state FROM cutover_backfills"), "failed");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x IS NOT NULL"), "0");
    // Without the replicas it was told to expect, the same backfill resumes and finishes.
    project.cutover(&db.url).args(args).assert().success();
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), "500");
}

#[test]
fn mariadb_a_set_that_keeps_its_condition_true_updates_each_row_once_across_a_kill() {
    let db = MyDb::new();
    db.query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters SELECT seq, 0 FROM seq_1_to_4000; SELECT 1");
    let project = Project::new();
    let args = ["backfill", "--table", "counters", "--set", "n = n + 1", "--where", "n < 100"];
    let slow = ["--initial-batch", "50", "--max-batch", "50", "--pause", "20ms"];
    let mut child = project.cutover_std(&db.url).args(args).args(slow).stderr(Stdio::null()).spawn().unwrap();
    wait_for(800, || my_rows_scanned(&db));
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = my_rows_scanned(&db);
    assert!(killed_at < 4000, "killed mid-way");
    assert_eq!(db.query("SELECT count(*) FROM counters WHERE n = 1"), killed_at.to_string());

    let output = project.cutover(&db.url).args(args).args(["--max-batch", "200"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming backfill"), "{stderr}");
    assert!(stdout.contains("done: 4000 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT concat(sum(n = 1), ' ', sum(n <> 1)) FROM counters"), "4000 0");

    let output = project.cutover(&db.url).args(args).output().unwrap();
    assert!(output_text(&output).0.contains("was already done"), "{}", output_text(&output).0);
    assert_eq!(db.query("SELECT concat(sum(n = 1), ' ', sum(n <> 1)) FROM counters"), "4000 0");
}

/// A composite key on MariaDB: a batch reads and locks its own range only. MariaDB scans no
/// range for a row comparison (`(a, b) > (?, ?)`), so each batch's UPDATE read the index from
/// its start and, under REPEATABLE READ, locked every row of the table: here it waited on the
/// last row, which the application holds, from its first batch on.
#[test]
fn mariadb_a_composite_key_batch_locks_its_own_range_only() {
    use mysql::prelude::Queryable;
    let _shared = shared();
    let db = MyDb::new();
    db.query(
        "CREATE TABLE visits (site int NOT NULL, day int NOT NULL, n int NOT NULL, PRIMARY KEY (site, day)); \
         INSERT INTO visits SELECT seq DIV 100, seq MOD 100, 0 FROM seq_0_to_3999; SELECT 1",
    );
    // The application holds the last row.
    let mut app = db.conn();
    app.query_drop("START TRANSACTION").unwrap();
    app.query_drop("UPDATE visits SET n = 100 WHERE site = 39 AND day = 99").unwrap();
    let project = Project::new();
    let child = project
        .cutover_std(&db.url)
        .args(["backfill", "--table", "visits", "--set", "n = n + 1"])
        .args(["--initial-batch", "100", "--max-batch", "100", "--lock-timeout", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Every batch but the last is done while the application holds its row.
    let deadline = Instant::now() + Duration::from_secs(30);
    while my_rows_scanned(&db) < 3900 {
        if Instant::now() > deadline {
            app.query_drop("ROLLBACK").unwrap();
            let output = wait_at_most(child, Duration::from_secs(30));
            panic!("the batches waited on a row outside their range: {}", output_text(&output).1);
        }
        thread::sleep(Duration::from_millis(20));
    }
    app.query_drop("COMMIT").unwrap();
    let output = wait_at_most(child, Duration::from_secs(30));
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(db.query("SELECT CONCAT(SUM(n = 1), ' ', SUM(n = 101), ' ', COUNT(*)) FROM visits"), "3999 1 4000");
}

/// Keys MariaDB sorts otherwise than their text (a tester's): an `ENUM` by its members'
/// order, walked by its number, so a batch keeps to its size; a `FLOAT`, whose text is rounded,
/// refused with the reason rather than walked for ever past its last row.
#[test]
fn mariadb_enum_keys_keep_their_batches_and_float_keys_are_refused() {
    let _shared = shared();
    let db = MyDb::new();
    db.query(
        "CREATE TABLE tagged (kind enum('zzz','aaa','mmm') NOT NULL, k int NOT NULL, n int NOT NULL DEFAULT 0, PRIMARY KEY (kind, k)); \
         INSERT INTO tagged (kind, k) SELECT ELT(1 + seq MOD 3, 'zzz', 'aaa', 'mmm'), seq FROM seq_1_to_300; \
         CREATE TABLE measured (f float PRIMARY KEY, n int NOT NULL DEFAULT 0); \
         INSERT INTO measured (f) VALUES (0.1), (1.5), (2.7182817); SELECT 1",
    );
    let project = Project::new();
    let output = project
        .cutover(&db.url)
        .args(["backfill", "--table", "tagged", "--set", "n = n + 1", "--where", "n < 100"])
        .args(["--initial-batch", "10", "--max-batch", "10"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 300 rows updated (300 walked) in 30 batches"), "{stdout}");
    assert_eq!(db.query("SELECT CONCAT(SUM(n = 1), ' ', COUNT(*)) FROM tagged"), "300 300");

    let output = project
        .cutover(&db.url)
        .args(["backfill", "--table", "measured", "--set", "n = n + 1"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has the FLOAT column `f`"), "{stderr}");
    assert_eq!(db.query("SELECT SUM(n) FROM measured"), "0", "nothing written");
}

#[test]
fn mariadb_a_bad_health_check_is_refused_and_a_failing_one_stops_after_the_bound() {
    let db = MyDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT seq, NULL FROM seq_1_to_2000; CREATE TABLE gate (ok boolean); INSERT INTO gate VALUES (true); SELECT 1");
    let project = Project::new();
    let cases = [
        ("SELEC 1", "You have an error in your SQL syntax"),
        ("SELECT ok FROM no_such_table", "doesn't exist"),
        ("SELECT 1 FROM gate WHERE false", "returned no row"),
        ("SELECT 1, 1", "returned 2 columns"),
        ("SELECT 'yes'", "returned `yes`, not a boolean"),
        ("SELECT 2", "returned `2`, not a boolean"),
        ("SELECT NULL", "returned NULL"),
    ];
    for (check, problem) in cases {
        let child = project
            .cutover_std(&db.url)
            .args(["backfill", "--table", "t", "--set", "x = id", "--health-check", check])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = wait_at_most(child, Duration::from_secs(20));
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{check}: {stderr}");
        assert!(stderr.contains(&format!("the health check `{check}`")), "{check}: {stderr}");
        assert!(stderr.contains(problem), "{check}: {stderr}");
    }
    assert_eq!(
        db.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'cutover_backfills'"),
        "0",
        "nothing written"
    );

    let args = ["backfill", "--table", "t", "--set", "x = id", "--health-check", "SELECT ok FROM gate"];
    let child = project
        .cutover_std(&db.url)
        .args(args)
        .args(["--initial-batch", "50", "--max-batch", "50", "--pause", "20ms", "--max-blind-pause", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(300, || my_rows_scanned(&db));
    db.query("DROP TABLE gate; SELECT 1");
    let output = wait_at_most(child, Duration::from_secs(30));
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gate' doesn't exist"), "names the check's error: {stderr}");
    assert!(stderr.contains("progress is saved"), "{stderr}");
    let done = my_rows_scanned(&db);
    assert!((300..2000).contains(&done), "{done}");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), done.to_string());
    assert_eq!(db.query("SELECT state FROM cutover_backfills"), "failed");

    db.query("CREATE TABLE gate (ok boolean); INSERT INTO gate VALUES (true); SELECT 1");
    let output = project.cutover(&db.url).args(args).output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x = id"), "2000");
}

/// A "replica" that is not one: its lag cannot be read, so the backfill pauses, then stops.
#[test]
fn mariadb_a_replica_that_cannot_be_read_stops_the_backfill_after_the_bound() {
    let db = MyDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT seq, NULL FROM seq_1_to_100; SELECT 1");
    let project = Project::new();
    let started = Instant::now();
    let child = project
        .cutover_std(&db.url)
        .args(["backfill", "--table", "t", "--set", "x = id", "--replica-url", &db.url, "--max-blind-pause", "700ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_at_most(child, Duration::from_secs(30));
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(started.elapsed() >= Duration::from_millis(700), "paused for the bound first");
    assert!(stderr.contains("is not a replica, not streaming"), "{stderr}");
    assert!(stderr.contains("progress is saved"), "{stderr}");
    assert!(!stderr.contains("cutover-test"), "the replica's password is not shown: {stderr}");
    assert_eq!(db.query("SELECT state FROM cutover_backfills"), "failed");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x IS NOT NULL"), "0");
}

/// Found by the independent tester: a SET that moves the key, the same backfill spelled two
/// ways, a health check that writes, and flags that would do nothing or batch nonsense.
#[test]
fn what_a_backfill_is_given_cannot_make_it_do_a_row_twice_or_write_elsewhere() {
    let _shared = shared();
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO t SELECT g, 0 FROM generate_series(1, 2000) g");
    let project = Project::new();
    let backfill = |args: &[&str]| {
        let output = project.cutover(&db.url).arg("backfill").args(args).output().unwrap();
        (output.status.code(), output_text(&output).1)
    };
    // Moving the key ahead of the walk would meet each row again (and again).
    let (code, stderr) = backfill(&["--table", "t", "--set", "id = id + 20000, n = n + 1", "--where", "n < 100"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("assigns `id`, a column of the key"), "{stderr}");
    assert_eq!(db.query("SELECT max(n) FROM t"), "0");

    // One backfill however it is spelled: the second spelling finds it done.
    assert_eq!(backfill(&["--table", "t", "--set", "n = n + 1", "--where", "n < 100"]).0, Some(0));
    for spelling in [
        ["--table", "t", "--set", "n=n+1", "--where", "n<100"],
        ["--table", "T", "--set", "N = N + 1", "--where", "n  <  100"],
    ] {
        let (code, stderr) = backfill(&spelling);
        assert_eq!(code, Some(0), "{spelling:?}: {stderr}");
    }
    assert_eq!(db.query("SELECT count(*) FROM t WHERE n = 1"), "2000", "each row once");

    // A health check is asked, it writes nothing.
    let (code, stderr) =
        backfill(&["--table", "t", "--set", "n = 5", "--health-check", "UPDATE t SET n = 999 RETURNING true"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("read-only transaction"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM t WHERE n = 999"), "0");

    for (flags, says) in [
        (&["--max-rows-per-second", "0"][..], "--max-rows-per-second 0"),
        (&["--min-batch", "500", "--max-batch", "10"], "larger than --max-batch"),
        (&["--max-batch", "0"], "at least 1 row"),
        (&["--batch-time", "0"], "--batch-time"),
        (&["--max-replica-lag", "0"], "--max-replica-lag 0"),
        (&["--max-blind-pause", "0"], "--max-blind-pause 0"),
    ] {
        let mut args = vec!["--table", "t", "--set", "n = 7"];
        args.extend_from_slice(flags);
        let (code, stderr) = backfill(&args);
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
    assert_eq!(db.query("SELECT count(*) FROM t WHERE n = 7"), "0");
}
