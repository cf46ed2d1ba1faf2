//! Per-migration directives written in a script's leading comments.
//!
//! `-- cutover:no-transaction`, `-- cutover:lock-timeout=5s` and
//! `-- cutover:statement-timeout=10m` must come before the first statement. sqlx's
//! `-- no-transaction` means the same as ours; the other tools' markers (dbmate's
//! `transaction:false`, goose's `NO TRANSACTION`, diesel's `metadata.toml`, Flyway's `.sql.conf`)
//! are read by their layouts. A misspelt directive is an error, never silently ignored.

use std::time::Duration;

/// How one script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptSettings {
    /// Run the whole script and its history row in one transaction (the default); false when a
    /// directive or the layout's marker says so, or when every statement of the script refuses
    /// a transaction block (`cutover_migration::transactionality`).
    pub transaction: bool,
    /// The directive that switched the transaction off, if one did (whichever came last). cutover
    /// reads every tool's; each other tool reads only its own, so `cutover lint` asks which one a
    /// file carries to tell how that tool runs it.
    pub no_transaction_by: Option<NoTransactionMarker>,
    /// Overrides the configured lock timeout for this script.
    pub lock_timeout: Option<Duration>,
    /// Overrides the configured statement timeout for this script (`Duration::ZERO`: none).
    pub statement_timeout: Option<Duration>,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        ScriptSettings { transaction: true, no_transaction_by: None, lock_timeout: None, statement_timeout: None }
    }
}

impl ScriptSettings {
    /// Switches the transaction off, as `marker` says.
    pub fn no_transaction(&mut self, marker: NoTransactionMarker) {
        self.transaction = false;
        self.no_transaction_by = Some(marker);
    }

    /// Switches the transaction back on (dbmate's `transaction:true`, Flyway's
    /// `executeInTransaction=true`).
    pub fn in_transaction(&mut self) {
        self.transaction = true;
        self.no_transaction_by = None;
    }
}

/// A tool's directive that runs a script outside a transaction. Each tool reads only its own
/// (cutover reads them all, and runs a script made only of statements that refuse a
/// transaction block outside one with none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTransactionMarker {
    /// `-- cutover:no-transaction`, or sqlx's `-- no-transaction` below the first line, where
    /// only cutover reads it.
    Cutover,
    /// sqlx's `-- no-transaction` as the file's first bytes (sqlx checks `starts_with`).
    Sqlx,
    /// dbmate's `-- migrate:up transaction:false`.
    Dbmate,
    /// goose's `-- +goose NO TRANSACTION`.
    Goose,
    /// diesel's `run_in_transaction = false` in the migration's `metadata.toml`.
    Diesel,
    /// Flyway's `executeInTransaction=false` in the script's `<file>.sql.conf`.
    Flyway,
    /// ory popx's `.autocommit.` in the file name (`<version>_<name>.postgres.autocommit.up.sql`).
    Pop,
    /// Liquibase's `runInTransaction:false` on a `--changeset` line.
    Liquibase,
    /// Atlas's `-- atlas:txmode none` in a file's header.
    Atlas,
}

impl NoTransactionMarker {
    /// The marker a file's name carries: popx's `.autocommit.` (a file's name is no directive to
    /// any other tool).
    pub fn in_file_name(name: &str) -> Option<NoTransactionMarker> {
        name.contains(".autocommit.").then_some(NoTransactionMarker::Pop)
    }
}

/// A directive that could not be read: its 1-based line within the script and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveError {
    /// 1-based line within the text given to [`read_directives`].
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

const KNOWN: &str = "no-transaction, lock-timeout=<duration>, statement-timeout=<duration>";

/// Reads the directives in the leading comments of `text` into `settings`.
///
/// `cutover:` directives after the first statement are errors: they would have no effect.
/// `cutover:ignore` comments belong to the analysis and are skipped here.
pub fn read_directives(text: &str, settings: &mut ScriptSettings) -> Result<(), DirectiveError> {
    let mut leading = true;
    for (idx, raw_line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let trimmed = raw_line.trim();
        let Some(comment) = trimmed.strip_prefix("--") else {
            if !trimmed.is_empty() {
                leading = false;
            }
            continue;
        };
        let body = comment.trim();
        if leading && body.eq_ignore_ascii_case("no-transaction") {
            // sqlx reads its marker only as the file's first bytes; elsewhere only cutover does.
            let sqlx = idx == 0 && raw_line.starts_with("-- no-transaction");
            settings.no_transaction(if sqlx { NoTransactionMarker::Sqlx } else { NoTransactionMarker::Cutover });
            continue;
        }
        // `CUTOVER:` is the same prefix: a directive in capitals is no plain comment.
        let Some(directive) = body.get(..8).filter(|p| p.eq_ignore_ascii_case("cutover:")).map(|_| &body[8..]) else {
            continue;
        };
        let directive = directive.trim();
        let key_end = directive.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(directive.len());
        let key = &directive[..key_end];
        let rest = directive[key_end..].trim_start();
        let value = rest.strip_prefix('=').map(str::trim);
        if key.eq_ignore_ascii_case("ignore") || key.eq_ignore_ascii_case("ignore-file") {
            continue;
        }
        if value.is_none() && !rest.is_empty() {
            return Err(DirectiveError {
                line: line_no,
                message: format!(
                    "`cutover:{directive}`: one directive per line, and `{rest}` is not part of `cutover:{key}`; put each directive on a line of its own"
                ),
            });
        }
        if !leading {
            return Err(DirectiveError {
                line: line_no,
                message: format!(
                    "directive `cutover:{directive}` comes after the first statement, where it has no effect; move it to the top of the script"
                ),
            });
        }
        match (key, value) {
            ("no-transaction", None) => settings.no_transaction(NoTransactionMarker::Cutover),
            ("lock-timeout", Some(value)) => {
                settings.lock_timeout = Some(parse_lock_timeout(value).map_err(|message| DirectiveError {
                    line: line_no,
                    message: format!("bad value in `cutover:lock-timeout={value}`: {message}"),
                })?);
            }
            ("statement-timeout", Some(value)) => {
                settings.statement_timeout =
                    Some(parse_statement_timeout(value).map_err(|message| DirectiveError {
                        line: line_no,
                        message: format!("bad value in `cutover:statement-timeout={value}`: {message}"),
                    })?);
            }
            ("no-transaction", Some(_)) => {
                return Err(DirectiveError {
                    line: line_no,
                    message: "`cutover:no-transaction` takes no value; write it alone".to_string(),
                })
            }
            ("lock-timeout" | "statement-timeout", None) => {
                return Err(DirectiveError {
                    line: line_no,
                    message: format!("`cutover:{key}` needs a value, e.g. `cutover:{key}=5s`"),
                })
            }
            _ => {
                return Err(DirectiveError {
                    line: line_no,
                    message: format!("unknown directive `cutover:{directive}`; known directives: {KNOWN}"),
                })
            }
        }
    }
    Ok(())
}

/// The longest timeout the servers take: PostgreSQL's `lock_timeout` and `statement_timeout`
/// are `int` milliseconds (about 24.8 days), and SQLite's busy timeout the same.
pub const MAX_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Parses a lock timeout: at least 1ms, in whole milliseconds, at most [`MAX_TIMEOUT`]. Zero
/// is refused: to the servers it means "wait forever", the outage a lock timeout prevents.
pub fn parse_lock_timeout(text: &str) -> Result<Duration, String> {
    check_lock_timeout(parse_duration(text)?)
}

/// Parses a statement timeout: `0` for none, else as a lock timeout.
pub fn parse_statement_timeout(text: &str) -> Result<Duration, String> {
    check_statement_timeout(parse_duration(text)?)
}

/// See [`parse_lock_timeout`].
pub fn check_lock_timeout(timeout: Duration) -> Result<Duration, String> {
    if timeout.is_zero() {
        return Err("a lock timeout of 0 means no limit to the servers: a migration would queue behind a long transaction and stall every query behind it; give a duration such as 2s".to_string());
    }
    check_timeout_range(timeout)
}

/// See [`parse_statement_timeout`].
pub fn check_statement_timeout(timeout: Duration) -> Result<Duration, String> {
    if timeout.is_zero() {
        return Ok(timeout);
    }
    check_timeout_range(timeout)
}

fn check_timeout_range(timeout: Duration) -> Result<Duration, String> {
    if timeout < Duration::from_millis(1) {
        // The servers count in milliseconds: less would be rounded to 0, which means no limit.
        return Err(format!(
            "{} is less than the 1ms the servers count in (it would become 0, no limit); give at least 1ms",
            humantime::format_duration(timeout)
        ));
    }
    if !timeout.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(format!(
            "{} is not a whole number of milliseconds, the unit the servers count in; round it (e.g. {}ms)",
            humantime::format_duration(timeout),
            timeout.as_millis()
        ));
    }
    if timeout > MAX_TIMEOUT {
        return Err(format!(
            "{} is more than the servers accept ({}, about 24 days); give a shorter duration",
            humantime::format_duration(timeout),
            humantime::format_duration(MAX_TIMEOUT)
        ));
    }
    Ok(timeout)
}

/// Parses a duration such as `500ms`, `5s`, `10m` or `1h 30m`; `0` means none.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim()).map_err(|err| format!("{err} (write a duration such as 500ms, 5s or 10m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<ScriptSettings, DirectiveError> {
        let mut settings = ScriptSettings::default();
        read_directives(text, &mut settings).map(|()| settings)
    }

    #[test]
    fn reads_leading_directives() {
        let settings = read(
            "-- a comment\n-- cutover:no-transaction\n--cutover:lock-timeout=5s\n-- cutover:statement-timeout = 10m\n\nCREATE INDEX CONCURRENTLY i ON t (a);",
        )
        .unwrap();
        assert!(!settings.transaction);
        assert_eq!(settings.lock_timeout, Some(Duration::from_secs(5)));
        assert_eq!(settings.statement_timeout, Some(Duration::from_secs(600)));
    }

    #[test]
    fn timeouts_the_servers_would_read_as_no_limit_or_refuse_are_errors() {
        for bad in ["0", "500us", "1ns", "1500us", "30d", "25days"] {
            let err = read(&format!("-- cutover:lock-timeout={bad}\nSELECT 1;")).unwrap_err();
            assert_eq!(err.line, 1, "{bad}");
            assert!(err.message.contains("lock-timeout"), "{bad}: {}", err.message);
        }
        for bad in ["500us", "30d"] {
            assert!(read(&format!("-- cutover:statement-timeout={bad}\nSELECT 1;")).is_err(), "{bad}");
        }
        assert_eq!(read("-- cutover:statement-timeout=0\nSELECT 1;").unwrap().statement_timeout, Some(Duration::ZERO));
        assert_eq!(parse_lock_timeout("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_lock_timeout("24days"), Ok(Duration::from_secs(24 * 86_400)));
        assert!(parse_lock_timeout("0").unwrap_err().contains("no limit"));
        assert!(parse_lock_timeout("30d").unwrap_err().contains("more than the servers accept"));
    }

    #[test]
    fn a_directive_is_read_whole_and_in_any_case() {
        let err = read("-- cutover:no-transaction lock-timeout=7s\nSELECT 1;").unwrap_err();
        assert!(err.message.contains("one directive per line"), "{}", err.message);
        assert!(!read("-- CUTOVER:no-transaction\nSELECT 1;").unwrap().transaction);
        assert!(read("-- CUTOVER:lock-timeout=0\nSELECT 1;").is_err(), "a zero timeout in capitals is no comment");
        assert!(read("-- cutover:ignore drop-column reason=\"x\"\nSELECT 1;").is_ok());
        // `ignore-file` belongs to the analysis too (it used to stop discovery as unknown).
        assert!(read("-- cutover:ignore-file drop-table reason=\"x\"\nDROP TABLE t;").is_ok());
    }

    #[test]
    fn sqlx_marker_means_no_transaction() {
        assert!(!read("-- no-transaction\nSELECT 1;").unwrap().transaction);
        assert!(read("SELECT 1;\n-- no-transaction").unwrap().transaction);
    }

    /// Which tool's directive switched the transaction off: sqlx reads its marker only as the
    /// file's first bytes, so lower down it is cutover's alone.
    #[test]
    fn the_marker_says_whose_directive_it_is() {
        let by = |text: &str| read(text).unwrap().no_transaction_by;
        assert_eq!(by("-- no-transaction\nSELECT 1;"), Some(NoTransactionMarker::Sqlx));
        assert_eq!(by("-- a comment\n-- no-transaction\nSELECT 1;"), Some(NoTransactionMarker::Cutover));
        assert_eq!(by("-- cutover:no-transaction\nSELECT 1;"), Some(NoTransactionMarker::Cutover));
        assert_eq!(by("SELECT 1;"), None);
        assert_eq!(NoTransactionMarker::in_file_name("1_a.postgres.autocommit.up.sql"), Some(NoTransactionMarker::Pop));
        assert_eq!(NoTransactionMarker::in_file_name("1_a.postgres.up.sql"), None);
    }

    #[test]
    fn malformed_directives_are_errors_with_lines() {
        let err = read("-- ok\n-- cutover:no-transactoin\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unknown directive `cutover:no-transactoin`"), "{}", err.message);

        let err = read("-- cutover:lock-timeout=soon\n").unwrap_err();
        assert!(err.message.contains("bad value in `cutover:lock-timeout=soon`"), "{}", err.message);

        let err = read("-- cutover:lock-timeout\n").unwrap_err();
        assert!(err.message.contains("needs a value"), "{}", err.message);

        let err = read("SELECT 1;\n-- cutover:no-transaction\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("after the first statement"), "{}", err.message);
    }

    #[test]
    fn ignore_comments_belong_to_the_analysis() {
        assert!(read("SELECT 1;\n-- cutover:ignore drop-column reason=\"x\"\n").unwrap().transaction);
    }
}
