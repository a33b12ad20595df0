//! Group commit for the intake: concurrent requests' payloads are written to the inbox in one
//! durable transaction and each request is answered only after it. It never decodes or judges.

use irene_store::{NewInbox, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};

/// `Ok(None)`: stored; `Ok(Some(id))`: its idempotency key is held by payload `id`.
type Reply = oneshot::Sender<Result<Option<uuid::Uuid>, String>>;

/// When the intake last wrote: background work that can wait (investigations) yields while
/// payloads are arriving, so that a burst is accepted at full speed.
#[derive(Debug, Default)]
pub struct Activity(std::sync::atomic::AtomicI64);

impl Activity {
    fn note(&self) {
        self.0.store(
            chrono::Utc::now().timestamp_millis(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Whether the intake wrote within `window`.
    pub fn recent(&self, window: std::time::Duration) -> bool {
        let last = self.0.load(std::sync::atomic::Ordering::Relaxed);
        let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        last > 0 && chrono::Utc::now().timestamp_millis() - last <= window
    }
}

/// The handle request handlers use. Dropping every handle stops the writer after it drains.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<(NewInbox, Reply)>,
}

/// Most payloads one transaction takes; more wait for the next one.
const MAX_GROUP: usize = 512;

impl Intake {
    /// Starts the writer task. `written` is notified after each commit (the pipeline wakes).
    pub fn start(
        store: Arc<dyn Store>,
        written: Arc<Notify>,
        activity: Arc<Activity>,
    ) -> (Intake, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<(NewInbox, Reply)>(4 * MAX_GROUP);
        let task = tokio::spawn(async move {
            let mut group: Vec<(NewInbox, Reply)> = Vec::with_capacity(MAX_GROUP);
            while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
                let (items, replies): (Vec<NewInbox>, Vec<Reply>) = group.drain(..).unzip();
                let result = store.inbox_append(&items).await.map_err(|e| e.to_string());
                match result {
                    Ok(seen) => {
                        for (r, s) in replies.into_iter().zip(seen) {
                            let _ = r.send(Ok(s));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, payloads = items.len(), "inbox write failed; requests answered 503");
                        for r in replies {
                            let _ = r.send(Err(e.clone()));
                        }
                    }
                }
                // One pipeline worker waits; notify_one keeps a permit if it is busy right now.
                written.notify_one();
                activity.note();
            }
        });
        (Intake { tx }, task)
    }

    /// Returns once the payload is durable (`None`), or the id of the payload that already holds
    /// its idempotency key (nothing stored), or an error (the caller answers 503).
    pub async fn append(&self, item: NewInbox) -> Result<Option<uuid::Uuid>, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((item, reply))
            .await
            .map_err(|_| "intake is shutting down".to_string())?;
        answer
            .await
            .map_err(|_| "intake writer stopped".to_string())?
    }
}
