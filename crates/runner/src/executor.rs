//! Running one migration script: in one transaction with its history row, or statement by
//! statement with its progress recorded; retried on lock contention; resumed where a killed
//! runner stopped. The commands (`run.rs`) decide which scripts run; this module runs them.

use std::time::{Duration, Instant};

use cutover_engine::{
    jitter, retry, DbError, DbErrorKind, Direction, Exhausted, HistoryRecord, LockHolder, MigrationTarget, RecordKind,
    State,
};
use cutover_migration::{Checksum, Migration, MigrationSet, Script, Statement};

use crate::context::{timeouts, Context};
use crate::error::{MigrationFailure, Refusal};
use crate::identity::{now_rfc3339, relative_path, runner_identity, TOOL_VERSION};
use crate::status::{resume_point, stopped_part_way};
use crate::{Error, Event};

/// The attempt at one script, and the history rows it writes.
struct Attempt<'a> {
    script: &'a Script,
    started: Instant,
    base: HistoryRecord,
}

impl Attempt<'_> {
    fn record(&self, state: State, statements_done: usize) -> HistoryRecord {
        let mut record = self.base.clone();
        record.state = state;
        record.statements_done = statements_done as i64;
        record.prefix_checksum = (statements_done > 0).then(|| {
            Checksum::of_statements(self.script.statements[..statements_done].iter().map(|s| s.sql.as_str()))
                .as_str()
                .to_string()
        });
        if state != State::Running {
            record.finished_at = Some(now_rfc3339());
            record.duration_ms = Some(self.started.elapsed().as_millis() as i64);
        }
        record
    }

    fn failed_record(&self, statements_done: usize, error: &DbError, failed: Option<&Statement>) -> HistoryRecord {
        let mut record = self.record(State::Failed, statements_done);
        record.error_message = Some(error.to_string());
        record.error_sqlstate = error.code.clone();
        record.error_statement = failed.map(|s| s.sql.clone());
        record.error_location = failed.map(|s| error_location(self.script, s, error));
        record
    }
}

/// `file:line` of the error: the statement's line, moved down to the error's position when
/// the database reports one.
fn error_location(script: &Script, statement: &Statement, error: &DbError) -> String {
    let mut line = statement.line;
    if let Some(position) = error.position {
        line += statement.sql.chars().take(position.saturating_sub(1)).filter(|&c| c == '\n').count();
    }
    format!("{}:{line}", script.path.display())
}

pub(crate) fn run_script(
    ctx: &mut Context<'_>,
    set: &MigrationSet,
    migration: &Migration,
    direction: Direction,
    latest: Option<&HistoryRecord>,
    up_front_locks: &[(String, &'static str)],
) -> Result<(), Error> {
    let script = match direction {
        Direction::Up => &migration.up,
        Direction::Down => migration.down.as_ref().expect("down scripts are checked before running"),
    };
    let started_at = now_rfc3339();
    let attempt = Attempt {
        script,
        started: Instant::now(),
        base: HistoryRecord {
            id: 0,
            version: migration.version.as_ref().map(|v| v.as_str().to_string()),
            name: migration.name.clone(),
            kind: match migration.kind {
                cutover_migration::MigrationKind::Versioned | cutover_migration::MigrationKind::Declarative => {
                    RecordKind::Versioned
                }
                cutover_migration::MigrationKind::Repeatable => RecordKind::Repeatable,
            },
            direction,
            state: State::Running,
            script: relative_path(set, &script.path),
            checksum: migration.checksum.as_str().to_string(),
            transactional: script.settings.transaction && ctx.target.transactional_ddl(),
            statements_total: script.statements.len() as i64,
            statements_done: 0,
            prefix_checksum: None,
            started_at,
            finished_at: None,
            duration_ms: None,
            error_message: None,
            error_sqlstate: None,
            error_statement: None,
            error_location: None,
            installed_by: String::new(),
            runner: runner_identity(),
            tool_version: TOOL_VERSION.to_string(),
        },
    };
    refuse_rerun_in_a_transaction(migration, script, latest, direction, attempt.base.transactional)?;
    ctx.target.reset_session().map_err(|e| Error::database("cannot reset the session before the migration", e))?;
    let res = if script.settings.transaction && ctx.target.transactional_ddl() {
        ctx.reporter.report(Event::Starting { migration, direction, resume_at: 0 });
        run_in_transaction(ctx, migration, &attempt, up_front_locks)
    } else {
        run_statement_by_statement(ctx, migration, &attempt, latest)
    };
    res?;
    ctx.reporter.report(Event::Finished { migration, direction, duration: attempt.started.elapsed() });
    Ok(())
}

fn final_state(direction: Direction) -> State {
    match direction {
        Direction::Up => State::Applied,
        Direction::Down => State::Reverted,
    }
}

/// The whole script and its history row in one transaction, retried on lock timeouts. With
/// `up_front_locks`, every lock the script takes is taken first, all within one lock timeout.
fn run_in_transaction(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    up_front_locks: &[(String, &'static str)],
) -> Result<(), Error> {
    let script = attempt.script;
    let timeouts = timeouts(ctx.settings, &script.settings);
    let n_statements = script.statements.len();
    let done = attempt.record(final_state(attempt.base.direction), n_statements);
    let policy = ctx.settings.retry_policy();
    let tries = policy.tries.get();
    let mut failed_idx = None;
    let target = &mut *ctx.target;
    let reporter = &mut *ctx.reporter;
    let holders = std::cell::RefCell::new(Vec::new());
    let res = retry(
        policy,
        DbError::is_lock_contention,
        |attempt_no, delay, error| {
            let holders = holders.borrow();
            reporter.report(Event::Retrying { migration, attempt: attempt_no, tries, delay, error, holders: &holders })
        },
        |_| {
            failed_idx = None;
            let res = target.transaction(timeouts, &mut |session| {
                // `SET TRANSACTION` must come before the transaction's first query, and the locks
                // taken up front query the catalog: the script's own, at its head, go first.
                let setting =
                    script.statements.iter().take_while(|s| cutover_migration::sets_the_transaction(&s.sql)).count();
                for (idx, statement) in script.statements[..setting].iter().enumerate() {
                    session.execute(&statement.sql).inspect_err(|_| failed_idx = Some(idx))?;
                }
                if !up_front_locks.is_empty() {
                    session.lock_up_front(up_front_locks, timeouts.lock_timeout)?;
                }
                for (idx, statement) in script.statements.iter().enumerate().skip(setting) {
                    session.execute(&statement.sql).inspect_err(|_| failed_idx = Some(idx))?;
                }
                session.append_history(&done)
            });
            *holders.borrow_mut() = lock_holders_after(&mut *target, &res, &script.statements);
            res
        },
    );
    res.map_err(|Exhausted { error, tries }| {
        let failed = failed_idx.map(|idx| &script.statements[idx]);
        let mut error = record(ctx, migration, attempt, 0, error, failed, tries, State::Failed);
        name_holders(&mut error, holders.into_inner());
        error
    })
}

/// Statements an earlier attempt ran outside a transaction are in the database: run in one
/// transaction now, they would run again and, failing, leave a row that says none ran (tester
/// 19: the directive taken out, one retry wiped the progress, and `down` then reverted the
/// migration below it). Asked by the run and by its `--dry-run` alike (tester 21).
pub(crate) fn refuse_rerun_in_a_transaction(
    migration: &Migration,
    script: &cutover_migration::Script,
    latest: Option<&HistoryRecord>,
    direction: Direction,
    transactional: bool,
) -> Result<(), Error> {
    let Some(previous) = stopped_part_way(latest, direction).filter(|_| transactional) else { return Ok(()) };
    Err(Error::Refused(Refusal {
        problems: vec![format!(
            "{}: an earlier attempt ran {} of its statements outside a transaction{}, and it would now run in one",
            migration.label(),
            previous.statements_done,
            if previous.state == State::Running { " (and was stopped in the next)" } else { "" }
        )],
        advice: format!(
            "put `{}`'s setting for running outside a transaction back as it was (`-- cutover:no-transaction`, or the layout's switch): the run then resumes after the statements that ran",
            script.path.display()
        ),
    }))
}

/// The sessions holding locks on what `statements` lock, when `res` is a lock wait that gave
/// up: read at once, while they most likely still hold them.
fn lock_holders_after(
    target: &mut dyn MigrationTarget,
    res: &Result<(), DbError>,
    statements: &[Statement],
) -> Vec<LockHolder> {
    match res {
        Err(error) if error.is_lock_contention() => {
            let mut holders = target.lock_holders(&crate::gate::locked_relations(statements)).unwrap_or_default();
            for statement in statements {
                holders.extend(target.snapshot_holders_for(&statement.sql).unwrap_or_default());
            }
            holders
        }
        _ => Vec::new(),
    }
}

fn name_holders(error: &mut Error, holders: Vec<LockHolder>) {
    if let Error::MigrationFailed(failure) = error {
        failure.lock_holders = holders.into_iter().map(|h| h.description).collect();
    }
}

/// A no-transaction script: each statement runs on its own and its progress is recorded, so a
/// rerun resumes at the first statement not recorded as done.
fn run_statement_by_statement(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    latest: Option<&HistoryRecord>,
) -> Result<(), Error> {
    let script = attempt.script;
    let direction = attempt.base.direction;
    let timeouts = timeouts(ctx.settings, &script.settings);
    let mut start_idx = 0;
    // The last runner died (its row says running, not failed) while running the statement
    // after the last one recorded, which may have finished: see below.
    let died_mid_statement = latest.is_some_and(|r| r.state == State::Running && r.direction == direction);
    if let Some(previous) = resume_point(latest, direction) {
        let done = previous.statements_done as usize;
        let unchanged = done <= script.statements.len()
            && previous.prefix_checksum.as_deref()
                == Some(Checksum::of_statements(script.statements[..done].iter().map(|s| s.sql.as_str())).as_str());
        if !unchanged {
            return Err(Error::Refused(Refusal {
                problems: vec![format!(
                    "{}: statements 1 to {done} were applied by an earlier attempt, and have been edited since",
                    migration.label()
                )],
                advice: format!(
                    "restore the first {done} statements of `{}` as they were applied, and change only the statements after them",
                    script.path.display()
                ),
            }));
        }
        start_idx = done;
    }
    ctx.reporter.report(Event::Starting { migration, direction, resume_at: start_idx });
    if let Some(statement) = script.statements.get(start_idx).filter(|_| died_mid_statement) {
        wait_for_killed_runners_statement(ctx, migration, attempt, start_idx, statement)?;
    }
    let running = attempt.record(State::Running, start_idx);
    ctx.target
        .autocommit(timeouts, &mut |session| session.append_history(&running))
        .map_err(|e| Error::database(format!("cannot record the start of {}", migration.label()), e))?;

    let policy = ctx.settings.retry_policy();
    let tries = policy.tries.get();
    for (idx, statement) in script.statements.iter().enumerate().skip(start_idx) {
        let progress = attempt.record(State::Running, idx + 1);
        let in_transaction = ctx.target.allowed_in_transaction(&statement.sql);
        // A DDL statement commits before its progress row can (outside a transaction, or on
        // MySQL at all): a runner killed between the two left it done but unrecorded. Run
        // again, it says what it creates exists (or what it drops is gone): the state it was
        // to reach holds, so it counts as done. Only for that one statement, and only after a
        // runner died: a recorded failure is never skipped.
        let unrecorded_window = !in_transaction || !ctx.target.transactional_ddl();
        let may_be_done = died_mid_statement && idx == start_idx && unrecorded_window;
        let target = &mut *ctx.target;
        // Both the retry notice and the attempt report events.
        let reporter = std::cell::RefCell::new(&mut *ctx.reporter);
        let holders = std::cell::RefCell::new(Vec::new());
        let res = retry(
            policy,
            DbError::is_lock_contention,
            |attempt_no, delay, error| {
                let holders = holders.borrow();
                reporter.borrow_mut().report(Event::Retrying {
                    migration,
                    attempt: attempt_no,
                    tries,
                    delay,
                    error,
                    holders: &holders,
                });
            },
            |_| {
                if !in_transaction {
                    if let Some(what) = target.clear_leftovers(&statement.sql)? {
                        reporter.borrow_mut().report(Event::Cleared { migration, what: &what });
                    }
                }
                let res = if in_transaction {
                    // The statement and its progress row commit together: exactly once, even
                    // if the process dies right after.
                    target.transaction(timeouts, &mut |session| {
                        session.execute(&statement.sql)?;
                        session.append_history(&progress)
                    })
                } else {
                    target.autocommit(timeouts, &mut |session| session.execute(&statement.sql)).and_then(|()| {
                        // Done means verified: a concurrent build that "succeeded" may have built nothing.
                        if let Some(what) = target.check_done(&statement.sql)? {
                            reporter.borrow_mut().report(Event::Cleared { migration, what: &what });
                        }
                        target.autocommit(timeouts, &mut |session| session.append_history(&progress))
                    })
                };
                *holders.borrow_mut() = lock_holders_after(&mut *target, &res, std::slice::from_ref(statement));
                match res {
                    Err(error) if error.kind == DbErrorKind::AlreadyDone && may_be_done => {
                        reporter.borrow_mut().report(Event::AlreadyDone {
                            migration,
                            statement: idx + 1,
                            error: &error,
                        });
                        target.autocommit(timeouts, &mut |session| session.append_history(&progress))
                    }
                    other => other,
                }
            },
        );
        if let Err(Exhausted { error, tries }) = res {
            // Waiting for a lock (or losing the connection) says nothing about whether the
            // killed runner's run of this statement finished: a `failed` row would make the
            // next run treat "already exists" as a failure for good. The row stays `running`.
            let undecided = error.is_lock_contention() || error.kind == DbErrorKind::Connection;
            let state = if may_be_done && undecided { State::Running } else { State::Failed };
            let mut error = record(ctx, migration, attempt, idx, error, Some(statement), tries, state);
            name_holders(&mut error, holders.into_inner());
            return Err(error);
        }
    }
    let done = attempt.record(final_state(direction), script.statements.len());
    ctx.target
        .autocommit(timeouts, &mut |session| session.append_history(&done))
        .map_err(|e| Error::database(format!("cannot record the end of {}", migration.label()), e))
}

/// Waits while the statement a killed runner was running still runs on the server (MySQL
/// finishes a statement whose client died): run again now, it would wait for that one's locks
/// and fail. Once it has ended, running it again tells whether its work is there
/// (`DbErrorKind::AlreadyDone`). Waits at most the runner lock wait, then refuses, recording
/// nothing.
fn wait_for_killed_runners_statement(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    idx: usize,
    statement: &Statement,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let running = ctx
            .target
            .still_running(&statement.sql)
            .map_err(|e| Error::database("cannot look for the statement the killed runner was running", e))?;
        let Some(running) = running else { return Ok(()) };
        let waited = started.elapsed();
        if waited >= ctx.settings.runner_lock_wait {
            return Err(Error::Refused(Refusal {
                problems: vec![format!(
                    "{}: statement {} ({}), which an earlier runner was running when it was killed, still runs on the server after {}s: {}, running for {}s",
                    migration.label(),
                    idx + 1,
                    attempt.script.location(statement),
                    waited.as_secs(),
                    running.description,
                    running.running_for.as_secs()
                )],
                advice: format!(
                    "nothing was recorded as failed: wait for it to end and run `cutover {}` again (its work then counts as done), or stop it with `{}` (the server rolls it back and the rerun runs it again); a longer runner_lock_wait waits for it",
                    attempt.base.direction.name(),
                    running.stop_with
                ),
            }));
        }
        ctx.reporter.report(Event::StillRunning { migration, statement: idx + 1, running: &running, waited });
        std::thread::sleep(Duration::from_millis(250) + jitter(Duration::from_millis(250)));
    }
}

/// Appends the row a try that did not succeed leaves, in its own transaction (the migration's
/// was rolled back): `failed`, or `running` when a killed runner's run of the statement may
/// have finished it; and builds the error.
#[allow(clippy::too_many_arguments)]
fn record(
    ctx: &mut Context<'_>,
    migration: &Migration,
    attempt: &Attempt<'_>,
    statements_done: usize,
    error: DbError,
    failed: Option<&Statement>,
    attempts: u32,
    state: State,
) -> Error {
    let mut record = attempt.failed_record(statements_done, &error, failed);
    record.state = state;
    let maybe_done = state == State::Running;
    let timeouts = timeouts(ctx.settings, &attempt.script.settings);
    let record_error = ctx.target.autocommit(timeouts, &mut |session| session.append_history(&record)).err();
    Error::MigrationFailed(Box::new(MigrationFailure {
        label: migration.label(),
        direction: attempt.base.direction,
        location: record.error_location.clone(),
        statement: record.error_statement.clone(),
        error,
        attempts,
        transactional: attempt.base.transactional && !maybe_done,
        statements_done,
        statements_total: attempt.script.statements.len(),
        record_error,
        maybe_done,
        lock_advice: ctx.target.lock_wait_advice(),
        lock_holders: Vec::new(),
    }))
}

/// The executor against a scripted target: each statement's outcomes are queued by the test,
/// the history is kept in memory, and a failed transaction leaves nothing behind.
#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};
    use std::num::NonZeroU32;
    use std::path::PathBuf;
    use std::time::Duration;

    use cutover_engine::{
        Approval, DbError, DbErrorKind, Engine, HistoryRecord, LockGuard, LockHolder, MigrationTarget, Session, State,
        Timeouts,
    };
    use cutover_migration::{discover, MigrationSet};

    use crate::{Error, Event, Reporter, Settings, UpOptions};

    #[derive(Default)]
    struct Scripted {
        /// Outcomes each statement gives, in turn; an empty queue succeeds.
        outcomes: HashMap<String, VecDeque<DbErrorKind>>,
        /// Every statement run, in order (rolled-back ones included).
        executed: Vec<String>,
        history: Vec<HistoryRecord>,
        /// MySQL-like: every statement commits on its own.
        non_transactional: bool,
    }

    struct Recorder<'a> {
        executed: &'a mut Vec<String>,
        outcomes: &'a mut HashMap<String, VecDeque<DbErrorKind>>,
        rows: Vec<HistoryRecord>,
    }

    impl Session for Recorder<'_> {
        fn execute(&mut self, sql: &str) -> Result<(), DbError> {
            self.executed.push(sql.to_string());
            match self.outcomes.get_mut(sql).and_then(VecDeque::pop_front) {
                Some(kind) => Err(DbError::new(kind, format!("scripted {kind:?}"))),
                None => Ok(()),
            }
        }

        fn append_history(&mut self, record: &HistoryRecord) -> Result<(), DbError> {
            self.rows.push(record.clone());
            Ok(())
        }
    }

    impl Scripted {
        fn fail(&mut self, sql: &str, kinds: &[DbErrorKind]) {
            self.outcomes.entry(sql.to_string()).or_default().extend(kinds.iter().copied());
        }

        fn run(&mut self, body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>) -> Result<(), DbError> {
            let mut recorder =
                Recorder { executed: &mut self.executed, outcomes: &mut self.outcomes, rows: Vec::new() };
            let res = body(&mut recorder);
            let rows = recorder.rows;
            // A transaction's rows commit with it, or not at all.
            if res.is_ok() {
                for mut row in rows {
                    row.id = self.history.len() as i64 + 1;
                    self.history.push(row);
                }
            }
            res
        }

        fn count(&self, sql: &str) -> usize {
            self.executed.iter().filter(|s| *s == sql).count()
        }
    }

    impl MigrationTarget for Scripted {
        fn engine(&self) -> Engine {
            Engine::Sqlite
        }
        fn server_version(&self) -> String {
            "scripted".to_string()
        }
        fn history_exists(&mut self) -> Result<bool, DbError> {
            Ok(true)
        }
        fn ensure_history(&mut self) -> Result<(), DbError> {
            Ok(())
        }
        fn read_history(&mut self) -> Result<Vec<HistoryRecord>, DbError> {
            Ok(self.history.clone())
        }
        fn append_approvals(&mut self, _: &[Approval]) -> Result<(), DbError> {
            Ok(())
        }
        fn read_approvals(&mut self) -> Result<Vec<Approval>, DbError> {
            Ok(Vec::new())
        }
        fn acquire_runner_lock(
            &mut self,
            _: &str,
            _: Duration,
            _: &mut dyn FnMut(&LockHolder),
        ) -> Result<LockGuard, DbError> {
            Ok(Box::new(()))
        }
        fn transaction(
            &mut self,
            _: Timeouts,
            body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
        ) -> Result<(), DbError> {
            self.run(body)
        }
        fn autocommit(
            &mut self,
            _: Timeouts,
            body: &mut dyn FnMut(&mut dyn Session) -> Result<(), DbError>,
        ) -> Result<(), DbError> {
            self.run(body)
        }
        fn clear_leftovers(&mut self, _: &str) -> Result<Option<String>, DbError> {
            Ok(None)
        }
        fn allowed_in_transaction(&self, sql: &str) -> bool {
            !sql.contains("CONCURRENTLY")
        }
        fn transactional_ddl(&self) -> bool {
            !self.non_transactional
        }
    }

    #[derive(Default)]
    struct Events(Vec<String>);

    impl Reporter for Events {
        fn report(&mut self, event: Event<'_>) {
            let name = match event {
                Event::Retrying { attempt, tries, .. } => format!("retry {attempt}/{tries}"),
                Event::AlreadyDone { statement, .. } => format!("already done {statement}"),
                Event::Starting { resume_at, .. } => format!("start at {resume_at}"),
                _ => return,
            };
            self.0.push(name);
        }
    }

    /// A folder with one migration of `statements`, read as a set.
    fn set_of(statements: &[&str]) -> (tempdir::Dir, MigrationSet) {
        let dir = tempdir::Dir::new();
        std::fs::write(dir.0.join("1_m.up.sql"), statements.join(";\n") + ";\n").unwrap();
        let set = discover(&dir.0, None).unwrap();
        (dir, set)
    }

    /// A private folder, removed when dropped (no dev-dependency for one folder).
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let n = N.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir().join(format!("cutover-executor-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn settings(tries: u32) -> Settings {
        Settings {
            lock_retries: NonZeroU32::new(tries).unwrap(),
            retry_backoff: Duration::from_millis(1),
            dir: PathBuf::from("unused"),
            ..Settings::default()
        }
    }

    fn up(target: &mut Scripted, set: &MigrationSet, settings: &Settings, events: &mut Events) -> Result<(), Error> {
        let mut ctx = crate::Context { target, settings, reporter: events };
        crate::up(&mut ctx, set, &UpOptions::default()).map(|_| ())
    }

    fn last_state(target: &Scripted) -> State {
        target.history.last().unwrap().state
    }

    #[test]
    fn lock_contention_is_retried_and_the_migration_applied_once() {
        let (_dir, set) = set_of(&["CREATE TABLE a (id int)", "ALTER TABLE a ADD b int"]);
        let mut target = Scripted::default();
        target.fail("ALTER TABLE a ADD b int", &[DbErrorKind::LockTimeout, DbErrorKind::Deadlock]);
        let mut events = Events::default();
        up(&mut target, &set, &settings(3), &mut events).unwrap();
        assert_eq!(events.0, ["start at 0", "retry 1/3", "retry 2/3"]);
        assert_eq!(target.count("ALTER TABLE a ADD b int"), 3);
        assert_eq!(target.history.iter().filter(|r| r.state == State::Applied).count(), 1);
    }

    #[test]
    fn tries_end_at_the_policy_and_the_failure_is_recorded() {
        let (_dir, set) = set_of(&["ALTER TABLE a ADD b int"]);
        let mut target = Scripted::default();
        target.fail("ALTER TABLE a ADD b int", &[DbErrorKind::LockTimeout; 5]);
        let err = up(&mut target, &set, &settings(2), &mut Events::default()).unwrap_err();
        let Error::MigrationFailed(failure) = err else { panic!("{err}") };
        assert_eq!((failure.attempts, failure.transactional), (2, true));
        assert_eq!(target.count("ALTER TABLE a ADD b int"), 2);
        assert_eq!(last_state(&target), State::Failed);
        // Any other error is not retried.
        let mut target = Scripted::default();
        target.fail("ALTER TABLE a ADD b int", &[DbErrorKind::Other]);
        assert!(up(&mut target, &set, &settings(5), &mut Events::default()).is_err());
        assert_eq!(target.count("ALTER TABLE a ADD b int"), 1);
    }

    #[test]
    fn one_try_runs_each_statement_once_and_records_it() {
        // `lock_retries` is a NonZeroU32: a script is never skipped for want of a try.
        let (_dir, set) = set_of(&["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"]);
        for non_transactional in [false, true] {
            let mut target = Scripted { non_transactional, ..Scripted::default() };
            up(&mut target, &set, &settings(1), &mut Events::default()).unwrap();
            assert_eq!(target.executed, ["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"]);
            assert_eq!(last_state(&target), State::Applied);
        }
    }

    #[test]
    fn a_statement_by_statement_script_resumes_after_its_last_recorded_statement() {
        let statements = ["CREATE TABLE a (id int)", "CREATE TABLE b (id int)", "CREATE TABLE c (id int)"];
        let (_dir, set) = set_of(&statements);
        let mut target = Scripted { non_transactional: true, ..Scripted::default() };
        target.fail(statements[1], &[DbErrorKind::Other]);
        assert!(up(&mut target, &set, &settings(1), &mut Events::default()).is_err());
        assert_eq!((last_state(&target), target.history.last().unwrap().statements_done), (State::Failed, 1));
        let mut events = Events::default();
        up(&mut target, &set, &settings(1), &mut events).unwrap();
        assert_eq!(events.0, ["start at 1"]);
        assert_eq!(target.count(statements[0]), 1, "a recorded statement never runs twice");
        assert_eq!(last_state(&target), State::Applied);
    }

    #[test]
    fn already_done_counts_only_for_the_statement_a_killed_runner_was_running() {
        let statements = ["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"];
        let (_dir, set) = set_of(&statements);
        // The first run stops at statement 2; a killed runner leaves `running`, not `failed`.
        let killed = |target: &mut Scripted| {
            target.fail(statements[1], &[DbErrorKind::Connection]);
            let _ = up(target, &set, &settings(1), &mut Events::default());
            target.history.last_mut().unwrap().state = State::Running;
        };
        let mut target = Scripted { non_transactional: true, ..Scripted::default() };
        killed(&mut target);
        target.fail(statements[1], &[DbErrorKind::AlreadyDone]);
        let mut events = Events::default();
        up(&mut target, &set, &settings(1), &mut events).unwrap();
        assert_eq!(events.0, ["start at 1", "already done 2"]);
        assert_eq!(last_state(&target), State::Applied);

        // After a recorded failure, "already exists" is a failure: nothing is skipped.
        let mut target = Scripted { non_transactional: true, ..Scripted::default() };
        target.fail(statements[1], &[DbErrorKind::Other]);
        let _ = up(&mut target, &set, &settings(1), &mut Events::default());
        target.fail(statements[1], &[DbErrorKind::AlreadyDone]);
        assert!(up(&mut target, &set, &settings(1), &mut Events::default()).is_err());
        assert_eq!(last_state(&target), State::Failed);
    }

    #[test]
    fn statements_done_and_edited_since_are_refused() {
        let (_dir, set) = set_of(&["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"]);
        let mut target = Scripted { non_transactional: true, ..Scripted::default() };
        target.fail("CREATE TABLE b (id int)", &[DbErrorKind::Other]);
        let _ = up(&mut target, &set, &settings(1), &mut Events::default());
        let (_dir2, edited) = set_of(&["CREATE TABLE a2 (id int)", "CREATE TABLE b (id int)"]);
        let err = up(&mut target, &edited, &settings(1), &mut Events::default()).unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert!(err.to_string().contains("have been edited since"), "{err}");
        assert_eq!(target.count("CREATE TABLE a2 (id int)"), 0);
    }
}
