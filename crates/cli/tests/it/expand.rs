//! Expand/contract migrations on a real PostgreSQL: an old and a new application version
//! working through `start` and `complete`, `rollback` in the middle of a backfill, and SIGKILL
//! at random points of every phase.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::backfill::shared;
use crate::util::{output_text, PgDb, Project};

/// The declarative migration the trigger benchmark uses too.
const RENAME_AND_RETYPE: &str = include_str!("../fixtures/rename_and_retype.toml");

fn project_with(rows: u64) -> Project {
    let project = Project::new();
    project.migration(
        "1_users.up.sql",
        &format!(
            "CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, amount text);\n\
             INSERT INTO users (name, amount) SELECT 'user ' || g, (g % 100000)::text || '.' || lpad((g % 100)::text, 2, '0') FROM generate_series(1, {rows}) g;\n"
        ),
    );
    project.migration("2_rename_and_retype.toml", RENAME_AND_RETYPE);
    project
}

/// Rows whose old-version and new-version values differ, read in one statement (one snapshot).
fn disagreements(db: &PgDb) -> i64 {
    db.query(
        "SELECT count(*) FROM public.users o FULL JOIN public_v2.users n ON n.id = o.id \
         WHERE n.id IS NULL OR o.id IS NULL OR o.name IS DISTINCT FROM n.full_name \
            OR o.amount::numeric(12,2) IS DISTINCT FROM n.amount",
    )
    .parse()
    .unwrap()
}

/// Everything cutover adds during an expand phase, that must be gone after complete or rollback.
/// `up` to the declarative migration, then its `start`, each succeeding.
fn up_and_start(project: &Project, db: &PgDb) {
    project.cutover(&db.url).arg("up").assert().success();
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
}

fn leftovers(db: &PgDb) -> String {
    db.query(
        "SELECT string_agg(what, ', ' ORDER BY what) FROM ( \
           SELECT 'column ' || attname AS what FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') \
             AND attname LIKE '\\_cutover%' AND NOT attisdropped \
           UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname ~ '^(zz)?_cutover' \
           UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname ~ '^(zz)?_cutover' \
           UNION ALL SELECT 'constraint ' || conname FROM pg_constraint WHERE conname LIKE '\\_cutover%' \
           UNION ALL SELECT 'relation ' || relname FROM pg_class WHERE relname LIKE '\\_cutover%') x",
    )
}

struct App {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<AppReport>,
}

#[derive(Debug, Default)]
struct AppReport {
    operations: u64,
    inserts: u64,
    errors: Vec<String>,
}

/// An application version writing and reading continuously: `new` uses the new version's
/// names and types through its schema of views, the old one the tables as they were.
fn app(url: &str, new: bool, max_id: i64, seed: u64) -> App {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let url = url.to_string();
    let handle = thread::spawn(move || {
        let app_name = if new { "new-app@public_v2" } else { "old-app@public" };
        let mut client = postgres::Client::connect(&format!("{url}?application_name={app_name}"), postgres::NoTls)
            .expect("the app connects");
        if new {
            client.batch_execute("SET search_path = public_v2, public").unwrap();
        }
        let mut report = AppReport::default();
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        while !flag.load(Ordering::SeqCst) {
            let id = (next() as i64 % max_id) + 1;
            let cents = (next() % 10_000_000) as i64;
            let amount = format!("{}.{:02}", cents / 100, cents % 100);
            let result = match (next() % 3, new) {
                (0, false) => client
                    .execute("INSERT INTO users (name, amount) VALUES ($1, $2)", &[&format!("old {id}"), &amount])
                    .map(|_| report.inserts += 1),
                (0, true) => client
                    .execute(
                        "INSERT INTO users (full_name, amount) VALUES ($1, $2::text::numeric)",
                        &[&format!("new {id}"), &amount],
                    )
                    .map(|_| report.inserts += 1),
                (1, false) => client
                    .execute(
                        "UPDATE users SET name = $1, amount = $2 WHERE id = $3",
                        &[&format!("old upd {id}"), &amount, &id],
                    )
                    .map(|_| ()),
                (1, true) => client
                    .execute(
                        "UPDATE users SET full_name = $1, amount = $2::text::numeric WHERE id = $3",
                        &[&format!("new upd {id}"), &amount, &id],
                    )
                    .map(|_| ()),
                (_, false) => client.query("SELECT name, amount FROM users WHERE id = $1", &[&id]).map(|_| ()),
                (_, true) => {
                    client.query("SELECT full_name, amount::text FROM users WHERE id = $1", &[&id]).map(|_| ())
                }
            };
            report.operations += 1;
            if let Err(err) = result {
                report.errors.push(err.to_string());
            }
        }
        report
    });
    App { stop, handle }
}

impl App {
    fn finish(self) -> AppReport {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

#[test]
fn old_and_new_app_work_through_start_and_complete_on_a_million_rows() {
    let _shared = shared();
    let db = PgDb::new();
    let rows = 1_000_000;
    let project = project_with(rows);
    project.cutover(&db.url).arg("up").assert().success();

    let old_app = app(&db.url, false, rows as i64, 1);
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1000000 rows backfilled") || stdout.contains("rows backfilled"), "{stdout}");
    eprintln!("start on {rows} rows with the old app writing: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(disagreements(&db), 0, "after start");

    // Both versions live at once, both writing.
    let new_app = app(&db.url, true, rows as i64, 2);
    thread::sleep(Duration::from_secs(3));
    assert_eq!(disagreements(&db), 0, "with both apps writing");

    // The rolling deploy ends: the old app goes away, then the contract phase.
    let old = old_app.finish();
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    thread::sleep(Duration::from_secs(1));
    let new = new_app.finish();

    assert!(old.errors.is_empty(), "old app errors: {:?}", &old.errors[..old.errors.len().min(5)]);
    assert!(new.errors.is_empty(), "new app errors: {:?}", &new.errors[..new.errors.len().min(5)]);
    assert!(old.operations > 100 && new.operations > 100, "old {} new {}", old.operations, new.operations);
    eprintln!("old app: {} operations, new app: {} operations, zero errors", old.operations, new.operations);

    // After complete the table is the new version, and the new version's views still read it.
    assert_eq!(db.query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'amount'"), "numeric(12,2)");
    assert_eq!(
        db.query("SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'full_name'"),
        "1"
    );
    let total: u64 = db.query("SELECT count(*) FROM public.users").parse().unwrap();
    assert_eq!(total, rows + old.inserts + new.inserts, "no row lost");
    let differ = db.query(
        "SELECT count(*) FROM public.users t FULL JOIN public_v2.users v USING (id) \
         WHERE t.full_name IS DISTINCT FROM v.full_name OR t.amount IS DISTINCT FROM v.amount",
    );
    assert_eq!(differ, "0");
    assert_eq!(leftovers(&db), "NULL");
    let status = project.cutover(&db.url).arg("status").output().unwrap();
    assert!(output_text(&status).0.contains("2  rename_and_retype  applied"), "{}", output_text(&status).0);
}

#[test]
fn complete_waits_for_the_old_version_sessions() {
    let db = PgDb::new();
    let project = project_with(1000);
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    let mut old =
        postgres::Client::connect(&format!("{}?application_name=billing@public", db.url), postgres::NoTls).unwrap();
    old.batch_execute("SELECT 1").unwrap();
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = output_text(&output).1;
    assert!(stderr.contains("1 session is still on an old version") && stderr.contains("billing@public"), "{stderr}");
    // A new-version session in a transaction holds a lock on its views: that is not the old version.
    let mut new = db.client();
    new.batch_execute("BEGIN; SELECT count(*) FROM public_v2.users").unwrap();
    drop(old);
    thread::sleep(Duration::from_millis(200));
    project.cutover(&db.url).arg("complete").timeout(Duration::from_secs(60)).assert().failure();
    new.batch_execute("COMMIT").unwrap();
    project.cutover(&db.url).arg("complete").assert().success();
    assert_eq!(leftovers(&db), "NULL");
}

#[test]
fn sql_migrations_after_complete_keep_the_new_version_in_step() {
    let db = PgDb::new();
    let project = project_with(1000);
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).arg("complete").assert().success();
    db.query("GRANT SELECT, INSERT ON public_v2.users TO PUBLIC");
    let view_columns = || {
        db.query(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = 'public_v2.users'::regclass AND attnum > 0",
        )
    };
    let public_grants = || {
        db.query(
            "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) \
             FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = 'public_v2.users'::regclass)) WHERE grantee = 0",
        )
    };
    // The shadow of `amount` became the column at the table's end; the view keeps its place.
    assert_eq!(view_columns(), "id bigint, full_name text, amount numeric(12,2)");

    // A column added and one dropped that the new version's view shows (the view is in the
    // way: PostgreSQL refuses to drop what a view depends on), then a type changed in a
    // migration that runs statement by statement.
    project.migration(
        "3_phone.up.sql",
        "ALTER TABLE users ADD COLUMN phone text;\nALTER TABLE users DROP COLUMN amount;\n",
    );
    project.migration(
        "3_phone.down.sql",
        "ALTER TABLE users ADD COLUMN amount numeric(12,2);\nALTER TABLE users DROP COLUMN phone;\n",
    );
    project.migration(
        "4_longer_names.up.sql",
        "-- cutover:no-transaction\nALTER TABLE users ALTER COLUMN full_name TYPE varchar(300);\nCREATE INDEX CONCURRENTLY users_phone ON users (phone);\n",
    );
    project.migration(
        "4_longer_names.down.sql",
        "-- cutover:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS users_phone;\nALTER TABLE users ALTER COLUMN full_name TYPE text;\n",
    );
    let output = project.cutover(&db.url).args(["up", "--allow-unsafe"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(view_columns(), "id bigint, full_name character varying(300), phone text");
    assert_eq!(public_grants(), "INSERT,SELECT", "the view's grants survive it being recreated");

    // The new application reads and writes the new column through its version.
    let mut app = db.client();
    app.batch_execute(
        "SET search_path = public_v2, public; INSERT INTO users (full_name, phone) VALUES ('new', '555')",
    )
    .unwrap();
    let phone: String = app.query_one("SELECT phone FROM users WHERE full_name = 'new'", &[]).unwrap().get(0);
    assert_eq!(phone, "555");

    // The views of a completed version are cutover's to lift, not the application's own: a
    // view of the application's still stops the migration, as it should, and nothing changes.
    db.query("CREATE VIEW phone_book AS SELECT phone FROM users");
    project.migration("5_drop_phone.up.sql", "ALTER TABLE users DROP COLUMN phone;\n");
    project.migration("5_drop_phone.down.sql", "ALTER TABLE users ADD COLUMN phone text;\n");
    let output = project.cutover(&db.url).args(["up", "--allow-unsafe"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("view phone_book depends on column phone"), "{stderr}");
    assert_eq!(view_columns(), "id bigint, full_name character varying(300), phone text");
    db.query("DROP VIEW phone_book");
    // A rehearsal on a copy sees the migration alone, not cutover's views in its way.
    drop(app);
    let output = project.cutover(&db.url).args(["rehearse", "--template", "--format", "json"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout}{stderr}"));
    assert!(report["migrations"][0]["failure"].is_null(), "{report:#}");
    assert_eq!(report["scratch"], "copy", "rehearsed on a copy, where the version's views are: {stdout}");
    assert!(stdout.contains("cutover_rehearsal_"), "rehearsed on a copy: {stdout}");
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
    assert_eq!(view_columns(), "id bigint, full_name character varying(300)");
    project.cutover(&db.url).args(["down", "--steps", "1"]).assert().success();
    assert_eq!(view_columns(), "id bigint, full_name character varying(300), phone text");

    // Down both ways: the view follows.
    project.cutover(&db.url).args(["down", "--steps", "2"]).assert().success();
    assert_eq!(view_columns(), "id bigint, full_name text, amount numeric(12,2)");
    assert_eq!(public_grants(), "INSERT,SELECT");
    assert_eq!(db.query("SELECT count(*) FROM public_v2.users"), "1001");
    assert_eq!(leftovers(&db), "NULL");
}

#[test]
fn change_type_rebuilds_the_columns_indexes_on_the_shadow() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_orders.up.sql",
        "CREATE TABLE orders (id bigint PRIMARY KEY, ref text NOT NULL, amount text);\n\
         INSERT INTO orders SELECT g, 'r' || g, (g % 1000)::text FROM generate_series(1, 5000) g;\n\
         CREATE INDEX orders_amount ON orders (amount DESC NULLS LAST, id);\n\
         CREATE UNIQUE INDEX orders_ref ON orders (ref);\n\
         CREATE INDEX orders_id_hash ON orders USING hash (id);\n",
    );
    project.migration(
        "2_retype.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"orders\"\ncolumn = \"amount\"\ntype = \"integer\"\nup = \"amount::integer\"\ndown = \"amount::text\"\n\n\
         [[operations]]\nop = \"change_type\"\ntable = \"orders\"\ncolumn = \"ref\"\ntype = \"varchar(40)\"\nup = \"ref\"\ndown = \"ref\"\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    let indexes = || {
        db.query(
            "SELECT string_agg(c.relname || ' ' || i.indisvalid || ' ' || pg_get_indexdef(i.indexrelid), '; ' ORDER BY c.relname) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'orders'::regclass",
        )
    };
    let before = indexes();

    // Rolled back: the shadow indexes go with the shadows.
    project.cutover(&db.url).arg("start").assert().success();
    let during = indexes();
    assert!(
        during.contains("_cutover_idx_orders_amount true CREATE INDEX _cutover_idx_orders_amount ON public.orders USING btree (_cutover_amount DESC NULLS LAST, id)"),
        "{during}"
    );
    assert!(
        during.contains("CREATE UNIQUE INDEX _cutover_idx_orders_ref ON public.orders USING btree (_cutover_ref)"),
        "{during}"
    );
    project.cutover(&db.url).arg("rollback").assert().success();
    assert_eq!(indexes(), before);
    assert_eq!(leftovers(&db), "NULL");

    // Completed: the indexes are on the new columns, under their old names, and valid.
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).arg("complete").assert().success();
    assert_eq!(
        indexes(),
        "orders_amount true CREATE INDEX orders_amount ON public.orders USING btree (amount DESC NULLS LAST, id); \
         orders_id_hash true CREATE INDEX orders_id_hash ON public.orders USING hash (id); \
         orders_pkey true CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id); \
         orders_ref true CREATE UNIQUE INDEX orders_ref ON public.orders USING btree (ref)"
    );
    assert_eq!(db.query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'amount'"), "integer");
    assert_eq!(db.query("SELECT count(*) FROM orders WHERE amount = 7"), "5");
    assert_eq!(leftovers(&db), "NULL");
    // The unique index still holds.
    assert!(db.client().batch_execute("INSERT INTO orders (id, ref) VALUES (9999, 'r1')").is_err());

    // An index the shadow cannot take over (an expression) is refused with the reason.
    project.migration("3_expr.up.sql", "CREATE INDEX orders_lower_ref ON orders (lower(ref));\n");
    project.migration(
        "4_retype_again.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"orders\"\ncolumn = \"ref\"\ntype = \"text\"\nup = \"ref\"\ndown = \"ref\"\n",
    );
    project.cutover(&db.url).args(["up", "--allow-unsafe"]).assert().success();
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let stderr = output_text(&output).1;
    assert!(!output.status.success() && stderr.contains("an index on an expression"), "{stderr}");
}

/// A NOT NULL column stands on a CHECK until `complete`; a NOT VALID CHECK still holds for
/// every row written, so it comes only after the backfill: before, the old application's
/// update of any other column of a row not yet backfilled would fail.
#[test]
fn old_app_updates_rows_not_yet_backfilled_while_set_not_null_starts() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_notes.up.sql",
        "CREATE TABLE notes (id bigint PRIMARY KEY, body text, hits int NOT NULL DEFAULT 0);\n\
         INSERT INTO notes (id) SELECT generate_series(1, 20000);\n",
    );
    project.migration(
        "2_body_required.toml",
        "[[operations]]\nop = \"set_not_null\"\ntable = \"notes\"\ncolumn = \"body\"\nup = \"''\"\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (db.url.clone(), stop.clone());
        thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let (mut updates, mut errors) = (0u64, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                // The last rows, which the keyset backfill reaches last.
                match client.execute("UPDATE notes SET hits = hits + 1 WHERE id > 19900", &[]) {
                    Ok(_) => updates += 1,
                    Err(err) => errors.push(err.to_string()),
                }
                thread::sleep(Duration::from_millis(20));
            }
            (updates, errors)
        })
    };
    thread::sleep(Duration::from_millis(200));
    let output = project.cutover(&db.url).args(["start", "--max-rows-per-second", "8000"]).output().unwrap();
    stop.store(true, Ordering::SeqCst);
    let (updates, errors) = writer.join().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert!(errors.is_empty(), "the old application's updates failed: {:?}", &errors[..errors.len().min(3)]);
    assert!(updates > 20, "the writer ran through the backfill ({updates} updates)");
    project.cutover(&db.url).arg("complete").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM notes WHERE body IS NULL"), "0");
    assert_eq!(
        db.query("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'notes'::regclass AND attname = 'body'"),
        "t"
    );
    assert_eq!(leftovers(&db), "NULL");
}

/// Checksum of the table's contents as the old version sees them.
fn contents(db: &PgDb) -> String {
    db.query(
        "SELECT md5(string_agg(id::text || ':' || name || ':' || coalesce(amount, '~'), ',' ORDER BY id)) FROM users",
    )
}

#[test]
fn rollback_in_the_middle_of_a_backfill_restores_the_old_schema() {
    let _shared = shared();
    let db = PgDb::new();
    let project = project_with(100_000);
    project.cutover(&db.url).arg("up").assert().success();
    let before = contents(&db);
    let columns_before = db.query("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped");

    let mut child = project
        .cutover_std(&db.url)
        .args(["start", "--max-rows-per-second", "20000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: i64 = db
            .try_query("SELECT coalesce(max(rows_updated), 0) FROM cutover_backfills")
            .map_or(0, |v| v.parse().unwrap());
        if done > 10_000 {
            break;
        }
        assert!(Instant::now() < deadline, "the backfill never got going");
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done: i64 = db.query("SELECT max(rows_updated) FROM cutover_backfills").parse().unwrap();
    assert!(done < 100_000, "killed after the backfill ended ({done} rows)");
    assert_eq!(db.query("SELECT phase FROM cutover_expand"), "starting");

    let output = project.cutover(&db.url).arg("rollback").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(contents(&db), before, "no row lost or changed");
    let columns_after = db.query("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped");
    assert_eq!(columns_after, columns_before);
    assert_eq!(leftovers(&db), "NULL");
    assert_eq!(db.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'public_v2'"), "0");
    assert_eq!(db.query("SELECT phase FROM cutover_expand"), "rolled_back");
    // And it can start again from scratch, with a backfill of its own.
    project.cutover(&db.url).arg("start").assert().success();
    assert_eq!(disagreements(&db), 0);
}

/// A small deterministic generator, so that a failing trial can be replayed from its seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Runs `cutover <args>` and kills it with SIGKILL after `after` (if it is still running).
fn run_and_kill(project: &Project, url: &str, args: &[&str], after: Duration) -> bool {
    let mut child = project
        .cutover_std(url)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    child.wait().unwrap();
    killed
}

#[test]
fn sigkill_at_random_points_of_start_complete_and_rollback() {
    let _shared = shared();
    let seed: u64 = std::env::var("CUTOVER_EXPAND_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261125);
    let trials: u64 = std::env::var("CUTOVER_EXPAND_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut rng = Lcg(seed);
    let mut kills = 0;
    for trial in 0..trials {
        let db = PgDb::new();
        let project = project_with(20_000);
        project.cutover(&db.url).arg("up").assert().success();
        let before = contents(&db);
        let context = format!("seed {seed} trial {trial}");

        // Kill `start` somewhere in its DDL, backfill (slowed to ~1 s) or publication.
        let at = Duration::from_millis(rng.below(1200));
        kills += u32::from(run_and_kill(&project, &db.url, &["start", "--max-rows-per-second", "20000"], at));
        let finish_by_rollback = rng.below(2) == 0;
        if finish_by_rollback {
            // Kill the rollback too, now and then; the next one finishes it.
            let at = Duration::from_millis(rng.below(60));
            kills += u32::from(run_and_kill(&project, &db.url, &["rollback"], at));
            let output = project.cutover(&db.url).arg("rollback").output().unwrap();
            let (stdout, stderr) = output_text(&output);
            // Killed before `start` recorded anything: there is nothing to roll back.
            let nothing = stderr.contains("no expand/contract migration is active");
            assert!(output.status.success() || nothing, "{context}: {stdout}{stderr}");
            assert_eq!(contents(&db), before, "{context}: rollback changed data");
            assert_eq!(leftovers(&db), "NULL", "{context}");
            assert_eq!(db.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'public_v2'"), "0", "{context}");
            assert_eq!(db.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'name'"), "1", "{context}");
            continue;
        }
        let output = project.cutover(&db.url).arg("start").output().unwrap();
        assert!(output.status.success(), "{context}: {:?}", output_text(&output));
        assert_eq!(disagreements(&db), 0, "{context}");
        let at = Duration::from_millis(rng.below(150));
        kills += u32::from(run_and_kill(&project, &db.url, &["complete"], at));
        let output = project.cutover(&db.url).arg("complete").output().unwrap();
        let (stdout, stderr) = output_text(&output);
        let already = stderr.contains("no expand/contract migration is active");
        assert!(output.status.success() || already, "{context}: {stdout}{stderr}");
        assert_eq!(leftovers(&db), "NULL", "{context}");
        let after = db.query(
            "SELECT md5(string_agg(id::text || ':' || full_name || ':' || coalesce(amount::text, '~'), ',' ORDER BY id)) FROM users",
        );
        assert_eq!(after, before, "{context}: complete changed data");
        let applied = db.query("SELECT count(*) FROM cutover_history WHERE version = '2' AND state = 'applied'");
        assert_eq!(applied, "1", "{context}: one history row");
    }
    eprintln!("expand/contract SIGKILL trials: {trials} (seed {seed}), {kills} processes killed mid-run, 0 failures");
    assert!(kills >= trials as u32 / 2, "too few kills landed mid-run ({kills}); the trials prove little");
}

#[test]
fn mistakes_in_a_declaration_name_file_and_operation() {
    let db = PgDb::new();
    let project = project_with(10);
    project.migration(
        "2_rename_and_retype.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"user\"\nfrom = \"name\"\nto = \"full_name\"\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = output_text(&output).1;
    assert!(
        stderr.contains("2_rename_and_retype.toml: operation 1 (rename_column): table `user` does not exist in schema `public` (tables: users)"),
        "{stderr}"
    );
    // Nothing recorded, nothing changed: fixing the file is enough.
    assert_eq!(db.query("SELECT count(*) FROM cutover_expand"), "0");
    project.migration("2_rename_and_retype.toml", "[[operations]]\nop = \"renme_column\"\ntable = \"users\"\n");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let stderr = output_text(&output).1;
    assert!(stderr.contains("2_rename_and_retype.toml:2: unknown variant `renme_column`"), "{stderr}");
    // A field it does not take, or one it lacks: its page lists them.
    project.migration(
        "2_rename_and_retype.toml",
        "[[operations]]\nop = \"drop_table\"\ntable = \"users\"\n\n[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"name\"\n",
    );
    let stderr = output_text(&project.cutover(&db.url).arg("start").output().unwrap()).1;
    assert!(
        stderr.contains(
            "2_rename_and_retype.toml:5: missing field `to`; `cutover explain rename_column` lists its fields"
        ),
        "{stderr}"
    );
    project.migration(
        "2_rename_and_retype.toml",
        "[[operations]]\nop = \"drop_table\"\ntable = \"users\"\ncascade = true\n",
    );
    let stderr = output_text(&project.cutover(&db.url).arg("start").output().unwrap()).1;
    assert!(
        stderr.contains("2_rename_and_retype.toml:1: unknown field `cascade`, expected `table`; `cutover explain drop_table` lists its fields"),
        "{stderr}"
    );
}

/// Every operation's page (`cutover explain OP`, `docs/operations/`) shows an example that
/// works: each, in turn, starts, rolls back, starts again and completes on the tables the pages
/// name.
#[test]
fn every_pages_example_runs() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_examples.up.sql",
        &format!(
            "{}INSERT INTO users (id, email, name, amount, nickname, phone, country) \
             SELECT g, 'user' || g || '@example.com', 'user ' || g, (g * 1.25)::text, 'nick', '555', CASE WHEN g % 2 = 0 THEN 'NL' END FROM generate_series(1, 50) g;\n\
             INSERT INTO orders SELECT g, g % 50 + 1, g FROM generate_series(1, 100) g;\n",
            cutover_expand::ops::EXAMPLE_SCHEMA
        ),
    );
    project.cutover(&db.url).arg("up").assert().success();
    for (idx, operation) in cutover_expand::ops::OPERATION_DOCS.iter().enumerate() {
        let page = operation.page();
        let example = page.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
        project.migration(&format!("{}_{}.toml", idx + 2, operation.name), example);
        for command in ["start", "rollback", "start", "complete"] {
            let output = project.cutover(&db.url).arg(command).output().unwrap();
            assert!(output.status.success(), "{} {command}: {:?}", operation.name, output_text(&output));
        }
    }
    assert_eq!(
        db.query("SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-'), ', ' ORDER BY table_name, ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'cutover%'"),
        "active_users.id bigint YES -, active_users.email text YES -, payments.id bigint NO -, payments.amount numeric NO 0, purchases.id bigint NO -, purchases.user_id bigint YES -, purchases.total integer YES -, users.id bigint NO -, users.email text YES -, users.full_name text NO -, users.plan text YES -, users.phone text YES -, users.country text NO -, users.email_domain text NO 'unknown'::text, users.amount numeric YES -"
    );
    assert_eq!(
        db.query("SELECT count(*) FROM users WHERE email_domain = 'example.com' AND country IN ('NL', 'unknown') AND amount = id * 1.25"),
        "50",
        "the backfills filled every row"
    );
    assert_eq!(leftovers(&db), "NULL");
}

#[test]
fn every_operation_starts_completes_and_rolls_back() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_shop.up.sql",
        "CREATE TABLE customers (id bigint PRIMARY KEY, email text, legacy text NOT NULL DEFAULT 'x', note text DEFAULT 'n', score int NOT NULL);\n\
         CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total int);\n\
         CREATE TABLE old_stuff (id int PRIMARY KEY);\n\
         CREATE TABLE archive (id int PRIMARY KEY);\n\
         CREATE INDEX orders_total ON orders (total);\n\
         INSERT INTO customers SELECT g, 'c' || g || '@x', 'l', NULL, g FROM generate_series(1, 500) g;\n\
         INSERT INTO orders SELECT g, g % 500 + 1, g FROM generate_series(1, 2000) g;\n",
    );
    let all_ops = r#"
[[operations]]
op = "add_column"
table = "customers"
column = "tier"
type = "text"
nullable = false
default = "'basic'"

[[operations]]
op = "add_column"
table = "customers"
column = "email_domain"
type = "text"
up = "split_part(email, '@', 2)"

[[operations]]
op = "drop_column"
table = "customers"
column = "legacy"

[[operations]]
op = "set_not_null"
table = "customers"
column = "email"

[[operations]]
op = "drop_not_null"
table = "customers"
column = "score"

[[operations]]
op = "set_default"
table = "orders"
column = "total"
default = "0"

[[operations]]
op = "drop_default"
table = "customers"
column = "note"

[[operations]]
op = "add_check"
table = "orders"
name = "orders_total_positive"
check = "total > 0"

[[operations]]
op = "add_foreign_key"
table = "orders"
name = "orders_customer_fk"
columns = ["customer_id"]
references = "customers"
references_columns = ["id"]

[[operations]]
op = "add_unique"
table = "customers"
name = "customers_email_key"
columns = ["email"]

[[operations]]
op = "create_index"
table = "orders"
name = "orders_customer_id"
columns = ["customer_id"]

[[operations]]
op = "drop_index"
name = "orders_total"

[[operations]]
op = "create_table"
table = "payments"
columns = [{ name = "id", type = "bigint", nullable = false }, { name = "amount", type = "int" }]
primary_key = ["id"]

[[operations]]
op = "drop_table"
table = "old_stuff"

[[operations]]
op = "rename_table"
from = "archive"
to = "archived_orders"

[[operations]]
op = "sql"
up = "COMMENT ON TABLE orders IS 'expanded'"
down = "COMMENT ON TABLE orders IS NULL"
"#;
    project.migration("2_everything.toml", all_ops);
    project.cutover(&db.url).arg("up").assert().success();
    let schema_before = db.query(
        "SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-'), ', ' ORDER BY table_name, ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'cutover%'",
    );
    let constraints_before = db.query("SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conname NOT LIKE 'cutover%'");
    let indexes_before = db.query("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE 'cutover%'");

    // Start, then roll back: everything as it was.
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    assert_eq!(
        db.query("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public_v2' AND table_name = 'customers'"),
        "id,email,note,score,tier,email_domain"
    );
    assert_eq!(db.query("SELECT count(*) FROM public_v2.customers WHERE email_domain = 'x' AND tier = 'basic'"), "500");
    assert_eq!(db.query("SELECT count(*) FROM public_v2.archived_orders"), "0");
    assert_eq!(db.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public_v2' AND table_name = 'old_stuff'"), "0");
    // The new version inserts without the dropped column; the old one without the new ones.
    db.query("INSERT INTO public_v2.customers (id, email, score) VALUES (1001, 'n@new', 1)");
    db.query("INSERT INTO public.customers (id, email, score) VALUES (1002, 'o@old', 2)");
    assert_eq!(db.query("SELECT tier || ' ' || email_domain FROM public.customers WHERE id = 1002"), "basic old");
    db.query("DELETE FROM public.customers WHERE id > 1000");
    let output = project.cutover(&db.url).arg("rollback").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    let schema_after = db.query(
        "SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-'), ', ' ORDER BY table_name, ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'cutover%'",
    );
    assert_eq!(schema_after, schema_before);
    assert_eq!(db.query("SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conname NOT LIKE 'cutover%'"), constraints_before);
    assert_eq!(db.query("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE 'cutover%'"), indexes_before);
    assert_eq!(db.query("SELECT obj_description('orders'::regclass)"), "NULL");

    // Start again, and complete: the new schema is the real one.
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).arg("complete").assert().success();
    assert_eq!(
        db.query("SELECT string_agg(column_name || ' ' || is_nullable, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers'"),
        "id NO,email NO,note YES,score YES,tier NO,email_domain YES"
    );
    assert_eq!(db.query("SELECT column_default FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'customers' AND column_name = 'note'"), "NULL");
    assert_eq!(db.query("SELECT string_agg(conname || ':' || convalidated, ',' ORDER BY conname) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('c', 'f', 'u') AND conname NOT LIKE 'cutover%'"),
        "customers_email_key:true,orders_customer_fk:true,orders_total_positive:true");
    assert_eq!(db.query("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'orders'"), "orders_customer_id,orders_pkey");
    assert_eq!(db.query("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'cutover%'"), "archived_orders,customers,orders,payments");
    assert_eq!(db.query("SELECT obj_description('orders'::regclass)"), "expanded");
    assert_eq!(leftovers(&db), "NULL");
}

#[test]
fn lint_reports_what_each_phase_locks() {
    let project = Project::new();
    project
        .migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, amount text);\n");
    project.migration("1_users.down.sql", "DROP TABLE users;\n");
    project.migration("2_rename_and_retype.toml", RENAME_AND_RETYPE);
    project.migration("3_bad.toml", "[[operations]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"nope\"\n");
    let output = project.cutover("sqlite://unused.db").args(["lint", "migrations"]).output().unwrap();
    let stdout = output_text(&output).0;
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("migrations/2_rename_and_retype.toml: expand/contract phases"), "{stdout}");
    let expand = stdout.split("start: expand").nth(1).unwrap();
    assert!(expand.contains("ADD COLUMN IF NOT EXISTS \"_cutover_amount\" numeric(12,2)\n      ACCESS EXCLUSIVE (blocks reads and writes) briefly (catalog only)"), "{stdout}");
    assert!(stdout.contains("start: backfill (keyset batches, checkpointed, resumable):\n    UPDATE \"public\".\"users\" SET \"_cutover_amount\" = (amount::numeric(12,2))"), "{stdout}");
    assert!(stdout.contains("complete (one transaction, with the history row):"), "{stdout}");
    assert!(
        stdout.contains(
            "RENAME COLUMN \"name\" TO \"full_name\"\n      ACCESS EXCLUSIVE (blocks reads and writes) briefly"
        ),
        "{stdout}"
    );
    // Planned on the schema migration 2 leaves (`name` is `full_name` by then).
    assert!(stdout.contains("migrations/3_bad.toml: error: migrations/3_bad.toml: operation 1 (drop_column): table `users` has no column `nope` (columns: id, full_name, amount)"), "{stdout}");

    let output =
        project.cutover("sqlite://unused.db").args(["lint", "migrations", "--format", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let declarative = json["declarative"].as_array().unwrap();
    assert_eq!(declarative.len(), 2);
    let complete = declarative[0]["phases"].as_array().unwrap().iter().find(|p| p["name"] == "complete").unwrap();
    let rename = complete["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["statement"].as_str().unwrap().contains("RENAME COLUMN \"name\""))
        .unwrap();
    assert_eq!(rename["locks"][0]["mode"], "ACCESS EXCLUSIVE", "{rename}");
    assert!(declarative[1]["error"].as_str().unwrap().contains("has no column `nope`"));
    assert_eq!(json["summary"]["errors"], 1);
}

#[test]
fn hostile_identifiers_stay_identifiers() {
    let db = PgDb::new();
    let project = Project::new();
    // Quotes, a semicolon, a dollar quote, a comment and Unicode in table and column names.
    project.migration(
        "1_weird.up.sql",
        "CREATE TABLE \"Or'ders\"\"; DROP TABLE x; --\" (id bigint PRIMARY KEY, \"na\"\"me $$\" text NOT NULL, \"amo;unt ünï\" text);\n\
         CREATE TABLE x (id int);\n\
         INSERT INTO \"Or'ders\"\"; DROP TABLE x; --\" SELECT g, 'n' || g, g::text FROM generate_series(1, 300) g;\n",
    );
    project.migration(
        "2_weird.toml",
        r#"
[[operations]]
op = "rename_column"
table = "Or'ders\"; DROP TABLE x; --"
from = "na\"me $$"
to = "full $name'"

[[operations]]
op = "change_type"
table = "Or'ders\"; DROP TABLE x; --"
column = "amo;unt ünï"
type = "numeric"
up = '"amo;unt ünï"::numeric'
down = '"amo;unt ünï"::text'

[[operations]]
op = "create_index"
table = "Or'ders\"; DROP TABLE x; --"
name = "ix'\"$"
columns = ["na\"me $$"]
"#,
    );
    up_and_start(&project, &db);
    let table = "\"Or'ders\"\"; DROP TABLE x; --\"";
    db.query(&format!("INSERT INTO {table} VALUES (1000, 'old', '12.5')"));
    db.query(&format!(
        "INSERT INTO public_v2.{table} (id, \"full $name'\", \"amo;unt ünï\") VALUES (1001, 'new', 7.25)"
    ));
    assert_eq!(
        db.query(&format!(
            "SELECT \"na\"\"me $$\" || '|' || \"amo;unt ünï\" FROM public.{table} WHERE id IN (1000, 1001) ORDER BY id"
        )),
        "old|12.5\nnew|7.25"
    );
    project.cutover(&db.url).arg("complete").assert().success();
    assert_eq!(db.query("SELECT count(*) FROM x"), "0", "table x survived");
    assert_eq!(
        db.query(&format!("SELECT \"full $name'\" || '|' || \"amo;unt ünï\" FROM {table} WHERE id = 7")),
        "n7|7"
    );
    assert_eq!(
        db.query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attname = 'amo;unt ünï' AND attrelid = 'public.\"Or''ders\"\"; DROP TABLE x; --\"'::regclass"),
        "numeric"
    );
    assert_eq!(db.query("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix''\"$'"), "1");
    assert_eq!(leftovers(&db), "NULL");
}

/// The old version never names a column the migration adds, so with both `default` and `up`
/// its inserts get `up` (from their own columns; `default` where that is NULL), while the new
/// version's inserts that leave the column out get `default`, and an explicit value is kept.
#[test]
fn a_column_with_default_and_up_gets_up_from_the_old_version_and_default_from_the_new() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_users.up.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n\
         INSERT INTO users VALUES (1, 'a@one.example'), (2, NULL);\n",
    );
    project.migration(
        "2_domain.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"domain\"\ntype = \"text\"\n\
         nullable = false\ndefault = \"'unknown'\"\nup = \"split_part(email, '@', 2)\"\n",
    );
    up_and_start(&project, &db);
    db.query("INSERT INTO public.users (id, email) VALUES (3, 'b@three.example'), (6, NULL)");
    db.query("INSERT INTO public_v2.users (id, email) VALUES (4, 'c@four.example')");
    db.query("INSERT INTO public_v2.users (id, email, domain) VALUES (5, 'd@five.example', 'given')");
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    db.query("INSERT INTO users (id, email) VALUES (7, 'e@seven.example')");
    assert_eq!(
        db.query("SELECT string_agg(id || '=' || domain, ' ' ORDER BY id) FROM users"),
        "1=one.example 2=unknown 3=three.example 4=unknown 5=given 6=unknown 7=unknown"
    );
    assert_eq!(leftovers(&db), "NULL");
}

/// `complete` and `rollback` drop a version's schema: what the user built on its views (a view,
/// a column of the views' row type, a view on that view) or put in it (a type, a view, a
/// function) would go with it (`DROP SCHEMA .. CASCADE`), so the step is refused, naming all of
/// it, and nothing is dropped until the user has moved it. A refused rollback leaves the
/// migration as it was.
#[test]
fn a_users_objects_on_a_version_schema_stop_its_drop_instead_of_going_with_it() {
    let db = PgDb::new();
    let project = project_with(100);
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).arg("complete").assert().success();
    project.migration(
        "3_phone.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"phone\"\ntype = \"text\"\n",
    );
    project.cutover(&db.url).arg("start").assert().success();
    db.query(
        "CREATE VIEW report AS SELECT full_name FROM public_v2.users; CREATE VIEW report_names AS SELECT * FROM report; \
         CREATE TABLE snapshot (id int, u public_v2.users); INSERT INTO snapshot SELECT id, u FROM public_v2.users u; \
         CREATE FUNCTION public_v2.helper() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
         CREATE TYPE public_v2.mood AS ENUM ('ok'); CREATE TABLE moods (m public_v2.mood); INSERT INTO moods VALUES ('ok')",
    );
    let complete = |expected: &[&str], kept: &str| {
        let output = project.cutover(&db.url).arg("complete").output().unwrap();
        let (out, err) = output_text(&output);
        assert!(!output.status.success(), "{out}{err}");
        assert!(err.contains("public_v2 is dropped at this step"), "{err}");
        assert!(err.contains("the migration stays started"), "{err}");
        assert_eq!(db.query("SELECT phase FROM cutover_expand WHERE version = '3'"), "started", "{err}");
        for expected in expected {
            assert!(err.contains(expected), "missing `{expected}`: {err}");
        }
        assert_eq!(db.query("SELECT count(*) FROM public_v2.users"), "100", "nothing was dropped");
        assert_eq!(
            db.query("SELECT count(*) FROM pg_class WHERE relname IN ('report', 'report_names', 'moods')"),
            kept
        );
    };
    complete(
        &[
            "view report depends on view public_v2.users",
            "view report_names depends on view report",
            "column u of table snapshot",
        ],
        "3",
    );
    assert_eq!(db.query("SELECT count(u) FROM snapshot"), "100");
    db.query("DROP VIEW report_names, report; ALTER TABLE snapshot ALTER COLUMN u TYPE text USING u::text");
    complete(&["function public_v2.helper()", "type public_v2.mood", "column m of table moods"], "1");
    assert_eq!(db.query("SELECT count(m) FROM moods"), "1");
    db.query("DROP FUNCTION public_v2.helper(); DROP TABLE moods; DROP TYPE public_v2.mood");
    project.cutover(&db.url).arg("complete").assert().success();
    assert_eq!(db.query("SELECT to_regnamespace('public_v2') IS NULL"), "t");

    // The same at a rollback, of the version it drops; refused, the migration stays started.
    project.migration(
        "4_email.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"email\"\ntype = \"text\"\n",
    );
    project.cutover(&db.url).arg("start").assert().success();
    db.query("CREATE VIEW emails AS SELECT email FROM public_v4.users; CREATE VIEW public_v4.mine AS SELECT id, full_name || '!' AS shout FROM public.users; \
         CREATE VIEW public_v4.orders_of AS SELECT u.id FROM public.users u JOIN public.users o USING (id);");
    let output = project.cutover(&db.url).arg("rollback").output().unwrap();
    let (out, err) = output_text(&output);
    assert!(!output.status.success(), "{out}{err}");
    assert!(err.contains("view emails") && err.contains("nothing was undone and the migration stays started"), "{err}");
    let output = project.cutover(&db.url).arg("status").output().unwrap();
    assert!(output_text(&output).0.contains("is started since"), "{:?}", output_text(&output));
    db.query("DROP VIEW emails");
    let output = project.cutover(&db.url).arg("rollback").output().unwrap();
    let (out, err) = output_text(&output);
    assert!(!output.status.success() && err.contains("view public_v4.mine"), "a view of the user's in it: {out}{err}");
    db.query("DROP VIEW public_v4.mine");
    let output = project.cutover(&db.url).arg("rollback").output().unwrap();
    let (out, err) = output_text(&output);
    assert!(!output.status.success() && err.contains("view public_v4.orders_of"), "a view of two tables: {out}{err}");
    db.query("DROP VIEW public_v4.orders_of; CREATE PUBLICATION cutover_test_pub FOR TABLES IN SCHEMA public_v4");
    let output = project.cutover(&db.url).arg("rollback").output().unwrap();
    let (out, err) = output_text(&output);
    assert!(!output.status.success() && err.contains("publication cutover_test_pub"), "{out}{err}");
    db.query("DROP PUBLICATION cutover_test_pub");
    project.cutover(&db.url).arg("rollback").assert().success();
    assert_eq!(leftovers(&db), "NULL");
}

/// `lint --database-url` while a migration is started: planned again on its own expanded
/// tables, it was an error ("already has a column") for the whole rolling deploy (tester 22).
#[test]
fn lint_with_the_database_passes_over_the_migration_under_way() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n");
    project.migration(
        "2_domain.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"domain\"\ntype = \"text\"\n",
    );
    up_and_start(&project, &db);
    let lint = || project.cutover(&db.url).args(["--database-url", &db.url, "lint"]).output().unwrap();
    let output = lint();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("migration 2 is started on this database (expand/contract)"), "{stdout}");
    let output = project.cutover(&db.url).arg("plan").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success() && !stdout.contains("already has a column"), "{stdout}{stderr}");
    project.cutover(&db.url).arg("complete").assert().success();
    let output = lint();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success() && stdout.contains("0 errors"), "{stdout}{stderr}");
}

/// A `start` whose backfill meets a row `up` cannot convert used to stay `starting` with its
/// triggers in place, which failed the old version's writes of such values (`INSERT ...
/// 'hello'` into a column becoming `int`) until someone ran `rollback` (tester 22). It rolls
/// back itself, says so, and the old version writes as before.
#[test]
fn a_start_whose_up_refuses_a_row_rolls_back_and_the_old_version_writes_as_before() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE TABLE t (id int PRIMARY KEY, a text);\n\
         INSERT INTO t SELECT g, g::text FROM generate_series(1, 3000) g;\nUPDATE t SET a = 'a1' WHERE id = 2500;\n",
    );
    project.migration(
        "2_int.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"t\"\ncolumn = \"a\"\ntype = \"int\"\nup = \"a::int\"\ndown = \"a::text\"\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("invalid input syntax for type integer"), "{stderr}");
    // Where: the database names the value, not the row (tester 22).
    assert!(stderr.contains("in the batch of the rows after (id) = ("), "{stderr}");
    assert!(stderr.contains("so `start` rolled the migration back (the tables are as they were)"), "{stderr}");
    db.query("INSERT INTO t VALUES (5000, 'hello'); UPDATE t SET a = 'x' WHERE id = 1");
    assert_eq!(db.query("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = '_cutover_a' AND NOT attisdropped"), "0");
    let output = project.cutover(&db.url).arg("status").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    // Fixed, it starts and completes.
    db.query("UPDATE t SET a = NULL WHERE a !~ '^[0-9]+$'");
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(db.query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'a'"), "integer");
    assert_eq!(db.query("SELECT sum(a) FROM t"), (3000 * 3001 / 2 - 1 - 2500).to_string());
}

/// A type change of a column with a default: an insert of the new version that writes NULL
/// gave the old column its default, and the trigger took that for the old version's write of
/// the default, so the row kept the default through `complete` (tester 22). Each way of writing
/// the column, by each version, keeps what was written.
#[test]
fn change_type_of_a_column_with_a_default_keeps_what_each_version_writes() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY, v text DEFAULT 'dflt', w int);\n");
    project.migration(
        "2_retype.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"t\"\ncolumn = \"v\"\ntype = \"varchar(50)\"\nup = \"v::varchar(50)\"\ndown = \"v::text\"\n",
    );
    up_and_start(&project, &db);
    db.query(
        "INSERT INTO public_v2.t (id, v, w) VALUES (1, NULL, 1);\n\
         INSERT INTO public_v2.t (id, w) VALUES (2, 1);\n\
         INSERT INTO public_v2.t (id, v) VALUES (3, 'new');\n\
         INSERT INTO public.t (id, w) VALUES (4, 1);\n\
         INSERT INTO public.t (id, v) VALUES (5, NULL), (6, 'old');\n\
         INSERT INTO public.t (id, w) SELECT g, 1 FROM generate_series(7, 8) g;\n\
         BEGIN; INSERT INTO public.t (id) VALUES (9); INSERT INTO public_v2.t (id, v) VALUES (10, NULL); COMMIT;",
    );
    let expected = "1=NULL 2=dflt 3=new 4=dflt 5=NULL 6=old 7=dflt 8=dflt 9=dflt 10=NULL";
    assert_eq!(
        db.query("SELECT string_agg(id || '=' || coalesce(v, 'NULL'), ' ' ORDER BY id) FROM public.t"),
        expected
    );
    assert_eq!(
        db.query("SELECT string_agg(id || '=' || coalesce(v, 'NULL'), ' ' ORDER BY id) FROM public_v2.t"),
        expected
    );
    // `DEFAULT` in the new version is the column's default after `complete` (tester 23).
    db.query("UPDATE public_v2.t SET v = 'x' WHERE id = 3; UPDATE public_v2.t SET v = DEFAULT WHERE id = 3");
    assert_eq!(db.query("SELECT v FROM public_v2.t WHERE id = 3"), "dflt");
    db.query("UPDATE public_v2.t SET v = 'new' WHERE id = 3");
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(db.query("SELECT string_agg(id || '=' || coalesce(v, 'NULL'), ' ' ORDER BY id) FROM t"), expected);
    db.query("INSERT INTO t (id) VALUES (11)");
    assert_eq!(db.query("SELECT v || ' ' || pg_get_expr(adbin, adrelid) FROM t, pg_attrdef WHERE id = 11 AND adrelid = 't'::regclass"), "dflt ('dflt'::text)::character varying(50)");
}

/// The same for a column added with `up`: an insert of the new version that writes NULL was
/// filled by `up`, as if the old version had written it; and `complete` leaves the column no
/// default when the operation gives none. The new version's insert that leaves the column out
/// gets NULL, as it does after `complete` (tester 23: filled by `up` until then, an app that
/// never wrote a NOT NULL column worked until `complete` and failed from then on).
#[test]
fn add_column_with_up_keeps_a_null_the_new_version_writes() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, email text);\n");
    project.migration(
        "2_domain.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"domain\"\ntype = \"text\"\nup = \"split_part(email, '@', 2)\"\n",
    );
    up_and_start(&project, &db);
    db.query(
        "INSERT INTO public.users VALUES (1, 'a@one');\n\
         INSERT INTO public_v2.users (id, email) VALUES (2, 'b@two');\n\
         INSERT INTO public_v2.users (id, email, domain) VALUES (3, 'c@three', NULL), (4, 'd@four', 'given');\n\
         INSERT INTO public.users SELECT g, 'e@five' FROM generate_series(5, 6) g;",
    );
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    db.query("INSERT INTO users (id, email) VALUES (7, 'f@seven')");
    assert_eq!(
        db.query("SELECT string_agg(id || '=' || coalesce(domain, 'NULL'), ' ' ORDER BY id) FROM users"),
        "1=one 2=NULL 3=NULL 4=given 5=five 6=five 7=NULL"
    );

    // NOT NULL: the new version's insert that leaves it out is refused before `complete` too.
    project.migration(
        "3_region.toml",
        "[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"region\"\ntype = \"text\"\nnullable = false\nup = \"'eu'\"\n",
    );
    db.query("UPDATE users SET domain = 'x' WHERE domain IS NULL");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    db.query("INSERT INTO public.users (id, email) VALUES (8, 'old@app')");
    let refused =
        db.client().batch_execute("INSERT INTO public_v3.users (id, email, domain) VALUES (9, 'new@app', 'app')");
    let refused = refused.map_err(|err| format!("{err:?}"));
    assert!(refused.as_ref().is_err_and(|err| err.contains("_cutover_nn_region")), "{refused:?}");
    db.query("INSERT INTO public_v3.users (id, email, domain, region) VALUES (9, 'new@app', 'app', 'us')");
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(
        db.query("SELECT string_agg(id || '=' || region, ' ' ORDER BY id) FROM users WHERE id >= 7"),
        "7=eu 8=eu 9=us"
    );
}

/// An operation that backfills a table with no key (no primary key, no unique index on NOT
/// NULL columns) is refused by `lint` and `plan` with the database, and by `start` before
/// anything runs; `start` stopped in its backfill, after other tables' triggers were in place
/// (tester 22).
#[test]
fn a_backfill_of_a_table_without_a_key_is_refused_before_anything_runs() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE TABLE keyed (id int PRIMARY KEY, a text);\nCREATE TABLE nopk (n int, a text);\n\
         CREATE TABLE nullable_unique (n int UNIQUE, a text);\nINSERT INTO nopk VALUES (1, '1');\n",
    );
    let retype = |table: &str| {
        format!("[[operations]]\nop = \"change_type\"\ntable = \"{table}\"\ncolumn = \"a\"\ntype = \"int\"\nup = \"a::int\"\ndown = \"a::text\"\n\n")
    };
    project.migration("2_retype.toml", &[retype("keyed"), retype("nopk"), retype("nullable_unique")].concat());
    project.cutover(&db.url).arg("up").assert().success();
    let expected = "table `nopk` has no primary key and no unique index on NOT NULL columns";
    let output = project.cutover(&db.url).args(["--database-url", &db.url, "lint"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success() && stdout.contains(expected), "{stdout}{stderr}");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success() && stderr.contains(expected), "{stdout}{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM pg_trigger WHERE tgname ~ '^(zz)?_cutover'"), "0");
    assert_eq!(db.query("SELECT count(*) FROM pg_attribute WHERE attname = '_cutover_a'"), "0");
    // The unique index of nullable columns is no key either; with a key, it starts.
    db.query("ALTER TABLE nopk ADD PRIMARY KEY (n)");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let (_, stderr) = output_text(&output);
    assert!(stderr.contains("table `nullable_unique` has no primary key"), "{stderr}");
    db.query("ALTER TABLE nullable_unique ALTER COLUMN n SET NOT NULL");
    project.cutover(&db.url).arg("start").assert().success();
}

/// A `start` whose first transaction fails (a type that does not exist) changed nothing: it is
/// not left `starting` for a `rollback` to undo nothing, and the fixed file starts (tester 22).
#[test]
fn a_start_whose_expand_transaction_fails_changes_nothing_and_the_fixed_file_starts() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);\n");
    let add = |type_name: &str| {
        format!("[[operations]]\nop = \"add_column\"\ntable = \"t\"\ncolumn = \"c\"\ntype = \"{type_name}\"\n")
    };
    project.migration("2_c.toml", &add("texxt"));
    project.cutover(&db.url).arg("up").assert().success();
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("type \"texxt\" does not exist") && stderr.contains("nothing was changed"), "{stderr}");
    assert!(!stderr.contains("recorded as starting"), "{stderr}");
    let output = project.cutover(&db.url).arg("status").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success() && !stdout.contains("starting"), "{stdout}{stderr}");
    project.migration("2_c.toml", &add("text"));
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output.status.success(), "{:?}", output_text(&output));
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(db.query("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'"), "text");
}

/// A column a user's view reads cannot be dropped at `complete`: a type change or a drop of it
/// is refused by `lint` and by `start` before anything runs, naming the view, not by a failed
/// `complete` (tester 22). The versions' own views do not count.
#[test]
fn a_column_a_users_view_reads_is_refused_at_plan_time() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE TABLE t (id int PRIMARY KEY, amount text, note text);\nCREATE VIEW rich AS SELECT id FROM t WHERE amount::numeric > 100;\n",
    );
    project.migration(
        "2_retype.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"t\"\ncolumn = \"amount\"\ntype = \"numeric\"\nup = \"amount::numeric\"\ndown = \"amount::text\"\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    let expected = "`t.amount` is read by the view `public.rich`";
    let output = project.cutover(&db.url).args(["--database-url", &db.url, "lint"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success() && stdout.contains(expected), "{stdout}{stderr}");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success() && stderr.contains(expected), "{stdout}{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM pg_attribute WHERE attname = '_cutover_amount'"), "0");
    // Without the view it goes through; a drop of a column only the version's views read too.
    project.migration("2_retype.toml", "[[operations]]\nop = \"drop_column\"\ntable = \"t\"\ncolumn = \"note\"\n");
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    project.migration("3_drop.toml", "[[operations]]\nop = \"drop_column\"\ntable = \"t\"\ncolumn = \"amount\"\n");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output_text(&output).1.contains(expected), "{:?}", output_text(&output));
    db.query("DROP VIEW rich");
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    // A view over the whole table stops its drop the same way (tester 24).
    db.query("CREATE VIEW everything AS SELECT * FROM t");
    project.migration("4_drop.toml", "[[operations]]\nop = \"drop_table\"\ntable = \"t\"\n");
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(
        output_text(&output).1.contains("table `t` is read by the view `public.everything`"),
        "{:?}",
        output_text(&output)
    );
}

/// The table's own BEFORE triggers (`trim_name`, `set_updated_at`) fired after the dual-write
/// one, so the new column kept the value they replaced: a name stored trimmed in the old column
/// stayed untrimmed in the new one (tester 23). The dual-write trigger fires last.
#[test]
fn the_tables_own_triggers_run_before_the_dual_write() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE TABLE t (id int PRIMARY KEY, name text, touched int NOT NULL DEFAULT 0);\n\
         CREATE FUNCTION trim_name() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := trim(NEW.name); NEW.touched := NEW.touched + 1; RETURN NEW; END $$;\n\
         CREATE TRIGGER trim_name BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION trim_name();\n\
         INSERT INTO t (id, name) VALUES (1, 'one');\n",
    );
    project.migration(
        "2_retype.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"t\"\ncolumn = \"name\"\ntype = \"varchar(20)\"\nup = \"name::varchar(20)\"\ndown = \"name::text\"\n\n\
         [[operations]]\nop = \"change_type\"\ntable = \"t\"\ncolumn = \"touched\"\ntype = \"bigint\"\nup = \"touched::bigint\"\ndown = \"touched::int\"\n",
    );
    up_and_start(&project, &db);
    db.query(
        "INSERT INTO public.t (id, name) VALUES (2, '  padded  '); UPDATE public.t SET name = ' one ' WHERE id = 1",
    );
    assert_eq!(
        db.query("SELECT string_agg(id || '=' || name || '/' || touched, ' ' ORDER BY id) FROM public_v2.t"),
        db.query("SELECT string_agg(id || '=' || name || '/' || touched, ' ' ORDER BY id) FROM public.t")
    );
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(db.query("SELECT string_agg(id || '=' || name, ' ' ORDER BY id) FROM t"), "1=one 2=padded");
}

/// A type change whose `up` reads another column: an update of that column alone by the old
/// version left the new column as `up` gave it before (tester 23: 5 dollars read as 0.05).
#[test]
fn change_type_converts_again_when_a_column_up_reads_changes() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_p.up.sql",
        "CREATE TABLE p (id int PRIMARY KEY, price text, unit text);\nINSERT INTO p VALUES (1, '5', 'cents'), (2, '700', 'cents');\n",
    );
    project.migration(
        "2_numeric.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"p\"\ncolumn = \"price\"\ntype = \"numeric(12,2)\"\n\
         up = \"CASE WHEN unit = 'cents' THEN price::numeric / 100 ELSE price::numeric END\"\ndown = \"price::text\"\n",
    );
    up_and_start(&project, &db);
    db.query("UPDATE public.p SET unit = 'dollars' WHERE id = 1");
    assert_eq!(db.query("SELECT string_agg(id || '=' || price, ' ' ORDER BY id) FROM public_v2.p"), "1=5.00 2=7.00");
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(db.query("SELECT string_agg(id || '=' || price, ' ' ORDER BY id) FROM p"), "1=5.00 2=7.00");
}

/// The backfill of a new or shadow column fired the table's own UPDATE triggers: an
/// `updated_at` trigger moved every row's time, and `rollback` left it moved (tester 23). As a
/// superuser (or a role granted SET on `session_replication_role`) they are kept out; a change
/// the old version makes still fires them.
#[test]
fn a_backfill_of_a_hidden_column_leaves_the_tables_own_triggers_out() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_items.up.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, qty text, updated_at timestamptz NOT NULL DEFAULT now());\n\
         CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;\n\
         CREATE TRIGGER set_updated_at BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION set_updated_at();\n\
         INSERT INTO items SELECT g, g::text, '2020-01-01' FROM generate_series(1, 2000) g;\n",
    );
    project.migration(
        "2_int.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"items\"\ncolumn = \"qty\"\ntype = \"int\"\nup = \"qty::int\"\ndown = \"qty::text\"\n",
    );
    up_and_start(&project, &db);
    let moved = || db.query("SELECT count(*) FROM items WHERE updated_at <> '2020-01-01'");
    assert_eq!(moved(), "0");
    assert_eq!(db.query("SELECT count(*) FROM items WHERE _cutover_qty IS NULL"), "0");
    db.query("UPDATE items SET qty = '7' WHERE id = 1");
    assert_eq!(moved(), "1");
    project.cutover(&db.url).arg("rollback").assert().success();
    assert_eq!(moved(), "1");
}

/// A `start` that cannot finish on these rows or this table: an index on a partitioned table
/// (which PostgreSQL builds no index on CONCURRENTLY) is refused when planned; a unique index
/// over duplicate rows rolls the migration back, rather than leave it `starting` with an
/// INVALID index in place (tester 23).
#[test]
fn a_start_that_cannot_finish_is_refused_or_rolled_back() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE TABLE ev (id int, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);\n\
         CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n\
         CREATE TABLE u (id int PRIMARY KEY, email text);\nINSERT INTO u VALUES (1, 'a'), (2, 'a');\n",
    );
    project.migration(
        "2_idx.toml",
        "[[operations]]\nop = \"create_index\"\ntable = \"ev\"\nname = \"ev_v\"\ncolumns = [\"v\"]\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    let expected = "table `ev` is partitioned, and PostgreSQL builds no index on a partitioned table CONCURRENTLY";
    let output = project.cutover(&db.url).args(["--database-url", &db.url, "lint"]).output().unwrap();
    assert!(!output.status.success() && output_text(&output).0.contains(expected), "{:?}", output_text(&output));
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    assert!(output_text(&output).1.contains(expected), "{:?}", output_text(&output));

    project.migration(
        "2_idx.toml",
        "[[operations]]\nop = \"add_unique\"\ntable = \"u\"\nname = \"u_email\"\ncolumns = [\"email\"]\n",
    );
    let output = project.cutover(&db.url).arg("start").output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("could not create unique index") && stderr.contains("so `start` rolled the migration back"),
        "{stderr}"
    );
    assert_eq!(db.query("SELECT count(*) FROM pg_class WHERE relname = 'u_email'"), "0");
    db.query("UPDATE u SET email = 'b' WHERE id = 2");
    project.cutover(&db.url).arg("start").assert().success();
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(db.query("SELECT count(*) FROM pg_constraint WHERE conname = 'u_email' AND contype = 'u'"), "1");
}

/// The new version's update of a retyped column, on a table whose own trigger rewrites the old
/// column (`upper(code)`): the dual-write trigger, firing after it, took the write for the old
/// version's and overwrote the new value with the old one upper-cased (tester 24).
#[test]
fn a_new_version_write_survives_the_tables_own_trigger_on_the_old_column() {
    let db = PgDb::new();
    let project = Project::new();
    project.migration(
        "1_t.up.sql",
        "CREATE TABLE t (id int PRIMARY KEY, code varchar(10));\nINSERT INTO t VALUES (1, 'abc'), (2, 'def');\n\
         CREATE FUNCTION up_code() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.code := upper(NEW.code); RETURN NEW; END $$;\n\
         CREATE TRIGGER up_code BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION up_code();\n",
    );
    project.migration(
        "2_text.toml",
        "[[operations]]\nop = \"change_type\"\ntable = \"t\"\ncolumn = \"code\"\ntype = \"text\"\nup = \"code::text\"\ndown = \"code::varchar(10)\"\n",
    );
    up_and_start(&project, &db);
    db.query("UPDATE public_v2.t SET code = 'new1' WHERE id = 1; INSERT INTO public_v2.t VALUES (3, 'new3'); UPDATE public.t SET code = 'old2' WHERE id = 2");
    project.cutover(&db.url).args(["complete", "--force"]).assert().success();
    assert_eq!(db.query("SELECT string_agg(id || '=' || code, ' ' ORDER BY id) FROM t"), "1=new1 2=OLD2 3=new3");
}

/// A busy old writer on the base tables, with short transactions and no version in its name,
/// holds no lock at most instants: `complete` went ahead without it, and its writes failed from
/// then on (tester 24). Looked at again over a second, it is seen.
#[test]
fn complete_sees_a_busy_old_writer_between_its_transactions() {
    let db = PgDb::new();
    let project = project_with(1000);
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, mut client) = (Arc::clone(&stop), db.client());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                client.batch_execute("UPDATE public.users SET name = name WHERE id = 1").unwrap();
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 session is still on an old version"), "{stderr}");
    project.cutover(&db.url).arg("complete").assert().success();
}
