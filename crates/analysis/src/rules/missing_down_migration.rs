//! Rule `missing-down-migration`: its documentation is `DOC`, printed by `cutover explain missing-down-migration`.

use crate::rules::{Context, Finding};

pub(crate) const RULE: &str = "missing-down-migration";

/// What it does, why it is bad, what to do instead, and an example it flags.
pub(crate) const DOC: &str = "## What it does\n\
A migration without a down script, in a layout that can have one (cutover's own, golang-migrate, dbmate, goose, diesel, sqlx reversible, Flyway undo).\n\
\n\
## Why is this bad?\n\
With no tested way back, a bad deploy is undone by hand, in production, in a hurry. `cutover up` and `down` rehearse both ways only when both exist.\n\
\n\
## Instead\n\
Write the down script (for destructive changes: say in it that the data is gone, and restore the schema); `cutover new` creates both files.\n\
\n\
## Example\n\
```sql\n\
-- migrations/20260101000000_add_bio.up.sql with no .down.sql beside it\n\
ALTER TABLE users ADD COLUMN bio text;\n\
```";

pub(crate) fn check_migration(ctx: &Context) -> Vec<(usize, Finding)> {
    if ctx.has_down != Some(false) {
        return Vec::new();
    }
    vec![(
        1,
        Finding::new(
            RULE,
            "this migration has no down script: no tested way back".to_string(),
            "write its down script",
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::RULE;
    use crate::{LintConfig, Linter, Script};

    fn lint(has_down: Option<bool>) -> usize {
        let sql = "ALTER TABLE users ADD COLUMN bio text;";
        let statements = cutover_migration::split_statements(sql).unwrap();
        let mut linter = Linter::new(LintConfig { only_rule: Some(RULE.into()), ..LintConfig::default() });
        linter
            .lint(&Script {
                text: sql,
                statements: &statements,
                in_transaction: true,
                no_transaction_by: None,
                has_down,
            })
            .diagnostics
            .len()
    }

    #[test]
    fn fires_without_a_down_script() {
        assert_eq!(lint(Some(false)), 1);
    }

    #[test]
    fn does_not_fire_with_one_or_when_the_layout_has_none() {
        assert_eq!(lint(Some(true)), 0);
        assert_eq!(lint(None), 0);
    }
}
