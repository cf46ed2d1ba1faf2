//! Operation `sql`: its reference page, printed by `cutover explain sql`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Runs SQL of your own, for what no operation does, in the phase it names; `down` undoes it on rollback.

It runs inside a phase's transaction, so nothing that refuses a transaction block (`CREATE INDEX CONCURRENTLY`, `VACUUM`): use `create_index`, or an SQL migration. A `start` cut short runs its transaction again, so `up` must be safe to run twice (`IF NOT EXISTS`, `CREATE OR REPLACE`). It takes the locks its statements take; `cutover lint` lists them.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `up` | string (SQL) | required | What to run: one statement or several, separated by `;`. |
| `down` | string (SQL) | optional | What undoes `up` on rollback; only with `phase = "start"` (rollback never follows `complete`). |
| `phase` | string | default `start` | `start` or `complete`. |

## Phases
- **start**: with `phase = "start"`, `up` in the first transaction, in the file's order among the other operations' statements, before index builds, backfills and validations.
- **complete**: with `phase = "complete"`, `up` in the transaction that records the migration, after the triggers are dropped, in the file's order among the other operations' statements.
- **rollback**: `down`, in the rollback transaction, in the reverse order of the operations.
- **SQLite**: `up` when the migration is applied, in the file's order, whatever the phase; `down` is not used.

## Example
```toml
[[operations]]
op = "sql"
up = "CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE email IS NOT NULL"
down = "DROP VIEW IF EXISTS active_users"
phase = "start"
```"##;
