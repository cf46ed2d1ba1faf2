//! Liquibase formatted SQL: `.sql` changelogs whose first line is `--liquibase formatted sql`,
//! each holding changesets that start at a `--changeset author:id [attribute:value ...]` line;
//! a changeset's `--rollback` lines (or a `/* liquibase rollback ... */` block) are its down
//! script. A folder of changelogs is read as Liquibase's `includeAll` reads one: every file, in
//! the order of its path. A changeset is a migration; its version is its place in that order
//! (1, 2, ...), its name `author:id`.
//!
//! Liquibase runs each changeset in a transaction of its own, its statements one by one;
//! `runInTransaction:false` runs them outside one (`NoTransactionMarker::Liquibase`). What
//! changes whether or how often a changeset runs and cutover cannot do as Liquibase does
//! (`runAlways`, `runOnChange`, preconditions, `runWith`, properties, `failOnError:false`, an
//! `endDelimiter` other than `;`, includes) is refused with its line, not run differently.
//!
//! [`changesets`] also gives what Liquibase records of each changeset in `DATABASECHANGELOG`
//! (its file name and checksum), for `cutover adopt --from liquibase`.

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::{finish_script, FileCandidate, Found, LayoutRules, Part, ReadContext, Recognised, Section};
use crate::directive::{NoTransactionMarker, ScriptSettings};
use crate::{Checksum, Dialect, Error, Ignored, Layout, Migration, MigrationKind, Version};

pub(crate) struct Liquibase;

/// How much of a file tells whether its first line is Liquibase's header (with a BOM, spaces,
/// and a `logicalFilePath:` after it).
const HEADER_BYTES: usize = 512;

impl LayoutRules for Liquibase {
    fn name(&self) -> &'static str {
        "liquibase"
    }

    fn expected_names(&self) -> &'static str {
        "Liquibase formatted SQL changelogs: `.sql` files whose first line is `--liquibase formatted sql`"
    }

    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        // Known by its first line, so only the start of each `.sql` file is read here: the
        // other layouts' files are read once, by their own layout.
        if file.sql_stem().is_none() || !is_formatted_sql(&file.head(HEADER_BYTES)) {
            return Ok(None);
        }
        let name = file.sql_stem().unwrap_or_default().to_string();
        Ok(Some(Recognised::Migration { version: None, name, part: Part::Whole(file.take_text()?) }))
    }

    fn is_migration_name(&self, _base: &str) -> bool {
        false
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Liquibase]
    }

    fn reads_subfolders(&self) -> bool {
        true
    }

    fn passes_over_others(&self) -> Option<&'static str> {
        Some("not a Liquibase formatted SQL changelog (its first line is not `--liquibase formatted sql`): a script an XML or YAML changelog runs with `sqlFile` is not read; cutover reads formatted SQL changelogs")
    }

    fn read(&self, found: &[Found], context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        let dialect = context.dialect.unwrap_or_default();
        let mut files: Vec<&Found> = found.iter().collect();
        // `includeAll` runs a folder's changelogs in the order of their paths as strings
        // (`sub-1.sql` before `sub.sql` before `sub/x.sql`), not folder by folder.
        files.sort_by_cached_key(|f| f.path.to_string_lossy().into_owned());
        let mut migrations = Vec::new();
        for found in files {
            let Part::Whole(text) = &found.part else { continue };
            for changeset in parse(&found.path, text)? {
                if changeset.ignore {
                    context.ignored.push(Ignored {
                        path: found.path.clone(),
                        reason: format!(
                            "its changeset `{}` (line {}) is marked `ignore:true`: Liquibase skips it, so does cutover",
                            changeset.name(),
                            changeset.line
                        ),
                        refused_by_up: false,
                    });
                    continue;
                }
                if !changeset.runs_on(dialect, &found.path)? {
                    context.ignored.push(Ignored {
                        path: found.path.clone(),
                        reason: format!(
                            "its changeset `{}` (line {}) is for `dbms:{}`, not {}: Liquibase skips it there, so does cutover",
                            changeset.name(),
                            changeset.line,
                            changeset.dbms.as_deref().unwrap_or_default(),
                            dialect.name()
                        ),
                        refused_by_up: false,
                    });
                    continue;
                }
                let version = Version::parse(&(migrations.len() + 1).to_string()).expect("digits");
                migrations.push(changeset.migration(&found.path, text, version)?);
            }
        }
        Ok(migrations)
    }

    /// Never written: `write_new_migration` refuses, as a changeset has an author and an id
    /// only its writer knows.
    fn new_files(&self, _dir: &Path, _version: &str, _slug: &str) -> Vec<(PathBuf, String)> {
        Vec::new()
    }

    fn identifies_by_name(&self) -> bool {
        true
    }

    fn new_by_its_tool(&self) -> Option<&'static str> {
        Some("add a `--changeset author:id` section to a changelog (or a new changelog beginning `--liquibase formatted sql`, named to sort after the others); cutover reads it from there")
    }
}

/// What Liquibase records of a changeset, as `changesets` reads it from its changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiquibaseChangeset {
    /// Its id, as written after the author.
    pub id: String,
    /// Its author.
    pub author: String,
    /// Its line in the changelog.
    pub line: usize,
    /// The changelog's `logicalFilePath`, which Liquibase records instead of the path.
    pub logical_file_path: Option<String>,
    /// Its checksum as Liquibase 4.24 and later compute it (`9:<md5>`).
    pub checksum: String,
    /// Other checksums its `--validCheckSum:` lines accept (`ANY` accepts any).
    pub valid_checksums: Vec<String>,
}

/// The changesets of a formatted SQL changelog, with what Liquibase records of each.
pub fn liquibase_changesets(path: &Path, text: &str) -> Result<Vec<LiquibaseChangeset>, Error> {
    let header = header_attributes(text);
    Ok(parse(path, text)?
        .into_iter()
        .map(|c| LiquibaseChangeset {
            checksum: checksum_v9(&c.sql_lines.iter().map(|&(_, line)| line).collect::<Vec<_>>()),
            id: c.id,
            author: c.author,
            line: c.line,
            logical_file_path: header.clone(),
            valid_checksums: c.valid_checksums,
        })
        .collect())
}

/// Whether `text` is a formatted SQL changelog: its first line says so (Liquibase's own test).
fn is_formatted_sql(text: &str) -> bool {
    let first = text.trim_start_matches('\u{feff}').lines().next().unwrap_or_default();
    comment_keyword(first, "liquibase").is_some_and(|rest| {
        let mut words = rest.split_whitespace();
        words.next().is_some_and(|w| w.eq_ignore_ascii_case("formatted"))
    })
}

/// The `logicalFilePath:` of a changelog's first line, if it has one.
fn header_attributes(text: &str) -> Option<String> {
    let first = text.trim_start_matches('\u{feff}').lines().next()?;
    let rest = comment_keyword(first, "liquibase")?;
    attributes(rest).into_iter().find(|(key, _)| key.eq_ignore_ascii_case("logicalFilePath")).map(|(_, v)| v)
}

/// One changeset of a changelog.
#[derive(Debug)]
struct Changeset<'a> {
    author: String,
    id: String,
    /// The `--changeset` line.
    line: usize,
    /// The 0-based lines of the file from the changeset's line to the next one's (excluded).
    lines: std::ops::Range<usize>,
    /// The lines of its SQL (0-based line, text): what Liquibase runs and checksums.
    sql_lines: Vec<(usize, &'a str)>,
    /// The lines of its rollback SQL, and whether a rollback was written at all.
    rollback_lines: Vec<(usize, &'a str)>,
    has_rollback: bool,
    run_in_transaction: bool,
    ignore: bool,
    dbms: Option<String>,
    valid_checksums: Vec<String>,
}

impl Changeset<'_> {
    fn name(&self) -> String {
        format!("{}:{}", self.author, self.id)
    }

    /// Whether Liquibase runs it on `dialect` (its `dbms` list: names, `!name`, `all`, `none`).
    /// Liquibase tells MySQL (`mysql`) from MariaDB (`mariadb`); a folder is read for both
    /// alike, so a changeset whose list tells them apart is refused on either.
    fn runs_on(&self, dialect: Dialect, path: &Path) -> Result<bool, Error> {
        match dialect {
            Dialect::Postgres => Ok(self.runs_on_a(&["postgresql"])),
            Dialect::Sqlite => Ok(self.runs_on_a(&["sqlite"])),
            Dialect::Mysql => {
                let (mysql, mariadb) = (self.runs_on_a(&["mysql"]), self.runs_on_a(&["mariadb"]));
                if mysql != mariadb {
                    return Err(Error::AtLine {
                        path: path.to_path_buf(),
                        line: self.line,
                        message: format!(
                            "`dbms:{}`: Liquibase runs this changeset on {} and skips it on {}, and cutover reads a folder for MySQL and MariaDB alike; name both (`mysql,mariadb`) or neither",
                            self.dbms.as_deref().unwrap_or_default(),
                            if mysql { "MySQL" } else { "MariaDB" },
                            if mysql { "MariaDB" } else { "MySQL" }
                        ),
                    });
                }
                Ok(mysql)
            }
        }
    }

    fn runs_on_a(&self, ours: &[&str]) -> bool {
        let Some(list) = &self.dbms else { return true };
        let entries: Vec<String> = list.split(',').map(|e| e.trim().to_ascii_lowercase()).collect();
        if entries.iter().any(|e| e == "none") {
            return false;
        }
        if entries.iter().any(|e| e.strip_prefix('!').is_some_and(|name| ours.contains(&name))) {
            return false;
        }
        let positive: Vec<&String> = entries.iter().filter(|e| !e.starts_with('!') && !e.is_empty()).collect();
        positive.is_empty() || positive.iter().any(|e| *e == "all" || ours.contains(&e.as_str()))
    }

    /// The migration: its scripts are the file's text with every line that is not theirs
    /// emptied, so that lines (and columns) are the file's.
    fn migration(&self, path: &Path, text: &str, version: Version) -> Result<Migration, Error> {
        let file_lines: Vec<&str> = text.split('\n').collect();
        let keep = |kept: &[(usize, &str)]| -> String {
            let mut out: Vec<&str> = vec![""; file_lines.len()];
            for &(idx, line) in kept {
                out[idx] = line;
            }
            out.join("\n")
        };
        let mut settings = ScriptSettings::default();
        if !self.run_in_transaction {
            settings.no_transaction(NoTransactionMarker::Liquibase);
        }
        let up_text = keep(&self.sql_lines);
        let up = script(path, &up_text, settings)?;
        let down = if self.has_rollback {
            let down_text = keep(&self.rollback_lines);
            Some(script(path, &down_text, ScriptSettings::default())?)
        } else {
            None
        };
        // What Liquibase's checksum covers (its SQL, spaces, tabs and line breaks aside): an
        // edit of a comment, a rollback, an attribute or another changeset leaves it unchanged.
        let own: String = self
            .sql_lines
            .iter()
            .flat_map(|(_, line)| line.chars())
            .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
            .collect();
        Ok(Migration {
            version: Some(version),
            name: self.name(),
            kind: MigrationKind::Versioned,
            layout: Layout::Liquibase,
            checksum: Checksum::of_normalized(&own),
            up,
            down,
        })
    }
}

fn script(path: &Path, text: &str, settings: ScriptSettings) -> Result<crate::Script, Error> {
    let section = Section::whole(path, text);
    let settings = section.settings(settings)?;
    finish_script(path, text, section.statements()?, settings)
}

/// The rest of a `--keyword ...` comment line after the keyword (spaces allowed after `--`),
/// the keyword compared without case.
fn comment_keyword<'a>(line: &'a str, keyword: &str) -> Option<&'a str> {
    let body = line.trim_start().strip_prefix("--")?.trim_start();
    let head = body.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    Some(&body[keyword.len()..])
}

/// `key:value` pairs separated by spaces; a value may be quoted.
fn attributes(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for token in tokens(text) {
        if let Some((key, value)) = token.split_once(':') {
            out.push((key.to_string(), value.trim_matches('"').to_string()));
        }
    }
    out
}

/// Words separated by whitespace, a double-quoted part kept whole.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `author:id` of a `--changeset` line: the author may be quoted, or hold `\:`.
fn author_and_id(text: &str) -> Option<(String, String, &str)> {
    let text = text.trim_start();
    let (author, rest) = if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted.find('"')?;
        (quoted[..end].to_string(), quoted[end + 1..].strip_prefix(':')?)
    } else {
        let bytes = text.as_bytes();
        let colon = (0..bytes.len()).find(|&i| bytes[i] == b':' && (i == 0 || bytes[i - 1] != b'\\'))?;
        let author = &text[..colon];
        if author.is_empty() || author.contains(char::is_whitespace) {
            return None;
        }
        (author.replace("\\:", ":"), &text[colon + 1..])
    };
    let (id, attributes) = if let Some(quoted) = rest.strip_prefix('"') {
        let end = quoted.find('"')?;
        (quoted[..end].to_string(), &quoted[end + 1..])
    } else {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        (rest[..end].to_string(), &rest[end..])
    };
    (!id.is_empty()).then_some((author, id, attributes))
}

/// Liquibase's checksum of a changeset (version 9): the MD5 of its SQL with every space, tab
/// and line break removed, written `9:<hex>`, and that string followed by `:` hashed again.
fn checksum_v9(sql_lines: &[&str]) -> String {
    let mut inner = Md5::new();
    for line in sql_lines {
        let kept: Vec<u8> = line.bytes().filter(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t')).collect();
        inner.update(&kept);
    }
    let inner = format!("9:{}:", hex(&inner.finalize()));
    format!("9:{}", hex(&Md5::digest(inner.as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The changesets of a changelog, every line placed: SQL, rollback, or Liquibase's own.
fn parse<'a>(path: &Path, text: &'a str) -> Result<Vec<Changeset<'a>>, Error> {
    let at = |idx: usize, message: String| Error::AtLine { path: path.to_path_buf(), line: idx + 1, message };
    let lines: Vec<&str> = text.split('\n').collect();
    let mut changesets: Vec<Changeset<'a>> = Vec::new();
    let mut in_rollback_block = false;
    for (idx, &raw) in lines.iter().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if idx == 0 {
            continue; // `--liquibase formatted sql`
        }
        if in_rollback_block {
            let current = changesets.last_mut().expect("a block opens inside a changeset");
            match line.find("*/") {
                Some(end) => {
                    in_rollback_block = false;
                    current.rollback_lines.push((idx, &line[..end]));
                }
                None => current.rollback_lines.push((idx, line)),
            }
            continue;
        }
        if let Some(rest) = comment_keyword(line, "changeset") {
            if !rest.starts_with(char::is_whitespace) {
                return Err(at(idx, "a `--changeset` line needs `author:id` after a space".to_string()));
            }
            let Some((author, id, attrs)) = author_and_id(rest) else {
                return Err(at(idx, "a `--changeset` line needs `author:id` (`--changeset alice:1`)".to_string()));
            };
            if let Some(previous) = changesets.last_mut() {
                previous.lines.end = idx;
            }
            let mut changeset = Changeset {
                author,
                id,
                line: idx + 1,
                lines: idx..lines.len(),
                sql_lines: Vec::new(),
                rollback_lines: Vec::new(),
                has_rollback: false,
                run_in_transaction: true,
                ignore: false,
                dbms: None,
                valid_checksums: Vec::new(),
            };
            for (key, value) in attributes(attrs) {
                apply_attribute(&mut changeset, &key, &value).map_err(|message| at(idx, message))?;
            }
            if let Some(earlier) = changesets.iter().find(|c| c.author == changeset.author && c.id == changeset.id) {
                return Err(at(
                    idx,
                    format!(
                        "changeset `{}` is already defined at line {}: Liquibase refuses a changelog with two (give this one another id)",
                        changeset.name(),
                        earlier.line
                    ),
                ));
            }
            changesets.push(changeset);
            continue;
        }
        let Some(current) = changesets.last_mut() else {
            if !line.trim().is_empty() && !line.trim_start().starts_with("--") {
                return Err(at(idx, "SQL before the first `--changeset` line: Liquibase runs only what a changeset holds; start a changeset above it".to_string()));
            }
            if let Some(keyword) = refused_keyword(line) {
                return Err(at(idx, refused_message(keyword)));
            }
            continue;
        };
        if let Some(rest) = comment_keyword(line, "rollback") {
            current.has_rollback = true;
            let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
            let body = rest.trim();
            if !(body.eq_ignore_ascii_case("not required") || body.eq_ignore_ascii_case("empty")) {
                current.rollback_lines.push((idx, rest));
            }
            continue;
        }
        if let Some(rest) = block_rollback_start(line) {
            current.has_rollback = true;
            match rest.find("*/") {
                Some(end) => current.rollback_lines.push((idx, &rest[..end])),
                None => {
                    in_rollback_block = true;
                    current.rollback_lines.push((idx, rest));
                }
            }
            continue;
        }
        if comment_keyword(line, "comment").is_some_and(|rest| rest.starts_with(':') || rest.starts_with(' ')) {
            continue;
        }
        if let Some(rest) = comment_keyword(line, "validCheckSum") {
            let value = rest.strip_prefix(':').unwrap_or(rest).trim();
            // `--validCheckSum: 9:abc... a comment`: the checksum is the first word.
            if let Some(sum) = value.split_whitespace().next() {
                current.valid_checksums.push(sum.to_string());
            }
            continue;
        }
        if let Some(keyword) = refused_keyword(line) {
            return Err(at(idx, refused_message(keyword)));
        }
        current.sql_lines.push((idx, line));
    }
    if in_rollback_block {
        let last = changesets.last().map_or(0, |c| c.line);
        return Err(at(
            last - 1,
            "a `/* liquibase rollback` block of this changeset is never closed with `*/`".to_string(),
        ));
    }
    Ok(changesets)
}

/// The start of a `/* liquibase rollback` block on `line`, and what follows it.
fn block_rollback_start(line: &str) -> Option<&str> {
    let body = line.trim_start().strip_prefix("/*")?.trim_start();
    let rest = body.get(..9).filter(|h| h.eq_ignore_ascii_case("liquibase"))?;
    let after = body[rest.len()..].trim_start();
    let head = after.get(..8).filter(|h| h.eq_ignore_ascii_case("rollback"))?;
    Some(&after[head.len()..])
}

/// A Liquibase comment line that changes what runs, which cutover does not do as Liquibase
/// (each as Liquibase's parser tells it from a plain comment).
fn refused_keyword(line: &str) -> Option<&'static str> {
    let has = |keyword: &str, attribute: &str| {
        comment_keyword(line, keyword).is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_whitespace() || c == ':')
                && (attribute.is_empty() || rest.to_ascii_lowercase().contains(attribute))
        })
    };
    if has("preconditions", "") || comment_keyword(line, "precondition-").is_some() {
        Some("precondition")
    } else if has("property", "name:") {
        Some("property")
    } else if has("include", "file:") || has("includeAll", "path:") {
        Some("include")
    } else if has("ignoreLines", "") {
        Some("ignoreLines")
    } else {
        None
    }
}

fn refused_message(keyword: &str) -> String {
    let what = match keyword {
        "precondition" => "a precondition: Liquibase decides at run time whether the changeset runs; cutover does not evaluate preconditions",
        "property" => "a changelog property: Liquibase substitutes `${...}` in the SQL; cutover runs the SQL as written",
        "include" => "an include: cutover reads a folder's changelogs in path order, as `includeAll` does",
        _ => "`--ignoreLines`: cutover reads every line",
    };
    format!("{what}; write the changeset without it to run it with cutover")
}

/// Applies one `key:value` of a `--changeset` line.
fn apply_attribute(changeset: &mut Changeset<'_>, key: &str, value: &str) -> Result<(), String> {
    let truthy = value.eq_ignore_ascii_case("true");
    let falsy = value.eq_ignore_ascii_case("false");
    let refuse = |why: &str| Err(format!("`{key}:{value}`: {why}; cutover would not run it as Liquibase does"));
    match key.to_ascii_lowercase().as_str() {
        "runintransaction" if falsy => changeset.run_in_transaction = false,
        "runintransaction" if truthy => {}
        "runintransaction" => return Err(format!("`{key}:{value}`: Liquibase takes true or false")),
        "ignore" => changeset.ignore = truthy,
        "dbms" => changeset.dbms = Some(value.to_string()),
        "runalways" if truthy => return refuse("Liquibase runs it on every update, cutover runs a migration once"),
        "runonchange" if truthy => {
            return refuse(
                "Liquibase runs it again whenever it changes, cutover runs a migration once and refuses an edited one",
            )
        }
        "failonerror" if falsy => return refuse("Liquibase records it as run when it fails"),
        "runwith" if !value.eq_ignore_ascii_case("jdbc") => {
            return refuse("Liquibase hands it to another program (psql, sqlplus, sqlcmd)")
        }
        "enddelimiter" if !matches!(value, ";" | "") => {
            return refuse("statements end with another delimiter; cutover splits them at `;`")
        }
        // What only selects among changesets (cutover runs them all, as Liquibase does when no
        // context or label is given) or only changes how Liquibase splits or logs.
        "context"
        | "contextfilter"
        | "contexts"
        | "labels"
        | "label"
        | "splitstatements"
        | "stripcomments"
        | "logicalfilepath"
        | "created"
        | "runorder"
        | "rollbacksplitstatements"
        | "rollbackenddelimiter"
        | "runalways"
        | "runonchange"
        | "failonerror"
        | "runwith"
        | "enddelimiter"
        | "onvalidationfail" => {}
        _ => return Err(format!("`{key}:{value}` is not a changeset attribute Liquibase knows; check its spelling")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::testing::{read, summary};

    const CHANGELOG: &str = "--liquibase formatted sql\n\n\
        --changeset alice:1\n\
        CREATE TABLE person (id int primary key, name varchar(50));\n\
        --rollback DROP TABLE person;\n\n\
        --changeset alice:2 runInTransaction:false\n\
        -- a comment inside\n\
        CREATE INDEX CONCURRENTLY person_name ON person (name);\n\
        --rollback DROP INDEX person_name;\n\n\
        --changeset bob:3\n\
        ALTER TABLE person ADD COLUMN email text;\n   UPDATE person SET email = 'x';\n\n\
        --rollback ALTER TABLE person DROP COLUMN email;\n";

    /// The checksums Liquibase 4.28 recorded for this changelog (`liquibase update` on
    /// PostgreSQL 15); the integration test `layouts_liquibase` checks more with Liquibase itself.
    #[test]
    fn checksums_are_liquibases() {
        let sets = liquibase_changesets(Path::new("changelog.sql"), CHANGELOG).unwrap();
        let sums: Vec<&str> = sets.iter().map(|c| c.checksum.as_str()).collect();
        assert_eq!(
            sums,
            [
                "9:ce1d560368e5a1e7d4b47a80b8b8926b",
                "9:11c41f3f7fa0eeffffcd99676fbd58aa",
                "9:2cc2051a22bd8fcdee9eaebe9355463e"
            ]
        );
        let crlf = CHANGELOG.replace('\n', "\r\n");
        let again: Vec<String> =
            liquibase_changesets(Path::new("c.sql"), &crlf).unwrap().into_iter().map(|c| c.checksum).collect();
        assert_eq!(again, sums, "line ends do not count");
    }

    #[test]
    fn changesets_in_path_order_with_their_rollbacks() {
        let (_dir, res) = read(
            &[
                ("db/001_people.sql", CHANGELOG),
                (
                    "db/002_more.sql",
                    "--liquibase formatted sql\n--changeset carol:x dbms:mysql\nSELECT 1;\n\
                     --changeset carol:y dbms:postgresql,h2 context:prod\nSELECT 2;\n--rollback not required\n\
                     --changeset carol:z ignore:true\nSELECT 3;\n",
                ),
                ("db/notes.sql", "SELECT 'not a changelog';\n"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Liquibase);
        assert_eq!(
            summary(&set),
            [
                "1 alice:1 tx=true up=[CREATE TABLE person (id int primary key, name varchar(50))@4] down=Some(\"DROP TABLE person\")",
                "2 alice:2 tx=false up=[CREATE INDEX CONCURRENTLY person_name ON person (name)@9] down=Some(\"DROP INDEX person_name\")",
                "3 bob:3 tx=true up=[ALTER TABLE person ADD COLUMN email text@13|UPDATE person SET email = 'x'@14] down=Some(\"ALTER TABLE person DROP COLUMN email\")",
                "4 carol:y tx=true up=[SELECT 2@5] down=Some(\"\")",
            ]
        );
        let reasons: Vec<&str> = set.ignored.iter().map(|i| i.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("carol:x") && r.contains("dbms:mysql")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("carol:z") && r.contains("ignore:true")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("not a Liquibase formatted SQL changelog")), "{reasons:?}");
        let edited = CHANGELOG
            .replace("UPDATE person SET email = 'x'", "UPDATE person SET email = 'y'")
            .replace("--rollback DROP TABLE person;", "--rollback DROP TABLE person CASCADE;")
            .replace("name varchar(50))", "name   varchar(50)\t)");
        let (_dir, res) = read(&[("a.sql", &edited)], None);
        let again = res.unwrap();
        assert_eq!(
            again.migrations[0].checksum, set.migrations[0].checksum,
            "its rollback and its white space changed: Liquibase's checksum does not"
        );
        assert_ne!(again.migrations[2].checksum, set.migrations[2].checksum);
    }

    #[test]
    fn mysql_and_mariadb_are_told_apart_by_liquibase_only() {
        let text = "--liquibase formatted sql\n--changeset a:1 dbms:mysql,mariadb\nSELECT 1;\n\
            --changeset a:2 dbms:!postgresql\nSELECT 2;\n--changeset a:3 dbms:mariadb\nSELECT 3;\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.sql"), text).unwrap();
        let err = crate::discover_for(dir.path(), None, Some(Dialect::Mysql)).unwrap_err().to_string();
        assert!(
            err.contains("c.sql:6") && err.contains("runs this changeset on MariaDB and skips it on MySQL"),
            "{err}"
        );
        let set = crate::discover_for(dir.path(), None, Some(Dialect::Postgres)).unwrap();
        assert_eq!(set.migrations.len(), 0, "none is for PostgreSQL");
        std::fs::write(dir.path().join("c.sql"), text.replace("dbms:mariadb", "dbms:mariadb,mysql")).unwrap();
        assert_eq!(crate::discover_for(dir.path(), None, Some(Dialect::Mysql)).unwrap().migrations.len(), 3);
    }

    #[test]
    fn what_liquibase_decides_at_run_time_is_refused_with_its_line() {
        for (body, expected) in [
            ("--changeset a:1 runOnChange:true\nSELECT 1;\n", "runs it again whenever it changes"),
            ("--changeset a:1 runAlways:true\nSELECT 1;\n", "every update"),
            ("--changeset a:1\n--preconditions onFail:MARK_RAN\nSELECT 1;\n", "precondition"),
            ("--changeset a:1 endDelimiter:/\nSELECT 1\n/\n", "another delimiter"),
            ("--changeset a:1 runInTransacton:false\nSELECT 1;\n", "check its spelling"),
            ("--changeset a:1\nSELECT 1;\n--changeset a:1\nSELECT 2;\n", "already defined at line 2"),
            ("SELECT 0;\n--changeset a:1\nSELECT 1;\n", "before the first"),
            ("--changeset nobody\nSELECT 1;\n", "author:id"),
        ] {
            let text = format!("--liquibase formatted sql\n{body}");
            let (_dir, res) = read(&[("c.sql", &text)], None);
            let err = res.unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("c.sql:"), "{body}: {err}");
        }
    }

    #[test]
    fn headers_authors_and_block_rollbacks() {
        assert!(is_formatted_sql("-- liquibase formatted sql logicalFilePath:db/x.sql\n"));
        assert!(is_formatted_sql("--Liquibase Formatted SQL\r\n"));
        assert!(!is_formatted_sql("-- a file\n--liquibase formatted sql\n"));
        let text = "--liquibase formatted sql logicalFilePath:db/x.sql\n\
            --changeset \"Jane Doe\":create-users runInTransaction:false context:\"a and b\"\n\
            CREATE TABLE users (id int);\n\
            /* liquibase rollback\n\
            DROP TABLE users;\n\
            */\n\
            --changeset mail\\:bot:2\n\
            --comment: adds a column\n\
            --validCheckSum: 9:0123 a note\n\
            ALTER TABLE users ADD COLUMN a int;\n";
        let sets = liquibase_changesets(Path::new("x.sql"), text).unwrap();
        assert_eq!(sets[0].author, "Jane Doe");
        assert_eq!(sets[0].id, "create-users");
        assert_eq!(sets[0].logical_file_path.as_deref(), Some("db/x.sql"));
        assert_eq!(sets[1].author, "mail:bot");
        assert_eq!(sets[1].valid_checksums, ["9:0123"]);
        assert_eq!(sets[1].checksum, checksum_v9(&["ALTER TABLE users ADD COLUMN a int;"]), "the comment is not SQL");
        let (_dir, res) = read(&[("x.sql", text)], None);
        let set = res.unwrap();
        assert_eq!(
            summary(&set),
            [
                "1 Jane Doe:create-users tx=false up=[CREATE TABLE users (id int)@3] down=Some(\"DROP TABLE users\")",
                "2 mail:bot:2 tx=true up=[ALTER TABLE users ADD COLUMN a int@10] down=None",
            ]
        );
        assert_eq!(set.migrations[1].down.as_ref().map(|d| d.statements.len()), None);
    }
}
