//! `cutover rehearse` on MySQL/MariaDB: a scratch database beside the target, on the same
//! server, and the oracle the analysis is checked by. Each `ALTER TABLE`, `CREATE INDEX` and
//! `DROP INDEX` is run with the cheapest `ALGORITHM=`/`LOCK=` the server accepts, tried from
//! INSTANT down to COPY: the server refuses one it cannot honour before doing any work, so the
//! first it accepts is the one it would have picked, and whether it accepted `LOCK=NONE` is
//! whether the application's writes go on meanwhile.

use std::time::Instant;

use cutover_engine::{
    DatabaseUrl, DbError, DbErrorKind, ObjectKind, Observation, Rehearsal, SampleReport, SchemaObject, SchemaSnapshot,
};
use mysql::prelude::Queryable;
use mysql::OptsBuilder;

use crate::connect::{quote_ident, TableName};
use crate::error::db_error;
use crate::MysqlTarget;

/// A scratch database made beside the target's for one rehearsal, dropped after it.
pub struct MysqlScratch {
    /// The scratch database, to migrate and observe.
    pub target: MysqlTarget,
    /// Whether its tables were copied from the target's (their definitions, `SHOW CREATE
    /// TABLE`, and its views); otherwise it is empty and the applied migrations are replayed.
    pub from_copy: bool,
    /// Scratch databases an interrupted run left behind, dropped before this one was made.
    pub dropped_leftovers: Vec<String>,
    /// What the copy left out, each with why (a view of another database's tables: through
    /// it, a migration would write the real table).
    pub left_out: Vec<String>,
    name: String,
    /// The temporary account the migrations run as (`'user'@'host'`, quoted).
    account: Option<String>,
}

/// The prefix of the temporary accounts' names: `cutover_rh_<unix seconds>_<pid>`.
const ACCOUNT_PREFIX: &str = "cutover_rh_";

/// A string literal, quoted for MySQL.
fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// 32 hexadecimal digits from the standard library's per-process random keys: a password no
/// one needs to know, for an account that lives as long as a rehearsal.
fn random_password() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2)
        .map(|round| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(round);
            hasher.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            );
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// The prefix of scratch databases' names: `cutover_rehearsal_<unix seconds>_<pid>`.
const PREFIX: &str = "cutover_rehearsal_";

impl MysqlScratch {
    /// Makes a scratch database on the server `url` names, with the target database's
    /// character set; with `copy`, the target's tables (and views) are made in it too.
    pub fn create(url: &DatabaseUrl, history_table: &str, copy: bool) -> Result<MysqlScratch, DbError> {
        let mut target = crate::connect(url, history_table)?;
        let source = target.database.clone();
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("{PREFIX}{secs}_{}", std::process::id());
        let dropped_leftovers = drop_leftovers(&mut target.conn, secs);
        let charset: Option<(String, String)> = target
            .conn
            .exec_first(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&source,),
            )
            .map_err(db_error)?;
        let (charset, collation) = charset.unwrap_or_else(|| ("utf8mb4".to_string(), String::new()));
        let collate = if collation.is_empty() { String::new() } else { format!(" COLLATE {collation}") };
        target
            .conn
            .query_drop(format!("CREATE DATABASE {} CHARACTER SET {charset}{collate}", quote_ident(&name)))
            .map_err(|err| {
                let mut err = db_error(err);
                err.message = format!("{} (the user needs CREATE on `{PREFIX}%` databases)", err.message);
                err
            })?;
        let mut scratch = MysqlScratch {
            target,
            from_copy: copy,
            name: name.clone(),
            dropped_leftovers,
            left_out: Vec::new(),
            account: None,
        };
        scratch.target.conn.query_drop(format!("USE {}", quote_ident(&name))).map_err(db_error)?;
        scratch.target.opts = OptsBuilder::from_opts(scratch.target.opts.clone()).db_name(Some(name.clone())).into();
        scratch.target.database = name.clone();
        scratch.target.history = TableName::resolve(history_table, &name);
        scratch.target.rehearsal_source = Some(source.clone());
        let prepared = match copy {
            true => scratch.copy_definitions(&source, history_table),
            false => Ok(()),
        };
        if let Err(err) = prepared.and_then(|()| scratch.restrict(secs)) {
            let _ = scratch.target.conn.query_drop(format!("DROP DATABASE {}", quote_ident(&name)));
            return Err(err);
        }
        Ok(scratch)
    }

    /// From here on the migrations run as a temporary account that may do anything in the
    /// scratch database and nothing outside it: the server itself, not a list of statements,
    /// keeps them from the real databases (its users, its files, its settings). The URL's
    /// account keeps its own connection, to copy samples and drop the scratch database.
    fn restrict(&mut self, secs: u64) -> Result<(), DbError> {
        let conn = &mut self.target.conn;
        // Any host: the driver may reach the server by its socket or by TCP, which it names
        // differently (`localhost`, `127.0.0.1`); the random password and the one database's
        // rights are what guard it, for the seconds it lives.
        let host = "%";
        let user = format!("{ACCOUNT_PREFIX}{secs}_{}", std::process::id());
        let password = random_password();
        let account = format!("{}@{}", quote_string(&user), quote_string(host));
        let grant = format!("GRANT ALL PRIVILEGES ON {}.* TO {account}", quote_ident(&self.name));
        let made = conn
            .query_drop(format!("CREATE USER {account} IDENTIFIED BY {}", quote_string(&password)))
            .and_then(|()| conn.query_drop(&grant));
        if let Err(err) = made {
            let _ = conn.query_drop(format!("DROP USER IF EXISTS {account}"));
            let mut err = db_error(err);
            err.message = format!(
                "{}: rehearsal runs the migrations as a temporary account limited to the scratch database, so that they cannot reach another; the URL's user needs CREATE USER and the right to grant on `{PREFIX}%` databases (GRANT CREATE USER ON *.* TO ...; GRANT ALL ON `cutover\\_rehearsal\\_%`.* TO ... WITH GRANT OPTION)",
                err.message
            );
            return Err(err);
        }
        let opts: mysql::Opts = OptsBuilder::from_opts(self.target.opts.clone())
            .user(Some(user))
            .pass(Some(password))
            .db_name(Some(self.name.clone()))
            .into();
        let restricted = match crate::connect::open(&opts, self.target.tls_preferred) {
            Ok(restricted) => restricted,
            Err(err) => {
                let _ = self.target.conn.query_drop(format!("DROP USER IF EXISTS {account}"));
                return Err(err);
            }
        };
        let admin = std::mem::replace(&mut self.target.conn, restricted);
        self.target.rehearsal_admin = Some(Box::new(admin));
        self.target.opts = opts;
        self.account = Some(account);
        Ok(())
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops it.
    pub fn drop_database(mut self) -> Result<(), DbError> {
        let conn = match self.target.rehearsal_admin.as_deref_mut() {
            Some(admin) => admin,
            None => &mut self.target.conn,
        };
        let dropped = conn.query_drop(format!("DROP DATABASE {}", quote_ident(&self.name))).map_err(db_error);
        if let Some(account) = &self.account {
            conn.query_drop(format!("DROP USER IF EXISTS {account}")).map_err(db_error)?;
        }
        dropped
    }

    /// Makes the tables and views of `source` here, as `SHOW CREATE` prints them (foreign keys
    /// included, in any order: checks are off meanwhile; views until none more can be made).
    fn copy_definitions(&mut self, source: &str, history_table: &str) -> Result<(), DbError> {
        let own = own_tables(&TableName::resolve(history_table, source));
        let conn = &mut self.target.conn;
        let tables: Vec<(String, String)> = conn
            .exec(
                "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
                (source,),
            )
            .map_err(db_error)?;
        conn.query_drop("SET SESSION foreign_key_checks = 0").map_err(db_error)?;
        let databases: Vec<String> =
            conn.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").map_err(db_error)?;
        let mut views = Vec::new();
        for (table, kind) in tables {
            if own.contains(&table) {
                continue;
            }
            let qualified = format!("{}.{}", quote_ident(source), quote_ident(&table));
            if kind == "VIEW" {
                // View, Create View, character_set_client, collation_connection.
                let row: Option<(String, String, String, String)> =
                    conn.query_first(format!("SHOW CREATE VIEW {qualified}")).map_err(db_error)?;
                if let Some((_, definition, _, _)) = row {
                    let here = view_here(&definition, source);
                    let elsewhere =
                        databases.iter().find(|d| *d != source && here.contains(&format!("{}.", quote_ident(d))));
                    match elsewhere {
                        Some(other) => self.left_out.push(format!(
                            "view {table}: it reads the database `{other}`, which a write through it would change"
                        )),
                        None => views.push(here),
                    }
                }
                continue;
            }
            let row: Option<(String, String)> =
                conn.query_first(format!("SHOW CREATE TABLE {qualified}")).map_err(db_error)?;
            if let Some((_, definition)) = row {
                conn.query_drop(definition).map_err(db_error)?;
            }
        }
        // A view over a view needs that one first.
        while !views.is_empty() {
            let before = views.len();
            let mut failed = None;
            views.retain(|definition| match conn.query_drop(definition) {
                Ok(()) => false,
                Err(err) => {
                    failed = Some(db_error(err));
                    true
                }
            });
            if views.len() == before {
                return Err(failed.unwrap_or_else(|| DbError::new(DbErrorKind::Other, "a view could not be made")));
            }
        }
        conn.query_drop("SET SESSION foreign_key_checks = 1").map_err(db_error)
    }
}

/// How long a scratch database must have existed, with no session in it, to count as left
/// behind by a run killed before it could drop it.
const LEFTOVER_AGE_SECS: u64 = 600;

/// Drops the scratch databases of killed runs: named `cutover_rehearsal_<unix seconds>_<pid>`,
/// older than [`LEFTOVER_AGE_SECS`], no session using them. Best effort.
fn drop_leftovers(conn: &mut mysql::Conn, now_secs: u64) -> Vec<String> {
    let names: Vec<String> = conn
        .exec(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA s WHERE SCHEMA_NAME LIKE 'cutover\\_rehearsal\\_%' \
             AND NOT EXISTS (SELECT 1 FROM information_schema.PROCESSLIST p WHERE p.DB = s.SCHEMA_NAME)",
            (),
        )
        .unwrap_or_default();
    let mut dropped = Vec::new();
    // The temporary accounts of those runs, by the same names' rule.
    let accounts: Vec<(String, String)> =
        conn.query("SELECT User, Host FROM mysql.user WHERE User LIKE 'cutover\\_rh\\_%'").unwrap_or_default();
    for (user, host) in accounts {
        let parts: Vec<&str> =
            user.strip_prefix(ACCOUNT_PREFIX).map(|rest| rest.split('_').collect()).unwrap_or_default();
        let made = match parts.as_slice() {
            [secs, pid] if pid.bytes().all(|b| b.is_ascii_digit()) => secs.parse::<u64>().ok(),
            _ => None,
        };
        if made.is_some_and(|made| now_secs.saturating_sub(made) > LEFTOVER_AGE_SECS) {
            let _ = conn.query_drop(format!("DROP USER IF EXISTS {}@{}", quote_string(&user), quote_string(&host)));
        }
    }
    for name in names {
        // `cutover_rehearsal_<seconds>_<pid>`, both numbers: nothing else is ours.
        let parts: Vec<&str> = name.strip_prefix(PREFIX).map(|rest| rest.split('_').collect()).unwrap_or_default();
        let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let made = match parts.as_slice() {
            [secs, pid] if numeric(secs) && numeric(pid) => secs.parse::<u64>().ok(),
            _ => None,
        };
        let old = made.is_some_and(|made| now_secs.saturating_sub(made) > LEFTOVER_AGE_SECS);
        if old && conn.query_drop(format!("DROP DATABASE {}", quote_ident(&name))).is_ok() {
            dropped.push(name);
        }
    }
    dropped
}

/// A view's `SHOW CREATE VIEW` text made in the scratch database: no definer (which may need
/// privileges the user lacks), its tables this database's.
fn view_here(definition: &str, source: &str) -> String {
    let mut text = definition.to_string();
    if let Some(start) = text.find("DEFINER=") {
        let end = text[start..]
            .find(" SQL SECURITY")
            .or_else(|| text[start..].find(" VIEW"))
            .map_or(start, |e| start + e + 1);
        text.replace_range(start..end, "");
    }
    text.replace(&format!("{}.", quote_ident(source)), "")
}

/// cutover's own tables beside `history`: never part of a schema compared or copied.
fn own_tables(history: &TableName) -> Vec<String> {
    let mut own: Vec<String> =
        ["", "_guard", "_guard_row", "_approvals"].iter().map(|suffix| history.with_suffix(suffix).name).collect();
    own.push(cutover_engine::keyset::CHECKPOINT_TABLE.to_string());
    own
}

/// The `ALGORITHM=`/`LOCK=` clauses tried, cheapest first, with what each means when the server
/// accepts it: the algorithm, and whether writes go on. MySQL refuses any `LOCK=` beside
/// INSTANT; MariaDB takes `LOCK=NONE` there (and refuses it for an instant change that needs
/// an exclusive lock, a rename or `DISABLE KEYS`, which INSTANT alone then shows).
fn ladder(mariadb: bool) -> Vec<(&'static str, Option<&'static str>, bool)> {
    let mut ladder = Vec::with_capacity(6);
    if mariadb {
        ladder.push(("ALGORITHM=INSTANT, LOCK=NONE", Some("INSTANT"), true));
    }
    // An instant change that needs the table's exclusive lock (a rename) holds it only for the
    // instant it takes, as every ALTER does at its start and end: writes go on around it.
    ladder.extend([
        ("ALGORITHM=INSTANT", Some("INSTANT"), true),
        ("ALGORITHM=INPLACE, LOCK=NONE", Some("INPLACE"), true),
        ("ALGORITHM=INPLACE, LOCK=SHARED", Some("INPLACE"), false),
        ("ALGORITHM=COPY, LOCK=SHARED", Some("COPY"), false),
        ("LOCK=EXCLUSIVE", None, false),
    ]);
    ladder
}

/// How the clauses join `sql`, when it is a statement they apply to and it says no algorithm
/// or lock of its own: after a comma (`ALTER TABLE`) or a space (`CREATE`/`DROP INDEX`).
fn clause_joint(sql: &str) -> Option<&'static str> {
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().take(4).collect();
    let all = code_words(sql);
    // Its own algorithm or lock; ORDER BY, which must come last; ENGINE=, after which MariaDB
    // takes `ALGORITHM=INSTANT` and copies anyway (found by the tester).
    let says_its_own = all.iter().any(|w| {
        matches!(w.split('=').next().unwrap_or_default(), "ALGORITHM" | "LOCK" | "ONLINE" | "ORDER" | "ENGINE")
    });
    if says_its_own {
        return None;
    }
    match words.as_slice() {
        ["ALTER", "TABLE", ..] | ["ALTER", "IGNORE", "TABLE", ..] => Some(", "),
        ["CREATE", "INDEX", ..]
        | ["CREATE", "UNIQUE" | "FULLTEXT" | "SPATIAL", "INDEX", ..]
        | ["DROP", "INDEX", ..] => Some(" "),
        _ => None,
    }
}

/// Whether `sql` qualifies a name with `database` (`` `shop`.t ``, `shop.t`) outside quoted
/// strings.
fn names_database(sql: &str, database: &str) -> bool {
    let quoted = format!("`{}`.", database.replace('`', "``"));
    let bare = format!("{database}.");
    let bytes = sql.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let boundary =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || matches!(bytes[at - 1], b'_' | b'$' | b'.'));
        if boundary && (sql[at..].starts_with(&quoted) || sql[at..].starts_with(&bare)) {
            return true;
        }
        match bytes[at] {
            b'\'' | b'"' => {
                let quote = bytes[at];
                at += 1;
                while at < bytes.len() && bytes[at] != quote {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'`' => at = closing_backquote(bytes, at),
            _ => at += 1,
        }
    }
    false
}

fn closing_backquote(bytes: &[u8], at: usize) -> usize {
    let mut idx = at + 1;
    while idx < bytes.len() && bytes[idx] != b'`' {
        idx += 1;
    }
    idx + 1
}

/// ER_ALTER_OPERATION_NOT_SUPPORTED(_REASON) and MariaDB's `LOCK=` refusals: nothing was done.
fn refused(err: &mysql::Error) -> bool {
    matches!(err, mysql::Error::MySqlError(e) if matches!(e.code, 1845 | 1846 | 4092))
}

/// Why `sql` is about the server rather than a database's tables (a database, a user, a grant,
/// a global setting), when it is: said plainly before the scratch account's rights would refuse
/// it anyway.
fn about_the_server(sql: &str) -> Option<String> {
    let words = code_words(sql);
    let word = |at: usize| words.get(at).map(String::as_str).unwrap_or_default();
    let head: Vec<&str> = words.iter().take(6).map(String::as_str).collect();
    let server_object = ["DATABASE", "SCHEMA", "USER", "ROLE", "SERVER", "TABLESPACE", "LOGFILE"];
    if matches!(word(0), "CREATE" | "DROP" | "ALTER" | "RENAME")
        && head.iter().skip(1).take(4).any(|w| server_object.contains(w))
    {
        return Some(format!("`{}` changes the server, not a database's tables", as_written(sql)));
    }
    if matches!(
        word(0),
        "GRANT" | "REVOKE" | "FLUSH" | "KILL" | "INSTALL" | "UNINSTALL" | "RESET" | "PURGE" | "SHUTDOWN" | "CHANGE"
    ) || (word(0) == "SET" && matches!(word(1), "GLOBAL" | "PASSWORD" | "DEFAULT" | "ROLE"))
        || words.iter().take(3).any(|w| w.starts_with("@@GLOBAL"))
    {
        return Some(format!("`{}` changes the server, not a database's tables", as_written(sql)));
    }
    // Dynamic SQL, routines and events run as the scratch account too: its rights keep them
    // in the scratch database, whatever text they build.
    None
}

/// The start of `sql` as written, on one line, for a message.
fn as_written(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line,
    }
}

/// The words of `sql` outside quoted strings, upper-cased, MySQL's executable comments opened
/// (their text is code) and other comments left out.
fn code_words(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut at = 0;
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word).to_ascii_uppercase());
        }
    };
    while at < bytes.len() {
        let c = bytes[at];
        if sql[at..].starts_with("/*!") || sql[at..].starts_with("/*M!") {
            flush(&mut word, &mut words);
            at += if bytes[at + 2] == b'M' { 4 } else { 3 };
            while at < bytes.len() && bytes[at].is_ascii_digit() {
                at += 1;
            }
            continue;
        }
        if sql[at..].starts_with("/*") {
            flush(&mut word, &mut words);
            at = sql[at..].find("*/").map_or(bytes.len(), |end| at + end + 2);
            continue;
        }
        if sql[at..].starts_with("*/") {
            flush(&mut word, &mut words);
            at += 2;
            continue;
        }
        if sql[at..].starts_with("-- ") || c == b'#' {
            flush(&mut word, &mut words);
            at = sql[at..].find('\n').map_or(bytes.len(), |end| at + end + 1);
            continue;
        }
        match c {
            b'\'' | b'"' => {
                flush(&mut word, &mut words);
                at += 1;
                while at < bytes.len() && bytes[at] != c {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            c if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'$' | b'.' | b'`') => {
                word.push(c as char);
                at += 1;
            }
            _ => {
                flush(&mut word, &mut words);
                at += 1;
            }
        }
    }
    flush(&mut word, &mut words);
    words
}

impl Rehearsal for MysqlTarget {
    fn begin(&mut self) -> Result<(), DbError> {
        self.conn.query_drop("START TRANSACTION").map_err(db_error)
    }

    fn execute_observed(&mut self, sql: &str, _in_transaction: bool) -> Result<Observation, DbError> {
        let started = Instant::now();
        let sql = sql.trim().trim_end_matches(';').trim_end();
        // The scratch database shares the server with the real one: a statement that reaches
        // for it by name would change it.
        if let Some(source) = self.rehearsal_source.clone() {
            let switches = sql.split_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case("USE"));
            if switches || names_database(sql, &source) {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    format!(
                        "this statement names the database `{source}` itself: run on the scratch database beside it, it would change the real one; write its tables' names unqualified (the URL names the database)"
                    ),
                ));
            }
            if let Some(why) = about_the_server(sql) {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    format!("cannot be rehearsed: {why}; the scratch database shares its server with the real one"),
                ));
            }
        }
        let mut observation = Observation::default();
        if let Some(joint) = clause_joint(sql) {
            for (clauses, algorithm, concurrent) in ladder(self.mariadb) {
                // `CREATE INDEX ... ALGORITHM=x LOCK=y` takes no comma between them.
                let clauses = if joint == " " { clauses.replace(", ", " ") } else { clauses.to_string() };
                match self.conn.query_drop(format!("{sql}{joint}{clauses}")) {
                    Ok(()) => {
                        observation.mysql_algorithm = algorithm.map(str::to_string);
                        observation.mysql_concurrent_writes = Some(concurrent);
                        observation.duration = started.elapsed();
                        return Ok(observation);
                    }
                    Err(err) if refused(&err) => continue,
                    // Not a statement the clauses fit, or it fails whatever they say: as written.
                    Err(_) => break,
                }
            }
        }
        self.conn.query_drop(sql).map_err(db_error)?;
        observation.duration = started.elapsed();
        Ok(observation)
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.conn.query_drop("COMMIT").map_err(db_error)
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.conn.query_drop("ROLLBACK").map_err(db_error)
    }

    fn copy_sample(&mut self, rows_per_table: u64) -> Result<SampleReport, DbError> {
        let Some(source) = self.rehearsal_source.clone() else {
            return Err(DbError::new(DbErrorKind::Other, "this database is not a scratch copy of another"));
        };
        let here = self.database.clone();
        // The columns a row can be given: generated ones compute their own.
        let columns: Vec<(String, String)> = self
            .conn
            .exec(
                "SELECT c.TABLE_NAME, c.COLUMN_NAME FROM information_schema.COLUMNS c \
                 JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
                 WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' AND c.EXTRA NOT LIKE '%GENERATED%' \
                 ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
                (&here,),
            )
            .map_err(db_error)?;
        let mut tables: Vec<(String, Vec<String>)> = Vec::new();
        for (table, column) in columns {
            match tables.last_mut() {
                Some((last, list)) if *last == table => list.push(quote_ident(&column)),
                _ => tables.push((table, vec![quote_ident(&column)])),
            }
        }
        let own = own_tables(&self.history);
        // Read from the real database: the URL's account's connection.
        let conn = match self.rehearsal_admin.as_deref_mut() {
            Some(admin) => admin,
            None => &mut self.conn,
        };
        conn.query_drop("SET SESSION foreign_key_checks = 0").map_err(db_error)?;
        let mut report = SampleReport::default();
        for (table, list) in tables.into_iter().filter(|(t, _)| !own.contains(t)) {
            let list = list.join(", ");
            let sql = format!(
                // IGNORE: rows the replayed migrations inserted already stay, the others come.
                "INSERT IGNORE INTO {}.{} ({list}) SELECT {list} FROM {}.{} LIMIT {rows_per_table}",
                quote_ident(&here),
                quote_ident(&table),
                quote_ident(&source),
                quote_ident(&table)
            );
            match conn.query_drop(sql) {
                Ok(()) => {
                    let rows = conn.affected_rows();
                    if rows > 0 {
                        report.tables += 1;
                        report.rows += rows;
                    }
                }
                Err(err) => report.skipped.push(format!("{table}: {}", db_error(err).message)),
            }
        }
        conn.query_drop("SET SESSION foreign_key_checks = 1").map_err(db_error)?;
        Ok(report)
    }
}

impl SchemaSnapshot for MysqlTarget {
    /// Tables as `SHOW CREATE TABLE` prints them (the next AUTO_INCREMENT value left out),
    /// views by their definition, triggers by their timing, event and body.
    fn schema_objects(&mut self) -> Result<Vec<SchemaObject>, DbError> {
        let database = self.database.clone();
        let own = own_tables(&self.history);
        let tables: Vec<(String, String)> = self
            .conn
            .exec(
                "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
                (&database,),
            )
            .map_err(db_error)?;
        let mut objects = Vec::new();
        for (table, kind) in tables.into_iter().filter(|(t, _)| !own.contains(t)) {
            let qualified = format!("{}.{}", quote_ident(&database), quote_ident(&table));
            let (kind, shown) = if kind == "VIEW" {
                let row: Option<(String, String, String, String)> =
                    self.conn.query_first(format!("SHOW CREATE VIEW {qualified}")).map_err(db_error)?;
                (ObjectKind::View, row.map(|(_, d, _, _)| view_here(&d, &database)).unwrap_or_default())
            } else {
                let row: Option<(String, String)> =
                    self.conn.query_first(format!("SHOW CREATE TABLE {qualified}")).map_err(db_error)?;
                (ObjectKind::Table, row.map(|(_, d)| without_auto_increment(&d)).unwrap_or_default())
            };
            let definition = shown.split_whitespace().collect::<Vec<_>>().join(" ");
            objects.push(SchemaObject { kind, name: table, table: None, definition });
        }
        let sql = format!(
            "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT \
             FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA {} ORDER BY 1, 2",
            crate::connect::schema_equals(self.names_fold_case)
        );
        let triggers: Vec<(String, String, String, String, String)> =
            self.conn.exec(sql, (&database,)).map_err(db_error)?;
        for (table, name, timing, event, body) in triggers.into_iter().filter(|(t, ..)| !own.contains(t)) {
            let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
            objects.push(SchemaObject {
                kind: ObjectKind::Trigger,
                name: format!("{table}.{name}"),
                table: Some(table),
                definition: format!("{timing} {event} {body}"),
            });
        }
        Ok(objects)
    }
}

/// `SHOW CREATE TABLE`'s text without ` AUTO_INCREMENT=n` (the next value, not the schema).
fn without_auto_increment(definition: &str) -> String {
    let Some(start) = definition.find(" AUTO_INCREMENT=") else { return definition.to_string() };
    let digits =
        definition[start + 16..].find(|c: char| !c.is_ascii_digit()).map_or(definition.len(), |e| start + 16 + e);
    format!("{}{}", &definition[..start], &definition[digits..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clauses_go_where_the_statement_takes_them() {
        assert_eq!(clause_joint("ALTER TABLE t ADD COLUMN c int"), Some(", "));
        assert_eq!(clause_joint("CREATE UNIQUE INDEX i ON t (c)"), Some(" "));
        assert_eq!(clause_joint("DROP INDEX i ON t"), Some(" "));
        assert_eq!(clause_joint("ALTER TABLE t ADD COLUMN c int, ALGORITHM=COPY"), None, "its own algorithm");
        assert_eq!(clause_joint("ALTER ONLINE TABLE t ADD COLUMN c int"), None, "its own lock");
        assert_eq!(clause_joint("ALTER TABLE t ORDER BY c"), None, "ORDER BY must come last");
        assert_eq!(clause_joint("CREATE TABLE t (id int)"), None);
        assert_eq!(clause_joint("INSERT INTO t VALUES (1)"), None);
    }

    #[test]
    fn a_statement_naming_the_real_database_is_told_apart() {
        assert!(names_database("ALTER TABLE shop.users ADD COLUMN c int", "shop"));
        assert!(names_database("UPDATE `shop`.`users` SET a = 1", "shop"));
        assert!(!names_database("UPDATE users SET a = 'shop.users'", "shop"));
        assert!(!names_database("UPDATE myshop.users SET a = 1", "shop"));
        assert!(!names_database("UPDATE `x shop.`.users SET a = 1", "shop"));
    }

    #[test]
    fn snapshots_leave_out_the_next_auto_increment_and_views_their_definer() {
        assert_eq!(
            without_auto_increment(
                "CREATE TABLE `t` (\n`id` int) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4"
            ),
            "CREATE TABLE `t` (\n`id` int) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
        assert_eq!(
            view_here(
                "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select `app`.`t`.`id` AS `id` from `app`.`t`",
                "app"
            ),
            "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select `t`.`id` AS `id` from `t`"
        );
    }
}
