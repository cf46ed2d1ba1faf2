//! Rule `prefer-text-over-varchar`: its documentation is `DOC`, printed by `cutover explain prefer-text-over-varchar`.

use crate::rules::{column_findings, Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "prefer-text-over-varchar";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A `varchar(n)` column in a new table.\n\
\n\
## Why is this bad?\n\
In PostgreSQL `varchar(n)` is no faster than `text`; the limit is a constraint, and raising it later is a schema change on a possibly large table.\n\
\n\
## Instead\n\
`text`, with a `CHECK (length(col) <= n)` where a limit is a business rule.\n\
\n\
```sql\n\
CREATE TABLE t (name text CHECK (length(name) <= 100));\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE t (name varchar(100));\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    column_findings(effect, |column| {
        (column.type_name == "varchar").then(|| {
            Finding::new(
                RULE,
                format!("`{}` is varchar(n): no faster than text, and the limit is hard to change later", column.name),
                "use text, with a CHECK (length(col) <= n) if the limit is a rule",
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"CREATE TABLE t (name varchar(100))", RULE);
        assert!(rendered.contains("prefer-text-over-varchar"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"CREATE TABLE t (name text)", RULE);
    }
}
