//! The pipeline worker: claims inbox payloads, evaluates their items (decode → Sigma → triage,
//! `evaluate.rs`) and hands the results to the store's commit, which decides newness, feeds the
//! correlation windows and writes the case changes with their deliveries in one transaction.
//! It must not talk to the network nor keep state between batches.

use crate::config::PipelineConfig;
use crate::evaluate::evaluate;
use crate::worker::{Worker, WorkerState};
use anyhow::Context;
use irene_core::Transition;
use irene_rules::sigma::SigmaRules;
use irene_rules::TriageRules;
use irene_sources::{decoder, split_payload, Limits};
use irene_store::{ClaimLimit, InboxRow, Processed, ProcessedEvent, Quarantined, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const IDLE_POLL: Duration = Duration::from_secs(5);
const LINGER: Duration = Duration::from_millis(50);

pub struct Pipeline {
    pub store: Arc<dyn Store>,
    /// The live settings: each batch is judged with the rules live when it starts.
    pub settings: Arc<crate::settings::live::Live>,
    pub limits: Arc<Limits>,
    pub cfg: PipelineConfig,
    pub owner: String,
    pub wake: Arc<Notify>,
    /// Wakes the delivery worker after a commit that changed cases.
    pub deliver_wake: Arc<Notify>,
    /// Woken after a commit that changed cases (it may have planned investigations).
    pub investigate_wake: Arc<Notify>,
    /// No outputs are configured: log case openings, reopenings and resolutions instead.
    pub log_changes: bool,
}

/// Decodes and judges one payload. Never panics and never fails: whatever cannot be used is
/// quarantined with the reason, item by item, so one bad item never holds back the others.
/// Stateless only: correlation windows are counted by the store's commit, once it knows which
/// events are new (see `detect.rs`).
pub fn process_row(
    row: &InboxRow,
    rules: &TriageRules,
    sigma: &SigmaRules,
    limits: &Limits,
    max_attempts: i64,
) -> Processed {
    let mut out = Processed {
        inbox_id: row.id,
        received_at: row.received_at,
        alerts: Vec::new(),
        events: Vec::new(),
        quarantine: Vec::new(),
        complete_scan: row.complete_scan,
    };
    let whole = |error: String| Quarantined {
        item_index: -1,
        source: row.source.clone(),
        error,
        raw: String::from_utf8_lossy(&row.body).into_owned(),
    };
    if row.attempts > max_attempts {
        out.quarantine.push(whole(format!(
            "processing failed {} times; set aside",
            row.attempts - 1
        )));
        return out;
    }
    let Some(dec) = decoder(&row.source) else {
        out.quarantine
            .push(whole(format!("unknown source {:?}", row.source)));
        return out;
    };
    let items = match split_payload(&row.body, limits) {
        Ok(items) => items,
        Err(e) => {
            out.quarantine.push(whole(format!("payload: {e}")));
            return out;
        }
    };
    for (index, item) in items.iter().enumerate() {
        let index = index as i64;
        match evaluate(dec, item, row.received_at, sigma, |a| rules.judge(a)) {
            Ok(evaluated) => {
                // Sigma hits count only if their event is new: the store decides, and only then
                // feeds the event's detections to the correlation windows.
                out.events
                    .extend(evaluated.events.into_iter().map(|e| ProcessedEvent {
                        index,
                        event: e.event,
                        detections: e.detections,
                        hits: e.hits,
                    }));
                out.alerts
                    .extend(evaluated.alerts.into_iter().map(|j| (index, j)));
            }
            Err(e) => out.quarantine.push(Quarantined {
                item_index: index,
                source: row.source.clone(),
                error: e.to_string(),
                raw: item.to_string(),
            }),
        }
    }
    out
}

#[async_trait::async_trait]
impl Worker for Pipeline {
    fn name(&self) -> &'static str {
        "pipeline"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        let lease = Duration::from_secs(self.cfg.lease_secs.max(1));
        let rows = self
            .store
            .inbox_claim(
                &self.owner,
                ClaimLimit {
                    payloads: self.cfg.batch.max(1),
                    items: self.cfg.max_items.max(1),
                },
                lease,
                chrono::Utc::now(),
            )
            .await
            .context("claiming inbox payloads")?;
        if rows.is_empty() {
            return Ok(WorkerState::Idle);
        }
        let partial = rows.len() < self.cfg.batch.max(1)
            && rows.iter().map(|r| r.items).sum::<i64>() < self.cfg.max_items;
        self.handle(rows).await?;
        Ok(if partial {
            // A trickle: let a few more payloads gather so that one transaction carries
            // them all, instead of racing the intake for the writer on every request.
            WorkerState::Throttled(LINGER)
        } else {
            WorkerState::Busy
        })
    }

    async fn wait_for_work(&mut self) {
        tokio::select! {
            _ = self.wake.notified() => {}
            // New payloads wake the worker at once; the timer only catches leases that
            // expired under another process.
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }

    async fn stop(&mut self) {
        match self.store.inbox_release(&self.owner).await {
            Ok(n) if n > 0 => tracing::info!(payloads = n, "released unprocessed payloads"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "releasing leases failed; they expire on their own")
            }
        }
    }
}

impl Pipeline {
    /// Processes and commits claimed rows. An error leaves them leased: they are retried when
    /// the lease expires (and quarantined whole after `max_attempts`).
    async fn handle(&self, rows: Vec<InboxRow>) -> anyhow::Result<()> {
        let started = Instant::now();
        let snap = self.settings.load();
        let rules = snap.triage.clone();
        let sigma = snap.sigma.clone();
        let limits = self.limits.clone();
        let max_attempts = self.cfg.max_attempts;
        let processed = tokio::task::spawn_blocking(move || {
            rows.iter()
                .map(|r| process_row(r, &rules, &sigma, &limits, max_attempts))
                .collect::<Vec<_>>()
        })
        .await
        // process_row catches decoder panics; failing here means a bug elsewhere.
        .context("the processing task failed")?;
        metrics::histogram!("irene_stage_seconds", "stage" => "decode_triage")
            .record(started.elapsed().as_secs_f64());
        for p in &processed {
            for (_, judged) in &p.alerts {
                metrics::counter!("irene_decoded_total", "source" => judged.alert.source.clone())
                    .increment(1);
            }
            for q in &p.quarantine {
                metrics::counter!("irene_quarantined_total", "source" => q.source.clone())
                    .increment(1);
            }
        }
        let commit_started = Instant::now();
        let summary = self
            .store
            .commit_processed(&self.owner, processed, chrono::Utc::now())
            .await
            .context("committing processed payloads (they will be retried)")?;
        if summary.rows_skipped > 0 {
            tracing::warn!(
                skipped = summary.rows_skipped,
                "payloads were taken over by another worker"
            );
        }
        metrics::histogram!("irene_stage_seconds", "stage" => "commit")
            .record(commit_started.elapsed().as_secs_f64());
        if !summary.changes.is_empty() {
            self.deliver_wake.notify_one();
            self.investigate_wake.notify_one();
        }
        if self.log_changes {
            log_changes(&summary.changes);
        }
        for change in &summary.changes {
            for t in &change.transitions {
                metrics::counter!("irene_case_transitions_total", "transition" => t.as_str())
                    .increment(1);
            }
        }
        Ok(())
    }
}

/// What an Irene without outputs says instead of notifying: one line per case opened,
/// reopened or resolved (repeats stay quiet).
fn log_changes(changes: &[irene_core::Change]) {
    for ch in changes {
        for t in ch
            .transitions
            .iter()
            .filter(|t| **t != Transition::Occurrence)
        {
            tracing::info!(case = %ch.case.id, severity = ch.case.severity.as_str(), title = %ch.case.title, "case {} (no outputs configured)", t.as_str());
        }
    }
}
