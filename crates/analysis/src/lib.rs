//! Static safety analysis of migrations: what each statement locks, rewrites and scans, and
//! the rules that read it.
//!
//! SQL is parsed with PostgreSQL's own grammar ([`postgres`] front end) into an [`Effect`] per
//! statement; rules ([`rules::RULES`]) are small predicates over effects and their [`Context`]
//! (tables created earlier in the migration, whether it runs in a transaction).
//!
//! Analysis is pure: no database, no files, no network. It never fails on bad SQL: a statement
//! that does not parse is a `syntax-error` diagnostic, and the others are still analysed.
#![deny(missing_docs)]

mod effect;
mod ignore;
mod lock;
pub mod postgres;
pub mod rules;

use cutover_migration::Statement;

pub use effect::{Action, AlterCommand, ColumnInfo, DefaultValue, Effect};
pub use ignore::{apply_ignores, parse_ignores, Ignore};
pub use lock::LockMode;
pub use rules::{Context, Finding};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Risky; review it.
    Warning,
    /// Unsafe on a live database: `up` should not run it unreviewed.
    Error,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A finding at a place in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The rule's id.
    pub rule: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// 1-based first line of the statement (or of the syntax error).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Last line of the statement.
    pub end_line: usize,
    /// 1-based column just past the statement's last character, on `end_line`.
    pub end_column: usize,
    /// What happens.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// The table concerned, if any.
    pub table: Option<String>,
    /// The lock taken, if any.
    pub lock: Option<LockMode>,
}

/// How to lint a script.
#[derive(Debug, Clone, Default)]
pub struct LintOptions<'a> {
    /// Whether the script runs in one transaction.
    pub in_transaction: bool,
    /// Run only this rule (tests).
    pub only_rule: Option<&'a str>,
}

/// Lints one script file: its statements, then the `cutover:ignore` comments of its text.
pub fn lint_file(text: &str, statements: &[Statement], options: &LintOptions<'_>) -> Vec<Diagnostic> {
    let diagnostics = lint_script(statements, options);
    apply_ignores(diagnostics, &parse_ignores(text), statements)
}

/// Lints the statements of one script, in order.
pub fn lint_script(statements: &[Statement], options: &LintOptions<'_>) -> Vec<Diagnostic> {
    let mut ctx = Context { in_transaction: options.in_transaction, ..Context::default() };
    let mut diagnostics = Vec::new();
    for statement in statements {
        let end_line = statement.line + statement.sql.matches('\n').count();
        let last_line_len = statement.sql.rsplit('\n').next().map_or(0, |l| l.chars().count());
        // Statements start at column 1 in practice; the splitter does not track columns yet.
        let end_column = last_line_len + 1;
        let effect = match postgres::analyze_statement(&statement.sql) {
            Ok(effect) => effect,
            Err(err) => {
                if options.only_rule.is_none_or(|rule| rule == "syntax-error") {
                    diagnostics.push(Diagnostic {
                        rule: "syntax-error",
                        severity: Severity::Error,
                        line: statement.line,
                        column: 1,
                        end_line,
                        end_column,
                        message: err.message,
                        help: "fix the statement; PostgreSQL would refuse it".to_string(),
                        table: None,
                        lock: None,
                    });
                }
                continue;
            }
        };
        for (severity, finding) in rules::check(&effect, &ctx, options.only_rule) {
            diagnostics.push(Diagnostic {
                rule: finding.rule,
                severity,
                line: statement.line,
                column: 1,
                end_line,
                end_column,
                message: finding.message,
                help: finding.help,
                table: finding.table,
                lock: finding.lock,
            });
        }
        match &effect.action {
            Action::AddEnumValue { type_name, value } => {
                ctx.enum_values_added.push((type_name.clone(), value.clone()));
            }
            Action::CreateTable { table, .. } => {
                ctx.created_here.insert(table.clone());
            }
            Action::AlterTable { table, commands } => {
                ctx.altered.insert(table.clone());
                for command in commands {
                    if let AlterCommand::AddConstraint { name, not_valid: true, .. } = command {
                        ctx.not_valid_constraints.insert(name.clone());
                    }
                }
            }
            _ => {}
        }
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(sql: &str) -> Vec<String> {
        let statements = cutover_migration::split_statements(sql).unwrap();
        lint_script(&statements, &LintOptions { in_transaction: true, only_rule: None })
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.rule, d.lock.map_or("", |l| l.name())))
            .collect()
    }

    #[test]
    fn a_classic_unsafe_migration() {
        assert_eq!(
            lint("ALTER TABLE users ADD COLUMN age int NOT NULL;\nCREATE INDEX users_age ON users (age);\nALTER TABLE users RENAME COLUMN name TO full_name;"),
            ["1:add-column-required ACCESS EXCLUSIVE", "2:index-create-blocking SHARE", "3:rename-relation ACCESS EXCLUSIVE"]
        );
    }

    #[test]
    fn syntax_errors_do_not_stop_the_rest() {
        assert_eq!(
            lint("SELECT 1;\nALTER TABLE users ADD COLUMN;\nDROP TABLE users;"),
            ["2:syntax-error ", "3:drop-table ACCESS EXCLUSIVE"]
        );
    }

    #[test]
    fn tables_created_in_the_migration_are_new() {
        assert!(lint("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN x int NOT NULL;\nCREATE INDEX i ON t (x);")
            .is_empty());
    }
}
