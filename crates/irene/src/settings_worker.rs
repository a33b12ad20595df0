//! The settings worker: picks up documents another process applied (polling the store's
//! settings generation), re-reads the config's files on SIGHUP, and releases the deliveries a
//! silence held once it has ended. It decides nothing: `settings` compiles, the planner holds.

use crate::config::Config;
use crate::settings::live::Live;
use crate::worker::{Worker, WorkerState};
use irene_core::Planner;
use irene_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub struct SettingsWorker {
    pub store: Arc<dyn Store>,
    pub live: Arc<Live>,
    pub planner: Arc<dyn Planner>,
    pub cfg: Arc<Config>,
    pub deliver_wake: Arc<Notify>,
    hup: Option<tokio::signal::unix::Signal>,
    hup_seen: bool,
}

impl SettingsWorker {
    pub fn new(
        store: Arc<dyn Store>,
        live: Arc<Live>,
        planner: Arc<dyn Planner>,
        cfg: Arc<Config>,
        deliver_wake: Arc<Notify>,
    ) -> Self {
        let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(
                |e| tracing::warn!(error = %e, "SIGHUP cannot be caught: reload by apply only"),
            )
            .ok();
        SettingsWorker {
            store,
            live,
            planner,
            cfg,
            deliver_wake,
            hup,
            hup_seen: false,
        }
    }

    /// Releases what ended holds held: their deliveries go out (or are dropped).
    async fn release(&self) -> anyhow::Result<()> {
        for by in self.store.outbox_held_by().await? {
            let holding = match by
                .strip_prefix(crate::settings::planner::INHIBIT)
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
            {
                Some(case) => self
                    .store
                    .case_get(case)
                    .await?
                    .is_some_and(|c| c.case.status == irene_core::CaseStatus::Open),
                None => self.planner.holding(&by),
            };
            if holding {
                continue;
            }
            let (released, dropped) = self.store.held_release(&by, chrono::Utc::now()).await?;
            tracing::info!(hold = %by, released, dropped, "a hold ended: its deliveries are released");
            if released > 0 {
                self.deliver_wake.notify_one();
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Worker for SettingsWorker {
    fn name(&self) -> &'static str {
        "settings"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        if self.hup_seen {
            tracing::info!("SIGHUP: reading the settings files again");
            // cleared only once read: a failure (the store busy) tries again next time
            crate::settings::sync::sync(&*self.store, &self.cfg).await?;
            self.hup_seen = false;
        }
        self.live.reload(&*self.store).await?;
        self.release().await?;
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        let poll = self.cfg.settings.poll.max(Duration::from_millis(100));
        match &mut self.hup {
            Some(hup) => {
                tokio::select! {
                    _ = hup.recv() => self.hup_seen = true,
                    _ = tokio::time::sleep(poll) => {}
                }
            }
            None => tokio::time::sleep(poll).await,
        }
    }
}
