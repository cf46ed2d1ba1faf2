//! Concurrent index builds and what a failed one leaves behind.
//!
//! `CREATE INDEX CONCURRENTLY` and `REINDEX ... CONCURRENTLY` commit in several steps; one that
//! fails (a duplicate for a unique index, a lock timeout, a killed runner) leaves an INVALID
//! index behind (`REINDEX` one named `<index>_ccnew`). It costs every write and, worse, makes a
//! rerun with `IF NOT EXISTS` succeed without building anything. So:
//! - before a build, the leftovers of an earlier try are dropped, found by identity: the
//!   index lives in its table's schema, whatever the `search_path` shows, and names are read
//!   with SQL's rules (quotes, case folding);
//! - after a build that reports success, the index must be valid and ready, or the statement
//!   failed; an unnamed index's INVALID twins (a killed earlier try of the same statement,
//!   named `t_a_idx` beside the new `t_a_idx1`) are dropped.

use postgres::Client;

use cutover_engine::{DbError, DbErrorKind};

use crate::connect::quote_ident;
use crate::error::db_error;

/// A concurrent build, as much of it as the runner needs to find its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Build {
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] [name] ON [ONLY] table ...`.
    Create {
        /// The index's name, as PostgreSQL stores it; `None` when PostgreSQL picks it.
        index: Option<String>,
        /// The table, as written (quoted for `to_regclass`).
        table: String,
    },
    /// `REINDEX [(options)] INDEX|TABLE CONCURRENTLY name`.
    Reindex {
        /// `INDEX` (else `TABLE`).
        index: bool,
        /// The index or table, as written (quoted for `to_regclass`).
        name: String,
    },
}

impl Build {
    /// The concurrent build `sql` is, if it is one.
    pub(crate) fn parse(sql: &str) -> Option<Build> {
        let mut tokens = Tokens::new(sql);
        match tokens.keyword()?.as_str() {
            "CREATE" => {
                let mut word = tokens.keyword()?;
                if word == "UNIQUE" {
                    word = tokens.keyword()?;
                }
                if word != "INDEX" || tokens.keyword()? != "CONCURRENTLY" {
                    return None;
                }
                let mut index = None;
                let mut next = tokens.name()?;
                if next.is_keyword("IF") {
                    if !(tokens.keyword()? == "NOT" && tokens.keyword()? == "EXISTS") {
                        return None;
                    }
                    next = tokens.name()?;
                }
                if !next.is_keyword("ON") {
                    index = Some(next.value);
                    if tokens.keyword()? != "ON" {
                        return None;
                    }
                }
                let mut table = tokens.qualified_name()?;
                if table.len() == 1 && table[0].is_keyword("ONLY") {
                    table = tokens.qualified_name()?;
                }
                Some(Build::Create { index, table: quoted(&table) })
            }
            "REINDEX" => {
                let mut word = tokens.keyword()?;
                if word == "(" {
                    // `REINDEX (VERBOSE, CONCURRENTLY) INDEX x`: options in parentheses.
                    let mut concurrently = false;
                    loop {
                        let option = tokens.keyword()?;
                        concurrently |= option == "CONCURRENTLY";
                        if option == ")" {
                            break;
                        }
                    }
                    let kind = tokens.keyword()?;
                    let name = tokens.qualified_name()?;
                    return (concurrently && matches!(kind.as_str(), "INDEX" | "TABLE"))
                        .then(|| Build::Reindex { index: kind == "INDEX", name: quoted(&name) });
                }
                let index = match word.as_str() {
                    "INDEX" => true,
                    "TABLE" => false,
                    _ => return None,
                };
                word = tokens.keyword()?;
                if word != "CONCURRENTLY" {
                    return None;
                }
                Some(Build::Reindex { index, name: quoted(&tokens.qualified_name()?) })
            }
            _ => None,
        }
    }
}

/// An identifier as PostgreSQL reads it: unquoted ones folded to lower case.
#[derive(Debug)]
struct Name {
    value: String,
    quoted: bool,
}

impl Name {
    fn is_keyword(&self, keyword: &str) -> bool {
        !self.quoted && self.value.eq_ignore_ascii_case(keyword)
    }
}

fn quoted(parts: &[Name]) -> String {
    parts.iter().map(|p| quote_ident(&p.value)).collect::<Vec<_>>().join(".")
}

/// Just enough of PostgreSQL's lexer: words, quoted identifiers, punctuation; comments skipped.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn new(sql: &'a str) -> Tokens<'a> {
        Tokens { rest: sql }
    }

    fn skip_space(&mut self) {
        loop {
            self.rest = self.rest.trim_start();
            if let Some(after) = self.rest.strip_prefix("--") {
                self.rest = after.find('\n').map_or("", |i| &after[i..]);
            } else if let Some(after) = self.rest.strip_prefix("/*") {
                self.rest = after.find("*/").map_or("", |i| &after[i + 2..]);
            } else {
                return;
            }
        }
    }

    /// The next token: a name, or one punctuation character as an unquoted name.
    fn name(&mut self) -> Option<Name> {
        self.skip_space();
        let mut chars = self.rest.char_indices();
        let (_, first) = chars.next()?;
        if first == '"' {
            let mut value = String::new();
            let body = &self.rest[1..];
            let mut iter = body.char_indices().peekable();
            while let Some((idx, c)) = iter.next() {
                if c == '"' {
                    if iter.peek().map(|(_, n)| *n) == Some('"') {
                        value.push('"');
                        iter.next();
                        continue;
                    }
                    self.rest = &body[idx + 1..];
                    return Some(Name { value, quoted: true });
                }
                value.push(c);
            }
            return None; // an unterminated quote
        }
        if first.is_alphanumeric() || first == '_' {
            let end =
                self.rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(self.rest.len());
            let value = self.rest[..end].to_lowercase();
            self.rest = &self.rest[end..];
            return Some(Name { value, quoted: false });
        }
        self.rest = &self.rest[first.len_utf8()..];
        Some(Name { value: first.to_string(), quoted: false })
    }

    /// The next token as an upper-case keyword (a quoted identifier is no keyword).
    fn keyword(&mut self) -> Option<String> {
        let name = self.name()?;
        Some(if name.quoted { String::new() } else { name.value.to_ascii_uppercase() })
    }

    /// `a`, `a.b` or `"A"."b c"`.
    fn qualified_name(&mut self) -> Option<Vec<Name>> {
        let mut parts = vec![self.name()?];
        loop {
            let before = self.rest;
            self.skip_space();
            if let Some(after) = self.rest.strip_prefix('.') {
                self.rest = after;
                parts.push(self.name()?);
            } else {
                self.rest = before;
                return Some(parts);
            }
        }
    }
}

/// An index that is not valid or not ready.
struct Broken {
    oid: u32,
    schema: String,
    name: String,
    /// The backend still building it, if any.
    building_pid: Option<i32>,
}

const BROKEN_INDEXES: &str = "SELECT c.oid, n.nspname, c.relname, p.pid \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_stat_progress_create_index p ON p.index_relid = c.oid \
     WHERE NOT (i.indisvalid AND i.indisready) AND i.indrelid = $1";

fn broken_indexes(client: &mut Client, table: u32) -> Result<Vec<Broken>, DbError> {
    let rows = client.query(BROKEN_INDEXES, &[&table]).map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|r| Broken { oid: r.get(0), schema: r.get(1), name: r.get(2), building_pid: r.get(3) })
        .collect())
}

/// The OID of the table a build works on (`None` when it does not exist: the statement will
/// say so itself).
fn table_of(client: &mut Client, build: &Build) -> Result<Option<u32>, DbError> {
    let (sql, name) = match build {
        Build::Create { table, .. } | Build::Reindex { index: false, name: table } => {
            ("SELECT to_regclass($1)::oid", table)
        }
        Build::Reindex { index: true, name } => {
            ("SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = to_regclass($1)::oid", name)
        }
    };
    let row = client.query_opt(sql, &[name]).map_err(db_error)?;
    Ok(row.and_then(|r| r.get::<_, Option<u32>>(0)))
}

/// The base names whose `_ccnew`/`_ccold` twins a failed `REINDEX INDEX ... CONCURRENTLY` leaves.
fn reindexed_name(client: &mut Client, index: &str) -> Result<Option<String>, DbError> {
    let row = client
        .query_opt("SELECT relname::text FROM pg_class WHERE oid = to_regclass($1)", &[&index])
        .map_err(db_error)?;
    Ok(row.map(|r| r.get(0)))
}

/// Whether `broken` is what an earlier try of `build` left.
fn left_by(build: &Build, broken: &Broken, reindexed: Option<&str>) -> bool {
    let is_twin = |base: &str| {
        ["_ccnew", "_ccold"].iter().any(|suffix| {
            broken
                .name
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix(suffix))
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
    };
    match build {
        Build::Create { index: Some(index), .. } => &broken.name == index,
        // An unnamed index's earlier try is found after the build (see `check_built`).
        Build::Create { index: None, .. } => false,
        Build::Reindex { index: true, .. } => reindexed.is_some_and(is_twin),
        Build::Reindex { index: false, .. } => broken.name.contains("_ccnew") || broken.name.contains("_ccold"),
    }
}

/// Drops what an earlier try of `build` left on its table. A leftover still being built by
/// another backend (a killed runner's statement running on) is waited for as a lock is.
pub(crate) fn clear_leftovers(client: &mut Client, build: &Build) -> Result<Vec<String>, DbError> {
    let Some(table) = table_of(client, build)? else {
        return Ok(Vec::new());
    };
    let reindexed = match build {
        Build::Reindex { index: true, name } => reindexed_name(client, name)?,
        _ => None,
    };
    let mut dropped = Vec::new();
    for broken in broken_indexes(client, table)? {
        if !left_by(build, &broken, reindexed.as_deref()) {
            continue;
        }
        if let Some(pid) = broken.building_pid {
            return Err(DbError::new(
                DbErrorKind::LockTimeout,
                format!(
                    "index {}.{} is still being built by backend pid {pid} (an earlier, interrupted run); wait for it, or stop it with SELECT pg_cancel_backend({pid})",
                    broken.schema, broken.name
                ),
            ));
        }
        drop_index(client, &broken)?;
        dropped.push(format!("{}.{}", broken.schema, broken.name));
    }
    Ok(dropped)
}

fn drop_index(client: &mut Client, broken: &Broken) -> Result<(), DbError> {
    let qualified = format!("{}.{}", quote_ident(&broken.schema), quote_ident(&broken.name));
    client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}")).map_err(db_error)
}

/// The indexes of the build's table before it runs, to tell the new one afterwards.
pub(crate) fn indexes_before(client: &mut Client, build: &Build) -> Result<Vec<u32>, DbError> {
    let Some(table) = table_of(client, build)? else {
        return Ok(Vec::new());
    };
    let rows = client.query("SELECT indexrelid FROM pg_index WHERE indrelid = $1", &[&table]).map_err(db_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// After a build reported success: its index is valid and ready (else an error that says
/// why), and INVALID twins of an unnamed one are dropped. Returns what was dropped.
pub(crate) fn check_built(client: &mut Client, build: &Build, before: &[u32]) -> Result<Vec<String>, DbError> {
    let Some(table) = table_of(client, build)? else {
        return Ok(Vec::new());
    };
    let broken = broken_indexes(client, table)?;
    match build {
        Build::Create { index: Some(index), .. } => {
            if let Some(b) = broken.iter().find(|b| &b.name == index) {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    format!(
                        "index {}.{} is INVALID after the build reported success (`IF NOT EXISTS` passed over an INVALID index of that name, or the build was cancelled); drop it with DROP INDEX CONCURRENTLY and run `cutover up` again",
                        b.schema, b.name
                    ),
                ));
            }
            Ok(Vec::new())
        }
        Build::Create { index: None, .. } => {
            let row = client
                .query_opt(
                    "SELECT indexrelid, regexp_replace(pg_get_indexdef(indexrelid), '^(CREATE (UNIQUE )?INDEX )\\S+', '\\1') \
                     FROM pg_index WHERE indrelid = $1 AND indexrelid <> ALL($2) ORDER BY indexrelid DESC LIMIT 1",
                    &[&table, &before],
                )
                .map_err(db_error)?;
            let Some(row) = row else {
                return Ok(Vec::new());
            };
            let (new_oid, definition): (u32, String) = (row.get(0), row.get(1));
            if broken.iter().any(|b| b.oid == new_oid) {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    "the index built is INVALID after the build reported success; drop it with DROP INDEX CONCURRENTLY and run `cutover up` again",
                ));
            }
            let mut dropped = Vec::new();
            let mut twin_names = Vec::new();
            for b in broken.iter().filter(|b| b.building_pid.is_none()) {
                let twin: String = client
                    .query_one(
                        "SELECT regexp_replace(pg_get_indexdef($1::oid), '^(CREATE (UNIQUE )?INDEX )\\S+', '\\1')",
                        &[&b.oid],
                    )
                    .map_err(db_error)?
                    .get(0);
                if twin == definition {
                    drop_index(client, b)?;
                    dropped.push(format!("{}.{}", b.schema, b.name));
                    twin_names.push(b.name.clone());
                }
            }
            // PostgreSQL named the new index after the twin that stood in the way (`t_a_idx1`):
            // it takes the name an undisturbed run gives it, which down scripts name.
            let row = client
                .query_one("SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1", &[&new_oid])
                .map_err(db_error)?;
            let (schema, name): (String, String) = (row.get(0), row.get(1));
            let base = twin_names
                .iter()
                .filter(|twin| {
                    name.strip_prefix(twin.as_str())
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .min_by_key(|twin| twin.len());
            if let Some(base) = base {
                client
                    .batch_execute(&format!(
                        "ALTER INDEX {}.{} RENAME TO {}",
                        quote_ident(&schema),
                        quote_ident(&name),
                        quote_ident(base)
                    ))
                    .map_err(db_error)?;
            }
            Ok(dropped)
        }
        Build::Reindex { .. } => {
            if let Some(b) = broken.iter().find(|b| b.name.contains("_ccnew")) {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    format!("index {}.{} is INVALID after REINDEX CONCURRENTLY reported success; run `cutover up` again to rebuild it", b.schema, b.name),
                ));
            }
            Ok(Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Build;

    fn create(index: Option<&str>, table: &str) -> Option<Build> {
        Some(Build::Create { index: index.map(str::to_string), table: table.to_string() })
    }

    #[test]
    fn reads_the_builds_names_as_postgres_does() {
        let parse = Build::parse;
        assert_eq!(
            parse("CREATE INDEX CONCURRENTLY Users_Email ON users (email)"),
            create(Some("users_email"), "\"users\"")
        );
        assert_eq!(
            parse("create unique index concurrently if not exists \"Mixed\" on t (a)"),
            create(Some("Mixed"), "\"t\"")
        );
        assert_eq!(
            parse("CREATE INDEX CONCURRENTLY \"big2 a2\" ON \"Big\".\"t 2\" (a)"),
            create(Some("big2 a2"), "\"Big\".\"t 2\"")
        );
        assert_eq!(parse("CREATE INDEX CONCURRENTLY ON ONLY app.t (a)"), create(None, "\"app\".\"t\""));
        assert_eq!(parse("CREATE INDEX CONCURRENTLY ON t(a)"), create(None, "\"t\""));
        assert_eq!(parse("CREATE INDEX CONCURRENTLY \"on\" ON t (a)"), create(Some("on"), "\"t\""));
        assert_eq!(parse("CREATE /* why */ INDEX CONCURRENTLY -- note\n i ON t (a)"), create(Some("i"), "\"t\""));
        assert_eq!(parse("CREATE INDEX i ON t (a)"), None);
        assert_eq!(
            parse("REINDEX INDEX CONCURRENTLY app.\"I\""),
            Some(Build::Reindex { index: true, name: "\"app\".\"I\"".into() })
        );
        assert_eq!(
            parse("reindex (verbose, concurrently) table t"),
            Some(Build::Reindex { index: false, name: "\"t\"".into() })
        );
        assert_eq!(parse("REINDEX TABLE t"), None);
        assert_eq!(parse("CREATE INDEX CONCURRENTLY \"unterminated ON t (a)"), None);
    }
}
