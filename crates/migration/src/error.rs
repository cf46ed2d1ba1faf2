//! Errors from reading a migrations directory. Each says what is wrong, where, and how to fix it.

use std::path::PathBuf;

use crate::Layout;

/// Why a migrations directory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory does not exist.
    #[error("migrations directory `{}` does not exist; create it (`cutover new <name>` does) or point --dir, CUTOVER_DIR or `dir` in cutover.toml at your migrations", dir.display())]
    DirNotFound {
        /// The directory that was looked for.
        dir: PathBuf,
    },
    /// What the directory names is a file.
    #[error("migrations directory `{}` is a file, not a directory; point --dir, CUTOVER_DIR or `dir` in cutover.toml at the folder that holds your migrations", dir.display())]
    DirIsAFile {
        /// The path given.
        dir: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{}:{line}: not UTF-8 text (saved in another encoding?); save the file as UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first byte that is not UTF-8.
        line: usize,
    },
    /// A file or folder name in the migrations directory is not UTF-8.
    #[error("`{}`: the file name is not UTF-8, so cutover cannot tell whether it is a migration nor record it; rename it (or move it out of the migrations directory)", path.display())]
    NameNotUtf8 {
        /// The file, its name shown with replacement characters.
        path: PathBuf,
    },
    /// A migration file that is a FIFO, a device, a socket or a folder.
    #[error("`{}` is {kind}, not a regular file; cutover reads migrations only from regular files: put the file itself there (a link to a regular file is fine), or move it out of the migrations directory", path.display())]
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is instead: `a FIFO`, `a character device`, ...
        kind: &'static str,
    },
    /// A migration file over [`crate::MAX_FILE_BYTES`].
    #[error("`{}` is {size} bytes, over the {} MiB a migration file may have; split it into several migrations, or load bulk data another way", path.display(), limit / (1024 * 1024))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The bound, in bytes.
        limit: u64,
    },
    /// A file named almost like a migration: a wrong-case extension, white space around the
    /// name, `.sql.txt`.
    #[error("{}", misnamed(files))]
    Misnamed {
        /// Each file, what is wrong with its name, and the name it should have.
        files: Vec<(PathBuf, &'static str, String)>,
    },
    /// `cutover new` found no version above the existing ones.
    #[error("cannot pick a version above `{newest}` for a new migration in `{}`; create its files by hand with a larger version", dir.display())]
    NoNewVersion {
        /// The migrations directory.
        dir: PathBuf,
        /// The version in the way.
        newest: String,
    },
    /// A migration folder without its script.
    #[error("`{}` is a {layout} migration folder without `{script}` ({why}): add the script, or remove the folder", folder.display())]
    MissingScript {
        /// The folder.
        folder: PathBuf,
        /// Its layout.
        layout: Layout,
        /// The script it lacks.
        script: &'static str,
        /// Why the folder counts as a migration.
        why: &'static str,
    },
    /// `cutover new` in a layout whose tool keeps a plan cutover does not write.
    #[error("`cutover new` does not write {layout} migrations: {how}")]
    NewByItsTool {
        /// The layout.
        layout: Layout,
        /// How to add one.
        how: &'static str,
    },
    /// Two layouts in one directory.
    #[error("`{}` mixes migration layouts: `{}` is {} but `{}` is {}; keep one layout per directory (or force one with --layout)", dir.display(), first.1.display(), first.0, second.1.display(), second.0)]
    MixedLayouts {
        /// The migrations directory.
        dir: PathBuf,
        /// A file of the first layout seen.
        first: (Layout, PathBuf),
        /// A file of another layout.
        second: (Layout, PathBuf),
    },
    /// A `.sql` file whose name the layout does not recognise.
    #[error("`{}` is not a {layout} migration (expected {expected}); rename it, or move it out of the migrations directory", path.display())]
    UnrecognizedFile {
        /// The file.
        path: PathBuf,
        /// The directory's layout.
        layout: Layout,
        /// The names the layout expects.
        expected: &'static str,
    },
    /// Two migrations with the same version.
    #[error("version {version} is used twice: `{}` and `{}`; give one of them a new version", first.display(), second.display())]
    DuplicateVersion {
        /// The version.
        version: String,
        /// The first file with it.
        first: PathBuf,
        /// The second file with it.
        second: PathBuf,
    },
    /// Two repeatable migrations with the same name.
    #[error("repeatable migration `{name}` is defined twice: `{}` and `{}`; rename one", first.display(), second.display())]
    DuplicateRepeatable {
        /// The name.
        name: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// A down (undo) script with no up script.
    #[error("`{}` reverts version {version}, but no migration applies version {version}; add its up script or delete this file", path.display())]
    OrphanDown {
        /// The down file.
        path: PathBuf,
        /// Its version.
        version: String,
    },
    /// Something wrong at a line of a file: a directive, a section marker, a statement.
    #[error("{}:{line}: {message}", path.display())]
    AtLine {
        /// The file.
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A script that mixes statements PostgreSQL refuses inside a transaction block with
    /// others, with nothing saying how to run it: in one transaction the first fail, statement
    /// by statement the others lose all-or-nothing.
    #[error("{}:{refusing_line}: {what} cannot run inside a transaction block, but the file also has statements that run in one (the first at line {other_line}); move the {what} to a migration of its own (alone, it runs outside a transaction, no directive needed), or mark it no-transaction if running each statement on its own, not all or nothing, is intended: `-- cutover:no-transaction` at the top, or the switch of the tool whose folder it is (`-- +goose NO TRANSACTION`, `runInTransaction:false` on a Liquibase changeset, ...), which cutover reads too", path.display())]
    MixedTransaction {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first statement that refuses a transaction block.
        refusing_line: usize,
        /// What PostgreSQL calls it (`CREATE INDEX CONCURRENTLY`).
        what: &'static str,
        /// 1-based line of the first statement that does not.
        other_line: usize,
    },
    /// A metadata file beside a migration (diesel's `metadata.toml`, Flyway's `.sql.conf`).
    #[error("`{}`: {message}", path.display())]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Each misnamed file on a line of its own when there are several.
fn misnamed(files: &[(PathBuf, &'static str, String)]) -> String {
    let one = |(path, problem, rename_to): &(PathBuf, &'static str, String)| {
        format!("`{}` is not read as a migration: {problem}; rename it to `{rename_to}`", path.display())
    };
    match files {
        [file] => format!("{} (or move it out of the migrations directory)", one(file)),
        _ => format!(
            "{} files are named almost as migrations and not read (rename them, or move them out of the migrations directory):\n{}",
            files.len(),
            files.iter().map(|file| format!("  {}", one(file))).collect::<Vec<_>>().join("\n")
        ),
    }
}
