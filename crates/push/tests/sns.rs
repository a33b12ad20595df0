//! SNS messages signed with test keys, their certificates served on loopback: what is
//! accepted, what is refused and why, and the subscription confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, Utc};
use irene_push::testing::{key_a, key_b, sns_confirmation, sns_notification, sns_sign, FileServer};
use irene_push::{SnsConfig, SnsError, SnsKind, SnsVerifier};
use serde_json::Value;

const TOPIC: &str = "arn:aws:sns:eu-west-1:111111111111:guardduty-findings";
const FINDING: &str = r#"{"version":"0","source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"abc"}}"#;

struct Setup {
    server: FileServer,
    verifier: SnsVerifier,
    now: DateTime<Utc>,
}

impl Setup {
    async fn new() -> Setup {
        let server = FileServer::start().await;
        server.set(
            "/sns/cert-a.pem",
            "application/x-pem-file",
            key_a().cert_pem(),
        );
        server.set(
            "/sns/cert-b.pem",
            "application/x-pem-file",
            key_b().cert_pem(),
        );
        let verifier = SnsVerifier::new(&SnsConfig {
            topics: vec![TOPIC.to_string()],
            allow_urls: vec![format!("{}/sns/", server.url)],
            ..SnsConfig::default()
        })
        .unwrap()
        .unwrap();
        Setup {
            server,
            verifier,
            now: Utc::now(),
        }
    }

    fn cert(&self) -> String {
        format!("{}/sns/cert-a.pem", self.server.url)
    }

    fn timestamp(&self, ago: TimeDelta) -> String {
        (self.now - ago).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn notification(&self, version: &str) -> Value {
        let mut m = sns_notification(
            TOPIC,
            FINDING,
            None,
            &self.timestamp(TimeDelta::seconds(5)),
            &self.cert(),
        );
        sns_sign(&mut m, &key_a(), version);
        m
    }

    async fn verify(&self, m: &Value) -> Result<irene_push::SnsMessage, SnsError> {
        self.verifier
            .verify(m.to_string().as_bytes(), self.now)
            .await
    }
}

#[tokio::test]
async fn signature_versions_1_and_2_verify_and_give_the_message() {
    let s = Setup::new().await;
    for version in ["1", "2"] {
        let msg = s.verify(&s.notification(version)).await.unwrap();
        assert_eq!(msg.kind().unwrap(), SnsKind::Notification);
        assert_eq!(msg.message, FINDING);
        assert_eq!(msg.message_id, "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324");
    }
    // the certificate was fetched once and kept
    assert_eq!(s.server.hits("/sns/cert-a.pem"), 1);
}

#[tokio::test]
async fn a_subject_is_signed_too() {
    let s = Setup::new().await;
    let mut m = sns_notification(
        TOPIC,
        FINDING,
        Some("GuardDuty"),
        &s.timestamp(TimeDelta::zero()),
        &s.cert(),
    );
    sns_sign(&mut m, &key_a(), "2");
    s.verify(&m).await.unwrap();
    m["Subject"] = Value::from("Something else");
    assert!(matches!(
        s.verify(&m).await,
        Err(SnsError::SignatureMismatch)
    ));
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused() {
    let s = Setup::new().await;
    let mut m = sns_notification(
        TOPIC,
        FINDING,
        None,
        &s.timestamp(TimeDelta::zero()),
        &s.cert(),
    );
    // signed by key b, while the certificate it names holds key a
    sns_sign(&mut m, &key_b(), "1");
    assert!(matches!(
        s.verify(&m).await,
        Err(SnsError::SignatureMismatch)
    ));
    // and the certificate of key b does verify it
    m["SigningCertURL"] = Value::from(format!("{}/sns/cert-b.pem", s.server.url));
    s.verify(&m).await.unwrap();
}

#[tokio::test]
async fn a_tampered_message_is_refused() {
    let s = Setup::new().await;
    for version in ["1", "2"] {
        let mut m = s.notification(version);
        m["Message"] = Value::from(FINDING.replace("abc", "abd"));
        assert!(
            matches!(s.verify(&m).await, Err(SnsError::SignatureMismatch)),
            "v{version}"
        );
        let mut m = s.notification(version);
        m["Type"] = Value::from("UnsubscribeConfirmation");
        assert!(s.verify(&m).await.is_err());
    }
}

#[tokio::test]
async fn a_certificate_on_a_host_not_allowed_is_never_fetched() {
    let s = Setup::new().await;
    for url in [
        format!("{}/elsewhere/cert-a.pem", s.server.url),
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem".to_string(),
        "http://sns.us-east-1.amazonaws.com/cert.pem".to_string(),
    ] {
        s.server.set(
            "/elsewhere/cert-a.pem",
            "application/x-pem-file",
            key_a().cert_pem(),
        );
        let mut m = sns_notification(TOPIC, FINDING, None, &s.timestamp(TimeDelta::zero()), &url);
        sns_sign(&mut m, &key_a(), "1");
        let err = s.verify(&m).await.unwrap_err();
        assert!(
            matches!(
                err,
                SnsError::UrlNotAllowed {
                    what: "SigningCertURL",
                    ..
                }
            ),
            "{url}: {err}"
        );
    }
    assert_eq!(s.server.hits("/elsewhere/cert-a.pem"), 0);
}

#[tokio::test]
async fn an_unknown_topic_is_refused_before_any_fetch() {
    let s = Setup::new().await;
    let other = "arn:aws:sns:eu-west-1:999999999999:attacker";
    let mut m = sns_notification(
        other,
        FINDING,
        None,
        &s.timestamp(TimeDelta::zero()),
        &s.cert(),
    );
    sns_sign(&mut m, &key_a(), "1");
    let err = s.verify(&m).await.unwrap_err();
    assert!(
        matches!(err, SnsError::TopicNotAllowed(ref t) if t == other),
        "{err}"
    );
    assert_eq!(s.server.hits("/sns/cert-a.pem"), 0);
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused() {
    let s = Setup::new().await;
    let mut m = sns_notification(
        TOPIC,
        FINDING,
        None,
        &s.timestamp(TimeDelta::minutes(61)),
        &s.cert(),
    );
    sns_sign(&mut m, &key_a(), "1");
    assert!(matches!(s.verify(&m).await, Err(SnsError::Stale { .. })));
    let mut m = sns_notification(
        TOPIC,
        FINDING,
        None,
        &s.timestamp(TimeDelta::minutes(59)),
        &s.cert(),
    );
    sns_sign(&mut m, &key_a(), "1");
    s.verify(&m).await.unwrap();
    let mut m = sns_notification(
        TOPIC,
        FINDING,
        None,
        &s.timestamp(-TimeDelta::minutes(10)),
        &s.cert(),
    );
    sns_sign(&mut m, &key_a(), "1");
    assert!(matches!(
        s.verify(&m).await,
        Err(SnsError::FromTheFuture(_))
    ));
}

#[tokio::test]
async fn unsupported_versions_and_garbage_are_refused() {
    let s = Setup::new().await;
    let mut m = s.notification("1");
    m["SignatureVersion"] = Value::from("3");
    assert!(matches!(
        s.verify(&m).await,
        Err(SnsError::SignatureVersion(_))
    ));
    let mut m = s.notification("1");
    m["Signature"] = Value::from("not base64 !!");
    assert!(matches!(
        s.verify(&m).await,
        Err(SnsError::SignatureEncoding)
    ));
    assert!(matches!(
        s.verifier
            .verify(b"{\"Type\": \"Notification\"}", s.now)
            .await,
        Err(SnsError::Malformed(_))
    ));
    assert!(matches!(
        s.verifier.verify(b"[1,2]", s.now).await,
        Err(SnsError::Malformed(_))
    ));
}

#[tokio::test]
async fn a_certificate_that_cannot_be_fetched_is_an_upstream_failure() {
    let s = Setup::new().await;
    let url = format!("{}/sns/missing.pem", s.server.url);
    let mut m = sns_notification(TOPIC, FINDING, None, &s.timestamp(TimeDelta::zero()), &url);
    sns_sign(&mut m, &key_a(), "1");
    let err = s.verify(&m).await.unwrap_err();
    assert!(
        matches!(err, SnsError::CertUnavailable(_)) && err.is_upstream(),
        "{err}"
    );
    s.server
        .set("/sns/missing.pem", "text/plain", "not a certificate");
    assert!(matches!(s.verify(&m).await, Err(SnsError::CertInvalid(_))));
}

#[tokio::test]
async fn a_subscription_confirmation_is_verified_then_confirmed_by_its_url() {
    let s = Setup::new().await;
    s.server
        .set("/sns/confirm", "text/xml", "<ConfirmSubscriptionResponse/>");
    let subscribe = format!(
        "{}/sns/confirm?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f",
        s.server.url
    );
    let mut m = sns_confirmation(
        TOPIC,
        &subscribe,
        &s.timestamp(TimeDelta::zero()),
        &s.cert(),
    );
    sns_sign(&mut m, &key_a(), "1");
    let msg = s.verify(&m).await.unwrap();
    assert_eq!(msg.kind().unwrap(), SnsKind::SubscriptionConfirmation);
    assert_eq!(
        s.server.hits("/sns/confirm"),
        0,
        "verifying does not confirm"
    );
    s.verifier.confirm(&msg).await.unwrap();
    assert_eq!(s.server.hits("/sns/confirm"), 1);
    assert!(s
        .server
        .requests()
        .iter()
        .any(|r| r.contains("Token=2336412f")));

    // a tampered SubscribeURL breaks the signature; one on another host is refused outright
    let mut forged = m.clone();
    forged["SubscribeURL"] = Value::from(format!("{}/sns/confirm?Token=other", s.server.url));
    assert!(matches!(
        s.verify(&forged).await,
        Err(SnsError::SignatureMismatch)
    ));
    let mut elsewhere = sns_confirmation(
        TOPIC,
        "https://evil.example/confirm",
        &s.timestamp(TimeDelta::zero()),
        &s.cert(),
    );
    sns_sign(&mut elsewhere, &key_a(), "1");
    assert!(matches!(
        s.verify(&elsewhere).await,
        Err(SnsError::UrlNotAllowed {
            what: "SubscribeURL",
            ..
        })
    ));

    // a confirmation URL that fails is an upstream failure (SNS sends the message again)
    s.server.set_status("/sns/confirm", 500, "text/plain", "no");
    let err = s.verifier.confirm(&msg).await.unwrap_err();
    assert!(err.is_upstream(), "{err}");
    assert!(!err.to_string().contains("Token="), "{err}");
}
