//! `-- cutover:` directives: any text is read or refused with a line, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut settings = cutover_migration::ScriptSettings::default();
    let _ = cutover_migration::read_directives(text, &mut settings);
    let _ = cutover_migration::parse_duration(text);
});
