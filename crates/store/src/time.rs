//! Conversions between chrono times and the integer microseconds the tables hold.
//! Nothing else: the store reads no clock (callers pass `now`).

use chrono::{DateTime, TimeZone, Utc};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}
