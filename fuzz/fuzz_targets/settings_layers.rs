//! Settings layering: a `cutover.toml` built from the input (every key, values that are valid,
//! at an edge or wrong), an environment and flags are resolved into settings, or refused,
//! never a panic. Settings that resolve are usable (`check()` passes: timeouts within what
//! the servers accept, at least one try, a lower-case history table) and follow the layers'
//! order; a refusal names where the bad value came from (a file key, an environment variable
//! or a flag), and that value alone is refused again.
#![no_main]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cutover_migration::{parse_lock_timeout, Layout, MAX_TIMEOUT};
use cutover_runner::{ConfigError, ConfigFile, Overrides, Settings};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Values that are valid, at an edge, or wrong for some key; the fuzzer also makes its own.
const WORDS: &[&str] = &[
    "0",
    "1ms",
    "999us",
    "500us",
    "1ns",
    "2s",
    " 5s ",
    "1h 30m",
    "24d",
    "25d",
    "2147483647ms",
    "2147483648ms",
    "18446744073709551615s",
    "-1s",
    "1.5s",
    "soon",
    "",
    "cutover_history",
    "public.cutover_history",
    "Cutover_History",
    "a.b.c",
    "x; drop table y",
    "ǅ",
    "native",
    "flyway",
    "diesel",
    "bogus",
    "postgres",
    "mysql",
    "sqlite",
    "cutover",
    "external",
    "index-create-blocking",
    "no-such-rule",
    "error",
    "warning",
    "mariadb-10.11",
    "mysql-8.0.36",
    "Sat 02:00-05:00 UTC",
    "daily 01:00-02:00 UTC",
    "Mon 25:00-26:00 UTC",
    "postgres://u:secret@h/db",
    "sqlite://app.db",
    "2026-11-28T03:00:00Z",
    "yesterday",
    "APP_DB",
];

/// Top-level keys of `cutover.toml` whose values are strings.
const FILE_STRINGS: &[&str] = &[
    "dir",
    "layout",
    "database_url",
    "database_url_env",
    "history_table",
    "lock_timeout",
    "statement_timeout",
    "retry_backoff",
    "runner_lock_wait",
];

const LINT_STRINGS: &[&str] = &["assume_runner", "dialect", "server_version"];

/// Variables `resolve` reads (`APP_DB` through `database_url_env`).
const ENV_KEYS: &[&str] = &[
    "CUTOVER_NOW",
    "CUTOVER_DIR",
    "CUTOVER_LAYOUT",
    "CUTOVER_HISTORY_TABLE",
    "CUTOVER_LOCK_TIMEOUT",
    "CUTOVER_STATEMENT_TIMEOUT",
    "CUTOVER_RETRY_BACKOFF",
    "CUTOVER_RUNNER_LOCK_WAIT",
    "CUTOVER_LOCK_RETRIES",
    "CUTOVER_DATABASE_URL",
    "DATABASE_URL",
    "APP_DB",
];

/// One line of the file: its dotted key (`lint.levels.<rule>` for a level), its section, and
/// the TOML text.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    section: &'static str,
    line: String,
}

#[derive(Debug)]
struct Input {
    /// `None`: no config file. Raw text when the input asked for it.
    entries: Option<Vec<Entry>>,
    raw: Option<String>,
    env: BTreeMap<String, String>,
    overrides: Overrides,
}

fn word(u: &mut Unstructured) -> Result<String> {
    if u.ratio(3, 4)? {
        Ok(u.choose(WORDS)?.to_string())
    } else {
        u.arbitrary()
    }
}

/// A maintenance window: a day, a time range and a zone, each well-formed or not.
fn window(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 4)? {
        return word(u);
    }
    let mut part = |choices: &[&str]| -> Result<String> {
        if u.ratio(3, 4)? {
            Ok(u.choose(choices)?.to_string())
        } else {
            u.arbitrary()
        }
    };
    let day = part(&["Sat", "saturday", "daily", "Mo", "", "Søn", "Пн", "土曜日"])?;
    let range = part(&["02:00-05:00", "23:00-01:00", "00:00-24:00", "24:00-00:01", "1:1-1:1", "02:00", "-"])?;
    let zone = part(&["UTC", "utc", "CET", ""])?;
    Ok(format!("{day} {range} {zone}"))
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn number(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => "0".to_string(),
        1 => u.int_in_range(1u32..=20)?.to_string(),
        2 => u.arbitrary::<i64>()?.to_string(),
        _ => quoted(&word(u)?),
    })
}

fn entries(u: &mut Unstructured) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut add = |key: String, section: &'static str, line: String| entries.push(Entry { key, section, line });
    for key in FILE_STRINGS {
        if u.ratio(1, 3)? {
            add(key.to_string(), "", format!("{key} = {}", quoted(&word(u)?)));
        }
    }
    if u.ratio(1, 3)? {
        add("lock_retries".into(), "", format!("lock_retries = {}", number(u)?));
    }
    for key in LINT_STRINGS {
        if u.ratio(1, 5)? {
            add(format!("lint.{key}"), "lint", format!("{key} = {}", quoted(&word(u)?)));
        }
    }
    if u.ratio(1, 5)? {
        add("lint.pg_version".into(), "lint", format!("pg_version = {}", number(u)?));
    }
    if u.ratio(1, 5)? {
        let rules: Vec<String> =
            (0..u.int_in_range(0..=2)?).map(|_| word(u).map(|w| quoted(&w))).collect::<Result<_>>()?;
        add("lint.disable".into(), "lint", format!("disable = [{}]", rules.join(", ")));
    }
    if u.ratio(1, 5)? {
        let rule = word(u)?;
        let level = word(u)?;
        add(format!("lint.levels.{rule}"), "lint.levels", format!("{} = {}", quoted(&rule), quoted(&level)));
    }
    if u.ratio(1, 5)? {
        let windows: Vec<String> =
            (0..u.int_in_range(0..=2)?).map(|_| window(u).map(|w| quoted(&w))).collect::<Result<_>>()?;
        add("policy.windows".into(), "policy", format!("windows = [{}]", windows.join(", ")));
    }
    Ok(entries)
}

/// The file's text: top-level keys first, then one header per section.
fn text_of(entries: &[Entry]) -> String {
    let mut text = String::new();
    for section in ["", "lint", "lint.levels", "policy"] {
        let lines: Vec<&Entry> = entries.iter().filter(|e| e.section == section).collect();
        if lines.is_empty() {
            continue;
        }
        if !section.is_empty() {
            text.push_str(&format!("[{section}]\n"));
        }
        for entry in lines {
            text.push_str(&entry.line);
            text.push('\n');
        }
    }
    text
}

fn duration(u: &mut Unstructured) -> Result<Duration> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Duration::ZERO,
        1 => Duration::from_micros(u.int_in_range(1..=2000)?),
        2 => MAX_TIMEOUT,
        3 => MAX_TIMEOUT + Duration::from_nanos(u.int_in_range(1..=2_000_000)?),
        4 => Duration::from_secs(u.arbitrary()?),
        _ => Duration::from_nanos(u.arbitrary()?),
    })
}

fn input(u: &mut Unstructured) -> Result<Input> {
    let (entries, raw) = match u.int_in_range(0..=15)? {
        0 => (None, None),
        1 => (None, Some(u.arbitrary::<String>()?)),
        _ => (Some(entries(u)?), None),
    };
    let mut env = BTreeMap::new();
    for key in ENV_KEYS {
        if u.ratio(1, 4)? {
            env.insert(key.to_string(), word(u)?);
        }
    }
    let layout = if u.ratio(1, 4)? { Some(*u.choose(&Layout::ALL)?) } else { None };
    let overrides = Overrides {
        dir: if u.ratio(1, 4)? { Some(PathBuf::from(word(u)?)) } else { None },
        layout,
        database_url: if u.ratio(1, 4)? { Some(word(u)?) } else { None },
        lock_timeout: if u.ratio(1, 3)? { Some(duration(u)?) } else { None },
    };
    Ok(Input { entries, raw, env, overrides })
}

const PATH: &str = "cutover.toml";

fn resolve(
    text: Option<&str>,
    env: &BTreeMap<String, String>,
    overrides: Overrides,
) -> Option<Result<Settings, ConfigError>> {
    let file = match text {
        // A file that is not cutover's TOML is refused before the layers (`read_config_file`).
        Some(text) => Some((Path::new(PATH), toml::from_str::<ConfigFile>(text).ok()?)),
        None => None,
    };
    let lookup = |key: &str| env.get(key).cloned();
    Some(Settings::resolve(file, &lookup, overrides))
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = input(&mut Unstructured::new(data)) else { return };
    let text = input.raw.clone().or_else(|| input.entries.as_deref().map(text_of));
    let Some(res) = resolve(text.as_deref(), &input.env, input.overrides.clone()) else { return };
    match res {
        Ok(settings) => check_settings(&settings, &input),
        Err(err) => check_refusal(&err, &input),
    }
});

fn check_settings(settings: &Settings, input: &Input) {
    if let Err(err) = settings.check() {
        panic!("resolved settings fail their own check: {err}\n{input:?}");
    }
    assert!(settings.lock_timeout >= Duration::from_millis(1), "lock timeout {:?}", settings.lock_timeout);
    assert!(settings.lock_timeout <= MAX_TIMEOUT, "lock timeout {:?}", settings.lock_timeout);
    assert!(
        settings.statement_timeout.is_zero()
            || (settings.statement_timeout >= Duration::from_millis(1) && settings.statement_timeout <= MAX_TIMEOUT),
        "statement timeout {:?}",
        settings.statement_timeout
    );
    assert!(settings.lock_retries.get() >= 1);
    // FINDING (not fixed here, for the lead): `parse_table` refuses upper-case letters only, so
    // a titlecase letter (`ǅ`, whose lower case is `ǆ`) gets through; this fails on it.
    assert_eq!(
        settings.history_table,
        settings.history_table.to_lowercase(),
        "the history table is not lower case: one table could go by two spellings"
    );

    // The layers' order: flag, then environment, then file, then the default.
    let file_value = |key: &str| -> Option<String> {
        let entry = input.entries.as_ref()?.iter().find(|e| e.key == key)?;
        let value: toml::Value = toml::from_str::<toml::Table>(&entry.line).ok()?.into_iter().next()?.1;
        value.as_str().map(str::to_string)
    };
    let expected_lock_timeout = input
        .overrides
        .lock_timeout
        .or_else(|| input.env.get("CUTOVER_LOCK_TIMEOUT").map(|t| parse_lock_timeout(t).unwrap()))
        .or_else(|| file_value("lock_timeout").map(|t| parse_lock_timeout(&t).unwrap()));
    if input.raw.is_none() {
        assert_eq!(settings.lock_timeout, expected_lock_timeout.unwrap_or(Duration::from_secs(2)), "{input:?}");
        let file_url = match (file_value("database_url"), file_value("database_url_env")) {
            (Some(url), _) => Some(url),
            (None, Some(var)) => input.env.get(&var).cloned(),
            (None, None) => None,
        };
        let expected_url = input
            .overrides
            .database_url
            .clone()
            .or_else(|| input.env.get("CUTOVER_DATABASE_URL").cloned())
            .or(file_url)
            .or_else(|| input.env.get("DATABASE_URL").cloned());
        assert_eq!(settings.database_url, expected_url, "{input:?}");
    }
}

/// Where a refused value came from, as the error names it.
#[derive(Debug)]
enum Source {
    FileKey(String),
    EnvVar(String),
    LockTimeoutFlag,
}

fn source_of(origin: &str) -> Option<Source> {
    if origin == "--lock-timeout" {
        return Some(Source::LockTimeoutFlag);
    }
    if let Some(rest) = origin.strip_prefix("environment variable ") {
        return Some(Source::EnvVar(rest.split(' ').next()?.to_string()));
    }
    let key = origin.strip_prefix('`')?.strip_suffix(&format!("` in {PATH}"))?;
    Some(Source::FileKey(key.to_string()))
}

fn check_refusal(err: &ConfigError, input: &Input) {
    let ConfigError::BadValue { origin, message } = err else {
        panic!("resolve refused with something other than a bad value: {err}\n{input:?}");
    };
    assert!(!message.is_empty(), "{err}");
    let source =
        source_of(origin).unwrap_or_else(|| panic!("the error names no file key, variable or flag: {err}\n{input:?}"));
    // The named value, alone in its layer, is refused again: the error blames the right one.
    let alone = match &source {
        Source::LockTimeoutFlag => {
            let flag = input.overrides.lock_timeout.unwrap_or_else(|| panic!("{err} but no --lock-timeout was given"));
            resolve(None, &BTreeMap::new(), Overrides { lock_timeout: Some(flag), ..Overrides::default() })
        }
        Source::EnvVar(var) => {
            let value = input.env.get(var).unwrap_or_else(|| panic!("{err} but {var} is not set\n{input:?}"));
            let env = BTreeMap::from([(var.clone(), value.clone())]);
            resolve(None, &env, Overrides::default())
        }
        Source::FileKey(key) => {
            let Some(entries) = &input.entries else {
                // Raw text: the key must be one of the file's.
                assert!(text_has_key(input.raw.as_deref().unwrap_or(""), key), "{err} names a key the file lacks");
                return;
            };
            let own: Vec<Entry> =
                entries.iter().filter(|e| e.key == *key || e.key.starts_with(&format!("{key}."))).cloned().collect();
            assert!(!own.is_empty(), "{err} names a key the file lacks\n{input:?}");
            resolve(Some(&text_of(&own)), &BTreeMap::new(), Overrides::default())
        }
    };
    match alone {
        Some(Err(ConfigError::BadValue { origin: again, .. })) => {
            // `CUTOVER_LAYOUT` says when `--layout` overrode it; alone it is plainly wrong.
            assert!(origin.starts_with(&again), "alone, the value is blamed on {again}, not {origin}\n{input:?}")
        }
        other => panic!("{err}, but that value alone resolves to {other:?}\n{input:?}"),
    }
}

/// Whether raw TOML text has `key` (dotted) somewhere: a loose check for text the fuzzer wrote.
fn text_has_key(text: &str, key: &str) -> bool {
    let Ok(table) = toml::from_str::<toml::Table>(text) else { return false };
    let mut value = &toml::Value::Table(table);
    for part in key.split('.') {
        match value.get(part) {
            Some(inner) => value = inner,
            None => return false,
        }
    }
    true
}
