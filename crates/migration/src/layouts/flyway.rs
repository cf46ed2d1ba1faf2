//! Flyway: `V<version>__<description>.sql`, its undo `U<version>__<description>.sql`, and
//! repeatable `R__<description>.sql`, in subfolders too; `<file>.sql.conf` beside a script
//! holds its settings.

use std::path::{Path, PathBuf};

use super::{script_from_file, FileCandidate, Found, LayoutRules, Part, ReadContext, Recognised};
use crate::checksum::Checksum;
use crate::directive::{NoTransactionMarker, ScriptSettings};
use crate::discover::read_text;
use crate::scaffold::{DOWN_HINT, UP_HINT};
use crate::{Error, Layout, Migration, MigrationKind, Version};

pub(crate) struct Flyway;

impl LayoutRules for Flyway {
    fn name(&self) -> &'static str {
        "flyway"
    }

    fn expected_names(&self) -> &'static str {
        "`V<version>__<description>.sql`, `U<version>__<description>.sql` or `R__<description>.sql`"
    }

    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        Ok(file.sql_stem().and_then(parse_flyway_name))
    }

    fn is_migration_name(&self, base: &str) -> bool {
        parse_flyway_name(base).is_some()
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Flyway]
    }

    fn reads_subfolders(&self) -> bool {
        true
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        let mut migrations = Vec::new();
        let mut undos = Vec::new();
        for entry in found {
            match entry.part {
                Part::Down => {
                    if let Some(version) = &entry.version {
                        undos.push((version, entry.path.as_path()));
                    }
                    continue;
                }
                Part::Up => {}
                Part::Whole(_) | Part::Folder => continue,
            }
            let text = read_text(&entry.path)?;
            let script = script_from_file(&entry.path, &text, flyway_conf(&entry.path)?)?;
            migrations.push(Migration {
                version: entry.version.clone(),
                name: entry.name.clone(),
                kind: if entry.version.is_some() { MigrationKind::Versioned } else { MigrationKind::Repeatable },
                layout: Layout::Flyway,
                checksum: Checksum::of_normalized(&text),
                up: script,
                down: None,
            });
        }
        for (version, path) in undos {
            let Some(migration) = migrations.iter_mut().find(|m| m.version.as_ref() == Some(version)) else {
                return Err(Error::OrphanDown { path: path.to_path_buf(), version: version.to_string() });
            };
            let text = read_text(path)?;
            migration.down = Some(script_from_file(path, &text, flyway_conf(path)?)?);
        }
        Ok(migrations)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        vec![
            (dir.join(format!("V{version}__{slug}.sql")), UP_HINT.to_string()),
            (dir.join(format!("U{version}__{slug}.sql")), DOWN_HINT.to_string()),
        ]
    }
}

/// `V1_2__desc`, `U1_2__desc`, `R__desc`.
fn parse_flyway_name(stem: &str) -> Option<Recognised> {
    let (prefix, rest) = stem.split_at_checked(1)?;
    let (version_text, description) = rest.split_once("__")?;
    if description.is_empty() {
        return None;
    }
    let name = description.replace('_', " ");
    let (version, part) = match prefix {
        "V" => (Some(Version::parse(version_text)?), Part::Up),
        "U" => (Some(Version::parse(version_text)?), Part::Down),
        "R" if version_text.is_empty() => (None, Part::Up),
        _ => return None,
    };
    Some(Recognised::Migration { version, name, part })
}

/// Flyway's per-script `<file>.sql.conf`: `executeInTransaction=false` disables the transaction.
fn flyway_conf(script_path: &Path) -> Result<ScriptSettings, Error> {
    let mut settings = ScriptSettings::default();
    let mut conf_path = script_path.as_os_str().to_owned();
    conf_path.push(".conf");
    let conf_path = PathBuf::from(conf_path);
    if !conf_path.exists() {
        return Ok(settings);
    }
    let text = read_text(&conf_path)?;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "executeInTransaction" {
            match value.trim() {
                "true" => settings.in_transaction(),
                "false" => settings.no_transaction(NoTransactionMarker::Flyway),
                other => {
                    return Err(Error::Metadata {
                        path: conf_path,
                        message: format!("executeInTransaction must be true or false, not `{other}`"),
                    })
                }
            };
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    #[test]
    fn flyway_versions_subfolders_undo_repeatable_and_conf() {
        let (_dir, res) = read(
            &[
                ("V1__init.sql", "CREATE TABLE t (a int);"),
                ("release2/V1_1__add_b.sql", "ALTER TABLE t ADD b int;"),
                ("release2/V1_1__add_b.sql.conf", "executeInTransaction=false\n"),
                ("U1__init.sql", "DROP TABLE t;"),
                ("R__view_t.sql", "CREATE OR REPLACE VIEW v AS SELECT a FROM t;"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Flyway);
        assert_eq!(
            summary(&set),
            [
                "1 init tx=true up=[CREATE TABLE t (a int)@1] down=Some(\"DROP TABLE t\")",
                "1.1 add b tx=false up=[ALTER TABLE t ADD b int@1] down=None",
                "R view t tx=true up=[CREATE OR REPLACE VIEW v AS SELECT a FROM t@1] down=None",
            ]
        );
        let by: Vec<_> = set.migrations.iter().map(|m| m.up.settings.no_transaction_by).collect();
        assert_eq!(by, [None, Some(crate::NoTransactionMarker::Flyway), None], "whose directive it is");
    }
}
