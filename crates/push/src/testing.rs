//! Test support (feature `testing`, never in the binary): the test RSA keys of `tests/data`,
//! their certificates, SNS signing written out independently of `sns.rs`, JWKs and JWTs, and a
//! loopback HTTP file server that counts its requests. It must not be used outside tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One of the test keys (RSA 2048, PKCS#8).
pub struct TestKey {
    pem: &'static str,
    /// Its key id in JWKS and JWT headers.
    pub kid: &'static str,
}

pub fn key_a() -> TestKey {
    TestKey {
        pem: include_str!("../tests/data/key_a.pem"),
        kid: "test-key-a",
    }
}

pub fn key_b() -> TestKey {
    TestKey {
        pem: include_str!("../tests/data/key_b.pem"),
        kid: "test-key-b",
    }
}

pub fn key_c() -> TestKey {
    TestKey {
        pem: include_str!("../tests/data/key_c.pem"),
        kid: "test-key-c",
    }
}

/// DigestInfo prefixes of PKCS#1 v1.5 (RFC 8017 §9.2, note 1).
const SHA1_PREFIX: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

impl TestKey {
    fn private(&self) -> rsa::RsaPrivateKey {
        use rsa::pkcs8::DecodePrivateKey;
        rsa::RsaPrivateKey::from_pkcs8_pem(self.pem).unwrap()
    }

    /// A self-signed certificate of this key (PEM), valid for centuries.
    pub fn cert_pem(&self) -> String {
        let kp = rcgen::KeyPair::from_pem(self.pem).unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["sns.us-east-1.amazonaws.com".to_string()]).unwrap();
        params.self_signed(&kp).unwrap().pem()
    }

    /// RSA PKCS#1 v1.5 over `data` with SHA-1 (`sha1`) or SHA-256.
    pub fn sign(&self, sha1: bool, data: &[u8]) -> Vec<u8> {
        let mut info = Vec::new();
        if sha1 {
            info.extend_from_slice(&SHA1_PREFIX);
            info.extend_from_slice(
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref(),
            );
        } else {
            info.extend_from_slice(&SHA256_PREFIX);
            info.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
        }
        self.private()
            .sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info)
            .unwrap()
    }

    /// This key as a JWK (RS256, its `kid`).
    pub fn jwk(&self) -> Value {
        use rsa::traits::PublicKeyParts;
        let key = self.private();
        json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        })
    }

    /// A JWT of `claims` signed RS256 by this key, its header naming `kid`.
    pub fn jwt_with_kid(&self, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_string());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    /// A JWT of `claims` signed RS256 by this key, its header naming its own `kid`.
    pub fn jwt(&self, claims: &Value) -> String {
        self.jwt_with_kid(self.kid, claims)
    }
}

/// A JWKS document of `keys`.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// The claims Pub/Sub puts in a push token, valid for an hour from now.
pub fn google_claims(audience: &str, email: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "aud": audience,
        "azp": "117036422496543456237",
        "email": email,
        "email_verified": true,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": "117036422496543456237",
    })
}

/// An unsigned SNS `Notification` of `message` on `topic` (sign it with [`sns_sign`]).
pub fn sns_notification(
    topic: &str,
    message: &str,
    subject: Option<&str>,
    timestamp: &str,
    cert_url: &str,
) -> Value {
    let mut m = json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": topic,
        "Message": message,
        "Timestamp": timestamp,
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    });
    if let Some(s) = subject {
        m["Subject"] = json!(s);
    }
    m
}

/// An unsigned SNS `SubscriptionConfirmation` (sign it with [`sns_sign`]).
pub fn sns_confirmation(
    topic: &str,
    subscribe_url: &str,
    timestamp: &str,
    cert_url: &str,
) -> Value {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
        "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe_url,
        "Timestamp": timestamp,
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": cert_url,
    })
}

/// Signs an SNS message in place with `version` ("1": SHA-1, "2": SHA-256), building the
/// string to sign from AWS's documentation, not from `sns.rs`.
pub fn sns_sign(msg: &mut Value, key: &TestKey, version: &str) {
    let keys: &[&str] = if msg["Type"] == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut signed = String::new();
    for k in keys {
        if let Some(v) = msg.get(*k).and_then(Value::as_str) {
            signed.push_str(&format!("{k}\n{v}\n"));
        }
    }
    msg["SignatureVersion"] = json!(version);
    msg["Signature"] = json!(STANDARD.encode(key.sign(version == "1", signed.as_bytes())));
}

type Routes = HashMap<String, (u16, String, Vec<u8>)>;

/// A loopback HTTP/1.1 server of fixed answers by path; it records every request target.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    routes: Arc<Mutex<Routes>>,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    pub async fn start() -> FileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<Routes>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (routes, seen) = (r.clone(), s.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let target = head.split(' ').nth(1).unwrap_or("/").to_string();
                    seen.lock().unwrap().push(target.clone());
                    let path = target.split('?').next().unwrap_or("/").to_string();
                    let (status, ctype, body) = routes
                        .lock()
                        .unwrap()
                        .get(&path)
                        .cloned()
                        .unwrap_or((404, "text/plain".into(), b"not found".to_vec()));
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(&body).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        FileServer {
            url,
            routes,
            seen,
            task,
        }
    }

    /// Answers `path` with 200 and `body`.
    pub fn set(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.set_status(path, 200, content_type, body);
    }

    pub fn set_status(
        &self,
        path: &str,
        status: u16,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            (status, content_type.to_string(), body.into()),
        );
    }

    /// The request targets (path and query) seen so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests asked for `path` (whatever their query).
    pub fn hits(&self, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|t| t.split('?').next() == Some(path))
            .count()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
