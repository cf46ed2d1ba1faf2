//! Connecting, with TLS chosen by `sslmode` as libpq does.

use std::str::FromStr;
use std::time::Duration;

use cutover_engine::{DatabaseUrl, DbError, DbErrorKind};
use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use postgres_native_tls::MakeTlsConnector;

use crate::error::db_error;

/// How to connect, beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The history table, optionally schema-qualified (`ops.cutover_history`).
    pub history_table: String,
    /// Shown in `pg_stat_activity`, so that a waiting runner can say who holds the lock.
    pub application_name: String,
}

/// A PostgreSQL database that migrations run against.
pub struct PgTarget {
    pub(crate) client: Client,
    pub(crate) connector: Connector,
    pub(crate) config: Config,
    /// `"schema"."table"` or `"table"`, quoted.
    pub(crate) history_table: QualifiedName,
    pub(crate) server_version: String,
    /// The prepared history insert, once the history table exists.
    pub(crate) insert: Option<postgres::Statement>,
    /// The schemas of completed expand/contract versions that SQL migrations keep in step
    /// (see `version_views`), once read; forgotten when an expand phase is recorded.
    pub(crate) completed_versions: Option<Vec<String>>,
    /// For a scratch database: how to reach the database it stands for, to copy a sample.
    pub(crate) sample_source: Option<(Config, Connector)>,
    /// The indexes of the table of the concurrent build about to run (see `concurrent`).
    pub(crate) indexes_before: Vec<u32>,
    /// The connection that watches backfill batches for the application's lock waits.
    pub(crate) lock_watch: cutover_engine::WatchSlot,
}

/// A schema-qualified name, kept both quoted (for SQL) and plain (for hashing and messages).
#[derive(Debug, Clone)]
pub(crate) struct QualifiedName {
    pub(crate) schema: Option<String>,
    pub(crate) name: String,
}

impl QualifiedName {
    fn parse(text: &str) -> QualifiedName {
        match text.split_once('.') {
            Some((schema, name)) => QualifiedName { schema: Some(schema.to_string()), name: name.to_string() },
            None => QualifiedName { schema: None, name: text.to_string() },
        }
    }

    /// The name quoted for SQL, with `suffix` appended to the last part.
    pub(crate) fn quoted_with_suffix(&self, suffix: &str) -> String {
        let name = quote_ident(&format!("{}{suffix}", self.name));
        match &self.schema {
            Some(schema) => format!("{}.{name}", quote_ident(schema)),
            None => name,
        }
    }

    pub(crate) fn quoted(&self) -> String {
        self.quoted_with_suffix("")
    }

    pub(crate) fn plain(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl PgTarget {
    /// One of cutover's own tables (backfill checkpoints, expand state), quoted, in the history
    /// table's schema: a least-privilege setup keeps them all where the application role cannot
    /// write (`history_table = "cutover.cutover_history"`).
    pub(crate) fn beside_history(&self, name: &str) -> String {
        QualifiedName { schema: self.history_table.schema.clone(), name: name.to_string() }.quoted()
    }
}

/// Quotes an identifier for PostgreSQL: wrapped in `"`, inner `"` doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    cutover_engine::keyset::Dialect::Postgres.quote(name)
}

/// The TLS connector chosen from `sslmode`, reused for the lock connection.
#[derive(Clone)]
pub(crate) enum Connector {
    Plain,
    Tls(MakeTlsConnector),
}

impl Connector {
    pub(crate) fn connect(&self, config: &Config) -> Result<Client, DbError> {
        match self {
            Connector::Plain => config.connect(NoTls),
            Connector::Tls(tls) => config.connect(tls.clone()),
        }
        .map_err(db_error)
    }
}

/// Connects to the database a `postgres://` URL names.
pub fn connect(url: &DatabaseUrl, options: &ConnectOptions) -> Result<PgTarget, DbError> {
    let (config, connector) = parse_url(url)?;
    let mut config = config;
    config.application_name(&options.application_name);
    let client = connector.connect(&config).map_err(|err| scrubbed(url, err))?;
    let mut target = PgTarget {
        client,
        connector,
        config,
        history_table: QualifiedName::parse(&options.history_table),
        server_version: String::new(),
        insert: None,
        completed_versions: None,
        sample_source: None,
        indexes_before: Vec::new(),
        lock_watch: Default::default(),
    };
    // Before any prepared statement: through a transaction pooler they collide between runners.
    refuse_transaction_pooling(&mut target.client, &target.connector, &target.config, url)?;
    target.history_table = resolve_history_table(&mut target.client, &target.history_table)?;
    let row = target
        .client
        .query_one("SELECT current_setting('server_version'), current_setting('server_version_num')::int", &[])
        .map_err(db_error)?;
    target.server_version = row.get(0);
    target.client.batch_execute(session_settings(&target.server_version)).map_err(db_error)?;
    Ok(target)
}

/// What cutover sets for its session, at connection and again after each migration's reset
/// (sent with the reset: one round trip).
pub(crate) fn session_settings(server_version: &str) -> &'static str {
    let major: u32 =
        server_version.split(|c: char| !c.is_ascii_digit()).next().and_then(|m| m.parse().ok()).unwrap_or(0);
    // Without it, the statement of a killed cutover runs on to its end on the server, holding
    // its locks and snapshot, and a resumed run waits for it.
    if major >= 14 {
        "SET client_connection_check_interval = '1s'"
    } else {
        ""
    }
}

/// The first row of a simple query (no prepared statement, which a pooler may not allow).
fn simple_row(client: &mut Client, sql: &str) -> Result<Vec<String>, DbError> {
    let messages = client.simple_query(sql).map_err(db_error)?;
    let row = messages.iter().find_map(|message| match message {
        postgres::SimpleQueryMessage::Row(row) => {
            Some((0..row.len()).map(|idx| row.get(idx).unwrap_or_default().to_string()).collect())
        }
        _ => None,
    });
    row.ok_or_else(|| DbError::new(DbErrorKind::Other, format!("`{sql}` returned no row")))
}

/// Whether the server's own address and port are the ones the URL names: then nothing stands
/// between, and there is no pooler to look for.
fn reaches_server_directly(config: &Config, server_port: &str, server_addr: &str) -> bool {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    if server_port != port.to_string() {
        return false;
    }
    match config.get_hosts().first() {
        // A Unix socket: the server reports no address.
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(_)) => server_addr.is_empty(),
        Some(postgres::config::Host::Tcp(host)) => {
            use std::net::ToSocketAddrs;
            let Ok(server) = server_addr.parse::<std::net::IpAddr>() else { return false };
            (host.as_str(), port).to_socket_addrs().is_ok_and(|mut addrs| addrs.any(|a| a.ip() == server))
        }
        _ => false,
    }
}

/// Refuses a connection through a transaction-pooling proxy (PgBouncer's `pool_mode =
/// transaction`, Supavisor, RDS Proxy when it multiplexes): it hands each transaction whatever
/// server session is free, so the runner's session lock, its `SET`s and its prepared statements
/// end up on other clients' sessions (six runners at once through PgBouncer: five failed with
/// `prepared statement "s0" already exists`, and the lock excluded nobody).
///
/// Looked for only when something stands between (the server's address or port is not the
/// URL's). A second client asks for its server session just after this one's statement ended:
/// a pooler hands it the session this one just used (the most recently freed, by default), or
/// this one's next statement gets another. Neither client holds a session while the other
/// waits, so a small pool cannot deadlock the check.
fn refuse_transaction_pooling(
    client: &mut Client,
    connector: &Connector,
    config: &Config,
    url: &DatabaseUrl,
) -> Result<(), DbError> {
    let first = simple_row(
        client,
        "SELECT pg_backend_pid()::text, coalesce(inet_server_port()::text, ''), coalesce(host(inet_server_addr()), '')",
    )?;
    if reaches_server_directly(config, &first[1], &first[2]) {
        return Ok(());
    }
    let session = &first[0];
    let mut other = connector.connect(config).map_err(|err| scrubbed(url, err))?;
    let mut pooled = false;
    for _ in 0..3 {
        let others = simple_row(&mut other, "SELECT pg_backend_pid()::text")?;
        let again = simple_row(client, "SELECT pg_backend_pid()::text")?;
        if &others[0] == session || &again[0] != session {
            pooled = true;
            break;
        }
    }
    if pooled {
        return Err(DbError::new(
            DbErrorKind::Other,
            "it reaches PostgreSQL through a transaction-pooling proxy (PgBouncer in transaction mode, Supavisor, ...): each transaction may run on another server session, and migrations need one session for their lock, settings and prepared statements. Point cutover at the server itself (or a session-mode pool) with CUTOVER_DATABASE_URL or `database_url` in cutover.toml, while the application keeps its pooled DATABASE_URL".to_string(),
        ));
    }
    Ok(())
}

/// The history table as the server names it: an unqualified name gets the schema where the
/// table is (found through `search_path`), or, before it exists, the schema it would be created
/// in. Everything keyed by the table (the runner lock above all) then uses one identity,
/// however it was spelled: `cutover_history` and `public.cutover_history` are one table and
/// take one lock.
fn resolve_history_table(client: &mut Client, table: &QualifiedName) -> Result<QualifiedName, DbError> {
    if table.schema.is_some() {
        return Ok(table.clone());
    }
    let row = client
        .query_one(
            "SELECT (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.oid = to_regclass(quote_ident($1))), current_schema(), \
                    (SELECT string_agg(quote_ident(n.nspname) || '.' || quote_ident(c.relname), ', ' ORDER BY n.nspname) \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relname = $1 AND c.relkind IN ('r', 'p'))",
            &[&table.name],
        )
        .map_err(db_error)?;
    let (found, current, elsewhere): (Option<String>, Option<String>, Option<String>) =
        (row.get(0), row.get(1), row.get(2));
    // Not on the search_path, but in another schema of the database: the history is likely
    // there and the search_path changed (tester 18: a role's search_path set to `app` made a
    // second, empty history there, and every migration ran again).
    if let (None, Some(elsewhere)) = (&found, &elsewhere) {
        let exist = if elsewhere.contains(", ") { "exist" } else { "exists" };
        // A second history where the search_path would make it, unless that is a system
        // schema (refused for the history) or one that has its own already.
        let second = current
            .as_deref()
            .filter(|schema| !schema.starts_with("pg_") && schema != &"information_schema")
            .filter(|schema| !elsewhere.split(", ").any(|t| t.starts_with(&format!("{schema}."))))
            .map(|schema| {
                format!(", or `history_table = \"{schema}.{}\"` to keep a second history in `{schema}`", table.name)
            })
            .unwrap_or_default();
        return Err(DbError::new(
            DbErrorKind::Other,
            format!(
                "the history table `{name}` is not on the search_path, but {elsewhere} {exist}: this database's history is likely there (the search_path may have changed); name it in full (`history_table = \"{first}\"`, or CUTOVER_HISTORY_TABLE) to use it{second}",
                name = table.name,
                first = elsewhere.split(", ").next().unwrap_or_default(),
            ),
        ));
    }
    match found.or(current) {
        Some(schema) => Ok(QualifiedName { schema: Some(schema), name: table.name.clone() }),
        None => Err(DbError::new(
            DbErrorKind::Other,
            format!(
                "the history table `{}` has no schema: the search_path names no schema that exists; qualify it (`history_table = \"public.{}\"`) or fix the search_path",
                table.name, table.name
            ),
        )),
    }
}

fn scrubbed(url: &DatabaseUrl, mut err: DbError) -> DbError {
    err.message = url.scrub(&err.message);
    err.detail = err.detail.map(|detail| url.scrub(&detail));
    err
}

/// Splits the URL into the driver's config and a TLS connector. The driver knows `sslmode`
/// only as disable/prefer/require; `verify-ca`, `verify-full` and `sslrootcert` are ours, and
/// follow libpq: the root certificate comes from `sslrootcert`, else `PGSSLROOTCERT`, else
/// `~/.postgresql/root.crt`; `system` means the operating system's store.
pub(crate) fn parse_url(url: &DatabaseUrl) -> Result<(Config, Connector), DbError> {
    let raw = url.expose();
    let (base, query) = match raw.split_once('?') {
        Some((base, query)) => (base, query),
        None => (raw, ""),
    };
    let mut sslmode = None;
    let mut root_cert: Option<String> = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => sslmode = Some(value.to_string()),
            Some(("sslrootcert", value)) => root_cert = Some(value.to_string()),
            // Atlas's and some ORMs' URLs carry it; libpq and the driver do not know it.
            Some(("search_path", value)) => {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    url.scrub(&format!(
                        "`search_path={value}` in `{url}` is no PostgreSQL connection parameter (Atlas and some ORMs read it themselves): write it as `options=-csearch_path%3D{value}`"
                    )),
                ))
            }
            _ => kept.push(pair),
        }
    }
    let driver_url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    let bad_url = |message: String| DbError::new(DbErrorKind::Other, url.scrub(&message));
    let mut config =
        Config::from_str(&driver_url).map_err(|err| bad_url(format!("cannot read database URL `{url}`: {err}")))?;
    if config.get_connect_timeout().is_none() {
        // An unreachable host should fail in seconds, not hang a deploy.
        config.connect_timeout(Duration::from_secs(10));
    }
    let root_cert = match root_cert {
        Some(value) => Some(("sslrootcert", value)),
        None => std::env::var("PGSSLROOTCERT").ok().filter(|v| !v.is_empty()).map(|value| ("PGSSLROOTCERT", value)),
    };
    let system = root_cert.as_ref().is_some_and(|(_, value)| value == "system");
    // As libpq 16: with the system's authorities, anyone can get a certificate for a host name
    // of their own, so only verify-full means anything; it is the default, and weaker modes are
    // refused.
    let sslmode = sslmode.unwrap_or_else(|| if system { "verify-full" } else { "prefer" }.to_string());
    if system && sslmode != "verify-full" {
        return Err(bad_url(format!(
            "sslmode={sslmode} cannot be used with sslrootcert=system: anyone can get a certificate from a public authority for a host name of their own; use sslmode=verify-full"
        )));
    }
    let (ssl_mode, verify) = match sslmode.as_str() {
        "disable" => (SslMode::Disable, Verify::Never),
        // libpq reads the root certificate in these modes too, but falls back to plain text
        // when the handshake fails; the driver does not, so they never verify.
        "allow" | "prefer" => (SslMode::Prefer, Verify::Never),
        // libpq, for backward compatibility: require verifies the CA when there is a root
        // certificate, and only encrypts when there is none.
        "require" => (SslMode::Require, Verify::IfRootCertificate),
        "verify-ca" => (SslMode::Require, Verify::Authority),
        "verify-full" => (SslMode::Require, Verify::AuthorityAndHost),
        other => {
            return Err(bad_url(format!(
                "unknown sslmode `{other}` in `{url}`; use disable, prefer, require, verify-ca or verify-full"
            )))
        }
    };
    config.ssl_mode(ssl_mode);
    if ssl_mode == SslMode::Disable {
        return Ok((config, Connector::Plain));
    }
    let roots = match verify {
        Verify::Never => Roots::None,
        _ => find_roots(root_cert).map_err(bad_url)?,
    };
    let mut builder = native_tls::TlsConnector::builder();
    match (verify, roots) {
        (Verify::Never, _) | (Verify::IfRootCertificate, Roots::None) => {
            builder.danger_accept_invalid_certs(true);
            builder.danger_accept_invalid_hostnames(true);
            // Without verification the system's CA bundle is never consulted; loading it costs
            // tens of milliseconds per connection.
            builder.disable_built_in_roots(true);
        }
        (Verify::Authority | Verify::AuthorityAndHost, Roots::None) => {
            let home = home_root_cert()
                .map_or_else(|| "no home directory".to_string(), |path| format!("no {}", path.display()));
            return Err(bad_url(format!(
                "sslmode={sslmode} checks the server's certificate against a root certificate, and there is none (no sslrootcert in the URL, no PGSSLROOTCERT, {home}): add sslrootcert=/path/to/ca.pem to the URL, or sslrootcert=system to trust the operating system's certificate store (libpq refuses the same way)"
            )));
        }
        (verify, roots) => {
            builder.danger_accept_invalid_hostnames(verify != Verify::AuthorityAndHost);
            match roots {
                // The file names the only authorities trusted, as in libpq: not the system's too.
                Roots::File(certificates) => {
                    builder.disable_built_in_roots(true);
                    for certificate in certificates {
                        builder.add_root_certificate(certificate);
                    }
                }
                Roots::System | Roots::None => {}
            }
        }
    }
    let tls = builder.build().map_err(|err| bad_url(format!("cannot set up TLS: {err}")))?;
    Ok((config, Connector::Tls(MakeTlsConnector::new(tls))))
}

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verify {
    Never,
    IfRootCertificate,
    Authority,
    AuthorityAndHost,
}

/// The authorities the server's certificate is checked against.
enum Roots {
    None,
    System,
    File(Vec<native_tls::Certificate>),
}

/// The root certificates as libpq finds them: `sslrootcert` (or `PGSSLROOTCERT`, `origin`
/// says which), `system` for the operating system's store; else `~/.postgresql/root.crt` if it
/// exists. A file named but unreadable is an error (libpq goes on without verifying in
/// `require` mode; a typo should not turn verification off).
fn find_roots(root_cert: Option<(&str, String)>) -> Result<Roots, String> {
    let (origin, path) = match root_cert {
        Some((_, value)) if value == "system" => return Ok(Roots::System),
        Some((origin, value)) => (origin.to_string(), std::path::PathBuf::from(value)),
        None => match home_root_cert().filter(|path| path.exists()) {
            Some(path) => ("the default root certificate".to_string(), path),
            None => return Ok(Roots::None),
        },
    };
    let shown = path.display();
    let bytes = std::fs::read(&path).map_err(|err| format!("cannot read {origin} `{shown}`: {err}"))?;
    let certificates = native_tls::Certificate::stack_from_pem(&bytes)
        .ok()
        .filter(|certificates| !certificates.is_empty())
        .or_else(|| native_tls::Certificate::from_der(&bytes).ok().map(|certificate| vec![certificate]))
        .ok_or_else(|| format!("{origin} `{shown}` holds no PEM or DER certificate"))?;
    Ok(Roots::File(certificates))
}

/// `~/.postgresql/root.crt`, libpq's default root certificate; `None` without a home directory.
fn home_root_cert() -> Option<std::path::PathBuf> {
    std::env::home_dir().map(|home| home.join(".postgresql").join("root.crt"))
}
