//! The rules: one per file, each a small predicate over an [`Effect`] and its [`Context`].
//!
//! Each file holds the rule's id, its documentation (what, why, instead) and its tests. Every
//! rule is listed once, in [`RULES`].

use std::collections::HashSet;

use crate::{Action, Effect, LockMode, Severity};

mod add_column_required;
mod add_column_volatile_default;
mod backfill_in_migration;
mod concurrently_in_transaction;
mod constraint_not_valid_missing;
mod drop_column;
mod drop_default_compat;
mod drop_not_null_compat;
mod drop_table;
mod enum_add_value_in_transaction;
mod exclusion_constraint_existing_table;
mod identifier_too_long;
mod index_create_blocking;
mod index_drop_blocking;
mod multiple_alter_same_table;
mod partition_attach_scan;
mod partition_detach_blocking;
mod prefer_bigint_key;
mod prefer_identity;
mod prefer_jsonb;
mod prefer_text_over_varchar;
mod prefer_timestamptz;
mod reindex_blocking;
mod rename_relation;
mod set_not_null_scan;
mod table_rewrite_command;
mod truncate_table;
mod unique_constraint_builds_index;
mod validate_same_transaction;

/// A rule: its id, its default severity, and its check.
pub struct Rule {
    /// The fixed id, e.g. `index-create-blocking`.
    pub id: &'static str,
    /// Its default severity.
    pub severity: Severity,
    /// Its documentation (markdown): what it does, why it is bad, what to do instead.
    pub doc: &'static str,
    check: fn(&Effect, &Context) -> Vec<Finding>,
}

/// Every rule, in one table.
pub const RULES: &[Rule] = &[
    Rule {
        id: index_create_blocking::RULE,
        severity: Severity::Error,
        doc: index_create_blocking::DOC,
        check: index_create_blocking::check,
    },
    Rule {
        id: index_drop_blocking::RULE,
        severity: Severity::Error,
        doc: index_drop_blocking::DOC,
        check: index_drop_blocking::check,
    },
    Rule {
        id: concurrently_in_transaction::RULE,
        severity: Severity::Error,
        doc: concurrently_in_transaction::DOC,
        check: concurrently_in_transaction::check,
    },
    Rule {
        id: add_column_required::RULE,
        severity: Severity::Error,
        doc: add_column_required::DOC,
        check: add_column_required::check,
    },
    Rule {
        id: add_column_volatile_default::RULE,
        severity: Severity::Error,
        doc: add_column_volatile_default::DOC,
        check: add_column_volatile_default::check,
    },
    Rule {
        id: set_not_null_scan::RULE,
        severity: Severity::Error,
        doc: set_not_null_scan::DOC,
        check: set_not_null_scan::check,
    },
    Rule {
        id: constraint_not_valid_missing::RULE,
        severity: Severity::Error,
        doc: constraint_not_valid_missing::DOC,
        check: constraint_not_valid_missing::check,
    },
    Rule { id: drop_table::RULE, severity: Severity::Error, doc: drop_table::DOC, check: drop_table::check },
    Rule { id: drop_column::RULE, severity: Severity::Error, doc: drop_column::DOC, check: drop_column::check },
    Rule {
        id: rename_relation::RULE,
        severity: Severity::Error,
        doc: rename_relation::DOC,
        check: rename_relation::check,
    },
    Rule {
        id: truncate_table::RULE,
        severity: Severity::Error,
        doc: truncate_table::DOC,
        check: truncate_table::check,
    },
    Rule {
        id: reindex_blocking::RULE,
        severity: Severity::Error,
        doc: reindex_blocking::DOC,
        check: reindex_blocking::check,
    },
    Rule {
        id: table_rewrite_command::RULE,
        severity: Severity::Error,
        doc: table_rewrite_command::DOC,
        check: table_rewrite_command::check,
    },
    Rule {
        id: unique_constraint_builds_index::RULE,
        severity: Severity::Error,
        doc: unique_constraint_builds_index::DOC,
        check: unique_constraint_builds_index::check,
    },
    Rule {
        id: exclusion_constraint_existing_table::RULE,
        severity: Severity::Error,
        doc: exclusion_constraint_existing_table::DOC,
        check: exclusion_constraint_existing_table::check,
    },
    Rule {
        id: validate_same_transaction::RULE,
        severity: Severity::Error,
        doc: validate_same_transaction::DOC,
        check: validate_same_transaction::check,
    },
    Rule {
        id: enum_add_value_in_transaction::RULE,
        severity: Severity::Error,
        doc: enum_add_value_in_transaction::DOC,
        check: enum_add_value_in_transaction::check,
    },
    Rule {
        id: partition_detach_blocking::RULE,
        severity: Severity::Error,
        doc: partition_detach_blocking::DOC,
        check: partition_detach_blocking::check,
    },
    Rule {
        id: partition_attach_scan::RULE,
        severity: Severity::Error,
        doc: partition_attach_scan::DOC,
        check: partition_attach_scan::check,
    },
    Rule {
        id: backfill_in_migration::RULE,
        severity: Severity::Warning,
        doc: backfill_in_migration::DOC,
        check: backfill_in_migration::check,
    },
    Rule {
        id: multiple_alter_same_table::RULE,
        severity: Severity::Warning,
        doc: multiple_alter_same_table::DOC,
        check: multiple_alter_same_table::check,
    },
    Rule {
        id: drop_not_null_compat::RULE,
        severity: Severity::Warning,
        doc: drop_not_null_compat::DOC,
        check: drop_not_null_compat::check,
    },
    Rule {
        id: drop_default_compat::RULE,
        severity: Severity::Warning,
        doc: drop_default_compat::DOC,
        check: drop_default_compat::check,
    },
    Rule {
        id: prefer_text_over_varchar::RULE,
        severity: Severity::Info,
        doc: prefer_text_over_varchar::DOC,
        check: prefer_text_over_varchar::check,
    },
    Rule {
        id: prefer_timestamptz::RULE,
        severity: Severity::Info,
        doc: prefer_timestamptz::DOC,
        check: prefer_timestamptz::check,
    },
    Rule { id: prefer_jsonb::RULE, severity: Severity::Info, doc: prefer_jsonb::DOC, check: prefer_jsonb::check },
    Rule {
        id: prefer_bigint_key::RULE,
        severity: Severity::Info,
        doc: prefer_bigint_key::DOC,
        check: prefer_bigint_key::check,
    },
    Rule {
        id: prefer_identity::RULE,
        severity: Severity::Info,
        doc: prefer_identity::DOC,
        check: prefer_identity::check,
    },
    Rule {
        id: identifier_too_long::RULE,
        severity: Severity::Info,
        doc: identifier_too_long::DOC,
        check: identifier_too_long::check,
    },
];

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

/// What a rule knows besides the statement.
#[derive(Debug, Default)]
pub struct Context {
    /// Tables created earlier in the same migration: new, so empty and unused by running code.
    pub(crate) created_here: HashSet<String>,
    /// Whether the migration runs inside one transaction.
    pub(crate) in_transaction: bool,
    /// Constraints added `NOT VALID` earlier in the same migration.
    pub(crate) not_valid_constraints: HashSet<String>,
    /// Tables altered earlier in the same migration.
    pub(crate) altered: HashSet<String>,
    /// Enum values added earlier in the same migration, with their types.
    pub(crate) enum_values_added: Vec<(String, String)>,
}

impl Context {
    /// Whether `table` was created earlier in this migration.
    pub(crate) fn is_new(&self, table: &str) -> bool {
        self.created_here.contains(table)
    }

    /// Whether `table` was altered earlier in this migration.
    pub(crate) fn altered_before(&self, table: &str) -> bool {
        self.altered.contains(table)
    }

    /// Whether constraint `name` was added `NOT VALID` earlier in this migration.
    pub(crate) fn added_not_valid(&self, name: &str) -> bool {
        self.not_valid_constraints.contains(name)
    }
}

/// What a rule found about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// What happens.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// The table concerned, if one is.
    pub table: Option<String>,
    /// The lock taken on it, if one is.
    pub lock: Option<LockMode>,
}

impl Finding {
    pub(crate) fn new(rule: &'static str, message: String, help: &str) -> Finding {
        Finding { rule, message, help: help.to_string(), table: None, lock: None }
    }

    pub(crate) fn on(mut self, table: &str, lock: LockMode) -> Finding {
        self.table = Some(table.to_string());
        self.lock = Some(lock);
        self
    }
}

/// Findings for the sub-commands of an `ALTER TABLE` of an existing table that `finding` flags
/// (given the table's name and the sub-command).
pub(crate) fn alter_findings(
    effect: &Effect,
    ctx: &Context,
    finding: impl Fn(&str, &crate::AlterCommand) -> Option<Finding>,
) -> Vec<Finding> {
    let Action::AlterTable { table, commands } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) {
        return Vec::new();
    }
    commands.iter().filter_map(|command| finding(table, command)).collect()
}

/// Findings for the columns of a `CREATE TABLE` that `finding` flags.
pub(crate) fn column_findings(
    effect: &Effect,
    finding: impl Fn(&crate::ColumnInfo) -> Option<Finding>,
) -> Vec<Finding> {
    let Action::CreateTable { columns, .. } = &effect.action else { return Vec::new() };
    columns.iter().filter_map(finding).collect()
}

/// Runs the rules named `only` (every rule when `None`) on one statement.
pub(crate) fn check(effect: &Effect, ctx: &Context, only: Option<&str>) -> Vec<(Severity, Finding)> {
    RULES
        .iter()
        .filter(|rule| only.is_none_or(|id| id == rule.id))
        .flat_map(|rule| (rule.check)(effect, ctx).into_iter().map(|finding| (rule.severity, finding)))
        .collect()
}

#[cfg(test)]
pub(crate) mod test_utils {
    use crate::{lint_script, LintOptions};

    /// Lints `sql` (a transactional migration) with only `rule`, and renders what it finds.
    fn run(sql: &str, rule: &str) -> String {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let options = LintOptions { in_transaction: true, only_rule: Some(rule) };
        lint_script(&statements, &options).iter().map(|d| format!("{}: {}\n", d.rule, d.message)).collect()
    }

    /// Asserts that `rule` finds nothing in `sql` (see `lint_errors`).
    pub(crate) fn lint_ok(sql: &str, rule: &str) {
        let found = run(sql, rule);
        assert!(found.is_empty(), "expected no `{rule}` finding (lint_errors asserts some), got:\n{found}");
    }

    /// Asserts that `rule` finds something in `sql` and returns the findings (see `lint_ok`).
    #[must_use]
    pub(crate) fn lint_errors(sql: &str, rule: &str) -> String {
        let found = run(sql, rule);
        assert!(!found.is_empty(), "expected a `{rule}` finding (lint_ok asserts none), got none");
        found
    }
}

#[cfg(test)]
mod tests {
    use super::RULES;

    #[test]
    fn every_rule_is_documented() {
        for rule in RULES {
            for heading in ["## What it does", "## Why is this bad?", "## Instead"] {
                assert!(rule.doc.contains(heading), "{} lacks `{heading}`", rule.id);
            }
        }
    }

    #[test]
    fn rule_ids_are_unique_kebab_case() {
        for (idx, rule) in RULES.iter().enumerate() {
            assert!(rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", rule.id);
            assert!(RULES[idx + 1..].iter().all(|other| other.id != rule.id), "{} twice", rule.id);
        }
    }
}
