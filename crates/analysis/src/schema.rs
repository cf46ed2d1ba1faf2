//! The schema as the linted migrations built it: replayed statement by statement, so that a rule
//! knows a column's current type, the indexes of a table, or that a table is partitioned.
//!
//! Without a database it is what the migrations say: a table the linted migrations never
//! create is simply unknown, and rules treat unknown tables as existing (possibly large). With
//! one, the schema starts from the live catalog ([`Schema::insert_table`]), and the pending
//! migrations are replayed on it.

use std::collections::{HashMap, HashSet};

use crate::effect::{ColumnType, ForeignKey};
use crate::{Action, AlterCommand, Effect};

/// Tables, their columns and indexes, and domains, as the migrations so far define them.
#[derive(Debug, Default, Clone)]
pub struct Schema {
    tables: HashMap<String, Table>,
    constrained_domains: HashSet<String>,
    /// The table of each named index, so that `DROP INDEX name` finds it.
    index_tables: HashMap<String, String>,
    /// Functions the migrations declare, and whether each is VOLATILE.
    functions: HashMap<String, bool>,
    /// Triggers: the table, and the function each calls.
    triggers: Vec<(String, String)>,
    /// Views whose rows are one relation's (an automatically updatable view, say): the view,
    /// and that relation. Data changed through the view is the relation's.
    views: HashMap<String, String>,
    /// Every view the schema knows, whatever it reads.
    view_names: HashSet<String>,
}

/// One table of the [`Schema`].
#[derive(Debug, Default, Clone)]
pub struct Table {
    /// Columns with their types, in order.
    pub columns: Vec<(String, ColumnType)>,
    /// Indexes: their names (empty when PostgreSQL picks one) and leading plain columns.
    pub indexes: Vec<(String, Vec<String>)>,
    /// Whether it is a partitioned table.
    pub partitioned: bool,
    /// The table it is a partition or an inheritance child of (known from the live database).
    pub parent: Option<String>,
    /// `CHECK (col IS NOT NULL)` constraints: name, column, and whether validated.
    pub not_null_checks: Vec<(String, String, bool)>,
    /// `CHECK` constraints added by `ALTER TABLE`: name, the columns they read, and whether validated.
    pub checks: Vec<(String, Vec<String>, bool)>,
    /// The plain columns of its `PARTITION BY` key.
    pub partition_key: Vec<String>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
    /// Its foreign keys (it is the referencing table).
    pub foreign_keys: Vec<ForeignKey>,
    /// Its unique keys, the primary key included, that a lookup can count on (no partial or
    /// invalid index, no expression): the index's or constraint's name (empty when not known),
    /// and the columns. A condition that pins every column of one reaches one row at most.
    pub unique_keys: Vec<(String, Vec<String>)>,
    /// The columns known to be `NOT NULL` (primary key columns, those set so by the migrations,
    /// or by the live catalog).
    pub not_null_columns: Vec<String>,
    /// MySQL/MariaDB: its storage engine when known to be other than the default (`MyISAM`,
    /// `Aria`, `InnoDB` as written or as the catalog says).
    pub storage_engine: Option<String>,
    /// MySQL/MariaDB: its FULLTEXT indexes, by name.
    pub fulltext_indexes: Vec<String>,
    /// MySQL/MariaDB: InnoDB's hidden `FTS_DOC_ID` column, which a FULLTEXT index adds and its
    /// drop leaves: no instant column change from then on (observed: INPLACE, writes going on).
    pub fts_doc_id: bool,
    /// MySQL/MariaDB: its default character set, lower-case, when known (a column without its
    /// own is of it).
    pub charset: Option<String>,
    /// MySQL/MariaDB: its default collation, lower-case, when known.
    pub collation: Option<String>,
    /// MySQL/MariaDB: its row format, lower-case, when known (`compressed` rules out INSTANT).
    pub row_format: Option<String>,
}

impl Table {
    /// `old` is named `new` from now on, wherever the table names it.
    fn rename_column(&mut self, old: &str, new: &str) {
        for (column, _) in &mut self.columns {
            if column == old {
                *column = new.to_string();
            }
        }
        for (_, indexed) in &mut self.indexes {
            for column in indexed.iter_mut().filter(|c| *c == old) {
                *column = new.to_string();
            }
        }
        for column in self.not_null_columns.iter_mut().filter(|c| *c == old) {
            *column = new.to_string();
        }
        for column in self.unique_keys.iter_mut().flat_map(|(_, key)| key.iter_mut()).filter(|c| *c == old) {
            *column = new.to_string();
        }
        for (_, checked, _) in self.not_null_checks.iter_mut().filter(|(_, c, _)| c == old) {
            *checked = new.to_string();
        }
        for column in self.checks.iter_mut().flat_map(|(_, read, _)| read.iter_mut()).filter(|c| *c == old) {
            *column = new.to_string();
        }
    }
}

impl Schema {
    /// Adds `table` as it exists before the migrations (read from a live database), replacing
    /// any table of that name; its named indexes become known by name too.
    pub fn insert_table(&mut self, name: &str, table: Table) {
        for (index, _) in &table.indexes {
            if !index.is_empty() {
                self.index_tables.insert(index.clone(), name.to_string());
            }
        }
        self.tables.insert(name.to_string(), table);
    }

    /// Records that index `index` belongs to `table` without counting it as one a lookup can
    /// use (a partial index, or one a failed concurrent build left INVALID): `DROP INDEX` and
    /// `REINDEX` still find its table.
    pub fn insert_index_name(&mut self, index: &str, table: &str) {
        self.index_tables.insert(index.to_string(), table.to_string());
    }

    /// Records that view `view` shows the rows of one relation, `base` (a table or another
    /// such view).
    pub fn insert_view(&mut self, view: &str, base: &str) {
        self.views.insert(view.to_string(), base.to_string());
        self.view_names.insert(view.to_string());
    }

    /// Records that view `view` exists (what it reads aside).
    pub fn insert_view_name(&mut self, view: &str) {
        self.view_names.insert(view.to_string());
    }

    /// Whether the schema knows a view named `name`, whatever it reads.
    pub fn knows_view(&self, name: &str) -> bool {
        self.view_names.contains(name)
    }

    /// The table whose rows view `name` shows, through views of views, when it is such a view.
    pub fn view_base(&self, name: &str) -> Option<&str> {
        let mut base = self.views.get(name)?;
        // Views never nest in a cycle; the bound only guards against a broken catalog.
        for _ in 0..32 {
            match self.views.get(base) {
                Some(next) => base = next,
                None => break,
            }
        }
        Some(base)
    }

    /// Whether `name` is a view the schema knows.
    pub fn is_view(&self, name: &str) -> bool {
        self.views.contains_key(name)
    }

    /// The unique keys of `table` (see [`Table::unique_keys`]); `None` when the table is unknown.
    pub fn unique_keys(&self, table: &str) -> Option<Vec<Vec<String>>> {
        Some(self.table(table)?.unique_keys.iter().map(|(_, columns)| columns.clone()).collect())
    }

    /// Records that function `name` exists (outside the migrations: the live database's), and
    /// whether it is VOLATILE.
    pub fn insert_function(&mut self, name: &str, volatile: bool) {
        self.functions.insert(name.to_string(), volatile);
    }

    /// Records that domain `name` has a `CHECK` or `NOT NULL` constraint.
    pub fn insert_constrained_domain(&mut self, name: &str) {
        self.constrained_domains.insert(name.to_string());
    }

    /// Whether `table.column` is known to be `NOT NULL` already (then `SET NOT NULL` has nothing
    /// to check).
    pub fn is_not_null(&self, table: &str, column: &str) -> bool {
        self.table(table).is_some_and(|t| t.not_null_columns.iter().any(|c| c == column))
    }

    /// Every table, by name.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &Table)> {
        self.tables.iter().map(|(name, table)| (name.as_str(), table))
    }

    /// The table named `name`, if the migrations so far create it.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// The current type of `table.column`, if known.
    pub fn column_type(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.table(table)?.columns.iter().find(|(name, _)| name == column).map(|(_, t)| t)
    }

    /// The other tables that a change to `table.column` must lock too, because a foreign key
    /// joins them on that column: changing its type rebuilds the key, which locks both sides
    /// ACCESS EXCLUSIVE.
    pub fn tables_joined_on(&self, table: &str, column: &str) -> Vec<String> {
        let mut joined = Vec::new();
        if let Some(t) = self.table(table) {
            joined.extend(
                t.foreign_keys
                    .iter()
                    .filter(|fk| fk.columns.iter().any(|c| c == column))
                    .map(|fk| fk.referenced_table.clone()),
            );
        }
        let key = self.table(table).map(|t| t.primary_key.clone()).unwrap_or_default();
        for (name, other) in &self.tables {
            let refers = other.foreign_keys.iter().any(|fk| {
                fk.referenced_table == table
                    && if fk.referenced_columns.is_empty() {
                        key.iter().any(|c| c == column)
                    } else {
                        fk.referenced_columns.iter().any(|c| c == column)
                    }
            });
            if refers {
                joined.push(name.clone());
            }
        }
        joined.retain(|t| t != table);
        joined.sort();
        joined.dedup();
        joined
    }

    /// The table a foreign key of `table` named `constraint` references, if it is one.
    pub fn foreign_key_target(&self, table: &str, constraint: &str) -> Option<&str> {
        let fk = self.table(table)?.foreign_keys.iter().find(|fk| fk.name == constraint)?;
        Some(fk.referenced_table.as_str())
    }

    /// Whether the migrations (or the live database) declare `function` VOLATILE (`None`: they
    /// do not declare it, as for PostgreSQL's own functions).
    pub fn function_is_volatile(&self, function: &str) -> Option<bool> {
        self.functions.get(function).copied()
    }

    /// Whether a trigger of the migrations fires on `table`.
    pub fn has_triggers(&self, table: &str) -> bool {
        self.triggers.iter().any(|(t, _)| t == table)
    }

    /// The tables with triggers that call `function`.
    pub fn tables_triggering(&self, function: &str) -> Vec<String> {
        let mut tables: Vec<String> =
            self.triggers.iter().filter(|(_, f)| f == function).map(|(t, _)| t.clone()).collect();
        tables.sort();
        tables.dedup();
        tables
    }

    /// Whether `name`, qualified, is qualified by a table's name where no schema of that name
    /// holds anything the model knows: `DROP INDEX IF EXISTS users.users_email` read as
    /// PostgreSQL reads it, an index of a schema `users` that does not exist.
    pub fn qualified_by_a_table_not_a_schema(&self, name: &str) -> bool {
        let Some((qualifier, _)) = name.split_once('.') else { return false };
        let prefix = format!("{qualifier}.");
        let is_schema = self
            .tables
            .keys()
            .chain(self.index_tables.keys())
            .chain(self.views.keys())
            .any(|known| known.starts_with(&prefix));
        let is_table = self.tables.contains_key(qualifier) || self.tables.contains_key(&format!("public.{qualifier}"));
        is_table && !is_schema
    }

    /// The table a named index belongs to, if known.
    pub fn table_of_index(&self, index: &str) -> Option<&str> {
        self.index_tables.get(index).map(String::as_str)
    }

    /// Whether `ancestor` is `table`'s parent, or its parent's, and so on: a lock on it without
    /// `ONLY` reaches `table`, and its rows include `table`'s.
    pub fn is_ancestor(&self, ancestor: &str, table: &str) -> bool {
        let mut at = table;
        // Inheritance never cycles; the bound guards a broken model.
        for _ in 0..64 {
            match self.table(at).and_then(|t| t.parent.as_deref()) {
                Some(parent) if parent == ancestor => return true,
                Some(parent) => at = parent,
                None => return false,
            }
        }
        false
    }

    /// Whether `table` is known to be partitioned.
    pub fn is_partitioned(&self, table: &str) -> bool {
        self.table(table).is_some_and(|t| t.partitioned)
    }

    /// Whether a validated `CHECK (column IS NOT NULL)` already proves `table.column` has no
    /// NULL, so that `SET NOT NULL` skips its scan (PostgreSQL 12+).
    pub fn has_valid_not_null_check(&self, table: &str, column: &str) -> bool {
        self.table(table).is_some_and(|t| t.not_null_checks.iter().any(|(_, c, valid)| c == column && *valid))
    }

    /// The column a `CHECK (column IS NOT NULL)` constraint of `table` named `name` is about.
    pub fn not_null_check_column(&self, table: &str, name: &str) -> Option<&str> {
        let t = self.table(table)?;
        t.not_null_checks.iter().find(|(check, _, _)| check == name).map(|(_, column, _)| column.as_str())
    }

    /// A validated CHECK of `partition` that reads every column of `parent`'s partition key:
    /// written to match the partition's bound, it lets `ATTACH PARTITION` skip its scan.
    pub fn bound_check(&self, partition: &str, parent: &str) -> Option<&str> {
        let key = &self.table(parent)?.partition_key;
        let checks = &self.table(partition)?.checks;
        let (name, ..) = checks
            .iter()
            .find(|(_, read, valid)| *valid && !key.is_empty() && key.iter().all(|column| read.contains(column)))?;
        Some(name)
    }

    /// Whether `name` is a domain with a `CHECK` or `NOT NULL` constraint.
    pub fn is_constrained_domain(&self, name: &str) -> bool {
        self.constrained_domains.contains(name)
    }

    /// Whether an index of `table` starts with exactly `columns` (in any order), so that a lookup
    /// by them (a foreign key's, say) needs no scan. `None` when the table is unknown.
    pub fn has_index_on(&self, table: &str, columns: &[String]) -> Option<bool> {
        let table = self.table(table)?;
        let wanted: HashSet<&String> = columns.iter().collect();
        Some(table.indexes.iter().any(|(_, indexed)| {
            indexed.len() >= columns.len() && indexed[..columns.len()].iter().collect::<HashSet<_>>() == wanted
        }))
    }

    /// Replays one statement's effect.
    pub fn apply(&mut self, effect: &Effect) {
        self.apply_action(effect);
        // MySQL's `MODIFY`/`CHANGE` redefines the column whole: NOT NULL or not as it says,
        // under its new name (the type is the action's).
        if let (Some(ddl), Action::AlterTable { table, .. }) = (effect.mysql.as_ref(), &effect.action) {
            if let Some(t) = self.tables.get_mut(table) {
                for (column, not_null) in &ddl.modified_not_null {
                    t.not_null_columns.retain(|c| c != column);
                    if *not_null {
                        t.not_null_columns.push(column.clone());
                    }
                }
                for (old, new) in &ddl.renamed_columns {
                    t.rename_column(old, new);
                }
            }
        }
    }

    fn apply_action(&mut self, effect: &Effect) {
        if let (Some(engine), Action::AlterTable { table, .. }) =
            (effect.mysql.as_ref().and_then(|ddl| ddl.sets_engine.as_ref()), &effect.action)
        {
            if let Some(t) = self.tables.get_mut(table) {
                t.storage_engine = Some(engine.clone());
            }
        }
        if let (Some(to), Action::AlterTable { table, .. }) =
            (effect.mysql.as_ref().and_then(|ddl| ddl.converts_to.as_ref()), &effect.action)
        {
            if let Some(t) = self.tables.get_mut(table) {
                t.charset = Some(to.charset.clone());
                t.collation.clone_from(&to.collation);
            }
        }
        if let Some(ddl) = effect.mysql.as_ref() {
            let table = match &effect.action {
                Action::CreateIndex { table, .. } | Action::AlterTable { table, .. } => Some(table.clone()),
                // `DROP INDEX i ON t`: the table it names, or the one the index is known on.
                Action::DropIndex { names, .. } => effect
                    .locks
                    .first()
                    .map(|(t, _)| t.clone())
                    .or_else(|| names.first().and_then(|n| self.index_tables.get(n).cloned())),
                _ => None,
            };
            let dropped: Vec<String> = match &effect.action {
                Action::DropIndex { names, .. } => names.clone(),
                _ => ddl.drops_indexes.clone(),
            };
            if let Some(t) = table.and_then(|table| self.tables.get_mut(&table)) {
                let had = !t.fulltext_indexes.is_empty();
                t.fulltext_indexes.retain(|i| !dropped.contains(i));
                t.fts_doc_id |= had;
                t.fulltext_indexes.extend(ddl.builds_fulltext.iter().cloned());
            }
        }
        match &effect.action {
            Action::CreateTable {
                table,
                columns,
                unique_keys,
                partitioned,
                partition_key,
                partition_of,
                primary_key,
                foreign_keys,
                storage,
                ..
            } => {
                // `CREATE TABLE t LIKE s` is `s`'s definition under a new name.
                if let Some(source) = storage.like.as_ref().and_then(|s| self.tables.get(s)).cloned() {
                    self.tables.insert(table.clone(), source);
                    return;
                }
                let base = table.rsplit('.').next().unwrap_or(table);
                // PostgreSQL's names: `<table>_pkey`, `<table>_<columns>_key`.
                let key_name = |key: &Vec<String>| {
                    if key == primary_key {
                        format!("{base}_pkey")
                    } else {
                        format!("{base}_{}_key", key.join("_"))
                    }
                };
                let mut created = Table {
                    unique_keys: unique_keys.iter().map(|key| (key_name(key), key.clone())).collect(),
                    columns: columns.iter().map(|c| (c.name.clone(), canonical(&c.column_type))).collect(),
                    indexes: unique_keys.iter().map(|key| (String::new(), key.clone())).collect(),
                    partitioned: *partitioned,
                    parent: partition_of.clone(),
                    not_null_checks: Vec::new(),
                    checks: Vec::new(),
                    partition_key: partition_key.clone(),
                    primary_key: primary_key.clone(),
                    foreign_keys: foreign_keys.clone(),
                    not_null_columns: primary_key
                        .iter()
                        .chain(columns.iter().filter(|c| c.not_null).map(|c| &c.name))
                        .cloned()
                        .collect(),
                    storage_engine: storage.engine.clone(),
                    fulltext_indexes: storage.fulltext_indexes.clone(),
                    fts_doc_id: !storage.fulltext_indexes.is_empty(),
                    charset: storage.charset.clone(),
                    collation: storage.collation.clone(),
                    row_format: storage.row_format.clone(),
                };
                if let Some(parent) = partition_of.as_ref().and_then(|p| self.tables.get(p)) {
                    created.columns.clone_from(&parent.columns);
                }
                self.tables.insert(table.clone(), created);
            }
            Action::DropTable { tables, .. } => {
                for table in tables {
                    self.tables.remove(table);
                }
            }
            Action::RenameFunction { name, new_name } => {
                if let Some(volatile) = self.functions.remove(name) {
                    self.functions.insert(new_name.clone(), volatile);
                }
                for (_, function) in self.triggers.iter_mut().filter(|(_, f)| f == name) {
                    function.clone_from(new_name);
                }
            }
            Action::CreateView { view, base } => {
                self.view_names.insert(view.clone());
                match base {
                    Some(base) => self.insert_view(view, base),
                    None => {
                        self.views.remove(view);
                    }
                }
            }
            Action::DropView { views } => {
                for view in views {
                    self.views.remove(view);
                    self.view_names.remove(view);
                }
            }
            Action::CreateIndex { name, table, columns, partial, unique, .. } => {
                if let Some(t) = self.tables.get_mut(table) {
                    // A partial index covers some rows only: no foreign key lookup can count on it.
                    if !partial {
                        t.indexes.push((name.clone(), columns.clone()));
                        if *unique {
                            t.unique_keys.push((name.clone(), columns.clone()));
                        }
                    }
                    self.index_tables.insert(name.clone(), table.clone());
                }
            }
            Action::CreateFunction { name, volatile } => {
                self.functions.insert(name.clone(), *volatile);
            }
            Action::TriggerDdl { command: "CREATE TRIGGER", table, function: Some(function) } => {
                self.triggers.push((table.clone(), function.clone()));
            }
            Action::DropFunction { names, .. } => {
                self.triggers.retain(|(_, function)| !names.contains(function));
                for name in names {
                    self.functions.remove(name);
                }
            }
            Action::DropIndex { names, .. } => {
                for name in names {
                    let Some(table) = self.index_tables.remove(name) else { continue };
                    if let Some(t) = self.tables.get_mut(&table) {
                        t.indexes.retain(|(index, _)| index != name);
                        t.unique_keys.retain(|(index, _)| index != name);
                    }
                }
            }
            Action::Rename { object: "table", table, new_name, .. } => {
                if let Some(t) = self.tables.remove(table) {
                    let renamed = crate::effect::renamed_table(table, new_name);
                    for (index, _) in &t.indexes {
                        if let Some(owner) = self.index_tables.get_mut(index) {
                            owner.clone_from(&renamed);
                        }
                    }
                    for other in self.tables.values_mut() {
                        for fk in other.foreign_keys.iter_mut().filter(|fk| &fk.referenced_table == table) {
                            fk.referenced_table.clone_from(&renamed);
                        }
                    }
                    // A view follows its table, and so do its triggers and its children.
                    for base in self.views.values_mut().filter(|base| *base == table) {
                        base.clone_from(&renamed);
                    }
                    for (on, _) in self.triggers.iter_mut().filter(|(on, _)| on == table) {
                        on.clone_from(&renamed);
                    }
                    for child in self.tables.values_mut().filter(|c| c.parent.as_ref() == Some(table)) {
                        child.parent = Some(renamed.clone());
                    }
                    self.tables.insert(renamed, t);
                }
            }
            Action::Rename { object: "view", table, new_name, .. } => {
                if self.view_names.remove(table) {
                    self.view_names.insert(crate::effect::renamed_table(table, new_name));
                }
                if let Some(base) = self.views.remove(table) {
                    self.views.insert(crate::effect::renamed_table(table, new_name), base);
                }
            }
            Action::Rename { object: "column", table, name, new_name } => {
                let old = name.rsplit('.').next().unwrap_or(name);
                if let Some(t) = self.tables.get_mut(table) {
                    t.rename_column(old, new_name);
                }
            }
            Action::CreateDomain { name, constrained: true } => {
                self.constrained_domains.insert(name.clone());
            }
            Action::ConstrainDomain { name, .. } => {
                self.constrained_domains.insert(name.clone());
            }
            Action::AlterTable { table, commands } => {
                // A key's index is named as its constraint, on its table: a later `DROP INDEX`
                // of a name the model never saw made (a key an older release made, dropped both
                // ways to be sure, as authelia's V0007 does) is of this table, whether or not
                // the model knows the table (tester 17: a table made before the folder).
                let schema = table.rsplit_once('.').map(|(schema, _)| schema);
                for command in commands {
                    if let AlterCommand::DropConstraint { name } = command {
                        let index = schema.map_or_else(|| name.clone(), |schema| format!("{schema}.{name}"));
                        self.index_tables.entry(index).or_insert_with(|| table.clone());
                    }
                }
                let Some(t) = self.tables.get_mut(table) else { return };
                for command in crate::alter::in_pass_order(commands) {
                    match command {
                        AlterCommand::AddColumn { column, column_type, references, not_null, .. } => {
                            t.columns.push((column.clone(), canonical(column_type)));
                            t.foreign_keys.extend(references.iter().cloned());
                            if *not_null {
                                t.not_null_columns.push(column.clone());
                            }
                        }
                        AlterCommand::SetNotNull { column } => t.not_null_columns.push(column.clone()),
                        AlterCommand::DropNotNull { column } => t.not_null_columns.retain(|c| c != column),
                        AlterCommand::DropColumn { column, .. } => {
                            t.columns.retain(|(name, _)| name != column);
                            t.not_null_columns.retain(|c| c != column);
                            // PostgreSQL drops the indexes and constraints that use the column.
                            t.indexes.retain(|(_, indexed)| !indexed.contains(column));
                            t.unique_keys.retain(|(_, key)| !key.contains(column));
                            t.foreign_keys.retain(|fk| !fk.columns.contains(column));
                            t.not_null_checks.retain(|(_, checked, _)| checked != column);
                            t.checks.retain(|(_, read, _)| !read.contains(column));
                        }
                        AlterCommand::AddConstraint {
                            kind: "FOREIGN KEY",
                            name,
                            columns,
                            references: Some(referenced),
                            referenced_columns,
                            ..
                        } => {
                            let name = if name.is_empty() {
                                format!("{}_{}_fkey", table.rsplit('.').next().unwrap_or(table), columns.join("_"))
                            } else {
                                name.clone()
                            };
                            t.foreign_keys.push(ForeignKey {
                                name,
                                columns: columns.clone(),
                                referenced_table: referenced.clone(),
                                referenced_columns: referenced_columns.clone(),
                            });
                        }
                        AlterCommand::DropConstraint { name } => {
                            t.foreign_keys.retain(|fk| &fk.name != name);
                            // A key's index is named as its constraint, in the table's schema.
                            t.unique_keys.retain(|(key, _)| key.rsplit('.').next() != Some(name.as_str()));
                            // A dropped CHECK proves nothing to a later SET NOT NULL.
                            t.not_null_checks.retain(|(check, _, _)| check != name);
                            t.checks.retain(|(check, _, _)| check != name);
                        }
                        AlterCommand::AlterColumnType { column, new_type, .. } => {
                            for (name, column_type) in &mut t.columns {
                                if name == column {
                                    *column_type = canonical(new_type);
                                }
                            }
                        }
                        AlterCommand::AddConstraint {
                            kind: kind @ ("PRIMARY KEY" | "UNIQUE"), columns, name, ..
                        } if !columns.is_empty() => {
                            t.indexes.push((String::new(), columns.clone()));
                            let base = table.rsplit('.').next().unwrap_or(table);
                            let name = match (name.is_empty(), *kind) {
                                (false, _) => name.clone(),
                                (true, "PRIMARY KEY") => format!("{base}_pkey"),
                                (true, _) => format!("{base}_{}_key", columns.join("_")),
                            };
                            t.unique_keys.push((name, columns.clone()));
                            if *kind == "PRIMARY KEY" {
                                t.primary_key.clone_from(columns);
                                t.not_null_columns.extend(columns.iter().cloned());
                            }
                        }
                        AlterCommand::AddConstraint {
                            kind: "CHECK",
                            name,
                            columns,
                            not_null_column,
                            not_valid,
                            ..
                        } => {
                            let name = if name.is_empty() {
                                // PostgreSQL's default name, so that DROP CONSTRAINT finds it.
                                let base = table.rsplit('.').next().unwrap_or(table);
                                match columns.as_slice() {
                                    [column] => format!("{base}_{column}_check"),
                                    _ => format!("{base}_check"),
                                }
                            } else {
                                name.clone()
                            };
                            if let Some(column) = not_null_column {
                                t.not_null_checks.push((name.clone(), column.clone(), !not_valid));
                            }
                            t.checks.push((name, columns.clone(), !not_valid));
                        }
                        AlterCommand::ValidateConstraint { name } => {
                            for (check, _, valid) in &mut t.not_null_checks {
                                if check == name {
                                    *valid = true;
                                }
                            }
                            for (check, _, valid) in &mut t.checks {
                                if check == name {
                                    *valid = true;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// What the column's type is once created: `serial` is `int4` with a default, and so on.
fn canonical(column_type: &ColumnType) -> ColumnType {
    let name = match column_type.name.as_str() {
        "serial" | "serial4" => "int4",
        "bigserial" | "serial8" => "int8",
        "smallserial" | "serial2" => "int2",
        other => other,
    };
    ColumnType { name: name.to_string(), ..column_type.clone() }
}

/// What changing a column's type costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeChange {
    /// A catalog change only (binary-coercible, a wider or removed length limit).
    CatalogOnly,
    /// Every row is rewritten (and every index rebuilt) under an ACCESS EXCLUSIVE lock.
    Rewrite,
    /// The current type is not known, so the cost cannot be told.
    Unknown,
}

/// What changing a column from `old` to `new` costs. `using` is
/// whether a `USING` expression is given: it is computed per row, so it always rewrites.
/// `utc`: the session's time zone is UTC on PostgreSQL 12+, where `timestamp` and `timestamptz`
/// convert without a rewrite.
pub fn type_change(old: Option<&ColumnType>, new: &ColumnType, using: bool, utc: bool) -> TypeChange {
    if using {
        return TypeChange::Rewrite;
    }
    let Some(old) = old else { return TypeChange::Unknown };
    let new = canonical(new);
    if old.array != new.array {
        return TypeChange::Rewrite;
    }
    let limit = |t: &ColumnType| t.modifiers.first().copied();
    let free = match (old.name.as_str(), new.name.as_str()) {
        _ if *old == new => true,
        // A length limit removed or raised is checked by no row: PostgreSQL only edits the catalog.
        ("varchar", "varchar") | ("varbit", "varbit") => match (limit(old), limit(&new)) {
            (_, None) => true,
            (Some(was), Some(now)) => now >= was,
            (None, Some(_)) => false,
        },
        ("varchar", "text") | ("text", "varchar") => new.modifiers.is_empty(),
        // Same scale, more (or unlimited) precision.
        ("numeric", "numeric") => match (old.modifiers.as_slice(), new.modifiers.as_slice()) {
            (_, []) => true,
            ([p1], [p2]) => p2 >= p1,
            ([p1, s1], [p2, s2]) => s1 == s2 && p2 >= p1,
            ([p1], [p2, 0]) => p2 >= p1,
            _ => false,
        },
        ("cidr", "inet") => true,
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp") => utc && old.modifiers == new.modifiers,
        _ => false,
    };
    if free {
        TypeChange::CatalogOnly
    } else {
        TypeChange::Rewrite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(name: &str, modifiers: &[i64]) -> ColumnType {
        ColumnType { name: name.into(), modifiers: modifiers.to_vec(), array: false }
    }

    #[test]
    fn rewrite_free_type_changes() {
        let free =
            |old: ColumnType, new: ColumnType| type_change(Some(&old), &new, false, false) == TypeChange::CatalogOnly;
        assert!(free(ty("varchar", &[200]), ty("text", &[])));
        assert!(free(ty("varchar", &[200]), ty("varchar", &[300])));
        assert!(free(ty("varchar", &[200]), ty("varchar", &[])));
        assert!(free(ty("text", &[]), ty("varchar", &[])));
        assert!(free(ty("numeric", &[10, 2]), ty("numeric", &[12, 2])));
        assert!(free(ty("numeric", &[10, 2]), ty("numeric", &[])));
        assert!(free(ty("cidr", &[]), ty("inet", &[])));
        assert!(free(ty("int4", &[]), ty("serial", &[])), "serial is int4");
    }

    #[test]
    fn type_changes_that_rewrite() {
        let rewrites =
            |old: ColumnType, new: ColumnType| type_change(Some(&old), &new, false, false) == TypeChange::Rewrite;
        assert!(rewrites(ty("text", &[]), ty("varchar", &[50])));
        assert!(rewrites(ty("varchar", &[200]), ty("varchar", &[100])));
        assert!(rewrites(ty("int4", &[]), ty("int8", &[])));
        assert!(rewrites(ty("numeric", &[10, 2]), ty("numeric", &[12, 3])));
        assert!(rewrites(ty("timestamp", &[]), ty("timestamptz", &[])));
        assert!(rewrites(ty("json", &[]), ty("jsonb", &[])));
        assert_eq!(type_change(Some(&ty("text", &[])), &ty("text", &[]), true, false), TypeChange::Rewrite, "USING");
        assert_eq!(type_change(None, &ty("text", &[]), false, false), TypeChange::Unknown);
        let utc = type_change(Some(&ty("timestamp", &[])), &ty("timestamptz", &[]), false, true);
        assert_eq!(utc, TypeChange::CatalogOnly, "PostgreSQL 12+ with TimeZone UTC");
    }

    #[test]
    fn a_seeded_table_is_known_with_its_indexes_and_not_null_columns() {
        let mut schema = Schema::default();
        let users = Table {
            columns: vec![("id".into(), ty("int8", &[])), ("email".into(), ty("text", &[]))],
            indexes: vec![("users_pkey".into(), vec!["id".into()])],
            primary_key: vec!["id".into()],
            not_null_columns: vec!["id".into()],
            ..Table::default()
        };
        schema.insert_table("users", users);
        schema.insert_index_name("users_email_partial", "users");
        assert_eq!(schema.table_of_index("users_pkey"), Some("users"));
        assert_eq!(schema.table_of_index("users_email_partial"), Some("users"));
        assert_eq!(schema.has_index_on("users", &["email".into()]), Some(false), "a partial index is no lookup");
        assert!(schema.is_not_null("users", "id") && !schema.is_not_null("users", "email"));
        for sql in
            ["ALTER TABLE users ALTER COLUMN email SET NOT NULL", "ALTER TABLE users RENAME COLUMN email TO mail"]
        {
            schema.apply(&crate::postgres::analyze_statement(sql).unwrap());
        }
        assert!(schema.is_not_null("users", "mail"));
        schema.apply(&crate::postgres::analyze_statement("ALTER TABLE users ALTER COLUMN mail DROP NOT NULL").unwrap());
        assert!(!schema.is_not_null("users", "mail"));
        schema.apply(&crate::postgres::analyze_statement("DROP INDEX users_pkey").unwrap());
        assert_eq!(schema.has_index_on("users", &["id".into()]), Some(false));
    }

    #[test]
    fn replay_tracks_tables_columns_and_indexes() {
        let mut schema = Schema::default();
        for sql in [
            "CREATE TABLE users (id bigint PRIMARY KEY, bio varchar(200), org_id bigint)",
            "ALTER TABLE users ALTER COLUMN bio TYPE text",
            "CREATE INDEX users_org ON users (org_id, id)",
            "ALTER TABLE users RENAME TO members",
        ] {
            schema.apply(&crate::postgres::analyze_statement(sql).unwrap());
        }
        assert!(schema.table("users").is_none());
        assert_eq!(schema.column_type("members", "bio"), Some(&ty("text", &[])));
        assert_eq!(schema.has_index_on("members", &["org_id".into()]), Some(true));
        assert_eq!(schema.has_index_on("members", &["bio".into()]), Some(false));
        schema.apply(&crate::postgres::analyze_statement("DROP INDEX users_org").unwrap());
        assert_eq!(schema.has_index_on("members", &["org_id".into()]), Some(false));
        assert_eq!(schema.has_index_on("members", &["id".into()]), Some(true), "the primary key");
    }
}
