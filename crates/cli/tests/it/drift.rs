//! `cutover drift` on a real PostgreSQL: the live schema against what the applied migrations
//! build on a scratch database, for every kind of object the snapshot lists; cutover's own
//! objects by their names, not a prefix; edited repeatable migrations apart from drift;
//! `up --check-drift`; function settings, statistics and rules in the rehearsal's round trip.

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
    // Applied before the drop: a table the same run made would be new, the drop accepted by no one.
    project.cutover(&db.url).args(["up", "--to", "1"]).assert().success();
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

/// One object of each kind the first snapshot left out, made by a migration: rules, an event
/// trigger, an operator with its class and family, extended statistics, a collation, a cast, a
/// text search dictionary and configuration, a publication, a foreign-data wrapper with a
/// server and a user mapping, a range type, a table access method; and columns, a table and an
/// index whose storage details are all defaults.
const MORE_KINDS: &str = "CREATE TABLE items (id int PRIMARY KEY, a int, b int, body text, note text);
CREATE INDEX items_note ON items (note);
CREATE TABLE items_log (id int, at timestamptz);
CREATE RULE items_log_rule AS ON DELETE TO items DO ALSO INSERT INTO items_log VALUES (OLD.id, now());
CREATE FUNCTION on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER ddl_watch ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION on_ddl();
CREATE FUNCTION int_eq_abs(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT abs($1) = abs($2)';
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int_eq_abs, COMMUTATOR = ===);
CREATE FUNCTION abs_hash(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT hashint4(abs($1))';
CREATE OPERATOR CLASS abs_int_ops FOR TYPE int USING hash AS OPERATOR 1 ===, FUNCTION 1 abs_hash(int);
CREATE STATISTICS items_ab (dependencies) ON a, b FROM items;
CREATE COLLATION c_copy (locale = 'C');
CREATE TYPE pair AS (x int, y int);
CREATE CAST (pair AS text) WITH INOUT;
CREATE TEXT SEARCH DICTIONARY simple_nostop (TEMPLATE = pg_catalog.simple);
CREATE TEXT SEARCH CONFIGURATION plain (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION plain ALTER MAPPING FOR asciiword WITH simple_nostop;
CREATE PUBLICATION items_pub FOR TABLE items;
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER archive FOREIGN DATA WRAPPER dummy_fdw OPTIONS (host 'archive.internal');
CREATE USER MAPPING FOR CURRENT_USER SERVER archive OPTIONS (user 'reader', password 'Sh0uld-not-show');
CREATE TYPE float_range AS RANGE (subtype = float8);
CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;
";

/// A tablespace of the server's own data directory (`allow_in_place_tablespaces`), for one
/// test: dropped after the test's database, which holds the objects in it.
struct Tablespace {
    name: String,
    database: String,
}

impl Tablespace {
    fn new(db: &PgDb) -> Tablespace {
        let name = format!("{}_space", db.name);
        let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls).unwrap();
        admin.batch_execute("SET allow_in_place_tablespaces = on").unwrap();
        admin.batch_execute(&format!("CREATE TABLESPACE {name} LOCATION ''")).unwrap();
        Tablespace { name, database: db.name.clone() }
    }
}

impl Drop for Tablespace {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database));
            let _ = admin.batch_execute(&format!("DROP TABLESPACE IF EXISTS {}", self.name));
        }
    }
}

#[test]
fn a_hand_made_change_of_every_other_kind_is_detected_and_named() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_kinds.up.sql", MORE_KINDS);
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);

    // No false drift: the replay makes every one of them as the database has it.
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    let report = json(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");

    let space = Tablespace::new(&db);
    let role = db.query("SELECT current_user");
    for change in [
        "CREATE RULE items_log_ro AS ON UPDATE TO items_log DO INSTEAD NOTHING",
        "ALTER TABLE items DISABLE RULE items_log_rule",
        "ALTER EVENT TRIGGER ddl_watch DISABLE",
        "ALTER OPERATOR === (int, int) SET (RESTRICT = eqsel)",
        "DROP OPERATOR CLASS abs_int_ops USING hash",
        "CREATE OPERATOR FAMILY hand_ops USING btree",
        "CREATE STATISTICS items_hand (ndistinct) ON a, note FROM items",
        "ALTER STATISTICS items_ab SET STATISTICS 500",
        "CREATE COLLATION hand_c (locale = 'C')",
        "CREATE CAST (text AS pair) WITH INOUT AS ASSIGNMENT",
        "ALTER TEXT SEARCH CONFIGURATION plain DROP MAPPING FOR email",
        "ALTER TEXT SEARCH DICTIONARY simple_nostop (StopWords = english)",
        "ALTER PUBLICATION items_pub ADD TABLE items_log",
        "CREATE FOREIGN DATA WRAPPER hand_fdw",
        "ALTER SERVER archive OPTIONS (SET host 'elsewhere.internal')",
        "DROP USER MAPPING FOR CURRENT_USER SERVER archive",
        "CREATE TYPE hand_range AS RANGE (subtype = int4)",
        "CREATE ACCESS METHOD hand_am TYPE TABLE HANDLER heap_tableam_handler",
        "ALTER TABLE items ALTER COLUMN body SET STORAGE EXTERNAL",
        "ALTER TABLE items ALTER COLUMN a SET STATISTICS 1000",
        "ALTER TABLE items ALTER COLUMN note SET COMPRESSION pglz",
        "ALTER TABLE items ALTER COLUMN b SET (n_distinct = 100)",
        "ALTER TABLE items REPLICA IDENTITY FULL",
        "ALTER TABLE items CLUSTER ON items_note",
        "ALTER TABLE items_log SET ACCESS METHOD heap2",
        &format!("ALTER TABLE items_log SET TABLESPACE {}", space.name),
        &format!("ALTER INDEX items_note SET TABLESPACE {}", space.name),
    ] {
        db.query(change);
    }
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "drift exits 1: {}", output_text(&output).1);
    let report = json(&output);
    let mapping = format!("for {role} server archive");
    let expected: BTreeSet<(String, String, String)> = [
        ("rule", "items_log.items_log_ro", "added"),
        ("rule", "items.items_log_rule", "changed"),
        ("event trigger", "ddl_watch", "changed"),
        ("operator", "===(integer, integer)", "changed"),
        ("operator class", "abs_int_ops using hash", "dropped"),
        ("operator family", "abs_int_ops using hash", "changed"),
        ("operator family", "hand_ops using btree", "added"),
        ("statistics", "items_hand", "added"),
        ("statistics", "items_ab", "changed"),
        ("collation", "hand_c", "added"),
        ("cast", "(text as pair)", "added"),
        ("text search configuration", "plain", "changed"),
        ("text search dictionary", "simple_nostop", "changed"),
        ("publication", "items_pub", "changed"),
        ("foreign data wrapper", "hand_fdw", "added"),
        ("foreign server", "archive", "changed"),
        ("user mapping", &mapping, "dropped"),
        ("type", "hand_range", "added"),
        ("access method", "hand_am", "added"),
        ("column", "items.body", "changed"),
        ("column", "items.a", "changed"),
        ("column", "items.note", "changed"),
        ("column", "items.b", "changed"),
        ("table", "items", "changed"),
        ("table", "items_log", "changed"),
        ("index", "items_note", "changed"),
    ]
    .iter()
    .map(|(k, n, c)| (k.to_string(), n.to_string(), c.to_string()))
    .collect();
    assert_eq!(differences(&report), expected, "{report:#}");

    // Each says what differs.
    let find = |kind: &str, name: &str| {
        report["differences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == kind && d["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name}: {report:#}"))
            .clone()
    };
    let side = |kind: &str, name: &str, side: &str| find(kind, name)[side].as_str().unwrap_or("").to_string();
    assert!(side("rule", "items.items_log_rule", "database").ends_with("(disabled)"));
    assert!(side("event trigger", "ddl_watch", "database").ends_with("execute function on_ddl() disabled"));
    assert!(side("operator", "===(integer, integer)", "database").contains("restrict eqsel("));
    assert!(!side("operator", "===(integer, integer)", "migrations").contains("restrict"));
    assert!(side("operator family", "abs_int_ops using hash", "migrations")
        .contains("operators 1 ===(integer,integer) functions 1 (integer, integer) abs_hash(integer)"));
    assert!(side("statistics", "items_ab", "database").ends_with("ON a, b FROM items statistics 500"));
    assert!(side("text search configuration", "plain", "migrations").contains("; email with simple;"));
    assert!(!side("text search configuration", "plain", "database").contains("email with"));
    assert_eq!(
        side("text search dictionary", "simple_nostop", "database"),
        "template pg_catalog.simple options stopwords = 'english'"
    );
    assert_eq!(side("publication", "items_pub", "migrations"), "tables items publish insert, update, delete, truncate");
    assert_eq!(
        side("publication", "items_pub", "database"),
        "tables items, items_log publish insert, update, delete, truncate"
    );
    assert!(side("foreign server", "archive", "database").contains("options (host=elsewhere.internal)"));
    assert_eq!(side("cast", "(text as pair)", "database"), "with inout as assignment");
    assert_eq!(side("column", "items.body", "database"), "text storage external");
    assert_eq!(side("column", "items.a", "database"), "integer statistics 1000");
    assert_eq!(side("column", "items.note", "database"), "text compression pglz");
    assert_eq!(side("column", "items.b", "database"), "integer with (n_distinct=100)");
    assert_eq!(side("table", "items", "migrations"), "");
    assert_eq!(side("table", "items", "database"), "replica identity full clustered on items_note");
    assert_eq!(side("table", "items_log", "database"), format!("using heap2 tablespace {}", space.name));
    assert!(side("index", "items_note", "database").ends_with(&format!("(note) tablespace {}", space.name)));
    // A user mapping's options hold passwords: never shown, not even compared.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("Sh0uld-not-show"));

    let output = project.cutover(&db.url).arg("drift").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1));
    for line in [
        "rule items_log.items_log_ro: added outside the migrations",
        "statistics items_hand: added outside the migrations",
        "operator class abs_int_ops using hash: dropped outside the migrations",
        "column items.body: changed outside the migrations",
        "26 differences: the database has drifted from what its migrations build",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    drop(db);
    drop(space);
}

/// Only cutover's own objects are left out, by the names cutover gives them: a user's table or
/// function whose name merely looks like cutover's is drift like any other, in the migrations
/// or made by hand; cutover's own history, guard, approvals, backfill checkpoints, expand state,
/// history functions and dual-write triggers never are.
#[test]
fn names_that_only_look_like_cutovers_are_the_users() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_users.up.sql",
        "CREATE TABLE users (id int PRIMARY KEY, name text, amount text);\n\
         INSERT INTO users SELECT g, 'u' || g, g::text FROM generate_series(1, 50) g;\n\
         CREATE TABLE cutover_settings (key text PRIMARY KEY, value text);\n\
         CREATE FUNCTION cutover_version() RETURNS text LANGUAGE sql AS 'SELECT ''1''';\n",
    );
    project.migration("2_drop.up.sql", "ALTER TABLE users DROP COLUMN name;\n");
    project.migration(
        "3_retype.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"users\"\ncolumn = \"amount\"\ntype = \"integer\"\n\
         up = \"amount::integer\"\ndown = \"amount::text\"\n",
    );
    project.cutover(&db.url).args(["up", "--to", "1"]).assert().success();
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
    // An expand/contract migration under way: its state table, backfill checkpoints, version
    // schema, dual-write triggers and function.
    project.cutover(&db.url).arg("start").assert().success();
    let own = db.query(
        "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'cutover%'",
    );
    assert_eq!(
        own,
        "cutover_backfills,cutover_expand,cutover_history,cutover_history_approvals,cutover_history_guard,cutover_settings"
    );
    let dual_write =
        db.query("SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'users'::regclass");
    let [insert, update] = dual_write.split(',').collect::<Vec<_>>()[..] else { panic!("{dual_write}") };
    assert!(insert.starts_with("zz_cutover_3_") && update == format!("{insert}_u"), "{dual_write}");

    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    let report = json(&output);
    // The shadow column is the expand's change to a user table, which the replay does not make.
    let shadow: BTreeSet<(String, String, String)> =
        [("column".to_string(), "users._cutover_amount".to_string(), "added".to_string())].into();
    assert_eq!(differences(&report), shadow, "{report:#}");

    for change in [
        "CREATE TABLE cutover_history_archive (id int)",
        "CREATE TABLE cutover_backfills_old (id int)",
        "CREATE SCHEMA app",
        "CREATE TABLE app.cutover_backfills (id int)",
        "CREATE VIEW cutover_report AS SELECT 1 AS one",
        "CREATE FUNCTION cutover_cleanup() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE FUNCTION _cutover_helper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "CREATE TRIGGER _cutover_audit BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION _cutover_helper()",
        "CREATE FUNCTION _cutover_3_x() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "CREATE FUNCTION zz_cutover_3_x() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "CREATE OR REPLACE FUNCTION cutover_version() RETURNS text LANGUAGE sql AS 'SELECT ''2'''",
    ] {
        db.query(change);
    }
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    let report = json(&output);
    let mut expected: BTreeSet<(String, String, String)> = [
        ("table", "cutover_history_archive", "added"),
        ("table", "cutover_backfills_old", "added"),
        ("schema", "app", "added"),
        ("table", "app.cutover_backfills", "added"),
        ("view", "cutover_report", "added"),
        ("function", "cutover_cleanup()", "added"),
        ("function", "_cutover_helper()", "added"),
        ("trigger", "users._cutover_audit", "added"),
        ("function", "_cutover_3_x()", "added"),
        ("function", "zz_cutover_3_x()", "added"),
        ("function", "cutover_version()", "changed"),
    ]
    .iter()
    .map(|(k, n, c)| (k.to_string(), n.to_string(), c.to_string()))
    .collect();
    expected.extend(shadow);
    assert_eq!(differences(&report), expected, "{report:#}");
}

/// A repeatable migration edited since it was applied: the database has what its earlier text
/// made, and `up` re-applies it. That is said apart, and is no drift; a hand's change beside it
/// still is.
#[test]
fn an_edited_repeatable_migration_is_no_drift() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("V1__accounts.sql", "CREATE TABLE accounts (id int PRIMARY KEY, email text);\n")
        .migration("R__account_emails.sql", "CREATE OR REPLACE VIEW account_emails AS SELECT email FROM accounts;\n");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration(
        "R__account_emails.sql",
        "DROP VIEW IF EXISTS account_emails;\nCREATE VIEW account_emails AS SELECT id, email FROM accounts;\n",
    );

    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    let report = json(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["drifted"], false);
    assert_eq!(report["differences"], serde_json::json!([]));
    let changed = &report["changed_repeatables"];
    assert_eq!(changed.as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(changed[0]["script"], "R__account_emails.sql");
    assert_eq!(changed[0]["migration"], "R account emails");
    assert_eq!(
        differences(&serde_json::json!({"differences": changed[0]["differences"]})),
        [("column", "account_emails.id", "dropped"), ("view", "account_emails", "changed")]
            .iter()
            .map(|(k, n, c)| (k.to_string(), n.to_string(), c.to_string()))
            .collect()
    );
    let output = project.cutover(&db.url).arg("drift").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "repeatable migration R__account_emails.sql changed since it was applied; `cutover up` re-applies it (column account_emails.id, view account_emails)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("no drift"), "{stdout}");
    assert!(!stdout.contains("outside the migrations"), "{stdout}");

    // A hand's change is drift all the same.
    db.query("CREATE INDEX accounts_email ON accounts (email)");
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    let report = json(&output);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(
        differences(&report),
        [("index".to_string(), "accounts_email".to_string(), "added".to_string())].into(),
        "{report:#}"
    );
    db.query("DROP INDEX accounts_email");

    // Re-applied: nothing left to say.
    project.cutover(&db.url).arg("up").assert().success();
    let output = project.cutover(&db.url).args(["drift", "--format", "json"]).output().unwrap();
    let report = json(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["changed_repeatables"], serde_json::json!([]), "{report:#}");
}

/// The rehearsal's round trip compares the same snapshot: a down script that forgets the
/// statistics, the rule or a column's statistics target its up made does not reverse it.
#[test]
fn the_rehearsal_round_trip_sees_statistics_rules_and_column_settings() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY, a int, b int);\n");
    project.cutover(&db.url).arg("up").assert().success();
    let up = "CREATE STATISTICS t_ab (dependencies) ON a, b FROM t;\n\
              CREATE RULE t_keep AS ON DELETE TO t DO INSTEAD NOTHING;\n\
              ALTER TABLE t ALTER COLUMN a SET STATISTICS 500;\n";
    project
        .migration("2_forgets.up.sql", up)
        .migration("2_forgets.down.sql", "ALTER TABLE t ALTER COLUMN a SET STATISTICS -1;\n")
        .migration("3_reverses.up.sql", &up.replace("t_ab", "t_ab2").replace("t_keep", "t_keep2"))
        .migration(
            "3_reverses.down.sql",
            "DROP STATISTICS t_ab2;\nDROP RULE t_keep2 ON t;\nALTER TABLE t ALTER COLUMN a SET STATISTICS -1;\n",
        );
    let output = project.cutover(&db.url).args(["rehearse", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    let report = json(&output);
    let migrations = report["migrations"].as_array().unwrap();
    let forgets = &migrations[0];
    assert_eq!(forgets["round_trip"], "differs", "{forgets:#}");
    let lines: Vec<&str> =
        forgets["schema_after_down"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("+ rule t.t_keep CREATE RULE t_keep AS ON DELETE TO public.t DO INSTEAD NOTHING"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("+ statistics t_ab CREATE STATISTICS public.t_ab (dependencies) ON a, b FROM t"),
        "{lines:?}"
    );
    assert_eq!(migrations[1]["round_trip"], "reverses", "{:#}", migrations[1]);
}
