//! Rule `prefer-timestamptz`: its documentation is `DOC`, printed by `cutover explain prefer-timestamptz`.

use crate::rules::{column_findings, Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "prefer-timestamptz";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A `timestamp` (without time zone) column in a new table.\n\
\n\
## Why is this bad?\n\
`timestamp` stores wall-clock time with no zone: values written from servers or sessions in different time zones cannot be compared.\n\
\n\
## Instead\n\
`timestamptz`, which stores an instant.\n\
\n\
```sql\n\
CREATE TABLE t (at timestamptz);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE t (at timestamp);\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    column_findings(effect, |column| {
        (column.type_name == "timestamp").then(|| {
            Finding::new(
                RULE,
                format!(
                    "`{}` is timestamp without time zone: instants written from different zones cannot be compared",
                    column.name
                ),
                "use timestamptz",
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
        let rendered = lint_errors(r"CREATE TABLE t (at timestamp)", RULE);
        assert!(rendered.contains("prefer-timestamptz"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"CREATE TABLE t (at timestamptz)", RULE);
    }
}
