//! Drives each output client over real HTTP against the local fakes (`irene-fakes`): one
//! attempt at a time, as the delivery worker would. Shared helpers here; one module per output.

mod github;
mod notes;
mod pagerduty;
mod slack;
mod templates;
mod webhook;

use chrono::{DateTime, TimeZone, Utc};
use irene_core::{
    Action, Actor, Alert, Case, CaseStatus, Delivery, IndicatorKind, Resource, Severity,
    TicketState,
};
use irene_outputs::{build, Context, Journal, Outcome, Output, OutputConfig};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

pub const PUBLIC_URL: &str = "https://irene.example.com";

pub fn ctx() -> Context {
    Context {
        public_url: PUBLIC_URL.into(),
        user_agent: "irene-tests/0.1".into(),
        files: None,
        templates: irene_outputs::templates::shared(irene_outputs::TemplateSet::builtin()),
        pacing: None,
    }
}

/// Builds the one output a JSON config describes.
pub fn output(config: Value) -> Arc<dyn Output> {
    output_in(config, &ctx())
}

/// Builds the one output a JSON config describes, in `ctx`.
pub fn output_in(config: Value, ctx: &Context) -> Arc<dyn Output> {
    let configs: Vec<OutputConfig> =
        serde_json::from_value(json!([config])).unwrap_or_else(|e| panic!("config: {e}"));
    build(&configs, ctx)
        .unwrap_or_else(|e| panic!("build: {e:?}"))
        .remove(0)
}

/// Shared limits kept in memory, as the store keeps them for every instance: outputs built
/// with the same `MemPacing` in their context behave as instances on one database.
#[derive(Default)]
pub struct MemPacing {
    holds: Mutex<std::collections::HashMap<String, DateTime<Utc>>>,
}

#[async_trait::async_trait]
impl irene_outputs::pacing::Pacing for MemPacing {
    async fn reserve(
        &self,
        _key: &str,
        _pace: std::time::Duration,
        _per_hour: u32,
        _wait: std::time::Duration,
    ) -> Result<irene_core::PaceTurn, String> {
        Ok(irene_core::PaceTurn::At(Utc::now()))
    }
    async fn hold(&self, key: &str, until: DateTime<Utc>) -> Result<(), String> {
        let mut h = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        let e = h.entry(key.to_string()).or_insert(until);
        *e = (*e).max(until);
        Ok(())
    }
    async fn held(&self, key: &str) -> Result<Option<DateTime<Utc>>, String> {
        let h = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        Ok(h.get(key).copied().filter(|u| *u > Utc::now()))
    }
}

/// A journal that keeps what it is told in memory, or refuses.
#[derive(Default)]
pub struct MemJournal {
    pub intents: Mutex<Vec<(i64, TicketState)>>,
    pub refuse: bool,
}

impl MemJournal {
    pub fn refusing() -> Self {
        MemJournal {
            intents: Mutex::default(),
            refuse: true,
        }
    }
    pub fn last(&self) -> Option<TicketState> {
        self.intents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .map(|(_, t)| t.clone())
    }
    pub fn count(&self) -> usize {
        self.intents.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[async_trait::async_trait]
impl Journal for MemJournal {
    async fn record_intent(&self, delivery: &Delivery, ticket: &TicketState) -> Result<(), String> {
        if self.refuse {
            return Err("the store is read-only".into());
        }
        self.intents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((delivery.id, ticket.clone()));
        Ok(())
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_775_000_000, 0)
        .single()
        .unwrap_or_default()
}

pub fn case(id: u128, severity: Severity) -> Case {
    Case {
        id: Uuid::from_u128(id),
        key: format!("gd-{id}"),
        title: "Root credential used in production".into(),
        source: "aws.guardduty".into(),
        kind: "Policy:IAMUser/RootCredentialUsage".into(),
        severity,
        status: CaseStatus::Open,
        resolution: None,
        first_seen: t0(),
        last_seen: t0(),
        count: 1,
        account: Some("111111111111".into()),
        region: Some("eu-west-1".into()),
        resource: Resource {
            id: Some("arn:aws:iam::111111111111:root".into()),
            kind: Some("AccessKey".into()),
            name: None,
            tags: [("env".to_string(), "prod".to_string())].into(),
        },
        labels: vec!["prod".into()],
        rule: Some("root-login".into()),
        last_alert_id: Uuid::from_u128(id + 1_000),
        tickets: vec![],
        updated_at: t0(),
        raised: None,
    }
}

pub fn alert() -> Alert {
    let mut a = Alert::new(
        "aws.guardduty",
        "Policy:IAMUser/RootCredentialUsage",
        "gd-1",
        "Root credential used in production",
        Severity::High,
        json!({"detail": {"id": "gd-1", "type": "Policy:IAMUser/RootCredentialUsage"}}),
    );
    a.description = "The root user signed in to the console.".into();
    a.actor = Actor {
        principal: Some("root".into()),
        ip: Some("198.51.100.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
    };
    a.add_indicator(IndicatorKind::Ip, "198.51.100.7");
    a.link = Some("https://console.aws.amazon.com/guardduty/home#/findings?fId=gd-1".into());
    a
}

pub fn delivery(
    id: i64,
    output: &str,
    action: Action,
    case: &Case,
    detail: Value,
    ticket: Option<TicketState>,
) -> Delivery {
    Delivery {
        id,
        case_id: Some(case.id),
        output: output.into(),
        action,
        case: Some(case.clone()),
        detail,
        alert: Some(alert()),
        attempts: 0,
        created_at: t0(),
        ticket,
    }
}

/// The ticket of a `Done`, or a panic that shows the outcome.
pub fn done_ticket(o: &Outcome) -> Option<TicketState> {
    match o {
        Outcome::Done { ticket, .. } => ticket.clone(),
        other => panic!("expected Done, got {other:?}"),
    }
}

pub fn assert_retry(o: &Outcome) -> Option<DateTime<Utc>> {
    match o {
        Outcome::Retry { at, .. } => *at,
        other => panic!("expected Retry, got {other:?}"),
    }
}

pub fn assert_dead(o: &Outcome) -> String {
    match o {
        Outcome::Dead { error } => error.clone(),
        other => panic!("expected Dead, got {other:?}"),
    }
}

/// Whether `at` is within `slack` seconds of `now + secs`.
pub fn near(at: Option<DateTime<Utc>>, secs: i64, slack: i64) -> bool {
    let want = Utc::now() + chrono::Duration::seconds(secs);
    at.is_some_and(|at| (at - want).num_seconds().abs() <= slack)
}
