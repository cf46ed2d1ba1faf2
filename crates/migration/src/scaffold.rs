//! Writing the files of a new migration, in the directory's own layout.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Layout};

/// Writes the files of a new, empty migration and returns their paths.
///
/// `version` is typically a UTC `YYYYMMDDHHMMSS` timestamp; `name` is turned into a file-name
/// friendly slug. Existing files are never overwritten.
pub fn write_new_migration(dir: &Path, layout: Layout, version: &str, name: &str) -> Result<Vec<PathBuf>, Error> {
    let slug = slug(name);
    let up_hint = "-- Write the forward change here.\n";
    let down_hint = "-- Write what reverses the up script here.\n";
    let files: Vec<(PathBuf, String)> = match layout {
        Layout::Native | Layout::GolangMigrate | Layout::Sqlx => vec![
            (dir.join(format!("{version}_{slug}.up.sql")), up_hint.to_string()),
            (dir.join(format!("{version}_{slug}.down.sql")), down_hint.to_string()),
        ],
        Layout::Flyway => vec![
            (dir.join(format!("V{version}__{slug}.sql")), up_hint.to_string()),
            (dir.join(format!("U{version}__{slug}.sql")), down_hint.to_string()),
        ],
        Layout::Dbmate => vec![(
            dir.join(format!("{version}_{slug}.sql")),
            format!("-- migrate:up\n{up_hint}\n-- migrate:down\n{down_hint}"),
        )],
        Layout::Goose => vec![(
            dir.join(format!("{version}_{slug}.sql")),
            format!("-- +goose Up\n{up_hint}\n-- +goose Down\n{down_hint}"),
        )],
        Layout::Diesel => {
            let folder = dir.join(format!("{version}_{slug}"));
            vec![(folder.join("up.sql"), up_hint.to_string()), (folder.join("down.sql"), down_hint.to_string())]
        }
    };
    let mut written = Vec::new();
    for (path, contents) in files {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::Io { path: path.clone(), source })?;
        file.write_all(contents.as_bytes()).map_err(|source| Error::Io { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

/// `Add users.email!` → `add_users_email`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_matches('_').to_string();
    if slug.is_empty() {
        "migration".to_string()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Add users.email!"), "add_users_email");
        assert_eq!(slug("  "), "migration");
    }

    #[test]
    fn every_layout_reads_back_what_it_writes() {
        for layout in Layout::ALL {
            let dir = tempfile::tempdir().unwrap();
            write_new_migration(dir.path(), layout, "20260101000000", "create users").unwrap();
            let set = crate::discover(dir.path(), Some(layout)).unwrap();
            assert_eq!(set.migrations.len(), 1, "{layout}");
            let migration = &set.migrations[0];
            assert_eq!(migration.version.as_ref().unwrap().as_str(), "20260101000000");
            assert!(migration.down.is_some(), "{layout}");
            // Writing the same migration again never overwrites it.
            assert!(write_new_migration(dir.path(), layout, "20260101000000", "create users").is_err());
        }
    }
}
