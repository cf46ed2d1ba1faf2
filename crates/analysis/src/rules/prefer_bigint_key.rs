//! Rule `prefer-bigint-key`: its documentation is `DOC`, printed by `cutover explain prefer-bigint-key`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "prefer-bigint-key";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A primary key of type `integer` or `smallint` in a new table.\n\
\n\
## Why is this bad?\n\
A 32-bit key runs out at 2.1 billion; changing the type of a primary key later rewrites the table and every table that references it.\n\
\n\
## Instead\n\
`bigint` (ideally `bigint GENERATED ALWAYS AS IDENTITY`).\n\
\n\
```sql\n\
CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE t (id serial PRIMARY KEY);\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    let Action::CreateTable { columns, primary_key, .. } = &effect.action else { return Vec::new() };
    columns
        .iter()
        .filter(|c| primary_key.contains(&c.name) && matches!(c.type_name.as_str(), "int4" | "int2" | "serial" | "smallserial" | "serial4" | "serial2"))
        .map(|c| {
            Finding::new(
                RULE,
                format!("primary key `{}` is a 32-bit integer: it runs out at 2.1 billion, and widening it later rewrites the table", c.name),
                "use bigint (bigint GENERATED ALWAYS AS IDENTITY)",
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
        let rendered = lint_errors(r"CREATE TABLE t (id serial PRIMARY KEY)", RULE);
        assert!(rendered.contains("prefer-bigint-key"), "{rendered}");
    }
    #[test]
    fn fires_1() {
        let rendered = lint_errors(r"CREATE TABLE t (id int, PRIMARY KEY (id))", RULE);
        assert!(rendered.contains("prefer-bigint-key"), "{rendered}");
    }
    #[test]
    fn does_not_fire_2() {
        lint_ok(r"CREATE TABLE t (id bigint PRIMARY KEY)", RULE);
    }
}
