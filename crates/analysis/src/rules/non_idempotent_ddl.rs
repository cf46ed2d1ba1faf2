//! Rule `non-idempotent-ddl`: its documentation is `DOC`, printed by `cutover explain non-idempotent-ddl`.

use crate::rules::{Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "non-idempotent-ddl";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`CREATE`/`DROP` of a table or index, or `ADD`/`DROP COLUMN`, without `IF [NOT] EXISTS` in a file that runs outside a transaction: under another runner, any such statement; under cutover, the statements that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`), whose completion and progress record are not atomic.\n\
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
    // cutover records each completed statement with its progress; only a statement that cannot
    // share a transaction with that record can be re-run after completing.
    if !ctx.external_runner && !effect.requires_no_transaction {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        "outside a transaction, re-running this after a partial failure fails: it has no IF [NOT] EXISTS".to_string(),
        "add IF NOT EXISTS (CREATE, ADD COLUMN) or IF EXISTS (DROP)",
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::LintConfig;

    fn lint(sql: &str, external_runner: bool) -> String {
        run_with(&[(sql, false)], RULE, LintConfig { external_runner, ..LintConfig::default() })
    }

    #[test]
    fn fires_outside_a_transaction() {
        assert_ne!(lint("CREATE INDEX CONCURRENTLY i ON users (email);", false), "");
        assert_ne!(lint("ALTER TABLE users ADD COLUMN bio text;", true), "");
        assert_ne!(lint("DROP INDEX CONCURRENTLY i;", false), "");
    }

    #[test]
    fn does_not_fire_when_guarded_transactional_or_resumable() {
        assert_eq!(lint("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);", false), "");
        assert_eq!(lint("ALTER TABLE users ADD COLUMN bio text;", false), "", "cutover resumes it");
        assert_eq!(run_with(&[("CREATE TABLE t (id int);", true)], RULE, LintConfig::default()), "");
    }
}
