//! One way to lint a migration set: `cutover lint` on the folder, `cutover plan` and `up`'s
//! approval gate find the same things in the same files (down scripts expected alike).

use serde_json::Value;

use crate::util::{output_text, PgDb, Project};

/// `file:line rule` of every finding of `cutover lint --format json`, sorted.
fn lint_findings(project: &Project, db: &PgDb) -> Vec<String> {
    // As cutover runs them, which is how `plan` judges them.
    let output =
        project.cutover(&db.url).args(["lint", "--format", "json", "--assume-runner", "cutover"]).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", output_text(&output).1));
    let mut found: Vec<String> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}:{} {}", file_name(d["path"].as_str().unwrap()), d["line"], d["rule"].as_str().unwrap()))
        .collect();
    found.sort();
    found
}

/// `file:line rule` of every finding of `cutover plan --format json`, sorted.
fn plan_findings(project: &Project, db: &PgDb) -> Vec<String> {
    let output = project.cutover(&db.url).args(["plan", "--format", "json"]).output().unwrap();
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", output_text(&output).1));
    let mut found = Vec::new();
    for migration in plan["migrations"].as_array().unwrap() {
        let file = file_name(migration["path"].as_str().unwrap());
        for d in migration["diagnostics"].as_array().unwrap() {
            found.push(format!("{file}:{} {}", d["line"], d["rule"].as_str().unwrap()));
        }
    }
    found.sort();
    found
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

/// Migration 1 of the projects below: the table migration 2 indexes predates the folder (one made
/// by a migration of the same run would be new on the database, though not to `lint` without one).
const USERS: &str = "CREATE TABLE teams (id bigint PRIMARY KEY);\n";
const INDEX: &str = "CREATE INDEX users_email ON users (email);\n";

#[test]
fn plan_expects_down_scripts_where_lint_does() {
    let sqlx = Project::new();
    sqlx.migration("1_users.sql", USERS).migration("2_index.sql", INDEX);
    let flyway = Project::new();
    flyway.migration("V1__users.sql", USERS).migration("V2__index.sql", INDEX);
    // sqlx with one reversible pair: the project writes down scripts, so the other lacks one.
    let sqlx_mixed = Project::new();
    sqlx_mixed
        .migration("1_users.up.sql", USERS)
        .migration("1_users.down.sql", "DROP TABLE users;\n")
        .migration("2_index.sql", INDEX);
    let native = Project::new();
    native.migration("1_users.up.sql", USERS).migration("2_index.up.sql", INDEX);
    for (layout, project, missing_down) in [
        ("sqlx", &sqlx, vec![]),
        ("flyway", &flyway, vec![]),
        ("sqlx with a down script", &sqlx_mixed, vec!["2_index.sql:1 missing-down-migration"]),
        ("native", &native, vec!["1_users.up.sql:1 missing-down-migration", "2_index.up.sql:1 missing-down-migration"]),
    ] {
        let db = PgDb::new();
        db.query("CREATE TABLE users (id bigint PRIMARY KEY, email text)");
        let linted = lint_findings(project, &db);
        let planned = plan_findings(project, &db);
        let missing: Vec<&str> =
            planned.iter().map(String::as_str).filter(|f| f.ends_with("missing-down-migration")).collect();
        assert_eq!(missing, missing_down, "{layout}: plan's down scripts");
        assert_eq!(planned, linted, "{layout}: plan and lint find the same in the same files");
    }
}

#[test]
fn lint_on_the_folder_and_the_gate_of_up_find_the_same_errors() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration(
            "1_users.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, email text);\nCREATE TABLE scratch (id int);\n",
        )
        .migration("1_users.down.sql", "DROP TABLE scratch;\nDROP TABLE users;\n");
    project.cutover(&db.url).arg("up").assert().success();
    project
        .migration(
            "2_change.up.sql",
            "-- cutover:ignore drop-table reason=\"scratch was never used\"\nDROP TABLE scratch;\nCREATE INDEX users_email ON users (email);\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
        )
        .migration("2_change.down.sql", "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\nDROP INDEX users_email;\nCREATE TABLE scratch (id int);\n");
    let output = project.cutover(&db.url).args(["lint", "--format", "json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut linted: Vec<String> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| format!("{}:{} {}", d["path"].as_str().unwrap(), d["line"], d["rule"].as_str().unwrap()))
        .collect();
    linted.sort();

    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // `path:line: error[rule]: message (help: ...)`, one a finding.
    let mut gated: Vec<String> = stderr
        .lines()
        .filter_map(|line| {
            let (place, rest) = line.split_once(": error[")?;
            let place = place.split_whitespace().last()?;
            Some(format!("{place} {}", rest.split_once(']')?.0))
        })
        .collect();
    gated.sort();
    assert!(linted.len() >= 2, "the fixture has unaccepted errors: {linted:?}");
    assert!(!linted.iter().any(|f| f.ends_with("drop-table")), "the ignore with a reason holds: {linted:?}");
    assert_eq!(gated, linted, "{stderr}");
}
