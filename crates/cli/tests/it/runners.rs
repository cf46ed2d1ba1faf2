//! `cutover lint --assume-runner`: a file is judged by how the tool that runs it runs it. A lone
//! `CREATE INDEX CONCURRENTLY` is fine under cutover (it runs the file outside a transaction) and
//! under a tool that sends the file as one query (Prisma, golang-migrate), and refused by a tool
//! that wraps each file in a transaction unless the file carries that tool's own switch, which
//! the help names. A folder in a tool's layout names the tool; `up` runs with cutover's runner
//! whatever `[lint] assume_runner` says.

use serde_json::Value;

use crate::util::{output_text, PgDb, Project};

/// Linting connects to nothing; the URL only says the migrations are PostgreSQL's.
const NO_DATABASE: &str = "postgres://lint@127.0.0.1:1/none";

const LONE: &str = "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n";

/// The error-level findings of `cutover lint --format json <args>`, as `file:line rule`, each
/// with its help.
fn errors(project: &Project, args: &[&str]) -> Vec<(String, String)> {
    let output = project.cutover(NO_DATABASE).args(["lint", "--format", "json"]).args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{args:?}: {stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"));
    let found: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            let file = d["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (format!("{file}:{} {}", d["line"], d["rule"].as_str().unwrap()), d["help"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(output.status.code(), Some(if found.is_empty() { 0 } else { 1 }), "{args:?}: {stdout}");
    found
}

fn rules(found: &[(String, String)]) -> Vec<&str> {
    found.iter().map(|(rule, _)| rule.as_str()).collect()
}

#[test]
fn a_lone_concurrent_index_under_each_runner() {
    let project = Project::new();
    std::fs::write(project.path("index.sql"), LONE).unwrap();
    for runner in ["cutover", "script", "external", "prisma", "golang-migrate", "flyway"] {
        assert_eq!(rules(&errors(&project, &["--assume-runner", runner, "index.sql"])), [] as [&str; 0], "{runner}");
    }
    for (runner, switch) in [
        ("transaction", "that your tool runs outside a transaction"),
        ("pop", "named `<version>_<name>.postgres.autocommit.up.sql`"),
        ("sqlx", "whose first line is `-- no-transaction`"),
        ("dbmate", "`-- migrate:up transaction:false`"),
        ("goose", "`-- +goose NO TRANSACTION`"),
        ("diesel", "`run_in_transaction = false` in its metadata.toml"),
        ("knex", "`config = { transaction: false }`"),
        ("alembic", "`with op.get_context().autocommit_block():`"),
    ] {
        let found = errors(&project, &["--assume-runner", runner, "index.sql"]);
        assert_eq!(rules(&found), ["index.sql:1 concurrently-in-transaction"], "{runner}");
        assert!(found[0].1.contains(switch), "{runner}: {}", found[0].1);
        assert!(!found[0].1.contains("cutover:no-transaction"), "{runner}: a directive the tool does not read");
    }
}

/// The tool's own switch takes the file out of its transaction: sqlx's first line, popx's file
/// name; cutover's directive does not.
#[test]
fn the_tools_own_switch() {
    let project = Project::new();
    std::fs::write(project.path("sqlx.sql"), format!("-- no-transaction\n{LONE}")).unwrap();
    std::fs::write(project.path("cutover.sql"), format!("-- cutover:no-transaction\n{LONE}")).unwrap();
    std::fs::write(project.path("20250101000000_email.postgres.autocommit.up.sql"), LONE).unwrap();
    assert!(errors(&project, &["--assume-runner", "sqlx", "sqlx.sql"]).is_empty());
    assert_eq!(
        rules(&errors(&project, &["--assume-runner", "sqlx", "cutover.sql"])),
        ["cutover.sql:2 concurrently-in-transaction"]
    );
    assert!(errors(&project, &["--assume-runner", "pop", "20250101000000_email.postgres.autocommit.up.sql"]).is_empty());
    // sqlx sends a no-transaction file as one query: beside another statement, the build is
    // in the implicit transaction block.
    std::fs::write(
        project.path("two.sql"),
        format!("-- no-transaction\nALTER TABLE users ADD COLUMN bio text;\n{LONE}"),
    )
    .unwrap();
    let found = errors(&project, &["--assume-runner", "sqlx", "two.sql"]);
    assert!(rules(&found).contains(&"two.sql:3 concurrently-in-transaction"), "{found:?}");
}

/// A folder in a tool's layout names the tool of `transaction` or `script`: diesel's
/// `run_in_transaction = false`, goose's `NO TRANSACTION` are read as the tool reads them.
#[test]
fn a_folder_in_a_tools_layout_names_the_tool() {
    let project = Project::new();
    project
        .migration("2024-01-01-000000_users/up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n")
        .migration("2024-01-01-000000_users/down.sql", "DROP TABLE users;\n")
        .migration("2024-02-01-000000_email/up.sql", LONE)
        .migration("2024-02-01-000000_email/down.sql", "DROP INDEX CONCURRENTLY IF EXISTS users_email;\n")
        .migration("2024-02-01-000000_email/metadata.toml", "run_in_transaction = false\n")
        .migration("2024-03-01-000000_name/up.sql", "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_id ON users (id);\n")
        .migration("2024-03-01-000000_name/down.sql", "DROP INDEX CONCURRENTLY IF EXISTS users_id;\n");
    assert!(errors(&project, &["--assume-runner", "cutover"]).is_empty(), "cutover runs both outside a transaction");
    let found = errors(&project, &["--assume-runner", "transaction"]);
    assert_eq!(rules(&found), ["up.sql:1 concurrently-in-transaction"], "only the one without the switch");
    assert!(found[0].1.contains("diesel") && found[0].1.contains("run_in_transaction = false"), "{}", found[0].1);
    assert_eq!(rules(&errors(&project, &["--assume-runner", "diesel"])), rules(&found));
    // By default a folder is judged as its own tool runs it.
    assert_eq!(rules(&errors(&project, &[])), rules(&found), "the folder's tool: diesel");

    let goose = Project::new();
    goose
        .migration("00001_users.sql", "-- +goose Up\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n")
        .migration("00002_email.sql", &format!("-- +goose NO TRANSACTION\n-- +goose Up\n{LONE}"))
        .migration("00003_id.sql", "-- +goose Up\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_id ON users (id);\n");
    let found = errors(&goose, &["--assume-runner", "transaction"]);
    assert_eq!(rules(&found), ["00003_id.sql:2 concurrently-in-transaction"]);
    assert!(found[0].1.contains("`-- +goose NO TRANSACTION`"), "{}", found[0].1);
}

/// `[lint] assume_runner` is for `cutover lint`: `up` runs the folder with cutover's runner,
/// which runs a lone concurrent build outside a transaction, and its gate judges it so.
#[test]
fn up_runs_with_cutovers_runner_whatever_lint_assumes() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n")
        .migration("2_email.up.sql", LONE)
        .migration("2_email.down.sql", "DROP INDEX CONCURRENTLY IF EXISTS users_email;\n");
    std::fs::write(project.path("cutover.toml"), "[lint]\nassume_runner = \"sqlx\"\n").unwrap();
    let found = errors(&project, &[]);
    assert_eq!(rules(&found), ["2_email.up.sql:1 concurrently-in-transaction"], "sqlx wraps the file in a transaction");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"), "t");
}

/// A Liquibase folder is judged as Liquibase runs it by default: a lone `CREATE INDEX
/// CONCURRENTLY` in a changeset without `runInTransaction:false` fails there (cutover alone would
/// run it outside a transaction), and the help names Liquibase's switch.
#[test]
fn a_liquibase_folder_is_judged_as_liquibase_runs_it() {
    let project = Project::new();
    project.migration(
        "changelog.sql",
        "--liquibase formatted sql\n--changeset a:1\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n\
         --changeset a:2\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n\
         --changeset a:3 runInTransaction:false\nCREATE INDEX CONCURRENTLY users_id ON users (id);\n",
    );
    let found = errors(&project, &[]);
    let cic: Vec<&(String, String)> =
        found.iter().filter(|(rule, _)| rule.ends_with("concurrently-in-transaction")).collect();
    assert_eq!(cic.len(), 1, "{found:?}");
    assert!(cic[0].0.starts_with("changelog.sql:5"), "{found:?}");
    assert!(cic[0].1.contains("runInTransaction:false"), "{}", cic[0].1);
    let as_cutover = errors(&project, &["--assume-runner", "cutover"]);
    assert!(!as_cutover.iter().any(|(rule, _)| rule.ends_with("concurrently-in-transaction")), "{as_cutover:?}");
}
