//! The SNS and Pub/Sub push intakes of a real `irene serve`: messages signed with test keys
//! whose certificate and JWKS a loopback server in this process serves; accepted ones become
//! cases, forged ones are refused and leave nothing, and a subscription gets confirmed.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{SecondsFormat, Utc};
use common::{fixture, Server};
use irene_push::testing::{
    google_claims, jwks, key_a, key_b, sns_confirmation, sns_notification, sns_sign, FileServer,
};
use serde_json::{json, Value};
use std::path::Path;

const TOPIC: &str = "arn:aws:sns:eu-west-1:111111111111:guardduty-findings";
const AUDIENCE: &str = "https://irene.test/api/v1/ingest/gcp.scc/pubsub";
const SA: &str = "scc-push@my-project.iam.gserviceaccount.com";
const GUARDDUTY: &str = "guardduty/eventbridge_backdoor_ec2_cc_activity_dns_example.json";
const OTHER_GUARDDUTY: &str = "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json";
const SCC: &str = "gcp-scc/scc_sha_open_firewall_active.json";

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).expect("fixture")
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The loopback server of certificates, confirmation URLs and JWKS.
async fn aws_and_google() -> FileServer {
    let files = FileServer::start().await;
    files.set(
        "/sns/cert.pem",
        "application/x-pem-file",
        key_a().cert_pem(),
    );
    files.set("/sns/confirm", "text/xml", "<ConfirmSubscriptionResponse/>");
    files.set("/google/certs", "application/json", jwks(&[&key_a()]));
    files
}

/// `irene serve` with both push intakes pointing at `files`.
fn start(dir: &Path, files: &FileServer) -> Server {
    let cfg = dir.join("irene.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[intake.sns]
topics = ["{TOPIC}"]
allow_urls = ["{url}/sns/"]

[intake.pubsub]
audience = "{AUDIENCE}"
service_accounts = ["{SA}"]
jwks_url = "{url}/google/certs"
"#,
            url = files.url
        ),
    )
    .expect("config");
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    Server::start(
        &dir.join("data"),
        &["--config", cfg.to_str().expect("path")],
    )
}

fn signed_notification(files: &FileServer, message: &str, id: &str) -> Value {
    let mut m = sns_notification(
        TOPIC,
        message,
        None,
        &now(),
        &format!("{}/sns/cert.pem", files.url),
    );
    m["MessageId"] = json!(id);
    sns_sign(&mut m, &key_a(), "1");
    m
}

async fn post(s: &Server, path: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    s.post_raw(path, body.to_string(), headers).await
}

fn push_body(data: &str, id: &str) -> Value {
    json!({
        "message": {
            "attributes": {"origin": "scc"},
            "data": STANDARD.encode(data),
            "messageId": id,
            "publishTime": now(),
        },
        "subscription": "projects/my-project/subscriptions/irene",
    })
}

#[tokio::test]
async fn an_sns_notification_carrying_a_guardduty_finding_becomes_a_case() {
    let dir = tempfile::tempdir().expect("tmp");
    let files = aws_and_google().await;
    let s = start(dir.path(), &files);
    let path = "/api/v1/ingest/aws.guardduty/sns";

    let good = signed_notification(&files, &read(GUARDDUTY), "0b4f3e0c-0001");
    let (status, body) = post(
        &s,
        path,
        &good,
        &[("x-amz-sns-message-type", "Notification")],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);

    // SNS sends a message again when it is unsure: the same MessageId is stored once
    let (status, body) = post(&s, path, &good, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], true);

    // forged: another finding put in a signed message, and one signed by another key
    let mut tampered = signed_notification(&files, &read(GUARDDUTY), "0b4f3e0c-0002");
    tampered["Message"] = json!(read(OTHER_GUARDDUTY));
    let (status, body) = post(&s, path, &tampered, &[]).await;
    assert_eq!(status, 403, "{body}");
    let mut other_key = sns_notification(
        TOPIC,
        &read(OTHER_GUARDDUTY),
        None,
        &now(),
        &format!("{}/sns/cert.pem", files.url),
    );
    sns_sign(&mut other_key, &key_b(), "2");
    let (status, body) = post(&s, path, &other_key, &[]).await;
    assert_eq!(status, 403, "{body}");
    // a topic not configured, properly signed
    let mut foreign = sns_notification(
        "arn:aws:sns:eu-west-1:999999999999:mine",
        &read(OTHER_GUARDDUTY),
        None,
        &now(),
        &format!("{}/sns/cert.pem", files.url),
    );
    sns_sign(&mut foreign, &key_a(), "1");
    let (status, body) = post(&s, path, &foreign, &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("topic"),
        "{body}"
    );

    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1, "only the genuine finding: {cases:?}");
    assert_eq!(cases[0]["source"], "aws.guardduty");
    assert_eq!(cases[0]["type"], "Backdoor:EC2/C&CActivity.B!DNS");
}

#[tokio::test]
async fn an_sns_subscription_confirmation_fetches_its_subscribe_url() {
    let dir = tempfile::tempdir().expect("tmp");
    let files = aws_and_google().await;
    let s = start(dir.path(), &files);
    let subscribe = format!(
        "{}/sns/confirm?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb",
        files.url
    );
    let mut m = sns_confirmation(
        TOPIC,
        &subscribe,
        &now(),
        &format!("{}/sns/cert.pem", files.url),
    );
    sns_sign(&mut m, &key_a(), "1");
    let (status, body) = post(&s, "/api/v1/ingest/auto/sns", &m, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["confirmed"], true);
    assert_eq!(files.hits("/sns/confirm"), 1);
    assert!(files
        .requests()
        .iter()
        .any(|r| r.contains("Token=2336412f37fb")));

    // a confirmation whose SubscribeURL was swapped after signing is not followed
    let mut forged = m.clone();
    forged["SubscribeURL"] = json!(format!("{}/sns/confirm?Token=attacker", files.url));
    let (status, body) = post(&s, "/api/v1/ingest/auto/sns", &forged, &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(files.hits("/sns/confirm"), 1);
}

#[tokio::test]
async fn a_pubsub_push_with_an_scc_finding_becomes_a_case_and_bad_tokens_get_401() {
    let dir = tempfile::tempdir().expect("tmp");
    let files = aws_and_google().await;
    let s = start(dir.path(), &files);
    let path = "/api/v1/ingest/gcp.scc/pubsub";
    let finding = read(SCC);

    let token = key_a().jwt(&google_claims(AUDIENCE, SA));
    let auth = format!("Bearer {token}");
    let (status, body) = post(
        &s,
        path,
        &push_body(&finding, "2070443601311540"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);
    let (status, body) = post(
        &s,
        path,
        &push_body(&finding, "2070443601311540"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], true);

    // refused: no token, a token signed by another key, one for another audience or account
    let other = push_body(
        &finding.replace("open-cassandra-port", "other-port"),
        "2070443601311541",
    );
    let forged = key_b().jwt_with_kid(key_a().kid, &google_claims(AUDIENCE, SA));
    let wrong_aud = key_a().jwt(&google_claims("https://elsewhere.test/push", SA));
    let wrong_sa = key_a().jwt(&google_claims(
        AUDIENCE,
        "someone@evil.iam.gserviceaccount.com",
    ));
    for bad in [None, Some(forged), Some(wrong_aud), Some(wrong_sa)] {
        let header = bad.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|h| ("authorization", h.as_str()))
            .collect();
        let (status, body) = post(&s, path, &other, &headers).await;
        assert_eq!(status, 401, "{body}");
        if let Some(t) = &bad {
            assert!(
                !body.to_string().contains(t.as_str()),
                "the token is echoed: {body}"
            );
        }
    }
    // a good token but an envelope whose data is not base64
    let mut broken = push_body(&finding, "2070443601311542");
    broken["message"]["data"] = json!("%%% not base64");
    let (status, body) = post(&s, path, &broken, &[("authorization", &auth)]).await;
    assert_eq!(status, 400, "{body}");

    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0]["source"], "gcp.scc");
    assert!(!s.logs().contains(&token), "the token is logged");
}

#[tokio::test]
async fn push_intakes_without_their_section_are_off() {
    let dir = tempfile::tempdir().expect("tmp");
    let files = aws_and_google().await;
    let s = Server::start(&dir.path().join("data"), &[]);
    let m = signed_notification(&files, &read(GUARDDUTY), "0b4f3e0c-0003");
    let (status, body) = post(&s, "/api/v1/ingest/aws.guardduty/sns", &m, &[]).await;
    assert_eq!(status, 404, "{body}");
    let auth = format!("Bearer {}", key_a().jwt(&google_claims(AUDIENCE, SA)));
    let (status, body) = post(
        &s,
        "/api/v1/ingest/gcp.scc/pubsub",
        &push_body(&read(SCC), "1"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(files.hits("/sns/cert.pem") + files.hits("/google/certs"), 0);
}
