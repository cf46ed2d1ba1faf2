//! What the PostgreSQL benchmarks share: whether to run, their settings, their database.
#![allow(dead_code)] // each benchmark uses some of it

pub mod mysql_load;
pub mod pgbench;

/// Whether this is `cargo bench` (which passes `--bench`); `cargo test --benches` runs each
/// benchmark once as a test, and then it only says how to run it.
pub fn wants_to_run(name: &str) -> bool {
    let run = std::env::args().any(|arg| arg == "--bench");
    if !run {
        println!("{name} benchmark: run with `cargo bench -p cutover --bench {name}`");
    }
    run
}

/// The server's admin URL: `CUTOVER_TEST_PG_URL`, else the local server.
pub fn admin_url() -> String {
    std::env::var("CUTOVER_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A setting from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Drops and creates the database `name` beside `admin`'s; returns its URL.
pub fn fresh_database(admin: &str, name: &str) -> String {
    let mut client = postgres::Client::connect(admin, postgres::NoTls)
        .expect("the benchmark needs PostgreSQL: bash scripts/services.sh");
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let (prefix, _) = admin.split('?').next().unwrap().rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// Drops the database `name` beside `admin`'s.
pub fn drop_database(admin: &str, name: &str) {
    let mut client = postgres::Client::connect(admin, postgres::NoTls).unwrap();
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
}
