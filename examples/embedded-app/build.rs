// Cargo rebuilds when an embedded migration changes, not when one is added to the folder: this
// makes a new migration (or a review written since) part of the next build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
