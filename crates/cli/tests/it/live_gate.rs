//! The gate of `up` judges the database it runs on: tables made before the migration folder
//! (an adopted or baselined database) are known with their columns, checks and sizes. The safe
//! NOT NULL recipe passes with no override; a full-table UPDATE under ADD COLUMN's lock, the
//! naive Alembic upgrade and a bare rename are refused with nothing applied; on a small table
//! the UPDATE is a warning and applies.

use crate::util::{output_text, PgDb, Project};

/// `users` made outside the migration folder, with `rows` rows.
fn users_outside_the_folder(rows: u32) -> PgDb {
    let db = PgDb::new();
    db.query(&format!(
        "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(200), name text NOT NULL);
         INSERT INTO users SELECT i, 'u' || i || '@example.com', 'user ' || i FROM generate_series(1, {rows}) AS i;"
    ));
    db
}

const LARGE: u32 = 300_000;

/// Runs `cutover up` and returns its exit code and stderr.
fn up(project: &Project, db: &PgDb) -> (Option<i32>, String) {
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    (output.status.code(), stderr)
}

/// The migrations the history records as applied, comma-separated.
fn applied(db: &PgDb) -> String {
    db.try_query(
        "SELECT coalesce(string_agg(version, ',' ORDER BY version), '') FROM cutover_history WHERE state = 'applied'",
    )
    .unwrap_or_default()
}

/// How many approvals (ignores, `--allow-unsafe`) were recorded.
fn approvals(db: &PgDb) -> String {
    db.try_query("SELECT count(*) FROM cutover_history_approvals").unwrap_or_else(|| "0".to_string())
}

fn column_exists(db: &PgDb, column: &str) -> bool {
    db.query(&format!(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = '{column}'"
    )) == "1"
}

const SAFE_NOT_NULL: [(&str, &str, &str); 5] = [
    ("1_add_status", "ALTER TABLE users ADD COLUMN status text;\n", "ALTER TABLE users DROP COLUMN status;\n"),
    (
        "2_status_check",
        "ALTER TABLE users ADD CONSTRAINT users_status_nn CHECK (status IS NOT NULL) NOT VALID;\n",
        "ALTER TABLE users DROP CONSTRAINT users_status_nn;\n",
    ),
    ("3_validate", "ALTER TABLE users VALIDATE CONSTRAINT users_status_nn;\n", "SELECT 1;\n"),
    (
        "4_set_not_null",
        "ALTER TABLE users ALTER COLUMN status SET NOT NULL;\n",
        "ALTER TABLE users ALTER COLUMN status DROP NOT NULL;\n",
    ),
    (
        "5_drop_check",
        "ALTER TABLE users DROP CONSTRAINT users_status_nn;\n",
        "ALTER TABLE users ADD CONSTRAINT users_status_nn CHECK (status IS NOT NULL);\n",
    ),
];

fn write_migration(project: &Project, (name, up, down): (&str, &str, &str)) {
    project.migration(&format!("{name}.up.sql"), up).migration(&format!("{name}.down.sql"), down);
}

/// The rules of the error-level findings of `cutover lint --format json` (with `args`).
fn lint_errors(project: &Project, db: &PgDb, args: &[&str]) -> (Option<i32>, Vec<String>) {
    // As cutover runs them (the gate's judgement), whatever tool's layout the folder is in.
    let output = project
        .cutover(&db.url)
        .args(["lint", "--format", "json", "--assume-runner", "cutover"])
        .args(args)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", output_text(&output).1));
    let errors = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["rule"].as_str().unwrap().to_string())
        .collect();
    (output.status.code(), errors)
}

/// Fills `users.status` in batches, between the CHECK added NOT VALID and its validation.
fn backfill_status(project: &Project, db: &PgDb) {
    project
        .cutover(&db.url)
        .args(["backfill", "--table", "users", "--set", "status = 'active'", "--where", "status IS NULL"])
        .args(["--max-batch", "100000", "--initial-batch", "50000"])
        .assert()
        .success();
}

/// Each step of the recipe its own `up`, as a team ships them: SET NOT NULL follows a CHECK
/// validated on the live table, so it neither scans nor needs an override.
#[test]
fn the_safe_not_null_sequence_applies_step_by_step_with_no_override() {
    let db = users_outside_the_folder(LARGE);
    let project = Project::new();
    for (idx, step) in SAFE_NOT_NULL.into_iter().enumerate() {
        if idx == 2 {
            backfill_status(&project, &db);
        }
        write_migration(&project, step);
        if idx == 3 {
            // The files alone cannot know users' CHECK was validated; the database can.
            assert_eq!(lint_errors(&project, &db, &[]).1, ["set-not-null-scan"]);
            let db_url = db.url.clone();
            assert_eq!(lint_errors(&project, &db, &["--database-url", &db_url]), (Some(0), vec![]));
        }
        let (code, stderr) = up(&project, &db);
        assert_eq!(code, Some(0), "{}: {stderr}", step.0);
    }
    assert_eq!(applied(&db), "1,2,3,4,5");
    assert_eq!(approvals(&db), "0", "nothing was accepted: nothing needed to be");
    assert_eq!(
        db.query("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'status'"),
        "t"
    );
    assert_eq!(db.query("SELECT count(*) FROM pg_constraint WHERE conname = 'users_status_nn'"), "0");
}

/// The last three pending at once: replayed on the live `users`, whose CHECK is NOT VALID
/// there, the CHECK validated by the third proves NOT NULL for the fourth.
#[test]
fn the_safe_not_null_sequence_applies_in_one_run_after_the_backfill() {
    let db = users_outside_the_folder(LARGE);
    let project = Project::new();
    for step in SAFE_NOT_NULL {
        write_migration(&project, step);
    }
    project.cutover(&db.url).args(["up", "--to", "2"]).assert().success();
    backfill_status(&project, &db);
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(applied(&db), "1,2,3,4,5");
    assert_eq!(approvals(&db), "0");
}

/// The seed's Flyway V2: the UPDATE runs under ADD COLUMN's ACCESS EXCLUSIVE lock, so readers
/// wait for all of it.
const FLYWAY_V2: &str =
    "ALTER TABLE users ADD COLUMN status text;\nUPDATE users SET status = 'active' WHERE status IS NULL;\n";

#[test]
fn a_full_table_update_under_add_columns_lock_is_refused_with_nothing_applied() {
    let db = users_outside_the_folder(LARGE);
    let project = Project::new();
    project.migration("V1__baseline.sql", "SELECT 1;\n").migration("V2__status.sql", FLYWAY_V2);
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("V2__status.sql:2: error[backfill-in-migration]"), "{stderr}");
    assert!(stderr.contains("ACCESS EXCLUSIVE lock taken at line 1"), "{stderr}");
    assert!(stderr.contains("cutover backfill") && stderr.contains("migration of its own"), "{stderr}");
    assert_eq!(applied(&db), "", "the gate refuses before anything runs");
    assert!(!column_exists(&db, "status"));
    // `plan` says the same on this database.
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let errors: Vec<&str> = plan["migrations"][1]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["backfill-in-migration"]);
}

#[test]
fn the_naive_alembic_upgrade_is_refused_with_nothing_applied() {
    let db = users_outside_the_folder(LARGE);
    let project = Project::new();
    project.migration(
        "1_status.up.sql",
        "ALTER TABLE users ADD COLUMN status text;\nUPDATE users SET status = 'active';\nALTER TABLE users ALTER COLUMN status SET NOT NULL;\n",
    );
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("1_status.up.sql:2: error[backfill-in-migration]"), "{stderr}");
    // The SET NOT NULL scans under the lock the UPDATE already held for its pass over the
    // table: one outage, refused at the UPDATE (the scan is a warning that says so).
    assert!(!stderr.contains("1_status.up.sql:3: error"), "{stderr}");
    assert_eq!(applied(&db), "");
    assert!(!column_exists(&db, "status"));
}

/// A rename breaks every running query on the old name: `rename-column` is an error for a
/// table that exists (and is read) on the database.
#[test]
fn a_bare_column_rename_is_refused_with_nothing_applied() {
    let db = users_outside_the_folder(LARGE);
    let project = Project::new();
    project.migration("1_rename.up.sql", "ALTER TABLE users RENAME COLUMN name TO full_name;\n");
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("1_rename.up.sql:1: error[rename-column]"), "{stderr}");
    assert_eq!(applied(&db), "");
    assert!(column_exists(&db, "name") && !column_exists(&db, "full_name"));
}

/// On a table of 100 rows the same UPDATE holds the lock for a moment: a warning, and `up`
/// applies it. Without the database, lint cannot know the size and calls it an error.
#[test]
fn on_a_small_table_the_update_is_a_warning_and_applies() {
    let db = users_outside_the_folder(100);
    let project = Project::new();
    project.migration("V1__baseline.sql", "SELECT 1;\n").migration("V2__status.sql", FLYWAY_V2);
    assert_eq!(lint_errors(&project, &db, &[]), (Some(1), vec!["backfill-in-migration".to_string()]));
    let db_url = db.url.clone();
    assert_eq!(lint_errors(&project, &db, &["--database-url", &db_url]), (Some(0), vec![]));
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(applied(&db), "1,2");
    assert_eq!(db.query("SELECT count(*) FROM users WHERE status = 'active'"), "100");
}

/// Known columns: widening `varchar(200)` is a catalog change PostgreSQL makes without a
/// rewrite, which only the live type proves.
#[test]
fn the_live_column_types_decide_whether_a_type_change_rewrites() {
    let db = users_outside_the_folder(1_000);
    let project = Project::new();
    project.migration("1_wider.up.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(300);\n");
    assert_eq!(lint_errors(&project, &db, &[]).1, ["column-type-rewrite"], "the files alone");
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(0), "{stderr}");
    project.migration("2_narrower.up.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(100);\n");
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error[column-type-rewrite]"), "{stderr}");
}

/// What the catalog read gives the analysis: columns with their types and NOT NULL, indexes
/// with their validity, CHECKs (which one proves NOT NULL, and whether validated), keys,
/// partitions, domains, and sizes (an upper bound for a table never analysed).
#[test]
fn the_live_schema_is_read_from_the_catalog() {
    use cutover_engine::Catalog;
    let db = users_outside_the_folder(1_000);
    // The insert's counts reach the statistics when its session ends, which may be after an
    // ANALYZE that set them already (they would add up to 2,000, seen once in CI): waited for.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.query("SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'users'::regclass") != "1000" {
        assert!(std::time::Instant::now() < deadline, "the insert's statistics never arrived");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    db.query(
        "ANALYZE users;
         CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
         CREATE DOMAIN free AS text;
         CREATE SCHEMA app;
         CREATE TABLE app.orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id), tags text[] NOT NULL,
           contact email, total numeric(10,2),
           CONSTRAINT total_nn CHECK (total IS NOT NULL) NOT VALID, CONSTRAINT positive CHECK (total > 0 AND total IS NOT NULL));
         ALTER TABLE app.orders ADD CONSTRAINT user_nn CHECK (user_id IS NOT NULL) NOT VALID;
         CREATE INDEX orders_user ON app.orders (user_id, id);
         CREATE INDEX orders_open ON app.orders (id) WHERE total IS NULL;
         CREATE INDEX orders_lower ON app.orders (lower(contact), id);
         CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
         CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         INSERT INTO events SELECT i, '2024-06-01' FROM generate_series(1, 50) i;
         CREATE TABLE dupes (n int); INSERT INTO dupes VALUES (1), (1);",
    );
    // A failed concurrent build leaves an INVALID index behind.
    assert!(db.client().batch_execute("CREATE UNIQUE INDEX CONCURRENTLY dupes_n ON dupes (n)").is_err());
    let url = cutover_engine::DatabaseUrl::parse(&db.url).unwrap();
    let options =
        cutover_postgres::ConnectOptions { history_table: "cutover_history".into(), application_name: "test".into() };
    let mut target = cutover_postgres::connect(&url, &options).unwrap();
    let live = target.live_schema().unwrap();
    let table = |name: &str| live.tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name}"));

    let users = table("users");
    assert_eq!((users.rows, users.analysed), (1_000, true));
    assert_eq!(users.primary_key, ["id"]);
    let columns: Vec<(&str, &str, bool)> =
        users.columns.iter().map(|c| (c.name.as_str(), c.type_text.as_str(), c.not_null)).collect();
    assert_eq!(columns, [("id", "bigint", true), ("email", "character varying(200)", false), ("name", "text", true)]);

    let orders = table("app.orders");
    let checks: Vec<(&str, bool, Option<&str>)> =
        orders.checks.iter().map(|c| (c.name.as_str(), c.validated, c.not_null_column.as_deref())).collect();
    assert_eq!(
        checks,
        [("positive", true, Some("total")), ("total_nn", true, Some("total")), ("user_nn", false, Some("user_id"))],
        "a CHECK made with its table is validated; one added NOT VALID is not"
    );
    assert_eq!(orders.foreign_keys[0].referenced_table, "users");
    assert_eq!(orders.foreign_keys[0].columns, ["user_id"]);
    assert_eq!(orders.foreign_keys[0].referenced_columns, ["id"]);
    let mut indexes: Vec<(&str, Vec<&str>, bool, bool)> = orders
        .indexes
        .iter()
        .map(|i| (i.name.as_str(), i.columns.iter().map(String::as_str).collect(), i.partial, i.valid))
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            ("app.orders_lower", vec![], false, true),
            ("app.orders_open", vec!["id"], true, true),
            ("app.orders_pkey", vec!["id"], false, true),
            ("app.orders_user", vec!["user_id", "id"], false, true),
        ]
    );
    assert!(!table("dupes").indexes[0].valid);
    assert_eq!(live.constrained_domains, ["email"]);

    let events = table("events");
    assert!(events.partitioned);
    // Never analysed: at most what one page of each partition holds.
    assert!(!events.analysed && (50..=2 * 300).contains(&events.rows), "{}", events.rows);

    // The analysis schema made of it.
    let config = |small_table_rows| cutover_analysis::LintConfig { small_table_rows, ..Default::default() };
    let (schema, rows) = cutover_runner::seed(&live, &config(10_000));
    assert_eq!(rows["users"], 1_000);
    assert_eq!(rows["events"], events.rows, "never analysed, but surely small");
    assert_eq!(cutover_runner::seed(&live, &config(100)).1["events"], -1, "a bound that proves nothing is no size");
    assert_eq!(
        schema.column_type("users", "email").map(|t| (t.name.as_str(), t.modifiers.clone())),
        Some(("varchar", vec![200]))
    );
    assert_eq!(schema.column_type("app.orders", "tags").map(|t| t.array), Some(true));
    assert!(schema.is_not_null("users", "name") && !schema.is_not_null("users", "email"));
    assert!(schema.has_valid_not_null_check("app.orders", "total"));
    assert!(!schema.has_valid_not_null_check("app.orders", "user_id"), "NOT VALID");
    assert_eq!(schema.has_index_on("app.orders", &["user_id".to_string()]), Some(true));
    assert_eq!(schema.has_index_on("dupes", &["n".to_string()]), Some(false), "an INVALID index is no lookup");
    assert_eq!(schema.table_of_index("dupes_n"), Some("dupes"));
    assert!(schema.is_partitioned("events"));
    assert!(schema.is_constrained_domain("email") && !schema.is_constrained_domain("free"));
}

/// Found by the second tester: a validated CHECK that proves NOT NULL by one conjunct
/// (`st IS NOT NULL AND st <> ''`, `NOT (st IS NULL)`) lets PostgreSQL skip SET NOT NULL's
/// scan ("existing constraints ... are sufficient"), and the gate must not refuse it.
#[test]
fn a_check_that_proves_not_null_by_a_conjunct_spares_the_scan() {
    let db = users_outside_the_folder(1000);
    db.query(
        "ALTER TABLE users ADD COLUMN st text DEFAULT 'a', ADD COLUMN st2 text DEFAULT 'b';\n\
         ALTER TABLE users ADD CONSTRAINT st_ok CHECK (st IS NOT NULL AND st <> '');\n\
         ALTER TABLE users ADD CONSTRAINT st2_ok CHECK (NOT (st2 IS NULL));",
    );
    let project = Project::new();
    project.migration("1_st.up.sql", "ALTER TABLE users ALTER COLUMN st SET NOT NULL;");
    project.migration("2_st2.up.sql", "ALTER TABLE users ALTER COLUMN st2 SET NOT NULL;");
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(0), "{stderr}");
}

/// Found by the second tester: the gate judged `small` as `public.small` (500 rows) while the
/// database's `search_path` makes it `app.small` (300,000): names resolve as the session will.
#[test]
fn names_resolve_on_the_databases_search_path() {
    let db = users_outside_the_folder(10);
    db.query(&format!(
        "CREATE TABLE small (id int); INSERT INTO small SELECT generate_series(1, 500); ANALYZE small;
         CREATE SCHEMA app; CREATE TABLE app.small (id int);
         INSERT INTO app.small SELECT generate_series(1, {LARGE}); ANALYZE app.small;"
    ));
    let name = db.query("SELECT current_database()");
    db.query(&format!("ALTER DATABASE {name} SET search_path = app, public"));
    let project = Project::new();
    project.migration("1_status.up.sql", "ALTER TABLE small ADD COLUMN status text;\nUPDATE small SET status = 'x';\n");
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("backfill-in-migration"), "{stderr}");
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'app' AND column_name = 'status'"
        ),
        "0",
        "nothing applied"
    );
}

/// `events` made outside the folder, analysed with `analysed_rows` rows (autovacuum off, so
/// the statistics stay as ANALYZE left them), then grown to `LARGE` rows.
fn grown_since_analyze(analysed_rows: u32) -> PgDb {
    let db = PgDb::new();
    db.query(&format!(
        "CREATE TABLE events (id bigint PRIMARY KEY, kind text) WITH (autovacuum_enabled = false);
         INSERT INTO events SELECT i, 'k' FROM generate_series(1, {analysed_rows}) AS i;
         ANALYZE events;
         INSERT INTO events SELECT i, 'k' FROM generate_series({analysed_rows} + 1, {LARGE}) AS i;"
    ));
    db
}

const EVENTS_BACKFILL: &str = "ALTER TABLE events ADD COLUMN n int;\nUPDATE events SET n = 1;\n";

/// Found by the third tester: `reltuples` is what the last ANALYZE saw. A table analysed
/// empty (or at 100 rows) and grown to 300,000 since, autovacuum not having run, is sized as
/// the planner sizes it (the density of the analysed pages times the pages there are now, and
/// at least the live rows the statistics counted): not small.
#[test]
fn a_table_grown_since_its_last_analyze_is_not_judged_small() {
    for analysed_rows in [0, 100] {
        let db = grown_since_analyze(analysed_rows);
        assert_eq!(
            db.query("SELECT reltuples::int8 FROM pg_class WHERE relname = 'events'"),
            analysed_rows.to_string(),
            "the statistics are stale"
        );
        let project = Project::new();
        project.migration("1_n.up.sql", EVENTS_BACKFILL);
        let (code, stderr) = up(&project, &db);
        assert_eq!(code, Some(1), "analysed at {analysed_rows} rows: {stderr}");
        assert!(stderr.contains("error[backfill-in-migration]"), "{stderr}");
        assert_eq!(applied(&db), "");
        assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'n'"), "0");
        // `plan` sizes the table the same way: an error, not a warning for a small table.
        let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "analysed at {analysed_rows}: {}", output_text(&output).1);
        let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let diagnostics = plan["migrations"][0]["diagnostics"].as_array().unwrap();
        let backfill = diagnostics.iter().find(|d| d["rule"] == "backfill-in-migration").unwrap();
        assert_eq!(backfill["severity"], "error", "{backfill}");
    }
}

/// Found by the third tester: the full-table write under ADD COLUMN's lock, spelled otherwise
/// than `UPDATE users SET ...` with no WHERE. Each is refused with nothing applied on a large
/// `users` (300,000 rows, made before the folder); a write pinned to the primary key applies.
#[test]
fn every_spelling_of_a_full_table_write_under_a_held_lock_is_refused() {
    let db = users_outside_the_folder(LARGE);
    db.query(
        "CREATE TABLE archive (id bigint PRIMARY KEY, email varchar(200), name text);
         CREATE VIEW active_users AS SELECT * FROM users WHERE id > 0;
         ANALYZE users; ANALYZE archive;",
    );
    const ADD: &str = "ALTER TABLE users ADD COLUMN n int;\n";
    for dml in [
        "UPDATE users SET n = 1 WHERE id > 0;",
        "UPDATE users SET n = 1 WHERE name LIKE 'user%';",
        "DELETE FROM users WHERE id > 0;",
        "MERGE INTO users u USING archive a ON u.id = a.id WHEN NOT MATCHED BY SOURCE THEN UPDATE SET n = 1;",
        "WITH x AS (UPDATE users SET n = 1 RETURNING id) SELECT count(*) FROM x;",
        "INSERT INTO archive SELECT id, email, name FROM users;",
        "UPDATE active_users SET n = 1 WHERE id = 5;",
        "UPDATE public.users SET n = 1 WHERE n IS NULL;",
        "DO $$ BEGIN IF true THEN UPDATE users SET n = 1 WHERE n IS NULL; END IF; END $$;",
    ] {
        let project = Project::new();
        project.migration("1_n.up.sql", &format!("{ADD}{dml}\n"));
        let (code, stderr) = up(&project, &db);
        assert_eq!(code, Some(1), "{dml}: {stderr}");
        assert!(stderr.contains("1_n.up.sql:2: error[backfill-in-migration]"), "{dml}: {stderr}");
        assert!(stderr.contains("ACCESS EXCLUSIVE lock taken at line 1"), "{dml}: {stderr}");
        assert_eq!(applied(&db), "", "{dml}");
        assert!(!column_exists(&db, "n"), "{dml}");
        assert_eq!(db.query("SELECT count(*) FROM archive"), "0", "{dml}");
    }
    // One row by its primary key holds the lock for a moment: a warning, and it applies.
    let project = Project::new();
    project.migration("1_n.up.sql", &format!("{ADD}UPDATE users SET n = 1 WHERE id = 5;\n"));
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM users WHERE n = 1"), "1");
}

/// Found by the third tester: after `SET search_path = app` in the file, `users` is
/// `app.users` (300,000 rows), not the small `public.users` the session's own path finds.
#[test]
fn names_after_set_search_path_in_the_file_are_found_on_it() {
    let db = users_outside_the_folder(10);
    db.query(&format!(
        "CREATE SCHEMA app; CREATE TABLE app.users (id bigint PRIMARY KEY, name text);
         INSERT INTO app.users SELECT i, 'user ' || i FROM generate_series(1, {LARGE}) AS i; ANALYZE app.users;"
    ));
    let app_column =
        || db.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'app' AND column_name = 'x'");
    for set in [
        "SET search_path = app;",
        "SET LOCAL search_path TO app, public;",
        "SELECT set_config('search_path', 'app', false);",
    ] {
        let project = Project::new();
        project
            .migration("1_x.up.sql", &format!("{set}\nALTER TABLE users ADD COLUMN x int;\nUPDATE users SET x = 1;\n"));
        let (code, stderr) = up(&project, &db);
        assert_eq!(code, Some(1), "{set}: {stderr}");
        assert!(stderr.contains("1_x.up.sql:3: error[backfill-in-migration]"), "{set}: {stderr}");
        assert!(stderr.contains("`app.users` has about 300000 rows"), "{set}: {stderr}");
        assert_eq!(applied(&db), "", "{set}");
        assert_eq!(app_column(), "0", "{set}");
    }
}

/// The same bug written the other way: on a database whose `search_path` is `app, public`,
/// `public.small` is not the `small` the path finds (`app.small`, 500 rows) but a table of
/// 300,000 rows of its own.
#[test]
fn a_qualified_name_is_the_table_it_names_whatever_the_databases_search_path() {
    let db = users_outside_the_folder(10);
    db.query(&format!(
        "CREATE TABLE small (id int); INSERT INTO small SELECT generate_series(1, {LARGE}); ANALYZE small;
         CREATE SCHEMA app; CREATE TABLE app.small (id int);
         INSERT INTO app.small SELECT generate_series(1, 500); ANALYZE app.small;"
    ));
    let name = db.query("SELECT current_database()");
    db.query(&format!("ALTER DATABASE {name} SET search_path = app, public"));
    let project = Project::new();
    project.migration(
        "1_status.up.sql",
        "ALTER TABLE public.small ADD COLUMN status text;\nUPDATE public.small SET status = 'x';\n",
    );
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error[backfill-in-migration]") && stderr.contains("`public.small` has about"), "{stderr}");
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'small' AND column_name = 'status'"
        ),
        "0",
        "nothing applied"
    );
}

/// Found by the fourth tester: an inheritance parent's rows include its children's (an UPDATE
/// without ONLY reaches them all: TimescaleDB's and pg_partman's older layouts), and a table
/// of few but wide rows is no small table. Both were judged "small, the lock is brief".
#[test]
fn inheritance_children_and_wide_rows_count_toward_a_tables_size() {
    let db = PgDb::new();
    db.query(
        "CREATE TABLE readings (id bigint, v text);
         CREATE TABLE readings_2026 () INHERITS (readings);
         INSERT INTO readings_2026 SELECT i, 'r' FROM generate_series(1, 300000) AS i;
         CREATE TABLE wide (id bigint PRIMARY KEY, payload text);
         ALTER TABLE wide ALTER COLUMN payload SET STORAGE PLAIN;
         INSERT INTO wide SELECT i, repeat(md5(i::text), 237) FROM generate_series(1, 9500) AS i;
         ANALYZE readings; ANALYZE readings_2026; ANALYZE wide;",
    );
    // Fewer rows than a small table's bound, in more bytes (one row a page) than its size bound.
    assert_eq!(db.query("SELECT pg_relation_size('wide') > 64 * 1024 * 1024"), "t");
    for (table, dml) in [("readings", "UPDATE readings SET n = 0;"), ("wide", "UPDATE wide SET n = 0;")] {
        let project = Project::new();
        project.migration("1_n.up.sql", &format!("ALTER TABLE {table} ADD COLUMN n int;\n{dml}\n"));
        let (code, stderr) = up(&project, &db);
        assert_eq!(code, Some(1), "{table}: {stderr}");
        assert!(stderr.contains("error[backfill-in-migration]"), "{table}: {stderr}");
        assert_eq!(applied(&db), "", "{table}");
        // `plan` agrees: an error, with the table's size.
        let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{table}: {}", output_text(&output).1);
    }
}

/// Found by the fourth tester: `--allow-unsafe` was offered for statements PostgreSQL refuses
/// where they stand (it recorded an approval, then the migration failed).
#[test]
fn a_refusal_offers_no_override_for_what_the_database_would_refuse() {
    let db = PgDb::new();
    db.query("CREATE TABLE events (id bigint, at date) PARTITION BY RANGE (at)");
    let project = Project::new();
    project.migration("1_i.up.sql", "CREATE INDEX CONCURRENTLY events_at ON events (at);\n");
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error[concurrent-index-on-partitioned-table]"), "{stderr}");
    assert!(!stderr.contains("--allow-unsafe"), "{stderr}");
    assert!(stderr.contains("the database would refuse it as it stands"), "{stderr}");
    assert_eq!(applied(&db), "");
}

/// Functions made outside the folder are known with their volatility: a default calling a
/// volatile one rewrites the table (refused, nothing applied), and a `SELECT` calling one after
/// a lock runs code cutover cannot see (said, with the function's name); a stable one is plain.
#[test]
fn the_databases_own_functions_are_judged_by_their_volatility() {
    let db = users_outside_the_folder(LARGE);
    db.query(
        "CREATE FUNCTION new_code() RETURNS text LANGUAGE sql AS $$ SELECT md5(random()::text) $$;
         CREATE FUNCTION fill_users() RETURNS void LANGUAGE sql AS $$ UPDATE users SET name = upper(name) $$;
         CREATE FUNCTION fixed_code() RETURNS text STABLE LANGUAGE sql AS $$ SELECT 'x' $$;",
    );
    let db_url = db.url.clone();

    let project = Project::new();
    project.migration("V1__code.sql", "ALTER TABLE users ADD COLUMN code text DEFAULT new_code();\n");
    let (code, errors) = lint_errors(&project, &db, &["--database-url", &db_url]);
    assert_eq!((code, errors), (Some(1), vec!["add-column-volatile-default".to_string()]));
    let (code, stderr) = up(&project, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("add-column-volatile-default"), "{stderr}");
    assert!(!column_exists(&db, "code"), "nothing applied");

    let stable = Project::new();
    stable.migration("V1__code.sql", "ALTER TABLE users ADD COLUMN code text DEFAULT fixed_code();\n");
    assert_eq!(lint_errors(&stable, &db, &["--database-url", &db_url]), (Some(0), vec![]));

    let call = Project::new();
    call.migration("V1__fill.sql", "ALTER TABLE users ADD COLUMN note text;\nSELECT fill_users();\n");
    let output = call.cutover(&db.url).args(["lint", "--database-url", &db_url]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(stdout.contains("unanalyzable-statement"), "{stdout}");
    assert!(stdout.contains("call of `fill_users`"), "{stdout}");
    assert!(stdout.contains("lock-held-across-statements"), "{stdout}");
}

/// Found by the fifth tester: a goose `StatementBegin` block of an ALTER and a full-table
/// UPDATE was read as one statement, its first; and the lock and the write inside one DO
/// block passed. Both are refused now, with nothing applied.
#[test]
fn a_write_hidden_in_a_goose_block_or_beside_its_lock_in_a_do_block_is_refused() {
    let db = users_outside_the_folder(LARGE);
    let goose = Project::new();
    goose.migration(
        "20240101000000_fill.sql",
        "-- +goose Up\n-- +goose StatementBegin\nALTER TABLE users ADD COLUMN s int;\nUPDATE users SET s = 0;\n-- +goose StatementEnd\n\n-- +goose Down\nALTER TABLE users DROP COLUMN s;\n",
    );
    let (code, stderr) = up(&goose, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("20240101000000_fill.sql:4: error[backfill-in-migration]"), "{stderr}");
    assert!(!column_exists(&db, "s"));

    let block = Project::new();
    block.migration(
        "1_fill.up.sql",
        "DO $$\nBEGIN\n  ALTER TABLE users ADD COLUMN s int;\n  UPDATE users SET s = 0;\nEND $$;\n",
    );
    let (code, stderr) = up(&block, &db);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error[backfill-in-migration]"), "{stderr}");
    assert!(stderr.contains("the DO block, which writes every row of `users`, runs under"), "{stderr}");
    assert!(!column_exists(&db, "s"));
    assert_eq!(applied(&db), "");
}
