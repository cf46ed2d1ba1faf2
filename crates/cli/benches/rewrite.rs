//! Online rewrite benchmark: `cargo bench -p cutover --bench rewrite`.
//!
//! On a PostgreSQL table of `CUTOVER_BENCH_ROWS` rows (default 2,000,000; `id integer` primary
//! key), under a steady load (pgbench at `CUTOVER_BENCH_RATE` tx/s, default 200, each
//! transaction reading one random row and updating it), for `CUTOVER_BENCH_PHASE_SECONDS`
//! (default 60) per operation, side by side in one run:
//! - a compaction: `pg_repack --table` (Debian's `postgresql-15-repack`), `cutover rewrite
//!   --table` (no change), and a plain `VACUUM FULL`;
//! - a primary key to `bigint`: `cutover rewrite --alter "ALTER COLUMN id TYPE bigint"`, and the
//!   plain `ALTER TABLE` (a rewrite under ACCESS EXCLUSIVE).
//!
//!
//! And on MariaDB (`CUTOVER_BENCH_ENGINES`, default `postgres,mariadb`), the same table and
//! load shape (the load generated in this process), a primary key from `int` to `bigint`:
//! `pt-online-schema-change` (Debian's `percona-toolkit`), `cutover rewrite --alter "MODIFY id
//! bigint NOT NULL"`, and the plain `ALTER TABLE` (`ALGORITHM=COPY`: writes blocked; run as
//! the way back to `int`, which copies the same).
//!
//! For each: rows/s (the table's rows over the command's wall time, verification and swap
//! included), the load's p50, p99 and max latency and failed transactions over the
//! transactions that overlap the operation, and for cutover the swap's lock wait and hold as it
//! reports them. The load's max is the longest any application transaction waited, the swap's
//! blocking included.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;

use common::pgbench::{epoch_now, find_pgbench, list, warn_if_longer, Load, LoadStats};

fn main() {
    if !common::wants_to_run("rewrite") {
        return;
    }
    let n_rows: u64 = common::env_or("CUTOVER_BENCH_ROWS", 2_000_000);
    let phase_seconds: u64 = common::env_or("CUTOVER_BENCH_PHASE_SECONDS", 60);
    let rate: u64 = common::env_or("CUTOVER_BENCH_RATE", 200);
    for engine in list("CUTOVER_BENCH_ENGINES", "postgres,mariadb") {
        match engine.as_str() {
            "postgres" => postgres(n_rows, phase_seconds, rate),
            "mariadb" | "mysql" => mariadb(n_rows, phase_seconds, rate),
            other => panic!("unknown engine `{other}`: postgres or mariadb"),
        }
    }
}

/// (operation, rows/s, the load during it, what the tool says of its swap)
type Row = (String, Option<f64>, LoadStats, String);

fn print_table(title: &str, results: &[Row]) {
    println!("\n{title}");
    println!("| operation | rows/s | load p50 | load p99 | load max | load transactions | failed | swap (as cutover reports it) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (label, rows, stats, swap) in results {
        let rows = rows.map_or("-".to_string(), |r| format!("{r:.0}"));
        println!("| {label} | {rows} | {} | {swap} |", stats.row());
    }
}

/// Runs `command`, which must succeed; its standard output. A failure names the program and its
/// first argument only: the others may hold a database URL with its password.
fn run(command: &mut Command) -> String {
    let output = command.stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    assert!(
        output.status.success(),
        "{} {} failed: {}{}",
        command.get_program().to_string_lossy(),
        command.get_args().next().unwrap_or_default().to_string_lossy(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// What cutover says of its swap: "waited .. ms for its locks and held them .. ms".
fn swap_of(said: &str) -> String {
    said.lines()
        .next()
        .unwrap_or_default()
        .split("; ")
        .find(|part| part.contains("waited") && part.contains("held"))
        .map(|part| part.trim_start_matches("the swap ").to_string())
        .unwrap_or_default()
}

fn postgres(n_rows: u64, phase_seconds: u64, rate: u64) {
    let clients = 8;
    let cutover = PathBuf::from(env!("CARGO_BIN_EXE_cutover"));
    let pg_repack = std::env::var_os("PG_REPACK").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("pg_repack"));
    let admin = common::admin_url();
    let pgbench = find_pgbench();
    let work = tempfile::tempdir().unwrap();
    let name = "cutover_bench_rewrite";
    let url = common::fresh_database(&admin, name);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let setup = Instant::now();
    db.batch_execute(&format!(
        "CREATE EXTENSION pg_repack; \
         CREATE TABLE accounts (id integer PRIMARY KEY, balance int NOT NULL, note text NOT NULL); \
         INSERT INTO accounts SELECT g, 0, md5(g::text) FROM generate_series(1, {n_rows}) g"
    ))
    .unwrap();
    db.batch_execute("VACUUM ANALYZE accounts").unwrap();
    println!("table of {n_rows} rows ready in {:.0} s", setup.elapsed().as_secs_f64());
    let script = work.path().join("load.sql");
    std::fs::write(
        &script,
        format!(
            "\\set id random(1, {n_rows})\nBEGIN;\nSELECT balance, note FROM accounts WHERE id = :id;\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\nEND;\n"
        ),
    )
    .unwrap();
    let load =
        |phase: &str, seconds: u64| Load::start(&pgbench, &url, &script, work.path(), phase, (clients, rate), seconds);

    let mut results: Vec<Row> = Vec::new();
    let baseline_seconds = phase_seconds.min(20);
    let baseline = load("baseline", baseline_seconds);
    let window = (epoch_now(), epoch_now() + baseline_seconds as f64);
    results.push(("baseline (no operation)".into(), None, baseline.finish(window), String::new()));

    // One operation under the load: its rows/s, the load during it, its standard output.
    let measure = |label: &str, operation: &mut dyn FnMut() -> String| {
        let phase = load(&label.replace(' ', "_"), phase_seconds);
        std::thread::sleep(std::time::Duration::from_secs(1));
        let started = epoch_now();
        let clock = Instant::now();
        let said = operation();
        let took = clock.elapsed();
        let stats = phase.finish((started, epoch_now()));
        warn_if_longer(took, phase_seconds, label);
        (n_rows as f64 / took.as_secs_f64(), stats, said)
    };
    let vacuum = |db: &mut postgres::Client| db.batch_execute("VACUUM ANALYZE accounts").unwrap();

    let (rows, stats, _) = measure("pg_repack", &mut || {
        run(Command::new(&pg_repack).args([
            "--no-superuser-check",
            "-t",
            "accounts",
            "-d",
            name,
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ]))
    });
    results.push(("compaction: pg_repack --table".into(), Some(rows), stats, String::new()));
    vacuum(&mut db);
    let (rows, stats, said) = measure("cutover rewrite compaction", &mut || {
        run(Command::new(&cutover).args(["rewrite", "--table", "accounts", "--database-url", &url]))
    });
    results.push(("compaction: cutover rewrite --table".into(), Some(rows), stats, swap_of(&said)));
    run(Command::new(&cutover).args(["rewrite", "--cleanup", "--table", "accounts", "--database-url", &url]));
    vacuum(&mut db);
    let (rows, stats, _) = measure("vacuum full", &mut || {
        db.batch_execute("VACUUM FULL accounts").unwrap();
        String::new()
    });
    results.push(("compaction: plain VACUUM FULL".into(), Some(rows), stats, String::new()));
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    vacuum(&mut db);
    let (rows, stats, said) = measure("cutover rewrite bigint", &mut || {
        run(Command::new(&cutover)
            .args(["rewrite", "--table", "accounts", "--database-url", &url])
            .args(["--alter", "ALTER TABLE accounts ALTER COLUMN id TYPE bigint"]))
    });
    results.push(("id to bigint: cutover rewrite --alter".into(), Some(rows), stats, swap_of(&said)));
    run(Command::new(&cutover).args(["rewrite", "--cleanup", "--table", "accounts", "--database-url", &url]));
    vacuum(&mut db);
    let (rows, stats, _) = measure("plain alter", &mut || {
        db.batch_execute("ALTER TABLE accounts ALTER COLUMN balance TYPE bigint").unwrap();
        String::new()
    });
    results.push(("a column to bigint: plain ALTER TABLE".into(), Some(rows), stats, String::new()));

    print_table(
        &format!("online rewrite benchmark on PostgreSQL: {n_rows} rows, {clients} load clients at {rate} tx/s (read one random row, update it)"),
        &results,
    );
    drop(db);
    common::drop_database(&admin, name);
}

fn mariadb(n_rows: u64, phase_seconds: u64, rate: u64) {
    use common::mysql_load::{admin_url, connect, Load as MysqlLoad};
    use mysql::prelude::Queryable;

    let clients = 8;
    let cutover = PathBuf::from(env!("CARGO_BIN_EXE_cutover"));
    let pt_osc = std::env::var_os("PT_ONLINE_SCHEMA_CHANGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("pt-online-schema-change"));
    let admin = admin_url();
    let name = "cutover_bench_rewrite";
    let mut server = connect(&admin);
    server.query_drop(format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    server.query_drop(format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let opts = mysql::Opts::from_url(&url).unwrap();
    // The account in a client options file, not in the DSN: a failed command is printed with
    // its arguments (and a command line is visible to every user of the machine).
    let work = tempfile::tempdir().unwrap();
    let client_options = work.path().join("client.cnf");
    std::fs::write(
        &client_options,
        format!("[client]\nuser={}\npassword={}\n", opts.get_user().unwrap_or("root"), opts.get_pass().unwrap_or("")),
    )
    .unwrap();
    let dsn = format!(
        "D={name},t=accounts,h={},P={},F={}",
        opts.get_ip_or_hostname(),
        opts.get_tcp_port(),
        client_options.display()
    );
    let mut db = connect(&url);
    let setup = Instant::now();
    db.query_drop("CREATE TABLE accounts (id int NOT NULL PRIMARY KEY, balance int NOT NULL, note varchar(32) NOT NULL) ENGINE=InnoDB")
        .unwrap();
    db.query_drop(format!("INSERT INTO accounts SELECT seq, 0, md5(seq) FROM seq_1_to_{n_rows}")).unwrap();
    db.query_drop("ANALYZE TABLE accounts").unwrap();
    println!("MariaDB table of {n_rows} rows ready in {:.0} s", setup.elapsed().as_secs_f64());
    let (pool, log): (u64, u64) =
        db.query_first("SELECT @@innodb_buffer_pool_size, @@innodb_log_file_size").unwrap().unwrap();
    println!("MariaDB innodb_buffer_pool_size {} MB, innodb_log_file_size {} MB", pool >> 20, log >> 20);
    let load = |seconds: u64| MysqlLoad::start(&url, (clients, rate), seconds, n_rows, None);

    let mut results: Vec<Row> = Vec::new();
    let baseline_seconds = phase_seconds.min(20);
    let baseline = load(baseline_seconds);
    let window = (epoch_now(), epoch_now() + baseline_seconds as f64);
    results.push(("baseline (no operation)".into(), None, baseline.finish(window), String::new()));
    let measure = |label: &str, operation: &mut dyn FnMut() -> String| {
        let phase = load(phase_seconds);
        std::thread::sleep(std::time::Duration::from_secs(1));
        let started = epoch_now();
        let clock = Instant::now();
        let said = operation();
        let took = clock.elapsed();
        let stats = phase.finish((started, epoch_now()));
        warn_if_longer(took, phase_seconds, label);
        (n_rows as f64 / took.as_secs_f64(), stats, said)
    };

    let (rows, stats, _) = measure("pt-online-schema-change", &mut || {
        run(Command::new(&pt_osc)
            .args(["--alter", "MODIFY id bigint NOT NULL", "--execute", "--recursion-method=none"])
            .arg(&dsn))
    });
    results.push(("id to bigint: pt-online-schema-change".into(), Some(rows), stats, String::new()));
    let (rows, stats, _) = measure("plain alter", &mut || {
        db.query_drop("ALTER TABLE accounts MODIFY id int NOT NULL, ALGORITHM=COPY").unwrap();
        String::new()
    });
    results.push(("id back to int: plain ALTER TABLE (ALGORITHM=COPY)".into(), Some(rows), stats, String::new()));
    let (rows, stats, said) = measure("cutover rewrite", &mut || {
        run(Command::new(&cutover)
            .args(["rewrite", "--table", "accounts", "--database-url", &url])
            .args(["--alter", "ALTER TABLE accounts MODIFY id bigint NOT NULL"]))
    });
    results.push(("id to bigint: cutover rewrite --alter".into(), Some(rows), stats, swap_of(&said)));
    run(Command::new(&cutover).args(["rewrite", "--cleanup", "--table", "accounts", "--database-url", &url]));

    print_table(
        &format!("online rewrite benchmark on MariaDB: {n_rows} rows, {clients} load clients at {rate} tx/s (read one random row, update it)"),
        &results,
    );
    drop(db);
    server.query_drop(format!("DROP DATABASE IF EXISTS {name}")).unwrap();
}
