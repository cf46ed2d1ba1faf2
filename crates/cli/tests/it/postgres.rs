//! Runner behaviour on a real PostgreSQL: status, tampering, failures, resume after SIGKILL,
//! concurrent runners, and the lock-queue protection.

use std::thread;
use std::time::{Duration, Instant};

use cutover_migration::{normalize, Checksum};
use serde_json::{json, Value};

use crate::util::{output_text, PgDb, Project};

fn checksum(text: &str) -> String {
    Checksum::of_normalized(&normalize(text)).as_str().to_string()
}

#[test]
fn status_json_is_exact() {
    let db = PgDb::new();
    let project = Project::new();
    let (m1, m2, m3) = ("CREATE TABLE a (id int);\n", "CREATE TABLE b (id int);\n", "CREATE TABLE c (id int);\n");
    project.migration("1_a.up.sql", m1).migration("2_b.up.sql", m2).migration("3_c.up.sql", m3);
    project.cutover(&db.url).args(["up", "--to", "2"]).assert().success();

    let applied_at: Vec<String> = db
        .query(r#"SELECT to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM cutover_history ORDER BY id"#)
        .lines()
        .map(str::to_string)
        .collect();
    let output = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    assert!(output.status.success());
    let actual: Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected = json!({"migrations": [
        {"version": "1", "name": "a", "state": "applied", "applied_at": applied_at[0], "checksum": checksum(m1)},
        {"version": "2", "name": "b", "state": "applied", "applied_at": applied_at[1], "checksum": checksum(m2)},
        {"version": "3", "name": "c", "state": "pending", "applied_at": null, "checksum": checksum(m3)},
    ]});
    assert_eq!(actual, expected);
}

#[test]
fn edited_applied_migration_blocks_validate_and_up_but_crlf_does_not() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\nCREATE TABLE a2 (id int);\n");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration("2_b.up.sql", "CREATE TABLE b (id int);\n");

    // A line-ending change is not an edit.
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\r\nCREATE TABLE a2 (id int);\r\n");
    project.cutover(&db.url).arg("validate").assert().success();

    // A real edit is.
    project.migration("1_a.up.sql", "CREATE TABLE a (id bigint);\nCREATE TABLE a2 (id int);\n");
    let output = project.cutover(&db.url).arg("validate").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout.contains("1_a.up.sql") && stdout.contains("was edited after it was applied"), "{stdout}");

    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no migration was run or recorded") && stderr.contains("1_a.up.sql"), "{stderr}");
    assert_eq!(db.tables(), "a,a2,cutover_history,cutover_history_guard", "the pending migration was not applied");

    // A deleted applied migration is reported as missing.
    std::fs::remove_file(project.path("migrations/1_a.up.sql")).unwrap();
    let output = project.cutover(&db.url).arg("validate").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output_text(&output).0.contains("its file `1_a.up.sql` is gone"));
}

#[test]
fn failing_transactional_migration_leaves_no_trace_and_is_retried_once_fixed() {
    let db = PgDb::new();
    let project = Project::new();
    let broken = "CREATE TABLE one (id int);\nCREATE TABLE two (id int);\nINSERT INTO\n  missing_table VALUES (1);\nCREATE TABLE four (id int);\nCREATE TABLE five (id int);\n";
    project.migration("1_five.up.sql", broken).migration("2_later.up.sql", "CREATE TABLE later (id int);");

    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1_five.up.sql:4"), "the error names file:line of the failing token: {stderr}");
    assert!(stderr.contains("42P01") && stderr.contains("nothing of it was applied"), "{stderr}");
    assert_eq!(db.tables(), "cutover_history,cutover_history_guard", "no partial schema");
    assert_eq!(
        db.query("SELECT state, error_sqlstate, error_location LIKE '%1_five.up.sql:4', error_statement LIKE 'INSERT INTO%missing_table%' FROM cutover_history"),
        "failed\t42P01\tt\tt"
    );
    let status = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["migrations"][0]["state"], "failed");
    assert_eq!(status["migrations"][1]["state"], "pending", "up does not go past a failed migration");

    project.migration("1_five.up.sql", &broken.replace("missing_table", "one"));
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.tables(), "cutover_history,cutover_history_guard,five,four,later,one,two");
    assert_eq!(db.query("SELECT count(*) FROM one"), "1");
    assert_eq!(db.query("SELECT string_agg(state, ',' ORDER BY id) FROM cutover_history"), "failed,applied,applied");
}

#[test]
fn no_transaction_migration_killed_between_statements_resumes_where_it_stopped() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_log.up.sql", "CREATE TABLE log (step int PRIMARY KEY);");
    project.migration(
        "2_steps.up.sql",
        "-- cutover:no-transaction\nINSERT INTO log VALUES (1);\nINSERT INTO log VALUES (2);\nSELECT pg_sleep(30);\nINSERT INTO log VALUES (3);\nCREATE INDEX CONCURRENTLY log_step_idx ON log (step);\n",
    );
    let mut child = project.cutover_std(&db.url).arg("up").stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = db.try_query("SELECT coalesce(max(statements_done), 0) FROM cutover_history WHERE version = '2'");
        if done.as_deref() == Some("2") {
            break;
        }
        assert!(Instant::now() < deadline, "the migration never reached its third statement");
        thread::sleep(Duration::from_millis(50));
    }
    // Inside `pg_sleep`, the third statement.
    thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(db.query("SELECT string_agg(step::text, ',' ORDER BY step) FROM log"), "1,2");

    // Make the resume fast: statements 1 and 2 are unchanged, so editing statement 3 is fine.
    project.migration(
        "2_steps.up.sql",
        "-- cutover:no-transaction\nINSERT INTO log VALUES (1);\nINSERT INTO log VALUES (2);\nSELECT pg_sleep(0);\nINSERT INTO log VALUES (3);\nCREATE INDEX CONCURRENTLY log_step_idx ON log (step);\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming 2 steps at statement 3"), "{stderr}");
    assert_eq!(db.query("SELECT string_agg(step::text, ',' ORDER BY step) FROM log"), "1,2,3", "nothing applied twice");
    assert_eq!(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'log_step_idx'::regclass"), "t");

    // Editing a statement that was already applied is refused.
    project.migration(
        "3_more.up.sql",
        "-- cutover:no-transaction\nINSERT INTO log VALUES (4);\nINSERT INTO nowhere VALUES (5);\n",
    );
    project.cutover(&db.url).arg("up").assert().code(2);
    project.migration(
        "3_more.up.sql",
        "-- cutover:no-transaction\nINSERT INTO log VALUES (40);\nINSERT INTO log VALUES (5);\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("statements 1 to 1 were applied by an earlier attempt, and have been edited since"),
        "{stderr}"
    );
}

#[test]
fn eight_concurrent_runners_apply_each_migration_exactly_once() {
    let db = PgDb::new();
    let project = Project::new();
    for idx in 1..=12 {
        let sql = if idx % 4 == 0 {
            format!("-- cutover:no-transaction\nCREATE TABLE t{idx} (id int);\nCREATE INDEX CONCURRENTLY t{idx}_idx ON t{idx} (id);\n")
        } else {
            format!("CREATE TABLE t{idx} (id int);\nSELECT pg_sleep(0.05);\n")
        };
        project.migration(&format!("{idx:03}_t{idx}.up.sql"), &sql);
    }
    project.run_concurrently(&db.url, 8, &["up"]);
    assert_eq!(
        db.query("SELECT count(*), count(DISTINCT version) FROM cutover_history WHERE state = 'applied'"),
        "12\t12",
        "each migration applied exactly once"
    );
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'failed'"), "0");
}

#[test]
fn a_waiting_alter_never_blocks_readers_longer_than_the_lock_timeout() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_accounts.up.sql",
        "CREATE TABLE accounts (id int); INSERT INTO accounts SELECT generate_series(1, 100);",
    );
    project.cutover(&db.url).arg("up").assert().success();
    project.migration("2_alter.up.sql", "ALTER TABLE accounts ADD COLUMN note text;");

    // A long transaction that has read the table holds ACCESS SHARE until it commits.
    let mut blocker = db.client();
    blocker.batch_execute("SET application_name = 'nightly-report'").unwrap();
    let mut blocker_tx = blocker.transaction().unwrap();
    blocker_tx.query("SELECT count(*) FROM accounts", &[]).unwrap();

    let lock_timeout = Duration::from_millis(400);
    let runner = project
        .cutover_std(&db.url)
        .args(["up", "--lock-timeout", "400ms"])
        .env("CUTOVER_LOCK_RETRIES", "40")
        .env("CUTOVER_RETRY_BACKOFF", "150ms")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // Readers keep reading while the migration waits, fails its try, and retries.
    let reader_url = db.url.clone();
    let reader = thread::spawn(move || {
        let mut client = postgres::Client::connect(&reader_url, postgres::NoTls).unwrap();
        let until = Instant::now() + Duration::from_secs(3);
        let mut worst = Duration::ZERO;
        let mut n_reads = 0;
        while Instant::now() < until {
            let started = Instant::now();
            client.query("SELECT count(*) FROM accounts", &[]).unwrap();
            worst = worst.max(started.elapsed());
            n_reads += 1;
            thread::sleep(Duration::from_millis(20));
        }
        (worst, n_reads)
    });
    let (worst, n_reads) = reader.join().unwrap();
    blocker_tx.commit().unwrap();

    let output = runner.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("lock not granted for 2 alter (try 1 of 40)"), "{stderr}");
    // The notice names who to wait for.
    assert!(stderr.contains("\n  held by pid "), "{stderr}");
    assert!(
        stderr.contains("(nightly-report, user postgres, idle in transaction for ")
            && stderr.contains("last ran: SELECT count(*) FROM accounts) holds AccessShareLock on accounts"),
        "{stderr}"
    );
    assert!(n_reads > 10, "readers kept going: {n_reads} reads");
    // A reader queued behind the waiting ALTER waits at most until the ALTER gives up.
    assert!(worst < lock_timeout + Duration::from_millis(350), "worst read took {worst:?}");
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'note'"
        ),
        "1"
    );
}

/// When the tries run out, the error names the session that held the lock, so the person on call
/// knows whom to wait for or stop.
#[test]
fn a_lock_that_never_comes_names_its_holder_and_applies_nothing() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_accounts.up.sql", "CREATE TABLE accounts (id int);");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration("2_alter.up.sql", "ALTER TABLE accounts ADD COLUMN note text;");
    let mut blocker = db.client();
    // Its last statement carries a secret, which no message may show.
    blocker
        .batch_execute(
            "SET application_name = 'stuck-worker'; BEGIN; LOCK TABLE accounts IN ROW EXCLUSIVE MODE; \
             SELECT 'tok_live_s3cr3t' AS api_key",
        )
        .unwrap();
    let output = project
        .cutover(&db.url)
        .args(["up", "--lock-timeout", "200ms"])
        .env("CUTOVER_LOCK_RETRIES", "2")
        .env("CUTOVER_RETRY_BACKOFF", "50ms")
        .output()
        .unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another session held a conflicting lock for longer than the lock timeout:\n    pid "),
        "{stderr}"
    );
    assert!(stderr.contains("(stuck-worker, user postgres, idle in transaction for "), "{stderr}");
    assert!(stderr.contains("holds RowExclusiveLock on accounts\n"), "{stderr}");
    assert!(stderr.contains("; SELECT '…' AS api_key)"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert!(stderr.contains("nothing of it was applied"), "{stderr}");
    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts'"), "1");
}

#[test]
fn baseline_adopts_an_existing_database() {
    let db = PgDb::new();
    db.query("CREATE TABLE legacy (id int)");
    let project = Project::new();
    project
        .migration("1_legacy.up.sql", "CREATE TABLE legacy (id int);")
        .migration("2_new.up.sql", "CREATE TABLE fresh (id int);");
    project.cutover(&db.url).args(["baseline", "1"]).assert().success();
    project.cutover(&db.url).arg("up").assert().success();
    let status = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["migrations"][0]["state"], "baselined");
    assert_eq!(status["migrations"][1]["state"], "applied");
    // A managed database cannot be baselined again.
    project.cutover(&db.url).args(["baseline", "2"]).assert().code(1);
}

#[test]
fn out_of_order_migrations_are_reported_not_skipped() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);").migration("3_c.up.sql", "CREATE TABLE c (id int);");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration("2_b.up.sql", "CREATE TABLE b (id int);");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output_text(&output).1.contains("2 b is older than the newest applied migration"));
    project.cutover(&db.url).args(["up", "--allow-out-of-order"]).assert().success();
    assert_eq!(db.tables(), "a,b,c,cutover_history,cutover_history_guard");
}

#[test]
fn the_history_is_append_only() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);");
    project.cutover(&db.url).arg("up").assert().success();
    let mut client = db.client();
    let err = client.batch_execute("UPDATE cutover_history SET state = 'failed'").unwrap_err();
    assert!(err.as_db_error().unwrap().message().contains("append-only"), "{err}");
    assert!(client.batch_execute("DELETE FROM cutover_history").is_err());
}

#[test]
fn library_api_runs_the_same_algorithm() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);");
    let url = cutover_engine::DatabaseUrl::parse(&db.url).unwrap();
    let mut target = cutover::connect(&url, "cutover_history").unwrap();
    let settings = cutover_runner::Settings::default();
    let set = cutover_migration::discover(&project.path("migrations"), None).unwrap();
    let mut reporter = cutover_runner::Silent;
    let mut ctx = cutover_runner::Context { target: &mut *target, settings: &settings, reporter: &mut reporter };
    let summary = cutover_runner::up(&mut ctx, &set, &cutover_runner::UpOptions::default()).unwrap();
    assert_eq!(summary.migrations, ["1 a"]);
    let statuses = cutover_runner::status(&mut ctx, &set).unwrap();
    assert_eq!(statuses[0].state, cutover_runner::MigrationState::Applied);
}

#[test]
fn a_failed_concurrent_index_build_is_cleaned_up_and_rebuilt() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1), (2);");
    project.migration(
        "2_unique.up.sql",
        "-- cutover:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY t_a_key ON t (a);\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("23505"), "duplicate key: {}", output_text(&output).1);
    // PostgreSQL leaves the failed build behind as an INVALID index.
    assert_eq!(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a_key'::regclass"), "f");

    db.query("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t WHERE a = 1)");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("dropped INVALID index public.t_a_key left by an earlier failed concurrent build"),
        "{stderr}"
    );
    assert_eq!(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a_key'::regclass"), "t");
}

#[test]
fn a_second_runner_says_who_it_waits_for() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_slow.up.sql", "SELECT pg_sleep(1.5);");
    let first = project.cutover_std(&db.url).arg("up").stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.try_query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(1.5)%'").as_deref()
        != Some("1")
    {
        assert!(Instant::now() < deadline, "the first runner never started its migration");
        thread::sleep(Duration::from_millis(20));
    }
    let second = project.cutover(&db.url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&second);
    assert!(second.status.success(), "{stderr}");
    let first_pid = first.id();
    assert!(
        stderr.contains("waiting for another cutover to finish: cutover")
            && stderr.contains(&format!("pid {first_pid}")),
        "{stderr}"
    );
    assert!(stdout.contains("nothing to do"), "the waiter saw the first runner's work: {stdout}");
    let output = first.wait_with_output().unwrap();
    assert!(output.status.success());
}

/// A script that sets its transaction's isolation level first runs so, although cutover locks
/// the tables it alters up front (a catalog query, after which PostgreSQL refuses the setting).
#[test]
fn set_transaction_at_the_head_of_a_script_applies_to_its_transaction() {
    let db = PgDb::new();
    db.query("CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE u (id int)");
    let project = Project::new();
    project.migration(
        "1_copy.up.sql",
        "BEGIN;\nSET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nALTER TABLE t ADD COLUMN n int;\nALTER TABLE u ADD COLUMN n int;\n\
         INSERT INTO u SELECT id, 1 FROM t;\nCREATE TABLE seen AS SELECT current_setting('transaction_isolation') AS level;\nCOMMIT;\n",
    );
    // The same as a wrapping `START TRANSACTION ISOLATION LEVEL ...`.
    project.migration(
        "2_start.up.sql",
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nALTER TABLE u ADD COLUMN m int;\n\
         CREATE TABLE seen2 AS SELECT current_setting('transaction_isolation') AS level;\nCOMMIT;\n",
    );
    // The rehearsal runs it as `up` does.
    let output = project.cutover(&db.url).args(["rehearse", "--template"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let output = project.cutover(&db.url).args(["up", "--allow-unsafe"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT level FROM seen"), "repeatable read");
    assert_eq!(db.query("SELECT level FROM seen2"), "serializable");
}

#[test]
fn per_migration_timeouts_come_from_directives() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_slow.up.sql", "-- cutover:statement-timeout=200ms\nSELECT pg_sleep(3);\n");
    let started = Instant::now();
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("57014") && stderr.contains("1_slow.up.sql:2"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(3), "the statement timeout stopped it");
    assert_eq!(db.query("SELECT state, error_sqlstate FROM cutover_history"), "failed\t57014");
}

#[test]
fn tls_modes_follow_libpq() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);");
    let with_mode = |mode: &str| format!("{}{}sslmode={mode}", db.url, if db.url.contains('?') { "&" } else { "?" });
    let ssl_on = db.query("SHOW ssl") == "on";
    // `require` encrypts without verifying the certificate, as libpq does.
    let output = project.cutover(&with_mode("require")).arg("up").output().unwrap();
    if ssl_on {
        assert!(output.status.success(), "{}", output_text(&output).1);
        assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "1");
        // `verify-full` refuses a certificate no trusted authority signed.
        let output = project.cutover(&with_mode("verify-full")).arg("status").output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(output_text(&output).1.contains("cannot connect"), "{}", output_text(&output).1);
    } else {
        assert_eq!(output.status.code(), Some(2), "the server has TLS off: require must fail");
    }
    let output = project.cutover(&with_mode("sometimes")).arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("unknown sslmode `sometimes`"));
}

#[test]
fn a_runner_that_waits_too_long_for_the_lock_gives_up_clearly() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_slow.up.sql", "SELECT pg_sleep(3);");
    let first = project.cutover_std(&db.url).arg("up").stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.try_query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%'").as_deref()
        != Some("1")
    {
        assert!(Instant::now() < deadline, "the first runner never started");
        thread::sleep(Duration::from_millis(20));
    }
    let output = project.cutover(&db.url).arg("up").env("CUTOVER_RUNNER_LOCK_WAIT", "500ms").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another cutover still holds the migration lock after 0.5s (held by cutover")
            && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    assert!(first.wait_with_output().unwrap().status.success());
}

#[test]
fn an_interrupted_no_transaction_down_blocks_up_and_resumes_with_down() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration(
            "1_t.up.sql",
            "-- cutover:no-transaction\nCREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
        )
        .migration(
            "1_t.down.sql",
            "-- cutover:no-transaction\nDROP INDEX CONCURRENTLY t_a;\nDROP TABLE nope;\nDROP TABLE t;\n",
        );
    project.cutover(&db.url).arg("up").assert().success();

    // The down script fails at its second statement: the first is done and recorded.
    let output = project.cutover(&db.url).arg("down").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("statements 1 to 1 of 3 were applied and recorded; `cutover down` resumes at statement 2"),
        "{stderr}"
    );

    // Half-reverted: `up` refuses rather than re-running the up script on top.
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output_text(&output).1.contains("stopped half-way through its down script"), "{}", output_text(&output).1);

    project.migration(
        "1_t.down.sql",
        "-- cutover:no-transaction\nDROP INDEX CONCURRENTLY t_a;\nDROP TABLE IF EXISTS nope;\nDROP TABLE t;\n",
    );
    let output = project.cutover(&db.url).arg("down").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming 1 t at statement 2"), "{stderr}");
    assert_eq!(db.tables(), "cutover_history,cutover_history_guard");
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.tables(), "cutover_history,cutover_history_guard,t");
}

/// The approval gate: `up` refuses a migration with an error-level finding before applying
/// anything, prints the findings, and accepts it once each is ignored with a reason or the run
/// says `--allow-unsafe`.
#[test]
fn up_refuses_unsafe_migrations_until_reviewed() {
    let db = PgDb::new();
    // Live before the folder (a table made by the same run's migration 1 would be new).
    db.query("CREATE TABLE users (id bigint PRIMARY KEY, email text)");
    let project = Project::new();
    project
        .migration("1_notes.up.sql", "CREATE TABLE notes (id bigint PRIMARY KEY);\n")
        .migration("1_notes.down.sql", "DROP TABLE notes;\n")
        .migration("2_index.up.sql", "CREATE INDEX users_email ON users (email);\n")
        .migration("2_index.down.sql", "DROP INDEX users_email;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2_index.up.sql:1: error[index-create-blocking]"), "{stderr}");
    assert!(stderr.contains("--allow-unsafe"), "{stderr}");
    assert_eq!(db.tables(), "cutover_history,cutover_history_guard,users", "nothing was applied, not even migration 1");
    assert_eq!(db.query("SELECT count(*) FROM cutover_history"), "0");

    // An ignore without a reason does not count.
    project.migration(
        "2_index.up.sql",
        "-- cutover:ignore index-create-blocking\nCREATE INDEX users_email ON users (email);\n",
    );
    assert_eq!(project.cutover(&db.url).arg("up").output().unwrap().status.code(), Some(1));
    project.migration(
        "2_index.up.sql",
        "-- cutover:ignore index-create-blocking reason=\"users is empty until launch\"\nCREATE INDEX users_email ON users (email);\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "2");

    project.migration("3_drop.up.sql", "ALTER TABLE users DROP COLUMN email;\n");
    project.migration("3_drop.down.sql", "ALTER TABLE users ADD COLUMN email text;\n");
    assert_eq!(project.cutover(&db.url).args(["up", "--dry-run"]).output().unwrap().status.code(), Some(1));
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
}

/// Every accepted finding is recorded beside the history, with who, when and why, and
/// `cutover history` lists them.
#[test]
fn approvals_are_recorded_and_listed() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text, bio text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n");
    project.cutover(&db.url).arg("up").assert().success();
    project
        .migration(
            "2_index.up.sql",
            "-- cutover:ignore index-create-blocking reason=\"users is empty until launch\"\nCREATE INDEX users_email ON users (email);\n",
        )
        .migration("2_index.down.sql", "DROP INDEX users_email;\n");
    project.cutover(&db.url).args(["up", "--dry-run"]).assert().success();
    assert_eq!(db.try_query("SELECT count(*) FROM cutover_history_approvals"), None, "a dry run records nothing");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success());
    assert!(output_text(&output).1.contains("approved error[index-create-blocking]"), "{}", output_text(&output).1);
    project
        .migration("3_drop.up.sql", "ALTER TABLE users DROP COLUMN bio;\n")
        .migration("3_drop.down.sql", "ALTER TABLE users ADD COLUMN bio text;\n");
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
    assert_eq!(
        db.query("SELECT string_agg(concat_ws(' ', version, rule, how, reason), '; ' ORDER BY id) FROM cutover_history_approvals"),
        "2 index-create-blocking ignore users is empty until launch; 3 drop-column allow-unsafe --allow-unsafe"
    );
    let mut client = db.client();
    assert!(client.batch_execute("DELETE FROM cutover_history_approvals").is_err(), "append-only");

    let output = project.cutover(&db.url).args(["history", "--format", "json"]).output().unwrap();
    let history: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(history["approvals"][1]["rule"], "drop-column");
    assert_eq!(history["approvals"][0]["reason"], "users is empty until launch");
    assert!(history["approvals"][0]["approved_by"].as_str().unwrap().contains('@'));
    assert!(history["history"].as_array().unwrap().iter().any(|r| r["version"] == "3" && r["state"] == "applied"));
    let output = project.cutover(&db.url).arg("history").output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(stdout.contains("approved findings:"), "{stdout}");
    // Each with the finding it approved: the table it is about (tester 20).
    assert!(stdout.contains("dropping column `users.bio`") || stdout.contains("users.bio"), "{stdout}");
}

/// Maintenance windows, with the clock injected through CUTOVER_NOW: a migration that blocks or
/// rewrites an existing table waits for a window; a light one does not; `--outside-window`
/// runs it now and the reason is recorded.
#[test]
fn heavy_migrations_wait_for_a_maintenance_window() {
    let db = PgDb::new();
    let project = Project::new();
    std::fs::write(project.path("cutover.toml"), "[policy]\nwindows = [\"Sat 02:00-05:00 UTC\"]\n").unwrap();
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n");
    let wednesday = "2026-11-25T12:00:00Z";
    let saturday = "2026-11-28T03:00:00Z";
    let cutover = |now: &str| {
        let mut cmd = project.cutover(&db.url);
        cmd.args(["--config", "cutover.toml"]).env("CUTOVER_NOW", now);
        cmd
    };
    cutover(wednesday).arg("up").assert().success();
    project
        .migration(
            "2_index.up.sql",
            "-- cutover:ignore index-create-blocking reason=\"small table\"\nCREATE INDEX users_email ON users (email);\n",
        )
        .migration("2_index.down.sql", "DROP INDEX users_email;\n");
    let output = cutover(wednesday).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 index blocks or rewrites existing tables: it waits for a maintenance window (next opens 2026-11-28T02:00:00Z)"), "{stderr}");
    let (stdout, _) = output_text(&cutover(wednesday).arg("status").output().unwrap());
    assert!(stdout.contains("waiting for a maintenance window (next opens 2026-11-28T02:00:00Z): 2 index"), "{stdout}");
    let plan: Value =
        serde_json::from_slice(&cutover(wednesday).args(["plan", "--format", "json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(plan["migrations"][0]["waits_for_window"], "2026-11-28T02:00:00Z");

    cutover(saturday).arg("up").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email'"), "1");

    // A light migration runs any time; a heavy one outside the window only with a reason.
    project
        .migration("3_bio.up.sql", "ALTER TABLE users ADD COLUMN bio text;\n")
        .migration("3_bio.down.sql", "ALTER TABLE users DROP COLUMN bio;\n");
    cutover(wednesday).arg("up").assert().success();
    project
        .migration(
            "4_check.up.sql",
            "-- cutover:ignore constraint-not-valid-missing reason=\"checked in staging\"\nALTER TABLE users ADD CONSTRAINT email_at CHECK (email LIKE '%@%');\n",
        )
        .migration("4_check.down.sql", "ALTER TABLE users DROP CONSTRAINT email_at;\n");
    cutover(wednesday).args(["up", "--outside-window", "incident 4711 needs it now"]).assert().success();
    assert_eq!(
        db.query(
            "SELECT concat_ws(' ', version, how, reason) FROM cutover_history_approvals WHERE how = 'outside-window'"
        ),
        "4 outside-window incident 4711 needs it now"
    );
}

/// What a migration says is what runs: a carriage return inside a literal is data, stored as
/// written, while a Windows checkout's CRLF line ends are not an edit.
#[test]
fn a_carriage_return_in_a_literal_is_stored_as_written() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_lit.up.sql", "CREATE TABLE lit (v text);\r\nINSERT INTO lit VALUES ('a\rb');\r\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT encode(convert_to(v, 'UTF8'), 'hex') FROM lit"), "610d62");
    project.migration("1_lit.up.sql", "CREATE TABLE lit (v text);\nINSERT INTO lit VALUES ('a\rb');\n");
    assert!(project.cutover(&db.url).arg("validate").output().unwrap().status.success(), "LF line ends: no edit");
}
