//! The time one verification is answered at, read once and handed down.
//!
//! One verification asks the time several times (token age and expiry, cache age, key expiry).
//! [`Now`] reads the monotonic and the wall clock once each for all of them, and expiries are
//! compared as nanoseconds since the Unix epoch, so the hot path does no calendar arithmetic; a
//! calendar date is made only when one is stored.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
pub struct Now {
    instant: Instant,
    unix_nanos: i64,
}

impl Now {
    pub fn read() -> Self {
        let unix_nanos = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
            // A clock set before 1970: every expiry is later, as it would be.
            Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
        };
        Self {
            instant: Instant::now(),
            unix_nanos,
        }
    }

    /// For ages measured on the monotonic clock (cache entries).
    pub fn instant(&self) -> Instant {
        self.instant
    }

    pub fn unix_nanos(&self) -> i64 {
        self.unix_nanos
    }

    pub fn unix_seconds(&self) -> i64 {
        self.unix_nanos.div_euclid(NANOS_PER_SECOND)
    }

    pub fn naive_utc(&self) -> NaiveDateTime {
        DateTime::from_timestamp_nanos(self.unix_nanos).naive_utc()
    }

    #[cfg(test)]
    pub fn at_unix_nanos_for_tests(unix_nanos: i64) -> Self {
        Self {
            instant: Instant::now(),
            unix_nanos,
        }
    }
}

/// `at` as nanoseconds since the Unix epoch; dates outside what that holds (before 1677,
/// after 2262) become the earliest or latest instant it does, which compare the same way.
pub fn unix_nanos_of(at: NaiveDateTime) -> i64 {
    let utc = at.and_utc();
    utc.timestamp_nanos_opt().unwrap_or(if utc.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_agree_with_chrono() {
        let before = chrono::Utc::now().naive_utc();
        let now = Now::read();
        let after = chrono::Utc::now().naive_utc();
        assert!(before <= now.naive_utc() && now.naive_utc() <= after);
        assert_eq!(now.unix_seconds(), now.naive_utc().and_utc().timestamp());
        assert_eq!(unix_nanos_of(now.naive_utc()), now.unix_nanos());
    }

    #[test]
    fn far_dates_keep_their_order() {
        let parse = |text: &str| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").expect("a date")
        };
        assert_eq!(unix_nanos_of(parse("9999-12-31 23:59:59.0")), i64::MAX);
        assert_eq!(unix_nanos_of(parse("1000-01-01 00:00:00.0")), i64::MIN);
        assert_eq!(
            unix_nanos_of(parse("1970-01-01 00:00:01.000000002")),
            1_000_000_002
        );
        assert_eq!(
            unix_nanos_of(parse("1969-12-31 23:59:59.5")),
            -500_000_000,
            "before the epoch"
        );
    }
}
