//! Conversions between chrono times and the integer microseconds the tables hold.
//! Nothing else: the store reads no clock (callers pass `now`).

use chrono::{DateTime, TimeZone, Utc};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

/// `now_us` plus a lease, in microseconds (a lease too long to count is as good as forever).
pub(crate) fn lease_until(now_us: i64, lease: std::time::Duration) -> i64 {
    now_us.saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2))
}
