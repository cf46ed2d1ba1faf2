//! Pauses between tries, shared by everything that retries against a database (the runner, the
//! backfill, the lock pollers), so that all of them spread out the same way.

use std::time::{Duration, SystemTime};

/// Exponential backoff from `base` for the `attempt`-th failed try (1-based), capped at 30 s,
/// with ±50% jitter so that retrying processes, and the traffic they wait for, do not fall into
/// step.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exponential = base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(Duration::from_secs(30));
    exponential.mul_f64(0.5 + random_fraction(attempt))
}

/// A pseudo-random duration below `max`.
pub fn jitter(max: Duration) -> Duration {
    max.mul_f64(random_fraction(0))
}

/// A number in [0, 1) that differs between processes and calls: clock nanoseconds and the pid,
/// mixed with xorshift. Not for anything but spreading retries.
fn random_fraction(salt: u32) -> f64 {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut x = u64::from(nanos) ^ (u64::from(std::process::id()) << 32) ^ u64::from(salt).rotate_left(17);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 1000) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 1..=4 {
            let nominal = Duration::from_secs(1) * (1 << (attempt - 1));
            let delay = backoff(Duration::from_secs(1), attempt);
            assert!(delay >= nominal / 2 && delay <= nominal * 3 / 2, "{attempt}: {delay:?}");
        }
        assert!(backoff(Duration::from_secs(10), 20) <= Duration::from_secs(45));
        assert!(jitter(Duration::from_millis(100)) < Duration::from_millis(100));
    }
}
