//! Security: the least-privilege setup (the application role cannot touch cutover's tables),
//! and passwords kept out of every output of every command.

use crate::util::{admin_url, output_text, PgDb, Project};

#[test]
fn the_application_role_cannot_touch_cutovers_tables() {
    let db = PgDb::new();
    let suffix = db.name.trim_start_matches("cutover_t");
    let (migrator, app) = (format!("lp_migrator_{suffix}"), format!("lp_app_{suffix}"));
    let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {migrator} LOGIN; CREATE ROLE {app} LOGIN; ALTER DATABASE {} OWNER TO {migrator}",
            db.name
        ))
        .unwrap();
    // The documented setup: cutover's tables in a schema of their own, which the application
    // role has no USAGE on; the application's tables granted by default privileges.
    db.query(&format!(
        "CREATE SCHEMA cutover AUTHORIZATION {migrator}; GRANT USAGE ON SCHEMA public TO {app}; \
         ALTER DEFAULT PRIVILEGES FOR ROLE {migrator} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}"
    ));
    let as_role = |role: &str| db.url.replacen("postgres@", &format!("{role}@"), 1);
    let project = Project::new();
    std::fs::write(project.path("cutover.toml"), "history_table = \"cutover.cutover_history\"\n").unwrap();
    project.migration(
        "1_accounts.up.sql",
        "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, note text);\nINSERT INTO accounts SELECT g, 'o' || g FROM generate_series(1, 100) g;\n",
    );
    project.migration(
        "2_rename.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"accounts\"\nfrom = \"owner\"\nto = \"holder\"\n",
    );
    let migrator_url = as_role(&migrator);
    project.cutover(&migrator_url).arg("up").assert().success();
    project.cutover(&migrator_url).args(["backfill", "--table", "accounts", "--set", "note = 'n'"]).assert().success();
    project.cutover(&migrator_url).arg("start").assert().success();
    project.cutover(&migrator_url).arg("complete").assert().success();
    // An approved unsafe migration fills the approvals table too.
    project.migration("3_index.up.sql", "CREATE INDEX accounts_note ON accounts (note);\n");
    project.cutover(&migrator_url).args(["up", "--allow-unsafe"]).assert().success();
    assert_eq!(
        db.query("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'cutover'"),
        "cutover_backfills,cutover_expand,cutover_history,cutover_history_approvals,cutover_history_guard"
    );

    let mut app_client = postgres::Client::connect(&as_role(&app), postgres::NoTls).unwrap();
    app_client
        .batch_execute("INSERT INTO accounts VALUES (1000, 'a', NULL); UPDATE accounts SET note = 'x' WHERE id = 1")
        .unwrap();
    for sql in [
        "SELECT count(*) FROM cutover.cutover_history",
        "INSERT INTO cutover.cutover_history (version) VALUES ('9')",
        "UPDATE cutover.cutover_backfills SET state = 'done'",
        "DELETE FROM cutover.cutover_expand",
        "UPDATE cutover.cutover_history_approvals SET reason = ''",
        "INSERT INTO cutover.cutover_history_guard (history_id, state, checksum) VALUES (1, 'applied', '')",
    ] {
        let err = app_client.batch_execute(sql).unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{sql}: {err}");
    }
    drop(app_client);
    drop(db);
    admin.batch_execute(&format!("DROP ROLE {app}; DROP ROLE {migrator}")).unwrap();
}

#[test]
fn no_command_prints_the_password() {
    let db = PgDb::new();
    // The test server trusts local connections, so the password is sent and ignored: every
    // command runs, and none may show it, whatever it prints.
    let password = "Pa55-w0rd-never-shown";
    let url = db.url.replacen("postgres@", &format!("postgres:{password}@"), 1);
    let project = Project::new();
    project.migration(
        "1_a.up.sql",
        "CREATE TABLE a (id bigint PRIMARY KEY, n int);\nINSERT INTO a SELECT g, g FROM generate_series(1, 50) g;\n",
    );
    project.migration("1_a.down.sql", "DROP TABLE a;\n");
    project.migration("2_b.up.sql", "CREATE TABLE b (id int);\nSELECT no_such_function();\n");
    let commands: [&[&str]; 14] = [
        &["status"],
        &["status", "--format", "json"],
        &["up", "--dry-run"],
        &["up", "--to", "1"],
        &["up"],
        &["validate", "--format", "json"],
        &["plan", "--format", "json"],
        &["history", "--format", "json"],
        &["backfill", "--table", "a", "--set", "n = n + 1", "--dry-run"],
        &["backfill", "--table", "a", "--set", "n = n + 1"],
        &["backfill", "--status", "--format", "json"],
        &["start"],
        &["down", "--dry-run"],
        &["rehearse", "--format", "json"],
    ];
    for args in commands {
        let output = project.cutover(&url).args(args).env("RUST_LOG", "debug").output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert!(
            !stdout.contains(password) && !stderr.contains(password),
            "cutover {args:?} showed the password:\n{stdout}\n{stderr}"
        );
    }
    // A URL that cannot connect, and one that does not parse, say so without it either.
    for bad in [
        format!("postgres://postgres:{password}@127.0.0.1:1/nowhere"),
        format!("postgress://postgres:{password}@127.0.0.1/x"),
    ] {
        let output = project.cutover(&bad).arg("status").output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2));
        assert!(!stdout.contains(password) && !stderr.contains(password), "{stderr}");
    }
}
