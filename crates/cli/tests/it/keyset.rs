//! Keys that are not UTF-8 text: a backfill walks a VARBINARY, BINARY or latin1 key once, and
//! resumes at the key it stopped at, whatever its bytes.

use std::thread;
use std::time::{Duration, Instant};

use crate::mysql::wait_for_rows;
use crate::util::{output_text, MyDb, PgDb, Project};

/// Keys `0x41....`, `0x80....` and `0xFF....`: one in three is ASCII, the others are not UTF-8
/// (read as text they would all become `?` or U+FFFD and compare as another key).
const BINARY_KEYS: &str = "UNHEX(CONCAT(ELT(seq % 3 + 1, '41', '80', 'FF'), LPAD(HEX(seq), 4, '0')))";

/// Runs `cutover` with `args`, killed after two minutes: a key compared as another key can
/// make a backfill go round forever.
fn run(project: &Project, url: &str, args: &[&str]) -> std::process::Output {
    let mut child = project
        .cutover_std(url)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("cutover {args:?} still ran after 2 minutes: {}", output_text(&output).1);
        }
        thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_varbinary_key_that_is_not_utf8_is_walked_once_across_a_kill() {
    let db = MyDb::new();
    db.query(&format!(
        "CREATE TABLE blobs (k varbinary(8) PRIMARY KEY, n int NOT NULL DEFAULT 0); \
         INSERT INTO blobs (k) SELECT {BINARY_KEYS} FROM seq_1_to_6000; SELECT 1"
    ));
    let project = Project::new();
    let args = ["backfill", "--table", "blobs", "--set", "n = n + 1", "--max-batch", "100", "--pause", "20ms"];
    let mut child = project.cutover_std(&db.url).args(args).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for_rows(&db, 1000);
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before: i64 = db.query("SELECT rows_scanned FROM cutover_backfills").parse().unwrap();
    assert!(done_before < 6000, "killed mid-way");
    assert_eq!(db.query("SELECT count(*) FROM blobs WHERE n > 1"), "0", "no row done twice before the kill");
    assert_eq!(
        db.query("SELECT count(*) FROM blobs WHERE n = 1").parse::<i64>().unwrap(),
        done_before,
        "checkpoint and rows agree"
    );
    // The saved key is the last row done, byte for byte: every row up to it is done.
    let status = project.cutover(&db.url).args(["backfill", "--status", "--format", "json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let last_key = status["backfills"][0]["last_key"][0].as_str().unwrap().to_string();
    assert!(last_key.starts_with("0x"), "a binary key is shown as a hex literal: {last_key}");
    assert_eq!(
        db.query(&format!("SELECT count(*) FROM blobs WHERE k <= {last_key} AND n <> 1")),
        "0",
        "every row up to the saved key {last_key} is done"
    );

    let output = run(&project, &db.url, &args);
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming backfill"), "{stderr}");
    assert!(stdout.contains("done: 6000 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT concat(sum(n = 1), ' ', sum(n <> 1)) FROM blobs"), "6000 0");
}

#[test]
fn latin1_and_binary_columns_of_a_composite_key_are_walked_once() {
    let db = MyDb::new();
    // `tag` holds latin1 letters that are not ASCII (é, ÿ), `k` fixed-width bytes.
    db.query(&format!(
        "CREATE TABLE m (tag varchar(4) CHARACTER SET latin1 NOT NULL, k binary(3) NOT NULL, x int, \
                         PRIMARY KEY (tag, k)); \
         INSERT INTO m (tag, k, x) SELECT CONVERT(UNHEX(ELT(seq % 3 + 1, '61', 'E9', 'FF')) USING latin1), \
                                          {BINARY_KEYS}, IF(seq % 4 = 0, -1, NULL) FROM seq_1_to_1500; SELECT 1"
    ));
    let project = Project::new();
    let set = ["--set", "x = COALESCE(x, 0) + 1", "--where", "x IS NULL OR x >= 0", "--max-batch", "40"];
    let output = run(&project, &db.url, &[&["backfill", "--table", "m"], &set[..]].concat());
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 1125 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT concat(sum(x = 1), ' ', sum(x = -1), ' ', count(*)) FROM m"), "1125 375 1500");
}

/// A `BIT` key's text is its bytes too: it travels as its number.
#[test]
fn a_bit_key_is_walked_once() {
    let db = MyDb::new();
    db.query("CREATE TABLE bits (k bit(16) PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO bits (k) SELECT seq * 250 FROM seq_1_to_260; SELECT 1");
    let project = Project::new();
    let output = run(&project, &db.url, &["backfill", "--table", "bits", "--set", "n = n + 1", "--max-batch", "7"]);
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 260 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT concat(sum(n = 1), ' ', sum(n <> 1)) FROM bits"), "260 0");
}

#[test]
fn dry_run_shows_binary_keys_as_hex_literals() {
    let db = MyDb::new();
    db.query("CREATE TABLE b (k varbinary(4) PRIMARY KEY, n int); INSERT INTO b (k) VALUES (0x80), (0xFF01), ('a'); SELECT 1");
    let project = Project::new();
    let output = run(&project, &db.url, &["backfill", "--table", "b", "--set", "n = 1", "--dry-run"]);
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("1: (0x61) .. (0xFF01)"), "{stdout}");
}

/// PostgreSQL reads a `bytea` key as its `\x` text and casts it back: the same walk.
#[test]
fn a_bytea_key_is_walked_once_on_postgres() {
    let db = PgDb::new();
    db.query(
        "CREATE TABLE blobs (k bytea PRIMARY KEY, n int NOT NULL DEFAULT 0); \
         INSERT INTO blobs (k) SELECT decode((ARRAY['41', '80', 'ff'])[g % 3 + 1] || lpad(to_hex(g), 4, '0'), 'hex') \
         FROM generate_series(1, 1500) g",
    );
    let project = Project::new();
    let output = run(&project, &db.url, &["backfill", "--table", "blobs", "--set", "n = n + 1", "--max-batch", "40"]);
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 1500 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n <> 1) FROM blobs"), "1500\t0");
}

/// A checkpoint an older cutover saved for a binary key kept the key's bytes as text: it
/// resumes after that key, as it did then.
#[test]
fn a_binary_key_checkpoint_saved_as_text_resumes_where_it_stopped() {
    let db = MyDb::new();
    db.query(
        "CREATE TABLE v (k varbinary(8) PRIMARY KEY, n int NOT NULL DEFAULT 0); \
         INSERT INTO v (k) SELECT CONCAT('k', LPAD(seq, 4, '0')) FROM seq_1_to_900; SELECT 1",
    );
    // The state table and a paused checkpoint as cutover 0.1 wrote them.
    db.query(
        "CREATE TABLE cutover_backfills (name VARCHAR(255) PRIMARY KEY, table_name VARCHAR(512) NOT NULL, \
           set_expr TEXT NOT NULL, `condition` TEXT, key_columns TEXT NOT NULL, last_key TEXT, pass INT NOT NULL, \
           rows_scanned BIGINT NOT NULL, rows_updated BIGINT NOT NULL, batches BIGINT NOT NULL, \
           batch_size BIGINT NOT NULL, state VARCHAR(16) NOT NULL, error TEXT, runner VARCHAR(1024) NOT NULL, \
           started_at VARCHAR(40) NOT NULL, updated_at VARCHAR(40) NOT NULL) DEFAULT CHARSET = utf8mb4; \
         INSERT INTO cutover_backfills VALUES ('old', '`v`', 'n = n + 1', NULL, '1:k', '5:k0500', 1, 500, 500, 5, \
           100, 'paused', NULL, 'older', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:01.000Z'); SELECT 1",
    );
    let project = Project::new();
    let args = ["backfill", "--name", "old", "--table", "v", "--set", "n = n + 1", "--max-batch", "100"];
    let output = run(&project, &db.url, &args);
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("done: 900 rows updated"), "{stdout}");
    assert_eq!(
        db.query("SELECT concat(sum(n = 1 AND k > 'k0500'), ' ', sum(n = 0 AND k <= 'k0500'), ' ', count(*)) FROM v"),
        "400 500 900"
    );
}
