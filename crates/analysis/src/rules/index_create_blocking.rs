//! Rule `index-create-blocking`: its documentation is `DOC`, printed by `cutover explain index-create-blocking`.

use crate::rules::{Context, Finding};
use crate::{Action, Effect, LockMode};

pub(crate) const RULE: &str = "index-create-blocking";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Creating an index without `CONCURRENTLY` on an existing table.\n\
\n\
## Why is this bad?\n\
`CREATE INDEX` holds a SHARE lock on the table for the whole build: every INSERT, UPDATE and DELETE waits, for minutes on a large table.\n\
\n\
## Instead\n\
`CREATE INDEX CONCURRENTLY ...` in a migration file of its own (cutover runs a file made only of such statements outside a transaction, with no directive); it takes SHARE UPDATE EXCLUSIVE, which lets reads and writes go on.\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n\
```\n\
\n\
## Example\n\
```sql\n\
CREATE INDEX i ON users (email);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    // `ON ONLY` a partitioned table builds nothing: the index stays invalid until partitions attach.
    let Action::CreateIndex { table, concurrently: false, only: false, .. } = &effect.action else { return Vec::new() };
    if ctx.is_empty(table) {
        return Vec::new();
    }
    let (scope, help) = if ctx.schema.is_partitioned(table) {
        (
            " and every partition",
            format!(
                "CREATE INDEX ... ON ONLY the parent, then ALTER INDEX ... ATTACH PARTITION the index of each partition, {}",
                ctx.runner.alone("built with CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY")
            ),
        )
    } else {
        ("", ctx.runner.alone("build it with CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY"))
    };
    // Under a lock that blocks reads, taken earlier in the transaction and held to its end, the
    // build blocks reads too: the outage is the stronger lock's.
    let held = ctx.held_locks.iter().find(|(t, mode, _)| t == table && mode.blocks_reads());
    let message = match held {
        Some((_, mode, line)) => format!(
            "CREATE INDEX without CONCURRENTLY builds on `{table}`{scope} under the {mode} lock held since line {line}, which blocks reads and writes for the whole build"
        ),
        None => format!(
            "CREATE INDEX without CONCURRENTLY locks `{table}`{scope} in SHARE mode, which blocks writes for the whole build"
        ),
    };
    vec![Finding::new(RULE, message, &help).on(table, LockMode::Share).after_whole_write(ctx, table)]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::{lint_errors, lint_ok, run_file};

    /// lemmy: the build after an ALTER (ACCESS EXCLUSIVE, held to commit) blocks reads too.
    #[test]
    fn a_build_under_a_lock_held_earlier_names_it() {
        let found =
            lint_errors("ALTER TABLE users ADD COLUMN bio text;\nCREATE INDEX users_email ON users (email);", RULE);
        assert!(
            found.contains("under the ACCESS EXCLUSIVE lock held since line 1, which blocks reads and writes"),
            "{found}"
        );
        let found = lint_errors("CREATE INDEX users_email ON users (email);", RULE);
        assert!(found.contains("in SHARE mode, which blocks writes for the whole build"), "{found}");
    }

    /// The help says where the concurrent build runs outside a transaction under each runner.
    #[test]
    fn the_help_works_where_the_runner_runs_files() {
        let help = |runner: &str| run_file("CREATE INDEX i ON users (email);", RULE, runner, None);
        assert!(help("cutover").contains("in a migration file of its own (alone, it runs outside a transaction)"));
        let prisma = help("prisma");
        assert!(prisma.contains("alone in a migration file of its own (Prisma sends a file as one query"), "{prisma}");
        let pop = help("pop");
        assert!(
            pop.contains("build it with CREATE INDEX CONCURRENTLY, which cannot run inside the transaction popx wraps every migration in: run it alone in a migration file of its own named `<version>_<name>.postgres.autocommit.up.sql`"),
            "{pop}"
        );
        assert!(help("goose").contains("`-- +goose NO TRANSACTION`"));
        assert!(help("flyway").contains("Flyway runs a script made only of such statements outside a transaction"));
        assert!(
            help("transaction").contains("your tool runs outside a transaction (its per-migration switch), or by hand")
        );
    }

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"CREATE INDEX i ON users (email)", RULE);
        assert!(rendered.contains("index-create-blocking"), "{rendered}");
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"CREATE INDEX CONCURRENTLY i ON users (email)", RULE);
    }
    #[test]
    fn does_not_fire_2() {
        lint_ok(
            r"CREATE TABLE users (email text);
CREATE INDEX i ON users (email)",
            RULE,
        );
    }
}
