//! Turning driver errors into `DbError`s.

use cutover_engine::{DbError, DbErrorKind};

/// Classifies a driver error by the server's error code.
pub(crate) fn db_error(err: mysql::Error) -> DbError {
    match err {
        mysql::Error::MySqlError(e) => {
            let kind = match e.code {
                // ER_LOCK_WAIT_TIMEOUT: row locks and metadata locks alike.
                1205 => DbErrorKind::LockTimeout,
                1213 => DbErrorKind::Deadlock,
                // MariaDB's max_statement_time, MySQL's max_execution_time.
                1969 | 3024 => DbErrorKind::StatementTimeout,
                1044 | 1045 | 1698 => DbErrorKind::Authentication,
                // Table, column, key or foreign key exists already; table or key gone already.
                1050 | 1060 | 1061 | 1826 | 1051 | 1091 => DbErrorKind::AlreadyDone,
                _ => DbErrorKind::Other,
            };
            // The SQLSTATE goes where PostgreSQL's does; MySQL's own error number, which its
            // documentation is indexed by, leads the message.
            DbError {
                kind,
                code: Some(e.state),
                message: format!("ERROR {}: {}", e.code, e.message),
                detail: None,
                position: None,
            }
        }
        mysql::Error::IoError(e) => DbError::new(DbErrorKind::Connection, e.to_string()),
        // The driver's own text is `CodecError { IO error: ... }`.
        mysql::Error::CodecError(e) => DbError::new(DbErrorKind::Connection, format!("the connection broke: {e}")),
        mysql::Error::DriverError(e) => DbError::new(DbErrorKind::Connection, e.to_string()),
        mysql::Error::UrlError(e) => DbError::new(DbErrorKind::Connection, e.to_string()),
        other => DbError::new(DbErrorKind::Other, other.to_string()),
    }
}
