//! The operations of a declarative migration, as written in `<version>_<name>.toml`:
//!
//! ```toml
//! [[operations]]
//! op = "rename_column"
//! table = "users"
//! from = "name"
//! to = "full_name"
//!
//! [[operations]]
//! op = "change_type"
//! table = "orders"
//! column = "amount"
//! type = "numeric(12,2)"
//! up = "amount::numeric(12,2)"   # old value -> new column
//! down = "amount::text"          # new value -> old column
//! ```
//!
//! Tables and columns are named as they are before the migration. `up` expressions may use
//! any column of the table by name; a `down` expression's use of the changed column means its
//! new value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod add_check;
mod add_column;
mod add_foreign_key;
mod add_unique;
mod change_type;
mod create_index;
mod create_table;
#[cfg(test)]
mod docs;
mod drop_column;
mod drop_default;
mod drop_index;
mod drop_not_null;
mod drop_table;
mod rename_column;
mod rename_table;
mod rewrite;
mod set_default;
mod set_not_null;
mod sql;

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// A new column; NOT NULL is enforced by a CHECK validated after the backfill, and becomes
    /// a real NOT NULL at `complete`.
    AddColumn {
        /// The table.
        table: String,
        /// The new column.
        column: String,
        /// Its type.
        #[serde(rename = "type")]
        type_name: String,
        /// Whether it may hold NULL (default true).
        #[serde(default = "yes")]
        nullable: bool,
        /// Its default (an SQL expression).
        default: Option<String>,
        /// Fills it from the other columns, for existing rows and for rows the old version writes.
        up: Option<String>,
    },
    /// Hidden from the new version at `start`, dropped at `complete`.
    DropColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Fills it for rows the new version inserts, when the old version needs a value
        /// (a NOT NULL column without default).
        down: Option<String>,
    },
    /// Seen under its new name by the new version at `start`, renamed at `complete`.
    RenameColumn {
        /// The table.
        table: String,
        /// The current name.
        from: String,
        /// The new name.
        to: String,
    },
    /// A shadow column of the new type, kept in step both ways, backfilled; swapped in at
    /// `complete`.
    ChangeType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The new type.
        #[serde(rename = "type")]
        type_name: String,
        /// Old value to new type.
        up: String,
        /// New value to old type.
        down: String,
    },
    /// A CHECK (col IS NOT NULL) added NOT VALID and validated at `start`; NOT NULL at `complete`.
    SetNotNull {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The value for rows where it is NULL (existing and newly written).
        up: Option<String>,
    },
    /// NOT NULL dropped at `start` (old code writes values anyway).
    DropNotNull {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A new default, at `start`.
    SetDefault {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The default (an SQL expression).
        default: String,
    },
    /// The default removed, at `start`.
    DropDefault {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A CHECK constraint, added NOT VALID then validated at `start`.
    AddCheck {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
        /// The condition.
        check: String,
    },
    /// A foreign key, added NOT VALID then validated at `start`.
    AddForeignKey {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
        /// Its columns.
        columns: Vec<String>,
        /// The referenced table.
        references: String,
        /// The referenced columns.
        references_columns: Vec<String>,
        /// `cascade`, `restrict`, `set null`, `set default` or `no action` (the default).
        on_delete: Option<String>,
    },
    /// A unique index built concurrently at `start`, made a constraint at `complete`.
    AddUnique {
        /// The table.
        table: String,
        /// The constraint's (and index's) name.
        name: String,
        /// Its columns.
        columns: Vec<String>,
    },
    /// An index built concurrently at `start` (an INVALID leftover of a killed build is
    /// dropped and built again).
    CreateIndex {
        /// The table.
        table: String,
        /// The index's name.
        name: String,
        /// Its columns.
        columns: Vec<String>,
        /// Unique or not.
        #[serde(default)]
        unique: bool,
        /// Access method (`btree` by default).
        method: Option<String>,
        /// A partial index's condition.
        #[serde(rename = "where")]
        condition: Option<String>,
    },
    /// An index dropped concurrently at `complete` (old code may need it until then).
    DropIndex {
        /// The index's name.
        name: String,
    },
    /// A new table, at `start`.
    CreateTable {
        /// The table.
        table: String,
        /// Its columns.
        columns: Vec<NewColumn>,
        /// Its primary key's columns.
        #[serde(default)]
        primary_key: Vec<String>,
    },
    /// Hidden from the new version at `start`, dropped at `complete`.
    DropTable {
        /// The table.
        table: String,
    },
    /// Seen under its new name by the new version at `start`, renamed at `complete`.
    RenameTable {
        /// The current name.
        from: String,
        /// The new name.
        to: String,
    },
    /// The table copied online into one of the new definition and swapped in at `start`
    /// (`cutover rewrite`), the old table kept in step until `complete` drops it; `rollback`
    /// swaps it back with every write made since.
    Rewrite {
        /// The table.
        table: String,
        /// The change (`ALTER TABLE t ...`, or its actions alone); none: a compaction.
        alter: Option<String>,
        /// Column = expression giving its new value, where a cast of the old one will not do.
        #[serde(default)]
        using: BTreeMap<String, String>,
    },
    /// Raw SQL, run in the phase it declares; `down` runs on rollback.
    Sql {
        /// What to run.
        up: String,
        /// What undoes it on rollback (only for `phase = "start"`).
        down: Option<String>,
        /// `start` (default) or `complete`.
        #[serde(default)]
        phase: SqlPhase,
    },
}

fn yes() -> bool {
    true
}

/// A column of [`Operation::CreateTable`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewColumn {
    /// The name.
    pub name: String,
    /// The type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether it may hold NULL (default true).
    #[serde(default = "yes")]
    pub nullable: bool,
    /// Its default.
    pub default: Option<String>,
}

/// When an [`Operation::Sql`] runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlPhase {
    /// In `cutover start`.
    #[default]
    Start,
    /// In `cutover complete`.
    Complete,
}

impl Operation {
    /// The operation's name, as `op` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::AddColumn { .. } => "add_column",
            Operation::DropColumn { .. } => "drop_column",
            Operation::RenameColumn { .. } => "rename_column",
            Operation::ChangeType { .. } => "change_type",
            Operation::SetNotNull { .. } => "set_not_null",
            Operation::DropNotNull { .. } => "drop_not_null",
            Operation::SetDefault { .. } => "set_default",
            Operation::DropDefault { .. } => "drop_default",
            Operation::AddCheck { .. } => "add_check",
            Operation::AddForeignKey { .. } => "add_foreign_key",
            Operation::AddUnique { .. } => "add_unique",
            Operation::CreateIndex { .. } => "create_index",
            Operation::DropIndex { .. } => "drop_index",
            Operation::CreateTable { .. } => "create_table",
            Operation::DropTable { .. } => "drop_table",
            Operation::RenameTable { .. } => "rename_table",
            Operation::Rewrite { .. } => "rewrite",
            Operation::Sql { .. } => "sql",
        }
    }

    /// The tables that must exist before it runs, by their names before the migration.
    pub fn needs_tables(&self) -> Vec<&str> {
        match self {
            Operation::AddColumn { table, .. }
            | Operation::DropColumn { table, .. }
            | Operation::RenameColumn { table, .. }
            | Operation::ChangeType { table, .. }
            | Operation::SetNotNull { table, .. }
            | Operation::DropNotNull { table, .. }
            | Operation::SetDefault { table, .. }
            | Operation::DropDefault { table, .. }
            | Operation::AddCheck { table, .. }
            | Operation::AddUnique { table, .. }
            | Operation::CreateIndex { table, .. }
            | Operation::DropTable { table }
            | Operation::Rewrite { table, .. } => vec![table.as_str()],
            Operation::AddForeignKey { table, references, .. } => vec![table.as_str(), references.as_str()],
            Operation::RenameTable { from, .. } => vec![from.as_str()],
            Operation::CreateTable { .. } | Operation::DropIndex { .. } | Operation::Sql { .. } => Vec::new(),
        }
    }

    /// The table it creates, if any.
    pub fn creates_table(&self) -> Option<&str> {
        match self {
            Operation::CreateTable { table, .. } => Some(table),
            _ => None,
        }
    }
}

/// An operation's reference page: what it does, its fields, what each phase runs and locks, and
/// an example.
#[derive(Debug)]
pub struct OperationDoc {
    /// The operation's name, as `op` spells it.
    pub name: &'static str,
    /// Markdown, in sections: `## What it does`, `## Fields`, `## Phases`, `## Example`.
    pub doc: &'static str,
}

impl OperationDoc {
    /// The page `cutover explain OP` prints and `docs/operations/OP.md` holds.
    pub fn page(&self) -> String {
        // An operation SQLite refuses says so in its SQLite phase.
        let engines = if self.doc.contains("- **SQLite**: refused") { "postgres" } else { "postgres, sqlite" };
        format!("# {} (operation; {engines})\n\n{}\n", self.name, self.doc)
    }

    /// The first line of its "What it does".
    pub fn summary(&self) -> &'static str {
        self.doc.split("## What it does\n").nth(1).and_then(|text| text.lines().next()).unwrap_or_default()
    }
}

/// An [`OperationDoc`] from the module of that operation, named as `op` spells it.
macro_rules! page {
    ($module:ident) => {
        OperationDoc { name: stringify!($module), doc: $module::DOC }
    };
}

/// Every operation's page, in the order of [`Operation`]'s variants; a test keeps the two in step.
pub const OPERATION_DOCS: &[OperationDoc] = &[
    page!(add_column),
    page!(drop_column),
    page!(rename_column),
    page!(change_type),
    page!(set_not_null),
    page!(drop_not_null),
    page!(set_default),
    page!(drop_default),
    page!(add_check),
    page!(add_foreign_key),
    page!(add_unique),
    page!(create_index),
    page!(drop_index),
    page!(create_table),
    page!(drop_table),
    page!(rename_table),
    page!(rewrite),
    page!(sql),
];

/// The tables the pages' examples name, as SQL: the index page shows it, and the tests plan
/// and run every example on it.
pub const EXAMPLE_SCHEMA: &str = "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text NOT NULL, amount text, plan text DEFAULT 'free', nickname text NOT NULL, phone text NOT NULL, country text);
CREATE INDEX users_amount ON users (amount);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, total int);
CREATE INDEX orders_total_idx ON orders (total);
CREATE TABLE legacy_sessions (id bigint PRIMARY KEY);
";

/// The page of the operation `op` names.
pub fn operation_doc(name: &str) -> Option<&'static OperationDoc> {
    OPERATION_DOCS.iter().find(|doc| doc.name == name)
}

/// A declarative migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// The file.
    pub path: PathBuf,
    /// The operations, in order.
    pub operations: Vec<Operation>,
}

/// A declaration that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeclarationError {
    /// The file cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid declaration.
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong, and the operations known.
        message: String,
    },
}

#[derive(Deserialize)]
struct File {
    operations: Vec<Operation>,
    /// Backfills declared in the same file are `cutover backfill`'s.
    #[serde(default)]
    #[allow(dead_code)]
    backfill: Option<toml::Value>,
}

/// Reads the operations of a declarative migration.
pub fn read_declaration(path: &Path) -> Result<Declaration, DeclarationError> {
    let text = std::fs::read_to_string(path).map_err(|source| DeclarationError::Io { path: path.into(), source })?;
    parse_declaration(path, &text)
}

/// Parses the text of a declarative migration.
pub fn parse_declaration(path: &Path, text: &str) -> Result<Declaration, DeclarationError> {
    let file: File = toml::from_str(text).map_err(|err| {
        let span = err.span().map(|span| span.start.min(text.len())..span.end.min(text.len()));
        let mut line = span.as_ref().map_or(1, |span| line_of(text, span.start));
        let mut message = err.message().trim().to_string();
        if let Some(failing) = failing_operation(text) {
            // Serde reads an operation whole, so a mistake inside one is reported where the
            // array of operations starts: the operation's own line says more.
            if span.is_none_or(|span| !failing.span.contains(&span.start)) {
                line = line_of(text, failing.span.start);
            }
            // Its page lists the fields it takes.
            if let Some(op) =
                failing.op.filter(|_| message.starts_with("unknown field") || message.starts_with("missing field"))
            {
                message.push_str(&format!("; `cutover explain {op}` lists its fields"));
            }
        }
        DeclarationError::Invalid { path: path.into(), line, message }
    })?;
    if file.operations.is_empty() {
        return Err(DeclarationError::Invalid { path: path.into(), line: 1, message: "declares no operations".into() });
    }
    Ok(Declaration { path: path.into(), operations: file.operations })
}

/// The 1-based line of byte `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// The first `[[operations]]` entry that does not read as an operation.
struct FailingOperation {
    /// Where it is in the text: from its `[[operations]]` (or `{`) to the next one's.
    span: std::ops::Range<usize>,
    /// The operation its `op` names, when that is one.
    op: Option<&'static str>,
}

fn failing_operation(text: &str) -> Option<FailingOperation> {
    #[derive(Deserialize)]
    struct Entries {
        #[serde(default)]
        operations: Vec<toml::Spanned<toml::Table>>,
    }
    let entries: Entries = toml::from_str(text).ok()?;
    // An `[[operations]]` entry's span is its header alone: it reaches to the next one.
    let ends: Vec<usize> =
        entries.operations.iter().skip(1).map(|entry| entry.span().start).chain([text.len()]).collect();
    entries.operations.into_iter().zip(ends).find_map(|(entry, end)| {
        let start = entry.span().start;
        let table = entry.into_inner();
        let op = table.get("op").and_then(toml::Value::as_str).and_then(operation_doc).map(|doc| doc.name);
        toml::Value::Table(table).try_into::<Operation>().err().map(|_| FailingOperation { span: start..end, op })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_read_from_toml() {
        let text = r#"
[[operations]]
op = "rename_column"
table = "users"
from = "name"
to = "full_name"

[[operations]]
op = "add_column"
table = "users"
column = "active"
type = "boolean"
nullable = false
default = "true"
"#;
        let declaration = parse_declaration(Path::new("2_x.toml"), text).unwrap();
        assert_eq!(declaration.operations.len(), 2);
        assert_eq!(
            declaration.operations[0],
            Operation::RenameColumn { table: "users".into(), from: "name".into(), to: "full_name".into() }
        );
        assert!(
            matches!(&declaration.operations[1], Operation::AddColumn { nullable: false, default: Some(d), .. } if d == "true")
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        let text = "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"a\"\nto = \"b\"\n\n[[operations]]\nop = \"rename_colum\"\n";
        let err = parse_declaration(Path::new("2_x.toml"), text).unwrap_err().to_string();
        assert!(err.starts_with("2_x.toml:8: unknown variant `rename_colum`"), "{err}");
        assert!(err.contains("`rename_column`, `change_type`"), "{err}");

        let missing = "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"a\"\n";
        let err = parse_declaration(Path::new("3_y.toml"), missing).unwrap_err().to_string();
        assert!(err.contains("missing field `to`"), "{err}");

        let extra = "[[operations]]\nop = \"drop_table\"\ntable = \"users\"\ncascade = true\n";
        let err = parse_declaration(Path::new("4_z.toml"), extra).unwrap_err().to_string();
        assert!(err.contains("cascade"), "{err}");
    }

    #[test]
    fn a_field_mistake_points_to_the_operations_page() {
        let check = |text: &str, expected: &str| {
            let err = parse_declaration(Path::new("2_x.toml"), text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        };
        // The second operation's mistake names the second operation's page.
        let two = "[[operations]]\nop = \"drop_table\"\ntable = \"a\"\n\n[[operations]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = \"c\"\ntype = \"int\"\nnull = true\n";
        check(two, "2_x.toml:5: unknown field `null`, expected one of `table`, `column`, `type`, `nullable`, `default`, `up`; `cutover explain add_column` lists its fields");
        let missing = "[[operations]]\nop = \"rename_column\"\ntable = \"users\"\nfrom = \"a\"\n";
        check(missing, "2_x.toml:1: missing field `to`; `cutover explain rename_column` lists its fields");
        let nested = "[[operations]]\nop = \"create_table\"\ntable = \"t\"\ncolumns = [{ name = \"id\", type = \"int\", null = false }]\n";
        check(nested, "unknown field `null`, expected one of `name`, `type`, `nullable`, `default`; `cutover explain create_table` lists its fields");
        let inline = "operations = [{ op = \"drop_index\" }]\n";
        check(inline, "missing field `name`; `cutover explain drop_index` lists its fields");
    }
}
