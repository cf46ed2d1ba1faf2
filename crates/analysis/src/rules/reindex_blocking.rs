//! Rule `reindex-blocking`: its documentation is `DOC`, printed by `cutover explain reindex-blocking`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "reindex-blocking";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`REINDEX` without `CONCURRENTLY`.\n\
\n\
## Why is this bad?\n\
A plain REINDEX locks the table against writes and the index against every query that would use it for the whole rebuild.\n\
\n\
## Instead\n\
`REINDEX ... CONCURRENTLY` (PostgreSQL 12+) in a migration file of its own (cutover runs a file made only of such statements outside a transaction, with no directive).\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
REINDEX TABLE CONCURRENTLY users;\n\
```\n\
\n\
## Example\n\
```sql\n\
REINDEX TABLE users;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::Reindex { name, concurrently: false } = &effect.action else { return Vec::new() };
    if ctx.is_new(name) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("REINDEX without CONCURRENTLY blocks writes to `{name}`, and reads that use the index, for the whole rebuild"),
        &if ctx.pg_version >= 12 {
            ctx.runner.alone("use REINDEX ... CONCURRENTLY", "REINDEX TABLE CONCURRENTLY")
        } else {
            format!(
                "REINDEX CONCURRENTLY needs PostgreSQL 12: until then, {}; then drop the old one and rename the copy",
                ctx.runner.alone("build a copy with CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY")
            )
        },
    )
    .on(name, effect.locks.iter().find(|(t, _)| t == name).map_or(LockMode::Share, |(_, lock)| *lock))]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_file};

    /// Flyway's parser does not list `REINDEX TABLE CONCURRENTLY`: only its script setting
    /// takes it out of the transaction.
    #[test]
    fn the_help_works_where_the_runner_runs_files() {
        let help = |runner: &str| run_file("REINDEX TABLE users;", RULE, runner, None);
        assert!(help("flyway").contains("`executeInTransaction=false` in its `.sql.conf`"), "{}", help("flyway"));
        assert!(help("sqlx").contains("whose first line is `-- no-transaction`"));
        assert!(help("cutover").contains("(alone, it runs outside a transaction)"));
    }

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"REINDEX TABLE users", RULE);
        assert!(rendered.contains("reindex-blocking"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"REINDEX (CONCURRENTLY) TABLE users", RULE);
    }
    #[test]
    fn does_not_fire_2() {
        lint_ok(r"REINDEX TABLE CONCURRENTLY users", RULE);
    }
}
