//! Adaptive batch size: aim every batch at a target duration.
//!
//! A batch holds row locks until it commits, so its duration adds directly to the latency of
//! any application query that waits on those rows. A fixed row count either crawls on a cheap
//! table or holds locks for seconds on an expensive one; aiming at a time keeps the cost of each
//! batch flat as the table, the rows and the load change. The size grows slowly (at most a
//! quarter per batch) and shrinks fast (straight to what the last batch says fits), as
//! pt-online-schema-change and GitLab's batch optimizer do.

use std::time::Duration;

/// Chooses the next batch size from how long the last batch took.
#[derive(Debug, Clone)]
pub struct BatchSizer {
    // Invariant: min <= size <= max.
    size: u64,
    min: u64,
    max: u64,
    target: Duration,
}

impl BatchSizer {
    /// A sizer starting at `initial`, kept within `min..=max`, aiming at `target` per batch.
    pub fn new(initial: u64, min: u64, max: u64, target: Duration) -> BatchSizer {
        let min = min.max(1);
        let max = max.max(min);
        BatchSizer { size: initial.clamp(min, max), min, max, target }
    }

    /// The size of the next batch.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Aims the batches from now on at `target` (the pacing's batch time); the next
    /// [`observe`](Self::observe) sizes for it.
    pub fn set_target(&mut self, target: Duration) {
        self.target = target;
    }

    /// Learns from a batch of `rows` rows that took `took`; returns the next size.
    pub fn observe(&mut self, rows: u64, took: Duration) -> u64 {
        if rows == 0 || took.is_zero() {
            return self.size;
        }
        let per_row = took.as_secs_f64() / rows as f64;
        let fits = (self.target.as_secs_f64() / per_row).max(1.0) as u64;
        let next = if took > self.target {
            // Too slow: go straight to what fits, and at least halve when far over.
            let mut next = fits.min(self.size);
            if took > self.target * 2 {
                next = next.min(self.size / 2);
            }
            next
        } else {
            // Room to grow: a quarter at most, so one quick batch does not overshoot.
            fits.min(self.size + self.size / 4 + 1).max(self.size.min(fits))
        };
        self.size = next.clamp(self.min, self.max);
        self.size
    }

    /// After a statement timeout: a quarter of the size.
    pub fn shrink_hard(&mut self) -> u64 {
        self.size = (self.size / 4).clamp(self.min, self.max);
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn grows_slowly_when_batches_are_quick() {
        let mut sizer = BatchSizer::new(1000, 10, 50_000, ms(200));
        assert_eq!(sizer.observe(1000, ms(20)), 1251, "a quarter at most");
        assert_eq!(sizer.observe(1251, ms(25)), 1564);
    }

    #[test]
    fn shrinks_fast_when_batches_are_slow() {
        let mut sizer = BatchSizer::new(10_000, 10, 50_000, ms(200));
        assert_eq!(sizer.observe(10_000, ms(400)), 5000, "straight to what fits");
        assert_eq!(sizer.observe(5000, ms(2000)), 500, "far over: what fits, at most half");
    }

    #[test]
    fn stays_within_bounds_and_converges() {
        let mut sizer = BatchSizer::new(100, 50, 2000, ms(200));
        // A table where a row costs 1 ms: 200 rows fit the target.
        for _ in 0..30 {
            let rows = sizer.size();
            sizer.observe(rows, ms(rows));
        }
        assert_eq!(sizer.size(), 200);
        let mut sizer = BatchSizer::new(100, 50, 120, ms(200));
        sizer.observe(100, ms(1));
        assert_eq!(sizer.observe(120, ms(1)), 120, "capped at max");
        assert_eq!(sizer.shrink_hard(), 50, "floored at min");
    }

    #[test]
    fn a_lower_target_shrinks_the_next_batch_to_fit() {
        let mut sizer = BatchSizer::new(4000, 10, 50_000, ms(200));
        sizer.set_target(ms(20));
        assert_eq!(sizer.observe(4000, ms(200)), 400, "what fits 20 ms at 50 us a row");
    }

    #[test]
    fn empty_batches_change_nothing() {
        let mut sizer = BatchSizer::new(1000, 10, 50_000, ms(200));
        assert_eq!(sizer.observe(0, ms(5)), 1000);
    }
}
