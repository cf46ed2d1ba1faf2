//! The runner on a real MariaDB (MySQL): DDL commits implicitly, so every migration runs
//! statement by statement with its progress recorded; one runner at a time through GET_LOCK;
//! lock_wait_timeout keeps a waiting ALTER from stalling the queries queued behind it.

use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::util::{output_text, MyDb, Project};

#[test]
fn up_status_down_and_an_append_only_history() {
    let db = MyDb::new();
    let project = Project::new();
    project
        .migration(
            "1_users.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, name varchar(100));\nINSERT INTO users VALUES (1, 'ada');\n",
        )
        .migration("1_users.down.sql", "DROP TABLE users;\n")
        .migration("2_email.up.sql", "ALTER TABLE users ADD COLUMN email varchar(200);\n")
        .migration("2_email.down.sql", "ALTER TABLE users DROP COLUMN email;\n");
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM users WHERE name = 'ada'"), "1");
    assert_eq!(
        db.query("SELECT group_concat(state ORDER BY id) FROM cutover_history WHERE state <> 'running'"),
        "applied,applied"
    );
    assert_eq!(db.query("SELECT max(transactional) FROM cutover_history"), "0", "DDL is not transactional here");
    let output = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["migrations"][1]["state"], "applied");

    project.cutover(&db.url).arg("down").assert().success();
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name = 'email'"
        ),
        "0"
    );
    let mut conn = db.conn();
    let err = conn.query_drop("UPDATE cutover_history SET state = 'applied'").unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(conn.query_drop("DELETE FROM cutover_history").is_err());
    project.cutover(&db.url).arg("validate").assert().success();
}

#[test]
fn a_failed_migration_resumes_at_its_failing_statement() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration(
        "1_two_tables.up.sql",
        "CREATE TABLE a (id int PRIMARY KEY);\nALTER TABLE nowhere ADD COLUMN x int;\nCREATE TABLE b (id int PRIMARY KEY);\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1_two_tables.up.sql:2"), "{stderr}");
    assert!(stderr.contains("1146"), "MariaDB's error code: {stderr}");
    // The first statement committed on its own (MySQL DDL), and the history says so.
    assert_eq!(
        db.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'a'"),
        "1"
    );
    assert_eq!(
        db.query("SELECT concat(state, ' ', statements_done) FROM cutover_history ORDER BY id DESC LIMIT 1"),
        "failed 1"
    );

    // Fixed after the statements already done: `CREATE TABLE a` must not run again (it would fail).
    project.migration(
        "1_two_tables.up.sql",
        "CREATE TABLE a (id int PRIMARY KEY);\nALTER TABLE a ADD COLUMN x int;\nCREATE TABLE b (id int PRIMARY KEY);\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'a' AND column_name = 'x'"), "1");
    assert_eq!(db.query("SELECT state FROM cutover_history ORDER BY id DESC LIMIT 1"), "applied");

    // Editing a statement that was already applied is refused.
    project.migration("2_c.up.sql", "CREATE TABLE c (id int);\nALTER TABLE nowhere ADD COLUMN y int;\n");
    project.cutover(&db.url).arg("up").assert().code(2);
    project.migration("2_c.up.sql", "CREATE TABLE c (id bigint);\nALTER TABLE c ADD COLUMN y int;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output_text(&output).1.contains("have been edited since"), "{}", output_text(&output).1);
}

#[test]
fn eight_concurrent_runners_apply_each_migration_once() {
    let db = MyDb::new();
    let project = Project::new();
    for idx in 1..=5 {
        project.migration(
            &format!("{idx}_t{idx}.up.sql"),
            &format!("CREATE TABLE t{idx} (id int PRIMARY KEY);\nINSERT INTO t{idx} VALUES ({idx});\n"),
        );
    }
    project.run_concurrently(&db.url, 8, &["up"]);
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "5");
    for idx in 1..=5 {
        assert_eq!(db.query(&format!("SELECT count(*) FROM t{idx}")), "1");
    }
}

/// An open transaction holds a shared metadata lock on `t`; cutover's `ALTER TABLE` waits for
/// the exclusive one, and every later query on `t` would queue behind it. With
/// lock_wait_timeout the ALTER gives up after a second, so readers wait at most that long, and
/// cutover retries until the transaction ends.
#[test]
fn a_waiting_alter_does_not_stall_readers_past_the_lock_timeout() {
    let db = MyDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1); SELECT 1");
    let project = Project::new();
    project.migration("1_alter.up.sql", "ALTER TABLE t ADD COLUMN w int;\n");

    let mut holder = db.conn();
    holder.query_drop("START TRANSACTION").unwrap();
    let _: Vec<mysql::Row> = holder.query("SELECT * FROM t").unwrap();

    let child = project
        .cutover_std(&db.url)
        .args(["up", "--lock-timeout", "1s"])
        .env("CUTOVER_LOCK_RETRIES", "10")
        .env("CUTOVER_RETRY_BACKOFF", "200ms")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A reader, as the application: each read must finish within the lock timeout (+ margin).
    let url = db.url.clone();
    let reader = thread::spawn(move || {
        let mut conn = crate::util::mysql_conn(&url);
        conn.query_drop("SET SESSION lock_wait_timeout = 30").unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut slowest = Duration::ZERO;
        while Instant::now() < deadline {
            let started = Instant::now();
            let _: Vec<mysql::Row> = conn.query("SELECT * FROM t").unwrap();
            slowest = slowest.max(started.elapsed());
            thread::sleep(Duration::from_millis(50));
        }
        slowest
    });
    let slowest = reader.join().unwrap();
    holder.query_drop("COMMIT").unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("retrying") || stderr.contains("try"), "the ALTER was retried: {stderr}");
    assert!(slowest < Duration::from_millis(1800), "a reader waited {slowest:?} behind the ALTER");
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name = 'w'"
        ),
        "1"
    );
}

#[test]
fn a_wrong_password_is_an_error_without_the_password() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    let url = db.url.replace("cutover-test", "wrong-s3cret");
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("cannot connect") && stderr.contains("***"), "{stderr}");
    assert!(!stdout.contains("wrong-s3cret") && !stderr.contains("wrong-s3cret"), "{stderr}");
}

/// The algorithm the analysis predicts is the one MariaDB really uses: asked for a cheaper one,
/// the server refuses; asked for the predicted one (with LOCK=NONE where writes go on), it agrees.
#[test]
fn predicted_algorithms_are_what_the_server_does() {
    let db = MyDb::new();
    let mut conn = db.conn();
    let version: String = conn.query_first("SELECT version()").unwrap().unwrap();
    let server = cutover_analysis::MysqlServer::from_server_version(&version).unwrap();
    let cases = [
        "ALTER TABLE t ADD COLUMN c int",
        "ALTER TABLE t ADD COLUMN c int FIRST",
        "ALTER TABLE t DROP COLUMN note",
        "ALTER TABLE t RENAME COLUMN note TO remark",
        "ALTER TABLE t ALTER COLUMN note SET DEFAULT 'x'",
        "ALTER TABLE t MODIFY COLUMN n bigint",
        "ALTER TABLE t ADD INDEX t_n (n)",
        "ALTER TABLE t ADD CONSTRAINT t_pos CHECK (n >= 0)",
        "ALTER TABLE t ADD COLUMN seq int AUTO_INCREMENT UNIQUE",
        "CREATE INDEX t_note ON t (note)",
        "CREATE FULLTEXT INDEX t_ft ON t (note)",
        "ALTER TABLE t ADD FULLTEXT INDEX t_ft (note)",
        // Table options, which the parser does not read (a narrow reader does).
        "ALTER TABLE t CONVERT TO CHARACTER SET latin1",
        "ALTER TABLE t DEFAULT CHARACTER SET latin1",
        "ALTER TABLE t COMMENT='a, b'",
        "ALTER TABLE t FORCE",
        "ALTER TABLE t ROW_FORMAT=COMPACT",
        "ALTER TABLE t ENGINE=InnoDB",
        // MariaDB forms sqlparser does not read (a reader of their own does).
        "ALTER ONLINE TABLE t ADD COLUMN c int",
        "ALTER TABLE t WAIT 5 ADD COLUMN c int",
        "ALTER TABLE t ADD COLUMN (c int, d varchar(10) CHARSET latin1)",
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int",
        "ALTER TABLE t ADD INDEX IF NOT EXISTS t_n (n)",
        "ALTER TABLE t MODIFY COLUMN IF EXISTS n bigint",
        "ALTER TABLE t FORCE, ADD COLUMN c int",
        "ALTER TABLE t ADD SYSTEM VERSIONING",
    ];
    for sql in cases {
        conn.query_drop("DROP TABLE IF EXISTS t").unwrap();
        conn.query_drop(
            "CREATE TABLE t (id int PRIMARY KEY, n int, note varchar(100)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        )
        .unwrap();
        conn.query_drop("INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b')").unwrap();
        let effect = cutover_analysis::sqlparse::analyze_mysql(sql, server).unwrap();
        let ddl = effect.mysql.unwrap();
        let predicted = ddl.algorithm.unwrap();
        let lock = if ddl.concurrent_dml { "NONE" } else { "SHARED" };
        let with = |algorithm: &str, lock: &str| {
            if sql.starts_with("CREATE") {
                format!("{sql} ALGORITHM={algorithm} LOCK={lock}")
            } else {
                format!("{sql}, ALGORITHM={algorithm}, LOCK={lock}")
            }
        };
        let cheaper = match predicted {
            cutover_analysis::Algorithm::Instant => None,
            cutover_analysis::Algorithm::Inplace => Some("INSTANT"),
            cutover_analysis::Algorithm::Copy => Some("INPLACE"),
        };
        if let Some(cheaper) = cheaper {
            assert!(conn.query_drop(with(cheaper, "DEFAULT")).is_err(), "{sql}: the server did it with {cheaper}");
        }
        if predicted != cutover_analysis::Algorithm::Copy {
            conn.query_drop(with(predicted.name(), lock))
                .unwrap_or_else(|err| panic!("{sql}: predicted {} LOCK={lock}, server said {err}", predicted.name()));
            if !ddl.concurrent_dml {
                conn.query_drop("DROP TABLE t").unwrap();
                conn.query_drop("CREATE TABLE t (id int PRIMARY KEY, n int, note varchar(100)) ENGINE=InnoDB").unwrap();
                assert!(conn.query_drop(with(predicted.name(), "NONE")).is_err(), "{sql}: writes could go on");
            }
        } else {
            conn.query_drop(with("COPY", "SHARED")).unwrap_or_else(|err| panic!("{sql}: {err}"));
        }
    }
}

/// `cutover plan` on MariaDB, on tables made before the folder: sizes from
/// `information_schema`, what a dropped column takes with it (its index, a view, a trigger),
/// the algorithm the server will use with the live indexes known, in text and JSON.
#[test]
fn plan_reads_the_mariadb_catalog() {
    let _shared = crate::util::mariadb_plan_guard();
    let db = MyDb::new();
    let mut conn = db.conn();
    conn.query_drop(
        "CREATE TABLE users (id int PRIMARY KEY, name varchar(100), note text, KEY users_name (name)) ENGINE=InnoDB",
    )
    .unwrap();
    conn.query_drop("INSERT INTO users SELECT seq, md5(seq), NULL FROM seq_1_to_20000").unwrap();
    conn.query_drop(
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int, FOREIGN KEY (user_id) REFERENCES users (id))",
    )
    .unwrap();
    conn.query_drop("CREATE VIEW named AS SELECT id, name FROM users").unwrap();
    conn.query_drop("CREATE VIEW named_ids AS SELECT id FROM named").unwrap();
    conn.query_drop("CREATE TRIGGER users_name BEFORE UPDATE ON users FOR EACH ROW SET NEW.name = TRIM(NEW.name)")
        .unwrap();
    conn.query_drop("ANALYZE TABLE users").unwrap();
    let project = Project::new();
    project
        .migration("1_drop_name.sql", "ALTER TABLE users DROP COLUMN name;\n")
        .migration("2_drop_note.sql", "ALTER TABLE users DROP COLUMN note;\n")
        .migration("3_orders.sql", "DROP TABLE orders;\n")
        .migration("4_views.sql", "DROP VIEW named_ids;\nDROP VIEW named;\n");
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(stderr.is_empty() || !stderr.contains("PostgreSQL"), "{stderr}");
    for expected in [
        "ALGORITHM=INPLACE on users (reads and writes go on",
        "ALGORITHM=INSTANT on users (metadata only",
        "users.name is used by index users_name",
        "users.name is used by view named",
        "users.name is used by trigger users_name",
        "error[drop-column]",
        "exclusive metadata lock on named (reads and writes of it wait while it runs; a view)",
        "named is used by view named_ids",
    ] {
        assert!(stdout.contains(expected), "missing `{expected}`:\n{stdout}");
    }
    // InnoDB's estimate of the rows, not a count: near 20,000.
    let rows: i64 = stdout
        .lines()
        .find(|l| l.contains("on users ("))
        .and_then(|l| l.rsplit("; ").next())
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!((10_000..=40_000).contains(&rows), "{rows}: {stdout}");
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let first = &plan["migrations"][0]["statements"][0];
    assert_eq!(first["mysql_algorithm"], "INPLACE", "{first}");
    assert_eq!(first["mysql_concurrent_writes"], true, "{first}");
    let dependents: Vec<&str> =
        first["dependents"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(dependents, ["view", "trigger", "index"], "{first}");
    // A table large enough to measure the read rate on: a copy's time is estimated from it
    // (measured here: about 1 s estimated for a 1 s copy of 300,000 rows).
    conn.query_drop("CREATE TABLE big (id int PRIMARY KEY, a varchar(100), b int)").unwrap();
    conn.query_drop("INSERT INTO big SELECT seq, repeat('x', 80), seq FROM seq_1_to_120000").unwrap();
    conn.query_drop("ANALYZE TABLE big").unwrap();
    let sized = Project::new();
    sized.migration("1_big.sql", "ALTER TABLE big MODIFY b bigint;\nALTER TABLE big ADD COLUMN c int;\n");
    let output = sized.cutover(&db.url).arg("plan").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(stdout.contains("copies the table, about "), "{stdout}");
    assert!(stdout.contains("read rate measured here: "), "{stdout}");
    assert_eq!(stdout.matches(", about ").count(), 1, "nothing to estimate for INSTANT: {stdout}");
    // Nothing was applied.
    let left: i64 = conn
        .query_first(
            "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users'",
        )
        .unwrap()
        .unwrap();
    assert_eq!(left, 3);
}

/// `up`'s gate on MariaDB judges the tables made before the folder as the catalog describes
/// them: a `MODIFY` that keeps a column's type (MariaDB prints `int(11)` for `int`) is in place
/// and applies; one that changes it (to `int unsigned`) copies the table and is refused.
#[test]
fn the_mariadb_gate_knows_the_tables_made_before_the_folder() {
    let db = MyDb::new();
    let mut conn = db.conn();
    conn.query_drop("CREATE TABLE accounts (id int PRIMARY KEY, n int, note varchar(100)) ENGINE=InnoDB").unwrap();
    conn.query_drop("INSERT INTO accounts SELECT seq, seq, 'x' FROM seq_1_to_1000").unwrap();
    let project = Project::new();
    project.migration("1_not_null.sql", "ALTER TABLE accounts MODIFY COLUMN n int NOT NULL DEFAULT 0;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "the same type, in place: {stderr}");
    project.migration("2_unsigned.sql", "ALTER TABLE accounts MODIFY COLUMN n int unsigned NOT NULL DEFAULT 0;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2_unsigned.sql:1: error[mysql-copy-algorithm]"), "{stderr}");
    let kept: String = conn
        .query_first("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'accounts' AND COLUMN_NAME = 'n'")
        .unwrap()
        .unwrap();
    assert_eq!(kept, "int(11)", "nothing of the refused migration applied");

    // From the tester: what keeps the type but still copies is refused, not applied: a
    // column converted to the table's character set (none written), one written, and
    // AUTO_INCREMENT added.
    conn.query_drop(
        "CREATE TABLE codes (id int NOT NULL PRIMARY KEY, u varchar(10) CHARACTER SET latin1, v varchar(10)) DEFAULT CHARSET=utf8mb4",
    )
    .unwrap();
    for (file, sql) in [
        ("3_charset.sql", "ALTER TABLE codes MODIFY u varchar(10);\n"),
        ("3_charset.sql", "ALTER TABLE codes MODIFY v varchar(10) CHARACTER SET latin1;\n"),
        ("3_charset.sql", "ALTER TABLE codes MODIFY id int NOT NULL AUTO_INCREMENT;\n"),
    ] {
        let project = Project::new();
        project.migration("1_not_null.sql", "ALTER TABLE accounts MODIFY COLUMN n int NOT NULL DEFAULT 0;\n");
        project.migration(file, sql);
        let output = project.cutover(&db.url).args(["up", "--allow-out-of-order"]).output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{sql}: {stderr}");
        assert!(stderr.contains("error[mysql-copy-algorithm]"), "{sql}: {stderr}");
    }
}

/// From the tester: a MyISAM or Aria table, or an InnoDB table with a FULLTEXT index, made
/// before the folder, has no instant or online path for what an InnoDB table does online: the
/// gate refuses it (and the server is asked, to keep the facts true), and lets through what
/// stays in the dictionary or builds a plain index.
#[test]
fn the_mariadb_gate_knows_the_storage_of_the_tables_made_before_the_folder() {
    let db = MyDb::new();
    let mut conn = db.conn();
    conn.query_drop("CREATE TABLE logs (id int PRIMARY KEY, n int) ENGINE=MyISAM").unwrap();
    conn.query_drop("CREATE TABLE marks (id int PRIMARY KEY, n int) ENGINE=Aria").unwrap();
    conn.query_drop(
        "CREATE TABLE posts (id int PRIMARY KEY, n int, body text, FULLTEXT KEY posts_body (body)) ENGINE=InnoDB",
    )
    .unwrap();
    for (sql, online) in [
        ("ALTER TABLE logs ADD COLUMN c int, ALGORITHM=INPLACE", false),
        ("ALTER TABLE marks ADD INDEX marks_n (n), ALGORITHM=INPLACE", false),
        ("ALTER TABLE posts ADD COLUMN c int, LOCK=NONE", false),
        ("ALTER TABLE posts ADD INDEX posts_n (n), LOCK=NONE", true),
    ] {
        assert_eq!(conn.query_drop(sql).is_ok(), online, "the server: {sql}");
    }
    conn.query_drop("ALTER TABLE posts DROP INDEX posts_n").unwrap();
    // From the tester: the database's own name before the table's, executable comments,
    // and OPTIMIZE of several tables are judged the same.
    let qualified = format!("ALTER TABLE `{}`.logs ADD COLUMN c int;", db.name);
    for (sql, rule) in [
        ("ALTER TABLE logs ADD COLUMN c int;", "error[mysql-copy-algorithm]"),
        ("CREATE INDEX marks_n ON marks (n);", "error[mysql-copy-algorithm]"),
        ("ALTER TABLE posts ADD COLUMN c int;", "[mysql-blocking-ddl]"),
        (qualified.as_str(), "error[mysql-copy-algorithm]"),
        (
            "ALTER TABLE logs /*M!100500 ADD COLUMN c int, */ ALTER COLUMN n SET DEFAULT 2;",
            "error[mysql-copy-algorithm]",
        ),
        ("OPTIMIZE TABLE posts, logs;", "error[mysql-copy-algorithm]"),
    ] {
        let project = Project::new();
        project.migration("1_change.sql", &format!("{sql}\n"));
        let output = project.cutover(&db.url).arg("up").output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{sql}: {stderr}");
        assert!(stderr.contains(rule), "{sql}: {stderr}");
        let why = if sql.contains("posts ADD") { "has a FULLTEXT index" } else { "has no online ALTER" };
        assert!(stderr.contains(why), "{sql}: {stderr}");
    }
    // `lint --database-url` reads the same catalog, and the server's version.
    let project = Project::new();
    project.migration("1_change.sql", "ALTER TABLE logs ADD COLUMN c int;\n");
    let output = project.cutover(&db.url).args(["lint", "--database-url", &db.url]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("`logs` is a MyISAM table"), "{stdout}{stderr}");
    assert!(stdout.contains("convert `logs` from MyISAM to InnoDB once"), "{stdout}{stderr}");
    let project = Project::new();
    project.migration("1_default.sql", "ALTER TABLE logs ALTER COLUMN n SET DEFAULT 1;\n");
    project.migration("2_index.sql", "CREATE INDEX posts_n ON posts (n);\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "the dictionary, a plain index: {stderr}");
    let columns: i64 = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'c'",
        )
        .unwrap()
        .unwrap();
    assert_eq!(columns, 0, "nothing refused was applied");
}

/// `cutover rehearse` on MariaDB: a scratch database beside the real one (its tables copied, or
/// the applied migrations replayed), each DDL statement run with the cheapest algorithm and lock
/// the server accepts and checked against the prediction, the down script's round trip; the
/// real database untouched, the scratch one dropped.
#[test]
fn rehearse_checks_each_predicted_algorithm_on_a_scratch_database() {
    let db = MyDb::new();
    let mut conn = db.conn();
    conn.query_drop("CREATE TABLE logs (id int PRIMARY KEY, n int) ENGINE=MyISAM").unwrap();
    conn.query_drop(
        "CREATE TABLE posts (id int PRIMARY KEY, n int, body text, FULLTEXT KEY posts_body (body)) ENGINE=InnoDB",
    )
    .unwrap();
    conn.query_drop("CREATE TABLE users (id int PRIMARY KEY, email varchar(20) NOT NULL) DEFAULT CHARSET=utf8mb4")
        .unwrap();
    conn.query_drop("CREATE VIEW user_emails AS SELECT id, email FROM users").unwrap();
    conn.query_drop("INSERT INTO users VALUES (1, 'a@example.com'), (2, 'b@example.com')").unwrap();
    let project = Project::new();
    project.migration(
        "1_changes.sql",
        "ALTER TABLE posts ADD COLUMN c int;\nCREATE INDEX posts_n ON posts (n);\nALTER TABLE logs ALTER COLUMN n SET DEFAULT 3;\nALTER TABLE users MODIFY email varchar(60) NOT NULL;\nALTER TABLE users RENAME COLUMN email TO mail;\nALTER TABLE logs ADD COLUMN c int;\nALTER TABLE users CONVERT TO CHARACTER SET utf8mb4;\n",
    );
    project.migration(
        "1_changes.down.sql",
        "ALTER TABLE logs DROP COLUMN c;\nALTER TABLE users RENAME COLUMN mail TO email;\nALTER TABLE users MODIFY email varchar(20) NOT NULL;\nALTER TABLE logs ALTER COLUMN n DROP DEFAULT;\nDROP INDEX posts_n ON posts;\nALTER TABLE posts DROP COLUMN c;\n",
    );
    let output = project
        .cutover(&db.url)
        .args(["rehearse", "--template", "--sample-rows", "5", "--format", "json"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["problems"], 0, "{stdout}");
    assert_eq!(report["sampled"]["rows"], 2, "{stdout}");
    let statements = report["migrations"][0]["statements"].as_array().unwrap();
    let observed: Vec<(String, bool)> = statements
        .iter()
        .map(|s| (s["observed_algorithm"].as_str().unwrap_or("-").to_string(), s["observed_concurrent_writes"] == true))
        .collect();
    let expected = [
        ("INPLACE", false), // a FULLTEXT table is rebuilt with writes waiting
        ("INPLACE", true),  // a plain index, online
        ("INSTANT", true),  // a default
        ("INSTANT", true),  // a longer VARCHAR within its length byte
        ("INSTANT", true),  // a rename
        ("COPY", false),    // MyISAM
        ("INSTANT", true),  // to the table's own character set
    ];
    let expected: Vec<(String, bool)> = expected.iter().map(|(a, c)| (a.to_string(), *c)).collect();
    assert_eq!(observed, expected, "{stdout}");
    assert_eq!(report["migrations"][0]["round_trip"], "reverses", "{stdout}");
    let scratch = report["scratch_database"].as_str().unwrap().to_string();
    let left: Option<String> = conn
        .exec_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (&scratch,))
        .unwrap();
    assert_eq!(left, None, "the scratch database is dropped");
    let columns: i64 = conn
        .query_first("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IN ('c', 'mail')")
        .unwrap()
        .unwrap();
    assert_eq!(columns, 0, "the real database is untouched");

    // A statement that names the real database would change it: refused, nothing done there.
    let project = Project::new();
    project.migration("1_named.sql", &format!("ALTER TABLE `{}`.users ADD COLUMN z int;\n", db.name));
    let output = project.cutover(&db.url).args(["rehearse", "--template"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("would change"), "{stdout}{stderr}");
    let z: i64 = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'z'",
        )
        .unwrap()
        .unwrap();
    assert_eq!(z, 0, "the real table is untouched");

    // From the testers: nothing reaches past the scratch database. The migrations run as a
    // temporary account whose rights end at it (dynamic SQL, procedures, other databases'
    // tables: denied by the server); statements about a database, a user or the server are
    // refused before; a view of another database is not copied.
    let other = MyDb::new();
    other.conn().query_drop("CREATE TABLE x (id int PRIMARY KEY, name varchar(10))").unwrap();
    other.conn().query_drop("INSERT INTO x VALUES (1, 'kept')").unwrap();
    conn.query_drop(format!("CREATE VIEW vo AS SELECT id, name FROM `{}`.x", other.name)).unwrap();
    let procedure = format!(
        "CREATE PROCEDURE p() BEGIN SET @s = CONCAT('UPDATE {}', '.x SET name = 1'); PREPARE q FROM @s; EXECUTE q; END",
        other.name
    );
    for (sql, why) in [
        (format!("DROP DATABASE `{}`", db.name), "changes the server"),
        (format!("ALTER DATABASE {} CHARACTER SET latin1", db.name), "changes the server"),
        ("CREATE DATABASE cutover_evil".to_string(), "changes the server"),
        ("CREATE USER cutover_evil@localhost".to_string(), "changes the server"),
        (format!("EXECUTE IMMEDIATE CONCAT('DELETE FROM ', '{}', '.x')", other.name), "denied"),
        (format!("{procedure};\nCALL p()"), "denied"),
        ("UPDATE vo SET name = 'pwned'".to_string(), "doesn't exist"),
        // From the second tester: what no list of statements catches, the scratch account's
        // privileges refuse (it may do anything in the scratch database, nothing outside).
        (
            format!(
                "CREATE PROCEDURE inner_p(q text) BEGIN PREPARE st FROM q; EXECUTE st; END;\nCREATE PROCEDURE outer_p() CALL inner_p(CONCAT('DELETE FROM ', '{}', '.x'));\nCALL outer_p()",
                other.name
            ),
            "denied",
        ),
        (format!("INSERT INTO `{}`.x VALUES (5, 'in')", other.name), "denied"),
        (format!("CREATE TABLE a (id int);\nRENAME TABLE a TO `{}`.a", other.name), "denied"),
        ("SET SESSION sql_mode = DEFAULT, GLOBAL long_query_time = 14".to_string(), "denied"),
        ("SELECT 'x' INTO OUTFILE '/tmp/cutover-rehearsal-outfile'".to_string(), "denied"),
    ] {
        if why.is_empty() {
            continue;
        }
        let project = Project::new();
        project.migration("1_reach.sql", &format!("{sql};\n"));
        let output = project.cutover(&db.url).args(["rehearse", "--template"]).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{sql}: {stdout}{stderr}");
        assert!(stdout.contains(why), "{sql}: {stdout}{stderr}");
    }
    let databases: Vec<String> = conn.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").unwrap();
    assert!(databases.contains(&db.name) && !databases.iter().any(|d| d == "cutover_evil"), "{databases:?}");
    let kept: String = other.conn().query_first("SELECT name FROM x").unwrap().unwrap();
    assert_eq!(kept, "kept", "the other database's table, under the view");

    // Replayed into an empty database, a table made before the folder is missing: said so.
    let project = Project::new();
    project.migration("1_add.sql", "ALTER TABLE users ADD COLUMN y int;\n");
    let output = project.cutover(&db.url).arg("rehearse").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("doesn't exist") && stdout.contains("--template"), "{stdout}");
}

/// From the tester: a rename beside other changes is still a rename, and `plan` lists what a
/// `CHANGE` that renames breaks; a dropped table is no online ALTER.
#[test]
fn renames_beside_other_changes_and_drops_are_judged_on_mariadb() {
    let _shared = crate::util::mariadb_plan_guard();
    let db = MyDb::new();
    let mut conn = db.conn();
    conn.query_drop("CREATE TABLE p (id int PRIMARY KEY, name varchar(20), user_name varchar(20))").unwrap();
    conn.query_drop("CREATE TABLE q (id int PRIMARY KEY, name varchar(20), p_id int)").unwrap();
    conn.query_drop("CREATE VIEW v_star AS SELECT * FROM p").unwrap();
    conn.query_drop("CREATE VIEW v_join AS SELECT q.id, q.name AS qname FROM q JOIN p ON p.id = q.p_id").unwrap();
    conn.query_drop("CREATE TRIGGER p_bi BEFORE INSERT ON p FOR EACH ROW SET NEW.user_name = TRIM(NEW.user_name)")
        .unwrap();
    let project = Project::new();
    project
        .migration("1_rename.sql", "ALTER TABLE p RENAME COLUMN user_name TO un, ADD COLUMN z int;\n")
        .migration("2_change.sql", "ALTER TABLE p CHANGE name full_name varchar(20);\n")
        .migration("3_drop.sql", "DROP TABLE q;\n");
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(stdout.contains("error[rename-column] line 1: renaming column `p.user_name` to `un`"), "{stdout}");
    assert!(stdout.contains("p.user_name is used by trigger p_bi"), "{stdout}");
    assert!(stdout.contains("p.name is used by view v_star"), "{stdout}");
    assert!(!stdout.contains("p.name is used by view v_join"), "v_join reads q.name only: {stdout}");
    assert!(!stdout.contains("p.name is used by trigger"), "p_bi names user_name only: {stdout}");
    assert!(stdout.contains("exclusive metadata lock on q (reads and writes of it wait while it runs"), "{stdout}");
    let output = project.cutover(&db.url).args(["plan", "--format", "markdown"]).output().unwrap();
    let (markdown, _) = output_text(&output);
    assert!(markdown.contains("**ALGORITHM=INSTANT** on `p`") && !markdown.contains("ACCESS EXCLUSIVE"), "{markdown}");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1_rename.sql:1: error[rename-column]"), "{stderr}");
}

#[test]
fn lint_and_the_gate_speak_mysql() {
    let db = MyDb::new();
    // Live before the folder: a table made by a migration of the same run would be new.
    db.query("CREATE TABLE users (id bigint PRIMARY KEY, total int)");
    let project = Project::new();
    project
        .migration("1_notes.up.sql", "CREATE TABLE notes (id bigint PRIMARY KEY);\n")
        .migration("1_notes.down.sql", "DROP TABLE notes;\n")
        .migration("2_total.up.sql", "ALTER TABLE users MODIFY COLUMN total bigint;\nUPDATE users SET total = 0;\n")
        .migration("2_total.down.sql", "ALTER TABLE users MODIFY COLUMN total int;\n");
    let output = project.cutover(&db.url).args(["lint", "--format", "json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules: Vec<&str> =
        report["diagnostics"].as_array().unwrap().iter().map(|d| d["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"mysql-copy-algorithm") && rules.contains(&"mysql-implicit-commit"), "{rules:?}");
    assert!(rules.contains(&"backfill-in-migration"), "{rules:?}");
    assert!(!rules.contains(&"set-not-null-scan"), "PostgreSQL-only rules stay out: {rules:?}");

    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[mysql-copy-algorithm]"), "{stderr}");
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'notes'"
        ),
        "0",
        "nothing was applied, not even migration 1"
    );
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
    assert_eq!(
        db.query("SELECT group_concat(concat(rule, ' ', how) ORDER BY id) FROM cutover_history_approvals"),
        "mysql-copy-algorithm allow-unsafe",
        "the override is recorded"
    );
}

/// Waits until the backfill's checkpoint counts `rows` (also for `keyset`). Generously: on a
/// machine busy with the rest of the suite the pacing rests the backfill while probe commits
/// are slow (a CI run once saw it short of 3,000 rows after 30 s).
pub(crate) fn wait_for_rows(db: &MyDb, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // The state table appears with the first batch.
        let done: i64 = db
            .conn()
            .query_first::<Option<i64>, _>("SELECT MAX(rows_scanned) FROM cutover_backfills")
            .ok()
            .flatten()
            .flatten()
            .unwrap_or(0);
        if done >= rows {
            return;
        }
        assert!(Instant::now() < deadline, "the backfill never reached {rows} rows");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn backfill_killed_mid_way_resumes_and_does_every_row_once() {
    let db = MyDb::new();
    db.query("CREATE TABLE ledger (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO ledger SELECT seq, 0 FROM seq_1_to_30000; SELECT 1");
    let project = Project::new();
    let args = ["backfill", "--table", "ledger", "--set", "n = n + 1", "--max-batch", "300", "--pause", "20ms"];
    let mut child = project.cutover_std(&db.url).args(args).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for_rows(&db, 3000);
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before: i64 = db.query("SELECT rows_scanned FROM cutover_backfills").parse().unwrap();
    assert!(done_before < 30000, "killed mid-way");
    assert_eq!(
        db.query("SELECT count(*) FROM ledger WHERE n = 1").parse::<i64>().unwrap(),
        done_before,
        "checkpoint and rows agree"
    );

    let output = project.cutover(&db.url).args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming backfill"), "{stderr}");
    assert!(stdout.contains("done: 30000 rows updated"), "{stdout}");
    assert_eq!(db.query("SELECT concat(sum(n = 1), ' ', sum(n <> 1)) FROM ledger"), "30000 0");
}

#[test]
fn backfill_walks_a_composite_key_with_a_condition() {
    let db = MyDb::new();
    db.query("CREATE TABLE m (tenant varchar(10) NOT NULL, id int NOT NULL, x int, PRIMARY KEY (tenant, id)); \
              INSERT INTO m SELECT IF(seq % 2 = 0, 'b', 'a10'), seq, IF(seq % 3 = 0, 1, NULL) FROM seq_1_to_999; SELECT 1");
    let project = Project::new();
    project
        .cutover(&db.url)
        .args(["backfill", "--table", "m", "--set", "x = id", "--where", "x IS NULL", "--max-batch", "50"])
        .assert()
        .success();
    assert_eq!(db.query("SELECT count(*) FROM m WHERE x IS NULL OR (x <> id AND x <> 1)"), "0");
    assert_eq!(
        db.query("SELECT count(*) FROM m WHERE x = 1 AND id <> 1"),
        "333",
        "rows outside the condition untouched"
    );
}

/// A replica whose lag cannot be read (here: a server that is not a replica) pauses the
/// backfill: a lag that cannot be read is not taken to be small.
#[test]
fn backfill_fails_closed_on_a_replica_it_cannot_read() {
    let db = MyDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t SELECT seq, NULL FROM seq_1_to_100; SELECT 1");
    let project = Project::new();
    let child = project
        .cutover_std(&db.url)
        .args(["backfill", "--table", "t", "--set", "x = id", "--replica-url", &db.url])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(db.query("SELECT count(*) FROM t WHERE x IS NOT NULL"), "0", "paused");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a replica, not streaming"), "{stderr}");
    assert!(!stderr.contains("cutover-test"), "the replica's password is not shown: {stderr}");
}

#[test]
fn an_edited_applied_migration_is_refused_and_baseline_adopts() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n").migration("2_b.up.sql", "CREATE TABLE b (id int);\n");
    project.cutover(&db.url).args(["up", "--to", "1"]).assert().success();
    project.migration("1_a.up.sql", "CREATE TABLE a (id bigint);\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output).1);
    assert!(output_text(&output).1.contains("1 a"), "{}", output_text(&output).1);
    assert_eq!(
        db.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'b'"),
        "0"
    );
    assert_eq!(project.cutover(&db.url).arg("validate").output().unwrap().status.code(), Some(1));

    // A database migrated before cutover: baseline counts what it has as applied.
    let other = MyDb::new();
    other.query("CREATE TABLE a (id bigint); SELECT 1");
    project.cutover(&other.url).args(["baseline", "1"]).assert().success();
    project.cutover(&other.url).arg("up").assert().success();
    assert_eq!(
        other.query("SELECT group_concat(state ORDER BY id) FROM cutover_history WHERE state <> 'running'"),
        "baselined,applied"
    );
}

#[test]
fn tls_modes_follow_the_mysql_client() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    // This server has no TLS: PREFERRED falls back to plain, REQUIRED refuses to go on without it.
    project.cutover(&format!("{}?ssl-mode=PREFERRED", db.url)).arg("status").assert().success();
    project.cutover(&format!("{}?ssl-mode=DISABLED", db.url)).arg("status").assert().success();
    let output = project.cutover(&format!("{}?ssl-mode=REQUIRED", db.url)).arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let (_, stderr) = output_text(&output);
    assert!(stderr.contains("cannot connect") && !stderr.contains("cutover-test"), "{stderr}");
    let output = project.cutover(&format!("{}?ssl-mode=SOMETIMES", db.url)).arg("status").output().unwrap();
    assert!(output_text(&output).1.contains("ssl-mode `SOMETIMES`"), "{}", output_text(&output).1);
}

/// Rows of a query's first column on a server, empty while the database or table has not
/// replicated yet.
fn first_value(url: &str, sql: &str) -> String {
    let Ok(mut conn) = mysql::Conn::new(mysql::Opts::from_url(url).unwrap()) else { return String::new() };
    conn.query_first::<String, _>(sql).ok().flatten().unwrap_or_default()
}

/// A private primary with a binary log and a replica of it (replaying `delay` seconds behind),
/// with `app.ledger` of 20,000 rows on both. Returns them and the URLs of `app` on each.
fn replicated_ledger(delay: u32) -> (crate::util::PrivateMariadb, crate::util::PrivateMariadb, String, String) {
    use crate::util::PrivateMariadb;
    let primary = PrivateMariadb::start(1, true);
    let replica = PrivateMariadb::start(2, false);
    replica.root_sql(&format!(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='cutover', MASTER_PASSWORD='cutover', MASTER_USE_GTID=slave_pos, MASTER_DELAY={delay}; START SLAVE;",
        primary.port
    ));
    primary.root_sql(
        "CREATE DATABASE app; USE app; CREATE TABLE ledger (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO ledger SELECT seq, 0 FROM seq_1_to_20000;",
    );
    let primary_url = format!("{}/app", primary.base_url);
    let replica_url = format!("{}/app", replica.base_url);
    let deadline = Instant::now() + Duration::from_secs(30 + u64::from(delay));
    while first_value(
        &replica_url,
        "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.tables WHERE table_schema = 'app'",
    ) != "1"
        || first_value(&replica_url, "SELECT CAST(COUNT(*) AS CHAR) FROM ledger") != "20000"
    {
        assert!(Instant::now() < deadline, "the replica never caught up");
        thread::sleep(Duration::from_millis(100));
    }
    (primary, replica, primary_url, replica_url)
}

/// `cutover backfill` of `ledger.n` on the primary, reading the lag on the replica, with
/// `extra` flags, its output captured.
fn ledger_backfill(project: &Project, primary_url: &str, replica_url: &str, extra: &[&str]) -> std::process::Command {
    let mut command = project.cutover_std(primary_url);
    command
        .args(["backfill", "--table", "ledger", "--set", "n = n + 1", "--replica-url", replica_url])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// Waits until the replica has replayed the whole backfill.
fn wait_for_the_backfill_on(replica_url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_value(replica_url, "SELECT CAST(SUM(n = 1) AS CHAR) FROM ledger") != "20000" {
        assert!(Instant::now() < deadline, "the replica never replayed the backfill");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn backfill_pauses_while_a_real_replica_stops_replaying() {
    let (_primary, replica, primary_url, replica_url) = replicated_ledger(0);
    // Replay stopped: the replica falls behind without bound, so the backfill must wait.
    replica.root_sql("STOP SLAVE SQL_THREAD;");
    let project = Project::new();
    let child = ledger_backfill(&project, &primary_url, &replica_url, &["--max-batch", "500"]).spawn().unwrap();
    thread::sleep(Duration::from_secs(3));
    assert_eq!(
        first_value(&primary_url, "SELECT CAST(COUNT(*) AS CHAR) FROM ledger WHERE n > 0"),
        "0",
        "no batch while replay is stopped"
    );
    replica.root_sql("START SLAVE SQL_THREAD;");
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("stopped") || stderr.contains("paused"), "the pause was reported: {stderr}");
    assert!(!stderr.contains(":cutover@"), "the replica's password is not shown: {stderr}");
    assert_eq!(first_value(&primary_url, "SELECT CAST(SUM(n = 1) AS CHAR) FROM ledger"), "20000");
    wait_for_the_backfill_on(&replica_url);
}

/// A replica that replays, but late (MASTER_DELAY): the backfill waits for it to come back
/// under the limit, again and again. (Here `Seconds_Behind_Master` sees the lag as well as
/// the sampled GTIDs do; their arithmetic has unit tests in `crates/mysql`.)
#[test]
fn backfill_keeps_a_delayed_replica_within_the_lag_limit() {
    let (_primary, _replica, primary_url, replica_url) = replicated_ledger(2);
    let project = Project::new();
    let started = Instant::now();
    let limits = ["--max-batch", "250", "--max-rows-per-second", "4000", "--max-replica-lag", "1s"];
    let output = ledger_backfill(&project, &primary_url, &replica_url, &limits).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let pauses = stderr.matches("behind (limit 1.0s)").count();
    assert!(pauses >= 2, "the backfill waited for the replica more than once: {stderr}");
    assert!(!stderr.contains(":cutover@"), "the replica's password is not shown: {stderr}");
    assert_eq!(first_value(&primary_url, "SELECT CAST(SUM(n = 1) AS CHAR) FROM ledger"), "20000");
    eprintln!(
        "backfill of 20,000 rows behind a replica 2 s late: {:.1} s, {pauses} pauses",
        started.elapsed().as_secs_f64()
    );
    wait_for_the_backfill_on(&replica_url);
}

/// `plan` on MariaDB names the sessions a DDL would wait for now: without a view of metadata
/// locks, the sessions in an open transaction on the database (said to be "may"); with
/// MariaDB's `metadata_lock_info` plugin, those holding a lock on the table, which a plain
/// `UPDATE` does not wait for.
#[test]
fn plan_names_the_sessions_a_ddl_would_wait_for_on_mariadb() {
    // It installs and uninstalls the plugin: no other `plan` on MariaDB meanwhile.
    let _alone = crate::util::MARIADB_PLUGIN.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let db = MyDb::new();
    let mut conn = db.conn();
    // Large enough (over 8 MB) for `plan` to measure its read rate on it.
    conn.query_drop(
        "CREATE TABLE users (id int PRIMARY KEY, name varchar(20), pad varchar(200)); \
         INSERT INTO users SELECT seq, 'a', repeat('x', 180) FROM seq_1_to_60000; ANALYZE TABLE users",
    )
    .unwrap();
    let project = Project::new();
    project
        .migration("1_email.sql", "ALTER TABLE users ADD COLUMN email varchar(40);\n")
        .migration("2_fill.sql", "UPDATE users SET name = 'b' WHERE id = 1;\n");
    let mut reader = db.conn();
    reader.query_drop("START TRANSACTION").unwrap();
    let _: Option<i64> = reader.query_first("SELECT count(*) FROM users").unwrap();
    let reader_id: i64 = reader.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    let plan = |project: &Project| -> serde_json::Value {
        let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{:?}", output_text(&output)))
    };
    let waits = |plan: &serde_json::Value, migration: usize| -> Vec<String> {
        plan["migrations"][migration]["statements"][0]["waits_for"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["session"].as_str().unwrap().to_string())
            .collect()
    };
    let installed = |conn: &mut mysql::Conn| -> bool {
        conn.query_first::<i64, _>(
            "SELECT count(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'",
        )
        .unwrap()
            == Some(1)
    };
    let was_installed = installed(&mut conn);
    if !was_installed {
        let before = plan(&project);
        assert_eq!(before["lock_holders_exact"], false);
        let sessions = waits(&before, 0);
        assert!(
            sessions.iter().any(|s| s.starts_with(&format!("session {reader_id} ")) && s.contains("in a transaction")),
            "{sessions:?}"
        );
        conn.query_drop("INSTALL SONAME 'metadata_lock_info'").unwrap();
    }
    let exact = plan(&project);
    if !was_installed {
        conn.query_drop("UNINSTALL SONAME 'metadata_lock_info'").unwrap();
    }
    assert_eq!(exact["lock_holders_exact"], true);
    let sessions = waits(&exact, 0);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert!(sessions[0].starts_with(&format!("session {reader_id} ")), "{sessions:?}");
    assert!(sessions[0].contains("holds MDL_SHARED_READ on users"), "{sessions:?}");
    assert_eq!(waits(&exact, 1), Vec::<String>::new(), "an UPDATE does not wait for a reader's lock");

    // A DDL queued behind the reader: `plan` names it and does not queue behind it itself
    // (its read-rate sample of the table gives up at once).
    let url = db.url.clone();
    let queued = thread::spawn(move || {
        let mut conn = crate::util::mysql_conn(&url);
        conn.query_drop("ALTER TABLE users ADD COLUMN fax int").unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.query(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for table metadata lock%'",
    ) == "0"
    {
        assert!(Instant::now() < deadline, "the ALTER never queued");
        thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(started.elapsed() < Duration::from_secs(8), "plan queued behind the DDL: {:?}", started.elapsed());
    assert!(stdout.contains("waiting for the metadata lock") && stdout.contains("ADD COLUMN fax"), "{stdout}{stderr}");
    reader.query_drop("COMMIT").unwrap();
    queued.join().unwrap();
}

/// A table `users` and a migration adding a column to it, on a server without
/// `metadata_lock_info` (`None`, said, when the plugin is installed: it names every holder).
fn users_without_metadata_lock_info() -> Option<(MyDb, Project)> {
    let db = MyDb::new();
    let mut conn = db.conn();
    let plugin: Option<i64> = conn
        .query_first("SELECT count(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO'")
        .unwrap();
    if plugin != Some(0) {
        eprintln!("skipped: the metadata_lock_info plugin is installed (it names the holder)");
        return None;
    }
    conn.query_drop("CREATE TABLE users (id int PRIMARY KEY, name varchar(20)); INSERT INTO users VALUES (1, 'a')")
        .unwrap();
    let project = Project::new();
    project.migration("1_email.sql", "ALTER TABLE users ADD COLUMN email varchar(40);\n");
    Some((db, project))
}

/// Without `metadata_lock_info`, a session holding the table by `LOCK TABLES` from another
/// database is in no transaction on this one, so the open transactions miss it (a tester's
/// finding: the DDL then hung behind it); `plan` counts it from `SHOW OPEN TABLES`.
#[test]
fn plan_counts_a_lock_tables_holder_it_cannot_name_on_mariadb() {
    let _shared = crate::util::mariadb_plan_guard();
    let Some((db, project)) = users_without_metadata_lock_info() else { return };
    let waits = || -> Vec<String> {
        let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
        let plan: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{:?}", output_text(&output)));
        plan["migrations"][0]["statements"][0]["waits_for"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["session"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(waits(), Vec::<String>::new(), "nobody holds the table yet");
    let mut locker = crate::util::mysql_conn(&crate::util::mysql_admin_url());
    locker.query_drop(format!("LOCK TABLES `{}`.users READ", db.name)).unwrap();
    let sessions = waits();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert!(
        sessions[0].starts_with("1 lock or use on `users` now") && sessions[0].contains("LOCK TABLES"),
        "{sessions:?}"
    );
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let stdout = output_text(&output).0;
    assert!(stdout.contains("may wait now for 1 lock or use on `users`") && stdout.contains("a guess"), "{stdout}");
    // An INSERT queued behind it is named, and the holder still counted (a tester saw the
    // queued statement taken off the count, and the holder gone).
    let url = db.url.clone();
    let queued = thread::spawn(move || {
        let mut conn = crate::util::mysql_conn(&url);
        conn.query_drop("INSERT INTO users VALUES (2, 'b')").unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.query(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for table metadata lock%' AND INFO LIKE 'INSERT INTO users%'",
    ) == "0"
    {
        assert!(Instant::now() < deadline, "the INSERT never queued");
        thread::sleep(Duration::from_millis(20));
    }
    let sessions = waits();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(
        sessions.iter().any(|s| s.contains("waiting for the metadata lock") && s.contains("INSERT INTO users")),
        "{sessions:?}"
    );
    assert!(sessions.iter().any(|s| s.starts_with("1 lock or use on `users` now")), "{sessions:?}");
    locker.query_drop("UNLOCK TABLES").unwrap();
    queued.join().unwrap();
    assert_eq!(waits(), Vec::<String>::new(), "the lock is gone");
}

/// Without `metadata_lock_info`, an idle transaction of a session in another database that read
/// the table by a qualified name holds it, and the DDL would wait for it (a tester's finding:
/// `plan` said nothing). It cannot be named without noise, so the server's other open
/// transactions are counted, with the oldest's age.
#[test]
fn plan_counts_the_open_transactions_of_other_databases_on_mariadb() {
    let _shared = crate::util::mariadb_plan_guard();
    let Some((db, project)) = users_without_metadata_lock_info() else { return };
    let other = MyDb::new();
    let mut reader = other.conn();
    reader.query_drop("START TRANSACTION").unwrap();
    let _: Option<i64> = reader.query_first(format!("SELECT count(*) FROM `{}`.users", db.name)).unwrap();
    thread::sleep(Duration::from_millis(1100));
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{:?}", output_text(&output)));
    let unseen = &plan["other_databases_open_transactions"];
    assert!(unseen["count"].as_u64().unwrap_or(0) >= 1, "{plan:#}");
    assert!(unseen["oldest_seconds"].as_u64().unwrap_or(0) >= 1, "{plan:#}");
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let stdout = output_text(&output).0;
    assert!(stdout.contains("open on other databases of this server (the oldest for"), "{stdout}");
    reader.query_drop("COMMIT").unwrap();
}
