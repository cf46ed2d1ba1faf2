//! Operation `create_index`: its reference page, printed by `cutover explain create_index`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Builds an index concurrently at `start`: reads and writes go on during the build.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `name` | string | required | The index's name (at most 63 bytes). |
| `columns` | array of strings | required | Its columns, by name (an index on an expression: `sql`). |
| `unique` | boolean | default `false` | A unique index. |
| `method` | string | optional (`btree`) | The access method: `btree`, `hash`, `gin`, `gist`, `brin`. |
| `where` | string (SQL expression) | optional | A partial index's condition. |

## Phases
- **start**: `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, outside a transaction: `SHARE UPDATE EXCLUSIVE` on the table (reads and writes go on; the build waits for the transactions already running). An INVALID index left by a killed build is dropped and built again.
- **complete**: nothing: the index stays.
- **rollback**: after the rollback transaction, `DROP INDEX CONCURRENTLY IF EXISTS`: `SHARE UPDATE EXCLUSIVE` on the table.
- **SQLite**: `CREATE INDEX`, with `UNIQUE` and `WHERE` as given; `method` is not used (SQLite's indexes are B-trees).

## Example
```toml
[[operations]]
op = "create_index"
table = "orders"
name = "orders_user_id_open"
columns = ["user_id"]
unique = false
method = "btree"
where = "total > 0"
```"##;
