//! What a run tells its caller as it goes. The runner prints nothing: the CLI (or an embedding
//! application) decides how events look.

use std::time::Duration;

use cutover_engine::{DbError, Direction, LockHolder};
use cutover_migration::{Migration, Script};

/// Something that happened during a run.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Another runner holds the lock; this one waits.
    WaitingForLock {
        /// Who holds it.
        holder: &'a LockHolder,
        /// How long this runner has waited so far.
        waited: Duration,
    },
    /// Findings accepted by ignores with a reason, or by `--allow-unsafe`, were recorded.
    Approved {
        /// What was accepted.
        approvals: &'a [cutover_engine::Approval],
    },
    /// A migration script starts.
    Starting {
        /// The migration.
        migration: &'a Migration,
        /// Up or down.
        direction: Direction,
        /// Statements already applied by an earlier, interrupted attempt.
        resume_at: usize,
    },
    /// A try failed on a lock; the migration will be tried again.
    Retrying {
        /// The migration.
        migration: &'a Migration,
        /// The try that failed (1-based).
        attempt: u32,
        /// How many tries there are in all.
        tries: u32,
        /// The pause before the next try.
        delay: Duration,
        /// The lock error.
        error: &'a DbError,
        /// The sessions that held locks on what the migration locks when the wait gave up.
        holders: &'a [LockHolder],
    },
    /// Leftovers of an earlier failed statement were removed before running it again.
    Cleared {
        /// The migration.
        migration: &'a Migration,
        /// What was removed.
        what: &'a str,
    },
    /// The statement a killed runner was running had finished (before it died, or on the
    /// server after it, MySQL finishing a statement whose client is gone): running it
    /// again says its work is there (`DbErrorKind::AlreadyDone`), so it counts as done.
    AlreadyDone {
        /// The migration.
        migration: &'a Migration,
        /// The statement's number, from 1.
        statement: usize,
        /// What the database said.
        error: &'a DbError,
    },
    /// The statement a killed runner was running still runs on the server in another session;
    /// this runner waits for it to end before running it again.
    StillRunning {
        /// The migration.
        migration: &'a Migration,
        /// The statement's number, from 1.
        statement: usize,
        /// The session that runs it.
        running: &'a cutover_engine::StillRunning,
        /// How long this runner has waited so far.
        waited: Duration,
    },
    /// `baseline` adopted a database whose history had lost rows: the history is trusted again
    /// from this baseline on; the guard keeps what was lost.
    BaselineOverLostHistory {
        /// How many rows the history had lost or had rewritten.
        lost: usize,
    },
    /// A migration script finished.
    Finished {
        /// The migration.
        migration: &'a Migration,
        /// Up or down.
        direction: Direction,
        /// How long it took, tries included.
        duration: Duration,
    },
    /// `--dry-run`: what would run.
    WouldRun {
        /// The migration.
        migration: &'a Migration,
        /// Up or down.
        direction: Direction,
        /// The script.
        script: &'a Script,
        /// Statements an interrupted attempt already applied, which would be skipped.
        resume_at: usize,
        /// Whether it would run in one transaction (the script allows it and the engine's DDL
        /// is transactional; MySQL commits around every DDL statement).
        transactional: bool,
    },
}

/// Receives the events of a run.
pub trait Reporter {
    /// Called for each event.
    fn report(&mut self, event: Event<'_>);
}

/// A reporter that drops every event.
pub struct Silent;

impl Reporter for Silent {
    fn report(&mut self, _event: Event<'_>) {}
}
