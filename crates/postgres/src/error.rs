//! Turning driver errors into `DbError`s.

use cutover_engine::{DbError, DbErrorKind};
use postgres::error::ErrorPosition;

/// Classifies a driver error by SQLSTATE, keeping the server's message, detail and hint.
pub(crate) fn db_error(err: postgres::Error) -> DbError {
    let Some(db) = err.as_db_error() else {
        let kind =
            if err.is_closed() || is_connection_error(&err) { DbErrorKind::Connection } else { DbErrorKind::Other };
        // The driver's own text ("error connecting to server: ...") plus its cause.
        let mut message = err.to_string();
        if err.is_closed() {
            message = "connection closed by the server (terminated by pg_terminate_backend, a restart, or the network)"
                .to_string();
        }
        if let Some(source) = std::error::Error::source(&err) {
            let source = source.to_string();
            if !message.contains(&source) {
                message = format!("{message}: {source}");
            }
        }
        return DbError::new(kind, message);
    };
    let code = db.code().code();
    let kind = match code {
        "55P03" => DbErrorKind::LockTimeout,
        "40P01" => DbErrorKind::Deadlock,
        "57014" => DbErrorKind::StatementTimeout,
        "28P01" | "28000" => DbErrorKind::Authentication,
        c if c.starts_with("08") || c == "57P01" || c == "57P02" || c == "57P03" => DbErrorKind::Connection,
        "42P07" | "42701" | "42710" | "42P06" | "42723" | "42P01" | "42703" | "42704" => DbErrorKind::AlreadyDone,
        _ => DbErrorKind::Other,
    };
    let detail = match (db.detail(), db.hint()) {
        (Some(detail), Some(hint)) => Some(format!("{detail}; hint: {hint}")),
        (Some(detail), None) => Some(detail.to_string()),
        (None, Some(hint)) => Some(format!("hint: {hint}")),
        (None, None) => None,
    };
    let position = match db.position() {
        Some(ErrorPosition::Original(position)) => Some(*position as usize),
        _ => None,
    };
    DbError { kind, code: Some(code.to_string()), message: db.message().to_string(), detail, position }
}

fn is_connection_error(err: &postgres::Error) -> bool {
    // The driver does not expose its error kind; its connection failures say so in their text.
    let text = err.to_string();
    text.contains("error connecting") || text.contains("connection") || text.contains("timed out")
}

/// Runs idempotent `CREATE ... IF NOT EXISTS` DDL that several runners may run at once.
///
/// PostgreSQL's `IF NOT EXISTS` is not atomic: two sessions that both find the table absent
/// race on the catalog, and the loser fails with 42P07, 42710 ("type ... already exists") or
/// 23505 (pg_type's unique index). By then the winner has committed, so running the DDL again
/// is a no-op; an object of that name that is not the table (a user's type, say) fails the
/// second time too and that error is returned.
pub(crate) fn create_racing(client: &mut postgres::Client, ddl: &str) -> Result<(), DbError> {
    match client.batch_execute(ddl).map_err(db_error) {
        Err(err) if matches!(err.code.as_deref(), Some("23505" | "42P07" | "42710")) => {
            client.batch_execute(ddl).map_err(db_error)
        }
        result => result,
    }
}
