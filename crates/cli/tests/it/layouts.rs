//! Every layout applies and reverts through the CLI, on PostgreSQL and on SQLite.

use serde_json::Value;

use crate::util::{PgDb, Project};

const M1_UP: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);";
const M1_DOWN: &str = "DROP TABLE accounts;";
const M2_UP: &str = "ALTER TABLE accounts ADD COLUMN name text;\nCREATE INDEX accounts_email_idx ON accounts (email);";
const M2_DOWN: &str = "DROP INDEX accounts_email_idx;\nALTER TABLE accounts DROP COLUMN name;";
const M3_UP: &str = "INSERT INTO accounts (id, email) VALUES (1, 'semi;colon@example.com');\nINSERT INTO accounts (id, email) VALUES (2, 'b@example.com');";
const M3_DOWN: &str = "DELETE FROM accounts WHERE id IN (1, 2);";

/// The same three migrations, the third without a transaction, in `layout`'s own files.
fn write_fixture(project: &Project, layout: &str) {
    match layout {
        "native" | "golang-migrate" => {
            project
                .migration("20240101000000_accounts.up.sql", M1_UP)
                .migration("20240101000000_accounts.down.sql", M1_DOWN)
                .migration("20240201000000_name.up.sql", M2_UP)
                .migration("20240201000000_name.down.sql", M2_DOWN)
                .migration("20240301000000_seed.up.sql", &format!("-- cutover:no-transaction\n{M3_UP}"))
                .migration("20240301000000_seed.down.sql", M3_DOWN);
        }
        "sqlx" => {
            project
                .migration("20240101000000_accounts.up.sql", M1_UP)
                .migration("20240101000000_accounts.down.sql", M1_DOWN)
                .migration("20240201000000_name.up.sql", M2_UP)
                .migration("20240201000000_name.down.sql", M2_DOWN)
                .migration("20240301000000_seed.up.sql", &format!("-- no-transaction\n{M3_UP}"))
                .migration("20240301000000_seed.down.sql", M3_DOWN);
        }
        "flyway" => {
            project
                .migration("V1__accounts.sql", M1_UP)
                .migration("U1__accounts.sql", M1_DOWN)
                .migration("v1_1/V1_1__name.sql", M2_UP)
                .migration("v1_1/U1_1__name.sql", M2_DOWN)
                .migration("V2__seed.sql", M3_UP)
                .migration("V2__seed.sql.conf", "executeInTransaction=false\n")
                .migration("U2__seed.sql", M3_DOWN);
        }
        "dbmate" => {
            project
                .migration(
                    "20240101000000_accounts.sql",
                    &format!("-- migrate:up\n{M1_UP}\n\n-- migrate:down\n{M1_DOWN}\n"),
                )
                .migration(
                    "20240201000000_name.sql",
                    &format!("-- migrate:up\n{M2_UP}\n\n-- migrate:down\n{M2_DOWN}\n"),
                )
                .migration(
                    "20240301000000_seed.sql",
                    &format!("-- migrate:up transaction:false\n{M3_UP}\n\n-- migrate:down\n{M3_DOWN}\n"),
                );
        }
        "goose" => {
            project
                .migration("00001_accounts.sql", &format!("-- +goose Up\n{M1_UP}\n\n-- +goose Down\n{M1_DOWN}\n"))
                .migration(
                    "00002_name.sql",
                    &format!("-- +goose Up\n-- +goose StatementBegin\n{M2_UP}\n-- +goose StatementEnd\n\n-- +goose Down\n{M2_DOWN}\n"),
                )
                .migration(
                    "00003_seed.sql",
                    &format!("-- +goose NO TRANSACTION\n-- +goose Up\n{M3_UP}\n\n-- +goose Down\n{M3_DOWN}\n"),
                );
        }
        "diesel" => {
            project
                .migration("2024-01-01-000000_accounts/up.sql", M1_UP)
                .migration("2024-01-01-000000_accounts/down.sql", M1_DOWN)
                .migration("2024-02-01-000000_name/up.sql", M2_UP)
                .migration("2024-02-01-000000_name/down.sql", M2_DOWN)
                .migration("2024-03-01-000000_seed/up.sql", M3_UP)
                .migration("2024-03-01-000000_seed/metadata.toml", "run_in_transaction = false\n")
                .migration("2024-03-01-000000_seed/down.sql", M3_DOWN);
        }
        other => panic!("no fixture for {other}"),
    }
}

fn states(project: &Project, url: &str, layout: &str) -> Vec<String> {
    let output = project.cutover(url).args(["status", "--format", "json", "--layout", layout]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    json["migrations"].as_array().unwrap().iter().map(|m| m["state"].as_str().unwrap().to_string()).collect()
}

/// Applies and reverts the fixture of `layout` against `url`; `count_rows` reads the row count.
fn round_trip(layout: &str, url: &str, count_rows: &dyn Fn() -> String) {
    let project = Project::new();
    write_fixture(&project, layout);
    assert_eq!(states(&project, url, layout), ["pending"; 3], "{layout}");

    project.cutover(url).args(["up", "--allow-unsafe", "--layout", layout]).assert().success();
    assert_eq!(states(&project, url, layout), ["applied"; 3], "{layout}");
    assert_eq!(count_rows(), "2", "{layout}");

    project.cutover(url).args(["down", "--layout", layout]).assert().success();
    assert_eq!(states(&project, url, layout), ["applied", "applied", "reverted"], "{layout}");
    assert_eq!(count_rows(), "0", "{layout}");

    project.cutover(url).args(["down", "--all", "--layout", layout]).assert().success();
    assert_eq!(states(&project, url, layout), ["reverted"; 3], "{layout}");

    // Reverted migrations apply again.
    project.cutover(url).args(["up", "--allow-unsafe", "--layout", layout]).assert().success();
    assert_eq!(states(&project, url, layout), ["applied"; 3], "{layout}");
}

const LAYOUTS: [&str; 7] = ["native", "golang-migrate", "sqlx", "flyway", "dbmate", "goose", "diesel"];

#[test]
fn every_layout_applies_and_reverts_on_postgres() {
    for layout in LAYOUTS {
        let db = PgDb::new();
        round_trip(layout, &db.url, &|| {
            let tables = db.tables();
            if tables.contains("accounts") {
                db.query("SELECT count(*) FROM accounts")
            } else {
                "0".to_string()
            }
        });
        // The no-transaction migration ran statement by statement, recording its progress.
        let progress = db.query("SELECT string_agg(statements_done::text, ',' ORDER BY id) FROM cutover_history WHERE transactional = false AND direction = 'up'");
        assert!(progress.starts_with("0,1,2,2"), "{layout}: {progress}");
    }
}

#[test]
fn every_layout_applies_and_reverts_on_sqlite() {
    for layout in LAYOUTS {
        let project_for_db = Project::new();
        let url = project_for_db.sqlite_url();
        let path = project_for_db.path("app.db");
        round_trip(layout, &url, &|| {
            // A missing table counts as zero rows.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.query_row("SELECT count(*) FROM accounts", [], |row| row.get::<_, i64>(0)).unwrap_or(0).to_string()
        });
    }
}

/// supabase's pop folders are templates: `{{ index .Options "Namespace" }}` is the schema the
/// application gives pop. `[pop] options` in cutover.toml gives it to cutover; without it, the
/// file's line says what is missing, and nothing runs.
#[test]
fn pop_templates_render_the_options_the_application_gives_pop() {
    let db = crate::util::PgDb::new();
    db.query("CREATE SCHEMA auth");
    let project = crate::util::Project::new();
    project
        .migration(
            "20210101000000_init.up.sql",
            "CREATE TABLE IF NOT EXISTS {{ index .Options \"Namespace\" }}.users (id uuid PRIMARY KEY);\n",
        )
        .migration(
            "20210102000000_email.up.sql",
            "ALTER TABLE {{ .Options.Namespace }}.users ADD COLUMN email text;\n",
        );
    // Generic files only read as cutover's own layout: the project says it is pop's.
    std::fs::write(project.path("cutover.toml"), "layout = \"pop\"\n").unwrap();
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = crate::util::output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("20210101000000_init.up.sql:1") && stderr.contains("[pop] options"), "{stderr}");
    std::fs::write(project.path("cutover.toml"), "layout = \"pop\"\n[pop]\noptions = { Namespace = \"auth\" }\n")
        .unwrap();
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", crate::util::output_text(&output));
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'auth' AND column_name = 'email'"
        ),
        "1"
    );
}

/// A Liquibase changeset run by cutover, then removed from its changelog: `up` stops and says
/// the changeset is gone from its file (the file is still there); `lint` says whose semantics it
/// judged the folder by.
#[test]
fn a_changeset_removed_after_it_ran_is_named_with_its_file() {
    let project = crate::util::Project::new();
    let url = project.sqlite_url();
    let both = "--liquibase formatted sql\n--changeset a:1\nCREATE TABLE t (id int);\n--changeset a:2\nALTER TABLE t ADD COLUMN n int;\n";
    project.migration("changelog.sql", both);
    project.cutover(&url).arg("up").assert().success();
    project.migration("changelog.sql", "--liquibase formatted sql\n--changeset a:1\nCREATE TABLE t (id int);\n");
    let output = project.cutover(&url).arg("up").output().unwrap();
    let (_, stderr) = crate::util::output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 a:2 was applied at") && stderr.contains("its changeset is gone from `changelog.sql`"),
        "{stderr}"
    );
    let output = project.cutover(&url).arg("lint").output().unwrap();
    let (_, stderr) = crate::util::output_text(&output);
    assert!(
        stderr.contains("is judged as Liquibase runs its files") && stderr.contains("--assume-runner cutover"),
        "{stderr}"
    );
}
