//! Operation `rename_column`: its reference page, printed by `cutover explain rename_column`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Renames a column: the new version sees it under its new name from `start`, through its view; the column itself is renamed at `complete`.

Both versions read and write the same column throughout, so nothing is copied and no trigger is needed.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `from` | string | required | The column's current name. |
| `to` | string | required | Its new name (at most 63 bytes; not a column the table has). |

## Phases
- **start**: nothing touches the table: the new version's view shows `from` as `to`.
- **complete**: `ALTER TABLE ... RENAME COLUMN` (skipped when already done): `ACCESS EXCLUSIVE` on the table, briefly.
- **rollback**: nothing touches the table; the new version's views are dropped.
- **SQLite**: `ALTER TABLE ... RENAME COLUMN`, after the migration's other operations (which name the column as it was before, as on PostgreSQL); SQLite renames it in the indexes, triggers, views and CHECKs that name it.

## Example
```toml
[[operations]]
op = "rename_column"
table = "users"
from = "name"
to = "full_name"
```"##;
