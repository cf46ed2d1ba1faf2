//! Real migration directories of public projects, read from `CUTOVER_CORPUS` (`.ci/run` sets
//! it to `../shared/corpus`; the files are never copied into this repository).
//!
//! Without the variable these tests say so and check nothing: the README's test command must
//! pass on a fresh clone that has no corpus beside it.

use std::path::PathBuf;

use cutover_migration::{discover, Dialect, Layout};

use crate::util::{PgDb, Project};

fn corpus() -> Option<PathBuf> {
    let root = std::env::var_os("CUTOVER_CORPUS").map(PathBuf::from);
    if root.is_none() {
        eprintln!("CUTOVER_CORPUS is not set: the corpus check did not run (bash .ci/run sets it)");
    }
    root
}

/// Every migrations folder of the corpus, in its own layout, read for its engine.
const DIRECTORIES: [(&str, Layout, Dialect); 18] = [
    ("ory-kratos/persistence/sql/migrations/sql", Layout::Pop, Dialect::Postgres),
    ("ory-kratos/persistence/sql/migrations/sql", Layout::Pop, Dialect::Mysql),
    ("ory-kratos/persistence/sql/migrations/sql", Layout::Pop, Dialect::Sqlite),
    ("documenso/packages/prisma/migrations", Layout::Prisma, Dialect::Postgres),
    ("langfuse/packages/shared/prisma/migrations", Layout::Prisma, Dialect::Postgres),
    ("rust-lang-registry/migrations", Layout::Diesel, Dialect::Postgres),
    ("lemmy/migrations", Layout::Diesel, Dialect::Postgres),
    ("vaultwarden/migrations/postgresql", Layout::Diesel, Dialect::Postgres),
    ("vaultwarden/migrations/mysql", Layout::Diesel, Dialect::Mysql),
    ("vaultwarden/migrations/sqlite", Layout::Diesel, Dialect::Sqlite),
    ("hatchet/cmd/hatchet-migrate/migrate/migrations", Layout::Goose, Dialect::Postgres),
    ("supabase-auth/migrations", Layout::Pop, Dialect::Postgres),
    ("authelia/internal/storage/migrations", Layout::Authelia, Dialect::Postgres),
    ("authelia/internal/storage/migrations", Layout::Authelia, Dialect::Mysql),
    ("authelia/internal/storage/migrations", Layout::Authelia, Dialect::Sqlite),
    ("temporal/schema/postgresql/v12/temporal/versioned", Layout::Temporal, Dialect::Postgres),
    ("temporal/schema/postgresql/v12/visibility/versioned", Layout::Temporal, Dialect::Postgres),
    ("temporal/schema/mysql/v8/temporal/versioned", Layout::Temporal, Dialect::Mysql),
];

/// Each folder is read in its layout for its engine: every file under it is read as (part of)
/// a migration or listed with the reason it is not, and the share of files read and of
/// migrations linted without a syntax error is printed (for the closing notes) and checked.
#[test]
fn corpus_directories_read_in_their_layouts() {
    let Some(root) = corpus() else { return };
    let (mut all_files, mut all_read, mut all_migrations, mut all_clean) = (0, 0, 0, 0);
    for (dir, layout, dialect) in DIRECTORIES {
        // supabase gives pop its schema as the `Namespace` option (`auth`), which its templates
        // render; `[pop] options` in cutover.toml says it.
        let pop_options = if dir.starts_with("supabase") {
            [("Namespace".to_string(), "auth".to_string())].into()
        } else {
            Default::default()
        };
        let options = cutover_migration::ReadOptions { dialect: Some(dialect), pop_options };
        let set = cutover_migration::discover_with(&root.join(dir), None, &options)
            .unwrap_or_else(|err| panic!("{dir}: {err}"));
        assert_eq!(set.layout, layout, "{dir}");
        let mut files = Vec::new();
        sql_files(&root.join(dir), &|_| true, &mut files);
        let used: std::collections::BTreeSet<&std::path::Path> = set
            .migrations
            .iter()
            .flat_map(|m| std::iter::once(m.up.path.as_path()).chain(m.down.iter().map(|d| d.path.as_path())))
            .collect();
        let listed: std::collections::BTreeSet<&std::path::Path> =
            set.ignored.iter().map(|i| i.path.as_path()).collect();
        // Listed itself, or in a folder listed (another engine's).
        let is_listed = |f: &std::path::Path| f.ancestors().any(|a| listed.contains(a));
        let unaccounted: Vec<&PathBuf> =
            files.iter().filter(|f| !used.contains(f.as_path()) && !is_listed(f)).collect();
        assert!(unaccounted.is_empty(), "{dir}: files neither read nor listed: {unaccounted:?}");
        let read = files.iter().filter(|f| used.contains(f.as_path())).count();
        let config = cutover_analysis::LintConfig { dialect, ..Default::default() };
        let linted = cutover_runner::lint_set(&set, &config);
        let clean = linted.iter().filter(|l| !l.diagnostics.iter().any(|d| d.rule == "syntax-error")).count();
        // Files pop renders from a template (read rendered).
        let templated = set
            .migrations
            .iter()
            .filter(|m| std::fs::read_to_string(&m.up.path).is_ok_and(|t| t.contains("{{")))
            .count();
        let n_statements: usize = set.migrations.iter().map(|m| m.up.statements.len()).sum();
        let n_downs = set.migrations.iter().filter(|m| m.down.is_some()).count();
        let n_no_tx = set.migrations.iter().filter(|m| !m.up.settings.transaction).count();
        eprintln!(
            "{dir} ({layout}, {}): {read} of {} .sql files read ({} listed), {} migrations ({templated} templated), {clean} linted without a syntax error, {n_statements} up statements, {n_downs} with down, {n_no_tx} without transaction",
            dialect.name(),
            files.len(),
            files.len() - read,
            set.migrations.len(),
        );
        assert!(set.migrations.len() > 10, "{dir}");
        // Versions strictly increase: no two migrations share one.
        for pair in set.migrations.windows(2) {
            assert!(pair[0].version < pair[1].version, "{dir}: {} then {}", pair[0].label(), pair[1].label());
        }
        (all_files, all_read, all_migrations, all_clean) =
            (all_files + files.len(), all_read + read, all_migrations + set.migrations.len(), all_clean + clean);
    }
    let clean_share = 100.0 * all_clean as f64 / all_migrations as f64;
    eprintln!(
        "corpus: {all_read} of {all_files} .sql file readings used by migrations (the rest listed with a reason: other engines' variants, verify scripts), {all_clean} of {all_migrations} migrations ({clean_share:.2}%) linted without a syntax error"
    );
    assert!(clean_share >= 99.0, "{clean_share:.2}%");
}

/// Applies a PostgreSQL project to an empty database with the CLI, up to `to` when given.
fn apply(root: &std::path::Path, dir: &str, to: Option<&str>) -> PgDb {
    let db = PgDb::new();
    let project = Project::new();
    let mut cmd = project.cutover(&db.url);
    // Public projects' migrations have findings; applying them is the point here.
    cmd.arg("--dir").arg(root.join(dir)).args(["up", "--allow-unsafe"]);
    if let Some(to) = to {
        cmd.args(["--to", to]);
    }
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{dir}: {}", String::from_utf8_lossy(&output.stderr));
    let set = discover(&root.join(dir), None).unwrap();
    let expected = set
        .migrations
        .iter()
        .filter(|m| to.is_none_or(|to| m.version.as_ref().is_some_and(|v| v.as_str() <= to)))
        .count();
    let applied: usize =
        db.query("SELECT count(DISTINCT version) FROM cutover_history WHERE state = 'applied'").parse().unwrap();
    assert_eq!(applied, expected, "{dir}");
    let status = project.cutover(&db.url).arg("--dir").arg(root.join(dir)).arg("validate").output().unwrap();
    assert!(status.status.success(), "{dir}: {}", String::from_utf8_lossy(&status.stdout));
    db
}

#[test]
fn crates_io_applies_to_an_empty_postgres() {
    let Some(root) = corpus() else { return };
    apply(&root, "rust-lang-registry/migrations", None);
}

/// Prisma projects, as Prisma runs them: its own `BEGIN; ... COMMIT;` pairs inside files, lone
/// `CREATE INDEX CONCURRENTLY` files, two folders with one timestamp (langfuse), and a backfill
/// that sets its isolation level (`SET TRANSACTION`) before its first query.
#[test]
fn prisma_projects_apply_to_an_empty_postgres() {
    let Some(root) = corpus() else { return };
    for dir in ["documenso/packages/prisma/migrations", "langfuse/packages/shared/prisma/migrations"] {
        let db = apply(&root, dir, None);
        let n_files = std::fs::read_dir(root.join(dir)).unwrap().flatten().filter(|e| e.path().is_dir()).count();
        assert_eq!(
            db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"),
            n_files.to_string(),
            "{dir}: every folder applied"
        );
    }
}

/// ory-kratos's popx folder, read for each engine as popx reads it: the engine's own variant
/// of a migration, else the generic file; `.autocommit.` files outside a transaction.
#[test]
fn kratos_pop_folder_applies_to_empty_postgres_and_sqlite() {
    let Some(root) = corpus() else { return };
    let dir = "ory-kratos/persistence/sql/migrations/sql";
    let db = apply(&root, dir, None);
    let applied: usize = db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'").parse().unwrap();
    let postgres =
        cutover_migration::discover_for(&root.join(dir), None, Some(cutover_migration::Dialect::Postgres)).unwrap();
    assert_eq!(applied, postgres.migrations.len());
    assert!(applied > 300, "{applied}");
    let project = Project::new();
    let url = project.sqlite_url();
    let output =
        project.cutover(&url).arg("--dir").arg(root.join(dir)).args(["up", "--allow-unsafe"]).output().unwrap();
    assert!(output.status.success(), "{}", crate::util::output_text(&output).1);
    let sqlite =
        cutover_migration::discover_for(&root.join(dir), None, Some(cutover_migration::Dialect::Sqlite)).unwrap();
    assert!(sqlite.migrations.len() > postgres.migrations.len(), "SQLite's table rebuilds are migrations of their own");
    eprintln!("{dir}: {} migrations for PostgreSQL, {} for SQLite", postgres.migrations.len(), sqlite.migrations.len());
}

#[test]
fn vaultwarden_applies_to_an_empty_postgres() {
    let Some(root) = corpus() else { return };
    apply(&root, "vaultwarden/migrations/postgresql", None);
}

#[test]
fn hatchet_goose_files_apply_to_an_empty_postgres() {
    let Some(root) = corpus() else { return };
    // 20260424205453 locks and renames `v1_*_olap_new` tables that hatchet's application
    // creates at run time, not any migration: on an empty database it cannot apply. `--to`
    // names a version the folder has (the one before it; a Go migration between is not run).
    apply(&root, "hatchet/cmd/hatchet-migrate/migrate/migrations", Some("20260421184231"));
}

#[test]
fn lemmy_applies_to_an_empty_postgres() {
    let Some(root) = corpus() else { return };
    let db = PgDb::new();
    let server_version: u32 = db.query("SHOW server_version_num").parse().unwrap();
    drop(db);
    // 2025-08-01-000016 writes `FROM (SELECT ...)` without an alias, which PostgreSQL accepts
    // only from version 16 on.
    let to = if server_version >= 160_000 { None } else { Some("20250801000015") };
    apply(&root, "lemmy/migrations", to);
}

/// Every `.sql` file under `dir` whose path passes `keep`, recursively.
fn sql_files(dir: &std::path::Path, keep: &dyn Fn(&str) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sql_files(&path, keep, out);
        } else if path.extension().is_some_and(|e| e == "sql") && keep(&path.to_string_lossy()) {
            out.push(path);
        }
    }
}

/// The analysis reads every PostgreSQL file of the corpus without panicking, and (almost) every
/// one parses: a file counts as failed when any of its statements is a `syntax-error`.
#[test]
fn analysis_parses_the_postgres_corpus() {
    let Some(root) = corpus() else { return };
    let mut files = Vec::new();
    let everything = |_: &str| true;
    for dir in
        ["rust-lang-registry", "lemmy", "vaultwarden/migrations/postgresql", "documenso", "langfuse", "supabase-auth"]
    {
        sql_files(&root.join(dir), &everything, &mut files);
    }
    sql_files(&root.join("authelia/internal/storage/migrations/postgres"), &everything, &mut files);
    sql_files(&root.join("temporal/schema/postgresql"), &everything, &mut files);
    // ory-kratos: the PostgreSQL variants and the files for every engine.
    sql_files(
        &root.join("ory-kratos"),
        &|p: &str| {
            p.ends_with(".postgres.up.sql")
                || p.ends_with(".postgres.down.sql")
                || !(p.contains(".mysql.") || p.contains(".sqlite") || p.contains(".cockroach."))
        },
        &mut files,
    );
    let mut n_failed = 0;
    let mut n_statements = 0;
    let mut failures = Vec::new();
    for path in &files {
        let text = cutover_migration::normalize(&std::fs::read_to_string(path).unwrap_or_default());
        // supabase-auth's files are Go templates of their namespace.
        let text = text.replace("{{ index .Options \"Namespace\" }}", "auth");
        let Ok(statements) = cutover_migration::split_statements(&text) else {
            n_failed += 1;
            failures.push(path.display().to_string());
            continue;
        };
        n_statements += statements.len();
        let diagnostics = cutover_analysis::lint_file(&text, &statements, true);
        if let Some(d) = diagnostics.iter().find(|d| d.rule == "syntax-error") {
            n_failed += 1;
            failures.push(format!("{}:{}: {}", path.display(), d.line, d.message));
        }
    }
    // hatchet's goose files, split by their sections.
    let hatchet = discover(&root.join("hatchet/cmd/hatchet-migrate/migrate/migrations"), None).unwrap();
    let config = cutover_analysis::LintConfig::default();
    for linted in cutover_runner::lint_set(&hatchet, &config) {
        n_statements += linted.migration.up.statements.len();
        if linted.diagnostics.iter().any(|d| d.rule == "syntax-error") {
            n_failed += 1;
            failures.push(linted.migration.up.path.display().to_string());
        }
    }
    let n_files = files.len() + hatchet.migrations.len();
    let ok = 100.0 * (n_files - n_failed) as f64 / n_files as f64;
    eprintln!("analysis over the PostgreSQL corpus: {n_files} files, {n_statements} statements, {n_failed} with a syntax error ({ok:.2}% clean)");
    for failure in failures.iter().take(20) {
        eprintln!("  {failure}");
    }
    assert!(n_files > 1500, "the corpus is there: {n_files} files");
    assert!(ok >= 99.5, "{ok:.2}% of the PostgreSQL corpus parses");
}

/// The findings on whole project directories, replayed in order, by rule: printed for the
/// closing notes, and checked for the directory-level rules that need the replay.
#[test]
fn analysis_findings_on_project_directories() {
    let Some(root) = corpus() else { return };
    let config = cutover_analysis::LintConfig::default();
    let mut totals = std::collections::BTreeMap::<&str, usize>::new();
    for dir in [
        "rust-lang-registry/migrations",
        "lemmy/migrations",
        "vaultwarden/migrations/postgresql",
        "hatchet/cmd/hatchet-migrate/migrate/migrations",
    ] {
        let set = discover(&root.join(dir), None).unwrap();
        let mut by_severity = [0usize; 3];
        for linted in cutover_runner::lint_set(&set, &config) {
            for d in linted.diagnostics {
                *totals.entry(d.rule).or_default() += 1;
                by_severity[d.severity as usize] += 1;
            }
        }
        eprintln!("{dir}: {} errors, {} warnings, {} infos", by_severity[2], by_severity[1], by_severity[0]);
    }
    for (rule, count) in &totals {
        eprintln!("  {rule}: {count}");
    }
    // crates.io adds foreign keys and indexes them; the replay must see both.
    assert!(totals.get("fk-missing-index").copied().unwrap_or(0) > 0);
    assert!(totals.contains_key("index-create-blocking"));
}

/// `cutover lint` on a Prisma folder judges each file as Prisma runs it (one script: a lone
/// `CREATE INDEX CONCURRENTLY` works), reads every folder, and lists nothing as unread.
#[test]
fn prisma_folders_lint_as_prisma_runs_them() {
    let Some(root) = corpus() else { return };
    for dir in ["documenso/packages/prisma/migrations", "langfuse/packages/shared/prisma/migrations"] {
        let (db, project) = (PgDb::new(), Project::new());
        let output = project
            .cutover(&db.url)
            .arg("--dir")
            .arg(root.join(dir))
            .args(["lint", "--format", "json"])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let n_folders = std::fs::read_dir(root.join(dir)).unwrap().flatten().filter(|e| e.path().is_dir()).count();
        assert_eq!(report["summary"]["files"], n_folders, "{dir}: every folder's migration.sql is linted");
        let diagnostics = report["diagnostics"].as_array().unwrap();
        let lone_cic = diagnostics.iter().filter(|d| d["rule"] == "concurrently-in-transaction").count();
        assert_eq!(lone_cic, 0, "{dir}: Prisma runs a lone CREATE INDEX CONCURRENTLY outside a transaction block");
        let built = diagnostics.iter().filter(|d| d["rule"] == "index-create-blocking").count();
        eprintln!("{dir}: {n_folders} files linted, {} findings, {built} index-create-blocking", diagnostics.len());
        assert!(built > 0, "{dir}: real findings remain");
    }
}

/// `cutover rehearse` on the projects that apply to an empty database: the locks and rewrites
/// the analysis predicts agree with what PostgreSQL does, statement by statement, except where
/// the analysis cannot see (listed), and the down scripts that do not reverse their up are
/// reported (printed for the closing notes).
#[test]
fn rehearsal_agrees_with_the_analysis_on_corpus_projects() {
    let Some(root) = corpus() else { return };
    // Statements whose locks depend on what the analysis does not model: objects a
    // `DROP VIEW ... CASCADE` takes with it (view dependencies are not replayed), and what the
    // triggers of a table do when its rows change (PL/pgSQL bodies are opaque).
    let known = [
        "20200121001001 create_private_message:DROP VIEW user_view CASCADE",
        "20200202004806 add_case_insensitive_usernames:DELETE FROM user_",
        "20200407135912 add_user_community_apub_constraints:DROP VIEW user_view CASCADE",
        "20200414163701 update_views_for_activitypub:DROP VIEW user_view CASCADE",
        "20200414163701 update_views_for_activitypub:DROP VIEW community_aggregates_view CASCADE",
    ];
    for dir in ["rust-lang-registry/migrations", "vaultwarden/migrations/postgresql", "lemmy/migrations"] {
        let db = PgDb::new();
        let project = Project::new();
        let output = project
            .cutover(&db.url)
            .arg("--dir")
            .arg(root.join(dir))
            .args(["rehearse", "--format", "json"])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{dir}: {}", String::from_utf8_lossy(&output.stderr)));
        let migrations = report["migrations"].as_array().unwrap();
        let mut statements = 0;
        let mut unexplained = Vec::new();
        let mut round_trips = std::collections::BTreeMap::<String, usize>::new();
        for m in migrations {
            *round_trips.entry(m["round_trip"].as_str().unwrap().to_string()).or_default() += 1;
            for s in m["statements"].as_array().unwrap() {
                statements += 1;
                let disagreements = s["disagreements"].as_array().unwrap();
                if disagreements.is_empty() {
                    continue;
                }
                let sql = s["sql"].as_str().unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
                let key = format!("{}:{sql}", m["migration"].as_str().unwrap());
                if !known.iter().any(|k| key.starts_with(k)) {
                    unexplained.push(format!("{key} -> {disagreements:?}"));
                }
            }
            if let Some(failure) = m["failure"].as_str() {
                eprintln!("{dir}: {} stops the rehearsal: {failure}", m["migration"]);
            }
        }
        eprintln!(
            "{dir}: {} migrations, {statements} statements rehearsed; round trips {round_trips:?}",
            migrations.len()
        );
        assert!(statements > 90, "{dir}: {statements}");
        assert!(
            unexplained.is_empty(),
            "{dir}: predictions that disagree with PostgreSQL:\n{}",
            unexplained.join("\n")
        );
    }
}

/// The MySQL and SQLite files of the corpus lint in their dialects: no panic, none with a
/// `syntax-error` (each ran on its server); the totals by rule are printed for the closing notes.
#[test]
fn analysis_reads_the_mysql_and_sqlite_corpus() {
    let Some(root) = corpus() else { return };
    for (dialect, marker) in
        [(cutover_analysis::Dialect::Mysql, "mysql"), (cutover_analysis::Dialect::Sqlite, "sqlite")]
    {
        let mut files = Vec::new();
        sql_files(&root, &|p: &str| p.to_ascii_lowercase().contains(marker), &mut files);
        let config = cutover_analysis::LintConfig {
            dialect,
            mysql_server: "mariadb-10.11".parse().unwrap(),
            ..cutover_analysis::LintConfig::default()
        };
        let mut failed = Vec::new();
        let mut totals = std::collections::BTreeMap::<&str, usize>::new();
        for path in &files {
            let text = cutover_migration::normalize(&std::fs::read_to_string(path).unwrap_or_default());
            let Ok(statements) = cutover_migration::split_statements(&text) else {
                failed.push(path.display().to_string());
                continue;
            };
            let mut linter = cutover_analysis::Linter::new(config.clone());
            let script = cutover_analysis::Script {
                text: &text,
                statements: &statements,
                in_transaction: false,
                no_transaction_by: None,
                has_down: None,
            };
            let diagnostics = linter.lint(&script).diagnostics;
            for d in &diagnostics {
                *totals.entry(d.rule).or_default() += 1;
            }
            if let Some(d) = diagnostics.iter().find(|d| d.rule == "syntax-error") {
                failed.push(format!("{}:{}: {}", path.display(), d.line, d.message));
            }
        }
        let ok = 100.0 * (files.len() - failed.len()) as f64 / files.len() as f64;
        eprintln!(
            "{marker}: {} files, {} with a syntax error ({ok:.2}% clean); findings {totals:?}",
            files.len(),
            failed.len()
        );
        for failure in failed.iter().take(10) {
            eprintln!("  {failure}");
        }
        assert!(files.len() > 500, "{marker}: {}", files.len());
        // Every file of the corpus is valid for its server: none is a syntax error.
        assert!(failed.is_empty(), "{marker}: {ok:.2}%: {failed:#?}");
    }
}

/// The MySQL/MariaDB oracle over the corpus: `cutover rehearse` runs each DDL statement of the
/// real projects' MySQL migrations on MariaDB with the cheapest `ALGORITHM=`/`LOCK=` the server
/// accepts, and every prediction must be what the server did. A migration MariaDB refuses as
/// written (a MySQL-only construct, an `INSERT` strict mode rejects) is taken out and the
/// rehearsal run again: its statements cannot be checked here. Down scripts are left out: the
/// oracle checks the ups in order (pop's downs are not each its up's reverse).
#[test]
fn rehearsal_on_mariadb_confirms_every_predicted_algorithm() {
    let Some(root) = corpus() else { return };
    for (dir, at_least) in
        [("ory-kratos/persistence/sql/migrations/sql", 300), ("authelia/internal/storage/migrations/mysql", 90)]
    {
        let project = Project::new();
        let folder = project.path("migrations");
        std::fs::create_dir_all(&folder).unwrap();
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".sql") && !name.ends_with("down.sql") {
                std::fs::copy(entry.path(), folder.join(&name)).unwrap();
            }
        }
        let mut taken_out = Vec::new();
        let report = loop {
            let db = crate::util::MyDb::new();
            let output = project.cutover(&db.url).args(["rehearse", "--format", "json"]).output().unwrap();
            let report: serde_json::Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|e| panic!("{dir}: {e}: {}", crate::util::output_text(&output).1));
            let failed = report["migrations"].as_array().unwrap().iter().find(|m| !m["failure"].is_null()).cloned();
            let Some(failed) = failed else { break report };
            assert!(taken_out.len() < 10, "{dir}: {taken_out:?}");
            let path = failed["path"].as_str().unwrap();
            taken_out.push(format!("{}: {}", failed["migration"], failed["failure"]));
            std::fs::remove_file(project.path(path)).unwrap();
        };
        let (mut checked, mut agreed, mut disagreements) = (0, 0, Vec::new());
        for migration in report["migrations"].as_array().unwrap() {
            for statement in migration["statements"].as_array().unwrap() {
                if statement["observed_concurrent_writes"].is_null() {
                    continue;
                }
                checked += 1;
                match statement["disagreements"].as_array().unwrap().as_slice() {
                    [] => agreed += 1,
                    found => disagreements.push(format!("{}: {}: {found:?}", migration["migration"], statement["sql"])),
                }
            }
        }
        eprintln!(
            "{dir}: {agreed} of {checked} DDL statements ran on MariaDB with the predicted algorithm and lock; {} migrations taken out as MariaDB refuses them as written",
            taken_out.len()
        );
        for taken in &taken_out {
            eprintln!("  taken out: {}", taken.chars().take(200).collect::<String>());
        }
        assert!(checked >= at_least, "{dir}: {checked}");
        assert!(disagreements.is_empty(), "{dir}:\n{}", disagreements.join("\n"));
    }
}
