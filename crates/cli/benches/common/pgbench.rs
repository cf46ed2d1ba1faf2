//! The load the PostgreSQL benchmarks run beside an operation: pgbench at a fixed rate, its
//! per-transaction log read back for the transactions that overlap the operation.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

/// A comma-separated list from the environment, or `default`.
pub fn list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// An operation that outlasted its load is measured against fewer transactions than it hurt.
pub fn warn_if_longer(took: Duration, phase_seconds: u64, what: &str) {
    if took.as_secs_f64() + 1.0 > phase_seconds as f64 {
        eprintln!(
            "warning: {what} took {:.1} s, about as long as the load ran ({phase_seconds} s) or longer: raise CUTOVER_BENCH_PHASE_SECONDS",
            took.as_secs_f64()
        );
    }
}

pub struct Load {
    child: Child,
    prefix: PathBuf,
}

pub struct LoadStats {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub transactions: usize,
    pub per_second: f64,
    pub failed: usize,
}

impl LoadStats {
    pub fn row(&self) -> String {
        format!(
            "{:.2} ms | {:.2} ms | {:.0} ms | {} ({:.0}/s) | {}",
            self.p50_ms, self.p99_ms, self.max_ms, self.transactions, self.per_second, self.failed
        )
    }
}

impl Load {
    /// pgbench with `clients` at `rate` tx/s in all, for `seconds`.
    pub fn start(
        pgbench: &Path,
        url: &str,
        script: &Path,
        dir: &Path,
        phase: &str,
        (clients, rate): (u32, u64),
        seconds: u64,
    ) -> Load {
        let prefix = dir.join(phase);
        let child = Command::new(pgbench)
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-R",
                &rate.to_string(),
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
    pub fn finish(self, window: (f64, f64)) -> LoadStats {
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
        if window.1 > window.0 && latencies.is_empty() {
            eprintln!("no load transaction ended in the window; pgbench said: {text}");
        }
        LoadStats::of(latencies, failed, window)
    }
}

impl LoadStats {
    /// From the latencies (ms) of the transactions that overlap `window` and the failures.
    pub fn of(mut latencies: Vec<f64>, failed: usize, window: (f64, f64)) -> LoadStats {
        latencies.sort_by(|a, b| a.total_cmp(b));
        let pick = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
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

pub fn epoch_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

pub fn find_pgbench() -> PathBuf {
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
