//! `cutover.toml`: any text is read and resolved into settings, or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(file) = toml::from_str::<cutover_runner::ConfigFile>(text) {
        let path = std::path::Path::new("cutover.toml");
        let _ = cutover_runner::Settings::resolve(Some((path, file)), &|_| None, cutover_runner::Overrides::default());
    }
});
