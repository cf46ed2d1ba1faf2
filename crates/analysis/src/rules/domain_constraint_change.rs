//! Rule `domain-constraint-change`: its documentation is `DOC`, printed by `cutover explain domain-constraint-change`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "domain-constraint-change";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER DOMAIN ... ADD CONSTRAINT` without `NOT VALID`, or `ALTER DOMAIN ... SET NOT NULL`.\n\
\n\
## Why is this bad?\n\
PostgreSQL checks every value of every column of the domain, in every table that uses it, while holding locks on those tables: a scan of tables the statement does not name.\n\
\n\
## Instead\n\
Add the constraint `NOT VALID` (new values are checked at once), then `ALTER DOMAIN ... VALIDATE CONSTRAINT` later, which does not block writes. For NOT NULL, use a `CHECK (VALUE IS NOT NULL) NOT VALID` constraint.\n\
\n\
```sql\n\
ALTER DOMAIN email ADD CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%') NOT VALID;\n\
-- next migration\n\
ALTER DOMAIN email VALIDATE CONSTRAINT email_has_at;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER DOMAIN email ADD CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');\n\
```";

pub(crate) fn check(effect: &Effect, _ctx: &Context) -> Vec<Finding> {
    let Action::ConstrainDomain { name, command, not_valid: false } = &effect.action else { return Vec::new() };
    vec![Finding::new(
        RULE,
        format!("{command} on domain `{name}` checks every column of that type in every table, under lock"),
        "add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_validated_domain_constraints() {
        assert!(lint_errors("ALTER DOMAIN email ADD CONSTRAINT c CHECK (VALUE LIKE '%@%')", RULE)
            .contains("domain `email`"));
        assert!(lint_errors("ALTER DOMAIN email SET NOT NULL", RULE).contains("SET NOT NULL"));
    }

    #[test]
    fn does_not_fire_when_not_valid() {
        lint_ok("ALTER DOMAIN email ADD CONSTRAINT c CHECK (VALUE LIKE '%@%') NOT VALID", RULE);
        lint_ok("ALTER DOMAIN email DROP NOT NULL", RULE);
    }
}
