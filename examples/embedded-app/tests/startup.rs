//! The example application started six times at once, as replicas of a deploy do: each safe
//! migration is applied once, and the unsafe one is left pending and reported by every instance.

use std::process::{Command, Stdio};

const APP: &str = env!("CARGO_BIN_EXE_cutover-example-embedded-app");

/// Starts six instances together and returns what each logged.
fn start_six(url: &str) -> Vec<String> {
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(APP).env("DATABASE_URL", url).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            let log = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "{log}");
            log
        })
        .collect()
}

fn check(logs: &[String], applied_rows: &str) {
    // Each safe migration once in all: the instances that applied report it, the rest find it done.
    let applied: usize = logs
        .iter()
        .map(|log| {
            log.split("applied ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap().parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(applied, 2, "{logs:#?}");
    for log in logs {
        assert!(log.contains("3 drop_legacy_flag: error[drop-column]"), "every instance reports the unsafe one: {log}");
    }
    assert_eq!(applied_rows, "1 accounts:applied,2 display_name:applied", "and it never ran");
}

#[test]
fn six_replicas_on_postgres() {
    let admin_url = std::env::var("CUTOVER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let name = format!("cutover_embedded_{}", std::process::id());
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let logs = start_six(&url);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows: String = client
        .query_one(
            "SELECT string_agg(version || ' ' || name || ':' || state, ',' ORDER BY id) FROM cutover_history WHERE state <> 'running'",
            &[],
        )
        .unwrap()
        .get(0);
    let legacy: i64 = client
        .query_one("SELECT count(*) FROM information_schema.columns WHERE column_name = 'legacy_flag'", &[])
        .unwrap()
        .get(0);
    drop(client);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    check(&logs, &rows);
    assert_eq!(legacy, 1, "the unsafe migration did not run");
}

#[test]
fn six_replicas_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let logs = start_six(&url);
    let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    let rows: String = db
        .query_row(
            "SELECT group_concat(version || ' ' || name || ':' || state, ',') FROM \
             (SELECT * FROM cutover_history WHERE state <> 'running' ORDER BY id)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let legacy: i64 = db
        .query_row("SELECT count(*) FROM pragma_table_info('accounts') WHERE name = 'legacy_flag'", [], |row| {
            row.get(0)
        })
        .unwrap();
    check(&logs, &rows);
    assert_eq!(legacy, 1, "the unsafe migration did not run");
    // A later start applies nothing and still reports the pending one.
    let again = Command::new(APP).env("DATABASE_URL", &url).output().unwrap();
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(log.contains("applied 0 migrations") && log.contains("3 drop_legacy_flag"), "{log}");
}
