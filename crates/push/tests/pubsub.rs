//! Pub/Sub push tokens signed with test keys, the JWKS served on loopback: what is accepted,
//! what is refused (never echoing the token), key rotation, and the push envelope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use irene_push::pubsub::parse_envelope;
use irene_push::testing::{google_claims, jwks, key_a, key_b, key_c, FileServer};
use irene_push::{PubsubConfig, PubsubError, PubsubVerifier};
use serde_json::{json, Value};

const AUDIENCE: &str = "https://irene.example/api/v1/ingest/gcp.scc/pubsub";
const SA: &str = "scc-push@my-project.iam.gserviceaccount.com";

/// A change to a token's claims.
type Change = Box<dyn Fn(&mut Value)>;

async fn setup() -> (FileServer, PubsubVerifier) {
    let server = FileServer::start().await;
    server.set("/certs", "application/json", jwks(&[&key_a()]));
    let verifier = PubsubVerifier::new(&PubsubConfig {
        audience: Some(AUDIENCE.to_string()),
        service_accounts: vec![SA.to_string()],
        jwks_url: format!("{}/certs", server.url),
        ..PubsubConfig::default()
    })
    .unwrap()
    .unwrap();
    (server, verifier)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

async fn refused(v: &PubsubVerifier, token: &str) -> String {
    match v.verify(Some(&bearer(token))).await {
        Err(PubsubError::Unauthorized(why)) => {
            assert!(!why.contains(token), "the reason echoes the token: {why}");
            why
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_google_token_for_the_audience_and_service_account_is_accepted() {
    let (server, v) = setup().await;
    let token = key_a().jwt(&google_claims(AUDIENCE, SA));
    let caller = v.verify(Some(&bearer(&token))).await.unwrap();
    assert_eq!(caller.email, SA);
    // the other issuer spelling Google uses
    let mut claims = google_claims(AUDIENCE, SA);
    claims["iss"] = json!("accounts.google.com");
    v.verify(Some(&bearer(&key_a().jwt(&claims))))
        .await
        .unwrap();
    assert_eq!(server.hits("/certs"), 1, "the keys are kept");
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused() {
    let (_server, v) = setup().await;
    // key b signs, claiming to be key a
    let token = key_b().jwt_with_kid(key_a().kid, &google_claims(AUDIENCE, SA));
    let why = refused(&v, &token).await;
    assert!(why.contains("signature"), "{why}");
}

#[tokio::test]
async fn wrong_claims_are_refused_with_their_reason() {
    let (_server, v) = setup().await;
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, Change)> = vec![
        (
            "expired",
            Box::new(move |c: &mut Value| c["exp"] = json!(now - 600)),
        ),
        (
            "audience",
            Box::new(|c: &mut Value| c["aud"] = json!("https://other.example/push")),
        ),
        (
            "not one of",
            Box::new(|c: &mut Value| c["email"] = json!("someone@evil.iam.gserviceaccount.com")),
        ),
        (
            "issued by Google",
            Box::new(|c: &mut Value| c["iss"] = json!("https://evil.example")),
        ),
        (
            "not verified",
            Box::new(|c: &mut Value| c["email_verified"] = json!(false)),
        ),
        (
            "no email",
            Box::new(|c: &mut Value| {
                c.as_object_mut().unwrap().remove("email");
            }),
        ),
    ];
    for (expected, change) in cases {
        let mut claims = google_claims(AUDIENCE, SA);
        change(&mut claims);
        let why = refused(&v, &key_a().jwt(&claims)).await;
        assert!(why.contains(expected), "{expected}: {why}");
    }
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_refused() {
    let (server, v) = setup().await;
    for header in [
        None,
        Some("Basic dXNlcjpwdw=="),
        Some("Bearer "),
        Some("Bearer not.a.jwt"),
    ] {
        assert!(
            matches!(v.verify(header).await, Err(PubsubError::Unauthorized(_))),
            "{header:?}"
        );
    }
    // an HS256 token (the "none"/symmetric confusion) is refused before any key is looked up
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &google_claims(AUDIENCE, SA),
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    let why = refused(&v, &hs).await;
    assert!(why.contains("RS256"), "{why}");
    assert_eq!(server.hits("/certs"), 0);
}

#[tokio::test]
async fn an_unknown_key_id_fetches_the_keys_again_at_most_once_in_a_while() {
    let (server, v) = setup().await;
    v.verify(Some(&bearer(&key_a().jwt(&google_claims(AUDIENCE, SA)))))
        .await
        .unwrap();
    assert_eq!(server.hits("/certs"), 1);
    // Google rotates: key b appears beside key a
    server.set("/certs", "application/json", jwks(&[&key_a(), &key_b()]));
    v.verify(Some(&bearer(&key_b().jwt(&google_claims(AUDIENCE, SA)))))
        .await
        .unwrap();
    assert_eq!(server.hits("/certs"), 2);
    // a key id nobody publishes: refused; with the keys fetched again just now for key b, it
    // does not fetch them again (a made-up key id must not make every request a fetch)
    for _ in 0..2 {
        let why = refused(&v, &key_c().jwt(&google_claims(AUDIENCE, SA))).await;
        assert!(why.contains("key id"), "{why}");
    }
    assert_eq!(server.hits("/certs"), 2);
    // known keys still work from the kept set
    v.verify(Some(&bearer(&key_a().jwt(&google_claims(AUDIENCE, SA)))))
        .await
        .unwrap();
    assert_eq!(server.hits("/certs"), 2);
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_are_not_the_callers_fault() {
    let (server, v) = setup().await;
    server.set_status("/certs", 503, "text/plain", "down");
    let token = key_a().jwt(&google_claims(AUDIENCE, SA));
    assert!(matches!(
        v.verify(Some(&bearer(&token))).await,
        Err(PubsubError::KeysUnavailable(_))
    ));
}

#[test]
fn the_envelope_gives_the_decoded_data_id_and_attributes() {
    let finding =
        r#"{"notificationConfigName":"organizations/1/notificationConfigs/x","finding":{}}"#;
    let body = json!({
        "message": {
            "attributes": {"origin": "scc"},
            "data": STANDARD.encode(finding),
            "messageId": "2070443601311540",
            "message_id": "2070443601311540",
            "publishTime": "2021-02-26T19:13:55.749Z",
            "publish_time": "2021-02-26T19:13:55.749Z"
        },
        "subscription": "projects/myproject/subscriptions/mysubscription"
    });
    let m = parse_envelope(body.to_string().as_bytes()).unwrap();
    assert_eq!(m.data, finding.as_bytes());
    assert_eq!(m.message_id, "2070443601311540");
    assert_eq!(m.attributes.get("origin").map(String::as_str), Some("scc"));
    assert_eq!(m.publish_time.as_deref(), Some("2021-02-26T19:13:55.749Z"));
    assert_eq!(
        m.subscription.as_deref(),
        Some("projects/myproject/subscriptions/mysubscription")
    );
    // snake_case only, URL-safe base64 without padding
    let body = json!({"message": {"data": "eyJhIjoxfQ", "message_id": "7"}});
    let m = parse_envelope(body.to_string().as_bytes()).unwrap();
    assert_eq!(m.data, br#"{"a":1}"#);
    assert_eq!(m.message_id, "7");
}

#[test]
fn malformed_envelopes_are_refused() {
    for body in [
        "not json".to_string(),
        json!({"subscription": "s"}).to_string(),
        json!({"message": {"data": "e30="}}).to_string(),
        json!({"message": {"messageId": "1"}}).to_string(),
        json!({"message": {"messageId": "1", "data": "%%% not base64"}}).to_string(),
        json!({"message": {"messageId": "1", "data": 5}}).to_string(),
        json!({"message": {"messageId": "1", "data": "e30=", "attributes": []}}).to_string(),
    ] {
        assert!(
            matches!(
                parse_envelope(body.as_bytes()),
                Err(PubsubError::Envelope(_))
            ),
            "{body}"
        );
    }
}
