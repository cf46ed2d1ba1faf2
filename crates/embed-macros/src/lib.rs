//! `embed_migrations!("migrations")`: every file of a migrations folder (relative to the
//! calling crate's `Cargo.toml`), compiled into the binary with `include_str!`, so that editing a
//! migration rebuilds the application. Expands to a `cutover_embed::Embedded`.
//!
//! Written without syn/quote: the input is one string literal and the output a literal table,
//! which keeps the build lean.

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
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push((relative, path));
        }
    }
    Ok(())
}
