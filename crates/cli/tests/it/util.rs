//! Test helpers: a fresh PostgreSQL database per test, a project folder per test, and the
//! `cutover` command pointed at both.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;

/// The admin URL of the test server. Set by `scripts/test.sh`; the default is the local server.
pub fn admin_url() -> String {
    std::env::var("CUTOVER_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A database created for one test and dropped when the test ends.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Held (shared) by the tests that run `cutover plan` on MariaDB, and alone by the one that
/// installs and uninstalls the `metadata_lock_info` plugin: MariaDB 10.11 crashed (signal 11 in
/// `create_schema_table`) when `plan`'s query of `information_schema.METADATA_LOCK_INFO` met the
/// plugin's uninstall, and took every test of the server with it.
pub static MARIADB_PLUGIN: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A shared hold of [`MARIADB_PLUGIN`], for a test that runs `cutover plan` on MariaDB.
pub fn mariadb_plan_guard() -> std::sync::RwLockReadGuard<'static, ()> {
    MARIADB_PLUGIN.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PgDb {
    pub fn new() -> PgDb {
        let name = format!("cutover_t{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let mut admin = admin_client();
        // Two round trips: one multi-statement string would be one implicit transaction, where
        // CREATE DATABASE cannot run.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        PgDb { url: url_for(&admin_url(), &name), name }
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// Runs a query and returns every value as text (NULL as "NULL"), one row per line, tab-separated.
    pub fn query(&self, sql: &str) -> String {
        let mut client = self.client();
        let messages = client.simple_query(sql).unwrap();
        let mut lines = Vec::new();
        for message in messages {
            if let postgres::SimpleQueryMessage::Row(row) = message {
                let values: Vec<&str> = (0..row.len()).map(|i| row.get(i).unwrap_or("NULL")).collect();
                lines.push(values.join("\t"));
            }
        }
        lines.join("\n")
    }

    /// Like `query`, but `None` when the query fails (a table that does not exist yet, say).
    pub fn try_query(&self, sql: &str) -> Option<String> {
        let mut client = self.client();
        let messages = client.simple_query(sql).ok()?;
        messages.into_iter().find_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
    }

    /// The user tables of the public schema, sorted, comma-separated.
    pub fn tables(&self) -> String {
        self.query("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

pub fn admin_client() -> postgres::Client {
    let url = admin_url();
    postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|err| {
        panic!("cannot reach the test PostgreSQL at {url}: {err}\nstart it with `bash scripts/services.sh` (or run the suite with `bash scripts/test.sh`), or point CUTOVER_TEST_PG_URL at a server")
    })
}

/// `base` with its database name replaced by `name`.
pub fn url_for(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url, format!("?{query}")),
        None => (base, String::new()),
    };
    let (prefix, _) = without_query.rsplit_once('/').expect("the admin URL names a database");
    format!("{prefix}/{name}{query}")
}

/// A project folder with a `migrations` directory.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("migrations")).unwrap();
        Project { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `contents` to `migrations/<rel>`.
    pub fn migration(&self, rel: &str, contents: &str) -> &Project {
        let path = self.path("migrations").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// `cutover` in the project folder, against `database_url`, with fast retries and no
    /// settings leaking in from the environment.
    pub fn cutover(&self, database_url: &str) -> Command {
        Command::from_std(self.cutover_std(database_url))
    }

    /// The same as a plain `std::process::Command`, for tests that spawn and kill.
    pub fn cutover_std(&self, database_url: &str) -> StdCommand {
        let mut cmd = StdCommand::new(cutover_bin());
        prepare(&mut cmd, self.dir.path(), database_url);
        cmd
    }

    /// Runs `n` `cutover <args>` processes at once against `database_url` and checks that every
    /// one exits 0.
    pub fn run_concurrently(&self, database_url: &str, n: usize, args: &[&str]) {
        let children: Vec<_> = (0..n)
            .map(|_| {
                self.cutover_std(database_url)
                    .args(args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        }
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.path("app.db").display())
    }
}

fn prepare(cmd: &mut StdCommand, dir: &Path, database_url: &str) {
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CUTOVER_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.env("DATABASE_URL", database_url).env("CUTOVER_RETRY_BACKOFF", "100ms").env("NO_COLOR", "1");
}

pub fn cutover_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cutover"))
}

/// stdout and stderr of a finished command, as text.
pub fn output_text(output: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A streaming replica of the test server, started on a free loopback port for one test and
/// stopped when dropped (`pg_basebackup -R`, then `pg_ctl start` as the `postgres` user).
pub struct Replica {
    dir: PathBuf,
    bin: PathBuf,
    pub url: String,
    /// Its replication slot on the primary, dropped with it.
    slot: String,
}

impl Replica {
    pub fn start() -> Replica {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries under /usr/lib/postgresql (bash scripts/services.sh installs them)")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("pg_ctl").exists())
            .max()
            .expect("pg_ctl");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("cutover-replica-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        shell(&format!("chown postgres {0} && chmod 700 {0}", dir.display()), None);
        let data = dir.join("data");
        let admin = admin_url();
        let host_port = admin.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432");
        let (host, primary_port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
        // A replication slot of its own keeps the primary's WAL until the replica has it: the
        // shared test server writes a lot of WAL (every test creates and drops a database), and
        // without one it recycles segments the replica still needs, which then never streams.
        let slot = format!("cutover_test_{port}");
        let _ = admin_client().execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
            &[&slot],
        );
        let basebackup = format!(
            "{}/pg_basebackup -h {host} -p {primary_port} -U postgres -D {} -R -X stream --checkpoint=fast -C -S {slot}",
            bin.display(),
            data.display()
        );
        // The shared test server is busy (other tests create, drop and terminate sessions at
        // once): a base backup cut off by that is taken again, twice at most.
        for attempt in 1..=3 {
            let output = StdCommand::new("su").args(["postgres", "-s", "/bin/sh", "-c", &basebackup]).output().unwrap();
            if output.status.success() {
                break;
            }
            assert!(attempt < 3, "`{basebackup}` failed: {}", String::from_utf8_lossy(&output.stderr));
            let _ = std::fs::remove_dir_all(&data);
            let _ = admin_client().execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
                &[&slot],
            );
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        std::fs::write(
            data.join("postgresql.conf"),
            format!(
                "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nhot_standby = on\nwal_receiver_status_interval = 1s\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n").unwrap();
        std::fs::write(data.join("pg_ident.conf"), "").unwrap();
        shell(&format!("chown -R postgres {}", dir.display()), None);
        shell(
            &format!("{}/pg_ctl -D {} -l {}/log -w -t 60 start", bin.display(), data.display(), dir.display()),
            Some("postgres"),
        );
        let replica = Replica { dir, bin, url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), slot };
        // Wait until the primary sees it streaming. Replaying the base backup's WAL can take a
        // while on a busy test server (every test creates and drops a database).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut admin_client = admin_client();
        loop {
            let n: i64 = admin_client
                .query_one("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", &[])
                .unwrap()
                .get(0);
            if n > 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the replica never started streaming");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        replica
    }

    pub fn execute(&self, sql: &str) {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        client.batch_execute(sql).unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let stop = format!("{}/pg_ctl -D {} -m immediate -w stop", self.bin.display(), data.display());
        let _ = StdCommand::new("su").args(["postgres", "-s", "/bin/sh", "-c", &stop]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
        // The slot would keep the primary's WAL for good.
        for _ in 0..50 {
            let dropped = admin_client()
                .execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
                    &[&self.slot],
                )
                .map_or(true, |n| n > 0);
            let left = admin_client()
                .query_one("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", &[&self.slot])
                .map_or(0, |row| row.get::<_, i64>(0));
            if dropped || left == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Runs `command` with sh, as `user` (through su) or as this process's user; panics with its
/// output when it fails.
fn shell(command: &str, user: Option<&str>) {
    let output = match user {
        Some(user) => StdCommand::new("su").args([user, "-s", "/bin/sh", "-c", command]).output().unwrap(),
        None => StdCommand::new("sh").args(["-c", command]).output().unwrap(),
    };
    assert!(
        output.status.success(),
        "`{command}` failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The admin URL of the test MariaDB/MySQL server (a user that may create databases). Set by
/// `scripts/test.sh`; the default is the local server and the user `scripts/services.sh` makes.
pub fn mysql_admin_url() -> String {
    std::env::var("CUTOVER_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://cutover:cutover-test@127.0.0.1:3306/mysql".to_string())
}

/// A MariaDB/MySQL database created for one test and dropped when the test ends.
pub struct MyDb {
    pub name: String,
    pub url: String,
}

impl MyDb {
    pub fn new() -> MyDb {
        let name = format!("cutover_t{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let mut admin = mysql_conn(&mysql_admin_url());
        use mysql::prelude::Queryable;
        admin.query_drop(format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.query_drop(format!("CREATE DATABASE {name}")).unwrap();
        let admin = mysql_admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_string();
        MyDb { url: format!("{base}/{name}"), name }
    }

    pub fn conn(&self) -> mysql::Conn {
        mysql_conn(&self.url)
    }

    /// Runs statements and returns the first column of every row of the last one, one per line.
    pub fn query(&self, sql: &str) -> String {
        use mysql::prelude::Queryable;
        let mut conn = self.conn();
        let rows: Vec<mysql::Row> = conn.query(sql).unwrap();
        rows.iter()
            .map(|row| match row.as_ref(0) {
                Some(mysql::Value::NULL) | None => "NULL".to_string(),
                Some(value) => value.as_sql(true).trim_matches('\'').to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        use mysql::prelude::Queryable;
        let mut admin = mysql_conn(&mysql_admin_url());
        let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

pub fn mysql_conn(url: &str) -> mysql::Conn {
    mysql::Conn::new(mysql::Opts::from_url(url).unwrap()).unwrap()
}

/// A PostgreSQL server of its own (`initdb` in a temporary folder, on a free port), for tests
/// that restart the server or configure it (TLS) and so cannot share the test server.
pub struct PrivateServer {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
}

impl PrivateServer {
    /// Starts a fresh cluster with `conf` appended to its `postgresql.conf`; `files` are written
    /// into its data folder first (certificates), owned by postgres with mode 600.
    pub fn start(conf: &str, files: &[(&str, Vec<u8>)]) -> PrivateServer {
        let bin = pg_bin();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("cutover-server-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        shell(&format!("chown postgres {0} && chmod 700 {0}", dir.display()), None);
        let data = dir.join("data");
        shell(
            &format!("{}/initdb -D {} -U postgres --auth=trust --no-sync -E UTF8", bin.display(), data.display()),
            Some("postgres"),
        );
        let mut config = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        config.push_str(&format!(
            "\nport = {port}\nlisten_addresses = 'localhost'\nunix_socket_directories = '{}'\nfsync = off\n{conf}\n",
            dir.display()
        ));
        std::fs::write(data.join("postgresql.conf"), config).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n",
        )
        .unwrap();
        for (name, contents) in files {
            std::fs::write(data.join(name), contents).unwrap();
            shell(&format!("chmod 600 {}", data.join(name).display()), None);
        }
        shell(&format!("chown -R postgres {}", dir.display()), None);
        let server = PrivateServer { dir, bin, port, url: format!("postgres://postgres@127.0.0.1:{port}/postgres") };
        server.pg_ctl("start");
        server
    }

    /// `pg_ctl restart -m fast`: every session is disconnected, the server comes back.
    pub fn restart_fast(&self) {
        self.pg_ctl("-m fast restart");
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.dir.join("data");
        shell(
            &format!(
                "{}/pg_ctl -D {} -l {}/log -w -t 60 {action}",
                self.bin.display(),
                data.display(),
                self.dir.display()
            ),
            Some("postgres"),
        );
    }

    /// A new database on this server, and its URL.
    pub fn database(&self, name: &str) -> String {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        url_for(&self.url, name)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let stop = format!("{}/pg_ctl -D {} -m immediate -w stop", self.bin.display(), data.display());
        let _ = StdCommand::new("su").args(["postgres", "-s", "/bin/sh", "-c", &stop]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_bin() -> PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries under /usr/lib/postgresql (bash scripts/services.sh installs them)")
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists())
        .max()
        .expect("pg_ctl")
}

/// Runs `command` with sh in `dir`, panicking with its output when it fails.
pub fn shell_in(dir: &Path, command: &str) {
    shell(&format!("cd {} && {command}", dir.display()), None);
}

/// A MariaDB server of its own (`mariadb-install-db` in a temporary folder, on a free port),
/// for replication tests: the machine's server runs without a binary log.
pub struct PrivateMariadb {
    dir: PathBuf,
    child: std::process::Child,
    args: Vec<String>,
    pub port: u16,
    /// `mysql://cutover:cutover@127.0.0.1:<port>`, without a database.
    pub base_url: String,
}

impl PrivateMariadb {
    /// Starts a fresh server with `server_id`; `primary` adds a row-based binary log.
    pub fn start(server_id: u32, primary: bool) -> PrivateMariadb {
        Self::start_with(server_id, primary, &[], &[])
    }

    /// `start`, with `files` written into the server's folder first (readable by it) and
    /// `extra` arguments, in which `{dir}` is that folder.
    pub fn start_with(server_id: u32, primary: bool, files: &[(&str, Vec<u8>)], extra: &[&str]) -> PrivateMariadb {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("cutover-mariadb-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("data");
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        shell(
            &format!(
                "mariadb-install-db --user=mysql --datadir={} --auth-root-authentication-method=normal --skip-test-db >/dev/null && chown -R mysql {}",
                data.display(),
                dir.display()
            ),
            None,
        );
        let socket = dir.join("sock");
        // Its own temporary files' folder: the shared /tmp of the machine's other servers (and
        // of its own previous process, after a crash) is no place for files it must find again.
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        shell(&format!("chown mysql {}", tmp.display()), None);
        let mut args = vec![
            "--no-defaults".to_string(),
            format!("--tmpdir={}", tmp.display()),
            "--user=mysql".to_string(),
            format!("--datadir={}", data.display()),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".to_string(),
            format!("--socket={}", socket.display()),
            format!("--pid-file={}", dir.join("pid").display()),
            format!("--log-error={}", dir.join("err").display()),
            format!("--server-id={server_id}"),
            "--skip-name-resolve".to_string(),
            "--innodb-buffer-pool-size=64M".to_string(),
        ];
        if primary {
            args.push(format!("--log-bin={}", dir.join("binlog").display()));
            args.push("--binlog-format=ROW".to_string());
        }
        args.extend(extra.iter().map(|arg| arg.replace("{dir}", &dir.display().to_string())));
        let child = Self::spawn(&dir, &args);
        let server =
            PrivateMariadb { dir, child, args, port, base_url: format!("mysql://cutover:cutover@127.0.0.1:{port}") };
        // Out of the binary log: every server makes its own user, and a replica replaying the
        // primary's would fail on it.
        server.root_sql(
            "SET SESSION sql_log_bin = 0; CREATE USER 'cutover'@'%' IDENTIFIED BY 'cutover'; GRANT ALL ON *.* TO 'cutover'@'%' WITH GRANT OPTION;",
        );
        server
    }

    fn spawn(dir: &Path, args: &[String]) -> std::process::Child {
        let socket = dir.join("sock");
        let _ = std::fs::remove_file(&socket);
        let child = StdCommand::new("/usr/sbin/mariadbd")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "mariadbd never started: {}",
                std::fs::read_to_string(dir.join("err")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child
    }

    /// Kills the server (SIGKILL: a crash, as an OOM kill or a power cut would), and starts it
    /// again on the same data: InnoDB recovers what was committed.
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.dir, &self.args);
    }

    /// Runs SQL as root over the server's socket.
    pub fn root_sql(&self, sql: &str) {
        shell(
            &format!(
                "mariadb --no-defaults --socket={} -uroot -e \"{}\"",
                self.dir.join("sock").display(),
                sql.replace('"', "\\\"")
            ),
            None,
        );
    }
}

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cutover rewrite <change>` paced, waits until `copying` says its copy has rows, then
/// checks that a `--cleanup` and the same command beside it wait for it and are refused (the
/// lock of one command at a time), and returns the first one's stdout once it has finished.
pub fn second_commands_wait_for_a_running_rewrite(
    project: &Project,
    url: &str,
    change: &[&str],
    copying: impl Fn() -> bool,
) -> String {
    let first = project
        .cutover_std(url)
        .arg("rewrite")
        .args(change)
        .args(["--max-rows-per-second", "1000", "--batch-time", "5ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !copying() {
        assert!(std::time::Instant::now() < deadline, "the first rewrite never started copying");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let table = &change[..2];
    for args in [&["--cleanup", table[0], table[1]][..], change] {
        let output =
            project.cutover(url).arg("rewrite").args(args).env("CUTOVER_RUNNER_LOCK_WAIT", "1s").output().unwrap();
        let (out, err) = output_text(&output);
        assert!(!output.status.success(), "{args:?} ran beside the running rewrite: {out}{err}");
        assert!(err.contains("another cutover is running a command on the rewrite of"), "{err}");
        assert!(err.contains("waiting for another cutover"), "{err}");
    }
    // Ones that wait until the first is done: a cleanup meant to give up the copy does not
    // drop the old table of the swap made meanwhile (tester 15), nor does a revert undo it at
    // once (tester 16): the rewrite moved on while they waited.
    let waiting: Vec<_> = ["--cleanup", "--revert"]
        .into_iter()
        .map(|operation| {
            project
                .cutover_std(url)
                .arg("rewrite")
                .args([operation, table[0], table[1]])
                .env("CUTOVER_RUNNER_LOCK_WAIT", "120s")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let output = first.wait_with_output().unwrap();
    let (out, err) = output_text(&output);
    assert!(output.status.success(), "{out}{err}");
    for waited in waiting {
        let waited = waited.wait_with_output().unwrap();
        let (waited_out, waited_err) = output_text(&waited);
        assert!(!waited.status.success(), "{waited_out}{waited_err}");
        assert!(
            waited_err.contains("went from copying to swapped while this waited")
                && waited_err.contains("nothing was done"),
            "{waited_err}"
        );
    }
    out
}
