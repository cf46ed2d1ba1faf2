//! Who runs cutover, and when: the identity written to the history and shown to a waiting
//! runner.

use std::path::Path;
use std::time::SystemTime;

use cutover_migration::MigrationSet;

pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) fn relative_path(set: &MigrationSet, path: &Path) -> String {
    path.strip_prefix(&set.dir).unwrap_or(path).display().to_string()
}

/// `user@host pid N`: who ran a migration, for the history and the lock holder.
pub fn runner_identity() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
        .or_else(user_of_process)
        .unwrap_or_else(|| "unknown".to_string());
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{user}@{host} pid {}", std::process::id())
}

/// The login name of this process's user, from `/etc/passwd`, where the environment does not
/// say (cron, CI and containers often leave `$USER` unset).
fn user_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid_field = fields.nth(1)?;
        (uid_field.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// The current time, RFC 3339 in UTC with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
