//! Which migrations a command selects, from the files and the history alone (no I/O): the
//! versions a command names must exist, a tampered history is refused, `up` applies what is
//! pending in order and stops before a declarative migration.

use cutover_engine::{Direction, HistoryRecord};
use cutover_migration::{Migration, MigrationSet, Version};

use crate::error::Refusal;
use crate::status::{migration_of, MigrationState, MigrationStatus};
use crate::Error;

/// Options of `up`.
#[derive(Debug, Default, Clone)]
pub struct UpOptions {
    /// Apply up to and including this version only.
    pub to: Option<Version>,
    /// Report what would run, change nothing.
    pub dry_run: bool,
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Apply migrations with error-level findings that no `cutover:ignore` accepts.
    pub allow_unsafe: bool,
    /// Apply migrations that wait for a maintenance window now, for this reason (recorded).
    pub outside_window: Option<String>,
}

/// Options of `down`.
#[derive(Debug, Clone)]
pub enum DownTarget {
    /// Revert the newest `n` applied migrations; refused when fewer are applied.
    Steps(usize),
    /// Revert every applied migration newer than this version, which must be applied itself.
    To(Version),
    /// Revert every applied migration.
    All,
}

/// A version a command names must be a migration's: a typo must not select "everything older"
/// or "everything newer". The error names the nearest versions there are.
/// Returns the version meant: the one named, or what the layout says it stands for (a
/// temporal-sql-tool version whose files are `1.3.1` and `1.3.2` stands for the last of them).
pub(crate) fn check_version_exists(set: &MigrationSet, version: &Version, command: &str) -> Result<Version, Error> {
    let versions: Vec<&Version> = set.migrations.iter().filter_map(|m| m.version.as_ref()).collect();
    // The migration's own spelling (`020240102000000` given is `20240102000000`): what the
    // history records and messages say (tester 18: the baseline echoed the typed zeros).
    if let Some(found) = versions.iter().find(|v| **v == version) {
        return Ok((*found).clone());
    }
    if let Some(meant) = set.layout.stands_for(&set.dir, version, &versions) {
        return Ok(meant);
    }
    let below = versions.iter().filter(|v| **v < version).max();
    let above = versions.iter().filter(|v| **v > version).min();
    let nearest = match (below, above) {
        (Some(b), Some(a)) => format!("the nearest are {b} and {a}"),
        (Some(v), None) | (None, Some(v)) => format!("the nearest is {v}"),
        (None, None) => "the folder has no versioned migrations".to_string(),
    };
    Err(Error::BadTarget(format!(
        "`{command} {version}`: no migration has version {version} ({nearest}); nothing was done. `cutover status` lists the versions"
    )))
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What to do about an applied migration whose file was edited or removed.
pub const TAMPER_ADVICE: &str = "an applied migration is history: restore its file exactly as it was applied and put the change in a new migration; `cutover validate` lists every difference";

/// The applied migrations whose files were edited or removed since, each in a sentence: `up`
/// refuses them, and `lint --pending` fails on them.
pub fn tamper_problems(set: &MigrationSet, statuses: &[MigrationStatus]) -> Vec<String> {
    let mut problems = Vec::new();
    for status in statuses {
        let label = status.label();
        let applied_at = status.applied_at.as_deref().unwrap_or("an unknown time");
        match status.state {
            MigrationState::Modified => {
                let path = migration_of(set, status).map(|m| m.up.path.display().to_string()).unwrap_or_default();
                let recorded = status.latest.as_ref().map_or("", |r| r.checksum.as_str());
                problems.push(format!(
                    "`{path}` ({label}) was edited after it was applied at {applied_at}: checksum {} now, {} when applied",
                    short(&status.checksum),
                    short(recorded)
                ));
            }
            MigrationState::Missing => {
                let script = status.latest.as_ref().map_or("", |r| r.script.as_str());
                // Another migration still read from that file: only the changeset went.
                let file_read =
                    set.migrations.iter().any(|m| crate::identity::relative_path(set, &m.up.path) == script);
                let gone = if set.layout.identifies_by_name() && file_read {
                    format!("its changeset is gone from `{script}`")
                } else {
                    format!("its file `{script}` is gone")
                };
                match status.part_way_words() {
                    Some(part_way) => problems.push(format!("{label} {part_way}, but {gone}")),
                    None => problems.push(format!("{label} was applied at {applied_at}, but {gone}")),
                }
            }
            _ => {}
        }
    }
    problems
}

fn short(checksum: &str) -> &str {
    &checksum[..checksum.len().min(12)]
}

pub(crate) type PlanStep<'a> = (&'a Migration, Option<&'a HistoryRecord>);

/// The migrations `up` applies, in order, or why it refuses.
pub(crate) fn plan_up<'a>(
    set: &'a MigrationSet,
    statuses: &'a [MigrationStatus],
    options: &UpOptions,
) -> Result<Vec<PlanStep<'a>>, Error> {
    let mut problems = tamper_problems(set, statuses);
    let mut advice = vec![];
    if !problems.is_empty() {
        advice.push(TAMPER_ADVICE.to_string());
    }
    let out_of_order: Vec<String> = statuses
        .iter()
        .filter(|s| s.state == MigrationState::Pending && s.out_of_order)
        .map(|s| {
            format!("{} is older than the newest applied migration and was never applied (out of order)", s.label())
        })
        .collect();
    if !out_of_order.is_empty() && !options.allow_out_of_order {
        problems.extend(out_of_order);
        advice.push("check that they do not depend on newer migrations, then apply them with `cutover up --allow-out-of-order` (or give them newer versions)".to_string());
    }
    for status in statuses {
        let half_reverted = matches!(
            (status.state, &status.latest),
            (MigrationState::Failed | MigrationState::Running, Some(r)) if r.direction == Direction::Down && !r.transactional && r.statements_done > 0
        );
        if half_reverted {
            problems.push(format!("{} stopped half-way through its down script", status.label()));
            advice.push("finish reverting it with `cutover down` before applying anything".to_string());
        }
    }
    if !problems.is_empty() {
        return Err(Error::Refused(Refusal { problems, advice: advice.join("; ") }));
    }

    let mut plan = Vec::new();
    for status in statuses {
        let Some(migration) = migration_of(set, status) else {
            continue;
        };
        let wanted = match (&migration.version, &options.to) {
            (Some(version), Some(to)) => version <= to,
            (Some(_), None) => true,
            // Repeatable migrations run after all versioned ones, so not with --to.
            (None, to) => to.is_none(),
        };
        let pending = status.state.is_to_apply();
        if wanted && pending {
            plan.push((migration, status.latest.as_ref()));
        }
    }
    // A declarative migration is applied in phases, with old and new code running between
    // them: `up` applies what comes before the first one and stops there.
    if let Some(at) = plan.iter().position(|(m, _)| m.kind == cutover_migration::MigrationKind::Declarative) {
        plan.truncate(at);
    }
    Ok(plan)
}

/// The first pending declarative migration within `--to`, which `up` stops before.
pub(crate) fn next_declarative<'a>(
    set: &'a MigrationSet,
    statuses: &[MigrationStatus],
    options: &UpOptions,
) -> Option<&'a cutover_migration::Migration> {
    statuses.iter().find_map(|status| {
        let migration = migration_of(set, status)?;
        let within = match (&migration.version, &options.to) {
            (Some(version), Some(to)) => version <= to,
            _ => true,
        };
        let pending = matches!(status.state, MigrationState::Pending | MigrationState::Failed);
        (migration.kind == cutover_migration::MigrationKind::Declarative && within && pending).then_some(migration)
    })
}
