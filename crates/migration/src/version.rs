//! Migration versions, compared numerically part by part.

use std::cmp::Ordering;
use std::fmt;

/// A migration version such as `20240101120000`, `1.2.10` or `0003`.
///
/// Versions compare numerically, part by part (`1.10` > `1.9`), and a missing part counts as
/// zero, so `1.0` and `1` are the same version, as in Flyway.
///
/// diesel compares its versions as text instead (`20140924113530` before `2019-03-22-170700`
/// with the dashes removed, although it is the larger number): such versions are made with
/// [`Version::parse_lexical`], and a comparison involving one compares the digit texts.
#[derive(Debug, Clone)]
pub struct Version {
    // Invariant: the text as the migration names it, with Flyway's `_` separators read as `.`.
    text: String,
    // Invariant: non-empty; each part is ASCII digits with leading zeros stripped ("0" for zero).
    parts: Vec<String>,
    // Compare `text` as a string, as diesel does.
    lexical: bool,
}

impl Version {
    /// Parses `[0-9]+([._][0-9]+)*`; returns `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let normalized = text.replace('_', ".");
        let mut parts = Vec::new();
        for part in normalized.split('.') {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let stripped = part.trim_start_matches('0');
            parts.push(if stripped.is_empty() { "0".to_string() } else { stripped.to_string() });
        }
        Some(Version { text: normalized, parts, lexical: false })
    }

    /// Parses a version of digits only that compares as text, as diesel's do.
    pub fn parse_lexical(digits: &str) -> Option<Version> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut version = Version::parse(digits)?;
        version.lexical = true;
        Some(version)
    }

    /// Parses a whole name `<digits>_<rest>` as a version compared as text, as Prisma's folder
    /// names are: Prisma orders its migrations by folder name, and two may share a timestamp
    /// (`20240304123642_traces_view`, `20240304123642_traces_view_improvement`).
    pub fn parse_named(text: &str) -> Option<Version> {
        let (digits, rest) = text.split_once('_')?;
        if rest.is_empty() {
            return None;
        }
        let mut version = Version::parse_lexical(digits)?;
        version.text = text.to_string();
        Some(version)
    }

    /// The version as written (Flyway's `_` shown as `.`).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.lexical || other.lexical {
            return self.text.cmp(&other.text);
        }
        let n_parts = self.parts.len().max(other.parts.len());
        for idx in 0..n_parts {
            let a = self.parts.get(idx).map_or("0", String::as_str);
            let b = other.parts.get(idx).map_or("0", String::as_str);
            // Leading zeros are stripped, so a longer part is a larger number.
            let ord = a.len().cmp(&b.len()).then_with(|| a.cmp(b));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn numeric_part_by_part_ordering() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("2") > v("1.999"));
        assert!(v("1_2") == v("1.2"));
        assert!(v("1.0") == v("1"));
        assert!(v("0003") == v("3"));
        assert!(v("20240101120000") > v("20231231235959"));
        // Larger than u64: still compared exactly.
        assert!(v("123456789012345678901234567890") > v("123456789012345678901234567889"));
        assert_eq!(v("1_2_3").as_str(), "1.2.3");
    }

    #[test]
    fn lexical_versions_compare_as_text() {
        let lexical = |text: &str| Version::parse_lexical(text).unwrap();
        assert!(lexical("20140924113530") < lexical("20190322170700"));
        assert!(lexical("20231222040137") < lexical("202603082026300000"));
        assert!(lexical("00000000000000") < lexical("20140924113530"));
        assert!(lexical("20140924113530") == v("20140924113530"), "history versions match files");
        assert!(Version::parse_lexical("2019-03").is_none());
    }

    #[test]
    fn rejects_non_versions() {
        for text in ["", "a1", "1..2", "1.", ".1", "1-2", "v1"] {
            assert!(Version::parse(text).is_none(), "{text}");
        }
    }
}
