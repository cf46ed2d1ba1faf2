//! The state machines cutover stores as text (expand/contract phases, backfill states,
//! approval kinds): a value this cutover does not know is an error that names it, never a row
//! passed over; `status` fails, saying why, when it cannot read the expand state; and a state
//! table made before the `version_schema` column keeps its views in step and is brought up to
//! date.

use serde_json::Value;

use crate::util::{admin_url, output_text, MyDb, PgDb, Project};

/// A project whose second migration renames `accounts.owner`, applied up to it and started.
fn started(db: &PgDb) -> Project {
    let project = Project::new();
    project.migration(
        "1_accounts.up.sql",
        "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL);\nINSERT INTO accounts SELECT g, 'o' || g FROM generate_series(1, 100) g;\n",
    );
    project.migration(
        "2_rename.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"accounts\"\nfrom = \"owner\"\nto = \"holder\"\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    project
}

/// Runs `cutover <args>` and checks that it fails with exit 2 and `needle` on stderr, with
/// nothing on stdout.
fn fails_naming(project: &Project, url: &str, args: &[&str], needle: &str) {
    let output = project.cutover(url).args(args).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert_eq!(stdout, "", "{args:?}: nothing printed before the error");
}

#[test]
fn status_fails_when_the_expand_state_cannot_be_read() {
    let db = PgDb::new();
    let project = started(&db);
    let output = project.cutover(&db.url).arg("status").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("expand/contract: 2 rename is started since "), "{stdout}");
    let output = project.cutover(&db.url).args(["status", "--format", "json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["expand"]["migration"], "2 rename", "{status:#}");
    assert_eq!(status["expand"]["phase"], "started");
    assert_eq!(status["expand"]["new_version"], "public_v2");

    // A role that reads the history, but not the state table.
    let role = format!("states_reader_{}", db.name.trim_start_matches("cutover_t"));
    let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN")).unwrap();
    db.query(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}; REVOKE SELECT ON cutover_expand FROM {role}"
    ));
    let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
    for args in [&["status"][..], &["status", "--format", "json"]] {
        fails_naming(&project, &url, args, "whether an expand/contract migration is active is unknown");
        fails_naming(&project, &url, args, "permission denied for table cutover_expand");
    }
    drop(db);
    admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();
}

#[test]
fn an_unknown_expand_phase_is_named_by_every_command_that_reads_it() {
    let db = PgDb::new();
    let project = started(&db);
    project.cutover(&db.url).arg("complete").assert().success();
    // Written by hand (or by a newer cutover): this cutover cannot tell what it means.
    db.query("ALTER TABLE cutover_expand DROP CONSTRAINT cutover_expand_phase_check; UPDATE cutover_expand SET phase = 'paused_by_hand'");
    project.migration("3_note.up.sql", "ALTER TABLE accounts ADD COLUMN note text;\n");
    project.migration(
        "4_rename.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"accounts\"\nfrom = \"holder\"\nto = \"keeper\"\n",
    );
    let named = "unknown expand/contract phase `paused_by_hand`";
    for args in [&["status"][..], &["up"], &["start"], &["complete"], &["rollback"]] {
        fails_naming(&project, &db.url, args, named);
        fails_naming(&project, &db.url, args, "cutover_expand");
    }
    assert_eq!(
        db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"),
        "0",
        "`up` changed nothing it could not keep the version's views in step with"
    );
}

#[test]
fn an_unknown_backfill_state_is_named_and_the_backfill_not_resumed() {
    let _shared = crate::backfill::shared();
    let db = PgDb::new();
    db.query("CREATE TABLE counters (id bigint PRIMARY KEY, n int NOT NULL); INSERT INTO counters SELECT g, 0 FROM generate_series(1, 500) g");
    let project = Project::new();
    let args = ["backfill", "--table", "counters", "--set", "n = n + 1", "--name", "bump"];
    project.cutover(&db.url).args(args).assert().success();
    db.query("ALTER TABLE cutover_backfills DROP CONSTRAINT cutover_backfills_state_check; UPDATE cutover_backfills SET state = 'Done'");
    let named = "unknown backfill state `Done`";
    fails_naming(&project, &db.url, &args, named);
    fails_naming(&project, &db.url, &["backfill", "--status"], named);
    fails_naming(&project, &db.url, &["backfill", "--status", "--format", "json"], "cutover_backfills");
    assert_eq!(db.query("SELECT sum(n) FROM counters"), "500");
}

#[test]
fn an_unknown_backfill_state_is_named_on_mariadb() {
    let db = MyDb::new();
    db.query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counters SELECT seq, 0 FROM seq_1_to_500; SELECT 1");
    let project = Project::new();
    let args = ["backfill", "--table", "counters", "--set", "n = n + 1", "--name", "bump"];
    project.cutover(&db.url).args(args).assert().success();
    db.query("SET SESSION check_constraint_checks = OFF; UPDATE cutover_backfills SET state = 'Done'; SELECT 1");
    let named = "unknown backfill state `Done`";
    fails_naming(&project, &db.url, &args, named);
    fails_naming(&project, &db.url, &["backfill", "--status"], named);
    assert_eq!(db.query("SELECT sum(n) FROM counters"), "500");
}

#[test]
fn an_unknown_approval_kind_is_named_by_history() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (id bigint PRIMARY KEY, note text);\n");
    project.cutover(&db.url).arg("up").assert().success();
    project.migration("2_index.up.sql", "CREATE INDEX t_note ON t (note);\n");
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
    let output = project.cutover(&db.url).args(["history", "--format", "json"]).output().unwrap();
    let history: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(history["approvals"][0]["how"], "allow-unsafe", "{history:#}");
    // The table is append-only, but an insert by hand is possible once its CHECK is gone.
    db.query(
        "ALTER TABLE cutover_history_approvals DROP CONSTRAINT cutover_history_approvals_how_check; \
         INSERT INTO cutover_history_approvals (version, name, rule, how, reason, location, message, approved_by, approved_at) \
         VALUES ('2', 'index', 'r', 'waved-through', '', '', '', '', now())",
    );
    for args in [&["history"][..], &["history", "--format", "json"]] {
        fails_naming(&project, &db.url, args, "unknown approval kind `waved-through`");
        fails_naming(&project, &db.url, args, "cutover_history_approvals");
    }
}

#[test]
fn a_state_table_from_before_the_version_schema_column_keeps_views_in_step_and_is_brought_up_to_date() {
    let db = PgDb::new();
    let project = started(&db);
    project.cutover(&db.url).arg("complete").assert().success();
    // SQL migrations keep the views of this schema in step: it is recorded beside the phase.
    assert_eq!(db.query("SELECT version, phase, version_schema FROM cutover_expand"), "2\tcompleted\tpublic_v2");
    let view_columns = || {
        db.query(
            "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = 'public_v2.accounts'::regclass AND attnum > 0",
        )
    };
    assert_eq!(view_columns(), "id, holder");

    // The table as earlier cutover versions made it: the schema only inside the plan.
    db.query("ALTER TABLE cutover_expand DROP COLUMN version_schema");
    project.migration("3_note.up.sql", "ALTER TABLE accounts ADD COLUMN note text;\n");
    let output = project.cutover(&db.url).arg("up").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(view_columns(), "id, holder, note", "the completed version's view follows its table");
    project.cutover(&db.url).arg("status").assert().success();

    // The next expand/contract migration records it in the column, for the old row too.
    project.migration(
        "4_rename.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"accounts\"\nfrom = \"note\"\nto = \"remark\"\n",
    );
    project.cutover(&db.url).arg("start").assert().success();
    assert_eq!(
        db.query("SELECT version, phase, version_schema FROM cutover_expand ORDER BY version"),
        "2\tcompleted\tpublic_v2\n4\tstarted\tpublic_v4"
    );
    project.cutover(&db.url).arg("complete").assert().success();
    project.migration("5_more.up.sql", "ALTER TABLE accounts ADD COLUMN more text;\n");
    project.cutover(&db.url).arg("up").assert().success();
    assert_eq!(
        db.query(
            "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = 'public_v4.accounts'::regclass AND attnum > 0"
        ),
        "id, holder, remark, more"
    );
}
