//! A steady application load on MariaDB/MySQL, generated in this process (there is no pgbench
//! for MySQL): each client runs its transactions (read one row, update it) on a fixed
//! schedule, and a transaction's latency counts from when it was due, so one that waited
//! delays the next ones and they count it too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use super::pgbench::{epoch_now, LoadStats};

/// The server's admin URL: `CUTOVER_TEST_MYSQL_URL`, else the test server's.
pub fn admin_url() -> String {
    std::env::var("CUTOVER_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://cutover:cutover-test@127.0.0.1:3306/mysql".to_string())
}

pub fn connect(url: &str) -> mysql::Conn {
    mysql::Conn::new(mysql::Opts::from_url(url).expect("a MySQL URL"))
        .expect("the benchmark needs MariaDB: bash scripts/services.sh")
}

/// One load transaction: when it started and ended (epoch seconds), and its latency from when
/// it was due (ms), or `None` when it failed.
type Sample = (f64, f64, Option<f64>);

pub struct Load {
    clients: Vec<JoinHandle<Vec<Sample>>>,
    stop_watch: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

impl Load {
    /// `clients` connections running `rate` transactions a second in all, for `seconds`; with
    /// `hot`, each updates a row just ahead of the running backfill's last key.
    /// `hot`: the spread of rows ahead of the backfill's last key that a transaction updates.
    pub fn start(url: &str, (clients, rate): (u32, u64), seconds: u64, n_rows: u64, hot: Option<u64>) -> Load {
        let ahead = Arc::new(AtomicU64::new(0));
        let stop_watch = Arc::new(AtomicBool::new(false));
        let watcher = hot.map(|_| {
            let (url, ahead, stop) = (url.to_string(), Arc::clone(&ahead), Arc::clone(&stop_watch));
            thread::spawn(move || {
                let mut conn = connect(&url);
                while !stop.load(Ordering::Relaxed) {
                    // The checkpoint's last key, stored as `<length>:<value>`.
                    let last: Option<Option<String>> = conn
                        .query_first("SELECT last_key FROM cutover_backfills WHERE state = 'running' LIMIT 1")
                        .unwrap_or(None);
                    let key = last.flatten().and_then(|k| k.split_once(':').and_then(|(_, v)| v.parse().ok()));
                    ahead.store(key.unwrap_or(0), Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(20));
                }
            })
        });
        let interval = Duration::from_secs_f64(f64::from(clients) / rate as f64);
        let (t0, epoch0) = (Instant::now(), epoch_now());
        let end = t0 + Duration::from_secs(seconds);
        let clients = (0..clients)
            .map(|client| {
                let (url, ahead) = (url.to_string(), Arc::clone(&ahead));
                thread::spawn(move || {
                    let mut conn = connect(&url);
                    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::from(client);
                    let mut next = move || {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state
                    };
                    let mut samples = Vec::new();
                    let mut due = t0 + interval.mul_f64(f64::from(client) / f64::from(clients));
                    while due < end {
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                        let last = ahead.load(Ordering::Relaxed);
                        let id = if last > 0 {
                            (last + 1 + next() % hot.unwrap_or(1)).min(n_rows)
                        } else {
                            1 + next() % n_rows
                        };
                        let started = epoch0 + due.duration_since(t0).as_secs_f64();
                        let result = conn.query_drop("BEGIN").and_then(|()| {
                            let _: Option<(i64, String)> =
                                conn.exec_first("SELECT balance, note FROM accounts WHERE id = ?", (id,))?;
                            conn.exec_drop("UPDATE accounts SET balance = balance + 1 WHERE id = ?", (id,))?;
                            conn.query_drop("COMMIT")
                        });
                        let now = Instant::now();
                        let ended = epoch0 + now.duration_since(t0).as_secs_f64();
                        let latency = now.duration_since(due).as_secs_f64() * 1000.0;
                        if result.is_err() {
                            let _ = conn.query_drop("ROLLBACK");
                        }
                        samples.push((started, ended, result.is_ok().then_some(latency)));
                        due += interval;
                    }
                    samples
                })
            })
            .collect();
        Load { clients, stop_watch, watcher }
    }

    /// Waits for the clients and keeps the transactions that overlap `window` (epoch seconds).
    pub fn finish(self, window: (f64, f64)) -> LoadStats {
        let mut latencies = Vec::new();
        let mut failed = 0;
        for client in self.clients {
            for (started, ended, latency) in client.join().unwrap() {
                if ended < window.0 || started > window.1 {
                    continue;
                }
                match latency {
                    Some(ms) => latencies.push(ms),
                    None => failed += 1,
                }
            }
        }
        self.stop_watch.store(true, Ordering::Relaxed);
        if let Some(watcher) = self.watcher {
            watcher.join().unwrap();
        }
        LoadStats::of(latencies, failed, window)
    }
}
