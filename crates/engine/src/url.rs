//! Database URLs, and keeping their passwords out of every message.

use std::fmt;

/// The engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `mysql://` or `mariadb://`.
    Mysql,
    /// `sqlite://path`, `sqlite:path` or `sqlite::memory:`.
    Sqlite,
}

/// A URL cutover cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// No URL was given.
    #[error("no database URL: pass --database-url, set DATABASE_URL (or CUTOVER_DATABASE_URL), or set `database_url` in cutover.toml")]
    Missing,
    /// The scheme names no engine cutover knows.
    #[error("unsupported database URL scheme `{scheme}` in `{redacted}`; use postgres://user@host/db, sqlite://path/to/file.db or sqlite::memory:")]
    UnknownScheme {
        /// The scheme as written.
        scheme: String,
        /// The URL with its password hidden.
        redacted: String,
    },
    /// The URL has no scheme at all.
    #[error("`{redacted}` is not a database URL; write it as postgres://user@host/db, mysql://user@host/db, sqlite://path/to/file.db or sqlite::memory:")]
    NoScheme {
        /// The text with anything that looks like a password hidden.
        redacted: String,
    },
}

/// A database URL whose password never reaches a message.
///
/// `Display` and `Debug` show the URL with its password replaced by `***`; only
/// [`DatabaseUrl::expose`] gives the real text, for the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    // Invariant: starts with a scheme that parsed into `scheme`.
    raw: String,
    scheme: Scheme,
    // Invariant: every form in which the password occurs in `raw` (as written and
    // percent-decoded); empty when there is none.
    secrets: Vec<String>,
}

impl DatabaseUrl {
    /// Parses a URL, recognising its engine.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Missing);
        }
        let secrets = find_secrets(raw);
        let redacted = redact_secrets(raw, &secrets);
        let Some((scheme_text, _)) = raw.split_once(':') else {
            return Err(UrlError::NoScheme { redacted });
        };
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Scheme::Postgres,
            "mysql" | "mariadb" => Scheme::Mysql,
            "sqlite" => Scheme::Sqlite,
            _ if scheme_text.contains('/') || scheme_text.contains(' ') => {
                return Err(UrlError::NoScheme { redacted });
            }
            _ => return Err(UrlError::UnknownScheme { scheme: scheme_text.to_string(), redacted }),
        };
        Ok(DatabaseUrl { raw: raw.to_string(), scheme, secrets })
    }

    /// The engine the URL names.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The URL as given, password included: for the driver only, never for a message.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_secrets(&self.raw, &self.secrets)
    }

    /// Hides this URL's password wherever it occurs in `text` (a driver's error message, say).
    pub fn scrub(&self, text: &str) -> String {
        redact_secrets(text, &self.secrets)
    }

    /// The same server URL naming another database (`postgres://u@h/app` to `.../scratch`),
    /// query parameters kept. For server URLs only.
    pub fn with_database(&self, database: &str) -> DatabaseUrl {
        let (base, query) = match self.raw.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.raw.as_str(), None),
        };
        let authority_start = base.find("://").map_or(0, |i| i + 3);
        let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
        let mut raw = format!("{}/{database}", &base[..path_start]);
        if let Some(query) = query {
            raw.push('?');
            raw.push_str(query);
        }
        DatabaseUrl { raw, scheme: self.scheme, secrets: self.secrets.clone() }
    }

    /// For `sqlite:` URLs, the database file's path, or `None` for `sqlite::memory:`.
    pub fn sqlite_path(&self) -> Option<&str> {
        let rest = &self.raw["sqlite:".len()..];
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then_some(path)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// The password of `scheme://user:password@host` and of `password=...` parameters, as written
/// and percent-decoded.
fn find_secrets(raw: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some((_, after_scheme)) = raw.split_once("://") {
        let authority_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
        let authority = &after_scheme[..authority_end];
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                if !password.is_empty() {
                    secrets.push(password.to_string());
                }
            }
        }
    }
    for part in raw.split(['?', '&', ' ']) {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        if key.eq_ignore_ascii_case("password") && !value.is_empty() {
            secrets.push(value.to_string());
        }
    }
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).filter(|d| !secrets.contains(d)).collect();
    secrets.extend(decoded);
    // Longest first, so that a password containing another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

/// Replaces every occurrence of each secret in `text` by `***`.
pub fn redact_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Byte-wise: `%` may be followed by any character, a multi-byte one included.
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_percent_before_a_multibyte_character_is_kept() {
        // Found by the `database_url` fuzz target: this used to panic slicing inside `é`.
        let url = DatabaseUrl::parse("postgres://app:pa%éss@db/shop").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db/shop");
        let crash = "://:yooOoo%\0\u{fff},\u{15}`oo@\0\0\n\n,";
        let _ = DatabaseUrl::parse(crash);
        assert_eq!(super::percent_decode("a%41%zz%"), "aA%zz%");
    }

    #[test]
    fn another_database_on_the_same_server() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/shop?sslmode=require").unwrap();
        let scratch = url.with_database("scratch");
        assert_eq!(scratch.expose(), "postgres://app:s3cret@db:5432/scratch?sslmode=require");
        assert_eq!(scratch.to_string(), "postgres://app:***@db:5432/scratch?sslmode=require");
        assert_eq!(DatabaseUrl::parse("postgres://h").unwrap().with_database("x").expose(), "postgres://h/x");
    }

    use super::*;

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl::parse("postgres://app:s3cr%40t@db.example:5432/prod?sslmode=require").unwrap();
        assert_eq!(url.scheme(), Scheme::Postgres);
        assert_eq!(url.redacted(), "postgres://app:***@db.example:5432/prod?sslmode=require");
        assert_eq!(format!("{url}"), url.redacted());
        assert!(!format!("{url:?}").contains("s3cr"));
        assert_eq!(url.scrub("password for s3cr@t was wrong (s3cr%40t)"), "password for *** was wrong (***)");

        let url = DatabaseUrl::parse("postgresql://db/prod?user=app&password=hunter2").unwrap();
        assert_eq!(url.redacted(), "postgresql://db/prod?user=app&password=***");
    }

    #[test]
    fn bad_urls_are_explained_without_their_password() {
        let err = DatabaseUrl::parse("oracle://scott:tiger@db/orcl").unwrap_err().to_string();
        assert!(err.contains("unsupported database URL scheme `oracle`"), "{err}");
        assert!(err.contains("oracle://scott:***@db/orcl"), "{err}");
        assert!(!err.contains("tiger"));
        assert_eq!(DatabaseUrl::parse("  ").unwrap_err(), UrlError::Missing);
        assert!(matches!(DatabaseUrl::parse("just/a/path").unwrap_err(), UrlError::NoScheme { .. }));
    }

    #[test]
    fn sqlite_paths() {
        let path = |raw: &str| DatabaseUrl::parse(raw).unwrap().sqlite_path().map(str::to_string);
        assert_eq!(path("sqlite::memory:"), None);
        assert_eq!(path("sqlite://app.db"), Some("app.db".to_string()));
        assert_eq!(path("sqlite:///var/lib/app.db"), Some("/var/lib/app.db".to_string()));
        assert_eq!(path("sqlite:data/app.db?mode=rwc"), Some("data/app.db".to_string()));
    }
}
