//! goose: one `<version>_<name>.sql` a migration, its up and down SQL under `-- +goose Up` and
//! `-- +goose Down`, statements that hold `;` between `StatementBegin` and `StatementEnd`; and
//! migrations written in Go beside them, which cutover lists but cannot run.

use std::path::{Path, PathBuf};

use super::{
    finish_script, lines_with_offsets, parse_version_name, read_sectioned, recognise_single_file, FileCandidate, Found,
    LayoutRules, ReadContext, Recognised, Section, UpDown,
};
use crate::directive::{NoTransactionMarker, ScriptSettings};
use crate::scaffold::{DOWN_HINT, UP_HINT};
use crate::split::{first_token_offset, Statement};
use crate::{Error, Layout, Migration};

pub(crate) struct Goose;

impl LayoutRules for Goose {
    fn name(&self) -> &'static str {
        "goose"
    }

    fn expected_names(&self) -> &'static str {
        "`<version>_<name>.sql` with `-- +goose Up` and `-- +goose Down` sections"
    }

    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        if file.sql_stem().is_some() {
            return recognise_single_file(file, |text| text.lines().any(|line| goose_command(line).is_some()));
        }
        // goose keeps migrations written in Go among its SQL files.
        match file.name.strip_suffix(".go").and_then(parse_version_name) {
            Some((version, _)) if !file.name.ends_with("_test.go") => {
                Ok(Some(Recognised::Code { version, language: "Go" }))
            }
            _ => Ok(None),
        }
    }

    fn reads(&self) -> &'static [Layout] {
        // Forced, it reads a file without annotations too, and says what the file lacks.
        &[Layout::Goose, Layout::Sqlx]
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        read_sectioned(Layout::Goose, found, read_goose)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        vec![(
            dir.join(format!("{version}_{slug}.sql")),
            format!("-- +goose Up\n{UP_HINT}\n-- +goose Down\n{DOWN_HINT}"),
        )]
    }
}

/// The command of a `-- +goose <command>` line.
fn goose_command(line: &str) -> Option<&str> {
    let body = line.trim_start().strip_prefix("--")?.trim_start();
    let command = body.strip_prefix("+goose")?;
    Some(command.trim())
}

fn read_goose(path: &Path, text: &str) -> Result<UpDown, Error> {
    let at_line =
        |line: usize, message: &str| Error::AtLine { path: path.to_path_buf(), line, message: message.to_string() };
    let mut settings = ScriptSettings::default();
    // Statements of the up and down sections; `None` before the first marker.
    let mut up: Option<Vec<Statement>> = None;
    let mut down: Option<Vec<Statement>> = None;
    let mut in_up = true;
    // Start of the plain SQL run since the last marker, as (byte offset, line index).
    let mut plain_start: Option<usize> = None;
    let mut block: Option<(usize, usize)> = None;
    // Where each StatementBegin block went: (up section, index among its statements).
    let mut blocks: Vec<(bool, usize)> = Vec::new();

    let flush_plain = |start: Option<usize>, end: usize, target: &mut Option<Vec<Statement>>| -> Result<(), Error> {
        let Some(start) = start else { return Ok(()) };
        let section = Section { path, file_text: text, start, end };
        let statements = section.statements()?;
        match target {
            Some(list) => list.extend(statements),
            None if statements.is_empty() => {}
            None => {
                return Err(at_line(
                    statements[0].line,
                    "SQL before `-- +goose Up` never runs; move it below the marker",
                ));
            }
        }
        Ok(())
    };

    for (line_idx, (offset, line)) in lines_with_offsets(text).enumerate() {
        let Some(command) = goose_command(line) else {
            continue;
        };
        let next = (offset + line.len() + 1).min(text.len());
        let line_no = line_idx + 1;
        let lower = command.to_ascii_lowercase();
        if let Some((block_start, block_line)) = block {
            if lower == "statementend" {
                // Like every statement, the block starts at its first token, after any comments.
                let start = block_start + first_token_offset(&text[block_start..offset]);
                let body = text[start..offset].trim_end();
                let body = body.strip_suffix(';').unwrap_or(body).trim_end();
                if !body.is_empty() {
                    let first_line = block_line + text[block_start..start].matches('\n').count();
                    let statement =
                        Statement { sql: body.to_string(), line: first_line, span: start..start + body.len() };
                    let target = if in_up { &mut up } else { &mut down };
                    let target = target.get_or_insert_with(Vec::new);
                    blocks.push((in_up, target.len()));
                    target.push(statement);
                }
                block = None;
                plain_start = Some(next);
            }
            continue;
        }
        let target = if in_up { &mut up } else { &mut down };
        match lower.as_str() {
            "up" | "down" => {
                flush_plain(plain_start, offset, target)?;
                in_up = lower == "up";
                let target = if in_up { &mut up } else { &mut down };
                if target.is_some() {
                    return Err(at_line(
                        line_no,
                        "a second goose section of the same direction; merge it into the first",
                    ));
                }
                *target = Some(Vec::new());
                plain_start = Some(next);
            }
            "statementbegin" => {
                flush_plain(plain_start, offset, target)?;
                if target.is_none() {
                    return Err(at_line(
                        line_no,
                        "`-- +goose StatementBegin` before `-- +goose Up`; add the Up marker first",
                    ));
                }
                block = Some((next, line_no + 1));
                plain_start = None;
            }
            "statementend" => return Err(at_line(line_no, "`-- +goose StatementEnd` without a StatementBegin")),
            "no transaction" => settings.no_transaction(NoTransactionMarker::Goose),
            _ if lower.starts_with("envsub") => {}
            _ => return Err(at_line(line_no, &format!("unknown goose annotation `-- +goose {command}`"))),
        }
    }
    if let Some((_, block_line)) = block {
        return Err(at_line(
            block_line - 1,
            "`-- +goose StatementBegin` is never closed; add `-- +goose StatementEnd`",
        ));
    }
    let target = if in_up { &mut up } else { &mut down };
    flush_plain(plain_start, text.len(), target)?;
    let Some(up_statements) = up else {
        return Err(at_line(1, "no `-- +goose Up` section; a goose migration starts with `-- +goose Up`"));
    };
    // Goose files carry their directives as annotations, but ours work too.
    let settings = Section::whole(path, text).settings(settings)?;
    let mut up = Some(up_statements);
    // In a transaction, a block of several statements runs as they would one by one, and each
    // is analysed and run on its own (the block exists for goose's splitter, which does not
    // know dollar quotes; cutover's does). Without one, goose sends the block as one query,
    // one implicit transaction: it stays whole.
    if settings.transaction {
        for (in_up, idx) in blocks.into_iter().rev() {
            let Some(statements) = (if in_up { up.as_mut() } else { down.as_mut() }) else { continue };
            let block = &statements[idx];
            let Ok(parts) = crate::split::split_statements(&block.sql) else { continue };
            if parts.len() < 2 {
                continue;
            }
            let parts: Vec<Statement> = parts
                .into_iter()
                .map(|part| Statement {
                    sql: part.sql,
                    line: block.line + part.line - 1,
                    span: block.span.start + part.span.start..block.span.start + part.span.end,
                })
                .collect();
            statements.splice(idx..=idx, parts);
        }
    }
    let up_statements = up.unwrap_or_default();
    let up = finish_script(path, text, up_statements, settings)?;
    let down = match down {
        Some(statements) => Some(finish_script(path, text, statements, settings)?),
        None => None,
    };
    Ok((up, down))
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    #[test]
    fn goose_sections_and_statement_blocks() {
        let (_dir, res) = read(
            &[(
                "00001_func.sql",
                "-- +goose Up\n-- +goose StatementBegin\n-- why: a comment before the block's SQL\nCREATE FUNCTION f() RETURNS int AS 'SELECT 1; ' LANGUAGE sql\n-- +goose StatementEnd\nSELECT 1;\n-- +goose Down\nDROP FUNCTION f();\n",
            )],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Goose);
        assert_eq!(
            summary(&set),
            ["00001 func tx=true up=[CREATE FUNCTION f() RETURNS int AS 'SELECT 1; ' LANGUAGE sql@4|SELECT 1@6] down=Some(\"DROP FUNCTION f()\")"]
        );
        let (_dir, res) = read(&[("1_x.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;\n")], None);
        let settings = res.unwrap().migrations[0].up.settings;
        assert!(!settings.transaction);
        assert_eq!(settings.no_transaction_by, Some(crate::NoTransactionMarker::Goose));
    }

    /// Found by a tester: a block of an ALTER and a full-table UPDATE was one statement, of
    /// which the analysis saw the first only.
    #[test]
    fn a_block_of_several_statements_is_several_statements_in_a_transaction() {
        let file = "-- +goose Up\n-- +goose StatementBegin\nALTER TABLE users ADD COLUMN s int;\nUPDATE users SET s = 0;\n-- +goose StatementEnd\n";
        let (_dir, res) = read(&[("20240101000000_fill.sql", file)], None);
        let set = res.unwrap();
        let up = &set.migrations[0].up;
        let found: Vec<(&str, usize, &str)> =
            up.statements.iter().map(|s| (s.sql.as_str(), s.line, &up.text[s.span.clone()])).collect();
        assert_eq!(
            found,
            [
                ("ALTER TABLE users ADD COLUMN s int", 3, "ALTER TABLE users ADD COLUMN s int"),
                ("UPDATE users SET s = 0", 4, "UPDATE users SET s = 0")
            ]
        );
        // Without a transaction goose sends the block as one query: it stays one.
        let (_dir, res) = read(&[("1_x.sql", &format!("-- +goose NO TRANSACTION\n{file}"))], None);
        assert_eq!(res.unwrap().migrations[0].up.statements.len(), 1);
    }

    #[test]
    fn goose_go_migrations_are_listed_not_skipped_silently() {
        let (_dir, res) = read(
            &[
                ("1_a.sql", "-- +goose Up\nSELECT 1;"),
                ("2_b.go", "package migrations"),
                ("helpers.go", "package migrations"),
            ],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Goose);
        assert_eq!(set.ignored.len(), 1);
        assert!(set.ignored[0].path.ends_with("2_b.go"));
        assert!(set.ignored[0].reason.contains("written in Go"));
    }
}
