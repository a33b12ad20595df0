//! Batch jobs ("bots"): the Slack digest of open cases, the reminder on GitHub issues of
//! urgent/high cases left untouched, and pruning old sent deliveries. Nothing here sends.

use crate::worker::{Worker, WorkerState};
use irene_core::{Action, CaseStatus, Severity};
use irene_outputs::OutputConfig;
use irene_store::{CaseFilter, NewDelivery, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Cases listed by name in a digest.
const DIGEST_TOP: u32 = 10;
/// Reminders enqueued per output and run (the rest wait for the next run).
const REMINDERS_PER_RUN: u32 = 50;

pub struct Jobs {
    pub store: Arc<dyn Store>,
    pub outputs: Vec<OutputConfig>,
    pub every: Duration,
    /// Sent deliveries older than this are forgotten.
    pub keep_done: Duration,
    pub public_url: String,
    pub wake: Arc<Notify>,
}

#[async_trait::async_trait]
impl Worker for Jobs {
    fn name(&self) -> &'static str {
        "jobs"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        if self.outputs.is_empty() {
            return Ok(WorkerState::Done);
        }
        self.run_once(chrono::Utc::now()).await?;
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.every).await
    }
}

impl Jobs {
    /// One pass over every job; each decides for itself whether it is due.
    pub async fn run_once(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
        if self
            .store
            .job_due("prune-deliveries", Duration::from_secs(3600), now)
            .await?
        {
            let before = now - chrono::Duration::from_std(self.keep_done).unwrap_or_default();
            let n = self.store.outbox_prune(before).await?;
            if n > 0 {
                tracing::info!(deliveries = n, "forgot old sent deliveries");
            }
        }
        let mut queued = Vec::new();
        for o in &self.outputs {
            match o {
                OutputConfig::Slack(s) => {
                    let Some(every) = s.kind.digest_every else {
                        continue;
                    };
                    if self
                        .store
                        .job_due(&format!("digest:{}", s.common.name), every, now)
                        .await?
                    {
                        queued.push(NewDelivery {
                            case: None,
                            output: s.common.name.clone(),
                            action: Action::Digest,
                            detail: self.digest().await?,
                        });
                    }
                }
                OutputConfig::Github(g) => {
                    let since = now
                        - chrono::Duration::from_std(g.kind.remind_after)
                            .unwrap_or(chrono::Duration::days(1));
                    let cases = self
                        .store
                        .cases_to_remind(&g.common.name, Severity::High, since, REMINDERS_PER_RUN)
                        .await?;
                    for case in cases {
                        let idle_since = case.last_seen.max(case.updated_at);
                        queued.push(NewDelivery {
                            output: g.common.name.clone(),
                            action: Action::Reminder,
                            detail: json!({"untouched_since": since, "last_seen": idle_since}),
                            case: Some(case),
                        });
                    }
                }
                _ => {}
            }
        }
        if !queued.is_empty() {
            tracing::info!(deliveries = queued.len(), "batch jobs queued deliveries");
            self.store
                .outbox_enqueue(&queued, chrono::Utc::now())
                .await?;
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The digest: open cases per severity and the most severe, most recent few.
    async fn digest(&self) -> anyhow::Result<Value> {
        let counts = self.store.open_counts().await?;
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        let mut by_severity = serde_json::Map::new();
        for s in Severity::ALL.iter().rev() {
            let n = counts
                .iter()
                .find(|(sev, _)| sev == s)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            by_severity.insert(s.as_str().to_string(), json!(n));
        }
        let mut top = Vec::new();
        for s in Severity::ALL.iter().rev() {
            if top.len() as u32 >= DIGEST_TOP {
                break;
            }
            let page = self
                .store
                .cases_list(&CaseFilter {
                    severity: Some(*s),
                    status: Some(CaseStatus::Open),
                    limit: DIGEST_TOP - top.len() as u32,
                    ..CaseFilter::default()
                })
                .await?;
            for c in page.items {
                top.push(json!({
                    "id": c.id, "title": c.title, "severity": c.severity, "source": c.source,
                    "account": c.account, "count": c.count, "last_seen": c.last_seen,
                    "url": format!("{}/cases/{}", self.public_url.trim_end_matches('/'), c.id),
                }));
            }
        }
        Ok(json!({"open": total, "by_severity": by_severity, "top": top}))
    }
}
