//! The consumer: one `poll` = ReceiveMessage (long polling), each message's objects read from S3
//! (or its event taken as is) and handed to the [`Sink`], then DeleteMessage for the messages the
//! sink fully has. It must not retry or sleep on its own: a message it cannot finish stays in the
//! queue and comes back after its visibility timeout (then to the queue's DLQ).

use crate::config::{ConfigError, SqsConfig};
use crate::message::{self, ObjectRef, Parsed};
use crate::sink::{Payload, Sink, SinkError};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// Messages one ReceiveMessage takes at most (SQS's own limit).
const BATCH: i32 = 10;
/// A read from S3 that makes no progress for this long fails (the message comes back later).
const STALL: Duration = Duration::from_secs(60);
/// Longest idempotency key the intake takes; longer ones are hashed.
const MAX_KEY: usize = 512;

/// The HTTPS client the SDK is given: hyper with rustls on ring (the SDK's default client is
/// rustls on aws-lc, whose C build the workspace avoids); the same as `irene-cloud`'s.
pub fn http_client() -> aws_sdk_sqs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// What one poll did (the worker turns it into metrics and its state).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages received.
    pub received: u64,
    /// Messages deleted (the sink had all they carried).
    pub deleted: u64,
    /// Messages left in the queue (a sink or S3 error): they come back after the visibility
    /// timeout, and after the queue's maxReceiveCount go to its DLQ.
    pub failed: u64,
    /// Objects read and accepted as new payloads.
    pub objects: u64,
    /// Event messages accepted as new payloads.
    pub events: u64,
    /// Payloads the sink already had (same idempotency key).
    pub duplicates: u64,
    /// Objects or messages quarantined (too large, gone, malformed, refused by the sink).
    pub quarantined: u64,
    /// Messages with nothing to read (`s3:TestEvent`, deletes, SNS subscription notices).
    pub nothing: u64,
    /// Bytes of objects read from S3.
    pub bytes: u64,
    /// The last failure (no secrets: AWS error codes and messages, bucket and key).
    pub last_error: Option<String>,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.received += o.received;
        self.deleted += o.deleted;
        self.failed += o.failed;
        self.objects += o.objects;
        self.events += o.events;
        self.duplicates += o.duplicates;
        self.quarantined += o.quarantined;
        self.nothing += o.nothing;
        self.bytes += o.bytes;
        if o.last_error.is_some() {
            self.last_error.clone_from(&o.last_error);
        }
    }
}

/// Why a poll failed as a whole (ReceiveMessage itself).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("ReceiveMessage on {queue}: {error}")]
    Receive { queue: String, error: String },
}

/// One `[[sqs]]` queue's consumer.
pub struct Consumer {
    cfg: SqsConfig,
    max_object_bytes: u64,
    sqs: aws_sdk_sqs::Client,
    sdk: SdkConfig,
    /// One S3 client per region (notifications name the bucket's region).
    s3: Mutex<HashMap<String, aws_sdk_s3::Client>>,
}

impl Consumer {
    /// With the standard credential chain (and `role_arn` assumed over it).
    /// `default_max_object_bytes` applies when the config sets no `max_object_bytes`.
    pub async fn new(cfg: SqsConfig, default_max_object_bytes: u64) -> Result<Self, ConfigError> {
        cfg.validate()?;
        // `endpoint_url` is SQS's and S3's (set on their clients): STS stays AWS's own
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .region(Region::new(cfg.region.clone()))
            .load()
            .await;
        Self::with_sdk_config(cfg, default_max_object_bytes, sdk).await
    }

    /// With a ready SDK configuration instead of the standard chain (tests, embedding);
    /// `endpoint_url` and `role_arn` still apply on top of it.
    pub async fn with_sdk_config(
        cfg: SqsConfig,
        default_max_object_bytes: u64,
        sdk: SdkConfig,
    ) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let sdk = match &cfg.role_arn {
            Some(role) => {
                let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name("irene-sqs")
                    .configure(&sdk)
                    .build()
                    .await;
                sdk.to_builder()
                    .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .build()
            }
            None => sdk,
        };
        // the long poll must end before the operation's timeout does
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_secs(u64::from(cfg.wait_seconds) + 15))
            .build();
        let mut sqs = aws_sdk_sqs::config::Builder::from(&sdk)
            .region(Region::new(cfg.region.clone()))
            .timeout_config(timeouts);
        if let Some(url) = &cfg.endpoint_url {
            sqs = sqs.endpoint_url(url);
        }
        Ok(Consumer {
            max_object_bytes: cfg.max_object_bytes.unwrap_or(default_max_object_bytes),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            sdk,
            s3: Mutex::new(HashMap::new()),
            cfg,
        })
    }

    pub fn config(&self) -> &SqsConfig {
        &self.cfg
    }

    /// Objects larger than this are quarantined unread.
    pub fn max_object_bytes(&self) -> u64 {
        self.max_object_bytes
    }

    fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let region = region.unwrap_or(&self.cfg.region).to_string();
        let mut clients = match self.s3.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        clients
            .entry(region.clone())
            .or_insert_with(|| {
                // until the response's headers; the body is read under `STALL`
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(STALL)
                    .build();
                let mut b = aws_sdk_s3::config::Builder::from(&self.sdk)
                    .region(Region::new(region))
                    .timeout_config(timeouts);
                if let Some(url) = &self.cfg.endpoint_url {
                    // a stand-in or a proxy: no bucket host names
                    b = b.endpoint_url(url).force_path_style(true);
                }
                aws_sdk_s3::Client::from_conf(b.build())
            })
            .clone()
    }

    /// One long poll and the messages it got. Returns early (an empty tally) when `stop`
    /// turns true while waiting for messages; messages already received are finished first.
    pub async fn poll(
        &self,
        sink: &dyn Sink,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Tally, PollError> {
        let receive = self
            .sqs
            .receive_message()
            .queue_url(&self.cfg.queue_url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(i32::try_from(self.cfg.wait_seconds).unwrap_or(20))
            .visibility_timeout(i32::try_from(self.cfg.visibility_secs).unwrap_or(120))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send();
        let out = tokio::select! {
            r = receive => r.map_err(|e| PollError::Receive {
                queue: self.cfg.queue_name().to_string(),
                error: DisplayErrorContext(&e).to_string(),
            })?,
            _ = stopped(stop) => return Ok(Tally::default()),
        };
        let messages = out.messages();
        let mut tally = Tally {
            received: messages.len() as u64,
            ..Default::default()
        };
        let results =
            futures_util::future::join_all(messages.iter().map(|m| self.with_heartbeat(sink, m)))
                .await;
        let mut done = Vec::new();
        for (m, r) in messages.iter().zip(results) {
            tally.add(&r.tally);
            match r.error {
                None => done.push(m),
                Some(error) => {
                    tally.failed += 1;
                    tracing::warn!(
                        queue = self.cfg.queue_name(),
                        message_id = m.message_id().unwrap_or(""),
                        receive_count = receive_count(m).unwrap_or(0),
                        error = %error,
                        "an SQS message was left in the queue; it comes back after its visibility timeout"
                    );
                    tally.last_error = Some(error);
                }
            }
        }
        self.delete(&done, &mut tally).await;
        Ok(tally)
    }

    /// Handles one message while keeping it invisible to other consumers.
    async fn with_heartbeat(&self, sink: &dyn Sink, m: &Message) -> Handled {
        let _heartbeat = m.receipt_handle().map(|receipt| {
            let sqs = self.sqs.clone();
            let queue = self.cfg.queue_url.clone();
            let receipt = receipt.to_string();
            let visibility = self.cfg.visibility_secs;
            let every = Duration::from_secs(u64::from(visibility / 2).max(1));
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let r = sqs
                        .change_message_visibility()
                        .queue_url(&queue)
                        .receipt_handle(&receipt)
                        .visibility_timeout(i32::try_from(visibility).unwrap_or(120))
                        .send()
                        .await;
                    if let Err(e) = r {
                        tracing::warn!(error = %DisplayErrorContext(&e), "could not extend an SQS message's visibility");
                    }
                }
            }))
        });
        self.handle(sink, m).await
    }

    async fn handle(&self, sink: &dyn Sink, m: &Message) -> Handled {
        let mut h = Handled::default();
        let id = m.message_id().unwrap_or("");
        let body = m.body().unwrap_or("");
        let source = self.cfg.source.as_str();
        match message::parse(body, id) {
            Err(malformed) => {
                let detail = json!({
                    "queue": self.cfg.queue_name(),
                    "message_id": id,
                    "body": serde_json::from_str::<Value>(body).unwrap_or_else(|_| Value::String(body.to_string())),
                });
                let reason = format!("SQS message not usable: {malformed}");
                self.quarantine(sink, &reason, &detail, &mut h).await;
            }
            Ok(Parsed::Nothing(what)) => {
                tracing::debug!(
                    queue = self.cfg.queue_name(),
                    message_id = id,
                    "{what}: nothing to read"
                );
                h.tally.nothing += 1;
            }
            Ok(Parsed::Event { body, id: event_id }) => {
                let key = idempotency_key(&format!("sqs:{event_id}"));
                let payload = Payload {
                    source,
                    body: body.as_bytes(),
                    encoding: None,
                    idempotency_key: &key,
                };
                match sink.accept(payload).await {
                    Ok(a) if a.duplicate => h.tally.duplicates += 1,
                    Ok(_) => h.tally.events += 1,
                    Err(SinkError::Rejected(reason)) => {
                        let detail = json!({
                            "queue": self.cfg.queue_name(),
                            "message_id": id,
                            "event_id": event_id,
                            "body": serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body.clone())),
                        });
                        self.quarantine(sink, &format!("event refused: {reason}"), &detail, &mut h)
                            .await;
                    }
                    Err(SinkError::Unavailable(e)) => h.error = Some(format!("the sink: {e}")),
                }
            }
            Ok(Parsed::Objects(objects)) => {
                for o in &objects {
                    self.object(sink, o, id, &mut h).await;
                    if h.error.is_some() {
                        break;
                    }
                }
                if objects.is_empty() {
                    h.tally.nothing += 1;
                }
            }
        }
        h
    }

    async fn quarantine(&self, sink: &dyn Sink, reason: &str, detail: &Value, h: &mut Handled) {
        match sink.quarantine(&self.cfg.source, reason, detail).await {
            Ok(()) => {
                tracing::info!(queue = self.cfg.queue_name(), reason, "quarantined");
                h.tally.quarantined += 1;
            }
            Err(e) => h.error = Some(format!("quarantine: {e}")),
        }
    }

    /// Reads one object (unless it is too large) and hands it to the sink.
    async fn object(&self, sink: &dyn Sink, o: &ObjectRef, message_id: &str, h: &mut Handled) {
        let max = self.max_object_bytes;
        let describe = |size: Option<u64>, etag: Option<&str>| {
            json!({
                "queue": self.cfg.queue_name(),
                "message_id": message_id,
                "bucket": o.bucket,
                "key": o.key,
                "size": size,
                "etag": etag,
            })
        };
        if let Some(size) = o.size.filter(|s| *s > max) {
            let reason = format!(
                "S3 object of {size} bytes is larger than max_object_bytes ({max}); not read"
            );
            self.quarantine(sink, &reason, &describe(Some(size), o.etag.as_deref()), h)
                .await;
            return;
        }
        let got = self
            .s3(o.region.as_deref())
            .get_object()
            .bucket(&o.bucket)
            .key(&o.key)
            .send()
            .await;
        let mut resp = match got {
            Ok(r) => r,
            Err(e) if matches!(e.code(), Some("NoSuchKey" | "NoSuchBucket")) => {
                let reason = format!(
                    "S3 object not found ({}): nothing to read",
                    e.code().unwrap_or("")
                );
                self.quarantine(sink, &reason, &describe(o.size, o.etag.as_deref()), h)
                    .await;
                return;
            }
            Err(e) => {
                h.error = Some(format!(
                    "GetObject s3://{}/{}: {}",
                    o.bucket,
                    o.key,
                    DisplayErrorContext(&e)
                ));
                return;
            }
        };
        let etag = resp
            .e_tag()
            .map(message::unquote)
            .or_else(|| o.etag.clone())
            .unwrap_or_default();
        let length = resp.content_length().and_then(|l| u64::try_from(l).ok());
        if let Some(size) = length.filter(|l| *l > max) {
            let reason = format!(
                "S3 object of {size} bytes is larger than max_object_bytes ({max}); not read"
            );
            self.quarantine(sink, &reason, &describe(Some(size), Some(&etag)), h)
                .await;
            return;
        }
        let mut body = Vec::with_capacity(usize::try_from(length.unwrap_or(0)).unwrap_or(0));
        loop {
            let chunk = match tokio::time::timeout(STALL, resp.body.try_next()).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    h.error = Some(format!("reading s3://{}/{}: {e}", o.bucket, o.key));
                    return;
                }
                Err(_) => {
                    h.error = Some(format!(
                        "reading s3://{}/{}: no data for {}s",
                        o.bucket,
                        o.key,
                        STALL.as_secs()
                    ));
                    return;
                }
            };
            body.extend_from_slice(&chunk);
            if body.len() as u64 > max {
                let reason = format!("S3 object is larger than max_object_bytes ({max}); not read");
                self.quarantine(sink, &reason, &describe(length, Some(&etag)), h)
                    .await;
                return;
            }
        }
        h.tally.bytes += body.len() as u64;
        let gzip = is_gzip(&o.key, resp.content_encoding(), resp.content_type(), &body);
        let key = idempotency_key(&format!("s3:{}/{}@{}", o.bucket, o.key, etag));
        let payload = Payload {
            source: &self.cfg.source,
            body: &body,
            encoding: gzip.then_some("gzip"),
            idempotency_key: &key,
        };
        match sink.accept(payload).await {
            Ok(a) if a.duplicate => h.tally.duplicates += 1,
            Ok(_) => h.tally.objects += 1,
            Err(SinkError::Rejected(reason)) => {
                let detail = describe(Some(body.len() as u64), Some(&etag));
                self.quarantine(sink, &format!("S3 object refused: {reason}"), &detail, h)
                    .await;
            }
            Err(SinkError::Unavailable(e)) => h.error = Some(format!("the sink: {e}")),
        }
    }

    /// Deletes the finished messages (one batch call); a failed delete only means the message
    /// comes back and is found a duplicate.
    async fn delete(&self, done: &[&Message], tally: &mut Tally) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = done
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            return;
        }
        let asked = entries.len() as u64;
        match self
            .sqs
            .delete_message_batch()
            .queue_url(&self.cfg.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                tally.deleted += asked.saturating_sub(out.failed().len() as u64);
                if let Some(f) = out.failed().first() {
                    let error = format!(
                        "DeleteMessageBatch: {} of {asked} not deleted ({}: {})",
                        out.failed().len(),
                        f.code(),
                        f.message().unwrap_or("")
                    );
                    tracing::warn!(queue = self.cfg.queue_name(), error = %error, "messages not deleted; they come back as duplicates");
                    tally.last_error = Some(error);
                }
            }
            Err(e) => {
                let error = format!("DeleteMessageBatch: {}", DisplayErrorContext(&e));
                tracing::warn!(queue = self.cfg.queue_name(), error = %error, "messages not deleted; they come back as duplicates");
                tally.last_error = Some(error);
            }
        }
    }
}

/// What handling one message gave: its counts, and the error that leaves it in the queue.
#[derive(Default)]
struct Handled {
    tally: Tally,
    error: Option<String>,
}

/// Aborts the visibility heartbeat when the message is handled (or the poll is dropped).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Completes when `stop` is true (at once if it already is); never if its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await
    }
}

fn receive_count(m: &Message) -> Option<u32> {
    m.attributes()?
        .get(&MessageSystemAttributeName::ApproximateReceiveCount)?
        .parse()
        .ok()
}

/// gzip by name (`.gz`), by `Content-Encoding`/`Content-Type`, or by its magic bytes.
fn is_gzip(key: &str, encoding: Option<&str>, content_type: Option<&str>, body: &[u8]) -> bool {
    let says = |v: Option<&str>| v.is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
    key.to_ascii_lowercase().ends_with(".gz")
        || says(encoding)
        || says(content_type)
        || body.starts_with(&[0x1f, 0x8b])
}

/// The key as is, or — longer than the intake takes (S3 keys reach 1024 bytes) — its SHA-256.
fn idempotency_key(key: &str) -> String {
    if key.len() <= MAX_KEY {
        return key.to_string();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_detection() {
        assert!(is_gzip("a/b.json.gz", None, None, b"x"));
        assert!(is_gzip("a/b.JSON.GZ", None, None, b"x"));
        assert!(is_gzip("a/b.json", Some("gzip"), None, b"x"));
        assert!(is_gzip("a/b", None, Some("application/x-gzip"), b"x"));
        assert!(is_gzip("a/b", None, None, &[0x1f, 0x8b, 8]));
        assert!(!is_gzip("a/b.json", None, Some("application/json"), b"{}"));
    }

    #[test]
    fn long_keys_are_hashed_within_the_limit() {
        assert_eq!(idempotency_key("s3:b/k@e"), "s3:b/k@e");
        let long = format!("s3:b/{}@e", "k".repeat(1024));
        let hashed = idempotency_key(&long);
        assert!(hashed.starts_with("sha256:") && hashed.len() == 7 + 64);
        assert_eq!(hashed, idempotency_key(&long), "stable");
        assert_ne!(hashed, idempotency_key(&format!("{long}x")));
    }

    #[test]
    fn tally_adds() {
        let mut t = Tally::default();
        t.add(&Tally {
            received: 2,
            objects: 1,
            last_error: Some("x".into()),
            ..Default::default()
        });
        t.add(&Tally {
            received: 1,
            ..Default::default()
        });
        assert_eq!(t.received, 3);
        assert_eq!(t.objects, 1);
        assert_eq!(t.last_error.as_deref(), Some("x"));
    }
}
