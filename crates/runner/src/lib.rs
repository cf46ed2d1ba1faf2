//! The migration algorithm, written once for every engine.
//!
//! Given a [`MigrationSet`](cutover_migration::MigrationSet) and a database behind
//! [`MigrationTarget`](cutover_engine::MigrationTarget), [`up`], [`down`], [`baseline`],
//! [`status`] and [`validate`] do what their commands say: take the runner lock, make sure the
//! history table exists, refuse a tampered history, apply each migration with its history row
//! in one transaction where the engine allows it (statement by statement with recorded
//! progress where it does not), retry on lock timeouts with backoff, and record every attempt.
//!
//! The runner knows no concrete engine, prints nothing ([`Reporter`] receives [`Event`]s), and
//! reads configuration only as resolved [`Settings`].
#![deny(missing_docs)]

mod adopt;
mod config;
mod context;
mod drift;
mod error;
mod estimate;
mod events;
mod executor;
mod gate;
mod identity;
mod integrity;
mod lint;
mod plan;
mod policy;
mod rehearse;
mod reviewed;
mod run;
mod select;
mod status;

pub use adopt::{adopt, AdoptSummary, Tool};
pub use config::{
    check_pg_version, parse_assume_runner, read_config_file, ConfigError, ConfigFile, LintSection, Overrides,
    PolicySection, Settings, UnsetVariable,
};
pub use cutover_analysis::Dialect;

/// The analysis dialect of an engine: migrations are judged by the database they run on.
pub fn dialect_of(engine: cutover_engine::Engine) -> Dialect {
    match engine {
        cutover_engine::Engine::Postgres => Dialect::Postgres,
        cutover_engine::Engine::Mysql => Dialect::Mysql,
        cutover_engine::Engine::Sqlite => Dialect::Sqlite,
    }
}
pub use context::Context;
pub use drift::{differences, drift, Change, ChangedRepeatable, Difference, DriftReport};
pub use error::{Error, MigrationFailure, Refusal};
pub use events::{Event, Reporter, Silent};
pub use gate::{
    locked_relations, startup_relations, startup_review, unsafe_findings, waiting_for_window, StartupLimit,
};
pub use identity::{now_rfc3339, runner_identity};
pub use lint::{lint_pending, lint_set, lint_set_with_batch, seed, LintedMigration};
pub use plan::{human_bytes, plan, MigrationPlan, Plan, PlanOptions, StatementPlan};
pub use policy::{window_state, Window};
pub use rehearse::{read_history, rehearse, MigrationRehearsal, RehearsalReport, RoundTrip, StatementRehearsal};
pub use reviewed::{review_file_name, ReviewFile, ReviewedFinding, ReviewedMigration};
pub use run::{baseline, down, status, up, validate, RunSummary};
pub use select::{tamper_problems, DownTarget, UpOptions, TAMPER_ADVICE};

/// Whether this build reads migrations of `dialect` itself (cutover-analysis's `postgres`,
/// `mysql` and `sqlite` features); where it does not, the gate needs a [`ReviewFile`].
pub fn grammar_built(dialect: Dialect) -> bool {
    match dialect {
        Dialect::Postgres => cfg!(feature = "postgres"),
        Dialect::Mysql => cfg!(feature = "mysql"),
        Dialect::Sqlite => cfg!(feature = "sqlite"),
    }
}
pub use status::{compute_status, MigrationState, MigrationStatus};
