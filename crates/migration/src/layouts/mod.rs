//! The layouts, one file each, and the one interface they implement ([`LayoutRules`]).
//!
//! A layout says how it names its files (and folders), which files found in a folder it reads,
//! how it turns them into migrations (pairing up and down scripts, its directives), how it
//! reads a version, and what a new migration's files are. What all layouts share is in
//! `discover.rs`: the walk of the folder, [`read_text`]'s checks, near-miss names, the listing
//! of files passed over, and the choice of the layout. Below are the tools layouts build with:
//! a one-file migration recognised by its text, a file or a section of one made a [`Script`].
//!
//! Adding a layout: a file here implementing [`LayoutRules`], a [`Layout`] variant (and its place
//! in [`Layout::ALL`]), an arm in [`rules`] and a place in [`RECOGNITION_ORDER`].

mod atlas;
mod authelia;
mod dbmate;
mod diesel;
mod flyway;
mod golang_migrate;
mod goose;
mod liquibase;
mod native;
mod pop;
mod prisma;
mod sqitch;
mod sqlx;
mod temporal;

use std::path::{Path, PathBuf};

pub use atlas::atlas_sum;
pub use liquibase::{liquibase_changesets, LiquibaseChangeset};

use crate::checksum::Checksum;
use crate::directive::{read_directives, ScriptSettings};
use crate::discover::read_text;
use crate::split::{split_statements, Statement};
use crate::transaction::{transactionality, Transactionality};
use crate::{Error, Ignored, Layout, Migration, MigrationKind, Script, Version};

/// What a layout knows of its own files. The methods with a default serve most layouts.
pub(crate) trait LayoutRules: Sync {
    /// Its name, as `--layout` takes it.
    fn name(&self) -> &'static str;

    /// The file names it reads, for messages.
    fn expected_names(&self) -> &'static str;

    /// Its version rule: a version from the text a file name (or the history) gives.
    fn parse_version(&self, text: &str) -> Option<Version> {
        Version::parse(text)
    }

    /// Whether `file` is (a script of) one of its migrations, and what it is then. Asked of each
    /// file the walk finds (hidden files and near misses aside), in [`RECOGNITION_ORDER`]; the
    /// first layout that says yes has the file.
    fn recognise_file(&self, _file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        Ok(None)
    }

    /// Whether `folder` (named `name`) is one migration rather than a folder to look into.
    /// Files inside it passed over on purpose go to `ignored`.
    fn recognise_folder(
        &self,
        _folder: &Path,
        _name: &str,
        _ignored: &mut Vec<Ignored>,
    ) -> Result<Option<Recognised>, Error> {
        Ok(None)
    }

    /// Whether `base` (a file name up to its first `.`) is named as its migrations are, so that
    /// such a file with an extension no layout reads is listed rather than passed over silently.
    /// By default `<digits>_<name>`, as most layouts name theirs.
    fn is_migration_name(&self, base: &str) -> bool {
        parse_version_name(base).is_some()
    }

    /// The layouts whose recognised files it reads: its own, and those it cannot tell apart or
    /// reads as plain SQL.
    fn reads(&self) -> &'static [Layout];

    /// Layouts whose files, found beside its own, still make the folder its own.
    fn detected_beside(&self) -> &'static [Layout] {
        &[]
    }

    /// Whether its migrations may stand in subfolders.
    fn reads_subfolders(&self) -> bool {
        false
    }

    /// Why files it does not read are passed over (and listed) beside its own, for a layout
    /// that does so rather than refuse them.
    fn passes_over_others(&self) -> Option<&'static str> {
        None
    }

    /// The migrations of the files it reads, in any order: pairs up and down scripts, and reads
    /// its directives.
    fn read(&self, found: &[Found], context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error>;

    /// The files of a new, empty migration (path and contents).
    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)>;

    /// The migration version a version named on the command line stands for, when it is no
    /// migration's own (`versions`: the folder's): a temporal-sql-tool version split into one
    /// migration per file stands for its last file's.
    fn stands_for(&self, _dir: &Path, _version: &Version, _versions: &[&Version]) -> Option<Version> {
        None
    }

    /// Whether its migrations are known by their name and file rather than their version
    /// (Liquibase's `author:id` in a changelog): a version is then only a place in the order,
    /// which moves when a changeset is added above, and the history is matched by name.
    fn identifies_by_name(&self) -> bool {
        false
    }

    /// How to add a migration, for a layout whose migrations only its own tool (or its writer)
    /// can add: `cutover new` says so rather than write files.
    fn new_by_its_tool(&self) -> Option<&'static str> {
        None
    }
}

/// The rules of `layout`.
pub(crate) fn rules(layout: Layout) -> &'static dyn LayoutRules {
    match layout {
        Layout::Native => &native::Native,
        Layout::GolangMigrate => &golang_migrate::GolangMigrate,
        Layout::Sqlx => &sqlx::Sqlx,
        Layout::Flyway => &flyway::Flyway,
        Layout::Dbmate => &dbmate::Dbmate,
        Layout::Goose => &goose::Goose,
        Layout::Diesel => &diesel::Diesel,
        Layout::Prisma => &prisma::Prisma,
        Layout::Pop => &pop::Pop,
        Layout::Sqitch => &sqitch::Sqitch,
        Layout::Liquibase => &liquibase::Liquibase,
        Layout::Atlas => &atlas::Atlas,
        Layout::Authelia => &authelia::Authelia,
        Layout::Temporal => &temporal::Temporal,
    }
}

/// The order layouts are asked whether a file is theirs. Layouts that know their files by the
/// text inside (Liquibase's changelogs, goose, then dbmate) or by the file beside them (Atlas's
/// `atlas.sum`) come before sqlx, which takes any file of the same name.
const RECOGNITION_ORDER: [Layout; 14] = [
    Layout::Sqitch,
    Layout::Liquibase,
    Layout::Atlas,
    Layout::Flyway,
    Layout::Native,
    Layout::GolangMigrate,
    Layout::Goose,
    Layout::Dbmate,
    Layout::Sqlx,
    Layout::Diesel,
    Layout::Prisma,
    Layout::Pop,
    Layout::Authelia,
    Layout::Temporal,
];

/// The layout whose file `file` is, and what it is; `None` when it is no layout's.
pub(crate) fn recognise_file(file: &mut FileCandidate<'_>) -> Result<Option<(Layout, Recognised)>, Error> {
    for layout in RECOGNITION_ORDER {
        if let Some(recognised) = rules(layout).recognise_file(file)? {
            return Ok(Some((layout, recognised)));
        }
    }
    Ok(None)
}

/// The layout whose migration `folder` is, and what it is; `None` for a folder to look into.
pub(crate) fn recognise_folder(
    folder: &Path,
    name: &str,
    ignored: &mut Vec<Ignored>,
) -> Result<Option<(Layout, Recognised)>, Error> {
    for layout in RECOGNITION_ORDER {
        if let Some(recognised) = rules(layout).recognise_folder(folder, name, ignored)? {
            return Ok(Some((layout, recognised)));
        }
    }
    Ok(None)
}

/// A file in the migrations folder, as a layout sees it to tell whether it is one of its own.
pub(crate) struct FileCandidate<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    // Read by the first layout that asks, for the next ones and for the migration.
    text: Option<String>,
}

impl<'a> FileCandidate<'a> {
    pub fn new(path: &'a Path, name: &'a str) -> FileCandidate<'a> {
        FileCandidate { path, name, text: None }
    }

    /// The name without `.sql`, for a name that ends so.
    pub fn sql_stem(&self) -> Option<&'a str> {
        self.name.strip_suffix(".sql")
    }

    /// The file's text, bounded and checked ([`read_text`]), read once whoever asks.
    pub fn text(&mut self) -> Result<&str, Error> {
        let text = match self.text.take() {
            Some(text) => text,
            None => read_text(self.path)?,
        };
        Ok(self.text.insert(text))
    }

    /// The file's first `n` bytes at most, as text (lossy): enough to tell a layout known by
    /// its first line (Liquibase's header) without reading every file whole. Empty when it
    /// cannot be read, or is no regular file (a FIFO is never opened here); the layout that
    /// takes the file reports what is wrong with it.
    pub fn head(&self, n: usize) -> String {
        if let Some(text) = &self.text {
            return String::from_utf8_lossy(&text.as_bytes()[..n.min(text.len())]).into_owned();
        }
        if !std::fs::metadata(self.path).is_ok_and(|m| m.is_file()) {
            return String::new();
        }
        let mut bytes = Vec::with_capacity(n);
        if let Ok(file) = std::fs::File::open(self.path) {
            let _ = std::io::Read::read_to_end(&mut std::io::Read::take(file, n as u64), &mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The file's text, for the migration to keep.
    pub fn take_text(&mut self) -> Result<String, Error> {
        match self.text.take() {
            Some(text) => Ok(text),
            None => read_text(self.path),
        }
    }
}

/// What a layout makes of a file or folder it recognises.
pub(crate) enum Recognised {
    /// A migration, or one script of one.
    Migration { version: Option<Version>, name: String, part: Part },
    /// A migration written in a programming language: cutover cannot run it, so it is listed;
    /// its version still counts (`cutover new` goes above it).
    Code { version: Version, language: &'static str },
}

/// Which part of a migration a recognised file or folder holds.
pub(crate) enum Part {
    /// The up script (or a repeatable migration's only one).
    Up,
    /// The down script.
    Down,
    /// One file for the whole migration, read during recognition: plain SQL, or up and down
    /// sections.
    Whole(String),
    /// A folder holding the migration's files.
    Folder,
}

/// What a layout may need beside its files when it reads them.
pub(crate) struct ReadContext<'a> {
    /// The engine the folder is read for, when known.
    pub dialect: Option<crate::Dialect>,
    /// The options the application gives pop, which its templates render.
    pub pop_options: &'a std::collections::BTreeMap<String, String>,
    /// Where files it passes over on purpose go, with the reason.
    pub ignored: &'a mut Vec<Ignored>,
}

/// A file or folder that the folder's layout reads.
pub(crate) struct Found {
    pub path: PathBuf,
    /// `None` for a repeatable migration.
    pub version: Option<Version>,
    pub name: String,
    pub part: Part,
}

/// `<digits>_<name>`, the name of most layouts' migrations.
pub fn parse_version_name(stem: &str) -> Option<(Version, String)> {
    let (version_text, name) = stem.split_once('_')?;
    if name.is_empty() || name.contains('.') || !version_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((Version::parse(version_text)?, name.to_string()))
}

/// A `<version>_<name>.sql` file holding the whole migration, when its text passes `is_own`
/// (the layouts that read one file a migration tell theirs apart by what is inside).
pub(crate) fn recognise_single_file(
    file: &mut FileCandidate<'_>,
    is_own: fn(&str) -> bool,
) -> Result<Option<Recognised>, Error> {
    let Some((version, name)) = file.sql_stem().and_then(parse_version_name) else {
        return Ok(None);
    };
    if !is_own(file.text()?) {
        return Ok(None);
    }
    Ok(Some(Recognised::Migration { version: Some(version), name, part: Part::Whole(file.take_text()?) }))
}

/// A migration's up script and its down script, if it has one.
pub(crate) type UpDown = (Script, Option<Script>);

/// Reads one-file migrations whose up and down scripts are sections, as `split` finds them.
pub(crate) fn read_sectioned(
    layout: Layout,
    found: &[Found],
    split: fn(&Path, &str) -> Result<UpDown, Error>,
) -> Result<Vec<Migration>, Error> {
    let mut migrations = Vec::new();
    for entry in found {
        let Found { path, version: Some(version), name, part: Part::Whole(text) } = entry else {
            continue;
        };
        let (up, down) = split(path, text)?;
        let mut migration = versioned(version, name, layout, text, up);
        migration.down = down;
        migrations.push(migration);
    }
    Ok(migrations)
}

/// Whether something is at `path`, a dangling link included (reading it then says what is wrong).
pub(crate) fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// A versioned migration without a down script; its checksum is of the file holding `up`.
pub(crate) fn versioned(version: &Version, name: &str, layout: Layout, up_file_text: &str, up: Script) -> Migration {
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

/// Byte offsets of each line's start, with the line's text (without its newline).
pub(crate) fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |line| {
        let start = offset;
        offset += line.len();
        (start, line.trim_end_matches('\n'))
    })
}

/// A part of a file that holds one script: a whole file, or a dbmate/goose section.
pub(crate) struct Section<'a> {
    pub path: &'a Path,
    /// The normalized text of the whole file.
    pub file_text: &'a str,
    /// Byte range of the section in `file_text`.
    pub start: usize,
    pub end: usize,
}

impl Section<'_> {
    pub fn whole<'a>(path: &'a Path, file_text: &'a str) -> Section<'a> {
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
    pub fn statements(&self) -> Result<Vec<Statement>, Error> {
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
    pub fn settings(&self, mut settings: ScriptSettings) -> Result<ScriptSettings, Error> {
        read_directives(self.text(), &mut settings).map_err(|err| self.error(err.line, err.message))?;
        Ok(settings)
    }
}

/// Builds a script from its statements, removing a `BEGIN`/`COMMIT` pair that wraps a
/// transactional script and refusing any other transaction control. A transactional script
/// made only of statements that refuse a transaction block runs outside one
/// ([`transactionality`]); one that mixes them with others is left transactional here, and
/// refused by `discover` (`cutover lint` reports it instead).
pub(crate) fn finish_script(
    path: &Path,
    file_text: &str,
    mut statements: Vec<Statement>,
    mut settings: ScriptSettings,
) -> Result<Script, Error> {
    if settings.transaction {
        let wrapped = statements.len() >= 2
            && transaction_control(&statements[0]) == Some("BEGIN")
            && transaction_control(&statements[statements.len() - 1]) == Some("COMMIT");
        if wrapped {
            statements.pop();
            let begin = statements.remove(0);
            // `BEGIN ISOLATION LEVEL SERIALIZABLE`: cutover's transaction gets the same modes.
            if let Some(modes) = transaction_modes(&begin.sql) {
                statements.insert(0, Statement { sql: format!("SET TRANSACTION {modes}"), ..begin });
            }
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
    if settings.transaction && transactionality(&statements) == Transactionality::Outside {
        settings.transaction = false;
    }
    Ok(Script { path: path.to_path_buf(), text: file_text.to_string(), statements, settings })
}

/// The modes a `BEGIN` or `START TRANSACTION` gives its transaction (`ISOLATION LEVEL ...`,
/// `READ ONLY`, `DEFERRABLE`), as `SET TRANSACTION` takes them; `None` without any, or for
/// MySQL's `WITH CONSISTENT SNAPSHOT`, which `SET TRANSACTION` does not take.
fn transaction_modes(sql: &str) -> Option<String> {
    let text = sql.trim().trim_end_matches(';').trim();
    let upper = text.to_ascii_uppercase();
    let skip = ["START TRANSACTION", "BEGIN TRANSACTION", "BEGIN WORK", "BEGIN"]
        .iter()
        .find(|prefix| upper.starts_with(*prefix) && upper[prefix.len()..].starts_with(|c: char| c.is_whitespace()))?
        .len();
    let modes = text[skip..].trim();
    let words: Vec<&str> = modes.split_whitespace().collect();
    let known = words
        .first()
        .is_some_and(|w| ["ISOLATION", "READ", "DEFERRABLE", "NOT"].iter().any(|k| w.eq_ignore_ascii_case(k)));
    (known && !upper.contains("CONSISTENT SNAPSHOT")).then(|| modes.to_string())
}

/// `BEGIN`, `COMMIT` or `ROLLBACK` when the statement starts or ends a transaction.
pub(crate) fn transaction_control(statement: &Statement) -> Option<&'static str> {
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

/// A script that is a whole file, its directives read on top of `base`.
pub(crate) fn script_from_file(path: &Path, text: &str, base: ScriptSettings) -> Result<Script, Error> {
    let section = Section::whole(path, text);
    let settings = section.settings(base)?;
    finish_script(path, text, section.statements()?, settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapping_begin_keeps_its_modes() {
        assert_eq!(
            transaction_modes("BEGIN ISOLATION LEVEL SERIALIZABLE;").as_deref(),
            Some("ISOLATION LEVEL SERIALIZABLE")
        );
        assert_eq!(
            transaction_modes("start transaction isolation level repeatable read, read only").as_deref(),
            Some("isolation level repeatable read, read only")
        );
        assert_eq!(transaction_modes("BEGIN;"), None);
        assert_eq!(transaction_modes("BEGIN WORK"), None);
        assert_eq!(transaction_modes("START TRANSACTION WITH CONSISTENT SNAPSHOT"), None);
        let statements =
            split_statements("BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE t (a int);\nCOMMIT;\n").unwrap();
        let script = finish_script(Path::new("1_a.up.sql"), "", statements, ScriptSettings::default()).unwrap();
        let sql: Vec<&str> = script.statements.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(sql, ["SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "CREATE TABLE t (a int)"]);
    }

    #[test]
    fn every_layout_is_asked_once_in_the_recognition_order() {
        let mut ordered = RECOGNITION_ORDER.to_vec();
        ordered.sort_by_key(|layout| Layout::ALL.iter().position(|l| l == layout));
        assert_eq!(ordered, Layout::ALL);
    }
}
