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
}

/// What diesel-guard's blocks accept, as the reason recorded.
const SAFETY_ASSURED: &str = "inside a `-- safety-assured` block (diesel-guard): reviewed and accepted";

/// Every rule: what another linter's block silences.
const EVERY_RULE: &str = "*";

/// The ignore comments of a script's text: comments of their own line. A `--` inside a string
/// or a function body is text, and ignores nothing (a tester's `SELECT '\n-- safety-assured:start\n'`
/// accepted the `DROP TABLE` after it).
pub fn parse_ignores(text: &str) -> Vec<Ignore> {
    let mut ignores = Vec::new();
    let mut assured_from = None;
    let comments = cutover_migration::line_comments(text);
    let mut line_start = 0;
    for (idx, line) in text.split('\n').enumerate() {
        let starts_at = line_start;
        line_start += line.len() + 1;
        let indent = line.len() - line.trim_start().len();
        if comments.binary_search(&(starts_at + indent)).is_err() {
            continue;
        }
        let Some(comment) = line.trim_start().strip_prefix("--") else { continue };
        let comment = comment.trim();
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
                    });
                }
                continue;
            }
            _ => {}
        }
        let (whole_file, rest) =
            match (comment.strip_prefix("cutover:ignore-file"), comment.strip_prefix("cutover:ignore")) {
                (Some(rest), _) => (true, rest),
                (None, Some(rest)) => (false, rest),
                _ => continue,
            };
        let (rules_part, reason) = match rest.split_once("reason=") {
            Some((rules, reason)) => {
                let reason = reason.trim().trim_matches('"').trim().to_string();
                (rules, (!reason.is_empty()).then_some(reason))
            }
            None => (rest, None),
        };
        let rules = rules_part.split([',', ' ']).map(str::trim).filter(|r| !r.is_empty()).map(str::to_string).collect();
        ignores.push(Ignore { rules, reason, line: idx + 1, whole_file, block_end: None });
    }
    ignores
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
    // The line of the statement each line-level ignore applies to: the next one after it.
    let target_line = |ignore: &Ignore| statements.iter().map(|s| s.line).filter(|&line| line > ignore.line).min();
    let mut used = vec![false; ignores.len()];
    let mut kept = Vec::new();
    let mut silenced = Vec::new();
    for diagnostic in diagnostics {
        let silenced_by = ignores.iter().position(|ignore| match ignore.block_end {
            Some(end) => (ignore.line..end).contains(&diagnostic.line),
            None => {
                ignore.reason.is_some()
                    && ignore.rules.iter().any(|rule| crate::rules::answers_to(diagnostic.rule, rule))
                    && (ignore.whole_file || target_line(ignore) == Some(diagnostic.line))
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
            (None, _) => (
                "ignore-without-reason",
                Severity::Warning,
                format!("`cutover:ignore {}` gives no reason, so it silences nothing", ignore.rules.join(",")),
                "say why the statement is safe here: `-- cutover:ignore RULE reason=\"...\"`",
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

    #[test]
    fn ignores_without_reason_or_use_are_reported() {
        assert_eq!(rules("-- cutover:ignore drop-table\nDROP TABLE a;"), ["2:drop-table", "1:ignore-without-reason"]);
        assert_eq!(
            rules("-- cutover:ignore drop-column reason=\"x\"\nDROP TABLE a;"),
            ["2:drop-table", "1:unused-ignore"]
        );
    }
}
