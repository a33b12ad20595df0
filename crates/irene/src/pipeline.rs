//! The pipeline worker: claims inbox payloads, decodes, judges and commits them with their case
//! changes in one store transaction. It must not talk to the network; outputs come later.

use crate::config::PipelineConfig;
use crate::worker::{Worker, WorkerState};
use anyhow::Context;
use irene_core::Transition;
use irene_rules::sigma::{correlation_alert, hit_alert, logsource_of, SigmaRules, WindowState};
use irene_rules::TriageRules;
use irene_sources::{decoder, split_payload, Limits};
use irene_store::{ClaimLimit, InboxRow, Processed, ProcessedEvent, Quarantined, Store};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const IDLE_POLL: Duration = Duration::from_secs(5);
const LINGER: Duration = Duration::from_millis(50);

pub struct Pipeline {
    pub store: Arc<dyn Store>,
    pub rules: Arc<TriageRules>,
    pub sigma: Arc<SigmaRules>,
    /// The correlation rules' windows as the last committed payload left them; `None` while a
    /// batch holds them.
    pub windows: std::sync::Mutex<Option<WindowState>>,
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
pub fn process_row(
    row: &InboxRow,
    rules: &TriageRules,
    sigma: &SigmaRules,
    windows: &mut WindowState,
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
            // them only if the event is new); correlation rules count them in their windows.
            let matched = sigma.matches(&logsource_of(&event.source), &event.raw);
            let detections: Vec<String> = matched.iter().map(|r| r.id.clone()).collect();
            let mut hits: Vec<_> = matched
                .iter()
                .filter(|r| sigma.rule_generates_alerts(r))
                .map(|r| rules.judge(hit_alert(r, &event)))
                .collect();
            if !matched.is_empty() && !sigma.correlations().is_empty() {
                let at = event.observed_at.unwrap_or(row.received_at);
                for hit in sigma.correlate(windows, &matched, &event.raw, at) {
                    hits.push(rules.judge(correlation_alert(&hit, &event)));
                }
            }
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
    /// The windows to process a batch with: those kept in memory, else the ones the store
    /// saved with the last commit (at start, and after a failed or partial commit).
    async fn take_windows(&self) -> WindowState {
        let kept = self.windows.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = kept {
            return w;
        }
        if self.sigma.correlations().is_empty() {
            return WindowState::default();
        }
        match self.store.sigma_windows().await {
            Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "saved correlation windows are unreadable; starting empty");
                WindowState::default()
            }),
            Ok(None) => WindowState::default(),
            Err(e) => {
                tracing::warn!(error = %e, "loading correlation windows failed; starting empty");
                WindowState::default()
            }
        }
    }

    fn put_windows(&self, windows: WindowState) {
        if let Ok(mut w) = self.windows.lock() {
            *w = Some(windows);
        }
    }
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
        let rules = self.rules.clone();
        let sigma = self.sigma.clone();
        let limits = self.limits.clone();
        let max_attempts = self.cfg.max_attempts;
        let mut windows = self.take_windows().await;
        let processed = tokio::task::spawn_blocking(move || {
            let processed = rows
                .iter()
                .map(|r| process_row(r, &rules, &sigma, &mut windows, &limits, max_attempts))
                .collect::<Vec<_>>();
            (processed, windows)
        })
        .await;
        // process_row catches decoder panics; failing here means a bug elsewhere.
        let (processed, windows) = processed.context("the processing task failed")?;
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
        // The windows are saved with the payloads that moved them (only when there are
        // correlation rules: otherwise they never change).
        let saved = if self.sigma.correlations().is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&windows)
                    .context("the correlation windows do not serialize; not committing")?,
            )
        };
        let summary = self
            .store
            .commit_processed_with(&self.owner, processed, saved.as_deref())
            .await
            .context("committing processed payloads (they will be retried)")?;
        if summary.rows_skipped == 0 {
            self.put_windows(windows);
        } else {
            // Another worker took some payloads over: their effect on the windows is
            // not ours to keep, so the next batch starts from the committed windows.
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
