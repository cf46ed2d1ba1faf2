//! Rule `prefer-jsonb`: its documentation is `DOC`, printed by `cutover explain prefer-jsonb`.

use crate::rules::{column_findings, Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "prefer-jsonb";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A `json` column in a new table.\n\
\n\
## Why is this bad?\n\
`json` keeps the text as written and re-parses it on every access; it cannot be indexed with GIN, nor compared.\n\
\n\
## Instead\n\
`jsonb`.\n\
\n\
```sql\n\
CREATE TABLE t (doc jsonb);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE t (doc json);\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    column_findings(effect, |column| {
        (column.type_name == "json").then(|| {
            Finding::new(
                RULE,
                format!("`{}` is json: re-parsed on every access, and not indexable", column.name),
                "use jsonb",
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
        let rendered = lint_errors(r"CREATE TABLE t (doc json)", RULE);
        assert!(rendered.contains("prefer-jsonb"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"CREATE TABLE t (doc jsonb)", RULE);
    }
}
