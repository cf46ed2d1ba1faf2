//! `cutover lint`: files and folders in, diagnostics out (human or JSON).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use cutover_analysis::{lint_file, Diagnostic, LintOptions, Severity};
use cutover_migration::{discover, normalize, read_directives, split_statements, ScriptSettings, Statement};
use cutover_runner::Settings;
use serde::Serialize;

use crate::args::LintFormat;
use crate::{usage_error, ExitStatus};

/// One script to lint: where it is, its text, and its statements.
struct Script {
    path: String,
    text: String,
    statements: Vec<Statement>,
    in_transaction: bool,
    /// A statement split failure (an unterminated quote), reported as a syntax error.
    split_error: Option<(usize, String)>,
}

pub fn run(settings: &Settings, paths: &[PathBuf], format: LintFormat) -> anyhow::Result<ExitStatus> {
    let inputs: Vec<PathBuf> = if paths.is_empty() { vec![settings.dir.clone()] } else { paths.to_vec() };
    let mut scripts = Vec::new();
    for input in &inputs {
        collect(settings, input, &mut scripts)?;
    }
    let mut results: Vec<(&Script, Vec<Diagnostic>)> = Vec::new();
    for script in &scripts {
        let mut diagnostics = lint_file(
            &script.text,
            &script.statements,
            &LintOptions { in_transaction: script.in_transaction, only_rule: None },
        );
        if let Some((line, message)) = &script.split_error {
            diagnostics.push(Diagnostic {
                rule: "syntax-error",
                severity: Severity::Error,
                line: *line,
                column: 1,
                end_line: *line,
                end_column: 1,
                message: message.clone(),
                help: "close the quote or comment that starts here".to_string(),
                table: None,
                lock: None,
            });
        }
        results.push((script, diagnostics));
    }
    let count = |severity: Severity| results.iter().flat_map(|(_, d)| d).filter(|d| d.severity == severity).count();
    let (errors, warnings, infos) = (count(Severity::Error), count(Severity::Warning), count(Severity::Info));
    let mut out = anstream::stdout();
    match format {
        LintFormat::Json => render_json(&mut out, &results, (errors, warnings, infos))?,
        LintFormat::Human => render_human(&mut out, &results, (errors, warnings, infos))?,
        LintFormat::Github => render_github(&mut out, &results)?,
    }
    Ok(if errors > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}

/// `cutover explain RULE`: the rule's documentation, from its source.
pub fn explain(id: &str) -> anyhow::Result<ExitStatus> {
    let Some(rule) = cutover_analysis::rules::find(id) else {
        let known: Vec<&str> = cutover_analysis::rules::RULES.iter().map(|r| r.id).collect();
        return Err(usage_error(format!("no rule `{id}`; the rules are: {}", known.join(", "))));
    };
    let mut out = anstream::stdout();
    writeln!(out, "# {} ({})\n\n{}", rule.id, rule.severity.name(), rule.doc)?;
    Ok(ExitStatus::Success)
}

fn collect(settings: &Settings, input: &Path, scripts: &mut Vec<Script>) -> anyhow::Result<()> {
    if input.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        scripts.push(script_from_text("<stdin>".to_string(), &text));
        return Ok(());
    }
    if input.is_dir() {
        let set = discover(input, settings.layout).map_err(usage_error)?;
        for migration in &set.migrations {
            let text = std::fs::read_to_string(&migration.up.path).map(|t| normalize(&t)).unwrap_or_default();
            scripts.push(Script {
                path: migration.up.path.display().to_string(),
                text,
                statements: migration.up.statements.clone(),
                in_transaction: migration.up.settings.transaction,
                split_error: None,
            });
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(input)
        .map_err(|err| usage_error(format!("cannot read `{}`: {err}", input.display())))?;
    scripts.push(script_from_text(input.display().to_string(), &normalize(&text)));
    Ok(())
}

fn script_from_text(path: String, text: &str) -> Script {
    let mut settings = ScriptSettings::default();
    let _ = read_directives(text, &mut settings);
    let (statements, split_error) = match split_statements(text) {
        Ok(statements) => (statements, None),
        Err(err) => (Vec::new(), Some((err.line, err.to_string()))),
    };
    Script { path, text: text.to_string(), statements, in_transaction: settings.transaction, split_error }
}

fn render_human(
    out: &mut dyn Write,
    results: &[(&Script, Vec<Diagnostic>)],
    totals: (usize, usize, usize),
) -> std::io::Result<()> {
    let blue = AnsiColor::Blue.on_default().bold();
    let bold = Style::new().bold();
    for (script, diagnostics) in results {
        let lines: Vec<&str> = script.text.lines().collect();
        for d in diagnostics {
            let style = match d.severity {
                Severity::Error => AnsiColor::Red.on_default().bold(),
                Severity::Warning => AnsiColor::Yellow.on_default().bold(),
                Severity::Info => AnsiColor::Cyan.on_default().bold(),
            };
            writeln!(out, "{style}{}[{}]{style:#}{bold}: {}{bold:#}", d.severity.name(), d.rule, d.message)?;
            writeln!(out, "  {blue}-->{blue:#} {}:{}:{}", script.path, d.line, d.column)?;
            let width = d.end_line.to_string().len();
            writeln!(out, "{:width$} {blue}|{blue:#}", "")?;
            let shown_end = d.end_line.min(d.line + 4);
            for line_no in d.line..=shown_end {
                let text = lines.get(line_no - 1).copied().unwrap_or("");
                writeln!(out, "{blue}{line_no:>width$} |{blue:#} {text}")?;
            }
            if d.end_line > shown_end {
                writeln!(out, "{:width$} {blue}|{blue:#} ...", "")?;
            }
            if let (Some(table), Some(lock)) = (&d.table, d.lock) {
                writeln!(out, "{:width$} {blue}={blue:#} lock: {lock} on {table} ({})", "", lock.blocks())?;
            }
            writeln!(out, "{:width$} {blue}={blue:#} help: {}", "", d.help)?;
            writeln!(out)?;
        }
    }
    let (errors, warnings, infos) = totals;
    writeln!(out, "{errors} errors, {warnings} warnings, {infos} infos in {} files", results.len())
}

/// GitHub Actions annotations: `::error file=...,line=...,endLine=...,title=...::message`.
fn render_github(out: &mut dyn Write, results: &[(&Script, Vec<Diagnostic>)]) -> std::io::Result<()> {
    // Workflow commands end at a newline and use `%`, `:` and `,` as syntax: escape them.
    let escape = |text: &str, property: bool| {
        let text = text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
        if property {
            text.replace(':', "%3A").replace(',', "%2C")
        } else {
            text
        }
    };
    for (script, diagnostics) in results {
        for d in diagnostics {
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            writeln!(
                out,
                "::{level} file={},line={},endLine={},title={}::{} (help: {})",
                escape(&script.path, true),
                d.line,
                d.end_line,
                escape(d.rule, true),
                escape(&d.message, false),
                escape(&d.help, false)
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct DiagnosticJson<'a> {
    rule: &'a str,
    severity: &'a str,
    path: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    help: &'a str,
    table: Option<&'a str>,
    lock: Option<&'a str>,
}

#[derive(Serialize)]
struct SummaryJson {
    errors: usize,
    warnings: usize,
    infos: usize,
    files: usize,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    diagnostics: Vec<DiagnosticJson<'a>>,
    summary: SummaryJson,
}

fn render_json(
    out: &mut dyn Write,
    results: &[(&Script, Vec<Diagnostic>)],
    totals: (usize, usize, usize),
) -> std::io::Result<()> {
    let mut diagnostics = Vec::new();
    for (script, found) in results {
        for d in found {
            diagnostics.push(DiagnosticJson {
                rule: d.rule,
                severity: d.severity.name(),
                path: &script.path,
                line: d.line,
                column: d.column,
                end_line: d.end_line,
                end_column: d.end_column,
                message: &d.message,
                help: &d.help,
                table: d.table.as_deref(),
                lock: d.lock.map(|l| l.name()),
            });
        }
    }
    let (errors, warnings, infos) = totals;
    let report = ReportJson { diagnostics, summary: SummaryJson { errors, warnings, infos, files: results.len() } };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}
