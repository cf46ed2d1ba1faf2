//! Operation `add_unique`: its reference page, printed by `cutover explain add_unique`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Adds a UNIQUE constraint without blocking writes: its unique index is built concurrently at `start`, and made the constraint at `complete`.

The index enforces uniqueness for both versions from the end of its build; a duplicate already in the table fails the build, and `start` with it (remove it and run `start` again, or `cutover rollback`).

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `name` | string | required | The constraint's name, and its index's (at most 63 bytes). |
| `columns` | array of strings | required | Its columns. |

## Phases
- **start**: `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS`, outside a transaction: `SHARE UPDATE EXCLUSIVE` on the table (reads and writes go on; the build waits for the transactions already running). An INVALID index left by a killed build is dropped and built again.
- **complete**: `ADD CONSTRAINT ... UNIQUE USING INDEX`: `ACCESS EXCLUSIVE` on the table, briefly (the index is already built).
- **rollback**: after the rollback transaction, `DROP INDEX CONCURRENTLY IF EXISTS`: `SHARE UPDATE EXCLUSIVE` on the table.
- **SQLite**: `CREATE UNIQUE INDEX` (a unique index, which SQLite enforces as a constraint).

## Example
```toml
[[operations]]
op = "add_unique"
table = "users"
name = "users_email_key"
columns = ["email"]
```"##;
