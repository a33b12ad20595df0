//! The generic webhook output (settings, quirks, reply classification, client): POSTs the delivery
//! as JSON, HMAC-signed when a secret is set. One attempt; the URL never appears in errors.

use crate::config::{check_url, OutputCommon, Secret};
use crate::http::{plain, Hints, Http, Verdict};
use crate::kind::{Build, OutputKind};
use crate::plan::Quirks;
use crate::{Context, Journal, Output};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use irene_core::{Action, Delivery, Outcome, Severity};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use std::sync::Arc;

/// The webhook output's own settings (`type = "webhook"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookConfig {
    /// May embed credentials, hence a secret.
    pub url: Secret,
    /// Signs bodies with HMAC-SHA256 (`X-Irene-Signature-256`).
    pub secret: Option<Secret>,
}

impl OutputKind for WebhookConfig {
    fn credentials(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("url", !self.url.expose().is_empty()),
            ("secret", self.secret.is_some()),
        ]
    }

    /// Every case event, notes included: a finished batch of investigations is an
    /// `investigated` event, any other note a `note` event.
    fn quirks(&self) -> Quirks {
        Quirks::FEED
    }

    fn check(&self, err: &mut dyn FnMut(String)) {
        if let Err(e) = check_url(self.url.expose()) {
            err(format!("url (not shown, it is a secret): {e}"));
        }
        if self.secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
            err("secret must not be empty when set".into());
        }
    }

    fn default_min_severity() -> Severity {
        Severity::Info
    }

    fn build(&self, b: &Build<'_>) -> Result<Arc<dyn Output>, String> {
        WebhookOutput::new(b.common, self, b.ctx).map(|o| Arc::new(o) as _)
    }
}

/// Classifies one receiver's reply: the plain HTTP rule (a redirect is not followed: dead).
fn classify(status: u16, hints: &Hints, _body: &str, now: DateTime<Utc>) -> Verdict {
    plain(status, hints, now)
}

/// The generic webhook output.
pub struct WebhookOutput {
    name: String,
    url: Secret,
    secret: Option<Secret>,
    http: Http,
    files: Option<crate::files::FileLinks>,
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
    fn new(
        common: &OutputCommon,
        c: &WebhookConfig,
        ctx: &Context,
    ) -> Result<WebhookOutput, String> {
        let mut secrets = vec![&c.url];
        secrets.extend(c.secret.as_ref());
        Ok(WebhookOutput {
            name: common.name.clone(),
            url: c.url.clone(),
            secret: c.secret.clone(),
            http: Http::new(&ctx.user_agent, common.timeout, &secrets)?
                .shared(ctx.pacing.clone(), &common.name),
            files: ctx.files.clone(),
        })
    }
}

/// The kind of note a finished batch of investigations is (`detail.kind`), and the name of
/// its event.
pub const INVESTIGATED: &str = "investigated";

/// The event a delivery is, its `X-Irene-Event` and body `action`: the action's name, except
/// for a note of a finished batch of investigations (`detail.kind == "investigated"`), which
/// is `investigated`.
pub fn event(d: &Delivery) -> &'static str {
    let kind = d.detail.get("kind").and_then(serde_json::Value::as_str);
    match (d.action, kind) {
        (Action::Note, Some(INVESTIGATED)) => INVESTIGATED,
        (action, _) => action.as_str(),
    }
}

/// The body a receiver gets (`action` is its `X-Irene-Event`; a `note`'s `detail` is
/// `{title, markdown, ref}`; an `investigated` one's adds `kind` and `investigations`, a list
/// of `{investigator, status, reason, findings, summary}`).
pub fn payload(d: &Delivery) -> serde_json::Value {
    json!({
        "delivery": d.id,
        "action": event(d),
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
        // a note's attachment links as capability URLs
        let mut body = payload(d);
        if d.action == Action::Note {
            let detail = crate::files::note_detail(self.files.as_ref(), &d.detail, true);
            body["detail"] = detail.into_owned();
        }
        let body = match serde_json::to_vec(&body) {
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
            .header("X-Irene-Event", event(d))
            .header("X-Irene-Delivery", d.id.to_string());
        if let Some(secret) = &self.secret {
            req = req.header("X-Irene-Signature-256", signature(secret.expose(), &body));
        }
        let reply = match self.http.send(req.body(body)).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        match classify(reply.status, &reply.hints(), &reply.body, Utc::now()) {
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
    fn classification_table() {
        use crate::http::table::{check, hints, now, retry, Row};
        let n = now();
        let none = Hints::default();
        let table: Vec<Row> = vec![
            ("webhook 204", 204, none.clone(), "", Verdict::Success),
            ("webhook 408", 408, none.clone(), "", retry(None)),
            (
                "webhook 429",
                429,
                hints(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None, None),
                "",
                retry(Some(n)),
            ),
            ("webhook 301", 301, none.clone(), "", Verdict::Dead),
            ("webhook 404", 404, none.clone(), "", Verdict::Dead),
        ];
        check(table, classify);
    }

    #[test]
    fn event_names() {
        let delivery = |action: Action, detail: serde_json::Value| Delivery {
            id: 1,
            case_id: None,
            output: "wh".into(),
            action,
            case: None,
            detail,
            alert: None,
            attempts: 0,
            created_at: Utc::now(),
            ticket: None,
        };
        // (action, detail, the event)
        let table = [
            (Action::Open, json!({"severity": "high"}), "open"),
            (Action::Resolve, json!({"kind": "investigated"}), "resolve"),
            (Action::Note, json!({"title": "t", "markdown": "m"}), "note"),
            (Action::Note, json!({"kind": "other"}), "note"),
            (Action::Note, json!({"kind": 7}), "note"),
            (
                Action::Note,
                json!({"kind": "investigated", "title": "Investigation", "investigations": []}),
                "investigated",
            ),
        ];
        for (action, detail, want) in table {
            let d = delivery(action, detail.clone());
            assert_eq!(event(&d), want, "{action:?} {detail}");
            let body = payload(&d);
            assert_eq!(body["action"], want);
            assert_eq!(body["detail"], detail);
        }
    }

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
