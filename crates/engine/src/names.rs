//! The state machines cutover keeps as text in its own tables (history states, backfill
//! checkpoints, expand/contract phases, approval kinds), each an enum.
//!
//! A name is written and read at the database boundary only (`name`, `parse`); everything else
//! matches on the enum, exhaustively. The names are what existing databases hold: a stored
//! name is never renamed.

use crate::{DbError, DbErrorKind};

/// A stored name that no variant has: a row written by hand, or by a cutover version that
/// knows more states than this one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (this cutover knows {})", known.join(", "))]
pub struct UnknownName {
    /// What the name is of (`backfill state`).
    pub what: &'static str,
    /// The value found.
    pub value: String,
    /// The names this version knows.
    pub known: &'static [&'static str],
}

impl UnknownName {
    /// The engine's error for a row of `table` that holds it.
    pub fn in_table(self, table: &str) -> DbError {
        DbError::new(
            DbErrorKind::Other,
            format!(
                "{table} holds an {self}: it was written by hand or by a newer cutover; set it back to one of those, or run the version that wrote it"
            ),
        )
    }
}

/// An enum whose variants are stored as the given names, with `ALL`, `name`, `parse`,
/// `quoted_list` (for CHECK constraints), `Display` (the name, padded as asked) and `FromStr`.
macro_rules! stored_names {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident ($what:literal) {
            $($(#[$variant_meta:meta])* $variant:ident = $name:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $enum {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $enum {
            /// Every variant, in order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant,)+];
            const NAMES: &'static [&'static str] = &[$($name,)+];

            /// The name stored in the database.
            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)+
                }
            }

            /// Reads a stored name; any other text is an error that names it.
            pub fn parse(name: &str) -> Result<$enum, $crate::names::UnknownName> {
                match name {
                    $($name => Ok($enum::$variant),)+
                    _ => Err($crate::names::UnknownName {
                        what: $what,
                        value: name.to_string(),
                        known: Self::NAMES,
                    }),
                }
            }

            /// Every name as an SQL list (`'a', 'b'`), for a CHECK constraint.
            pub fn quoted_list() -> String {
                Self::NAMES.iter().map(|name| format!("'{name}'")).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.name())
            }
        }

        impl std::str::FromStr for $enum {
            type Err = $crate::names::UnknownName;

            fn from_str(name: &str) -> Result<$enum, Self::Err> {
                $enum::parse(name)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{ApprovalKind, CheckpointState, Direction, ExpandPhase, RecordKind, State};

    /// Every name reads back as its variant, and the names are the ones existing databases
    /// hold (a rename here would strand their rows).
    #[test]
    fn stored_names_round_trip_and_stay_as_existing_databases_have_them() {
        fn check<T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr>(
            all: &[T],
            name: fn(T) -> &'static str,
            stored: &[&str],
        ) where
            T::Err: std::fmt::Debug,
        {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            assert_eq!(names, stored);
            for v in all {
                assert_eq!(name(*v).parse::<T>().unwrap(), *v);
                assert_eq!(v.to_string(), name(*v));
            }
        }
        check(State::ALL, State::name, &["running", "applied", "failed", "reverted", "baselined"]);
        check(Direction::ALL, Direction::name, &["up", "down"]);
        check(RecordKind::ALL, RecordKind::name, &["versioned", "repeatable", "baseline"]);
        check(
            ExpandPhase::ALL,
            ExpandPhase::name,
            &["starting", "started", "completing", "completed", "rolling_back", "rolled_back"],
        );
        check(CheckpointState::ALL, CheckpointState::name, &["running", "paused", "done", "failed"]);
        check(ApprovalKind::ALL, ApprovalKind::name, &["ignore", "allow-unsafe", "outside-window"]);
    }

    #[test]
    fn an_unknown_name_is_an_error_that_names_it_and_the_table() {
        let err = CheckpointState::parse("Done").unwrap_err();
        assert_eq!(err.to_string(), "unknown backfill state `Done` (this cutover knows running, paused, done, failed)");
        let err = ExpandPhase::parse("").unwrap_err().in_table("the expand state table `cutover_expand`");
        assert!(
            err.message.starts_with(
                "the expand state table `cutover_expand` holds an unknown expand/contract phase `` (this cutover knows starting,"
            ),
            "{}",
            err.message
        );
        assert_eq!(ApprovalKind::quoted_list(), "'ignore', 'allow-unsafe', 'outside-window'");
        assert_eq!(format!("{:<8}|", CheckpointState::Done), "done    |");
    }
}
