//! Contract tests for the fake PagerDuty Events API v2: validation, the alert state machine, change events.
//! They post real HTTP requests with reqwest and inspect the fake's recorded alerts.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irene_fakes::{FakePagerDuty, Fault, FaultKind};
use reqwest::Client;
use serde_json::{json, Value};

const KEY: &str = "e93facc04764012d7bfb002500d5d1a6";

async fn post(pd: &FakePagerDuty, path: &str, body: &Value) -> (u16, Option<String>, Value) {
    let resp = Client::new()
        .post(format!("{}{path}", pd.url()))
        .json(body)
        .send()
        .await
        .expect("request reaches the fake");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let v = resp.json().await.unwrap_or(Value::Null);
    (status, retry, v)
}

fn trigger(dedup: Option<&str>) -> Value {
    let mut v = json!({"routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": "DISK at 99%", "source": "db01", "severity": "critical"}});
    if let Some(d) = dedup {
        v["dedup_key"] = json!(d);
    }
    v
}

fn follow_up(action: &str, dedup: &str) -> Value {
    json!({"routing_key": KEY, "event_action": action, "dedup_key": dedup})
}

#[tokio::test]
async fn validation_table() {
    let pd = FakePagerDuty::start().await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = trigger(Some("k"));
        f(&mut v);
        v
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no routing key",
            with(&|v| {
                v.as_object_mut().map(|o| o.remove("routing_key"));
            }),
            "'routing_key' is missing or blank",
        ),
        (
            "short key",
            with(&|v| v["routing_key"] = json!("abc")),
            "Length of 'routing_key' is incorrect (should be 32 characters)",
        ),
        (
            "non-alnum key",
            with(&|v| v["routing_key"] = json!("e93facc04764012d7bfb002500d5d1a-")),
            "'routing_key' cannot contain non-alphanumeric characters.",
        ),
        (
            "bad action",
            with(&|v| v["event_action"] = json!("escalate")),
            "'event_action' is invalid",
        ),
        (
            "no action",
            with(&|v| {
                v.as_object_mut().map(|o| o.remove("event_action"));
            }),
            "'event_action' is missing or blank",
        ),
        (
            "no payload",
            with(&|v| {
                v.as_object_mut().map(|o| o.remove("payload"));
            }),
            "'payload' is missing or blank",
        ),
        (
            "no summary",
            with(&|v| {
                v["payload"].as_object_mut().map(|o| o.remove("summary"));
            }),
            "'payload.summary' is missing or blank",
        ),
        (
            "no source",
            with(&|v| {
                v["payload"].as_object_mut().map(|o| o.remove("source"));
            }),
            "'payload.source' is missing or blank",
        ),
        (
            "no severity",
            with(&|v| {
                v["payload"].as_object_mut().map(|o| o.remove("severity"));
            }),
            "'payload.severity' is missing or blank",
        ),
        (
            "bad severity",
            with(&|v| v["payload"]["severity"] = json!("high")),
            "'payload.severity' is invalid",
        ),
        (
            "long summary",
            with(&|v| v["payload"]["summary"] = json!("s".repeat(1025))),
            "'payload.summary' is too long",
        ),
        (
            "long dedup",
            with(&|v| v["dedup_key"] = json!("d".repeat(256))),
            "'dedup_key' is too long",
        ),
        (
            "ack without dedup",
            json!({"routing_key": KEY, "event_action": "acknowledge"}),
            "'dedup_key' is missing or blank",
        ),
        (
            "resolve without dedup",
            json!({"routing_key": KEY, "event_action": "resolve"}),
            "'dedup_key' is missing or blank",
        ),
        (
            "huge body",
            with(&|v| v["payload"]["custom_details"] = json!({"x": "y".repeat(520 * 1024)})),
            "too large",
        ),
    ];
    for (name, body, want) in cases {
        let (s, _, v) = post(&pd, "/v2/enqueue", &body).await;
        assert_eq!(s, 400, "{name}: {v}");
        assert_eq!(v["status"], "invalid event", "{name}");
        assert_eq!(v["message"], "Event object is invalid", "{name}");
        let errors: Vec<&str> = v["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{name}: {errors:?}"
        );
    }
    // Boundaries are accepted.
    let ok = with(&|v| {
        v["payload"]["summary"] = json!("s".repeat(1024));
        v["dedup_key"] = json!("d".repeat(255));
    });
    assert_eq!(post(&pd, "/v2/enqueue", &ok).await.0, 202);
    for sev in ["critical", "error", "warning", "info"] {
        let v = with(&|v| v["payload"]["severity"] = json!(sev));
        assert_eq!(post(&pd, "/v2/enqueue", &v).await.0, 202, "{sev}");
    }
    // Bad JSON.
    let resp = Client::new()
        .post(format!("{}/v2/enqueue", pd.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(v["errors"], json!(["JSON parse error"]));
    assert_eq!(pd.events().len(), 5, "only accepted events are recorded");
}

#[tokio::test]
async fn alert_state_machine_per_routing_and_dedup_key() {
    let pd = FakePagerDuty::start().await;
    let other_key = "0123456789abcdef0123456789ABCDEF";
    let steps: Vec<(Value, &str)> = vec![
        (trigger(Some("a")), "triggered"),
        (trigger(Some("a")), "triggered"),
        (follow_up("acknowledge", "a"), "acknowledged"),
        (trigger(Some("a")), "acknowledged"),
        (follow_up("acknowledge", "a"), "acknowledged"),
        (
            json!({"routing_key": other_key, "event_action": "resolve", "dedup_key": "a"}),
            "acknowledged",
        ),
        (follow_up("resolve", "a"), "resolved"),
        (follow_up("acknowledge", "a"), "resolved"),
    ];
    for (i, (event, want)) in steps.into_iter().enumerate() {
        let (s, _, v) = post(&pd, "/v2/enqueue", &event).await;
        assert_eq!(s, 202, "step {i}: {v}");
        assert_eq!(
            v,
            json!({"status": "success", "message": "Event processed", "dedup_key": "a"}),
            "step {i}"
        );
        let alerts = pd.alerts();
        assert_eq!(alerts.len(), 1, "step {i}");
        assert_eq!(alerts[0].status, want, "step {i}");
    }
    assert_eq!(pd.alerts()[0].triggers, 3);
    assert_eq!(
        pd.dropped().len(),
        2,
        "other-key resolve and ack-after-resolve were dropped"
    );

    // A trigger after resolve opens a new alert; the old one stays resolved.
    let (s, _, _) = post(&pd, "/v2/enqueue", &trigger(Some("a"))).await;
    assert_eq!(s, 202);
    let alerts = pd.alerts();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].status, "resolved");
    assert_eq!(alerts[1].status, "triggered");
    assert_eq!(alerts[1].triggers, 1);
    assert_eq!(alerts[1].summary, "DISK at 99%");
    assert_eq!(alerts[1].severity, "critical");
    assert_eq!(alerts[1].routing_key, KEY);
    assert_eq!(pd.events().len(), 9);
}

#[tokio::test]
async fn trigger_without_dedup_key_gets_a_fresh_uuid() {
    let pd = FakePagerDuty::start().await;
    let (_, _, a) = post(&pd, "/v2/enqueue", &trigger(None)).await;
    let (_, _, b) = post(&pd, "/v2/enqueue", &trigger(None)).await;
    let (ka, kb) = (
        a["dedup_key"].as_str().unwrap_or(""),
        b["dedup_key"].as_str().unwrap_or(""),
    );
    assert_eq!(ka.len(), 32);
    assert_ne!(ka, kb);
    let alerts = pd.alerts();
    assert_eq!(alerts.len(), 2, "no dedup key means no deduplication");
    assert_eq!(alerts[0].dedup_key, ka);
    // The generated key works for follow-ups.
    post(&pd, "/v2/enqueue", &follow_up("resolve", ka)).await;
    assert_eq!(pd.alerts()[0].status, "resolved");
}

#[tokio::test]
async fn change_events_and_routing_key_restriction() {
    let pd = FakePagerDuty::start().await;
    let change = json!({"routing_key": KEY, "payload": {"summary": "Deployed v2", "source": "ci"}});
    let (s, _, v) = post(&pd, "/v2/change/enqueue", &change).await;
    assert_eq!(s, 202);
    assert_eq!(
        v,
        json!({"status": "success", "message": "Change event processed"})
    );
    let (s, _, _) = post(
        &pd,
        "/v2/change/enqueue",
        &json!({"routing_key": KEY, "payload": {}}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, _) = post(
        &pd,
        "/v2/change/enqueue",
        &json!({"routing_key": format!("R{}", &KEY[1..]), "payload": {"summary": "x"}}),
    )
    .await;
    assert_eq!(s, 400, "ruleset keys take no change events");
    assert_eq!(pd.change_events().len(), 1);
    assert!(pd.alerts().is_empty(), "change events make no alerts");

    pd.restrict_routing_keys(vec![KEY.to_string()]);
    assert_eq!(post(&pd, "/v2/enqueue", &trigger(Some("x"))).await.0, 202);
    let mut other = trigger(Some("x"));
    other["routing_key"] = json!("0123456789abcdef0123456789abcdef");
    let (s, _, v) = post(&pd, "/v2/enqueue", &other).await;
    assert_eq!(s, 400, "{v}");

    let resp = Client::new()
        .get(format!("{}/v2/enqueue", pd.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 404, "only POST is served");
}

#[tokio::test]
async fn faults_use_pagerduty_error_shapes() {
    let pd = FakePagerDuty::start().await;
    pd.fault(
        Fault::new(FaultKind::RateLimited {
            retry_after: Some(7),
        })
        .on("POST", "/v2/enqueue"),
    );
    pd.fault(Fault::new(FaultKind::Status(502)));
    pd.fault(Fault::new(FaultKind::Status(429)));
    let (s, retry, v) = post(&pd, "/v2/enqueue", &trigger(Some("a"))).await;
    assert_eq!((s, retry.as_deref()), (429, Some("7")));
    assert_eq!(v["status"], "throttle exceeded");
    assert_eq!(
        v["message"],
        "Requests for this service are arriving too quickly.  Please retry later."
    );
    let (s, _, v) = post(&pd, "/v2/enqueue", &trigger(Some("a"))).await;
    assert_eq!(s, 502);
    assert!(v["errors"].is_array() && v["status"].is_string() && v["message"].is_string());
    let (s, retry, _) = post(&pd, "/v2/enqueue", &trigger(Some("a"))).await;
    assert_eq!((s, retry), (429, None));
    assert!(pd.alerts().is_empty(), "faulted events were not performed");
    assert_eq!(post(&pd, "/v2/enqueue", &trigger(Some("a"))).await.0, 202);
    let statuses: Vec<u16> = pd.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 502, 429, 202]);
}
