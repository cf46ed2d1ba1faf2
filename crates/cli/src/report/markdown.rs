//! `cutover plan --format markdown`: the plan as a pull request comment. GitHub, GitLab and
//! Gitea render it alike: headings, one table per migration, findings as a list.

use std::fmt::Write as _;

use cutover_analysis::Severity;
use cutover_runner::{human_bytes, Plan, StatementPlan};

/// GitHub caps a comment at 65,536 characters: the plan stops short of it, saying so.
const BUDGET: usize = 60_000;

/// A table cell: one line, `|` escaped (GitHub reads `\|` as a pipe inside code spans too; no
/// other backslash is touched, as code spans take them literally).
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Inline code that survives backticks in the text (a longer fence than any run inside).
fn code(text: &str) -> String {
    let text = &super::visible(text).replace(['\n', '\r'], " ");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn locks(statement: &StatementPlan) -> String {
    let mut out = Vec::new();
    for (relation, mode) in statement.effect.iter().flat_map(|e| e.locks.iter()) {
        let size = statement.relations.iter().find(|f| &f.name == relation).map_or_else(
            || "not in the database yet".to_string(),
            |f| {
                let rows = if f.rows < 0 { "? rows".to_string() } else { cutover_engine::count(f.rows, "row", "rows") };
                format!("{rows}, {}", human_bytes(f.bytes))
            },
        );
        // MySQL/MariaDB: the algorithm the server uses, as the terminal says it.
        if let Some(ddl) = statement.effect.as_ref().and_then(|e| e.mysql.as_ref()) {
            let (how, what) = crate::live::mysql_cost(ddl);
            out.push(format!("**{how}** on {} ({what}; {size})", code(relation)));
            continue;
        }
        let name = if mode.blocks_reads() || mode.blocks_writes() {
            format!("**{}**", mode.name())
        } else {
            mode.name().to_string()
        };
        out.push(format!("{name} on {} ({}; {size})", code(relation), mode.blocks()));
    }
    out.join("<br>")
}

fn work(statement: &StatementPlan) -> String {
    let Some(effect) = &statement.effect else { return "does not parse".to_string() };
    let what = match (effect.rewrites, effect.scans) {
        (true, _) => "rewrites the table",
        (false, true) => "scans the table",
        _ => return String::new(),
    };
    match statement.estimate {
        Some(d) => format!("{what}, about {} here", crate::live::duration_text(d)),
        None => what.to_string(),
    }
}

/// The whole comment.
pub fn plan(plan: &Plan) -> String {
    let errors = plan.migrations.iter().flat_map(|m| &m.diagnostics).filter(|d| d.severity == Severity::Error).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## cutover plan: {}{}, {}\n",
        cutover_engine::count(plan.migrations.len(), "pending migration", "pending migrations"),
        if plan.stops_before.is_some() { " (then a declarative one)" } else { "" },
        cutover_engine::count(errors, "error", "errors")
    );
    if plan.migrations.is_empty() && plan.stops_before.is_none() {
        out.push_str("Nothing is pending.\n\n");
    }
    // A line per migration with its findings' counts, for those that do not fit in full: room
    // is kept for them, so that every migration is named.
    let summaries: Vec<String> = plan
        .migrations
        .iter()
        .map(|m| {
            let counted = |severity: Severity| m.diagnostics.iter().filter(|d| d.severity == severity).count();
            format!(
                "- {}: {}, {}\n",
                code(&m.label),
                cutover_engine::count(counted(Severity::Error), "error", "errors"),
                cutover_engine::count(counted(Severity::Warning), "warning", "warnings")
            )
        })
        .collect();
    for (shown, m) in plan.migrations.iter().enumerate() {
        let mut section = String::new();
        let md = &mut section;
        let _ = writeln!(md, "### {} \u{2014} {}\n", code(&m.label), code(&m.path.display().to_string()));
        if let Some(next) = &m.waits_for_window {
            let when = if next.is_empty() { "none is scheduled".to_string() } else { format!("the next opens {next}") };
            let _ = writeln!(md, "Waits for a maintenance window ({when}).\n");
        }
        md.push_str("| line | statement | locks (table size) | work |\n|---:|---|---|---|\n");
        for s in &m.statements {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                s.line,
                cell(&code(&super::head(&s.sql))),
                cell(&locks(s)),
                cell(&work(s))
            );
        }
        md.push('\n');
        let mut notes = Vec::new();
        for s in &m.statements {
            for (on, d) in &s.dependents {
                notes.push(format!("- line {}: {} is used by {} {}", s.line, code(on), d.kind, code(&d.name)));
            }
            if let Some(queries) = s.queries.as_ref().filter(|q| !q.is_empty()) {
                let calls: i64 = queries.iter().map(|(_, q)| q.calls).sum();
                notes.push(format!(
                    "- line {}: still read by {} ({calls} calls), e.g. {}",
                    s.line,
                    cutover_engine::count(queries.len(), "recorded statement", "recorded statements"),
                    code(&queries[0].1.query)
                ));
            }
            let waits = if plan.lock_holders_exact { "would wait now for" } else { "may wait now for" };
            for (_, session) in &s.waits_for {
                notes.push(format!("- line {}: {waits} {}", s.line, code(&session.description)));
            }
        }
        for d in &m.diagnostics {
            let mark = match d.severity {
                Severity::Error => "\u{274c} **error**",
                Severity::Warning => "\u{26a0}\u{fe0f} **warning**",
                Severity::Info => "\u{2139}\u{fe0f} info",
            };
            notes.push(format!(
                "- {mark} {} line {}: {}<br>help: {}",
                code(d.rule),
                d.line,
                code(&d.message),
                code(&d.help)
            ));
        }
        if !notes.is_empty() {
            md.push_str(&notes.join("\n"));
            md.push_str("\n\n");
        }
        let room_for_the_rest: usize = summaries[shown + 1..].iter().map(String::len).sum::<usize>() + 300;
        if out.len() + section.len() + room_for_the_rest > BUDGET {
            let left = plan.migrations.len() - shown;
            let _ = writeln!(
                out,
                "**{} not shown in full here** (GitHub caps a comment at 65,536 characters; `cutover plan` prints them all), with their findings:\n",
                cutover_engine::count(left, "pending migration", "pending migrations")
            );
            // Each by name with what it was found to do, so that no error goes unseen; past
            // thousands of them, only how many.
            for (idx, line) in summaries[shown..].iter().enumerate() {
                if out.len() + line.len() > BUDGET + 4_000 {
                    let _ = writeln!(out, "- and {} more\n", left - idx);
                    break;
                }
                out.push_str(line);
            }
            out.push('\n');
            break;
        }
        out.push_str(&section);
    }
    if let Some(unseen) = &plan.unseen_transactions {
        let _ = writeln!(out, "{}\n", code(&unseen.sentence()));
    }
    let rate = plan.measured_scan_rate.map_or_else(
        || "Estimates assume a read rate of 200 MB/s.".to_string(),
        |r| format!("Read rate measured on this database: {}/s.", human_bytes(r as i64)),
    );
    let _ = writeln!(out, "<sub>{rate} Made by cutover {}.</sub>", env!("CARGO_PKG_VERSION"));
    out
}

#[cfg(test)]
mod tests {
    use super::{cell, code};

    #[test]
    fn text_from_sql_or_names_adds_no_markup() {
        // A finding is one code span, whatever backticks it quotes: nothing in it renders.
        let message = "dropping `t1.a` @octocat https://evil.example/x `b` <img src=x>";
        assert_eq!(code(message), "``dropping `t1.a` @octocat https://evil.example/x `b` <img src=x>``");
        assert_eq!(code("`lead`"), "`` `lead` ``");
        assert_eq!(code("'^\\d+$'"), "`'^\\d+$'`", "backslashes are literal in code spans");
    }

    #[test]
    fn backticks_and_pipes_in_sql_do_not_break_the_table() {
        assert_eq!(code("SELECT 1"), "`SELECT 1`");
        assert_eq!(code("SELECT `a` FROM t"), "``SELECT `a` FROM t``");
        assert_eq!(code("`a`"), "`` `a` ``");
        assert_eq!(cell("a || b\nc \\d"), "a \\|\\| b c \\d");
    }
}
