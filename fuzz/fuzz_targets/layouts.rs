//! The layout readers: up to four files (names and contents from the input, `\0`-separated)
//! in a folder are read as some layout or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let dir = tempfile::tempdir().unwrap();
    let parts: Vec<&str> = data.split('\0').collect();
    for pair in parts.chunks(2).take(4) {
        let name: String = pair[0].chars().filter(|c| *c != '/' && *c != '\\').take(100).collect();
        if name.is_empty() || name == "." || name == ".." {
            continue;
        }
        let name = if name.ends_with(".sql") || name.ends_with(".toml") { name } else { format!("{name}.sql") };
        let _ = std::fs::write(dir.path().join(name), pair.get(1).unwrap_or(&""));
    }
    let _ = cutover_migration::discover(dir.path(), None);
});
