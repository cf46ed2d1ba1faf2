//! `cutover review`: the gate's judgement kept beside the migrations, written with `--write`
//! and checked (exit 1 when missing or out of date), from the project or from anywhere.

use crate::util::{cutover_bin, output_text, Project};

fn project() -> Project {
    let project = Project::new();
    project
        .migration("1_accounts.up.sql", "CREATE TABLE accounts (id bigint PRIMARY KEY, flag boolean);\n")
        .migration("2_drop_flag.up.sql", "ALTER TABLE accounts DROP COLUMN flag;\n");
    project
}

fn review(project: &Project, args: &[&str]) -> (Option<i32>, String) {
    // No database: the review needs none.
    let output = project.cutover("").arg("review").args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    (output.status.code(), format!("{stdout}{stderr}"))
}

#[test]
fn written_then_checked_then_out_of_date() {
    let project = project();
    let (code, text) = review(&project, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            "no migrations/cutover-review.postgres.json: write it with `cutover review --write --dialect postgres --pg-version 15 --dir migrations`"
        ),
        "{text}"
    );

    let (code, text) = review(&project, &["--write"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("1 accounts: may run at start-up"), "{text}");
    assert!(text.contains("2 drop_flag: not at start-up: error[drop-column] at line 1"), "{text}");
    let written = std::fs::read_to_string(project.path("migrations/cutover-review.postgres.json")).unwrap();
    assert!(written.contains("\"rule\": \"drop-column\""), "{written}");

    assert_eq!(review(&project, &[]).0, Some(0));
    // Each dialect has its own file.
    let (code, text) = review(&project, &["--dialect", "sqlite"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no migrations/cutover-review.sqlite.json"), "{text}");
    // Judged for an older server than the file holds for.
    let (code, text) = review(&project, &["--pg-version", "12"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("it judged them for PostgreSQL 15 and later, now for 12"), "{text}");
    // --server-version is MySQL's: with another dialect, neither wins.
    let (code, text) = review(&project, &["--dialect", "sqlite", "--server-version", "mariadb-10.11"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--server-version names a MySQL/MariaDB server, and --dialect says sqlite"), "{text}");

    project.migration("2_drop_flag.up.sql", "ALTER TABLE accounts DROP COLUMN flag; -- later\n");
    let (code, text) = review(&project, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("2 drop_flag was edited; write it again with `cutover review --write --dialect postgres"),
        "{text}"
    );

    // An ignore with a reason changes the judgement: the finding is accepted, not refused.
    project.migration(
        "2_drop_flag.up.sql",
        "-- cutover:ignore drop-column reason=\"release 41 stopped reading it\"\nALTER TABLE accounts DROP COLUMN flag;\n",
    );
    let (code, text) = review(&project, &["--write"]);
    assert_eq!(code, Some(0), "{text}");
    let written = std::fs::read_to_string(project.path("migrations/cutover-review.postgres.json")).unwrap();
    assert!(written.contains("\"reason\": \"release 41 stopped reading it\""), "{written}");
}

#[test]
fn a_damaged_file_is_named_and_the_folder_found_from_anywhere() {
    let project = project();
    std::fs::write(project.path("migrations/cutover-review.postgres.json"), "{ \"format\": 1,").unwrap();
    let (code, text) = review(&project, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not a review written by `cutover review --write`"), "{text}");

    // From another folder, with --dir.
    let elsewhere = tempfile::tempdir().unwrap();
    let migrations = project.path("migrations");
    let output = std::process::Command::new(cutover_bin())
        .current_dir(elsewhere.path())
        .env_remove("DATABASE_URL")
        .args(["--dir", migrations.to_str().unwrap(), "review", "--write"])
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(project.path("migrations/cutover-review.postgres.json").is_file());
    assert!(std::fs::read_dir(elsewhere.path()).unwrap().next().is_none(), "wrote into the current folder");
}

#[test]
fn the_example_applications_reviews_are_current() {
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/embedded-app/migrations");
    // The MySQL review is for MariaDB 10.11 and later, the server the tests run on.
    for server in [&["--dialect", "postgres"][..], &["--dialect", "sqlite"], &["--server-version", "mariadb-10.11"]] {
        let output = std::process::Command::new(cutover_bin())
            .env_remove("DATABASE_URL")
            .args(["--dir", migrations.to_str().unwrap(), "review"])
            .args(server)
            .output()
            .unwrap();
        let (stdout, stderr) = output_text(&output);
        assert!(
            output.status.success(),
            "{stdout}{stderr}\nrun `cutover --dir examples/embedded-app/migrations review --write {}`",
            server.join(" ")
        );
    }
}
