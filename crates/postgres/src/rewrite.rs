//! The online table rewrite's primitives on PostgreSQL.
//!
//! The shadow is `CREATE TABLE .. (LIKE t INCLUDING ALL)` with the change applied, the table's
//! outgoing foreign keys, grants, owner, options and comment; a row trigger on the table keeps
//! it in step (an upsert of the new row, a delete of the old key) from the transaction that
//! makes it, so every write after the copy's first read reaches the shadow. The copy's batches
//! read with `FOR SHARE` and leave rows the trigger wrote (see `keyset`). The swap is one
//! transaction: PostgreSQL's DDL is transactional, so the renames, the dependents moved and the
//! reverse trigger that keeps the old table in step for a revert happen at once or not at all.
//! Views, foreign keys and triggers bind to a table by its OID, not its name: each is made
//! again on the swapped table (views and triggers from their definitions, foreign keys
//! `NOT VALID`, validated after the commit without blocking writes).

use std::time::{Duration, Instant};

use cutover_engine::{
    keyset::Dialect, BackfillTarget, ChunkCheck, CopyInto, DbError, DbErrorKind, RewritePhase, RewritePlan,
    RewriteRequest, RewriteState, RewriteTarget, SwapReport, TableKey, Timeouts,
};
use postgres::types::ToSql;

use crate::connect::{quote_ident, PgTarget};
use crate::error::{create_racing, db_error};
use crate::migrate::begin_sql;

/// The state table's name, in the history's schema.
pub(crate) const STATE_TABLE: &str = cutover_engine::REWRITE_STATE_TABLE;

/// The trigger that keeps the shadow (before the swap) or the old table (after it) in step.
const CAPTURE_TRIGGER: &str = "_cutover_rewrite_capture";

/// Its statement-level twin for `TRUNCATE`, which row triggers do not see.
const TRUNCATE_TRIGGER: &str = "_cutover_rewrite_truncate";

/// Where the reverse trigger notes a write the old table could not take.
pub(crate) const MISSES_TABLE: &str = cutover_engine::REWRITE_MISSES_TABLE;

fn other(message: impl Into<String>) -> DbError {
    DbError::new(DbErrorKind::Other, message.into())
}

/// A table as the catalog knows it.
#[derive(Clone)]
struct Relation {
    oid: u32,
    /// `"schema"."name"`.
    qualified: String,
    schema: String,
    name: String,
}

/// One column: its name and type.
struct Column {
    name: String,
    type_name: String,
}

/// `ALTER TABLE [IF EXISTS] [ONLY] name rest` split into the name and the rest; `None` when the
/// text does not start with `ALTER TABLE` (it is then the actions alone).
fn split_alter(alter: &str) -> Result<Option<(String, String)>, DbError> {
    let text = alter.trim().trim_end_matches(';').trim();
    let mut rest = text;
    let word = |rest: &mut &str, expected: &str| -> bool {
        let trimmed = rest.trim_start();
        let len = expected.len();
        if trimmed.len() >= len
            && trimmed[..len].eq_ignore_ascii_case(expected)
            && trimmed[len..].starts_with(|c: char| c.is_whitespace())
        {
            *rest = &trimmed[len..];
            true
        } else {
            false
        }
    };
    if !(word(&mut rest, "ALTER") && word(&mut rest, "TABLE")) {
        return Ok(None);
    }
    if word(&mut rest, "IF") && !word(&mut rest, "EXISTS") {
        return Err(other("`--alter` starts `ALTER TABLE IF` without `EXISTS`"));
    }
    word(&mut rest, "ONLY");
    // A name of dotted parts, each bare or double-quoted.
    let trimmed = rest.trim_start();
    let bytes: Vec<char> = trimmed.chars().collect();
    let mut idx = 0;
    let end = loop {
        if bytes.get(idx) == Some(&'"') {
            idx += 1;
            loop {
                match bytes.get(idx) {
                    None => return Err(other("`--alter` has an unclosed quoted name")),
                    Some('"') if bytes.get(idx + 1) == Some(&'"') => idx += 2,
                    Some('"') => {
                        idx += 1;
                        break;
                    }
                    Some(_) => idx += 1,
                }
            }
        } else {
            while bytes.get(idx).is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '$') {
                idx += 1;
            }
        }
        if bytes.get(idx) == Some(&'.') {
            idx += 1;
            continue;
        }
        break idx;
    };
    let name: String = bytes[..end].iter().collect();
    let actions: String = bytes[end..].iter().collect();
    if name.is_empty() || actions.trim().is_empty() {
        return Err(other(format!("`--alter {alter}` names no table or no change")));
    }
    Ok(Some((name, actions.trim().to_string())))
}

/// A piece of a change's text, as SQL's lexer would cut it (closely enough to find names).
enum Token {
    /// A string literal, as written.
    Literal(String),
    /// A double-quoted identifier: as written, and the name it means.
    Quoted { raw: String, name: String },
    /// A bare word (a keyword or an identifier), as written.
    Word(String),
    /// `;`
    Semicolon,
    /// Anything else, one character.
    Other(char),
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let (mut tokens, mut idx) = (Vec::new(), 0);
    while idx < chars.len() {
        let start = idx;
        match chars[idx] {
            quote @ ('\'' | '"') => {
                let mut name = String::new();
                idx += 1;
                while idx < chars.len() {
                    if chars[idx] == quote && chars.get(idx + 1) == Some(&quote) {
                        name.push(quote);
                        idx += 2;
                    } else if chars[idx] == quote {
                        idx += 1;
                        break;
                    } else {
                        name.push(chars[idx]);
                        idx += 1;
                    }
                }
                let raw: String = chars[start..idx].iter().collect();
                tokens.push(if quote == '"' { Token::Quoted { raw, name } } else { Token::Literal(raw) });
            }
            c if c.is_alphanumeric() || c == '_' => {
                while idx < chars.len() && (chars[idx].is_alphanumeric() || chars[idx] == '_' || chars[idx] == '$') {
                    idx += 1;
                }
                tokens.push(Token::Word(chars[start..idx].iter().collect()));
            }
            ';' => {
                tokens.push(Token::Semicolon);
                idx += 1;
            }
            c => {
                tokens.push(Token::Other(c));
                idx += 1;
            }
        }
    }
    tokens
}

/// `actions` with each identifier named in `renames` (an index or constraint of the table)
/// replaced by the shadow's name for it: the shadow's indexes cannot have the table's names
/// while the table has them, and `DROP CONSTRAINT users_pkey` means the shadow's. A `;` outside
/// quotes is refused: the change is one statement.
fn retarget(actions: &str, renames: &[(String, String)]) -> Result<String, DbError> {
    let renamed = |name: &str| renames.iter().find(|(from, _)| from == name).map(|(_, to)| quote_ident(to));
    let mut out = String::with_capacity(actions.len());
    for token in tokens(actions) {
        match token {
            Token::Literal(raw) => out.push_str(&raw),
            Token::Quoted { raw, name } => out.push_str(&renamed(&name).unwrap_or(raw)),
            Token::Word(raw) => out.push_str(&renamed(&raw.to_lowercase()).unwrap_or(raw)),
            Token::Semicolon => {
                return Err(other(
                    "`--alter` holds more than one statement: give one ALTER TABLE (its actions separated by commas)",
                ))
            }
            Token::Other(c) => out.push(c),
        }
    }
    Ok(out)
}

/// The identifiers and words of a change, outside string literals: bare ones in lower case,
/// quoted ones as written.
fn words(text: &str) -> Vec<String> {
    tokens(text)
        .into_iter()
        .filter_map(|token| match token {
            Token::Quoted { name, .. } => Some(name),
            Token::Word(raw) => Some(raw.to_lowercase()),
            _ => None,
        })
        .collect()
}

/// The columns a change renames (`RENAME [COLUMN] a TO b`), old name first: the copy fills the
/// new name from the old column, and the old table after the swap the old name from the new.
fn renamed_columns(alter: Option<&str>) -> Vec<(String, String)> {
    let words = alter.map(words).unwrap_or_default();
    let mut renames = Vec::new();
    for (idx, word) in words.iter().enumerate() {
        if word != "rename" {
            continue;
        }
        let rest = &words[idx + 1..];
        let rest = if rest.first().is_some_and(|w| w == "column") { &rest[1..] } else { rest };
        if let [from, to_word, to, ..] = rest {
            if to_word == "to" && from != "to" && from != "constraint" {
                renames.push((from.clone(), to.clone()));
            }
        }
    }
    renames
}

fn params(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl PgTarget {
    fn state_table(&self) -> String {
        self.beside_history(STATE_TABLE)
    }

    fn misses_table(&self) -> String {
        self.beside_history(MISSES_TABLE)
    }

    /// The first write the old table could not take since the swap, as text, for `table_name`.
    fn out_of_step_sql(&self, table_name: &str) -> String {
        format!(
            "(SELECT operation || ': ' || error FROM {} WHERE table_name = {table_name} ORDER BY at LIMIT 1)",
            self.misses_table()
        )
    }

    fn ensure_rewrite_state(&mut self) -> Result<(), DbError> {
        let misses = format!(
            "CREATE TABLE IF NOT EXISTS {} (table_name text NOT NULL, operation text NOT NULL, error text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())",
            self.misses_table()
        );
        create_racing(&mut self.client, &misses)?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    table_name text PRIMARY KEY,\n    alter_sql text,\n    using_exprs text[] NOT NULL DEFAULT '{{}}',\n    shadow text NOT NULL,\n    old_name text NOT NULL,\n    phase text NOT NULL CHECK (phase IN ({})),\n    out_of_step text,\n    unvalidated text[] NOT NULL DEFAULT '{{}}',\n    fingerprint text,\n    parked text[] NOT NULL DEFAULT '{{}}',\n    ended_from text,\n    started_at timestamptz NOT NULL DEFAULT now(),\n    updated_at timestamptz NOT NULL DEFAULT now()\n)",
            self.state_table(),
            RewritePhase::quoted_list()
        );
        create_racing(&mut self.client, &sql)?;
        // A table an earlier build made gains the columns added since; only those, as an
        // ALTER TABLE locks the table even when it has nothing to add.
        for (column, definition) in self.missing_state_columns()? {
            self.client
                .batch_execute(&format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {column} {definition}",
                    self.state_table()
                ))
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// The state table's columns added after its first build that it lacks.
    fn missing_state_columns(&mut self) -> Result<Vec<(&'static str, &'static str)>, DbError> {
        const ADDED: [(&str, &str); 4] = [
            ("unvalidated", "text[] NOT NULL DEFAULT '{}'"),
            ("fingerprint", "text"),
            ("parked", "text[] NOT NULL DEFAULT '{}'"),
            ("ended_from", "text"),
        ];
        let present: Vec<String> = self
            .client
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                &[&self.state_table()],
            )
            .map_err(db_error)?
            .into_iter()
            .map(|row| row.get(0))
            .collect();
        Ok(ADDED.into_iter().filter(|(column, _)| !present.iter().any(|p| p == column)).collect())
    }

    fn relation(&mut self, name: &str) -> Result<Option<Relation>, DbError> {
        if name.trim().is_empty() {
            return Err(other("--table is empty: give the table to rewrite"));
        }
        if name.contains(char::is_whitespace) && !name.contains('"') {
            return Err(other(format!(
                "table `{name}`: a name with spaces or capitals is written in double quotes, as in SQL: --table '\"{name}\"'"
            )));
        }
        let row = self
            .client
            .query_opt(
                "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), n.nspname::text, c.relname::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
                &[&name],
            )
            .map_err(db_error)?;
        Ok(row.map(|row| Relation { oid: row.get(0), qualified: row.get(1), schema: row.get(2), name: row.get(3) }))
    }

    fn required(&mut self, name: &str) -> Result<Relation, DbError> {
        self.relation(name)?.ok_or_else(|| {
            other(format!("table `{name}` does not exist (or is not on the search_path); check the name, or qualify it as schema.table"))
        })
    }

    /// The columns a row holds (generated columns are computed, not written).
    fn columns(&mut self, oid: u32) -> Result<Vec<Column>, DbError> {
        let rows = self
            .client
            .query(
                "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                &[&oid],
            )
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|r| Column { name: r.get(0), type_name: r.get(1) }).collect())
    }

    fn select_rewrites(&mut self, table: Option<&str>) -> Result<Vec<RewriteState>, DbError> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.state_table()])
            .map_err(db_error)?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        let misses: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.misses_table()])
            .map_err(db_error)?
            .get(0);
        // A table an earlier build made is brought up to date where it can be; reading needs no
        // more than SELECT, and a current one is not touched.
        let mut missing = self.missing_state_columns()?;
        if !misses || !missing.is_empty() {
            match self.ensure_rewrite_state() {
                Err(err) if err.code.as_deref() == Some("42501") => {}
                result => result?,
            }
            missing = self.missing_state_columns()?;
        }
        // Without the right to add it, an older table is read without how its rewrites ended.
        let ended_from = if missing.iter().any(|(column, _)| *column == "ended_from") { "NULL" } else { "ended_from" };
        let misses: bool = misses
            || self
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.misses_table()])
                .map_err(db_error)?
                .get(0);
        let out_of_step = if misses { self.out_of_step_sql("r.table_name") } else { "NULL".to_string() };
        let sql = format!(
            "SELECT table_name, alter_sql, using_exprs, shadow, old_name, phase, coalesce(out_of_step, {}), unvalidated, \
                    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), {ended_from} \
             FROM {} r WHERE $1::text IS NULL OR table_name = $1 ORDER BY started_at DESC",
            out_of_step,
            self.state_table()
        );
        let rows = self.client.query(&sql, &[&table]).map_err(db_error)?;
        rows.into_iter()
            .map(|row| {
                let using: Vec<String> = row.get(2);
                let phase: String = row.get(5);
                Ok(RewriteState {
                    table: row.get(0),
                    alter: row.get(1),
                    using: using.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect(),
                    shadow: row.get(3),
                    old: row.get(4),
                    phase: RewritePhase::parse(&phase).map_err(|e| other(e.to_string()))?,
                    ended_from: row.get::<_, Option<String>>(10).and_then(|p| RewritePhase::parse(&p).ok()),
                    out_of_step: row.get(6),
                    capture_incomplete: None,
                    unvalidated: row
                        .get::<_, Vec<String>>(7)
                        .chunks(2)
                        .map(|pair| (pair[0].clone(), pair[1].clone()))
                        .collect(),
                    started_at: row.get(8),
                    updated_at: row.get(9),
                })
            })
            .collect()
    }

    /// Why the table cannot be rewritten online, if it cannot.
    fn refusal(&mut self, table: &Relation) -> Result<Option<String>, DbError> {
        let row = self
            .client
            .query_one(
                "SELECT c.relkind::text, c.relpersistence::text, c.relispartition, \
                        EXISTS (SELECT FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid), \
                        c.relrowsecurity OR EXISTS (SELECT FROM pg_policy WHERE polrelid = c.oid), \
                        (SELECT string_agg(rulename, ', ') FROM pg_rewrite WHERE ev_class = c.oid AND rulename <> '_RETURN'), \
                        (SELECT string_agg(pubname, ', ') FROM pg_publication_tables WHERE schemaname = $2 AND tablename = $3), \
                        (WITH RECURSIVE deps(oid, depth) AS ( \
                           SELECT $1::oid, 0 UNION \
                           SELECT r.ev_class, deps.depth + 1 FROM deps JOIN pg_depend d ON d.refobjid = deps.oid AND d.classid = 'pg_rewrite'::regclass \
                           JOIN pg_rewrite r ON r.oid = d.objid WHERE r.ev_class <> deps.oid AND deps.depth < 50) \
                         SELECT concat_ws(', ', \
                           (SELECT string_agg(DISTINCT v.oid::regclass::text, ', ') FROM deps JOIN pg_class v ON v.oid = deps.oid AND v.relkind = 'm'), \
                           (SELECT string_agg(DISTINCT p.oid::regprocedure::text, ', ') FROM deps JOIN pg_depend d ON d.refobjid = deps.oid \
                              AND d.classid = 'pg_proc'::regclass JOIN pg_proc p ON p.oid = d.objid))) \
                        , (SELECT string_agg(conname, ', ') FROM pg_constraint WHERE conrelid = c.oid AND NOT convalidated) \
                        , (SELECT string_agg(conname, ', ') FROM pg_constraint WHERE conrelid = c.oid AND condeferrable AND contype IN ('p', 'u', 'x')) \
                 FROM pg_class c WHERE c.oid = $1",
                &[&table.oid, &table.schema, &table.name],
            )
            .map_err(db_error)?;
        let (kind, persistence, partition, inherits, policies): (String, String, bool, bool, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let (rules, publications, materialized): (Option<String>, Option<String>, Option<String>) =
            (row.get(5), row.get(6), row.get(7));
        let (not_valid, deferrable): (Option<String>, Option<String>) = (row.get(8), row.get(9));
        let name = &table.qualified;
        Ok(match () {
            _ if not_valid.is_some() => Some(format!("{name} has constraints added NOT VALID ({}): rows of the table may break them, and the copy into a table that checks them would stop there; VALIDATE them first (ALTER TABLE {name} VALIDATE CONSTRAINT ..), or drop them", not_valid.unwrap_or_default())),
            _ if deferrable.is_some() => Some(format!("{name} has DEFERRABLE unique constraints ({}): the copy and the change capture write with ON CONFLICT, which cannot use them; make them NOT DEFERRABLE first", deferrable.unwrap_or_default())),
            _ if kind == "p" => Some(format!("{name} is partitioned: its rows live in its partitions; rewrite each partition (`--table` a partition), or change the partitioned table in a migration")),
            _ if kind != "r" => Some(format!("{name} is not a table")),
            _ if partition => Some(format!("{name} is a partition: a rewritten copy cannot take its place in the partitioned table; detach it first, or change the partitioned table in a migration")),
            _ if persistence == "t" => Some(format!("{name} is a temporary table, seen only by its own session")),
            _ if inherits => Some(format!("{name} takes part in table inheritance: the copy would leave its parent or children behind")),
            _ if policies => Some(format!("{name} has row-level security: a copy would be read and written through its policies")),
            _ => match (rules, publications, materialized) {
                (Some(rules), _, _) => Some(format!("{name} has rules ({rules}), which cutover does not move to the rewritten table")),
                (_, Some(publications), _) => Some(format!("{name} is in the publication(s) {publications}: subscribers would see a new table; rewrite it on each side, or remove it from the publication for the rewrite")),
                (_, _, Some(readers)) if !readers.is_empty() => Some(format!("materialized views or functions with a SQL body read {name}, directly or through views ({readers}): they are bound to the table, not its name, and would go on reading the old one; drop them and make them again after the rewrite")),
                _ => None,
            },
        })
    }

    /// The statements that give `to` the grants `from` has (other than its owner's own).
    fn grants(&mut self, from: u32, to: &str) -> Result<Vec<String>, DbError> {
        let rows = self
            .client
            .query(
                "SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text, \
                        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                        CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
                 FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a WHERE c.oid = $1 AND a.grantee <> c.relowner \
                 UNION ALL \
                 SELECT format('GRANT %s (%I) ON %s TO %s%s', a.privilege_type, t.attname, $2::text, \
                        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                        CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
                 FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid CROSS JOIN LATERAL aclexplode(t.attacl) a \
                 WHERE t.attrelid = $1 AND t.attnum > 0 AND NOT t.attisdropped AND a.grantee <> c.relowner",
                &[&from, &to],
            )
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The key the copy walks: the table's, which the shadow must have as a unique index too.
    fn rewrite_key(&mut self, table: &Relation, shadow: &Relation) -> Result<TableKey, DbError> {
        let key = self.table_key(&table.qualified)?.ok_or_else(|| {
            other(format!("{} has no primary key and no unique index on NOT NULL columns: the copy walks such a key, and the change capture finds a row's copy by it; add one first", table.qualified))
        })?;
        let names: Vec<String> = key.columns.iter().map(|c| c.name.clone()).collect();
        let unique: bool = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique AND i.indimmediate AND i.indpred IS NULL \
                   AND i.indexprs IS NULL AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a \
                   WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])) = (SELECT array_agg(x ORDER BY x) FROM unnest($2::text[]) x))",
                &[&shadow.oid, &names],
            )
            .map_err(db_error)?
            .get(0);
        if !unique {
            return Err(other(format!(
                "the rewritten table has no unique index on ({}), the key of {} ({}), that is not DEFERRABLE: the change capture finds a row's copy by it (ON CONFLICT cannot use a deferrable one); keep it in the change, or make it NOT DEFERRABLE first",
                names.join(", "),
                table.qualified,
                key.source
            )));
        }
        Ok(TableKey { table: table.qualified.clone(), ..key })
    }

    /// The function and trigger that keep `to` in step with `from`'s writes: `columns` of `to`
    /// from `values` over the new row (aliased `alias`); `key` finds a row's copy. With
    /// `record_failure`, a write `to` refuses does not fail the application's: it is noted
    /// in the state row instead (the revert window's old table).
    #[allow(clippy::too_many_arguments)]
    fn capture_sql(
        &self,
        from: &Relation,
        to: &str,
        function: &str,
        columns: &[String],
        values: &[String],
        alias: &str,
        key: &[String],
        record_failure: Option<&str>,
        lossless: &[String],
    ) -> String {
        let q = quote_ident;
        let key_list = key.iter().map(|k| q(k)).collect::<Vec<_>>().join(", ");
        let old_key = key.iter().map(|k| format!("OLD.{}", q(k))).collect::<Vec<_>>().join(", ");
        let new_key = key.iter().map(|k| format!("NEW.{}", q(k))).collect::<Vec<_>>().join(", ");
        let quoted_key: Vec<String> = key.iter().map(|k| q(k)).collect();
        let updates: Vec<String> =
            columns.iter().filter(|c| !quoted_key.contains(c)).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let on_conflict = if updates.is_empty() {
            format!("ON CONFLICT ({key_list}) DO NOTHING")
        } else {
            format!("ON CONFLICT ({key_list}) DO UPDATE SET {}", updates.join(", "))
        };
        let exception = match record_failure {
            Some(table_name) => format!(
                "\nEXCEPTION WHEN OTHERS THEN\n    INSERT INTO {misses} (table_name, operation, error) SELECT {name}, TG_OP, SQLERRM\n        WHERE NOT EXISTS (SELECT FROM {misses} WHERE table_name = {name});\n    RETURN NULL;",
                misses = self.misses_table(),
                name = literal(table_name)
            ),
            None => String::new(),
        };
        format!(
            "CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $cutover$\n\
             #variable_conflict use_column\n\
             BEGIN\n\
             \x20   IF TG_OP = 'TRUNCATE' THEN\n\
             \x20       TRUNCATE {to};\n\
             \x20       RETURN NULL;\n\
             \x20   END IF;\n\
             \x20   IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ({old_key}) IS DISTINCT FROM ({new_key})) THEN\n\
             \x20       DELETE FROM {to} WHERE ({key_list}) = ({old_key});\n\
             \x20   END IF;\n\
             \x20   IF TG_OP <> 'DELETE' THEN\n{lossless}\
             \x20       INSERT INTO {to} ({columns}) OVERRIDING SYSTEM VALUE SELECT {values} FROM (SELECT NEW.*) AS {alias} {on_conflict};\n\
             \x20   END IF;\n\
             \x20   RETURN NULL;{exception}\n\
             END\n$cutover$;\n\
             CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {from} FOR EACH ROW EXECUTE FUNCTION {function}();\n\
             CREATE TRIGGER {truncate} AFTER TRUNCATE ON {from} FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n\
             ALTER TABLE {from} ENABLE ALWAYS TRIGGER {trigger}, ENABLE ALWAYS TRIGGER {truncate}",
            columns = columns.join(", "),
            values = values.join(", "),
            lossless = lossless.iter().map(|check| format!("        {check}\n")).collect::<String>(),
            trigger = q(CAPTURE_TRIGGER),
            truncate = q(TRUNCATE_TRIGGER),
            from = from.qualified,
        )
    }

    fn in_transaction<T>(
        &mut self,
        timeouts: Timeouts,
        body: impl FnOnce(&mut PgTarget) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.client.batch_execute(&begin_sql(timeouts, "")).map_err(db_error)?;
        match body(self) {
            Ok(value) => {
                self.client.batch_execute("COMMIT").map_err(db_error)?;
                Ok(value)
            }
            Err(err) => {
                let _ = self.client.batch_execute("ROLLBACK");
                Err(err)
            }
        }
    }

    fn exec(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).map_err(|err| {
            let err = db_error(err);
            DbError { message: format!("{} (in `{}`)", err.message, cutover_engine::statement_head(sql)), ..err }
        })
    }

    /// Moves a table's dependents to `to`, renames `from` to `from_new_name` and `to` to
    /// `from`'s name, inside the caller's transaction.
    /// `parked`: the foreign keys `to` had to other tables when it was last swapped out,
    /// made again on it (`NOT VALID`, validated after). Returns `from`'s, dropped: a table not
    /// in use must not refuse the application's writes to the tables it referred to.
    fn exchange(
        &mut self,
        from: &Relation,
        to: &Relation,
        from_new_name: &str,
        parked: &[(String, String)],
    ) -> Result<(SwapReport, Vec<(String, String)>), DbError> {
        let mut report = SwapReport::default();
        // Keys of `from` to other tables (parked), and to itself (moved to `to`).
        let outgoing = self
            .client
            .query(
                "SELECT quote_ident(conname), pg_get_constraintdef(oid), confrelid = conrelid FROM pg_constraint \
                 WHERE conrelid = $1 AND contype = 'f' ORDER BY oid",
                &[&from.oid],
            )
            .map_err(db_error)?;
        let mut dropped = Vec::new();
        let mut to_itself = Vec::new();
        for row in &outgoing {
            let (name, definition, itself): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
            self.exec(&format!("ALTER TABLE {} DROP CONSTRAINT {name}", from.qualified))?;
            let definition = definition.strip_suffix(" NOT VALID").unwrap_or(&definition).to_string();
            if itself {
                to_itself.push((name, definition));
            } else {
                dropped.push((name, definition));
            }
        }
        // Views that read the table, directly or through one another, oldest first (the
        // order they can be made again in).
        let views = self
            .client
            .query(
                "WITH RECURSIVE deps(oid, depth) AS ( \
                   SELECT DISTINCT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid \
                   WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1 AND r.ev_class <> $1 \
                   UNION \
                   SELECT r.ev_class, deps.depth + 1 FROM deps JOIN pg_depend d ON d.refobjid = deps.oid \
                   JOIN pg_rewrite r ON r.oid = d.objid WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> deps.oid AND deps.depth < 50) \
                 SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_get_viewdef(c.oid), \
                        coalesce(array_to_string(c.reloptions, ', '), ''), quote_ident(pg_get_userbyid(c.relowner)), \
                        obj_description(c.oid, 'pg_class'), max(deps.depth) \
                 FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'v' GROUP BY c.oid, n.nspname ORDER BY max(deps.depth), c.oid",
                &[&from.oid],
            )
            .map_err(db_error)?;
        struct View {
            name: String,
            definition: String,
            options: String,
            owner: String,
            comment: Option<String>,
            grants: Vec<String>,
            /// What is set on it after it is made: column defaults and comments, its triggers
            /// (`INSTEAD OF`, which give writes through it their meaning) in their state.
            extras: Vec<String>,
        }
        let mut saved = Vec::new();
        for row in &views {
            let oid: u32 = row.get(0);
            let name: String = row.get(1);
            let grants = self.grants(oid, &name)?;
            let extras = self
                .client
                .query(
                    "SELECT format('ALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', $2::text, a.attname, pg_get_expr(d.adbin, d.adrelid)) \
                     FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = $1 \
                     UNION ALL \
                     SELECT format('COMMENT ON COLUMN %s.%I IS %L', $2::text, a.attname, col_description(a.attrelid, a.attnum)) \
                     FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND col_description(a.attrelid, a.attnum) IS NOT NULL \
                     UNION ALL \
                     SELECT s FROM pg_trigger t, LATERAL (VALUES (pg_get_triggerdef(t.oid)), \
                        (CASE t.tgenabled WHEN 'D' THEN format('ALTER TABLE %s DISABLE TRIGGER %I', $2::text, t.tgname) \
                          WHEN 'A' THEN format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', $2::text, t.tgname) \
                          WHEN 'R' THEN format('ALTER TABLE %s ENABLE REPLICA TRIGGER %I', $2::text, t.tgname) END)) v(s) \
                     WHERE t.tgrelid = $1 AND NOT t.tgisinternal AND s IS NOT NULL",
                    &[&oid, &name],
                )
                .map_err(db_error)?
                .into_iter()
                .map(|row| row.get(0))
                .collect();
            saved.push(View {
                name,
                definition: row.get(2),
                options: row.get(3),
                owner: row.get(4),
                comment: row.get(5),
                grants,
                extras,
            });
        }
        let foreign_keys = self
            .client
            .query(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(k.conname), pg_get_constraintdef(k.oid) \
                 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE k.contype = 'f' AND k.confrelid = $1 AND k.conrelid <> $1 ORDER BY k.oid",
                &[&from.oid],
            )
            .map_err(db_error)?;
        let triggers = self
            .client
            .query(
                "SELECT quote_ident(tgname), pg_get_triggerdef(oid), tgenabled::text FROM pg_trigger \
                 WHERE tgrelid = $1 AND NOT tgisinternal AND tgname <> ALL ($2) ORDER BY oid",
                &[&from.oid, &vec![CAPTURE_TRIGGER, TRUNCATE_TRIGGER]],
            )
            .map_err(db_error)?;
        // Sequences owned by the table's columns (serial) move with the columns; an identity
        // column's own sequence goes on from where the table's stopped.
        let sequences = self
            .client
            .query(
                "SELECT s.oid::regclass::text, a.attname::text, a.attidentity <> '', s.oid, s.relname::text FROM pg_depend d \
                 JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype IN ('a', 'i')",
                &[&from.oid],
            )
            .map_err(db_error)?;

        for view in saved.iter().rev() {
            self.exec(&format!("DROP VIEW {}", view.name))?;
        }
        for row in &foreign_keys {
            let (table, name): (String, String) = (row.get(0), row.get(1));
            self.exec(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))?;
        }
        for row in &triggers {
            let name: String = row.get(0);
            self.exec(&format!("DROP TRIGGER {name} ON {}", from.qualified))?;
        }
        self.drop_capture(&from.qualified)?;
        self.exchange_index_names(from, to)?;
        self.exchange_statistics_names(from, to)?;
        self.exec(&format!("ALTER TABLE {} RENAME TO {}", from.qualified, quote_ident(from_new_name)))?;
        self.exec(&format!("ALTER TABLE {} RENAME TO {}", to.qualified, quote_ident(&from.name)))?;
        let to_now = from.qualified.clone();
        for row in &sequences {
            let (sequence, column, identity): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
            let has_column = self.columns_named(&to_now, &column)?;
            if !has_column {
                continue;
            }
            if identity {
                let (oid, name): (u32, String) = (row.get(3), row.get(4));
                let to_sequence: Option<String> = self
                    .client
                    .query_one("SELECT pg_get_serial_sequence($1, $2)", &[&to_now, &column])
                    .map_err(db_error)?
                    .get(0);
                let Some(to_sequence) = to_sequence else { continue };
                self.exec(&format!("SELECT setval({}, last_value, is_called) FROM {sequence}", literal(&to_sequence)))?;
                // The sequence's name goes with the column, as the indexes' names do.
                self.exec(&format!("ALTER SEQUENCE {sequence} RENAME TO {}", quote_ident(&format!("_cutover_{oid}"))))?;
                self.exec(&format!("ALTER SEQUENCE {to_sequence} RENAME TO {}", quote_ident(&name)))?;
            } else {
                self.exec(&format!("ALTER SEQUENCE {sequence} OWNED BY {to_now}.{}", quote_ident(&column)))?;
            }
        }
        for view in &saved {
            let options = if view.options.is_empty() { String::new() } else { format!(" WITH ({})", view.options) };
            self.exec(&format!("CREATE VIEW {}{options} AS {}", view.name, view.definition.trim_end_matches(';')))?;
            self.exec(&format!("ALTER VIEW {} OWNER TO {}", view.name, view.owner))?;
            for grant in &view.grants {
                self.exec(grant)?;
            }
            if let Some(comment) = &view.comment {
                self.exec(&format!("COMMENT ON VIEW {} IS {}", view.name, literal(comment)))?;
            }
            for extra in &view.extras {
                self.exec(extra)?;
            }
            report.views.push(view.name.clone());
        }
        // Printed before the renames, a key's REFERENCES names the table by its name, which is
        // `to`'s now.
        for (name, definition) in to_itself.iter().chain(parked) {
            self.exec(&format!("ALTER TABLE {to_now} ADD CONSTRAINT {name} {definition} NOT VALID"))?;
            report.foreign_keys.push((to_now.clone(), name.clone()));
        }
        for row in &foreign_keys {
            let (table, name, definition): (String, String, String) = (row.get(0), row.get(1), row.get(2));
            let definition = definition.strip_suffix(" NOT VALID").unwrap_or(&definition);
            self.exec(&format!("ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID"))?;
            report.foreign_keys.push((table, name));
        }
        for row in &triggers {
            let (name, definition, enabled): (String, String, String) = (row.get(0), row.get(1), row.get(2));
            self.exec(&definition)?;
            // Made enabled for origin sessions; a disabled, replica or always trigger stays so.
            let state = match enabled.as_str() {
                "D" => "DISABLE",
                "A" => "ENABLE ALWAYS",
                "R" => "ENABLE REPLICA",
                _ => "",
            };
            if !state.is_empty() {
                self.exec(&format!("ALTER TABLE {} {state} TRIGGER {name}", from.qualified))?;
            }
            report.triggers.push(name);
        }
        Ok((report, dropped))
    }

    /// Plans the statements the change capture runs (without running them): the upsert of a
    /// row and the comparison of keys.
    fn probe_capture(&mut self, table: &Relation, plan: &RewritePlan) -> Result<(), DbError> {
        let key: Vec<String> = plan.key.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let keys = key.join(", ");
        let shadow_key: Vec<String> = key.iter().map(|k| format!("s.{k}")).collect();
        let table_key: Vec<String> = key.iter().map(|k| format!("{}.{k}", plan.copy.alias)).collect();
        let probes = [
            format!(
                "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} AS {} WHERE false ON CONFLICT ({keys}) DO NOTHING",
                plan.copy.table,
                plan.copy.columns.join(", "),
                plan.copy.values.join(", "),
                table.qualified,
                plan.copy.alias
            ),
            format!(
                "SELECT FROM {} s, {} AS {} WHERE ({}) = ({}) AND false",
                plan.copy.table,
                table.qualified,
                plan.copy.alias,
                shadow_key.join(", "),
                table_key.join(", ")
            ),
        ];
        for probe in probes {
            self.client.batch_execute(&probe).map_err(|err| {
                let err = db_error(err);
                DbError {
                    message: format!(
                        "the change capture could not write the rewritten table: {} (nothing was made: fix the change or `--using`)",
                        err.message
                    ),
                    ..err
                }
            })?;
        }
        Ok(())
    }

    /// What the application sees of a table's definition, a hash per part (`columns:..`):
    /// compared at the swap, so that a change made to the table during the rewrite is not
    /// lost with the old table.
    fn fingerprint(&mut self, oid: u32) -> Result<String, DbError> {
        let row = self
            .client
            .query_one(
                &format!("SELECT 'column definitions:' || md5(coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull \
                        || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || coalesce(col_description(a.attrelid, a.attnum), '') \
                        || ' ' || a.attstorage::text || a.attcompression::text || coalesce(a.attacl::text, '') || ' ' || a.attidentity::text \
                        || ' ' || a.attcollation::regcollation::text, ',' ORDER BY a.attnum) \
                        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped), '')) \
                 || ',column settings:' || md5(coalesce((SELECT string_agg(s, ',' ORDER BY s) FROM ({COLUMN_SETTINGS}) s(s)), '')) \
                 || ',replica identity:' || md5((SELECT relreplident::text FROM pg_class WHERE oid = $1) || coalesce((SELECT regexp_replace(pg_get_indexdef(indexrelid), \
                        '^CREATE (UNIQUE )?INDEX .*? USING ', '\\1USING ') FROM pg_index WHERE indrelid = $1 AND indisreplident), '')) \
                 || ',indexes:' || md5(coalesce((SELECT string_agg(s, ',' ORDER BY s) FROM (SELECT regexp_replace(pg_get_indexdef(indexrelid), \
                        '^CREATE (UNIQUE )?INDEX .*? USING ', '\\1USING ') || coalesce(obj_description(indexrelid, 'pg_class'), '') AS s FROM pg_index WHERE indrelid = $1) i), '')) \
                 || ',constraints:' || md5(coalesce((SELECT string_agg(conname || ' ' || regexp_replace(pg_get_constraintdef(oid), ' NOT VALID$', '') || coalesce(obj_description(oid, 'pg_constraint'), ''), ',' ORDER BY conname) \
                        FROM pg_constraint WHERE conrelid = $1 AND contype <> 'f'), '')) \
                 || ',statistics:' || md5(coalesce((SELECT string_agg(pg_get_statisticsobjdef(oid), ',' ORDER BY stxname) FROM pg_statistic_ext WHERE stxrelid = $1), '')) \
                 || ',statistics targets:' || md5(coalesce((SELECT string_agg(s, ',' ORDER BY s) FROM ( \
                        SELECT regexp_replace(pg_get_indexdef(x.indexrelid), '^CREATE (UNIQUE )?INDEX .*? USING ', '\\1USING ') || ' ' || a.attnum || '=' || a.attstattarget AS s \
                          FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indexrelid WHERE x.indrelid = $1 AND coalesce(a.attstattarget, -1) >= 0 \
                        UNION ALL SELECT stxkind::text || ' ' || stxkeys::text || ' ' || coalesce(pg_get_expr(stxexprs, stxrelid), '') || '=' || stxstattarget \
                          FROM pg_statistic_ext WHERE stxrelid = $1 AND coalesce(stxstattarget, -1) >= 0) t), '')) \
                 || ',toast options:' || md5(coalesce((SELECT array_to_string(t.reloptions, ',') FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.oid = $1), '')) \
                 || ',foreign keys:' || md5(coalesce((SELECT string_agg(conname || ' ' || regexp_replace(pg_get_constraintdef(oid), ' NOT VALID$', ''), ',' ORDER BY conname) \
                        FROM pg_constraint WHERE conrelid = $1 AND contype = 'f'), '')) \
                 || ',privileges:' || md5(coalesce((SELECT string_agg(p::text, ',' ORDER BY p::text) FROM pg_class c, \
                        unnest(coalesce(c.relacl, acldefault('r', c.relowner))) p WHERE c.oid = $1), '')) \
                 || ',owner:' || md5((SELECT relowner::text FROM pg_class WHERE oid = $1)) \
                 || ',comment:' || md5(coalesce(obj_description($1, 'pg_class'), '')) \
                 || ',options:' || md5((SELECT coalesce(array_to_string(reloptions, ','), '') || relpersistence::text FROM pg_class WHERE oid = $1) \
                        || coalesce((SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index WHERE indrelid = $1 AND indisclustered), '')) \
                 || ',triggers:' || md5(coalesce((SELECT string_agg(tgname || ' ' || tgenabled::text || ' ' || pg_get_triggerdef(oid), ',' ORDER BY tgname) \
                        FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal AND tgname <> ALL ($2)), '')) \
                 || ',{COLUMNS_BY_NAME}:' || coalesce((SELECT string_agg(encode(convert_to(a.attname, 'UTF8'), 'hex') || '=' || md5(format_type(a.atttypid, a.atttypmod) \
                        || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || coalesce(col_description(a.attrelid, a.attnum), '') \
                        || ' ' || a.attstorage::text || a.attcompression::text || coalesce(a.attacl::text, '') || ' ' || a.attidentity::text \
                        || ' ' || a.attcollation::regcollation::text) || '/' || md5(coalesce(a.attstattarget, -1) || ' ' || coalesce((SELECT string_agg(o, ' ' ORDER BY o) \
                        FROM unnest(a.attoptions) o WHERE o ~ '^n_distinct(_inherited)?='), '')), ';' ORDER BY a.attnum) \
                        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped), '')"),
                &[&oid, &vec![CAPTURE_TRIGGER, TRUNCATE_TRIGGER]],
            )
            .map_err(db_error)?;
        Ok(row.get(0))
    }

    /// Why the change capture on `table` may have missed writes: a trigger of it dropped, or
    /// not firing always (disabled for a bulk load, `pg_restore --disable-triggers`).
    fn capture_broken(&mut self, table: u32) -> Result<Option<String>, DbError> {
        let firing: i64 = self
            .client
            .query_one(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1 AND tgname = ANY ($2) AND tgenabled = 'A'",
                &[&table, &vec![CAPTURE_TRIGGER, TRUNCATE_TRIGGER]],
            )
            .map_err(db_error)?
            .get(0);
        Ok((firing < 2).then(|| {
            format!("its change capture ({CAPTURE_TRIGGER}, {TRUNCATE_TRIGGER}) was disabled or dropped, so writes may have been missed")
        }))
    }

    /// Drops the change capture's triggers from `table`.
    fn drop_capture(&mut self, table: &str) -> Result<(), DbError> {
        for trigger in [CAPTURE_TRIGGER, TRUNCATE_TRIGGER] {
            self.exec(&format!("DROP TRIGGER IF EXISTS {} ON {table}", quote_ident(trigger)))?;
        }
        Ok(())
    }

    fn columns_named(&mut self, table: &str, column: &str) -> Result<bool, DbError> {
        Ok(self
            .client
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
                &[&table, &column],
            )
            .map_err(db_error)?
            .get(0))
    }

    /// A table's indexes: OID, name, and definition without the names.
    fn index_shapes(&mut self, oid: u32) -> Result<Vec<(u32, String, String)>, DbError> {
        let rows = self
            .client
            .query(
                "SELECT i.indexrelid, c.relname::text, \
                        regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX .*? USING ', '\\1USING ') \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1 ORDER BY i.indexrelid",
                &[&oid],
            )
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// Gives `shadow`, just made `LIKE` `table`, what `LIKE` does not copy and the planner or
    /// logical replication reads: column statistics targets and `n_distinct`, the replica
    /// identity, the index the table is clustered on.
    fn carry_settings(&mut self, table: &Relation, shadow: &str) -> Result<(), DbError> {
        let mut actions: Vec<String> =
            self.client.query(COLUMN_SETTINGS, &[&table.oid]).map_err(db_error)?.iter().map(|r| r.get(0)).collect();
        let row = self
            .client
            .query_one(
                "SELECT relreplident::text, \
                        (SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1 AND x.indisreplident), \
                        (SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1 AND x.indisclustered) \
                 FROM pg_class WHERE oid = $1",
                &[&table.oid],
            )
            .map_err(db_error)?;
        let (identity, identity_index, clustered): (String, Option<String>, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        let renames = self.index_names_by_shape(table.oid, shadow)?;
        let in_shadow = |index: &Option<String>| {
            index
                .as_ref()
                .and_then(|index| renames.iter().find(|(name, _)| name == index))
                .map(|(_, shadow)| quote_ident(shadow))
        };
        match identity.as_str() {
            "f" => actions.push("REPLICA IDENTITY FULL".into()),
            "n" => actions.push("REPLICA IDENTITY NOTHING".into()),
            "i" => {
                let index = in_shadow(&identity_index).ok_or_else(|| {
                    other(format!("the replica identity index of {} has no counterpart in its copy", table.qualified))
                })?;
                actions.push(format!("REPLICA IDENTITY USING INDEX {index}"));
            }
            _ => {}
        }
        if let Some(index) = in_shadow(&clustered) {
            actions.push(format!("CLUSTER ON {index}"));
        }
        // The TOAST table's own options (`toast.autovacuum_enabled`, ..).
        let toast: Option<Vec<String>> = self
            .client
            .query_one(
                "SELECT t.reloptions FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.oid = $1",
                &[&table.oid],
            )
            .map_err(db_error)?
            .get(0);
        actions.extend(toast.unwrap_or_default().iter().map(|option| format!("SET (toast.{option})")));
        if !actions.is_empty() {
            self.exec(&format!("ALTER TABLE {shadow} {}", actions.join(", ")))?;
        }
        Ok(())
    }

    /// A table's extended statistics objects: OID, name, definition without the names (its
    /// kinds, columns and expressions), and target.
    fn statistics_shapes(&mut self, table: u32) -> Result<Vec<(u32, String, String, i32)>, DbError> {
        let rows = self
            .client
            .query(
                "SELECT oid, stxname::text, stxkind::text || ' ' || stxkeys::text || ' ' || coalesce(pg_get_expr(stxexprs, stxrelid), ''), \
                        coalesce(stxstattarget, -1)::int4 \
                 FROM pg_statistic_ext WHERE stxrelid = $1 ORDER BY oid",
                &[&table],
            )
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    /// Gives `to`'s extended statistics the names of their counterparts in `from` (see
    /// `exchange_index_names`); `from`'s take names of their own.
    fn exchange_statistics_names(&mut self, from: &Relation, to: &Relation) -> Result<(), DbError> {
        let mut to_statistics = self.statistics_shapes(to.oid)?;
        let mut renames = Vec::new();
        for (oid, name, shape, _) in self.statistics_shapes(from.oid)? {
            let named = statistics_counterpart_name(oid);
            let position = to_statistics
                .iter()
                .position(|(_, n, _, _)| *n == named)
                .or_else(|| to_statistics.iter().position(|(_, _, s, _)| *s == shape));
            let Some(position) = position else { continue };
            let (to_oid, to_name, _, _) = to_statistics.remove(position);
            let schema = self.statistics_schema(oid)?;
            self.exec(&format!(
                "ALTER STATISTICS {schema}.{} RENAME TO {}",
                quote_ident(&name),
                quote_ident(&statistics_counterpart_name(to_oid))
            ))?;
            renames.push((self.statistics_schema(to_oid)?, to_name, schema, name));
        }
        for (to_schema, to_name, schema, name) in renames {
            self.exec(&format!(
                "ALTER STATISTICS {to_schema}.{} RENAME TO {}",
                quote_ident(&to_name),
                quote_ident(&name)
            ))?;
            if to_schema != schema {
                self.exec(&format!("ALTER STATISTICS {to_schema}.{} SET SCHEMA {schema}", quote_ident(&name)))?;
            }
        }
        Ok(())
    }

    /// The schema of a statistics object, quoted.
    fn statistics_schema(&mut self, oid: u32) -> Result<String, DbError> {
        Ok(self
            .client
            .query_one("SELECT quote_ident(n.nspname) FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE s.oid = $1", &[&oid])
            .map_err(db_error)?
            .get(0))
    }

    /// Names each index and extended statistics object of `shadow`, just made `LIKE` `table`,
    /// after its counterpart in `table` (`counterpart_name`, `statistics_counterpart_name`),
    /// before the change alters their definitions.
    fn name_counterparts(&mut self, table: &Relation, shadow: &str) -> Result<(), DbError> {
        let copy = self.required(shadow)?;
        let mut copies = self.index_shapes(copy.oid)?;
        let schema = quote_ident(&copy.schema);
        for (oid, _, shape) in self.index_shapes(table.oid)? {
            if let Some(position) = copies.iter().position(|(_, _, s)| *s == shape) {
                let (_, name, _) = copies.remove(position);
                self.exec(&format!(
                    "ALTER INDEX {schema}.{} RENAME TO {}",
                    quote_ident(&name),
                    quote_ident(&counterpart_name(oid))
                ))?;
            }
        }
        let mut copied = self.statistics_shapes(copy.oid)?;
        for (oid, _, shape, _) in self.statistics_shapes(table.oid)? {
            if let Some(position) = copied.iter().position(|(_, _, s, _)| *s == shape) {
                let (_, name, _, _) = copied.remove(position);
                self.exec(&format!(
                    "ALTER STATISTICS {schema}.{} RENAME TO {}",
                    quote_ident(&name),
                    quote_ident(&statistics_counterpart_name(oid))
                ))?;
            }
        }
        Ok(())
    }

    /// Gives `shadow`'s indexes and extended statistics, after the change (which rebuilds those
    /// on a column whose type it changes, resetting them), the statistics targets of their
    /// counterparts in `table`: an expression index's columns', a statistics object's.
    fn carry_targets(&mut self, table: &Relation, shadow: &str) -> Result<(), DbError> {
        let copy = self.required(shadow)?;
        let schema = quote_ident(&copy.schema);
        let targets = self
            .client
            .query(
                "SELECT format('ALTER INDEX %s.%I ALTER COLUMN %s SET STATISTICS %s', $3::text, '_cutover_i' || a.attrelid, a.attnum, a.attstattarget) \
                 FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indexrelid \
                 WHERE x.indrelid = $1 AND a.attnum > 0 AND coalesce(a.attstattarget, -1) >= 0 \
                   AND EXISTS (SELECT FROM pg_index y JOIN pg_class i ON i.oid = y.indexrelid WHERE y.indrelid = $2 AND i.relname = '_cutover_i' || a.attrelid) \
                 UNION ALL \
                 SELECT format('ALTER STATISTICS %s.%I SET STATISTICS %s', $3::text, '_cutover_s' || s.oid, s.stxstattarget) \
                 FROM pg_statistic_ext s WHERE s.stxrelid = $1 AND coalesce(s.stxstattarget, -1) >= 0 \
                   AND EXISTS (SELECT FROM pg_statistic_ext t WHERE t.stxrelid = $2 AND t.stxname = '_cutover_s' || s.oid)",
                &[&table.oid, &copy.oid, &schema],
            )
            .map_err(db_error)?;
        for row in targets {
            self.exec(&row.get::<_, String>(0))?;
        }
        Ok(())
    }

    /// The table's index names, each with the name of the shadow's index of the same definition.
    fn index_names_by_shape(&mut self, table: u32, shadow: &str) -> Result<Vec<(String, String)>, DbError> {
        let shadow = self.required(shadow)?;
        let mut shadow_indexes = self.index_shapes(shadow.oid)?;
        let mut pairs = Vec::new();
        for (_, name, shape) in self.index_shapes(table)? {
            if let Some(position) = shadow_indexes.iter().position(|(_, _, s)| *s == shape) {
                pairs.push((name, shadow_indexes.remove(position).1));
            }
        }
        Ok(pairs)
    }

    /// Gives `to`'s indexes the names of their counterparts in `from` (and the constraints they
    /// back with them); `from`'s take names of their own. An index's counterpart is the one
    /// named after it (`counterpart_name`: the copy's indexes are named so when it is made, and
    /// the parked ones here, so that a column renamed by the change, which changes the
    /// definition, does not lose its index's name either way), else one of the same definition.
    fn exchange_index_names(&mut self, from: &Relation, to: &Relation) -> Result<(), DbError> {
        let from_indexes = self.index_shapes(from.oid)?;
        let mut to_indexes = self.index_shapes(to.oid)?;
        let schema = quote_ident(&from.schema);
        let mut renames = Vec::new();
        for (oid, name, shape) in &from_indexes {
            let named = counterpart_name(*oid);
            let position = to_indexes
                .iter()
                .position(|(_, n, _)| *n == named)
                .or_else(|| to_indexes.iter().position(|(_, _, s)| s == shape));
            let Some(position) = position else { continue };
            let (to_oid, to_name, _) = to_indexes.remove(position);
            let parked = counterpart_name(to_oid);
            self.exec(&format!("ALTER INDEX {schema}.{} RENAME TO {}", quote_ident(name), quote_ident(&parked)))?;
            renames.push((to_name, name.clone()));
        }
        for (to_name, name) in renames {
            self.exec(&format!("ALTER INDEX {schema}.{} RENAME TO {}", quote_ident(&to_name), quote_ident(&name)))?;
        }
        Ok(())
    }

    /// The refusal for a table whose definition changed since the rewrite recorded it (at its
    /// start, or at the swap once swapped), naming what changed: the copy (or, for a revert,
    /// the old table) does not have the change, which would be lost with the table.
    fn changed_since(&mut self, state: &RewriteState, table: &Relation) -> Result<Option<String>, DbError> {
        let recorded: Option<String> = self
            .client
            .query_one(
                &format!("SELECT fingerprint FROM {} WHERE table_name = $1", self.state_table()),
                &[&state.table],
            )
            .map_err(db_error)?
            .get(0);
        let Some(recorded) = recorded else { return Ok(None) };
        let changed = changed_parts(&recorded, &self.fingerprint(table.oid)?);
        if changed.is_empty() {
            return Ok(None);
        }
        Ok(Some(if state.phase == RewritePhase::Swapped {
            format!(
                "{} was changed since the swap (its {}): the old table does not have the change, which a revert would lose; nothing was reverted: keep the rewritten table (`--cleanup` drops the old one), or undo the change first",
                table.qualified,
                changed.join(", ")
            )
        } else {
            format!(
                "{} was changed since the rewrite started (its {}): the rewritten copy does not have the change, which would be lost with the old table; nothing was swapped: `cutover rewrite --cleanup --table {}` and start again (the new rewrite copies the table as it is now)",
                table.qualified,
                changed.join(", "),
                table.qualified
            )
        }))
    }

    fn rewrite_state_of(&mut self, table: &str) -> Result<RewriteState, DbError> {
        self.load_rewrite(table)?.ok_or_else(|| other(format!("no rewrite of {table} is recorded")))
    }
}

/// A table's (`$1`) column settings that `CREATE TABLE .. (LIKE ..)` does not copy, as the
/// `ALTER TABLE` actions that give them: statistics targets and the planner's `n_distinct`.
const COLUMN_SETTINGS: &str = "SELECT format('ALTER COLUMN %I SET STATISTICS %s', attname, attstattarget) FROM pg_attribute \
     WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND coalesce(attstattarget, -1) >= 0 \
     UNION ALL SELECT format('ALTER COLUMN %I SET (%s)', a.attname, string_agg(o, ', ' ORDER BY o)) FROM pg_attribute a, unnest(a.attoptions) o \
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND o ~ '^n_distinct(_inherited)?=' GROUP BY a.attname";

/// The name of an extended statistics object whose counterpart in the other table of a rewrite
/// is the object `oid`.
fn statistics_counterpart_name(oid: u32) -> String {
    format!("_cutover_s{oid}")
}

/// The name of an index whose counterpart in the other table of a rewrite is the index `oid`.
fn counterpart_name(oid: u32) -> String {
    format!("_cutover_i{oid}")
}

/// The fingerprint's part that says which columns changed (each column's name in hex, a hash
/// of its definition and one of its settings: `656d61696c=<md5>/<md5>`): read to name them,
/// not compared as a part of its own.
const COLUMNS_BY_NAME: &str = "columns by name";

/// What differs between two fingerprints, for a message: the parts (`column definitions`,
/// `privileges`, ..), with the columns that changed, came or went where both fingerprints say
/// (`column definitions: `email` changed`); empty when nothing differs.
fn changed_parts(recorded: &str, now: &str) -> Vec<String> {
    let parts = |text: &str| -> Vec<(String, String)> {
        text.split(',').filter_map(|p| p.split_once(':')).map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    let (recorded, now) = (parts(recorded), parts(now));
    let part = |parts: &[(String, String)], name: &str| parts.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let columns = |settings: bool| match (part(&recorded, COLUMNS_BY_NAME), part(&now, COLUMNS_BY_NAME)) {
        (Some(before), Some(after)) => changed_columns(&before, &after, settings),
        _ => Vec::new(),
    };
    recorded
        .iter()
        .filter(|(name, _)| name != COLUMNS_BY_NAME)
        .filter(|(name, hash)| part(&now, name).is_some_and(|h| h != *hash))
        .map(|(name, _)| {
            let columns = match name.as_str() {
                "column definitions" => columns(false),
                "column settings" => columns(true),
                _ => Vec::new(),
            };
            if columns.is_empty() {
                name.clone()
            } else {
                format!("{name}: {}", columns.join(", "))
            }
        })
        .collect()
}

/// The columns that differ between two [`COLUMNS_BY_NAME`] parts, in their definitions
/// (`` `email` changed ``, `` `note` added ``, `` `fax` dropped ``: a rename is one dropped and
/// one added) or, with `settings`, in their settings (changed only).
fn changed_columns(before: &str, after: &str, settings: bool) -> Vec<String> {
    let columns = |text: &str| -> Vec<(String, String)> {
        text.split(';')
            .filter_map(|item| item.split_once('='))
            .map(|(hex, hashes)| {
                let (definition, kept) = hashes.split_once('/').unwrap_or((hashes, ""));
                let hash = if settings { kept } else { definition };
                (from_hex(hex).unwrap_or_else(|| hex.to_string()), hash.to_string())
            })
            .collect()
    };
    let (before, after) = (columns(before), columns(after));
    let hash_in =
        |columns: &[(String, String)], name: &str| columns.iter().find(|(n, _)| n == name).map(|(_, h)| h.clone());
    let mut changes: Vec<String> = Vec::new();
    for (name, hash) in &after {
        match hash_in(&before, name) {
            None if !settings => changes.push(format!("`{name}` added")),
            Some(old) if old != *hash => changes.push(format!("`{name}` changed")),
            _ => {}
        }
    }
    if !settings {
        changes.extend(
            before
                .iter()
                .filter(|(name, _)| hash_in(&after, name).is_none())
                .map(|(name, _)| format!("`{name}` dropped")),
        );
    }
    changes
}

/// Text from its UTF-8 bytes in hex (`656d61696c` is `email`).
fn from_hex(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|at| hex.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Pairs as the flat text array the state table keeps them in.
fn flat(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect()
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl RewriteTarget for PgTarget {
    fn rewrite_name(&mut self, table: &str) -> Result<String, DbError> {
        // The table's qualified name, which the swapped table keeps.
        Ok(match self.relation(table)? {
            Some(relation) => relation.qualified,
            None => table.to_string(),
        })
    }

    fn load_rewrite(&mut self, table: &str) -> Result<Option<RewriteState>, DbError> {
        let name = self.rewrite_name(table)?;
        Ok(self.select_rewrites(Some(&name))?.into_iter().next())
    }

    fn list_rewrites(&mut self) -> Result<Vec<RewriteState>, DbError> {
        self.select_rewrites(None)
    }

    fn start_rewrite(&mut self, request: &RewriteRequest, timeouts: Timeouts) -> Result<RewriteState, DbError> {
        self.ensure_rewrite_state()?;
        let table = self.required(&request.table)?;
        if let Some(reason) = self.refusal(&table)? {
            return Err(other(format!("cannot rewrite online: {reason}")));
        }
        let actions = match request.alter.as_deref() {
            None => None,
            Some(alter) => match split_alter(alter)? {
                Some((name, actions)) => {
                    let named = self.relation(&name)?;
                    if named.as_ref().map(|r| r.oid) != Some(table.oid) {
                        return Err(other(format!(
                            "`--alter` changes `{name}`, not `--table {}`: give the ALTER of the table being rewritten",
                            request.table
                        )));
                    }
                    Some(actions)
                }
                None => Some(alter.trim().trim_end_matches(';').to_string()),
            },
        };
        if let Some(actions) = &actions {
            let words = words(actions);
            let renames_table = words.windows(2).any(|w| w[0] == "rename" && w[1] == "to");
            let moves = words.windows(2).any(|w| w[0] == "set" && w[1] == "schema");
            if renames_table || moves {
                return Err(other(format!(
                    "`--alter` renames the table or moves it to another schema: that rewrites nothing; do it in a migration (`ALTER TABLE {} RENAME TO ..` takes its lock for an instant)",
                    table.qualified
                )));
            }
            // `TYPE .. USING expr` converts the shadow's (empty) rows only; the copy and the
            // change capture convert by assignment unless told otherwise.
            let type_using =
                words.iter().position(|w| w == "type").is_some_and(|at| words[at..].iter().any(|w| w == "using"));
            if type_using {
                return Err(other(
                    "`--alter` converts a column `USING` an expression: give the conversion as `--using COLUMN=EXPRESSION` instead (the copy and the change capture compute it for every row), and the type alone in --alter",
                ));
            }
        }
        let shadow_name = format!("_cutover_new_{}", table.oid);
        let old_name = format!("_cutover_old_{}", table.oid);
        let schema = quote_ident(&table.schema);
        // Quoted as the server quotes (only where needed), as the table's own name is.
        let names = self
            .client
            .query_one(
                "SELECT quote_ident($1) || '.' || quote_ident($2), quote_ident($1) || '.' || quote_ident($3)",
                &[&table.schema, &shadow_name, &old_name],
            )
            .map_err(db_error)?;
        let (shadow, old): (String, String) = (names.get(0), names.get(1));
        if self.relation(&shadow)?.is_some() || self.relation(&old)?.is_some() {
            return Err(other(format!(
                "{shadow} or {old} exists already, left by a rewrite whose state is gone: look at them, drop them, and run again"
            )));
        }
        let facts = self
            .client
            .query_one(
                "SELECT c.relpersistence = 'u', coalesce(array_to_string(c.reloptions, ', '), ''), obj_description(c.oid, 'pg_class'), \
                        quote_ident(pg_get_userbyid(c.relowner)), pg_get_userbyid(c.relowner) = current_user \
                 FROM pg_class c WHERE c.oid = $1",
                &[&table.oid],
            )
            .map_err(db_error)?;
        let (unlogged, options, comment, owner, own): (bool, String, Option<String>, String, bool) =
            (facts.get(0), facts.get(1), facts.get(2), facts.get(3), facts.get(4));
        let outgoing = self
            .client
            .query(
                "SELECT quote_ident(conname), pg_get_constraintdef(oid), confrelid = conrelid, conrelid::regclass::text \
                 FROM pg_constraint WHERE conrelid = $1 AND contype = 'f' ORDER BY oid",
                &[&table.oid],
            )
            .map_err(db_error)?;
        let grants = self.grants(table.oid, &shadow)?;
        let using = request.using.clone();
        let state_table = self.state_table();
        let table_for_tx = table.clone();
        let alter = request.alter.clone();
        self.in_transaction(timeouts, move |target| {
            let table = table_for_tx;
            let unlogged = if unlogged { "UNLOGGED " } else { "" };
            target.exec(&format!("CREATE {unlogged}TABLE {shadow} (LIKE {} INCLUDING ALL)", table.qualified))?;
            // Before the change, while the columns and indexes match the table's one to one
            // (a type change keeps them, a rename carries them).
            target.carry_settings(&table, &shadow)?;
            target.name_counterparts(&table, &shadow)?;
            if !options.is_empty() {
                target.exec(&format!("ALTER TABLE {shadow} SET ({options})"))?;
            }
            if let Some(comment) = &comment {
                target.exec(&format!("COMMENT ON TABLE {shadow} IS {}", literal(comment)))?;
            }
            for row in &outgoing {
                let (name, definition, to_itself): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
                // A key of the table to itself (a manager's id) would refuse a row copied before
                // its parent: it moves to the new table at the swap (see `exchange`).
                if to_itself {
                    continue;
                }
                target.exec(&format!("ALTER TABLE {shadow} ADD CONSTRAINT {name} {definition}"))?;
            }
            if let Some(actions) = &actions {
                let renames = target.index_names_by_shape(table.oid, &shadow)?;
                let retargeted = retarget(actions, &renames)?;
                target.client.batch_execute(&format!("ALTER TABLE {shadow} {retargeted}")).map_err(|err| {
                    let err = db_error(err);
                    DbError { message: format!("the change `{actions}` fails on a copy of {}: {}", table.qualified, err.message), ..err }
                })?;
            }
            target.carry_targets(&table, &shadow)?;
            for grant in &grants {
                target.exec(grant)?;
            }
            if !own {
                target.exec(&format!("ALTER TABLE {shadow} OWNER TO {owner}"))?;
            }
            let state = RewriteState {
                table: table.qualified.clone(),
                alter,
                using,
                shadow: shadow.clone(),
                old: old.clone(),
                phase: RewritePhase::Copying,
                ended_from: None,
                out_of_step: None,
                capture_incomplete: None,
                unvalidated: Vec::new(),
                started_at: String::new(),
                updated_at: String::new(),
            };
            let plan = target.rewrite_plan(&state)?;
            let key: Vec<String> = plan.key.columns.iter().map(|c| c.name.clone()).collect();
            let function = format!("{schema}.{}", quote_ident(&format!("_cutover_capture_{}", table.oid)));
            let capture = target.capture_sql(
                &table,
                &shadow,
                &function,
                &plan.copy.columns,
                &plan.copy.values,
                &plan.copy.alias,
                &key,
                None,
                &[],
            );
            target.exec(&capture)?;
            // What the change capture will run, planned now: an error here (a `--using` that
            // names no column, a key whose new type cannot be compared with the old) would
            // otherwise fail every application write until `--cleanup`.
            target.probe_capture(&table, &plan)?;
            // A view made again at the swap from its definition must find its columns.
            let lost: Option<String> = target
                .client
                .query_one(
                    "SELECT string_agg(DISTINCT v.oid::regclass::text || ' reads ' || quote_ident(a.attname), ', ') \
                     FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
                     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
                     WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1 AND d.refobjsubid > 0 AND v.oid <> $1 \
                       AND NOT EXISTS (SELECT FROM pg_attribute s WHERE s.attrelid = to_regclass($2) AND s.attname = a.attname \
                                       AND s.attnum > 0 AND NOT s.attisdropped)",
                    &[&table.oid, &shadow],
                )
                .map_err(db_error)?
                .get(0);
            if let Some(lost) = lost {
                return Err(other(format!(
                    "the change drops or renames columns that views read ({lost}): the views are made again from their definitions at the swap, and would fail; change the views first (drop them, or make them read other columns), and make them again after"
                )));
            }
            let fingerprint = target.fingerprint(table.oid)?;
            let using_flat: Vec<String> = state.using.iter().flat_map(|(c, e)| [c.clone(), e.clone()]).collect();
            let sql = format!(
                "INSERT INTO {state_table} (table_name, alter_sql, using_exprs, shadow, old_name, phase, fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (table_name) DO UPDATE SET alter_sql = EXCLUDED.alter_sql, using_exprs = EXCLUDED.using_exprs, fingerprint = EXCLUDED.fingerprint, \
                 shadow = EXCLUDED.shadow, old_name = EXCLUDED.old_name, phase = EXCLUDED.phase, out_of_step = NULL, ended_from = NULL, \
                 started_at = now(), updated_at = now()"
            );
            target
                .client
                .execute(
                    &sql,
                    &[&state.table, &state.alter, &using_flat, &state.shadow, &state.old, &RewritePhase::Copying.name(), &fingerprint],
                )
                .map_err(db_error)?;
            Ok(())
        })?;
        self.rewrite_state_of(&table.qualified)
    }

    fn revert_plan(&mut self, state: &RewriteState) -> Result<RewritePlan, DbError> {
        let table = self.required(&state.table)?;
        let old = self.required(&state.old)?;
        let key = self.rewrite_key(&table, &old)?;
        let renames = renamed_columns(state.alter.as_deref());
        let new_name =
            |old: &str| renames.iter().find(|(from, _)| from == old).map_or(old.to_string(), |(_, to)| to.clone());
        let new_columns = self.columns(table.oid)?;
        let alias = quote_ident(&table.name);
        let (mut columns, mut values, mut types) = (Vec::new(), Vec::new(), Vec::new());
        for column in self.columns(old.oid)? {
            let name = new_name(&column.name);
            if new_columns.iter().any(|n| n.name == name) {
                columns.push(quote_ident(&column.name));
                values.push(format!("{alias}.{}", quote_ident(&name)));
                types.push(column.type_name);
            }
        }
        Ok(RewritePlan {
            state: state.clone(),
            key,
            copy: CopyInto { table: old.qualified, columns, values, alias },
            types,
            defaulted: Vec::new(),
            dropped: Vec::new(),
        })
    }

    fn rewrite_plan(&mut self, state: &RewriteState) -> Result<RewritePlan, DbError> {
        let table = self.required(&state.table)?;
        let shadow = self.relation(&state.shadow)?.ok_or_else(|| {
            other(format!("the rewrite's copy {} is gone (dropped by hand?): run `cutover rewrite --cleanup --table {}` and start again", state.shadow, state.table))
        })?;
        let key = self.rewrite_key(&table, &shadow)?;
        let source = self.columns(table.oid)?;
        let target_columns = self.columns(shadow.oid)?;
        let alias = quote_ident(&table.name);
        let renames = renamed_columns(state.alter.as_deref());
        for (column, _) in &state.using {
            if !target_columns.iter().any(|c| &c.name == column) {
                return Err(other(format!("`--using {column}=...`: the rewritten table has no column `{column}`")));
            }
            if key.columns.iter().any(|k| &k.name == column) {
                return Err(other(format!("`--using {column}=...` changes the key `{column}`, which the change capture finds a row's copy by; keep the key's values")));
            }
        }
        let (mut columns, mut values, mut types, mut defaulted) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for column in &target_columns {
            let from = renames.iter().find(|(_, to)| to == &column.name).map_or(&column.name, |(from, _)| from);
            let value = match state.using.iter().find(|(c, _)| c == &column.name) {
                Some((_, expression)) => format!("({expression})"),
                None if source.iter().any(|s| &s.name == from) => format!("{alias}.{}", quote_ident(from)),
                None => {
                    defaulted.push(column.name.clone());
                    continue;
                }
            };
            columns.push(quote_ident(&column.name));
            values.push(value);
            types.push(column.type_name.clone());
        }
        let dropped = source
            .iter()
            .filter(|s| !target_columns.iter().any(|t| t.name == s.name))
            .filter(|s| {
                !renames.iter().any(|(from, to)| *from == s.name && target_columns.iter().any(|t| &t.name == to))
            })
            .map(|s| s.name.clone())
            .collect();
        Ok(RewritePlan {
            state: state.clone(),
            key,
            copy: CopyInto { table: shadow.qualified, columns, values, alias },
            types,
            defaulted,
            dropped,
        })
    }

    fn verify_chunk(
        &mut self,
        plan: &RewritePlan,
        after: Option<&[String]>,
        limit: u64,
        timeouts: Timeouts,
    ) -> Result<ChunkCheck, DbError> {
        let d = Dialect::Postgres;
        let key = &plan.key;
        let tuple = format!("({})", key.columns.iter().map(|c| d.quote(&c.name)).collect::<Vec<_>>().join(", "));
        let bound = |first: usize| {
            format!(
                "({})",
                key.columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("${}::text::{}", first + i, c.type_name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let order = key.columns.iter().map(|c| d.quote(&c.name)).collect::<Vec<_>>().join(", ");
        let texts = key.columns.iter().map(|c| format!("{}::text", d.quote(&c.name))).collect::<Vec<_>>().join(", ");
        let lower = after.map(|_| format!("{tuple} > {}", bound(1)));
        let after_values: Vec<String> = after.map(<[String]>::to_vec).unwrap_or_default();
        // One snapshot for the chunk's bound and both checksums: the change capture writes
        // both tables in the application's transaction, so any snapshot sees them in step.
        self.client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = '{}ms'; SET LOCAL lock_timeout = '{}ms'",
                timeouts.statement_timeout.as_millis(),
                timeouts.lock_timeout.as_millis()
            ))
            .map_err(db_error)?;
        let result = (|| {
            let where_lower = lower.as_ref().map(|l| format!(" WHERE {l}")).unwrap_or_default();
            let upper_row = self
                .client
                .query_opt(
                    &format!(
                        "SELECT {texts} FROM {}{where_lower} ORDER BY {order} OFFSET {} LIMIT 1",
                        key.table,
                        limit.saturating_sub(1)
                    ),
                    &params(&after_values),
                )
                .map_err(db_error)?;
            let last: Option<Vec<String>> =
                upper_row.map(|row| (0..key.columns.len()).map(|i| row.get::<_, String>(i)).collect());
            let mut filters: Vec<String> = lower.iter().cloned().collect();
            let mut values = after_values.clone();
            if let Some(last) = &last {
                filters.push(format!("{tuple} <= {}", bound(values.len() + 1)));
                values.extend(last.iter().cloned());
            }
            let filter = if filters.is_empty() { String::new() } else { format!(" WHERE {}", filters.join(" AND ")) };
            let casts: Vec<String> =
                plan.copy.values.iter().zip(&plan.types).map(|(v, t)| format!("CAST({v} AS {t})")).collect();
            let source_rows = format!(
                "SELECT {order}, hashtextextended(ROW({})::text, 0) AS h FROM {} AS {}{filter}",
                casts.join(", "),
                key.table,
                plan.copy.alias
            );
            let shadow_rows = format!(
                "SELECT {order}, hashtextextended(ROW({})::text, 0) AS h FROM {}{filter}",
                plan.copy.columns.join(", "),
                plan.copy.table
            );
            // A 64-bit hash of each row's text in the shadow's types, summed (exactly, as
            // numeric): the order of the rows does not matter, a changed, missing or extra row
            // does. Sorting and concatenating digests cost three times as much.
            let sum = |rows: &str| format!("SELECT count(*), coalesce(sum(h), 0)::text FROM ({rows}) x");
            let row = self
                .client
                .query_one(
                    &format!("SELECT * FROM ({}) a, ({}) b", sum(&source_rows), sum(&shadow_rows)),
                    &params(&values),
                )
                .map_err(db_error)?;
            let (source_count, source_sum, shadow_count, shadow_sum): (i64, String, i64, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let mut differing = Vec::new();
            if source_count != shadow_count || source_sum != shadow_sum {
                let join = key
                    .columns
                    .iter()
                    .map(|c| format!("a.{0} = b.{0}", d.quote(&c.name)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let shown = key
                    .columns
                    .iter()
                    .map(|c| format!("coalesce(a.{0}::text, b.{0}::text)", d.quote(&c.name)))
                    .collect::<Vec<_>>()
                    .join(" || ', ' || ");
                let rows = self
                    .client
                    .query(
                        &format!(
                            "SELECT {shown} FROM ({source_rows}) a FULL JOIN ({shadow_rows}) b ON {join} WHERE a.h IS DISTINCT FROM b.h LIMIT 5"
                        ),
                        &params(&values),
                    )
                    .map_err(db_error)?;
                differing = rows.into_iter().map(|r| r.get::<_, String>(0)).collect();
                if differing.is_empty() {
                    differing.push("(the checksums differ, the rows do not: compared again)".to_string());
                }
            }
            Ok(ChunkCheck { last, source_rows: source_count as u64, shadow_rows: shadow_count as u64, differing })
        })();
        let _ = self.client.batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
        result
    }

    fn set_rewrite_phase(&mut self, state: &RewriteState, phase: RewritePhase) -> Result<(), DbError> {
        if phase == RewritePhase::Ready {
            // Fresh statistics before the rewritten table takes the table's place: the
            // application's queries are planned on them from the swap on.
            self.exec(&format!("ANALYZE {}", state.shadow))?;
        }
        let sql = format!("UPDATE {} SET phase = $2, updated_at = now() WHERE table_name = $1", self.state_table());
        self.client.execute(&sql, &[&state.table, &phase.name()]).map_err(db_error)?;
        Ok(())
    }

    fn swap(&mut self, plan: &RewritePlan, timeouts: Timeouts) -> Result<SwapReport, DbError> {
        let state = plan.state.clone();
        let table = self.required(&state.table)?;
        let shadow = self.required(&state.shadow)?;
        let old_name =
            state.old.rsplit_once('.').map(|(_, n)| n).unwrap_or(&state.old).trim_matches('"').replace("\"\"", "\"");
        let key: Vec<String> = plan.key.columns.iter().map(|c| c.name.clone()).collect();
        // The old table is kept in step from the swapped one: each column it has that the new
        // one has too, converted back by assignment.
        let old_columns = self.columns(table.oid)?;
        let new_columns = self.columns(shadow.oid)?;
        let renames = renamed_columns(state.alter.as_deref());
        let new_name =
            |old: &str| renames.iter().find(|(from, _)| from == old).map_or(old.to_string(), |(_, to)| to.clone());
        let kept: Vec<&Column> =
            old_columns.iter().filter(|c| new_columns.iter().any(|n| n.name == new_name(&c.name))).collect();
        let alias = quote_ident(&table.name);
        let columns: Vec<String> = kept.iter().map(|c| quote_ident(&c.name)).collect();
        let values: Vec<String> = kept.iter().map(|c| format!("{alias}.{}", quote_ident(&new_name(&c.name)))).collect();
        // A value the old column's type would change (rounded to its scale or precision,
        // truncated) is a write the old table cannot keep: taken back by a revert, it would be
        // lost without a word. Cast there and back, it must read the same.
        let lossless: Vec<String> = kept
            .iter()
            .filter_map(|old| {
                let new = new_columns.iter().find(|n| n.name == new_name(&old.name))?;
                (new.type_name != old.type_name).then(|| {
                    let value = format!("NEW.{}", quote_ident(&new.name));
                    format!(
                        "IF ((({value})::{old_type})::{new_type})::text IS DISTINCT FROM ({value})::text THEN RAISE EXCEPTION 'the value of % changes in the old table''s type %', {name}, {old_literal}; END IF;",
                        old_type = old.type_name,
                        new_type = new.type_name,
                        name = literal(&new.name),
                        old_literal = literal(&old.type_name),
                    )
                })
            })
            .collect();
        let state_table = self.state_table();
        let started = Instant::now();
        self.in_transaction(timeouts, |target| {
            target.exec(&format!("LOCK TABLE {}, {} IN ACCESS EXCLUSIVE MODE", table.qualified, shadow.qualified))?;
            let lock_wait = started.elapsed();
            // Under the lock: a change made to the table since the shadow was made would be
            // lost with the old table.
            if let Some(reason) = target.refusal(&table)?.or(target.capture_broken(table.oid)?) {
                return Err(other(format!(
                    "{} was changed since the rewrite started: {reason}; nothing was swapped: undo that change, or `cutover rewrite --cleanup --table {}`",
                    table.qualified, table.qualified
                )));
            }
            if let Some(refusal) = target.changed_since(&state, &table)? {
                return Err(other(refusal));
            }
            let (mut report, parked) = target.exchange(&table, &shadow, &old_name, &[])?;

            let old = Relation { oid: table.oid, qualified: state.old.clone(), schema: table.schema.clone(), name: old_name.clone() };
            let swapped = Relation { oid: shadow.oid, qualified: table.qualified.clone(), schema: table.schema.clone(), name: table.name.clone() };
            let function = format!("{}.{}", quote_ident(&table.schema), quote_ident(&format!("_cutover_revert_{}", table.oid)));
            let capture = target.capture_sql(
                &swapped,
                &old.qualified,
                &function,
                &columns,
                &values,
                &alias,
                &key,
                Some(&state.table),
                &lossless,
            );
            target.exec(&capture)?;
            // The rewritten table's, for a revert to compare.
            let fingerprint = target.fingerprint(shadow.oid)?;
            target.exec(&format!("DROP FUNCTION IF EXISTS {}.{}()", quote_ident(&table.schema), quote_ident(&format!("_cutover_capture_{}", table.oid))))?;
            target
                .client
                .execute(
                    &format!("UPDATE {state_table} SET phase = $2, unvalidated = $3, parked = $4, fingerprint = $5, updated_at = now() WHERE table_name = $1"),
                    &[
                        &state.table,
                        &RewritePhase::Swapped.name(),
                        &flat(&report.foreign_keys),
                        &flat(&parked),
                        &fingerprint,
                    ],
                )
                .map_err(db_error)?;
            report.lock_wait = lock_wait;
            report.held = started.elapsed() - lock_wait;
            Ok(report)
        })
    }

    fn rewrite_lock_holders(&mut self, table: &str) -> Vec<cutover_engine::LockHolder> {
        // The state names the table quoted (`"public"."t"`); the lock query takes its parts bare.
        let Ok(relation) = self.required(table) else { return Vec::new() };
        let bare = format!("{}.{}", relation.schema, relation.name);
        crate::migrate::sessions_locking(&mut self.client, &[bare], &[], false).unwrap_or_default()
    }

    fn changed_since_recorded(&mut self, state: &RewriteState) -> Result<Option<String>, DbError> {
        let table = self.required(&state.table)?;
        self.changed_since(state, &table)
    }

    fn swap_back(&mut self, state: &RewriteState, timeouts: Timeouts) -> Result<SwapReport, DbError> {
        let state = state.clone();
        let current = self.rewrite_state_of(&state.table)?;
        if current.phase != RewritePhase::Swapped {
            return Err(other(format!(
                "the rewrite of {} is {}, not swapped: there is nothing to revert",
                state.table, current.phase
            )));
        }
        if let Some(reason) = &current.out_of_step {
            return Err(other(format!(
                "the old table {} stopped being kept in step ({reason}): a revert would lose the writes since; keep the rewritten table (`--cleanup` drops the old one)",
                state.old
            )));
        }
        let table = self.required(&state.table)?;
        let old = self.required(&state.old)?;
        let shadow_name = state
            .shadow
            .rsplit_once('.')
            .map(|(_, n)| n)
            .unwrap_or(&state.shadow)
            .trim_matches('"')
            .replace("\"\"", "\"");
        let state_table = self.state_table();
        let started = Instant::now();
        self.in_transaction(timeouts, |target| {
            target.exec(&format!("LOCK TABLE {}, {} IN ACCESS EXCLUSIVE MODE", table.qualified, old.qualified))?;
            let lock_wait = started.elapsed();
            if let Some(reason) = target.refusal(&table)?.or(target.capture_broken(table.oid)?) {
                return Err(other(format!(
                    "{} cannot be reverted: {reason}; nothing was reverted: keep the rewritten table (`--cleanup` drops the old one)",
                    table.qualified
                )));
            }
            // Read under the lock: a write that failed to reach the old table since is seen.
            let out_of_step: Option<String> = target
                .client
                .query_one(&format!("SELECT {}", target.out_of_step_sql("$1")), &[&state.table])
                .map_err(db_error)?
                .get(0);
            if let Some(reason) = out_of_step {
                return Err(other(format!("the old table {} stopped being kept in step ({reason}): a revert would lose the writes since", state.old)));
            }
            let parked: Vec<String> = target
                .client
                .query_one(&format!("SELECT parked FROM {state_table} WHERE table_name = $1"), &[&state.table])
                .map_err(db_error)?
                .get(0);
            let parked: Vec<(String, String)> = parked.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            // Under the lock: a change made to the rewritten table since the swap would be
            // lost with it.
            if let Some(refusal) = target.changed_since(&state, &table)? {
                return Err(other(refusal));
            }
            let (mut report, parked) = target.exchange(&table, &old, &shadow_name, &parked)?;
            target.exec(&format!("DROP FUNCTION IF EXISTS {}.{}()", quote_ident(&table.schema), quote_ident(&format!("_cutover_revert_{}", old.oid))))?;
            target
                .client
                .execute(
                    &format!("UPDATE {state_table} SET phase = $2, unvalidated = $3, parked = $4, updated_at = now() WHERE table_name = $1"),
                    &[&state.table, &RewritePhase::Reverted.name(), &flat(&report.foreign_keys), &flat(&parked)],
                )
                .map_err(db_error)?;
            report.lock_wait = lock_wait;
            report.held = started.elapsed() - lock_wait;
            Ok(report)
        })
    }

    fn validate_foreign_keys(&mut self, table: &str, timeouts: Timeouts) -> Result<Vec<String>, DbError> {
        let state = self.rewrite_state_of(table)?;
        let state_table = self.state_table();
        let mut left = Vec::new();
        for (table, name) in &state.unvalidated {
            // A scan of the referencing table under SHARE UPDATE EXCLUSIVE: writes go on.
            let timeouts = Timeouts { statement_timeout: Duration::ZERO, ..timeouts };
            let validated = self.in_transaction(timeouts, |target| {
                // Dropped or validated since (by hand, or by a run killed after it validated).
                let pending: bool = target
                    .client
                    .query_one(
                        "SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = to_regclass($1) AND quote_ident(conname) = $2 AND NOT convalidated)",
                        &[table, name],
                    )
                    .map_err(db_error)?
                    .get(0);
                if pending {
                    target.exec(&format!("ALTER TABLE {table} VALIDATE CONSTRAINT {name}"))?;
                }
                Ok(())
            });
            match validated {
                // Rows written while no table had the key break it (a key the old table had,
                // restored by a revert): it stays NOT VALID, checked for new rows only.
                Err(err) if matches!(err.code.as_deref(), Some("23503" | "23514")) => {
                    left.push(format!("{table}.{name} ({})", err.message));
                }
                result => result?,
            }
        }
        if !state.unvalidated.is_empty() {
            self.client
                .execute(
                    &format!("UPDATE {state_table} SET unvalidated = '{{}}' WHERE table_name = $1"),
                    &[&state.table],
                )
                .map_err(db_error)?;
        }
        Ok(left)
    }

    fn finish_rewrite(&mut self, state: &RewriteState, timeouts: Timeouts) -> Result<(), DbError> {
        let current = self.rewrite_state_of(&state.table)?;
        let state_table = self.state_table();
        let table = self.relation(&current.table)?;
        self.in_transaction(timeouts, |target| {
            // The table not in use: the shadow before a swap and after a revert, the old one after a swap.
            let unused = match current.phase {
                RewritePhase::Copying | RewritePhase::Ready | RewritePhase::Reverted => Some(current.shadow.clone()),
                RewritePhase::Swapped => Some(current.old.clone()),
                RewritePhase::Done => None,
            };
            if let Some(table) = &table {
                target.drop_capture(&table.qualified)?;
                // The functions are named by the OID of the table they were made for.
                let rows = target
                    .client
                    .query(
                        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = (SELECT relnamespace FROM pg_class WHERE oid = $1) \
                           AND p.proname ~ '^_cutover_(capture|revert)_[0-9]+$' AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgfoid = p.oid)",
                        &[&table.oid],
                    )
                    .map_err(db_error)?;
                for row in rows {
                    let function: String = row.get(0);
                    target.exec(&format!("DROP FUNCTION {function}"))?;
                }
            }
            if let Some(unused) = &unused {
                if let Some(relation) = target.relation(unused)? {
                    target.drop_capture(&relation.qualified)?;
                    target.client.batch_execute(&format!("DROP TABLE {}", relation.qualified)).map_err(|err| {
                        let err = db_error(err);
                        DbError { message: format!("cannot drop {}: {} (drop or move what depends on it, and run again)", relation.qualified, err.message), ..err }
                    })?;
                }
            }
            target
                .client
                .execute(
                    &format!("UPDATE {state_table} SET phase = $2, ended_from = CASE WHEN phase = $2 THEN ended_from ELSE phase END, updated_at = now() WHERE table_name = $1"),
                    &[&current.table, &RewritePhase::Done.name()],
                )
                .map_err(db_error)?;
            target
                .client
                .execute(
                    &format!("DELETE FROM {} WHERE table_name = $1", target.misses_table()),
                    &[&current.table],
                )
                .map_err(db_error)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{changed_parts, split_alter};

    #[test]
    fn what_changed_names_the_columns_where_both_fingerprints_say() {
        // `id`, `email` and `a,b:c` (hex), each with its hash.
        let before = "column definitions:aaa,column settings:s1,privileges:p1,columns by name:6964=h1/s;656d61696c=h2/s;612c623a63=h3/s";
        let after = "column definitions:bbb,column settings:s2,privileges:p1,columns by name:6964=h1/t;656d61696c=h9/s;6e6f7465=h4/s";
        assert_eq!(
            changed_parts(before, after),
            vec![
                "column definitions: `email` changed, `note` added, `a,b:c` dropped".to_string(),
                "column settings: `id` changed".to_string()
            ]
        );
        // A fingerprint an older cutover recorded has no column part: the part alone.
        let older = "column definitions:aaa,privileges:p0";
        assert_eq!(changed_parts(older, after), vec!["column definitions".to_string(), "privileges".to_string()]);
        assert!(changed_parts(after, after).is_empty());
    }

    #[test]
    fn an_alter_is_split_into_its_table_and_its_actions() {
        let split = |text: &str| split_alter(text).unwrap();
        assert_eq!(
            split("ALTER TABLE users ALTER COLUMN id TYPE bigint"),
            Some(("users".into(), "ALTER COLUMN id TYPE bigint".into()))
        );
        assert_eq!(
            split("alter table if exists only public.\"My \"\"T\"\" \" add column x int;"),
            Some(("public.\"My \"\"T\"\" \"".into(), "add column x int".into()))
        );
        assert_eq!(split("ALTER COLUMN id TYPE bigint"), None);
        assert!(split_alter("ALTER TABLE \"open").is_err());
        assert!(split_alter("ALTER TABLE users").is_err());
    }

    #[test]
    fn renamed_columns_are_read_from_the_change() {
        let renames = super::renamed_columns(Some("RENAME COLUMN \"Old Name\" TO new_name"));
        assert_eq!(renames, vec![("Old Name".to_string(), "new_name".to_string())]);
        assert_eq!(super::renamed_columns(Some("rename a to B")), vec![("a".to_string(), "b".to_string())]);
        assert!(super::renamed_columns(Some("RENAME CONSTRAINT c TO d")).is_empty());
        assert!(super::renamed_columns(Some("ADD COLUMN x text DEFAULT 'rename a to b'")).is_empty());
    }

    #[test]
    fn the_tables_index_names_in_a_change_become_the_shadows() {
        let renames = vec![
            ("users_pkey".to_string(), "_cutover_new_1_pkey".to_string()),
            ("Odd Name".to_string(), "_cutover_new_1_idx".to_string()),
        ];
        assert_eq!(
            super::retarget("DROP CONSTRAINT Users_Pkey, ADD COLUMN users_pkey_x int DEFAULT 'users_pkey'", &renames)
                .unwrap(),
            "DROP CONSTRAINT \"_cutover_new_1_pkey\", ADD COLUMN users_pkey_x int DEFAULT 'users_pkey'"
        );
        assert_eq!(
            super::retarget("DROP CONSTRAINT \"Odd Name\"", &renames).unwrap(),
            "DROP CONSTRAINT \"_cutover_new_1_idx\""
        );
        assert!(super::retarget("ADD COLUMN x int; DROP TABLE other", &renames).is_err());
        assert_eq!(
            super::retarget("ADD COLUMN x text DEFAULT 'a;b'", &renames).unwrap(),
            "ADD COLUMN x text DEFAULT 'a;b'"
        );
    }
}
