//! `up`'s gate reading a review computed ahead (what an application embedding cutover without a
//! grammar runs by), on a real PostgreSQL: it refuses what the review refuses, applies what it
//! lets through, and refuses a review of other files, another dialect or a newer server.

use cutover_runner::{Context, Dialect, Error, ReviewFile, Settings, Silent, UpOptions};

fn database(tag: &str) -> (String, impl FnOnce()) {
    let admin_url = std::env::var("CUTOVER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let name = format!("cutover_reviewed_{tag}_{}", std::process::id());
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    (url, move || {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    })
}

/// A folder whose second migration drops a column (an error-level finding).
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("1_accounts.up.sql"),
        "CREATE TABLE accounts (id bigint PRIMARY KEY, flag boolean);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("2_drop_flag.up.sql"), "ALTER TABLE accounts DROP COLUMN flag;\n").unwrap();
    dir
}

fn up(url: &str, settings: &Settings, to: Option<&str>) -> Result<Vec<String>, Error> {
    let set = cutover_migration::discover(&settings.dir, None).unwrap();
    let url = cutover_engine::DatabaseUrl::parse(url).unwrap();
    let mut target = cutover_any::AnyTarget::connect(&url, &cutover_any::ConnectOptions::new(&settings.history_table))
        .unwrap()
        .into_migration();
    let options = UpOptions {
        to: to.map(|v| cutover_migration::Version::parse(v).unwrap()),
        allow_unsafe: false,
        allow_out_of_order: false,
        dry_run: false,
        outside_window: None,
    };
    cutover_runner::up(&mut Context { target: &mut *target, settings, reporter: &mut Silent }, &set, &options)
        .map(|summary| summary.migrations)
}

fn reviewed(dir: &std::path::Path) -> (Settings, ReviewFile) {
    let set = cutover_migration::discover(dir, None).unwrap();
    let mut settings = Settings { dir: dir.to_path_buf(), ..Settings::default() };
    settings.lint.dialect = Dialect::Postgres;
    let review = ReviewFile::compute(&set, &settings.lint);
    (settings, review)
}

fn refusal(result: Result<Vec<String>, Error>) -> String {
    match result {
        Err(Error::Refused(refusal)) => refusal.problems.join("\n"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_gate_judges_by_the_review() {
    let (url, drop_database) = database("judges");
    let dir = folder();
    let (mut settings, review) = reviewed(dir.path());
    assert!(review.migrations[0].findings.is_empty());
    assert_eq!(review.migrations[1].findings[0].rule, "drop-column");
    // Written and read back as the application reads it.
    let review = ReviewFile::parse(&review.to_json()).unwrap();
    settings.reviewed = Some(review.clone());

    let problems = refusal(up(&url, &settings, None));
    assert!(problems.contains("error[drop-column]"), "{problems}");
    assert!(problems.contains("2_drop_flag.up.sql:1"), "{problems}");
    assert_eq!(up(&url, &settings, Some("1")).unwrap().len(), 1);

    // The review, not the analysis, decides: one that lets the drop through is followed.
    let mut lenient = review.clone();
    lenient.migrations[1].findings.clear();
    lenient.migrations[1].breaks_old_code = false;
    settings.reviewed = Some(lenient);
    assert_eq!(up(&url, &settings, None).unwrap().len(), 1);
    drop_database();
}

#[test]
fn a_review_of_other_files_or_servers_is_refused() {
    let (url, drop_database) = database("stale");
    let dir = folder();
    let (mut settings, review) = reviewed(dir.path());

    // Written for PostgreSQL 16 and later; the server is older.
    settings.reviewed = Some(ReviewFile { pg_version: Some(99), ..review.clone() });
    let problems = refusal(up(&url, &settings, None));
    assert!(problems.contains("judged the migrations for PostgreSQL 99 and later"), "{problems}");
    assert!(problems.contains("`cutover review --write --dialect postgres --pg-version 15`"), "{problems}");

    // Another dialect's.
    settings.reviewed = Some(ReviewFile { dialect: "mysql".to_string(), ..review.clone() });
    let problems = refusal(up(&url, &settings, None));
    assert!(problems.contains("judged the migrations as mysql, and they run on postgres"), "{problems}");

    // A migration edited after the review: nothing is applied, not even the first.
    std::fs::write(dir.path().join("1_accounts.up.sql"), "CREATE TABLE accounts (id bigint PRIMARY KEY, flag text);\n")
        .unwrap();
    settings.reviewed = Some(review.clone());
    let problems = refusal(up(&url, &settings, None));
    assert!(problems.contains("1 accounts is new or edited since"), "{problems}");

    // A migration added after the review.
    std::fs::write(
        dir.path().join("1_accounts.up.sql"),
        "CREATE TABLE accounts (id bigint PRIMARY KEY, flag boolean);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("3_more.up.sql"), "CREATE TABLE more (id int);\n").unwrap();
    let problems = refusal(up(&url, &settings, None));
    assert!(problems.contains("3 more is new or edited since"), "{problems}");

    // A migration removed after the review.
    std::fs::remove_file(dir.path().join("3_more.up.sql")).unwrap();
    std::fs::remove_file(dir.path().join("2_drop_flag.up.sql")).unwrap();
    let problems = refusal(up(&url, &settings, None));
    assert!(problems.contains("2 drop_flag is gone since"), "{problems}");
    drop_database();
}

#[test]
fn tables_made_before_an_empty_history_are_found_by_the_review_too() {
    let (url, drop_database) = database("predates");
    // Made before the history: by hand, or by runs whose history is lost; one in a schema of its own.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client.batch_execute("CREATE SCHEMA app; CREATE TABLE app.\"Audit\" (id int)").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_audit.up.sql"), "CREATE TABLE app.\"Audit\" (id int);\n").unwrap();
    let (mut settings, review) = reviewed(dir.path());
    assert_eq!(review.migrations[0].creates, ["app.Audit"]);
    settings.reviewed = Some(review);
    let problems = refusal(up(&url, &settings, None));
    assert!(problems.contains("already has `app.Audit`, which 1 audit makes"), "{problems}");
    // Nothing was applied: no history row, no second table.
    let applied: i64 = client
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'cutover_history'", &[])
        .map(|row| row.get(0))
        .unwrap();
    let rows: i64 =
        if applied == 0 { 0 } else { client.query_one("SELECT count(*) FROM cutover_history", &[]).unwrap().get(0) };
    assert_eq!(rows, 0);
    drop(client);
    drop_database();
}
