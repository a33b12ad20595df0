//! The generic webhook output: POSTs the delivery as JSON, signed with HMAC-SHA256 when a
//! secret is set. One attempt only; the URL (which may embed credentials) never appears in errors.

use crate::config::{Secret, WebhookConfig};
use crate::http::{classify, Http, Service, Verdict};
use crate::{Context, Journal, Output};
use async_trait::async_trait;
use chrono::Utc;
use hmac::{Hmac, Mac};
use irene_core::{Delivery, Outcome};
use serde_json::json;
use sha2::Sha256;

/// The generic webhook output.
pub struct WebhookOutput {
    name: String,
    url: Secret,
    secret: Option<Secret>,
    http: Http,
}

/// `sha256=<hex hmac-sha256(secret, body)>`, the `X-Irene-Signature-256` header.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length: this cannot fail
    let hex = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map(|mut mac| {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    format!("sha256={hex}")
}

impl WebhookOutput {
    pub(crate) fn new(c: &WebhookConfig, ctx: &Context) -> Result<WebhookOutput, String> {
        let mut secrets = vec![&c.url];
        secrets.extend(c.secret.as_ref());
        Ok(WebhookOutput {
            name: c.name.clone(),
            url: c.url.clone(),
            secret: c.secret.clone(),
            http: Http::new(&ctx.user_agent, c.timeout, &secrets)?,
        })
    }
}

/// The body a receiver gets.
pub fn payload(d: &Delivery) -> serde_json::Value {
    json!({
        "delivery": d.id,
        "action": d.action.as_str(),
        "case": d.case,
        "detail": d.detail,
        "alert": d.alert,
    })
}

#[async_trait]
impl Output for WebhookOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, d: &Delivery, _journal: &dyn Journal) -> Outcome {
        let body = match serde_json::to_vec(&payload(d)) {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Dead {
                    error: format!("cannot serialize the delivery: {e}"),
                }
            }
        };
        let mut req = self
            .http
            .client()
            .post(self.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Irene-Event", d.action.as_str())
            .header("X-Irene-Delivery", d.id.to_string());
        if let Some(secret) = &self.secret {
            req = req.header("X-Irene-Signature-256", signature(secret.expose(), &body));
        }
        let reply = match self.http.send(req.body(body)).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        match classify(
            Service::Webhook,
            reply.status,
            &reply.hints(),
            &reply.body,
            Utc::now(),
        ) {
            Verdict::Success => Outcome::Done {
                ticket: None,
                note: format!("delivered (HTTP {})", reply.status),
            },
            v => self.http.failure(&v, &reply),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_verify() {
        let sig = signature("It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert!(crate::verify_signature(
            "It's a Secret to Everybody",
            b"Hello, World!",
            &sig
        ));
    }
}
