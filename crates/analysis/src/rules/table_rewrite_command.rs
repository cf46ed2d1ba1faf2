//! Rule `table-rewrite-command`: its documentation is `DOC`, printed by `cutover explain table-rewrite-command`.

use crate::rules::{Context, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "table-rewrite-command";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A command that rewrites a whole table: `VACUUM FULL`, `CLUSTER`, `ALTER TABLE ... SET TABLESPACE`, `SET LOGGED`, `SET UNLOGGED`, `SET ACCESS METHOD`.\n\
\n\
## Why is this bad?\n\
The table and all its indexes are copied under an ACCESS EXCLUSIVE lock: no reads or writes until the copy is done, and twice the disk space meanwhile.\n\
\n\
## Instead\n\
Reclaim space online with `cutover rewrite --table users` (a copy kept in step by a trigger and swapped in within the lock timeout), pg_repack or pg_squeeze; for a tablespace or logging change, build a new table and switch over with expand/contract.\n\
\n\
## Example\n\
```sql\n\
VACUUM FULL users;\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    // MySQL's rebuilds (`OPTIMIZE TABLE`, `FORCE`) are judged by their algorithm and lock.
    if effect.mysql.is_some() {
        return Vec::new();
    }
    let rewrites: Vec<(String, &str)> = match &effect.action {
        Action::RewriteTable { command, table } => vec![(table.clone(), *command)],
        Action::AlterTable { table, commands } => commands
            .iter()
            .filter_map(|c| match c {
                AlterCommand::Rewrite { command } => Some((table.clone(), *command)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    rewrites
        .into_iter()
        .filter(|(table, _)| !ctx.is_empty(table))
        .map(|(table, command)| {
            let shown = if table.is_empty() { "every table".to_string() } else { format!("`{table}`") };
            Finding::new(
                RULE,
                format!("{command} rewrites {shown} under an ACCESS EXCLUSIVE lock, which blocks reads and writes until it is done"),
                "reclaim space online with `cutover rewrite --table T` (or pg_repack, pg_squeeze), or build a new table and switch over with expand/contract",
            )
            .on(&table, LockMode::AccessExclusive)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"VACUUM FULL users", RULE);
        assert!(rendered.contains("table-rewrite-command"), "{rendered}");
    }
    #[test]
    fn fires_1() {
        let rendered = lint_errors(r"CLUSTER users USING users_pkey", RULE);
        assert!(rendered.contains("table-rewrite-command"), "{rendered}");
    }
    #[test]
    fn fires_2() {
        let rendered = lint_errors(r"ALTER TABLE users SET TABLESPACE fast", RULE);
        assert!(rendered.contains("table-rewrite-command"), "{rendered}");
    }
    #[test]
    fn does_not_fire_3() {
        lint_ok(r"VACUUM users", RULE);
    }
}
