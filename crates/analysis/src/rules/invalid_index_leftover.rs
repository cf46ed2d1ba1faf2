//! Rule `invalid-index-leftover`: its documentation is `DOC`, printed by `cutover explain invalid-index-leftover`.

use crate::rules::{Context, Finding};
use crate::runner::Runner;
use crate::{Action, Effect};

pub(crate) const RULE: &str = "invalid-index-leftover";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`CREATE INDEX CONCURRENTLY IF NOT EXISTS` under another runner than cutover (`--assume-runner`), with no `DROP INDEX CONCURRENTLY IF EXISTS` of the same index before it in the file.\n\
\n\
## Why is this bad?\n\
A concurrent build that fails (a deadlock, a uniqueness violation, a cancelled statement) leaves an INVALID index behind. On the retry, `IF NOT EXISTS` sees the name and skips the build: the migration succeeds, the index is never used, and writes still pay to maintain it. cutover's runner drops such leftovers before a retry; other runners do not.\n\
\n\
## Instead\n\
Let cutover run the migration: it drops an INVALID leftover before building, and records the migration only once the index is valid. Under another tool, build without `IF NOT EXISTS`, alone in its file (a tool that sends several statements as one query runs them in one transaction block, which `CONCURRENTLY` refuses) and with the tool's switch where it runs files in a transaction, so that a retry after a failed build stops on the leftover instead of passing over it; then drop it (`DROP INDEX CONCURRENTLY name`) and run again.\n\
\n\
```sql\n\
CREATE INDEX CONCURRENTLY users_email ON users (email);\n\
```\n\
\n\
## Example\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::CreateIndex { name, table, concurrently: true, .. } = &effect.action else { return Vec::new() };
    if ctx.runner == Runner::Cutover || effect.idempotent != Some(true) || ctx.dropped_if_exists.contains(name) {
        return Vec::new();
    }
    vec![Finding::new(
        RULE,
        format!("if an earlier build of `{name}` failed, IF NOT EXISTS keeps its INVALID leftover on `{table}` and skips the build"),
        &format!(
            "build it without IF NOT EXISTS, {}, so that a retry stops on a leftover (drop it, then run again); or let cutover (which drops leftovers and checks the index is valid) run it",
            ctx.runner.place(ctx.runner.detects("CREATE INDEX CONCURRENTLY", true))
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::LintConfig;

    fn external(sql: &str) -> String {
        run_with(&[(sql, false)], RULE, LintConfig { runner: crate::Runner::Script(None), ..LintConfig::default() })
    }

    #[test]
    fn fires_on_a_guarded_concurrent_build() {
        assert!(external("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);").contains("INVALID"));
    }

    #[test]
    fn does_not_fire_after_a_drop_or_under_cutover() {
        assert_eq!(
            external(
                "DROP INDEX CONCURRENTLY IF EXISTS i;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);"
            ),
            ""
        );
        let cutover = run_with(
            &[("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);", false)],
            RULE,
            LintConfig::default(),
        );
        assert_eq!(cutover, "");
    }
}
