//! Writing the files of a new migration, in the directory's own layout.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Layout, Version};

/// Creates a new, empty migration in `dir` (which must exist) and returns its files.
///
/// The version is `now` (digits: a UTC `YYYYMMDDHHMMSS`), unless a file in `dir` already has that version
/// or a later one (two `new` in one second, a clock behind the newest file): then it is the next
/// above the newest. `layout` is the directory's own when not given.
///
/// The directory is locked meanwhile (`flock` on the directory itself, released when the
/// process ends, however it ends), so `new`s run at once take turns and each sees the files
/// the one before wrote: they never pick the same version.
pub fn create_migration(dir: &Path, layout: Option<Layout>, now: &str, name: &str) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io { path: dir.to_path_buf(), source };
    let lock = fs::File::open(dir).map_err(io)?;
    lock.lock().map_err(io)?;
    let layout = match layout {
        Some(layout) => layout,
        None => crate::discover(dir, None)?.layout,
    };
    let version = next_version(dir, now, &crate::discover::versions_in(dir)?)?;
    write_new_migration(dir, layout, &version, name)
    // `lock` is dropped here, after the files are written.
}

/// `now`, or the next version above every one of `existing` that is not below it.
fn next_version(dir: &Path, now: &str, existing: &[Version]) -> Result<String, Error> {
    let mut candidate = now.to_string();
    // Each round steps above the version in the way; a bound, because diesel's versions
    // compare as text and `10` is below `9` there.
    for _ in 0..=existing.len() {
        // Only `now` can fail to parse: every step makes digits.
        let Some(parsed) = Version::parse(&candidate) else { break };
        let Some(in_the_way) = existing.iter().filter(|version| **version >= parsed).max() else {
            return Ok(candidate);
        };
        // Its leading digits: Flyway's `1.2` is `1`, a Prisma folder's `20240101000000_a` the timestamp.
        candidate = increment(in_the_way.as_str().split(['.', '_']).next().unwrap_or_default());
    }
    Err(Error::NoNewVersion { dir: dir.to_path_buf(), newest: candidate })
}

/// `digits` plus one, as many digits wide: `0099` → `0100`, `99` → `100`.
fn increment(digits: &str) -> String {
    let mut bytes = digits.as_bytes().to_vec();
    for byte in bytes.iter_mut().rev() {
        if *byte == b'9' {
            *byte = b'0';
        } else {
            *byte += 1;
            return String::from_utf8(bytes).expect("ASCII digits");
        }
    }
    format!("1{}", String::from_utf8(bytes).expect("ASCII digits"))
}

/// Writes the files of a new, empty migration and returns their paths.
///
/// `version` is typically a UTC `YYYYMMDDHHMMSS` timestamp; `name` is turned into a file-name
/// friendly slug. Existing files are never overwritten.
pub fn write_new_migration(dir: &Path, layout: Layout, version: &str, name: &str) -> Result<Vec<PathBuf>, Error> {
    if let Some(how) = crate::layouts::rules(layout).new_by_its_tool() {
        return Err(Error::NewByItsTool { layout, how });
    }
    let slug = slug(name);
    let files = crate::layouts::rules(layout).new_files(dir, version, &slug);
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

/// What a new migration's up script holds until it is written.
pub(crate) const UP_HINT: &str = "-- Write the forward change here.\n";

/// Whether `script` (an up or a down script) is still the template `cutover new` wrote: no
/// statement, the hint in place.
pub fn is_untouched_template(script: &crate::Script) -> bool {
    script.statements.is_empty()
        && (script.text.contains(UP_HINT.trim_end()) || script.text.contains(DOWN_HINT.trim_end()))
}
/// What a new migration's down script holds until it is written.
pub(crate) const DOWN_HINT: &str = "-- Write what reverses the up script here.\n";

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
    fn a_new_version_is_above_every_existing_one() {
        let dir = Path::new("migrations");
        let versions = |texts: &[&str]| texts.iter().map(|t| Version::parse(t).unwrap()).collect::<Vec<_>>();
        let now = "20260101000000";
        assert_eq!(next_version(dir, now, &versions(&["1", "2.5", "20251231235959"])).unwrap(), now);
        // The same second as another `new`, or a clock behind the newest file.
        assert_eq!(next_version(dir, now, &versions(&["20260101000000"])).unwrap(), "20260101000001");
        assert_eq!(next_version(dir, now, &versions(&["20260101000000", "20260101000009"])).unwrap(), "20260101000010");
        assert_eq!(next_version(dir, now, &versions(&["20270101000000.2"])).unwrap(), "20270101000001");
        let diesel = [Version::parse_lexical("20260101000000").unwrap()];
        assert_eq!(next_version(dir, now, &diesel).unwrap(), "20260101000001");
        assert!(next_version(dir, "2026-01-01", &[]).is_err());
        assert_eq!(increment("0099"), "0100");
        assert_eq!(increment("99"), "100");
    }

    #[test]
    fn migrations_created_at_once_get_distinct_versions() {
        for layout in Layout::ALL.into_iter().filter(|l| crate::layouts::rules(*l).new_by_its_tool().is_none()) {
            let dir = tempfile::tempdir().unwrap();
            std::thread::scope(|scope| {
                for idx in 0..6 {
                    let dir = dir.path();
                    scope.spawn(move || {
                        create_migration(dir, Some(layout), "20260101000000", &format!("m{idx}")).unwrap()
                    });
                }
            });
            let set = crate::discover(dir.path(), Some(layout)).unwrap();
            // A Prisma version is the folder's whole name: its timestamp is what was picked.
            let versions: Vec<&str> = set
                .migrations
                .iter()
                .map(|m| m.version.as_ref().unwrap().as_str().split('_').next().unwrap())
                .collect();
            let expected: Vec<String> = (0..6).map(|n| format!("2026010100000{n}")).collect();
            assert_eq!(versions, expected, "{layout}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Add users.email!"), "add_users_email");
        assert_eq!(slug("  "), "migration");
    }

    #[test]
    fn every_layout_reads_back_what_it_writes() {
        assert!(write_new_migration(tempfile::tempdir().unwrap().path(), Layout::Sqitch, "1", "a")
            .unwrap_err()
            .to_string()
            .contains("sqitch add"));
        for layout in Layout::ALL.into_iter().filter(|l| crate::layouts::rules(*l).new_by_its_tool().is_none()) {
            let dir = tempfile::tempdir().unwrap();
            write_new_migration(dir.path(), layout, "20260101000000", "create users").unwrap();
            let set = crate::discover(dir.path(), Some(layout)).unwrap();
            assert_eq!(set.migrations.len(), 1, "{layout}");
            let migration = &set.migrations[0];
            assert_eq!(migration.version.as_ref().unwrap().as_str().split('_').next(), Some("20260101000000"));
            // Prisma has no down scripts.
            assert_eq!(migration.down.is_some(), layout != Layout::Prisma, "{layout}");
            // Writing the same migration again never overwrites it.
            assert!(write_new_migration(dir.path(), layout, "20260101000000", "create users").is_err());
        }
    }
}
