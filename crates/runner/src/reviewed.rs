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

use cutover_analysis::{Diagnostic, Dialect, LintConfig, Severity};
use cutover_engine::ApprovalKind;
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
    /// PostgreSQL: the oldest major version the judgement holds for (newer ones only allow more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_version: Option<u32>,
    /// MySQL/MariaDB: the server the judgement holds for, and its later versions of the same
    /// kind (`mariadb-10.11.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mysql_server: Option<String>,
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
    /// The tables it makes, created or renamed into (a history found empty beside them was lost).
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
                    creates: crate::run::tables_made(effects.iter().copied()),
                    work: effects.iter().filter_map(|e| crate::estimate::work(e)).collect(),
                    up_front_locks: up_front_locks.into_iter().map(|(r, m)| (r, m.to_string())).collect(),
                }
            })
            .collect();
        ReviewFile {
            format: FORMAT,
            written_by: format!("cutover review --write (cutover {})", env!("CARGO_PKG_VERSION")),
            dialect: config.dialect.name().to_string(),
            pg_version: (config.dialect == Dialect::Postgres).then_some(config.pg_version),
            mysql_server: (config.dialect == Dialect::Mysql).then(|| config.mysql_server.to_string()),
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

    /// The command that writes this review again, with the settings it was written with.
    pub fn rewrite_command(&self) -> String {
        let mut command = format!("cutover review --write --dialect {}", self.dialect);
        if let Some(version) = self.pg_version {
            command.push_str(&format!(" --pg-version {version}"));
        }
        if let Some(server) = &self.mysql_server {
            command.push_str(&format!(" --server-version {server}"));
        }
        command
    }

    /// Whether the review holds for `set` on a server of `dialect` whose version string is
    /// `server_version`: why not, with how to make it hold, when it does not.
    pub fn check(&self, set: &MigrationSet, dialect: Dialect, server_version: &str) -> Result<(), String> {
        let name = review_file_name(dialect);
        // `--dir` is the application's migrations folder, which only its author knows.
        let rewrite = |written: &ReviewFile| {
            format!(
                "write it again with `{}` on the migrations folder (--dir), commit it and rebuild",
                written.rewrite_command()
            )
        };
        if self.dialect != dialect.name() {
            let written = ReviewFile { dialect: dialect.name().to_string(), ..self.clone() };
            return Err(format!(
                "{name} judged the migrations as {}, and they run on {}: {}",
                self.dialect,
                dialect.name(),
                rewrite(&written)
            ));
        }
        let now: Vec<(String, String)> = set.migrations.iter().map(|m| (m.label(), m.checksum.to_string())).collect();
        let then: Vec<(String, String)> =
            self.migrations.iter().map(|m| (m.label.clone(), m.checksum.clone())).collect();
        if now != then {
            let new = now.iter().find(|(label, checksum)| !then.iter().any(|(l, c)| l == label && c == checksum));
            let gone = then.iter().find(|(label, _)| !now.iter().any(|(l, _)| l == label));
            let changed = match (new, gone) {
                (Some((new, _)), Some((gone, _))) => format!("{new} is new or edited since, and {gone} is gone"),
                (Some((new, _)), None) => format!("{new} is new or edited since"),
                (None, Some((gone, _))) => format!("{gone} is gone since"),
                (None, None) => "the migrations are in another order".to_string(),
            };
            return Err(format!("{name} was written for other migrations ({changed}): {}", rewrite(self)));
        }
        match dialect {
            Dialect::Postgres => {
                let reviewed = self.pg_version.unwrap_or(0);
                if let Some(major) = crate::gate::major_version(server_version).filter(|major| *major < reviewed) {
                    let written = ReviewFile { pg_version: Some(major), ..self.clone() };
                    return Err(format!(
                        "{name} judged the migrations for PostgreSQL {reviewed} and later, and the server is {major}: {}",
                        rewrite(&written)
                    ));
                }
            }
            Dialect::Mysql => {
                if let Some(server) = cutover_analysis::MysqlServer::from_server_version(server_version) {
                    let reviewed: Option<cutover_analysis::MysqlServer> =
                        self.mysql_server.as_deref().and_then(|s| s.parse().ok());
                    // The same kind of server, as new or newer: later versions only allow more.
                    let holds = reviewed.is_some_and(|r| r.mariadb == server.mariadb && r.version <= server.version);
                    if !holds {
                        let written = ReviewFile { mysql_server: Some(server.to_string()), ..self.clone() };
                        return Err(format!(
                            "{name} judged the migrations for {} and its later versions, and the server is {server}: {}",
                            self.mysql_server.as_deref().unwrap_or("no server"),
                            rewrite(&written)
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
        let approval = |migration: &Migration, f: &ReviewedFinding, how: ApprovalKind, reason: String| {
            crate::gate::approval(migration, &f.rule, f.line, &f.message, how, reason)
        };
        for migration in pending {
            let Some(reviewed) = self.find(migration) else {
                review.unsafe_findings.push(format!(
                    "{}: not in the review as it is now: run `{}`",
                    migration.up.path.display(),
                    self.rewrite_command()
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
                review.unsafe_findings.push(crate::gate::finding_line(migration, &f.rule, f.line, &f.message, &f.help));
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
                        vec![format!("not in the review as it is now: run `{}` and rebuild", self.rewrite_command())],
                    );
                };
                let mut reasons: Vec<String> = reviewed
                    .findings
                    .iter()
                    .map(|f| format!("error[{}] at line {}: {}", f.rule, f.line, f.message))
                    .chain(
                        reviewed.accepted.iter().filter_map(|f| crate::gate::fails_anyway(&f.rule, f.line, &f.message)),
                    )
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cutover_engine::RelationFacts;

    use super::*;

    fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, MigrationSet) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let set = cutover_migration::discover(dir.path(), None).unwrap();
        (dir, set)
    }

    fn config(dialect: Dialect) -> LintConfig {
        LintConfig { dialect, ..LintConfig::default() }
    }

    #[test]
    fn a_mysql_review_holds_for_later_versions_of_the_same_server() {
        let (_dir, set) = folder(&[("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);\n")]);
        let mut config = config(Dialect::Mysql);
        config.mysql_server = "mariadb-10.11".parse().unwrap();
        let review = ReviewFile::compute(&set, &config);
        assert_eq!(review.mysql_server.as_deref(), Some("mariadb-10.11.0"));
        assert_eq!(review.pg_version, None);
        review.check(&set, Dialect::Mysql, "10.11.19-MariaDB-0+deb12u1").unwrap();
        review.check(&set, Dialect::Mysql, "11.4.2-MariaDB").unwrap();
        let older = review.check(&set, Dialect::Mysql, "10.6.18-MariaDB").unwrap_err();
        assert!(older.contains("judged the migrations for mariadb-10.11.0 and its later versions"), "{older}");
        assert!(older.contains("`cutover review --write --dialect mysql --server-version mariadb-10.6.18`"), "{older}");
        let other_kind = review.check(&set, Dialect::Mysql, "8.0.36").unwrap_err();
        assert!(other_kind.contains("the server is mysql-8.0.36"), "{other_kind}");
    }

    #[test]
    fn the_start_up_review_reads_live_sizes_and_refuses_what_cannot_run() {
        let (_dir, set) = folder(&[
            (
                "1_t.up.sql",
                "CREATE TABLE t (id int PRIMARY KEY, n int);\nALTER TABLE t ADD CONSTRAINT n_positive CHECK (n > 0) NOT VALID;\n",
            ),
            ("2_check.up.sql", "ALTER TABLE t VALIDATE CONSTRAINT n_positive;\n"),
            (
                "3_mixed.up.sql",
                "ALTER TABLE t ADD COLUMN m int;\n-- cutover:ignore concurrently-in-transaction reason=\"we know\"\nCREATE INDEX CONCURRENTLY t_m ON t (m);\n",
            ),
        ]);
        let review = ReviewFile::parse(&ReviewFile::compute(&set, &config(Dialect::Postgres)).to_json()).unwrap();
        let pending: Vec<&Migration> = set.migrations.iter().skip(1).collect();
        assert_eq!(review.startup_relations(&pending), ["t"]);

        // 2 GiB scanned at the assumed 200 MiB/s: about 10 s, over a 5 s limit.
        let facts: BTreeMap<String, RelationFacts> = [(
            "t".to_string(),
            RelationFacts { name: "t".to_string(), kind: "table".to_string(), rows: 10_000_000, bytes: 2 << 30 },
        )]
        .into();
        let limit = StartupLimit { facts: &facts, max: Duration::from_secs(5) };
        let reviews = review.startup_review(&pending, Some(&limit));
        assert_eq!(reviews[0].0, "2 check");
        assert!(reviews[0].1.iter().any(|r| r.contains("would take about 10 s")), "{:?}", reviews[0].1);
        let without_limit = review.startup_review(&pending, None);
        assert!(without_limit[0].1.is_empty(), "{:?}", without_limit[0].1);
        // Accepted by an ignore, but cutover refuses to run it: start-up would fail on it.
        assert!(
            reviews[1].1.iter().any(|r| r
                .contains("error[concurrently-in-transaction] at line 3 is accepted, but the statement cannot run")),
            "{:?}",
            reviews[1].1
        );
    }

    #[test]
    fn a_review_is_only_of_its_own_dialect_and_format() {
        let (_dir, set) = folder(&[("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);\n")]);
        let review = ReviewFile::compute(&set, &config(Dialect::Sqlite));
        assert_eq!((review.pg_version, review.mysql_server.as_deref()), (None, None));
        let other = review.check(&set, Dialect::Postgres, "PostgreSQL 15.8").unwrap_err();
        assert!(other.contains("cutover-review.postgres.json judged the migrations as sqlite"), "{other}");
        assert!(other.contains("`cutover review --write --dialect postgres`"), "{other}");
        let newer = review.to_json().replace("\"format\": 1", "\"format\": 2");
        assert!(ReviewFile::parse(&newer).unwrap_err().contains("a review in format 2"));
    }
}
