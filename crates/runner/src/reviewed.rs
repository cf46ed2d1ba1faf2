//! The gate's judgement computed ahead: `cutover review --write` lints a folder where the
//! analysis is built (a developer's machine, CI) and writes what the approval gate and the
//! start-up review need of each migration to `cutover-review.<dialect>.json`, beside the migrations and
//! with their checksums. An application that embeds cutover without a grammar (cutover-embed's
//! `*-driver` features) reads it instead of analysing.
//!
//! It holds only for the folder it was computed from: any migration added, removed, renamed or
//! edited since, another dialect, or an older server than it assumed, and [`ReviewFile::check`]
//! refuses it, so that nothing runs on a judgement of other files.

use std::time::Duration;

use cutover_analysis::{Action, Diagnostic, Dialect, LintConfig, Severity};
use cutover_engine::{Approval, ApprovalKind};
use cutover_migration::{Migration, MigrationSet};
use serde::{Deserialize, Serialize};

use crate::gate::{Review, StartupLimit};
use crate::lint::{lint_pending, run_by_cutover};

/// The file's name, in the migrations folder: one per dialect, so that an application that runs
/// on several engines keeps the judgement for each (`cutover-review.postgres.json`).
pub fn review_file_name(dialect: Dialect) -> String {
    format!("cutover-review.{}.json", dialect.name())
}

/// What this version of cutover writes and reads.
const FORMAT: u32 = 1;

/// A folder's review, as written to its [`review_file_name`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewFile {
    /// The file's format.
    pub format: u32,
    /// What wrote it, for people who come across the file.
    pub written_by: String,
    /// The dialect the migrations were judged in: `postgres`, `mysql` or `sqlite`.
    pub dialect: String,
    /// The oldest PostgreSQL major version the judgement holds for.
    pub pg_version: u32,
    /// The MySQL/MariaDB server it holds for (`mysql-8.0`, `mariadb-10.11`).
    pub mysql_server: String,
    /// Every migration of the folder, in order.
    pub migrations: Vec<ReviewedMigration>,
}

/// One migration's judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewedMigration {
    /// `<version> <name>`, as messages name it.
    pub label: String,
    /// The checksum of its up script, as the history records it.
    pub checksum: String,
    /// Error-level findings no ignore accepts: the gate refuses the migration for them.
    pub findings: Vec<ReviewedFinding>,
    /// Error-level findings a `cutover:ignore ... reason="..."` accepts, recorded as approvals.
    pub accepted: Vec<ReviewedFinding>,
    /// Whether it blocks or rewrites existing tables for a time that grows with them.
    pub needs_window: bool,
    /// Whether it destroys data or breaks code that still uses the old schema.
    pub breaks_old_code: bool,
    /// The tables it creates (a history found empty beside them was lost).
    pub creates: Vec<String>,
    /// Each table it reads or writes whole, with how many times its size that costs: the
    /// start-up limit's estimate, made with the live sizes.
    pub work: Vec<(String, f64)>,
    /// The locks to take before its first statement (see `gate::Review::up_front_locks`).
    pub up_front_locks: Vec<(String, String)>,
}

/// A finding as the gate reports and records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewedFinding {
    /// The rule.
    pub rule: String,
    /// The line of the up script.
    pub line: usize,
    /// What it found.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// Why it is accepted (accepted findings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ReviewedFinding {
    fn of(d: &Diagnostic, reason: Option<&String>) -> ReviewedFinding {
        ReviewedFinding {
            rule: d.rule.to_string(),
            line: d.line,
            message: d.message.clone(),
            help: d.help.clone(),
            reason: reason.cloned(),
        }
    }
}

impl ReviewFile {
    /// Judges every migration of `set` as `up`'s gate would before applying it, with `config`
    /// (the dialect, the server and the rules' levels) and without a database: each is judged
    /// on the schema the migrations before it build, a table they do not create counting as
    /// existing and large.
    pub fn compute(set: &MigrationSet, config: &LintConfig) -> ReviewFile {
        let config = run_by_cutover(config);
        let all: Vec<&Migration> = set.migrations.iter().collect();
        let mut linted = lint_pending(set, &all, &config, None);
        linted.sort_by_key(|l| all.iter().position(|m| std::ptr::eq(*m, l.migration)));
        let migrations = linted
            .into_iter()
            .map(|l| {
                let effects: Vec<&cutover_analysis::Effect> = l.effects.iter().flatten().collect();
                let up_front_locks = if l.migration.up.settings.transaction {
                    crate::gate::up_front_locks(effects.iter().copied()).unwrap_or_default()
                } else {
                    Vec::new()
                };
                ReviewedMigration {
                    label: l.migration.label(),
                    checksum: l.migration.checksum.to_string(),
                    findings: l
                        .diagnostics
                        .iter()
                        .filter(|d| d.severity == Severity::Error)
                        .map(|d| ReviewedFinding::of(d, None))
                        .collect(),
                    accepted: l
                        .accepted
                        .iter()
                        .filter(|(d, _)| d.severity == Severity::Error)
                        .map(|(d, reason)| ReviewedFinding::of(d, Some(reason)))
                        .collect(),
                    needs_window: l.needs_window,
                    breaks_old_code: l.breaks_old_code,
                    creates: effects
                        .iter()
                        .filter_map(|e| match &e.action {
                            Action::CreateTable { table, .. } => Some(table.clone()),
                            _ => None,
                        })
                        .collect(),
                    work: effects.iter().filter_map(|e| crate::estimate::work(e)).collect(),
                    up_front_locks: up_front_locks.into_iter().map(|(r, m)| (r, m.to_string())).collect(),
                }
            })
            .collect();
        ReviewFile {
            format: FORMAT,
            written_by: format!("cutover review --write (cutover {})", env!("CARGO_PKG_VERSION")),
            dialect: config.dialect.name().to_string(),
            pg_version: config.pg_version,
            mysql_server: config.mysql_server.to_string(),
            migrations,
        }
    }

    /// The file as written: pretty JSON, one field a line, so that a pull request's diff shows
    /// what changed in the judgement.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a review serialises");
        text.push('\n');
        text
    }

    /// Reads a review file's text.
    pub fn parse(text: &str) -> Result<ReviewFile, String> {
        let file: ReviewFile =
            serde_json::from_str(text).map_err(|e| format!("not a review written by `cutover review --write`: {e}"))?;
        if file.format != FORMAT {
            return Err(format!(
                "a review in format {}, and this cutover reads format {FORMAT}: write it again with `cutover review --write`",
                file.format
            ));
        }
        Ok(file)
    }

    /// Whether the review holds for `set` on a server of `dialect` whose version string is
    /// `server_version`: why not, with how to make it hold, when it does not.
    pub fn check(&self, set: &MigrationSet, dialect: Dialect, server_version: &str) -> Result<(), String> {
        const REWRITE: &str = "run `cutover review --write` on the migrations folder, commit the file and rebuild";
        let name = review_file_name(dialect);
        if self.dialect != dialect.name() {
            return Err(format!(
                "{name} judged the migrations as {}, and they run on {}: {REWRITE} with `--dialect {}`",
                self.dialect,
                dialect.name(),
                dialect.name()
            ));
        }
        let now: Vec<(String, String)> = set.migrations.iter().map(|m| (m.label(), m.checksum.to_string())).collect();
        let then: Vec<(String, String)> =
            self.migrations.iter().map(|m| (m.label.clone(), m.checksum.clone())).collect();
        if now != then {
            let changed = now
                .iter()
                .find(|(label, checksum)| !then.iter().any(|(l, c)| l == label && c == checksum))
                .map(|(label, _)| format!("{label} is new or edited since"))
                .or_else(|| {
                    then.iter()
                        .find(|(label, _)| !now.iter().any(|(l, _)| l == label))
                        .map(|(label, _)| format!("{label} is gone since"))
                })
                .unwrap_or_else(|| "the migrations are in another order".to_string());
            return Err(format!("{name} was written for other migrations ({changed}): {REWRITE}"));
        }
        match dialect {
            Dialect::Postgres => {
                if let Some(major) = crate::gate::major_version(server_version) {
                    if major < self.pg_version {
                        return Err(format!(
                            "{name} judged the migrations for PostgreSQL {} and later, and the server is {major}: {REWRITE} with `--pg-version {major}`",
                            self.pg_version
                        ));
                    }
                }
            }
            Dialect::Mysql => {
                if let Some(server) = cutover_analysis::MysqlServer::from_server_version(server_version) {
                    let reviewed: Option<cutover_analysis::MysqlServer> = self.mysql_server.parse().ok();
                    if reviewed.is_none_or(|r| r.to_string() != server.to_string()) {
                        return Err(format!(
                            "{name} judged the migrations for {}, and the server is {server}: {REWRITE} with `--server-version {server}`",
                            self.mysql_server
                        ));
                    }
                }
            }
            Dialect::Sqlite => {}
        }
        Ok(())
    }

    fn find(&self, migration: &Migration) -> Option<&ReviewedMigration> {
        let checksum = migration.checksum.to_string();
        self.migrations.iter().find(|m| m.label == migration.label() && m.checksum == checksum)
    }

    /// What `up`'s gate finds in `pending`, from the review (checked with [`ReviewFile::check`]).
    /// A migration the review does not hold is refused, never passed.
    pub(crate) fn gate_review(&self, pending: &[&Migration], allow_unsafe: bool) -> Review {
        let mut review = Review::default();
        let approval = |migration: &Migration, f: &ReviewedFinding, how: ApprovalKind, reason: String| Approval {
            id: 0,
            version: migration.version.as_ref().map(|v| v.as_str().to_string()),
            name: migration.name.clone(),
            rule: f.rule.clone(),
            how,
            reason,
            location: format!("{}:{}", migration.up.path.display(), f.line),
            message: f.message.clone(),
            approved_by: String::new(),
            approved_at: String::new(),
        };
        for migration in pending {
            let Some(reviewed) = self.find(migration) else {
                review.unsafe_findings.push(format!(
                    "{}: not in the review as it is now: run `cutover review --write`",
                    migration.up.path.display()
                ));
                continue;
            };
            if !reviewed.up_front_locks.is_empty() {
                let locks =
                    reviewed.up_front_locks.iter().filter_map(|(r, m)| Some((r.clone(), lock_name(m)?))).collect();
                review.up_front_locks.insert(migration.label(), locks);
            }
            if reviewed.needs_window {
                review.need_window.push(migration.label());
            }
            for f in &reviewed.accepted {
                let reason = f.reason.clone().unwrap_or_default();
                review.approvals.push(approval(migration, f, ApprovalKind::Ignore, reason));
            }
            for f in &reviewed.findings {
                review.unsafe_findings.push(format!(
                    "{}:{}: error[{}]: {} (help: {})",
                    migration.up.path.display(),
                    f.line,
                    f.rule,
                    f.message,
                    f.help
                ));
                if allow_unsafe {
                    review.approvals.push(approval(
                        migration,
                        f,
                        ApprovalKind::AllowUnsafe,
                        "--allow-unsafe".to_string(),
                    ));
                }
            }
        }
        review
    }

    /// The tables `migration` creates, by the review; `None` when it does not hold it.
    pub(crate) fn creates(&self, migration: &Migration) -> Option<&[String]> {
        self.find(migration).map(|m| m.creates.as_slice())
    }

    /// The tables whose sizes [`ReviewFile::startup_review`]'s limit needs.
    pub fn startup_relations(&self, pending: &[&Migration]) -> Vec<String> {
        let mut names: Vec<String> =
            pending.iter().filter_map(|m| self.find(m)).flat_map(|m| m.work.iter().map(|(t, _)| t.clone())).collect();
        names.sort();
        names.dedup();
        names
    }

    /// [`crate::startup_review`] from the review: why each of `pending` may not run while the
    /// application serves traffic (a migration the review does not hold may not).
    pub fn startup_review(
        &self,
        pending: &[&Migration],
        limit: Option<&StartupLimit<'_>>,
    ) -> Vec<(String, Vec<String>)> {
        pending
            .iter()
            .map(|migration| {
                let Some(reviewed) = self.find(migration) else {
                    return (
                        migration.label(),
                        vec!["not in the review as it is now: run `cutover review --write` and rebuild".to_string()],
                    );
                };
                let mut reasons: Vec<String> = reviewed
                    .findings
                    .iter()
                    .map(|f| format!("error[{}] at line {}: {}", f.rule, f.line, f.message))
                    .collect();
                if reviewed.needs_window {
                    reasons.push(crate::gate::NEEDS_WINDOW.to_string());
                }
                if reviewed.breaks_old_code {
                    reasons.push(crate::gate::BREAKS_OLD_CODE.to_string());
                }
                if let Some(limit) = limit {
                    let total: Duration = reviewed
                        .work
                        .iter()
                        .filter_map(|(table, factor)| {
                            crate::estimate::estimate_work(
                                table,
                                *factor,
                                limit.facts,
                                crate::estimate::DEFAULT_SCAN_RATE,
                            )
                        })
                        .sum();
                    reasons.extend(crate::gate::over_limit(total, limit));
                }
                (migration.label(), reasons)
            })
            .collect()
    }
}

/// The lock mode a review names, as the runner names it.
fn lock_name(mode: &str) -> Option<&'static str> {
    cutover_analysis::LockMode::ALL.iter().map(|m| m.name()).find(|name| *name == mode)
}
