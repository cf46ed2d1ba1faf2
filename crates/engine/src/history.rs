//! The history: an append-only log of every attempt to change the schema.
//!
//! Rows are only ever inserted. The state of a migration is the state of its latest row, so
//! the log keeps every failure, retry and revert, and nothing needs hand-written SQL to repair.

use std::fmt;

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A non-transactional script is under way; `statements_done` says how far it got.
    Running,
    /// The script finished.
    Applied,
    /// The script failed; for a non-transactional script `statements_done` were applied.
    Failed,
    /// The down script finished.
    Reverted,
    /// Marked as applied by `baseline` without running.
    Baselined,
}

impl State {
    /// The name stored in the history.
    pub fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Applied => "applied",
            State::Failed => "failed",
            State::Reverted => "reverted",
            State::Baselined => "baselined",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<State> {
        [State::Running, State::Applied, State::Failed, State::Reverted, State::Baselined]
            .into_iter()
            .find(|state| state.name() == name)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a row is about the up or the down script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The up script.
    Up,
    /// The down script.
    Down,
}

impl Direction {
    /// The name stored in the history.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<Direction> {
        match name {
            "up" => Some(Direction::Up),
            "down" => Some(Direction::Down),
            _ => None,
        }
    }
}

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A versioned migration.
    Versioned,
    /// A repeatable migration.
    Repeatable,
    /// A baseline marker: everything up to its version counts as applied.
    Baseline,
}

impl RecordKind {
    /// The name stored in the history.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Versioned => "versioned",
            RecordKind::Repeatable => "repeatable",
            RecordKind::Baseline => "baseline",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<RecordKind> {
        match name {
            "versioned" => Some(RecordKind::Versioned),
            "repeatable" => Some(RecordKind::Repeatable),
            "baseline" => Some(RecordKind::Baseline),
            _ => None,
        }
    }
}

/// One row of the history.
///
/// `id` and `installed_by` are filled in by the engine: they are ignored when appending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Insertion order.
    pub id: i64,
    /// The migration's version; `None` for repeatable migrations.
    pub version: Option<String>,
    /// The migration's name.
    pub name: String,
    /// What the row is about.
    pub kind: RecordKind,
    /// Up or down.
    pub direction: Direction,
    /// What happened.
    pub state: State,
    /// The script's path relative to the migrations directory.
    pub script: String,
    /// The migration's checksum when the row was written.
    pub checksum: String,
    /// Whether the script ran in one transaction.
    pub transactional: bool,
    /// Statements in the script.
    pub statements_total: i64,
    /// Statements known to be applied (for resuming a non-transactional script).
    pub statements_done: i64,
    /// Checksum of the first `statements_done` statements, so a resume can check that they
    /// were not edited since.
    pub prefix_checksum: Option<String>,
    /// When the attempt started (RFC 3339, UTC).
    pub started_at: String,
    /// When the row was written, if the attempt ended (RFC 3339, UTC).
    pub finished_at: Option<String>,
    /// How long the attempt took.
    pub duration_ms: Option<i64>,
    /// The error, for failed attempts.
    pub error_message: Option<String>,
    /// The SQLSTATE of the error.
    pub error_sqlstate: Option<String>,
    /// The statement that failed.
    pub error_statement: Option<String>,
    /// Where it is: `file:line`.
    pub error_location: Option<String>,
    /// The database user that ran it.
    pub installed_by: String,
    /// Who ran it: `user@host pid N` (OS user, host, process id).
    pub runner: String,
    /// cutover's version.
    pub tool_version: String,
}

/// A finding someone accepted before a migration ran, kept beside the history for audits: an
/// error-level finding ignored with a reason in the file, or one run through with
/// `--allow-unsafe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Row id, in insertion order (0 before insertion).
    pub id: i64,
    /// The migration's version (`None` for repeatable ones).
    pub version: Option<String>,
    /// The migration's name.
    pub name: String,
    /// The rule whose finding was accepted.
    pub rule: String,
    /// `ignore` (a `cutover:ignore` comment with a reason), `allow-unsafe` (the flag) or
    /// `outside-window` (a heavy migration run outside every maintenance window).
    pub how: String,
    /// Why: the ignore's reason, or the flag.
    pub reason: String,
    /// `file:line` of the statement.
    pub location: String,
    /// The finding's message.
    pub message: String,
    /// Who ran it: `user@host pid N`.
    pub approved_by: String,
    /// When (RFC 3339).
    pub approved_at: String,
}
