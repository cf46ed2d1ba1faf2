//! Operation `add_foreign_key`: its reference page, printed by `cutover explain add_foreign_key`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Adds a foreign key without a scan under a lock that blocks writes: added NOT VALID, then validated, both at `start`.

From `start` on, writes by either version must satisfy it; a row already in the table with no match fails the validation, and `start` with it (fix the row and run `start` again, or `cutover rollback`).

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The referencing table, by its name before the migration. |
| `name` | string | required | The constraint's name (at most 63 bytes). |
| `columns` | array of strings | required | The referencing columns. |
| `references` | string | required | The referenced table. |
| `references_columns` | array of strings | required | The referenced columns, in the same order (a primary key or a unique constraint of `references`). |
| `on_delete` | string | optional (`no action`) | What deleting a referenced row does: `cascade`, `restrict`, `set null`, `set default` or `no action`. |

## Phases
- **start**: `ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID` in the first transaction: `SHARE ROW EXCLUSIVE` on both tables, briefly (existing rows are not read). Then `VALIDATE CONSTRAINT` in a transaction of its own: `SHARE UPDATE EXCLUSIVE` on the table and `ROW SHARE` on the referenced one, for a scan during which reads and writes go on.
- **complete**: nothing.
- **rollback**: the constraint dropped: `ACCESS EXCLUSIVE` on both tables, briefly.
- **SQLite**: the table rebuilt with the foreign key, then `PRAGMA foreign_key_check` before the commit: a row with no match fails the migration, and nothing is applied.

## Example
```toml
[[operations]]
op = "add_foreign_key"
table = "orders"
name = "orders_user_id_fkey"
columns = ["user_id"]
references = "users"
references_columns = ["id"]
on_delete = "cascade"
```"##;
