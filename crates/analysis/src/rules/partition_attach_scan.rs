//! Rule `partition-attach-scan`: its documentation is `DOC`, printed by `cutover explain partition-attach-scan`.

use crate::rules::{Context, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "partition-attach-scan";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER TABLE ... ATTACH PARTITION` of an existing table.\n\
\n\
## Why is this bad?\n\
PostgreSQL scans the whole partition to check that its rows fit the bound, holding an ACCESS EXCLUSIVE lock on it, unless a validated CHECK constraint already proves it.\n\
\n\
## Instead\n\
Add a CHECK constraint matching the bound `NOT VALID`, `VALIDATE` it, then `ATTACH PARTITION` (no scan), then drop the CHECK.\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE events ATTACH PARTITION events_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let Action::AlterTable { table, commands } = &effect.action else { return Vec::new() };
    commands
        .iter()
        .filter_map(|command| match command {
            AlterCommand::AttachPartition { partition } if !ctx.is_new(partition) => Some(
                Finding::new(
                    RULE,
                    format!("attaching `{partition}` to `{table}` scans it to check the partition bound, under an ACCESS EXCLUSIVE lock on `{partition}`"),
                    "add a CHECK matching the bound NOT VALID, VALIDATE it, then ATTACH PARTITION (no scan), then drop the CHECK",
                )
                .on(partition, LockMode::AccessExclusive),
            ),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(
            r"ALTER TABLE events ATTACH PARTITION events_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01')",
            RULE,
        );
        assert!(rendered.contains("partition-attach-scan"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(
            r"CREATE TABLE events_2021 (id int);
ALTER TABLE events ATTACH PARTITION events_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01')",
            RULE,
        );
    }
}
