//! Rule `non-idempotent-ddl`: its documentation is `DOC`, printed by `cutover explain non-idempotent-ddl`.

use crate::rules::{Context, Finding};
use crate::runner::{FileRun, Runner};
use crate::Effect;

pub(crate) const RULE: &str = "non-idempotent-ddl";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`CREATE`/`DROP` of a table or index, or `ADD`/`DROP COLUMN`, without `IF [NOT] EXISTS` outside a transaction: the statements that cannot run in one (`CREATE INDEX CONCURRENTLY`), which can stop half done and whose completion and progress record are not atomic; and, under a tool that runs a file statement by statement and records it only at the end (goose's `NO TRANSACTION`, Flyway's `executeInTransaction=false`), any such statement.\n\
\n\
## Why is this bad?\n\
Outside a transaction a failed migration stops half done. Re-running it then fails on the first statement that already took effect (`relation already exists`), and someone must finish it by hand under pressure.\n\
\n\
## Instead\n\
Write each statement so that re-running it is harmless: `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, `DROP INDEX CONCURRENTLY IF EXISTS`, `ADD COLUMN IF NOT EXISTS`.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n\
```\n\
\n\
## Example\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY users_email ON users (email);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    if ctx.in_transaction || effect.idempotent != Some(false) {
        return Vec::new();
    }
    // A statement that refuses a transaction can stop half done (a failed concurrent build
    // leaves its index). Any other is undone when it fails, and is done again only where the
    // file runs statement by statement under a tool that records nothing until the end (cutover
    // records each completed statement with its progress).
    let rerun_from_the_top = ctx.runner != Runner::Cutover && ctx.file_run == FileRun::EachStatement;
    if !effect.requires_no_transaction && !rerun_from_the_top {
        return Vec::new();
    }
    // A concurrent build under another tool: IF NOT EXISTS would keep a failed build's INVALID
    // leftover (`invalid-index-leftover`), so the advice is the one that rule gives too.
    let help = match &effect.action {
        crate::effect::Action::CreateIndex { concurrently: true, .. } if ctx.runner != Runner::Cutover => {
            "leave it without IF NOT EXISTS, so that a retry stops on the INVALID index a failed build leaves: drop that (DROP INDEX CONCURRENTLY) and run again"
        }
        _ => "add IF NOT EXISTS (CREATE, ADD COLUMN) or IF EXISTS (DROP)",
    };
    vec![Finding::new(
        RULE,
        "outside a transaction, re-running this after a partial failure fails: it has no IF [NOT] EXISTS".to_string(),
        help,
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{run_file, run_with};
    use crate::LintConfig;
    use cutover_migration::NoTransactionMarker;

    fn lint(sql: &str) -> String {
        run_with(&[(sql, false)], RULE, LintConfig::default())
    }

    #[test]
    fn fires_outside_a_transaction() {
        assert_ne!(lint("CREATE INDEX CONCURRENTLY i ON users (email);"), "");
        assert_ne!(lint("DROP INDEX CONCURRENTLY i;"), "");
        // A tool that runs statement by statement and records the migration at the end runs
        // the first statement again after a failure at the second.
        let two = "ALTER TABLE users ADD COLUMN bio text;\nALTER TABLE users ADD COLUMN age int;";
        assert_ne!(run_file(two, RULE, "goose", Some(NoTransactionMarker::Goose)), "");
        // Sent as one query, a failed file is undone, but a lone concurrent build that fails
        // leaves its index.
        assert_ne!(run_file("CREATE INDEX CONCURRENTLY i ON users (email);", RULE, "prisma", None), "");
    }

    #[test]
    fn does_not_fire_when_guarded_transactional_or_resumable() {
        assert_eq!(lint("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);"), "");
        assert_eq!(lint("ALTER TABLE users ADD COLUMN bio text;"), "", "cutover resumes it");
        assert_eq!(run_with(&[("CREATE TABLE t (id int);", true)], RULE, LintConfig::default()), "");
        let two = "ALTER TABLE users ADD COLUMN bio text;\nALTER TABLE users ADD COLUMN age int;";
        for runner in ["script", "prisma", "transaction", "goose", "sqlx"] {
            assert_eq!(run_file(two, RULE, runner, None), "", "{runner}: all or nothing");
        }
        assert_eq!(run_file("ALTER TABLE users ADD COLUMN bio text;", RULE, "script", None), "", "one statement");
    }
}
