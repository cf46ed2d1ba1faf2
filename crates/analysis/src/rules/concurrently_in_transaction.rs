//! Rule `concurrently-in-transaction`: its documentation is `DOC`, printed by `cutover explain concurrently-in-transaction`.

use crate::rules::{Context, Finding};
use crate::runner::{FileRun, Runner, Tool};
use crate::Effect;

pub(crate) const RULE: &str = "concurrently-in-transaction";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement that PostgreSQL refuses to run inside a transaction block (`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY`, `VACUUM`, ...) where it would run in one: beside other statements in a file, or after a `BEGIN`.\n\
\n\
## Why is this bad?\n\
It fails with 'cannot run inside a transaction block': the migration fails at deploy time. cutover runs a file made only of such statements outside a transaction, statement by statement, with no directive; a file that mixes them with other statements runs neither way, and `up` refuses it before applying anything. Under another tool (`--assume-runner`): one that sends a file as one query (golang-migrate, Prisma) makes its statements one implicit transaction block, and one statement sent alone runs outside any; one that runs each file in a transaction (sqlx, dbmate, goose, diesel, popx, Knex, Alembic) refuses it even alone, unless the file carries the tool's own switch (sqlx's `-- no-transaction`, dbmate's `transaction:false`, goose's `NO TRANSACTION`, diesel's `run_in_transaction = false`, popx's `.autocommit.` file name; sqlx, dbmate, diesel and popx then send the file as one query, so the statement must still be alone); Flyway runs a script made only of the statements its parser lists (`CREATE/DROP INDEX CONCURRENTLY`, not `REINDEX ... CONCURRENTLY`) outside a transaction and refuses one that mixes them with others.\n\
\n\
## Instead\n\
Move the statement to a migration file of its own (under another tool, with the tool's switch where it runs files in a transaction: the finding names it). Mark a file `-- cutover:no-transaction` only when running each of its statements on its own, not all or nothing, is what you want.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TABLE audit (id bigint, at timestamptz);\n\
CREATE INDEX CONCURRENTLY users_email ON users (email);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    if !effect.requires_no_transaction {
        return Vec::new();
    }
    const REFUSES: &str = "this statement cannot run inside a transaction block";
    let help = || match ctx.runner {
        Runner::Cutover | Runner::Folder => {
            "move it to a migration file of its own: alone, it runs outside a transaction".to_string()
        }
        Runner::Script(_) => format!("move it {}", ctx.runner.place(true)),
        Runner::Transaction(_) => format!("run it {}", ctx.runner.place(ctx.runner_takes_it_out)),
    };
    // Flyway refuses a script that mixes the statements it runs outside a transaction with
    // others, whatever the script's settings.
    let flyway_mix = match (ctx.runner, ctx.first_transactional_line) {
        (Runner::Transaction(Some(Tool::Flyway)), Some(line)) if ctx.runner_takes_it_out => Some(line),
        _ => None,
    };
    let (message, help) = if let Some(begin) = ctx.open_begin {
        (
            format!("{REFUSES}, and the BEGIN at line {begin} opens one"),
            match ctx.file_run {
                // Sent as one query, the file is one implicit block after the COMMIT too
                // (tester 17, seen on PostgreSQL 15).
                FileRun::OneScript => help(),
                _ => "move it after the COMMIT, or to a migration file of its own".to_string(),
            },
        )
    } else if let Some(line) = flyway_mix {
        (
            format!("{REFUSES}, and this script also has statements that run in one (the first at line {line}): Flyway refuses such a script unless `mixed` is set, which runs every statement of it outside a transaction"),
            help(),
        )
    } else {
        match (ctx.runner, ctx.file_run) {
            (Runner::Cutover | Runner::Folder, FileRun::OneTransaction) => match ctx.first_transactional_line {
                Some(line) => (
                    format!("{REFUSES}, and this file also has statements that run in one (the first at line {line}): cutover refuses to run it"),
                    "move it to a migration file of its own: alone, it runs outside a transaction, no directive needed; or add `-- cutover:no-transaction` at the top if running each statement on its own, not all or nothing, is intended".to_string(),
                ),
                None => (format!("{REFUSES}, and this migration runs in one"), help()),
            },
            (Runner::Transaction(_), FileRun::OneTransaction) => (
                format!("{REFUSES}, and {} runs every {} in one", ctx.runner.who(), ctx.runner.unit()),
                help(),
            ),
            // What the other tool does with the file, not what cutover's runner would.
            (Runner::Script(_) | Runner::Transaction(_), FileRun::OneScript) if ctx.statements_in_file > 1 => (
                format!(
                    "{REFUSES}, and {} sends this file's {} statements as one query, which PostgreSQL runs as one implicit transaction block",
                    match ctx.runner {
                        Runner::Script(None) => "a tool such as golang-migrate or Prisma",
                        _ => ctx.runner.who(),
                    },
                    ctx.statements_in_file
                ),
                help(),
            ),
            _ => return Vec::new(),
        }
    };
    vec![Finding::new(RULE, message, &help)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_file};
    use cutover_migration::NoTransactionMarker;

    /// What the rule finds in `sql` as one file run by `runner`, its directives read as
    /// discovery reads them (cutover runs a file made only of statements that refuse a
    /// transaction outside one).
    fn lint(sql: &str, runner: &str) -> String {
        run_file(sql, RULE, runner, None)
    }

    const LONE: &str = "CREATE INDEX CONCURRENTLY i ON users (email);";
    const BESIDE: &str = "CREATE TABLE audit (id bigint);\nCREATE INDEX CONCURRENTLY i ON users (email);";

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"CREATE INDEX CONCURRENTLY i ON users (email)", RULE);
        assert!(rendered.contains("concurrently-in-transaction"), "{rendered}");
    }

    #[test]
    fn does_not_fire_on_new_or_safe_statements() {
        lint_ok(r"CREATE INDEX i ON users (email)", RULE);
    }

    #[test]
    fn a_file_of_such_statements_alone_runs_outside_a_transaction() {
        assert_eq!(lint(LONE, "cutover"), "");
        assert_eq!(lint("DROP INDEX CONCURRENTLY i;\nCREATE INDEX CONCURRENTLY j ON users (email);", "cutover"), "");
        let mixed = lint("CREATE TABLE audit (id bigint);\n\nCREATE INDEX CONCURRENTLY i ON users (email);", "cutover");
        assert!(
            mixed.starts_with("concurrently-in-transaction: this statement cannot run inside a transaction block, and this file also has statements that run in one (the first at line 1): cutover refuses to run it\n"),
            "{mixed}"
        );
        let begin = lint("-- cutover:no-transaction\nBEGIN;\nVACUUM users;\nCOMMIT;", "cutover");
        assert!(begin.contains("the BEGIN at line 2 opens one"), "{begin}");
    }

    /// Prisma and golang-migrate send a file as one query: alone, the statement runs outside a
    /// block; beside others, in the implicit one.
    #[test]
    fn a_tool_that_sends_the_file_as_one_query() {
        for runner in ["script", "external", "prisma", "golang-migrate"] {
            assert_eq!(lint(LONE, runner), "", "{runner}: sent alone, outside a block");
            for sql in [BESIDE, "DROP INDEX CONCURRENTLY i;\nCREATE INDEX CONCURRENTLY j ON users (email);"] {
                let found = lint(sql, runner);
                assert!(found.contains("this file's 2 statements as one query"), "{runner}: {found}");
                assert!(found.contains("implicit transaction block"), "{found}");
                let message = found.lines().next().unwrap_or_default();
                assert!(!message.contains("runs in one") && !found.contains("cutover"), "{found}");
            }
            // cutover's directive means nothing to them.
            assert_ne!(lint(&format!("-- cutover:no-transaction\n{BESIDE}"), runner), "");
        }
        assert!(lint(BESIDE, "prisma").contains("Prisma sends this file's 2 statements"));
        // After a COMMIT the file is still one query (tester 17): not "move it after the COMMIT".
        let in_block = "BEGIN;\nCREATE INDEX CONCURRENTLY users_email ON users (email);\nCOMMIT;";
        for runner in ["prisma", "golang-migrate"] {
            let found = lint(in_block, runner);
            assert!(found.contains("the BEGIN at line 1 opens one"), "{found}");
            assert!(!found.contains("after the COMMIT"), "{runner}: {found}");
        }
        assert!(lint(in_block, "cutover").contains("after the COMMIT"));
    }

    /// A tool that wraps every file in a transaction refuses even a lone concurrent build,
    /// unless the tool's own switch takes the file out; the help names the switch.
    #[test]
    fn a_tool_that_runs_each_file_in_a_transaction() {
        let cases = [
            ("pop", ".autocommit."),
            ("popx", ".autocommit."),
            ("sqlx", "whose first line is `-- no-transaction`"),
            ("dbmate", "`-- migrate:up transaction:false`"),
            ("goose", "`-- +goose NO TRANSACTION`"),
            ("diesel", "`run_in_transaction = false`"),
            ("knex", "`config = { transaction: false }`"),
            ("alembic", "autocommit_block()"),
            ("transaction", "your tool runs outside a transaction"),
        ];
        for (runner, switch) in cases {
            let found = lint(LONE, runner);
            assert!(found.contains("runs every migration file in one"), "{runner}: {found}");
            assert!(found.contains(switch), "{runner}: {found}");
            // cutover's own directive is not the tool's.
            assert_ne!(lint(&format!("-- cutover:no-transaction\n{LONE}"), runner), "", "{runner}");
        }
        assert!(lint(LONE, "pop").contains("popx runs every migration file in one"));
    }

    #[test]
    fn the_tools_own_switch() {
        // goose runs a NO TRANSACTION file statement by statement.
        assert_eq!(run_file(BESIDE, RULE, "goose", Some(NoTransactionMarker::Goose)), "");
        // sqlx, dbmate, diesel and popx send a no-transaction file as one query.
        assert_eq!(lint(&format!("-- no-transaction\n{LONE}"), "sqlx"), "");
        let beside = lint(&format!("-- no-transaction\n{BESIDE}"), "sqlx");
        assert!(beside.contains("sqlx sends this file's 2 statements as one query"), "{beside}");
        for (runner, marker) in [("dbmate", NoTransactionMarker::Dbmate), ("diesel", NoTransactionMarker::Diesel)] {
            assert_eq!(run_file(LONE, RULE, runner, Some(marker)), "", "{runner}");
            assert_ne!(run_file(BESIDE, RULE, runner, Some(marker)), "", "{runner}");
        }
        // Another tool's switch is not the tool's.
        assert_ne!(run_file(LONE, RULE, "goose", Some(NoTransactionMarker::Dbmate)), "");
    }

    /// Flyway runs a script made only of the statements its parser lists outside a
    /// transaction, refuses one that mixes them with others, and runs the ones it does not
    /// list in the script's transaction.
    #[test]
    fn flyway_detects_some_of_them() {
        assert_eq!(lint(LONE, "flyway"), "");
        let mixed = lint(BESIDE, "flyway");
        assert!(mixed.contains("Flyway refuses such a script unless `mixed` is set"), "{mixed}");
        let reindex = lint("REINDEX TABLE CONCURRENTLY users;", "flyway");
        assert!(reindex.contains("Flyway runs every migration file in one"), "{reindex}");
        assert!(reindex.contains("executeInTransaction=false"), "{reindex}");
        assert_eq!(
            run_file("REINDEX TABLE CONCURRENTLY users;", RULE, "flyway", Some(NoTransactionMarker::Flyway)),
            ""
        );
    }
}
