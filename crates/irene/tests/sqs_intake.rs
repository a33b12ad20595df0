//! The S3 -> SQS intake end to end, against moto's server (real software) and the real binary:
//! 200 CloudTrail `.json.gz` log files in a bucket, their S3 notifications in a queue, `irene
//! serve` with `[[sqs]]` on it, SIGKILLed half-way and started again. In the end every record
//! is exactly one event, and the queue is empty (every message deleted once its file was in).
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../cloud/tests/support/moto.rs"]
mod moto;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use common::{fixture, Server};
use moto::Moto;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

const REGION: &str = "us-east-1";
const BUCKET: &str = "org-trail";
const OBJECTS: usize = 200;
const PER_OBJECT: usize = 5;

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

/// Every CloudTrail record of the fixtures, each given an `eventID` of its own per use.
fn records() -> Vec<Value> {
    let dir = fixture("cloudtrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
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

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// S3's notification for one object (the shape of AWS's documentation; keys URL-encoded).
fn notification(key: &str, size: usize, etag: &str) -> String {
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
            "configurationId": "org-trail",
            "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
            "object": {"key": key.replace(':', "%3A"), "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}
        }
    }]})
    .to_string()
}

async fn queued(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
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

/// Every event's source id, over the cursors.
async fn event_ids(s: &Server) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = s
            .get(&format!(
                "/api/v1/events?source=aws.cloudtrail&limit=500&cursor={cursor}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        for e in body["events"].as_array().cloned().unwrap_or_default() {
            out.push(e["source_id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return out,
        }
    }
}

fn config(dir: &std::path::Path, moto: &Moto, queue_url: &str) -> String {
    let text = format!(
        r#"[[sqs]]
queue_url = "{queue_url}"
region = "{REGION}"
endpoint_url = "{moto}"
source = "auto"
wait_seconds = 1
visibility_secs = 5
"#,
        moto = moto.url,
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cloudtrail_record_is_one_event_across_a_crash_and_the_queue_ends_empty() {
    let moto = Moto::start();
    let sdk = sdk(&moto);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name("org-trail-notifications")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();

    // 200 log files of 5 records, every record with an eventID of its own
    let pool = records();
    let mut want = HashSet::new();
    let mut bodies = Vec::new();
    for i in 0..OBJECTS {
        let mut mine = Vec::new();
        for j in 0..PER_OBJECT {
            let mut r = pool[(i * PER_OBJECT + j) % pool.len()].clone();
            let id = format!("5a7e1c00-0000-4000-8000-{:06}{:06}", i, j);
            r["eventID"] = json!(id);
            want.insert(id);
            mine.push(r);
        }
        let body = gzip(json!({ "Records": mine }).to_string().as_bytes());
        let key = format!(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/123456789012_CloudTrail_us-east-1_20240501T0000Z_{i:04}.json.gz"
        );
        let out = s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        let etag = out.e_tag().unwrap().trim_matches('"').to_string();
        bodies.push(notification(&key, body.len(), &etag));
    }
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
                    .unwrap()
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed().is_empty());
    }
    assert_eq!(queued(&sqs, &queue_url).await, OBJECTS as u64);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = config(dir.path(), &moto, &queue_url);
    let mut first = Server::start_env(&data, &["--config", &cfg], &AWS_ENV);

    // SIGKILL once some files are in and others are not
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (st, body) = first
            .get("/api/v1/events?source=aws.cloudtrail&limit=1")
            .await;
        assert_eq!(st, 200, "{body}");
        if body["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no event from the queue within 120 s: {}",
            first.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill9();
    let left = queued(&sqs, &queue_url).await;
    assert!(
        left > 0,
        "the crash came after every message was handled; nothing was tested mid-way"
    );

    // started again on the same data: messages in flight at the crash come back after their
    // visibility timeout (5 s); files already in are duplicates, their messages deleted
    let second = Server::start_env(&data, &["--config", &cfg], &AWS_ENV);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if queued(&sqs, &queue_url).await == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not empty within 180 s: {}",
            second.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    second.drained().await;

    let ids = event_ids(&second).await;
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "an event stored twice");
    assert_eq!(unique, want, "every CloudTrail record exactly once");

    let (st, status) = second.get("/api/v1/status").await;
    assert_eq!(st, 200);
    let sqs_worker = status["workers"]
        .as_array()
        .and_then(|w| {
            w.iter()
                .find(|w| w["name"] == "sqs:org-trail-notifications")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no sqs worker in the status: {status}"));
    assert_eq!(sqs_worker["errors_total"], 0, "{sqs_worker}");
    assert_eq!(status["quarantined"], 0, "{status}");

    // a clean stop ends the long poll and exits 0
    let (code, logs) = second.terminate();
    assert_eq!(code, Some(0), "{logs}");
}
