//! Rule `fk-locks-referenced-table`: its documentation is `DOC`, printed by `cutover explain fk-locks-referenced-table`.

use crate::rules::{alter_cost_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "fk-locks-referenced-table";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Adding a validated foreign key to an existing table that references another existing table.\n\
\n\
## Why is this bad?\n\
The referenced table is locked SHARE ROW EXCLUSIVE (its inserts, updates and deletes wait) for as long as PostgreSQL scans the referencing table to validate the key: the lock reaches a table the migration does not even alter.\n\
\n\
## Instead\n\
Add the foreign key `NOT VALID` (both locks are brief), then `VALIDATE CONSTRAINT` in a later migration: validation takes only SHARE UPDATE EXCLUSIVE on the table and ROW SHARE on the referenced one, so writes go on.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_id ON orders (user_id);\n\
-- next migration\n\
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n\
-- next migration\n\
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_cost_findings(effect, ctx, |table, command| {
        let referenced = match command {
            AlterCommand::AddConstraint { references: Some(referenced), not_valid: false, .. } => referenced,
            AlterCommand::AddColumn { references: Some(fk), .. } => &fk.referenced_table,
            _ => return None,
        };
        if ctx.is_new(referenced) || referenced == table {
            return None;
        }
        Some(
            Finding::new(
                RULE,
                format!("writes to `{referenced}` wait while the foreign key scans all of `{table}` to validate it"),
                "add the foreign key NOT VALID, then VALIDATE CONSTRAINT in a later migration",
            )
            .on(referenced, LockMode::ShareRowExclusive),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_a_validated_foreign_key() {
        let found =
            lint_errors("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (user_id) REFERENCES users (id)", RULE);
        assert!(found.contains("writes to `users` wait"), "{found}");
    }

    #[test]
    fn does_not_fire_when_not_valid_or_new() {
        lint_ok("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID", RULE);
        lint_ok("CREATE TABLE users (id int PRIMARY KEY);\nALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (user_id) REFERENCES users (id);", RULE);
        lint_ok(
            "CREATE TABLE t (id int);\nALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (id) REFERENCES users (id);",
            RULE,
        );
    }
}
