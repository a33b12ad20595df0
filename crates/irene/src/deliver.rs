//! The delivery worker: claims due outbox rows, runs each lane (one case on one output) in
//! order through its output, and records every outcome with backoff. It decides no routing.

use crate::config::DeliveryConfig;
use crate::worker::{Worker, WorkerState};
use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Delivery, Outcome, TicketState};
use irene_outputs::{Journal, Output};
use irene_store::{Finish, Store};
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;

const IDLE_POLL: Duration = Duration::from_secs(5);

pub struct Deliverer {
    pub store: Arc<dyn Store>,
    pub outputs: Arc<HashMap<String, Arc<dyn Output>>>,
    pub cfg: DeliveryConfig,
    pub owner: String,
    pub wake: Arc<Notify>,
}

/// Records intents through the store, durably, before the output makes a call a crash could lose.
struct StoreJournal {
    store: Arc<dyn Store>,
    kind: &'static str,
}

#[async_trait]
impl Journal for StoreJournal {
    async fn record_intent(&self, d: &Delivery, ticket: &TicketState) -> Result<(), String> {
        let Some(case_id) = d.case_id else {
            return Err("a delivery without a case has no ticket".into());
        };
        self.store
            .ticket_record(case_id, &d.output, self.kind, ticket, Utc::now())
            .await
            .map_err(|e| e.to_string())
    }
}

/// Exponential backoff from `base`, doubling per attempt up to `max`, with full jitter on the
/// upper half so that many failed deliveries do not come back in step.
pub fn backoff(attempts: u32, base: Duration, max: Duration) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempts.min(20))
        .min(max)
        .max(Duration::from_millis(1));
    let half = exp / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

/// Turns an output's outcome into what the store records: the retry time (the service's own
/// if it said, else backoff), or a dead letter once the attempts are spent.
pub fn finish_for(
    outcome: Outcome,
    kind: &str,
    attempts_before: u32,
    cfg: &DeliveryConfig,
    now: DateTime<Utc>,
) -> Finish {
    match outcome {
        Outcome::Done { ticket, note } => Finish::Done {
            kind: kind.to_string(),
            ticket,
            note,
        },
        Outcome::Dead { error } => Finish::Dead { error },
        Outcome::Defer { until } => Finish::Defer { until },
        Outcome::Retry { error, at } => {
            let attempts = attempts_before + 1;
            if attempts >= cfg.max_attempts {
                return Finish::Dead {
                    error: format!("gave up after {attempts} attempts; last error: {error}"),
                };
            }
            let wait = backoff(attempts_before, cfg.backoff_base, cfg.backoff_max);
            let backoff_at = now + chrono::Duration::from_std(wait).unwrap_or_default();
            Finish::Retry {
                error,
                next_at: match at {
                    Some(at) if at > now => at,
                    _ => backoff_at,
                },
            }
        }
    }
}

/// The delivery worker: one unit claims a batch of due deliveries and runs their lanes.
pub struct DeliveryWorker(Arc<Deliverer>);

impl Deliverer {
    pub fn worker(self) -> DeliveryWorker {
        DeliveryWorker(Arc::new(self))
    }
}

#[async_trait]
impl Worker for DeliveryWorker {
    fn name(&self) -> &'static str {
        "delivery"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        let this = &self.0;
        let lease = Duration::from_secs(this.cfg.lease_secs.max(1));
        let claimed = this
            .store
            .outbox_claim(&this.owner, this.cfg.batch.max(1), lease, Utc::now())
            .await
            .context("claiming deliveries")?;
        if claimed.is_empty() {
            return Ok(WorkerState::Idle);
        }
        // Lanes in claim order; one task per lane, each lane strictly in order.
        let mut lanes: BTreeMap<(Option<uuid::Uuid>, String), Vec<Delivery>> = BTreeMap::new();
        for d in claimed {
            lanes
                .entry((d.case_id, d.output.clone()))
                .or_default()
                .push(d);
        }
        let mut tasks = JoinSet::new();
        for (_, lane) in lanes {
            let this = this.clone();
            tasks.spawn(async move { this.run_lane(lane).await });
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                // An output panicked: its deliveries stay leased and come back after the lease.
                tracing::error!(error = %e, "a delivery task failed");
            }
        }
        Ok(WorkerState::Busy)
    }

    async fn wait_for_work(&mut self) {
        let sleep = match self.0.store.outbox_next_due().await {
            Ok(Some(at)) => (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::from_millis(10))
                .min(IDLE_POLL),
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = self.0.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }

    async fn stop(&mut self) {
        match self.0.store.outbox_release(&self.0.owner).await {
            Ok(n) if n > 0 => tracing::info!(deliveries = n, "released unsent deliveries"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "releasing deliveries failed; their leases expire")
            }
        }
    }
}

impl Deliverer {
    async fn run_lane(&self, lane: Vec<Delivery>) {
        let mut blocked = false;
        for d in lane {
            if blocked {
                // An earlier delivery of this lane did not go through: this one waits for it.
                let _ = self
                    .store
                    .outbox_finish(
                        &self.owner,
                        d.id,
                        Finish::Defer { until: Utc::now() },
                        Utc::now(),
                    )
                    .await;
                continue;
            }
            blocked = !self.deliver_one(d).await;
        }
    }

    /// Delivers one row and records the outcome. True when the lane may go on.
    async fn deliver_one(&self, d: Delivery) -> bool {
        let Some(output) = self.outputs.get(&d.output).cloned() else {
            let finish = Finish::Dead {
                error: format!(
                    "output {:?} is not configured (any more); restore it and retry",
                    d.output
                ),
            };
            let _ = self
                .store
                .outbox_finish(&self.owner, d.id, finish, Utc::now())
                .await;
            return true;
        };
        let journal = StoreJournal {
            store: self.store.clone(),
            kind: output.kind(),
        };
        let started = Instant::now();
        let outcome = output.deliver(&d, &journal).await;
        let name = d.output.clone();
        metrics::histogram!("irene_delivery_seconds", "output" => name.clone())
            .record(started.elapsed().as_secs_f64());
        let finish = finish_for(outcome, output.kind(), d.attempts, &self.cfg, Utc::now());
        let (result, go_on) = match &finish {
            Finish::Done { note, .. } => {
                tracing::info!(output = %name, action = d.action.as_str(), case = ?d.case_id, note, "delivered");
                ("sent", true)
            }
            Finish::Retry { error, next_at } => {
                tracing::warn!(output = %name, action = d.action.as_str(), case = ?d.case_id, attempts = d.attempts + 1, %next_at, error, "delivery failed; will retry");
                ("retried", false)
            }
            Finish::Dead { error } => {
                tracing::error!(output = %name, action = d.action.as_str(), case = ?d.case_id, error, "delivery dead-lettered");
                ("dead", true)
            }
            // Only repeats defer, and a repeat never holds its lane up.
            Finish::Defer { .. } => ("deferred", true),
        };
        if matches!(finish, Finish::Retry { .. } | Finish::Dead { .. }) {
            metrics::counter!("irene_deliveries_total", "output" => name.clone(), "result" => "failed")
                .increment(1);
        }
        metrics::counter!("irene_deliveries_total", "output" => name, "result" => result)
            .increment(1);
        if let Err(e) = self
            .store
            .outbox_finish(&self.owner, d.id, finish, Utc::now())
            .await
        {
            tracing::error!(error = %e, delivery = d.id, "recording a delivery failed; it will be retried after its lease");
            return false;
        }
        go_on
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DeliveryConfig {
        DeliveryConfig::default()
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(300);
        for attempts in 0..30 {
            let b = backoff(attempts, base, max);
            let exp = base.saturating_mul(1u32 << attempts.min(20)).min(max);
            assert!(
                b >= exp / 2 && b <= exp,
                "attempt {attempts}: {b:?} vs {exp:?}"
            );
        }
    }

    #[test]
    fn outcomes_become_store_records() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(30);
        let c = cfg();
        // The service's own time wins.
        let f = finish_for(
            Outcome::Retry {
                error: "429".into(),
                at: Some(later),
            },
            "slack",
            0,
            &c,
            now,
        );
        assert_eq!(
            f,
            Finish::Retry {
                error: "429".into(),
                next_at: later
            }
        );
        // Without one: backoff after now.
        let Finish::Retry { next_at, .. } = finish_for(
            Outcome::Retry {
                error: "502".into(),
                at: None,
            },
            "github",
            3,
            &c,
            now,
        ) else {
            panic!("expected a retry")
        };
        assert!(next_at > now);
        // Spent attempts: a dead letter that keeps the last error.
        let Finish::Dead { error } = finish_for(
            Outcome::Retry {
                error: "502 Bad Gateway".into(),
                at: None,
            },
            "github",
            c.max_attempts - 1,
            &c,
            now,
        ) else {
            panic!("expected a dead letter")
        };
        assert!(error.contains("502 Bad Gateway"), "{error}");
        assert_eq!(
            finish_for(
                Outcome::Dead {
                    error: "404".into()
                },
                "github",
                0,
                &c,
                now
            ),
            Finish::Dead {
                error: "404".into()
            }
        );
    }
}
