//! No rule's advice may produce a statement another rule flags.
//!
//! Every rule's `DOC` shows what to write instead in ```sql blocks of its "Instead" section (a
//! line `-- next migration` starts the next migration of the same advice; each block is one
//! way to follow it). Each block is linted after a migration that created the tables the
//! examples use, with every rule on, as the rule's own example is (by cutover's runner, or by
//! another tool for the rules that only fire then), the tables being large by the live
//! estimate. No finding of level error may remain, and every `cutover:ignore` in the advice
//! must silence something. Where `multiple-alter-same-table` fires on the advice, following it
//! (the ALTERs combined into one) must not lead to an error either.

use cutover_migration::{read_directives, split_statements, ScriptSettings};

use super::{doc_section, migrations, sql_blocks, Rule, RULES};
use crate::{Diagnostic, Dialect, LintConfig, Linter, Script, Severity};

const MYSQL_SETUP: &str = "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(255), name varchar(100));
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, total DECIMAL(10,2) NOT NULL);
CREATE TABLE posts (id bigint PRIMARY KEY, body text);
";

const SQLITE_SETUP: &str = "CREATE TABLE users (id integer PRIMARY KEY, email text, name text);
";

/// Rules whose advice is not SQL: what to do instead is a tool or a file.
const NO_SQL_ADVICE: &[(&str, &str)] = &[
    ("table-rewrite-command", "pg_repack or pg_squeeze reclaim the space"),
    ("missing-down-migration", "the advice is a down script beside the migration"),
];

/// How the example and the advice are linted.
#[derive(Debug, Clone, Copy)]
struct Setting {
    /// Run by another tool than cutover.
    external_runner: bool,
    /// Whether the migrations have a down script (`None`: their layout cannot have one).
    has_down: Option<bool>,
}

const SETTINGS: &[Setting] = &[
    Setting { external_runner: false, has_down: None },
    Setting { external_runner: true, has_down: None },
    Setting { external_runner: false, has_down: Some(false) },
];

/// Lints the setup of the rule's dialect, then `migrations` in order, with every rule, and
/// returns the diagnostics of the migrations (each with its 1-based index among them).
fn lint(rule: &Rule, setting: Setting, migrations: &[String]) -> Vec<(usize, Diagnostic)> {
    let dialect = rule.dialects[0];
    let setup = match dialect {
        Dialect::Postgres => super::ADVICE_SETUP,
        Dialect::Mysql => MYSQL_SETUP,
        Dialect::Sqlite => SQLITE_SETUP,
    };
    // Every existing table is large by the live estimate: the advice must hold for those.
    let live_rows = [
        "users",
        "orders",
        "people",
        "rooms",
        "audit_log",
        "legacy_sessions",
        "events",
        "events_2020",
        "events_2021",
        "daily_sales",
        "posts",
    ]
    .iter()
    .map(|t| (t.to_string(), 200_000_000))
    .collect();
    let mut linter = Linter::new(LintConfig {
        dialect,
        external_runner: setting.external_runner,
        live_rows,
        ..LintConfig::default()
    });
    let mut found = Vec::new();
    for (idx, sql) in std::iter::once(setup).chain(migrations.iter().map(String::as_str)).enumerate() {
        let statements = split_statements(sql).unwrap_or_else(|e| panic!("{}: {e}\n{sql}", rule.id));
        let mut settings = ScriptSettings::default();
        read_directives(sql, &mut settings).unwrap_or_else(|e| panic!("{}: {e:?}\n{sql}", rule.id));
        let script = Script {
            text: sql,
            statements: &statements,
            in_transaction: settings.transaction,
            has_down: setting.has_down,
        };
        let linted = linter.lint(&script);
        if idx > 0 {
            found.extend(linted.diagnostics.into_iter().map(|d| (idx, d)));
        }
    }
    found
}

/// `migration` with the `ALTER TABLE`s of `table` combined into the first, as
/// `multiple-alter-same-table` advises (comments kept where they were).
fn combine_alters(migration: &str, table: &str) -> String {
    let statements = split_statements(migration).expect("advice splits");
    let lines: Vec<&str> = migration.lines().collect();
    let prefix = format!("ALTER TABLE {table} ");
    let is_alter = |sql: &str| sql.len() > prefix.len() && sql[..prefix.len()].eq_ignore_ascii_case(&prefix);
    let actions: Vec<&str> = statements
        .iter()
        .filter(|s| is_alter(&s.sql))
        .map(|s| s.sql[prefix.len()..].trim().trim_end_matches(';').trim())
        .collect();
    let mut combined = String::new();
    let mut next_line = 1;
    let mut first = true;
    for statement in &statements {
        // The comments (directives, ignores) before the statement.
        for line in lines.iter().take(statement.line - 1).skip(next_line - 1) {
            combined.push_str(line);
            combined.push('\n');
        }
        next_line = statement.line + statement.sql.trim_end().matches('\n').count() + 1;
        if !is_alter(&statement.sql) {
            // A statement's text leaves out its `;`.
            combined.push_str(statement.sql.trim_end().trim_end_matches(';'));
            combined.push_str(";\n");
        } else if std::mem::take(&mut first) {
            combined.push_str(&format!("{prefix}{};\n", actions.join(", ")));
        }
    }
    combined
}

#[test]
fn combining_follows_multiple_alter_same_table() {
    let migration = "-- cutover:no-transaction\nALTER TABLE users ADD COLUMN a int;\n-- why b\nALTER TABLE users ADD COLUMN b int;\nCREATE TABLE t (id int);\n";
    assert_eq!(
        combine_alters(migration, "users"),
        "-- cutover:no-transaction\nALTER TABLE users ADD COLUMN a int, ADD COLUMN b int;\n-- why b\nCREATE TABLE t (id int);\n"
    );
}

/// The setting in which the rule flags its own example: the context its advice is for.
fn setting_of(rule: &Rule) -> Setting {
    let example = sql_blocks(doc_section(rule.doc, "Example"));
    let example = example.first().unwrap_or_else(|| panic!("{} has no example", rule.id));
    *SETTINGS
        .iter()
        .find(|setting| lint(rule, **setting, &migrations(example)).iter().any(|(_, d)| d.rule == rule.id))
        .unwrap_or_else(|| panic!("{}: its example is not flagged after the setup migration", rule.id))
}

#[test]
fn every_rule_flags_its_example_after_the_setup() {
    for rule in RULES {
        setting_of(rule);
    }
}

#[test]
fn no_rules_advice_produces_a_statement_another_rule_flags() {
    let mut violations = Vec::new();
    for rule in RULES {
        let blocks = rule.advice();
        let exempt = NO_SQL_ADVICE.iter().any(|(id, _)| *id == rule.id);
        if blocks.is_empty() != exempt {
            violations.push(format!(
                "{}: its Instead section shows its advice in ```sql blocks unless it is not SQL",
                rule.id
            ));
        }
        let mut setting = setting_of(rule);
        // The advice writes the down script the example lacks.
        setting.has_down = setting.has_down.map(|_| true);
        for block in blocks {
            let found = lint(rule, setting, &block);
            // Following `multiple-alter-same-table`'s advice where it is given must not lead to an
            // error either (combined, a DROP CONSTRAINT runs before a SET NOT NULL, say).
            for (idx, d) in found.iter().filter(|(_, d)| d.rule == "multiple-alter-same-table") {
                let mut combined = block.clone();
                combined[idx - 1] = combine_alters(&block[idx - 1], d.table.as_deref().unwrap_or_default());
                for (idx, d) in
                    lint(rule, setting, &combined).into_iter().filter(|(_, d)| d.severity == Severity::Error)
                {
                    violations.push(format!(
                        "{}'s advice combined as multiple-alter-same-table advises, migration {idx}, line {}: {}: {}\n{}",
                        rule.id,
                        d.line,
                        d.rule,
                        d.message,
                        combined.join("-- next migration\n")
                    ));
                }
            }
            for (idx, d) in found {
                let unused = matches!(d.rule, "unused-ignore" | "ignore-without-reason");
                if d.severity == Severity::Error || unused {
                    violations.push(format!(
                        "{}'s advice, migration {idx}, line {}: {} ({}): {}\n{block}",
                        rule.id,
                        d.line,
                        d.rule,
                        d.severity.name(),
                        d.message,
                        block = block.join("-- next migration\n")
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{} violations:\n{}", violations.len(), violations.join("\n"));
}
