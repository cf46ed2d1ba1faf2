//! MySQL/MariaDB engine for cutover.
//!
//! Implements `cutover_engine::MigrationTarget` with the `mysql` driver:
//! - DDL is not transactional: every `CREATE`/`ALTER`/`DROP` commits implicitly, so the runner
//!   applies migrations statement by statement with their progress in the history
//!   (`transactional_ddl` is false), and a failed migration resumes at its failing statement;
//! - the history table, append-only by triggers that reject `UPDATE` and `DELETE`;
//! - the runner lock, `GET_LOCK` *polled* with a zero timeout on a connection of its own, named
//!   after the database and history table (the lock is server-wide);
//! - the lock timeout is `lock_wait_timeout` (metadata locks: the queue an `ALTER TABLE` waits
//!   in while every later query on the table waits behind it) and `innodb_lock_wait_timeout`
//!   (row locks), in whole seconds; the statement timeout is MariaDB's `max_statement_time`
//!   (MySQL's `max_execution_time` covers only `SELECT`);
//! - TLS through `ssl-mode` in the URL (`DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA`,
//!   `VERIFY_IDENTITY`) and `ssl-ca`, with the MySQL client's meaning.
#![deny(missing_docs)]

mod backfill;
mod connect;
mod error;
mod live;
mod lock_watch;
mod migrate;
mod rehearse;
mod rewrite;

pub use connect::{connect, MysqlTarget};
pub use rehearse::MysqlScratch;
