//! MySQL/MariaDB `ALTER TABLE` syntax that sqlparser does not read, read here: the statement is
//! rewritten to what sqlparser reads, and the clauses taken out are costed on their own. A valid
//! statement the parser stumbles on would otherwise be a `syntax-error` that blocks `up`.
//!
//! What is read (all accepted by MariaDB 10.11 or MySQL 8.0; costs observed on MariaDB 10.11
//! with `ALGORITHM=` and `LOCK=` asked for):
//! - in the head: `ALTER ONLINE TABLE` (MariaDB's `LOCK=NONE`), `ALTER IGNORE TABLE`, `WAIT n`
//!   and `NOWAIT` after the name (how long to wait for the metadata lock);
//! - `ALGORITHM=NOCOPY` (MariaDB: in place without rebuilding the table);
//! - `IF [NOT] EXISTS` in `ADD`/`DROP` of a column, index, key, foreign key or constraint, and
//!   in `MODIFY`/`CHANGE`;
//! - `ADD [COLUMN] (a int, b int)`, several columns in one clause;
//! - `CHARSET cs` in a column, for `CHARACTER SET cs`;
//! - taken out and costed here: `RENAME INDEX|KEY a TO b` and `ALTER INDEX i [NOT] IGNORED |
//!   VISIBLE | INVISIBLE` (instant), `DROP CHECK c` (MySQL), `DISABLE|ENABLE KEYS` (instant,
//!   under a brief exclusive lock as a rename is), `FORCE` beside other clauses (a rebuild with writes going on), `ORDER BY` and
//!   system versioning (`ADD|DROP SYSTEM VERSIONING`, `ADD|DROP PERIOD FOR SYSTEM_TIME`:
//!   copies with writes blocked).

use crate::effect::{Algorithm, MysqlTouches};
use crate::AlterCommand;

/// What [`read`] made of an `ALTER TABLE`.
#[derive(Debug, Default)]
pub(super) struct ReadAlter {
    /// The table, as written (quotes and all).
    pub table: String,
    /// The statement as sqlparser reads it, without the clauses taken out; `None` when none is
    /// left.
    pub sql: Option<String>,
    /// The clauses taken out, with what each costs.
    pub taken: Vec<Taken>,
    /// `ALGORITHM=NOCOPY`, which sqlparser does not know, as written.
    pub explicit_algorithm: Option<String>,
    /// `LOCK=NONE`, which `ALTER ONLINE TABLE` means.
    pub explicit_lock: Option<String>,
    /// Whether an `ADD COLUMN` said `IF NOT EXISTS`.
    pub add_column_if_not_exists: bool,
}

/// A clause [`read`] took out of the statement, with its cost.
#[derive(Debug)]
pub(super) struct Taken {
    pub algorithm: Algorithm,
    pub concurrent_dml: bool,
    pub touches: MysqlTouches,
    pub reason: &'static str,
    pub command: AlterCommand,
    /// `ENGINE=x`: the engine the table moves to.
    pub sets_engine: Option<String>,
    /// It deletes rows (a partition dropped or truncated).
    pub destroys: bool,
}

/// Reads `sql` when it is an `ALTER TABLE` with syntax sqlparser does not read; `None` when it
/// is no `ALTER TABLE` or sqlparser reads it as it is.
pub(super) fn read(sql: &str) -> Option<ReadAlter> {
    let head_tokens = tokens(sql);
    let word = |at: usize| head_tokens.get(at).map(|t| t.text.to_ascii_uppercase()).unwrap_or_default();
    if word(0) != "ALTER" {
        return None;
    }
    let mut read = ReadAlter::default();
    let mut changed = false;
    let mut at = 1;
    while matches!(word(at).as_str(), "ONLINE" | "IGNORE") {
        if word(at) == "ONLINE" {
            read.explicit_lock = Some("NONE".to_string());
        }
        changed = true;
        at += 1;
    }
    if word(at) != "TABLE" {
        return None;
    }
    at += 1;
    let mut head = String::from("ALTER TABLE ");
    if word(at) == "IF" && word(at + 1) == "EXISTS" {
        head.push_str("IF EXISTS ");
        at += 2;
    }
    read.table = head_tokens.get(at)?.text.to_string();
    head.push_str(&read.table);
    at += 1;
    if word(at) == "NOWAIT" {
        changed = true;
        at += 1;
    } else if word(at) == "WAIT" {
        // `WAIT n`, n seconds (a fraction allowed); anything else is no MariaDB.
        if !word(at + 1).parse::<f64>().is_ok_and(|n| n >= 0.0) {
            return None;
        }
        changed = true;
        at += 2;
    }
    let rest = head_tokens.get(at).map_or("", |t| &sql[t.start..]);
    // Table options alone (`CONVERT TO CHARACTER SET`, `ENGINE=`, with ALGORITHM/LOCK) are read
    // by the table options' reader, which knows what a conversion costs.
    let option_names = [
        "CONVERT",
        "CHARACTER",
        "CHARSET",
        "COLLATE",
        "COMMENT",
        "ENGINE",
        "FORCE",
        "ROW_FORMAT",
        "KEY_BLOCK_SIZE",
        "ALGORITHM",
        "LOCK",
    ];
    let options_alone = clauses(rest).iter().all(|clause| {
        let words: Vec<String> = tokens(clause).iter().take(2).map(|t| t.text.to_ascii_uppercase()).collect();
        let name = if words.first().is_some_and(|w| w == "DEFAULT") { words.get(1) } else { words.first() };
        name.is_some_and(|n| option_names.contains(&n.as_str()))
    });
    if options_alone && !changed {
        return None;
    }
    let mut kept: Vec<String> = Vec::new();
    for clause in clauses(rest) {
        let words: Vec<String> = tokens(clause).iter().map(|t| t.text.to_ascii_uppercase()).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        if let Some(taken) = taken(clause, &words) {
            read.taken.push(taken);
            changed = true;
            continue;
        }
        if let ["ALGORITHM", "NOCOPY"] | ["ALGORITHM", "=", "NOCOPY"] = words.as_slice() {
            read.explicit_algorithm = Some("NOCOPY".to_string());
            changed = true;
            continue;
        }
        let (clause, rewritten) = rewrite(clause, &words, &mut read);
        changed |= rewritten;
        kept.extend(clause);
    }
    if !changed {
        return None;
    }
    if !kept.is_empty() {
        read.sql = Some(format!("{head} {}", kept.join(", ")));
    }
    Some(read)
}

/// What a clause sqlparser does not read costs, when it is one of those.
fn taken(clause: &str, words: &[&str]) -> Option<Taken> {
    let dictionary = |command| Taken {
        algorithm: Algorithm::Instant,
        concurrent_dml: true,
        touches: MysqlTouches::Dictionary,
        reason: "",
        command,
        sets_engine: None,
        destroys: false,
    };
    let copy = |reason| Taken {
        algorithm: Algorithm::Copy,
        concurrent_dml: false,
        touches: MysqlTouches::Rows,
        reason,
        command: AlterCommand::Other,
        sets_engine: None,
        destroys: false,
    };
    let rebuild = Taken {
        algorithm: Algorithm::Inplace,
        concurrent_dml: true,
        touches: MysqlTouches::Rows,
        reason: "",
        command: AlterCommand::Other,
        sets_engine: None,
        destroys: false,
    };
    // A table option beside other clauses: `NAME [=] value`.
    let option = match words {
        [name, "=", _] | [name, _] => Some(*name),
        ["DEFAULT", name, "=", _] | ["DEFAULT", name, _] => Some(*name),
        ["DEFAULT", "CHARACTER", "SET", ..] | ["CHARACTER", "SET", ..] => Some("CHARSET"),
        _ => None,
    };
    match option {
        Some("ENGINE") => {
            let engine = tokens(clause).last().map(|t| t.text.trim_matches(['`', '\'', '"']).to_string());
            let innodb = engine.as_deref().is_some_and(|e| e.eq_ignore_ascii_case("InnoDB"));
            let cost = if innodb { rebuild } else { copy("another storage engine copies the table and writes wait") };
            return Some(Taken { sets_engine: engine, ..cost });
        }
        Some(
            "COMMENT" | "CHARSET" | "COLLATE" | "AUTO_INCREMENT" | "CHECKSUM" | "PAGE_CHECKSUM" | "STATS_PERSISTENT"
            | "STATS_AUTO_RECALC" | "STATS_SAMPLE_PAGES",
        ) => return Some(dictionary(AlterCommand::Other)),
        Some("ROW_FORMAT" | "KEY_BLOCK_SIZE") => return Some(rebuild),
        // Aria's crash safety: observed, a copy.
        Some("TRANSACTIONAL") => return Some(copy("TRANSACTIONAL= copies the table; writes wait")),
        _ => {}
    }
    let name = |at: usize| tokens(clause).get(at).map(|t| t.text.trim_matches('`').to_string()).unwrap_or_default();
    Some(match words {
        ["RENAME", "INDEX" | "KEY", from, "TO", _] if *from != "PRIMARY" => dictionary(AlterCommand::Other),
        ["ALTER", "INDEX" | "KEY", _, "IGNORED" | "VISIBLE" | "INVISIBLE"]
        | ["ALTER", "INDEX" | "KEY", _, "NOT", "IGNORED"] => dictionary(AlterCommand::Other),
        ["DROP", "CHECK", _] => {
            Taken { algorithm: Algorithm::Inplace, ..dictionary(AlterCommand::DropConstraint { name: name(2) }) }
        }
        // Observed: INSTANT under a brief exclusive lock ("LOCK=NONE/SHARED is not supported for
        // this operation. Try LOCK=EXCLUSIVE"), as a rename is; it does nothing on InnoDB.
        ["DISABLE" | "ENABLE", "KEYS"] => Taken { touches: MysqlTouches::Indexes, ..dictionary(AlterCommand::Other) },
        ["FORCE"] => rebuild,
        ["ORDER", "BY", ..] => copy("ORDER BY copies the table in the new order; writes wait"),
        // Partition maintenance: the rows move, or go, with writes waiting.
        ["REMOVE", "PARTITIONING"] | ["PARTITION", "BY", ..] => copy("repartitioning copies the table; writes wait"),
        ["COALESCE" | "REORGANIZE" | "REBUILD" | "OPTIMIZE", "PARTITION", ..] => {
            copy("partition maintenance copies the partitions' rows; writes wait")
        }
        ["DROP" | "TRUNCATE", "PARTITION", ..] => Taken {
            destroys: true,
            ..Taken {
                algorithm: Algorithm::Inplace,
                ..copy("dropping or truncating a partition deletes its rows; writes wait")
            }
        },
        ["ADD" | "EXCHANGE", "PARTITION", ..] => Taken {
            algorithm: Algorithm::Inplace,
            ..copy("partition maintenance holds the table's exclusive lock; writes wait")
        },
        ["ANALYZE" | "CHECK" | "REPAIR", "PARTITION", ..] => {
            Taken { algorithm: Algorithm::Inplace, ..dictionary(AlterCommand::Other) }
        }
        ["ADD" | "DROP", "SYSTEM", "VERSIONING"] | ["ADD" | "DROP", "PERIOD", "FOR", ..] => {
            copy("system versioning is added or dropped by copying the table; writes wait")
        }
        _ => return None,
    })
}

/// `clause` as sqlparser reads it (one clause or, for `ADD COLUMN (a int, b int)`, several),
/// and whether it was changed.
fn rewrite(clause: &str, words: &[&str], read: &mut ReadAlter) -> (Vec<String>, bool) {
    let tokens = tokens(clause);
    let first = words.first().copied().unwrap_or_default();
    if !matches!(first, "ADD" | "DROP" | "MODIFY" | "CHANGE" | "RENAME") {
        return (vec![clause.to_string()], false);
    }
    // (start, end, replacement) in `clause`, in order.
    let mut edits: Vec<(usize, usize, &str)> = Vec::new();
    let end_of = |at: usize| tokens[at].start + tokens[at].text.len();
    let first_paren = words.iter().position(|w| *w == "(").unwrap_or(words.len());
    // `DROP KEY k` is `DROP INDEX k`, which sqlparser reads.
    if let ["DROP", "KEY", ..] = words {
        edits.push((tokens[1].start, end_of(1), "INDEX"));
    }
    for at in 0..tokens.len() {
        let rest = &words[at..];
        // `IF [NOT] EXISTS` before the first parenthesis: the clause's own.
        if at < first_paren && edits.last().is_none_or(|(_, end, _)| *end <= tokens[at].start) {
            if let (["IF", "NOT", "EXISTS", ..], "ADD") = (rest, first) {
                read.add_column_if_not_exists = true;
                edits.push((tokens[at].start, end_of(at + 2), ""));
                continue;
            }
            if let (["IF", "EXISTS", ..], "DROP" | "MODIFY" | "CHANGE" | "RENAME") = (rest, first) {
                edits.push((tokens[at].start, end_of(at + 1), ""));
                continue;
            }
        }
        if rest.first() == Some(&"CHARSET") && words.get(at + 1) != Some(&"=") {
            edits.push((tokens[at].start, end_of(at), "CHARACTER SET"));
        }
        // MariaDB's word for a STORED generated column.
        if rest.first() == Some(&"PERSISTENT") {
            edits.push((tokens[at].start, end_of(at), "STORED"));
        }
    }
    let mut text = String::with_capacity(clause.len());
    let mut from = 0;
    for (start, end, replacement) in &edits {
        text.push_str(&clause[from..*start]);
        text.push_str(replacement);
        from = *end;
    }
    text.push_str(&clause[from..]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // `ADD [COLUMN] (a int, b int)`: one `ADD COLUMN` each.
    let upper = text.to_ascii_uppercase();
    let after = upper.strip_prefix("ADD COLUMN").or_else(|| upper.strip_prefix("ADD")).map(str::trim_start);
    if let Some(inner) = after.filter(|a| a.starts_with('(') && a.ends_with(')')) {
        let at = text.len() - inner.len();
        let inner = &text[at + 1..text.len() - 1];
        // An index or constraint may stand among the columns (`ADD (x int, INDEX kx (x))`).
        let keyword = ["INDEX", "KEY", "UNIQUE", "FULLTEXT", "SPATIAL", "PRIMARY", "CONSTRAINT", "FOREIGN", "CHECK"];
        let columns: Vec<String> = clauses(inner)
            .into_iter()
            .map(|c| {
                let first = c.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                let first = first.split('(').next().unwrap_or_default();
                if keyword.contains(&first) {
                    format!("ADD {c}")
                } else {
                    format!("ADD COLUMN {c}")
                }
            })
            .collect();
        // `()` or `(a int,, b int)`: left as written, for the parser to refuse.
        if columns.is_empty() || inner.split(',').any(|part| part.trim().is_empty()) {
            return (vec![text], false);
        }
        return (columns, true);
    }
    (vec![text], !edits.is_empty())
}

/// A `CREATE TABLE` as sqlparser reads it, when it is one with what sqlparser does not read:
/// `CHARSET cs` in a column (for `CHARACTER SET cs`), and a `PARTITION BY ...` after the
/// columns (left out; whether it was there is the second value).
pub(super) fn create_table(sql: &str) -> Option<(String, bool)> {
    let all = tokens(sql);
    let upper = |at: usize| all.get(at).map(|t| t.text.to_ascii_uppercase()).unwrap_or_default();
    if upper(0) != "CREATE" || !(1..4).any(|at| upper(at) == "TABLE") {
        return None;
    }
    let mut depth = 0usize;
    let mut edits: Vec<(usize, usize, &str)> = Vec::new();
    let mut partitioned = false;
    for (at, token) in all.iter().enumerate() {
        match token.text {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            _ => {}
        }
        let word = token.text.to_ascii_uppercase();
        if depth == 1 && word == "CHARSET" && upper(at + 1) != "=" {
            edits.push((token.start, token.start + token.text.len(), "CHARACTER SET"));
        }
        if depth == 1 && word == "PERSISTENT" {
            edits.push((token.start, token.start + token.text.len(), "STORED"));
        }
        if depth == 0 && word == "PARTITION" && upper(at + 1) == "BY" {
            let end = sql.trim_end().trim_end_matches(';').len();
            edits.push((token.start, end, ""));
            partitioned = true;
            break;
        }
    }
    if edits.is_empty() {
        return None;
    }
    let mut text = String::with_capacity(sql.len());
    let mut from = 0;
    for (start, end, replacement) in edits {
        text.push_str(&sql[from..start]);
        text.push_str(replacement);
        from = end;
    }
    text.push_str(&sql[from..]);
    Some((text, partitioned))
}

/// A word, a quoted string, a backquoted name (joined with dots to its neighbours:
/// `` `db`.`t` ``), or one of `( ) , = ;`, with where it starts in the text.
#[derive(Debug)]
struct Token<'a> {
    text: &'a str,
    start: usize,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        if c.is_ascii_whitespace() {
            at += 1;
            continue;
        }
        // Comments are no tokens.
        if text[at..].starts_with("/*") {
            at = text[at..].find("*/").map_or(bytes.len(), |end| at + end + 2);
            continue;
        }
        if text[at..].starts_with("-- ") || c == b'#' {
            at = text[at..].find('\n').map_or(bytes.len(), |end| at + end + 1);
            continue;
        }
        let start = at;
        if matches!(c, b'(' | b')' | b',' | b'=' | b';') {
            at += 1;
        } else {
            while at < bytes.len() {
                let c = bytes[at];
                if matches!(c, b'\'' | b'"' | b'`') {
                    at = closing(bytes, at);
                } else if c.is_ascii_whitespace() || matches!(c, b'(' | b')' | b',' | b'=' | b';') {
                    break;
                } else {
                    at += 1;
                }
            }
        }
        tokens.push(Token { text: &text[start..at], start });
    }
    tokens
}

/// Where the quoted text that opens at `at` ends (past its closing quote; a doubled quote and,
/// in strings, a backslash escape inside).
fn closing(bytes: &[u8], at: usize) -> usize {
    let quote = bytes[at];
    let mut idx = at + 1;
    while idx < bytes.len() {
        if bytes[idx] == b'\\' && quote != b'`' {
            idx += 2;
            continue;
        }
        if bytes[idx] == quote {
            if bytes.get(idx + 1) == Some(&quote) {
                idx += 2;
                continue;
            }
            return idx + 1;
        }
        idx += 1;
    }
    bytes.len()
}

/// `text` split at the commas outside parentheses and quotes, each part trimmed (a trailing `;`
/// dropped).
fn clauses(text: &str) -> Vec<&str> {
    let text = text.trim().trim_end_matches(';').trim_end();
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut start, mut at) = (0usize, 0usize, 0usize);
    while at < bytes.len() {
        match bytes[at] {
            b'\'' | b'"' | b'`' => {
                at = closing(bytes, at);
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                parts.push(text[start..at].trim());
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    parts.push(text[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> Option<String> {
        read(sql).and_then(|r| r.sql)
    }

    #[test]
    fn what_sqlparser_reads_is_left_alone() {
        assert!(read("ALTER TABLE t ADD COLUMN c int, ALGORITHM=INSTANT").is_none());
        assert!(read("ALTER TABLE t DROP COLUMN IF EXISTS c").is_some(), "IF EXISTS is taken out anyway");
        assert!(read("CREATE TABLE t (id int)").is_none());
        assert!(read("ALTER VIEW v AS SELECT 1").is_none());
    }

    #[test]
    fn the_head_and_the_clauses_sqlparser_does_not_read_are_rewritten() {
        let online = read("ALTER ONLINE TABLE `db`.`t` WAIT 5 ADD COLUMN c int;").unwrap();
        assert_eq!(online.sql.as_deref(), Some("ALTER TABLE `db`.`t` ADD COLUMN c int"));
        assert_eq!(online.explicit_lock.as_deref(), Some("NONE"));
        assert_eq!(
            rewritten("ALTER IGNORE TABLE IF EXISTS t NOWAIT ADD COLUMN IF NOT EXISTS c int").as_deref(),
            Some("ALTER TABLE IF EXISTS t ADD COLUMN c int")
        );
        assert_eq!(
            rewritten("ALTER TABLE t ADD COLUMN (a int, b varchar(3) CHARSET latin1), ALGORITHM=NOCOPY").as_deref(),
            Some("ALTER TABLE t ADD COLUMN a int, ADD COLUMN b varchar(3) CHARACTER SET latin1")
        );
        assert_eq!(
            rewritten("ALTER TABLE t ADD (a int)").as_deref(),
            Some("ALTER TABLE t ADD COLUMN a int"),
            "ADD without COLUMN"
        );
        assert_eq!(
            rewritten("ALTER TABLE t ADD INDEX IF NOT EXISTS i (c), DROP FOREIGN KEY IF EXISTS fk").as_deref(),
            Some("ALTER TABLE t ADD INDEX i (c), DROP FOREIGN KEY fk")
        );
        assert_eq!(
            rewritten("ALTER TABLE t MODIFY COLUMN IF EXISTS c varchar(10) DEFAULT 'a, b'").as_deref(),
            Some("ALTER TABLE t MODIFY COLUMN c varchar(10) DEFAULT 'a, b'")
        );
        let renamed = read("ALTER TABLE t RENAME INDEX a TO b, RENAME KEY c TO d").unwrap();
        assert_eq!(renamed.sql, None);
        assert_eq!(renamed.taken.len(), 2);
        assert!(renamed.taken.iter().all(|t| t.algorithm == Algorithm::Instant));
        let ordered = read("ALTER TABLE t ADD COLUMN c int, ORDER BY c").unwrap();
        assert_eq!(ordered.sql.as_deref(), Some("ALTER TABLE t ADD COLUMN c int"));
        assert!(!ordered.taken[0].concurrent_dml);
    }

    #[test]
    fn partition_maintenance_and_persistent_columns() {
        let removed = read("ALTER TABLE t REMOVE PARTITIONING").unwrap();
        assert_eq!(removed.sql, None);
        assert_eq!(removed.taken[0].algorithm, Algorithm::Copy);
        let dropped = read("ALTER TABLE t DROP PARTITION p0").unwrap();
        assert!(dropped.taken[0].destroys && !dropped.taken[0].concurrent_dml);
        assert!(
            !read("ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (2030))").unwrap().taken[0]
                .concurrent_dml
        );
        assert_eq!(
            rewritten("ALTER TABLE t ADD COLUMN c int AS (a + 3) PERSISTENT").as_deref(),
            Some("ALTER TABLE t ADD COLUMN c int AS (a + 3) STORED")
        );
    }

    #[test]
    fn create_table_forms_sqlparser_lacks() {
        assert_eq!(
            create_table("CREATE TABLE t (c varchar(10) CHARSET latin1, d int) DEFAULT CHARSET=utf8mb4"),
            Some((
                "CREATE TABLE t (c varchar(10) CHARACTER SET latin1, d int) DEFAULT CHARSET=utf8mb4".to_string(),
                false
            ))
        );
        assert_eq!(
            create_table("CREATE TABLE t (id int PRIMARY KEY) ENGINE=InnoDB PARTITION BY HASH(id) PARTITIONS 4;"),
            Some(("CREATE TABLE t (id int PRIMARY KEY) ENGINE=InnoDB ;".to_string(), true))
        );
        assert_eq!(create_table("CREATE TABLE t (id int) ENGINE=InnoDB CHARSET utf8mb4"), None);
        assert_eq!(create_table("ALTER TABLE t ADD COLUMN c int"), None);
    }

    #[test]
    fn table_options_beside_other_clauses_and_what_is_no_mariadb() {
        let mixed = read("ALTER TABLE t ADD COLUMN b int, ENGINE='MyISAM', COMMENT 'x', TRANSACTIONAL=1").unwrap();
        assert_eq!(mixed.sql.as_deref(), Some("ALTER TABLE t ADD COLUMN b int"));
        assert_eq!(mixed.taken[0].sets_engine.as_deref(), Some("MyISAM"));
        assert!(mixed.taken.iter().any(|t| t.algorithm == Algorithm::Copy));
        assert!(
            read("ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4, ENGINE=InnoDB").is_none(),
            "the options' reader's"
        );
        // Left for the parser to refuse: what MariaDB refuses too.
        assert!(rewritten("ALTER TABLE t ADD COLUMN IF EXISTS b int").is_none());
        assert!(rewritten("ALTER TABLE t DROP COLUMN IF NOT EXISTS b").is_none());
        assert!(read("ALTER TABLE t WAIT -1 ADD COLUMN b int").is_none());
        assert!(rewritten("ALTER TABLE t ADD COLUMN ()").is_none());
        assert!(rewritten("ALTER TABLE t ADD COLUMN (a int,, b int)").is_none());
        assert!(read("ALTER TABLE t RENAME INDEX PRIMARY TO p").is_none());
        assert_eq!(
            rewritten("ALTER TABLE t ADD COLUMN (x int, FULLTEXT KEY fx (c), INDEX(x))").as_deref(),
            Some("ALTER TABLE t ADD COLUMN x int, ADD FULLTEXT KEY fx (c), ADD INDEX(x)")
        );
    }

    #[test]
    fn clauses_split_outside_quotes_and_parentheses() {
        assert_eq!(clauses("ADD a enum('x,y', 'z'), ADD `b,c` int;"), ["ADD a enum('x,y', 'z')", "ADD `b,c` int"]);
        assert_eq!(
            clauses("ADD a varchar(3) DEFAULT 'it''s, \\' here'"),
            ["ADD a varchar(3) DEFAULT 'it''s, \\' here'"]
        );
    }
}
