//! Bad input: a clear one-paragraph error, exit code 2, no password, and nothing applied.

use crate::util::{admin_url, output_text, url_for, PgDb, Project};

/// Runs `cutover up` with `args` and checks the failure; returns stderr.
fn fails(project: &Project, url: &str, args: &[&str], expect: &str) -> String {
    let output = project.cutover(url).arg("up").args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains(expect), "expected {expect:?} in: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.trim_end().contains("\n\n"), "one paragraph: {stderr}");
    stderr
}

fn valid_project() -> Project {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);");
    project
}

#[test]
fn unknown_url_scheme() {
    let stderr =
        fails(&valid_project(), "oracle://scott:tiger@db/orcl", &[], "unsupported database URL scheme `oracle`");
    assert!(!stderr.contains("tiger"), "{stderr}");
}

#[test]
fn unreachable_host() {
    let stderr = fails(
        &valid_project(),
        "postgres://app:hunter2@127.0.0.1:1/db",
        &[],
        "cannot connect to postgres://app:***@127.0.0.1:1/db",
    );
    assert!(stderr.contains("check that the server runs"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn wrong_password_is_redacted() {
    let db = PgDb::new();
    let user = std::env::var("CUTOVER_TEST_PG_PASSWORD_USER").unwrap_or_else(|_| "cutover_pw".to_string());
    let base = admin_url();
    let (scheme_and_auth, rest) = base.split_once('@').expect("admin URL has a user");
    let scheme = scheme_and_auth.split("://").next().unwrap();
    let url = url_for(&format!("{scheme}://{user}:Wr0ng-S3cret@{rest}"), &db.name);
    let stderr = fails(&valid_project(), &url, &[], "password authentication failed");
    assert!(!stderr.contains("Wr0ng-S3cret"), "{stderr}");
    assert!(stderr.contains(":***@"), "{stderr}");
    assert!(stderr.contains("check the user name and password"), "{stderr}");
    assert_eq!(db.tables(), "NULL", "nothing applied");
}

#[test]
fn missing_directory() {
    let db = PgDb::new();
    fails(&valid_project(), &db.url, &["--dir", "nope"], "migrations directory `nope` does not exist");
    assert_eq!(db.tables(), "NULL");
}

#[test]
fn duplicate_versions() {
    let db = PgDb::new();
    let project = valid_project();
    project.migration("01_b.up.sql", "CREATE TABLE b (id int);");
    fails(&project, &db.url, &[], "version 1 is used twice");
    assert_eq!(db.tables(), "NULL");
}

#[test]
fn orphan_down_file() {
    let db = PgDb::new();
    let project = valid_project();
    project.migration("2_b.down.sql", "DROP TABLE b;");
    fails(&project, &db.url, &[], "2_b.down.sql` reverts version 2, but no migration applies version 2");
    assert_eq!(db.tables(), "NULL");
}

#[test]
fn malformed_directive() {
    let db = PgDb::new();
    let project = valid_project();
    project.migration("2_b.up.sql", "-- cutover:lock-timeout=forever\nCREATE TABLE b (id int);");
    fails(&project, &db.url, &[], "2_b.up.sql:1: bad value in `cutover:lock-timeout=forever`");
    assert_eq!(db.tables(), "NULL");
}

#[test]
fn unreadable_config() {
    let db = PgDb::new();
    let project = valid_project();
    fails(&project, &db.url, &["--config", "missing.toml"], "cannot read config file `missing.toml`");
    std::fs::write(project.path("cutover.toml"), "lock_timeout = 5s\n").unwrap();
    fails(&project, &db.url, &[], "config file `cutover.toml` is invalid");
    std::fs::write(project.path("cutover.toml"), "lock_timout = \"5s\"\n").unwrap();
    fails(&project, &db.url, &[], "unknown field `lock_timout`");
    assert_eq!(db.tables(), "NULL");
}

#[test]
fn no_database_url() {
    let output = valid_project().cutover("").env_remove("DATABASE_URL").arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("no database URL: pass --database-url"));
}
