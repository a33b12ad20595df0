//! The GitHub output's own settings (`type = "github"`), their defaults and checks, and its
//! planning quirks. The shared settings are `OutputCommon`'s; no requests here.

use super::gate::{gate_key, Gate, SharedLimits};
use super::GithubOutput;
use crate::config::{check_url, duration, one_day, one_hour, Secret};
use crate::kind::{Build, OutputKind};
use crate::plan::Quirks;
use crate::{Output, OutputConfig};
use irene_core::Severity;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GithubConfig {
    /// `owner/repo`.
    pub repository: String,
    /// A personal access token (or fine-grained token); the alternative is a GitHub App.
    pub token: Option<Secret>,
    pub app_id: Option<u64>,
    /// The app's private key, PEM text.
    pub private_key: Option<Secret>,
    /// Looked up with `GET /repos/{owner}/{repo}/installation` when absent.
    pub installation_id: Option<u64>,
    #[serde(default = "github_api")]
    pub api_url: String,
    /// Verifies inbound issue webhooks (`X-Hub-Signature-256`).
    pub webhook_secret: Option<Secret>,
    /// At most one "seen again" comment per case per interval.
    #[serde(default = "one_hour", deserialize_with = "duration")]
    pub repeat_interval: Duration,
    /// Minimum spacing of mutative requests per token.
    #[serde(default = "one_second", deserialize_with = "duration")]
    pub pace: Duration,
    /// Content-creating requests (issues, comments, label changes) per token and hour; GitHub's
    /// secondary limits allow 500. Beyond it deliveries wait for the window to move on.
    #[serde(default = "five_hundred")]
    pub max_per_hour: usize,
    /// How long an urgent/high case stays untouched before the reminder job comments.
    #[serde(default = "one_day", deserialize_with = "duration")]
    pub remind_after: Duration,
    #[serde(default)]
    pub extra_labels: Vec<String>,
}

impl OutputKind for GithubConfig {
    fn credentials(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("token", self.token.is_some()),
            ("private_key", self.private_key.is_some()),
            ("webhook_secret", self.webhook_secret.is_some()),
        ]
    }

    /// An issue per case: repeats and notes are comments, a downgrade relabels.
    fn quirks(&self) -> Quirks {
        Quirks::TICKET
    }

    fn check(&self, err: &mut dyn FnMut(String)) {
        let g = self;
        if !repository_shape_ok(&g.repository) {
            err(format!(
                "repository {:?} must be \"owner/repo\" (letters, digits, '-', '_', '.')",
                g.repository
            ));
        }
        if let Err(e) = check_url(&g.api_url) {
            err(format!("api_url {:?}: {e}", g.api_url));
        }
        match (&g.token, g.app_id) {
            (Some(_), Some(_)) => err("set either token or app_id (a GitHub App), not both".into()),
            (None, None) => err("set token, or app_id and private_key (a GitHub App)".into()),
            (Some(t), None) => {
                if t.expose().trim().is_empty() {
                    err("token must not be empty".into());
                }
                if g.private_key.is_some() || g.installation_id.is_some() {
                    err("private_key and installation_id only go with app_id".into());
                }
            }
            (None, Some(_)) => match &g.private_key {
                None => err("app_id needs private_key (the app's PEM key)".into()),
                Some(k) if !k.expose().contains("-----BEGIN") => {
                    err("private_key must be PEM text (-----BEGIN ... PRIVATE KEY-----)".into())
                }
                Some(_) => {}
            },
        }
        if g.repeat_interval.is_zero() {
            err("repeat_interval must be more than 0s".into());
        }
        for l in &g.extra_labels {
            if l.trim().is_empty() || l.chars().count() > 50 {
                err(format!("extra label {l:?} must be 1 to 50 characters"));
            }
        }
        if g.webhook_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            err("webhook_secret must not be empty when set".into());
        }
    }

    fn default_min_severity() -> Severity {
        Severity::Medium
    }

    /// GitHub outputs with the same credentials share one gate: the largest pace and the
    /// smallest hourly budget any of them asks for.
    fn build(&self, b: &Build<'_>) -> Result<Arc<dyn Output>, String> {
        let key = gate_key(self, &b.common.name);
        let gate = b.shared.get_or_make(&key, || {
            let (mut pace, mut per_hour) = (self.pace, self.max_per_hour);
            for c in b.shared.configs() {
                if let OutputConfig::Github(g) = c {
                    if gate_key(&g.kind, &g.common.name) == key {
                        pace = pace.max(g.kind.pace);
                        per_hour = per_hour.min(g.kind.max_per_hour);
                    }
                }
            }
            let shared = b.ctx.pacing.clone().map(|p| SharedLimits::new(p, &key));
            Gate::new(pace, per_hour, shared)
        })?;
        GithubOutput::new(b.common, self, b.ctx, gate).map(|o| Arc::new(o) as _)
    }
}

/// `owner/repo` with GitHub's name characters.
pub(crate) fn repository_shape_ok(r: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match r.split_once('/') {
        Some((owner, repo)) => ok(owner) && ok(repo),
        None => false,
    }
}

fn github_api() -> String {
    "https://api.github.com".into()
}
fn one_second() -> Duration {
    Duration::from_secs(1)
}
fn five_hundred() -> usize {
    500
}
