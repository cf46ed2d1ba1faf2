//! The `cutover` binary: parse, run, print the error once, exit 0 / 1 / 2.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use cutover::{Args, Exit, ExitStatus};

// Linting thousands of files is mostly parse trees decoded into small allocations, which
// mimalloc serves faster than the system allocator (measured on the corpus: see README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    match cutover::run(args) {
        Ok(status) => status.into(),
        Err(err) => {
            // A closed pipe (`cutover status | head`) is not an error.
            if err.chain().any(|cause| {
                cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let status = err.downcast_ref::<Exit>().map_or(ExitStatus::Error, |exit| exit.status);
            let style = anstyle::AnsiColor::Red.on_default().bold();
            let _ = writeln!(anstream::stderr(), "{style}error:{style:#} {err:#}");
            status.into()
        }
    }
}
