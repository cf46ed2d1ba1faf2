//! Reliability at the edges, mostly on MariaDB: a runner SIGKILLed during a long `ALTER TABLE`
//! (the server finishes the orphaned statement), lock-wait advice in the engine's own terms, a
//! history emptied behind cutover's back (`TRUNCATE` fires no trigger), and a history table
//! named with its database.

use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::util::{output_text, MyDb, PgDb, Project};

/// A table big enough that an `ALTER TABLE ... ALGORITHM=COPY` with an index on `filler` takes
/// seconds.
fn big_table(db: &MyDb) {
    let mut conn = db.conn();
    conn.query_drop("CREATE TABLE big (id bigint PRIMARY KEY, filler varchar(200) NOT NULL) ENGINE=InnoDB").unwrap();
    conn.query_drop("INSERT INTO big SELECT seq, CONCAT(MD5(seq), REPEAT('x', 150)) FROM seq_1_to_600000").unwrap();
}

/// Sessions of this database (other than the asking one) running a statement that starts
/// with `prefix` (other tests run the same statements in their own databases).
fn running(db: &MyDb, prefix: &str) -> i64 {
    let mut conn = db.conn();
    conn.exec_first(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE ID <> CONNECTION_ID() AND DB = DATABASE() AND INFO LIKE CONCAT(?, '%')",
        (prefix,),
    )
    .unwrap()
    .unwrap_or_default()
}

/// Starts `cutover up --allow-unsafe` and SIGKILLs it once it runs a statement starting with
/// `prefix`: the server goes on with the statement (its client is gone, unseen).
fn kill_during(project: &Project, db: &MyDb, prefix: &str) {
    let mut child: Child = project
        .cutover_std(&db.url)
        .args(["up", "--allow-unsafe"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while running(db, prefix) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "cutover ended before it ran `{prefix}`");
        assert!(Instant::now() < deadline, "`{prefix}` never ran");
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(running(db, prefix), 1, "the killed runner's statement runs on");
}

fn column_count(db: &MyDb, table: &str, column: &str) -> String {
    db.query(&format!(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}' AND column_name = '{column}'"
    ))
}

/// The rerun finds the killed runner's `ALTER` still running: with a short runner lock wait it
/// refuses, naming `KILL <id>` and recording nothing as failed; with the default one it waits,
/// runs the `ALTER` again, which says the column exists, and counts it as done.
#[test]
fn the_rerun_waits_for_the_killed_runners_alter_and_counts_it_done() {
    let db = MyDb::new();
    big_table(&db);
    let project = Project::new();
    project.migration(
        "1_widen.up.sql",
        "ALTER TABLE big ADD COLUMN c int, ADD INDEX big_filler (filler), ALGORITHM=COPY;\nCREATE TABLE after_widen (id int);\n",
    );
    kill_during(&project, &db, "ALTER TABLE big");

    let output =
        project.cutover(&db.url).args(["up", "--allow-unsafe"]).env("CUTOVER_RUNNER_LOCK_WAIT", "1s").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("still runs on the server") && stderr.contains("KILL "), "{stderr}");
    assert!(stderr.contains("nothing was recorded as failed"), "{stderr}");
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_history WHERE state = 'failed'"), "0");
    assert_eq!(running(&db, "ALTER TABLE big"), 1, "the refusal left it alone");

    let output = project.cutover(&db.url).args(["up", "--allow-unsafe"]).output().unwrap();
    let stderr = output_text(&output).1;
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("still runs on the server"), "it waited: {stderr}");
    assert!(stderr.contains("counted as done"), "{stderr}");
    assert_eq!(column_count(&db, "big", "c"), "1");
    assert_eq!(db.query("SELECT COUNT(*) FROM after_widen"), "0", "the statement after it ran");
    assert_eq!(db.query("SELECT GROUP_CONCAT(DISTINCT state ORDER BY state) FROM cutover_history"), "applied,running");
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("validate").assert().success();
}

/// Once the killed runner's `ALTER` has ended, the rerun's own `ALTER` times out on a lock
/// another session holds: the history row stays `running` (the statement may be done), not
/// `failed`, so the next run still counts the existing column as done; and the advice names
/// MariaDB's tools, not PostgreSQL's.
#[test]
fn a_lock_timeout_of_the_resumed_statement_keeps_it_resumable() {
    let db = MyDb::new();
    big_table(&db);
    let project = Project::new();
    project.migration(
        "1_widen.up.sql",
        "ALTER TABLE big ADD COLUMN c int, ADD INDEX big_filler (filler), ALGORITHM=COPY;\n",
    );
    kill_during(&project, &db, "ALTER TABLE big");
    let deadline = Instant::now() + Duration::from_secs(120);
    while running(&db, "ALTER TABLE big") > 0 {
        assert!(Instant::now() < deadline, "the orphaned ALTER never ended");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(column_count(&db, "big", "c"), "1", "the server finished the orphaned ALTER");

    let mut holder = db.conn();
    holder.query_drop("LOCK TABLES big WRITE").unwrap();
    let output = project
        .cutover(&db.url)
        .args(["up", "--allow-unsafe", "--lock-timeout", "1s"])
        .env("CUTOVER_LOCK_RETRIES", "2")
        .output()
        .unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1205"), "a lock timeout: {stderr}");
    assert!(stderr.contains("nothing was recorded as failed"), "{stderr}");
    assert!(stderr.contains("SHOW FULL PROCESSLIST") && !stderr.contains("pg_stat_activity"), "{stderr}");
    assert_eq!(db.query("SELECT state FROM cutover_history ORDER BY id DESC LIMIT 1"), "running");
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_history WHERE state = 'failed'"), "0");
    holder.query_drop("UNLOCK TABLES").unwrap();

    let output = project.cutover(&db.url).args(["up", "--allow-unsafe"]).output().unwrap();
    let stderr = output_text(&output).1;
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("counted as done"), "{stderr}");
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_history WHERE state = 'applied'"), "1");
}

/// SQLite's lock timeout (the busy timeout on the database's write lock) is explained in
/// SQLite's terms too.
#[test]
fn sqlite_lock_advice_speaks_sqlite() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    project.cutover(&project.sqlite_url()).arg("up").assert().success();
    project.migration("2_b.up.sql", "CREATE TABLE b (id int);\n");
    let holder = rusqlite::Connection::open(project.path("app.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE; INSERT INTO a VALUES (1);").unwrap();
    let output = project
        .cutover(&project.sqlite_url())
        .args(["up", "--lock-timeout", "200ms"])
        .env("CUTOVER_LOCK_RETRIES", "1")
        .output()
        .unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("write lock") && !stderr.contains("pg_stat_activity"), "{stderr}");
    holder.execute_batch("COMMIT").unwrap();
}

fn two_tables(project: &Project) {
    project.migration("1_a.up.sql", "CREATE TABLE a (id int PRIMARY KEY);\nINSERT INTO a VALUES (1);\n");
    project.migration("2_b.up.sql", "CREATE TABLE b (id int PRIMARY KEY);\nINSERT INTO b VALUES (1);\n");
}

/// `cutover up` on an emptied history refuses (exit 1) with the way back, and applies nothing.
fn refuses_an_emptied_history(project: &Project, url: &str) {
    let output = project.cutover(url).arg("up").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has lost") && stderr.contains("cutover wrote to it"), "{stderr}");
    assert!(stderr.contains("restore `cutover_history` from a backup"), "{stderr}");
    assert!(stderr.contains("`cutover baseline 2`"), "the newest applied version: {stderr}");
    let output = project.cutover(url).arg("validate").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{:?}", output_text(&output));
    assert!(output_text(&output).0.contains("has lost"), "{:?}", output_text(&output));
}

/// MariaDB: the guard's foreign key makes InnoDB refuse `TRUNCATE` and `DROP` of the history
/// (triggers do not fire on them); emptied anyway with `foreign_key_checks = 0`, the history
/// is found short of its guard, and `up` refuses until `baseline` adopts the database again.
#[test]
fn an_emptied_history_is_refused_on_mariadb() {
    let db = MyDb::new();
    let project = Project::new();
    two_tables(&project);
    project.cutover(&db.url).arg("up").assert().success();
    let mut conn = db.conn();
    let err = conn.query_drop("TRUNCATE cutover_history").unwrap_err().to_string();
    assert!(err.contains("1701"), "InnoDB refuses: {err}");
    assert!(conn.query_drop("DELETE FROM cutover_history").unwrap_err().to_string().contains("append-only"));
    assert!(conn.query_drop("DROP TABLE cutover_history").is_err());
    project.migration("3_c.up.sql", "CREATE TABLE c (id int PRIMARY KEY);\n");
    project.cutover(&db.url).arg("up").assert().success();

    conn.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    conn.query_drop("TRUNCATE cutover_history").unwrap();
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has lost") && stderr.contains("`cutover baseline 3`"), "{stderr}");
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_history"), "0", "nothing applied, nothing recorded");

    // The way back: the operator says what the schema has.
    let output = project.cutover(&db.url).args(["baseline", "3"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert!(output_text(&output).1.contains("had lost"), "{:?}", output_text(&output));
    project.migration("4_d.up.sql", "CREATE TABLE d (id int PRIMARY KEY);\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(
        db.query("SELECT GROUP_CONCAT(version ORDER BY id) FROM cutover_history WHERE state <> 'running'"),
        "3,4"
    );
    project.cutover(&db.url).arg("validate").assert().success();
}

/// The same refusal, straight after `up`: every applied row lost.
#[test]
fn up_on_a_truncated_history_applies_nothing_on_mariadb() {
    let db = MyDb::new();
    let project = Project::new();
    two_tables(&project);
    project.cutover(&db.url).arg("up").assert().success();
    let mut conn = db.conn();
    conn.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    conn.query_drop("TRUNCATE cutover_history").unwrap();
    refuses_an_emptied_history(&project, &db.url);
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_history"), "0");
    assert_eq!(db.query("SELECT COUNT(*) FROM a"), "1");
}

/// A history table from before the guard is given one by the next run, its rows witnessed,
/// and is from then on safe from `TRUNCATE`.
#[test]
fn a_history_from_before_the_guard_is_upgraded_in_place_on_mariadb() {
    let db = MyDb::new();
    let project = Project::new();
    two_tables(&project);
    project.cutover(&db.url).arg("up").assert().success();
    let mut conn = db.conn();
    // As an older cutover left it: no guard, no guard trigger.
    conn.query_drop("DROP TRIGGER cutover_history_guard_row").unwrap();
    conn.query_drop("DROP TABLE cutover_history_guard").unwrap();
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(
        db.query("SELECT COUNT(*) FROM cutover_history_guard"),
        db.query("SELECT COUNT(*) FROM cutover_history"),
        "every row witnessed"
    );
    assert!(conn.query_drop("TRUNCATE cutover_history").unwrap_err().to_string().contains("1701"));
    conn.query_drop("SET SESSION foreign_key_checks = 0").unwrap();
    conn.query_drop("TRUNCATE cutover_history").unwrap();
    refuses_an_emptied_history(&project, &db.url);
}

/// PostgreSQL: the history's `BEFORE TRUNCATE` trigger refuses; with the triggers disabled by
/// the table's owner, the emptied history is refused as on MariaDB.
#[test]
fn an_emptied_history_is_refused_on_postgres() {
    let db = PgDb::new();
    let project = Project::new();
    two_tables(&project);
    project.cutover(&db.url).arg("up").assert().success();
    let mut client = db.client();
    let err = client.batch_execute("TRUNCATE cutover_history").unwrap_err();
    assert!(format!("{err:?}").contains("append-only"), "{err:?}");
    assert!(client.batch_execute("DELETE FROM cutover_history").is_err());
    client
        .batch_execute(
            "ALTER TABLE cutover_history DISABLE TRIGGER USER; TRUNCATE cutover_history; \
             ALTER TABLE cutover_history ENABLE TRIGGER USER",
        )
        .unwrap();
    refuses_an_emptied_history(&project, &db.url);
    assert_eq!(db.query("SELECT count(*) FROM cutover_history"), "0");
    assert_eq!(db.query("SELECT count(*) FROM a"), "1");
}

/// Tester 18: a search_path changed after the history was made (to a schema that exists) made
/// an unqualified history resolve to a new, empty one there, and `up` applied every migration
/// again. Refused, naming where the history is; named in full, it is used, nothing re-applied.
#[test]
fn a_history_off_the_search_path_is_named_not_made_again_on_postgres() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_log.up.sql", "CREATE TABLE public.log (n int);\nINSERT INTO public.log VALUES (1);\n");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration("2_more.up.sql", "INSERT INTO public.log VALUES (2);\n");
    db.query(&format!("CREATE SCHEMA app; ALTER DATABASE {} SET search_path = app", db.name));
    for command in ["up", "status"] {
        let output = project.cutover(&db.url).arg(command).output().unwrap();
        let (out, err) = output_text(&output);
        assert!(!output.status.success(), "{command}: {out}{err}");
        assert!(err.contains("is not on the search_path, but public.cutover_history exists"), "{command}: {err}");
        assert!(err.contains("history_table = \"public.cutover_history\""), "{err}");
    }
    assert_eq!(db.query("SELECT count(*) FROM pg_class WHERE relname = 'cutover_history'"), "1");
    let output =
        project.cutover(&db.url).env("CUTOVER_HISTORY_TABLE", "public.cutover_history").arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT string_agg(n::text, ',' ORDER BY n) FROM public.log"), "1,2");
}

/// SQLite: the `BEFORE DELETE` trigger fires on `DELETE` without `WHERE` too (triggers turn
/// off SQLite's truncate optimization); with the trigger dropped, the emptied history is
/// refused.
#[test]
fn an_emptied_history_is_refused_on_sqlite() {
    let project = Project::new();
    two_tables(&project);
    let url = project.sqlite_url();
    project.cutover(&url).arg("up").assert().success();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let err = conn.execute_batch("DELETE FROM cutover_history").unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    conn.execute_batch("DROP TRIGGER cutover_history_no_delete; DELETE FROM cutover_history;").unwrap();
    refuses_an_emptied_history(&project, &url);
    let rows: i64 = conn.query_row("SELECT count(*) FROM cutover_history", [], |row| row.get(0)).unwrap();
    assert_eq!(rows, 0);
}

/// Eight runners at once, half naming the history one way, half the other; each must succeed.
fn up_with_both_spellings(project: &Project, url: &str, spellings: &[String; 2]) {
    let children: Vec<Child> = (0..8)
        .map(|idx| {
            project
                .cutover_std(url)
                .arg("up")
                .env("CUTOVER_HISTORY_TABLE", &spellings[idx % 2])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{:?}", output_text(&output));
    }
}

/// PostgreSQL: `public.cutover_history` is `cutover_history` where `public` is the current
/// schema, so both take one lock.
#[test]
fn the_current_schema_spelled_out_takes_the_same_lock_on_postgres() {
    let db = PgDb::new();
    let project = Project::new();
    for idx in 1..=4 {
        project.migration(
            &format!("{idx}_t{idx}.up.sql"),
            &format!("CREATE TABLE t{idx} (id int PRIMARY KEY);\nINSERT INTO t{idx} VALUES ({idx});\n"),
        );
    }
    up_with_both_spellings(&project, &db.url, &["cutover_history".to_string(), "public.cutover_history".to_string()]);
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "4", "each migration once");
}

/// From the MariaDB tester: on a server whose names keep their case, `Shop` and `shop` are two
/// databases; the history of one (its guard's trigger, which `information_schema.TRIGGERS`
/// matches without case) is not the other's, and each gets its own.
#[test]
fn a_database_named_as_another_but_for_case_has_its_own_history() {
    let upper = MyDb::new();
    let lower_name = upper.name.to_ascii_lowercase();
    let mut admin = upper.conn();
    let fold: i64 = admin.query_first("SELECT @@lower_case_table_names").unwrap().unwrap();
    if fold != 0 {
        return;
    }
    // `MyDb` names are lower-case: the other spelling is made upper-case here.
    let upper_name = upper.name.to_ascii_uppercase();
    admin.query_drop(format!("DROP DATABASE IF EXISTS `{upper_name}`")).unwrap();
    admin.query_drop(format!("CREATE DATABASE `{upper_name}`")).unwrap();
    let upper_url = upper.url.replace(&upper.name, &upper_name);
    let project = Project::new();
    project.migration("1_t.sql", "CREATE TABLE t (id int PRIMARY KEY);\n");
    for url in [&upper_url, &upper.url] {
        let output = project.cutover(url).arg("up").output().unwrap();
        let (_, stderr) = output_text(&output);
        assert!(output.status.success(), "{url}: {stderr}");
    }
    for name in [&upper_name, &lower_name] {
        let applied: i64 = admin
            .query_first(format!("SELECT count(*) FROM `{name}`.cutover_history WHERE state = 'applied'"))
            .unwrap()
            .unwrap();
        assert_eq!(applied, 1, "{name}");
    }
    admin.query_drop(format!("DROP DATABASE `{upper_name}`")).unwrap();
}

/// `history_table = "db.table"` is the table `table` of the database `db`, not a table named
/// `db.table`; its approvals and guard go beside it, and every spelling of one table takes one
/// runner lock: runners using `cutover_history` and `<db>.cutover_history` at once apply each
/// migration once.
#[test]
fn a_history_table_named_with_its_database_is_one_table_and_one_lock() {
    let db = MyDb::new();
    let project = Project::new();
    for idx in 1..=4 {
        project.migration(
            &format!("{idx}_t{idx}.up.sql"),
            &format!("CREATE TABLE t{idx} (id int PRIMARY KEY);\nINSERT INTO t{idx} VALUES ({idx});\n"),
        );
    }
    up_with_both_spellings(&project, &db.url, &["cutover_history".to_string(), format!("{}.cutover_history", db.name)]);
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_history WHERE state = 'applied'"), "4", "each migration once");
    let dotted = "SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE '%.%'";
    assert_eq!(db.query(dotted), "0", "no table named with a dot");

    // Another database's history: everything of cutover's goes there.
    let (app, home) = (MyDb::new(), MyDb::new());
    app.conn().query_drop("CREATE TABLE t (id int)").unwrap();
    let project = Project::new();
    project.migration("1_copy.up.sql", "ALTER TABLE t ADD COLUMN c int, ALGORITHM=COPY;\n");
    let output = project
        .cutover(&app.url)
        .args(["up", "--allow-unsafe"])
        .env("CUTOVER_HISTORY_TABLE", format!("{}.cutover_history", home.name))
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let tables = |schema: &str| {
        db.query(&format!(
            "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '{schema}'"
        ))
    };
    assert_eq!(tables(&app.name), "t", "only the migration's table");
    assert_eq!(tables(&home.name), "cutover_history,cutover_history_approvals,cutover_history_guard");
    assert_eq!(home.query("SELECT COUNT(*) FROM cutover_history WHERE state = 'applied'"), "1");
    assert_eq!(home.query("SELECT COUNT(*) FROM cutover_history_approvals"), "1", "the COPY approved");
}

/// SQLite: one file is one database, whose schema is `main`: `main.cutover_history` is
/// `cutover_history`, and another schema is refused rather than made part of a table's name.
#[test]
fn a_history_table_named_with_main_is_the_same_table_on_sqlite() {
    let project = Project::new();
    two_tables(&project);
    let url = project.sqlite_url();
    project.cutover(&url).args(["up", "--to", "1"]).assert().success();
    project.cutover(&url).arg("up").env("CUTOVER_HISTORY_TABLE", "main.cutover_history").assert().success();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let history: String = conn
        .query_row(
            "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%history%' ORDER BY name)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(history, "cutover_history,cutover_history_guard");
    let output =
        project.cutover(&url).arg("status").env("CUTOVER_HISTORY_TABLE", "ops.cutover_history").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a SQLite database keeps its tables in schema `main`, not `ops`"), "{stderr}");
}

/// A session in an open transaction that read the table holds its metadata lock until it ends:
/// the error names it (MariaDB shows no metadata-lock holders without a plugin, so the sessions
/// of the database in an open transaction are named, oldest first).
#[test]
fn a_lock_that_never_comes_names_the_open_transactions() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);\n");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration("2_alter.up.sql", "ALTER TABLE t ADD COLUMN note text, ALGORITHM=INSTANT;\n");
    let mut holder = db.conn();
    holder.query_drop("START TRANSACTION").unwrap();
    holder.query_drop("SELECT * FROM t").unwrap();
    let output = project
        .cutover(&db.url)
        .args(["up", "--lock-timeout", "1s"])
        .env("CUTOVER_LOCK_RETRIES", "1")
        .output()
        .unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another session held a conflicting lock for longer than the lock timeout:\n    session "),
        "{stderr}"
    );
    assert!(stderr.contains(", in a transaction on this database for "), "{stderr}");
    holder.query_drop("ROLLBACK").unwrap();
    project.cutover(&db.url).arg("up").assert().success();
}

/// Tester 18: a migration that failed part-way up (statements outside a transaction ran) is
/// not undone by its down script, which undoes the whole of it; `down` reverted the migration
/// under it instead, dropping its table with the rows, and the next `up` made it again without
/// the part's column and recorded everything applied. Refused now, on each engine, with the
/// way out; finished with `up`, the two revert in order.
fn partly_applied_blocks_the_down_below(project: &Project, url: &str, no_transaction: &str) {
    project.migration("1_k1.up.sql", &format!("{no_transaction}CREATE TABLE k1 (id int PRIMARY KEY, v int);\n"));
    project.migration("1_k1.down.sql", "DROP TABLE k1;\n");
    project.migration(
        "2_k2.up.sql",
        &format!("{no_transaction}ALTER TABLE k1 ADD COLUMN c int;\nINSERT INTO nosuchtable VALUES (2);\n"),
    );
    project.migration("2_k2.down.sql", &format!("{no_transaction}ALTER TABLE k1 DROP COLUMN c;\n"));
    let output = project.cutover(url).arg("up").output().unwrap();
    assert!(!output.status.success(), "{:?}", output_text(&output));
    for args in [
        &["down"][..],
        &["down", "--steps", "1"],
        &["down", "--steps", "2"],
        &["down", "--all"],
        &["down", "--to", "1"],
    ] {
        let output = project.cutover(url).args(args).output().unwrap();
        let (out, err) = output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {out}{err}");
        assert!(err.contains("2 k2 failed part-way up: 1 statement(s) of 2 ran"), "{args:?}: {err}");
        assert!(err.contains("nothing was reverted") && err.contains("`cutover up`"), "{args:?}: {err}");
    }
    // Finished, it reverts whole, then the one under it.
    project.migration(
        "2_k2.up.sql",
        &format!("{no_transaction}ALTER TABLE k1 ADD COLUMN c int;\nINSERT INTO k1 VALUES (2, 2, 2);\n"),
    );
    let output = project.cutover(url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let output = project.cutover(url).args(["down", "--all"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
}

#[test]
fn a_migration_failed_part_way_up_blocks_reverting_those_below_it_on_mariadb() {
    let db = MyDb::new();
    partly_applied_blocks_the_down_below(&Project::new(), &db.url, "");
    assert_eq!(
        db.query(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'k1'"
        ),
        "0"
    );
}

#[test]
fn a_migration_failed_part_way_up_blocks_reverting_those_below_it_on_postgres() {
    let db = PgDb::new();
    partly_applied_blocks_the_down_below(&Project::new(), &db.url, "-- cutover:no-transaction\n");
    assert_eq!(db.query("SELECT count(*) FROM pg_class WHERE relname = 'k1'"), "0");
}

#[test]
fn a_migration_failed_part_way_up_blocks_reverting_those_below_it_on_sqlite() {
    let project = Project::new();
    let url = project.sqlite_url();
    partly_applied_blocks_the_down_below(&project, &url, "-- cutover:no-transaction\n");
}

/// The same after a run killed part-way (its history row left `running`).
#[test]
fn a_migration_killed_part_way_up_blocks_reverting_those_below_it_on_mariadb() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_k1.up.sql", "CREATE TABLE k1 (id int PRIMARY KEY);\n");
    project.migration("1_k1.down.sql", "DROP TABLE k1;\n");
    project.migration("2_k2.up.sql", "ALTER TABLE k1 ADD COLUMN c int;\nSELECT SLEEP(5);\n");
    project.migration("2_k2.down.sql", "ALTER TABLE k1 DROP COLUMN c;\n");
    let mut child = project.cutover_std(&db.url).arg("up").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.query("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'k1' AND column_name = 'c'") != "1" {
        assert!(Instant::now() < deadline, "the first statement never ran");
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let output = project.cutover(&db.url).arg("down").output().unwrap();
    let (out, err) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("2 k2 was stopped part-way up"), "{err}");
    assert_eq!(
        db.query(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'k1'"
        ),
        "1"
    );
}

/// Tester 19: after a change for SQLite paths, `status`, `validate` and `history` on a server
/// read an empty in-memory database (every migration pending, `validate` ok on an edited one)
/// and printed the URL's password in a note. They read the server's history, and say nothing of
/// SQLite.
#[test]
fn reading_commands_read_the_servers_history() {
    let pg = PgDb::new();
    let my = MyDb::new();
    for url in [pg.url.clone(), my.url.clone()] {
        let project = Project::new();
        project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
        project.cutover(&url).arg("up").assert().success();
        let output = project.cutover(&url).arg("status").output().unwrap();
        let (out, err) = output_text(&output);
        assert!(output.status.success() && out.contains("applied"), "{out}{err}");
        assert!(!err.contains("SQLite") && !err.contains("cutover-test"), "{err}");
        let output = project.cutover(&url).args(["history", "--format", "json"]).output().unwrap();
        let history: serde_json::Value = serde_json::from_str(&output_text(&output).0).unwrap();
        let applied: Vec<(&str, &str)> = history["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| (row["name"].as_str().unwrap(), row["state"].as_str().unwrap()))
            .filter(|(_, state)| *state != "running")
            .collect();
        assert_eq!(applied, [("a", "applied")], "{history}");
        project.migration("1_a.up.sql", "CREATE TABLE a (id bigint);\n");
        let output = project.cutover(&url).arg("validate").output().unwrap();
        let (out, err) = output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{out}{err}");
        assert!(!err.contains("cutover-test"), "{err}");
    }
}

/// Tester 19: a migration stopped part-way outside a transaction, its directive then taken
/// out: the rerun ran it in a transaction, failed on what had run, recorded none done, and
/// `down` then reverted the migration below. Refused now, saying to put the setting back.
#[test]
fn a_part_way_migration_is_not_run_again_in_a_transaction() {
    let project = Project::new();
    let url = project.sqlite_url();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    project.migration("1_a.down.sql", "DROP TABLE a;\n");
    let no_tx = "-- cutover:no-transaction\n";
    let body = "CREATE TABLE b (id int);\nINSERT INTO nosuchtable VALUES (1);\n";
    project.migration("2_b.up.sql", &format!("{no_tx}{body}"));
    project.migration("2_b.down.sql", "DROP TABLE b;\n");
    assert!(!project.cutover(&url).arg("up").output().unwrap().status.success());
    project.migration("2_b.up.sql", body);
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (out, err) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("ran 1 of its statements outside a transaction, and it would now run in one"), "{err}");
    // The dry run decides as the run does (tester 21: it said "would apply ... in one transaction").
    let output = project.cutover(&url).args(["up", "--dry-run"]).output().unwrap();
    let (out, err) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("and it would now run in one"), "{err}");
    // Its progress is intact: `down` is still refused, and with the setting back `up` resumes.
    let output = project.cutover(&url).arg("down").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{:?}", output_text(&output));
    project.migration("2_b.up.sql", &format!("{no_tx}CREATE TABLE b (id int);\nCREATE TABLE c (id int);\n"));
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
}

/// `up` stops before a declarative migration; on MariaDB it sent the user to `cutover start`,
/// which refuses them there (tester 22): it says what to do instead, as `start` and `lint` do.
#[test]
fn up_on_mariadb_names_what_to_do_instead_of_a_declarative_migration() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_t.sql", "CREATE TABLE t (id int PRIMARY KEY);\n");
    project
        .migration("2_c.toml", "[[operations]]\nop = \"add_column\"\ntable = \"t\"\ncolumn = \"c\"\ntype = \"int\"\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("stopped before 2 c") && stdout.contains("cutover backfill"), "{stdout}");
    assert!(!stdout.contains("run `cutover start`"), "{stdout}");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output_text(&output).1.contains("`cutover rewrite`"), "{:?}", output_text(&output));
}
