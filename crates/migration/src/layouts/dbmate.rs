//! dbmate: one `<version>_<name>.sql` a migration, its up and down SQL under `-- migrate:up`
//! and `-- migrate:down` (`transaction:false` after the marker runs it outside a transaction).

use std::path::{Path, PathBuf};

use super::{
    finish_script, lines_with_offsets, read_sectioned, recognise_single_file, FileCandidate, Found, LayoutRules,
    ReadContext, Recognised, Section, UpDown,
};
use crate::directive::{NoTransactionMarker, ScriptSettings};
use crate::scaffold::{DOWN_HINT, UP_HINT};
use crate::{Error, Layout, Migration};

pub(crate) struct Dbmate;

impl LayoutRules for Dbmate {
    fn name(&self) -> &'static str {
        "dbmate"
    }

    fn expected_names(&self) -> &'static str {
        "`<version>_<name>.sql` with `-- migrate:up` and `-- migrate:down` sections"
    }

    fn recognise_file(&self, file: &mut FileCandidate<'_>) -> Result<Option<Recognised>, Error> {
        recognise_single_file(file, |text| text.lines().any(|line| dbmate_marker(line).is_some()))
    }

    fn reads(&self) -> &'static [Layout] {
        // Forced, it reads a file without markers too, and says what the file lacks.
        &[Layout::Dbmate, Layout::Sqlx]
    }

    fn read(&self, found: &[Found], _context: &mut ReadContext<'_>) -> Result<Vec<Migration>, Error> {
        read_sectioned(Layout::Dbmate, found, read_dbmate)
    }

    fn new_files(&self, dir: &Path, version: &str, slug: &str) -> Vec<(PathBuf, String)> {
        vec![(
            dir.join(format!("{version}_{slug}.sql")),
            format!("-- migrate:up\n{UP_HINT}\n-- migrate:down\n{DOWN_HINT}"),
        )]
    }
}

/// `-- migrate:up [options]` → `Some((true, options))`; `-- migrate:down` → `Some((false, ..))`.
fn dbmate_marker(line: &str) -> Option<(bool, &str)> {
    let body = line.trim_start().strip_prefix("--")?.trim_start();
    if let Some(rest) = body.strip_prefix("migrate:up") {
        return (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some((true, rest.trim()));
    }
    let rest = body.strip_prefix("migrate:down")?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some((false, rest.trim()))
}

fn read_dbmate(path: &Path, text: &str) -> Result<UpDown, Error> {
    // (is_up, options, byte offset of the line after the marker, 1-based marker line)
    let mut markers: Vec<(bool, String, usize, usize)> = Vec::new();
    for (line_idx, (offset, line)) in lines_with_offsets(text).enumerate() {
        if let Some((is_up, options)) = dbmate_marker(line) {
            let next = (offset + line.len() + 1).min(text.len());
            if markers.iter().any(|(up, ..)| *up == is_up) {
                let which = if is_up { "up" } else { "down" };
                return Err(Error::AtLine {
                    path: path.to_path_buf(),
                    line: line_idx + 1,
                    message: format!("a second `-- migrate:{which}` section; merge it into the first"),
                });
            }
            markers.push((is_up, options.to_string(), next, line_idx + 1));
        }
    }
    let Some(up_idx) = markers.iter().position(|(up, ..)| *up) else {
        return Err(Error::AtLine {
            path: path.to_path_buf(),
            line: 1,
            message: "no `-- migrate:up` section; a dbmate migration starts its up SQL with `-- migrate:up`"
                .to_string(),
        });
    };
    let first_marker_line = markers.iter().map(|m| m.3).min().unwrap_or(1);
    let before = Section { path, file_text: text, start: 0, end: line_start(text, first_marker_line) };
    if let Some(statement) = before.statements()?.first() {
        return Err(Error::AtLine {
            path: path.to_path_buf(),
            line: statement.line,
            message: "SQL before the first `-- migrate:` marker never runs; move it into the up or down section"
                .to_string(),
        });
    }
    let section_of = |idx: usize| {
        let (_, options, start, _) = &markers[idx];
        let end = markers.iter().map(|m| line_start(text, m.3)).filter(|&s| s >= *start).min().unwrap_or(text.len());
        let mut settings = ScriptSettings::default();
        for option in options.split_whitespace() {
            match option {
                "transaction:false" => settings.no_transaction(NoTransactionMarker::Dbmate),
                "transaction:true" => settings.in_transaction(),
                _ => {}
            }
        }
        let section = Section { path, file_text: text, start: *start, end };
        let settings = section.settings(settings)?;
        finish_script(path, text, section.statements()?, settings)
    };
    let up = section_of(up_idx)?;
    let down = match markers.iter().position(|(up, ..)| !*up) {
        Some(idx) => Some(section_of(idx)?),
        None => None,
    };
    Ok((up, down))
}

/// Byte offset where 1-based line `line` starts.
fn line_start(text: &str, line: usize) -> usize {
    lines_with_offsets(text).nth(line - 1).map_or(text.len(), |(offset, _)| offset)
}

#[cfg(test)]
mod tests {
    use crate::discover::testing::{read, summary};
    use crate::Layout;

    #[test]
    fn dbmate_sections() {
        let (_dir, res) = read(
            &[(
                "20240101000000_users.sql",
                "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n-- migrate:down\nDROP INDEX i;\n",
            )],
            None,
        );
        let set = res.unwrap();
        assert_eq!(set.layout, Layout::Dbmate);
        assert_eq!(
            summary(&set),
            ["20240101000000 users tx=false up=[CREATE INDEX CONCURRENTLY i ON t (a)@2] down=Some(\"DROP INDEX i\")"]
        );
        assert_eq!(set.migrations[0].up.settings.no_transaction_by, Some(crate::NoTransactionMarker::Dbmate));
    }
}
