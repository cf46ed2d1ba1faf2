//! Declarative (expand/contract) migrations in every command, on a database whose tables came
//! before the folder: `lint` and `plan` preview them against the live tables, `up` says in one
//! line that it stops before them, `status` and `history` show each phase with its time, `down`
//! of a completed one explains what undoes it.

use crate::util::{output_text, MyDb, PgDb, Project};

const RENAME: &str =
    "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"full_name\"\nto = \"legal_name\"\n";

/// A database with a table made before the folder, and a folder whose first migration renames
/// one of its columns.
fn older_database() -> (PgDb, Project) {
    let db = PgDb::new();
    db.query(
        "CREATE TABLE users (id bigserial PRIMARY KEY, full_name text NOT NULL); \
         INSERT INTO users (full_name) SELECT 'user ' || g FROM generate_series(1, 500) g",
    );
    let project = Project::new();
    project.migration("1_legal_name.toml", RENAME);
    (db, project)
}

fn run(project: &Project, url: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = match url {
        Some(url) => project.cutover(url),
        None => {
            let mut command = project.cutover("");
            command.env_remove("CUTOVER_DATABASE_URL").env_remove("DATABASE_URL");
            command
        }
    };
    let output = command.args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    (output.status.code(), stdout, stderr)
}

#[test]
fn previews_judge_the_live_tables_and_say_when_they_cannot() {
    let (db, project) = older_database();
    // Without a database the folder does not know `users`: a note that says how, not an error.
    for args in [&["lint"][..], &["lint", "migrations/1_legal_name.toml"][..]] {
        let (code, stdout, stderr) = run(&project, None, args);
        assert_eq!(code, Some(0), "{args:?}: {stdout}{stderr}");
        assert!(
            stdout.contains("note: not previewed: the migrations before it do not create `users`")
                && stdout.contains("--database-url"),
            "{args:?}: {stdout}"
        );
        assert!(!stdout.contains("syntax-error"), "{stdout}");
    }
    // With the database: what each phase runs and locks, on the live table.
    for args in [
        &["--database-url", &db.url, "lint"][..],
        &["--database-url", &db.url, "lint", "migrations/1_legal_name.toml"][..],
    ] {
        let (code, stdout, stderr) = run(&project, None, args);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(
            stdout.contains(r#"CREATE VIEW "public_v1"."users" AS SELECT "id", "full_name" AS "legal_name""#),
            "{stdout}"
        );
        assert!(
            stdout.contains(r#"RENAME COLUMN "full_name" TO "legal_name""#) && stdout.contains("ACCESS EXCLUSIVE"),
            "{stdout}"
        );
        // cutover's own tables get no view, as `cutover start` plans it.
        assert!(!stdout.contains("cutover_history"), "{stdout}");
    }
    // A mistake is still an error, with or without the database.
    project.migration(
        "2_typo.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfro = \"x\"\nto = \"y\"\n",
    );
    let (code, stdout, _) = run(&project, None, &["lint"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("2_typo.toml") && stdout.contains("unknown field `fro`"), "{stdout}");
    std::fs::remove_file(project.path("migrations/2_typo.toml")).unwrap();

    // `plan`: the declarative migration is what is pending, with its phases; never "nothing".
    let (code, stdout, stderr) = run(&project, Some(&db.url), &["plan"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("nothing is pending"), "{stdout}");
    assert!(stdout.contains("next: 1 legal_name") && stdout.contains("`cutover start`"), "{stdout}");
    assert!(stdout.contains(r#"RENAME COLUMN "full_name" TO "legal_name""#), "{stdout}");
    assert!(stdout.contains("0 pending SQL migrations (then a declarative one)"), "{stdout}");
    let (_, json, _) = run(&project, Some(&db.url), &["plan", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let stops = &json["stops_before_declarative"];
    assert_eq!(stops["migration"], "1 legal_name", "{json}");
    assert!(stops["preview"]["phases"].as_array().is_some_and(|p| !p.is_empty()), "{json}");

    // `up`: one line, and nothing applied.
    let (code, stdout, stderr) = run(&project, Some(&db.url), &["up"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("stopped before 1 legal_name") && stdout.contains("cutover start"), "{stdout}");
}

#[test]
fn status_and_history_show_each_phase_and_down_says_what_undoes_it() {
    let (db, project) = older_database();
    project.cutover(&db.url).arg("start").assert().success();
    let (_, status, _) = run(&project, Some(&db.url), &["status"]);
    let row = status.lines().find(|l| l.contains("legal_name")).unwrap();
    assert!(row.contains("expand/contract started since") && row.contains("new `public_v1`"), "{status}");
    project.cutover(&db.url).arg("rollback").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).arg("complete").assert().success();

    let (code, history, _) = run(&project, Some(&db.url), &["history"]);
    assert_eq!(code, Some(0));
    assert!(history.contains("expand/contract  by") && !history.contains("0/0 statements"), "{history}");
    let phases: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("expand/contract phases"))
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        phases,
        ["starting", "started", "rolling_back", "rolled_back", "starting", "started", "completing", "completed"],
        "{history}"
    );
    let (_, json, _) = run(&project, Some(&db.url), &["history", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["expand"][0]["phases"].as_array().map(Vec::len), Some(8), "{json}");

    // `down`: nothing reverted, and the way back named (no down script could do it).
    let (code, stdout, stderr) = run(&project, Some(&db.url), &["down"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("is declarative (expand/contract) and completed")
            && stderr.contains("new declarative migration"),
        "{stderr}"
    );
    assert!(!stderr.contains("write the missing down scripts"), "{stderr}");
    assert_eq!(db.query("SELECT legal_name FROM users WHERE id = 1"), "user 1");
}

#[test]
fn on_mysql_a_declarative_migration_is_an_error_lint_explains() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_legal_name.toml", RENAME);
    let (code, stdout, stderr) = run(&project, Some(&db.url), &["lint"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("not on MySQL/MariaDB (no transactional DDL"), "{stdout}");
}

#[test]
fn a_chain_of_pending_declarative_migrations_is_previewed_in_order_on_the_catalogs_tables() {
    let (db, project) = older_database();
    project.migration(
        "2_widen.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"users\"\ncolumn = \"legal_name\"\ntype = \"varchar(200)\"\nup = \"legal_name::varchar(200)\"\ndown = \"legal_name::text\"\n",
    );
    // The second is planned on the schema the first leaves: `legal_name` exists there.
    let (code, stdout, stderr) = run(&project, None, &["--database-url", &db.url, "lint"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("2_widen.toml: expand/contract phases") && stdout.contains("_cutover_legal_name"),
        "{stdout}"
    );
    // JSON has every statement whole.
    let (_, json, _) = run(&project, None, &["--database-url", &db.url, "lint", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let statements: Vec<String> = json["declarative"][0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|phase| {
            phase["steps"].as_array().unwrap().iter().map(|s| s["statement"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(statements.iter().any(|s| s.contains(r#"CREATE VIEW "public_v1"."users""#) && !s.contains('…')), "{json}");

    // Applied migrations are not previewed; one named alone says it is applied.
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).arg("complete").assert().success();
    let (code, stdout, stderr) = run(&project, None, &["--database-url", &db.url, "lint"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        !stdout.contains("1_legal_name.toml") && stdout.contains("2_widen.toml: expand/contract phases"),
        "{stdout}"
    );
    let (code, stdout, _) = run(&project, None, &["--database-url", &db.url, "lint", "migrations/1_legal_name.toml"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("migration 1 is applied on this database"), "{stdout}");

    // What the catalog knows and the folder cannot: the column is NOT NULL already.
    project.migration(
        "3_required.toml",
        "[[operations]]\nop = \"set_not_null\"\ntable = \"users\"\ncolumn = \"legal_name\"\n",
    );
    std::fs::remove_file(project.path("migrations/2_widen.toml")).unwrap();
    let (code, stdout, _) = run(&project, None, &["--database-url", &db.url, "lint", "migrations/3_required.toml"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("3_required.toml: error"), "{stdout}");
}

/// What the file alone shows is an error with or without the database: an expression that is
/// not one expression (it would end cutover's statement and run another), a NOT NULL column
/// with no value.
#[test]
fn mistakes_the_file_alone_shows_are_errors_without_the_database() {
    let (db, project) = older_database();
    std::fs::remove_file(project.path("migrations/1_legal_name.toml")).unwrap();
    let cases = [
        ("set_default", "column = \"full_name\"\ndefault = \"'a'; DROP TABLE users; --\"", "is not one SQL expression"),
        (
            "add_column",
            "column = \"email\"\ntype = \"text\"\nnullable = false",
            "NOT NULL with neither `default` nor `up`",
        ),
        ("add_check", "name = \"c\"\ncheck = \"full_name <> '' $cutover$\"", "`$cutover$`"),
    ];
    for (op, fields, message) in cases {
        let path = format!("migrations/2_{op}.toml");
        std::fs::write(project.path(&path), format!("[[operations]]\nop = \"{op}\"\ntable = \"users\"\n{fields}\n"))
            .unwrap();
        for url in [None, Some(db.url.as_str())] {
            let mut args = vec!["lint", path.as_str()];
            if let Some(url) = url {
                args.splice(0..0, ["--database-url", url]);
            }
            let (code, stdout, stderr) = run(&project, None, &args);
            assert_eq!(code, Some(1), "{op} {url:?}: {stdout}{stderr}");
            assert!(stdout.contains(message), "{op} {url:?}: {stdout}");
        }
        // `start` refuses it before anything runs.
        let output = project.cutover(&db.url).arg("start").output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
        std::fs::remove_file(project.path(&path)).unwrap();
    }
    assert_eq!(db.query("SELECT count(*) FROM users"), "500");
}

/// One expand/contract migration is active at a time; `start` again says so and names the one
/// that waits.
#[test]
fn a_second_start_names_the_migration_that_waits() {
    let (db, project) = older_database();
    db.query("CREATE TABLE orders (id bigserial PRIMARY KEY, note text)");
    project.migration(
        "2_memo.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"orders\"\nfrom = \"note\"\nto = \"memo\"\n",
    );
    project.cutover(&db.url).arg("start").assert().success();
    let (code, stdout, stderr) = run(&project, Some(&db.url), &["start"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("1 legal_name is already started") && stdout.contains("2 memo starts after it is completed"),
        "{stdout}"
    );
    assert_eq!(db.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'public_v2'"), "0");
}

/// An application role that is no superuser, with the privileges it has on the tables, uses the
/// new version: the version's schema and views carry the base schema's and tables' grants.
/// Without them its `search_path` would pass over the version's schema, and the new application
/// would run on the old columns without an error.
#[test]
fn the_new_version_carries_the_tables_grants_to_an_application_role() {
    let (db, project) = older_database();
    let app = format!("{}_app", db.name);
    let mut admin = crate::util::admin_client();
    admin.batch_execute(&format!("CREATE ROLE {app} LOGIN")).unwrap();
    db.query(&format!(
        "GRANT USAGE ON SCHEMA public TO {app}; GRANT SELECT, INSERT, UPDATE ON users TO {app}; \
         GRANT USAGE ON SEQUENCE users_id_seq TO {app}"
    ));
    // Default privileges would give every new view more than the table has: taken back.
    db.query(&format!("ALTER DEFAULT PRIVILEGES GRANT DELETE ON TABLES TO {app}"));
    project.cutover(&db.url).arg("start").assert().success();
    let app_url = db.url.replacen("postgres@", &format!("{app}@"), 1);
    let mut client = postgres::Client::connect(&app_url, postgres::NoTls).unwrap();
    client.batch_execute("SET search_path = public_v1, public").unwrap();
    client.batch_execute("INSERT INTO users (legal_name) VALUES ('through the view')").unwrap();
    let row = client.query_one("SELECT legal_name FROM users WHERE legal_name = 'through the view'", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "through the view");
    // What it was not granted on the table, it is not granted on the view.
    let err = client.batch_execute("DELETE FROM users WHERE id = 1").unwrap_err();
    assert!(format!("{err:?}").contains("permission denied"), "{err:?}");
    drop(client);
    project.cutover(&db.url).arg("rollback").assert().success();
    db.query(&format!("ALTER DEFAULT PRIVILEGES REVOKE DELETE ON TABLES FROM {app}"));
    drop(db);
    admin.batch_execute(&format!("DROP ROLE {app}")).unwrap();
}

/// An expression that ends in a `--` comment would swallow the rest of the statement cutover
/// writes around it: refused before anything runs.
#[test]
fn an_expression_ending_in_a_comment_is_refused_before_start_runs() {
    let (db, project) = older_database();
    std::fs::remove_file(project.path("migrations/1_legal_name.toml")).unwrap();
    project.migration(
        "1_domain.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"initial\"\ntype = \"text\"\nup = \"left(full_name, 1) -- the initial\"\n",
    );
    let (code, stdout, _) = run(&project, None, &["--database-url", &db.url, "lint"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("ends in a `--` comment"), "{stdout}");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'initial'"), "0");
}

/// A database whose tables live in another schema than `public` (its `search_path`): the
/// preview names the version's schema as `start` makes it, `<schema>_v<version>`.
#[test]
fn the_preview_names_the_version_schema_after_the_databases_own_schema() {
    let db = PgDb::new();
    db.query(&format!(
        "CREATE SCHEMA app; ALTER DATABASE {} SET search_path = app; \
         CREATE TABLE app.users (id bigserial PRIMARY KEY, full_name text NOT NULL)",
        db.name
    ));
    let project = Project::new();
    project.migration("1_legal_name.toml", RENAME);
    let (code, stdout, stderr) = run(&project, None, &["--database-url", &db.url, "lint"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(r#"CREATE VIEW "app_v1"."users""#) && !stdout.contains("public_v1"), "{stdout}");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output_text(&output).0.contains("the new one `app_v1`"), "{}", output_text(&output).0);
}
