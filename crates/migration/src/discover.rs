//! Reading a migrations directory in any supported layout.
//!
//! The layout is detected per directory from the file names (and, for single-file layouts, the
//! section markers inside), or forced by the caller. Files that look like migrations of another
//! layout, or like nothing, are errors: a misnamed migration is never silently skipped.
//!
//! The scan reads each folder once (a link back to a folder already read is listed, not
//! followed, so a loop ends), opens only regular files, and reads at most [`MAX_FILE_BYTES`]
//! of each.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::checksum::{normalize, Checksum};
use crate::directive::{read_directives, ScriptSettings};
use crate::split::{first_token_offset, split_statements, Statement};
use crate::{Error, Ignored, Layout, Migration, MigrationKind, MigrationSet, Script, Version};

/// Reads every migration under `dir`, detecting its layout unless `forced`.
pub fn discover(dir: &Path, forced: Option<Layout>) -> Result<MigrationSet, Error> {
    if !dir.is_dir() {
        return Err(Error::DirNotFound { dir: dir.to_path_buf() });
    }
    let Scan { mut entries, mut ignored, .. } = Scan::of(dir)?;
    entries.retain(|entry| {
        let is_code = matches!(entry.kind, EntryKind::CodeMigration { .. });
        if is_code {
            ignored.push(Ignored {
                path: entry.path.clone(),
                reason: "a migration written in Go runs only under its own tool; cutover runs SQL, so apply its change another way (it is not recorded here)".to_string(),
            });
        }
        !is_code
    });
    let layout = choose_layout(dir, &entries, forced)?;
    entries.retain(|entry| {
        // diesel reads only migration folders and passes over loose files beside them
        // (crates.io keeps a data script there); say so rather than fail or skip silently.
        let loose_diesel_file = layout == Layout::Diesel && !matches!(entry.kind, EntryKind::DieselDir { .. });
        if loose_diesel_file {
            ignored.push(Ignored {
                path: entry.path.clone(),
                reason: "diesel reads only migration folders, not loose files beside them".to_string(),
            });
        }
        !loose_diesel_file
    });
    for entry in &entries {
        let accepted = match &entry.kind {
            EntryKind::Other => false,
            kind => kind.family().accepted_by(layout),
        };
        if !accepted || (entry.depth > 0 && layout != Layout::Flyway) {
            return Err(Error::UnrecognizedFile {
                path: entry.path.clone(),
                layout,
                expected: layout.expected_names(),
            });
        }
    }
    let mut migrations = match layout {
        Layout::Native | Layout::GolangMigrate | Layout::Sqlx => read_file_pairs(layout, &entries)?,
        Layout::Flyway => read_flyway(&entries)?,
        Layout::Dbmate | Layout::Goose => read_sectioned(layout, &entries)?,
        Layout::Diesel => read_diesel(&entries)?,
    };
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

struct Entry {
    path: PathBuf,
    // How many folders below the migrations directory.
    depth: usize,
    kind: EntryKind,
}

enum EntryKind {
    /// `<version>_<name>.up.sql` or `.down.sql`.
    Pair { version: Version, name: String, up: bool },
    /// `<version>_<name>.sql`: sqlx, dbmate or goose, by content.
    Single { version: Version, name: String, text: String },
    /// `V`, `U` or `R` Flyway file.
    Flyway { prefix: char, version: Option<Version>, description: String },
    /// A diesel folder.
    DieselDir { version: Version, name: String },
    /// A `.sql` file of no layout.
    Other,
    /// A versioned migration written in a programming language (goose's `.go` files).
    CodeMigration { version: Version },
}

impl EntryKind {
    /// The version the entry's name gives, if any.
    fn version(&self) -> Option<&Version> {
        match self {
            EntryKind::Pair { version, .. }
            | EntryKind::Single { version, .. }
            | EntryKind::DieselDir { version, .. }
            | EntryKind::CodeMigration { version } => Some(version),
            EntryKind::Flyway { version, .. } => version.as_ref(),
            EntryKind::Other => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Pair,
    SqlxSingle,
    Dbmate,
    Goose,
    Flyway,
    Diesel,
}

impl EntryKind {
    fn family(&self) -> Family {
        match self {
            EntryKind::Pair { .. } => Family::Pair,
            EntryKind::Single { text, .. } => {
                if has_goose_marker(text) {
                    Family::Goose
                } else if has_dbmate_marker(text) {
                    Family::Dbmate
                } else {
                    Family::SqlxSingle
                }
            }
            EntryKind::Flyway { .. } => Family::Flyway,
            EntryKind::DieselDir { .. } => Family::Diesel,
            EntryKind::Other | EntryKind::CodeMigration { .. } => {
                unreachable!("callers filter out unrecognised files and code migrations")
            }
        }
    }
}

impl Family {
    fn accepted_by(self, layout: Layout) -> bool {
        match layout {
            Layout::Native | Layout::GolangMigrate => self == Family::Pair,
            // A forced sqlx layout reads single files as plain SQL, whatever comments they hold.
            Layout::Sqlx => matches!(self, Family::Pair | Family::SqlxSingle | Family::Dbmate | Family::Goose),
            Layout::Dbmate => matches!(self, Family::Dbmate | Family::SqlxSingle),
            Layout::Goose => matches!(self, Family::Goose | Family::SqlxSingle),
            Layout::Flyway => self == Family::Flyway,
            Layout::Diesel => self == Family::Diesel,
        }
    }

    fn layout(self) -> Layout {
        match self {
            Family::Pair => Layout::Native,
            Family::SqlxSingle => Layout::Sqlx,
            Family::Dbmate => Layout::Dbmate,
            Family::Goose => Layout::Goose,
            Family::Flyway => Layout::Flyway,
            Family::Diesel => Layout::Diesel,
        }
    }
}

fn has_goose_marker(text: &str) -> bool {
    text.lines().any(|line| goose_command(line).is_some())
}

fn has_dbmate_marker(text: &str) -> bool {
    text.lines().any(|line| dbmate_marker(line).is_some())
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
    entries: Vec<Entry>,
    ignored: Vec<Ignored>,
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
    fn of(dir: &Path) -> Result<Scan, Error> {
        let mut scan = Scan { entries: Vec::new(), ignored: Vec::new(), folders: HashMap::new() };
        let meta = fs::metadata(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        scan.first_visit(dir, &meta)?;
        scan.walk(dir, 0)?;
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
                match parse_diesel_dir_name(&file_name) {
                    Some((version, name)) if present(&path.join("up.sql")) || present(&path.join("down.sql")) => {
                        self.check_diesel_folder(&path)?;
                        self.entries.push(Entry { path, depth, kind: EntryKind::DieselDir { version, name } });
                    }
                    _ => self.walk(&path, depth + 1)?,
                }
                continue;
            }
            match near_miss(&file_name) {
                Some(NearMiss::Misnamed { problem, rename_to }) => {
                    return Err(Error::Misnamed { path, problem, rename_to });
                }
                Some(NearMiss::Unused(reason)) => {
                    self.ignored.push(Ignored { path, reason });
                    continue;
                }
                None => {}
            }
            let Some(stem) = file_name.strip_suffix(".sql") else {
                // goose keeps migrations written in Go among its SQL files.
                let go_migration = file_name.strip_suffix(".go").and_then(parse_version_name);
                match go_migration {
                    Some((version, _)) if !file_name.ends_with("_test.go") => {
                        self.entries.push(Entry { path, depth, kind: EntryKind::CodeMigration { version } });
                    }
                    _ if named_like_migration(&file_name) => self.ignored.push(Ignored {
                        path,
                        reason: "named like a migration, but cutover reads only files ending `.sql`; if it is one, rename it to end `.sql`".to_string(),
                    }),
                    _ => {}
                }
                continue;
            };
            let kind = if let Some(kind) = parse_flyway_name(stem) {
                kind
            } else if let Some((version, name, up)) = parse_pair_name(stem) {
                EntryKind::Pair { version, name, up }
            } else if let Some((version, name)) = parse_version_name(stem) {
                EntryKind::Single { version, name, text: read_text(&path)? }
            } else {
                EntryKind::Other
            };
            self.entries.push(Entry { path, depth, kind });
        }
        Ok(())
    }

    /// The files of a diesel migration folder beside `up.sql`, `down.sql` and `metadata.toml`:
    /// a near miss of those names is an error, another SQL file is listed.
    fn check_diesel_folder(&mut self, dir: &Path) -> Result<(), Error> {
        for (path, file_name) in visible_children(dir)? {
            if matches!(file_name.as_str(), "up.sql" | "down.sql" | "metadata.toml") {
                continue;
            }
            let lower = file_name.trim().to_ascii_lowercase();
            match near_miss(&file_name) {
                Some(NearMiss::Misnamed { problem, rename_to }) => {
                    return Err(Error::Misnamed { path, problem, rename_to });
                }
                Some(NearMiss::Unused(reason)) => self.ignored.push(Ignored { path, reason }),
                None if lower == "up.sql" || lower == "down.sql" => {
                    return Err(Error::Misnamed {
                        path,
                        problem: "diesel reads `up.sql` and `down.sql`, in lower case",
                        rename_to: lower,
                    });
                }
                None if file_name.ends_with(".sql") => self.ignored.push(Ignored {
                    path,
                    reason: "diesel reads only `up.sql` and `down.sql` in a migration folder".to_string(),
                }),
                None => {}
            }
        }
        Ok(())
    }
}

/// The entries of `dir` that are not hidden, in name order, with their names.
/// A name that is not UTF-8 is an error: it cannot be told apart from a migration.
fn visible_children(dir: &Path) -> Result<Vec<(PathBuf, String)>, Error> {
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

/// Whether something is at `path`, a dangling link included (reading it then says what is wrong).
fn present(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// A file name that is almost a migration's.
enum NearMiss {
    /// Meant as a migration, surely: an error that says how to rename it.
    Misnamed { problem: &'static str, rename_to: String },
    /// A copy of a migration (`.sql.bak`, `.sql~`): listed with the reason.
    Unused(String),
}

/// Names that would be read as SQL migrations but for their case, white space around them, or
/// an editor's `.txt`; and copies of SQL files. `None` for every other name.
fn near_miss(file_name: &str) -> Option<NearMiss> {
    let trimmed = file_name.trim();
    let lower = trimmed.to_ascii_lowercase();
    let problem = if trimmed != file_name && (lower.ends_with(".sql") || lower.ends_with(".sql.txt")) {
        "its name starts or ends with white space"
    } else if file_name.ends_with(".sql") {
        return None;
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
    Some(NearMiss::Misnamed { problem, rename_to: format!("{}.sql", &trimmed[..base_len]) })
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
    parse_version_name(base).is_some() || parse_flyway_name(base).is_some()
}

/// Every version the names in `dir` give, whatever the layout: migrations, Go migrations and
/// declarations. `cutover new` picks a version above them all.
pub(crate) fn versions_in(dir: &Path) -> Result<Vec<Version>, Error> {
    let scan = Scan::of(dir)?;
    let mut versions: Vec<Version> = scan.entries.iter().filter_map(|entry| entry.kind.version().cloned()).collect();
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
    let mut seen: Vec<(Family, &Path)> = Vec::new();
    for entry in entries {
        if matches!(entry.kind, EntryKind::Other) {
            continue;
        }
        let family = entry.kind.family();
        if !seen.iter().any(|(f, _)| *f == family) {
            seen.push((family, &entry.path));
        }
    }
    let families: Vec<Family> = seen.iter().map(|(f, _)| *f).collect();
    match families.as_slice() {
        [] => Ok(Layout::Native),
        [family] => Ok(family.layout()),
        // sqlx reads reversible pairs and simple files side by side.
        [Family::Pair, Family::SqlxSingle] | [Family::SqlxSingle, Family::Pair] => Ok(Layout::Sqlx),
        _ => {
            let (first, second) = (seen[0], seen[1]);
            Err(Error::MixedLayouts {
                dir: dir.to_path_buf(),
                first: (first.0.layout(), first.1.to_path_buf()),
                second: (second.0.layout(), second.1.to_path_buf()),
            })
        }
    }
}

/// `V1_2__desc`, `U1_2__desc`, `R__desc`.
fn parse_flyway_name(stem: &str) -> Option<EntryKind> {
    let (prefix, rest) = stem.split_at_checked(1)?;
    let prefix = prefix.chars().next()?;
    let (version_text, description) = rest.split_once("__")?;
    if description.is_empty() {
        return None;
    }
    let description = description.replace('_', " ");
    match prefix {
        'V' | 'U' => {
            let version = Version::parse(version_text)?;
            Some(EntryKind::Flyway { prefix, version: Some(version), description })
        }
        'R' if version_text.is_empty() => Some(EntryKind::Flyway { prefix, version: None, description }),
        _ => None,
    }
}

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

/// `<digits>_<name>`.
fn parse_version_name(stem: &str) -> Option<(Version, String)> {
    let (version_text, name) = stem.split_once('_')?;
    if name.is_empty() || name.contains('.') || !version_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((Version::parse(version_text)?, name.to_string()))
}

/// diesel's `2019-05-14-123456_name` or `00000000000000_name`: the version is the text before
/// the first `_` with `-` removed.
fn parse_diesel_dir_name(dir_name: &str) -> Option<(Version, String)> {
    let (version_text, name) = dir_name.split_once('_')?;
    let digits: String = version_text.chars().filter(|&c| c != '-').collect();
    if name.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((Version::parse_lexical(&digits)?, name.to_string()))
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`] that holds UTF-8 text without NUL bytes,
/// normalized.
fn read_text(path: &Path) -> Result<String, Error> {
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

/// The 1-based line of byte `offset`, counting lines as [`normalize`] does (CRLF, CR or LF).
fn line_of(bytes: &[u8], offset: usize) -> usize {
    let before = &bytes[..offset];
    let breaks = before
        .iter()
        .enumerate()
        .filter(|&(idx, &b)| b == b'\n' || (b == b'\r' && before.get(idx + 1) != Some(&b'\n')))
        .count();
    1 + breaks
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

/// A part of a file that holds one script: a whole file, or a dbmate/goose section.
struct Section<'a> {
    path: &'a Path,
    // The normalized text of the whole file.
    file_text: &'a str,
    // Byte range of the section in `file_text`.
    start: usize,
    end: usize,
}

impl Section<'_> {
    fn whole<'a>(path: &'a Path, file_text: &'a str) -> Section<'a> {
        Section { path, file_text, start: 0, end: file_text.len() }
    }

    fn text(&self) -> &str {
        &self.file_text[self.start..self.end]
    }

    /// 1-based line in the file of the section's first byte.
    fn first_line(&self) -> usize {
        1 + self.file_text[..self.start].bytes().filter(|&b| b == b'\n').count()
    }

    fn error(&self, line_in_section: usize, message: String) -> Error {
        Error::AtLine { path: self.path.to_path_buf(), line: self.first_line() + line_in_section - 1, message }
    }

    /// Splits the section into statements whose lines and spans refer to the whole file.
    fn statements(&self) -> Result<Vec<Statement>, Error> {
        let statements = split_statements(self.text()).map_err(|err| {
            self.error(err.line, format!("{err}; close it, or check the quotes and comments before this line"))
        })?;
        let line_offset = self.first_line() - 1;
        Ok(statements
            .into_iter()
            .map(|s| Statement {
                sql: s.sql,
                line: s.line + line_offset,
                span: s.span.start + self.start..s.span.end + self.start,
            })
            .collect())
    }

    /// Reads the section's directives on top of `settings`.
    fn settings(&self, mut settings: ScriptSettings) -> Result<ScriptSettings, Error> {
        read_directives(self.text(), &mut settings).map_err(|err| self.error(err.line, err.message))?;
        Ok(settings)
    }
}

/// Builds a script from its statements, removing a `BEGIN`/`COMMIT` pair that wraps a
/// transactional script and refusing any other transaction control.
fn finish_script(
    path: &Path,
    file_text: &str,
    mut statements: Vec<Statement>,
    settings: ScriptSettings,
) -> Result<Script, Error> {
    if settings.transaction {
        let wrapped = statements.len() >= 2
            && transaction_control(&statements[0]) == Some("BEGIN")
            && transaction_control(&statements[statements.len() - 1]) == Some("COMMIT");
        if wrapped {
            statements.pop();
            statements.remove(0);
        }
    }
    if let Some(statement) = statements.iter().find(|s| transaction_control(s).is_some()) {
        let keyword = transaction_control(statement).unwrap_or_default();
        let message = if settings.transaction {
            format!("`{keyword}` inside a transactional migration would end cutover's transaction early, apart from the history row; remove it (a BEGIN/COMMIT pair around the whole script is fine), or add `-- cutover:no-transaction` at the top")
        } else {
            format!("`{keyword}` in a no-transaction migration: cutover runs and records each statement on its own; remove it, or drop the no-transaction marker to run the script in one transaction")
        };
        return Err(Error::AtLine { path: path.to_path_buf(), line: statement.line, message });
    }
    Ok(Script { path: path.to_path_buf(), text: file_text.to_string(), statements, settings })
}

/// `BEGIN`, `COMMIT` or `ROLLBACK` when the statement starts or ends a transaction.
fn transaction_control(statement: &Statement) -> Option<&'static str> {
    let words = statement.leading_keywords(2);
    let second = words.get(1).map(String::as_str);
    match (words.first().map(String::as_str)?, second) {
        ("BEGIN", None | Some("TRANSACTION" | "WORK" | "ISOLATION" | "READ")) => Some("BEGIN"),
        ("START", Some("TRANSACTION")) => Some("BEGIN"),
        ("COMMIT" | "END", None | Some("TRANSACTION" | "WORK" | "AND")) => Some("COMMIT"),
        ("ROLLBACK", None | Some("TRANSACTION" | "WORK" | "AND")) => Some("ROLLBACK"),
        _ => None,
    }
}

fn script_from_file(path: &Path, text: &str, base: ScriptSettings) -> Result<Script, Error> {
    let section = Section::whole(path, text);
    let settings = section.settings(base)?;
    finish_script(path, text, section.statements()?, settings)
}

fn read_file_pairs(layout: Layout, entries: &[Entry]) -> Result<Vec<Migration>, Error> {
    let mut ups: Vec<Migration> = Vec::new();
    let mut downs: Vec<(&Version, &Path)> = Vec::new();
    for entry in entries {
        match &entry.kind {
            EntryKind::Pair { version, name, up: true } => {
                let text = read_text(&entry.path)?;
                let up = script_from_file(&entry.path, &text, ScriptSettings::default())?;
                ups.push(versioned(version, name, layout, &text, up));
            }
            EntryKind::Single { version, name, text } => {
                let up = script_from_file(&entry.path, text, ScriptSettings::default())?;
                ups.push(versioned(version, name, layout, text, up));
            }
            EntryKind::Pair { version, up: false, .. } => downs.push((version, &entry.path)),
            _ => {}
        }
    }
    attach_downs(&mut ups, downs)?;
    Ok(ups)
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
        if !table.contains_key("operations") {
            continue;
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

fn versioned(version: &Version, name: &str, layout: Layout, up_file_text: &str, up: Script) -> Migration {
    Migration {
        version: Some(version.clone()),
        name: name.to_string(),
        kind: MigrationKind::Versioned,
        layout,
        checksum: Checksum::of_normalized(up_file_text),
        up,
        down: None,
    }
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

fn read_flyway(entries: &[Entry]) -> Result<Vec<Migration>, Error> {
    let mut migrations = Vec::new();
    let mut undos = Vec::new();
    for entry in entries {
        let EntryKind::Flyway { prefix, version, description } = &entry.kind else {
            continue;
        };
        if *prefix == 'U' {
            if let Some(version) = version {
                undos.push((version, entry.path.as_path()));
            }
            continue;
        }
        let text = read_text(&entry.path)?;
        let script = script_from_file(&entry.path, &text, flyway_conf(&entry.path)?)?;
        migrations.push(Migration {
            version: version.clone(),
            name: description.clone(),
            kind: if version.is_some() { MigrationKind::Versioned } else { MigrationKind::Repeatable },
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
            settings.transaction = match value.trim() {
                "true" => true,
                "false" => false,
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

fn read_diesel(entries: &[Entry]) -> Result<Vec<Migration>, Error> {
    let mut migrations = Vec::new();
    for entry in entries {
        let EntryKind::DieselDir { version, name } = &entry.kind else {
            continue;
        };
        let mut base = ScriptSettings::default();
        let metadata_path = entry.path.join("metadata.toml");
        if metadata_path.exists() {
            let text = read_text(&metadata_path)?;
            let metadata: DieselMetadata = toml::from_str(&text)
                .map_err(|err| Error::Metadata { path: metadata_path.clone(), message: err.to_string() })?;
            base.transaction = metadata.run_in_transaction.unwrap_or(true);
        }
        let up_path = entry.path.join("up.sql");
        if !up_path.exists() {
            return Err(Error::OrphanDown { path: entry.path.join("down.sql"), version: version.to_string() });
        }
        let up_text = read_text(&up_path)?;
        let up = script_from_file(&up_path, &up_text, base)?;
        let down_path = entry.path.join("down.sql");
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

#[derive(serde::Deserialize)]
struct DieselMetadata {
    run_in_transaction: Option<bool>,
}

fn read_sectioned(layout: Layout, entries: &[Entry]) -> Result<Vec<Migration>, Error> {
    let mut migrations = Vec::new();
    for entry in entries {
        let EntryKind::Single { version, name, text } = &entry.kind else {
            continue;
        };
        let (up, down) = match layout {
            Layout::Dbmate => read_dbmate(&entry.path, text)?,
            _ => read_goose(&entry.path, text)?,
        };
        let mut migration = versioned(version, name, layout, text, up);
        migration.down = down;
        migrations.push(migration);
    }
    Ok(migrations)
}

/// `-- migrate:up [options]` → `Some((true, options))`; `-- migrate:down` → `Some((false, ..))`.
fn dbmate_marker(line: &str) -> Option<(bool, &str)> {
    let body = line.trim_start().strip_prefix("--")?.trim_start();
    if let Some(rest) = body.strip_prefix("migrate:up") {
        return (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some((true, rest.trim()));
    }
    let rest = body.strip_prefix("migrate:down")?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some((false, rest.trim()))
}

/// Byte offsets of each line's start, with the line's text (without its newline).
fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |line| {
        let start = offset;
        offset += line.len();
        (start, line.trim_end_matches('\n'))
    })
}

fn read_dbmate(path: &Path, text: &str) -> Result<(Script, Option<Script>), Error> {
    // (is_up, options, byte offset of the line after the marker, 1-based marker line)
    let mut markers: Vec<(bool, String, usize, usize)> = Vec::new();
    for (line_idx, (offset, line)) in lines_with_offsets(text).enumerate() {
        if let Some((is_up, options)) = dbmate_marker(line) {
            let next = (offset + line.len() + 1).min(text.len());
            if markers.iter().any(|(up, ..)| *up == is_up) {
                let which = if is_up { "up" } else { "down" };
                return Err(Error::AtLine {
                    path: path.to_path_buf(),
                    line: line_idx + 1,
                    message: format!("a second `-- migrate:{which}` section; merge it into the first"),
                });
            }
            markers.push((is_up, options.to_string(), next, line_idx + 1));
        }
    }
    let Some(up_idx) = markers.iter().position(|(up, ..)| *up) else {
        return Err(Error::AtLine {
            path: path.to_path_buf(),
            line: 1,
            message: "no `-- migrate:up` section; a dbmate migration starts its up SQL with `-- migrate:up`"
                .to_string(),
        });
    };
    let first_marker_line = markers.iter().map(|m| m.3).min().unwrap_or(1);
    let before = Section { path, file_text: text, start: 0, end: line_start(text, first_marker_line) };
    if let Some(statement) = before.statements()?.first() {
        return Err(Error::AtLine {
            path: path.to_path_buf(),
            line: statement.line,
            message: "SQL before the first `-- migrate:` marker never runs; move it into the up or down section"
                .to_string(),
        });
    }
    let section_of = |idx: usize| {
        let (_, options, start, _) = &markers[idx];
        let end = markers.iter().map(|m| line_start(text, m.3)).filter(|&s| s >= *start).min().unwrap_or(text.len());
        let mut settings = ScriptSettings::default();
        for option in options.split_whitespace() {
            match option {
                "transaction:false" => settings.transaction = false,
                "transaction:true" => settings.transaction = true,
                _ => {}
            }
        }
        let section = Section { path, file_text: text, start: *start, end };
        let settings = section.settings(settings)?;
        finish_script(path, text, section.statements()?, settings)
    };
    let up = section_of(up_idx)?;
    let down = match markers.iter().position(|(up, ..)| !*up) {
        Some(idx) => Some(section_of(idx)?),
        None => None,
    };
    Ok((up, down))
}

/// Byte offset where 1-based line `line` starts.
fn line_start(text: &str, line: usize) -> usize {
    lines_with_offsets(text).nth(line - 1).map_or(text.len(), |(offset, _)| offset)
}

/// The command of a `-- +goose <command>` line.
fn goose_command(line: &str) -> Option<&str> {
    let body = line.trim_start().strip_prefix("--")?.trim_start();
    let command = body.strip_prefix("+goose")?;
    Some(command.trim())
}

fn read_goose(path: &Path, text: &str) -> Result<(Script, Option<Script>), Error> {
    let at_line =
        |line: usize, message: &str| Error::AtLine { path: path.to_path_buf(), line, message: message.to_string() };
    let mut settings = ScriptSettings::default();
    // Statements of the up and down sections; `None` before the first marker.
    let mut up: Option<Vec<Statement>> = None;
    let mut down: Option<Vec<Statement>> = None;
    let mut in_up = true;
    // Start of the plain SQL run since the last marker, as (byte offset, line index).
    let mut plain_start: Option<usize> = None;
    let mut block: Option<(usize, usize)> = None;

    let flush_plain = |start: Option<usize>, end: usize, target: &mut Option<Vec<Statement>>| -> Result<(), Error> {
        let Some(start) = start else { return Ok(()) };
        let section = Section { path, file_text: text, start, end };
        let statements = section.statements()?;
        match target {
            Some(list) => list.extend(statements),
            None if statements.is_empty() => {}
            None => {
                return Err(at_line(
                    statements[0].line,
                    "SQL before `-- +goose Up` never runs; move it below the marker",
                ));
            }
        }
        Ok(())
    };

    for (line_idx, (offset, line)) in lines_with_offsets(text).enumerate() {
        let Some(command) = goose_command(line) else {
            continue;
        };
        let next = (offset + line.len() + 1).min(text.len());
        let line_no = line_idx + 1;
        let lower = command.to_ascii_lowercase();
        if let Some((block_start, block_line)) = block {
            if lower == "statementend" {
                // Like every statement, the block starts at its first token, after any comments.
                let start = block_start + first_token_offset(&text[block_start..offset]);
                let body = text[start..offset].trim_end();
                let body = body.strip_suffix(';').unwrap_or(body).trim_end();
                if !body.is_empty() {
                    let first_line = block_line + text[block_start..start].matches('\n').count();
                    let statement =
                        Statement { sql: body.to_string(), line: first_line, span: start..start + body.len() };
                    let target = if in_up { &mut up } else { &mut down };
                    target.get_or_insert_with(Vec::new).push(statement);
                }
                block = None;
                plain_start = Some(next);
            }
            continue;
        }
        let target = if in_up { &mut up } else { &mut down };
        match lower.as_str() {
            "up" | "down" => {
                flush_plain(plain_start, offset, target)?;
                in_up = lower == "up";
                let target = if in_up { &mut up } else { &mut down };
                if target.is_some() {
                    return Err(at_line(
                        line_no,
                        "a second goose section of the same direction; merge it into the first",
                    ));
                }
                *target = Some(Vec::new());
                plain_start = Some(next);
            }
            "statementbegin" => {
                flush_plain(plain_start, offset, target)?;
                if target.is_none() {
                    return Err(at_line(
                        line_no,
                        "`-- +goose StatementBegin` before `-- +goose Up`; add the Up marker first",
                    ));
                }
                block = Some((next, line_no + 1));
                plain_start = None;
            }
            "statementend" => return Err(at_line(line_no, "`-- +goose StatementEnd` without a StatementBegin")),
            "no transaction" => settings.transaction = false,
            _ if lower.starts_with("envsub") => {}
            _ => return Err(at_line(line_no, &format!("unknown goose annotation `-- +goose {command}`"))),
        }
    }
    if let Some((_, block_line)) = block {
        return Err(at_line(
            block_line - 1,
            "`-- +goose StatementBegin` is never closed; add `-- +goose StatementEnd`",
        ));
    }
    let target = if in_up { &mut up } else { &mut down };
    flush_plain(plain_start, text.len(), target)?;
    let Some(up_statements) = up else {
        return Err(at_line(1, "no `-- +goose Up` section; a goose migration starts with `-- +goose Up`"));
    };
    // Goose files carry their directives as annotations, but ours work too.
    let settings = Section::whole(path, text).settings(settings)?;
    let up = finish_script(path, text, up_statements, settings)?;
    let down = match down {
        Some(statements) => Some(finish_script(path, text, statements, settings)?),
        None => None,
    };
    Ok((up, down))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path, contents) into a fresh directory and reads it.
    fn read(files: &[(&str, &str)], forced: Option<Layout>) -> (tempfile::TempDir, Result<MigrationSet, Error>) {
        let dir = tempfile::tempdir().unwrap();
        for (path, contents) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
        }
        let res = discover(dir.path(), forced);
        (dir, res)
    }

    fn summary(set: &MigrationSet) -> Vec<String> {
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

    fn error_text(files: &[(&str, &str)]) -> String {
        let (_dir, res) = read(files, None);
        res.unwrap_err().to_string()
    }

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
    }

    #[test]
    fn dbmate_sections() {
        let (_dir, res) = read(
            &[(
                "20240101000000_users.sql",
                "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n-- migrate:down\nDROP INDEX i;\n",
            )],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Dbmate);
        assert_eq!(
            summary(&set),
            ["20240101000000 users tx=false up=[CREATE INDEX CONCURRENTLY i ON t (a)@2] down=Some(\"DROP INDEX i\")"]
        );
    }

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
            ("SELECT 1;\n", "SELECT 2;\n")
        );
    }

    #[test]
    fn goose_sections_and_statement_blocks() {
        let (_dir, res) = read(
            &[(
                "00001_func.sql",
                "-- +goose Up\n-- +goose StatementBegin\n-- why: a comment before the block's SQL\nCREATE FUNCTION f() RETURNS int AS 'SELECT 1; ' LANGUAGE sql\n-- +goose StatementEnd\nSELECT 1;\n-- +goose Down\nDROP FUNCTION f();\n",
            )],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Goose);
        assert_eq!(
            summary(&set),
            ["00001 func tx=true up=[CREATE FUNCTION f() RETURNS int AS 'SELECT 1; ' LANGUAGE sql@4|SELECT 1@6] down=Some(\"DROP FUNCTION f()\")"]
        );
        let (_dir, res) = read(&[("1_x.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;\n")], None);
        assert!(!res.unwrap().migrations[0].up.settings.transaction);
    }

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

    #[test]
    fn goose_go_migrations_are_listed_not_skipped_silently() {
        let (_dir, res) = read(
            &[
                ("1_a.sql", "-- +goose Up\nSELECT 1;"),
                ("2_b.go", "package migrations"),
                ("helpers.go", "package migrations"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Goose);
        assert_eq!(set.ignored.len(), 1);
        assert!(set.ignored[0].path.ends_with("2_b.go"));
        assert!(set.ignored[0].reason.contains("written in Go"));
    }

    #[test]
    fn sqlx_reads_simple_and_reversible_files_together() {
        let (_dir, res) = read(&[("1_a.sql", "-- no-transaction\nSELECT 1;"), ("2_b.up.sql", "SELECT 2;")], None);
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Sqlx);
        assert!(!set.migrations[0].up.settings.transaction);
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

    /// `discover`, failing the test instead of hanging when the scan does not finish.
    fn discover_within(dir: &Path, forced: Option<Layout>) -> Result<MigrationSet, Error> {
        let (send, receive) = std::sync::mpsc::channel();
        let dir = dir.to_path_buf();
        std::thread::spawn(move || send.send(discover(&dir, forced)));
        receive.recv_timeout(std::time::Duration::from_secs(20)).expect("the scan finishes")
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
            ("V1__a.sql", "V2__b.SQL", "V2__b.sql"),
            ("V1__a.sql", "sub/V2__b.sql\t", "V2__b.sql"),
            ("1_a.sql", "2_b.SQL", "2_b.sql"),
            ("2019-01-01-000000_a/up.sql", "2019-01-01-000000_a/down.SQL", "down.sql"),
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
    fn forced_layout_rejects_other_files() {
        let (_dir, res) = read(&[("V1__a.sql", "SELECT 1;")], Some(Layout::Native));
        assert!(res.unwrap_err().to_string().contains("is not a native migration"));
    }
}
