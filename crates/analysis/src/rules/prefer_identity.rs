//! Rule `prefer-identity`: its documentation is `DOC`, printed by `cutover explain prefer-identity`.

use crate::rules::{column_findings, Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "prefer-identity";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A `serial`/`bigserial` column in a new table.\n\
\n\
## Why is this bad?\n\
`serial` is a sequence that the column merely defaults to: permissions, ownership and copies of the table treat them apart, and explicit inserts silently desynchronise it.\n\
\n\
## Instead\n\
`bigint GENERATED ALWAYS AS IDENTITY` (or `BY DEFAULT`).\n\
\n\
```sql\n\
CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE t (id bigserial);\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    column_findings(effect, |column| {
        matches!(column.type_name.as_str(), "serial" | "bigserial" | "smallserial" | "serial4" | "serial8" | "serial2")
            .then(|| {
                Finding::new(
                    RULE,
                    format!("`{}` is {}: a sequence beside the column, not part of it", column.name, column.type_name),
                    "use bigint GENERATED ALWAYS AS IDENTITY",
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
        let rendered = lint_errors(r"CREATE TABLE t (id bigserial)", RULE);
        assert!(rendered.contains("prefer-identity"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY)", RULE);
    }
}
