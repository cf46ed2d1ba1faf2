//! Database URLs, and keeping their passwords out of every message.

use std::fmt;

use crate::Engine;

/// A URL cutover cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// No URL was given.
    #[error("no database URL: pass --database-url, set DATABASE_URL (or CUTOVER_DATABASE_URL), or set `database_url` in cutover.toml")]
    Missing,
    /// The scheme names no engine cutover knows.
    #[error("unsupported database URL scheme `{scheme}` in `{redacted}`; use postgres://user@host/db, mysql://user@host/db, sqlite://path/to/file.db or sqlite::memory:")]
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
    /// The user name or password holds a character that ends it early for the driver (or for
    /// any reader of URLs), so that it would be misread: another host, a truncated password.
    #[error("database URL `{redacted}`: {problem}; {fix}")]
    Unencoded {
        /// What is wrong, without the password: "the password contains `/`".
        problem: String,
        /// How to write it instead: "percent-encode it as %2F".
        fix: String,
        /// The URL with every text that may be its password hidden.
        redacted: String,
    },
    /// A `sqlite:` URL with no file: SQLite would open a temporary database that is gone when
    /// the connection closes, so what was applied would be lost without a word.
    #[error("database URL `{redacted}` names no database file (SQLite would open a temporary one, gone when the connection closes): write sqlite://path/to/app.db, or sqlite::memory: for a database in memory on purpose")]
    NoSqliteFile {
        /// The URL with every text that may be its password hidden.
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
    scheme: Engine,
    // Invariant: every form in which the password occurs in `raw` (as written and
    // percent-decoded), longest first; empty when there is none.
    secrets: Vec<String>,
}

impl DatabaseUrl {
    /// Parses a URL, recognising its engine. A server URL whose user name or password the
    /// driver would misread (an unencoded `/`, `?` or `#` in it, an `@` after the host, or for
    /// PostgreSQL a second `@`) is refused, with the fix and without the password.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Missing);
        }
        // Where the password ends is known only once the URL is accepted; until then every
        // text that some reader could take for it is hidden.
        let possible = with_decoded(
            longest_possible_password(raw)
                .into_iter()
                .chain(standard_password(raw))
                .chain(password_parameters(raw))
                .chain(password_without_host(raw)),
        );
        // The span from the first `:` to the last `@` is hidden where it stands, not searched
        // for: a short candidate (`p` of `p@ss`) searched for would mask every `p` of the
        // message, and tell what was taken for the password.
        let redacted = match longest_possible_password(raw) {
            Some(span) => {
                let start = span.as_ptr() as usize - raw.as_ptr() as usize;
                let masked = format!("{}***{}", &raw[..start], &raw[start + span.len()..]);
                redact_secrets(&masked, &with_decoded(password_parameters(raw).into_iter()))
            }
            None => redact_secrets(raw, &possible),
        };
        let Some((scheme_text, _)) = raw.split_once(':') else {
            return Err(UrlError::NoScheme { redacted });
        };
        let scheme = match Engine::from_scheme(scheme_text) {
            Some(engine) => engine,
            // `localhost:5432/app` is a host and port with the scheme left out, not scheme `localhost`.
            _ if scheme_text.contains('/')
                || scheme_text.contains(' ')
                || raw[scheme_text.len() + 1..].starts_with(|c: char| c.is_ascii_digit()) =>
            {
                return Err(UrlError::NoScheme { redacted });
            }
            _ => {
                return Err(UrlError::UnknownScheme { scheme: redact_secrets(scheme_text, &possible), redacted });
            }
        };
        // The drivers read a scheme in lower case only: `POSTGRES://` is no connection string to
        // them.
        let lowered = format!("{}{}", scheme_text.to_ascii_lowercase(), &raw[scheme_text.len()..]);
        let raw = lowered.as_str();
        if scheme == Engine::Sqlite {
            let rest = &raw["sqlite:".len()..];
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            if rest.split('?').next().unwrap_or(rest).is_empty() {
                return Err(UrlError::NoSqliteFile { redacted });
            }
        }
        if scheme != Engine::Sqlite {
            // `postgres:/user:pw@host` (a `/` short): no reader takes the password for one, so
            // a message would show it whole.
            if !raw[scheme_text.len() + 1..].starts_with("//") {
                return Err(UrlError::Unencoded {
                    problem: format!("`{scheme_text}:` is not followed by `//`"),
                    fix: format!("write it as {scheme_text}://user:password@host/database"),
                    redacted,
                });
            }
            if let Some((problem, fix)) = misread_userinfo(raw, scheme) {
                return Err(UrlError::Unencoded { problem, fix, redacted });
            }
            if password_without_host(raw).is_some() {
                return Err(UrlError::Unencoded {
                    problem: "the text after `user:` is not a port, and no `@` ends a password".to_string(),
                    fix: "write user:password@host:port (an `@` before the host), percent-encoding an `@` in the password as %40".to_string(),
                    redacted,
                });
            }
            // The drivers' own words for it are `URL ParseError { invalid port number }` and
            // `invalid connection string`.
            if let Some(port) = port_out_of_range(raw) {
                return Err(UrlError::Unencoded {
                    problem: format!("port {port} is no TCP port (1 to 65535)"),
                    fix: "write the server's port, as host:5432 (PostgreSQL) or host:3306 (MySQL)".to_string(),
                    redacted,
                });
            }
        }
        let secrets = with_decoded(standard_password(raw).into_iter().chain(password_parameters(raw)));
        Ok(DatabaseUrl { raw: raw.to_string(), scheme, secrets })
    }

    /// The engine the URL names.
    pub fn engine(&self) -> Engine {
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

    /// For `sqlite:` URLs, the database file's path, or `None` for `sqlite::memory:` and any
    /// other engine's URL (a server URL's text cut as if it began `sqlite:` showed its password).
    pub fn sqlite_path(&self) -> Option<&str> {
        if self.scheme != Engine::Sqlite {
            return None;
        }
        let rest = self.raw.get("sqlite:".len()..)?;
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

/// What follows `scheme://`, or the whole text when there is no `://`.
fn after_scheme(raw: &str) -> &str {
    raw.split_once("://").map_or(raw, |(_, rest)| rest)
}

/// Where the authority (`user:password@host:port`) ends by the URL standard: at the first
/// `/`, `?` or `#`.
fn authority_end(rest: &str) -> usize {
    rest.find(['/', '?', '#']).unwrap_or(rest.len())
}

/// The password as the URL standard (and the MySQL driver) reads it: in the authority, after
/// the first `:` of what precedes its last `@`. For an accepted server URL, every driver reads
/// the same.
fn standard_password(raw: &str) -> Option<&str> {
    let rest = after_scheme(raw);
    let (userinfo, _) = rest[..authority_end(rest)].rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// The longest text some reader might take for the password: from the first `:` to the last
/// `@`. A password holding `/`, `?`, `#` or `@` ends at one of the `@`s, and which one cannot be
/// told; hiding this span hides it, whichever (for URLs not accepted, whose messages show no
/// other text of them).
fn longest_possible_password(raw: &str) -> Option<&str> {
    let rest = after_scheme(raw);
    let (before_last_at, _) = rest.rsplit_once('@')?;
    let (_, password) = before_last_at.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// A port of the URL's hosts that no server can listen on (0, or over 65535), as written.
fn port_out_of_range(raw: &str) -> Option<&str> {
    let (_, rest) = raw.split_once("://")?;
    let authority = &rest[..authority_end(rest)];
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, hosts)| hosts);
    hosts.split(',').find_map(|host| {
        let host = host.rsplit_once(']').map_or(host, |(_, after)| after);
        let (_, port) = host.split_once(':')?;
        let valid =
            port.is_empty() || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0));
        (!valid && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
    })
}

/// `user:secret` with no `@` after it (`postgres://app:s3cret` or `postgres://app:s3cretdb.host`):
/// what follows the `:` is no port (not all digits), so it is likely a password whose `@` was
/// left out. `None` for `host:5432`.
fn password_without_host(raw: &str) -> Option<&str> {
    let (_, rest) = raw.split_once("://")?;
    let authority = &rest[..authority_end(rest)];
    if authority.contains('@') {
        return None;
    }
    // Hosts may be several (`h1:5432,h2:5433`) and IPv6 (`[::1]:5432`).
    let port_ok = |host: &str| {
        let host = host.rsplit_once(']').map_or(host, |(_, after)| after);
        host.split_once(':').is_none_or(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
    };
    if authority.split(',').all(port_ok) {
        return None;
    }
    let (_, after) = authority.split_once(':')?;
    (!after.is_empty()).then_some(after)
}

/// The values of `password=` parameters (and `sslpassword=` and the like): each runs to the
/// next `&` or space, a `?` included.
fn password_parameters(raw: &str) -> Vec<&str> {
    let mut values = Vec::new();
    for part in raw.split(['&', ' ']) {
        // A key starts the part or follows a `?` in it (`db?password=...`).
        let starts = std::iter::once(0).chain(part.match_indices('?').map(|(i, _)| i + 1));
        for start in starts {
            let Some((key, value)) = part[start..].split_once('=') else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if !key.contains('?') && (key.contains("pass") || key == "pwd") && !value.is_empty() {
                values.push(value);
            }
        }
    }
    values
}

/// The secrets as written and percent-decoded, without repeats, longest first (so that a
/// password containing another is hidden whole).
fn with_decoded<'a>(found: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut secrets: Vec<String> = Vec::new();
    for secret in found {
        for form in [secret.to_string(), percent_decode(secret)] {
            if !form.is_empty() && !secrets.contains(&form) {
                secrets.push(form);
            }
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

/// Why the driver would misread the user name or password of a server URL, and the fix; `None`
/// when it reads them as written. The URL standard ends the authority at the first `/`, `?` or
/// `#` (the MySQL driver parses by it, and cutover splits the query off at the first `?`);
/// the PostgreSQL driver ends the user and password at the first `@`.
fn misread_userinfo(raw: &str, scheme: Engine) -> Option<(String, String)> {
    let (_, rest) = raw.split_once("://")?;
    let end = authority_end(rest);
    let authority = &rest[..end];
    if let Some(at) = rest[end..].find('@').map(|i| end + i) {
        if !authority.contains('@') && authority.contains(':') {
            // `user:pa/ss@host`: the password runs past the first `/`, `?` or `#`.
            let (_, password) = rest[..at].split_once(':')?;
            let found: Vec<char> = ['/', '?', '#'].into_iter().filter(|c| password.contains(*c)).collect();
            let names: Vec<String> = found.iter().map(|c| format!("`{c}`")).collect();
            let codes: Vec<String> = found.iter().map(|c| format!("%{:02X}", *c as u32)).collect();
            let pronoun = if found.len() == 1 { "it" } else { "them" };
            return Some((
                format!("the password contains {}", and_list(&names)),
                format!("percent-encode {pronoun} as {} (and an `@` after the host as %40)", and_list(&codes)),
            ));
        }
        return Some((
            "an `@` follows the host".to_string(),
            "percent-encode it as %40 (in a password, `/`, `?`, `#` and `@` are written %2F, %3F, %23 and %40)"
                .to_string(),
        ));
    }
    if scheme == Engine::Postgres && authority.matches('@').count() > 1 {
        let first_at = authority.find('@')?;
        let part = if authority[..first_at].contains(':') { "password" } else { "user name" };
        return Some((
            format!("the {part} contains `@`"),
            "percent-encode it as %40 (the PostgreSQL driver ends the user name and password at the first `@`)"
                .to_string(),
        ));
    }
    None
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
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
    /// A tester saw `***ostgres://app_***w:***@..`: the `p` of the password `p@ss:w/o` was
    /// masked in every word of the message.
    #[test]
    fn a_refused_url_hides_its_password_span_where_it_stands() {
        let err = DatabaseUrl::parse("postgres://app_pw:p@ss:w/o?r#d@127.0.0.1:1/db").unwrap_err().to_string();
        assert!(err.contains("`postgres://app_pw:***@127.0.0.1:1/db`"), "{err}");
        let err = DatabaseUrl::parse("mysql://app:a/b@db/shop?password=x%2Fy").unwrap_err().to_string();
        assert!(!err.contains("a/b") && !err.contains("x%2Fy"), "{err}");
    }

    #[test]
    fn a_percent_before_a_multibyte_character_is_kept() {
        // Found by the `database_url` fuzz target: this used to panic slicing inside `é`.
        let url = DatabaseUrl::parse("postgres://app:pa%éss@db/shop").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db/shop");
        let crash = "://:yooOoo%\0\u{fff},\u{15}`oo@\0\0\n\n,";
        let _ = DatabaseUrl::parse(crash);
        assert_eq!(super::percent_decode("a%41%zz%"), "aA%zz%");
    }

    /// The drivers said `URL ParseError { invalid port number }` (MySQL) and `invalid
    /// connection string` (PostgreSQL).
    #[test]
    fn a_port_no_server_listens_on_is_named() {
        for (raw, port) in [
            ("mysql://app:s3cret@127.0.0.1:99999/db", "99999"),
            ("postgres://app:s3cret@db:0/shop", "0"),
            ("postgres://app:s3cret@h1:5432,h2:70000/shop", "70000"),
            ("postgres://app:s3cret@[::1]:65536/shop", "65536"),
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(err.contains(&format!("port {port} is no TCP port (1 to 65535)")), "{raw}: {err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        for raw in [
            "postgres://app:s3cret@db:5432/shop",
            "mysql://app:s3cret@127.0.0.1:65535/db",
            "postgres://app:s3cret@[::1]:5432,h2/shop",
            "postgres://db/shop",
            "sqlite://app.db",
        ] {
            DatabaseUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        }
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
        assert_eq!(url.engine(), Engine::Postgres);
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

    /// Whether `text` shows `secret` anywhere outside the `***` masks (a mask next to a `*` of
    /// the text is not a password shown).
    fn shows(text: &str, secret: &str) -> bool {
        let filler = ['\u{1}', '\u{2}'].into_iter().find(|c| !secret.contains(*c)).unwrap();
        text.replace("***", &filler.to_string()).contains(secret)
    }

    /// Every byte but letters and digits as `%XX`.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect()
    }

    /// Passwords as generated by password managers, and worse.
    fn nasty_passwords() -> Vec<String> {
        let mut passwords: Vec<String> =
            (b'!'..=b'~').filter(u8::is_ascii_punctuation).map(|c| format!("pa{0}ss{0}wd", c as char)).collect();
        passwords.extend(
            ["pässwörd-🔑", "пароль", "s3cr3t-s3cr3t", "%", "%41%zz", "a***b", "pa:ss:wd", "p@ss@w@rd", "/?#@", "a b"]
                .map(String::from),
        );
        passwords
    }

    #[test]
    fn nasty_passwords_never_show() {
        for password in nasty_passwords() {
            for (scheme, query) in [("postgres", "sslmode=require"), ("mysql", "ssl-mode=REQUIRED")] {
                let expected = format!("{scheme}://app:***@db.example:5432/shop?{query}");
                let misread = password.contains(['/', '?', '#']) || (scheme == "postgres" && password.contains('@'));
                let raw = format!("{scheme}://app:{password}@db.example:5432/shop?{query}");
                match DatabaseUrl::parse(&raw) {
                    Ok(url) => {
                        assert!(!misread, "{raw} is misread by the driver and must be refused");
                        assert_eq!(url.redacted(), expected, "{password}");
                        assert_eq!(url.to_string(), expected);
                        assert_eq!(format!("{url:?}"), format!("DatabaseUrl({expected})"));
                        let scrubbed = url.scrub(&format!("failed for {password} ({})", percent_decode(&password)));
                        assert!(!shows(&scrubbed, &password), "{scrubbed}");
                        assert_eq!(url.expose(), raw);
                    }
                    Err(err) => {
                        assert!(misread, "{raw} refused: {err}");
                        let message = err.to_string();
                        assert!(!shows(&message, &password), "{message}");
                        assert!(message.contains(&expected) && message.contains("percent-encode"), "{message}");
                    }
                }
                // Percent-encoded, every password is accepted, hidden as written and decoded.
                let encoded = encode(&password);
                let url =
                    DatabaseUrl::parse(&format!("{scheme}://app:{encoded}@db.example:5432/shop?{query}")).unwrap();
                assert_eq!(url.redacted(), expected, "{password}");
                assert_eq!(format!("{url:?}"), format!("DatabaseUrl({expected})"));
                let scrubbed = url.scrub(&format!("failed for {password} ({encoded})"));
                assert!(!shows(&scrubbed, &password) && !shows(&scrubbed, &encoded), "{scrubbed}");
            }
        }
    }

    #[test]
    fn a_password_that_is_also_elsewhere_in_the_url_never_shows() {
        for raw in [
            "postgres://app:app@db/app",
            "mysql://shop:shop@shop.example:3306/shop",
            "postgres://app:example@db.example.com/shop",
            "postgres://app:5432@127.0.0.1:5432/db",
            "postgres://app:postgres@db/postgres",
            "postgres://app:xy@db/xyxy?application_name=xy",
            "postgres://app:1@10.0.0.1:5432/db1",
        ] {
            let url = DatabaseUrl::parse(raw).unwrap();
            let password = standard_password(raw).unwrap();
            for shown in [url.to_string(), format!("{url:?}"), url.redacted(), url.scrub(&format!("error: {raw}"))] {
                assert!(!shows(&shown, password), "{raw} showed its password: {shown}");
            }
        }
    }

    #[test]
    fn a_url_a_character_short_never_shows_its_password() {
        for raw in [
            "postgres:/postgres:S3CRET@127.0.0.1/t1",
            "mysql:/cutover:S3CRET@127.0.0.1/t1",
            "postgres://postgres:S3CRET127.0.0.1/t1",
            "postgres://postgres:S3CRET",
            "mysql://u:S3CRET",
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(!err.contains("S3CRET"), "{raw}: {err}");
        }
        for ok in
            ["postgres://[::1]:5432/db", "postgres://h1:5432,h2:5433/db", "postgres://h:5432/db", "postgres://u@h/db"]
        {
            assert!(DatabaseUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_password_the_driver_would_misread_is_refused_with_the_fix() {
        let refused = |raw: &str| DatabaseUrl::parse(raw).unwrap_err().to_string();
        assert_eq!(
            refused("postgres://app:pa/ss@127.0.0.1/db"),
            "database URL `postgres://app:***@127.0.0.1/db`: the password contains `/`; percent-encode it as %2F (and an `@` after the host as %40)"
        );
        let err = refused("mysql://u:p?w#d@host/db");
        assert!(
            err.contains(
                "`mysql://u:***@host/db`: the password contains `?` and `#`; percent-encode them as %3F and %23"
            ),
            "{err}"
        );
        let err = refused("mariadb://u:a/b?c#d@host/db?ssl-mode=REQUIRED");
        assert!(err.contains("contains `/`, `?` and `#`; percent-encode them as %2F, %3F and %23"), "{err}");
        // The PostgreSQL driver ends the password at the first `@`; the MySQL one at the last.
        let err = refused("postgres://app:p@ss@127.0.0.1/db");
        assert!(
            err.contains("`postgres://app:***@127.0.0.1/db`: the password contains `@`; percent-encode it as %40"),
            "{err}"
        );
        assert!(refused("postgres://me@corp:pw@db/x").contains("the user name contains `@`"));
        assert_eq!(
            DatabaseUrl::parse("mysql://app:p@ss@127.0.0.1/db").unwrap().redacted(),
            "mysql://app:***@127.0.0.1/db"
        );
        // An `@` after the host: a password with `@` and `/`, or an `@` in a parameter.
        let err = refused("postgres://app:p@s/s@127.0.0.1/db");
        assert!(err.contains("an `@` follows the host; percent-encode it as %40") && !err.contains("s/s"), "{err}");
        assert!(refused("mysql://app:pw@h/db?application_name=a@b").contains("an `@` follows the host"));
        assert!(DatabaseUrl::parse("postgres://app:pw@h/db?application_name=a%40b").is_ok());
        // An unknown scheme or a URL without one says so without the password either.
        let err = refused("app:s3cret@db.example/shop");
        assert!(err.contains("`app:***@db.example/shop`") && !err.contains("s3cret"), "{err}");
        let err = refused("oracle://scott:ti/ger@db/orcl");
        assert!(!err.contains("ti/ger") && !err.contains("ger@"), "{err}");
    }

    /// The fuzz target's check (`fuzz/fuzz_targets/database_url.rs`) over random URLs built of
    /// the characters that matter, so that it runs with every `cargo test`.
    #[test]
    fn random_urls_never_show_their_password() {
        const PIECES: &[&str] = &[
            "postgres://",
            "mysql://",
            "sqlite://",
            "x://",
            ":",
            "@",
            "/",
            "?",
            "#",
            "%40",
            "%",
            "*",
            "a",
            "b",
            "é",
            "=",
            "&",
            "password=",
            " ",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200_000 {
            let mut text = String::new();
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(PIECES[(state % PIECES.len() as u64) as usize]);
            }
            let rest = text.trim().split_once("://").map_or(text.trim(), |(_, rest)| rest);
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let standard =
                authority.rsplit_once('@').and_then(|(userinfo, _)| userinfo.split_once(':')).map(|(_, p)| p);
            match DatabaseUrl::parse(&text) {
                Ok(url) => {
                    if let Some(password) = standard {
                        for shown in [url.to_string(), url.redacted(), url.scrub(password)] {
                            assert!(!shows(&shown, password) || password.is_empty(), "{text:?}: {shown}");
                        }
                    }
                }
                Err(
                    UrlError::UnknownScheme { redacted, .. }
                    | UrlError::NoScheme { redacted }
                    | UrlError::Unencoded { redacted, .. }
                    | UrlError::NoSqliteFile { redacted },
                ) => {
                    let longest = rest.rsplit_once('@').and_then(|(before, _)| before.split_once(':')).map(|(_, p)| p);
                    for password in [standard, longest].into_iter().flatten().filter(|p| !p.is_empty()) {
                        assert!(!shows(&redacted, password), "{text:?}: {redacted}");
                    }
                }
                Err(UrlError::Missing) => assert!(text.trim().is_empty()),
            }
        }
    }

    #[test]
    fn password_parameters_are_hidden_whole() {
        let url = DatabaseUrl::parse("postgresql://db/prod?user=app&password=a?b#c&sslmode=require").unwrap();
        assert_eq!(url.redacted(), "postgresql://db/prod?user=app&password=***&sslmode=require");
        let url = DatabaseUrl::parse("postgresql://db/prod?sslmode=require?password=hunter2").unwrap();
        assert!(!url.redacted().contains("hunter2"));
        let url = DatabaseUrl::parse("postgresql://db/prod?sslpassword=k3y&password=p%40ss").unwrap();
        assert_eq!(url.scrub("k3y p@ss p%40ss"), "*** *** ***");
    }

    #[test]
    fn a_sqlite_url_names_a_file_or_memory_and_a_scheme_is_read_in_any_case() {
        for raw in ["sqlite:", "sqlite://", "sqlite://?mode=rwc", "SQLITE:"] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(err.contains("names no database file"), "{raw}: {err}");
        }
        assert!(DatabaseUrl::parse("sqlite::memory:").is_ok());
        let url = DatabaseUrl::parse("POSTGRES://app:pw@db/app").unwrap();
        assert_eq!((url.engine(), url.expose()), (Engine::Postgres, "postgres://app:pw@db/app"));
        assert_eq!(url.redacted(), "postgres://app:***@db/app");
    }

    #[test]
    fn sqlite_paths() {
        let path = |raw: &str| DatabaseUrl::parse(raw).unwrap().sqlite_path().map(str::to_string);
        assert_eq!(path("sqlite::memory:"), None);
        assert_eq!(path("sqlite://app.db"), Some("app.db".to_string()));
        assert_eq!(path("sqlite:///var/lib/app.db"), Some("/var/lib/app.db".to_string()));
        assert_eq!(path("sqlite:data/app.db?mode=rwc"), Some("data/app.db".to_string()));
        // Tester 19: a server's URL is no file path (cut as one, it showed the password).
        assert_eq!(path("mysql://cutover:secret@127.0.0.1:3306/db"), None);
        assert_eq!(path("postgres://app:secret@db/app"), None);
    }
}
