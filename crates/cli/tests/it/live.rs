//! `cutover plan` and `cutover rehearse` on a real PostgreSQL (with pg_stat_statements, which
//! `scripts/services.sh` preloads).

use serde_json::Value;

use crate::util::{output_text, PgDb, Project};

/// A project whose migration 1 (users) is applied and holds `rows` rows, with a view on
/// `users.name` and recorded queries that read it.
fn applied_users(rows: usize) -> (PgDb, Project) {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, name text, email text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n");
    project.cutover(&db.url).arg("up").assert().success();
    db.query(&format!(
        "INSERT INTO users SELECT g, 'n' || g, 'e' || g FROM generate_series(1, {rows}) g; ANALYZE users; \
         CREATE VIEW user_names AS SELECT name FROM users; CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
    ));
    for id in 1..=4 {
        db.query(&format!("SELECT name FROM users WHERE id = {id}"));
    }
    (db, project)
}

fn json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", output_text(output).1))
}

#[test]
fn plan_says_what_a_migration_costs_on_this_database() {
    let (db, project) = applied_users(50_000);
    project
        .migration(
            "2_change.up.sql",
            "CREATE INDEX users_email ON users (email);\nALTER TABLE users DROP COLUMN name CASCADE;\n",
        )
        .migration("2_change.down.sql", "ALTER TABLE users ADD COLUMN name text;\nDROP INDEX users_email;\n");
    // cutover's own reads of the table (a rehearsal's sample) are not the application's.
    let output = project.cutover(&db.url).args(["rehearse", "--sample-rows", "100"]).output().unwrap();
    assert!(output.status.code().is_some_and(|c| c < 2), "{:?}", output_text(&output));
    let output =
        project.cutover(&db.url).args(["plan", "--format", "json", "--large-table-rows", "10000"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "error-level findings exit 1");
    let plan = json(&output);
    let migration = &plan["migrations"][0];
    assert_eq!(migration["migration"], "2 change");
    let index = &migration["statements"][0];
    assert_eq!(index["locks"][0]["relation"], "users");
    assert_eq!(index["locks"][0]["mode"], "SHARE");
    let rows = index["locks"][0]["rows"].as_i64().unwrap();
    assert!((45_000..=55_000).contains(&rows), "the planner's estimate: {rows}");
    assert!(index["estimated_seconds"].as_f64().unwrap() > 0.0);
    let drop = &migration["statements"][1];
    assert_eq!(drop["dependents"][0]["kind"], "view");
    assert_eq!(drop["dependents"][0]["name"], "user_names");
    let queries = drop["queries"].as_array().unwrap();
    let select = queries.iter().find(|q| q["query"].as_str().unwrap().starts_with("SELECT name FROM users")).unwrap();
    assert!(select["calls"].as_i64().unwrap() >= 4, "{select}");
    // Neither the sample's COPY nor the DDL that made the table and the view.
    for query in queries {
        let text = query["query"].as_str().unwrap();
        assert!(!text.contains("COPY") && !text.starts_with("CREATE"), "not the application's: {text}");
    }
    let rules: Vec<&str> =
        migration["diagnostics"].as_array().unwrap().iter().map(|d| d["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"large-table-blocking-op") && rules.contains(&"drop-column"), "{rules:?}");

    db.query("CREATE VIEW short_names AS SELECT left(name, 3) FROM user_names");
    project.migration("3_views.up.sql", "DROP VIEW user_names CASCADE;\n");
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(stdout.contains("users.name is used by view user_names"), "{stdout}");
    assert!(stdout.contains("ACCESS EXCLUSIVE on user_names (blocks reads and writes; a view)"), "{stdout}");
    assert!(stdout.contains("user_names is used by view short_names"), "{stdout}");
    assert!(stdout.contains("still read by"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE version = '2'"), "0", "plan changes nothing");
}

/// `plan` judges as the gate of `up` does (the fourth tester found `plan` calling brief what
/// `up` refused): a blocking DDL stays an error on a small table, whose size it names; a
/// full-table write there is a warning in both.
#[test]
fn plan_and_the_gate_agree_on_small_tables() {
    let (db, project) = applied_users(12);
    project
        .migration("2_index.up.sql", "CREATE INDEX users_email ON users (email);\n")
        .migration("2_index.down.sql", "DROP INDEX users_email;\n");
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan = json(&output);
    let finding = &plan["migrations"][0]["diagnostics"][0];
    assert_eq!(finding["rule"], "index-create-blocking");
    assert_eq!(finding["severity"], "error", "{finding}");
    assert!(finding["message"].as_str().unwrap().contains("12 rows"), "{finding}");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(project.cutover(&db.url).arg("up").output().unwrap().status.code(), Some(1), "up refuses it too");

    std::fs::remove_file(project.path("migrations/2_index.up.sql")).unwrap();
    std::fs::remove_file(project.path("migrations/2_index.down.sql")).unwrap();
    project.migration("3_age.up.sql", "ALTER TABLE users ADD COLUMN age int;\nUPDATE users SET age = 1;\n");
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan = json(&output);
    let finding = &plan["migrations"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "backfill-in-migration")
        .cloned()
        .unwrap();
    assert_eq!(finding["severity"], "warning", "{finding}");
    assert_eq!(project.cutover(&db.url).arg("up").output().unwrap().status.code(), Some(0), "up applies it");
}

/// Tester 20: a type change of a column a view reads, which PostgreSQL refuses, was planned as
/// a rewrite with nothing said of the view: the view is named.
#[test]
fn plan_names_the_views_that_read_a_column_whose_type_changes() {
    let (db, project) = applied_users(100);
    project.migration("2_type.up.sql", "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);\n");
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan = json(&output);
    let retype = &plan["migrations"][0]["statements"][0];
    assert_eq!(retype["dependents"][0]["on"], "users.name", "{retype}");
    assert_eq!(retype["dependents"][0]["name"], "user_names", "{retype}");
}

/// Tester 20: after `users` was renamed onto the name of an empty table, `plan` showed that
/// table's 0 rows (and the gate let a full-table UPDATE of `users` through as brief). Sizes
/// follow the table through the renames of the pending migrations.
#[test]
fn plan_and_the_gate_follow_a_table_through_renames() {
    let (db, project) = applied_users(30_000);
    db.query("CREATE TABLE empty_t (id int); ANALYZE empty_t");
    project.migration(
        "2_swap.up.sql",
        "-- cutover:ignore-file rename-relation reason=\"swap names\"\nALTER TABLE empty_t RENAME TO empty_old;\nALTER TABLE users RENAME TO empty_t;\n",
    );
    project.migration("3_fill.up.sql", "ALTER TABLE empty_t ADD COLUMN f int;\nUPDATE empty_t SET f = 1;\n");
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan = json(&output);
    let fill = &plan["migrations"][1];
    let lock = &fill["statements"][1]["locks"][0];
    assert_eq!((lock["relation"].as_str(), lock["rows"].as_i64()), (Some("empty_t"), Some(30_000)), "{fill}");
    let finding =
        fill["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "backfill-in-migration").unwrap();
    assert_eq!(finding["severity"], "error", "{finding}");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "the gate refuses the UPDATE of 30,000 rows: {stderr}");
    assert!(stderr.contains("backfill-in-migration"), "{stderr}");
}

/// Whether the database named `name` exists on the server.
fn database_exists(db: &PgDb, name: &str) -> bool {
    db.query(&format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")) != "0"
}

#[test]
fn rehearse_checks_predictions_and_round_trips() {
    let (db, project) = applied_users(100);
    project
        .migration(
            "2_age.up.sql",
            "ALTER TABLE users ADD COLUMN age int;\nCREATE INDEX users_age ON users (age);\nUPDATE users SET age = 1 WHERE id < 10;\n",
        )
        .migration("2_age.down.sql", "DROP INDEX users_age;\nALTER TABLE users DROP COLUMN age;\n")
        .migration("3_email.up.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(100);\n")
        .migration("3_email.down.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(200);\n")
        .migration("4_nick.up.sql", "ALTER TABLE users ADD COLUMN nick text;\n");
    let before = db.query("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'users'");
    let output = project.cutover(&db.url).args(["rehearse", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "a down that does not reverse is a problem");
    let report = json(&output);
    assert_eq!(report["scratch"], "replay");
    assert_eq!(report["replayed"], 1);
    let age = &report["migrations"][0];
    assert_eq!(age["round_trip"], "reverses", "{age}");
    for statement in age["statements"].as_array().unwrap() {
        assert_eq!(statement["disagreements"], serde_json::json!([]), "{statement}");
    }
    let observed = &age["statements"][1]["observed_locks"];
    assert!(
        observed.as_array().unwrap().iter().any(|l| l["relation"] == "users" && l["mode"] == "ShareLock"),
        "{observed}"
    );
    let email = &report["migrations"][1];
    assert_eq!(email["statements"][0]["rewritten"], serde_json::json!(["users"]), "a real rewrite: {email}");
    assert_eq!(email["statements"][0]["predicted_rewrite"], true);
    assert_eq!(email["round_trip"], "differs");
    assert_eq!(
        email["schema_after_down"],
        serde_json::json!(["- column users.email text", "+ column users.email character varying(200)"])
    );
    assert_eq!(report["migrations"][2]["round_trip"], "no down script");
    assert_eq!(report["problems"], 1);

    // The live database is untouched, and the scratch database is gone.
    let after = db.query("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'users'");
    assert_eq!(before, after);
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE version <> '1'"), "0");
    let scratch = report["scratch_database"].as_str().unwrap();
    assert!(scratch.starts_with("cutover_rehearsal_"));
    assert!(!database_exists(&db, scratch), "the scratch database is dropped");
}

#[test]
fn rehearse_on_a_copy_and_reports_a_failing_migration() {
    let (db, project) = applied_users(10);
    project.migration("2_bad.up.sql", "ALTER TABLE users ADD COLUMN x int;\nALTER TABLE nowhere ADD COLUMN y int;\n");
    let output = project.cutover(&db.url).args(["rehearse", "--template"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("rehearsed on a copy of the database (cutover_rehearsal_"), "{stdout}");
    let scratch = stdout.split('(').nth(1).and_then(|rest| rest.split(',').next()).unwrap();
    assert!(!database_exists(&db, scratch), "{scratch} is dropped");
    assert!(stdout.contains("failed: ") && stdout.contains("2_bad.up.sql:2"), "{stdout}");
    assert!(stdout.contains("relation \"nowhere\" does not exist"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'x'"), "0");
}

/// The rules' own examples (docs/rules), each a migration, rehearsed: the locks and rewrites the
/// analysis predicts are the ones PostgreSQL takes. (Examples PostgreSQL refuses outright, such
/// as a concurrent build inside a transaction, cannot be observed and are left out.)
#[test]
fn rehearsal_agrees_with_the_rule_examples() {
    let db = PgDb::new();
    let project = Project::new();
    let schema = "CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE order_status AS ENUM ('new', 'shipped');
CREATE DOMAIN email AS text;
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, plan text DEFAULT 'free', active boolean);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, total int, status order_status);
CREATE TABLE people (id int PRIMARY KEY, mood mood);
CREATE TABLE rooms (room int, during tsrange);
CREATE TABLE audit_log (id bigint, at timestamptz);
CREATE TABLE events (id bigint, created_at date, user_id bigint) PARTITION BY RANGE (created_at);
CREATE TABLE events_2020 PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE events_2021 (id bigint, created_at date, user_id bigint);
CREATE MATERIALIZED VIEW daily_sales AS SELECT count(*) AS n FROM orders;
CREATE FUNCTION sync_user() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE INDEX i ON users (name);
";
    project.migration("001_schema.up.sql", schema).migration("001_schema.down.sql", "SELECT 1;\n");
    let examples: &[(&str, &str)] = &[
        ("add_column_table_rewrite", "ALTER TABLE orders ADD COLUMN seq bigserial;"),
        ("add_column_volatile_default", "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();"),
        ("backfill_in_migration", "UPDATE users SET active = true;"),
        ("column_type_rewrite", "ALTER TABLE users ALTER COLUMN email TYPE varchar(50);"),
        ("constraint_not_valid_missing", "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);"),
        ("domain_constraint_change", "ALTER DOMAIN email ADD CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');"),
        ("drop_default_compat", "ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;"),
        ("drop_not_null_compat", "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;"),
        ("enum_value_order_or_rename", "ALTER TYPE order_status RENAME VALUE 'shipped' TO 'dispatched';"),
        ("exclusion_constraint", "ALTER TABLE rooms ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);"),
        ("fk_locks_referenced_table", "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);"),
        ("fk_missing_index", "CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));"),
        ("index_create_blocking", "CREATE INDEX users_email ON users (email);"),
        ("index_drop_blocking", "DROP INDEX i;"),
        ("invalid_index_leftover", "-- cutover:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_name ON users (name);"),
        ("lock_held_across_statements", "ALTER TABLE users ADD COLUMN score int;\nUPDATE users SET score = 0;"),
        ("matview_refresh_blocking", "REFRESH MATERIALIZED VIEW daily_sales;"),
        ("multiple_alter_same_table", "ALTER TABLE users ADD COLUMN a int;\nALTER TABLE users ADD COLUMN b int;"),
        ("partition_attach_scan", "ALTER TABLE events ATTACH PARTITION events_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');"),
        ("partition_detach_blocking", "ALTER TABLE events DETACH PARTITION events_2020;"),
        ("prefer_tables", "CREATE TABLE t1 (id serial PRIMARY KEY, doc json, name varchar(100), at timestamp);"),
        ("reindex_blocking", "REINDEX TABLE users;"),
        ("rename_relation", "ALTER TABLE users RENAME COLUMN name TO full_name;"),
        ("set_not_null_scan", "ALTER TABLE users ALTER COLUMN full_name SET NOT NULL;"),
        ("table_rewrite_command", "-- cutover:no-transaction\nVACUUM FULL users;"),
        ("trigger_ddl_lock", "CREATE TRIGGER users_sync AFTER INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION sync_user();"),
        ("truncate_table", "TRUNCATE audit_log;"),
        ("unanalyzable_statement", "DO $$ BEGIN PERFORM 1; END $$;"),
        ("unique_constraint_builds_index", "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);"),
        ("validate_same_transaction", "ALTER TABLE orders ADD CONSTRAINT checked CHECK (total >= 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT checked;"),
        ("drop_column", "ALTER TABLE users DROP COLUMN plan;"),
        ("drop_table", "DROP TABLE people;"),
    ];
    project.cutover(&db.url).arg("up").assert().success();
    for (idx, (name, sql)) in examples.iter().enumerate() {
        project.migration(&format!("{:03}_{name}.up.sql", idx + 2), &format!("{sql}\n"));
    }
    let output = project.cutover(&db.url).args(["rehearse", "--format", "json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", output_text(&output).1));
    let migrations = report["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), examples.len(), "every example ran: {report:#}");
    for m in migrations {
        assert!(m["failure"].is_null(), "{}", m["failure"]);
        for s in m["statements"].as_array().unwrap() {
            assert_eq!(s["disagreements"], serde_json::json!([]), "{}: {}", m["migration"], s["sql"]);
        }
    }
}

/// A replayed scratch database is empty, so a migration that only data breaks passes there;
/// with `--sample-rows` it meets a sample of the real rows (children whose parents the sample
/// left out included: the key comes back NOT VALID) and fails as it would in production.
#[test]
fn a_sample_of_the_rows_makes_the_rehearsal_meet_real_data() {
    let (db, project) = applied_users(50_000);
    project.migration(
        "2_orders.up.sql",
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, total numeric);\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    db.query("INSERT INTO orders SELECT g, 1 + (g * 7919) % 50000, g FROM generate_series(1, 20000) g; ANALYZE orders");
    // Only data breaks it: ids above 100 exist.
    project.migration(
        "3_small_ids.up.sql",
        "-- cutover:ignore constraint-not-valid-missing reason=\"rehearsed\"\nALTER TABLE users ADD CONSTRAINT small_ids CHECK (id <= 100);\n",
    );
    project.migration("3_small_ids.down.sql", "ALTER TABLE users DROP CONSTRAINT small_ids;\n");

    let empty = json(&project.cutover(&db.url).args(["rehearse", "--format", "json"]).output().unwrap());
    assert_eq!(empty["scratch"], "replay");
    assert!(empty["sampled"].is_null());
    assert!(empty["migrations"][0]["failure"].is_null(), "{:#}", empty["migrations"][0]);

    let output =
        project.cutover(&db.url).args(["rehearse", "--sample-rows", "500", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    let sampled = json(&output);
    assert_eq!(sampled["sampled"]["tables"], 2, "{:#}", sampled["sampled"]);
    let rows = sampled["sampled"]["rows"].as_u64().unwrap();
    assert!((600..=1000).contains(&rows), "about 500 rows of each table: {rows}");
    let failure = sampled["migrations"][0]["failure"].as_str().unwrap_or_default();
    assert!(failure.contains("is violated by some row"), "{failure}");
    // Nothing was written to the database itself.
    assert_eq!(db.query("SELECT count(*) FROM pg_constraint WHERE conname = 'small_ids'"), "0");
    assert_eq!(db.query("SELECT count(*) FROM orders"), "20000");

    let human = project.cutover(&db.url).args(["rehearse", "--sample-rows", "100"]).output().unwrap();
    let (stdout, _) = output_text(&human);
    assert!(stdout.contains("replayed and a sample of") && stdout.contains("rows in 2 tables"), "{stdout}");
}

/// A user's table whose name looks like cutover's own is sampled like any other: only the
/// tables cutover makes beside its configured history are left out.
#[test]
fn a_user_table_named_like_cutovers_is_sampled() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_notes.up.sql", "CREATE TABLE cutover_notes (id int PRIMARY KEY, note text NOT NULL);\n");
    project.cutover(&db.url).arg("up").assert().success();
    db.query("INSERT INTO cutover_notes SELECT g, 'note ' || g FROM generate_series(1, 200) g");
    project.migration(
        "2_short.up.sql",
        "-- cutover:ignore constraint-not-valid-missing reason=\"rehearsed\"\nALTER TABLE cutover_notes ADD CONSTRAINT short CHECK (length(note) < 3);\n",
    );
    let output =
        project.cutover(&db.url).args(["rehearse", "--sample-rows", "50", "--format", "json"]).output().unwrap();
    let report = json(&output);
    assert_eq!(report["sampled"]["tables"], 1, "{report:#}");
    let failure = report["migrations"][0]["failure"].as_str().unwrap_or_default();
    assert!(failure.contains("is violated by some row"), "{report:#}");
}

/// Dropping a table locks the tables its foreign keys reference, which only the catalog knows:
/// `plan` gives their sizes too, not "not in the database yet".
#[test]
fn plan_sizes_the_tables_a_dropped_tables_foreign_keys_lock() {
    let db = PgDb::new();
    db.query(
        "CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent SELECT generate_series(1, 500); \
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id)); ANALYZE parent",
    );
    let project = Project::new();
    project.migration("1_baseline.up.sql", "SELECT 1;\n");
    project.migration("2_drop.up.sql", "DROP TABLE child;\n");
    assert!(project.cutover(&db.url).args(["baseline", "1"]).output().unwrap().status.success());
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan = json(&output);
    let locks = plan["migrations"][0]["statements"][0]["locks"].as_array().unwrap().clone();
    let parent = locks.iter().find(|l| l["relation"] == "parent").unwrap_or_else(|| panic!("{locks:?}"));
    assert!(parent["rows"].as_i64().is_some_and(|r| r >= 500), "{parent}");
}

/// `plan` names the sessions a statement's lock would wait for now: a transaction that read the
/// table (an ALTER waits for it; a concurrent index build does not), and a statement queued for
/// the lock ahead of it; once they are gone, nobody.
#[test]
fn plan_names_the_sessions_a_statements_lock_would_wait_for_now() {
    let (db, project) = applied_users(100);
    project.migration(
        "2_email.up.sql",
        "-- cutover:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\nALTER TABLE users ADD COLUMN phone text;\n",
    );
    let mut reader = db.client();
    reader.batch_execute("SET application_name = 'report-job'; BEGIN; SELECT count(*) FROM users").unwrap();
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan = json(&output);
    assert_eq!(plan["lock_holders_exact"], true);
    let statements = &plan["migrations"][0]["statements"];
    assert_eq!(statements[0]["waits_for"], serde_json::json!([]), "a concurrent build waits for no reader");
    let waits = statements[1]["waits_for"].as_array().unwrap();
    assert_eq!(waits.len(), 1, "{waits:?}");
    let session = waits[0]["session"].as_str().unwrap();
    assert!(session.contains("report-job") && session.contains("holds AccessShareLock on users"), "{session}");
    assert!(waits[0]["since"].as_str().is_some_and(|s| s.ends_with('Z')), "{waits:?}");

    // A statement queued for the lock goes first too.
    let url = db.url.clone();
    let queued = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute("SET application_name = 'other-deploy'; ALTER TABLE users ADD COLUMN fax text").unwrap();
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.query("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass") == "0" {
        assert!(std::time::Instant::now() < deadline, "the ALTER never queued");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(stdout.contains("would wait now for pid") && stdout.contains("report-job"), "{stdout}{stderr}");
    assert!(stdout.contains("other-deploy") && stdout.contains("waits for AccessExclusiveLock on users"), "{stdout}");
    let output = project.cutover(&db.url).args(["plan", "--format", "markdown"]).output().unwrap();
    let (markdown, _) = output_text(&output);
    assert!(markdown.contains("- line 3: would wait now for `pid"), "{markdown}");
    reader.batch_execute("COMMIT").unwrap();
    queued.join().unwrap();
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan = json(&output);
    assert_eq!(plan["migrations"][0]["statements"][1]["waits_for"], serde_json::json!([]));
}

/// What the tester found `plan` missing or inventing: a concurrent index build waits for every
/// transaction holding a snapshot (a repeatable-read one that read another table), a
/// concurrent drop for a plain reader; a statement on a partitioned table waits for readers of
/// its partitions; a session of another database (a copy with the same table OIDs) is no
/// one's; more than five are counted, not cut.
#[test]
fn plan_names_the_waits_of_concurrent_builds_partitions_and_nothing_of_other_databases() {
    let (db, project) = applied_users(100);
    db.query(
        "CREATE INDEX users_name_i ON users (name); CREATE TABLE other (id int); \
         CREATE TABLE parted (id int, at date) PARTITION BY RANGE (at); \
         CREATE TABLE parted_2024 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    );
    project.migration(
        "2_more.up.sql",
        "-- cutover:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n\
         DROP INDEX CONCURRENTLY IF EXISTS users_name_i;\nALTER TABLE parted ADD COLUMN x int;\n",
    );
    let mut snapshot = db.client();
    snapshot
        .batch_execute(
            "SET application_name = 'rr-report'; BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM other",
        )
        .unwrap();
    let mut reader = db.client();
    reader.batch_execute("SET application_name = 'plain-reader'; BEGIN; SELECT count(*) FROM users").unwrap();
    let mut partition = db.client();
    partition
        .batch_execute("SET application_name = 'partition-reader'; BEGIN; SELECT count(*) FROM parted_2024")
        .unwrap();
    let plan = json(&project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap());
    let sessions = |line: usize| -> Vec<String> {
        let statements = plan["migrations"][0]["statements"].as_array().unwrap();
        let statement = statements.iter().find(|s| s["line"] == line).unwrap();
        statement["waits_for"].as_array().unwrap().iter().map(|w| w["session"].as_str().unwrap().to_string()).collect()
    };
    let build = sessions(2);
    assert!(build.iter().any(|s| s.contains("rr-report") && s.contains("holds a snapshot")), "{build:?}");
    assert!(
        !build.iter().any(|s| s.contains("plain-reader")),
        "a build does not wait for a read-committed reader: {build:?}"
    );
    let dropped = sessions(3);
    assert!(dropped.iter().any(|s| s.contains("plain-reader")), "{dropped:?}");
    let alter = sessions(4);
    assert!(alter.iter().any(|s| s.contains("partition-reader") && s.contains("parted_2024")), "{alter:?}");
    drop_sessions(vec![snapshot, reader, partition]);

    // A copy of the database has the same OIDs: its sessions are not this one's.
    let copy = format!("{}_copy", db.name);
    let mut admin = crate::util::admin_client();
    // The sessions above take a moment to be gone from the template.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Err(err) = admin.batch_execute(&format!("CREATE DATABASE {copy} TEMPLATE {}", db.name)) {
        assert!(std::time::Instant::now() < deadline, "{err}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let copy_url = db.url.replace(&format!("/{}", db.name), &format!("/{copy}"));
    let mut elsewhere = postgres::Client::connect(&copy_url, postgres::NoTls).unwrap();
    elsewhere.batch_execute("SET application_name = 'copy-reader'; BEGIN; SELECT count(*) FROM users").unwrap();
    let mut readers: Vec<postgres::Client> = (0..7)
        .map(|i| {
            let mut client = db.client();
            client
                .batch_execute(&format!("SET application_name = 'reader-{i}'; BEGIN; SELECT count(*) FROM parted"))
                .unwrap();
            client
        })
        .collect();
    let plan = json(&project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap());
    let statements = plan["migrations"][0]["statements"].as_array().unwrap();
    let alter: Vec<&str> =
        statements[2]["waits_for"].as_array().unwrap().iter().map(|w| w["session"].as_str().unwrap()).collect();
    assert_eq!(alter.len(), 6, "five, then how many more: {alter:?}");
    assert_eq!(alter[5], "and 2 more sessions (pg_locks lists them all)");
    let all = plan.to_string();
    assert!(!all.contains("copy-reader"), "{all}");
    readers.iter_mut().for_each(|r| r.batch_execute("COMMIT").unwrap());
    drop(elsewhere);
    admin.batch_execute(&format!("DROP DATABASE {copy} WITH (FORCE)")).unwrap();
}

fn drop_sessions(sessions: Vec<postgres::Client>) {
    for mut session in sessions {
        session.batch_execute("COMMIT").unwrap();
    }
}
