//! What to backfill: given on the command line, or declared in a TOML file beside the SQL
//! migrations, so that a deploy's data change is reviewed with its schema change.
//!
//! ```toml
//! # migrations/20250331090000_customers_display_name.toml
//! [[backfill]]
//! name = "customers_display_name"
//! table = "customers"
//! set = "display_name = name"
//! where = "display_name IS NULL"
//! ```
//!
//! The expand/contract operations declare their backfills in the same files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One backfill: `UPDATE table SET set WHERE condition`, in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillSpec {
    /// Names the checkpoint, so that a rerun resumes.
    pub name: String,
    /// The table, optionally schema-qualified.
    pub table: String,
    /// The assignments.
    pub set: String,
    /// The rows still to do; `None`: every row.
    pub condition: Option<String>,
    /// For a derived name: the name an older cutover derived from the same command line (from
    /// its text as written), under which a backfill it started may be waiting to resume.
    pub legacy_name: Option<String>,
    /// Copy the rows into another table instead of updating them (an online rewrite's copy);
    /// `set` then describes the copy.
    pub copy_into: Option<cutover_engine::CopyInto>,
}

impl BackfillSpec {
    /// A spec named `name`, or, without one, `<table>_<hash>` of its definition, so that the
    /// same command line resumes the same backfill.
    pub fn new(name: Option<String>, table: &str, set: &str, condition: Option<&str>) -> BackfillSpec {
        let derive = |table: &str, set: &str, condition: &str| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in format!("{table}\0{set}\0{condition}").bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            let table_part: String = table.chars().map(|c| if c.is_alphanumeric() { c } else { '_' }).collect();
            format!("{table_part}_{:08x}", hash as u32)
        };
        let (name, legacy_name) = match name {
            Some(name) => (name, None),
            None => {
                // One backfill however it is spelled: `n=n+1` is `n = n + 1`, `T` is `t`,
                // `public.t` is `t`. A second spelling would start it again from the first key.
                let table_normal = normalize_sql(table);
                let table_normal = table_normal.strip_prefix("public.").unwrap_or(&table_normal).to_string();
                let name =
                    derive(&table_normal, &normalize_sql(set), &condition.map(normalize_sql).unwrap_or_default());
                let legacy = derive(table, set, condition.unwrap_or(""));
                (name.clone(), (legacy != name).then_some(legacy))
            }
        };
        BackfillSpec {
            name,
            table: table.to_string(),
            set: set.to_string(),
            condition: condition.map(str::to_string),
            legacy_name,
            copy_into: None,
        }
    }
}

/// The columns a `SET` list assigns (`a = 1, "B" = f(x, y), (c, d) = (1, 2)`): unquoted names in
/// lower case, quoted ones as written.
pub fn assigned_columns(set: &str) -> Vec<String> {
    let mut items = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    for (idx, c) in set.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                items.push(&set[start..idx]);
                start = idx + 1;
            }
            _ => {}
        }
    }
    items.push(&set[start..]);
    let mut columns = Vec::new();
    for item in items {
        let (target, value) = item.split_once('=').unwrap_or((item, ""));
        let target = target.trim();
        // `id = id` touches the row and moves nothing.
        if normalize_sql(target) == normalize_sql(value) {
            continue;
        }
        let target = target.trim_start_matches('(').trim_end_matches(')');
        for name in target.split(',') {
            let name = name.trim();
            // `t.col` may be written in some dialects: the column is the last part.
            let name = name.rsplit('.').next().unwrap_or(name);
            if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                columns.push(quoted.replace("\"\"", "\""));
            } else if let Some(quoted) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
                columns.push(quoted.to_string());
            } else if !name.is_empty() {
                columns.push(name.to_lowercase());
            }
        }
    }
    columns
}

/// SQL text as a comparison should see it: white space outside quotes collapsed (and gone
/// beside punctuation), unquoted words in lower case; quoted text as written.
pub fn normalize_sql(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.trim().chars().peekable();
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            if pending_space && out.ends_with(|p: char| p.is_alphanumeric() || p == '_') {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
            for q in chars.by_ref() {
                out.push(q);
                if q == c {
                    break;
                }
            }
            continue;
        }
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        let word = c.is_alphanumeric() || c == '_';
        if pending_space && word && out.ends_with(|p: char| p.is_alphanumeric() || p == '_') {
            out.push(' ');
        }
        pending_space = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// A declared backfill that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not a valid declaration.
    #[error("`{}` is not a valid backfill declaration: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// No declaration has the name asked for.
    #[error("no backfill named `{name}` is declared in `{}` ({known}); declare it in a .toml file there, or give --table and --set", dir.display())]
    NotFound {
        /// The name asked for.
        name: String,
        /// The directory searched.
        dir: PathBuf,
        /// The names that are declared.
        known: String,
    },
    /// Two declarations share a name.
    #[error("backfill `{name}` is declared twice: in `{}` and `{}`", first.display(), second.display())]
    Duplicate {
        /// The name.
        name: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    backfill: Vec<Declared>,
    /// Expand/contract operations live in the same files; they are not read here.
    #[serde(default)]
    #[allow(dead_code)]
    operations: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declared {
    name: String,
    table: String,
    set: String,
    #[serde(rename = "where")]
    condition: Option<String>,
}

/// Every backfill declared in the `.toml` files of `dir`, with the file that declares it.
pub fn declared_backfills(dir: &Path) -> Result<Vec<(BackfillSpec, PathBuf)>, SpecError> {
    let mut found: Vec<(BackfillSpec, PathBuf)> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| SpecError::Io { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.file_name().is_some_and(|n| n != "cutover.toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| SpecError::Io { path: path.clone(), source })?;
        let file: File = toml::from_str(&text)
            .map_err(|err| SpecError::Invalid { path: path.clone(), message: err.to_string().trim().to_string() })?;
        for declared in file.backfill {
            if let Some((_, first)) = found.iter().find(|(spec, _)| spec.name == declared.name) {
                return Err(SpecError::Duplicate { name: declared.name, first: first.clone(), second: path });
            }
            let spec =
                BackfillSpec::new(Some(declared.name), &declared.table, &declared.set, declared.condition.as_deref());
            found.push((spec, path.clone()));
        }
    }
    Ok(found)
}

/// The declared backfill named `name`.
pub fn find_declared(dir: &Path, name: &str) -> Result<BackfillSpec, SpecError> {
    let declared = declared_backfills(dir)?;
    let known: Vec<&str> = declared.iter().map(|(spec, _)| spec.name.as_str()).collect();
    let known =
        if known.is_empty() { "none is declared".to_string() } else { format!("declared: {}", known.join(", ")) };
    declared
        .iter()
        .find(|(spec, _)| spec.name == name)
        .map(|(spec, _)| spec.clone())
        .ok_or_else(|| SpecError::NotFound { name: name.to_string(), dir: dir.to_path_buf(), known })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_columns_are_read_from_the_set_list() {
        assert_eq!(assigned_columns("id = id + 20000, n = n + 1"), ["id", "n"]);
        assert_eq!(assigned_columns("\"Id\" = f(a, b), s = 'x,y=z'"), ["Id", "s"]);
        assert_eq!(assigned_columns("(a, B) = (1, 2)"), ["a", "b"]);
        assert_eq!(assigned_columns("`k` = 1"), ["k"]);
        assert_eq!(assigned_columns("id = id, n = 1"), ["n"], "a column set to itself moves nothing");
    }

    #[test]
    fn derived_names_are_one_however_it_is_spelled() {
        let name =
            |table: &str, set: &str, condition: Option<&str>| BackfillSpec::new(None, table, set, condition).name;
        let one = name("t", "n = n + 1", Some("n < 100"));
        assert_eq!(name("t", "n=n+1", Some("n<100")), one);
        assert_eq!(name("T", "N = N + 1", Some("n  <\t100")), one);
        assert_eq!(name("public.t", "n = n + 1", Some("n < 100")), one);
        assert_ne!(name("t", "n = n + 2", Some("n < 100")), one);
        assert_ne!(name("t", "s = 'A'", None), name("t", "s = 'a'", None), "quoted text is kept as written");
        assert_eq!(normalize_sql("a  AND   b"), "a and b");
        // The name an older cutover derived, to resume what it started.
        let spec = BackfillSpec::new(None, "t", "n = n + 1", Some("n < 100"));
        assert!(spec.legacy_name.is_some_and(|legacy| legacy != spec.name));
    }

    #[test]
    fn derived_names_are_stable_and_differ_by_definition() {
        let a = BackfillSpec::new(None, "public.users", "x = 1", None);
        assert_eq!(a, BackfillSpec::new(None, "public.users", "x = 1", None));
        assert!(a.name.starts_with("users_"), "{}", a.name);
        assert_ne!(a.name, BackfillSpec::new(None, "public.users", "x = 2", None).name);
        assert_eq!(BackfillSpec::new(Some("mine".into()), "t", "x = 1", None).name, "mine");
    }

    #[test]
    fn declarations_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("1_names.toml"),
            "[[backfill]]\nname = \"full_name\"\ntable = \"users\"\nset = \"full_name = first || ' ' || last\"\nwhere = \"full_name IS NULL\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("1_names.up.sql"), "ALTER TABLE users ADD full_name text;").unwrap();
        let spec = find_declared(dir.path(), "full_name").unwrap();
        assert_eq!(spec.condition.as_deref(), Some("full_name IS NULL"));
        let missing = find_declared(dir.path(), "nope").unwrap_err().to_string();
        assert!(missing.contains("declared: full_name"), "{missing}");

        std::fs::write(
            dir.path().join("2_dup.toml"),
            "[[backfill]]\nname = \"full_name\"\ntable = \"t\"\nset = \"a = 1\"\n",
        )
        .unwrap();
        assert!(matches!(declared_backfills(dir.path()), Err(SpecError::Duplicate { .. })));
        std::fs::write(dir.path().join("2_dup.toml"), "[[backfill]]\nname = \"x\"\ntable = \"t\"\nsett = \"a = 1\"\n")
            .unwrap();
        let invalid = declared_backfills(dir.path()).unwrap_err().to_string();
        assert!(invalid.contains("2_dup.toml") && invalid.contains("sett"), "{invalid}");
    }
}
