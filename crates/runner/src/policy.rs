//! Maintenance windows: migrations whose effects block or rewrite existing tables run only
//! inside one (`[policy] windows = ["Sat 02:00-05:00 UTC", "daily 01:00-01:30 UTC"]`), unless
//! `--outside-window REASON` is given, which is recorded as an approval.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A weekly (or daily) window, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// 0 = Monday .. 6 = Sunday; `None` for every day.
    day: Option<u8>,
    /// Minutes after midnight UTC.
    start: u32,
    /// Minutes after midnight UTC; a window may end after midnight (`23:00-01:00`).
    end: u32,
}

impl Window {
    /// Parses `Sat 02:00-05:00 UTC`, `daily 01:00-01:30 UTC`.
    pub fn parse(text: &str) -> Result<Window, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let explain =
            || format!("`{text}` is not a window; write it as `Sat 02:00-05:00 UTC` or `daily 01:00-01:30 UTC`");
        let [day, range, zone] = words.as_slice() else { return Err(explain()) };
        if !zone.eq_ignore_ascii_case("UTC") {
            return Err(format!("`{text}`: windows are in UTC (write the time in UTC and end with `UTC`)"));
        }
        let day = if day.eq_ignore_ascii_case("daily") {
            None
        } else {
            // `get`, not slicing: a day word may start with a multi-byte character (found by fuzzing).
            let prefix = day.get(..3).unwrap_or(day);
            Some(DAY_NAMES.iter().position(|d| d.eq_ignore_ascii_case(prefix)).ok_or_else(explain)? as u8)
        };
        let (start, end) = range.split_once('-').ok_or_else(explain)?;
        let minutes = |hm: &str| -> Option<u32> {
            let (h, m) = hm.split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
        };
        let (start, end) = (minutes(start).ok_or_else(explain)?, minutes(end).ok_or_else(explain)?);
        if start == end {
            return Err(format!("`{text}`: the window is empty"));
        }
        Ok(Window { day, start, end })
    }

    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: SystemTime) -> bool {
        let (weekday, minute) = weekday_minute(now);
        let starts_on = |day: u8| self.day.is_none_or(|d| d == day);
        if self.start < self.end {
            starts_on(weekday) && (self.start..self.end).contains(&minute)
        } else {
            // Over midnight: the tail belongs to the window that started the day before.
            (starts_on(weekday) && minute >= self.start) || (starts_on((weekday + 6) % 7) && minute < self.end)
        }
    }

    /// When it next opens after `now` (or `now` when it is open).
    pub fn next_open(&self, now: SystemTime) -> SystemTime {
        if self.is_open(now) {
            return now;
        }
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let day_start = secs - secs % 86_400;
        // The next 8 days' starts cover every weekly window.
        (0..8u64)
            .map(|d| day_start + d * 86_400 + u64::from(self.start) * 60)
            .map(|t| UNIX_EPOCH + Duration::from_secs(t))
            .find(|t| *t > now && self.is_open(*t))
            .unwrap_or(now)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = self.day.map_or("daily", |d| DAY_NAMES[d as usize]);
        write!(f, "{day} {:02}:{:02}-{:02}:{:02} UTC", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

/// Day of the week (0 = Monday) and minute of the day, in UTC.
fn weekday_minute(now: SystemTime) -> (u8, u32) {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    // 1970-01-01 was a Thursday.
    let weekday = ((days + 3) % 7) as u8;
    (weekday, ((secs % 86_400) / 60) as u32)
}

/// Whether any of `windows` is open at `now`, and when the next one opens if none is.
pub fn window_state(windows: &[Window], now: SystemTime) -> (bool, Option<SystemTime>) {
    if windows.iter().any(|w| w.is_open(now)) {
        return (true, None);
    }
    (false, windows.iter().map(|w| w.next_open(now)).min())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn weekly_and_daily_windows() {
        let saturday = Window::parse("Sat 02:00-05:00 UTC").unwrap();
        // 2026-11-28 is a Saturday.
        assert!(saturday.is_open(at("2026-11-28T03:00:00Z")));
        assert!(!saturday.is_open(at("2026-11-28T05:00:00Z")));
        assert!(!saturday.is_open(at("2026-11-27T03:00:00Z")));
        assert_eq!(saturday.next_open(at("2026-11-25T12:00:00Z")), at("2026-11-28T02:00:00Z"));
        assert_eq!(saturday.next_open(at("2026-11-28T06:00:00Z")), at("2026-12-05T02:00:00Z"));
        let nightly = Window::parse("daily 23:30-00:30 UTC").unwrap();
        assert!(nightly.is_open(at("2026-11-25T00:10:00Z")));
        assert!(nightly.is_open(at("2026-11-25T23:45:00Z")));
        assert!(!nightly.is_open(at("2026-11-25T12:00:00Z")));
        assert_eq!(nightly.to_string(), "daily 23:30-00:30 UTC");
    }

    #[test]
    fn bad_windows_are_errors() {
        assert!(Window::parse("Sat 02:00-05:00 CET").unwrap_err().contains("UTC"));
        assert!(Window::parse("someday 02:00-05:00 UTC").is_err());
        assert!(Window::parse("Sat 02:00 UTC").is_err());
        assert!(Window::parse("Sat 25:00-26:00 UTC").is_err());
        // Found by the settings fuzz target: a day word whose third byte is inside a character.
        assert!(Window::parse("éé 01:00-02:00 UTC").is_err());
        assert!(Window::parse("Пн 01:00-02:00 UTC").is_err());
    }
}
