//! The retention worker: forgets audit-log events older than `[events] retention`, correlation
//! windows a day past their expiry and expired reputation answers, once an hour, off the hot
//! path. It never touches cases, alerts or their timelines.

use crate::worker::{Worker, WorkerState};
use anyhow::Context;
use irene_store::Store;
use std::sync::Arc;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(3600);

pub struct RetentionWorker {
    pub store: Arc<dyn Store>,
    pub retention: Duration,
}

#[async_trait::async_trait]
impl Worker for RetentionWorker {
    fn name(&self) -> &'static str {
        "retention"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        let now = chrono::Utc::now();
        let before = now - chrono::Duration::from_std(self.retention).unwrap_or_default();
        let n = self
            .store
            .events_prune(before)
            .await
            .context("pruning events")?;
        if n > 0 {
            tracing::info!(events = n, "forgot events past their retention");
        }
        let n = self
            .store
            .windows_prune(now)
            .await
            .context("pruning correlation windows")?;
        if n > 0 {
            tracing::info!(windows = n, "forgot expired correlation windows");
        }
        let n = self
            .store
            .intel_cache_prune(now)
            .await
            .context("pruning reputation answers")?;
        if n > 0 {
            tracing::info!(answers = n, "forgot expired reputation answers");
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(EVERY).await
    }
}
