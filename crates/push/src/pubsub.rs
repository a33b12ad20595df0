//! Pub/Sub push: the envelope (`message.data` base64, attributes, id) and the Google-signed
//! OIDC token of `Authorization: Bearer` (RS256 against the JWKS, kept for its max age; `iss`,
//! `aud`, `exp`, `email` among the configured service accounts, `email_verified`). It must not
//! accept a request whose token did not check out, nor ever show or log the token.

use crate::fetch;
use crate::ConfigError;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `[intake.pubsub]`: the Pub/Sub push endpoint `POST /api/v1/ingest/{source}/pubsub`. Off
/// while `audience` is absent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PubsubConfig {
    /// The audience the push subscription puts in its tokens (`--push-auth-token-audience`,
    /// by default the push endpoint's URL).
    pub audience: Option<String>,
    /// The service accounts whose tokens are accepted (the subscription's
    /// `--push-auth-service-account`); at least one.
    pub service_accounts: Vec<String>,
    /// Google's signing keys.
    pub jwks_url: String,
    /// How long the keys are kept at most (less when Google's `Cache-Control` says so).
    pub jwks_max_age_secs: u64,
}

impl Default for PubsubConfig {
    fn default() -> Self {
        PubsubConfig {
            audience: None,
            service_accounts: Vec::new(),
            jwks_url: "https://www.googleapis.com/oauth2/v3/certs".to_string(),
            jwks_max_age_secs: 3600,
        }
    }
}

/// The issuers of Google-signed OIDC tokens.
const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY: u64 = 60;
/// The largest JWKS read.
const JWKS_CAP: usize = 256 * 1024;
/// A key missing from the kept set fetches the set again at most this often (a token with a
/// made-up key id must not make every request a fetch).
const REFETCH_EVERY: Duration = Duration::from_secs(30);

/// Why a push request was refused. `Unauthorized` reasons never hold the token.
#[derive(Debug, thiserror::Error)]
pub enum PubsubError {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("Google's signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
    #[error("not a Pub/Sub push request: {0}")]
    Envelope(String),
}

/// A push request's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// `message.data`, decoded: the payload.
    pub data: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    pub message_id: String,
    pub publish_time: Option<String>,
    pub subscription: Option<String>,
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

fn text<'a>(message: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| message.get(*n).and_then(Value::as_str))
}

/// Parses a push body: `{"message": {"data", "attributes", "messageId"|"message_id",
/// "publishTime"|"publish_time"}, "subscription"}`.
pub fn parse_envelope(body: &[u8]) -> Result<PushMessage, PubsubError> {
    let bad = |m: &str| PubsubError::Envelope(m.to_string());
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        let mut why = format!("the body is not JSON: {e}");
        why.truncate(200);
        PubsubError::Envelope(why)
    })?;
    let message = root
        .get("message")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no `message` object"))?;
    let message_id = text(message, &["messageId", "message_id"])
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad("no `message.messageId`"))?;
    let data = match message.get("data") {
        Some(Value::String(s)) => {
            let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            STANDARD
                .decode(&compact)
                .or_else(|_| URL_SAFE.decode(&compact))
                .map_err(|_| bad("`message.data` is not base64"))?
        }
        Some(_) => return Err(bad("`message.data` is not a string")),
        None => {
            return Err(bad(
                "no `message.data`: an empty message carries no payload",
            ))
        }
    };
    let attributes = match message.get("attributes") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(a)) => a
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), v)
            })
            .collect(),
        Some(_) => return Err(bad("`message.attributes` is not an object")),
    };
    Ok(PushMessage {
        data,
        attributes,
        message_id: message_id.chars().take(256).collect(),
        publish_time: text(message, &["publishTime", "publish_time"]).map(str::to_string),
        subscription: root
            .get("subscription")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The kept JWKS.
struct Keys {
    fetched: Option<(Instant, Duration, JwkSet)>,
    /// When a missing key last fetched the set.
    refetched: Option<Instant>,
}

/// Checks push requests' tokens for one `[intake.pubsub]`.
pub struct PubsubVerifier {
    audience: String,
    service_accounts: Vec<String>,
    jwks_url: String,
    max_age: Duration,
    keys: Mutex<Keys>,
}

/// Who sent a push request (a verified token's service account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub email: String,
}

impl PubsubVerifier {
    /// The verifier of `cfg`; `None` when no audience is configured (the intake is off).
    pub fn new(cfg: &PubsubConfig) -> Result<Option<PubsubVerifier>, ConfigError> {
        let Some(audience) = cfg.audience.as_deref() else {
            return Ok(None);
        };
        if audience.trim().is_empty() {
            return Err(ConfigError::new("pubsub", "audience is empty"));
        }
        let service_accounts: Vec<String> = cfg
            .service_accounts
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        if service_accounts.is_empty() || service_accounts.iter().any(|s| !s.contains('@')) {
            return Err(ConfigError::new(
                "pubsub",
                "service_accounts must name at least one service account's email",
            ));
        }
        if url::Url::parse(&cfg.jwks_url).is_err() {
            return Err(ConfigError::new(
                "pubsub",
                format!("jwks_url {:?} is not a URL", cfg.jwks_url),
            ));
        }
        Ok(Some(PubsubVerifier {
            audience: audience.to_string(),
            service_accounts,
            jwks_url: cfg.jwks_url.clone(),
            max_age: Duration::from_secs(cfg.jwks_max_age_secs),
            keys: Mutex::new(Keys {
                fetched: None,
                refetched: None,
            }),
        }))
    }

    /// Checks an `Authorization` header value: the caller, or why not.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Caller, PubsubError> {
        let unauthorized = |m: &str| PubsubError::Unauthorized(m.to_string());
        let token = authorization
            .map(str::trim)
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("no `Authorization: Bearer` token"))?;
        let head = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the token is not a JWT"))?;
        if head.alg != Algorithm::RS256 {
            return Err(unauthorized("the token is not signed with RS256"));
        }
        let jwk = self.key(head.kid.as_deref()).await?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|_| unauthorized("the matching key is not usable"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[self.audience.as_str()]);
        validation.set_issuer(&ISSUERS);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| PubsubError::Unauthorized(reason(e.kind()).to_string()))?
            .claims;
        let email = claims
            .get("email")
            .and_then(Value::as_str)
            .map(|e| e.trim().to_ascii_lowercase())
            .ok_or_else(|| unauthorized("the token has no email claim"))?;
        let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
            || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "true");
        if !verified {
            return Err(unauthorized("the token's email is not verified"));
        }
        if !self.service_accounts.contains(&email) {
            return Err(PubsubError::Unauthorized(format!(
                "{} is not one of [intake.pubsub] service_accounts",
                email.chars().take(128).collect::<String>()
            )));
        }
        Ok(Caller { email })
    }

    /// The key `kid` names (or the only key, without `kid`): from the kept set while it is
    /// young, else fetched; a key the kept set lacks fetches it again, at most every
    /// [`REFETCH_EVERY`].
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, PubsubError> {
        let pick = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let (kept, may_refetch) = {
            let keys = self
                .keys
                .lock()
                .map_err(|_| PubsubError::KeysUnavailable("lock poisoned".into()))?;
            let kept = keys
                .fetched
                .as_ref()
                .filter(|(at, age, _)| at.elapsed() < *age)
                .map(|(_, _, set)| pick(set));
            let may = keys
                .refetched
                .is_none_or(|at| at.elapsed() >= REFETCH_EVERY);
            (kept, may)
        };
        let missing =
            || PubsubError::Unauthorized("no Google signing key matches the token's key id".into());
        match kept {
            Some(Some(k)) => Ok(k),
            Some(None) if !may_refetch => Err(missing()),
            Some(None) => {
                let set = self.fetch(true).await?;
                pick(&set).ok_or_else(missing)
            }
            None => {
                let set = self.fetch(false).await?;
                pick(&set).ok_or_else(missing)
            }
        }
    }

    async fn fetch(&self, forced: bool) -> Result<JwkSet, PubsubError> {
        if forced {
            if let Ok(mut keys) = self.keys.lock() {
                keys.refetched = Some(Instant::now());
            }
        }
        let fetched = fetch::get(&self.jwks_url, JWKS_CAP)
            .await
            .map_err(PubsubError::KeysUnavailable)?;
        let set: JwkSet = serde_json::from_slice(&fetched.body)
            .map_err(|e| PubsubError::KeysUnavailable(format!("not a JWKS: {e}")))?;
        let age = fetched
            .max_age
            .map_or(self.max_age, |a| a.min(self.max_age));
        if let Ok(mut keys) = self.keys.lock() {
            keys.fetched = Some((Instant::now(), age, set.clone()));
        }
        tracing::debug!(
            keys = set.keys.len(),
            "Pub/Sub: Google's signing keys fetched"
        );
        Ok(set)
    }
}

/// Why `jsonwebtoken` refused a token, in words that never hold the token.
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "the token's signature does not match Google's key",
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidIssuer => "the token is not issued by Google",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks exp, iss or aud",
        ErrorKind::InvalidAlgorithm => "the token is not signed with RS256",
        _ => "the token is malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_configured_sections_are_errors() {
        assert!(PubsubVerifier::new(&PubsubConfig::default())
            .unwrap()
            .is_none());
        let cfg = PubsubConfig {
            audience: Some("https://irene.example/api/v1/ingest/auto/pubsub".into()),
            ..PubsubConfig::default()
        };
        assert!(PubsubVerifier::new(&cfg).is_err());
        let cfg = PubsubConfig {
            service_accounts: vec!["push@p.iam.gserviceaccount.com".into()],
            ..cfg
        };
        assert!(PubsubVerifier::new(&cfg).unwrap().is_some());
    }
}
