//! The `[[sqs]]` intakes, wired: one worker per queue runs `irene_sqs::Consumer::poll`, and
//! `AppSink` hands what it reads to `App::accept` and what cannot be taken to the quarantine.
//! It must not decode payloads (the pipeline does) nor call AWS itself (`irene-sqs` does).

use crate::app::{AcceptError, App, Payload};
use crate::worker::{Worker, WorkerState};
use async_trait::async_trait;
use irene_sqs::{Accepted, Consumer, Sink, SinkError, SqsConfig, Tally};
use irene_store::Quarantined;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;

/// The sink over the application: a payload is accepted like an HTTP ingest (durable before
/// Ok, once per idempotency key); a quarantined object or message becomes a quarantine entry
/// (its detail as the raw item) in one durable transaction.
#[derive(Clone)]
pub struct AppSink {
    pub app: App,
}

#[async_trait]
impl Sink for AppSink {
    async fn accept(&self, p: irene_sqs::Payload<'_>) -> Result<Accepted, SinkError> {
        let payload = Payload {
            source: p.source,
            body: p.body,
            encoding: p.encoding,
            idempotency_key: Some(p.idempotency_key),
            complete_scan: false,
        };
        match self.app.accept(payload).await {
            Ok(a) => Ok(Accepted {
                duplicate: a.duplicate,
            }),
            Err(AcceptError::Unavailable(e)) => Err(SinkError::Unavailable(e)),
            // the payload itself is wrong (not JSON, bad gzip, too large): it would fail again
            Err(e) => Err(SinkError::Rejected(e.to_string())),
        }
    }

    async fn quarantine(
        &self,
        source: &str,
        reason: &str,
        detail: &serde_json::Value,
    ) -> Result<(), SinkError> {
        let item = Quarantined {
            item_index: 0,
            source: source.to_string(),
            error: reason.to_string(),
            raw: detail.to_string(),
        };
        self.app
            .store
            .quarantine_add(&item, chrono::Utc::now())
            .await
            .map_err(|e| SinkError::Unavailable(e.to_string()))?;
        metrics::counter!("irene_quarantined_total", "source" => source.to_string()).increment(1);
        Ok(())
    }
}

/// One `[[sqs]]` queue's worker: each unit of work is one long poll and its messages.
pub struct SqsWorker {
    name: &'static str,
    consumer: Consumer,
    sink: AppSink,
    /// Ends a long poll early at shutdown (messages already received are finished first).
    stop: watch::Receiver<bool>,
}

impl SqsWorker {
    /// Builds a consumer per `[[sqs]]` entry (the standard AWS credential chain, or its role).
    /// `default_max_object_bytes` (the intake's largest body) applies where none is set.
    pub async fn all(
        configs: &[SqsConfig],
        app: &App,
        default_max_object_bytes: u64,
        stop: &watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<SqsWorker>> {
        let mut names = HashSet::new();
        let mut out = Vec::with_capacity(configs.len());
        for cfg in configs {
            let base = format!("sqs:{}", cfg.queue_name());
            let mut name = base.clone();
            let mut n = 1;
            while !names.insert(name.clone()) {
                n += 1;
                name = format!("{base}#{n}");
            }
            let consumer = Consumer::new(cfg.clone(), default_max_object_bytes).await?;
            tracing::info!(queue = cfg.queue_name(), region = %cfg.region, source = %cfg.source, "consuming an SQS queue");
            out.push(SqsWorker {
                // a worker's name lives as long as the process; one per configured queue
                name: Box::leak(name.into_boxed_str()),
                consumer,
                sink: AppSink { app: app.clone() },
                stop: stop.clone(),
            });
        }
        Ok(out)
    }
}

/// Counts one poll under the queue's name.
fn record(queue: &str, t: &Tally) {
    let q = || queue.to_string();
    let count = |name: &'static str, outcome: &'static str, n: u64| {
        if n > 0 {
            metrics::counter!(name, "queue" => q(), "outcome" => outcome).increment(n);
        }
    };
    count("irene_sqs_messages_total", "received", t.received);
    count("irene_sqs_messages_total", "deleted", t.deleted);
    count("irene_sqs_messages_total", "failed", t.failed);
    count("irene_sqs_messages_total", "nothing", t.nothing);
    count("irene_sqs_payloads_total", "object", t.objects);
    count("irene_sqs_payloads_total", "event", t.events);
    count("irene_sqs_payloads_total", "duplicate", t.duplicates);
    count("irene_sqs_payloads_total", "quarantined", t.quarantined);
    if t.bytes > 0 {
        metrics::counter!("irene_sqs_object_bytes_total", "queue" => q()).increment(t.bytes);
    }
}

#[async_trait]
impl Worker for SqsWorker {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        let tally = self.consumer.poll(&self.sink, &mut self.stop).await?;
        record(self.consumer.config().queue_name(), &tally);
        if tally.failed > 0 && tally.deleted == 0 {
            // nothing got through: the runner records it and backs off (the messages wait in
            // the queue, and reach its DLQ after its maxReceiveCount)
            anyhow::bail!(
                "{} of {} messages left in the queue: {}",
                tally.failed,
                tally.received,
                tally.last_error.as_deref().unwrap_or("unknown error")
            );
        }
        if tally.received == 0 && self.consumer.config().wait_seconds == 0 {
            // short polling an empty queue: do not spin
            return Ok(WorkerState::Throttled(Duration::from_secs(1)));
        }
        // the long poll itself paces the loop
        Ok(WorkerState::Busy)
    }

    async fn wait_for_work(&mut self) {}
}
