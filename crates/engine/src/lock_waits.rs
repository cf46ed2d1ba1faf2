//! What the application felt during a backfill batch: its sessions that waited on the batch's
//! locks, and for how long.
//!
//! A batch holds the row locks of its update until it commits; an application write to one of
//! those rows waits that long. The engine watches while a batch runs (a thread samples the
//! server's lock waits on a connection of its own, see [`LockWatcher`]), and [`WaitTally`] turns
//! the samples into [`LockWaits`], which the backfill's pacing reads. Engine-neutral: the
//! engines only say who waits on whom, and how often they can ask.
//!
//! Row locks are not all the application feels: each of its commits flushes the log, and the
//! log holds what the batches wrote. Where the engine can commit on the watcher's connection, the
//! watcher also times a probe commit every [`PROBE_EVERY`] while a batch runs, against the same
//! probe before the first batch ([`CommitLatency`]): the application's commits are as slow.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::DbError;

/// The application's waits on one batch's locks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockWaits {
    /// Sessions seen waiting on the batch, directly or queued behind one that did.
    pub sessions: u64,
    /// The longest wait seen (a lower bound: a wait is seen at most one sampling interval late
    /// and ends at most one interval after its last sample).
    pub longest: Duration,
    /// How long commits took while the batch ran, when the engine probes them and a probe fell
    /// within the batch.
    pub commits: Option<CommitLatency>,
}

/// A probe commit's latency while a batch ran, and before the backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitLatency {
    /// The median of a few probe commits before the first batch.
    pub before: Duration,
    /// The slowest probe commit while the batch ran.
    pub slowest: Duration,
}

/// How often the watcher times a probe commit while a batch runs: often enough that most
/// batches (tens of milliseconds) see one, rarely enough that the probes' own log flushes
/// (one each) cost the server nothing it would notice.
pub const PROBE_EVERY: Duration = Duration::from_millis(20);

/// Probe commits before the first batch, their median the reference.
const PROBES_BEFORE: usize = 7;

/// An engine's probe commit on the watcher's connection: a transaction that writes to the log
/// and waits for its flush, as an application's commit does.
pub type ProbeCommit<M> = fn(&mut M) -> Result<(), DbError>;

/// Whether the engine could watch the batch's lock waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppWaits {
    /// Watched throughout the batch.
    Seen(LockWaits),
    /// Not watched; the reason says why (no second connection, no privilege to read the
    /// server's lock waits).
    Unseen(String),
}

impl Default for AppWaits {
    fn default() -> Self {
        AppWaits::Unseen("the engine does not watch lock waits".to_string())
    }
}

/// One session found waiting for a lock, in one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingSession {
    /// The session (PostgreSQL: backend pid; MySQL: connection id).
    pub id: u64,
    /// The sessions it waits for.
    pub blocked_by: Vec<u64>,
    /// How long it has waited, when the server says (PostgreSQL 14+: `pg_locks.waitstart`).
    pub waited: Option<Duration>,
}

/// The samples of one batch, reduced to [`LockWaits`].
#[derive(Debug)]
pub struct WaitTally {
    ours: u64,
    /// When each waiting session was first seen in this batch.
    first_seen: HashMap<u64, Instant>,
    longest: Duration,
    /// The probe commits' latency before the first batch, and the slowest in this one.
    commits_before: Option<Duration>,
    slowest_commit: Option<Duration>,
}

impl WaitTally {
    /// A tally of the sessions that wait on `ours` (the batch's session).
    pub fn new(ours: u64) -> WaitTally {
        WaitTally {
            ours,
            first_seen: HashMap::new(),
            longest: Duration::ZERO,
            commits_before: None,
            slowest_commit: None,
        }
    }

    /// Compares this batch's probe commits with `before` (see [`CommitLatency`]).
    pub fn with_commits_before(mut self, before: Option<Duration>) -> WaitTally {
        self.commits_before = before;
        self
    }

    /// Records a probe commit that took `took` while the batch ran.
    pub fn record_commit(&mut self, took: Duration) {
        self.slowest_commit = Some(self.slowest_commit.unwrap_or_default().max(took));
    }

    /// Records a sample taken at `at`: every session then waiting for a lock, with its blockers.
    pub fn record(&mut self, at: Instant, waiting: &[WaitingSession]) {
        // Ours, and whoever waits on us, directly or in the queue behind another waiter: a
        // row's second writer waits on its first, who waits on the batch.
        let mut behind_us: HashSet<u64> = HashSet::from([self.ours]);
        loop {
            let before = behind_us.len();
            for session in waiting {
                if session.id != self.ours && session.blocked_by.iter().any(|b| behind_us.contains(b)) {
                    behind_us.insert(session.id);
                }
            }
            if behind_us.len() == before {
                break;
            }
        }
        for session in waiting.iter().filter(|s| s.id != self.ours && behind_us.contains(&s.id)) {
            let first = *self.first_seen.entry(session.id).or_insert(at);
            let waited = session.waited.unwrap_or_default().max(at.saturating_duration_since(first));
            self.longest = self.longest.max(waited);
        }
    }

    /// The waits of the batch.
    pub fn finish(&self) -> LockWaits {
        let commits = match (self.commits_before, self.slowest_commit) {
            (Some(before), Some(slowest)) => Some(CommitLatency { before, slowest }),
            _ => None,
        };
        LockWaits { sessions: self.first_seen.len() as u64, longest: self.longest, commits }
    }
}

/// A thread that samples the server's lock waits on a connection of its own while a batch runs
/// ([`LockWatcher::watch`]), and sleeps between batches.
pub struct LockWatcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How often a [`LockWatcher`] samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Between two samples, at least.
    pub interval: Duration,
    /// From a batch's start to its first sample, at least: nobody waits on a batch yet when it
    /// starts.
    pub first_after: Duration,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// Which batch is under way: `Some` while one runs, a new number for each.
    batch: Option<u64>,
    batches: u64,
    armed_at: Instant,
    commits_before: Option<Duration>,
    tally: WaitTally,
    error: Option<DbError>,
    stop: bool,
}

impl LockWatcher {
    /// Starts the thread, which owns `monitor` and asks it `sample` (the sessions waiting for a
    /// lock now) at `cadence` while a batch of the session `ours` runs, and times `probe` (a
    /// commit) every [`PROBE_EVERY`] then, when the engine has one. The probe's latency now,
    /// before any batch, is what later ones are compared with; a probe that fails then is not
    /// used.
    pub fn start<M: Send + 'static>(
        mut monitor: M,
        ours: u64,
        cadence: Cadence,
        sample: fn(&mut M) -> Result<Vec<WaitingSession>, DbError>,
        probe: Option<ProbeCommit<M>>,
    ) -> LockWatcher {
        let commits_before = probe.and_then(|probe| {
            let mut took = Vec::with_capacity(PROBES_BEFORE);
            for _ in 0..PROBES_BEFORE {
                took.push(timed(probe, &mut monitor).ok()?);
                std::thread::sleep(Duration::from_millis(2));
            }
            took.sort();
            Some(took[PROBES_BEFORE / 2])
        });
        let probe = probe.filter(|_| commits_before.is_some());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                batch: None,
                batches: 0,
                armed_at: Instant::now(),
                commits_before,
                tally: WaitTally::new(ours),
                error: None,
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || sample_while_armed(&shared, monitor, cadence, sample, probe))
        };
        LockWatcher { shared, thread: Some(thread) }
    }

    /// Runs `body` (a batch) with the thread sampling, and returns what `body` returned with the
    /// waits seen while it ran; an error when a sample failed (the watcher is then done: drop it).
    pub fn watch<T>(&self, body: impl FnOnce() -> T) -> (T, Result<LockWaits, DbError>) {
        {
            let mut state = lock(&self.shared.state);
            state.batches += 1;
            state.batch = Some(state.batches);
            state.armed_at = Instant::now();
            state.tally = WaitTally::new(state.tally.ours).with_commits_before(state.commits_before);
        }
        self.shared.changed.notify_all();
        let result = body();
        let mut state = lock(&self.shared.state);
        state.batch = None;
        let waits = match &state.error {
            Some(err) => Err(err.clone()),
            None => Ok(state.tally.finish()),
        };
        (result, waits)
    }
}

impl Drop for LockWatcher {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The sampling thread: a sample per `cadence` while a batch runs, none between batches.
fn sample_while_armed<M>(
    shared: &Shared,
    mut monitor: M,
    cadence: Cadence,
    sample: fn(&mut M) -> Result<Vec<WaitingSession>, DbError>,
    probe: Option<ProbeCommit<M>>,
) {
    let mut last_sample: Option<Instant> = None;
    let mut last_probe: Option<Instant> = None;
    let mut state = lock(&shared.state);
    loop {
        if state.stop || state.error.is_some() {
            return;
        }
        let Some(batch) = state.batch else {
            state = shared.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            continue;
        };
        let mut due = state.armed_at + cadence.first_after;
        if let Some(last) = last_sample {
            due = due.max(last + cadence.interval);
        }
        let now = Instant::now();
        if now < due {
            state = shared.changed.wait_timeout(state, due - now).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
            continue;
        }
        drop(state);
        let taken = sample(&mut monitor);
        let at = Instant::now();
        last_sample = Some(at);
        // Beside a sample, not instead of one: the probe waits on the log, not on locks.
        let probed = match probe {
            Some(probe) if last_probe.is_none_or(|last| at - last >= PROBE_EVERY) => {
                last_probe = Some(at);
                Some(timed(probe, &mut monitor))
            }
            _ => None,
        };
        state = lock(&shared.state);
        // Only into the batch it was taken in.
        let current = state.batch == Some(batch);
        match taken {
            Ok(waiting) if current => state.tally.record(at, &waiting),
            Ok(_) => {}
            Err(err) => state.error = Some(err),
        }
        match probed {
            Some(Ok(took)) if current => state.tally.record_commit(took),
            Some(Err(err)) if state.error.is_none() => state.error = Some(err),
            _ => {}
        }
    }
}

/// How long `probe` took.
fn timed<M>(probe: ProbeCommit<M>, monitor: &mut M) -> Result<Duration, DbError> {
    let started = Instant::now();
    probe(monitor)?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(id: u64, blocked_by: &[u64], waited_ms: Option<u64>) -> WaitingSession {
        WaitingSession { id, blocked_by: blocked_by.to_vec(), waited: waited_ms.map(Duration::from_millis) }
    }

    #[test]
    fn counts_sessions_waiting_on_us_directly_or_queued_behind_them() {
        let start = Instant::now();
        let mut tally = WaitTally::new(7);
        // 8 waits on us, 9 waits behind 8, 10 waits on someone else, 7 (us) waits on 11.
        tally.record(
            start,
            &[waiting(9, &[8], None), waiting(8, &[7], Some(3)), waiting(10, &[11], Some(50)), waiting(7, &[11], None)],
        );
        assert_eq!(tally.finish(), LockWaits { sessions: 2, longest: Duration::from_millis(3), commits: None });
        // Seen again 20 ms later: without the server's figure, the wait is at least that long.
        tally.record(start + Duration::from_millis(20), &[waiting(9, &[8], None), waiting(8, &[7], Some(21))]);
        assert_eq!(tally.finish(), LockWaits { sessions: 2, longest: Duration::from_millis(21), commits: None });
        tally.record(start + Duration::from_millis(25), &[]);
        assert_eq!(tally.finish().sessions, 2, "sessions that waited stay counted");
    }

    #[test]
    fn nobody_waiting_is_no_wait() {
        let mut tally = WaitTally::new(1);
        tally.record(Instant::now(), &[waiting(2, &[3], Some(100))]);
        assert_eq!(tally.finish(), LockWaits::default());
    }

    /// A monitor that counts its samples and reports one session waiting on 1 for as many ms.
    fn counting() -> (Arc<Mutex<u64>>, LockWatcher) {
        let samples = Arc::new(Mutex::new(0u64));
        let cadence = Cadence { interval: Duration::from_millis(2), first_after: Duration::ZERO };
        let watcher = LockWatcher::start(
            Arc::clone(&samples),
            1,
            cadence,
            |n| {
                let mut n = n.lock().unwrap();
                *n += 1;
                Ok(vec![waiting(2, &[1], Some(*n))])
            },
            None,
        );
        (samples, watcher)
    }

    #[test]
    fn the_watcher_samples_while_a_batch_runs_and_not_between() {
        let (samples, watcher) = counting();
        let (value, waits) = watcher.watch(|| {
            std::thread::sleep(Duration::from_millis(30));
            "done"
        });
        assert_eq!(value, "done");
        let waits = waits.unwrap();
        assert_eq!(waits.sessions, 1);
        let after = *samples.lock().unwrap();
        assert!(after >= 3, "sampled every few ms: {after}");
        assert!(waits.longest >= Duration::from_millis(3), "{waits:?}");
        std::thread::sleep(Duration::from_millis(20));
        let between = *samples.lock().unwrap();
        assert!(between <= after + 1, "no sampling between batches: {after} then {between}");
        // The next batch counts its own waits only.
        let ((), waits) = watcher.watch(|| std::thread::sleep(Duration::from_millis(10)));
        assert_eq!(waits.unwrap().sessions, 1);
    }

    #[test]
    fn samples_keep_their_interval_across_batches() {
        let samples = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let cadence = Cadence { interval: Duration::from_millis(40), first_after: Duration::from_millis(5) };
        let watcher = LockWatcher::start(
            Arc::clone(&samples),
            1,
            cadence,
            |at| {
                at.lock().unwrap().push(Instant::now());
                Ok(Vec::new())
            },
            None,
        );
        for _ in 0..10 {
            let ((), waits) = watcher.watch(|| std::thread::sleep(Duration::from_millis(12)));
            waits.unwrap();
        }
        let at = samples.lock().unwrap().clone();
        assert!(!at.is_empty());
        // MariaDB refreshes its lock tables only when nobody read them for 0.1 s.
        assert!(at.windows(2).all(|w| w[1] - w[0] >= Duration::from_millis(40)), "{at:?}");
    }

    #[test]
    fn probe_commits_during_a_batch_are_compared_with_those_before_the_first() {
        // The monitor is how long a probe commit takes now.
        let commit_time = Arc::new(Mutex::new(Duration::from_millis(1)));
        let cadence = Cadence { interval: Duration::from_millis(2), first_after: Duration::ZERO };
        let probe: ProbeCommit<Arc<Mutex<Duration>>> = |took| {
            std::thread::sleep(*took.lock().unwrap());
            Ok(())
        };
        let watcher = LockWatcher::start(Arc::clone(&commit_time), 1, cadence, |_| Ok(Vec::new()), Some(probe));
        *commit_time.lock().unwrap() = Duration::from_millis(12);
        let ((), waits) = watcher.watch(|| std::thread::sleep(Duration::from_millis(60)));
        let commits = waits.unwrap().commits.expect("a probe within 60 ms");
        assert!(
            commits.before >= Duration::from_millis(1) && commits.before < Duration::from_millis(12),
            "{commits:?}"
        );
        assert!(commits.slowest >= Duration::from_millis(12), "{commits:?}");
        // None timed, none reported.
        let (_, watcher) = counting();
        let ((), waits) = watcher.watch(|| std::thread::sleep(Duration::from_millis(30)));
        assert_eq!(waits.unwrap().commits, None);
    }

    #[test]
    fn a_failing_sample_ends_the_watch_not_the_batch() {
        let cadence = Cadence { interval: Duration::from_millis(1), first_after: Duration::ZERO };
        let watcher = LockWatcher::start(
            (),
            1,
            cadence,
            |_| Err(DbError::new(crate::DbErrorKind::Other, "permission denied")),
            None,
        );
        let (value, waits) = watcher.watch(|| {
            std::thread::sleep(Duration::from_millis(10));
            42
        });
        assert_eq!(value, 42);
        assert!(waits.unwrap_err().message.contains("permission denied"));
    }
}

/// After a watcher could not be started, how long batches go unwatched before it is tried
/// again: a connection refused (`max_connections`) or a missing privilege is not retried at
/// every batch.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// An engine's watcher between batches: started at the first batch, kept while it answers,
/// dropped when a sample fails (the next batch starts another), and not tried again for a while
/// after it could not start.
#[derive(Default)]
pub struct WatchSlot {
    watcher: Option<LockWatcher>,
    /// Why there is no watcher, and since when.
    unavailable: Option<(String, Instant)>,
}

/// Runs `batch` on `target` while its watcher (kept in the slot `slot` gives, started by
/// `start` when there is none) samples the application's waits: the one loop every engine's
/// batches go through.
pub fn watched<S, T>(
    target: &mut S,
    slot: fn(&mut S) -> &mut WatchSlot,
    start: fn(&mut S) -> Result<LockWatcher, String>,
    batch: impl FnOnce(&mut S) -> Result<T, DbError>,
) -> (Result<T, DbError>, AppWaits) {
    let watcher = match slot(target).watcher.take() {
        Some(watcher) => Ok(watcher),
        None => match &slot(target).unavailable {
            Some((reason, since)) if since.elapsed() < RETRY_AFTER => Err(reason.clone()),
            _ => {
                let started = start(target);
                slot(target).unavailable = started.as_ref().err().map(|reason| (reason.clone(), Instant::now()));
                started
            }
        },
    };
    let watcher = match watcher {
        Ok(watcher) => watcher,
        Err(reason) => return (batch(target), AppWaits::Unseen(reason)),
    };
    let (result, waits) = watcher.watch(|| batch(target));
    match waits {
        Ok(waits) => {
            slot(target).watcher = Some(watcher);
            (result, AppWaits::Seen(waits))
        }
        // A watcher that failed is dropped; the next batch opens another.
        Err(err) => (result, AppWaits::Unseen(format!("cannot read the lock waits: {err}"))),
    }
}
