//! A backfill's keyset SQL and its checkpoint table, described once for every engine.
//!
//! A batch is two statements: the last key of the next `limit` rows after the last key done
//! (keyset, never OFFSET: each batch costs the same however far along it is), then the
//! `UPDATE` of the rows between the two keys. Key values travel as text, one per key column,
//! and are turned back into the column's type in the statement, so any orderable key type,
//! composite keys included, works the same way; the engine compares them in the column's own
//! type and collation, the order `ORDER BY` uses.
//!
//! What differs between engines is a [`Dialect`]: placeholders, identifier quoting, how a key
//! value becomes text and back, the upsert, and type names. The engines keep the driver calls
//! ([`KeysetQueries`]) and the transaction around a batch.

use crate::{BackfillJob, BatchOutcome, DbError, KeyColumn, KeyRange, TableKey};

/// The SQL spelling of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: `$1` placeholders, `"name"`, key values cast through `text`.
    Postgres,
    /// MySQL and MariaDB: `?` placeholders, `` `name` ``, binary key values as hex.
    Mysql,
}

/// The checkpoint table's name (on PostgreSQL, in the history's schema).
pub const CHECKPOINT_TABLE: &str = "cutover_backfills";

impl Dialect {
    /// An identifier, quoted.
    pub fn quote(self, name: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// The `n`th parameter (from 1).
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Mysql => "?".to_string(),
        }
    }

    /// A key column's value (`expr`) as the text a checkpoint keeps.
    ///
    /// MySQL's text of a binary string (and of a `BIT`) is its bytes, which need not be
    /// UTF-8: `CAST(.. AS CHAR)` turns bytes it cannot convert into `?`, and such a key
    /// compares as another key (batches done again, or a backfill that never ends). A binary
    /// key is kept as a hex literal (`0x80FF`), a `BIT` as its number.
    pub fn key_text(self, expr: &str, column: &KeyColumn) -> String {
        match self {
            Dialect::Postgres => format!("{expr}::text"),
            Dialect::Mysql => match mysql_kind(column) {
                MysqlKey::Binary => format!("CONCAT('0x', HEX({expr}))"),
                MysqlKey::Bit => format!("CAST({expr} + 0 AS CHAR)"),
                MysqlKey::Text => format!("CAST({expr} AS CHAR)"),
            },
        }
    }

    /// The `n`th parameter as a value of the key column, from the text [`Dialect::key_text`]
    /// made (as [`bind_key`] passes it).
    fn key_param(self, n: usize, column: &KeyColumn) -> String {
        match self {
            // Bound as text, then cast: one parameter type whatever the column's.
            Dialect::Postgres => format!("${n}::text::{}", column.type_name),
            Dialect::Mysql => match mysql_kind(column) {
                MysqlKey::Binary => "UNHEX(?)".to_string(),
                MysqlKey::Bit => "CAST(? AS UNSIGNED)".to_string(),
                MysqlKey::Text => "?".to_string(),
            },
        }
    }

    fn type_name(self, kind: Kind) -> String {
        match (self, kind) {
            (Dialect::Postgres, Kind::Text(_) | Kind::LongText) => "text".to_string(),
            (Dialect::Postgres, Kind::TextList) => "text[]".to_string(),
            (Dialect::Postgres, Kind::Int) => "integer".to_string(),
            (Dialect::Postgres, Kind::BigInt) => "bigint".to_string(),
            (Dialect::Postgres, Kind::Time) => "timestamptz".to_string(),
            (Dialect::Mysql, Kind::Text(n)) => format!("VARCHAR({n})"),
            // A list is kept as one text (the engine encodes it).
            (Dialect::Mysql, Kind::LongText | Kind::TextList) => "TEXT".to_string(),
            (Dialect::Mysql, Kind::Int) => "INT".to_string(),
            (Dialect::Mysql, Kind::BigInt) => "BIGINT".to_string(),
            // RFC 3339 text: MySQL's own types have no time zone.
            (Dialect::Mysql, Kind::Time) => "VARCHAR(40)".to_string(),
        }
    }

    /// A time column as RFC 3339 text, UTC, to the millisecond at least.
    /// A NULL of a column's type, read in place of a column a table lacks.
    fn null_of(self, kind: Kind) -> String {
        match self {
            Dialect::Postgres => format!("NULL::{}", self.type_name(kind)),
            Dialect::Mysql => "NULL".to_string(),
        }
    }

    fn time_text(self, column: &str) -> String {
        match self {
            Dialect::Postgres => {
                format!(r#"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#)
            }
            Dialect::Mysql => column.to_string(),
        }
    }

    /// The `n`th parameter, RFC 3339 text, as a time column's value.
    fn time_param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}::text::timestamptz"),
            Dialect::Mysql => "?".to_string(),
        }
    }

    /// Now, as a time column's value.
    fn now(self) -> &'static str {
        match self {
            Dialect::Postgres => "now()",
            Dialect::Mysql => "DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%fZ')",
        }
    }

    /// ` ON CONFLICT ... DO UPDATE SET` of an insert whose `key` exists, up to the assignments.
    fn upsert(self, key: &str) -> String {
        match self {
            Dialect::Postgres => format!(" ON CONFLICT ({}) DO UPDATE SET ", self.quote(key)),
            Dialect::Mysql => " ON DUPLICATE KEY UPDATE ".to_string(),
        }
    }

    /// The value the insert proposed for `column`, in the upsert's assignments.
    fn proposed(self, column: &str) -> String {
        match self {
            Dialect::Postgres => format!("EXCLUDED.{}", self.quote(column)),
            Dialect::Mysql => format!("VALUES({})", self.quote(column)),
        }
    }

    /// What follows a table's columns in `CREATE TABLE`.
    fn table_options(self) -> &'static str {
        match self {
            Dialect::Postgres => "",
            Dialect::Mysql => " ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
        }
    }
}

/// How a MySQL key column's values travel as text.
#[derive(Debug, PartialEq, Eq)]
enum MysqlKey {
    /// Bytes, not characters (`BINARY`, `VARBINARY`, the `BLOB`s; `CHAR(n) CHARACTER SET
    /// binary` is reported as `binary(n)`): as hex.
    Binary,
    /// `BIT(n)`, `ENUM` and `SET`: as their number (an `ENUM`'s is its member's position, a
    /// `SET`'s its bits), which is the order `ORDER BY` sorts them in. As text, an `ENUM`
    /// compared as its member's name: a batch's range ran past its size (a tester's first
    /// batch of `--max-batch 10` took 2,650 rows).
    Bit,
    /// Anything else: as the text MySQL gives it, converted from the column's character set.
    Text,
}

fn mysql_kind(column: &KeyColumn) -> MysqlKey {
    let type_name = column.type_name.to_ascii_lowercase();
    let is = |name: &str| type_name == name || type_name.starts_with(&format!("{name}("));
    if ["binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"].iter().any(|name| is(name)) {
        MysqlKey::Binary
    } else if is("bit") || is("enum") || is("set") {
        MysqlKey::Bit
    } else {
        MysqlKey::Text
    }
}

/// The values to bind for key values `values` (as a checkpoint keeps them), in order.
///
/// A MySQL binary key's text is `0x` and its hex; the statement takes the hex. A value
/// without the prefix was saved before binary keys were kept as hex, as the key's bytes read
/// as text (right when they were UTF-8): its bytes are the key, as they were then.
fn bind_key(dialect: Dialect, columns: &[KeyColumn], values: &[String]) -> Vec<String> {
    let columns = columns.iter().cycle();
    values
        .iter()
        .zip(columns)
        .map(|(value, column)| match dialect {
            Dialect::Mysql if mysql_kind(column) == MysqlKey::Binary => match value.strip_prefix("0x") {
                Some(hex) if hex.bytes().all(|b| b.is_ascii_hexdigit()) && hex.len() % 2 == 0 => hex.to_string(),
                _ => value.bytes().map(|b| format!("{b:02X}")).collect(),
            },
            _ => value.clone(),
        })
        .collect()
}

/// Which side of a key a range's bound keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCmp {
    /// The keys after it: `key > values`.
    After,
    /// The keys up to it, itself included: `key <= values`.
    UpTo,
}

/// `(k1, k2) > (p1, p2)` (or `<=`), the parameters numbered from `first`; bind them with
/// [`key_values`].
fn key_compare(dialect: Dialect, key: &TableKey, qualifier: &str, cmp: KeyCmp, first: usize) -> String {
    let exprs: Vec<String> = key.columns.iter().map(|c| format!("{qualifier}{}", dialect.quote(&c.name))).collect();
    compare_key(dialect, &exprs, &key.columns, cmp, first)
}

/// The key columns `exprs` (of the columns `columns`) compared with a key's values, the
/// parameters numbered from `first` (PostgreSQL); bind them with [`key_values`].
///
/// MySQL and MariaDB do not scan a range of an index for a row comparison: `(a, b) > (?, ?)`
/// reads the index from its start to the key, and an `UPDATE` under REPEATABLE READ locks every
/// row it reads, so each batch of a composite key locked the rows of the whole table (MariaDB
/// 10.11, seen by `EXPLAIN` and a second session's lock wait). Spelled out, with the first
/// column bounded on its own (`a >= ? AND (a > ? OR (a = ? AND b > ?))`), it is a range.
pub fn compare_key(dialect: Dialect, exprs: &[String], columns: &[KeyColumn], cmp: KeyCmp, first: usize) -> String {
    let (strict, last, lead) = match cmp {
        KeyCmp::After => (">", ">", ">="),
        KeyCmp::UpTo => ("<", "<=", "<="),
    };
    let param = |idx: usize| dialect.key_param(first + idx, &columns[idx]);
    if dialect == Dialect::Postgres || exprs.len() == 1 {
        let params: Vec<String> = (0..exprs.len()).map(param).collect();
        return format!("({}) {last} ({})", exprs.join(", "), params.join(", "));
    }
    let terms: Vec<String> = (0..exprs.len())
        .map(|idx| {
            let mut parts: Vec<String> = (0..idx).map(|eq| format!("{} = {}", exprs[eq], param(eq))).collect();
            let op = if idx + 1 == exprs.len() { last } else { strict };
            parts.push(format!("{} {op} {}", exprs[idx], param(idx)));
            if parts.len() == 1 {
                parts.remove(0)
            } else {
                format!("({})", parts.join(" AND "))
            }
        })
        .collect();
    format!("({} {lead} {} AND ({}))", exprs[0], param(0), terms.join(" OR "))
}

/// The values to bind for one key's `values` (as a checkpoint keeps them) in a
/// [`compare_key`]: [`bind_key`]'s, each as often and in the order the comparison reads it.
pub fn key_values(dialect: Dialect, columns: &[KeyColumn], values: &[String]) -> Vec<String> {
    let bound = bind_key(dialect, columns, values);
    if dialect == Dialect::Postgres || bound.len() <= 1 {
        return bound;
    }
    // The lead column, then per term the equal columns before it and its own.
    let mut order = vec![0];
    for idx in 0..bound.len() {
        order.extend(0..=idx);
    }
    order.into_iter().map(|idx| bound[idx].clone()).collect()
}

/// The key columns as text, aliased so that ORDER BY always means the table's columns (an
/// output column named like a table column would win, and sort `10` before `9`).
fn key_texts(dialect: Dialect, key: &TableKey, qualifier: &str) -> String {
    let texts: Vec<String> = key
        .columns
        .iter()
        .enumerate()
        .map(|(idx, column)| {
            let expr = format!("{qualifier}{}", dialect.quote(&column.name));
            format!("{} AS cutover_key_{idx}", dialect.key_text(&expr, column))
        })
        .collect();
    texts.join(", ")
}

fn key_order(dialect: Dialect, key: &TableKey, qualifier: &str, direction: &str) -> String {
    let order: Vec<String> =
        key.columns.iter().map(|c| format!("{qualifier}{}{direction}", dialect.quote(&c.name))).collect();
    order.join(", ")
}

/// ` WHERE key > (the parameters from 1)`, or nothing on the `first` batch. The key alone, not
/// the condition: a batch's range is the next keys in the key's index, found at the cost of
/// the entries read. With the condition beside it, a planner that misjudges the condition's
/// rows (`status IS NULL` on a table analysed before the column was emptied, as autovacuum
/// leaves it halfway through) reads the whole table and sorts it, for every batch.
fn after_filter(dialect: Dialect, job: &BackfillJob, first: bool) -> String {
    if first {
        String::new()
    } else {
        format!(" WHERE {}", key_compare(dialect, &job.key, "", KeyCmp::After, 1))
    }
}

/// A batch's first statement: how many of the next `limit` rows after the last key done (the
/// parameters, none on the `first` batch) there are, and the last one's key as text. An
/// index-only scan of at most `limit` entries; no row when none is left.
fn bound_sql(dialect: Dialect, job: &BackfillJob, first: bool, limit: u64) -> String {
    let key = &job.key;
    format!(
        "SELECT count(*) OVER (), {texts} FROM (\n    SELECT {columns} FROM {table}{filter}\n    ORDER BY {columns} LIMIT {limit}\n) b\nORDER BY {descending} LIMIT 1",
        texts = key_texts(dialect, key, "b."),
        columns = key_order(dialect, key, "", ""),
        table = key.table,
        filter = after_filter(dialect, job, first),
        descending = key_order(dialect, key, "b.", " DESC"),
    )
}

/// A batch's second statement: the update of the rows after the last key done (the first
/// parameters, none on the `first` batch) up to the batch's last key (the next ones). A range,
/// so the index is scanned once from the batch's first key: no join, no cost for rows done.
fn update_sql(dialect: Dialect, job: &BackfillJob, first: bool) -> String {
    let key = &job.key;
    let mut filters = Vec::new();
    if !first {
        filters.push(key_compare(dialect, key, "", KeyCmp::After, 1));
    }
    let upper_first = if first { 1 } else { key.columns.len() + 1 };
    filters.push(key_compare(dialect, key, "", KeyCmp::UpTo, upper_first));
    // The condition is checked here only, on each row's newest version: the range holds the
    // rows that match and those that do not (they cost an index entry each). As `IS TRUE`
    // (the same rows: a WHERE drops NULL too), which no index on the condition's columns
    // answers: with `status IS NULL` bare, PostgreSQL read a `status` index's every NULL entry
    // for each batch rather than the batch's key range (171 s for 300,000 rows, where a plain
    // UPDATE took 1.1 s).
    if let Some(condition) = &job.condition {
        filters.push(format!("(({condition}) IS TRUE)"));
    }
    let Some(copy) = &job.copy_into else {
        return format!("UPDATE {} SET {} WHERE {}", key.table, job.set, filters.join(" AND "));
    };
    let (columns, values) = (copy.columns.join(", "), copy.values.join(", "));
    let filters = filters.join(" AND ");
    match dialect {
        // `FOR SHARE` reads each row's newest version and holds it until the batch commits: a
        // row deleted meanwhile is skipped, and a delete after the read waits, so its change
        // capture runs after the copy. `OVERRIDING SYSTEM VALUE`: an identity column keeps its values.
        Dialect::Postgres => format!(
            "INSERT INTO {} ({columns}) OVERRIDING SYSTEM VALUE SELECT {values} FROM {} AS {} WHERE {filters} FOR SHARE ON CONFLICT DO NOTHING",
            copy.table, key.table, copy.alias
        ),
        // Not `INSERT IGNORE`: it would also turn a value the new type cannot hold into a
        // warning and a truncated value.
        Dialect::Mysql => format!(
            "INSERT INTO {} ({columns}) SELECT {values} FROM {} AS {} WHERE {filters} LOCK IN SHARE MODE ON DUPLICATE KEY UPDATE {first} = {first}",
            copy.table,
            key.table,
            copy.alias,
            // Qualified: the source has a column of the same name.
            first = format!("{}.{}", copy.table, copy.columns.first().map(String::as_str).unwrap_or_default())
        ),
    }
}

/// A batch's two statements, for `--dry-run`.
pub fn batch_sql(dialect: Dialect, job: &BackfillJob, first: bool, limit: u64) -> String {
    format!("{};\n{}", bound_sql(dialect, job, first, limit), update_sql(dialect, job, first))
}

/// The keys, as text, of the next `limit` rows after the parameters (none when `first`): one
/// batch's range, read without writing.
fn boundaries_sql(dialect: Dialect, job: &BackfillJob, first: bool, limit: u64) -> String {
    let key = &job.key;
    format!(
        "SELECT {} FROM {}{} ORDER BY {} LIMIT {limit}",
        key_texts(dialect, key, ""),
        key.table,
        after_filter(dialect, job, first),
        key_order(dialect, key, "", "")
    )
}

/// The driver calls the keyset statements need. Parameters are bound as text; key values come
/// back as text.
pub trait KeysetQueries {
    /// Runs a batch's first statement: its row, if there is one, as the count (the first
    /// column) and the key's text (the others).
    fn bound_row(&mut self, sql: &str, params: &[String]) -> Result<Option<(u64, Vec<String>)>, DbError>;

    /// Runs an update: the rows it changed.
    fn update(&mut self, sql: &str, params: &[String]) -> Result<u64, DbError>;

    /// Runs a query of keys: every row's columns, as text.
    fn key_rows(&mut self, sql: &str, params: &[String]) -> Result<Vec<Vec<String>>, DbError>;
}

/// One batch of at most `limit` rows after the key `after` (from the start when `None`): its
/// last key, then the update up to it. The caller runs it in a transaction with the checkpoint.
pub fn run_batch(
    dialect: Dialect,
    db: &mut dyn KeysetQueries,
    job: &BackfillJob,
    after: Option<&[String]>,
    limit: u64,
) -> Result<BatchOutcome, DbError> {
    let first = after.is_none();
    let lower = after.unwrap_or_default();
    let bound = db.bound_row(&bound_sql(dialect, job, first, limit), &key_values(dialect, &job.key.columns, lower))?;
    let Some((rows_scanned, upper)) = bound else {
        return Ok(BatchOutcome { rows_scanned: 0, rows_updated: 0, last_key: None, app_waits: Default::default() });
    };
    // The update takes the lower key's parameters, then the upper key's.
    let params = [key_values(dialect, &job.key.columns, lower), key_values(dialect, &job.key.columns, &upper)].concat();
    let rows_updated = db.update(&update_sql(dialect, job, first), &params)?;
    Ok(BatchOutcome { rows_scanned, rows_updated, last_key: Some(upper), app_waits: Default::default() })
}

/// The key ranges of the first `n` batches of `limit` rows, read without writing.
pub fn boundaries(
    dialect: Dialect,
    db: &mut dyn KeysetQueries,
    job: &BackfillJob,
    limit: u64,
    n: usize,
) -> Result<Vec<KeyRange>, DbError> {
    let mut ranges: Vec<KeyRange> = Vec::new();
    for _ in 0..n {
        let after = ranges.last().map(|range| range.last.as_slice());
        let sql = boundaries_sql(dialect, job, after.is_none(), limit);
        let rows = db.key_rows(&sql, &key_values(dialect, &job.key.columns, after.unwrap_or_default()))?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { break };
        ranges.push(KeyRange { first: first.clone(), last: last.clone() });
    }
    Ok(ranges)
}

/// What a checkpoint column holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Short text, at most this many characters.
    Text(u16),
    /// Text of any length.
    LongText,
    /// A list of texts.
    TextList,
    Int,
    BigInt,
    /// A point in time.
    Time,
}

/// One column of the checkpoint table.
struct Column {
    name: &'static str,
    kind: Kind,
    not_null: bool,
}

const fn column(name: &'static str, kind: Kind, not_null: bool) -> Column {
    Column { name, kind, not_null }
}

/// The checkpoint table, in the order [`upsert_checkpoint_sql`] binds and
/// [`select_checkpoints_sql`] returns its columns: the fields of a `Checkpoint`, in order (its
/// `pace` as the four `pace_` columns). The first is the key; the last is set to now by every
/// write, and is not bound. The nullable columns from `ADDED_SINCE` up to the last were added
/// later: a table made before them gets them from [`add_checkpoint_column_sql`], and reads as
/// NULL until then.
const CHECKPOINT: [Column; 20] = [
    column("name", Kind::Text(255), true),
    column("table_name", Kind::Text(512), true),
    column("set_expr", Kind::LongText, true),
    column("condition", Kind::LongText, false),
    column("key_columns", Kind::TextList, true),
    column("last_key", Kind::TextList, false),
    column("pass", Kind::Int, true),
    column("rows_scanned", Kind::BigInt, true),
    column("rows_updated", Kind::BigInt, true),
    column("batches", Kind::BigInt, true),
    column("batch_size", Kind::BigInt, true),
    column("state", Kind::Text(16), true),
    column("error", Kind::LongText, false),
    column("runner", Kind::Text(1024), true),
    column("started_at", Kind::Time, true),
    column("pace_batch_time_ms", Kind::BigInt, false),
    column("pace_sessions_waited", Kind::BigInt, false),
    column("pace_longest_wait_ms", Kind::BigInt, false),
    column("pace_reason", Kind::LongText, false),
    column("updated_at", Kind::Time, true),
];

/// The index of the first column added to the checkpoint table after it was first released;
/// all of them are nullable, and come before `updated_at`.
const ADDED_SINCE: usize = 15;

/// The checkpoint table's columns a table made by an earlier version may lack.
pub fn added_checkpoint_columns() -> Vec<&'static str> {
    CHECKPOINT[ADDED_SINCE..CHECKPOINT.len() - 1].iter().map(|c| c.name).collect()
}

/// `ALTER TABLE` adding the added column `name` (one of [`added_checkpoint_columns`]) to the
/// checkpoint table `table`.
pub fn add_checkpoint_column_sql(dialect: Dialect, table: &str, name: &str) -> Option<String> {
    let column = CHECKPOINT[ADDED_SINCE..].iter().find(|c| c.name == name)?;
    Some(format!("ALTER TABLE {table} ADD COLUMN {} {}", dialect.quote(column.name), dialect.type_name(column.kind)))
}

/// `CREATE TABLE IF NOT EXISTS` of the checkpoint table `table` (quoted as it is to appear).
pub fn checkpoint_table_sql(dialect: Dialect, table: &str) -> String {
    let columns: Vec<String> = CHECKPOINT
        .iter()
        .enumerate()
        .map(|(idx, c)| {
            let mut line = format!("    {} {}", dialect.quote(c.name), dialect.type_name(c.kind));
            if idx == 0 {
                line.push_str(" PRIMARY KEY");
            } else if c.not_null {
                line.push_str(" NOT NULL");
            }
            if c.name == "state" {
                let states = crate::CheckpointState::quoted_list();
                line.push_str(&format!(" CHECK ({} IN ({states}))", dialect.quote(c.name)));
            }
            line
        })
        .collect();
    format!("CREATE TABLE IF NOT EXISTS {table} (\n{}\n){}", columns.join(",\n"), dialect.table_options())
}

/// Inserts a checkpoint into `table`, or replaces the one of that name. Binds the fields of
/// a `Checkpoint` but `updated_at`, in order (times as RFC 3339 text); `updated_at` is now.
pub fn upsert_checkpoint_sql(dialect: Dialect, table: &str) -> String {
    let names: Vec<String> = CHECKPOINT.iter().map(|c| dialect.quote(c.name)).collect();
    let last = CHECKPOINT.len() - 1;
    let values: Vec<String> = CHECKPOINT
        .iter()
        .enumerate()
        .map(|(idx, c)| match c.kind {
            _ if idx == last => dialect.now().to_string(),
            Kind::Time => dialect.time_param(idx + 1),
            _ => dialect.placeholder(idx + 1),
        })
        .collect();
    let updates: Vec<String> = CHECKPOINT
        .iter()
        .enumerate()
        .skip(1)
        .map(|(idx, c)| {
            let value = if idx == last { dialect.now().to_string() } else { dialect.proposed(c.name) };
            format!("{} = {value}", dialect.quote(c.name))
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}){}{}",
        names.join(", "),
        values.join(", "),
        dialect.upsert(CHECKPOINT[0].name),
        updates.join(", ")
    )
}

/// Every checkpoint of `table`, newest first, or the one named by the first parameter when
/// `by_name`; the fields of a `Checkpoint`, in order (times as RFC 3339 text). An added column
/// the table lacks (`missing`, made by an earlier version and read as it is) reads as NULL.
pub fn select_checkpoints_sql(dialect: Dialect, table: &str, by_name: bool, missing: &[String]) -> String {
    let columns: Vec<String> = CHECKPOINT
        .iter()
        .enumerate()
        .map(|(idx, c)| match c.kind {
            _ if idx >= ADDED_SINCE && missing.iter().any(|m| m == c.name) => dialect.null_of(c.kind),
            Kind::Time => dialect.time_text(&dialect.quote(c.name)),
            _ => dialect.quote(c.name),
        })
        .collect();
    let name = dialect.quote(CHECKPOINT[0].name);
    let filter = if by_name { format!(" WHERE {name} = {}", dialect.placeholder(1)) } else { String::new() };
    format!(
        "SELECT {} FROM {table}{filter} ORDER BY {} DESC",
        columns.join(", "),
        dialect.quote(CHECKPOINT[CHECKPOINT.len() - 1].name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(table: &str, columns: &[(&str, &str)], condition: Option<&str>) -> BackfillJob {
        BackfillJob {
            copy_into: None,
            key: TableKey {
                table: table.to_string(),
                columns: columns
                    .iter()
                    .map(|(n, t)| KeyColumn { name: n.to_string(), type_name: t.to_string() })
                    .collect(),
                source: "primary key".to_string(),
            },
            set: "total = price * quantity".to_string(),
            condition: condition.map(str::to_string),
        }
    }

    /// A table of keys `1..=n` (one integer column), and every statement run against it.
    struct Fake {
        keys: Vec<i64>,
        run: Vec<(String, Vec<String>)>,
    }

    impl Fake {
        fn after(&self, params: &[String]) -> impl Iterator<Item = i64> + '_ {
            let lower = params.first().map(|p| p.parse::<i64>().unwrap());
            self.keys.iter().copied().filter(move |k| lower.is_none_or(|lower| *k > lower))
        }
    }

    impl KeysetQueries for Fake {
        fn bound_row(&mut self, sql: &str, params: &[String]) -> Result<Option<(u64, Vec<String>)>, DbError> {
            self.run.push((sql.to_string(), params.to_vec()));
            let limit: usize = sql.rsplit("LIMIT ").nth(1).unwrap().split('\n').next().unwrap().parse().unwrap();
            let batch: Vec<i64> = self.after(params).take(limit).collect();
            Ok(batch.last().map(|last| (batch.len() as u64, vec![last.to_string()])))
        }

        fn update(&mut self, sql: &str, params: &[String]) -> Result<u64, DbError> {
            self.run.push((sql.to_string(), params.to_vec()));
            let upper: i64 = params.last().unwrap().parse().unwrap();
            let lower = &params[..params.len() - 1];
            Ok(self.after(lower).filter(|k| *k <= upper).count() as u64)
        }

        fn key_rows(&mut self, sql: &str, params: &[String]) -> Result<Vec<Vec<String>>, DbError> {
            self.run.push((sql.to_string(), params.to_vec()));
            let limit: usize = sql.rsplit("LIMIT ").next().unwrap().parse().unwrap();
            Ok(self.after(params).take(limit).map(|k| vec![k.to_string()]).collect())
        }
    }

    #[test]
    fn a_batch_binds_the_lower_key_then_the_upper_key() {
        let job = job("t", &[("id", "bigint")], None);
        let mut db = Fake { keys: (1..=25).collect(), run: Vec::new() };
        let first = run_batch(Dialect::Postgres, &mut db, &job, None, 10).unwrap();
        assert_eq!(
            first,
            BatchOutcome {
                rows_scanned: 10,
                rows_updated: 10,
                last_key: Some(vec!["10".into()]),
                app_waits: Default::default()
            }
        );
        assert_eq!(db.run[1], (update_sql(Dialect::Postgres, &job, true), vec!["10".to_string()]));
        let last = run_batch(Dialect::Postgres, &mut db, &job, Some(&["20".to_string()]), 10).unwrap();
        assert_eq!(last.rows_updated, 5);
        assert_eq!(db.run[3].1, ["20", "25"], "lower, then upper");
        let done = run_batch(Dialect::Postgres, &mut db, &job, Some(&["25".to_string()]), 10).unwrap();
        assert_eq!(
            done,
            BatchOutcome { rows_scanned: 0, rows_updated: 0, last_key: None, app_waits: Default::default() }
        );
        assert_eq!(db.run.len(), 5, "no update after an empty bound");
    }

    #[test]
    fn boundaries_follow_one_another() {
        let job = job("t", &[("id", "bigint")], None);
        let mut db = Fake { keys: (1..=25).collect(), run: Vec::new() };
        let ranges = boundaries(Dialect::Mysql, &mut db, &job, 10, 5).unwrap();
        let ends: Vec<(String, String)> = ranges.iter().map(|r| (r.first.join(","), r.last.join(","))).collect();
        assert_eq!(ends, [("1".into(), "10".into()), ("11".into(), "20".into()), ("21".into(), "25".into())]);
        assert_eq!(db.run[1].1, ["10"]);
        assert_eq!(db.run.len(), 4, "stops at the first empty range");
    }

    #[test]
    fn a_composite_key_after_the_first_batch() {
        let pg = job("public.\"Orders\"", &[("tenant", "integer"), ("id", "bigint")], Some("total IS NULL"));
        assert_eq!(
            bound_sql(Dialect::Postgres, &pg, false, 500),
            "SELECT count(*) OVER (), b.\"tenant\"::text AS cutover_key_0, b.\"id\"::text AS cutover_key_1 FROM (\n    SELECT \"tenant\", \"id\" FROM public.\"Orders\" WHERE (\"tenant\", \"id\") > ($1::text::integer, $2::text::bigint)\n    ORDER BY \"tenant\", \"id\" LIMIT 500\n) b\nORDER BY b.\"tenant\" DESC, b.\"id\" DESC LIMIT 1"
        );
        assert_eq!(
            update_sql(Dialect::Postgres, &pg, false),
            "UPDATE public.\"Orders\" SET total = price * quantity WHERE (\"tenant\", \"id\") > ($1::text::integer, $2::text::bigint) AND (\"tenant\", \"id\") <= ($3::text::integer, $4::text::bigint) AND ((total IS NULL) IS TRUE)"
        );
        let my = job("`orders`", &[("tenant", "int(11)"), ("id", "bigint(20)")], Some("total IS NULL"));
        assert_eq!(
            bound_sql(Dialect::Mysql, &my, false, 500),
            "SELECT count(*) OVER (), CAST(b.`tenant` AS CHAR) AS cutover_key_0, CAST(b.`id` AS CHAR) AS cutover_key_1 FROM (\n    SELECT `tenant`, `id` FROM `orders` WHERE (`tenant` >= ? AND (`tenant` > ? OR (`tenant` = ? AND `id` > ?)))\n    ORDER BY `tenant`, `id` LIMIT 500\n) b\nORDER BY b.`tenant` DESC, b.`id` DESC LIMIT 1"
        );
        assert_eq!(
            update_sql(Dialect::Mysql, &my, false),
            "UPDATE `orders` SET total = price * quantity WHERE (`tenant` >= ? AND (`tenant` > ? OR (`tenant` = ? AND `id` > ?))) AND (`tenant` <= ? AND (`tenant` < ? OR (`tenant` = ? AND `id` <= ?))) AND ((total IS NULL) IS TRUE)"
        );
    }

    #[test]
    fn a_copy_batch_inserts_its_key_range_into_the_destination_with_share_locks() {
        let mut job = job("public.users", &[("id", "integer")], None);
        job.copy_into = Some(crate::CopyInto {
            table: "public.\"_cutover_new_1\"".to_string(),
            columns: vec!["\"id\"".to_string(), "\"name\"".to_string()],
            values: vec!["\"id\"".to_string(), "upper(name)".to_string()],
            alias: "\"users\"".to_string(),
        });
        assert_eq!(
            update_sql(Dialect::Postgres, &job, false),
            "INSERT INTO public.\"_cutover_new_1\" (\"id\", \"name\") OVERRIDING SYSTEM VALUE SELECT \"id\", upper(name) FROM public.users AS \"users\" WHERE (\"id\") > ($1::text::integer) AND (\"id\") <= ($2::text::integer) FOR SHARE ON CONFLICT DO NOTHING"
        );
        job.key.table = "`users`".to_string();
        job.copy_into = Some(crate::CopyInto {
            table: "`_cutover_new_1`".to_string(),
            columns: vec!["`id`".to_string()],
            values: vec!["`id`".to_string()],
            alias: "`users`".to_string(),
        });
        assert_eq!(
            update_sql(Dialect::Mysql, &job, true),
            "INSERT INTO `_cutover_new_1` (`id`) SELECT `id` FROM `users` AS `users` WHERE (`id`) <= (?) LOCK IN SHARE MODE ON DUPLICATE KEY UPDATE `_cutover_new_1`.`id` = `_cutover_new_1`.`id`"
        );
    }

    #[test]
    fn the_first_batch_has_no_lower_bound() {
        let pg = job("public.\"Orders\"", &[("id", "bigint")], None);
        assert!(bound_sql(Dialect::Postgres, &pg, true, 10)
            .contains("FROM public.\"Orders\"\n    ORDER BY \"id\" LIMIT 10"));
        assert_eq!(
            update_sql(Dialect::Postgres, &pg, true),
            "UPDATE public.\"Orders\" SET total = price * quantity WHERE (\"id\") <= ($1::text::bigint)"
        );
        let my = job("`orders`", &[("id", "bigint(20)")], Some("total IS NULL"));
        // The range is found on the key alone, the condition applied by the update.
        assert!(bound_sql(Dialect::Mysql, &my, true, 100).contains("FROM `orders`\n    ORDER BY `id` LIMIT 100"));
        assert_eq!(
            batch_sql(Dialect::Mysql, &my, true, 100).split(";\n").nth(1),
            Some("UPDATE `orders` SET total = price * quantity WHERE (`id`) <= (?) AND ((total IS NULL) IS TRUE)")
        );
    }

    #[test]
    fn a_mysql_key_comparison_binds_each_value_where_it_reads_it() {
        let my = job("`t`", &[("a", "int"), ("b", "varbinary(4)"), ("c", "int")], None);
        assert_eq!(
            compare_key(Dialect::Mysql, &["`a`".into(), "`b`".into(), "`c`".into()], &my.key.columns, KeyCmp::After, 1),
            "(`a` >= ? AND (`a` > ? OR (`a` = ? AND `b` > UNHEX(?)) OR (`a` = ? AND `b` = UNHEX(?) AND `c` > ?)))"
        );
        let values = ["1".to_string(), "0xab".to_string(), "3".to_string()];
        assert_eq!(key_values(Dialect::Mysql, &my.key.columns, &values), ["1", "1", "1", "ab", "1", "ab", "3"]);
        assert_eq!(key_values(Dialect::Postgres, &my.key.columns, &values), values, "numbered, each once");
        assert!(key_values(Dialect::Mysql, &my.key.columns, &[]).is_empty(), "the first batch has no lower key");
        let one = job("`t`", &[("id", "bigint")], None);
        assert_eq!(
            compare_key(Dialect::Mysql, &["`id`".into()], &one.key.columns, KeyCmp::UpTo, 1),
            "(`id`) <= (?)",
            "one column is a range as it is"
        );
    }

    #[test]
    fn mysql_binary_keys_travel_as_hex() {
        let my = job("`b`", &[("tag", "varchar(4)"), ("k", "varbinary(8)")], None);
        assert_eq!(
            boundaries_sql(Dialect::Mysql, &my, false, 50),
            "SELECT CAST(`tag` AS CHAR) AS cutover_key_0, CONCAT('0x', HEX(`k`)) AS cutover_key_1 FROM `b` WHERE (`tag` >= ? AND (`tag` > ? OR (`tag` = ? AND `k` > UNHEX(?)))) ORDER BY `tag`, `k` LIMIT 50"
        );
        assert_eq!(
            update_sql(Dialect::Mysql, &my, false),
            "UPDATE `b` SET total = price * quantity WHERE (`tag` >= ? AND (`tag` > ? OR (`tag` = ? AND `k` > UNHEX(?)))) AND (`tag` <= ? AND (`tag` < ? OR (`tag` = ? AND `k` <= UNHEX(?))))"
        );
        let values = ["é".to_string(), "0x80ff".to_string(), "a".to_string(), "ab".to_string()];
        // A lower and an upper key; `ab` is a binary key as checkpoints kept it before hex.
        assert_eq!(bind_key(Dialect::Mysql, &my.key.columns, &values), ["é", "80ff", "a", "6162"]);
        assert_eq!(bind_key(Dialect::Mysql, &my.key.columns, &["x".into(), "0x".into()]), ["x", ""], "the empty key");
        assert_eq!(bind_key(Dialect::Postgres, &my.key.columns, &values), values, "bytea's text is its `\\x` form");
        let kind = |type_name: &str| mysql_kind(&KeyColumn { name: "k".into(), type_name: type_name.into() });
        for binary in ["binary(16)", "VARBINARY(3)", "tinyblob"] {
            assert_eq!(kind(binary), MysqlKey::Binary, "{binary}");
        }
        for text in ["varchar(10)", "binaryish", "bigint(20)", "bitten"] {
            assert_eq!(kind(text), MysqlKey::Text, "{text}");
        }
        assert_eq!(kind("bit(16)"), MysqlKey::Bit);
        assert_eq!(kind("enum('zzz','aaa')"), MysqlKey::Bit, "in the members' order");
        assert_eq!(kind("set('a','b')"), MysqlKey::Bit);
        assert_eq!(kind("settled"), MysqlKey::Text);
        let bits = job("`b`", &[("k", "bit(16)")], None);
        assert_eq!(
            boundaries_sql(Dialect::Mysql, &bits, false, 5),
            "SELECT CAST(`k` + 0 AS CHAR) AS cutover_key_0 FROM `b` WHERE (`k`) > (CAST(? AS UNSIGNED)) ORDER BY `k` LIMIT 5"
        );
    }

    #[test]
    fn boundaries_read_keys_as_text_in_key_order() {
        let pg = job("t", &[("id", "integer")], Some("x IS NULL"));
        assert_eq!(
            boundaries_sql(Dialect::Postgres, &pg, true, 10),
            "SELECT \"id\"::text AS cutover_key_0 FROM t ORDER BY \"id\" LIMIT 10"
        );
        assert_eq!(
            boundaries_sql(Dialect::Postgres, &pg, false, 10),
            "SELECT \"id\"::text AS cutover_key_0 FROM t WHERE (\"id\") > ($1::text::integer) ORDER BY \"id\" LIMIT 10"
        );
    }

    #[test]
    fn the_checkpoint_table_per_dialect() {
        let pg = checkpoint_table_sql(Dialect::Postgres, "public.cutover_backfills");
        assert!(
            pg.starts_with("CREATE TABLE IF NOT EXISTS public.cutover_backfills (\n    \"name\" text PRIMARY KEY,\n")
        );
        assert!(pg.contains("\n    \"key_columns\" text[] NOT NULL,\n    \"last_key\" text[],\n"), "{pg}");
        assert!(pg
            .contains("\n    \"state\" text NOT NULL CHECK (\"state\" IN ('running', 'paused', 'done', 'failed')),\n"));
        assert!(pg.ends_with("\n    \"updated_at\" timestamptz NOT NULL\n)"), "{pg}");
        let my = checkpoint_table_sql(Dialect::Mysql, "cutover_backfills");
        assert!(my.contains("\n    `name` VARCHAR(255) PRIMARY KEY,\n    `table_name` VARCHAR(512) NOT NULL,\n"));
        assert!(my.contains("\n    `condition` TEXT,\n    `key_columns` TEXT NOT NULL,\n"), "{my}");
        assert!(my.ends_with("\n    `updated_at` VARCHAR(40) NOT NULL\n) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"));
    }

    #[test]
    fn the_checkpoint_upsert_per_dialect() {
        let pg = upsert_checkpoint_sql(Dialect::Postgres, "s.cutover_backfills");
        assert!(pg.contains("\"started_at\", \"pace_batch_time_ms\", \"pace_sessions_waited\", \"pace_longest_wait_ms\", \"pace_reason\", \"updated_at\") VALUES ($1, $2, "), "{pg}");
        assert!(pg.contains(", $14, $15::text::timestamptz, $16, $17, $18, $19, now()) ON CONFLICT (\"name\") DO UPDATE SET \"table_name\" = EXCLUDED.\"table_name\", "), "{pg}");
        assert!(pg.ends_with("\"pace_reason\" = EXCLUDED.\"pace_reason\", \"updated_at\" = now()"), "{pg}");
        let my = upsert_checkpoint_sql(Dialect::Mysql, "cutover_backfills");
        let now = "DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%fZ')";
        assert!(my.contains(&format!("VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {now}) ON DUPLICATE KEY UPDATE `table_name` = VALUES(`table_name`), ")), "{my}");
        assert!(my.contains("`condition` = VALUES(`condition`)"), "{my}");
        assert!(my.ends_with(&format!("`updated_at` = {now}")), "{my}");
    }

    #[test]
    fn reading_checkpoints_per_dialect() {
        assert_eq!(
            select_checkpoints_sql(Dialect::Mysql, "cutover_backfills", true, &[]),
            "SELECT `name`, `table_name`, `set_expr`, `condition`, `key_columns`, `last_key`, `pass`, `rows_scanned`, `rows_updated`, `batches`, `batch_size`, `state`, `error`, `runner`, `started_at`, `pace_batch_time_ms`, `pace_sessions_waited`, `pace_longest_wait_ms`, `pace_reason`, `updated_at` FROM cutover_backfills WHERE `name` = ? ORDER BY `updated_at` DESC"
        );
        let pg = select_checkpoints_sql(Dialect::Postgres, "s.cutover_backfills", false, &[]);
        assert!(
            pg.contains(r#", to_char("started_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), "#),
            "{pg}"
        );
        assert!(pg.ends_with(" FROM s.cutover_backfills ORDER BY \"updated_at\" DESC"), "{pg}");
    }

    #[test]
    fn a_checkpoint_table_of_an_earlier_version_gains_the_added_columns() {
        let added = added_checkpoint_columns();
        assert_eq!(added, ["pace_batch_time_ms", "pace_sessions_waited", "pace_longest_wait_ms", "pace_reason"]);
        assert_eq!(
            add_checkpoint_column_sql(Dialect::Postgres, "s.cutover_backfills", "pace_reason").unwrap(),
            "ALTER TABLE s.cutover_backfills ADD COLUMN \"pace_reason\" text"
        );
        assert_eq!(
            add_checkpoint_column_sql(Dialect::Mysql, "cutover_backfills", "pace_batch_time_ms").unwrap(),
            "ALTER TABLE cutover_backfills ADD COLUMN `pace_batch_time_ms` BIGINT"
        );
        assert_eq!(add_checkpoint_column_sql(Dialect::Mysql, "t", "state"), None, "only added columns");
        // Until then, it reads as NULL of the column's type.
        let missing: Vec<String> = added.iter().map(|c| c.to_string()).collect();
        let pg = select_checkpoints_sql(Dialect::Postgres, "t", false, &missing);
        assert!(pg.contains(", NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, to_char(\"updated_at\""), "{pg}");
    }
}
