//! Rule `constraint-not-valid-missing`: its documentation is `DOC`, printed by `cutover explain constraint-not-valid-missing`.

use crate::rules::{alter_cost_findings, Context, Finding};
use crate::{AlterCommand, Effect, LockMode};

pub(crate) const RULE: &str = "constraint-not-valid-missing";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
Adding a CHECK or FOREIGN KEY constraint to an existing table without `NOT VALID`.\n\
\n\
## Why is this bad?\n\
The constraint is checked against every row while the table is locked (ACCESS EXCLUSIVE for CHECK, SHARE ROW EXCLUSIVE for a foreign key), blocking writes for the whole scan.\n\
\n\
## Instead\n\
`ADD CONSTRAINT ... NOT VALID` (instant), then `VALIDATE CONSTRAINT` in a later migration or statement: it takes SHARE UPDATE EXCLUSIVE, which lets reads and writes go on.\n\
\n\
```sql\n\
ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n\
-- next migration\n\
ALTER TABLE orders VALIDATE CONSTRAINT positive;\n\
```\n\
\n\
```sql\n\
-- cutover:no-transaction\n\
ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n\
ALTER TABLE orders VALIDATE CONSTRAINT positive;\n\
```\n\
\n\
## Example\n\
```sql\n\
ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);\n\
```";

pub(crate) fn check(effect: &Effect, ctx: &Context) -> Vec<Finding> {
    alter_cost_findings(effect, ctx, |table, command| match command {
        AlterCommand::AddConstraint {
            kind: kind @ ("CHECK" | "FOREIGN KEY"), not_valid: false, references, ..
        } => {
            let own = if *kind == "FOREIGN KEY" { LockMode::ShareRowExclusive } else { LockMode::AccessExclusive };
            // The check runs under the strongest lock on the table by then: one held since an
            // earlier statement of the transaction, or the one this ALTER takes for its other
            // changes (a DROP CONSTRAINT beside it takes ACCESS EXCLUSIVE).
            let held =
                ctx.held_locks.iter().filter(|(t, mode, _)| t == table && *mode > own).max_by_key(|(_, mode, _)| *mode);
            let this_statement =
                effect.locks.iter().filter(|(t, _)| t == table).map(|(_, mode)| *mode).max().filter(|mode| *mode > own);
            let (lock, under) = match (held, this_statement) {
                (Some((_, held, line)), this) if this.is_none_or(|this| this <= *held) => {
                    (*held, format!("under the {held} lock held since line {line}"))
                }
                (_, Some(this)) => {
                    (this, format!("under the {this} lock this ALTER TABLE takes for its other changes"))
                }
                _ => (own, format!("under {} lock", own.with_article())),
            };
            // The table it references is locked as long, against writes (review 6's #43).
            let referenced = match references {
                Some(referenced) if referenced != table && !ctx.is_new(referenced) => {
                    format!("; writes to `{referenced}`, which it references, wait as long (SHARE ROW EXCLUSIVE)")
                }
                _ => String::new(),
            };
            Some(
                    Finding::new(
                        RULE,
                        format!("adding a {kind} constraint checks every row of `{table}` {under}, which {}{referenced}", lock.blocks()),
                        "add it NOT VALID, then VALIDATE CONSTRAINT separately (SHARE UPDATE EXCLUSIVE: reads and writes go on)",
                    )
                    .on(table, lock)
                    .after_whole_write(ctx, table),
                )
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::RULE;

    /// Real shapes (lemmy's `site`, langfuse's `membership_invitations`, documenso's
    /// `Recipient`): a column added, every row written, then a scan of the same table in the
    /// same transaction. The outage is the write's; each scan after it is a warning that says so.
    #[test]
    fn a_scan_after_a_write_of_every_row_under_the_same_lock_is_a_warning() {
        use crate::Severity;
        let lint = |sql: &str| {
            crate::rules::test_utils::diagnostics(sql, crate::LintConfig::default())
                .into_iter()
                .filter(|d| d.rule != "lock-timeout-missing")
                .map(|d| (d.rule, d.severity, d.message))
                .collect::<Vec<_>>()
        };
        let found = lint(
            "BEGIN;\nALTER TABLE site ADD COLUMN blocked text;\nUPDATE site SET blocked = 'none';\nALTER TABLE site ALTER COLUMN blocked SET NOT NULL;\nALTER TABLE site ADD CONSTRAINT c CHECK (blocked <> '');\nCREATE INDEX site_blocked ON site (blocked);\nCOMMIT;",
        );
        let of = |rule: &str| found.iter().find(|(r, _, _)| *r == rule).unwrap_or_else(|| panic!("{rule}: {found:#?}"));
        assert_eq!(of("backfill-in-migration").1, Severity::Error, "the write is the outage: {found:#?}");
        for rule in ["set-not-null-scan", RULE, "index-create-blocking"] {
            let (_, severity, message) = of(rule);
            assert_eq!(*severity, Severity::Warning, "{rule}: {message}");
            assert!(message.contains("the write at line 3 already held that lock"), "{rule}: {message}");
        }
        // A write that reads the whole table to pick its rows counts (documenso's `WHERE c IS
        // NULL` on a column just added, lemmy's `UPDATE ... FROM`); with no write before it,
        // the scan is the outage, an error.
        let found = lint(
            "BEGIN;\nALTER TABLE site ADD COLUMN blocked text;\nUPDATE site SET blocked = 'x' WHERE blocked IS NULL;\nALTER TABLE site ALTER COLUMN blocked SET NOT NULL;\nCOMMIT;",
        );
        assert_eq!(of_rule(&found, "set-not-null-scan"), Severity::Warning, "{found:#?}");
        let found =
            lint("BEGIN;\nALTER TABLE site ADD COLUMN blocked text;\nALTER TABLE site ALTER COLUMN blocked SET NOT NULL;\nCOMMIT;");
        assert_eq!(of_rule(&found, "set-not-null-scan"), Severity::Error, "{found:#?}");
        // Another transaction's write holds nothing now.
        let found = lint(
            "BEGIN;\nALTER TABLE site ADD COLUMN blocked text;\nUPDATE site SET blocked = 'none';\nCOMMIT;\nBEGIN;\nALTER TABLE site ALTER COLUMN blocked SET NOT NULL;\nCOMMIT;",
        );
        assert_eq!(of_rule(&found, "set-not-null-scan"), Severity::Error, "{found:#?}");
    }

    fn of_rule(found: &[(&str, crate::Severity, String)], rule: &str) -> crate::Severity {
        found.iter().find(|(r, _, _)| *r == rule).map(|(_, s, _)| *s).unwrap_or_else(|| panic!("{rule}: {found:#?}"))
    }
    use crate::rules::test_utils::{lint_errors, lint_ok, run_with};
    use crate::LintConfig;

    #[test]
    fn fires_0() {
        let rendered = lint_errors(r"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0)", RULE);
        assert!(rendered.contains("constraint-not-valid-missing"), "{rendered}");
    }
    /// crates.io and langfuse: a key dropped and added again, in one ALTER or after the DROP.
    #[test]
    fn the_check_is_said_to_run_under_the_strongest_lock_on_the_table() {
        let same_alter = lint_errors(
            "ALTER TABLE versions DROP CONSTRAINT versions_crate_fk, ADD CONSTRAINT versions_crate_fk FOREIGN KEY (crate_id) REFERENCES crates (id)",
            RULE,
        );
        assert!(same_alter.contains("under the ACCESS EXCLUSIVE lock this ALTER TABLE takes for its other changes, which blocks reads and writes"), "{same_alter}");
        let after_drop = lint_errors(
            "ALTER TABLE items DROP CONSTRAINT items_run_fk;\nALTER TABLE items ADD CONSTRAINT items_run_fk FOREIGN KEY (run_id) REFERENCES runs (id)",
            RULE,
        );
        assert!(
            after_drop.contains("under the ACCESS EXCLUSIVE lock held since line 1, which blocks reads and writes"),
            "{after_drop}"
        );
    }
    #[test]
    fn does_not_fire_1() {
        lint_ok(r"ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID", RULE);
    }
    /// The required column and its foreign key, as Prisma writes them: the ALTER that adds the
    /// column succeeds only on an empty table, so the key's check reads no row, in that
    /// statement and, within the transaction, in the later ones.
    #[test]
    fn no_scan_to_fear_on_a_table_proven_empty() {
        let same = r#"ALTER TABLE "Recipient" ADD COLUMN "documentId" INTEGER NOT NULL, ADD CONSTRAINT "Recipient_documentId_fkey" FOREIGN KEY ("documentId") REFERENCES "Document"("id")"#;
        lint_ok(same, RULE);
        let later = r#"ALTER TABLE "Recipient" ADD COLUMN "documentId" INTEGER NOT NULL;
CREATE INDEX "Recipient_documentId_idx" ON "Recipient"("documentId");
ALTER TABLE "Recipient" ADD CONSTRAINT "Recipient_documentId_fkey" FOREIGN KEY ("documentId") REFERENCES "Document"("id") ON DELETE CASCADE;"#;
        lint_ok(later, RULE);
        // Outside a transaction the lock ends with each statement: rows may arrive between.
        let outside = run_with(&[(later, false)], RULE, LintConfig::default());
        assert!(outside.contains("checks every row of `Recipient`"), "{outside}");
        // A nullable column proves nothing.
        let nullable = r#"ALTER TABLE "Recipient" ADD COLUMN "documentId" INTEGER;
ALTER TABLE "Recipient" ADD CONSTRAINT "Recipient_documentId_fkey" FOREIGN KEY ("documentId") REFERENCES "Document"("id");"#;
        let _ = lint_errors(nullable, RULE);
    }

    #[test]
    fn fires_2() {
        let rendered = lint_errors(r"ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES users (id)", RULE);
        assert!(rendered.contains("constraint-not-valid-missing"), "{rendered}");
        // lemmy's modlog keys: the referenced table's writes wait for the whole check too.
        assert!(rendered.contains("writes to `users`, which it references, wait as long"), "{rendered}");
    }
}
