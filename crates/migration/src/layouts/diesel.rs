//! diesel: a folder `<version>_<name>/` a migration, holding `up.sql`, `down.sql` and an
//! optional `metadata.toml` (`run_in_transaction = false`). Versions compare as text.

use std::path::{Path, PathBuf};

use super::{present, script_from_file, versioned, Found, LayoutRules, Part, ReadContext, Recognised};
use crate::directive::{NoTransactionMarker, ScriptSettings};
use crate::discover::{near_miss, read_text, visible_children, NearMiss};
use crate::scaffold::{DOWN_HINT, UP_HINT};
use crate::{Error, Ignored, Layout, Migration, Version};

pub(crate) struct Diesel;

impl LayoutRules for Diesel {
    fn name(&self) -> &'static str {
        "diesel"
    }

    fn expected_names(&self) -> &'static str {
        "folders `<version>_<name>/` holding `up.sql` and `down.sql`"
    }

    fn parse_version(&self, text: &str) -> Option<Version> {
        Version::parse_lexical(text)
    }

    /// `2019-05-14-123456_name` or `00000000000000_name` holding `up.sql` or `down.sql`.
    fn recognise_folder(
        &self,
        folder: &Path,
        name: &str,
        ignored: &mut Vec<Ignored>,
    ) -> Result<Option<Recognised>, Error> {
        let Some((version, name)) = self.parse_dir_name(name) else {
            return Ok(None);
        };
        if !present(&folder.join("up.sql")) && !present(&folder.join("down.sql")) {
            return Ok(None);
        }
        // Prisma's folder, with the down.sql Prisma's guide writes beside migration.sql (or
        // without its script, which Prisma's layout reports).
        let beside_prisma_lock = folder.parent().is_some_and(|p| p.join("migration_lock.toml").is_file());
        if beside_prisma_lock || (present(&folder.join("migration.sql")) && !present(&folder.join("up.sql"))) {
            return Ok(None);
        }
        check_folder(folder, ignored)?;
        Ok(Some(Recognised::Migration { version: Some(version), name, part: Part::Folder }))
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Diesel]
    }

    fn passes_over_others(&self) -> Option<&'static str> {
        // crates.io keeps a data script beside its migration folders: say so rather than fail
        // or skip it silently.
        Some("diesel reads only migration folders, not loose files beside them")
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        let mut migrations = Vec::new();
        for entry in found {
            let Found { path: folder, version: Some(version), name, part: Part::Folder } = entry else {
                continue;
            };
            let mut base = ScriptSettings::default();
            let metadata_path = folder.join("metadata.toml");
            if metadata_path.exists() {
                let text = read_text(&metadata_path)?;
                let metadata: DieselMetadata = toml::from_str(&text)
                    .map_err(|err| Error::Metadata { path: metadata_path.clone(), message: err.to_string() })?;
                if metadata.run_in_transaction == Some(false) {
                    base.no_transaction(NoTransactionMarker::Diesel);
                }
            }
            let up_path = folder.join("up.sql");
            if !up_path.exists() {
                return Err(Error::OrphanDown { path: folder.join("down.sql"), version: version.to_string() });
            }
            let up_text = read_text(&up_path)?;
            let up = script_from_file(&up_path, &up_text, base)?;
            let down_path = folder.join("down.sql");
            let down = match down_path.exists() {
                true => Some(script_from_file(&down_path, &read_text(&down_path)?, base)?),
                false => None,
            };
            let mut migration = versioned(version, name, Layout::Diesel, &up_text, up);
            migration.down = down;
            migrations.push(migration);
        }
        Ok(migrations)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        let folder = dir.join(format!("{version}_{slug}"));
        vec![(folder.join("up.sql"), UP_HINT.to_string()), (folder.join("down.sql"), DOWN_HINT.to_string())]
    }
}

impl Diesel {
    /// The version is the text before the first `_` with `-` removed.
    fn parse_dir_name(&self, dir_name: &str) -> Option<(Version, String)> {
        let (version_text, name) = dir_name.split_once('_')?;
        let digits: String = version_text.chars().filter(|&c| c != '-').collect();
        if name.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((self.parse_version(&digits)?, name.to_string()))
    }
}

/// The files of a migration folder beside `up.sql`, `down.sql` and `metadata.toml`: a near
/// miss of those names is an error, another SQL file is listed.
fn check_folder(dir: &Path, ignored: &mut Vec<Ignored>) -> Result<(), Error> {
    for (path, file_name) in visible_children(dir)? {
        if matches!(file_name.as_str(), "up.sql" | "down.sql" | "metadata.toml") {
            continue;
        }
        let lower = file_name.trim().to_ascii_lowercase();
        match near_miss(&file_name) {
            Some(NearMiss::Misnamed { problem, rename_to }) => {
                return Err(Error::Misnamed { files: vec![(path, problem, rename_to)] });
            }
            Some(NearMiss::Unused(reason)) => ignored.push(Ignored { path, reason, refused_by_up: false }),
            None if lower == "up.sql" || lower == "down.sql" => {
                return Err(Error::Misnamed {
                    files: vec![(path, "diesel reads `up.sql` and `down.sql`, in lower case", lower)],
                });
            }
            None if file_name.ends_with(".sql") => ignored.push(Ignored {
                path,
                reason: "diesel reads only `up.sql` and `down.sql` in a migration folder".to_string(),
                refused_by_up: false,
            }),
            None => {}
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct DieselMetadata {
    run_in_transaction: Option<bool>,
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    #[test]
    fn diesel_folders_with_metadata() {
        let (_dir, res) = read(
            &[
                ("2019-05-14-123456_create_t/up.sql", "CREATE TABLE t (a int);"),
                ("2019-05-14-123456_create_t/down.sql", "DROP TABLE t;"),
                ("2019-05-15-000000_index/up.sql", "CREATE INDEX CONCURRENTLY i ON t (a);"),
                ("2019-05-15-000000_index/metadata.toml", "run_in_transaction = false\n"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Diesel);
        assert_eq!(
            summary(&set),
            [
                "20190514123456 create_t tx=true up=[CREATE TABLE t (a int)@1] down=Some(\"DROP TABLE t\")",
                "20190515000000 index tx=false up=[CREATE INDEX CONCURRENTLY i ON t (a)@1] down=None",
            ]
        );
        let by: Vec<_> = set.migrations.iter().map(|m| m.up.settings.no_transaction_by).collect();
        assert_eq!(by, [None, Some(crate::NoTransactionMarker::Diesel)], "whose directive it is");
    }

    /// lemmy's 1.0: a release's migrations renumbered as a counter after midnight of one day
    /// (`-000066` is no time of day) are one change; real times are changes of their own.
    #[test]
    fn a_release_renumbered_as_a_counter_is_one_change() {
        let (_dir, res) = read(
            &[
                ("00000000000000_diesel_initial_setup/up.sql", "SELECT 1;"),
                ("2025-08-01-000017_create_t/up.sql", "CREATE TABLE t (a int);"),
                ("2025-08-01-000066_index/up.sql", "CREATE INDEX i ON t (a);"),
                ("2025-08-02-000001_other/up.sql", "SELECT 1;"),
                ("2025-10-08-084508_later/up.sql", "SELECT 1;"),
                ("2025-10-09-084508-0000_newer/up.sql", "SELECT 1;"),
            ],
            None,
        );
        let set = res.unwrap();
        let changes: Vec<Option<&str>> = set.migrations.iter().map(|m| m.change()).collect();
        assert_eq!(changes, [None, Some("20250801"), Some("20250801"), Some("20250802"), None, None]);
    }

    #[test]
    fn loose_files_beside_diesel_folders_are_ignored_and_listed() {
        let (_dir, res) =
            read(&[("2019-01-01-000000_a/up.sql", "SELECT 1;"), ("data_seed.sql", "INSERT INTO t VALUES (1);")], None);
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Diesel);
        assert_eq!(set.migrations.len(), 1);
        assert_eq!(set.ignored.len(), 1);
        assert!(set.ignored[0].path.ends_with("data_seed.sql"));
    }
}
