//! The embedded default: SQLite files and in-memory databases.

use crate::util::{output_text, Project};

#[test]
fn concurrent_runners_on_one_sqlite_file_apply_each_migration_once() {
    let project = Project::new();
    for idx in 1..=10 {
        project.migration(&format!("{idx:02}_t{idx}.up.sql"), &format!("CREATE TABLE t{idx} (id integer);"));
    }
    let url = project.sqlite_url();
    project.run_concurrently(&url, 8, &["up"]);
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let (applied, distinct): (i64, i64) = conn
        .query_row("SELECT count(*), count(DISTINCT version) FROM cutover_history WHERE state = 'applied'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((applied, distinct), (10, 10));
}

#[test]
fn in_memory_database_runs_and_reports() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);");
    let output = project.cutover("sqlite::memory:").arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("applied 1 migration"), "{stdout}");
}

#[test]
fn failing_migration_rolls_back_on_sqlite() {
    let project = Project::new();
    project.migration(
        "1_a.up.sql",
        "CREATE TABLE a (id integer);\nCREATE TABLE b (id integer);\nINSERT INTO nope VALUES (1);\n",
    );
    let url = project.sqlite_url();
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("1_a.up.sql:3") && stderr.contains("no such table: nope"), "{stderr}");
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let tables: String = conn
        .query_row("SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, "cutover_history,cutover_history_guard");
}

#[test]
fn new_writes_files_in_the_directory_layout() {
    let project = Project::new();
    project.migration("V1__init.sql", "CREATE TABLE a (id integer);");
    let output = project.cutover("sqlite::memory:").args(["new", "Add users email"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(output.status.success());
    assert!(stdout.contains("__add_users_email.sql"), "{stdout}");
    let names: Vec<String> = std::fs::read_dir(project.path("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('V') && n.ends_with("__add_users_email.sql"))
        .collect();
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].len(), "V20260101000000__add_users_email.sql".len(), "{names:?}");
}

#[test]
fn dry_run_prints_statements_and_changes_nothing() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);\n\nCREATE INDEX a_id ON a (id);\n");
    let url = project.sqlite_url();
    let output = project.cutover(&url).args(["up", "--dry-run"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(output.status.success());
    assert!(stdout.contains("would apply 1 a (in one transaction)"), "{stdout}");
    assert!(stdout.contains("1_a.up.sql:3") && stdout.contains("CREATE INDEX a_id ON a (id)"), "{stdout}");
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0, "dry run created nothing");
}

/// The README's quick start: the example project applies, keeps both columns in step during
/// its rename, reverts completely and applies again.
#[test]
fn example_project_applies_reverts_and_keeps_the_rename_safe() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop/migrations");
    let project = Project::new();
    let url = project.sqlite_url();
    let run = |args: &[&str]| {
        let output = project.cutover(&url).arg("--dir").arg(&example).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", output_text(&output).1);
    };
    let conn = || rusqlite::Connection::open(project.path("app.db")).unwrap();

    // Expanded: an old app version that writes only `name` still fills `display_name`.
    run(&["up", "--to", "20250331090000"]);
    conn().execute("INSERT INTO customers (id, email, name) VALUES (1, 'ann@example.com', 'Ann')", []).unwrap();
    let display: String =
        conn().query_row("SELECT display_name FROM customers WHERE id = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(display, "Ann");

    // Contracted: `name` is gone, the data stayed.
    run(&["up"]);
    let columns: String =
        conn().query_row("SELECT group_concat(name) FROM pragma_table_info('customers')", [], |r| r.get(0)).unwrap();
    assert_eq!(columns, "id,email,created_at,display_name");

    run(&["down", "--all"]);
    let tables: String = conn()
        .query_row(
            "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, "cutover_history,cutover_history_guard");
    run(&["up"]);
}

#[test]
fn repeatable_migrations_run_after_versioned_ones_and_again_when_edited() {
    let project = Project::new();
    project.migration("V1__accounts.sql", "CREATE TABLE accounts (id integer, email text);").migration(
        "R__account_emails.sql",
        "DROP VIEW IF EXISTS account_emails;\nCREATE VIEW account_emails AS SELECT email FROM accounts;",
    );
    let url = project.sqlite_url();
    project.cutover(&url).arg("up").assert().success();
    let states = |project: &Project| {
        let output = project.cutover(&url).args(["status", "--format", "json"]).output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        json["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("{}:{}", m["version"], m["state"].as_str().unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&project), ["\"1\":applied", "null:applied"]);

    project.migration(
        "R__account_emails.sql",
        "DROP VIEW IF EXISTS account_emails;\nCREATE VIEW account_emails AS SELECT id, email FROM accounts;",
    );
    assert_eq!(states(&project), ["\"1\":applied", "null:pending"], "an edited repeatable is pending again");
    project.cutover(&url).arg("up").assert().success();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let columns: i64 =
        conn.query_row("SELECT count(*) FROM pragma_table_info('account_emails')", [], |r| r.get(0)).unwrap();
    assert_eq!(columns, 2);
    assert_eq!(states(&project), ["\"1\":applied", "null:applied"]);
}

#[test]
fn statement_timeout_interrupts_a_long_sqlite_statement() {
    let project = Project::new();
    project.migration(
        "1_slow.up.sql",
        "-- cutover:statement-timeout=200ms\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n;\n",
    );
    let url = project.sqlite_url();
    let started = std::time::Instant::now();
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1_slow.up.sql:2") && stderr.contains("interrupted"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "stopped by the timeout, not by exhaustion");
}

#[test]
fn history_records_who_ran_it_even_without_user_in_the_environment() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);");
    let url = project.sqlite_url();
    project.cutover(&url).arg("up").env_remove("USER").env_remove("LOGNAME").assert().success();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let (installed_by, runner): (String, String) =
        conn.query_row("SELECT installed_by, runner FROM cutover_history", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_ne!(installed_by, "unknown");
    assert!(runner.starts_with(&format!("{installed_by}@")) && runner.contains(" pid "), "{runner}");
}

#[test]
fn declarative_migrations_rebuild_tables_sqlite_cannot_alter() {
    let project = Project::new();
    let url = project.sqlite_url();
    project.migration(
        "1_shop.up.sql",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT);\n\
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), amount TEXT NOT NULL, note TEXT);\n\
         CREATE INDEX orders_customer ON orders (customer_id);\n\
         CREATE TRIGGER orders_note AFTER INSERT ON orders BEGIN UPDATE orders SET note = 'new' WHERE id = NEW.id AND note IS NULL; END;\n\
         CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE CAST(amount AS REAL) > 100;\n\
         INSERT INTO customers VALUES (1, 'a@x'), (2, NULL);\n\
         INSERT INTO orders (id, customer_id, amount) VALUES (1, 1, '12.5'), (2, 2, '250'), (3, 1, '7');\n",
    );
    project.migration(
        "2_tighten.toml",
        r#"
[[operations]]
op = "change_type"
table = "orders"
column = "amount"
type = "REAL"
up = "CAST(amount AS REAL)"
down = "CAST(amount AS TEXT)"

[[operations]]
op = "set_not_null"
table = "customers"
column = "email"
up = "'unknown@x'"

[[operations]]
op = "add_check"
table = "orders"
name = "amount_positive"
check = "amount > 0"

[[operations]]
op = "rename_column"
table = "orders"
from = "note"
to = "remark"
"#,
    );
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert!(output_text(&output).0.contains("stopped before 2 tighten"), "{:?}", output_text(&output));
    let output = project.cutover(&url).arg("start").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("applied 2 tighten"), "{stdout}");

    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let text = |sql: &str| -> String { conn.query_row(sql, [], |row| row.get::<_, String>(0)).unwrap() };
    assert_eq!(
        text("SELECT group_concat(typeof(amount) || ':' || amount, ',') FROM orders"),
        "real:12.5,real:250.0,real:7.0"
    );
    assert_eq!(text("SELECT group_concat(email, ',') FROM customers"), "a@x,unknown@x");
    assert!(text("SELECT sql FROM sqlite_schema WHERE name = 'customers'").contains("email TEXT NOT NULL"));
    assert!(text("SELECT sql FROM sqlite_schema WHERE name = 'orders'").contains("CHECK (amount > 0)"));
    // Indexes, triggers and views came back; the rows, the foreign key and the history are right.
    assert_eq!(text("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger', 'view') AND tbl_name NOT LIKE 'cutover%' ORDER BY name)"), "big_orders,orders_customer,orders_note");
    assert_eq!(text("SELECT group_concat(id, ',') FROM big_orders"), "2");
    conn.execute("INSERT INTO orders (id, customer_id, amount) VALUES (4, 2, 3)", []).unwrap();
    assert_eq!(text("SELECT remark FROM orders WHERE id = 4"), "new");
    assert!(
        conn.execute("INSERT INTO orders (id, customer_id, amount) VALUES (5, 1, -1)", []).is_err(),
        "the check holds"
    );
    assert_eq!(text("SELECT group_concat(version || ':' || state, ',') FROM cutover_history"), "1:applied,2:applied");
    drop(conn);

    // A rebuild that would break a foreign key is refused, and nothing of it stays.
    project.migration(
        "3_break.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"customers\"\ncolumn = \"id\"\ntype = \"INTEGER\"\nup = \"id + 100\"\ndown = \"id - 100\"\n",
    );
    let output = project.cutover(&url).arg("start").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("foreign keys are violated after the change"), "{stderr}");
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let ids: String = conn.query_row("SELECT group_concat(id, ',') FROM customers", [], |r| r.get(0)).unwrap();
    assert_eq!(ids, "1,2");
    let applied: i64 =
        conn.query_row("SELECT count(*) FROM cutover_history WHERE version = '3'", [], |r| r.get(0)).unwrap();
    assert_eq!(applied, 0);
}

/// Maintenance windows are the runner's, not an engine's: on SQLite a migration that scans or
/// rebuilds an existing table under its write lock waits for a window too.
#[test]
fn heavy_migrations_wait_for_a_maintenance_window_on_sqlite() {
    let project = Project::new();
    std::fs::write(project.path("cutover.toml"), "[policy]\nwindows = [\"Sat 02:00-05:00 UTC\"]\n").unwrap();
    project.migration("1_users.up.sql", "CREATE TABLE users (id integer PRIMARY KEY, email text);\n");
    let url = project.sqlite_url();
    let wednesday = "2026-11-25T12:00:00Z";
    let saturday = "2026-11-28T03:00:00Z";
    let cutover = |now: &str| {
        let mut cmd = project.cutover(&url);
        cmd.args(["--config", "cutover.toml"]).env("CUTOVER_NOW", now);
        cmd
    };
    cutover(wednesday).arg("up").assert().success();

    project.migration("2_index.up.sql", "CREATE INDEX users_email ON users (email);\n");
    let output = cutover(wednesday).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("2 index blocks or rewrites existing tables: it waits for a maintenance window (next opens 2026-11-28T02:00:00Z)"),
        "{stderr}"
    );
    let (stdout, _) = output_text(&cutover(wednesday).arg("status").output().unwrap());
    assert!(stdout.contains("waiting for a maintenance window (next opens 2026-11-28T02:00:00Z): 2 index"), "{stdout}");

    cutover(saturday).arg("up").assert().success();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let indexes: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'users_email'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexes, 1);

    // A light migration runs any time; a heavy one outside the window only with a reason,
    // recorded in the history.
    project.migration("3_bio.up.sql", "ALTER TABLE users ADD COLUMN bio text;\n");
    cutover(wednesday).arg("up").assert().success();
    project.migration("4_fill.up.sql", "UPDATE users SET bio = '';\n");
    cutover(wednesday).arg("up").assert().code(1);
    cutover(wednesday).args(["up", "--outside-window", "incident 4711 needs it now"]).assert().success();
    let (stdout, _) = output_text(&cutover(wednesday).arg("history").output().unwrap());
    assert!(stdout.contains("outside-window") && stdout.contains("incident 4711 needs it now"), "{stdout}");
}

/// `lint` says what `start` will refuse on SQLite: a `rewrite` operation, which only makes sense
/// online, is an error there, with the reason and what to write instead.
#[test]
fn lint_on_sqlite_refuses_a_rewrite_operation_as_start_does() {
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id integer PRIMARY KEY, n int);\n");
    project.migration("2_compact.toml", "[[operations]]\nop = \"rewrite\"\ntable = \"users\"\n");
    let url = project.sqlite_url();
    let output = project.cutover(&url).arg("lint").output().unwrap();
    let (out, err) = output_text(&output);
    assert!(!output.status.success(), "{out}{err}");
    assert!(out.contains("operation 1 (rewrite): on SQLite `cutover start` refuses it"), "{out}{err}");
    project.cutover(&url).arg("up").assert().success();
    let output = project.cutover(&url).arg("start").output().unwrap();
    let (out, err) = output_text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(err.contains("a SQLite database has one writer"), "{err}");
}

/// Tester 18: `status` on a mistyped SQLite path made an empty file there and said every
/// migration was pending. The commands that only read make no file, and say there is none.
#[test]
fn reading_commands_make_no_sqlite_file_and_say_there_is_none() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);\n");
    let url = format!("sqlite://{}", project.path("typo.db").display());
    for command in [&["status"][..], &["validate"], &["history"], &["down"], &["down", "--all"], &["up", "--dry-run"]] {
        let output = project.cutover(&url).args(command).output().unwrap();
        let (out, err) = output_text(&output);
        assert!(output.status.success(), "{command:?}: {out}{err}");
        assert!(err.contains("there is no SQLite database at"), "{command:?}: {err}");
        assert!(!project.path("typo.db").exists(), "{command:?} made the file");
        assert!(!project.path("typo.db.cutover-lock").exists(), "{command:?} made a lock file");
    }
    // A baseline adopts a database that exists.
    let output = project.cutover(&url).args(["baseline", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{:?}", output_text(&output));
    assert!(output_text(&output).1.contains("baseline adopts a database that exists"), "{:?}", output_text(&output));
    assert!(!project.path("typo.db").exists());
    project.cutover(&url).arg("up").assert().success();
    let output = project.cutover(&url).arg("status").output().unwrap();
    assert!(!output_text(&output).1.contains("there is no SQLite database"));
}

/// A column renamed, then its table rebuilt by a later operation of the same migration: the
/// rebuild recreated the view, the CHECK and the unique index from their text before the
/// rename, where `"select"` no longer named a column and SQLite read it as a string. The view
/// returned the word `select` for every row, the CHECK held for any value, and a unique index
/// on it failed the start (tester 22). Each operation is now planned on the schema the ones
/// before it left, and the renames come last: every operation names columns as they were
/// before the migration, as on PostgreSQL (tester 23: an `add_check` naming the renamed column
/// so failed).
#[test]
fn a_rename_then_a_rebuild_keeps_views_checks_and_indexes_on_the_renamed_column() {
    let project = Project::new();
    let url = project.sqlite_url();
    project.migration(
        "1_odd.up.sql",
        "CREATE TABLE \"Odd Table\" (id INTEGER PRIMARY KEY AUTOINCREMENT, \"select\" TEXT, note TEXT, CHECK (length(\"select\") < 10));\n\
         CREATE VIEW v_odd AS SELECT id, \"select\" FROM \"Odd Table\";\n\
         CREATE UNIQUE INDEX odd_sel ON \"Odd Table\" (\"select\");\n\
         INSERT INTO \"Odd Table\" (\"select\", note) VALUES ('a', 'x'), ('b', NULL);\n",
    );
    project.migration(
        "2_rename.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"Odd Table\"\nfrom = \"select\"\nto = \"choice\"\n\n\
         [[operations]]\nop = \"set_not_null\"\ntable = \"Odd Table\"\ncolumn = \"note\"\nup = \"'filled'\"\n\n\
         [[operations]]\nop = \"change_type\"\ntable = \"Odd Table\"\ncolumn = \"select\"\ntype = \"VARCHAR(8)\"\nup = \"upper(\\\"select\\\")\"\ndown = \"\\\"select\\\"\"\n\n\
         [[operations]]\nop = \"add_check\"\ntable = \"Odd Table\"\nname = \"note_short\"\ncheck = \"length(note) < 20 AND \\\"select\\\" <> 'C'\"\n",
    );
    project.cutover(&url).arg("up").assert().success();
    let output = project.cutover(&url).arg("start").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let text = |sql: &str| -> String { conn.query_row(sql, [], |row| row.get::<_, String>(0)).unwrap() };
    assert_eq!(text("SELECT group_concat(id || '=' || choice, ' ') FROM v_odd"), "1=A 2=B");
    assert_eq!(text("SELECT group_concat(coalesce(note, 'NULL'), ' ') FROM \"Odd Table\""), "x filled");
    let long = conn.execute("INSERT INTO \"Odd Table\" (choice, note) VALUES ('much too long', 'n')", []);
    assert!(long.unwrap_err().to_string().contains("CHECK constraint failed"));
    let checked = conn.execute("INSERT INTO \"Odd Table\" (choice, note) VALUES ('C', 'n')", []);
    assert!(checked.unwrap_err().to_string().contains("CHECK constraint failed: note_short"));
    let twice = conn.execute("INSERT INTO \"Odd Table\" (choice, note) VALUES ('A', 'n')", []);
    assert!(twice.unwrap_err().to_string().contains("UNIQUE constraint failed"));
    assert_eq!(
        text("SELECT sql FROM sqlite_schema WHERE name = 'odd_sel'"),
        "CREATE UNIQUE INDEX odd_sel ON \"Odd Table\" (\"choice\")"
    );
}
