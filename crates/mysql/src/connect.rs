//! Connecting, with TLS chosen by `ssl-mode` as the MySQL client does.

use std::time::Duration;

use cutover_engine::{DatabaseUrl, DbError, DbErrorKind};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, SslOpts};

use crate::error::db_error;

/// A MySQL or MariaDB database that migrations run against.
pub struct MysqlTarget {
    pub(crate) conn: Conn,
    /// How to open more connections (the runner lock has its own).
    pub(crate) opts: Opts,
    /// The database (schema) the URL names.
    pub(crate) database: String,
    /// The history table, resolved: `otherdb.cutover_history` is the table `cutover_history`
    /// of the database `otherdb`, a bare name one of the URL's database.
    pub(crate) history: TableName,
    pub(crate) server_version: String,
    /// MariaDB rather than MySQL: the statement timeout differs.
    pub(crate) mariadb: bool,
    /// Table and database names compare without case (`lower_case_table_names` not 0).
    pub(crate) names_fold_case: bool,
    /// MariaDB's `metadata_lock_info` plugin is active: its table names metadata-lock holders.
    pub(crate) metadata_lock_info: bool,
    /// `ssl-mode=PREFERRED`: TLS when the server offers it, else plain.
    pub(crate) tls_preferred: bool,
    /// Replicas whose lag throttles a backfill (read on each replica).
    pub(crate) replica_urls: Vec<DatabaseUrl>,
    /// The connection that watches backfill batches for the application's lock waits.
    pub(crate) lock_watch: cutover_engine::WatchSlot,
    /// For a rehearsal's scratch database: the database it stands for (where samples come from).
    pub(crate) rehearsal_source: Option<String>,
    /// For a rehearsal's scratch database: the URL's own account's connection (this one's is a
    /// temporary account limited to the scratch database), which copies samples and drops it.
    pub(crate) rehearsal_admin: Option<Box<Conn>>,
    /// `strict_session` has made this connection's `sql_mode` strict (it stays so).
    pub(crate) strict: bool,
    /// The rewrite state table was seen with every column a later version added (a column
    /// once added stays: it is not asked again).
    pub(crate) rewrite_state_current: bool,
    /// The server has `CRC32C` (MariaDB 10.8 and later): a rewrite's verification hashes rows
    /// with it, else with `MD5`. Asked once, by the first verification.
    pub(crate) has_crc32c: Option<bool>,
}

impl MysqlTarget {
    /// Replicas to read the lag of before each backfill batch: the primary cannot see it.
    pub fn with_replicas(mut self, urls: Vec<DatabaseUrl>) -> MysqlTarget {
        self.replica_urls = urls;
        self
    }
}

/// Connects to the database a `mysql://` (or `mariadb://`) URL names.
pub fn connect(url: &DatabaseUrl, history_table: &str) -> Result<MysqlTarget, DbError> {
    let (opts, tls_preferred) = options(url)?;
    let database = opts.get_db_name().map(str::to_string).ok_or_else(|| {
        DbError::new(
            DbErrorKind::Connection,
            format!("{url} names no database; write it as mysql://user@host:3306/database"),
        )
    })?;
    let mut conn = open(&opts, tls_preferred).map_err(|err| scrubbed(url, err))?;
    let facts: Option<(String, i64, i64)> = conn
        .query_first(
            "SELECT version(), @@lower_case_table_names, (SELECT COUNT(*) FROM information_schema.PLUGINS \
             WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE')",
        )
        .map_err(db_error)?;
    let (version, lower_case_table_names, metadata_lock_info) = facts.unwrap_or_default();
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let flavour = if mariadb { "MariaDB" } else { "MySQL" };
    let history = TableName::resolve(history_table, &database);
    Ok(MysqlTarget {
        conn,
        opts,
        database,
        history,
        server_version: format!("{flavour} {version}"),
        mariadb,
        names_fold_case: lower_case_table_names != 0,
        metadata_lock_info: metadata_lock_info > 0,
        tls_preferred,
        replica_urls: Vec::new(),
        lock_watch: Default::default(),
        rehearsal_source: None,
        rehearsal_admin: None,
        strict: false,
        rewrite_state_current: false,
        has_crc32c: None,
    })
}

/// A table in a database, both parts known: cutover's own tables are named from the history
/// table's, and live in its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    pub(crate) database: String,
    pub(crate) name: String,
}

impl TableName {
    /// `db.table`, or `table` in `current` (the URL's database).
    pub(crate) fn resolve(text: &str, current: &str) -> TableName {
        match text.split_once('.') {
            Some((database, name)) => TableName { database: database.to_string(), name: name.to_string() },
            None => TableName { database: current.to_string(), name: text.to_string() },
        }
    }

    /// `table`, `db.table`, `` `db`.`my table` `` (a backtick inside quotes doubled): the parts
    /// as the server reads them, the database `current` when not given. `None` for anything
    /// else.
    pub(crate) fn parse(text: &str, current: &str) -> Option<TableName> {
        let mut parts = Vec::new();
        let mut chars = text.trim().chars().peekable();
        loop {
            let mut part = String::new();
            if chars.peek() == Some(&'`') {
                chars.next();
                loop {
                    match chars.next()? {
                        '`' if chars.peek() == Some(&'`') => {
                            chars.next();
                            part.push('`');
                        }
                        '`' => break,
                        c => part.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    part.push(c);
                    chars.next();
                }
                part = part.trim().to_string();
                if part.is_empty() || part.contains(['`', ' ']) {
                    return None;
                }
            }
            parts.push(part);
            match chars.next() {
                None => break,
                Some('.') => {}
                Some(_) => return None,
            }
        }
        match <[String; 1]>::try_from(parts.clone()) {
            Ok([name]) => Some(TableName { database: current.to_string(), name }),
            Err(_) => match <[String; 2]>::try_from(parts) {
                Ok([database, name]) => Some(TableName { database, name }),
                Err(_) => None,
            },
        }
    }

    /// `` `db`.`table` ``, each part quoted.
    pub(crate) fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(&self.name))
    }

    /// The table `name` in the same database.
    pub(crate) fn with_name(&self, name: &str) -> TableName {
        TableName { database: self.database.clone(), name: name.to_string() }
    }

    /// The table (or trigger) named after this one with `suffix`, in the same database.
    pub(crate) fn with_suffix(&self, suffix: &str) -> TableName {
        TableName { database: self.database.clone(), name: format!("{}{suffix}", self.name) }
    }
}

/// `= ?` for a database name compared in `information_schema`, whose `TRIGGERS` (and other
/// views read by scanning) ignore case: `= BINARY ?` where the server's names keep their case
/// (`lower_case_table_names` 0), so that `Shop` is not `shop`.
pub(crate) fn schema_equals(names_fold_case: bool) -> &'static str {
    if names_fold_case {
        "= ?"
    } else {
        "= BINARY ?"
    }
}

/// Opens a connection; `PREFERRED` TLS falls back to a plain one when the server has none.
pub(crate) fn open(opts: &Opts, tls_preferred: bool) -> Result<Conn, DbError> {
    match Conn::new(opts.clone()) {
        Ok(conn) => Ok(conn),
        // The plain attempt's error is the one that says what is wrong (a password, a host).
        Err(_) if opts.get_ssl_opts().is_some() && tls_preferred => {
            let plain = OptsBuilder::from_opts(opts.clone()).ssl_opts(None::<SslOpts>);
            Conn::new(plain).map_err(db_error)
        }
        Err(err) => Err(db_error(err)),
    }
}

fn scrubbed(url: &DatabaseUrl, mut err: DbError) -> DbError {
    err.message = url.scrub(&err.message);
    err
}

/// The driver's options from the URL, and whether TLS is only preferred. The driver rejects
/// parameters it does not know and configures TLS only in code, so `ssl-mode` and `ssl-ca` are
/// read here and removed.
fn options(url: &DatabaseUrl) -> Result<(Opts, bool), DbError> {
    let raw = url.expose();
    let raw = match raw.split_once("://") {
        Some((_, rest)) => format!("mysql://{rest}"),
        None => raw.to_string(),
    };
    let (base, query) = raw.split_once('?').unwrap_or((raw.as_str(), ""));
    let mut mode = "PREFERRED".to_string();
    let mut ca = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("ssl-mode" | "sslmode" | "ssl_mode", value)) => mode = value.to_ascii_uppercase(),
            Some(("ssl-ca" | "sslrootcert" | "ssl_ca", value)) => ca = Some(value.to_string()),
            _ => kept.push(pair),
        }
    }
    let base_url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    let opts = Opts::from_url(&base_url).map_err(|err| {
        DbError::new(DbErrorKind::Connection, format!("{url} is not a MySQL URL: {}", url.scrub(&err.to_string())))
    })?;
    let tls = match mode.as_str() {
        "DISABLED" | "DISABLE" => None,
        // Encrypted, not verified: what the MySQL client does for these two modes.
        "PREFERRED" | "PREFER" | "REQUIRED" | "REQUIRE" => {
            Some(SslOpts::default().with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true))
        }
        "VERIFY_CA" | "VERIFY-CA" | "VERIFY_IDENTITY" | "VERIFY-FULL" => {
            // As the mysql client: verifying needs the authority to verify against; the
            // system's store is not taken in its place.
            let Some(ca) = &ca else {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    format!(
                        "ssl-mode={mode} checks the server's certificate against a CA certificate, and the URL names none: add ssl-ca=/path/to/ca.pem (the mysql client refuses the same way: \"CA certificate is required\")"
                    ),
                ));
            };
            // Read now: the driver would say only "No such file or directory", on connecting.
            if let Err(err) = std::fs::File::open(ca) {
                return Err(DbError::new(DbErrorKind::Other, format!("cannot read ssl-ca `{ca}`: {err}")));
            }
            let mut ssl = SslOpts::default().with_root_cert_path(Some(std::path::PathBuf::from(ca)));
            if mode.starts_with("VERIFY_CA") || mode == "VERIFY-CA" {
                ssl = ssl.with_danger_skip_domain_validation(true);
            }
            Some(ssl)
        }
        other => {
            return Err(DbError::new(
                DbErrorKind::Connection,
                format!("ssl-mode `{other}` is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"),
            ))
        }
    };
    let preferred = matches!(mode.as_str(), "PREFERRED" | "PREFER");
    // The driver moves a connection to a loopback address over to the server's Unix socket,
    // without TLS: not what a URL that asks for TLS means.
    let asked_for_tls = tls.is_some() && !preferred;
    let opts = OptsBuilder::from_opts(opts)
        .ssl_opts(tls)
        .prefer_socket(!asked_for_tls)
        .tcp_connect_timeout(Some(Duration::from_secs(10)));
    Ok((opts.into(), preferred))
}

/// Quotes an identifier for MySQL: wrapped in backticks, inner backticks doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    cutover_engine::keyset::Dialect::Mysql.quote(name)
}

#[cfg(test)]
mod tests {
    use super::TableName;

    #[test]
    fn table_names_are_read_as_the_server_reads_them() {
        let parse = |text: &str| TableName::parse(text, "shop").map(|t| (t.database, t.name));
        assert_eq!(parse("users"), Some(("shop".into(), "users".into())));
        assert_eq!(parse("other.users"), Some(("other".into(), "users".into())));
        assert_eq!(parse("`my db`.`a.b`"), Some(("my db".into(), "a.b".into())));
        assert_eq!(parse("`Mixed Tbl ü`` x`"), Some(("shop".into(), "Mixed Tbl ü` x".into())));
        let quoted = TableName { database: "shop".into(), name: "Mixed Tbl ü` x".into() }.quoted();
        assert_eq!(parse(&quoted), Some(("shop".into(), "Mixed Tbl ü` x".into())));
        assert_eq!(parse("my table"), None);
        assert_eq!(parse("a.b.c"), None);
        assert_eq!(parse("`unclosed"), None);
    }
}
