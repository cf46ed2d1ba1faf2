//! Opening the database file.

use std::path::PathBuf;

use cutover_engine::{DatabaseUrl, DbError, DbErrorKind};
use rusqlite::{Connection, OpenFlags};

use crate::error::db_error;

/// A SQLite database that migrations run against.
pub struct SqliteTarget {
    pub(crate) conn: Connection,
    /// `None` for an in-memory database, which no other process can see.
    pub(crate) path: Option<PathBuf>,
    pub(crate) history_table: String,
}

/// Opens (creating if needed) the database a `sqlite:` URL names.
pub fn connect(url: &DatabaseUrl, history_table: &str) -> Result<SqliteTarget, DbError> {
    let history_table = history_table_in_main(history_table)?;
    let path = url.sqlite_path().map(PathBuf::from);
    let conn = match &path {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    return Err(DbError::new(
                        DbErrorKind::Connection,
                        format!(
                            "cannot open SQLite database `{}`: folder `{}` does not exist; create it or fix the URL",
                            path.display(),
                            parent.display()
                        ),
                    ));
                }
            }
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
        }
        None => Connection::open_in_memory(),
    }
    .map_err(db_error)?;
    Ok(SqliteTarget { conn, path, history_table })
}

/// The history table's name in the database file (schema `main`): `main.cutover_history` and
/// `cutover_history` are one table, never a table named `main.cutover_history`.
fn history_table_in_main(history_table: &str) -> Result<String, DbError> {
    match history_table.split_once('.') {
        None => Ok(history_table.to_string()),
        Some((schema, name)) if schema.eq_ignore_ascii_case("main") => Ok(name.to_string()),
        Some((schema, name)) => Err(DbError::new(
            DbErrorKind::Other,
            format!(
                "history table `{history_table}`: a SQLite database keeps its tables in schema `main`, not `{schema}`; write `{name}` or `main.{name}`"
            ),
        )),
    }
}

/// Quotes an identifier for SQLite: wrapped in `"`, inner `"` doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
