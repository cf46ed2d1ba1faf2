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
