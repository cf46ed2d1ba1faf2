//! `cutover review`: the gate's judgement of every migration, kept beside them in
//! `cutover-review.<dialect>.json` for an application that embeds cutover without a grammar.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use cutover_runner::{review_file_name, ReviewFile, ReviewedMigration, Settings};

use crate::ExitStatus;

/// Computes the review of the migrations folder; writes it with `write`, else compares it with
/// the file (exit 1 when the file is missing or differs).
pub fn run(settings: &Settings, write: bool) -> anyhow::Result<ExitStatus> {
    let set = crate::read_migrations(settings)?;
    let review = ReviewFile::compute(&set, &settings.lint);
    let path = set.dir.join(review_file_name(settings.lint.dialect));
    let mut out = anstream::stdout();
    for migration in &review.migrations {
        let reasons = startup_reasons(migration);
        if reasons.is_empty() {
            writeln!(out, "{}: may run at start-up", migration.label)?;
        } else {
            let style = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
            writeln!(out, "{}: {style}not at start-up{style:#}: {}", migration.label, reasons.join("; "))?;
        }
    }
    let text = review.to_json();
    let rewrite = format!("{} --dir {}", review.rewrite_command(), set.dir.display());
    if write {
        std::fs::write(&path, &text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        writeln!(
            out,
            "wrote {} ({} judged as {}); commit it with the migrations",
            path.display(),
            cutover_engine::count(review.migrations.len(), "migration", "migrations"),
            review.dialect
        )?;
        return Ok(ExitStatus::Success);
    }
    let kept = match std::fs::read_to_string(&path) {
        Ok(kept) => kept,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            writeln!(out, "no {}: write it with `{rewrite}`", path.display())?;
            return Ok(ExitStatus::Failure);
        }
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    // What wrote it (cutover's version) is not part of the judgement.
    match ReviewFile::parse(&kept) {
        Ok(kept) if ReviewFile { written_by: review.written_by.clone(), ..kept.clone() } == review => {
            writeln!(out, "{} is current", path.display())?;
            Ok(ExitStatus::Success)
        }
        Ok(kept) => {
            writeln!(
                out,
                "{} is out of date: {}; write it again with `{rewrite}`",
                path.display(),
                difference(&kept, &review)
            )?;
            Ok(ExitStatus::Failure)
        }
        Err(problem) => {
            writeln!(out, "{}: {problem} (`{rewrite}`)", path.display())?;
            Ok(ExitStatus::Failure)
        }
    }
}

/// Why a migration may not run at start-up, by the review (the live size limit aside).
fn startup_reasons(migration: &ReviewedMigration) -> Vec<String> {
    let mut reasons: Vec<String> =
        migration.findings.iter().map(|f| format!("error[{}] at line {}", f.rule, f.line)).collect();
    // Accepted, but the statement cannot run as it stands: start-up would fail on it.
    reasons.extend(
        migration
            .accepted
            .iter()
            .filter(|f| cutover_analysis::rules::FAILS_ON_THE_DATABASE.contains(&f.rule.as_str()))
            .map(|f| format!("error[{}] at line {} (accepted, but it cannot run as it stands)", f.rule, f.line)),
    );
    if migration.needs_window {
        reasons.push("blocks or rewrites an existing table".to_string());
    }
    if migration.breaks_old_code {
        reasons.push("breaks code on the old schema".to_string());
    }
    reasons
}

/// The first thing that differs between the kept review and the current one.
fn difference(kept: &ReviewFile, now: &ReviewFile) -> String {
    if kept.dialect != now.dialect {
        return format!("it judged the migrations as {}, now as {}", kept.dialect, now.dialect);
    }
    if kept.pg_version != now.pg_version {
        let version = |v: Option<u32>| v.map_or("no version".to_string(), |v| v.to_string());
        return format!(
            "it judged them for PostgreSQL {} and later, now for {}",
            version(kept.pg_version),
            version(now.pg_version)
        );
    }
    if kept.mysql_server != now.mysql_server {
        let server = |s: &Option<String>| s.clone().unwrap_or_else(|| "no server".to_string());
        return format!("it judged them for {}, now for {}", server(&kept.mysql_server), server(&now.mysql_server));
    }
    for migration in &now.migrations {
        match kept.migrations.iter().find(|k| k.label == migration.label) {
            None => return format!("{} is new", migration.label),
            Some(k) if k.checksum != migration.checksum => return format!("{} was edited", migration.label),
            Some(k) if k != migration => return format!("{} is judged otherwise now", migration.label),
            Some(_) => {}
        }
    }
    match kept.migrations.iter().find(|k| !now.migrations.iter().any(|m| m.label == k.label)) {
        Some(gone) => format!("{} is gone", gone.label),
        None => "the migrations are in another order".to_string(),
    }
}
