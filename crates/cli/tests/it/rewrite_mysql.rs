//! Online table rewrites on a real MariaDB, under an application's writes: every insert, update
//! (of the key too) and delete reaches the rewritten table exactly once, a SIGKILL at any point
//! resumes or reverts with nothing lost or doubled, and what the rewrite cannot do online is
//! refused before anything is made.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::util::{output_text, second_commands_wait_for_a_running_rewrite, MyDb, Project};

/// `users`, and `mirror`, which every application transaction writes the same way: after the
/// rewrite, `users` (and the old table kept in step) must hold exactly what `mirror` holds.
fn schema(db: &MyDb, rows: u32) {
    let mut conn = db.conn();
    conn.query_drop(
        "CREATE TABLE users (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(40) NOT NULL, n int NOT NULL DEFAULT 0, \
         KEY by_name (name)) ENGINE=InnoDB",
    )
    .unwrap();
    conn.query_drop(
        "CREATE TABLE mirror (id bigint NOT NULL PRIMARY KEY, name varchar(200) NOT NULL, n bigint NOT NULL)",
    )
    .unwrap();
    conn.query_drop(format!(
        "INSERT INTO users (id, name, n) SELECT seq, CONCAT('user ', seq), seq % 5 FROM seq_1_to_{rows}"
    ))
    .unwrap();
    conn.query_drop("INSERT INTO mirror SELECT id, name, n FROM users").unwrap();
}

/// A small deterministic generator (xorshift), so that a failing run can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Application writers: each transaction changes `users` and `mirror` alike (inserts, updates,
/// key changes and deletes, of rows copied and not yet copied), until stopped.
struct Writers {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Writers {
    fn start(db: &MyDb, count: u64, seed: u64, max_id: u64) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..count)
            .map(|i| {
                let (stop, done, errors) = (stop.clone(), done.clone(), errors.clone());
                let mut conn = db.conn();
                thread::spawn(move || {
                    let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(i * 7919 + 1));
                    while !stop.load(Ordering::SeqCst) {
                        let op = rng.below(10);
                        let id = 1 + rng.below(max_id);
                        let name = format!("w{i} {}", rng.next() % 100_000);
                        let result = (|| -> Result<(), mysql::Error> {
                            let mut tx = conn.start_transaction(mysql::TxOpts::default())?;
                            match op {
                                0..=2 => {
                                    let n = rng.below(4);
                                    tx.exec_drop("INSERT INTO users (name, n) VALUES (?, ?)", (&name, n))?;
                                    let id = tx.last_insert_id().unwrap_or_default();
                                    tx.exec_drop("INSERT INTO mirror (id, name, n) VALUES (?, ?, ?)", (id, &name, n))?;
                                }
                                3..=6 => {
                                    tx.exec_drop("UPDATE users SET name = ?, n = n + 1 WHERE id = ?", (&name, id))?;
                                    tx.exec_drop("UPDATE mirror SET name = ?, n = n + 1 WHERE id = ?", (&name, id))?;
                                }
                                7 => {
                                    tx.exec_drop("UPDATE users SET id = -id WHERE id = ?", (id,))?;
                                    tx.exec_drop("UPDATE mirror SET id = -id WHERE id = ?", (id,))?;
                                }
                                _ => {
                                    tx.exec_drop("DELETE FROM users WHERE id = ?", (id,))?;
                                    tx.exec_drop("DELETE FROM mirror WHERE id = ?", (id,))?;
                                }
                            }
                            tx.commit()
                        })();
                        match result {
                            Ok(()) => {
                                done.fetch_add(1, Ordering::SeqCst);
                            }
                            // Deadlocks between two writers: the application retries them.
                            Err(mysql::Error::MySqlError(e)) if e.code == 1213 => {}
                            Err(err) => errors.lock().unwrap().push(format!("op {op}: {err}")),
                        }
                        thread::sleep(Duration::from_micros(500));
                    }
                })
            })
            .collect();
        Writers { stop, done, errors, threads }
    }

    fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().unwrap();
        }
        let errors = self.errors.lock().unwrap().clone();
        (self.done.load(Ordering::SeqCst), errors)
    }
}

/// `table` holds exactly what `mirror` holds.
fn assert_same_as_mirror(db: &MyDb, table: &str) {
    let differing = db.query(&format!(
        "SELECT COUNT(*) FROM (SELECT id, name, n FROM (SELECT id, name, n FROM `{table}` UNION ALL SELECT id, name, n FROM mirror) u \
         GROUP BY id, name, n HAVING COUNT(*) <> 2) d"
    ));
    assert_eq!(differing, "0", "{table} differs from what the application wrote");
}

fn rewrite(project: &Project, db: &MyDb, args: &[&str]) -> (bool, String, String) {
    let output = project.cutover(&db.url).arg("rewrite").args(args).output().unwrap();
    let (out, err) = output_text(&output);
    (output.status.success(), out, err)
}

/// Nothing of a rewrite is left: no `_cutover_` table or trigger.
fn assert_nothing_left(db: &MyDb) {
    assert_eq!(
        db.query(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME LIKE '%\\_cutover\\_%' AND TABLE_NAME NOT LIKE 'cutover\\_%'",
            db.name
        )),
        "0"
    );
    assert_eq!(
        db.query(&format!(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{}' AND TRIGGER_NAME LIKE '\\_cutover\\_%'",
            db.name
        )),
        "0"
    );
}

/// The column types of `table` (its name exactly), in order, comma-separated.
fn column_types(db: &MyDb, table: &str) -> String {
    db.query(&format!(
        "SELECT GROUP_CONCAT(COLUMN_TYPE ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = BINARY '{}'",
        db.name,
        table.replace('\'', "''")
    ))
}

fn phase(db: &MyDb) -> Option<String> {
    let mut conn = db.conn();
    conn.query_first::<String, _>("SELECT phase FROM cutover_rewrites").ok().flatten()
}

#[test]
fn mysql_a_key_becomes_bigint_and_a_column_wider_under_writes_then_reverts_with_every_write() {
    let db = MyDb::new();
    schema(&db, 20_000);
    let project = Project::new();
    let writers = Writers::start(&db, 3, 1, 20_000);
    thread::sleep(Duration::from_millis(200));
    let (ok, out, err) = rewrite(
        &project,
        &db,
        &[
            "--table",
            "users",
            "--alter",
            "ALTER TABLE users MODIFY id bigint NOT NULL AUTO_INCREMENT, MODIFY name varchar(200) NOT NULL, ADD COLUMN note text",
            "--max-rows-per-second",
            "10000",
            "--batch-time",
            "5ms",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("is the rewritten table"), "{out}");
    // The application goes on writing to the swapped table.
    thread::sleep(Duration::from_millis(300));
    let (done, errors) = Writers::stop(writers);
    assert!(errors.is_empty(), "the application's writes failed: {errors:?}");
    assert!(done > 50, "the writers hardly wrote ({done} transactions)");
    assert_eq!(column_types(&db, "users"), "bigint(20),varchar(200),int(11),text");
    assert_same_as_mirror(&db, "users");
    // The old table was kept in step after the swap: a revert loses nothing.
    assert_same_as_mirror(&db, "users__cutover_old");
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_rewrite_misses"), "0");

    let writers = Writers::start(&db, 2, 2, 20_000);
    thread::sleep(Duration::from_millis(200));
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("is the original table again"), "{out}");
    thread::sleep(Duration::from_millis(200));
    let (_, errors) = Writers::stop(writers);
    assert!(errors.is_empty(), "the application's writes failed: {errors:?}");
    assert_same_as_mirror(&db, "users");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(40),int(11)");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_nothing_left(&db);
    assert_eq!(phase(&db).as_deref(), Some("done"));
    let (ok, out, err) = rewrite(&project, &db, &["--status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert!(ok && status["rewrites"][0]["outcome"] == "reverted", "{out}{err}");

    // A state table an older cutover made has no `ended_from`: its rewrites read as ended
    // without saying how, and the next rewrite adds the column and records its outcome.
    db.query("ALTER TABLE cutover_rewrites DROP COLUMN ended_from");
    let outcome = || {
        let (ok, out, err) = rewrite(&project, &db, &["--status", "--format", "json"]);
        assert!(ok, "{out}{err}");
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        (status["rewrites"][0]["phase"].as_str().unwrap().to_string(), status["rewrites"][0]["outcome"].clone())
    };
    assert_eq!(outcome(), ("done".to_string(), serde_json::Value::Null));
    let (ok, out, err) = rewrite(&project, &db, &["--status"]);
    assert!(ok && out.contains("done"), "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--table", "users", "--alter", "MODIFY name varchar(300) NOT NULL"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_eq!(outcome(), ("done".to_string(), serde_json::json!("applied")));
    assert_eq!(column_types(&db, "users"), "int(11),varchar(300),int(11)");
    assert_same_as_mirror(&db, "users");
}

#[test]
fn mysql_sigkill_at_random_points_of_every_phase_then_resume_or_revert_loses_and_doubles_nothing() {
    let db = MyDb::new();
    schema(&db, 12_000);
    let project = Project::new();
    let seed: u64 = std::env::var("CUTOVER_REWRITE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261206);
    let mut rng = Rng(seed);
    let writers = Writers::start(&db, 2, seed, 12_000);
    let changes: [&[&str]; 4] = [
        &["--alter", "MODIFY id bigint NOT NULL AUTO_INCREMENT"],
        &["--alter", "ALTER TABLE users MODIFY n bigint NOT NULL DEFAULT 0", "--using", "n=n"],
        &["--alter", "ALTER TABLE users MODIFY name varchar(200) NOT NULL"],
        &[],
    ];
    for (round, change) in changes.iter().enumerate() {
        let kills = 1 + rng.below(2);
        for _ in 0..kills {
            let mut args = vec!["rewrite", "--table", "users", "--max-rows-per-second", "10000", "--batch-time", "5ms"];
            args.extend_from_slice(change);
            let mut child = project
                .cutover_std(&db.url)
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let delay = Duration::from_millis(rng.below(1800));
            let started = Instant::now();
            while started.elapsed() < delay && child.try_wait().unwrap().is_none() {
                thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            child.wait().unwrap();
        }
        let mut args = vec!["--table", "users"];
        args.extend_from_slice(change);
        let before = phase(&db);
        if before.as_deref() != Some("swapped") {
            let (ok, out, err) = rewrite(&project, &db, &args);
            assert!(ok, "round {round} (seed {seed}), resumed from {before:?}: {out}{err}");
        }
        thread::sleep(Duration::from_millis(100));
        if round % 2 == 1 {
            let mut child = project
                .cutover_std(&db.url)
                .args(["rewrite", "--revert", "--table", "users"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            thread::sleep(Duration::from_millis(rng.below(300)));
            let _ = child.kill();
            child.wait().unwrap();
            if phase(&db).as_deref() == Some("swapped") {
                let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
                assert!(ok, "round {round} (seed {seed}) revert: {out}{err}");
            }
        }
        let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
        assert!(ok, "round {round} (seed {seed}) cleanup: {out}{err}");
    }
    let (done, errors) = Writers::stop(writers);
    assert!(errors.is_empty(), "the application's writes failed (seed {seed}): {errors:?}");
    assert!(done > 100, "the writers hardly wrote ({done} transactions)");
    assert_same_as_mirror(&db, "users");
    // Rounds 1 and 3 were reverted: id stayed bigint from round 0, n went back to int.
    assert_eq!(column_types(&db, "users"), "bigint(20),varchar(200),int(11)");
    assert_nothing_left(&db);
}

#[test]
fn mysql_what_cannot_be_rewritten_online_is_refused_with_the_reason_and_nothing_made() {
    let db = MyDb::new();
    db.query(
        "CREATE TABLE parents (id int PRIMARY KEY, email varchar(50)) ENGINE=InnoDB; \
         CREATE TABLE kids (id int PRIMARY KEY, parent_id int, FOREIGN KEY (parent_id) REFERENCES parents (id)) ENGINE=InnoDB; \
         CREATE TABLE tree (id int PRIMARY KEY, up int, v int, CONSTRAINT tree_up FOREIGN KEY (up) REFERENCES tree (id)) ENGINE=InnoDB; \
         CREATE TABLE audited (id int PRIMARY KEY, v int) ENGINE=InnoDB; \
         CREATE TRIGGER audited_ai AFTER INSERT ON audited FOR EACH ROW SET @x = 1; \
         CREATE TABLE plain (id int PRIMARY KEY, email varchar(50), v int) ENGINE=InnoDB; \
         CREATE TABLE keyless (v int) ENGINE=InnoDB; \
         CREATE TABLE old_style (id int PRIMARY KEY) ENGINE=MyISAM; \
         CREATE VIEW plain_view AS SELECT id FROM plain; \
         INSERT INTO plain VALUES (1, 'a@x', 1), (2, 'a@x', 2)",
    );
    let project = Project::new();
    // Refused before anything is made: not even cutover's state tables.
    let (ok, _, err) = rewrite(&project, &db, &["--table", "parents", "--alter", "MODIFY id bigint"]);
    assert!(!ok && err.contains("point at it"), "{err}");
    assert_eq!(
        db.query(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME LIKE 'cutover%'",
            db.name
        )),
        "0"
    );
    db.query("CREATE VIEW plain_emails AS SELECT id, email FROM plain");
    let cases: [(&[&str], &str); 14] = [
        (&["--table", "parents", "--alter", "MODIFY id bigint"], "foreign keys of other tables point at it"),
        (&["--table", "tree", "--alter", "MODIFY v bigint"], "point at the table itself"),
        (&["--table", "audited", "--alter", "MODIFY v bigint"], "it has triggers (audited_ai)"),
        (&["--table", "keyless", "--alter", "MODIFY v bigint"], "no primary key or unique index"),
        (&["--table", "old_style"], "MyISAM"),
        (&["--table", "plain", "--alter", "ADD UNIQUE (email)"], "adds or drops a unique index"),
        (&["--table", "plain", "--alter", "ALTER TABLE plain RENAME TO other"], "renames the table"),
        (&["--table", "plain", "--alter", "ALTER TABLE kids MODIFY v bigint"], "not the table being rewritten"),
        (&["--table", "plain", "--alter", "MODIFY nope int"], "does not apply to a copy"),
        (&["--table", "plain", "--alter", "MODIFY v bigint", "--using", "v=no_such_column + 1"], "no_such_column"),
        (&["--table", "plain_view"], "is a view, not a table"),
        (&["--table", "plain", "--alter", "MODIFY v bigint; DROP TABLE kids"], "more than one statement"),
        (&["--table", "plain", "--alter", "DROP COLUMN email"], "plain_emails` reads `email`"),
        (&["--table", "plain", "--alter", "CHANGE email mail varchar(50)"], "plain_emails` reads `email`"),
    ];
    for (args, expected) in cases {
        let (ok, out, err) = rewrite(&project, &db, args);
        assert!(!ok, "{args:?} was not refused: {out}");
        assert!(err.contains(expected), "{args:?}: expected `{expected}` in: {err}");
        assert_nothing_left(&db);
    }
    assert_eq!(db.query("SELECT COUNT(*) FROM plain"), "2");
    assert_eq!(db.query("SELECT COUNT(*) FROM kids"), "0");
    assert_eq!(
        db.query(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME LIKE 'cutover%'",
            db.name
        )),
        "0",
        "a refused rewrite made cutover's state tables"
    );
}

/// What a run killed in the middle of a cut-over leaves, made by hand: the next run finds it.
#[test]
fn mysql_what_a_killed_cut_over_or_revert_leaves_is_found_and_finished_or_refused_truthfully() {
    let db = MyDb::new();
    schema(&db, 4_000);
    let project = Project::new();
    let change = ["--table", "users", "--alter", "MODIFY n bigint NOT NULL DEFAULT 0"];
    let triggers = |direction: &str| {
        db.query(&format!(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{}' AND TRIGGER_NAME LIKE '\\_cutover\\_{direction}\\_%' ORDER BY 1",
            db.name
        ))
    };
    // A forward cut-over killed under its lock after dropping the capture: writes since did not
    // reach the copy; the next run makes the capture again and copies again.
    let mut deferred = change.to_vec();
    deferred.push("--defer-swap");
    let (ok, out, err) = rewrite(&project, &db, &deferred);
    assert!(ok, "{out}{err}");
    for trigger in triggers("fwd").lines() {
        db.query(&format!("DROP TRIGGER `{trigger}`"));
    }
    db.query("DELETE FROM users WHERE id <= 10; DELETE FROM mirror WHERE id <= 10; UPDATE users SET name = 'missed' WHERE id = 11; UPDATE mirror SET name = 'missed' WHERE id = 11");
    let (ok, out, err) = rewrite(&project, &db, &change);
    assert!(ok, "{out}{err}");
    assert_same_as_mirror(&db, "users");
    assert_same_as_mirror(&db, "users__cutover_old");

    // A revert killed before its rename: its sentry holds the copy's name; run again, it reverts.
    db.query("CREATE TABLE users__cutover_new (_cutover_sentry int)");
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_same_as_mirror(&db, "users");
    // The same command again: nothing to do, and it says so.
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(ok && out.contains("was reverted already"), "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_nothing_left(&db);

    // The reverse capture incomplete after a swap: a revert would lose writes; refused, saying why.
    let (ok, out, err) = rewrite(&project, &db, &change);
    assert!(ok, "{out}{err}");
    let reverse = triggers("rev");
    db.query(&format!("DROP TRIGGER `{}`", reverse.lines().next().unwrap()));
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(!ok, "{out}");
    assert!(err.contains("not all there"), "{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--status", "--format", "json"]);
    assert!(ok && out.contains("not all there"), "{out}{err}");
    // A sentry a killed revert left is dropped by the cleanup too.
    db.query("CREATE TABLE users__cutover_new (_cutover_sentry int)");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_nothing_left(&db);
    assert_same_as_mirror(&db, "users");
}

#[test]
fn mysql_names_that_differ_in_case_or_hold_a_backtick_and_writes_from_stored_procedures() {
    let db = MyDb::new();
    db.query(
        "CREATE TABLE `MiXed` (id int PRIMARY KEY, v int) ENGINE=InnoDB; \
         CREATE TABLE mixed (id int PRIMARY KEY, zz int, v int) ENGINE=InnoDB; \
         CREATE TABLE `Odd ``name`` ü` (id int PRIMARY KEY, v int) ENGINE=InnoDB; \
         INSERT INTO `MiXed` VALUES (1, 1); INSERT INTO mixed VALUES (1, 1, 1), (2, 2, 2); INSERT INTO `Odd ``name`` ü` VALUES (1, 1)",
    );
    let project = Project::new();
    let (ok, out, err) = rewrite(&project, &db, &["--table", "mixed", "--alter", "MODIFY v bigint"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("over its primary key") || err.contains("over its primary key (id)"), "{out}{err}");
    assert_eq!(column_types(&db, "mixed"), "int(11),int(11),bigint(20)");
    assert_eq!(column_types(&db, "MiXed"), "int(11),int(11)");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "mixed"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--table", "`Odd ``name`` ü`", "--alter", "MODIFY v bigint"]);
    assert!(ok, "{out}{err}");
    assert_eq!(column_types(&db, "Odd `name` ü"), "int(11),bigint(20)");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "`Odd ``name`` ü`"]);
    assert!(ok, "{out}{err}");

    // A stored procedure writing the table through the cut-overs: MariaDB keeps the tables a
    // routine's statement opens (its triggers' tables too) across them.
    schema(&db, 5_000);
    db.query(
        "CREATE PROCEDURE touch(x int) BEGIN DELETE FROM users WHERE id = x; UPDATE users SET n = n + 1 WHERE id = x + 1; \
         INSERT INTO users (name, n) VALUES ('proc', x); END",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (stop, mut conn) = (stop.clone(), db.conn());
        thread::spawn(move || {
            let (mut calls, mut errors) = (0u64, Vec::new());
            let mut rng = Rng(7);
            while !stop.load(Ordering::SeqCst) {
                match conn.exec_drop("CALL touch(?)", (1 + rng.below(5_000),)) {
                    Ok(()) => calls += 1,
                    Err(mysql::Error::MySqlError(e)) if e.code == 1213 => {}
                    Err(err) => errors.push(err.to_string()),
                }
            }
            (calls, errors)
        })
    };
    for _ in 0..2 {
        for args in [
            &["--table", "users", "--alter", "MODIFY n bigint NOT NULL DEFAULT 0"][..],
            &["--revert", "--table", "users"],
            &["--cleanup", "--table", "users"],
        ] {
            let (ok, out, err) = rewrite(&project, &db, args);
            assert!(ok, "{args:?}: {out}{err}");
            thread::sleep(Duration::from_millis(150));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (calls, errors) = caller.join().unwrap();
    assert!(errors.is_empty(), "the procedure's writes failed: {errors:?}");
    assert!(calls > 100, "the procedure hardly ran ({calls} calls)");
    assert_nothing_left(&db);
}

#[test]
fn mysql_a_deferred_swap_keeps_the_copy_in_step_and_a_renamed_column_follows_both_ways() {
    let db = MyDb::new();
    schema(&db, 3_000);
    // An id handed out and deleted: the table taking the name must not hand it out again.
    db.query("INSERT INTO users (id, name, n) VALUES (60000, 'gone', 0); DELETE FROM users WHERE id = 60000");
    let project = Project::new();
    let (ok, out, err) = rewrite(
        &project,
        &db,
        &["--table", "users", "--alter", "CHANGE name full_name varchar(100) NOT NULL", "--defer-swap"],
    );
    assert!(ok, "{out}{err}");
    assert_eq!(phase(&db).as_deref(), Some("ready"));
    // Writes while the swap waits reach the copy.
    db.query("INSERT INTO users (id, name, n) VALUES (50000, 'waiting', 1); UPDATE users SET name = 'changed' WHERE id = 7; DELETE FROM users WHERE id = 8");
    db.query("INSERT INTO mirror VALUES (50000, 'waiting', 1); UPDATE mirror SET name = 'changed' WHERE id = 7; DELETE FROM mirror WHERE id = 8");
    let (ok, out, err) =
        rewrite(&project, &db, &["--table", "users", "--alter", "CHANGE name full_name varchar(100) NOT NULL"]);
    assert!(ok, "{out}{err}");
    assert_eq!(db.query("SELECT full_name FROM users WHERE id = 7"), "changed");
    assert_eq!(db.query("SELECT COUNT(*) FROM users"), db.query("SELECT COUNT(*) FROM mirror"));
    // After the swap the old table follows under its old column name.
    db.query("UPDATE users SET full_name = 'after' WHERE id = 9; UPDATE mirror SET name = 'after' WHERE id = 9");
    let mut conn = db.conn();
    conn.query_drop("INSERT INTO users (full_name, n) VALUES ('new id', 0)").unwrap();
    let id = conn.last_insert_id();
    assert!(id > 60_000, "the swapped table handed out id {id} again");
    db.query(&format!("INSERT INTO mirror VALUES ({id}, 'new id', 0)"));
    assert_same_as_mirror(&db, "users__cutover_old");
    // The table spelled qualified, and quoted, finds the same rewrite.
    let qualified = format!("{}.users", db.name);
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", &qualified]);
    assert!(ok, "{out}{err}");
    assert_same_as_mirror(&db, "users");
    let quoted = format!("`{}`.`users`", db.name);
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", &quoted]);
    assert!(ok, "{out}{err}");
    assert_nothing_left(&db);
}

/// A `cutover rewrite` started beside a running one (an operator's `--cleanup` during the copy,
/// a deploy retried in parallel) waits for it and is refused, instead of dropping what it makes.
#[test]
fn mysql_a_second_command_on_a_running_rewrite_waits_for_it_instead_of_undoing_it() {
    let db = MyDb::new();
    schema(&db, 6_000);
    let project = Project::new();
    let change = ["--table", "users", "--alter", "ALTER TABLE users MODIFY name varchar(200) NOT NULL"];
    let copying = || {
        db.query(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'users__cutover_new'",
            db.name
        )) == "1"
            && db.query("SELECT COUNT(*) FROM users__cutover_new") != "0"
    };
    let out = second_commands_wait_for_a_running_rewrite(&project, &db.url, &change, copying);
    assert!(out.contains("is the rewritten table"), "{out}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(200),int(11)");
    assert_same_as_mirror(&db, "users");
}

/// A revert killed under its lock leaves its rename queued on the server, and it runs when the
/// server sees the lock's connection close: the next run waits for it, then finds the swap back
/// done, instead of reading the names before it and swapping a second time.
#[test]
fn mysql_a_rename_a_killed_revert_left_queued_is_waited_for_before_the_names_are_read() {
    let db = MyDb::new();
    schema(&db, 2_000);
    let project = Project::new();
    let (ok, out, err) = rewrite(&project, &db, &["--table", "users", "--alter", "MODIFY n bigint NOT NULL DEFAULT 0"]);
    assert!(ok, "{out}{err}");
    // What `--revert` does up to its kill: a sentry under the copy's name, the three tables
    // locked, the rename queued behind the lock on a second connection, the sentry dropped.
    let mut locker = db.conn();
    locker.query_drop("CREATE TABLE users__cutover_new (_cutover_sentry int)").unwrap();
    locker.query_drop("LOCK TABLES users WRITE, users__cutover_old WRITE, users__cutover_new WRITE").unwrap();
    let rename = format!(
        "RENAME TABLE `{0}`.`users` TO `{0}`.`users__cutover_new`, `{0}`.`users__cutover_old` TO `{0}`.`users`",
        db.name
    );
    let mut renamer = db.conn();
    let renamed = thread::spawn(move || renamer.query_drop(rename));
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE %' AND STATE LIKE '%metadata lock%'") != "1" {
        assert!(Instant::now() < deadline, "the rename never queued");
        thread::sleep(Duration::from_millis(10));
    }
    locker.query_drop("DROP TABLE users__cutover_new").unwrap();
    // The process dies; the server sees its lock's connection close a moment later.
    let killed = thread::spawn(move || {
        thread::sleep(Duration::from_millis(1500));
        drop(locker);
    });
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    killed.join().unwrap();
    renamed.join().unwrap().unwrap();
    assert!(ok && out.contains("was reverted already"), "{out}{err}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(40),int(11)");
    assert_eq!(phase(&db).as_deref(), Some("reverted"));
    assert_same_as_mirror(&db, "users");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_nothing_left(&db);
}

/// A change whose new definition refuses rows the table holds: the rewrite is dropped at once,
/// so that its change capture does not go on refusing the application's writes of such rows.
#[test]
fn mysql_a_copy_refused_by_the_new_definition_drops_the_rewrite_and_the_application_writes_on() {
    let db = MyDb::new();
    schema(&db, 2_000);
    let project = Project::new();
    let (ok, out, err) = rewrite(&project, &db, &["--table", "users", "--alter", "ADD CONSTRAINT small CHECK (n < 3)"]);
    assert!(!ok, "{out}");
    assert!(err.contains("met a row the new definition refuses"), "{err}");
    assert_nothing_left(&db);
    db.query("INSERT INTO users (name, n) VALUES ('big', 10)");
    let (ok, out, err) =
        rewrite(&project, &db, &["--table", "users", "--alter", "ADD CONSTRAINT small CHECK (n < 30)"]);
    assert!(ok, "{out}{err}");
}

/// A write since the swap that the old column's type would change (rounded to its scale, its
/// fraction of a second cut) is one the old table cannot keep: the revert refuses rather than
/// taking the table back with the value rounded; a value that reads the same is kept.
#[test]
fn mysql_a_write_the_old_type_would_round_makes_the_revert_refuse() {
    let db = MyDb::new();
    schema(&db, 500);
    db.query("ALTER TABLE users ADD COLUMN amount decimal(12,2), ADD COLUMN at datetime(0)");
    let project = Project::new();
    let (ok, out, err) =
        rewrite(&project, &db, &["--table", "users", "--alter", "MODIFY amount decimal(14,4), MODIFY at datetime(6)"]);
    assert!(ok, "{out}{err}");
    db.query("UPDATE users SET amount = 12.3400, at = '2026-01-01 10:00:00' WHERE id = 1");
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_rewrite_misses"), "0");
    db.query("UPDATE users SET at = '2026-01-01 10:00:00.250000' WHERE id = 2");
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_rewrite_misses"), "1");
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(!ok, "{out}");
    assert!(err.contains("changes in the old table's column types"), "{err}");
    assert_eq!(db.query("SELECT amount FROM users WHERE id = 1"), "12.3400");
}

/// The rewrite's copy and triggers are strict whatever the server's or the application's
/// `sql_mode`: a value the old table's narrower column cannot hold, written after the swap by
/// a session that is not strict, is a miss that refuses the revert, not a value cut short
/// without a word (triggers run in the mode they were made in).
#[test]
fn mysql_the_rewrites_triggers_are_strict_whatever_the_sessions_mode() {
    let db = MyDb::new();
    schema(&db, 300);
    let project = Project::new();
    let (ok, out, err) = rewrite(&project, &db, &["--table", "users", "--alter", "MODIFY name varchar(300) NOT NULL"]);
    assert!(ok, "{out}{err}");
    let modes = db.query(
        "SELECT GROUP_CONCAT(DISTINCT FIND_IN_SET('STRICT_ALL_TABLES', SQL_MODE) > 0) FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '%cutover%'",
    );
    assert_eq!(modes, "1", "every trigger of the rewrite is strict");
    let long = "x".repeat(250);
    let mut app = db.conn();
    app.query_drop(format!("SET SESSION sql_mode = ''; UPDATE users SET name = '{long}' WHERE id = 1")).unwrap();
    assert_eq!(db.query("SELECT CHAR_LENGTH(name) FROM users WHERE id = 1"), "250", "the application's write is kept");
    assert_eq!(db.query("SELECT COUNT(*) FROM cutover_rewrite_misses"), "1");
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(!ok, "{out}");
    assert!(err.contains("Data too long"), "{err}");
    assert_eq!(db.query("SELECT CHAR_LENGTH(name) FROM users WHERE id = 1"), "250");
}

/// A table with foreign keys of its own: the copy is given them under `_cutover_` names (a
/// foreign key's name is unique in its database, and the old table keeps its own for a revert),
/// checks every row it copies, follows a parent's cascade as the old table does, and once the
/// old table is dropped the names are the table's own again; a change the server refuses on a
/// referencing column is refused as it would be on the table.
#[test]
fn mysql_a_table_with_foreign_keys_is_rewritten_and_gets_their_names_back() {
    let db = MyDb::new();
    db.query(
        "CREATE TABLE parents (id int PRIMARY KEY) ENGINE=InnoDB; \
         CREATE TABLE kids (id int PRIMARY KEY, parent_id int, other_id int, note varchar(10), \
           CONSTRAINT kid_parent FOREIGN KEY (parent_id) REFERENCES parents (id) ON DELETE CASCADE, \
           FOREIGN KEY (other_id) REFERENCES parents (id) ON DELETE SET NULL ON UPDATE CASCADE) ENGINE=InnoDB; \
         INSERT INTO parents SELECT seq FROM seq_1_to_100; \
         INSERT INTO kids SELECT seq, seq % 100 + 1, seq % 50 + 1, 'k' FROM seq_1_to_2000",
    );
    let keys_of = |table: &str| {
        db.query(&format!(
            "SELECT GROUP_CONCAT(CONSTRAINT_NAME, ' ', UPDATE_RULE, ' ', DELETE_RULE ORDER BY BINARY CONSTRAINT_NAME SEPARATOR ', ') \
             FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
        ))
    };
    let before = keys_of("kids");
    assert_eq!(before, "kid_parent RESTRICT CASCADE, kids_ibfk_1 CASCADE SET NULL");
    // The indexes the server made for the keys are named after the key or its column.
    let indexes = || {
        db.query(
            "SELECT GROUP_CONCAT(DISTINCT INDEX_NAME ORDER BY BINARY INDEX_NAME) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'kids'",
        )
    };
    let indexes_before = indexes();
    assert_eq!(indexes_before, "PRIMARY,kid_parent,other_id");
    let project = Project::new();
    for (alter, expected) in [
        ("MODIFY parent_id bigint", "does not apply to a copy"),
        ("DROP FOREIGN KEY kid_parent", "adds or drops a foreign key"),
    ] {
        let (ok, out, err) = rewrite(&project, &db, &["--table", "kids", "--alter", alter]);
        assert!(!ok && err.contains(expected), "{alter}: {out}{err}");
        assert_nothing_left(&db);
        assert_eq!(keys_of("kids"), before);
    }
    // A value computed from a column a parent's cascade writes would not follow it (cascades
    // fire no trigger): refused at the start, not after the copy by the verification.
    {
        let alter = "ADD COLUMN other_copy int";
        let (ok, out, err) =
            rewrite(&project, &db, &["--table", "kids", "--alter", alter, "--using", "other_copy=other_id + 0"]);
        let expected = "reads `other_id`, which the foreign key kids_ibfk_1 changes when its parent changes";
        assert!(!ok && err.contains(expected), "{alter}: {out}{err}");
        assert_nothing_left(&db);
        assert_eq!(keys_of("kids"), before);
    }

    let (ok, out, err) = rewrite(&project, &db, &["--table", "kids", "--alter", "MODIFY note varchar(100)"]);
    assert!(ok, "{out}{err}");
    assert_eq!(column_types(&db, "kids"), "int(11),int(11),int(11),varchar(100)");
    assert_eq!(keys_of("kids"), "_cutover_kid_parent RESTRICT CASCADE, _cutover_kids_ibfk_1 CASCADE SET NULL");
    // A parent's delete cascades into both tables (InnoDB's cascades fire no trigger).
    db.query("DELETE FROM parents WHERE id = 7");
    for table in ["kids", "kids__cutover_old"] {
        assert_eq!(db.query(&format!("SELECT COUNT(*) FROM `{table}` WHERE parent_id = 7")), "0", "{table}");
        assert_eq!(db.query(&format!("SELECT COUNT(*) FROM `{table}` WHERE other_id = 7")), "0", "{table}");
        assert_eq!(db.query(&format!("SELECT COUNT(*) FROM `{table}`")), "1980", "{table}");
    }
    let mut conn = db.conn();
    let orphan = conn.query_drop("INSERT INTO kids VALUES (5000, 999, NULL, 'x')");
    assert!(orphan.is_err_and(|e| e.to_string().contains("foreign key constraint fails")), "the copy's keys check");
    // A reader in a transaction holds the cleanup's DDL off: said try by try, and named.
    let mut reader = db.conn();
    reader.query_drop("START TRANSACTION").unwrap();
    let _: Option<i64> = reader.query_first("SELECT count(*) FROM kids").unwrap();
    let reader_id: i64 = reader.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "kids", "--lock-timeout", "200ms"]);
    assert!(!ok && err.contains("the cleanup: locks not granted (try 1 of 5)"), "{out}{err}");
    assert!(err.contains(&format!("its locks wait for: session {reader_id} ")), "{out}{err}");
    reader.query_drop("COMMIT").unwrap();
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "kids"]);
    assert!(ok, "{out}{err}");
    assert_eq!(keys_of("kids"), before, "the names are the table's own again");
    assert_eq!(indexes(), indexes_before, "an index the server made for a key keeps its name");
    assert_nothing_left(&db);

    // A rewrite swapped back: the original table has its names, the copy's go with it.
    let (ok, out, err) = rewrite(&project, &db, &["--table", "kids", "--alter", "MODIFY note varchar(200)"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "kids"]);
    assert!(ok, "{out}{err}");
    assert_eq!(keys_of("kids"), before);
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "kids"]);
    assert!(ok, "{out}{err}");
    assert_eq!(keys_of("kids"), before);
    assert_eq!(column_types(&db, "kids"), "int(11),int(11),int(11),varchar(100)");
    assert_nothing_left(&db);

    // An index the server made for a key is named by a change, as on the table.
    let (ok, out, err) =
        rewrite(&project, &db, &["--table", "kids", "--alter", "RENAME INDEX other_id TO by_other, ADD COLUMN y int"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "kids"]);
    assert!(ok, "{out}{err}");
    assert_eq!(indexes(), "PRIMARY,by_other,kid_parent");
    assert_eq!(keys_of("kids"), before);

    // The copy's name for a key taken by another table's key: refused, naming it.
    db.query("CREATE TABLE others (id int PRIMARY KEY, p int, CONSTRAINT _cutover_kid_parent FOREIGN KEY (p) REFERENCES parents (id))");
    let (ok, out, err) = rewrite(&project, &db, &["--table", "kids", "--alter", "MODIFY note varchar(300)"]);
    assert!(!ok && err.contains("is taken by a foreign key of `others`"), "{out}{err}");
    assert_nothing_left(&db);
    db.query("DROP TABLE others");

    // A key already named as a copy's would be renamed by the cleanup: refused, nothing made.
    db.query("ALTER TABLE kids DROP FOREIGN KEY kid_parent, ADD CONSTRAINT _cutover_mine FOREIGN KEY (parent_id) REFERENCES parents (id)");
    let (ok, out, err) = rewrite(&project, &db, &["--table", "kids", "--alter", "MODIFY note varchar(300)"]);
    assert!(!ok && err.contains("its foreign key _cutover_mine has a name of the kind"), "{out}{err}");
    assert_nothing_left(&db);
}

/// A composite key with a binary column: the copy's batches read and share-lock their own
/// ranges only (MariaDB scans no range for a row comparison: each batch locked from the
/// index's start, and waited on a row the application held at the far end), the verification
/// reads its chunks' ranges, and a key whose bytes are no text is compared as bytes, so every
/// row is copied and checked once.
#[test]
fn mysql_a_composite_key_with_binary_bytes_is_copied_and_verified_by_ranges() {
    let db = MyDb::new();
    db.query(
        "CREATE TABLE visits (site int NOT NULL, tag varbinary(4) NOT NULL, n int NOT NULL, PRIMARY KEY (site, tag)); \
         INSERT INTO visits SELECT seq DIV 100, UNHEX(LPAD(HEX((seq MOD 100) * 2 + 128), 4, '0')), seq FROM seq_0_to_2999; SELECT 1",
    );
    let project = Project::new();
    let child = project
        .cutover_std(&db.url)
        .args(["rewrite", "--table", "visits", "--alter", "MODIFY n bigint NOT NULL", "--verify-chunk", "150"])
        .args(["--batch-time", "1ms", "--max-rows-per-second", "1000", "--lock-timeout", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let copied = || -> u64 {
        let mut conn = db.conn();
        conn.query_first::<u64, _>("SELECT COUNT(*) FROM visits__cutover_new").ok().flatten().unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while copied() == 0 {
        assert!(Instant::now() < deadline, "the copy never began");
        thread::sleep(Duration::from_millis(20));
    }
    // The application holds the last row while the copy walks the rest.
    let mut app = db.conn();
    app.query_drop("START TRANSACTION").unwrap();
    app.query_drop("UPDATE visits SET n = n WHERE site = 29 AND tag = UNHEX('0146')").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while copied() < 2900 {
        if Instant::now() > deadline {
            app.query_drop("ROLLBACK").unwrap();
            panic!("the copy's batches waited on a row outside their range ({} copied)", copied());
        }
        thread::sleep(Duration::from_millis(20));
    }
    app.query_drop("COMMIT").unwrap();
    let output = child.wait_with_output().unwrap();
    let (out, err) = output_text(&output);
    assert!(output.status.success(), "{out}{err}");
    assert_eq!(column_types(&db, "visits"), "int(11),varbinary(4),bigint(20)");
    assert_eq!(
        db.query("SELECT CONCAT(COUNT(*), ' ', SUM(n), ' ', COUNT(DISTINCT site, tag)) FROM visits"),
        format!("3000 {} 3000", (0..3000u64).sum::<u64>())
    );
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "visits"]);
    assert!(ok, "{out}{err}");
    assert_nothing_left(&db);
}

/// A revert killed after its rename (the original table back under its name, the phase not
/// recorded yet): `--status` says reverted, as the names do, and the next command records it.
#[test]
fn mysql_status_reads_a_killed_reverts_rename_as_reverted() {
    let db = MyDb::new();
    schema(&db, 500);
    let project = Project::new();
    let (ok, out, err) = rewrite(&project, &db, &["--table", "users", "--alter", "MODIFY name varchar(200) NOT NULL"]);
    assert!(ok, "{out}{err}");
    assert_eq!(phase(&db).as_deref(), Some("swapped"));
    db.query("RENAME TABLE users TO users__cutover_new, users__cutover_old TO users");
    let (ok, out, err) = rewrite(&project, &db, &["--status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert!(ok && status["rewrites"][0]["phase"] == "reverted", "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(40),int(11)");
    assert_nothing_left(&db);
    assert_same_as_mirror(&db, "users");
}

/// Tester 15: a session that reads the copy (`SELECT SLEEP(9) FROM users__cutover_new`) queued
/// while the cut-over holds its lock takes the copy before the rename, which then waits for it
/// holding the table's lock: the application waited out the rename's whole wait (6 s), and the
/// rename failed after the triggers were exchanged, and the swap was retried with the copy
/// lagging the table (writes lost, ids handed out twice). The rename is stopped after the lock
/// timeout now, that swap is not retried, and the next run copies again.
#[test]
fn mysql_a_rename_that_fails_after_the_triggers_were_exchanged_is_not_retried_into_a_copy_that_lags() {
    let db = MyDb::new();
    schema(&db, 5_000);
    let project = Project::new();
    let args = ["--table", "users", "--alter", "MODIFY name varchar(200) NOT NULL", "--lock-timeout", "1s"];
    let (ok, out, err) = rewrite(&project, &db, &[&args[..], &["--defer-swap"]].concat());
    assert!(ok, "{out}{err}");
    let writers = Writers::start(&db, 2, 11, 5_000);
    // How long a read of the table waits, at most, while the swap runs.
    let (probing, longest) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)));
    let probe = {
        let (probing, longest, mut conn) = (probing.clone(), longest.clone(), db.conn());
        thread::spawn(move || {
            while probing.load(Ordering::SeqCst) {
                let started = Instant::now();
                let _: Option<i64> = conn.query_first("SELECT COUNT(*) FROM users WHERE id = 1").unwrap();
                longest.fetch_max(started.elapsed().as_millis() as u64, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // The reader: once the rename is queued, it reads the copy for 9 s.
    let reader = {
        let (mut watcher, mut reader, name) = (db.conn(), db.conn(), db.name.clone());
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while watcher
                .query_first::<i64, _>(format!(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE `{name}`%'"
                ))
                .unwrap()
                == Some(0)
            {
                assert!(Instant::now() < deadline, "the swap never renamed");
                thread::sleep(Duration::from_millis(1));
            }
            let _: Vec<i64> = reader.query("SELECT SLEEP(9) FROM users__cutover_new LIMIT 1").unwrap();
        })
    };
    thread::sleep(Duration::from_millis(200));
    let output = project
        .cutover(&db.url)
        .env("CUTOVER_TEST_HOLD_SWAP_LOCK_MS", "300")
        .arg("rewrite")
        .args(args)
        .output()
        .unwrap();
    let (first_out, first_err) = output_text(&output);
    thread::sleep(Duration::from_millis(300));
    probing.store(false, Ordering::SeqCst);
    probe.join().unwrap();
    let longest = longest.load(Ordering::SeqCst);
    reader.join().unwrap();
    // `--status` does not call it a copy kept in step.
    let (ok, out, err) = rewrite(&project, &db, &["--status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert!(ok && status["rewrites"][0]["capture_incomplete"].is_string(), "{out}{err}");
    let (_, out, _) = rewrite(&project, &db, &["--status"]);
    assert!(out.contains("the change capture into the copy is not whole"), "{out}");
    // Run again: it puts the capture back and copies again.
    let (ok, out, err) = rewrite(&project, &db, &args);
    assert!(ok, "{out}{err}");
    thread::sleep(Duration::from_millis(200));
    let (done, errors) = Writers::stop(writers);
    assert!(errors.is_empty(), "the application's writes failed: {errors:?}");
    assert!(done > 50, "the writers hardly wrote ({done} transactions)");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(200),int(11)");
    assert_same_as_mirror(&db, "users");
    // The first run said what happened and swapped nothing in, and the application waited
    // about the lock timeout, not the rename's own wait.
    assert!(!output.status.success(), "{first_out}{first_err}");
    assert!(
        first_err.contains("waited longer than the lock timeout") && first_err.contains("not swapped in"),
        "{first_err}"
    );
    assert!(first_err.contains("Run the same command again"), "{first_err}");
    assert!(longest < 4_000, "a read of the table waited {longest} ms");
}

/// Tester 15: a column added to the table (or a type changed) after the rewrite began was
/// undone by the swap, its values left in the old table only. The swap is refused now, naming
/// what changed, and nothing is swapped.
#[test]
fn mysql_a_table_changed_since_its_rewrite_began_is_not_swapped() {
    let db = MyDb::new();
    schema(&db, 2_000);
    let project = Project::new();
    let args = ["--table", "users", "--alter", "MODIFY name varchar(200) NOT NULL"];
    let (ok, out, err) = rewrite(&project, &db, &[&args[..], &["--defer-swap"]].concat());
    assert!(ok, "{out}{err}");
    db.query("ALTER TABLE users ADD COLUMN note varchar(20) NOT NULL DEFAULT 'x'");
    db.query("UPDATE users SET note = 'important' WHERE id <= 10");
    let (ok, out, err) = rewrite(&project, &db, &args);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("was changed since the rewrite started") && err.contains("now: `note` varchar(20)"), "{err}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(40),int(11),varchar(20)", "nothing was swapped");
    assert_eq!(db.query("SELECT COUNT(*) FROM users WHERE note = 'important'"), "10");
    let (ok, out, err) = rewrite(&project, &db, &["--cleanup", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_nothing_left(&db);
}

/// The SIGKILL test's find: a start killed between making the state table and the misses
/// table left every later command failing to read the state. The misses table is made first
/// now; a state an older cutover left so is read (`--status`) and healed by the next command.
#[test]
fn mysql_a_state_table_without_its_misses_table_is_read_and_healed() {
    let db = MyDb::new();
    schema(&db, 1_000);
    let project = Project::new();
    let args = ["--table", "users", "--alter", "MODIFY name varchar(200) NOT NULL"];
    let (ok, out, err) = rewrite(&project, &db, &[&args[..], &["--defer-swap"]].concat());
    assert!(ok, "{out}{err}");
    db.query("DROP TABLE cutover_rewrite_misses");
    let (ok, out, err) = rewrite(&project, &db, &["--status"]);
    assert!(ok && out.contains("ready"), "{out}{err}");
    let (ok, out, err) = rewrite(&project, &db, &args);
    assert!(ok, "{out}{err}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(200),int(11)");
    assert_same_as_mirror(&db, "users");
}

/// Tester 16: the row checksum joined values with a bare `#`, so ('x#', 'y') and ('x', '#y')
/// summed alike, and a copy changed behind the capture so was swapped in. Values are quoted.
#[test]
fn mysql_a_copy_that_differs_only_in_where_a_separator_falls_is_not_swapped() {
    let db = MyDb::new();
    db.query("CREATE TABLE pairs (id int PRIMARY KEY, a varchar(20) NOT NULL, b varchar(20) NOT NULL)");
    db.query("INSERT INTO pairs VALUES (1, 'x#', 'y'), (2, 'p', 'q')");
    let project = Project::new();
    let args = ["--table", "pairs", "--alter", "MODIFY a varchar(40) NOT NULL"];
    let (ok, out, err) = rewrite(&project, &db, &[&args[..], &["--defer-swap"]].concat());
    assert!(ok, "{out}{err}");
    // Behind the capture: the copy's row becomes ('x', '#y').
    db.query("UPDATE pairs__cutover_new SET a = 'x', b = '#y' WHERE id = 1");
    let (ok, out, err) = rewrite(&project, &db, &args);
    assert!(!ok, "a copy that differs was swapped in: {out}{err}");
    assert!(err.contains("1 (differs)"), "{err}");
    assert_eq!(column_types(&db, "pairs"), "int(11),varchar(20),varchar(20)");
}

/// Tester 16: a write the old table cannot take (an id over 2^31 after int to bigint), made by
/// a transaction the revert's lock then waited for, was noted after the revert had checked the
/// misses: the revert went through and lost the row. The misses are read again under the lock.
#[test]
fn mysql_a_miss_noted_while_the_revert_waits_for_its_lock_refuses_the_revert() {
    let db = MyDb::new();
    schema(&db, 2_000);
    let project = Project::new();
    let (ok, out, err) =
        rewrite(&project, &db, &["--table", "users", "--alter", "MODIFY id bigint NOT NULL AUTO_INCREMENT"]);
    assert!(ok, "{out}{err}");
    let writer = {
        let mut conn = db.conn();
        thread::spawn(move || {
            let mut tx = conn.start_transaction(mysql::TxOpts::default()).unwrap();
            tx.query_drop("INSERT INTO users (id, name, n) VALUES (3000000000, 'big', 1)").unwrap();
            tx.query_drop("INSERT INTO mirror (id, name, n) VALUES (3000000000, 'big', 1)").unwrap();
            thread::sleep(Duration::from_millis(2_500));
            tx.commit().unwrap();
        })
    };
    thread::sleep(Duration::from_millis(500));
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users", "--lock-timeout", "10s"]);
    writer.join().unwrap();
    assert!(!ok, "the revert went through: {out}{err}");
    assert!(err.contains("noted while this waited for its locks"), "{err}");
    assert_eq!(column_types(&db, "users"), "bigint(20),varchar(40),int(11)", "still the rewritten table");
    assert_same_as_mirror(&db, "users");
}

/// Tester 16: a column (or an index) added to the rewritten table after the swap was undone
/// by the revert, which said "with every write made since the swap". Refused now, naming it.
#[test]
fn mysql_a_table_changed_since_the_swap_is_not_swapped_back() {
    let db = MyDb::new();
    schema(&db, 2_000);
    let project = Project::new();
    let (ok, out, err) = rewrite(&project, &db, &["--table", "users", "--alter", "MODIFY name varchar(200) NOT NULL"]);
    assert!(ok, "{out}{err}");
    db.query("ALTER TABLE users ADD COLUMN email varchar(50) NOT NULL DEFAULT 'none'");
    db.query("UPDATE users SET email = 'a@b' WHERE id < 10");
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("was changed since the swap") && err.contains("now: `email` varchar(50)"), "{err}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(200),int(11),varchar(50)", "nothing was swapped back");
    // Undone, the revert goes through.
    db.query("ALTER TABLE users DROP COLUMN email");
    let (ok, out, err) = rewrite(&project, &db, &["--revert", "--table", "users"]);
    assert!(ok, "{out}{err}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(40),int(11)");
    assert_same_as_mirror(&db, "users");
}

/// Tester 16: a trigger on the table, or another table's foreign key to it, made while the
/// rewrite was under way stayed with the old table at the swap (the key then checked against
/// it, an orphan let through). What the start refuses is checked again before the swap.
#[test]
fn mysql_a_trigger_or_a_foreign_key_made_during_the_rewrite_refuses_the_swap() {
    let db = MyDb::new();
    schema(&db, 1_000);
    let project = Project::new();
    let args = ["--table", "users", "--alter", "MODIFY name varchar(200) NOT NULL"];
    let (ok, out, err) = rewrite(&project, &db, &[&args[..], &["--defer-swap"]].concat());
    assert!(ok, "{out}{err}");
    db.query("CREATE TABLE audit (id int)");
    db.query("CREATE TRIGGER my_audit AFTER INSERT ON users FOR EACH ROW INSERT INTO audit VALUES (NEW.id)");
    let (ok, out, err) = rewrite(&project, &db, &args);
    assert!(!ok && err.contains("it has triggers (my_audit)") && err.contains("nothing was swapped"), "{out}{err}");
    db.query("DROP TRIGGER my_audit");
    db.query("CREATE TABLE child (id int PRIMARY KEY, pid int, FOREIGN KEY (pid) REFERENCES users (id))");
    let (ok, out, err) = rewrite(&project, &db, &args);
    assert!(!ok && err.contains("foreign keys of other tables point at it"), "{out}{err}");
    db.query("DROP TABLE child");
    let (ok, out, err) = rewrite(&project, &db, &args);
    assert!(ok, "{out}{err}");
    assert_eq!(column_types(&db, "users"), "int(11),varchar(200),int(11)");
}
