//! One ALTER TABLE as PostgreSQL runs it (drops first, validations last), and every rule's
//! advice run on a real PostgreSQL.

use std::sync::{Arc, Mutex};

use cutover_analysis::{LintConfig, Linter, Script};
use serde_json::Value;

use crate::util::{output_text, PgDb, Project};

/// Whether the last statement of `sql` scans by the analysis (the schema replayed from `setup`
/// and the statements before it).
fn predicted_scan(setup: &[&str], sql: &str) -> bool {
    let mut linter = Linter::new(LintConfig::default());
    let mut scans = false;
    for text in setup.iter().chain([&sql]) {
        let statements = cutover_migration::split_statements(text).unwrap();
        let script =
            Script { text, statements: &statements, in_transaction: true, no_transaction_by: None, has_down: None };
        let linted = linter.lint(&script);
        scans = linted.effects.last().and_then(|e| e.as_ref()).is_some_and(|e| e.scans);
    }
    scans
}

/// What PostgreSQL says at DEBUG1 while it runs `sql`: "verifying table" when it reads the table
/// to check it, "sufficient to prove" when a CHECK spares a SET NOT NULL the scan.
fn debug_messages(db: &PgDb, sql: &str) -> Vec<String> {
    let messages = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&messages);
    let mut config: postgres::Config = db.url.parse().unwrap();
    config.notice_callback(move |notice| seen.lock().unwrap().push(notice.message().to_string()));
    let mut client = config.connect(postgres::NoTls).unwrap();
    client.batch_execute("SET client_min_messages = debug1").unwrap();
    client.batch_execute(sql).unwrap();
    drop(client);
    let found = messages.lock().unwrap().clone();
    found.into_iter().filter(|m| m.contains("verifying table") || m.contains("sufficient to prove")).collect()
}

const TABLE: &str = "CREATE TABLE users (id bigint PRIMARY KEY, email text);";
const CHECKED: &str = "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;";
const VALIDATED: &str = "ALTER TABLE users VALIDATE CONSTRAINT email_nn;";

/// The analysis says a statement scans exactly when PostgreSQL 15 verifies the table: a SET NOT
/// NULL is spared by the validated CHECK only when the CHECK is still there when it runs, and
/// in one ALTER TABLE the DROP CONSTRAINT runs first whichever way it is written.
#[test]
fn the_analysis_agrees_with_postgres_on_which_set_not_null_scans() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&[TABLE, CHECKED, VALIDATED], "ALTER TABLE users ALTER COLUMN email SET NOT NULL;", false),
        (
            &[TABLE, CHECKED, VALIDATED],
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL, DROP CONSTRAINT email_nn;",
            true,
        ),
        (
            &[TABLE, CHECKED, VALIDATED],
            "ALTER TABLE users DROP CONSTRAINT email_nn, ALTER COLUMN email SET NOT NULL;",
            true,
        ),
        (&[TABLE, CHECKED], "ALTER TABLE users VALIDATE CONSTRAINT email_nn, ALTER COLUMN email SET NOT NULL;", true),
        (&[TABLE, CHECKED], "ALTER TABLE users ALTER COLUMN email SET NOT NULL;", true),
        (
            &[TABLE, CHECKED, VALIDATED, "ALTER TABLE users DROP CONSTRAINT email_nn;"],
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
            true,
        ),
    ];
    for (setup, sql, scans) in cases {
        let db = PgDb::new();
        let mut client = db.client();
        client.batch_execute(setup[0]).unwrap();
        client.batch_execute("INSERT INTO users SELECT g, 'e' || g FROM generate_series(1, 1000) g").unwrap();
        for statement in &setup[1..] {
            client.batch_execute(statement).unwrap();
        }
        let messages = debug_messages(&db, sql);
        let verified = messages.iter().any(|m| m.contains("verifying table \"users\""));
        assert_eq!(verified, *scans, "{sql}: PostgreSQL said {messages:?}");
        if !scans {
            assert!(messages.iter().any(|m| m.contains("sufficient to prove")), "{sql}: {messages:?}");
        }
        assert_eq!(predicted_scan(setup, sql), *scans, "{sql}: the analysis disagrees with PostgreSQL");
    }
}

/// `up` refuses the SET NOT NULL combined with the DROP of the CHECK that would spare its scan,
/// applying nothing; as two statements (the advice) it applies with no override.
#[test]
fn up_refuses_set_not_null_beside_the_drop_of_its_check() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("1_users.up.sql", &format!("{TABLE}\n"))
        .migration("2_check.up.sql", &format!("{CHECKED}\n"))
        .migration("3_validate.up.sql", &format!("{VALIDATED}\n"));
    project.cutover(&db.url).arg("up").assert().success();
    db.query("INSERT INTO users SELECT g, 'e' || g FROM generate_series(1, 1000) g");
    project.migration(
        "4_not_null.up.sql",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL, DROP CONSTRAINT email_nn;\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("4_not_null.up.sql:1: error[set-not-null-scan]"), "{stderr}");
    assert!(stderr.contains("DROP CONSTRAINT email_nn in the same ALTER TABLE runs first"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "3", "nothing applied");
    assert_eq!(
        db.query("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email'"),
        "f"
    );

    project.migration(
        "4_not_null.up.sql",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT email_nn;\n",
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(
        db.query("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email'"),
        "t"
    );
    assert_eq!(db.query("SELECT count(*) FROM pg_constraint WHERE conname = 'email_nn'"), "0");
}

/// Every PostgreSQL rule's advice (the SQL of its documentation's "Instead" section) runs on
/// PostgreSQL after the setup, each migration as written, with the locks the analysis predicts.
#[test]
fn every_rules_advice_runs_on_postgres_as_predicted() {
    let advice: Vec<(&str, usize, Vec<String>)> = cutover_analysis::rules::RULES
        .iter()
        .filter(|rule| rule.dialects.first() == Some(&cutover_analysis::Dialect::Postgres))
        .flat_map(|rule| rule.advice().into_iter().enumerate().map(|(idx, block)| (rule.id, idx, block)))
        .collect();
    assert!(advice.len() > 40, "only {} pieces of advice", advice.len());
    // A rehearsal mostly waits on the server (scratch databases): a few at once.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let idx = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((rule, block, migrations)) = advice.get(idx) else { break };
                if let Err(failure) = rehearse_advice(migrations) {
                    failures.lock().unwrap().push(format!("{rule} advice {block}: {failure}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Rehearses the setup and then `migrations`: why it failed or disagreed, if it did.
fn rehearse_advice(migrations: &[String]) -> Result<(), String> {
    let db = PgDb::new();
    let project = Project::new();
    // Rehearsed too (rather than applied first): one command less a piece of advice.
    project.migration("001_setup.up.sql", cutover_analysis::rules::ADVICE_SETUP);
    for (idx, sql) in migrations.iter().enumerate() {
        project.migration(&format!("{:03}_advice.up.sql", idx + 2), sql);
    }
    let output = project.cutover(&db.url).args(["rehearse", "--format", "json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).map_err(|_| output_text(&output).1)?;
    let rehearsed = report["migrations"].as_array().ok_or_else(|| format!("{report:#}"))?;
    if rehearsed.len() != migrations.len() + 1 {
        return Err(format!("{} of {} migrations rehearsed: {report:#}", rehearsed.len(), migrations.len()));
    }
    for m in rehearsed {
        if !m["failure"].is_null() {
            return Err(format!("{}: {}", m["migration"], m["failure"]));
        }
        for s in m["statements"].as_array().into_iter().flatten() {
            if s["disagreements"] != serde_json::json!([]) {
                return Err(format!("{}: {}", s["sql"], s["disagreements"]));
            }
        }
    }
    Ok(())
}
