//! Statements that cannot run in a transaction, and `cutover lint` on any SQL: a file made only
//! of them runs outside a transaction with no directive (lint, the gate and the runner agree);
//! a file that mixes them with others is refused naming both lines; another runner's files are
//! judged by what that tool does; loose files and stray files; `--changed-since` and `--pending`.

use std::path::Path;
use std::process::Command as StdCommand;

use serde_json::Value;

use crate::util::{output_text, PgDb, Project};

/// Linting connects to nothing; the URL only says the migrations are PostgreSQL's.
const NO_DATABASE: &str = "postgres://lint@127.0.0.1:1/none";

/// `path:line rule` of every finding of a JSON lint report, infos left out.
fn findings(stdout: &str) -> Vec<String> {
    let report: Value = serde_json::from_str(stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"));
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] != "info")
        .map(|d| {
            let path = d["path"].as_str().unwrap();
            format!("{}:{} {}", path.rsplit('/').next().unwrap(), d["line"], d["rule"].as_str().unwrap())
        })
        .collect()
}

/// The diagnostics of rule `rule` in a JSON lint report.
fn diagnostics_of(stdout: &str, rule: &str) -> Vec<Value> {
    let report: Value = serde_json::from_str(stdout).unwrap();
    report["diagnostics"].as_array().unwrap().iter().filter(|d| d["rule"] == rule).cloned().collect()
}

fn users(project: &Project) {
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n");
}

#[test]
fn a_lone_concurrent_index_applies_with_no_directive() {
    let db = PgDb::new();
    let project = Project::new();
    users(&project);
    project
        .migration(
            "2_email.up.sql",
            "-- lookups by email\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n",
        )
        .migration("2_email.down.sql", "DROP INDEX CONCURRENTLY IF EXISTS users_email;\n")
        .migration("3_vacuum.up.sql", "VACUUM (ANALYZE) users;\n")
        .migration("3_vacuum.down.sql", "VACUUM users;\n");

    let output = project.cutover(&db.url).args(["lint", "--format", "json"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(diagnostics_of(&stdout, "concurrently-in-transaction").is_empty(), "{stdout}");

    // No --allow-unsafe, no ignore: the gate sees what lint sees.
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"), "t");
    assert_eq!(
        db.query(
            "SELECT DISTINCT ON (version) version, transactional, state FROM cutover_history \
             WHERE direction = 'up' ORDER BY version, id DESC"
        ),
        "1\tt\tapplied\n2\tf\tapplied\n3\tf\tapplied"
    );
    let output = project.cutover(&db.url).args(["down", "--steps", "2"]).output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT count(*) FROM pg_class WHERE relname = 'users_email'"), "0");
}

/// SQLite's one such statement: `VACUUM` alone in a migration runs outside a transaction;
/// beside another statement it is refused before anything runs.
#[test]
fn a_lone_vacuum_applies_on_sqlite() {
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (a int);\n").migration("2_vacuum.up.sql", "VACUUM;\n");
    let url = project.sqlite_url();
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    project.migration("3_both.up.sql", "CREATE TABLE u (a int);\nVACUUM;\n");
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("3_both.up.sql:2: VACUUM cannot run inside a transaction block"), "{stderr}");
    // The folder is still read: `up` refuses the script when it would run it.
    let output = project.cutover(&url).arg("status").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
}

#[test]
fn a_mixed_file_is_refused_naming_both_lines_and_nothing_applies() {
    let db = PgDb::new();
    let project = Project::new();
    users(&project);
    project
        .migration(
            "2_audit.up.sql",
            "CREATE TABLE audit (id bigint, at timestamptz);\n\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
        )
        .migration("2_audit.down.sql", "DROP TABLE audit;\n");
    let both_lines = "2_audit.up.sql:3: CREATE INDEX CONCURRENTLY cannot run inside a transaction block, but the file also has statements that run in one (the first at line 1)";
    for command in [&["up"][..], &["up", "--allow-unsafe"], &["up", "--dry-run"]] {
        let output = project.cutover(&db.url).args(command).output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(stderr.contains(both_lines), "{command:?}: {stderr}");
        assert!(stderr.contains("move the CREATE INDEX CONCURRENTLY to a migration of its own"), "{stderr}");
    }
    assert_eq!(db.tables(), "cutover_history,cutover_history_guard", "nothing applied, not even the first migration");
    // The folder is still read: status shows it pending (a broken down script of an old
    // migration must not stop `up` of the others, as one of crates.io's would).
    let output = project.cutover(&db.url).arg("status").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);

    // lint reads the folder past it, and says the same at the same line.
    let output = project.cutover(&db.url).args(["lint", "--format", "json"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1));
    let found = diagnostics_of(&stdout, "concurrently-in-transaction");
    assert_eq!(found.len(), 1, "{stdout}");
    assert_eq!(found[0]["line"], 3);
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("this file also has statements that run in one (the first at line 1)"), "{message}");
    let output = project.cutover(&db.url).args(["lint", "migrations/2_audit.up.sql"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout.contains("error[concurrently-in-transaction]") && stdout.contains("(the first at line 1)"),
        "{stdout}"
    );

    // Split, it applies with no directive.
    project
        .migration("2_audit.up.sql", "CREATE TABLE audit (id bigint, at timestamptz);\n")
        .migration("3_email.up.sql", "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n")
        .migration("3_email.down.sql", "DROP INDEX CONCURRENTLY IF EXISTS users_email;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(db.tables(), "audit,cutover_history,cutover_history_guard,users");
}

#[test]
fn another_runner_is_judged_by_what_the_tool_does() {
    let project = Project::new();
    let lone = project.path("lone.sql");
    std::fs::write(&lone, "CREATE INDEX CONCURRENTLY users_email ON users (email);\n").unwrap();
    let two = project.path("two.sql");
    std::fs::write(
        &two,
        "ALTER TABLE users ADD COLUMN bio text;\nCREATE INDEX CONCURRENTLY users_bio ON users (bio);\n",
    )
    .unwrap();
    let output = project
        .cutover(NO_DATABASE)
        .args(["lint", "--assume-runner", "external", "--format", "json", "lone.sql", "two.sql"])
        .output()
        .unwrap();
    let (stdout, _) = output_text(&output);
    let found = diagnostics_of(&stdout, "concurrently-in-transaction");
    assert_eq!(found.len(), 1, "one statement sent alone runs outside a transaction block: {stdout}");
    assert_eq!((found[0]["path"].as_str(), found[0]["line"].as_u64()), (Some("two.sql"), Some(2)));
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("a tool such as golang-migrate or Prisma sends this file's 2 statements as one query")
            && message.contains("implicit transaction block"),
        "{message}"
    );
    assert!(!message.contains("runs in one") && !message.contains("cutover"), "{message}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    for d in report["diagnostics"].as_array().unwrap() {
        assert!(!d["help"].as_str().unwrap().contains("cutover:no-transaction"), "help no other tool reads: {d}");
    }
    // Under cutover, the first runs outside a transaction, the second is refused.
    let output =
        project.cutover(NO_DATABASE).args(["lint", "--format", "json", "lone.sql", "two.sql"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    let found = diagnostics_of(&stdout, "concurrently-in-transaction");
    assert_eq!(found.len(), 1, "{stdout}");
    assert!(found[0]["message"].as_str().unwrap().contains("(the first at line 1): cutover refuses to run it"));
}

#[test]
fn lint_takes_any_sql_file_and_reports_a_folders_stray_files() {
    let project = Project::new();
    users(&project);
    project.migration("2_index.up.sql", "CREATE INDEX users_name ON users (name);\n");
    project.migration("2_index.down.sql", "DROP INDEX users_name;\n");
    project.migration("notes.sql", "SELECT 'how to restore a backup';\n");
    std::fs::create_dir_all(project.path("scripts")).unwrap();
    std::fs::write(project.path("scripts/whatever.sql"), "DROP TABLE sessions;\n").unwrap();

    // A file named on the command line is SQL, whatever its name.
    let output =
        project.cutover(NO_DATABASE).args(["lint", "--format", "json", "scripts/whatever.sql"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(findings(&stdout), ["whatever.sql:1 drop-table"]);
    assert_eq!(diagnostics_of(&stdout, "drop-table")[0]["path"], "scripts/whatever.sql");

    // A folder's stray file is listed with why, and the migrations are still linted; it is an
    // error, since `up` refuses the folder while it is there (CI fails before the deploy does).
    let output = project.cutover(NO_DATABASE).args(["lint", "--format", "json"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "findings, not an error of the run: {stderr}");
    assert_eq!(findings(&stdout), ["2_index.up.sql:1 index-create-blocking"]);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["summary"]["errors"], 2, "the index and the stray file: {stdout}");
    let ignored = report["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), 1, "{stdout}");
    assert_eq!(ignored[0]["path"], "migrations/notes.sql");
    assert_eq!(ignored[0]["refused_by_up"], true);
    let reason = ignored[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("not a native migration") && reason.contains("`cutover up` refuses the folder"),
        "{reason}"
    );
    assert!(stderr.contains("error: ignoring `migrations/notes.sql`: not a native migration"), "{stderr}");
    // The folder and the loose file together, in the human format.
    let output = project.cutover(NO_DATABASE).args(["lint", "migrations", "scripts/whatever.sql"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout.contains("--> migrations/2_index.up.sql:1:1") && stdout.contains("--> scripts/whatever.sql:1:1"));
    assert!(stdout.ends_with("3 errors, 0 warnings, 0 infos in 3 files\n"), "{stdout}");

    // The stray file alone fails the lint, in every format a CI reads.
    std::fs::remove_file(project.path("migrations/2_index.up.sql")).unwrap();
    std::fs::remove_file(project.path("migrations/2_index.down.sql")).unwrap();
    let output = project.cutover(NO_DATABASE).args(["lint", "--format", "github"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("::error file=migrations/notes.sql,title=not read as a migration::not a native migration"),
        "{stdout}"
    );
    let output = project.cutover(NO_DATABASE).args(["lint", "--format", "sarif"]).output().unwrap();
    let (stdout, _) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let sarif: Value = serde_json::from_str(&stdout).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "unread-migration-file", "{stdout}");
    assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "migrations/notes.sql");

    // `up` still refuses the folder, naming the file.
    let output = project.cutover(NO_DATABASE).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output_text(&output).1.contains("`migrations/notes.sql` is not a native migration"));
}

/// Makes `dir` a git repository on branch `main`, with a committer.
fn git_repository(dir: &Path) {
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    git(dir, &["config", "user.name", "cutover tests"]);
    git(dir, &["config", "user.email", "tests@cutover.invalid"]);
}

/// Runs git in `dir`, failing the test if it fails.
fn git(dir: &Path, args: &[&str]) {
    let output = StdCommand::new("git").current_dir(dir).args(args).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn changed_since_reports_what_a_branch_adds_judged_after_what_came_before() {
    let project = Project::new();
    let root = project.dir.path();
    git_repository(root);
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, bio varchar(200), email text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n")
        // Applied long ago with --allow-unsafe: it must not fail every later lint.
        .migration("2_index.up.sql", "CREATE INDEX users_email ON users (email);\n")
        .migration("2_index.down.sql", "DROP INDEX users_email;\n");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "first migrations"]);
    let lint = |args: &[&str]| {
        let output = project.cutover(NO_DATABASE).args(["lint", "--format", "json"]).args(args).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        (output.status.code(), stdout, stderr)
    };
    let (code, stdout, _) = lint(&[]);
    assert_eq!((code, findings(&stdout)), (Some(1), vec!["2_index.up.sql:1 index-create-blocking".to_string()]));
    let (code, stdout, _) = lint(&["--changed-since", "main"]);
    assert_eq!((code, findings(&stdout)), (Some(0), vec![]), "nothing changed");

    // The branch: a type change that rewrites nothing only given migration 1's varchar(200)
    // (committed), and one that rewrites (not yet added to git).
    git(root, &["checkout", "--quiet", "-b", "feature"]);
    project
        .migration("3_bio.up.sql", "ALTER TABLE users ALTER COLUMN bio TYPE text;\n")
        .migration("3_bio.down.sql", "ALTER TABLE users ALTER COLUMN bio TYPE varchar(200);\n");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "bio"]);
    // main moves on meanwhile: that is not the branch's change.
    git(root, &["checkout", "--quiet", "main"]);
    project.migration("2_index.down.sql", "DROP INDEX CONCURRENTLY IF EXISTS users_email;\n");
    git(root, &["commit", "--quiet", "-am", "main moves on"]);
    git(root, &["checkout", "--quiet", "feature"]);
    let (code, stdout, stderr) = lint(&["--changed-since", "main"]);
    assert_eq!((code, findings(&stdout)), (Some(0), vec![]), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["summary"]["files"], 1);
    assert!(stderr.contains("note: linted 3 files in order; reporting the 1 file changed since main"), "{stderr}");
    project
        .migration("4_email.up.sql", "ALTER TABLE users ALTER COLUMN email TYPE varchar(50);\n")
        .migration("4_email.down.sql", "ALTER TABLE users ALTER COLUMN email TYPE text;\n");
    let (code, stdout, _) = lint(&["--changed-since", "main"]);
    assert_eq!((code, findings(&stdout)), (Some(1), vec!["4_email.up.sql:1 column-type-rewrite".to_string()]));
    // A file named on the command line is reported only if it changed, too.
    let (code, stdout, _) =
        lint(&["--changed-since", "main", "migrations/2_index.up.sql", "migrations/4_email.up.sql"]);
    assert_eq!(code, Some(1));
    assert!(findings(&stdout).iter().all(|f| f.starts_with("4_email.up.sql")), "{stdout}");
    // Editing the down script of an old migration brings it back into view.
    project.migration("2_index.down.sql", "DROP INDEX IF EXISTS users_email;\n");
    let (_, stdout, _) = lint(&["--changed-since", "main"]);
    assert!(findings(&stdout).contains(&"2_index.up.sql:1 index-create-blocking".to_string()), "{stdout}");

    let (code, _, stderr) = lint(&["--changed-since", "no-such-branch"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--changed-since no-such-branch: no such commit in this repository"), "{stderr}");
    let (code, _, stderr) = lint(&["--changed-since", "--output=x"]);
    assert_eq!(code, Some(2), "{stderr}");

    let outside = Project::new();
    users(&outside);
    let output = outside.cutover(NO_DATABASE).args(["lint", "--changed-since", "main"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("--changed-since main compares with git, but") && stderr.contains("is not in a git work tree"),
        "{stderr}"
    );
}

/// A pull request that adds a table and, in a later migration of the same branch, indexes it,
/// keys it and tightens a column: the table is not on the live database before the branch's
/// migrations run, so nothing queues behind those locks (review 4's "same unreleased batch").
/// A table of the released migrations stays live, and so does one an edited old migration
/// creates.
#[test]
fn changed_since_judges_a_table_the_branch_adds_as_new() {
    let project = Project::new();
    let root = project.dir.path();
    git_repository(root);
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n")
        .migration("1_users.down.sql", "DROP TABLE users;\n")
        .migration("2_teams.up.sql", "CREATE TABLE teams (id bigint PRIMARY KEY, name text);\n")
        .migration("2_teams.down.sql", "DROP TABLE teams;\n");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "released"]);
    git(root, &["checkout", "--quiet", "-b", "feature"]);
    project
        .migration("3_posts.up.sql", "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint, title text);\n")
        .migration("3_posts.down.sql", "DROP TABLE posts;\n");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "posts"]);
    let tighten = "CREATE INDEX posts_user ON posts (user_id);\nALTER TABLE posts ADD CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\nALTER TABLE posts ALTER COLUMN title SET NOT NULL;\n";
    // Not yet added to git: untracked files are the branch's too.
    project.migration("4_tighten.up.sql", tighten).migration("4_tighten.down.sql", "DROP INDEX posts_user;\n");
    let lint = |args: &[&str]| {
        let output = project
            .cutover(NO_DATABASE)
            .args(["lint", "--format", "json", "--assume-runner", "golang-migrate"])
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = output_text(&output);
        (output.status.code(), findings(&stdout), stderr)
    };
    // The key's lock on the released `users` is the one that can queue the application's
    // writes (a warning: reads go on).
    let users_only = vec!["4_tighten.up.sql:2 lock-timeout-missing".to_string()];
    let (code, found, stderr) = lint(&["--changed-since", "main"]);
    assert_eq!((code, &found), (Some(0), &users_only), "{stderr}");
    // An untracked repository nested in the tree (git lists it as a folder) is no file.
    let nested = root.join("vendor/tool");
    std::fs::create_dir_all(&nested).unwrap();
    git_repository(&nested);
    let (code, found, stderr) = lint(&["--changed-since", "main"]);
    assert_eq!((code, &found), (Some(0), &users_only), "{stderr}");
    std::fs::remove_dir_all(root.join("vendor")).unwrap();
    // Named one by one, as a pre-commit hook does.
    let (code, found, stderr) = lint(&[
        "--changed-since",
        "main",
        "migrations/1_users.up.sql",
        "migrations/3_posts.up.sql",
        "migrations/4_tighten.up.sql",
    ]);
    assert_eq!((code, &found), (Some(0), &users_only), "{stderr}");
    // The whole history: `posts` may have been live for years by migration 4.
    let (_, found, _) = lint(&[]);
    assert!(found.contains(&"4_tighten.up.sql:1 index-create-blocking".to_string()), "{found:?}");
    assert!(found.contains(&"4_tighten.up.sql:3 set-not-null-scan".to_string()), "{found:?}");

    // Released on main, the same table is live for the branch's later migration.
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "tighten"]);
    git(root, &["checkout", "--quiet", "-b", "later"]);
    project.migration(
        "5_teams.up.sql",
        "CREATE INDEX posts_title ON posts (title);\nCREATE INDEX teams_name ON teams (name);\n",
    );
    project.migration("5_teams.down.sql", "DROP INDEX posts_title;\n");
    let (_, found, stderr) = lint(&["--changed-since", "feature"]);
    assert!(found.contains(&"5_teams.up.sql:1 index-create-blocking".to_string()), "{found:?} {stderr}");
    // A folder moved (git told or not) holds the released migrations still: not a new batch.
    std::fs::rename(root.join("migrations"), root.join("db_migrations")).unwrap();
    let (_, found, stderr) = lint(&["--changed-since", "feature", "--dir", "db_migrations"]);
    assert!(found.contains(&"5_teams.up.sql:1 index-create-blocking".to_string()), "{found:?} {stderr}");
    git(root, &["add", "-A"]);
    let (_, found, stderr) = lint(&["--changed-since", "feature", "--dir", "db_migrations"]);
    assert!(found.contains(&"5_teams.up.sql:1 index-create-blocking".to_string()), "{found:?} {stderr}");
    git(root, &["reset", "--quiet"]);
    std::fs::rename(root.join("db_migrations"), root.join("migrations")).unwrap();
    // An old migration edited on the branch made its table long ago: it is not new.
    project.migration("2_teams.up.sql", "CREATE TABLE teams (id bigint PRIMARY KEY, name text NOT NULL);\n");
    let (_, found, _) = lint(&["--changed-since", "feature"]);
    assert!(found.contains(&"5_teams.up.sql:2 index-create-blocking".to_string()), "{found:?}");
}

/// What a branch adds is not always new: a migration released on the base since the branch
/// left and cherry-picked, a folder moved with a small file edited past git's rename
/// detection, a baseline made again in place of the old migrations (tester 9). Each table they
/// make was released, and its index is an outage.
#[test]
fn changed_since_knows_a_released_table_however_the_branch_moves_it() {
    let project = Project::new();
    let root = project.dir.path();
    git_repository(root);
    project.migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "users"]);
    let lint = |args: &[&str]| {
        let output = project
            .cutover(NO_DATABASE)
            .args(["lint", "--format", "json", "--assume-runner", "golang-migrate"])
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = output_text(&output);
        (findings(&stdout), stderr)
    };
    // Released on `release` after the branch left `main`, cherry-picked onto the branch.
    git(root, &["checkout", "--quiet", "-b", "release"]);
    project.migration("2_orders.up.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);\n");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "orders"]);
    git(root, &["checkout", "--quiet", "main"]);
    git(root, &["checkout", "--quiet", "-b", "picked"]);
    git(root, &["cherry-pick", "release"]);
    project.migration("3_orders_user.up.sql", "CREATE INDEX orders_user ON orders (user_id);\n");
    let (found, stderr) = lint(&["--changed-since", "release"]);
    assert!(found.contains(&"3_orders_user.up.sql:1 index-create-blocking".to_string()), "{found:?} {stderr}");
    std::fs::remove_file(project.path("migrations/3_orders_user.up.sql")).unwrap();

    // The folder moved and its small first file edited: git sees a deletion and an addition.
    git(root, &["checkout", "--quiet", "main"]);
    std::fs::create_dir(root.join("db")).unwrap();
    std::fs::rename(root.join("migrations"), root.join("db/migrations")).unwrap();
    std::fs::write(
        root.join("db/migrations/1_users.up.sql"),
        "CREATE TABLE users (id bigint PRIMARY KEY, email text); -- the first table\n",
    )
    .unwrap();
    std::fs::write(root.join("db/migrations/2_email.up.sql"), "CREATE INDEX users_email ON users (email);\n").unwrap();
    for staged in [false, true] {
        if staged {
            git(root, &["add", "-A"]);
        }
        let (found, stderr) = lint(&["--changed-since", "main", "--dir", "db/migrations"]);
        assert!(found.contains(&"2_email.up.sql:1 index-create-blocking".to_string()), "{found:?} {stderr}");
    }
    // Staged, the moved files go with the reset; the rest by hand.
    git(root, &["reset", "--quiet", "--hard"]);
    let _ = std::fs::remove_dir_all(root.join("db"));

    // A baseline made again (Prisma's way of adopting a database): the old files deleted, a
    // new first migration made from the live schema, and the branch's change after it. Also
    // of a table the old files made under another name and renamed (tester 10).
    git(root, &["checkout", "--quiet", "-b", "members"]);
    project.migration(
        "2_members.up.sql",
        "CREATE TABLE people (id bigint PRIMARY KEY);\nALTER TABLE people RENAME TO members;\n",
    );
    // A name with a space, read from the merge base with the others in one request.
    project.migration("3_the teams.up.sql", "CREATE TABLE teams (id bigint PRIMARY KEY);\n");
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "members"]);
    std::fs::remove_file(project.path("migrations/1_users.up.sql")).unwrap();
    std::fs::remove_file(project.path("migrations/2_members.up.sql")).unwrap();
    std::fs::remove_file(project.path("migrations/3_the teams.up.sql")).unwrap();
    project.migration(
        "10_baseline.up.sql",
        "CREATE TABLE \"users\" (\n  \"id\" bigint NOT NULL PRIMARY KEY,\n  \"email\" text\n);\nCREATE TABLE members (id bigint PRIMARY KEY);\nCREATE TABLE teams (id bigint PRIMARY KEY);\n",
    );
    project.migration(
        "11_email.up.sql",
        "CREATE INDEX users_email ON users (email);\nCREATE INDEX members_id ON members (id);\nCREATE INDEX teams_id ON teams (id);\n",
    );
    let (found, stderr) = lint(&["--changed-since", "members"]);
    assert!(found.contains(&"11_email.up.sql:1 index-create-blocking".to_string()), "{found:?} {stderr}");
    assert!(found.contains(&"11_email.up.sql:2 index-create-blocking".to_string()), "{found:?} {stderr}");
    assert!(found.contains(&"11_email.up.sql:3 index-create-blocking".to_string()), "{found:?} {stderr}");
}

#[test]
fn pending_reports_only_what_the_database_has_not_applied() {
    let db = PgDb::new();
    let project = Project::new();
    users(&project);
    project
        .migration("2_index.up.sql", "CREATE INDEX users_email ON users (email);\n")
        .migration("2_index.down.sql", "DROP INDEX users_email;\n");
    // On a fresh database `users` is made by the first migration: its index blocks nobody.
    let fresh = PgDb::new();
    let output = project.cutover(&fresh.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    let output = project.cutover(&db.url).args(["up", "--to", "1"]).output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "the gate refuses the index: {}", output_text(&output).1);
    let output = project.cutover(&db.url).args(["up", "--allow-unsafe"]).output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);

    let lint = |args: &[&str]| {
        let output = project.cutover(&db.url).args(["lint", "--format", "json"]).args(args).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        (output.status.code(), stdout, stderr)
    };
    let (code, _, _) = lint(&[]);
    assert_eq!(code, Some(1), "the accepted migration's finding still stands for a plain lint");
    let (code, stdout, stderr) = lint(&["--pending"]);
    assert_eq!((code, findings(&stdout)), (Some(0), vec![]), "{stderr}");
    assert!(
        stderr.contains("note: linted 2 files in order; reporting the 0 files not applied to the database"),
        "{stderr}"
    );

    project
        .migration("3_name.up.sql", "ALTER TABLE users ALTER COLUMN name SET NOT NULL;\n")
        .migration("3_name.down.sql", "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;\n");
    let (code, stdout, _) = lint(&["--pending"]);
    assert_eq!((code, findings(&stdout)), (Some(1), vec!["3_name.up.sql:1 set-not-null-scan".to_string()]));

    // An applied migration edited since: `up` refuses it, so CI fails now (tester 20).
    project.migration("2_index.up.sql", "CREATE INDEX users_email ON users (email, name);\n");
    let (code, _, stderr) = lint(&["--pending"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error: `") && stderr.contains("2 index) was edited after it was applied"), "{stderr}");
    project.migration("2_index.up.sql", "CREATE INDEX users_email ON users (email);\n");

    let (code, _, stderr) = lint(&["--pending", "migrations/3_name.up.sql"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--pending reads which migrations of a folder the database has applied"), "{stderr}");
    let output = project.cutover(&db.url).env_remove("DATABASE_URL").args(["lint", "--pending"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", output_text(&output).1);
}

/// Found reviewing the corpus: a folder none of whose files reads as a migration linted
/// nothing and passed, so CI would go green on SQL it never looked at.
#[test]
fn a_folder_of_no_migration_is_an_error_not_a_pass() {
    let project = Project::new();
    project.migration("notes.sql", "SELECT 1;");
    project.migration("schema.sql", "CREATE TABLE t (a int);");
    let output = project.cutover("sqlite::memory:").args(["lint", "migrations"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no file of `migrations` reads as a migration (2 files ignored"), "{stderr}");
}
