//! Suppression with a reason: `-- cutover:ignore RULE[,RULE] reason="..."` on a line before a
//! statement silences those rules for that statement; `-- cutover:ignore-file RULE reason="..."`
//! for the whole file. An ignore must say why (the reason is what an audit reads), and one that
//! silences nothing is reported, so stale ignores do not pile up.
//!
//! A decision the team recorded for another linter counts too: the statements between
//! diesel-guard's `-- safety-assured:start` and `-- safety-assured:end` were reviewed and
//! accepted (crates.io's CI runs diesel-guard so), and their findings are accepted with that
//! as the reason. A block left open accepts nothing.

use cutover_migration::Statement;

use crate::{Diagnostic, Severity};

/// One ignore comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    /// The rules it silences.
    pub rules: Vec<String>,
    /// Why, as written.
    pub reason: Option<String>,
    /// 1-based line of the comment.
    pub line: usize,
    /// `ignore-file` rather than `ignore`.
    pub whole_file: bool,
    /// Another linter's block (every rule, the statements after `line` and before this line).
    pub block_end: Option<usize>,
    /// Where a marker written after code on its line starts: it is for the statement that
    /// code belongs to, not the next one.
    pub after_code_at: Option<usize>,
    /// Written in a block comment (`/* cutover:ignore ... */`): read to be reported, never
    /// applied. Which statement such a comment is for depends on where it ends and what follows
    /// it on its line; a line comment says it in one way.
    pub in_block_comment: bool,
}

/// What diesel-guard's blocks accept, as the reason recorded.
const SAFETY_ASSURED: &str = "inside a `-- safety-assured` block (diesel-guard): reviewed and accepted";

/// Every rule: what another linter's block silences.
const EVERY_RULE: &str = "*";

/// The ignore comments of a script's text: comments of their own line, and `cutover:ignore`
/// markers after a statement on its line. A `--` inside a string or a function body is text,
/// and ignores nothing (a tester's `SELECT '\n-- safety-assured:start\n'` accepted the `DROP
/// TABLE` after it).
pub fn parse_ignores(text: &str) -> Vec<Ignore> {
    let mut ignores = Vec::new();
    let mut assured_from = None;
    let comments = cutover_migration::line_comments(text);
    let mut line_start = 0;
    for (idx, line) in text.split('\n').enumerate() {
        let starts_at = line_start;
        line_start += line.len() + 1;
        let indent = line.len() - line.trim_start().len();
        // The line's first comment: it runs to the end of the line.
        let first = comments.partition_point(|&at| at < starts_at);
        let Some(&at) = comments.get(first).filter(|&&at| at < starts_at + line.len()) else { continue };
        let after_code_at = (at > starts_at + indent).then_some(at);
        let Some(comment) = line[at - starts_at..].strip_prefix("--") else { continue };
        let comment = comment.trim();
        // `-- CUTOVER:ignore`, `-- cutover: ignore`: read as written in any case, with white
        // space after the colon (tester 21: such markers were passed over without a word). The
        // lower-cased text has the same byte offsets (ASCII).
        let lower = comment.to_ascii_lowercase();
        let marker = lower.strip_prefix("cutover:").map(|rest| {
            let at = comment.len() - rest.trim_start().len();
            (&lower[at..], &comment[at..])
        });
        if after_code_at.is_some() && !marker.is_some_and(|(lower, _)| lower.starts_with("ignore")) {
            continue;
        }
        match comment.to_ascii_lowercase().as_str() {
            "safety-assured:start" => {
                assured_from = Some(idx + 1);
                continue;
            }
            "safety-assured:end" => {
                if let Some(start) = assured_from.take() {
                    ignores.push(Ignore {
                        rules: vec![EVERY_RULE.to_string()],
                        reason: Some(SAFETY_ASSURED.to_string()),
                        line: start,
                        whole_file: false,
                        block_end: Some(idx + 1),
                        after_code_at: None,
                        in_block_comment: false,
                    });
                }
                continue;
            }
            _ => {}
        }
        let Some((lower, original)) = marker else { continue };
        let (whole_file, rest) = if lower.starts_with("ignore-file") {
            (true, &original["ignore-file".len()..])
        } else if lower.starts_with("ignore") {
            (false, &original["ignore".len()..])
        } else {
            continue;
        };
        let (rules_part, reason) = match split_reason(rest) {
            Some((rules, reason)) => (rules, (!reason.is_empty()).then(|| reason.to_string())),
            None => (rest, None),
        };
        let rules = rules_part
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| r.to_ascii_lowercase())
            .collect();
        ignores.push(Ignore {
            rules,
            reason,
            line: idx + 1,
            whole_file,
            block_end: None,
            after_code_at,
            in_block_comment: false,
        });
    }
    for comment in cutover_migration::block_comments(text) {
        let inner = text[comment.clone()].trim_start_matches("/*").trim_end_matches("*/").trim().to_ascii_lowercase();
        let Some(rest) = inner.strip_prefix("cutover:") else { continue };
        if rest.trim_start().starts_with("ignore") {
            ignores.push(Ignore {
                rules: Vec::new(),
                reason: None,
                line: text[..comment.start].matches('\n').count() + 1,
                whole_file: false,
                block_end: None,
                after_code_at: None,
                in_block_comment: true,
            });
        }
    }
    ignores
}

/// The rules and the reason of a marker's text after `cutover:ignore`: `reason="..."` as
/// documented, and the spellings a careful person also writes (`reason: ...`, `reason = '...'`,
/// any case; review 7 found `reason:` read as three more rule names).
fn split_reason(rest: &str) -> Option<(&str, &str)> {
    let lower = rest.to_ascii_lowercase();
    let (at, value) = lower.match_indices("reason").find_map(|(at, _)| {
        let before_ok = at == 0 || matches!(lower.as_bytes()[at - 1], b' ' | b',' | b'\t');
        let after = rest[at + "reason".len()..].trim_start();
        let value = after.strip_prefix('=').or_else(|| after.strip_prefix(':'))?;
        before_ok.then_some((at, value))
    })?;
    let value = value.trim();
    let unquoted = ['"', '\''].iter().find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q)).unwrap_or(value);
    Some((&rest[..at], unquoted.trim()))
}

/// Drops the diagnostics that an ignore with a reason silences, and reports ignores without a
/// reason (`ignore-without-reason`, which silence nothing) and ignores that silence nothing
/// (`unused-ignore`).
pub fn apply_ignores(diagnostics: Vec<Diagnostic>, ignores: &[Ignore], statements: &[Statement]) -> Vec<Diagnostic> {
    partition_ignores(diagnostics, ignores, statements).0
}

/// [`apply_ignores`], also returning what the ignores silenced, each with its reason: the
/// findings someone accepted, which the runner records as approvals.
pub fn partition_ignores(
    diagnostics: Vec<Diagnostic>,
    ignores: &[Ignore],
    statements: &[Statement],
) -> (Vec<Diagnostic>, Vec<(Diagnostic, String)>) {
    // The line of the statement each line-level ignore applies to: the next one after it, or
    // for a marker after code, the statement that code belongs to.
    let target_line = |ignore: &Ignore| match ignore.after_code_at {
        Some(at) => statements.iter().filter(|s| s.span.start < at).map(|s| s.line).next_back(),
        None => statements.iter().map(|s| s.line).filter(|&line| line > ignore.line).min(),
    };
    // Findings are known by their statement's line: a line of several statements would have
    // one marker accept the findings of all of them (tester 20: "empty_t is tiny" approved a
    // blocking index build on a 300k-row table written after it on the same line).
    let shared_line = |line: usize| statements.iter().filter(|s| s.line == line).count() > 1;
    let mut used = vec![false; ignores.len()];
    let mut kept = Vec::new();
    let mut silenced = Vec::new();
    for diagnostic in diagnostics {
        let silenced_by = ignores.iter().position(|ignore| match ignore.block_end {
            _ if ignore.in_block_comment => false,
            Some(end) => (ignore.line..end).contains(&diagnostic.line),
            None => {
                ignore.reason.is_some()
                    && ignore.rules.iter().any(|rule| crate::rules::answers_to(diagnostic.rule, rule))
                    && (ignore.whole_file
                        || target_line(ignore) == Some(diagnostic.line) && !shared_line(diagnostic.line))
            }
        });
        match silenced_by {
            Some(idx) => {
                used[idx] = true;
                silenced.push((diagnostic, ignores[idx].reason.clone().unwrap_or_default()));
            }
            None => kept.push(diagnostic),
        }
    }
    // Another linter's blocks are that linter's to keep tidy.
    for (ignore, used) in ignores.iter().zip(used).filter(|(ignore, _)| ignore.block_end.is_none()) {
        let (rule, severity, message, help) = match (&ignore.reason, used) {
            // Silently passed over, the finding it was meant for would look unaccepted for no
            // reason the author could see.
            _ if ignore.in_block_comment => (
                "unused-ignore",
                Severity::Warning,
                "a `cutover:ignore` marker in a block comment (`/* ... */`) silences nothing: markers are read in line comments".to_string(),
                "write it as a line comment before the statement: `-- cutover:ignore RULE reason=\"...\"`",
            ),
            (None, _) => (
                "ignore-without-reason",
                Severity::Warning,
                format!("`cutover:ignore {}` gives no reason, so it silences nothing", ignore.rules.join(",")),
                "say why the statement is safe here: `-- cutover:ignore RULE reason=\"...\"`",
            ),
            // Tester 20: `cutover:ignore all` was only said to silence nothing.
            (Some(_), false) if ignore.rules.iter().any(|rule| !crate::rules::is_rule_name(rule)) => (
                "unused-ignore",
                Severity::Warning,
                format!(
                    "`cutover:ignore {}` names no rule {}: it silences nothing",
                    ignore.rules.join(","),
                    ignore
                        .rules
                        .iter()
                        .filter(|rule| !crate::rules::is_rule_name(rule))
                        .map(|rule| format!("`{rule}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "name each rule (as in the finding, `error[RULE]`); `cutover explain` lists them",
            ),
            (Some(_), false) if !ignore.whole_file && target_line(ignore).is_some_and(shared_line) => (
                "unused-ignore",
                Severity::Warning,
                format!(
                    "`cutover:ignore {}` silences nothing: line {} holds several statements, and one marker is for one statement",
                    ignore.rules.join(","),
                    target_line(ignore).unwrap_or_default()
                ),
                "put each statement on a line of its own, with its marker (and reason) before it",
            ),
            (Some(_), false) => (
                "unused-ignore",
                Severity::Info,
                format!("`cutover:ignore {}` silences nothing", ignore.rules.join(",")),
                "remove it, or put it on the line before the statement it is for",
            ),
            (Some(_), true) => continue,
        };
        kept.push(Diagnostic {
            rule,
            severity,
            line: ignore.line,
            column: 1,
            end_line: ignore.line,
            end_column: 1,
            message,
            help: help.to_string(),
            table: None,
            lock: None,
        });
    }
    (kept, silenced)
}

#[cfg(test)]
mod tests {
    use crate::lint_file;

    fn rules(text: &str) -> Vec<String> {
        let statements = cutover_migration::split_statements(text).unwrap();
        lint_file(text, &statements, true).iter().map(|d| format!("{}:{}", d.line, d.rule)).collect()
    }

    #[test]
    fn an_ignore_with_a_reason_silences_the_next_statement_only() {
        assert_eq!(
            rules("-- cutover:ignore drop-table reason=\"the table was never used\"\nDROP TABLE a;\nDROP TABLE b;"),
            ["3:drop-table"]
        );
    }

    /// Not applied (which statement it is for is not said the way a line comment says it), and
    /// not passed over in silence either: the finding stays, with the marker reported beside it.
    #[test]
    fn a_marker_in_a_block_comment_is_reported_and_silences_nothing() {
        for text in [
            "/* cutover:ignore drop-table reason=\"never used\" */\nDROP TABLE a;",
            "/*\n  CUTOVER: ignore drop-table reason: never used\n*/\nDROP TABLE a;",
            "DROP TABLE a; /* cutover:ignore drop-table reason=\"never used\" */",
        ] {
            let statements = cutover_migration::split_statements(text).unwrap();
            let found: Vec<String> = lint_file(text, &statements, true)
                .iter()
                .map(|d| format!("{}:{}:{}", d.line, d.rule, d.message))
                .collect();
            assert!(found.iter().any(|d| d.contains(":drop-table:")), "{text}: {found:?}");
            assert!(
                found.iter().any(|d| d.starts_with("1:unused-ignore:") && d.contains("block comment")),
                "{text}: {found:?}"
            );
        }
        // A block comment that only mentions cutover is no marker.
        assert_eq!(
            rules("/* see cutover:ignore in the docs? no: cutover is our tool */\nSELECT 1;"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn file_ignores_and_several_rules() {
        assert!(rules(
            "-- cutover:ignore-file drop-table, truncate-table reason=\"scratch tables\"\nTRUNCATE a;\nDROP TABLE a;"
        )
        .is_empty());
    }

    /// crates.io: diesel-guard's blocks are the team's review of what they hold.
    #[test]
    fn a_safety_assured_block_accepts_what_it_holds_and_only_that() {
        let text = "-- safety-assured:start\nDROP TABLE a;\n\nDROP TABLE b;\n-- safety-assured:end\nDROP TABLE c;\n-- safety-assured:end\nDROP TABLE d;\n-- safety-assured:start\nDROP TABLE e;";
        assert_eq!(rules(text), ["6:drop-table", "8:drop-table", "10:drop-table"], "an open block accepts nothing");
        let statements = cutover_migration::split_statements(text).unwrap();
        let script = crate::Script {
            text,
            statements: &statements,
            in_transaction: true,
            no_transaction_by: None,
            has_down: None,
        };
        let linted = crate::Linter::new(crate::LintConfig::default()).lint(&script);
        let accepted: Vec<(usize, &str)> =
            linted.accepted.iter().map(|(d, reason)| (d.line, reason.as_str())).collect();
        assert_eq!(accepted, [(2, super::SAFETY_ASSURED), (4, super::SAFETY_ASSURED)]);
        assert!(
            rules("-- safety-assured:start\n-- safety-assured:end\nDROP TABLE a;") == ["3:drop-table"],
            "an empty block is not reported"
        );
    }

    /// Tester 17: markers in a string or a function body are text, not comments.
    #[test]
    fn markers_inside_strings_and_bodies_accept_nothing() {
        let in_strings = "SELECT '\n-- safety-assured:start\n';\nDROP TABLE a;\nSELECT '\n-- safety-assured:end\n';";
        assert!(rules(in_strings).contains(&"4:drop-table".to_string()), "{:?}", rules(in_strings));
        let in_bodies =
            "DO $$ BEGIN\n-- safety-assured:start\nEND $$;\nDROP TABLE a;\nDO $$ BEGIN\n-- safety-assured:end\nEND $$;";
        assert!(rules(in_bodies).contains(&"4:drop-table".to_string()), "{:?}", rules(in_bodies));
        let ignore_in_string = "SELECT 'x\n-- cutover:ignore drop-table reason=\"no\"\n';\nDROP TABLE a;";
        assert!(rules(ignore_in_string).contains(&"4:drop-table".to_string()), "{:?}", rules(ignore_in_string));
        // Real comments, indented or after CRLF line ends, still count.
        assert!(rules("  -- safety-assured:start\r\nDROP TABLE a;\r\n\t-- safety-assured:end\r\n").is_empty());
    }

    /// Review 7: a marker at the end of the statement's own line was neither applied nor
    /// reported. It is for the statement it ends (the one the line's code belongs to), never
    /// for the next one.
    #[test]
    fn an_ignore_at_the_end_of_a_statement_line_is_for_that_statement() {
        let reason = "reason=\"retired in 2023\"";
        assert_eq!(
            rules(&format!("DROP TABLE a; -- cutover:ignore drop-table {reason}\nDROP TABLE b;")),
            ["2:drop-table"]
        );
        // A statement over several lines, ended on the marker's line.
        assert_eq!(
            rules(&format!("DROP TABLE\n  a; -- cutover:ignore drop-table {reason}\nDROP TABLE b;")),
            ["3:drop-table"]
        );
        // A line of two statements: which one is meant is not known, so neither is accepted
        // (tester 20: one reason approved a second, unrelated statement).
        assert_eq!(
            rules(&format!("DROP TABLE a; DROP TABLE b; -- cutover:ignore drop-table {reason}\n")),
            ["1:drop-table", "1:drop-table", "1:unused-ignore"]
        );
        assert_eq!(
            rules(&format!("-- cutover:ignore drop-table {reason}\nDROP TABLE a; DROP TABLE b;\nDROP TABLE c;")),
            ["2:drop-table", "2:drop-table", "3:drop-table", "1:unused-ignore"]
        );
        // After a comment of the line before, it is for the statement under it, as a marker
        // of its own line is.
        assert!(rules(&format!("-- note -- cutover:ignore drop-table {reason}\nDROP TABLE a;")).len() == 1);
    }

    /// The spellings a careful person writes: `reason: ...`, `reason = "..."`, `reason='...'`.
    #[test]
    fn a_reason_is_read_in_the_spellings_people_write() {
        for marker in [
            "-- cutover:ignore drop-table reason: retired in 2023",
            "-- cutover:ignore drop-table reason = \"retired in 2023\"",
            "-- cutover:ignore drop-table reason='retired in 2023'",
            "-- cutover:ignore drop-table REASON=\"retired in 2023\"",
            "-- cutover:ignore drop-table,reason=\"retired in 2023\"",
            // Tester 21: read in any case, with white space after the colon.
            "-- CUTOVER:ignore drop-table reason=\"retired in 2023\"",
            "-- cutover:IGNORE drop-table reason=\"retired in 2023\"",
            "-- cutover: ignore drop-table reason=\"retired in 2023\"",
            "-- CUTOVER:IGNORE DROP-TABLE REASON=\"retired in 2023\"",
        ] {
            let statements = cutover_migration::split_statements(&format!("{marker}\nDROP TABLE a;")).unwrap();
            let ignores = super::parse_ignores(&format!("{marker}\nDROP TABLE a;"));
            assert_eq!(ignores[0].rules, ["drop-table"], "{marker}");
            assert_eq!(ignores[0].reason.as_deref(), Some("retired in 2023"), "{marker}");
            assert!(rules(&format!("{marker}\nDROP TABLE a;")).is_empty(), "{marker}: {statements:?}");
        }
    }

    /// Tester 20: `cutover:ignore all` is no rule, and is told so.
    #[test]
    fn an_ignore_of_no_rule_says_so() {
        let text = "-- cutover:ignore all reason=\"legacy table\"\nDROP TABLE a;";
        let statements = cutover_migration::split_statements(text).unwrap();
        let found = lint_file(text, &statements, true);
        let unused = found.iter().find(|d| d.rule == "unused-ignore").unwrap();
        assert!(unused.message.contains("names no rule `all`"), "{}", unused.message);
        assert!(found.iter().any(|d| d.rule == "drop-table"));
    }

    #[test]
    fn ignores_without_reason_or_use_are_reported() {
        assert_eq!(rules("-- cutover:ignore drop-table\nDROP TABLE a;"), ["2:drop-table", "1:ignore-without-reason"]);
        assert_eq!(
            rules("-- cutover:ignore drop-column reason=\"x\"\nDROP TABLE a;"),
            ["2:drop-table", "1:unused-ignore"]
        );
    }
}
