//! The approval gate: `up` lints the migrations it is about to apply and refuses those with an
//! error-level finding that no `cutover:ignore ... reason="..."` accepts.
//!
//! The pending migrations are judged on the live schema of the database they are about to
//! change, where the engine can read it ([`lint_pending`]); elsewhere the whole set is linted,
//! applied migrations included, so that pending ones are judged against the schema the earlier
//! ones built.

use cutover_analysis::{Diagnostic, LintConfig, Severity};
use std::collections::BTreeMap;

use cutover_engine::{Approval, ApprovalKind, LiveSchema};
use cutover_migration::{Migration, MigrationSet};

use crate::lint::{lint_pending, run_by_cutover, LintedMigration};

/// [`Review::up_front_locks`] for a script the gate does not review (a down script), on
/// PostgreSQL: empty when there is nothing to take up front.
pub(crate) fn postgres_script_locks(statements: &[cutover_migration::Statement]) -> Vec<(String, &'static str)> {
    let config = LintConfig { dialect: cutover_analysis::Dialect::Postgres, ..LintConfig::default() };
    let analyzed = cutover_analysis::analyze(statements, &config);
    up_front_locks(analyzed.effects().flatten()).unwrap_or_default()
}

/// Every relation the statements lock (as they name them), read on PostgreSQL's terms: which
/// sessions to name when a lock is not granted.
pub fn locked_relations(statements: &[cutover_migration::Statement]) -> Vec<String> {
    let config = LintConfig { dialect: cutover_analysis::Dialect::Postgres, ..LintConfig::default() };
    let analyzed = cutover_analysis::analyze(statements, &config);
    let mut relations: Vec<String> = analyzed
        .effects()
        .flatten()
        .flat_map(|e| &e.locks)
        .map(|(relation, _)| relation.clone())
        .filter(|relation| !relation.is_empty())
        .collect();
    relations.sort_unstable();
    relations.dedup();
    relations
}

/// What the gate found in the migrations about to run.
#[derive(Debug, Default)]
pub struct Review {
    /// Error-level findings no ignore accepts, one line each (`path:line: error[rule]: ...`).
    pub unsafe_findings: Vec<String>,
    /// Findings to record as approved if the run goes ahead: ignored with a reason, or (with
    /// `--allow-unsafe`) the unaccepted ones. `approved_by`/`approved_at` are left to the caller.
    pub approvals: Vec<Approval>,
    /// The migrations about to run that block or rewrite existing tables (they wait for a
    /// maintenance window when there are windows).
    pub need_window: Vec<String>,
    /// For each migration about to run in one transaction that locks more than one relation:
    /// every `(relation, lock mode)` its statements take, in the order they take them, so that
    /// the runner can take them all up front within one lock timeout (see `up_front_locks`).
    pub up_front_locks: BTreeMap<String, Vec<(String, &'static str)>>,
}

/// The locks a transactional migration should take before its first statement. A transaction
/// holds every lock until it commits: taken one statement at a time, the lock of the first
/// table is held (and every reader of it queues) while a later statement waits up to its own
/// lock timeout for the next table. Taken together up front, under one budget, no query waits
/// longer than the lock timeout. `None` when there is nothing to gain: one relation or none.
pub(crate) fn up_front_locks<'e>(
    effects: impl IntoIterator<Item = &'e cutover_analysis::Effect>,
) -> Option<Vec<(String, &'static str)>> {
    let mut locks: Vec<(String, &'static str)> = Vec::new();
    for (relation, mode) in effects.into_iter().flat_map(|e| &e.locks) {
        if relation.is_empty() {
            continue;
        }
        let lock = (relation.clone(), mode.name());
        if !locks.contains(&lock) {
            locks.push(lock);
        }
    }
    let mut relations: Vec<&str> = locks.iter().map(|(r, _)| r.as_str()).collect();
    relations.sort_unstable();
    relations.dedup();
    (relations.len() > 1).then_some(locks)
}

/// Reviews the migrations about to run (`pending`) on `live`, the schema of the database they
/// run on when it can be read (else linting the whole set for the replay).
pub fn review(
    set: &MigrationSet,
    pending: &[&Migration],
    config: &LintConfig,
    live: Option<&LiveSchema>,
    allow_unsafe: bool,
) -> Review {
    let mut review = Review::default();
    let approval = |migration: &Migration, d: &Diagnostic, how: ApprovalKind, reason: String| {
        approval(migration, d.rule, d.line, &d.message, how, reason)
    };
    for LintedMigration { migration, diagnostics, accepted, needs_window, effects, .. } in
        lint_pending(set, pending, &run_by_cutover(config), live)
    {
        if migration.up.settings.transaction {
            if let Some(locks) = up_front_locks(effects.iter().flatten()) {
                review.up_front_locks.insert(migration.label(), locks);
            }
        }
        if needs_window {
            review.need_window.push(migration.label());
        }
        for (d, reason) in accepted.iter().filter(|(d, _)| d.severity == Severity::Error) {
            review.approvals.push(approval(migration, d, ApprovalKind::Ignore, reason.clone()));
        }
        for d in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
            review.unsafe_findings.push(finding_line(migration, d.rule, d.line, &d.message, &d.help));
            if allow_unsafe {
                review.approvals.push(approval(migration, d, ApprovalKind::AllowUnsafe, "--allow-unsafe".to_string()));
            }
        }
    }
    review
}

/// An unaccepted error-level finding as the gate reports it: `path:line: error[rule]: ...`.
pub(crate) fn finding_line(migration: &Migration, rule: &str, line: usize, message: &str, help: &str) -> String {
    format!("{}:{line}: error[{rule}]: {message} (help: {help})", migration.up.path.display())
}

/// The record of a finding accepted on `migration`'s line `line`; `approved_by`/`approved_at`
/// are left to the caller.
pub(crate) fn approval(
    migration: &Migration,
    rule: &str,
    line: usize,
    message: &str,
    how: ApprovalKind,
    reason: String,
) -> Approval {
    Approval {
        id: 0,
        version: migration.version.as_ref().map(|v| v.as_str().to_string()),
        name: migration.name.clone(),
        rule: rule.to_string(),
        how,
        reason,
        location: format!("{}:{}", migration.up.path.display(), line),
        message: message.to_string(),
        approved_by: String::new(),
        approved_at: String::new(),
    }
}

/// How long a migration may take at application start-up, judged with the live catalog's sizes.
pub struct StartupLimit<'a> {
    /// The relations' sizes, by name (see `Catalog::relation_facts`).
    pub facts: &'a BTreeMap<String, cutover_engine::RelationFacts>,
    /// The longest a migration may take.
    pub max: std::time::Duration,
}

/// The relations the migrations about to run scan, rewrite or write: what to ask the catalog
/// about before [`startup_review`] with a [`StartupLimit`].
pub fn startup_relations(set: &MigrationSet, pending: &[&Migration], config: &LintConfig) -> Vec<String> {
    let mut names: Vec<String> = lint_pending(set, pending, &run_by_cutover(config), None)
        .into_iter()
        .flat_map(|l| l.effects.into_iter().flatten().filter_map(|e| e.locks.first().map(|(name, _)| name.clone())))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Why each of the migrations about to run may not run while the application serves traffic:
/// an error-level finding no ignore accepts, a blocking or rewriting operation on an existing
/// table, a change that destroys data or breaks code still on the old schema, or (with `limit`)
/// an estimated duration over the limit on this database's sizes. An empty list means it may.
/// In `pending`'s order.
pub fn startup_review(
    set: &MigrationSet,
    pending: &[&Migration],
    config: &LintConfig,
    limit: Option<&StartupLimit<'_>>,
) -> Vec<(String, Vec<String>)> {
    let mut linted = lint_pending(set, pending, &run_by_cutover(config), None);
    linted.sort_by_key(|l| pending.iter().position(|p| std::ptr::eq(*p, l.migration)));
    linted
        .into_iter()
        .map(|r| {
            let mut reasons: Vec<String> = r
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| format!("error[{}] at line {}: {}", d.rule, d.line, d.message))
                .chain(r.accepted.iter().filter_map(|(d, _)| fails_anyway(d.rule, d.line, &d.message)))
                .collect();
            if r.needs_window {
                reasons.push(NEEDS_WINDOW.to_string());
            }
            if r.breaks_old_code {
                reasons.push(BREAKS_OLD_CODE.to_string());
            }
            if let Some(limit) = limit {
                let total: std::time::Duration = r
                    .effects
                    .iter()
                    .flatten()
                    .filter_map(|e| crate::estimate::estimate(e, limit.facts, crate::estimate::DEFAULT_SCAN_RATE))
                    .sum();
                reasons.extend(over_limit(total, limit));
            }
            (r.migration.label(), reasons)
        })
        .collect()
}

/// Why a migration may not run at start-up: it blocks or rewrites.
pub(crate) const NEEDS_WINDOW: &str = "blocks or rewrites an existing table for a time that grows with it";
/// Why a migration may not run at start-up: it breaks the old release.
pub(crate) const BREAKS_OLD_CODE: &str = "destroys data or breaks code that still uses the old schema";

/// Why a migration whose finding an ignore accepts still may not run at start-up: the statement
/// cannot run as it stands (cutover or the database refuses it), and start-up would fail.
pub(crate) fn fails_anyway(rule: &str, line: usize, message: &str) -> Option<String> {
    cutover_analysis::rules::FAILS_ON_THE_DATABASE.contains(&rule).then(|| {
        format!("error[{rule}] at line {line} is accepted, but the statement cannot run as it stands: {message}")
    })
}

/// Why a migration estimated to take `total` may not run at start-up, if it may not.
pub(crate) fn over_limit(total: std::time::Duration, limit: &StartupLimit<'_>) -> Option<String> {
    (total > limit.max).then(|| {
        format!(
            "would take about {:.0} s on this database's tables (start-up limit {:.0} s)",
            total.as_secs_f64(),
            limit.max.as_secs_f64()
        )
    })
}

/// The error-level findings of the migrations about to run that no ignore accepts.
pub fn unsafe_findings(set: &MigrationSet, pending: &[&Migration], config: &LintConfig) -> Vec<String> {
    review(set, pending, config, None, false).unsafe_findings
}

/// The major version in a server version string such as `PostgreSQL 15.8 (Debian 15.8-0+deb12u1)`.
pub(crate) fn major_version(server_version: &str) -> Option<u32> {
    let digits = server_version.split_whitespace().find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    digits.split('.').next()?.parse().ok()
}

/// The pending migrations of `statuses` that wait for a maintenance window now, and when the
/// next window opens: empty when there are no windows, or one is open.
pub fn waiting_for_window(
    set: &cutover_migration::MigrationSet,
    statuses: &[crate::MigrationStatus],
    settings: &crate::Settings,
) -> (Vec<String>, Option<std::time::SystemTime>) {
    if settings.windows.is_empty() {
        return (Vec::new(), None);
    }
    let (open, next) =
        crate::policy::window_state(&settings.windows, settings.now.unwrap_or_else(std::time::SystemTime::now));
    if open {
        return (Vec::new(), None);
    }
    let pending: Vec<&cutover_migration::Migration> = statuses
        .iter()
        .filter(|s| s.state == crate::MigrationState::Pending)
        .filter_map(|s| s.migration_idx.map(|idx| &set.migrations[idx]))
        .collect();
    (review(set, &pending, &settings.lint, None, false).need_window, next)
}

#[cfg(test)]
mod tests {
    use super::major_version;

    #[test]
    fn major_versions() {
        assert_eq!(major_version("PostgreSQL 15.8 (Debian 15.8-0+deb12u1)"), Some(15));
        assert_eq!(major_version("PostgreSQL 18beta1"), None);
        assert_eq!(major_version("SQLite 3.45.0"), Some(3));
    }
}
