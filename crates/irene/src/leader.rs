//! Which instance runs the scheduled work: the store's leader (always this one on SQLite; on
//! PostgreSQL the holder of an advisory lock), asked at most every few seconds. It must not
//! decide what is scheduled: server.rs wraps those workers in [`Scheduled`].

use crate::worker::{Worker, WorkerState};
use async_trait::async_trait;
use irene_store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a standby instance asks to lead, and how long an answer is trusted.
const ASK_EVERY: Duration = Duration::from_secs(5);

/// This instance's standing, shared by every scheduled worker (one question per period).
#[derive(Clone)]
pub struct Leader {
    store: Arc<dyn Store>,
    /// The last answer and when it was given.
    asked: Arc<Mutex<Option<(Instant, bool)>>>,
}

impl Leader {
    pub fn new(store: Arc<dyn Store>) -> Leader {
        Leader {
            store,
            asked: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether this instance leads now (asking the store when the last answer is old). A
    /// store error counts as not leading: two leaders are worse than a late digest.
    pub async fn leads(&self) -> bool {
        let last = self.asked.lock().ok().and_then(|g| *g);
        if let Some((at, leads)) = last {
            if at.elapsed() < ASK_EVERY {
                return leads;
            }
        }
        let leads = match self.store.lead().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the store who leads; standing by");
                false
            }
        };
        if leads != last.is_some_and(|(_, l)| l) {
            if leads {
                tracing::info!("this instance now leads the scheduled work");
            } else {
                tracing::info!("another instance leads the scheduled work; standing by");
            }
        }
        if let Ok(mut g) = self.asked.lock() {
            *g = Some((Instant::now(), leads));
        }
        leads
    }
}

/// A worker whose work is scheduled (once per period for the whole deployment): it works only
/// while this instance leads, and stands by otherwise.
pub struct Scheduled<W> {
    pub worker: W,
    pub leader: Leader,
}

#[async_trait]
impl<W: Worker> Worker for Scheduled<W> {
    fn name(&self) -> &'static str {
        self.worker.name()
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        if !self.leader.leads().await {
            return Ok(WorkerState::Standby(ASK_EVERY));
        }
        self.worker.work().await
    }

    async fn wait_for_work(&mut self) {
        // an idle worker's timer may end after this instance stopped leading: `work` asks again
        self.worker.wait_for_work().await
    }

    async fn stop(&mut self) {
        self.worker.stop().await
    }
}
