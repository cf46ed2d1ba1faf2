//! A database's schema as a set of named objects: what `cutover rehearse` compares before up and
//! after down, and what `cutover drift` compares between the live database and the schema its
//! applied migrations build.

use std::fmt;

use crate::DbError;

/// The kinds of object a schema snapshot lists, in the order output lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A schema (namespace).
    Schema,
    /// An extension.
    Extension,
    /// A type: an enum (with its values), a domain, a composite type, a range type.
    Type,
    /// A table: plain, partitioned, a partition, foreign (server, options), unlogged; its access
    /// method, tablespace, replica identity, clustering index, `OF` type, options.
    Table,
    /// A column of a table or view: type, NOT NULL, default, identity, generation, collation,
    /// storage, statistics target, compression, options.
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
    /// A rewrite rule of a table or view (`CREATE RULE`; not a view's own `_RETURN`), and
    /// whether it is enabled.
    Rule,
    /// Extended statistics (`CREATE STATISTICS`) with their statistics target.
    Statistics,
    /// An operator: its function, commutator, negator, estimators, hash and merge support.
    Operator,
    /// An operator class: its access method, type, family, whether it is the default.
    OperatorClass,
    /// An operator family with its operators and support functions.
    OperatorFamily,
    /// A collation: provider, locale, determinism.
    Collation,
    /// A cast a user made (`CREATE CAST`): how it converts, when it applies.
    Cast,
    /// A text search configuration: its parser and the dictionaries of each token type.
    TextSearchConfiguration,
    /// A text search dictionary: its template and options.
    TextSearchDictionary,
    /// A publication: what it publishes, its tables (columns, row filters) and schemas.
    Publication,
    /// An event trigger: its event, tags, function, and whether it is enabled.
    EventTrigger,
    /// An access method a user made (`CREATE ACCESS METHOD`).
    AccessMethod,
    /// A foreign-data wrapper: handler, validator, options.
    ForeignDataWrapper,
    /// A foreign server: its wrapper, type, version, options.
    ForeignServer,
    /// A user mapping, by role and server (its options, which hold passwords, are not read).
    UserMapping,
}

impl ObjectKind {
    /// Every kind, in order.
    pub const ALL: [ObjectKind; 28] = [
        ObjectKind::Schema,
        ObjectKind::Extension,
        ObjectKind::Type,
        ObjectKind::Table,
        ObjectKind::Column,
        ObjectKind::Constraint,
        ObjectKind::Index,
        ObjectKind::View,
        ObjectKind::MaterializedView,
        ObjectKind::Sequence,
        ObjectKind::Function,
        ObjectKind::Trigger,
        ObjectKind::Policy,
        ObjectKind::Rule,
        ObjectKind::Statistics,
        ObjectKind::Operator,
        ObjectKind::OperatorClass,
        ObjectKind::OperatorFamily,
        ObjectKind::Collation,
        ObjectKind::Cast,
        ObjectKind::TextSearchConfiguration,
        ObjectKind::TextSearchDictionary,
        ObjectKind::Publication,
        ObjectKind::EventTrigger,
        ObjectKind::AccessMethod,
        ObjectKind::ForeignDataWrapper,
        ObjectKind::ForeignServer,
        ObjectKind::UserMapping,
    ];

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
            ObjectKind::Rule => "rule",
            ObjectKind::Statistics => "statistics",
            ObjectKind::Operator => "operator",
            ObjectKind::OperatorClass => "operator class",
            ObjectKind::OperatorFamily => "operator family",
            ObjectKind::Collation => "collation",
            ObjectKind::Cast => "cast",
            ObjectKind::TextSearchConfiguration => "text search configuration",
            ObjectKind::TextSearchDictionary => "text search dictionary",
            ObjectKind::Publication => "publication",
            ObjectKind::EventTrigger => "event trigger",
            ObjectKind::AccessMethod => "access method",
            ObjectKind::ForeignDataWrapper => "foreign data wrapper",
            ObjectKind::ForeignServer => "foreign server",
            ObjectKind::UserMapping => "user mapping",
        }
    }

    /// The kind [`name`](Self::name) names.
    pub fn from_name(name: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|kind| kind.name() == name)
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
    /// Every object of the user's schemas, leaving out cutover's own, known by the names it
    /// gives them and never by a prefix (its history, guard, approvals and state tables with
    /// their triggers and functions, expand/contract versions' schemas and dual-write triggers
    /// and functions), the members of extensions (the extension stands for them) and the
    /// database system's own objects.
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

    #[test]
    fn every_kind_is_listed_once_in_order_and_found_by_its_name() {
        for pair in ObjectKind::ALL.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ObjectKind::from_name("sandwich"), None);
    }
}
