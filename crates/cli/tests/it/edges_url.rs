//! The edges of the database URL: passwords with every character (never shown; refused with
//! the fix, before connecting, when the driver would misread them), the root certificate of
//! TLS found as libpq and the mysql client find it, and `database_url_env` naming a variable
//! that is not set.

use mysql::prelude::Queryable;

use crate::faults::test_certificates;
use crate::util::{mysql_admin_url, mysql_conn, output_text, MyDb, PgDb, PrivateServer, Project};

/// Every ASCII punctuation character, for passwords.
fn punctuation() -> String {
    (b'!'..=b'~').filter(u8::is_ascii_punctuation).map(char::from).collect()
}

/// Every byte but letters and digits as `%XX`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// `url` (`scheme://user[:password]@rest`) as `user` with `password`.
fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (_, host_and_path) = rest.rsplit_once('@').unwrap();
    format!("{scheme}://{user}:{password}@{host_and_path}")
}

/// Runs `cutover <args>` against `url` with `env` set; returns the exit code, stdout and stderr,
/// after checking that none of `hidden` shows in either.
fn run(project: &Project, url: &str, args: &[&str], env: &[(&str, &str)], hidden: &[&str]) -> (i32, String, String) {
    let mut command = project.cutover(url);
    command.args(args).env("RUST_LOG", "debug");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let (stdout, stderr) = output_text(&output);
    for secret in hidden {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "cutover {args:?} showed {secret:?}:\n{stdout}\n{stderr}"
        );
    }
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// A password of every punctuation character and some Unicode, between markers that must never
/// show (the punctuation alone is everywhere in messages).
fn nasty_password() -> (String, [&'static str; 4]) {
    let markers = ["Zq7Xk9", "Wv3Jm5", "пароль", "Rt8Hn2"];
    (format!("{}{}{}-{}🔑{}", markers[0], punctuation(), markers[1], markers[2], markers[3]), markers)
}

#[test]
fn a_password_the_driver_would_misread_is_refused_before_connecting() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    let pg = PgDb::new();
    let my = MyDb::new();
    for (url, problem) in [
        (with_user(&pg.url, "postgres", "Zq7/Xk9"), "the password contains `/`; percent-encode it as %2F"),
        (with_user(&pg.url, "postgres", "Zq7@Xk9"), "the password contains `@`; percent-encode it as %40"),
        (
            with_user(&my.url, "cutover", "Zq7?Xk9#Wv3"),
            "the password contains `?` and `#`; percent-encode them as %3F and %23",
        ),
    ] {
        for args in [&["status"][..], &["up"]] {
            let (code, _, stderr) = run(&project, &url, args, &[], &["Zq7", "Xk9", "Wv3"]);
            assert_eq!(code, 2, "{url}: {stderr}");
            assert!(stderr.contains(problem) && stderr.contains(":***@127.0.0.1"), "{stderr}");
        }
    }
    assert_eq!(pg.tables(), "NULL", "nothing applied");
    assert_eq!(
        my.query(&format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}'", my.name)),
        "0"
    );
}

#[test]
fn postgres_passwords_of_every_character_connect_encoded_and_never_show() {
    // A server of its own, where every role but postgres logs in with a password.
    let hba = "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let server = PrivateServer::start("", &[("pg_hba.conf", hba.as_bytes().to_vec())]);
    let (password, markers) = nasty_password();
    let mut admin = postgres::Client::connect(&server.url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE ROLE edge LOGIN PASSWORD '{}'", password.replace('\'', "''"))).unwrap();
    server.database("app");
    admin.batch_execute("ALTER DATABASE app OWNER TO edge").unwrap();
    let base = format!("postgres://edge@127.0.0.1:{}/app", server.port);
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    let encoded = encode(&password);
    let mut hidden = markers.to_vec();
    hidden.push(&encoded);

    // Percent-encoded, the driver reads it whole: the server accepts it.
    let url = with_user(&base, "edge", &encoded);
    let (code, stdout, stderr) = run(&project, &url, &["status"], &[], &hidden);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("postgres://edge:***@127.0.0.1:{}/app", server.port)), "{stdout}");
    let (code, _, stderr) = run(&project, &url, &["up"], &[], &hidden);
    assert_eq!(code, 0, "{stderr}");
    // As written, it is refused before connecting.
    let raw = with_user(&base, "edge", &password);
    for args in [&["status"][..], &["up"]] {
        let (code, _, stderr) = run(&project, &raw, args, &[], &hidden);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("the password contains `/`, `?` and `#`; percent-encode them as %2F, %3F and %23"),
            "{stderr}"
        );
    }
    // A wrong password of every character is not shown either.
    let wrong = format!("Wr0ngPw{}{}", punctuation(), markers[3]);
    let (code, _, stderr) =
        run(&project, &with_user(&base, "edge", &encode(&wrong)), &["up"], &[], &[&hidden[..], &["Wr0ngPw"]].concat());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("password authentication failed") && stderr.contains(":***@"), "{stderr}");
}

/// A MariaDB user created for one test, dropped when it ends.
struct MyUser(String);

impl Drop for MyUser {
    fn drop(&mut self) {
        let mut admin = mysql_conn(&mysql_admin_url());
        for host in ["%", "localhost", "127.0.0.1"] {
            let _ = admin.query_drop(format!("DROP USER IF EXISTS '{}'@'{host}'", self.0));
        }
    }
}

#[test]
fn mariadb_passwords_of_every_character_connect_encoded_and_never_show() {
    let db = MyDb::new();
    let user = MyUser(format!("edge_{}", db.name.trim_start_matches("cutover_t")));
    let (password, markers) = nasty_password();
    let mut admin = mysql_conn(&mysql_admin_url());
    let quoted = password.replace('\\', "\\\\").replace('\'', "''");
    for host in ["%", "localhost", "127.0.0.1"] {
        admin.query_drop(format!("CREATE USER '{}'@'{host}' IDENTIFIED BY '{quoted}'", user.0)).unwrap();
        admin.query_drop(format!("GRANT ALL ON {}.* TO '{}'@'{host}'", db.name, user.0)).unwrap();
    }
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    let encoded = encode(&password);
    let mut hidden = markers.to_vec();
    hidden.push(&encoded);

    // Percent-encoded, the server accepts it: the driver read it whole.
    let url = with_user(&db.url, &user.0, &encoded);
    let (code, stdout, stderr) = run(&project, &url, &["status"], &[], &hidden);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("mysql://{}:***@127.0.0.1", user.0)), "{stdout}");
    let (code, _, stderr) = run(&project, &url, &["up"], &[], &hidden);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(db.query("SELECT COUNT(*) FROM a"), "0");
    // As written, refused before connecting.
    let (code, _, stderr) = run(&project, &with_user(&db.url, &user.0, &password), &["status"], &[], &hidden);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the password contains `/`, `?` and `#`"), "{stderr}");
    // The MySQL driver ends the password at the last `@` before the host, as the URL standard:
    // an `@` in it needs no encoding.
    let at_user = MyUser(format!("{}_at", user.0));
    let at_password = format!("{}@{}!", markers[0], markers[1]);
    admin.query_drop(format!("CREATE USER '{}'@'%' IDENTIFIED BY '{at_password}'", at_user.0)).unwrap();
    admin.query_drop(format!("GRANT ALL ON {}.* TO '{}'@'%'", db.name, at_user.0)).unwrap();
    admin.query_drop(format!("CREATE USER '{}'@'localhost' IDENTIFIED BY '{at_password}'", at_user.0)).unwrap();
    admin.query_drop(format!("GRANT ALL ON {}.* TO '{}'@'localhost'", db.name, at_user.0)).unwrap();
    let (code, stdout, stderr) =
        run(&project, &with_user(&db.url, &at_user.0, &at_password), &["status"], &[], &hidden);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("mysql://{}:***@127.0.0.1", at_user.0)), "{stdout}");
    // A wrong one is refused by the server, and not shown.
    let wrong = format!("Wr0ngPw{}", punctuation());
    let (code, _, stderr) = run(
        &project,
        &with_user(&db.url, &user.0, &encode(&wrong)),
        &["up"],
        &[],
        &[&hidden[..], &["Wr0ngPw"]].concat(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("check the user name and password") && stderr.contains(":***@"), "{stderr}");
}

#[test]
fn postgres_verification_needs_a_root_certificate_as_in_libpq() {
    let certs = test_certificates();
    let other = test_certificates();
    let read = |name: &str| std::fs::read(certs.path().join(name)).unwrap();
    let server = PrivateServer::start(
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        &[("server.crt", read("server.crt")), ("server.key", read("server.key"))],
    );
    server.database("app");
    let ca = certs.path().join("ca.crt").display().to_string();
    let other_ca = other.path().join("ca.crt").display().to_string();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);");
    let url = |host: &str, query: &str| format!("postgres://postgres@{host}:{}/app?{query}", server.port);
    // A home without ~/.postgresql/root.crt, and an operating system store that trusts the
    // test's authority: what cutover trusts must come from the URL (or libpq's defaults).
    let empty_home = tempfile::tempdir().unwrap();
    let home_with = |ca: &str| {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".postgresql")).unwrap();
        std::fs::copy(ca, home.path().join(".postgresql/root.crt")).unwrap();
        home
    };
    let (ca_home, other_home) = (home_with(&ca), home_with(&other_ca));
    let status = |url: &str, home: &std::path::Path, extra: &[(&str, &str)]| {
        let mut command = project.cutover(url);
        command.arg("status").env("HOME", home).env("SSL_CERT_FILE", &ca).env_remove("PGSSLROOTCERT");
        for (key, value) in extra {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        (output.status.code().unwrap_or(-1), output_text(&output).1)
    };
    let connects = |url: &str, home: &std::path::Path, extra: &[(&str, &str)]| {
        let (code, stderr) = status(url, home, extra);
        assert_eq!(code, 0, "{url}: {stderr}");
    };
    let refused = |url: &str, home: &std::path::Path, expect: &str| {
        let (code, stderr) = status(url, home, &[]);
        assert_eq!(code, 2, "{url}: {stderr}");
        assert!(stderr.contains(expect), "{url}: {stderr}");
    };

    // No root certificate anywhere: verify-full and verify-ca refuse, naming the fixes, even
    // though the operating system's store would trust the server.
    for mode in ["verify-full", "verify-ca"] {
        refused(&url("localhost", &format!("sslmode={mode}")), empty_home.path(), "sslrootcert=system");
        let (_, stderr) = status(&url("localhost", &format!("sslmode={mode}")), empty_home.path(), &[]);
        assert!(stderr.contains("sslrootcert=/path/to/ca.pem") && stderr.contains(".postgresql/root.crt"), "{stderr}");
    }
    // sslrootcert=system: the operating system's store, and verify-full by default (the
    // certificate names localhost, not 127.0.0.1); weaker modes refused, as libpq 16 does.
    connects(&url("localhost", "sslrootcert=system"), empty_home.path(), &[]);
    connects(&url("localhost", "sslrootcert=system&sslmode=verify-full"), empty_home.path(), &[]);
    refused(&url("127.0.0.1", "sslrootcert=system"), empty_home.path(), "cannot connect");
    refused(
        &url("localhost", "sslrootcert=system&sslmode=verify-ca"),
        empty_home.path(),
        "cannot be used with sslrootcert=system",
    );
    // libpq's defaults: ~/.postgresql/root.crt, and PGSSLROOTCERT before it.
    connects(&url("localhost", "sslmode=verify-full"), ca_home.path(), &[]);
    refused(&url("localhost", "sslmode=verify-full"), other_home.path(), "cannot connect");
    connects(&url("localhost", "sslmode=verify-full"), empty_home.path(), &[("PGSSLROOTCERT", &ca)]);
    connects(&url("localhost", "sslmode=verify-full"), other_home.path(), &[("PGSSLROOTCERT", &ca)]);
    // A root certificate file is the only authority trusted: not the system's besides.
    refused(
        &url("localhost", &format!("sslmode=verify-full&sslrootcert={other_ca}")),
        empty_home.path(),
        "cannot connect",
    );
    // require verifies the authority when there is a root certificate (not the host name), and
    // only encrypts when there is none.
    refused(&url("localhost", &format!("sslmode=require&sslrootcert={other_ca}")), empty_home.path(), "cannot connect");
    refused(&url("localhost", "sslmode=require"), other_home.path(), "cannot connect");
    connects(&url("127.0.0.1", &format!("sslmode=require&sslrootcert={ca}")), empty_home.path(), &[]);
    connects(&url("127.0.0.1", "sslmode=require"), empty_home.path(), &[]);
    // A root certificate named but missing is an error, not verification turned off.
    refused(
        &url("localhost", "sslmode=require&sslrootcert=/nonexistent/ca.pem"),
        empty_home.path(),
        "cannot read sslrootcert `/nonexistent/ca.pem`",
    );
}

#[test]
fn mariadb_verification_needs_a_ca_certificate_as_the_mysql_client() {
    let db = MyDb::new();
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    for mode in ["VERIFY_CA", "VERIFY_IDENTITY", "verify-ca", "verify-full"] {
        let (code, _, stderr) =
            run(&project, &format!("{}?ssl-mode={mode}", db.url), &["status"], &[], &["cutover-test"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("add ssl-ca=/path/to/ca.pem") && stderr.contains("CA certificate is required"),
            "{stderr}"
        );
    }
    let (code, _, stderr) = run(
        &project,
        &format!("{}?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem", db.url),
        &["status"],
        &[],
        &["cutover-test"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read ssl-ca `/nonexistent/ca.pem`"), "{stderr}");
}

#[test]
fn an_unset_database_url_env_is_an_error_not_database_url() {
    let project = Project::new();
    project.migration("1_a.up.sql", "CREATE TABLE a (id int);\n");
    std::fs::write(project.path("cutover.toml"), "database_url_env = \"EDGE_APP_DB\"\n").unwrap();
    // DATABASE_URL names another database: it must not be touched.
    let other = format!("sqlite://{}", project.path("other.db").display());
    let app = format!("sqlite://{}", project.path("app.db").display());
    for args in [&["up"][..], &["status"]] {
        let (code, _, stderr) = run(&project, &other, args, &[], &[]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(
                "`database_url_env` in cutover.toml names the environment variable EDGE_APP_DB, which is not set"
            ) && stderr.contains("--database-url"),
            "{stderr}"
        );
    }
    let (code, _, stderr) = run(&project, &other, &["up"], &[("EDGE_APP_DB", "")], &[]);
    assert_eq!(code, 2, "an empty variable is not set either: {stderr}");
    assert!(!project.path("other.db").exists(), "DATABASE_URL's database was used");
    // The variable set, or a flag, is used; commands without a database run on.
    let (code, _, stderr) = run(&project, &other, &["up"], &[("EDGE_APP_DB", &app)], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run(&project, &other, &["status", "--database-url", &app], &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("app.db"), "{stdout}");
    let (code, _, stderr) = run(&project, &other, &["new", "b"], &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(project.path("app.db").exists() && !project.path("other.db").exists());
}

/// Atlas's documented PostgreSQL URL carries `?search_path=public`, which libpq does not know:
/// refused before connecting, with the spelling that works, and the password not shown.
#[test]
fn a_search_path_parameter_is_refused_with_the_spelling_that_works() {
    let db = PgDb::new();
    let project = Project::new();
    let url = with_user(&db.url, "postgres", "s3cret-pw");
    let (code, _, stderr) = run(&project, &format!("{url}?search_path=public"), &["status"], &[], &["s3cret-pw"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("options=-csearch_path%3Dpublic"), "{stderr}");
}
