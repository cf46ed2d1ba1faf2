//! Rule `identifier-too-long`: its documentation is `DOC`, printed by `cutover explain identifier-too-long`.

use crate::rules::{Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "identifier-too-long";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A table, column or constraint name longer than 63 bytes in a new table.\n\
\n\
## Why is this bad?\n\
PostgreSQL truncates identifiers to 63 bytes without an error: two long names can end up the same, and code that uses the full name does not find the object.\n\
\n\
## Instead\n\
A name of at most 63 bytes.\n\
\n\
```sql\n\
CREATE TABLE t (a_column_name_that_says_enough int);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE t (a_column_name_that_goes_on_and_on_for_much_longer_than_postgres_allows int);\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    effect
        .long_identifiers
        .iter()
        .map(|name| {
            Finding::new(
                RULE,
                format!("`{name}` is {} bytes: PostgreSQL silently truncates it to 63", name.len()),
                "shorten it to at most 63 bytes",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(
            r"CREATE TABLE t (a_column_name_that_goes_on_and_on_for_much_longer_than_postgres_allows int)",
            RULE,
        );
        assert!(rendered.contains("identifier-too-long"), "{rendered}");
    }
    #[test]
    fn string_literals_are_not_identifiers() {
        lint_ok(
            r"INSERT INTO t VALUES ('a value that goes on and on for much longer than sixty-three bytes, and then some more')",
            RULE,
        );
    }

    #[test]
    fn does_not_fire_1() {
        lint_ok(r"CREATE TABLE t (a int)", RULE);
    }
}
