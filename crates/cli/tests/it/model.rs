//! A model-based test of the migration runner: random sequences of commands (new migrations,
//! `up` and `down` with every kind of target, edits, deletions and restores of files, `up`
//! runs SIGKILLed at random moments) go through the real binary, on SQLite and on PostgreSQL,
//! and after every command the exit code, the tables, `status --format json` and the history
//! are compared with a reference model of what they must be.
//!
//! Each migration creates one table (`m_<n>`) and its down script drops it, so the tables are
//! the schema the model predicts. Some migrations are slow (a sleep) and some run statement by
//! statement (`-- cutover:no-transaction`), so that kills land inside them.
//!
//! `CUTOVER_MODEL_CASES` sequences per engine (default 24 on SQLite, 8 on PostgreSQL: each
//! well under a minute), `CUTOVER_MODEL_OPS` the longest sequence (default 24),
//! `CUTOVER_MODEL_SEED` the seed, `CUTOVER_MODEL_SHRINK` how many shrinking runs a failure gets
//! (default 24). A failure prints the seed, the shrunk sequence and the concrete commands it ran.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::util::{output_text, PgDb, Project};

#[test]
fn model_sqlite() {
    run_model(Engine::Sqlite);
}

#[test]
fn model_postgres() {
    run_model(Engine::Postgres);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

/// One step of a sequence. `Index`es pick among what the model has when the step runs (a
/// step with nothing to pick from is skipped), so that any sequence is valid and shrinks.
#[derive(Debug, Clone)]
enum Op {
    /// Migration files written directly, versioned after every version so far.
    New {
        slow: bool,
        no_transaction: bool,
    },
    /// `cutover new`, then its files filled in.
    CutoverNew,
    /// A migration older than an applied one: `up` refuses it as out of order.
    NewOutOfOrder(Index),
    Up,
    UpAllowOutOfOrder,
    UpTo(Target),
    /// `down`: one step.
    Down,
    DownSteps(usize),
    DownTo(Target),
    DownAll,
    Validate,
    /// The up script of an applied migration edited.
    EditApplied(Index),
    /// The files of an applied migration deleted.
    DeleteApplied(Index),
    /// An edited or deleted applied migration's files put back as they were applied.
    Restore(Index),
    /// The files of a migration that is not applied (pending or reverted) deleted.
    DeletePending(Index),
    /// `up`, SIGKILLed at `percent` of the time the model expects it to take, if it still runs.
    KillUp {
        percent: u32,
    },
    /// `baseline`: refused once anything was applied.
    Baseline(Target),
    /// A migration's down script made to fail at its first statement (a typo): reverting it
    /// fails and changes nothing, those reverted before it in the same `down` stay reverted,
    /// and it stays applied (tester 20: it was taken for failed, and `up` applied it again).
    BreakDown(Index),
    /// A broken down script put back.
    FixDown(Index),
}

/// The version a `--to` names.
#[derive(Debug, Clone)]
enum Target {
    /// A version some migration file has.
    Existing(Index),
    /// A version no migration file has: past the newest, a digit short, between two, or one
    /// whose file was deleted.
    Absent(Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::bool::weighted(0.4), prop::bool::weighted(0.3))
            .prop_map(|(slow, no_transaction)| Op::New { slow, no_transaction }),
        1 => Just(Op::CutoverNew),
        1 => any::<Index>().prop_map(Op::NewOutOfOrder),
        4 => Just(Op::Up),
        1 => Just(Op::UpAllowOutOfOrder),
        3 => target().prop_map(Op::UpTo),
        2 => Just(Op::Down),
        2 => (0usize..5).prop_map(Op::DownSteps),
        3 => target().prop_map(Op::DownTo),
        1 => Just(Op::DownAll),
        1 => Just(Op::Validate),
        2 => any::<Index>().prop_map(Op::EditApplied),
        1 => any::<Index>().prop_map(Op::DeleteApplied),
        3 => any::<Index>().prop_map(Op::Restore),
        1 => any::<Index>().prop_map(Op::DeletePending),
        4 => (0u32..120).prop_map(|percent| Op::KillUp { percent }),
        2 => target().prop_map(Op::Baseline),
        2 => any::<Index>().prop_map(Op::BreakDown),
        1 => any::<Index>().prop_map(Op::FixDown),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![3 => any::<Index>().prop_map(Target::Existing), 1 => any::<Index>().prop_map(Target::Absent)]
}

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn run_model(engine: Engine) {
    // SQLite runs are cheap: more of them reach the rarer paths (baseline, kills).
    let default_cases = match engine {
        Engine::Sqlite => 24,
        Engine::Postgres => 8,
    };
    let cases = env_number("CUTOVER_MODEL_CASES", default_cases) as u32;
    let max_ops = env_number("CUTOVER_MODEL_OPS", 24).max(1) as usize;
    let seed = env_number("CUTOVER_MODEL_SEED", 20_261_205);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        max_shrink_iters: env_number("CUTOVER_MODEL_SHRINK", 24) as u32,
        max_shrink_time: 240_000,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let started = Instant::now();
    let runs = Cell::new(0u32);
    let first_failure = Cell::new(None);
    let stats = RefCell::new(Stats::default());
    let result = runner.run(&prop::collection::vec(op(), max_ops.min(4)..=max_ops), |ops| {
        runs.set(runs.get() + 1);
        let mut case = Case::new(engine);
        let res = case.run(&ops);
        stats.borrow_mut().add(&case.stats);
        res.map_err(|failure| {
            first_failure.set(first_failure.get().or(Some(runs.get())));
            eprintln!("model {engine:?}: run {} failed: {}", runs.get(), failure.lines().next().unwrap_or(""));
            TestCaseError::fail(failure)
        })
    });
    match result {
        Ok(()) => eprintln!(
            "model {engine:?}: {cases} sequences of up to {max_ops} commands agreed with the model in {:.1}s (seed {seed}): {}",
            started.elapsed().as_secs_f64(),
            stats.borrow()
        ),
        Err(TestError::Fail(reason, ops)) => {
            let steps: Vec<String> = ops.iter().enumerate().map(|(i, op)| format!("  {i}: {op:?}")).collect();
            panic!(
                "model test on {engine:?} failed at sequence {} of {cases} (replay with CUTOVER_MODEL_SEED={seed} CUTOVER_MODEL_OPS={max_ops}; shrunk in {} more runs)\n{reason}\nshrunk sequence:\n{}",
                first_failure.get().unwrap_or(0),
                runs.get() - first_failure.get().unwrap_or(0),
                steps.join("\n")
            )
        }
        Err(TestError::Abort(reason)) => panic!("model test on {engine:?} aborted (seed {seed}): {reason}"),
    }
}

/// What the sequences did, to show that they reach the interesting states.
#[derive(Debug, Default)]
struct Stats {
    /// Commands by exit code (0, 1, 2).
    exits: [u32; 3],
    /// Kills that landed while `up` ran, and those that left a migration half-way.
    kills: u32,
    half_way: u32,
    /// Migrations applied and reverted.
    applied: u32,
    reverted: u32,
    baselines: u32,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        for (a, b) in self.exits.iter_mut().zip(other.exits) {
            *a += b;
        }
        self.kills += other.kills;
        self.half_way += other.half_way;
        self.applied += other.applied;
        self.reverted += other.reverted;
        self.baselines += other.baselines;
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit 0/1/2: {}/{}/{}, {} applied, {} reverted, {} baselines, {} kills during up ({} left a migration half-way)",
            self.exits[0],
            self.exits[1],
            self.exits[2],
            self.applied,
            self.reverted,
            self.baselines,
            self.kills,
            self.half_way
        )
    }
}

/// Where a migration's files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileState {
    Present,
    /// The up script differs from what was applied.
    Edited,
    Deleted,
}

/// What the history says about a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DbState {
    Never,
    Applied,
    Reverted,
    /// Covered by a baseline, never applied by cutover.
    Baselined,
}

#[derive(Debug, Clone)]
struct Migration {
    table: String,
    /// `migrations/<version>_<slug>`; `.up.sql` and `.down.sql` follow.
    stem: String,
    up: String,
    down: String,
    /// Its up script sleeps.
    slow: bool,
    file: FileState,
    db: DbState,
    /// Times applied and reverted, as the history must count them.
    applies: u32,
    reverts: u32,
    /// Its table was made by hand before a `baseline` adopted the database (a baseline of a
    /// database that has none of the tables is refused: it was not migrated).
    by_hand: bool,
    /// Its down script fails at its first statement.
    down_broken: bool,
}

/// The reference model: every version ever written, with its files and its history.
#[derive(Debug, Default)]
struct Model {
    migrations: BTreeMap<u64, Migration>,
    next_table: usize,
    /// The version `baseline` recorded.
    baseline: Option<u64>,
}

/// What a command must do: its exit code, and the migrations it applies or reverts (in order).
#[derive(Debug, PartialEq, Eq)]
struct Expect {
    code: i32,
    apply: Vec<u64>,
    revert: Vec<u64>,
    baseline: Option<u64>,
}

impl Expect {
    fn only(code: i32) -> Expect {
        Expect { code, apply: vec![], revert: vec![], baseline: None }
    }

    fn applies(apply: Vec<u64>) -> Expect {
        Expect { apply, ..Expect::only(0) }
    }

    fn reverts(revert: Vec<u64>) -> Expect {
        Expect { revert, ..Expect::only(0) }
    }
}

impl Model {
    /// A version some file has (an edited file counts; a deleted one does not).
    fn has_file(&self, version: u64) -> bool {
        self.migrations.get(&version).is_some_and(|m| m.file != FileState::Deleted)
    }

    fn versions_where(&self, keep: impl Fn(&Migration) -> bool) -> Vec<u64> {
        self.migrations.iter().filter(|(_, m)| keep(m)).map(|(v, _)| *v).collect()
    }

    /// An applied migration whose file was edited or deleted: `up` and `down` refuse.
    fn tampered(&self) -> bool {
        self.migrations.values().any(|m| m.db == DbState::Applied && m.file != FileState::Present)
    }

    /// A never-applied migration older than the newest applied one.
    fn out_of_order(&self) -> bool {
        let Some(newest) = self.versions_where(|m| m.db == DbState::Applied).last().copied() else {
            return false;
        };
        self.migrations.iter().any(|(v, m)| *v < newest && m.db == DbState::Never && m.file != FileState::Deleted)
    }

    fn up(&self, to: Option<u64>, allow_out_of_order: bool) -> Expect {
        if to.is_some_and(|v| !self.has_file(v)) {
            return Expect::only(2);
        }
        if self.tampered() || (self.out_of_order() && !allow_out_of_order) {
            return Expect::only(1);
        }
        let apply =
            self.versions_where(|m| m.file != FileState::Deleted && matches!(m.db, DbState::Never | DbState::Reverted));
        Expect::applies(apply.into_iter().filter(|v| to.is_none_or(|to| *v <= to)).collect())
    }

    fn down_steps(&self, n: usize) -> Expect {
        if n == 0 {
            return Expect::only(2);
        }
        if self.tampered() {
            return Expect::only(1);
        }
        let applied: Vec<u64> = self.versions_where(|m| m.db == DbState::Applied).into_iter().rev().collect();
        if applied.is_empty() {
            // Nothing applied, nothing to revert: not a mistake, whatever the count.
            return Expect::reverts(Vec::new());
        }
        if n > applied.len() {
            return Expect::only(2);
        }
        self.reverting(applied[..n].to_vec())
    }

    /// Reverting `versions` in order: each commits on its own, so a broken down script stops
    /// the run there (exit 1) with those before it reverted and it still applied.
    fn reverting(&self, versions: Vec<u64>) -> Expect {
        match versions.iter().position(|v| self.migrations[v].down_broken) {
            Some(at) => Expect { revert: versions[..at].to_vec(), ..Expect::only(1) },
            None => Expect::reverts(versions),
        }
    }

    fn down_to(&self, to: u64) -> Expect {
        if !self.has_file(to) {
            return Expect::only(2);
        }
        if self.tampered() {
            return Expect::only(1);
        }
        if !matches!(self.migrations[&to].db, DbState::Applied | DbState::Baselined) {
            return Expect::only(2);
        }
        self.reverting(
            self.versions_where(|m| m.db == DbState::Applied).into_iter().filter(|v| *v > to).rev().collect(),
        )
    }

    fn down_all(&self) -> Expect {
        if self.tampered() {
            return Expect::only(1);
        }
        self.reverting(self.versions_where(|m| m.db == DbState::Applied).into_iter().rev().collect())
    }

    /// `baseline V`: V must be a migration's; refused once the history has anything applied or
    /// baselined (a revert leaves the applied row before it).
    fn baseline(&self, version: u64) -> Expect {
        if !self.has_file(version) {
            return Expect::only(2);
        }
        if self.baseline.is_some() || self.migrations.values().any(|m| m.applies > 0) {
            return Expect::only(1);
        }
        Expect { baseline: Some(version), ..Expect::only(0) }
    }

    fn validate(&self) -> Expect {
        Expect::only(if self.tampered() || self.out_of_order() { 1 } else { 0 })
    }

    fn commit(&mut self, expect: &Expect) {
        if let Some(base) = expect.baseline {
            self.baseline = Some(base);
            for m in self.migrations.range_mut(..=base).map(|(_, m)| m).filter(|m| m.db == DbState::Never) {
                m.db = DbState::Baselined;
            }
        }
        for v in &expect.apply {
            let m = self.migrations.get_mut(v).unwrap();
            m.db = DbState::Applied;
            m.applies += 1;
        }
        for v in &expect.revert {
            let m = self.migrations.get_mut(v).unwrap();
            m.db = DbState::Reverted;
            m.reverts += 1;
        }
    }

    /// `status --format json` as (version, state), sorted by version.
    fn status(&self) -> Vec<(String, String)> {
        self.migrations
            .iter()
            .filter_map(|(v, m)| {
                let state = match (m.db, m.file) {
                    (DbState::Applied, FileState::Present) => "applied",
                    (DbState::Applied, FileState::Edited) => "modified",
                    (DbState::Applied, FileState::Deleted) => "missing",
                    (_, FileState::Deleted) => return None,
                    (DbState::Never, _) => "pending",
                    (DbState::Reverted, _) => "reverted",
                    (DbState::Baselined, _) => "baselined",
                };
                Some((v.to_string(), state.to_string()))
            })
            .collect()
    }

    fn tables(&self) -> BTreeSet<String> {
        self.migrations
            .values()
            .filter(|m| m.db == DbState::Applied || (m.db == DbState::Baselined && m.by_hand))
            .map(|m| m.table.clone())
            .collect()
    }

    /// Versions no migration file has, for a `--to` typo.
    fn absent_versions(&self) -> Vec<u64> {
        let versions: Vec<u64> = self.versions_where(|m| m.file != FileState::Deleted);
        let mut candidates = vec![self.migrations.keys().last().map_or(20_000_101_000_000, |v| v + 7)];
        for v in &versions {
            candidates.push(v / 10);
        }
        for pair in versions.windows(2) {
            if pair[1] - pair[0] > 1 {
                candidates.push(pair[0] + 1);
            }
        }
        candidates.extend(self.versions_where(|m| m.file == FileState::Deleted));
        candidates.retain(|v| !self.has_file(*v));
        candidates.sort_unstable();
        candidates.dedup();
        candidates
    }
}

fn pick<T: Copy>(items: &[T], index: &Index) -> Option<T> {
    (!items.is_empty()).then(|| items[index.index(items.len())])
}

/// `YYYYMMDDHHMMSS` in UTC, as `cutover new` versions a migration.
fn utc_version_now() -> u64 {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    stamp.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

/// One sequence: a project, a fresh database, the model, and a log of the concrete commands.
struct Case {
    engine: Engine,
    project: Project,
    pg: Option<Pg>,
    url: String,
    model: Model,
    log: Vec<String>,
    stats: Stats,
}

type Checked = Result<(), String>;

impl Case {
    fn new(engine: Engine) -> Case {
        let project = Project::new();
        let (pg, url) = match engine {
            Engine::Sqlite => (None, project.sqlite_url()),
            Engine::Postgres => {
                let db = PgDb::new();
                let url = db.url.clone();
                (Some(Pg { client: db.client(), _db: db }), url)
            }
        };
        Case { engine, project, pg, url, model: Model::default(), log: Vec::new(), stats: Stats::default() }
    }

    fn run(&mut self, ops: &[Op]) -> Checked {
        for (i, op) in ops.iter().enumerate() {
            let res = self.step(op).and_then(|()| self.check_all());
            self.explain(res, &format!("step {i} ({op:?})"))?;
        }
        // What `cutover history` shows is the history the checks read.
        let res = self.history_json().and_then(|shown| self.check_history(&shown));
        self.explain(res, "`cutover history --format json` at the end")
    }

    fn explain(&self, res: Checked, when: &str) -> Checked {
        res.map_err(|message| {
            format!(
                "{:?}, {when}: {message}\ncommands run:\n  {}\nmodel: {:?}",
                self.engine,
                self.log.join("\n  "),
                self.model.status()
            )
        })
    }

    fn cutover(&mut self, args: &[&str]) -> Output {
        let output = self.project.cutover(&self.url).args(args).output().unwrap();
        self.log.push(format!("cutover {} -> exit {:?}", args.join(" "), output.status.code()));
        output
    }

    /// Runs a command the model predicts, checks its exit code, and commits its effect.
    fn expect(&mut self, args: &[&str], expect: Expect) -> Checked {
        let output = self.cutover(args);
        if output.status.code() != Some(expect.code) {
            let (stdout, stderr) = output_text(&output);
            return Err(format!(
                "`cutover {}` exited {:?}, the model expects {} (apply {:?}, revert {:?})\nstdout: {stdout}\nstderr: {stderr}",
                args.join(" "),
                output.status.code(),
                expect.code,
                expect.apply,
                expect.revert
            ));
        }
        self.stats.exits[expect.code as usize] += 1;
        self.commit(&expect);
        Ok(())
    }

    fn commit(&mut self, expect: &Expect) {
        self.stats.applied += expect.apply.len() as u32;
        self.stats.reverted += expect.revert.len() as u32;
        self.stats.baselines += u32::from(expect.baseline.is_some());
        self.model.commit(expect);
    }

    fn step(&mut self, op: &Op) -> Checked {
        match op {
            Op::New { slow, no_transaction } => {
                let version = self.next_version();
                self.write_new(version, &format!("m{version}"), *slow, *no_transaction);
                Ok(())
            }
            Op::CutoverNew => self.cutover_new(),
            Op::NewOutOfOrder(index) => {
                let Some(applied) = pick(&self.model.versions_where(|m| m.db == DbState::Applied), index) else {
                    return Ok(());
                };
                let mut version = applied - 1;
                while self.model.migrations.contains_key(&version) {
                    version -= 1;
                }
                self.write_new(version, "late", false, false);
                Ok(())
            }
            Op::Up => self.expect(&["up"], self.model.up(None, false)),
            Op::UpAllowOutOfOrder => self.expect(&["up", "--allow-out-of-order"], self.model.up(None, true)),
            Op::UpTo(target) => {
                let Some(version) = self.resolve(target) else { return Ok(()) };
                self.expect(&["up", "--to", &version.to_string()], self.model.up(Some(version), false))
            }
            Op::Down => self.expect(&["down"], self.model.down_steps(1)),
            Op::DownSteps(n) => self.expect(&["down", "--steps", &n.to_string()], self.model.down_steps(*n)),
            Op::DownTo(target) => {
                let Some(version) = self.resolve(target) else { return Ok(()) };
                self.expect(&["down", "--to", &version.to_string()], self.model.down_to(version))
            }
            Op::DownAll => self.expect(&["down", "--all"], self.model.down_all()),
            Op::Validate => self.expect(&["validate"], self.model.validate()),
            Op::EditApplied(index) => {
                let candidates =
                    self.model.versions_where(|m| m.db == DbState::Applied && m.file == FileState::Present);
                let Some(version) = pick(&candidates, index) else { return Ok(()) };
                let m = self.model.migrations.get_mut(&version).unwrap();
                let edited = m.up.replacen("PRIMARY KEY)", "PRIMARY KEY, edited integer)", 1);
                assert_ne!(edited, m.up);
                std::fs::write(self.project.path(&format!("{}.up.sql", m.stem)), edited).unwrap();
                m.file = FileState::Edited;
                self.log.push(format!("edit {version}"));
                Ok(())
            }
            Op::DeleteApplied(index) => {
                let candidates =
                    self.model.versions_where(|m| m.db == DbState::Applied && m.file == FileState::Present);
                let Some(version) = pick(&candidates, index) else { return Ok(()) };
                self.delete(version);
                Ok(())
            }
            Op::DeletePending(index) => {
                let candidates =
                    self.model.versions_where(|m| m.db != DbState::Applied && m.file != FileState::Deleted);
                let Some(version) = pick(&candidates, index) else { return Ok(()) };
                self.delete(version);
                Ok(())
            }
            Op::Restore(index) => {
                let candidates =
                    self.model.versions_where(|m| m.db == DbState::Applied && m.file != FileState::Present);
                let Some(version) = pick(&candidates, index) else { return Ok(()) };
                let m = self.model.migrations.get_mut(&version).unwrap();
                std::fs::write(self.project.path(&format!("{}.up.sql", m.stem)), &m.up).unwrap();
                std::fs::write(self.project.path(&format!("{}.down.sql", m.stem)), &m.down).unwrap();
                m.file = FileState::Present;
                m.down_broken = false;
                self.log.push(format!("restore {version}"));
                Ok(())
            }
            Op::BreakDown(index) => {
                let candidates = self.model.versions_where(|m| m.file == FileState::Present && !m.down_broken);
                let Some(version) = pick(&candidates, index) else { return Ok(()) };
                let m = self.model.migrations.get_mut(&version).unwrap();
                let broken = format!("DROP TABLE no_such_{};\n", m.table);
                std::fs::write(self.project.path(&format!("{}.down.sql", m.stem)), broken).unwrap();
                m.down_broken = true;
                self.log.push(format!("break the down script of {version}"));
                Ok(())
            }
            Op::FixDown(index) => {
                let candidates = self.model.versions_where(|m| m.file == FileState::Present && m.down_broken);
                let Some(version) = pick(&candidates, index) else { return Ok(()) };
                let m = self.model.migrations.get_mut(&version).unwrap();
                std::fs::write(self.project.path(&format!("{}.down.sql", m.stem)), &m.down).unwrap();
                m.down_broken = false;
                self.log.push(format!("fix the down script of {version}"));
                Ok(())
            }
            Op::KillUp { percent } => self.kill_up(*percent),
            Op::Baseline(target) => {
                let Some(version) = self.resolve(target) else { return Ok(()) };
                let expect = self.model.baseline(version);
                if expect.code == 0 {
                    // What a database migrated by other means has: the tables of the migrations
                    // the baseline adopts.
                    let by_hand: Vec<u64> = self
                        .model
                        .migrations
                        .range(..=version)
                        .filter(|(_, m)| m.db == DbState::Never)
                        .map(|(v, _)| *v)
                        .collect();
                    for v in by_hand {
                        let table = self.model.migrations[&v].table.clone();
                        self.execute(&format!("CREATE TABLE {table} (id integer PRIMARY KEY)"))?;
                        self.model.migrations.get_mut(&v).unwrap().by_hand = true;
                        self.log.push(format!("made {table} by hand"));
                    }
                }
                self.expect(&["baseline", &version.to_string()], expect)
            }
        }
    }

    fn resolve(&self, target: &Target) -> Option<u64> {
        match target {
            Target::Existing(index) => pick(&self.model.versions_where(|m| m.file != FileState::Deleted), index),
            Target::Absent(index) => pick(&self.model.absent_versions(), index),
        }
    }

    /// A version after every version so far, near the clock so that `cutover new` (which takes
    /// the clock) can follow without a long wait.
    fn next_version(&self) -> u64 {
        let newest = self.model.migrations.keys().last().copied().unwrap_or(0);
        (newest + 1).max(utc_version_now())
    }

    fn write_new(&mut self, version: u64, slug: &str, slow: bool, no_transaction: bool) {
        let stem = format!("migrations/{version}_{slug}");
        self.add(version, stem, slow, no_transaction);
        self.log.push(format!(
            "write {version}{}{}",
            if slow { " slow" } else { "" },
            if no_transaction { " no-transaction" } else { "" }
        ));
    }

    /// Writes the scripts of a new migration at `<stem>.up.sql` and `<stem>.down.sql` (its up
    /// creates a table of its own, its down drops it) and adds it to the model.
    fn add(&mut self, version: u64, stem: String, slow: bool, no_transaction: bool) {
        let table = format!("m_{}", self.model.next_table);
        self.model.next_table += 1;
        let mut up = String::new();
        if no_transaction {
            up.push_str("-- cutover:no-transaction\n");
        }
        up.push_str(&format!("CREATE TABLE {table} (id integer PRIMARY KEY);\n"));
        if slow {
            up.push_str(match self.engine {
                Engine::Postgres => "SELECT pg_sleep(0.25);\n",
                // No sleep function: a query that counts for about 0.2 s.
                Engine::Sqlite => "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) SELECT x FROM c);\n",
            });
        }
        let down = format!("DROP TABLE {table};\n");
        std::fs::write(self.project.path(&format!("{stem}.up.sql")), &up).unwrap();
        std::fs::write(self.project.path(&format!("{stem}.down.sql")), &down).unwrap();
        // A migration written at or below the baseline counts as baselined.
        let db =
            if self.model.baseline.is_some_and(|base| version <= base) { DbState::Baselined } else { DbState::Never };
        let migration = Migration {
            table,
            stem,
            up,
            down,
            slow,
            file: FileState::Present,
            db,
            applies: 0,
            reverts: 0,
            by_hand: false,
            down_broken: false,
        };
        assert!(self.model.migrations.insert(version, migration).is_none(), "version {version} written twice");
    }

    /// `cutover new`, once the clock is past every version so far, then the files filled in.
    fn cutover_new(&mut self) -> Checked {
        let newest = self.model.migrations.keys().last().copied().unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while utc_version_now() <= newest {
            if Instant::now() > deadline {
                self.log.push("cutover new skipped: the clock is behind the newest version".to_string());
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        let name = format!("model {}", self.model.next_table);
        let output = self.cutover(&["new", &name]);
        let (stdout, stderr) = output_text(&output);
        if !output.status.success() {
            return Err(format!("`cutover new` failed: {stdout}{stderr}"));
        }
        let up_path = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("created "))
            .find(|p| p.ends_with(".up.sql"))
            .ok_or_else(|| format!("`cutover new` named no up script: {stdout}"))?;
        let stem = up_path.strip_suffix(".up.sql").unwrap().to_string();
        let file_name = stem.rsplit('/').next().unwrap();
        let version: u64 = file_name.split('_').next().unwrap().parse().map_err(|_| format!("`{file_name}`"))?;
        if version <= newest {
            return Err(format!("`cutover new` wrote version {version}, not after {newest}"));
        }
        self.add(version, stem, false, false);
        Ok(())
    }

    fn delete(&mut self, version: u64) {
        let m = self.model.migrations.get_mut(&version).unwrap();
        std::fs::remove_file(self.project.path(&format!("{}.up.sql", m.stem))).unwrap();
        std::fs::remove_file(self.project.path(&format!("{}.down.sql", m.stem))).unwrap();
        m.file = FileState::Deleted;
        self.log.push(format!("delete {version}"));
    }

    /// `up`, SIGKILLed at `percent` of the time it should take, if it still runs. The migrations in flight may each be
    /// applied or not (in order; a no-transaction one may be half-way and `running`); when one
    /// is half-way, the next `up` must finish it, each migration applied exactly once.
    fn kill_up(&mut self, percent: u32) -> Checked {
        let expect = self.model.up(None, false);
        if expect.code != 0 || expect.apply.is_empty() {
            return self.expect(&["up"], expect);
        }
        // About how long the run takes: start (connecting, the lock, the history), then the
        // migrations, the slow ones by their sleep.
        let (start_ms, slow_ms) = match self.engine {
            Engine::Sqlite => (15, 200),
            Engine::Postgres => (300, 250),
        };
        let slow = expect.apply.iter().filter(|v| self.model.migrations[v].slow).count() as u64;
        let expected_ms = start_ms + slow * slow_ms + expect.apply.len() as u64 * 5;
        let delay = Duration::from_millis(expected_ms * u64::from(percent) / 100);
        let mut child =
            self.project.cutover_std(&self.url).arg("up").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + delay;
        let mut exited = child.try_wait().unwrap();
        while exited.is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
            exited = child.try_wait().unwrap();
        }
        if let Some(status) = exited {
            self.log.push(format!("cutover up (finished before the kill at {delay:?}) -> exit {:?}", status.code()));
            if !status.success() {
                return Err(format!("`cutover up` exited {:?} before the kill; the model expects 0", status.code()));
            }
            self.stats.exits[0] += 1;
            self.commit(&expect);
            return Ok(());
        }
        let _ = child.kill();
        child.wait().unwrap();
        self.log.push(format!("cutover up, SIGKILLed after {delay:?}"));
        self.wait_for_dead_sessions()?;

        let states: BTreeMap<String, String> = self.status_json()?.into_iter().collect();
        let tables = self.tables()?;
        let mut applied = 0;
        let mut half_way = false;
        for (i, version) in expect.apply.iter().enumerate() {
            let m = &self.model.migrations[version];
            let before = if m.db == DbState::Never { "pending" } else { "reverted" };
            let state = states.get(&version.to_string()).map_or("absent", String::as_str);
            let has_table = tables.contains(&m.table);
            match state {
                "applied" if applied == i && has_table => applied += 1,
                "running" if applied == i && !half_way => half_way = true,
                s if s == before && !has_table => {}
                _ => {
                    return Err(format!(
                        "after the kill, {version} is {state} (table {}), in flight: {:?}, {applied} applied before it",
                        if has_table { "present" } else { "absent" },
                        expect.apply
                    ))
                }
            }
        }
        self.log.push(format!("  the kill left {applied} applied{}", if half_way { " and one half-way" } else { "" }));
        self.stats.kills += 1;
        self.stats.half_way += u32::from(half_way);
        self.commit(&Expect::applies(expect.apply[..applied].to_vec()));
        if half_way {
            let rest = self.model.up(None, false);
            self.expect(&["up"], rest)?;
        }
        Ok(())
    }

    /// On PostgreSQL, waits until the killed runner's sessions are gone: until then its
    /// transaction may still be open (a statement runs until the server sees the client gone).
    fn wait_for_dead_sessions(&mut self) -> Checked {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(pg) = &mut self.pg {
            let others = pg.rows(
                "SELECT count(*)::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )?;
            if others == [vec!["0".to_string()]] {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("sessions of the killed runner still there after 30 s: {others:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn status_json(&mut self) -> Result<Vec<(String, String)>, String> {
        let json = self.json(&["status", "--format", "json"])?;
        Ok(json["migrations"]
            .as_array()
            .ok_or_else(|| format!("status JSON without migrations: {json}"))?
            .iter()
            .map(|m| {
                (m["version"].as_str().unwrap_or("null").to_string(), m["state"].as_str().unwrap_or("").to_string())
            })
            .collect())
    }

    fn json(&mut self, args: &[&str]) -> Result<serde_json::Value, String> {
        let output = self.project.cutover(&self.url).args(args).output().unwrap();
        let (stdout, stderr) = output_text(&output);
        if !output.status.success() {
            return Err(format!("`cutover {}` exited {:?}: {stderr}", args.join(" "), output.status.code()));
        }
        serde_json::from_str(&stdout).map_err(|e| format!("`cutover {}`: {e}: {stdout}", args.join(" ")))
    }

    /// Rows of text from the database (a fresh SQLite connection each time: the killed runner
    /// may have left a journal that opening rolls back).
    fn rows(&mut self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        match &mut self.pg {
            Some(pg) => pg.rows(sql),
            None => {
                let path = self.project.path("app.db");
                if !path.exists() {
                    return Ok(Vec::new());
                }
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                conn.busy_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
                let mut statement = conn.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
                let n = statement.column_count();
                let rows = statement
                    .query_map([], |row| {
                        (0..n)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => String::new(),
                                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                    rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                                        String::from_utf8_lossy(t).into_owned()
                                    }
                                })
                            })
                            .collect()
                    })
                    .map_err(|e| e.to_string())?;
                rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
            }
        }
    }

    /// Runs `sql` on the database (made if it is not there yet).
    fn execute(&mut self, sql: &str) -> Result<(), String> {
        match &mut self.pg {
            Some(pg) => pg.rows(sql).map(drop),
            None => {
                let conn = rusqlite::Connection::open(self.project.path("app.db")).map_err(|e| e.to_string())?;
                conn.busy_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
                conn.execute_batch(sql).map_err(|e| format!("{sql}: {e}"))
            }
        }
    }

    /// The tables the migrations made (`m_<n>`).
    fn tables(&mut self) -> Result<BTreeSet<String>, String> {
        let sql = match self.engine {
            Engine::Postgres => {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'm\\_%'"
            }
            Engine::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'm\\_%' ESCAPE '\\'",
        };
        Ok(self.rows(sql)?.into_iter().map(|mut row| row.remove(0)).collect())
    }

    /// (version, direction, state) of every history row, oldest first.
    fn history_rows(&mut self) -> Result<Vec<(String, String, String)>, String> {
        let exists = match self.engine {
            Engine::Postgres => "SELECT 1 WHERE to_regclass('cutover_history') IS NOT NULL",
            Engine::Sqlite => "SELECT 1 FROM sqlite_master WHERE name = 'cutover_history'",
        };
        if self.rows(exists)?.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.rows("SELECT coalesce(version, 'null'), direction, state FROM cutover_history ORDER BY id")?;
        Ok(rows.into_iter().map(|r| (r[0].clone(), r[1].clone(), r[2].clone())).collect())
    }

    /// `cutover history --format json` as (version, direction, state), oldest first.
    fn history_json(&mut self) -> Result<Vec<(String, String, String)>, String> {
        let json = self.json(&["history", "--format", "json"])?;
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("null").to_string();
        Ok(json["history"]
            .as_array()
            .ok_or_else(|| format!("history JSON without history: {json}"))?
            .iter()
            .map(|r| (text(&r["version"]), text(&r["direction"]), text(&r["state"])))
            .collect())
    }

    /// Tables, status and history as the model says.
    fn check_all(&mut self) -> Checked {
        let tables = self.tables()?;
        if tables != self.model.tables() {
            return Err(format!("tables {:?}, the model expects {:?}", tables, self.model.tables()));
        }
        let status = self.status_json()?;
        if status != self.model.status() {
            return Err(format!("status {status:?}, the model expects {:?}", self.model.status()));
        }
        let rows = self.history_rows()?;
        self.check_history(&rows)
    }

    /// Per version, the history alternates applied and reverted, starting with applied (never
    /// applied twice without a revert between), and counts what the model counts.
    fn check_history(&self, rows: &[(String, String, String)]) -> Checked {
        let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for (version, direction, state) in rows {
            let entry = counts.entry(version.clone()).or_default();
            match (direction.as_str(), state.as_str()) {
                ("up", "applied") if entry.0 != entry.1 => {
                    return Err(format!("the history shows {version} applied twice without a revert between"))
                }
                ("up", "applied") => entry.0 += 1,
                ("down", "reverted") if entry.0 != entry.1 + 1 => {
                    return Err(format!("the history shows {version} reverted while not applied"))
                }
                ("down", "reverted") => entry.1 += 1,
                _ => {}
            }
        }
        counts.retain(|_, (applies, reverts)| *applies + *reverts > 0);
        let expected: BTreeMap<String, (u32, u32)> = self
            .model
            .migrations
            .iter()
            .filter(|(_, m)| m.applies + m.reverts > 0)
            .map(|(v, m)| (v.to_string(), (m.applies, m.reverts)))
            .collect();
        if counts != expected {
            return Err(format!("history (applied, reverted) per version {counts:?}, the model expects {expected:?}"));
        }
        Ok(())
    }
}

/// The case's PostgreSQL database and one connection to it for the checks.
struct Pg {
    client: postgres::Client,
    _db: PgDb,
}

impl Pg {
    fn rows(&mut self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let messages = self.client.simple_query(sql).map_err(|e| format!("{sql}: {e}"))?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).unwrap_or_default().to_string()).collect())
                }
                _ => None,
            })
            .collect())
    }
}
