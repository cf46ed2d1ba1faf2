//! The online table rewrite's primitives on MySQL/MariaDB.
//!
//! pt-online-schema-change's approach, with a way back:
//! - the shadow is `CREATE TABLE .. LIKE t` with the table's foreign keys added (`LIKE` leaves
//!   them out) and the change's actions applied, in the table's database. A foreign key's name
//!   is unique in its database, so the shadow's are the table's prefixed with `_cutover_`
//!   (pt-online-schema-change prefixes `_`); the old table keeps the names for a revert, and
//!   once it is dropped they are given back (`ALGORITHM=INPLACE`, no check: the rows were
//!   checked as they were copied);
//! - three `AFTER` row triggers on the table keep it in step (an upsert of the new row, a delete
//!   of the old key). They are made delete, update, insert in that order: once a row can reach
//!   the shadow, its deletion does too. The copy's batches read with `LOCK IN SHARE MODE` and
//!   leave rows a trigger wrote (see `keyset`);
//! - the verification reads a chunk of both tables in one consistent snapshot and compares the
//!   sums of each row's MD5, its values normalised to the shadow's column types;
//! - the swap is gh-ost's atomic cut-over, as MySQL's DDL is not transactional and MariaDB
//!   refuses `RENAME TABLE` under `LOCK TABLES`: a sentry table takes the old table's future
//!   name; this connection locks the table, the shadow and the sentry (`LOCK TABLES .. WRITE`);
//!   a second connection's `RENAME TABLE t TO old, shadow TO t` waits behind it; under the lock
//!   the capture triggers are exchanged for reverse ones on the shadow (they keep the old table
//!   in step for a revert); the sentry is dropped and the lock released, and the waiting rename
//!   runs before the application's queued statements (the server grants a waiting exclusive
//!   metadata lock first). Were this connection to die before dropping the sentry, the rename
//!   fails on it: the table keeps its name.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use cutover_engine::keyset;
use cutover_engine::{
    BackfillTarget, ChunkCheck, CopyInto, DbError, DbErrorKind, RewritePhase, RewritePlan, RewriteRequest,
    RewriteState, RewriteTarget, SwapReport, TableKey, Timeouts, REWRITE_MISSES_TABLE, REWRITE_STATE_TABLE,
};
use mysql::prelude::Queryable;
use mysql::{Row, Value};

use crate::backfill::{decode_key, encode_key, text};
use crate::connect::{open, quote_ident, MysqlTarget, TableName};
use crate::error::db_error;
use crate::migrate::fnv1a;

/// The sentry's one column: a table of that shape under the old table's name is a swap's
/// leftover, dropped by the next try.
const SENTRY_COLUMN: &str = "_cutover_sentry";

fn other(message: impl Into<String>) -> DbError {
    DbError::new(DbErrorKind::Other, message.into())
}

/// A column as the catalog knows it.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// `COLUMN_TYPE`: `bigint(20) unsigned`, `decimal(10,2)`, `varchar(100)`.
    column_type: String,
    /// `DATA_TYPE`: `bigint`, `decimal`, `varchar`.
    data_type: String,
    /// A generated column: computed by the server, never written.
    generated: bool,
}

/// The shadow's and the old table's names: the table's name and a suffix. They must sort after
/// it: the server takes a `RENAME TABLE`'s metadata locks in the order of the names, and the
/// cut-over's rename must wait on the table itself (where a waiting exclusive lock goes
/// before the application's queued statements), holding nothing else; waiting first on the
/// other name, it would let those statements run on the table between the lock's release and
/// the rename. `None` past MySQL's 64 characters.
fn derived(name: &str, suffix: &str) -> Option<String> {
    let full = format!("{name}{suffix}");
    (full.chars().count() <= 64).then_some(full)
}

/// The prefix of the shadow's foreign keys' names (see the module's docs).
const FOREIGN_KEY_PREFIX: &str = "_cutover_";

/// A foreign key of a table: its name, and what follows `ADD CONSTRAINT name` to make it again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ForeignKey {
    name: String,
    definition: String,
    /// Its columns, unquoted.
    columns: Vec<String>,
    /// A parent's change writes its columns here (`ON UPDATE CASCADE`, `SET NULL`, `SET
    /// DEFAULT`): InnoDB's cascades fire no trigger.
    parent_writes: bool,
    /// The database and table it points at.
    parent: (String, String),
}

const SHADOW_SUFFIX: &str = "__cutover_new";
const OLD_SUFFIX: &str = "__cutover_old";

/// The triggers of a rewrite of `table`: forward (on the table, into the shadow) or reverse
/// (on the swapped table, into the old one), for delete, update and insert, in the order they
/// are made.
fn trigger_names(table: &str, direction: &str) -> [String; 3] {
    let hash = fnv1a(table.as_bytes());
    ["del", "upd", "ins"].map(|op| format!("_cutover_{direction}_{op}_{hash:016x}"))
}

/// One piece of a statement's text.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A keyword or identifier, with whether it was quoted (backticks or double quotes).
    Word(String, bool),
    /// A string literal, a number or punctuation.
    Other(String),
}

impl Token {
    fn is(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(word, false) if word.eq_ignore_ascii_case(keyword))
    }

    fn word(&self) -> Option<&str> {
        match self {
            Token::Word(word, _) => Some(word),
            Token::Other(_) => None,
        }
    }
}

/// The tokens of `text`, with where each starts; comments dropped.
fn tokens(text: &str) -> Vec<(usize, Token)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1).map(|x| x.1) == Some('-') || c == '#' {
            while i < chars.len() && chars[i].1 != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1).map(|x| x.1) == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i].1 == '*' && chars[i + 1].1 == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '`' || c == '"' || c == '\'' {
            let mut value = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i].1 == c && chars.get(i + 1).map(|x| x.1) == Some(c) {
                    value.push(c);
                    i += 2;
                } else if chars[i].1 == c {
                    i += 1;
                    break;
                } else if c == '\'' && chars[i].1 == '\\' && i + 1 < chars.len() {
                    value.push(chars[i + 1].1);
                    i += 2;
                } else {
                    value.push(chars[i].1);
                    i += 1;
                }
            }
            out.push((at, if c == '\'' { Token::Other(format!("'{value}'")) } else { Token::Word(value, true) }));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].1.is_alphanumeric() || chars[i].1 == '_' || chars[i].1 == '$') {
                i += 1;
            }
            out.push((at, Token::Word(chars[start..i].iter().map(|x| x.1).collect(), false)));
        } else {
            out.push((at, Token::Other(c.to_string())));
            i += 1;
        }
    }
    out
}

/// The change's actions: `ALTER [ONLINE] [IGNORE] TABLE name actions` or the actions alone; a
/// change naming another table, or renaming this one, is refused.
fn change_actions(alter: &str, table: &TableName) -> Result<String, DbError> {
    let trimmed = alter.trim().trim_end_matches(';').trim();
    let tokens = tokens(trimmed);
    let mut actions = trimmed.to_string();
    if tokens.first().is_some_and(|(_, t)| t.is("ALTER")) {
        let mut i = 1;
        while tokens.get(i).is_some_and(|(_, t)| t.is("ONLINE") || t.is("IGNORE")) {
            i += 1;
        }
        if !tokens.get(i).is_some_and(|(_, t)| t.is("TABLE")) {
            return Err(other(format!("--alter must be an ALTER TABLE of {} or its actions alone", table.quoted())));
        }
        i += 1;
        let mut name = vec![tokens.get(i).and_then(|(_, t)| t.word()).unwrap_or_default().to_string()];
        i += 1;
        if tokens.get(i).is_some_and(|(_, t)| *t == Token::Other(".".into())) {
            name.push(tokens.get(i + 1).and_then(|(_, t)| t.word()).unwrap_or_default().to_string());
            i += 2;
        }
        let same = match name.as_slice() {
            [name] => name.eq_ignore_ascii_case(&table.name),
            [database, name] => {
                database.eq_ignore_ascii_case(&table.database) && name.eq_ignore_ascii_case(&table.name)
            }
            _ => false,
        };
        if !same {
            return Err(other(format!(
                "--alter changes `{}`, not the table being rewritten, {}",
                name.join("."),
                table.quoted()
            )));
        }
        actions = tokens.get(i).map(|(at, _)| trimmed[*at..].to_string()).unwrap_or_default();
    }
    let words: Vec<Token> = self::tokens(&actions).into_iter().map(|(_, t)| t).collect();
    for (i, token) in words.iter().enumerate() {
        let next = words.get(i + 1);
        let renames_table = token.is("RENAME")
            && !next.is_some_and(|n| n.is("COLUMN") || n.is("INDEX") || n.is("KEY") || n.is("CONSTRAINT"));
        if renames_table {
            return Err(other(
                "--alter renames the table: a rewrite keeps the table's name (rename it with RENAME TABLE, which is instant)",
            ));
        }
    }
    if words.iter().any(|t| *t == Token::Other(";".into())) {
        return Err(other(
            "--alter holds more than one statement: give one ALTER TABLE of the table (its actions separated by commas); run other statements on their own",
        ));
    }
    if actions.trim().is_empty() {
        return Err(other(
            "--alter has no change after the table's name; leave --alter out to rebuild the table as it is",
        ));
    }
    Ok(actions)
}

/// Columns the change renames, `(old, new)`: `CHANGE [COLUMN] old new ...` and `RENAME COLUMN
/// old TO new`.
fn renamed_columns(alter: Option<&str>) -> Vec<(String, String)> {
    let Some(alter) = alter else { return Vec::new() };
    let words: Vec<Token> = tokens(alter).into_iter().map(|(_, t)| t).collect();
    let mut renames = Vec::new();
    let word = |i: usize| words.get(i).and_then(Token::word).map(str::to_string);
    let mut i = 0;
    while i < words.len() {
        if words[i].is("CHANGE") {
            let mut j = i + 1;
            if words.get(j).is_some_and(|t| t.is("COLUMN")) {
                j += 1;
            }
            if words.get(j).is_some_and(|t| t.is("IF")) {
                j += 2;
            }
            if let (Some(old), Some(new)) = (word(j), word(j + 1)) {
                if !old.eq_ignore_ascii_case(&new) {
                    renames.push((old, new));
                }
            }
        } else if words[i].is("RENAME") && words.get(i + 1).is_some_and(|t| t.is("COLUMN")) {
            let mut j = i + 2;
            if words.get(j).is_some_and(|t| t.is("IF")) {
                j += 2;
            }
            if let (Some(old), Some(new)) = (word(j), word(j + 2)) {
                renames.push((old, new));
            }
        }
        i += 1;
    }
    renames
}

/// How a value compares in a column of `column`'s type: cast to it where MySQL can, text as
/// utf8mb4, so that both tables' rows hash alike whatever the source's type or character set.
fn normalized(value: &str, column: &Column) -> String {
    let ty = column.column_type.to_ascii_lowercase();
    let precision = |default: &str| -> String {
        ty.split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(inner, _)| inner.to_string())
            .unwrap_or_else(|| default.to_string())
    };
    match column.data_type.to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" | "bit" => {
            if ty.contains("unsigned") || column.data_type.eq_ignore_ascii_case("bit") {
                format!("CAST({value} AS UNSIGNED)")
            } else {
                format!("CAST({value} AS SIGNED)")
            }
        }
        "decimal" | "numeric" => format!("CAST({value} AS DECIMAL({}))", precision("10,0")),
        "float" => format!("CAST({value} AS FLOAT)"),
        "double" | "real" => format!("CAST({value} AS DOUBLE)"),
        "date" => format!("CAST({value} AS DATE)"),
        "datetime" | "timestamp" => format!("CAST({value} AS DATETIME({}))", precision("0")),
        "time" => format!("CAST({value} AS TIME({}))", precision("0")),
        // A CHAR column gives its value back without trailing spaces.
        "char" => format!("TRIM(TRAILING ' ' FROM CONVERT({value} USING utf8mb4))"),
        "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" | "json" => {
            format!("CONVERT({value} USING utf8mb4)")
        }
        _ => value.to_string(),
    }
}

/// A row's hash: the CRC-32 of its values normalised, with which are NULL, as
/// pt-table-checksum compares tables (a chunk's sum misses a difference once in 2^32). Measured
/// on MariaDB over 1M rows of three columns: 0.7 s, against 2.2 s for 64 bits of an MD5 of
/// the same and 6 s for an MD5 of each value.
fn row_hash(values: &[String], columns: &[Column], crc32c: bool) -> String {
    // Each value quoted (`QUOTE` escapes quotes and backslashes, and gives NULL unquoted), so
    // that no two rows encode alike: with a bare separator, ('x#', 'y') and ('x', '#y') did
    // (tester 16).
    let quoted: Vec<String> =
        values.iter().zip(columns).map(|(value, column)| format!("QUOTE({})", normalized(value, column))).collect();
    let text = format!("CONCAT_WS(',', {})", quoted.join(", "));
    if crc32c {
        // 64 bits from two checksums of different polynomials, as a number the sums add
        // exactly: a third cheaper than MD5 (2M rows of five columns: 1.75 s a table, MD5
        // 2.62 s), and a verification reads each row twice.
        format!("((CRC32({text}) << 32) | CRC32C({text}))")
    } else {
        // The first 64 bits of its MD5 (MySQL has no CRC32C).
        format!("CAST(CONV(LEFT(MD5({text}), 16), 16, 10) AS UNSIGNED)")
    }
}

/// The statement a trigger runs to put `row`'s version (`NEW`) into `target`: the copy's
/// values over a one-row derived table named like the source, so that `--using` expressions
/// read the same as in the copy.
fn upsert_sql(copy: &CopyInto, source_columns: &[Column], row: &str) -> String {
    let fields: Vec<String> =
        source_columns.iter().map(|c| format!("{row}.{q} AS {q}", q = quote_ident(&c.name))).collect();
    let updates: Vec<String> = copy.columns.iter().map(|c| format!("{c} = VALUES({c})")).collect();
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM (SELECT {}) AS {} ON DUPLICATE KEY UPDATE {}",
        copy.table,
        copy.columns.join(", "),
        copy.values.join(", "),
        fields.join(", "),
        copy.alias,
        updates.join(", ")
    )
}

/// The data types whose values a narrower type of the same kind rounds without an error.
const NUMERIC_OR_TEMPORAL: &[&str] = &[
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "bigint",
    "decimal",
    "float",
    "double",
    "date",
    "datetime",
    "timestamp",
    "time",
    "year",
];

/// `target_key1 = OLD.key1 AND ...`: the target's row of the source row's old key.
fn key_match(target_keys: &[String], source_keys: &[String], row: &str) -> String {
    target_keys
        .iter()
        .zip(source_keys)
        .map(|(target, source)| format!("{target} = {row}.{}", quote_ident(source)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The copy from one table into another, read from their columns.
struct Mapping {
    copy: CopyInto,
    /// The destination's columns, in the order of `copy.columns`.
    types: Vec<Column>,
    /// Destination columns nothing fills.
    defaulted: Vec<String>,
    /// Source columns the destination does not have.
    dropped: Vec<String>,
}

/// A table's state of a rewrite: what exists of it.
struct Presence {
    shadow: bool,
    old: bool,
    /// The old name holds a swap's sentry, not the old table.
    old_is_sentry: bool,
}

impl Presence {
    /// The phase the names show when a cut-over or revert was killed after its rename (DDL
    /// commits on its own) and before it recorded `recorded`'s successor.
    fn renamed_past(&self, recorded: RewritePhase) -> Option<RewritePhase> {
        match recorded {
            RewritePhase::Copying | RewritePhase::Ready if !self.shadow && self.old => Some(RewritePhase::Swapped),
            RewritePhase::Swapped if self.shadow && !self.old => Some(RewritePhase::Reverted),
            _ => None,
        }
    }
}

impl MysqlTarget {
    fn state_table(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(REWRITE_STATE_TABLE))
    }

    fn misses_table(&self) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(REWRITE_MISSES_TABLE))
    }

    fn exec(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.query_drop(sql).map_err(|err| {
            let err = db_error(err);
            DbError { message: format!("{} (in `{}`)", err.message, cutover_engine::statement_head(sql)), ..err }
        })
    }

    fn ensure_rewrite_state(&mut self) -> Result<(), DbError> {
        // The misses first: the state table's reader reads both once the state table is there
        // (a run killed between the two made every later command fail).
        self.exec(&format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,\n    table_name varchar(512) COLLATE utf8mb4_bin NOT NULL,\n    operation varchar(16) NOT NULL,\n    error text NOT NULL,\n    at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            self.misses_table()
        ))?;
        self.exec(&format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    table_name varchar(512) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,\n    alter_sql longtext,\n    using_exprs longtext NOT NULL,\n    shadow varchar(512) NOT NULL,\n    old_name varchar(512) NOT NULL,\n    phase varchar(16) NOT NULL,\n    started_at datetime(6) NOT NULL,\n    updated_at datetime(6) NOT NULL,\n    ended_from varchar(16),\n    definition longtext,\n    swapped_definition longtext\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            self.state_table()
        ))?;
        // A table an earlier version made gains the columns added since (only then: an ALTER
        // TABLE takes a metadata lock even when it has nothing to do).
        for (column, definition) in
            [("ended_from", "varchar(16)"), ("definition", "longtext"), ("swapped_definition", "longtext")]
        {
            if !self.state_has(column)? {
                self.exec(&format!("ALTER TABLE {} ADD COLUMN {column} {definition}", self.state_table()))?;
            }
        }
        self.rewrite_state_current = true;
        Ok(())
    }

    /// Whether the state table has `column` (`ended_from`, `definition`: an earlier version's
    /// has neither).
    fn state_has(&mut self, column: &str) -> Result<bool, DbError> {
        if self.rewrite_state_current {
            return Ok(true);
        }
        let n: Option<i64> = self
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ? AND COLUMN_NAME = ?",
                (&self.database, REWRITE_STATE_TABLE, column),
            )
            .map_err(db_error)?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// The table's definition as `SHOW CREATE TABLE` prints it, less its counter (which every
    /// insert moves).
    fn definition_of(&mut self, table: &TableName) -> Result<String, DbError> {
        let row: Option<Row> =
            self.conn.query_first(format!("SHOW CREATE TABLE {}", table.quoted())).map_err(db_error)?;
        let text = row.and_then(|row| text(&row, 1)).unwrap_or_default();
        Ok(text
            .split(' ')
            .filter(|word| !(word.starts_with("AUTO_INCREMENT=") && word[15..].bytes().all(|b| b.is_ascii_digit())))
            .collect::<Vec<_>>()
            .join(" "))
    }

    fn table_exists(&mut self, table: &TableName) -> Result<bool, DbError> {
        let n: Option<i64> = self
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ?",
                (&table.database, &table.name),
            )
            .map_err(db_error)?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// `t`, `db.t`, `` `db`.`t` ``: the table as the catalog spells it.
    fn resolve_table(&mut self, text: &str) -> Result<TableName, DbError> {
        let Some(TableName { database, name }) = TableName::parse(text, &self.database) else {
            return Err(other(format!(
                "`{text}` is not a table name (write it as table or database.table, quoting with backticks a name that needs it)"
            )));
        };
        // Names compare as the server compares them: exactly unless it folds case
        // (`lower_case_table_names`); information_schema itself ignores case.
        let equals = crate::connect::schema_equals(self.names_fold_case);
        let row: Option<(String, String, String)> = self
            .conn
            .exec_first(
                format!(
                    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA {equals} AND TABLE_NAME {equals}"
                ),
                (&database, &name),
            )
            .map_err(db_error)?;
        match row {
            Some((database, name, kind)) if kind == "BASE TABLE" => Ok(TableName { database, name }),
            Some((database, name, kind)) => {
                Err(other(format!("`{database}`.`{name}` is a {}, not a table", kind.to_lowercase())))
            }
            None => Err(other(format!(
                "table `{text}` does not exist in the database `{database}`; check the name, or qualify it as database.table"
            ))),
        }
    }

    fn columns(&mut self, table: &TableName) -> Result<Vec<Column>, DbError> {
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, COALESCE(GENERATION_EXPRESSION, '') <> '' \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ? ORDER BY ORDINAL_POSITION",
                (&table.database, &table.name),
            )
            .map_err(db_error)?;
        Ok(rows
            .iter()
            .map(|row| Column {
                name: text(row, 0).unwrap_or_default(),
                column_type: text(row, 1).unwrap_or_default(),
                data_type: text(row, 2).unwrap_or_default(),
                generated: text(row, 3).as_deref() == Some("1"),
            })
            .collect())
    }

    /// The table's unique indexes, each as its columns (lower case, a prefix length kept).
    fn unique_column_sets(&mut self, table: &TableName) -> Result<Vec<Vec<String>>, DbError> {
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT GROUP_CONCAT(CONCAT(LOWER(COLUMN_NAME), COALESCE(CONCAT('(', SUB_PART, ')'), '')) ORDER BY SEQ_IN_INDEX SEPARATOR '\\n') \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ? AND NON_UNIQUE = 0 GROUP BY INDEX_NAME",
                (&table.database, &table.name),
            )
            .map_err(db_error)?;
        let mut sets: Vec<Vec<String>> =
            rows.iter().map(|row| text(row, 0).unwrap_or_default().split('\n').map(str::to_string).collect()).collect();
        sets.sort();
        Ok(sets)
    }

    /// Whether a cut-over (from `Ready`) or a revert (from `Swapped`) that failed renamed all the
    /// same: its rename ended as its connection was killed, or the error came after it. Read
    /// once no rename of the rewrite is left running on the server.
    fn renamed_despite(&mut self, state: &RewriteState, from: RewritePhase) -> bool {
        if self.wait_for_queued_rename(state).is_err() {
            return false;
        }
        self.presence(state).ok().and_then(|presence| presence.renamed_past(from)).is_some()
    }

    /// The forward capture's triggers not on the table (under its name).
    fn missing_forward_triggers(&mut self, state: &RewriteState) -> Result<Vec<String>, DbError> {
        let installed = self.triggers_on(&self.parse_stored(&state.table))?;
        Ok(trigger_names(&state.table, "fwd").into_iter().filter(|name| !installed.contains(name)).collect())
    }

    fn triggers_on(&mut self, table: &TableName) -> Result<Vec<String>, DbError> {
        self.conn
            .exec(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = BINARY ? AND EVENT_OBJECT_TABLE = BINARY ? ORDER BY TRIGGER_NAME",
                (&table.database, &table.name),
            )
            .map_err(db_error)
    }

    /// The views that read a column of `table` among `columns` (dropped or renamed by the
    /// change), said as a reason: views bind to a table by its name, so after the swap they
    /// would read the rewritten table and fail.
    fn views_reading(&mut self, table: &TableName, columns: &[String]) -> Result<Option<String>, DbError> {
        if columns.is_empty() {
            return Ok(None);
        }
        // MariaDB and MySQL store a view's query with every column qualified and quoted.
        let rows: Vec<(String, String, String)> = self
            .conn
            .exec(
                "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE INSTR(VIEW_DEFINITION, ?) > 0",
                (table.quoted(),),
            )
            .map_err(db_error)?;
        let mut reading = Vec::new();
        for (database, view, definition) in rows {
            for column in columns {
                if definition.contains(&format!("{}.{}", quote_ident(&table.name), quote_ident(column))) {
                    reading.push(format!("`{database}`.`{view}` reads `{column}`"));
                }
            }
        }
        Ok((!reading.is_empty()).then(|| {
            format!(
                "{}, which the change drops or renames; views follow a table's name, so after the swap they would fail (ERROR 1356): change them first (or make the rewrite keep the column)",
                reading.join(", ")
            )
        }))
    }

    /// The table's foreign keys, as `ADD CONSTRAINT` makes them again.
    fn foreign_keys(&mut self, table: &TableName) -> Result<Vec<ForeignKey>, DbError> {
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT r.CONSTRAINT_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, r.UPDATE_RULE, r.DELETE_RULE, \
                   k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME \
                 FROM information_schema.REFERENTIAL_CONSTRAINTS r JOIN information_schema.KEY_COLUMN_USAGE k \
                   ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME AND k.TABLE_NAME = r.TABLE_NAME \
                 WHERE r.CONSTRAINT_SCHEMA = BINARY ? AND r.TABLE_NAME = BINARY ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
                 ORDER BY r.CONSTRAINT_NAME, k.ORDINAL_POSITION",
                (&table.database, &table.name),
            )
            .map_err(db_error)?;
        /// A key as its rows are read: one row per column.
        struct Read {
            name: String,
            references: String,
            rules: String,
            columns: Vec<String>,
            referenced: Vec<String>,
            parent_writes: bool,
            parent: (String, String),
        }
        let mut keys: Vec<Read> = Vec::new();
        for row in &rows {
            let field = |idx| text(row, idx).unwrap_or_default();
            let name = field(0);
            if keys.last().is_none_or(|k| k.name != name) {
                let references = format!("{}.{}", quote_ident(&field(1)), quote_ident(&field(2)));
                // RESTRICT is the default, and left unsaid: said, MariaDB's in-place `ADD
                // CONSTRAINT` records it as NO ACTION (the same to InnoDB, not to the catalog).
                let rule = |event: &str, rule: String| {
                    if rule == "RESTRICT" {
                        String::new()
                    } else {
                        format!(" ON {event} {rule}")
                    }
                };
                let rules = format!("{}{}", rule("UPDATE", field(3)), rule("DELETE", field(4)));
                let writes = |rule: String| matches!(rule.as_str(), "CASCADE" | "SET NULL" | "SET DEFAULT");
                let parent_writes = writes(field(3)) || (field(4) != "CASCADE" && writes(field(4)));
                let parent = (field(1), field(2));
                keys.push(Read {
                    name,
                    references,
                    rules,
                    columns: Vec::new(),
                    referenced: Vec::new(),
                    parent_writes,
                    parent,
                });
            }
            let key = keys.last_mut().expect("pushed above");
            key.columns.push(field(5));
            key.referenced.push(quote_ident(&field(6)));
        }
        Ok(keys
            .into_iter()
            .map(|key| ForeignKey {
                definition: format!(
                    "FOREIGN KEY ({}) REFERENCES {} ({}){}",
                    key.columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "),
                    key.references,
                    key.referenced.join(", "),
                    key.rules
                ),
                name: key.name,
                columns: key.columns,
                parent_writes: key.parent_writes,
                parent: key.parent,
            })
            .collect())
    }

    /// Drops and adds again, as `SHOW CREATE TABLE` writes them, the plain (non-unique) indexes
    /// of an empty table: see `start_rewrite`.
    fn remake_plain_indexes(&mut self, table: &TableName) -> Result<(), DbError> {
        let created: Option<(String, String)> =
            self.conn.query_first(format!("SHOW CREATE TABLE {}", table.quoted())).map_err(db_error)?;
        let definition = created.map(|(_, sql)| sql).unwrap_or_default();
        let mut actions = Vec::new();
        for line in definition.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("KEY `") else { continue };
            // The name, to its closing backtick (a doubled one is a backtick in it).
            let mut name = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '`' {
                    if chars.peek() == Some(&'`') {
                        chars.next();
                    } else {
                        break;
                    }
                }
                name.push(c);
            }
            actions.push(format!("DROP INDEX {}", quote_ident(&name)));
            actions.push(format!("ADD {}", line.trim_end_matches(',')));
        }
        if actions.is_empty() {
            return Ok(());
        }
        self.exec(&format!("ALTER TABLE {} {}", table.quoted(), actions.join(", ")))
    }

    /// Gives the table's foreign keys the names they had before the rewrite (the copy's are
    /// prefixed, see the module's docs), once the old table that kept them is gone. In place,
    /// unchecked: the copy checked every row it wrote, and the foreign keys kept checking since.
    fn restore_foreign_key_names(&mut self, table: &TableName) -> Result<(), DbError> {
        let renamed: Vec<ForeignKey> =
            self.foreign_keys(table)?.into_iter().filter(|fk| fk.name.starts_with(FOREIGN_KEY_PREFIX)).collect();
        if renamed.is_empty() {
            return Ok(());
        }
        let actions: Vec<String> = renamed
            .iter()
            .flat_map(|fk| {
                [
                    format!("DROP FOREIGN KEY {}", quote_ident(&fk.name)),
                    format!("ADD CONSTRAINT {} {}", quote_ident(&fk.name[FOREIGN_KEY_PREFIX.len()..]), fk.definition),
                ]
            })
            .collect();
        self.exec("SET @cutover_foreign_key_checks = @@SESSION.foreign_key_checks, SESSION foreign_key_checks = 0")?;
        let renamed =
            self.exec(&format!("ALTER TABLE {} {}, ALGORITHM=INPLACE, LOCK=NONE", table.quoted(), actions.join(", ")));
        let restored = self.exec("SET SESSION foreign_key_checks = @cutover_foreign_key_checks");
        renamed.and(restored)
    }

    /// Why the table cannot be rewritten online, if it cannot.
    fn refusal(&mut self, table: &TableName, foreign_keys: &[ForeignKey]) -> Result<Option<String>, DbError> {
        let facts: Option<(Option<String>, Option<String>)> = self
            .conn
            .exec_first(
                "SELECT ENGINE, CREATE_OPTIONS FROM information_schema.TABLES WHERE TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ?",
                (&table.database, &table.name),
            )
            .map_err(db_error)?;
        let (engine, options) = facts.unwrap_or_default();
        let engine = engine.unwrap_or_default();
        if !engine.eq_ignore_ascii_case("InnoDB") {
            return Ok(Some(format!(
                "it is a {engine} table: the copy and its change capture need InnoDB's row locks and consistent reads (convert it with ALTER TABLE .. ENGINE=InnoDB first)"
            )));
        }
        if options.unwrap_or_default().to_ascii_lowercase().contains("partitioned") {
            return Ok(Some(
                "it is partitioned: a rewrite of partitioned tables is not built (change one partition at a time, or use pt-online-schema-change)".to_string(),
            ));
        }
        if let Some(reason) = self.dependents_refusal(table)? {
            return Ok(Some(reason));
        }
        let itself = (table.database.clone(), table.name.clone());
        let self_referencing: Vec<String> =
            foreign_keys.iter().filter(|fk| fk.parent == itself).map(|fk| fk.name.clone()).collect();
        if !self_referencing.is_empty() {
            return Ok(Some(format!(
                "its foreign keys {} point at the table itself: the copy's would point at the old table after the swap",
                self_referencing.join(", ")
            )));
        }
        let names: Vec<String> = foreign_keys.iter().map(|fk| fk.name.clone()).collect();
        // Such a name is the copy's of an earlier rewrite whose cleanup has not given it back,
        // or one the cleanup would take for that.
        let ours: Vec<&String> = names.iter().filter(|name| name.starts_with(FOREIGN_KEY_PREFIX)).collect();
        if let Some(name) = ours.first() {
            return Ok(Some(format!(
                "its foreign key {name} has a name of the kind a rewrite gives the copy's (`{FOREIGN_KEY_PREFIX}` and the original): if a rewrite of it is done, `cutover rewrite --cleanup --table {}` gives the name back; else rename the key first",
                table.name
            )));
        }
        let too_long: Vec<String> =
            names.iter().filter(|name| name.chars().count() + FOREIGN_KEY_PREFIX.len() > 64).cloned().collect();
        if !too_long.is_empty() {
            let (which, them) = match too_long.as_slice() {
                [one] => (format!("the name of its foreign key {one} is"), "it"),
                many => (format!("the names of its foreign keys {} are", many.join(", ")), "them"),
            };
            return Ok(Some(format!(
                "{which} too long for the copy's (`{FOREIGN_KEY_PREFIX}` and the name, at most 64 characters): rename {them} first"
            )));
        }
        for name in &names {
            let copy_name = format!("{FOREIGN_KEY_PREFIX}{name}");
            let holder: Option<String> = self
                .conn
                .exec_first(
                    "SELECT TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS \
                     WHERE CONSTRAINT_SCHEMA = BINARY ? AND LOWER(CONSTRAINT_NAME) = LOWER(?) LIMIT 1",
                    (&table.database, &copy_name),
                )
                .map_err(db_error)?;
            if let Some(holder) = holder {
                return Ok(Some(format!(
                    "the copy's name for its foreign key {name}, {copy_name}, is taken by a foreign key of `{holder}` (names are unique per database): rename that one first"
                )));
            }
        }
        Ok(None)
    }

    /// What the start refuses that can appear while a rewrite is under way, and the swap then
    /// refuses too (tester 16: a trigger or another table's foreign key made during the copy
    /// stayed with the old table, the key checking against it): other tables' foreign keys
    /// pointing at the table, triggers of the application's on it.
    fn dependents_refusal(&mut self, table: &TableName) -> Result<Option<String>, DbError> {
        let incoming: Vec<(String, String, String)> = self
            .conn
            .exec(
                "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE REFERENCED_TABLE_SCHEMA = BINARY ? AND REFERENCED_TABLE_NAME = BINARY ? AND NOT (TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ?) \
                 GROUP BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME",
                (&table.database, &table.name, &table.database, &table.name),
            )
            .map_err(db_error)?;
        if !incoming.is_empty() {
            let names: Vec<String> = incoming.iter().map(|(d, t, c)| format!("{c} of `{d}`.`{t}`")).collect();
            return Ok(Some(format!(
                "foreign keys of other tables point at it ({}): InnoDB keeps them on a table through its renames, so after the swap they would check against the old table until moved, where RESTRICT and cascades do not hold; this version refuses (drop them, rewrite, add them again; or pt-online-schema-change's --alter-foreign-keys-method)",
                names.join(", ")
            )));
        }
        let triggers: Vec<String> =
            self.triggers_on(table)?.into_iter().filter(|name| !name.starts_with("_cutover_")).collect();
        if !triggers.is_empty() {
            return Ok(Some(format!(
                "it has triggers ({}): they would stay with the old table at the swap; drop them for the rewrite and make them again after, or use pt-online-schema-change --preserve-triggers",
                triggers.join(", ")
            )));
        }
        Ok(None)
    }

    fn select_rewrites(&mut self, table: Option<&str>) -> Result<Vec<RewriteState>, DbError> {
        let exists: Option<i64> = self
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ?",
                (&self.database, REWRITE_STATE_TABLE),
            )
            .map_err(db_error)?;
        if exists.unwrap_or(0) == 0 {
            return Ok(Vec::new());
        }
        // An earlier version's table is read without how its rewrites ended (reading needs no
        // more than SELECT: it is brought up to date by the next rewrite).
        let ended_from = if self.state_has("ended_from")? { "r.ended_from" } else { "NULL" };
        // A run of an older cutover killed between making the two tables left no misses table:
        // none were noted.
        let misses_exist =
            self.table_exists(&TableName { database: self.database.clone(), name: REWRITE_MISSES_TABLE.to_string() })?;
        let out_of_step = match misses_exist {
            true => format!(
                "(SELECT CONCAT(m.operation, ': ', m.error) FROM {} m WHERE m.table_name = r.table_name ORDER BY m.id LIMIT 1)",
                self.misses_table()
            ),
            false => "NULL".to_string(),
        };
        let sql = format!(
            "SELECT r.table_name, r.alter_sql, r.using_exprs, r.shadow, r.old_name, r.phase, \
                    {out_of_step}, \
                    DATE_FORMAT(r.started_at, '%Y-%m-%dT%H:%i:%s.%fZ'), DATE_FORMAT(r.updated_at, '%Y-%m-%dT%H:%i:%sZ'), {ended_from} \
             FROM {state} r WHERE ? IS NULL OR r.table_name = ? ORDER BY r.started_at DESC",
            state = self.state_table()
        );
        let rows: Vec<Row> = self.conn.exec(sql, (table, table)).map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let using = decode_key(&text(row, 2).unwrap_or_default()).unwrap_or_default();
                Ok(RewriteState {
                    table: text(row, 0).unwrap_or_default(),
                    alter: text(row, 1),
                    using: using.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect(),
                    shadow: text(row, 3).unwrap_or_default(),
                    old: text(row, 4).unwrap_or_default(),
                    phase: RewritePhase::parse(&text(row, 5).unwrap_or_default()).map_err(|e| other(e.to_string()))?,
                    ended_from: text(row, 9).and_then(|p| RewritePhase::parse(&p).ok()),
                    out_of_step: text(row, 6),
                    capture_incomplete: None,
                    unvalidated: Vec::new(),
                    started_at: text(row, 7).unwrap_or_default(),
                    updated_at: text(row, 8).unwrap_or_default(),
                })
            })
            .collect()
    }

    fn record_phase(&mut self, table: &str, phase: RewritePhase) -> Result<(), DbError> {
        // MySQL assigns left to right: `ended_from` reads the phase before it changes.
        let ended_from = match phase {
            RewritePhase::Done => "ended_from = IF(phase = 'done', ended_from, phase), ",
            _ => "",
        };
        self.conn
            .exec_drop(
                format!(
                    "UPDATE {} SET {ended_from}phase = ?, updated_at = UTC_TIMESTAMP(6) WHERE table_name = ?",
                    self.state_table()
                ),
                (phase.name(), table),
            )
            .map_err(db_error)
    }

    fn presence(&mut self, state: &RewriteState) -> Result<Presence, DbError> {
        let shadow_name = self.parse_stored(&state.shadow);
        // A revert killed before its rename leaves a sentry under the copy's name.
        let shadow = self.table_exists(&shadow_name)? && !self.is_sentry(&shadow_name)?;
        let old_name = self.parse_stored(&state.old);
        let old_is_sentry = self.is_sentry(&old_name)?;
        let old = self.table_exists(&old_name)? && !old_is_sentry;
        Ok(Presence { shadow, old, old_is_sentry })
    }

    /// A stored `` `db`.`name` `` back into its parts.
    fn parse_stored(&self, quoted: &str) -> TableName {
        TableName::parse(quoted, &self.database)
            .unwrap_or_else(|| TableName { database: self.database.clone(), name: quoted.to_string() })
    }

    /// The state after what a killed run did: a rename happens whole, so which names exist says
    /// whether a swap (or a swap back) went through before the phase was recorded.
    fn reconcile(&mut self, mut state: RewriteState) -> Result<RewriteState, DbError> {
        if matches!(state.phase, RewritePhase::Ready | RewritePhase::Swapped) {
            self.wait_for_queued_rename(&state)?;
        }
        let presence = self.presence(&state)?;
        if let Some(phase) = presence.renamed_past(state.phase) {
            self.record_phase(&state.table, phase)?;
            state.phase = phase;
        }
        let forward_complete = self.missing_forward_triggers(&state)?.is_empty();
        match state.phase {
            // A start (or a repair) stopped before its capture was complete: the copy may not
            // have the change yet; what it made is dropped and the rewrite starts afresh.
            RewritePhase::Copying if !(presence.shadow && forward_complete) => {
                self.abandon(&state)?;
                return Ok(self.select_rewrites(Some(&state.table))?.into_iter().next().unwrap_or(state));
            }
            RewritePhase::Ready if presence.shadow && !forward_complete => {
                self.repair_capture(&state)?;
                return Ok(self.select_rewrites(Some(&state.table))?.into_iter().next().unwrap_or(state));
            }
            _ => {}
        }
        if state.phase == RewritePhase::Swapped && state.out_of_step.is_none() {
            let installed = self.triggers_on(&self.parse_stored(&state.table))?;
            let missing: Vec<String> =
                trigger_names(&state.table, "rev").into_iter().filter(|name| !installed.contains(name)).collect();
            // A killed revert's rename, queued on the server, may run while this reads: the
            // names are read again, and a swap back that went through is recorded as such.
            let again = self.presence(&state)?;
            if !missing.is_empty() && again.shadow && !again.old {
                self.record_phase(&state.table, RewritePhase::Reverted)?;
                state.phase = RewritePhase::Reverted;
                return Ok(state);
            }
            if !missing.is_empty() {
                let why = format!(
                    "the triggers that keep the old table in step are not all there (missing: {}): writes since were not all kept",
                    missing.join(", ")
                );
                self.conn
                    .exec_drop(
                        format!(
                            "INSERT INTO {} (table_name, operation, error) VALUES (?, 'CAPTURE', ?)",
                            self.misses_table()
                        ),
                        (&state.table, &why),
                    )
                    .map_err(db_error)?;
                state.out_of_step = Some(format!("CAPTURE: {why}"));
            }
        }
        Ok(state)
    }

    /// A cut-over (or revert) killed under its lock leaves its rename queued on the server: on a
    /// connection of its own, which the server closes only when the statement ends, and which
    /// runs as soon as the server sees the lock's connection gone. Names read before then would
    /// take a swap about to happen for one that did not (a capture to repair, a swap to do
    /// again), so the next run waits for it; the rename's own lock wait bounds the wait.
    fn wait_for_queued_rename(&mut self, state: &RewriteState) -> Result<(), DbError> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let queued: Vec<u64> = self
                .conn
                .exec(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
                     AND INFO LIKE 'RENAME TABLE %' AND (INSTR(INFO, ?) > 0 OR INSTR(INFO, ?) > 0)",
                    (&state.shadow, &state.old),
                )
                .map_err(db_error)?;
            let Some(id) = queued.first() else { return Ok(()) };
            if Instant::now() > deadline {
                return Err(DbError::new(
                    DbErrorKind::LockTimeout,
                    format!(
                        "a rename of {} by an earlier run is still waiting on the server (connection {id}): it ends by its lock wait timeout; or stop it (`KILL {id}`) and run this again",
                        state.table
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Drops what an interrupted start made (capture, copy, sentry) and records the rewrite
    /// done, so that the same command starts it again. The table itself was never touched.
    fn abandon(&mut self, state: &RewriteState) -> Result<(), DbError> {
        let table = self.parse_stored(&state.table);
        self.exec("SET SESSION lock_wait_timeout = 5")?;
        let mut triggers = trigger_names(&state.table, "fwd").to_vec();
        triggers.extend(trigger_names(&state.table, "rev"));
        self.drop_triggers(&table.database, &triggers)?;
        self.exec(&format!("DROP TABLE IF EXISTS {}", state.shadow))?;
        if self.is_sentry(&self.parse_stored(&state.old))? {
            self.exec(&format!("DROP TABLE IF EXISTS {}", state.old))?;
        }
        self.record_phase(&state.table, RewritePhase::Done)
    }

    /// A capture a killed cut-over left incomplete (dropped under its lock before the rename):
    /// the application's writes since did not all reach the verified copy, so it is emptied and
    /// the capture made again, and the copy starts over (a new start time names a new
    /// checkpoint). The table itself was never touched.
    fn repair_capture(&mut self, state: &RewriteState) -> Result<(), DbError> {
        let table = self.parse_stored(&state.table);
        let shadow = self.parse_stored(&state.shadow);
        let forward = trigger_names(&state.table, "fwd");
        if self.missing_forward_triggers(state)?.is_empty() {
            return Ok(());
        }
        // Recorded first: a run killed while repairing finds the capture incomplete again (and
        // repairs it again), or complete with the copy to start over; never a complete capture
        // beside an emptied copy that is recorded as copied.
        self.conn
            .exec_drop(
                format!(
                    "UPDATE {} SET phase = ?, started_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6) WHERE table_name = ?",
                    self.state_table()
                ),
                (RewritePhase::Copying.name(), &state.table),
            )
            .map_err(db_error)?;
        // DDL on the application's table: never queued behind its transactions for long.
        self.exec("SET SESSION lock_wait_timeout = 5")?;
        self.drop_triggers(&table.database, &trigger_names(&state.table, "rev"))?;
        self.drop_triggers(&table.database, &forward)?;
        let old = self.parse_stored(&state.old);
        self.ensure_sentry(&old)?;
        self.exec(&format!("TRUNCATE TABLE {}", shadow.quoted()))?;
        let key = self
            .table_key(&state.table)?
            .ok_or_else(|| other(format!("{} has no primary key or unique index any more", state.table)))?;
        let copy = self.mapping(&table, &shadow, &renamed_columns(state.alter.as_deref()), &state.using)?.copy;
        let triggers = self.capture_triggers(&table, &copy, &key, &forward, None, &[])?;
        self.install_triggers(&table, &shadow, &triggers)?;
        Ok(())
    }

    fn rewrite_state_of(&mut self, table: &str) -> Result<RewriteState, DbError> {
        self.load_rewrite(table)?.ok_or_else(|| other(format!("no rewrite of {table} is recorded")))
    }

    /// The copy from `source` into `target`: each target column's value over the source row.
    /// `renames` are `(source name, target name)`.
    fn mapping(
        &mut self,
        source: &TableName,
        target: &TableName,
        renames: &[(String, String)],
        using: &[(String, String)],
    ) -> Result<Mapping, DbError> {
        let source_columns = self.columns(source)?;
        let target_columns = self.columns(target)?;
        let (mut columns, mut values, mut types, mut defaulted) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut used = Vec::new();
        for column in target_columns.iter().filter(|c| !c.generated) {
            let from_name = renames
                .iter()
                .find(|(_, new)| new.eq_ignore_ascii_case(&column.name))
                .map(|(old, _)| old.clone())
                .unwrap_or_else(|| column.name.clone());
            let given = using.iter().find(|(name, _)| name.trim_matches('`').eq_ignore_ascii_case(&column.name));
            let value = match given {
                Some((_, expression)) => Some(expression.clone()),
                None => source_columns.iter().find(|c| c.name.eq_ignore_ascii_case(&from_name)).map(|c| {
                    used.push(c.name.to_lowercase());
                    quote_ident(&c.name)
                }),
            };
            match value {
                Some(value) => {
                    columns.push(quote_ident(&column.name));
                    values.push(value);
                    types.push(column.clone());
                }
                None => defaulted.push(column.name.clone()),
            }
        }
        let dropped = source_columns
            .iter()
            .filter(|c| {
                !target_columns.iter().any(|t| {
                    let mapped = renames
                        .iter()
                        .find(|(old, _)| old.eq_ignore_ascii_case(&c.name))
                        .map(|(_, new)| new.as_str())
                        .unwrap_or(&c.name);
                    t.name.eq_ignore_ascii_case(mapped)
                })
            })
            .map(|c| c.name.clone())
            .collect();
        let copy = CopyInto { table: target.quoted(), columns, values, alias: quote_ident(&source.name) };
        Ok(Mapping { copy, types, defaulted, dropped })
    }

    /// The target's columns of the source key, in order: those the copy fills from the key
    /// columns unchanged.
    fn target_key(copy: &CopyInto, key: &TableKey) -> Result<Vec<String>, DbError> {
        key.columns
            .iter()
            .map(|k| {
                let quoted = quote_ident(&k.name);
                copy.values.iter().position(|v| *v == quoted).map(|i| copy.columns[i].clone()).ok_or_else(|| {
                    other(format!(
                        "the key column `{}` of {} is not copied unchanged (dropped, or given by --using): a rewrite walks and compares both tables by it",
                        k.name, key.table
                    ))
                })
            })
            .collect()
    }

    /// The trigger statements that keep `copy.table` in step with `source` (named `names`).
    fn capture_triggers(
        &mut self,
        source: &TableName,
        copy: &CopyInto,
        key: &TableKey,
        names: &[String; 3],
        misses: Option<(&str, &str)>,
        kept_types: &[Column],
    ) -> Result<Vec<String>, DbError> {
        let source_columns = self.columns(source)?;
        let source_keys: Vec<String> = key.columns.iter().map(|k| k.name.clone()).collect();
        let target_keys = Self::target_key(copy, key)?;
        let delete = format!("DELETE FROM {} WHERE {}", copy.table, key_match(&target_keys, &source_keys, "OLD"));
        let key_changed = source_keys
            .iter()
            .map(|k| format!("OLD.{q} <=> NEW.{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut upsert = upsert_sql(copy, &source_columns, "NEW");
        if misses.is_some() {
            // The old table must read back what was written: a value its column's numeric or
            // temporal type changes (rounded to its scale, its fraction of a second cut) is a
            // write it cannot keep, which a revert would take back changed, without a word.
            // Noted as a miss instead. (Text too long fails the write: the triggers are strict,
            // see `strict_session`.)
            // No alias: MariaDB fails a stored routine's write whose trigger names one ("table
            // doesn't exist"); unqualified names are the old table's, NEW's the written row.
            let exact = |column: &Column| {
                NUMERIC_OR_TEMPORAL.contains(&column.data_type.as_str())
                    && kept_types.iter().any(|t| {
                        t.name == column.name
                            && t.column_type != column.column_type
                            && NUMERIC_OR_TEMPORAL.contains(&t.data_type.as_str())
                    })
            };
            let equal: Vec<String> = source_columns
                .iter()
                .filter(|c| exact(c))
                .map(|c| format!("{q} <=> NEW.{q}", q = quote_ident(&c.name)))
                .collect();
            if !equal.is_empty() {
                let keys: Vec<String> = target_keys
                    .iter()
                    .zip(&source_keys)
                    .map(|(target, source)| format!("{target} = NEW.{}", quote_ident(source)))
                    .collect();
                upsert = format!(
                    "{upsert}; IF NOT EXISTS (SELECT 1 FROM {} WHERE {} AND {}) \
                     THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a value written since the swap changes in the old table''s column types'; END IF",
                    copy.table,
                    keys.join(" AND "),
                    equal.join(" AND ")
                );
            }
        }
        let bodies = [
            ("DELETE", delete.clone()),
            ("UPDATE", format!("IF NOT ({key_changed}) THEN {delete}; END IF; {upsert}")),
            ("INSERT", upsert.clone()),
        ];
        Ok(names
            .iter()
            .zip(bodies)
            .map(|(name, (event, body))| {
                // The reverse capture must not fail the application's write: what the old table
                // cannot take is noted, and a revert refused.
                let body = match misses {
                    Some((misses, rewrite)) => format!(
                        "BEGIN DECLARE cutover_error TEXT DEFAULT ''; \
                         DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN GET DIAGNOSTICS CONDITION 1 cutover_error = MESSAGE_TEXT; \
                         INSERT INTO {misses} (table_name, operation, error) VALUES ({}, '{event}', cutover_error); END; {body}; END",
                        literal(rewrite)
                    ),
                    // Never run, but named: a statement opens every table its triggers name
                    // before it runs, and MariaDB keeps that list for a stored routine's
                    // statements across the cut-over, when the table's triggers become the
                    // reverse ones (which write the old table and the misses table). A list
                    // without those made routines fail with "table doesn't exist" at the swap.
                    None => format!(
                        "BEGIN IF FALSE THEN DELETE FROM {} WHERE FALSE; DELETE FROM {} WHERE FALSE; END IF; {body}; END",
                        self.parse_stored(&self.old_of(source)).quoted(),
                        self.misses_table()
                    ),
                };
                format!(
                    "CREATE TRIGGER {}.{} AFTER {event} ON {} FOR EACH ROW {body}",
                    quote_ident(&source.database),
                    quote_ident(name),
                    source.quoted()
                )
            })
            .collect())
    }

    /// Makes the capture's triggers with the table and the shadow locked: a statement of the
    /// application opening the table as a trigger appears otherwise can fail to open the
    /// shadow the trigger writes (seen on MariaDB 10.11 with prepared statements: "table
    /// doesn't exist", for a few milliseconds).
    fn install_triggers(&mut self, table: &TableName, shadow: &TableName, triggers: &[String]) -> Result<(), DbError> {
        self.strict_session()?;
        self.exec(&format!("LOCK TABLES {} WRITE, {} WRITE", table.quoted(), shadow.quoted()))?;
        let made = triggers.iter().try_for_each(|trigger| self.exec(trigger));
        let _ = self.exec("UNLOCK TABLES");
        made
    }

    /// Whether `table` is a sentry (see `ensure_sentry`).
    fn is_sentry(&mut self, table: &TableName) -> Result<bool, DbError> {
        if !self.table_exists(table)? {
            return Ok(false);
        }
        let columns = self.columns(table)?;
        Ok(columns.len() == 1 && columns[0].name == SENTRY_COLUMN)
    }

    /// The old table's name (after the swap) of a rewrite of `table`, as stored.
    fn old_of(&self, table: &TableName) -> String {
        table.with_name(&derived(&table.name, OLD_SUFFIX).unwrap_or_default()).quoted()
    }

    /// The old table's name before the swap holds a sentry: an empty table, so that the capture's
    /// triggers can name it (see `capture_triggers`) and a cut-over's rename fails while it is
    /// there. Made when missing.
    fn ensure_sentry(&mut self, parked: &TableName) -> Result<(), DbError> {
        if self.is_sentry(parked)? {
            return Ok(());
        }
        if self.table_exists(parked)? {
            return Err(other(format!(
                "{} exists and is not a rewrite's sentry: rename or drop it, then run again",
                parked.quoted()
            )));
        }
        self.exec(&format!(
            "CREATE TABLE {} ({} int) ENGINE=InnoDB COMMENT='cutover: the place of the old table of a rewrite'",
            parked.quoted(),
            quote_ident(SENTRY_COLUMN),
        ))
    }

    fn drop_triggers(&mut self, database: &str, names: &[String]) -> Result<(), DbError> {
        for name in names {
            self.exec(&format!("DROP TRIGGER IF EXISTS {}.{}", quote_ident(database), quote_ident(name)))?;
        }
        Ok(())
    }

    /// Every statement a trigger of `copy` runs, tried on no rows: a wrong `--using` or a value
    /// the new type cannot take is refused now, not in the application's writes.
    fn probe_capture(&mut self, source: &TableName, copy: &CopyInto) -> Result<(), DbError> {
        let source_columns = self.columns(source)?;
        let upsert = upsert_sql(copy, &source_columns, "p");
        let probe = upsert.replacen(
            &format!(") AS {}", copy.alias),
            &format!(" FROM {} AS p WHERE 1 = 0) AS {}", source.quoted(), copy.alias),
            1,
        );
        self.exec(&probe)
    }

    /// The gh-ost cut-over (see the module's documentation): `table` goes to `parked`, `incoming`
    /// takes its name; under the lock, the triggers `drop` are dropped and `create` made.
    fn exchange(&mut self, exchange: Exchange<'_>, timeouts: Timeouts) -> Result<SwapReport, DbError> {
        let Exchange { table, incoming, parked, misses_of, .. } = exchange;
        self.set_session_timeouts(timeouts)?;
        // The triggers made under the lock keep this session's mode.
        self.strict_session()?;
        if !self.mariadb {
            // MySQL 8 caches information_schema's table statistics (the counter among them).
            self.exec("SET SESSION information_schema_stats_expiry = 0")?;
        }
        self.ensure_sentry(parked)?;
        // The counter goes with the name: ids the table handed out and then deleted are not
        // handed out again by the one taking its place (CREATE TABLE .. LIKE starts it over, and
        // rows copied only set it past the largest id). Set before the lock, not under it (an
        // ALTER under LOCK TABLES of a run killed there was followed by the application's
        // inserts failing with ERROR 1467): an insert meanwhile reaches the incoming table
        // through the capture with its id, which moves its counter past it anyway.
        let counter: Option<Option<u64>> = self
            .conn
            .exec_first(
                "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = BINARY ? AND TABLE_NAME = BINARY ?",
                (&table.database, &table.name),
            )
            .map_err(db_error)?;
        if let Some(counter) = counter.flatten() {
            // The server keeps it above the incoming table's largest id whatever is asked.
            self.exec(&format!("ALTER TABLE {} AUTO_INCREMENT = {counter}", incoming.quoted()))?;
        }
        let started = Instant::now();
        // The misses too, read under the lock (a table not locked cannot be read under it).
        let misses = match misses_of {
            Some(_) => format!(", {} READ", self.misses_table()),
            None => String::new(),
        };
        self.exec(&format!(
            "LOCK TABLES {} WRITE, {} WRITE, {} WRITE{misses}",
            table.quoted(),
            incoming.quoted(),
            parked.quoted()
        ))?;
        let lock_wait = started.elapsed();
        let locked = Instant::now();
        let result = self.exchange_locked(exchange, timeouts);
        let _ = self.exec("UNLOCK TABLES");
        let renamed = match result {
            Ok((renamer, id)) => self.await_rename(&renamer, id, timeouts),
            Err(err) => Err(err),
        };
        // Until the rename ends the table is locked, by this session and then by the rename:
        // what the application waited.
        let held = locked.elapsed();
        // Not swapped: the next try (or run, which finds the capture incomplete) takes it again.
        renamed?;
        Ok(SwapReport { lock_wait, held, ..SwapReport::default() })
    }

    /// The rename's outcome, once the lock is let go. It runs first then and takes milliseconds;
    /// one still waiting after the lock timeout waits behind a session that took one of its
    /// tables first (a reader of the copy: tester 15 held it 25 s), holding the table's lock
    /// all the while, so that every statement of the application on the table waits with it.
    /// It is stopped then (the rename did not happen), and the table is free again.
    fn await_rename(
        &mut self,
        renamer: &mpsc::Receiver<Result<(), DbError>>,
        id: u64,
        timeouts: Timeouts,
    ) -> Result<(), DbError> {
        let gone = || other("the rename's connection ended");
        match renamer.recv_timeout(timeouts.lock_timeout.max(Duration::from_millis(100))) {
            Ok(renamed) => renamed,
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(gone()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = self.conn.query_drop(format!("KILL QUERY {id}"));
                // It may have gone through as it was stopped.
                renamer.recv().unwrap_or_else(|_| Err(gone())).map_err(|err| {
                    DbError::new(
                        DbErrorKind::LockTimeout,
                        format!(
                            "the rename waited longer than the lock timeout ({} ms) for a table another session took first, the application waiting behind it, and was stopped ({err})",
                            timeouts.lock_timeout.as_millis()
                        ),
                    )
                })
            }
        }
    }

    /// The part of `exchange` under `LOCK TABLES`; returns where the rename's outcome arrives,
    /// and the rename's connection.
    fn exchange_locked(
        &mut self,
        exchange: Exchange<'_>,
        timeouts: Timeouts,
    ) -> Result<(mpsc::Receiver<Result<(), DbError>>, u64), DbError> {
        let Exchange { table, incoming, parked, drop, create, misses_of } = exchange;
        let mut renamer = open(&self.opts, self.tls_preferred)?;
        let id: Option<u64> = renamer.query_first("SELECT CONNECTION_ID()").map_err(db_error)?;
        let id = id.unwrap_or_default();
        let wait = timeouts.lock_timeout.as_secs_f64().ceil().max(1.0) as u64 + 5;
        let rename = format!(
            "RENAME TABLE {} TO {}, {} TO {}",
            table.quoted(),
            parked.quoted(),
            incoming.quoted(),
            table.quoted()
        );
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let result = renamer
                .query_drop(format!("SET SESSION lock_wait_timeout = {wait}"))
                .and_then(|_| renamer.query_drop(&rename))
                .map_err(db_error);
            let _ = send.send(result);
        });
        // The rename must be queued behind this lock before the lock goes: then it runs first.
        let deadline = Instant::now() + timeouts.lock_timeout.max(Duration::from_secs(1));
        loop {
            let waiting: Option<i64> = self
                .conn
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND STATE LIKE '%metadata lock%'",
                    (id,),
                )
                .map_err(db_error)?;
            if waiting.unwrap_or(0) > 0 {
                break;
            }
            if let Ok(result) = receive.try_recv() {
                return Err(result.err().unwrap_or_else(|| other("the rename ran before its turn")));
            }
            if Instant::now() > deadline {
                let _ = self.conn.query_drop(format!("KILL QUERY {id}"));
                return Err(DbError::new(
                    DbErrorKind::LockTimeout,
                    "the rename did not queue behind the swap's lock in time",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let exchanged = (|| {
            // A write the old table could not take, noted by a transaction the lock waited
            // for: checked before, it was not there yet (tester 16: the revert lost it).
            if let Some(rewrite) = misses_of {
                let noted: Option<i64> = self
                    .conn
                    .exec_first(
                        format!("SELECT COUNT(*) FROM {} WHERE table_name = ?", self.misses_table()),
                        (rewrite,),
                    )
                    .map_err(db_error)?;
                if noted.unwrap_or(0) > 0 {
                    return Err(other(
                        "a write the old table could not take was noted while this waited for its locks: swapped back, the table would lose it; nothing was swapped back: keep the rewritten table (`cutover rewrite --status` shows the write; `--cleanup` drops the old table)",
                    ));
                }
            }
            for (database, names) in drop {
                self.drop_triggers(database, names)?;
            }
            for statement in create {
                self.exec(statement)?;
            }
            self.exec(&format!("DROP TABLE {}", parked.quoted()))
        })();
        if let Err(err) = exchanged {
            let _ = self.conn.query_drop(format!("KILL QUERY {id}"));
            return Err(err);
        }
        if let Some(hold) = held_longer_for_tests() {
            std::thread::sleep(hold);
        }
        Ok((receive, id))
    }
}

/// For the tests, in debug builds only: the cut-over holds its lock this much longer after
/// the exchange (`CUTOVER_TEST_HOLD_SWAP_LOCK_MS`), so that a test's session can be sure to
/// queue for a table before the rename does, as one sometimes is in the milliseconds the lock
/// is held (tester 15 found it so).
fn held_longer_for_tests() -> Option<Duration> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let ms = std::env::var("CUTOVER_TEST_HOLD_SWAP_LOCK_MS").ok()?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

/// One gh-ost cut-over (see the module's documentation): `table` goes to `parked`, `incoming`
/// takes its name; under the lock, the triggers `drop` are dropped and `create` made, once no
/// miss of the rewrite `misses_of` (a revert's) is noted.
#[derive(Clone, Copy)]
struct Exchange<'a> {
    table: &'a TableName,
    incoming: &'a TableName,
    parked: &'a TableName,
    drop: &'a [(String, Vec<String>)],
    create: &'a [String],
    misses_of: Option<&'a str>,
}

/// A swap that found (or left) the copy without its change capture: not retried, as no try can
/// swap that copy in; the next run's `reconcile` puts the capture back and copies again.
fn capture_lost(state: &RewriteState, why: &str) -> DbError {
    other(format!(
        "the change capture of {} into its copy is not whole ({why}): the application's writes since are not all in the copy, so it was not swapped in. Run the same command again: it puts the capture back and copies the table again (`cutover rewrite --cleanup --table {}` drops the copy instead)",
        state.table,
        TableName::parse(&state.table, "").map(|name| name.name).unwrap_or_else(|| state.table.clone())
    ))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

impl RewriteTarget for MysqlTarget {
    fn rewrite_name(&mut self, table: &str) -> Result<String, DbError> {
        Ok(match self.resolve_table(table) {
            Ok(name) => name.quoted(),
            // After a killed swap the table may be missing under its name: the state still says.
            Err(_) => {
                TableName::parse(table, &self.database).map(|name| name.quoted()).unwrap_or_else(|| table.to_string())
            }
        })
    }

    fn load_rewrite(&mut self, table: &str) -> Result<Option<RewriteState>, DbError> {
        let name = self.rewrite_name(table)?;
        match self.select_rewrites(Some(&name))?.into_iter().next() {
            Some(state) if state.phase != RewritePhase::Done => {
                // Under the rewrite's lock: what reconciling may write to is there (an older
                // cutover killed between making its tables left the misses table out).
                self.ensure_rewrite_state()?;
                Ok(Some(self.reconcile(state)?))
            }
            other => Ok(other),
        }
    }

    fn list_rewrites(&mut self) -> Result<Vec<RewriteState>, DbError> {
        let mut states = self.select_rewrites(None)?;
        // A cut-over or revert killed after its rename (DDL commits on its own) leaves the
        // phase before it recorded: the names say which table is live, as `reconcile` reads
        // them; shown so here, recorded by the next command on the rewrite (a tester read
        // `swapped` with the original table back).
        for state in &mut states {
            let presence = self.presence(state)?;
            if let Some(phase) = presence.renamed_past(state.phase) {
                state.phase = phase;
            }
            // "ready" says the copy is kept in step: not when its capture is gone (tester 15),
            // nor its copy (tester 16: the application's writes then fail on its triggers).
            if matches!(state.phase, RewritePhase::Copying | RewritePhase::Ready) {
                let mut missing = self.missing_forward_triggers(state)?;
                if !presence.shadow {
                    missing.insert(0, format!("the copy {}", state.shadow));
                }
                if !missing.is_empty() {
                    state.capture_incomplete = Some(format!("missing: {}", missing.join(", ")));
                }
            }
        }
        Ok(states)
    }

    fn start_rewrite(&mut self, request: &RewriteRequest, timeouts: Timeouts) -> Result<RewriteState, DbError> {
        let table = self.resolve_table(&request.table)?;
        if table.name.starts_with("_cutover_") || table.name.contains("__cutover_") {
            return Err(other(format!("{} is cutover's own table", table.quoted())));
        }
        // Read once: the refusals and the copy's keys both come from it.
        let foreign_keys = self.foreign_keys(&table)?;
        if let Some(reason) = self.refusal(&table, &foreign_keys)? {
            return Err(other(format!("{} cannot be rewritten online: {reason}", table.quoted())));
        }
        let Some(key) = self.table_key(&table.quoted())? else {
            return Err(other(format!(
                "{} cannot be rewritten online: it has no primary key or unique index of NOT NULL columns to copy and compare by",
                table.quoted()
            )));
        };
        let actions = request.alter.as_deref().map(|alter| change_actions(alter, &table)).transpose()?;
        let names_foreign_keys = actions.as_deref().is_some_and(|actions| {
            let words: Vec<Token> = tokens(actions).into_iter().map(|(_, t)| t).collect();
            words.windows(2).any(|pair| pair[0].is("FOREIGN") && pair[1].is("KEY"))
        });
        if !foreign_keys.is_empty() && names_foreign_keys {
            return Err(other(format!(
                "{} cannot be rewritten with this change: it adds or drops a foreign key of a table that has some, whose copy's are named apart until the old table is dropped; add or drop foreign keys with a plain ALTER TABLE (in place on InnoDB), before or after the rewrite",
                table.quoted()
            )));
        }
        let (Some(shadow), Some(old)) = (derived(&table.name, SHADOW_SUFFIX), derived(&table.name, OLD_SUFFIX)) else {
            return Err(other(format!(
                "{} cannot be rewritten online: its name is longer than {} characters, and the rewrite's tables are named after it with `{SHADOW_SUFFIX}` (MySQL allows 64)",
                table.quoted(),
                64 - SHADOW_SUFFIX.len()
            )));
        };
        let (shadow, old) = (table.with_name(&shadow), table.with_name(&old));
        for leftover in [&shadow, &old] {
            if self.table_exists(leftover)? && !(leftover == &old && self.is_sentry(leftover)?) {
                // Not "drop it" first: it may be the old table of a swapped rewrite recorded in
                // another database's state (a rewrite run with a URL of another database),
                // whose revert window it is (tester 15).
                return Err(other(format!(
                    "{} exists already, and no rewrite of {} is under way in this database: it may belong to one recorded in the database of another URL it was run with (`cutover rewrite --status` there shows it; finish it there), or be the copy of a rewrite stopped before it was recorded (then `DROP TABLE {}`); else rename it",
                    leftover.quoted(),
                    table.quoted(),
                    leftover.quoted()
                )));
            }
        }
        // Recorded before anything is made, so that a run killed at any point of the start is
        // found by the next (see `reconcile`); a refused start removes it again, and the state
        // tables when it made them.
        let state_existed =
            self.table_exists(&TableName { database: self.database.clone(), name: REWRITE_STATE_TABLE.to_string() })?;
        self.ensure_rewrite_state()?;
        let using: Vec<String> = request.using.iter().flat_map(|(c, e)| [c.clone(), e.clone()]).collect();
        let definition = self.definition_of(&table)?;
        self.conn
            .exec_drop(
                format!(
                    "REPLACE INTO {} (table_name, alter_sql, using_exprs, shadow, old_name, phase, started_at, updated_at, definition) \
                     VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), ?)",
                    self.state_table()
                ),
                (
                    table.quoted(),
                    request.alter.clone(),
                    encode_key(&using),
                    shadow.quoted(),
                    old.quoted(),
                    RewritePhase::Copying.name(),
                    definition,
                ),
            )
            .map_err(db_error)?;
        self.conn
            .exec_drop(format!("DELETE FROM {} WHERE table_name = ?", self.misses_table()), (table.quoted(),))
            .map_err(db_error)?;
        self.set_session_timeouts(timeouts)?;
        let made = (|| -> Result<RewriteState, DbError> {
            self.exec(&format!("CREATE TABLE {} LIKE {}", shadow.quoted(), table.quoted()))?;
            // The indexes `LIKE` copied keep the mark of one the server made for a foreign key,
            // and MariaDB renames such an index after the next foreign key added on its columns
            // (`pid` would come back as `_cutover_t_ibfk_1`, then `t_ibfk_1`): made again as
            // they are written, they are the table's own.
            if !foreign_keys.is_empty() {
                self.remake_plain_indexes(&shadow)?;
            }
            // Before the change's actions, as on the table: a change of a referencing column's
            // type is refused by the server as it would be there, a rename carries them along.
            for fk in &foreign_keys {
                let name = format!("{FOREIGN_KEY_PREFIX}{}", fk.name);
                self.exec(&format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {}",
                    shadow.quoted(),
                    quote_ident(&name),
                    fk.definition
                ))
                .map_err(|err| DbError {
                    message: format!(
                        "cannot give the copy of {} the foreign key {} (as {name}): {}",
                        table.quoted(),
                        fk.name,
                        err.message
                    ),
                    ..err
                })?;
            }
            if let Some(actions) = &actions {
                self.exec(&format!("ALTER TABLE {} {actions}", shadow.quoted())).map_err(|err| DbError {
                    message: format!("the change does not apply to a copy of {}: {}", table.quoted(), err.message),
                    ..err
                })?;
            }
            let renames = renamed_columns(actions.as_deref());
            for (column, expression) in &request.using {
                if !self.columns(&shadow)?.iter().any(|c| c.name.eq_ignore_ascii_case(column.trim_matches('`'))) {
                    return Err(other(format!("--using names `{column}`, which the rewritten table does not have")));
                }
                // A parent's cascade changes such a column in both tables and fires no trigger:
                // the value computed from it would stay as the copy made it, and the
                // verification would refuse the swap after the whole copy.
                let words: Vec<String> =
                    tokens(expression).into_iter().filter_map(|(_, t)| t.word().map(str::to_string)).collect();
                let cascaded = foreign_keys.iter().filter(|fk| fk.parent_writes).find_map(|fk| {
                    fk.columns.iter().find(|c| words.iter().any(|w| w.eq_ignore_ascii_case(c))).map(|c| (fk, c))
                });
                if let Some((fk, read)) = cascaded {
                    return Err(other(format!(
                        "--using {column}={expression} reads `{read}`, which the foreign key {} changes when its parent changes (a cascade, which fires no trigger): the value it gives would not follow; fill that column after the rewrite instead",
                        fk.name
                    )));
                }
            }
            let mapping = self.mapping(&table, &shadow, &renames, &request.using)?;
            let mut gone = mapping.dropped.clone();
            gone.extend(renames.iter().map(|(old, _)| old.clone()));
            if let Some(reason) = self.views_reading(&table, &gone)? {
                return Err(other(format!("{} cannot be rewritten with this change: {reason}", table.quoted())));
            }
            let copy = mapping.copy;
            Self::target_key(&copy, &key)?;
            // A unique index the change adds or drops would make the capture's upserts merge or
            // split rows; both are online ALTERs on InnoDB anyway.
            let mapped: Vec<Vec<String>> = {
                let mut sets = self.unique_column_sets(&table)?;
                for set in &mut sets {
                    for column in set.iter_mut() {
                        if let Some((_, new)) = renames.iter().find(|(old, _)| old.eq_ignore_ascii_case(column)) {
                            *column = new.to_lowercase();
                        }
                    }
                }
                sets.sort();
                sets
            };
            if mapped != self.unique_column_sets(&shadow)? {
                return Err(other(
                    "the change adds or drops a unique index or the primary key: a rewrite copies by the table's unique keys and keeps them; make that change with a plain ALTER TABLE .. ALGORITHM=INPLACE, LOCK=NONE (online on InnoDB), before or after the rewrite",
                ));
            }
            self.exec(&format!(
                "INSERT INTO {} ({}) SELECT {} FROM {} AS {} WHERE 1 = 0",
                copy.table,
                copy.columns.join(", "),
                copy.values.join(", "),
                table.quoted(),
                copy.alias
            ))?;
            self.probe_capture(&table, &copy)?;
            let triggers =
                self.capture_triggers(&table, &copy, &key, &trigger_names(&table.quoted(), "fwd"), None, &[])?;
            self.ensure_sentry(&old)?;
            self.install_triggers(&table, &shadow, &triggers)?;
            self.rewrite_state_of(&table.quoted())
        })();
        if let Err(err) = made {
            // Triggers left on the table write into the copy: it goes only once they are gone,
            // or the application's every write would fail on the missing table. Left so, the
            // rewrite stays recorded, and the next command on it (`reconcile`) drops them.
            if let Err(left) = self.drop_triggers(&table.database, &trigger_names(&table.quoted(), "fwd")) {
                return Err(DbError {
                    message: format!(
                        "{} (and its change capture could not be taken off the table: {}; `cutover rewrite --cleanup --table {}` takes it off)",
                        err.message, left.message, table.name
                    ),
                    ..err
                });
            }
            let _ = self.exec(&format!("DROP TABLE IF EXISTS {}", shadow.quoted()));
            if self.is_sentry(&old).unwrap_or(false) {
                let _ = self.exec(&format!("DROP TABLE IF EXISTS {}", old.quoted()));
            }
            let _ = self
                .conn
                .exec_drop(format!("DELETE FROM {} WHERE table_name = ?", self.state_table()), (table.quoted(),));
            let empty: Result<Option<i64>, _> =
                self.conn.query_first(format!("SELECT COUNT(*) FROM {}", self.state_table()));
            if !state_existed && matches!(empty, Ok(Some(0))) {
                let _ = self.exec(&format!("DROP TABLE IF EXISTS {}, {}", self.state_table(), self.misses_table()));
            }
            return Err(err);
        }
        made
    }

    fn rewrite_plan(&mut self, state: &RewriteState) -> Result<RewritePlan, DbError> {
        let table = self.parse_stored(&state.table);
        let shadow = self.parse_stored(&state.shadow);
        let missing = self.missing_forward_triggers(state)?;
        if !missing.is_empty() || !self.table_exists(&shadow)? {
            return Err(other(format!(
                "the change capture of {} is incomplete (a start or a swap was stopped midway; missing: {}): the copy may lag the table. `cutover rewrite --cleanup --table {}` drops it; then start again",
                state.table,
                if missing.is_empty() { state.shadow.clone() } else { missing.join(", ") },
                table.name
            )));
        }
        let key = self
            .table_key(&state.table)?
            .ok_or_else(|| other(format!("{} has no primary key or unique index any more", state.table)))?;
        let renames = renamed_columns(state.alter.as_deref());
        let Mapping { copy, types, defaulted, dropped } = self.mapping(&table, &shadow, &renames, &state.using)?;
        let types = types.into_iter().map(|c| c.column_type).collect();
        Ok(RewritePlan { state: state.clone(), key, copy, types, defaulted, dropped })
    }

    fn revert_plan(&mut self, state: &RewriteState) -> Result<RewritePlan, DbError> {
        let table = self.parse_stored(&state.table);
        let old = self.parse_stored(&state.old);
        let key = self
            .table_key(&state.table)?
            .ok_or_else(|| other(format!("{} has no primary key or unique index any more", state.table)))?;
        let back: Vec<(String, String)> =
            renamed_columns(state.alter.as_deref()).into_iter().map(|(old, new)| (new, old)).collect();
        let Mapping { copy, types, defaulted, dropped } = self.mapping(&table, &old, &back, &[])?;
        let types = types.into_iter().map(|c| c.column_type).collect();
        Ok(RewritePlan { state: state.clone(), key, copy, types, defaulted, dropped })
    }

    fn verify_chunk(
        &mut self,
        plan: &RewritePlan,
        after: Option<&[String]>,
        limit: u64,
        timeouts: Timeouts,
    ) -> Result<ChunkCheck, DbError> {
        let source = self.parse_stored(&plan.key.table);
        let target = self.parse_stored(&plan.copy.table);
        let target_columns = self.columns(&target)?;
        let types: Vec<Column> = plan
            .copy
            .columns
            .iter()
            .map(|quoted| {
                target_columns
                    .iter()
                    .find(|c| quote_ident(&c.name) == *quoted)
                    .cloned()
                    .ok_or_else(|| other(format!("{} has no column {quoted} any more", plan.copy.table)))
            })
            .collect::<Result<_, _>>()?;
        let source_keys: Vec<String> = plan.key.columns.iter().map(|k| quote_ident(&k.name)).collect();
        let target_keys = Self::target_key(&plan.copy, &plan.key)?;
        let n = source_keys.len();
        // As the copy's batches do, spelled so that MariaDB scans the chunk's range only.
        let columns = &plan.key.columns;
        let compare = |keys: &[String], cmp| keyset::compare_key(keyset::Dialect::Mysql, keys, columns, cmp, 1);
        let values = |key: &[String]| -> Vec<Value> {
            keyset::key_values(keyset::Dialect::Mysql, columns, key).into_iter().map(Value::from).collect()
        };
        let crc32c = match self.has_crc32c {
            Some(known) => known,
            None => {
                let known = self.conn.query_drop("SELECT CRC32C('')").is_ok();
                self.has_crc32c = Some(known);
                known
            }
        };
        self.set_session_timeouts(timeouts)?;
        self.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
        self.exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")?;
        let result = (|| -> Result<ChunkCheck, DbError> {
            let lower = after.map(<[String]>::to_vec);
            let lower_filter = |keys: &[String]| {
                if lower.is_some() {
                    compare(keys, keyset::KeyCmp::After)
                } else {
                    "1 = 1".into()
                }
            };
            let texts: Vec<String> =
                source_keys.iter().zip(columns).map(|(k, column)| keyset::Dialect::Mysql.key_text(k, column)).collect();
            let upper_sql = format!(
                "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1 OFFSET {}",
                texts.join(", "),
                source.quoted(),
                lower_filter(&source_keys),
                source_keys.join(", "),
                limit.saturating_sub(1)
            );
            let lower_params: Vec<Value> = values(lower.as_deref().unwrap_or_default());
            let upper: Option<Row> = self.conn.exec_first(upper_sql, lower_params.clone()).map_err(db_error)?;
            let upper: Option<Vec<String>> =
                upper.map(|row| (0..n).map(|i| text(&row, i).unwrap_or_default()).collect());
            let range = |keys: &[String]| match &upper {
                Some(_) => format!("{} AND {}", lower_filter(keys), compare(keys, keyset::KeyCmp::UpTo)),
                None => lower_filter(keys),
            };
            let mut params = lower_params.clone();
            params.extend(values(upper.as_deref().unwrap_or_default()));
            let source_hash = row_hash(&plan.copy.values, &types, crc32c);
            let target_hash = row_hash(&plan.copy.columns, &types, crc32c);
            let sums = |target: &mut MysqlTarget,
                        hash: &str,
                        table: &str,
                        keys: &[String]|
             -> Result<(u64, String), DbError> {
                let row: Option<Row> = target
                    .conn
                    .exec_first(
                        format!(
                            "SELECT COUNT(*), CAST(COALESCE(SUM({hash}), 0) AS CHAR) FROM {table} WHERE {}",
                            range(keys)
                        ),
                        params.clone(),
                    )
                    .map_err(db_error)?;
                let row = row.ok_or_else(|| other("a count returned no row"))?;
                Ok((text(&row, 0).and_then(|t| t.parse().ok()).unwrap_or(0), text(&row, 1).unwrap_or_default()))
            };
            let source_table = format!("{} AS {}", source.quoted(), plan.copy.alias);
            let (source_rows, source_sum) = sums(self, &source_hash, &source_table, &source_keys)?;
            let (shadow_rows, shadow_sum) = sums(self, &target_hash, &target.quoted(), &target_keys)?;
            let mut differing = Vec::new();
            if source_rows != shadow_rows || source_sum != shadow_sum {
                let rows = |target: &mut MysqlTarget,
                            hash: &str,
                            table: &str,
                            keys: &[String]|
                 -> Result<Vec<(String, String)>, DbError> {
                    let texts: Vec<String> = keys.iter().map(|k| format!("CAST({k} AS CHAR)")).collect();
                    let rows: Vec<Row> = target
                        .conn
                        .exec(
                            format!(
                                "SELECT CONCAT_WS(', ', {}), CAST({hash} AS CHAR) FROM {table} WHERE {} ORDER BY {}",
                                texts.join(", "),
                                range(keys),
                                keys.join(", ")
                            ),
                            params.clone(),
                        )
                        .map_err(db_error)?;
                    Ok(rows.iter().map(|r| (text(r, 0).unwrap_or_default(), text(r, 1).unwrap_or_default())).collect())
                };
                // Both in the key's order, as the server sorts it (not as text: 10 after 9).
                let left = rows(self, &source_hash, &source_table, &source_keys)?;
                let right_rows = rows(self, &target_hash, &target.quoted(), &target_keys)?;
                let right: std::collections::HashMap<&String, &String> =
                    right_rows.iter().map(|(k, h)| (k, h)).collect();
                let left_keys: std::collections::HashSet<&String> = left.iter().map(|(k, _)| k).collect();
                for (key, hash) in &left {
                    match right.get(key) {
                        Some(other) if *other == hash => {}
                        Some(_) => differing.push(format!("{key} (differs)")),
                        None => differing.push(format!("{key} (missing from the copy)")),
                    }
                }
                for (key, _) in right_rows.iter().filter(|(k, _)| !left_keys.contains(k)) {
                    differing.push(format!("{key} (only in the copy)"));
                }
                differing.truncate(5);
                if differing.is_empty() {
                    differing.push("(the sums differ, no row does: run again)".to_string());
                }
            }
            Ok(ChunkCheck { last: upper, source_rows, shadow_rows, differing })
        })();
        let _ = self.conn.query_drop("COMMIT");
        result
    }

    fn set_rewrite_phase(&mut self, state: &RewriteState, phase: RewritePhase) -> Result<(), DbError> {
        self.record_phase(&state.table, phase)
    }

    fn swap(&mut self, plan: &RewritePlan, timeouts: Timeouts) -> Result<SwapReport, DbError> {
        let state = &plan.state;
        let table = self.parse_stored(&state.table);
        let shadow = self.parse_stored(&state.shadow);
        let old = self.parse_stored(&state.old);
        // A copy whose capture is not whole lags the table: never swapped in (a try before
        // this one may have exchanged the triggers and then failed to rename).
        let missing = self.missing_forward_triggers(state)?;
        if !missing.is_empty() {
            return Err(capture_lost(state, &format!("its triggers are missing: {}", missing.join(", "))));
        }
        // Checked again at the last moment: the verification before it does not see a column
        // added with a default, and the swap would drop it with its values (tester 15).
        if let Some(refusal) = self.changed_since_recorded(state)? {
            return Err(other(refusal));
        }
        // And what the start refuses, made since: a trigger, another table's foreign key, a
        // view reading a column the change drops or renames.
        let mut gone = plan.dropped.clone();
        gone.extend(renamed_columns(state.alter.as_deref()).into_iter().map(|(old, _)| old));
        let reason = match self.dependents_refusal(&table)? {
            Some(reason) => Some(reason),
            None => self.views_reading(&table, &gone)?,
        };
        if let Some(reason) = reason {
            return Err(other(format!(
                "{} cannot be swapped: {reason} (made since the rewrite started); nothing was swapped",
                state.table
            )));
        }
        // The reverse capture: from the rewritten table (the shadow, soon the table) into the
        // old one, each column back by its old name.
        let back: Vec<(String, String)> =
            renamed_columns(state.alter.as_deref()).into_iter().map(|(old, new)| (new, old)).collect();
        // The old table's column types, read from the table while it has its name (the old
        // name holds the sentry until the rename).
        let reverse_mapping = self.mapping(&shadow, &table, &back, &[])?;
        let kept_types = reverse_mapping.types;
        let reverse = CopyInto { table: old.quoted(), alias: quote_ident(&table.name), ..reverse_mapping.copy };
        let key = self
            .table_key(&shadow.quoted())?
            .ok_or_else(|| other(format!("{} has no primary key or unique index", state.shadow)))?;
        let misses = self.misses_table();
        // Made on the shadow (its name now), they fire once it is the table.
        let reverse_triggers = self.capture_triggers(
            &shadow,
            &reverse,
            &key,
            &trigger_names(&state.table, "rev"),
            Some((&misses, &state.table)),
            &kept_types,
        )?;
        // What the rewritten table is once swapped in, for the revert to tell a change made to
        // it since (its first line names the shadow).
        let swapped = self.definition_of(&shadow)?;
        self.conn
            .exec_drop(
                format!("UPDATE {} SET swapped_definition = ? WHERE table_name = ?", self.state_table()),
                (swapped, &state.table),
            )
            .map_err(db_error)?;
        // The reverse ones too: a try that failed under the lock may have made them.
        let mut stale = trigger_names(&state.table, "fwd").to_vec();
        stale.extend(trigger_names(&state.table, "rev"));
        let report = match self.exchange(
            Exchange {
                table: &table,
                incoming: &shadow,
                parked: &old,
                drop: &[(table.database.clone(), stale)],
                create: &reverse_triggers,
                misses_of: None,
            },
            timeouts,
        ) {
            Ok(report) => report,
            // The rename went through, its answer lost (its connection killed as it ended).
            Err(_) if self.renamed_despite(state, RewritePhase::Ready) => {
                SwapReport { timing_unknown: true, ..SwapReport::default() }
            }
            // The triggers are exchanged under the lock, the rename runs once it is let go:
            // a rename that failed then (a lock wait timeout behind another session) left the
            // table without its capture, and the application's writes since are not in the
            // copy. Retried, the swap would put that copy live without them.
            // Not known to be whole (the triggers could not be read): not retried either.
            Err(err) if self.missing_forward_triggers(state).map_or(true, |missing| !missing.is_empty()) => {
                return Err(capture_lost(state, &format!("the rename failed after its triggers were exchanged: {err}")))
            }
            Err(err) => return Err(err),
        };
        self.record_phase(&state.table, RewritePhase::Swapped)?;
        Ok(report)
    }

    fn swap_back(&mut self, state: &RewriteState, timeouts: Timeouts) -> Result<SwapReport, DbError> {
        let table = self.parse_stored(&state.table);
        let shadow = self.parse_stored(&state.shadow);
        let old = self.parse_stored(&state.old);
        // The reverse capture stays on the rewritten table through the rename: dropped under the
        // lock, a run killed between two of its triggers left the old table half kept in step.
        // After the rename it fires only on writes to the rewritten table, which nothing makes.
        // A try before this one that renamed and then failed (dropping them, below) is done.
        let renamed = self.presence(state)?.renamed_past(RewritePhase::Swapped) == Some(RewritePhase::Reverted);
        if !renamed {
            if let Some(refusal) = self.changed_since_recorded(state)? {
                return Err(other(refusal));
            }
        }
        let report = match renamed {
            true => SwapReport::default(),
            false => match self.exchange(
                Exchange {
                    table: &table,
                    incoming: &old,
                    parked: &shadow,
                    drop: &[],
                    create: &[],
                    misses_of: Some(&state.table),
                },
                timeouts,
            ) {
                Ok(report) => report,
                // Swapped back, its answer lost (tester 16 killed the rename's connection):
                // reported "did not happen" before.
                Err(_) if self.renamed_despite(state, RewritePhase::Swapped) => {
                    SwapReport { timing_unknown: true, ..SwapReport::default() }
                }
                Err(err) => return Err(err),
            },
        };
        self.record_phase(&state.table, RewritePhase::Reverted)?;
        // Swapped back whatever comes of it: a session that took the rewritten table as it was
        // renamed makes this wait (tester 15: the revert, done, was then retried and reported
        // "did not happen"). Left there, `--cleanup` drops them with the table.
        let _ = self.drop_triggers(&table.database, &trigger_names(&state.table, "rev"));
        Ok(report)
    }

    fn changed_since_recorded(&mut self, state: &RewriteState) -> Result<Option<String>, DbError> {
        // Before the swap, the table as the rewrite began; after it, the rewritten table as the
        // swap put it in (tester 16: a revert undid a column added since, with its values).
        let (column, since) = match state.phase {
            RewritePhase::Copying | RewritePhase::Ready => ("definition", "the rewrite started"),
            RewritePhase::Swapped => ("swapped_definition", "the swap"),
            _ => return Ok(None),
        };
        if !self.state_has(column)? {
            return Ok(None);
        }
        let recorded: Option<Option<String>> = self
            .conn
            .exec_first(format!("SELECT {column} FROM {} WHERE table_name = ?", self.state_table()), (&state.table,))
            .map_err(db_error)?;
        // A rewrite an earlier version began (or swapped) recorded none.
        let Some(recorded) = recorded.flatten() else { return Ok(None) };
        let now = self.definition_of(&self.parse_stored(&state.table))?;
        // The first line names the table: the shadow's name when the swap recorded it.
        let lines = |text: &str| -> Vec<String> {
            text.lines().skip(1).map(|l| l.trim().trim_end_matches(',').to_string()).collect()
        };
        let (before, after) = (lines(&recorded), lines(&now));
        if before == after {
            return Ok(None);
        }
        let mut changes: Vec<String> =
            before.iter().filter(|l| !after.contains(l)).map(|l| format!("was: {l}")).collect();
        changes.extend(after.iter().filter(|l| !before.contains(l)).map(|l| format!("now: {l}")));
        changes.truncate(6);
        let (changes, name) = (changes.join("; "), self.parse_stored(&state.table).name);
        Ok(Some(match state.phase {
            RewritePhase::Swapped => format!(
                "{} was changed since {since} ({changes}): the original table does not have the change, which the revert would undo; nothing was swapped back: undo that change to revert, or keep the rewritten table (`cutover rewrite --cleanup --table {name}` drops the old one)",
                state.table
            ),
            _ => format!(
                "{} was changed since {since} ({changes}): the rewritten copy does not have the change, which the swap would undo; nothing was swapped: `cutover rewrite --cleanup --table {name}` and start again (the new rewrite copies the table as it is now)",
                state.table
            ),
        }))
    }

    fn rewrite_lock_holders(&mut self, _table: &str) -> Vec<cutover_engine::LockHolder> {
        // Without a view of metadata locks, the sessions of this database in an open
        // transaction: those that can hold the table.
        crate::migrate::open_transactions(&mut self.conn).unwrap_or_default()
    }

    fn validate_foreign_keys(&mut self, _table: &str, _timeouts: Timeouts) -> Result<Vec<String>, DbError> {
        // The copy's foreign keys are made before it is filled, so every row was checked as it
        // was written; tables that others' foreign keys point at are refused at the start.
        Ok(Vec::new())
    }

    fn finish_rewrite(&mut self, state: &RewriteState, timeouts: Timeouts) -> Result<(), DbError> {
        let current = self.rewrite_state_of(&state.table)?;
        let table = self.parse_stored(&current.table);
        self.set_session_timeouts(timeouts)?;
        let mut triggers = trigger_names(&current.table, "fwd").to_vec();
        triggers.extend(trigger_names(&current.table, "rev"));
        self.drop_triggers(&table.database, &triggers)?;
        let presence = self.presence(&current)?;
        let unused = match current.phase {
            RewritePhase::Copying | RewritePhase::Ready | RewritePhase::Reverted => {
                Some(current.shadow.clone()).filter(|_| presence.shadow)
            }
            RewritePhase::Swapped => Some(current.old.clone()).filter(|_| presence.old),
            RewritePhase::Done => None,
        };
        if presence.old_is_sentry {
            self.exec(&format!("DROP TABLE IF EXISTS {}", current.old))?;
        }
        // A revert killed before its rename leaves its sentry under the rewritten copy's name.
        let shadow = self.parse_stored(&current.shadow);
        if current.phase == RewritePhase::Swapped && self.is_sentry(&shadow)? {
            self.exec(&format!("DROP TABLE IF EXISTS {}", current.shadow))?;
        }
        if let Some(unused) = unused {
            self.exec(&format!("DROP TABLE IF EXISTS {unused}"))?;
        }
        if matches!(current.phase, RewritePhase::Swapped | RewritePhase::Done) {
            self.restore_foreign_key_names(&table)?;
        }
        self.record_phase(&current.table, RewritePhase::Done)?;
        self.conn
            .exec_drop(format!("DELETE FROM {} WHERE table_name = ?", self.misses_table()), (current.table.clone(),))
            .map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> TableName {
        TableName { database: "shop".into(), name: "users".into() }
    }

    #[test]
    fn the_changes_actions_are_read_after_the_tables_name() {
        assert_eq!(
            change_actions("ALTER TABLE users MODIFY name varchar(100);", &users()).unwrap(),
            "MODIFY name varchar(100)"
        );
        assert_eq!(
            change_actions("alter online table `shop`.`users` add column x int", &users()).unwrap(),
            "add column x int"
        );
        assert_eq!(change_actions("MODIFY id bigint NOT NULL", &users()).unwrap(), "MODIFY id bigint NOT NULL");
        assert!(change_actions("ALTER TABLE orders ADD x int", &users()).unwrap_err().message.contains("`orders`"));
        assert!(change_actions("ALTER TABLE users RENAME TO people", &users()).is_err());
        assert!(change_actions("ALTER TABLE users", &users()).is_err());
        assert!(change_actions("ALTER TABLE users RENAME COLUMN a TO b", &users()).is_ok());
        assert!(change_actions("MODIFY v varchar(20); DROP TABLE other", &users())
            .unwrap_err()
            .message
            .contains("more than one statement"));
        assert!(change_actions("MODIFY v varchar(20) DEFAULT ';'", &users()).is_ok());
    }

    #[test]
    fn renamed_columns_are_read_from_change_and_rename_column() {
        assert_eq!(
            renamed_columns(Some("CHANGE COLUMN `name` full_name varchar(100), RENAME COLUMN a TO b, CHANGE c c int")),
            vec![("name".to_string(), "full_name".to_string()), ("a".to_string(), "b".to_string())]
        );
    }

    #[test]
    fn the_rewrites_tables_sort_after_the_table_and_stay_within_64_characters() {
        let shadow = derived("users", SHADOW_SUFFIX).unwrap();
        assert_eq!(shadow, "users__cutover_new");
        // The order the server takes a RENAME's metadata locks in.
        assert!(
            "users".as_bytes() < shadow.as_bytes()
                && "users".as_bytes() < derived("users", OLD_SUFFIX).unwrap().as_bytes()
        );
        assert_eq!(derived(&"x".repeat(51), SHADOW_SUFFIX).map(|n| n.len()), Some(64));
        assert_eq!(derived(&"x".repeat(52), SHADOW_SUFFIX), None);
        assert!(trigger_names("`shop`.`users`", "fwd").iter().all(|n| n.len() <= 64));
    }

    #[test]
    fn values_are_compared_in_the_new_columns_type() {
        let column = |column_type: &str, data_type: &str| Column {
            name: "c".into(),
            column_type: column_type.into(),
            data_type: data_type.into(),
            generated: false,
        };
        assert_eq!(normalized("`c`", &column("bigint(20) unsigned", "bigint")), "CAST(`c` AS UNSIGNED)");
        assert_eq!(normalized("`c`", &column("decimal(12,4)", "decimal")), "CAST(`c` AS DECIMAL(12,4))");
        assert_eq!(normalized("`c`", &column("datetime(3)", "datetime")), "CAST(`c` AS DATETIME(3))");
        assert_eq!(normalized("`c`", &column("varchar(100)", "varchar")), "CONVERT(`c` USING utf8mb4)");
        assert_eq!(normalized("`c`", &column("blob", "blob")), "`c`");
    }
}
