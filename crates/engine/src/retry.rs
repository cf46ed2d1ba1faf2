//! Pauses between tries, shared by everything that retries against a database (the runner, the
//! backfill, the lock pollers), so that all of them spread out the same way.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use crate::DbError;

/// How many times something is tried, and the first pause between tries (it doubles, with
/// jitter). `tries` is never zero: there is always a first try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub tries: NonZeroU32,
    /// The first pause between tries.
    pub backoff: Duration,
}

/// An operation that failed on its last try.
#[derive(Debug)]
pub struct Exhausted {
    /// The last try's error.
    pub error: DbError,
    /// How many tries were made.
    pub tries: u32,
}

/// Runs `operation` (given the 1-based try number) until it succeeds, fails with an error
/// `retryable` rejects, or has been tried `policy.tries` times. Before each pause,
/// `on_retry(try, pause, error)` is told. The one retry loop of cutover: the runner, the
/// expand/contract phases and the backfill all retry through it, with their own predicate.
pub fn retry<T>(
    policy: RetryPolicy,
    retryable: impl Fn(&DbError) -> bool,
    mut on_retry: impl FnMut(u32, Duration, &DbError),
    mut operation: impl FnMut(u32) -> Result<T, DbError>,
) -> Result<T, Exhausted> {
    let tries = policy.tries.get();
    let mut attempt = 1;
    loop {
        match operation(attempt) {
            Ok(value) => return Ok(value),
            Err(error) if attempt < tries && retryable(&error) => {
                let pause = backoff(policy.backoff, attempt);
                on_retry(attempt, pause, &error);
                std::thread::sleep(pause);
                attempt += 1;
            }
            Err(error) => return Err(Exhausted { error, tries: attempt }),
        }
    }
}

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
    use crate::DbErrorKind;

    fn lock_timeout() -> DbError {
        DbError::new(DbErrorKind::LockTimeout, "lock timeout")
    }

    #[test]
    fn retries_only_what_the_predicate_accepts_and_counts_tries() {
        let policy = RetryPolicy { tries: NonZeroU32::new(3).unwrap(), backoff: Duration::from_millis(1) };
        let mut told = Vec::new();
        let res: Result<(), _> =
            retry(policy, DbError::is_lock_contention, |n, _, _| told.push(n), |_| Err(lock_timeout()));
        assert_eq!(res.unwrap_err().tries, 3);
        assert_eq!(told, [1, 2]);

        let mut calls = 0;
        let res: Result<(), _> = retry(
            policy,
            DbError::is_lock_contention,
            |_, _, _| {},
            |_| {
                calls += 1;
                Err(DbError::new(DbErrorKind::Other, "syntax"))
            },
        );
        assert_eq!((res.unwrap_err().tries, calls), (1, 1));

        let res = retry(
            policy,
            DbError::is_lock_contention,
            |_, _, _| {},
            |n| if n < 2 { Err(lock_timeout()) } else { Ok(n) },
        );
        assert_eq!(res.unwrap(), 2);

        // One try: the operation runs once, whatever it returns.
        let once = RetryPolicy { tries: NonZeroU32::MIN, ..policy };
        let mut calls = 0;
        let _ = retry(
            once,
            |_| true,
            |_, _, _| {},
            |_| -> Result<(), DbError> {
                calls += 1;
                Err(lock_timeout())
            },
        );
        assert_eq!(calls, 1);
    }

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
