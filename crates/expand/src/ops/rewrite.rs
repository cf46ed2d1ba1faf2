//! Operation `rewrite`: its reference page, printed by `cutover explain rewrite`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Makes a change that must copy the table (`ALTER COLUMN id TYPE bigint` on a key that foreign keys point at, a compaction) without blocking it: `cutover rewrite` run by the migration. The table is copied into one of the new definition while the application writes to it, kept in step by a trigger, verified, and swapped in at `start`; the old table is kept in step the other way until `complete` drops it, so `rollback` swaps it back with every write made since.

Both versions see the change at once (there is one table), so it is for changes the old code can live with: a wider type, a new constraint or index, a new default, a compaction. Columns keep their names and number: adding, dropping or renaming a column in `alter` is refused (the `add_column`, `drop_column` and `rename_column` operations keep the old version working), and so is any other operation on the same table in the migration; `lint` says so, and refuses a `USING` in `alter` (give it in `using`) or an `alter` of another table. What only the live table tells (no primary key, partitioned, a change that drops a constraint a view or key needs; see `docs/rewrite.md`) is refused by `start` before anything of the rewrite is made; the migration is then recorded as starting: fix the cause and run `start` again (a file changed since is refused: `rollback` first), or `rollback`. A copy that meets a row the new definition refuses (a CHECK old rows break) drops the copy and its trigger at once, so that the application's writes are never refused by a rewrite that stopped. While the migration is active the rewrite is its own: `cutover rewrite --revert` or `--cleanup` by hand is refused, and `complete` refuses a rewrite that is not swapped in.

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The table, by its name before the migration. |
| `alter` | string (SQL) | none: a compaction (what `VACUUM FULL` does, online) | The change: `ALTER TABLE users ALTER COLUMN id TYPE bigint`, or its actions alone. |
| `using` | table of column = SQL expression | none | A column's value in the new table where the new type's cast of the old value will not do, from the row's columns named as in an `UPDATE`. A cast of the column (`amount::numeric(14,2)`) can be undone by `rollback`; anything else (`round(amount * 100)::bigint`) makes the rewrite one way, and `rollback` refuses it. |

## Phases
- **start**: after the backfills, the copy made: an empty table of the new definition (`CREATE TABLE ... (LIKE ... INCLUDING ALL)` plus the change; `ACCESS SHARE` on the table) with a trigger that keeps it in step (`SHARE ROW EXCLUSIVE` on the table, briefly), filled in keyset batches that read with `FOR SHARE` (`ROW SHARE`: row locks of one batch at a time, paced like a backfill), compared chunk by chunk, then swapped in by one short transaction under the lock timeout that renames the two tables, makes the views again and points other tables' foreign keys at the new one (`ACCESS EXCLUSIVE` on the table, retried when not granted, then the foreign keys validated). Resumes from its checkpoint when cut short.
- **complete**: after the contract, the old table and the trigger that kept it in step dropped (`ACCESS EXCLUSIVE`, briefly: the trigger's table, and the old table nothing uses).
- **rollback**: the old table compared with the swapped one, then swapped back in one short transaction (`ACCESS EXCLUSIVE` on the table), with every write made since; the rewritten copy dropped. Refused, saying why, when a swap back would lose something (a write the old table could not take, a change to the table since the swap, a `using` that changes values rather than casts them: such a rewrite is one way) or its locks are not granted: nothing is undone and the migration keeps its phase, so `complete` keeps the rewritten table.
- **SQLite**: refused: a SQLite database has one writer, so there is nothing to stay online for; write the change as `change_type` (or `sql`).

## Example
```toml
[[operations]]
op = "rewrite"
table = "users"
alter = "ALTER TABLE users ALTER COLUMN amount TYPE numeric(14,2)"
using = { amount = "amount::numeric(14,2)" }
```"##;
