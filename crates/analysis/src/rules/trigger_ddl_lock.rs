//! Rule `trigger-ddl-lock`: its documentation is `DOC`, printed by `cutover explain trigger-ddl-lock`.

use crate::rules::{Context, Finding};
use crate::{Action, AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "trigger-ddl-lock";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
`CREATE TRIGGER`, `DROP TRIGGER`, or `ALTER TABLE ... ENABLE/DISABLE TRIGGER` on an existing table.\n\
\n\
## Why is this bad?\n\
Creating, enabling or disabling a trigger locks the table SHARE ROW EXCLUSIVE, and dropping one ACCESS EXCLUSIVE: writes (and for a drop, reads) wait, and the lock request queues behind long transactions. A disabled trigger also silently stops whatever it kept in step.\n\
\n\
## Instead\n\
Keep trigger changes in their own short migration under a `lock_timeout` (cutover sets one), away from slow statements; for dual-write triggers, prefer `cutover`'s expand/contract operations, which manage them.\n\
\n\
```sql\n\
-- its own migration: cutover's runner sets a lock_timeout\n\
CREATE TRIGGER users_sync AFTER INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION sync_user();\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE TRIGGER users_sync AFTER INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION sync_user();\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    let (command, table) = match &effect.action {
        Action::TriggerDdl { command, table, .. } => (*command, table),
        Action::AlterTable { table, commands } => {
            match commands.iter().find_map(|c| match c {
                AlterCommand::Trigger { command } => Some(*command),
                _ => None,
            }) {
                Some(command) => (command, table),
                None => return Vec::new(),
            }
        }
        _ => return Vec::new(),
    };
    if table.is_empty() || ctx.is_new(table) {
        return Vec::new();
    }
    let lock = effect.locks.iter().find(|(t, _)| t == table).map_or(LockMode::ShareRowExclusive, |(_, lock)| *lock);
    vec![Finding::new(
        RULE,
        format!("{command} on `{table}` takes {lock}, which {}", lock.blocks()),
        "keep it in its own short migration under a lock_timeout, away from slow statements",
    )
    .on(table, lock)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok};

    #[test]
    fn fires_on_trigger_changes() {
        let found = lint_errors("CREATE TRIGGER t AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION f()", RULE);
        assert!(found.contains("SHARE ROW EXCLUSIVE"), "{found}");
        assert!(lint_errors("DROP TRIGGER t ON users", RULE).contains("ACCESS EXCLUSIVE"));
        assert!(lint_errors("ALTER TABLE users DISABLE TRIGGER t", RULE).contains("DISABLE TRIGGER"));
    }

    #[test]
    fn does_not_fire_on_new_tables() {
        lint_ok(
            "CREATE TABLE t (id int);\nCREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
            RULE,
        );
    }
}
