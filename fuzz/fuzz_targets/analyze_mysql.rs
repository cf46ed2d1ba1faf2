//! The MySQL front end (sqlparser) and its rules: any split script is analysed and linted without a
//! panic, for MariaDB 10.11.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(statements) = cutover_migration::split_statements(text) else { return };
    let config = cutover_analysis::LintConfig { dialect: cutover_analysis::Dialect::Mysql, ..cutover_analysis::LintConfig::default() };
    let mut linter = cutover_analysis::Linter::new(config);
    let script = cutover_analysis::Script { text, statements: &statements, in_transaction: true, no_transaction_by: None, has_down: Some(false) };
    let _ = linter.lint(&script);
    // Twice: the second run sees the schema the first one replayed.
    let _ = linter.lint(&script);
});
