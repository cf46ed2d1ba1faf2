//! Operation `set_default`: its reference page, printed by `cutover explain set_default`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Sets a column's default at `start`: from then on, inserts by either version that leave the column out get it. Existing rows keep their values.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `column` | string | required | The column. |
| `default` | string (SQL expression) | required | The default: `'pro'`, `0`, `now()`. |

## Phases
- **start**: `ALTER COLUMN ... SET DEFAULT` in the first transaction: `ACCESS EXCLUSIVE` on the table, briefly (catalog only).
- **complete**: nothing.
- **rollback**: the default the column had when `start` planned the migration set again, or dropped when it had none: `ACCESS EXCLUSIVE` on the table, briefly.
- **SQLite**: the table rebuilt with the new default (SQLite cannot change a default in place).

## Example
```toml
[[operations]]
op = "set_default"
table = "users"
column = "plan"
default = "'pro'"
```"##;
