//! Declarative migrations on SQLite. An embedded database runs one application version at a
//! time, so there is no expand phase to keep two versions alive: `cutover start` applies the
//! whole migration in one transaction, and what `ALTER TABLE` cannot do in SQLite (change a
//! type, NOT NULL, a default, add a CHECK or a foreign key, drop a constrained column) is done
//! by the rebuild procedure SQLite documents ("making other kinds of table schema changes"):
//! create the new table, copy the rows, drop the old one, rename, recreate its indexes,
//! triggers and views, then `PRAGMA foreign_key_check`, all before the commit.
//!
//! The planner is pure: the live schema's SQL in, statements out. The table definition is
//! changed on sqlparser's syntax tree of its `CREATE TABLE`, never by editing text.

use std::collections::BTreeMap;

use sqlparser::ast::{ColumnOption, ColumnOptionDef, CreateTable, Ident, ObjectName, Statement};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

use crate::ops::Operation;
use crate::plan::PlanError;
use crate::sql::ident;

/// One object of the live schema, as `sqlite_schema` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaObject {
    /// `table`, `index`, `trigger` or `view`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The table it belongs to (itself for a table).
    pub table: String,
    /// Its `CREATE` statement (`None` for automatic indexes).
    pub sql: Option<String>,
}

/// Why SQLite refuses the `rewrite` operation (`start`, and `lint` before it).
pub const REWRITE_REFUSED: &str = "a rewrite keeps a table online while it is copied, and a SQLite database has one writer: there is nothing to stay online for; write the change as `change_type` (or `sql`)";

/// The statements that apply `operations`, to run in one transaction with foreign key
/// enforcement off; the caller checks `PRAGMA foreign_key_check` before committing.
pub fn plan_sqlite(schema: &[SchemaObject], operations: &[Operation]) -> Result<Vec<String>, PlanError> {
    let mut planner = SqlitePlanner { tables: BTreeMap::new(), others: Vec::new(), out: Vec::new() };
    for object in schema {
        let Some(sql) = &object.sql else { continue };
        if object.kind == "table" {
            let create = parse_create_table(sql).map_err(|message| PlanError { index: 0, kind: "schema", message })?;
            planner.tables.insert(object.name.clone(), create);
        } else {
            planner.others.push(object.clone());
        }
    }
    for (idx, operation) in in_sqlite_order(operations) {
        planner.operation(operation).map_err(|message| PlanError {
            index: idx + 1,
            kind: operation.kind(),
            message,
        })?;
    }
    Ok(planner.out)
}

/// The operations in the order SQLite applies them, each with its index in the file: the
/// renames last. Every operation names tables and columns as they were before the migration, as
/// on PostgreSQL, where the renames happen at `complete` (tester 23: an `add_check` after a
/// `rename_column`, naming the column as the docs say, failed on SQLite).
pub fn in_sqlite_order(operations: &[Operation]) -> Vec<(usize, &Operation)> {
    let renames =
        |operation: &Operation| matches!(operation, Operation::RenameColumn { .. } | Operation::RenameTable { .. });
    let (renames, others): (Vec<_>, Vec<_>) =
        operations.iter().enumerate().partition(|(_, operation)| renames(operation));
    others.into_iter().chain(renames).collect()
}

struct SqlitePlanner {
    tables: BTreeMap<String, CreateTable>,
    /// Indexes, triggers and views, recreated after a rebuild of their table.
    others: Vec<SchemaObject>,
    out: Vec<String>,
}

/// How each column of the rebuilt table is filled: (column, expression over the old table).
type Copy = Vec<(String, String)>;

impl SqlitePlanner {
    fn table(&mut self, name: &str) -> Result<&mut CreateTable, String> {
        let known: Vec<String> = self.tables.keys().cloned().collect();
        self.tables.get_mut(name).ok_or_else(|| format!("table `{name}` does not exist (tables: {})", known.join(", ")))
    }

    fn column_index(&mut self, table: &str, column: &str) -> Result<usize, String> {
        let create = self.table(table)?;
        let known: Vec<String> = create.columns.iter().map(|c| c.name.value.clone()).collect();
        create
            .columns
            .iter()
            .position(|c| c.name.value.eq_ignore_ascii_case(column))
            .ok_or_else(|| format!("table `{table}` has no column `{column}` (columns: {})", known.join(", ")))
    }

    fn identity_copy(&mut self, table: &str) -> Result<Copy, String> {
        Ok(self.table(table)?.columns.iter().map(|c| (c.name.value.clone(), ident(&c.name.value))).collect())
    }

    fn operation(&mut self, operation: &Operation) -> Result<(), String> {
        match operation {
            Operation::AddColumn { table, column, type_name, nullable, default, up } => {
                if self.column_index(table, column).is_ok() {
                    return Err(format!("table `{table}` already has a column `{column}`"));
                }
                if !nullable && default.is_none() && up.is_none() {
                    return Err(format!("`{column}` is NOT NULL with neither `default` nor `up`; give one"));
                }
                // ADD COLUMN takes NOT NULL only with a constant default: otherwise add it
                // nullable, fill it, and rebuild with NOT NULL.
                let default_sql = default.as_ref().map(|d| format!(" DEFAULT {d}")).unwrap_or_default();
                let not_null_now = !nullable && default.is_some() && up.is_none();
                self.out.push(format!(
                    "ALTER TABLE {} ADD COLUMN {} {type_name}{}{default_sql}",
                    ident(table),
                    ident(column),
                    if not_null_now { " NOT NULL" } else { "" }
                ));
                let def = parse_column(&format!("{} {type_name}{default_sql}", ident(column)))?;
                self.table(table)?.columns.push(def);
                if let Some(up) = up {
                    self.out.push(format!("UPDATE {} SET {} = ({up})", ident(table), ident(column)));
                }
                if !nullable && !not_null_now {
                    let at = self.column_index(table, column)?;
                    self.table(table)?.columns[at].options.push(option(ColumnOption::NotNull));
                    let copy = self.identity_copy(table)?;
                    self.rebuild(table, copy)?;
                } else if not_null_now {
                    let at = self.column_index(table, column)?;
                    self.table(table)?.columns[at].options.push(option(ColumnOption::NotNull));
                }
            }
            Operation::DropColumn { table, column, .. } => {
                let at = self.column_index(table, column)?;
                self.table(table)?.columns.remove(at);
                let copy = self.identity_copy(table)?;
                // Indexes on the dropped column go with it.
                let lower = column.to_lowercase();
                self.others.retain(|o| {
                    !(o.kind == "index"
                        && o.table == *table
                        && o.sql.as_deref().is_some_and(|sql| crate::sql::referenced_names(sql).contains(&lower)))
                });
                self.rebuild(table, copy)?;
            }
            Operation::RenameColumn { table, from, to } => {
                let at = self.column_index(table, from)?;
                self.out.push(format!("ALTER TABLE {} RENAME COLUMN {} TO {}", ident(table), ident(from), ident(to)));
                self.table(table)?.columns[at].name = Ident::with_quote('"', to.clone());
            }
            Operation::ChangeType { table, column, type_name, up, .. } => {
                let at = self.column_index(table, column)?;
                let data_type = parse_column(&format!("x {type_name}"))?.data_type;
                let mut copy = self.identity_copy(table)?;
                copy[at].1 = format!("({up})");
                self.table(table)?.columns[at].data_type = data_type;
                self.rebuild(table, copy)?;
            }
            Operation::SetNotNull { table, column, up } => {
                let at = self.column_index(table, column)?;
                let mut copy = self.identity_copy(table)?;
                if let Some(up) = up {
                    copy[at].1 = format!("CASE WHEN {0} IS NULL THEN ({up}) ELSE {0} END", ident(column));
                }
                let options = &mut self.table(table)?.columns[at].options;
                options.retain(|o| !matches!(o.option, ColumnOption::Null | ColumnOption::NotNull));
                options.push(option(ColumnOption::NotNull));
                self.rebuild(table, copy)?;
            }
            Operation::DropNotNull { table, column } => {
                let at = self.column_index(table, column)?;
                self.table(table)?.columns[at].options.retain(|o| !matches!(o.option, ColumnOption::NotNull));
                let copy = self.identity_copy(table)?;
                self.rebuild(table, copy)?;
            }
            Operation::SetDefault { table, column, default } => {
                let at = self.column_index(table, column)?;
                let expr = parse_column(&format!("x int DEFAULT {default}"))?
                    .options
                    .into_iter()
                    .find_map(|o| match o.option {
                        ColumnOption::Default(expr) => Some(expr),
                        _ => None,
                    })
                    .ok_or_else(|| format!("`{default}` is not a default SQLite accepts"))?;
                let options = &mut self.table(table)?.columns[at].options;
                options.retain(|o| !matches!(o.option, ColumnOption::Default(_)));
                options.push(option(ColumnOption::Default(expr)));
                let copy = self.identity_copy(table)?;
                self.rebuild(table, copy)?;
            }
            Operation::DropDefault { table, column } => {
                let at = self.column_index(table, column)?;
                self.table(table)?.columns[at].options.retain(|o| !matches!(o.option, ColumnOption::Default(_)));
                let copy = self.identity_copy(table)?;
                self.rebuild(table, copy)?;
            }
            Operation::AddCheck { table, name, check } => {
                let constraint = parse_constraint(&format!("CONSTRAINT {} CHECK ({check})", ident(name)))?;
                self.table(table)?.constraints.push(constraint);
                let copy = self.identity_copy(table)?;
                self.rebuild(table, copy)?;
            }
            Operation::AddForeignKey { table, name, columns, references, references_columns, on_delete } => {
                let on_delete =
                    on_delete.as_ref().map(|a| format!(" ON DELETE {}", a.to_uppercase())).unwrap_or_default();
                let constraint = parse_constraint(&format!(
                    "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}){on_delete}",
                    ident(name),
                    idents(columns),
                    ident(references),
                    idents(references_columns)
                ))?;
                self.table(table)?.constraints.push(constraint);
                let copy = self.identity_copy(table)?;
                self.rebuild(table, copy)?;
            }
            Operation::AddUnique { table, name, columns } => {
                self.table(table)?;
                self.out.push(format!("CREATE UNIQUE INDEX {} ON {} ({})", ident(name), ident(table), idents(columns)));
            }
            Operation::CreateIndex { table, name, columns, unique, condition, .. } => {
                self.table(table)?;
                let partial = condition.as_ref().map(|c| format!(" WHERE {c}")).unwrap_or_default();
                let sql = format!(
                    "CREATE {}INDEX {} ON {} ({}){partial}",
                    if *unique { "UNIQUE " } else { "" },
                    ident(name),
                    ident(table),
                    idents(columns)
                );
                self.others.push(SchemaObject {
                    kind: "index".into(),
                    name: name.clone(),
                    table: table.clone(),
                    sql: Some(sql.clone()),
                });
                self.out.push(sql);
            }
            Operation::DropIndex { name } => {
                self.others.retain(|o| !(o.kind == "index" && &o.name == name));
                self.out.push(format!("DROP INDEX IF EXISTS {}", ident(name)));
            }
            Operation::CreateTable { table, columns, primary_key } => {
                let mut definitions: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        let mut d = format!("{} {}", ident(&c.name), c.type_name);
                        if !c.nullable {
                            d.push_str(" NOT NULL");
                        }
                        if let Some(default) = &c.default {
                            d.push_str(&format!(" DEFAULT {default}"));
                        }
                        d
                    })
                    .collect();
                if !primary_key.is_empty() {
                    definitions.push(format!("PRIMARY KEY ({})", idents(primary_key)));
                }
                let sql = format!("CREATE TABLE {} ({})", ident(table), definitions.join(", "));
                self.tables.insert(table.clone(), parse_create_table(&sql)?);
                self.out.push(sql);
            }
            Operation::DropTable { table } => {
                self.table(table)?;
                self.tables.remove(table);
                self.others.retain(|o| &o.table != table);
                self.out.push(format!("DROP TABLE {}", ident(table)));
            }
            Operation::RenameTable { from, to } => {
                let create = self.tables.remove(from).ok_or_else(|| format!("table `{from}` does not exist"))?;
                let mut create = create;
                create.name = ObjectName::from(vec![Ident::with_quote('"', to.clone())]);
                self.tables.insert(to.clone(), create);
                for other in &mut self.others {
                    if &other.table == from {
                        other.table = to.clone();
                    }
                }
                self.out.push(format!("ALTER TABLE {} RENAME TO {}", ident(from), ident(to)));
            }
            // One version at a time: both phases run now, in the order written.
            Operation::Sql { up, .. } => self.out.push(up.clone()),
            Operation::Rewrite { .. } => return Err(REWRITE_REFUSED.into()),
        }
        Ok(())
    }

    /// SQLite's rebuild: the new definition under a temporary name, the rows copied, the old
    /// table dropped, the new one renamed; its indexes and triggers, and every view (a view
    /// naming a missing table blocks the rename), recreated.
    fn rebuild(&mut self, table: &str, copy: Copy) -> Result<(), String> {
        let temporary = format!("_cutover_new_{table}");
        let mut create = self.table(table)?.clone();
        create.name = ObjectName::from(vec![Ident::with_quote('"', temporary.clone())]);
        let views: Vec<SchemaObject> = self.others.iter().filter(|o| o.kind == "view").cloned().collect();
        for view in &views {
            self.out.push(format!("DROP VIEW IF EXISTS {}", ident(&view.name)));
        }
        self.out.push(Statement::CreateTable(create).to_string());
        let (columns, exprs): (Vec<String>, Vec<String>) = copy.into_iter().map(|(c, e)| (ident(&c), e)).unzip();
        self.out.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            ident(&temporary),
            columns.join(", "),
            exprs.join(", "),
            ident(table)
        ));
        self.out.push(format!("DROP TABLE {}", ident(table)));
        self.out.push(format!("ALTER TABLE {} RENAME TO {}", ident(&temporary), ident(table)));
        for other in self.others.iter().filter(|o| o.table == table && o.kind != "view") {
            if let Some(sql) = &other.sql {
                self.out.push(sql.clone());
            }
        }
        for view in views {
            if let Some(sql) = view.sql {
                self.out.push(sql);
            }
        }
        Ok(())
    }
}

fn option(option: ColumnOption) -> ColumnOptionDef {
    ColumnOptionDef { name: None, option }
}

fn idents(names: &[String]) -> String {
    names.iter().map(|n| ident(n)).collect::<Vec<_>>().join(", ")
}

fn parse_create_table(sql: &str) -> Result<CreateTable, String> {
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).map_err(|e| format!("cannot read `{sql}`: {e}"))?;
    match statements.into_iter().next() {
        Some(Statement::CreateTable(create)) => Ok(create),
        _ => Err(format!("`{sql}` is not a CREATE TABLE")),
    }
}

fn parse_column(definition: &str) -> Result<sqlparser::ast::ColumnDef, String> {
    let create = parse_create_table(&format!("CREATE TABLE t ({definition})"))?;
    create.columns.into_iter().next().ok_or_else(|| format!("`{definition}` is not a column definition"))
}

fn parse_constraint(definition: &str) -> Result<sqlparser::ast::TableConstraint, String> {
    let create = parse_create_table(&format!("CREATE TABLE t (x int, {definition})"))?;
    create.constraints.into_iter().next().ok_or_else(|| format!("`{definition}` is not a table constraint"))
}

/// The statements that fail the transaction when a foreign key is violated (SQLite checks
/// nothing while `foreign_keys` is off): a CHECK on the count of `foreign_key_check` rows.
pub fn foreign_key_check() -> Vec<String> {
    vec![
        "CREATE TEMP TABLE _cutover_fk_check (violations INTEGER CHECK (violations = 0))".to_string(),
        "INSERT INTO _cutover_fk_check SELECT count(*) FROM pragma_foreign_key_check".to_string(),
        "DROP TABLE _cutover_fk_check".to_string(),
    ]
}

/// `sqlite_schema` as text rows, for [`plan_sqlite`].
pub const SCHEMA_QUERY: &str = "SELECT type, name, tbl_name, sql FROM sqlite_schema \
     WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name NOT LIKE 'cutover\\_%' ESCAPE '\\' ORDER BY rowid";

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, sql: &str) -> SchemaObject {
        SchemaObject { kind: "table".into(), name: name.into(), table: name.into(), sql: Some(sql.into()) }
    }

    #[test]
    fn a_type_change_is_the_documented_rebuild() {
        let schema = [
            table("users", "CREATE TABLE users (id INTEGER PRIMARY KEY, amount TEXT NOT NULL, note TEXT)"),
            SchemaObject {
                kind: "index".into(),
                name: "users_note".into(),
                table: "users".into(),
                sql: Some("CREATE INDEX users_note ON users (note)".into()),
            },
        ];
        let ops = [Operation::ChangeType {
            table: "users".into(),
            column: "amount".into(),
            type_name: "REAL".into(),
            up: "CAST(amount AS REAL)".into(),
            down: "CAST(amount AS TEXT)".into(),
        }];
        let statements = plan_sqlite(&schema, &ops).unwrap();
        assert_eq!(
            statements,
            [
                "CREATE TABLE \"_cutover_new_users\" (id INTEGER PRIMARY KEY, amount REAL NOT NULL, note TEXT)",
                "INSERT INTO \"_cutover_new_users\" (\"id\", \"amount\", \"note\") SELECT \"id\", (CAST(amount AS REAL)), \"note\" FROM \"users\"",
                "DROP TABLE \"users\"",
                "ALTER TABLE \"_cutover_new_users\" RENAME TO \"users\"",
                "CREATE INDEX users_note ON users (note)",
            ]
        );
    }

    #[test]
    fn native_alters_stay_native() {
        let schema = [table("users", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")];
        let ops = [
            Operation::RenameColumn { table: "users".into(), from: "name".into(), to: "full_name".into() },
            Operation::AddColumn {
                table: "users".into(),
                column: "active".into(),
                type_name: "INTEGER".into(),
                nullable: false,
                default: Some("1".into()),
                up: None,
            },
        ];
        let statements = plan_sqlite(&schema, &ops).unwrap();
        assert_eq!(
            statements,
            // The rename last: every operation names columns as before the migration.
            [
                "ALTER TABLE \"users\" ADD COLUMN \"active\" INTEGER NOT NULL DEFAULT 1",
                "ALTER TABLE \"users\" RENAME COLUMN \"name\" TO \"full_name\"",
            ]
        );
        let err =
            plan_sqlite(&schema, &[Operation::DropNotNull { table: "user".into(), column: "x".into() }]).unwrap_err();
        assert_eq!(err.to_string(), "operation 1 (drop_not_null): table `user` does not exist (tables: users)");
    }
}
