//! Statements that cannot run inside a transaction block, told by their keywords, and what
//! that means for a script: the one decision discovery (how a script runs), the PostgreSQL
//! engine (whether a statement may share a transaction with its progress row) and the
//! analysis (`Effect::requires_no_transaction`) all read.
//!
//! A script made only of such statements runs outside a transaction, statement by statement,
//! with no directive (as Flyway does); one that mixes them with other statements cannot run
//! either way as written, and discovery refuses it ([`crate::Error::MixedTransaction`]).
//!
//! The list is PostgreSQL's (each checked against PostgreSQL 15's "cannot run inside a
//! transaction block"); SQLite's only such statement, `VACUUM`, is on it. `ALTER TYPE ... ADD
//! VALUE` is not: PostgreSQL 12 and later run it in a transaction.

use crate::Statement;

/// Whether `sql` is `SET TRANSACTION ...`, which must come before its transaction's first
/// query: the runner and the rehearsal run such a statement before anything else.
pub fn sets_the_transaction(sql: &str) -> bool {
    let words = crate::leading_keywords(sql, 2);
    words.len() == 2 && words[0] == "SET" && words[1] == "TRANSACTION"
}

/// What PostgreSQL calls `sql` when it refuses to run it inside a transaction block
/// (`CREATE INDEX CONCURRENTLY`, `VACUUM`, ...); `None` for every other statement.
pub fn refuses_transaction(sql: &str) -> Option<&'static str> {
    // The first words decide, except for the few forms read further: most statements (every
    // ALTER TABLE but a DETACH ... CONCURRENTLY) need no more than five tokens.
    let head = tokens(sql, 5);
    let head_word = |idx: usize| match head.get(idx) {
        Some(Token::Word(word)) => word.as_str(),
        _ => "",
    };
    let read_on = match (head_word(0), head_word(1)) {
        ("REINDEX" | "CLUSTER", _) | ("CREATE", "SUBSCRIPTION") => true,
        ("ALTER", "TABLE") => sql.as_bytes().windows(12).any(|w| w.eq_ignore_ascii_case(b"CONCURRENTLY")),
        _ => false,
    };
    let tokens = if read_on { tokens(sql, 48) } else { head };
    let word = |idx: usize| match tokens.get(idx) {
        Some(Token::Word(word)) => word.as_str(),
        _ => "",
    };
    match (word(0), word(1)) {
        ("CREATE", "INDEX") if word(2) == "CONCURRENTLY" => Some("CREATE INDEX CONCURRENTLY"),
        ("CREATE", "UNIQUE") if word(2) == "INDEX" && word(3) == "CONCURRENTLY" => Some("CREATE INDEX CONCURRENTLY"),
        ("DROP", "INDEX") if word(2) == "CONCURRENTLY" => Some("DROP INDEX CONCURRENTLY"),
        ("REINDEX", _) => reindex(&tokens[1..]),
        ("VACUUM", _) => Some("VACUUM"),
        // Without a table, CLUSTER reclusters every table, each in a transaction of its own.
        ("CLUSTER", _) => {
            let mut rest = &tokens[1..];
            if rest.first() == Some(&Token::Punct(b'(')) {
                rest = rest.iter().position(|t| *t == Token::Punct(b')')).map_or(&[], |close| &rest[close + 1..]);
            }
            if is(rest.first(), "VERBOSE") {
                rest = &rest[1..];
            }
            rest.iter().all(|t| *t == Token::Punct(b';')).then_some("CLUSTER")
        }
        ("CREATE", "DATABASE") => Some("CREATE DATABASE"),
        ("DROP", "DATABASE") => Some("DROP DATABASE"),
        ("ALTER", "DATABASE") if word(3) == "SET" && word(4) == "TABLESPACE" => Some("ALTER DATABASE SET TABLESPACE"),
        ("CREATE", "TABLESPACE") => Some("CREATE TABLESPACE"),
        ("DROP", "TABLESPACE") => Some("DROP TABLESPACE"),
        ("ALTER", "SYSTEM") => Some("ALTER SYSTEM"),
        ("DISCARD", "ALL") => Some("DISCARD ALL"),
        ("COMMIT", "PREPARED") => Some("COMMIT PREPARED"),
        ("ROLLBACK", "PREPARED") => Some("ROLLBACK PREPARED"),
        // It creates a replication slot unless told not to (or not to connect).
        ("CREATE", "SUBSCRIPTION") => {
            let off = |name: &str| {
                tokens.windows(3).any(|w| {
                    is(Some(&w[0]), name)
                        && w[1] == Token::Punct(b'=')
                        && (is(Some(&w[2]), "FALSE") || is(Some(&w[2]), "OFF"))
                })
            };
            (!off("CONNECT") && !off("CREATE_SLOT")).then_some("CREATE SUBSCRIPTION")
        }
        ("DROP", "SUBSCRIPTION") => Some("DROP SUBSCRIPTION"),
        ("ALTER", "TABLE") => detach_concurrently(&tokens).then_some("ALTER TABLE ... DETACH PARTITION CONCURRENTLY"),
        _ => None,
    }
}

/// How a script runs when nothing (a directive, a layout's marker) says otherwise, judged from
/// its statements by [`transactionality`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transactionality<'a> {
    /// In one transaction: no statement refuses one (or there is none).
    OneTransaction,
    /// Outside a transaction, statement by statement: every statement refuses one.
    Outside,
    /// Some statements refuse a transaction block and others do not: neither way runs it as
    /// written. The first of each kind.
    Mixed {
        /// The first statement that refuses a transaction block.
        refusing: &'a Statement,
        /// What PostgreSQL calls it (`CREATE INDEX CONCURRENTLY`).
        what: &'static str,
        /// The first statement that does not.
        other: &'a Statement,
    },
}

/// How a script of `statements` runs unless told otherwise (see [`Transactionality`]).
pub fn transactionality(statements: &[Statement]) -> Transactionality<'_> {
    let mut refusing = None;
    let mut other = None;
    let mut shared = false;
    for statement in statements {
        match refuses_transaction(&statement.sql) {
            // MySQL writes these too, and runs them beside others (statement by statement):
            // discovery, which does not know the engine, does not refuse a mix of them.
            Some(what) if also_mysql(what) => shared = true,
            Some(what) => {
                refusing.get_or_insert((statement, what));
            }
            None => {
                other.get_or_insert(statement);
            }
        }
        if let (Some((refusing, what)), Some(other)) = (refusing, other) {
            return Transactionality::Mixed { refusing, what, other };
        }
    }
    match (refusing, other) {
        (Some(_), _) => Transactionality::Outside,
        (None, None) if shared => Transactionality::Outside,
        _ => Transactionality::OneTransaction,
    }
}

/// Statements that MySQL has too, where they mix with others in one file.
fn also_mysql(what: &str) -> bool {
    matches!(what, "CREATE DATABASE" | "DROP DATABASE" | "CREATE TABLESPACE" | "DROP TABLESPACE")
}

/// `REINDEX [ (options) ] { INDEX | TABLE | SCHEMA | DATABASE | SYSTEM } [ CONCURRENTLY ] name`,
/// from after `REINDEX`.
fn reindex(tokens: &[Token]) -> Option<&'static str> {
    let mut concurrently = false;
    let mut rest = tokens;
    if rest.first() == Some(&Token::Punct(b'(')) {
        let close = rest.iter().position(|t| *t == Token::Punct(b')')).unwrap_or(rest.len());
        let options = &rest[1..close];
        // `CONCURRENTLY`, `CONCURRENTLY true`; not `CONCURRENTLY false` (or off, 0).
        concurrently = options.iter().enumerate().any(|(idx, t)| {
            let value = options.get(idx + 1);
            is(Some(t), "CONCURRENTLY") && !(is(value, "FALSE") || is(value, "OFF") || is(value, "0"))
        });
        rest = rest.get(close + 1..).unwrap_or_default();
    }
    let word = |idx: usize| match rest.get(idx) {
        Some(Token::Word(word)) => word.as_str(),
        _ => "",
    };
    match word(0) {
        "SCHEMA" if word(1) != "CONCURRENTLY" && !concurrently => Some("REINDEX SCHEMA"),
        "DATABASE" if word(1) != "CONCURRENTLY" && !concurrently => Some("REINDEX DATABASE"),
        "SYSTEM" => Some("REINDEX SYSTEM"),
        _ if concurrently || word(1) == "CONCURRENTLY" => Some("REINDEX CONCURRENTLY"),
        _ => None,
    }
}

/// `ALTER TABLE ... DETACH PARTITION name CONCURRENTLY` (a table or partition may itself be
/// named `detach` or `concurrently`: the keywords are read in their places).
fn detach_concurrently(tokens: &[Token]) -> bool {
    let name_part = |t: Option<&Token>| matches!(t, Some(Token::Word(_) | Token::Quoted));
    (0..tokens.len()).any(|idx| {
        if !is(tokens.get(idx), "DETACH") || !is(tokens.get(idx + 1), "PARTITION") || !name_part(tokens.get(idx + 2)) {
            return false;
        }
        // The partition's name: `p`, `s.p`, `"s"."p"`.
        let mut at = idx + 3;
        while tokens.get(at) == Some(&Token::Punct(b'.')) && name_part(tokens.get(at + 1)) {
            at += 2;
        }
        is(tokens.get(at), "CONCURRENTLY")
    })
}

/// Whether `token` is the word `word` (upper case).
fn is(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w == word)
}

/// A token of the start of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A keyword or bare name, upper-cased.
    Word(String),
    /// A quoted name (`"users"`).
    Quoted,
    /// A string literal.
    Literal,
    /// Any other character.
    Punct(u8),
}

/// The first `max` tokens of `sql`, comments skipped (nested, as PostgreSQL reads them).
pub(crate) fn tokens(sql: &str, max: usize) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && out.len() < max {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            // Comments nest in PostgreSQL.
            let mut depth = 0usize;
            while i < bytes.len() {
                if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'"' || c == b'\'' {
            // A doubled quote inside is the quote itself: the scan resumes after it.
            i += 1;
            while i < bytes.len() {
                if bytes[i] == c && bytes.get(i + 1) == Some(&c) {
                    i += 2;
                } else if bytes[i] == c {
                    break;
                } else {
                    i += 1;
                }
            }
            i += 1;
            out.push(if c == b'"' { Token::Quoted } else { Token::Literal });
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'$') || bytes[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Token::Word(sql[start..i].to_ascii_uppercase()));
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split_statements;

    /// Checked against PostgreSQL 15: `BEGIN; <statement>; ROLLBACK` fails with "... cannot
    /// run inside a transaction block" for each refused one.
    #[test]
    fn the_statements_postgresql_refuses_in_a_transaction_block() {
        let refused = [
            ("CREATE INDEX CONCURRENTLY t_b ON t (b)", "CREATE INDEX CONCURRENTLY"),
            ("create unique index concurrently if not exists t_b on t (b)", "CREATE INDEX CONCURRENTLY"),
            ("/* why */ CREATE -- later\n INDEX CONCURRENTLY t_b ON t (b)", "CREATE INDEX CONCURRENTLY"),
            ("DROP INDEX CONCURRENTLY IF EXISTS t_a", "DROP INDEX CONCURRENTLY"),
            ("REINDEX INDEX CONCURRENTLY t_a", "REINDEX CONCURRENTLY"),
            ("REINDEX (CONCURRENTLY) TABLE t", "REINDEX CONCURRENTLY"),
            ("REINDEX (VERBOSE, CONCURRENTLY true) TABLE t", "REINDEX CONCURRENTLY"),
            ("REINDEX (VERBOSE) TABLE CONCURRENTLY t", "REINDEX CONCURRENTLY"),
            ("REINDEX SCHEMA s", "REINDEX SCHEMA"),
            ("REINDEX DATABASE app", "REINDEX DATABASE"),
            ("REINDEX SYSTEM app", "REINDEX SYSTEM"),
            ("VACUUM t", "VACUUM"),
            ("vacuum (analyze) t", "VACUUM"),
            ("VACUUM FULL t", "VACUUM"),
            ("CLUSTER", "CLUSTER"),
            ("CLUSTER VERBOSE", "CLUSTER"),
            ("CLUSTER (VERBOSE);", "CLUSTER"),
            ("CREATE DATABASE app2", "CREATE DATABASE"),
            ("DROP DATABASE IF EXISTS app2", "DROP DATABASE"),
            ("ALTER DATABASE app SET TABLESPACE pg_default", "ALTER DATABASE SET TABLESPACE"),
            ("CREATE TABLESPACE ts LOCATION '/srv/ts'", "CREATE TABLESPACE"),
            ("DROP TABLESPACE IF EXISTS ts", "DROP TABLESPACE"),
            ("ALTER SYSTEM SET work_mem = '4MB'", "ALTER SYSTEM"),
            ("DISCARD ALL", "DISCARD ALL"),
            ("COMMIT PREPARED 'x'", "COMMIT PREPARED"),
            ("CREATE SUBSCRIPTION sub CONNECTION 'dbname=x' PUBLICATION p", "CREATE SUBSCRIPTION"),
            ("DROP SUBSCRIPTION sub", "DROP SUBSCRIPTION"),
            ("ALTER TABLE pt DETACH PARTITION pt1 CONCURRENTLY", "ALTER TABLE ... DETACH PARTITION CONCURRENTLY"),
            (
                "ALTER TABLE ONLY \"app\".pt DETACH PARTITION app.\"pt 1\" CONCURRENTLY",
                "ALTER TABLE ... DETACH PARTITION CONCURRENTLY",
            ),
        ];
        for (sql, what) in refused {
            assert_eq!(refuses_transaction(sql), Some(what), "{sql}");
        }
        let allowed = [
            "CREATE INDEX t_b ON t (b)",
            "CREATE INDEX concurrently_idx ON t (\"concurrently\")",
            "CREATE INDEX t_c ON t (b) WHERE \"CONCURRENTLY\"",
            "REINDEX TABLE t",
            "REINDEX (CONCURRENTLY false) TABLE t",
            "ANALYZE t",
            "CLUSTER t USING t_a",
            "CLUSTER VERBOSE t",
            "ALTER DATABASE app SET work_mem = '4MB'",
            "DISCARD PLANS",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
            "ALTER TYPE mood ADD VALUE 'meh'",
            "CREATE SUBSCRIPTION sub CONNECTION 'dbname=x' PUBLICATION p WITH (connect = false)",
            "CREATE SUBSCRIPTION sub CONNECTION 'dbname=x' PUBLICATION p WITH (create_slot = off)",
            "ALTER TABLE pt DETACH PARTITION pt1",
            "ALTER TABLE pt DETACH PARTITION pt1 FINALIZE",
            "ALTER TABLE detach DETACH PARTITION p",
            "ALTER TABLE t ADD COLUMN \"concurrently\" int",
            "CLUSTER (VERBOSE) t",
            "SELECT 'VACUUM'",
            "COMMIT",
            "",
        ];
        for sql in allowed {
            assert_eq!(refuses_transaction(sql), None, "{sql}");
        }
    }

    fn judged(script: &str) -> String {
        let statements = split_statements(script).unwrap();
        match transactionality(&statements) {
            Transactionality::OneTransaction => "one transaction".to_string(),
            Transactionality::Outside => "outside".to_string(),
            Transactionality::Mixed { refusing, what, other } => {
                format!("mixed: {what} at {}, other at {}", refusing.line, other.line)
            }
        }
    }

    #[test]
    fn statements_mysql_writes_too_are_no_mix() {
        let statements =
            crate::split_statements("CREATE DATABASE IF NOT EXISTS app;\nCREATE TABLE t (a int);\n").unwrap();
        assert_eq!(transactionality(&statements), Transactionality::OneTransaction);
        let statements = crate::split_statements("CREATE DATABASE app;\n").unwrap();
        assert_eq!(transactionality(&statements), Transactionality::Outside);
    }

    #[test]
    fn a_script_of_refusing_statements_runs_outside_and_a_mix_names_one_of_each() {
        assert_eq!(judged("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);"), "one transaction");
        assert_eq!(judged(""), "one transaction");
        assert_eq!(judged("-- build it\nCREATE INDEX CONCURRENTLY i ON t (a);"), "outside");
        assert_eq!(judged("DROP INDEX CONCURRENTLY i;\nCREATE INDEX CONCURRENTLY j ON t (a);\nVACUUM t;"), "outside");
        assert_eq!(
            judged("CREATE TABLE t (a int);\n\nCREATE INDEX CONCURRENTLY i ON t (a);"),
            "mixed: CREATE INDEX CONCURRENTLY at 3, other at 1"
        );
        assert_eq!(judged("VACUUM t;\nVACUUM u;\nUPDATE t SET a = 1;\nSELECT 1;"), "mixed: VACUUM at 1, other at 3");
    }
}
