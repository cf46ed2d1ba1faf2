//! What can go wrong in a run, each saying what happened, where, and what to do next.

use std::fmt;

use cutover_engine::{DbError, Direction};

use crate::ConfigError;

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The migrations directory could not be read.
    #[error(transparent)]
    Migrations(#[from] cutover_migration::Error),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database failed outside any migration (connecting, reading the history, locking).
    #[error("{context}: {source}")]
    Database {
        /// What was under way.
        context: String,
        /// The database's error.
        source: DbError,
    },
    /// The run was refused before anything was applied; the problems are listed.
    #[error("{0}")]
    Refused(Refusal),
    /// The command named something that is not there (a version no migration has, a number of
    /// steps larger than what is applied); nothing was done.
    #[error("{0}")]
    BadTarget(String),
    /// A migration failed; what was applied of it, and how to go on, is in the failure.
    #[error("{0}")]
    MigrationFailed(Box<MigrationFailure>),
    /// The applied migrations did not build on a scratch database (`cutover drift`), so what
    /// they build cannot be compared with the database; the message names the file and line.
    #[error("{0}")]
    Replay(String),
}

impl Error {
    pub(crate) fn database(context: impl Into<String>, source: DbError) -> Error {
        Error::Database { context: context.into(), source }
    }
}

/// A run refused before it changed anything.
#[derive(Debug)]
pub struct Refusal {
    /// One line per problem.
    pub problems: Vec<String>,
    /// What to do about them.
    pub advice: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Refusals come before any migration runs: of `up`, `down`, `adopt` alike (the
        // history table may have been made to read it).
        writeln!(f, "no migration was run or recorded:")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(f, "{}", self.advice)
    }
}

/// A migration that failed, with what was applied of it.
#[derive(Debug)]
pub struct MigrationFailure {
    /// `<version> <name>`.
    pub label: String,
    /// Up or down.
    pub direction: Direction,
    /// `file:line` of the failing statement, when a statement failed.
    pub location: Option<String>,
    /// The failing statement.
    pub statement: Option<String>,
    /// The database's error.
    pub error: DbError,
    /// How many tries were made.
    pub attempts: u32,
    /// Whether the script ran in one transaction (then nothing of it was applied).
    pub transactional: bool,
    /// Statements applied and recorded (non-transactional scripts).
    pub statements_done: usize,
    /// Statements in the script.
    pub statements_total: usize,
    /// Why the failure could not be recorded in the history, if it could not.
    pub record_error: Option<DbError>,
    /// The failing statement is the one a killed runner was running, and it failed on a lock
    /// or a lost connection: whether the killed runner's run of it finished is unknown, so the
    /// history still says `running` (not `failed`), and the next run checks again.
    pub maybe_done: bool,
    /// Where the engine shows who holds a lock (`MigrationTarget::lock_wait_advice`).
    pub lock_advice: String,
    /// The sessions that held locks on what the migration locks when its last lock wait gave
    /// up (`MigrationTarget::lock_holders`), a line each.
    pub lock_holders: Vec<String>,
}

impl fmt::Display for MigrationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.direction {
            Direction::Up => "migration",
            Direction::Down => "reverting migration",
        };
        write!(f, "{what} {} failed", self.label)?;
        if let Some(location) = &self.location {
            write!(f, " at {location}")?;
        }
        write!(f, ": {}", self.error)?;
        if self.attempts > 1 {
            write!(f, " (after {} tries)", self.attempts)?;
        }
        if let Some(statement) = &self.statement {
            let one_line: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
            let shown: String = one_line.chars().take(200).collect();
            let ellipsis = if one_line.chars().count() > 200 { "..." } else { "" };
            write!(f, "\n  statement: {shown}{ellipsis}")?;
        }
        let rerun = match self.direction {
            Direction::Up => "cutover up",
            Direction::Down => "cutover down",
        };
        if self.transactional {
            write!(f, "\n  nothing of it was applied: its transaction was rolled back")?;
        } else if self.maybe_done {
            let next = self.statements_done + 1;
            if self.statements_done > 0 {
                write!(
                    f,
                    "\n  statements 1 to {} of {} were applied and recorded;",
                    self.statements_done, self.statements_total
                )?;
            } else {
                write!(f, "\n ")?;
            }
            write!(
                f,
                " statement {next} was running when an earlier runner was killed, and the server may have finished it: nothing was recorded as failed (the history still says `running`), and `{rerun}` runs it again, counting it as done if its work is there"
            )?;
        } else if self.statements_done == 0 {
            write!(
                f,
                "\n  none of its {} statements was applied; `{rerun}` runs it from the start",
                self.statements_total
            )?;
        } else {
            let next = self.statements_done + 1;
            write!(
                f,
                "\n  statements 1 to {} of {} were applied and recorded; `{rerun}` resumes at statement {next}",
                self.statements_done, self.statements_total
            )?;
        }
        if self.error.is_lock_contention() && !self.lock_holders.is_empty() {
            write!(f, "\n  another session held a conflicting lock for longer than the lock timeout:")?;
            for holder in &self.lock_holders {
                write!(f, "\n    {holder}")?;
            }
            write!(f, "\n  wait for it to finish (or stop it), or retry when traffic is lower; {}", self.lock_advice)?;
        } else if self.error.is_lock_contention() {
            write!(
                f,
                "\n  another session held a conflicting lock for longer than the lock timeout; {}, or retry when traffic is lower",
                self.lock_advice
            )?;
        } else if self.error.kind == cutover_engine::DbErrorKind::Connection {
            write!(f, "\n  the database connection was lost (the session was terminated, the server restarted, or the network failed); the history is consistent: run `{rerun}` again once the database is back")?;
        } else {
            write!(f, "\n  fix the script and run `{rerun}` again")?;
        }
        if let Some(record_error) = &self.record_error {
            write!(f, "\n  the failure could not be recorded in the history: {record_error}")?;
        }
        Ok(())
    }
}
