//! PostgreSQL engine for cutover.
//!
//! Implements `cutover_engine::MigrationTarget` with the `postgres` driver:
//! - the history table, append-only by a trigger that rejects `UPDATE`, `DELETE` and `TRUNCATE`;
//! - the runner lock, a session advisory lock taken with `pg_try_advisory_lock` *polled* on a
//!   connection of its own: a blocking `pg_advisory_lock` in a waiting runner is an open
//!   transaction that `CREATE INDEX CONCURRENTLY` in the running one waits for, a deadlock
//!   PostgreSQL cannot see (flyway#1654, golang-migrate#960);
//! - transactions with `SET LOCAL lock_timeout` and `statement_timeout`;
//! - TLS through `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`) and
//!   `sslrootcert` in the URL, with libpq's meaning.
#![deny(missing_docs)]

mod backfill;
mod concurrent;
mod connect;
mod error;
mod expand;
mod live;
mod lock_watch;
mod migrate;
mod rewrite;
mod schema;
mod version_views;

pub use connect::{connect, ConnectOptions, PgTarget};
pub use live::ScratchDatabase;
