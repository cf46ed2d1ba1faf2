//! Rule `ignore-without-reason`: its documentation is `DOC`, printed by `cutover explain ignore-without-reason`.

pub(crate) const RULE: &str = "ignore-without-reason";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A `-- cutover:ignore RULE` comment with no `reason=\"...\"`.\n\
\n\
## Why is this bad?\n\
An ignore is a decision someone reviewed; without the reason, the next reader cannot tell whether it still holds. cutover does not honour it: the finding stays.\n\
\n\
## Instead\n\
Say why the statement is safe here: `-- cutover:ignore RULE reason=\"the table has 40 rows\"`.\n\
\n\
```sql\n\
-- cutover:ignore drop-table reason=\"the table has 40 rows, unused since release 42\"\n\
DROP TABLE legacy_sessions;\n\
```\n\
\n\
## Example\n\
```sql\n\
-- cutover:ignore drop-table\n\
DROP TABLE legacy_sessions;\n\
```";

// Reported by `ignore.rs`, which reads the comments: this file holds its documentation and tests.

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_an_ignore_without_a_reason() {
        assert!(lint_errors("-- cutover:ignore drop-table\nDROP TABLE users;", RULE).contains("gives no reason"));
    }

    #[test]
    fn does_not_fire_with_a_reason() {
        lint_ok("-- cutover:ignore drop-table reason=\"archived\"\nDROP TABLE users;", RULE);
    }
}
