//! Lint benchmark: `cargo bench -p cutover --bench lint`, with `CUTOVER_CORPUS` pointing at the
//! shared corpus (default `../shared/corpus`) and `SQUAWK_BIN` at squawk (`pip install
//! squawk-cli`; default: `squawk` on PATH).
//!
//! Both tools lint the same PostgreSQL files of the corpus, each as one process given every
//! file; each figure is the median of 7 runs after one untimed run, process start included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    // `cargo test --benches` runs benchmarks once as tests; only `cargo bench` measures.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("lint benchmark: run with `cargo bench -p cutover --bench lint`");
        return;
    }
    let corpus = std::env::var_os("CUTOVER_CORPUS")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"), PathBuf::from);
    let mut files = Vec::new();
    for dir in [
        "rust-lang-registry",
        "lemmy",
        "vaultwarden/migrations/postgresql",
        "documenso",
        "langfuse",
        "supabase-auth",
        "authelia/internal/storage/migrations/postgres",
        "temporal/schema/postgresql",
        "hatchet/cmd/hatchet-migrate/migrate/migrations",
    ] {
        sql_files(&corpus.join(dir), &mut files);
    }
    assert!(files.len() > 1000, "the corpus is at {} ({} files)", corpus.display(), files.len());
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    println!("linting {} PostgreSQL files ({:.1} MB) of {}", files.len(), bytes as f64 / 1e6, corpus.display());

    let runs = 7;
    let cutover = PathBuf::from(env!("CARGO_BIN_EXE_cutover"));
    let mut command = Command::new(&cutover);
    command.args(["lint", "--format", "json"]).args(&files).env("NO_COLOR", "1");
    let cutover_time = median(runs, &mut command);
    report("cutover lint", files.len(), cutover_time);

    let squawk = std::env::var_os("SQUAWK_BIN").map_or_else(|| PathBuf::from("squawk"), PathBuf::from);
    let mut command = Command::new(&squawk);
    command.args(["--reporter", "json"]).args(&files);
    if command.output().is_err() {
        println!("squawk: not found (set SQUAWK_BIN, or `pip install squawk-cli`)");
        return;
    }
    let squawk_time = median(runs, &mut command);
    report("squawk", files.len(), squawk_time);
    println!("cutover is {:.1}x squawk's files per second", squawk_time.as_secs_f64() / cutover_time.as_secs_f64());
}

fn sql_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.to_string_lossy();
        if path.is_dir() {
            sql_files(&path, out);
        } else if name.ends_with(".sql") && !(name.contains(".mysql.") || name.contains("sqlite")) {
            out.push(path);
        }
    }
}

/// The median wall time of `runs` runs of `command` (it may exit non-zero: findings), after
/// one run not timed (files in the page cache, the binary loaded: each tool gets the same).
fn median(runs: usize, command: &mut Command) -> Duration {
    command.output().unwrap();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let output = command.output().unwrap();
            let elapsed = started.elapsed();
            assert!(
                matches!(output.status.code(), Some(0..=1)),
                "{:?}: {}",
                command.get_program(),
                String::from_utf8_lossy(&output.stderr)
            );
            elapsed
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn report(tool: &str, files: usize, time: Duration) {
    println!("{tool}: {:.0} ms, {:.0} files/s", time.as_secs_f64() * 1000.0, files as f64 / time.as_secs_f64());
}
