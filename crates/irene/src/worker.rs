//! The one shape of Irene's background loops (after garage's `Worker`): a worker does one unit
//! of work per call and says busy / idle / throttled / done; the runner here loops it, backs off
//! on errors and keeps every worker's state and last error where `/api/v1/status` shows them.
//! It must not know what any worker does: pipeline, delivery, jobs, expiry and retention are
//! implementations elsewhere.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a unit of work says about the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// There is more to do right away.
    Busy,
    /// Nothing to do: the runner waits in [`Worker::wait_for_work`].
    Idle,
    /// Work is there but should wait this long (a trickle gathering, a rate limit).
    Throttled(Duration),
    /// Another instance does this work (it leads); ask again after this long.
    Standby(Duration),
    /// Finished for good (nothing configured for it).
    Done,
}

impl WorkerState {
    fn as_str(self) -> &'static str {
        match self {
            WorkerState::Busy => "busy",
            WorkerState::Idle => "idle",
            WorkerState::Throttled(_) => "throttled",
            WorkerState::Standby(_) => "standby",
            WorkerState::Done => "done",
        }
    }
}

/// One background loop. `work` is never cancelled half-way: shutdown is noticed between units.
#[async_trait]
pub trait Worker: Send + 'static {
    /// Stable name, shown in the status (`pipeline`, `delivery`, `jobs`, …).
    fn name(&self) -> &'static str;
    /// Does one unit of work. An error is recorded as the worker's last error and the runner
    /// backs off before the next call; it never stops the worker.
    async fn work(&mut self) -> anyhow::Result<WorkerState>;
    /// After [`WorkerState::Idle`]: returns when there may be work (a wake-up or a timer).
    async fn wait_for_work(&mut self);
    /// At shutdown, after the last unit: gives back what the worker holds (leases).
    async fn stop(&mut self) {}
}

/// What the status shows of one worker.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerInfo {
    pub name: &'static str,
    /// busy | idle | throttled | standby | done | erroring | stopped
    pub state: &'static str,
    /// Units of work done since start.
    pub runs: u64,
    /// Errors in a row (0 once a unit succeeds again).
    pub consecutive_errors: u32,
    pub errors_total: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
}

/// Every worker's info, shared by the runners and the API.
#[derive(Debug, Default)]
pub struct Workers {
    infos: Mutex<BTreeMap<&'static str, WorkerInfo>>,
}

impl Workers {
    pub fn new() -> Arc<Workers> {
        Arc::new(Workers::default())
    }

    /// A snapshot, by name.
    pub fn list(&self) -> Vec<WorkerInfo> {
        self.infos
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    fn update(&self, name: &'static str, f: impl FnOnce(&mut WorkerInfo)) {
        if let Ok(mut m) = self.infos.lock() {
            let info = m.entry(name).or_insert_with(|| WorkerInfo {
                name,
                state: "idle",
                runs: 0,
                consecutive_errors: 0,
                errors_total: 0,
                last_error: None,
                last_error_at: None,
                last_run_at: None,
            });
            f(info);
        }
    }

    /// Starts `worker` on its own task until `shutdown` turns true (or it is done).
    pub fn spawn(
        self: &Arc<Self>,
        worker: impl Worker,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let workers = Arc::clone(self);
        workers.update(worker.name(), |_| {});
        tokio::spawn(run(workers, worker, shutdown))
    }
}

/// Waits after the `n`th error in a row: 1 s doubling up to a minute.
pub fn error_backoff(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

async fn run<W: Worker>(workers: Arc<Workers>, mut worker: W, mut shutdown: watch::Receiver<bool>) {
    let name = worker.name();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let result = worker.work().await;
        let now = Utc::now();
        match result {
            Ok(state) => {
                workers.update(name, |i| {
                    i.state = state.as_str();
                    i.runs += 1;
                    i.consecutive_errors = 0;
                    i.last_run_at = Some(now);
                });
                match state {
                    WorkerState::Busy => {}
                    WorkerState::Idle => {
                        tokio::select! {
                            _ = worker.wait_for_work() => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                    WorkerState::Throttled(d) | WorkerState::Standby(d) => {
                        tokio::select! {
                            _ = tokio::time::sleep(d) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                    WorkerState::Done => return,
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                let mut n = 0;
                workers.update(name, |i| {
                    i.state = "erroring";
                    i.runs += 1;
                    i.consecutive_errors = i.consecutive_errors.saturating_add(1);
                    i.errors_total += 1;
                    i.last_error = Some(message.clone());
                    i.last_error_at = Some(now);
                    i.last_run_at = Some(now);
                    n = i.consecutive_errors;
                });
                let wait = error_backoff(n);
                tracing::warn!(worker = name, error = %message, retry_in = ?wait, "worker failed; backing off");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
    worker.stop().await;
    workers.update(name, |i| i.state = "stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails twice, then is busy once, idle once, and done.
    struct Scripted {
        calls: Arc<AtomicU32>,
        stopped: Arc<AtomicU32>,
    }

    #[async_trait]
    impl Worker for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        async fn work(&mut self) -> anyhow::Result<WorkerState> {
            match self.calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => anyhow::bail!("the database is locked"),
                2 => Ok(WorkerState::Busy),
                3 => Ok(WorkerState::Idle),
                _ => Ok(WorkerState::Done),
            }
        }
        async fn wait_for_work(&mut self) {}
        async fn stop(&mut self) {
            self.stopped.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn errors_back_off_are_recorded_and_cleared() {
        let workers = Workers::new();
        let calls = Arc::new(AtomicU32::new(0));
        let stopped = Arc::new(AtomicU32::new(0));
        let (_tx, rx) = watch::channel(false);
        let task = workers.spawn(
            Scripted {
                calls: calls.clone(),
                stopped: stopped.clone(),
            },
            rx,
        );
        let _ = task.await;
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        let info = &workers.list()[0];
        assert_eq!(info.name, "scripted");
        assert_eq!(info.state, "done");
        assert_eq!(info.errors_total, 2);
        assert_eq!(info.consecutive_errors, 0, "a success clears the streak");
        assert_eq!(info.last_error.as_deref(), Some("the database is locked"));
        assert!(info.last_error_at.is_some());
        // Done ends the runner without a stop: nothing is held.
        assert_eq!(stopped.load(Ordering::SeqCst), 0);
    }

    struct Forever;

    #[async_trait]
    impl Worker for Forever {
        fn name(&self) -> &'static str {
            "forever"
        }
        async fn work(&mut self) -> anyhow::Result<WorkerState> {
            Ok(WorkerState::Idle)
        }
        async fn wait_for_work(&mut self) {
            std::future::pending::<()>().await
        }
    }

    #[tokio::test]
    async fn shutdown_ends_an_idle_worker_and_marks_it_stopped() {
        let workers = Workers::new();
        let (tx, rx) = watch::channel(false);
        let task = workers.spawn(Forever, rx);
        tokio::task::yield_now().await;
        let _ = tx.send(true);
        let _ = task.await;
        assert_eq!(workers.list()[0].state, "stopped");
    }

    #[test]
    fn error_backoff_grows_to_a_minute() {
        assert_eq!(error_backoff(1), Duration::from_secs(1));
        assert_eq!(error_backoff(2), Duration::from_secs(2));
        assert_eq!(error_backoff(7), Duration::from_secs(60));
        assert_eq!(error_backoff(40), Duration::from_secs(60));
    }
}
