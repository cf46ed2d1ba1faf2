//! Database faults and TLS, on servers of the tests' own (restarts cannot touch the shared test
//! servers): the server restarted in the middle of a migration and of a backfill (PostgreSQL
//! `pg_ctl restart -m fast`; MariaDB killed and started again), cutover's session terminated,
//! and TLS with a certificate authority made by the test.

use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::util::{output_text, shell_in, PgDb, PrivateMariadb, PrivateServer, Project};

/// Waits until a query matching `pattern` runs on the server.
fn wait_for_query(url: &str, pattern: &str) -> i32 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = client
            .query("SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", &[&pattern])
            .unwrap();
        if let Some(row) = rows.first() {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "no query like {pattern} ever ran");
        thread::sleep(Duration::from_millis(20));
    }
}

fn count(url: &str, sql: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn server_restart_mid_migration_and_mid_backfill() {
    let server = PrivateServer::start("", &[]);
    let url = server.database("app");
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id bigint PRIMARY KEY, touched int NOT NULL DEFAULT 0);\nINSERT INTO a (id) SELECT generate_series(1, 50000);\n");
    project.migration("2_slow.up.sql", "CREATE TABLE b (id int);\nSELECT pg_sleep(30);\nCREATE TABLE c (id int);\n");
    project.migration(
        "3_steps.up.sql",
        "-- cutover:no-transaction\nCREATE TABLE d (id int);\nSELECT pg_sleep(30);\nCREATE TABLE e (id int);\n",
    );

    // A transactional migration: the restart rolls it back whole; the history says nothing
    // applied it, and the next run applies it once.
    let child =
        project.cutover_std(&url).args(["up", "--to", "2"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_for_query(&url, "SELECT pg_sleep(30)%");
    server.restart_fast();
    let output = child.wait_with_output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("2 slow"), "the error names the migration: {stderr}");
    assert_eq!(count(&url, "SELECT count(*) FROM cutover_history WHERE version = '2' AND state = 'applied'"), 0);
    assert_eq!(count(&url, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'"), 0, "rolled back whole");

    // Statement by statement: the restart leaves the first statement done and recorded.
    project.migration("2_slow.up.sql", "CREATE TABLE b (id int);\nSELECT 1;\nCREATE TABLE c (id int);\n");
    let output = project.cutover(&url).args(["up", "--to", "2"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let child = project.cutover_std(&url).arg("up").stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_for_query(&url, "SELECT pg_sleep(30)%");
    server.restart_fast();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{:?}", output_text(&output));
    assert_eq!(count(&url, "SELECT count(*) FROM pg_tables WHERE tablename IN ('d', 'e')"), 1, "d done, e not");
    assert_eq!(
        count(&url, "SELECT max(statements_done) FROM cutover_history WHERE version = '3'"),
        1,
        "the first statement is recorded as done"
    );
    // The statement that was cut is not done: it may change (here, sleep less); the done one
    // may not. The rerun resumes at the second statement.
    project.migration(
        "3_steps.up.sql",
        "-- cutover:no-transaction\nCREATE TABLE d (id int);\nSELECT pg_sleep(0);\nCREATE TABLE e (id int);\n",
    );
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(count(&url, "SELECT count(*) FROM pg_tables WHERE tablename IN ('d', 'e')"), 2);
    assert_eq!(count(&url, "SELECT count(*) FROM cutover_history WHERE version = '3' AND state = 'applied'"), 1);

    // A backfill: the restart fails a batch; the rerun resumes and touches every row once.
    backfill_survives_a_server_fault(&project, &url, &|sql| count(&url, sql), &mut || server.restart_fast());
}

/// Backfills `a.touched` (50,000 rows), brings `fault` on the server a few thousand rows in,
/// and checks that the run ends in a clear error and the rerun touches every row exactly once.
/// `count` runs a `SELECT count(*)` on the database.
fn backfill_survives_a_server_fault(
    project: &Project,
    url: &str,
    count: &dyn Fn(&str) -> i64,
    fault: &mut dyn FnMut(),
) {
    let child = project
        .cutover_std(url)
        .args(["backfill", "--table", "a", "--set", "touched = touched + 1", "--max-rows-per-second", "20000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count("SELECT count(*) FROM a WHERE touched > 0") < 5000 {
        assert!(Instant::now() < deadline, "the backfill never got going");
        thread::sleep(Duration::from_millis(20));
    }
    fault();
    let output = child.wait_with_output().unwrap();
    let stderr = output_text(&output).1;
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("progress is saved") || stderr.contains("connection"), "{stderr}");
    let output =
        project.cutover(url).args(["backfill", "--table", "a", "--set", "touched = touched + 1"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(count("SELECT count(*) FROM a WHERE touched <> 1"), 0, "every row exactly once");
}

#[test]
fn a_terminated_session_is_a_clear_error_and_the_rerun_applies_once() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_slow.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(30);\n");
    let child = project.cutover_std(&db.url).arg("up").stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = wait_for_query(&db.url, "SELECT pg_sleep(30)%");
    db.query(&format!("SELECT pg_terminate_backend({pid})"));
    let output = child.wait_with_output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1 slow") && stderr.contains("connection closed by the server"), "{stderr}");
    assert!(stderr.contains("the history is consistent: run `cutover up` again"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "0");
    project.migration("1_slow.up.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(0);\n");
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "1");
}

#[test]
fn tls_with_a_certificate_authority_of_our_own() {
    let certs = test_certificates();
    let read = |name: &str| std::fs::read(certs.path().join(name)).unwrap();
    let server = PrivateServer::start(
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        &[("server.crt", read("server.crt")), ("server.key", read("server.key"))],
    );
    server.database("app");
    let ca = certs.path().join("ca.crt");
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);");
    let url = |host: &str, mode: &str| {
        format!("postgres://postgres@{host}:{}/app?sslmode={mode}&sslrootcert={}", server.port, ca.display())
    };

    // The right host name, signed by the trusted authority: connected, verified.
    let output = project.cutover(&url("localhost", "verify-full")).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let mut client =
        postgres::Client::connect(&format!("{}/app", server.url.rsplit_once('/').unwrap().0), postgres::NoTls).unwrap();
    let encrypted: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl", &[])
        .unwrap()
        .get(0);
    assert_eq!(encrypted, 0, "this check's own connection is plain");
    // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca accepts.
    let output = project.cutover(&url("127.0.0.1", "verify-full")).arg("status").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    let output = project.cutover(&url("127.0.0.1", "verify-ca")).arg("status").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    // Without the authority's certificate, verify-full trusts nothing; require encrypts anyway.
    let bare = |mode: &str| format!("postgres://postgres@localhost:{}/app?sslmode={mode}", server.port);
    let output = project.cutover(&bare("verify-full")).arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{:?}", output_text(&output));
    let output = project.cutover(&bare("require")).arg("status").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
}

/// A number a query on a MariaDB server returns.
fn mysql_count(url: &str, sql: &str) -> i64 {
    let mut conn = crate::util::mysql_conn(url);
    conn.query_first::<i64, _>(sql).unwrap().unwrap_or_default()
}

/// MariaDB commits each DDL statement implicitly, so every migration runs statement by
/// statement with its progress recorded: a server crash in the middle leaves the statements
/// before it done and recorded, and the rerun resumes after them; a backfill cut by the crash
/// resumes from its checkpoint and touches every row once.
#[test]
fn mariadb_crash_mid_migration_and_mid_backfill() {
    let mut server = PrivateMariadb::start(1, false);
    server.root_sql("CREATE DATABASE app");
    let url = format!("{}/app", server.base_url);
    let project = Project::new();
    project.migration(
        "1_a.up.sql",
        "CREATE TABLE a (id bigint PRIMARY KEY, touched int NOT NULL DEFAULT 0);\nINSERT INTO a (id) SELECT seq FROM seq_1_to_50000;\n",
    );
    project.migration("2_steps.up.sql", "CREATE TABLE d (id int);\nSELECT SLEEP(30);\nCREATE TABLE e (id int);\n");
    project.cutover(&url).args(["up", "--to", "1"]).assert().success();

    let child = project.cutover_std(&url).arg("up").stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while mysql_count(&url, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(30)%'")
        == 0
    {
        assert!(Instant::now() < deadline, "the migration never reached its second statement");
        thread::sleep(Duration::from_millis(20));
    }
    server.crash_and_restart();
    let output = child.wait_with_output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("2 steps") && !stderr.contains("cutover:cutover@"), "{stderr}");
    let tables =
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'app' AND table_name IN ('d', 'e')";
    assert_eq!(mysql_count(&url, tables), 1, "d done, e not");
    assert_eq!(
        mysql_count(&url, "SELECT MAX(statements_done) FROM cutover_history WHERE version = '2'"),
        1,
        "the first statement is recorded as done"
    );
    project.migration("2_steps.up.sql", "CREATE TABLE d (id int);\nSELECT SLEEP(0);\nCREATE TABLE e (id int);\n");
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(mysql_count(&url, tables), 2);
    assert_eq!(mysql_count(&url, "SELECT COUNT(*) FROM cutover_history WHERE version = '2' AND state = 'applied'"), 1);

    backfill_survives_a_server_fault(&project, &url, &|sql| mysql_count(&url, sql), &mut || server.crash_and_restart());
}

/// MariaDB with TLS and a certificate authority the test makes, the user it connects as
/// refused without TLS (`REQUIRE SSL`): `ssl-mode` works as the MySQL client's, and a
/// certificate for another host name is refused.
#[test]
fn mariadb_tls_with_a_certificate_authority_of_our_own() {
    let certs = test_certificates();
    let read = |name: &str| std::fs::read(certs.path().join(name)).unwrap();
    let server = PrivateMariadb::start_with(
        1,
        false,
        &[("ca.crt", read("ca.crt")), ("server.crt", read("server.crt")), ("server.key", read("server.key"))],
        &["--ssl-ca={dir}/ca.crt", "--ssl-cert={dir}/server.crt", "--ssl-key={dir}/server.key"],
    );
    server.root_sql(
        "CREATE DATABASE app; CREATE USER 'secure'@'%' IDENTIFIED BY 'secure-pw' REQUIRE SSL; GRANT ALL ON app.* TO 'secure'@'%';",
    );
    let ca = certs.path().join("ca.crt");
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    let url = |host: &str, mode: &str, ca: Option<&std::path::Path>| {
        let ca = ca.map(|ca| format!("&ssl-ca={}", ca.display())).unwrap_or_default();
        format!("mysql://secure:secure-pw@{host}:{}/app?ssl-mode={mode}{ca}", server.port)
    };
    let refused = |url: &str| {
        let output = project.cutover(url).arg("status").output().unwrap();
        let stderr = output_text(&output).1;
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("cannot connect") && !stderr.contains("secure-pw"), "{stderr}");
    };

    // The right host name, signed by the trusted authority: connected, verified, encrypted
    // (the user cannot connect otherwise).
    let output = project.cutover(&url("localhost", "VERIFY_IDENTITY", Some(&ca))).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    // The certificate names localhost, not 127.0.0.1: VERIFY_IDENTITY refuses, VERIFY_CA accepts.
    refused(&url("127.0.0.1", "VERIFY_IDENTITY", Some(&ca)));
    project.cutover(&url("127.0.0.1", "VERIFY_CA", Some(&ca))).arg("status").assert().success();
    // Without the authority, nothing is trusted; REQUIRED encrypts without verifying.
    refused(&url("localhost", "VERIFY_IDENTITY", None));
    project.cutover(&url("127.0.0.1", "REQUIRED", None)).arg("status").assert().success();
    // Without TLS the server refuses this user: the successes above were encrypted.
    refused(&url("127.0.0.1", "DISABLED", None));
}

/// A certificate authority of the test's own (`ca.crt`) and a server certificate it signed for
/// `localhost` only (`server.crt`, `server.key`).
pub(crate) fn test_certificates() -> tempfile::TempDir {
    let certs = tempfile::tempdir().unwrap();
    shell_in(
        certs.path(),
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj '/CN=cutover test CA' 2>/dev/null \
         && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost' 2>/dev/null \
         && printf 'subjectAltName=DNS:localhost\\n' > san.ext \
         && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null",
    );
    certs
}
