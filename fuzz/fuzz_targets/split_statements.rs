//! The statement splitter: any text splits or is refused, never panics; statements keep their
//! order and their spans point into the text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(statements) = cutover_migration::split_statements(text) {
        let mut end = 0;
        for statement in &statements {
            assert!(statement.span.start >= end && statement.span.end <= text.len());
            assert!(text.get(statement.span.clone()).is_some(), "a span cuts a character");
            end = statement.span.end;
        }
    }
});
