//! The rules: one per file, each a small predicate over an [`Effect`] and its [`Context`].
//!
//! Each file holds the rule's id, its documentation (what, why, instead) and its tests. Every
//! rule is listed once, in [`RULES`].

use std::collections::{HashMap, HashSet};

use crate::changes::{Changes, Moment};
use crate::effect::{ForeignKey, TransactionControl};
use crate::runner::{FileRun, Runner};
use crate::schema::{Schema, Table};
use crate::{Action, AlterCommand, Dialect, Effect, LockMode, Severity};

mod add_column_required;
mod add_column_table_rewrite;
mod add_column_volatile_default;
#[cfg(test)]
mod advice;
mod backfill_in_migration;
mod column_type_rewrite;
mod concurrent_index_on_partitioned_table;
mod concurrently_in_transaction;
mod constraint_not_valid_missing;
mod domain_constraint_change;
mod drop_column;
mod drop_default_compat;
mod drop_not_null_compat;
mod drop_table;
mod enum_add_value_in_transaction;
mod enum_value_order_or_rename;
mod exclusion_constraint_existing_table;
mod fk_locks_referenced_table;
mod fk_missing_index;
mod identifier_too_long;
mod ignore_without_reason;
mod index_create_blocking;
mod index_drop_blocking;
mod invalid_index_leftover;
mod large_table_blocking_op;
mod lock_held_across_statements;
mod lock_timeout_missing;
mod matview_refresh_blocking;
mod missing_down_migration;
mod multiple_alter_same_table;
mod mysql_blocking_ddl;
mod mysql_copy_algorithm;
mod mysql_implicit_commit;
mod mysql_missing_algorithm;
mod non_idempotent_ddl;
mod partition_attach_scan;
mod partition_detach_blocking;
mod prefer_bigint_key;
mod prefer_identity;
mod prefer_jsonb;
mod prefer_text_over_varchar;
mod prefer_timestamptz;
mod reindex_blocking;
mod rename_column;
mod rename_relation;
mod set_not_null_scan;
mod sqlite_unsupported_alter;
mod statement_timeout_missing;
mod syntax_error;
mod table_rewrite_command;
mod transaction_unbalanced;
mod trigger_ddl_lock;
mod truncate_table;
mod unanalyzable_statement;
mod unique_constraint_builds_index;
mod unused_ignore;
mod validate_same_transaction;

/// A rule: its id, its default severity, and its checks.
pub struct Rule {
    /// The fixed id, e.g. `index-create-blocking`.
    pub id: &'static str,
    /// Its default severity.
    pub severity: Severity,
    /// Its documentation (markdown): what it does, why it is bad, what to do instead.
    pub doc: &'static str,
    /// The dialects it applies to.
    pub dialects: &'static [Dialect],
    /// The check of one statement, given what came before it.
    statement: Option<StatementCheck>,
    /// The check of a whole migration, once its last statement is seen: lines and findings.
    migration: Option<MigrationCheck>,
}

impl Rule {
    /// The advice of its documentation as SQL: each ```sql block of the "Instead" section (one
    /// way to follow it), as the migrations to write (a line `-- next migration` starts the
    /// next). Empty when the advice is not SQL.
    pub fn advice(&self) -> Vec<Vec<String>> {
        sql_blocks(doc_section(self.doc, "Instead")).iter().map(|block| migrations(block)).collect()
    }
}

/// The text of a `## heading` section of a rule's documentation.
fn doc_section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc.find(&format!("## {heading}\n")).map_or(doc.len(), |at| at + heading.len() + 4);
    let rest = &doc[start..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The ```sql blocks of a text.
fn sql_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```sql\n") {
        let body = &rest[start + 7..];
        let end = body.find("```").unwrap_or(body.len());
        blocks.push(&body[..end]);
        rest = body[end..].trim_start_matches('`');
    }
    blocks
}

/// A block's migrations: a line `-- next migration` starts the next one.
fn migrations(block: &str) -> Vec<String> {
    let mut migrations = vec![String::new()];
    for line in block.lines() {
        if line.starts_with("-- next migration") {
            migrations.push(String::new());
        } else if let Some(current) = migrations.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    migrations
}

type StatementCheck = fn(&Effect, &Context) -> Vec<Finding>;
type MigrationCheck = fn(&Context) -> Vec<(usize, Finding)>;

/// The dialects a rule applies to.
const PG: &[Dialect] = &[Dialect::Postgres];
const ALL: &[Dialect] = &[Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite];
const MYSQL: &[Dialect] = &[Dialect::Mysql];
const SQLITE: &[Dialect] = &[Dialect::Sqlite];
/// The server engines, where a batched `cutover backfill` exists (SQLite's one writer locks the
/// whole database for any UPDATE, batched or not).
const SERVERS: &[Dialect] = &[Dialect::Postgres, Dialect::Mysql];

/// A [`Rule`] entry for a rule module with `RULE`, `DOC` and the named checks (`statement`,
/// `migration`; none for a rule the linter reports itself, such as `syntax-error`), for
/// PostgreSQL unless dialects are given after a `;`.
macro_rules! rule {
    ($module:ident, $severity:ident $(; $dialects:expr)?) => {
        rule!(@ $module, $severity, None, None $(, $dialects)?)
    };
    ($module:ident, $severity:ident, statement $(; $dialects:expr)?) => {
        rule!(@ $module, $severity, Some($module::check), None $(, $dialects)?)
    };
    ($module:ident, $severity:ident, migration $(; $dialects:expr)?) => {
        rule!(@ $module, $severity, None, Some($module::check_migration) $(, $dialects)?)
    };
    ($module:ident, $severity:ident, statement, migration $(; $dialects:expr)?) => {
        rule!(@ $module, $severity, Some($module::check), Some($module::check_migration) $(, $dialects)?)
    };
    (@ $module:ident, $severity:ident, $statement:expr, $migration:expr) => {
        rule!(@ $module, $severity, $statement, $migration, PG)
    };
    (@ $module:ident, $severity:ident, $statement:expr, $migration:expr, $dialects:expr) => {
        Rule {
            id: $module::RULE,
            severity: Severity::$severity,
            doc: $module::DOC,
            dialects: $dialects,
            statement: $statement,
            migration: $migration,
        }
    };
}

/// The PostgreSQL tables, types and functions the rules' examples and advice use, made by an
/// earlier migration wherever the advice is linted (`rules/advice.rs`) or rehearsed on a real
/// server (the CLI's `alter_order` tests).
pub const ADVICE_SETUP: &str = "CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE order_status AS ENUM ('new', 'shipped');
CREATE DOMAIN email AS text;
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text, name text, nickname varchar(20), plan text DEFAULT 'free', active boolean);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint, total int, status order_status);
CREATE TABLE people (id bigint PRIMARY KEY, mood mood);
CREATE TABLE rooms (room int, during tsrange);
CREATE TABLE audit_log (id bigint PRIMARY KEY, at timestamptz);
CREATE TABLE legacy_sessions (id bigint PRIMARY KEY);
CREATE TABLE events (id bigint, created_at date, user_id bigint) PARTITION BY RANGE (created_at);
CREATE TABLE events_2020 PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE events_2021 (id bigint, created_at date, user_id bigint);
CREATE MATERIALIZED VIEW daily_sales AS SELECT count(*) AS n FROM orders;
CREATE FUNCTION sync_user() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE INDEX i ON users (name);
";

/// The rules whose finding means the database refuses the statement (it does not parse, or
/// PostgreSQL cannot run it where it stands): accepting the finding (an ignore, `up
/// --allow-unsafe`) helps nobody, so no refusal offers it.
pub const FAILS_ON_THE_DATABASE: &[&str] = &[
    "syntax-error",
    "concurrently-in-transaction",
    "concurrent-index-on-partitioned-table",
    "enum-add-value-in-transaction",
];

/// Every rule, in one table: errors, then warnings, then infos.
pub const RULES: &[Rule] = &[
    rule!(index_create_blocking, Error, statement),
    rule!(index_drop_blocking, Error, statement),
    rule!(reindex_blocking, Error, statement),
    rule!(concurrently_in_transaction, Error, statement),
    rule!(concurrent_index_on_partitioned_table, Error, statement),
    rule!(constraint_not_valid_missing, Error, statement),
    rule!(validate_same_transaction, Error, statement),
    rule!(unique_constraint_builds_index, Error, statement),
    rule!(exclusion_constraint_existing_table, Error, statement),
    rule!(set_not_null_scan, Error, statement),
    rule!(add_column_volatile_default, Error, statement),
    rule!(add_column_table_rewrite, Error, statement),
    rule!(column_type_rewrite, Error, statement),
    rule!(add_column_required, Error, statement; ALL),
    rule!(table_rewrite_command, Error, statement),
    rule!(partition_detach_blocking, Error, statement),
    rule!(partition_attach_scan, Error, statement),
    rule!(lock_timeout_missing, Error, statement),
    rule!(drop_table, Error, migration; ALL),
    rule!(drop_column, Error, migration; ALL),
    rule!(rename_column, Error, statement; ALL),
    rule!(rename_relation, Error, statement; ALL),
    rule!(truncate_table, Error, statement; ALL),
    rule!(transaction_unbalanced, Error, statement, migration),
    rule!(enum_add_value_in_transaction, Error, statement),
    rule!(syntax_error, Error; ALL),
    rule!(mysql_copy_algorithm, Error, statement; MYSQL),
    rule!(mysql_blocking_ddl, Error, statement; MYSQL),
    rule!(sqlite_unsupported_alter, Error, statement; SQLITE),
    rule!(lock_held_across_statements, Warning, statement),
    rule!(statement_timeout_missing, Warning, statement),
    rule!(fk_locks_referenced_table, Warning, statement),
    rule!(fk_missing_index, Warning, migration),
    rule!(drop_not_null_compat, Warning, statement),
    rule!(drop_default_compat, Warning, statement),
    rule!(backfill_in_migration, Warning, statement; SERVERS),
    rule!(multiple_alter_same_table, Warning, statement),
    rule!(non_idempotent_ddl, Warning, statement),
    rule!(invalid_index_leftover, Warning, statement),
    rule!(enum_value_order_or_rename, Warning, statement),
    rule!(domain_constraint_change, Warning, statement),
    rule!(matview_refresh_blocking, Warning, statement),
    rule!(trigger_ddl_lock, Warning, statement),
    rule!(unanalyzable_statement, Warning, statement; SERVERS),
    rule!(missing_down_migration, Warning, migration; ALL),
    rule!(large_table_blocking_op, Warning, statement),
    rule!(ignore_without_reason, Warning; ALL),
    rule!(mysql_implicit_commit, Warning, migration; MYSQL),
    rule!(mysql_missing_algorithm, Warning, statement; MYSQL),
    rule!(prefer_bigint_key, Info, statement),
    rule!(prefer_identity, Info, statement),
    rule!(prefer_text_over_varchar, Info, statement),
    rule!(prefer_timestamptz, Info, statement),
    rule!(prefer_jsonb, Info, statement),
    rule!(identifier_too_long, Info, statement),
    rule!(unused_ignore, Info; ALL),
];

/// Rules split off another one, with the id their findings had before: ignores and configured
/// levels written then still name it.
const FORMER_IDS: &[(&str, &str)] = &[("rename-column", "rename-relation")];

/// Whether `name`, as an ignore or a configured level writes it, names rule `rule`: its id, or
/// the id its findings had before it was split off ([`FORMER_IDS`]).
pub fn answers_to(rule: &str, name: &str) -> bool {
    rule == name || FORMER_IDS.iter().any(|(id, former)| *id == rule && *former == name)
}

/// Whether `name` is a rule's id, or the id its findings had before (what an ignore may name).
pub fn is_rule_name(name: &str) -> bool {
    find(name).is_some() || FORMER_IDS.iter().any(|(_, former)| *former == name)
}

/// The id `rule`'s findings had before it was split off another rule, if they had another.
pub fn former_id(rule: &str) -> Option<&'static str> {
    FORMER_IDS.iter().find(|(id, _)| *id == rule).map(|(_, former)| *former)
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    static BY_ID: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static Rule>> =
        std::sync::OnceLock::new();
    BY_ID.get_or_init(|| RULES.iter().map(|rule| (rule.id, rule)).collect()).get(id).copied()
}

/// What a rule knows besides the statement: the schema the earlier migrations built, how the
/// migration runs, and what earlier statements of the same migration did.
#[derive(Debug, Default)]
pub struct Context {
    /// The schema replayed from the migrations linted so far (this one up to the statement),
    /// on the live schema when there is one.
    pub(crate) schema: Schema,
    /// Whether `schema` started from a live database: the linted migrations are the ones still
    /// to run there, in order.
    pub(crate) live: bool,
    /// Whether the migration being checked is one still to run, after the earlier ones still
    /// to run (with a live schema, every linted one; without, the files a pull request adds,
    /// `--changed-since`): the tables those created do not exist on the live database yet.
    pub(crate) to_run: bool,
    /// Tables the migrations still to run created before this one (see `to_run`): no released
    /// code uses them and they hold only the rows those migrations wrote, so they are new for
    /// the later ones (a table of the same unreleased batch, review 4's #6 and #23).
    pub(crate) created_to_run: HashSet<String>,
    /// Tables known to be released though no migration linted before makes them (those of
    /// migrations a branch deleted or moved): one still to run that creates such a name
    /// (a baseline made again) does not make it new.
    pub(crate) released: HashSet<String>,
    /// Names live tables left in the migrations still to run (renamed away, dropped): released
    /// code uses them, so a table made or renamed under one is not new for the later ones.
    pub(crate) vacated: HashSet<String>,
    /// The dialect of the migrations.
    pub(crate) dialect: Dialect,
    /// The PostgreSQL major version the migrations are for.
    pub(crate) pg_version: u32,
    /// Who runs the migrations: cutover's runner sets `lock_timeout` and `statement_timeout`
    /// itself, and clears a failed index build's leftovers; other tools do neither.
    pub(crate) runner: Runner,
    /// How the runner runs this file.
    pub(crate) file_run: FileRun,
    /// Whether the runner itself runs the statement being checked outside a transaction, as one
    /// that refuses a transaction block (cutover, and Flyway by its own list).
    pub(crate) runner_takes_it_out: bool,
    /// 1-based line of the statement being checked.
    pub(crate) line: usize,
    /// Whether the statement runs inside a transaction (the runner's, or a `BEGIN` in the file).
    pub(crate) in_transaction: bool,
    /// Whether the runner wraps the whole file in a transaction (of its own, or the implicit
    /// block of several statements sent as one query).
    pub(crate) runner_transaction: bool,
    /// The line of a `BEGIN` in the file not yet matched by `COMMIT`/`ROLLBACK`.
    pub(crate) open_begin: Option<usize>,
    /// How many statements the file has: a runner that sends the file as one query makes
    /// several of them one implicit transaction block.
    pub(crate) statements_in_file: usize,
    /// The line of the file's first statement that the runner would run in a transaction block
    /// (not one it takes out of the transaction itself).
    pub(crate) first_transactional_line: Option<usize>,
    /// Tables created earlier in the same migration: new, so empty and unused by running code
    /// (a table created here and renamed is new under its new name).
    pub(crate) created_here: HashSet<String>,
    /// Whether the migration being checked is a later part of the same change as the one
    /// before it (files that ship together): what that one created is still new.
    pub(crate) continues_change: bool,
    /// What this migration did to tables and columns so far, in order (see `changes.rs`).
    pub(crate) changes: Changes,
    /// How many statements of this migration so far may have written rows.
    pub(crate) row_writes: usize,
    /// How many transactions of this migration have ended (a statement outside one is one).
    pub(crate) transactions_ended: usize,
    /// Existing tables proven empty for the rest of the current transaction (see `empty.rs`).
    pub(crate) proven_empty: HashSet<String>,
    /// Existing tables whose every row a `DELETE` of this transaction removed: no live row (a
    /// required column can be added), but their pages are all still there (a scan or an index
    /// build reads them all until a VACUUM), unlike a `TRUNCATE`'s.
    pub(crate) rows_deleted: HashSet<String>,
    /// The table the statement being checked proves empty if it succeeds (see `empty.rs`).
    pub(crate) empty_if_it_succeeds: Option<String>,
    /// Columns (table, column) that earlier migrations renamed to a name marking them
    /// deprecated: running code stopped reading them under their old name then.
    pub(crate) deprecated_columns: HashSet<(String, String)>,
    /// Columns this migration renamed so, deprecated for the migrations after it.
    pub(crate) deprecated_here: Vec<(String, String)>,
    /// Constraints added `NOT VALID` earlier in the same migration.
    pub(crate) not_valid_constraints: HashSet<String>,
    /// Columns added earlier in the same migration, as (table, column): every existing row
    /// holds the same value there (the default, or NULL).
    pub(crate) added_columns: HashSet<(String, String)>,
    /// Existing tables renamed earlier in the same migration, by their new names: running code
    /// already lost them by the old name, so renaming their columns breaks nothing more.
    pub(crate) renamed_here: HashSet<String>,
    /// The `ALTER TABLE`s of each table earlier in the same migration.
    pub(crate) alters: HashMap<String, EarlierAlters>,
    /// Enum values added earlier in the same migration, with their types.
    pub(crate) enum_values_added: Vec<(String, String)>,
    /// Locks that block writes on existing tables, taken earlier in the current transaction:
    /// table, mode, line. PostgreSQL holds them until the transaction ends.
    pub(crate) held_locks: Vec<(String, LockMode, usize)>,
    /// Lines of the current transaction's `DROP INDEX`es without `CONCURRENTLY`: a lock one of
    /// them holds is one `CONCURRENTLY` would remove, unlike an `ALTER TABLE`'s (the message says
    /// which).
    pub(crate) index_drops: Vec<usize>,
    /// Existing tables a statement of the current transaction wrote over the whole table (every
    /// row, or rows a condition picks while reading them all) while a lock blocking reads on
    /// them was held since an earlier statement, with that statement's line. The outage is that write's (reported there); a later scan of the table under the
    /// same lock makes one more pass of the kind the write made, and is not a second outage.
    pub(crate) written_whole: HashMap<String, usize>,
    /// Whether `SET lock_timeout` to a non-zero value came earlier in the file.
    pub(crate) lock_timeout_set: bool,
    /// Whether `SET statement_timeout` to a non-zero value came earlier in the file.
    pub(crate) statement_timeout_set: bool,
    /// The two above as the session has them, without what a `SET LOCAL` of the current
    /// transaction block set: what a `COMMIT` or `ROLLBACK` leaves.
    pub(crate) session_timeouts: (bool, bool),
    /// Indexes dropped with `IF EXISTS` earlier in the file.
    pub(crate) dropped_if_exists: HashSet<String>,
    /// Foreign keys added in this migration: line, referencing table, key. Checked against the
    /// indexes at the end of the migration (the index often comes a statement later).
    pub(crate) foreign_keys_added: Vec<(usize, String, ForeignKey)>,
    /// Whether the migration has a down script, when its layout can have one.
    pub(crate) has_down: Option<bool>,
    /// Estimated rows of tables on the live database (`cutover plan`), empty otherwise.
    pub(crate) live_rows: std::collections::BTreeMap<String, i64>,
    /// Which live table each name stands for after the renames and drops of the migrations
    /// still to run so far: `live_rows` is keyed by the live names.
    pub(crate) table_moves: crate::TableMoves,
    /// From how many rows a table counts as large.
    pub(crate) large_table_rows: i64,
    /// Below how many rows a table counts as small.
    pub(crate) small_table_rows: i64,
    /// Whether `timestamp`/`timestamptz` convert in place: PostgreSQL 12+ with TimeZone UTC.
    pub(crate) utc: bool,
    /// Whether the database's own time zone is UTC (what `utc` is at the start of each file).
    pub(crate) database_utc: bool,
    /// MySQL: the first DDL and the first data-changing statement of the migration (lines).
    pub(crate) mysql_first_ddl: Option<usize>,
    pub(crate) mysql_first_dml: Option<usize>,
    /// Whether an earlier statement of the file took a lock that blocks writes on an existing
    /// table with no lock timeout set (the first such statement is where a missing
    /// `lock_timeout` is reported).
    pub(crate) blocking_lock_before: bool,
    /// Whether one of those locks also blocked reads (where it is reported as an error).
    pub(crate) read_blocking_lock_before: bool,
    /// Whether an earlier statement of the file scanned, rewrote or wrote rows of an existing table.
    pub(crate) long_statement_before: bool,
    /// The `search_path` a `SET search_path` (or `set_config`) earlier in the file set for the
    /// session; `None` while the session's own is in force. PostgreSQL keeps it after the
    /// transaction commits; the analysis keeps it to the end of the file.
    pub(crate) session_search_path: Option<Vec<String>>,
    /// The one a `SET LOCAL search_path` set for the current transaction (`Some(None)`: back to
    /// the session's default), which ends with it.
    pub(crate) local_search_path: Option<Option<Vec<String>>>,
}

impl Context {
    /// Whether `table` was created earlier in this migration, or by an earlier migration still
    /// to run with it (see `created_to_run`).
    pub(crate) fn is_new(&self, table: &str) -> bool {
        self.created_here.contains(table) || (self.to_run && self.created_to_run.contains(table))
    }

    /// Records that the statement being checked made `table`: new for the later migrations
    /// when this one is still to run (and the name is not a released table's); a released
    /// migration's table is not, whatever an earlier one still to run (out of order) made.
    fn created_by_batch(&mut self, table: &str) {
        if self.to_run && !self.released.contains(table) && !self.vacated.contains(table) {
            self.created_to_run.insert(table.to_string());
        } else {
            self.created_to_run.remove(table);
        }
    }

    /// Records that a live table left the name `table` in a migration still to run.
    fn vacate(&mut self, table: &str) {
        if self.to_run {
            self.vacated.insert(table.to_string());
        }
    }

    /// Whether `table` holds no row while the statement runs, so that scanning, rewriting or
    /// indexing it costs nothing: created earlier in this migration, or proven empty (see
    /// `empty.rs`) by an earlier statement of the transaction or, if it succeeds at all, by the
    /// statement itself.
    pub(crate) fn is_empty(&self, table: &str) -> bool {
        self.empty_before(table) || self.empty_if_it_succeeds.as_deref() == Some(table)
    }

    /// Whether `table` holds no row when the statement starts: created earlier in this
    /// migration, or proven empty by an earlier statement of the transaction.
    pub(crate) fn empty_before(&self, table: &str) -> bool {
        self.is_new(table) || self.proven_empty.contains(table)
    }

    /// Where the migration has got at the statement being checked.
    pub(crate) fn moment(&self) -> Moment {
        // MySQL commits around every DDL statement: no lock outlives one.
        let transactional = self.in_transaction && self.dialect != Dialect::Mysql;
        Moment {
            line: self.line,
            row_writes: self.row_writes,
            transaction: transactional.then_some(self.transactions_ended),
        }
    }

    /// Whether no other statement may share the statement's file (a `SET` before it included):
    /// it refuses a transaction block, and the runner sends the file as one query (beside
    /// others it would run in the implicit block), or takes it out of the transaction only in
    /// a script made of such statements alone (Flyway refuses a mixed one).
    pub(crate) fn must_stand_alone(&self, effect: &Effect) -> bool {
        effect.requires_no_transaction
            && self.runner != Runner::Cutover
            && (self.file_run == FileRun::OneScript || self.runner_takes_it_out)
    }

    /// The `ALTER TABLE`s of `table` earlier in this migration, if any.
    pub(crate) fn altered_before(&self, table: &str) -> Option<&EarlierAlters> {
        self.alters.get(table)
    }

    /// The rows `table` holds when the statement runs, as far as the live database tells: its
    /// estimate there; none for a table the migrations linted on the live schema create first
    /// (it does not exist there yet); `None` without live facts about it.
    pub(crate) fn rows_of(&self, table: &str) -> Option<i64> {
        if self.to_run && self.created_to_run.contains(table) {
            return Some(0);
        }
        self.live_rows_of(table)
    }

    /// The live estimate of the rows of the table `table` names here (renames followed), `None`
    /// without one.
    pub(crate) fn live_rows_of(&self, table: &str) -> Option<i64> {
        self.live_rows.get(self.table_moves.live_table(table)?).copied().filter(|rows| *rows >= 0)
    }

    /// The `search_path` the script set and that is in force, if it set one.
    pub(crate) fn search_path(&self) -> Option<&[String]> {
        match &self.local_search_path {
            Some(local) => local.as_deref(),
            None => self.session_search_path.as_deref(),
        }
    }

    /// The line of a write of every row of `table` earlier in this transaction, under a lock
    /// blocking reads that is still held (see `written_whole`).
    pub(crate) fn written_whole(&self, table: &str) -> Option<usize> {
        self.written_whole.get(table).copied()
    }

    /// Whether constraint `name` was added `NOT VALID` earlier in this migration.
    pub(crate) fn added_not_valid(&self, name: &str) -> bool {
        self.not_valid_constraints.contains(name)
    }

    /// Forgets what belongs to one migration, keeping the schema: the next file starts, of
    /// `statements` statements, run as `file_run` says.
    pub(crate) fn start_migration(&mut self, file_run: FileRun, statements: usize, has_down: Option<bool>) {
        let in_transaction = match file_run {
            FileRun::OneTransaction => true,
            // One statement sent alone runs outside a transaction block.
            FileRun::OneScript => statements > 1,
            FileRun::EachStatement => false,
        };
        *self = Context {
            schema: std::mem::take(&mut self.schema),
            live: self.live,
            to_run: self.to_run,
            created_to_run: std::mem::take(&mut self.created_to_run),
            released: std::mem::take(&mut self.released),
            vacated: std::mem::take(&mut self.vacated),
            dialect: self.dialect,
            pg_version: self.pg_version,
            runner: self.runner,
            file_run,
            statements_in_file: statements,
            live_rows: std::mem::take(&mut self.live_rows),
            table_moves: std::mem::take(&mut self.table_moves),
            large_table_rows: self.large_table_rows,
            small_table_rows: self.small_table_rows,
            // A `SET TIME ZONE` of the last file is not this one's (the runner's session is
            // set again for each migration).
            utc: self.database_utc,
            database_utc: self.database_utc,
            deprecated_columns: {
                let mut deprecated = std::mem::take(&mut self.deprecated_columns);
                deprecated.extend(self.deprecated_here.drain(..));
                deprecated
            },
            in_transaction,
            runner_transaction: in_transaction,
            has_down,
            // No released code uses a table an earlier part of the change made.
            created_here: match self.continues_change {
                true => std::mem::take(&mut self.created_here),
                false => HashSet::new(),
            },
            ..Context::default()
        };
    }

    /// Records what a checked statement did, for the statements after it.
    pub(crate) fn record(&mut self, effect: &Effect) {
        // The live database has what released migrations did: only the ones still to run move
        // names away from its tables.
        if self.to_run {
            self.table_moves.record(effect);
        }
        match &effect.action {
            Action::AddEnumValue { type_name, value, .. } => {
                self.enum_values_added.push((type_name.clone(), value.clone()));
            }
            // `CREATE TABLE IF NOT EXISTS` of a table that is there (on the live schema, or as the
            // earlier migrations built it) does nothing; nor of one known released (a branch's
            // deleted migrations made it). Tester 10: the index after it went unreported.
            Action::CreateTable { table, .. }
                if effect.idempotent == Some(true)
                    && (self.schema.table(table).is_some() || self.released.contains(table)) =>
            {
                return;
            }
            Action::CreateTable { table, foreign_keys, .. } => {
                self.created_here.insert(table.clone());
                self.created_by_batch(table);
                for fk in foreign_keys {
                    self.foreign_keys_added.push((self.line, table.clone(), fk.clone()));
                }
            }
            Action::AlterTable { table, commands } => {
                // A new parent with a live partition attached reaches its rows and its users:
                // it is new no more (tester 10: the index on the parent built on the partition).
                let live_partition = commands
                    .iter()
                    .any(|c| matches!(c, AlterCommand::AttachPartition { partition } if !self.is_new(partition)));
                if live_partition {
                    self.created_here.remove(table);
                    self.created_to_run.remove(table);
                }
                let before = self.schema.table(table);
                let proven = commands.iter().filter_map(|c| match c {
                    AlterCommand::SetNotNull { column }
                        if crate::alter::not_null_proof(before, commands, column, self.pg_version).is_ok() =>
                    {
                        Some(column.clone())
                    }
                    _ => None,
                });
                let earlier = self
                    .alters
                    .entry(table.clone())
                    .or_insert_with(|| EarlierAlters { before: before.cloned(), ..EarlierAlters::default() });
                earlier.proven_not_null.extend(proven);
                earlier.commands.extend(commands.iter().cloned());
                for command in commands {
                    if let AlterCommand::AddColumn { column, .. } = command {
                        self.added_columns.insert((table.clone(), column.clone()));
                    }
                    if let AlterCommand::AddConstraint { name, not_valid: true, .. } = command {
                        self.not_valid_constraints.insert(name.clone());
                    }
                    let fk = match command {
                        AlterCommand::AddConstraint {
                            references: Some(referenced),
                            columns,
                            referenced_columns,
                            name,
                            ..
                        } => Some(ForeignKey {
                            name: name.clone(),
                            columns: columns.clone(),
                            referenced_table: referenced.clone(),
                            referenced_columns: referenced_columns.clone(),
                        }),
                        AlterCommand::AddColumn { references: Some(fk), .. } => Some(fk.clone()),
                        _ => None,
                    };
                    if let Some(fk) = fk {
                        self.foreign_keys_added.push((self.line, table.clone(), fk));
                    }
                }
            }
            Action::CreateTableAs { table, .. } => {
                self.created_here.insert(table.clone());
                self.created_by_batch(table);
            }
            // A name is new while the table it names is: the old name of a renamed table names
            // nothing, and a live table renamed onto a name a new one had (made and dropped
            // before) is live (tester 9: it was taken for new, its index build unreported).
            Action::Rename { object: "table", table, new_name, .. } => {
                let renamed = crate::effect::renamed_table(table, new_name);
                let (new, new_to_run) = (self.is_new(table), self.created_to_run.remove(table));
                self.created_here.remove(table);
                // MySQL's `RENAME TABLE a TO b, c TO a` swaps in one statement, whose other pairs
                // the effect names only by their locks: none of those tables is taken for new.
                for (other, _) in effect.locks.iter().filter(|(other, _)| other != table) {
                    self.created_here.remove(other);
                    self.created_to_run.remove(other);
                    self.vacate(other);
                }
                if new {
                    // Onto the name a live table left (a copy swapped in), the application uses it.
                    if new_to_run && !self.vacated.contains(&renamed) {
                        self.created_to_run.insert(renamed.clone());
                    }
                    self.created_here.insert(renamed);
                } else {
                    self.vacate(table);
                    self.created_here.remove(&renamed);
                    self.created_to_run.remove(&renamed);
                    self.renamed_here.insert(renamed);
                }
            }
            Action::DropTable { tables, .. } => {
                for table in tables {
                    if !self.is_new(table) {
                        self.vacate(table);
                    }
                    self.created_here.remove(table);
                    self.created_to_run.remove(table);
                }
            }
            Action::WriteRows { .. } => {
                for written in effect.rows.iter().filter(|a| a.write) {
                    if let Some(earlier) = self.alters.get_mut(&written.table) {
                        earlier.rows_written_since = true;
                    }
                }
            }
            Action::Opaque { .. } => {
                for earlier in self.alters.values_mut() {
                    earlier.rows_written_since = true;
                }
            }
            Action::DropIndex { names, .. } if effect.idempotent == Some(true) => {
                self.dropped_if_exists.extend(names.iter().cloned());
            }
            Action::Transaction(TransactionControl::Begin) => {
                self.open_begin.get_or_insert(self.line);
                self.in_transaction = true;
            }
            // Outside a transaction block, SET LOCAL has no effect.
            Action::SetSearchPath { schemas, local: true } if self.in_transaction => {
                self.local_search_path = Some(schemas.clone());
            }
            Action::SetSearchPath { schemas, local: false } => {
                self.session_search_path.clone_from(schemas);
                self.local_search_path = None;
            }
            Action::Transaction(TransactionControl::Commit | TransactionControl::Rollback) => {
                self.open_begin = None;
                self.local_search_path = None;
                // A `SET LOCAL` ends with its transaction (tester 17: a statement after the
                // COMMIT was taken to have its timeout).
                (self.lock_timeout_set, self.statement_timeout_set) = self.session_timeouts;
                self.in_transaction = self.runner_transaction;
                if !self.in_transaction {
                    self.held_locks.clear();
                    self.written_whole.clear();
                    self.index_drops.clear();
                }
            }
            Action::Set { name, value, local } => {
                let on = !matches!(value.trim(), "" | "0" | "0s" | "0ms");
                // Outside a transaction block, SET LOCAL has no effect.
                let applies = !local || self.in_transaction;
                match name.as_str() {
                    "lock_timeout" if applies => {
                        self.lock_timeout_set = on;
                        if !local {
                            self.session_timeouts.0 = on;
                        }
                    }
                    "statement_timeout" if applies => {
                        self.statement_timeout_set = on;
                        if !local {
                            self.session_timeouts.1 = on;
                        }
                    }
                    // `RESET ALL` puts every setting back to the role's and database's: the
                    // timeouts a migration needs are set again after it.
                    "all" => {
                        (self.lock_timeout_set, self.statement_timeout_set) = (false, false);
                        self.session_timeouts = (false, false);
                    }
                    // `SET TIME ZONE 'UTC'` in the file: timestamp and timestamptz convert
                    // without a rewrite from here on (PostgreSQL 12+).
                    "timezone" => self.utc = self.pg_version >= 12 && is_utc(value),
                    _ => {}
                }
            }
            _ => {}
        }
        if let Some(mysql) = &effect.mysql {
            let first = if mysql.ddl { &mut self.mysql_first_ddl } else { &mut self.mysql_first_dml };
            first.get_or_insert(self.line);
        }
        // Waits that had no timeout (a timeout that a COMMIT or RESET ended leaves the next
        // wait without one, to be reported).
        if !self.lock_timeout_set {
            self.blocking_lock_before |= blocks_writes_on_existing(effect, self);
            self.read_blocking_lock_before |= blocks_reads_on_existing(effect, self);
        }
        self.long_statement_before |= is_long_on_existing(effect, self);
        if self.in_transaction {
            // Any write not pinned to listed rows reads the whole table (as `backfill-in-migration`
            // counts it, and reports it).
            for written in effect.rows.iter().filter(|r| r.write && r.rows != crate::RowScope::Listed) {
                let held = self.held_locks.iter().any(|(t, mode, _)| *t == written.table && mode.blocks_reads());
                if held {
                    self.written_whole.entry(written.table.clone()).or_insert(self.line);
                }
            }
            if matches!(effect.action, Action::DropIndex { concurrently: false, .. }) {
                self.index_drops.push(self.line);
            }
            for (table, mode) in &effect.locks {
                let held_already = self.held_locks.iter().any(|(t, m, _)| t == table && m >= mode);
                if mode.blocks_writes() && !self.is_new(table) && !table.is_empty() && !held_already {
                    self.held_locks.push((table.clone(), *mode, self.line));
                }
            }
        }
        self.schema.apply(effect);
    }
}

/// The `ALTER TABLE`s of one table earlier in a migration: enough to tell what one statement
/// doing all of theirs and a later one's sub-commands would do.
#[derive(Debug, Clone, Default)]
pub(crate) struct EarlierAlters {
    /// The table as it was before the first of them (`None`: unknown to the schema model).
    pub(crate) before: Option<Table>,
    /// Their sub-commands, in the order written.
    pub(crate) commands: Vec<AlterCommand>,
    /// The columns whose `SET NOT NULL` a validated CHECK spared the scan.
    pub(crate) proven_not_null: Vec<String>,
    /// Whether a statement since the first wrote the table's rows (or may have: a `DO` block):
    /// a later `ALTER TABLE` may count on it.
    pub(crate) rows_written_since: bool,
}

/// What a rule found about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// Its severity when the facts decide it, rather than the rule's default (configured
    /// levels still replace it).
    pub severity: Option<Severity>,
    /// What happens.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// The table concerned, if one is.
    pub table: Option<String>,
    /// The lock taken on it, if one is.
    pub lock: Option<LockMode>,
}

impl Finding {
    pub(crate) fn new(rule: &'static str, message: String, help: &str) -> Finding {
        Finding { rule, severity: None, message, help: help.to_string(), table: None, lock: None }
    }

    pub(crate) fn at(mut self, severity: Severity) -> Finding {
        self.severity = Some(severity);
        self
    }

    /// A scan of `table` that runs after a write of its every row under the same lock (see
    /// [`Context::written_whole`]): a warning that says where the outage is reported.
    pub(crate) fn after_whole_write(self, ctx: &Context, table: &str) -> Finding {
        match ctx.written_whole(table) {
            Some(line) => {
                let mut finding = self.at(Severity::Warning);
                finding.message.push_str(&format!(
                    "; the write at line {line} already held that lock for a pass over the table (the outage is reported there), this adds another"
                ));
                finding
            }
            None => self,
        }
    }

    pub(crate) fn on(mut self, table: &str, lock: LockMode) -> Finding {
        self.table = Some(table.to_string());
        self.lock = Some(lock);
        self
    }
}

/// Findings for the sub-commands of an `ALTER TABLE` of an existing table that `finding` flags
/// (given the table's name and the sub-command).
pub(crate) fn alter_findings(
    effect: &Effect,
    ctx: &Context,
    finding: impl Fn(&str, &crate::AlterCommand) -> Option<Finding>,
) -> Vec<Finding> {
    let Action::AlterTable { table, commands } = &effect.action else { return Vec::new() };
    if ctx.is_new(table) {
        return Vec::new();
    }
    commands.iter().filter_map(|command| finding(table, command)).collect()
}

/// [`alter_findings`] for sub-commands whose cost grows with the table's rows (a scan, a
/// rewrite, an index build): none on a table that holds no row ([`Context::is_empty`]).
pub(crate) fn alter_cost_findings(
    effect: &Effect,
    ctx: &Context,
    finding: impl Fn(&str, &crate::AlterCommand) -> Option<Finding>,
) -> Vec<Finding> {
    match &effect.action {
        Action::AlterTable { table, .. } if ctx.is_empty(table) => Vec::new(),
        _ => alter_findings(effect, ctx, finding),
    }
}

/// Findings for the columns of a `CREATE TABLE` that `finding` flags.
pub(crate) fn column_findings(
    effect: &Effect,
    finding: impl Fn(&crate::ColumnInfo) -> Option<Finding>,
) -> Vec<Finding> {
    let Action::CreateTable { columns, .. } = &effect.action else { return Vec::new() };
    columns.iter().filter_map(finding).collect()
}

/// Runs the statement checks of the rules `wanted` selects on one statement.
pub(crate) fn check_statement(effect: &Effect, ctx: &Context, wanted: impl Fn(usize) -> bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (idx, rule) in RULES.iter().enumerate() {
        if let (true, Some(check)) = (wanted(idx), rule.statement) {
            findings.extend(check(effect, ctx));
        }
    }
    findings
}

/// Runs the migration checks of the rules `wanted` selects, after a migration's last statement.
pub(crate) fn check_migration(ctx: &Context, wanted: impl Fn(usize) -> bool) -> Vec<(usize, Finding)> {
    let mut findings = Vec::new();
    for (idx, rule) in RULES.iter().enumerate() {
        if let (true, Some(check)) = (wanted(idx), rule.migration) {
            findings.extend(check(ctx));
        }
    }
    findings
}

/// Whether the statement blocks writes to (or rewrites) a table that existed before the
/// migration for a time that grows with the table: what maintenance windows are for.
pub(crate) fn needs_window(effect: &Effect, ctx: &Context) -> bool {
    let existing = effect.locks.first().is_some_and(|(table, _)| !table.is_empty() && !ctx.is_new(table));
    let holds_rows = existing && effect.locks.first().is_some_and(|(table, _)| !ctx.is_empty(table));
    if let Some(ddl) = &effect.mysql {
        return existing && ddl.ddl && (ddl.algorithm == Some(crate::Algorithm::Copy) || !ddl.concurrent_dml);
    }
    (blocks_writes_on_existing(effect, ctx) && is_long_on_existing(effect, ctx)) || (holds_rows && effect.rewrites)
}

/// Whether a time zone's name is one with offset zero and no daylight saving: with it,
/// PostgreSQL 12+ changes a column between timestamp and timestamptz in the catalog alone.
pub(crate) fn is_utc(zone: &str) -> bool {
    let zone = zone.trim().trim_matches('\'').to_ascii_uppercase();
    matches!(
        zone.as_str(),
        "UTC" | "ETC/UTC" | "GMT" | "ETC/GMT" | "UCT" | "ETC/UCT" | "ZULU" | "ETC/ZULU" | "Z" | "UNIVERSAL"
    )
}

/// Whether the statement takes a lock that blocks writes on a table that existed before the
/// migration.
pub(crate) fn blocks_writes_on_existing(effect: &Effect, ctx: &Context) -> bool {
    effect.locks.iter().any(|(table, mode)| mode.blocks_writes() && !table.is_empty() && !ctx.is_new(table))
}

/// Whether `effect` locks an existing table against reads too.
pub(crate) fn blocks_reads_on_existing(effect: &Effect, ctx: &Context) -> bool {
    effect.locks.iter().any(|(table, mode)| mode.blocks_reads() && !table.is_empty() && !ctx.is_new(table))
}

/// Whether the statement's time grows with an existing table: it scans or rewrites it, or
/// writes its rows, or reads them to copy them (rows it lists itself, `INSERT ... VALUES`, are
/// no such work).
pub(crate) fn is_long_on_existing(effect: &Effect, ctx: &Context) -> bool {
    // The first lock is on the table the statement works on (others, such as a foreign key's
    // referenced table, are only locked).
    // On a table that holds no row, the work is done at once.
    let works_on_existing = effect.locks.first().is_some_and(|(table, _)| !table.is_empty() && !ctx.is_empty(table));
    let row_work =
        effect.rows.iter().any(|a| a.rows != crate::RowScope::Listed && !a.table.is_empty() && !ctx.is_empty(&a.table));
    works_on_existing && (effect.scans || effect.rewrites) || row_work || matches!(effect.action, Action::Opaque { .. })
}

#[cfg(test)]
pub(crate) mod test_utils {
    use crate::{LintConfig, Linter, Script};

    /// Lints migrations in order with only `rule`: each is its SQL and whether it runs in a
    /// transaction. Renders what the last one finds.
    pub(crate) fn run_with(migrations: &[(&str, bool)], rule: &str, config: LintConfig) -> String {
        last_diagnostics(migrations, rule, config).iter().map(|d| format!("{}: {}\n", d.rule, d.message)).collect()
    }

    /// The severities of `rule`'s findings in the last of `migrations` (linted as `run_with` does).
    pub(crate) fn severities_with(migrations: &[(&str, bool)], rule: &str) -> Vec<crate::Severity> {
        last_diagnostics(migrations, rule, LintConfig::default()).iter().map(|d| d.severity).collect()
    }

    /// Lints `sql` as the next migration file of `linter`'s sequence: its findings.
    pub(crate) fn lint_next(linter: &mut Linter, sql: &str, in_transaction: bool) -> Vec<crate::Diagnostic> {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script =
            Script { text: sql, statements: &statements, in_transaction, no_transaction_by: None, has_down: None };
        linter.lint(&script).diagnostics
    }

    fn last_diagnostics(migrations: &[(&str, bool)], rule: &str, config: LintConfig) -> Vec<crate::Diagnostic> {
        let mut linter = Linter::new(LintConfig { only_rule: Some(rule.to_string()), ..config });
        let mut last = Vec::new();
        for (sql, in_transaction) in migrations {
            last = lint_next(&mut linter, sql, *in_transaction);
        }
        last
    }

    /// Lints `sql` as one migration file with only `rule`, run by `runner` (a value of
    /// `--assume-runner`), its settings read as discovery reads them; `marker` stands for a
    /// directive of another layout than cutover's (goose's, dbmate's, ...).
    pub(crate) fn run_file(
        sql: &str,
        rule: &str,
        runner: &str,
        marker: Option<cutover_migration::NoTransactionMarker>,
    ) -> String {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let mut settings = cutover_migration::ScriptSettings::default();
        cutover_migration::read_directives(sql, &mut settings).unwrap();
        if let Some(marker) = marker {
            settings.no_transaction(marker);
        }
        let outside = cutover_migration::transactionality(&statements) == cutover_migration::Transactionality::Outside;
        let config = LintConfig {
            only_rule: Some(rule.to_string()),
            runner: runner.parse().expect("a runner"),
            ..LintConfig::default()
        };
        let script = Script {
            text: sql,
            statements: &statements,
            in_transaction: settings.transaction && !outside,
            no_transaction_by: settings.no_transaction_by,
            has_down: None,
        };
        Linter::new(config)
            .lint(&script)
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}\nhelp: {}\n", d.rule, d.message, d.help))
            .collect()
    }

    /// Every finding of `sql` linted as one migration run outside a transaction with `config`.
    pub(crate) fn diagnostics(sql: &str, config: LintConfig) -> Vec<crate::Diagnostic> {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let script = Script {
            text: sql,
            statements: &statements,
            in_transaction: false,
            no_transaction_by: None,
            has_down: None,
        };
        Linter::new(config).lint(&script).diagnostics
    }

    /// Lints `sql` as a MySQL migration on `server` (`mariadb-10.11`) with only `rule`.
    pub(crate) fn run_mysql(sql: &str, rule: &str, server: &str) -> String {
        run_with(&[(sql, false)], rule, mysql_config(server))
    }

    /// The lint configuration of a MySQL migration on `server` (`mariadb-10.11`).
    pub(crate) fn mysql_config(server: &str) -> LintConfig {
        LintConfig {
            dialect: crate::Dialect::Mysql,
            mysql_server: server.parse().expect("a server version"),
            ..LintConfig::default()
        }
    }

    /// Lints `sql` (a transactional migration) with only `rule`, and renders what it finds.
    fn run(sql: &str, rule: &str) -> String {
        run_with(&[(sql, true)], rule, LintConfig::default())
    }

    /// Asserts that `rule` finds nothing in `sql` (see `lint_errors`).
    pub(crate) fn lint_ok(sql: &str, rule: &str) {
        let found = run(sql, rule);
        assert!(found.is_empty(), "expected no `{rule}` finding (lint_errors asserts some), got:\n{found}");
    }

    /// Asserts that `rule` finds something in `sql` and returns the findings (see `lint_ok`).
    #[must_use]
    pub(crate) fn lint_errors(sql: &str, rule: &str) -> String {
        let found = run(sql, rule);
        assert!(!found.is_empty(), "expected a `{rule}` finding (lint_ok asserts none), got none");
        found
    }
}

#[cfg(test)]
mod tests {
    use super::RULES;

    #[test]
    fn every_rule_is_documented() {
        for rule in RULES {
            for heading in ["## What it does", "## Why is this bad?", "## Instead", "## Example"] {
                assert!(rule.doc.contains(heading), "{} lacks `{heading}`", rule.id);
            }
        }
    }

    #[test]
    fn rule_ids_are_unique_kebab_case() {
        for (idx, rule) in RULES.iter().enumerate() {
            assert!(rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", rule.id);
            assert!(RULES[idx + 1..].iter().all(|other| other.id != rule.id), "{} twice", rule.id);
        }
    }
}

#[cfg(test)]
mod docs {
    use super::RULES;

    /// The page `docs/rules/<id>.md` of a rule: its id, level, and documentation.
    fn page(rule: &super::Rule) -> String {
        let dialects: Vec<&str> = rule.dialects.iter().map(|d| d.name()).collect();
        format!("# {} ({}; {})\n\n{}\n", rule.id, rule.severity.name(), dialects.join(", "), rule.doc)
    }

    /// `docs/rules/` is generated from the rules' `DOC`: run with `CUTOVER_UPDATE_DOCS=1` to
    /// write it after changing a rule.
    #[test]
    fn docs_pages_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
        let update = std::env::var_os("CUTOVER_UPDATE_DOCS").is_some();
        let mut index = String::from("# Rules\n\nGenerated from the rules' sources (`crates/analysis/src/rules/`); `cutover explain RULE` prints the same page.\n\n| rule | level | dialects | what it flags |\n|---|---|---|---|\n");
        for rule in RULES {
            let what = rule.doc.split("## What it does\n").nth(1).and_then(|t| t.lines().next()).unwrap_or("");
            let dialects: Vec<&str> = rule.dialects.iter().map(|d| d.name()).collect();
            index.push_str(&format!(
                "| [{0}]({0}.md) | {1} | {2} | {3} |\n",
                rule.id,
                rule.severity.name(),
                dialects.join(", "),
                what.replace('|', "\\|")
            ));
        }
        let mut pages: Vec<(String, String)> =
            RULES.iter().map(|rule| (format!("{}.md", rule.id), page(rule))).collect();
        pages.push(("README.md".to_string(), index));
        for (name, text) in pages {
            let path = dir.join(&name);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else {
                let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    on_disk == text,
                    "docs/rules/{name} is stale: run `CUTOVER_UPDATE_DOCS=1 cargo test -p cutover-analysis docs`"
                );
            }
        }
    }
}
