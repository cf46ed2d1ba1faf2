//! The migrations folder at its edges: symlink loops, FIFOs, devices, misnamed files, NUL bytes,
//! and `cutover new` run twice at once. Every scan finishes, and every file it does not use is
//! named with the reason.

use std::collections::BTreeSet;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use crate::util::Project;

/// What a bounded run left: the exit code, stdout and stderr.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cutover <args>` in the project with at most 1 GiB of address space and kills it after
/// 30 s, so that a scan that loops or reads without end fails the test instead of hanging it
/// or taking the machine's memory.
fn run_bounded(project: &Project, database_url: &str, args: &[&str]) -> Run {
    let plain = project.cutover_std(database_url);
    let mut cmd = StdCommand::new("sh");
    cmd.arg("-c").arg("ulimit -v 1048576 && exec \"$0\" \"$@\"").arg(plain.get_program()).args(args);
    cmd.current_dir(plain.get_current_dir().expect("the project folder"));
    for (key, value) in plain.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    // Files rather than pipes: a child that writes much cannot block on a full pipe.
    let out_path = project.path("run.stdout");
    let err_path = project.path("run.stderr");
    cmd.stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()));
    cmd.stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()));
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("`cutover {}` did not finish within 30 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |path| String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    Run { code: status.code(), stdout: read(&out_path), stderr: read(&err_path) }
}

#[test]
fn status_finishes_on_a_branching_symlink_loop_and_names_it() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);");
    let dir = project.path("migrations");
    std::fs::create_dir(dir.join("sub")).unwrap();
    // Each folder links back twice: followed blindly, the walk doubles at every level.
    std::os::unix::fs::symlink(".", dir.join("loop_a")).unwrap();
    std::os::unix::fs::symlink(".", dir.join("loop_b")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/up_a")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/up_b")).unwrap();
    let run = run_bounded(&project, &project.sqlite_url(), &["status"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("a") && run.stdout.contains("pending"), "{}", run.stdout);
    for link in ["loop_a", "loop_b", "sub/up_a", "sub/up_b"] {
        let note = format!("note: ignoring `migrations/{link}`: a link to a folder already read");
        assert!(run.stderr.contains(&note), "{link}: {}", run.stderr);
    }
}

/// `lint` reads the other files of a folder on its own when one file is broken; that walk
/// finishes on a loop too, and leaves FIFOs alone.
#[test]
fn lint_of_a_folder_with_a_broken_file_finishes_on_a_loop_and_a_fifo() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);");
    project.migration("2_b.up.sql", "SELECT 1;\nSELECT 'unterminated;\n");
    let dir = project.path("migrations");
    std::os::unix::fs::symlink(".", dir.join("loop_a")).unwrap();
    std::os::unix::fs::symlink(".", dir.join("loop_b")).unwrap();
    // Read after the broken file, so the scan stops at that one first.
    assert!(StdCommand::new("mkfifo").arg(dir.join("3_c.up.sql")).status().unwrap().success());
    let run = run_bounded(&project, "postgres://lint@127.0.0.1:1/none", &["lint", "migrations"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.contains("2_b.up.sql:2"), "{}", run.stdout);
}

#[test]
fn status_refuses_a_fifo_named_like_a_migration() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);");
    let fifo = project.path("migrations/2_b.up.sql");
    assert!(StdCommand::new("mkfifo").arg(&fifo).status().unwrap().success());
    let run = run_bounded(&project, &project.sqlite_url(), &["status"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("`migrations/2_b.up.sql` is a FIFO, not a regular file"), "{}", run.stderr);
}

#[test]
fn status_refuses_a_link_to_a_device_named_like_a_migration() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);");
    let link = project.path("migrations/2_b.up.sql");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let run = run_bounded(&project, &project.sqlite_url(), &["status"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let expected = "`migrations/2_b.up.sql` is a character device, not a regular file";
    assert!(run.stderr.contains(expected), "{}", run.stderr);
}

#[test]
fn misnamed_migrations_are_refused_and_copies_are_listed() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);");
    project.migration("2_b.up.SQL", "CREATE TABLE b (id integer);");
    project.migration("3_c.up.sql ", "CREATE TABLE c (id integer);");
    let url = project.sqlite_url();
    let run = run_bounded(&project, &url, &["up"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("2_b.up.SQL` is not read as a migration"), "{}", run.stderr);
    assert!(run.stderr.contains("rename it to `2_b.up.sql`"), "{}", run.stderr);
    // Every one at once, not the first alone (tester 18 renamed them one run at a time).
    assert!(run.stderr.contains("2 files are named almost as migrations"), "{}", run.stderr);
    assert!(run.stderr.contains("rename it to `3_c.up.sql`"), "{}", run.stderr);
    assert!(!project.path("app.db").exists() || sqlite_tables(&project).is_empty(), "nothing applied");

    std::fs::rename(project.path("migrations/2_b.up.SQL"), project.path("migrations/2_b.up.sql")).unwrap();
    let run = run_bounded(&project, &url, &["up"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("rename it to `3_c.up.sql`"), "{}", run.stderr);

    std::fs::rename(project.path("migrations/3_c.up.sql "), project.path("migrations/3_c.up.sql.bak")).unwrap();
    let run = run_bounded(&project, &url, &["status"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("note: ignoring") && run.stderr.contains("3_c.up.sql.bak`"), "{}", run.stderr);
}

#[test]
fn a_nul_byte_is_refused_at_its_line_before_anything_applies_on_sqlite() {
    let project = Project::new();
    // SQLite reads SQL as a C string: the NUL ended the statement and `b` was never created,
    // yet the migration was recorded as applied.
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);\nSELECT 'x\0';\nCREATE TABLE b (id integer);\n");
    let run = run_bounded(&project, &project.sqlite_url(), &["up"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("1_a.up.sql:2: a NUL byte"), "{}", run.stderr);
    assert!(!project.path("app.db").exists() || sqlite_tables(&project).is_empty(), "nothing applied");
}

#[test]
fn concurrent_new_never_repeats_a_version() {
    let project = Project::new();
    let (rounds, per_round) = (20, 3);
    for round in 0..rounds {
        let children: Vec<_> = (0..per_round)
            .map(|idx| {
                project
                    .cutover_std("sqlite::memory:")
                    .args(["new", &format!("m{round} {idx}")])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        }
    }
    let names: Vec<String> = std::fs::read_dir(project.path("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".up.sql"))
        .collect();
    assert_eq!(names.len(), rounds * per_round, "{names:?}");
    let versions: BTreeSet<&str> = names.iter().map(|name| name.split('_').next().unwrap()).collect();
    assert_eq!(versions.len(), names.len(), "a version was used twice: {names:?}");
    let run = run_bounded(&project, "sqlite::memory:", &["status"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

fn sqlite_tables(project: &Project) -> Vec<String> {
    let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
    let mut query = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'cutover%' ORDER BY name")
        .unwrap();
    query.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
}

/// Tester 18: `cutover new` then `up` applied the untouched template and recorded it; the
/// change written into it afterwards was refused as an edit of an applied migration. Refused
/// now, naming the file; once written, it applies. An empty file a project keeps on purpose
/// (no template hint) still applies.
#[test]
fn an_untouched_template_is_not_applied() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id integer);\n");
    project.migration("2_kept_empty.up.sql", "-- nothing here on purpose\n");
    let url = project.sqlite_url();
    let output = project.cutover(&url).args(["new", "add thing"]).output().unwrap();
    assert!(output.status.success(), "{:?}", crate::util::output_text(&output));
    let up = crate::util::output_text(&output)
        .0
        .lines()
        .filter_map(|l| l.strip_prefix("created "))
        .find(|p| p.ends_with(".up.sql"))
        .unwrap()
        .to_string();
    for args in [&["up"][..], &["up", "--dry-run"]] {
        let output = project.cutover(&url).args(args).output().unwrap();
        let (out, err) = crate::util::output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {out}{err}");
        assert!(err.contains("is still the template `cutover new` wrote"), "{err}");
        assert!(err.contains("nothing was applied"), "{err}");
    }
    assert!(sqlite_tables(&project).iter().all(|t| t != "a"), "nothing applied, not even the ones before it");
    std::fs::write(project.path(&up), "CREATE TABLE thing (id integer);\n").unwrap();
    let output = project.cutover(&url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", crate::util::output_text(&output));
    assert!(sqlite_tables(&project).iter().any(|t| t == "thing"));
    // Its down script left as written reverts nothing: refused, not recorded reverted (tester 19).
    let output = project.cutover(&url).arg("down").output().unwrap();
    let (out, err) = crate::util::output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("its down script") && err.contains("is still the template `cutover new` wrote"), "{err}");
    assert!(sqlite_tables(&project).iter().any(|t| t == "thing"));
}
