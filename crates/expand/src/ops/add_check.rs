//! Operation `add_check`: its reference page, printed by `cutover explain add_check`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Adds a CHECK constraint without a scan under an exclusive lock: added NOT VALID, then validated, both at `start`.

From `start` on, writes by either version must satisfy it; a row already in the table that does not fails the validation, and `start` with it (fix the row and run `start` again, or `cutover rollback`). It is added in the first transaction, before the backfills of the migration's other operations: a condition on a column another operation fills would refuse the old version's updates of rows not yet backfilled; add it in the next migration.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `name` | string | required | The constraint's name (at most 63 bytes). |
| `check` | string (SQL expression) | required | The condition, over the row's columns: `total >= 0`. |

## Phases
- **start**: `ADD CONSTRAINT ... CHECK (...) NOT VALID` in the first transaction (`ACCESS EXCLUSIVE` on the table, briefly: existing rows are not read), then `VALIDATE CONSTRAINT` in a transaction of its own (`SHARE UPDATE EXCLUSIVE`: a scan, reads and writes go on).
- **complete**: nothing.
- **rollback**: the constraint dropped: `ACCESS EXCLUSIVE` on the table, briefly.
- **SQLite**: the table rebuilt with the constraint; a row that does not satisfy it fails the migration, and nothing is applied.

## Example
```toml
[[operations]]
op = "add_check"
table = "orders"
name = "orders_total_not_negative"
check = "total >= 0"
```"##;
