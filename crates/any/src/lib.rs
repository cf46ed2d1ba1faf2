//! One dispatch from a database URL to cutover's engine for it, in the manner of sqlx's
//! `AnyConnection`: [`AnyTarget::connect`] is the only place that matches on the URL's
//! [`Engine`]; everything else asks an `AnyTarget` for the capability it needs (migrations,
//! backfills, expand/contract, the live catalog) and gets the engine's implementation or an
//! [`Unsupported`] that says why not and what to do instead.
//!
//! The CLI and the embedding crate both connect through here; the runner, the backfill and
//! the expand/contract engine stay unaware of any concrete engine.
//!
//! Each engine is a Cargo feature (`postgres`, `mysql`, `sqlite`, all on by default): an
//! application that embeds cutover for one engine builds and links that engine's driver only.
//! A URL of an engine left out is refused when connecting, with the feature to turn on.
#![deny(missing_docs)]

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!(
    "cutover needs at least one engine: enable one of cutover-embed's features `postgres`, `mysql`, `sqlite` \
     (or `postgres-driver`, `mysql-driver`, `sqlite-driver`: the driver alone), or cutover-any's `postgres`, `mysql`, `sqlite`"
);

use cutover_engine::{
    AdoptTarget, BackfillTarget, DatabaseUrl, DbError, DbErrorKind, Engine, ExpandTarget, LiveDatabase,
    MigrationTarget, RewriteTarget,
};
#[cfg(feature = "mysql")]
use cutover_mysql::MysqlTarget;
#[cfg(feature = "postgres")]
use cutover_postgres::PgTarget;
#[cfg(feature = "sqlite")]
use cutover_sqlite::SqliteTarget;

/// A connected database of any engine this build has.
pub enum AnyTarget {
    /// PostgreSQL (boxed: its target keeps prepared statements and TLS state).
    #[cfg(feature = "postgres")]
    Postgres(Box<PgTarget>),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(MysqlTarget),
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteTarget),
}

/// The engines this build can connect to.
pub fn engines_built() -> Vec<Engine> {
    let mut engines = Vec::new();
    if cfg!(feature = "postgres") {
        engines.push(Engine::Postgres);
    }
    if cfg!(feature = "mysql") {
        engines.push(Engine::Mysql);
    }
    if cfg!(feature = "sqlite") {
        engines.push(Engine::Sqlite);
    }
    engines
}

/// The refusal of a URL whose engine this build left out.
#[allow(dead_code)] // Unused when every engine is built.
fn not_built(engine: Engine) -> DbError {
    let feature = match engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
        Engine::Sqlite => "sqlite",
    };
    // The engines built and the one asked for: copied as it stands, the line keeps the others.
    let name = |engine: Engine| match engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
        Engine::Sqlite => "sqlite",
    };
    let features: Vec<String> =
        engines_built().into_iter().chain([engine]).map(|e| format!("\"{}\"", name(e))).collect();
    DbError::new(
        DbErrorKind::Connection,
        format!(
            "this build has no {engine} support: enable cutover-embed's `{feature}` feature (or \
             `{feature}-driver`, the driver alone), as in `cutover-embed = {{ ..., default-features = false, \
             features = [{}] }}`",
            features.join(", ")
        ),
    )
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
            #[cfg(feature = "postgres")]
            Engine::Postgres => {
                let options = cutover_postgres::ConnectOptions {
                    history_table: options.history_table.clone(),
                    application_name: options.application_name.clone(),
                };
                AnyTarget::Postgres(Box::new(cutover_postgres::connect(url, &options)?))
            }
            #[cfg(feature = "mysql")]
            Engine::Mysql => AnyTarget::Mysql(cutover_mysql::connect(url, &options.history_table)?),
            #[cfg(feature = "sqlite")]
            Engine::Sqlite => AnyTarget::Sqlite(cutover_sqlite::connect(url, &options.history_table)?),
            #[allow(unreachable_patterns)] // When every engine is built.
            engine => return Err(not_built(engine)),
        })
    }

    /// Which engine it is.
    pub fn engine(&self) -> Engine {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(_) => Engine::Postgres,
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(_) => Engine::Mysql,
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(_) => Engine::Sqlite,
        }
    }

    /// Migrations: every engine.
    pub fn migration(&mut self) -> &mut dyn MigrationTarget {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => &mut **t,
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(t) => t,
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(t) => t,
        }
    }

    /// The same, owned.
    pub fn into_migration(self) -> Box<dyn MigrationTarget> {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => t,
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(t) => Box::new(t),
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(t) => Box::new(t),
        }
    }

    /// Taking over another tool's history: every engine.
    pub fn adopt(&mut self) -> &mut dyn AdoptTarget {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => &mut **t,
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(t) => t,
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(t) => t,
        }
    }

    /// Batched backfills: PostgreSQL and MySQL/MariaDB. `replicas` are MySQL replicas to read
    /// the lag of (the primary cannot see it; PostgreSQL reports its replicas' lag itself).
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
    pub fn into_backfill(self, replicas: Vec<DatabaseUrl>) -> Result<Box<dyn BackfillTarget>, Unsupported> {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(_) if !replicas.is_empty() => Err(Unsupported {
                engine: Engine::Postgres,
                what: "--replica-url",
                why: "it is for MySQL/MariaDB; PostgreSQL reports its replicas' lag itself (pg_stat_replication)",
            }),
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => Ok(t),
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(t) => Ok(Box::new(t.with_replicas(replicas))),
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(_) => Err(Unsupported {
                engine: Engine::Sqlite,
                what: "backfills",
                why:
                    "one UPDATE locks the whole database anyway, so batches gain nothing; run the UPDATE in a migration",
            }),
        }
    }

    /// Online table rewrites: PostgreSQL and MySQL/MariaDB (`replicas`: MySQL's, whose lag
    /// paces the copy).
    pub fn into_rewrite(self, replicas: Vec<DatabaseUrl>) -> Result<Box<dyn RewriteTarget>, Unsupported> {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(_) if !replicas.is_empty() => Err(Unsupported {
                engine: Engine::Postgres,
                what: "--replica-url",
                why: "it is for MySQL/MariaDB; PostgreSQL reports its replicas' lag itself (pg_stat_replication)",
            }),
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => Ok(t),
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(t) => Ok(Box::new(t.with_replicas(replicas))),
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(_) => Err(Unsupported {
                engine: Engine::Sqlite,
                what: "online rewrites",
                why: "a SQLite database has one writer at a time, so there is nothing to stay online for; make the change in a migration",
            }),
        }
    }

    /// Two live schema versions (expand/contract): PostgreSQL. SQLite applies a declarative
    /// migration whole (see [`AnyTarget::sqlite`]); MySQL has neither views that can stand in
    /// for a table's writes nor transactional DDL.
    pub fn expand(&mut self) -> Result<&mut dyn ExpandTarget, Unsupported> {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => Ok(&mut **t),
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(_) => Err(Unsupported {
                engine: Engine::Mysql,
                what: "expand/contract migrations",
                why: cutover_engine::EXPAND_ON_MYSQL,
            }),
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(_) => Err(Unsupported {
                engine: Engine::Sqlite,
                what: "complete and rollback",
                why: "`cutover start` applies a declarative migration whole there (one version at a time), so there is nothing to complete or roll back",
            }),
        }
    }

    /// The live catalog (`plan`): PostgreSQL and MySQL/MariaDB.
    // `what` names the command only in SQLite's refusal.
    #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
    pub fn into_live(self, what: &'static str) -> Result<Box<dyn LiveDatabase>, Unsupported> {
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => Ok(t),
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(t) => Ok(Box::new(t)),
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(_) => Err(Unsupported {
                engine: Engine::Sqlite,
                what,
                why: "SQLite has one writer and no catalog of sizes: `cutover lint` says what each statement does",
            }),
        }
    }

    /// Rehearsals on a scratch copy and drift (`rehearse`, `drift`): PostgreSQL.
    #[cfg(feature = "postgres")]
    #[cfg_attr(not(any(feature = "mysql", feature = "sqlite")), allow(unused_variables))]
    pub fn into_postgres(self, what: &'static str) -> Result<PgTarget, Unsupported> {
        let why = "it reads PostgreSQL's catalog";
        match self {
            #[cfg(feature = "postgres")]
            AnyTarget::Postgres(t) => Ok(*t),
            #[cfg(feature = "mysql")]
            AnyTarget::Mysql(_) => Err(Unsupported { engine: Engine::Mysql, what, why }),
            #[cfg(feature = "sqlite")]
            AnyTarget::Sqlite(_) => Err(Unsupported { engine: Engine::Sqlite, what, why }),
        }
    }

    /// The SQLite engine itself, where a command works differently there.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(&mut self) -> Option<&mut SqliteTarget> {
        match self {
            AnyTarget::Sqlite(t) => Some(t),
            #[allow(unreachable_patterns)] // When SQLite is the only engine built.
            _ => None,
        }
    }
}
