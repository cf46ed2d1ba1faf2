//! Rule `lock-timeout-missing`: its documentation is `DOC`, printed by `cutover explain lock-timeout-missing`.

use crate::rules::{blocks_reads_on_existing, blocks_writes_on_existing, Context, Finding};
use crate::runner::Runner;

use crate::{Effect, LockMode, Severity};

pub(crate) const RULE: &str = "lock-timeout-missing";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A migration run by another tool than cutover that takes a lock blocking writes on an existing table without first setting `lock_timeout`. cutover's own runner sets `lock_timeout` on every migration (and retries), so this rule only fires for another runner (`--assume-runner script`, `transaction` or a tool's name, or `assume_runner` under `[lint]`).\n\
\n\
## Why is this bad?\n\
A DDL statement that waits for its lock (behind a long query or an idle transaction) sits in the lock queue, and every later query on the table queues behind it: the table is down until the blocker ends, though the DDL itself would take milliseconds.\n\
\n\
An error when the waiting lock blocks reads (`ACCESS EXCLUSIVE`: most `ALTER TABLE`s, policies, rules, replacing a view): the whole table is down while it waits. A warning when plain reads go on (`SHARE` for an index build, `SHARE ROW EXCLUSIVE` for a trigger or on the table a new foreign key references, `EXCLUSIVE`, which also queues `SELECT ... FOR UPDATE` and the foreign key checks of tables referencing it): it waits only behind open writers (or an anti-wraparound vacuum).\n\
\n\
## Instead\n\
Start the migration with `SET lock_timeout = '2s';` (and retry the migration when it times out), or let cutover run it. A statement that must be alone in its file (`CREATE INDEX CONCURRENTLY` under a tool that sends the file as one query) can have no `SET` before it: give the role that runs the migrations a lock timeout (`ALTER ROLE ... SET lock_timeout`).\n\
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
    if ctx.runner == Runner::Cutover
        || ctx.lock_timeout_set
        || !blocks_writes_on_existing(effect, ctx)
        // Once per file; again at the first wait that queues reads when the earlier ones
        // queued writes only (a warning, where this one is an error).
        || ctx.read_blocking_lock_before
        || ctx.blocking_lock_before && !blocks_reads_on_existing(effect, ctx)
    {
        return Vec::new();
    }
    // The wait is on a table that exists and holds rows: one created (or proven empty) in this
    // transaction is this session's alone, its lock granted at once.
    let existing = |table: &str| !table.is_empty() && !ctx.is_new(table) && !ctx.is_empty(table);
    // The wait that takes the most down is named: one that queues reads too, if any.
    let waiting = |reads: bool| {
        effect
            .locks
            .iter()
            .find(|(table, mode)| mode.blocks_writes() && mode.blocks_reads() == reads && existing(table))
    };
    let Some((table, lock)) = waiting(true).or_else(|| waiting(false)) else {
        return Vec::new();
    };
    // Queued requests are served in order: what conflicts with the waiting lock waits behind
    // it; under a lock that lets reads through, reads go on.
    let queued = if lock.blocks_reads() {
        format!("every query on `{table}` queues behind it")
    } else if *lock == LockMode::Exclusive {
        format!("every write to `{table}`, locking read (FOR UPDATE, FOR SHARE) and check of a foreign key referencing it queues behind it (plain reads go on)")
    } else {
        format!("every write to `{table}` queues behind it (reads go on)")
    };
    // The other tables it waits for too (a dropped table's referenced tables, say).
    let also: Vec<String> = effect
        .locks
        .iter()
        .filter(|(other, mode)| other != table && mode.blocks_writes() && existing(other))
        .map(|(other, mode)| format!("{mode} on `{other}`"))
        .collect();
    let also = if also.is_empty() { String::new() } else { format!(" (and {})", also.join(", ")) };
    vec![Finding::new(
        RULE,
        format!("{lock} on `{table}`{also} is requested with no lock_timeout: while it waits, {queued}"),
        &match ctx.must_stand_alone(effect) {
            true => format!(
                "it must be alone in its file, where no SET can come before it: give the role that runs the migrations a lock timeout (ALTER ROLE migrator SET lock_timeout = '2s'), and run the migration again when it times out{} (cutover's runner sets the timeout and retries by itself)",
                ctx.runner.run_again()
            ),
            false => format!(
                "{} with SET lock_timeout = '2s'; then a lock not granted in time fails the migration instead of holding up the table, and it can be run again{} (cutover's runner sets the timeout and retries by itself)",
                ctx.runner.begin(),
                ctx.runner.run_again()
            ),
        },
    )
    .on(table, *lock)
    // Reviewers (docs/reviews) judged a wait that queues writes only debatable as an error: it
    // waits behind open writers alone, and the application's reads go on.
    .at(if lock.blocks_reads() { Severity::Error } else { Severity::Warning })]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::LintConfig;

    fn external(sql: &str) -> String {
        run_with(&[(sql, true)], RULE, LintConfig { runner: crate::Runner::Script(None), ..LintConfig::default() })
    }

    fn external_severities(sql: &str) -> Vec<crate::Severity> {
        let config = LintConfig {
            runner: crate::Runner::Script(None),
            only_rule: Some(RULE.to_string()),
            ..LintConfig::default()
        };
        let mut linter = crate::Linter::new(config);
        crate::rules::test_utils::lint_next(&mut linter, sql, true).iter().map(|d| d.severity).collect()
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

    /// langfuse: a table created in the file waits for nothing; the table its foreign key
    /// references does, and under SHARE ROW EXCLUSIVE only its writes queue.
    #[test]
    fn the_wait_is_named_on_the_existing_table_with_what_queues() {
        let found = external("CREATE TABLE prices (id int, model_id int REFERENCES models (id));");
        assert!(found.contains("SHARE ROW EXCLUSIVE on `models`"), "{found}");
        assert_eq!(
            external_severities("CREATE TABLE prices (id int, model_id int REFERENCES models (id));"),
            [crate::Severity::Warning],
            "only writes queue"
        );
        assert!(found.contains("every write to `models` queues behind it (reads go on)"), "{found}");
        let found = external("ALTER TABLE users ADD COLUMN bio text;");
        assert!(found.contains("every query on `users` queues behind it"), "{found}");
        assert_eq!(external_severities("ALTER TABLE users ADD COLUMN bio text;"), [crate::Severity::Error]);
        // A file whose first wait queues writes only, and a later one reads: the later one is
        // the error.
        let both = "CREATE TRIGGER audit AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION audit();\nALTER TABLE orders ADD COLUMN note text;\nALTER TABLE items ADD COLUMN note text;";
        assert_eq!(external_severities(both), [crate::Severity::Warning, crate::Severity::Error], "{}", external(both));
    }

    /// langfuse: dropping a retired table also locks the live table its key references.
    #[test]
    fn every_table_the_statement_waits_for_is_named() {
        let created = "CREATE TABLE dataset_runs (id int PRIMARY KEY);\nCREATE TABLE dataset_run_items (id int, run_id int REFERENCES dataset_runs (id));";
        let found = run_with(
            &[(created, true), ("DROP TABLE dataset_run_items;", true)],
            RULE,
            LintConfig { runner: crate::Runner::Script(None), ..LintConfig::default() },
        );
        assert!(
            found.contains("ACCESS EXCLUSIVE on `dataset_run_items` (and ACCESS EXCLUSIVE on `dataset_runs`)"),
            "{found}"
        );
    }

    /// A statement that must be alone in its file can have no SET before it: the role's.
    #[test]
    fn a_statement_alone_in_its_file_gets_the_roles_timeout() {
        let prisma = crate::rules::test_utils::run_file("VACUUM FULL events;", RULE, "prisma", None);
        assert!(prisma.contains("ALTER ROLE"), "{prisma}");
        assert!(prisma.contains("prisma migrate resolve --rolled-back"), "{prisma}");
        // DETACH PARTITION CONCURRENTLY waits for SHARE UPDATE EXCLUSIVE: writes go on.
        let detach = "ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;";
        assert_eq!(crate::rules::test_utils::run_file(detach, RULE, "prisma", None), "");
        let alter = crate::rules::test_utils::run_file("ALTER TABLE users ADD COLUMN bio text;", RULE, "prisma", None);
        assert!(alter.contains("begin the file with SET lock_timeout"), "{alter}");
    }

    /// Tester 17, each lock seen in pg_locks on PostgreSQL 15.
    #[test]
    fn policies_rules_and_replaced_views_wait_for_access_exclusive() {
        for sql in [
            "CREATE POLICY p ON users USING (true);",
            "ALTER POLICY p ON users USING (false);",
            "DROP POLICY IF EXISTS p ON users;",
            "CREATE RULE r AS ON INSERT TO users DO ALSO NOTIFY users;",
            "DROP RULE r ON users;",
        ] {
            let found = external(sql);
            assert!(found.contains("ACCESS EXCLUSIVE on `users`"), "{sql}: {found}");
        }
        let config = LintConfig { runner: crate::Runner::Script(None), ..LintConfig::default() };
        let replace = "CREATE OR REPLACE VIEW v_users AS SELECT id, email FROM users;";
        let found =
            run_with(&[("CREATE VIEW v_users AS SELECT id FROM users, orgs;", true), (replace, true)], RULE, config);
        assert!(found.contains("ACCESS EXCLUSIVE on `v_users`"), "{found}");
        // A view not there is made, with no wait (the rehearsal saw no lock taken).
        assert_eq!(external(replace), "");
        assert_eq!(external("CREATE VIEW v_new AS SELECT id FROM users;"), "");
    }

    #[test]
    fn exclusive_is_a_warning_that_names_what_it_queues() {
        assert_eq!(external_severities("LOCK TABLE users IN EXCLUSIVE MODE;"), [crate::Severity::Warning]);
        let found = external("LOCK TABLE users IN EXCLUSIVE MODE;");
        assert!(found.contains("locking read (FOR UPDATE, FOR SHARE)"), "{found}");
    }

    /// Tester 17: `RESET ALL` puts the timeout back to none; a `SET LOCAL` ends with its
    /// transaction.
    #[test]
    fn reset_all_and_a_committed_set_local_leave_no_timeout() {
        assert_ne!(external("SET lock_timeout = '2s';\nRESET ALL;\nALTER TABLE users ADD COLUMN bio text;"), "");
        let after_commit =
            "BEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN x int;\nCOMMIT;\nALTER TABLE orgs ADD COLUMN y int;";
        let found = external(after_commit);
        assert!(found.contains("on `orgs`"), "{found}");
        assert!(!found.contains("on `users`"), "{found}");
        // set_config as SET does (tester 17).
        assert_eq!(external("SELECT set_config('lock_timeout', '2s', false);\nALTER TABLE orgs ADD COLUMN y int;"), "");
        assert_ne!(external("SELECT set_config('lock_timeout', '0', false);\nALTER TABLE orgs ADD COLUMN y int;"), "");
        // A session SET outlasts the COMMIT; a SET LOCAL outside a block sets nothing.
        assert_eq!(external("BEGIN;\nSET lock_timeout = '2s';\nCOMMIT;\nALTER TABLE orgs ADD COLUMN y int;"), "");
    }
}
