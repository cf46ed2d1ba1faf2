//! Operation `drop_default`: its reference page, printed by `cutover explain drop_default`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Drops a column's default at `start`: from then on, inserts by either version that leave the column out get NULL. Existing rows keep their values.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `column` | string | required | The column. |

## Phases
- **start**: `ALTER COLUMN ... DROP DEFAULT` in the first transaction: `ACCESS EXCLUSIVE` on the table, briefly (catalog only).
- **complete**: nothing.
- **rollback**: the default the column had when `start` planned the migration set again: `ACCESS EXCLUSIVE` on the table, briefly.
- **SQLite**: the table rebuilt without the default (SQLite cannot change a default in place).

## Example
```toml
[[operations]]
op = "drop_default"
table = "users"
column = "plan"
```"##;
