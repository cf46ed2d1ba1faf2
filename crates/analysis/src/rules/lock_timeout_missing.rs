//! Rule `lock-timeout-missing`: its documentation is `DOC`, printed by `cutover explain lock-timeout-missing`.

use crate::rules::{blocks_writes_on_existing, Context, Finding};
use crate::Effect;

pub(crate) const RULE: &str = "lock-timeout-missing";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A migration run by another tool than cutover that takes a lock blocking writes on an existing table without first setting `lock_timeout`. cutover's own runner sets `lock_timeout` on every migration (and retries), so this rule only fires with `--assume-runner external` (or `assume-runner = \"external\"` under `[lint]`).\n\
\n\
## Why is this bad?\n\
A DDL statement that waits for its lock (behind a long query or an idle transaction) sits in the lock queue, and every later query on the table queues behind it: the table is down until the blocker ends, though the DDL itself would take milliseconds.\n\
\n\
## Instead\n\
Start the migration with `SET lock_timeout = '2s';` (and retry the migration when it times out), or let cutover run it.\n\
\n\
```sql\n\
SET lock_timeout = '2s';\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```\n\
\n\
## Example\n\
```sql\n\
-- run by psql or another migration tool\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    if !ctx.external_runner
        || ctx.lock_timeout_set
        || ctx.blocking_lock_before
        || !blocks_writes_on_existing(effect, ctx)
    {
        return Vec::new();
    }
    let Some((table, lock)) = effect.locks.iter().find(|(_, mode)| mode.blocks_writes()) else { return Vec::new() };
    vec![Finding::new(
        RULE,
        format!("{lock} on `{table}` is requested with no lock_timeout: while it waits, every query on `{table}` queues behind it"),
        "begin the file with SET lock_timeout = '2s'; and retry on timeout (cutover's runner does both)",
    )
    .on(table, *lock)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::LintConfig;

    fn external(sql: &str) -> String {
        run_with(&[(sql, true)], RULE, LintConfig { external_runner: true, ..LintConfig::default() })
    }

    #[test]
    fn fires_once_per_file_under_an_external_runner() {
        let found = external("ALTER TABLE users ADD COLUMN bio text;\nALTER TABLE orders ADD COLUMN note text;");
        assert_eq!(found.lines().count(), 1, "{found}");
        assert!(found.contains("ACCESS EXCLUSIVE on `users`"), "{found}");
    }

    #[test]
    fn does_not_fire_with_a_timeout_under_cutover_or_on_new_tables() {
        assert_eq!(external("SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN bio text;"), "");
        assert_eq!(run_with(&[("ALTER TABLE users ADD COLUMN bio text;", true)], RULE, LintConfig::default()), "");
        assert_eq!(external("CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);"), "");
        assert_ne!(external("SET lock_timeout = 0;\nALTER TABLE users ADD COLUMN bio text;"), "");
    }
}
