//! Checksums of migration scripts that survive line-ending and BOM changes.

use std::fmt;

use sha2::{Digest, Sha256};

/// SHA-256 of a script's normalized text, as lowercase hex.
///
/// Normalization strips a UTF-8 byte-order mark and turns CRLF into LF, so that a checkout on
/// another OS is not an edit, while any real edit, even of whitespace inside a line, is. A lone
/// CR is kept: it is data (in a string literal), and what is run is what the file says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum(
    // Invariant: 64 lowercase hex digits.
    String,
);

impl Checksum {
    /// Checksum of text that is already normalized (see [`normalize`]).
    pub fn of_normalized(text: &str) -> Checksum {
        let digest = Sha256::digest(text.as_bytes());
        Checksum(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Checksum of several statements, for the resume point of a non-transactional migration.
    pub fn of_statements<'a>(statements: impl IntoIterator<Item = &'a str>) -> Checksum {
        let mut hasher = Sha256::new();
        for statement in statements {
            hasher.update((statement.len() as u64).to_le_bytes());
            hasher.update(statement.as_bytes());
        }
        Checksum(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Accepts a stored checksum; `None` unless it is 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Checksum> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| Checksum(hex.to_ascii_lowercase()))
    }

    /// The checksum as 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Strips a leading BOM and turns CRLF into LF.
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // CRLF only: a Windows checkout's line ends (even inside a string literal that spans lines,
    // which then holds the same data on every platform). A lone CR is data (`'a\rb'`), sent as
    // written.
    text.replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_and_bom_do_not_change_the_checksum() {
        let lf = Checksum::of_normalized(&normalize("CREATE TABLE t (id int);\nSELECT 1;\n"));
        let crlf = Checksum::of_normalized(&normalize("CREATE TABLE t (id int);\r\nSELECT 1;\r\n"));
        let bom = Checksum::of_normalized(&normalize("\u{feff}CREATE TABLE t (id int);\nSELECT 1;\n"));
        assert_eq!(lf, crlf);
        assert_eq!(lf, bom);
    }

    #[test]
    fn a_lone_carriage_return_is_kept() {
        assert_eq!(normalize("INSERT INTO t VALUES ('a\rb');\r\n"), "INSERT INTO t VALUES ('a\rb');\n");
    }

    #[test]
    fn real_edits_change_the_checksum() {
        let a = Checksum::of_normalized("SELECT 1;\n");
        assert_ne!(a, Checksum::of_normalized("SELECT  1;\n"));
        assert_ne!(a, Checksum::of_normalized("SELECT 1;"));
    }

    #[test]
    fn known_value_and_round_trip() {
        let empty = Checksum::of_normalized("");
        assert_eq!(empty.as_str(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Checksum::from_hex(empty.as_str()), Some(empty));
        assert_eq!(Checksum::from_hex("xyz"), None);
    }

    #[test]
    fn statement_checksums_separate_their_parts() {
        assert_ne!(Checksum::of_statements(["ab", "c"]), Checksum::of_statements(["a", "bc"]));
    }
}
