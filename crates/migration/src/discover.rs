//! Reading a migrations directory: what every layout shares.
//!
//! The walk of the folder, the reading of a file ([`read_text`]: a size bound, no NUL byte,
//! UTF-8), names that are near misses of a migration's, the listing of files passed over on
//! purpose, and the choice of the layout (detected per directory from what the layouts
//! recognise, or forced by the caller). What is particular to a layout is in its file under
//! `layouts/`. Files that look like migrations of another layout, or like nothing, are errors:
//! a misnamed migration is never silently skipped.
//!
//! The scan reads each folder once (a link back to a folder already read is listed, not
//! followed, so a loop ends), opens only regular files, and reads at most [`MAX_FILE_BYTES`]
//! of each.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::checksum::normalize;
use crate::directive::ScriptSettings;
use crate::layouts::{self, parse_version_name, versioned, FileCandidate, Found, ReadContext, Recognised};
use crate::transaction::{transactionality, Transactionality};
use crate::{Dialect, Error, Ignored, Layout, Migration, MigrationKind, MigrationSet, Script, Version};

/// Reads every migration under `dir`, detecting its layout unless `forced`.
///
/// A script that mixes statements refusing a transaction block with others is read as it is:
/// the runner refuses to run it ([`mixed_transaction`]) and lint reports it, but a broken down
/// script of an old migration does not stop `up` (crates.io has one).
pub fn discover(dir: &Path, forced: Option<Layout>) -> Result<MigrationSet, Error> {
    read_folder(dir, forced, Reading::Strict, &ReadOptions::default())
}

/// What a folder is read with beyond its files: the engine it is for (a layout that keeps a
/// variant of a migration per engine reads that engine's), and the options the application
/// gives pop, whose templates render them.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The engine the folder is read for, when known.
    pub dialect: Option<Dialect>,
    /// pop's connection options (`{{ index .Options "Namespace" }}`).
    pub pop_options: std::collections::BTreeMap<String, String>,
}

/// [`discover`] with [`ReadOptions`].
pub fn discover_with(dir: &Path, forced: Option<Layout>, options: &ReadOptions) -> Result<MigrationSet, Error> {
    read_folder(dir, forced, Reading::Strict, options)
}

/// [`discover_to_lint`] with [`ReadOptions`].
pub fn discover_to_lint_with(dir: &Path, forced: Option<Layout>, options: &ReadOptions) -> Result<MigrationSet, Error> {
    read_folder(dir, forced, Reading::Lint, options)
}

/// [`discover`] for a database of `dialect`: a layout that keeps a variant of a migration per
/// engine (pop's `<version>_<name>.postgres.up.sql`) reads that engine's files.
pub fn discover_for(dir: &Path, forced: Option<Layout>, dialect: Option<Dialect>) -> Result<MigrationSet, Error> {
    read_folder(dir, forced, Reading::Strict, &ReadOptions { dialect, ..ReadOptions::default() })
}

/// The refusal of a script that mixes statements refusing a transaction block with others,
/// with nothing saying how to run it: as written it runs neither in one transaction nor
/// statement by statement ([`Error::MixedTransaction`]). `None` for a script that can run.
pub fn mixed_transaction(script: &Script) -> Option<Error> {
    if !script.settings.transaction {
        return None;
    }
    match transactionality(&script.statements) {
        Transactionality::Mixed { refusing, what, other } => Some(Error::MixedTransaction {
            path: script.path.clone(),
            refusing_line: refusing.line,
            what,
            other_line: other.line,
        }),
        _ => None,
    }
}

/// How `cutover lint` reads a folder: as [`discover`] does, except that what `discover` refuses
/// in one file is reported instead, so that one stray file does not stop the lint of the others.
/// A `.sql` file the layout does not read (a `notes.sql` beside the migrations) and a near miss
/// of a migration's name are listed in `ignored`, with why `up` refuses them; a script that
/// mixes statements refusing a transaction block with others stays transactional, for the
/// analysis to report (`concurrently-in-transaction`).
///
/// The set is for linting: `up` and the other commands read the folder with [`discover`].
pub fn discover_to_lint(dir: &Path, forced: Option<Layout>, dialect: Option<Dialect>) -> Result<MigrationSet, Error> {
    read_folder(dir, forced, Reading::Lint, &ReadOptions { dialect, ..ReadOptions::default() })
}

/// Whether files that `discover` refuses stop the reading, or are listed and passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Strict,
    Lint,
}

/// Why a file that `up` refuses is passed over by `cutover lint`, after what is wrong with it.
const NOT_LINTED: &str = "so it is not linted; `cutover up` refuses the folder while it is there";

fn read_folder(
    dir: &Path,
    forced: Option<Layout>,
    reading: Reading,
    options: &ReadOptions,
) -> Result<MigrationSet, Error> {
    if dir.is_file() {
        return Err(Error::DirIsAFile { dir: dir.to_path_buf() });
    }
    if !dir.is_dir() {
        return Err(Error::DirNotFound { dir: dir.to_path_buf() });
    }
    let Scan { mut entries, mut ignored, .. } = Scan::of(dir, reading)?;
    entries.retain(|entry| {
        let Some((_, Recognised::Code { language, .. })) = &entry.recognised else {
            return true;
        };
        ignored.push(Ignored {
            path: entry.path.clone(),
            reason: format!("a migration written in {language} runs only under its own tool; cutover runs SQL, so apply its change another way (it is not recorded here)"),
            refused_by_up: false,
        });
        false
    });
    let layout = choose_layout(dir, &entries, forced)?;
    let rules = layouts::rules(layout);
    let reads = |entry: &Entry| matches!(&entry.recognised, Some((by, _)) if rules.reads().contains(by));
    if let Some(reason) = rules.passes_over_others() {
        entries.retain(|entry| {
            let read = reads(entry);
            if !read {
                ignored.push(Ignored { path: entry.path.clone(), reason: reason.to_string(), refused_by_up: false });
            }
            read
        });
    }
    let unread = |entry: &Entry| !reads(entry) || (entry.depth > 0 && !rules.reads_subfolders());
    // A folder that is one of the layout's migrations (temporal's `v1.0/`, a Prisma or diesel
    // folder) found below the folder read: the folder given is above the migrations folder.
    let too_deep = |entry: &Entry| {
        reads(entry)
            && entry.depth > 0
            && !rules.reads_subfolders()
            && matches!(&entry.recognised, Some((_, Recognised::Migration { part: crate::layouts::Part::Folder, .. })))
    };
    if reading == Reading::Lint {
        entries.retain(|entry| {
            if unread(entry) {
                let reason = if too_deep(entry) {
                    format!(
                        "a {layout} migration below the folder read, {NOT_LINTED}: point --dir (or `dir` in cutover.toml) at `{}`",
                        entry.path.parent().unwrap_or(dir).display()
                    )
                } else {
                    format!(
                        "not a {layout} migration (expected {}), {NOT_LINTED}: rename it, or move it out of the migrations directory",
                        layout.expected_names()
                    )
                };
                ignored.push(Ignored { path: entry.path.clone(), reason, refused_by_up: true });
            }
            !unread(entry)
        });
    }
    if let Some(entry) = entries.iter().find(|entry| unread(entry)) {
        // One of the layout's own migrations, a folder too deep: the folder given is above
        // the migrations folder (temporal's `schema/` above `versioned/`).
        if too_deep(entry) {
            let parent = entry.path.parent().unwrap_or(dir);
            return Err(Error::Metadata {
                path: entry.path.clone(),
                message: format!(
                    "a {layout} migration below the folder read: point --dir (or `dir` in cutover.toml) at `{}`",
                    parent.display()
                ),
            });
        }
        return Err(Error::UnrecognizedFile { path: entry.path.clone(), layout, expected: layout.expected_names() });
    }
    // Every entry left is a migration (or a script of one) that the layout reads.
    let found: Vec<Found> = entries
        .into_iter()
        .filter_map(|entry| match entry.recognised {
            Some((_, Recognised::Migration { version, name, part })) => {
                Some(Found { path: entry.path, version, name, part })
            }
            _ => None,
        })
        .collect();
    let mut migrations = rules.read(
        &found,
        &mut ReadContext { dialect: options.dialect, pop_options: &options.pop_options, ignored: &mut ignored },
    )?;
    migrations.extend(read_declarative(dir, layout)?);
    check_duplicates(&migrations)?;
    migrations.sort_by(|a, b| match (&a.version, &b.version) {
        (Some(va), Some(vb)) => va.cmp(vb),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
    Ok(MigrationSet { dir: dir.to_path_buf(), layout, migrations, ignored })
}

/// A file or folder the walk found.
struct Entry {
    path: PathBuf,
    // How many folders below the migrations directory.
    depth: usize,
    /// The layout that recognised it, and as what; `None` for a `.sql` file of no layout.
    recognised: Option<(Layout, Recognised)>,
}

/// The largest migration file cutover reads, in bytes.
///
/// Far above any real migration (the largest scripts, ones that load seed data, are a few MiB),
/// it is there so that a link to a device or a runaway generated file fails with a message
/// instead of filling the memory: a script is held several times over (its text, its
/// statements, the analysis).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What the walk of a migrations directory found.
struct Scan {
    reading: Reading,
    entries: Vec<Entry>,
    ignored: Vec<Ignored>,
    /// Files named almost as migrations (path, what is wrong, the name to give): one error
    /// lists them all, not the first alone.
    misnamed: Vec<(PathBuf, &'static str, String)>,
    /// Every folder read, by identity, with the path it was first read through.
    folders: HashMap<FolderId, PathBuf>,
}

/// A folder's identity: the same folder reached through a link has the same one.
#[cfg(unix)]
type FolderId = (u64, u64);
#[cfg(not(unix))]
type FolderId = PathBuf;

#[cfg(unix)]
fn folder_id(_path: &Path, meta: &fs::Metadata) -> Result<FolderId, Error> {
    use std::os::unix::fs::MetadataExt;
    Ok((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn folder_id(path: &Path, _meta: &fs::Metadata) -> Result<FolderId, Error> {
    fs::canonicalize(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

impl Scan {
    /// Walks `dir` and the folders below it.
    fn of(dir: &Path, reading: Reading) -> Result<Scan, Error> {
        let mut scan =
            Scan { reading, entries: Vec::new(), ignored: Vec::new(), misnamed: Vec::new(), folders: HashMap::new() };
        let meta = fs::metadata(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        scan.first_visit(dir, &meta)?;
        scan.walk(dir, 0)?;
        if !scan.misnamed.is_empty() {
            scan.misnamed.sort();
            return Err(Error::Misnamed { files: scan.misnamed });
        }
        Ok(scan)
    }

    /// Whether `path` is a folder not read yet; a second visit is listed with the first path.
    fn first_visit(&mut self, path: &Path, meta: &fs::Metadata) -> Result<bool, Error> {
        let id = folder_id(path, meta)?;
        if let Some(first) = self.folders.get(&id) {
            self.ignored.push(Ignored {
                path: path.to_path_buf(),
                reason: format!(
                    "a link to a folder already read (`{}`); each folder is read once, so a link that loops is not followed",
                    first.display()
                ),
                refused_by_up: false,
            });
            return Ok(false);
        }
        self.folders.insert(id, path.to_path_buf());
        Ok(true)
    }

    fn walk(&mut self, dir: &Path, depth: usize) -> Result<(), Error> {
        for (path, file_name) in visible_children(dir)? {
            // Follows links: a link to a folder is read as the folder, unless it was read already.
            if let Some(meta) = fs::metadata(&path).ok().filter(fs::Metadata::is_dir) {
                if !self.first_visit(&path, &meta)? {
                    continue;
                }
                match layouts::recognise_folder(&path, &file_name, &mut self.ignored)? {
                    Some(recognised) => self.entries.push(Entry { path, depth, recognised: Some(recognised) }),
                    None => self.walk(&path, depth + 1)?,
                }
                continue;
            }
            match near_miss(&file_name) {
                Some(NearMiss::Misnamed { problem, rename_to }) if self.reading == Reading::Lint => {
                    let reason = format!("not read as a migration: {problem}, {NOT_LINTED}: rename it to `{rename_to}` (or move it out of the migrations directory)");
                    self.ignored.push(Ignored { path, reason, refused_by_up: true });
                    continue;
                }
                Some(NearMiss::Misnamed { problem, rename_to }) => {
                    self.misnamed.push((path, problem, rename_to));
                    continue;
                }
                Some(NearMiss::Unused(reason)) => {
                    self.ignored.push(Ignored { path, reason, refused_by_up: false });
                    continue;
                }
                None => {}
            }
            let recognised = layouts::recognise_file(&mut FileCandidate::new(&path, &file_name))?;
            match recognised {
                Some(recognised) => self.entries.push(Entry { path, depth, recognised: Some(recognised) }),
                None if file_name.ends_with(".sql") => self.entries.push(Entry { path, depth, recognised: None }),
                None if named_like_migration(&file_name) => self.ignored.push(Ignored {
                    path,
                    reason: "named like a migration, but cutover reads only files ending `.sql`; if it is one, rename it to end `.sql`".to_string(),
                    refused_by_up: false,
                }),
                None => {}
            }
        }
        Ok(())
    }
}

/// The entries of `dir` that are not hidden, in name order, with their names.
/// A name that is not UTF-8 is an error: it cannot be told apart from a migration.
pub(crate) fn visible_children(dir: &Path) -> Result<Vec<(PathBuf, String)>, Error> {
    let read_dir = fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let mut children = Vec::new();
    for child in read_dir {
        let child = child.map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let path = child.path();
        let raw_name = child.file_name();
        if raw_name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let Some(file_name) = raw_name.to_str() else {
            let shown = dir.join(raw_name.to_string_lossy().as_ref());
            return Err(Error::NameNotUtf8 { path: shown });
        };
        children.push((path, file_name.to_string()));
    }
    children.sort();
    Ok(children)
}

/// A file name that is almost a migration's.
pub(crate) enum NearMiss {
    /// Meant as a migration, surely: an error that says how to rename it.
    Misnamed { problem: &'static str, rename_to: String },
    /// A copy of a migration (`.sql.bak`, `.sql~`): listed with the reason.
    Unused(String),
}

/// Names that would be read as SQL migrations but for their case, white space around them, or
/// an editor's `.txt`; and copies of SQL files. `None` for every other name.
pub(crate) fn near_miss(file_name: &str) -> Option<NearMiss> {
    let trimmed = file_name.trim();
    let lower = trimmed.to_ascii_lowercase();
    let problem = if trimmed != file_name && (lower.ends_with(".sql") || lower.ends_with(".sql.txt")) {
        "its name starts or ends with white space"
    } else if let Some(base) = file_name.strip_suffix(".sql") {
        // `2_b.UP.sql`, diesel's `Up.sql`: the direction is read in lower case only (tester 19:
        // told apart from the other near misses, in a message of its own).
        let lower_base = base.to_ascii_lowercase();
        ["up", "down"]
            .into_iter()
            .find(|word| (lower_base == *word || lower_base.ends_with(&format!(".{word}"))) && !base.ends_with(word))?;
        "cutover reads `up` and `down` before `.sql` in lower case"
    } else if lower.ends_with(".sql") {
        "cutover reads files ending `.sql`, in lower case"
    } else if lower.ends_with(".sql.txt") {
        "`.txt` after `.sql` (an editor added it?)"
    } else if let Some(at) = copy_of_sql(&lower).filter(|_| !lower.ends_with(".sql.conf")) {
        let tail = &trimmed[at..];
        return Some(NearMiss::Unused(format!(
            "ends `{tail}`, not `.sql`, so it is not read; if it is a migration, rename it to end `.sql`"
        )));
    } else {
        return None;
    };
    // The suffixes matched are ASCII, so their byte lengths are the same in `trimmed`.
    let base_len = trimmed.len() - if lower.ends_with(".sql.txt") { ".sql.txt".len() } else { ".sql".len() };
    // `.UP.SQL` is renamed `.up.sql` (and diesel's `UP.sql` `up.sql`): a name the layouts read.
    let mut base = trimmed[..base_len].to_string();
    for word in ["up", "down"] {
        let lower_base = base.to_ascii_lowercase();
        if lower_base == word || lower_base.ends_with(&format!(".{word}")) {
            base = format!("{}{word}", &base[..base.len() - word.len()]);
        }
    }
    Some(NearMiss::Misnamed { problem, rename_to: format!("{base}.sql") })
}

/// Where `.sql` starts in a name that goes on after it with another extension or a mark
/// (`.sql.bak`, `.sql~`), not with a longer word (`.sqlite`).
fn copy_of_sql(lower: &str) -> Option<usize> {
    lower
        .rmatch_indices(".sql")
        .map(|(at, _)| at)
        .find(|&at| lower[at + ".sql".len()..].chars().next().is_some_and(|c| !c.is_alphanumeric()))
}

/// `<version>_<name>` or a Flyway name before the first `.`, whatever the extension.
fn named_like_migration(file_name: &str) -> bool {
    let extension = file_name.split_once('.').map(|(_, ext)| ext);
    // Declarations (`.toml`), Flyway's settings (`.sql.conf`) and goose's Go files are read as
    // what they are.
    if matches!(extension, Some(ext) if ext == "toml" || ext == "go" || ext.ends_with("conf")) {
        return false;
    }
    let base = file_name.split('.').next().unwrap_or_default();
    Layout::ALL.into_iter().any(|layout| layouts::rules(layout).is_migration_name(base))
}

/// Every version the names in `dir` give, whatever the layout: migrations, Go migrations and
/// declarations. `cutover new` picks a version above them all.
pub(crate) fn versions_in(dir: &Path) -> Result<Vec<Version>, Error> {
    let scan = Scan::of(dir, Reading::Strict)?;
    let mut versions: Vec<Version> = scan
        .entries
        .into_iter()
        .filter_map(|entry| match entry.recognised? {
            (_, Recognised::Migration { version, .. }) => version,
            (_, Recognised::Code { version, .. }) => Some(version),
        })
        .collect();
    for (_, file_name) in visible_children(dir)? {
        if let Some((version, _)) = file_name.strip_suffix(".toml").and_then(parse_version_name) {
            versions.push(version);
        }
    }
    Ok(versions)
}

fn choose_layout(dir: &Path, entries: &[Entry], forced: Option<Layout>) -> Result<Layout, Error> {
    if let Some(layout) = forced {
        return Ok(layout);
    }
    let mut seen: Vec<(Layout, &Path)> = Vec::new();
    for entry in entries {
        let Some((layout, _)) = &entry.recognised else {
            continue;
        };
        if !seen.iter().any(|(l, _)| l == layout) {
            seen.push((*layout, &entry.path));
        }
    }
    // The one layout seen, or one whose files may stand beside all the others' (sqlx's beside
    // native pairs).
    let chosen = seen.iter().map(|(layout, _)| *layout).find(|&candidate| {
        let beside = layouts::rules(candidate).detected_beside();
        seen.iter().all(|(other, _)| *other == candidate || beside.contains(other))
    });
    match (chosen, seen.as_slice()) {
        (Some(layout), _) => Ok(layout),
        (None, [first, second, ..]) => Err(Error::MixedLayouts {
            dir: dir.to_path_buf(),
            first: (first.0, first.1.to_path_buf()),
            second: (second.0, second.1.to_path_buf()),
        }),
        // Nothing to tell the layout by: cutover's own.
        (None, _) => Ok(Layout::Native),
    }
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`] that holds UTF-8 text without NUL bytes,
/// normalized.
pub(crate) fn read_text(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    // Checked before opening: opening a FIFO waits for a writer, and a device never ends.
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::NotRegularFile { path: path.to_path_buf(), kind: kind_of(&meta) });
    }
    let too_large = |size| Error::TooLarge { path: path.to_path_buf(), size, limit: MAX_FILE_BYTES };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded again: the file may have grown since.
    fs::File::open(path).map_err(io)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(Error::AtLine {
            path: path.to_path_buf(),
            line: line_of(&bytes, at),
            message: "a NUL byte: a database may read the SQL only up to it and drop the rest unseen (SQLite does); remove it (write a zero byte in SQL as an escape, not as a raw byte)".to_string(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        let line = line_of(err.as_bytes(), err.utf8_error().valid_up_to());
        Error::NotUtf8 { path: path.to_path_buf(), line }
    })?;
    Ok(normalize(&text))
}

/// The 1-based line of byte `offset`, counting lines as [`normalize`] leaves them (LF, CRLF).
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// What a file that is not regular is, for messages.
fn kind_of(meta: &fs::Metadata) -> &'static str {
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// The declarative migrations: top-level `<version>_<name>.toml` files that declare
/// `[[operations]]` (files that only declare backfills are not migrations). Their operations
/// are read and checked by `cutover-expand`; here they are a version, a name and a checksum.
fn read_declarative(dir: &Path, layout: Layout) -> Result<Vec<Migration>, Error> {
    let read_dir = fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<PathBuf> = read_dir.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    let mut migrations = Vec::new();
    for path in paths {
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".toml")) else {
            continue;
        };
        let Some((version, name)) = parse_version_name(stem) else {
            continue;
        };
        let text = read_text(&path)?;
        let table = toml::from_str::<toml::Table>(&text).map_err(|err| Error::Metadata {
            path: path.clone(),
            message: format!("is not valid TOML: {}", err.to_string().trim()),
        })?;
        let no_operations = table.get("operations").is_none_or(|ops| ops.as_array().is_some_and(Vec::is_empty));
        if no_operations {
            if table.contains_key("backfill") && !table.contains_key("operations") {
                continue;
            }
            // Passed over, its version would be skipped for good: an empty or half-written
            // declaration stops the folder until it says what it is.
            return Err(Error::Metadata {
                path: path.clone(),
                message: "is named like a declarative migration but declares no `[[operations]]` (nor `[[backfill]]`): add its operations (`cutover explain` lists them), or remove the file".to_string(),
            });
        }
        let up = Script {
            path: path.clone(),
            text: text.clone(),
            statements: Vec::new(),
            settings: ScriptSettings::default(),
        };
        let mut migration = versioned(&version, &name, layout, &text, up);
        migration.kind = MigrationKind::Declarative;
        migrations.push(migration);
    }
    Ok(migrations)
}

fn check_duplicates(migrations: &[Migration]) -> Result<(), Error> {
    let mut versions: BTreeMap<&Version, &Path> = BTreeMap::new();
    let mut repeatables: BTreeMap<&str, &Path> = BTreeMap::new();
    for migration in migrations {
        let path = migration.up.path.as_path();
        match &migration.version {
            Some(version) => {
                if let Some(first) = versions.insert(version, path) {
                    return Err(Error::DuplicateVersion {
                        version: version.to_string(),
                        first: first.to_path_buf(),
                        second: path.to_path_buf(),
                    });
                }
            }
            None => {
                if let Some(first) = repeatables.insert(&migration.name, path) {
                    return Err(Error::DuplicateRepeatable {
                        name: migration.name.clone(),
                        first: first.to_path_buf(),
                        second: path.to_path_buf(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// What the tests of discovery share, here and in each layout's file.
#[cfg(test)]
pub(crate) mod testing {
    use std::fs;
    use std::path::Path;

    use super::discover;
    use crate::{Error, Layout, MigrationSet};

    /// Writes `files` (path, contents) into a fresh directory and reads it.
    pub(crate) fn read(
        files: &[(&str, &str)],
        forced: Option<Layout>,
    ) -> (tempfile::TempDir, Result<MigrationSet, Error>) {
        let dir = tempfile::tempdir().unwrap();
        for (path, contents) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
        }
        let res = discover(dir.path(), forced);
        (dir, res)
    }

    pub(crate) fn summary(set: &MigrationSet) -> Vec<String> {
        set.migrations
            .iter()
            .map(|m| {
                let up: Vec<String> = m.up.statements.iter().map(|s| format!("{}@{}", s.sql, s.line)).collect();
                let down =
                    m.down.as_ref().map(|d| d.statements.iter().map(|s| s.sql.clone()).collect::<Vec<_>>().join("|"));
                format!("{} tx={} up=[{}] down={:?}", m.label(), m.up.settings.transaction, up.join("|"), down)
            })
            .collect()
    }

    pub(crate) fn error_text(files: &[(&str, &str)]) -> String {
        let (_dir, res) = read(files, None);
        res.unwrap_err().to_string()
    }

    /// `discover`, failing the test instead of hanging when the scan does not finish.
    pub(crate) fn discover_within(dir: &Path, forced: Option<Layout>) -> Result<MigrationSet, Error> {
        let (send, receive) = std::sync::mpsc::channel();
        let dir = dir.to_path_buf();
        std::thread::spawn(move || send.send(discover(&dir, forced)));
        receive.recv_timeout(std::time::Duration::from_secs(20)).expect("the scan finishes")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{discover_within, error_text, read, summary};
    use super::*;

    #[test]
    fn scripts_keep_the_normalized_text_of_their_file() {
        let dbmate = "\u{feff}-- migrate:up\r\nCREATE TABLE t (a int);\r\n-- migrate:down\r\nDROP TABLE t;\r\n";
        let (_dir, res) = read(&[("1_t.sql", dbmate)], None);
        let migration = &res.unwrap().migrations[0];
        let whole = "-- migrate:up\nCREATE TABLE t (a int);\n-- migrate:down\nDROP TABLE t;\n";
        assert_eq!(migration.up.text, whole);
        assert_eq!(migration.down.as_ref().unwrap().text, whole, "a section's lines refer to the whole file");
        let (_dir, res) = read(&[("1_t.up.sql", "SELECT 1;\r\n"), ("1_t.down.sql", "SELECT 2;\r")], None);
        let migration = &res.unwrap().migrations[0];
        assert_eq!(
            (migration.up.text.as_str(), migration.down.as_ref().unwrap().text.as_str()),
            ("SELECT 1;\n", "SELECT 2;\r"),
            "a lone CR is the file's own (data, in a literal), not a line end to rewrite"
        );
    }

    #[test]
    fn checksums_ignore_line_endings_but_not_edits() {
        let checksum = |text: &str| {
            let (_dir, res) = read(&[("1_a.up.sql", text)], None);
            res.unwrap().migrations[0].checksum.clone()
        };
        assert_eq!(checksum("SELECT 1;\nSELECT 2;\n"), checksum("SELECT 1;\r\nSELECT 2;\r\n"));
        assert_ne!(checksum("SELECT 1;\nSELECT 2;\n"), checksum("SELECT 1;\nSELECT 3;\n"));
    }

    #[test]
    fn bad_directories_are_clear_errors() {
        let missing = discover(Path::new("/nonexistent/cutover-migrations"), None).unwrap_err().to_string();
        assert!(missing.contains("does not exist"), "{missing}");
        // A file given as the folder (tester 18: `--dir README.md` said it did not exist).
        let file = tempfile::NamedTempFile::new().unwrap();
        let is_file = discover(file.path(), None).unwrap_err().to_string();
        assert!(is_file.contains("is a file, not a directory"), "{is_file}");

        let mixed = error_text(&[("V1__a.sql", "SELECT 1;"), ("2_b.up.sql", "SELECT 2;")]);
        assert!(mixed.contains("mixes migration layouts"), "{mixed}");

        let duplicate = error_text(&[("1_a.up.sql", "SELECT 1;"), ("001_b.up.sql", "SELECT 2;")]);
        assert!(duplicate.contains("version 1 is used twice"), "{duplicate}");

        let orphan = error_text(&[("1_a.up.sql", "SELECT 1;"), ("2_b.down.sql", "SELECT 2;")]);
        assert!(orphan.contains("2_b.down.sql` reverts version 2, but no migration applies version 2"), "{orphan}");

        let misnamed = error_text(&[("1_a.up.sql", "SELECT 1;"), ("create_users.sql", "SELECT 2;")]);
        assert!(misnamed.contains("create_users.sql` is not a native migration"), "{misnamed}");

        let directive = error_text(&[("1_a.up.sql", "-- cutover:lock-timeout=never\nSELECT 1;")]);
        assert!(directive.contains("1_a.up.sql:1: bad value in `cutover:lock-timeout=never`"), "{directive}");

        let quote = error_text(&[("1_a.up.sql", "SELECT 1;\nSELECT 'open;\n")]);
        assert!(quote.contains("1_a.up.sql:2: unterminated string literal"), "{quote}");

        let commit = error_text(&[("1_a.up.sql", "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);")]);
        assert!(commit.contains("1_a.up.sql:2: `COMMIT` inside a transactional migration"), "{commit}");

        let dbmate = error_text(&[("1_a.sql", "-- migrate:down\nSELECT 1;")]);
        assert!(dbmate.contains("1_a.sql:1: no `-- migrate:up` section"), "{dbmate}");
    }

    #[test]
    fn branching_symlink_loops_are_listed_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("1_a.up.sql"), "SELECT 1;").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        for link in ["loop_a", "loop_b", "sub/up", "sub/again"] {
            let target = if link.starts_with("sub/") { ".." } else { "." };
            std::os::unix::fs::symlink(target, dir.path().join(link)).unwrap();
        }
        let set = discover_within(dir.path(), None).unwrap();
        assert_eq!(set.migrations.len(), 1);
        let mut ignored: Vec<String> = set
            .ignored
            .iter()
            .map(|i| format!("{} {}", i.path.strip_prefix(dir.path()).unwrap().display(), i.reason))
            .collect();
        ignored.sort();
        assert_eq!(ignored.len(), 4, "{ignored:?}");
        assert!(ignored[0].starts_with("loop_a ") && ignored[0].contains("loop"), "{ignored:?}");
        assert!(ignored.iter().all(|i| i.contains("already read")), "{ignored:?}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("1_a.up.sql"), "SELECT 1;").unwrap();
        let fifo = dir.path().join("2_b.up.sql");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = discover_within(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("2_b.up.sql` is a FIFO, not a regular file"), "{err}");

        // A link to a device reads without end; it is refused before it is opened.
        fs::remove_file(&fifo).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("2_b.sql")).unwrap();
        let err = discover_within(dir.path(), Some(Layout::Sqlx)).unwrap_err().to_string();
        assert!(err.contains("2_b.sql` is a character device, not a regular file"), "{err}");

        // Links to regular files are followed, inside the folder or out of it.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("shared.sql"), "SELECT 2;").unwrap();
        fs::remove_file(dir.path().join("2_b.sql")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("shared.sql"), dir.path().join("2_b.up.sql")).unwrap();
        std::os::unix::fs::symlink("1_a.up.sql", dir.path().join("1_a.down.sql")).unwrap();
        let set = discover_within(dir.path(), None).unwrap();
        assert_eq!(
            summary(&set),
            ["1 a tx=true up=[SELECT 1@1] down=Some(\"SELECT 1\")", "2 b tx=true up=[SELECT 2@1] down=None"]
        );
    }

    #[test]
    fn files_over_the_size_bound_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = fs::File::create(dir.path().join("1_a.up.sql")).unwrap();
        // Sparse: no disk is used.
        file.set_len(64 * 1024 * 1024 + 1).unwrap();
        // Not `unwrap_err()`: a set read by mistake would print 64 MiB.
        let Err(err) = discover_within(dir.path(), None) else { panic!("a file over the bound was read") };
        let err = err.to_string();
        assert!(err.contains("1_a.up.sql` is 67108865 bytes, over the 64 MiB"), "{err}");
    }

    #[test]
    fn nul_bytes_and_invalid_utf8_are_refused_at_their_line() {
        for (name, text) in [
            ("1_a.up.sql", "SELECT 1;\nSELECT 'a\0'; DROP TABLE t;\n"),
            ("1_a.sql", "-- migrate:up\nSELECT 1;\nSELECT 2;\0\n"),
            ("V1__a.sql", "SELECT 1;\n\nSELECT\0 2;\n"),
            ("2019-01-01-000000_a/up.sql", "SELECT 1;\n\0"),
        ] {
            let err = error_text(&[(name, text)]);
            let line = 1 + text[..text.find('\0').unwrap()].matches('\n').count();
            assert!(err.contains(&format!("{name}:{line}: a NUL byte")), "{name}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("1_a.up.sql"), b"SELECT 1;\nSELECT 'caf\xe9';\n").unwrap();
        let err = discover(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("1_a.up.sql:2: not UTF-8 text"), "{err}");
    }

    #[test]
    fn near_misses_of_a_migration_name_are_errors_in_every_layout() {
        // (a valid migration of the layout, a misnamed one, the name it should have)
        let cases = [
            ("1_a.up.sql", "2_b.up.SQL", "2_b.up.sql"),
            ("1_a.up.sql", "2_b.up.sql ", "2_b.up.sql"),
            ("1_a.up.sql", " 2_b.up.sql", "2_b.up.sql"),
            ("1_a.up.sql", "2_b.down.Sql", "2_b.down.sql"),
            ("1_a.up.sql", "2_b.up.sql.txt", "2_b.up.sql"),
            ("1_a.up.sql", "2_b.UP.sql", "2_b.up.sql"),
            ("1_a.up.sql", "2_b.Down.sql", "2_b.down.sql"),
            ("V1__a.sql", "V2__b.SQL", "V2__b.sql"),
            ("V1__a.sql", "sub/V2__b.sql\t", "V2__b.sql"),
            ("1_a.sql", "2_b.SQL", "2_b.sql"),
            ("2019-01-01-000000_a/up.sql", "2019-01-01-000000_a/down.SQL", "down.sql"),
            ("2019-01-01-000000_a/up.sql", "2019-01-01-000000_a/Down.sql", "down.sql"),
            ("2019-01-01-000000_a/up.sql", "2019-01-02-000000_b/up.sql ", "up.sql"),
        ];
        for (valid, misnamed, fixed) in cases {
            let err = error_text(&[(valid, "-- migrate:up\nSELECT 1;"), (misnamed, "SELECT 2;")]);
            let shown = Path::new(misnamed).file_name().unwrap().to_str().unwrap();
            assert!(err.contains(&format!("{shown}` is not read as a migration")), "{misnamed}: {err}");
            assert!(err.contains(&format!("rename it to `{fixed}`")), "{misnamed}: {err}");
        }
    }

    #[test]
    fn near_miss_names_with_wide_white_space() {
        // U+3000 is white space of three bytes: the suggestions slice the trimmed name.
        let Some(NearMiss::Misnamed { rename_to, .. }) = near_miss("\u{3000}2_b.up.SQL") else { panic!() };
        assert_eq!(rename_to, "2_b.up.sql");
        let Some(NearMiss::Unused(reason)) = near_miss("\u{3000}2_b.up.sql.bak\u{3000}") else { panic!() };
        assert!(reason.starts_with("ends `.sql.bak`"), "{reason}");
        assert!(near_miss("dev.sqlite").is_none() && near_miss("V1__a.sql.conf").is_none());
    }

    #[test]
    fn non_utf8_file_names_are_errors() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("1_a.up.sql"), "SELECT 1;").unwrap();
        fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"2_caf\xe9.up.sql")), "SELECT 2;").unwrap();
        let err = discover(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("2_caf\u{fffd}.up.sql`: the file name is not UTF-8"), "{err}");
    }

    #[test]
    fn unused_files_named_like_migrations_are_listed() {
        let (dir, res) = read(
            &[
                ("1_a.up.sql", "SELECT 1;"),
                ("1_a.up.sql.bak", "SELECT 0;"),
                ("2_b.up.sql~", "SELECT 0;"),
                ("3_c.psql", "SELECT 0;"),
                ("4_d", "SELECT 0;"),
                ("5_e_test.go", "package migrations"),
                ("6_f.toml", "[[backfill]]"),
                ("V1__a.sql.conf", "executeInTransaction=false"),
                ("README.md", "notes"),
                ("dev.sqlite", "not SQL text"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.migrations.len(), 1);
        let ignored: Vec<String> = set
            .ignored
            .iter()
            .map(|i| format!("{}: {}", i.path.strip_prefix(dir.path()).unwrap().display(), i.reason))
            .collect();
        assert_eq!(ignored.len(), 4, "{ignored:?}");
        assert!(ignored[0].starts_with("1_a.up.sql.bak: ") && ignored[0].contains("not `.sql`"), "{ignored:?}");
        assert!(ignored[3].starts_with("4_d: "), "{ignored:?}");
    }

    #[test]
    fn a_script_of_statements_that_refuse_a_transaction_runs_outside_one_with_no_directive() {
        let (_dir, res) = read(
            &[
                ("1_t.up.sql", "CREATE TABLE t (a int);"),
                ("2_i.up.sql", "-- the index, built without blocking writes\nCREATE INDEX CONCURRENTLY i ON t (a);\n"),
                ("2_i.down.sql", "DROP INDEX CONCURRENTLY i;"),
                ("3_v.up.sql", "BEGIN;\nVACUUM t;\nCOMMIT;\n"),
                (
                    "4_both.up.sql",
                    "-- cutover:no-transaction\nCREATE TABLE u (a int);\nCREATE INDEX CONCURRENTLY j ON u (a);\n",
                ),
            ],
            None,
        );
        let set = res.unwrap();
        let transactional: Vec<(bool, Option<bool>)> = set
            .migrations
            .iter()
            .map(|m| (m.up.settings.transaction, m.down.as_ref().map(|d| d.settings.transaction)))
            .collect();
        assert_eq!(transactional, [(true, None), (false, Some(false)), (false, None), (false, None)]);
        // Every layout builds its scripts the same way: dbmate's sections, goose's, Flyway's files.
        let dbmate =
            "-- migrate:up\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\nDROP INDEX CONCURRENTLY i;\n";
        let (_dir, res) = read(&[("20240101000000_i.sql", dbmate)], None);
        let migration = &res.unwrap().migrations[0];
        assert_eq!((migration.layout, migration.up.settings.transaction), (Layout::Dbmate, false));
        assert!(!migration.down.as_ref().unwrap().settings.transaction);
        let (_dir, res) = read(&[("V1__i.sql", "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);")], None);
        assert!(!res.unwrap().migrations[0].up.settings.transaction);
    }

    #[test]
    fn a_script_that_mixes_them_is_refused_naming_both_lines() {
        let mixed = "CREATE TABLE t (a int);\n\nCREATE INDEX CONCURRENTLY i ON t (a);\nINSERT INTO t VALUES (1);\n";
        let refusal = |files: &[(&str, &str)]| {
            let (_dir, res) = read(files, None);
            let set = res.unwrap();
            let m = &set.migrations[0];
            std::iter::once(&m.up).chain(&m.down).find_map(mixed_transaction).map(|e| e.to_string()).unwrap()
        };
        let err = refusal(&[("1_t.up.sql", mixed)]);
        assert!(
            err.contains("1_t.up.sql:3: CREATE INDEX CONCURRENTLY cannot run inside a transaction block, but the file also has statements that run in one (the first at line 1)"),
            "{err}"
        );
        assert!(err.contains("move the CREATE INDEX CONCURRENTLY to a migration of its own"), "{err}");
        assert!(err.contains("`-- cutover:no-transaction` at the top"), "{err}");
        // A down script too; the folder is still read (the runner refuses when it would run it).
        let err = refusal(&[
            ("1_t.up.sql", "CREATE TABLE t (a int);"),
            ("1_t.down.sql", "DROP INDEX CONCURRENTLY i;\nDROP TABLE t;"),
        ]);
        assert!(err.contains("1_t.down.sql:1: DROP INDEX CONCURRENTLY cannot run"), "{err}");
        assert!(err.contains("(the first at line 2)"), "{err}");
    }

    #[test]
    fn lint_reads_past_what_up_refuses_and_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("1_t.up.sql", "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);"),
            ("2_u.up.sql", "CREATE TABLE u (a int);"),
            ("notes.sql", "SELECT 'not a migration';"),
            ("3_v.up.SQL", "SELECT 1;"),
        ];
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        assert!(discover(dir.path(), None).is_err());
        let set = discover_to_lint(dir.path(), None, None).unwrap();
        let labels: Vec<String> = set.migrations.iter().map(|m| m.label()).collect();
        assert_eq!(labels, ["1 t", "2 u"]);
        assert!(set.migrations[0].up.settings.transaction, "the mix stays transactional, for the analysis to report");
        let ignored: Vec<String> = set
            .ignored
            .iter()
            .map(|i| format!("{}: {}", i.path.file_name().unwrap().to_string_lossy(), i.reason))
            .collect();
        assert_eq!(ignored.len(), 2, "{ignored:?}");
        assert!(ignored[0].starts_with("3_v.up.SQL: not read as a migration: cutover reads files ending `.sql`, in lower case, so it is not linted; `cutover up` refuses the folder while it is there: rename it to `3_v.up.sql`"), "{ignored:?}");
        assert!(
            ignored[1].starts_with("notes.sql: not a native migration (expected `<version>_<name>.up.sql`"),
            "{ignored:?}"
        );
        assert!(ignored[1].ends_with("so it is not linted; `cutover up` refuses the folder while it is there: rename it, or move it out of the migrations directory"), "{ignored:?}");
    }

    #[test]
    fn forced_layout_rejects_other_files() {
        let (_dir, res) = read(&[("V1__a.sql", "SELECT 1;")], Some(Layout::Native));
        assert!(res.unwrap_err().to_string().contains("is not a native migration"));
    }
}
