//! Reports people look at rather than read: the rehearsal as one HTML page with a lock timeline
//! per migration ([`html`], pictures from [`timeline`]), and the plan as Markdown for a pull
//! request comment ([`markdown`]).

pub mod html;
pub mod markdown;
pub mod timeline;

pub(crate) use crate::live::head;

/// `text` safe inside HTML and SVG, in element content and in quoted attributes.
pub fn escape(text: &str) -> String {
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
    fn markup_in_sql_stays_text() {
        assert_eq!(escape(r#"a < b && c > 'd' "e""#), "a &lt; b &amp;&amp; c &gt; &#39;d&#39; &quot;e&quot;");
    }
}
