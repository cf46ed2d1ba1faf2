//! Prisma Migrate: a folder `<timestamp>_<name>/` a migration, holding `migration.sql`; beside
//! the folders, `migration_lock.toml` names the database provider. There are no down scripts.
//! Prisma sends each file as one script (an implicit transaction on PostgreSQL when it holds
//! several statements): the analysis judges the files so (`Tool::Prisma`).

use std::path::{Path, PathBuf};

use super::{
    finish_script, present, script_from_file, transaction_control, versioned, Found, LayoutRules, Part, ReadContext,
    Recognised, Section,
};
use crate::directive::ScriptSettings;
use crate::discover::{near_miss, read_text, visible_children, NearMiss};
use crate::scaffold::UP_HINT;
use crate::{Error, Ignored, Layout, Migration, Version};

pub(crate) struct Prisma;

/// The script of a migration folder.
const SCRIPT: &str = "migration.sql";
/// Its down script, when one was written (Prisma's guide to down migrations).
const DOWN: &str = "down.sql";

impl LayoutRules for Prisma {
    fn name(&self) -> &'static str {
        "prisma"
    }

    fn expected_names(&self) -> &'static str {
        "folders `<timestamp>_<name>/` holding `migration.sql` (Prisma Migrate)"
    }

    /// A folder's whole name, which is how Prisma knows a migration (`_prisma_migrations`'s
    /// `migration_name`) and orders them; a timestamp alone for `--to`.
    fn parse_version(&self, text: &str) -> Option<Version> {
        Version::parse_named(text).or_else(|| Version::parse_lexical(text))
    }

    fn recognise_folder(
        &self,
        folder: &Path,
        name: &str,
        ignored: &mut Vec<Ignored>,
    ) -> Result<Option<Recognised>, Error> {
        // Prisma reads any folder holding the script (a name with dots included); the whole
        // name is the version, as two folders may share a timestamp.
        let Some(version) = Version::parse_named(name) else {
            return Ok(None);
        };
        let name = name.split_once('_').map_or("", |(_, rest)| rest).to_string();
        if !present(&folder.join(SCRIPT)) {
            // Beside Prisma's lock file, a timestamped folder is a migration: Prisma refuses
            // one without its script (P3015), and so does cutover.
            let lock = folder.parent().is_some_and(|p| p.join("migration_lock.toml").is_file());
            if lock && folder.is_dir() {
                return Err(Error::MissingScript {
                    folder: folder.to_path_buf(),
                    layout: Layout::Prisma,
                    script: SCRIPT,
                    why: "it stands beside migration_lock.toml; Prisma stops there too, P3015",
                });
            }
            return Ok(None);
        }
        check_folder(folder, ignored)?;
        Ok(Some(Recognised::Migration { version: Some(version), name, part: Part::Folder }))
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Prisma]
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        let mut migrations = Vec::new();
        for entry in found {
            let Found { path: folder, version: Some(version), name, part: Part::Folder } = entry else {
                continue;
            };
            let path = folder.join(SCRIPT);
            let text = read_text(&path)?;
            let section = Section::whole(&path, &text);
            let settings = section.settings(ScriptSettings::default())?;
            let mut statements = section.statements()?;
            drop_inner_transactions(&mut statements);
            let up = finish_script(&path, &text, statements, settings)?;
            let mut migration = versioned(version, name, Layout::Prisma, &text, up);
            // Prisma's guide to down migrations writes `down.sql` beside the script (for
            // `prisma db execute`): the down script.
            let down = folder.join(DOWN);
            if present(&down) {
                migration.down = Some(script_from_file(&down, &read_text(&down)?, ScriptSettings::default())?);
            }
            migrations.push(migration);
        }
        Ok(migrations)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        vec![(dir.join(format!("{version}_{slug}")).join(SCRIPT), UP_HINT.to_string())]
    }
}

/// Takes out each `BEGIN; ... COMMIT;` pair inside the file. Prisma writes them itself (around
/// the type swap of an enum change) so that the swap is atomic within a script that is not;
/// cutover runs the whole file in one transaction, which holds them. An unpaired one stays,
/// for `finish_script` to refuse.
fn drop_inner_transactions(statements: &mut Vec<crate::split::Statement>) {
    let mut i = 0;
    while i < statements.len() {
        if transaction_control(&statements[i]) == Some("BEGIN") {
            let close = statements[i + 1..].iter().position(|s| transaction_control(s).is_some()).map(|p| p + i + 1);
            if let Some(j) = close.filter(|&j| transaction_control(&statements[j]) == Some("COMMIT")) {
                statements.remove(j);
                statements.remove(i);
                continue;
            }
        }
        i += 1;
    }
}

/// The files of a migration folder beside `migration.sql`: a near miss of a SQL name is an
/// error (as Prisma would not read it either), anything else is listed as not read.
fn check_folder(dir: &Path, ignored: &mut Vec<Ignored>) -> Result<(), Error> {
    for (path, file_name) in visible_children(dir)? {
        if file_name == SCRIPT || file_name == DOWN {
            continue;
        }
        let lower = file_name.trim().to_ascii_lowercase();
        match near_miss(&file_name) {
            Some(NearMiss::Misnamed { problem, rename_to }) => {
                return Err(Error::Misnamed { files: vec![(path, problem, rename_to)] });
            }
            Some(NearMiss::Unused(reason)) => ignored.push(Ignored { path, reason, refused_by_up: false }),
            None if lower == SCRIPT => {
                return Err(Error::Misnamed {
                    files: vec![(path, "Prisma reads `migration.sql`, in lower case", SCRIPT.to_string())],
                });
            }
            None => ignored.push(Ignored {
                path,
                reason: "Prisma reads only `migration.sql` in a migration folder".to_string(),
                refused_by_up: false,
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    #[test]
    fn prisma_folders_with_their_lock_file() {
        let (_dir, res) = read(
            &[
                ("migration_lock.toml", "provider = \"postgresql\"\n"),
                ("20240304123642_traces_view/migration.sql", "CREATE VIEW v AS SELECT 1;\n"),
                // The same timestamp: Prisma orders by the whole folder name.
                ("20240304123642_traces_view_improvement/migration.sql", "CREATE OR REPLACE VIEW v AS SELECT 2;\n"),
                ("20240401000000_index/migration.sql", "CREATE INDEX CONCURRENTLY i ON t (a);\n"),
                ("20240402000000_enum.sql/migration.sql", "-- a dot in the folder name\nSELECT 1;\n"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Prisma);
        assert_eq!(
            summary(&set),
            [
                "20240304123642_traces_view tx=true up=[CREATE VIEW v AS SELECT 1@1] down=None",
                "20240304123642_traces_view_improvement tx=true up=[CREATE OR REPLACE VIEW v AS SELECT 2@1] down=None",
                "20240401000000_index tx=false up=[CREATE INDEX CONCURRENTLY i ON t (a)@1] down=None",
                "20240402000000_enum.sql tx=true up=[SELECT 1@2] down=None",
            ]
        );
        assert_eq!(set.migrations[0].label(), "20240304123642_traces_view", "the name is not repeated");
        assert_eq!(
            Layout::Prisma.parse_version("20240304123642_traces_view_improvement"),
            set.migrations[1].version,
            "a recorded name reads back as the same version"
        );
    }

    #[test]
    fn prismas_own_begin_commit_pairs_run_inside_cutovers_transaction() {
        let (_dir, res) = read(
            &[(
                "20230620181114_restructure/migration.sql",
                "-- AlterEnum\nBEGIN;\nCREATE TYPE t_new AS ENUM ('a');\nDROP TYPE t_old;\nCOMMIT;\n\n-- AlterTable\nALTER TABLE x ADD COLUMN y int;\n",
            )],
            Some(Layout::Prisma),
        );
        let set = res.unwrap();
        assert_eq!(
            summary(&set),
            ["20230620181114_restructure tx=true up=[CREATE TYPE t_new AS ENUM ('a')@3|DROP TYPE t_old@4|ALTER TABLE x ADD COLUMN y int@8] down=None"]
        );
        // An unpaired one is still refused, with its line.
        let (_dir, res) = read(&[("20230620181114_a/migration.sql", "SELECT 1;\nCOMMIT;\n")], Some(Layout::Prisma));
        let err = res.unwrap_err().to_string();
        assert!(err.contains("migration.sql:2: `COMMIT` inside a transactional migration"), "{err}");
    }

    /// Prisma's guide writes `down.sql` beside `migration.sql`; a folder left without its script
    /// beside the lock file stops Prisma (P3015) and cutover alike.
    #[test]
    fn down_sql_is_the_down_script_and_a_folder_without_its_script_is_an_error() {
        let (_dir, res) = read(
            &[
                ("migration_lock.toml", "provider = \"postgresql\"\n"),
                ("20240101000000_a/migration.sql", "CREATE TABLE a (id int);\n"),
                ("20240101000000_a/down.sql", "DROP TABLE a;\n"),
                ("20240102000000_b/migration.sql", "CREATE TABLE b (id int);\n"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Prisma);
        assert_eq!(
            summary(&set),
            [
                "20240101000000_a tx=true up=[CREATE TABLE a (id int)@1] down=Some(\"DROP TABLE a\")",
                "20240102000000_b tx=true up=[CREATE TABLE b (id int)@1] down=None",
            ]
        );
        let (_dir, res) = read(
            &[
                ("migration_lock.toml", "provider = \"postgresql\"\n"),
                ("20240101000000_a/migration.sql", "SELECT 1;\n"),
                ("20240102000000_lost/README.md", "why\n"),
            ],
            None,
        );
        let err = res.unwrap_err().to_string();
        assert!(err.contains("20240102000000_lost` is a prisma migration folder without `migration.sql`"), "{err}");
        // A folder left with only its down.sql is Prisma's too, not diesel's.
        let (_dir, res) = read(
            &[
                ("migration_lock.toml", "provider = \"postgresql\"\n"),
                ("20240101000000_a/migration.sql", "SELECT 1;\n"),
                ("20240102000000_b/down.sql", "SELECT 2;\n"),
                ("20240103000000_c/up.sql", "SELECT 3;\n"),
            ],
            None,
        );
        let err = res.unwrap_err().to_string();
        assert!(err.contains("20240102000000_b` is a prisma migration folder without `migration.sql`"), "{err}");
    }

    #[test]
    fn a_misnamed_script_is_an_error_not_a_silent_skip() {
        let (_dir, res) = read(&[("20240101000000_a/Migration.sql", "SELECT 1;\n")], Some(Layout::Prisma));
        let err = res.unwrap_err().to_string();
        assert!(err.contains("is not a prisma migration") && err.contains("holding `migration.sql`"), "{err}");
    }
}
