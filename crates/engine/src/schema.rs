//! A database's schema as a set of named objects: what `cutover rehearse` compares before up and
//! after down, and what `cutover drift` compares between the live database and the schema its
//! applied migrations build.

use std::fmt;

use crate::DbError;

/// The kinds of object a schema snapshot lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A schema (namespace).
    Schema,
    /// An extension.
    Extension,
    /// A type: an enum (with its values), a domain, a composite type.
    Type,
    /// A table: plain, partitioned, a partition, foreign, unlogged.
    Table,
    /// A column of a table or view: type, NOT NULL, default, identity, generation, collation.
    Column,
    /// A table's constraint (primary key, unique, check, foreign key, exclusion).
    Constraint,
    /// An index that no constraint owns.
    Index,
    /// A view.
    View,
    /// A materialized view.
    MaterializedView,
    /// A sequence with its parameters.
    Sequence,
    /// A function, procedure or aggregate: signature, result, language, volatility,
    /// strictness, security definer, parallel safety, settings (`SET search_path ...`), body.
    Function,
    /// A trigger, and whether it is enabled.
    Trigger,
    /// A row-level security policy.
    Policy,
}

impl ObjectKind {
    /// The name output shows.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Type => "type",
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Function => "function",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Policy => "policy",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One object of a schema, normalized: two databases whose objects are equal have the same
/// schema, whatever order or spelling built it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaObject {
    /// What it is.
    pub kind: ObjectKind,
    /// Its name, unique within its kind: `users`, `users.email` (a column, constraint,
    /// trigger or policy of `users`), `app.orders_idx`, `touch()`. No `public.`.
    pub name: String,
    /// The table (or view, or sequence's owner) it belongs to, when it belongs to one: it comes
    /// and goes with it.
    pub table: Option<String>,
    /// Everything else about it, normalized, in one line.
    pub definition: String,
}

impl SchemaObject {
    /// `kind name definition`, the line snapshots are compared by.
    pub fn line(&self) -> String {
        if self.definition.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {} {}", self.kind, self.name, self.definition)
        }
    }
}

/// A database whose schema can be read as [`SchemaObject`]s.
pub trait SchemaSnapshot {
    /// Every object of the user's schemas, leaving out cutover's own (its history, approvals,
    /// state tables and their triggers and functions, expand/contract versions' schemas and
    /// dual-write triggers) and the members of extensions (the extension stands for them).
    fn schema_objects(&mut self) -> Result<Vec<SchemaObject>, DbError>;

    /// The schema as sorted lines ([`SchemaObject::line`]). Two equal snapshots mean equal
    /// schemas.
    fn schema_snapshot(&mut self) -> Result<Vec<String>, DbError> {
        let mut lines: Vec<String> = self.schema_objects()?.iter().map(SchemaObject::line).collect();
        lines.sort();
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_kind_name_and_definition() {
        let column = SchemaObject {
            kind: ObjectKind::Column,
            name: "users.email".into(),
            table: Some("users".into()),
            definition: "text not null".into(),
        };
        assert_eq!(column.line(), "column users.email text not null");
        let schema =
            SchemaObject { kind: ObjectKind::Schema, name: "app".into(), table: None, definition: String::new() };
        assert_eq!(schema.line(), "schema app");
        assert_eq!(ObjectKind::MaterializedView.to_string(), "materialized view");
    }
}
