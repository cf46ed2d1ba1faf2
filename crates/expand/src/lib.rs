//! Expand/contract migrations: two live schema versions over one set of tables.
//!
//! A declarative migration (`<version>_<name>.toml`, [`ops`]) is planned once ([`plan`], pure)
//! into the SQL of three commands: `start` expands (new and shadow columns, dual-write
//! triggers, batched backfills, constraints added NOT VALID then validated) and publishes the
//! new version as a schema of views; `complete` contracts (the old version's objects removed,
//! shadows swapped in) in one transaction with the history row; `rollback` undoes `start`.
//! [`run`] executes a plan through `cutover_engine::ExpandTarget`, recording each phase so
//! that a crash at any point resumes or rolls back cleanly.
#![deny(missing_docs)]

pub mod ops;
pub mod plan;
pub mod report;
pub mod run;
pub mod sessions;
pub mod sql;
pub mod sqlite;

pub use ops::{parse_declaration, read_declaration, Declaration, DeclarationError, Operation};
pub use plan::{plan, Plan, PlanError, PlanInput};
pub use run::{
    complete, is_own_table, rewrite_owner, rollback, start, start_sqlite, status, ActiveMigration, Error, Event,
    Options, Reporter, Summary,
};
pub use sessions::{Census, OldSession, Placement, Versions};
