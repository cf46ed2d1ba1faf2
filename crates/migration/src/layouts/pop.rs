//! gobuffalo pop and ory's popx: `<version>_<name>[.<engine>][.autocommit].up.sql` and
//! `.down.sql`. A migration may have a variant per engine (`postgres`, `mysql`, `sqlite3`,
//! `cockroach`, `mssql`) beside a generic file for every engine; popx reads the database's own
//! variant, else the generic one. `.autocommit.` files run outside a transaction.
//!
//! Generic files are named as cutover's own are ([`super::native`] recognises them); a folder
//! is pop's when at least one file carries an engine or `autocommit`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::native::pair_files;
use super::{script_from_file, versioned, FileCandidate, Found, LayoutRules, Part, ReadContext, Recognised};
use crate::directive::{NoTransactionMarker, ScriptSettings};
use crate::discover::read_text;
use crate::{Dialect, Error, Ignored, Layout, Migration, Script, Version};

pub(crate) struct Pop;

/// The engines pop names in file names.
const ENGINES: [&str; 5] = ["postgres", "mysql", "sqlite3", "cockroach", "mssql"];

/// The engine a file name gives, by its canonical name: pop reads the synonyms too.
fn engine_name(text: &str) -> Option<&'static str> {
    let canonical = match text {
        "postgresql" | "pg" | "pgx" => "postgres",
        "sqlite" => "sqlite3",
        "cockroachdb" | "crdb" => "cockroach",
        other => other,
    };
    ENGINES.iter().find(|e| **e == canonical).copied()
}

/// What a pop file name says.
struct PopName {
    version: Version,
    name: String,
    /// `None` for the generic file.
    engine: Option<&'static str>,
    autocommit: bool,
    up: bool,
}

/// `<version>_<name>[.<engine>][.autocommit].up` (or `.down`), the `.sql` taken off.
fn parse_pop_name(stem: &str) -> Option<PopName> {
    let (rest, up) = match (stem.strip_suffix(".up"), stem.strip_suffix(".down")) {
        (Some(rest), _) => (rest, true),
        (_, Some(rest)) => (rest, false),
        _ => return None,
    };
    let (rest, autocommit) = match rest.strip_suffix(".autocommit") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let (rest, engine) = match rest.rsplit_once('.') {
        Some((base, engine)) => (base, Some(engine_name(engine)?)),
        None => (rest, None),
    };
    let (digits, name) = rest.split_once('_')?;
    if name.is_empty() || name.contains('.') {
        return None;
    }
    // popx compares versions as text (`10` before `9`), as diesel does.
    let version = Version::parse_lexical(digits)?;
    Some(PopName { version, name: name.to_string(), engine, autocommit, up })
}

impl LayoutRules for Pop {
    fn name(&self) -> &'static str {
        "pop"
    }

    fn expected_names(&self) -> &'static str {
        "`<version>_<name>[.<engine>][.autocommit].up.sql` and `.down.sql` (pop/popx; engines postgres, mysql, sqlite3, cockroach, mssql)"
    }

    fn parse_version(&self, text: &str) -> Option<Version> {
        Version::parse_lexical(text)
    }

    /// Only the files that name an engine or `autocommit`: the generic ones are native names.
    /// pop's fizz files (its own DSL) are migrations cutover cannot run: listed as such.
    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        if let Some(stem) = file.name.strip_suffix(".fizz") {
            let base = stem.strip_suffix(".up").or_else(|| stem.strip_suffix(".down"));
            if let Some(version) = base.and_then(|b| b.split_once('_')).and_then(|(v, _)| Version::parse_lexical(v)) {
                return Ok(Some(Recognised::Code { version, language: "fizz (pop's migration language)" }));
            }
        }
        let Some(parsed) = file.sql_stem().and_then(parse_pop_name) else {
            return Ok(None);
        };
        if parsed.engine.is_none() && !parsed.autocommit {
            return Ok(None);
        }
        let part = if parsed.up { Part::Up } else { Part::Down };
        Ok(Some(Recognised::Migration { version: Some(parsed.version), name: parsed.name, part }))
    }

    fn reads(&self) -> &'static [Layout] {
        &[Layout::Pop, Layout::Native]
    }

    fn detected_beside(&self) -> &'static [Layout] {
        &[Layout::Native]
    }

    fn read(&self, found: &[Found], context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        // Two files of one kind for a version (two generic ones, or `.postgres.` and `.pg.`):
        // which one popx runs is not for cutover to guess, whatever engine this run is for.
        let mut kinds: BTreeMap<(Version, bool, Option<&str>), &Path> = BTreeMap::new();
        for entry in found {
            let name = entry.path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".sql"));
            let Some(parsed) = name.and_then(parse_pop_name) else { continue };
            if let Some(first) = kinds.insert((parsed.version.clone(), parsed.up, parsed.engine), &entry.path) {
                return Err(Error::DuplicateVersion {
                    version: parsed.version.to_string(),
                    first: first.to_path_buf(),
                    second: entry.path.clone(),
                });
            }
        }
        // Without a database to read for (`cutover lint` with no URL), PostgreSQL's files:
        // the analysis judges PostgreSQL then too.
        let engine = context.dialect.unwrap_or(Dialect::Postgres).pop_name();
        // Per version and direction, the engine's own file, else the generic one.
        let mut chosen: BTreeMap<(Version, bool), (&Path, PopName)> = BTreeMap::new();
        let mut passed_over: Vec<(PathBuf, String)> = Vec::new();
        for entry in found {
            let Some(parsed) = entry
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".sql"))
                .and_then(parse_pop_name)
            else {
                continue;
            };
            match parsed.engine {
                Some(other) if other != engine => {
                    passed_over.push((entry.path.clone(), format!("the {other} variant of its migration; the {engine} one, or the generic file, is read for this database")));
                }
                _ => {
                    let key = (parsed.version.clone(), parsed.up);
                    let own = parsed.engine.is_some();
                    match chosen.remove(&key) {
                        Some((path, earlier)) if earlier.engine.is_some() && !own => {
                            passed_over.push((
                                entry.path.clone(),
                                format!("the generic file of its migration; pop reads the {engine} variant instead"),
                            ));
                            chosen.insert(key, (path, earlier));
                        }
                        Some((path, _)) => {
                            passed_over.push((
                                path.to_path_buf(),
                                format!("the generic file of its migration; pop reads the {engine} variant instead"),
                            ));
                            chosen.insert(key, (&entry.path, parsed));
                        }
                        None => {
                            chosen.insert(key, (&entry.path, parsed));
                        }
                    }
                }
            }
        }
        for (path, reason) in passed_over {
            context.ignored.push(Ignored { path, reason, refused_by_up: false });
        }
        let options = context.pop_options;
        let script = |path: &Path, autocommit: bool| -> Result<(String, Script), Error> {
            let text = read_text(path)?;
            // The checksum stays the file's; the SQL is what pop sends.
            let sql = if text.contains("{{") { render_template(path, &text, options)? } else { text.clone() };
            let mut base = ScriptSettings::default();
            if autocommit {
                base.no_transaction(NoTransactionMarker::Pop);
            }
            let script = script_from_file(path, &sql, base)?;
            Ok((text, script))
        };
        let mut migrations = Vec::new();
        for ((version, up), (path, parsed)) in &chosen {
            if !up {
                continue;
            }
            let (text, up_script) = script(path, parsed.autocommit)?;
            let mut migration = versioned(version, &parsed.name, Layout::Pop, &text, up_script);
            if let Some((down_path, down)) = chosen.get(&(version.clone(), false)) {
                migration.down = Some(script(down_path, down.autocommit)?.1);
            }
            migrations.push(migration);
        }
        for ((version, up), (path, _)) in &chosen {
            if !up && !chosen.contains_key(&(version.clone(), true)) {
                return Err(Error::OrphanDown { path: path.to_path_buf(), version: version.to_string() });
            }
        }
        Ok(migrations)
    }

    /// Generic files: pop reads them for every engine.
    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        pair_files(dir, version, slug)
    }
}

/// A pop migration rendered as pop renders it (Go's `text/template`, with the connection's
/// details as data): `{{ index .Options "KEY" }}` and `{{ .Options.KEY }}` take the option the
/// application gives pop (supabase's `Namespace`), from `[pop] options` in cutover.toml; `{{-`
/// and `-}}` trim white space as Go's do. Any other action, or an option not given, is an error
/// with its line, not SQL sent half-rendered.
pub(crate) fn render_template(path: &Path, text: &str, options: &BTreeMap<String, String>) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let line = 1 + text[..text.len() - rest.len() + open].matches('\n').count();
        let at = |message: String| Error::AtLine { path: path.to_path_buf(), line, message };
        let Some(close) = rest[open..].find("}}") else {
            return Err(at("a `{{` pop's template opens is never closed with `}}`".to_string()));
        };
        let mut before = &rest[..open];
        let mut inner = &rest[open + 2..open + close];
        if let Some(trimmed) = inner.strip_prefix('-') {
            inner = trimmed;
            before = before.trim_end();
        }
        let trim_after = inner.ends_with('-');
        inner = inner.trim_end_matches('-').trim();
        out.push_str(before);
        // A template comment renders nothing.
        if inner.starts_with("/*") && inner.ends_with("*/") {
            rest = &rest[open + close + 2..];
            if trim_after {
                rest = rest.trim_start();
            }
            continue;
        }
        let key = match inner.split_whitespace().collect::<Vec<_>>().as_slice() {
            // A Go string, interpreted or raw.
            ["index", ".Options", key] => key.trim_matches(|c| c == '"' || c == '`').to_string(),
            [field] if field.starts_with(".Options.") && !field[".Options.".len()..].contains('.') => {
                field[".Options.".len()..].to_string()
            }
            _ => {
                return Err(at(format!(
                    "`{{{{ {inner} }}}}`: a pop template action cutover does not render (it renders `{{{{ index .Options \"KEY\" }}}}` and `{{{{ .Options.KEY }}}}`)"
                )))
            }
        };
        let Some(value) = options.get(&key) else {
            return Err(at(format!(
                "pop renders the option `{key}` here, which the application gives it: set it under `[pop] options` in cutover.toml (`options = {{ {key} = \"...\" }}`)"
            )));
        };
        out.push_str(value);
        rest = &rest[open + close + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::{discover_for, Dialect, Layout, NoTransactionMarker};

    const FILES: [(&str, &str); 9] = [
        ("20200101000000000000_a.postgres.up.sql", "CREATE TABLE a (j jsonb);"),
        ("20200101000000000000_a.mysql.up.sql", "CREATE TABLE a (j json);"),
        ("20200101000000000000_a.sqlite3.up.sql", "CREATE TABLE a (j text);"),
        ("20200101000000000000_a.cockroach.up.sql", "CREATE TABLE a (j jsonb);"),
        ("20200101000000000000_a.down.sql", "DROP TABLE a;"),
        // A generic up with a MySQL variant: the variant wins for MySQL only.
        ("20200102000000000000_b.up.sql", "ALTER TABLE a ADD COLUMN b jsonb;"),
        ("20200102000000000000_b.mysql.up.sql", "ALTER TABLE a ADD COLUMN b json;"),
        ("20200103000000000000_i.postgres.autocommit.up.sql", "CREATE INDEX CONCURRENTLY i ON a (b);"),
        // pop's synonym of sqlite3.
        ("20200103000000000000_i.sqlite.up.sql", "CREATE INDEX i ON a (b);"),
    ];

    #[test]
    fn templates_render_with_the_applications_options() {
        let path = std::path::Path::new("1_a.up.sql");
        let options: std::collections::BTreeMap<String, String> =
            [("Namespace".to_string(), "auth".to_string())].into();
        let rendered = super::render_template(
            path,
            "CREATE TABLE {{ index .Options \"Namespace\" }}.users (id int);\nALTER TABLE {{- .Options.Namespace -}} .x;\n",
            &options,
        )
        .unwrap();
        assert_eq!(rendered, "CREATE TABLE auth.users (id int);\nALTER TABLEauth.x;\n");
        let missing = super::render_template(path, "SELECT 1;\nSELECT {{ .Options.Schema }};", &options).unwrap_err();
        assert!(
            missing.to_string().contains("1_a.up.sql:2") && missing.to_string().contains("[pop] options"),
            "{missing}"
        );
        let other = super::render_template(path, "SELECT {{ .Dialect }};", &options).unwrap_err();
        assert!(other.to_string().contains("does not render"), "{other}");
        let deeper = super::render_template(path, "SELECT {{ .Options.Namespace.Foo }};", &options).unwrap_err();
        assert!(deeper.to_string().contains("does not render"), "{deeper}");
        let raw =
            super::render_template(path, "SELECT 1 FROM {{index .Options `Namespace`}}.t{{/* a note */}};", &options);
        assert_eq!(raw.unwrap(), "SELECT 1 FROM auth.t;");
    }

    #[test]
    fn each_engine_reads_its_own_variant_else_the_generic_file() {
        let (dir, res) = read(&FILES, None);
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Pop);
        // No URL: PostgreSQL's files, as the analysis judges PostgreSQL.
        assert_eq!(
            summary(&set),
            [
                "20200101000000000000 a tx=true up=[CREATE TABLE a (j jsonb)@1] down=Some(\"DROP TABLE a\")",
                "20200102000000000000 b tx=true up=[ALTER TABLE a ADD COLUMN b jsonb@1] down=None",
                "20200103000000000000 i tx=false up=[CREATE INDEX CONCURRENTLY i ON a (b)@1] down=None",
            ]
        );
        assert_eq!(set.migrations[2].up.settings.no_transaction_by, Some(NoTransactionMarker::Pop));
        let passed_over: Vec<String> =
            set.ignored.iter().map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(passed_over.len(), 5, "the other engines' variants are listed: {passed_over:?}");
        assert!(set.ignored.iter().all(|i| i.reason.contains("variant")), "{:?}", set.ignored);

        let mysql = discover_for(dir.path(), None, Some(Dialect::Mysql)).unwrap();
        assert_eq!(
            summary(&mysql),
            [
                "20200101000000000000 a tx=true up=[CREATE TABLE a (j json)@1] down=Some(\"DROP TABLE a\")",
                "20200102000000000000 b tx=true up=[ALTER TABLE a ADD COLUMN b json@1] down=None",
            ],
            "no MySQL or generic file for i: not a migration there"
        );
        assert!(mysql.ignored.iter().any(|i| i.path.ends_with("20200102000000000000_b.up.sql")
            && i.reason.contains("pop reads the mysql variant instead")));
        let sqlite = discover_for(dir.path(), None, Some(Dialect::Sqlite)).unwrap();
        assert_eq!(sqlite.migrations.len(), 3);
        assert_eq!(sqlite.migrations[2].up.statements[0].sql, "CREATE INDEX i ON a (b)");
    }

    /// popx orders versions as text, and two files of one kind for a version are an error, not
    /// a guess; fizz files are listed as migrations cutover cannot run.
    #[test]
    fn versions_compare_as_text_and_duplicates_are_errors() {
        let (_dir, res) = read(
            &[
                ("9_nine.postgres.up.sql", "SELECT 9;"),
                ("10_ten.up.sql", "SELECT 10;"),
                ("11_eleven.up.fizz", "create_table(\"t\") {}"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Pop);
        let order: Vec<String> = set.migrations.iter().map(|m| m.label()).collect();
        assert_eq!(order, ["10 ten", "9 nine"], "as popx orders them");
        assert!(
            set.ignored.iter().any(|i| i.path.ends_with("11_eleven.up.fizz") && i.reason.contains("fizz")),
            "{:?}",
            set.ignored
        );
        let (_dir, res) = read(&[("1_a.postgres.up.sql", "SELECT 1;"), ("1_b.pgx.up.sql", "SELECT 2;")], None);
        let err = res.unwrap_err().to_string();
        assert!(err.contains("1_a.postgres.up.sql") && err.contains("1_b.pgx.up.sql"), "{err}");
        // Two generic files are an error for every engine, not only those that read them.
        let files = [("11_c.up.sql", "SELECT 1;"), ("11_d.up.sql", "SELECT 2;"), ("11_c.postgres.up.sql", "SELECT 3;")];
        let (dir, res) = read(&files, None);
        assert!(res.is_err(), "on PostgreSQL");
        assert!(crate::discover_for(dir.path(), None, Some(crate::Dialect::Sqlite)).is_err(), "on SQLite");
    }

    #[test]
    fn a_folder_of_generic_files_only_stays_cutovers_own() {
        let (_dir, res) = read(&[("1_a.up.sql", "SELECT 1;"), ("1_a.down.sql", "SELECT 2;")], None);
        assert_eq!(res.unwrap().layout, Layout::Native);
    }

    #[test]
    fn a_down_without_its_up_is_an_error() {
        let (_dir, res) = read(&[("1_a.postgres.down.sql", "SELECT 1;"), ("2_b.postgres.up.sql", "SELECT 2;")], None);
        let err = res.unwrap_err().to_string();
        assert!(err.contains("1_a.postgres.down.sql"), "{err}");
    }
}
