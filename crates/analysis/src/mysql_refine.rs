//! What the schema model adds to a MySQL/MariaDB statement's cost: the table's storage engine
//! and FULLTEXT indexes, its character set, its columns' lengths. The front end
//! (`sqlparse.rs`) judges each statement alone, for an InnoDB table it knows nothing of.

use crate::effect::{Algorithm, ConvertTo, MysqlDdl, MysqlTouches};
use crate::{schema, ColumnType};

/// What `table`'s storage makes of a MySQL/MariaDB ALTER judged for an InnoDB table without a
/// FULLTEXT index: another engine (MyISAM, Aria, MEMORY) has no online path, so anything past
/// the dictionary copies the table with writes blocked; InnoDB rebuilds a table with a FULLTEXT
/// index, writes blocked, for what it otherwise does instantly or online (observed on MariaDB
/// 10.11 with `ALGORITHM=` and `LOCK=` asked for: see [`MysqlTouches`]).
pub(crate) fn storage_costs(ddl: &mut MysqlDdl, storage: &schema::Table, table: &str) {
    let engine = storage.storage_engine.as_deref().filter(|e| !e.eq_ignore_ascii_case("InnoDB"));
    if let Some(engine) = engine {
        if ddl.touches > MysqlTouches::Dictionary {
            if ddl.algorithm != Some(Algorithm::Copy) || ddl.concurrent_dml {
                ddl.algorithm = Some(Algorithm::Copy);
                ddl.concurrent_dml = false;
                ddl.reason = format!(
                    "`{table}` is {} {engine} table: {engine} has no online ALTER, the table is copied and writes wait",
                    if engine.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
                );
            }
            // Not for the statement that converts it.
            if ddl.sets_engine.is_none() {
                ddl.engine_without_online_ddl = Some(engine.to_string());
            }
        }
    } else if ddl.touches == MysqlTouches::Rows && ddl.concurrent_dml && ddl.builds_fulltext.is_empty() {
        // The FULLTEXT indexes left after this statement's drops.
        let fulltext = storage.fulltext_indexes.iter().any(|i| !ddl.drops_indexes.contains(i));
        if fulltext {
            ddl.algorithm = Some(ddl.algorithm.map_or(Algorithm::Inplace, |a| a.max(Algorithm::Inplace)));
            ddl.concurrent_dml = false;
            ddl.reason = format!("`{table}` has a FULLTEXT index: InnoDB rebuilds it for this change and writes wait");
        } else if storage.fts_doc_id && ddl.algorithm == Some(Algorithm::Instant) {
            // A FULLTEXT index once: its hidden FTS_DOC_ID column stays, and rules out INSTANT.
            ddl.algorithm = Some(Algorithm::Inplace);
        }
    }
    // A compressed table is rebuilt in place (writes going on) where another changes instantly
    // (found by the tester).
    if storage.row_format.as_deref() == Some("compressed")
        && ddl.touches == MysqlTouches::Rows
        && ddl.algorithm == Some(Algorithm::Instant)
    {
        ddl.algorithm = Some(Algorithm::Inplace);
    }
}

/// Bytes a character of `charset` takes at most, for the character sets whose width is known.
fn bytes_per_char(charset: &str) -> Option<i64> {
    Some(match charset {
        "latin1" | "ascii" | "binary" | "latin2" | "cp1250" | "cp1251" | "cp1252" => 1,
        "ucs2" => 2,
        "utf8" | "utf8mb3" => 3,
        "utf8mb4" | "utf16" | "utf32" => 4,
        _ => return None,
    })
}

/// Whether `old` to `new` lengthens a VARCHAR (of `table_charset` unless the type names its
/// own) without moving it across 255 bytes, where its length prefix grows from one byte to two
/// (observed on MariaDB 10.11: `varchar(20)` to `varchar(60)` and `varchar(255)` to
/// `varchar(768)` in utf8mb4 are INSTANT, `varchar(60)` to `varchar(70)` copies). An unknown
/// character set counts as one byte a character for the old length and four for the new: a
/// prediction that is never instant where the server copies.
pub(crate) fn varchar_keeps_length_bytes(old: &ColumnType, new: &ColumnType, table_charset: Option<&str>) -> bool {
    if old.name != new.name || !(old.name == "varchar" || old.name.starts_with("varchar character set ")) {
        return false;
    }
    let (Some(&from), Some(&to)) = (old.modifiers.first(), new.modifiers.first()) else { return false };
    if to < from {
        return false;
    }
    let charset = old.name.strip_prefix("varchar character set ").or(table_charset);
    let (least, most) = match charset.and_then(bytes_per_char) {
        Some(bytes) => (bytes, bytes),
        None => (1, 4),
    };
    // One length byte while the longest value fits 255 bytes, two beyond; InnoDB keeps using
    // one for a column whose longest value was at most 127 bytes (observed: utf8mb4
    // `varchar(31)` to `varchar(100)` is INSTANT, `varchar(32)` to `varchar(100)` copies).
    from * most <= 127 || from * least > 255 || to * most <= 255
}

/// Whether `old` to `new` appends values to an ENUM or SET without changing its storage size
/// (an ENUM of up to 255 values takes a byte; a SET a byte for each 8 members, up to 64):
/// observed on MariaDB 10.11, INSTANT.
pub(crate) fn appends_members(old: &ColumnType, new: &ColumnType) -> bool {
    let members = |t: &ColumnType| -> Option<(String, Vec<String>)> {
        let (kind, rest) = t.name.split_once('(')?;
        let list = rest.rsplit_once(')')?.0;
        Some((kind.trim().to_string(), list.split(',').map(|m| m.trim().to_string()).collect()))
    };
    let (Some((kind, before)), Some((new_kind, after))) = (members(old), members(new)) else { return false };
    if kind != new_kind || after.len() < before.len() || after[..before.len()] != before[..] {
        return false;
    }
    match kind.as_str() {
        "enum" => after.len() <= 255,
        "set" => {
            let bytes = |n: usize| match n {
                0..=8 => 1,
                9..=16 => 2,
                17..=24 => 3,
                25..=32 => 4,
                _ => 8,
            };
            bytes(before.len()) == bytes(after.len())
        }
        _ => false,
    }
}

/// Whether `t` is one of the TEXT types (stored off the row, indexed by a prefix).
fn is_long_text(t: &ColumnType) -> bool {
    matches!(t.name.split(' ').next().unwrap_or_default(), "tinytext" | "text" | "mediumtext" | "longtext")
}

/// Whether a new collation on column `column` of `table`, indexed, makes the server copy (a
/// TEXT column's prefix index: observed, COPY with writes waiting) rather than rebuild the
/// index in place.
pub(crate) fn recollation_copies(table: &schema::Table, column: &str) -> bool {
    table.columns.iter().any(|(name, t)| name == column && is_long_text(t))
}

/// The cost of `CONVERT TO CHARACTER SET` on `table` as stored, with the statement's other
/// options: `None` when the table's character set is not known (the front end's COPY stands).
/// Observed on MariaDB 10.11: to the table's own character set, INSTANT (INPLACE with writes
/// going on when an index covers a text column and the collation changes); utf8mb3 to utf8mb4,
/// INSTANT; a table without text columns, INSTANT; any other conversion copies.
pub(crate) fn convert_cost(to: &ConvertTo, table: &schema::Table, mariadb_instant: bool) -> Option<Algorithm> {
    let from = table.charset.as_deref()?;
    let is_text = |t: &ColumnType| {
        let base = t.name.split(' ').next().unwrap_or_default();
        matches!(base, "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set")
    };
    let text_columns: Vec<(&String, &ColumnType)> =
        table.columns.iter().filter(|(_, t)| is_text(t)).map(|(name, t)| (name, t)).collect();
    let indexed = |column: &String| table.indexes.iter().any(|(_, columns)| columns.contains(column));
    let indexed_text = text_columns.iter().any(|(name, _)| indexed(name));
    let indexed_long_text = text_columns.iter().any(|(name, t)| indexed(name) && is_long_text(t));
    let same_collation = to.collation.is_none() || to.collation == table.collation;
    let own = if text_columns.is_empty() || (from == to.charset && (same_collation || !indexed_text)) {
        Algorithm::Instant
    } else if from == to.charset {
        // A new collation rebuilds the indexes on text columns; a TEXT column's prefix index
        // makes it a copy (found by the tester).
        if indexed_long_text {
            return None;
        }
        Algorithm::Inplace
    } else if mariadb_instant && matches!(from, "utf8" | "utf8mb3") && to.charset == "utf8mb4" {
        // Instant only while every column keeps its type and length bytes: a TEXT becomes a
        // MEDIUMTEXT, a VARCHAR can cross 255 bytes (found by the tester: both copy).
        let keeps = text_columns.iter().all(|(_, t)| {
            let Some(&chars) = t.modifiers.first() else { return false };
            t.name == "varchar" && (chars * 3 <= 127 || chars * 4 <= 255 || chars * 3 > 255)
        });
        if !keeps {
            return None;
        }
        if indexed_text && to.collation.is_some() {
            Algorithm::Inplace
        } else {
            Algorithm::Instant
        }
    } else {
        return None;
    };
    Some(own.max(to.others))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(charset: &str, columns: &[(&str, &str, i64)], indexed: &[&str]) -> schema::Table {
        schema::Table {
            columns: columns
                .iter()
                .map(|(n, t, m)| {
                    let modifiers = if *m > 0 { vec![*m] } else { Vec::new() };
                    (n.to_string(), ColumnType { name: t.to_string(), modifiers, array: false })
                })
                .collect(),
            indexes: indexed.iter().map(|c| (format!("{c}_idx"), vec![c.to_string()])).collect(),
            charset: Some(charset.to_string()),
            ..schema::Table::default()
        }
    }

    /// Found by the tester, observed on MariaDB 10.11.
    #[test]
    fn a_conversion_copies_where_a_column_changes_type_or_length_bytes() {
        let to = |charset: &str, collation: Option<&str>| ConvertTo {
            charset: charset.to_string(),
            collation: collation.map(str::to_string),
            others: Algorithm::Instant,
        };
        let mb3 = |columns: &[(&str, &str, i64)], indexed: &[&str]| table("utf8mb3", columns, indexed);
        assert_eq!(
            convert_cost(&to("utf8mb4", None), &mb3(&[("v", "varchar", 20)], &[]), true),
            Some(Algorithm::Instant)
        );
        assert_eq!(
            convert_cost(&to("utf8mb4", None), &mb3(&[("t", "text", 0)], &[]), true),
            None,
            "TEXT to MEDIUMTEXT"
        );
        assert_eq!(
            convert_cost(&to("utf8mb4", None), &mb3(&[("v", "varchar", 80)], &[]), true),
            None,
            "240 to 320 bytes"
        );
        assert_eq!(
            convert_cost(&to("utf8mb4", Some("utf8mb4_bin")), &mb3(&[("v", "varchar", 20)], &["v"]), true),
            Some(Algorithm::Inplace)
        );
        assert_eq!(convert_cost(&to("utf8mb4", None), &mb3(&[("v", "varchar", 20)], &[]), false), None, "MySQL");
        let mb4 = table("utf8mb4", &[("t", "text", 0)], &["t"]);
        assert_eq!(convert_cost(&to("utf8mb4", Some("utf8mb4_unicode_ci")), &mb4, true), None, "a prefix index");
        assert!(recollation_copies(&mb4, "t"));
    }

    fn varchar(n: i64) -> ColumnType {
        ColumnType { name: "varchar".to_string(), modifiers: vec![n], array: false }
    }

    #[test]
    fn a_longer_varchar_keeps_its_length_bytes_or_not() {
        assert!(varchar_keeps_length_bytes(&varchar(20), &varchar(60), Some("utf8mb4")));
        assert!(varchar_keeps_length_bytes(&varchar(255), &varchar(768), Some("utf8mb4")));
        assert!(!varchar_keeps_length_bytes(&varchar(60), &varchar(70), Some("utf8mb4")));
        assert!(varchar_keeps_length_bytes(&varchar(31), &varchar(100), Some("utf8mb4")), "124 bytes: one byte");
        assert!(!varchar_keeps_length_bytes(&varchar(32), &varchar(100), Some("utf8mb4")));
        assert!(varchar_keeps_length_bytes(&varchar(127), &varchar(1000), Some("latin1")));
        assert!(!varchar_keeps_length_bytes(&varchar(128), &varchar(1000), Some("latin1")));
        assert!(varchar_keeps_length_bytes(&varchar(60), &varchar(70), Some("latin1")));
        assert!(!varchar_keeps_length_bytes(&varchar(60), &varchar(50), Some("latin1")), "shorter");
        // Unknown: 255 characters may be 255 bytes (latin1), 768 may be 3,072.
        assert!(!varchar_keeps_length_bytes(&varchar(255), &varchar(768), None));
        assert!(varchar_keeps_length_bytes(&varchar(300), &varchar(768), None));
        assert!(varchar_keeps_length_bytes(&varchar(10), &varchar(60), None));
        assert!(varchar_keeps_length_bytes(&varchar(31), &varchar(300), None), "at most 124 bytes");
        let named = |name: &str| ColumnType { name: name.to_string(), modifiers: Vec::new(), array: false };
        assert!(appends_members(&named("enum('a','b')"), &named("enum('a','b','c')")));
        assert!(!appends_members(&named("enum('a','b')"), &named("enum('b','a','c')")), "reordered");
        assert!(!appends_members(&named("enum('a','b')"), &named("set('a','b','c')")));
        let eight = (0..8).map(|i| format!("'m{i}'")).collect::<Vec<_>>().join(",");
        assert!(
            !appends_members(&named(&format!("set({eight})")), &named(&format!("set({eight},'x')"))),
            "9 members: 2 bytes"
        );
        let own = ColumnType { name: "varchar character set latin1".to_string(), modifiers: vec![100], array: false };
        let longer = ColumnType { modifiers: vec![200], ..own.clone() };
        assert!(varchar_keeps_length_bytes(&own, &longer, Some("utf8mb4")), "the column's own, 1 byte");
    }
}
