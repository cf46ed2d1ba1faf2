//! Temporal's SQL schemas (`temporal-sql-tool update-schema`): a `versioned/` folder holding a
//! folder `v<major>.<minor>` per schema version, whose `manifest.json` lists the version's
//! `.sql` files (`SchemaUpdateCqlFiles`) in the order they run. A version with one file is one
//! migration of that version; with several, each file is one, `<version>.<n>` in the listed
//! order. `temporal-sql-tool` runs every statement on its own, outside a transaction; cutover
//! runs each file in a transaction of its own (all of it or nothing).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{script_from_file, versioned, Found, LayoutRules, Part, ReadContext, Recognised};
use crate::directive::ScriptSettings;
use crate::discover::{read_text, visible_children};
use crate::{Error, Ignored, Layout, Migration, Version};

pub(crate) struct Temporal;

/// What cutover reads of a version's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Manifest {
    curr_version: String,
    #[serde(default)]
    description: String,
    schema_update_cql_files: Vec<String>,
}

impl LayoutRules for Temporal {
    fn name(&self) -> &'static str {
        "temporal"
    }

    fn expected_names(&self) -> &'static str {
        "folders `v<major>.<minor>/` holding `manifest.json` and the `.sql` files it lists (temporal-sql-tool)"
    }

    fn recognise_folder(&self, folder: &Path, name: &str, _: &mut Vec<Ignored>) -> Result<Option<Recognised>, Error> {
        // `vX.Y`, as temporal-sql-tool reads them (it passes other folders over).
        let Some(version) = name.strip_prefix('v').filter(|v| v.matches('.').count() == 1).and_then(Version::parse)
        else {
            return Ok(None);
        };
        if !folder.join("manifest.json").is_file() {
            return Ok(None);
        }
        Ok(Some(Recognised::Migration { version: Some(version), name: name.to_string(), part: Part::Folder }))
    }

    fn is_migration_name(&self, _base: &str) -> bool {
        false
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Temporal]
    }

    fn passes_over_others(&self) -> Option<&'static str> {
        Some("not in a `vX.Y/` folder with a manifest.json that lists it: temporal-sql-tool does not run it")
    }

    fn read(&self, found: &[Found], context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        let mut migrations = Vec::new();
        for entry in found {
            let Some(version) = &entry.version else { continue };
            let manifest_path = entry.path.join("manifest.json");
            let text = read_text(&manifest_path)?;
            let manifest: Manifest = serde_json::from_str(&text).map_err(|err| Error::AtLine {
                path: manifest_path.clone(),
                line: err.line(),
                message: format!("not a temporal-sql-tool manifest: {err}"),
            })?;
            if Version::parse(&manifest.curr_version).as_ref() != Some(version) {
                return Err(Error::AtLine {
                    path: manifest_path.clone(),
                    line: 1,
                    message: format!(
                        "`CurrVersion` is {:?} in folder `{}`: temporal-sql-tool refuses a manifest whose version is not its folder's; make them agree",
                        manifest.curr_version, entry.name
                    ),
                });
            }
            // Files of the version's folder its manifest does not list do not run.
            for (path, name) in visible_children(&entry.path)? {
                if name != "manifest.json" && !manifest.schema_update_cql_files.contains(&name) {
                    context.ignored.push(Ignored {
                        path,
                        reason: format!(
                            "not listed in `{}`'s manifest.json, so temporal-sql-tool does not run it ({})",
                            entry.name, manifest.description
                        ),
                        refused_by_up: false,
                    });
                }
            }
            if manifest.schema_update_cql_files.is_empty() {
                context.ignored.push(Ignored {
                    path: manifest_path.clone(),
                    reason: "a version with no SQL file: temporal-sql-tool only records the version; there is nothing to run".to_string(),
                    refused_by_up: false,
                });
                continue;
            }
            let several = manifest.schema_update_cql_files.len() > 1;
            for (idx, file) in manifest.schema_update_cql_files.iter().enumerate() {
                let path = entry.path.join(file);
                if !path.is_file() {
                    return Err(Error::AtLine {
                        path: manifest_path.clone(),
                        line: 1,
                        message: format!("lists `{file}`, which is not in `{}`", entry.path.display()),
                    });
                }
                let text = read_text(&path)?;
                let up = script_from_file(&path, &text, ScriptSettings::default())?;
                let stem = file.strip_suffix(".sql").unwrap_or(file);
                let version = if several {
                    Version::parse(&format!("{}.{}", version.as_str(), idx + 1)).expect("digits")
                } else {
                    version.clone()
                };
                migrations.push(versioned(&version, stem, Layout::Temporal, &text, up));
            }
        }
        Ok(migrations)
    }

    fn new_files(&self, _dir: &Path, _version: &str, _slug: &str) -> Vec<(PathBuf, String)> {
        Vec::new()
    }

    /// A version of the folder (`v1.3/` with its manifest, the version temporal-sql-tool records
    /// in `schema_version`) stands for every migration up to its last file's; a version with no
    /// file, for the newest below it.
    fn stands_for(&self, dir: &Path, version: &Version, versions: &[&Version]) -> Option<Version> {
        if !dir.join(format!("v{}", version.as_str())).join("manifest.json").is_file() {
            return None;
        }
        let prefix = format!("{}.", version.as_str());
        versions.iter().filter(|v| **v < version || v.as_str().starts_with(&prefix)).max().map(|v| (*v).clone())
    }

    fn new_by_its_tool(&self) -> Option<&'static str> {
        Some("add a folder `v<major>.<minor>/` with a `manifest.json` (CurrVersion, MinCompatibleVersion, Description, SchemaUpdateCqlFiles) and the `.sql` files it lists")
    }
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    const MANIFEST: &str = r#"{"CurrVersion": "1.1", "MinCompatibleVersion": "1.0", "Description": "two files", "SchemaUpdateCqlFiles": ["b.sql", "a.sql"]}"#;

    #[test]
    fn versions_in_manifest_order() {
        let (_dir, res) = read(
            &[
                (
                    "v1.0/manifest.json",
                    r#"{"CurrVersion": "1.0", "MinCompatibleVersion": "1.0", "Description": "base", "SchemaUpdateCqlFiles": ["schema.sql"]}"#,
                ),
                ("v1.0/schema.sql", "CREATE TABLE t (id int);\n"),
                ("v1.1/manifest.json", MANIFEST),
                ("v1.1/a.sql", "ALTER TABLE t ADD COLUMN a int;\n"),
                ("v1.1/b.sql", "ALTER TABLE t ADD COLUMN b int;\n"),
                (
                    "v1.10/manifest.json",
                    r#"{"CurrVersion": "1.10", "Description": "x", "SchemaUpdateCqlFiles": ["c.sql"]}"#,
                ),
                ("v1.10/c.sql", "ALTER TABLE t ADD COLUMN c int;\n"),
                ("v1.10/notes.sql", "SELECT 1;\n"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Temporal);
        let labels: Vec<String> = set.migrations.iter().map(|m| m.label()).collect();
        assert_eq!(labels, ["1.0 schema", "1.1.1 b", "1.1.2 a", "1.10 c"]);
        assert_eq!(summary(&set)[1], "1.1.1 b tx=true up=[ALTER TABLE t ADD COLUMN b int@1] down=None");
        assert_eq!(set.ignored.len(), 1, "{:?}", set.ignored);
    }

    #[test]
    fn a_folder_above_the_versions_says_where_to_point() {
        let (_dir, res) = read(
            &[("versioned/v1.1/manifest.json", MANIFEST), ("versioned/v1.1/a.sql", ""), ("versioned/v1.1/b.sql", "")],
            None,
        );
        let err = res.unwrap_err().to_string();
        assert!(
            err.contains("a temporal migration below the folder read: point --dir") && err.contains("versioned`"),
            "{err}"
        );
    }

    #[test]
    fn a_manifest_that_disagrees_is_an_error() {
        let (_dir, res) = read(&[("v1.2/manifest.json", MANIFEST), ("v1.2/a.sql", ""), ("v1.2/b.sql", "")], None);
        assert!(res.unwrap_err().to_string().contains("`CurrVersion` is \"1.1\" in folder `v1.2`"));
        let (_dir, res) = read(
            &[
                ("v1.0/manifest.json", r#"{"CurrVersion": "1.0", "SchemaUpdateCqlFiles": []}"#),
                ("v1.1/manifest.json", MANIFEST),
                ("v1.1/a.sql", ""),
                ("v1.1/b.sql", ""),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.migrations.len(), 2, "a version with no file is no migration");
        assert!(set.ignored[0].reason.contains("only records the version"));
        let (_dir, res) = read(
            &[("v1.1/manifest.json", MANIFEST.replace("\"a.sql\"", "\"z.sql\"").as_str()), ("v1.1/b.sql", "")],
            None,
        );
        assert!(res.unwrap_err().to_string().contains("lists `z.sql`"));
    }
}
