//! The rate-limit gate of one GitHub credential: mutative requests one at a time, `pace` apart,
//! within an hourly budget, and nothing while a limit holds — across every instance when the
//! limits are shared ([`Pacing`]). Must not send requests itself.

use super::GithubConfig;
use crate::pacing::Pacing;
use crate::render;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::{Outcome, PaceTurn};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A shared turn further away than this is not taken: the delivery is retried then. Short, so
/// that a delivery never outlives its lease waiting (another instance would send it too).
const MAX_WAIT: Duration = Duration::from_secs(2);

/// The limits every instance shares, and this credential's key in them (a hash).
pub(super) struct SharedLimits {
    pacing: Arc<dyn Pacing>,
    key: String,
}

impl SharedLimits {
    /// The shared limits of the credential whose gate key is `gate_key` (it holds the token,
    /// so only its hash is ever stored).
    pub(super) fn new(pacing: Arc<dyn Pacing>, gate_key: &str) -> SharedLimits {
        let key = format!(
            "github:{}",
            hex::encode(Sha256::digest(gate_key.as_bytes()))
        );
        SharedLimits { pacing, key }
    }
}

/// The rate-limit state of one credential, shared by every output that uses it: mutative
/// requests go one at a time, `pace` apart; after a limit nothing is sent until it lifts.
pub struct Gate {
    pace: Duration,
    last_mutation: Mutex<Option<Instant>>,
    limited_until: StdMutex<Option<DateTime<Utc>>>,
    /// Mutative requests allowed per sliding hour, and when the recent ones were made.
    per_hour: usize,
    recent: StdMutex<std::collections::VecDeque<Instant>>,
    /// The same limits, kept for every instance; `None`: this process's are the only ones.
    shared: Option<SharedLimits>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Gate {
    pub(super) fn new(pace: Duration, per_hour: usize, shared: Option<SharedLimits>) -> Gate {
        Gate {
            pace,
            last_mutation: Mutex::new(None),
            limited_until: StdMutex::new(None),
            per_hour: per_hour.max(1),
            recent: StdMutex::new(std::collections::VecDeque::new()),
            shared,
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
            if let Some(shared) = &self.shared {
                // the other instances learn of the limit too (best effort: each would meet it)
                let (pacing, key) = (Arc::clone(&shared.pacing), shared.key.clone());
                tokio::spawn(async move {
                    if let Err(e) = pacing.hold(&key, at).await {
                        tracing::warn!(error = %e, "cannot share a GitHub rate limit");
                    }
                });
            }
        }
    }

    /// Err(Retry) while a rate limit holds (here, or seen by another instance).
    pub(super) async fn check(&self, now: DateTime<Utc>) -> Result<(), Outcome> {
        let mut until = self.until().filter(|u| *u > now);
        if until.is_none() {
            if let Some(shared) = &self.shared {
                match shared.pacing.held(&shared.key).await {
                    Ok(held) => until = held.filter(|u| *u > now),
                    Err(e) => tracing::warn!(error = %e, "cannot read the shared GitHub limits"),
                }
            }
        }
        match until {
            Some(until) => Err(limited(until)),
            None => Ok(()),
        }
    }

    /// Waits for this credential's turn to mutate (`pace` after the last one, within the
    /// hourly budget; the turn ends when the guard drops), or says when to try again.
    pub(super) async fn turn(&self) -> Result<Paced<'_>, Outcome> {
        let guard = self.last_mutation.lock().await;
        if let Some(shared) = &self.shared {
            let per_hour = u32::try_from(self.per_hour).unwrap_or(u32::MAX);
            match shared
                .pacing
                .reserve(&shared.key, self.pace, per_hour, MAX_WAIT)
                .await
            {
                Ok(PaceTurn::Later(at)) => {
                    return Err(Outcome::Retry {
                        error: format!(
                            "GitHub pacing: this credential's next turn is at {}",
                            render::time(at)
                        ),
                        at: Some(at),
                    })
                }
                Ok(PaceTurn::At(at)) => {
                    let wait = (at - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait.min(MAX_WAIT)).await;
                    // a limit may have been hit while this request waited its turn
                    self.check(Utc::now()).await?;
                    return Ok(Paced(guard));
                }
                Ok(PaceTurn::Budget { taken, until }) => {
                    return Err(Outcome::Retry {
                        error: format!(
                            "GitHub content budget: {taken} changes in the last hour; waiting"
                        ),
                        at: Some(until),
                    })
                }
                Ok(PaceTurn::Held(until)) => return Err(limited(until)),
                // the database is away: this process's own limits keep Irene polite
                Err(e) => tracing::warn!(error = %e, "cannot take a shared GitHub turn"),
            }
        }
        if let Some(last) = *guard {
            tokio::time::sleep_until(last + self.pace).await;
        }
        self.check(Utc::now()).await?;
        self.spend(Instant::now())?;
        Ok(Paced(guard))
    }
}

fn limited(until: DateTime<Utc>) -> Outcome {
    Outcome::Retry {
        error: format!(
            "GitHub rate limit: no requests until {}",
            render::time(until)
        ),
        at: Some(until),
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
        let gate = Gate::new(Duration::ZERO, 3, None);
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
