//! What `cutover plan` asks a MySQL/MariaDB catalog: `information_schema` only, never a
//! table's rows. Sizes are InnoDB's estimates (`TABLE_ROWS` is sampled, `DATA_LENGTH` counts
//! pages), which is what a plan needs: the order of magnitude of what a copy or a scan reads.

use std::collections::BTreeMap;

use cutover_engine::{
    Catalog, CurrentHolders, DbError, Dependent, LiveColumn, LiveForeignKey, LiveIndex, LiveSchema, LiveTable,
    LiveView, LockHolder, QueryUse, RelationFacts, UnseenTransactions,
};
use mysql::prelude::Queryable;
use mysql::Row;

use crate::backfill::text;
use crate::connect::{quote_ident, MysqlTarget};
use crate::error::db_error;

impl MysqlTarget {
    /// The database and table a name of the analysis means: `db.t`, or `t` in the URL's database.
    fn split_name<'a>(&'a self, name: &'a str) -> (&'a str, &'a str) {
        name.split_once('.').unwrap_or((self.database.as_str(), name))
    }

    /// A table as the analysis writes it: bare in the URL's database, qualified elsewhere.
    fn written(&self, schema: &str, table: &str) -> String {
        if schema == self.database {
            table.to_string()
        } else {
            format!("{schema}.{table}")
        }
    }

    /// How many table locks and uses of the table there are now (`SHOW OPEN TABLES`' `In_use`:
    /// a `LOCK TABLES`, a statement running on it; not a transaction between its statements).
    fn table_in_use(&mut self, schema: &str, table: &str) -> Result<u64, DbError> {
        // Every open table of the database, the name compared here as the server compares it.
        let rows: Vec<Row> =
            self.conn.query(format!("SHOW OPEN TABLES FROM {}", quote_ident(schema))).map_err(db_error)?;
        let fold = self.names_fold_case;
        Ok(rows
            .iter()
            .filter(|row| {
                text(row, 1).is_some_and(|name| if fold { name.eq_ignore_ascii_case(table) } else { name == table })
            })
            .filter_map(|row| text(row, 2)?.parse::<u64>().ok())
            .sum())
    }
}

/// A row of `information_schema.COLUMNS`: table, column, type, nullable, its character set and
/// its table's.
type ColumnRow = (String, String, String, String, Option<String>, Option<String>);

/// A row of `information_schema.TABLES`: name, rows, data length, storage engine, collation,
/// character set, row format.
type TableRow = (String, Option<i64>, Option<i64>, Option<String>, Option<String>, Option<String>, Option<String>);

/// Whether `text` holds `word` as a whole identifier (any case): `NEW.name`, `` `name` ``, not
/// `user_name`.
fn names_word(text: &str, word: &str) -> bool {
    let (text, word) = (text.to_lowercase(), word.to_lowercase());
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    text.match_indices(&word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// `text` matched literally by `LIKE` (its `_` and `%` are no wildcards).
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl Catalog for MysqlTarget {
    fn relation_facts(&mut self, names: &[String]) -> Result<Vec<RelationFacts>, DbError> {
        let mut facts = Vec::new();
        for name in names {
            let (schema, table) = self.split_name(name);
            let (schema, table) = (schema.to_string(), table.to_string());
            let row: Option<(String, Option<i64>, Option<i64>)> = self
                .conn
                .exec_first(
                    "SELECT TABLE_TYPE, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (&schema, &table),
                )
                .map_err(db_error)?;
            if let Some((kind, rows, bytes)) = row {
                let kind = match kind.as_str() {
                    "BASE TABLE" => "table",
                    "VIEW" => "view",
                    "SEQUENCE" => "sequence",
                    _ => "relation",
                };
                facts.push(RelationFacts {
                    name: name.clone(),
                    kind: kind.to_string(),
                    rows: rows.unwrap_or(-1),
                    bytes: bytes.unwrap_or(0),
                });
            }
        }
        Ok(facts)
    }

    fn dependents(&mut self, relation: &str, column: Option<&str>) -> Result<Vec<Dependent>, DbError> {
        let (schema, table) = self.split_name(relation);
        let (schema, table) = (schema.to_string(), table.to_string());
        let mut found = Vec::new();
        // Other tables' foreign keys that reference it (or the column).
        let keys: Vec<(String, String, String)> = self
            .conn
            .exec(
                "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE REFERENCED_TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME = ? \
                 AND (? IS NULL OR REFERENCED_COLUMN_NAME = ?) ORDER BY 1, 2, 3",
                (&schema, &table, column, column),
            )
            .map_err(db_error)?;
        for (key_schema, key_table, name) in keys {
            found.push(Dependent {
                kind: "foreign key".into(),
                name: format!("{}.{name}", self.written(&key_schema, &key_table)),
            });
        }
        // Views whose definition names it: MariaDB and MySQL store it with qualified, quoted
        // names (`db`.`t`), so a table of the same name in another database is not it.
        let views: Vec<(String, String, String)> = self
            .conn
            .exec(
                "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS \
                 WHERE VIEW_DEFINITION LIKE CONCAT('%`', ?, '`.`', ?, '`%') ORDER BY 1, 2",
                (like_literal(&schema), like_literal(&table)),
            )
            .map_err(db_error)?;
        for (view_schema, view, definition) in views {
            // The server qualifies every column in the definition: over a join, by its table.
            let definition = definition.to_lowercase();
            let names_column = |c: &str| {
                let c = c.to_lowercase();
                definition.contains(&format!("`{}`.`{c}`", table.to_lowercase()))
                    || (!definition.contains(" join ") && definition.contains(&format!("`{c}`")))
            };
            if column.is_none_or(names_column) {
                found.push(Dependent { kind: "view".into(), name: self.written(&view_schema, &view) });
            }
        }
        // Its triggers (they name their table's columns as `NEW.c` / `OLD.c`).
        let fold = self.names_fold_case;
        let sql = format!(
            "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS \
             WHERE EVENT_OBJECT_SCHEMA {} AND EVENT_OBJECT_TABLE {} ORDER BY 1",
            crate::connect::schema_equals(fold),
            crate::connect::schema_equals(fold)
        );
        let triggers: Vec<(String, String)> = self.conn.exec(sql, (&schema, &table)).map_err(db_error)?;
        for (trigger, body) in triggers {
            if column.is_none_or(|c| names_word(&body, c)) {
                found.push(Dependent { kind: "trigger".into(), name: trigger });
            }
        }
        // The indexes a dropped column takes with it.
        if let Some(column) = column {
            let indexes: Vec<String> = self
                .conn
                .exec(
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ? ORDER BY 1",
                    (&schema, &table, column),
                )
                .map_err(db_error)?;
            found.extend(indexes.into_iter().map(|index| Dependent { kind: "index".into(), name: index }));
        }
        Ok(found)
    }

    /// MySQL has no `pg_stat_statements`: `performance_schema`'s digests are off by default on
    /// MariaDB, and reading them is not done yet.
    fn statements_naming(&mut self, _: &str, _: Option<&str>) -> Result<Option<Vec<QueryUse>>, DbError> {
        Ok(None)
    }

    fn time_zone(&mut self) -> Result<String, DbError> {
        let zone: Option<String> = self.conn.query_first("SELECT @@session.time_zone").map_err(db_error)?;
        Ok(zone.unwrap_or_default())
    }

    fn live_schema(&mut self) -> Result<LiveSchema, DbError> {
        let database = self.database.clone();
        let mut tables: BTreeMap<String, LiveTable> = BTreeMap::new();
        let listed: Vec<TableRow> = self
            .conn
            .exec(
                "SELECT t.TABLE_NAME, t.TABLE_ROWS, t.DATA_LENGTH, t.ENGINE, t.TABLE_COLLATION, cs.CHARACTER_SET_NAME, t.ROW_FORMAT \
                 FROM information_schema.TABLES t \
                 LEFT JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY cs ON cs.COLLATION_NAME = t.TABLE_COLLATION \
                 WHERE t.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'",
                (&database,),
            )
            .map_err(db_error)?;
        for (name, rows, bytes, storage_engine, collation, charset, row_format) in listed {
            let table = LiveTable {
                name: name.clone(),
                schema: database.clone(),
                relname: name.clone(),
                rows: rows.unwrap_or(-1),
                // InnoDB's row count is an estimate it keeps current, not a bound.
                analysed: rows.is_some(),
                bytes: bytes.unwrap_or(-1),
                storage_engine,
                charset,
                collation,
                row_format,
                ..LiveTable::default()
            };
            tables.insert(name, table);
        }
        // With the column's character set where it is not the table's: a MODIFY that writes no
        // character set converts the column to the table's, which copies the table.
        let columns: Vec<ColumnRow> = self
            .conn
            .exec(
                "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, c.CHARACTER_SET_NAME, cs.CHARACTER_SET_NAME \
                 FROM information_schema.COLUMNS c \
                 JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
                 LEFT JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY cs ON cs.COLLATION_NAME = t.TABLE_COLLATION \
                 WHERE c.TABLE_SCHEMA = ? ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
                (&database,),
            )
            .map_err(db_error)?;
        for (table, name, mut type_text, nullable, charset, table_charset) in columns {
            if let Some(charset) = charset.filter(|c| Some(c) != table_charset.as_ref()) {
                type_text = format!("{type_text} character set {charset}");
            }
            if let Some(table) = tables.get_mut(&table) {
                table.columns.push(LiveColumn { name, type_text, not_null: nullable == "NO" });
            }
        }
        // One row per column of each index, in key order; an expression part has no column.
        let parts: Vec<(String, String, i64, Option<String>, String)> = self
            .conn
            .exec(
                "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, INDEX_TYPE FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                (&database,),
            )
            .map_err(db_error)?;
        for (table, index, non_unique, column, index_type) in parts {
            let Some(table) = tables.get_mut(&table) else { continue };
            if index_type == "FULLTEXT" && !table.fulltext_indexes.contains(&index) {
                table.fulltext_indexes.push(index.clone());
            }
            if index == "PRIMARY" {
                table.primary_key.extend(column.clone());
            }
            let existing = table.indexes.iter().position(|i| i.name == index);
            let entry = match existing {
                Some(at) => &mut table.indexes[at],
                None => {
                    table.indexes.push(LiveIndex {
                        name: index.clone(),
                        columns: Vec::new(),
                        unique: non_unique == 0,
                        plain: true,
                        partial: false,
                        valid: true,
                    });
                    table.indexes.last_mut().expect("just pushed")
                }
            };
            match column {
                Some(column) if entry.plain => entry.columns.push(column),
                Some(_) => {}
                None => entry.plain = false,
            }
        }
        let keys: Vec<(String, String, String, String, String)> = self
            .conn
            .exec(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
                 FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL \
                 ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
                (&database,),
            )
            .map_err(db_error)?;
        for (table, name, column, referenced, referenced_column) in keys {
            let Some(table) = tables.get_mut(&table) else { continue };
            match table.foreign_keys.iter_mut().find(|fk| fk.name == name) {
                Some(fk) => {
                    fk.columns.push(column);
                    fk.referenced_columns.push(referenced_column);
                }
                None => table.foreign_keys.push(LiveForeignKey {
                    name,
                    columns: vec![column],
                    referenced_table: referenced,
                    referenced_columns: vec![referenced_column],
                    // MySQL checks every row when it adds a foreign key (unless checks are off).
                    validated: true,
                }),
            }
        }
        let views: Vec<String> = self
            .conn
            .exec("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY 1", (&database,))
            .map_err(db_error)?;
        let views = views
            .into_iter()
            .map(|name| LiveView { name: name.clone(), schema: database.clone(), relname: name, base: None })
            .collect();
        Ok(LiveSchema { tables: tables.into_values().collect(), views, ..LiveSchema::default() })
    }

    /// Reads up to 64 MB of the table's rows (by its average row length), giving up after
    /// 10 s (MariaDB's `max_statement_time`; MySQL's `MAX_EXECUTION_TIME` hint): cheap enough for
    /// production. A table under 8 MB is too small to tell.
    fn current_holders(&mut self, relation: &str, conflicting: &[&str]) -> Result<CurrentHolders, DbError> {
        // DDL takes the table's exclusive metadata lock (online DDL too, at its start and end):
        // it waits for every holder. Other statements wait only for exclusive-kind holders.
        let every_holder = conflicting.contains(&"AccessShareLock");
        let (schema, table) = self.split_name(relation);
        let (schema, table) = (schema.to_string(), table.to_string());
        let fold = self.names_fold_case;
        let same = |column: &str| match fold {
            true => format!("LOWER({column}) = LOWER(?)"),
            false => format!("BINARY {column} = ?"),
        };
        // A DDL statement queued for the lock goes first: a new request waits behind it.
        let queued: Vec<Row> = self
            .conn
            .query(
                "SELECT ID, USER, HOST, TIME, LEFT(COALESCE(INFO, ''), 2000), COALESCE(DB, '') FROM information_schema.PROCESSLIST \
                 WHERE ID <> CONNECTION_ID() AND STATE LIKE 'Waiting for table metadata lock%' ORDER BY TIME DESC",
            )
            .map_err(db_error)?;
        // Its statement names the table: bare in the session's database, or qualified.
        let names_it = |row: &Row| {
            let (statement, db) = (text(row, 4).unwrap_or_default(), text(row, 5).unwrap_or_default());
            let same_db = if fold { db.eq_ignore_ascii_case(&schema) } else { db == schema };
            names_word(&statement, &table) && (same_db || names_word(&statement, &schema))
        };
        let queued: Vec<&Row> = queued.iter().filter(|row| names_it(row)).collect();
        let mut sessions: Vec<LockHolder> = queued
            .iter()
            .map(|row| {
                let field = |idx| text(row, idx).unwrap_or_default();
                LockHolder {
                    description: format!(
                        "session {} ({}@{}, waiting for the metadata lock for {} s, {})",
                        field(0),
                        field(1),
                        field(2),
                        field(3),
                        crate::migrate::doing(&field(4))
                    ),
                    since: None,
                }
            })
            .collect();
        if !self.metadata_lock_info {
            if every_holder {
                sessions.extend(crate::migrate::open_transactions(&mut self.conn)?);
            }
            // Who is not in a transaction on this database yet holds the table: a `LOCK TABLES`
            // session, a statement from another database. Only counted, not named.
            // A DDL statement queued for the table's lock counts there too (a queued INSERT does
            // not), and is named above.
            let queued_ddl = queued
                .iter()
                .filter(|row| crate::migrate::causes_implicit_commit(&text(row, 4).unwrap_or_default()))
                .count() as u64;
            let in_use = self.table_in_use(&schema, &table)?.saturating_sub(queued_ddl);
            if in_use > 0 {
                sessions.push(LockHolder {
                    description: format!(
                        "{} on `{relation}` now (SHOW OPEN TABLES: a LOCK TABLES session, or a statement using the table, maybe from another database), by sessions this server does not name",
                        cutover_engine::count(in_use, "lock or use", "locks or uses")
                    ),
                    since: None,
                });
            }
            return Ok(CurrentHolders { sessions, exact: false });
        }
        let modes = if every_holder {
            String::new()
        } else {
            " AND m.LOCK_MODE IN ('MDL_SHARED_NO_WRITE', 'MDL_SHARED_NO_READ_WRITE', 'MDL_SHARED_READ_ONLY', 'MDL_EXCLUSIVE')".to_string()
        };
        let holders: Vec<Row> = self
            .conn
            .exec(
                format!(
                    "SELECT p.ID, p.USER, p.HOST, GROUP_CONCAT(DISTINCT m.LOCK_MODE ORDER BY m.LOCK_MODE SEPARATOR ', '), \
                       COALESCE(CONCAT('in a transaction for ', TIMESTAMPDIFF(SECOND, MIN(t.trx_started), NOW())), CONCAT('in its statement for ', MAX(p.TIME))), \
                       LEFT(COALESCE(MAX(p.INFO), MAX(t.trx_query), ''), 2000), \
                       DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL TIMESTAMPDIFF(SECOND, MIN(t.trx_started), NOW()) SECOND, '%Y-%m-%dT%H:%i:%sZ') \
                     FROM information_schema.METADATA_LOCK_INFO m JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID \
                     LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
                     WHERE m.THREAD_ID <> CONNECTION_ID() AND {} AND {}{modes} \
                     GROUP BY p.ID, p.USER, p.HOST ORDER BY MIN(t.trx_started), MAX(p.TIME) DESC LIMIT 5",
                    same("m.TABLE_SCHEMA"),
                    same("m.TABLE_NAME")
                ),
                (schema.as_str(), table.as_str()),
            )
            .map_err(db_error)?;
        // A queued statement's own lighter lock is already said by its line.
        let queued: Vec<String> = queued.iter().filter_map(|row| text(row, 0)).collect();
        sessions.extend(holders.iter().filter(|row| !text(row, 0).is_some_and(|id| queued.contains(&id))).map(|row| {
            let field = |idx| text(row, idx).unwrap_or_default();
            LockHolder {
                description: format!(
                    "session {} ({}@{}, {} s, {}) holds {} on {relation}",
                    field(0),
                    field(1),
                    field(2),
                    field(4),
                    crate::migrate::doing(&field(5)),
                    field(3)
                ),
                since: text(row, 6),
            }
        }));
        Ok(CurrentHolders { sessions, exact: true })
    }

    fn unseen_transactions(&mut self) -> Result<Option<UnseenTransactions>, DbError> {
        if self.metadata_lock_info {
            return Ok(None);
        }
        // Only counted: on a shared server they are mostly other applications', and naming
        // each under every statement would be noise (see `current_holders`).
        let row: Option<(u64, Option<u64>)> = self
            .conn
            .query_first(
                "SELECT COUNT(*), MAX(TIMESTAMPDIFF(SECOND, t.trx_started, NOW())) FROM information_schema.INNODB_TRX t \
                 LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                 WHERE t.trx_mysql_thread_id <> CONNECTION_ID() AND (p.DB IS NULL OR p.DB <> DATABASE())",
            )
            .map_err(db_error)?;
        Ok(row
            .filter(|(count, _)| *count > 0)
            .map(|(count, oldest)| UnseenTransactions { count, oldest_seconds: oldest.unwrap_or(0) }))
    }

    fn measure_scan_rate(&mut self, relation: &str) -> Result<Option<f64>, DbError> {
        let (schema, table) = self.split_name(relation);
        let (schema, table) = (schema.to_string(), table.to_string());
        let size: Option<(Option<i64>, Option<i64>)> = self
            .conn
            .exec_first(
                "SELECT DATA_LENGTH, AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&schema, &table),
            )
            .map_err(db_error)?;
        let Some((Some(bytes), Some(row))) = size else { return Ok(None) };
        if bytes < 8 * 1024 * 1024 || row <= 0 {
            return Ok(None);
        }
        let rows = (64 * 1024 * 1024 / row).max(1);
        let quoted = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
        let read = format!("SELECT /* cutover */ COUNT(*) FROM (SELECT * FROM {quoted} LIMIT {rows}) sample");
        // Its metadata lock first, waited for at most a second: behind a DDL queued on the table
        // (what `plan` is asked about) there is no measure, and `plan` must not queue too.
        let lock = format!("SELECT /* cutover */ 1 FROM {quoted} LIMIT 0");
        let (lock, sql) = if self.mariadb {
            (
                format!("SET STATEMENT lock_wait_timeout = 1 FOR {lock}"),
                format!("SET STATEMENT max_statement_time = 10, lock_wait_timeout = 1 FOR {read}"),
            )
        } else {
            let hints = "SELECT /*+ MAX_EXECUTION_TIME(10000) SET_VAR(lock_wait_timeout = 1) */ /* cutover */";
            (lock.replacen("SELECT /* cutover */", hints, 1), read.replacen("SELECT /* cutover */", hints, 1))
        };
        // 1205: the lock was not granted in time.
        let busy = |err: &mysql::Error| matches!(err, mysql::Error::MySqlError(e) if e.code == 1205);
        match self.conn.query_drop(lock) {
            Ok(()) => {}
            Err(err) if busy(&err) => return Ok(None),
            Err(err) => return Err(db_error(err)),
        }
        let started = std::time::Instant::now();
        let counted: Option<i64> = match self.conn.query_first(sql) {
            Ok(counted) => counted,
            Err(err) if busy(&err) => return Ok(None),
            Err(err) => return Err(db_error(err)),
        };
        let elapsed = started.elapsed().as_secs_f64().max(1e-6);
        Ok(counted.map(|n| n as f64 * row as f64 / elapsed))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_column_is_named_as_a_whole_word() {
        assert!(super::names_word("SET NEW.name = TRIM(NEW.name)", "name"));
        assert!(super::names_word("set new.`Name` = 1", "name"));
        assert!(!super::names_word("SET NEW.user_name = 'x'", "name"));
        assert!(!super::names_word("SET NEW.names = 1", "name"));
    }
}
