//! Rule `unused-ignore`: its documentation is `DOC`, printed by `cutover explain unused-ignore`.

pub(crate) const RULE: &str = "unused-ignore";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A `-- cutover:ignore RULE reason=...` comment that silences nothing: the rule does not fire on the statement after it (or anywhere in the file, for `ignore-file`).\n\
\n\
## Why is this bad?\n\
Stale ignores pile up and later hide a real finding that happens to land on the same statement.\n\
\n\
## Instead\n\
Remove the comment, or move it to the line before the statement it is for.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```\n\
\n\
## Example\n\
```sql\n\
-- cutover:ignore drop-table reason=\"archived\"\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```";

// Reported by `ignore.rs`, which reads the comments: this file holds its documentation and tests.

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_an_ignore_that_silences_nothing() {
        let sql = "-- cutover:ignore drop-table reason=\"archived\"\nALTER TABLE users ADD COLUMN bio text;";
        assert!(lint_errors(sql, RULE).contains("silences nothing"));
    }

    #[test]
    fn does_not_fire_on_a_used_ignore() {
        lint_ok("-- cutover:ignore drop-table reason=\"archived\"\nDROP TABLE users;", RULE);
    }
}
