//! Operation `set_not_null`: its reference page, printed by `cutover explain set_not_null`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Makes a column NOT NULL without a scan under an exclusive lock: a CHECK (`column IS NOT NULL`) added NOT VALID and validated at `start`, made a real NOT NULL at `complete`.

From `start` on, a NULL written by either version is refused, unless `up` fills it in. Without `up`, a NULL left in the table fails the validation, and `start` with it: fill the rows, then run `start` again, or `cutover rollback`.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `column` | string | required | The column (refused when it is NOT NULL already). |
| `up` | string (SQL expression) | optional | The value for rows where the column is NULL, from the row's columns named as in an `UPDATE`: backfilled into the existing rows where it is NULL, and set by a trigger on every row either version inserts with it NULL or updates to NULL. |

## Phases
- **start**: with `up`, in the first transaction, the trigger: a function, `DROP TRIGGER IF EXISTS`, and a `BEFORE INSERT` and a `BEFORE UPDATE ... WHEN` trigger (`ACCESS EXCLUSIVE` and `SHARE ROW EXCLUSIVE` on the table, briefly), then the backfill of the rows where the column is NULL, in keyset batches (`ROW EXCLUSIVE` on one batch's rows at a time). After the backfills, the CHECK `_cutover_nn_<column>` added NOT VALID (`ACCESS EXCLUSIVE`, briefly), then validated in a transaction of its own (`SHARE UPDATE EXCLUSIVE`: a scan, reads and writes go on).
- **complete**: the trigger and its function dropped, `SET NOT NULL` (no scan: the validated CHECK proves it, PostgreSQL 12 and later) and the CHECK dropped: `ACCESS EXCLUSIVE` on the table, briefly.
- **rollback**: the trigger and its function dropped, the CHECK dropped: `ACCESS EXCLUSIVE` on the table, briefly. The values `up` filled in stay.
- **SQLite**: the table rebuilt with the column NOT NULL, NULLs replaced by `up` as the rows are copied.

## Example
```toml
[[operations]]
op = "set_not_null"
table = "users"
column = "country"
up = "'unknown'"
```"##;
