//! The expiry worker: resolves open cases silent for longer than their source's expiry, once a
//! minute. It decides nothing itself: `irene_core::expire` says what an expiry changes.

use crate::worker::{Worker, WorkerState};
use anyhow::Context;
use irene_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const EVERY: Duration = Duration::from_secs(60);

pub struct ExpiryWorker {
    pub store: Arc<dyn Store>,
    /// (source, how long its open cases may stay silent)
    pub expiries: Vec<(String, chrono::Duration)>,
    /// Wakes the delivery worker after cases were resolved.
    pub deliver_wake: Arc<Notify>,
}

#[async_trait::async_trait]
impl Worker for ExpiryWorker {
    fn name(&self) -> &'static str {
        "expiry"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        if self.expiries.is_empty() {
            return Ok(WorkerState::Done);
        }
        for (source, expiry) in &self.expiries {
            let changes = self
                .store
                .cases_expire(source, *expiry, chrono::Utc::now())
                .await
                .with_context(|| format!("expiring silent {source} cases"))?;
            if !changes.is_empty() {
                metrics::counter!("irene_case_transitions_total", "transition" => "resolved")
                    .increment(changes.len() as u64);
                tracing::info!(source, cases = changes.len(), "expired silent cases");
                self.deliver_wake.notify_one();
            }
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(EVERY).await
    }
}
