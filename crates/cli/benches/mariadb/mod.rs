//! The backfill benchmark on MariaDB: the same table, operations and load shape as on
//! PostgreSQL, with the load generated in this process (there is no pgbench for MySQL): each
//! client runs its transactions on a fixed schedule, and a transaction's latency counts from
//! when it was due, so one that waited delays the next ones and they count it too.

use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use super::common::mysql_load::{admin_url, connect, Load};
use super::{epoch_now, warn_if_longer, Measured, Settings, HOT_SPREAD};

pub fn run(settings: &Settings) -> Vec<Measured> {
    let Settings { n_rows, phase_seconds, ref rates, ref variants, clients, ref extra_args, ref cutover } = *settings;
    let admin = admin_url();
    let name = "cutover_bench_backfill";
    let mut server = connect(&admin);
    server.query_drop(format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    server.query_drop(format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let mut db = connect(&url);
    let setup_started = Instant::now();
    db.query_drop(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, balance int NOT NULL, note varchar(32) NOT NULL, copy varchar(40)) ENGINE=InnoDB",
    )
    .unwrap();
    // MariaDB's sequence engine: the rows in one statement.
    db.query_drop(format!("INSERT INTO accounts SELECT seq, 0, md5(seq), NULL FROM seq_1_to_{n_rows}")).unwrap();
    db.query_drop("ANALYZE TABLE accounts").unwrap();
    println!("MariaDB table of {n_rows} rows ready in {:.0} s", setup_started.elapsed().as_secs_f64());
    // What the load feels depends as much on these as on the backfill (scripts/bench-servers.sh).
    let (pool, log): (u64, u64) =
        db.query_first("SELECT @@innodb_buffer_pool_size, @@innodb_log_file_size").unwrap().unwrap();
    println!("MariaDB innodb_buffer_pool_size {} MB, innodb_log_file_size {} MB", pool >> 20, log >> 20);

    let mut results: Vec<Measured> = Vec::new();
    for variant in variants {
        let hot = match variant.as_str() {
            "random" => false,
            "hot" => true,
            other => panic!("unknown load variant `{other}`: random or hot"),
        };
        for &rate in rates {
            let load = |seconds: u64| Load::start(&url, (clients, rate), seconds, n_rows, hot.then_some(HOT_SPREAD));
            let baseline_seconds = phase_seconds.min(20);
            let baseline = {
                let load = load(baseline_seconds);
                let window = (epoch_now(), epoch_now() + baseline_seconds as f64);
                load.finish(window)
            };
            results.push((variant.clone(), rate, "baseline", None, baseline));

            let (backfill_rate, during_backfill) = {
                let load = load(phase_seconds);
                thread::sleep(Duration::from_secs(1));
                let started = epoch_now();
                let clock = Instant::now();
                let output = std::process::Command::new(cutover)
                    .args(["backfill", "--table", "accounts", "--set", "copy = note", "--database-url", &url])
                    .args(["--name", &format!("bench_{variant}_{rate}")])
                    .args(extra_args.split_whitespace())
                    .output()
                    .unwrap();
                let took = clock.elapsed();
                let ended = epoch_now();
                assert!(output.status.success(), "backfill failed: {}", String::from_utf8_lossy(&output.stderr));
                warn_if_longer(took, phase_seconds, "the backfill");
                (n_rows as f64 / took.as_secs_f64(), load.finish((started, ended)))
            };
            results.push((variant.clone(), rate, "cutover backfill", Some(backfill_rate), during_backfill));

            let (update_rate, during_update) = {
                let load = load(phase_seconds);
                thread::sleep(Duration::from_secs(1));
                let started = epoch_now();
                let clock = Instant::now();
                // A value unlike the backfill's, so that every row is written (InnoDB skips
                // rows an UPDATE leaves as they are), and the next backfill has work again.
                db.query_drop("UPDATE accounts SET copy = CONCAT('u', note)").unwrap();
                let took = clock.elapsed();
                let ended = epoch_now();
                warn_if_longer(took, phase_seconds, "the plain UPDATE");
                (n_rows as f64 / took.as_secs_f64(), load.finish((started, ended)))
            };
            results.push((variant.clone(), rate, "plain UPDATE", Some(update_rate), during_update));
        }
    }
    drop(db);
    server.query_drop(format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    results
}
