//! Tests of the shared machinery through the generic receiver: recording, fault rules, chaos, shutdown.
//! Every fake uses the same layer, so these pin its behaviour once.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irene_fakes::{Chaos, FakeReceiver, Fault, FaultKind};
use reqwest::Client;
use serde_json::{json, Value};
use std::time::Duration;

async fn post(url: &str) -> Result<u16, reqwest::Error> {
    let resp = Client::new()
        .post(url)
        .timeout(Duration::from_millis(500))
        .json(&json!({"n": 1}))
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

#[tokio::test]
async fn receiver_records_posts_to_any_path() {
    let r = FakeReceiver::start().await;
    let resp = Client::new()
        .post(format!("{}/hooks/irene?x=1", r.url()))
        .header("x-signature", "abc")
        .json(&json!({"alert": "a1"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap_or(Value::Null), json!({}));
    assert_eq!(post(&format!("{}/", r.url())).await.ok(), Some(200));
    let got = r.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hooks/irene");
    assert_eq!(got[0].query, "x=1");
    assert_eq!(got[0].header("X-Signature"), Some("abc"));
    assert_eq!(got[0].json(), json!({"alert": "a1"}));
    assert_eq!(got[0].status, 200);
    let resp = Client::new()
        .get(format!("{}/x", r.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(r.received().len(), 2, "only 2xx answers count as received");
    assert_eq!(r.requests().len(), 3);
}

#[tokio::test]
async fn fault_rules_match_in_order_and_are_used_up() {
    let r = FakeReceiver::start().await;
    let url = |p: &str| format!("{}{p}", r.url());
    r.fault(Fault::new(FaultKind::Status(500)).on("POST", "/a").times(2));
    r.fault(
        Fault::new(FaultKind::RateLimited {
            retry_after: Some(3),
        })
        .on("*", "/b"),
    );
    r.fault(Fault::new(FaultKind::Status(503)).on("GET", "").forever());
    let mut got = Vec::new();
    for p in ["/a", "/b", "/a", "/a", "/b"] {
        got.push(post(&url(p)).await.ok());
    }
    assert_eq!(
        got,
        vec![Some(500), Some(429), Some(500), Some(200), Some(200)]
    );
    let resp = Client::new().get(url("/z")).send().await.expect("send");
    assert_eq!(resp.status().as_u16(), 503, "forever rule on GET");
    let limited = r.requests().into_iter().find(|q| q.status == 429);
    assert!(limited.is_some());
    r.clear_faults();
    let resp = Client::new().get(url("/z")).send().await.expect("send");
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(r.received().len(), 2);
}

#[tokio::test]
async fn hang_times_out_and_reset_closes_the_connection() {
    let r = FakeReceiver::start().await;
    r.fault(Fault::new(FaultKind::Hang));
    let err = post(&format!("{}/h", r.url())).await.expect_err("hang");
    assert!(err.is_timeout(), "{err}");
    r.fault(Fault::new(FaultKind::Reset));
    let err = post(&format!("{}/r", r.url())).await.expect_err("reset");
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(post(&format!("{}/ok", r.url())).await.ok(), Some(200));
    let statuses: Vec<u16> = r.requests().iter().map(|q| q.status).collect();
    assert_eq!(statuses, vec![0, 0, 200]);
    assert_eq!(r.received().len(), 1);
}

#[tokio::test]
async fn chaos_is_deterministic_per_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let r = FakeReceiver::start().await;
        r.chaos(
            Chaos::new(
                0.5,
                vec![FaultKind::Status(500), FaultKind::Status(502)],
                seed,
            )
            .on("POST", "/c"),
        );
        let mut out = Vec::new();
        for _ in 0..30 {
            out.push(post(&format!("{}/c", r.url())).await.unwrap_or(0));
        }
        // Requests outside the filter are never faulted.
        assert_eq!(post(&format!("{}/other", r.url())).await.ok(), Some(200));
        out
    }
    let a = run(42).await;
    assert_eq!(a, run(42).await, "same seed, same faults");
    assert_ne!(a, run(43).await, "another seed, other faults");
    assert!(a.contains(&200) && a.iter().any(|s| *s >= 500), "{a:?}");
}

#[tokio::test]
async fn inspection_endpoint_is_never_faulted_and_shutdown_stops_serving() {
    let r = FakeReceiver::start().await;
    post(&format!("{}/x", r.url())).await.ok();
    r.fault(Fault::new(FaultKind::Reset).forever());
    let v: Value = Client::new()
        .get(format!("{}/_fake/state", r.url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(v["received"][0]["path"], "/x");
    r.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = Client::new()
        .post(format!("{}/x", r.url()))
        .send()
        .await
        .expect_err("stopped");
    assert!(err.is_connect() || err.is_request(), "{err}");
}
