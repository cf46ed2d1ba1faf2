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
//! When the waits cannot be seen (no second connection, no privilege), the aim stays where it
//! is and the reason says so: the configured time is already a bound on any wait.

use std::time::Duration;

use cutover_engine::{AppWaits, LockWaits, Pace};

/// The longest the backfill steps aside after one batch.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);

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

    /// Learns from the application's waits on the batch that just committed.
    pub fn observe(&mut self, waits: &AppWaits) -> PaceDecision {
        let waits = match waits {
            AppWaits::Seen(waits) => *waits,
            AppWaits::Unseen(why) => {
                self.reason = format!("application lock waits not seen ({why}): batch time held");
                self.sessions_waited = 0;
                self.longest_wait = Duration::ZERO;
                return PaceDecision { batch_time: self.target, pause: Duration::ZERO };
            }
        };
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

    fn growing(&self) -> String {
        if self.target < self.ceiling {
            format!(", growing back toward {}", ms(self.ceiling))
        } else {
            String::new()
        }
    }
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
        AppWaits::Seen(LockWaits { sessions, longest: ms(longest_ms) })
    }

    const QUIET: AppWaits = AppWaits::Seen(LockWaits { sessions: 0, longest: Duration::ZERO });

    #[test]
    fn waits_halve_the_batch_time_down_to_the_floor() {
        let mut pacer = Pacer::new(ms(80), ms(10), None);
        assert_eq!(pacer.batch_time(), ms(80), "starts at the configured time");
        assert_eq!(pacer.observe(&waited(3, 12)).batch_time, ms(40));
        assert_eq!(pacer.pace().reason, "3 app sessions waited on our locks, longest 12 ms");
        assert_eq!((pacer.pace().sessions_waited, pacer.pace().longest_wait), (3, ms(12)));
        assert_eq!(pacer.observe(&waited(1, 5)).batch_time, ms(20));
        assert_eq!(pacer.observe(&waited(1, 5)).batch_time, ms(10));
        assert_eq!(pacer.observe(&waited(1, 5)).batch_time, ms(10), "never below the floor");
    }

    #[test]
    fn quiet_batches_grow_it_back_slowly_to_the_configured_time() {
        let mut pacer = Pacer::new(ms(110), ms(10), None);
        for _ in 0..4 {
            pacer.observe(&waited(1, 1));
        }
        assert_eq!(pacer.batch_time(), ms(10));
        assert_eq!(pacer.observe(&QUIET).batch_time, ms(15), "a twentieth of the range per batch");
        assert_eq!(
            pacer.pace().reason,
            "no app session waited for 1 batch (last: 1 app session waited on our locks, longest 1 ms), growing back toward 110 ms"
        );
        let mut batches = 1;
        while pacer.observe(&QUIET).batch_time < ms(110) {
            batches += 1;
        }
        assert_eq!(batches + 1, 20, "20 quiet batches from the floor to the top");
        assert_eq!(pacer.observe(&QUIET).batch_time, ms(110), "never above the configured time");
        assert!(!pacer.pace().reason.contains("growing"), "{}", pacer.pace().reason);
        // One wait undoes many quiet batches.
        assert_eq!(pacer.observe(&waited(2, 30)).batch_time, ms(55));
    }

    #[test]
    fn a_wait_longer_than_the_new_aim_steps_aside_for_as_long() {
        let mut pacer = Pacer::new(ms(50), ms(10), None);
        let decision = pacer.observe(&waited(2, 45));
        assert_eq!(decision, PaceDecision { batch_time: ms(25), pause: ms(45) });
        assert!(pacer.pace().reason.ends_with("; stepping aside 45 ms"), "{}", pacer.pace().reason);
        assert_eq!(pacer.observe(&waited(1, 8)).pause, Duration::ZERO, "within what a batch now costs");
        assert_eq!(pacer.observe(&waited(1, 5_000)).pause, MAX_PAUSE, "bounded");
    }

    #[test]
    fn unseen_waits_hold_the_batch_time_and_say_why() {
        let mut pacer = Pacer::new(ms(50), ms(10), None);
        pacer.observe(&waited(1, 3));
        let decision = pacer.observe(&AppWaits::Unseen("no PROCESS privilege".to_string()));
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
