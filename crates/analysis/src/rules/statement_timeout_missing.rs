//! Rule `statement-timeout-missing`: its documentation is `DOC`, printed by `cutover explain statement-timeout-missing`.

use crate::rules::{is_long_on_existing, Context, Finding};
use crate::runner::{Runner, Tool};
use crate::{Action, Effect};

pub(crate) const RULE: &str = "statement-timeout-missing";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A migration run by another tool than cutover that scans, rewrites or writes the rows of an existing table without first setting `statement_timeout`. Like `lock-timeout-missing`, it only fires for another runner (`--assume-runner`): cutover's runner sets `statement_timeout` itself.\n\
\n\
## Why is this bad?\n\
Without a statement timeout, a statement that turns out to be slow on the production table (a validation scan, a rewrite, a mass update) keeps its locks for as long as it runs, and nobody decided how long that may be.\n\
\n\
## Instead\n\
Start the migration with `SET statement_timeout = '...'` sized for the work (golang-migrate also takes `x-statement-timeout` in its database URL; for a statement that must be alone in its file, `ALTER ROLE ... SET statement_timeout`), or run long work outside the migration (`cutover backfill`, `CREATE INDEX CONCURRENTLY`).\n\
\n\
```sql\n\
SET lock_timeout = '2s';\n\
SET statement_timeout = '1min';\n\
ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email <> '') NOT VALID;\n\
-- next migration\n\
SET statement_timeout = '30min';\n\
ALTER TABLE users VALIDATE CONSTRAINT users_email_check;\n\
```\n\
\n\
## Example\n\
```sql\n\
-- run by psql or another migration tool\n\
ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email <> '');\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    if ctx.runner == Runner::Cutover
        || ctx.statement_timeout_set
        || ctx.long_statement_before
        || !is_long_on_existing(effect, ctx)
    {
        return Vec::new();
    }
    let table = effect.locks.first().map_or("", |(table, _)| table.as_str());
    let message = match &effect.action {
        // A DO block whose tables cutover could not read (tester 17: "grows with ``").
        Action::Opaque { what } if table.is_empty() => {
            format!("cutover cannot see how long this {what} runs, and no statement_timeout bounds it")
        }
        _ => format!("this statement's time grows with `{table}` and no statement_timeout bounds it"),
    };
    let mut finding = Finding::new(
        RULE,
        message,
        &match ctx.runner.tool() {
            _ if ctx.must_stand_alone(effect) => {
                "it must be alone in its file, where no SET can come before it: give the role that runs the migrations a statement timeout sized for the work (ALTER ROLE migrator SET statement_timeout = '...'; cutover's runner sets one)".to_string()
            }
            // golang-migrate's postgres driver takes one for every migration.
            Some(Tool::GolangMigrate) => "begin the file with SET statement_timeout = '...' sized for the work, or give golang-migrate's database URL `x-statement-timeout` (milliseconds)".to_string(),
            _ => format!("{} with SET statement_timeout = '...' sized for the work (cutover's runner sets one)", ctx.runner.begin()),
        },
    );
    if let Some((table, lock)) = effect.locks.first().filter(|(table, _)| !table.is_empty()) {
        finding = finding.on(table, *lock);
    }
    vec![finding]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::rules::test_utils::run_with;
    use crate::LintConfig;

    fn external(sql: &str) -> String {
        run_with(&[(sql, true)], RULE, LintConfig { runner: crate::Runner::Script(None), ..LintConfig::default() })
    }

    #[test]
    fn fires_on_long_work_under_an_external_runner() {
        assert!(external("UPDATE users SET active = true;").contains("`users`"));
        assert!(external("ALTER TABLE users ADD CONSTRAINT c CHECK (n > 0);").contains("statement_timeout"));
    }

    #[test]
    fn a_do_block_of_unseen_tables_is_said_so() {
        let found = external("DO $$ BEGIN PERFORM 1; END $$;");
        assert!(found.contains("cannot see how long this DO block runs"), "{found}");
        assert!(!found.contains("``"), "{found}");
    }

    #[test]
    fn does_not_fire_with_a_timeout_under_cutover_or_on_quick_statements() {
        assert_eq!(external("SET statement_timeout = '5min';\nUPDATE users SET active = true;"), "");
        assert_eq!(run_with(&[("UPDATE users SET active = true;", true)], RULE, LintConfig::default()), "");
        assert_eq!(external("ALTER TABLE users ADD COLUMN bio text;"), "");
    }
}
