//! Operation `add_column`: its reference page, printed by `cutover explain add_column`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Adds a column; the new version sees it from `start`, and rows the old version writes get a value through `default` or `up`.

With `nullable = false`, NOT NULL is first a CHECK, added and validated after the backfills (a NOT VALID CHECK holds for every row written, so earlier it would refuse updates of rows not yet filled), and becomes a real NOT NULL at `complete`, without a scan under an exclusive lock.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `column` | string | required | The new column's name (at most 63 bytes; not a column the table has). |
| `type` | string | required | Its SQL type, as `ADD COLUMN` takes it: `text`, `numeric(12,2)`, `timestamptz`. |
| `nullable` | boolean | default `true` | `false`: NOT NULL, which needs `default` or `up` (existing rows, and the old version's inserts, need a value). |
| `default` | string (SQL expression) | optional | The column's default. Without `up`: a constant (number, string, `true`, `false`, `NULL`, with or without a cast) is stored once in the catalog; any other expression (`now()`) is set as the default and backfilled into the existing rows. With `up`: the new version's inserts that leave the column out get it (from the new version's view), the rows `up` gives NULL for get it, and the table gets it at `complete`. |
| `up` | string (SQL expression) | optional | The value from the row's other columns, named as in an `UPDATE` (`split_part(email, '@', 2)`): backfilled into the existing rows, set by a trigger on every row the old version inserts (it never names the column), and again when an update changes a column `up` names but not this one. Not for the new version's inserts: one that leaves the column out gets the `default`, or NULL (refused when `nullable = false`), as it will after `complete`. |

## Phases
- **start**: in the first transaction, `ADD COLUMN` (without `up`: with its default when that is a constant, otherwise the column bare, then `SET DEFAULT`; with `up`: bare, then a default that notes, for the row being inserted, that the insert did not give the column (so that the old version's inserts are filled by `up` and a NULL the new version writes is kept); the default set on the new version's view, and on the table at `complete`) and, with `up`, the dual-write trigger: a function, `DROP TRIGGER IF EXISTS` and a `BEFORE INSERT` and a `BEFORE UPDATE ... WHEN` trigger; `ACCESS EXCLUSIVE` and `SHARE ROW EXCLUSIVE` on the table, briefly (catalog only, no rewrite). Then the backfill of `up` (or of a default that is not a constant), in keyset batches: `ROW EXCLUSIVE` on one batch's rows at a time. With `nullable = false`, after the backfills: a CHECK (`column IS NOT NULL`) named `_cutover_nn_<column>` added NOT VALID (`ACCESS EXCLUSIVE`, briefly), then validated in a transaction of its own (`SHARE UPDATE EXCLUSIVE`: a scan, reads and writes go on). The new version's view shows the column last.
- **complete**: the trigger and its function dropped; with `up` and `default`, `SET DEFAULT` on the table; with `nullable = false`, `SET NOT NULL` (no scan: the validated CHECK proves it, PostgreSQL 12 and later) and the CHECK dropped. `ACCESS EXCLUSIVE` on the table, briefly.
- **rollback**: the trigger and its function dropped, the CHECK and the column dropped (its values are gone): `ACCESS EXCLUSIVE` on the table, briefly.
- **SQLite**: `ALTER TABLE ... ADD COLUMN` (NOT NULL at once when there is a `default` and no `up`; SQLite refuses a default that is not a constant there), then with `up` an `UPDATE` of every row, and with `nullable = false` and `up` the table rebuilt with the column NOT NULL.

## Example
```toml
[[operations]]
op = "add_column"
table = "users"
column = "email_domain"
type = "text"
nullable = false
default = "'unknown'"
up = "split_part(email, '@', 2)"
```"##;
