//! A real PgBouncer (Debian's package) in transaction mode in front of the test server: each
//! transaction may run on another server session, so a runner's session lock, `SET`s and
//! prepared statements do not hold. cutover refuses such a URL with the fix, whatever the
//! number of runners at once, and applies nothing; pointed at the server itself (the
//! application keeping its pooled `DATABASE_URL`), the same runners apply each migration once.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use crate::util::{output_text, PgDb, Project};

/// A PgBouncer on a free loopback port for one test, stopped when dropped.
struct PgBouncer {
    dir: PathBuf,
    child: Child,
    port: u16,
}

impl PgBouncer {
    fn start(pool_mode: &str) -> PgBouncer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("cutover-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port=5432 user=postgres\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             auth_type = any\npool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\nunix_socket_dir =\n\
             logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\nignore_startup_parameters = extra_float_digits,options\n",
            dir = dir.display(),
            // A session-mode pool needs a server session for each client session (two a runner).
            pool_size = if pool_mode == "session" { 40 } else { 4 },
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
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
        let name = db.url.rsplit('/').next().unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable", self.port)
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
