//! When a table is provably empty, so that scanning or rewriting it costs nothing and dropping
//! its columns loses no data.
//!
//! PostgreSQL refuses `ALTER TABLE t ADD COLUMN c ... NOT NULL` without a value for the existing
//! rows (no default, no identity, serial or stored generated expression) on a table that has
//! any: once such a statement succeeded, `t` had no row. Its ACCESS EXCLUSIVE lock, held until
//! the transaction ends, keeps other sessions from adding one, so `t` stays empty for the rest
//! of that transaction, until a statement of the migration itself may add rows. `TRUNCATE` in a
//! transaction proves the same. Outside a transaction the lock ends with the statement: the
//! proof holds within that statement only.

use crate::rules::Context;
use crate::schema::Schema;
use crate::{Action, AlterCommand, ColumnType, Effect};

/// PostgreSQL's built-in types (as its parser names them): a column of one added without a
/// default gets NULL. A domain's own default would fill the rows instead, and a type the
/// analysis does not know may be such a domain.
const BUILT_IN_TYPES: &[&str] = &[
    "bool",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "numeric",
    "money",
    "text",
    "varchar",
    "bpchar",
    "char",
    "name",
    "bytea",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "uuid",
    "json",
    "jsonb",
    "xml",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "bit",
    "varbit",
    "tsvector",
    "tsquery",
    "oid",
    "point",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
];

/// Whether a column of `column_type` added without a default holds NULL in the existing rows.
fn null_when_added(column_type: &ColumnType) -> bool {
    // An array of a domain has no default of its own.
    column_type.array || BUILT_IN_TYPES.contains(&column_type.name.as_str())
}

/// The table that an `ALTER TABLE` (PostgreSQL) proves empty when it succeeds: it adds a
/// NOT NULL column with no value for existing rows. `schema` is the schema before it, which
/// says whether an `ADD COLUMN IF NOT EXISTS` adds anything (a column already there is skipped,
/// rows or not).
pub(crate) fn proven_by(effect: &Effect, schema: &Schema) -> Option<String> {
    let Action::AlterTable { table, commands } = &effect.action else { return None };
    let column_absent =
        |column: &str| schema.table(table).is_some_and(|t| !t.columns.iter().any(|(name, _)| name == column));
    let proves = commands.iter().any(|command| match command {
        AlterCommand::AddColumn {
            column,
            column_type,
            not_null: true,
            default: None,
            filled_per_row: None,
            if_not_exists,
            ..
        } => null_when_added(column_type) && (!if_not_exists || column_absent(column)),
        _ => false,
    });
    proves.then(|| table.clone())
}

/// Whether a statement may add rows to some table (or run code that could): an `UPDATE` or
/// `DELETE` (its triggers), a `DO` block, a call, and any statement the model leaves as
/// `Other` that does not start as schema or session commands do (`INSERT`, `COPY`, `MERGE`,
/// `SELECT f()`, `WITH ...`).
pub(crate) fn may_write_rows(sql: &str, effect: &Effect) -> bool {
    match effect.action {
        Action::Other => {
            let first = cutover_migration::leading_keywords(sql, 1);
            !first.first().is_some_and(|word| SCHEMA_COMMANDS.contains(&word.as_str()))
        }
        // Schema changes: they add no row (`CREATE TABLE ... AS` fills only its new table).
        Action::CreateTable { .. }
        | Action::CreateTableAs { .. }
        | Action::CreateIndex { .. }
        | Action::DropIndex { .. }
        | Action::AlterTable { .. }
        | Action::DropTable { .. }
        | Action::Rename { .. }
        | Action::Truncate { .. }
        | Action::Reindex { .. }
        | Action::RewriteTable { .. }
        | Action::AddEnumValue { .. }
        | Action::RenameEnumValue { .. }
        | Action::CreateFunction { .. }
        | Action::DropFunction { .. }
        | Action::DropView { .. }
        | Action::CreateView { .. }
        | Action::RenameFunction { .. }
        | Action::CreateDomain { .. }
        | Action::ConstrainDomain { .. }
        | Action::RefreshMaterializedView { .. }
        | Action::TriggerDdl { .. }
        | Action::Transaction(_)
        | Action::Set { .. } => false,
        // `UPDATE`, `DELETE`, a `DO` block, and whatever kind of statement comes next: the
        // proof ends unless the statement is known to add no row.
        _ => true,
    }
}

/// Whether a statement that writes rows adds none to any other table: an `UPDATE` or `DELETE`
/// of one table whose triggers the model knows, and that has none (one the linted migrations
/// made, on no live schema: the catalog's triggers are not read). The tables proven empty stay
/// so (review 5's #15: an `UPDATE` of another table ended the proof that `Action` was empty).
pub(crate) fn adds_rows_to_no_other_table(sql: &str, effect: &Effect, ctx: &Context) -> bool {
    let Action::WriteRows { command: "UPDATE" | "DELETE", table } = &effect.action else { return false };
    // Not a `WITH` whose other parts may insert.
    let first = cutover_migration::leading_keywords(sql, 1);
    if !first.first().is_some_and(|word| word == "UPDATE" || word == "DELETE") {
        return false;
    }
    !ctx.live
        && ctx.schema.table(table).is_some()
        && !ctx.schema.has_triggers(table)
        && effect.rows.iter().filter(|access| access.write).all(|access| access.table == *table)
}

/// First words of statements that change the schema, privileges or the session, and add no row.
const SCHEMA_COMMANDS: &[&str] = &[
    "CREATE",
    "ALTER",
    "DROP",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "SET",
    "RESET",
    "SHOW",
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "LOCK",
    "ANALYZE",
    "ANALYSE",
    "VACUUM",
    "REINDEX",
    "CLUSTER",
    "REFRESH",
    "TRUNCATE",
    "SECURITY",
    "NOTIFY",
    "LISTEN",
    "UNLISTEN",
    "DISCARD",
    "CHECKPOINT",
    "IMPORT",
    "RENAME",
    "PRAGMA",
    "USE",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::analyze_statement;

    /// `line:rule` of each error-level finding in `sql`, one migration file on its own.
    fn errors(sql: &str, in_transaction: bool) -> Vec<String> {
        let statements = cutover_migration::split_statements(sql).unwrap();
        crate::lint_file(sql, &statements, in_transaction)
            .iter()
            .filter(|d| d.severity == crate::Severity::Error)
            .map(|d| format!("{}:{}", d.line, d.rule))
            .collect()
    }

    fn proven(sql: &str, schema: &Schema) -> Option<String> {
        proven_by(&analyze_statement(sql).unwrap(), schema)
    }

    #[test]
    fn a_not_null_column_without_a_value_proves_its_table_empty() {
        let none = Schema::default();
        assert_eq!(proven("ALTER TABLE t ADD COLUMN c int NOT NULL", &none).as_deref(), Some("t"));
        // Prisma's shape: the required column and its foreign key in one statement.
        assert_eq!(
            proven(r#"ALTER TABLE "Post" ADD COLUMN "authorId" TEXT NOT NULL, ADD COLUMN x int"#, &none).as_deref(),
            Some("Post")
        );
        assert_eq!(proven("ALTER TABLE t ADD COLUMN c uuid PRIMARY KEY", &none).as_deref(), Some("t"));
        assert_eq!(proven("ALTER TABLE t ADD COLUMN c int[] NOT NULL", &none).as_deref(), Some("t"));
        // A value for every row: a default, a sequence, an identity, a stored expression.
        for filled in [
            "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0",
            "ALTER TABLE t ADD COLUMN c serial NOT NULL",
            "ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS IDENTITY",
            "ALTER TABLE t ADD COLUMN c int NOT NULL GENERATED ALWAYS AS (id * 2) STORED",
            "ALTER TABLE t ADD COLUMN c int",
        ] {
            assert_eq!(proven(filled, &none), None, "{filled}");
        }
        // A domain (or any type the analysis does not know) may have a default of its own.
        assert_eq!(proven("ALTER TABLE t ADD COLUMN c email NOT NULL", &none), None);
    }

    #[test]
    fn if_not_exists_proves_only_a_column_known_to_be_absent() {
        let sql = "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int NOT NULL";
        assert_eq!(proven(sql, &Schema::default()), None, "an unknown table may have the column");
        let mut schema = Schema::default();
        schema.apply(&analyze_statement("CREATE TABLE t (id int)").unwrap());
        assert_eq!(proven(sql, &schema).as_deref(), Some("t"));
        schema.apply(&analyze_statement("ALTER TABLE t ADD COLUMN c int").unwrap());
        assert_eq!(proven(sql, &schema), None, "the column is there: nothing is added");
    }

    /// What the rules say of a real-world shape (a required column, then its key, a type
    /// change, a NOT NULL, an index and a unique key on the same table): after the first
    /// statement the table holds no row for the rest of the transaction, so only that
    /// statement is an error; run outside a transaction, rows may arrive between statements.
    #[test]
    fn scans_and_rewrites_of_a_proven_empty_table_are_harmless() {
        let sql = "ALTER TABLE orders ADD COLUMN region_id bigint NOT NULL;
ALTER TABLE orders ADD CONSTRAINT orders_region_fk FOREIGN KEY (region_id) REFERENCES regions (id);
ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);
ALTER TABLE orders ALTER COLUMN status SET NOT NULL;
CREATE INDEX orders_region ON orders (region_id);
ALTER TABLE orders ADD CONSTRAINT orders_ref_key UNIQUE (ref);
ALTER TABLE orders DROP COLUMN legacy_ref;";
        let errors = |in_transaction: bool| errors(sql, in_transaction);
        // The drop loses no data, but the release still running may name the column.
        assert_eq!(errors(true), ["1:add-column-required", "7:drop-column"]);
        assert_eq!(
            errors(false),
            [
                "1:add-column-required",
                "2:constraint-not-valid-missing",
                "3:column-type-rewrite",
                "4:set-not-null-scan",
                "5:index-create-blocking",
                "6:unique-constraint-builds-index",
                "7:drop-column"
            ]
        );
    }

    /// langfuse's shape: the rows are deleted, then a required column and its key are added.
    #[test]
    fn a_delete_of_every_row_leaves_no_row_for_a_required_column() {
        let emptied = "DELETE FROM memberships;
ALTER TABLE memberships ADD COLUMN org_id text NOT NULL;
ALTER TABLE memberships ADD CONSTRAINT memberships_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id);";
        assert_eq!(errors(emptied, true), Vec::<String>::new());
        // Its pages are all still there: an index build reads every one.
        let indexed = "DELETE FROM memberships;\nCREATE INDEX memberships_role ON memberships (role);";
        assert_eq!(errors(indexed, true), ["2:index-create-blocking"]);
        // Outside a transaction each statement is its own: nothing carries over.
        assert!(errors(emptied, false).contains(&"2:add-column-required".to_string()));
        // Some rows deleted, or rows deleted through a join: rows may remain.
        for partly in [
            "DELETE FROM memberships WHERE role = 'guest';",
            "DELETE FROM memberships USING orgs WHERE orgs.id = memberships.org;",
        ] {
            let sql = format!("{partly}\nALTER TABLE memberships ADD COLUMN org_id text NOT NULL;");
            assert!(errors(&sql, true).contains(&"2:add-column-required".to_string()), "{partly}");
        }
    }

    /// hatchet's v0_7_0 (review 5's #15): an `UPDATE` of another table between the required
    /// column and the index cannot add rows to `Action`, unless a trigger of it may.
    #[test]
    fn an_update_of_another_plain_table_keeps_the_proof() {
        let made = "CREATE TABLE action (id int);\nCREATE TABLE version (id int, checksum text);\nCREATE TABLE audit (id int);";
        let change = |between: &str| {
            format!("ALTER TABLE action ADD COLUMN action_id text NOT NULL;\n{between}\nCREATE UNIQUE INDEX action_key ON action (action_id);")
        };
        let errors = |before: &str, sql: &str| -> Vec<String> {
            let mut linter = crate::Linter::new(crate::LintConfig::default());
            let mut last = Vec::new();
            for sql in [made, before, sql] {
                last = crate::rules::test_utils::lint_next(&mut linter, sql, true);
            }
            // The required column's own finding (it fails on a table with rows) stands: the
            // question is what follows it.
            last.iter()
                .filter(|d| d.severity == crate::Severity::Error && d.rule != "add-column-required")
                .map(|d| format!("{}:{}", d.line, d.rule))
                .collect()
        };
        let update = "UPDATE version SET checksum = md5(random()::text);";
        assert_eq!(errors("SELECT 1;", &change(update)), Vec::<String>::new());
        assert_eq!(errors("SELECT 1;", &change("DELETE FROM version WHERE id > 3;")), Vec::<String>::new());
        // A trigger of it may insert anywhere; so may a WITH, and a table the model does not know.
        let trigger = "CREATE FUNCTION log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO action VALUES (1, 'x'); RETURN NEW; END $$;\nCREATE TRIGGER version_log AFTER UPDATE ON version FOR EACH ROW EXECUTE FUNCTION log();";
        assert_eq!(errors(trigger, &change(update)), ["3:index-create-blocking"]);
        let with =
            "WITH moved AS (UPDATE version SET checksum = 'x' RETURNING id) INSERT INTO audit SELECT id FROM moved;";
        assert_eq!(errors("SELECT 1;", &change(with)), ["3:index-create-blocking"]);
        assert_eq!(errors("SELECT 1;", &change("UPDATE elsewhere SET n = 1;")), ["3:index-create-blocking"]);
    }

    #[test]
    fn statements_that_may_add_rows() {
        let writes = |sql: &str| may_write_rows(sql, &analyze_statement(sql).unwrap());
        for sql in [
            "INSERT INTO t VALUES (1)",
            "COPY t FROM STDIN",
            "SELECT refill()",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "UPDATE u SET a = 1",
            "DO $$ BEGIN END $$",
        ] {
            assert!(writes(sql), "{sql}");
        }
        for sql in [
            "CREATE INDEX i ON t (c)",
            "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES u (id)",
            "COMMENT ON COLUMN t.c IS 'x'",
            "GRANT SELECT ON t TO app",
            "CREATE VIEW v AS SELECT * FROM t",
        ] {
            assert!(!writes(sql), "{sql}");
        }
    }
}
