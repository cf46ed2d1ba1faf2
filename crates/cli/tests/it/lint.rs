//! `cutover lint`: the output formats, exit codes, the schema replay across files, `[lint]`
//! configuration, and snapshots of the human output.

use serde_json::{json, Value};

use crate::util::{output_text, Project};

/// Linting connects to nothing; the URL only says the migrations are PostgreSQL's.
const NO_DATABASE: &str = "postgres://lint@127.0.0.1:1/none";

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
    let output = project.cutover(NO_DATABASE).args(["lint", "--format", "json"]).output().unwrap();
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
                "help": "build it with CREATE INDEX CONCURRENTLY, in a migration file of its own (alone, it runs outside a transaction)",
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
    let output = project.cutover(NO_DATABASE).arg("lint").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).0);
    assert!(output_text(&output).0.contains("0 errors, 0 warnings, 0 infos in 1 file"));

    project.migration("2_bad.up.sql", "SELECT 1;\nALTER TABLE users ADD COLUMN;\nDROP TABLE users;\n");
    let output =
        project.cutover(NO_DATABASE).arg("lint").arg(project.path("migrations/2_bad.up.sql")).output().unwrap();
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
    let output = project.cutover(NO_DATABASE).args(["explain", "set-not-null-scan"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert!(output.status.success());
    assert!(stdout.starts_with("# set-not-null-scan (error)\n\n## What it does\n"), "{stdout}");
    assert!(stdout.contains("## Instead\n`ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`"), "{stdout}");
    let output = project.cutover(NO_DATABASE).args(["explain", "no-such-rule"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = output_text(&output).1;
    assert!(stderr.contains("no rule or operation `no-such-rule`; the rules are: index-create-blocking"), "{stderr}");
    assert!(stderr.contains("; the operations: add_column, drop_column"), "{stderr}");
}

#[test]
fn explain_prints_an_operations_page_and_lists_rules_then_operations() {
    let project = Project::new();
    let explain = |name: &str| {
        let output = project.cutover(NO_DATABASE).args(["explain", name]).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        (output.status.code(), stdout, stderr)
    };
    let (code, page, _) = explain("add_column");
    assert_eq!(code, Some(0));
    assert!(page.starts_with("# add_column (operation; postgres, sqlite)\n\n## What it does\n"), "{page}");
    assert!(page.contains("| `nullable` | boolean | default `true` |"), "{page}");
    assert!(
        page.contains("## Phases\n- **start**:") && page.contains("```toml\n[[operations]]\nop = \"add_column\""),
        "{page}"
    );
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations/add_column.md"));
    assert_eq!(page, on_disk.unwrap(), "the page printed is the page in docs/operations/");

    // The same name in the two spellings: the operation and the rule.
    assert!(explain("drop_column").1.starts_with("# drop_column (operation;"));
    assert!(explain("drop-column").1.starts_with("# drop-column (error)"));

    let output = project.cutover(NO_DATABASE).arg("explain").output().unwrap();
    let listing = output_text(&output).0;
    let names: Vec<&str> = listing.lines().filter_map(|line| line.split_whitespace().next()).collect();
    let rules: Vec<&str> = cutover_analysis::rules::RULES.iter().map(|rule| rule.id).collect();
    let operations: Vec<&str> = cutover_expand::ops::OPERATION_DOCS.iter().map(|op| op.name).collect();
    assert_eq!(names, [rules, operations].concat(), "rules, then operations");
    assert!(listing.contains("\nadd_column                           operation\n"), "{listing}");

    for (given, meant) in
        [("add-column", "add_column"), ("rename_colum", "rename_column"), ("set_not_null_scan", "set-not-null-scan")]
    {
        let (code, _, stderr) = explain(given);
        assert_eq!(code, Some(2), "{given}");
        assert!(
            stderr.contains(&format!("no rule or operation `{given}`; did you mean `{meant}`? (`cutover explain` with no argument lists them all)")),
            "{given}: {stderr}"
        );
    }
}

#[test]
fn github_annotations() {
    let project = Project::new();
    project.migration("1_a.up.sql", "DROP TABLE users;\n");
    project.migration("1_a.down.sql", "CREATE TABLE users (id bigint);\n");
    let output = project.cutover(NO_DATABASE).args(["lint", "--format", "github"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        output_text(&output).0,
        "::error file=migrations/1_a.up.sql,line=1,endLine=1,title=drop-table::dropping `users` destroys its data, and code that still uses it fails (help: first deploy code that no longer uses the table, then drop it in a later migration (keep a copy if you may need it back))\n"
    );
}

/// Lints the project's migrations directory with `args`, and returns stdout and the exit code.
fn lint(project: &Project, args: &[&str]) -> (String, Option<i32>) {
    let output = project.cutover(NO_DATABASE).arg("lint").args(args).output().unwrap();
    (output_text(&output).0, output.status.code())
}

fn rules_found(stdout: &str) -> Vec<String> {
    let report: Value = serde_json::from_str(stdout).unwrap();
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] != "info")
        .map(|d| {
            format!(
                "{}:{} {}",
                d["path"].as_str().unwrap().rsplit('/').next().unwrap(),
                d["line"],
                d["rule"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_directory_is_replayed_in_order() {
    let project = Project::new();
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, bio varchar(200), email text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n")
        .migration("2_bio.up.sql", "ALTER TABLE users ALTER COLUMN bio TYPE text;\n")
        .migration("2_bio.down.sql", "ALTER TABLE users ALTER COLUMN bio TYPE varchar(200);\n")
        .migration("3_email.up.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(50);\n")
        .migration("3_email.down.sql", "ALTER TABLE users ALTER COLUMN email TYPE text;\n");
    let (stdout, code) = lint(
        &project,
        &[
            "--format",
            "json",
            "--",
            "migrations/1_users.up.sql",
            "migrations/2_bio.up.sql",
            "migrations/3_email.up.sql",
        ],
    );
    assert_eq!(rules_found(&stdout), ["3_email.up.sql:1 column-type-rewrite"], "files given in order replay too");
    assert_eq!(code, Some(1));
    let (stdout, _) = lint(&project, &["--format", "json"]);
    // The down scripts are not linted: the rule is about the up migration 3.
    assert_eq!(rules_found(&stdout), ["3_email.up.sql:1 column-type-rewrite"]);
}

#[test]
fn the_classic_unsafe_migration_is_caught() {
    let project = Project::new();
    project.migration(
        "1_score.up.sql",
        "ALTER TABLE users ADD COLUMN score int;\nUPDATE users SET score = 0;\nALTER TABLE users ALTER COLUMN score SET NOT NULL;\n",
    );
    let (stdout, code) = lint(&project, &["--format", "json"]);
    assert_eq!(code, Some(1));
    let found = rules_found(&stdout);
    for expected in [
        "1_score.up.sql:2 backfill-in-migration",
        "1_score.up.sql:3 set-not-null-scan",
        "1_score.up.sql:2 lock-held-across-statements",
        "1_score.up.sql:1 missing-down-migration",
    ] {
        assert!(found.iter().any(|f| f == expected), "{expected} in {found:?}");
    }
    // Combining the two ALTERs across the UPDATE would SET NOT NULL before the rows are filled.
    assert!(!found.iter().any(|f| f.ends_with("multiple-alter-same-table")), "{found:?}");
}

#[test]
fn lint_config_disables_and_relevels_rules() {
    let project = Project::new();
    project.migration("1_a.up.sql", "DROP TABLE users;\nALTER TABLE t ADD COLUMN c varchar(20);\n");
    std::fs::write(
        project.path("cutover.toml"),
        "[lint]\ndisable = [\"missing-down-migration\", \"prefer-text-over-varchar\"]\n[lint.levels]\ndrop-table = \"warning\"\n",
    )
    .unwrap();
    let (stdout, code) = lint(&project, &["--config", "cutover.toml", "--format", "json"]);
    assert_eq!(code, Some(0), "the only error was re-levelled to a warning: {stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["summary"], json!({"errors": 0, "warnings": 1, "infos": 0, "files": 1}));
    assert_eq!(report["diagnostics"][0]["severity"], "warning");

    std::fs::write(project.path("cutover.toml"), "[lint]\ndisable = [\"no-such-rule\"]\n").unwrap();
    let output = project.cutover(NO_DATABASE).args(["--config", "cutover.toml", "lint"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("no rule `no-such-rule`"), "{}", output_text(&output).1);
}

#[test]
fn an_external_runner_needs_its_own_timeouts() {
    let project = Project::new();
    project.migration("1_a.up.sql", "ALTER TABLE users ADD COLUMN bio text;\n");
    project.migration("1_a.down.sql", "ALTER TABLE users DROP COLUMN bio;\n");
    let (stdout, code) = lint(&project, &["--format", "json"]);
    assert_eq!((rules_found(&stdout).len(), code), (0, Some(0)), "{stdout}");
    let (stdout, code) = lint(&project, &["--format", "json", "--assume-runner", "external"]);
    assert_eq!(rules_found(&stdout), ["1_a.up.sql:1 lock-timeout-missing"]);
    assert_eq!(code, Some(1));
}

#[test]
fn pg_version_changes_what_is_flagged() {
    let project = Project::new();
    project.migration("1_a.up.sql", "ALTER TABLE users ADD COLUMN n int NOT NULL DEFAULT 0;\n");
    project.migration("1_a.down.sql", "ALTER TABLE users DROP COLUMN n;\n");
    let (stdout, _) = lint(&project, &["--format", "json"]);
    assert!(rules_found(&stdout).is_empty(), "a fast default from PostgreSQL 11: {stdout}");
    let (stdout, _) = lint(&project, &["--format", "json", "--pg-version", "10"]);
    assert_eq!(rules_found(&stdout), ["1_a.up.sql:1 add-column-table-rewrite"]);
    let output = project.cutover(NO_DATABASE).args(["lint", "--pg-version", "99"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn sarif_for_code_scanning() {
    let project = Project::new();
    project.migration("1_a.up.sql", "-- drop it\nDROP TABLE users;\n");
    project.migration("1_a.down.sql", "CREATE TABLE users (id bigint);\n");
    let (stdout, code) = lint(&project, &["--format", "sarif"]);
    assert_eq!(code, Some(1));
    let log: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "cutover");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.len() >= 49, "every rule is described: {}", rules.len());
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "drop-table");
    assert_eq!(result["level"], "error");
    assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], "drop-table");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["endColumn"].as_u64()),
        (Some(2), Some(17)),
        "just past `DROP TABLE users`"
    );
    assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "migrations/1_a.up.sql");
}

#[test]
fn every_operation_explains_itself() {
    let project = Project::new();
    for operation in cutover_expand::ops::OPERATION_DOCS {
        let output = project.cutover(NO_DATABASE).args(["explain", operation.name]).output().unwrap();
        assert!(output.status.success(), "{}", operation.name);
        assert_eq!(output_text(&output).0, operation.page());
    }
}

#[test]
fn every_rule_explains_itself() {
    let project = Project::new();
    for rule in cutover_analysis::rules::RULES {
        let output = project.cutover(NO_DATABASE).args(["explain", rule.id]).output().unwrap();
        let (stdout, _) = output_text(&output);
        assert!(output.status.success(), "{}", rule.id);
        assert!(stdout.contains("## Example\n```sql\n"), "{}: {stdout}", rule.id);
    }
}

/// The human output, as people see it (no colour: `NO_COLOR` is set for tests).
fn human(sql: &str) -> String {
    let project = Project::new();
    project.migration("1_change.up.sql", sql);
    project.migration("1_change.down.sql", "SELECT 1;\n");
    lint(&project, &[]).0
}

#[test]
fn snapshot_index_and_not_null() {
    insta::assert_snapshot!(human(
        "-- Adds a lookup index and makes email required.\nCREATE INDEX users_email ON users (email);\nALTER TABLE users\n    ALTER COLUMN email SET NOT NULL;\n"
    ));
}

#[test]
fn snapshot_syntax_error_and_ignore() {
    insta::assert_snapshot!(human(
        "-- cutover:ignore drop-table reason=\"archived in 2024, no reader left\"\nDROP TABLE audit_2019;\n-- cutover:ignore truncate-table\nTRUNCATE sessions;\nALTER TABLE users ADD COLUMN;\n"
    ));
}

#[test]
fn snapshot_foreign_key_without_index() {
    insta::assert_snapshot!(human(
        "CREATE TABLE orders (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    user_id bigint NOT NULL REFERENCES users (id)\n);\nALTER TABLE payments ADD CONSTRAINT payments_order_fk FOREIGN KEY (order_id) REFERENCES orders (id);\n"
    ));
}

/// A file that cannot be split into statements (an unterminated quote) is a `syntax-error` at
/// its line, and the other files of the folder are still linted.
#[test]
fn a_broken_file_does_not_stop_the_folder() {
    let project = Project::new();
    project
        .migration("1_index.up.sql", "CREATE INDEX users_email ON users (email);\n")
        .migration("1_index.down.sql", "DROP INDEX users_email;\n")
        .migration(
            "2_broken.up.sql",
            "UPDATE users SET name = 'x' WHERE id = 1;\nUPDATE users SET name = 'unterminated;\n",
        )
        .migration("2_broken.down.sql", "SELECT 1;\n");
    let (stdout, code) = lint(&project, &["--format", "json"]);
    assert_eq!(code, Some(1));
    let found = rules_found(&stdout);
    assert!(found.contains(&"1_index.up.sql:1 index-create-blocking".to_string()), "{found:?}");
    assert!(found.contains(&"2_broken.up.sql:2 syntax-error".to_string()), "{found:?}");
}

/// Completions and the manual page come from the command line's definition, whatever the
/// settings: a broken cutover.toml does not stop them, and a closed pipe is no error.
#[test]
fn completions_and_the_manual_page_are_generated() {
    let project = Project::new();
    std::fs::write(project.path("cutover.toml"), "this is not toml").unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = project.cutover("").args(["completions", shell]).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert!(output.status.success(), "{shell}: {stderr}");
        for command in ["rehearse", "backfill", "explain", "drift"] {
            assert!(stdout.contains(command), "{shell} completions lack `{command}`");
        }
    }
    let output = project.cutover("").arg("man").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with(".ie \\n(.g .ds Aq") && stdout.contains(".TH cutover 1"), "{stdout}");
    assert!(stdout.contains("rehearse") && stdout.contains("\\-\\-database\\-url"), "{stdout}");

    let output = project.cutover("").args(["completions", "nushell"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("possible values: bash, elvish, fish, powershell, zsh"));
}

/// ory-kratos (popx): one change split into parts numbered after its timestamp ships as a
/// whole, so a table an earlier part creates is new for the later parts (review 6's #7: an
/// index on a table two parts old was reported as blocking writes); a later change's is not.
#[test]
fn a_pop_changes_later_parts_find_the_tables_its_earlier_parts_made_new() {
    let project = Project::new();
    project
        .migration("20200101000000000000_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, email text);\n")
        .migration("20200101000000000000_users.down.sql", "DROP TABLE users;\n")
        .migration(
            "20200830154602000000_tokens.postgres.up.sql",
            "CREATE TABLE tokens (id int PRIMARY KEY, token text);\n",
        )
        .migration("20200830154602000000_tokens.postgres.down.sql", "DROP TABLE tokens;\n")
        .migration(
            "20200830154602000001_tokens.postgres.up.sql",
            "CREATE INDEX tokens_token ON tokens (token);\nCREATE INDEX users_email ON users (email);\n",
        )
        .migration(
            "20200830154602000001_tokens.postgres.down.sql",
            "DROP INDEX tokens_token;\nDROP INDEX users_email;\n",
        )
        .migration("20200901000000000000_more.up.sql", "CREATE INDEX tokens_id_token ON tokens (id, token);\n")
        .migration("20200901000000000000_more.down.sql", "DROP INDEX tokens_id_token;\n");
    let (stdout, _) = lint(&project, &["--format", "json", "--assume-runner", "pop"]);
    let found: Vec<String> =
        rules_found(&stdout).into_iter().filter(|f| f.ends_with(" index-create-blocking")).collect();
    assert_eq!(
        found,
        [
            "20200830154602000001_tokens.postgres.up.sql:2 index-create-blocking",
            "20200901000000000000_more.up.sql:1 index-create-blocking"
        ],
        "{stdout}"
    );
}
