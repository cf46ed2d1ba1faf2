//! The approval gate: `up` lints the migrations it is about to apply and refuses those with an
//! error-level finding that no `cutover:ignore ... reason="..."` accepts.
//!
//! Every migration of the set is linted, applied ones included and in order, so that pending
//! ones are judged against the schema the earlier ones built.

use cutover_analysis::{analyze_all, Diagnostic, LintConfig, Linter, Script, Severity};
use std::collections::BTreeMap;

use cutover_engine::Approval;
use cutover_migration::{normalize, Layout, Migration, MigrationKind, MigrationSet};

/// The diagnostics of each migration of `set`, in order.
pub fn lint_set<'a>(set: &'a MigrationSet, config: &LintConfig) -> Vec<(&'a Migration, Vec<Diagnostic>)> {
    lint_set_reviewed(set, config).into_iter().map(|r| (r.migration, r.kept)).collect()
}

/// One migration, linted in its place in the set.
struct Reviewed<'a> {
    migration: &'a Migration,
    /// The findings that stand.
    kept: Vec<Diagnostic>,
    /// The findings an ignore accepted, with its reason.
    accepted: Vec<(Diagnostic, String)>,
    /// Whether it blocks or rewrites existing tables for a time that grows with them.
    needs_window: bool,
    /// Whether it destroys data or breaks code that uses the old schema.
    breaks_old_code: bool,
    /// Its statements' effects.
    effects: Vec<cutover_analysis::Effect>,
}

/// [`lint_set`], also returning each migration's findings accepted by ignores with a reason.
fn lint_set_reviewed<'a>(set: &'a MigrationSet, config: &LintConfig) -> Vec<Reviewed<'a>> {
    // Where down scripts are optional by custom (Flyway's undo, sqlx's single files), a project
    // that writes none is not told so for every file; one that writes some is told what is missing.
    let downs_expected = match set.layout {
        Layout::Flyway | Layout::Sqlx => set.migrations.iter().any(|m| m.down.is_some()),
        _ => true,
    };
    let mut linter = Linter::new(config.clone());
    let statements: Vec<&[cutover_migration::Statement]> =
        set.migrations.iter().map(|m| m.up.statements.as_slice()).collect();
    let analyzed = analyze_all(&statements, config);
    set.migrations
        .iter()
        .zip(analyzed)
        .map(|(migration, analyzed)| {
            // The text is only read for `cutover:ignore` comments: discovery already read it.
            let text = std::fs::read_to_string(&migration.up.path).map(|t| normalize(&t)).unwrap_or_default();
            let has_down =
                (downs_expected && migration.kind == MigrationKind::Versioned).then_some(migration.down.is_some());
            let script = Script {
                text: &text,
                statements: &migration.up.statements,
                in_transaction: migration.up.settings.transaction,
                has_down,
            };
            let (kept, accepted) = linter.lint_reviewed(&script, analyzed);
            let breaks_old_code =
                linter.last_effects().iter().flatten().any(|e| e.destructive || e.backward_incompatible);
            let effects = linter.last_effects().iter().flatten().cloned().collect();
            Reviewed { migration, kept, accepted, needs_window: linter.last_needs_window(), breaks_old_code, effects }
        })
        .collect()
}

/// [`Review::up_front_locks`] for a script the gate does not review (a down script), on
/// PostgreSQL: empty when there is nothing to take up front.
pub(crate) fn postgres_script_locks(statements: &[cutover_migration::Statement]) -> Vec<(String, &'static str)> {
    let config = LintConfig { dialect: cutover_analysis::Dialect::Postgres, ..LintConfig::default() };
    let analyzed = cutover_analysis::analyze(statements, &config);
    up_front_locks(analyzed.effects().flatten()).unwrap_or_default()
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
fn up_front_locks<'e>(
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

/// Reviews the migrations about to run (`pending`), linting the whole set for the replay.
pub fn review(set: &MigrationSet, pending: &[&Migration], config: &LintConfig, allow_unsafe: bool) -> Review {
    let mut review = Review::default();
    let approval = |migration: &Migration, d: &Diagnostic, how: &str, reason: String| Approval {
        id: 0,
        version: migration.version.as_ref().map(|v| v.as_str().to_string()),
        name: migration.name.clone(),
        rule: d.rule.to_string(),
        how: how.to_string(),
        reason,
        location: format!("{}:{}", migration.up.path.display(), d.line),
        message: d.message.clone(),
        approved_by: String::new(),
        approved_at: String::new(),
    };
    for Reviewed { migration, kept, accepted, needs_window, effects, .. } in lint_set_reviewed(set, config) {
        if !pending.iter().any(|p| std::ptr::eq(*p, migration)) {
            continue;
        }
        if migration.up.settings.transaction {
            if let Some(locks) = up_front_locks(&effects) {
                review.up_front_locks.insert(migration.label(), locks);
            }
        }
        if needs_window {
            review.need_window.push(migration.label());
        }
        for (d, reason) in accepted.iter().filter(|(d, _)| d.severity == Severity::Error) {
            review.approvals.push(approval(migration, d, "ignore", reason.clone()));
        }
        for d in kept.iter().filter(|d| d.severity == Severity::Error) {
            review.unsafe_findings.push(format!(
                "{}:{}: error[{}]: {} (help: {})",
                migration.up.path.display(),
                d.line,
                d.rule,
                d.message,
                d.help
            ));
            if allow_unsafe {
                review.approvals.push(approval(migration, d, "allow-unsafe", "--allow-unsafe".to_string()));
            }
        }
    }
    review
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
    let mut names: Vec<String> = lint_set_reviewed(set, config)
        .into_iter()
        .filter(|r| pending.iter().any(|p| std::ptr::eq(*p, r.migration)))
        .flat_map(|r| r.effects.into_iter().filter_map(|e| e.locks.first().map(|(name, _)| name.clone())))
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
    let mut reviewed: Vec<Reviewed<'_>> = lint_set_reviewed(set, config)
        .into_iter()
        .filter(|r| pending.iter().any(|p| std::ptr::eq(*p, r.migration)))
        .collect();
    reviewed.sort_by_key(|r| pending.iter().position(|p| std::ptr::eq(*p, r.migration)));
    reviewed
        .into_iter()
        .map(|r| {
            let mut reasons: Vec<String> = r
                .kept
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| format!("error[{}] at line {}: {}", d.rule, d.line, d.message))
                .collect();
            if r.needs_window {
                reasons.push("blocks or rewrites an existing table for a time that grows with it".to_string());
            }
            if r.breaks_old_code {
                reasons.push("destroys data or breaks code that still uses the old schema".to_string());
            }
            if let Some(limit) = limit {
                let total: std::time::Duration = r
                    .effects
                    .iter()
                    .filter_map(|e| crate::plan::estimate(e, limit.facts, crate::plan::DEFAULT_SCAN_RATE))
                    .sum();
                if total > limit.max {
                    reasons.push(format!(
                        "would take about {:.0} s on this database's tables (start-up limit {:.0} s)",
                        total.as_secs_f64(),
                        limit.max.as_secs_f64()
                    ));
                }
            }
            (r.migration.label(), reasons)
        })
        .collect()
}

/// The error-level findings of the migrations about to run that no ignore accepts.
pub fn unsafe_findings(set: &MigrationSet, pending: &[&Migration], config: &LintConfig) -> Vec<String> {
    review(set, pending, config, false).unsafe_findings
}

/// The major version in a server version string such as `PostgreSQL 15.8 (Debian 15.8-0+deb12u1)`.
pub(crate) fn major_version(server_version: &str) -> Option<u32> {
    let digits = server_version.split_whitespace().find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    digits.split('.').next()?.parse().ok()
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
