//! A chain of declarative migrations with an application of every generation connected during
//! each `complete`: the old version is everything that reads the previous version's views *or
//! the base tables directly*, whatever names it: its `application_name`, its locks, its role's
//! `search_path`. `complete` refuses (or waits, `--wait`) while one is there, and names it.

use std::thread;
use std::time::Duration;

use crate::util::{admin_client, output_text, PgDb, Project};

fn chain() -> Project {
    let project = Project::new();
    project.migration(
        "1_users.up.sql",
        "CREATE TABLE users (id bigserial PRIMARY KEY, full_name text NOT NULL);\n\
         INSERT INTO users (full_name) SELECT 'user ' || g FROM generate_series(1, 1000) g;\n",
    );
    project.migration(
        "2_legal_name.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"full_name\"\nto = \"legal_name\"\n",
    );
    project.migration(
        "3_email.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"email\"\ntype = \"text\"\n",
    );
    project.migration(
        "4_name.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"legal_name\"\nto = \"name\"\n",
    );
    project
}

fn connect(db: &PgDb, application: &str) -> postgres::Client {
    postgres::Client::connect(&format!("{}?application_name={application}", db.url), postgres::NoTls).unwrap()
}

/// `complete` exits 1 and its message names `who` and `why`; the migration stays started.
fn refused(project: &Project, db: &PgDb, version_schema: &str, who: &str, why: &str) {
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("still on an old version") && stderr.contains(who) && stderr.contains(why), "{stderr}");
    assert_eq!(db.query(&format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{version_schema}'")), "1");
    assert_eq!(db.query("SELECT phase FROM cutover_expand ORDER BY version DESC LIMIT 1"), "started");
}

#[test]
fn every_older_generation_holds_back_complete_and_is_named() {
    let db = PgDb::new();
    let project = chain();
    project.cutover(&db.url).arg("up").assert().success();

    // Migration 2: the old version is the plain schema.
    project.cutover(&db.url).arg("start").assert().success();
    let tagged = connect(&db, "billing@public");
    refused(&project, &db, "public_v2", "billing@public", "its application_name names `public`");
    drop(tagged);
    // Untagged, but reading the table directly inside a transaction.
    let mut direct = connect(&db, "psql");
    direct.batch_execute("BEGIN; SELECT count(*) FROM public.users").unwrap();
    // The new version's views lock the same table: a session reading them is not old.
    let mut reading_new = connect(&db, "worker");
    reading_new.batch_execute("BEGIN; SELECT count(*) FROM public_v2.users").unwrap();
    refused(&project, &db, "public_v2", "psql", "uses `public.users` directly");
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    assert!(!output_text(&output).1.contains("worker"), "{}", output_text(&output).1);
    direct.batch_execute("COMMIT").unwrap();
    reading_new.batch_execute("COMMIT").unwrap();
    // The new version by name, and an idle session nothing places, hold nothing back.
    let mut new = connect(&db, "billing@public_v2");
    new.batch_execute("SET search_path = public_v2, public; SELECT legal_name FROM users LIMIT 1").unwrap();
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("which schema version 2 sessions of this database use") && stderr.contains("worker"),
        "{stderr}"
    );

    // Migration 3: old is public_v2 *and* public. The case: an app on the plain schema
    // was not seen once a version schema existed, and its queries failed after complete.
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let stdout = output_text(&output).0;
    // The new version's search_path ends with the real tables' schema, not the previous version's.
    assert!(output.status.success() && stdout.contains("(search_path=public_v3,public)"), "{stdout}");
    let plain = connect(&db, "billing@public");
    refused(&project, &db, "public_v3", "billing@public", "names `public`");
    drop(plain);
    let mut untagged_plain = connect(&db, "reports");
    untagged_plain.batch_execute("BEGIN; SELECT legal_name FROM public.users LIMIT 1").unwrap();
    refused(&project, &db, "public_v3", "reports", "uses `public.users` directly");
    untagged_plain.batch_execute("COMMIT").unwrap();
    drop(untagged_plain);
    // A role per version: its role's search_path places an idle session.
    let role = format!("{}_app_v2", db.name);
    let mut admin = admin_client();
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN SUPERUSER")).unwrap();
    admin
        .batch_execute(&format!("ALTER ROLE {role} IN DATABASE {} SET search_path = public_v2, public", db.name))
        .unwrap();
    let role_url = db.url.replacen("postgres@", &format!("{role}@"), 1);
    let on_role = postgres::Client::connect(&role_url, postgres::NoTls).unwrap();
    refused(&project, &db, "public_v3", &role, "its role's search_path is `public_v2, public`");
    drop(new);

    // `--wait`: the old session goes two seconds in; complete waits, says so, then completes.
    let mut old_in_tx = connect(&db, "billing@public_v2");
    old_in_tx.batch_execute("BEGIN; SELECT legal_name FROM public_v2.users LIMIT 1").unwrap();
    let leaver = thread::spawn(move || {
        thread::sleep(Duration::from_secs(2));
        drop(on_role);
        old_in_tx.batch_execute("COMMIT").unwrap();
        drop(old_in_tx);
    });
    let output = project.cutover(&db.url).args(["complete", "--wait", "30s"]).output().unwrap();
    leaver.join().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("waiting for 2 sessions on an old version") && stderr.contains(&role), "{stderr}");
    admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();

    // Migration 4: a deployment still named for a version whose schema is gone is old too, and
    // `--wait` that runs out refuses, saying how long it waited.
    project.cutover(&db.url).arg("start").assert().success();
    let stale = connect(&db, "billing@public_v2");
    let output = project.cutover(&db.url).args(["complete", "--wait", "2s"]).output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("after waiting 2s") && stderr.contains("billing@public_v2"), "{stderr}");
    drop(stale);
    let on_new = connect(&db, "billing@public_v4");
    project.cutover(&db.url).arg("complete").assert().success();
    drop(on_new);
    assert_eq!(db.query("SELECT name FROM public_v4.users WHERE id = 1"), "user 1");
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "4");
}

/// A migrator that is not a superuser sees another role's session with its state hidden: it
/// still counts (its application_name, its locks).
#[test]
fn a_migrator_that_is_no_superuser_sees_other_roles_old_sessions() {
    let db = PgDb::new();
    let migrator = format!("{}_migrator", db.name);
    let mut admin = admin_client();
    admin.batch_execute(&format!("CREATE ROLE {migrator} LOGIN")).unwrap();
    admin.batch_execute(&format!("ALTER DATABASE {} OWNER TO {migrator}", db.name)).unwrap();
    db.query(&format!("ALTER SCHEMA public OWNER TO {migrator}"));
    let url = db.url.replacen("postgres@", &format!("{migrator}@"), 1);
    let project = chain();
    project.cutover(&url).arg("up").assert().success();
    project.cutover(&url).arg("start").assert().success();
    // The old application connects as another role (the superuser here).
    let tagged = connect(&db, "billing@public");
    let output = project.cutover(&url).arg("complete").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("billing@public") && stderr.contains("state not shown to this role"), "{stderr}");
    drop(tagged);
    let mut direct = connect(&db, "");
    direct.batch_execute("BEGIN; SELECT count(*) FROM public.users").unwrap();
    let output = project.cutover(&url).arg("complete").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("uses `public.users` directly"), "{stderr}");
    direct.batch_execute("COMMIT").unwrap();
    drop(direct);
    project.cutover(&url).arg("complete").assert().success();
    drop(db);
    admin.batch_execute(&format!("DROP ROLE {migrator}")).unwrap();
}

/// A `complete` cut short after it recorded `completing` (a lock it did not get) leaves the
/// migration `started`, nothing of it done, and looks for old sessions again when it is run
/// again: they may have connected in between.
#[test]
fn a_complete_run_again_after_a_lock_timeout_looks_for_old_sessions_again() {
    let db = PgDb::new();
    let project = chain();
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    let status = || output_text(&project.cutover(&db.url).arg("status").output().unwrap()).0;
    let started = status();
    assert!(started.contains("is started since"), "{started}");
    thread::sleep(Duration::from_millis(1100));
    // A new-version session in a long transaction on the table: complete's lock never comes.
    let mut holder = connect(&db, "billing@public_v2");
    holder.batch_execute("BEGIN; SELECT count(*) FROM public_v2.users").unwrap();
    let output = project
        .cutover(&db.url)
        .env("CUTOVER_LOCK_TIMEOUT", "200ms")
        .env("CUTOVER_LOCK_RETRIES", "2")
        .arg("complete")
        .output()
        .unwrap();
    let stderr = output_text(&output).1;
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot complete") && stderr.contains("locks held by") && stderr.contains("billing@public_v2"),
        "{stderr}"
    );
    assert!(stderr.contains("the migration stays started"), "{stderr}");
    assert_eq!(db.query("SELECT phase FROM cutover_expand"), "started");
    assert_eq!(status(), started, "started since the start, not since the refused complete");
    // An old application connects in between.
    let old = connect(&db, "billing@public");
    holder.batch_execute("COMMIT").unwrap();
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("still on an old version") && stderr.contains("billing@public"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'public_v2'"), "1");
    drop(old);
    project.cutover(&db.url).arg("complete").assert().success();
}

/// A step of `complete` after its contract committed (a concurrent index drop that does not get
/// its lock): the message says the migration is applied and that `complete` again finishes it,
/// and names who holds the lock; `complete` again does.
#[test]
fn a_step_after_the_contract_that_fails_says_the_contract_is_committed() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_orders.up.sql",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, note text); CREATE INDEX orders_note_idx ON orders (note);\n",
    );
    project.migration("2_drop.toml", "[[operations]]\nop = \"drop_index\"\nname = \"orders_note_idx\"\n");
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    let mut holder = connect(&db, "billing@public_v2");
    holder.batch_execute("BEGIN; LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE").unwrap();
    let output = project
        .cutover(&db.url)
        .env("CUTOVER_LOCK_TIMEOUT", "200ms")
        .env("CUTOVER_LOCK_RETRIES", "1")
        .arg("complete")
        .output()
        .unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the contract is committed")
            && stderr.contains("`cutover complete` again finishes it")
            && stderr.contains("billing@public_v2"),
        "{stderr}"
    );
    assert_eq!(db.query("SELECT phase FROM cutover_expand"), "completing");
    holder.batch_execute("COMMIT").unwrap();
    project.cutover(&db.url).arg("complete").assert().success();
    assert_eq!(db.query("SELECT to_regclass('orders_note_idx') IS NULL"), "t");
}
