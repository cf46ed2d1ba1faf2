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
    /// Run the whole script and its history row in one transaction (the default).
    pub transaction: bool,
    /// Overrides the configured lock timeout for this script.
    pub lock_timeout: Option<Duration>,
    /// Overrides the configured statement timeout for this script (`Duration::ZERO`: none).
    pub statement_timeout: Option<Duration>,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        ScriptSettings { transaction: true, lock_timeout: None, statement_timeout: None }
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
            settings.transaction = false;
            continue;
        }
        let Some(directive) = body.strip_prefix("cutover:") else {
            continue;
        };
        let directive = directive.trim();
        let key_end = directive.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(directive.len());
        let key = &directive[..key_end];
        let rest = directive[key_end..].trim_start();
        let value = rest.strip_prefix('=').map(str::trim);
        if key == "ignore" {
            continue;
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
            ("no-transaction", None) => settings.transaction = false,
            ("lock-timeout", Some(value)) => {
                settings.lock_timeout = Some(parse_duration(value).map_err(|message| DirectiveError {
                    line: line_no,
                    message: format!("bad value in `cutover:lock-timeout={value}`: {message}"),
                })?);
            }
            ("statement-timeout", Some(value)) => {
                settings.statement_timeout = Some(parse_duration(value).map_err(|message| DirectiveError {
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
    fn sqlx_marker_means_no_transaction() {
        assert!(!read("-- no-transaction\nSELECT 1;").unwrap().transaction);
        assert!(read("SELECT 1;\n-- no-transaction").unwrap().transaction);
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
