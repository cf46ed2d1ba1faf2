//! Operation `drop_index`: its reference page, printed by `cutover explain drop_index`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Drops an index concurrently at `complete`: the old version may need it until then.

The name is not checked when the migration is planned: one that names no index drops nothing. An index that backs a constraint (a primary key, UNIQUE) cannot be dropped on its own.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `name` | string | required | The index, in the schema of the migration's tables. |

## Phases
- **start**: nothing.
- **complete**: after the transaction that records the migration, `DROP INDEX CONCURRENTLY IF EXISTS`: `SHARE UPDATE EXCLUSIVE` on the table (it waits for the transactions that use the index).
- **rollback**: nothing: the index was never touched.
- **SQLite**: `DROP INDEX IF EXISTS`.

## Example
```toml
[[operations]]
op = "drop_index"
name = "orders_total_idx"
```"##;
