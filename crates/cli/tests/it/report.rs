//! The reports people look at: `rehearse --report` opened in a real headless Chromium (its
//! screenshot read back pixel by pixel), and `plan --format markdown`.

use std::path::Path;
use std::process::Command;

use crate::util::{output_text, PgDb, Project};

/// A table made before the risky migration, with rows, and a migration that locks it for a
/// long UPDATE, builds an index without CONCURRENTLY and rewrites another table.
fn project_with_a_risky_migration(db: &PgDb) -> Project {
    let project = Project::new();
    project.migration(
        "1_users.up.sql",
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\n\
         CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users (id), total numeric);\n\
         INSERT INTO users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 20000) g;\n\
         INSERT INTO orders (user_id, total) SELECT g, g FROM generate_series(1, 5000) g;\n",
    );
    project.migration("1_users.down.sql", "DROP TABLE orders; DROP TABLE users;\n");
    project.migration(
        "2_status.up.sql",
        "ALTER TABLE users ADD COLUMN status text;\n\
         UPDATE users SET status = 'active' WHERE status IS NULL;\n\
         CREATE INDEX users_status ON users (status);\n\
         ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);\n",
    );
    project.migration(
        "2_status.down.sql",
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric;\nDROP INDEX users_status;\nALTER TABLE users DROP COLUMN status;\n",
    );
    let output = project.cutover(&db.url).args(["up", "--to", "1"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    project
}

fn chromium() -> &'static str {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(candidate).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return candidate;
        }
    }
    panic!("headless Chromium is needed by this test: run scripts/services.sh (installs Debian's `chromium`)");
}

/// Pixels of the screenshot close to `rgb`.
fn pixels_like(png_file: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_file).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "an RGB screenshot, got {:?}", info.color_type);
    buffer[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 12))
        .count()
}

#[test]
fn the_rehearsal_report_opens_in_headless_chromium_with_its_lock_timeline() {
    let browser = chromium();
    let db = PgDb::new();
    let project = project_with_a_risky_migration(&db);
    let report = project.path("rehearsal.html");
    let output = project.cutover(&db.url).args(["rehearse", "--template", "--report"]).arg(&report).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains(&format!("wrote the report to {}", report.display())), "{stderr}");
    let html = std::fs::read_to_string(&report).unwrap();
    // Self-contained: no script, nothing fetched.
    for banned in ["<script", "src=\"http", "href=\"http", "@import"] {
        assert!(!html.contains(banned), "{banned} in the report");
    }
    assert!(html.contains("<svg"), "a picture");
    assert!(html.contains("2 status") && html.contains("4 of 4 observed statements behaved as predicted"), "{html}");
    assert!(html.contains("down reverses up, and up applies again"));
    assert!(html.contains("ACCESS EXCLUSIVE on users (blocks reads and writes), taken at line 1, held to the commit"));
    assert!(html.contains("rewrote orders"));
    assert!(html.contains("UPDATE users SET status = &#39;active&#39;"), "SQL is escaped");

    // What a reviewer sees: the page rendered by a real browser.
    let shot = project.path("shot.png");
    let output = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1000"])
        .arg(format!("--user-data-dir={}", project.path("chromium-profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(output.status.success() && shot.exists(), "chromium: {:?}", output_text(&output));
    // The bars are drawn: ACCESS EXCLUSIVE on users (red) from line 1 to the commit, and a lock
    // that blocks only writes would be orange. The plot is 720 px wide, a bar 16 px high.
    let red = pixels_like(&shot, [0xc8, 0x37, 0x2d]);
    assert!(red > 8_000, "{red} red pixels: the ACCESS EXCLUSIVE bar is not drawn");
    let light_grey = pixels_like(&shot, [0xe4, 0xe4, 0xe4]);
    assert!(light_grey > 500, "{light_grey} grey pixels: the statement lane is not drawn");
}

#[test]
fn a_failed_rehearsal_still_writes_its_report_with_the_failure() {
    let db = PgDb::new();
    let project = project_with_a_risky_migration(&db);
    project.migration(
        "3_bad.up.sql",
        "ALTER TABLE users ADD COLUMN z int;\nALTER TABLE users ADD CONSTRAINT email_short CHECK (length(email) < 5);\nSELECT 1;\n",
    );
    project.migration("4_after.up.sql", "SELECT 2;\n");
    let report = project.path("out/rehearsal.html");
    std::fs::create_dir_all(project.path("out")).unwrap();
    let output = project.cutover(&db.url).args(["rehearse", "--template", "--report"]).arg(&report).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{:?}", output_text(&output));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("failed: ") && html.contains("3_bad.up.sql:2"), "{html}");
    assert!(html.contains("violated by some row"), "the server's reason: {html}");
    // The failed statement is shown, the timeline ends in a rollback, and what was not tried
    // is named.
    assert!(html.contains("failed at line 2: rolled back"), "{html}");
    assert!(html.contains("ADD CONSTRAINT email_short CHECK (length(email) &lt; 5)</pre>"), "{html}");
    assert!(
        html.contains("<span class=\"disagreement\">failed: ") && html.contains("is violated by some row"),
        "{html}"
    );
    assert!(html.contains("failed: the transaction was rolled back"), "the failed statement has its column: {html}");
    assert!(html.contains(">rolled back ") && html.contains("held until the rollback"), "{html}");
    assert!(html.contains("Not rehearsed") && html.contains("<code>4 after</code>"), "{html}");
    // One pattern id per picture: valid HTML with several migrations.
    assert!(html.contains("id=\"rewrite-0\"") && html.contains("id=\"rewrite-1\""), "{html}");
    // A folder that does not exist: said at once (before a rehearsal that may take minutes).
    let output = project
        .cutover(&db.url)
        .args(["rehearse", "--template", "--report"])
        .arg(project.path("missing/r.html"))
        .output()
        .unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the report to") && stderr.contains("missing/r.html"), "{stderr}");
    assert!(stderr.contains("create the folder"), "how to fix it: {stderr}");
    // A folder given as the file: said at once too.
    let output = project
        .cutover(&db.url)
        .args(["rehearse", "--template", "--report"])
        .arg(project.path("out"))
        .output()
        .unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("it is a folder; name a file in it"), "{stderr}");
    // Never over a migration, and an unwritable place is said at once.
    for (path, said) in [
        (project.path("migrations/4_after.up.sql"), "it would go among the migrations"),
        (project.path("migrations/r.html"), "it would go among the migrations"),
        (std::path::PathBuf::from("/proc/r.html"), "cannot write the report to /proc/r.html"),
    ] {
        let output = project.cutover(&db.url).args(["rehearse", "--template", "--report"]).arg(&path).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(said) && !stdout.contains("rehearsed on"), "{path:?}: {stderr}");
    }
    assert_eq!(std::fs::read_to_string(project.path("migrations/4_after.up.sql")).unwrap(), "SELECT 2;\n");
}

#[test]
fn plan_as_markdown_for_a_pull_request_comment() {
    let db = PgDb::new();
    let project = project_with_a_risky_migration(&db);
    project.migration("3_note.up.sql", "ALTER TABLE users ADD COLUMN note text DEFAULT 'a|b';\n");
    let output = project.cutover(&db.url).args(["plan", "--format", "markdown"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "errors fail the plan: {stdout}\n{stderr}");
    assert!(stdout.starts_with("## cutover plan: 2 pending migrations, "), "{stdout}");
    assert!(stdout.contains("### `2 status` \u{2014} `"), "{stdout}");
    assert!(stdout.contains("| line | statement | locks (table size) | work |\n|---:|---|---|---|\n"), "{stdout}");
    assert!(
        stdout.contains("| 1 | `ALTER TABLE users ADD COLUMN status text` | **ACCESS EXCLUSIVE** on `users` (blocks reads and writes; "),
        "{stdout}"
    );
    assert!(stdout.contains("| rewrites the table, about "), "{stdout}");
    assert!(stdout.contains("\u{274c} **error** `backfill-in-migration` line 2: "), "{stdout}");
    // A `|` inside SQL does not end the cell.
    assert!(stdout.contains("DEFAULT 'a\\|b'"), "{stdout}");
    for line in stdout.lines().filter(|l| l.starts_with("| ")) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 5, "every table row has four cells: {line}");
    }
}

/// `--template` asked for a copy: with another session on the database, a copy cannot be made,
/// and rehearsing on a replay instead would judge something else. It says who is connected.
#[test]
fn a_copy_that_cannot_be_made_is_an_error_naming_the_sessions_not_a_silent_replay() {
    let db = PgDb::new();
    let project = project_with_a_risky_migration(&db);
    let mut other = db.client();
    other.batch_execute("SET application_name = 'billing-worker'").unwrap();
    let output = project.cutover(&db.url).args(["rehearse", "--template"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("other sessions are connected to it (pid "), "{stderr}");
    assert!(stderr.contains("billing-worker"), "names the session: {stderr}");
    assert!(stderr.contains("rehearse without --template"), "{stderr}");
    assert!(!stdout.contains("rehearsed on"), "nothing was rehearsed: {stdout}");
    drop(other);
    let output = project.cutover(&db.url).args(["rehearse", "--template"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert!(output_text(&output).0.contains("rehearsed on a copy of the database"));
}

/// A run killed before it dropped its scratch database leaves it behind; the next run drops
/// those ten minutes old that nobody is connected to, and leaves a younger one alone.
#[test]
fn scratch_databases_left_by_killed_runs_are_dropped_by_the_next() {
    let db = PgDb::new();
    let project = project_with_a_risky_migration(&db);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (old, young) = (format!("cutover_rehearsal_{}_999_1", now - 3600), format!("cutover_rehearsal_{}_999_2", now));
    db.query(&format!("CREATE DATABASE {young}"));
    // Any rehearsal on the server drops such leftovers, another test's running beside this one
    // too: the old one is made again when one did (seen once in CI), a few times at most.
    let note = format!("note: dropped {old}, a scratch database an interrupted run left behind");
    let mut stderrs = Vec::new();
    for _ in 0..5 {
        db.query(&format!("CREATE DATABASE {old}"));
        let output = project.cutover(&db.url).arg("rehearse").output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        let found = stderr.contains(&note);
        stderrs.push(stderr);
        let gone = db.query(&format!("SELECT count(*) FROM pg_database WHERE datname = '{old}'")) == "0";
        assert!(gone, "the old one is dropped: {stderrs:?}");
        if found {
            break;
        }
    }
    assert!(stderrs.last().is_some_and(|s| s.contains(&note)), "{stderrs:?}");
    let left =
        db.query(&format!("SELECT string_agg(datname, ',') FROM pg_database WHERE datname IN ('{old}', '{young}')"));
    assert_eq!(left, young, "the young one may be a run that is just starting");
    db.query(&format!("DROP DATABASE {young}"));
}

/// A URL that names no database connects to the one named as the user (libpq's rule): the
/// copy is of that database, not of the server's maintenance one.
#[test]
fn a_url_without_a_database_copies_the_users_database() {
    let db = PgDb::new();
    db.query(&format!("CREATE ROLE {} LOGIN SUPERUSER", db.name));
    db.query("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2)");
    let project = Project::new();
    project.migration("1_baseline.up.sql", "SELECT 1;\n");
    project.migration("2_note.up.sql", "ALTER TABLE items ADD COLUMN note text;\n");
    let url = format!("postgres://{}@127.0.0.1:5432", db.name);
    let output = project.cutover(&url).args(["baseline", "1"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let output = project.cutover(&url).args(["rehearse", "--template"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    db.query(&format!("REASSIGN OWNED BY {0} TO postgres; DROP ROLE {0}", db.name));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("rehearsed on a copy of the database") && stdout.contains("1 of 1 observed statement behaved"),
        "{stdout}"
    );
}

/// A plan too long for one GitHub comment stays under its limit and still names every
/// migration, with its findings' counts: an error in the last one is not cut away.
#[test]
fn a_plan_too_long_for_one_comment_names_every_migration() {
    let db = PgDb::new();
    db.query("CREATE TABLE users (id int PRIMARY KEY)");
    let project = Project::new();
    project.migration("1_baseline.up.sql", "SELECT 1;\n");
    assert!(project.cutover(&db.url).args(["baseline", "1"]).output().unwrap().status.success());
    for n in 2..=300 {
        let sql = if n == 300 {
            "DROP TABLE users;\n".to_string()
        } else {
            format!(
                "CREATE TABLE t{n} (id int PRIMARY KEY, a text, b text, c text, d text);\nCREATE INDEX t{n}_a ON t{n} (a);\nCREATE INDEX t{n}_b ON t{n} (b);\n"
            )
        };
        project.migration(&format!("{n}_step.up.sql"), &sql);
    }
    let output = project.cutover(&db.url).args(["plan", "--format", "markdown"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stdout.chars().count() < 65_536, "{} characters", stdout.chars().count());
    assert!(stdout.contains("not shown in full here"), "{}", &stdout[stdout.len() - 2000..]);
    for n in 2..=300 {
        assert!(stdout.contains(&format!("`{n} step`")), "migration {n} is named");
    }
    assert!(stdout.contains("- `300 step`: 1 error, "), "{}", &stdout[stdout.len() - 500..]);
}
