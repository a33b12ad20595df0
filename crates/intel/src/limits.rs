//! One provider's pace: requests per minute spaced evenly, a block after a 429 until its
//! `Retry-After`, and the reading of rate-limit headers. In memory; the daily count is the store's.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use reqwest::header::HeaderMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A 429 that says nothing about when to come back is waited out for this long.
pub(crate) const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

pub(crate) struct Limits {
    /// Between two requests (zero: unpaced).
    interval: Duration,
    /// Longest a lookup waits in line (for its turn or a short `Retry-After`).
    pub(crate) max_wait: Duration,
    state: Mutex<State>,
}

struct State {
    /// The earliest the next request may go.
    next: Instant,
    /// Nothing is asked before this (after a 429).
    blocked_until: Option<Instant>,
}

/// `later` as a wall-clock time, `now` being the wall clock at the instant `at`.
fn wall(now: DateTime<Utc>, at: Instant, later: Instant) -> DateTime<Utc> {
    let d = later.saturating_duration_since(at);
    now + ChronoDuration::from_std(d).unwrap_or_else(|_| ChronoDuration::days(1))
}

impl Limits {
    pub(crate) fn new(per_minute: u32, max_wait: Duration) -> Limits {
        let interval = if per_minute == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(60) / per_minute
        };
        Limits {
            interval,
            max_wait,
            state: Mutex::new(State {
                next: Instant::now(),
                blocked_until: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the provider may be asked again, if a 429 blocked it.
    pub(crate) fn blocked(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let at = Instant::now();
        let mut st = self.state();
        match st.blocked_until {
            Some(until) if until > at => Some(wall(now, at, until)),
            Some(_) => {
                st.blocked_until = None;
                None
            }
            None => None,
        }
    }

    /// Blocks the provider for `d` (a 429 too long to wait for in line).
    pub(crate) fn block(&self, d: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
        let at = Instant::now();
        let until = at + d;
        let mut st = self.state();
        st.blocked_until = Some(st.blocked_until.map_or(until, |b| b.max(until)));
        st.next = st.next.max(until);
        wall(now, at, until)
    }

    /// Takes the next turn: how long to wait for it, or, when that is longer than `max_wait`,
    /// the time to come back (nothing is taken then).
    pub(crate) fn reserve(&self, now: DateTime<Utc>) -> Result<Duration, DateTime<Utc>> {
        let at = Instant::now();
        let mut st = self.state();
        let slot = st.next.max(at);
        let wait = slot - at;
        if wait > self.max_wait {
            return Err(wall(now, at, slot));
        }
        st.next = slot + self.interval;
        Ok(wait)
    }
}

/// How long a 429 asks us to wait: `Retry-After` (seconds or an HTTP date), else
/// `X-RateLimit-Reset` (a Unix time, as AbuseIPDB sends it). `None` when neither is usable.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = text("retry-after") {
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(t) = DateTime::parse_from_rfc2822(v) {
            return Some(
                (t.with_timezone(&Utc) - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    let reset = text("x-ratelimit-reset")?.parse::<i64>().ok()?;
    let t = Utc.timestamp_opt(reset, 0).single()?;
    Some((t - now).to_std().unwrap_or(Duration::ZERO))
}

/// The next UTC midnight: when a daily count starts again.
pub(crate) fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive() + ChronoDuration::days(1);
    tomorrow
        .and_hms_opt(0, 0, 0)
        .map(|t| Utc.from_utc_datetime(&t))
        .unwrap_or(now + ChronoDuration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_and_a_long_wait_is_refused() {
        // 4 a minute: one every 15 s; we wait in line for at most 20 s.
        let l = Limits::new(4, Duration::from_secs(20));
        assert_eq!(l.reserve(t0()), Ok(Duration::ZERO));
        assert_eq!(l.reserve(t0()), Ok(Duration::from_secs(15)));
        // the third would wait 30 s: refused, with the time to come back, and nothing taken
        assert_eq!(l.reserve(t0()), Err(t0() + ChronoDuration::seconds(30)));
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(l.reserve(t0()), Ok(Duration::from_secs(15)));
        // unpaced
        let free = Limits::new(0, Duration::ZERO);
        for _ in 0..10 {
            assert_eq!(free.reserve(t0()), Ok(Duration::ZERO));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_block_holds_until_it_ends() {
        let l = Limits::new(60, Duration::from_secs(5));
        assert_eq!(l.blocked(t0()), None);
        let until = l.block(Duration::from_secs(120), t0());
        assert_eq!(until, t0() + ChronoDuration::seconds(120));
        assert_eq!(l.blocked(t0()), Some(until));
        assert!(l.reserve(t0()).is_err(), "no turn while blocked");
        tokio::time::advance(Duration::from_secs(121)).await;
        assert_eq!(l.blocked(t0()), None);
        assert_eq!(l.reserve(t0()), Ok(Duration::ZERO));
    }

    #[test]
    fn retry_after_table() {
        let now = t0();
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            m
        };
        let reset = (now.timestamp() + 90).to_string();
        let cases: Vec<(HeaderMap, Option<u64>)> = vec![
            (h(&[("retry-after", "2")]), Some(2)),
            (
                h(&[("retry-after", "Fri, 01 May 2026 12:01:00 GMT")]),
                Some(60),
            ),
            (
                h(&[("retry-after", "Fri, 01 May 2026 11:00:00 GMT")]),
                Some(0),
            ),
            (h(&[("x-ratelimit-reset", &reset)]), Some(90)),
            (
                h(&[("retry-after", "soon"), ("x-ratelimit-reset", &reset)]),
                Some(90),
            ),
            (h(&[]), None),
            (h(&[("retry-after", "soon")]), None),
        ];
        for (headers, want) in cases {
            assert_eq!(
                retry_after(&headers, now),
                want.map(Duration::from_secs),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn days_end_at_utc_midnight() {
        assert_eq!(
            next_utc_midnight(t0()),
            Utc.with_ymd_and_hms(2026, 5, 2, 0, 0, 0).unwrap()
        );
    }
}
