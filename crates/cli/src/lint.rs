//! `cutover lint`: files and folders in, diagnostics out (human, JSON, GitHub annotations, SARIF).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use cutover_analysis::{analyze, in_order, Analyzed, Diagnostic, Linter, Script, Severity};
use cutover_engine::{HistoryRecord, LiveSchema};
use cutover_migration::{
    discover_to_lint_with, normalize, read_directives, split_statements, transactionality, Ignored, Migration,
    MigrationSet, NoTransactionMarker, ScriptSettings, Statement, Transactionality,
};
use cutover_runner::{compute_status, lint_pending, lint_set, Settings};
use serde::Serialize;

use crate::args::LintFormat;
use crate::{usage_error, ExitStatus};

/// One linted file: where it is, its text (for snippets), and what was found.
struct Linted {
    path: String,
    text: String,
    diagnostics: Vec<Diagnostic>,
}

/// Which of the linted migrations to report (all are linted, so that each is judged against
/// the schema the ones before it build).
pub struct Only {
    /// Those added or changed since this git revision.
    pub changed_since: Option<String>,
    /// Those not applied to the database the settings name.
    pub pending: bool,
}

/// What `cutover lint --database-url` reads from the database: its schema, on which the
/// migrations it has not applied are linted, and its history, which says which those are.
pub struct Live {
    schema: LiveSchema,
    history: Vec<HistoryRecord>,
    /// The current schema's tables as the catalog describes them, for previews of declarative
    /// migrations (defaults, NOT NULL, what depends on a column: what `start` plans with).
    shapes: Vec<cutover_engine::TableShape>,
    /// The schema unqualified names resolve to: where `start` makes the tables' versions.
    base_schema: String,
    /// The expand/contract migration under way (started, not completed or rolled back): its
    /// version and phase. Its tables are expanded already, so planning it again would find
    /// its own columns there.
    active: Option<(String, cutover_engine::ExpandPhase)>,
    /// The server's version string (`10.11.19-MariaDB-0+deb12u1`): how it runs DDL.
    pub server: String,
}

/// The live schema and history of the database `--database-url` names, where its engine's
/// catalog can be read (PostgreSQL, MySQL/MariaDB); `None` elsewhere (SQLite), where lint
/// judges the files alone.
pub fn read_live(settings: &Settings) -> anyhow::Result<Option<Live>> {
    let url = crate::database_url(settings)?;
    if url.engine() == cutover_engine::Engine::Sqlite {
        return Ok(None);
    }
    let mut any = crate::connect_any(&url, settings)?;
    let target = any.migration();
    let history = crate::with_url(&url, cutover_runner::read_history(target, settings))?;
    let server = target.server_version();
    let Some(catalog) = target.catalog() else { return Ok(None) };
    let schema = catalog
        .live_schema()
        .map_err(|err| usage_error(format!("cannot read the live schema of {url}: {}", url.scrub(&err.to_string()))))?;
    let unreadable = |err: cutover_engine::DbError| {
        usage_error(format!("cannot read the tables of {url}: {}", url.scrub(&err.to_string())))
    };
    // The tables as declarative migrations plan on them: PostgreSQL's expand/contract only.
    let (shapes, base_schema, active) = match any.expand() {
        Ok(expand) => {
            let current = expand.current_schema().map_err(unreadable)?;
            let active = expand
                .expand_states()
                .map_err(unreadable)?
                .into_iter()
                .find(|state| state.phase.is_active())
                .map(|state| (state.version, state.phase));
            (expand.tables(&current).map_err(unreadable)?, current, active)
        }
        Err(_) if url.engine() != cutover_engine::Engine::Postgres => (Vec::new(), String::new(), None),
        Err(e) => return Err(crate::unsupported(&url, &e)),
    };
    Ok(Some(Live { schema, history, shapes, base_schema, active, server }))
}

pub fn run(
    settings: &Settings,
    paths: &[PathBuf],
    format: LintFormat,
    only: &Only,
    live: Option<&Live>,
) -> anyhow::Result<ExitStatus> {
    let inputs: Vec<PathBuf> = if paths.is_empty() { vec![settings.dir.clone()] } else { paths.to_vec() };
    // A file named alone that is a migration of a layout whose files are no plain SQL (goose's
    // and dbmate's sections, Liquibase's changesets, pop's templates) is linted as its folder
    // reads it, the folder's other migrations before it, and reported alone.
    let (inputs, named_in_folder) = route_to_folders(inputs, settings);
    let is_loose = |input: &PathBuf| input.as_os_str() == "-" || !input.is_dir();
    if let Some(file) = inputs.iter().find(|input| only.pending && is_loose(input)) {
        return Err(usage_error(format!(
            "--pending reads which migrations of a folder the database has applied, and `{}` is not a folder; name the migrations folder (or leave the paths out)",
            file.display()
        )));
    }
    let (changed, added, released) = match only.changed_since.as_deref().map(changed_since).transpose()? {
        Some(Changed { files, added, deleted }) => (Some(files), added, tables_made_by(&deleted, &settings.lint)),
        None => (None, HashSet::new(), Vec::new()),
    };
    // A migration a pull request adds is still to run, with the ones it adds before it.
    let still_to_run = |path: &Path| added.contains(&canonical(path));
    let mut database = if only.pending { Some(crate::open(settings)?) } else { None };
    let mut stdin = None;
    if inputs.iter().any(|input| input.as_os_str() == "-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        stdin = Some(text);
    }
    // Files named one by one are read and parsed side by side (on every core) and linted in the
    // order given, as one sequence of migrations, whatever their names, each as soon as it and
    // those before it are parsed. A folder is linted as its own sequence.
    // A declarative migration named on its own is planned, not parsed as SQL.
    let is_declarative =
        |input: &PathBuf| input.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("toml")) && !input.is_dir();
    let loose: Vec<&PathBuf> = inputs.iter().filter(|input| is_loose(input) && !is_declarative(input)).collect();
    // Files named one by one are migrations still to run: on the live schema, when there is one.
    let mut linter = match live {
        Some(live) => live_linter(live, &settings.lint),
        None => Linter::new(settings.lint.clone()),
    };
    linter.released_tables(released.iter().cloned());
    let mut loose_results = Vec::with_capacity(loose.len());
    let read = |input: &&PathBuf| -> anyhow::Result<(FileInput, Analyzed)> {
        let file = if input.as_os_str() == "-" {
            FileInput::new("<stdin>".to_string(), normalize(stdin.as_deref().unwrap_or_default()))
        } else {
            let text = std::fs::read_to_string(input)
                .map_err(|err| usage_error(format!("cannot read `{}`: {err}", input.display())))?;
            FileInput::new(input.display().to_string(), normalize(&text))
        };
        let analyzed = analyze(file.statements.as_deref().unwrap_or(&[]), &settings.lint);
        Ok((file, analyzed))
    };
    let mut loose_inputs = loose.iter();
    in_order(&loose, read, |read| {
        let input = loose_inputs.next().expect("one result per loose input");
        linter.still_to_run(still_to_run(input));
        loose_results.push(read.map(|(file, analyzed)| file.lint(&mut linter, analyzed)));
    });
    let mut loose_results = loose_results.into_iter();
    let mut results = Vec::new();
    let mut phase_reports = Vec::new();
    let mut ignored = Vec::new();
    let mut runner_notes: Vec<String> = Vec::new();
    // Applied migrations edited or removed since (`--pending`).
    let mut tampered: Vec<String> = Vec::new();
    let (mut linted_count, mut passed_over) = (0, 0);
    for input in &inputs {
        if is_declarative(input) {
            linted_count += 1;
            if changed.as_ref().is_some_and(|changed| !changed.contains(&canonical(input))) {
                passed_over += 1;
                continue;
            }
            // Named as in a folder, its version is spelled as the history records it.
            let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let (version, name) = match cutover_migration::parse_version_name(stem) {
                Some((version, name)) => (version.as_str().to_string(), name),
                None => (stem.to_string(), stem.to_string()),
            };
            let applied = live.is_some_and(|live| {
                live.history.iter().any(|r| {
                    r.version.as_deref() == Some(version.as_str()) && r.state == cutover_engine::State::Applied
                })
            });
            let preview = if applied {
                Preview::Note(format!("migration {version} is applied on this database: nothing to preview"))
            } else {
                let config = declarative_config(&settings.lint);
                let mut linter = match live {
                    Some(live) => live_linter(live, &config),
                    None => Linter::new(config),
                };
                refused_by_engine(settings.lint.dialect).unwrap_or_else(|| {
                    preview(input, (&version, &name), &mut linter, live, true, &settings.history_table)
                })
            };
            let text = std::fs::read_to_string(input)
                .map_err(|err| usage_error(format!("cannot read `{}`: {err}", input.display())))?;
            results.push(Linted { path: input.display().to_string(), text, diagnostics: Vec::new() });
            phase_reports.push((input.display().to_string(), preview));
            continue;
        }
        if is_loose(input) {
            let linted = loose_results.next().expect("one result per loose input")?;
            linted_count += 1;
            // Standard input is no file git knows: it is reported whatever changed.
            let reported = input.as_os_str() == "-" || changed.as_ref().is_none_or(|c| c.contains(&canonical(input)));
            if reported {
                results.push(linted);
            } else {
                passed_over += 1;
            }
            continue;
        }
        match discover_to_lint_with(input, settings.layout, &settings.read_options(Some(settings.lint.dialect))) {
            // A folder of SQL files none of which reads as a migration: linting nothing and
            // passing would let CI go green on files it never looked at.
            Ok(set) if set.migrations.is_empty() && !set.ignored.is_empty() => {
                for file in &set.ignored {
                    writeln!(anstream::stderr(), "note: ignoring `{}`: {}", file.path.display(), file.reason)?;
                }
                return Err(usage_error(format!(
                    "no file of `{}` reads as a migration ({} ignored, above): name the files to lint them as SQL (`cutover lint {}/*.sql`), or give the layout with --layout",
                    input.display(),
                    cutover_engine::count(set.ignored.len(), "file", "files"),
                    input.display()
                )));
            }
            Ok(set) => {
                // Files of a folder read for the files named in it are theirs to report, not the
                // folder's other files' problems.
                let named_files = named_in_folder.get(input);
                ignored.extend(
                    set.ignored
                        .iter()
                        .filter(|i| named_files.is_none_or(|files| files.contains(&canonical(&i.path))))
                        .cloned(),
                );
                // Say whose semantics judged the folder when they are not cutover's own.
                if settings.lint.runner == cutover_analysis::Runner::Folder {
                    if let Some(tool) = cutover_analysis::Tool::of_layout(set.layout) {
                        runner_notes.push(format!(
                            "`{}` is judged as {} runs its files (its layout's tool); `--assume-runner cutover` (or `assume_runner = \"cutover\"` under [lint]) judges them as `cutover up` runs them",
                            input.display(),
                            tool.name()
                        ));
                    }
                }
                let pending = match &mut database {
                    Some((url, target)) => {
                        let history = crate::with_url(url, cutover_runner::read_history(&mut **target, settings))?;
                        // An applied migration edited since is refused by `up`: CI fails on it
                        // now, not at the deploy (tester 20: `--pending` passed over it).
                        tampered.extend(cutover_runner::tamper_problems(&set, &compute_status(&set, &history)));
                        Some(not_applied(&set, &history))
                    }
                    None => None,
                };
                let named = named_in_folder.get(input);
                let reported = |idx: usize, migration: &Migration| {
                    pending.as_ref().is_none_or(|pending| pending.contains(&idx))
                        && changed.as_ref().is_none_or(|changed| touched(migration, changed))
                        && named.is_none_or(|files| touched(migration, files))
                };
                let still_to_run = |migration: &Migration| still_to_run(&migration.up.path);
                let batch = lint_folder(&set, &settings.lint, live, &still_to_run, &released);
                for (idx, linted) in batch.into_iter().enumerate() {
                    linted_count += 1;
                    if !reported(idx, linted.migration) {
                        passed_over += 1;
                        continue;
                    }
                    let up = &linted.migration.up;
                    results.push(Linted {
                        path: up.path.display().to_string(),
                        text: up.text.clone(),
                        diagnostics: linted.diagnostics,
                    });
                }
                phase_reports.extend(declarative_phases(
                    &set,
                    &settings.lint,
                    &reported,
                    live,
                    &settings.history_table,
                ));
            }
            // One file cannot be read into statements (an unterminated quote, a bad section
            // marker): it is reported where it breaks, and the others are still linted, one by
            // one in path order (without the folder's layout, so without the down scripts' pairing).
            // A file that says how the folder is read (`atlas.sum`, `sqitch.plan`) is broken:
            // no file of it can be placed, and `up` refuses it the same way.
            Err(err @ cutover_migration::Error::AtLine { .. }) if matches!(&err, cutover_migration::Error::AtLine { path, .. } if path.extension().is_none_or(|e| e != "sql")) =>
            {
                return Err(usage_error(err));
            }
            Err(cutover_migration::Error::AtLine { path, line, message }) => {
                if database.is_some() {
                    writeln!(anstream::stderr(), "note: `{}` cannot be read as a folder of migrations, so which are applied is unknown: every file of it is reported", input.display())?;
                }
                for linted in lint_leniently(input, &path, line, &message, &mut linter, &settings.lint) {
                    linted_count += 1;
                    if changed.as_ref().is_none_or(|changed| changed.contains(&canonical(Path::new(&linted.path)))) {
                        results.push(linted);
                    } else {
                        passed_over += 1;
                    }
                }
            }
            Err(err) => return Err(usage_error(err)),
        }
    }
    let mut notes = anstream::stderr();
    for note in &runner_notes {
        writeln!(notes, "note: {note}")?;
    }
    for problem in &tampered {
        writeln!(notes, "error: {problem}")?;
    }
    if !tampered.is_empty() {
        writeln!(notes, "  {}", cutover_runner::TAMPER_ADVICE)?;
    }
    for file in &ignored {
        // A file `up` refuses fails the lint too: CI must fail before the deploy does.
        let level = if file.refused_by_up { "error" } else { "note" };
        writeln!(notes, "{level}: ignoring `{}`: {}", file.path.display(), file.reason)?;
    }
    if passed_over > 0 {
        let which = match (&only.changed_since, only.pending) {
            (Some(rev), true) => format!("not applied to the database and changed since {rev}"),
            (Some(rev), false) => format!("changed since {rev}"),
            (None, true) => "not applied to the database".to_string(),
            (None, false) => "named (after the migrations before them in their folder)".to_string(),
        };
        writeln!(
            notes,
            "note: linted {linted_count} files in order; reporting the {} {which}",
            cutover_engine::count(results.len(), "file", "files")
        )?;
    }
    let count =
        |severity: Severity| results.iter().flat_map(|r| &r.diagnostics).filter(|d| d.severity == severity).count();
    let (mut errors, warnings, infos) = (count(Severity::Error), count(Severity::Warning), count(Severity::Info));
    errors += phase_reports.iter().filter(|(_, report)| matches!(report, Preview::Unplannable(_))).count();
    errors += ignored.iter().filter(|file| file.refused_by_up).count();
    errors += tampered.len();
    // Rendered into memory, then written once: thousands of small writes through the
    // terminal adapter cost more than the analysis.
    let mut rendered = Vec::new();
    match format {
        LintFormat::Json => render_json(&mut rendered, &results, &phase_reports, &ignored, (errors, warnings, infos))?,
        LintFormat::Human => render_human(&mut rendered, &results, (errors, warnings, infos))?,
        LintFormat::Github => render_github(&mut rendered, &results, &ignored)?,
        LintFormat::Sarif => render_sarif(&mut rendered, &results, &ignored)?,
    }
    if format == LintFormat::Human {
        render_phases(&mut rendered, &phase_reports)?;
    }
    if format == LintFormat::Human {
        // Colour codes are stripped when stdout is not a terminal, or NO_COLOR is set.
        anstream::stdout().write_all(&rendered)?;
    } else {
        std::io::stdout().lock().write_all(&rendered)?;
    }
    Ok(if errors > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}

/// The indexes in `set` of the migrations the database has not applied (per `history`):
/// pending ones, failed or interrupted ones, and reverted ones, which `up` would apply.
fn not_applied(set: &MigrationSet, history: &[cutover_engine::HistoryRecord]) -> HashSet<usize> {
    compute_status(set, history)
        .into_iter()
        .filter(|status| status.state.is_to_apply())
        .filter_map(|status| status.migration_idx)
        .collect()
}

/// Whether one of the files of `migration` is among `changed`.
fn touched(migration: &Migration, changed: &HashSet<PathBuf>) -> bool {
    std::iter::once(&migration.up).chain(&migration.down).any(|script| changed.contains(&canonical(&script.path)))
}

/// The inputs with each file that is a migration of a sectioned or templated layout replaced
/// by its folder (once), and, per such folder, the files named (canonical).
fn route_to_folders(
    inputs: Vec<PathBuf>,
    settings: &Settings,
) -> (Vec<PathBuf>, std::collections::HashMap<PathBuf, std::collections::HashSet<PathBuf>>) {
    use cutover_migration::Layout;
    let mut routed: Vec<PathBuf> = Vec::new();
    let mut named: std::collections::HashMap<PathBuf, std::collections::HashSet<PathBuf>> = Default::default();
    // Per folder, read once however many of its files are named: the scripts of its
    // migrations when it is in such a layout.
    let mut folders: std::collections::HashMap<PathBuf, Option<std::collections::HashSet<PathBuf>>> =
        Default::default();
    let whole: std::collections::HashSet<PathBuf> =
        inputs.iter().filter(|p| p.is_dir()).map(|p| canonical(p)).collect();
    for input in inputs {
        let folder = input.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let sectioned = input.is_file() && input.extension().is_some_and(|e| e == "sql") && {
            let scripts = folders.entry(folder.to_path_buf()).or_insert_with(|| {
                discover_to_lint_with(folder, settings.layout, &settings.read_options(Some(settings.lint.dialect)))
                    .ok()
                    .filter(|set| {
                        matches!(set.layout, Layout::Goose | Layout::Dbmate | Layout::Liquibase | Layout::Pop)
                    })
                    .map(|set| set.migrations.iter().map(|m| canonical(&m.up.path)).collect())
            });
            scripts.as_ref().is_some_and(|scripts| scripts.contains(&canonical(&input)))
        };
        if !sectioned {
            routed.push(input);
            continue;
        }
        let folder = folder.to_path_buf();
        if !named.contains_key(&folder) {
            routed.push(folder.clone());
        }
        named.entry(folder).or_default().insert(canonical(&input));
    }
    // A folder also named itself is reported whole, once.
    named.retain(|folder, _| !whole.contains(&canonical(folder)));
    let mut seen = std::collections::HashSet::new();
    routed.retain(|p| !p.is_dir() || seen.insert(canonical(p)));
    (routed, named)
}

/// `path` made absolute with links resolved, to compare with what git lists; as given when it
/// cannot be (then it matches nothing git lists).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What a branch changed since a revision (see [`changed_since`]), canonical.
struct Changed {
    /// The files added or changed.
    files: HashSet<PathBuf>,
    /// Those of them added (untracked included): migrations not yet released.
    added: HashSet<PathBuf>,
    /// The text of each SQL file deleted since (or moved where git does not see it): what its
    /// migrations made was released.
    deleted: Vec<String>,
}

/// The tables that any of `scripts` creates (a branch's deleted migrations: a folder moved, a
/// baseline made again): released, so not new when a migration still to run makes them again.
/// Every one, whatever drops it later (down scripts are among them): the doubt is resolved
/// towards reporting.
fn tables_made_by(scripts: &[String], config: &cutover_analysis::LintConfig) -> Vec<String> {
    // The statements' effects as parsed: the tables are named there, and no rule need run.
    let parsed: Vec<Vec<cutover_migration::Statement>> =
        scripts.iter().filter_map(|text| cutover_migration::split_statements(text).ok()).collect();
    let parsed: Vec<&[cutover_migration::Statement]> = parsed.iter().map(Vec::as_slice).collect();
    let mut tables = Vec::new();
    for analyzed in cutover_analysis::analyze_all(&parsed, config) {
        // A table renamed into its name was released under it too (tester 10).
        tables.extend(analyzed.effects().flatten().filter_map(|effect| effect.action.table_made()));
    }
    tables
}

/// The files added or changed since `rev` (`git diff` from the merge base of `rev` and HEAD:
/// committed or not) and the untracked ones git does not ignore (a migration not yet added).
fn changed_since(rev: &str) -> anyhow::Result<Changed> {
    if rev.starts_with('-') {
        return Err(usage_error(format!(
            "--changed-since `{rev}`: a revision does not start with `-`; give a commit, branch or tag"
        )));
    }
    let git = |args: &[&str], dir: Option<&Path>| -> anyhow::Result<Vec<u8>> {
        let mut command = std::process::Command::new("git");
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let output = command
            .args(args)
            .output()
            .map_err(|err| usage_error(format!("--changed-since runs git, which cannot be started: {err}; install git, or lint without --changed-since")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(usage_error(format!(
                "--changed-since {rev}: `git {}` failed: {}",
                args.join(" "),
                stderr.trim()
            )));
        }
        Ok(output.stdout)
    };
    let top = git(&["rev-parse", "--show-toplevel"], None).map_err(|_| {
        usage_error(format!(
            "--changed-since {rev} compares with git, but `{}` is not in a git work tree; run it in the repository, or lint without --changed-since",
            std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
        ))
    })?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end_matches(['\n', '\r']).to_string());
    // `^{commit}`: a name that is no commit is refused here, with a hint for shallow clones.
    let rev_commit =
        git(&["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")], Some(&top)).map_err(|_| {
            usage_error(format!(
                "--changed-since {rev}: no such commit in this repository; give a commit, branch or tag it has (a CI checkout may need more history, e.g. `fetch-depth: 0`)"
            ))
        })?;
    let rev_commit = String::from_utf8_lossy(&rev_commit).trim().to_string();
    // From where the branch left `rev` (as a pull request's diff is): what `rev` gained since
    // is not this branch's change. A `rev` in the branch's own past is its own merge base.
    let base = git(&["merge-base", rev, "HEAD"], Some(&top))
        .map(|out| String::from_utf8_lossy(&out).trim().to_string())
        .unwrap_or_else(|_| rev.to_string());
    let diff = git(&["diff", "--name-only", "-z", "--no-renames", "--diff-filter=d", &base, "--"], Some(&top))?;
    // Renames found (`-M`): a migration moved or renumbered on the branch was released all the
    // same, and a folder moved would make the whole history one new batch.
    let new = git(&["diff", "--name-only", "-z", "-M", "--diff-filter=A", &base, "--"], Some(&top))?;
    let untracked = git(&["ls-files", "-z", "--others", "--exclude-standard"], Some(&top))?;
    let names = |names: &[&[u8]]| -> Vec<String> {
        names
            .iter()
            .flat_map(|names| names.split(|&b| b == 0))
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect()
    };
    let path = |name: &String| canonical(&top.join(name));
    // A file whose very content the base has somewhere (moved without git knowing, copied) is
    // no new migration either.
    // Files only: git lists an untracked repository nested in the tree as its folder, which
    // `hash-object` refuses (tester 11: the whole lint failed).
    let mut added: Vec<String> =
        names(&[&new, &untracked]).into_iter().filter(|name| top.join(name).is_file()).collect();
    if !added.is_empty() {
        // `<mode> blob <id>\t<path>` each; at `rev` too, which may have gained it since the
        // branch left (a migration released there, cherry-picked here: tester 9).
        // A file at a path the revision has (a released migration copied and touched up: tester
        // 10) is that migration.
        let mut released: HashSet<Vec<u8>> = HashSet::new();
        let mut released_paths: HashSet<String> = HashSet::new();
        // `rev` is often the merge base itself (a branch on top of main): one listing.
        let trees = if rev_commit == base { vec![base.as_str()] } else { vec![base.as_str(), rev] };
        for tree in trees {
            for entry in git(&["ls-tree", "-r", "-z", tree], Some(&top))?.split(|&b| b == 0) {
                let Some(tab) = entry.iter().position(|&b| b == b'\t') else { continue };
                if let Some(id) = entry[..tab].split(|&b| b == b' ').nth(2) {
                    released.insert(id.to_vec());
                }
                released_paths.insert(String::from_utf8_lossy(&entry[tab + 1..]).into_owned());
            }
        }
        added.retain(|name| !released_paths.contains(name));
        if !added.is_empty() {
            let mut hash = vec!["hash-object", "--"];
            hash.extend(added.iter().map(String::as_str));
            let ids = git(&hash, Some(&top))?;
            let ids: Vec<&[u8]> = ids.split(|&b| b == b'\n').filter(|id| !id.is_empty()).collect();
            if ids.len() == added.len() {
                let mut ids = ids.into_iter();
                added.retain(|_| ids.next().is_none_or(|id| !released.contains(id)));
            }
        }
    }
    // A migration deleted (or moved and edited past git's rename detection: tester 9) made its
    // tables for the release; the SQL files' texts are read as the merge base has them.
    let gone = git(&["diff", "--name-only", "-z", "--no-renames", "--diff-filter=D", &base, "--"], Some(&top))?;
    let gone: Vec<String> =
        names(&[&gone]).into_iter().filter(|name| name.to_ascii_lowercase().ends_with(".sql")).collect();
    let deleted = blobs_at(&top, &base, &gone)?
        .into_iter()
        .flatten()
        .map(|text| String::from_utf8_lossy(&text).into_owned())
        .collect();
    Ok(Changed {
        files: names(&[&diff, &untracked]).iter().map(path).collect(),
        added: added.iter().map(path).collect(),
        deleted,
    })
}

/// The contents of `paths` as commit `rev` has them (`None` for one it does not have), read by
/// one `git cat-file --batch` however many there are (a baseline made again deletes hundreds).
fn blobs_at(top: &Path, rev: &str, paths: &[String]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
    use std::io::{BufRead, Read, Write};
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let failed = |err: &dyn std::fmt::Display| {
        usage_error(format!("--changed-since {rev}: `git cat-file --batch` failed: {err}"))
    };
    let mut child = std::process::Command::new("git")
        .current_dir(top)
        .args(["cat-file", "--batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|err| failed(&err))?;
    // The requests are written from a thread of their own: git answers as it reads, and a
    // full pipe either way would stall both.
    let mut stdin = child.stdin.take().expect("piped");
    let requests: Vec<String> = paths
        .iter()
        // The protocol is a line a request: a name holding a line break cannot be asked for.
        .map(|path| if path.contains('\n') { String::new() } else { format!("{rev}:{path}") })
        .collect();
    let writer = std::thread::spawn(move || {
        for request in requests {
            if stdin.write_all(request.as_bytes()).and_then(|()| stdin.write_all(b"\n")).is_err() {
                break;
            }
        }
    });
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut blobs = Vec::with_capacity(paths.len());
    for _ in paths {
        let mut header = String::new();
        if out.read_line(&mut header).map_err(|err| failed(&err))? == 0 {
            break;
        }
        // `<id> blob <size>`, or `<request> missing` (and `ambiguous`) for what it cannot find.
        let mut fields = header.trim_end().rsplitn(3, ' ');
        let size = fields.next().and_then(|size| size.parse::<usize>().ok());
        match (size, fields.next()) {
            (Some(size), Some(_kind)) => {
                let mut contents = vec![0; size + 1];
                out.read_exact(&mut contents).map_err(|err| failed(&err))?;
                contents.pop();
                blobs.push(Some(contents));
            }
            _ => blobs.push(None),
        }
    }
    let _ = writer.join();
    let _ = child.wait();
    blobs.resize(paths.len(), None);
    Ok(blobs)
}

/// Every migration of `set`, in order: with a live database, those it has not applied linted on
/// its schema, and those it has as the folder builds them.
fn lint_folder<'a>(
    set: &'a cutover_migration::MigrationSet,
    config: &cutover_analysis::LintConfig,
    live: Option<&Live>,
    still_to_run: &dyn Fn(&Migration) -> bool,
    released: &[String],
) -> Vec<cutover_runner::LintedMigration<'a>> {
    let Some(live) = live else { return cutover_runner::lint_set_with_batch(set, config, still_to_run, released) };
    let statuses = cutover_runner::compute_status(set, &live.history);
    let pending: Vec<&cutover_migration::Migration> = statuses
        .iter()
        .filter(|s| s.state.is_to_apply())
        .filter_map(|s| s.migration_idx.map(|idx| &set.migrations[idx]))
        .collect();
    let is_pending = |m: &cutover_migration::Migration| pending.iter().any(|p| std::ptr::eq(*p, m));
    let mut on_live = lint_pending(set, &pending, config, Some(&live.schema)).into_iter().peekable();
    let mut results = Vec::with_capacity(set.migrations.len());
    for linted in lint_set(set, config) {
        if is_pending(linted.migration) {
            results.extend(on_live.next_if(|l| std::ptr::eq(l.migration, linted.migration)));
        } else {
            results.push(linted);
        }
    }
    results
}

pub(crate) use cutover_expand::report::Preview;

/// What each phase of every declarative migration of `set` locks. A pending migration is
/// planned against the live database when there is one (`--database-url`), as `cutover start`
/// will plan it; otherwise against the schema the migrations before it build.
pub(crate) fn declarative_phases(
    set: &MigrationSet,
    config: &cutover_analysis::LintConfig,
    reported: &dyn Fn(usize, &Migration) -> bool,
    live: Option<&Live>,
    history_table: &str,
) -> Vec<(String, Preview)> {
    let mut reports = Vec::new();
    let config_dialect = config.dialect;
    let config = declarative_config(config);
    let pending = live.map(|live| not_applied(set, &live.history));
    for (idx, migration) in set.migrations.iter().enumerate() {
        if migration.kind != cutover_migration::MigrationKind::Declarative || !reported(idx, migration) {
            continue;
        }
        // Applied already: `start` and `complete` are behind it, nothing to preview.
        if pending.as_ref().is_some_and(|pending| !pending.contains(&idx)) {
            continue;
        }
        if let Some(refusal) = refused_by_engine(config_dialect) {
            reports.push((migration.up.path.display().to_string(), refusal));
            continue;
        }
        if let Some(refusal) = refused_on_sqlite(config_dialect, &migration.up.path) {
            reports.push((migration.up.path.display().to_string(), refusal));
            continue;
        }
        let on_live = live.zip(pending.as_ref()).filter(|(_, pending)| pending.contains(&idx));
        let (mut linter, before): (Linter, Vec<&Migration>) = match on_live {
            Some((live, pending)) => (
                live_linter(live, &config),
                set.migrations[..idx].iter().enumerate().filter(|(p, _)| pending.contains(p)).map(|(_, m)| m).collect(),
            ),
            None => (Linter::new(config.clone()), set.migrations[..idx].iter().collect()),
        };
        // The live tables as the catalog describes them (defaults, NOT NULL, what depends on a
        // column), unless a pending migration before this one changes them first.
        let exact = before.is_empty();
        let live = on_live.map(|(live, _)| live);
        let base = live.map_or("public", |live| live.base_schema.as_str());
        for earlier in before {
            replay(&mut linter, earlier, base, history_table);
        }
        let version = migration.version.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default();
        let preview = preview(&migration.up.path, (&version, &migration.name), &mut linter, live, exact, history_table);
        reports.push((migration.up.path.display().to_string(), preview));
    }
    reports
}

/// Brings `linter`'s schema past `migration`: its statements, or a declarative migration's
/// planned SQL.
fn replay(linter: &mut Linter, migration: &Migration, base: &str, history_table: &str) {
    if migration.kind == cutover_migration::MigrationKind::Declarative {
        let Ok(declaration) = cutover_expand::read_declaration(&migration.up.path) else { return };
        let tables = own_tables_left_out(cutover_expand::report::shapes_from_schema(linter.schema()), history_table);
        let version = migration.version.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default();
        let input = plan_input(&tables, base, &version, &migration.name);
        cutover_expand::report::replay(&declaration, &input, linter);
        return;
    }
    let script = cutover_analysis::Script {
        text: "",
        statements: &migration.up.statements,
        in_transaction: migration.up.settings.transaction,
        no_transaction_by: migration.up.settings.no_transaction_by,
        has_down: None,
    };
    let _ = linter.lint(&script);
}

/// As `cutover start` plans: cutover's own tables get no view.
fn own_tables_left_out(
    mut tables: Vec<cutover_engine::TableShape>,
    history_table: &str,
) -> Vec<cutover_engine::TableShape> {
    tables.retain(|t| !cutover_expand::is_own_table(&t.name, history_table));
    tables
}

fn plan_input<'a>(
    tables: &'a [cutover_engine::TableShape],
    base_schema: &'a str,
    version: &'a str,
    name: &'a str,
) -> cutover_expand::PlanInput<'a> {
    cutover_expand::PlanInput { version, name, base_schema, tables, previous_schema: None, nonce: "lint" }
}

/// Declarative migrations on an engine `cutover start` refuses them on: an error, as `start` would be.
fn refused_by_engine(dialect: cutover_analysis::Dialect) -> Option<Preview> {
    (dialect == cutover_analysis::Dialect::Mysql)
        .then(|| Preview::Unplannable(cutover_engine::EXPAND_ON_MYSQL.to_string()))
}

/// SQLite applies a declarative migration whole, and refuses what only makes sense online.
fn refused_on_sqlite(dialect: cutover_analysis::Dialect, path: &Path) -> Option<Preview> {
    if dialect != cutover_analysis::Dialect::Sqlite {
        return None;
    }
    let declaration = cutover_expand::read_declaration(path).ok()?;
    let (idx, _) = declaration
        .operations
        .iter()
        .enumerate()
        .find(|(_, op)| matches!(op, cutover_expand::Operation::Rewrite { .. }))?;
    Some(Preview::Unplannable(format!(
        "operation {} (rewrite): on SQLite `cutover start` refuses it: {}",
        idx + 1,
        cutover_expand::sqlite::REWRITE_REFUSED
    )))
}

/// Expand/contract runs on PostgreSQL, whatever the URL says, and `cutover start` runs it.
fn declarative_config(config: &cutover_analysis::LintConfig) -> cutover_analysis::LintConfig {
    cutover_analysis::LintConfig {
        dialect: cutover_analysis::Dialect::Postgres,
        runner: cutover_analysis::Runner::Cutover,
        ..config.clone()
    }
}

fn live_linter(live: &Live, config: &cutover_analysis::LintConfig) -> Linter {
    let (schema, rows) = cutover_runner::seed(&live.schema, config);
    let mut config = config.clone();
    config.live_rows.extend(rows);
    Linter::with_schema(config, schema)
}

/// Plans one declarative file and reports what each phase locks. On the live database (`live`),
/// in its current schema, and with `exact`, against its tables as the catalog describes them;
/// otherwise against `linter`'s schema.
fn preview(
    path: &Path,
    (version, name): (&str, &str),
    linter: &mut Linter,
    live: Option<&Live>,
    exact: bool,
    history_table: &str,
) -> Preview {
    // Tester 22: planned again on its own expanded tables, the migration under way was an
    // error ("already has a column") for the whole rolling deploy.
    if let Some((_, phase)) = live.and_then(|live| live.active.as_ref()).filter(|(active, _)| active == version) {
        return Preview::Note(format!(
            "migration {version} is {} on this database (expand/contract): `cutover complete` or `cutover rollback` ends it; nothing to preview",
            phase.words()
        ));
    }
    let declaration = match cutover_expand::read_declaration(path) {
        Ok(declaration) => declaration,
        Err(err) => return Preview::Unplannable(err.to_string()),
    };
    let tables = match live.filter(|_| exact) {
        Some(live) => live.shapes.clone(),
        None => cutover_expand::report::shapes_from_schema(linter.schema()),
    };
    let tables = own_tables_left_out(tables, history_table);
    let base = live.map_or("public", |live| live.base_schema.as_str());
    cutover_expand::report::preview(&declaration, &plan_input(&tables, base, version, name), linter, live.is_some())
}

pub(crate) fn render_phases(out: &mut dyn Write, reports: &[(String, Preview)]) -> std::io::Result<()> {
    for (path, report) in reports {
        match report {
            Preview::Unplannable(message) => writeln!(out, "{path}: error: {message}")?,
            Preview::Note(message) => writeln!(out, "{path}: note: {message}")?,
            Preview::Phases(phases) => {
                writeln!(out, "{path}: expand/contract phases (lock_timeout bounds every wait for a lock)")?;
                for phase in phases {
                    writeln!(out, "  {} ({}):", phase.name, phase.how)?;
                    for step in &phase.steps {
                        writeln!(out, "    {}\n      {}", step.summary, step.blocking())?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `cutover explain RULE|OP`: a rule's or a declarative operation's page, from its source.
/// Rule ids are kebab-case and operations snake_case, so the two never collide.
pub fn explain(name: Option<&str>) -> anyhow::Result<ExitStatus> {
    let rules = cutover_analysis::rules::RULES;
    let operations = cutover_expand::ops::OPERATION_DOCS;
    let mut out = anstream::stdout();
    let Some(name) = name else {
        for rule in rules {
            writeln!(out, "{:<36} {}", rule.id, rule.severity.name())?;
        }
        for operation in operations {
            writeln!(out, "{:<36} operation", operation.name)?;
        }
        return Ok(ExitStatus::Success);
    };
    if let Some(rule) = cutover_analysis::rules::find(name) {
        writeln!(out, "# {} ({})\n\n{}", rule.id, rule.severity.name(), rule.doc)?;
        return Ok(ExitStatus::Success);
    }
    if let Some(operation) = cutover_expand::ops::operation_doc(name) {
        write!(out, "{}", operation.page())?;
        return Ok(ExitStatus::Success);
    }
    let rule_ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
    let operation_names: Vec<&str> = operations.iter().map(|o| o.name).collect();
    // `add-column` means the operation `add_column`, `set_not_null_scan` the rule `set-not-null-scan`.
    let lower = name.to_ascii_lowercase();
    let respelled = operation_names
        .iter()
        .find(|op| **op == lower.replace('-', "_"))
        .or_else(|| rule_ids.iter().find(|rule| **rule == lower.replace('_', "-")))
        .copied();
    let near = respelled.or_else(|| did_you_mean(name, &[rule_ids.as_slice(), operation_names.as_slice()].concat()));
    Err(usage_error(match near {
        Some(near) => format!(
            "no rule or operation `{name}`; did you mean `{near}`? (`cutover explain` with no argument lists them all)"
        ),
        None => format!(
            "no rule or operation `{name}`; the rules are: {}; the operations: {}",
            rule_ids.join(", "),
            operation_names.join(", ")
        ),
    }))
}

/// The known name closest to `given`, if one is close enough to be what was meant: a prefix
/// (`set-not-null` for `set-not-null-scan`) or a typo (Jaro-Winkler, as clap suggests commands).
pub(crate) fn did_you_mean<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    if let Some(prefixed) = known.iter().find(|k| k.starts_with(&given) || given.starts_with(**k)) {
        return Some(prefixed);
    }
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&given, k), *k))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// A folder whose discovery failed at `broken:line`: that file as a `syntax-error`, every other
/// `.sql` file linted on its own, in path order.
fn lint_leniently(
    dir: &std::path::Path,
    broken: &std::path::Path,
    line: usize,
    message: &str,
    linter: &mut Linter,
    config: &cutover_analysis::LintConfig,
) -> Vec<Linted> {
    let mut files = Vec::new();
    sql_files(dir, &mut files);
    files.sort();
    let mut results = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map(|t| normalize(&t)).unwrap_or_default();
        if path == broken {
            let diagnostic = Diagnostic {
                rule: "syntax-error",
                severity: Severity::Error,
                line,
                column: 1,
                end_line: line,
                end_column: 1,
                message: message.to_string(),
                help: "fix the file where it breaks; the other files were linted on their own".to_string(),
                table: None,
                lock: None,
            };
            results.push(Linted { path: path.display().to_string(), text, diagnostics: vec![diagnostic] });
            continue;
        }
        let file = FileInput::new(path.display().to_string(), text);
        let analyzed = analyze(file.statements.as_deref().unwrap_or(&[]), config);
        results.push(file.lint(linter, analyzed));
    }
    results
}

/// The `.sql` regular files under `dir`. Links to folders are not followed (a loop would never
/// end) and FIFOs and devices are left out (reading them never ends).
fn sql_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sql_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "sql") && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            out.push(path);
        }
    }
}

/// A file named on the command line (or stdin), read and split.
struct FileInput {
    path: String,
    text: String,
    /// The statements, or the line and message of an unterminated quote or comment.
    statements: Result<Vec<Statement>, (usize, String)>,
    /// Whether its directives let it run in a transaction.
    in_transaction: bool,
    /// The directive that switched its transaction off, if one did (popx's is its name).
    no_transaction_by: Option<NoTransactionMarker>,
}

impl FileInput {
    fn new(path: String, text: String) -> FileInput {
        let mut script_settings = ScriptSettings::default();
        let _ = read_directives(&text, &mut script_settings);
        let statements = split_statements(&text).map_err(|err| (err.line, err.to_string()));
        // As discovery decides for a migration: a file made only of statements that refuse a
        // transaction block runs outside one.
        let outside = statements.as_ref().is_ok_and(|s| transactionality(s) == Transactionality::Outside);
        let name = Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let no_transaction_by = NoTransactionMarker::in_file_name(&name).or(script_settings.no_transaction_by);
        FileInput { path, text, statements, in_transaction: script_settings.transaction && !outside, no_transaction_by }
    }

    fn lint(self, linter: &mut Linter, analyzed: Analyzed) -> Linted {
        let diagnostics = match &self.statements {
            Ok(statements) => {
                linter
                    .lint_analyzed(
                        &Script {
                            text: &self.text,
                            statements,
                            in_transaction: self.in_transaction,
                            no_transaction_by: self.no_transaction_by,
                            has_down: None,
                        },
                        analyzed,
                    )
                    .diagnostics
            }
            // Nothing after an unterminated quote or comment can be split into statements.
            Err((line, message)) => vec![Diagnostic {
                rule: "syntax-error",
                severity: Severity::Error,
                line: *line,
                column: 1,
                end_line: *line,
                end_column: 1,
                message: message.clone(),
                help: "close the quote or comment that starts here".to_string(),
                table: None,
                lock: None,
            }],
        };
        Linted { path: self.path, text: self.text, diagnostics }
    }
}

fn render_human(out: &mut dyn Write, results: &[Linted], totals: (usize, usize, usize)) -> std::io::Result<()> {
    let blue = AnsiColor::Blue.on_default().bold();
    let bold = Style::new().bold();
    for linted in results {
        let lines: Vec<&str> = linted.text.lines().collect();
        for d in &linted.diagnostics {
            let style = match d.severity {
                Severity::Error => AnsiColor::Red.on_default().bold(),
                Severity::Warning => AnsiColor::Yellow.on_default().bold(),
                Severity::Info => AnsiColor::Cyan.on_default().bold(),
            };
            writeln!(out, "{style}{}[{}]{style:#}{bold}: {}{bold:#}", d.severity.name(), d.rule, d.message)?;
            writeln!(out, "  {blue}-->{blue:#} {}:{}:{}", linted.path, d.line, d.column)?;
            let width = d.end_line.to_string().len();
            writeln!(out, "{:width$} {blue}|{blue:#}", "")?;
            let shown_end = d.end_line.min(d.line + 4);
            for line_no in d.line..=shown_end {
                let text = lines.get(line_no - 1).copied().unwrap_or("");
                writeln!(out, "{blue}{line_no:>width$} |{blue:#} {text}")?;
            }
            if d.end_line > shown_end {
                writeln!(out, "{:width$} {blue}|{blue:#} ...", "")?;
            }
            if let (Some(table), Some(lock)) = (&d.table, d.lock) {
                writeln!(out, "{:width$} {blue}={blue:#} lock: {lock} on {table} ({})", "", lock.blocks())?;
            }
            writeln!(out, "{:width$} {blue}={blue:#} help: {}", "", d.help)?;
            writeln!(out)?;
        }
    }
    let (errors, warnings, infos) = totals;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    writeln!(
        out,
        "{}, {}, {} in {}",
        count(errors, "error"),
        count(warnings, "warning"),
        count(infos, "info"),
        count(results.len(), "file")
    )
}

/// GitHub Actions annotations: `::error file=...,line=...,endLine=...,title=...::message`.
fn render_github(out: &mut dyn Write, results: &[Linted], ignored: &[Ignored]) -> std::io::Result<()> {
    // Workflow commands end at a newline and use `%`, `:` and `,` as syntax: escape them.
    let escape = |text: &str, property: bool| {
        let text = text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
        if property {
            text.replace(':', "%3A").replace(',', "%2C")
        } else {
            text
        }
    };
    for linted in results {
        for d in &linted.diagnostics {
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            writeln!(
                out,
                "::{level} file={},line={},endLine={},title={}::{} (help: {})",
                escape(&linted.path, true),
                d.line,
                d.end_line,
                escape(d.rule, true),
                escape(&d.message, false),
                escape(&d.help, false)
            )?;
        }
    }
    for file in ignored.iter().filter(|file| file.refused_by_up) {
        writeln!(
            out,
            "::error file={},title=not read as a migration::{}",
            escape(&file.path.display().to_string(), true),
            escape(&file.reason, false)
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct DiagnosticJson<'a> {
    rule: &'a str,
    severity: &'a str,
    path: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    help: &'a str,
    table: Option<&'a str>,
    lock: Option<&'a str>,
}

#[derive(Serialize)]
struct SummaryJson {
    errors: usize,
    warnings: usize,
    infos: usize,
    files: usize,
}

#[derive(Serialize)]
struct IgnoredJson<'a> {
    path: String,
    reason: &'a str,
    /// `cutover up` refuses the folder while the file is there (counted as an error).
    refused_by_up: bool,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    diagnostics: Vec<DiagnosticJson<'a>>,
    summary: SummaryJson,
    /// Files of the folders passed over, with why (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored: Vec<IgnoredJson<'a>>,
    /// The phases of declarative migrations (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    declarative: Vec<serde_json::Value>,
}

/// A declarative migration's preview, for `--format json` of `lint` and `plan`.
pub(crate) fn preview_json(path: &str, report: &Preview) -> serde_json::Value {
    use serde_json::json;
    match report {
        Preview::Unplannable(message) => json!({ "path": path, "error": message }),
        Preview::Note(message) => json!({ "path": path, "note": message }),
        Preview::Phases(phases) => json!({
            "path": path,
            "phases": phases.iter().map(|phase| json!({
                "name": phase.name,
                "how": phase.how,
                "steps": phase.steps.iter().map(|step| json!({
                    "statement": step.statement,
                    "summary": step.summary,
                    "locks": step.locks.iter().map(|(relation, mode)| json!({ "relation": relation, "mode": mode.name() })).collect::<Vec<_>>(),
                    "scans": step.scans,
                    "rewrites": step.rewrites,
                    "blocking": step.blocking(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
    }
}

fn render_json(
    out: &mut dyn Write,
    results: &[Linted],
    phase_reports: &[(String, Preview)],
    ignored: &[Ignored],
    totals: (usize, usize, usize),
) -> std::io::Result<()> {
    let declarative = phase_reports.iter().map(|(path, report)| preview_json(path, report)).collect();
    let mut diagnostics = Vec::new();
    for linted in results {
        for d in &linted.diagnostics {
            diagnostics.push(DiagnosticJson {
                rule: d.rule,
                severity: d.severity.name(),
                path: &linted.path,
                line: d.line,
                column: d.column,
                end_line: d.end_line,
                end_column: d.end_column,
                message: &d.message,
                help: &d.help,
                table: d.table.as_deref(),
                lock: d.lock.map(|l| l.name()),
            });
        }
    }
    let (errors, warnings, infos) = totals;
    let ignored = ignored
        .iter()
        .map(|i| IgnoredJson { path: i.path.display().to_string(), reason: &i.reason, refused_by_up: i.refused_by_up })
        .collect();
    let report = ReportJson {
        diagnostics,
        summary: SummaryJson { errors, warnings, infos, files: results.len() },
        ignored,
        declarative,
    };
    // Compact: a report of thousands of findings is read by programs (`jq` pretty-prints it).
    serde_json::to_writer(&mut *out, &report)?;
    writeln!(out)
}

/// SARIF 2.1.0: every rule with its documentation, and one result per diagnostic.
fn render_sarif(out: &mut dyn Write, results: &[Linted], ignored: &[Ignored]) -> std::io::Result<()> {
    use serde_json::json;
    let rules = cutover_analysis::rules::RULES;
    let level = |severity: Severity| match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let descriptors: Vec<serde_json::Value> = rules
        .iter()
        .map(|rule| {
            let what = rule.doc.split("## What it does\n").nth(1).and_then(|t| t.lines().next()).unwrap_or(rule.id);
            json!({
                "id": rule.id,
                "shortDescription": { "text": what },
                "fullDescription": { "text": rule.doc },
                "help": { "text": rule.doc, "markdown": rule.doc },
                "defaultConfiguration": { "level": level(rule.severity) },
            })
        })
        .collect();
    let mut findings = Vec::new();
    for linted in results {
        for d in &linted.diagnostics {
            let mut result = json!({
                "ruleId": d.rule,
                "level": level(d.severity),
                "message": { "text": format!("{} (help: {})", d.message, d.help) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": linted.path.replace('\\', "/") },
                        "region": {
                            "startLine": d.line,
                            "startColumn": d.column,
                            "endLine": d.end_line,
                            "endColumn": d.end_column,
                        },
                    },
                }],
            });
            if let Some(index) = rules.iter().position(|rule| rule.id == d.rule) {
                result["ruleIndex"] = json!(index);
            }
            findings.push(result);
        }
    }
    // A file `up` refuses the folder for is an error code scanning must show too (no rule of
    // the analysis: the folder's reading refuses it).
    for file in ignored.iter().filter(|file| file.refused_by_up) {
        findings.push(json!({
            "ruleId": "unread-migration-file",
            "level": "error",
            "message": { "text": file.reason },
            "locations": [{
                "physicalLocation": { "artifactLocation": { "uri": file.path.display().to_string().replace('\\', "/") } },
            }],
        }));
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "cutover",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": descriptors,
                },
            },
            "results": findings,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}
