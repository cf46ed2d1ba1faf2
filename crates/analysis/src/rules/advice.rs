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
//!
//! The advice is written for cutover's runner; under the other runners that flag the example
//! too (a tool that sends a file as one query; one that wraps each file in a transaction, with a
//! switch that runs it statement by statement or as one query), the advice's
//! `-- cutover:no-transaction` stands for the tool's own switch, and at least one way of
//! following it must lead to no error.

use cutover_migration::{read_directives, split_statements, ScriptSettings};

use cutover_migration::NoTransactionMarker;

use super::{doc_section, migrations, sql_blocks, Rule, RULES};
use crate::{Diagnostic, Dialect, LintConfig, Linter, Runner, Script, Severity, Tool};

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
    /// Who runs the migrations.
    runner: Runner,
    /// Whether the migrations have a down script (`None`: their layout cannot have one).
    has_down: Option<bool>,
}

/// The three kinds of runner; a transaction tool with each kind of switch (goose's runs the
/// file statement by statement, sqlx's sends it as one query).
const SETTINGS: &[Setting] = &[
    Setting { runner: Runner::Cutover, has_down: None },
    Setting { runner: Runner::Script(Some(Tool::Prisma)), has_down: None },
    Setting { runner: Runner::Transaction(Some(Tool::Goose)), has_down: None },
    Setting { runner: Runner::Transaction(Some(Tool::Sqlx)), has_down: None },
    Setting { runner: Runner::Cutover, has_down: Some(false) },
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
    let mut linter = Linter::new(LintConfig { dialect, runner: setting.runner, live_rows, ..LintConfig::default() });
    let mut found = Vec::new();
    for (idx, sql) in std::iter::once(setup).chain(migrations.iter().map(String::as_str)).enumerate() {
        let statements = split_statements(sql).unwrap_or_else(|e| panic!("{}: {e}\n{sql}", rule.id));
        let mut settings = ScriptSettings::default();
        read_directives(sql, &mut settings).unwrap_or_else(|e| panic!("{}: {e:?}\n{sql}", rule.id));
        // As discovery reads a file made only of statements that refuse a transaction.
        let outside = cutover_migration::transactionality(&statements) == cutover_migration::Transactionality::Outside;
        // A file the advice means to run outside a transaction (with the directive, or made
        // only of statements that refuse one) gets the tool's own switch.
        if let (Runner::Transaction(Some(tool)), true) =
            (setting.runner, settings.no_transaction_by == Some(NoTransactionMarker::Cutover) || outside)
        {
            settings.no_transaction_by = tool.marker();
        }
        let script = Script {
            text: sql,
            statements: &statements,
            in_transaction: settings.transaction && !outside,
            no_transaction_by: settings.no_transaction_by,
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

/// The settings in which the rule flags its own example, in [`SETTINGS`]' order.
fn settings_of(rule: &Rule) -> Vec<Setting> {
    let example = sql_blocks(doc_section(rule.doc, "Example"));
    let example = example.first().unwrap_or_else(|| panic!("{} has no example", rule.id));
    SETTINGS
        .iter()
        .filter(|setting| lint(rule, **setting, &migrations(example)).iter().any(|(_, d)| d.rule == rule.id))
        .copied()
        .collect()
}

/// The first setting in which the rule flags its own example: the context its advice is for.
fn setting_of(rule: &Rule) -> Setting {
    *settings_of(rule)
        .first()
        .unwrap_or_else(|| panic!("{}: its example is not flagged after the setup migration", rule.id))
}

/// The error-level findings of following `block` in `setting` (the down script written), and
/// `lock-timeout-missing`'s advice where it fires: another tool than cutover sets no lock
/// timeout, so the advice's migrations begin with one.
fn errors(rule: &Rule, mut setting: Setting, block: &[String]) -> Vec<(usize, Diagnostic)> {
    setting.has_down = setting.has_down.map(|_| true);
    let mut block = block.to_vec();
    let found = lint(rule, setting, &block);
    let begins_with_set =
        |d: &Diagnostic| d.rule == "lock-timeout-missing" && d.help.contains("begin the file with SET");
    for (idx, _) in found.iter().filter(|(_, d)| begins_with_set(d)) {
        block[idx - 1] = with_lock_timeout(&block[idx - 1]);
    }
    // Where no SET may stand beside the statement, the advice is the migration role's timeout.
    let by_role = |d: &Diagnostic| d.rule == "lock-timeout-missing" && d.help.contains("ALTER ROLE");
    lint(rule, setting, &block).into_iter().filter(|(_, d)| d.severity == Severity::Error && !by_role(d)).collect()
}

/// `migration` with `SET lock_timeout` as its first statement, after its directives.
fn with_lock_timeout(migration: &str) -> String {
    let lines: Vec<&str> = migration.lines().collect();
    let is_directive = |line: &str| {
        let body = line.trim().trim_start_matches("--").trim();
        line.trim().is_empty()
            || body == "no-transaction"
            || (body.starts_with("cutover:") && !body.starts_with("cutover:ignore"))
    };
    let leading = lines.iter().take_while(|l| is_directive(l)).count();
    let mut out: Vec<&str> = lines[..leading].to_vec();
    out.push("SET lock_timeout = '2s';");
    out.extend(&lines[leading..]);
    out.join("\n") + "\n"
}

/// Under every runner that flags a rule's example, some way of following its advice (the
/// advice's `-- cutover:no-transaction` standing for the tool's own switch) leads to no error.
#[test]
fn every_runner_can_follow_the_advice() {
    let mut violations = Vec::new();
    for rule in RULES {
        let blocks = rule.advice();
        if blocks.is_empty() {
            continue;
        }
        for setting in settings_of(rule).into_iter().skip(1) {
            let tries: Vec<Vec<(usize, Diagnostic)>> =
                blocks.iter().map(|block| errors(rule, setting, block)).collect();
            if tries.iter().all(|found| !found.is_empty()) {
                let (idx, d) = &tries[0][0];
                violations.push(format!(
                    "{} under {:?}: no way of following its advice is free of errors; the first, migration {idx}, line {}: {}: {}",
                    rule.id, setting.runner, d.line, d.rule, d.message
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{} violations:\n{}", violations.len(), violations.join("\n"));
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
