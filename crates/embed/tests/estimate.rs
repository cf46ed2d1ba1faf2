//! The start-up policy's time limit, judged on a real PostgreSQL's table sizes: an UPDATE of a
//! large table is left for a reviewed deploy, the same migration on a small table runs.

use std::time::Duration;

use cutover_embed::{migrate_on_startup, Embedded, StartupOptions};

static MIGRATIONS: Embedded = Embedded {
    files: &[
        ("1_ledger.up.sql", "CREATE TABLE ledger (id bigint PRIMARY KEY, note text, n int);\n"),
        ("1_ledger.down.sql", "DROP TABLE ledger;\n"),
        ("2_fill.up.sql", "UPDATE ledger SET n = 0;\n"),
        ("2_fill.down.sql", "UPDATE ledger SET n = NULL;\n"),
    ],
};

fn database() -> (String, impl FnOnce()) {
    let admin_url = std::env::var("CUTOVER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let name = format!("cutover_embed_{}", std::process::id());
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    (url, move || {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    })
}

#[test]
fn a_long_update_waits_for_a_reviewed_deploy() {
    let (url, drop_database) = database();
    let options = StartupOptions { max_duration: Duration::from_millis(50), ..StartupOptions::default() };
    // First start: the table is created (the update on an empty table is instant).
    let only_first = Embedded { files: &MIGRATIONS.files[..2] };
    migrate_on_startup(&url, &only_first, &options).unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "INSERT INTO ledger SELECT g, repeat('x', 200), NULL FROM generate_series(1, 200000) g; ANALYZE ledger",
        )
        .unwrap();
    let report = migrate_on_startup(&url, &MIGRATIONS, &options).unwrap();
    assert!(report.applied.is_empty(), "{report}");
    assert!(report.to_string().contains("would take about"), "{report}");
    let untouched: i64 = client.query_one("SELECT count(*) FROM ledger WHERE n IS NULL", &[]).unwrap().get(0);
    assert_eq!(untouched, 200_000);

    // With room for it, it runs.
    let generous = StartupOptions { max_duration: Duration::from_secs(3600), ..StartupOptions::default() };
    let report = migrate_on_startup(&url, &MIGRATIONS, &generous).unwrap();
    assert_eq!(report.applied, ["2 fill"], "{report}");
    drop(client);
    drop_database();
}
