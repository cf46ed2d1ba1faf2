//! Sqitch: `sqitch.plan` lists the changes in the order they deploy; each change `name` has
//! `deploy/name.sql`, `revert/name.sql` and `verify/name.sql`. A change reworked after a tag
//! appears again in the plan, and its earlier version's scripts are `name@tag.sql`, the first
//! tag after it. The version of a change is its place in the plan (1, 2, ...): the plan only
//! grows at its end.
//!
//! The folder read is the project's top directory (where `sqitch.plan` is). Sqitch runs each
//! script with `psql`: cutover runs the SQL, and refuses psql's own commands (`\set`, `\i`).

use std::path::{Path, PathBuf};

use super::{script_from_file, versioned, Found, LayoutRules, Part, ReadContext, Recognised};
use crate::directive::ScriptSettings;
use crate::discover::{read_text, visible_children};
use crate::{Error, Ignored, Layout, Migration, Version};

pub(crate) struct Sqitch;

/// The folders of a Sqitch project that hold scripts.
const SCRIPT_FOLDERS: [&str; 3] = ["deploy", "revert", "verify"];

impl LayoutRules for Sqitch {
    fn name(&self) -> &'static str {
        "sqitch"
    }

    fn expected_names(&self) -> &'static str {
        "a Sqitch project: `sqitch.plan` and `deploy/`, `revert/`, `verify/` holding `<change>.sql`"
    }

    /// `deploy/`, `revert/` and `verify/` beside a `sqitch.plan`: read as a whole by [`read`].
    fn recognise_folder(&self, folder: &Path, name: &str, _: &mut Vec<Ignored>) -> Result<Option<Recognised>, Error> {
        let project = folder.parent().is_some_and(|p| p.join("sqitch.plan").is_file());
        if !project || !SCRIPT_FOLDERS.contains(&name) {
            return Ok(None);
        }
        Ok(Some(Recognised::Migration { version: None, name: name.to_string(), part: Part::Folder }))
    }

    fn is_migration_name(&self, _base: &str) -> bool {
        false
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Sqitch]
    }

    fn read(&self, found: &[Found], context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        let Some(top) = found.iter().find_map(|f| f.path.parent()) else {
            return Ok(Vec::new());
        };
        let plan_path = top.join("sqitch.plan");
        let plan = read_text(&plan_path)?;
        let changes = parse_plan(&plan_path, &plan)?;
        let mut migrations = Vec::new();
        let mut used: Vec<PathBuf> = Vec::new();
        for (idx, change) in changes.iter().enumerate() {
            let deploy = top.join("deploy").join(format!("{}.sql", change.file));
            if !deploy.is_file() {
                return Err(Error::AtLine {
                    path: plan_path.clone(),
                    line: change.line,
                    message: format!(
                        "change `{}` has no deploy script `{}`; add it, or remove the change from the plan",
                        change.name,
                        deploy.display()
                    ),
                });
            }
            let text = read_text(&deploy)?;
            refuse_psql_commands(&deploy, &text)?;
            let up = script_from_file(&deploy, &text, ScriptSettings::default())?;
            let version = Version::parse(&(idx + 1).to_string()).expect("digits");
            let mut migration = versioned(&version, &change.name, Layout::Sqitch, &text, up);
            let revert = top.join("revert").join(format!("{}.sql", change.file));
            if revert.is_file() {
                let text = read_text(&revert)?;
                refuse_psql_commands(&revert, &text)?;
                migration.down = Some(script_from_file(&revert, &text, ScriptSettings::default())?);
            }
            used.extend([deploy, revert]);
            migrations.push(migration);
        }
        // Scripts no change of the plan names, and the verify scripts (Sqitch runs them on
        // `sqitch verify`; cutover does not): listed, not silently passed over. Change names
        // may hold `/` (`app/users`): the folders are walked down.
        for folder in SCRIPT_FOLDERS {
            let mut files = Vec::new();
            let mut dirs = vec![top.join(folder)];
            while let Some(dir) = dirs.pop() {
                if !dir.is_dir() {
                    continue;
                }
                for (path, _) in visible_children(&dir)? {
                    if path.is_dir() {
                        dirs.push(path);
                    } else {
                        files.push(path);
                    }
                }
            }
            files.sort();
            for path in files {
                if used.contains(&path) {
                    continue;
                }
                let reason = if folder == "verify" {
                    "a verify script: `sqitch verify` runs it; cutover does not".to_string()
                } else {
                    "no change in sqitch.plan uses it: add the change with `sqitch add` (or a line in sqitch.plan)"
                        .to_string()
                };
                context.ignored.push(Ignored { path, reason, refused_by_up: false });
            }
        }
        Ok(migrations)
    }

    /// Never written: `write_new_migration` refuses, as a change needs its line in the plan.
    fn new_files(&self, _dir: &Path, _version: &str, _slug: &str) -> Vec<(PathBuf, String)> {
        Vec::new()
    }

    /// A change is a line of sqitch.plan too, which Sqitch writes with its planner's name.
    fn new_by_its_tool(&self) -> Option<&'static str> {
        Some("add the change with `sqitch add NAME` (it writes the plan's line and the deploy, revert and verify scripts); cutover reads it from there")
    }
}

/// One change of the plan.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    name: String,
    /// Its scripts' name: `name`, or `name@tag` for a version reworked later.
    file: String,
    /// Its line in the plan.
    line: usize,
}

/// The changes of a plan, in order. Pragmas (`%project=...`), tags (`@v1.0 ...`), comments and
/// blank lines are not changes.
fn parse_plan(path: &Path, text: &str) -> Result<Vec<Change>, Error> {
    // (name, line, dependencies), and the tags after each change.
    let mut changes: Vec<(String, usize, Vec<String>)> = Vec::new();
    let mut tags_after: Vec<Vec<String>> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('%') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some(tag) = first.strip_prefix('@') {
            if let Some(tags) = tags_after.last_mut() {
                tags.push(tag.to_string());
            }
            continue;
        }
        if first.starts_with('-') {
            return Err(Error::AtLine {
                path: path.to_path_buf(),
                line: idx + 1,
                message: "a change marked `-` (reverted in the plan): cutover reads plans whose changes deploy in order; remove the line or the change".to_string(),
            });
        }
        let name = first.trim_start_matches('+');
        if name.is_empty() {
            return Err(Error::AtLine {
                path: path.to_path_buf(),
                line: idx + 1,
                message: "a plan line with no change name".to_string(),
            });
        }
        // `[a b users@v1.1 !c]`: what it requires (a reworked change requires its earlier self).
        let dependencies = line
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(deps, _)| deps.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        changes.push((name.to_string(), idx + 1, dependencies));
        tags_after.push(Vec::new());
    }
    let mut parsed = Vec::new();
    for (idx, (name, line, _)) in changes.iter().enumerate() {
        let rework = changes[idx + 1..].iter().find(|(later, _, _)| later == name);
        let file = if let Some((_, _, rework_dependencies)) = rework {
            // The rework names the tag its earlier version's scripts carry (`users@v1.1`);
            // failing that, the first tag after this version.
            let cited = rework_dependencies.iter().find_map(|d| d.strip_prefix(&format!("{name}@")));
            let Some(tag) = cited.or_else(|| tags_after[idx..].iter().flatten().next().map(String::as_str)) else {
                return Err(Error::AtLine {
                    path: path.to_path_buf(),
                    line: *line,
                    message: format!("change `{name}` appears again later with no tag between: Sqitch reworks a change only after a tag"),
                });
            };
            format!("{name}@{tag}")
        } else {
            name.clone()
        };
        parsed.push(Change { name: name.clone(), file, line: *line });
    }
    Ok(parsed)
}

/// psql's backslash commands are psql's, not SQL: the server would refuse them.
fn refuse_psql_commands(path: &Path, text: &str) -> Result<(), Error> {
    match text.lines().position(|l| l.trim_start().starts_with('\\')) {
        Some(idx) => Err(Error::AtLine {
            path: path.to_path_buf(),
            line: idx + 1,
            message: "a psql command (`\\...`): Sqitch runs scripts with psql, cutover sends SQL to the server, which does not know it; write it as SQL".to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    const PLAN: &str = "%syntax-version=1.0.0\n%project=flipr\n\n\
        appschema 2026-12-05T15:40:43Z Test User <test@example.com> # Add schema.\n\
        users [appschema] 2026-12-05T15:40:44Z Test User <test@example.com> # Users.\n\
        @v1.0 2026-12-05T15:40:47Z Test User <test@example.com> # Tag v1.0.\n\
        users [users@v1.0] 2026-12-05T15:40:48Z Test User <test@example.com> # Rework users\n";

    #[test]
    fn changes_in_plan_order_with_reworked_versions() {
        let (_dir, res) = read(
            &[
                ("sqitch.plan", PLAN),
                ("sqitch.conf", "[core]\n\tengine = pg\n"),
                ("deploy/appschema.sql", "-- Deploy flipr:appschema to pg\n\nBEGIN;\nCREATE SCHEMA flipr;\nCOMMIT;\n"),
                ("revert/appschema.sql", "BEGIN;\nDROP SCHEMA flipr;\nCOMMIT;\n"),
                ("verify/appschema.sql", "SELECT 1;\n"),
                ("deploy/users@v1.0.sql", "BEGIN;\nCREATE TABLE flipr.users (n text);\nCOMMIT;\n"),
                ("revert/users@v1.0.sql", "DROP TABLE flipr.users;\n"),
                ("deploy/users.sql", "ALTER TABLE flipr.users ADD COLUMN p text;\n"),
                ("deploy/stray.sql", "SELECT 2;\n"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Sqitch);
        assert_eq!(
            summary(&set),
            [
                "1 appschema tx=true up=[CREATE SCHEMA flipr@4] down=Some(\"DROP SCHEMA flipr\")",
                "2 users tx=true up=[CREATE TABLE flipr.users (n text)@2] down=Some(\"DROP TABLE flipr.users\")",
                "3 users tx=true up=[ALTER TABLE flipr.users ADD COLUMN p text@1] down=None",
            ]
        );
        let mut ignored: Vec<String> =
            set.ignored.iter().map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        ignored.sort();
        assert_eq!(ignored, ["appschema.sql", "stray.sql"], "the verify script and a script the plan does not use");
    }

    /// `sqitch rework` after two tags names the old scripts after the tag the rework cites.
    #[test]
    fn a_rework_names_its_tag() {
        let plan = "%project=flipr\n\
            users 2026-12-05T15:40:43Z U <u@e.com>\n\
            @v1.0 2026-12-05T15:40:44Z U <u@e.com>\n\
            app/flips [users] 2026-12-05T15:40:45Z U <u@e.com>\n\
            @v1.1 2026-12-05T15:40:46Z U <u@e.com>\n\
            users [users@v1.1] 2026-12-05T15:40:47Z U <u@e.com> # Rework\n";
        let (_dir, res) = read(
            &[
                ("sqitch.plan", plan),
                ("deploy/users@v1.1.sql", "SELECT 1;\n"),
                ("deploy/app/flips.sql", "SELECT 2;\n"),
                ("deploy/users.sql", "SELECT 3;\n"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(
            summary(&set),
            [
                "1 users tx=true up=[SELECT 1@1] down=None",
                "2 app/flips tx=true up=[SELECT 2@1] down=None",
                "3 users tx=true up=[SELECT 3@1] down=None"
            ]
        );
        assert!(set.ignored.is_empty(), "a nested change's script is used: {:?}", set.ignored);
    }

    #[test]
    fn a_change_without_its_deploy_script_and_psql_commands_are_errors_with_their_line() {
        let (_dir, res) =
            read(&[("sqitch.plan", PLAN), ("deploy/appschema.sql", "SELECT 1;\n"), ("revert/x.sql", "")], None);
        let err = res.unwrap_err().to_string();
        assert!(err.contains("sqitch.plan:5") && err.contains("no deploy script"), "{err}");
        let (_dir, res) = read(
            &[
                ("sqitch.plan", "appschema 2026-12-05T15:40:43Z U <u@e.com>\n"),
                ("deploy/appschema.sql", "SELECT 1;\n\\set x 1\n"),
            ],
            None,
        );
        let err = res.unwrap_err().to_string();
        assert!(err.contains("appschema.sql:2") && err.contains("psql command"), "{err}");
    }
}
