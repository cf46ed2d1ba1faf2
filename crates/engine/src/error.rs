//! Database errors, normalized across engines.

use std::fmt;

/// What kind of failure a database error is, so that callers can decide to retry without
/// matching on driver types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbErrorKind {
    /// A lock was not granted within the lock timeout (PostgreSQL 55P03, SQLite `SQLITE_BUSY`).
    LockTimeout,
    /// A deadlock was detected and this session was chosen to fail (PostgreSQL 40P01).
    Deadlock,
    /// The statement ran longer than the statement timeout (PostgreSQL 57014).
    StatementTimeout,
    /// The server could not be reached, or the connection was lost.
    Connection,
    /// The server refused the credentials.
    Authentication,
    /// What a DDL statement creates exists already, or what it drops is gone already
    /// (PostgreSQL 42P07, 42701, 42710, 42P06, 42723, 42P01, 42703, 42704; MySQL 1050, 1060,
    /// 1061, 1826, 1051, 1091): a statement that ran to its end before its runner died says this
    /// when it runs again.
    AlreadyDone,
    /// Anything else: a syntax error, a constraint violation, a missing table, ...
    Other,
}

/// An error reported by the database or its driver.
#[derive(Debug, Clone)]
pub struct DbError {
    /// The kind of failure.
    pub kind: DbErrorKind,
    /// The SQLSTATE (or the engine's own code), when there is one.
    pub code: Option<String>,
    /// The primary message.
    pub message: String,
    /// The server's detail and hint lines, when it gave any.
    pub detail: Option<String>,
    /// 1-based character position of the error within the statement, when known.
    pub position: Option<usize>,
}

impl DbError {
    /// An error with just a kind and a message.
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> DbError {
        DbError { kind, code: None, message: message.into(), detail: None, position: None }
    }

    /// Waiting for a lock failed; retrying later may succeed.
    pub fn is_lock_contention(&self) -> bool {
        matches!(self.kind, DbErrorKind::LockTimeout | DbErrorKind::Deadlock)
    }

    /// The data was refused (SQLSTATE classes 22, a value the type or expression cannot take,
    /// and 23, a constraint): the same rows fail again however often it is retried.
    pub fn is_data_refused(&self) -> bool {
        self.code.as_deref().is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (SQLSTATE {code})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "; {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}
