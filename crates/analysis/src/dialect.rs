//! Which SQL dialect migrations are written in, and for MySQL which server and version (the
//! algorithm an `ALTER TABLE` gets depends on both).

use std::fmt;

/// The SQL dialect of the migrations: one type for the folder (pop's per-engine files) and
/// the analysis, defined beside the migrations.
pub use cutover_migration::Dialect;

/// A MySQL-family server and its version, e.g. `mariadb-10.11` or `mysql-8.0.36`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MysqlServer {
    /// MariaDB rather than MySQL.
    pub mariadb: bool,
    /// Version parts.
    pub version: (u32, u32, u32),
}

impl Default for MysqlServer {
    fn default() -> Self {
        MysqlServer { mariadb: false, version: (8, 0, 0) }
    }
}

impl MysqlServer {
    /// Whether the version is at least `major.minor.patch`.
    pub fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.version >= (major, minor, patch)
    }

    /// From a server's `SELECT version()` (`10.11.19-MariaDB-0+deb12u1`, `8.0.36`).
    pub fn from_server_version(text: &str) -> Option<MysqlServer> {
        let mariadb = text.to_ascii_lowercase().contains("mariadb");
        let digits = text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find(|s| s.contains('.'))?;
        let mut parts = digits.split('.').filter_map(|p| p.parse::<u32>().ok());
        let version = (parts.next()?, parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Some(MysqlServer { mariadb, version })
    }
}

impl std::str::FromStr for MysqlServer {
    type Err = String;

    fn from_str(text: &str) -> Result<MysqlServer, String> {
        let (flavour, version) = text
            .split_once('-')
            .ok_or_else(|| format!("`{text}` is not a server version such as mariadb-10.11 or mysql-8.0"))?;
        let mariadb = match flavour.to_ascii_lowercase().as_str() {
            "mariadb" => true,
            "mysql" => false,
            other => return Err(format!("unknown server `{other}` (use mariadb-X.Y or mysql-X.Y)")),
        };
        let mut parts =
            version.split('.').map(|p| p.parse::<u32>().map_err(|_| format!("`{text}`: `{p}` is not a number")));
        let major = parts.next().ok_or_else(|| format!("`{text}` has no version"))??;
        let minor = parts.next().transpose()?.unwrap_or(0);
        let patch = parts.next().transpose()?.unwrap_or(0);
        Ok(MysqlServer { mariadb, version: (major, minor, patch) })
    }
}

impl fmt::Display for MysqlServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor, patch) = self.version;
        write!(f, "{}-{major}.{minor}.{patch}", if self.mariadb { "mariadb" } else { "mysql" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions() {
        let m: MysqlServer = "mariadb-10.11".parse().unwrap();
        assert!(m.mariadb && m.at_least(10, 4, 0) && !m.at_least(11, 0, 0));
        assert_eq!(MysqlServer::from_server_version("10.11.19-MariaDB-0+deb12u1"), Some(m.with_patch(19)));
        assert_eq!("mysql-8.0.29".parse::<MysqlServer>().unwrap().version, (8, 0, 29));
        assert!("oracle-19".parse::<MysqlServer>().is_err());
    }

    impl MysqlServer {
        fn with_patch(mut self, patch: u32) -> MysqlServer {
            self.version.2 = patch;
            self
        }
    }
}
