//! `cutover adopt --from TOOL`: take over the history of another migration tool without running
//! anything again. The tool's own table is read (never changed), matched to the migration
//! files, checked where the tool keeps checksums (Flyway's CRC32, sqlx's SHA-384), and every
//! migration it applied is recorded as baselined in cutover's history, in one transaction.
//! Any disagreement refuses the whole adoption with a report, and nothing is recorded.

use std::collections::BTreeSet;
use std::fmt;

use cutover_engine::{AdoptTarget, Direction, Engine, HistoryRecord, RecordKind, State};
use cutover_migration::{Migration, MigrationKind, MigrationSet, Version};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};

use crate::context::{acquire_lock, timeouts, Context};
use crate::error::Refusal;
use crate::identity::{now_rfc3339, relative_path, runner_identity, TOOL_VERSION};
use crate::Error;

/// A migration tool whose history cutover can take over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `flyway_schema_history`.
    Flyway,
    /// `_sqlx_migrations`.
    Sqlx,
    /// golang-migrate's `schema_migrations` (one row: the current version, and a dirty flag).
    GolangMigrate,
    /// dbmate's `schema_migrations` (a row per applied version).
    Dbmate,
    /// `goose_db_version`.
    Goose,
    /// `__diesel_schema_migrations`.
    Diesel,
    /// `refinery_schema_history` (its `V<n>__<name>.sql` files are read as Flyway's).
    Refinery,
    /// Alembic's `alembic_version` (the head revision): the SQL files carry the revision id in
    /// their name (`0002_b2c3d4e5f6a7_add_email.up.sql`), written by hand or from
    /// `alembic upgrade --sql`; every file up to the head's counts as applied.
    Alembic,
    /// Knex's `knex_migrations` (a row per applied file, `20240101120000_create_users.js`): the
    /// SQL files keep the same `<timestamp>_<name>`.
    Knex,
    /// Prisma Migrate's `_prisma_migrations` (a row per attempt, named by the migration's
    /// folder, with the SHA-256 of its `migration.sql`).
    Prisma,
    /// Sqitch's registry, `sqitch.changes` (a row per deployed change of each project, with the
    /// SHA-1 of its deploy script); Sqitch deploys in plan order, so its rows are the plan's
    /// first changes.
    Sqitch,
    /// Liquibase's `DATABASECHANGELOG` (a row per changeset run, known by id, author and
    /// changelog file, with its checksum).
    Liquibase,
    /// Atlas's `atlas_schema_revisions` (a row per version, with the file's hash from
    /// `atlas.sum` and how many of its statements ran).
    Atlas,
    /// pop's and ory popx's `schema_migration` (a row per applied version, no checksum).
    Pop,
}

impl std::str::FromStr for Tool {
    type Err = String;

    fn from_str(text: &str) -> Result<Tool, String> {
        Ok(match text {
            "flyway" => Tool::Flyway,
            "sqlx" => Tool::Sqlx,
            "golang-migrate" | "migrate" => Tool::GolangMigrate,
            "dbmate" => Tool::Dbmate,
            "goose" => Tool::Goose,
            "diesel" => Tool::Diesel,
            "refinery" => Tool::Refinery,
            "alembic" => Tool::Alembic,
            "knex" => Tool::Knex,
            "prisma" => Tool::Prisma,
            "sqitch" => Tool::Sqitch,
            "liquibase" => Tool::Liquibase,
            "atlas" => Tool::Atlas,
            "pop" | "popx" => Tool::Pop,
            other => {
                return Err(format!(
                    "cannot adopt from `{other}`: cutover reads flyway, liquibase, atlas, pop, alembic, knex, prisma, sqitch, sqlx, golang-migrate, dbmate, goose, diesel and refinery histories"
                ))
            }
        })
    }
}

impl Tool {
    /// The tool whose history a folder in `layout` most likely has, for advice.
    pub fn of_layout(layout: cutover_migration::Layout) -> Option<Tool> {
        use cutover_migration::Layout;
        Some(match layout {
            Layout::Flyway => Tool::Flyway,
            Layout::Sqlx => Tool::Sqlx,
            Layout::GolangMigrate => Tool::GolangMigrate,
            Layout::Dbmate => Tool::Dbmate,
            Layout::Goose => Tool::Goose,
            Layout::Diesel => Tool::Diesel,
            Layout::Prisma => Tool::Prisma,
            Layout::Sqitch => Tool::Sqitch,
            Layout::Liquibase => Tool::Liquibase,
            Layout::Atlas => Tool::Atlas,
            Layout::Pop => Tool::Pop,
            _ => return None,
        })
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tool::Flyway => "flyway",
            Tool::Sqlx => "sqlx",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Dbmate => "dbmate",
            Tool::Goose => "goose",
            Tool::Diesel => "diesel",
            Tool::Refinery => "refinery",
            Tool::Alembic => "alembic",
            Tool::Knex => "knex",
            Tool::Prisma => "prisma",
            Tool::Sqitch => "sqitch",
            Tool::Liquibase => "liquibase",
            Tool::Atlas => "atlas",
            Tool::Pop => "pop",
        })
    }
}

/// One migration the other tool applied, as its table says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Applied {
    version: String,
    /// The tool's checksum, when it keeps one.
    checksum: Option<String>,
    /// Whether the tool recorded it as succeeded.
    success: bool,
}

impl Tool {
    /// Its history table, as the tool names it on `engine`.
    fn table(self, engine: Engine) -> &'static str {
        match self {
            // Liquibase writes the name unquoted: folded to lower case on PostgreSQL only.
            Tool::Pop => "schema_migration",
            Tool::Liquibase if engine == Engine::Postgres => "databasechangelog",
            Tool::Liquibase => "DATABASECHANGELOG",
            // In a schema of its own on PostgreSQL when Atlas's URL names none; in the URL's
            // database on MySQL; SQLite has one schema (see `tables`).
            Tool::Atlas if engine == Engine::Postgres => "atlas_schema_revisions.atlas_schema_revisions",
            Tool::Atlas => "atlas_schema_revisions",
            Tool::Flyway => "flyway_schema_history",
            Tool::Sqlx => "_sqlx_migrations",
            Tool::GolangMigrate | Tool::Dbmate => "schema_migrations",
            Tool::Goose => "goose_db_version",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::Refinery => "refinery_schema_history",
            Tool::Alembic => "alembic_version",
            Tool::Knex => "knex_migrations",
            Tool::Prisma => "_prisma_migrations",
            Tool::Sqitch => "sqitch.changes",
        }
    }

    /// Where its table may be, most likely first: Atlas on PostgreSQL keeps it in the schema
    /// its URL names (`?search_path=public`), else in a schema of its own.
    fn tables(self, engine: Engine) -> Vec<&'static str> {
        match self {
            Tool::Atlas if engine == Engine::Postgres => vec!["atlas_schema_revisions", self.table(engine)],
            _ => vec![self.table(engine)],
        }
    }

    /// The query for its table, every value as text, per engine where they differ.
    fn query(self, engine: Engine, table: &str) -> String {
        let hex = |column: &str| match engine {
            Engine::Postgres => format!("encode({column}, 'hex')"),
            Engine::Mysql | Engine::Sqlite => format!("lower(hex({column}))"),
        };
        // The type to read a version as text: PostgreSQL has no CHAR(20) cast of a bigint.
        let text = match engine {
            Engine::Postgres => "text",
            Engine::Mysql | Engine::Sqlite => "CHAR(20)",
        };
        match self {
            Tool::Flyway => "SELECT version, CAST(checksum AS CHAR(20)), CASE WHEN success THEN '1' ELSE '0' END \
                             FROM flyway_schema_history WHERE version IS NOT NULL ORDER BY installed_rank"
                .replace("CHAR(20)", text),
            Tool::Sqlx => format!(
                "SELECT CAST(version AS {t}), {}, CASE WHEN success THEN '1' ELSE '0' END FROM _sqlx_migrations ORDER BY version",
                hex("checksum"),
                t = text
            ),
            Tool::GolangMigrate => "SELECT CAST(version AS CHAR(20)), CASE WHEN dirty THEN '0' ELSE '1' END FROM schema_migrations"
                .replace("CHAR(20)", text),
            Tool::Dbmate => "SELECT version FROM schema_migrations ORDER BY version".to_string(),
            Tool::Goose => "SELECT CAST(version_id AS CHAR(20)), CASE WHEN is_applied THEN '1' ELSE '0' END FROM goose_db_version ORDER BY id"
                .replace("CHAR(20)", text),
            Tool::Diesel => "SELECT version FROM __diesel_schema_migrations ORDER BY version".to_string(),
            Tool::Pop => "SELECT version FROM schema_migration ORDER BY version".to_string(),
            // Its checksum is a SipHash of the migration's Rust `Hash` encoding, not re-derivable
            // here with certainty: versions are matched, files are not compared.
            Tool::Refinery => format!(
                "SELECT CAST(version AS {text}) FROM refinery_schema_history ORDER BY version"
            ),
            Tool::Alembic => "SELECT version_num FROM alembic_version ORDER BY version_num".to_string(),
            Tool::Knex => "SELECT name FROM knex_migrations ORDER BY id".to_string(),
            // `R`: marked rolled back (`prisma migrate resolve --rolled-back`), which Prisma
            // then ignores; `0`: started and never finished, which blocks Prisma's deploys.
            Tool::Prisma => "SELECT migration_name, checksum, CASE WHEN rolled_back_at IS NOT NULL THEN 'R' \
                             WHEN finished_at IS NOT NULL THEN '1' ELSE '0' END \
                             FROM _prisma_migrations ORDER BY started_at, migration_name"
                .to_string(),
            // Every project's rows: those of another project sharing the registry are set apart
            // by `adopt` (the plan names its project).
            Tool::Sqitch => "SELECT change, script_hash, project FROM sqitch.changes ORDER BY committed_at, change_id"
                .to_string(),
            Tool::Liquibase => {
                format!("SELECT id, author, filename, md5sum, exectype FROM {table} ORDER BY orderexecuted")
            }
            // `type` is a bit set: 1 baseline, 2 executed, 4 resolved by hand.
            Tool::Atlas => format!(
                "SELECT version, hash, CASE WHEN applied < total AND type <> 1 THEN '0' ELSE '1' END, CAST(type AS {text}) FROM {table} ORDER BY version"
            ),
        }
    }

    /// The migrations the tool applied, from its rows.
    fn applied(self, rows: Vec<Vec<Option<String>>>) -> Vec<Applied> {
        let text = |row: &[Option<String>], idx: usize| row.get(idx).cloned().flatten().unwrap_or_default();
        match self {
            Tool::Sqitch => rows
                .iter()
                // `version` holds the change's name and project until `adopt` places it.
                .map(|r| Applied {
                    version: format!("{}\u{0}{}", text(r, 2), text(r, 0)),
                    checksum: Some(text(r, 1)),
                    success: true,
                })
                .collect(),
            // `version` holds the changeset's author, id and file until `adopt` places it.
            Tool::Liquibase => rows
                .iter()
                .map(|r| Applied {
                    version: format!("{}\u{0}{}\u{0}{}", text(r, 1), text(r, 0), text(r, 2)),
                    checksum: r.get(3).cloned().flatten().filter(|sum| !sum.is_empty()),
                    success: matches!(text(r, 4).as_str(), "EXECUTED" | "MARK_RAN" | "RERAN"),
                })
                .collect(),
            // A baseline (type 1, `atlas migrate apply --baseline`) has no hash: `adopt` counts
            // every version up to it, as Atlas does.
            Tool::Atlas => rows
                .iter()
                .map(|r| Applied {
                    version: text(r, 0),
                    checksum: (text(r, 3) != "1").then(|| text(r, 1)),
                    success: text(r, 2) == "1",
                })
                .collect(),
            Tool::Flyway | Tool::Sqlx => rows
                .iter()
                .map(|r| Applied { version: text(r, 0), checksum: Some(text(r, 1)), success: text(r, 2) == "1" })
                .collect(),
            Tool::GolangMigrate
            | Tool::Dbmate
            | Tool::Diesel
            | Tool::Refinery
            | Tool::Alembic
            | Tool::Knex
            | Tool::Pop => rows
                .iter()
                .map(|r| Applied {
                    version: text(r, 0),
                    checksum: None,
                    success: self != Tool::GolangMigrate || text(r, 1) == "1",
                })
                .collect(),
            // A row per attempt: rolled-back ones do not count; one never finished is failed
            // whatever else was tried.
            Tool::Prisma => {
                let mut by_name: Vec<Applied> = Vec::new();
                for r in rows.iter().filter(|r| text(r, 2) != "R") {
                    let (version, success) = (text(r, 0), text(r, 2) == "1");
                    match by_name.iter_mut().find(|a| a.version == version) {
                        Some(earlier) => earlier.success &= success,
                        None => by_name.push(Applied { version, checksum: Some(text(r, 1)), success }),
                    }
                }
                by_name
            }
            // A row per apply and per rollback: the last one of each version counts; 0 is
            // goose's own first row.
            Tool::Goose => {
                let mut latest: Vec<Applied> = Vec::new();
                for r in &rows {
                    let version = text(r, 0);
                    latest.retain(|a| a.version != version);
                    if text(r, 1) == "1" && version != "0" {
                        latest.push(Applied { version, checksum: None, success: true });
                    }
                }
                latest
            }
        }
    }
}

/// What an adoption recorded.
#[derive(Debug, Default)]
pub struct AdoptSummary {
    /// The migrations recorded as baselined, `<version> <name>`.
    pub adopted: Vec<String>,
}

/// Takes over `tool`'s history in `ctx`'s database for the migrations of `set`.
pub fn adopt(
    target: &mut dyn AdoptTarget,
    settings: &crate::Settings,
    set: &MigrationSet,
    tool: Tool,
) -> Result<AdoptSummary, Error> {
    let engine = target.engine();
    let mut found = None;
    for table in tool.tables(engine) {
        if target.table_exists(table).map_err(|e| Error::database("cannot read the database", e))? {
            found = Some(table);
            break;
        }
    }
    let table = found.unwrap_or(tool.table(engine));
    if found.is_none() {
        return Err(Error::Refused(Refusal {
            problems: vec![format!("there is no `{table}` table here: {tool} has not migrated this database")],
            advice: "check the database URL and --from; a database no tool has migrated needs no adoption".to_string(),
        }));
    }
    let rows = target
        .select_text(&tool.query(engine, table))
        .map_err(|e| Error::database(format!("cannot read `{table}`"), e))?;
    let mut applied = tool.applied(rows);
    let mut placement_problems = Vec::new();
    if tool == Tool::Sqitch {
        applied = place_sqitch_changes(set, applied, &mut placement_problems);
    }
    if tool == Tool::Liquibase {
        applied = place_liquibase_changesets(set, applied, &mut placement_problems);
    }
    if tool == Tool::Atlas {
        applied = below_atlas_baselines(set, applied);
    }

    let mut silent = crate::Silent;
    let mut ctx = Context { target: &mut *target, settings, reporter: &mut silent };
    let _lock = acquire_lock(&mut ctx)?;
    ctx.target.ensure_history().map_err(|e| Error::database("cannot create the history table", e))?;
    let history = ctx.target.read_history().map_err(|e| Error::database("cannot read the history", e))?;
    if history.iter().any(|r| matches!(r.state, State::Applied | State::Baselined | State::Running)) {
        return Err(Error::Refused(Refusal {
            problems: vec!["cutover's history already records applied or baselined migrations".to_string()],
            advice:
                "adopt takes over a database cutover has never migrated; this one is already managed: use `cutover up`"
                    .to_string(),
        }));
    }

    let versioned: Vec<&Migration> = set.migrations.iter().filter(|m| m.kind == MigrationKind::Versioned).collect();
    let mut problems = placement_problems;
    let mut adopted: BTreeSet<usize> = BTreeSet::new();
    // Atlas's lines of `atlas.sum`, computed once (each reads every file of the folder).
    let atlas_hashes: Vec<(String, String)> = match tool {
        Tool::Atlas => cutover_migration::atlas_sum(&set.dir).map(|(hashes, _)| hashes).unwrap_or_default(),
        _ => Vec::new(),
    };
    for entry in &applied {
        if !entry.success {
            problems.push(format!(
                "{tool} recorded version {} as failed (dirty): finish or repair it with {tool} first",
                entry.version
            ));
            continue;
        }
        let matches: Vec<usize> = match tool {
            Tool::Alembic => match alembic_head(&versioned, &entry.version) {
                Ok(matches) => matches,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            },
            Tool::Knex => match knex_file(&versioned, &entry.version) {
                Ok(idx) => vec![idx],
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            },
            _ => versioned
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    let ours = m.version.as_ref().expect("versioned");
                    match tool {
                        // The current version: everything up to it is applied.
                        Tool::GolangMigrate => Version::parse(&entry.version).is_some_and(|v| *ours <= v),
                        // diesel strips the folder name's separators.
                        Tool::Diesel => digits(ours.as_str()) == digits(&entry.version),
                        // The folder's whole name.
                        Tool::Prisma => ours.as_str() == entry.version,
                        _ => set.layout.parse_version(&entry.version).is_some_and(|v| *ours == v),
                    }
                })
                .map(|(idx, _)| idx)
                .collect(),
        };
        if matches.is_empty() {
            problems.push(format!("{tool} applied version {} but no migration file has that version", entry.version));
            continue;
        }
        for idx in matches {
            let migration = versioned[idx];
            if let Some(recorded) = &entry.checksum {
                let text = std::fs::read(&migration.up.path).unwrap_or_default();
                let actual = match tool {
                    Tool::Flyway => flyway_checksum(&text).to_string(),
                    Tool::Sqlx => Sha384::digest(&text).iter().map(|b| format!("{b:02x}")).collect(),
                    Tool::Prisma => prisma_checksum(&text, recorded),
                    Tool::Sqitch => Sha1::digest(&text).iter().map(|b| format!("{b:02x}")).collect(),
                    // The file's line in atlas.sum (a running hash: an earlier file's edit shows
                    // here too), which `discover` checked against the files.
                    Tool::Atlas => atlas_hash(&atlas_hashes, &migration.up.path),
                    _ => recorded.clone(),
                };
                if &actual != recorded {
                    problems.push(format!(
                        "{} was changed after {tool} applied it (checksum {recorded} then, {actual} now)",
                        migration.up.path.display()
                    ));
                    continue;
                }
            }
            adopted.insert(idx);
        }
    }
    if !problems.is_empty() {
        return Err(Error::Refused(Refusal {
            problems,
            advice: format!("make the files and {tool}'s history agree (restore edited files, repair failed versions), then adopt again; nothing was recorded"),
        }));
    }

    let now = now_rfc3339();
    let records: Vec<HistoryRecord> = adopted
        .iter()
        .map(|&idx| {
            let m = versioned[idx];
            HistoryRecord {
                id: 0,
                version: m.version.as_ref().map(|v| v.as_str().to_string()),
                name: m.name.clone(),
                kind: RecordKind::Versioned,
                direction: Direction::Up,
                state: State::Baselined,
                script: relative_path(set, &m.up.path),
                checksum: m.checksum.as_str().to_string(),
                transactional: m.up.settings.transaction,
                statements_total: m.up.statements.len() as i64,
                statements_done: m.up.statements.len() as i64,
                prefix_checksum: None,
                started_at: now.clone(),
                finished_at: Some(now.clone()),
                duration_ms: Some(0),
                error_message: Some(format!("adopted from {tool}")),
                error_sqlstate: None,
                error_statement: None,
                error_location: None,
                installed_by: String::new(),
                runner: runner_identity(),
                tool_version: TOOL_VERSION.to_string(),
            }
        })
        .collect();
    let timeouts = timeouts(settings, &cutover_migration::ScriptSettings::default());
    ctx.target
        .transaction(timeouts, &mut |session| records.iter().try_for_each(|record| session.append_history(record)))
        .map_err(|e| Error::database("cannot record the adopted migrations", e))?;
    Ok(AdoptSummary { adopted: adopted.iter().map(|&idx| versioned[idx].label()).collect() })
}

/// Sqitch's deployed changes of the plan's project, each given the version (the place in the
/// plan) of the change it is: Sqitch deploys in plan order, so the n-th deployed change is the
/// plan's n-th, by name. A name that differs is a problem (the plan was edited, or the registry
/// is another copy's); rows of other projects in the same registry are not this folder's.
fn place_sqitch_changes(set: &MigrationSet, applied: Vec<Applied>, problems: &mut Vec<String>) -> Vec<Applied> {
    let plan = std::fs::read_to_string(set.dir.join("sqitch.plan")).unwrap_or_default();
    let project = plan.lines().find_map(|l| l.trim().strip_prefix("%project=")).map(str::trim).unwrap_or_default();
    let versioned: Vec<&Migration> = set.migrations.iter().filter(|m| m.kind == MigrationKind::Versioned).collect();
    let mut placed = Vec::new();
    let mut other_projects: Vec<String> = Vec::new();
    let deployed_any = !applied.is_empty();
    for entry in applied {
        let (row_project, change) = entry.version.split_once('\u{0}').unwrap_or(("", &entry.version));
        if !project.is_empty() && row_project != project {
            if !other_projects.iter().any(|p| p == row_project) {
                other_projects.push(row_project.to_string());
            }
            continue;
        }
        let Some(migration) = versioned.get(placed.len()) else {
            problems.push(format!("sqitch deployed `{change}`, which is past the end of sqitch.plan"));
            continue;
        };
        if migration.name != change {
            problems.push(format!(
                "sqitch deployed `{change}` as change {} of the plan, where sqitch.plan now has `{}`: the plan was edited since",
                placed.len() + 1,
                migration.name
            ));
        }
        let version = migration.version.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default();
        placed.push(Applied { version, ..entry });
    }
    // A registry that deployed only other projects: most likely the plan's `%project` was
    // renamed, or the URL names another database.
    if placed.is_empty() && deployed_any {
        problems.push(format!(
            "sqitch's registry holds no change of project `{project}` (sqitch.plan's %project), only of {}: check the plan's project name and the database URL",
            other_projects.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    placed
}

/// Liquibase's changesets that ran, each given the version of the changeset it is (the same
/// author and id, in a changelog whose path is the recorded one's, or its `logicalFilePath`),
/// with its checksum checked as Liquibase checks it: a recorded version-9 checksum must be the
/// changeset's (or one its `--validCheckSum` lines accept); none recorded (after `liquibase
/// clear-checksums`) is accepted, as Liquibase computes it again; an older version's is refused.
fn place_liquibase_changesets(set: &MigrationSet, applied: Vec<Applied>, problems: &mut Vec<String>) -> Vec<Applied> {
    // Every changeset of the folder's migrations, read again from its changelog.
    let mut ours: Vec<(&Migration, String, cutover_migration::LiquibaseChangeset)> = Vec::new();
    let mut read: Vec<(&std::path::Path, Vec<cutover_migration::LiquibaseChangeset>)> = Vec::new();
    for migration in set.migrations.iter().filter(|m| m.kind == MigrationKind::Versioned) {
        let path = migration.up.path.as_path();
        if !read.iter().any(|(p, _)| *p == path) {
            let text = std::fs::read_to_string(path).map(|t| cutover_migration::normalize(&t)).unwrap_or_default();
            match cutover_migration::liquibase_changesets(path, &text) {
                Ok(changesets) => read.push((path, changesets)),
                Err(err) => {
                    problems.push(err.to_string());
                    read.push((path, Vec::new()));
                }
            }
        }
        let changesets = &read.iter().find(|(p, _)| *p == path).expect("read above").1;
        if let Some(changeset) = changesets.iter().find(|c| format!("{}:{}", c.author, c.id) == migration.name) {
            ours.push((migration, relative_path(set, path).replace('\\', "/"), changeset.clone()));
        }
    }
    // Liquibase records a changelog's path as it was given (from the root it ran in, or its
    // `logicalFilePath`): the root is what prefixes the folder's paths in most rows, and a row
    // is a changeset's when its path is that root and the changeset's path exactly.
    let clean = |recorded: &str| {
        let recorded = recorded.strip_prefix("classpath:").unwrap_or(recorded).replace('\\', "/");
        recorded.trim_start_matches("./").to_string()
    };
    let entries: Vec<(String, String, String)> = applied
        .iter()
        .map(|entry| {
            let mut parts = entry.version.splitn(3, '\u{0}');
            let (author, id, file) =
                (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            (author.to_string(), id.to_string(), clean(file))
        })
        .collect();
    // (what the recorded paths have before the folder's, what the folder's have before the
    // recorded ones): Liquibase ran from above the folder, or inside a folder below it.
    let root_of = |file: &str, relative: &str| -> Option<(String, String)> {
        let at_boundary = |prefix: &str| prefix.is_empty() || prefix.ends_with('/');
        if let Some(prefix) = file.strip_suffix(relative).filter(|p| at_boundary(p)) {
            return Some((prefix.to_string(), String::new()));
        }
        relative.strip_suffix(file).filter(|p| at_boundary(p)).map(|prefix| (String::new(), prefix.to_string()))
    };
    let mut roots: std::collections::BTreeMap<(String, String), usize> = std::collections::BTreeMap::new();
    for (author, id, file) in &entries {
        let mut seen = BTreeSet::new();
        for (_, relative, c) in ours.iter().filter(|(_, _, c)| c.author == *author && c.id == *id) {
            if let Some(root) = root_of(file, relative).filter(|_| c.logical_file_path.is_none()) {
                if seen.insert(root.clone()) {
                    *roots.entry(root).or_default() += 1;
                }
            }
        }
    }
    // The root most rows agree on; among equals, the shortest.
    let root = roots
        .iter()
        .max_by_key(|((above, below), n)| (**n, std::cmp::Reverse(above.len() + below.len())))
        .map(|(root, _)| root.clone());
    let mut placed = Vec::new();
    for (entry, (author, id, file)) in applied.into_iter().zip(entries) {
        let (author, id, file) = (author.as_str(), id.as_str(), file.as_str());
        let found = ours.iter().find(|(_, relative, c)| {
            c.author == author
                && c.id == id
                && match &c.logical_file_path {
                    Some(logical) => logical == file,
                    None => root.as_ref().is_some_and(|(above, below)| {
                        relative.strip_prefix(below.as_str()).is_some_and(|rest| format!("{above}{rest}") == file)
                    }),
                }
        });
        let Some((migration, relative, changeset)) = found else {
            problems.push(format!(
                "liquibase ran changeset `{author}:{id}` of `{file}`, which no changelog here holds (same author and id, in a file of that path)"
            ));
            continue;
        };
        if let Some(recorded) = &entry.checksum {
            let accepted = changeset.checksum == *recorded
                || changeset.valid_checksums.iter().any(|v| v.eq_ignore_ascii_case("ANY") || v == recorded);
            if !recorded.starts_with("9:") && !accepted {
                problems.push(format!(
                    "liquibase recorded changeset `{author}:{id}` with a version-{} checksum ({recorded}); cutover checks version 9 (Liquibase 4.24 and later): run `liquibase update` with Liquibase 4.24 or later once (it rewrites them), then adopt",
                    recorded.split(':').next().unwrap_or("?")
                ));
                continue;
            }
            if !accepted {
                problems.push(format!(
                    "changeset `{author}:{id}` ({relative}:{}) was changed after liquibase ran it (checksum {recorded} then, {} now)",
                    changeset.line, changeset.checksum
                ));
                continue;
            }
        }
        let version = migration.version.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default();
        placed.push(Applied { version, checksum: None, success: entry.success });
    }
    placed
}

/// Atlas's revisions with every version below a baseline (a row without a hash, which
/// `atlas migrate apply --baseline` writes) counted as applied, as Atlas counts them.
fn below_atlas_baselines(set: &MigrationSet, applied: Vec<Applied>) -> Vec<Applied> {
    let Some(baseline) =
        applied.iter().filter(|a| a.checksum.is_none()).filter_map(|a| set.layout.parse_version(&a.version)).max()
    else {
        return applied;
    };
    let mut out: Vec<Applied> = set
        .migrations
        .iter()
        .filter_map(|m| m.version.as_ref())
        .filter(|v| {
            **v < baseline && !applied.iter().any(|a| set.layout.parse_version(&a.version).as_ref() == Some(*v))
        })
        .map(|v| Applied { version: v.as_str().to_string(), checksum: None, success: true })
        .collect();
    out.extend(applied);
    out
}

/// The hash Atlas gives `path` in its folder's `atlas.sum` (`hashes`: its lines).
fn atlas_hash(hashes: &[(String, String)], path: &std::path::Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    hashes.iter().find(|(n, _)| *n == name).map(|(_, hash)| hash.clone()).unwrap_or_default()
}

/// Prisma's checksum of `migration.sql`: the SHA-256 of its bytes, in hex. Prisma also accepts
/// the file with its line endings changed (a checkout on Windows), so `recorded` is returned
/// when the file with LF or with CRLF line endings has it.
fn prisma_checksum(text: &[u8], recorded: &str) -> String {
    let hex = |bytes: &[u8]| -> String { Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect() };
    let actual = hex(text);
    let lf: Vec<u8> = String::from_utf8_lossy(text).replace("\r\n", "\n").into_bytes();
    let crlf: Vec<u8> = String::from_utf8_lossy(&lf).replace('\n', "\r\n").into_bytes();
    if hex(&lf) == recorded || hex(&crlf) == recorded {
        return recorded.to_string();
    }
    actual
}

/// Alembic's head revision `revision`: the migration whose name carries it, and every one
/// before it (Alembic's history is a chain, and cutover's order is its order).
fn alembic_head(versioned: &[&Migration], revision: &str) -> Result<Vec<usize>, String> {
    let named: Vec<usize> = versioned
        .iter()
        .enumerate()
        .filter(|(_, m)| m.name.split(['_', '-']).any(|part| part.eq_ignore_ascii_case(revision)))
        .map(|(idx, _)| idx)
        .collect();
    match named.as_slice() {
        [idx] => Ok((0..=*idx).collect()),
        [] => Err(format!(
            "alembic's current revision {revision} has no migration file naming it (name the SQL file of each revision `<version>_{revision}_<description>`)"
        )),
        _ => Err(format!("revision {revision} is named by {} migration files; keep one", named.len())),
    }
}

/// The migration Knex recorded as `name` (`20240101120000_create_users.js`): same version,
/// same description.
fn knex_file(versioned: &[&Migration], name: &str) -> Result<usize, String> {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let (version, description) = stem.split_once('_').unwrap_or((stem, ""));
    let parsed = Version::parse(version)
        .ok_or_else(|| format!("knex applied `{name}`, whose name does not start with a version"))?;
    let idx = versioned
        .iter()
        .position(|m| m.version.as_ref() == Some(&parsed))
        .ok_or_else(|| format!("knex applied `{name}` but no migration file has version {version}"))?;
    if !versioned[idx].name.eq_ignore_ascii_case(description) {
        return Err(format!(
            "knex applied `{name}` but the file with version {version} is named `{}`; name it `{description}`",
            versioned[idx].name
        ));
    }
    Ok(idx)
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Flyway's checksum of a SQL file: CRC-32 over the UTF-8 bytes of each line without its line
/// ending (a leading BOM removed), as a signed 32-bit number.
fn flyway_checksum(bytes: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut crc = Crc32::new();
    // Java's BufferedReader.readLine: `\n`, `\r\n` and `\r` end a line.
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split_terminator('\n') {
        crc.update(line.as_bytes());
    }
    crc.finish() as i32
}

/// CRC-32 (IEEE 802.3), as `java.util.zip.CRC32` computes it.
struct Crc32 {
    value: u32,
}

impl Crc32 {
    fn new() -> Crc32 {
        Crc32 { value: 0xffff_ffff }
    }

    fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let mut c = (self.value ^ u32::from(byte)) & 0xff;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            self.value = (self.value >> 8) ^ c;
        }
    }

    fn finish(&self) -> u32 {
        self.value ^ 0xffff_ffff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        let mut crc = Crc32::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xcbf4_3926);
    }

    #[test]
    fn flyway_checksums_ignore_line_endings_and_bom() {
        let unix = flyway_checksum(b"CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n");
        assert_eq!(unix, flyway_checksum(b"\xef\xbb\xbfCREATE TABLE a (id int);\r\nINSERT INTO a VALUES (1);"));
        assert_ne!(unix, flyway_checksum(b"CREATE TABLE a (id bigint);\nINSERT INTO a VALUES (1);\n"));
    }

    #[test]
    fn goose_keeps_the_last_state_of_each_version() {
        let row = |v: &str, applied: &str| vec![Some(v.to_string()), Some(applied.to_string())];
        let applied = Tool::Goose.applied(vec![row("0", "1"), row("1", "1"), row("2", "1"), row("2", "0")]);
        assert_eq!(applied.iter().map(|a| a.version.as_str()).collect::<Vec<_>>(), ["1"]);
    }
}
