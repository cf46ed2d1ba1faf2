//! The history: an append-only log of every attempt to change the schema.
//!
//! Rows are only ever inserted. The state of a migration is the state of its latest row, so
//! the log keeps every failure, retry and revert, and nothing needs hand-written SQL to repair.

stored_names! {
    /// What a history row records.
    pub enum State ("history state") {
        /// A non-transactional script is under way; `statements_done` says how far it got.
        Running = "running",
        /// The script finished.
        Applied = "applied",
        /// The script failed; for a non-transactional script `statements_done` were applied.
        Failed = "failed",
        /// The down script finished.
        Reverted = "reverted",
        /// Marked as applied by `baseline` without running.
        Baselined = "baselined",
    }
}

stored_names! {
    /// Whether a row is about the up or the down script.
    pub enum Direction ("direction") {
        /// The up script.
        Up = "up",
        /// The down script.
        Down = "down",
    }
}

stored_names! {
    /// What a row is about.
    pub enum RecordKind ("record kind") {
        /// A versioned migration.
        Versioned = "versioned",
        /// A repeatable migration.
        Repeatable = "repeatable",
        /// A baseline marker: everything up to its version counts as applied.
        Baseline = "baseline",
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

stored_names! {
    /// How a finding was accepted.
    pub enum ApprovalKind ("approval kind") {
        /// A `cutover:ignore` comment with a reason.
        Ignore = "ignore",
        /// The `--allow-unsafe` flag.
        AllowUnsafe = "allow-unsafe",
        /// A heavy migration run outside every maintenance window (`--outside-window`).
        OutsideWindow = "outside-window",
    }
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
    /// How it was accepted.
    pub how: ApprovalKind,
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
