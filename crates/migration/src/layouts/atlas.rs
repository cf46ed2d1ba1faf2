//! Atlas's versioned migrations: a folder of `<version>[_<name>].sql` files beside `atlas.sum`,
//! the folder's integrity file. Atlas refuses to run a folder whose files do not match it (a
//! file edited, added or removed without `atlas migrate hash`), and so does cutover: the sum is
//! checked as Atlas computes it ([`atlas_sum`]) whenever the folder is read.
//!
//! Atlas runs each file in a transaction of its own, its statements one by one; a file whose
//! header says `-- atlas:txmode none` runs outside one (`NoTransactionMarker::Atlas`). There are
//! no down files: Atlas plans its `migrate down` from the database.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{finish_script, versioned, FileCandidate, Found, LayoutRules, Part, ReadContext, Recognised, Section};
use crate::directive::{NoTransactionMarker, ScriptSettings};
use crate::{Error, Layout, Migration, Version};

pub(crate) struct Atlas;

/// The folder's integrity file.
const SUM_FILE: &str = "atlas.sum";

impl LayoutRules for Atlas {
    fn name(&self) -> &'static str {
        "atlas"
    }

    fn expected_names(&self) -> &'static str {
        "`<version>_<name>.sql` or `<version>.sql` beside `atlas.sum` (Atlas)"
    }

    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        let beside_sum = file.path.parent().is_some_and(|dir| dir.join(SUM_FILE).is_file());
        let Some((version, name)) = file.sql_stem().filter(|_| beside_sum).and_then(version_and_name) else {
            return Ok(None);
        };
        Ok(Some(Recognised::Migration { version: Some(version), name, part: Part::Whole(file.take_text()?) }))
    }

    fn is_migration_name(&self, base: &str) -> bool {
        version_and_name(base).is_some()
    }

    /// Atlas orders its files by name and compares versions as text (`10` before `9`).
    fn parse_version(&self, text: &str) -> Option<Version> {
        Version::parse_lexical(text)
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Atlas]
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        if let Some(dir) = found.first().and_then(|f| f.path.parent()) {
            check_sum(dir)?;
        }
        let mut migrations = Vec::new();
        for entry in found {
            let Found { path, version: Some(version), name, part: Part::Whole(text) } = entry else { continue };
            let settings = atlas_settings(path, text)?;
            let section = Section::whole(path, text);
            let settings = section.settings(settings)?;
            let up = finish_script(path, text, section.statements()?, settings)?;
            migrations.push(versioned(version, name, Layout::Atlas, text, up));
        }
        Ok(migrations)
    }

    /// Never written: `write_new_migration` refuses, as `atlas.sum` must be written with it.
    fn new_files(&self, _dir: &Path, _version: &str, _slug: &str) -> Vec<(PathBuf, String)> {
        Vec::new()
    }

    fn new_by_its_tool(&self) -> Option<&'static str> {
        Some("write it with `atlas migrate new NAME` (or `atlas migrate diff`), which records it in atlas.sum; cutover reads it from there")
    }
}

/// `<version>_<name>` or `<version>` (digits): Atlas's names.
fn version_and_name(stem: &str) -> Option<(Version, String)> {
    let (version, name) = stem.split_once('_').unwrap_or((stem, ""));
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || name.contains('.') {
        return None;
    }
    Some((Version::parse_lexical(version)?, name.to_string()))
}

/// The file's Atlas directives, which Atlas reads only in a header of comments followed by a
/// blank line: `-- atlas:txmode none` runs it outside a transaction; a delimiter other than
/// `;` and checkpoint files are refused (cutover splits at `;`, and runs every file), and so is
/// a directive Atlas does not know (a typo would be ignored by both, silently).
fn atlas_settings(path: &Path, text: &str) -> Result<ScriptSettings, Error> {
    let mut settings = ScriptSettings::default();
    let lines: Vec<&str> = text.lines().collect();
    let header_len = lines.iter().take_while(|l| l.trim_start().starts_with("--")).count();
    let is_header = header_len > 0 && lines.get(header_len).is_some_and(|l| l.trim().is_empty());
    for (idx, line) in lines.iter().enumerate() {
        let Some(directive) =
            line.trim().strip_prefix("--").map(str::trim_start).and_then(|b| b.strip_prefix("atlas:"))
        else {
            continue;
        };
        let refuse = |message: String| Error::AtLine { path: path.to_path_buf(), line: idx + 1, message };
        let (name, value) = directive.split_once(char::is_whitespace).unwrap_or((directive, ""));
        let value = value.trim();
        if !matches!(name, "txmode" | "delimiter" | "checkpoint" | "sum" | "nolint" | "lint" | "import") {
            return Err(refuse(format!("`atlas:{name}` is not an Atlas directive (txmode, delimiter, checkpoint, sum, nolint); check its spelling")));
        }
        if idx >= header_len || !is_header {
            if matches!(name, "txmode" | "delimiter" | "checkpoint") {
                return Err(refuse(format!(
                    "`atlas:{name}` outside the file's header: Atlas reads it only in the leading comments, followed by a blank line; move it there, or add the blank line"
                )));
            }
            continue;
        }
        match name {
            "txmode" if value == "none" => settings.no_transaction(NoTransactionMarker::Atlas),
            "txmode" if value == "file" => {}
            "txmode" => {
                return Err(refuse(format!(
                    "`atlas:txmode {value}`: cutover runs each file in a transaction of its own (`file`) or, with `none`, outside one"
                )))
            }
            "delimiter" if value != ";" => {
                return Err(refuse(format!(
                    "`atlas:delimiter {value}`: cutover splits statements at `;` (with dollar quoting and BEGIN ... END bodies); write the file with `;`"
                )))
            }
            "checkpoint" => {
                return Err(refuse(
                    "a checkpoint file: Atlas runs it only on an empty database, in place of the files before it; cutover runs every file in order"
                        .to_string(),
                ))
            }
            _ => {}
        }
    }
    Ok(settings)
}

/// The hashes Atlas writes in `atlas.sum` for the `.sql` files of `dir`: each file's is the
/// running SHA-256 of every name and content up to it (so an edit shows in every later file's
/// hash), base64; a file with `-- atlas:sum ignore` adds its name only and has none. Returns
/// (file name, hash) in Atlas's order, and the sum of the whole.
pub fn atlas_sum(dir: &Path) -> Result<(Vec<(String, String)>, String), Error> {
    let io = |path: &Path, source| Error::Io { path: path.to_path_buf(), source };
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sql") && entry.path().is_file() {
            names.push(name);
        }
    }
    names.sort();
    let mut running = Sha256::new();
    let mut hashes = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        running.update(name.as_bytes());
        if sum_ignored(&bytes) {
            continue;
        }
        running.update(&bytes);
        hashes.push((name, encode(&running.clone().finalize())));
    }
    let mut total = Sha256::new();
    for (name, hash) in &hashes {
        total.update(name.as_bytes());
        total.update(hash.as_bytes());
    }
    let total = encode(&total.finalize());
    Ok((hashes, total))
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `-- atlas:sum ignore` among the file's leading comments.
fn sum_ignored(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("--"))
        .any(|l| l.trim_start_matches('-').trim() == "atlas:sum ignore")
}

/// `atlas.sum` as it is, against the files as they are.
fn check_sum(dir: &Path) -> Result<(), Error> {
    let sum_path = dir.join(SUM_FILE);
    let text = crate::discover::read_text(&sum_path)?;
    let at = |line: usize, message: String| Error::AtLine { path: sum_path.clone(), line, message };
    let mut lines = text.lines();
    let Some(recorded_total) = lines.next().and_then(|l| l.strip_prefix("h1:")) else {
        return Err(at(
            1,
            "the first line is not `h1:<sum>`: not an atlas.sum Atlas wrote; run `atlas migrate hash`".to_string(),
        ));
    };
    let mut recorded: Vec<(usize, String, String)> = Vec::new();
    for (idx, line) in lines.enumerate() {
        let Some((name, hash)) = line.split_once(" h1:") else {
            return Err(at(idx + 2, "a line that is not `<file> h1:<hash>`; run `atlas migrate hash`".to_string()));
        };
        recorded.push((idx + 2, name.trim().to_string(), hash.trim().to_string()));
    }
    let (actual, actual_total) = atlas_sum(dir)?;
    let fix = "Atlas refuses the folder too; if the change is meant, run `atlas migrate hash` (never edit a migration that was applied: add one)";
    for (line, name, hash) in &recorded {
        match actual.iter().find(|(n, _)| n == name) {
            None => {
                return Err(at(
                    *line,
                    format!("`{name}` is in atlas.sum but not in the folder: it was removed or renamed; {fix}"),
                ))
            }
            Some((_, now)) if now != hash => {
                return Err(at(
                    *line,
                    format!("`{name}` (or a file before it) changed since atlas.sum was written; {fix}"),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some((name, _)) = actual.iter().find(|(n, _)| !recorded.iter().any(|(_, r, _)| r == n)) {
        return Err(at(1, format!("`{name}` is not in atlas.sum: it was added without `atlas migrate hash`; {fix}")));
    }
    if actual_total != recorded_total.trim() {
        return Err(at(
            1,
            format!("the sum of atlas.sum's lines is not its first line: the file was edited by hand; {fix}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::testing::summary;

    const CREATE: &str =
        "-- Create \"users\" table\nCREATE TABLE \"users\" (\"id\" bigint NOT NULL, PRIMARY KEY (\"id\"));\n";
    const INDEX: &str = "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY \"users_id\" ON \"users\" (\"id\");\n";

    /// Writes `files` and the atlas.sum Atlas would write for them.
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (hashes, total) = atlas_sum(dir.path()).unwrap();
        let mut sum = format!("h1:{total}\n");
        for (name, hash) in hashes {
            sum.push_str(&format!("{name} h1:{hash}\n"));
        }
        std::fs::write(dir.path().join(SUM_FILE), sum).unwrap();
        dir
    }

    /// The algorithm, against a sum computed independently (Python's hashlib, from Atlas's
    /// `NewHashFile`: a running SHA-256 of names and contents).
    #[test]
    fn sums_are_atlas() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("20240101000000_create.sql"), CREATE).unwrap();
        std::fs::write(dir.path().join("20240102000000.sql"), INDEX).unwrap();
        let (hashes, total) = atlas_sum(dir.path()).unwrap();
        assert_eq!(
            hashes,
            [
                ("20240101000000_create.sql".to_string(), "KLj82v0EdGe+KYnTQxgO0fEqfEDZwZEhiBYvAp8JQ6c=".to_string()),
                ("20240102000000.sql".to_string(), "ggAhTHTTIceWpKtkqaMDbo1rR5i89ACq9Kq5a0Dyd24=".to_string()),
            ]
        );
        assert_eq!(total, "wc+c2UtSQ7NAayDnsBDGbj1S9/1itik4ezz55+i9aio=");
    }

    #[test]
    fn files_beside_their_sum() {
        let dir = folder(&[("20240101000000_create.sql", CREATE), ("20240102000000.sql", INDEX)]);
        let set = crate::discover(dir.path(), None).unwrap();
        // Atlas's order is the names' (`10` before `9`), and so is cutover's.
        let order = folder(&[("1.sql", "SELECT 1;\n"), ("10.sql", "SELECT 10;\n"), ("2.sql", "SELECT 2;\n")]);
        let labels: Vec<String> =
            crate::discover(order.path(), None).unwrap().migrations.iter().map(|m| m.label()).collect();
        assert_eq!(labels, ["1", "10", "2"]);
        assert_eq!(set.layout, Layout::Atlas);
        assert_eq!(
            summary(&set),
            [
                "20240101000000 create tx=true up=[CREATE TABLE \"users\" (\"id\" bigint NOT NULL, PRIMARY KEY (\"id\"))@2] down=None",
                "20240102000000 tx=false up=[CREATE INDEX CONCURRENTLY \"users_id\" ON \"users\" (\"id\")@3] down=None",
            ]
        );
        assert_eq!(set.migrations[1].up.settings.no_transaction_by, Some(NoTransactionMarker::Atlas));
    }

    #[test]
    fn a_folder_that_does_not_match_its_sum_is_refused() {
        let dir = folder(&[("1_a.sql", "SELECT 1;\n"), ("2_b.sql", "SELECT 2;\n")]);
        std::fs::write(dir.path().join("1_a.sql"), "SELECT 10;\n").unwrap();
        let err = crate::discover(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("atlas.sum:2") && err.contains("`1_a.sql` (or a file before it) changed"), "{err}");
        let dir = folder(&[("1_a.sql", "SELECT 1;\n")]);
        std::fs::write(dir.path().join("2_b.sql"), "SELECT 2;\n").unwrap();
        let err = crate::discover(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("`2_b.sql` is not in atlas.sum"), "{err}");
        let dir = folder(&[("1_a.sql", "SELECT 1;\n"), ("2_b.sql", "SELECT 2;\n")]);
        std::fs::remove_file(dir.path().join("2_b.sql")).unwrap();
        let err = crate::discover(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("atlas.sum:3") && err.contains("not in the folder"), "{err}");
        // A file that asks to be left out of the sum may change.
        let dir = folder(&[("1_a.sql", "-- atlas:sum ignore\nSELECT 1;\n"), ("2_b.sql", "SELECT 2;\n")]);
        std::fs::write(dir.path().join("1_a.sql"), "-- atlas:sum ignore\nSELECT 11;\n").unwrap();
        assert!(crate::discover(dir.path(), None).is_ok());
    }

    #[test]
    fn directives_cutover_cannot_follow_are_refused_with_their_line() {
        for (text, expected) in [
            ("-- atlas:delimiter \\n\\n\n\nSELECT 1\n", "atlas:delimiter"),
            ("-- atlas:checkpoint\n\nSELECT 1;\n", "checkpoint"),
            ("-- atlas:txmode all\n\nSELECT 1;\n", "txmode all"),
            ("-- atlas:txmod none\n\nSELECT 1;\n", "not an Atlas directive"),
            ("-- atlas:txmode none\nSELECT 1;\n", "followed by a blank line"),
        ] {
            let dir = folder(&[("1_a.sql", text)]);
            let err = crate::discover(dir.path(), None).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
