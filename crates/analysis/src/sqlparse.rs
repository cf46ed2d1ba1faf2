//! The MySQL/MariaDB and SQLite front ends: sqlparser's grammars turned into [`Effect`]s, as
//! `postgres.rs` does for PostgreSQL. No sqlparser type leaves this module.
//!
//! For MySQL each `ALTER TABLE` operation is mapped to the algorithm the server uses for it
//! (INSTANT, INPLACE or COPY) and whether reads and writes go on meanwhile, by server flavour and
//! version (the MySQL 8.0 and MariaDB 10.x online DDL tables). For SQLite, the `ALTER TABLE`
//! forms SQLite does not have are marked unsupported.

use sqlparser::ast::{
    AlterColumnOperation, AlterTableAlgorithm, AlterTableLock, AlterTableOperation, ColumnDef, ColumnOption, FromTable,
    GeneratedExpressionMode, ObjectName, ObjectType, Statement, TableConstraint, TableFactor,
};
use sqlparser::dialect::{MySqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use crate::dialect::MysqlServer;
use crate::effect::{other, ParseError};
use crate::effect::{Algorithm, ColumnType, ConvertTo, ForeignKey, MysqlDdl, MysqlTouches, TableStorage};
use crate::{Action, AlterCommand, ColumnInfo, Effect, LockMode, RowAccess, RowScope};

mod mysql_alter;

/// The effect of one MySQL/MariaDB statement on `server`, or why it does not parse.
pub fn analyze_mysql(sql: &str, server: MysqlServer) -> Result<Effect, ParseError> {
    analyze_mysql_in(sql, server, None)
}

/// [`analyze_mysql`] for a session whose current database is `database`: a name qualified with
/// it is the bare name the live catalog gives the table.
pub fn analyze_mysql_in(sql: &str, server: MysqlServer, database: Option<&str>) -> Result<Effect, ParseError> {
    let opened = open_executable_comments(sql);
    let unqualified = match database {
        Some(database) => unqualify(&opened, database),
        None => std::borrow::Cow::Borrowed(opened.as_ref()),
    };
    analyze_mysql_text(&unqualified, server)
}

fn analyze_mysql_text(sql: &str, server: MysqlServer) -> Result<Effect, ParseError> {
    if let Some(read) = mysql_alter::read(sql) {
        return alter_read_here(read, server);
    }
    if let Some((readable, partitioned)) = mysql_alter::create_table(sql) {
        let mut effect = analyze_mysql_text(&readable, server)?;
        if let Action::CreateTable { partitioned: p, .. } = &mut effect.action {
            *p |= partitioned;
        }
        return Ok(effect);
    }
    if let Some(effect) = optimize_table(sql) {
        return Ok(effect);
    }
    // sqlparser reads no table charset options: they are read here.
    if let Some(mut effect) = table_options_alter(sql) {
        if let Some(ddl) = effect.mysql.as_mut() {
            ddl.instant_varchar_growth = server.mariadb && server.at_least(10, 4, 0);
        }
        return Ok(effect);
    }
    // `PREPARE s FROM @sql` runs nothing (the `EXECUTE` does, and is opaque); sqlparser reads
    // PostgreSQL's `PREPARE s AS` only.
    let first = cutover_migration::leading_keywords(sql, 1);
    if first.first().is_some_and(|w| w == "PREPARE" || w == "DEALLOCATE") {
        return Ok(other());
    }
    // sqlparser has no `CREATE FULLTEXT|SPATIAL INDEX`: parsed as a plain index, marked after.
    let words = cutover_migration::leading_keywords(sql, 2);
    let special = matches!(words.get(1).map(String::as_str), Some("FULLTEXT" | "SPATIAL")) && words[0] == "CREATE";
    let sql = mysql_compat(sql);
    let statement = if special {
        let at = sql.to_ascii_uppercase().find(words[1].as_str()).unwrap_or(0);
        parse_one(&format!("{}{}", &sql[..at], &sql[at + words[1].len()..]), &MySqlDialect {})?
    } else {
        match parse_one(&sql, &MySqlDialect {}) {
            Ok(statement) => statement,
            // A stored routine's body is MySQL's compound-statement language, which sqlparser
            // does not read. Creating one locks no table; what it does is its `CALL`'s.
            Err(_) if creates_a_stored_routine(&sql) => return Ok(other()),
            Err(err) => return Err(err),
        }
    };
    let mut effect = effect_of(&statement, Some(server));
    if let (true, Some(ddl)) = (special, effect.mysql.as_mut()) {
        ddl.concurrent_dml = false;
        if words[1] == "FULLTEXT" {
            if let Action::CreateIndex { name, columns, .. } = &effect.action {
                ddl.builds_fulltext =
                    vec![if name.is_empty() { columns.first().cloned().unwrap_or_default() } else { name.clone() }];
            }
        }
        ddl.reason = format!("a {} index blocks writes while it builds", words[1]);
    }
    if effect.mysql.is_none() {
        let ddl = is_ddl(&statement);
        let writes = matches!(statement, Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_));
        if ddl || writes {
            effect.mysql = Some(MysqlDdl { ddl, ..MysqlDdl::ddl(None, true, MysqlTouches::Rows) });
        }
    }
    Ok(effect)
}

/// The effect of an `ALTER TABLE` part of which [`mysql_alter`] read: what sqlparser makes of
/// the rest, with the clauses read there added.
fn alter_read_here(read: mysql_alter::ReadAlter, server: MysqlServer) -> Result<Effect, ParseError> {
    let mut effect = match &read.sql {
        Some(sql) => analyze_mysql_text(sql, server)?,
        None => {
            let table = read.table.split('.').map(|part| part.trim_matches('`')).collect::<Vec<_>>().join(".");
            let mut effect = Effect {
                action: Action::AlterTable { table: table.clone(), commands: Vec::new() },
                locks: vec![(table, LockMode::AccessExclusive)],
                ..other()
            };
            effect.mysql = Some(MysqlDdl::ddl(Some(Algorithm::Instant), true, MysqlTouches::Dictionary));
            effect
        }
    };
    let Some(ddl) = effect.mysql.as_mut() else { return Ok(effect) };
    for taken in read.taken {
        ddl.algorithm = ddl.algorithm.map(|a| a.max(taken.algorithm));
        ddl.touches = ddl.touches.max(taken.touches);
        if !taken.concurrent_dml {
            ddl.concurrent_dml = false;
            // The copy is not the column change's alone.
            ddl.copy_if_type_changes = false;
        }
        if ddl.reason.is_empty() {
            ddl.reason = taken.reason.to_string();
        }
        effect.rewrites |= taken.touches == MysqlTouches::Rows;
        effect.destructive |= taken.destroys;
        if taken.sets_engine.is_some() {
            ddl.sets_engine = taken.sets_engine;
        }
        if let Action::AlterTable { commands, .. } = &mut effect.action {
            commands.push(taken.command);
        }
    }
    if let Some(algorithm) = read.explicit_algorithm {
        ddl.explicit_algorithm = Some(algorithm);
    }
    if ddl.explicit_lock.is_none() {
        ddl.explicit_lock = read.explicit_lock;
    }
    if let (true, Action::AlterTable { commands, .. }) = (read.add_column_if_not_exists, &mut effect.action) {
        for command in commands {
            if let AlterCommand::AddColumn { if_not_exists, .. } = command {
                *if_not_exists = true;
            }
        }
    }
    Ok(effect)
}

/// `OPTIMIZE [NO_WRITE_TO_BINLOG | LOCAL] TABLE t [, t2 ...]`, which sqlparser does not read:
/// on InnoDB a recreate and analyze, `ALTER TABLE t FORCE` (a rebuild in place with writes
/// going on; observed on MariaDB 10.11: "doing recreate + analyze instead"), of each table.
fn optimize_table(sql: &str) -> Option<Effect> {
    let words = option_words(sql.trim().trim_end_matches(';'));
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    if upper.first().map(String::as_str) != Some("OPTIMIZE") {
        return None;
    }
    let at = upper.iter().position(|w| w == "TABLE" || w == "TABLES")? + 1;
    let tables: Vec<&String> = words.get(at..)?.iter().collect();
    let mut effect = table_options_alter(&format!("ALTER TABLE {} FORCE", tables.first()?))?;
    if let Action::AlterTable { table, .. } = &effect.action {
        // No `ALGORITHM=` to write: not an ALTER for the rules that advise one.
        effect.action = Action::RewriteTable { command: "OPTIMIZE TABLE", table: table.clone() };
    }
    for table in &tables[1..] {
        let table = table.split('.').map(|part| part.trim_matches('`')).collect::<Vec<_>>().join(".");
        effect.locks.push((table, LockMode::AccessExclusive));
    }
    Some(effect)
}

/// `sql` with MySQL's executable comments (`/*!50100 ... */`) and MariaDB's (`/*M!100500 ...
/// */`) opened: the server runs what they hold (any server this analysis judges is past their
/// version), so the analysis reads it too.
fn open_executable_comments(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains("/*!") && !sql.contains("/*M!") {
        return std::borrow::Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut at, mut copied) = (0, 0);
    let mut closes: Vec<usize> = Vec::new();
    while at < bytes.len() {
        match bytes[at] {
            b'\'' | b'"' | b'`' => {
                let quote = bytes[at];
                at += 1;
                while at < bytes.len() && bytes[at] != quote {
                    at += if bytes[at] == b'\\' && quote != b'`' { 2 } else { 1 };
                }
                at += 1;
            }
            b'/' if sql[at..].starts_with("/*!") || sql[at..].starts_with("/*M!") => {
                out.push_str(&sql[copied..at]);
                at += if bytes[at + 2] == b'M' { 4 } else { 3 };
                while at < bytes.len() && bytes[at].is_ascii_digit() {
                    at += 1;
                }
                out.push(' ');
                copied = at;
                if let Some(end) = sql[at..].find("*/") {
                    closes.push(at + end);
                }
            }
            b'*' if closes.first() == Some(&at) => {
                closes.remove(0);
                out.push_str(&sql[copied..at]);
                out.push(' ');
                at += 2;
                copied = at;
            }
            _ => at += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    std::borrow::Cow::Owned(out)
}

/// `sql` with names qualified by `database` (`` `shop`.`users` ``, `shop.users`) made bare,
/// outside quoted strings.
fn unqualify<'a>(sql: &'a str, database: &str) -> std::borrow::Cow<'a, str> {
    if !sql.contains(database) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let quoted = format!("`{}`.", database.replace('`', "``"));
    let bare = format!("{database}.");
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut at, mut copied) = (0, 0);
    while at < bytes.len() {
        let boundary =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || matches!(bytes[at - 1], b'_' | b'$' | b'.'));
        if boundary && (sql[at..].starts_with(&quoted) || sql[at..].starts_with(&bare)) {
            out.push_str(&sql[copied..at]);
            at += if sql[at..].starts_with(&quoted) { quoted.len() } else { bare.len() };
            copied = at;
            continue;
        }
        match bytes[at] {
            b'\'' | b'"' => {
                let quote = bytes[at];
                at += 1;
                while at < bytes.len() && bytes[at] != quote {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'`' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'`' {
                    at += 1;
                }
                at += 1;
            }
            _ => at += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    std::borrow::Cow::Owned(out)
}

/// Whether `sql` is `CREATE [DEFINER = user] PROCEDURE|FUNCTION|EVENT` (not a trigger: that
/// names its table).
fn creates_a_stored_routine(sql: &str) -> bool {
    if cutover_migration::leading_keywords(sql, 1).first().map(String::as_str) != Some("CREATE") {
        return false;
    }
    // The words up to the routine's name, past a `DEFINER = `user`@`host`` (which
    // `leading_keywords` stops at).
    let head = sql.get(..sql.find('(').unwrap_or(sql.len()).min(300)).unwrap_or(sql).to_ascii_uppercase();
    let words: Vec<&str> =
        head.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
    words.iter().any(|w| matches!(*w, "PROCEDURE" | "FUNCTION" | "EVENT"))
        && !words.iter().any(|w| matches!(*w, "TRIGGER" | "TABLE" | "VIEW" | "INDEX"))
}

/// `ALTER TABLE t` with table options only, which sqlparser does not read: `CONVERT TO
/// CHARACTER SET cs [COLLATE c]`, `[DEFAULT] CHARACTER SET|CHARSET|COLLATE [=] x`, `COMMENT
/// [=] '...'`, `ENGINE [=] e`, `FORCE`, `ROW_FORMAT [=] f`, `KEY_BLOCK_SIZE [=] n`, with
/// `ALGORITHM`/`LOCK`. What each costs, observed on MariaDB 10.11: converting the character set
/// copies the table and blocks writes (from latin1: INPLACE and LOCK=NONE refused; from utf8mb3
/// to utf8mb4 MariaDB 10.4+ works in place when no index covers the columns, which the analysis
/// cannot see); `FORCE`, `ROW_FORMAT`, `KEY_BLOCK_SIZE` and `ENGINE=InnoDB` rebuild in place
/// with writes going on; another engine copies; the default character set or collation and the
/// comment change the dictionary only. Mixed with other operations, the parser judges it.
fn table_options_alter(sql: &str) -> Option<Effect> {
    let words = option_words(sql.trim().trim_end_matches(';'));
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    if upper.len() < 4 || upper[0] != "ALTER" || upper[1] != "TABLE" {
        return None;
    }
    let table = words[2].split('.').map(|part| part.trim_matches('`')).collect::<Vec<_>>().join(".");
    let rest: Vec<&str> = upper[3..].iter().map(String::as_str).collect();
    let (mut algorithm, mut reason) = (Algorithm::Instant, String::new());
    let mut raise = |to: Algorithm, why: &str| {
        if to > algorithm {
            algorithm = to;
            reason = why.to_string();
        }
    };
    let mut idx = 0;
    let mut sets_engine = None;
    let mut converts: Option<(String, Option<String>)> = None;
    // The value after an option's name (and its `=`, dropped by `option_words`).
    let value = |idx: usize| rest.get(idx).copied();
    while idx < rest.len() {
        match rest[idx] {
            "CONVERT" if value(idx + 1) == Some("TO") => {
                // `CONVERT TO CHARACTER SET cs` or `CONVERT TO CHARSET cs`, then `COLLATE c`.
                let at = if value(idx + 2) == Some("CHARACTER") { idx + 4 } else { idx + 3 };
                let word = |at: usize| words.get(3 + at).map(|w| w.trim_matches(['`', '\'', '"']).to_ascii_lowercase());
                let collation = (value(at + 1) == Some("COLLATE")).then(|| word(at + 2)).flatten();
                converts = word(at).map(|charset| (charset, collation));
                idx += 2;
            }
            "DEFAULT" => idx += 1,
            "CHARACTER" if value(idx + 1) == Some("SET") => idx += 3,
            "CHARSET" | "COLLATE" | "COMMENT" => idx += 2,
            // The next value of the counter: the dictionary's (observed: INSTANT).
            "AUTO_INCREMENT" => idx += 2,
            "ALGORITHM" | "LOCK" => idx += 2,
            "FORCE" => {
                raise(Algorithm::Inplace, "FORCE rebuilds the table");
                idx += 1;
            }
            "ROW_FORMAT" | "KEY_BLOCK_SIZE" => {
                raise(Algorithm::Inplace, "a new row format rebuilds the table");
                idx += 2;
            }
            "ENGINE" => {
                sets_engine = words.get(3 + idx + 1).map(|e| e.trim_matches(['`', '\'', '"']).to_string());
                match value(idx + 1) {
                    Some("INNODB" | "'INNODB'" | "`INNODB`") => {
                        raise(Algorithm::Inplace, "ENGINE=InnoDB rebuilds the table")
                    }
                    _ => raise(Algorithm::Copy, "another storage engine copies the table and writes wait"),
                }
                idx += 2;
            }
            _ => return None,
        }
    }
    if idx != rest.len() {
        return None;
    }
    // Without the table's character set known, a conversion copies (the schema model may know
    // better: `converts_to`).
    let converts_to = converts.map(|(charset, collation)| ConvertTo { charset, collation, others: algorithm });
    if converts_to.is_some() {
        algorithm = Algorithm::Copy;
        reason = "CONVERT TO CHARACTER SET rewrites every text column: the table is copied and writes wait".to_string();
    }
    let explicit = |key: &str| rest.iter().position(|w| *w == key).and_then(|i| rest.get(i + 1)).map(|w| w.to_string());
    let rebuilds = algorithm != Algorithm::Instant;
    let mut effect = Effect {
        action: Action::AlterTable { table: table.clone(), commands: vec![AlterCommand::Other] },
        locks: vec![(table, LockMode::AccessExclusive)],
        rewrites: rebuilds,
        ..other()
    };
    effect.mysql = Some(MysqlDdl {
        explicit_algorithm: explicit("ALGORITHM"),
        explicit_lock: explicit("LOCK"),
        reason,
        sets_engine,
        converts_to,
        ..MysqlDdl::ddl(
            Some(algorithm),
            algorithm != Algorithm::Copy,
            if rebuilds { MysqlTouches::Rows } else { MysqlTouches::Dictionary },
        )
    });
    Some(effect)
}

/// The words of a statement split at white space, commas and `=`, a quoted string (`'a, b'`,
/// doubled quotes inside) kept whole.
fn option_words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                word.push(c);
                while let Some(q) = chars.next() {
                    word.push(q);
                    if q == '\'' {
                        if chars.peek() == Some(&'\'') {
                            word.push(chars.next().unwrap_or('\''));
                        } else {
                            break;
                        }
                    }
                }
            }
            c if c.is_whitespace() || c == ',' || c == '=' => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The effect of one SQLite statement, or why it does not parse.
pub fn analyze_sqlite(sql: &str) -> Result<Effect, ParseError> {
    // `PRAGMA foreign_keys = off`: sqlparser wants a quoted or numeric value.
    let statement = match parse_one(sql, &SQLiteDialect {}) {
        Err(err) if cutover_migration::leading_keywords(sql, 1).first().is_some_and(|w| w == "PRAGMA") => {
            let quoted = sql.split_once('=').map(|(name, value)| {
                let value = value.trim().trim_end_matches(';').trim();
                format!("{name}= '{}'", value.trim_matches('\''))
            });
            match quoted {
                Some(quoted) => parse_one(&quoted, &SQLiteDialect {}).map_err(|_| err)?,
                None => return Err(err),
            }
        }
        // A virtual table's module arguments are the module's to read (FTS5's
        // `tokenize="unicode61 remove_diacritics 2"`); creating one locks no existing table.
        Err(_) if cutover_migration::leading_keywords(sql, 2).get(1).is_some_and(|w| w == "VIRTUAL") => {
            return Ok(other());
        }
        // SQLite's type names are any words (`BIGINT AUTO_INCREMENT` is a type, as Temporal's
        // schema writes it); sqlparser reads `AUTO_INCREMENT` as MySQL's attribute and stops
        // at what follows. The words add nothing to what the analysis reads.
        Err(err) if sql.to_ascii_uppercase().contains("AUTO_INCREMENT") => {
            let typed = remove_word(sql, "AUTO_INCREMENT");
            parse_one(&typed, &SQLiteDialect {}).map_err(|_| err)?
        }
        other => other?,
    };
    let mut effect = effect_of(&statement, None);
    if let Statement::AlterTable(alter) = &statement {
        let unsupported: Vec<&str> = alter
            .operations
            .iter()
            .filter_map(|op| match op {
                AlterTableOperation::AddColumn { column_def, .. } if has_key(column_def) => {
                    Some("ADD COLUMN with PRIMARY KEY or UNIQUE")
                }
                AlterTableOperation::AddColumn { .. }
                | AlterTableOperation::DropColumn { .. }
                | AlterTableOperation::RenameColumn { .. }
                | AlterTableOperation::RenameTable { .. } => None,
                AlterTableOperation::AlterColumn { op, .. } => Some(match op {
                    AlterColumnOperation::SetNotNull => "ALTER COLUMN ... SET NOT NULL",
                    AlterColumnOperation::DropNotNull => "ALTER COLUMN ... DROP NOT NULL",
                    AlterColumnOperation::SetDefault { .. } => "ALTER COLUMN ... SET DEFAULT",
                    AlterColumnOperation::DropDefault => "ALTER COLUMN ... DROP DEFAULT",
                    AlterColumnOperation::SetDataType { .. } => "ALTER COLUMN ... TYPE",
                    _ => "ALTER COLUMN",
                }),
                AlterTableOperation::AddConstraint { .. } => Some("ADD CONSTRAINT"),
                AlterTableOperation::DropConstraint { .. } => Some("DROP CONSTRAINT"),
                _ => Some("this ALTER TABLE form"),
            })
            .collect();
        if !unsupported.is_empty() {
            effect.unsupported = Some(unsupported.join(", "));
        }
    }
    sqlite_locks(&mut effect);
    Ok(effect)
}

/// `sql` without the whole word `word` (any case) where it stands outside quotes.
fn remove_word(sql: &str, word: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '\'' | '"' | '`' | '[') => quote = Some(if c == '[' { ']' } else { c }),
            None => {
                let boundary_before = !out.chars().last().is_some_and(|p| p.is_ascii_alphanumeric() || p == '_');
                let matches_word = rest.get(..word.len()).is_some_and(|w| w.eq_ignore_ascii_case(word));
                let boundary_after =
                    !rest[word.len().min(rest.len())..].starts_with(|n: char| n.is_ascii_alphanumeric() || n == '_');
                if boundary_before && matches_word && boundary_after {
                    rest = &rest[word.len()..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// SQLite has one writer at a time: a statement that writes, data or schema, holds the
/// database's write lock until its transaction commits. Readers go on (WAL mode), writers wait,
/// which is PostgreSQL's EXCLUSIVE mode on every table it names. An index build reads the
/// whole table, and `DROP COLUMN` rewrites it.
fn sqlite_locks(effect: &mut Effect) {
    for (_, mode) in &mut effect.locks {
        if *mode > LockMode::AccessShare {
            *mode = LockMode::Exclusive;
        }
    }
    match &effect.action {
        Action::CreateIndex { .. } => effect.scans = true,
        Action::AlterTable { commands, .. }
            if commands.iter().any(|c| matches!(c, AlterCommand::DropColumn { .. })) =>
        {
            effect.rewrites = true;
        }
        _ => {}
    }
}

/// MySQL syntax that sqlparser does not read, rewritten to an equivalent it does, where the
/// difference does not matter to the analysis: `RENAME new_name` (the `TO` is optional in MySQL)
/// and the `BINARY` attribute after a string type (`VARCHAR(255) BINARY`, a collation).
fn mysql_compat(sql: &str) -> std::borrow::Cow<'_, str> {
    let upper = sql.to_ascii_uppercase();
    if !upper.contains("RENAME") && !upper.contains("BINARY") {
        return std::borrow::Cow::Borrowed(sql);
    }
    let words: Vec<&str> = sql.split_inclusive(char::is_whitespace).collect();
    let mut out = String::with_capacity(sql.len() + 4);
    for (idx, word) in words.iter().enumerate() {
        let bare = word.trim().trim_end_matches([';', ',']);
        let previous = idx.checked_sub(1).map(|i| words[i].trim());
        if bare.eq_ignore_ascii_case("BINARY")
            && previous.is_some_and(|p| p.ends_with(')') || p.eq_ignore_ascii_case("TEXT"))
        {
            // Keep what follows the word (`;`, `,`, whitespace).
            out.push_str(&word[word.to_ascii_uppercase().find("BINARY").map_or(0, |i| i + 6)..]);
            continue;
        }
        out.push_str(word);
        let next = words.get(idx + 1).map(|w| w.trim().to_ascii_uppercase());
        if bare.eq_ignore_ascii_case("RENAME")
            && !next.as_deref().is_some_and(|n| matches!(n, "TO" | "AS" | "COLUMN" | "INDEX" | "KEY" | "TABLE" | ""))
            && next.is_some()
        {
            out.push_str("TO ");
        }
    }
    std::borrow::Cow::Owned(out)
}

fn parse_one(sql: &str, dialect: &dyn sqlparser::dialect::Dialect) -> Result<Statement, ParseError> {
    let mut statements = Parser::parse_sql(dialect, sql).map_err(|err| ParseError {
        message: err.to_string().trim_start_matches("sql parser error: ").to_string(),
        position: None,
    })?;
    if statements.is_empty() {
        return Err(ParseError { message: "no statement".to_string(), position: None });
    }
    Ok(statements.swap_remove(0))
}

/// A name as the analysis writes it: its parts, unquoted, joined by dots.
fn name(object: &ObjectName) -> String {
    object
        .0
        .iter()
        .map(|part| part.as_ident().map_or_else(|| part.to_string(), |ident| ident.value.clone()))
        .collect::<Vec<_>>()
        .join(".")
}

fn has_key(column: &ColumnDef) -> bool {
    column.options.iter().any(|o| matches!(o.option, ColumnOption::PrimaryKey(_) | ColumnOption::Unique(_)))
}

fn is_ddl(statement: &Statement) -> bool {
    !matches!(
        statement,
        Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Query(_)
            | Statement::Set(_)
            | Statement::Call(_)
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
    )
}

fn column_info(column: &ColumnDef) -> ColumnInfo {
    let mut type_text = column.data_type.to_string().to_ascii_lowercase();
    // A column's own character set is part of its type, as the live catalog writes it.
    for option in &column.options {
        if let ColumnOption::CharacterSet(charset) = &option.option {
            type_text = format!("{type_text} character set {}", name(charset).to_ascii_lowercase());
        }
    }
    let base = type_text.split(['(', ' ']).next().unwrap_or_default().to_string();
    let column_type = mysql_column_type(&type_text);
    ColumnInfo {
        name: column.name.value.clone(),
        type_name: base,
        column_type,
        identity: auto_increment(column),
        not_null: not_null(column),
    }
}

/// A MySQL/MariaDB column type as written in a migration or as `information_schema.COLUMNS`
/// prints it (`int(11) unsigned`, `varchar(100)`, `enum('a','b')`), as the analysis compares
/// types: what follows the parentheses is part of the name (`int unsigned` is not `int`), an
/// integer's display width is not part of the type (MariaDB prints `int(11)` for `int`), and
/// an `ENUM` or `SET` is its whole list (any change of the values is a change of type).
pub fn mysql_column_type(text: &str) -> ColumnType {
    let text = text.trim().to_ascii_lowercase();
    let base = text.split(['(', ' ']).next().unwrap_or_default();
    if matches!(base, "enum" | "set") {
        return ColumnType {
            name: text.split_whitespace().collect::<Vec<_>>().join(" "),
            modifiers: Vec::new(),
            array: false,
        };
    }
    let (name, mut modifiers) = match (text.find('('), text.find(')')) {
        (Some(open), Some(close)) if close > open => {
            let rest = text[close + 1..].trim();
            let name = if rest.is_empty() { base.to_string() } else { format!("{base} {rest}") };
            (name, text[open + 1..close].split(',').filter_map(|m| m.trim().parse().ok()).collect())
        }
        _ => (text.split_whitespace().collect::<Vec<_>>().join(" "), Vec::new()),
    };
    if matches!(base, "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint") {
        modifiers.clear();
    }
    let name = name.replacen("integer", "int", 1);
    ColumnType { name, modifiers, array: false }
}

fn auto_increment(column: &ColumnDef) -> bool {
    column.options.iter().any(|o| match &o.option {
        ColumnOption::DialectSpecific(tokens) => tokens.iter().any(|t| {
            t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT") || t.to_string().eq_ignore_ascii_case("AUTOINCREMENT")
        }),
        _ => false,
    })
}

fn stored_generated(column: &ColumnDef) -> bool {
    column.options.iter().any(|o| {
        matches!(&o.option, ColumnOption::Generated { generation_expr_mode: Some(GeneratedExpressionMode::Stored), .. })
    })
}

fn not_null(column: &ColumnDef) -> bool {
    column.options.iter().any(|o| matches!(o.option, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)))
}

fn has_default(column: &ColumnDef) -> bool {
    column.options.iter().any(|o| matches!(o.option, ColumnOption::Default(_)))
}

fn effect_of(statement: &Statement, server: Option<MysqlServer>) -> Effect {
    let mut effect = other();
    match statement {
        Statement::CreateTable(create) => {
            let table = name(&create.name);
            let columns: Vec<ColumnInfo> = create.columns.iter().map(column_info).collect();
            let mut primary_key: Vec<String> = create
                .columns
                .iter()
                .filter(|c| c.options.iter().any(|o| matches!(o.option, ColumnOption::PrimaryKey(_))))
                .map(|c| c.name.value.clone())
                .collect();
            let mut unique_keys: Vec<Vec<String>> = primary_key.iter().map(|c| vec![c.clone()]).collect();
            let mut foreign_keys = Vec::new();
            for constraint in &create.constraints {
                match constraint {
                    TableConstraint::PrimaryKey(pk) => {
                        let cols: Vec<String> =
                            pk.columns.iter().map(|c| c.to_string().trim_matches('`').to_string()).collect();
                        primary_key.extend(cols.clone());
                        unique_keys.push(cols);
                    }
                    TableConstraint::Unique(u) => {
                        unique_keys
                            .push(u.columns.iter().map(|c| c.to_string().trim_matches('`').to_string()).collect());
                    }
                    TableConstraint::Index(i) => {
                        unique_keys
                            .push(i.columns.iter().map(|c| c.to_string().trim_matches('`').to_string()).collect());
                    }
                    TableConstraint::ForeignKey(fk) => foreign_keys.push(ForeignKey {
                        name: fk.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
                        columns: fk.columns.iter().map(|c| c.value.clone()).collect(),
                        referenced_table: name(&fk.foreign_table),
                        referenced_columns: fk.referred_columns.iter().map(|c| c.value.clone()).collect(),
                    }),
                    _ => {}
                }
            }
            effect.idempotent = Some(create.if_not_exists);
            effect.action = Action::CreateTable {
                table,
                columns,
                primary_key,
                unique_keys,
                foreign_keys,
                partitioned: false,
                partition_key: Vec::new(),
                partition_of: None,
                temporary: create.temporary,
                storage: Box::new(TableStorage {
                    engine: table_option(&create.table_options, "ENGINE"),
                    like: create.like.as_ref().map(|like| match like {
                        sqlparser::ast::CreateTableLikeKind::Parenthesized(like)
                        | sqlparser::ast::CreateTableLikeKind::Plain(like) => name(&like.name),
                    }),
                    charset: table_option(&create.table_options, "CHARSET").map(|c| c.to_ascii_lowercase()),
                    collation: table_option(&create.table_options, "COLLATE").map(|c| c.to_ascii_lowercase()),
                    row_format: table_option(&create.table_options, "ROW_FORMAT").map(|c| c.to_ascii_lowercase()),
                    fulltext_indexes: create
                        .constraints
                        .iter()
                        .filter_map(|c| match c {
                            TableConstraint::FulltextOrSpatial(index) if index.fulltext => {
                                Some(fulltext_name(index.opt_index_name.as_ref(), &index.columns))
                            }
                            _ => None,
                        })
                        .collect(),
                }),
            };
        }
        Statement::CreateIndex(index) => {
            let table = name(&index.table_name);
            effect.locks.push((table.clone(), LockMode::ShareUpdateExclusive));
            effect.idempotent = Some(index.if_not_exists);
            effect.action = Action::CreateIndex {
                name: index.name.as_ref().map(name).unwrap_or_default(),
                table,
                columns: index.columns.iter().map(|c| c.to_string().trim_matches('`').to_string()).collect(),
                concurrently: true,
                only: false,
                partial: index.predicate.is_some(),
                // The columns are as written, expressions included: not read as a key here.
                unique: false,
            };
            effect.mysql = server.map(|_| MysqlDdl::ddl(Some(Algorithm::Inplace), true, MysqlTouches::Indexes));
        }
        Statement::AlterTable(alter) => {
            let table = name(&alter.name);
            let mut commands = Vec::new();
            for op in &alter.operations {
                commands.push(match op {
                    AlterTableOperation::AddColumn { column_def, if_not_exists, .. } => AlterCommand::AddColumn {
                        column: column_def.name.value.clone(),
                        column_type: column_info(column_def).column_type,
                        not_null: not_null(column_def),
                        default: has_default(column_def).then_some(crate::DefaultValue::Constant),
                        filled_per_row: if auto_increment(column_def) {
                            Some("auto-increment")
                        } else if stored_generated(column_def) {
                            Some("stored generated")
                        } else {
                            None
                        },
                        references: None,
                        if_not_exists: *if_not_exists,
                    },
                    // MySQL accepts CASCADE and does nothing with it; SQLite has no such word.
                    AlterTableOperation::DropColumn { column_names, .. } => AlterCommand::DropColumn {
                        column: column_names.first().map(|c| c.value.clone()).unwrap_or_default(),
                        cascade: false,
                    },
                    AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::SetNotNull } => {
                        AlterCommand::SetNotNull { column: column_name.value.clone() }
                    }
                    AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::DropNotNull } => {
                        AlterCommand::DropNotNull { column: column_name.value.clone() }
                    }
                    AlterTableOperation::AlterColumn { column_name, op: AlterColumnOperation::DropDefault } => {
                        AlterCommand::DropDefault { column: column_name.value.clone() }
                    }
                    AlterTableOperation::DropConstraint { name, .. }
                    | AlterTableOperation::DropForeignKey { name, .. } => {
                        AlterCommand::DropConstraint { name: name.value.clone() }
                    }
                    // The new type is compared with the column as it was: `CHANGE` names it first.
                    AlterTableOperation::ModifyColumn { col_name: column, data_type, .. }
                    | AlterTableOperation::ChangeColumn { old_name: column, data_type, .. } => {
                        AlterCommand::AlterColumnType {
                            column: column.value.clone(),
                            new_type: column_info(&ColumnDef {
                                name: column.clone(),
                                data_type: data_type.clone(),
                                options: Vec::new(),
                            })
                            .column_type,
                            using: false,
                        }
                    }
                    _ => AlterCommand::Other,
                });
            }
            for op in &alter.operations {
                match op {
                    AlterTableOperation::RenameColumn { .. } => effect.backward_incompatible = true,
                    AlterTableOperation::DropColumn { .. } => {
                        effect.destructive = true;
                        effect.backward_incompatible = true;
                    }
                    _ => {}
                }
            }
            effect.locks.push((table.clone(), LockMode::AccessExclusive));
            effect.mysql = server.map(|server| alter_cost(&alter.operations, server));
            if let Some(ddl) = effect.mysql.as_mut() {
                // A lone `RENAME COLUMN` is the statement's action (below); beside other
                // changes, it is one of these.
                let lone = alter.operations.len() == 1;
                ddl.renamed_columns = alter
                    .operations
                    .iter()
                    .filter_map(|op| match op {
                        AlterTableOperation::ChangeColumn { old_name, new_name, .. }
                            if !old_name.value.eq_ignore_ascii_case(&new_name.value) =>
                        {
                            Some((old_name.value.clone(), new_name.value.clone()))
                        }
                        AlterTableOperation::RenameColumn { old_column_name, new_column_name } if !lone => {
                            Some((old_column_name.value.clone(), new_column_name.value.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                if !ddl.renamed_columns.is_empty() {
                    effect.backward_incompatible = true;
                }
            }
            // A rename is its own action for the rules; the rest is an ALTER.
            if let [AlterTableOperation::RenameColumn { old_column_name, new_column_name }] =
                alter.operations.as_slice()
            {
                effect.action = Action::Rename {
                    object: "column",
                    table: table.clone(),
                    name: format!("{table}.{}", old_column_name.value),
                    new_name: new_column_name.value.clone(),
                };
            } else if let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice() {
                let new = match table_name {
                    sqlparser::ast::RenameTableNameKind::As(n) | sqlparser::ast::RenameTableNameKind::To(n) => name(n),
                };
                effect.backward_incompatible = true;
                effect.action = Action::Rename { object: "table", table: table.clone(), name: table, new_name: new };
            } else {
                effect.action = Action::AlterTable { table, commands };
            }
        }
        Statement::RenameTable(renames) => {
            if let Some(first) = renames.first() {
                let table = name(&first.old_name);
                effect.locks.push((table.clone(), LockMode::AccessExclusive));
                // Every table of the statement is locked (and renamed) with the first.
                for rename in &renames[1..] {
                    let other = name(&rename.old_name);
                    if !effect.locks.iter().any(|(locked, _)| *locked == other) {
                        effect.locks.push((other, LockMode::AccessExclusive));
                    }
                }
                effect.backward_incompatible = true;
                effect.action = Action::Rename {
                    object: "table",
                    table: table.clone(),
                    name: table,
                    new_name: name(&first.new_name),
                };
                effect.mysql = server.map(|_| MysqlDdl::ddl(Some(Algorithm::Instant), true, MysqlTouches::Dictionary));
            }
        }
        Statement::Drop { object_type, if_exists, names, table: on, .. } => {
            let names: Vec<String> = names.iter().map(name).collect();
            effect.idempotent = Some(*if_exists);
            match object_type {
                ObjectType::Table => {
                    effect.locks = names.iter().map(|n| (n.clone(), LockMode::AccessExclusive)).collect();
                    effect.destructive = true;
                    effect.backward_incompatible = true;
                    // MySQL accepts CASCADE and does nothing with it; SQLite has no such word.
                    effect.action = Action::DropTable { tables: names, cascade: false };
                }
                ObjectType::Index => {
                    // MySQL's `DROP INDEX i ON t` names its table: a brief exclusive metadata lock
                    // there, the index dropped in place.
                    if let (Some(table), Some(_)) = (on, server) {
                        let table = name(table);
                        effect.locks.push((table.clone(), LockMode::ShareUpdateExclusive));
                        effect.mysql = Some(MysqlDdl {
                            drops_indexes: names.clone(),
                            ..MysqlDdl::ddl(Some(Algorithm::Inplace), true, MysqlTouches::Indexes)
                        });
                    }
                    effect.action = Action::DropIndex { names, concurrently: true };
                }
                ObjectType::View | ObjectType::MaterializedView => {
                    // A brief exclusive metadata lock on each; what reads them breaks.
                    effect.locks = names.iter().map(|n| (n.clone(), LockMode::AccessExclusive)).collect();
                    effect.destructive = true;
                    effect.backward_incompatible = true;
                    effect.action = Action::DropView { views: names };
                }
                _ => {}
            }
        }
        Statement::Truncate(truncate) => {
            let tables: Vec<String> = truncate.table_names.iter().map(|t| name(&t.name)).collect();
            effect.locks = tables.iter().map(|t| (t.clone(), LockMode::AccessExclusive)).collect();
            effect.destructive = true;
            effect.action = Action::Truncate { tables };
        }
        Statement::Update(update) => {
            if let TableFactor::Table { name: table, .. } = &update.table.relation {
                let table = name(table);
                effect.locks.push((table.clone(), LockMode::RowExclusive));
                effect.rows = vec![write_access(&table, update.selection.is_some())];
                effect.action = Action::WriteRows { command: "UPDATE", table };
            }
        }
        // A prepared statement's or a procedure's SQL is not in the file.
        Statement::Execute { .. } => effect.action = Action::Opaque { what: "EXECUTE".to_string() },
        Statement::Call(_) => effect.action = Action::Opaque { what: "CALL".to_string() },
        Statement::Delete(delete) => {
            let from = match &delete.from {
                FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => tables,
            };
            if let Some(TableFactor::Table { name: table, .. }) = from.first().map(|t| &t.relation) {
                let table = name(table);
                effect.locks.push((table.clone(), LockMode::RowExclusive));
                effect.destructive = true;
                effect.rows = vec![write_access(&table, delete.selection.is_some())];
                effect.action = Action::WriteRows { command: "DELETE", table };
            }
        }
        _ => {}
    }
    effect
}

/// The rows an `UPDATE` or `DELETE` of `table` writes: all, or those a condition selects (not
/// read here: it may reach every row).
fn write_access(table: &str, filtered: bool) -> RowAccess {
    let rows = if filtered { RowScope::Where(vec![Vec::new()]) } else { RowScope::All };
    RowAccess { table: table.to_string(), write: true, rows }
}

/// The algorithm and concurrency of an `ALTER TABLE` on `server`: the most expensive of its
/// operations. From the online DDL tables of MySQL 8.0 and MariaDB 10.x.
fn alter_cost(operations: &[AlterTableOperation], server: MysqlServer) -> MysqlDdl {
    let instant_add_anywhere = if server.mariadb { server.at_least(10, 4, 0) } else { server.at_least(8, 0, 29) };
    let instant_add_at_end = if server.mariadb { server.at_least(10, 3, 2) } else { server.at_least(8, 0, 12) };
    let instant_drop = instant_add_anywhere;
    let instant_rename = if server.mariadb { server.at_least(10, 4, 0) } else { server.at_least(8, 0, 28) };
    let instant_varchar_growth = server.mariadb && server.at_least(10, 4, 0);
    let mut cost =
        MysqlDdl { instant_varchar_growth, ..MysqlDdl::ddl(Some(Algorithm::Instant), true, MysqlTouches::Dictionary) };
    let mut other_copy = false;
    let mut column_change = false;
    let adds_primary_key = operations
        .iter()
        .any(|op| matches!(op, AlterTableOperation::AddConstraint { constraint: TableConstraint::PrimaryKey(_), .. }));
    let raise = |cost: &mut MysqlDdl, algorithm: Option<Algorithm>, concurrent: bool, reason: &str| {
        cost.algorithm = match (cost.algorithm, algorithm) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        if !concurrent {
            cost.concurrent_dml = false;
        }
        if (algorithm == Some(Algorithm::Copy) || !concurrent) && cost.reason.is_empty() {
            cost.reason = reason.to_string();
        }
    };
    for op in operations {
        cost.touches = cost.touches.max(touches(op));
        if let AlterTableOperation::AddConstraint { constraint: TableConstraint::FulltextOrSpatial(index), .. } = op {
            if index.fulltext {
                cost.builds_fulltext.push(fulltext_name(index.opt_index_name.as_ref(), &index.columns));
            }
        }
        if let AlterTableOperation::DropIndex { name } = op {
            cost.drops_indexes.push(name.value.clone());
        }
        match op {
            AlterTableOperation::AddColumn { column_def, column_position, .. } => {
                if auto_increment(column_def) {
                    // Checked on MariaDB 10.11: in place, but LOCK=NONE is refused.
                    raise(
                        &mut cost,
                        Some(Algorithm::Inplace),
                        false,
                        "an AUTO_INCREMENT column rebuilds the table without concurrent writes",
                    );
                } else if stored_generated(column_def) {
                    raise(
                        &mut cost,
                        Some(Algorithm::Copy),
                        false,
                        "a STORED generated column is added by copying the table",
                    );
                } else if instant_add_anywhere || (instant_add_at_end && column_position.is_none()) {
                    raise(&mut cost, Some(Algorithm::Instant), true, "");
                } else {
                    raise(&mut cost, Some(Algorithm::Inplace), true, "");
                }
            }
            AlterTableOperation::DropColumn { .. } => {
                let algorithm = if instant_drop { Algorithm::Instant } else { Algorithm::Inplace };
                raise(&mut cost, Some(algorithm), true, "");
            }
            AlterTableOperation::RenameColumn { .. } => {
                let algorithm = if instant_rename { Algorithm::Instant } else { Algorithm::Inplace };
                raise(&mut cost, Some(algorithm), true, "");
            }
            AlterTableOperation::ChangeColumn { options, old_name: column, .. }
            | AlterTableOperation::ModifyColumn { options, col_name: column, .. } => {
                column_change = true;
                let says_not_null =
                    options.iter().any(|o| matches!(o, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
                cost.modified_not_null.push((column.value.clone(), says_not_null));
                if options.iter().any(|o| matches!(o, ColumnOption::Collation(_))) {
                    cost.collated_columns.push(column.value.clone());
                }
                // A character set written, or AUTO_INCREMENT added, copies the table whatever the
                // type was (checked on MariaDB 10.11: "Cannot change column type").
                let converts = options.iter().any(|o| match o {
                    ColumnOption::CharacterSet(_) => true,
                    ColumnOption::DialectSpecific(tokens) => {
                        tokens.iter().any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT"))
                    }
                    _ => false,
                });
                other_copy |= converts;
                raise(
                    &mut cost,
                    Some(Algorithm::Copy),
                    false,
                    "CHANGE/MODIFY COLUMN with a new type copies the table (only a rename, a default or a longer VARCHAR within the same length byte is in place)",
                )
            }
            AlterTableOperation::AlterColumn { op, .. } => match op {
                AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::DropDefault => {
                    raise(&mut cost, Some(Algorithm::Instant), true, "")
                }
                AlterColumnOperation::SetDataType { .. } => {
                    raise(&mut cost, Some(Algorithm::Copy), false, "changing a column's type copies the table")
                }
                _ => raise(&mut cost, Some(Algorithm::Inplace), true, ""),
            },
            AlterTableOperation::AddConstraint { constraint, .. } => match constraint {
                TableConstraint::ForeignKey(_) => {
                    cost.adds_foreign_key = true;
                    raise(
                        &mut cost,
                        Some(Algorithm::Copy),
                        false,
                        "a FOREIGN KEY is added by copying the table unless foreign_key_checks is off",
                    )
                }
                TableConstraint::Check(_) => {
                    raise(&mut cost, Some(Algorithm::Copy), false, "a CHECK constraint is added by copying the table")
                }
                // Checked on MariaDB 10.11: in place, but `LOCK=NONE` is refused for both.
                TableConstraint::FulltextOrSpatial(index) => raise(
                    &mut cost,
                    Some(Algorithm::Inplace),
                    false,
                    if index.fulltext {
                        "a FULLTEXT index blocks writes while it builds"
                    } else {
                        "a SPATIAL index blocks writes while it builds"
                    },
                ),
                _ => raise(&mut cost, Some(Algorithm::Inplace), true, ""),
            },
            // A new primary key in the same statement: rebuilt in place, writes going on
            // (observed on MariaDB 10.11, found by the tester).
            AlterTableOperation::DropPrimaryKey { .. } if adds_primary_key => {
                raise(&mut cost, Some(Algorithm::Inplace), true, "")
            }
            AlterTableOperation::DropPrimaryKey { .. } => {
                raise(&mut cost, Some(Algorithm::Copy), false, "dropping the primary key copies the table")
            }
            // Observed on MariaDB 10.11: a foreign key goes instantly (its index stays).
            AlterTableOperation::DropForeignKey { .. } if instant_drop && server.mariadb => {
                raise(&mut cost, Some(Algorithm::Instant), true, "")
            }
            AlterTableOperation::DropIndex { .. }
            | AlterTableOperation::DropForeignKey { .. }
            | AlterTableOperation::DropConstraint { .. } => raise(&mut cost, Some(Algorithm::Inplace), true, ""),
            // A new name in the dictionary (observed: INSTANT, under a brief exclusive lock).
            AlterTableOperation::RenameTable { .. } => raise(&mut cost, Some(Algorithm::Instant), true, ""),
            AlterTableOperation::Algorithm { algorithm, .. } => {
                cost.explicit_algorithm = Some(
                    match algorithm {
                        AlterTableAlgorithm::Default => "DEFAULT",
                        AlterTableAlgorithm::Instant => "INSTANT",
                        AlterTableAlgorithm::Inplace => "INPLACE",
                        AlterTableAlgorithm::Copy => "COPY",
                    }
                    .to_string(),
                );
            }
            AlterTableOperation::Lock { lock, .. } => {
                cost.explicit_lock = Some(
                    match lock {
                        AlterTableLock::Default => "DEFAULT",
                        AlterTableLock::None => "NONE",
                        AlterTableLock::Shared => "SHARED",
                        AlterTableLock::Exclusive => "EXCLUSIVE",
                    }
                    .to_string(),
                );
            }
            // Table options, partitioning, conversions: not in the tables cutover knows.
            _ => raise(&mut cost, None, true, ""),
        }
    }
    // Was the COPY due to a column change alone? Every other operation's cost, on its own:
    if column_change {
        let mut others = Algorithm::Instant;
        for op in operations {
            if matches!(op, AlterTableOperation::ChangeColumn { .. } | AlterTableOperation::ModifyColumn { .. }) {
                continue;
            }
            let alone = alter_cost(std::slice::from_ref(op), server);
            other_copy |= alone.algorithm == Some(Algorithm::Copy) || !alone.concurrent_dml;
            others = others.max(alone.algorithm.unwrap_or(Algorithm::Copy));
        }
        cost.algorithm_without_column_changes = Some(others);
    }
    cost.copy_if_type_changes = column_change && !other_copy;
    if cost.explicit_algorithm.as_deref() == Some("COPY") {
        cost.copy_if_type_changes = false;
        cost.algorithm = Some(Algorithm::Copy);
        cost.concurrent_dml = false;
        cost.reason = "ALGORITHM=COPY asks for a copy".to_string();
    }
    if matches!(cost.explicit_lock.as_deref(), Some("SHARED" | "EXCLUSIVE")) {
        cost.concurrent_dml = false;
        if cost.reason.is_empty() {
            cost.reason = format!("LOCK={} blocks writes", cost.explicit_lock.as_deref().unwrap_or_default());
        }
    }
    cost
}

/// A `CREATE TABLE` option's value, as written (`ENGINE=MyISAM`: `MyISAM`), when written:
/// `ENGINE`, `CHARSET` (also `[DEFAULT] CHARACTER SET`), `COLLATE`.
fn table_option(options: &sqlparser::ast::CreateTableOptions, wanted: &str) -> Option<String> {
    use sqlparser::ast::CreateTableOptions;
    let (CreateTableOptions::Plain(options) | CreateTableOptions::With(options)) = options else { return None };
    options.iter().find_map(|option| {
        let text = option.to_string();
        let (key, value) = text.split_once('=').or_else(|| text.rsplit_once(' '))?;
        let key = key.trim().to_ascii_uppercase();
        let key = key.strip_prefix("DEFAULT ").unwrap_or(&key).trim();
        let key = if key == "CHARACTER SET" { "CHARSET" } else { key };
        key.eq(wanted).then(|| value.trim().trim_matches(['`', '\'', '"']).to_string())
    })
}

/// A FULLTEXT index's name: as written, or MariaDB's for a nameless one (its first column's).
fn fulltext_name<C: std::fmt::Display>(name: Option<&sqlparser::ast::Ident>, columns: &[C]) -> String {
    match name {
        Some(name) => name.value.clone(),
        None => columns.first().map(|c| c.to_string().trim_matches('`').to_string()).unwrap_or_default(),
    }
}

/// How deep one `ALTER TABLE` operation reaches into its table.
fn touches(op: &AlterTableOperation) -> MysqlTouches {
    match op {
        AlterTableOperation::RenameColumn { .. }
        | AlterTableOperation::RenameTable { .. }
        | AlterTableOperation::Algorithm { .. }
        | AlterTableOperation::Lock { .. }
        | AlterTableOperation::AlterColumn {
            op: AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::DropDefault,
            ..
        } => MysqlTouches::Dictionary,
        AlterTableOperation::AddConstraint {
            constraint:
                TableConstraint::Unique(_)
                | TableConstraint::Index(_)
                | TableConstraint::FulltextOrSpatial(_)
                | TableConstraint::ForeignKey(_),
            ..
        }
        | AlterTableOperation::DropIndex { .. }
        | AlterTableOperation::DropForeignKey { .. }
        | AlterTableOperation::DropConstraint { .. } => MysqlTouches::Indexes,
        _ => MysqlTouches::Rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql(sql: &str, server: &str) -> MysqlDdl {
        analyze_mysql(sql, server.parse().unwrap()).unwrap().mysql.unwrap()
    }

    #[test]
    fn algorithms_by_server_and_version() {
        let add = "ALTER TABLE t ADD COLUMN c int";
        assert_eq!(mysql(add, "mysql-8.0.36").algorithm, Some(Algorithm::Instant));
        assert_eq!(mysql(add, "mariadb-10.11").algorithm, Some(Algorithm::Instant));
        assert_eq!(mysql(add, "mysql-5.7").algorithm, Some(Algorithm::Inplace));
        let first = "ALTER TABLE t ADD COLUMN c int FIRST";
        assert_eq!(mysql(first, "mysql-8.0.20").algorithm, Some(Algorithm::Inplace));
        assert_eq!(mysql(first, "mysql-8.0.30").algorithm, Some(Algorithm::Instant));
        let modify = mysql("ALTER TABLE t MODIFY COLUMN c bigint", "mariadb-10.11");
        assert_eq!((modify.algorithm, modify.concurrent_dml), (Some(Algorithm::Copy), false));
        let index = mysql("CREATE INDEX i ON t (c)", "mariadb-10.11");
        assert_eq!((index.algorithm, index.concurrent_dml), (Some(Algorithm::Inplace), true));
        let fulltext = mysql("CREATE FULLTEXT INDEX i ON t (c)", "mariadb-10.11");
        assert!(!fulltext.concurrent_dml);
        let explicit = mysql("ALTER TABLE t ADD COLUMN c int, ALGORITHM=INSTANT, LOCK=NONE", "mariadb-10.11");
        assert_eq!(
            (explicit.explicit_algorithm.as_deref(), explicit.explicit_lock.as_deref()),
            (Some("INSTANT"), Some("NONE"))
        );
        let auto = mysql("ALTER TABLE t ADD COLUMN id2 int AUTO_INCREMENT UNIQUE", "mysql-8.0.36");
        assert_eq!((auto.algorithm, auto.concurrent_dml), (Some(Algorithm::Inplace), false), "checked on MariaDB");
    }

    #[test]
    fn sqlite_writes_hold_the_database_write_lock() {
        let index = analyze_sqlite("CREATE INDEX i ON t (a)").unwrap();
        assert_eq!(index.locks, [("t".to_string(), LockMode::Exclusive)]);
        assert!(index.scans && !index.rewrites);
        let update = analyze_sqlite("UPDATE t SET a = 1").unwrap();
        assert_eq!(update.locks, [("t".to_string(), LockMode::Exclusive)]);
        let drop = analyze_sqlite("ALTER TABLE t DROP COLUMN a").unwrap();
        assert!(drop.rewrites);
        let add = analyze_sqlite("ALTER TABLE t ADD COLUMN b int").unwrap();
        assert!(!add.rewrites && !add.scans);
        assert!(analyze_sqlite("SELECT * FROM t").unwrap().locks.iter().all(|(_, m)| *m == LockMode::AccessShare));
    }

    #[test]
    fn sqlite_alter_forms() {
        assert!(analyze_sqlite("ALTER TABLE t ADD COLUMN c int").unwrap().unsupported.is_none());
        assert!(analyze_sqlite("ALTER TABLE t RENAME COLUMN a TO b").unwrap().unsupported.is_none());
        let set = analyze_sqlite("ALTER TABLE t ALTER COLUMN c SET NOT NULL").unwrap();
        assert_eq!(set.unsupported.as_deref(), Some("ALTER COLUMN ... SET NOT NULL"));
        assert!(analyze_sqlite("ALTER TABLE t ADD COLUMN c int PRIMARY KEY").unwrap().unsupported.is_some());
        assert!(analyze_sqlite("PRAGMA foreign_keys = off").is_ok());
    }

    #[test]
    fn table_charset_options_are_read_not_called_syntax_errors() {
        let server = MysqlServer { mariadb: true, version: (10, 11, 0) };
        for (sql, algorithm, concurrent) in [
            ("ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;", Algorithm::Copy, false),
            ("ALTER TABLE `app`.`t` CONVERT TO CHARSET utf8mb4, ALGORITHM=COPY, LOCK=SHARED", Algorithm::Copy, false),
            ("ALTER TABLE t DEFAULT CHARACTER SET = utf8mb4", Algorithm::Instant, true),
            ("ALTER TABLE t CHARSET utf8mb4 COLLATE = utf8mb4_bin", Algorithm::Instant, true),
            ("ALTER TABLE t COLLATE utf8mb4_unicode_ci", Algorithm::Instant, true),
        ] {
            let effect = analyze_mysql(sql, server).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            let ddl = effect.mysql.unwrap();
            assert_eq!((ddl.algorithm, ddl.concurrent_dml), (Some(algorithm), concurrent), "{sql}");
            assert_eq!(effect.rewrites, algorithm == Algorithm::Copy, "{sql}");
        }
        let explicit =
            analyze_mysql("ALTER TABLE t CONVERT TO CHARSET utf8mb4, ALGORITHM=COPY, LOCK=SHARED", server).unwrap();
        assert_eq!(explicit.mysql.unwrap().explicit_lock.as_deref(), Some("SHARED"));
        // Anything else after them is the parser's to judge.
        assert!(super::table_options_alter("ALTER TABLE t CONVERT TO CHARSET utf8mb4, ADD COLUMN x int").is_none());
        for (sql, algorithm, concurrent) in [
            ("ALTER TABLE t COMMENT='a, b = c'", Algorithm::Instant, true),
            ("ALTER TABLE t ENGINE=InnoDB", Algorithm::Inplace, true),
            ("ALTER TABLE t ENGINE = MyISAM", Algorithm::Copy, false),
            ("ALTER TABLE t FORCE", Algorithm::Inplace, true),
            ("ALTER TABLE t ROW_FORMAT=DYNAMIC, ALGORITHM=INPLACE, LOCK=NONE", Algorithm::Inplace, true),
            ("ALTER TABLE t ENGINE=InnoDB, DEFAULT CHARSET=utf8mb4", Algorithm::Inplace, true),
        ] {
            let ddl = analyze_mysql(sql, server).unwrap_or_else(|e| panic!("{sql}: {e:?}")).mysql.unwrap();
            assert_eq!((ddl.algorithm, ddl.concurrent_dml), (Some(algorithm), concurrent), "{sql}");
        }
    }

    #[test]
    fn mysql_syntax_sqlparser_lacks() {
        let rename = analyze_mysql("ALTER TABLE totp\n    RENAME _bkp_totp;", MysqlServer::default()).unwrap();
        assert!(matches!(rename.action, Action::Rename { object: "table", .. }), "{:?}", rename.action);
        assert!(analyze_mysql("ALTER TABLE a MODIFY COLUMN code VARCHAR(255) BINARY;", MysqlServer::default()).is_ok());
        assert!(analyze_mysql("RENAME TABLE a TO b", MysqlServer::default()).is_ok());
    }

    /// From the MariaDB tester: valid statements that were syntax errors blocking `up`, with
    /// what each costs (observed on MariaDB 10.11).
    #[test]
    fn mariadb_alter_forms_sqlparser_lacks_are_read_and_costed() {
        let server: MysqlServer = "mariadb-10.11".parse().unwrap();
        let cost = |sql: &str| {
            let effect = analyze_mysql(sql, server).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            let ddl = effect.mysql.clone().unwrap();
            (effect, ddl)
        };
        for (sql, algorithm, concurrent) in [
            ("ALTER TABLE t RENAME INDEX a TO b", Algorithm::Instant, true),
            ("ALTER TABLE t RENAME KEY a TO b, ALGORITHM=INSTANT", Algorithm::Instant, true),
            ("ALTER TABLE t ALTER INDEX i NOT IGNORED", Algorithm::Instant, true),
            ("ALTER TABLE t DISABLE KEYS", Algorithm::Instant, true),
            ("ALTER ONLINE TABLE t ADD COLUMN c int", Algorithm::Instant, true),
            ("ALTER TABLE t WAIT 5 ADD COLUMN c int", Algorithm::Instant, true),
            ("ALTER TABLE t NOWAIT ADD COLUMN c int", Algorithm::Instant, true),
            ("ALTER TABLE t ADD COLUMN (a int, b int)", Algorithm::Instant, true),
            ("ALTER TABLE t ADD COLUMN IF NOT EXISTS c int", Algorithm::Instant, true),
            ("ALTER TABLE t ADD INDEX IF NOT EXISTS i (c)", Algorithm::Inplace, true),
            ("ALTER TABLE t DROP INDEX IF EXISTS i", Algorithm::Inplace, true),
            ("ALTER TABLE t DROP FOREIGN KEY IF EXISTS fk", Algorithm::Instant, true),
            ("ALTER TABLE t ADD CONSTRAINT IF NOT EXISTS fk FOREIGN KEY (a) REFERENCES u (id)", Algorithm::Copy, false),
            ("ALTER TABLE t MODIFY COLUMN IF EXISTS c bigint", Algorithm::Copy, false),
            ("ALTER TABLE t ADD COLUMN c varchar(10) CHARSET utf8mb4", Algorithm::Instant, true),
            ("ALTER TABLE t FORCE, ADD COLUMN c int", Algorithm::Inplace, true),
            ("ALTER TABLE t ADD COLUMN c int, ORDER BY c", Algorithm::Copy, false),
            ("ALTER TABLE t ADD SYSTEM VERSIONING", Algorithm::Copy, false),
            ("OPTIMIZE TABLE t", Algorithm::Inplace, true),
            ("ALTER TABLE t AUTO_INCREMENT = 100", Algorithm::Instant, true),
            ("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, n)", Algorithm::Inplace, true),
            ("ALTER TABLE t DROP PARTITION p0", Algorithm::Inplace, false),
            ("ALTER TABLE t ADD COLUMN c int AS (a + 1) PERSISTENT", Algorithm::Copy, false),
        ] {
            let (effect, ddl) = cost(sql);
            assert_eq!((ddl.algorithm, ddl.concurrent_dml), (Some(algorithm), concurrent), "{sql}");
            assert_eq!(effect.locks.first().map(|(t, _)| t.as_str()), Some("t"), "{sql}");
        }
        let (_, online) = cost("ALTER ONLINE TABLE t ADD COLUMN c int");
        assert_eq!(online.explicit_lock.as_deref(), Some("NONE"));
        let (_, nocopy) = cost("ALTER TABLE t ADD COLUMN c int, ALGORITHM=NOCOPY");
        assert_eq!(nocopy.explicit_algorithm.as_deref(), Some("NOCOPY"));
        let (two, _) = cost("ALTER TABLE t ADD COLUMN (a int, b int)");
        let Action::AlterTable { commands, .. } = &two.action else { panic!("{two:?}") };
        assert_eq!(commands.len(), 2);
        let (kept, _) = cost("ALTER TABLE t ADD COLUMN IF NOT EXISTS c int");
        assert!(matches!(&kept.action, Action::AlterTable { commands, .. }
            if matches!(commands[0], AlterCommand::AddColumn { if_not_exists: true, .. })));
        let (check, _) = cost("ALTER TABLE t DROP CHECK t_positive");
        assert!(matches!(&check.action, Action::AlterTable { commands, .. }
            if matches!(&commands[0], AlterCommand::DropConstraint { name } if name == "t_positive")));
        let (several, _) = cost("OPTIMIZE TABLE t, u");
        assert_eq!(several.locks.len(), 2);
        for sql in ["ALTER TABLE t DROP KEY IF EXISTS ka", "ALTER TABLE t RENAME COLUMN IF EXISTS c TO d"] {
            assert!(analyze_mysql(sql, server).is_ok(), "{sql}");
        }
        // Executable comments are code the server runs: read as such.
        let (hidden, _) = cost("ALTER TABLE t /*M!100500 MODIFY c bigint, */ ADD COLUMN b int");
        assert_eq!(hidden.mysql.unwrap().algorithm, Some(Algorithm::Copy), "the MODIFY in the comment copies");
        let (hidden, _) = cost("ALTER TABLE t ADD COLUMN b int /*!, MODIFY c bigint */");
        assert_eq!(hidden.mysql.unwrap().algorithm, Some(Algorithm::Copy));
        assert_eq!(open_executable_comments("SELECT '/*!x*/' /*!50100 , 1 */"), "SELECT '/*!x*/'   , 1  ");
        // A name qualified with the session's database is the bare name.
        let effect = analyze_mysql_in("ALTER TABLE `shop`.`logs` ADD COLUMN c int", server, Some("shop")).unwrap();
        assert_eq!(effect.locks[0].0, "logs");
        let effect = analyze_mysql_in("ALTER TABLE shop.logs ADD COLUMN c int", server, Some("shop")).unwrap();
        assert_eq!(effect.locks[0].0, "logs");
        let other =
            analyze_mysql_in("ALTER TABLE shop2.logs ADD COLUMN c varchar(9) DEFAULT 'shop.x'", server, Some("shop"))
                .unwrap();
        assert_eq!(other.locks[0].0, "shop2.logs");
        assert_eq!(
            unqualify("UPDATE shop.t SET a = 'shop.t', b = myshop.c", "shop"),
            "UPDATE t SET a = 'shop.t', b = myshop.c"
        );
        // Still a syntax error where it is one.
        assert!(analyze_mysql("ALTER TABLE t RENAME INDEX a", server).is_err());
        assert!(analyze_mysql("ALTER ONLINE TABLE t ADD COLUMN", server).is_err());
    }

    #[test]
    fn a_column_change_that_keeps_the_type_can_be_told_by_the_replay() {
        let modify = mysql("ALTER TABLE t MODIFY COLUMN n int NOT NULL", "mariadb-10.11");
        assert!(modify.copy_if_type_changes);
        assert!(
            !mysql("ALTER TABLE t MODIFY COLUMN n int, ADD CONSTRAINT c CHECK (n > 0)", "mariadb-10.11")
                .copy_if_type_changes
        );
    }

    /// Real projects' MySQL files (Authelia's `V0007`, Vaultwarden's `sso_users_cascade`): a
    /// stored procedure's compound body, and dynamic SQL through a prepared statement.
    #[test]
    fn stored_routines_and_prepared_statements_are_read() {
        let server: MysqlServer = "mariadb-10.11".parse().unwrap();
        let procedure = "CREATE PROCEDURE PROC_DROP_INDEX(IN tableName VARCHAR(64))\nBEGIN\n    IF EXISTS(SELECT * FROM information_schema.STATISTICS WHERE TABLE_NAME = tableName)\n    THEN\n        SET @query = CONCAT('DROP INDEX x ON ', tableName);\n        PREPARE stmt FROM @query;\n        EXECUTE stmt;\n    END IF;\nEND";
        for sql in [
            procedure,
            "CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN SELECT 1; END",
            "CREATE FUNCTION f() RETURNS int DETERMINISTIC BEGIN RETURN 1; END",
        ] {
            let effect = analyze_mysql(sql, server).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            assert!(effect.locks.is_empty() && matches!(effect.action, Action::Other), "{sql}: {effect:?}");
        }
        assert!(matches!(analyze_mysql("PREPARE stmt FROM @drop_fk", server).unwrap().action, Action::Other));
        assert!(matches!(analyze_mysql("DEALLOCATE PREPARE stmt", server).unwrap().action, Action::Other));
        for (sql, what) in [("EXECUTE stmt", "EXECUTE"), ("CALL PROC_DROP_INDEX('users', 'ix')", "CALL")] {
            match analyze_mysql(sql, server).unwrap().action {
                Action::Opaque { what: seen } => assert_eq!(seen, what),
                other => panic!("{sql}: {other:?}"),
            }
        }
        // Still a syntax error where it is one.
        assert!(analyze_mysql("CREATE TABLE t (id int", server).is_err());
        assert!(analyze_mysql("ALTER TABLE t ADD COLUMN", server).is_err());
    }

    /// Checked on MariaDB 10.11: `ADD FULLTEXT|SPATIAL INDEX` inside an ALTER is in place but
    /// refuses `LOCK=NONE`; a `CHANGE` that renames only is compared with the column it names
    /// first (instant), not with the new name (unknown, so a copy).
    #[test]
    fn alter_forms_mariadb_runs_otherwise_than_they_look() {
        let server: MysqlServer = "mariadb-10.11".parse().unwrap();
        for sql in ["ALTER TABLE posts ADD FULLTEXT INDEX ft (body)", "ALTER TABLE posts ADD SPATIAL INDEX sp (geo)"] {
            let ddl = analyze_mysql(sql, server).unwrap().mysql.unwrap();
            assert_eq!((ddl.algorithm, ddl.concurrent_dml), (Some(Algorithm::Inplace), false), "{sql}");
            assert!(ddl.reason.contains("blocks writes while it builds"), "{sql}: {}", ddl.reason);
        }
        let effect = analyze_mysql("ALTER TABLE users CHANGE name full_name varchar(100)", server).unwrap();
        let Action::AlterTable { commands, .. } = &effect.action else { panic!("{effect:?}") };
        assert!(
            matches!(&commands[..], [AlterCommand::AlterColumnType { column, .. }] if column == "name"),
            "{commands:?}"
        );
        let ddl = effect.mysql.unwrap();
        assert_eq!(ddl.renamed_columns, [("name".to_string(), "full_name".to_string())]);
        assert!(ddl.copy_if_type_changes && effect.backward_incompatible);
    }

    /// The live catalog's spelling and a migration's compare as MariaDB does.
    #[test]
    fn mysql_column_types_compare_as_the_server_does() {
        let t = mysql_column_type;
        assert_eq!(t("int(11)"), t("INT"));
        assert_eq!(t("integer"), t("int"));
        assert_ne!(t("int(10) unsigned"), t("int"));
        assert_eq!(t("int(10) unsigned"), t("INT UNSIGNED"));
        assert_eq!(t("varchar(100)"), t("VARCHAR(100)"));
        assert_ne!(t("varchar(100)"), t("varchar(300)"));
        assert_ne!(t("enum('a','b')"), t("enum('a','b','c')"));
        assert_eq!(t("decimal(10,2)").modifiers, [10, 2]);
    }

    /// Temporal's SQLite schema: a type of two words, and an FTS5 table's module arguments.
    #[test]
    fn sqlite_type_words_and_virtual_tables_are_read() {
        let effect = analyze_sqlite(
            "CREATE TABLE buffered_events (shard_id INT NOT NULL, id BIGINT AUTO_INCREMENT UNIQUE, data MEDIUMBLOB NOT NULL, PRIMARY KEY (shard_id, id))",
        )
        .unwrap();
        assert!(
            matches!(&effect.action, Action::CreateTable { table, .. } if table == "buffered_events"),
            "{effect:?}"
        );
        let fts = "CREATE VIRTUAL TABLE v USING fts5 (Text01, content='executions_visibility', tokenize=\"unicode61 remove_diacritics 2\")";
        assert!(matches!(analyze_sqlite(fts).unwrap().action, Action::Other));
        assert_eq!(
            remove_word("a auto_increment 'AUTO_INCREMENT' x_auto_increment", "AUTO_INCREMENT"),
            "a  'AUTO_INCREMENT' x_auto_increment"
        );
        assert!(analyze_sqlite("CREATE TABLE t (id BIGINT AUTO_INCREMENT UNIQUE").is_err());
    }

    #[test]
    fn syntax_errors_are_values() {
        assert!(analyze_mysql("ALTER TABLE t ADD COLUMN", MysqlServer::default()).is_err());
    }
}
