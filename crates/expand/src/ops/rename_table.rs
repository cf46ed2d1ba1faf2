//! Operation `rename_table`: its reference page, printed by `cutover explain rename_table`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Renames a table: the new version sees it under its new name from `start`, through its view; the table itself is renamed at `complete`.

Both versions read and write the same table throughout. Later operations of the same migration still name it `from`.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `from` | string | required | The table's current name. |
| `to` | string | required | Its new name (at most 63 bytes; not a table that exists). |

## Phases
- **start**: nothing touches the table: the new version's view of it is named `to`.
- **complete**: `ALTER TABLE ... RENAME TO` (skipped when already done): `ACCESS EXCLUSIVE` on the table, briefly.
- **rollback**: nothing touches the table.
- **SQLite**: `ALTER TABLE ... RENAME TO`, after the migration's other operations (which name the table as it was before, as on PostgreSQL).

## Example
```toml
[[operations]]
op = "rename_table"
from = "orders"
to = "purchases"
```"##;
