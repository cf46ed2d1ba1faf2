//! `embed_migrations!("migrations")`: every file of a migrations folder (relative to the
//! calling crate's `Cargo.toml`), compiled into the binary with `include_str!`, so that editing a
//! migration rebuilds the application. Expands to a `cutover_embed::Embedded`.
//!
//! Written without syn/quote: the input is one string literal and the output a literal table,
//! which keeps the build lean.
//!
//! Cargo rebuilds when an embedded file changes, not when one is added: an application adds
//! `println!("cargo:rerun-if-changed=migrations");` to its build script (as
//! `examples/embedded-app/build.rs` does), so that a new migration, or a review written since,
//! is compiled in.

use std::path::{Path, PathBuf};

use proc_macro::TokenStream;

/// Embeds the migrations folder `path` (relative to the crate's manifest directory).
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    let literal = input.to_string();
    let relative = literal.trim().trim_matches('"');
    let root = std::env::var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default().join(relative);
    let mut files = Vec::new();
    if let Err(err) = collect(&root, &root, &mut files) {
        let message = format!("embed_migrations!: cannot read `{}`: {err}", root.display());
        return format!("compile_error!({message:?})").parse().expect("a compile_error! call");
    }
    files.sort();
    let entries: Vec<String> = files
        .iter()
        .map(|(relative, absolute)| format!("({relative:?}, include_str!({:?}))", absolute.display().to_string()))
        .collect();
    format!("::cutover_embed::Embedded {{ files: &[{}] }}", entries.join(", ")).parse().expect("a struct literal")
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // Hidden files (`.DS_Store`, an editor's swap file) are no migrations, as the runner
        // reads a folder; nor is a file that is not text unless it is named like SQL, which
        // `include_str!` then reports.
        let hidden = path.file_name().is_some_and(|name| name.as_encoded_bytes().starts_with(b"."));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            let sql = path.extension().is_some_and(|e| e == "sql");
            if !sql && std::fs::read_to_string(&path).is_err() {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push((relative, path));
        }
    }
    Ok(())
}
