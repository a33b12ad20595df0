//! The PagerDuty Events v2 output (settings, quirks, reply classification, client): trigger on
//! open/reopen/severity, resolve on resolve, one `dedup_key` per case. Never echoes the routing key.

use crate::config::{check_url, OutputCommon, Secret};
use crate::http::{plain, Hints, Http, Verdict};
use crate::kind::{Build, OutputKind};
use crate::plan::Quirks;
use crate::render;
use crate::{case_of, not_applicable, Context, Journal, Output};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use irene_core::{Action, Case, Delivery, Outcome, Severity, TicketState};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The PagerDuty output's own settings (`type = "pagerduty"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PagerDutyConfig {
    pub routing_key: Secret,
    #[serde(default = "pagerduty_events")]
    pub events_url: String,
}

fn pagerduty_events() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}

impl OutputKind for PagerDutyConfig {
    fn credentials(&self) -> Vec<(&'static str, bool)> {
        vec![("routing_key", !self.routing_key.expose().is_empty())]
    }

    /// An incident per case: repeats, downgrades and notes are not sent.
    fn quirks(&self) -> Quirks {
        Quirks::PAGE
    }

    fn check(&self, err: &mut dyn FnMut(String)) {
        if self.routing_key.expose().trim().is_empty() {
            err("routing_key must not be empty".into());
        }
        if let Err(e) = check_url(&self.events_url) {
            err(format!("events_url {:?}: {e}", self.events_url));
        }
    }

    fn default_min_severity() -> Severity {
        Severity::High
    }

    fn build(&self, b: &Build<'_>) -> Result<Arc<dyn Output>, String> {
        PagerDutyOutput::new(b.common, self, b.ctx).map(|o| Arc::new(o) as _)
    }
}

/// Classifies one Events API reply: the plain HTTP rule (202 accepted; 429 throttled and 5xx
/// retried; a 400 invalid event is dead).
fn classify(status: u16, hints: &Hints, _body: &str, now: DateTime<Utc>) -> Verdict {
    plain(status, hints, now)
}

/// Events larger than this lose their bulkiest details (PagerDuty's limit is 512 KB).
const MAX_EVENT_BYTES: usize = 400 * 1024;

/// The PagerDuty Events v2 output.
pub struct PagerDutyOutput {
    name: String,
    url: String,
    routing_key: Secret,
    http: Http,
    public_url: String,
}

/// The stable `dedup_key` of a case (≤ 255 characters).
pub fn dedup_key(case_id: uuid::Uuid) -> String {
    format!("irene:{case_id}")
}

impl PagerDutyOutput {
    fn new(
        common: &OutputCommon,
        c: &PagerDutyConfig,
        ctx: &Context,
    ) -> Result<PagerDutyOutput, String> {
        Ok(PagerDutyOutput {
            name: common.name.clone(),
            url: c.events_url.clone(),
            routing_key: c.routing_key.clone(),
            http: Http::new(&ctx.user_agent, common.timeout, &[&c.routing_key])?
                .shared(ctx.pacing.clone(), &common.name),
            public_url: ctx.public_url.clone(),
        })
    }

    fn trigger(&self, d: &Delivery, case: &Case) -> Value {
        let link = render::case_link(&self.public_url, case.id);
        let alert = d.alert.as_ref();
        let source = case
            .resource
            .id
            .clone()
            .or_else(|| case.account.clone())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "irene".into());
        let mut links = vec![json!({"href": link, "text": "Case in Irene"})];
        if let Some(l) = alert.and_then(|a| a.link.as_deref()) {
            if l.starts_with("https://") || l.starts_with("http://") {
                links.push(json!({"href": l, "text": format!("Finding in {}", case.source)}));
            }
        }
        let mut payload = json!({
            "summary": render::pd_summary(case),
            "source": render::truncate(&source, 1024),
            "severity": render::pd_severity(case.severity),
            "timestamp": render::time(case.last_seen),
            "component": render::truncate(&case.kind, 1024),
            "class": render::truncate(&case.source, 1024),
            "custom_details": render::pd_custom_details(case, alert),
        });
        if let (Some(account), Value::Object(p)) = (&case.account, &mut payload) {
            p.insert("group".into(), json!(account));
        }
        let mut event = json!({
            "routing_key": self.routing_key.expose(),
            "event_action": "trigger",
            "dedup_key": dedup_key(case.id),
            "payload": payload,
            "client": "Irene",
            "client_url": link,
            "links": links,
        });
        if event.to_string().len() > MAX_EVENT_BYTES {
            if let Some(Value::Object(details)) = event.pointer_mut("/payload/custom_details") {
                details.remove("resource");
                details.remove("indicators");
                details.insert("truncated".into(), json!(true));
            }
        }
        event
    }
}

#[async_trait]
impl Output for PagerDutyOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    async fn deliver(&self, d: &Delivery, _journal: &dyn Journal) -> Outcome {
        let (event, status) = match d.action {
            Action::Repeat | Action::Reminder | Action::Digest | Action::Note => {
                return not_applicable(format!("{} is not sent to PagerDuty", d.action.as_str()))
            }
            Action::Open | Action::Reopen | Action::Severity => match case_of(d) {
                Ok(case) => (self.trigger(d, case), "triggered"),
                Err(o) => return o,
            },
            Action::Resolve => match case_of(d) {
                Ok(case) => (
                    json!({
                        "routing_key": self.routing_key.expose(),
                        "dedup_key": dedup_key(case.id),
                        "event_action": "resolve",
                    }),
                    "resolved",
                ),
                Err(o) => return o,
            },
        };
        let key = event["dedup_key"].as_str().unwrap_or_default().to_string();
        let req = self.http.client().post(&self.url).json(&event);
        let reply = match self.http.send(req).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        match classify(reply.status, &reply.hints(), &reply.body, Utc::now()) {
            Verdict::Success => Outcome::Done {
                ticket: Some(TicketState {
                    reference: key.clone(),
                    url: None,
                    data: json!({"dedup_key": key, "status": status}),
                }),
                note: format!("{status} ({key})"),
            },
            v => self.http.failure(&v, &reply),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::{sample_alert, sample_case};
    use irene_core::Severity;

    fn output() -> PagerDutyOutput {
        let e: crate::Entry<PagerDutyConfig> = serde_json::from_value(
            json!({"name": "pd", "routing_key": "R0123456789abcdef0123456789abcde"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ctx = Context {
            public_url: "https://irene.example.com/".into(),
            user_agent: "irene-test".into(),
            files: None,
            templates: crate::templates::shared(crate::TemplateSet::builtin()),
            pacing: None,
        };
        PagerDutyOutput::new(&e.common, &e.kind, &ctx).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn classification_table() {
        use crate::http::table::{check, hints, retry, secs, Row};
        let none = Hints::default();
        let table: Vec<Row> = vec![
            (
                "pd 202",
                202,
                none.clone(),
                "{\"status\":\"success\"}",
                Verdict::Success,
            ),
            (
                "pd 400",
                400,
                none.clone(),
                "{\"status\":\"invalid event\"}",
                Verdict::Dead,
            ),
            (
                "pd 429",
                429,
                none.clone(),
                "{\"status\":\"throttle exceeded\"}",
                retry(None),
            ),
            (
                "pd 429 retry-after",
                429,
                hints(Some("120"), None, None),
                "",
                retry(Some(secs(120))),
            ),
            ("pd 500", 500, none.clone(), "", retry(None)),
            ("pd 403", 403, none.clone(), "", Verdict::Dead),
        ];
        check(table, classify);
    }

    #[test]
    fn trigger_event_shape() {
        let case = sample_case(Severity::Urgent);
        let d = Delivery {
            id: 1,
            case_id: Some(case.id),
            output: "pd".into(),
            action: Action::Open,
            case: Some(case.clone()),
            detail: json!({}),
            alert: Some(sample_alert()),
            attempts: 0,
            created_at: case.first_seen,
            ticket: None,
        };
        let e = output().trigger(&d, &case);
        let key = format!("irene:{}", case.id);
        assert_eq!(e["dedup_key"], json!(key));
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["payload"]["severity"], "critical");
        assert_eq!(e["payload"]["source"], "arn:aws:iam::111111111111:root");
        assert_eq!(e["payload"]["group"], "111111111111");
        assert_eq!(e["payload"]["class"], "aws.guardduty");
        assert_eq!(
            e["payload"]["component"],
            "Policy:IAMUser/RootCredentialUsage"
        );
        assert_eq!(
            e["payload"]["custom_details"]["actor"]["ip"],
            "198.51.100.7"
        );
        assert_eq!(e["client"], "Irene");
        let link = format!("https://irene.example.com/cases/{}", case.id);
        assert_eq!(e["client_url"], json!(link));
        assert_eq!(e["links"][0]["href"], json!(link));
        assert!(e["links"][1]["href"]
            .as_str()
            .is_some_and(|h| h.starts_with("https://console.aws")));
        assert!(e["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("[URGENT] ")));
        assert!(dedup_key(case.id).len() <= 255);
    }
}
