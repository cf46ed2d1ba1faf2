//! Edges a careful user reaches: typos in versions and durations, two spellings of one history
//! table, concurrent index builds that leave INVALID indexes, locks of several tables. Each
//! case changes nothing and says how to fix it.

use crate::util::{output_text, PgDb, Project};

/// `(version, state)` of every history row, oldest first, on SQLite.
fn sqlite_states(project: &Project) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let mut stmt = conn.prepare("SELECT version, state FROM cutover_history ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

fn three_migrations() -> Project {
    let project = Project::new();
    for (version, table) in [("20240101000000", "a"), ("20240102000000", "b"), ("20240103000000", "c")] {
        project.migration(&format!("{version}_{table}.up.sql"), &format!("CREATE TABLE {table} (id integer);"));
        project.migration(&format!("{version}_{table}.down.sql"), &format!("DROP TABLE {table};"));
    }
    project
}

#[test]
fn a_version_that_no_migration_has_is_an_error_and_nothing_changes() {
    let project = three_migrations();
    let url = project.sqlite_url();
    project.cutover(&url).arg("up").assert().success();
    let before = sqlite_states(&project);

    // A typo of 20240101000000: numerically older than every version, it used to revert all.
    for args in [
        &["down", "--to", "2024010"][..],
        &["down", "--to", "20240101"],
        &["down", "--steps", "4"],
        &["down", "--steps", "0"],
        &["up", "--to", "5"],
        &["up", "--to", "1.5"],
        &["baseline", "20240104000000"],
    ] {
        let output = project.cutover(&url).args(args).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains("nothing was"), "{args:?}: {stderr}");
        assert_eq!(sqlite_states(&project), before, "{args:?} changed the history");
    }
    let output = project.cutover(&url).args(["down", "--to", "2024010"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(stderr.contains("no migration has version 2024010 (the nearest is 20240101000000)"), "{stderr}");

    // A version that exists but is not applied cannot be reverted to either.
    project.cutover(&url).args(["down", "--steps", "1"]).assert().success();
    let output = project.cutover(&url).args(["down", "--to", "20240103000000"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("migration 20240103000000 is reverted, not applied"), "{stderr}");

    // The real versions work, and --to keeps the version named.
    project.cutover(&url).args(["down", "--to", "20240101000000"]).assert().success();
    let states: Vec<String> = sqlite_states(&project).into_iter().map(|(v, s)| format!("{v}:{s}")).collect();
    assert_eq!(states.last().unwrap(), "20240102000000:reverted", "{states:?}");
    assert_eq!(states.iter().filter(|s| s.starts_with("20240101000000:reverted")).count(), 0, "{states:?}");
    project.cutover(&url).args(["down", "--all"]).assert().success();
    project.cutover(&url).args(["up", "--to", "20240102000000"]).assert().success();
    let output = project.cutover(&url).args(["down", "--to", "20240101000000", "--steps", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "--to and --steps together are refused by the parser");
}

#[test]
fn down_to_a_typo_reverts_nothing_on_postgres() {
    let db = PgDb::new();
    let project = three_migrations();
    project.cutover(&db.url).arg("up").assert().success();
    let output = project.cutover(&db.url).args(["down", "--to", "2024010"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(db.tables(), "a,b,c,cutover_history,cutover_history_guard");
}

#[test]
fn two_spellings_of_the_history_table_are_one_history_and_one_lock() {
    let db = PgDb::new();
    let project = Project::new();
    // Slow and not idempotent: a second application fails, and runners overlap.
    project.migration("1_a.up.sql", "SELECT pg_sleep(0.3); CREATE TABLE a (id integer);");
    project.migration("2_b.up.sql", "SELECT pg_sleep(0.3); CREATE TABLE b (id integer);");
    let children: Vec<_> = (0..8)
        .map(|idx| {
            let mut cmd = project.cutover_std(&db.url);
            if idx % 2 == 0 {
                cmd.env("CUTOVER_HISTORY_TABLE", "public.cutover_history");
            }
            cmd.arg("up").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "2");

    // An upper-case spelling would be another table on PostgreSQL: refused before connecting.
    let output =
        project.cutover(&db.url).env("CUTOVER_HISTORY_TABLE", "Cutover_History").arg("status").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CUTOVER_HISTORY_TABLE") && stderr.contains("`cutover_history`"), "{stderr}");

    // A history in a schema later on the search_path is found where it is, not created again.
    db.query("CREATE SCHEMA ops; ALTER TABLE cutover_history SET SCHEMA ops; ALTER TABLE IF EXISTS cutover_history_approvals SET SCHEMA ops");
    let url = format!("{}{}options=-csearch_path%3Dpublic,ops", db.url, if db.url.contains('?') { "&" } else { "?" });
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("up to date") || stdout.contains("applied 0"), "{stdout}");
    assert_eq!(db.query("SELECT count(*) FROM pg_tables WHERE tablename = 'cutover_history'"), "1");
}

#[test]
fn a_migration_of_several_tables_never_holds_one_while_it_waits_for_another() {
    use std::time::Duration;

    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_tables.up.sql",
        "CREATE TABLE t1 (id int); CREATE TABLE t2 (id int); CREATE TABLE t3 (id int); INSERT INTO t1 VALUES (1);",
    );
    project.cutover(&db.url).arg("up").assert().success();
    project.migration(
        "2_three.up.sql",
        "ALTER TABLE t1 ADD COLUMN a int;\nALTER TABLE t2 ADD COLUMN a int;\nALTER TABLE t3 ADD COLUMN a int;\n",
    );
    project.migration(
        "2_three.down.sql",
        "ALTER TABLE t1 DROP COLUMN a;\nALTER TABLE t2 DROP COLUMN a;\nALTER TABLE t3 DROP COLUMN a;\n",
    );
    let columns = "SELECT count(*) FROM information_schema.columns WHERE column_name = 'a'";
    // Statement by statement, t1's readers would wait for t2 (900ms) and then for t3 (1s).
    let worst = worst_read_of_t1_while(&project, &db, "up");
    assert!(worst < Duration::from_millis(1300), "up: a reader of t1 waited {worst:?} with a 1s lock timeout");
    assert_eq!(db.query(columns), "3");
    let worst = worst_read_of_t1_while(&project, &db, "down");
    assert!(worst < Duration::from_millis(1300), "down: a reader of t1 waited {worst:?} with a 1s lock timeout");
    assert_eq!(db.query(columns), "0");

    // Explicit LOCK TABLE statements are locks the migration takes too.
    project.migration(
        "2_three.up.sql",
        "ALTER TABLE t1 ADD COLUMN a int;\nLOCK TABLE t2 IN ACCESS EXCLUSIVE MODE;\nLOCK TABLE t3;\n",
    );
    let worst = worst_read_of_t1_while(&project, &db, "up");
    assert!(worst < Duration::from_millis(1300), "LOCK TABLE: a reader of t1 waited {worst:?} with a 1s lock timeout");
}

/// Runs `cutover <command>` with a 1s lock timeout while t2 is read by a transaction that
/// ends after 900ms and t3 by one that ends after 2.5s; returns the longest read of t1.
fn worst_read_of_t1_while(project: &Project, db: &PgDb, command: &str) -> std::time::Duration {
    use std::thread;
    use std::time::{Duration, Instant};

    let blockers: Vec<_> = [("t2", 900), ("t3", 2500)]
        .into_iter()
        .map(|(table, hold_ms)| {
            let url = db.url.clone();
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let handle = thread::spawn(move || {
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let mut tx = client.transaction().unwrap();
                tx.query(&format!("SELECT count(*) FROM {table}"), &[]).unwrap();
                ready_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(hold_ms));
                tx.commit().unwrap();
            });
            ready_rx.recv().unwrap();
            handle
        })
        .collect();
    let runner = project
        .cutover_std(&db.url)
        .args([command, "--lock-timeout", "1s"])
        .env("CUTOVER_LOCK_RETRIES", "10")
        .env("CUTOVER_RETRY_BACKOFF", "100ms")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reader_url = db.url.clone();
    let reader = thread::spawn(move || {
        let mut client = postgres::Client::connect(&reader_url, postgres::NoTls).unwrap();
        let until = Instant::now() + Duration::from_millis(3500);
        let mut worst = Duration::ZERO;
        while Instant::now() < until {
            let started = Instant::now();
            client.query("SELECT count(*) FROM t1", &[]).unwrap();
            worst = worst.max(started.elapsed());
            thread::sleep(Duration::from_millis(10));
        }
        worst
    });
    let worst = reader.join().unwrap();
    for blocker in blockers {
        blocker.join().unwrap();
    }
    let output = runner.wait_with_output().unwrap();
    assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
    worst
}

/// Tester 20: a concurrent index build that gave up waiting behind another session's snapshot
/// named no one (`plan` did): the failure names the session whose snapshot it waited out.
#[test]
fn a_concurrent_build_that_waits_out_a_snapshot_in_vain_names_the_session() {
    let db = PgDb::new();
    db.query("CREATE TABLE orders (id int, note text); CREATE TABLE other (id int)");
    let project = Project::new();
    project.migration("1_idx.up.sql", "CREATE INDEX CONCURRENTLY orders_note ON orders (note);\n");
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client.batch_execute("SET application_name = 'report-job'").unwrap();
    let mut tx = client.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).start().unwrap();
    tx.query("SELECT count(*) FROM other", &[]).unwrap();
    let output = project
        .cutover(&db.url)
        .args(["up", "--lock-timeout", "300ms"])
        .env("CUTOVER_LOCK_RETRIES", "2")
        .env("CUTOVER_RETRY_BACKOFF", "50ms")
        .output()
        .unwrap();
    tx.rollback().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("report-job") && stderr.contains("holds a snapshot"), "{stderr}");
}

/// Tester 21: a `DROP INDEX CONCURRENTLY` down script that gave up waiting left the index
/// INVALID, and `validate` said ok; it names the index now.
#[test]
fn validate_names_an_index_a_concurrent_drop_left_invalid() {
    let db = PgDb::new();
    db.query("CREATE TABLE tiny (v int)");
    let project = Project::new();
    project.migration("1_idx.up.sql", "CREATE INDEX CONCURRENTLY ev_v ON tiny (v);\n");
    project.migration("1_idx.down.sql", "DROP INDEX CONCURRENTLY ev_v;\n");
    project.cutover(&db.url).arg("up").assert().success();
    // A session that read the table: the drop marks the index invalid, then waits for it in
    // vain.
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut tx = client.transaction().unwrap();
    tx.query("SELECT count(*) FROM tiny", &[]).unwrap();
    let output = project
        .cutover(&db.url)
        .args(["down", "--lock-timeout", "300ms"])
        .env("CUTOVER_LOCK_RETRIES", "1")
        .output()
        .unwrap();
    tx.rollback().unwrap();
    assert!(!output.status.success(), "{:?}", output_text(&output));
    assert_eq!(broken_indexes(&db), "public.ev_v", "the drop left it invalid");
    let output = project.cutover(&db.url).arg("validate").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("index public.ev_v is INVALID"), "{stdout}");
}

/// The indexes of the database that are not valid and ready, `schema.name`, sorted.
fn broken_indexes(db: &PgDb) -> String {
    db.query(
        "SELECT coalesce(string_agg(n.nspname || '.' || c.relname, ',' ORDER BY 1), '') \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT (i.indisvalid AND i.indisready)",
    )
}

#[test]
fn a_concurrent_build_counts_only_when_its_index_is_valid() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE SCHEMA app; CREATE TABLE app.big2 (a int); INSERT INTO app.big2 VALUES (1), (1), (2);\n\
         CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1);",
    );
    project.cutover(&db.url).arg("up").assert().success();
    // An earlier build that failed on the duplicates, run by hand: an INVALID index of the
    // same name, on a table outside the search_path, with a name that needs quotes.
    let mut client = db.client();
    assert!(client.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY \"big2 a2\" ON app.big2 (a)").is_err());
    assert!(client.batch_execute("CREATE UNIQUE INDEX CONCURRENTLY ON t (a)").is_err());
    assert_eq!(broken_indexes(&db), "app.big2 a2,public.t_a_idx");
    db.query("DELETE FROM app.big2 WHERE a = 1; DELETE FROM t");

    project.migration(
        "2_unique.up.sql",
        "-- cutover:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"big2 a2\" ON app.big2 (a);\n\
         CREATE UNIQUE INDEX CONCURRENTLY ON t (a);\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    // IF NOT EXISTS used to pass over the INVALID index and record success.
    assert!(stderr.contains("dropped INVALID index app.big2 a2"), "{stderr}");
    assert!(stderr.contains("dropped INVALID index public.t_a_idx"), "{stderr}");
    assert_eq!(broken_indexes(&db), "");
    assert!(client.batch_execute("INSERT INTO app.big2 VALUES (2)").is_err(), "the unique index is enforced");
    // The unnamed index has the name an undisturbed run gives it, the one down scripts name.
    assert_eq!(db.query("SELECT string_agg(indexname, ',') FROM pg_indexes WHERE tablename = 't'"), "t_a_idx");
}

#[test]
fn a_failed_unique_build_is_refused_until_the_data_is_fixed_and_then_valid() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1);");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration(
        "2_u.up.sql",
        "-- cutover:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key ON t (a);",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("could not create unique index"), "{stderr}");
    db.query("DELETE FROM t");
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(broken_indexes(&db), "");
    assert!(db.client().batch_execute("INSERT INTO t VALUES (5), (5)").is_err(), "duplicates are refused afterwards");
}

#[test]
fn a_reindex_concurrently_cut_short_leaves_no_ccnew_behind_the_rerun() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE TABLE big (a int, b text); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 300000) g;\n\
         CREATE INDEX big_b ON big (b);",
    );
    project.cutover(&db.url).arg("up").assert().success();
    // Cut short by a statement timeout: PostgreSQL leaves `big_b_ccnew` INVALID.
    let mut client = db.client();
    client.batch_execute("SET statement_timeout = '100ms'").unwrap();
    let res = client.batch_execute("REINDEX INDEX CONCURRENTLY big_b");
    assert!(format!("{:?}", res.unwrap_err()).contains("statement timeout"));
    client.batch_execute("RESET statement_timeout").unwrap();
    assert_eq!(broken_indexes(&db), "public.big_b_ccnew");

    project.migration("2_reindex.up.sql", "-- cutover:no-transaction\nREINDEX INDEX CONCURRENTLY big_b;");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("dropped INVALID index public.big_b_ccnew"), "{stderr}");
    assert_eq!(broken_indexes(&db), "");
}

#[test]
fn one_sqlite_file_reached_by_two_paths_takes_one_lock() {
    let project = Project::new();
    // Slow (a recursive count) and not idempotent, so that runners overlap and a second
    // application shows.
    project.migration(
        "1_slow.up.sql",
        "CREATE TABLE log (v int);\nINSERT INTO log SELECT count(*) FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 3000000) SELECT i FROM r);\n",
    );
    let db = project.path("app.db");
    std::fs::write(&db, b"").unwrap();
    std::os::unix::fs::symlink(&db, project.path("link.db")).unwrap();
    std::fs::hard_link(&db, project.path("hard.db")).unwrap();
    let children: Vec<_> = ["app.db", "link.db", "hard.db", "app.db", "link.db", "hard.db"]
        .iter()
        .map(|name| {
            project
                .cutover_std(&format!("sqlite://{}", project.path(name).display()))
                .arg("up")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn.query_row("SELECT count(*) FROM log", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1, "the migration ran once");
}

#[test]
fn a_temporary_or_system_schema_cannot_hold_the_history() {
    let db = PgDb::new();
    let project = three_migrations();
    for table in ["pg_temp.cutover_history", "pg_temp_3.cutover_history", "pg_catalog.cutover_history"] {
        let output = project.cutover(&db.url).env("CUTOVER_HISTORY_TABLE", table).arg("up").output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{table}: {stderr}");
        assert!(stderr.contains("temporary or the system's"), "{stderr}");
    }
    assert_eq!(db.tables(), "NULL", "nothing was created");
}

#[test]
fn a_history_dropped_with_its_guard_is_told_from_a_new_database_by_what_the_database_has() {
    use crate::util::MyDb;
    let seed = |project: &Project| {
        project.migration("1_log.up.sql", "CREATE TABLE log (v int);\nINSERT INTO log VALUES (1);\n");
        project.migration("2_more.up.sql", "INSERT INTO log VALUES (2);\n");
    };
    // PostgreSQL: triggers off and both tables dropped, the deliberate way round every guard.
    let db = PgDb::new();
    let project = Project::new();
    seed(&project);
    project.cutover(&db.url).arg("up").assert().success();
    db.query("DROP TABLE cutover_history, cutover_history_guard");
    for args in [&["up"][..], &["up", "--dry-run"]] {
        let output = project.cutover(&db.url).args(args).output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("already has `log`, which 1 log makes") && stderr.contains("cutover baseline"),
            "{stderr}"
        );
    }
    assert_eq!(db.query("SELECT count(*) FROM log"), "2", "nothing ran again");
    // Adopting the database as it is works.
    project.cutover(&db.url).args(["baseline", "2"]).assert().success();
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM log"), "2");

    // MariaDB: one DROP of both tables needs no foreign_key_checks=0 (the child goes first).
    let my = MyDb::new();
    let project = Project::new();
    seed(&project);
    project.cutover(&my.url).arg("up").assert().success();
    let mut conn = my.conn();
    mysql::prelude::Queryable::query_drop(&mut conn, "DROP TABLE cutover_history_guard, cutover_history").unwrap();
    let output = project.cutover(&my.url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    assert_eq!(my.query("SELECT count(*) FROM log"), "2");

    // SQLite: both tables dropped.
    let project = Project::new();
    seed(&project);
    let url = project.sqlite_url();
    project.cutover(&url).arg("up").assert().success();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    conn.execute_batch("DROP TABLE cutover_history; DROP TABLE cutover_history_guard").unwrap();
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    let rows: i64 = conn.query_row("SELECT count(*) FROM log", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2);
}

/// Tester 18: `baseline` of a database that has none of the tables the migrations up to the
/// version leave (a mistyped SQLite path makes an empty file) recorded them as applied. Refused,
/// nothing recorded; with one of them there (migrated by other means), adopted.
#[test]
fn a_baseline_of_a_database_with_none_of_the_tables_is_refused() {
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id int);\n");
    project.migration("2_posts.up.sql", "CREATE TABLE posts (id int);\nDROP TABLE users;\n");
    project.migration("3_more.up.sql", "CREATE TABLE more (id int);\n");
    let url = project.sqlite_url();
    // A database file that exists, with no table (where none exists, baseline says so first).
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE scratch (id int); DROP TABLE scratch").unwrap();
    let output = project.cutover(&url).args(["baseline", "2"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has none of the tables the migrations up to 2 leave (`posts`)"), "{stderr}");
    assert!(stderr.contains("nothing was recorded"), "{stderr}");
    let rows: i64 = conn.query_row("SELECT count(*) FROM cutover_history", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 0);
    conn.execute_batch("CREATE TABLE posts (id int)").unwrap();
    // Typed with a leading zero, said and recorded as the migration spells it.
    let output = project.cutover(&url).args(["baseline", "02"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert!(output_text(&output).0.contains("baselined at version 2:"), "{:?}", output_text(&output));
    project.cutover(&url).arg("up").assert().success();
}

/// Tester 18: a database made by hand with the second migration's table (not the first's):
/// the first was applied, then the second failed with advice to fix its script. Refused
/// before anything runs, naming the table and the migration that creates it.
#[test]
fn a_table_of_a_later_migration_already_there_is_told_before_anything_runs() {
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id int);\n");
    project.migration("2_posts.up.sql", "CREATE TABLE posts (id int);\n");
    let url = project.sqlite_url();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE posts (id int)").unwrap();
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("already has `posts`, which 2 posts makes") && stderr.contains("cutover baseline"),
        "{stderr}"
    );
    let users: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'users'", [], |r| r.get(0)).unwrap();
    assert_eq!(users, 0, "nothing ran");

    // A table made from a query, there in another case (SQLite's names ignore it): the same
    // (tester 19).
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id int);\n");
    project.migration("2_snap.up.sql", "CREATE TABLE snap AS SELECT 1 AS x;\n");
    let url = project.sqlite_url();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE SNAP (x int)").unwrap();
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already has `snap`, which 2 snap makes"), "{stderr}");

    // A table a later migration renames into its name: the database was migrated past it, and
    // running the first again would make `users` beside it (tester 19).
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id int);\n");
    project.migration("2_accounts.up.sql", "ALTER TABLE users RENAME TO accounts;\n");
    let url = project.sqlite_url();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE accounts (id int)").unwrap();
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already has `accounts`, which 2 accounts makes"), "{stderr}");
    let users: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'users'", [], |r| r.get(0)).unwrap();
    assert_eq!(users, 0, "nothing ran");

    // A first migration that renames a table made before the folder out of the way and makes
    // one under its name: the table there is the database's own, no sign of a lost history
    // (tester 21: refused, with advice to baseline, which would have skipped it).
    let project = Project::new();
    project.migration(
        "1_swap.up.sql",
        "ALTER TABLE events RENAME TO events_old;\nCREATE TABLE events (id int PRIMARY KEY, v int);\n",
    );
    let url = project.sqlite_url();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE events (id int)").unwrap();
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
}

/// Tester 20: a down script that failed in its transaction (rolled back: nothing reverted)
/// left the migration `failed`, and the next `up` ran its up script again: the seed row was
/// inserted twice. The migration stays applied, and `up` does nothing.
fn a_failed_down_leaves_the_migration_applied(project: &Project, url: &str, count: &dyn Fn() -> String) {
    project.migration("001_t.up.sql", "CREATE TABLE ledger (id int PRIMARY KEY, amount int);\n");
    project.migration("001_t.down.sql", "DROP TABLE ledger;\n");
    project.migration("002_seed.up.sql", "INSERT INTO ledger (id, amount) VALUES (1, 100);\n");
    project.migration("002_seed.down.sql", "DELETE FROM ledger_typo WHERE amount = 100;\n");
    project.cutover(url).arg("up").assert().success();
    let output = project.cutover(url).arg("down").output().unwrap();
    assert!(!output.status.success(), "{:?}", output_text(&output));
    let output = project.cutover(url).args(["status", "--format", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["migrations"][1]["state"], "applied", "{json}");
    let output = project.cutover(url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("already") || stdout.contains("nothing") || stderr.contains("nothing"), "{stdout}{stderr}");
    assert_eq!(count(), "1", "the seed ran once");
    // Fixed, the down reverts it.
    project.migration("002_seed.down.sql", "DELETE FROM ledger WHERE amount = 100;\n");
    project.cutover(url).arg("down").assert().success();
    assert_eq!(count(), "0");
}

/// Tester 21: a down script that stopped part-way was said by `validate` to be resumed by
/// `cutover up`, which refuses it; `down` finishes it.
#[test]
fn validate_says_down_finishes_a_down_script_stopped_part_way() {
    let project = Project::new();
    let url = project.sqlite_url();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n");
    project.migration("1_a.down.sql", "-- cutover:no-transaction\nDROP TABLE b;\nDROP TABLE no_such;\n");
    project.cutover(&url).arg("up").assert().success();
    assert!(!project.cutover(&url).arg("down").output().unwrap().status.success());
    let output = project.cutover(&url).arg("validate").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(
        stdout.contains("1 a's down script failed at") && stdout.contains("run `cutover down` to finish reverting it"),
        "{stdout}{stderr}"
    );
}

#[test]
fn a_failed_down_leaves_the_migration_applied_on_sqlite() {
    let project = Project::new();
    let url = project.sqlite_url();
    let path = project.path("app.db");
    let count = move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("SELECT count(*) FROM ledger", [], |r| r.get::<_, i64>(0)).unwrap().to_string()
    };
    a_failed_down_leaves_the_migration_applied(&project, &url, &count);
}

#[test]
fn a_failed_down_leaves_the_migration_applied_on_mariadb() {
    let db = crate::util::MyDb::new();
    a_failed_down_leaves_the_migration_applied(&Project::new(), &db.url, &|| db.query("SELECT count(*) FROM ledger"));
}

#[test]
fn a_failed_down_leaves_the_migration_applied_on_postgres() {
    let db = PgDb::new();
    a_failed_down_leaves_the_migration_applied(&Project::new(), &db.url, &|| db.query("SELECT count(*) FROM ledger"));
}

/// Tester 20: a session-level `SET search_path` in one migration reached the next one run by
/// the same `up`: its unqualified `ALTER TABLE accounts` changed `billing.accounts` (600k rows)
/// where the lint, and a separate `up`, take `public.accounts`. Each migration starts from the
/// connection's settings.
#[test]
fn a_session_setting_of_one_migration_does_not_reach_the_next_on_postgres() {
    let db = PgDb::new();
    db.query("CREATE SCHEMA billing; CREATE TABLE billing.accounts (id int); CREATE TABLE public.accounts (id int)");
    let project = Project::new();
    project.migration(
        "001_sp.up.sql",
        "SET search_path = billing;\nSET ROLE NONE;\nCREATE TABLE IF NOT EXISTS marker (id int);\n",
    );
    project.migration("002_unqualified.up.sql", "ALTER TABLE accounts ADD COLUMN h int;\n");
    project.cutover(&db.url).arg("up").assert().success();
    let with_h = db.query(
        "SELECT string_agg(table_schema, ',' ORDER BY table_schema) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'h'",
    );
    assert_eq!(with_h, "public", "the second migration changed the table the lint judged");
    assert_eq!(db.query("SELECT to_regclass('billing.marker') IS NOT NULL"), "t", "the first ran in its own setting");
}

/// Tester 21: a temporary table of one migration took the next one's INSERT (lost with the
/// session, both recorded applied); `SET SESSION AUTHORIZATION` made the next one's table
/// another role's; `SET ROLE` to a role that cannot write the history failed the migration.
#[test]
fn temporary_tables_and_roles_of_one_migration_do_not_reach_the_next_on_postgres() {
    let db = PgDb::new();
    let role = format!("r_{}", db.name);
    db.query(&format!(
        "CREATE TABLE t (id int); CREATE ROLE {role}; GRANT CREATE, USAGE ON SCHEMA public TO {role}; GRANT ALL ON t TO {role}"
    ));
    let project = Project::new();
    project.migration("001_temp.up.sql", "CREATE TEMP TABLE t (id int);\n");
    project.migration("002_insert.up.sql", "INSERT INTO t VALUES (2);\n");
    project
        .migration("003_auth.up.sql", &format!("SET SESSION AUTHORIZATION {role};\nCREATE TABLE owned_3 (id int);\n"));
    project.migration("004_after.up.sql", "CREATE TABLE owned_4 (id int);\n");
    project.migration("005_role.up.sql", &format!("SET ROLE {role};\nCREATE TABLE owned_5 (id int);\n"));
    project.migration("006_after.up.sql", "CREATE TABLE owned_6 (id int);\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let ok = output.status.success();
    let owners = db.query(
        "SELECT string_agg(tablename || ':' || (tableowner = current_user)::text, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'owned_%'",
    );
    let rows = db.query("SELECT count(*) FROM public.t");
    db.query(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
    assert!(ok, "{:?}", output_text(&output));
    assert_eq!(rows, "1", "the INSERT reached the real table");
    assert_eq!(owners, "owned_3:false,owned_4:true,owned_5:false,owned_6:true");
}

#[test]
fn a_temporary_table_of_one_migration_does_not_reach_the_next_on_sqlite() {
    let project = Project::new();
    let url = project.sqlite_url();
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE t (id int)").unwrap();
    project.migration("001_temp.up.sql", "CREATE TEMP TABLE t (id int);\n");
    project.migration("002_insert.up.sql", "INSERT INTO t VALUES (2);\n");
    project.cutover(&url).arg("up").assert().success();
    let rows: i64 = conn.query_row("SELECT count(*) FROM main.t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn a_session_setting_of_one_migration_does_not_reach_the_next_on_mariadb() {
    let db = crate::util::MyDb::new();
    let project = Project::new();
    project.migration("001_set.up.sql", "SET foreign_key_checks = 0;\nSET @leak = 1;\nCREATE TABLE a (id int);\n");
    project.migration("002_probe.up.sql", "CREATE TABLE probe AS SELECT @@foreign_key_checks AS fkc, @leak AS leak;\n");
    // Tester 21: `SET autocommit = 0` left the migration's last history row uncommitted, lost
    // at the reset: shown running, though applied.
    project
        .migration("003_manual.up.sql", "SET autocommit = 0;\nCREATE TABLE m (id int);\nINSERT INTO m VALUES (1);\n");
    project.migration("004_after.up.sql", "CREATE TABLE n (id int);\n");
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT CONCAT(fkc, ',', COALESCE(leak, 'none')) FROM probe"), "1,none");
    let output = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let states: Vec<&str> =
        json["migrations"].as_array().unwrap().iter().map(|m| m["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["applied"; 4], "{json}");
    assert_eq!(db.query("SELECT count(*) FROM m"), "1");
}

/// Tester 19: a migration that stopped part-way outside a transaction, its file deleted since,
/// was shown "missing" and "applied at" the time it failed; `validate` said it "was applied".
/// It was never applied whole: each says it stopped part-way and how far it got.
#[test]
fn a_part_way_migration_whose_file_is_gone_is_not_called_applied() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    project.migration("2_b.up.sql", "-- cutover:no-transaction\nCREATE TABLE b (id int);\nCREATE TABLE a (id int);\n");
    let url = project.sqlite_url();
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(!output.status.success(), "{:?}", output_text(&output));
    std::fs::remove_file(project.path("migrations/2_b.up.sql")).unwrap();

    let output = project.cutover(&url).arg("status").output().unwrap();
    let (stdout, _) = output_text(&output);
    let line = stdout.lines().find(|l| l.contains("  b  ")).unwrap_or_default();
    assert!(line.contains("missing") && line.contains("stopped part-way up at"), "{stdout}");
    assert!(line.contains("1 of 2 statements applied; its file is gone"), "{stdout}");

    let output = project.cutover(&url).args(["status", "--format", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let b = &json["migrations"][1];
    assert_eq!((b["state"].as_str(), b["applied_at"].as_str()), (Some("missing"), None), "{json}");
    assert_eq!((b["statements_done"].as_i64(), b["statements_total"].as_i64()), (Some(1), Some(2)), "{json}");

    let output = project.cutover(&url).arg("validate").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success());
    assert!(
        stdout.contains("2 b stopped part-way up at") && stdout.contains("but its file `2_b.up.sql` is gone"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("was applied"), "{stdout}");
}

#[test]
fn a_rehearsal_missing_a_table_made_before_the_folder_points_to_template() {
    let db = PgDb::new();
    db.query("CREATE TABLE users (id int)");
    let project = Project::new();
    project.migration("1_x.up.sql", "ALTER TABLE users ADD COLUMN x int;");
    let output = project.cutover(&db.url).arg("rehearse").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("relation \"users\" does not exist") && stdout.contains("--template"), "{stdout}");
}
