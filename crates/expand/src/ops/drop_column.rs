//! Operation `drop_column`: its reference page, printed by `cutover explain drop_column`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Removes a column: hidden from the new version at `start`, dropped at `complete`; the old version reads and writes it until then. Refused, naming them, when a view of the user's reads the column (PostgreSQL would refuse the drop at `complete`): drop the view in a SQL migration first.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `column` | string | required | The column. |
| `down` | string (SQL expression) | optional; required when the column is NOT NULL without a default | Its value in rows the new version inserts (which cannot name the column), set by a trigger when an insert leaves it NULL, so that the old version keeps finding a value. It may name the row's other columns. |

## Phases
- **start**: with `down`, in the first transaction, a trigger function, `DROP TRIGGER IF EXISTS` and a `BEFORE INSERT` trigger: `ACCESS EXCLUSIVE` and `SHARE ROW EXCLUSIVE` on the table, briefly. Without `down`, nothing touches the table. The new version's view leaves the column out.
- **complete**: the trigger and its function dropped, then `DROP COLUMN`: `ACCESS EXCLUSIVE` on the table, briefly (catalog only; the space is reclaimed as rows are rewritten later). Its indexes and constraints go with it; a view of your own or another table's foreign key that depends on it makes `complete` fail.
- **rollback**: the trigger and its function dropped (`ACCESS EXCLUSIVE` on the table, briefly); the column itself was never touched.
- **SQLite**: the table rebuilt without the column, and without the indexes that name it; `down` is not used.

## Example
```toml
[[operations]]
op = "drop_column"
table = "users"
column = "nickname"
down = "'anonymous'"
```"##;
