//! Which database engine: the one type every crate uses to tell the engines apart.

use std::fmt;

/// A database engine cutover runs on. A `DatabaseUrl` names one (`DatabaseUrl::engine`), and
/// every `MigrationTarget` says which it is (`MigrationTarget::engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// PostgreSQL: `postgres://` or `postgresql://`.
    Postgres,
    /// MySQL or MariaDB: `mysql://` or `mariadb://`.
    Mysql,
    /// SQLite: `sqlite://path`, `sqlite:path` or `sqlite::memory:`.
    Sqlite,
}

impl Engine {
    /// The engine a URL scheme names (`postgres`, `postgresql`, `mysql`, `mariadb`, `sqlite`,
    /// in any case).
    pub fn from_scheme(scheme: &str) -> Option<Engine> {
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(Engine::Postgres),
            "mysql" | "mariadb" => Some(Engine::Mysql),
            "sqlite" => Some(Engine::Sqlite),
            _ => None,
        }
    }

    /// The engine of the URL `text`, from its scheme alone (no other part is checked).
    pub fn of_url(text: &str) -> Option<Engine> {
        text.trim().split_once(':').and_then(|(scheme, _)| Engine::from_scheme(scheme))
    }

    /// A short lower-case name, for settings and machine-readable output.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Engine {
    /// The name people know it by.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Mysql => "MySQL/MariaDB",
            Engine::Sqlite => "SQLite",
        })
    }
}

/// The first `n` of `items` for a message, then "and K more" for the rest: a fleet of sessions
/// must not fill the screen.
pub fn at_most<T: fmt::Display>(items: &[T], n: usize) -> Vec<String> {
    let mut shown: Vec<String> = items.iter().take(n).map(ToString::to_string).collect();
    if items.len() > n {
        shown.push(format!("and {} more", items.len() - n));
    }
    shown
}

/// `n` with the noun in the form that goes with it: "1 migration", "2 migrations".
pub fn count<N: fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    if n == N::from(1) {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_shows_the_first_and_counts_the_rest() {
        assert_eq!(at_most(&["a", "b"], 3), ["a", "b"]);
        assert_eq!(at_most(&["a", "b", "c", "d"], 2), ["a", "b", "and 2 more"]);
    }
}
