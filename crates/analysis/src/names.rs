//! How a relation's name as written becomes the name the analysis gives it: `public.users` and
//! `users` are one table without a database; on a live one, the catalog says where each table
//! really is ([`LiveNames`]); after `SET search_path` in a script, an unqualified name is the
//! first table of that name on the path.

use std::collections::{BTreeMap, BTreeSet};

/// The live database's relations (tables and views): the schema and name each really has,
/// and the name the analysis gives it (bare when the session's `search_path` finds it so).
#[derive(Debug, Clone, Default)]
pub struct LiveNames {
    by_place: BTreeMap<(String, String), String>,
    names: BTreeSet<String>,
}

impl LiveNames {
    /// Records that relation `name` of schema `schema` is `analysis_name` to the analysis.
    pub fn insert(&mut self, schema: &str, name: &str, analysis_name: &str) {
        self.by_place.insert((schema.to_string(), name.to_string()), analysis_name.to_string());
        self.names.insert(analysis_name.to_string());
    }

    /// Whether nothing is known (no live database).
    pub fn is_empty(&self) -> bool {
        self.by_place.is_empty()
    }

    /// The one schema every live relation is in, when they share one: on MySQL/MariaDB, the
    /// session's database.
    pub fn only_schema(&self) -> Option<&str> {
        let mut schemas = self.by_place.keys().map(|(schema, _)| schema.as_str());
        let first = schemas.next()?;
        schemas.all(|s| s == first).then_some(first)
    }

    fn get(&self, schema: &str, name: &str) -> Option<&str> {
        self.by_place.get(&(schema.to_string(), name.to_string())).map(String::as_str)
    }
}

/// The analysis's name of relation `name` written qualified with `schema`: the live
/// relation's name when it exists there; else as written, `public.` dropped unless the bare
/// name is another live relation's.
pub(crate) fn qualified(live: &LiveNames, schema: &str, name: &str) -> String {
    if let Some(known) = live.get(schema, name) {
        return known.to_string();
    }
    let written = written_name(Some(schema), name);
    if live.names.contains(&written) {
        format!("{schema}.{name}")
    } else {
        written
    }
}

/// The analysis's name of a relation written `[schema.]name`. Unqualified, it is found on
/// `path` when the script set one (the first schema with a relation of that name, on the live
/// database or made by the migrations so far: `known`), else where it would be created (the
/// path's first schema); without a path set, its name is as written (the session's own path
/// finds it, as the live catalog named it).
pub(crate) fn resolve(
    live: &LiveNames,
    path: Option<&[String]>,
    known: impl Fn(&str) -> bool,
    schema: Option<&str>,
    name: &str,
) -> String {
    let path = match (schema, path) {
        (Some(schema), _) => return qualified(live, schema, name),
        (None, None) => return name.to_string(),
        (None, Some(path)) => path,
    };
    // `$user` names the role's schema, which the analysis does not know; the system schemas
    // hold no table a migration changes.
    let mut schemas = path.iter().map(String::as_str).filter(|s| !matches!(*s, "$user" | "pg_temp" | "pg_catalog"));
    let first = schemas.clone().next();
    for schema in schemas.by_ref() {
        if live.get(schema, name).is_some() {
            return qualified(live, schema, name);
        }
        let candidate = qualified(live, schema, name);
        if !live.names.contains(&candidate) && known(&candidate) {
            return candidate;
        }
    }
    first.map_or_else(|| name.to_string(), |schema| qualified(live, schema, name))
}

/// A relation's name as the analysis writes it without a database or a `search_path` set in
/// the script: `public` is the default schema, so `public.users` and `users` are one table;
/// any other schema is kept (`app.users`).
pub fn written_name(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) if schema != "public" => format!("{schema}.{name}"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_as_the_session_would() {
        let mut live = LiveNames::default();
        // The database's search_path is `app, public`: `app.users` is `users`, and the
        // shadowed `public.users` keeps its schema.
        live.insert("app", "users", "users");
        live.insert("public", "users", "public.users");
        live.insert("public", "orders", "orders");
        let none = |_: &str| false;
        assert_eq!(resolve(&live, None, none, None, "users"), "users");
        assert_eq!(resolve(&live, None, none, Some("public"), "users"), "public.users");
        assert_eq!(resolve(&live, None, none, Some("app"), "users"), "users");
        let public = ["public".to_string()];
        assert_eq!(resolve(&live, Some(&public), none, None, "users"), "public.users");
        let path = ["$user".to_string(), "app".to_string(), "public".to_string()];
        assert_eq!(resolve(&live, Some(&path), none, None, "orders"), "orders");
        assert_eq!(resolve(&live, Some(&path), none, None, "new_table"), "app.new_table", "where it is created");
        // A table the migrations made in `public`, further on the path.
        assert_eq!(resolve(&live, Some(&path), |n: &str| n == "fresh", None, "fresh"), "fresh");
        // Without a database: only the path and what the migrations made.
        let empty = LiveNames::default();
        let app = ["app".to_string()];
        assert_eq!(resolve(&empty, Some(&app), none, None, "users"), "app.users");
        assert_eq!(resolve(&empty, Some(&[]), none, None, "users"), "users", "an empty path");
    }
}

/// Which live table each name stands for while the migrations still to run rename, drop and
/// create tables: a live fact (a size) follows the table, not its old name (tester 20: `orders`,
/// renamed onto the name of an empty table, was judged by that table's 0 rows). A name no
/// statement touched is its own live table.
#[derive(Debug, Clone, Default)]
pub struct TableMoves {
    /// A name a statement touched: the live table it now stands for, `None` for none (a new
    /// table, one dropped, or one MySQL's multi-table `RENAME` moved unseen).
    moved: BTreeMap<String, Option<String>>,
}

impl TableMoves {
    /// The live table `name` stands for here, `None` when it stands for none.
    pub fn live_table<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        match self.moved.get(name) {
            Some(live) => live.as_deref(),
            None => Some(name),
        }
    }

    /// Follows what `effect` does to tables' names.
    pub fn record(&mut self, effect: &crate::Effect) {
        use crate::Action;
        match &effect.action {
            Action::Rename { object: "table", table, new_name, .. } => {
                let live = self.live_table(table).map(str::to_string);
                // MySQL's `RENAME TABLE a TO b, c TO a` names its other pairs by their locks
                // only: where those tables went is not known.
                for (other, _) in effect.locks.iter().filter(|(other, _)| other != table) {
                    self.moved.insert(other.clone(), None);
                }
                self.moved.insert(table.clone(), None);
                self.moved.insert(crate::effect::renamed_table(table, new_name), live);
            }
            Action::DropTable { tables, .. } => {
                for table in tables {
                    self.moved.insert(table.clone(), None);
                }
            }
            Action::CreateTable { table, .. } | Action::CreateTableAs { table, .. } => {
                self.moved.insert(table.clone(), None);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod moves_tests {
    use super::TableMoves;

    fn moves_of(sql: &str) -> TableMoves {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let mut moves = TableMoves::default();
        for effect in crate::analyze(&statements, &crate::LintConfig::default()).effects().flatten() {
            moves.record(effect);
        }
        moves
    }

    #[test]
    fn a_live_table_is_followed_through_renames_and_a_new_one_has_none() {
        let moves = moves_of(
            "ALTER TABLE empty_t RENAME TO empty_old;\nALTER TABLE orders RENAME TO empty_t;\nALTER TABLE app.users RENAME TO people;\nCREATE TABLE orders (id int);",
        );
        assert_eq!(moves.live_table("empty_t"), Some("orders"));
        assert_eq!(moves.live_table("empty_old"), Some("empty_t"));
        assert_eq!(moves.live_table("orders"), None);
        assert_eq!(moves.live_table("customers"), Some("customers"));
        assert_eq!(moves.live_table("app.people"), Some("app.users"));
    }
}
