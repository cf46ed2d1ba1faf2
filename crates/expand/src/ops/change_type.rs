//! Operation `change_type`: its reference page, printed by `cutover explain change_type`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Changes a column's type without rewriting the table under a lock: a shadow column of the new type, kept in step both ways and backfilled, takes the column's place at `complete`.

The shadow is `_cutover_<column>`; the new version's view shows it under the column's name. Indexes on the column are built again on the shadow and take the old ones' names at `complete`. Refused (change it with a reviewed SQL migration) when a constraint or a sequence (serial, identity) depends on the column, when an index on it has INCLUDE columns or an operator class of its own, or when the table has an index on an expression or with a predicate: the shadow cannot take those over yet. Refused too, naming them, when a view of the user's reads the column (the old column is dropped at `complete`, which PostgreSQL refuses while a view reads it): drop the view in a SQL migration first.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `column` | string | required | The column. |
| `type` | string | required | The new SQL type: `numeric(12,2)`, `bigint`, `jsonb`. |
| `up` | string (SQL expression) | required | The old value in the new type, from the row's columns named as in an `UPDATE` (`amount::numeric(12,2)`): the backfill, every write by the old version, and an update of another column it names. |
| `down` | string (SQL expression) | required | The new value in the old type, for every write by the new version; here the column's name means its new value (`amount::text`). |

## Phases
- **start**: in the first transaction, the shadow added (`ADD COLUMN`, no default) and the dual-write trigger: a function, `DROP TRIGGER IF EXISTS`, and a `BEFORE INSERT` and a `BEFORE UPDATE ... WHEN` trigger. A write that changes the column sets the shadow through `up`; one that changes the shadow (the new version, through its view) sets the column through `down`; a write of either version that fails its conversion (a value the new type cannot hold) fails. For a column with a default, the shadow gets a default that notes, for the row being inserted, that it was not given, so that an insert of the new version that writes NULL keeps NULL rather than the old column's default. `ACCESS EXCLUSIVE` and `SHARE ROW EXCLUSIVE` on the table, briefly (catalog only). Then each index on the column is built again on the shadow, `CREATE INDEX CONCURRENTLY`, each on its own (`SHARE UPDATE EXCLUSIVE`: reads and writes go on), and the shadow is backfilled through `up` in keyset batches (`ROW EXCLUSIVE` on one batch's rows at a time). For a NOT NULL column, after the backfills, a CHECK on the shadow is added NOT VALID (`ACCESS EXCLUSIVE`, briefly) and validated in a transaction of its own (`SHARE UPDATE EXCLUSIVE`: a scan, reads and writes go on).
- **complete**: the trigger and its function dropped, the old column dropped, the shadow renamed to the column's name, NOT NULL set from the validated CHECK (no scan) and the CHECK dropped, the old default set again (cast to the new type), and the rebuilt indexes renamed to the old ones' names: `ACCESS EXCLUSIVE` on the table, briefly (catalog only).
- **rollback**: the trigger and its function dropped, the shadow dropped with its indexes: `ACCESS EXCLUSIVE` on the table, briefly.
- **SQLite**: the table rebuilt with the new type, each row's value converted by `up` as the rows are copied; `down` is not used.

## Example
```toml
[[operations]]
op = "change_type"
table = "users"
column = "amount"
type = "numeric(12,2)"
up = "amount::numeric(12,2)"   # old value -> new column
down = "amount::text"          # new value -> old column
```"##;
