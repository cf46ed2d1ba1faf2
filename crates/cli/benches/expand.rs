//! Dual-write trigger overhead: `cargo bench -p cutover --bench expand`.
//!
//! On a table of `CUTOVER_BENCH_ROWS` rows (default 200,000), the same write workloads run
//! without cutover's triggers and with the triggers of an active `rename_column` +
//! `change_type` migration (`cutover start`), alternating `CUTOVER_BENCH_ROUNDS` times
//! (default 3, `cutover rollback` in between) so that drift in the machine hits both sides:
//! - single-row writes, one statement per transaction (half inserts, half updates by key),
//!   through the old version (the table) and through the new one (its view);
//! - one bulk `INSERT ... SELECT` of 100,000 rows, where a trigger's cost per row shows most.
//!
//! Printed: the median throughput of each side and their ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;

/// The declarative migration the expand/contract tests use too.
const MIGRATION: &str = include_str!("../tests/fixtures/rename_and_retype.toml");

fn main() {
    if !common::wants_to_run("expand") {
        return;
    }
    let admin = common::admin_url();
    let rows: i64 = common::env_or("CUTOVER_BENCH_ROWS", 200_000);
    let rounds: usize = common::env_or("CUTOVER_BENCH_ROUNDS", 3);
    let single_ops = 20_000;
    let bulk_rows = 100_000;
    let name = "cutover_bench_expand";
    let url = common::fresh_database(&admin, name);

    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("1_users.up.sql"),
        format!(
            "CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, amount text);\n\
             INSERT INTO users (name, amount) SELECT 'user ' || g, (g % 1000)::text || '.25' FROM generate_series(1, {rows}) g;\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("2_rename_and_retype.toml"), MIGRATION).unwrap();
    cutover(work.path(), &url, "up");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute("VACUUM ANALYZE users").unwrap();

    let (mut plain_single, mut trig_old, mut trig_new, mut plain_bulk, mut trig_bulk, mut both_bulk) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        plain_single.push(single_row_writes(&mut db, false, rows, single_ops, round as u64));
        plain_bulk.push(bulk_insert(&mut db, false, bulk_rows));
        cutover(work.path(), &url, "start");
        trig_old.push(single_row_writes(&mut db, false, rows, single_ops, round as u64));
        trig_new.push(single_row_writes(&mut db, true, rows, single_ops, round as u64));
        trig_bulk.push(bulk_insert(&mut db, false, bulk_rows));
        both_bulk.push(bulk_insert(&mut db, true, bulk_rows));
        cutover(work.path(), &url, "rollback");
        db.batch_execute("VACUUM ANALYZE users").unwrap();
    }
    let (single, old, new) = (median(&mut plain_single), median(&mut trig_old), median(&mut trig_new));
    let (bulk, bulk_with, bulk_both) = (median(&mut plain_bulk), median(&mut trig_bulk), median(&mut both_bulk));
    println!("table of {rows} rows, {rounds} rounds, medians:");
    println!("single-row writes, no trigger:            {single:>9.0} writes/s");
    println!("single-row writes, triggers, old version: {old:>9.0} writes/s  ({:.2}x slower)", single / old);
    println!("single-row writes, triggers, new version: {new:>9.0} writes/s  ({:.2}x slower)", single / new);
    println!("bulk INSERT ... SELECT, no trigger:       {bulk:>9.0} rows/s");
    println!("bulk INSERT ... SELECT, triggers:         {bulk_with:>9.0} rows/s  ({:.2}x slower)", bulk / bulk_with);
    println!(
        "bulk, both columns written, no trigger:   {bulk_both:>9.0} rows/s  ({:.2}x slower: the second copy alone; the trigger {:.2}x on top)",
        bulk / bulk_both,
        bulk_both / bulk_with
    );
    common::drop_database(&admin, name);
}

fn cutover(dir: &Path, url: &str, command: &str) {
    let status = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_cutover")))
        .arg(command)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "cutover {command} failed");
}

/// Writes per second: `n` autocommit statements, half inserts, half updates of random rows.
fn single_row_writes(db: &mut postgres::Client, new_version: bool, rows: i64, n: usize, seed: u64) -> f64 {
    let (insert, update) = if new_version {
        (
            "INSERT INTO public_v2.users (full_name, amount) VALUES ($1, $2::text::numeric)",
            "UPDATE public_v2.users SET amount = $1::text::numeric WHERE id = $2",
        )
    } else {
        ("INSERT INTO users (name, amount) VALUES ($1, $2)", "UPDATE users SET amount = $1 WHERE id = $2")
    };
    let insert = db.prepare(insert).unwrap();
    let update = db.prepare(update).unwrap();
    let mut state = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    for i in 0..n {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let amount = format!("{}.{:02}", (state >> 40) % 100_000, (state >> 33) % 100);
        if i % 2 == 0 {
            db.execute(&insert, &[&format!("bench {i}"), &amount]).unwrap();
        } else {
            let id = ((state >> 33) as i64 % rows) + 1;
            db.execute(&update, &[&amount, &id]).unwrap();
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Rows per second of one `INSERT ... SELECT` of `n` rows (rolled back, so the table stays
/// put). `both_columns`: with the triggers disabled, the shadow column written by the INSERT
/// itself, to separate the cost of a second copy from the cost of the trigger.
fn bulk_insert(db: &mut postgres::Client, both_columns: bool, n: i64) -> f64 {
    let mut tx = db.transaction().unwrap();
    let insert = if both_columns {
        tx.batch_execute("ALTER TABLE users DISABLE TRIGGER USER").unwrap();
        format!("INSERT INTO users (name, amount, _cutover_amount) SELECT 'bulk ' || g, (g % 1000)::text || '.75', ((g % 1000)::text || '.75')::numeric(12,2) FROM generate_series(1, {n}) g")
    } else {
        format!("INSERT INTO users (name, amount) SELECT 'bulk ' || g, (g % 1000)::text || '.75' FROM generate_series(1, {n}) g")
    };
    let started = Instant::now();
    tx.batch_execute(&insert).unwrap();
    let rate = n as f64 / started.elapsed().as_secs_f64();
    tx.rollback().unwrap();
    rate
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}
