//! What every command runs with: the database, the settings, the reporter; the runner lock
//! and the history read under it.

use std::time::Instant;

use cutover_engine::{HistoryRecord, MigrationTarget, Timeouts};
use cutover_migration::ScriptSettings;

use crate::identity::{now_rfc3339, runner_identity, TOOL_VERSION};
use crate::{Error, Event, Reporter, Settings};

/// What a run needs: the database, the settings, and where to report progress.
pub struct Context<'a> {
    /// The database.
    pub target: &'a mut dyn MigrationTarget,
    /// The resolved settings.
    pub settings: &'a Settings,
    /// Receives progress events.
    pub reporter: &'a mut dyn Reporter,
}

pub(crate) fn read_history_if_any(ctx: &mut Context<'_>) -> Result<Vec<HistoryRecord>, Error> {
    let exists = ctx.target.history_exists().map_err(|e| Error::database("cannot read the history", e))?;
    if !exists {
        return Ok(Vec::new());
    }
    ctx.target.read_history().map_err(|e| Error::database("cannot read the history", e))
}

pub(crate) fn acquire_lock(ctx: &mut Context<'_>) -> Result<cutover_engine::LockGuard, Error> {
    let started = Instant::now();
    let owner = format!("cutover {TOOL_VERSION} {} since {}", runner_identity(), now_rfc3339());
    let reporter = &mut *ctx.reporter;
    ctx.target
        .acquire_runner_lock(&owner, ctx.settings.runner_lock_wait, &mut |holder| {
            reporter.report(Event::WaitingForLock { holder, waited: started.elapsed() });
        })
        .map_err(|e| Error::database("cannot take the migration lock", e))
}

pub(crate) fn timeouts(settings: &Settings, script: &ScriptSettings) -> Timeouts {
    Timeouts {
        lock_timeout: script.lock_timeout.unwrap_or(settings.lock_timeout),
        statement_timeout: script.statement_timeout.unwrap_or(settings.statement_timeout),
    }
}
