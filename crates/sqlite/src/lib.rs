//! SQLite engine for cutover, the embedded default: no server, no system library (`rusqlite`
//! with the bundled SQLite).
//!
//! Implements `cutover_engine::MigrationTarget`:
//! - the history table, append-only by triggers that abort `UPDATE` and `DELETE`;
//! - the runner lock, an OS file lock on `<database>.cutover-lock`: SQLite has no advisory
//!   locks, and holding its write lock for a whole run would stall the application, while a
//!   file lock is released by the kernel when the process dies, even by SIGKILL;
//! - transactions begun with `BEGIN IMMEDIATE`, so the write lock is taken up front (or not at
//!   all) instead of failing half-way; the lock timeout is SQLite's busy timeout, and the
//!   statement timeout interrupts the statement from a progress handler.
#![deny(missing_docs)]

mod connect;
mod error;
mod migrate;

pub use connect::{connect, SqliteTarget};
