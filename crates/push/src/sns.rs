//! SNS HTTP(S) messages: the JSON AWS posts, the string it signs, the signature (version 1:
//! RSA SHA-1, version 2: RSA SHA-256) against the certificate at `SigningCertURL`, the topic
//! allow-list, the age check, and the subscription's confirmation GET. It must not accept a
//! message any of these checks refused, nor fetch a URL outside the allowed hosts.

use crate::fetch;
use crate::ConfigError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `[intake.sns]`: the SNS endpoint `POST /api/v1/ingest/{source}/sns`. Off while `topics` is
/// empty: an endpoint that took any topic would take one anybody can subscribe to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnsConfig {
    /// Topic ARNs whose messages are accepted (exact, e.g.
    /// `arn:aws:sns:eu-west-1:111111111111:guardduty`).
    pub topics: Vec<String>,
    /// Host patterns the signing certificate and the confirmation URL must be on (https, port
    /// 443); `*` stands for one DNS label.
    pub cert_hosts: Vec<String>,
    /// URL prefixes trusted as they are, whatever their scheme (a local stand-in in tests:
    /// `http://127.0.0.1:8080/`); never needed with AWS.
    pub allow_urls: Vec<String>,
    /// The oldest `Timestamp` accepted, in seconds (replays).
    pub max_age_secs: u64,
}

impl Default for SnsConfig {
    fn default() -> Self {
        SnsConfig {
            topics: Vec::new(),
            cert_hosts: vec![
                "sns.*.amazonaws.com".to_string(),
                "sns.*.amazonaws.com.cn".to_string(),
            ],
            allow_urls: Vec::new(),
            max_age_secs: 3600,
        }
    }
}

/// How far ahead of our clock a `Timestamp` may be.
const SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// How long a signing certificate is kept (AWS rotates by giving a new URL).
const KEEP_CERT: Duration = Duration::from_secs(86_400);
/// Certificates kept at most (the oldest goes first).
const CERTS_KEPT: usize = 64;
/// The largest certificate read.
const CERT_CAP: usize = 64 * 1024;
/// The largest confirmation answer read.
const CONFIRM_CAP: usize = 64 * 1024;

/// What an SNS message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnsKind {
    SubscriptionConfirmation,
    Notification,
    UnsubscribeConfirmation,
}

/// An SNS message as posted to an HTTP(S) subscription.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsMessage {
    #[serde(rename = "Type")]
    pub type_name: String,
    pub message_id: String,
    pub topic_arn: String,
    #[serde(default)]
    pub subject: Option<String>,
    /// A notification's payload (JSON as text, e.g. an EventBridge event).
    pub message: String,
    pub timestamp: String,
    pub signature_version: String,
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
}

/// Why an SNS message was refused.
#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    #[error("not an SNS message: {0}")]
    Malformed(String),
    #[error("unknown SNS message Type {0:?}")]
    UnknownType(String),
    #[error("topic {0:?} is not one of [intake.sns] topics")]
    TopicNotAllowed(String),
    #[error("the message's Timestamp {0:?} is not a time")]
    BadTimestamp(String),
    #[error("the message is older than {max_secs} s (Timestamp {timestamp}): refused as a replay")]
    Stale { timestamp: String, max_secs: u64 },
    #[error("the message's Timestamp {0} is in the future")]
    FromTheFuture(String),
    #[error("{what} {url} is not on an allowed host (https, [intake.sns] cert_hosts)")]
    UrlNotAllowed { what: &'static str, url: String },
    #[error("SignatureVersion {0:?} is not supported (1 or 2)")]
    SignatureVersion(String),
    #[error("the Signature is not base64")]
    SignatureEncoding,
    #[error("the signing certificate could not be fetched: {0}")]
    CertUnavailable(String),
    #[error("the signing certificate is unusable: {0}")]
    CertInvalid(String),
    #[error("the signature does not match the message")]
    SignatureMismatch,
    #[error("the subscription could not be confirmed: {0}")]
    ConfirmFailed(String),
}

impl SnsError {
    /// Whether the fault is on the way to AWS (a retry may succeed), not in the message.
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            SnsError::CertUnavailable(_) | SnsError::ConfirmFailed(_)
        )
    }
}

impl SnsMessage {
    /// Parses the body AWS posts (the `x-amz-sns-message-type` header is not trusted: the
    /// signed `Type` is).
    pub fn parse(body: &[u8]) -> Result<SnsMessage, SnsError> {
        serde_json::from_slice(body).map_err(|e| {
            let mut why = e.to_string();
            why.truncate(200);
            SnsError::Malformed(why)
        })
    }

    pub fn kind(&self) -> Result<SnsKind, SnsError> {
        match self.type_name.as_str() {
            "SubscriptionConfirmation" => Ok(SnsKind::SubscriptionConfirmation),
            "Notification" => Ok(SnsKind::Notification),
            "UnsubscribeConfirmation" => Ok(SnsKind::UnsubscribeConfirmation),
            other => Err(SnsError::UnknownType(other.chars().take(64).collect())),
        }
    }

    /// The string AWS signs: `key\nvalue\n` for the documented keys of the type, in their
    /// documented order (`Subject` only when the notification has one).
    pub fn string_to_sign(&self) -> Result<String, SnsError> {
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(7);
        pairs.push(("Message", &self.message));
        pairs.push(("MessageId", &self.message_id));
        match self.kind()? {
            SnsKind::Notification => {
                if let Some(subject) = &self.subject {
                    pairs.push(("Subject", subject));
                }
                pairs.push(("Timestamp", &self.timestamp));
            }
            SnsKind::SubscriptionConfirmation | SnsKind::UnsubscribeConfirmation => {
                let missing = |k: &str| SnsError::Malformed(format!("missing field `{k}`"));
                let url = self
                    .subscribe_url
                    .as_deref()
                    .ok_or_else(|| missing("SubscribeURL"))?;
                let token = self.token.as_deref().ok_or_else(|| missing("Token"))?;
                pairs.push(("SubscribeURL", url));
                pairs.push(("Timestamp", &self.timestamp));
                pairs.push(("Token", token));
            }
        }
        pairs.push(("TopicArn", &self.topic_arn));
        pairs.push(("Type", &self.type_name));
        let mut out = String::new();
        for (k, v) in pairs {
            out.push_str(k);
            out.push('\n');
            out.push_str(v);
            out.push('\n');
        }
        Ok(out)
    }
}

/// Where certificates and confirmation URLs may be fetched from.
#[derive(Debug, Clone)]
struct UrlPolicy {
    hosts: Vec<Vec<String>>,
    allow: Vec<url::Url>,
}

impl UrlPolicy {
    fn new(cfg: &SnsConfig) -> Result<UrlPolicy, ConfigError> {
        let mut hosts = Vec::new();
        for h in &cfg.cert_hosts {
            let labels: Vec<String> = h
                .trim()
                .to_ascii_lowercase()
                .split('.')
                .map(str::to_string)
                .collect();
            let ok = labels.len() >= 3
                && labels.iter().all(|l| {
                    l == "*"
                        || (!l.is_empty()
                            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                })
                && labels[labels.len() - 2..].iter().all(|l| l != "*");
            if !ok {
                return Err(ConfigError::new(
                    "sns",
                    format!("cert_hosts: {h:?} is not a host pattern like sns.*.amazonaws.com"),
                ));
            }
            hosts.push(labels);
        }
        let mut allow = Vec::new();
        for a in &cfg.allow_urls {
            let u = url::Url::parse(a)
                .ok()
                .filter(|u| {
                    u.host_str().is_some() && u.query().is_none() && u.username().is_empty()
                })
                .ok_or_else(|| {
                    ConfigError::new(
                        "sns",
                        format!(
                            "allow_urls: {a:?} is not a URL prefix like http://127.0.0.1:8080/"
                        ),
                    )
                })?;
            allow.push(u);
        }
        Ok(UrlPolicy { hosts, allow })
    }

    fn allows(&self, raw: &str) -> bool {
        let Ok(u) = url::Url::parse(raw) else {
            return false;
        };
        if !u.username().is_empty() || u.password().is_some() {
            return false;
        }
        if self.allow.iter().any(|p| {
            p.scheme() == u.scheme()
                && p.host_str() == u.host_str()
                && p.port_or_known_default() == u.port_or_known_default()
                && u.path().starts_with(p.path())
        }) {
            return true;
        }
        let Some(url::Host::Domain(host)) = u.host() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        u.scheme() == "https"
            && u.port_or_known_default() == Some(443)
            && self.hosts.iter().any(|pattern| {
                pattern.len() == labels.len()
                    && pattern.iter().zip(&labels).all(|(p, l)| {
                        if p == "*" {
                            !l.is_empty()
                                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        } else {
                            p == l
                        }
                    })
            })
    }
}

/// A certificate's RSA public key and validity, kept by URL.
#[derive(Clone)]
struct Cert {
    at: Instant,
    /// PKCS#1 `RSAPublicKey` DER, as ring wants it.
    key: Arc<Vec<u8>>,
    not_before: i64,
    not_after: i64,
}

/// Checks SNS messages for one `[intake.sns]`.
pub struct SnsVerifier {
    topics: Vec<String>,
    urls: UrlPolicy,
    max_age_secs: u64,
    certs: Mutex<HashMap<String, Cert>>,
}

impl SnsVerifier {
    /// The verifier of `cfg`; `None` when no topic is configured (the intake is off).
    pub fn new(cfg: &SnsConfig) -> Result<Option<SnsVerifier>, ConfigError> {
        if cfg.topics.is_empty() {
            return Ok(None);
        }
        for t in &cfg.topics {
            let parts: Vec<&str> = t.split(':').collect();
            if parts.len() != 6
                || parts[0] != "arn"
                || parts[2] != "sns"
                || parts.iter().any(|p| p.is_empty() || p.contains('*'))
            {
                return Err(ConfigError::new(
                    "sns",
                    format!(
                        "topics: {t:?} is not a topic ARN like arn:aws:sns:REGION:ACCOUNT:NAME"
                    ),
                ));
            }
        }
        if cfg.cert_hosts.is_empty() && cfg.allow_urls.is_empty() {
            return Err(ConfigError::new(
                "sns",
                "cert_hosts is empty: no certificate could be trusted",
            ));
        }
        if cfg.max_age_secs == 0 {
            return Err(ConfigError::new("sns", "max_age_secs must be above 0"));
        }
        Ok(Some(SnsVerifier {
            topics: cfg.topics.clone(),
            urls: UrlPolicy::new(cfg)?,
            max_age_secs: cfg.max_age_secs,
            certs: Mutex::new(HashMap::new()),
        }))
    }

    /// The message of `body` once its topic, age, certificate URL and signature checked out.
    pub async fn verify(&self, body: &[u8], now: DateTime<Utc>) -> Result<SnsMessage, SnsError> {
        let msg = SnsMessage::parse(body)?;
        msg.kind()?;
        if !self.topics.contains(&msg.topic_arn) {
            return Err(SnsError::TopicNotAllowed(
                msg.topic_arn.chars().take(256).collect(),
            ));
        }
        let at = DateTime::parse_from_rfc3339(&msg.timestamp)
            .map_err(|_| SnsError::BadTimestamp(msg.timestamp.chars().take(64).collect()))?
            .with_timezone(&Utc);
        if now.signed_duration_since(at) > chrono::TimeDelta::seconds(self.max_age_secs as i64) {
            return Err(SnsError::Stale {
                timestamp: msg.timestamp.clone(),
                max_secs: self.max_age_secs,
            });
        }
        if at.signed_duration_since(now) > SKEW {
            return Err(SnsError::FromTheFuture(msg.timestamp.clone()));
        }
        self.check_url("SigningCertURL", &msg.signing_cert_url)?;
        if let Some(url) = &msg.subscribe_url {
            self.check_url("SubscribeURL", url)?;
        }
        let algorithm: &'static ring::signature::RsaParameters =
            match msg.signature_version.as_str() {
                "1" => &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                "2" => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                other => return Err(SnsError::SignatureVersion(other.chars().take(16).collect())),
            };
        let signature = STANDARD
            .decode(msg.signature.trim())
            .map_err(|_| SnsError::SignatureEncoding)?;
        let signed = msg.string_to_sign()?;
        let cert = self.cert(&msg.signing_cert_url).await?;
        let unix = now.timestamp();
        if unix < cert.not_before || unix > cert.not_after {
            return Err(SnsError::CertInvalid(
                "outside its validity period".to_string(),
            ));
        }
        ring::signature::UnparsedPublicKey::new(algorithm, cert.key.as_slice())
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| SnsError::SignatureMismatch)?;
        Ok(msg)
    }

    /// Confirms a verified `SubscriptionConfirmation`: GETs its `SubscribeURL`.
    pub async fn confirm(&self, msg: &SnsMessage) -> Result<(), SnsError> {
        let url = msg
            .subscribe_url
            .as_deref()
            .ok_or_else(|| SnsError::Malformed("missing field `SubscribeURL`".to_string()))?;
        self.check_url("SubscribeURL", url)?;
        fetch::get(url, CONFIRM_CAP)
            .await
            .map(|_| ())
            .map_err(SnsError::ConfirmFailed)
    }

    fn check_url(&self, what: &'static str, url: &str) -> Result<(), SnsError> {
        if self.urls.allows(url) {
            Ok(())
        } else {
            Err(SnsError::UrlNotAllowed {
                what,
                url: fetch::shown(url),
            })
        }
    }

    /// The certificate at `url`: kept for a day, else fetched and parsed.
    async fn cert(&self, url: &str) -> Result<Cert, SnsError> {
        if let Ok(certs) = self.certs.lock() {
            if let Some(c) = certs.get(url).filter(|c| c.at.elapsed() < KEEP_CERT) {
                return Ok(c.clone());
            }
        }
        let fetched = fetch::get(url, CERT_CAP)
            .await
            .map_err(SnsError::CertUnavailable)?;
        let cert = parse_cert(&fetched.body)?;
        if let Ok(mut certs) = self.certs.lock() {
            certs.retain(|_, c| c.at.elapsed() < KEEP_CERT);
            if certs.len() >= CERTS_KEPT {
                let oldest = certs
                    .iter()
                    .min_by_key(|(_, c)| c.at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    certs.remove(&k);
                }
            }
            certs.insert(url.to_string(), cert.clone());
        }
        Ok(cert)
    }
}

/// The RSA public key and validity of a PEM certificate.
fn parse_cert(pem: &[u8]) -> Result<Cert, SnsError> {
    use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|_| SnsError::CertInvalid("not a PEM certificate".to_string()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| SnsError::CertInvalid(format!("not an X.509 certificate: {e}")))?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
        return Err(SnsError::CertInvalid("not an RSA key".to_string()));
    }
    Ok(Cert {
        at: Instant::now(),
        key: Arc::new(spki.subject_public_key.data.to_vec()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], allow: &[&str]) -> UrlPolicy {
        UrlPolicy::new(&SnsConfig {
            topics: vec![],
            cert_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            allow_urls: allow.iter().map(|s| s.to_string()).collect(),
            max_age_secs: 3600,
        })
        .unwrap()
    }

    #[test]
    fn only_sns_hosts_over_https_are_allowed_by_default() {
        let p = policy(&["sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"], &[]);
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            "https://SNS.eu-west-1.AMAZONAWS.com:443/x.pem",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.a.b.amazonaws.com/x.pem",
            "https://s3.us-east-1.amazonaws.com/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://127.0.0.1/x.pem",
            "not a url",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
    }

    #[test]
    fn allowed_url_prefixes_match_origin_and_path() {
        let p = policy(&["sns.*.amazonaws.com"], &["http://127.0.0.1:8080/sns/"]);
        assert!(p.allows("http://127.0.0.1:8080/sns/cert.pem"));
        assert!(!p.allows("http://127.0.0.1:8081/sns/cert.pem"));
        assert!(!p.allows("http://127.0.0.1:8080/other/cert.pem"));
        assert!(!p.allows("https://127.0.0.1:8080/sns/cert.pem"));
    }

    #[test]
    fn bad_patterns_and_topics_are_config_errors() {
        let base = SnsConfig {
            topics: vec!["arn:aws:sns:eu-west-1:111111111111:alerts".into()],
            ..SnsConfig::default()
        };
        assert!(SnsVerifier::new(&base).unwrap().is_some());
        assert!(SnsVerifier::new(&SnsConfig::default()).unwrap().is_none());
        for topics in [
            vec!["*".to_string()],
            vec!["arn:aws:sns:eu-west-1:*:alerts".to_string()],
        ] {
            let cfg = SnsConfig {
                topics,
                ..base.clone()
            };
            assert!(SnsVerifier::new(&cfg).is_err());
        }
        let cfg = SnsConfig {
            cert_hosts: vec!["*.com".into()],
            ..base.clone()
        };
        assert!(SnsVerifier::new(&cfg).is_err());
    }
}
