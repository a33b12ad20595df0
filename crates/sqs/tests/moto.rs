#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The consumer against moto's server (real software, started per test): a bucket and a queue,
//! CloudTrail `.json.gz` objects and the notifications S3, SNS, EventBridge and CloudTrail send;
//! a recording sink stands for the store. What is asserted is what a user relies on: every
//! object once with its idempotency key, a message deleted only once the sink has it, oversize
//! and malformed input quarantined, a message kept invisible while it is being handled.

#[path = "../../cloud/tests/support/moto.rs"]
mod moto;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_sqs::types::QueueAttributeName;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use irene_sqs::{Accepted, Consumer, Payload, Sink, SinkError, SqsConfig, Tally};
use moto::Moto;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const REGION: &str = "us-east-1";
const BUCKET: &str = "trail-logs";

fn sdk(moto: &Moto) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .http_client(irene_sqs::http_client())
        .build()
}

/// What the recording sink was given.
#[derive(Debug, Clone)]
struct Got {
    source: String,
    key: String,
    /// The body as JSON (gunzipped when it came gzip-encoded).
    json: Value,
    gzip: bool,
}

/// Keeps what it accepts (once per idempotency key, like the intake), refuses what is not JSON
/// (like the intake), can fail the next N accepts as unavailable, or take its time.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<Got>>,
    keys: Mutex<HashSet<String>>,
    duplicates: AtomicUsize,
    quarantined: Mutex<Vec<(String, String, Value)>>,
    fail_next: AtomicUsize,
    delay: Mutex<Duration>,
}

#[async_trait]
impl Sink for Recorder {
    async fn accept(&self, p: Payload<'_>) -> Result<Accepted, SinkError> {
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SinkError::Unavailable("the store is down".into()));
        }
        let bytes = match p.encoding {
            Some("gzip") => {
                let mut out = Vec::new();
                MultiGzDecoder::new(p.body)
                    .read_to_end(&mut out)
                    .map_err(|e| SinkError::Rejected(format!("bad gzip: {e}")))?;
                out
            }
            None => p.body.to_vec(),
            Some(other) => panic!("unexpected encoding {other}"),
        };
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| SinkError::Rejected(format!("payload is not JSON: {e}")))?;
        if !self
            .keys
            .lock()
            .unwrap()
            .insert(p.idempotency_key.to_string())
        {
            self.duplicates.fetch_add(1, Ordering::SeqCst);
            return Ok(Accepted { duplicate: true });
        }
        self.got.lock().unwrap().push(Got {
            source: p.source.to_string(),
            key: p.idempotency_key.to_string(),
            json,
            gzip: p.encoding == Some("gzip"),
        });
        Ok(Accepted { duplicate: false })
    }

    async fn quarantine(
        &self,
        source: &str,
        reason: &str,
        detail: &Value,
    ) -> Result<(), SinkError> {
        self.quarantined.lock().unwrap().push((
            source.to_string(),
            reason.to_string(),
            detail.clone(),
        ));
        Ok(())
    }
}

impl Recorder {
    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
    fn quarantined(&self) -> Vec<(String, String, Value)> {
        self.quarantined.lock().unwrap().clone()
    }
}

struct World {
    moto: Moto,
    sdk: SdkConfig,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

/// A bucket and a queue whose messages stay hidden `visibility` seconds once received.
async fn world(visibility: u32) -> World {
    let moto = Moto::start();
    let sdk = sdk(&moto);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("trail-notifications")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    World {
        moto,
        sdk,
        s3,
        sqs,
        queue_url,
    }
}

impl World {
    fn config(&self) -> SqsConfig {
        SqsConfig {
            endpoint_url: Some(self.moto.url.clone()),
            wait_seconds: 1,
            visibility_secs: 30,
            ..SqsConfig::new(&self.queue_url, REGION)
        }
    }

    async fn consumer(&self, cfg: SqsConfig) -> Consumer {
        Consumer::with_sdk_config(cfg, 64 << 20, self.sdk.clone())
            .await
            .unwrap()
    }

    /// Puts an object; returns its ETag without quotes.
    async fn put(&self, key: &str, body: Vec<u8>) -> String {
        let out = self
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
        out.e_tag().unwrap().trim_matches('"').to_string()
    }

    async fn send(&self, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap()
            .message_id()
            .unwrap()
            .to_string()
    }

    async fn send_batch(&self, bodies: &[String]) {
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(b)
                        .build()
                        .unwrap()
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            assert!(out.failed().is_empty(), "{:?}", out.failed());
        }
    }

    /// Messages in the queue, visible or not.
    async fn queued(&self) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes().unwrap();
        let n = |a: QueueAttributeName| attrs.get(&a).and_then(|v| v.parse::<u64>().ok()).unwrap();
        n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }
}

/// Polls until `done` says so (or panics after `within`); the tallies summed.
async fn poll_until(
    consumer: &Consumer,
    sink: &Recorder,
    within: Duration,
    done: impl Fn(&Tally) -> bool,
) -> Tally {
    let (_tx, mut stop) = watch::channel(false);
    let deadline = Instant::now() + within;
    let mut total = Tally::default();
    while !done(&total) {
        assert!(
            Instant::now() < deadline,
            "not done within {within:?}: {total:?}"
        );
        let t = consumer.poll(sink, &mut stop).await.unwrap();
        total.add(&t);
    }
    total
}

/// S3's notification for one object (AWS docs' shape), the key URL-encoded as S3 does.
fn s3_notification(key: &str, size: usize, etag: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2024-05-01T00:05:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:regionalDeliverySession"},
        "requestParameters": {"sourceIPAddress": "192.0.2.10"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "trail-logs",
            "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
            "object": {"key": s3_encode(key), "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}
        }
    }]})
    .to_string()
}

/// S3's key encoding in notifications: form encoding (space as `+`), `/` kept.
fn s3_encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn sns(message: &str) -> String {
    json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:trail-topic",
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2024-05-01T00:05:00.655Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEw6JRN",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
    })
    .to_string()
}

fn eventbridge_object_created(key: &str, size: usize, etag: &str) -> String {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-05-01T00:05:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:s3:::{BUCKET}")],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": key, "size": size, "etag": etag, "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "192.0.2.10",
            "reason": "PutObject"
        }
    })
    .to_string()
}

/// Every CloudTrail record of the fixtures (S3 delivery files, arrays and single records).
fn cloudtrail_records() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sources/tests/fixtures/cloudtrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        match v {
            Value::Object(ref o) if o.contains_key("Records") => {
                out.extend(v["Records"].as_array().unwrap().iter().cloned())
            }
            Value::Array(a) => out.extend(a),
            other => out.push(other),
        }
    }
    assert!(out.len() > 100, "{} records", out.len());
    out
}

/// A CloudTrail log file as CloudTrail writes it: `{"Records":[…]}`, gzip-compressed.
fn log_file(records: &[Value]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json!({ "Records": records }).to_string().as_bytes())
        .unwrap();
    gz.finish().unwrap()
}

fn object_key(i: usize) -> String {
    // some keys need S3's notification encoding undone (a space, `=`, `+`, `:`)
    let tail = match i % 4 {
        0 => "LnPgDQnpkSKEsppV",
        1 => "with space",
        2 => "a+b=c",
        _ => "x:y",
    };
    format!("AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/123456789012_CloudTrail_us-east-1_20240501T{i:04}Z_{tail}.json.gz")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cloudtrail_object_reaches_the_sink_once_and_its_message_is_deleted() {
    let w = world(30).await;
    let records = cloudtrail_records();
    let n = 60;
    let mut files = Vec::new();
    for i in 0..n {
        let mine: Vec<Value> = (0..5)
            .map(|j| records[(i * 5 + j) % records.len()].clone())
            .collect();
        let body = log_file(&mine);
        let key = object_key(i);
        let etag = w.put(&key, body.clone()).await;
        files.push((key, etag, body.len(), mine));
    }
    let mut bodies: Vec<String> = files
        .iter()
        .map(|(k, e, s, _)| s3_notification(k, *s, e))
        .collect();
    // S3 delivers at least once: the first file's notification twice
    bodies.push(bodies[0].clone());
    w.send_batch(&bodies).await;

    let sink = Recorder::default();
    let consumer = w.consumer(w.config()).await;
    let started = Instant::now();
    let total = poll_until(&consumer, &sink, Duration::from_secs(120), |t| {
        t.deleted >= bodies.len() as u64
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sqs intake: {n} CloudTrail objects ({} messages) in {secs:.2}s = {:.1} objects/s",
        bodies.len(),
        n as f64 / secs
    );

    assert_eq!(total.objects, n as u64, "{total:?}");
    assert_eq!(
        total.duplicates, 1,
        "the repeated notification is a duplicate"
    );
    assert_eq!(total.failed, 0, "{total:?}");
    assert_eq!(total.quarantined, 0, "{:?}", sink.quarantined());
    let got = sink.got();
    assert_eq!(got.len(), n);
    let by_key: HashMap<&str, &Got> = got.iter().map(|g| (g.key.as_str(), g)).collect();
    for (key, etag, _, mine) in &files {
        let want_key = format!("s3:{BUCKET}/{key}@{etag}");
        let g = by_key
            .get(want_key.as_str())
            .unwrap_or_else(|| panic!("{want_key} not accepted; got {:?}", by_key.keys()));
        assert!(g.gzip, "a .json.gz object is passed gzip-encoded");
        assert_eq!(g.source, "auto");
        assert_eq!(g.json["Records"].as_array().unwrap(), mine, "{key}");
    }
    assert_eq!(w.queued().await, 0, "every message deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stays_until_the_sink_has_it() {
    let w = world(2).await;
    let records = cloudtrail_records();
    let key = object_key(1);
    let body = log_file(&records[..3]);
    let etag = w.put(&key, body.clone()).await;
    w.send(&s3_notification(&key, body.len(), &etag)).await;

    let sink = Recorder::default();
    sink.fail_next.store(1, Ordering::SeqCst);
    let consumer = w
        .consumer(SqsConfig {
            visibility_secs: 2,
            ..w.config()
        })
        .await;
    let (_tx, mut stop) = watch::channel(false);
    let first = consumer.poll(&sink, &mut stop).await.unwrap();
    assert_eq!(
        (first.received, first.failed, first.deleted),
        (1, 1, 0),
        "{first:?}"
    );
    assert!(first.last_error.unwrap().contains("the store is down"));
    assert!(sink.got().is_empty());
    assert_eq!(w.queued().await, 1, "the message was not deleted");

    // hidden for its visibility timeout, then received again, and this time the sink has it
    let again = consumer.poll(&sink, &mut stop).await.unwrap();
    assert_eq!(again.received, 0, "still invisible: {again:?}");
    let total = poll_until(&consumer, &sink, Duration::from_secs(30), |t| {
        t.deleted == 1
    })
    .await;
    assert_eq!((total.objects, total.failed), (1, 0), "{total:?}");
    assert_eq!(sink.got()[0].key, format!("s3:{BUCKET}/{key}@{etag}"));
    assert_eq!(w.queued().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_objects_are_quarantined_unread() {
    let w = world(30).await;
    let records = cloudtrail_records();
    let big = log_file(&records[..60]);
    assert!(big.len() > 2000, "{}", big.len());
    let small = log_file(&records[..1]);
    assert!(small.len() < 2000, "{}", small.len());
    let (k1, k2, k3) = (object_key(1), object_key(2), object_key(3));
    let e1 = w.put(&k1, big.clone()).await;
    let e2 = w.put(&k2, big.clone()).await;
    let e3 = w.put(&k3, small.clone()).await;
    // by the notification's size; by the object's length (CloudTrail's notice gives none)
    w.send(&s3_notification(&k1, big.len(), &e1)).await;
    w.send(&sns(
        &json!({"s3Bucket": BUCKET, "s3ObjectKey": [k2, k3]}).to_string()
    ))
    .await;

    let sink = Recorder::default();
    let consumer = w
        .consumer(SqsConfig {
            max_object_bytes: Some(2000),
            ..w.config()
        })
        .await;
    let total = poll_until(&consumer, &sink, Duration::from_secs(30), |t| {
        t.deleted == 2
    })
    .await;
    assert_eq!((total.quarantined, total.objects), (2, 1), "{total:?}");
    let q = sink.quarantined();
    let keys: HashSet<&str> = q
        .iter()
        .map(|(_, _, d)| d["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, HashSet::from([k1.as_str(), k2.as_str()]));
    for (source, reason, detail) in &q {
        assert_eq!(source, "auto");
        assert!(reason.contains("max_object_bytes (2000)"), "{reason}");
        assert_eq!(detail["bucket"], BUCKET);
        assert_eq!(detail["size"], big.len());
    }
    assert_eq!(
        q.iter()
            .find(|(_, _, d)| d["key"] == k2.as_str())
            .unwrap()
            .2["etag"],
        e2
    );
    assert_eq!(sink.got()[0].key, format!("s3:{BUCKET}/{k3}@{e3}"));
    assert_eq!(w.queued().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_shape_and_event_is_handled() {
    let w = world(30).await;
    let records = cloudtrail_records();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sources/tests/fixtures");
    let read = |rel: &str| std::fs::read_to_string(fixtures.join(rel)).unwrap();

    // objects: SNS-wrapped S3 notification, EventBridge (key not encoded), CloudTrail's notice
    let (ka, kb, kc, kd) = (
        object_key(1),
        "eventbridge/2024-05-01T00:05:00 a+b.json".to_string(),
        object_key(3),
        object_key(4),
    );
    let plain = json!({"Records": &records[..2]}).to_string().into_bytes();
    let ea = w.put(&ka, log_file(&records[..1])).await;
    let eb = w.put(&kb, plain.clone()).await;
    let ec = w.put(&kc, log_file(&records[2..3])).await;
    let ed = w.put(&kd, log_file(&records[3..4])).await;
    let garbage = "garbage/not-json.json";
    w.put(garbage, b"<html>not a log</html>".to_vec()).await;

    let guardduty = read("guardduty/eventbridge_backdoor_ec2_cc_activity_dns_example.json");
    let guardduty_id = serde_json::from_str::<Value>(&guardduty).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let securityhub = read("securityhub/eventbridge_imported_fsbp_ec2.7_failed_new.json");
    let securityhub_id = serde_json::from_str::<Value>(&securityhub).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"trail-logs","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;

    w.send(&sns(&s3_notification(&ka, 10, &ea))).await;
    w.send(&eventbridge_object_created(&kb, plain.len(), &eb))
        .await;
    w.send(&sns(
        &json!({"s3Bucket": BUCKET, "s3ObjectKey": [kc, kd]}).to_string()
    ))
    .await;
    w.send(&guardduty).await;
    w.send(&sns(&securityhub)).await;
    w.send(test_event).await;
    let malformed_id = w.send("this is not JSON").await;
    w.send(&s3_notification(garbage, 22, "x")).await;
    w.send(&s3_notification("AWSLogs/gone.json.gz", 10, "y"))
        .await;

    let sink = Recorder::default();
    let consumer = w.consumer(w.config()).await;
    let total = poll_until(&consumer, &sink, Duration::from_secs(60), |t| {
        t.deleted == 9
    })
    .await;
    assert_eq!(
        (
            total.objects,
            total.events,
            total.nothing,
            total.quarantined,
            total.failed
        ),
        (4, 2, 1, 3, 0),
        "{total:?}"
    );
    let keys: HashSet<String> = sink.got().iter().map(|g| g.key.clone()).collect();
    let want: HashSet<String> = [
        format!("s3:{BUCKET}/{ka}@{ea}"),
        format!("s3:{BUCKET}/{kb}@{eb}"),
        format!("s3:{BUCKET}/{kc}@{ec}"),
        format!("s3:{BUCKET}/{kd}@{ed}"),
        format!("sqs:{guardduty_id}"),
        format!("sqs:{securityhub_id}"),
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, want);
    for g in sink.got() {
        if g.key.contains(&kb) {
            assert!(!g.gzip, "a plain .json object is passed as is");
        }
        if g.key == format!("sqs:{securityhub_id}") {
            assert_eq!(
                g.json["detail-type"], "Security Hub Findings - Imported",
                "unwrapped from SNS"
            );
        }
    }
    let q = sink.quarantined();
    let reason_of = |pred: &dyn Fn(&Value) -> bool| {
        q.iter()
            .find(|(_, _, d)| pred(d))
            .map(|(_, r, _)| r.clone())
            .unwrap_or_else(|| panic!("not quarantined: {q:?}"))
    };
    let r = reason_of(&|d| d["message_id"] == malformed_id.as_str());
    assert!(r.contains("not JSON"), "{r}");
    let r = reason_of(&|d| d["key"] == garbage);
    assert!(r.contains("payload is not JSON"), "{r}");
    let r = reason_of(&|d| d["key"] == "AWSLogs/gone.json.gz");
    assert!(r.contains("NoSuchKey"), "{r}");
    assert_eq!(w.queued().await, 0, "all nine messages deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_being_handled_stays_invisible_to_other_consumers() {
    // visibility 2 s, the sink takes 5 s: without the heartbeat a second consumer would get it
    let w = world(2).await;
    let key = object_key(0);
    let body = log_file(&cloudtrail_records()[..2]);
    let etag = w.put(&key, body.clone()).await;
    w.send(&s3_notification(&key, body.len(), &etag)).await;
    let cfg = SqsConfig {
        visibility_secs: 2,
        ..w.config()
    };
    let slow = std::sync::Arc::new(Recorder::default());
    *slow.delay.lock().unwrap() = Duration::from_secs(5);
    let a = w.consumer(cfg.clone()).await;
    let b = w.consumer(cfg).await;
    let other = Recorder::default();
    let slow2 = slow.clone();
    let first = tokio::spawn(async move {
        let (_tx, mut stop) = watch::channel(false);
        a.poll(&*slow2, &mut stop).await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_tx, mut stop) = watch::channel(false);
    let until = Instant::now() + Duration::from_secs(5);
    let mut seen_by_b = 0;
    while Instant::now() < until {
        seen_by_b += b.poll(&other, &mut stop).await.unwrap().received;
    }
    let first = first.await.unwrap();
    assert_eq!(seen_by_b, 0, "the message was handed to a second consumer");
    assert_eq!((first.objects, first.deleted), (1, 1), "{first:?}");
    assert_eq!(w.queued().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_ends_at_the_stop_signal() {
    let w = world(30).await;
    let consumer = w
        .consumer(SqsConfig {
            wait_seconds: 20,
            ..w.config()
        })
        .await;
    let sink = Recorder::default();
    let (tx, mut stop) = watch::channel(false);
    let started = Instant::now();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(true).unwrap();
        tx
    });
    let t = consumer.poll(&sink, &mut stop).await.unwrap();
    assert_eq!(t, Tally::default());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the poll waited {:?} after the stop",
        started.elapsed()
    );
    drop(stopper.await);
}
