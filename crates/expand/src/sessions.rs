//! Which schema version another session uses, from what the database says about it.
//!
//! `complete` removes what the old version reads: the previous version's views and the base
//! tables' old columns. Old is therefore every session that reads the previous version's views
//! *or the base tables directly*: an application on the plain schema sees the physical columns,
//! so it is old for every migration after the first, not only for the first one. The facts come
//! from the engine ([`SessionFacts`]); the decision is made here, once.

use cutover_engine::SessionFacts;

/// The schema versions a `complete` is about.
#[derive(Debug, Clone, Copy)]
pub struct Versions<'a> {
    /// The real tables' schema; every `<base>_v<version>` is a version's views.
    pub base: &'a str,
    /// The version being completed.
    pub new: &'a str,
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// It uses an old version; `complete` would break it.
    Old {
        /// The schema it uses.
        schema: String,
        /// What shows it, for messages.
        because: String,
    },
    /// It uses the new version.
    New,
    /// Nothing shows which version it uses (idle, holding no lock, no version in its name).
    Unknown,
}

/// A session that uses an old version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldSession {
    /// Its process id.
    pub pid: i64,
    /// Who it is, for messages.
    pub description: String,
    /// The old schema it uses.
    pub schema: String,
    /// What shows it.
    pub because: String,
}

impl std::fmt::Display for OldSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on `{}`: {}", self.description, self.schema, self.because)
    }
}

/// The other sessions of a database, by version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// Sessions on an old version.
    pub old: Vec<OldSession>,
    /// Sessions nothing places.
    pub unknown: Vec<String>,
}

impl Census {
    /// Places every session.
    pub fn take(sessions: &[SessionFacts], versions: Versions<'_>) -> Census {
        let mut census = Census::default();
        for session in sessions {
            match place(session, versions) {
                Placement::Old { schema, because } => census.old.push(OldSession {
                    pid: session.pid,
                    description: session.description.clone(),
                    schema,
                    because,
                }),
                Placement::New => {}
                Placement::Unknown => census.unknown.push(session.description.clone()),
            }
        }
        census
    }
}

/// Places one session. The strongest evidence wins: the version a deployment names itself
/// by, then what the session is using right now (its locks), then its role's `search_path`.
pub fn place(session: &SessionFacts, versions: Versions<'_>) -> Placement {
    let is_version_schema = |schema: &str| {
        schema == versions.base
            || schema
                .strip_prefix(versions.base)
                .and_then(|rest| rest.strip_prefix("_v"))
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    };
    // `billing@public_v3`: the last `@` so that `me@example.com@public` works; folded to lower
    // case as PostgreSQL folds an unquoted schema name (`Billing@Public` is `public`).
    let application = session.application.to_lowercase();
    if let Some((_, schema)) = application.rsplit_once('@') {
        if schema == versions.new {
            return Placement::New;
        }
        if is_version_schema(schema) {
            return Placement::Old {
                schema: schema.to_string(),
                because: format!("its application_name names `{schema}`"),
            };
        }
    }
    if let Some(schema) = session.view_schemas.iter().find(|s| *s != versions.new && is_version_schema(s)) {
        return Placement::Old { schema: schema.clone(), because: format!("it holds a lock on a view of `{schema}`") };
    }
    let uses_views_of_new = session.view_schemas.iter().any(|s| s == versions.new);
    if !session.base_tables.is_empty() && !uses_views_of_new {
        // A version's views lock the tables under them too; tables locked with none of the
        // new version's views are read directly.
        let tables: Vec<String> = session.base_tables.iter().map(|t| format!("`{}.{t}`", versions.base)).collect();
        return Placement::Old {
            schema: versions.base.to_string(),
            because: format!("it uses {} directly, not through a version's views", tables.join(", ")),
        };
    }
    if uses_views_of_new {
        return Placement::New;
    }
    if let Some(path) = &session.role_search_path {
        let schemas: Vec<&str> =
            path.split(',').map(|s| s.trim().trim_matches('"')).filter(|s| !s.is_empty()).collect();
        if schemas.contains(&versions.new) {
            return Placement::New;
        }
        if let Some(schema) = schemas.iter().find(|s| is_version_schema(s)) {
            return Placement::Old {
                schema: schema.to_string(),
                because: format!("its role's search_path is `{path}`"),
            };
        }
    }
    Placement::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Versions<'static> = Versions { base: "public", new: "public_v2" };

    fn session(application: &str) -> SessionFacts {
        SessionFacts { pid: 7, description: "pid 7".into(), application: application.into(), ..SessionFacts::default() }
    }

    fn old_schema(placement: Placement) -> Option<String> {
        match placement {
            Placement::Old { schema, .. } => Some(schema),
            _ => None,
        }
    }

    #[test]
    fn an_app_on_the_plain_schema_is_old_for_every_migration_after_the_first() {
        assert_eq!(old_schema(place(&session("billing@public"), SECOND)).as_deref(), Some("public"));
        assert_eq!(old_schema(place(&session("billing@public_v1"), SECOND)).as_deref(), Some("public_v1"));
        assert_eq!(place(&session("billing@public_v2"), SECOND), Placement::New);
        // A generation older still (its schema gone) is old too.
        assert_eq!(old_schema(place(&session("billing@public_v0"), SECOND)).as_deref(), Some("public_v0"));
    }

    #[test]
    fn an_application_name_that_is_not_a_version_says_nothing() {
        for name in ["ops@example.com", "psql", "", "x@public_vx_y", "x@public_v", "x@publicity"] {
            assert_eq!(place(&session(name), SECOND), Placement::Unknown, "{name}");
        }
        assert_eq!(old_schema(place(&session("me@example.com@public"), SECOND)).as_deref(), Some("public"));
        assert_eq!(old_schema(place(&session("Billing@Public"), SECOND)).as_deref(), Some("public"));
    }

    #[test]
    fn locks_show_what_a_session_reads() {
        let mut reads_tables = session("psql");
        reads_tables.base_tables = vec!["users".into()];
        let placement = place(&reads_tables, SECOND);
        assert!(
            matches!(&placement, Placement::Old { schema, because } if schema == "public" && because.contains("`public.users` directly")),
            "{placement:?}"
        );
        // The new version's views lock the tables under them: not old.
        let mut through_views = reads_tables.clone();
        through_views.view_schemas = vec!["public_v2".into()];
        assert_eq!(place(&through_views, SECOND), Placement::New);
        let mut on_previous = session("");
        on_previous.view_schemas = vec!["public_v1".into(), "public_v2".into()];
        assert_eq!(old_schema(place(&on_previous, SECOND)).as_deref(), Some("public_v1"));
        // Views of a schema of the user's own are no version.
        let mut reporting = session("");
        reporting.view_schemas = vec!["reports".into()];
        assert_eq!(place(&reporting, SECOND), Placement::Unknown);
    }

    #[test]
    fn a_role_per_version_is_read_from_its_search_path() {
        let mut on_role = session("");
        on_role.role_search_path = Some("public_v1, public".into());
        assert_eq!(old_schema(place(&on_role, SECOND)).as_deref(), Some("public_v1"));
        on_role.role_search_path = Some("\"public_v2\", public".into());
        assert_eq!(place(&on_role, SECOND), Placement::New);
        on_role.role_search_path = Some("\"$user\", public".into());
        assert_eq!(old_schema(place(&on_role, SECOND)).as_deref(), Some("public"));
        // What a session does now outranks its role's default.
        on_role.view_schemas = vec!["public_v2".into()];
        assert_eq!(place(&on_role, SECOND), Placement::New);
    }

    #[test]
    fn a_census_keeps_the_old_and_counts_who_it_cannot_place() {
        let mut old = session("billing@public");
        old.pid = 1;
        let sessions = [old, session("psql"), session("api@public_v2")];
        let census = Census::take(&sessions, SECOND);
        assert_eq!(census.old.len(), 1);
        assert_eq!(census.old[0].pid, 1);
        assert_eq!(census.unknown.len(), 1);
    }
}
