//! The wall clock, in the shapes the tool needs: seconds since the epoch
//! (journals, locks), milliseconds (a run's timeline) and civil dates (run
//! ids, deprecation dates), with chrono's calendar and humantime's
//! durations.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// Seconds since 1970-01-01 UTC.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since 1970-01-01 UTC: the timeline of a run.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A stretch of time, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn millis(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// A moment as chrono has it, from milliseconds since the epoch.
fn at_ms(ms: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)
}

/// Today's date in UTC as `YYYY-MM-DD`, which sorts as dates do.
pub fn today() -> String {
    at_ms(now_ms())
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A moment (seconds since the epoch) as `2026-11-26T20:30:00Z`.
pub fn iso(secs: u64) -> String {
    at_ms(secs.saturating_mul(1000))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("{secs}s after the epoch"))
}

/// A moment (milliseconds since the epoch) as `20261126T203000123Z`: to
/// the millisecond, sorting as time does (a run id's first part).
pub fn compact(ms: u64) -> String {
    at_ms(ms)
        .map(|t| t.format("%Y%m%dT%H%M%S%3fZ").to_string())
        .unwrap_or_default()
}

/// The moment [`compact`] wrote, in milliseconds since the epoch; `None`
/// for any other text (a date that does not exist included).
pub fn parse_compact(text: &str) -> Option<u64> {
    let at = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S%3fZ").ok()?;
    u64::try_from(at.and_utc().timestamp_millis()).ok()
}

/// `90` (seconds), or what humantime reads: `90s`, `5m`, `1h`, `1h30m`,
/// `2days`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(std::time::Duration::from_secs)
            .map_err(|_| format!("`{text}` is too many seconds"));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("`{text}` is not a duration such as 90s, 5m or 1h"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2days"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(iso(1_764_189_000), "2025-11-26T20:30:00Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(compact(1_764_189_000_123), "20251126T203000123Z");
        assert_eq!(
            parse_compact("20251126T203000123Z"),
            Some(1_764_189_000_123)
        );
        assert_eq!(parse_compact("20260229T000000000Z"), None, "no such day");
        assert_eq!(parse_compact("20261126T253000123Z"), None);
        assert_eq!(today().len(), "2026-11-27".len());
    }
}
