//! Another session's statement as cutover shows it (who holds the lock a migration waits for):
//! its string literals hidden, since a statement may carry a password (`ALTER ROLE ... PASSWORD
//! '...'`) or personal data, and cut to a line.

/// `query` with the contents of its string literals (`'...'`, `E'...'`, `$tag$...$tag$`, and
/// for MySQL `"..."`) replaced by `…`, whitespace runs made one space, cut to `max_chars`.
/// A literal the text ends inside (a statement the server truncated) is hidden to the end.
pub fn query_for_display(query: &str, double_quotes_are_strings: bool, max_chars: usize) -> String {
    let mut out = String::with_capacity(query.len().min(max_chars * 4));
    let mut chars = query.char_indices().peekable();
    let mut last_space = false;
    while let Some((idx, c)) = chars.next() {
        match c {
            '\'' | '"' if c == '\'' || double_quotes_are_strings => {
                // MySQL and E'' strings escape with a backslash; both double the quote.
                while let Some((_, n)) = chars.next() {
                    let escaped = n == '\\' || n == c && chars.peek().map(|(_, p)| *p) == Some(c);
                    if escaped {
                        chars.next();
                    } else if n == c {
                        break;
                    }
                }
                out.push(c);
                out.push('…');
                out.push(c);
                last_space = false;
            }
            // Comments may carry secrets too (`/* password=.. */`): their contents go.
            '/' if chars.peek().map(|(_, n)| *n) == Some('*') => {
                chars.next();
                let mut last = ' ';
                for (_, n) in chars.by_ref() {
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
                out.push_str("/*…*/");
                last_space = false;
            }
            '-' if chars.peek().map(|(_, n)| *n) == Some('-') => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                out.push_str("--… ");
                last_space = true;
            }
            '$' => match dollar_tag(&query[idx..]) {
                Some(tag) => {
                    let body = idx + tag.len();
                    let end = query[body..].find(tag).map_or(query.len(), |at| body + at + tag.len());
                    while chars.peek().is_some_and(|(i, _)| *i < end) {
                        chars.next();
                    }
                    out.push_str(tag);
                    out.push('…');
                    out.push_str(tag);
                    last_space = false;
                }
                None => {
                    out.push(c);
                    last_space = false;
                }
            },
            c if c.is_whitespace() => {
                if !last_space && !out.is_empty() {
                    out.push(' ');
                }
                last_space = true;
            }
            c => {
                out.push(c);
                last_space = false;
            }
        }
    }
    let out = out.trim_end();
    match out.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &out[..cut]),
        None => out.to_string(),
    }
}

/// The `$tag$` that opens a dollar-quoted string at the start of `text`, if one does.
fn dollar_tag(text: &str) -> Option<&str> {
    let rest = &text[1..];
    let len = rest.find('$')?;
    let tag = &rest[..len];
    let valid = tag.chars().enumerate().all(|(i, c)| c == '_' || c.is_alphabetic() || (i > 0 && c.is_ascii_digit()));
    valid.then(|| &text[..len + 2])
}

/// The first line of a statement cutover ran, at most 120 characters: where an error names the
/// statement it came from (cutover's own statements carry no secrets).
pub fn statement_head(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default();
    if line.chars().count() > 120 {
        format!("{}...", line.chars().take(120).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::query_for_display;

    #[test]
    fn literals_are_hidden_and_the_rest_is_kept() {
        assert_eq!(query_for_display("ALTER ROLE app PASSWORD 'hunter2'", false, 120), "ALTER ROLE app PASSWORD '…'");
        assert_eq!(
            query_for_display("UPDATE \"Users\"\n   SET email = 'a''b@x.com' WHERE id = $1", false, 120),
            "UPDATE \"Users\" SET email = '…' WHERE id = $1"
        );
        assert_eq!(
            query_for_display("SELECT $q$ secret $q$, $$x$$, E'a\\'b'", false, 120),
            "SELECT $q$…$q$, $$…$$, E'…'"
        );
        // MySQL: double quotes are strings too, and a backslash escapes.
        assert_eq!(query_for_display("SET PASSWORD = \"s3cr\\\"et\"", true, 120), "SET PASSWORD = \"…\"");
        // Cut by the server inside a literal: hidden to the end.
        assert_eq!(query_for_display("INSERT INTO t VALUES ('tok_abc", false, 120), "INSERT INTO t VALUES ('…'");
    }

    #[test]
    fn comments_are_hidden_too() {
        assert_eq!(
            query_for_display("SELECT 1 /* password=Sekr3tE */ FROM t -- token abc\nWHERE a = 2", false, 120),
            "SELECT 1 /*…*/ FROM t --… WHERE a = 2"
        );
        assert_eq!(query_for_display("SELECT a/b, a - -1 FROM t", false, 120), "SELECT a/b, a - -1 FROM t");
    }

    #[test]
    fn long_statements_are_cut_at_a_character() {
        let shown = query_for_display(&format!("SELECT {}", "é".repeat(300)), false, 20);
        assert_eq!(shown.chars().count(), 21);
        assert!(shown.ends_with('…'));
    }
}
