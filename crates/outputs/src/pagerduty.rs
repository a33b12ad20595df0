//! The PagerDuty Events v2 output: trigger on open/reopen/severity, resolve on resolve, one
//! stable `dedup_key` per case. One attempt only; never echoes the routing key or a request body.

use crate::config::{PagerDutyConfig, Secret};
use crate::http::{classify, Http, Service, Verdict};
use crate::render;
use crate::{case_of, not_applicable, Context, Journal, Output};
use async_trait::async_trait;
use chrono::Utc;
use irene_core::{Action, Case, Delivery, Outcome, TicketState};
use serde_json::{json, Value};

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
    pub(crate) fn new(c: &PagerDutyConfig, ctx: &Context) -> Result<PagerDutyOutput, String> {
        Ok(PagerDutyOutput {
            name: c.name.clone(),
            url: c.events_url.clone(),
            routing_key: c.routing_key.clone(),
            http: Http::new(&ctx.user_agent, c.timeout, &[&c.routing_key])?,
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
            Action::Repeat | Action::Reminder | Action::Digest => {
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
        match classify(
            Service::PagerDuty,
            reply.status,
            &reply.hints(),
            &reply.body,
            Utc::now(),
        ) {
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
        let c: PagerDutyConfig = serde_json::from_value(
            json!({"name": "pd", "routing_key": "R0123456789abcdef0123456789abcde"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ctx = Context {
            public_url: "https://irene.example.com/".into(),
            user_agent: "irene-test".into(),
        };
        PagerDutyOutput::new(&c, &ctx).unwrap_or_else(|e| panic!("{e}"))
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
