//! Database URLs: any text parses or is refused, never a panic; a URL with a password never
//! shows it whole (`Display`, `Debug`, `redacted`), and `scrub` hides it in any text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(url) = cutover_engine::DatabaseUrl::parse(text) else { return };
    let raw = url.expose().to_string();
    let redacted = url.redacted();
    if redacted != raw {
        for shown in [format!("{url}"), format!("{url:?}"), redacted.clone(), url.scrub(&format!("error: {raw}"))] {
            assert!(!shown.contains(&raw), "the URL with its password survived: {shown}");
        }
    }
});
