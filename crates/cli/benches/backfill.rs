//! Backfill benchmark: `cargo bench -p cutover --bench backfill`.
//!
//! On a table of `CUTOVER_BENCH_ROWS` rows (default 5,000,000), under a steady mixed
//! read/write load from pgbench in a second process (each transaction reads one random row and
//! updates another column of it), it measures:
//! - the load's latency (p50, p99) and failed transactions, over the load transactions that
//!   overlap each operation (those it blocked included), at baseline, during
//!   `cutover backfill --set "copy = note"`, and during one plain `UPDATE ... SET copy = note`;
//! - the rows/s of the backfill and of the plain UPDATE over the same rows.
//!
//! pgbench runs for a fixed time per phase with a per-transaction log; only transactions that
//! ended while the operation ran are counted. The table is vacuumed between phases so that
//! neither operation pays for the other's dead rows.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

mod common;

fn main() {
    if !common::wants_to_run("backfill") {
        return;
    }
    let admin = common::admin_url();
    let n_rows: u64 = common::env_or("CUTOVER_BENCH_ROWS", 5_000_000);
    let phase_seconds: u64 = common::env_or("CUTOVER_BENCH_PHASE_SECONDS", 150);
    let clients = 4;
    // Extra `cutover backfill` flags, to compare settings.
    let extra_args = std::env::var("CUTOVER_BENCH_BACKFILL_ARGS").unwrap_or_default();
    let pgbench = find_pgbench();
    let cutover = PathBuf::from(env!("CARGO_BIN_EXE_cutover"));
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
    // On its own: VACUUM cannot run in the implicit transaction of a multi-statement string.
    db.batch_execute("VACUUM ANALYZE accounts").unwrap();
    println!("table of {n_rows} rows ready in {:.0} s", setup_started.elapsed().as_secs_f64());

    let script = work.path().join("load.sql");
    std::fs::write(
        &script,
        format!(
            "\\set id random(1, {n_rows})\nBEGIN;\nSELECT balance, note FROM accounts WHERE id = :id;\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\nEND;\n"
        ),
    )
    .unwrap();

    let baseline = {
        let load = Load::start(&pgbench, &url, &script, work.path(), "baseline", clients, 20);
        let window = (epoch_now(), epoch_now() + 20.0);
        load.finish(window)
    };

    let (backfill_rate, during_backfill) = {
        let load = Load::start(&pgbench, &url, &script, work.path(), "backfill", clients, phase_seconds);
        std::thread::sleep(Duration::from_secs(2));
        let started = epoch_now();
        let clock = Instant::now();
        let output = Command::new(&cutover)
            .args(["backfill", "--table", "accounts", "--set", "copy = note", "--database-url", &url])
            .args(extra_args.split_whitespace())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let took = clock.elapsed();
        let ended = epoch_now();
        assert!(output.status.success(), "backfill failed: {}", String::from_utf8_lossy(&output.stderr));
        (n_rows as f64 / took.as_secs_f64(), load.finish((started, ended)))
    };
    db.batch_execute("VACUUM ANALYZE accounts").unwrap();

    let (update_rate, during_update) = {
        let load = Load::start(&pgbench, &url, &script, work.path(), "update", clients, phase_seconds);
        std::thread::sleep(Duration::from_secs(2));
        let started = epoch_now();
        let clock = Instant::now();
        db.batch_execute("UPDATE accounts SET copy = note || ''").unwrap();
        let took = clock.elapsed();
        let ended = epoch_now();
        (n_rows as f64 / took.as_secs_f64(), load.finish((started, ended)))
    };
    drop(db);
    common::drop_database(&admin, name);

    println!(
        "\nbackfill benchmark: {n_rows} rows, pgbench load with {clients} clients (read one row, update another column of it); backfill flags: `{extra_args}`"
    );
    println!("| phase | rows/s of the operation | load p50 | load p99 | load max | load transactions | failed |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    println!("| baseline | - | {} |", baseline.row());
    println!("| cutover backfill | {backfill_rate:.0} | {} |", during_backfill.row());
    println!("| plain UPDATE | {update_rate:.0} | {} |", during_update.row());
    println!(
        "\np99 during the backfill / baseline: {:.2}x; backfill rows/s / plain UPDATE rows/s: {:.2}",
        during_backfill.p99_ms / baseline.p99_ms.max(0.001),
        backfill_rate / update_rate.max(1.0)
    );
}

struct Load {
    child: Child,
    prefix: PathBuf,
}

struct LoadStats {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    transactions: usize,
    per_second: f64,
    failed: usize,
}

impl LoadStats {
    fn row(&self) -> String {
        format!(
            "{:.2} ms | {:.2} ms | {:.0} ms | {} ({:.0}/s) | {}",
            self.p50_ms, self.p99_ms, self.max_ms, self.transactions, self.per_second, self.failed
        )
    }
}

impl Load {
    fn start(pgbench: &Path, url: &str, script: &Path, dir: &Path, phase: &str, clients: u32, seconds: u64) -> Load {
        let prefix = dir.join(phase);
        let child = Command::new(pgbench)
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &seconds.to_string(),
                "-l",
                "--failures-detailed",
            ])
            .arg(format!("--log-prefix={}", prefix.display()))
            .arg("-f")
            .arg(script)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Load { child, prefix }
    }

    /// Waits for pgbench and reads the transactions that ended within `window` (epoch seconds).
    fn finish(self, window: (f64, f64)) -> LoadStats {
        let output = self.child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
        let dir = self.prefix.parent().unwrap();
        let stem = self.prefix.file_name().unwrap().to_string_lossy().to_string();
        let mut latencies = Vec::new();
        let mut failed = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.file_name().unwrap().to_string_lossy().starts_with(&format!("{stem}.")) {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                // client_id transaction_no time script_no time_epoch time_us [...]
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() < 6 {
                    continue;
                }
                let ended = fields[4].parse::<f64>().unwrap_or(0.0) + fields[5].parse::<f64>().unwrap_or(0.0) / 1e6;
                let micros = fields[2].parse::<f64>().ok();
                let started = ended - micros.unwrap_or(0.0) / 1e6;
                // Every transaction that overlaps the operation, including the ones it blocked
                // until it ended.
                if ended < window.0 || started > window.1 {
                    continue;
                }
                match micros {
                    Some(micros) => latencies.push(micros / 1000.0),
                    None => failed += 1,
                }
            }
        }
        // Clients that pgbench aborted count as failures too.
        failed += text.matches("aborted").count();
        latencies.sort_by(|a, b| a.total_cmp(b));
        let pick = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
        if window.1 > window.0 && latencies.is_empty() {
            eprintln!("no load transaction ended in the window; pgbench said: {text}");
        }
        let seconds = (window.1 - window.0).max(0.001);
        LoadStats {
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            max_ms: latencies.last().copied().unwrap_or(f64::NAN),
            transactions: latencies.len(),
            per_second: latencies.len() as f64 / seconds,
            failed,
        }
    }
}

fn epoch_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn find_pgbench() -> PathBuf {
    if let Some(path) = std::env::var_os("PGBENCH") {
        return PathBuf::from(path);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin/pgbench"))
        .filter(|p| p.exists())
        .collect();
    candidates.sort();
    candidates.pop().expect("pgbench not found: install postgresql-contrib, or set PGBENCH")
}
