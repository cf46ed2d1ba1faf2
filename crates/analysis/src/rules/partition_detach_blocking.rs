//! Rule `partition-detach-blocking`: its documentation is `DOC`, printed by `cutover explain partition-detach-blocking`.

use crate::rules::{alter_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "partition-detach-blocking";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER TABLE ... DETACH PARTITION` without `CONCURRENTLY`.\n\
\n\
## Why is this bad?\n\
A plain detach takes an ACCESS EXCLUSIVE lock on the partitioned table: every query on any partition waits.\n\
\n\
## Instead\n\
`DETACH PARTITION ... CONCURRENTLY` (PostgreSQL 14+) in a migration file of its own (cutover runs a file made only of such statements outside a transaction, with no directive).\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE events DETACH PARTITION events_2020;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_findings(effect, ctx, |table, command| {
        match command {
            AlterCommand::DetachPartition { partition, concurrently: false, .. } => Some(
                Finding::new(
                    RULE,
                    format!("detaching `{partition}` locks the whole partitioned table `{table}` in ACCESS EXCLUSIVE mode, which blocks reads and writes"),
                    &if ctx.pg_version >= 14 {
                        ctx.runner.alone("use DETACH PARTITION ... CONCURRENTLY", "ALTER TABLE DETACH PARTITION CONCURRENTLY")
                    } else {
                        "DETACH ... CONCURRENTLY needs PostgreSQL 14: until then, detach at a quiet time under a short lock_timeout".to_string()
                    },
                )
                .on(table, LockMode::AccessExclusive),
            ),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE events DETACH PARTITION events_2020", RULE);
        assert!(rendered.contains("partition-detach-blocking"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY", RULE);
    }
}
