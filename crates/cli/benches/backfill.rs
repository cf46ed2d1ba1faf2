//! Backfill benchmark: `cargo bench -p cutover --bench backfill`.
//!
//! For each engine of `CUTOVER_BENCH_ENGINES` (default `postgres,mariadb`; MariaDB at
//! `CUTOVER_TEST_MYSQL_URL`'s server), on a table of `CUTOVER_BENCH_ROWS` rows (default
//! 2,000,000), under a load at a fixed rate (each transaction reads one row and updates another
//! column of it: pgbench in a second process on PostgreSQL, an open-loop load of the same shape
//! in this process on MariaDB, whose latency also counts from when a transaction was due), it
//! measures, for each load rate of `CUTOVER_BENCH_RATES` (default `200,1000` tx/s) and
//! each variant of `CUTOVER_BENCH_VARIANTS` (default `random,hot`):
//! - the load's latency (p50, p99, max) and failed transactions, over the load transactions that
//!   overlap each operation (those it blocked included): at baseline (no operation), during
//!   `cutover backfill --set "copy = note"` with its defaults (plus `CUTOVER_BENCH_BACKFILL_ARGS`),
//!   and during one plain `UPDATE ... SET copy = note`;
//! - the rows/s of the backfill and of the plain UPDATE over the same rows.
//!
//! `random` updates random rows; `hot` updates rows just ahead of where the backfill is (its
//! checkpoint's last key, plus up to 1,000), which its batches hold: the worst case for a
//! backfill, where every batch meets the application (random rows while no backfill runs).
//! pgbench runs with `--rate`, so a transaction that waited delays the client's next ones, and
//! their latency counts from when they were due (no coordinated omission). It runs for
//! `CUTOVER_BENCH_PHASE_SECONDS` (default 60) per operation; only transactions that overlap the
//! operation are counted. The table is vacuumed between phases so that neither operation pays
//! for the other's dead rows.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
mod mariadb;

use common::pgbench::{epoch_now, find_pgbench, list, warn_if_longer, Load, LoadStats};

/// Rows ahead of the backfill's last key that the `hot` load updates: within the batch under
/// way or the next, at the defaults.
const HOT_SPREAD: u64 = 1000;

/// The `hot` load's row: just ahead of the running backfill's last key, else a random one.
const HOT_ID: &str = "CREATE FUNCTION hot_id(spread bigint, n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE last bigint;
BEGIN
  IF to_regclass('cutover_backfills') IS NOT NULL THEN
    EXECUTE 'SELECT max(last_key[1]::bigint) FROM cutover_backfills WHERE state = ''running''' INTO last;
  END IF;
  IF last IS NULL THEN RETURN 1 + floor(random() * n)::bigint; END IF;
  RETURN least(n, last + 1 + floor(random() * spread)::bigint);
END $$";

/// What was measured: load variant, rate, phase, rows/s of the operation, the load's latencies.
type Measured = (String, u64, &'static str, Option<f64>, LoadStats);

/// One engine's run, measured.
struct Settings {
    n_rows: u64,
    phase_seconds: u64,
    rates: Vec<u64>,
    variants: Vec<String>,
    clients: u32,
    extra_args: String,
    cutover: PathBuf,
}

fn main() {
    if !common::wants_to_run("backfill") {
        return;
    }
    let settings = Settings {
        n_rows: common::env_or("CUTOVER_BENCH_ROWS", 2_000_000),
        phase_seconds: common::env_or("CUTOVER_BENCH_PHASE_SECONDS", 60),
        rates: list("CUTOVER_BENCH_RATES", "200,1000").iter().map(|r| r.parse().expect("a rate in tx/s")).collect(),
        variants: list("CUTOVER_BENCH_VARIANTS", "random,hot"),
        // Enough clients that the rate holds while some wait.
        clients: 8,
        // Extra `cutover backfill` flags, to compare settings.
        extra_args: std::env::var("CUTOVER_BENCH_BACKFILL_ARGS").unwrap_or_default(),
        cutover: PathBuf::from(env!("CARGO_BIN_EXE_cutover")),
    };
    for engine in list("CUTOVER_BENCH_ENGINES", "postgres,mariadb") {
        let results = match engine.as_str() {
            "postgres" => postgres(&settings),
            "mariadb" | "mysql" => mariadb::run(&settings),
            other => panic!("unknown engine `{other}`: postgres or mariadb"),
        };
        report(&engine, &settings, &results);
    }
}

fn postgres(settings: &Settings) -> Vec<Measured> {
    let Settings { n_rows, phase_seconds, ref rates, ref variants, clients, ref extra_args, ref cutover } = *settings;
    let admin = common::admin_url();
    let pgbench = find_pgbench();
    let work = tempfile::tempdir().unwrap();

    let name = "cutover_bench_backfill";
    let url = common::fresh_database(&admin, name);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let setup_started = Instant::now();
    db.batch_execute(&format!(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, balance int NOT NULL, note text NOT NULL, copy text); \
         INSERT INTO accounts SELECT g, 0, md5(g::text), NULL FROM generate_series(1, {n_rows}) g"
    ))
    .unwrap();
    db.batch_execute(HOT_ID).unwrap();
    // On its own: VACUUM cannot run in the implicit transaction of a multi-statement string.
    db.batch_execute("VACUUM ANALYZE accounts").unwrap();
    println!("table of {n_rows} rows ready in {:.0} s", setup_started.elapsed().as_secs_f64());
    // What the load feels depends as much on these as on the backfill (scripts/bench-servers.sh).
    let server =
        db.query_one("SELECT current_setting('shared_buffers'), current_setting('max_wal_size')", &[]).unwrap();
    println!("PostgreSQL shared_buffers {}, max_wal_size {}", server.get::<_, String>(0), server.get::<_, String>(1));

    let mut results: Vec<Measured> = Vec::new();
    for variant in variants {
        let pick = match variant.as_str() {
            "random" => format!("\\set id random(1, {n_rows})\nBEGIN;\n"),
            "hot" => format!("BEGIN;\nSELECT hot_id({HOT_SPREAD}, {n_rows}) AS id \\gset\n"),
            other => panic!("unknown load variant `{other}`: random or hot"),
        };
        let script = work.path().join(format!("load_{variant}.sql"));
        std::fs::write(
            &script,
            format!(
                "{pick}SELECT balance, note FROM accounts WHERE id = :id;\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\nEND;\n"
            ),
        )
        .unwrap();
        for &rate in rates {
            let load = |phase: &str, seconds: u64| {
                let prefix = format!("{variant}_{rate}_{phase}");
                Load::start(&pgbench, &url, &script, work.path(), &prefix, (clients, rate), seconds)
            };
            let baseline_seconds = phase_seconds.min(20);
            let baseline = {
                let load = load("baseline", baseline_seconds);
                let window = (epoch_now(), epoch_now() + baseline_seconds as f64);
                load.finish(window)
            };
            results.push((variant.clone(), rate, "baseline", None, baseline));

            let (backfill_rate, during_backfill) = {
                let load = load("backfill", phase_seconds);
                std::thread::sleep(Duration::from_secs(1));
                let started = epoch_now();
                let clock = Instant::now();
                let output = Command::new(cutover)
                    .args(["backfill", "--table", "accounts", "--set", "copy = note", "--database-url", &url])
                    .args(["--name", &format!("bench_{variant}_{rate}")])
                    .args(extra_args.split_whitespace())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .output()
                    .unwrap();
                let took = clock.elapsed();
                let ended = epoch_now();
                assert!(output.status.success(), "backfill failed: {}", String::from_utf8_lossy(&output.stderr));
                warn_if_longer(took, phase_seconds, "the backfill");
                (n_rows as f64 / took.as_secs_f64(), load.finish((started, ended)))
            };
            results.push((variant.clone(), rate, "cutover backfill", Some(backfill_rate), during_backfill));
            db.batch_execute("VACUUM ANALYZE accounts").unwrap();

            let (update_rate, during_update) = {
                let load = load("update", phase_seconds);
                std::thread::sleep(Duration::from_secs(1));
                let started = epoch_now();
                let clock = Instant::now();
                db.batch_execute("UPDATE accounts SET copy = note || ''").unwrap();
                let took = clock.elapsed();
                let ended = epoch_now();
                warn_if_longer(took, phase_seconds, "the plain UPDATE");
                (n_rows as f64 / took.as_secs_f64(), load.finish((started, ended)))
            };
            results.push((variant.clone(), rate, "plain UPDATE", Some(update_rate), during_update));
            db.batch_execute("VACUUM ANALYZE accounts").unwrap();
        }
    }
    drop(db);
    common::drop_database(&admin, name);
    results
}

/// The table of one engine's results, and the ratios the goal is stated in.
fn report(engine: &str, settings: &Settings, results: &[Measured]) {
    let Settings { n_rows, clients, ref extra_args, ref rates, ref variants, .. } = *settings;
    println!(
        "\nbackfill benchmark on {engine}: {n_rows} rows, {clients} load clients at a fixed rate (read one row, update another column of it); backfill flags: `{extra_args}`"
    );
    println!(
        "| load | phase | rows/s of the operation | load p50 | load p99 | load max | load transactions | failed |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (variant, rate, phase, rows_per_second, stats) in results {
        let rows = rows_per_second.map_or("-".to_string(), |r| format!("{r:.0}"));
        println!("| {variant} {rate} tx/s | {phase} | {rows} | {} |", stats.row());
    }
    println!();
    for variant in variants {
        for &rate in rates {
            let find = |phase: &str| {
                results.iter().find(|(v, r, p, _, _)| v == variant && *r == rate && *p == phase).expect("measured")
            };
            let (baseline, backfill, update) = (find("baseline"), find("cutover backfill"), find("plain UPDATE"));
            println!(
                "{engine} {variant} {rate} tx/s: p99 during the backfill / baseline {:.2}x; backfill rows/s / plain UPDATE rows/s {:.2}; failed during the backfill {}",
                backfill.4.p99_ms / baseline.4.p99_ms.max(0.001),
                backfill.3.unwrap_or(0.0) / update.3.unwrap_or(1.0).max(1.0),
                backfill.4.failed
            );
        }
    }
}
