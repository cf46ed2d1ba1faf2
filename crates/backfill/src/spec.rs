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
}

impl BackfillSpec {
    /// A spec named `name`, or, without one, `<table>_<hash>` of its definition, so that the
    /// same command line resumes the same backfill.
    pub fn new(name: Option<String>, table: &str, set: &str, condition: Option<&str>) -> BackfillSpec {
        let name = name.unwrap_or_else(|| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in format!("{table}\0{set}\0{}", condition.unwrap_or("")).bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            let table_part: String = table.chars().map(|c| if c.is_alphanumeric() { c } else { '_' }).collect();
            format!("{table_part}_{:08x}", hash as u32)
        });
        BackfillSpec { name, table: table.to_string(), set: set.to_string(), condition: condition.map(str::to_string) }
    }
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
    fn derived_names_are_stable_and_differ_by_definition() {
        let a = BackfillSpec::new(None, "public.users", "x = 1", None);
        assert_eq!(a, BackfillSpec::new(None, "public.users", "x = 1", None));
        assert!(a.name.starts_with("public_users_"), "{}", a.name);
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
