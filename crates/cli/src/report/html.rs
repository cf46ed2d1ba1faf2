//! `cutover rehearse --report FILE.html`: the rehearsal as one self-contained page (no script,
//! no network), for a pull request's artifacts or a change review.

use std::fmt::Write as _;

use cutover_analysis::LockMode;
use cutover_runner::{MigrationRehearsal, RehearsalReport, RoundTrip, StatementRehearsal};

use super::{escape, timeline};

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0; }
.meta, .path { color: #666; font-size: 12px; }
section { border: 1px solid #ddd; border-radius: 6px; padding: 14px 16px; margin: 18px 0; }
.badges { margin: 8px 0 12px; }
.badge { display: inline-block; border-radius: 10px; padding: 1px 9px; margin-right: 6px; font-size: 12px; background: #eee; }
.ok { background: #dcefdc; color: #1d5e20; }
.bad { background: #f8d7d4; color: #8a1f17; }
.picture { overflow-x: auto; margin: 8px 0; }
.statements { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; min-width: 760px; font-size: 12px; table-layout: fixed; }
col.line { width: 4%; } col.sql { width: 38%; } col.locks { width: 20%; } col.storage { width: 10%; } col.time { width: 8%; }
td { overflow-wrap: anywhere; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #fafafa; overflow-wrap: anywhere; }
td:last-child { white-space: nowrap; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; font: 12px ui-monospace, monospace; }
.lock { white-space: normal; }
.swatch { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 4px; }
.disagreement, .failure { color: #8a1f17; }
.failure { background: #fbeceb; border-radius: 4px; padding: 6px 8px; }
.diff .del { color: #8a1f17; } .diff .ins { color: #1d5e20; } .diff .fail { color: #8a1f17; font-weight: 600; }
.diff { background: #f7f7f7; padding: 6px 8px; border-radius: 4px; }
";

/// The whole page. `how` says what the scratch database was (a copy, or a replay).
pub fn rehearsal(report: &RehearsalReport, how: &str, generated_at: &str) -> String {
    let problems = report.problems();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>cutover rehearsal: {}</title><style>{STYLE}</style></head><body>\n",
        cutover_engine::count(problems, "problem", "problems")
    );
    let _ = writeln!(
        page,
        "<h1>Rehearsal: {} rehearsed, <span class=\"{}\">{}</span></h1>\n<p class=\"meta\">on {}; cutover {} at {}</p>",
        cutover_engine::count(report.migrations.len(), "migration", "migrations"),
        if problems == 0 { "" } else { "disagreement" },
        cutover_engine::count(problems, "problem", "problems"),
        escape(how),
        env!("CARGO_PKG_VERSION"),
        escape(generated_at)
    );
    if report.migrations.is_empty() {
        page.push_str("<p>Nothing is pending.</p>\n");
    }
    for (idx, migration) in report.migrations.iter().enumerate() {
        section(&mut page, migration, idx);
    }
    if !report.not_rehearsed.is_empty() {
        let _ = writeln!(
            page,
            "<section class=\"migration\"><h2>Not rehearsed</h2><p>An earlier migration failed, so these were not tried: {}.</p></section>",
            report.not_rehearsed.iter().map(|l| format!("<code>{}</code>", escape(l))).collect::<Vec<_>>().join(", ")
        );
    }
    page.push_str("</body></html>\n");
    page
}

fn section(page: &mut String, m: &MigrationRehearsal, idx: usize) {
    // Only statements whose locks were seen (in a transaction) count as checked.
    let observed = m.statements.iter().filter(|s| s.observed.locks_observed).count();
    let agreed = m.statements.iter().filter(|s| s.observed.locks_observed && s.disagreements.is_empty()).count();
    let unobservable = m.statements.iter().filter(|s| !s.observed.locks_observed && !s.failed).count();
    let disagreed = m.statements.iter().filter(|s| !s.disagreements.is_empty()).count();
    let _ = write!(
        page,
        "<section class=\"migration\"><h2>{}</h2><div class=\"path\">{}</div><div class=\"badges\">",
        escape(&m.label),
        escape(&m.path.display().to_string())
    );
    if let Some(failed) = m.statements.iter().find(|s| s.failed) {
        let what = match (m.in_transaction, m.statements.len()) {
            (true, _) => "rolled back",
            (false, 1) => "stopped; nothing before it ran",
            (false, _) => "stopped; the statements before it were committed",
        };
        let _ = write!(page, "<span class=\"badge bad\">failed at line {}: {what}</span>", failed.line);
    }
    if observed > 0 {
        let _ = write!(
            page,
            "<span class=\"badge {}\">{agreed} of {} behaved as predicted</span>",
            if disagreed == 0 { "ok" } else { "bad" },
            cutover_engine::count(observed, "observed statement", "observed statements")
        );
    }
    if unobservable > 0 {
        let _ = write!(
            page,
            "<span class=\"badge\">{} outside a transaction: locks not observable</span>",
            cutover_engine::count(unobservable, "statement", "statements")
        );
    }
    let (class, text) = match &m.round_trip {
        RoundTrip::Reverses => ("ok", "down reverses up, and up applies again"),
        RoundTrip::NoDown => ("", "no down script: no way back was tested"),
        RoundTrip::NotTried => ("", "round trip not tried: up failed"),
        RoundTrip::DownFailed(_) => ("bad", "down failed"),
        RoundTrip::Differs { .. } => ("bad", "down does not reverse up"),
    };
    let _ = write!(page, "<span class=\"badge {class}\">{text}</span>");
    let _ = writeln!(
        page,
        "<span class=\"badge\">{}</span><span class=\"badge\">{}</span></div>",
        if m.in_transaction { "in one transaction" } else { "statement by statement" },
        crate::live::duration_text(m.duration)
    );
    if let Some(failure) = &m.failure {
        let _ = writeln!(page, "<p class=\"failure\">failed: {}</p>", escape(failure));
    }
    if !m.statements.is_empty() {
        let _ = writeln!(page, "<div class=\"picture\">{}</div>", timeline::svg(m, idx));
    }
    if !m.statements.is_empty() {
        statements_table(page, &m.statements, m.failure.as_deref());
    }
    round_trip(page, &m.round_trip);
    page.push_str("</section>\n");
}

fn lock_list(locks: impl Iterator<Item = (String, Option<LockMode>, String)>) -> String {
    let mut cell = String::new();
    for (relation, mode, name) in locks {
        let swatch = mode.map_or(String::new(), |m| {
            format!("<span class=\"swatch\" style=\"background:{}\"></span>", timeline::colour(m))
        });
        let _ = write!(cell, "<div class=\"lock\">{swatch}{} on {}</div>", escape(&name), escape(&relation));
    }
    cell
}

fn statements_table(page: &mut String, statements: &[StatementRehearsal], failure: Option<&str>) {
    page.push_str(
        "<div class=\"statements\"><table><colgroup><col class=\"line\"><col class=\"sql\"><col class=\"locks\"><col class=\"locks\"><col class=\"storage\"><col class=\"time\"></colgroup><thead><tr><th>line</th><th>statement</th><th>predicted locks</th><th>observed locks</th>\
         <th>storage</th><th>time</th></tr></thead><tbody>\n",
    );
    for s in statements {
        let predicted = lock_list(s.predicted_locks.iter().map(|(r, m)| (r.clone(), Some(*m), m.name().to_string())));
        let observed = if s.failed {
            format!("<span class=\"disagreement\">failed: {}</span>", escape(failure.unwrap_or("")))
        } else if s.observed.locks_observed {
            let list = lock_list(s.observed.locks.iter().map(|l| {
                let mode = LockMode::from_pg_locks(&l.mode);
                (l.relation.clone(), mode, mode.map_or_else(|| l.mode.clone(), |m| m.name().to_string()))
            }));
            if list.is_empty() {
                "<span class=\"meta\">none beyond those held</span>".to_string()
            } else {
                list
            }
        } else {
            "<span class=\"meta\">outside a transaction: not observable</span>".to_string()
        };
        let storage = match (s.observed.rewritten.is_empty(), s.predicted_rewrite) {
            (false, _) => format!("rewrote {}", escape(&s.observed.rewritten.join(", "))),
            (true, true) => "predicted a rewrite".to_string(),
            (true, false) if s.predicted_scan => "scans every row".to_string(),
            (true, false) if s.predicted_writes => "writes rows".to_string(),
            _ => String::new(),
        };
        let mut sql = format!("<pre>{}</pre>", escape(s.sql.trim()));
        for d in &s.disagreements {
            let _ = write!(sql, "<div class=\"disagreement\">disagreement: {}</div>", escape(d));
        }
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{sql}</td><td>{predicted}</td><td>{observed}</td><td>{storage}</td><td>{}</td></tr>",
            s.line,
            crate::live::duration_text(s.observed.duration)
        );
    }
    page.push_str("</tbody></table></div>\n");
}

fn round_trip(page: &mut String, round_trip: &RoundTrip) {
    match round_trip {
        RoundTrip::DownFailed(error) => {
            let _ = writeln!(page, "<p class=\"failure\">down failed: {}</p>", escape(error));
        }
        RoundTrip::Differs { after_down, after_reapply } => {
            for (lines, title) in [
                (after_down, "The schema after down differs from the schema before up (- before up, + after down):"),
                (after_reapply, "Up applied again gives another schema (- first up, + again):"),
            ] {
                if lines.is_empty() {
                    continue;
                }
                let _ = write!(page, "<p>{title}</p><pre class=\"diff\">");
                for line in lines {
                    let class = match line.chars().next() {
                        Some('-') => "del",
                        Some('+') => "ins",
                        _ => "fail",
                    };
                    let _ = writeln!(page, "<span class=\"{class}\">{}</span>", escape(line));
                }
                page.push_str("</pre>\n");
            }
        }
        _ => {}
    }
}
