//! Rule `syntax-error`: its documentation is `DOC`, printed by `cutover explain syntax-error`.

pub(crate) const RULE: &str = "syntax-error";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement the dialect's grammar does not accept (PostgreSQL's own, libpg_query for PostgreSQL 18; sqlparser's for MySQL and SQLite), or an unterminated quote or comment.\n\
\n\
## Why is this bad?\n\
The database would refuse the statement, so the migration fails where it stands; under a runner without a transaction, half of it is applied.\n\
\n\
## Instead\n\
Fix the statement. The message is the parser's own (PostgreSQL's, for PostgreSQL); the location is the statement's first line.\n\
\n\
```sql\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE users ADD COLUMN;\n\
```";

// Reported by the linter itself (for statements that do not parse): this file holds its documentation and tests.

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_bad_sql() {
        assert!(lint_errors("ALTER TABLE users ADD COLUMN", RULE).contains("syntax error"));
    }

    #[test]
    fn does_not_fire_on_good_sql() {
        lint_ok("ALTER TABLE users ADD COLUMN bio text", RULE);
    }
}
