//! Turning driver errors into `DbError`s.

use cutover_engine::{DbError, DbErrorKind};
use rusqlite::ErrorCode;

/// Classifies a driver error by SQLite's primary result code.
pub(crate) fn db_error(err: rusqlite::Error) -> DbError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let kind = match failure.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbErrorKind::LockTimeout,
                ErrorCode::OperationInterrupted => DbErrorKind::StatementTimeout,
                ErrorCode::CannotOpen | ErrorCode::NotADatabase => DbErrorKind::Connection,
                _ => DbErrorKind::Other,
            };
            let message = message.clone().unwrap_or_else(|| failure.to_string());
            DbError {
                kind,
                code: Some(format!("SQLITE_{:?}", failure.code).to_uppercase()),
                message,
                detail: None,
                position: None,
            }
        }
        _ => DbError::new(DbErrorKind::Other, err.to_string()),
    }
}
