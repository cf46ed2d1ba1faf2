//! Rule `fk-missing-index`: its documentation is `DOC`, printed by `cutover explain fk-missing-index`.

use crate::rules::{Context, Finding};

pub(crate) const RULE: &str = "fk-missing-index";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A foreign key whose columns no index of the referencing table starts with, once the migration is done (an index created later in the same migration counts). It fires only for tables whose indexes cutover knows from the linted migrations.\n\
\n\
## Why is this bad?\n\
Every `DELETE` or key `UPDATE` on the referenced table looks for referencing rows: without an index that is a sequential scan of the referencing table, per row, under locks; joins along the key scan too.\n\
\n\
## Instead\n\
Create an index on the foreign key's columns (`CREATE INDEX CONCURRENTLY` on an existing table), in the same change as the key.\n\
\n\
```sql\n\
CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n\
CREATE INDEX invoices_user_id ON invoices (user_id);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n\
```";

pub(crate) fn check_migration(ctx: &Context) -> Vec<(usize, Finding)> {
    ctx.foreign_keys_added
        .iter()
        .filter(|(_, table, fk)| ctx.schema.has_index_on(table, &fk.columns) == Some(false))
        .map(|(line, table, fk)| {
            let columns = fk.columns.join(", ");
            let finding = Finding::new(
                RULE,
                format!(
                    "no index of `{table}` starts with ({columns}): deletes from `{}` scan `{table}` for each row",
                    fk.referenced_table
                ),
                "create an index on the foreign key's columns (CONCURRENTLY on an existing table)",
            );
            (*line, finding)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_an_unindexed_foreign_key() {
        let found =
            lint_errors("CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));", RULE);
        assert!(found.contains("no index of `orders` starts with (user_id)"), "{found}");
    }

    #[test]
    fn does_not_fire_when_indexed_later_or_the_table_is_unknown() {
        lint_ok("CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\nCREATE INDEX orders_user ON orders (user_id, id);", RULE);
        lint_ok("CREATE TABLE m (a bigint REFERENCES x, b bigint REFERENCES y, PRIMARY KEY (a, b));\nCREATE INDEX m_b ON m (b);", RULE);
        lint_ok("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;", RULE);
    }
}
