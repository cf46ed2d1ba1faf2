//! Rule `concurrently-in-transaction`: its documentation is `DOC`, printed by `cutover explain concurrently-in-transaction`.

use crate::rules::{Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "concurrently-in-transaction";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A statement that PostgreSQL refuses to run inside a transaction block (`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY`, `VACUUM`, ...) where it would run in one: beside other statements in a file, or after a `BEGIN`.\n\
\n\
## Why is this bad?\n\
It fails with 'cannot run inside a transaction block': the migration fails at deploy time. cutover runs a file made only of such statements outside a transaction, statement by statement, with no directive; a file that mixes them with other statements runs neither way, and `up` refuses it before applying anything. A tool that sends a file as one script (golang-migrate, Prisma, dbmate) makes its statements one implicit transaction block; one statement sent alone runs outside a transaction.\n\
\n\
## Instead\n\
Move the statement to a migration file of its own. Mark a file `-- cutover:no-transaction` only when running each of its statements on its own, not all or nothing, is what you want.\n\
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

const ALONE: &str = "move it to a migration file of its own: alone, it runs outside a transaction";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    if !effect.requires_no_transaction {
        return Vec::new();
    }
    let (message, help) = if let Some(begin) = ctx.open_begin {
        (
            format!("this statement cannot run inside a transaction block, and the BEGIN at line {begin} opens one"),
            "move it after the COMMIT, or to a migration file of its own".to_string(),
        )
    } else if ctx.external_runner {
        // What the other tool does with the file, not what cutover's runner would.
        if ctx.statements_in_file < 2 {
            return Vec::new();
        }
        (
            format!(
                "this statement cannot run inside a transaction block, and a tool that sends this file's {} statements as one script (as golang-migrate, Prisma and dbmate do) runs them as one implicit transaction block",
                ctx.statements_in_file
            ),
            ALONE.to_string(),
        )
    } else if ctx.runner_transaction {
        match ctx.first_transactional_line {
            Some(line) => (
                format!("this statement cannot run inside a transaction block, and this file also has statements that run in one (the first at line {line}): cutover refuses to run it"),
                format!("{ALONE}, no directive needed; or add `-- cutover:no-transaction` at the top if running each statement on its own, not all or nothing, is intended"),
            ),
            None => (
                "this statement cannot run inside a transaction block, and this migration runs in one".to_string(),
                ALONE.to_string(),
            ),
        }
    } else {
        return Vec::new();
    };
    vec![Finding::new(RULE, message, &help)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::LintConfig;

    /// What the rule finds in `sql`, as cutover's runner reads it (a file made only of
    /// statements that refuse a transaction runs outside one), or under another runner.
    fn lint(sql: &str, external_runner: bool) -> String {
        let statements = cutover_migration::split_statements(sql).unwrap();
        let in_transaction =
            cutover_migration::transactionality(&statements) != cutover_migration::Transactionality::Outside;
        run_with(&[(sql, in_transaction)], RULE, LintConfig { external_runner, ..LintConfig::default() })
    }

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
        assert_eq!(lint("CREATE INDEX CONCURRENTLY i ON users (email);", false), "");
        assert_eq!(lint("DROP INDEX CONCURRENTLY i;\nCREATE INDEX CONCURRENTLY j ON users (email);", false), "");
        let mixed = lint("CREATE TABLE audit (id bigint);\n\nCREATE INDEX CONCURRENTLY i ON users (email);", false);
        assert_eq!(
            mixed,
            "concurrently-in-transaction: this statement cannot run inside a transaction block, and this file also has statements that run in one (the first at line 1): cutover refuses to run it\n"
        );
        let begin = lint("-- cutover:no-transaction\nBEGIN;\nVACUUM users;\nCOMMIT;", false);
        assert!(begin.contains("the BEGIN at line 2 opens one"), "{begin}");
    }

    #[test]
    fn under_another_runner_it_never_claims_the_runner_opens_a_transaction() {
        assert_eq!(lint("CREATE INDEX CONCURRENTLY i ON users (email);", true), "", "sent alone, outside a block");
        for sql in [
            "CREATE TABLE audit (id bigint);\nCREATE INDEX CONCURRENTLY i ON users (email);",
            "DROP INDEX CONCURRENTLY i;\nCREATE INDEX CONCURRENTLY j ON users (email);",
        ] {
            let found = lint(sql, true);
            assert!(found.contains("a tool that sends this file's 2 statements as one script"), "{found}");
            assert!(found.contains("implicit transaction block"), "{found}");
            assert!(!found.contains("runs in one") && !found.contains("cutover"), "{found}");
        }
    }
}
