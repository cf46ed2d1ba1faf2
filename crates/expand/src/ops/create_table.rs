//! Operation `create_table`: its reference page, printed by `cutover explain create_table`.

/// What it does, its fields, its phases and an example.
pub(super) const DOC: &str = r##"## What it does
Creates a table at `start`; the new version sees it through its view, and it is a real table of the base schema from the start.

Columns have a name, a type, NOT NULL and a default, and the table a primary key; checks, foreign keys and indexes come from `add_check`, `add_foreign_key` and `create_index` in a later migration (the operations of one migration see the tables as they were before it).

## Fields
| field | type | required or default | meaning |
| --- | --- | --- | --- |
| `table` | string | required | The new table's name (at most 63 bytes; not a table that exists). |
| `columns` | array of tables | required | Its columns, in order, at least one. |
| `columns[].name` | string | required | The column's name. |
| `columns[].type` | string | required | Its SQL type. |
| `columns[].nullable` | boolean | default `true` | `false`: NOT NULL. |
| `columns[].default` | string (SQL expression) | optional | Its default. |
| `primary_key` | array of strings | default none | The primary key's columns. |

## Phases
- **start**: `CREATE TABLE IF NOT EXISTS` in the first transaction: a new table, so no lock that anyone waits for.
- **complete**: nothing: the table stays.
- **rollback**: `DROP TABLE IF EXISTS`, with every row written to it since `start`: `ACCESS EXCLUSIVE` on it, briefly.
- **SQLite**: `CREATE TABLE`.

## Example
```toml
[[operations]]
op = "create_table"
table = "payments"
primary_key = ["id"]

[[operations.columns]]
name = "id"
type = "bigint"
nullable = false

[[operations.columns]]
name = "amount"
type = "numeric(12,2)"
nullable = false
default = "0"
```"##;
