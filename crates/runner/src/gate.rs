//! The approval gate: `up` lints the migrations it is about to apply and refuses those with an
//! error-level finding that no `cutover:ignore ... reason="..."` accepts.
//!
//! Every migration of the set is linted, applied ones included and in order, so that pending
//! ones are judged against the schema the earlier ones built.

use cutover_analysis::{analyze_all, Diagnostic, LintConfig, Linter, Script, Severity};
use cutover_migration::{normalize, Layout, Migration, MigrationKind, MigrationSet};

/// The diagnostics of each migration of `set`, in order.
pub fn lint_set<'a>(set: &'a MigrationSet, config: &LintConfig) -> Vec<(&'a Migration, Vec<Diagnostic>)> {
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
            (migration, linter.lint_analyzed(&script, analyzed))
        })
        .collect()
}

/// The error-level findings of the migrations about to run, one line each
/// (`path:line: error[rule]: message`), against PostgreSQL `pg_version`.
pub fn unsafe_findings(set: &MigrationSet, pending: &[&Migration], config: &LintConfig) -> Vec<String> {
    lint_set(set, config)
        .into_iter()
        .filter(|(migration, _)| pending.iter().any(|p| std::ptr::eq(*p, *migration)))
        .flat_map(|(migration, diagnostics)| {
            diagnostics.into_iter().filter(|d| d.severity == Severity::Error).map(move |d| {
                format!(
                    "{}:{}: error[{}]: {} (help: {})",
                    migration.up.path.display(),
                    d.line,
                    d.rule,
                    d.message,
                    d.help
                )
            })
        })
        .collect()
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
