//! `cutover drift` on a real PostgreSQL: the live schema against what the applied migrations
//! build on a scratch database; `up --check-drift`; function settings in the rehearsal's round
//! trip.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::{admin_url, output_text, PgDb, Project};

/// Every kind of object a migration makes: an extension, a schema, an enum, a domain, a
/// sequence, tables (one in another schema), an identity, defaults, a foreign key, an index, a
/// view, a function with `SET search_path FROM CURRENT`, a trigger, row-level security and a
/// policy; then a second migration.
const SCHEMA: &str = "CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE SCHEMA billing;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
CREATE SEQUENCE order_no START 1000;
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email email NOT NULL, name text,
    plan text DEFAULT 'free', legacy int, mood mood);
CREATE TABLE billing.orders (id bigint PRIMARY KEY DEFAULT nextval('order_no'), user_id bigint REFERENCES users,
    total int NOT NULL);
CREATE INDEX orders_user_id ON billing.orders (user_id);
CREATE VIEW active_users AS SELECT id, email FROM users WHERE plan <> 'free';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
    AS $$ BEGIN NEW.name := lower(NEW.name); RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON users USING (true);
";

/// A database with `SCHEMA` and a second migration applied by `up`.
fn applied() -> (PgDb, Project) {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("1_schema.up.sql", SCHEMA)
        .migration("1_schema.down.sql", "SELECT 1;\n")
        .migration("2_bio.up.sql", "ALTER TABLE users ADD COLUMN bio text;\n")
        .migration("2_bio.down.sql", "ALTER TABLE users DROP COLUMN bio;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    (db, project)
}

fn json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{:?}", output_text(output)))
}

/// (kind, name, change) of each difference `cutover drift --format json` lists.
fn differences(report: &Value) -> BTreeSet<(String, String, String)> {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let text = |key: &str| d[key].as_str().unwrap().to_string();
            (text("kind"), text("name"), text("change"))
        })
        .collect()
}

#[test]
fn no_drift_right_after_up() {
    let (db, project) = applied();
    let output = project.cutover(&db.url).arg("drift").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("compared with what 2 applied migrations build"), "{stdout}");
    assert!(stdout.contains("no drift: the database has the schema its 2 applied migrations build"), "{stdout}");
    let report = json(&project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap());
    assert_eq!(report["drifted"], false, "{report:#}");
    assert_eq!(report["replayed"], 2);
    assert_eq!(report["differences"], serde_json::json!([]));
    let scratch = report["scratch_database"].as_str().unwrap();
    assert_eq!(db.query(&format!("SELECT count(*) FROM pg_database WHERE datname = '{scratch}'")), "0", "dropped");

    // Nothing to warn of before the next migration either.
    project.migration("3_nick.up.sql", "ALTER TABLE users ADD COLUMN nick text;\n");
    let output = project.cutover(&db.url).args(["up", "--check-drift"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("drift"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'nick'"), "1");
}

#[test]
fn each_hand_made_change_is_detected_and_named() {
    let (db, project) = applied();
    // One change of each kind, each in its own transaction (ADD VALUE is one).
    for change in [
        "CREATE SCHEMA hand",
        "CREATE EXTENSION pg_trgm",
        "ALTER TYPE mood ADD VALUE 'ecstatic'",
        "ALTER DOMAIN email ADD CONSTRAINT short CHECK (length(VALUE) < 200)",
        "ALTER SEQUENCE order_no INCREMENT BY 10",
        "CREATE TABLE scratchpad (id int PRIMARY KEY, note text)",
        "ALTER TABLE users ADD COLUMN nick text",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(300)",
        "ALTER TABLE users DROP COLUMN legacy",
        "ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'pro'",
        "ALTER TABLE billing.orders ADD CONSTRAINT positive CHECK (total > 0)",
        "CREATE INDEX users_name_hand ON users (name)",
        "CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE plan = 'pro'",
        "ALTER FUNCTION touch() SECURITY DEFINER",
        "ALTER TABLE users DISABLE TRIGGER users_touch",
        "DROP POLICY own_rows ON users",
    ] {
        db.query(change);
    }
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "drift exits 1: {}", output_text(&output).1);
    let report = json(&output);
    assert_eq!(report["drifted"], true);
    let expected: BTreeSet<(String, String, String)> = [
        ("schema", "hand", "added"),
        ("extension", "pg_trgm", "added"),
        ("type", "mood", "changed"),
        ("type", "email", "changed"),
        ("sequence", "order_no", "changed"),
        ("table", "scratchpad", "added"),
        ("column", "users.nick", "added"),
        ("column", "users.name", "changed"),
        ("column", "users.legacy", "dropped"),
        ("column", "users.plan", "changed"),
        ("constraint", "billing.orders.positive", "added"),
        ("index", "users_name_hand", "added"),
        ("view", "active_users", "changed"),
        ("function", "touch()", "changed"),
        ("trigger", "users.users_touch", "changed"),
        ("policy", "users.own_rows", "dropped"),
    ]
    .iter()
    .map(|(k, n, c)| (k.to_string(), n.to_string(), c.to_string()))
    .collect();
    assert_eq!(differences(&report), expected, "{report:#}");

    // Each says what differs.
    let find =
        |name: &str| report["differences"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap().clone();
    let plan = find("users.plan");
    assert!(plan["migrations"].as_str().unwrap().contains("default 'free'"), "{plan}");
    assert!(plan["database"].as_str().unwrap().contains("default 'pro'"), "{plan}");
    let name = find("users.name");
    assert_eq!(name["migrations"], "text");
    assert_eq!(name["database"], "character varying(300)");
    assert!(find("mood")["database"].as_str().unwrap().ends_with("'happy', 'ecstatic')"));
    assert!(find("order_no")["database"].as_str().unwrap().contains("increment 10"));
    let touch = find("touch()");
    assert!(!touch["migrations"].as_str().unwrap().contains("security definer"), "{touch}");
    assert!(touch["database"].as_str().unwrap().contains("security definer"), "{touch}");
    assert!(touch["database"].as_str().unwrap().contains("set search_path="), "{touch}");
    assert!(find("users.users_touch")["database"].as_str().unwrap().ends_with("(disabled)"));
    assert!(find("users_name_hand")["database"]
        .as_str()
        .unwrap()
        .starts_with("CREATE INDEX users_name_hand ON public.users"));
    assert!(find("users.legacy")["database"].is_null());
    assert!(find("users.own_rows")["migrations"].as_str().unwrap().contains("permissive for all to public"));
    // A table made by hand comes with its parts, not beside them.
    assert_eq!(
        find("scratchpad")["with"],
        serde_json::json!(["column scratchpad.id", "column scratchpad.note", "constraint scratchpad.scratchpad_pkey"])
    );

    let output = project.cutover(&db.url).arg("drift").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1));
    for line in [
        "index users_name_hand: added outside the migrations",
        "column users.name: changed outside the migrations",
        "column users.legacy: dropped outside the migrations",
        "function touch(): changed outside the migrations",
        "16 differences: the database has drifted from what its migrations build",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(stdout.contains("    migrations  text\n    database    character varying(300)"), "{stdout}");
}

#[test]
fn up_warns_before_applying_onto_a_drifted_database() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, name text);\n");
    project.cutover(&db.url).arg("up").assert().success();
    db.query("CREATE INDEX users_name_hand ON users (name)");
    project.migration("2_bio.up.sql", "ALTER TABLE users ADD COLUMN bio text;\n");

    // Off by default: it builds a scratch database.
    let output = project.cutover(&db.url).args(["up", "--dry-run"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success() && !stderr.contains("drift"), "{stderr}");

    let output = project.cutover(&db.url).args(["up", "--check-drift"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "a warning, not a refusal: {stderr}");
    assert!(
        stderr.contains(
            "warning: the database has drifted from what its applied migrations build:\n  index users_name_hand: added outside the migrations\n  `cutover drift` shows each in full"
        ),
        "{stderr}"
    );
    assert!(stdout.contains("applied 1 migration"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'bio'"), "1");

    // Turned on in cutover.toml; many differences are counted, not listed.
    std::fs::write(project.path("cutover.toml"), "check_drift = true\n").unwrap();
    for n in 0..11 {
        db.query(&format!("CREATE TABLE hand_{n} (id int)"));
    }
    project.migration("3_nick.up.sql", "ALTER TABLE users ADD COLUMN nick text;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: the database has drifted from what its applied migrations build: 12 differences; run `cutover drift` to list them"),
        "{stderr}"
    );
    assert!(!stderr.contains("hand_3"), "counted, not listed: {stderr}");
    assert!(stdout.contains("applied 1 migration"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'nick'"), "1");
}

#[test]
fn a_drift_check_that_cannot_be_made_is_an_error_for_drift_and_a_warning_for_up() {
    // A table made before the folder: the migrations alone do not build the schema.
    let db = PgDb::new();
    db.query("CREATE TABLE legacy (id int)");
    let project = Project::new();
    project.migration("1_legacy_x.up.sql", "ALTER TABLE legacy ADD COLUMN x int;\n");
    project.cutover(&db.url).arg("up").assert().success();

    let output = project.cutover(&db.url).arg("drift").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("replaying applied migration 1 legacy_x on an empty scratch database failed"), "{stderr}");
    assert!(
        stderr.contains("1_legacy_x.up.sql:1") && stderr.contains("relation \"legacy\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("pg_dump --schema-only"), "{stderr}");

    project.migration("2_y.up.sql", "ALTER TABLE legacy ADD COLUMN y int;\n");
    let output = project.cutover(&db.url).args(["up", "--check-drift"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning: cannot check for drift: replaying applied migration 1 legacy_x"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'y'"), "1");

    // A role that may not create databases: exit 2, saying so, and no password shown.
    let role = format!("drift_nocreatedb_{}", db.name.trim_start_matches("cutover_t"));
    let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN NOCREATEDB")).unwrap();
    db.query(&format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"));
    let url = db.url.replacen("postgres@", &format!("{role}:Drift-S3cret@"), 1);
    let output = project.cutover(&url).arg("drift").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("cannot create a scratch database beside") && stderr.contains("CREATEDB"), "{stderr}");
    assert!(!stderr.contains("Drift-S3cret") && !stdout.contains("Drift-S3cret"), "{stderr}");
    drop(db);
    admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();

    // Not PostgreSQL: exit 2.
    let sqlite = project.sqlite_url();
    let output = project.cutover(&sqlite).arg("drift").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = project.cutover(&sqlite).args(["up", "--check-drift"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the drift check (`--check-drift`, `check_drift`) needs PostgreSQL"), "{stderr}");
}

/// A down script that loses a function's `SET search_path`, its `SECURITY DEFINER` or its
/// volatility does not reverse its up; one that resets what its up set does.
#[test]
fn the_rehearsal_round_trip_sees_function_settings_volatility_and_security() {
    let db = PgDb::new();
    let project = Project::new();
    let function = |body: &str, attributes: &str| {
        format!("CREATE OR REPLACE FUNCTION stamp() RETURNS int LANGUAGE sql {attributes} AS 'SELECT {body}';\n")
    };
    let all = "STABLE SECURITY DEFINER SET search_path FROM CURRENT";
    project.migration("1_stamp.up.sql", &function("1", all));
    project.cutover(&db.url).arg("up").assert().success();
    project
        .migration("2_two.up.sql", &function("2", all))
        .migration("2_two.down.sql", &function("1", "STABLE SECURITY DEFINER"))
        .migration("3_three.up.sql", &function("3", all))
        .migration("3_three.down.sql", &function("2", "STABLE SET search_path FROM CURRENT"))
        .migration("4_four.up.sql", &function("4", all))
        .migration("4_four.down.sql", &function("3", "SECURITY DEFINER SET search_path FROM CURRENT"))
        .migration("5_mem.up.sql", "ALTER FUNCTION stamp() SET work_mem = '8MB';\n")
        .migration("5_mem.down.sql", "ALTER FUNCTION stamp() RESET work_mem;\n");
    let output = project.cutover(&db.url).args(["rehearse", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    let report = json(&output);
    let migrations = report["migrations"].as_array().unwrap();
    let lost = |idx: usize, attribute: &str| {
        let m = &migrations[idx];
        assert_eq!(m["round_trip"], "differs", "{m:#}");
        let lines: Vec<&str> = m["schema_after_down"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("- function stamp() ") && lines[0].contains(attribute), "{lines:?}");
        assert!(lines[1].starts_with("+ function stamp() ") && !lines[1].contains(attribute), "{lines:?}");
        assert_eq!(m["schema_after_reapply"], serde_json::json!([]), "up again gives the first up's schema");
    };
    lost(0, "set search_path=");
    lost(1, "security definer");
    lost(2, "stable");
    assert_eq!(migrations[3]["round_trip"], "reverses", "{:#}", migrations[3]);
    assert_eq!(report["problems"], 3);
}

/// Where unqualified names go is the database's `search_path` (`ALTER DATABASE ... SET`): the
/// scratch database replays with it, so the same migrations build the same schema there.
#[test]
fn the_replay_follows_the_databases_search_path() {
    let db = PgDb::new();
    db.query(&format!("ALTER DATABASE {} SET search_path = app, public", db.name));
    let project = Project::new();
    project.migration(
        "1_app.up.sql",
        "CREATE SCHEMA app;\nCREATE TABLE accounts (id int PRIMARY KEY);\nCREATE VIEW open_accounts AS SELECT id FROM accounts;\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT schemaname FROM pg_tables WHERE tablename = 'accounts'"), "app");
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    let report = json(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
}

/// cutover's own objects are no drift: a history table of another name in a schema of its own,
/// with its guard, approvals and their triggers and functions, and a backfill's state table.
#[test]
fn cutovers_own_objects_are_not_drift() {
    let db = PgDb::new();
    db.query("CREATE SCHEMA ops");
    let project = Project::new();
    std::fs::write(project.path("cutover.toml"), "history_table = \"ops.history\"\n").unwrap();
    project.migration("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, name text);\n");
    project.migration("2_drop.up.sql", "ALTER TABLE users DROP COLUMN name;\n");
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
    project.cutover(&db.url).args(["backfill", "--table", "users", "--set", "id = id"]).assert().success();
    assert_eq!(
        db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'ops'"),
        "4",
        "history, guard, approvals, backfills"
    );
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    let report = json(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
}
