//! One dispatch from a database URL to cutover's engine for it, in the manner of sqlx's
//! `AnyConnection`: [`AnyTarget::connect`] is the only place that matches on the URL's
//! [`Engine`]; everything else asks an `AnyTarget` for the capability it needs (migrations,
//! backfills, expand/contract, the live catalog) and gets the engine's implementation or an
//! [`Unsupported`] that says why not and what to do instead.
//!
//! The CLI and the embedding crate both connect through here; the runner, the backfill and
//! the expand/contract engine stay unaware of any concrete engine.
#![deny(missing_docs)]

use cutover_engine::{AdoptTarget, BackfillTarget, DatabaseUrl, DbError, Engine, ExpandTarget, MigrationTarget};
use cutover_mysql::MysqlTarget;
use cutover_postgres::PgTarget;
use cutover_sqlite::SqliteTarget;

/// A connected database of any engine.
pub enum AnyTarget {
    /// PostgreSQL (boxed: its target keeps prepared statements and TLS state).
    Postgres(Box<PgTarget>),
    /// MySQL or MariaDB.
    Mysql(MysqlTarget),
    /// SQLite.
    Sqlite(SqliteTarget),
}

/// How to connect, beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The history table, optionally schema- (or database-) qualified.
    pub history_table: String,
    /// Shown to the server's session views where the engine has them, so that a waiting
    /// runner can say who holds the lock.
    pub application_name: String,
}

impl ConnectOptions {
    /// The options for `history_table`, named as this version of cutover.
    pub fn new(history_table: &str) -> ConnectOptions {
        ConnectOptions {
            history_table: history_table.to_string(),
            application_name: format!("cutover {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// What an engine cannot do, and why: a usage error, nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} on {engine}: {why}")]
pub struct Unsupported {
    /// The engine asked.
    pub engine: Engine,
    /// What was asked of it.
    pub what: &'static str,
    /// Why not, and what to do instead.
    pub why: &'static str,
}

impl AnyTarget {
    /// Connects to the database `url` names.
    pub fn connect(url: &DatabaseUrl, options: &ConnectOptions) -> Result<AnyTarget, DbError> {
        Ok(match url.engine() {
            Engine::Postgres => {
                let options = cutover_postgres::ConnectOptions {
                    history_table: options.history_table.clone(),
                    application_name: options.application_name.clone(),
                };
                AnyTarget::Postgres(Box::new(cutover_postgres::connect(url, &options)?))
            }
            Engine::Mysql => AnyTarget::Mysql(cutover_mysql::connect(url, &options.history_table)?),
            Engine::Sqlite => AnyTarget::Sqlite(cutover_sqlite::connect(url, &options.history_table)?),
        })
    }

    /// Which engine it is.
    pub fn engine(&self) -> Engine {
        match self {
            AnyTarget::Postgres(_) => Engine::Postgres,
            AnyTarget::Mysql(_) => Engine::Mysql,
            AnyTarget::Sqlite(_) => Engine::Sqlite,
        }
    }

    /// Migrations: every engine.
    pub fn migration(&mut self) -> &mut dyn MigrationTarget {
        match self {
            AnyTarget::Postgres(t) => &mut **t,
            AnyTarget::Mysql(t) => t,
            AnyTarget::Sqlite(t) => t,
        }
    }

    /// The same, owned.
    pub fn into_migration(self) -> Box<dyn MigrationTarget> {
        match self {
            AnyTarget::Postgres(t) => t,
            AnyTarget::Mysql(t) => Box::new(t),
            AnyTarget::Sqlite(t) => Box::new(t),
        }
    }

    /// Taking over another tool's history: every engine.
    pub fn adopt(&mut self) -> &mut dyn AdoptTarget {
        match self {
            AnyTarget::Postgres(t) => &mut **t,
            AnyTarget::Mysql(t) => t,
            AnyTarget::Sqlite(t) => t,
        }
    }

    /// Batched backfills: PostgreSQL and MySQL/MariaDB. `replicas` are MySQL replicas to read
    /// the lag of (the primary cannot see it; PostgreSQL reports its replicas' lag itself).
    pub fn into_backfill(self, replicas: Vec<DatabaseUrl>) -> Result<Box<dyn BackfillTarget>, Unsupported> {
        const WHAT: &str = "backfills";
        match self {
            AnyTarget::Postgres(_) if !replicas.is_empty() => Err(Unsupported {
                engine: Engine::Postgres,
                what: "--replica-url",
                why: "it is for MySQL/MariaDB; PostgreSQL reports its replicas' lag itself (pg_stat_replication)",
            }),
            AnyTarget::Postgres(t) => Ok(t),
            AnyTarget::Mysql(t) => Ok(Box::new(t.with_replicas(replicas))),
            AnyTarget::Sqlite(_) => Err(Unsupported {
                engine: Engine::Sqlite,
                what: WHAT,
                why:
                    "one UPDATE locks the whole database anyway, so batches gain nothing; run the UPDATE in a migration",
            }),
        }
    }

    /// Two live schema versions (expand/contract): PostgreSQL. SQLite applies a declarative
    /// migration whole (see [`AnyTarget::sqlite`]); MySQL has neither views that can stand in
    /// for a table's writes nor transactional DDL.
    pub fn expand(&mut self) -> Result<&mut dyn ExpandTarget, Unsupported> {
        match self {
            AnyTarget::Postgres(t) => Ok(&mut **t),
            AnyTarget::Mysql(_) => Err(Unsupported {
                engine: Engine::Mysql,
                what: "expand/contract migrations",
                why: "they run on PostgreSQL (views, triggers and transactional DDL make two live versions safe) and SQLite (applied whole)",
            }),
            AnyTarget::Sqlite(_) => Err(Unsupported {
                engine: Engine::Sqlite,
                what: "complete and rollback",
                why: "`cutover start` applies a declarative migration whole there (one version at a time), so there is nothing to complete or roll back",
            }),
        }
    }

    /// The live catalog and rehearsals on a scratch copy (`plan`, `rehearse`): PostgreSQL.
    pub fn into_postgres(self, what: &'static str) -> Result<PgTarget, Unsupported> {
        let why = "it reads PostgreSQL's catalog";
        match self {
            AnyTarget::Postgres(t) => Ok(*t),
            AnyTarget::Mysql(_) => Err(Unsupported { engine: Engine::Mysql, what, why }),
            AnyTarget::Sqlite(_) => Err(Unsupported { engine: Engine::Sqlite, what, why }),
        }
    }

    /// The SQLite engine itself, where a command works differently there.
    pub fn sqlite(&mut self) -> Option<&mut SqliteTarget> {
        match self {
            AnyTarget::Sqlite(t) => Some(t),
            _ => None,
        }
    }
}
