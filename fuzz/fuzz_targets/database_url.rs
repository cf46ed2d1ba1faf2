//! Database URLs: any text parses or is refused, never a panic; a URL with a password never
//! shows it whole (`Display`, `Debug`, `redacted`), `scrub` hides it in any text, and a URL
//! refused shows no text that could be its password, wherever that password ends.
#![no_main]
use cutover_engine::{DatabaseUrl, UrlError};
use libfuzzer_sys::fuzz_target;

/// Whether `text` shows `secret` outside the `***` masks.
fn shows(text: &str, secret: &str) -> bool {
    let filler = (1..=64u8).map(char::from).find(|c| !secret.contains(*c)).unwrap_or('\u{1}');
    // White space alone (`u: @h`) is no secret a message could show: messages are made of it.
    !secret.trim().is_empty() && text.replace("***", &filler.to_string()).contains(secret)
}

/// What follows `://`, or the whole text.
fn rest(text: &str) -> &str {
    text.split_once("://").map_or(text, |(_, rest)| rest)
}

/// The password as the URL standard reads it (the authority ends at `/`, `?` or `#`; the user
/// info at its last `@`; the password after the first `:`).
fn standard_password(text: &str) -> Option<&str> {
    let rest = rest(text);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    Some(authority.rsplit_once('@')?.0.split_once(':')?.1)
}

/// Every text a reader might take for the password: what follows the first `:` before an `@`.
fn possible_passwords(text: &str) -> Vec<&str> {
    let rest = rest(text);
    rest.match_indices('@').filter_map(|(at, _)| Some(rest[..at].split_once(':')?.1)).collect()
}

fuzz_target!(|text: &str| {
    match DatabaseUrl::parse(text) {
        Ok(url) => {
            let raw = url.expose().to_string();
            let redacted = url.redacted();
            if redacted != raw {
                for shown in
                    [format!("{url}"), format!("{url:?}"), redacted.clone(), url.scrub(&format!("error: {raw}"))]
                {
                    assert!(!shown.contains(&raw), "the URL with its password survived: {shown}");
                }
            }
            if let Some(password) = standard_password(url.expose()) {
                let debug = format!("{url:?}");
                // The URL inside `DatabaseUrl(...)`: the closing parenthesis is the format's.
                let debug = debug.strip_prefix("DatabaseUrl(").and_then(|d| d.strip_suffix(')')).unwrap_or(&debug);
                for shown in [url.to_string(), debug.to_string(), redacted, url.scrub(password)] {
                    assert!(!shows(&shown, password), "{password:?} shown: {shown}");
                }
            }
        }
        Err(err) => {
            // The parts of the message that come from the URL, each on its own (joined, a
            // field's end and the next one's start could spell a secret no message shows; the
            // message's own words, such as `user@host`, are no secret either).
            let shown: Vec<String> = match &err {
                UrlError::UnknownScheme { scheme, redacted } => vec![scheme.clone(), redacted.clone()],
                UrlError::NoScheme { redacted }
                | UrlError::Unencoded { redacted, .. }
                | UrlError::NoSqliteFile { redacted } => vec![redacted.clone()],
                _ => Vec::new(),
            };
            // The longest possible password holds every shorter one: hidden, it hides them all
            // in the URL (a shorter one may still occur by chance in the host, say).
            // A password whose text also stands elsewhere in the URL (`late:*\0@**\0`: `*\0` is
            // in the host too) may be shown there: the message cannot hide the host.
            let elsewhere = |password: &str| text.trim().replacen(password, "", 1).contains(password);
            for shown in &shown {
                if let Some(longest) = possible_passwords(text.trim()).into_iter().max_by_key(|p| p.len()) {
                    assert!(elsewhere(longest) || !shows(shown, longest), "{longest:?} shown: {shown}");
                }
                if let Some(password) = standard_password(text.trim()) {
                    assert!(elsewhere(password) || !shows(shown, password), "{password:?} shown: {shown}");
                }
            }
        }
    }
});
