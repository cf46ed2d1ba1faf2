//! Linting a migration set, the one way: `up`'s approval gate, start-up review, `plan`,
//! `rehearse` and `cutover lint` all read the analysis of a set through [`lint_set`] and
//! [`lint_pending`].
//!
//! Without a database, every migration of the set is linted, applied ones included and in
//! order, so that each is judged against the schema the earlier ones built: a table they never
//! create is unknown. With one, the pending migrations are linted on its live schema
//! ([`seed`]), which the applied ones built (and whatever was made outside the folder). The
//! text for `cutover:ignore` comments is the one discovery read: no file is read again.

use std::collections::BTreeMap;

use cutover_analysis::{
    analyze_all, Diagnostic, Effect, ForeignKey, LintConfig, Linter, LiveNames, Runner, Schema, Script, Table,
};
use cutover_engine::LiveSchema;
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
/// those of the database the set is meant for). A kind of runner given without a tool is the
/// tool of the set's layout, when it runs files that way ([`Runner::for_layout`]).
pub fn lint_set<'a>(set: &'a MigrationSet, config: &LintConfig) -> Vec<LintedMigration<'a>> {
    lint_set_with_batch(set, config, &|_| false, &[])
}

/// [`lint_set`] where the migrations `still_to_run` picks (those a pull request adds) are a
/// batch not yet released: a table one of them creates is new for the ones after it, as it is
/// on the live database they will run on (no released code uses it, no rows but the batch's),
/// unless it is among `released` (made by migrations the branch deleted or moved).
pub fn lint_set_with_batch<'a>(
    set: &'a MigrationSet,
    config: &LintConfig,
    still_to_run: &dyn Fn(&Migration) -> bool,
    released: &[String],
) -> Vec<LintedMigration<'a>> {
    let config = &for_layout(config, set);
    let all: Vec<&Migration> = set.migrations.iter().collect();
    let mut linter = Linter::new(config.clone());
    linter.released_tables(released.iter().cloned());
    lint_in_order(set, &all, linter, config, still_to_run)
}

/// `config` for the folder `set` was read from: its layout names the tool of a runner given
/// without one.
fn for_layout(config: &LintConfig, set: &MigrationSet) -> LintConfig {
    LintConfig { runner: config.runner.for_layout(set.layout), ..config.clone() }
}

/// `config` for migrations that cutover's runner is about to run (`up`'s gate, start-up
/// review, `plan`, `rehearse`): whoever `[lint] assume_runner` says runs them for
/// `cutover lint`, here cutover does.
pub(crate) fn run_by_cutover(config: &LintConfig) -> LintConfig {
    LintConfig { runner: Runner::Cutover, ..config.clone() }
}

/// Judges as the live server behaves: its engine's dialect, and its version where the
/// behaviour depends on one (PostgreSQL's major version, the MySQL/MariaDB server's online DDL).
pub(crate) fn judge_as_server(config: &mut LintConfig, engine: cutover_engine::Engine, server: &str) {
    match engine {
        cutover_engine::Engine::Postgres => {
            config.dialect = cutover_analysis::Dialect::Postgres;
            if let Some(major) = crate::gate::major_version(server) {
                config.pg_version = major;
            }
        }
        cutover_engine::Engine::Mysql => {
            config.dialect = cutover_analysis::Dialect::Mysql;
            if let Some(version) = cutover_analysis::MysqlServer::from_server_version(server) {
                config.mysql_server = version;
            }
        }
        cutover_engine::Engine::Sqlite => config.dialect = cutover_analysis::Dialect::Sqlite,
    }
}

/// Lints the migrations of `set` that are in `pending`, in the set's order. With `live`, the
/// schema of the database they are about to run on, they are linted on it (the applied ones
/// built it already), with its tables' sizes as the live row estimates; without, the whole set
/// is linted from an empty schema ([`lint_set`]) and the pending ones kept.
pub fn lint_pending<'a>(
    set: &'a MigrationSet,
    pending: &[&Migration],
    config: &LintConfig,
    live: Option<&LiveSchema>,
) -> Vec<LintedMigration<'a>> {
    let is_pending = |m: &Migration| pending.iter().any(|p| std::ptr::eq(*p, m));
    let config = &for_layout(config, set);
    let Some(live) = live else {
        return lint_set(set, config).into_iter().filter(|l| is_pending(l.migration)).collect();
    };
    let (schema, rows) = seed(live, config);
    let mut config = config.clone();
    config.live_rows.extend(rows);
    config.live_names = live_names(live);
    let in_order: Vec<&Migration> = set.migrations.iter().filter(|m| is_pending(m)).collect();
    lint_in_order(set, &in_order, Linter::with_schema(config.clone(), schema), &config, &|_| true)
}

/// Lints `migrations` (of `set`, in its order) one after the other with `linter`.
fn lint_in_order<'a>(
    set: &MigrationSet,
    migrations: &[&'a Migration],
    mut linter: Linter,
    config: &LintConfig,
    still_to_run: &dyn Fn(&Migration) -> bool,
) -> Vec<LintedMigration<'a>> {
    let statements: Vec<&[cutover_migration::Statement]> =
        migrations.iter().map(|m| m.up.statements.as_slice()).collect();
    let analyzed = analyze_all(&statements, config);
    let mut change = None;
    migrations
        .iter()
        .copied()
        .zip(analyzed)
        .map(|(migration, analyzed)| {
            let part = migration.change();
            linter.continues_change(part.is_some() && part == change);
            change = part;
            let script = Script {
                text: &migration.up.text,
                statements: &migration.up.statements,
                in_transaction: migration.up.settings.transaction,
                no_transaction_by: migration.up.settings.no_transaction_by,
                has_down: has_down(set, migration),
            };
            linter.still_to_run(still_to_run(migration));
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

/// Above this size a table is never judged small, whatever its row count: reading or rewriting
/// 64 MiB takes a noticeable fraction of a second on most servers' disks, under the lock.
pub const SMALL_TABLE_BYTES: i64 = 64 * 1024 * 1024;

/// A live column's type as the analysis models it, in the server's dialect. A type the parser
/// cannot read is one no type change is proven free for (as is every type in a build without
/// the dialect's grammar).
fn live_column_type(text: &str, dialect: cutover_analysis::Dialect) -> cutover_analysis::ColumnType {
    match dialect {
        #[cfg(feature = "mysql")]
        cutover_analysis::Dialect::Mysql => cutover_analysis::sqlparse::mysql_column_type(text),
        #[cfg(feature = "postgres")]
        cutover_analysis::Dialect::Postgres => cutover_analysis::postgres::parse_type(text).unwrap_or_default(),
        _ => {
            let _ = text;
            cutover_analysis::ColumnType::default()
        }
    }
}

/// The analysis schema the live catalog describes, and each table's estimated rows (-1 where
/// unknown). A table never analysed has no estimate, only the most rows its storage holds:
/// that bound counts when it proves the table small (under `small_table_rows`), and the size
/// is unknown otherwise. Indexes a lookup cannot use (partial ones, or INVALID ones a failed
/// concurrent build left) are known by name only; a `CHECK (col IS NOT NULL)` is kept with
/// whether it was validated, which decides whether `SET NOT NULL` scans.
pub fn seed(live: &LiveSchema, config: &LintConfig) -> (Schema, BTreeMap<String, i64>) {
    let small_table_rows = config.small_table_rows;
    let mut schema = Schema::default();
    let mut rows = BTreeMap::new();
    // Tables share a handful of types: each is parsed once.
    let mut types: BTreeMap<&str, cutover_analysis::ColumnType> = BTreeMap::new();
    for live_table in &live.tables {
        let mut table = Table {
            partitioned: live_table.partitioned,
            parent: live_table.parent.clone(),
            primary_key: live_table.primary_key.clone(),
            storage_engine: live_table.storage_engine.clone(),
            fulltext_indexes: live_table.fulltext_indexes.clone(),
            charset: live_table.charset.as_ref().map(|c| c.to_ascii_lowercase()),
            collation: live_table.collation.as_ref().map(|c| c.to_ascii_lowercase()),
            row_format: live_table.row_format.as_ref().map(|c| c.to_ascii_lowercase()),
            ..Table::default()
        };
        for column in &live_table.columns {
            let column_type = types
                .entry(column.type_text.as_str())
                .or_insert_with(|| live_column_type(&column.type_text, config.dialect))
                .clone();
            table.columns.push((column.name.clone(), column_type));
            if column.not_null {
                table.not_null_columns.push(column.name.clone());
            }
        }
        let mut names_only = Vec::new();
        for index in &live_table.indexes {
            if index.valid && !index.partial {
                table.indexes.push((index.name.clone(), index.columns.clone()));
                if index.unique && index.plain && !index.columns.is_empty() {
                    table.unique_keys.push((index.name.clone(), index.columns.clone()));
                }
            } else {
                names_only.push(index.name.as_str());
            }
        }
        table.not_null_checks = live_table
            .checks
            .iter()
            .filter_map(|check| Some((check.name.clone(), check.not_null_column.clone()?, check.validated)))
            .collect();
        table.foreign_keys = live_table
            .foreign_keys
            .iter()
            .map(|fk| ForeignKey {
                name: fk.name.clone(),
                columns: fk.columns.clone(),
                referenced_table: fk.referenced_table.clone(),
                referenced_columns: fk.referenced_columns.clone(),
            })
            .collect();
        schema.insert_table(&live_table.name, table);
        for index in names_only {
            schema.insert_index_name(index, &live_table.name);
        }
        let known = live_table.analysed || live_table.rows < small_table_rows;
        let estimate = if known { live_table.rows } else { -1 };
        // Few rows in many bytes (wide rows, TOAST) is no small table: its scan or rewrite takes
        // as long as its bytes do.
        let estimate = if live_table.bytes >= SMALL_TABLE_BYTES { estimate.max(small_table_rows) } else { estimate };
        rows.insert(live_table.name.clone(), estimate);
    }
    for (function, volatile) in &live.functions {
        schema.insert_function(function, *volatile);
    }
    for domain in &live.constrained_domains {
        schema.insert_constrained_domain(domain);
    }
    for view in &live.views {
        match &view.base {
            Some(base) => schema.insert_view(&view.name, base),
            None => schema.insert_view_name(&view.name),
        }
    }
    (schema, rows)
}

/// Where each live table and view is, and the name the analysis gives it: what a qualified
/// name, or one found through a `SET search_path`, resolves to.
pub(crate) fn live_names(live: &LiveSchema) -> LiveNames {
    let mut names = LiveNames::default();
    for table in &live.tables {
        names.insert(&table.schema, &table.relname, &table.name);
    }
    for view in &live.views {
        names.insert(&view.schema, &view.relname, &view.name);
    }
    names
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
        // Down scripts are optional there: expected once the folder has one.
        Layout::Flyway | Layout::Sqlx | Layout::Prisma => set.migrations.iter().any(|m| m.down.is_some()),
        // No down files at all: Atlas plans its `migrate down` from the database.
        Layout::Atlas | Layout::Temporal => false,
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

    /// With a live schema only the pending migrations are linted, on it: a table the folder
    /// never creates is known there, with its checks and size.
    #[test]
    fn pending_migrations_are_linted_on_the_live_schema() {
        use cutover_engine::{LiveCheck, LiveColumn, LiveTable};
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("1_a.sql", "ALTER TABLE users ADD COLUMN status text;\n"),
            ("2_b.sql", "ALTER TABLE users VALIDATE CONSTRAINT users_status_nn;\n"),
            ("3_c.sql", "ALTER TABLE users ALTER COLUMN status SET NOT NULL;\n"),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let set = cutover_migration::discover(dir.path(), None).unwrap();
        let column = |name: &str| LiveColumn { name: name.into(), type_text: "text".into(), not_null: false };
        let live = LiveSchema {
            tables: vec![LiveTable {
                name: "users".into(),
                rows: 400_000,
                analysed: true,
                columns: vec![column("id"), column("status")],
                checks: vec![LiveCheck {
                    name: "users_status_nn".into(),
                    expression: "(status IS NOT NULL)".into(),
                    validated: false,
                    not_null_column: Some("status".into()),
                }],
                ..LiveTable::default()
            }],
            constrained_domains: vec![],
            views: vec![],
            functions: vec![],
        };
        let pending: Vec<&Migration> = set.migrations[1..].iter().collect();
        let errors = |live: Option<&LiveSchema>| -> Vec<String> {
            lint_pending(&set, &pending, &LintConfig::default(), live)
                .iter()
                .flat_map(|l| l.diagnostics.iter().map(move |d| (l, d)))
                .filter(|(_, d)| d.severity == cutover_analysis::Severity::Error)
                .map(|(l, d)| format!("{} {}", l.migration.name, d.rule))
                .collect()
        };
        assert_eq!(errors(None), ["c set-not-null-scan"], "without the database, users is unknown");
        assert!(errors(Some(&live)).is_empty(), "validated by 2 on the live table, 3 does not scan");
        let linted = lint_pending(&set, &pending, &LintConfig::default(), Some(&live));
        assert_eq!(linted.iter().map(|l| l.migration.name.as_str()).collect::<Vec<_>>(), ["b", "c"]);
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
