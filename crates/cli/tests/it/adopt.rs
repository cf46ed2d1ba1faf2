//! `cutover adopt --from TOOL`: each tool's history table as the tool creates it (per its
//! documentation), adopted, and `cutover up` continuing with no migration applied twice.

use crate::util::{output_text, MyDb, PgDb, Project};

const A: &str = "CREATE TABLE a (id int);\n";
const B: &str = "CREATE TABLE b (id int);\n";
const C: &str = "CREATE TABLE c (id int);\n";
/// Flyway's CRC-32 and sqlx's SHA-384 of A and B (computed with Python's zlib and hashlib).
const FLYWAY_A: i32 = -623083431;
const FLYWAY_B: i32 = 1128195672;
const SQLX_A: &str = "52dcffb424aeb77cd96de966de88547001ad9656d3d53e03c8907e0f31653840336ff6b02aeb25a48ef7d46e1ce5f7f9";
const SQLX_B: &str = "dae284ff0ef19c762649405a7cd006569fb78697bf503d9d1286e420da5ef8443a8b9429010ec8e0b0272a3530ea52bf";

/// Writes migrations a, b, c in `layout`, returns the project.
fn project(layout: &str) -> Project {
    let project = Project::new();
    match layout {
        "flyway" | "refinery" => {
            project.migration("V1__a.sql", A).migration("V2__b.sql", B).migration("V3__c.sql", C);
        }
        "sqlx" => {
            project.migration("1_a.sql", A).migration("2_b.sql", B).migration("3_c.sql", C);
        }
        "golang-migrate" => {
            for (v, n, sql) in [(1, "a", A), (2, "b", B), (3, "c", C)] {
                project
                    .migration(&format!("{v}_{n}.up.sql"), sql)
                    .migration(&format!("{v}_{n}.down.sql"), &format!("DROP TABLE {n};\n"));
            }
        }
        "dbmate" => {
            for (v, n, sql) in [("20240101000001", "a", A), ("20240101000002", "b", B), ("20240101000003", "c", C)] {
                project.migration(
                    &format!("{v}_{n}.sql"),
                    &format!("-- migrate:up\n{sql}\n-- migrate:down\nDROP TABLE {n};\n"),
                );
            }
        }
        "goose" => {
            for (v, n, sql) in [("00001", "a", A), ("00002", "b", B), ("00003", "c", C)] {
                project.migration(
                    &format!("{v}_{n}.sql"),
                    &format!("-- +goose Up\n{sql}\n-- +goose Down\nDROP TABLE {n};\n"),
                );
            }
        }
        "diesel" => {
            for (v, n, sql) in
                [("2024-01-01-000001", "a", A), ("2024-01-01-000002", "b", B), ("2024-01-01-000003", "c", C)]
            {
                project
                    .migration(&format!("{v}_{n}/up.sql"), sql)
                    .migration(&format!("{v}_{n}/down.sql"), &format!("DROP TABLE {n};\n"));
            }
        }
        other => panic!("{other}"),
    }
    project
}

/// The tool's own table and rows after it applied a and b (the tables a and b exist too).
fn tool_history(tool: &str) -> String {
    let created = "CREATE TABLE a (id int); CREATE TABLE b (id int); ";
    let history = match tool {
        "flyway" => format!(
            "CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, version VARCHAR(50), \
             description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INTEGER, \
             installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(), execution_time INTEGER NOT NULL, \
             success BOOLEAN NOT NULL); \
             INSERT INTO flyway_schema_history VALUES (1, '1', 'a', 'SQL', 'V1__a.sql', {FLYWAY_A}, 'app', now(), 3, true), \
             (2, '2', 'b', 'SQL', 'V2__b.sql', {FLYWAY_B}, 'app', now(), 2, true);"
        ),
        "sqlx" => format!(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, \
             execution_time BIGINT NOT NULL); \
             INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES \
             (1, 'a', true, decode('{SQLX_A}', 'hex'), 1), (2, 'b', true, decode('{SQLX_B}', 'hex'), 1);"
        ),
        "golang-migrate" => "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); \
                             INSERT INTO schema_migrations VALUES (2, false);"
            .to_string(),
        "dbmate" => "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); \
                     INSERT INTO schema_migrations VALUES ('20240101000001'), ('20240101000002');"
            .to_string(),
        "goose" => "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, \
                    tstamp timestamp DEFAULT now()); \
                    INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (3, true), (3, false);"
            .to_string(),
        // As refinery creates it (refinery_core's `ASSERT_MIGRATIONS_TABLE_QUERY`).
        "refinery" => "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), \
                       applied_on VARCHAR(255), checksum VARCHAR(255)); \
                       INSERT INTO refinery_schema_history VALUES (1, 'a', '2024-01-01T00:00:00Z', '123'), \
                       (2, 'b', '2024-01-01T00:00:00Z', '456');"
            .to_string(),
        "diesel" => "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
                     run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP); \
                     INSERT INTO __diesel_schema_migrations (version) VALUES ('20240101000001'), ('20240101000002');"
            .to_string(),
        other => panic!("{other}"),
    };
    format!("{created}{history}")
}

#[test]
fn every_tool_is_adopted_and_up_continues_on_postgres() {
    for tool in ["flyway", "sqlx", "golang-migrate", "dbmate", "goose", "diesel", "refinery"] {
        let db = PgDb::new();
        db.query(&tool_history(tool));
        let project = project(tool);
        let output = project.cutover(&db.url).args(["adopt", "--from", tool]).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert!(output.status.success(), "{tool}: {stderr}");
        assert!(stdout.contains("adopted 2 migrations"), "{tool}: {stdout}");
        let status: serde_json::Value = serde_json::from_slice(
            &project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap().stdout,
        )
        .unwrap();
        let states: Vec<&str> =
            status["migrations"].as_array().unwrap().iter().map(|m| m["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["baselined", "baselined", "pending"], "{tool}");
        // `up` applies only c: a and b exist already, so applying them again would fail.
        let output = project.cutover(&db.url).arg("up").output().unwrap();
        assert!(output.status.success(), "{tool}: {}", output_text(&output).1);
        assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "1", "{tool}");
        assert_eq!(db.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'c'"), "1", "{tool}");
    }
}

#[test]
fn disagreements_refuse_the_adoption_and_record_nothing() {
    // Flyway: a file edited after it was applied.
    let db = PgDb::new();
    db.query(&tool_history("flyway"));
    let project = project("flyway");
    project.migration("V2__b.sql", "CREATE TABLE b (id bigint);\n");
    let output = project.cutover(&db.url).args(["adopt", "--from", "flyway"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("V2__b.sql was changed after flyway applied it"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM cutover_history"), "0");
    assert_eq!(db.query("SELECT count(*) FROM flyway_schema_history"), "2", "the tool's table is untouched");

    // golang-migrate: a dirty version.
    let db = PgDb::new();
    db.query(&tool_history("golang-migrate").replace("(2, false)", "(2, true)"));
    let output = project_for(&db, "golang-migrate");
    assert!(output.contains("recorded version 2 as failed (dirty)"), "{output}");

    // dbmate: a version with no file.
    let db = PgDb::new();
    db.query(&tool_history("dbmate").replace("('20240101000002')", "('20240101000002'), ('20230101000000')"));
    let output = project_for(&db, "dbmate");
    assert!(output.contains("applied version 20230101000000 but no migration file has that version"), "{output}");

    // No such table: nothing to adopt.
    let db = PgDb::new();
    let output = project_for(&db, "goose");
    assert!(output.contains("there is no `goose_db_version` table here"), "{output}");
}

fn project_for(db: &PgDb, tool: &str) -> String {
    let project = project(tool);
    let output = project.cutover(&db.url).args(["adopt", "--from", tool]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(db.try_query("SELECT count(*) FROM cutover_history").as_deref().unwrap_or("0"), "0");
    output_text(&output).1
}

#[test]
fn adopting_dbmate_on_mariadb_and_golang_migrate_on_sqlite() {
    let db = MyDb::new();
    db.query(
        "CREATE TABLE a (id int); CREATE TABLE b (id int); \
              CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); \
              INSERT INTO schema_migrations VALUES ('20240101000001'), ('20240101000002'); SELECT 1",
    );
    let project = project("dbmate");
    project.cutover(&db.url).args(["adopt", "--from", "dbmate"]).assert().success();
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "1");

    let project = self::project("golang-migrate");
    let url = project.sqlite_url();
    let path = project.path("app.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE a (id int); CREATE TABLE b (id int); \
         CREATE TABLE schema_migrations (version uint64, dirty bool); INSERT INTO schema_migrations VALUES (2, 0);",
    )
    .unwrap();
    drop(conn);
    project.cutover(&url).args(["adopt", "--from", "golang-migrate"]).assert().success();
    project.cutover(&url).arg("up").assert().success();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let applied: i64 =
        conn.query_row("SELECT count(*) FROM cutover_history WHERE state = 'applied'", [], |r| r.get(0)).unwrap();
    assert_eq!(applied, 1);
}

/// A tool `scripts/services.sh` installs under `.tools/` (from PyPI or npm).
fn installed_tool(relative: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(".tools").join(relative);
    assert!(path.exists(), "{} is missing: `bash scripts/services.sh` installs it", path.display());
    path
}

fn run_tool(mut command: std::process::Command) {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {:?}", output_text(&output));
}

#[test]
fn adopt_from_alembic_after_alembic_itself_migrated() {
    let db = PgDb::new();
    let alembic = installed_tool("alembic/bin/alembic");
    let work = tempfile::tempdir().unwrap();
    let mut init = std::process::Command::new(&alembic);
    init.args(["init", "alembic"]).current_dir(work.path());
    run_tool(init);
    let ini = work.path().join("alembic.ini");
    let sqlalchemy_url = db.url.replacen("postgres://", "postgresql+psycopg2://", 1);
    let text = std::fs::read_to_string(&ini).unwrap().replace("driver://user:pass@localhost/dbname", &sqlalchemy_url);
    std::fs::write(&ini, text).unwrap();
    let revision = |id: &str, down: &str, sql: &str| {
        format!(
            "from alembic import op\nrevision = '{id}'\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\
             def upgrade():\n    op.execute(\"{sql}\")\n\ndef downgrade():\n    pass\n"
        )
    };
    let versions = work.path().join("alembic/versions");
    std::fs::write(versions.join("a1b2c3d4e5f6_create_a.py"), revision("a1b2c3d4e5f6", "None", A.trim())).unwrap();
    std::fs::write(versions.join("b2c3d4e5f6a7_create_b.py"), revision("b2c3d4e5f6a7", "'a1b2c3d4e5f6'", B.trim()))
        .unwrap();
    let mut upgrade = std::process::Command::new(&alembic);
    upgrade.args(["upgrade", "head"]).current_dir(work.path());
    run_tool(upgrade);
    assert_eq!(db.query("SELECT version_num FROM alembic_version"), "b2c3d4e5f6a7");

    // The same revisions as SQL files named by revision id, and one new migration.
    let project = Project::new();
    project
        .migration("0001_a1b2c3d4e5f6_create_a.up.sql", A)
        .migration("0002_b2c3d4e5f6a7_create_b.up.sql", B)
        .migration("0003_create_c.up.sql", C);
    let output = project.cutover(&db.url).args(["adopt", "--from", "alembic"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert!(output_text(&output).0.contains("2 migration"), "{:?}", output_text(&output));
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(
        db.query("SELECT string_agg(version || ':' || state, ',' ORDER BY id) FROM cutover_history"),
        "0001:baselined,0002:baselined,0003:applied"
    );
    assert_eq!(db.query("SELECT version_num FROM alembic_version"), "b2c3d4e5f6a7", "alembic's table untouched");

    // A head revision no file names: refused, nothing recorded.
    let other = PgDb::new();
    other.query("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('ffff00001111')");
    let output = project.cutover(&other.url).args(["adopt", "--from", "alembic"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output_text(&output).1.contains("alembic's current revision ffff00001111 has no migration file naming it"));
}

#[test]
fn adopt_from_knex_after_knex_itself_migrated() {
    let db = PgDb::new();
    let knex = installed_tool("knex/node_modules/.bin/knex");
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("migrations")).unwrap();
    std::fs::write(
        work.path().join("knexfile.js"),
        format!("module.exports = {{ client: 'pg', connection: '{}' }};\n", db.url),
    )
    .unwrap();
    for (name, sql) in [("20240101000001_create_a", A), ("20240101000002_create_b", B)] {
        std::fs::write(
            work.path().join(format!("migrations/{name}.js")),
            format!("exports.up = (knex) => knex.raw('{}');\nexports.down = () => Promise.resolve();\n", sql.trim()),
        )
        .unwrap();
    }
    let mut migrate = std::process::Command::new("node");
    migrate.arg(&knex).args(["migrate:latest", "--knexfile", "knexfile.js"]).current_dir(work.path());
    // knex finds its own modules next to the knexfile; point it at the installed ones.
    migrate.env("NODE_PATH", installed_tool("knex/node_modules"));
    run_tool(migrate);
    assert_eq!(
        db.query("SELECT string_agg(name, ',' ORDER BY id) FROM knex_migrations"),
        "20240101000001_create_a.js,20240101000002_create_b.js"
    );

    let project = Project::new();
    project
        .migration("20240101000001_create_a.up.sql", A)
        .migration("20240101000002_create_b.up.sql", B)
        .migration("20240101000003_create_c.up.sql", C);
    let output = project.cutover(&db.url).args(["adopt", "--from", "knex"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(
        db.query("SELECT string_agg(version || ':' || state, ',' ORDER BY id) FROM cutover_history"),
        "20240101000001:baselined,20240101000002:baselined,20240101000003:applied"
    );

    // A file renamed since knex applied it: refused, nothing recorded.
    let renamed = Project::new();
    renamed.migration("20240101000001_create_a.up.sql", A).migration("20240101000002_make_b.up.sql", B);
    let other = PgDb::new();
    other.query("CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch int, migration_time timestamptz); INSERT INTO knex_migrations (name, batch) VALUES ('20240101000001_create_a.js', 1), ('20240101000002_create_b.js', 1)");
    let output = renamed.cutover(&other.url).args(["adopt", "--from", "knex"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = output_text(&output).1;
    assert!(
        stderr.contains(
            "knex applied `20240101000002_create_b.js` but the file with version 20240101000002 is named `make_b`"
        ),
        "{stderr}"
    );
    assert_eq!(other.query("SELECT count(*) FROM cutover_history"), "0");
}

#[test]
fn adopt_from_dbmate_after_dbmate_itself_migrated() {
    let db = PgDb::new();
    let dbmate = installed_tool("dbmate/node_modules/.bin/dbmate");
    let project = project("dbmate");
    // dbmate applies the first two (the third is added after), in the folder cutover reads too.
    let third = project.path("migrations/20240101000003_c.sql");
    let third_text = std::fs::read_to_string(&third).unwrap();
    std::fs::remove_file(&third).unwrap();
    let mut up = std::process::Command::new(&dbmate);
    up.args(["--no-dump-schema", "--migrations-dir", "migrations", "up"])
        .current_dir(project.path(""))
        .env("DATABASE_URL", format!("{}?sslmode=disable", db.url));
    run_tool(up);
    assert_eq!(
        db.query("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations"),
        "20240101000001,20240101000002"
    );
    std::fs::write(&third, third_text).unwrap();
    let output = project.cutover(&db.url).args(["adopt", "--from", "dbmate"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(
        db.query("SELECT string_agg(version || ':' || state, ',' ORDER BY id) FROM cutover_history"),
        "20240101000001:baselined,20240101000002:baselined,20240101000003:applied"
    );
    assert_eq!(db.query("SELECT count(*) FROM schema_migrations"), "2", "dbmate's table untouched");
}

#[test]
fn adopt_from_sqlx_after_sqlx_cli_itself_migrated() {
    let db = PgDb::new();
    let sqlx = installed_tool("sqlx/bin/sqlx");
    let project = project("sqlx");
    let third = project.path("migrations/3_c.sql");
    std::fs::remove_file(&third).unwrap();
    let mut run = std::process::Command::new(&sqlx);
    run.args(["migrate", "run", "--source", "migrations", "--database-url", &db.url]).current_dir(project.path(""));
    run_tool(run);
    assert_eq!(db.query("SELECT string_agg(version::text, ',' ORDER BY version) FROM _sqlx_migrations"), "1,2");
    std::fs::write(&third, C).unwrap();
    // sqlx's own SHA-384 checksums, checked against the files.
    let output = project.cutover(&db.url).args(["adopt", "--from", "sqlx"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(
        db.query("SELECT string_agg(version || ':' || state, ',' ORDER BY id) FROM cutover_history"),
        "1:baselined,2:baselined,3:applied"
    );
}

#[test]
fn adopt_from_refinery_after_refinery_cli_itself_migrated() {
    let db = PgDb::new();
    let refinery = installed_tool("refinery/bin/refinery");
    let project = project("refinery");
    let third = project.path("migrations/V3__c.sql");
    std::fs::remove_file(&third).unwrap();
    let mut run = std::process::Command::new(&refinery);
    run.args(["migrate", "-e", "REFINERY_DB_URL", "-p", "migrations"])
        .env("REFINERY_DB_URL", &db.url)
        .current_dir(project.path(""));
    run_tool(run);
    assert_eq!(db.query("SELECT string_agg(version::text, ',' ORDER BY version) FROM refinery_schema_history"), "1,2");
    std::fs::write(&third, C).unwrap();
    let output = project.cutover(&db.url).args(["adopt", "--from", "refinery"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(
        db.query("SELECT string_agg(version || ':' || state, ',' ORDER BY id) FROM cutover_history"),
        "1:baselined,2:baselined,3:applied"
    );
}

/// `_prisma_migrations` exactly as Prisma Migrate creates it on PostgreSQL (its schema engine's
/// definition; the Prisma CLI itself downloads its engines from outside the registries this
/// machine reaches), with the rows `prisma migrate deploy` writes: the folder's name, the
/// SHA-256 of `migration.sql`, and an attempt that failed and was marked rolled back.
const PRISMA_TABLE: &str = r#"CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id")
);"#;

fn prisma_row(id: u32, name: &str, sql: &str, finished: bool, rolled_back: bool) -> String {
    use sha2::Digest;
    let checksum: String = sha2::Sha256::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, rolled_back_at, started_at, applied_steps_count) \
         VALUES ('{id}', '{checksum}', {}, '{name}', {}, now() + interval '{id} seconds', {});",
        if finished { "now()" } else { "NULL" },
        if rolled_back { "now()" } else { "NULL" },
        u32::from(finished)
    )
}

fn prisma_project() -> Project {
    let project = Project::new();
    project.migration("migration_lock.toml", "# Please do not edit this file manually\nprovider = \"postgresql\"\n");
    project.migration("20240101000000_init/migration.sql", A);
    // Two folders with one timestamp: Prisma knows a migration by its folder's whole name.
    project.migration("20240102000000_b/migration.sql", B);
    project.migration("20240102000000_b_index/migration.sql", "CREATE INDEX CONCURRENTLY b_id ON b (id);\n");
    project.migration("20240103000000_c/migration.sql", C);
    project
}

#[test]
fn adopt_from_prisma_then_up_applies_only_what_prisma_did_not() {
    let db = PgDb::new();
    db.query(&format!(
        "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE INDEX b_id ON b (id); {PRISMA_TABLE} {} {} {} {}",
        prisma_row(1, "20240101000000_init", A, true, false),
        // Failed once, marked rolled back, then applied: the rolled-back attempt is ignored.
        prisma_row(2, "20240102000000_b", B, false, true),
        prisma_row(3, "20240102000000_b", B, true, false),
        prisma_row(4, "20240102000000_b_index", "CREATE INDEX CONCURRENTLY b_id ON b (id);\n", true, false),
    ));
    let project = prisma_project();
    let stdout = adopted(&project, &db.url, "prisma");
    assert!(stdout.contains("adopted 3 migrations"), "{stdout}");
    let output = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let states: Vec<(&str, &str)> = status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].as_str().unwrap(), m["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("20240101000000_init", "baselined"),
            ("20240102000000_b", "baselined"),
            ("20240102000000_b_index", "baselined"),
            ("20240103000000_c", "pending")
        ]
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(
        db.query("SELECT string_agg(version, ',') FROM cutover_history WHERE state = 'applied'"),
        "20240103000000_c"
    );
    assert_eq!(db.query("SELECT count(*) FROM _prisma_migrations"), "4", "Prisma's table is untouched");
    // `--to` takes a folder's whole name: only c is after it, and Prisma writes no down script.
    let output = project.cutover(&db.url).args(["down", "--to", "20240102000000_b_index"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("  - 20240103000000_c has no down script\n"), "{stderr}");
}

#[test]
fn prisma_disagreements_refuse_the_adoption_and_record_nothing() {
    let cases = [
        // An edited file.
        (
            prisma_row(1, "20240101000000_init", "CREATE TABLE a (id bigint);\n", true, false),
            "20240101000000_init/migration.sql was changed after prisma applied it",
        ),
        // Started and never finished: Prisma itself refuses to deploy past it.
        (
            prisma_row(1, "20240101000000_init", A, false, false),
            "prisma recorded version 20240101000000_init as failed",
        ),
        // A migration Prisma applied whose folder is gone.
        (
            prisma_row(1, "20231231000000_gone", A, true, false),
            "applied version 20231231000000_gone but no migration file has that version",
        ),
    ];
    for (row, expected) in cases {
        let db = PgDb::new();
        db.query(&format!("CREATE TABLE a (id int); {PRISMA_TABLE} {row}"));
        let project = prisma_project();
        let output = project.cutover(&db.url).args(["adopt", "--from", "prisma"]).output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert_eq!(db.try_query("SELECT count(*) FROM cutover_history").as_deref().unwrap_or("0"), "0");
    }
    // A checkout on Windows (CRLF) is not an edit: Prisma accepts it too.
    let db = PgDb::new();
    db.query(&format!(
        "CREATE TABLE a (id int); {PRISMA_TABLE} {}",
        prisma_row(1, "20240101000000_init", A, true, false)
    ));
    let project = prisma_project();
    project.migration("20240101000000_init/migration.sql", &A.replace('\n', "\r\n"));
    let output = project.cutover(&db.url).args(["adopt", "--from", "prisma"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
}

/// Sqitch itself (Debian's `sqitch`) deploys two changes and tags them, then one is reworked;
/// `cutover adopt --from sqitch` takes over its registry, and `cutover up` deploys only the
/// reworked change, from the same folder. Sqitch's registry is untouched.
#[test]
fn adopt_from_sqitch_after_sqitch_itself_deployed() {
    let db = PgDb::new();
    let project = Project::new();
    let top = project.path("migrations");
    std::fs::create_dir_all(&top).unwrap();
    let sqitch = |args: &[&str]| {
        let mut command = std::process::Command::new("sqitch");
        command
            .args(args)
            .current_dir(&top)
            .env("HOME", project.path("."))
            .env("SQITCH_FULLNAME", "Test User")
            .env("SQITCH_EMAIL", "test@example.com");
        run_tool(command);
    };
    let target = db.url.replacen("postgres://", "db:pg://", 1);
    sqitch(&["init", "flipr", "--engine", "pg", "--target", &target]);
    sqitch(&["add", "appschema", "-n", "Add schema."]);
    sqitch(&["add", "users", "--requires", "appschema", "-n", "Users."]);
    let write = |path: &str, text: &str| std::fs::write(top.join(path), text).unwrap();
    write("deploy/appschema.sql", "-- Deploy flipr:appschema to pg\n\nBEGIN;\n\nCREATE SCHEMA flipr;\n\nCOMMIT;\n");
    write("revert/appschema.sql", "BEGIN;\nDROP SCHEMA flipr;\nCOMMIT;\n");
    write("deploy/users.sql", "BEGIN;\nCREATE TABLE flipr.users (nickname text PRIMARY KEY);\nCOMMIT;\n");
    write("revert/users.sql", "BEGIN;\nDROP TABLE flipr.users;\nCOMMIT;\n");
    sqitch(&["deploy"]);
    sqitch(&["tag", "v1.0", "-n", "Tag v1.0."]);
    sqitch(&["rework", "users", "-n", "Users get a password."]);
    write("deploy/users.sql", "BEGIN;\nALTER TABLE flipr.users ADD COLUMN password text;\nCOMMIT;\n");
    write("revert/users.sql", "BEGIN;\nALTER TABLE flipr.users DROP COLUMN password;\nCOMMIT;\n");

    let stdout = adopted(&project, &db.url, "sqitch");
    assert!(stdout.contains("adopted 2 migrations"), "{stdout}");
    let output = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let states: Vec<(&str, &str, &str)> = status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].as_str().unwrap(), m["name"].as_str().unwrap(), m["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("1", "appschema", "baselined"), ("2", "users", "baselined"), ("3", "users", "pending")]);
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'flipr' AND column_name = 'password'"
        ),
        "1"
    );
    assert_eq!(db.query("SELECT count(*) FROM sqitch.changes"), "2", "Sqitch's registry is untouched");
    // The reworked change reverts with its own script.
    let output = project.cutover(&db.url).arg("down").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(
        db.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'flipr' AND column_name = 'password'"
        ),
        "0"
    );

    // A deploy script edited after Sqitch deployed it: the adoption is refused, nothing recorded.
    let db = PgDb::new();
    let target = db.url.replacen("postgres://", "db:pg://", 1);
    sqitch(&["deploy", &target, "--to", "users@v1.0"]);
    write("deploy/appschema.sql", "BEGIN;\nCREATE SCHEMA flipr AUTHORIZATION postgres;\nCOMMIT;\n");
    let output = project.cutover(&db.url).args(["adopt", "--from", "sqitch"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deploy/appschema.sql was changed after sqitch applied it"), "{stderr}");
    assert_eq!(db.try_query("SELECT count(*) FROM cutover_history").as_deref().unwrap_or("0"), "0");
}

/// What another tool applied is held to what cutover applies: a file edited since is
/// `modified` (and `validate` fails), and a migration older than an adopted one is out of order.
#[test]
fn adopted_migrations_are_checked_and_ordered_like_applied_ones() {
    let db = PgDb::new();
    db.query(&format!(
        "CREATE TABLE a (id int); CREATE TABLE c (id int); {PRISMA_TABLE} {} {}",
        prisma_row(1, "20240101000000_init", A, true, false),
        prisma_row(2, "20240103000000_c", C, true, false),
    ));
    let project = prisma_project();
    std::fs::remove_file(project.path("migrations/20240102000000_b_index/migration.sql")).unwrap();
    std::fs::remove_dir(project.path("migrations/20240102000000_b_index")).unwrap();
    let output = project.cutover(&db.url).args(["adopt", "--from", "prisma"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    // b is older than c, which Prisma applied: out of order, as if cutover had applied c.
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("out of order"), "{stderr}");
    assert!(project.cutover(&db.url).args(["up", "--allow-out-of-order"]).output().unwrap().status.success());
    // An adopted migration edited since.
    project.migration("20240101000000_init/migration.sql", "CREATE TABLE a (id bigint);\n");
    let output = project.cutover(&db.url).arg("validate").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(format!("{stdout}{stderr}").contains("20240101000000_init/migration.sql"), "{stdout}{stderr}");
}

/// A Sqitch registry that holds other projects only: refused, naming them.
#[test]
fn a_sqitch_registry_of_another_project_is_refused() {
    let db = PgDb::new();
    db.query(
        "CREATE SCHEMA sqitch; CREATE TABLE sqitch.changes (change_id text PRIMARY KEY, script_hash text, change text NOT NULL, \
         project text NOT NULL, note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), \
         committer_name text NOT NULL DEFAULT 'u', committer_email text NOT NULL DEFAULT 'u@e', planned_at timestamptz NOT NULL DEFAULT now(), \
         planner_name text NOT NULL DEFAULT 'u', planner_email text NOT NULL DEFAULT 'u@e'); \
         INSERT INTO sqitch.changes (change_id, script_hash, change, project) VALUES ('x', 'y', 'appschema', 'other');",
    );
    let project = Project::new();
    project.migration("sqitch.plan", "%project=flipr\nappschema 2026-12-05T15:40:43Z U <u@e.com>\n");
    project.migration("deploy/appschema.sql", "CREATE SCHEMA flipr;\n");
    let output = project.cutover(&db.url).args(["adopt", "--from", "sqitch"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("holds no change of project `flipr`") && stderr.contains("`other`"), "{stderr}");
}

/// Liquibase's command-line tool, from npm's `liquibase` package (`scripts/services.sh`).
fn liquibase(db: &PgDb, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let tool = installed_tool("liquibase/node_modules/liquibase/dist/liquibase/liquibase");
    // `postgres://user[:password]@host:port/name` as JDBC takes it.
    let rest = db.url.split_once("://").map_or(db.url.as_str(), |(_, rest)| rest);
    let (credentials, address) = rest.rsplit_once('@').unwrap_or(("postgres", rest));
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let address = address.split('?').next().unwrap_or(address);
    let mut command = std::process::Command::new(tool);
    command
        .arg(format!("--url=jdbc:postgresql://{address}"))
        .arg(format!("--username={user}"))
        .arg(format!("--password={password}"))
        .args(["--show-banner=false", "--log-level=WARNING"])
        .args(args)
        .current_dir(dir);
    command.output().unwrap()
}

/// `cutover adopt --from TOOL`, which must succeed; its output.
fn adopted(project: &Project, url: &str, tool: &str) -> String {
    let output = project.cutover(url).args(["adopt", "--from", tool]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// `cutover status`'s migrations: version, name and state of each.
fn statuses(project: &Project, url: &str) -> Vec<[String; 3]> {
    let output = project.cutover(url).args(["status", "--format", "json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let text = |m: &serde_json::Value, key: &str| m[key].as_str().unwrap_or_default().to_string();
    status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| [text(m, "version"), text(m, "name"), text(m, "state")])
        .collect()
}

/// Liquibase's master changelog `changelog.xml` in the project, running every changelog under
/// `path` (`includeAll`).
fn include_all(project: &Project, path: &str) {
    let xml = format!(
        "<databaseChangeLog xmlns=\"http://www.liquibase.org/xml/ns/dbchangelog\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.liquibase.org/xml/ns/dbchangelog https://www.liquibase.org/xml/ns/dbchangelog/dbchangelog-latest.xsd\">\n\
         <includeAll path=\"{path}\"/>\n</databaseChangeLog>\n"
    );
    std::fs::write(project.path("changelog.xml"), xml).unwrap();
}

/// A changelog with what real projects write: comments inside SQL, `--comment:` lines,
/// `runInTransaction:false`, a `dbms` filter, multi-line SQL with blank lines and indentation,
/// a block rollback, `--rollback not required`.
const LIQUIBASE_PEOPLE: &str = "--liquibase formatted sql\n\n\
    --changeset alice:create-person\n\
    --comment: the first table\n\
    CREATE TABLE person (\n    id int PRIMARY KEY,\n\n    name varchar(50)   NOT NULL\n);\n\
    -- an ordinary comment stays SQL\n\
    INSERT INTO person VALUES (1, 'Ada');\n\
    --rollback DROP TABLE person;\n\n\
    --changeset alice:person-name-index runInTransaction:false\n\
    CREATE INDEX CONCURRENTLY person_name ON person (name);\n\
    /* liquibase rollback\n\
    DROP INDEX person_name;\n\
    */\n\n\
    --changeset \"Bob Smith\":oracle-only dbms:oracle\n\
    CREATE TABLE dual_things (id number);\n\n\
    --changeset bob:add-email context:prod labels:v2\n\
    ALTER TABLE person ADD COLUMN email text;\n\
    --rollback not required\n";

/// Liquibase itself (4.28, from npm) runs a folder of formatted SQL changelogs on PostgreSQL;
/// `cutover adopt --from liquibase` checks every changeset's checksum against
/// `databasechangelog` and records them; `up` then runs only the changeset added since, and
/// Liquibase's table is untouched. An edited changeset refuses the adoption with its line.
#[test]
fn adopt_from_liquibase_after_liquibase_itself_ran() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("changes/001_people.sql", LIQUIBASE_PEOPLE)
        .migration("changes/002_orders.sql", "--liquibase formatted sql\n--changeset carol:orders\nCREATE TABLE orders (id bigint PRIMARY KEY, person int REFERENCES person);\n--rollback DROP TABLE orders;\n");
    // Liquibase's own master changelog, beside the folder, as projects keep it.
    include_all(&project, "migrations/changes/");
    let output = liquibase(&db, &project.path("."), &["--changelog-file=changelog.xml", "update"]);
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT count(*) FROM databasechangelog"), "4", "the oracle changeset is skipped");

    // One more changeset, written after Liquibase ran.
    project.migration(
        "changes/003_phone.sql",
        "--liquibase formatted sql\n--changeset carol:phone\nALTER TABLE person ADD COLUMN phone text;\n--rollback ALTER TABLE person DROP COLUMN phone;\n",
    );
    let stdout = adopted(&project, &db.url, "liquibase");
    assert!(stdout.contains("adopted 4 migrations"), "{stdout}");
    assert_eq!(
        statuses(&project, &db.url),
        [
            ["1", "alice:create-person", "baselined"],
            ["2", "alice:person-name-index", "baselined"],
            ["3", "bob:add-email", "baselined"],
            ["4", "carol:orders", "baselined"],
            ["5", "carol:phone", "pending"]
        ]
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'phone'"), "1");
    assert_eq!(db.query("SELECT count(*) FROM person"), "1", "nothing ran twice");
    assert_eq!(db.query("SELECT count(*) FROM databasechangelog"), "4", "Liquibase's table is untouched");
    let output = project.cutover(&db.url).arg("down").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'phone'"), "0");

    // A changeset appended to the first changelog, as Liquibase users do: it moves every later
    // changeset's place, and only it is pending (changesets are known by author, id and file);
    // an edit of a rollback or of white space is no edit, as for Liquibase.
    let appended = format!(
        "{}\n--changeset alice:person-note\nALTER TABLE person ADD COLUMN note text;\n--rollback ALTER TABLE person DROP COLUMN note;\n",
        LIQUIBASE_PEOPLE.replace("--rollback DROP TABLE person;", "--rollback DROP TABLE person CASCADE;").replace("    id int", "\tid int")
    );
    project.migration("changes/001_people.sql", &appended);
    let states: Vec<[String; 2]> =
        statuses(&project, &db.url).into_iter().map(|[_, name, state]| [name, state]).collect();
    assert_eq!(
        states,
        [
            ["alice:create-person", "baselined"],
            ["alice:person-name-index", "baselined"],
            ["bob:add-email", "baselined"],
            ["alice:person-note", "pending"],
            ["carol:orders", "baselined"],
            ["carol:phone", "reverted"]
        ]
    );
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE column_name IN ('note', 'phone')"), "2");
    project.migration("changes/001_people.sql", LIQUIBASE_PEOPLE);

    // A changeset edited after Liquibase ran it (whitespace alone is no edit to Liquibase).
    let db = PgDb::new();
    std::fs::remove_file(project.path("migrations/changes/003_phone.sql")).unwrap();
    let output = liquibase(&db, &project.path("."), &["--changelog-file=changelog.xml", "update"]);
    assert!(output.status.success(), "{:?}", output_text(&output));
    let respaced = LIQUIBASE_PEOPLE.replace("    name varchar(50)   NOT NULL", "name varchar(50) NOT NULL");
    project.migration("changes/001_people.sql", &respaced);
    let output = liquibase(&db, &project.path("."), &["--changelog-file=changelog.xml", "validate"]);
    assert!(output.status.success(), "Liquibase accepts whitespace changes: {:?}", output_text(&output));
    let edited = respaced.replace("'Ada'", "'Grace'");
    project.migration("changes/001_people.sql", &edited);
    let output = project.cutover(&db.url).args(["adopt", "--from", "liquibase"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("changeset `alice:create-person` (changes/001_people.sql:3) was changed after liquibase ran it"),
        "{stderr}"
    );
    let output = liquibase(&db, &project.path("."), &["--changelog-file=changelog.xml", "validate"]);
    assert!(!output.status.success(), "Liquibase refuses the same edit");
    assert_eq!(db.try_query("SELECT count(*) FROM cutover_history").as_deref().unwrap_or("0"), "0");
}

/// Writes `atlas.sum` for the folder as `atlas migrate hash` does.
fn atlas_migrate_hash(dir: &std::path::Path) {
    let (hashes, total) = cutover_migration::atlas_sum(dir).unwrap();
    let mut sum = format!("h1:{total}\n");
    for (name, hash) in hashes {
        sum.push_str(&format!("{name} h1:{hash}\n"));
    }
    std::fs::write(dir.join("atlas.sum"), sum).unwrap();
}

/// Atlas's revisions table as its schema defines it (`cmd/atlas/internal/migrate/ent`), with a
/// row per version it ran: the Atlas CLI itself downloads from outside the reachable registries.
fn atlas_revisions(db: &PgDb, rows: &[(&str, &str, i64, i64, &str)]) {
    db.query(
        "CREATE SCHEMA atlas_schema_revisions; \
         CREATE TABLE atlas_schema_revisions.atlas_schema_revisions (version character varying NOT NULL, \
         description character varying NOT NULL, type bigint NOT NULL DEFAULT 2, applied bigint NOT NULL DEFAULT 0, \
         total bigint NOT NULL DEFAULT 0, executed_at timestamptz NOT NULL, execution_time bigint NOT NULL, \
         error text NULL, error_stmt text NULL, hash character varying NOT NULL, partial_hashes jsonb NULL, \
         operator_version character varying NOT NULL, PRIMARY KEY (version))",
    );
    for (version, description, applied, total, hash) in rows {
        db.query(&format!(
            "INSERT INTO atlas_schema_revisions.atlas_schema_revisions VALUES \
             ('{version}', '{description}', 2, {applied}, {total}, now(), 1000, NULL, NULL, '{hash}', NULL, 'Atlas CLI v0.30.0')"
        ));
    }
}

/// An Atlas folder: `atlas.sum` is checked as Atlas checks it, `adopt --from atlas` takes over
/// the revisions Atlas recorded (their hashes against atlas.sum's), and `up` runs the rest.
#[test]
fn adopt_from_atlas_checks_the_sum_and_the_revisions() {
    let project = Project::new();
    let dir = project.path("migrations");
    project
        .migration(
            "20240101000000_users.sql",
            "-- Create \"users\" table\nCREATE TABLE \"users\" (\"id\" bigint NOT NULL, PRIMARY KEY (\"id\"));\n",
        )
        .migration("20240102000000_email.sql", "ALTER TABLE \"users\" ADD COLUMN \"email\" text NULL;\n")
        .migration(
            "20240103000000.sql",
            "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY \"users_email\" ON \"users\" (\"email\");\n",
        );
    atlas_migrate_hash(&dir);
    let (hashes, _) = cutover_migration::atlas_sum(&dir).unwrap();

    let db = PgDb::new();
    db.query("CREATE TABLE users (id bigint PRIMARY KEY); ALTER TABLE users ADD COLUMN email text");
    atlas_revisions(
        &db,
        &[("20240101000000", "users", 1, 1, &hashes[0].1), ("20240102000000", "email", 1, 1, &hashes[1].1)],
    );
    let stdout = adopted(&project, &db.url, "atlas");
    assert!(stdout.contains("adopted 2 migrations"), "{stdout}");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email'"), "1");
    assert_eq!(
        // (the no-transaction file's progress rows aside)
        db.query(
            "SELECT string_agg(version || ':' || state, ',' ORDER BY id) FROM cutover_history WHERE state <> 'running'"
        ),
        "20240101000000:baselined,20240102000000:baselined,20240103000000:applied"
    );
    assert_eq!(db.query("SELECT count(*) FROM atlas_schema_revisions.atlas_schema_revisions"), "2", "untouched");

    // A version Atlas stopped inside (1 of 2 statements), and one whose file changed since
    // Atlas ran it (atlas.sum rewritten since): refused, nothing recorded.
    let db = PgDb::new();
    atlas_revisions(
        &db,
        &[("20240101000000", "users", 1, 2, &hashes[0].1), ("20240102000000", "email", 1, 1, "stale=")],
    );
    let output = project.cutover(&db.url).args(["adopt", "--from", "atlas"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("atlas recorded version 20240101000000 as failed"), "{stderr}");
    assert!(stderr.contains("20240102000000_email.sql was changed after atlas applied it"), "{stderr}");
    assert_eq!(db.try_query("SELECT count(*) FROM cutover_history").as_deref().unwrap_or("0"), "0");

    // `atlas migrate apply --baseline 20240102000000`: a row with no hash, which counts every
    // version up to it as applied.
    let db = PgDb::new();
    db.query("CREATE TABLE users (id bigint PRIMARY KEY, email text)");
    atlas_revisions(&db, &[]);
    db.query("INSERT INTO atlas_schema_revisions.atlas_schema_revisions VALUES ('20240102000000', '', 1, 0, 0, now(), 0, NULL, NULL, '', NULL, 'Atlas CLI v0.30.0')");
    let stdout = adopted(&project, &db.url, "atlas");
    assert!(stdout.contains("adopted 2 migrations"), "{stdout}");

    // Atlas run with a URL that names a schema keeps its table there (`?search_path=public`).
    let db = PgDb::new();
    db.query("CREATE TABLE users (id bigint PRIMARY KEY, email text)");
    db.query(
        "CREATE TABLE public.atlas_schema_revisions (version character varying NOT NULL PRIMARY KEY, \
         description character varying NOT NULL, type bigint NOT NULL DEFAULT 2, applied bigint NOT NULL DEFAULT 0, \
         total bigint NOT NULL DEFAULT 0, executed_at timestamptz NOT NULL, execution_time bigint NOT NULL, \
         error text NULL, error_stmt text NULL, hash character varying NOT NULL, partial_hashes jsonb NULL, \
         operator_version character varying NOT NULL)",
    );
    db.query(&format!(
        "INSERT INTO public.atlas_schema_revisions VALUES ('20240101000000', 'users', 2, 1, 1, now(), 1, NULL, NULL, '{}', NULL, 'Atlas CLI v0.30.0')",
        hashes[0].1
    ));
    let stdout = adopted(&project, &db.url, "atlas");
    assert!(stdout.contains("adopted 1 migration"), "{stdout}");

    // On MariaDB, in the URL's database; another database's revisions are not this one's.
    let my = MyDb::new();
    let revisions = "CREATE TABLE atlas_schema_revisions (version varchar(255) NOT NULL PRIMARY KEY, \
         description varchar(255) NOT NULL, type bigint unsigned NOT NULL DEFAULT 2, applied bigint NOT NULL DEFAULT 0, \
         total bigint NOT NULL DEFAULT 0, executed_at timestamp NOT NULL, execution_time bigint NOT NULL, error longtext NULL, \
         error_stmt longtext NULL, hash varchar(255) NOT NULL, partial_hashes json NULL, operator_version varchar(255) NOT NULL)";
    my.query(revisions);
    for (version, hash) in [("20240101000000", &hashes[0].1), ("20240102000000", &hashes[1].1)] {
        my.query(&format!(
            "INSERT INTO atlas_schema_revisions VALUES ('{version}', '', 2, 1, 1, now(), 1, NULL, NULL, '{hash}', NULL, 'v')"
        ));
    }
    let stdout = adopted(&project, &my.url, "atlas");
    assert!(stdout.contains("adopted 2 migrations"), "{stdout}");

    // A file edited without `atlas migrate hash`: every command refuses the folder, as Atlas does.
    std::fs::write(
        dir.join("20240102000000_email.sql"),
        "ALTER TABLE \"users\" ADD COLUMN \"email\" varchar(10) NULL;\n",
    )
    .unwrap();
    for args in [&["up"][..], &["lint"][..]] {
        let output = project.cutover(&db.url).args(args).output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("atlas.sum:3") && stderr.contains("changed since atlas.sum was written"), "{stderr}");
    }
}

/// Two changelogs with the same file name in the folder and in a folder below it, each with a
/// changeset `alice:1`, as Liquibase ran them: each row is its own file's, by the whole path.
#[test]
fn liquibase_rows_are_matched_by_the_whole_path() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("001.sql", "--liquibase formatted sql\n--changeset alice:1\nCREATE TABLE a1 (id int);\n")
        .migration("sub/001.sql", "--liquibase formatted sql\n--changeset alice:1\nCREATE TABLE b1 (id int);\n");
    include_all(&project, "migrations/");
    let output = liquibase(&db, &project.path("."), &["--changelog-file=changelog.xml", "update"]);
    assert!(output.status.success(), "{:?}", output_text(&output));
    let stdout = adopted(&project, &db.url, "liquibase");
    assert!(stdout.contains("adopted 2 migrations"), "{stdout}");
}

/// temporal-sql-tool records versions (`1.1`) that cutover splits into a migration per file
/// (`1.1.1`, `1.1.2`): `baseline 1.1` takes the whole version, and a version with no file the
/// ones below it.
#[test]
fn a_temporal_version_names_all_its_files() {
    let project = Project::new();
    let manifest = |version: &str, files: &str| {
        format!(
            r#"{{"CurrVersion": "{version}", "MinCompatibleVersion": "1.0", "Description": "d", "SchemaUpdateCqlFiles": [{files}]}}"#
        )
    };
    project
        .migration("v1.0/manifest.json", &manifest("1.0", r#""base.sql""#))
        .migration("v1.0/base.sql", "CREATE TABLE t (id int);\n")
        .migration("v1.1/manifest.json", &manifest("1.1", r#""a.sql", "b.sql""#))
        .migration("v1.1/a.sql", "ALTER TABLE t ADD COLUMN a int;\n")
        .migration("v1.1/b.sql", "ALTER TABLE t ADD COLUMN b int;\n")
        .migration("v1.2/manifest.json", &manifest("1.2", ""))
        .migration("v1.3/manifest.json", &manifest("1.3", r#""c.sql""#))
        .migration("v1.3/c.sql", "ALTER TABLE t ADD COLUMN c int;\n");
    let url = project.sqlite_url();
    // A database migrated by other means has the schema those versions leave.
    let made_by_hand = |project: &Project| {
        let conn = rusqlite::Connection::open(project.path("app.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (id int, a int, b int)").unwrap();
    };
    made_by_hand(&project);
    let output = project.cutover(&url).args(["baseline", "1.1"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let states: Vec<[String; 2]> =
        statuses(&project, &url).into_iter().map(|[version, _, state]| [version, state]).collect();
    assert_eq!(states, [["1.0", "baselined"], ["1.1.1", "baselined"], ["1.1.2", "baselined"], ["1.3", "pending"]]);
    let other = Project::new();
    for entry in std::fs::read_dir(project.path("migrations")).unwrap() {
        let entry = entry.unwrap();
        let to = other.path("migrations").join(entry.file_name());
        std::fs::create_dir_all(&to).unwrap();
        for file in std::fs::read_dir(entry.path()).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
        }
    }
    let url = other.sqlite_url();
    made_by_hand(&other);
    let output = other.cutover(&url).args(["baseline", "1.2"]).output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let output = other.cutover(&url).args(["down", "--to", "1.7"]).output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(stderr.contains("no migration has version 1.7"), "a version the folder does not have: {stderr}");
}

/// ory popx's `schema_migration` (as popx creates it: a row per applied version): adopted for
/// the versions this engine's files have, and `up` runs the rest.
#[test]
fn adopt_from_popx_then_up_runs_only_what_popx_did_not() {
    let db = PgDb::new();
    let project = Project::new();
    project
        .migration("20200101000000000000_a.postgres.up.sql", "CREATE TABLE a (j jsonb);\n")
        .migration("20200101000000000000_a.sqlite3.up.sql", "CREATE TABLE a (j text);\n")
        .migration("20200102000000000000_b.up.sql", "ALTER TABLE a ADD COLUMN b int;\n")
        .migration("20200103000000000000_c.up.sql", "ALTER TABLE a ADD COLUMN c int;\n");
    db.query(
        "CREATE TABLE schema_migration (version varchar(48) NOT NULL, version_self int NOT NULL DEFAULT 0); \
         CREATE UNIQUE INDEX schema_migration_version_idx ON schema_migration (version); \
         CREATE TABLE a (j jsonb, b int); \
         INSERT INTO schema_migration (version) VALUES ('20200101000000000000'), ('20200102000000000000')",
    );
    let stdout = adopted(&project, &db.url, "popx");
    assert!(stdout.contains("adopted 2 migrations"), "{stdout}");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'a'"), "3");
    assert_eq!(db.query("SELECT count(*) FROM schema_migration"), "2", "popx's table is untouched");
}
