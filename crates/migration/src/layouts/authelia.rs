//! Authelia's storage migrations: `V<version>.<Name>.up.sql` and `.down.sql`, one folder per
//! engine (`postgres/`, `mysql/`, `sqlite/`) beside each other. A folder is read for the URL's
//! engine, as Authelia picks its provider's folder; the other engines' files are listed as passed
//! over. Authelia sends each file as one query inside the transaction of its run; cutover runs
//! each file in a transaction of its own.

use std::path::{Path, PathBuf};

use super::native::read_file_pairs;
use super::{FileCandidate, Found, LayoutRules, Part, ReadContext, Recognised};
use crate::scaffold::{DOWN_HINT, UP_HINT};
use crate::{Dialect, Error, Ignored, Layout, Migration, Version};

pub(crate) struct Authelia;

/// The engine folders Authelia keeps.
const ENGINES: [(&str, Dialect); 3] =
    [("postgres", Dialect::Postgres), ("mysql", Dialect::Mysql), ("sqlite", Dialect::Sqlite)];

impl LayoutRules for Authelia {
    fn name(&self) -> &'static str {
        "authelia"
    }

    fn expected_names(&self) -> &'static str {
        "`V<version>.<Name>.up.sql` and `.down.sql`, in `postgres/`, `mysql/` and `sqlite/` (Authelia)"
    }

    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        Ok(file.sql_stem().and_then(parse_name).map(|(version, name, up)| Recognised::Migration {
            version: Some(version),
            name,
            part: if up { Part::Up } else { Part::Down },
        }))
    }

    fn is_migration_name(&self, base: &str) -> bool {
        base.strip_prefix('V').is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Authelia]
    }

    fn reads_subfolders(&self) -> bool {
        true
    }

    fn read(&self, found: &[Found], context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        let dialect = context.dialect.unwrap_or_default();
        let engine_of = |path: &Path| {
            let folder = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
            ENGINES.iter().find(|(name, _)| folder.as_deref() == Some(*name)).map(|(_, d)| *d)
        };
        // One engine's folder named alone is read whole, whatever the URL's engine.
        let one_folder = found.windows(2).all(|w| w[0].path.parent() == w[1].path.parent());
        let mut ours = Vec::new();
        for entry in found {
            match engine_of(&entry.path) {
                Some(engine) if engine != dialect && !one_folder => {
                    // One line for the folder, not one a file.
                    let folder = entry.path.parent().unwrap_or(&entry.path).to_path_buf();
                    if !context.ignored.iter().any(|i| i.path == folder) {
                        context.ignored.push(Ignored {
                            path: folder,
                            reason: format!(
                                "another engine's migrations: Authelia runs `{}/` on {}",
                                ENGINES.iter().find(|(_, d)| *d == dialect).map_or("", |(n, _)| n),
                                dialect.name()
                            ),
                            refused_by_up: false,
                        });
                    }
                }
                _ => ours.push(Found {
                    path: entry.path.clone(),
                    version: entry.version.clone(),
                    name: entry.name.clone(),
                    part: match entry.part {
                        Part::Up => Part::Up,
                        Part::Down => Part::Down,
                        _ => continue,
                    },
                }),
            }
        }
        read_file_pairs(Layout::Authelia, &ours)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        vec![
            (dir.join(format!("V{version}.{slug}.up.sql")), UP_HINT.to_string()),
            (dir.join(format!("V{version}.{slug}.down.sql")), DOWN_HINT.to_string()),
        ]
    }
}

/// `V0001.Initial_Schema.up` → (1, `Initial_Schema`, up).
fn parse_name(stem: &str) -> Option<(Version, String, bool)> {
    let (base, up) = match (stem.strip_suffix(".up"), stem.strip_suffix(".down")) {
        (Some(base), _) => (base, true),
        (_, Some(base)) => (base, false),
        _ => return None,
    };
    let (version, name) = base.strip_prefix('V')?.split_once('.')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() || name.contains('.') {
        return None;
    }
    Some((Version::parse(version)?, name.to_string(), up))
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::summary;
    use crate::{discover_for, Dialect, Layout};

    #[test]
    fn each_engine_reads_its_own_folder() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("postgres/V0001.Initial_Schema.up.sql", "CREATE TABLE a (id serial);\n"),
            ("postgres/V0001.Initial_Schema.down.sql", "DROP TABLE a;\n"),
            ("postgres/V0002.More.up.sql", "ALTER TABLE a ADD COLUMN b int;\n"),
            ("mysql/V0001.Initial_Schema.up.sql", "CREATE TABLE a (id int AUTO_INCREMENT PRIMARY KEY);\n"),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let set = discover_for(dir.path(), None, Some(Dialect::Postgres)).unwrap();
        assert_eq!(set.layout, Layout::Authelia);
        assert_eq!(
            summary(&set),
            [
                "0001 Initial_Schema tx=true up=[CREATE TABLE a (id serial)@1] down=Some(\"DROP TABLE a\")",
                "0002 More tx=true up=[ALTER TABLE a ADD COLUMN b int@1] down=None",
            ]
        );
        assert_eq!(set.ignored.len(), 1, "one line for the mysql folder");
        let set = discover_for(dir.path(), None, Some(Dialect::Mysql)).unwrap();
        assert_eq!(set.migrations.len(), 1);
        assert_eq!(set.ignored.len(), 1);
        // One engine's folder named alone is read whole.
        let set = discover_for(&dir.path().join("mysql"), None, Some(Dialect::Postgres)).unwrap();
        assert_eq!(set.migrations.len(), 1);
    }
}
