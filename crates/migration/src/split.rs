//! Splitting a script into statements with a tokenizer that knows SQL's quoting rules.
//!
//! A naive split on `;` breaks on the first function body, string literal or comment that
//! contains one. This tokenizer understands single-quoted strings (with `''` and, after `E`,
//! backslash escapes), double-quoted and backtick identifiers, `--` and nested `/* */`
//! comments, PostgreSQL dollar quotes (`$$` and `$tag$`), and SQL-standard function bodies
//! (`BEGIN ATOMIC ... END`). It never needs a database and never guesses: an unterminated
//! quote or comment is an error that names the line where it started.

use std::ops::Range;

/// One statement of a script, as written, without its terminating `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text, from its first token to its last, comments inside kept.
    pub sql: String,
    /// 1-based line of the statement's first token within the script it was split from.
    pub line: usize,
    /// Byte range of `sql` within the script.
    pub span: Range<usize>,
}

impl Statement {
    /// The first `n` words of the statement, upper-cased, comments skipped.
    ///
    /// Used to classify statements (`BEGIN`, `CREATE INDEX CONCURRENTLY`) without a parser.
    pub fn leading_keywords(&self, n: usize) -> Vec<String> {
        leading_keywords(&self.sql, n)
    }
}

/// Why a script could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unterminated {what} starting at line {line}")]
pub struct SplitError {
    /// What was left open: "string literal", "dollar-quoted string", ...
    pub what: &'static str,
    /// 1-based line where it started.
    pub line: usize,
}

/// Splits `script` into statements on top-level semicolons.
///
/// Empty statements (a lone `;`, or only comments) are dropped. The last statement needs no
/// terminating `;`.
pub fn split_statements(script: &str) -> Result<Vec<Statement>, SplitError> {
    split(script, &mut Vec::new())
}

/// A comment of a script: where it is (a line comment runs to the end of its line, without
/// the line break).
type Comment = std::ops::Range<usize>;

/// The byte offsets of the line comments (`--`) of `script` that are comments: not inside a
/// string, a quoted identifier, a dollar-quoted body or a block comment, where `--` is text.
/// A script that cannot be split gives those before the token left open.
pub fn line_comments(script: &str) -> Vec<usize> {
    comments(script).into_iter().filter(|c| script[c.clone()].starts_with("--")).map(|c| c.start).collect()
}

/// Where the block comments (`/* ... */`) of `script` are, as [`line_comments`] finds them;
/// MySQL's executable comments (`/*! ... */`) are code, and not among them.
pub fn block_comments(script: &str) -> Vec<std::ops::Range<usize>> {
    comments(script).into_iter().filter(|c| script[c.clone()].starts_with("/*")).collect()
}

fn comments(script: &str) -> Vec<Comment> {
    let mut comments = Vec::new();
    let _ = split(script, &mut comments);
    comments
}

/// [`split_statements`], noting where each comment is in `comments`.
fn split(script: &str, comments: &mut Vec<Comment>) -> Result<Vec<Statement>, SplitError> {
    let bytes = script.as_bytes();
    let mut statements = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // Start of the current statement's first token, and its line.
    let mut current: Option<(usize, usize)> = None;
    // End of the last token of the current statement (exclusive).
    let mut last_token_end = 0;
    // Depth of statement bodies (`BEGIN ATOMIC ... END`, a trigger's `BEGIN ... END`); inside
    // one, `;` does not end the statement.
    let mut body_depth = 0usize;
    // The previous word, upper-cased, to recognise `BEGIN ATOMIC`.
    let mut previous_word = String::new();
    // The first words of the current statement, upper-cased, to recognise `CREATE TRIGGER`.
    let mut statement_words: Vec<String> = Vec::new();
    // An `END` inside a body whose next word says whether it closes a block (`END;`, `END
    // CASE`) or ends a MySQL `IF`, `LOOP`, `WHILE` or `REPEAT`, which open none.
    let mut pending_end = false;

    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                comments.push(start..i);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start_line = line;
                let comment_start = i;
                // MySQL's `/*!50100 ... */` and MariaDB's `/*M!100500 ... */` are code the
                // server runs: part of the statement, never trimmed off its end.
                let executable = bytes.get(i + 2) == Some(&b'!')
                    || (bytes.get(i + 2) == Some(&b'M') && bytes.get(i + 3) == Some(&b'!'));
                let mut depth = 0usize;
                loop {
                    if i >= bytes.len() {
                        return Err(SplitError { what: "block comment", line: start_line });
                    }
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            if executable {
                                current.get_or_insert((comment_start, start_line));
                                last_token_end = i;
                            } else {
                                comments.push(comment_start..i);
                            }
                            break;
                        }
                    } else {
                        if bytes[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            // An `END` just before the `;` closes its block.
            b';' if pending_end && body_depth == 1 => {
                pending_end = false;
                body_depth = 0;
            }
            b';' if body_depth == 0 => {
                if let Some((start, start_line)) = current.take() {
                    statements.push(Statement {
                        sql: script[start..last_token_end].to_string(),
                        line: start_line,
                        span: start..last_token_end,
                    });
                }
                previous_word.clear();
                statement_words.clear();
                i += 1;
            }
            _ => {
                let token_start = i;
                let token_line = line;
                let mut word = None;
                match c {
                    b'\'' => {
                        let escapes = is_escape_string_prefix(bytes, i);
                        i = skip_quoted(bytes, i, b'\'', escapes, &mut line)
                            .ok_or(SplitError { what: "string literal", line: token_line })?;
                    }
                    b'"' => {
                        i = skip_quoted(bytes, i, b'"', false, &mut line)
                            .ok_or(SplitError { what: "quoted identifier", line: token_line })?;
                    }
                    b'`' => {
                        i = skip_quoted(bytes, i, b'`', false, &mut line)
                            .ok_or(SplitError { what: "quoted identifier", line: token_line })?;
                    }
                    b'$' => match dollar_tag(bytes, i) {
                        Some(tag_end) => {
                            let tag = &bytes[i..tag_end];
                            i = find_subslice(bytes, tag_end, tag)
                                .map(|close| {
                                    line += count_newlines(&bytes[tag_end..close]);
                                    close + tag.len()
                                })
                                .ok_or(SplitError { what: "dollar-quoted string", line: token_line })?;
                        }
                        None => i += 1,
                    },
                    c if is_word_byte(c) => {
                        while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'$') {
                            i += 1;
                        }
                        word = Some(script[token_start..i].to_ascii_uppercase());
                    }
                    _ => i += utf8_len(c),
                }
                if current.is_none() {
                    current = Some((token_start, token_line));
                }
                last_token_end = i;
                if let Some(word) = word {
                    if statement_words.len() < 8 {
                        statement_words.push(word.clone());
                    }
                    if pending_end {
                        pending_end = false;
                        if !matches!(word.as_str(), "IF" | "LOOP" | "WHILE" | "REPEAT") {
                            body_depth -= 1;
                        }
                    }
                    // SQLite and MySQL trigger bodies and MySQL routine bodies are `BEGIN ... END`
                    // blocks, which nest; PostgreSQL's SQL-standard function bodies are `BEGIN
                    // ATOMIC ... END`. Inside any, `CASE ... END` nests like the body itself.
                    let is_routine = creates_a_routine(&statement_words);
                    let opens = (word == "ATOMIC" && previous_word == "BEGIN" && !is_routine)
                        || (word == "BEGIN" && is_routine)
                        || (body_depth > 0 && word == "CASE");
                    if opens {
                        body_depth += 1;
                    } else if body_depth > 0 && word == "END" {
                        pending_end = true;
                    }
                    previous_word = word;
                } else {
                    previous_word.clear();
                }
            }
        }
    }
    if let Some((start, start_line)) = current {
        statements.push(Statement {
            sql: script[start..last_token_end].to_string(),
            line: start_line,
            span: start..last_token_end,
        });
    }
    Ok(statements)
}

/// Whether a statement's first words create a trigger or a routine (`CREATE [OR REPLACE]
/// [TEMP] TRIGGER`, MySQL's `CREATE DEFINER=... PROCEDURE`): only there is `BEGIN` a body. A
/// table or column named `event` or `begin` is none.
fn creates_a_routine(words: &[String]) -> bool {
    let is_routine_word = |w: &String| matches!(w.as_str(), "TRIGGER" | "PROCEDURE" | "FUNCTION" | "EVENT");
    match words {
        [create, rest @ ..] if create == "CREATE" => {
            if rest.first().is_some_and(|w| w == "DEFINER") {
                return rest.iter().any(is_routine_word);
            }
            rest.iter()
                .find(|w| !matches!(w.as_str(), "OR" | "REPLACE" | "TEMP" | "TEMPORARY"))
                .is_some_and(is_routine_word)
        }
        _ => false,
    }
}

/// Byte offset of the first token of `text`, after whitespace and comments (`text.len()` if
/// there is none).
pub(crate) fn first_token_offset(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
        } else if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            match find_subslice(bytes, i + 2, b"*/") {
                Some(end) => i = end + 2,
                None => return bytes.len(),
            }
        } else {
            return i;
        }
    }
    bytes.len()
}

/// The first `n` words of `sql`, upper-cased, skipping comments and whitespace: up to the first
/// token that is no word. The same lexer as the transaction decision's (`transaction.rs`).
pub fn leading_keywords(sql: &str, n: usize) -> Vec<String> {
    crate::transaction::tokens(sql, n)
        .into_iter()
        .map_while(|token| match token {
            crate::transaction::Token::Word(word) => Some(word),
            _ => None,
        })
        .collect()
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// `E'...'` strings take backslash escapes; the `E` must be a standalone prefix, not the end
/// of a longer word such as `TYPE'`.
fn is_escape_string_prefix(bytes: &[u8], quote_idx: usize) -> bool {
    if quote_idx == 0 || !matches!(bytes[quote_idx - 1], b'E' | b'e') {
        return false;
    }
    quote_idx < 2 || !is_word_byte(bytes[quote_idx - 2])
}

/// Skips a quoted token that starts at `start`; returns the index after its closing quote.
/// A doubled quote is an escaped quote; with `backslash`, so is a backslash-escaped one.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslash: bool, line: &mut usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b'\n' => {
                *line += 1;
                i += 1;
            }
            c if c == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// If a dollar-quote opening tag (`$$` or `$tag$`) starts at `start`, returns the index after it.
/// `$1` is a parameter, and a `$` inside a word is part of an identifier, so neither is a tag.
fn dollar_tag(bytes: &[u8], start: usize) -> Option<usize> {
    if start > 0 && is_word_byte(bytes[start - 1]) {
        return None;
    }
    let mut i = start + 1;
    if bytes.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80) {
        i += 1;
    }
    (bytes.get(i) == Some(&b'$')).then_some(i + 1)
}

fn find_subslice(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|window| window == needle).map(|pos| from + pos)
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(script: &str, expected: &[(&str, usize)]) {
        let statements = split_statements(script).unwrap();
        let actual: Vec<(&str, usize)> = statements.iter().map(|s| (s.sql.as_str(), s.line)).collect();
        assert_eq!(actual, expected);
        for statement in &statements {
            assert_eq!(&script[statement.span.clone()], statement.sql);
        }
    }

    /// MySQL routines: nested `BEGIN ... END` blocks, and `END IF` / `END LOOP` inside them,
    /// which close no block (authelia's V0007 for MySQL).
    #[test]
    fn mysql_routine_bodies_are_one_statement() {
        let script = "CREATE PROCEDURE p(IN t VARCHAR(64))\nBEGIN\n  IF EXISTS(SELECT 1) THEN\n    SET @q = CONCAT('a', t, ';');\n    PREPARE s FROM @q;\n  END IF;\n  lbl: LOOP\n    BEGIN\n      SELECT CASE WHEN 1 THEN 2 END;\n    END;\n    LEAVE lbl;\n  END LOOP;\nEND;\nCALL p('x');\nCREATE DEFINER=`root`@`localhost` FUNCTION f() RETURNS INT DETERMINISTIC\nBEGIN\n  RETURN 1;\nEND;\nSELECT 9;";
        let statements = split_statements(script).unwrap();
        let heads: Vec<(String, usize)> = statements
            .iter()
            .map(|s| (s.sql.split_whitespace().take(2).collect::<Vec<_>>().join(" "), s.line))
            .collect();
        assert_eq!(
            heads,
            [
                ("CREATE PROCEDURE".to_string(), 1),
                ("CALL p('x')".to_string(), 14),
                ("CREATE DEFINER=`root`@`localhost`".to_string(), 15),
                ("SELECT 9".to_string(), 19)
            ]
        );
        assert!(statements[0].sql.ends_with("END LOOP;\nEND"), "{}", statements[0].sql);
        // A table or column named like a routine or a block is none.
        let statements = split_statements("CREATE TABLE event (begin int, x int);\nSELECT 1;").unwrap();
        assert_eq!(statements.len(), 2);
    }

    #[test]
    fn plain_statements_and_lines() {
        check(
            "CREATE TABLE a (id int);\n\nCREATE TABLE b (id int);\nSELECT 1",
            &[("CREATE TABLE a (id int)", 1), ("CREATE TABLE b (id int)", 3), ("SELECT 1", 4)],
        );
    }

    #[test]
    fn semicolons_inside_strings_comments_and_identifiers() {
        check(
            "INSERT INTO t VALUES ('a;b', 'it''s;');\n-- a comment; with semicolon\nSELECT \"we;ird\" FROM `x;y`; /* c; /* nested; */ still; */ SELECT 2;",
            &[
                ("INSERT INTO t VALUES ('a;b', 'it''s;')", 1),
                ("SELECT \"we;ird\" FROM `x;y`", 3),
                ("SELECT 2", 3),
            ],
        );
    }

    #[test]
    fn escape_strings_take_backslashes() {
        check("SELECT E'a\\';b';\nSELECT 'c\\';", &[("SELECT E'a\\';b'", 1), ("SELECT 'c\\'", 2)]);
    }

    #[test]
    fn dollar_quoted_function_bodies() {
        let script = "CREATE FUNCTION f() RETURNS trigger AS $body$\nBEGIN\n  NEW.x := 1;\n  RETURN NEW;\nEND;\n$body$ LANGUAGE plpgsql;\nCREATE FUNCTION g() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT $1, a$b FROM t;";
        let statements = split_statements(script).unwrap();
        assert_eq!(statements.len(), 3);
        assert!(statements[0].sql.ends_with("LANGUAGE plpgsql"));
        assert_eq!(statements[1].line, 7);
        assert_eq!(statements[2].sql, "SELECT $1, a$b FROM t");
    }

    #[test]
    fn begin_atomic_bodies_keep_their_semicolons() {
        check(
            "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\nSELECT 3;",
            &[
                ("CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND", 1),
                ("SELECT 3", 6),
            ],
        );
    }

    #[test]
    fn trigger_bodies_keep_their_semicolons() {
        check(
            "CREATE TRIGGER t AFTER INSERT ON a\nBEGIN\n  UPDATE a SET x = CASE WHEN NEW.y THEN 1 ELSE 2 END;\n  DELETE FROM b;\nEND;\nCREATE TEMP TRIGGER u AFTER DELETE ON a BEGIN SELECT 1; END;\nSELECT 2;",
            &[
                ("CREATE TRIGGER t AFTER INSERT ON a\nBEGIN\n  UPDATE a SET x = CASE WHEN NEW.y THEN 1 ELSE 2 END;\n  DELETE FROM b;\nEND", 1),
                ("CREATE TEMP TRIGGER u AFTER DELETE ON a BEGIN SELECT 1; END", 6),
                ("SELECT 2", 7),
            ],
        );
        // A PostgreSQL trigger has no body block, and a transaction's BEGIN is not one.
        check(
            "CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION f();\nBEGIN;\nSELECT 1;\nCOMMIT;",
            &[
                ("CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION f()", 1),
                ("BEGIN", 2),
                ("SELECT 1", 3),
                ("COMMIT", 4),
            ],
        );
    }

    #[test]
    fn empty_statements_and_comment_only_scripts() {
        check(";;  -- nothing\n/* here */ ;", &[]);
        // From the MariaDB tester: executable comments are code, kept where they stand.
        check(
            "ALTER TABLE t ADD COLUMN b int /*!, MODIFY c bigint */;\n/*!40101 CREATE TABLE y (id int) */;\nCREATE TABLE x (id int) /*M!100500 ENGINE=MyISAM */",
            &[
                ("ALTER TABLE t ADD COLUMN b int /*!, MODIFY c bigint */", 1),
                ("/*!40101 CREATE TABLE y (id int) */", 2),
                ("CREATE TABLE x (id int) /*M!100500 ENGINE=MyISAM */", 3),
            ],
        );
        check("", &[]);
    }

    #[test]
    fn unterminated_tokens_name_their_line() {
        let err = split_statements("SELECT 1;\nSELECT 'oops;\n").unwrap_err();
        assert_eq!(err, SplitError { what: "string literal", line: 2 });
        let err = split_statements("\n\nDO $x$ BEGIN END $y$;").unwrap_err();
        assert_eq!(err, SplitError { what: "dollar-quoted string", line: 3 });
        let err = split_statements("SELECT 1 /* open").unwrap_err();
        assert_eq!(err.what, "block comment");
    }

    #[test]
    fn multibyte_text_is_kept_whole() {
        check(
            "INSERT INTO t VALUES ('héllo'); SELECT 'ü';",
            &[("INSERT INTO t VALUES ('héllo')", 1), ("SELECT 'ü'", 1)],
        );
    }

    #[test]
    fn leading_keywords_skip_comments() {
        assert_eq!(
            leading_keywords("-- hi\n/* x */ create unique index concurrently i", 4),
            ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"]
        );
        assert_eq!(leading_keywords("  begin;", 3), ["BEGIN"]);
    }

    #[test]
    fn comments_of_each_kind_and_only_comments() {
        let script = "-- one\nSELECT '-- no', '/* no */' /* two */;\n/*! 50100 code */ /* three /* nested */ end */\nSELECT 1; -- four";
        let texts = |ranges: Vec<std::ops::Range<usize>>| ranges.into_iter().map(|r| &script[r]).collect::<Vec<_>>();
        assert_eq!(texts(block_comments(script)), ["/* two */", "/* three /* nested */ end */"]);
        assert_eq!(line_comments(script), [0, script.rfind("-- four").unwrap()]);
    }
}
