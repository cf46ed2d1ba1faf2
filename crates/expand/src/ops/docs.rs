//! The operations' pages, checked against the code: one per variant serde reads, an example
//! that reads as that operation and uses every field its table lists (and no other), phases
//! that name the locks the planned SQL takes; and `docs/operations/`, generated from them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cutover_analysis::{LintConfig, Linter, LockMode, Script};
use cutover_engine::{ColumnShape, IndexShape, TableShape};

use super::{parse_declaration, OperationDoc, EXAMPLE_SCHEMA, OPERATION_DOCS};
use crate::plan::{plan, PlanInput};
use crate::sqlite::{plan_sqlite, SchemaObject};

/// Locks PostgreSQL takes that the analysis does not model, and that a page rightly names
/// (measured with `pg_locks`): (operation, phase, lock).
const BEYOND_THE_ANALYSIS: &[(&str, &str, LockMode)] = &[
    // VALIDATE of a foreign key also takes ROW SHARE on the referenced table.
    ("add_foreign_key", "start", LockMode::RowShare),
];

/// The text of a `## heading` section.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc.find(&format!("## {heading}\n")).unwrap_or_else(|| panic!("no `## {heading}` in\n{doc}"));
    let rest = &doc[start + heading.len() + 4..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The page's example: the ```toml block of its `## Example`.
fn example(doc: &OperationDoc) -> &'static str {
    let text = section(doc.doc, "Example");
    let body = text.split("```toml\n").nth(1).unwrap_or_else(|| panic!("{}: no ```toml block", doc.name));
    &body[..body.find("```").unwrap_or_else(|| panic!("{}: an open ```toml block", doc.name))]
}

/// The first cell of each row of the `## Fields` table: `nullable`, `columns[].name`.
fn listed_fields(doc: &OperationDoc) -> BTreeSet<String> {
    section(doc.doc, "Fields")
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|rest| rest[..rest.find('`').unwrap()].to_string())
        .collect()
}

/// The keys of the example's operation, `op` aside; an array of tables' keys as `key[].name`.
fn example_keys(doc: &OperationDoc) -> BTreeSet<String> {
    let value: toml::Table = toml::from_str(example(doc)).unwrap();
    let operation = value["operations"][0].as_table().unwrap();
    let mut keys = BTreeSet::new();
    for (key, value) in operation.iter().filter(|(key, _)| *key != "op") {
        keys.insert(key.clone());
        for element in value.as_array().into_iter().flatten().filter_map(toml::Value::as_table) {
            keys.extend(element.keys().map(|inner| format!("{key}[].{inner}")));
        }
    }
    keys
}

/// The backticked names after `expected` in a serde message: `expected one of `a`, `b``.
fn expected_names(message: &str) -> Vec<String> {
    let after = message.split("expected ").nth(1).unwrap_or_else(|| panic!("no `expected` in {message}"));
    let list = after.split(';').next().unwrap();
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The fields serde reads for the example's operation (and for each of its arrays of tables,
/// as `key[].name`): the list its error names for a field it does not know, put after the line
/// that opens the table.
fn serde_fields(doc: &OperationDoc) -> BTreeSet<String> {
    let text = example(doc);
    let fields_after = |opening: &str, prefix: &str| -> Vec<String> {
        let at = text.find(opening).unwrap_or_else(|| panic!("{}: no line `{opening}`", doc.name)) + opening.len();
        let probed = format!("{}\ncutover_probe = true{}", &text[..at], &text[at..]);
        let err = parse_declaration(Path::new("2_probe.toml"), &probed).unwrap_err().to_string();
        assert!(err.contains("unknown field `cutover_probe`"), "{}: {err}", doc.name);
        expected_names(&err).into_iter().map(|field| format!("{prefix}{field}")).collect()
    };
    let mut fields: BTreeSet<String> = fields_after(&format!("op = \"{}\"", doc.name), "").into_iter().collect();
    let file: toml::Table = toml::from_str(text).unwrap();
    for (key, value) in file["operations"][0].as_table().unwrap() {
        if value.as_array().and_then(|a| a.first()).is_some_and(toml::Value::is_table) {
            fields.extend(fields_after(&format!("[[operations.{key}]]"), &format!("{key}[].")));
        }
    }
    fields
}

#[test]
fn every_operation_serde_reads_has_a_page_in_its_order() {
    let err = parse_declaration(Path::new("2_x.toml"), "[[operations]]\nop = \"?\"\n").unwrap_err().to_string();
    assert!(err.contains("unknown variant `?`"), "{err}");
    let pages: Vec<&str> = OPERATION_DOCS.iter().map(|doc| doc.name).collect();
    assert_eq!(expected_names(&err), pages);
}

#[test]
fn each_example_reads_as_its_operation() {
    for doc in OPERATION_DOCS {
        let declaration = parse_declaration(Path::new("2_example.toml"), example(doc))
            .unwrap_or_else(|err| panic!("{}: {err}", doc.name));
        let kinds: Vec<&str> = declaration.operations.iter().map(|op| op.kind()).collect();
        assert_eq!(kinds, [doc.name]);
    }
}

#[test]
fn fields_tables_list_what_serde_reads_and_the_example_uses() {
    for doc in OPERATION_DOCS {
        let listed = listed_fields(doc);
        assert_eq!(listed, serde_fields(doc), "{}: the Fields table and what serde reads", doc.name);
        assert_eq!(listed, example_keys(doc), "{}: the Fields table and the example's keys", doc.name);
    }
}

fn column(name: &str, type_name: &str, not_null: bool, default: Option<&str>) -> ColumnShape {
    ColumnShape {
        name: name.into(),
        type_name: type_name.into(),
        not_null,
        default: default.map(str::to_string),
        has_dependents: false,
        views: Vec::new(),
    }
}

fn index_on(name: &str, column: &str) -> IndexShape {
    IndexShape { name: name.into(), unique: false, method: "btree".into(), keys: vec![(column.into(), String::new())] }
}

/// [`EXAMPLE_SCHEMA`] as the catalog describes it to the planner.
fn example_tables() -> Vec<TableShape> {
    let key = |name: &str| ColumnShape { has_dependents: true, ..column(name, "bigint", true, None) };
    vec![
        TableShape {
            name: "users".into(),
            columns: vec![
                key("id"),
                column("email", "text", false, None),
                column("name", "text", true, None),
                column("amount", "text", false, None),
                column("plan", "text", false, Some("'free'::text")),
                column("nickname", "text", true, None),
                column("phone", "text", true, None),
                column("country", "text", false, None),
            ],
            indexes: vec![index_on("users_amount", "amount")],
            has_key: true,
            partitioned: false,
        },
        TableShape {
            name: "orders".into(),
            columns: vec![key("id"), column("user_id", "bigint", false, None), column("total", "integer", false, None)],
            indexes: vec![index_on("orders_total_idx", "total")],
            has_key: true,
            partitioned: false,
        },
        TableShape {
            name: "legacy_sessions".into(),
            columns: vec![key("id")],
            indexes: Vec::new(),
            has_key: true,
            partitioned: false,
        },
    ]
}

/// The lock names a bullet of `## Phases` gives in backticks.
fn named_locks(bullet: &str) -> BTreeSet<LockMode> {
    bullet
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| LockMode::ALL.into_iter().find(|m| m.name() == quoted))
        .collect()
}

/// `- **phase**: text` bullets of `## Phases`, in order.
fn phase_bullets(doc: &OperationDoc) -> Vec<(&'static str, &'static str)> {
    section(doc.doc, "Phases")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let rest = line.strip_prefix("- **").unwrap_or_else(|| panic!("{}: `{line}` is not a phase", doc.name));
            let (phase, text) = rest.split_once("**: ").unwrap();
            (phase, text)
        })
        .collect()
}

#[test]
fn phases_name_the_locks_of_the_planned_sql() {
    let statements = cutover_migration::split_statements(EXAMPLE_SCHEMA).unwrap();
    let setup = Script {
        text: EXAMPLE_SCHEMA,
        statements: &statements,
        in_transaction: true,
        no_transaction_by: None,
        has_down: None,
    };
    let tables = example_tables();
    for doc in OPERATION_DOCS {
        let bullets = phase_bullets(doc);
        let phases: Vec<&str> = bullets.iter().map(|(phase, _)| *phase).collect();
        assert_eq!(phases, ["start", "complete", "rollback", "SQLite"], "{}", doc.name);
        let bullets: BTreeMap<&str, &str> = bullets.into_iter().collect();
        let declaration = parse_declaration(Path::new("2_example.toml"), example(doc)).unwrap();
        let input = PlanInput {
            version: "2",
            name: "example",
            base_schema: "public",
            tables: &tables,
            previous_schema: None,
            nonce: "n",
        };
        let planned = plan(&input, &declaration.operations).unwrap_or_else(|err| panic!("{}: {err}", doc.name));
        // Its locks are its SQL's, which the page cannot know.
        if doc.name == "sql" {
            continue;
        }
        let mut linter = Linter::new(LintConfig::default());
        let _ = linter.lint(&setup);
        let mut taken: BTreeMap<String, BTreeSet<LockMode>> = BTreeMap::new();
        for phase in crate::report::phases(&planned, &mut linter) {
            let locks = taken.entry(phase.name.split(':').next().unwrap().to_string()).or_default();
            for step in &phase.steps {
                locks.extend(step.locks.iter().map(|(_, mode)| *mode));
            }
            if phase.name == "start: backfill" {
                locks.insert(LockMode::RowExclusive);
            }
        }
        for phase in ["start", "complete", "rollback"] {
            let mut expected = taken.remove(phase).unwrap_or_default();
            expected.extend(
                BEYOND_THE_ANALYSIS.iter().filter(|(op, at, _)| *op == doc.name && *at == phase).map(|(_, _, m)| *m),
            );
            assert_eq!(named_locks(bullets[phase]), expected, "{} {phase}: {}", doc.name, bullets[phase]);
        }
    }
}

#[test]
fn examples_plan_on_sqlite() {
    let schema: Vec<SchemaObject> = cutover_migration::split_statements(EXAMPLE_SCHEMA)
        .unwrap()
        .into_iter()
        .map(|statement| {
            let words: Vec<&str> = statement.sql.split_whitespace().collect();
            let (kind, name, table) = match words[1] {
                "TABLE" => ("table", words[2], words[2]),
                _ => ("index", words[2], words[4]),
            };
            SchemaObject { kind: kind.into(), name: name.into(), table: table.into(), sql: Some(statement.sql.clone()) }
        })
        .collect();
    for doc in OPERATION_DOCS {
        let declaration = parse_declaration(Path::new("2_example.toml"), example(doc)).unwrap();
        let planned = plan_sqlite(&schema, &declaration.operations);
        // A page whose SQLite phase says refused is refused, with the reason it gives.
        if doc.doc.contains("- **SQLite**: refused") {
            let err = planned.expect_err(doc.name);
            assert!(err.to_string().contains("one writer"), "{}: {err}", doc.name);
            continue;
        }
        let statements = planned.unwrap_or_else(|err| panic!("{}: {err}", doc.name));
        assert!(!statements.is_empty(), "{}", doc.name);
    }
}

/// `docs/operations/README.md`: what the pages share, and one line per operation.
fn index() -> String {
    let mut index = String::from(
        "# Operations\n\n\
         Generated from the operations' sources (`crates/expand/src/ops/`); `cutover explain OP` prints the same page.\n\n\
         A declarative migration, `<version>_<name>.toml` beside the SQL migrations, lists its operations as \
         `[[operations]]` tables, each with `op` naming one below. `cutover start` expands (both the old and the new \
         version work), `cutover complete` contracts once no old code runs, `cutover rollback` undoes `start`. \
         On SQLite, which runs one version at a time, `cutover start` applies the migration whole.\n\n\
         | operation | what it does |\n|---|---|\n",
    );
    for doc in OPERATION_DOCS {
        index.push_str(&format!("| [{0}]({0}.md) | {1} |\n", doc.name, doc.summary().replace('|', "\\|")));
    }
    index.push_str(
        "\n## How the phases run (PostgreSQL)\n\n\
         - `start`: one transaction (columns, NOT VALID constraints, dual-write triggers, new tables), index builds \
         each on its own outside a transaction, the backfills (keyset batches, checkpointed, throttled), validations \
         each in a transaction of its own, then one transaction that publishes the new version: a schema \
         `<schema>_v<version>` of views over the tables, with the new names and types.\n\
         - `complete`: one transaction with the migration's history row: the old version's views and the dual-write \
         triggers dropped, then each operation's contract; then the index drops, each on its own.\n\
         - `rollback`: one transaction: the new version's views and the triggers dropped, then each operation undone, \
         last first; then the index drops, each on its own.\n\n\
         Every statement is idempotent, so a phase cut short runs again from its start; `lock_timeout` bounds every \
         wait for a lock, and a step whose lock is not granted is tried again. The locks a page names are checked \
         against those of the planned SQL, which `cutover lint` reports for each phase. Tables and columns are named as they are before the migration, a column \
         is changed by at most one operation of a migration, and an expression may not contain `$cutover$`.\n\n\
         ## The examples' tables\n\n```sql\n",
    );
    index.push_str(EXAMPLE_SCHEMA);
    index.push_str("```\n");
    index
}

/// `docs/operations/` is generated from the operations' `DOC`: run with `CUTOVER_UPDATE_DOCS=1`
/// to write it after changing one.
#[test]
fn docs_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations");
    let update = std::env::var_os("CUTOVER_UPDATE_DOCS").is_some();
    let mut pages: BTreeMap<String, String> =
        OPERATION_DOCS.iter().map(|doc| (format!("{}.md", doc.name), doc.page())).collect();
    pages.insert("README.md".to_string(), index());
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let on_disk: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    for name in on_disk.iter().filter(|name| !pages.contains_key(*name)) {
        if update {
            std::fs::remove_file(dir.join(name)).unwrap();
        } else {
            panic!("docs/operations/{name} is no operation's page: run `CUTOVER_UPDATE_DOCS=1 cargo test -p cutover-expand docs`");
        }
    }
    for (name, text) in pages {
        let path = dir.join(&name);
        if update {
            std::fs::write(&path, &text).unwrap();
        } else {
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == text,
                "docs/operations/{name} is stale: run `CUTOVER_UPDATE_DOCS=1 cargo test -p cutover-expand docs`"
            );
        }
    }
}
