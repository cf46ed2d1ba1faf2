//! Linting a migration set, the one way: `up`'s approval gate, start-up review, `plan`,
//! `rehearse` and `cutover lint` all read the analysis of a set through [`lint_set`].
//!
//! Every migration of the set is linted, applied ones included and in order, so that each is
//! judged against the schema the earlier ones built. The text for `cutover:ignore` comments is
//! the one discovery read: no file is read again.

use cutover_analysis::{analyze_all, Diagnostic, Effect, LintConfig, Linter, Script};
use cutover_migration::{Layout, Migration, MigrationKind, MigrationSet};

/// One migration, linted in its place in the set.
#[derive(Debug)]
pub struct LintedMigration<'a> {
    /// The migration.
    pub migration: &'a Migration,
    /// The findings that stand, at their configured levels.
    pub diagnostics: Vec<Diagnostic>,
    /// The findings a `cutover:ignore` comment with a reason accepted, each with that reason.
    pub accepted: Vec<(Diagnostic, String)>,
    /// Each statement's effect, in order (`None` where one does not parse), as the schema model
    /// completed it.
    pub effects: Vec<Option<Effect>>,
    /// Whether it blocks or rewrites existing tables for a time that grows with them.
    pub needs_window: bool,
    /// Whether it destroys data or breaks code that uses the old schema.
    pub breaks_old_code: bool,
}

/// Lints every migration of `set`, in order, with `config` (whose live facts, when set, are
/// those of the database the set is meant for).
pub fn lint_set<'a>(set: &'a MigrationSet, config: &LintConfig) -> Vec<LintedMigration<'a>> {
    let statements: Vec<&[cutover_migration::Statement]> =
        set.migrations.iter().map(|m| m.up.statements.as_slice()).collect();
    let analyzed = analyze_all(&statements, config);
    let mut linter = Linter::new(config.clone());
    set.migrations
        .iter()
        .zip(analyzed)
        .map(|(migration, analyzed)| {
            let script = Script {
                text: &migration.up.text,
                statements: &migration.up.statements,
                in_transaction: migration.up.settings.transaction,
                has_down: has_down(set, migration),
            };
            let linted = linter.lint_analyzed(&script, analyzed);
            LintedMigration {
                migration,
                breaks_old_code: linted.breaks_old_code(),
                diagnostics: linted.diagnostics,
                accepted: linted.accepted,
                effects: linted.effects,
                needs_window: linted.needs_window,
            }
        })
        .collect()
}

/// Whether `migration` has a down script, where `missing-down-migration` should ask (`None`
/// where it should not). Repeatable and declarative migrations have none to write. Where down
/// scripts are optional by custom (Flyway's undo, sqlx's single files), a project that writes
/// none is not told so for every file; one that writes some is told what is missing.
fn has_down(set: &MigrationSet, migration: &Migration) -> Option<bool> {
    if migration.kind != MigrationKind::Versioned {
        return None;
    }
    let expected = match set.layout {
        Layout::Flyway | Layout::Sqlx => set.migrations.iter().any(|m| m.down.is_some()),
        _ => true,
    };
    expected.then_some(migration.down.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `missing-down-migration` findings of a set read from `files`, by file name.
    fn missing_downs(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let set = cutover_migration::discover(dir.path(), None).unwrap();
        let mut found = Vec::new();
        for linted in lint_set(&set, &LintConfig::default()) {
            if linted.diagnostics.iter().any(|d| d.rule == "missing-down-migration") {
                found.push(linted.migration.up.path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        found
    }

    #[test]
    fn down_scripts_are_asked_for_where_the_project_writes_them() {
        let sql = "CREATE TABLE t (id int);";
        assert_eq!(missing_downs(&[("1_a.up.sql", sql)]), ["1_a.up.sql"]);
        assert!(missing_downs(&[("1_a.sql", sql), ("2_b.sql", sql)]).is_empty(), "sqlx without downs");
        assert_eq!(missing_downs(&[("1_a.up.sql", sql), ("1_a.down.sql", sql), ("2_b.sql", sql)]), ["2_b.sql"]);
        assert!(missing_downs(&[("V1__a.sql", sql), ("R__v.sql", sql)]).is_empty(), "Flyway without undo");
        assert_eq!(
            missing_downs(&[("V1__a.sql", sql), ("U1__a.sql", sql), ("V2__b.sql", sql), ("R__v.sql", sql)]),
            ["V2__b.sql"]
        );
    }

    #[test]
    fn ignores_are_read_from_the_text_discovery_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1_a.up.sql");
        std::fs::write(&path, "-- cutover:ignore drop-table reason=\"never used\"\nDROP TABLE t;\n").unwrap();
        std::fs::write(dir.path().join("1_a.down.sql"), "CREATE TABLE t (id int);\n").unwrap();
        let set = cutover_migration::discover(dir.path(), None).unwrap();
        // What is on disk now is not what was discovered.
        std::fs::remove_file(&path).unwrap();
        let linted = lint_set(&set, &LintConfig::default());
        let accepted: Vec<(&str, &str)> = linted[0].accepted.iter().map(|(d, r)| (d.rule, r.as_str())).collect();
        assert_eq!(accepted, [("drop-table", "never used")]);
        assert!(linted[0].diagnostics.is_empty(), "{:?}", linted[0].diagnostics);
        assert!(linted[0].breaks_old_code);
    }
}
