//! Runner benchmark: `cargo bench -p cutover --bench runner`.
//!
//! 1. Applies 500 small migrations to a fresh PostgreSQL database with `cutover up`, and the
//!    same files with `sqlx migrate run` (sqlx-cli, when `SQLX_BIN` or `sqlx` on PATH finds it).
//! 2. Times `cutover status` against 1,000 applied migrations.
//!
//! Each figure is the median of several runs of the whole command, process start included.
//! The server is `CUTOVER_TEST_PG_URL` (default: the local one); every run gets a fresh
//! database, dropped afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

fn main() {
    if !common::wants_to_run("runner") {
        return;
    }
    let admin = common::admin_url();
    let cutover = PathBuf::from(env!("CARGO_BIN_EXE_cutover"));
    let sqlx = find_sqlx();
    let runs = 7;

    let five_hundred = tempfile::tempdir().unwrap();
    write_migrations(five_hundred.path(), 500);
    let mut cutover_times = Vec::new();
    let mut sqlx_times = Vec::new();
    for run in 0..runs {
        // Both databases exist before either tool runs, and the tools take turns going first,
        // so that neither pays for the other's checkpoint.
        let cutover_db = Database::create(&admin, &format!("cutover_bench_c{run}"));
        let sqlx_db = Database::create(&admin, &format!("cutover_bench_s{run}"));
        let mut run_cutover = || {
            let mut command = Command::new(&cutover);
            command.args(["up", "--dir"]).arg(five_hundred.path()).env("DATABASE_URL", &cutover_db.url);
            cutover_times.push(time(&mut command));
            assert_eq!(cutover_db.count_applied("cutover_history", "state = 'applied'"), 500);
        };
        let mut run_sqlx = || {
            let Some(sqlx) = &sqlx else { return };
            let mut command = Command::new(sqlx);
            command
                .args(["migrate", "run", "--source"])
                .arg(five_hundred.path())
                .arg("--database-url")
                .arg(&sqlx_db.url);
            sqlx_times.push(time(&mut command));
            assert_eq!(sqlx_db.count_applied("_sqlx_migrations", "success"), 500);
        };
        if run % 2 == 0 {
            run_cutover();
            run_sqlx();
        } else {
            run_sqlx();
            run_cutover();
        }
    }

    let thousand = tempfile::tempdir().unwrap();
    write_migrations(thousand.path(), 1000);
    let db = Database::create(&admin, "cutover_bench_status");
    time(Command::new(&cutover).args(["up", "--dir"]).arg(thousand.path()).env("DATABASE_URL", &db.url));
    let status_times: Vec<Duration> = (0..10)
        .map(|_| {
            time(
                Command::new(&cutover)
                    .args(["status", "--format", "json", "--dir"])
                    .arg(thousand.path())
                    .env("DATABASE_URL", &db.url),
            )
        })
        .collect();

    println!("runner benchmark ({runs} runs each, median; whole process, PostgreSQL at {})", redact(&admin));
    println!("  cutover up, 500 migrations:            {}", show(&cutover_times));
    match &sqlx {
        Some(_) => println!("  sqlx migrate run, 500 migrations:      {}", show(&sqlx_times)),
        None => println!("  sqlx migrate run: sqlx-cli not found (cargo install sqlx-cli --no-default-features --features postgres,rustls; or set SQLX_BIN)"),
    }
    println!("  cutover status, 1,000 applied:          {}", show(&status_times));
}

/// `n` small migrations in sqlx's simple layout, which both tools read.
fn write_migrations(dir: &Path, n: usize) {
    for idx in 1..=n {
        let sql = format!("CREATE TABLE bench_{idx} (id bigint PRIMARY KEY, note text);\nINSERT INTO bench_{idx} VALUES (1, 'row {idx}');\n");
        std::fs::write(dir.join(format!("{:05}_bench_{idx}.sql", idx)), sql).unwrap();
    }
}

fn time(command: &mut Command) -> Duration {
    let started = Instant::now();
    let output = command.output().unwrap();
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{:?}: {}", command, String::from_utf8_lossy(&output.stderr));
    elapsed
}

fn show(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    format!("{:>8.1} ms  (min {:.1}, max {:.1})", ms(median), ms(sorted[0]), ms(sorted[sorted.len() - 1]))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn find_sqlx() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SQLX_BIN") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("sqlx")).find(|candidate| candidate.is_file())
}

fn redact(url: &str) -> String {
    cutover_engine::DatabaseUrl::parse(url).map_or_else(|_| "?".to_string(), |u| u.redacted())
}

struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin: &str, name: &str) -> Database {
        let url = common::fresh_database(admin, name);
        Database { admin: admin.to_string(), name: name.to_string(), url }
    }

    fn count_applied(&self, table: &str, condition: &str) -> i64 {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        client.query_one(&format!("SELECT count(*) FROM {table} WHERE {condition}"), &[]).unwrap().get(0)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
