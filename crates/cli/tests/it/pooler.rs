//! A real PgBouncer (Debian's package) in transaction mode in front of the test server: each
//! transaction may run on another server session, so a runner's session lock, `SET`s and
//! prepared statements do not hold. cutover refuses such a URL with the fix, whatever the
//! number of runners at once, and applies nothing; pointed at the server itself (the
//! application keeping its pooled `DATABASE_URL`), the same runners apply each migration once.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use crate::util::{admin_client, output_text, PgDb, Project};

/// A PgBouncer on a free loopback port for one test, stopped when dropped.
struct PgBouncer {
    dir: PathBuf,
    child: Child,
    port: u16,
}

impl PgBouncer {
    fn start(pool_mode: &str) -> PgBouncer {
        PgBouncer::start_with(pool_mode, &[], "")
    }

    /// With `users` besides `postgres` allowed in (each connects as itself), and `extra` lines
    /// in its `[pgbouncer]` section.
    fn start_with(pool_mode: &str, users: &[&str], extra: &str) -> PgBouncer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("cutover-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port=5432\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             auth_type = trust\nauth_file = {dir}/users.txt\npool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\nunix_socket_dir =\n\
             logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\nignore_startup_parameters = extra_float_digits,options\n{extra}\n",
            dir = dir.display(),
            // A session-mode pool needs a server session for each client session (two a runner).
            pool_size = if pool_mode == "session" { 40 } else { 4 },
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
        let users: String =
            std::iter::once("postgres").chain(users.iter().copied()).map(|user| format!("\"{user}\" \"\"\n")).collect();
        std::fs::write(dir.join("users.txt"), users).unwrap();
        // PgBouncer refuses to run as root; `-u` switches to the server's user.
        let _ = StdCommand::new("chown").args(["-R", "postgres", &dir.display().to_string()]).output();
        let child = StdCommand::new("/usr/sbin/pgbouncer")
            .args(["-u", "postgres"])
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer (scripts/services.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not start: {:?}",
                std::fs::read_to_string(dir.join("pgbouncer.log"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PgBouncer { dir, child, port }
    }

    /// The URL of `db` through the pooler.
    fn url(&self, db: &PgDb) -> String {
        self.url_as(db, "postgres")
    }

    /// The URL of `db` through the pooler, as `user`.
    fn url_as(&self, db: &PgDb, user: &str) -> String {
        let name = db.url.rsplit('/').next().unwrap();
        format!("postgres://{user}@127.0.0.1:{}/{name}?sslmode=disable", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn migrations(project: &Project) {
    for idx in 1..=4 {
        project.migration(
            &format!("{idx}_t{idx}.up.sql"),
            &format!("CREATE TABLE t{idx} (id int);\nSELECT pg_sleep(0.05);\n"),
        );
    }
}

#[test]
fn eight_runners_through_a_transaction_pooler_are_refused_with_the_fix_and_apply_nothing() {
    let db = PgDb::new();
    let bouncer = PgBouncer::start("transaction");
    let pooled = bouncer.url(&db);
    let project = Project::new();
    migrations(&project);
    let children: Vec<_> = (0..8)
        .map(|_| project.cutover_std(&pooled).arg("up").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let (_, stderr) = output_text(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("through a transaction-pooling proxy (PgBouncer in transaction mode"), "{stderr}");
        assert!(stderr.contains("CUTOVER_DATABASE_URL"), "{stderr}");
    }
    assert_eq!(db.tables(), "NULL", "nothing applied, no history made");

    // The application keeps the pooled DATABASE_URL; cutover is pointed at the server itself.
    let children: Vec<_> = (0..8)
        .map(|_| {
            project
                .cutover_std(&pooled)
                .env("CUTOVER_DATABASE_URL", &db.url)
                .arg("up")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", output_text(&output).1);
    }
    assert_eq!(
        db.query("SELECT count(*), count(DISTINCT version) FROM cutover_history WHERE state = 'applied'"),
        "4\t4",
        "each migration applied exactly once"
    );
}

/// A session-mode pool keeps one server session per client: nothing stands in the way.
#[test]
fn a_session_mode_pooler_is_a_session() {
    let db = PgDb::new();
    let bouncer = PgBouncer::start("session");
    let project = Project::new();
    migrations(&project);
    project.run_concurrently(&bouncer.url(&db), 4, &["up"]);
    assert_eq!(db.query("SELECT count(*) FROM cutover_history WHERE state = 'applied'"), "4");
}

fn first_value(messages: &[postgres::SimpleQueryMessage]) -> Option<String> {
    messages.iter().find_map(|message| match message {
        postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    })
}

/// The version selection the docs give for poolers: a role per version, its `search_path` set
/// on the role, so every pooled server session of that role is on that version. Both versions
/// write and read through PgBouncer in transaction mode while the migration is started, each
/// sees the other's writes, and `complete` sees the old role's server sessions, the pooler's
/// idle ones included, until the pooler closes them (`--wait`).
#[test]
fn a_role_per_version_works_through_a_transaction_pooler_and_complete_waits_for_the_old_role() {
    let db = PgDb::new();
    let (old_role, new_role) = (format!("{}_old", db.name), format!("{}_new", db.name));
    let mut admin = admin_client();
    for (role, path) in [(&old_role, "public"), (&new_role, "public_v2, public")] {
        admin.batch_execute(&format!("CREATE ROLE {role} LOGIN SUPERUSER")).unwrap();
        admin.batch_execute(&format!("ALTER ROLE {role} IN DATABASE {} SET search_path = {path}", db.name)).unwrap();
    }
    // Idle server sessions are closed after 3 s, as a deployment's pooler would after a while.
    let bouncer = PgBouncer::start_with("transaction", &[&old_role, &new_role], "server_idle_timeout = 3");
    let project = Project::new();
    project.migration(
        "1_users.up.sql",
        "CREATE TABLE users (id bigserial PRIMARY KEY, full_name text NOT NULL);\n\
         INSERT INTO users (full_name) SELECT 'user ' || g FROM generate_series(1, 200) g;\n",
    );
    project.migration(
        "2_legal_name.toml",
        "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"full_name\"\nto = \"legal_name\"\n",
    );
    project.cutover(&db.url).arg("up").assert().success();
    project.cutover(&db.url).arg("start").assert().success();

    // Several clients of each version, every statement its own transaction on whichever server
    // session the pooler hands out.
    let connect = |role: &str| postgres::Client::connect(&bouncer.url_as(&db, role), postgres::NoTls).unwrap();
    let mut old: Vec<postgres::Client> = (0..3).map(|_| connect(&old_role)).collect();
    let mut new: Vec<postgres::Client> = (0..3).map(|_| connect(&new_role)).collect();
    for round in 0..20_i64 {
        let id = round + 1;
        let client = &mut old[(round % 3) as usize];
        client.simple_query(&format!("UPDATE users SET full_name = 'old {round}' WHERE id = {id}")).unwrap();
        let seen = new[((round + 1) % 3) as usize]
            .simple_query(&format!("SELECT legal_name FROM users WHERE id = {id}"))
            .unwrap();
        assert_eq!(first_value(&seen).as_deref(), Some(&*format!("old {round}")), "round {round}");
        new[(round % 3) as usize]
            .simple_query(&format!("INSERT INTO users (legal_name) VALUES ('new {round}')"))
            .unwrap();
        let seen = old[((round + 2) % 3) as usize]
            .simple_query(&format!("SELECT count(*) FROM users WHERE full_name = 'new {round}'"))
            .unwrap();
        assert_eq!(first_value(&seen).as_deref(), Some("1"), "round {round}");
    }

    // The old clients are gone, but the pooler keeps their server sessions a while: complete
    // names the role, then waits for the pooler to close them.
    drop(old);
    let output = project.cutover(&db.url).arg("complete").output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&old_role) && stderr.contains("its role's search_path is `public`"), "{stderr}");
    let output = project.cutover(&db.url).args(["complete", "--wait", "60s"]).output().unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    // The new version goes on through the pooler after the contract.
    for client in &mut new {
        client.simple_query("SELECT legal_name FROM users WHERE id = 1").unwrap();
    }
    drop(new);
    drop(bouncer);
    admin.batch_execute(&format!("DROP ROLE {old_role}; DROP ROLE {new_role}")).unwrap();
}

/// A backfill through a transaction pooler is refused like a migration (its advisory lock and
/// its session settings would not hold), and runs pointed at the server.
#[test]
fn a_backfill_through_a_transaction_pooler_is_refused_and_runs_on_the_server() {
    let db = PgDb::new();
    db.query(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, note text NOT NULL, copy text); \
         INSERT INTO accounts SELECT g, md5(g::text), NULL FROM generate_series(1, 5000) g",
    );
    let bouncer = PgBouncer::start("transaction");
    let pooled = bouncer.url(&db);
    let project = Project::new();
    let backfill = ["backfill", "--table", "accounts", "--set", "copy = note"];
    let output = project.cutover(&pooled).args(backfill).output().unwrap();
    let stderr = output_text(&output).1;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("transaction-pooling proxy") && stderr.contains("CUTOVER_DATABASE_URL"), "{stderr}");
    assert_eq!(db.query("SELECT count(*) FROM accounts WHERE copy IS NOT NULL"), "0");
    let output = project.cutover(&pooled).env("CUTOVER_DATABASE_URL", &db.url).args(backfill).output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output).1);
    assert_eq!(db.query("SELECT count(*) FROM accounts WHERE copy = note"), "5000");
}
