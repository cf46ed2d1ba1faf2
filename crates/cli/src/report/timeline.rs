//! The lock timeline of one rehearsed migration as an SVG picture: a row per relation, time from
//! left to right, a bar wherever a lock is held, coloured by what it blocks. No JavaScript: the
//! details are native `<title>` tooltips, so the picture works in any browser and in a mail.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cutover_analysis::LockMode;
use cutover_runner::MigrationRehearsal;

use super::escape;

/// Width of the relation names on the left.
const LABELS: f64 = 220.0;
/// Width the statements share (wider only when each needs its minimum).
const PLOT: f64 = 720.0;
/// No statement is narrower than this, however quick, so that a 0.1 ms ALTER still shows; less
/// when there are many, so that the minimums do not take the width time should have.
fn min_column(n: usize) -> f64 {
    (PLOT / (4.0 * n.max(1) as f64)).clamp(4.0, 28.0)
}
const LANE: f64 = 26.0;
const TOP: f64 = 34.0;

/// The colour of a lock, by what it blocks (the legend says the same).
pub fn colour(mode: LockMode) -> &'static str {
    if mode.blocks_reads() {
        "#c8372d"
    } else if mode.blocks_writes() {
        "#ee8a2a"
    } else {
        "#5b86b5"
    }
}

/// One lock held on one relation from statement `from` to before statement `to` (`to` is the
/// number of statements when it is held to the commit).
struct Hold {
    from: usize,
    to: usize,
    mode: LockMode,
    /// Seen in `pg_locks`, or only predicted (a statement run outside a transaction).
    observed: bool,
}

struct Row {
    relation: String,
    kind: String,
    holds: Vec<Hold>,
    /// Statements that gave the relation new storage (a rewrite or a truncate).
    rewrites: Vec<usize>,
}

/// The rows of the picture, relations in the order the migration first touches them.
fn rows(migration: &MigrationRehearsal) -> Vec<Row> {
    let n = migration.statements.len();
    let mut rows: Vec<Row> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut row_of = |rows: &mut Vec<Row>, relation: &str, kind: &str| -> usize {
        *index.entry(relation.to_string()).or_insert_with(|| {
            rows.push(Row {
                relation: relation.to_string(),
                kind: kind.to_string(),
                holds: Vec::new(),
                rewrites: Vec::new(),
            });
            rows.len() - 1
        })
    };
    for (i, statement) in migration.statements.iter().enumerate() {
        let mut taken: Vec<(String, String, LockMode, bool)> = Vec::new();
        if statement.observed.locks_observed {
            for lock in &statement.observed.locks {
                if let Some(mode) = LockMode::from_pg_locks(&lock.mode) {
                    taken.push((lock.relation.clone(), lock.kind.clone(), mode, true));
                }
            }
        } else {
            for (relation, mode) in &statement.predicted_locks {
                if !relation.is_empty() {
                    taken.push((relation.clone(), "table".to_string(), *mode, false));
                }
            }
        }
        for (relation, kind, mode, observed) in taken {
            let row = row_of(&mut rows, &relation, &kind);
            let holds = &mut rows[row].holds;
            if migration.in_transaction {
                // Held to the commit; a stronger lock later starts a new, darker stretch.
                let held = holds.last().map(|h| h.mode);
                if held.is_some_and(|h| h >= mode) {
                    continue;
                }
                if let Some(last) = holds.last_mut() {
                    last.to = i;
                }
                holds.push(Hold { from: i, to: n, mode, observed });
            } else {
                match holds.last_mut() {
                    Some(last) if last.from == i => last.mode = last.mode.max(mode),
                    _ => holds.push(Hold { from: i, to: i + 1, mode, observed }),
                }
            }
        }
        for relation in &statement.observed.rewritten {
            let row = row_of(&mut rows, relation, "table");
            rows[row].rewrites.push(i);
        }
    }
    // Tables first: they are what the application waits on; indexes and sequences follow.
    rows.sort_by_key(|r| r.kind != "table");
    rows
}

/// Where each statement starts and how wide it is: the width its time gives on one scale for
/// all, or the minimum ([`min_column`]) for a statement too quick to show; the scale is the one
/// at which the columns fill the plot.
fn columns(migration: &MigrationRehearsal) -> Vec<(f64, f64)> {
    let n = migration.statements.len();
    let times: Vec<f64> = migration.statements.iter().map(|s| s.observed.duration.as_secs_f64()).collect();
    let min = min_column(n);
    // Pixels per second: the statements drawn at the minimum leave the rest of the plot to the
    // others, which may push more of them under it; a few rounds settle it.
    let total: f64 = times.iter().sum();
    let mut scale = if total > 0.0 { PLOT / total } else { 0.0 };
    for _ in 0..8 {
        let (mut fixed, mut timed) = (0.0, 0.0);
        for &t in &times {
            if t * scale <= min {
                fixed += min;
            } else {
                timed += t;
            }
        }
        let next = if timed > 0.0 { (PLOT - fixed).max(0.0) / timed } else { scale };
        if (next - scale).abs() < 1e-9 {
            break;
        }
        scale = next;
    }
    let mut x = LABELS;
    times
        .iter()
        .map(|&t| {
            let width = (t * scale).max(min);
            let column = (x, width);
            x += width;
            column
        })
        .collect()
}

fn millis(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// The picture, an `<svg>` element; `id` tells its pattern apart from other pictures' on the
/// page.
pub fn svg(migration: &MigrationRehearsal, id: usize) -> String {
    let rows = rows(migration);
    let columns = columns(migration);
    let right = columns.last().map_or(LABELS + PLOT, |(x, w)| x + w);
    let width = right + 130.0;
    // One lane at least below the statements: for the rows, or to say there are none.
    let lanes_bottom = TOP + LANE * (1 + rows.len().max(1)) as f64;
    let height = lanes_bottom + 84.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="lock timeline of {label}" font-family="system-ui, sans-serif" font-size="12">"##,
        label = escape(&migration.label)
    );
    let _ = write!(
        svg,
        r##"<defs><pattern id="rewrite-{id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#222" fill-opacity="0.55"/></pattern></defs>"##,
    );
    // The statement lane: one block per statement, its line number, and what work it does.
    let _ = write!(svg, r##"<text x="8" y="{:.0}" font-weight="600">statements</text>"##, TOP + 17.0);
    for (statement, (x, w)) in migration.statements.iter().zip(&columns) {
        let trouble = !statement.disagreements.is_empty() || statement.failed;
        let work =
            match (statement.observed.rewritten.is_empty(), statement.predicted_rewrite, statement.predicted_scan) {
                (false, _, _) | (true, true, _) => ", rewrites",
                (true, false, true) => ", scans every row",
                _ if statement.predicted_writes => ", writes rows",
                _ => "",
            };
        // The statement in full (up to a few thousand characters): a tooltip wraps.
        let mut sql: String = statement.sql.trim().chars().take(4000).collect();
        if statement.sql.trim().chars().count() > 4000 {
            sql.push_str("...");
        }
        if statement.failed {
            sql.push_str("\nfailed: the transaction was rolled back");
        }
        let mut tip =
            format!("line {} ({}{}):\n{sql}", statement.line, millis(statement.observed.duration.as_secs_f64()), work);
        for d in &statement.disagreements {
            let _ = write!(tip, "\ndisagreement: {d}");
        }
        let _ = write!(
            svg,
            r##"<g><title>{tip}</title><rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{h:.1}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" fill="#222">{line}</text></g>"##,
            tip = escape(&tip),
            y = TOP + 3.0,
            bw = w - 2.0,
            h = LANE - 6.0,
            fill = if work.is_empty() { "#e4e4e4" } else { "#bdbdbd" },
            stroke = if trouble { "#c8372d" } else { "#9e9e9e" },
            sw = if trouble { 2.5 } else { 1.0 },
            tx = x + w / 2.0 - 1.0,
            ty = TOP + 17.0,
            // A label only where it fits: narrow columns keep their tooltip.
            line = if *w >= 44.0 {
                format!("L{}{}", statement.line, if trouble { " !" } else { "" })
            } else if *w >= 7.0 * statement.line.to_string().len() as f64 + 4.0 {
                statement.line.to_string()
            } else {
                String::new()
            },
        );
    }
    // A row per relation.
    for (r, row) in rows.iter().enumerate() {
        let y = TOP + LANE * (r + 1) as f64;
        if r % 2 == 0 {
            let _ = write!(svg, r##"<rect x="0" y="{y:.1}" width="{right:.1}" height="{LANE}" fill="#f6f6f6"/>"##);
        }
        let name = if row.relation.chars().count() > 26 {
            format!("{}…", row.relation.chars().take(25).collect::<String>())
        } else {
            row.relation.clone()
        };
        let _ = write!(
            svg,
            r##"<text x="8" y="{:.1}"><title>{} ({})</title>{}<tspan fill="#777" font-size="10"> {}</tspan></text>"##,
            y + 17.0,
            escape(&row.relation),
            escape(&row.kind),
            escape(&name),
            escape(&row.kind)
        );
        for hold in &row.holds {
            let x = columns[hold.from].0;
            let end = if hold.to >= columns.len() { right } else { columns[hold.to].0 };
            let w = (end - x - 1.0).max(2.0);
            let tip = format!(
                "{} on {} ({}), {} line {}{}{}",
                hold.mode.name(),
                row.relation,
                hold.mode.blocks(),
                if hold.observed { "taken at" } else { "predicted for" },
                migration.statements[hold.from].line,
                match (hold.to >= columns.len() && migration.in_transaction, migration.failure.is_some()) {
                    (true, false) => ", held to the commit",
                    (true, true) => ", held until the rollback",
                    _ => "",
                },
                if hold.observed { "" } else { " (outside a transaction: not observable)" }
            );
            let _ = write!(
                svg,
                r##"<g><title>{tip}</title><rect x="{x:.1}" y="{by:.1}" width="{w:.1}" height="{bh:.1}" rx="2" fill="{fill}"{dash}/>"##,
                tip = escape(&tip),
                by = y + 5.0,
                bh = LANE - 10.0,
                fill = colour(hold.mode),
                dash =
                    if hold.observed { "" } else { r##" fill-opacity="0.55" stroke="#333" stroke-dasharray="4 3""## },
            );
            if w > 7.5 * hold.mode.name().len() as f64 {
                let _ = write!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" fill="#fff" font-size="11">{}</text>"##,
                    x + 5.0,
                    y + 17.0,
                    hold.mode.name()
                );
            }
            svg.push_str("</g>");
        }
        for &i in &row.rewrites {
            let (x, w) = columns[i];
            let _ = write!(
                svg,
                r##"<g><title>line {}: {} got new storage (rewritten or truncated)</title><rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="url(#rewrite-{id})" stroke="#222"/></g>"##,
                migration.statements[i].line,
                escape(&row.relation),
                y + 3.0,
                (w - 2.0).max(2.0),
                LANE - 6.0
            );
        }
    }
    if rows.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{LABELS}" y="{:.1}" fill="#555">no lock on a relation that existed before the migration</text>"##,
            TOP + LANE + 17.0
        );
    }
    // The time axis: a tick where each statement starts, labelled where there is room.
    let axis = lanes_bottom + 6.0;
    let _ = write!(svg, r##"<line x1="{LABELS}" y1="{axis:.1}" x2="{right:.1}" y2="{axis:.1}" stroke="#555"/>"##);
    let mut elapsed = 0.0;
    let (mut last_x, mut last_text) = (f64::NEG_INFINITY, String::new());
    for (statement, (x, _)) in migration.statements.iter().zip(&columns) {
        let _ = write!(svg, r##"<line x1="{x:.1}" y1="{axis:.1}" x2="{x:.1}" y2="{:.1}" stroke="#555"/>"##, axis + 5.0);
        let text = millis(elapsed);
        if x - last_x >= 64.0 && text != last_text {
            let _ =
                write!(svg, r##"<text x="{x:.1}" y="{:.1}" fill="#555" font-size="10">{text}</text>"##, axis + 17.0);
            (last_x, last_text) = (*x, text);
        }
        elapsed += statement.observed.duration.as_secs_f64();
    }
    let end = match (migration.failure.is_some(), migration.in_transaction) {
        (true, true) => "rolled back",
        (true, false) => "stopped",
        (false, true) => "commit",
        (false, false) => "end",
    };
    let _ = write!(
        svg,
        r##"<line x1="{right:.1}" y1="{TOP}" x2="{right:.1}" y2="{:.1}" stroke="#222" stroke-dasharray="3 2"/><text x="{:.1}" y="{:.1}" font-size="10">{end} {}</text>"##,
        axis + 5.0,
        right + 4.0,
        axis + 4.0,
        millis(elapsed)
    );
    // The legend.
    let legend_y = axis + 40.0;
    let mut x = LABELS;
    for (fill, text, extra) in [
        (colour(LockMode::AccessExclusive), "blocks reads and writes", ""),
        (colour(LockMode::Share), "blocks writes", ""),
        (colour(LockMode::ShareUpdateExclusive), "blocks neither", ""),
        (&*format!("url(#rewrite-{id})"), "new storage (rewrite)", r##" stroke="#222""##),
        (
            colour(LockMode::Share),
            "predicted, not observable",
            r##" fill-opacity="0.55" stroke="#333" stroke-dasharray="4 3""##,
        ),
    ] {
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="18" height="12" rx="2" fill="{fill}"{extra}/><text x="{:.1}" y="{:.1}" font-size="11">{text}</text>"##,
            legend_y - 10.0,
            x + 23.0,
            legend_y
        );
        x += 30.0 + 6.4 * text.len() as f64;
    }
    let _ = write!(
        svg,
        r##"<text x="8" y="{:.1}" fill="#555" font-size="10">widths are time; no statement is drawn narrower than {:.0} px</text>"##,
        legend_y + 22.0,
        min_column(migration.statements.len())
    );
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cutover_engine::Observation;
    use cutover_runner::{MigrationRehearsal, RoundTrip, StatementRehearsal};

    fn migration(millis: &[u64]) -> MigrationRehearsal {
        let statements = millis
            .iter()
            .enumerate()
            .map(|(idx, &ms)| StatementRehearsal {
                line: idx + 1,
                sql: format!("SELECT pg_sleep({ms})"),
                predicted_locks: Vec::new(),
                predicted_rewrite: false,
                predicted_scan: false,
                predicted_writes: false,
                predicted_algorithm: None,
                predicted_concurrent_writes: None,
                observed: Observation { duration: Duration::from_millis(ms), ..Observation::default() },
                disagreements: Vec::new(),
                failed: false,
            })
            .collect();
        MigrationRehearsal {
            label: "1 a".into(),
            path: "1_a.up.sql".into(),
            in_transaction: true,
            statements,
            failure: None,
            round_trip: RoundTrip::NoDown,
            duration: Duration::from_millis(millis.iter().sum()),
        }
    }

    /// Ten statements of 20 ms and one of 200 ms: the long one is ten times as wide, and the
    /// quick ones do not take its width; one too quick to show gets the minimum.
    #[test]
    fn widths_are_in_proportion_to_time_above_the_minimum() {
        let columns = super::columns(&migration(&[20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 200]));
        let ratio = columns[10].1 / columns[0].1;
        assert!((ratio - 10.0).abs() < 0.05, "{ratio}: {columns:?}");
        let total: f64 = columns.iter().map(|c| c.1).sum();
        assert!((total - super::PLOT).abs() < 0.5, "{total}");
        let columns = super::columns(&migration(&[1000, 0, 1000]));
        assert!((columns[1].1 - super::min_column(3)).abs() < 1e-9, "{columns:?}");
        assert!((columns[0].1 - columns[2].1).abs() < 1e-9);
        assert!(super::svg(&migration(&[1, 2]), 0).contains("id=\"rewrite-0\""));
    }
}
