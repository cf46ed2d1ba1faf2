//! Rule `partition-attach-scan`: its documentation is `DOC`, printed by `cutover explain partition-attach-scan`.

use crate::rules::{Context, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "partition-attach-scan";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`ALTER TABLE ... ATTACH PARTITION` of an existing table, unless a validated CHECK of the partition reads every column of the partition key (cutover takes it to match the bound, as the advice below writes it).\n\
\n\
## Why is this bad?\n\
PostgreSQL scans the whole partition to check that its rows fit the bound, holding an ACCESS EXCLUSIVE lock on it, unless a validated CHECK constraint already proves it.\n\
\n\
## Instead\n\
Add a CHECK constraint matching the bound `NOT VALID`, `VALIDATE` it, then `ATTACH PARTITION` (no scan), then drop the CHECK.\n\
\n\
```sql\n\
ALTER TABLE events_2021 ADD CONSTRAINT events_2021_bound CHECK (created_at IS NOT NULL AND created_at >= '2021-01-01' AND created_at < '2022-01-01') NOT VALID;\n\
-- next migration\n\
ALTER TABLE events_2021 VALIDATE CONSTRAINT events_2021_bound;\n\
-- next migration\n\
ALTER TABLE events ATTACH PARTITION events_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');\n\
-- next migration\n\
ALTER TABLE events_2021 DROP CONSTRAINT events_2021_bound;\n\
```\n\
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
            // A validated CHECK matching the bound spares the scan (observed on PostgreSQL 15:
            // "partition constraint ... is implied by existing constraints").
            AlterCommand::AttachPartition { partition }
                if !ctx.is_empty(partition) && ctx.schema.bound_check(partition, table).is_none() =>
            {
                Some(
                Finding::new(
                    RULE,
                    format!("attaching `{partition}` to `{table}` scans it to check the partition bound, under an ACCESS EXCLUSIVE lock on `{partition}`"),
                    "add a CHECK matching the bound NOT VALID, VALIDATE it, then ATTACH PARTITION (no scan), then drop the CHECK",
                )
                .on(partition, LockMode::AccessExclusive),
                )
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::LintConfig;

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

    /// The advice: a validated CHECK on the partition that reads the partition key spares the
    /// scan; one NOT VALID, dropped, or on other columns does not.
    #[test]
    fn a_validated_check_on_the_key_spares_the_scan() {
        let setup = (
            "CREATE TABLE events (id bigint, created_at date) PARTITION BY RANGE (created_at);\nCREATE TABLE events_2021 (id bigint, created_at date);",
            true,
        );
        let check = ("ALTER TABLE events_2021 ADD CONSTRAINT bound CHECK (created_at IS NOT NULL AND created_at >= '2021-01-01' AND created_at < '2022-01-01') NOT VALID;", true);
        let validate = ("ALTER TABLE events_2021 VALIDATE CONSTRAINT bound;", true);
        let drop = ("ALTER TABLE events_2021 DROP CONSTRAINT bound;", true);
        let attach =
            ("ALTER TABLE events ATTACH PARTITION events_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');", true);
        let run = |migrations: &[(&str, bool)]| run_with(migrations, RULE, LintConfig::default());
        assert_eq!(run(&[setup, check, validate, attach]), "");
        assert_ne!(run(&[setup, check, attach]), "", "not validated");
        assert_ne!(run(&[setup, check, validate, drop, attach]), "", "dropped");
        let other = ("ALTER TABLE events_2021 ADD CONSTRAINT bound CHECK (id > 0) NOT VALID;", true);
        assert_ne!(run(&[setup, other, validate, attach]), "", "not on the key");
    }
}
