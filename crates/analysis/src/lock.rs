//! PostgreSQL's table-level lock modes, and what each one blocks.

use std::fmt;

/// A table-level lock mode, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    /// `SELECT`.
    AccessShare,
    /// `SELECT ... FOR UPDATE/SHARE`.
    RowShare,
    /// `INSERT`, `UPDATE`, `DELETE`.
    RowExclusive,
    /// `VACUUM`, `CREATE INDEX CONCURRENTLY`, `VALIDATE CONSTRAINT`, `ANALYZE`.
    ShareUpdateExclusive,
    /// `CREATE INDEX` (without `CONCURRENTLY`).
    Share,
    /// `CREATE TRIGGER`, some `ALTER TABLE` forms such as adding a foreign key.
    ShareRowExclusive,
    /// `REFRESH MATERIALIZED VIEW CONCURRENTLY`.
    Exclusive,
    /// Most `ALTER TABLE` forms, `DROP`, `TRUNCATE`, `VACUUM FULL`, `CLUSTER`.
    AccessExclusive,
}

impl LockMode {
    /// Every mode, weakest first.
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];

    /// The name PostgreSQL uses.
    pub fn name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// The name with its article, for prose: "an ACCESS EXCLUSIVE", "a SHARE".
    pub fn with_article(self) -> String {
        let article = if self.name().starts_with(['A', 'E']) { "an" } else { "a" };
        format!("{article} {}", self.name())
    }

    /// Whether plain `SELECT`s wait while this lock is held (or queued).
    pub fn blocks_reads(self) -> bool {
        self == LockMode::AccessExclusive
    }

    /// Whether `INSERT`/`UPDATE`/`DELETE` wait while this lock is held (or queued).
    pub fn blocks_writes(self) -> bool {
        self >= LockMode::Share
    }

    /// The mode from its name in `pg_locks` (`AccessExclusiveLock`).
    pub fn from_pg_locks(name: &str) -> Option<LockMode> {
        Some(match name {
            "AccessShareLock" => LockMode::AccessShare,
            "RowShareLock" => LockMode::RowShare,
            "RowExclusiveLock" => LockMode::RowExclusive,
            "ShareUpdateExclusiveLock" => LockMode::ShareUpdateExclusive,
            "ShareLock" => LockMode::Share,
            "ShareRowExclusiveLock" => LockMode::ShareRowExclusive,
            "ExclusiveLock" => LockMode::Exclusive,
            "AccessExclusiveLock" => LockMode::AccessExclusive,
            _ => return None,
        })
    }

    /// The name in `pg_locks` (`AccessExclusiveLock`).
    pub fn pg_locks_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "AccessShareLock",
            LockMode::RowShare => "RowShareLock",
            LockMode::RowExclusive => "RowExclusiveLock",
            LockMode::ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            LockMode::Share => "ShareLock",
            LockMode::ShareRowExclusive => "ShareRowExclusiveLock",
            LockMode::Exclusive => "ExclusiveLock",
            LockMode::AccessExclusive => "AccessExclusiveLock",
        }
    }

    /// Whether a request for this mode waits while `other` is held (or queued ahead of it):
    /// PostgreSQL's table of conflicting lock modes, which is symmetric.
    pub fn conflicts_with(self, other: LockMode) -> bool {
        use LockMode::*;
        let stronger = |a: LockMode, b: LockMode| match a {
            AccessShare => b == AccessExclusive,
            RowShare => b >= Exclusive,
            RowExclusive => b >= Share,
            ShareUpdateExclusive => b >= ShareUpdateExclusive,
            Share => b == RowExclusive || b == ShareUpdateExclusive || b >= ShareRowExclusive,
            ShareRowExclusive => b >= RowExclusive,
            Exclusive => b >= RowShare,
            AccessExclusive => true,
        };
        stronger(self, other)
    }

    /// What it blocks, for messages.
    pub fn blocks(self) -> &'static str {
        match (self.blocks_reads(), self.blocks_writes()) {
            (true, _) => "blocks reads and writes",
            (false, true) => "blocks writes",
            (false, false) => "blocks neither reads nor writes",
        }
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_mode_blocks() {
        assert!(LockMode::AccessExclusive.blocks_reads());
        assert!(!LockMode::Share.blocks_reads() && LockMode::Share.blocks_writes());
        assert!(!LockMode::ShareUpdateExclusive.blocks_writes());
        assert_eq!(LockMode::ShareRowExclusive.blocks(), "blocks writes");
    }

    #[test]
    fn the_conflict_table_is_postgresqls() {
        // The rows of "Conflicting Lock Modes" in PostgreSQL's documentation, as X marks.
        let table = [
            "       X", // ACCESS SHARE
            "      XX", // ROW SHARE
            "    XXXX", // ROW EXCLUSIVE
            "   XXXXX", // SHARE UPDATE EXCLUSIVE
            "  XX XXX", // SHARE
            "  XXXXXX", // SHARE ROW EXCLUSIVE
            " XXXXXXX", // EXCLUSIVE
            "XXXXXXXX", // ACCESS EXCLUSIVE
        ];
        for (row, marks) in LockMode::ALL.iter().zip(table) {
            for (column, mark) in LockMode::ALL.iter().zip(marks.chars()) {
                assert_eq!(row.conflicts_with(*column), mark == 'X', "{row} against {column}");
            }
        }
        for mode in LockMode::ALL {
            assert_eq!(LockMode::from_pg_locks(mode.pg_locks_name()), Some(mode));
        }
    }
}
