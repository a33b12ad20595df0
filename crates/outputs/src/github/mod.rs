//! The GitHub issues output (contract §1–§6): one issue per case, found again after a crash by
//! its marker, rate limits honoured per token. Here: the client and its dispatch by action.

mod api;
mod auth;
mod classify;
mod config;
mod gate;
mod inbound;
mod issues;

pub use config::GithubConfig;
pub use gate::Gate;
pub use inbound::{parse_issue_event, verify_signature, IssueEvent};

use crate::config::{OutputCommon, Secret};
use crate::http::Http;
use crate::templates::{Input, SharedTemplates};
use crate::{case_of, done, not_applicable, render, Context, Journal, Output};
use async_trait::async_trait;
use auth::{App, Auth};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use gate::chrono;
use irene_core::{Action, Case, Delivery, Outcome};
use issues::IssueTicket;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::Mutex;

/// The GitHub issues output.
pub struct GithubOutput {
    name: String,
    owner: String,
    repo: String,
    repository: String,
    api: String,
    api_url: reqwest::Url,
    http: Http,
    auth: Auth,
    gate: Arc<Gate>,
    public_url: String,
    files: Option<crate::files::FileLinks>,
    templates: SharedTemplates,
    repeat_interval: ChronoDuration,
    extra_labels: Vec<String>,
    webhook_secret: Option<Secret>,
    /// Labels known to exist in the repository (ensured once per process).
    labels_done: StdMutex<HashSet<String>>,
}

impl GithubOutput {
    fn new(
        common: &OutputCommon,
        c: &GithubConfig,
        ctx: &Context,
        gate: Arc<Gate>,
    ) -> Result<GithubOutput, String> {
        let (owner, repo) = c
            .repository
            .split_once('/')
            .ok_or_else(|| format!("repository {:?} must be \"owner/repo\"", c.repository))?;
        let api_url = crate::config::check_url(&c.api_url).map_err(|e| format!("api_url: {e}"))?;
        let mut secrets: Vec<&Secret> = Vec::new();
        secrets.extend(c.token.as_ref());
        secrets.extend(c.private_key.as_ref());
        secrets.extend(c.webhook_secret.as_ref());
        let http = Http::new(&ctx.user_agent, common.timeout, &secrets)?;
        let auth = match (&c.token, c.app_id, &c.private_key) {
            (Some(t), _, _) => Auth::Token(t.clone()),
            (None, Some(app_id), Some(key)) => {
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(key.expose().as_bytes())
                    .map_err(|e| format!("private_key is not a usable RSA PEM key ({e})"))?;
                Auth::App(App {
                    app_id,
                    key,
                    installation_id: Mutex::new(c.installation_id),
                    token: Mutex::new(None),
                })
            }
            _ => return Err("set token, or app_id and private_key".into()),
        };
        Ok(GithubOutput {
            name: common.name.clone(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            repository: c.repository.clone(),
            api: c.api_url.trim_end_matches('/').to_string(),
            api_url,
            http,
            auth,
            gate,
            public_url: ctx.public_url.clone(),
            files: ctx.files.clone(),
            templates: ctx.templates.clone(),
            repeat_interval: chrono(c.repeat_interval),
            extra_labels: c.extra_labels.clone(),
            webhook_secret: c.webhook_secret.clone(),
            labels_done: StdMutex::new(HashSet::new()),
        })
    }

    /// `owner/repo`, as configured.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The secret that signs this repository's inbound webhooks, if configured.
    pub fn webhook_secret(&self) -> Option<&Secret> {
        self.webhook_secret.as_ref()
    }

    /// What the templates see of a delivery.
    fn input<'a>(&self, d: &'a Delivery, case: &'a Case, link: &'a str) -> Input<'a> {
        Input {
            case,
            alert: d.alert.as_ref(),
            case_url: link,
            action: d.action,
            detail: &d.detail,
            now: Utc::now(),
        }
    }

    /// An event's comment: the `github_comment` template, or `builtin`.
    fn event_comment(&self, d: &Delivery, case: &Case, builtin: impl FnOnce() -> String) -> String {
        let link = render::case_link(&self.public_url, case.id);
        let set = self.templates.load_full();
        set.github_comment(&self.input(d, case, &link), builtin)
    }

    // ------------------------------------------------------------ actions

    async fn open(
        &self,
        d: &Delivery,
        case: &Case,
        journal: &dyn Journal,
    ) -> Result<Outcome, Outcome> {
        let t = IssueTicket::read(d.ticket.as_ref());
        if let Some(n) = t.number {
            let issue = self.sync_issue(n, case, true).await?;
            return Ok(done(
                Some(t.with_issue(&issue).state()),
                format!("issue #{n} exists; severity label and state brought up to date"),
            ));
        }
        if let Some(intent_at) = t.intent_at {
            if let Some(issue) = self.find_intended(case.id, intent_at).await? {
                let t = t.with_issue(&issue);
                let n = t.number.unwrap_or_default();
                return Ok(done(
                    Some(t.state()),
                    format!("found issue #{n}, made by an earlier attempt"),
                ));
            }
        }
        let labels = render::github_labels(case, &self.extra_labels);
        self.ensure_labels(&labels).await?;
        let mut t = t;
        if t.intent_at.is_none() {
            // the earliest intent stays: the search window must cover every earlier attempt
            t.intent_at = Some(Utc::now());
            journal
                .record_intent(d, &t.state())
                .await
                .map_err(|e| Outcome::Retry {
                    error: self.http.redact(&format!(
                        "could not record the intent to create an issue: {e}"
                    )),
                    at: None,
                })?;
        }
        let link = render::case_link(&self.public_url, case.id);
        let set = self.templates.load_full();
        let input = self.input(d, case, &link);
        let body = json!({
            "title": set.github_title(&input),
            "body": set.github_body(&input),
            "labels": labels,
        });
        let issue = self
            .call(Method::POST, &self.repo_url("/issues"), Some(&body))
            .await?;
        let t = t.with_issue(&issue);
        let Some(n) = t.number else {
            return Err(Outcome::Retry {
                error: "GitHub answered the create without an issue number".into(),
                at: None,
            });
        };
        Ok(done(Some(t.state()), format!("opened issue #{n}")))
    }

    async fn repeat(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let mut t = IssueTicket::read(d.ticket.as_ref());
        let Some(n) = t.number else {
            return Ok(not_applicable("no issue yet"));
        };
        let now = Utc::now();
        if let Some(last) = t.last_repeat_at {
            let until = last
                .checked_add_signed(self.repeat_interval)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if until > now {
                return Ok(Outcome::Defer { until });
            }
        }
        self.comment(
            n,
            &self.event_comment(d, case, || render::repeat_comment(case)),
        )
        .await?;
        t.last_repeat_at = Some(now);
        Ok(done(
            Some(t.state()),
            format!("commented on issue #{n}: seen again"),
        ))
    }

    async fn severity(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let n = issue_number(d, "no issue yet")?;
        self.sync_issue(n, case, false).await?;
        let text = self.event_comment(d, case, || render::severity_comment(case, &d.detail));
        self.comment(n, &text).await?;
        Ok(done(
            None,
            format!("relabelled issue #{n} severity:{}", case.severity),
        ))
    }

    async fn resolve(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let n = issue_number(d, "no issue")?;
        // the close first: it is idempotent, so a retry after a failed comment repeats nothing
        self.patch_issue(n, json!({"state": "closed", "state_reason": "completed"}))
            .await?;
        let text = self.event_comment(d, case, || render::resolve_comment(case, &d.detail));
        self.comment(n, &text).await?;
        Ok(done(None, format!("closed issue #{n}")))
    }

    async fn reopen(
        &self,
        d: &Delivery,
        case: &Case,
        journal: &dyn Journal,
    ) -> Result<Outcome, Outcome> {
        let t = IssueTicket::read(d.ticket.as_ref());
        let Some(n) = t.number else {
            return self.open(d, case, journal).await;
        };
        self.patch_issue(n, json!({"state": "open"})).await?;
        let text = self.event_comment(d, case, || render::reopen_comment(case, &d.detail));
        self.comment(n, &text).await?;
        Ok(done(None, format!("reopened issue #{n}")))
    }

    /// A note is a comment on the case's issue. Without an issue (its open failed, or the case
    /// never reached this output) it is done with nothing posted: a note never creates an issue,
    /// and lanes run in order, so no open is still pending when a note's turn comes.
    async fn note(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let n = issue_number(d, "no issue to post the note on")?;
        // attachments as capability links; images (screenshots) shown inline
        let detail = crate::files::note_detail(self.files.as_ref(), &d.detail, true);
        // the `github_comment` template too (`action` = `note`; an investigation note's
        // `detail.investigations` holds each investigator's status, findings and summary)
        let builtin = || render::github_note(&detail);
        let text = match d.case.as_ref() {
            Some(case) => {
                let link = render::case_link(&self.public_url, case.id);
                let mut input = self.input(d, case, &link);
                input.detail = &detail;
                self.templates.load_full().github_comment(&input, builtin)
            }
            None => builtin(),
        };
        // a note is posted once, even if a crash came between the post and its record
        let since = d.created_at - chrono::Duration::minutes(1);
        if !self.comment_once(n, &text, d.id, since).await? {
            return Ok(done(None, format!("the note was already on issue #{n}")));
        }
        Ok(done(None, format!("posted the note on issue #{n}")))
    }

    async fn reminder(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let n = issue_number(d, "no issue to remind on")?;
        let text = self.event_comment(d, case, || render::reminder_comment(case, Utc::now()));
        self.comment(n, &text).await?;
        Ok(done(None, format!("reminded on issue #{n}")))
    }
}

/// The number of the case's issue, or the finished attempt that says `missing`.
fn issue_number(d: &Delivery, missing: &str) -> Result<u64, Outcome> {
    IssueTicket::read(d.ticket.as_ref())
        .number
        .ok_or_else(|| not_applicable(missing))
}

#[async_trait]
impl Output for GithubOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "github"
    }

    async fn deliver(&self, d: &Delivery, journal: &dyn Journal) -> Outcome {
        if d.action == Action::Digest {
            return not_applicable("digests are not posted to GitHub");
        }
        let case = match case_of(d) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let result = match d.action {
            Action::Open => self.open(d, case, journal).await,
            Action::Repeat => self.repeat(d, case).await,
            Action::Severity => self.severity(d, case).await,
            Action::Resolve => self.resolve(d, case).await,
            Action::Reopen => self.reopen(d, case, journal).await,
            Action::Reminder => self.reminder(d, case).await,
            Action::Note => self.note(d).await,
            Action::Digest => Ok(not_applicable("digests are not posted to GitHub")),
        };
        result.unwrap_or_else(|o| o)
    }

    fn as_github(&self) -> Option<&GithubOutput> {
        Some(self)
    }
}
