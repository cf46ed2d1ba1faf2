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

/// Why replicas should pause the backfill, if they should.
pub fn replica_throttle(
    estimator: &LagEstimator,
    now: Instant,
    replicas: &[ReplicaState],
    expected: usize,
    max_lag: Duration,
) -> Option<String> {
    if replicas.len() < expected {
        return Some(format!(
            "{} of {expected} expected replicas are connected: their lag cannot be read",
            replicas.len()
        ));
    }
    for replica in replicas {
        if replica.state != "streaming" {
            return Some(format!("replica {} is {}, not streaming", replica.name, replica.state));
        }
        match estimator.lag(now, replica) {
            None => {
                return Some(format!(
                    "the lag of replica {} cannot be read (PostgreSQL: grant the pg_monitor role to cutover's user; MySQL: give --replica-url of each replica, readable by cutover's user)",
                    replica.name
                ))
            }
            Some(lag) if lag > max_lag => {
                return Some(format!(
                    "replica {} is {:.1}s behind (limit {:.1}s)",
                    replica.name,
                    lag.as_secs_f64(),
                    max_lag.as_secs_f64()
                ))
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
        assert!(replica_throttle(&estimator, now, &[replica(None, None)], 0, limit)
            .unwrap()
            .contains("cannot be read"));
        assert!(replica_throttle(&estimator, now, &[], 1, limit).unwrap().contains("0 of 1 expected replicas"));
        assert_eq!(replica_throttle(&estimator, now, &[], 0, limit), None, "no replicas, none expected");
        let mut catching_up = replica(Some(1), None);
        catching_up.state = "catchup".to_string();
        assert!(replica_throttle(&estimator, now, &[catching_up], 0, limit).unwrap().contains("not streaming"));
        assert!(replica_throttle(&estimator, now, &[replica(Some(1), Some(1500))], 0, limit)
            .unwrap()
            .contains("1.5s behind"));
    }
}
