//! The book runs as written: every `cutover` command in the README and `docs/` is one the CLI
//! accepts, and the walk-through of three classic changes applies, step by step, on a real
//! PostgreSQL database whose table was made before the migration folder.

use std::path::{Path, PathBuf};

use crate::util::{output_text, PgDb, Project};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Words as a POSIX shell splits them, up to a pipe, redirect, `;`, `&&`, `||` or comment;
/// `[optional]` parts of a synopsis and `${{ ... }}` placeholders are taken out.
fn shell_words(line: &str) -> Vec<String> {
    let mut line = line.to_string();
    while let (Some(open), Some(close)) = (line.find("${{"), line.find("}}")) {
        line.replace_range(open..close + 2, "X");
    }
    while let (Some(open), Some(close)) = (line.find(" ["), line.find(']')) {
        if close < open {
            break;
        }
        line.replace_range(open..close + 1, "");
    }
    let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => (quote, started) = (Some(c), true),
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, '|' | '>' | ';' | '&' | '#') if !started => break,
            (None, c) => (word.push(c), started = true).1,
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// A fenced code block: its language, its text, the prose before it, and where it starts.
struct Block {
    language: String,
    text: String,
    before: String,
    line: usize,
}

fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let (mut blocks, mut current, mut prose): (Vec<Block>, Option<Block>, String) = (Vec::new(), None, String::new());
    for (n, line) in text.lines().enumerate() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(language)) => {
                current = Some(Block {
                    language: language.trim().to_string(),
                    text: String::new(),
                    before: prose.clone(),
                    line: n + 1,
                });
                prose.clear();
            }
            (Some(_), Some(_)) => blocks.push(current.take().unwrap()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    blocks
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut folders = vec![root().join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// The `cutover ...` commands of a block, as words.
fn commands(block: &Block) -> Vec<Vec<String>> {
    block
        .text
        .lines()
        .map(|l| l.trim().trim_start_matches("- run:").trim_start_matches("$ ").trim())
        .filter(|l| l.starts_with("cutover "))
        .map(shell_words)
        .collect()
}

#[test]
fn every_command_in_the_docs_is_one_cutover_accepts() {
    let mut checked = 0;
    for file in markdown_files() {
        for block in blocks(&file) {
            for words in commands(&block) {
                if let Err(err) = <cutover::Args as clap::Parser>::try_parse_from(&words) {
                    panic!("{}:{}: `{}` is not accepted:\n{err}", file.display(), block.line, words.join(" "));
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "the docs' commands are found: {checked}");
    assert_eq!(
        shell_words(r#"cutover backfill --set "a = b || ' '" --status [--format json] > out # note"#),
        ["cutover", "backfill", "--set", "a = b || ' '", "--status"]
    );
}

/// docs/three-changes.md, followed as a reader would on a database whose `users` table (with
/// rows) predates the folder: each naive migration is refused and leaves nothing behind; each
/// safe step applies without an override; each `cutover` command succeeds.
#[test]
fn the_three_changes_walk_through_applies_as_written() {
    let db = PgDb::new();
    db.query(
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, name text); \
         INSERT INTO users (email, name) SELECT 'u' || g || '@example' || (g % 7) || '.com', 'n' || g \
         FROM generate_series(1, 30000) g; ANALYZE users",
    );
    let project = Project::new();
    std::fs::create_dir_all(project.path("migrations")).unwrap();
    let mut version = 100;
    let run = |words: &[String], expect_success: bool, place: &str| -> String {
        let output = project.cutover(&db.url).args(&words[1..]).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        assert_eq!(output.status.success(), expect_success, "{place}: `{}`:\n{stdout}\n{stderr}", words.join(" "));
        format!("{stdout}{stderr}")
    };
    let up = || -> Vec<String> { vec!["cutover".into(), "up".into()] };
    let (mut migrations, mut refused, mut commands_run) = (0, 0, 0);
    for block in blocks(&root().join("docs/three-changes.md")) {
        let place = format!("docs/three-changes.md:{}", block.line);
        match block.language.as_str() {
            "sql" => {
                // A block is one migration, or several, each headed by a `-- N:` comment; a
                // `-- migrations/NAME` first line names the file.
                let mut groups: Vec<(Option<String>, String)> = Vec::new();
                for line in block.text.lines() {
                    let header = line.strip_prefix("-- ");
                    if let Some(name) = header.and_then(|h| h.strip_prefix("migrations/")) {
                        groups.push((Some(name.to_string()), String::new()));
                    } else if header.is_some_and(|h| h.split(':').next().is_some_and(|n| n.parse::<u32>().is_ok()))
                        || groups.is_empty()
                    {
                        groups.push((None, format!("{line}\n")));
                    } else {
                        groups.last_mut().unwrap().1.push_str(&format!("{line}\n"));
                    }
                }
                // The naive way is the block right after the paragraph that says so.
                let paragraph = block.before.trim_end().rsplit("\n\n").next().unwrap_or("");
                let naive = paragraph.trim_start().starts_with("The naive way");
                for (name, sql) in groups {
                    let name = name.unwrap_or_else(|| {
                        version += 1;
                        format!("{version}_step.up.sql")
                    });
                    let file = project.path("migrations").join(&name);
                    std::fs::write(&file, &sql).unwrap();
                    if naive {
                        let said = run(&up(), false, &place);
                        assert!(said.contains("refused") || said.contains("error["), "{place}: {said}");
                        std::fs::remove_file(&file).unwrap();
                        refused += 1;
                    } else {
                        run(&up(), true, &place);
                        migrations += 1;
                    }
                }
            }
            "toml" => {
                let name = block.text.lines().next().and_then(|l| l.strip_prefix("# migrations/")).unwrap();
                std::fs::write(project.path("migrations").join(name), &block.text).unwrap();
            }
            "sh" => {
                for words in commands(&block) {
                    run(&words, true, &place);
                    commands_run += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!((refused, migrations, commands_run), (1, 7, 4), "the page's steps were all followed");
    // What the page promises, in the database.
    assert_eq!(db.query("SELECT count(*) FROM users WHERE email_domain IS NULL OR status IS NULL"), "0");
    assert_eq!(
        db.query("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_domain'"),
        "t"
    );
    assert_eq!(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass"), "t");
    assert_eq!(
        db.query("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped"),
        "id,email,full_name,status,email_domain"
    );
    assert_eq!(db.query("SELECT count(*) FROM users WHERE full_name = 'n' || id"), "30000", "renamed, data intact");
}
