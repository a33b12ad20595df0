//! Irene's outputs: their configuration, the pure planner (which deliveries a case change
//! implies) and one client per output type that makes ONE delivery attempt and says how it ended.
//!
//! Must not touch the database, schedule retries or run loops: a worker elsewhere claims
//! `Delivery` rows, calls [`Output::deliver`], stores the [`Outcome`] and computes backoff.
//!
//! # Layout
//! - [`config`]: the shared settings ([`OutputCommon`]), [`Secret`], [`validate`].
//! - [`kind`]: [`OutputKind`], what each kind implements; the one list of kinds is below.
//! - [`plan`]: [`Routes`], the `Planner` (severity floor, `when` in CEL, transition table, notes).
//! - [`github`], [`pagerduty`], [`slack`], [`webhook`]: one module per kind: its settings, its
//!   client, its reply classification and its planning quirks.
//! - [`files`]: capability links to attachments (signed, expiring) and notes' links to them.
//! - `http`: the one HTTP helper (sending, hints, redaction); [`render`]: every text sent;
//!   [`mrkdwn`]: Markdown notes as Slack mrkdwn; [`templates`]: user templates for GitHub and
//!   Slack texts, the built-ins of `render` as defaults and fallbacks.
//!
//! Adding an output kind: one module implementing [`OutputKind`] and [`Output`], and one line
//! in the list below.

// `Outcome` is the error of every step of an attempt: it is built once per attempt and moved up,
// so its size (a ticket inside `Done`) costs nothing worth boxing it for.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod files;
pub mod github;
mod http;
pub mod kind;
pub mod mrkdwn;
pub mod pacing;
pub mod pagerduty;
pub mod plan;
pub mod render;
pub mod slack;
pub mod templates;
pub mod webhook;

// The output kinds, one line each: `Variant = "type" => its settings (an OutputKind)`.
kind::output_kinds! {
    Github = "github" => github::GithubConfig,
    Pagerduty = "pagerduty" => pagerduty::PagerDutyConfig,
    Slack = "slack" => slack::SlackConfig,
    Webhook = "webhook" => webhook::WebhookConfig,
}

pub use config::{validate, ConfigError, Entry, OutputCommon, Secret};
pub use github::{parse_issue_event, verify_signature, GithubConfig, GithubOutput, IssueEvent};
pub use irene_core::{Action, Delivery, Outcome, TicketState};
pub use kind::OutputKind;
pub use pagerduty::{PagerDutyConfig, PagerDutyOutput};
pub use plan::{case_json, Quirks, Routes};
pub use slack::{SlackConfig, SlackOutput};
pub use templates::{SharedTemplates, TemplateError, TemplateFile, TemplateSet};
pub use webhook::{WebhookConfig, WebhookOutput};

use async_trait::async_trait;
use std::sync::Arc;

/// Where an output records state that must survive a crash in the middle of an attempt.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Durably records the ticket state BEFORE a call whose effect could be lost in a crash
    /// (GitHub create).
    async fn record_intent(&self, delivery: &Delivery, ticket: &TicketState) -> Result<(), String>;
}

/// One configured output.
#[async_trait]
pub trait Output: Send + Sync {
    fn name(&self) -> &str;
    /// `"github" | "pagerduty" | "slack" | "webhook"`.
    fn kind(&self) -> &'static str;
    /// Makes one attempt at `d`. Never panics: every failure is an `Outcome`.
    async fn deliver(&self, d: &Delivery, journal: &dyn Journal) -> Outcome;
    /// The GitHub client behind this output, if it is one (inbound webhooks route by its
    /// repository and verify with its secret).
    fn as_github(&self) -> Option<&GithubOutput> {
        None
    }
}

/// What every output needs to know about this Irene.
#[derive(Clone)]
pub struct Context {
    /// Irene's console base; a case's link is `{public_url}/cases/{case_id}`.
    pub public_url: String,
    pub user_agent: String,
    /// Capability links to attachments (`{public_url}/files/{token}`) for notes; `None`: a
    /// note's `attachment:ID` links are sent as they are.
    pub files: Option<files::FileLinks>,
    /// The message templates, read once per delivery; swap a new set in to switch them live.
    pub templates: SharedTemplates,
    /// Rate limits shared with the other instances on the same database (GitHub's pacing and
    /// hourly budget, providers' holds). `None`: this process keeps them alone.
    pub pacing: Option<std::sync::Arc<dyn pacing::Pacing>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("public_url", &self.public_url)
            .field("user_agent", &self.user_agent)
            .field("files", &self.files)
            .field("templates", &self.templates)
            .field("pacing", &self.pacing.as_ref().map(|_| "shared"))
            .finish()
    }
}

impl Context {
    pub fn case_link(&self, case_id: uuid::Uuid) -> String {
        render::case_link(&self.public_url, case_id)
    }
}

/// Validates the configs and builds one client per output, in order.
pub fn build(
    configs: &[OutputConfig],
    ctx: &Context,
) -> Result<Vec<Arc<dyn Output>>, Vec<ConfigError>> {
    validate(configs)?;
    let shared = kind::Shared::new(configs);
    let mut outputs: Vec<Arc<dyn Output>> = Vec::with_capacity(configs.len());
    let mut errors = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let (common, kind) = c.parts();
        let b = kind::Build {
            common,
            ctx,
            shared: &shared,
        };
        match kind.build(&b) {
            Ok(o) => outputs.push(o),
            Err(message) => errors.push(ConfigError::new(i, c.name(), message)),
        }
    }
    if errors.is_empty() {
        Ok(outputs)
    } else {
        Err(errors)
    }
}

/// The case a case action needs, or the dead letter that says it is missing.
pub(crate) fn case_of(d: &Delivery) -> Result<&irene_core::Case, Outcome> {
    d.case.as_ref().ok_or_else(|| Outcome::Dead {
        error: format!("the {} delivery carries no case", d.action.as_str()),
    })
}

/// A finished attempt: `ticket` replaces the stored one when set; `note` goes on the timeline.
pub(crate) fn done(ticket: Option<irene_core::TicketState>, note: impl Into<String>) -> Outcome {
    Outcome::Done {
        ticket,
        note: note.into(),
    }
}

/// A finished attempt that needed nothing done on this output.
pub(crate) fn not_applicable(note: impl Into<String>) -> Outcome {
    done(None, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_rejects_invalid_and_reports_every_output() {
        let ctx = Context {
            public_url: "https://irene.example.com".into(),
            user_agent: "irene-test".into(),
            files: None,
            templates: templates::shared(TemplateSet::builtin()),
            pacing: None,
        };
        let configs: Vec<OutputConfig> = serde_json::from_value(serde_json::json!([
            {"type": "github", "name": "gh", "repository": "o/r", "token": "t"},
            {"type": "github", "name": "gh2", "repository": "o/r2", "token": "t", "pace": "3s"},
            {"type": "pagerduty", "name": "pd", "routing_key": "k"},
            {"type": "slack", "name": "sl", "webhook_url": "https://hooks.example.com/x"},
            {"type": "slack", "name": "bot", "bot_token": "xoxb", "channel": "C1"},
            {"type": "webhook", "name": "wh", "url": "https://example.com/h"}
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let outputs = build(&configs, &ctx).unwrap_or_else(|e| panic!("{e:?}"));
        let kinds: Vec<_> = outputs
            .iter()
            .map(|o| (o.name().to_string(), o.kind()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("gh".into(), "github"),
                ("gh2".into(), "github"),
                ("pd".into(), "pagerduty"),
                ("sl".into(), "slack"),
                ("bot".into(), "slack"),
                ("wh".into(), "webhook")
            ]
        );
        assert_eq!(outputs[0].as_github().map(|g| g.repository()), Some("o/r"));
        assert!(outputs[2].as_github().is_none());

        let bad: Vec<OutputConfig> = serde_json::from_value(serde_json::json!([
            {"type": "github", "name": "app", "repository": "o/r", "app_id": 1,
             "private_key": "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"}
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let Err(errors) = build(&bad, &ctx) else {
            panic!("bad key accepted")
        };
        assert!(
            errors[0].to_string().contains("private_key"),
            "{}",
            errors[0]
        );
        assert!(!errors[0].to_string().contains("not a key"));
    }
}
