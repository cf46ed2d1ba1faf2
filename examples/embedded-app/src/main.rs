//! An application that migrates at start-up: `DATABASE_URL=... cargo run -p cutover-example-embedded-app`.
//!
//! Its migrations are compiled in. The safe ones run as it starts, once however many replicas
//! start together; the unsafe one (a column drop) is left pending, logged, and shown on the
//! health line, for a reviewed deploy with `cutover up`.

fn main() -> std::process::ExitCode {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("set DATABASE_URL (postgres://..., mysql://..., sqlite://app.db)");
        return std::process::ExitCode::from(2);
    };
    let migrations = cutover_embed::embed_migrations!("migrations");
    match cutover_embed::migrate_on_startup(&url, &migrations, &cutover_embed::StartupOptions::default()) {
        Ok(report) => {
            // The log line, and what a health endpoint would return.
            eprintln!("{report}");
            println!("health: schema {}", if report.up_to_date() { "up to date" } else { "behind (see the log)" });
            // ... the application would now serve requests ...
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cutover: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
