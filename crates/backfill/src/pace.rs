//! Closed-loop pacing: the batch time follows what the application feels.
//!
//! A batch holds the row locks of its update until it commits, so an application write to one
//! of its rows waits up to the batch's length; under a steady load, a client that waited also
//! starts its next transactions late, so one wait of W shows in the latency of about W divided
//! by the client's interval transactions. The engine reports the application's sessions that
//! waited on each batch (`AppWaits`); [`Pacer`] sets the time the next batches aim at:
//! - someone waited: halve it (multiplicative decrease), down to a floor, at once;
//! - a wait longer than the new aim (a queue behind the batch, or a batch far over its aim):
//!   also step aside for as long as that wait lasted (at most [`MAX_PAUSE`]), so the queue drains
//!   before the next batch takes new locks;
//! - nobody waited: grow back by a twentieth of the range per batch (additive increase) toward
//!   the configured time, so one quiet batch does not undo what a wait taught.
//!
//! As TCP's congestion window, this settles where waits are rare: under random writes the
//! chance that a batch meets one grows with its length, and the harm of each wait too.
//!
//! The application also waits where no lock shows it: each of its commits flushes the log, which
//! holds what the batches wrote, and a server whose disk falls behind (the batches' log, the pages
//! they dirtied being written out) makes every commit slow. Where the engine times a probe commit
//! ([`CommitLatency`]), a batch during which one took more than [`SLOW_COMMIT_FACTOR`] times its
//! latency before the backfill (plus [`COMMIT_SLACK`]) makes the backfill rest after each batch,
//! for a share of the batch time that doubles while commits stay slow (up to [`MAX_REST`]) and
//! shrinks by a fifth per batch once they are not: a lower duty cycle, not a shorter batch, since
//! the log a row costs is the same however the batches are cut.
//! When the waits cannot be seen (no second connection, no privilege), the aim stays where it
//! is and the reason says so: the configured time is already a bound on any wait.

use std::time::Duration;

use cutover_engine::{AppWaits, CommitLatency, LockWaits, Pace};

/// The longest the backfill steps aside after one batch.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);

/// How many times slower than before the backfill a probe commit must be to count as slowed.
pub const SLOW_COMMIT_FACTOR: u32 = 3;

/// Added to that bound: a commit that took 0.3 ms before is not slowed at 1 ms.
pub const COMMIT_SLACK: Duration = Duration::from_millis(1);

/// The longest rest after each batch, in batch times (a duty cycle of a fifth).
pub const MAX_REST: f64 = 4.0;

/// The first rest after slowed commits, in batch times; each further slowed batch doubles it.
const FIRST_REST: f64 = 0.5;

/// Below this share of a batch time, the rest ends.
const LEAST_REST: f64 = 0.1;

/// Quiet batches to grow back from the floor to the configured time.
const GROWTH_STEPS: u32 = 20;

/// Sets each batch's time from the application's waits on the previous ones.
#[derive(Debug, Clone)]
pub struct Pacer {
    // Invariant: floor <= target <= ceiling.
    ceiling: Duration,
    floor: Duration,
    target: Duration,
    /// The last batch that made the application wait, and the quiet batches since.
    last_wait: Option<LockWaits>,
    quiet: u64,
    reason: String,
    sessions_waited: u64,
    longest_wait: Duration,
    /// The rest after each batch, in batch times, while commits are slowed (0: none).
    rest: f64,
    /// Why the backfill rests, while it does.
    rest_reason: Option<String>,
}

/// What [`Pacer::observe`] decided after a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceDecision {
    /// What the next batches aim at.
    pub batch_time: Duration,
    /// How long to step aside before the next batch.
    pub pause: Duration,
}

impl Pacer {
    /// A pacer aiming at `ceiling` (the configured batch time), never below `floor`; a backfill
    /// that resumes starts at the time it had (`resumed`), within those bounds.
    pub fn new(ceiling: Duration, floor: Duration, resumed: Option<Duration>) -> Pacer {
        let floor = floor.min(ceiling);
        let target = resumed.unwrap_or(ceiling).clamp(floor, ceiling);
        let reason = if target < ceiling {
            format!("resumed at the pace it had, growing back toward {}", ms(ceiling))
        } else {
            "the configured batch time".to_string()
        };
        Pacer {
            ceiling,
            floor,
            target,
            last_wait: None,
            quiet: 0,
            reason,
            sessions_waited: 0,
            longest_wait: Duration::ZERO,
            rest: 0.0,
            rest_reason: None,
        }
    }

    /// What batches aim at now.
    pub fn batch_time(&self) -> Duration {
        self.target
    }

    /// The pace now, and why, as a checkpoint keeps it.
    pub fn pace(&self) -> Pace {
        Pace {
            batch_time: self.target,
            sessions_waited: self.sessions_waited,
            longest_wait: self.longest_wait,
            reason: self.reason.clone(),
        }
    }

    /// Learns from the application's waits on the batch that just committed, which `wrote`
    /// rows or did not.
    pub fn observe(&mut self, waits: &AppWaits, wrote: bool) -> PaceDecision {
        let waits = match waits {
            AppWaits::Seen(waits) => *waits,
            AppWaits::Unseen(why) => {
                self.reason = format!("application lock waits not seen ({why}): batch time held");
                self.sessions_waited = 0;
                self.longest_wait = Duration::ZERO;
                return PaceDecision { batch_time: self.target, pause: Duration::ZERO };
            }
        };
        let mut decision = self.observe_locks(waits);
        // A batch that wrote nothing added nothing to the log the application's commits flush:
        // its commits are not judged, and no rest follows it (a tester's sparse backfill rested
        // 100 ms after each batch of a million keys with ten to update). Its locks still count:
        // a copy's batch holds share locks on rows it finds copied already.
        if !wrote {
            return decision;
        }
        let rest = self.observe_commits(waits.commits);
        if let Some(why) = &self.rest_reason {
            self.reason = format!("{}; {why}", self.reason);
        }
        decision.pause = decision.pause.max(rest);
        decision
    }

    /// The batch time and pause the application's lock waits on the last batch call for.
    fn observe_locks(&mut self, waits: LockWaits) -> PaceDecision {
        self.sessions_waited = waits.sessions;
        self.longest_wait = waits.longest;
        if waits.sessions == 0 {
            self.quiet += 1;
            let step = ((self.ceiling - self.floor) / GROWTH_STEPS).max(Duration::from_millis(1));
            self.target = (self.target + step).min(self.ceiling);
            self.reason = match self.last_wait {
                Some(last) => format!(
                    "no app session waited for {} (last: {}){}",
                    plural(self.quiet, "batch", "batches"),
                    describe(last),
                    self.growing()
                ),
                None => format!("no app session waited on our locks{}", self.growing()),
            };
            return PaceDecision { batch_time: self.target, pause: Duration::ZERO };
        }
        self.quiet = 0;
        self.last_wait = Some(waits);
        self.target = (self.target / 2).max(self.floor);
        // A wait longer than what batches now aim at is more than one such batch would cause.
        let pause = if waits.longest > self.target { waits.longest.min(MAX_PAUSE) } else { Duration::ZERO };
        self.reason = describe(waits);
        if !pause.is_zero() {
            self.reason.push_str(&format!("; stepping aside {}", ms(pause)));
        }
        PaceDecision { batch_time: self.target, pause }
    }

    /// The rest after the batch that the probe commits during it call for.
    fn observe_commits(&mut self, commits: Option<CommitLatency>) -> Duration {
        match commits {
            Some(commits) if slowed(commits) => {
                self.rest = (self.rest * 2.0).clamp(FIRST_REST, MAX_REST);
                let rest = self.target.mul_f64(self.rest);
                self.rest_reason = Some(format!(
                    "a commit took {} during the batch ({} before the backfill): resting {} after each batch",
                    ms(commits.slowest),
                    fine_ms(commits.before),
                    ms(rest)
                ));
            }
            Some(_) if self.rest > 0.0 => {
                self.rest *= 0.8;
                if self.rest < LEAST_REST {
                    self.rest = 0.0;
                    self.rest_reason = None;
                } else {
                    self.rest_reason = Some(format!(
                        "commits are back to their speed: resting {} after each batch, less each batch",
                        ms(self.target.mul_f64(self.rest))
                    ));
                }
            }
            // No probe fell in the batch, or none is timed: as it was.
            _ => {}
        }
        self.target.mul_f64(self.rest).min(MAX_PAUSE)
    }

    fn growing(&self) -> String {
        if self.target < self.ceiling {
            format!(", growing back toward {}", ms(self.ceiling))
        } else {
            String::new()
        }
    }
}

/// Whether a probe commit took long enough that the application's commits wait on the backfill.
fn slowed(commits: CommitLatency) -> bool {
    commits.slowest > commits.before * SLOW_COMMIT_FACTOR + COMMIT_SLACK
}

/// A short duration to a tenth of a millisecond (`0.6 ms`).
fn fine_ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// `3 app sessions waited on our locks, longest 12 ms`.
fn describe(waits: LockWaits) -> String {
    format!(
        "{} waited on our locks, longest {}",
        plural(waits.sessions, "app session", "app sessions"),
        ms(waits.longest)
    )
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A duration in whole milliseconds (`12 ms`).
pub(crate) fn ms(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn waited(sessions: u64, longest_ms: u64) -> AppWaits {
        AppWaits::Seen(LockWaits { sessions, longest: ms(longest_ms), commits: None })
    }

    const QUIET: AppWaits = AppWaits::Seen(LockWaits { sessions: 0, longest: Duration::ZERO, commits: None });

    /// No lock waits, and a probe commit that took `slowest_us` (600 µs before the backfill).
    fn commits(slowest_us: u64) -> AppWaits {
        let commits = CommitLatency { before: Duration::from_micros(600), slowest: Duration::from_micros(slowest_us) };
        AppWaits::Seen(LockWaits { sessions: 0, longest: Duration::ZERO, commits: Some(commits) })
    }

    #[test]
    fn slowed_commits_rest_after_each_batch_longer_while_they_stay_slow() {
        let mut pacer = Pacer::new(ms(20), ms(10), None);
        // 3 x 0.6 ms + 1 ms = 2.8 ms: not slowed.
        assert_eq!(pacer.observe(&commits(2_700), true).pause, Duration::ZERO);
        let decision = pacer.observe(&commits(9_000), true);
        assert_eq!(decision, PaceDecision { batch_time: ms(20), pause: ms(10) }, "half a batch time first");
        assert_eq!(
            pacer.pace().reason,
            "no app session waited on our locks; a commit took 9 ms during the batch (0.6 ms before the backfill): resting 10 ms after each batch"
        );
        assert_eq!(pacer.observe(&commits(9_000), true).pause, ms(20), "doubling");
        assert_eq!(pacer.observe(&commits(9_000), true).pause, ms(40));
        assert_eq!(pacer.observe(&commits(9_000), true).pause, ms(80));
        assert_eq!(pacer.observe(&commits(9_000), true).pause, ms(80), "at most four batch times");
        // A batch no probe fell in keeps the rest.
        assert_eq!(pacer.observe(&QUIET, true).pause, ms(80));
        // Back to speed: a fifth less per batch, then none.
        assert_eq!(pacer.observe(&commits(700), true).pause, ms(64));
        assert!(
            pacer.pace().reason.contains("commits are back to their speed: resting 64 ms"),
            "{}",
            pacer.pace().reason
        );
        let mut batches = 1;
        while pacer.observe(&commits(700), true).pause > Duration::ZERO {
            batches += 1;
        }
        assert_eq!(batches + 1, 17, "17 batches at speed to stop resting from the longest rest");
        assert_eq!(pacer.pace().reason, "no app session waited on our locks");
    }

    #[test]
    fn a_batch_that_wrote_nothing_rests_not_but_steps_aside_for_its_locks() {
        let mut pacer = Pacer::new(ms(40), ms(10), None);
        let slow = AppWaits::Seen(LockWaits {
            sessions: 0,
            longest: Duration::ZERO,
            commits: Some(CommitLatency { before: ms(1), slowest: ms(30) }),
        });
        assert_eq!(pacer.observe(&slow, false).pause, Duration::ZERO, "slow commits, but nothing written");
        assert_eq!(pacer.observe(&slow, true).pause, ms(20), "the first rest: nothing doubled before");
        assert_eq!(pacer.observe(&slow, false).pause, Duration::ZERO);
        let waited = AppWaits::Seen(LockWaits { sessions: 1, longest: ms(100), commits: None });
        assert_eq!(pacer.observe(&waited, false).pause, ms(100), "its share locks made a session wait");
    }

    #[test]
    fn the_longer_of_a_lock_wait_pause_and_a_rest_wins() {
        let mut pacer = Pacer::new(ms(40), ms(10), None);
        let slow_and_waited = AppWaits::Seen(LockWaits {
            sessions: 1,
            longest: ms(100),
            commits: Some(CommitLatency { before: ms(1), slowest: ms(30) }),
        });
        let decision = pacer.observe(&slow_and_waited, true);
        assert_eq!(decision, PaceDecision { batch_time: ms(20), pause: ms(100) });
        assert!(
            pacer.pace().reason.starts_with(
                "1 app session waited on our locks, longest 100 ms; stepping aside 100 ms; a commit took 30 ms"
            ),
            "{}",
            pacer.pace().reason
        );
    }

    #[test]
    fn waits_halve_the_batch_time_down_to_the_floor() {
        let mut pacer = Pacer::new(ms(80), ms(10), None);
        assert_eq!(pacer.batch_time(), ms(80), "starts at the configured time");
        assert_eq!(pacer.observe(&waited(3, 12), true).batch_time, ms(40));
        assert_eq!(pacer.pace().reason, "3 app sessions waited on our locks, longest 12 ms");
        assert_eq!((pacer.pace().sessions_waited, pacer.pace().longest_wait), (3, ms(12)));
        assert_eq!(pacer.observe(&waited(1, 5), true).batch_time, ms(20));
        assert_eq!(pacer.observe(&waited(1, 5), true).batch_time, ms(10));
        assert_eq!(pacer.observe(&waited(1, 5), true).batch_time, ms(10), "never below the floor");
    }

    #[test]
    fn quiet_batches_grow_it_back_slowly_to_the_configured_time() {
        let mut pacer = Pacer::new(ms(110), ms(10), None);
        for _ in 0..4 {
            pacer.observe(&waited(1, 1), true);
        }
        assert_eq!(pacer.batch_time(), ms(10));
        assert_eq!(pacer.observe(&QUIET, true).batch_time, ms(15), "a twentieth of the range per batch");
        assert_eq!(
            pacer.pace().reason,
            "no app session waited for 1 batch (last: 1 app session waited on our locks, longest 1 ms), growing back toward 110 ms"
        );
        let mut batches = 1;
        while pacer.observe(&QUIET, true).batch_time < ms(110) {
            batches += 1;
        }
        assert_eq!(batches + 1, 20, "20 quiet batches from the floor to the top");
        assert_eq!(pacer.observe(&QUIET, true).batch_time, ms(110), "never above the configured time");
        assert!(!pacer.pace().reason.contains("growing"), "{}", pacer.pace().reason);
        // One wait undoes many quiet batches.
        assert_eq!(pacer.observe(&waited(2, 30), true).batch_time, ms(55));
    }

    #[test]
    fn a_wait_longer_than_the_new_aim_steps_aside_for_as_long() {
        let mut pacer = Pacer::new(ms(50), ms(10), None);
        let decision = pacer.observe(&waited(2, 45), true);
        assert_eq!(decision, PaceDecision { batch_time: ms(25), pause: ms(45) });
        assert!(pacer.pace().reason.ends_with("; stepping aside 45 ms"), "{}", pacer.pace().reason);
        assert_eq!(pacer.observe(&waited(1, 8), true).pause, Duration::ZERO, "within what a batch now costs");
        assert_eq!(pacer.observe(&waited(1, 5_000), true).pause, MAX_PAUSE, "bounded");
    }

    #[test]
    fn unseen_waits_hold_the_batch_time_and_say_why() {
        let mut pacer = Pacer::new(ms(50), ms(10), None);
        pacer.observe(&waited(1, 3), true);
        let decision = pacer.observe(&AppWaits::Unseen("no PROCESS privilege".to_string()), true);
        assert_eq!(decision, PaceDecision { batch_time: ms(25), pause: Duration::ZERO });
        assert!(pacer.pace().reason.contains("no PROCESS privilege"), "{}", pacer.pace().reason);
    }

    #[test]
    fn a_resumed_backfill_starts_at_its_pace_within_the_bounds() {
        assert_eq!(Pacer::new(ms(50), ms(10), Some(ms(20))).batch_time(), ms(20));
        assert_eq!(Pacer::new(ms(50), ms(10), Some(ms(2))).batch_time(), ms(10));
        assert_eq!(Pacer::new(ms(50), ms(10), Some(ms(200))).batch_time(), ms(50));
        assert_eq!(Pacer::new(ms(5), ms(10), None).batch_time(), ms(5), "the floor gives way to a smaller top");
    }
}
