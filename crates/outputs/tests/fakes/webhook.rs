//! The generic webhook output against the fake receiver: body, headers, a signature that
//! verifies, and retry/dead classification without the URL's credentials in errors.

use super::*;
use irene_fakes::{FakeReceiver, Fault, FaultKind};

#[tokio::test]
async fn posts_a_signed_delivery() {
    let rx = FakeReceiver::start().await;
    let out = output(
        json!({"type": "webhook", "name": "wh", "url": format!("{}/hooks/irene", rx.url()), "secret": "s3cr3t-value"}),
    );
    let c = case(301, Severity::Low);
    let d = delivery(42, "wh", Action::Open, &c, json!({"severity": "low"}), None);
    done_ticket(&out.deliver(&d, &MemJournal::default()).await);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hooks/irene");
    assert_eq!(r.header("x-irene-event"), Some("open"));
    assert_eq!(r.header("x-irene-delivery"), Some("42"));
    assert_eq!(r.header("user-agent"), Some("irene-tests/0.1"));
    let sig = r.header("x-irene-signature-256").unwrap_or_default();
    assert!(
        irene_outputs::verify_signature("s3cr3t-value", r.body.as_bytes(), sig),
        "{sig}"
    );
    assert!(!irene_outputs::verify_signature(
        "other",
        r.body.as_bytes(),
        sig
    ));
    let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
    assert_eq!(body["delivery"], 42);
    assert_eq!(body["action"], "open");
    assert_eq!(body["case"]["id"], json!(c.id));
    assert_eq!(body["detail"]["severity"], "low");
    assert_eq!(body["alert"]["actor"]["ip"], "198.51.100.7");
}

#[tokio::test]
async fn failures_are_classified_without_the_url() {
    let rx = FakeReceiver::start().await;
    let url = rx.url().replace("http://", "http://user:pa55word@");
    let out = output(json!({"type": "webhook", "name": "wh", "url": url}));
    let c = case(302, Severity::Low);
    let j = MemJournal::default();
    let d = delivery(1, "wh", Action::Resolve, &c, json!({}), None);
    for (kind, retry) in [
        (FaultKind::Status(500), true),
        (FaultKind::Status(408), true),
        (
            FaultKind::RateLimited {
                retry_after: Some(9),
            },
            true,
        ),
        (FaultKind::Reset, true),
        (FaultKind::Status(404), false),
        (FaultKind::Status(401), false),
    ] {
        rx.fault(Fault::new(kind.clone()));
        let o = out.deliver(&d, &j).await;
        let error = match (&o, retry) {
            (Outcome::Retry { error, .. }, true) | (Outcome::Dead { error }, false) => {
                error.clone()
            }
            _ => panic!("{kind:?}: {o:?}"),
        };
        assert!(!error.contains("pa55word"), "{error}");
    }
    done_ticket(&out.deliver(&d, &j).await);
    assert_eq!(rx.received().len(), 1);
    // no secret configured: no signature header
    assert_eq!(rx.received()[0].header("x-irene-signature-256"), None);
}
