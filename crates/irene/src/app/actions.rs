//! What people and services ask of cases, deliveries and the quarantine: resolve or reopen a
//! case, follow a ticket closed or reopened on its service, replay a dead letter or a
//! quarantined item. Each wakes the worker that has new work and counts the case transition,
//! once, here.

use super::App;
use irene_core::{Case, Change};
use irene_store::{DeliveryRow, Result};
use uuid::Uuid;

/// Investigations asked for by hand: their batch (one note when all have finished).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Requested {
    pub batch: Uuid,
    pub investigators: Vec<String>,
}

/// Why investigations could not be asked for.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("investigations are disabled ([investigate] enabled = false)")]
    Disabled,
    #[error("no investigator {name:?} in this configuration (available: {})", available.join(", "))]
    Unknown {
        name: String,
        available: Vec<String>,
    },
    #[error("no such case")]
    NoCase,
    #[error(transparent)]
    Store(irene_store::StoreError),
}

/// A case after an action, and whether the action changed it.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub case: Case,
    pub changed: bool,
}

impl App {
    /// Counts a case change's transitions and wakes the delivery worker for its deliveries.
    fn changed(&self, change: &Option<Change>) {
        let Some(change) = change else { return };
        for t in &change.transitions {
            metrics::counter!("irene_case_transitions_total", "transition" => t.as_str())
                .increment(1);
        }
        self.deliver_wake.notify_one();
    }

    /// Resolves a case by hand (`by` is who, `reason` why). `Ok(None)`: no such case.
    pub async fn resolve_case(
        &self,
        id: Uuid,
        by: &str,
        reason: &str,
    ) -> Result<Option<CaseOutcome>> {
        let Some((case, change)) = self
            .store
            .case_resolve(id, by, reason, chrono::Utc::now())
            .await?
        else {
            return Ok(None);
        };
        self.changed(&change);
        Ok(Some(CaseOutcome {
            case,
            changed: change.is_some(),
        }))
    }

    /// Reopens a resolved case by hand (`by` is who). `Ok(None)`: no such case.
    pub async fn reopen_case(&self, id: Uuid, by: &str) -> Result<Option<CaseOutcome>> {
        let Some((case, change)) = self.store.case_reopen(id, by, chrono::Utc::now()).await? else {
            return Ok(None);
        };
        self.changed(&change);
        Ok(Some(CaseOutcome {
            case,
            changed: change.is_some(),
        }))
    }

    /// A person opened (`open`) or closed the ticket `reference` on `output`: the case follows,
    /// and every other output is told. `Ok(None)`: no case has that ticket.
    pub async fn set_case_by_ticket(
        &self,
        output: &str,
        reference: &str,
        open: bool,
        by: &str,
    ) -> Result<Option<CaseOutcome>> {
        let Some((case, change)) = self
            .store
            .case_set_by_ticket(output, reference, open, by, chrono::Utc::now())
            .await?
        else {
            return Ok(None);
        };
        if change.is_some() {
            tracing::info!(case = %case.id, output, by, open, "case changed from its ticket");
        }
        self.changed(&change);
        Ok(Some(CaseOutcome {
            case,
            changed: change.is_some(),
        }))
    }

    /// Runs investigations on a case now, by hand: `only` one investigator, or every one the
    /// policies name. Wakes the investigation worker.
    pub async fn investigate_case(
        &self,
        id: Uuid,
        only: Option<&str>,
    ) -> std::result::Result<Requested, RequestError> {
        if self.investigators.is_empty() {
            return Err(RequestError::Disabled);
        }
        let names = match only {
            Some(name) if self.investigators.iter().any(|n| n == name) => vec![name.to_string()],
            Some(name) => {
                return Err(RequestError::Unknown {
                    name: name.to_string(),
                    available: self.investigators.to_vec(),
                })
            }
            None => {
                let named = self.policies.investigators();
                if named.is_empty() {
                    self.investigators.to_vec()
                } else {
                    named
                }
            }
        };
        let batch = self
            .store
            .investigations_request(id, &names, "manual", chrono::Utc::now())
            .await
            .map_err(RequestError::Store)?
            .ok_or(RequestError::NoCase)?;
        metrics::counter!("irene_investigations_requested_total").increment(names.len() as u64);
        self.investigate_wake.notify_one();
        Ok(Requested {
            batch,
            investigators: names,
        })
    }

    /// Replays a dead letter. `Ok(None)`: no such dead letter.
    pub async fn retry_delivery(&self, id: i64) -> Result<Option<DeliveryRow>> {
        let row = self.store.outbox_retry(id, chrono::Utc::now()).await?;
        if row.is_some() {
            metrics::counter!("irene_deliveries_replayed_total").increment(1);
            self.deliver_wake.notify_one();
        }
        Ok(row)
    }

    /// Puts a quarantined item back into the inbox as a new payload (after a fix); returns the
    /// new inbox id. `Ok(None)`: no such entry, or already requeued.
    pub async fn requeue_quarantined(&self, id: Uuid) -> Result<Option<Uuid>> {
        let inbox = self
            .store
            .quarantine_requeue(id, chrono::Utc::now())
            .await?;
        if inbox.is_some() {
            metrics::counter!("irene_quarantine_requeued_total").increment(1);
            self.wake.notify_one();
        }
        Ok(inbox)
    }
}
