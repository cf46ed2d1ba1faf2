//! cutover's own layout: `<version>_<name>.up.sql`, with an optional `<version>_<name>.down.sql`.
//!
//! golang-migrate and sqlx name their files the same way and read them with [`read_file_pairs`].

use std::path::{Path, PathBuf};

use super::{
    parse_version_name, script_from_file, versioned, FileCandidate, Found, LayoutRules, Part, ReadContext, Recognised,
};
use crate::directive::ScriptSettings;
use crate::discover::read_text;
use crate::scaffold::{DOWN_HINT, UP_HINT};
use crate::{Error, Layout, Migration, Version};

pub(crate) struct Native;

impl LayoutRules for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn expected_names(&self) -> &'static str {
        PAIR_NAMES
    }

    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        Ok(file.sql_stem().and_then(parse_pair_name).map(|(version, name, up)| Recognised::Migration {
            version: Some(version),
            name,
            part: if up { Part::Up } else { Part::Down },
        }))
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Native]
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        read_file_pairs(Layout::Native, found)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        pair_files(dir, version, slug)
    }
}

/// The names of up and down files, for messages.
pub(crate) const PAIR_NAMES: &str = "`<version>_<name>.up.sql` and `<version>_<name>.down.sql`";

/// `<version>_<name>.up` or `<version>_<name>.down`.
fn parse_pair_name(stem: &str) -> Option<(Version, String, bool)> {
    let (base, up) = match (stem.strip_suffix(".up"), stem.strip_suffix(".down")) {
        (Some(base), _) => (base, true),
        (_, Some(base)) => (base, false),
        _ => return None,
    };
    let (version, name) = parse_version_name(base)?;
    Some((version, name, up))
}

/// Up files (and whole files, read as up scripts) with the down files of the same version.
pub(crate) fn read_file_pairs(layout: Layout, found: &[Found]) -> Result<Vec<Migration>, Error> {
    let mut ups: Vec<Migration> = Vec::new();
    let mut downs: Vec<(&Version, &Path)> = Vec::new();
    for entry in found {
        let Some(version) = &entry.version else {
            continue;
        };
        match &entry.part {
            Part::Up => {
                let text = read_text(&entry.path)?;
                let up = script_from_file(&entry.path, &text, ScriptSettings::default())?;
                ups.push(versioned(version, &entry.name, layout, &text, up));
            }
            Part::Whole(text) => {
                let up = script_from_file(&entry.path, text, ScriptSettings::default())?;
                ups.push(versioned(version, &entry.name, layout, text, up));
            }
            Part::Down => downs.push((version, &entry.path)),
            Part::Folder => {}
        }
    }
    attach_downs(&mut ups, downs)?;
    Ok(ups)
}

fn attach_downs(ups: &mut [Migration], downs: Vec<(&Version, &Path)>) -> Result<(), Error> {
    for (version, path) in downs {
        let Some(migration) = ups.iter_mut().find(|m| m.version.as_ref() == Some(version)) else {
            return Err(Error::OrphanDown { path: path.to_path_buf(), version: version.to_string() });
        };
        if let Some(existing) = &migration.down {
            return Err(Error::DuplicateVersion {
                version: version.to_string(),
                first: existing.path.clone(),
                second: path.to_path_buf(),
            });
        }
        let text = read_text(path)?;
        migration.down = Some(script_from_file(path, &text, ScriptSettings::default())?);
    }
    Ok(())
}

/// A new migration's up and down files.
pub(crate) fn pair_files(dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
    vec![
        (dir.join(format!("{version}_{slug}.up.sql")), UP_HINT.to_string()),
        (dir.join(format!("{version}_{slug}.down.sql")), DOWN_HINT.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    #[test]
    fn native_pairs_in_version_order() {
        let (_dir, res) = read(
            &[
                ("2_second.up.sql", "-- cutover:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"),
                ("10_third.up.sql", "SELECT 3;"),
                ("1_first.up.sql", "BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n"),
                ("1_first.down.sql", "DROP TABLE t;"),
                ("README.md", "not a migration"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Native);
        assert_eq!(
            summary(&set),
            [
                "1 first tx=true up=[CREATE TABLE t (a int)@2] down=Some(\"DROP TABLE t\")",
                "2 second tx=false up=[CREATE INDEX CONCURRENTLY i ON t (a)@2] down=None",
                "10 third tx=true up=[SELECT 3@1] down=None",
            ]
        );
    }
}
