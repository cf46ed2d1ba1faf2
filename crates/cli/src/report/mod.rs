//! Reports people look at rather than read: the rehearsal as one HTML page with a lock timeline
//! per migration ([`html`], pictures from [`timeline`]), and the plan as Markdown for a pull
//! request comment ([`markdown`]).

pub mod html;
pub mod markdown;
pub mod timeline;

pub(crate) use crate::live::head;

/// `text` with the characters that would change how the text around them shows made visible
/// as `\u{..}`: control characters (a terminal's escape sequences; line breaks and tabs stay),
/// the bidirectional overrides and isolates, which reorder the rest of a line, and the
/// zero-width ones, which hide a difference between two names.
pub fn visible(text: &str) -> String {
    let hidden = |c: char| {
        (c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
            || matches!(
                c,
                '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{200b}'..='\u{200f}'
                    | '\u{2028}'..='\u{2029}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{00a0}'
                    | '\u{00ad}'
                    | '\u{061c}'
                    | '\u{115f}'..='\u{1160}'
                    | '\u{180e}'
                    | '\u{3164}'
                    | '\u{feff}'
                    | '\u{ffa0}'
                    | '\u{e0000}'..='\u{e007f}'
            )
    };
    if !text.chars().any(hidden) {
        return text.to_string();
    }
    text.chars().map(|c| if hidden(c) { format!("\\u{{{:x}}}", c as u32) } else { c.to_string() }).collect()
}

/// `text` safe inside HTML and SVG, in element content and in quoted attributes, with hidden
/// characters made [`visible`].
pub fn escape(text: &str) -> String {
    let text = visible(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_and_reordering_marks_are_shown_not_obeyed() {
        assert_eq!(super::visible("evil\u{1b}[2J\u{202e}x\nok"), "evil\\u{1b}[2J\\u{202e}x\nok");
        assert_eq!(escape("a\u{202e}<b"), "a\\u{202e}&lt;b");
    }

    #[test]
    fn markup_in_sql_stays_text() {
        assert_eq!(escape(r#"a < b && c > 'd' "e""#), "a &lt; b &amp;&amp; c &gt; &#39;d&#39; &quot;e&quot;");
    }
}
