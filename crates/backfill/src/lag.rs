//! Replica lag, measured so that a paused or stuck replica is seen as behind.
//!
//! PostgreSQL's `replay_lag` is measured when a replica reports progress: while replay is
//! paused or stuck it reports nothing new, and the last (small) figure stays. So cutover also
//! samples the primary's WAL position over time: a replica that has not replayed the WAL
//! written at time t is at least `now - t` behind. The lag is the larger of the two, and a
//! replica whose position cannot be read counts as unknown, which pauses the backfill: it
//! fails closed rather than guess.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use cutover_engine::ReplicaState;

/// How long WAL position samples are kept.
const KEEP: Duration = Duration::from_secs(600);

/// Samples of the primary's WAL position, to measure replicas against.
#[derive(Debug, Default)]
pub struct LagEstimator {
    samples: VecDeque<(Instant, u64)>,
}

impl LagEstimator {
    /// Records the primary's WAL position at `now`.
    pub fn record(&mut self, now: Instant, wal_position: u64) {
        self.samples.push_back((now, wal_position));
        while self.samples.front().is_some_and(|(at, _)| now.duration_since(*at) > KEEP) {
            self.samples.pop_front();
        }
    }

    /// How far behind `replica` is at `now`; `None` when it cannot be told.
    pub fn lag(&self, now: Instant, replica: &ReplicaState) -> Option<Duration> {
        // Engines that report only a lag in time (MySQL's seconds behind) have no position.
        let Some(replayed) = replica.replay_position else { return replica.replay_lag };
        let behind_since = self.samples.iter().find(|(_, position)| *position > replayed).map(|(at, _)| *at);
        let sampled = behind_since.map_or(Duration::ZERO, |at| now.duration_since(at));
        Some(sampled.max(replica.replay_lag.unwrap_or(Duration::ZERO)))
    }
}

/// Why the backfill pauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// Why, for people.
    pub reason: String,
    /// The signal could not be read (a failing health check, an unknown lag): the backfill
    /// pauses rather than guess, but only for `max_blind_pause`. Otherwise the pause was asked
    /// for (a replica known to be behind, a check that answered false) and lasts as long as
    /// the signal says.
    pub blind: bool,
}

impl Throttle {
    /// A pause the signal asks for.
    pub fn asked(reason: String) -> Throttle {
        Throttle { reason, blind: false }
    }

    /// A pause because the signal cannot be read.
    pub fn blind(reason: String) -> Throttle {
        Throttle { reason, blind: true }
    }
}

/// Why replicas should pause the backfill, if they should.
pub fn replica_throttle(
    estimator: &LagEstimator,
    now: Instant,
    replicas: &[ReplicaState],
    expected: usize,
    max_lag: Duration,
) -> Option<Throttle> {
    if replicas.len() < expected {
        return Some(Throttle::blind(format!(
            "{} of {expected} expected replicas are connected: their lag cannot be read",
            replicas.len()
        )));
    }
    for replica in replicas {
        if replica.state != "streaming" {
            let reason = format!("replica {} is {}, not streaming", replica.name, replica.state);
            // Stopped with a known position is behind, and known to be; one of which nothing
            // can be read (unreachable, not a replica) is not.
            let unreadable = replica.replay_position.is_none() && replica.replay_lag.is_none();
            return Some(Throttle { reason, blind: unreadable });
        }
        match estimator.lag(now, replica) {
            None => {
                return Some(Throttle::blind(format!(
                    "the lag of replica {} cannot be read (PostgreSQL: grant the pg_monitor role to cutover's user; MySQL: give --replica-url of each replica, readable by cutover's user)",
                    replica.name
                )))
            }
            Some(lag) if lag > max_lag => {
                return Some(Throttle::asked(format!(
                    "replica {} is {:.1}s behind (limit {:.1}s)",
                    replica.name,
                    lag.as_secs_f64(),
                    max_lag.as_secs_f64()
                )))
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(position: Option<u64>, reported: Option<u64>) -> ReplicaState {
        ReplicaState {
            name: "r1 (127.0.0.1)".to_string(),
            state: "streaming".to_string(),
            replay_position: position,
            replay_lag: reported.map(Duration::from_millis),
        }
    }

    #[test]
    fn a_paused_replica_falls_behind_even_if_it_reports_a_small_lag() {
        let start = Instant::now();
        let mut estimator = LagEstimator::default();
        estimator.record(start, 100);
        estimator.record(start + Duration::from_secs(1), 200);
        estimator.record(start + Duration::from_secs(2), 300);
        let now = start + Duration::from_secs(3);
        // Replayed up to 150: the WAL at 200 (written at +1 s) is missing, so it is >= 2 s behind.
        assert_eq!(estimator.lag(now, &replica(Some(150), Some(10))), Some(Duration::from_secs(2)));
        assert_eq!(estimator.lag(now, &replica(Some(300), Some(10))), Some(Duration::from_millis(10)));
        assert_eq!(estimator.lag(now, &replica(Some(300), Some(4000))), Some(Duration::from_secs(4)));
        // MySQL reports seconds behind and no position.
        assert_eq!(estimator.lag(now, &replica(None, Some(3000))), Some(Duration::from_secs(3)));
    }

    #[test]
    fn unknown_lag_and_missing_replicas_pause() {
        let estimator = LagEstimator::default();
        let now = Instant::now();
        let limit = Duration::from_secs(1);
        let unknown = replica_throttle(&estimator, now, &[replica(None, None)], 0, limit).unwrap();
        assert!(unknown.reason.contains("cannot be read") && unknown.blind, "{unknown:?}");
        let missing = replica_throttle(&estimator, now, &[], 1, limit).unwrap();
        assert!(missing.reason.contains("0 of 1 expected replicas") && missing.blind, "{missing:?}");
        assert_eq!(replica_throttle(&estimator, now, &[], 0, limit), None, "no replicas, none expected");
        let mut catching_up = replica(Some(1), None);
        catching_up.state = "catchup".to_string();
        let catchup = replica_throttle(&estimator, now, &[catching_up], 0, limit).unwrap();
        assert!(catchup.reason.contains("not streaming") && !catchup.blind, "its position is known: {catchup:?}");
        let mut unreachable = replica(None, None);
        unreachable.state = "unreachable".to_string();
        assert!(replica_throttle(&estimator, now, &[unreachable], 0, limit).unwrap().blind);
        let behind = replica_throttle(&estimator, now, &[replica(Some(1), Some(1500))], 0, limit).unwrap();
        assert!(behind.reason.contains("1.5s behind") && !behind.blind, "{behind:?}");
    }
}
