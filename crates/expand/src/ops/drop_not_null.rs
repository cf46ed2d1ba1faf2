//! Operation `drop_not_null`: its reference page, printed by `cutover explain drop_not_null`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Drops a column's NOT NULL at `start`, for both versions: the old version writes values anyway, and the new one may leave it NULL.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `column` | string | required | The column (refused when it is not NOT NULL). |

## Phases
- **start**: `ALTER COLUMN ... DROP NOT NULL` in the first transaction: `ACCESS EXCLUSIVE` on the table, briefly.
- **complete**: nothing.
- **rollback**: `SET NOT NULL` again: `ACCESS EXCLUSIVE` on the table for a scan of it, and refused when the new version wrote a NULL (set those rows, then roll back again).
- **SQLite**: the table rebuilt without the NOT NULL.

## Example
```toml
[[operations]]
op = "drop_not_null"
table = "users"
column = "phone"
```"##;
