//! `cutover lint`: the JSON contract and exit codes.

use serde_json::{json, Value};

use crate::util::{output_text, Project};

#[test]
fn lint_json_names_rule_place_lock_and_help() {
    let project = Project::new();
    project.migration(
        "1_users.up.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\nCREATE INDEX users_email ON users (email);\n",
    );
    project.migration("1_users.down.sql", "DROP TABLE users;\n");
    project.migration("2_index.up.sql", "-- a comment\nCREATE INDEX users_email2\n    ON users (email);\n");
    project.migration("2_index.down.sql", "DROP INDEX users_email2;\n");
    let output = project.cutover("sqlite::memory:").args(["lint", "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "an error-level finding exits 1");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let path = "migrations/2_index.up.sql";
    assert_eq!(
        report,
        json!({
            "diagnostics": [{
                "rule": "index-create-blocking",
                "severity": "error",
                "path": path,
                "line": 2,
                "column": 1,
                "end_line": 3,
                "end_column": 21,
                "message": "CREATE INDEX without CONCURRENTLY locks `users` in SHARE mode, which blocks writes for the whole build",
                "help": "build it with CREATE INDEX CONCURRENTLY in a migration marked `-- cutover:no-transaction`",
                "table": "users",
                "lock": "SHARE"
            }],
            "summary": {"errors": 1, "warnings": 0, "infos": 0, "files": 2}
        }),
        "the index on the table created in the same migration is not flagged"
    );
}

#[test]
fn lint_exits_zero_when_clean_and_reports_syntax_errors_with_lines() {
    let project = Project::new();
    project.migration(
        "1_ok.up.sql",
        "-- cutover:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);\n",
    );
    project.migration("1_ok.down.sql", "-- cutover:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS i;\n");
    let output = project.cutover("sqlite::memory:").arg("lint").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).0);
    assert!(output_text(&output).0.contains("0 errors, 0 warnings, 0 infos in 1 files"));

    project.migration("2_bad.up.sql", "SELECT 1;\nALTER TABLE users ADD COLUMN;\nDROP TABLE users;\n");
    let output =
        project.cutover("sqlite::memory:").arg("lint").arg(project.path("migrations/2_bad.up.sql")).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout.contains("error[syntax-error]: syntax error at end of input") && stdout.contains("2_bad.up.sql:2:1"),
        "{stdout}"
    );
    assert!(stdout.contains("error[drop-table]") && stdout.contains("2_bad.up.sql:3:1"), "{stdout}");
}

#[test]
fn explain_prints_the_rule_documentation() {
    let project = Project::new();
    let output = project.cutover("sqlite::memory:").args(["explain", "set-not-null-scan"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(output.status.success());
    assert!(stdout.starts_with("# set-not-null-scan (error)\n\n## What it does\n"), "{stdout}");
    assert!(stdout.contains("## Instead\n`ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`"), "{stdout}");
    let output = project.cutover("sqlite::memory:").args(["explain", "no-such-rule"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("no rule `no-such-rule`; the rules are: index-create-blocking"));
}

#[test]
fn github_annotations() {
    let project = Project::new();
    project.migration("1_a.up.sql", "DROP TABLE users;\n");
    project.migration("1_a.down.sql", "CREATE TABLE users (id bigint);\n");
    let output = project.cutover("sqlite::memory:").args(["lint", "--format", "github"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        output_text(&output).0,
        "::error file=migrations/1_a.up.sql,line=1,endLine=1,title=drop-table::dropping `users` destroys its data, and code that still uses it fails (help: first deploy code that no longer uses the table, then drop it in a later migration (rename it aside first if you may need it back))\n"
    );
}
