//! Conversions between chrono times and the integer microseconds the tables hold.
//! Nothing else: no clock reads here except `now()` for callers that need one.

use chrono::{DateTime, TimeZone, Utc};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}
