//! Migration files: what a migration is, and how to read one in every common layout.
//!
//! This crate turns a directory into a [`MigrationSet`]: versions ([`Version`]), scripts split
//! into [`Statement`]s with their file lines, per-script settings from directives
//! ([`ScriptSettings`]), and checksums of the normalized text ([`Checksum`]).
//!
//! It reads files and nothing else: it knows no database and no engine. Layouts read as they
//! are: cutover's own, Flyway, golang-migrate, sqlx, dbmate, goose, diesel, Prisma, pop/popx,
//! Sqitch, Liquibase formatted SQL and Atlas ([`Layout`]).
#![deny(missing_docs)]

mod checksum;
mod directive;
mod discover;
mod error;
mod layouts;
mod model;
mod scaffold;
mod split;
mod transaction;
mod version;

pub use checksum::{normalize, Checksum};
pub use directive::{
    check_lock_timeout, check_statement_timeout, parse_duration, parse_lock_timeout, parse_statement_timeout,
    read_directives, DirectiveError, NoTransactionMarker, ScriptSettings, MAX_TIMEOUT,
};
pub use discover::{
    discover, discover_for, discover_to_lint, discover_to_lint_with, discover_with, mixed_transaction, ReadOptions,
    MAX_FILE_BYTES,
};
pub use error::Error;
pub use layouts::{atlas_sum, liquibase_changesets, parse_version_name, LiquibaseChangeset};
pub use model::{Dialect, Ignored, Layout, Migration, MigrationKind, MigrationSet, Script};
pub use scaffold::{create_migration, is_untouched_template, write_new_migration};
pub use split::{block_comments, leading_keywords, line_comments, split_statements, SplitError, Statement};
pub use transaction::{refuses_transaction, sets_the_transaction, transactionality, Transactionality};
pub use version::Version;
