//! The pipeline worker: claims inbox payloads, decodes, judges and commits them with their case
//! changes in one store transaction. It must not talk to the network; outputs come later.

use crate::config::PipelineConfig;
use irene_core::Transition;
use irene_rules::sigma::{hit_alert, logsource_of, SigmaRules};
use irene_rules::TriageRules;
use irene_sources::{decoder, split_payload, Limits};
use irene_store::{ClaimLimit, InboxRow, Processed, ProcessedEvent, Quarantined, Store};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

const IDLE_POLL: Duration = Duration::from_secs(5);
const LINGER: Duration = Duration::from_millis(50);

pub struct Pipeline {
    pub store: Arc<dyn Store>,
    pub rules: Arc<TriageRules>,
    pub sigma: Arc<SigmaRules>,
    pub limits: Arc<Limits>,
    pub cfg: PipelineConfig,
    pub owner: String,
    pub wake: Arc<Notify>,
    /// Wakes the delivery worker after a commit that changed cases.
    pub deliver_wake: Arc<Notify>,
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
        let result = catch_unwind(AssertUnwindSafe(|| dec.decode(item)));
        let decoded = match result {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                out.quarantine.push(Quarantined {
                    item_index: index,
                    source: row.source.clone(),
                    error: e.to_string(),
                    raw: item.to_string(),
                });
                continue;
            }
            Err(_) => {
                out.quarantine.push(Quarantined {
                    item_index: index,
                    source: row.source.clone(),
                    error: "the decoder crashed on this item (a bug in Irene); kept for replay after a fix".into(),
                    raw: item.to_string(),
                });
                continue;
            }
        };
        for mut event in decoded.events {
            if event.observed_at.is_none() {
                event.observed_at = Some(row.received_at);
            }
            // Sigma hits become alerts that go through triage like any other (the store counts
            // them only if the event is new, and only then feeds its detections to the
            // correlation windows).
            let matched = sigma.matches(&logsource_of(&event.source), &event.raw);
            let detections: Vec<String> = matched.iter().map(|r| r.id.clone()).collect();
            let hits: Vec<_> = matched
                .iter()
                .filter(|r| sigma.rule_generates_alerts(r))
                .map(|r| rules.judge(hit_alert(r, &event)))
                .collect();
            out.events.push(ProcessedEvent {
                index,
                event,
                detections,
                hits,
            });
        }
        for mut alert in decoded.alerts {
            if alert.observed_at.is_none() {
                alert.observed_at = Some(row.received_at);
            }
            out.alerts.push((index, rules.judge(alert)));
        }
    }
    out
}

impl Pipeline {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let lease = Duration::from_secs(self.cfg.lease_secs.max(1));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let rows = match self
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
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "claiming inbox payloads failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            if rows.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    // New payloads wake the worker at once; the timer only catches leases that
                    // expired under another process.
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let partial = rows.len() < self.cfg.batch.max(1)
                && rows.iter().map(|r| r.items).sum::<i64>() < self.cfg.max_items;
            self.handle(rows).await;
            if partial {
                // A trickle: let a few more payloads gather so that one transaction carries
                // them all, instead of racing the intake for the writer on every request.
                tokio::select! {
                    _ = tokio::time::sleep(LINGER) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        match self.store.inbox_release(&self.owner).await {
            Ok(n) if n > 0 => tracing::info!(payloads = n, "released unprocessed payloads"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "releasing leases failed; they expire on their own")
            }
        }
    }

    async fn handle(&self, rows: Vec<InboxRow>) {
        let started = Instant::now();
        let rules = self.rules.clone();
        let sigma = self.sigma.clone();
        let limits = self.limits.clone();
        let max_attempts = self.cfg.max_attempts;
        let processed = tokio::task::spawn_blocking(move || {
            rows.iter()
                .map(|r| process_row(r, &rules, &sigma, &limits, max_attempts))
                .collect::<Vec<_>>()
        })
        .await;
        let processed = match processed {
            Ok(p) => p,
            Err(e) => {
                // process_row catches decoder panics; reaching here means a bug elsewhere. The
                // leases expire and the payloads are retried, then quarantined after max_attempts.
                tracing::error!(error = %e, "processing task failed");
                return;
            }
        };
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
        match self
            .store
            .commit_processed(&self.owner, processed, chrono::Utc::now())
            .await
        {
            Ok(summary) => {
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
            }
            Err(e) => {
                tracing::error!(error = %e, "committing processed payloads failed; they will be retried")
            }
        }
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

/// Resolves silent cases per source, once a minute.
pub async fn run_expiry(
    store: Arc<dyn Store>,
    expiries: Vec<(String, chrono::Duration)>,
    deliver_wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    if expiries.is_empty() {
        return;
    }
    loop {
        for (source, expiry) in &expiries {
            match store
                .cases_expire(source, *expiry, chrono::Utc::now())
                .await
            {
                Ok(changes) if !changes.is_empty() => {
                    metrics::counter!("irene_case_transitions_total", "transition" => "resolved")
                        .increment(changes.len() as u64);
                    tracing::info!(source, cases = changes.len(), "expired silent cases");
                    deliver_wake.notify_one();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(source, error = %e, "expiring cases failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Forgets audit-log events older than the retention, and correlation windows a day past their
/// expiry, once an hour.
pub async fn run_event_retention(
    store: Arc<dyn Store>,
    retention: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let now = chrono::Utc::now();
        let before = now - chrono::Duration::from_std(retention).unwrap_or_default();
        match store.events_prune(before).await {
            Ok(n) if n > 0 => tracing::info!(events = n, "forgot events past their retention"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning events failed; trying again later"),
        }
        match store.windows_prune(now).await {
            Ok(n) if n > 0 => tracing::info!(windows = n, "forgot expired correlation windows"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "pruning correlation windows failed; trying again later")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
