//! Operation `drop_table`: its reference page, printed by `cutover explain drop_table`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Drops a table: hidden from the new version at `start`, dropped at `complete`; the old version reads and writes it until then. Refused, naming them, when a view of the user's reads the table (PostgreSQL would refuse the drop at `complete`): drop the view in a SQL migration first.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table. |

## Phases
- **start**: nothing touches the table: the new version's schema has no view of it.
- **complete**: `DROP TABLE IF EXISTS` (without CASCADE): `ACCESS EXCLUSIVE` on it, briefly; its rows are gone. A view of your own or another table's foreign key that depends on it makes `complete` fail.
- **rollback**: nothing: the table was never touched.
- **SQLite**: `DROP TABLE`, with its indexes and triggers.

## Example
```toml
[[operations]]
op = "drop_table"
table = "legacy_sessions"
```"##;
