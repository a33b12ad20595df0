//! The rate-limit gate of one GitHub credential: mutative requests one at a time, `pace` apart,
//! within an hourly budget, and nothing while a limit holds. Must not send requests itself.

use super::GithubConfig;
use crate::render;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::Outcome;
use std::sync::Mutex as StdMutex;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The rate-limit state of one credential, shared by every output that uses it: mutative
/// requests go one at a time, `pace` apart; after a limit nothing is sent until it lifts.
pub struct Gate {
    pace: Duration,
    last_mutation: Mutex<Option<Instant>>,
    limited_until: StdMutex<Option<DateTime<Utc>>>,
    /// Mutative requests allowed per sliding hour, and when the recent ones were made.
    per_hour: usize,
    recent: StdMutex<std::collections::VecDeque<Instant>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Gate {
    pub(super) fn new(pace: Duration, per_hour: usize) -> Gate {
        Gate {
            pace,
            last_mutation: Mutex::new(None),
            limited_until: StdMutex::new(None),
            per_hour: per_hour.max(1),
            recent: StdMutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Counts one mutative request against the hourly budget, or says when there is room.
    pub(super) fn spend(&self, now: Instant) -> Result<(), Outcome> {
        let mut recent = match self.recent.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        while recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= HOUR)
        {
            recent.pop_front();
        }
        if recent.len() >= self.per_hour {
            let wait = recent
                .front()
                .map(|t| (*t + HOUR).saturating_duration_since(now))
                .unwrap_or(HOUR);
            return Err(Outcome::Retry {
                error: format!(
                    "GitHub content budget: {} changes in the last hour; waiting",
                    recent.len()
                ),
                at: Some(Utc::now() + chrono(wait)),
            });
        }
        recent.push_back(now);
        Ok(())
    }

    fn until(&self) -> Option<DateTime<Utc>> {
        match self.limited_until.lock() {
            Ok(g) => *g,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    pub(super) fn hold_until(&self, at: DateTime<Utc>) {
        let mut g = match self.limited_until.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if g.is_none_or(|u| u < at) {
            *g = Some(at);
        }
    }

    /// Err(Retry) while a rate limit holds.
    pub(super) fn check(&self, now: DateTime<Utc>) -> Result<(), Outcome> {
        match self.until() {
            Some(until) if until > now => Err(Outcome::Retry {
                error: format!(
                    "GitHub rate limit: no requests until {}",
                    render::time(until)
                ),
                at: Some(until),
            }),
            _ => Ok(()),
        }
    }

    /// Waits for this credential's turn to mutate; the turn ends when the guard drops.
    pub(super) async fn turn(&self) -> Paced<'_> {
        let guard = self.last_mutation.lock().await;
        if let Some(last) = *guard {
            tokio::time::sleep_until(last + self.pace).await;
        }
        Paced(guard)
    }
}

/// A mutative request's turn: records when it ended.
pub(super) struct Paced<'a>(tokio::sync::MutexGuard<'a, Option<Instant>>);

impl Drop for Paced<'_> {
    fn drop(&mut self) {
        *self.0 = Some(Instant::now());
    }
}

/// The key of a configuration's gate: the same credentials on the same API share one.
pub(super) fn gate_key(g: &GithubConfig, name: &str) -> String {
    let api = g.api_url.trim_end_matches('/');
    match (&g.token, g.app_id) {
        (Some(t), _) => format!("{api}\ntoken\n{}", t.expose()),
        (None, Some(app)) => format!("{api}\napp\n{app}"),
        (None, None) => format!("{api}\nnone\n{name}"),
    }
}

pub(super) fn chrono(d: Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hourly_content_budget_holds_back_and_moves_on() {
        let gate = Gate::new(Duration::ZERO, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(gate.spend(t0).is_ok());
        }
        match gate.spend(t0 + Duration::from_secs(60)) {
            Err(Outcome::Retry {
                at: Some(at),
                error,
            }) => {
                let wait = (at - Utc::now()).num_seconds();
                assert!((3500..=3600).contains(&wait), "{wait} s");
                assert!(error.contains("budget"), "{error}");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        // An hour after the first three, there is room again.
        assert!(gate.spend(t0 + HOUR + Duration::from_secs(1)).is_ok());
    }
}
